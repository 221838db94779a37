//! Publishing events to Kafka: topic creation, Kafka-compatible partitioning, and
//! idempotent sends whose acknowledgements feed the [`crate::offsets::AckTracker`] —
//! or, in the transactional mode (`exactly.once.support`), sends inside Kafka
//! transactions whose commit does.
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

use crate::lsn::Lsn;
use crate::offsets::{SourcePosition, POSITION_HEADER, SNAPSHOT_HEADER};

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
    #[error(
        "the Kafka broker does not support transactions, which exactly.once.support=required \
         (or the worker's --exactly-once-source-support enabled) needs; keep the default \
         idempotent mode on this broker (transactional.id {transactional_id}, {operation}): {source}"
    )]
    TransactionsUnsupported {
        transactional_id: String,
        operation: TransactionOperation,
        #[source]
        source: KafkaError,
    },
    #[error("Kafka transaction of transactional.id {transactional_id}: {operation}: {source}")]
    Transaction {
        transactional_id: String,
        operation: TransactionOperation,
        #[source]
        source: KafkaError,
    },
}

/// The transactional call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionOperation {
    Init,
    Begin,
    Commit,
    Abort,
}

impl std::fmt::Display for TransactionOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransactionOperation::Init => "initializing (fencing the previous instance)",
            TransactionOperation::Begin => "beginning a transaction",
            TransactionOperation::Commit => "committing",
            TransactionOperation::Abort => "aborting",
        })
    }
}

/// The broker has no transactions (tansu 0.6 accepts InitProducerId but has no
/// EndTxn; brokers before 0.11 have neither).
fn transactions_unsupported(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnsupportedVersion
            | RDKafkaErrorCode::UnsupportedForMessageFormat
            | RDKafkaErrorCode::NotImplemented
            | RDKafkaErrorCode::UnsupportedFeature
    )
}

/// Transaction errors a restart does not fix: the principal may not use the
/// transactional id, the broker refuses the transaction timeout (over its
/// `transaction.max.timeout.ms`), or it has no transactions.
fn transaction_error_is_fatal(code: RDKafkaErrorCode) -> bool {
    transactions_unsupported(code)
        || matches!(
            code,
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::InvalidTransactionTimeout
        )
}

impl ProducerError {
    /// A broker that is down comes back; a rejected configuration or a record the
    /// broker refuses (too large, not authorized) does not.
    ///
    /// In the transactional mode, being fenced (another instance of the connector
    /// started with the same `transactional.id`, or the broker aborted a transaction
    /// that outlived `transaction.timeout.ms`) and abortable errors are retriable: the
    /// next start makes a new producer, whose initialization aborts whatever the old
    /// one left open, and resumes from the slot. So is any error librdkafka calls
    /// fatal for the producer instance, since the next start has a new instance.
    pub fn is_retriable(&self) -> bool {
        let code = match self {
            ProducerError::Config(_) | ProducerError::TransactionsUnsupported { .. } => {
                return false
            }
            ProducerError::Transaction { source, .. } => {
                return !source
                    .rdkafka_error_code()
                    .is_some_and(transaction_error_is_fatal)
            }
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
    /// For a snapshot record, the point its row was read at ([`SNAPSHOT_HEADER`]).
    pub snapshot_point: Option<Lsn>,
}

/// An idempotent producer that knows the partition count of the topics it writes;
/// transactional when made with [`EventProducer::transactional`].
pub struct EventProducer {
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    partitions: HashMap<String, i32>,
    topic_settings: TopicSettings,
    timeout: Duration,
    transactional_id: Option<String>,
}

/// How long a commit or abort may take before it counts as failed (librdkafka
/// retries inside it).
const TRANSACTION_CALL_TIMEOUT: Duration = Duration::from_secs(60);

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
        Self::build(config, topic_settings, None)
    }

    fn build(
        config: &ClientConfig,
        topic_settings: TopicSettings,
        transactional: Option<(&str, Duration)>,
    ) -> Result<Self, ProducerError> {
        let mut producer_config = config.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Retries are the producer's job; a record is failed only when the broker
            // stays unreachable this long, and then the connector restarts and resumes.
            .set("message.timeout.ms", "300000")
            .set("linger.ms", "5");
        if let Some((id, timeout)) = transactional {
            let timeout_ms = timeout.as_millis().to_string();
            producer_config
                .set("transactional.id", id)
                // An instance that dies with a transaction open holds up read_committed
                // readers of its partitions until its successor starts, or this long.
                .set("transaction.timeout.ms", &timeout_ms)
                // librdkafka refuses a message timeout longer than the transaction's.
                .set("message.timeout.ms", &timeout_ms);
        }
        Ok(EventProducer {
            producer: producer_config.create().map_err(ProducerError::Config)?,
            admin: config.create().map_err(ProducerError::Config)?,
            partitions: HashMap::new(),
            topic_settings,
            timeout: Duration::from_secs(30),
            transactional_id: transactional.map(|(id, _)| id.to_owned()),
        })
    }

    /// A transactional producer with `transactional_id`, initialized: the broker has
    /// fenced any earlier producer with the same id and aborted the transaction it
    /// left open, so `read_committed` readers see the partitions' committed ends.
    /// Every send must then happen between [`EventProducer::begin_transaction`] and
    /// [`EventProducer::commit_transaction`].
    ///
    /// `transaction_timeout` is `transaction.timeout.ms`: the broker aborts a
    /// transaction open longer than this (and fences its producer).
    pub async fn transactional(
        config: &ClientConfig,
        topic_settings: TopicSettings,
        transactional_id: &str,
        transaction_timeout: Duration,
    ) -> Result<Self, ProducerError> {
        let producer = Self::build(
            config,
            topic_settings,
            Some((transactional_id, transaction_timeout)),
        )?;
        producer
            .transaction_call(TransactionOperation::Init, |p| {
                p.init_transactions(TRANSACTION_CALL_TIMEOUT)
            })
            .await?;
        tracing::info!(
            transactional_id,
            "transactional producer initialized (earlier instances fenced)"
        );
        Ok(producer)
    }

