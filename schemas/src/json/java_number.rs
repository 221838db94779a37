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

/// `Double.toString(v)` for finite `v`.
pub fn double_to_string(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let shortest = format!("{:e}", v.abs());
    let two_digits = format!("{:.1e}", v.abs());
    let decimal = choose(&shortest, &two_digits, |s| {
        s.parse::<f64>().is_ok_and(|p| p == v.abs())
    });
    render(
        v.is_sign_negative(),
        &decimal,
        v.abs() >= 1e-3 && v.abs() < 1e7,
    )
}

/// `Float.toString(v)` for finite `v`.
pub fn float_to_string(v: f32) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let shortest = format!("{:e}", v.abs());
    let two_digits = format!("{:.1e}", v.abs());
    let decimal = choose(&shortest, &two_digits, |s| {
        s.parse::<f32>().is_ok_and(|p| p == v.abs())
    });
    render(
        v.is_sign_negative(),
        &decimal,
        v.abs() >= 1e-3 && v.abs() < 1e7,
    )
}

/// Significant digits and the exponent of the first one: `1.25e2` is `("125", 2)`.
struct Decimal {
    digits: String,
    exponent: i32,
}

fn parse_scientific(s: &str) -> Decimal {
    let (mantissa, exponent) = s.split_once('e').unwrap_or((s, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    Decimal {
        digits,
        exponent: exponent.parse().unwrap_or(0),
    }
}

/// The shortest round-tripping digits, or the two-digit rounding when the shortest has
/// one digit and the two-digit one is a different (closer) decimal that also
/// round-trips.
fn choose(shortest: &str, two_digits: &str, round_trips: impl Fn(&str) -> bool) -> Decimal {
    let short = parse_scientific(shortest);
    if short.digits.len() == 1 {
        let two = parse_scientific(two_digits);
        if two.digits.len() == 2 && round_trips(two_digits) {
            return two;
        }
    }
    short
}

fn render(negative: bool, d: &Decimal, plain: bool) -> String {
    let mut out = String::with_capacity(d.digits.len() + 8);
    if negative {
        out.push('-');
    }
    if plain {
        if d.exponent >= 0 {
            let int_len = d.exponent as usize + 1;
            if d.digits.len() <= int_len {
                out.push_str(&d.digits);
                for _ in d.digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&d.digits[..int_len]);
                out.push('.');
                out.push_str(&d.digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-d.exponent - 1) {
                out.push('0');
            }
            out.push_str(&d.digits);
        }
    } else {
        out.push_str(&d.digits[..1]);
        out.push('.');
        if d.digits.len() > 1 {
            out.push_str(&d.digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        out.push_str(&d.exponent.to_string());
    }
    out
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
}
