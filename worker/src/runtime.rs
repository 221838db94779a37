//! Connector lifecycle: each connector is one task on this worker, of its class
//! ([`crate::class`]: the PostgreSQL source, the JDBC sink, the dashboard), started, paused, resumed, stopped, restarted and deleted as Kafka Connect
//! does it, with its configuration and target state persisted ([`crate::store`]).
//! Each start of the task is a [`crate::run::Run`]: retries with backoff, and
//! stopping that drains a streaming task but never holds a REST call for long; the
//! next start waits for the previous run to end, so two runs of one connector never
//! overlap (PostgreSQL's one-consumer-per-slot rule and the sink's offset checks fence
//! it anyway).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pgcdc_connector::config::{PostgresConnectorConfig, PropertyError};
use pgcdc_connector::task::offsets_topic::OffsetStore;
use pgcdc_connector::task::TaskOptions;
use rdkafka::config::ClientConfig;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::class::{self, validate, ConnectorClass, Figures, Parsed};
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
    #[error("Unknown plugin {class} (this worker has {})", ConnectorClass::names())]
    NoPlugin { class: String },
    #[error("{0}")]
    Internal(String),
}

impl WorkerError {
    pub fn status(&self) -> u16 {
        match self {
            WorkerError::NotFound(_) | WorkerError::NoPlugin { .. } => 404,
            WorkerError::AlreadyExists(_) | WorkerError::NotStopped(_) => 409,
            WorkerError::InvalidConfig(_) | WorkerError::BadRequest(_) => 400,
            WorkerError::Internal(_) => 500,
        }
    }
}

struct Connector {
    config: BTreeMap<String, String>,
    /// The class `config` names (checked when it was created or last changed).
    class: ConnectorClass,
    target: TargetState,
    state: Arc<StdMutex<TaskState>>,
    figures: Figures,
    run: Option<Run>,
    /// A stopped run still finishing (see [`crate::run`]).
    ending: Option<Ending>,
}

/// A connector's figures for `/metrics`.
#[derive(Debug, Clone)]
pub struct ConnectorMetrics {
    pub name: String,
    pub class: ConnectorClass,
    pub state: TaskState,
    /// A source connector's `slot.name`.
    pub slot: Option<String>,
    pub figures: Figures,
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

impl Connector {
    fn new(config: BTreeMap<String, String>, target: TargetState) -> Connector {
        // A stored configuration naming a class this build lacks fails its task
        // with the reason; the class it is shown under does not matter then.
        let class = ConnectorClass::of(&config).unwrap_or(ConnectorClass::Postgres);
        Connector {
            config,
            class,
            target,
            state: Arc::new(StdMutex::new(TaskState::Unassigned)),
            figures: class.figures(),
            run: None,
            ending: None,
        }
    }
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
            let entry = Arc::new(Mutex::new(Connector::new(
                connector.config,
                connector.target,
            )));
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
                Arc::new(Mutex::new(Connector::new(config, target))),
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
        let class = ConnectorClass::of(&config)?;
        connector.config = config;
        drop(connector);
        self.persist().await?;
        let mut connector = entry.lock().await;
        self.halt(name, &mut connector, false).await;
        if connector.class != class {
            connector.class = class;
            connector.figures = class.figures();
        }
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
            "type": connector.class.plugin_type(),
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
            "type": connector.class.plugin_type(),
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

    /// The connector's offsets as Connect shows them: a source's from the offsets
    /// topic, a sink's from the warehouse; the dashboard's live in Redis with its
    /// windows and are not shown.
    pub async fn offsets(&self, name: &str) -> Result<Value, WorkerError> {
        let entry = self.entry(name).await?;
        let config = entry.lock().await.config.clone();
        match validate(&config)? {
            Parsed::Source(parsed) => {
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
            Parsed::Sink(settings) => class::sink::offsets(&settings.config)
                .await
                .map_err(|e| WorkerError::Internal(format!("reading offsets: {e}"))),
            Parsed::Dashboard(_) => Ok(json!({ "offsets": [] })),
        }
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
            let slot = (connector.class == ConnectorClass::Postgres).then(|| {
                connector
                    .config
                    .get("slot.name")
                    .cloned()
                    .unwrap_or_else(|| "debezium".to_owned())
            });
            out.push(ConnectorMetrics {
                class: connector.class,
                state: connector
                    .state
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or(TaskState::Unassigned),
                slot,
                figures: connector.figures.clone(),
                restarts: restarts.get(&name).copied().unwrap_or(0),
                name,
            });
        }
        out
    }

    /// A source connector's resolved configuration (for the lag sampler's SQL
    /// connection).
    pub async fn resolved_config(
        &self,
        name: &str,
    ) -> Result<PostgresConnectorConfig, WorkerError> {
        let entry = self.entry(name).await?;
        let config = entry.lock().await.config.clone();
        match validate(&config)? {
            Parsed::Source(parsed) => Ok(*parsed),
            Parsed::Sink(_) | Parsed::Dashboard(_) => Err(WorkerError::BadRequest(format!(
                "connector {name} is not a PostgreSQL source connector"
            ))),
        }
    }

    /// Stops the running task (see [`crate::run`] for how long that may take); with
    /// `stopping` (the connector is stopped, deleted or the worker shuts down, not
    /// paused or restarted) the slot is dropped if `slot.drop.on.stop` says so — once
    /// the task has ended, in the background if it is still finishing.
    async fn halt(&self, name: &str, connector: &mut Connector, stopping: bool) {
        if let Some(run) = connector.run.take() {
            connector.ending = run.stop(name, &connector.figures).await;
        }
        if !stopping {
            return;
        }
        let Ok(Parsed::Source(config)) = validate(&connector.config) else {
            return;
        };
        if !config.slot_drop_on_stop {
            return;
        }
        match connector.ending.take() {
            None => class::source::drop_slot(&config).await,
            // The next start waits for this too, so it cannot race the drop.
            Some(ending) => {
                connector.ending = Some(tokio::spawn(async move {
                    let _ = ending.await;
                    class::source::drop_slot(&config).await;
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
            figures: connector.figures.clone(),
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
