//! Dates, times, timestamps and intervals as Debezium represents them.
//!
//! Debezium reads most temporal columns through `java.time` (exact, proleptic
//! Gregorian), but array elements through JDBC's `java.sql` types, and its infinities
//! through the PostgreSQL JDBC driver's sentinels; both leave marks kept here:
//!
//! - `date` `infinity`/`-infinity` are the epoch days of the driver's sentinel dates
//!   (2146033979, -2147472691); in an array they are `(int)` casts of the sentinel
//!   milliseconds' days (-622191234) and of a Julian-calendar date (-625821272);
//! - `timestamp` infinities are `Long.MAX_VALUE`/`MIN_VALUE` in the microsecond type,
//!   and the driver's sentinel milliseconds (9223372036825200000,
//!   -9223372036832400000) in the millisecond types, adaptive or `connect`;
//! - `time` array elements go through `java.sql.Time`: milliseconds only, and
//!   `24:00:00` wraps to 0;
//! - `timestamptz` infinities are the strings `infinity`/`-infinity`, except
//!   `-infinity` inside an array, which comes out as the year +292269055;
//! - `interval` as `MicroDuration` is computed in doubles with a month of 30.4375
//!   days (`MicroDuration.durationMicros`), so large intervals lose precision exactly
//!   as Debezium's do.
//!
//! Each rule is pinned by `defaults.json`, `time_*.json` or `interval_string.json`.

use std::fmt::Write as _;

use pgcdc_schemas::json::java_number;

use crate::values::{civil_from_days, Date, Interval, TimeTz, Timestamp};

pub const MICROS_PER_DAY: i128 = 86_400_000_000;

/// `io.debezium.time.Date` / Connect `Date` of a column value.
pub fn date_days(date: Date) -> i32 {
    match date {
        Date::Days(days) => days,
        // What Debezium makes of the JDBC driver's infinity sentinels (observed;
        // -infinity is the epoch day of -5877611-06-22).
        Date::Infinity => 2_146_033_979,
        Date::NegInfinity => -2_147_472_691,
    }
}

/// The same for an array element (read as `java.sql.Date`).
pub fn array_date_days(date: Date) -> i32 {
    match date {
        Date::Days(days) => days,
        Date::Infinity => -622_191_234,
        Date::NegInfinity => -625_821_272,
    }
}

/// Milliseconds of a time of day as `java.sql.Time` holds it (array elements).
pub fn array_time_millis(micros: i64) -> i64 {
    (micros / 1000).rem_euclid(86_400_000)
}

/// A `timestamp` in the field's unit: microseconds, or milliseconds (rounded towards
/// the past, like `Instant.toEpochMilli`). `None` when the value does not fit.
pub fn timestamp_micros(ts: Timestamp) -> Option<i64> {
    match ts {
        Timestamp::Micros(m) => i64::try_from(m).ok(),
        Timestamp::Infinity => Some(i64::MAX),
        Timestamp::NegInfinity => Some(i64::MIN),
    }
}

/// Milliseconds in a millisecond timestamp field (`io.debezium.time.Timestamp` for
/// precision up to 3, Connect `Timestamp` in `connect` mode). The infinities are the
/// JDBC driver's sentinels `PGStatement.DATE_POSITIVE_INFINITY`/`NEGATIVE_INFINITY`,
/// not `Long.MAX_VALUE`/`MIN_VALUE` as in the microsecond type (`c_timestamp0`).
pub fn timestamp_millis(ts: Timestamp) -> Option<i64> {
    match ts {
        Timestamp::Micros(m) => i64::try_from(m.div_euclid(1000)).ok(),
        Timestamp::Infinity => Some(9_223_372_036_825_200_000),
        Timestamp::NegInfinity => Some(-9_223_372_036_832_400_000),
    }
}

