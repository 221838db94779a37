//! Connect value → the text PostgreSQL reads for the column ([`types`](crate::types)),
//! undoing Debezium's encodings: unscaled decimal bytes, epoch days and micros, the
//! JDBC driver's infinity sentinels, little-endian `Bits`, geometry structs. Pure.
//!
//! A value Debezium sent as `unavailable.value.placeholder` (an unchanged TOASTed
//! column) is [`Cell::Absent`]: the merge then keeps the stored value.

use std::fmt::Write as _;

use pgcdc_schemas::connect::{Schema, SchemaKind, SchemaType, Value};
use pgcdc_schemas::debezium::logical;
use pgcdc_schemas::json::JsonConverter;

use crate::types::{ENUM_SET, NANO_TIME, NANO_TIMESTAMP};

/// One column of one staged row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cell {
    Null,
    /// PostgreSQL's text input for the column's type.
    Text(String),
    /// Not known: the record does not carry the column (an older schema) or carries
    /// the unavailable-value placeholder. Inserts get the column default, updates
    /// keep the stored value.
    Absent,
}

/// Debezium's `date` infinities (the JDBC driver's sentinel dates), in scalars and in
/// arrays.
const DATE_INFINITY: [i64; 2] = [2_146_033_979, -622_191_234];
const DATE_NEG_INFINITY: [i64; 2] = [-2_147_472_691, -625_821_272];
/// Debezium's `timestamp` infinities: `Long.MAX/MIN_VALUE` micros and the driver's
/// sentinel millis.
const MICROS_INFINITY: i64 = i64::MAX;
const MICROS_NEG_INFINITY: i64 = i64::MIN;
const MILLIS_INFINITY: i64 = 9_223_372_036_825_200_000;
const MILLIS_NEG_INFINITY: i64 = -9_223_372_036_832_400_000;

/// The cell for a value of a field of `schema`; `placeholder` is the source's
/// `unavailable.value.placeholder`.
pub fn cell(schema: &Schema, value: &Value, placeholder: &[u8]) -> Result<Cell, String> {
    if value.is_null() {
        return Ok(Cell::Null);
    }
    if !placeholder.is_empty() && is_placeholder(value, placeholder) {
        return Ok(Cell::Absent);
    }
    Ok(Cell::Text(text(schema, value)?))
}

/// Whether a value is the unavailable-value placeholder in one of the shapes
/// Debezium gives it (`pgcdc_schemas::debezium::toast`).
fn is_placeholder(value: &Value, placeholder: &[u8]) -> bool {
    let as_text = |v: &Value| matches!(v, Value::String(s) if s.as_bytes() == placeholder);
    match value {
        Value::String(s) => {
            s.as_bytes() == placeholder || {
                // hstore in json mode: {"<p>":"<p>"}
                let p = String::from_utf8_lossy(placeholder);
                *s == format!("{{\"{p}\":\"{p}\"}}")
            }
        }
        Value::Bytes(b) => b == placeholder,
        Value::Array(items) => match items.as_slice() {
            [one] if as_text(one) || matches!(one, Value::Bytes(b) if b == placeholder) => true,
            items if items.len() == placeholder.len() => {
                items
                    .iter()
                    .zip(placeholder)
                    .all(|(item, &byte)| match item {
                        Value::Int32(v) => *v == i32::from(byte),
                        Value::Int64(v) => *v == i64::from(byte),
                        _ => false,
                    })
            }
            _ => false,
        },
        Value::Map(entries) => matches!(entries.as_slice(), [(k, v)] if as_text(k) && as_text(v)),
        _ => false,
    }
}

/// Whether a field is written as one JSON document (`jsonb`).
pub fn is_json_document(schema: &Schema) -> bool {
    match &schema.kind {
        SchemaKind::Map { .. } => true,
        SchemaKind::Struct(_) => !matches!(
            schema.name.as_deref(),
            Some(
                logical::VARIABLE_SCALE_DECIMAL
                    | logical::POINT
                    | logical::LINE
                    | logical::CIRCLE
                    | logical::GEOMETRY
                    | logical::GEOGRAPHY
            )
        ),
        SchemaKind::Array(items) => is_json_document(items),
        _ => false,
    }
}

