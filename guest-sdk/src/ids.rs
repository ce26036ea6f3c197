//! Ids drawn from the entry's entropy: random-looking v4 UUIDs that every node derives alike.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

const URN: &str = "urn:uuid:";

/// A 128-bit id, shown as a lowercase hyphenated UUID. Ordered as its bytes are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Id(pub [u8; 16]);

impl Ord for Id {
    /// The bytes' order, read as one big-endian number: two word compares where comparing
    /// the arrays calls `memcmp` (a busy cell's write sorts thousands of ids).
    fn cmp(&self, other: &Self) -> Ordering {
        u128::from_be_bytes(self.0).cmp(&u128::from_be_bytes(other.0))
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Id {
    /// The `n`th id of an entry whose entropy is `e`.
    pub(crate) fn derive(e: &[u8; 32], n: u64) -> Id {
        let word = |i: usize| u64::from_le_bytes(e[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let hi = splitmix64(word(0) ^ splitmix64(n ^ word(2)));
        let lo = splitmix64(word(1) ^ splitmix64(n.wrapping_add(0x632B_E59B_D9B4_E019) ^ word(3)));
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        Id(b)
    }

    /// Parses a UUID in any form Go's `uuid.Parse` takes, as the reference DSS does: the
    /// hyphenated 36 characters, 32 bare hex digits, braced (`{…}`), or `urn:uuid:` before
    /// the hyphenated form (the prefix in any case); hex digits in any case. An id is shown
    /// and stored in one form whatever form it came in.
    pub fn parse(s: &str) -> Option<Id> {
        let s = match s.get(..URN.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(URN) => s.get(URN.len()..).filter(|rest| rest.len() == 36)?,
            _ => s,
        };
        uuid::Uuid::try_parse(s).ok().map(|u| Id(u.into_bytes()))
    }

    /// True for a version-4, RFC 4122 variant UUID.
    pub fn is_v4(&self) -> bool {
        self.0[6] >> 4 == 4 && self.0[8] >> 6 == 0b10
    }

    /// Shows `f` the canonical form, lowercase and hyphenated, written into a buffer on the
    /// stack: a DSS answer lists thousands of ids, and a formatter call per byte was most of
    /// rendering one.
    pub fn with_canonical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(uuid::Uuid::from_bytes(self.0).hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_canonical(|canonical| f.write_str(canonical))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl std::str::FromStr for Id {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::parse(s).ok_or_else(|| format!("`{s}` is not a UUID"))
    }
}

/// A string in human-readable encodings (JSON), 16 raw bytes in compact ones (postcard).
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.with_canonical(|canonical| s.serialize_str(canonical))
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            struct V;
            impl Visitor<'_> for V {
                type Value = Id;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a UUID string")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                    Id::parse(v).ok_or_else(|| E::custom(format!("`{v}` is not a UUID")))
                }
            }
            d.deserialize_str(V)
        } else {
            <[u8; 16]>::deserialize(d).map(Id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_v4_distinct_and_stable() {
        let entropy = [7u8; 32];
        let a = Id::derive(&entropy, 0);
        let b = Id::derive(&entropy, 1);
        assert!(a.is_v4() && b.is_v4());
        assert_ne!(a, b);
        assert_eq!(a, Id::derive(&entropy, 0));
        assert_ne!(a, Id::derive(&[8u8; 32], 0));
        // Pinned: the derivation is part of the replicated behaviour of every applier.
        assert_eq!(Id::derive(&[0u8; 32], 0).to_string(), "a706dd2f-4d19-4e6f-88ce-4b48a6765bfc");
        assert_eq!(
            serde_json::to_string(&Id::derive(&[0u8; 32], 0)).unwrap(),
            r#""a706dd2f-4d19-4e6f-88ce-4b48a6765bfc""#
        );
    }

    #[test]
    fn ids_order_as_their_bytes() {
        let ids: Vec<Id> = (0..200).map(|n| Id::derive(&[3u8; 32], n)).collect();
        let mut edges = vec![Id([0; 16]), Id([0xff; 16]), Id([0x80; 16])];
        edges.push(Id(std::array::from_fn(|i| if i == 15 { 1 } else { 0 })));
        for a in ids.iter().chain(&edges) {
            for b in ids.iter().chain(&edges) {
                assert_eq!(a.cmp(b), a.0.cmp(&b.0), "{a} against {b}");
            }
        }
    }

    #[test]
    fn text_round_trip() {
        let id = Id::derive(&[1u8; 32], 5);
        assert_eq!(Id::parse(&id.to_string()), Some(id));
        assert_eq!(Id::parse(&id.to_string().to_uppercase()), Some(id));
        assert_eq!(Id::parse("not-a-uuid"), None);
        assert_eq!(Id::parse("a706dd2fx4d19-4e15-a70e-1b47e7a7a36c"), None);
    }

    #[test]
    fn every_form_gos_uuid_parse_takes_and_no_other() {
        let id = Id::parse("a706dd2f-4d19-4e6f-88ce-4b48a6765bfc").unwrap();
        for form in [
            "a706dd2f4d194e6f88ce4b48a6765bfc",
            "A706DD2F4D194E6F88CE4B48A6765BFC",
            "{a706dd2f-4d19-4e6f-88ce-4b48a6765bfc}",
            "urn:uuid:a706dd2f-4d19-4e6f-88ce-4b48a6765bfc",
            "URN:UUID:A706DD2F-4D19-4E6F-88CE-4B48A6765BFC",
        ] {
            assert_eq!(Id::parse(form), Some(id), "{form}");
            assert_eq!(Id::parse(form).unwrap().to_string(), "a706dd2f-4d19-4e6f-88ce-4b48a6765bfc");
        }
        for refused in [
            "",
            "a706dd2f4d194e6f88ce4b48a6765bf",
            "a706dd2f4d194e6f88ce4b48a6765bfc0",
            "urn:uuid:a706dd2f4d194e6f88ce4b48a6765bfc",
            "urn:uuid:{a706dd2f-4d19-4e6f-88ce-4b48a6765bfc}",
            "{a706dd2f4d194e6f88ce4b48a6765bfc}",
            "a706dd2f-4d19-4e6f-88ce-4b48a6765bfc ",
            "a706dd2f-4d19-4e6f-88ce_4b48a6765bfc",
            "g706dd2f-4d19-4e6f-88ce-4b48a6765bfc",
            "urn:uuid:",
        ] {
            assert_eq!(Id::parse(refused), None, "{refused:?}");
        }
    }
}
