//! Reading back partition tails on the real broker: what a restarted connector relies
//! on to send nothing twice.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use pgcdc_connector::offsets::tail::read_tails;
use pgcdc_connector::offsets::{SourcePosition, POSITION_HEADER};
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
