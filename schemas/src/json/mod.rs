//! Kafka's `org.apache.kafka.connect.json.JsonConverter`, byte for byte.
//!
//! With `schemas.enable=true` (the default) a record is the envelope
//! `{"schema":<schema>,"payload":<value>}`; with `false`, only the payload. Output is
//! compact (no whitespace), object members in Connect order:
//!
//! - a schema is `type`, then `fields` (each field's schema followed by its `"field"`
//!   name) / `items` / `keys` and `values`, then `optional`, `name`, `version`, `doc`,
//!   `parameters` and `default`, each only when set;
//! - a struct is its fields in schema order; a map with STRING keys is an object, any
//!   other map an array of `[key, value]` pairs;
//! - BYTES (and Connect `Decimal`, with the default `decimal.format=BASE64`) are
//!   standard base64 strings;
//! - FLOAT32/FLOAT64 are written as Java's `Float.toString`/`Double.toString` print
//!   them ([`java_number`]), NaN and the infinities as the strings `"NaN"`,
//!   `"Infinity"`, `"-Infinity"`;
//! - strings are escaped as Jackson does ([`escape`]), including `\uD83C\uDF89`
//!   surrogate escapes for characters outside the BMP;
//! - a null whose schema has a default is written as the default
//!   (`replace.null.with.default=true`, Kafka's default): Debezium's key-only `before`
//!   image of a delete shows it (`c_text` of `defaults.json`).
//!
//! A Kafka record with a null value (a tombstone) or a null key has no bytes at all;
//! [`JsonConverter::from_connect_data`] returns `None` for it.
//!
//! Speed (measured by `schemas/benches/avro.rs`, `bench/run encode`): a change event
//! is a few dozen short strings and numbers, so the cost is per value, not per byte.
//! Records are written straight into the `Vec<u8>` that becomes the Kafka record
//! (no `String` UTF-8 bookkeeping for digits and punctuation); strings that need no
//! escape, nearly all of them, are recognised eight bytes at a time and copied whole
//! ([`escape`]); integers and the common doubles are formatted without `core::fmt`
//! ([`java_number`]). The schema part of a record with `schemas.enable` is several
//! times the payload: the connector writes it once per schema version and uses
//! [`JsonConverter::record_with_schema_json`].

pub mod escape;
pub mod java_number;

use crate::connect::{Schema, SchemaKind, SchemaType, Value};
use crate::encoding::{self, TextSink};
use escape::{write_json_string, Supplementary};

/// The JsonConverter settings that change bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonConverter {
    /// `schemas.enable`.
    pub schemas_enable: bool,
    /// `replace.null.with.default`.
    pub replace_null_with_default: bool,
}

impl Default for JsonConverter {
    fn default() -> Self {
        JsonConverter {
            schemas_enable: true,
            replace_null_with_default: true,
        }
    }
}

/// A value that does not fit its schema: the same cases Kafka's converter rejects with
/// a `DataException`. They mean a bug in whoever built the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("null value for {path}, which is required and has no default")]
    RequiredNull { path: String },
    #[error("{path}: a {found} value where the schema wants {expected}")]
    TypeMismatch {
        path: String,
        expected: SchemaType,
        found: &'static str,
    },
    #[error("{path}: the struct has {found} values for {expected} fields")]
    FieldCount {
        path: String,
        expected: usize,
        found: usize,
    },
}

impl JsonConverter {
    /// The record bytes for `value` written with `schema`; `None` for a null record
    /// (tombstone value, or the absent key of a truncate event).
    pub fn from_connect_data(
        &self,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        // Kafka returns null only for a null schema with a null value; Debezium sends
        // tombstones and key-less records that way.
        let Some(schema) = schema else {
            return Ok(None);
        };
        // A change event's schema alone is a few kilobytes, its payload a few hundred
        // bytes: start big enough that a typical record grows the buffer at most once.
        let mut out = Vec::with_capacity(if self.schemas_enable { 2048 } else { 512 });
        if self.schemas_enable {
            out.push_str("{\"schema\":");
            self.write_schema(schema, &mut out)?;
            out.push_str(",\"payload\":");
            self.write_value(schema, value, "payload", &mut out)?;
            out.push(b'}');
        } else {
            self.write_value(schema, value, "payload", &mut out)?;
        }
        Ok(Some(out))
    }

