//! `interval` in the `postgres` IntervalStyle (PostgreSQL's default, set explicitly by
//! pgcdc on every connection): `1 year 2 mons 3 days 04:05:06.789`, `-1 days +02:00:00`,
//! `00:00:00`. Years and months come from one month count, days are separate, and the
//! clock part is the microsecond count; a `+` appears only where the sign changes from
//! the previous field. The other styles (`sql_standard`, `iso_8601`,
//! `postgres_verbose`) are rejected with an error naming the setting.

use super::datetime::{fraction_micros, MICROS_PER_SECOND};
use super::error::ValueError;
use super::types::{PgType, ScalarType};

const TY: PgType = PgType::Scalar(ScalarType::Interval);

/// PostgreSQL's own three-part interval: the parts do not convert into each other
/// (a month is not a fixed number of days, a day not always 24 hours), so Debezium's
/// `MicroDuration` (months as 30.4375 days) and ISO 8601 `Interval` string are both
/// computed from these without loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Field {
    Start,
    Years,
    Months,
    Days,
}

pub fn parse_interval(text: &[u8]) -> Result<Interval, ValueError> {
    parse(text)
        .map_err(|reason| ValueError::malformed(TY, text, reason))?
        .ok_or_else(|| ValueError::out_of_range(TY, text, "a field exceeds PostgreSQL's limits"))
}

/// `Err` for bad syntax, `Ok(None)` for numbers beyond the interval's range.
fn parse(text: &[u8]) -> Result<Option<Interval>, &'static str> {
    const STYLE: &str = "expected the postgres IntervalStyle, e.g. '1 year 2 mons -3 days \
                         +04:05:06.789' (set IntervalStyle=postgres on the connection)";
    if text.is_empty() {
        return Err(STYLE);
    }
    let mut months: i64 = 0;
    let mut days: i64 = 0;
    let mut micros: i128 = 0;
    let mut last = Field::Start;
    let mut tokens = text.split(|&b| b == b' ');
    while let Some(token) = tokens.next() {
        if token.contains(&b':') {
            // The clock part always comes last.
            if tokens.next().is_some() {
                return Err(STYLE);
            }
            micros = clock_micros(token).ok_or(STYLE)?;
            break;
        }
        let number = signed(token).ok_or(STYLE)?;
        let field = match tokens.next().ok_or(STYLE)? {
            b"year" | b"years" => Field::Years,
            b"mon" | b"mons" => Field::Months,
            b"day" | b"days" => Field::Days,
            _ => return Err(STYLE),
        };
        if field <= last {
            return Err(STYLE);
        }
        last = field;
        let Some(number) = number else {
            return Ok(None);
        };
        match field {
            Field::Years => months = number * 12,
            Field::Months => months += number,
            Field::Days => days = number,
            Field::Start => {}
        }
    }
    Ok((|| {
        Some(Interval {
            months: i32::try_from(months).ok()?,
            days: i32::try_from(days).ok()?,
            micros: i64::try_from(micros).ok()?,
        })
    })())
}

