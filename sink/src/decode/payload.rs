//! A JsonConverter payload read straight into its Connect value, guided by the
//! record's schema: no JSON tree, no object keys copied. The rules are those of
//! [`super::json::value_from_json`]; a payload this reader refuses is read again
//! that way, which says where and why it does not fit (errors are rare, so they
//! may be slow).

use std::fmt;

use pgcdc_schemas::connect::{Schema, SchemaKind, SchemaType, Value};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The payload `bytes` (one JSON value) as a value of `schema`; `None` when it does
/// not fit or is not JSON.
pub fn read(schema: &Schema, bytes: &[u8]) -> Option<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Guided(schema).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(value)
}

/// Reads one value of the schema.
#[derive(Clone, Copy)]
struct Guided<'s>(&'s Schema);

impl<'de> DeserializeSeed<'de> for Guided<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A pair `[key, value]` of a map whose keys are not strings.
struct Pair<'s>(&'s Schema, &'s Schema);

impl<'de> DeserializeSeed<'de> for Pair<'_> {
    type Value = (Value, Value);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pair<'_> {
    type Value = (Value, Value);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [key, value] pair")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let key = seq.next_element_seed(Guided(self.0))?;
        let value = seq.next_element_seed(Guided(self.1))?;
        match (key, value, seq.next_element::<IgnoredAny>()?) {
            (Some(key), Some(value), None) => Ok((key, value)),
            _ => Err(serde::de::Error::custom("not a [key, value] pair")),
        }
    }
}

fn unfit<E: serde::de::Error>() -> E {
    E::custom("does not fit the schema")
}

impl Guided<'_> {
    fn integer<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(match self.0.kind {
            SchemaKind::Int8 => Value::Int8(i8::try_from(v).map_err(|_| unfit())?),
            SchemaKind::Int16 => Value::Int16(i16::try_from(v).map_err(|_| unfit())?),
            SchemaKind::Int32 => Value::Int32(i32::try_from(v).map_err(|_| unfit())?),
            SchemaKind::Int64 => Value::Int64(v),
            SchemaKind::Float32 => Value::Float32(v as f64 as f32),
            SchemaKind::Float64 => Value::Float64(v as f64),
            _ => return Err(unfit()),
        })
    }
}

impl<'de> Visitor<'de> for Guided<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} value", self.0.schema_type())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        match self.0.kind {
            SchemaKind::Boolean => Ok(Value::Boolean(v)),
            _ => Err(unfit()),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.integer(v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(v) => self.integer(v),
            // Beyond i64: only a float reads it.
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        match self.0.kind {
            SchemaKind::Float32 => Ok(Value::Float32(v as f32)),
            SchemaKind::Float64 => Ok(Value::Float64(v)),
            _ => Err(unfit()),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        let special = || match v {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        };
        Ok(match self.0.kind {
            SchemaKind::String => Value::String(v.to_owned()),
            SchemaKind::Bytes => Value::Bytes(
                pgcdc_schemas::encoding::base64_decode(v).ok_or_else(|| E::custom("not base64"))?,
            ),
            SchemaKind::Float32 => Value::Float32(special().ok_or_else(unfit)? as f32),
            SchemaKind::Float64 => Value::Float64(special().ok_or_else(unfit)?),
            _ => return Err(unfit()),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        match &self.0.kind {
            SchemaKind::Array(items) => {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(value) = seq.next_element_seed(Guided(items))? {
                    values.push(value);
                }
                Ok(Value::Array(values))
            }
            SchemaKind::Map { keys, values } if keys.schema_type() != SchemaType::String => {
                let mut entries = Vec::new();
                while let Some(pair) = seq.next_element_seed(Pair(keys, values))? {
                    entries.push(pair);
                }
                Ok(Value::Map(entries))
            }
            _ => Err(unfit()),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        match &self.0.kind {
            SchemaKind::Struct(fields) => {
                let mut values = vec![Value::Null; fields.len()];
                while let Some(at) = map.next_key_seed(FieldKey(fields))? {
                    match at {
                        // A repeated key: the last one wins, as in a JSON object.
                        Some(at) => values[at] = map.next_value_seed(Guided(&fields[at].schema))?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Value::Struct(values))
            }
            SchemaKind::Map { keys, .. } if keys.schema_type() == SchemaType::String => {
                // Rare (hstore, Connect maps): read as a JSON object, so that the
                // entries come in the order the two-step path gives them.
                let object: serde_json::Map<String, serde_json::Value> =
                    serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(
                        map,
                    ))?;
                super::json::value_from_json(self.0, &serde_json::Value::Object(object), "payload")
                    .map_err(serde::de::Error::custom)
            }
            _ => Err(unfit()),
        }
    }
}

/// A struct's key: the position of its field (`None`: not a field, ignored).
struct FieldKey<'s>(&'s [pgcdc_schemas::connect::Field]);

impl<'de> DeserializeSeed<'de> for FieldKey<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldKey<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|f| f.name == key))
    }
}