/// `io.debezium.time.ZonedTimestamp`: the UTC instant in ISO 8601 with exactly
/// `fraction_digits` fraction digits (the column's precision, 6 by default; none for
/// precision 0): `2024-02-29T11:45:30.123456Z`.
pub fn zoned_timestamp(ts: Timestamp, fraction_digits: i32, in_array: bool) -> String {
    match ts {
        Timestamp::Infinity => "infinity".to_owned(),
        Timestamp::NegInfinity if in_array => {
            let mut out = String::from("+292269055-12-02T23:00:00");
            push_fixed_fraction(&mut out, 0, fraction_digits);
            out.push('Z');
            out
        }
        Timestamp::NegInfinity => "-infinity".to_owned(),
        Timestamp::Micros(micros) => {
            let days = micros.div_euclid(MICROS_PER_DAY);
            let of_day = micros.rem_euclid(MICROS_PER_DAY) as i64;
            let (year, month, day) = civil_from_days(days as i64);
            let mut out = String::with_capacity(32);
            push_year(&mut out, year);
            let _ = write!(out, "-{month:02}-{day:02}T");
            push_clock(&mut out, of_day);
            if fraction_digits > 0 {
                push_fixed_fraction(&mut out, of_day % 1_000_000, fraction_digits);
            } else {
                push_minimal_fraction(&mut out, of_day % 1_000_000);
            }
            out.push('Z');
            out
        }
    }
}

/// `io.debezium.time.ZonedTime`: the time of day in UTC, fraction digits only as far
/// as they are not zero: `08:15:30.5Z`.
pub fn zoned_time(value: TimeTz) -> String {
    let utc = value.utc_micros();
    let mut out = String::with_capacity(20);
    push_clock(&mut out, utc);
    push_minimal_fraction(&mut out, utc % 1_000_000);
    out.push('Z');
    out
}

/// ISO_LOCAL_DATE's year: four digits at least, `+` beyond 9999, `-` before year 0.
fn push_year(out: &mut String, year: i64) {
    if year > 9999 {
        let _ = write!(out, "+{year}");
    } else if year < 0 {
        let _ = write!(out, "-{:04}", -year);
    } else {
        let _ = write!(out, "{year:04}");
    }
}

fn push_clock(out: &mut String, micros_of_day: i64) {
    let seconds = micros_of_day / 1_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
}

/// `.` and exactly `digits` digits of the fraction (truncated, or zero-padded past
/// microseconds).
fn push_fixed_fraction(out: &mut String, micros: i64, digits: i32) {
    let six = format!("{micros:06}");
    out.push('.');
    for i in 0..digits.clamp(0, 9) as usize {
        out.push(six.as_bytes().get(i).map_or('0', |&b| char::from(b)));
    }
}

/// `.` and the fraction without trailing zeros, nothing when it is zero.
fn push_minimal_fraction(out: &mut String, micros: i64) {
    if micros != 0 {
        let six = format!("{micros:06}");
        out.push('.');
        out.push_str(six.trim_end_matches('0'));
    }
}

/// PGInterval's fields of an interval: years, months, days, hours, minutes and
/// seconds, each carrying the sign of its part (`-1 years -2 mons -3 days -04:05:06`).
struct IntervalFields {
    years: i32,
    months: i32,
    days: i32,
    hours: i64,
    minutes: i64,
    /// `wholeSeconds + microSeconds / 1e6`, as `PGInterval.getSeconds()`.
    seconds: f64,
}

fn interval_fields(interval: Interval) -> IntervalFields {
    let micros = interval.micros;
    let whole_seconds = micros % 60_000_000 / 1_000_000;
    let micro_seconds = micros % 1_000_000;
    IntervalFields {
        years: interval.months / 12,
        months: interval.months % 12,
        days: interval.days,
        hours: micros / 3_600_000_000,
        minutes: micros % 3_600_000_000 / 60_000_000,
        seconds: whole_seconds as f64 + micro_seconds as f64 / 1e6,
    }
}

/// `io.debezium.time.MicroDuration`, computed as Debezium does, in doubles.
pub fn micro_duration(interval: Interval) -> i64 {
    const DAYS_PER_MONTH_AVG: f64 = 365.25 / 12.0;
    let f = interval_fields(interval);
    let months = f.years.wrapping_mul(12).wrapping_add(f.months);
    let number_of_days = f64::from(months) * DAYS_PER_MONTH_AVG + f64::from(f.days);
    let number_of_seconds =
        ((number_of_days * 24.0 + f.hours as f64) * 60.0 + f.minutes as f64) * 60.0 + f.seconds;
    // Java's (long) cast saturates like Rust's `as`.
    (number_of_seconds * 1e6 + 0.0) as i64
}

