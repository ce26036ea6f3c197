//! Order-preserving key encoding: `a < b` exactly when `encode(a) < encode(b)` bytewise, so
//! the store's ordered scans walk typed keys in their natural order.
//!
//! Every encoding is self-delimiting (no encoding is a prefix of another value's encoding
//! of the same type), which keeps tuples ordered element by element and lets a scan over
//! the encoding of a tuple's first elements find exactly the keys that start with them.
//! Integers are big-endian (signed ones with the sign bit flipped); strings and byte
//! strings escape `0x00` as `0x00 0xFF` and end with `0x00`, as FoundationDB's tuple layer.

use crate::ids::Id;
use crate::time::Timestamp;

pub trait Key: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one key from the front of `input`, advancing it; `None` if malformed.
    fn decode(input: &mut &[u8]) -> Option<Self>;

    fn to_key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a whole key: all of `bytes` must be consumed.
    fn from_key_bytes(mut bytes: &[u8]) -> Option<Self> {
        let key = Self::decode(&mut bytes)?;
        bytes.is_empty().then_some(key)
    }
}

#[inline]
fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Some(head)
}

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Option<Self> {
                Some(<$t>::from_be_bytes(take(input, size_of::<$t>())?.try_into().ok()?))
            }
        }
    )*};
}
unsigned_key!(u8, u16, u32, u64, u128);

macro_rules! signed_key {
    ($($t:ty => $u:ty),*) => {$(
        impl Key for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                ((*self as $u) ^ (1 << (<$u>::BITS - 1))).encode(out);
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Option<Self> {
                Some((<$u>::decode(input)? ^ (1 << (<$u>::BITS - 1))) as $t)
            }
        }
    )*};
}
signed_key!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Key for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        match take(input, 1)?[0] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

pub(crate) fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0);
}

fn decode_bytes(input: &mut &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match *input.get(i)? {
            0 if input.get(i + 1) == Some(&0xFF) => {
                out.push(0);
                i += 2;
            }
            0 => {
                *input = &input[i + 1..];
                return Some(out);
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

impl Key for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_bytes(self, out)
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        decode_bytes(input)
    }
}

impl Key for String {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_bytes(self.as_bytes(), out)
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        String::from_utf8(decode_bytes(input)?).ok()
    }
}

impl<const N: usize> Key for [u8; N] {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self)
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Option<Self> {
        take(input, N)?.try_into().ok()
    }
}

impl Key for Id {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
    #[inline]
    fn decode(input: &mut &[u8]) -> Option<Self> {
        <[u8; 16]>::decode(input).map(Id)
    }
}

impl Key for Timestamp {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        u64::decode(input).map(Timestamp)
    }
}

impl Key for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(_: &mut &[u8]) -> Option<Self> {
        Some(())
    }
}

macro_rules! tuple_key {
    ($($name:ident),+) => {
        impl<$($name: Key),+> Key for ($($name,)+) {
            #[inline]
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Option<Self> {
                Some(($($name::decode(input)?,)+))
            }
        }
    };
}
tuple_key!(A);
tuple_key!(A, B);
tuple_key!(A, B, C);
tuple_key!(A, B, C, D);

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (the prefix is all `0xFF`): the exclusive end of a prefix scan.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_order<K: Key + Ord + std::fmt::Debug + Clone>(mut values: Vec<K>) {
        values.sort();
        let encoded: Vec<Vec<u8>> = values.iter().map(Key::to_key_bytes).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted, "encoding must keep the order of {values:?}");
        for (v, e) in values.iter().zip(&encoded) {
            assert_eq!(K::from_key_bytes(e).as_ref(), Some(v));
        }
    }

    #[test]
    fn integers_keep_order() {
        assert_order(vec![0u64, 1, 255, 256, u64::MAX, 1 << 40]);
        assert_order(vec![i64::MIN, -300, -1, 0, 1, 299, i64::MAX]);
        assert_order(vec![i32::MIN, -1, 0, 7, i32::MAX]);
    }

    #[test]
    fn strings_keep_order_including_nul_and_prefixes() {
        assert_order(vec![
            String::new(),
            "a".into(),
            "a\0".into(),
            "a\0b".into(),
            "ab".into(),
            "b".into(),
            "\u{ff}".into(),
        ]);
        assert_order(vec![vec![], vec![0u8], vec![0, 0], vec![0, 0xFF], vec![1], vec![0xFF, 0]]);
    }

    #[test]
    fn tuples_order_element_by_element() {
        assert_order(vec![
            ("a".to_string(), 2u32),
            ("a".to_string(), 10u32),
            ("a\0".to_string(), 0u32),
            ("ab".to_string(), 1u32),
        ]);
        assert_order(vec![(-1i64, "z".to_string(), 0u8), (0i64, "a".to_string(), 9u8)]);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(u64::from_key_bytes(&[1, 2, 3]), None);
        assert_eq!(String::from_key_bytes(b"abc"), None); // no terminator
        assert_eq!(String::from_key_bytes(&[0xC3, 0x28, 0]), None); // not UTF-8
        assert_eq!(u8::from_key_bytes(&[1, 2]), None); // trailing bytes
        assert_eq!(bool::from_key_bytes(&[2]), None);
    }

    #[test]
    fn prefix_end_bounds_a_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }
}
