//! Reading back partition tails on the real broker: what a restarted connector relies
//! on to send nothing twice.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use pgcdc_connector::offsets::overlap::read_snapshot_keys;
use pgcdc_connector::offsets::tail::read_tails;
use pgcdc_connector::offsets::{SourcePosition, POSITION_HEADER, SNAPSHOT_HEADER};
use pgcdc_connector::Lsn;
use pgcdc_tests::{kafka, unique_name};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

async fn send(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    position: Option<SourcePosition>,
) {
    let header = position.map(|p| p.to_header());
    let headers = OwnedHeaders::new().insert(Header {
        key: POSITION_HEADER,
        value: header.as_deref(),
    });
    let record = FutureRecord::to(topic)
        .partition(partition)
        .key("k")
        .payload("v");
    let record = if position.is_some() {
        record.headers(headers)
    } else {
        record
    };
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// A snapshot record for `key` read at `point`.
async fn send_snapshot(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    point: u64,
) {
    let position = at(point - 1, 0).to_header();
    let point = Lsn(point).to_string();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: POSITION_HEADER,
            value: Some(&position),
        })
        .insert(Header {
            key: SNAPSHOT_HEADER,
            value: Some(&point),
        });
    producer
        .send(
            FutureRecord::to(topic)
                .partition(partition)
                .key(key)
                .payload("v")
                .headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// The tails skip snapshot records and what precedes them; the snapshot's keys are
/// read back with the point each was read at, older series left out.
#[tokio::test]
async fn snapshot_records_are_told_apart_from_streamed_ones() {
    let topic = unique_name("tails_snapshot");
    kafka::create_topic(&topic, 3).await.unwrap();
    let producer = kafka::producer().unwrap();
    // Partition 0: an older slot's stream and snapshot, then this series' snapshot
    // (read at 1000, resumed at 5000), then its stream.
    send(&producer, &topic, 0, Some(at(400, 0))).await;
    send_snapshot(&producer, &topic, 0, "old", 500).await;
    send_snapshot(&producer, &topic, 0, "a", 1_000).await;
    send_snapshot(&producer, &topic, 0, "b", 5_000).await;
    send(&producer, &topic, 0, Some(at(1_200, 3))).await;
    send(&producer, &topic, 0, Some(at(1_300, 0))).await;
    // Partition 1: streamed records of an older slot, then only snapshot records.
    send(&producer, &topic, 1, Some(at(9_000, 0))).await;
    send_snapshot(&producer, &topic, 1, "c", 1_000).await;
    // Partition 2: nothing of the snapshot.
    send(&producer, &topic, 2, Some(at(1_100, 0))).await;

    let config = kafka::client_config();
    let tails = read_tails(
        &config,
        std::slice::from_ref(&topic),
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(tails.get(&topic, 0), Some(at(1_300, 0)));
    assert_eq!(
        tails.get(&topic, 1),
        None,
        "nothing was streamed after the snapshot"
    );
    assert_eq!(tails.get(&topic, 2), Some(at(1_100, 0)));

    let keys = read_snapshot_keys(
        &config,
        std::slice::from_ref(&topic),
        Lsn(1_000),
        None,
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys.point(&topic, b"a"), Some(Lsn(1_000)));
    assert_eq!(keys.point(&topic, b"b"), Some(Lsn(5_000)));
    assert_eq!(keys.point(&topic, b"c"), Some(Lsn(1_000)));
    assert!(
        !keys.contains(&topic, b"old"),
        "a record of an older series"
    );
    // By timestamp: from a time after every record, nothing is read.
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 60_000;
    let none = read_snapshot_keys(
        &config,
        std::slice::from_ref(&topic),
        Lsn(1_000),
        Some(later),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(none.is_empty());
}

fn at(lsn: u64, ordinal: u32) -> SourcePosition {
    SourcePosition::new(Lsn(lsn), ordinal)
}

#[tokio::test]
async fn the_newest_position_of_every_partition_is_read_back() {
    let topic = unique_name("tails");
    kafka::create_topic(&topic, 4).await.unwrap();
    let producer = kafka::producer().unwrap();
    // Partition 0: plain tail. Partition 1: a foreign record (no header) at the end.
    // Partition 2: the newest record committed by a transaction, then an aborted one
    // with a higher position. Partition 3: empty.
    for ordinal in 0..5 {
        send(&producer, &topic, 0, Some(at(100, ordinal))).await;
    }
    send(&producer, &topic, 1, Some(at(100, 1))).await;
    send(&producer, &topic, 1, Some(at(200, 0))).await;
    send(&producer, &topic, 1, None).await;
    send(&producer, &topic, 1, None).await;

    let transactional: FutureProducer = kafka::client_config()
        .set("transactional.id", unique_name("tails_txn"))
        .create()
        .unwrap();
    let timeout = Duration::from_secs(30);
    transactional.init_transactions(timeout).unwrap();
    transactional.begin_transaction().unwrap();
    send(&transactional, &topic, 2, Some(at(300, 0))).await;
    transactional.commit_transaction(timeout).unwrap();
    transactional.begin_transaction().unwrap();
    send(&transactional, &topic, 2, Some(at(400, 0))).await;
    transactional.abort_transaction(timeout).unwrap();

    let missing = unique_name("tails_missing");
    let tails = read_tails(
        &kafka::client_config(),
        &[topic.clone(), missing.clone()],
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(tails.get(&topic, 0), Some(at(100, 4)));
    assert_eq!(
        tails.get(&topic, 1),
        Some(at(200, 0)),
        "foreign records at the end are looked past"
    );
    assert_eq!(
        tails.get(&topic, 2),
        Some(at(300, 0)),
        "an aborted transaction wrote nothing"
    );
    assert_eq!(
        tails.get(&topic, 3),
        None,
        "an empty partition holds nothing"
    );
    assert_eq!(
        tails.get(&missing, 0),
        None,
        "a topic not created yet holds nothing"
    );
    assert!(tails.already_written(&topic, 0, at(100, 4)));
    assert!(!tails.already_written(&topic, 0, at(100, 5)));
    kafka::delete_topics(&[&topic]).await.unwrap();
}

#[tokio::test]
async fn the_producer_creates_topics_and_partitions_keys_like_the_java_client() {
    use pgcdc_connector::producer::{partition_for, EventProducer, OutgoingRecord, TopicSettings};

    let topic = unique_name("producer");
    let settings = TopicSettings {
        partitions: 6,
        replication_factor: 1,
    };
    let mut producer = EventProducer::new(&kafka::client_config(), settings).unwrap();
    assert_eq!(
        producer.ensure_topic(&topic).await.unwrap(),
        6,
        "created with 6 partitions"
    );
    assert_eq!(
        producer.ensure_topic(&topic).await.unwrap(),
        6,
        "and found again"
    );

    // librdkafka's murmur2 partitioner is the Java client's default: the oracle for
    // where a keyed record belongs.
    let reference: FutureProducer = kafka::client_config()
        .set("partitioner", "murmur2")
        .create()
        .unwrap();
    for i in 0..100u32 {
        let key = format!("{{\"id\":{i}}}");
        let delivered = reference
            .send(
                FutureRecord::to(&topic).key(&key).payload("reference"),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        assert_eq!(
            partition_for(Some(key.as_bytes()), 6),
            delivered.partition,
            "key {key}"
        );
    }

    let mut acks = Vec::new();
    for ordinal in 0..10u32 {
        let record = OutgoingRecord {
            topic: topic.clone(),
            key: Some(format!("{{\"id\":{ordinal}}}").into_bytes()),
            value: (ordinal != 9).then(|| b"{}".to_vec()),
            position: at(500, ordinal),
            snapshot_point: None,
        };
        let partition = producer.partition_of(&record);
        acks.push(producer.send(&record, partition).await.unwrap());
    }
    for ack in acks {
        assert!(ack.acknowledged().await.unwrap() >= 0);
    }
    let tails = read_tails(
        &kafka::client_config(),
        std::slice::from_ref(&topic),
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(
        tails.newest(),
        Some(at(500, 9)),
        "the tombstone carries its position too"
    );
    kafka::delete_topics(&[&topic]).await.unwrap();
}
