//! Opaque version numbers and the other strings and ids derived from an entry's time.

use crate::rfc3339::{self, NANOS_PER_MINUTE, Nanos};
use base64::Engine;
use sha2::{Digest, Sha256};
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
}
