//! Confluent's own Python client (`confluent-kafka`'s `SchemaRegistryClient`,
//! `AvroSerializer`, `AvroDeserializer`) against the embedded registry: code no one
//! here wrote must not be able to tell it from Confluent's.
//!
//! Needs `confluent-kafka[avro,schemaregistry]` in the venv of `PGCDC_PYTHON` (the
//! schema-registry module imports authlib, httpx, cachetools and attrs, which plain
//! `confluent-kafka` does not install), which dev/requirements.txt pins.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pgcdc_schemas::registry::{self, Registry};

const SCRIPT: &str = r#"
import io, json, struct, sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField

url = sys.argv[1]
client = SchemaRegistryClient({"url": url})
subject = "shop.public.orders-value"
v1 = json.dumps({"type": "record", "name": "Value", "namespace": "shop.public.orders",
    "fields": [{"name": "id", "type": "int"}, {"name": "note", "type": {"type": "string", "connect.name": "x.y"}}]})
v2 = json.dumps({"type": "record", "name": "Value", "namespace": "shop.public.orders",
    "fields": [{"name": "id", "type": "int"}, {"name": "note", "type": {"type": "string", "connect.name": "x.y"}},
               {"name": "amount", "type": ["null", "long"], "default": None}]})
bad = json.dumps({"type": "record", "name": "Value", "namespace": "shop.public.orders",
    "fields": [{"name": "id", "type": "string"}]})

assert "AVRO" in client.get_schema_types()
id1 = client.register_schema(subject, Schema(v1, "AVRO"))
assert client.register_schema("other-value", Schema(v1, "AVRO")) == id1
assert json.loads(client.get_schema(id1).schema_str) == json.loads(v1)
latest = client.get_latest_version(subject)
assert (latest.version, latest.schema_id) == (1, id1), latest
assert client.get_version(subject, 1).schema_id == id1
assert client.lookup_schema(subject, Schema(v1, "AVRO")).version == 1
assert client.test_compatibility(subject, Schema(v2, "AVRO")) is True
assert client.test_compatibility(subject, Schema(bad, "AVRO")) is False
try:
    client.register_schema(subject, Schema(bad, "AVRO"))
    raise AssertionError("incompatible schema registered")
except SchemaRegistryError as e:
    assert e.http_status_code == 409 and e.error_code == 409, e
assert client.get_compatibility() == "BACKWARD"
assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
assert client.get_compatibility(subject) == "FULL"
assert sorted(client.get_subjects()) == ["other-value", subject]
assert sorted(client.get_subjects_by_schema_id(id1)) == ["other-value", subject]
try:
    client.get_schema(999999)
    raise AssertionError("missing schema found")
except SchemaRegistryError as e:
    assert (e.http_status_code, e.error_code) == (404, 40403), e

# Serialize with auto-registration, deserialize by the id in the wire format.
ctx = SerializationContext("shop.public.orders", MessageField.VALUE)
ser2 = AvroSerializer(client, v2)
payload = ser2({"id": 7, "note": "n", "amount": 12}, ctx)
assert payload[0] == 0
id2 = struct.unpack(">I", payload[1:5])[0]
latest = SchemaRegistryClient({"url": url}).get_latest_version(subject)  # the client caches latest
assert id2 != id1 and latest.schema_id == id2, (id1, id2, latest)
de = AvroDeserializer(SchemaRegistryClient({"url": url}))
assert de(payload, ctx) == {"id": 7, "note": "n", "amount": 12}
# An old record read with the new schema (schema resolution across versions).
old = AvroSerializer(client, v1, conf={"auto.register.schemas": False, "use.latest.version": False})(
    {"id": 1, "note": "old"}, ctx)
assert struct.unpack(">I", old[1:5])[0] == id1
reader = AvroDeserializer(SchemaRegistryClient({"url": url}), v2)
assert reader(old, ctx) == {"id": 1, "note": "old", "amount": None}

assert client.get_versions(subject) == [1, 2]
assert client.delete_version(subject, 2) == 2
assert client.delete_version(subject, 2, permanent=True) == 2
assert client.delete_subject(subject) == [1]
assert client.delete_subject(subject, permanent=True) == [1]
assert client.get_subjects() == ["other-value"]
print("interop ok")
"#;

fn python() -> String {
    if let Ok(python) = std::env::var("PGCDC_PYTHON") {
        return python;
    }
    let env = concat!(env!("CARGO_MANIFEST_DIR"), "/../.stack/env");
    std::fs::read_to_string(env)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PGCDC_PYTHON="))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("PGCDC_PYTHON is not set and .stack/env does not name it: run dev/stack up")
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_serves_confluent_python_client() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(registry::serve(listener, Arc::new(Registry::in_memory())));
    let output = tokio::process::Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(&url)
        .output()
        .await
        .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("interop ok"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
