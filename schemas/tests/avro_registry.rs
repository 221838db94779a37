//! The Avro converter against a real registry: pgcdc's embedded one, started
//! in-process, with the Debezium schemas of captured tables. Registration is cached
//! (the second time costs no HTTP request), an ALTER TABLE adds a version, an
//! incompatible change comes back with Confluent's 409 message naming the column,
//! and Confluent's own Python deserializer (`confluent-kafka`'s `AvroDeserializer`)
//! reads pgcdc's records back to the values they were written from.
//!
//! Needs the venv of `PGCDC_PYTHON` (default /var/cache/pgcdc/venv/bin/python) with
//! `confluent-kafka[avro,schemaregistry]`, `fastavro` and `avro`, which
//! `./dev/stack install` creates.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pgcdc_schemas::avro::{
    AvroConverter, AvroConverterConfig, AvroError, Change, FieldChange, RegistryClient, SchemaId,
    SubjectNameStrategy,
};
use pgcdc_schemas::connect::{Field, Schema, SchemaKind, Value};
use pgcdc_schemas::debezium::{
    logical, ColumnDescription, Envelope, Op, PgColumnType, PgScalar, SnapshotMarker, SourceInfo,
    TableId, TableSchemas, ValueModes,
};
use pgcdc_schemas::registry::{self, Registry};
use serde_json::{json, Value as Json};
use tokio::io::AsyncWriteExt;

const V1: &str = "application/vnd.schemaregistry.v1+json";