#[cfg(test)]
mod tests {
    use pgcdc_schemas::connect::{Field, Schema, Value};
    use pgcdc_schemas::fixtures;
    use serde_json::value::RawValue;

    use super::read;
    use crate::decode::json::{schema_from_json, value_from_json};

    /// The two-step reading: a JSON tree, then the value.
    fn by_tree(schema: &Schema, payload: &str) -> Result<Value, String> {
        let json = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        value_from_json(schema, &json, "payload")
    }

    fn same(schema: &Schema, payload: &str) {
        let tree = by_tree(schema, payload).ok();
        // Debug text: NaN equals NaN there.
        assert_eq!(
            format!("{:?}", read(schema, payload.as_bytes())),
            format!("{tree:?}"),
            "{payload}"
        );
    }

    /// Every key and value of every fixture (every type and mode Debezium writes)
    /// reads as through a JSON tree.
    #[test]
    fn every_fixture_payload_reads_as_through_a_json_tree() {
        #[derive(serde::Deserialize)]
        struct Record<'a> {
            #[serde(borrow)]
            schema: &'a RawValue,
            #[serde(borrow)]
            payload: &'a RawValue,
        }
        let mut checked = 0;
        for (_, fixture) in fixtures::all() {
            for record in fixture.events.iter().flat_map(|e| &e.records) {
                for side in [&record.key, &record.value].into_iter().flatten() {
                    if side.schema.is_none() {
                        continue;
                    }
                    let bytes = fixture.record_bytes(side);
                    let record: Record<'_> = serde_json::from_str(&bytes).expect("a record");
                    if record.schema.get() == "null" {
                        continue;
                    }
                    let schema = schema_from_json(record.schema.get()).expect("a schema");
                    assert!(by_tree(&schema, record.payload.get()).is_ok());
                    same(&schema, record.payload.get());
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} payloads");
    }

    #[test]
    fn fits_and_misfits_as_through_a_json_tree() {
        let cases: &[(Schema, &[&str])] = &[
            (
                Schema::int8(),
                &["5", "-128", "300", "1.5", "\"5\"", "true", "null"],
            ),
            (Schema::int16(), &["-32768", "40000"]),
            (Schema::int32(), &["2147483647", "2147483648", "1e2"]),
            (
                Schema::int64(),
                &[
                    "-9223372036854775808",
                    "9223372036854775807",
                    "9223372036854775808",
                ],
            ),
            (
                Schema::float32(),
                &[
                    "1",
                    "1.25",
                    "\"NaN\"",
                    "\"Infinity\"",
                    "\"-Infinity\"",
                    "\"nan\"",
                    "18446744073709551615",
                ],
            ),
            (Schema::float64(), &["-3", "0.1", "1e308", "\"NaN\"", "[1]"]),
            (Schema::boolean(), &["true", "false", "\"t\"", "1"]),
            (Schema::string(), &["\"a\\u00e9\\n\"", "5", "{}"]),
            (Schema::bytes(), &["\"AAEC\"", "\"%%\"", "7"]),
            (
                Schema::array(Schema::int32().optional()),
                &["[1,null,3]", "[]", "[1,\"x\"]", "{\"a\":1}"],
            ),
            (
                Schema::map(Schema::string(), Schema::int32()),
                &[
                    "{\"b\":1,\"a\":2}",
                    "{\"a\":1,\"a\":2}",
                    "{\"a\":\"x\"}",
                    "[[\"a\",1]]",
                ],
            ),
            (
                Schema::map(Schema::int32(), Schema::boolean()),
                &[
                    "[[1,true],[2,false]]",
                    "[[1,true,3]]",
                    "[[1]]",
                    "[{\"k\":1}]",
                    "{\"1\":true}",
                ],
            ),
            (
                Schema::structure(vec![
                    Field::new("id", Schema::int32()),
                    Field::new("s", Schema::string().optional()),
                ]),
                &[
                    "{\"id\":1,\"s\":\"a\"}",
                    "{\"s\":\"a\"}",
                    "{\"id\":1,\"extra\":{\"deep\":[1,2]}}",
                    "{\"id\":1,\"id\":2}",
                    "{\"i\\u0064\":3}",
                    "{\"id\":\"x\"}",
                    "[1]",
                    "{\"id\":1} x",
                    "{\"id\":1",
                ],
            ),
        ];
        for (schema, payloads) in cases {
            for payload in *payloads {
                same(schema, payload);
            }
        }
    }
}
