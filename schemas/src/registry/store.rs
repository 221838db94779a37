//! The registry shared by request handlers: its state and its log, so that a change
//! is planned, made durable and applied as one step.

use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};

use super::error::RegistryError;
use super::log::{FileLog, MemoryLog, OperationLog};
use super::records::Record;
use super::state::RegistryState;

/// A registry: the state and the log it is the replay of. Writers are serialized by
/// the log's lock and hold the state's lock only to apply, so readers never wait
/// for an fsync.
#[derive(Debug)]
pub struct Registry {
    state: RwLock<RegistryState>,
    log: Mutex<Box<dyn OperationLog>>,
}

impl Registry {
    /// A registry kept in memory only.
    pub fn in_memory() -> Self {
        Self {
            state: RwLock::new(RegistryState::new()),
            log: Mutex::new(Box::new(MemoryLog)),
        }
    }

    /// A registry persisted in `data_dir` (the file log), replaying what is there.
    pub fn open(data_dir: &Path) -> Result<Self, RegistryError> {
        let (log, records) = FileLog::open(data_dir)?;
        let count = records.len();
        let registry = Self::from_log(Box::new(log), records)?;
        tracing::info!(data_dir = %data_dir.display(), records = count, "registry log replayed");
        Ok(registry)
    }

    /// A registry over any log, after replaying `records` read from it.
    pub fn from_log(
        log: Box<dyn OperationLog>,
        records: Vec<Record>,
    ) -> Result<Self, RegistryError> {
        let mut state = RegistryState::new();
        for record in records {
            state.apply(record).map_err(|e| RegistryError::Store {
                reason: format!("the registry log holds a record that cannot be replayed: {e}"),
            })?;
        }
        Ok(Self {
            state: RwLock::new(state),
            log: Mutex::new(log),
        })
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
    /// log's fsync: call from a blocking context.
    pub fn write<T>(
        &self,
        plan: impl FnOnce(&RegistryState) -> Result<(T, Vec<Record>), RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let (answer, records) = plan(&self.read_state())?;
        log.append(&records)?;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            state.apply(record)?;
        }
        Ok(answer)
    }
}
