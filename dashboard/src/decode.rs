//! Record bytes → the change an aggregation sees: `op`, the `before` and `after` row
//! images as JSON objects, and the source commit time.
//!
//! Both converters a connector may be configured with are read: JsonConverter with or
//! without schemas, and Confluent's Avro wire format (schemas fetched by id from the
//! registry and kept). Decimals are turned into decimal text wherever the record
//! says they are decimals — the Connect `Decimal` logical type (base64 in JSON, Avro
//! `bytes` with `logicalType: decimal`) and Debezium's `VariableScaleDecimal` — as
//! exact decimal text, so `sum(amount)` works in every `decimal.handling.mode`. A record without schemas
//! (JsonConverter with `schemas.enable=false` and `decimal.handling.mode=precise`)
//! carries no scale; such a decimal stays a base64 string and an aggregate over it
//! reports the record as malformed.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use pgcdc_schemas::avro::{
    decode_datum, parse::parse_schema, wire, AvroConverterConfig, AvroKind, AvroSchema, AvroValue,
    RegistryClient, SchemaId,
};
use pgcdc_schemas::encoding::base64_decode;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::change::{Change, Op};

/// What one record is to the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Change(Change),
    /// A tombstone (null value) following a delete: nothing to aggregate.
    Tombstone,
}

/// Decodes records, keeping the Avro schemas it read by id and the JsonConverter
/// schemas it parsed.
#[derive(Debug)]
pub struct RecordDecoder {
    /// The registry client caches schema texts by id; parsed schemas are kept here.
    registry: Option<RegistryClient>,
    schemas: HashMap<SchemaId, ReaderSchema>,
    json_schemas: JsonSchemas,
}

/// JsonConverter with `schemas.enable=true` repeats the same schema in every record:
/// about 2.6 KB of a page view's 3 KB, and most of the time spent decoding it. A
/// schema is parsed once per distinct text; a record whose schema text is known is
/// only checked to be the same bytes.
#[derive(Debug, Default)]
struct JsonSchemas {
    /// Schema text → the schema, oldest first.
    known: Vec<(Box<str>, KnownSchema)>,
}

/// A JsonConverter envelope schema, parsed, with what decoding its records needs.
#[derive(Debug)]
struct KnownSchema {
    schema: Value,
    /// The schemas of the `before` and `after` fields, when they hold decimals to
    /// rewrite (`None`: nothing to do).
    before: Option<Value>,
    after: Option<Value>,
    /// Decimals outside `before` and `after` (not a Debezium envelope): such records
    /// are rewritten whole, by [`apply_connect_schema`].
    decimals_elsewhere: bool,
}

impl KnownSchema {
    fn new(schema: Value) -> KnownSchema {
        let image = |name: &str| {
            field_schema(&schema, name)
                .filter(|s| has_decimals(s))
                .cloned()
        };
        let (before, after) = (image("before"), image("after"));
        let decimals_elsewhere = schema
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| {
                !matches!(
                    f.get("field").and_then(Value::as_str),
                    Some("before" | "after")
                )
            })
            .any(has_decimals);
        KnownSchema {
            schema,
            before,
            after,
            decimals_elsewhere,
        }
    }
}

/// The schema of a struct's field.
fn field_schema<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema
        .get("fields")?
        .as_array()?
        .iter()
        .find(|f| f.get("field").and_then(Value::as_str) == Some(name))
}

/// Whether [`apply_connect_schema`] would rewrite anything under this schema.
fn has_decimals(schema: &Value) -> bool {
    matches!(
        schema.get("name").and_then(Value::as_str),
        Some("org.apache.kafka.connect.data.Decimal" | "io.debezium.data.VariableScaleDecimal")
    ) || schema
        .get("fields")
        .and_then(Value::as_array)
        .is_some_and(|fields| fields.iter().any(has_decimals))
}

