//! Fixed-size scalars: booleans, integers, floats, identifiers, UUIDs and LSNs. None of
//! these allocate.

use super::error::ValueError;
use super::types::{PgType, ScalarType};
use crate::Lsn;

fn ty(scalar: ScalarType) -> PgType {
    PgType::Scalar(scalar)
}

/// `boolout` prints exactly `t` or `f`.
pub fn parse_bool(text: &[u8]) -> Result<bool, ValueError> {
    match text {
        b"t" => Ok(true),
        b"f" => Ok(false),
        _ => Err(ValueError::malformed(
            ty(ScalarType::Bool),
            text,
            "expected t or f",
        )),
    }
}

/// Decimal digits with an optional leading '-', as `int8out` prints them. At most 19
/// digits (i64::MAX has 19), so the u64 accumulator cannot overflow.
fn parse_i64_digits(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut acc: u64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        acc = acc * 10 + u64::from(digit);
    }
    if negative {
        // -(2^63) is i64::MIN; anything larger in magnitude is out of range.
        (acc <= 1 << 63).then(|| (acc as i64).wrapping_neg())
    } else {
        i64::try_from(acc).ok()
    }
}

fn parse_u64_digits(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut acc: u64 = 0;
    for &b in text {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(acc)
}

fn int_error(scalar: ScalarType, text: &[u8]) -> ValueError {
    let is_number = {
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
    };
    if is_number {
        ValueError::out_of_range(ty(scalar), text, "does not fit the type")
    } else {
        ValueError::malformed(ty(scalar), text, "expected an integer")
    }
}

pub fn parse_int2(text: &[u8]) -> Result<i16, ValueError> {
    parse_i64_digits(text)
        .and_then(|v| i16::try_from(v).ok())
        .ok_or_else(|| int_error(ScalarType::Int2, text))
}

pub fn parse_int4(text: &[u8]) -> Result<i32, ValueError> {
    parse_i64_digits(text)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| int_error(ScalarType::Int4, text))
}

pub fn parse_int8(text: &[u8]) -> Result<i64, ValueError> {
    parse_i64_digits(text).ok_or_else(|| int_error(ScalarType::Int8, text))
}

/// `oid` and `xid` are unsigned 32-bit.
pub fn parse_u32(scalar: ScalarType, text: &[u8]) -> Result<u32, ValueError> {
    parse_u64_digits(text)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| int_error(scalar, text))
}

/// `xid8` is unsigned 64-bit (epoch and xid).
pub fn parse_u64(scalar: ScalarType, text: &[u8]) -> Result<u64, ValueError> {
    parse_u64_digits(text).ok_or_else(|| int_error(scalar, text))
}

/// The characters `float8out` can print besides the three specials (shortest-exact
/// output since PostgreSQL 12, e.g. `1e+300`, `1.5e-320`, `-0`). Checking them first
/// keeps out spellings the standard library would accept but PostgreSQL never prints
/// (`inf`, `nan`, `+1`).
fn is_float_syntax(text: &[u8]) -> bool {
    match text.first() {
        Some(b'0'..=b'9') | Some(b'-') => text
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'-' | b'+')),
        _ => false,
    }
}