/// `[+-]digits` → `Some(Some(n))`; `Some(None)` if it has too many digits to matter
/// (beyond any i32 field); `None` if it is not a number.
fn signed(token: &[u8]) -> Option<Option<i64>> {
    let digits = match token.first()? {
        b'+' | b'-' => &token[1..],
        _ => token,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 12 {
        return Some(None);
    }
    let magnitude = digits
        .iter()
        .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0'));
    Some(Some(if token[0] == b'-' {
        -magnitude
    } else {
        magnitude
    }))
}

/// `[+-]H+:MM:SS[.ffffff]`: hours are unbounded (`2562047788:00:54.775807` is the
/// largest), so the sum is done in i128 and range-checked by the caller.
fn clock_micros(token: &[u8]) -> Option<i128> {
    let (negative, body) = match token.first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    let mut parts = body.splitn(3, |&b| b == b':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    let (seconds, frac, has_frac) = match memchr::memchr(b'.', seconds) {
        Some(dot) => (&seconds[..dot], &seconds[dot + 1..], true),
        None => (seconds, &seconds[..0], false),
    };
    if hours.len() < 2 || hours.len() > 12 || minutes.len() != 2 || seconds.len() != 2 {
        return None;
    }
    let number = |digits: &[u8]| -> Option<i128> {
        digits.iter().try_fold(0i128, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i128::from(b - b'0'))
        })
    };
    let (h, m, s) = (number(hours)?, number(minutes)?, number(seconds)?);
    if m > 59 || s > 59 {
        return None;
    }
    let fraction = i128::from(fraction_micros(frac, has_frac)?);
    let magnitude = ((h * 60 + m) * 60 + s) * i128::from(MICROS_PER_SECOND) + fraction;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(text: &str) -> Interval {
        parse_interval(text.as_bytes()).expect(text)
    }

    fn parts(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    const H: i64 = 3_600_000_000;

    // Every expected text below was printed by PostgreSQL 15 (IntervalStyle postgres).
    #[test]
    fn server_output() {
        assert_eq!(
            iv("1 year 2 mons 3 days 04:05:06.789"),
            parts(14, 3, 4 * H + 5 * 60_000_000 + 6_789_000)
        );
        assert_eq!(iv("-1 days +02:00:00"), parts(0, -1, 2 * H));
        assert_eq!(iv("00:00:00"), parts(0, 0, 0));
        assert_eq!(iv("-1 years -2 mons"), parts(-14, 0, 0));
        assert_eq!(iv("1 mon -1 days"), parts(1, -1, 0));
        assert_eq!(iv("-00:00:00.000001"), parts(0, 0, -1));
        assert_eq!(iv("178000000 years"), parts(2_136_000_000, 0, 0));
        assert_eq!(iv("-178000000 years"), parts(-2_136_000_000, 0, 0));
        assert_eq!(iv("2147483647 days"), parts(0, i32::MAX, 0));
        assert_eq!(iv("-2147483648 days"), parts(0, i32::MIN, 0));
        assert_eq!(iv("2562047788:00:54.775807"), parts(0, 0, i64::MAX));
        assert_eq!(iv("-2562047788:00:54.775807"), parts(0, 0, -i64::MAX));
        assert_eq!(iv("-2562047788:00:54.775808"), parts(0, 0, i64::MIN));
        assert_eq!(iv("1 day 25:00:00"), parts(0, 1, 25 * H));
        assert_eq!(iv("1 day"), parts(0, 1, 0));
        assert_eq!(iv("-1 days"), parts(0, -1, 0));
        assert_eq!(iv("00:00:00.001"), parts(0, 0, 1000));
        assert_eq!(
            iv("100 years 1 mon -1 days -00:00:01"),
            parts(1201, -1, -1_000_000)
        );
        assert_eq!(iv("1110 years 7 days"), parts(13_320, 7, 0));
        assert_eq!(iv("178956970 years 7 mons"), parts(i32::MAX, 0, 0));
        assert_eq!(iv("-178956970 years -8 mons"), parts(i32::MIN, 0, 0));
        assert_eq!(iv("-3 mons +4 days"), parts(-3, 4, 0));
        assert_eq!(
            iv("1 year 9 mons 5 days -06:07:08.9"),
            parts(21, 5, -(6 * H + 7 * 60_000_000 + 8_900_000))
        );
        assert_eq!(
            iv("-1 years -9 mons -5 days +06:07:08.9"),
            parts(-21, -5, 6 * H + 7 * 60_000_000 + 8_900_000)
        );
        assert_eq!(iv("7 mons"), parts(7, 0, 0));
        assert_eq!(iv("07:12:00"), parts(0, 0, 7 * H + 12 * 60_000_000));
        assert_eq!(iv("03:42:51.428572"), parts(0, 0, 13_371_428_572));
        assert_eq!(iv("-1 mons +1 day -01:00:00"), parts(-1, 1, -H));
        assert_eq!(iv("12:34:00"), parts(0, 0, 12 * H + 34 * 60_000_000));
        assert_eq!(iv("00:00:01.5"), parts(0, 0, 1_500_000));
    }

    #[test]
    fn out_of_range() {
        for text in [
            "178956971 years",
            "2147483648 days",
            "2562047788:00:54.775808",
            "-2562047788:00:54.775809",
            "9999999999999 days",
        ] {
            assert!(
                matches!(
                    parse_interval(text.as_bytes()),
                    Err(ValueError::OutOfRange { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn other_styles_and_garbage() {
        for text in [
            "",
            "P1Y2M3DT4H5M6S",  // iso_8601
            "1-2 3 4:05:06",   // sql_standard
            "@ 1 year 2 mons", // postgres_verbose
            "@ 1 day ago",
            "1 day 1 day",
            "1 mon 1 year",
            "1 days 00:00:00 1 year",
            "1 week",
            "1",
            "year",
            "1  day",
            "00:00",
            "00:0:00",
            "00:00:60",
            "00:60:00",
            "0:00:00",
            "00:00:00.",
            "00:00:00.1234567",
            "--1 days",
            "1.5 days",
        ] {
            assert!(
                matches!(
                    parse_interval(text.as_bytes()),
                    Err(ValueError::Malformed { .. })
                ),
                "{text}"
            );
        }
    }
}
