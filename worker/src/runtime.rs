//! Connector lifecycle: each connector is one task (`pgcdc_connector::task`) on this
//! worker, started, paused, resumed, stopped, restarted and deleted as Kafka Connect
//! does it, with its configuration and target state persisted ([`crate::store`]).
//! Each start of the task is a [`crate::run::Run`]: retries with backoff, and
//! stopping that drains a streaming task but never holds a REST call for long; the
//! next start waits for the previous run to end, so two runs of one connector never
//! overlap (and PostgreSQL's one-consumer-per-slot rule fences it anyway).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pgcdc_connector::config::{PostgresConnectorConfig, PropertyError, CONNECTOR_CLASS};
use pgcdc_connector::replication::ReplicationError;
use pgcdc_connector::task::offsets_topic::OffsetStore;
use pgcdc_connector::task::{self, TaskMetrics, TaskOptions};
use rdkafka::config::ClientConfig;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::run::{Ending, Run, Shared};
use crate::secrets;
use crate::store::{Store, StoredConnector, TargetState};

/// Worker-level settings (what a Connect worker's properties file holds).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub kafka: ClientConfig,
    /// Connect's `offset.storage.topic`.
    pub offsets_topic: String,
    /// Where configurations and target states are kept.
    pub state_dir: PathBuf,
    /// `host:port` shown as `worker_id` in statuses.
    pub worker_id: String,
    /// Connect's `exactly.once.source.support=enabled`: every connector writes its
    /// records in Kafka transactions, whatever its `exactly.once.support`.
    pub exactly_once_source_support: bool,
}

/// A task's state as Connect names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Unassigned,
    Running,
    Paused,
    Stopped,
    Restarting,
    Failed { trace: String },
}

impl TaskState {
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Unassigned => "UNASSIGNED",
            TaskState::Running => "RUNNING",
            TaskState::Paused => "PAUSED",
            TaskState::Stopped => "STOPPED",
            TaskState::Restarting => "RESTARTING",
            TaskState::Failed { .. } => "FAILED",
        }
    }
}

/// Why a request cannot be served, with Connect's status codes.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("Connector {0} not found")]
    NotFound(String),
    #[error("Connector {0} already exists")]
    AlreadyExists(String),
    #[error("Connector configuration is invalid and contains the following {} error(s):\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    InvalidConfig(Vec<PropertyError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("Connector {0} must be stopped before its offsets can be changed")]
    NotStopped(String),
    #[error("Unknown plugin {0} (this worker has {CONNECTOR_CLASS})")]
    NoPlugin(String),
    #[error("{0}")]
    Internal(String),
}

impl WorkerError {
    pub fn status(&self) -> u16 {
        match self {
            WorkerError::NotFound(_) | WorkerError::NoPlugin(_) => 404,
            WorkerError::AlreadyExists(_) | WorkerError::NotStopped(_) => 409,
            WorkerError::InvalidConfig(_) | WorkerError::BadRequest(_) => 400,
            WorkerError::Internal(_) => 500,
        }
    }
}

struct Connector {
    config: BTreeMap<String, String>,
    target: TargetState,
    state: Arc<StdMutex<TaskState>>,
    metrics: Arc<TaskMetrics>,
    run: Option<Run>,
    /// A stopped run still finishing (see [`crate::run`]).
    ending: Option<Ending>,
}

/// A connector's figures for `/metrics`.
#[derive(Debug, Clone)]
pub struct ConnectorMetrics {
    pub name: String,
    pub state: TaskState,
    pub slot: String,
    pub metrics: Arc<TaskMetrics>,
    pub restarts: u64,
}

pub struct Worker {
    options: WorkerOptions,
    kafka_cluster_id: Option<String>,
    store: Store,
    connectors: Mutex<BTreeMap<String, Arc<Mutex<Connector>>>>,
    restarts: Arc<StdMutex<BTreeMap<String, u64>>>,
    /// Runs of deleted connectors still finishing, awaited at shutdown.
    detached: StdMutex<Vec<Ending>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("worker_id", &self.options.worker_id)
            .finish_non_exhaustive()
    }
}