/// The parts of a change envelope the dashboard reads, for the fast path: anything
/// this does not describe exactly (a missing `op`, a row that is not an object, a
/// commit time that is not an integer) makes the record take the whole-value path,
/// which reports the problem.
#[derive(Deserialize)]
struct TypedEnvelope {
    op: String,
    #[serde(default)]
    before: Option<crate::change::Row>,
    #[serde(default)]
    after: Option<crate::change::Row>,
    #[serde(default)]
    source: Option<TypedSource>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

#[derive(Deserialize)]
struct TypedSource {
    #[serde(default)]
    ts_ms: Option<i64>,
}

/// Distinct schemas kept: a few per topic (one per table version) is the usual case;
/// past this the oldest is dropped.
const JSON_SCHEMAS_KEPT: usize = 64;

impl JsonSchemas {
    fn get(&mut self, text: &str) -> Result<&KnownSchema, String> {
        let index = match self.known.iter().position(|(known, _)| **known == *text) {
            Some(index) => index,
            None => {
                let schema: Value =
                    serde_json::from_str(text).map_err(|e| format!("not a JSON record: {e}"))?;
                if self.known.len() == JSON_SCHEMAS_KEPT {
                    self.known.remove(0);
                }
                self.known.push((text.into(), KnownSchema::new(schema)));
                self.known.len() - 1
            }
        };
        Ok(&self.known[index].1)
    }
}

/// A JsonConverter record with its schema: exactly these two fields, as
/// [`decode_json`] recognises it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithSchema<'a> {
    #[serde(borrow)]
    schema: &'a RawValue,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// A writer's schema, parsed once, with its named types for references to them.
#[derive(Debug)]
struct ReaderSchema {
    schema: AvroSchema,
    named: HashMap<String, AvroSchema>,
}

impl RecordDecoder {
    /// `registry_url`: `schema.registry.url` (user info in it is sent as basic auth).
    pub fn new(registry_url: Option<&str>) -> Result<RecordDecoder, String> {
        let registry = match registry_url {
            None => None,
            Some(url) => {
                let config = AvroConverterConfig::from_properties([("schema.registry.url", url)])
                    .map_err(|e| format!("schema.registry.url: {e}"))?;
                Some(
                    RegistryClient::new(&config)
                        .map_err(|e| format!("schema.registry.url: {e}"))?,
                )
            }
        };
        Ok(RecordDecoder {
            registry,
            schemas: HashMap::new(),
            json_schemas: JsonSchemas::default(),
        })
    }

    /// A record value: a Debezium envelope, or a tombstone. The error says why the
    /// bytes are not an envelope (the record then goes to the dead-letter topic).
    pub async fn decode(&mut self, value: Option<&[u8]>) -> Result<Record, String> {
        let Some(bytes) = value else {
            return Ok(Record::Tombstone);
        };
        let envelope =
            if bytes.first() == Some(&wire::MAGIC_BYTE) && bytes.len() >= wire::HEADER_LEN {
                self.decode_avro(bytes).await?
            } else if let Some(record) = self.decode_json_known(bytes) {
                return Ok(record);
            } else {
                self.decode_json(bytes)?
            };
        envelope_change(envelope)
    }

