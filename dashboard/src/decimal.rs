//! Exact decimal arithmetic for sums: a value with at most nine fraction digits is
//! held as an integer count of nano-units (`i128`), so adding a row and retracting it
//! again gives back exactly what was there, in any order and across partitions —
//! which `f64` does not (`0.1 + 0.2 - 0.2 != 0.1`). Money (`numeric(12,2)`, in any
//! `decimal.handling.mode`) always takes this path.

/// Nano-units per unit.
pub const SCALE: i128 = 1_000_000_000;
const FRACTION_DIGITS: i32 = 9;

/// Parses a plain or scientific decimal (`-12.5`, `1e3`, `4.2E-2`) into nano-units;
/// `None` when it is not such a number, has more than nine fraction digits, or is out
/// of range.
pub fn parse_nanos(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    let (negative, b) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let mantissa_end = b
        .iter()
        .position(|c| matches!(c, b'e' | b'E'))
        .unwrap_or(b.len());
    let (mantissa, exponent) = b.split_at(mantissa_end);
    let exponent: i32 = if exponent.is_empty() {
        0
    } else {
        std::str::from_utf8(&exponent[1..]).ok()?.parse().ok()?
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&c| c == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &[][..]),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.iter().chain(frac_part).all(u8::is_ascii_digit)
    {
        return None;
    }
    let mut digits: i128 = 0;
    for &c in int_part.iter().chain(frac_part) {
        digits = digits.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
        if digits > i128::MAX / 1000 {
            return None;
        }
    }
    // value = digits * 10^(exponent - frac_len); nanos = value * 10^9.
    let shift = exponent.checked_sub(i32::try_from(frac_part.len()).ok()?)? + FRACTION_DIGITS;
    let nanos = if shift >= 0 {
        digits.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        let divisor = 10i128.checked_pow(shift.unsigned_abs())?;
        if digits % divisor != 0 {
            return None; // more than nine fraction digits
        }
        digits / divisor
    };
    Some(if negative { -nanos } else { nanos })
}

/// Formats nano-units as the shortest plain decimal (`12.5`, `-3`, `0.000000001`).
pub fn format_nanos(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let int = abs / SCALE.unsigned_abs();
    let frac = abs % SCALE.unsigned_abs();
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:09}");
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

/// Nano-units as `f64`, the integer and fraction parts converted apart to keep
/// precision for large sums.
pub fn nanos_to_f64(nanos: i128) -> f64 {
    (nanos / SCALE) as f64 + (nanos % SCALE) as f64 / SCALE as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_and_scientific() {
        assert_eq!(parse_nanos("12.5"), Some(12_500_000_000));
        assert_eq!(parse_nanos("-0.000000001"), Some(-1));
        assert_eq!(parse_nanos("1e3"), Some(1_000 * SCALE));
        assert_eq!(parse_nanos("4.2E-2"), Some(42_000_000));
        assert_eq!(parse_nanos(".5"), Some(500_000_000));
        assert_eq!(parse_nanos("5."), Some(5 * SCALE));
        assert_eq!(parse_nanos("+7"), Some(7 * SCALE));
        assert_eq!(parse_nanos("0.0000000001"), None);
        assert_eq!(parse_nanos("1e-10"), None);
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "NaN", "inf", "1e99999"] {
            assert_eq!(parse_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(format_nanos(12_500_000_000), "12.5");
        assert_eq!(format_nanos(-3 * SCALE), "-3");
        assert_eq!(format_nanos(1), "0.000000001");
        assert_eq!(format_nanos(-1), "-0.000000001");
        assert_eq!(format_nanos(0), "0");
        assert!((nanos_to_f64(-12_500_000_000) + 12.5).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(n in -(1i128 << 100)..(1i128 << 100)) {
            prop_assert_eq!(parse_nanos(&format_nanos(n)), Some(n));
        }
    }
}
