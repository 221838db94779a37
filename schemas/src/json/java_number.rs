//! Java's `Double.toString` and `Float.toString`, which Jackson uses for the FLOAT64
//! and FLOAT32 numbers in Kafka's JsonConverter output: `1.0`, `-0.0`, `2.5`,
//! `1.0E300`, `4.9E-324`, `3.4028235E38`.
//!
//! The rules (Java SE 19+ javadoc, which describes what 17 prints for every value in
//! the fixtures): values in `[1e-3, 1e7)` are written in plain notation, others in
//! computerized scientific notation (`d.dddE±n`, no `+`); there is always at least one
//! digit after the point; the digits are the shortest that round-trip, except that when
//! one significant digit would do, the closest two-digit decimal is taken instead
//! (`Double.MIN_VALUE` is `4.9E-324`, not `5.0E-324`).
//!
//! Known difference: Java 17's older algorithm prints a handful of doubles with more
//! digits than needed (JDK-4511638, e.g. `2.82879384806159008E17`); those values print
//! here as the shortest form. NaN and the infinities never reach this module: Jackson
//! writes them as strings.

use std::fmt::Write;

use crate::encoding::TextSink;

/// `Double.toString(v)` for finite `v`.
pub fn double_to_string(v: f64) -> String {
    let mut out = String::new();
    write_double(v, &mut out);
    out
}

/// `Float.toString(v)` for finite `v`.
pub fn float_to_string(v: f32) -> String {
    let mut out = String::new();
    write_float(v, &mut out);
    out
}

/// Appends `Double.toString(v)` for finite `v` to `out`.
pub fn write_double(v: f64, out: &mut impl TextSink) {
    let magnitude = v.abs();
    if magnitude == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // The bits of a finite double: 52 stored mantissa bits, an 11-bit biased exponent.
    let bits = magnitude.to_bits();
    let stored_exponent = (bits >> 52) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = match stored_exponent {
        0 => (fraction, -1074),
        e => (fraction | (1 << 52), e - 1075),
    };
    let decimal = match Decimal::exact(mantissa, exponent, DOUBLE_EXACT_DIGITS) {
        Some(exact) => exact,
        None => Decimal::shortest(magnitude, |two_digits| {
            two_digits.parse::<f64>() == Ok(magnitude)
        }),
    };
    decimal.render(v.is_sign_negative(), (1e-3..1e7).contains(&magnitude), out);
}

/// Appends `Float.toString(v)` for finite `v` to `out`.
pub fn write_float(v: f32, out: &mut impl TextSink) {
    let magnitude = v.abs();
    if magnitude == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // The bits of a finite float: 23 stored mantissa bits, an 8-bit biased exponent.
    let bits = magnitude.to_bits();
    let stored_exponent = (bits >> 23) as i32;
    let fraction = u64::from(bits & ((1 << 23) - 1));
    let (mantissa, exponent) = match stored_exponent {
        0 => (fraction, -149),
        e => (fraction | (1 << 23), e - 150),
    };
    let decimal = match Decimal::exact(mantissa, exponent, FLOAT_EXACT_DIGITS) {
        Some(exact) => exact,
        None => Decimal::shortest(magnitude, |two_digits| {
            two_digits.parse::<f32>() == Ok(magnitude)
        }),
    };
    decimal.render(v.is_sign_negative(), (1e-3..1e7).contains(&magnitude), out);
}

/// A value whose exact decimal expansion has at most this many significant digits
/// has that expansion as its unique shortest round-tripping form. Decimals of at most
/// `D` digits between `10^e` and `10^(e+1)` are at least `10^(e-D+1)` apart (and those
/// of the decade below, `10^(e-D)` apart and below `10^e`), while a decimal reads back
/// as the double `v` only from within half an ulp, at most `v·2^-53 < 10^(e+1)·1.12e-16`.
/// For `D = 15` that is about a ninth of the gap, so no other decimal of 15 digits or
/// fewer reads back as `v`. Java's "two digits when one would do" changes nothing
/// either: the closest two-digit decimal to an exact one-digit value is that value.
const DOUBLE_EXACT_DIGITS: u32 = 15;
/// The same bound for floats, whose half ulp is at most `v·2^-24`: for 7 digits, 0.6
/// of the gap.
const FLOAT_EXACT_DIGITS: u32 = 7;

