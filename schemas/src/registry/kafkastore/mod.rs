//! The registry's log in a compacted Kafka topic (`_schemas`), as Confluent's Schema
//! Registry keeps it, so that a restarted registry and every other instance on the
//! same topic serve the same subjects, versions and ids.
//!
//! - [`codec`]: records as Confluent-shaped topic keys and values (pure);
//! - [`topic`]: creating or checking the topic (one partition, compacted);
//! - [`reader`]: the thread that applies the topic to the state — the only writer
//!   of the state;
//! - [`writer`]: transactional writes, serialized across instances by fencing.
//!
//! A change is planned against the state, written to the topic, and applied when
//! the reader reads it back; the client is answered after that, so a client that
//! registered on an instance reads its registration there at once. Another instance
//! applies it as soon as its reader gets it (milliseconds); its own writes wait for
//! that, since planning a write starts with reading to the end of the topic.
//!
//! At start the instance reads the topic to the end (up to a `NOOP` barrier it
//! writes) before it serves, as Confluent's does.

pub mod codec;
pub mod reader;
pub mod topic;
pub mod writer;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;

use self::reader::Reader;
use self::writer::{WriteError, Writer};
use super::error::RegistryError;
use super::metrics::RegistryMetrics;
use super::records::Record;
use super::state::RegistryState;

/// Where and how the registry keeps its log in Kafka; the defaults are Confluent's
/// where it has the same setting (`kafkastore.*`).
#[derive(Clone)]
pub struct KafkaStoreConfig {
    /// librdkafka settings every client of the store uses: `bootstrap.servers` and
    /// any security settings (never logged).
    pub client: ClientConfig,
    /// `kafkastore.topic`.
    pub topic: String,
    /// `kafkastore.topic.replication.factor`, capped to the number of brokers.
    pub replication_factor: i32,
    /// How long a write may take, read-back included (`kafkastore.timeout.ms`).
    pub timeout: Duration,
    /// How long reaching the broker and reading the topic at start may take
    /// (`kafkastore.init.timeout.ms`).
    pub init_timeout: Duration,
    /// Shared by every instance on the topic: it is what serializes their writes.
    pub transactional_id: String,
}

impl KafkaStoreConfig {
    pub const DEFAULT_TOPIC: &'static str = "_schemas";

    /// The defaults for `bootstrap_servers`.
    pub fn new(bootstrap_servers: &str) -> Self {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", bootstrap_servers);
        Self {
            client,
            topic: Self::DEFAULT_TOPIC.to_owned(),
            replication_factor: 3,
            timeout: Duration::from_secs(10),
            init_timeout: Duration::from_secs(60),
            transactional_id: Self::transactional_id_for(Self::DEFAULT_TOPIC),
        }
    }

    /// The transactional id every instance on `topic` uses by default.
    pub fn transactional_id_for(topic: &str) -> String {
        format!("pgcdc-registry-{topic}")
    }
}

impl fmt::Debug for KafkaStoreConfig {
    // The client settings may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaStoreConfig")
            .field("bootstrap.servers", &self.client.get("bootstrap.servers"))
            .field("topic", &self.topic)
            .field("replication_factor", &self.replication_factor)
            .field("timeout", &self.timeout)
            .field("init_timeout", &self.init_timeout)
            .field("transactional_id", &self.transactional_id)
            .finish_non_exhaustive()
    }
}

pub(crate) fn store_error(reason: impl Into<String>) -> RegistryError {
    RegistryError::Store {
        reason: reason.into(),
    }
}

/// How often a write is planned again after another instance wrote in between.
const WRITE_ATTEMPTS: u32 = 8;

/// The Kafka log of one registry instance.
#[derive(Debug)]
pub struct KafkaStore {
    config: KafkaStoreConfig,
    writer: Mutex<Writer>,
    reader: Reader,
    metrics: Arc<RegistryMetrics>,
}

