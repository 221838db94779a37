//! The local stack is real: PostgreSQL with logical decoding, an Apache Kafka broker
//! with transactions and no topic auto-creation, and Redis. Every other suite relies
//! on these facts, so they are checked first and on their own.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::{unique_name, Stack, TestDb};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::ClientConfig;

#[tokio::test]
async fn postgres_runs_logical_decoding_on_the_requested_version() {
    let db = TestDb::create("stack_pg").await.unwrap();
    let client = db.client().await.unwrap();

    let wal_level: String = client
        .query_one("SHOW wal_level", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wal_level, "logical");
    let version: String = client
        .query_one("SHOW server_version_num", &[])
        .await
        .unwrap()
        .get(0);
    let major = version.parse::<u32>().unwrap() / 10_000;
    assert_eq!(
        major, db.server.version,
        "the stack's PostgreSQL {} port serves {version}",
        db.server.version
    );

    client
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION {} FOR TABLE t",
            db.publication_name()
        ))
        .await
        .unwrap();
    let slot = db.slot_name();
    client
        .query_one(
            "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&slot],
        )
        .await
        .unwrap();
    assert_eq!(db.slots().await.unwrap(), vec![slot.clone()]);

    // pgoutput speaks binary: peek through the slot the way a replication client
    // would read it, and expect Begin, Relation, Insert, Commit.
    client
        .batch_execute("INSERT INTO t VALUES (1, 'x')")
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT get_byte(data, 0) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, \
             'proto_version', '1', 'publication_names', $2)",
            &[&slot, &db.publication_name()],
        )
        .await
        .unwrap();
    let tags: String = rows
        .iter()
        .map(|r| char::from(r.get::<_, i32>(0) as u8))
        .collect();
    assert!(tags.ends_with("BRIC"), "pgoutput sent {tags:?}");

    client
        .query_one("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .unwrap();
    assert!(db.slots().await.unwrap().is_empty());
}

#[tokio::test]
async fn kafka_creates_topics_and_round_trips_records_in_order() {
    let topic = unique_name("stack_topic");
    kafka::create_topic(&topic, 3).await.unwrap();
    let producer = kafka::producer().unwrap();
    for i in 0..20 {
        kafka::produce(
            &producer,
            &topic,
            b"same-key",
            format!("value-{i}").as_bytes(),
        )
        .await
        .unwrap();
    }
    let records = kafka::read_topic(
        &topic,
        Isolation::ReadCommitted,
        Some(20),
        Duration::from_secs(30),
    )
    .unwrap();
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("value-{i}")).collect();
    assert_eq!(
        values, expected,
        "one key lands in one partition, in produce order"
    );
    assert!(records.iter().all(|r| r.partition == records[0].partition));
    assert_eq!(
        records[0].headers,
        vec![("test".to_owned(), b"pgcdc".to_vec())]
    );
    kafka::delete_topics(&[&topic]).await.unwrap();
}

#[tokio::test]
async fn kafka_does_not_create_topics_on_demand() {
    let topic = unique_name("stack_missing");
    let producer: FutureProducer = kafka::client_config()
        .set("message.timeout.ms", "3000")
        .set("allow.auto.create.topics", "true")
        .create()
        .unwrap();
    let sent = kafka::produce(&producer, &topic, b"k", b"v").await;
    assert!(
        sent.is_err(),
        "the broker accepted a record for a topic nobody created"
    );
}

#[tokio::test]
async fn kafka_read_committed_sees_committed_transactions_only() {
    let topic = unique_name("stack_txn");
    kafka::create_topic(&topic, 1).await.unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", Stack::get().kafka_bootstrap())
        .set("transactional.id", unique_name("stack_txn_producer"))
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    let timeout = Duration::from_secs(30);
    producer.init_transactions(timeout).unwrap();

    producer.begin_transaction().unwrap();
    kafka::produce(&producer, &topic, b"k", b"committed-1")
        .await
        .unwrap();
    producer.commit_transaction(timeout).unwrap();

    producer.begin_transaction().unwrap();
    kafka::produce(&producer, &topic, b"k", b"aborted")
        .await
        .unwrap();
    producer.abort_transaction(timeout).unwrap();

    producer.begin_transaction().unwrap();
    kafka::produce(&producer, &topic, b"k", b"committed-2")
        .await
        .unwrap();
    producer.commit_transaction(timeout).unwrap();

    let values = |isolation| -> Vec<String> {
        kafka::read_topic(&topic, isolation, None, Duration::from_secs(20))
            .unwrap()
            .into_iter()
            .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
            .collect()
    };
    assert_eq!(
        values(Isolation::ReadCommitted),
        ["committed-1", "committed-2"]
    );
    assert_eq!(
        values(Isolation::ReadUncommitted),
        ["committed-1", "aborted", "committed-2"]
    );
    kafka::delete_topics(&[&topic]).await.unwrap();
}

#[tokio::test]
async fn redis_round_trips_a_key_with_a_ttl() {
    let client = redis::Client::open(Stack::get().redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = unique_name("stack_redis");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("value")
        .arg("EX")
        .arg(60)
        .query_async(&mut connection)
        .await
        .unwrap();
    let value: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("value"));
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
}