/// Appends `Long.toString(v)` (and `Integer.toString`, `Short`, `Byte`) to `out`:
/// the same digits Rust prints, two at a time from a table, without `core::fmt`.
pub fn write_long(v: i64, out: &mut impl TextSink) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    // 19 digits and a sign.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = v.unsigned_abs();
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if rest >= 10 {
        let pair = rest as usize * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + rest as u8;
    }
    if v < 0 {
        start -= 1;
        digits[start] = b'-';
    }
    out.push_ascii(&digits[start..]);
}

/// ASCII bytes as a `str` (they always are one).
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// A stack buffer for Rust's `{:e}` output of one number (at most 24 bytes:
/// `1.7976931348623157e308`), so formatting does not allocate.
struct Scratch {
    bytes: [u8; 32],
    len: usize,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            bytes: [0; 32],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Write for Scratch {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Significant digits and the exponent of the first one: `1.25e2` is `125`, 2.
/// A double's shortest round-tripping form has at most 17 digits.
#[derive(Clone, Copy)]
struct Decimal {
    digits: [u8; 20],
    len: usize,
    exponent: i32,
}

impl Decimal {
    /// The exact decimal value of `mantissa · 2^exponent` when it has at most
    /// `max_digits` significant digits. Integers and fractions with a small power of
    /// two below them (`100.0`, `0.875`, `2.25`) are common in data and take this
    /// path, without formatting twice through `core::fmt`.
    fn exact(mantissa: u64, exponent: i32, max_digits: u32) -> Option<Decimal> {
        let limit = 10u64.pow(max_digits);
        let zeros = mantissa.trailing_zeros();
        let odd = mantissa.checked_shr(zeros)?;
        let binary_exponent = exponent + zeros as i32;
        // value = units · 10^-fraction_digits exactly.
        let (units, fraction_digits) = if binary_exponent >= 0 {
            let shift = binary_exponent as u32;
            if shift >= odd.leading_zeros() {
                return None;
            }
            (odd << shift, 0)
        } else {
            // odd / 2^n = odd · 5^n / 10^n.
            let n = binary_exponent.unsigned_abs();
            (odd.checked_mul(5u64.checked_pow(n)?)?, n)
        };
        if units >= limit {
            return None;
        }
        let mut decimal = Decimal {
            digits: [0; 20],
            len: 0,
            exponent: 0,
        };
        let mut rest = units;
        let mut reversed = [0u8; 20];
        while rest > 0 {
            reversed[decimal.len] = b'0' + (rest % 10) as u8;
            rest /= 10;
            decimal.len += 1;
        }
        for (to, from) in decimal
            .digits
            .iter_mut()
            .zip(reversed[..decimal.len].iter().rev())
        {
            *to = *from;
        }
        decimal.exponent = decimal.len as i32 - 1 - fraction_digits as i32;
        decimal.trim();
        Some(decimal)
    }

    /// The shortest round-tripping digits of `magnitude` (Rust's `{:e}`), or the
    /// two-digit rounding when the shortest has one digit and the two-digit one is a
    /// different (closer) decimal that also round-trips.
    fn shortest(magnitude: impl std::fmt::LowerExp, round_trips: impl Fn(&str) -> bool) -> Decimal {
        let mut shortest = Scratch::new();
        let _ = write!(shortest, "{magnitude:e}");
        let decimal = Decimal::parse(shortest.as_bytes());
        // Only then is the two-digit form formatted and parsed: a rare case.
        if decimal.len == 1 {
            let mut two_digits = Scratch::new();
            let _ = write!(two_digits, "{magnitude:.1e}");
            let two = Decimal::parse(two_digits.as_bytes());
            if two.len == 2 && round_trips(ascii(two_digits.as_bytes())) {
                return two;
            }
        }
        decimal
    }

    /// Reads Rust's `{:e}` form of a positive number (`d.ddde-n`), dropping trailing
    /// zeros of the digits.
    fn parse(scientific: &[u8]) -> Decimal {
        let mut decimal = Decimal {
            digits: [0; 20],
            len: 0,
            exponent: 0,
        };
        let mut in_exponent = false;
        let mut negative_exponent = false;
        for &b in scientific {
            match b {
                b'0'..=b'9' if in_exponent => {
                    decimal.exponent = decimal.exponent * 10 + i32::from(b - b'0');
                }
                b'0'..=b'9' if decimal.len < decimal.digits.len() => {
                    decimal.digits[decimal.len] = b;
                    decimal.len += 1;
                }
                b'e' => in_exponent = true,
                b'-' => negative_exponent = true,
                _ => {}
            }
        }
        if negative_exponent {
            decimal.exponent = -decimal.exponent;
        }
        decimal.trim();
        decimal
    }

    fn trim(&mut self) {
        while self.len > 1 && self.digits[self.len - 1] == b'0' {
            self.len -= 1;
        }
    }

    /// Java's layout: plain notation with at least one digit after the point, or
    /// `d.dddE±n` with at least one digit after the point and no `+`.
    fn render(&self, negative: bool, plain: bool, out: &mut impl TextSink) {
        let digits = &self.digits[..self.len];
        if negative {
            out.push_ascii_byte(b'-');
        }
        if plain {
            if self.exponent >= 0 {
                let int_len = self.exponent as usize + 1;
                if digits.len() <= int_len {
                    out.push_ascii(digits);
                    for _ in digits.len()..int_len {
                        out.push_ascii_byte(b'0');
                    }
                    out.push_ascii(b".0");
                } else {
                    out.push_ascii(&digits[..int_len]);
                    out.push_ascii_byte(b'.');
                    out.push_ascii(&digits[int_len..]);
                }
            } else {
                out.push_ascii(b"0.");
                for _ in 0..(-self.exponent - 1) {
                    out.push_ascii_byte(b'0');
                }
                out.push_ascii(digits);
            }
        } else {
            out.push_ascii(&digits[..1]);
            out.push_ascii_byte(b'.');
            if digits.len() > 1 {
                out.push_ascii(&digits[1..]);
            } else {
                out.push_ascii_byte(b'0');
            }
            out.push_ascii_byte(b'E');
            write_long(i64::from(self.exponent), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every double and float the Debezium 3.7.0 fixtures contain, as Kafka wrote them.
    #[test]
    fn doubles_as_java_prints_them() {
        for (v, expected) in [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (-2.25, "-2.25"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e300, "1.0E300"),
            (-1e300, "-1.0E300"),
            (1.7976931348623157e308, "1.7976931348623157E308"),
            (-1.7976931348623157e308, "-1.7976931348623157E308"),
            (5e-324, "4.9E-324"),
            (std::f64::consts::E, "2.718281828459045"),
            (12345.67, "12345.67"),
            (-99999999.99, "-9.999999999E7"),
            (99999999.99, "9.999999999E7"),
            (1.2345678901234567e49, "1.2345678901234567E49"),
            (-9.223372036854776e16, "-9.223372036854776E16"),
            (1234.56, "1234.56"),
            (12345.0, "12345.0"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (0.001, "0.001"),
            (0.000999, "9.99E-4"),
            (100.0, "100.0"),
        ] {
            assert_eq!(double_to_string(v), expected, "{v:e}");
        }
    }

    #[test]
    fn floats_as_java_prints_them() {
        for (v, expected) in [
            (1.25f32, "1.25"),
            (1.5, "1.5"),
            (3.14158, "3.14158"),
            (3.4028235e38, "3.4028235E38"),
            (1e-45, "1.4E-45"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
        ] {
            assert_eq!(float_to_string(v), expected, "{v:e}");
        }
    }

    /// The first version of this module, which formatted into heap strings and parsed
    /// both candidate forms for every value: the reference the stack-buffer version is
    /// checked against.
    mod reference {
        pub fn double_to_string(v: f64) -> String {
            if v == 0.0 {
                return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
            }
            let shortest = format!("{:e}", v.abs());
            let two_digits = format!("{:.1e}", v.abs());
            let round_trips = |s: &str| s.parse::<f64>().is_ok_and(|p| p == v.abs());
            let decimal = choose(&shortest, &two_digits, round_trips);
            render(
                v.is_sign_negative(),
                &decimal,
                v.abs() >= 1e-3 && v.abs() < 1e7,
            )
        }

        pub fn float_to_string(v: f32) -> String {
            if v == 0.0 {
                return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
            }
            let shortest = format!("{:e}", v.abs());
            let two_digits = format!("{:.1e}", v.abs());
            let round_trips = |s: &str| s.parse::<f32>().is_ok_and(|p| p == v.abs());
            let decimal = choose(&shortest, &two_digits, round_trips);
            render(
                v.is_sign_negative(),
                &decimal,
                v.abs() >= 1e-3 && v.abs() < 1e7,
            )
        }

        fn parse_scientific(s: &str) -> (String, i32) {
            let (mantissa, exponent) = s.split_once('e').unwrap_or((s, "0"));
            let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            while digits.len() > 1 && digits.ends_with('0') {
                digits.pop();
            }
            (digits, exponent.parse().unwrap_or(0))
        }

        fn choose(shortest: &str, two: &str, round_trips: impl Fn(&str) -> bool) -> (String, i32) {
            let short = parse_scientific(shortest);
            if short.0.len() == 1 {
                let two_parsed = parse_scientific(two);
                if two_parsed.0.len() == 2 && round_trips(two) {
                    return two_parsed;
                }
            }
            short
        }

        fn render(negative: bool, (digits, exponent): &(String, i32), plain: bool) -> String {
            let mut out = String::new();
            if negative {
                out.push('-');
            }
            if plain && *exponent >= 0 {
                let int_len = *exponent as usize + 1;
                if digits.len() <= int_len {
                    out.push_str(digits);
                    out.push_str(&"0".repeat(int_len - digits.len()));
                    out.push_str(".0");
                } else {
                    out.push_str(&digits[..int_len]);
                    out.push('.');
                    out.push_str(&digits[int_len..]);
                }
            } else if plain {
                out.push_str("0.");
                out.push_str(&"0".repeat((-exponent - 1) as usize));
                out.push_str(digits);
            } else {
                out.push_str(&digits[..1]);
                out.push('.');
                out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
                out.push_str(&format!("E{exponent}"));
            }
            out
        }
    }

    #[test]
    fn longs_as_java_prints_them() {
        for v in [
            0,
            7,
            -7,
            10,
            -10,
            19_844,
            i64::MAX,
            i64::MIN,
            i64::from(i32::MIN),
        ] {
            let mut out = String::from("x");
            write_long(v, &mut out);
            assert_eq!(out, format!("x{v}"));
        }
    }

    proptest::proptest! {
        #[test]
        fn doubles_as_the_reference_prints_them(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                let mut out = String::from("x");
                write_double(v, &mut out);
                proptest::prop_assert_eq!(&out[1..], reference::double_to_string(v));
            }
        }

        #[test]
        fn floats_as_the_reference_prints_them(bits in proptest::num::u32::ANY) {
            let v = f32::from_bits(bits);
            if v.is_finite() {
                let mut out = String::from("x");
                write_float(v, &mut out);
                proptest::prop_assert_eq!(&out[1..], reference::float_to_string(v));
            }
        }

        // Integers and binary fractions, the values the exact-decimal path takes (and
        // those just past its digit limit, which it must leave to the general path).
        #[test]
        fn binary_fractions_as_the_reference_prints_them(
            units in 1u64..(1 << 53),
            digits in 1u32..17,
            shift in -70i32..70,
        ) {
            let v = (units % 10u64.pow(digits)) as f64 * 2f64.powi(shift);
            if v.is_finite() && v != 0.0 {
                proptest::prop_assert_eq!(double_to_string(v), reference::double_to_string(v));
                proptest::prop_assert_eq!(double_to_string(-v), reference::double_to_string(-v));
                let f = v as f32;
                if f.is_finite() && f != 0.0 {
                    proptest::prop_assert_eq!(float_to_string(f), reference::float_to_string(f));
                }
            }
        }

        // Decimal-looking values: the one- and two-digit cases random bits rarely hit.
        #[test]
        fn short_decimals_as_the_reference_prints_them(
            mantissa in -99_999i64..99_999,
            exponent in -330i32..310,
        ) {
            let v: f64 = format!("{mantissa}e{exponent}").parse().unwrap_or(0.0);
            if v.is_finite() {
                proptest::prop_assert_eq!(double_to_string(v), reference::double_to_string(v));
                let f = v as f32;
                if f.is_finite() {
                    proptest::prop_assert_eq!(float_to_string(f), reference::float_to_string(f));
                }
            }
        }
    }
}
