//! The connector task: the Debezium PostgreSQL connector's job, from a validated
//! configuration to records in Kafka.
//!
//! One start:
//!
//! 1. preflight (`wal_level`, the REPLICATION privilege) and the publication, per
//!    `publication.autocreate.mode`;
//! 2. the offsets topic says whether an initial snapshot completed; with the slot's
//!    state and `snapshot.mode` that decides whether to snapshot;
//! 3. to snapshot, the slot is (re)created with an exported snapshot, every captured
//!    table is read as of its consistent point ([`snapshot`]), and the stream starts
//!    at that point: no gap, no overlap;
//! 4. otherwise the stream resumes where the slot was confirmed, skipping what the
//!    partitions already hold (their tails are read back first);
//! 5. the [`Pipeline`] streams until shutdown, confirming only what Kafka acknowledged,
//!    and the offsets topic follows the confirmed LSN.
//!
//! In the transactional mode (`exactly.once.support`), the producer is made first:
//! its initialization fences the previous instance of the task and aborts the Kafka
//! transaction it left open, so the offsets topic and the partitions' tails read
//! next (with `read_committed`) show only what was committed. Each batch is then one
//! Kafka transaction holding the offsets record, and the slot is confirmed only past
//! committed ones.
//!
//! [`run_until_stopped`] restarts a start that failed for a reason worth retrying
//! (PostgreSQL, Kafka unreachable), with exponential backoff and jitter.

pub mod catalog;
pub mod encoder;
pub mod metrics;
pub mod offsets_topic;
mod resume;
pub mod snapshot;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::sync::watch;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::capture::{load_user_types, Capture, CaptureError, CaptureOptions, TableSchema};
use crate::config::{Filter, PostgresConnectorConfig, SnapshotMode, TransactionBoundary};
use crate::lsn::Lsn;
use crate::offsets::tail::{read_tails, TailError};
use crate::offsets::{ResumeFilter, SnapshotOverlap};
use crate::pipeline::{
    EncodeError, Pipeline, PipelineError, PipelineOptions, PipelineStats, Transactions,
};
use crate::producer::{EventProducer, ProducerError};
use crate::publication::{ensure_publication, published_tables, AutocreateMode, TableName};
use crate::replication::{
    CreateSlotOptions, CreatedSlot, ReplicationClient, ReplicationConfig, ReplicationError,
    SnapshotAction,
};
use crate::slot;
use crate::snapshot::{table_schema, SnapshotError};
pub use encoder::{DebeziumEncoder, EncoderSettings};
pub use metrics::TaskMetrics;
use offsets_topic::{OffsetStore, ResumedSnapshot, SnapshotSeries, StoredOffset};