    /// [`JsonConverter::from_connect_data`] for a record whose schema's JSON
    /// ([`JsonConverter::schema_to_json`]) the caller computed once: the same bytes,
    /// without writing the schema again for every record.
    pub fn record_with_schema_json(
        &self,
        schema: &Schema,
        schema_json: &str,
        value: &Value,
    ) -> Result<Vec<u8>, ConvertError> {
        let mut out = Vec::with_capacity(schema_json.len() + 1024);
        if self.schemas_enable {
            out.push_str("{\"schema\":");
            extend_in_pieces(&mut out, schema_json.as_bytes());
            out.push_str(",\"payload\":");
            self.write_value(schema, value, "payload", &mut out)?;
            out.push(b'}');
        } else {
            self.write_value(schema, value, "payload", &mut out)?;
        }
        Ok(out)
    }

    /// A schema as JsonConverter's `asJsonSchema` writes it.
    pub fn schema_to_json(&self, schema: &Schema) -> Result<String, ConvertError> {
        let mut out = String::with_capacity(1024);
        self.write_schema(schema, &mut out)?;
        Ok(out)
    }

    /// A value as JsonConverter's `convertToJson` writes it.
    pub fn value_to_json(&self, schema: &Schema, value: &Value) -> Result<String, ConvertError> {
        let mut out = String::new();
        self.write_value(schema, value, "value", &mut out)?;
        Ok(out)
    }

    fn write_schema(&self, schema: &Schema, out: &mut impl TextSink) -> Result<(), ConvertError> {
        self.write_schema_members(schema, out)?;
        out.push_ascii_byte(b'}');
        Ok(())
    }

    /// A schema's object without its closing brace: a struct's field appends its
    /// `"field"` name last, inside its schema's object.
    fn write_schema_members(
        &self,
        schema: &Schema,
        out: &mut impl TextSink,
    ) -> Result<(), ConvertError> {
        out.push_str("{\"type\":\"");
        out.push_str(schema.schema_type().json_name());
        out.push_ascii_byte(b'"');
        match &schema.kind {
            SchemaKind::Array(items) => {
                out.push_str(",\"items\":");
                self.write_schema(items, out)?;
            }
            SchemaKind::Map { keys, values } => {
                out.push_str(",\"keys\":");
                self.write_schema(keys, out)?;
                out.push_str(",\"values\":");
                self.write_schema(values, out)?;
            }
            SchemaKind::Struct(fields) => {
                out.push_str(",\"fields\":[");
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_ascii_byte(b',');
                    }
                    self.write_schema_members(&field.schema, out)?;
                    out.push_str(",\"field\":");
                    write_json_string(&field.name, Supplementary::EscapeSurrogates, out);
                    out.push_ascii_byte(b'}');
                }
                out.push_ascii_byte(b']');
            }
            _ => {}
        }
        out.push_str(if schema.optional {
            ",\"optional\":true"
        } else {
            ",\"optional\":false"
        });
        if let Some(name) = &schema.name {
            out.push_str(",\"name\":");
            write_json_string(name, Supplementary::EscapeSurrogates, out);
        }
        if let Some(version) = schema.version {
            out.push_str(",\"version\":");
            java_number::write_long(i64::from(version), out);
        }
        if let Some(doc) = &schema.doc {
            out.push_str(",\"doc\":");
            write_json_string(doc, Supplementary::EscapeSurrogates, out);
        }
        if !schema.parameters.is_empty() {
            out.push_str(",\"parameters\":{");
            for (i, (key, value)) in schema.parameters.iter().enumerate() {
                if i > 0 {
                    out.push_ascii_byte(b',');
                }
                write_json_string(key, Supplementary::EscapeSurrogates, out);
                out.push_ascii_byte(b':');
                write_json_string(value, Supplementary::EscapeSurrogates, out);
            }
            out.push_ascii_byte(b'}');
        }
        if let Some(default) = &schema.default {
            out.push_str(",\"default\":");
            self.write_value(schema, default, "default", out)?;
        }
        Ok(())
    }

    fn write_value(
        &self,
        schema: &Schema,
        value: &Value,
        path: &str,
        out: &mut impl TextSink,
    ) -> Result<(), ConvertError> {
        self.write_at(schema, value, &ValuePath::Root(path), out)
    }

    fn write_at<O: TextSink>(
        &self,
        schema: &Schema,
        value: &Value,
        path: &ValuePath<'_>,
        out: &mut O,
    ) -> Result<(), ConvertError> {
        if value.is_null() {
            if let (true, Some(default)) = (self.replace_null_with_default, &schema.default) {
                return self.write_at(schema, default, path, out);
            }
            if schema.optional {
                out.push_str("null");
                return Ok(());
            }
            return Err(ConvertError::RequiredNull {
                path: path.render(),
            });
        }
        let mismatch = || ConvertError::TypeMismatch {
            path: path.render(),
            expected: schema.schema_type(),
            found: variant_name(value),
        };
        match (&schema.kind, value) {
            // Numbers are formatted straight into the output: no allocation per value.
            (SchemaKind::Int8, Value::Int8(v)) => java_number::write_long(i64::from(*v), out),
            (SchemaKind::Int16, Value::Int16(v)) => java_number::write_long(i64::from(*v), out),
            (SchemaKind::Int32, Value::Int32(v)) => java_number::write_long(i64::from(*v), out),
            (SchemaKind::Int64, Value::Int64(v)) => java_number::write_long(*v, out),
            (SchemaKind::Float32, Value::Float32(v)) => match non_finite(f64::from(*v)) {
                Some(text) => out.push_str(text),
                None => java_number::write_float(*v, out),
            },
            (SchemaKind::Float64, Value::Float64(v)) => match non_finite(*v) {
                Some(text) => out.push_str(text),
                None => java_number::write_double(*v, out),
            },
            (SchemaKind::Boolean, Value::Boolean(v)) => {
                out.push_str(if *v { "true" } else { "false" })
            }
            (SchemaKind::String, Value::String(v)) => {
                write_json_string(v, Supplementary::EscapeSurrogates, out)
            }
            (SchemaKind::Bytes, Value::Bytes(v)) => {
                out.push_ascii_byte(b'"');
                encoding::base64_into(v, out);
                out.push_ascii_byte(b'"');
            }
            (SchemaKind::Array(items), Value::Array(values)) => {
                out.push_ascii_byte(b'[');
                for (i, item) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_ascii_byte(b',');
                    }
                    self.write_at(items, item, path, out)?;
                }
                out.push_ascii_byte(b']');
            }
            (SchemaKind::Map { keys, values }, Value::Map(entries)) => {
                let object = keys.schema_type() == SchemaType::String;
                out.push_ascii_byte(if object { b'{' } else { b'[' });
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_ascii_byte(b',');
                    }
                    if object {
                        self.write_at(keys, key, path, out)?;
                        out.push_ascii_byte(b':');
                        self.write_at(values, value, path, out)?;
                    } else {
                        out.push_ascii_byte(b'[');
                        self.write_at(keys, key, path, out)?;
                        out.push_ascii_byte(b',');
                        self.write_at(values, value, path, out)?;
                        out.push_ascii_byte(b']');
                    }
                }
                out.push_ascii_byte(if object { b'}' } else { b']' });
            }
            (SchemaKind::Struct(fields), Value::Struct(values)) => {
                if fields.len() != values.len() {
                    return Err(ConvertError::FieldCount {
                        path: path.render(),
                        expected: fields.len(),
                        found: values.len(),
                    });
                }
                out.push_ascii_byte(b'{');
                for (i, (field, value)) in fields.iter().zip(values).enumerate() {
                    if i > 0 {
                        out.push_ascii_byte(b',');
                    }
                    write_json_string(&field.name, Supplementary::EscapeSurrogates, out);
                    out.push_ascii_byte(b':');
                    // The path is only rendered for an error message.
                    let field_path = ValuePath::Field(path, &field.name);
                    self.write_at(&field.schema, value, &field_path, out)?;
                }
                out.push_ascii_byte(b'}');
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }
}

