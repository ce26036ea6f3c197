//! RFC 3339 date-times as Go's `time.Parse(time.RFC3339Nano, …)` reads them and
//! `t.UTC().Format(time.RFC3339Nano)` writes them, on nanoseconds since the Unix epoch.
//!
//! Written here (civil-date arithmetic) rather than taken from a crate: the applier must never
//! touch a clock, and clients compare echoed times exactly, so every digit is ours to control.

/// Nanoseconds since 1970-01-01T00:00:00Z. Signed: query windows may start before 1970.
pub type Nanos = i64;

pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
pub const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
pub const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
pub const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` that is `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads `n` ASCII digits at `*at`, advancing it.
fn digits(s: &[u8], at: &mut usize, n: usize) -> Option<i64> {
    let field = s.get(*at..*at + n)?;
    *at += n;
    field.iter().try_fold(0i64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

fn expect(s: &[u8], at: &mut usize, c: u8) -> Option<()> {
    (s.get(*at) == Some(&c)).then(|| *at += 1)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)`. Like Go, it takes a fraction of any
/// length (`.` or `,`), keeps its first nine digits, and accepts any offset.
pub fn parse(value: &str) -> Result<Nanos, String> {
    let bad = || format!("`{value}` is not an RFC 3339 date-time");
    let s = value.as_bytes();
    let mut at = 0;
    let mut fields = || -> Option<(i64, i64, i64, i64, i64, i64)> {
        let year = digits(s, &mut at, 4)?;
        expect(s, &mut at, b'-')?;
        let month = digits(s, &mut at, 2)?;
        expect(s, &mut at, b'-')?;
        let day = digits(s, &mut at, 2)?;
        expect(s, &mut at, b'T')?;
        let hour = digits(s, &mut at, 2)?;
        expect(s, &mut at, b':')?;
        let minute = digits(s, &mut at, 2)?;
        expect(s, &mut at, b':')?;
        let second = digits(s, &mut at, 2)?;
        Some((year, month, day, hour, minute, second))
    };
    let (year, month, day, hour, minute, second) = fields().ok_or_else(bad)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("`{value}`: day or month out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("`{value}`: hour, minute or second out of range"));
    }
    let mut nanos = 0i64;
    if matches!(s.get(at), Some(b'.' | b',')) {
        at += 1;
        let start = at;
        while s.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + i64::from(s[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err(bad());
        }
        nanos *= 10i64.pow(9u32.saturating_sub((at - start) as u32));
    }
    let offset_seconds = match s.get(at) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            at += 1;
            let hours = digits(s, &mut at, 2).ok_or_else(bad)?;
            expect(s, &mut at, b':').ok_or_else(bad)?;
            let minutes = digits(s, &mut at, 2).ok_or_else(bad)?;
            if hours > 23 || minutes > 59 {
                return Err(format!("`{value}`: time zone offset out of range"));
            }
            let seconds = hours * 3600 + minutes * 60;
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return Err(bad()),
    };
    if at != s.len() {
        return Err(bad());
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds
        .checked_mul(NANOS_PER_SECOND)
        .and_then(|ns| ns.checked_add(nanos))
        .ok_or_else(|| format!("`{value}` is outside the supported range of times (years 1678 to 2261)"))
}

/// Formats in UTC with `Z` and the fraction's trailing zeros trimmed (Go's RFC3339Nano).
pub fn format(t: Nanos) -> String {
    let seconds = t.div_euclid(NANOS_PER_SECOND);
    let nanos = t.rem_euclid(NANOS_PER_SECOND);
    let (y, mo, d) = civil_from_days(seconds.div_euclid(86_400));
    let sod = seconds.rem_euclid(86_400);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60);
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_trims() {
        for (input, expected) in [
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            ("2024-02-29T23:59:59.5Z", "2024-02-29T23:59:59.5Z"),
            ("2024-06-01T12:00:00.123456789Z", "2024-06-01T12:00:00.123456789Z"),
            ("2024-06-01T12:00:00.120000Z", "2024-06-01T12:00:00.12Z"),
            ("2024-06-01T14:30:00+02:30", "2024-06-01T12:00:00Z"),
            ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
            ("2000-03-01T00:00:00-00:00", "2000-03-01T00:00:00Z"),
        ] {
            assert_eq!(format(parse(input).unwrap()), expected, "{input}");
        }
        assert_eq!(parse("1970-01-01T00:00:01Z"), Ok(NANOS_PER_SECOND));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Ok(-NANOS_PER_SECOND));
        // More than nine fraction digits: the rest are dropped, as Go does.
        assert_eq!(parse("1970-01-01T00:00:00.1234567899Z"), Ok(123_456_789));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "2024-06-01",
            "2024-06-01 12:00:00Z",
            "2024-06-01T12:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-06-01T24:00:00Z",
            "2024-06-01T12:00:60Z",
            "2024-06-01T12:00:00.Z",
            "2024-06-01T12:00:00+2:00",
            "2024-06-01T12:00:00Zjunk",
            "9999-01-01T00:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn civil_dates_agree_across_a_long_span() {
        for days in (-200_000..200_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
