//! Publishing events to Kafka: topic creation, Kafka-compatible partitioning, and
//! idempotent sends whose acknowledgements feed the [`crate::offsets::AckTracker`].
//!
//! pgcdc chooses each record's partition itself, with the Java client's default
//! partitioner (murmur2 of the key), for two reasons: consumers see the same key in
//! the same partition as with Debezium, and the resume filter must know where an
//! event would go before deciding it is already there.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;

use crate::offsets::{SourcePosition, POSITION_HEADER};

/// Kafka's murmur2 hash (seed `0x9747b28c`), as the Java client's default
/// partitioner computes it over the key bytes.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if let Some(&first) = rest.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for a keyed record.
/// Keyless records (tables without a key) go to partition 0, so that their order is
/// kept and the resume filter knows where to look.
pub fn partition_for(key: Option<&[u8]>, partitions: i32) -> i32 {
    match key {
        Some(key) if partitions > 1 => (murmur2(key) & 0x7fff_ffff) % partitions,
        _ => 0,
    }
}

/// How new topics are made (Kafka Connect's `topic.creation.default.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSettings {
    pub partitions: i32,
    pub replication_factor: i32,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            partitions: 1,
            replication_factor: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("Kafka client configuration: {0}")]
    Config(#[source] KafkaError),
    #[error("creating topic {topic}: {source}")]
    CreateTopic {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("sending to {topic}[{partition}] at {position}: {source}")]
    Send {
        topic: String,
        partition: i32,
        position: SourcePosition,
        #[source]
        source: KafkaError,
    },
}

impl ProducerError {
    /// A broker that is down comes back; a rejected configuration or a record the
    /// broker refuses (too large, not authorized) does not.
    pub fn is_retriable(&self) -> bool {
        let code = match self {
            ProducerError::Config(_) => return false,
            ProducerError::CreateTopic { source, .. }
            | ProducerError::Metadata { source, .. }
            | ProducerError::Send { source, .. } => source.rdkafka_error_code(),
        };
        !matches!(
            code,
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
                    | RDKafkaErrorCode::InvalidConfig
                    | RDKafkaErrorCode::InvalidReplicationFactor
                    | RDKafkaErrorCode::PolicyViolation
            )
        )
    }
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    pub position: SourcePosition,
}

