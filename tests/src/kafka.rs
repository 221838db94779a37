//! Kafka helpers for tests: topics made through the admin API (the stack's broker has
//! auto-creation off, as production brokers should), and reading a topic back.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::Stack;

/// A client config pointing at the stack's broker.
pub fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", Stack::get().kafka_bootstrap());
    config
}

pub async fn create_topic(name: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config().create()?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics([&topic], &options).await? {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating topic {topic}: {code}"))?;
    }
    Ok(())
}

pub async fn delete_topics(names: &[&str]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config().create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_topics(names, &options).await? {
        result.map_err(|(topic, code)| anyhow::anyhow!("deleting topic {topic}: {code}"))?;
    }
    Ok(())
}

/// An idempotent producer, as pgcdc itself uses.
pub fn producer() -> anyhow::Result<FutureProducer> {
    Ok(client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()?)
}

pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> anyhow::Result<()> {
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "test",
                    value: Some("pgcdc"),
                })),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("producing to {topic}: {e}"))?;
    Ok(())
}

/// One record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    pub fn value_json(&self) -> anyhow::Result<serde_json::Value> {
        let value = self
            .value
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("tombstone at offset {}", self.offset))?;
        Ok(serde_json::from_slice(value)?)
    }

    pub fn key_json(&self) -> anyhow::Result<serde_json::Value> {
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("no key at offset {}", self.offset))?;
        Ok(serde_json::from_slice(key)?)
    }
}

/// Which records a reader sees of transactional producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

/// Reads partition 0..`partitions` of `topic` from the beginning until `expected`
/// records arrived or `timeout` passed, then returns what it has (the caller asserts).
/// With `expected` = None it reads until the topic is quiet for a second.
pub fn read_topic(
    topic: &str,
    isolation: Isolation,
    expected: Option<usize>,
    timeout: Duration,
) -> anyhow::Result<Vec<Record>> {
    let consumer: BaseConsumer = client_config()
        .set("group.id", crate::unique_name("reader"))
        .set("enable.auto.commit", "false")
        .set(
            "isolation.level",
            match isolation {
                Isolation::ReadCommitted => "read_committed",
                Isolation::ReadUncommitted => "read_uncommitted",
            },
        )
        .create()?;
    let deadline = Instant::now() + timeout;
    // Connectors create their topics when the first record is ready: wait for it.
    let partitions = loop {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if partitions > 0 {
            break partitions;
        }
        if Instant::now() > deadline {
            anyhow::bail!("topic {topic} does not exist after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    let mut last_record = Instant::now();
    let mut records = Vec::new();
    while Instant::now() < deadline {
        if expected.is_some_and(|n| records.len() >= n) {
            break;
        }
        if expected.is_none()
            && !records.is_empty()
            && last_record.elapsed() > Duration::from_secs(1)
        {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => anyhow::bail!("reading {topic}: {e}"),
            Some(Ok(message)) => {
                last_record = Instant::now();
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
        }
    }
    Ok(records)
}