/// Where the task runs besides PostgreSQL: Kafka, and the worker-level settings a
/// Connect worker would hold.
#[derive(Debug, Clone)]
pub struct TaskOptions {
    /// librdkafka settings (`bootstrap.servers`, security).
    pub kafka: ClientConfig,
    /// Connect's `offset.storage.topic`.
    pub offsets_topic: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("PostgreSQL: {0}")]
    Replication(#[from] ReplicationError),
    #[error("PostgreSQL: {0}")]
    Sql(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    SnapshotRead(#[from] SnapshotError),
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error(transparent)]
    Encode(EncodeError),
    #[error("Kafka: {0}")]
    Producer(Box<ProducerError>),
    #[error("Kafka offsets topic: {0}")]
    Offsets(#[from] rdkafka::error::KafkaError),
    #[error("reading the tails of the connector's topics: {0}")]
    Tails(#[from] TailError),
    #[error("configuration: {0}")]
    Config(String),
}

impl From<ProducerError> for TaskError {
    fn from(error: ProducerError) -> Self {
        TaskError::Producer(Box::new(error))
    }
}

impl TaskError {
    /// Trouble with a service that may come back (a restart, a network blip).
    pub fn is_retriable(&self) -> bool {
        match self {
            TaskError::Replication(e) => e.is_retriable(),
            TaskError::Sql(e) => e.is_closed() || e.code().is_none(),
            TaskError::Capture(e) => e.is_retriable(),
            TaskError::Pipeline(e) => e.is_retriable(),
            TaskError::SnapshotRead(e) => e.is_retriable(),
            TaskError::Producer(e) => e.is_retriable(),
            TaskError::Offsets(_) | TaskError::Tails(_) => true,
            TaskError::Encode(e) => e.retriable,
            TaskError::Snapshot(_) | TaskError::Config(_) => false,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskStats {
    pub snapshot_rows: u64,
    /// Rows a resumed snapshot found already in Kafka.
    pub snapshot_rows_skipped: u64,
    pub stream: PipelineStats,
}

/// The `transactional.id` of a connector's task in the transactional mode. Connect
/// uses `${groupId}-${connector}-${taskId}`; a pgcdc worker has no group, and its
/// offsets topic names the set of workers whose connectors must not collide the way
/// a Connect group does, so it stands in for the group id:
/// `<offsets topic>-<connector name>-0` (one task per connector). Stable across
/// restarts, so a new start fences the previous instance.
pub fn transactional_id(offsets_topic: &str, connector: &str) -> String {
    format!("{offsets_topic}-{connector}-0")
}

/// `transaction.timeout.ms` for a transaction boundary: the Java client's and
/// librdkafka's default of 60 s, which a crashed instance's open transaction holds up
/// `read_committed` readers at most (its successor aborts it sooner); with
/// `transaction.boundary=interval`, 60 s more than the interval, so that the broker
/// does not abort a transaction that is still filling. (The broker refuses more than
/// its `transaction.max.timeout.ms`, 15 minutes by default: a fatal error naming it.)
fn transaction_timeout(boundary: TransactionBoundary) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(60);
    match boundary {
        TransactionBoundary::Poll => DEFAULT,
        TransactionBoundary::Interval(interval) => interval + DEFAULT,
    }
}

/// The replication connection settings of a connector configuration.
pub fn replication_config(config: &PostgresConnectorConfig) -> ReplicationConfig {
    let db = &config.database;
    let mut replication = ReplicationConfig::new(&db.hostname, db.port, &db.user, &db.dbname)
        .with_password(db.password.clone())
        .with_sslmode(db.sslmode);
    if let Some(root) = &db.sslrootcert {
        replication = replication.with_sslrootcert(root);
    }
    replication.application_name = format!("pgcdc {}", config.name);
    replication
}

/// The captured tables: those the filters accept among the publication's.
async fn captured_tables(
    client: &Client,
    config: &PostgresConnectorConfig,
) -> Result<Vec<TableName>, TaskError> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%' \
               AND n.nspname <> 'information_schema' \
             ORDER BY 1, 2",
            &[],
        )
        .await?;
    let mut tables: Vec<TableName> = rows
        .iter()
        .map(|row| TableName::new(row.get::<_, String>(0), row.get::<_, String>(1)))
        .filter(|t| config.filters.captures_table(&t.schema, &t.table))
        .collect();
    // Debezium snapshots tables in the order of `table.include.list` (by the first
    // pattern each matches), by name otherwise.
    if let Filter::Include(patterns) = &config.filters.tables {
        tables.sort_by_key(|t| patterns.position(&format!("{}.{}", t.schema, t.table)));
    }
    Ok(tables)
}

fn wants_snapshot(
    mode: SnapshotMode,
    stored: &StoredOffset,
    slot: Option<&slot::SlotInfo>,
) -> bool {
    match mode {
        SnapshotMode::NoData => false,
        SnapshotMode::Always => true,
        SnapshotMode::Initial | SnapshotMode::InitialOnly => !stored.snapshot_completed,
        SnapshotMode::WhenNeeded => {
            !stored.snapshot_completed
                || slot.is_none_or(|s| s.wal_status.as_deref() == Some("lost"))
        }
    }
}

/// Topics the connector writes, for reading their tails: every topic named
/// `<topic.prefix>.…`.
fn connector_topics(kafka: &ClientConfig, prefix: &str) -> Result<Vec<String>, TaskError> {
    let consumer: BaseConsumer = kafka.create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(30))?;
    let start = format!("{prefix}.");
    Ok(metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|name| name.starts_with(&start))
        .collect())
}

/// One start of the connector, until `shutdown` or an error.
pub async fn run(
    config: &PostgresConnectorConfig,
    options: &TaskOptions,
    shutdown: CancellationToken,
) -> Result<TaskStats, TaskError> {
    run_with_metrics(config, options, Arc::default(), shutdown).await
}

/// [`run`], reporting into `metrics` (kept across restarts by the caller).
pub async fn run_with_metrics(
    config: &PostgresConnectorConfig,
    options: &TaskOptions,
    metrics: Arc<TaskMetrics>,
    shutdown: CancellationToken,
) -> Result<TaskStats, TaskError> {
    let result = run_started(config, options, &metrics, shutdown).await;
    metrics.connected.store(false, Ordering::Relaxed);
    result
}

async fn run_started(
    config: &PostgresConnectorConfig,
    options: &TaskOptions,
    metrics: &Arc<TaskMetrics>,
    shutdown: CancellationToken,
) -> Result<TaskStats, TaskError> {
    let mut replication = replication_config(config);
    let settings = EncoderSettings::from_config(config).map_err(TaskError::Config)?;
    let sql = crate::sql::connect(&replication).await?;
    slot::preflight(&sql).await?;
    replication.status_interval = status_interval(&sql, replication.status_interval).await?;
    let tables = captured_tables(&sql, config).await?;
    ensure_publication(
        &sql,
        &config.publication_name,
        config.publication_autocreate_mode,
        &tables,
    )
    .await?;
    let published = published_tables(&sql, &config.publication_name).await?;
    let snapshot_tables: Vec<TableName> = tables
        .into_iter()
        .filter(|t| {
            config.publication_autocreate_mode != AutocreateMode::Disabled || published.contains(t)
        })
        .collect();

    // In the transactional mode, first fence the previous instance: what it left open
    // is aborted, so that the offsets and tails below read to the committed ends.
    let transactional = config.delivery.transactional();
    let mut producer = if transactional {
        let id = transactional_id(&options.offsets_topic, &config.name);
        EventProducer::transactional(
            &options.kafka,
            config.topic_creation,
            &id,
            transaction_timeout(config.delivery.transaction_boundary),
        )
        .await?
    } else {
        EventProducer::new(&options.kafka, config.topic_creation)?
    };
    let (mut offsets, stored) = OffsetStore::open(
        &options.kafka,
        &options.offsets_topic,
        &config.name,
        &config.topic_prefix,
    )
    .await?;
    let existing_slot = slot::check_slot_available(&sql, &config.slot_name).await?;
    let snapshot = wants_snapshot(config.snapshot_mode, &stored, existing_slot.as_ref());
    tracing::info!(
        connector = %config.name,
        slot = %config.slot_name,
        slot_exists = existing_slot.is_some(),
        snapshot_completed = stored.snapshot_completed,
        snapshot,
        transactional,
        "starting"
    );
    if !snapshot && config.snapshot_mode == SnapshotMode::InitialOnly {
        // Debezium's initial_only never streams: once its snapshot is done, a start
        // has nothing to do (and must not create a slot that would pin WAL).
        tracing::info!(connector = %config.name, "snapshot.mode=initial_only and the snapshot is complete: nothing to do");
        return Ok(TaskStats::default());
    }

    let mut encoder = DebeziumEncoder::new(settings, crate::sql::connect(&replication).await?)
        .await
        .map_err(TaskError::Encode)?
        .with_metrics(Arc::clone(metrics));
    let mut capture_options = CaptureOptions::new(
        config.slot_name.clone(),
        vec![config.publication_name.clone()],
    );
    let mut stats = TaskStats::default();

    let mut client = ReplicationClient::connect(replication.clone()).await?;
    let types = load_user_types(&mut client).await?;
    metrics.connected.store(true, Ordering::Relaxed);
    let mut overlap = None;
    if snapshot {
        let initial_only = config.snapshot_mode == SnapshotMode::InitialOnly;
        let threads = config.snapshot_max_threads as usize;
        let interrupted = resume::interrupted_series(&stored, existing_slot.as_ref());
        let (series, point, readers, mut already_sent) = match interrupted {
            Some(series) => {
                let keys =
                    resume::snapshot_keys(&options.kafka, &config.topic_prefix, series).await?;
                // A temporary slot's exported snapshot marks the point the series
                // goes on from; the connector's slot stays where the series began.
                let mut side = ReplicationClient::connect(replication.clone()).await?;
                let resume_slot = resume::resume_slot_name(&config.slot_name);
                let (created, readers) =
                    export_snapshot(&mut side, &resume_slot, true, &replication, threads).await?;
                // The readers hold the snapshot now; the temporary slot would only pin WAL.
                side.close().await?;
                tracing::info!(
                    slot = %config.slot_name,
                    series = %series.lsn,
                    resumed_at = %created.consistent_point,
                    rows_sent = keys.len(),
                    keyless_rows_sent = keys.keyless(),
                    "resuming the interrupted snapshot: rows already in Kafka are skipped"
                );
                (series, created.consistent_point, readers, Some(keys))
            }
            None => {
                if existing_slot.is_some() {
                    tracing::warn!(slot = %config.slot_name, "dropping the slot to take a consistent snapshot");
                    slot::drop_slot(&sql, &config.slot_name).await?;
                }
                let (created, readers) = export_snapshot(
                    &mut client,
                    &config.slot_name,
                    initial_only,
                    &replication,
                    threads,
                )
                .await?;
                let series = SnapshotSeries {
                    lsn: created.consistent_point,
                    started_ms: resume::now_ms(),
                };
                offsets.snapshot_started(series).await?;
                (series, created.consistent_point, readers, None)
            }
        };
        let mut schemas: Vec<Arc<TableSchema>> = Vec::new();
        for table in &snapshot_tables {
            schemas.push(table_schema(readers.first(), &table.schema, &table.table, &types).await?);
        }
        let done = snapshot::run(
            readers,
            &schemas,
            point,
            already_sent.as_mut(),
            &mut encoder,
            &mut producer,
            metrics,
        )
        .await?;
        stats.snapshot_rows = done.rows;
        stats.snapshot_rows_skipped = done.skipped;
        let resumed = already_sent.is_some().then_some(ResumedSnapshot {
            series,
            resumed_at: point,
        });
        offsets.snapshot_completed(series.lsn, resumed).await?;
        if initial_only {
            client.close().await?;
            return Ok(stats);
        }
        capture_options.start_lsn = series.lsn;
        overlap = already_sent.map(|keys| SnapshotOverlap::new(point, keys));
    } else if existing_slot.is_none() {
        let created = client
            .create_slot(
                &config.slot_name,
                CreateSlotOptions {
                    temporary: false,
                    snapshot: SnapshotAction::Nothing,
                },
            )
            .await?;
        tracing::info!(slot = %created.slot_name, lsn = %created.consistent_point, "created slot");
        capture_options.start_lsn = created.consistent_point;
    } else if let Some(resumed) = resume::unpassed_resume(&stored, existing_slot.as_ref()) {
        // Stopped before the stream passed a resumed snapshot's point: the changes
        // its rows hold are held back again.
        let keys =
            resume::snapshot_keys(&options.kafka, &config.topic_prefix, resumed.series).await?;
        tracing::info!(resumed_at = %resumed.resumed_at, rows = keys.len(), "the stream has not passed the resumed snapshot's point yet");
        offsets.keep_resumed(resumed);
        overlap = Some(SnapshotOverlap::new(resumed.resumed_at, keys));
    }

    let resume = resume_filter(&options.kafka, &config.topic_prefix).await?;
    let capture = Capture::start_on(client, types, &capture_options).await?;
    let filters = config.filters.clone();
    let captures_table = move |table: &TableSchema| {
        filters.captures_table(table.relation.schema_name(), &table.relation.name)
    };
    let pipeline_options = PipelineOptions {
        max_in_flight: config.max_queue_size as u64,
        heartbeat_interval: config.heartbeat_interval,
        ..PipelineOptions::default()
    };
    let (progress_tx, progress_rx) = watch::channel(Lsn(0));
    let offsets = Arc::new(offsets);
    let confirmations = tokio::spawn(report_confirmed(progress_rx.clone(), Arc::clone(metrics)));
    // The transactional mode writes the offsets record in each batch's transaction.
    let offsets_writer =
        (!transactional).then(|| tokio::spawn(write_offsets(Arc::clone(&offsets), progress_rx)));
    let heartbeat_query = spawn_heartbeat_query(config, &replication, shutdown.clone()).await?;
    let mut pipeline = Pipeline::new(
        capture,
        &mut producer,
        &mut encoder,
        &captures_table,
        resume,
        pipeline_options,
    )
    .with_progress(progress_tx);
    if let Some(overlap) = overlap {
        pipeline = pipeline.with_snapshot_overlap(overlap);
    }
    if transactional {
        let store = Arc::clone(&offsets);
        pipeline = pipeline.with_transactions(Transactions {
            boundary: config.delivery.transaction_boundary,
            max_batch_records: config.max_batch_size as u64,
            offsets_record: Arc::new(move |lsn| store.streamed_record(lsn)),
        });
    }
    let result = pipeline.run(shutdown).await;
    // The watch closes with the pipeline: the writer records the last LSN and ends.
    if let Some(writer) = offsets_writer {
        let _ = writer.await;
    }
    let _ = confirmations.await;
    if let Some(task) = heartbeat_query {
        task.abort();
    }
    stats.stream = result?;
    if config.slot_drop_on_stop {
        slot::drop_slot(&sql, &config.slot_name).await?;
        tracing::info!(slot = %config.slot_name, "dropped the slot (slot.drop.on.stop)");
    }
    Ok(stats)
}

/// Creates `slot` with an exported snapshot on `client` and opens `threads` readers
/// inside that snapshot. `client` must stay idle until the readers are open.
async fn export_snapshot(
    client: &mut ReplicationClient,
    slot: &str,
    temporary: bool,
    replication: &ReplicationConfig,
    threads: usize,
) -> Result<(CreatedSlot, snapshot::Readers), TaskError> {
    let created = client
        .create_slot(
            slot,
            CreateSlotOptions {
                temporary,
                snapshot: SnapshotAction::Export,
            },
        )
        .await?;
    let name = created
        .snapshot_name
        .clone()
        .ok_or_else(|| TaskError::Snapshot("the server exported no snapshot".to_owned()))?;
    let readers = snapshot::Readers::open(replication, &name, threads).await?;
    Ok((created, readers))
}

/// The standby status interval for this server: the configured one, shortened to a
/// third of `wal_sender_timeout` when that is small. The server ends a walsender that
/// hears nothing from its client for `wal_sender_timeout`; while the client works
/// through a backlog its replies to the server's keepalives wait behind megabytes of
/// buffered changes, so only its own periodic updates keep the connection alive.
async fn status_interval(client: &Client, configured: Duration) -> Result<Duration, TaskError> {
    let timeout_ms: i64 = client
        .query_one(
            "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_sender_timeout'",
            &[],
        )
        .await?
        .get(0);
    Ok(match u64::try_from(timeout_ms) {
        Ok(ms) if ms > 0 => configured.min(Duration::from_millis(ms) / 3),
        _ => configured,
    })
}

async fn resume_filter(kafka: &ClientConfig, prefix: &str) -> Result<ResumeFilter, TaskError> {
    let kafka = kafka.clone();
    let prefix = prefix.to_owned();
    tokio::task::spawn_blocking(move || {
        let topics = connector_topics(&kafka, &prefix)?;
        Ok(read_tails(&kafka, &topics, Duration::from_secs(60))?)
    })
    .await
    .map_err(|e| TaskError::Config(format!("reading tails: {e}")))?
}

/// Hands every confirmed LSN to the metrics as it happens (the lag in ms is measured
/// from the oldest transaction not yet confirmed).
async fn report_confirmed(mut progress: watch::Receiver<Lsn>, metrics: Arc<TaskMetrics>) {
    while progress.changed().await.is_ok() {
        let lsn = *progress.borrow_and_update();
        metrics.confirmed(lsn.0);
    }
}

/// Writes the confirmed LSN to the offsets topic, at most once a second.
async fn write_offsets(offsets: Arc<OffsetStore>, mut progress: watch::Receiver<Lsn>) {
    let mut written = Lsn(0);
    loop {
        let changed = progress.changed().await;
        let lsn = *progress.borrow_and_update();
        if lsn > written {
            match offsets.streamed(lsn).await {
                Ok(()) => written = lsn,
                Err(e) => tracing::warn!(error = %e, "offsets topic not updated"),
            }
        }
        if changed.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs `heartbeat.action.query` every heartbeat interval, so the database sees
/// writes (and the slot moves) even when the captured tables do not change.
async fn spawn_heartbeat_query(
    config: &PostgresConnectorConfig,
    replication: &ReplicationConfig,
    shutdown: CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, TaskError> {
    let (Some(query), Some(interval)) = (
        config.heartbeat_action_query.clone(),
        config.heartbeat_interval,
    ) else {
        return Ok(None);
    };
    let client = crate::sql::connect(replication).await?;
    Ok(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = client.batch_execute(&query).await {
                        tracing::warn!(error = %e, "heartbeat.action.query failed");
                    }
                }
            }
        }
    })))
}

/// Runs the connector until `shutdown`, restarting after failures worth retrying
/// with exponential backoff (1 s doubling to 60 s, with jitter). Other failures end it.
pub async fn run_until_stopped(
    config: &PostgresConnectorConfig,
    options: &TaskOptions,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let mut delay = Duration::from_secs(1);
    loop {
        match run(config, options, shutdown.clone()).await {
            Ok(stats) => {
                tracing::info!(?stats, "connector stopped");
                return Ok(());
            }
            Err(e) if e.is_retriable() && !shutdown.is_cancelled() => {
                let jitter = delay.mul_f64(rand::random::<f64>() * 0.5);
                let wait = delay + jitter;
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "connector failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(wait) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            Err(e) => return Err(e),
        }
    }
}