/// The embedded registry on a free port, counting the requests it serves and,
/// with `user_info`, refusing requests without those basic credentials.
struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(user_info: Option<&'static str>) -> Server {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let expected =
            user_info.map(|u| format!("Basic {}", pgcdc_schemas::encoding::base64(u.as_bytes())));
        let app = registry::router(Arc::new(Registry::in_memory())).layer(
            axum::middleware::from_fn(move |request: Request, next: Next| {
                let counter = Arc::clone(&counter);
                let expected = expected.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let given = request
                        .headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok());
                    if expected.is_some() && given != expected.as_deref() {
                        return unauthorized();
                    }
                    next.run(request).await
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        Server {
            url,
            requests,
            task,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn get(&self, path: &str) -> Json {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, V1)],
        r#"{"error_code":401,"message":"Unauthorized"}"#,
    )
        .into_response()
}

fn converter(url: &str) -> AvroConverter {
    AvroConverter::new(AvroConverterConfig::new(url)).unwrap()
}

fn column(name: &str, pg_type: PgColumnType, type_name: &str, typmod: i32) -> ColumnDescription {
    ColumnDescription::new(name, pg_type, type_name, typmod)
}

fn scalar(name: &str, scalar: PgScalar, type_name: &str) -> ColumnDescription {
    column(name, PgColumnType::Scalar(scalar), type_name, -1)
}

/// `numeric(p, s)`'s type modifier.
fn numeric(precision: i32, scale: i32) -> i32 {
    ((precision << 16) | scale) + 4
}

/// `orders(id int4 primary key, name text, amount numeric(10,2), created timestamptz)`
/// and any `extra` columns.
fn orders(extra: Vec<ColumnDescription>) -> TableSchemas {
    let mut id = scalar("id", PgScalar::Int4, "int4");
    id.optional = false;
    id.key_position = Some(0);
    let mut columns = vec![
        id,
        scalar("name", PgScalar::Text, "text"),
        column(
            "amount",
            PgColumnType::Scalar(PgScalar::Numeric),
            "numeric",
            numeric(10, 2),
        ),
        scalar("created", PgScalar::Timestamptz, "timestamptz"),
    ];
    columns.extend(extra);
    TableSchemas::new(
        TableId::new("fx", "public", "orders"),
        &columns,
        &ValueModes::default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_twice_costs_one_request() {
    let server = Server::start(None).await;
    let tables = orders(vec![]);
    let topic = tables.id.topic();
    let key = tables.key.clone().unwrap();
    let mut avro = converter(&server.url);

    let key_id = avro.prepare(&topic, true, &key).await.unwrap();
    let value_id = avro.prepare(&topic, false, &tables.envelope).await.unwrap();
    assert_ne!(key_id, value_id);
    assert_eq!(server.requests(), 2);
    for _ in 0..3 {
        assert_eq!(avro.prepare(&topic, true, &key).await.unwrap(), key_id);
        assert_eq!(
            avro.prepare(&topic, false, &tables.envelope).await.unwrap(),
            value_id
        );
    }
    assert_eq!(
        server.requests(),
        2,
        "a prepared schema must not reach the registry"
    );
    assert_eq!(avro.client().requests_sent(), 2);

    // Another process (a fresh client) gets the same ids from the registry.
    let mut restarted = converter(&server.url);
    assert_eq!(
        restarted
            .prepare(&topic, false, &tables.envelope)
            .await
            .unwrap(),
        value_id
    );
    assert_eq!(server.requests(), 3);

    // Subjects by TopicNameStrategy, holding the text of the derived Avro schemas.
    assert_eq!(
        server.get("/subjects").await,
        json!(["fx.public.orders-key", "fx.public.orders-value"])
    );
    let registered = server.get(&format!("/schemas/ids/{value_id}")).await;
    let ours: Json =
        serde_json::from_str(&avro.avro_schema(&tables.envelope).unwrap().to_text()).unwrap();
    let theirs: Json = serde_json::from_str(registered["schema"].as_str().unwrap()).unwrap();
    assert_eq!(theirs, ours);
}

#[tokio::test(flavor = "multi_thread")]
async fn alter_table_registers_a_new_version() {
    let server = Server::start(None).await;
    let mut avro = converter(&server.url);
    let before = orders(vec![]);
    let topic = before.id.topic();
    let v1 = avro.prepare(&topic, false, &before.envelope).await.unwrap();
    // ALTER TABLE orders ADD COLUMN note varchar(20): a nullable column, compatible.
    let after = orders(vec![column(
        "note",
        PgColumnType::Scalar(PgScalar::Varchar),
        "varchar",
        24,
    )]);
    let v2 = avro.prepare(&topic, false, &after.envelope).await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        server
            .get("/subjects/fx.public.orders-value/versions")
            .await,
        json!([1, 2])
    );
    // Records of the old schema still go out with the old id.
    assert_eq!(
        avro.prepare(&topic, false, &before.envelope).await.unwrap(),
        v1
    );
    assert_eq!(avro.prepared_id(&topic, false, &after.envelope), Some(v2));
}

#[tokio::test(flavor = "multi_thread")]
async fn incompatible_change_carries_confluents_message() {
    let server = Server::start(None).await;
    let mut avro = converter(&server.url);
    let tables = orders(vec![]);
    let topic = tables.id.topic();
    avro.prepare(&topic, false, &tables.envelope).await.unwrap();
    // ALTER TABLE orders ADD COLUMN qty int8 NOT NULL (no default): under BACKWARD,
    // the new schema cannot read the old records.
    let mut qty = scalar("qty", PgScalar::Int8, "int8");
    qty.optional = false;
    let altered = orders(vec![qty]);
    let error = avro
        .prepare(&topic, false, &altered.envelope)
        .await
        .unwrap_err();
    let AvroError::Incompatible {
        ref subject,
        ref message,
        ref changes,
    } = error
    else {
        panic!("expected the registry's refusal, got {error:?}");
    };
    assert_eq!(subject, "fx.public.orders-value");
    // Confluent's message, verbatim (Avro's resolution fails at the `before` and
    // `after` unions, which is what it names).
    assert!(
        message.starts_with(
            "Schema being registered is incompatible with an earlier schema for subject \"fx.public.orders-value\""
        ),
        "{message}"
    );
    assert!(message.contains("BACKWARD"), "{message}");
    // The column behind it, found by comparing with the subject's latest schema.
    assert_eq!(
        changes,
        &[FieldChange {
            record: "fx.public.orders.Value".to_owned(),
            field: "qty".to_owned(),
            change: Change::Added { has_default: false },
        }]
    );
    assert!(!error.is_retriable());
    assert_eq!(error.registry_error_code(), Some(409));
    let shown = error.to_string();
    assert!(
        shown.contains("fx.public.orders.Value.qty: added without a default")
            && shown.contains(message.as_str()),
        "{shown}"
    );
    // Nothing was cached for the refused schema.
    assert_eq!(avro.prepared_id(&topic, false, &altered.envelope), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn subject_name_strategies() {
    let server = Server::start(None).await;
    let tables = orders(vec![]);
    let topic = tables.id.topic();
    let config = AvroConverterConfig::from_properties([
        ("schema.registry.url", server.url.as_str()),
        (
            "key.subject.name.strategy",
            "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
        ),
        (
            "value.subject.name.strategy",
            "io.confluent.kafka.serializers.subject.RecordNameStrategy",
        ),
    ])
    .unwrap();
    let mut avro = AvroConverter::new(config).unwrap();
    avro.prepare(&topic, true, tables.key.as_ref().unwrap())
        .await
        .unwrap();
    avro.prepare(&topic, false, &tables.envelope).await.unwrap();
    assert_eq!(
        server.get("/subjects").await,
        json!([
            "fx.public.orders-fx.public.orders.Key",
            "fx.public.orders.Envelope"
        ])
    );
    // A record strategy needs a record: an optional struct is a union.
    let optional = tables.value.clone();
    let error = avro.prepare(&topic, false, &optional).await.unwrap_err();
    assert!(
        error.to_string().contains("must only be a record schema"),
        "{error}"
    );
    assert_eq!(
        avro.config().subject_name_strategy(false),
        SubjectNameStrategy::RecordName
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_and_latest_version_without_registering() {
    let server = Server::start(None).await;
    let tables = orders(vec![]);
    let topic = tables.id.topic();
    let registered = converter(&server.url)
        .prepare(&topic, false, &tables.envelope)
        .await
        .unwrap();

    let lookup = AvroConverterConfig::from_properties([
        ("schema.registry.url", server.url.as_str()),
        ("auto.register.schemas", "false"),
    ])
    .unwrap();
    let mut reader = AvroConverter::new(lookup.clone()).unwrap();
    assert_eq!(
        reader
            .prepare(&topic, false, &tables.envelope)
            .await
            .unwrap(),
        registered
    );
    let unknown = reader
        .prepare(&topic, true, tables.key.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(unknown.registry_error_code(), Some(40401), "{unknown}");

    let mut latest = AvroConverter::new(AvroConverterConfig {
        use_latest_version: true,
        ..lookup
    })
    .unwrap();
    assert_eq!(
        latest
            .prepare(&topic, false, &tables.envelope)
            .await
            .unwrap(),
        registered
    );
    let changed = orders(vec![scalar("note", PgScalar::Text, "text")]);
    let differs = latest
        .prepare(&topic, false, &changed.envelope)
        .await
        .unwrap_err();
    assert!(
        matches!(differs, AvroError::LatestVersionDiffers { id, .. } if id == registered),
        "{differs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_and_failover() {
    let server = Server::start(Some("fred:s3cret")).await;
    let tables = orders(vec![]);
    let topic = tables.id.topic();

    let anonymous = converter(&server.url)
        .prepare(&topic, false, &tables.envelope)
        .await
        .unwrap_err();
    assert!(
        matches!(
            anonymous,
            AvroError::Registry {
                status: 401,
                error_code: 401,
                ..
            }
        ),
        "{anonymous}"
    );

    // The first URL refuses connections; the client moves on to the second.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let urls = format!("{closed_url},{}", server.url);
    let config = AvroConverterConfig::from_properties([
        ("schema.registry.url", urls.as_str()),
        ("basic.auth.credentials.source", "USER_INFO"),
        ("basic.auth.user.info", "fred:s3cret"),
    ])
    .unwrap();
    let mut avro = AvroConverter::new(config).unwrap();
    avro.prepare(&topic, false, &tables.envelope).await.unwrap();

    // Credentials in the URL (basic.auth.credentials.source=URL, the default).
    let in_url = server.url.replace("http://", "http://fred:s3cret@");
    converter(&in_url)
        .prepare(&topic, true, tables.key.as_ref().unwrap())
        .await
        .unwrap();

    let down = converter(&closed_url)
        .prepare(&topic, false, &tables.envelope)
        .await
        .unwrap_err();
    assert!(
        matches!(down, AvroError::Unreachable { .. }) && down.is_retriable(),
        "{down}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tombstones_have_no_bytes() {
    let server = Server::start(None).await;
    let tables = orders(vec![]);
    let topic = tables.id.topic();
    let mut avro = converter(&server.url);
    assert_eq!(
        avro.from_connect_data(&topic, false, None, &Value::Null)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        avro.from_connect_data(&topic, false, Some(&tables.value), &Value::Null)
            .await
            .unwrap(),
        None
    );
    assert!(avro
        .from_connect_data(&topic, false, Some(&tables.envelope), &Value::Null)
        .await
        .is_err());
    assert_eq!(server.requests(), 0, "a tombstone registers nothing");
    let mut out = Vec::new();
    assert!(avro
        .encode(SchemaId(1), &tables.envelope, &Value::Null, &mut out)
        .is_err());
}

// ---- Interop with Confluent's Python deserializer --------------------------------

/// The columns of the benchmark table and more, one of each kind Debezium maps to a
/// different Connect schema.
fn every_type_table() -> TableSchemas {
    let mut id = scalar("id", PgScalar::Int4, "int4");
    id.optional = false;
    id.key_position = Some(0);
    let mut code = scalar("code", PgScalar::Text, "text");
    code.optional = false;
    code.key_position = Some(1);
    let columns = vec![
        id,
        code,
        scalar("name", PgScalar::Text, "text"),
        column(
            "amount",
            PgColumnType::Scalar(PgScalar::Numeric),
            "numeric",
            numeric(10, 2),
        ),
        scalar("created", PgScalar::Timestamptz, "timestamptz"),
        scalar("flag", PgScalar::Bool, "bool"),
        scalar("qty", PgScalar::Int8, "int8"),
        column(
            "note",
            PgColumnType::Scalar(PgScalar::Varchar),
            "varchar",
            24,
        ),
        scalar("score", PgScalar::Float8, "float8"),
        scalar("day", PgScalar::Date, "date"),
        scalar("small", PgScalar::Int2, "int2"),
        scalar("ratio", PgScalar::Float4, "float4"),
        scalar("data", PgScalar::Bytea, "bytea"),
        column("tags", PgColumnType::Array(PgScalar::Text), "_text", -1),
        scalar("doc", PgScalar::Jsonb, "jsonb"),
        scalar("uid", PgScalar::Uuid, "uuid"),
        scalar("at", PgScalar::Time, "time"),
        scalar("ts", PgScalar::Timestamp, "timestamp"),
        scalar("price", PgScalar::Numeric, "numeric"),
        column(
            "neg_scale",
            PgColumnType::Scalar(PgScalar::Numeric),
            "numeric",
            numeric(3, -2),
        ),
    ];
    TableSchemas::new(
        TableId::new("fx", "public", "every_type"),
        &columns,
        &ValueModes::default(),
    )
}

/// Connect's own logical types and the converter's special cases, which Debezium's
/// PostgreSQL schemas do not all reach.
fn every_rule_schema() -> Schema {
    Schema::structure(vec![
        Field::new("i8", Schema::int8()),
        Field::new("i16", Schema::int16().optional()),
        Field::new("f32", Schema::float32()),
        Field::new("date", logical::connect_date()),
        Field::new("time", logical::connect_time().optional()),
        Field::new("timestamp", logical::connect_timestamp()),
        Field::new("decimal", logical::decimal(3)),
        Field::new(
            "defaulted",
            Schema::string().optional().with_default(Value::from("d")),
        ),
        Field::new(
            "by_number",
            Schema::map(Schema::int32(), Schema::string().optional()),
        ),
        Field::new("by_name", Schema::map(Schema::string(), Schema::int64())),
        Field::new(
            "nested",
            Schema::structure(vec![Field::new("x", Schema::boolean())]).optional(),
        ),
        Field::new(
            "either",
            Schema::structure(vec![
                Field::new("int", Schema::int32().optional()),
                Field::new("string", Schema::string().optional()),
            ])
            .named("io.confluent.connect.avro.Union"),
        ),
        Field::new(
            "fixed",
            Schema::bytes()
                .named("fx.Four")
                .with_parameter("connect.fixed.size", "4"),
        ),
    ])
    .named("fx.rules.Value")
}

/// A deterministic value of `schema`: `variant` 0 has large and unusual values, 1 nulls
/// wherever allowed, 2 small and negative ones.
fn sample(schema: &Schema, variant: usize) -> Value {
    if schema.optional && variant == 1 {
        return Value::Null;
    }
    let pick = |values: [Value; 3]| values[variant % 3].clone();
    let name = schema.name.as_deref().unwrap_or_default();
    match &schema.kind {
        SchemaKind::Int8 => pick([Value::Int8(i8::MAX), Value::Int8(0), Value::Int8(i8::MIN)]),
        SchemaKind::Int16 => pick([
            Value::Int16(i16::MAX),
            Value::Int16(0),
            Value::Int16(i16::MIN),
        ]),
        SchemaKind::Int32 if name == logical::CONNECT_DATE => {
            pick([Value::Int32(19_844), Value::Int32(0), Value::Int32(-365)])
        }
        SchemaKind::Int32 if name == logical::CONNECT_TIME => pick([
            Value::Int32(45_296_789),
            Value::Int32(0),
            Value::Int32(86_399_999),
        ]),
        SchemaKind::Int32 => pick([
            Value::Int32(i32::MAX),
            Value::Int32(0),
            Value::Int32(i32::MIN),
        ]),
        SchemaKind::Int64 if name == logical::CONNECT_TIMESTAMP => pick([
            Value::Int64(1_714_566_896_789),
            Value::Int64(0),
            Value::Int64(-1_000),
        ]),
        SchemaKind::Int64 => pick([
            Value::Int64(i64::MAX),
            Value::Int64(0),
            Value::Int64(i64::MIN),
        ]),
        SchemaKind::Float32 => pick([
            Value::Float32(f32::MAX),
            Value::Float32(f32::NAN),
            Value::Float32(-0.1),
        ]),
        SchemaKind::Float64 => pick([
            Value::Float64(f64::INFINITY),
            Value::Float64(f64::NAN),
            Value::Float64(-1.5e-300),
        ]),
        SchemaKind::Boolean => pick([
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Boolean(false),
        ]),
        SchemaKind::String => pick([
            Value::from("héllo 🎉 \"q\" \\ \n\u{1}"),
            Value::from(""),
            Value::from("x".repeat(300)),
        ]),
        SchemaKind::Bytes if name == logical::DECIMAL => pick([
            // 12345678.90, 0, -0.05 at scale 2 (two's complement, minimal).
            Value::Bytes(vec![0x49, 0x96, 0x02, 0xd2]),
            Value::Bytes(vec![0x00]),
            Value::Bytes(vec![0xfb]),
        ]),
        SchemaKind::Bytes if schema.parameter("connect.fixed.size").is_some() => pick([
            Value::Bytes(vec![1, 2, 3, 4]),
            Value::Bytes(vec![0; 4]),
            Value::Bytes(vec![0xff; 4]),
        ]),
        SchemaKind::Bytes => pick([
            Value::Bytes(vec![0, 1, 0xff]),
            Value::Bytes(vec![]),
            Value::Bytes(vec![0x80]),
        ]),
        SchemaKind::Array(items) => Value::Array(vec![
            sample(items, variant),
            sample(items, (variant + 1) % 3),
        ]),
        SchemaKind::Map { keys, values } => Value::Map(vec![
            (sample(keys, 0), sample(values, variant)),
            (sample(keys, 2), sample(values, (variant + 1) % 3)),
        ]),
        SchemaKind::Struct(fields) if name == "io.confluent.connect.avro.Union" => {
            let mut members = vec![Value::Null; fields.len()];
            let chosen = variant % fields.len();
            members[chosen] = sample(&fields[chosen].schema.clone().with_optional(false), variant);
            Value::Struct(members)
        }
        SchemaKind::Struct(fields) => {
            Value::Struct(fields.iter().map(|f| sample(&f.schema, variant)).collect())
        }
    }
}

/// What Python gets, in the tagged JSON the script prints: Decimals as their
/// unscaled integer and scale, Connect dates/times/timestamps as numbers, bytes as
/// hex, floats as their IEEE bits (Python floats are doubles).
fn expected(schema: &Schema, value: &Value) -> Json {
    let value = match (value, &schema.default) {
        (Value::Null, Some(default)) => default,
        _ => value,
    };
    let name = schema.name.as_deref().unwrap_or_default();
    match (&schema.kind, value) {
        (_, Value::Null) => Json::Null,
        (SchemaKind::Bytes, Value::Bytes(b)) if name == logical::DECIMAL => {
            let mut unscaled: i128 = if b.first().is_some_and(|x| x & 0x80 != 0) {
                -1
            } else {
                0
            };
            for byte in b {
                unscaled = (unscaled << 8) | i128::from(*byte);
            }
            json!({"$decimal": [unscaled.to_string(), schema.parameter("scale").unwrap().parse::<i64>().unwrap()]})
        }
        (_, Value::Int32(v)) if name == logical::CONNECT_DATE => json!({ "$date": v }),
        (_, Value::Int32(v)) if name == logical::CONNECT_TIME => json!({ "$time_ms": v }),
        (_, Value::Int64(v)) if name == logical::CONNECT_TIMESTAMP => json!({ "$timestamp_ms": v }),
        (_, Value::Int8(v)) => json!(v),
        (_, Value::Int16(v)) => json!(v),
        (_, Value::Int32(v)) => json!(v),
        (_, Value::Int64(v)) => json!(v),
        (_, Value::Float32(v)) => json!({ "$f64": f64::from(*v).to_bits() as i64 }),
        (_, Value::Float64(v)) => json!({ "$f64": v.to_bits() as i64 }),
        (_, Value::Boolean(v)) => json!(v),
        (_, Value::String(v)) => json!(v),
        (_, Value::Bytes(v)) => {
            json!({ "$bytes": v.iter().map(|b| format!("{b:02x}")).collect::<String>() })
        }
        (SchemaKind::Array(items), Value::Array(elements)) => {
            Json::Array(elements.iter().map(|e| expected(items, e)).collect())
        }
        (SchemaKind::Map { keys, values }, Value::Map(entries))
            if matches!(keys.kind, SchemaKind::String) && !keys.optional =>
        {
            Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let Value::String(k) = k else {
                            panic!("string key")
                        };
                        (k.clone(), expected(values, v))
                    })
                    .collect(),
            )
        }
        (SchemaKind::Map { keys, values }, Value::Map(entries)) => Json::Array(
            entries
                .iter()
                .map(|(k, v)| json!({"key": expected(keys, k), "value": expected(values, v)}))
                .collect(),
        ),
        (SchemaKind::Struct(fields), Value::Struct(values))
            if name == "io.confluent.connect.avro.Union" =>
        {
            fields
                .iter()
                .zip(values)
                .find(|(_, v)| !v.is_null())
                .map_or(Json::Null, |(f, v)| expected(&f.schema, v))
        }
        (SchemaKind::Struct(fields), Value::Struct(values)) => Json::Object(
            fields
                .iter()
                .zip(values)
                .map(|(f, v)| (f.name.clone(), expected(&f.schema, v)))
                .collect(),
        ),
        (kind, value) => panic!("{value:?} is not a {kind:?}"),
    }
}

const SCRIPT: &str = r#"
import datetime, decimal, json, math, struct, sys
import avro.schema
import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

def tag(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return {"$f64": struct.unpack("<q", struct.pack("<d", v))[0]}
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, decimal.Decimal):
        t = v.as_tuple()
        unscaled = int("".join(map(str, t.digits)) or "0") * (-1 if t.sign else 1)
        return {"$decimal": [str(unscaled), -t.exponent]}
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return {"$timestamp_ms": (v - EPOCH) // datetime.timedelta(milliseconds=1)}
    if isinstance(v, datetime.date):
        return {"$date": (v - datetime.date(1970, 1, 1)).days}
    if isinstance(v, datetime.time):
        return {"$time_ms": ((v.hour * 60 + v.minute) * 60 + v.second) * 1000 + v.microsecond // 1000}
    if isinstance(v, dict):
        return {k: tag(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [tag(x) for x in v]
    raise TypeError(type(v))

request = json.load(sys.stdin)
client = SchemaRegistryClient({"url": sys.argv[1]})
deserializer = AvroDeserializer(client)
decoded = []
for record in request["records"]:
    field = MessageField.KEY if record["key"] else MessageField.VALUE
    value = deserializer(bytes.fromhex(record["hex"]), SerializationContext(record["topic"], field))
    decoded.append(tag(value))
for text in request["schemas"]:
    fastavro.parse_schema(json.loads(text))
    avro.schema.parse(text)
print(json.dumps({"decoded": decoded, "schemas_checked": len(request["schemas"])}))
"#;

fn python() -> String {
    std::env::var("PGCDC_PYTHON").unwrap_or_else(|_| "/var/cache/pgcdc/venv/bin/python".to_owned())
}

async fn run_python(url: &str, request: &Json) -> Json {
    let python = python();
    assert!(
        std::path::Path::new(&python).exists(),
        "Python interop needs {python} (set PGCDC_PYTHON, or run ./dev/stack install to create the venv)"
    );
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Python side failed (needs confluent-kafka[avro,schemaregistry], fastavro and avro in the venv):\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn confluent_python_deserializer_reads_pgcdc_records() {
    let server = Server::start(None).await;
    let mut avro = converter(&server.url);
    let tables = every_type_table();
    let topic = tables.id.topic();
    let key_schema = tables.key.clone().unwrap();

    let source = |ts_us| SourceInfo {
        version: "3.7.0.Final".to_owned(),
        name: "fx".to_owned(),
        ts_us,
        snapshot: SnapshotMarker::False,
        db: "shop".to_owned(),
        sequence: Some("[null,\"23456\"]".to_owned()),
        schema: "public".to_owned(),
        table: "every_type".to_owned(),
        tx_id: Some(771),
        lsn: Some(23_456),
        xmin: None,
        origin: None,
        origin_lsn: None,
    };
    let row = |variant| sample(&tables.value.clone().with_optional(false), variant);
    let envelopes = [
        (Op::Create, None, Some(row(0))),
        (Op::Update, Some(row(0)), Some(row(2))),
        (Op::Update, Some(row(1)), Some(row(1))),
        (Op::Delete, Some(row(2)), None),
    ];

    let mut records = Vec::new();
    let mut wanted = Vec::new();
    let mut out = Vec::new();
    for (i, (op, before, after)) in envelopes.into_iter().enumerate() {
        let Some(Value::Struct(key_row)) = after.clone().or_else(|| before.clone()) else {
            unreachable!("a row")
        };
        let key = Value::Struct(vec![key_row[0].clone(), key_row[1].clone()]);
        let envelope = Envelope {
            before,
            after,
            source: source(1_714_566_896_789_123 + i as i64).to_value(),
            transaction: None,
            op,
            processed_at_ns: 1_714_566_897_000_000_001,
        }
        .to_value();
        for (is_key, schema, value) in [
            (true, &key_schema, &key),
            (false, &tables.envelope, &envelope),
        ] {
            let id = avro.prepare(&topic, is_key, schema).await.unwrap();
            out.clear();
            avro.encode(id, schema, value, &mut out).unwrap();
            records.push(json!({"topic": topic, "key": is_key, "hex": hex(&out)}));
            wanted.push(expected(schema, value));
        }
    }

    // The converter's special cases, on their own topic.
    let rules = every_rule_schema();
    for variant in 0..3 {
        let value = sample(&rules, variant);
        let bytes = avro
            .from_connect_data("fx.rules", false, Some(&rules), &value)
            .await
            .unwrap()
            .unwrap();
        records.push(json!({"topic": "fx.rules", "key": false, "hex": hex(&bytes)}));
        wanted.push(expected(&rules, &value));
    }

    // Every derived schema must be valid Avro for fastavro and the Python avro library.
    let schemas: Vec<String> = [
        &key_schema,
        &tables.envelope,
        &rules,
        &orders(vec![]).envelope,
    ]
    .into_iter()
    .map(|s| avro.avro_schema(s).unwrap().to_text())
    .collect();

    let answer = run_python(
        &server.url,
        &json!({"records": records, "schemas": schemas}),
    )
    .await;
    assert_eq!(answer["schemas_checked"], json!(schemas.len()));
    let decoded = answer["decoded"].as_array().unwrap();
    assert_eq!(decoded.len(), wanted.len());
    for (i, (got, want)) in decoded.iter().zip(&wanted).enumerate() {
        assert_eq!(
            got, want,
            "record {i}: Python read\n{got:#}\nexpected\n{want:#}"
        );
    }
}

#[tokio::test]
async fn a_shared_client_caches_across_converters() {
    let server = Server::start(None).await;
    let config = AvroConverterConfig::new(server.url.clone());
    let client = Arc::new(RegistryClient::new(&config).unwrap());
    let tables = orders(vec![]);
    let topic = tables.id.topic();
    let mut first = AvroConverter::with_client(config.clone(), Arc::clone(&client));
    let mut second = AvroConverter::with_client(config, Arc::clone(&client));
    let id = first
        .prepare(&topic, false, &tables.envelope)
        .await
        .unwrap();
    assert_eq!(
        second
            .prepare(&topic, false, &tables.envelope)
            .await
            .unwrap(),
        id
    );
    assert_eq!(server.requests(), 1);
    let text = client.schema_by_id(id).await.unwrap();
    assert_eq!(server.requests(), 1, "the registered text is known by id");
    assert_eq!(
        &*text,
        first.avro_schema(&tables.envelope).unwrap().to_text()
    );
}
