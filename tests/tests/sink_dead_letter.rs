//! Poison records against the real stack: bytes that are not JSON, and a row the
//! warehouse refuses (a CHECK constraint), among good records in one batch.
//!
//! - `errors.tolerance=all` with a dead-letter topic: the good records apply exactly
//!   once, the offsets move past the bad ones, and the dead-letter topic holds the bad
//!   records as consumed, with Kafka Connect's `__connect.errors.*` headers;
//! - `errors.tolerance=none`: the task stops with an error naming the record's
//!   topic, partition and offset and the reason, and nothing of the batch is applied.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::sink_support::{
    comparing_client, sink_config, sink_properties, stored_offsets, SinkTask,
};
use pgcdc_tests::TestDb;
use serde_json::json;

/// A flat row `{id, v}` as JsonConverter writes it (no envelope: the sink upserts it).
fn row(id: i32, v: i32) -> (Vec<u8>, Vec<u8>) {
    let key = json!({
        "schema": {"type": "struct", "optional": false, "name": "k",
                   "fields": [{"field": "id", "type": "int32", "optional": false}]},
        "payload": {"id": id}
    });
    let value = json!({
        "schema": {"type": "struct", "optional": false, "name": "v",
                   "fields": [{"field": "id", "type": "int32", "optional": false},
                              {"field": "v", "type": "int32", "optional": true}]},
        "payload": {"id": id, "v": v}
    });
    (key.to_string().into_bytes(), value.to_string().into_bytes())
}

/// Five records: good, not JSON, refused by the CHECK (v >= 0), good, an update.
async fn produce_batch(topic: &str) {
    kafka::create_topic(topic, 1).await.unwrap();
    let producer = kafka::producer().unwrap();
    let (k1, v1) = row(1, 1);
    let (k2, v2) = row(2, -5);
    let (k3, v3) = row(3, 3);
    let (k1b, v1b) = row(1, 10);
    let records: [(&[u8], &[u8]); 5] = [
        (&k1, &v1),
        (b"{\"broken", b"not json at all"),
        (&k2, &v2),
        (&k3, &v3),
        (&k1b, &v1b),
    ];
    for (key, value) in records {
        kafka::produce(&producer, topic, key, value).await.unwrap();
    }
}

