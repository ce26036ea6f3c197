//! Opaque version numbers and the other strings and ids derived from an entry's time.

use crate::rfc3339::{self, NANOS_PER_MINUTE, Nanos};
use base64::Engine;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use wasmraft_sdk::Id;

/// What a USS sees instead of the OVN of an entity it does not manage.
pub const NO_OVN_PHRASE: &str = "Available from USS";

/// How far a requested OVN suffix's embedded time may be from now.
const MAX_CLOCK_SKEW: Nanos = 5 * NANOS_PER_MINUTE;

/// The reference's `NewOVNFromTime`: base64(sha256(salt ‖ RFC3339Nano(t))) with `+/=`
/// replaced by `-._` (44 characters). The salt is the entity's id, or the USS for an
/// availability record. Also the version string of subscriptions and availabilities.
pub fn from_time(t: Nanos, salt: &str) -> String {
    let digest = Sha256::new().chain_update(salt).chain_update(rfc3339::format(t)).finalize();
    base64::engine::general_purpose::STANDARD
        .encode(digest)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '.',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// The OVN `{id}_{suffix}` a USS asked for with `requested_ovn_suffix`: the suffix must be a
/// version-7 UUID whose embedded time is within 5 minutes of `now`.
pub fn from_requested_suffix(now: Nanos, id: Id, suffix: &str) -> Result<String, String> {
    let uuid = Id::parse(suffix).ok_or_else(|| format!("Suffix `{suffix}` is not a valid UUID"))?;
    let version = uuid.0[6] >> 4;
    if version != 7 {
        return Err(format!("Suffix `{suffix}` is not version 7 but version {version}"));
    }
    // A UUIDv7 starts with 48 bits of Unix milliseconds.
    let millis = uuid.0[..6].iter().fold(0i64, |acc, &b| acc << 8 | i64::from(b));
    let skew = (now - millis * 1_000_000).abs();
    if skew > MAX_CLOCK_SKEW {
        return Err(format!("Suffix `{suffix}` is too far away from now (got {}s, max is 300s)", skew / 1_000_000_000));
    }
    Ok(format!("{id}_{suffix}"))
}

/// The id of the implicit subscription created for OIR `oir` at `now`, as PR 1655 of the
/// reference derives it: the first 16 bytes of sha256("implicit-subscription:{oir}:{now}")
/// made a v4 UUID.
pub fn implicit_subscription_id(now: Nanos, oir: Id) -> Id {
    let digest = Sha256::digest(format!("implicit-subscription:{oir}:{}", rfc3339::format(now)));
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("sha256 is 32 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Id(bytes)
}

/// The OVNs of a key, sorted and deduplicated, in one buffer. A busy cell's keys hold
/// thousands of OVNs and every node decodes every entry's key: one string each was most of
/// the decoding. On the wire a sequence of strings, as `Vec<String>` (entries written
/// before decode the same); one that arrives out of order is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvnSet {
    text: String,
    /// Where each OVN ends in `text`, in order.
    ends: Vec<u32>,
}

impl OvnSet {
    pub fn new(mut ovns: Vec<String>) -> Self {
        ovns.sort_unstable();
        ovns.dedup();
        let mut set = OvnSet::default();
        for ovn in &ovns {
            set.push(ovn);
        }
        set
    }

    fn push(&mut self, ovn: &str) {
        self.text.push_str(ovn);
        // Entries are bounded far below 4 GiB.
        self.ends.push(u32::try_from(self.text.len()).expect("a key below 4 GiB"));
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn contains(&self, ovn: &str) -> bool {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.get(middle).cmp(ovn) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

impl Serialize for OvnSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for OvnSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(OvnSetVisitor)
    }
}

struct OvnSetVisitor;

impl<'de> Visitor<'de> for OvnSetVisitor {
    type Value = OvnSet;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of OVNs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OvnSet, A::Error> {
        let mut set = OvnSet::default();
        let mut ordered = true;
        while seq.next_element_seed(Append(&mut set, &mut ordered))?.is_some() {}
        if ordered {
            return Ok(set);
        }
        Ok(OvnSet::new(set.iter().map(str::to_string).collect()))
    }
}

/// Decodes one OVN straight onto the end of a set, noting whether the set stays strictly
/// increasing.
struct Append<'a>(&'a mut OvnSet, &'a mut bool);

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OVN")
    }

    fn visit_str<E: serde::de::Error>(self, ovn: &str) -> Result<(), E> {
        let Append(set, ordered) = self;
        if let Some(last) = set.len().checked_sub(1) {
            *ordered &= set.get(last) < ovn;
        }
        set.push(ovn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovn_is_44_url_safe_characters_and_changes_with_time_and_salt() {
        let a = from_time(1_700_000_000_000_000_000, "salt");
        assert_eq!(a.len(), 44);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)), "{a}");
        assert!(a.ends_with('_'), "a 32-byte digest pads with one `=`: {a}");
        assert_ne!(a, from_time(1_700_000_000_000_000_001, "salt"));
        assert_ne!(a, from_time(1_700_000_000_000_000_000, "other"));
        // sha256("x1970-01-01T00:00:00Z"), pinned so that OVNs stay stable across releases.
        assert_eq!(from_time(0, "x"), reference_ovn("x1970-01-01T00:00:00Z"));
    }

    fn reference_ovn(input: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(input));
        b64.replace('+', "-").replace('/', ".").replace('=', "_")
    }

    #[test]
    fn requested_suffix_needs_a_recent_uuid_v7() {
        let id = Id::parse("11111111-2222-4333-8444-555555555555").unwrap();
        // 0x0191b7949628 ms = 2024-09-03T...; now within a minute of it.
        let at = 0x0191_b794_9628i64 * 1_000_000;
        let suffix = "0191b794-9628-745a-a598-aa1fcd4a82bf";
        assert_eq!(from_requested_suffix(at + NANOS_PER_MINUTE, id, suffix), Ok(format!("{id}_{suffix}")));
        assert!(from_requested_suffix(at + 6 * NANOS_PER_MINUTE, id, suffix).unwrap_err().contains("too far"));
        assert!(from_requested_suffix(at - 6 * NANOS_PER_MINUTE, id, suffix).is_err());
        assert!(
            from_requested_suffix(at, id, "0191b794-9628-445a-a598-aa1fcd4a82bf").unwrap_err().contains("version 4")
        );
        assert!(from_requested_suffix(at, id, "nope").is_err());
    }

    #[test]
    fn implicit_subscription_ids_are_v4_and_depend_on_oir_and_time() {
        let oir = Id::parse("11111111-2222-4333-8444-555555555555").unwrap();
        let a = implicit_subscription_id(5, oir);
        assert!(a.is_v4());
        assert_eq!(a, implicit_subscription_id(5, oir));
        assert_ne!(a, implicit_subscription_id(6, oir));
    }

    #[test]
    fn ovn_sets_are_sorted_sequences_of_strings_on_the_wire() {
        let set = OvnSet::new(vec!["b".into(), "a".into(), "c".into(), "a".into()]);
        assert_eq!(set.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(set.contains("a") && set.contains("b") && set.contains("c"));
        assert!(!set.contains("") && !set.contains("ab") && !set.contains("d"));
        let as_strings = vec!["a".to_string(), "b".into(), "c".into()];
        assert_eq!(postcard::to_allocvec(&set).unwrap(), postcard::to_allocvec(&as_strings).unwrap());
        assert_eq!(postcard::from_bytes::<OvnSet>(&postcard::to_allocvec(&as_strings).unwrap()).unwrap(), set);
        assert_eq!(serde_json::from_str::<OvnSet>(r#"["a","b","c"]"#).unwrap(), set);
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["a","b","c"]"#);
        // Out of order or repeated (a command not made by `handle`): sorted on the way in.
        let unsorted = vec!["c".to_string(), "a".into(), "b".into(), "a".into()];
        assert_eq!(postcard::from_bytes::<OvnSet>(&postcard::to_allocvec(&unsorted).unwrap()).unwrap(), set);
        assert_eq!(
            serde_json::from_str::<OvnSet>(r#"["b","a\u0063"]"#).unwrap().iter().collect::<Vec<_>>(),
            ["ac", "b"]
        );
        assert_eq!(OvnSet::new(Vec::new()).len(), 0);
        assert!(!OvnSet::default().contains("a"));
    }
}