/// PostgreSQL's text for a non-null value.
pub fn text(schema: &Schema, value: &Value) -> Result<String, String> {
    if is_json_document(schema) {
        return JsonConverter::default()
            .value_to_json(schema, value)
            .map_err(|e| e.to_string());
    }
    let mismatch = || {
        format!(
            "a {value:?} value does not fit its {} schema {:?}",
            schema.schema_type(),
            schema.name
        )
    };
    if let Some(name) = schema.name.as_deref() {
        if let Some(text) = logical_text(name, schema, value)? {
            return Ok(text);
        }
    }
    Ok(match value {
        Value::Null => return Err("null has no text".to_owned()),
        Value::Boolean(b) => if *b { "t" } else { "f" }.to_owned(),
        Value::Int8(v) => v.to_string(),
        Value::Int16(v) => v.to_string(),
        Value::Int32(v) => v.to_string(),
        Value::Int64(v) => v.to_string(),
        Value::Float32(v) => float_text(f64::from(*v), || v.to_string(), || format!("{v:e}")),
        Value::Float64(v) => float_text(*v, || v.to_string(), || format!("{v:e}")),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => bytea(b),
        Value::Array(items) => {
            let SchemaKind::Array(item_schema) = &schema.kind else {
                return Err(mismatch());
            };
            let mut out = String::from("{");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item {
                    Value::Null => out.push_str("NULL"),
                    Value::Array(_) => out.push_str(&text(item_schema, item)?),
                    _ => push_array_element(&mut out, &text(item_schema, item)?),
                }
            }
            out.push('}');
            out
        }
        Value::Map(_) | Value::Struct(_) => return Err(mismatch()),
    })
}

fn float_text(v: f64, plain: impl Fn() -> String, exp: impl Fn() -> String) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        // Rust prints the shortest text that reads back as the same float; so does
        // PostgreSQL's float input read it.
        plain()
    } else {
        exp()
    }
}