    /// The fast path of a JsonConverter record whose schema is known: JsonConverter
    /// writes `{"schema":<schema>,"payload":<payload>}` without spaces, so a record
    /// that starts with a known schema's text is read by comparing bytes, then
    /// parsing only what the dashboard reads of the payload (which must be the rest
    /// of the record, exactly). `None` when any of that does not hold: the record is
    /// then decoded whole, with the same result or the error that says why.
    fn decode_json_known(&self, bytes: &[u8]) -> Option<Record> {
        let rest = bytes.strip_prefix(br#"{"schema":"#)?;
        for (text, known) in &self.json_schemas.known {
            let Some(payload) = rest
                .strip_prefix(text.as_bytes())
                .and_then(|after| after.strip_prefix(br#","payload":"#))
                .and_then(|payload| payload.strip_suffix(b"}"))
            else {
                continue;
            };
            if known.decimals_elsewhere {
                return None;
            }
            let envelope: TypedEnvelope = serde_json::from_slice(payload).ok()?;
            let op = Op::from_code(&envelope.op)?;
            let source_ts_ms = envelope.source.and_then(|s| s.ts_ms).or(envelope.ts_ms)?;
            let rewrite =
                |row: Option<crate::change::Row>, schema: &Option<Value>| match (row, schema) {
                    (Some(row), Some(schema)) => {
                        let mut value = Value::Object(row);
                        apply_connect_schema(schema, &mut value);
                        match value {
                            Value::Object(row) => Some(row),
                            _ => None,
                        }
                    }
                    (row, _) => row,
                };
            return Some(Record::Change(Change {
                op,
                before: rewrite(envelope.before, &known.before),
                after: rewrite(envelope.after, &known.after),
                source_ts_ms,
            }));
        }
        None
    }

    /// [`decode_json`], with the schema of a `{"schema":…,"payload":…}` record parsed
    /// once per distinct text (then known to [`RecordDecoder::decode_json_known`]);
    /// anything else goes through [`decode_json`] whole, which says what is wrong.
    fn decode_json(&mut self, bytes: &[u8]) -> Result<Value, String> {
        if let Ok(record) = serde_json::from_slice::<WithSchema<'_>>(bytes) {
            if let Ok(mut payload) = serde_json::from_str::<Value>(record.payload.get()) {
                let known = self.json_schemas.get(record.schema.get())?;
                apply_connect_schema(&known.schema, &mut payload);
                return Ok(payload);
            }
        }
        decode_json(bytes)
    }

    async fn decode_avro(&mut self, bytes: &[u8]) -> Result<Value, String> {
        let Some(registry) = self.registry.as_ref() else {
            return Err(
                "an Avro record (magic byte 0) but no schema.registry.url is configured".into(),
            );
        };
        let (id, datum) = wire::split(bytes).map_err(|e| e.to_string())?;
        let reader = match self.schemas.entry(id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let text = registry.schema_by_id(id).await.map_err(|e| e.to_string())?;
                let schema = parse_schema(&text).map_err(|e| format!("schema {id}: {e}"))?;
                let mut named = HashMap::new();
                collect_named(&schema, &mut named);
                new.insert(ReaderSchema { schema, named })
            }
        };
        let value = decode_datum(&reader.schema, datum)
            .map_err(|e| format!("Avro record with schema id {id}: {e}"))?;
        Ok(avro_json(&reader.schema, &value, &reader.named))
    }
}

fn decode_json(bytes: &[u8]) -> Result<Value, String> {
    let json: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON record: {e}"))?;
    // JsonConverter with schemas.enable=true wraps the payload with its schema.
    match json {
        Value::Object(mut wrapper)
            if wrapper.len() == 2
                && wrapper.contains_key("schema")
                && wrapper.contains_key("payload") =>
        {
            let schema = wrapper.remove("schema").unwrap_or(Value::Null);
            let mut payload = wrapper.remove("payload").unwrap_or(Value::Null);
            apply_connect_schema(&schema, &mut payload);
            Ok(payload)
        }
        other => Ok(other),
    }
}

fn envelope_change(envelope: Value) -> Result<Record, String> {
    let Value::Object(mut envelope) = envelope else {
        return Err(format!(
            "the value is {} rather than a change envelope",
            kind(&envelope)
        ));
    };
    let op = match envelope.get("op") {
        Some(Value::String(code)) => {
            Op::from_code(code).ok_or_else(|| format!("unknown op {code:?}"))?
        }
        Some(other) => return Err(format!("op is {} rather than a string", kind(other))),
        None => return Err("no `op` field: not a Debezium change envelope".into()),
    };
    let mut image = |name: &str| match envelope.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(row)) => Ok(Some(row)),
        Some(other) => Err(format!("`{name}` is {} rather than a row", kind(&other))),
    };
    let before = image("before")?;
    let after = image("after")?;
    let source_ts_ms = envelope
        .get("source")
        .and_then(|s| s.get("ts_ms"))
        .and_then(Value::as_i64)
        .or_else(|| envelope.get("ts_ms").and_then(Value::as_i64))
        .ok_or("no `source.ts_ms` in the envelope")?;
    Ok(Record::Change(Change {
        op,
        before,
        after,
        source_ts_ms,
    }))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Rewrites decimal values of a JsonConverter payload as numbers, following its
/// schema (struct fields nest; optional fields may be null).
fn apply_connect_schema(schema: &Value, value: &mut Value) {
    if value.is_null() {
        return;
    }
    match schema.get("name").and_then(Value::as_str) {
        Some("org.apache.kafka.connect.data.Decimal") => {
            let scale = schema
                .get("parameters")
                .and_then(|p| p.get("scale"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<i32>().ok());
            if let (Some(scale), Some(text)) = (scale, value.as_str()) {
                if let Some(number) = base64_decode(text).and_then(|b| decimal(&b, scale)) {
                    *value = number;
                }
            }
            return;
        }
        Some("io.debezium.data.VariableScaleDecimal") => {
            let scale = value.get("scale").and_then(Value::as_i64);
            let bytes = value
                .get("value")
                .and_then(Value::as_str)
                .and_then(base64_decode);
            if let (Some(scale), Some(bytes)) = (scale, bytes) {
                if let Some(number) = i32::try_from(scale).ok().and_then(|s| decimal(&bytes, s)) {
                    *value = number;
                }
            }
            return;
        }
        _ => {}
    }
    if let (Some(fields), Value::Object(map)) =
        (schema.get("fields").and_then(Value::as_array), value)
    {
        for field in fields {
            let Some(name) = field.get("field").and_then(Value::as_str) else {
                continue;
            };
            if let Some(inner) = map.get_mut(name) {
                apply_connect_schema(field, inner);
            }
        }
    }
}

/// A two's-complement big-endian unscaled value and its scale, as the exact decimal
/// text (`"-12.50"`): the aggregations sum decimals exactly, so no binary floating
/// point comes in between. `None` beyond 16 bytes (38 digits).
fn decimal(unscaled: &[u8], scale: i32) -> Option<Value> {
    if unscaled.len() > 16 {
        return None;
    }
    let mut acc: i128 = match unscaled.first() {
        Some(b) if b & 0x80 != 0 => -1,
        _ => 0,
    };
    for &b in unscaled {
        acc = (acc << 8) | i128::from(b);
    }
    let digits = acc.unsigned_abs().to_string();
    let sign = if acc < 0 { "-" } else { "" };
    let text = if scale <= 0 {
        let zeros = "0".repeat(usize::try_from(-scale).ok()?);
        if acc == 0 {
            "0".to_owned()
        } else {
            format!("{sign}{digits}{zeros}")
        }
    } else {
        let scale = usize::try_from(scale).ok()?;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{sign}{int}.{frac}")
    };
    Some(Value::String(text))
}

fn collect_named(schema: &AvroSchema, named: &mut HashMap<String, AvroSchema>) {
    match &schema.kind {
        AvroKind::Record { name, fields, .. } => {
            named.insert(name.name.clone(), schema.clone());
            named.insert(
                full_name(&name.name, name.namespace.as_deref()),
                schema.clone(),
            );
            for field in fields {
                collect_named(&field.schema, named);
            }
        }
        AvroKind::Union(branches) => branches.iter().for_each(|b| collect_named(b, named)),
        AvroKind::Array(items) | AvroKind::Map(items) => collect_named(items, named),
        _ => {}
    }
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() && !name.contains('.') => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

/// An Avro datum as JSON, with decimals as numbers.
fn avro_json(schema: &AvroSchema, value: &AvroValue, named: &HashMap<String, AvroSchema>) -> Value {
    let schema = match &schema.kind {
        AvroKind::Ref(name) => named
            .get(&full_name(&name.name, name.namespace.as_deref()))
            .or_else(|| named.get(&name.name))
            .unwrap_or(schema),
        _ => schema,
    };
    match (&schema.kind, value) {
        (AvroKind::Union(branches), AvroValue::Union(index, inner)) => {
            match branches.get(*index as usize) {
                Some(branch) => avro_json(branch, inner, named),
                None => inner.to_json(),
            }
        }
        (AvroKind::Record { fields, .. }, AvroValue::Record(values)) => Value::Object(
            values
                .iter()
                .map(|(name, v)| {
                    let json = match fields.iter().find(|f| &f.name == name) {
                        Some(field) => avro_json(&field.schema, v, named),
                        None => v.to_json(),
                    };
                    (name.clone(), json)
                })
                .collect(),
        ),
        (
            AvroKind::Bytes | AvroKind::Fixed { .. },
            AvroValue::Bytes(bytes) | AvroValue::Fixed(bytes),
        ) if prop_str(schema, "logicalType") == Some("decimal") => {
            let scale = schema
                .props
                .iter()
                .find(|(k, _)| k == "scale")
                .and_then(|(_, v)| match v {
                    pgcdc_schemas::avro::Json::Int(scale) => Some(*scale),
                    _ => None,
                })
                .unwrap_or(0);
            i32::try_from(scale)
                .ok()
                .and_then(|s| decimal(bytes, s))
                .unwrap_or_else(|| value.to_json())
        }
        (AvroKind::Record { .. }, _) | (_, _) => {
            if prop_str(schema, "connect.name") == Some("io.debezium.data.VariableScaleDecimal") {
                if let AvroValue::Record(values) = value {
                    let scale = values.iter().find(|(n, _)| n == "scale").map(|(_, v)| v);
                    let bytes = values.iter().find(|(n, _)| n == "value").map(|(_, v)| v);
                    if let (Some(AvroValue::Int(scale)), Some(AvroValue::Bytes(bytes))) =
                        (scale, bytes)
                    {
                        if let Some(number) = decimal(bytes, *scale) {
                            return number;
                        }
                    }
                }
            }
            value.to_json()
        }
    }
}

fn prop_str<'a>(schema: &'a AvroSchema, key: &str) -> Option<&'a str> {
    schema
        .props
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(bytes: &[u8]) -> Change {
        match decode_json(bytes).and_then(envelope_change) {
            Ok(Record::Change(change)) => change,
            other => panic!("not a change: {other:?}"),
        }
    }

    #[test]
    fn reads_a_schemaless_envelope() {
        let c = change(br#"{"before":null,"after":{"id":1,"amount":"12.50"},"source":{"ts_ms":1700000000123},"op":"c","ts_ms":1}"#);
        assert_eq!(c.op, Op::Create);
        assert_eq!(c.before, None);
        assert_eq!(
            c.after.as_ref().and_then(|a| a.get("amount")),
            Some(&json!("12.50"))
        );
        assert_eq!(c.source_ts_ms, 1_700_000_000_123);
    }

    #[test]
    fn decimals_become_numbers_when_the_schema_says_so() {
        // 1250 with scale 2 = 12.50; 0x04E2 = 1250 → base64 "BOI=".
        let record = json!({
            "schema": {"type": "struct", "fields": [
                {"field": "before", "type": "struct", "optional": true, "fields": []},
                {"field": "after", "type": "struct", "optional": true, "fields": [
                    {"field": "amount", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
                    {"field": "loose", "type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": []}
                ]},
                {"field": "op", "type": "string"}
            ]},
            "payload": {"before": null, "after": {"amount": "BOI=", "loose": {"scale": 1, "value": "/w=="}},
                        "op": "c", "source": {"ts_ms": 5}}
        });
        let c = change(record.to_string().as_bytes());
        let after = c.after.expect("after");
        assert_eq!(after["amount"], json!("12.50"));
        assert_eq!(after["loose"], json!("-0.1"));
    }

    #[test]
    fn decimal_handles_sign_and_scale() {
        assert_eq!(decimal(&[0x04, 0xE2], 2), Some(json!("12.50")));
        assert_eq!(decimal(&[0xFB, 0x1E], 2), Some(json!("-12.50")));
        assert_eq!(decimal(&[0x05], 3), Some(json!("0.005")));
        assert_eq!(decimal(&[0xFB], 3), Some(json!("-0.005")));
        assert_eq!(decimal(&[0x01], -2), Some(json!("100")));
        assert_eq!(decimal(&[], 3), Some(json!("0.000")));
        assert_eq!(
            decimal(&[0x7F; 16], 0).map(|v| v.to_string().len()),
            Some(41)
        );
        assert_eq!(decimal(&[0x01; 17], 0), None);
    }

    #[test]
    fn what_is_not_an_envelope_says_why() {
        let err = |bytes: &[u8]| {
            decode_json(bytes)
                .and_then(envelope_change)
                .expect_err("must fail")
        };
        assert!(err(b"not json").contains("not a JSON record"));
        assert!(err(b"[1,2]").contains("an array rather than a change envelope"));
        assert!(err(br#"{"after":{}}"#).contains("no `op`"));
        assert!(err(br#"{"op":"x","source":{"ts_ms":1}}"#).contains("unknown op"));
        assert!(
            err(br#"{"op":"c","after":3,"source":{"ts_ms":1}}"#).contains("`after` is a number")
        );
        assert!(err(br#"{"op":"c","after":{}}"#).contains("source.ts_ms"));
    }

    #[tokio::test]
    async fn schemas_parsed_once_decode_as_the_whole_record_does() {
        let schema = |scale: &str| {
            json!({"type": "struct", "fields": [
                {"field": "before", "type": "struct", "optional": true, "fields": [
                    {"field": "amount", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": scale}}
                ]},
                {"field": "after", "type": "struct", "optional": true, "fields": [
                    {"field": "amount", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": scale}},
                    {"field": "loose", "type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": []}
                ]},
                {"field": "op", "type": "string"}
            ]})
        };
        let plain = json!({"type": "struct", "fields": [
            {"field": "after", "type": "struct", "optional": true, "fields": [{"field": "id", "type": "int64"}]}
        ]});
        // Not an envelope: a decimal beside the images.
        let odd = json!({"type": "struct", "fields": [
            {"field": "fee", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}
        ]});
        // Written as JsonConverter writes it, schema first, whatever order serde_json
        // keeps object keys in.
        let record = |schema: &Value, payload: Value| {
            format!(r#"{{"schema":{schema},"payload":{payload}}}"#)
        };
        let records = [
            record(
                &schema("2"),
                json!({"before": null, "after": {"amount": "BOI=", "loose": {"scale": 1, "value": "/w=="}}, "op": "c", "source": {"ts_ms": 1}}),
            ),
            // The same schema text but for the scale: each record is read with its own.
            record(
                &schema("1"),
                json!({"before": {"amount": "BOI="}, "after": {"amount": "/w=="}, "op": "u", "source": {"ts_ms": 2}}),
            ),
            record(
                &schema("2"),
                json!({"before": {"amount": "/w=="}, "after": null, "op": "d", "source": {"ts_ms": 3}, "ts_ms": 9}),
            ),
            record(&plain, json!({"after": {"id": 7}, "op": "r", "ts_ms": 4})),
            record(
                &plain,
                json!({"after": {"id": 7}, "op": "r", "source": {"ts_ms": null}, "ts_ms": 5}),
            ),
            record(
                &plain,
                json!({"after": {"id": 7}, "op": "c", "source": {"ts_ms": 1.5}, "ts_ms": 6}),
            ),
            record(
                &odd,
                json!({"fee": "BOI=", "after": {"id": 1}, "op": "c", "source": {"ts_ms": 7}}),
            ),
            // What the fast path leaves to the whole-record path, errors included.
            record(
                &plain,
                json!({"after": {"id": 7}, "op": "x", "source": {"ts_ms": 1}}),
            ),
            record(
                &plain,
                json!({"after": 3, "op": "c", "source": {"ts_ms": 1}}),
            ),
            record(&plain, json!({"after": {"id": 7}, "source": {"ts_ms": 1}})),
            record(&plain, json!({"after": {"id": 7}, "op": "c"})),
            record(&plain, json!([1])),
            // Not the two-field shape: the schemaless path, and errors, are unchanged.
            r#"{"before":null,"after":{"amount":"1.5"},"op":"u","source":{"ts_ms":5},"ts_ms":6}"#
                .into(),
            r#"{"schema":{},"payload":{"op":"c"},"extra":1}"#.into(),
            r#"{"schema":{},"payload":{"op":"c","source":{"ts_ms":1}}"#.into(),
            // A known schema followed by more than the payload, or by spaces.
            r#"{"schema":{},"payload":{"op":"c","source":{"ts_ms":1}},"op":"d"}"#.into(),
            r#"{"schema":{},"payload":{"op":"c","source":{"ts_ms":1}}} "#.into(),
            r#"{"schema":{}, "payload":{"op":"c","source":{"ts_ms":2}}}"#.into(),
        ];
        let mut decoder = RecordDecoder::new(None).expect("no registry");
        // Twice each: the first time a schema is learnt, the second read as known.
        for round in 0..2 {
            for record in &records {
                let cached = decoder.decode(Some(record.as_bytes())).await;
                let whole = decode_json(record.as_bytes()).and_then(envelope_change);
                assert_eq!(cached, whole, "round {round}: {record}");
            }
        }
        let first = match decoder.decode(Some(records[0].as_bytes())).await {
            Ok(Record::Change(c)) => c.after.expect("after"),
            other => panic!("{other:?}"),
        };
        assert_eq!(first["amount"], json!("12.50"));
        assert_eq!(first["loose"], json!("-0.1"));
        let second = match decoder.decode(Some(records[1].as_bytes())).await {
            Ok(Record::Change(c)) => (c.before.expect("before"), c.after.expect("after")),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (&second.0["amount"], &second.1["amount"]),
            (&json!("125.0"), &json!("-0.1"))
        );
        // The fast path read the well-formed envelopes, and left the rest.
        let fast: Vec<bool> = records
            .iter()
            .map(|r| decoder.decode_json_known(r.as_bytes()).is_some())
            .collect();
        assert_eq!(
            fast,
            [true, true, true, true, true, false, false, false, false, false, false, false]
                .into_iter()
                .chain([false; 6])
                .collect::<Vec<_>>()
        );
        // The two decimal schemas, the plain one, the odd one and `{}`.
        assert_eq!(decoder.json_schemas.known.len(), 5);
        assert!(decoder.json_schemas.known[3].1.decimals_elsewhere);
        assert!(decoder.json_schemas.known[2].1.before.is_none());
    }

    #[test]
    fn the_schema_cache_is_bounded() {
        let mut schemas = JsonSchemas::default();
        for i in 0..JSON_SCHEMAS_KEPT + 3 {
            let text = format!(r#"{{"version":{i}}}"#);
            assert_eq!(
                schemas.get(&text).expect("JSON").schema["version"],
                json!(i)
            );
        }
        assert_eq!(schemas.known.len(), JSON_SCHEMAS_KEPT);
        assert!(schemas.get("{").is_err());
    }

    #[tokio::test]
    async fn a_null_value_is_a_tombstone_and_avro_needs_a_registry() {
        let mut decoder = RecordDecoder::new(None).expect("no registry");
        assert_eq!(decoder.decode(None).await, Ok(Record::Tombstone));
        let err = decoder
            .decode(Some(&[0, 0, 0, 0, 1, 2]))
            .await
            .expect_err("no registry");
        assert!(err.contains("schema.registry.url"), "{err}");
    }

    #[test]
    fn avro_decimals_and_named_references_decode_to_numbers() {
        let schema = parse_schema(
            r#"{"type":"record","name":"Envelope","namespace":"shop.public.orders","fields":[
                {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
                    {"name":"amount","type":{"type":"bytes","scale":2,"precision":10,"logicalType":"decimal"}}]}],"default":null},
                {"name":"after","type":["null","Value"],"default":null},
                {"name":"op","type":"string"}]}"#,
        )
        .expect("schema");
        // before: union branch 0 (null); after: branch 1, bytes len 2 = 0x04E2; op "c".
        let datum = [0x00, 0x02, 0x04, 0x04, 0xE2, 0x02, b'c'];
        let value = decode_datum(&schema, &datum).expect("datum");
        let mut named = HashMap::new();
        collect_named(&schema, &mut named);
        let json = avro_json(&schema, &value, &named);
        assert_eq!(
            json,
            json!({"before": null, "after": {"amount": "12.50"}, "op": "c"})
        );
    }
}
