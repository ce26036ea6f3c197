//! RID versions: the time of the last write, in nanoseconds, in base 32 (Go's
//! `strconv.FormatUint(uint64(t.UnixNano()), 32)`, digits `0-9a-v`), compared as strings.
//! Notifications do not change them.

use dss_common::rfc3339::Nanos;

const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

pub fn of_time(t: Nanos) -> String {
    // As Go's uint64 conversion: a time before 1970 wraps (none is ever an entry's time).
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

/// Checks a version from a path as the reference does (`strconv.ParseInt(s, 32, 64)`: an
/// optional sign, then base-32 digits of either case, within an i64), refusing negative
/// ones; the version itself stays the string as given.
pub fn check(raw: &str) -> Result<(), String> {
    let invalid = || format!("Invalid version format: `{raw}`");
    let (negative, digits) = match raw.as_bytes().first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        let digit = c.to_digit(32).ok_or_else(invalid)?;
        value = value.checked_mul(32).and_then(|v| v.checked_add(i64::from(digit))).ok_or_else(invalid)?;
    }
    if negative && value != 0 {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_base_32_nanoseconds() {
        assert_eq!(of_time(0), "0");
        assert_eq!(of_time(32), "10");
        assert_eq!(of_time(31), "v");
        // 2030-01-01T00:00:00Z.
        assert_eq!(of_time(1_893_456_000_000_000_000), "1khn86cqta000");
        for ok in ["1khn86cqta000", "1KG5", "+1", "0", "-0", "7vvvvvvvvvvvv"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-", "-1", "x", "1.5", "8000000000000", "1_0", " 1"] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