pub fn parse_float8_in(scalar: ScalarType, text: &[u8]) -> Result<f64, ValueError> {
    match text {
        b"NaN" => return Ok(f64::NAN),
        b"Infinity" => return Ok(f64::INFINITY),
        b"-Infinity" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    if is_float_syntax(text) {
        if let Some(v) = std::str::from_utf8(text).ok().and_then(|s| s.parse().ok()) {
            return Ok(v);
        }
    }
    Err(ValueError::malformed(
        ty(scalar),
        text,
        "expected a number, NaN or ±Infinity",
    ))
}

pub fn parse_float8(text: &[u8]) -> Result<f64, ValueError> {
    parse_float8_in(ScalarType::Float8, text)
}

/// Parsed directly as f32: going through f64 could round twice.
pub fn parse_float4(text: &[u8]) -> Result<f32, ValueError> {
    match text {
        b"NaN" => return Ok(f32::NAN),
        b"Infinity" => return Ok(f32::INFINITY),
        b"-Infinity" => return Ok(f32::NEG_INFINITY),
        _ => {}
    }
    if is_float_syntax(text) {
        if let Some(v) = std::str::from_utf8(text).ok().and_then(|s| s.parse().ok()) {
            return Ok(v);
        }
    }
    Err(ValueError::malformed(
        ty(ScalarType::Float4),
        text,
        "expected a number, NaN or ±Infinity",
    ))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Two hex digits → one byte.
pub(crate) fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    Some((hex_value(hi)? << 4) | hex_value(lo)?)
}

/// `uuid_out` always prints the 8-4-4-4-12 lower-case form.
pub fn parse_uuid(text: &[u8]) -> Result<[u8; 16], ValueError> {
    let err = || {
        ValueError::malformed(
            ty(ScalarType::Uuid),
            text,
            "expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
        )
    };
    if text.len() != 36 || [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return Err(err());
    }
    let mut out = [0u8; 16];
    let mut hex = text.iter().copied().filter(|&b| b != b'-');
    for byte in &mut out {
        let (hi, lo) = (hex.next().ok_or_else(err)?, hex.next().ok_or_else(err)?);
        *byte = hex_pair(hi, lo).ok_or_else(err)?;
    }
    Ok(out)
}

pub fn parse_lsn(text: &[u8]) -> Result<Lsn, ValueError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ValueError::malformed(ty(ScalarType::PgLsn), text, "expected XXXXXXXX/XXXXXXXX")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools() {
        assert_eq!(parse_bool(b"t"), Ok(true));
        assert_eq!(parse_bool(b"f"), Ok(false));
        for bad in [&b"true"[..], b"T", b"", b"1", b"t "] {
            assert!(parse_bool(bad).is_err());
        }
    }

    // Limits printed by PostgreSQL 15.
    #[test]
    fn integer_limits() {
        assert_eq!(parse_int2(b"32767"), Ok(i16::MAX));
        assert_eq!(parse_int2(b"-32768"), Ok(i16::MIN));
        assert_eq!(parse_int4(b"2147483647"), Ok(i32::MAX));
        assert_eq!(parse_int4(b"-2147483648"), Ok(i32::MIN));
        assert_eq!(parse_int8(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int8(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int8(b"0"), Ok(0));
        assert_eq!(parse_int8(b"-0"), Ok(0));
        assert!(matches!(
            parse_int2(b"32768"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int2(b"-32769"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int4(b"2147483648"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int8(b"9223372036854775808"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int8(b"-9223372036854775809"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int8(b"99999999999999999999999"),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn integer_syntax_errors() {
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"0x10",
            b"1e3",
            b"--1",
            b"\xff",
        ] {
            assert!(
                matches!(parse_int4(bad), Err(ValueError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unsigned() {
        assert_eq!(parse_u32(ScalarType::Oid, b"4294967295"), Ok(u32::MAX));
        assert_eq!(parse_u32(ScalarType::Xid, b"12345"), Ok(12345));
        assert!(parse_u32(ScalarType::Oid, b"4294967296").is_err());
        assert!(parse_u32(ScalarType::Oid, b"-1").is_err());
        assert_eq!(
            parse_u64(ScalarType::Xid8, b"18446744073709551615"),
            Ok(u64::MAX)
        );
        assert!(parse_u64(ScalarType::Xid8, b"18446744073709551616").is_err());
    }

    // float8 output printed by PostgreSQL 15 (extra_float_digits = 1).
    #[test]
    fn floats() {
        let neg_zero = parse_float8(b"-0").expect("-0");
        assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
        assert!(parse_float8(b"NaN").expect("NaN").is_nan());
        assert_eq!(parse_float8(b"Infinity"), Ok(f64::INFINITY));
        assert_eq!(parse_float8(b"-Infinity"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_float8(b"0.1"), Ok(0.1));
        assert_eq!(parse_float8(b"1e+300"), Ok(1e300));
        assert_eq!(parse_float8(b"1.5e-320"), Ok(1.5e-320));
        assert_eq!(
            parse_float8(b"1.2345678901234568e+17"),
            Ok(123456789012345678.0)
        );
        assert_eq!(parse_float8(b"1e-07"), Ok(1e-7));
        assert_eq!(parse_float8(b"0.0001"), Ok(0.0001));
        assert_eq!(parse_float4(b"3.4028235e+38"), Ok(f32::MAX));
        assert_eq!(parse_float4(b"1.1754944e-38"), Ok(f32::MIN_POSITIVE));
        assert_eq!(parse_float4(b"1e-45"), Ok(1e-45_f32));
        assert!(parse_float4(b"-0").expect("-0").is_sign_negative());
        assert!(parse_float4(b"NaN").expect("NaN").is_nan());
        for bad in [
            &b"inf"[..],
            b"nan",
            b"infinity",
            b"+1",
            b"",
            b"1,5",
            b" 1",
            b"1e",
            b"e5",
        ] {
            assert!(parse_float8(bad).is_err(), "{bad:?}");
            assert!(parse_float4(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uuids() {
        let expected = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(
            parse_uuid(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Ok(expected)
        );
        assert_eq!(
            parse_uuid(b"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
            Ok(expected)
        );
        for bad in [
            &b"a0eebc999c0b4ef8bb6d6bb9bd380a11"[..],
            b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            b"a0eebc99-9c0b-4ef8-bb6d+6bb9bd380a11",
            b"",
        ] {
            assert!(parse_uuid(bad).is_err());
        }
    }

    #[test]
    fn lsns() {
        assert_eq!(parse_lsn(b"16/B374D848"), Ok(Lsn(0x16_B374_D848)));
        assert_eq!(parse_lsn(b"0/0"), Ok(Lsn(0)));
        assert_eq!(parse_lsn(b"FFFFFFFF/FFFFFFFF"), Ok(Lsn(u64::MAX)));
        assert!(parse_lsn(b"16").is_err());
        assert!(parse_lsn(b"\xff/0").is_err());
    }
}
