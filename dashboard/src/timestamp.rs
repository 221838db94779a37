//! RFC 3339 timestamps → milliseconds since the Unix epoch.
//!
//! Debezium writes `timestamptz` columns as `ZonedTimestamp` strings
//! (`2024-03-01T12:34:56.789012Z`) and, with `time.precision.mode=connect` or for
//! `date`/`timestamp` in string form, similar ISO strings; an event-time field may be
//! any of them. Accepted: `YYYY-MM-DD`, then optionally `T` or a space and
//! `hh:mm[:ss[.fraction]]`, then optionally `Z`/`z` or `±hh[:mm]` (no offset: UTC).
//! Fractions past milliseconds are truncated toward the past (floor), so an event at
//! `…:59.9999` stays in the window that holds it.

/// Parses `text`; `None` when it is not a timestamp of the accepted shape.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let (year, rest) = signed_digits(b, 4)?;
    let rest = expect(rest, b'-')?;
    let (month, rest) = digits(rest, 2)?;
    let rest = expect(rest, b'-')?;
    let (day, rest) = digits(rest, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let rest = match rest.first() {
        None => return Some(ms),
        Some(b'T' | b't' | b' ') => &rest[1..],
        Some(_) => return None,
    };
    let (hour, rest) = digits(rest, 2)?;
    let rest = expect(rest, b':')?;
    let (minute, mut rest) = digits(rest, 2)?;
    let mut second = 0;
    if rest.first() == Some(&b':') {
        let (s, r) = digits(&rest[1..], 2)?;
        second = s;
        rest = r;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut fraction_ms = 0;
    if matches!(rest.first(), Some(b'.' | b',')) {
        let count = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        for (i, c) in rest[1..=count].iter().enumerate().take(3) {
            fraction_ms += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &rest[1 + count..];
    }
    ms += (hour * 3600 + minute * 60 + second) * 1000 + fraction_ms;
    let offset_minutes = match rest.first() {
        None | Some(b'Z' | b'z') if rest.len() <= 1 => 0,
        Some(sign @ (b'+' | b'-')) => {
            let (h, r) = digits(&rest[1..], 2)?;
            let r = if r.first() == Some(&b':') { &r[1..] } else { r };
            let (m, r) = if r.is_empty() { (0, r) } else { digits(r, 2)? };
            if !r.is_empty() || h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    Some(ms - offset_minutes * 60_000)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDThh:mm:ss.mmmZ`.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn expect(b: &[u8], c: u8) -> Option<&[u8]> {
    (b.first() == Some(&c)).then(|| &b[1..])
}

fn digits(b: &[u8], n: usize) -> Option<(i64, &[u8])> {
    if b.len() < n || !b[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = b[..n]
        .iter()
        .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
    Some((value, &b[n..]))
}

/// A year of at least four digits, possibly signed (`+10000`, `-0001`).
fn signed_digits(b: &[u8], min: usize) -> Option<(i64, &[u8])> {
    let (negative, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let count = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if count < min || count > 6 {
        return None;
    }
    let (value, rest) = digits(b, count)?;
    Some((if negative { -value } else { value }, rest))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms as p;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("1970-01-01"), Some(0));
        assert_eq!(p("2024-03-01T12:34:56.789Z"), Some(1_709_296_496_789));
        assert_eq!(p("2024-03-01 12:34:56.789"), Some(1_709_296_496_789));
        assert_eq!(p("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(p("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(p("2024-03-01T12:34Z"), Some(1_709_296_440_000));
    }

    #[test]
    fn offsets_and_fractions() {
        assert_eq!(
            p("2024-03-01T14:34:56.789+02:00"),
            p("2024-03-01T12:34:56.789Z")
        );
        assert_eq!(
            p("2024-03-01T10:34:56.789-0200"),
            p("2024-03-01T12:34:56.789Z")
        );
        assert_eq!(
            p("2024-03-01T12:34:56.789999999Z"),
            p("2024-03-01T12:34:56.789Z")
        );
        assert_eq!(p("2024-03-01T12:34:56.7Z"), Some(1_709_296_496_700));
        assert_eq!(p("1969-12-31T23:59:59.9999Z"), Some(-1));
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(super::format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            super::format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        for ms in (-60_000_000_000_000i64..200_000_000_000_000).step_by(7_777_777_777_777) {
            assert_eq!(p(&super::format_rfc3339_ms(ms)), Some(ms), "{ms}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "2024-02-30",
            "2023-02-29",
            "2024-01-01T25:00",
            "2024-01-01T12:00:00.Z",
            "2024-01-01X12:00",
            "2024-01-01T12:00+1",
            "abc",
            "2024-01-01T12:00:00Zjunk",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
