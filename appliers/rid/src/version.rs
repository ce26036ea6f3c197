//! RID versions (docs/rid.md §3): the time of an entity's last write in Unix nanoseconds,
//! in base 32 (Go's `strconv.FormatUint(uint64(t.UnixNano()), 32)`, digits `0-9a-v`),
//! compared as strings. Notifications do not change them.

use dss_common::rfc3339::Nanos;

const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

pub fn of_time(t: Nanos) -> String {
    // As Go's uint64 conversion: a time before 1970 would wrap (no entry's time is one).
    let mut n = t as u64;
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 32) as usize]);
        n /= 32;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

/// Checks a version from a path as the reference's `VersionFromString` does (Go's
/// `strconv.ParseInt(s, 32, 64)`: an optional sign, then base-32 digits of either case,
/// within an int64; not negative), with its messages. The version stays the string given.
pub fn check(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("Missing version string".into());
    }
    let go_error = |why: &str| format!("strconv.ParseInt: parsing {raw:?}: {why}");
    let (negative, digits) = match raw.as_bytes()[0] {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() {
        return Err(go_error("invalid syntax"));
    }
    // As Go, the first bad digit or overflow of a uint64 in reading order decides.
    let mut value: u64 = 0;
    for c in digits.chars() {
        let digit = c.to_digit(32).ok_or_else(|| go_error("invalid syntax"))?;
        value = value
            .checked_mul(32)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or_else(|| go_error("value out of range"))?;
    }
    let limit = if negative { 1 << 63 } else { i64::MAX as u64 };
    if value > limit {
        return Err(go_error("value out of range"));
    }
    if negative && value != 0 {
        return Err("Parsed negative value for nanosecond timestamp for version".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_base_32_nanoseconds() {
        assert_eq!(of_time(0), "0");
        assert_eq!(of_time(31), "v");
        assert_eq!(of_time(32), "10");
        // 2030-01-01T00:00:00Z.
        assert_eq!(of_time(1_893_456_000_000_000_000), "1khn86cqta000");
        assert_eq!(of_time(i64::MAX), "7vvvvvvvvvvvv");
    }

    #[test]
    fn path_versions_are_read_as_go_parses_them() {
        for ok in ["1khn86cqta000", "1KHN86CQTA000", "+1", "0", "-0", "7vvvvvvvvvvvv"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        assert_eq!(check(""), Err("Missing version string".into()));
        for bad in ["-", "x", "1.5", "1_0", " 1", "ü"] {
            assert_eq!(check(bad), Err(format!("strconv.ParseInt: parsing {bad:?}: invalid syntax")));
        }
        assert_eq!(
            check("8000000000000"),
            Err(r#"strconv.ParseInt: parsing "8000000000000": value out of range"#.into())
        );
        assert_eq!(check("-1"), Err("Parsed negative value for nanosecond timestamp for version".into()));
        // -2^63 is in range (and negative).
        assert!(check("-8000000000000").unwrap_err().starts_with("Parsed negative"));
    }
}
