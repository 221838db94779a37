//! The one place where a Kafka-backed registry's state changes: a thread that reads
//! the `_schemas` topic from the beginning, `read_committed` (records of a write
//! that was aborted or fenced are never seen), and applies each record. Writers wait
//! here until their records, or a read barrier, have been applied.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::codec::{self, Decoded};
use super::{store_error, KafkaStoreConfig};
use crate::registry::error::RegistryError;
use crate::registry::metrics::RegistryMetrics;
use crate::registry::state::RegistryState;

#[derive(Debug, Default)]
struct Position {
    /// The offset after the last record applied.
    next_offset: i64,
    /// Set when the thread stopped for good.
    stopped: Option<String>,
}

#[derive(Debug, Default)]
struct Progress {
    position: Mutex<Position>,
    advanced: Condvar,
}

/// The reading thread; stopped and joined on drop.
#[derive(Debug)]
pub struct Reader {
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    pub fn start(
        config: &KafkaStoreConfig,
        state: Arc<RwLock<RegistryState>>,
        metrics: Arc<RegistryMetrics>,
    ) -> Result<Self, RegistryError> {
        let consumer: BaseConsumer = config
            .client
            .clone()
            // librdkafka wants a group id even to assign a partition; nothing is
            // committed and no group is joined.
            .set("group.id", format!("{}-reader", config.transactional_id))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Records are small; fetch what is there without waiting for more.
            .set("fetch.wait.max.ms", "10")
            .set("fetch.min.bytes", "1")
            // The first fetch, before the partition's leader and start offset are
            // known, backs off this long (500 ms by default): half a second at start.
            .set("fetch.error.backoff.ms", "10")
            // Reading starts at offset 0, not at `Offset::Beginning`: librdkafka looks
            // a logical offset up on a 500 ms timer once the leader is known. Should
            // the log start later (records deleted), the reset goes to the earliest.
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(|e| store_error(format!("cannot create a Kafka consumer: {e}")))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&config.topic, 0, Offset::Offset(0))
            .and_then(|()| consumer.assign(&assignment))
            .map_err(|e| store_error(format!("cannot read topic {}: {e}", config.topic)))?;
        let progress = Arc::new(Progress::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let progress = Arc::clone(&progress);
            let stop = Arc::clone(&stop);
            let topic = config.topic.clone();
            std::thread::Builder::new()
                .name("registry-reader".into())
                .spawn(move || read(&consumer, &topic, &state, &metrics, &progress, &stop))
                .map_err(|e| store_error(format!("cannot start the topic reader: {e}")))?
        };
        Ok(Self {
            progress,
            stop,
            thread: Some(thread),
        })
    }

    /// The offset after the last record applied.
    pub fn next_offset(&self) -> i64 {
        self.progress
            .position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_offset
    }

    /// Waits until the record at `offset` has been applied.
    pub fn wait_for(&self, offset: i64, timeout: Duration) -> Result<(), RegistryError> {
        let deadline = Instant::now() + timeout;
        let mut position = self
            .progress
            .position
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while position.next_offset <= offset {
            if let Some(why) = &position.stopped {
                return Err(store_error(format!("the topic reader stopped: {why}")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(store_error(format!(
                    "the registry has not read offset {offset} of its topic back within {timeout:?} (read up to {})",
                    position.next_offset
                )));
            }
            position = self
                .progress
                .advanced
                .wait_timeout(position, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read(
    consumer: &BaseConsumer,
    topic: &str,
    state: &RwLock<RegistryState>,
    metrics: &RegistryMetrics,
    progress: &Progress,
    stop: &AtomicBool,
) {
    let mut last_warning: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => {
                // librdkafka keeps reconnecting by itself; say so once in a while.
                if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(topic, error = %e, "reading the schemas topic failed; retrying");
                    last_warning = Some(Instant::now());
                }
                continue;
            }
            Some(Ok(message)) => message,
        };
        let offset = message.offset();
        match codec::decode(message.key(), message.payload()) {
            Ok(Decoded::Record(record)) => {
                let applied = state
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .apply(record);
                match applied {
                    Ok(()) => metrics.record_applied(),
                    Err(e) => {
                        metrics.record_skipped();
                        tracing::error!(topic, offset, error = %e, "skipping a record of the schemas topic that cannot be applied");
                    }
                }
            }
            Ok(Decoded::Noop) => {}
            Ok(Decoded::Ignored { keytype }) => {
                tracing::debug!(
                    topic,
                    offset,
                    keytype,
                    "ignoring a record of the schemas topic"
                );
            }
            Err(why) => {
                metrics.record_skipped();
                tracing::error!(topic, offset, error = %why, "skipping a record of the schemas topic that is not a registry record");
            }
        }
        let mut position = progress
            .position
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        position.next_offset = offset + 1;
        progress.advanced.notify_all();
    }
    let mut position = progress
        .position
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    position.stopped = Some("the registry is shutting down".into());
    progress.advanced.notify_all();
}