/// Appends `bytes` 1 KiB at a time. glibc (2.36, Debian 12's) copies 2 KiB and more
/// with `rep movsb`, which AMD Zen CPUs run some 25 times slower when the destination
/// lies within 16 bytes of the source modulo 4 KiB; once the allocator hands out such
/// a buffer it tends to hand out the same one for every record. Shorter copies use
/// vector moves, which do not care: on the project's VM a 3.2 KB schema copies in
/// about 70 ns in pieces at any offset, and in 70 ns or 1.7 µs whole.
fn extend_in_pieces(out: &mut Vec<u8>, bytes: &[u8]) {
    for piece in bytes.chunks(1024) {
        out.extend_from_slice(piece);
    }
}

/// Where in a record a value is, for error messages; rendered only on error.
enum ValuePath<'a> {
    Root(&'a str),
    Field(&'a ValuePath<'a>, &'a str),
}

impl ValuePath<'_> {
    fn render(&self) -> String {
        match self {
            ValuePath::Root(name) => (*name).to_owned(),
            ValuePath::Field(parent, name) => format!("{}.{name}", parent.render()),
        }
    }
}

/// NaN and the infinities as Jackson writes them with WRITE_NAN_AS_STRINGS (on by
/// default); `None` for a finite number. A float widens to the same class.
fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("\"NaN\"")
    } else if v == f64::NEG_INFINITY {
        Some("\"-Infinity\"")
    } else if v == f64::INFINITY {
        Some("\"Infinity\"")
    } else {
        None
    }
}

