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
use serde_json::Value;

use crate::change::{Change, Op};

/// What one record is to the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Change(Change),
    /// A tombstone (null value) following a delete: nothing to aggregate.
    Tombstone,
}

/// Decodes records, keeping the Avro schemas it read by id.
#[derive(Debug)]
pub struct RecordDecoder {
    /// The registry client caches schema texts by id; parsed schemas are kept here.
    registry: Option<RegistryClient>,
    schemas: HashMap<SchemaId, ReaderSchema>,
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
            } else {
                decode_json(bytes)?
            };
        envelope_change(envelope)
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
