//! The connector with Confluent's Avro converter, through pgcdc's embedded Schema
//! Registry over HTTP: records in Confluent's wire format whose ids resolve to the
//! schemas Confluent's converter derives, `<topic>-key`/`<topic>-value` subjects, a new
//! value version after ALTER TABLE, the same schema registered once, and an
//! incompatible change stopping the connector with an error that names the column.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pgcdc_connector::config::PostgresConnectorConfig;
use pgcdc_connector::task::{self, TaskOptions};
use pgcdc_schemas::avro::{decode_datum, parse::parse_schema};
use pgcdc_schemas::registry::{self, Registry};
use pgcdc_tests::kafka::{self, Isolation, Record};
use pgcdc_tests::TestDb;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

async fn start_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(registry::serve(listener, Arc::new(Registry::in_memory())));
    url
}

fn config(db: &TestDb, registry: &str, extra: &[(&str, &str)]) -> PostgresConnectorConfig {
    let mut map: BTreeMap<String, String> = [
        ("name", db.name.as_str()),
        (
            "connector.class",
            "io.debezium.connector.postgresql.PostgresConnector",
        ),
        ("database.hostname", db.server.host.as_str()),
        ("database.user", db.server.user.as_str()),
        ("database.password", db.server.password.as_str()),
        ("database.dbname", db.name.as_str()),
        ("topic.prefix", db.topic_prefix().as_str()),
        ("slot.name", db.slot_name().as_str()),
        ("publication.name", db.publication_name().as_str()),
        ("table.include.list", "public.items"),
        ("publication.autocreate.mode", "filtered"),
        ("key.converter", "io.confluent.connect.avro.AvroConverter"),
        ("key.converter.schema.registry.url", registry),
        ("value.converter", "io.confluent.connect.avro.AvroConverter"),
        ("value.converter.schema.registry.url", registry),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    map.insert("database.port".to_owned(), db.server.port.to_string());
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    PostgresConnectorConfig::from_properties(&map)
        .unwrap()
        .config
}

async fn http_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// A record side decoded with the schema its id names in the registry, as plain JSON.
async fn decode(registry: &str, bytes: &[u8]) -> Value {
    assert_eq!(bytes[0], 0, "Confluent's magic byte");
    let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
    let schema = http_json(&format!("{registry}/schemas/ids/{id}")).await;
    let schema = parse_schema(schema["schema"].as_str().unwrap()).unwrap();
    decode_datum(&schema, &bytes[5..]).unwrap().to_json()
}

fn read(db: &TestDb, expected: usize) -> Vec<Record> {
    kafka::read_topic(
        &format!("{}.public.items", db.topic_prefix()),
        Isolation::ReadCommitted,
        Some(expected),
        Duration::from_secs(60),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_records_resolve_through_the_registry_and_follow_schema_changes() {
    let registry = start_registry().await;
    let db = TestDb::create("avro").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2)); INSERT INTO items VALUES (1, 'tea', 2.50)")
        .await
        .unwrap();
    let config = config(&db, &registry, &[]);
    let options = TaskOptions {
        kafka: kafka::client_config(),
        offsets_topic: format!("{}_offsets", db.name),
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let run_config = config.clone();
    let run_options = options.clone();
    let connector = tokio::spawn(async move { task::run(&run_config, &run_options, stop).await });

    // The snapshot's record first: what follows is streamed.
    assert_eq!(read(&db, 1).len(), 1);
    sql.batch_execute("INSERT INTO items VALUES (2, 'coffee', 3.10)")
        .await
        .unwrap();
    let records = read(&db, 2);
    assert_eq!(records.len(), 2);
    let key = decode(&registry, records[1].key.as_deref().unwrap()).await;
    assert_eq!(key, json!({"id": 2}));
    let value = decode(&registry, records[1].value.as_deref().unwrap()).await;
    assert_eq!(value["op"], "c");
    assert_eq!(value["after"]["name"], "coffee");
    assert_eq!(value["source"]["table"], "items");

    // A new column: a new value schema version, then records written with it.
    sql.batch_execute("ALTER TABLE items ADD COLUMN note text; INSERT INTO items VALUES (3, 'cocoa', 4.00, 'hot')")
        .await
        .unwrap();
    let records = read(&db, 3);
    let value = decode(&registry, records[2].value.as_deref().unwrap()).await;
    assert_eq!(value["after"]["note"], "hot");
    let topic = format!("{}.public.items", db.topic_prefix());
    let subjects = http_json(&format!("{registry}/subjects")).await;
    for side in ["key", "value"] {
        assert!(
            subjects
                .as_array()
                .unwrap()
                .contains(&json!(format!("{topic}-{side}"))),
            "{subjects}"
        );
    }
    let versions = http_json(&format!("{registry}/subjects/{topic}-value/versions")).await;
    assert_eq!(versions, json!([1, 2]), "ALTER TABLE registered version 2");
    let key_versions = http_json(&format!("{registry}/subjects/{topic}-key/versions")).await;
    assert_eq!(key_versions, json!([1]), "the key schema did not change");

    // An incompatible change (the registry's default, BACKWARD, refuses a type change
    // of an existing field): the connector stops and names the column.
    sql.batch_execute("ALTER TABLE items ALTER COLUMN name TYPE int USING length(name); INSERT INTO items VALUES (4, 5, 1.00, NULL)")
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), connector)
        .await
        .expect("the connector stops on the refusal")
        .unwrap();
    let error = result
        .expect_err("an incompatible schema is an error")
        .to_string();
    assert!(
        error.contains("name"),
        "the error names the column: {error}"
    );
    assert!(error.contains("incompatible"), "{error}");
    shutdown.cancel();
    // Nothing past the refusal was published.
    let all = kafka::read_topic(
        &format!("{}.public.items", db.topic_prefix()),
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(all.len(), 3);
}
