//! The connector's offsets in a compacted Kafka topic, in Kafka Connect's shape: the
//! key `["<connector name>",{"server":"<topic.prefix>"}]`, the value a JSON object with
//! Debezium's PostgreSQL offset fields (`lsn`, `lsn_commit`, `lsn_proc`, `ts_usec`)
//! and pgcdc's `snapshot_completed`.
//!
//! Exactly-once does not depend on this topic (the slot and the partitions' tails
//! do); it records whether the initial snapshot finished, and lets tools that read
//! Connect offsets see where the connector is.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::lsn::Lsn;
use crate::pipeline::OffsetsRecord;

const TIMEOUT: Duration = Duration::from_secs(30);

/// One connector's offsets.
pub struct OffsetStore {
    producer: FutureProducer,
    topic: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OffsetStore({})", self.topic)
    }
}

/// What the topic says about a connector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredOffset {
    pub snapshot_completed: bool,
    pub lsn: Option<Lsn>,
}

impl OffsetStore {
    /// Creates the topic when missing (one partition, compacted) and reads the
    /// connector's latest offset.
    pub async fn open(
        config: &ClientConfig,
        topic: &str,
        connector: &str,
        server: &str,
    ) -> Result<(OffsetStore, StoredOffset), KafkaError> {
        ensure_topic(config, topic).await?;
        let key = offset_key(connector, server);
        let stored = read_latest(config, topic, &key)?;
        let mut producer_config = config.clone();
        producer_config.set("acks", "all");
        let producer = producer_config.create()?;
        Ok((
            OffsetStore {
                producer,
                topic: topic.to_owned(),
                key,
            },
            stored,
        ))
    }

    /// The connector's latest offset value as stored (for Connect's `GET
    /// /connectors/{name}/offsets`), `None` when it has none or the topic is missing.
    pub async fn read_raw(
        config: &ClientConfig,
        topic: &str,
        connector: &str,
        server: &str,
    ) -> Result<Option<Value>, KafkaError> {
        let config = config.clone();
        let topic = topic.to_owned();
        let key = offset_key(connector, server);
        tokio::task::spawn_blocking(move || read_latest_value(&config, &topic, &key))
            .await
            .map_err(|_| KafkaError::Canceled)?
    }

    /// Records the end of the initial snapshot at `lsn`.
    pub async fn snapshot_completed(&self, lsn: Lsn) -> Result<(), KafkaError> {
        self.write(json!({
            "lsn": lsn.0,
            "ts_usec": now_us(),
            "last_snapshot_record": true,
            "snapshot_completed": true,
        }))
        .await
    }

    /// Records the LSN the slot was confirmed to.
    pub async fn streamed(&self, lsn: Lsn) -> Result<(), KafkaError> {
        self.write(streamed_value(lsn)).await
    }

    /// The record [`OffsetStore::streamed`] writes, for the transactional mode to
    /// write in the transaction whose commit makes `lsn` confirmable.
    pub fn streamed_record(&self, lsn: Lsn) -> OffsetsRecord {
        OffsetsRecord {
            topic: self.topic.clone(),
            key: self.key.clone(),
            value: serde_json::to_vec(&streamed_value(lsn)).unwrap_or_default(),
        }
    }

    async fn write(&self, value: Value) -> Result<(), KafkaError> {
        let payload = serde_json::to_vec(&value).unwrap_or_default();
        self.producer
            .send(
                FutureRecord::to(&self.topic)
                    .key(&self.key)
                    .payload(&payload),
                TIMEOUT,
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}

fn streamed_value(lsn: Lsn) -> Value {
    json!({
        "lsn": lsn.0,
        "lsn_commit": lsn.0,
        "lsn_proc": lsn.0,
        "ts_usec": now_us(),
        "snapshot_completed": true,
    })
}

/// Connect's offset key for a PostgreSQL connector: `["<name>",{"server":"<prefix>"}]`.
fn offset_key(connector: &str, server: &str) -> Vec<u8> {
    serde_json::to_vec(&json!([connector, { "server": server }])).unwrap_or_default()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

async fn ensure_topic(config: &ClientConfig, topic: &str) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// What the last value written under `key` says.
fn read_latest(config: &ClientConfig, topic: &str, key: &[u8]) -> Result<StoredOffset, KafkaError> {
    Ok(read_latest_value(config, topic, key)?
        .map(|value| StoredOffset {
            snapshot_completed: value["snapshot_completed"].as_bool().unwrap_or(false),
            lsn: value["lsn"].as_u64().map(Lsn),
        })
        .unwrap_or_default())
}

/// The last value written under `key`, reading the topic from its start to its end.
fn read_latest_value(
    config: &ClientConfig,
    topic: &str,
    key: &[u8],
) -> Result<Option<Value>, KafkaError> {
    let mut consumer_config = config.clone();
    consumer_config
        .set("group.id", "pgcdc-offsets-reader")
        .set("enable.auto.commit", "false")
        // The transactional mode writes offsets in transactions: a commit marker ends
        // the partition, and it is never delivered, so the end is known by EOF.
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = consumer_config.create()?;
    let (low, high) = match consumer.fetch_watermarks(topic, 0, TIMEOUT) {
        Ok(marks) => marks,
        Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownPartition))
        | Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let mut latest = None;
    if high <= low {
        return Ok(latest);
    }
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Offset(low))?;
    consumer.assign(&assignment)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        let message = match consumer.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(latest),
            Some(message) => message?,
        };
        if message.key() == Some(key) {
            // A null value (Connect's offset reset) forgets what came before.
            latest = message
                .payload()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok());
        }
        if message.offset() + 1 >= high {
            return Ok(latest);
        }
    }
}