fn variant_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int8(_) => "int8",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::Field;

    fn json(schema: &Schema, value: &Value) -> String {
        JsonConverter::default()
            .value_to_json(schema, value)
            .expect("converts")
    }

    #[test]
    fn schema_member_order() {
        let schema = Schema::structure(vec![
            Field::new("id", Schema::int32()),
            Field::new(
                "amount",
                Schema::bytes()
                    .named("org.apache.kafka.connect.data.Decimal")
                    .versioned(1)
                    .with_parameter("scale", "3")
                    .with_default(Value::Bytes(vec![0x05, 0xdc]))
                    .optional(),
            ),
        ])
        .named("fx.public.t.Value")
        .optional();
        assert_eq!(
            JsonConverter::default()
                .schema_to_json(&schema)
                .expect("schema"),
            concat!(
                r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},"#,
                r#"{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","#,
                r#""version":1,"parameters":{"scale":"3"},"default":"Bdw=","field":"amount"}],"#,
                r#""optional":true,"name":"fx.public.t.Value"}"#
            )
        );
    }

    #[test]
    fn a_cached_schema_gives_the_same_record_bytes() {
        let schema = Schema::structure(vec![
            Field::new("id", Schema::int64()),
            Field::new("name", Schema::string().optional()),
            Field::new("tags", Schema::array(Schema::string()).optional()),
        ])
        .named("fx.public.t.Value");
        let value = Value::Struct(vec![
            Value::Int64(-9_223_372_036_854_775_808),
            Value::from("a \"quoted\" näme"),
            Value::Array(vec![Value::from("x")]),
        ]);
        for converter in [
            JsonConverter::default(),
            JsonConverter {
                schemas_enable: false,
                ..JsonConverter::default()
            },
        ] {
            let schema_json = converter.schema_to_json(&schema).expect("schema");
            assert_eq!(
                converter
                    .record_with_schema_json(&schema, &schema_json, &value)
                    .expect("cached"),
                converter
                    .from_connect_data(Some(&schema), &value)
                    .expect("converts")
                    .expect("bytes")
            );
        }
    }

    #[test]
    fn nulls_defaults_and_errors() {
        let with_default = Schema::string()
            .optional()
            .with_default(Value::from("hello"));
        assert_eq!(json(&with_default, &Value::Null), "\"hello\"");
        let keep_null = JsonConverter {
            replace_null_with_default: false,
            ..JsonConverter::default()
        };
        assert_eq!(
            keep_null.value_to_json(&with_default, &Value::Null),
            Ok("null".to_owned())
        );
        assert!(matches!(
            JsonConverter::default().value_to_json(&Schema::int32(), &Value::Null),
            Err(ConvertError::RequiredNull { .. })
        ));
        assert!(matches!(
            JsonConverter::default().value_to_json(&Schema::int32(), &Value::Int64(1)),
            Err(ConvertError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn numbers_and_maps() {
        let doubles = Schema::array(Schema::float64().optional());
        assert_eq!(
            json(
                &doubles,
                &Value::Array(vec![
                    Value::Float64(f64::NAN),
                    Value::Float64(f64::NEG_INFINITY),
                    Value::Float64(1e300),
                    Value::Null
                ])
            ),
            r#"["NaN","-Infinity",1.0E300,null]"#
        );
        let string_map = Schema::map(Schema::string(), Schema::string().optional());
        assert_eq!(
            json(
                &string_map,
                &Value::Map(vec![
                    (Value::from("b"), Value::Null),
                    (Value::from("a"), Value::from("1"))
                ])
            ),
            r#"{"b":null,"a":"1"}"#
        );
        let int_map = Schema::map(Schema::int16(), Schema::float64());
        assert_eq!(
            json(
                &int_map,
                &Value::Map(vec![(Value::Int16(1), Value::Float64(0.5))])
            ),
            "[[1,0.5]]"
        );
    }

    #[test]
    fn records_and_tombstones() {
        let converter = JsonConverter::default();
        let schema = Schema::structure(vec![Field::new("id", Schema::int32())]).named("k");
        let value = Value::Struct(vec![Value::Int32(7)]);
        assert_eq!(
            converter.from_connect_data(Some(&schema), &value),
            Ok(Some(
                br#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"k"},"payload":{"id":7}}"#.to_vec()
            ))
        );
        let plain = JsonConverter {
            schemas_enable: false,
            ..converter
        };
        assert_eq!(
            plain.from_connect_data(Some(&schema), &value),
            Ok(Some(br#"{"id":7}"#.to_vec()))
        );
        assert_eq!(converter.from_connect_data(None, &Value::Null), Ok(None));
    }
}