fn bytea(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// An array element, always quoted (valid for every element type).
fn push_array_element(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn logical_text(name: &str, schema: &Schema, value: &Value) -> Result<Option<String>, String> {
    let bad = || format!("{name}: unexpected value {value:?}");
    Ok(Some(match (name, value) {
        (logical::DECIMAL, Value::Bytes(bytes)) => {
            let scale: i32 = schema
                .parameter("scale")
                .unwrap_or("0")
                .parse()
                .map_err(|_| format!("{name}: bad scale parameter"))?;
            decimal_text(bytes, scale)
        }
        (logical::VARIABLE_SCALE_DECIMAL, Value::Struct(fields)) => {
            let scale = schema
                .field_index("scale")
                .and_then(|i| fields.get(i))
                .ok_or_else(bad)?;
            let digits = schema
                .field_index("value")
                .and_then(|i| fields.get(i))
                .ok_or_else(bad)?;
            match (scale, digits) {
                (Value::Int32(scale), Value::Bytes(bytes)) => decimal_text(bytes, *scale),
                _ => return Err(bad()),
            }
        }
        (logical::DATE | logical::CONNECT_DATE, Value::Int32(days)) => date_text(i64::from(*days)),
        (logical::TIME | logical::CONNECT_TIME, Value::Int32(millis)) => {
            time_text(i64::from(*millis) * 1_000_000)
        }
        (logical::MICRO_TIME, Value::Int64(micros)) => time_text(micros.saturating_mul(1000)),
        (NANO_TIME, Value::Int64(nanos)) => time_text(*nanos),
        (logical::TIMESTAMP | logical::CONNECT_TIMESTAMP, Value::Int64(millis)) => match *millis {
            MILLIS_INFINITY => "infinity".to_owned(),
            MILLIS_NEG_INFINITY => "-infinity".to_owned(),
            millis => timestamp_text(i128::from(millis) * 1_000_000),
        },
        (logical::MICRO_TIMESTAMP, Value::Int64(micros)) => match *micros {
            MICROS_INFINITY => "infinity".to_owned(),
            MICROS_NEG_INFINITY => "-infinity".to_owned(),
            micros => timestamp_text(i128::from(micros) * 1000),
        },
        (NANO_TIMESTAMP, Value::Int64(nanos)) => timestamp_text(i128::from(*nanos)),
        (logical::ZONED_TIMESTAMP, Value::String(text)) => {
            // `-infinity` in a timestamptz array comes out of Debezium as this year.
            if text.starts_with("+292269055-") {
                "-infinity".to_owned()
            } else {
                text.clone()
            }
        }
        (logical::MICRO_DURATION, Value::Int64(micros)) => format!("{micros} microseconds"),
        (logical::BITS, Value::Bytes(bytes)) => {
            let length = schema
                .parameter("length")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l < 83_886_080);
            bits_text(bytes, length)
        }
        (logical::POINT, Value::Struct(fields)) => {
            let (x, y) = (
                struct_f64(schema, fields, "x"),
                struct_f64(schema, fields, "y"),
            );
            format!("({},{})", x.ok_or_else(bad)?, y.ok_or_else(bad)?)
        }
        (logical::LINE, Value::Struct(fields)) => {
            let coefficient = |n| struct_f64(schema, fields, n).ok_or_else(bad);
            format!(
                "{{{},{},{}}}",
                coefficient("a")?,
                coefficient("b")?,
                coefficient("c")?
            )
        }
        (logical::CIRCLE, Value::Struct(fields)) => {
            let center_schema = schema.field("center").map(|f| &f.schema).ok_or_else(bad)?;
            let center = schema
                .field_index("center")
                .and_then(|i| fields.get(i))
                .ok_or_else(bad)?;
            let radius = struct_f64(schema, fields, "radius").ok_or_else(bad)?;
            let center = logical_text(logical::POINT, center_schema, center)?.ok_or_else(bad)?;
            format!("<{center},{radius}>")
        }
        (logical::GEOMETRY | logical::GEOGRAPHY, Value::Struct(fields)) => {
            match schema.field_index("wkb").and_then(|i| fields.get(i)) {
                Some(Value::Bytes(wkb)) => bytea(wkb),
                _ => return Err(bad()),
            }
        }
        (ENUM_SET, Value::String(s)) => s.clone(),
        _ => return Ok(None),
    }))
}

fn struct_f64(schema: &Schema, fields: &[Value], name: &str) -> Option<f64> {
    match schema.field_index(name).and_then(|i| fields.get(i)) {
        Some(Value::Float64(v)) => Some(*v),
        _ => None,
    }
}

/// `unscaled × 10^-scale` from big-endian two's-complement bytes, in plain notation.
pub fn decimal_text(bytes: &[u8], scale: i32) -> String {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    // Magnitude as big-endian bytes.
    let mut magnitude: Vec<u8> = bytes.to_vec();
    if negative {
        for b in &mut magnitude {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
    }
    let mut digits = big_endian_to_decimal(&magnitude);
    let mut out = String::new();
    if negative && digits != "0" {
        out.push('-');
    }
    if scale <= 0 {
        if digits != "0" {
            digits.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        out.push_str(&digits);
    } else {
        let scale = scale as usize;
        if digits.len() <= scale {
            let zeros = scale - digits.len();
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', zeros));
            out.push_str(&digits);
        } else {
            let point = digits.len() - scale;
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// Decimal digits of an unsigned big-endian integer of any length.
fn big_endian_to_decimal(bytes: &[u8]) -> String {
    // Limbs of 2^32, most significant first; divide by 10^9 repeatedly.
    let mut limbs: Vec<u32> = Vec::with_capacity(bytes.len() / 4 + 1);
    let first = bytes.len() % 4;
    if first > 0 {
        limbs.push(
            bytes[..first]
                .iter()
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)),
        );
    }
    for chunk in bytes[first..].chunks(4) {
        limbs.push(chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)));
    }
    let mut groups: Vec<u32> = Vec::new();
    loop {
        while limbs.first() == Some(&0) {
            limbs.remove(0);
        }
        if limbs.is_empty() {
            break;
        }
        let mut remainder: u64 = 0;
        for limb in &mut limbs {
            let current = (remainder << 32) | u64::from(*limb);
            *limb = (current / 1_000_000_000) as u32;
            remainder = current % 1_000_000_000;
        }
        groups.push(remainder as u32);
    }
    match groups.split_last() {
        None => "0".to_owned(),
        Some((most, rest)) => {
            let mut out = most.to_string();
            for group in rest.iter().rev() {
                let _ = write!(out, "{group:09}");
            }
            out
        }
    }
}

/// Epoch days → `YYYY-MM-DD` (`… BC` before year 1), with Debezium's infinities.
pub fn date_text(days: i64) -> String {
    if DATE_INFINITY.contains(&days) {
        return "infinity".to_owned();
    }
    if DATE_NEG_INFINITY.contains(&days) {
        return "-infinity".to_owned();
    }
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(16);
    push_date(&mut out, year, month, day);
    out
}

fn push_date(out: &mut String, year: i64, month: u32, day: u32) {
    let (shown, bc) = if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    };
    let _ = write!(out, "{shown:04}-{month:02}-{day:02}");
    if bc {
        out.push_str(" BC");
    }
}

/// Nanoseconds since midnight → `HH:MM:SS[.fffffffff]` (24:00:00 stays 24:00:00).
pub fn time_text(nanos: i64) -> String {
    let nanos = nanos.max(0);
    let mut out = String::with_capacity(18);
    push_clock(&mut out, nanos);
    out
}

fn push_clock(out: &mut String, nanos_of_day: i64) {
    let seconds = nanos_of_day / 1_000_000_000;
    let fraction = nanos_of_day % 1_000_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Nanoseconds since the epoch → `YYYY-MM-DD HH:MM:SS[.f…][ BC]`.
pub fn timestamp_text(nanos: i128) -> String {
    const NANOS_PER_DAY: i128 = 86_400_000_000_000;
    let days = nanos.div_euclid(NANOS_PER_DAY) as i64;
    let of_day = nanos.rem_euclid(NANOS_PER_DAY) as i64;
    let (year, month, day) = civil_from_days(days);
    let (shown, bc) = if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    };
    let mut out = String::with_capacity(32);
    let _ = write!(out, "{shown:04}-{month:02}-{day:02} ");
    push_clock(&mut out, of_day);
    if bc {
        out.push_str(" BC");
    }
    out
}

/// Howard Hinnant's `civil_from_days`: proleptic Gregorian, year 0 = 1 BC.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Debezium's `Bits` (the bit string as a little-endian number) → the bit string,
/// padded with leading zeros to the declared `length` when there is one.
pub fn bits_text(bytes: &[u8], length: Option<usize>) -> String {
    let highest = (0..bytes.len() * 8)
        .rev()
        .find(|&k| bytes[k / 8] & (1 << (k % 8)) != 0);
    let significant = highest.map_or(0, |k| k + 1);
    let width = length.map_or(significant, |l| l.max(significant));
    (0..width)
        .rev()
        .map(|k| {
            if k < bytes.len() * 8 && bytes[k / 8] & (1 << (k % 8)) != 0 {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

/// Whether a value of this schema can be a key column (compared with `=`).
pub fn is_comparable(schema: &Schema) -> bool {
    !matches!(schema.schema_type(), SchemaType::Map) && !is_json_document(schema)
}

#[cfg(test)]
mod tests;
