//! `date`, `time`, `timetz`, `timestamp` and `timestamptz` in the ISO output style.
//!
//! The session must use `DateStyle = ISO` (PostgreSQL's default, set explicitly by
//! pgcdc on every connection): `2024-01-01 12:34:56.5+05:30`, with ` BC` after
//! everything for years before 1 AD, years beyond 9999 printed with more digits, and
//! fractional seconds printed only as far as they are non-zero. `timestamptz` prints in
//! the session `TimeZone` with its UTC offset (`+05:45`, `-03`, or with seconds, such
//! as `+05:41:16` for local mean time before 1920 in Kathmandu); the offset is applied
//! here, so the result is the UTC instant whatever the session time zone was.
//!
//! PostgreSQL's calendar is the proleptic Gregorian one with astronomical year
//! numbering behind the BC labels (1 BC is year 0), from 4713 BC to 5874897 AD for
//! dates and to 294276 AD for timestamps.

use super::error::ValueError;
use super::types::{PgType, ScalarType};

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A `date`: days since 1970-01-01 (Debezium's `io.debezium.time.Date`), or one of the
/// infinities. Every PostgreSQL date fits in an i32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Date {
    NegInfinity,
    Days(i32),
    Infinity,
}

/// A `timestamp` (wall-clock, no zone) or `timestamptz` (an instant, in UTC):
/// microseconds since 1970-01-01 00:00:00, or one of the infinities.
///
/// The count is an i128 because PostgreSQL's range ends at 294276 AD while an i64 of
/// Unix microseconds ends in 294247 AD: the last 29 years of valid timestamps do not
/// fit Debezium's `MicroTimestamp`, and the events layer must decide what to do with
/// them rather than this parser silently wrapping. Use [`Timestamp::unix_micros`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timestamp {
    NegInfinity,
    Micros(i128),
    Infinity,
}

impl Timestamp {
    /// Microseconds since the Unix epoch, when finite and within i64.
    pub fn unix_micros(self) -> Option<i64> {
        match self {
            Timestamp::Micros(m) => i64::try_from(m).ok(),
            _ => None,
        }
    }

    /// Milliseconds since the Unix epoch (rounded down), when finite; always fits.
    pub fn unix_millis(self) -> Option<i64> {
        match self {
            Timestamp::Micros(m) => i64::try_from(m.div_euclid(1000)).ok(),
            _ => None,
        }
    }
}

/// A `timetz`: local time of day and the UTC offset it was written with. Debezium's
/// `ZonedTime` is the UTC time of day, [`TimeTz::utc_micros`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeTz {
    /// Microseconds since midnight, 0 to 86 400 000 000 (`24:00:00`) inclusive.
    pub micros: i64,
    /// Seconds east of UTC, as printed (`+05:30` is 19800). PostgreSQL stores the
    /// opposite sign internally; this follows ISO 8601.
    pub offset_seconds: i32,
}

