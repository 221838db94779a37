//! Unchanged TOASTed values: PostgreSQL does not resend a large out-of-line value an
//! UPDATE left alone (unless REPLICA IDENTITY FULL puts it in the old row), so
//! Debezium writes `unavailable.value.placeholder` in its place — in a shape that
//! depends on the column's type, and `null` where its converter has none. Every rule
//! here is observed in the `toast_types` events of the fixtures:
//!
//! | column | placeholder |
//! | --- | --- |
//! | string fields (`text`, `varchar`, `char(n)`, `citext`, `json(b)`, `xml`, `tsvector`, `ltree`, `numeric` in `string` mode, ...) | the placeholder text |
//! | `bytea` | its bytes (`bytes`), its text (`hex`), null (`base64`, `base64-url-safe`) |
//! | `hstore` | `{"<p>":"<p>"}` (`json`), the map `{<p>: <p>}` (`map`) |
//! | `text[]`, `varchar[]`, `char(n)[]`, `json[]`, `jsonb[]` | `[<p>]` |
//! | `bytea[]` | `[<p> bytes]` in `bytes` mode, else null |
//! | `int4[]`, `int8[]`, `date[]` | the placeholder's bytes as numbers (`[95, 95, 100, ...]`); null for `date[]` in `connect` mode |
//! | `uuid[]` | `[UUID.nameUUIDFromBytes(<p>)]` |
//! | anything else (`numeric` in the other modes, `varbit`, geometry, other arrays) | null |

use crate::connect::Value;
use crate::json::escape::{write_json_string, Supplementary};

use super::column::{ColumnDescription, PgColumnType, PgScalar};
use super::java::name_uuid_from_bytes;
use super::modes::{
    BinaryHandlingMode, DecimalHandlingMode, HstoreHandlingMode, TimePrecisionMode, ValueModes,
};

/// The value Debezium writes for an unchanged TOASTed column.
pub fn unchanged_toast_value(column: &ColumnDescription, modes: &ValueModes) -> Value {
    let bytes = &modes.unavailable_value_placeholder;
    let text = String::from_utf8_lossy(bytes).into_owned();
    use PgScalar as P;
    match column.pg_type {
        PgColumnType::Scalar(P::Bytea) => binary_placeholder(bytes, &text, modes.binary),
        PgColumnType::Scalar(P::Hstore) => match modes.hstore {
            HstoreHandlingMode::Json => {
                let mut json = String::from("{");
                write_json_string(&text, Supplementary::Raw, &mut json);
                json.push(':');
                write_json_string(&text, Supplementary::Raw, &mut json);
                json.push('}');
                Value::String(json)
            }
            HstoreHandlingMode::Map => Value::Map(vec![(
                Value::from(text.as_str()),
                Value::from(text.as_str()),
            )]),
        },
        PgColumnType::Scalar(P::Numeric | P::Money) => match modes.decimal {
            DecimalHandlingMode::String => Value::String(text),
            DecimalHandlingMode::Precise | DecimalHandlingMode::Double => Value::Null,
        },
        PgColumnType::Scalar(
            P::Text
            | P::Varchar
            | P::Bpchar
            | P::Name
            | P::Char
            | P::Citext
            | P::Json
            | P::Jsonb
            | P::Xml
            | P::Uuid
            | P::Tsvector
            | P::Ltree
            | P::Enum
            | P::Inet
            | P::Cidr
            | P::Macaddr
            | P::Macaddr8
            | P::Int4Range
            | P::Int8Range
            | P::NumRange
            | P::TsRange
            | P::TstzRange
            | P::DateRange,
        ) => Value::String(text),
        // Types without a mapping, included as bytes of their text.
        PgColumnType::Scalar(
            P::Xid | P::Xid8 | P::PgLsn | P::Tsquery | P::Multirange | P::Unknown,
        ) => binary_placeholder(bytes, &text, modes.binary),
        PgColumnType::Scalar(_) => Value::Null,
        PgColumnType::Array(P::Text | P::Varchar | P::Bpchar | P::Json | P::Jsonb) => {
            Value::Array(vec![Value::String(text)])
        }
        PgColumnType::Array(P::Bytea) => match modes.binary {
            BinaryHandlingMode::Bytes => Value::Array(vec![Value::Bytes(bytes.clone())]),
            _ => Value::Null,
        },
        PgColumnType::Array(P::Int4) => Value::Array(
            bytes
                .iter()
                .map(|&b| Value::Int32(i32::from(b as i8)))
                .collect(),
        ),
        PgColumnType::Array(P::Int8) => Value::Array(
            bytes
                .iter()
                .map(|&b| Value::Int64(i64::from(b as i8)))
                .collect(),
        ),
        PgColumnType::Array(P::Date) => match modes.time {
            TimePrecisionMode::Connect => Value::Null,
            TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => {
                Value::Array(
                    bytes
                        .iter()
                        .map(|&b| Value::Int32(i32::from(b as i8)))
                        .collect(),
                )
            }
        },
        PgColumnType::Array(P::Uuid) => {
            Value::Array(vec![Value::String(name_uuid_from_bytes(bytes))])
        }
        PgColumnType::Array(_) => Value::Null,
    }
}

fn binary_placeholder(bytes: &[u8], text: &str, mode: BinaryHandlingMode) -> Value {
    match mode {
        BinaryHandlingMode::Bytes => Value::Bytes(bytes.to_vec()),
        BinaryHandlingMode::Hex => Value::String(text.to_owned()),
        BinaryHandlingMode::Base64 | BinaryHandlingMode::Base64UrlSafe => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debezium::column::PgColumnType::{Array, Scalar};

    fn placeholder(pg_type: PgColumnType, modes: &ValueModes) -> Value {
        unchanged_toast_value(&ColumnDescription::new("c", pg_type, "t", -1), modes)
    }

    #[test]
    fn shapes() {
        let modes = ValueModes::default();
        let p = "__debezium_unavailable_value";
        assert_eq!(placeholder(Scalar(PgScalar::Text), &modes), Value::from(p));
        assert_eq!(
            placeholder(Scalar(PgScalar::Hstore), &modes),
            Value::from(format!("{{\"{p}\":\"{p}\"}}"))
        );
        assert_eq!(
            placeholder(Array(PgScalar::Int4), &modes),
            Value::Array(p.bytes().map(|b| Value::Int32(i32::from(b))).collect())
        );
        assert_eq!(placeholder(Array(PgScalar::Float8), &modes), Value::Null);
        assert_eq!(placeholder(Scalar(PgScalar::Numeric), &modes), Value::Null);
        let hex = ValueModes {
            binary: BinaryHandlingMode::Hex,
            ..ValueModes::default()
        };
        assert_eq!(placeholder(Scalar(PgScalar::Bytea), &hex), Value::from(p));
        assert_eq!(placeholder(Array(PgScalar::Bytea), &hex), Value::Null);
    }
}
