//! The oracle works: the reference Kafka Connect worker runs the real Debezium
//! PostgreSQL connector against the stack, so compatibility tests can trust what it
//! writes. This is checked before any differential test relies on it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use pgcdc_tests::debezium::{connector_config, DebeziumConnector};
use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::TestDb;
use serde_json::json;

#[tokio::test]
async fn debezium_captures_a_snapshot_row_and_a_streamed_insert() {
    let db = TestDb::create("dbz_ref").await.unwrap();
    let client = db.client().await.unwrap();
    client
        .batch_execute("CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL); INSERT INTO customers VALUES (1, 'Ada')")
        .await
        .unwrap();

    let config = connector_config(
        &db,
        &["public.customers"],
        json!({"snapshot.mode": "initial"}),
    );
    let connector = DebeziumConnector::start(&db.name, config).await.unwrap();
    client
        .batch_execute("INSERT INTO customers VALUES (2, 'Grace')")
        .await
        .unwrap();

    let topic = format!("{}.public.customers", db.topic_prefix());
    let records = kafka::read_topic(
        &topic,
        Isolation::ReadCommitted,
        Some(2),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(records.len(), 2, "records on {topic}: {records:?}");

    let snapshot = records[0].value_json().unwrap();
    let streamed = records[1].value_json().unwrap();
    // JsonConverter with schemas.enable=true: the Connect schema travels with the payload.
    assert_eq!(
        snapshot["schema"]["name"],
        format!("{}.public.customers.Envelope", db.topic_prefix())
    );
    assert_eq!(snapshot["payload"]["op"], "r");
    assert_eq!(
        snapshot["payload"]["after"],
        json!({"id": 1, "name": "Ada"})
    );
    assert_eq!(streamed["payload"]["op"], "c");
    assert_eq!(
        streamed["payload"]["after"],
        json!({"id": 2, "name": "Grace"})
    );
    assert_eq!(streamed["payload"]["source"]["connector"], "postgresql");
    assert_eq!(streamed["payload"]["source"]["db"], db.name);
    assert_eq!(records[1].key_json().unwrap()["payload"], json!({"id": 2}));

    drop(connector);
}
