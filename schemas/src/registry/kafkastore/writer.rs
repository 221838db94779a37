//! Writing to the `_schemas` topic so that instances never give one id to two
//! schemas, nor one version number to two registrations.
//!
//! Every instance writes through a transactional producer with the *same*
//! `transactional.id`. Initializing it (`InitProducerId`) fences any other instance's
//! producer: the broker refuses its next write, and it has to initialize again
//! before writing. So a write commits only if no other instance initialized since
//! this one did, and what an instance plans after initializing and reading the topic
//! to its end (a `NOOP` barrier) is based on every change ever committed: writes are
//! serialized by the broker's transaction coordinator, without a leader election.
//! The cost is a new producer whenever writes alternate between instances.
//!
//! This needs a broker with transactions (Apache Kafka, Confluent, Redpanda, ...).

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;

use super::codec;
use super::{store_error, KafkaStoreConfig};
use crate::registry::error::RegistryError;
use crate::registry::records::Record;

/// Reports each record's offset (or failure) to whoever sent it.
#[derive(Debug)]
pub struct Delivery;

type Delivered = Result<i64, String>;

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = Box<SyncSender<Delivered>>;

    fn delivery(&self, result: &DeliveryResult<'_>, sender: Self::DeliveryOpaque) {
        let delivered = match result {
            Ok(message) => Ok(message.offset()),
            Err((e, _)) => Err(e.to_string()),
        };
        let _ = sender.send(delivered);
    }
}

type TopicProducer = ThreadedProducer<Delivery>;

/// Why a transactional write failed.
#[derive(Debug)]
pub enum WriteError {
    /// Another instance initialized the shared transactional id (or the producer
    /// failed for good): initialize again, read to the end, plan again.
    Fenced(String),
    Failed(RegistryError),
}

pub struct Writer {
    config: KafkaStoreConfig,
    /// Neither transactional nor idempotent (a duplicated NOOP is harmless, and an
    /// idempotent producer takes half a second to produce its first record): writes
    /// read barriers.
    barrier: TopicProducer,
    /// Present while this instance holds the current producer epoch (as far as it
    /// knows: fencing is discovered on the next write). Polled by the writing
    /// thread itself, so that it knows the moment its records are delivered.
    transactional: Option<BaseProducer<Delivery>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("topic", &self.config.topic)
            .field("holds_epoch", &self.transactional.is_some())
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub fn new(config: &KafkaStoreConfig) -> Result<Self, RegistryError> {
        let barrier = config
            .client
            .clone()
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.timeout.ms", millis(config.timeout))
            .create_with_context(Delivery)
            .map_err(|e| store_error(format!("cannot create a Kafka producer: {e}")))?;
        Ok(Self {
            config: config.clone(),
            barrier,
            transactional: None,
        })
    }

    pub fn holds_epoch(&self) -> bool {
        self.transactional.is_some()
    }

    pub fn drop_epoch(&mut self) {
        self.transactional = None;
    }

