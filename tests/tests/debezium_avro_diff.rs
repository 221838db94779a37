//! Avro against the oracle: the real Debezium PostgreSQL connector writes the workload
//! of `pgcdc_tests::diff` as JsonConverter JSON (`schemas.enable=true`), pgcdc writes
//! the same rows with Confluent's Avro converter through its embedded Schema Registry,
//! and Confluent's own Python deserializer (`confluent-kafka`'s `AvroDeserializer`,
//! resolving every schema id over the registry's REST API) must read from pgcdc's
//! records the values Debezium's JSON payloads hold — keys and values, every topic,
//! field by field.
//!
//! The two converters represent some values differently; the comparison brings
//! Python's values into the form the JsonConverter writes, guided by Debezium's own
//! Connect schema of the record (never by pgcdc's):
//!
//! - Connect `bytes`: Avro gives Python `bytes`, the JsonConverter writes standard,
//!   padded base64; Python encodes them with its own `base64` module.
//! - Connect `Decimal` (`decimal.handling.mode=precise`): Avro's `decimal` logical
//!   type gives a Python `Decimal`; the JsonConverter writes base64 of the unscaled
//!   value's minimal big-endian two's complement (`BigInteger.toByteArray`) and keeps
//!   the scale in the schema. Python writes its unscaled value in that form, and its
//!   scale is checked against the Connect schema's `scale` parameter.
//! - `float32`/`float64`: the JsonConverter writes NaN and the infinities as strings
//!   and finite floats as their shortest decimal; Avro gives Python a double (a
//!   `float` widened). Both sides are compared as the IEEE value of the schema's
//!   width, so NaN, infinities and -0 compare exactly.
//!
//! Everything else (integers, booleans, strings, arrays, structs, string-keyed maps,
//! nulls) must be equal as is. The fields that must differ between the connectors are
//! masked as in the JSON diff (`pgcdc_tests::diff`).
//!
//! Needs the venv of `PGCDC_PYTHON` with `confluent-kafka[avro,schemaregistry]`, which
//! `./dev/stack install` creates.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::process::Stdio;
use std::sync::Arc;

use pgcdc_schemas::registry::{self, Registry};
use pgcdc_tests::diff::{
    capture_with_both, differences, mask_payload, without_prefix, PgcdcConverter, TABLES,
};
use pgcdc_tests::Stack;
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;

const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";

/// Decodes Confluent-framed records with `AvroDeserializer` and prints them as JSON,
/// tagging what JSON cannot hold as such.
const DESERIALIZE: &str = r#"
import base64, decimal, json, struct, sys
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

def b64(data):
    return base64.b64encode(data).decode("ascii")

def unscaled_bytes(n):
    # java.math.BigInteger.toByteArray: the minimal big-endian two's complement.
    return n.to_bytes((n if n >= 0 else ~n).bit_length() // 8 + 1, "big", signed=True)

def tag(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return {"$double": struct.pack(">d", v).hex()}
    if isinstance(v, bytes):
        return {"$bytes": b64(v)}
    if isinstance(v, decimal.Decimal):
        sign, digits, exponent = v.as_tuple()
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        return {"$decimal": {"unscaled": b64(unscaled_bytes(unscaled)), "scale": -exponent}}
    if isinstance(v, dict):
        return {k: tag(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tag(x) for x in v]
    raise TypeError(f"unexpected {type(v).__name__}: {v!r}")

request = json.load(sys.stdin)
deserializer = AvroDeserializer(SchemaRegistryClient({"url": sys.argv[1]}))
decoded = []
for record in request:
    sides = {}
    for side, field in (("key", MessageField.KEY), ("value", MessageField.VALUE)):
        data = record[side]
        context = SerializationContext(record["topic"], field)
        sides[side] = None if data is None else tag(deserializer(bytes.fromhex(data), context))
    decoded.append(sides)
print(json.dumps(decoded))
"#;

/// How often each normalisation was applied, so the test can show it compared them.
#[derive(Debug, Default)]
struct Normalised {
    bytes: usize,
    decimals: usize,
    floats: usize,
    maps: usize,
}

fn schema_type(schema: &Value) -> &str {
    schema["type"].as_str().unwrap_or_default()
}

/// A float of `schema`'s width as compared: the text of its IEEE value.
fn float_text(schema: &Value, value: f64) -> Value {
    if schema_type(schema) == "float" {
        json!({ "float32": format!("{:?}", value as f32) })
    } else {
        json!({ "float64": format!("{value:?}") })
    }
}

/// Debezium's payload with its floats as compared; everything else as written.
fn debezium_side(schema: &Value, value: &Value) -> Value {
    match (schema_type(schema), value) {
        (_, Value::Null) => Value::Null,
        ("float" | "double", Value::String(special)) => {
            let parsed = match special.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => panic!("a float written as {other:?}"),
            };
            float_text(schema, parsed)
        }
        ("float", Value::Number(n)) => {
            // Float.toString's digits, read as the float they name.
            let parsed: f32 = n.to_string().parse().unwrap();
            float_text(schema, f64::from(parsed))
        }
        ("double", Value::Number(n)) => float_text(schema, n.as_f64().unwrap()),
        ("array", Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|item| debezium_side(&schema["items"], item))
                .collect(),
        ),
        ("map", Value::Object(entries)) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), debezium_side(&schema["values"], v)))
                .collect(),
        ),
        ("struct", Value::Object(fields)) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| {
                    let field = field_schema(schema, name).unwrap_or(&Value::Null);
                    (name.clone(), debezium_side(field, v))
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

fn field_schema<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema["fields"]
        .as_array()?
        .iter()
        .find(|f| f["field"] == name)
}

