//! Kafka's JsonConverter with `schemas.enable=true`, read back: a record is
//! `{"schema": <Connect schema>, "payload": <value>}`, and the schema says how to read
//! the payload (base64 BYTES, `"NaN"` floats, maps as objects or `[key, value]` pairs).
//! Schemas repeat on every record of a table, so parsed schemas are cached by their
//! text.

use std::collections::HashMap;
use std::sync::Arc;

use pgcdc_schemas::connect::{Field, Schema, SchemaKind, SchemaType, Value};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

/// How many distinct schemas are kept parsed before the cache starts over.
const SCHEMA_CACHE_LIMIT: usize = 4096;

#[derive(Debug, Default)]
pub struct JsonDecoder {
    schemas: HashMap<Box<str>, Arc<Schema>>,
    /// The last record's schema text and schema. JsonConverter writes every record
    /// of a table as `{"schema":<the same text>,"payload":…}`, so a record that
    /// starts with that text needs only its payload read: the schema (most of the
    /// record's bytes) is neither scanned nor hashed again.
    last: Option<(Box<[u8]>, Arc<Schema>)>,
}

/// What JsonConverter writes around the schema text and the payload.
const BEFORE_SCHEMA: &[u8] = b"{\"schema\":";
const BEFORE_PAYLOAD: &[u8] = b",\"payload\":";

#[derive(Deserialize)]
struct Enveloped<'a> {
    /// `None` when absent, `Some(None)` for `"schema": null`.
    #[serde(borrow, default, deserialize_with = "present")]
    schema: Option<Option<&'a RawValue>>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<&'de RawValue>>, D::Error> {
    Option::<&'de RawValue>::deserialize(deserializer).map(Some)
}

/// A schema as JsonConverter writes it; `parameters` keep their order.
#[derive(Deserialize)]
struct JsonSchema {
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    fields: Option<Vec<JsonSchema>>,
    #[serde(default)]
    items: Option<Box<JsonSchema>>,
    #[serde(default)]
    keys: Option<Box<JsonSchema>>,
    #[serde(default)]
    values: Option<Box<JsonSchema>>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<i32>,
    #[serde(default)]
    doc: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
    #[serde(default)]
    default: Option<Json>,
    /// A struct field's name.
    #[serde(default)]
    field: Option<String>,
}