    pub fn is_transactional(&self) -> bool {
        self.transactional_id.is_some()
    }

    /// Opens a transaction (no broker round trip: the first send registers it).
    pub async fn begin_transaction(&self) -> Result<(), ProducerError> {
        self.transaction_call(TransactionOperation::Begin, |p| p.begin_transaction())
            .await
    }

    /// Flushes every record of the open transaction and commits it. On an error that
    /// requires it, the transaction is aborted before returning, so that
    /// `read_committed` readers are not held up until the broker's timeout.
    pub async fn commit_transaction(&self) -> Result<(), ProducerError> {
        let mut attempts = 0;
        loop {
            let result = self
                .transaction_call(TransactionOperation::Commit, |p| {
                    p.commit_transaction(TRANSACTION_CALL_TIMEOUT)
                })
                .await;
            let Err(error) = result else {
                return Ok(());
            };
            let (retriable, requires_abort) = match &error {
                ProducerError::Transaction {
                    source: KafkaError::Transaction(e),
                    ..
                } => (
                    e.is_retriable() && !transaction_error_is_fatal(e.code()),
                    e.txn_requires_abort(),
                ),
                _ => (false, false),
            };
            attempts += 1;
            // librdkafka's contract: a retriable commit error may be retried as is; an
            // abortable one must be aborted before anything else.
            if retriable && attempts < 3 {
                tracing::warn!(error = %error, attempts, "commit failed; retrying");
                continue;
            }
            if requires_abort {
                if let Err(abort) = self.abort_transaction().await {
                    tracing::warn!(error = %abort, "aborting the failed transaction failed");
                }
            }
            return Err(error);
        }
    }

    /// Aborts the open transaction: its records are never shown to `read_committed`
    /// readers.
    pub async fn abort_transaction(&self) -> Result<(), ProducerError> {
        self.transaction_call(TransactionOperation::Abort, |p| {
            p.abort_transaction(TRANSACTION_CALL_TIMEOUT)
        })
        .await
    }

    /// librdkafka's transactional calls block until the broker answers: off the
    /// runtime's threads.
    async fn transaction_call(
        &self,
        operation: TransactionOperation,
        call: impl FnOnce(&FutureProducer) -> Result<(), KafkaError> + Send + 'static,
    ) -> Result<(), ProducerError> {
        let producer = self.producer.clone();
        let result = tokio::task::spawn_blocking(move || call(&producer))
            .await
            .unwrap_or(Err(KafkaError::Canceled));
        let transactional_id = self.transactional_id.clone().unwrap_or_default();
        result.map_err(|source| {
            if source
                .rdkafka_error_code()
                .is_some_and(transactions_unsupported)
            {
                ProducerError::TransactionsUnsupported {
                    transactional_id,
                    operation,
                    source,
                }
            } else {
                ProducerError::Transaction {
                    transactional_id,
                    operation,
                    source,
                }
            }
        })
    }

    /// Queues a record that is not a change event (the connector's offsets, in the
    /// transactional mode): no position header, the topic's partition 0, delivery
    /// checked by the commit of the transaction it belongs to.
    pub async fn send_plain(
        &self,
        topic: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), ProducerError> {
        loop {
            let record = FutureRecord::to(topic).partition(0).key(key).payload(value);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    drop(delivery);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((source, _)) => {
                    return Err(ProducerError::Metadata {
                        topic: topic.to_owned(),
                        source,
                    })
                }
            }
        }
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
        let snapshot_point = record.snapshot_point.map(|lsn| lsn.to_string());
        loop {
            let mut headers = OwnedHeaders::new().insert(Header {
                key: POSITION_HEADER,
                value: Some(&header),
            });
            if let Some(point) = &snapshot_point {
                headers = headers.insert(Header {
                    key: SNAPSHOT_HEADER,
                    value: Some(point),
                });
            }
            let mut outgoing = FutureRecord::to(&record.topic)
                .partition(partition)
                .headers(headers);
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
    fn fencing_is_retried_and_a_broker_without_transactions_is_not() {
        let transaction = |code| ProducerError::Transaction {
            transactional_id: "pgcdc-offsets-shop-0".to_owned(),
            operation: TransactionOperation::Commit,
            source: KafkaError::MessageProduction(code),
        };
        // The next start's producer fences whoever fenced this one, and aborts.
        assert!(transaction(RDKafkaErrorCode::ProducerFenced).is_retriable());
        assert!(transaction(RDKafkaErrorCode::InvalidProducerEpoch).is_retriable());
        assert!(transaction(RDKafkaErrorCode::ConcurrentTransactions).is_retriable());
        assert!(transaction(RDKafkaErrorCode::RequestTimedOut).is_retriable());
        assert!(!transaction(RDKafkaErrorCode::TransactionalIdAuthorizationFailed).is_retriable());
        assert!(!transaction(RDKafkaErrorCode::InvalidTransactionTimeout).is_retriable());
        let unsupported = ProducerError::TransactionsUnsupported {
            transactional_id: "pgcdc-offsets-shop-0".to_owned(),
            operation: TransactionOperation::Commit,
            source: KafkaError::MessageProduction(RDKafkaErrorCode::UnsupportedFeature),
        };
        assert!(!unsupported.is_retriable());
        assert!(unsupported.to_string().contains("exactly.once.support"));
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
