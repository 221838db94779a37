//! The connector's offsets in a compacted Kafka topic, in Kafka Connect's shape: the
//! key `["<connector name>",{"server":"<topic.prefix>"}]`, the value a JSON object with
//! Debezium's PostgreSQL offset fields (`lsn`, `lsn_commit`, `lsn_proc`, `ts_usec`)
//! and pgcdc's `snapshot_completed`.
//!
//! While a snapshot runs, and while the stream after a resumed snapshot has not
//! passed the point it was resumed at, the value also names the snapshot's series
//! (`snapshot_series_lsn`, `snapshot_started_ms`) and that point
//! (`snapshot_resumed_lsn`): what a restart needs to go on without sending a row
//! twice (see [`crate::offsets::overlap`]).
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
    /// Written with every streamed LSN before its `resumed_at`.
    resumed: Option<ResumedSnapshot>,
}

/// A snapshot series: the slot's creation point, and when it began (to find its
/// records by timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSeries {
    pub lsn: Lsn,
    pub started_ms: i64,
}

/// A completed snapshot that was resumed at `resumed_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumedSnapshot {
    pub series: SnapshotSeries,
    pub resumed_at: Lsn,
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
    /// The snapshot under way, or the completed one whose resume the stream has not
    /// passed.
    pub series: Option<SnapshotSeries>,
    pub resumed_at: Option<Lsn>,
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
                resumed: None,
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

    /// Records that the snapshot `series` began (before its first record is sent).
    pub async fn snapshot_started(&self, series: SnapshotSeries) -> Result<(), KafkaError> {
        self.write(json!({
            "lsn": series.lsn.0,
            "ts_usec": now_us(),
            "snapshot": "INITIAL",
            "last_snapshot_record": false,
            "snapshot_completed": false,
            "snapshot_series_lsn": series.lsn.0,
            "snapshot_started_ms": series.started_ms,
        }))
        .await
    }

    /// Records the end of the initial snapshot at `lsn`; a resumed one's point is
    /// kept in every offset until the stream passes it.
    pub async fn snapshot_completed(
        &mut self,
        lsn: Lsn,
        resumed: Option<ResumedSnapshot>,
    ) -> Result<(), KafkaError> {
        self.resumed = resumed;
        let mut value = json!({
            "lsn": lsn.0,
            "ts_usec": now_us(),
            "last_snapshot_record": true,
            "snapshot_completed": true,
        });
        add_resumed(&mut value, self.resumed, lsn);
        self.write(value).await
    }

    /// Keeps writing a resumed snapshot's fields until the stream passes its point
    /// (after a restart that found them in the stored offset).
    pub fn keep_resumed(&mut self, resumed: ResumedSnapshot) {
        self.resumed = Some(resumed);
    }

    /// Records the LSN the slot was confirmed to.
    pub async fn streamed(&self, lsn: Lsn) -> Result<(), KafkaError> {
        self.write(self.streamed_value(lsn)).await
    }

    fn streamed_value(&self, lsn: Lsn) -> Value {
        let mut value = streamed_value(lsn);
        add_resumed(&mut value, self.resumed, lsn);
        value
    }

    /// The record [`OffsetStore::streamed`] writes, for the transactional mode to
    /// write in the transaction whose commit makes `lsn` confirmable.
    pub fn streamed_record(&self, lsn: Lsn) -> OffsetsRecord {
        OffsetsRecord {
            topic: self.topic.clone(),
            key: self.key.clone(),
            value: serde_json::to_vec(&self.streamed_value(lsn)).unwrap_or_default(),
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
        .map(|value| stored_offset(&value))
        .unwrap_or_default())
}

/// A resumed snapshot's fields, in offsets before the point it was resumed at.
fn add_resumed(value: &mut Value, resumed: Option<ResumedSnapshot>, lsn: Lsn) {
    if let Some(resumed) = resumed.filter(|r| lsn < r.resumed_at) {
        value["snapshot_series_lsn"] = json!(resumed.series.lsn.0);
        value["snapshot_started_ms"] = json!(resumed.series.started_ms);
        value["snapshot_resumed_lsn"] = json!(resumed.resumed_at.0);
    }
}

fn stored_offset(value: &Value) -> StoredOffset {
    let series = match (
        value["snapshot_series_lsn"].as_u64(),
        value["snapshot_started_ms"].as_i64(),
    ) {
        (Some(lsn), Some(started_ms)) => Some(SnapshotSeries {
            lsn: Lsn(lsn),
            started_ms,
        }),
        _ => None,
    };
    StoredOffset {
        snapshot_completed: value["snapshot_completed"].as_bool().unwrap_or(false),
        lsn: value["lsn"].as_u64().map(Lsn),
        series,
        resumed_at: value["snapshot_resumed_lsn"].as_u64().map(Lsn),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const RESUMED: ResumedSnapshot = ResumedSnapshot {
        series: SnapshotSeries {
            lsn: Lsn(1_000),
            started_ms: 1_765_000_000_000,
        },
        resumed_at: Lsn(5_000),
    };

    #[test]
    fn a_resumed_snapshot_is_remembered_until_the_stream_passes_its_point() {
        let mut before = streamed_value(Lsn(4_999));
        add_resumed(&mut before, Some(RESUMED), Lsn(4_999));
        let stored = stored_offset(&before);
        assert_eq!(stored.series, Some(RESUMED.series));
        assert_eq!(stored.resumed_at, Some(RESUMED.resumed_at));
        assert!(stored.snapshot_completed);

        let mut at = streamed_value(Lsn(5_000));
        add_resumed(&mut at, Some(RESUMED), Lsn(5_000));
        let stored = stored_offset(&at);
        assert_eq!((stored.series, stored.resumed_at), (None, None));
        assert_eq!(stored.lsn, Some(Lsn(5_000)));
    }

    #[test]
    fn offsets_without_pgcdc_fields_read_as_no_snapshot_under_way() {
        // Written before series were recorded, or by Debezium.
        let stored = stored_offset(&json!({"lsn": 42, "lsn_commit": 42, "ts_usec": 1}));
        assert_eq!(
            stored,
            StoredOffset {
                snapshot_completed: false,
                lsn: Some(Lsn(42)),
                series: None,
                resumed_at: None,
            }
        );
    }
}