/// An object of strings, in document order.
struct Parameters(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Parameters;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Parameters, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Json>()? {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    entries.push((key, text));
                }
                Ok(Parameters(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl JsonDecoder {
    /// The schema and value of one record's key or value bytes; `None` for a JSON
    /// `null` schema (JsonConverter's null record).
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Option<(Arc<Schema>, Value)>, String> {
        if let Some(decoded) = self.decode_with_last_schema(bytes) {
            return decoded.map(Some);
        }
        let enveloped: Enveloped<'_> = serde_json::from_slice(bytes).map_err(|e| {
            format!("not JsonConverter output with schemas.enable=true ({{\"schema\":…,\"payload\":…}}): {e}")
        })?;
        let (Some(schema_text), payload) = (enveloped.schema, enveloped.payload) else {
            return Err(
                "the record has no \"schema\": JsonConverter with schemas.enable=true is required"
                    .to_owned(),
            );
        };
        let Some(schema_text) = schema_text else {
            return Ok(None);
        };
        let schema = self.schema(schema_text.get())?;
        self.last = Some((schema_text.get().as_bytes().into(), Arc::clone(&schema)));
        let payload: Json = match payload {
            Some(raw) => serde_json::from_str(raw.get()).map_err(|e| e.to_string())?,
            None => Json::Null,
        };
        let value = value_from_json(&schema, &payload, "payload")?;
        Ok(Some((schema, value)))
    }

    /// The record read with the last record's schema, when it is written exactly as
    /// JsonConverter writes it with that schema text; `None` sends it the long way
    /// (which also reports what is wrong with a malformed record).
    fn decode_with_last_schema(
        &self,
        bytes: &[u8],
    ) -> Option<Result<(Arc<Schema>, Value), String>> {
        let (text, schema) = self.last.as_ref()?;
        let payload = bytes
            .strip_prefix(BEFORE_SCHEMA)?
            .strip_prefix(&text[..])?
            .strip_prefix(BEFORE_PAYLOAD)?
            .strip_suffix(b"}")?;
        // The whole of `payload` must be one JSON value for the record to be the
        // object `{"schema":…,"payload":…}`.
        let value = match super::payload::read(schema, payload) {
            Some(value) => Ok(value),
            // Says why (or, not being JSON, goes the long way).
            None => value_from_json(schema, &serde_json::from_slice(payload).ok()?, "payload"),
        };
        Some(value.map(|value| (Arc::clone(schema), value)))
    }

    fn schema(&mut self, text: &str) -> Result<Arc<Schema>, String> {
        if let Some(schema) = self.schemas.get(text) {
            return Ok(Arc::clone(schema));
        }
        let json: JsonSchema = serde_json::from_str(text).map_err(|e| format!("schema: {e}"))?;
        let schema = Arc::new(convert_schema(json, "schema")?);
        if self.schemas.len() >= SCHEMA_CACHE_LIMIT {
            self.schemas.clear();
        }
        self.schemas.insert(text.into(), Arc::clone(&schema));
        Ok(schema)
    }
}

/// A Connect schema from JsonConverter's JSON form.
pub fn schema_from_json(text: &str) -> Result<Schema, String> {
    let json: JsonSchema = serde_json::from_str(text).map_err(|e| format!("schema: {e}"))?;
    convert_schema(json, "schema")
}

fn convert_schema(json: JsonSchema, path: &str) -> Result<Schema, String> {
    let inner = |schema: Option<Box<JsonSchema>>, member: &str| -> Result<Schema, String> {
        let schema = schema
            .ok_or_else(|| format!("{path}: a {} schema without {member:?}", json.type_name))?;
        convert_schema(*schema, &format!("{path}.{member}"))
    };
    let mut schema = match json.type_name.as_str() {
        "int8" => Schema::int8(),
        "int16" => Schema::int16(),
        "int32" => Schema::int32(),
        "int64" => Schema::int64(),
        "float" => Schema::float32(),
        "double" => Schema::float64(),
        "boolean" => Schema::boolean(),
        "string" => Schema::string(),
        "bytes" => Schema::bytes(),
        "array" => Schema::array(inner(json.items, "items")?),
        "map" => {
            let keys = inner(json.keys, "keys")?;
            Schema::map(keys, inner(json.values, "values")?)
        }
        "struct" => {
            let fields = json
                .fields
                .ok_or_else(|| format!("{path}: a struct schema without \"fields\""))?
                .into_iter()
                .map(|mut field| {
                    let name = field
                        .field
                        .take()
                        .ok_or_else(|| format!("{path}: a struct field without \"field\""))?;
                    let schema = convert_schema(field, &format!("{path}.{name}"))?;
                    Ok(Field::new(name, schema))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Schema::structure(fields)
        }
        other => return Err(format!("{path}: unknown schema type {other:?}")),
    };
    schema.optional = json.optional;
    schema.name = json.name;
    schema.version = json.version;
    schema.doc = json.doc;
    schema.parameters = json.parameters.map(|p| p.0).unwrap_or_default();
    if let Some(default) = json.default {
        let value = value_from_json(&schema, &default, &format!("{path}.default"))?;
        if !value.is_null() {
            schema.default = Some(value);
        }
    }
    Ok(schema)
}

/// A payload read with its schema; `path` names it in errors.
pub fn value_from_json(schema: &Schema, json: &Json, path: &str) -> Result<Value, String> {
    value_at(schema, json, &Path::Root(path))
}

/// Where a value sits in a payload: written out only for an error, so that reading a
/// struct's fields builds no text.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(root) => f.write_str(root),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

fn value_at(schema: &Schema, json: &Json, path: &Path<'_>) -> Result<Value, String> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let mismatch = || {
        format!(
            "{path}: {json} does not fit the schema's {}",
            schema.schema_type()
        )
    };
    let integer = |min: i64, max: i64| -> Result<i64, String> {
        json.as_i64()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(mismatch)
    };
    Ok(match &schema.kind {
        SchemaKind::Int8 => Value::Int8(integer(i8::MIN.into(), i8::MAX.into())? as i8),
        SchemaKind::Int16 => Value::Int16(integer(i16::MIN.into(), i16::MAX.into())? as i16),
        SchemaKind::Int32 => Value::Int32(integer(i32::MIN.into(), i32::MAX.into())? as i32),
        SchemaKind::Int64 => Value::Int64(json.as_i64().ok_or_else(mismatch)?),
        SchemaKind::Float32 => Value::Float32(float(json).ok_or_else(mismatch)? as f32),
        SchemaKind::Float64 => Value::Float64(float(json).ok_or_else(mismatch)?),
        SchemaKind::Boolean => Value::Boolean(json.as_bool().ok_or_else(mismatch)?),
        SchemaKind::String => Value::String(json.as_str().ok_or_else(mismatch)?.to_owned()),
        SchemaKind::Bytes => {
            let text = json.as_str().ok_or_else(mismatch)?;
            Value::Bytes(
                pgcdc_schemas::encoding::base64_decode(text)
                    .ok_or_else(|| format!("{path}: {json} is not base64"))?,
            )
        }
        SchemaKind::Array(items) => Value::Array(
            json.as_array()
                .ok_or_else(mismatch)?
                .iter()
                .map(|item| value_at(items, item, path))
                .collect::<Result<_, _>>()?,
        ),
        SchemaKind::Map { keys, values } => {
            if keys.schema_type() == SchemaType::String {
                let object = json.as_object().ok_or_else(mismatch)?;
                Value::Map(
                    object
                        .iter()
                        .map(|(k, v)| Ok((Value::String(k.clone()), value_at(values, v, path)?)))
                        .collect::<Result<_, String>>()?,
                )
            } else {
                let pairs = json.as_array().ok_or_else(mismatch)?;
                Value::Map(
                    pairs
                        .iter()
                        .map(|pair| match pair.as_array().map(Vec::as_slice) {
                            Some([k, v]) => {
                                Ok((value_at(keys, k, path)?, value_at(values, v, path)?))
                            }
                            _ => Err(format!(
                                "{path}: map entry {pair} is not a [key, value] pair"
                            )),
                        })
                        .collect::<Result<_, String>>()?,
                )
            }
        }
        SchemaKind::Struct(fields) => {
            let object = json.as_object().ok_or_else(mismatch)?;
            Value::Struct(
                fields
                    .iter()
                    .map(|field| match object.get(&field.name) {
                        Some(v) => value_at(&field.schema, v, &Path::Field(path, &field.name)),
                        None => Ok(Value::Null),
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// A JSON number, or Jackson's `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn float(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgcdc_schemas::json::JsonConverter;

    /// Whatever JsonConverter writes reads back as the same schema and value.
    #[test]
    fn reads_what_the_converter_writes() {
        let schema = Schema::structure(vec![
            Field::new("id", Schema::int32()),
            Field::new("small", Schema::int16().optional()),
            Field::new("f", Schema::float32().optional()),
            Field::new("d", Schema::float64()),
            Field::new(
                "amount",
                Schema::bytes()
                    .named("org.apache.kafka.connect.data.Decimal")
                    .versioned(1)
                    .with_parameter("scale", "2")
                    .with_parameter("connect.decimal.precision", "10")
                    .optional(),
            ),
            Field::new(
                "tags",
                Schema::array(Schema::string().optional()).optional(),
            ),
            Field::new(
                "attrs",
                Schema::map(Schema::string(), Schema::string().optional()).optional(),
            ),
            Field::new(
                "pairs",
                Schema::map(Schema::int32(), Schema::boolean()).optional(),
            ),
            Field::new(
                "note",
                Schema::string().optional().with_default(Value::from("n/a")),
            ),
        ])
        .named("shop.public.t.Value")
        .optional();
        let value = Value::Struct(vec![
            Value::Int32(7),
            Value::Null,
            Value::Float32(1.5),
            Value::Float64(f64::NEG_INFINITY),
            Value::Bytes(vec![0x05, 0xdc]),
            Value::Array(vec![Value::from("a"), Value::Null]),
            Value::Map(vec![(Value::from("k"), Value::from("v"))]),
            Value::Map(vec![(Value::Int32(1), Value::Boolean(true))]),
            Value::from("text"),
        ]);
        let bytes = JsonConverter::default()
            .from_connect_data(Some(&schema), &value)
            .expect("converts")
            .expect("not null");
        let mut decoder = JsonDecoder::default();
        let (read_schema, read_value) = decoder.decode(&bytes).expect("decodes").expect("some");
        assert_eq!(*read_schema, schema);
        assert_eq!(read_value, value);
        // The second record with the same schema comes from the cache.
        let (again, _) = decoder.decode(&bytes).expect("decodes").expect("some");
        assert!(Arc::ptr_eq(&again, &read_schema));
    }

    /// A record written with the last record's schema text reads as a fresh decoder
    /// reads it, whether its payload is fine, malformed, or followed by more keys.
    #[test]
    fn records_with_the_last_schema_read_as_any_other() {
        let schema = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"s"}],"optional":false}"#;
        let record = |payload: &str| format!(r#"{{"schema":{schema},"payload":{payload}}}"#);
        let mut warm = JsonDecoder::default();
        warm.decode(record(r#"{"id":1,"s":"a"}"#).as_bytes())
            .expect("decodes");
        assert!(warm.last.is_some());
        for bytes in [
            record(r#"{"id":2,"s":null}"#),
            record(r#"{"id":3}"#),
            record("null"),
            record(r#"{"id":"x"}"#),
            record(r#"{"id":4"#),
            record(r#"{"id":5} "#),
            format!(r#"{{"schema":{schema},"payload":{{"id":6}},"extra":1}}"#),
            format!(r#"{{"schema":{schema},"payload":{{"id":7}}}} "#),
            format!(r#"{{"schema":{schema},"payload":{{"id":8}}}}}}"#),
            format!(r#"{{"schema":{schema} ,"payload":{{"id":9}}}}"#),
        ] {
            let fresh = JsonDecoder::default().decode(bytes.as_bytes());
            let read = warm.decode(bytes.as_bytes());
            match (&read, &fresh) {
                (Ok(Some((a, x))), Ok(Some((b, y)))) => {
                    assert_eq!((a.as_ref(), x), (b.as_ref(), y), "{bytes}")
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{bytes}: read {read:?}, a fresh decoder {fresh:?}"),
            }
        }
        // The first records fit the schema, the id "x" does not.
        assert!(warm.decode(record(r#"{"id":"x"}"#).as_bytes()).is_err());
        assert!(matches!(
            warm.decode(record(r#"{"id":2}"#).as_bytes()),
            Ok(Some((_, Value::Struct(v)))) if v == [Value::Int32(2), Value::Null]
        ));
    }

    #[test]
    fn nan_and_errors() {
        let mut decoder = JsonDecoder::default();
        let (_, v) = decoder
            .decode(br#"{"schema":{"type":"double","optional":false},"payload":"NaN"}"#)
            .expect("decodes")
            .expect("some");
        assert!(matches!(v, Value::Float64(f) if f.is_nan()));
        assert!(decoder
            .decode(br#"{"id":1}"#)
            .unwrap_err()
            .contains("schemas.enable=true"));
        assert!(decoder
            .decode(br#"{"schema":{"type":"int16","optional":false},"payload":70000}"#)
            .unwrap_err()
            .contains("does not fit"));
        assert_eq!(
            decoder
                .decode(br#"{"schema":null,"payload":null}"#)
                .expect("decodes"),
            None
        );
    }
}
