//! Connector lifecycle: each connector is one task (`pgcdc_connector::task`) on this
//! worker, started, paused, resumed, stopped, restarted and deleted as Kafka Connect
//! does it, with its configuration and target state persisted ([`crate::store`]).
//!
//! A connector's run loop restarts the task after failures worth retrying (PostgreSQL
//! or Kafka unreachable) with exponential backoff and jitter, and marks it FAILED,
//! with the error as its trace, after the others. Pausing or stopping cancels the task,
//! which drains what it sent and confirms it before it returns, and the next start
//! waits for that: two runs of one connector never overlap (and PostgreSQL's
//! one-consumer-per-slot rule fences it anyway).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pgcdc_connector::config::{PostgresConnectorConfig, PropertyError, CONNECTOR_CLASS};
use pgcdc_connector::task::offsets_topic::OffsetStore;
use pgcdc_connector::task::{self, TaskMetrics, TaskOptions};
use rdkafka::config::ClientConfig;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    #[error("{0}")]
    Internal(String),
}

impl WorkerError {
    pub fn status(&self) -> u16 {
        match self {
            WorkerError::NotFound(_) => 404,
            WorkerError::AlreadyExists(_) | WorkerError::NotStopped(_) => 409,
            WorkerError::InvalidConfig(_) | WorkerError::BadRequest(_) => 400,
            WorkerError::Internal(_) => 500,
        }
    }
}

struct Run {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

struct Connector {
    config: BTreeMap<String, String>,
    target: TargetState,
    state: Arc<StdMutex<TaskState>>,
    metrics: Arc<TaskMetrics>,
    run: Option<Run>,
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
        });
        for (name, connector) in stored {
            let entry = Arc::new(Mutex::new(Connector {
                config: connector.config,
                target: connector.target,
                state: Arc::new(StdMutex::new(TaskState::Unassigned)),
                metrics: Arc::default(),
                run: None,
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

    /// Creates a connector; `Err(AlreadyExists)` if the name is taken.
    pub async fn create(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
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
                    target: TargetState::Running,
                    state: Arc::new(StdMutex::new(TaskState::Unassigned)),
                    metrics: Arc::default(),
                    run: None,
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
            return self.create(name, config).await.map(|info| (true, info));
        };
        let mut connector = entry.lock().await;
        let mut config = secrets::unmask(config, Some(&connector.config));
        config.insert("name".to_owned(), name.to_owned());
        validate(&config)?;
        connector.config = config;
        drop(connector);
        self.persist().await?;
        let mut connector = entry.lock().await;
        self.halt(&mut connector, false).await;
        self.apply_target(name, &mut connector).await;
        Ok((false, self.info_of(name, &connector)))
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
        self.halt(&mut connector, false).await;
        if let Ok(mut state) = connector.state.lock() {
            *state = TaskState::Restarting;
        }
        self.apply_target(name, &mut connector).await;
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> Result<(), WorkerError> {
        let entry = self.entry(name).await?;
        let mut connector = entry.lock().await;
        self.halt(&mut connector, true).await;
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

    /// Cancels the running task and waits until it has drained; with `stopping` (the
    /// connector is stopped, deleted or the worker shuts down, not paused or
    /// restarted) the slot is dropped if `slot.drop.on.stop` says so.
    async fn halt(&self, connector: &mut Connector, stopping: bool) {
        if let Some(run) = connector.run.take() {
            run.cancel.cancel();
            let _ = run.handle.await;
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
        let replication = task::replication_config(&config);
        match pgcdc_connector::sql::connect(&replication).await {
            Ok(client) => {
                match pgcdc_connector::slot::drop_slot(&client, &config.slot_name).await {
                    Ok(dropped) => {
                        tracing::info!(slot = %config.slot_name, dropped, "slot.drop.on.stop");
                    }
                    Err(e) => {
                        tracing::warn!(slot = %config.slot_name, error = %e, "slot not dropped")
                    }
                }
            }
            Err(e) => tracing::warn!(slot = %config.slot_name, error = %e, "slot not dropped"),
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
                self.halt(connector, stopping).await;
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

    fn spawn(&self, name: &str, connector: &Connector) -> Run {
        let cancel = CancellationToken::new();
        let state = Arc::clone(&connector.state);
        let metrics = Arc::clone(&connector.metrics);
        let options = TaskOptions {
            kafka: self.options.kafka.clone(),
            offsets_topic: self.options.offsets_topic.clone(),
        };
        let config = connector.config.clone();
        let restarts = Arc::clone(&self.restarts);
        let name = name.to_owned();
        let token = cancel.clone();
        let handle = tokio::spawn(async move {
            let set = |s: TaskState| {
                if let Ok(mut state) = state.lock() {
                    *state = s;
                }
            };
            let parsed = match validate(&config) {
                // Pausing and restarting cancel the task too; the worker drops the
                // slot only when the connector really stops (see `halt`).
                Ok(parsed) => PostgresConnectorConfig {
                    slot_drop_on_stop: false,
                    ..parsed
                },
                Err(e) => {
                    set(TaskState::Failed {
                        trace: e.to_string(),
                    });
                    return;
                }
            };
            let mut delay = Duration::from_secs(1);
            loop {
                set(TaskState::Running);
                let result =
                    task::run_with_metrics(&parsed, &options, Arc::clone(&metrics), token.clone())
                        .await;
                match result {
                    Ok(_) => {
                        tracing::info!(connector = %name, "task stopped");
                        return;
                    }
                    Err(e) if e.is_retriable() && !token.is_cancelled() => {
                        if let Ok(mut r) = restarts.lock() {
                            *r.entry(name.clone()).or_insert(0) += 1;
                        }
                        let wait = delay + delay.mul_f64(jitter() * 0.5);
                        tracing::warn!(connector = %name, error = %e, retry_in_ms = wait.as_millis() as u64, "task failed; retrying");
                        tokio::select! {
                            () = token.cancelled() => return,
                            () = tokio::time::sleep(wait) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(60));
                    }
                    Err(e) => {
                        tracing::error!(connector = %name, error = %e, "task failed");
                        set(TaskState::Failed {
                            trace: format!("{e}\n{e:?}"),
                        });
                        return;
                    }
                }
            }
        });
        Run { cancel, handle }
    }

    /// Stops every connector's task (draining each), keeping target states: used on
    /// SIGTERM, so the next start resumes them.
    pub async fn shutdown(&self) {
        let connectors: Vec<Arc<Mutex<Connector>>> =
            self.connectors.lock().await.values().cloned().collect();
        for entry in connectors {
            let mut connector = entry.lock().await;
            self.halt(&mut connector, true).await;
        }
    }
}

/// A number in [0, 1) from the clock: backoff jitter needs no better randomness.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}