async fn warehouse_with_checked_table(label: &str, table: &str) -> TestDb {
    let warehouse = TestDb::create(label).await.unwrap();
    warehouse
        .client()
        .await
        .unwrap()
        .batch_execute(&format!(
            "CREATE TABLE {table} (id integer PRIMARY KEY, v integer CHECK (v >= 0))"
        ))
        .await
        .unwrap();
    warehouse
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tolerated_poison_goes_to_the_dead_letter_topic_and_the_rest_applies_once() {
    let topic = pgcdc_tests::unique_name("dlq_src");
    let dead_letters = format!("{topic}_dlq");
    let table = topic.replace('.', "_");
    let warehouse = warehouse_with_checked_table("sink_dlq_dw", &table).await;
    produce_batch(&topic).await;
    let sink_name = format!("{}_sink", warehouse.name);
    let properties = sink_properties(
        &sink_name,
        &warehouse,
        std::slice::from_ref(&topic),
        json!({
            "delete.enabled": "false",
            "truncate.enabled": "false",
            "batch.size": "100",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": dead_letters,
            "errors.deadletterqueue.context.headers.enable": "true",
            "errors.deadletterqueue.topic.replication.factor": "1",
        }),
    );
    let sink = SinkTask::start(sink_config(&properties).unwrap());
    let client = comparing_client(&warehouse).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = stored_offsets(&client, &sink_name)
            .await
            .unwrap_or_default();
        if stored.get(&(topic.clone(), 0)).copied().flatten() == Some(5) {
            break;
        }
        assert!(!sink.is_finished(), "the sink stopped");
        assert!(
            Instant::now() < deadline,
            "offsets did not reach 5: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows: BTreeMap<i32, Option<i32>> = client
        .query(&format!("SELECT id, v FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, BTreeMap::from([(1, Some(10)), (3, Some(3))]));

    let dead = kafka::read_topic(
        &dead_letters,
        Isolation::ReadCommitted,
        Some(2),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let header = |record: &kafka::Record, name: &str| {
        record
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| panic!("no header {name} in {:?}", record.headers))
    };
    // As consumed: key, value and the original headers.
    assert_eq!(dead[0].value.as_deref(), Some(&b"not json at all"[..]));
    assert_eq!(dead[0].key.as_deref(), Some(&b"{\"broken"[..]));
    assert_eq!(header(&dead[0], "test"), "pgcdc");
    assert_eq!(header(&dead[0], "__connect.errors.topic"), topic);
    assert_eq!(header(&dead[0], "__connect.errors.partition"), "0");
    assert_eq!(header(&dead[0], "__connect.errors.offset"), "1");
    assert_eq!(header(&dead[0], "__connect.errors.stage"), "KEY_CONVERTER");
    assert_eq!(
        header(&dead[0], "__connect.errors.class.name"),
        "org.apache.kafka.connect.json.JsonConverter"
    );
    assert_eq!(
        header(&dead[0], "__connect.errors.exception.class.name"),
        "org.apache.kafka.connect.errors.DataException"
    );
    assert_eq!(
        header(&dead[0], "__connect.errors.connector.name"),
        sink_name
    );
    assert!(!header(&dead[0], "__connect.errors.exception.stacktrace").is_empty());

    assert_eq!(dead[1].value, Some(row(2, -5).1));
    assert_eq!(header(&dead[1], "__connect.errors.offset"), "2");
    assert_eq!(header(&dead[1], "__connect.errors.stage"), "TASK_PUT");
    let message = header(&dead[1], "__connect.errors.exception.message");
    assert!(message.contains("check constraint"), "{message}");
    assert!(message.contains("23514"), "{message}");

    let stats = sink.stop().await.unwrap();
    assert_eq!(stats.rejected, 2, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tolerance_the_task_stops_naming_the_record() {
    // A record that does not decode.
    let topic = pgcdc_tests::unique_name("dlq_none");
    let table = topic.replace('.', "_");
    let warehouse = warehouse_with_checked_table("sink_dlq_none_dw", &table).await;
    produce_batch(&topic).await;
    let error = stopped_with(&warehouse, &topic).await;
    assert!(error.contains(&format!("{topic}/0@1")), "{error}");
    assert!(error.contains("key: "), "{error}");
    let client = warehouse.client().await.unwrap();
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "nothing of the batch is applied");

    // A row the warehouse refuses: found by applying the batch record by record.
    let topic = pgcdc_tests::unique_name("dlq_refused");
    let table = topic.replace('.', "_");
    let warehouse = warehouse_with_checked_table("sink_dlq_refused_dw", &table).await;
    kafka::create_topic(&topic, 1).await.unwrap();
    let producer = kafka::producer().unwrap();
    for (id, v) in [(1, 1), (2, -5), (3, 3)] {
        let (key, value) = row(id, v);
        kafka::produce(&producer, &topic, &key, &value)
            .await
            .unwrap();
    }
    let error = stopped_with(&warehouse, &topic).await;
    assert!(error.contains(&format!("{topic}/0@1")), "{error}");
    assert!(error.contains("check constraint"), "{error}");
    let count: i64 = warehouse
        .client()
        .await
        .unwrap()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "nothing of the batch is applied");
}

/// Runs a sink without tolerance until it stops; its error.
async fn stopped_with(warehouse: &TestDb, topic: &str) -> String {
    let properties = sink_properties(
        &format!("{}_sink", warehouse.name),
        warehouse,
        &[topic.to_owned()],
        json!({"delete.enabled": "false", "truncate.enabled": "false", "batch.size": "100"}),
    );
    let sink = SinkTask::start(sink_config(&properties).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sink.is_finished() {
        assert!(Instant::now() < deadline, "the sink did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sink.stop().await.unwrap_err().to_string()
}