/// Checks a configuration as `POST /connectors` must: the class, then every property.
pub fn validate(config: &BTreeMap<String, String>) -> Result<PostgresConnectorConfig, WorkerError> {
    match config.get("connector.class").map(String::as_str) {
        Some(CONNECTOR_CLASS) => {}
        Some(other) => {
            return Err(WorkerError::InvalidConfig(vec![PropertyError {
                property: "connector.class".to_owned(),
                message: format!(
                    "{other:?} is not a connector class this worker has (only {CONNECTOR_CLASS})"
                ),
            }]))
        }
        None => {
            return Err(WorkerError::InvalidConfig(vec![PropertyError {
                property: "connector.class".to_owned(),
                message: "is required".to_owned(),
            }]))
        }
    }
    let resolved = secrets::resolve(config).map_err(|e| {
        WorkerError::InvalidConfig(vec![PropertyError {
            property: e.property,
            message: e.reason,
        }])
    })?;
    PostgresConnectorConfig::from_properties(&resolved)
        .map(|parsed| parsed.config)
        .map_err(|errors| WorkerError::InvalidConfig(errors.0))
}

impl Worker {
    /// Opens the state directory and starts every connector whose target is running.
    pub async fn start(options: WorkerOptions) -> Result<Arc<Worker>, WorkerError> {
        let store = Store::open(&options.state_dir)
            .map_err(|e| WorkerError::Internal(format!("state directory: {e}")))?;
        let stored = store
            .load()
            .map_err(|e| WorkerError::Internal(format!("state directory: {e}")))?;
        let kafka = options.kafka.clone();
        let kafka_cluster_id = tokio::task::spawn_blocking(move || {
            let consumer: rdkafka::consumer::BaseConsumer = kafka.create().ok()?;
            rdkafka::consumer::Consumer::client(&consumer).fetch_cluster_id(Duration::from_secs(10))
        })
        .await
        .ok()
        .flatten();
        if kafka_cluster_id.is_none() {
            tracing::warn!("Kafka did not tell its cluster id; is it reachable?");
        }
        let worker = Arc::new(Worker {
            options,
            kafka_cluster_id,
            store,
            connectors: Mutex::new(BTreeMap::new()),
            restarts: Arc::default(),
            detached: StdMutex::default(),
        });
        for (name, connector) in stored {
            let entry = Arc::new(Mutex::new(Connector {
                config: connector.config,
                target: connector.target,
                state: Arc::new(StdMutex::new(TaskState::Unassigned)),
                metrics: Arc::default(),
                run: None,
                ending: None,
            }));
            worker
                .connectors
                .lock()
                .await
                .insert(name.clone(), Arc::clone(&entry));
            let mut guard = entry.lock().await;
            worker.apply_target(&name, &mut guard).await;
        }
        Ok(worker)
    }

    pub fn worker_id(&self) -> &str {
        &self.options.worker_id
    }

    pub fn kafka_cluster_id(&self) -> Option<&str> {
        self.kafka_cluster_id.as_deref()
    }

    async fn persist(&self) -> Result<(), WorkerError> {
        let connectors = self.connectors.lock().await;
        let mut stored = BTreeMap::new();
        for (name, entry) in connectors.iter() {
            let connector = entry.lock().await;
            stored.insert(
                name.clone(),
                StoredConnector {
                    config: connector.config.clone(),
                    target: connector.target,
                },
            );
        }
        self.store
            .save(&stored)
            .map_err(|e| WorkerError::Internal(format!("saving the state: {e}")))
    }