/// `io.debezium.time.Interval`: `P1Y2M3DT4H5M6.789S`, every part present, seconds as
/// `BigDecimal.valueOf(seconds).stripTrailingZeros().toPlainString()`.
pub fn iso_interval(interval: Interval) -> String {
    let f = interval_fields(interval);
    format!(
        "P{}Y{}M{}DT{}H{}M{}S",
        f.years,
        f.months,
        f.days,
        f.hours,
        f.minutes,
        plain_seconds(f.seconds)
    )
}

/// A double's `Double.toString` digits, in plain notation without trailing zeros.
fn plain_seconds(seconds: f64) -> String {
    if seconds == 0.0 {
        return "0".to_owned();
    }
    let java = java_number::double_to_string(seconds);
    let (mantissa, exponent) = java.split_once('E').unwrap_or((&java, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches('-');
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i32 + exponent;
    let mut plain = if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    if plain.contains('.') {
        plain = plain.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    let plain = plain.trim_start_matches('0');
    let plain = if plain.starts_with('.') || plain.is_empty() {
        format!("0{plain}")
    } else {
        plain.to_owned()
    };
    if negative {
        format!("-{plain}")
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    // defaults.json / interval_string.json, c_interval.
    #[test]
    fn intervals() {
        let typical = interval(14, 3, 14_706_789_000);
        assert_eq!(micro_duration(typical), 37_091_106_789_000);
        assert_eq!(iso_interval(typical), "P1Y2M3DT4H5M6.789S");
        let negative = interval(-14, -3, -14_706_789_000);
        assert_eq!(micro_duration(negative), -37_091_106_789_000);
        assert_eq!(iso_interval(negative), "P-1Y-2M-3DT-4H-5M-6.789S");
        let huge = interval(1_200_011, 30, 86_399_999_999);
        assert_eq!(micro_duration(huge), 3_155_791_606_200_000_000);
        assert_eq!(iso_interval(huge), "P100000Y11M30DT23H59M59.999999S");
        assert_eq!(iso_interval(interval(0, 1, 0)), "P0Y0M1DT0H0M0S");
        assert_eq!(plain_seconds(0.000001), "0.000001");
        assert_eq!(plain_seconds(-6.5), "-6.5");
        assert_eq!(plain_seconds(30.0), "30");
    }

    #[test]
    fn zoned() {
        let micros = |m: i128| Timestamp::Micros(m);
        assert_eq!(
            zoned_timestamp(micros(1_709_207_130_123_456), 6, false),
            "2024-02-29T11:45:30.123456Z"
        );
        assert_eq!(
            zoned_timestamp(micros(946_728_000_500_000), 3, false),
            "2000-01-01T12:00:00.500Z"
        );
        assert_eq!(
            zoned_timestamp(micros(946_728_000_000_000), 0, false),
            "2000-01-01T12:00:00Z"
        );
        assert_eq!(
            zoned_timestamp(micros(-62_135_596_800_000_000), 0, false),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(
            zoned_timestamp(Timestamp::NegInfinity, 6, false),
            "-infinity"
        );
        assert_eq!(
            zoned_timestamp(Timestamp::NegInfinity, 6, true),
            "+292269055-12-02T23:00:00.000000Z"
        );
        assert_eq!(
            zoned_time(TimeTz {
                micros: 49_530_500_000,
                offset_seconds: 19_800
            }),
            "08:15:30.5Z"
        );
        assert_eq!(
            zoned_time(TimeTz {
                micros: 0,
                offset_seconds: -43_200
            }),
            "12:00:00Z"
        );
    }

    #[test]
    fn arrays_and_infinities() {
        assert_eq!(array_time_millis(86_400_000_000), 0);
        assert_eq!(array_time_millis(49_530_123_456), 49_530_123);
        assert_eq!(date_days(Date::Infinity), 2_146_033_979);
        assert_eq!(array_date_days(Date::NegInfinity), -625_821_272);
        assert_eq!(
            timestamp_millis(Timestamp::Micros(-63_517_780_799_999_000)),
            Some(-63_517_780_799_999)
        );
        assert_eq!(timestamp_millis(Timestamp::Micros(-1)), Some(-1));
    }
}