/// Python's value in the form the JsonConverter writes for `schema` (Debezium's), with
/// floats as compared. A value of an unexpected shape is returned as Python gave it,
/// for the comparison to show.
fn python_side(schema: &Value, value: &Value, counts: &mut Normalised) -> Value {
    let name = schema["name"].as_str().unwrap_or_default();
    match (schema_type(schema), value) {
        (_, Value::Null) => Value::Null,
        ("bytes", Value::Object(tagged)) if name == DECIMAL && tagged.contains_key("$decimal") => {
            let decimal = &tagged["$decimal"];
            let scale: Option<i64> = schema["parameters"]["scale"]
                .as_str()
                .and_then(|s| s.parse().ok());
            if decimal["scale"].as_i64() != scale {
                return json!({"python decimal of scale": decimal["scale"], "schema scale": scale});
            }
            counts.decimals += 1;
            decimal["unscaled"].clone()
        }
        ("bytes", Value::Object(tagged)) if tagged.contains_key("$bytes") => {
            counts.bytes += 1;
            tagged["$bytes"].clone()
        }
        ("float" | "double", Value::Object(tagged)) if tagged.contains_key("$double") => {
            let bits = u64::from_str_radix(tagged["$double"].as_str().unwrap(), 16).unwrap();
            counts.floats += 1;
            float_text(schema, f64::from_bits(bits))
        }
        ("array", Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|item| python_side(&schema["items"], item, counts))
                .collect(),
        ),
        ("map", Value::Object(entries)) => {
            assert_eq!(
                schema_type(&schema["keys"]),
                "string",
                "only string-keyed maps are JSON objects on both sides"
            );
            counts.maps += 1;
            Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), python_side(&schema["values"], v, counts)))
                    .collect(),
            )
        }
        ("struct", Value::Object(fields)) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| {
                    let field = field_schema(schema, name).unwrap_or(&Value::Null);
                    (name.clone(), python_side(field, v, counts))
                })
                .collect::<Map<String, Value>>(),
        ),
        _ => value.clone(),
    }
}

fn parse(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| serde_json::from_slice(b).unwrap())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn deserialize_in_python(registry_url: &str, request: &Value) -> Vec<Value> {
    let python = Stack::get().python().to_owned();
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(DESERIALIZE)
        .arg(registry_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Python deserializer failed (the venv needs confluent-kafka[avro,schemaregistry]):\n{stderr}"
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_avro_deserializer_reads_debeziums_values_from_pgcdc() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry_url = format!("http://{}", listener.local_addr().unwrap());
    let registry = tokio::spawn(registry::serve(listener, Arc::new(Registry::in_memory())));

    // Defaults (precise decimals, adaptive times, bytes), with the modes whose Avro
    // differs from their JSON most: hstore as a map, truncates published.
    let run = capture_with_both(
        "avro_diff",
        json!({
            "hstore.handling.mode": "map",
            "skipped.operations": "none",
            "provide.transaction.metadata": "true",
        }),
        PgcdcConverter::Avro {
            registry_url: registry_url.clone(),
        },
    )
    .await;

    let topics: Vec<&str> = TABLES.iter().copied().chain(["transaction"]).collect();
    let mut request = Vec::new();
    let mut expected = Vec::new();
    let mut failures = Vec::new();
    for suffix in &topics {
        let (debezium, pgcdc) = run.records(suffix);
        if debezium.len() != pgcdc.len() {
            failures.push(format!(
                "{suffix}: Debezium wrote {} records, pgcdc {}",
                debezium.len(),
                pgcdc.len()
            ));
        }
        for (i, (d, p)) in debezium.iter().zip(&pgcdc).enumerate() {
            request.push(json!({
                "topic": format!("{}.{suffix}", run.pgcdc_prefix),
                "key": p.key.as_deref().map(hex),
                "value": p.value.as_deref().map(hex),
            }));
            expected.push((
                format!("{suffix} record {i}"),
                parse(d.key.as_deref()),
                parse(d.value.as_deref()),
            ));
        }
    }
    let decoded = deserialize_in_python(&registry_url, &Value::Array(request)).await;
    assert_eq!(decoded.len(), expected.len());

    let mut counts = Normalised::default();
    let mut ops = Vec::new();
    for ((label, debezium_key, debezium_value), python) in expected.iter().zip(&decoded) {
        let mut diffs = Vec::new();
        for (side, debezium, python) in [
            ("key", debezium_key, &python["key"]),
            ("value", debezium_value, &python["value"]),
        ] {
            let schema = &debezium["schema"];
            let mut want = without_prefix(
                &debezium_side(schema, &debezium["payload"]),
                &run.debezium_prefix,
            );
            let mut got =
                without_prefix(&python_side(schema, python, &mut counts), &run.pgcdc_prefix);
            if side == "value" {
                mask_payload(&mut want);
                mask_payload(&mut got);
                let kind = match (debezium, want["op"].as_str()) {
                    (Value::Null, _) => "tombstone",
                    (_, Some(op)) => op,
                    (_, None) => "transaction",
                };
                ops.push(kind.to_owned());
            }
            differences(side, &want, &got, &mut diffs);
        }
        if !diffs.is_empty() {
            failures.push(format!("{label}:\n    {}", diffs.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences in {} records:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );

    // What was compared: every kind of change, and every normalisation above.
    for op in ["r", "c", "u", "d", "t", "tombstone", "transaction"] {
        assert!(ops.iter().any(|o| o == op), "no {op} record in {ops:?}");
    }
    assert!(expected.len() >= 60, "only {} records", expected.len());
    assert!(
        counts.bytes > 0 && counts.decimals > 0 && counts.floats > 0 && counts.maps > 0,
        "{counts:?}"
    );
    drop(run);
    registry.abort();
}