/// An idempotent producer that knows the partition count of the topics it writes.
pub struct EventProducer {
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    partitions: HashMap<String, i32>,
    topic_settings: TopicSettings,
    timeout: Duration,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl EventProducer {
    /// `config` holds the cluster settings (bootstrap servers, security); the
    /// delivery guarantees are set here and cannot be weakened by it.
    pub fn new(
        config: &ClientConfig,
        topic_settings: TopicSettings,
    ) -> Result<Self, ProducerError> {
        let mut producer_config = config.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Retries are the producer's job; a record is failed only when the broker
            // stays unreachable this long, and then the connector restarts and resumes.
            .set("message.timeout.ms", "300000")
            .set("linger.ms", "5");
        Ok(EventProducer {
            producer: producer_config.create().map_err(ProducerError::Config)?,
            admin: config.create().map_err(ProducerError::Config)?,
            partitions: HashMap::new(),
            topic_settings,
            timeout: Duration::from_secs(30),
        })
    }

    /// Makes sure `topic` exists, creating it with the topic settings when it does not
    /// (brokers in production run with auto-creation off), and learns its partitions.
    pub async fn ensure_topic(&mut self, topic: &str) -> Result<i32, ProducerError> {
        if let Some(&n) = self.partitions.get(topic) {
            return Ok(n);
        }
        let n = match self.partition_count(topic)? {
            Some(n) => n,
            None => {
                let new = NewTopic::new(
                    topic,
                    self.topic_settings.partitions,
                    TopicReplication::Fixed(self.topic_settings.replication_factor),
                );
                let options = AdminOptions::new().operation_timeout(Some(self.timeout));
                let results =
                    self.admin
                        .create_topics([&new], &options)
                        .await
                        .map_err(|source| ProducerError::CreateTopic {
                            topic: topic.to_owned(),
                            source,
                        })?;
                for result in results {
                    match result {
                        Ok(_) => tracing::info!(
                            topic,
                            partitions = self.topic_settings.partitions,
                            "created topic"
                        ),
                        // Another worker (or a previous run) made it meanwhile.
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((_, code)) => {
                            return Err(ProducerError::CreateTopic {
                                topic: topic.to_owned(),
                                source: KafkaError::AdminOp(code),
                            })
                        }
                    }
                }
                self.wait_for_partitions(topic).await?
            }
        };
        self.partitions.insert(topic.to_owned(), n);
        Ok(n)
    }

    fn partition_count(&self, topic: &str) -> Result<Option<i32>, ProducerError> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(topic), self.timeout)
            .map_err(|source| ProducerError::Metadata {
                topic: topic.to_owned(),
                source,
            })?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
            .filter(|&n| n > 0))
    }

    /// A created topic shows up in metadata a moment later.
    async fn wait_for_partitions(&self, topic: &str) -> Result<i32, ProducerError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(n) = self.partition_count(topic)? {
                // Metadata lists a new topic's partitions before their leaders can take
                // writes; a record sent in that window can be acknowledged without
                // being written. Wait until every partition answers for its offsets.
                if self.partitions_ready(topic, n) {
                    return Ok(n);
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ProducerError::Metadata {
                    topic: topic.to_owned(),
                    source: KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn partitions_ready(&self, topic: &str, partitions: i32) -> bool {
        (0..partitions).all(|partition| {
            self.producer
                .client()
                .fetch_watermarks(topic, partition, Duration::from_secs(5))
                .is_ok()
        })
    }

    /// The partition `record` goes to; its topic must have been ensured.
    pub fn partition_of(&self, record: &OutgoingRecord) -> i32 {
        let partitions = self.partitions.get(&record.topic).copied().unwrap_or(1);
        partition_for(record.key.as_deref(), partitions)
    }

    /// Hands `record` to the producer's queue, waiting while the queue is full
    /// (backpressure), and returns the future of its acknowledgement.
    pub async fn send(
        &self,
        record: &OutgoingRecord,
        partition: i32,
    ) -> Result<PendingAck, ProducerError> {
        let header = record.position.to_header();
        loop {
            let mut outgoing = FutureRecord::to(&record.topic)
                .partition(partition)
                .headers(OwnedHeaders::new().insert(Header {
                    key: POSITION_HEADER,
                    value: Some(&header),
                }));
            if let Some(key) = &record.key {
                outgoing = outgoing.key(key);
            }
            if let Some(value) = &record.value {
                outgoing = outgoing.payload(value);
            }
            match self.producer.send_result(outgoing) {
                Ok(delivery) => {
                    return Ok(PendingAck {
                        delivery,
                        topic: record.topic.clone(),
                        partition,
                        position: record.position,
                    })
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((source, _)) => {
                    return Err(ProducerError::Send {
                        topic: record.topic.clone(),
                        partition,
                        position: record.position,
                        source,
                    })
                }
            }
        }
    }

    /// Waits until everything queued is acknowledged (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

/// The acknowledgement of one sent record.
pub struct PendingAck {
    delivery: DeliveryFuture,
    pub topic: String,
    pub partition: i32,
    pub position: SourcePosition,
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PendingAck({}[{}] at {})",
            self.topic, self.partition, self.position
        )
    }
}

impl PendingAck {
    /// Resolves when the broker acknowledged the record (returning its offset) or the
    /// producer gave up on it.
    pub async fn acknowledged(self) -> Result<i64, ProducerError> {
        let fail = |source| ProducerError::Send {
            topic: self.topic.clone(),
            partition: self.partition,
            position: self.position,
            source,
        };
        match self.delivery.await {
            // An acknowledgement without an offset did not write the record: never
            // count it as delivered.
            Ok(Ok(delivery)) if delivery.offset < 0 => Err(fail(KafkaError::MessageProduction(
                RDKafkaErrorCode::Unknown,
            ))),
            Ok(Ok(delivery)) => Ok(delivery.offset),
            Ok(Err((source, _))) => Err(fail(source)),
            Err(_canceled) => Err(fail(KafkaError::Canceled)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values the Java client's `Utils.murmur2` returns (Kafka's own unit tests).
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keyless_and_single_partition_records_go_to_partition_zero() {
        assert_eq!(partition_for(None, 12), 0);
        assert_eq!(partition_for(Some(b"k"), 1), 0);
        for key in [&b"a"[..], b"bb", b"ccc", b"dddd", b""] {
            let p = partition_for(Some(key), 7);
            assert!((0..7).contains(&p));
        }
    }
}
