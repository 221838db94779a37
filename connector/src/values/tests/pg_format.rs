//! Formatters that mimic PostgreSQL's output functions, for the round-trip properties.

pub(super) fn pg_float(v: f64) -> String {
    pg_float_text(v, format!("{v}"), format!("{v:e}"), 15)
}

pub(super) fn pg_float4(v: f32) -> String {
    pg_float_text(f64::from(v), format!("{v}"), format!("{v:e}"), 6)
}

/// Shortest round-trip digits laid out as `float8out`/`float4out` do since
/// PostgreSQL 12: plain notation for decimal exponents in [-4, digits), otherwise
/// `d.ddde+XX` with at least two exponent digits.
pub(super) fn pg_float_text(v: f64, plain: String, scientific: String, digits: i32) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent");
    let exponent: i32 = exponent.parse().expect("exponent digits");
    if v == 0.0 || (-4..digits).contains(&exponent) {
        plain
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    }
}

/// `{...}` nesting for `dims` around already-quoted elements.
pub(super) fn format_nested(dims: &[usize], elements: &[Option<String>], delimiter: u8) -> String {
    fn level(dims: &[usize], elements: &[Option<String>], delimiter: char, out: &mut String) {
        out.push('{');
        if dims.len() == 1 {
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(delimiter);
                }
                out.push_str(e.as_deref().unwrap_or("NULL"));
            }
        } else {
            let chunk = elements.len() / dims[0];
            for (i, part) in elements.chunks(chunk).enumerate() {
                if i > 0 {
                    out.push(delimiter);
                }
                level(&dims[1..], part, delimiter, out);
            }
        }
        out.push('}');
    }
    let mut out = String::new();
    level(dims, elements, char::from(delimiter), &mut out);
    out
}

/// `array_out`'s quoting rule for one element.
pub(super) fn quote_element(s: &str, delimiter: u8) -> String {
    let needs_quotes = s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.bytes().any(|b| {
            b == delimiter
                || matches!(
                    b,
                    b'{' | b'}' | b'"' | b'\\' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
                )
        });
    if !needs_quotes {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(super) fn hstore_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(super) fn pg_date(year: i64, month: u32, day: u32) -> String {
    if year <= 0 {
        format!("{:04}-{month:02}-{day:02} BC", 1 - year)
    } else {
        format!("{year:04}-{month:02}-{day:02}")
    }
}

pub(super) fn pg_time(micros: i64) -> String {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let mut out = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        out.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    out
}

pub(super) fn pg_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let mut out = format!("{sign}{:02}", s / 3600);
    if s % 3600 != 0 {
        out.push_str(&format!(":{:02}", s / 60 % 60));
        if s % 60 != 0 {
            out.push_str(&format!(":{:02}", s % 60));
        }
    }
    out
}

/// `EncodeInterval` in the postgres style: years and months from the month count,
/// a `+` only where the sign differs from the previous field's.
pub(super) fn pg_interval(months: i32, days: i32, micros: i64) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut previous_negative = false;
    let mut any = false;
    let mut field = |value: i64, unit: &str, parts: &mut Vec<String>| {
        if value == 0 {
            return;
        }
        let plus = if any && previous_negative && value > 0 {
            "+"
        } else {
            ""
        };
        let plural = if value == 1 { "" } else { "s" };
        parts.push(format!("{plus}{value} {unit}{plural}"));
        previous_negative = value < 0;
        any = true;
    };
    let years = i64::from(months / 12);
    let mons = i64::from(months % 12);
    field(years, "year", &mut parts);
    field(mons, "mon", &mut parts);
    field(i64::from(days), "day", &mut parts);
    let any_before = !parts.is_empty();
    let last_negative = parts.last().is_some_and(|p| p.starts_with('-'));
    if micros != 0 || !any_before {
        let negative = micros < 0;
        let magnitude = micros.unsigned_abs();
        let secs = magnitude / 1_000_000;
        let frac = magnitude % 1_000_000;
        let sign = if negative {
            "-"
        } else if any_before && last_negative {
            "+"
        } else {
            ""
        };
        let mut clock = format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if frac != 0 {
            clock.push_str(format!(".{frac:06}").trim_end_matches('0'));
        }
        parts.push(clock);
    }
    parts.join(" ")
}