impl KafkaStore {
    /// Creates or checks the topic, starts reading it into `state` and returns once
    /// everything written before the call has been applied. Blocking: call from a
    /// blocking context inside a tokio runtime.
    pub fn open(
        config: KafkaStoreConfig,
        state: Arc<RwLock<RegistryState>>,
        metrics: Arc<RegistryMetrics>,
    ) -> Result<Self, RegistryError> {
        let started = Instant::now();
        topic::ensure(&config)?;
        let checked = started.elapsed();
        let reader = Reader::start(&config, state, Arc::clone(&metrics))?;
        let writer = Writer::new(&config)?;
        let barrier = writer.barrier()?;
        let written = started.elapsed();
        reader.wait_for(barrier, config.init_timeout)?;
        tracing::debug!(
            topic_checked_ms = checked.as_millis() as u64,
            barrier_written_ms = written.as_millis() as u64,
            "opening the Kafka store"
        );
        tracing::info!(
            topic = %config.topic,
            offset = barrier,
            millis = started.elapsed().as_millis() as u64,
            "read the schemas topic to its end"
        );
        Ok(Self {
            config,
            writer: Mutex::new(writer),
            reader,
            metrics,
        })
    }

    pub fn topic(&self) -> &str {
        &self.config.topic
    }

    /// The offset after the last record applied.
    pub fn next_offset(&self) -> i64 {
        self.reader.next_offset()
    }

    /// Plans a change against `state`, writes its records, and returns once they
    /// are applied. A plan with nothing to write (or that refuses the change) is
    /// planned again after reading to the end of the topic, unless this instance
    /// still holds the write epoch, so that it reflects every other instance's
    /// writes. Blocking.
    pub fn write<T>(
        &self,
        state: &RwLock<RegistryState>,
        plan: impl Fn(&RegistryState) -> Result<(T, Vec<Record>), RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut caught_up = false;
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                self.metrics.write_retried();
                // Instances that keep fencing each other back off at random.
                std::thread::sleep(Duration::from_millis(
                    u64::from(attempt) * 5 + jitter_millis(20),
                ));
            }
            if !writer.holds_epoch() {
                writer.take_epoch()?;
                self.catch_up(&writer)?;
                caught_up = true;
            }
            let planned = plan(&state.read().unwrap_or_else(PoisonError::into_inner));
            let (answer, records) = match planned {
                Ok((answer, records)) if !records.is_empty() => (answer, records),
                // Nothing to write, or refused: decided on what this instance has
                // read, which may lag another instance's latest write.
                other if caught_up => return other.map(|(answer, _)| answer),
                _ => {
                    self.catch_up(&writer)?;
                    match plan(&state.read().unwrap_or_else(PoisonError::into_inner))? {
                        (answer, records) if records.is_empty() => return Ok(answer),
                        (answer, records) => (answer, records),
                    }
                }
            };
            match writer.commit(&records) {
                Ok(last) => {
                    self.reader.wait_for(last, self.config.timeout)?;
                    return Ok(answer);
                }
                Err(WriteError::Fenced(why)) => {
                    tracing::debug!(topic = %self.config.topic, reason = %why, "another registry instance wrote to the schemas topic; planning again");
                    writer.drop_epoch();
                    caught_up = false;
                }
                Err(WriteError::Failed(e)) => {
                    writer.drop_epoch();
                    return Err(e);
                }
            }
        }
        Err(store_error(format!(
            "could not write to {} after {WRITE_ATTEMPTS} attempts: other registry instances kept writing in between",
            self.config.topic
        )))
    }

    fn catch_up(&self, writer: &Writer) -> Result<(), RegistryError> {
        let barrier = writer.barrier()?;
        self.reader.wait_for(barrier, self.config.timeout)
    }
}

/// A few random milliseconds, without a random-number dependency.
fn jitter_millis(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    (nanos ^ u64::from(std::process::id())) % max.max(1)
}
