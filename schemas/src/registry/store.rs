//! The registry shared by request handlers: its state and where its log is kept, so
//! that a change is planned, made durable and applied as one step.
//!
//! With a local log (a file, or nothing) a change is planned, appended, then
//! applied here. With the Kafka store the topic is the only source of changes: a
//! change is written to the topic and applied by the topic's reader, for this
//! instance's writes as for every other instance's.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use super::error::RegistryError;
use super::kafkastore::{KafkaStore, KafkaStoreConfig};
use super::log::{FileLog, MemoryLog, OperationLog};
use super::metrics::RegistryMetrics;
use super::records::Record;
use super::state::RegistryState;

#[derive(Debug)]
enum Backend {
    /// Writers are serialized by the log's lock and hold the state's lock only to
    /// apply, so readers never wait for an fsync.
    Local(Mutex<Box<dyn OperationLog>>),
    Kafka(Box<KafkaStore>),
}

/// A registry: the state and the log it is the replay of.
#[derive(Debug)]
pub struct Registry {
    state: Arc<RwLock<RegistryState>>,
    backend: Backend,
    metrics: Arc<RegistryMetrics>,
    storage: String,
}

impl Registry {
    /// A registry kept in memory only.
    pub fn in_memory() -> Self {
        Self {
            state: Arc::default(),
            backend: Backend::Local(Mutex::new(Box::new(MemoryLog))),
            metrics: Arc::default(),
            storage: "memory only".into(),
        }
    }

    /// A registry persisted in `data_dir` (the file log), replaying what is there.
    pub fn open(data_dir: &Path) -> Result<Self, RegistryError> {
        let (log, records) = FileLog::open(data_dir)?;
        let count = records.len();
        let mut registry = Self::from_log(Box::new(log), records)?;
        registry.storage = format!("file {}", data_dir.join(FileLog::FILE_NAME).display());
        tracing::info!(data_dir = %data_dir.display(), records = count, "registry log replayed");
        Ok(registry)
    }

    /// A registry over any log, after replaying `records` read from it.
    pub fn from_log(
        log: Box<dyn OperationLog>,
        records: Vec<Record>,
    ) -> Result<Self, RegistryError> {
        let metrics = Arc::new(RegistryMetrics::default());
        let mut state = RegistryState::new();
        for record in records {
            state.apply(record).map_err(|e| RegistryError::Store {
                reason: format!("the registry log holds a record that cannot be replayed: {e}"),
            })?;
            metrics.record_applied();
        }
        if state.unresolved() > 0 {
            return Err(RegistryError::Store {
                reason: format!(
                    "the registry log holds {} schema(s) whose references were never registered",
                    state.unresolved()
                ),
            });
        }
        Ok(Self {
            state: Arc::new(RwLock::new(state)),
            backend: Backend::Local(Mutex::new(log)),
            metrics,
            storage: "log".into(),
        })
    }

    /// A registry whose log is a compacted Kafka topic shared with other instances;
    /// returns once the topic has been read to its end.
    pub async fn open_kafka(config: KafkaStoreConfig) -> Result<Self, RegistryError> {
        let state: Arc<RwLock<RegistryState>> = Arc::default();
        let metrics: Arc<RegistryMetrics> = Arc::default();
        let store = {
            let state = Arc::clone(&state);
            let metrics = Arc::clone(&metrics);
            tokio::task::spawn_blocking(move || KafkaStore::open(config, state, metrics))
                .await
                .map_err(|e| RegistryError::Store {
                    reason: format!("opening the Kafka store failed: {e}"),
                })??
        };
        Ok(Self {
            state,
            storage: format!("kafka topic {}", store.topic()),
            backend: Backend::Kafka(Box::new(store)),
            metrics,
        })
    }

    /// What the log is, for logs.
    pub fn storage(&self) -> &str {
        &self.storage
    }

    pub fn metrics(&self) -> &RegistryMetrics {
        &self.metrics
    }

    // A panic while holding a lock cannot leave a half-applied change: records are
    // applied only after they are logged, and `apply` does not panic.
    fn read_state(&self) -> RwLockReadGuard<'_, RegistryState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers a query from the current state.
    pub fn read<T>(
        &self,
        query: impl FnOnce(&RegistryState) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        query(&self.read_state())
    }

    /// Plans a change, logs its records durably, then applies them. Blocks on the
    /// log (an fsync, or a Kafka write and its read-back): call from a blocking
    /// context. The plan may run more than once with the Kafka store, when another
    /// instance wrote in between.
    pub fn write<T>(
        &self,
        plan: impl Fn(&RegistryState) -> Result<(T, Vec<Record>), RegistryError>,
    ) -> Result<T, RegistryError> {
        match &self.backend {
            Backend::Kafka(store) => store.write(&self.state, plan),
            Backend::Local(log) => {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                let (answer, records) = plan(&self.read_state())?;
                log.append(&records)?;
                let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
                for record in records {
                    state.apply(record)?;
                    self.metrics.record_applied();
                }
                Ok(answer)
            }
        }
    }
}