impl TimeTz {
    /// The same instant's UTC time of day, in `[0, 86 400 000 000)`.
    pub fn utc_micros(self) -> i64 {
        (self.micros - i64::from(self.offset_seconds) * MICROS_PER_SECOND)
            .rem_euclid(MICROS_PER_DAY)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (astronomical year numbering).
/// Counts in 400-year eras of 146 097 days, with years starting in March so that the
/// leap day is the last day of the year.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (astronomical year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unsigned decimal of 1 to `max_digits` ASCII digits.
fn uint(bytes: &[u8], max_digits: usize) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > max_digits {
        return None;
    }
    bytes.iter().try_fold(0i64, |acc, &b| {
        let d = b.wrapping_sub(b'0');
        (d <= 9).then(|| acc * 10 + i64::from(d))
    })
}

fn two_digits(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// `YYYY-MM-DD` (year of 4 or more digits) → days since the epoch, before BC handling.
/// `None` on bad syntax or a day the month does not have.
fn date_days(bytes: &[u8], bc: bool) -> Option<i64> {
    let dash = bytes.len().checked_sub(6)?;
    let (year, rest) = bytes.split_at(dash);
    let [b'-', m1, m2, b'-', d1, d2] = *rest else {
        return None;
    };
    // 9 digits: far beyond PostgreSQL's range, far below i64 overflow.
    let year = uint(year, 9)?;
    let month = two_digits(&[m1, m2])?;
    let day = two_digits(&[d1, d2])?;
    // There is no year 0 in the labels: "1 BC" is astronomical year 0.
    if year == 0 {
        return None;
    }
    let year = if bc { 1 - year } else { year };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// `HH:MM:SS[.ffffff]` → microseconds since midnight; `24:00:00` is allowed.
fn time_of_day(bytes: &[u8]) -> Option<i64> {
    let (hms, frac) = match bytes.get(8) {
        None => (bytes, &bytes[..0]),
        Some(b'.') => (&bytes[..8], &bytes[9..]),
        Some(_) => return None,
    };
    let [h1, h2, b':', m1, m2, b':', s1, s2] = *hms else {
        return None;
    };
    let (hour, minute, second) = (
        two_digits(&[h1, h2])?,
        two_digits(&[m1, m2])?,
        two_digits(&[s1, s2])?,
    );
    if minute > 59 || second > 59 || hour > 24 {
        return None;
    }
    let fraction = fraction_micros(frac, bytes.len() > 8)?;
    if hour == 24 && (minute, second, fraction) != (0, 0, 0) {
        return None;
    }
    Some(
        (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * MICROS_PER_SECOND
            + fraction,
    )
}

/// 1 to 6 digits after the point → microseconds. `present` says a point was seen, in
/// which case at least one digit is required.
pub(crate) fn fraction_micros(frac: &[u8], present: bool) -> Option<i64> {
    if !present {
        return Some(0);
    }
    let value = uint(frac, 6)?;
    Some(value * 10i64.pow(6 - frac.len() as u32))
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS` (or `-`) → seconds east of UTC.
fn utc_offset(bytes: &[u8]) -> Option<i32> {
    let (sign, rest) = match bytes.split_first()? {
        (b'+', rest) => (1, rest),
        (b'-', rest) => (-1, rest),
        _ => return None,
    };
    let (h, m, s) = match rest {
        [h1, h2] => (two_digits(&[*h1, *h2])?, 0, 0),
        [h1, h2, b':', m1, m2] => (two_digits(&[*h1, *h2])?, two_digits(&[*m1, *m2])?, 0),
        [h1, h2, b':', m1, m2, b':', s1, s2] => (
            two_digits(&[*h1, *h2])?,
            two_digits(&[*m1, *m2])?,
            two_digits(&[*s1, *s2])?,
        ),
        _ => return None,
    };
    if m > 59 || s > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + s) as i32)
}

/// Splits `time+offset` at the offset's sign (the time itself has neither sign).
fn split_offset(bytes: &[u8]) -> Option<(&[u8], i32)> {
    let at = bytes.iter().rposition(|&b| b == b'+' || b == b'-')?;
    Some((&bytes[..at], utc_offset(&bytes[at..])?))
}

pub fn parse_date(text: &[u8]) -> Result<Date, ValueError> {
    match text {
        b"infinity" => return Ok(Date::Infinity),
        b"-infinity" => return Ok(Date::NegInfinity),
        _ => {}
    }
    let (body, bc) = match text.strip_suffix(b" BC") {
        Some(body) => (body, true),
        None => (text, false),
    };
    let ty = PgType::Scalar(ScalarType::Date);
    let days = date_days(body, bc).ok_or_else(|| {
        ValueError::malformed(ty, text, "expected YYYY-MM-DD [BC] (DateStyle ISO)")
    })?;
    i32::try_from(days)
        .map(Date::Days)
        .map_err(|_| ValueError::out_of_range(ty, text, "beyond PostgreSQL's date range"))
}

pub fn parse_time(text: &[u8]) -> Result<i64, ValueError> {
    time_of_day(text).ok_or_else(|| {
        ValueError::malformed(
            PgType::Scalar(ScalarType::Time),
            text,
            "expected HH:MM:SS[.ffffff]",
        )
    })
}

pub fn parse_timetz(text: &[u8]) -> Result<TimeTz, ValueError> {
    let parsed = split_offset(text).and_then(|(time, offset_seconds)| {
        Some(TimeTz {
            micros: time_of_day(time)?,
            offset_seconds,
        })
    });
    parsed.ok_or_else(|| {
        ValueError::malformed(
            PgType::Scalar(ScalarType::Timetz),
            text,
            "expected HH:MM:SS[.ffffff]+HH[:MM[:SS]]",
        )
    })
}

/// `timestamp` (`with_zone = false`) or `timestamptz` (`true`, offset required).
pub fn parse_timestamp(text: &[u8], with_zone: bool) -> Result<Timestamp, ValueError> {
    match text {
        b"infinity" => return Ok(Timestamp::Infinity),
        b"-infinity" => return Ok(Timestamp::NegInfinity),
        _ => {}
    }
    let (body, bc) = match text.strip_suffix(b" BC") {
        Some(body) => (body, true),
        None => (text, false),
    };
    let parsed = memchr::memchr(b' ', body).and_then(|space| {
        let (date, time) = (&body[..space], &body[space + 1..]);
        let (time, offset) = if with_zone {
            split_offset(time)?
        } else {
            (time, 0)
        };
        let days = date_days(date, bc)?;
        let micros = i128::from(days) * i128::from(MICROS_PER_DAY) + i128::from(time_of_day(time)?)
            - i128::from(offset) * i128::from(MICROS_PER_SECOND);
        Some(Timestamp::Micros(micros))
    });
    parsed.ok_or_else(|| {
        let (scalar, expected) = if with_zone {
            (
                ScalarType::Timestamptz,
                "expected YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM[:SS]] [BC] (DateStyle ISO)",
            )
        } else {
            (
                ScalarType::Timestamp,
                "expected YYYY-MM-DD HH:MM:SS[.ffffff] [BC] (DateStyle ISO)",
            )
        };
        ValueError::malformed(PgType::Scalar(scalar), text, expected)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: i128 = 1_000_000;
    const DAY_US: i128 = 86_400 * US;

    fn ts(text: &str) -> Timestamp {
        parse_timestamp(text.as_bytes(), false).expect(text)
    }

    fn tstz(text: &str) -> Timestamp {
        parse_timestamp(text.as_bytes(), true).expect(text)
    }

    fn days(text: &str) -> i32 {
        match parse_date(text.as_bytes()) {
            Ok(Date::Days(d)) => d,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for d in (-2_500_000..2_500_000)
            .step_by(997)
            .chain([-719_468, 0, 59, 60])
        {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    // Dates printed by PostgreSQL 15 (DateStyle ISO).
    #[test]
    fn dates() {
        assert_eq!(parse_date(b"infinity"), Ok(Date::Infinity));
        assert_eq!(parse_date(b"-infinity"), Ok(Date::NegInfinity));
        assert_eq!(days("1970-01-01"), 0);
        assert_eq!(days("2000-02-29"), 11_016);
        assert_eq!(days("0001-01-01"), -719_162);
        // 1 BC is year 0, a leap year: 366 days before 0001-01-01.
        assert_eq!(days("0001-01-01 BC"), -719_162 - 366);
        // PostgreSQL's first date (one year after Julian day 0, 4714-11-24 BC);
        // expected values from `date - '1970-01-01'` on PostgreSQL 15.
        assert_eq!(days("4713-11-24 BC"), -2_440_222);
        assert_eq!(days("10000-01-01"), 2_932_897);
        // PostgreSQL's last date.
        assert_eq!(days("5874897-12-31"), 2_145_042_905);
    }

    #[test]
    fn bad_dates() {
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-04-31",
            "0000-01-01",
            "0000-01-01 BC",
            "24-01-01x",
            "2024/01/01",
            "2024-1-01",
            "",
            "infinity ",
            "2024-01-01 AD",
            "99999999999-01-01",
        ] {
            assert!(parse_date(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_date(b"999999999-12-31"),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    // time values printed by PostgreSQL 15.
    #[test]
    fn times() {
        assert_eq!(parse_time(b"24:00:00"), Ok(86_400_000_000));
        assert_eq!(parse_time(b"00:00:00"), Ok(0));
        assert_eq!(parse_time(b"23:59:59.999999"), Ok(86_399_999_999));
        assert_eq!(parse_time(b"12:34:56.5"), Ok(45_296_500_000));
        assert_eq!(parse_time(b"12:34:56.12"), Ok(45_296_120_000));
        for bad in [
            "24:00:00.000001",
            "24:00:01",
            "25:00:00",
            "12:60:00",
            "12:00:60",
            "12:00:00.",
            "12:00:00.1234567",
            "12:00",
            "12:00:00 ",
            "1:00:00",
            "",
        ] {
            assert!(parse_time(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    // timetz values printed by PostgreSQL 15.
    #[test]
    fn times_with_zone() {
        let t = parse_timetz(b"12:34:56+05:30").expect("timetz");
        assert_eq!(
            t,
            TimeTz {
                micros: 45_296_000_000,
                offset_seconds: 19_800
            }
        );
        assert_eq!(t.utc_micros(), 45_296_000_000 - 19_800_000_000);
        let t = parse_timetz(b"12:34:56.789-03").expect("timetz");
        assert_eq!(
            t,
            TimeTz {
                micros: 45_296_789_000,
                offset_seconds: -10_800
            }
        );
        let t = parse_timetz(b"24:00:00+15:59").expect("timetz");
        assert_eq!((t.micros, t.offset_seconds), (86_400_000_000, 57_540));
        assert_eq!(t.utc_micros(), 86_400_000_000 - 57_540_000_000);
        let t = parse_timetz(b"00:00:00-15:59").expect("timetz");
        assert_eq!(t.utc_micros(), 57_540_000_000);
        let t = parse_timetz(b"12:00:00+05:45:30").expect("timetz");
        assert_eq!(t.offset_seconds, 20_730);
        let t = parse_timetz(b"12:00:00+00").expect("timetz");
        assert_eq!(t.offset_seconds, 0);
        for bad in [
            "12:00:00",
            "12:00:00+5",
            "12:00:00+05:3",
            "12:00:00+05:60",
            "+05",
        ] {
            assert!(parse_timetz(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    // timestamp values printed by PostgreSQL 15.
    #[test]
    fn timestamps() {
        assert_eq!(ts("infinity"), Timestamp::Infinity);
        assert_eq!(ts("-infinity"), Timestamp::NegInfinity);
        assert_eq!(ts("1969-12-31 23:59:59.999999"), Timestamp::Micros(-1));
        assert_eq!(
            ts("2024-02-29 12:34:56.000001"),
            Timestamp::Micros(1_709_210_096_000_001)
        );
        assert_eq!(
            ts("4713-11-24 00:00:00 BC"),
            Timestamp::Micros(-2_440_222 * DAY_US)
        );
        assert_eq!(
            ts("0001-01-01 00:00:00 BC"),
            Timestamp::Micros((-719_162 - 366) * DAY_US)
        );
        assert_eq!(
            ts("10000-01-01 00:00:00"),
            Timestamp::Micros(2_932_897 * DAY_US)
        );
        // PostgreSQL's last timestamp is past i64 Unix microseconds.
        let last = ts("294276-12-31 23:59:59.999999");
        assert_eq!(last, Timestamp::Micros(9_224_318_015_999_999_999));
        assert_eq!(last.unix_micros(), None);
        assert_eq!(last.unix_millis(), Some(9_224_318_015_999_999));
        assert_eq!(ts("1970-01-01 00:00:00.001").unix_micros(), Some(1000));
        assert_eq!(ts("1969-12-31 23:59:59.999999").unix_millis(), Some(-1));
        assert_eq!(Timestamp::Infinity.unix_micros(), None);
    }

    // timestamptz values printed by PostgreSQL 15 under several TimeZone settings;
    // each pair is the same instant.
    #[test]
    fn timestamps_with_zone() {
        let new_year = Timestamp::Micros(1_704_067_200 * US);
        assert_eq!(tstz("2024-01-01 00:00:00+00"), new_year);
        assert_eq!(tstz("2024-01-01 05:45:00+05:45"), new_year); // Asia/Kathmandu
        assert_eq!(tstz("2023-12-31 21:00:00-03"), new_year); // America/Sao_Paulo
        let y1900 = Timestamp::Micros(-2_208_988_800 * US);
        assert_eq!(tstz("1900-01-01 05:41:16+05:41:16"), y1900); // Kathmandu LMT
        assert_eq!(tstz("1899-12-31 20:53:32-03:06:28"), y1900); // Sao Paulo LMT
        assert_eq!(tstz("1900-01-01 00:19:32+00:19:32"), y1900); // Amsterdam
        assert_eq!(
            tstz("2024-06-01 17:30:00.123456+05:30"),
            Timestamp::Micros(1_717_243_200_123_456)
        );
        assert_eq!(
            tstz("2024-06-02 02:00:00+14"),
            Timestamp::Micros(1_717_243_200 * US)
        );
        assert_eq!(
            tstz("0001-01-01 05:41:16+05:41:16 BC"),
            Timestamp::Micros((-719_162 - 366) * DAY_US)
        );
        assert_eq!(
            tstz("4713-11-24 00:00:00+00 BC"),
            Timestamp::Micros(-2_440_222 * DAY_US)
        );
        assert_eq!(
            tstz("294276-12-31 23:59:59.999999+00"),
            Timestamp::Micros(9_224_318_015_999_999_999)
        );
        assert_eq!(tstz("infinity"), Timestamp::Infinity);
    }

    #[test]
    fn bad_timestamps() {
        for bad in [
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01  00:00:00",
            "2024-01-01 00:00:00 AD",
            "2024-02-30 00:00:00",
            "2024-01-01 24:00:01",
            "",
            " BC",
        ] {
            assert!(parse_timestamp(bad.as_bytes(), false).is_err(), "{bad}");
        }
        assert!(parse_timestamp(b"2024-01-01 00:00:00", true).is_err());
        assert!(parse_timestamp(b"2024-01-01 00:00:00+00", false).is_err());
        assert!(parse_timestamp(b"2024-01-01 00:00:00+0530", true).is_err());
    }
}