    async fn entry(&self, name: &str) -> Result<Arc<Mutex<Connector>>, WorkerError> {
        self.connectors
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))
    }

    pub async fn names(&self) -> Vec<String> {
        self.connectors.lock().await.keys().cloned().collect()
    }

    /// Creates a connector in the `target` state (Connect's `initial_state`);
    /// `Err(AlreadyExists)` if the name is taken.
    pub async fn create(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
        target: TargetState,
    ) -> Result<Value, WorkerError> {
        config.insert("name".to_owned(), name.to_owned());
        validate(&config)?;
        {
            let mut connectors = self.connectors.lock().await;
            if connectors.contains_key(name) {
                return Err(WorkerError::AlreadyExists(name.to_owned()));
            }
            connectors.insert(
                name.to_owned(),
                Arc::new(Mutex::new(Connector {
                    config,
                    target,
                    state: Arc::new(StdMutex::new(TaskState::Unassigned)),
                    metrics: Arc::default(),
                    run: None,
                    ending: None,
                })),
            );
        }
        self.persist().await?;
        let entry = self.entry(name).await?;
        let mut connector = entry.lock().await;
        self.apply_target(name, &mut connector).await;
        Ok(self.info_of(name, &connector))
    }

    /// Creates or replaces a connector's configuration; `true` when it was created.
    pub async fn put_config(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
    ) -> Result<(bool, Value), WorkerError> {
        let existing = self.connectors.lock().await.get(name).cloned();
        let Some(entry) = existing else {
            return self
                .create(name, config, TargetState::Running)
                .await
                .map(|info| (true, info));
        };
        self.replace_config(name, &entry, config)
            .await
            .map(|info| (false, info))
    }

    /// Changes some properties of an existing connector's configuration (Connect's
    /// `PATCH …/config`, KIP-477): a value replaces the stored one, `None` removes the
    /// property.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let mut config = entry.lock().await.config.clone();
        for (property, value) in patch {
            match value {
                Some(value) => config.insert(property, value),
                None => config.remove(&property),
            };
        }
        self.replace_config(name, &entry, config).await
    }

    /// Validates and stores a new configuration of an existing connector, then
    /// restarts its task with it (if its target is to run).
    async fn replace_config(
        &self,
        name: &str,
        entry: &Arc<Mutex<Connector>>,
        config: BTreeMap<String, String>,
    ) -> Result<Value, WorkerError> {
        let mut connector = entry.lock().await;
        let mut config = secrets::unmask(config, Some(&connector.config));
        config.insert("name".to_owned(), name.to_owned());
        validate(&config)?;
        connector.config = config;
        drop(connector);
        self.persist().await?;
        let mut connector = entry.lock().await;
        self.halt(name, &mut connector, false).await;
        self.apply_target(name, &mut connector).await;
        Ok(self.info_of(name, &connector))
    }

    fn info_of(&self, name: &str, connector: &Connector) -> Value {
        let tasks = if connector.target == TargetState::Stopped {
            json!([])
        } else {
            json!([{"connector": name, "task": 0}])
        };
        json!({
            "name": name,
            "config": secrets::masked(&connector.config),
            "tasks": tasks,
            "type": "source",
        })
    }

    pub async fn info(&self, name: &str) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let connector = entry.lock().await;
        Ok(self.info_of(name, &connector))
    }

    pub async fn config(&self, name: &str) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let connector = entry.lock().await;
        Ok(json!(secrets::masked(&connector.config)))
    }

    pub async fn tasks(&self, name: &str) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let connector = entry.lock().await;
        if connector.target == TargetState::Stopped {
            return Ok(json!([]));
        }
        Ok(json!([{
            "id": {"connector": name, "task": 0},
            "config": secrets::masked(&connector.config),
        }]))
    }

    pub async fn status(&self, name: &str) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let connector = entry.lock().await;
        Ok(self.status_of(name, &connector))
    }

    fn status_of(&self, name: &str, connector: &Connector) -> Value {
        let task = connector
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(TaskState::Unassigned);
        let version = env!("CARGO_PKG_VERSION");
        let worker_id = &self.options.worker_id;
        let connector_state = match (connector.target, &task) {
            (TargetState::Paused, _) => "PAUSED",
            (TargetState::Stopped, _) => "STOPPED",
            (_, TaskState::Restarting) => "RESTARTING",
            (_, TaskState::Unassigned) => "UNASSIGNED",
            _ => "RUNNING",
        };
        let mut task_json = json!({
            "id": 0,
            "state": task.name(),
            "worker_id": worker_id,
            "version": version,
        });
        if let TaskState::Failed { trace } = &task {
            task_json["trace"] = json!(trace);
        }
        let tasks = if connector.target == TargetState::Stopped {
            json!([])
        } else {
            json!([task_json])
        };
        json!({
            "name": name,
            "connector": {"state": connector_state, "worker_id": worker_id, "version": version},
            "tasks": tasks,
            "type": "source",
        })
    }

    /// Every connector's status (`?expand=status`) or info (`?expand=info`).
    pub async fn expanded(&self, status: bool, info: bool) -> Value {
        let connectors: Vec<(String, Arc<Mutex<Connector>>)> = self
            .connectors
            .lock()
            .await
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        let mut out = serde_json::Map::new();
        for (name, entry) in connectors {
            let connector = entry.lock().await;
            let mut item = serde_json::Map::new();
            if status {
                item.insert("status".to_owned(), self.status_of(&name, &connector));
            }
            if info {
                item.insert("info".to_owned(), self.info_of(&name, &connector));
            }
            out.insert(name, Value::Object(item));
        }
        Value::Object(out)
    }

    pub async fn set_target(&self, name: &str, target: TargetState) -> Result<(), WorkerError> {
        let entry = self.entry(name).await?;
        let mut connector = entry.lock().await;
        if connector.target == target {
            return Ok(());
        }
        connector.target = target;
        drop(connector);
        self.persist().await?;
        let mut connector = entry.lock().await;
        self.apply_target(name, &mut connector).await;
        Ok(())
    }

    /// Restarts the connector's task (Connect restarts the connector instance and,
    /// with `includeTasks`, its tasks; here they are one). `only_failed` restarts it
    /// only if it failed.
    pub async fn restart(&self, name: &str, only_failed: bool) -> Result<(), WorkerError> {
        let entry = self.entry(name).await?;
        let mut connector = entry.lock().await;
        let failed = matches!(
            connector.state.lock().map(|s| s.clone()),
            Ok(TaskState::Failed { .. })
        );
        if only_failed && !failed {
            return Ok(());
        }
        self.halt(name, &mut connector, false).await;
        if let Ok(mut state) = connector.state.lock() {
            *state = TaskState::Restarting;
        }
        self.apply_target(name, &mut connector).await;
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> Result<(), WorkerError> {
        let entry = self.entry(name).await?;
        let mut connector = entry.lock().await;
        self.halt(name, &mut connector, true).await;
        if let Some(ending) = connector.ending.take() {
            if let Ok(mut detached) = self.detached.lock() {
                detached.retain(|e| !e.is_finished());
                detached.push(ending);
            }
        }
        drop(connector);
        self.connectors.lock().await.remove(name);
        self.persist().await
    }

    /// The connector's offsets as Connect shows them.
    pub async fn offsets(&self, name: &str) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let config = entry.lock().await.config.clone();
        let parsed = validate(&config)?;
        let value = OffsetStore::read_raw(
            &self.options.kafka,
            &self.options.offsets_topic,
            name,
            &parsed.topic_prefix,
        )
        .await
        .map_err(|e| WorkerError::Internal(format!("reading offsets: {e}")))?;
        let offsets = match value {
            Some(offset) => {
                json!([{"partition": {"server": parsed.topic_prefix}, "offset": offset}])
            }
            None => json!([]),
        };
        Ok(json!({ "offsets": offsets }))
    }

    /// Figures of every connector, for `/metrics`.
    pub async fn metrics(&self) -> Vec<ConnectorMetrics> {
        let connectors: Vec<(String, Arc<Mutex<Connector>>)> = self
            .connectors
            .lock()
            .await
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        let restarts = self.restarts.lock().map(|r| r.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for (name, entry) in connectors {
            let connector = entry.lock().await;
            out.push(ConnectorMetrics {
                state: connector
                    .state
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or(TaskState::Unassigned),
                slot: connector
                    .config
                    .get("slot.name")
                    .cloned()
                    .unwrap_or_else(|| "debezium".to_owned()),
                metrics: Arc::clone(&connector.metrics),
                restarts: restarts.get(&name).copied().unwrap_or(0),
                name,
            });
        }
        out
    }

    /// The connector's resolved configuration (for the lag sampler's SQL connection).
    pub async fn resolved_config(
        &self,
        name: &str,
    ) -> Result<PostgresConnectorConfig, WorkerError> {
        let entry = self.entry(name).await?;
        let config = entry.lock().await.config.clone();
        validate(&config)
    }

    /// Stops the running task (see [`crate::run`] for how long that may take); with
    /// `stopping` (the connector is stopped, deleted or the worker shuts down, not
    /// paused or restarted) the slot is dropped if `slot.drop.on.stop` says so — once
    /// the task has ended, in the background if it is still finishing.
    async fn halt(&self, name: &str, connector: &mut Connector, stopping: bool) {
        if let Some(run) = connector.run.take() {
            connector.ending = run.stop(name, &connector.metrics).await;
        }
        if !stopping {
            return;
        }
        let Ok(config) = validate(&connector.config) else {
            return;
        };
        if !config.slot_drop_on_stop {
            return;
        }
        match connector.ending.take() {
            None => drop_slot(&config).await,
            // The next start waits for this too, so it cannot race the drop.
            Some(ending) => {
                connector.ending = Some(tokio::spawn(async move {
                    let _ = ending.await;
                    drop_slot(&config).await;
                }));
            }
        }
    }

    /// Makes the task match the target state.
    async fn apply_target(&self, name: &str, connector: &mut Connector) {
        match connector.target {
            TargetState::Running => {
                if connector.run.is_none() {
                    connector.run = Some(self.spawn(name, connector));
                }
            }
            TargetState::Paused | TargetState::Stopped => {
                let stopping = connector.target == TargetState::Stopped;
                self.halt(name, connector, stopping).await;
                if let Ok(mut state) = connector.state.lock() {
                    *state = if connector.target == TargetState::Paused {
                        TaskState::Paused
                    } else {
                        TaskState::Stopped
                    };
                }
            }
        }
    }

    fn spawn(&self, name: &str, connector: &mut Connector) -> Run {
        let options = TaskOptions {
            kafka: self.options.kafka.clone(),
            offsets_topic: self.options.offsets_topic.clone(),
        };
        let shared = Shared {
            state: Arc::clone(&connector.state),
            metrics: Arc::clone(&connector.metrics),
            restarts: Arc::clone(&self.restarts),
            exactly_once_source_support: self.options.exactly_once_source_support,
        };
        Run::start(
            name,
            connector.config.clone(),
            options,
            shared,
            connector.ending.take(),
        )
    }

    /// Stops every connector's task (draining each), keeping target states: used on
    /// SIGTERM, so the next start resumes them.
    pub async fn shutdown(&self) {
        let connectors: Vec<(String, Arc<Mutex<Connector>>)> = self
            .connectors
            .lock()
            .await
            .iter()
            .map(|(name, entry)| (name.clone(), Arc::clone(entry)))
            .collect();
        let mut endings = self
            .detached
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        for (name, entry) in connectors {
            let mut connector = entry.lock().await;
            self.halt(&name, &mut connector, true).await;
            endings.extend(connector.ending.take());
        }
        // Tasks still finishing hold their slots, which slot.drop.on.stop may drop
        // after them: give them a while.
        let all = async {
            for ending in endings {
                let _ = ending.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_WAIT, all).await.is_err() {
            tracing::warn!(
                "tasks still finishing after {} s; exiting anyway",
                SHUTDOWN_WAIT.as_secs()
            );
        }
    }
}

/// How long a shutting-down worker waits for aborted tasks to end.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// `slot.drop.on.stop`: drops the connector's slot. An aborted task's walsender lets
/// the slot go shortly after its connection closes: wait a little for that.
async fn drop_slot(config: &PostgresConnectorConfig) {
    let replication = task::replication_config(config);
    let client = match pgcdc_connector::sql::connect(&replication).await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(slot = %config.slot_name, error = %e, "slot not dropped");
            return;
        }
    };
    for attempt in 1.. {
        match pgcdc_connector::slot::drop_slot(&client, &config.slot_name).await {
            Ok(dropped) => {
                tracing::info!(slot = %config.slot_name, dropped, "slot.drop.on.stop");
            }
            Err(ReplicationError::SlotInUse { .. }) if attempt < 25 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => tracing::warn!(slot = %config.slot_name, error = %e, "slot not dropped"),
        }
        return;
    }
}