    /// Writes a `NOOP` record and returns its offset: once the reader has applied
    /// it, the state holds every change committed before this call.
    pub fn barrier(&self) -> Result<i64, RegistryError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let key = codec::noop_key();
        self.barrier
            .send(
                BaseRecord::<Vec<u8>, Vec<u8>, _>::with_opaque_to(
                    &self.config.topic,
                    Box::new(sender),
                )
                .partition(0)
                .key(&key),
            )
            .map_err(|(e, _)| store_error(format!("cannot write to {}: {e}", self.config.topic)))?;
        received(&receiver, 1, self.config.timeout + Duration::from_secs(1))
            .map_err(|why| store_error(format!("cannot write to {}: {why}", self.config.topic)))
    }

    /// Creates a transactional producer and initializes it, fencing every other
    /// instance's.
    pub fn take_epoch(&mut self) -> Result<(), RegistryError> {
        self.transactional = None;
        let producer: BaseProducer<Delivery> = self
            .config
            .client
            .clone()
            .set("transactional.id", &self.config.transactional_id)
            .set("acks", "all")
            .set("linger.ms", "0")
            // Right after a commit the coordinator answers CONCURRENT_TRANSACTIONS
            // until its markers are written; librdkafka retries after this backoff
            // (100 ms by default, which would cap writes at ten a second).
            .set("retry.backoff.ms", "2")
            .set("retry.backoff.max.ms", "50")
            // An instance that dies inside a transaction holds back readers
            // (read_committed) until the coordinator aborts it after this long.
            .set("transaction.timeout.ms", millis(self.config.timeout))
            .set("message.timeout.ms", millis(self.config.timeout))
            .create_with_context(Delivery)
            .map_err(|e| {
                store_error(format!("cannot create a transactional Kafka producer: {e}"))
            })?;
        producer
            .init_transactions(self.config.init_timeout)
            .map_err(|e| {
                store_error(format!(
                    "cannot initialize transactions with transactional.id {} (the Kafka store needs a broker with transactions): {e}",
                    self.config.transactional_id
                ))
            })?;
        self.transactional = Some(producer);
        Ok(())
    }

    /// Writes `records` in one transaction and returns the offset of the last one.
    pub fn commit(&mut self, records: &[Record]) -> Result<i64, WriteError> {
        let producer = self
            .transactional
            .as_ref()
            .ok_or_else(|| WriteError::Fenced("no transactional producer".into()))?;
        let timeout = self.config.timeout;
        let result = (|| {
            producer.begin_transaction()?;
            let (sender, receiver) = mpsc::sync_channel(records.len());
            for record in records {
                let (key, value) = codec::encode(record);
                let mut base = BaseRecord::<Vec<u8>, Vec<u8>, _>::with_opaque_to(
                    &self.config.topic,
                    Box::new(sender.clone()),
                )
                .partition(0)
                .key(&key);
                if let Some(value) = &value {
                    base = base.payload(value);
                }
                producer.send(base).map_err(|(e, _)| e)?;
            }
            // commit_transaction flushes first, polling 100 ms at a time however
            // soon the reports arrive (rdkafka's poll waits out its timeout), so
            // poll in small steps until everything is delivered. A failed delivery
            // (fenced, say) then fails the commit with the transaction's own error.
            let deadline = std::time::Instant::now() + timeout;
            while producer.in_flight_count() > 0 && std::time::Instant::now() < deadline {
                producer.poll(Duration::from_millis(1));
            }
            producer.commit_transaction(timeout)?;
            Ok::<_, KafkaError>(received(&receiver, records.len(), Duration::from_secs(1)))
        })();
        match result {
            Ok(Ok(last)) => Ok(last),
            Ok(Err(why)) => {
                let _ = producer.abort_transaction(timeout);
                Err(WriteError::Failed(store_error(format!(
                    "cannot write to {}: {why}",
                    self.config.topic
                ))))
            }
            Err(KafkaError::Transaction(e)) if e.txn_requires_abort() => {
                let _ = producer.abort_transaction(timeout);
                Err(WriteError::Fenced(e.to_string()))
            }
            Err(KafkaError::Transaction(e)) if e.is_fatal() => {
                Err(WriteError::Fenced(e.to_string()))
            }
            Err(e) => {
                let _ = producer.abort_transaction(timeout);
                Err(WriteError::Failed(store_error(format!(
                    "cannot write to {}: {e}",
                    self.config.topic
                ))))
            }
        }
    }
}

/// Collects `count` delivery reports and returns the highest offset.
fn received(
    receiver: &Receiver<Delivered>,
    count: usize,
    timeout: Duration,
) -> Result<i64, String> {
    let mut last = -1;
    for _ in 0..count {
        let offset = receiver
            .recv_timeout(timeout)
            .map_err(|_| "no delivery report".to_owned())??;
        last = last.max(offset);
    }
    Ok(last)
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}
