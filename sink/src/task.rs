//! The sink task: consume, batch, apply — until shutdown.
//!
//! A batch closes at `batch.size` records or `batch.max.latency.ms` after its first
//! record. Closing it decodes and plans it ([`Preparer`]), applies it with its offsets
//! in one warehouse transaction ([`Warehouse::apply`]), then commits the group offsets
//! for monitoring. Records below a partition's stored offset are skipped (a replay
//! after an assignment), so each record is applied once.
//!
//! A poison record ([`crate::poison`]) stops the task with an error naming its
//! topic, partition and offset, or with `errors.tolerance=all` is left out of the
//! batch (and sent to the dead-letter topic, before the batch commits: see
//! [`crate::dead_letter`]) while the rest of the batch applies.
//!
//! A batch that another task's offsets rolled back (a rebalance this task saw late)
//! rewinds the task's partitions to the warehouse's offsets and the run goes on.
//!
//! Shutdown (SIGTERM) drains: the open batch is applied and committed, then the task
//! ends. [`run_until_stopped`] restarts after retriable failures with exponential
//! backoff; every restart begins again from the warehouse's offsets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::{Consumed, Prepared, Preparer};
use crate::config::{ErrorTolerance, SinkConfig};
use crate::consumer::{self, lock, Assignment, SinkConsumer};
use crate::dead_letter::DeadLetters;
use crate::error::SinkError;
use crate::metrics::SinkMetrics;
use crate::poison::{is_row_rejection, RecordFailure, Rejected};
use crate::warehouse::{EachApplied, PartitionCommit, RecordTables, TopicPartition, Warehouse};

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Batches committed to the warehouse.
    pub batches: u64,
    /// Records applied (including those that changed nothing, e.g. tombstones).
    pub records: u64,
    /// Rows inserted, updated or deleted.
    pub rows: u64,
    /// Records skipped because the warehouse already had them.
    pub skipped: u64,
    /// Poison records left out under `errors.tolerance=all` (and sent to the
    /// dead-letter topic when one is set).
    pub rejected: u64,
    /// Batches another task's offsets rolled back (a rebalance seen late), after
    /// which the task read its partitions again from the warehouse's offsets.
    pub rewinds: u64,
}

#[derive(Debug)]
struct PartitionSpan {
    epoch: u64,
    expected: Option<i64>,
    /// One past the last record taken (`None`: from the beginning, nothing yet).
    next: Option<i64>,
}

/// The open batch.
#[derive(Debug, Default)]
struct OpenBatch {
    records: Vec<Consumed>,
    partitions: BTreeMap<TopicPartition, PartitionSpan>,
    since: Option<Instant>,
}

impl OpenBatch {
    fn len(&self) -> usize {
        self.records.len()
    }

    /// Drops the records of partitions that are no longer assigned in the epoch they
    /// were read in.
    fn drop_stale(&mut self, assignment: &Assignment) -> usize {
        let stale: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(partition, span)| {
                assignment
                    .positions
                    .get(*partition)
                    .is_none_or(|p| p.epoch != span.epoch)
            })
            .map(|(partition, _)| partition.clone())
            .collect();
        if stale.is_empty() {
            return 0;
        }
        for partition in &stale {
            self.partitions.remove(partition);
        }
        let before = self.records.len();
        self.records.retain(|r| {
            !stale
                .iter()
                .any(|p| p.topic == r.topic && p.partition == r.partition)
        });
        if self.records.is_empty() {
            self.since = None;
        }
        before - self.records.len()
    }
}

/// One start of the sink: runs until `shutdown` (then drains) or an error.
pub async fn run(
    config: Arc<SinkConfig>,
    kafka: &ClientConfig,
    shutdown: CancellationToken,
) -> Result<SinkStats, SinkError> {
    run_with_metrics(config, kafka, shutdown, &SinkMetrics::default()).await
}

/// [`run`], adding its progress to `metrics` after every batch.
pub async fn run_with_metrics(
    config: Arc<SinkConfig>,
    kafka: &ClientConfig,
    shutdown: CancellationToken,
    metrics: &SinkMetrics,
) -> Result<SinkStats, SinkError> {
    let warehouse = Warehouse::connect(Arc::clone(&config)).await?;
    let mut preparer = Preparer::new(Arc::clone(&config))?;
    let dead_letters = match (&config.dead_letter_queue, config.errors_tolerance) {
        (Some(queue), ErrorTolerance::All) => {
            Some(Arc::new(DeadLetters::start(queue, &config, kafka).await?))
        }
        _ => None,
    };
    let mut pipeline = Pipeline::Idle(Box::new(Applier {
        config: Arc::clone(&config),
        warehouse,
        preparer: Preparer::new(Arc::clone(&config))?,
        dead_letters,
    }));
    let (consumer, assignment) = consumer::subscribe(&config, kafka)?;
    tracing::info!(sink = %config.name, group = %config.group_id(), "sink started");
    let mut stats = SinkStats::default();
    let mut reported = SinkStats::default();
    let mut batch = OpenBatch::default();
    let result: Result<(), SinkError> = async {
        loop {
            if let Some(failure) = lock(&assignment).failure.take() {
                return Err(SinkError::Assignment(failure));
            }
            let full = batch.len() >= config.batch_size;
            let due = batch
                .since
                .is_some_and(|since| since.elapsed() >= config.batch_max_latency);
            if full || due {
                let flushed = flush(
                    &mut pipeline,
                    &mut preparer,
                    &consumer,
                    &assignment,
                    &mut batch,
                    &mut stats,
                )
                .await;
                recover(flushed, &consumer, &assignment, &mut batch, &shutdown, &mut stats).await?;
                metrics.report(&stats, &mut reported);
                continue;
            }
            let deadline = batch
                .since
                .map(|since| since + config.batch_max_latency)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                // A batch being applied reports as soon as it commits, so that its
                // offsets and figures do not wait for the next batch to close.
                done = pipeline.wait(), if pipeline.is_busy() => {
                    let settled = settle(&mut pipeline, done, &consumer, &assignment, &mut stats);
                    recover(settled, &consumer, &assignment, &mut batch, &shutdown, &mut stats).await?;
                    metrics.report(&stats, &mut reported);
                }
                () = tokio::time::sleep_until(deadline) => {}
                message = consumer.recv() => match message {
                    Ok(message) => {
                        let record = Consumed {
                            topic: message.topic().to_owned(),
                            partition: message.partition(),
                            offset: message.offset(),
                            key: message.key().map(<[u8]>::to_vec),
                            value: message.payload().map(<[u8]>::to_vec),
                            headers: message.headers().map_or_else(Vec::new, |headers| {
                                headers
                                    .iter()
                                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                                    .collect()
                            }),
                        };
                        drop(message);
                        add(&assignment, &mut batch, record, &mut stats);
                    }
                    Err(e) => tracing::warn!(error = %e, "consuming"),
                },
            }
        }
        // Drain: what was read is applied before the task ends.
        flush(
            &mut pipeline,
            &mut preparer,
            &consumer,
            &assignment,
            &mut batch,
            &mut stats,
        )
        .await
    }
    .await;
    // Whatever ended the run, the batch in flight commits or fails before it returns:
    // a restart must not race it.
    let last = match pipeline.wait_if_busy().await {
        Some(done) => settle(&mut pipeline, done, &consumer, &assignment, &mut stats),
        None => Ok(()),
    };
    metrics.report(&stats, &mut reported);
    // A task that is leaving may find, for the batch it drains, that the group has
    // already given a partition to another task, which moved its offsets: the fence
    // rolled the batch back, and the partitions' new owners apply those records
    // from the offsets in the warehouse. Nothing is lost; it is no failure to report.
    let leaving = |result: Result<(), SinkError>| match result {
        Err(SinkError::OffsetsMoved {
            topic, partition, ..
        }) if shutdown.is_cancelled() => {
            tracing::info!(
                sink = %config.name, %topic, partition,
                "the last batch was not committed: another task owns the partition now"
            );
            Ok(())
        }
        other => other,
    };
    leaving(result)?;
    leaving(last)?;
    tracing::info!(sink = %config.name, ?stats, "sink stopped");
    Ok(stats)
}

/// Carries on after a batch that another task's offsets rolled back
/// ([`SinkError::OffsetsMoved`]: a rebalance moved a partition under this task):
/// the partitions still assigned are rewound to the warehouse's offsets
/// ([`consumer::rewind`]) and the run goes on, without leaving the group, which
/// would rebalance the other members again. Any other error ends the run.
async fn recover(
    result: Result<(), SinkError>,
    consumer: &SinkConsumer,
    assignment: &Mutex<Assignment>,
    batch: &mut OpenBatch,
    shutdown: &CancellationToken,
    stats: &mut SinkStats,
) -> Result<(), SinkError> {
    let error = match result {
        Err(error @ SinkError::OffsetsMoved { .. }) if !shutdown.is_cancelled() => error,
        other => return other,
    };
    *batch = OpenBatch::default();
    match consumer::rewind(consumer, assignment).await {
        Ok(partitions) => {
            stats.rewinds += 1;
            tracing::info!(%error, partitions, "batch rolled back; reading again from the warehouse's offsets");
            Ok(())
        }
        Err(why) => {
            tracing::warn!(%error, rewind = %why, "batch rolled back and the partitions could not be rewound");
            Err(error)
        }
    }
}

/// Adds a record to the batch, unless the warehouse already has it or it belongs to
/// an assignment that ended.
fn add(
    assignment: &Mutex<Assignment>,
    batch: &mut OpenBatch,
    record: Consumed,
    stats: &mut SinkStats,
) {
    let state = lock(assignment);
    batch.drop_stale(&state);
    let partition = TopicPartition {
        topic: record.topic.clone(),
        partition: record.partition,
    };
    let Some(position) = state.positions.get(&partition).copied() else {
        // Read before a revocation took effect.
        return;
    };
    drop(state);
    let span = batch
        .partitions
        .entry(partition)
        .or_insert_with(|| PartitionSpan {
            epoch: position.epoch,
            expected: position.stored,
            next: position.stored,
        });
    if span.next.is_some_and(|next| record.offset < next) {
        stats.skipped += 1;
        return;
    }
    span.next = Some(record.offset + 1);
    if batch.since.is_none() {
        batch.since = Some(Instant::now());
    }
    batch.records.push(record);
}

/// What applies batches to the warehouse. It moves into the task that applies a
/// batch and comes back with its result, so that the next batch is read and decoded
/// while the warehouse works on this one.
struct Applier {
    config: Arc<SinkConfig>,
    warehouse: Warehouse,
    /// For the record-by-record retry of a refused batch.
    preparer: Preparer,
    dead_letters: Option<Arc<DeadLetters>>,
}

/// A batch in the warehouse's hands.
struct InFlight {
    partitions: BTreeMap<TopicPartition, PartitionSpan>,
    records: usize,
    task: tokio::task::JoinHandle<(Box<Applier>, Applied)>,
}

/// Rows changed and records rejected by a batch, or why it did not commit.
type Applied = Result<(u64, u64), SinkError>;

/// A batch's outcome, with the applier back.
type Done = Result<(Box<Applier>, InFlight, Applied), SinkError>;

/// At most one batch is applied at a time; the next waits, prepared.
enum Pipeline {
    Idle(Box<Applier>),
    Busy(InFlight),
    /// The applying task panicked or was cancelled: the run ends.
    Broken,
}

impl Pipeline {
    fn is_busy(&self) -> bool {
        matches!(self, Pipeline::Busy(_))
    }

    /// The outcome of the batch in flight (pending forever when there is none).
    async fn wait(&mut self) -> Done {
        let Pipeline::Busy(in_flight) = self else {
            return std::future::pending().await;
        };
        let joined = (&mut in_flight.task).await;
        let Pipeline::Busy(in_flight) = std::mem::replace(self, Pipeline::Broken) else {
            unreachable!("checked above");
        };
        match joined {
            Ok((applier, result)) => Ok((applier, in_flight, result)),
            Err(e) => Err(SinkError::Apply(format!(
                "the task applying a batch ended: {e}"
            ))),
        }
    }

    async fn wait_if_busy(&mut self) -> Option<Done> {
        if self.is_busy() {
            Some(self.wait().await)
        } else {
            None
        }
    }
}

/// Takes a finished batch's outcome: on success its figures are counted and the
/// group offsets follow the warehouse (for whoever watches consumer lag).
fn settle(
    pipeline: &mut Pipeline,
    done: Done,
    consumer: &SinkConsumer,
    assignment: &Mutex<Assignment>,
    stats: &mut SinkStats,
) -> Result<(), SinkError> {
    let (applier, in_flight, result) = done?;
    let sink = applier.config.name.clone();
    *pipeline = Pipeline::Idle(applier);
    let (rows, rejected) = result?;
    stats.batches += 1;
    stats.records += in_flight.records as u64;
    stats.rows += rows;
    stats.rejected += rejected;
    tracing::debug!(
        records = in_flight.records,
        rows,
        rejected,
        "batch committed"
    );
    let mut monitoring = TopicPartitionList::new();
    {
        let state = lock(assignment);
        for (partition, span) in &in_flight.partitions {
            let Some(next) = span.next else { continue };
            // Only partitions still owned in the batch's epoch.
            if state
                .positions
                .get(partition)
                .is_some_and(|p| p.epoch == span.epoch)
            {
                let _ = monitoring.add_partition_offset(
                    &partition.topic,
                    partition.partition,
                    Offset::Offset(next),
                );
            }
        }
    }
    if monitoring.count() > 0 {
        if let Err(e) = consumer.commit(&monitoring, CommitMode::Async) {
            tracing::debug!(error = %e, sink = %sink, "group offsets not committed (monitoring only)");
        }
    }
    Ok(())
}

/// Closes the open batch: decodes and plans it (while the previous batch may still
/// be in the warehouse), waits for the previous batch, then hands this one over.
async fn flush(
    pipeline: &mut Pipeline,
    preparer: &mut Preparer,
    consumer: &SinkConsumer,
    assignment: &Mutex<Assignment>,
    batch: &mut OpenBatch,
    stats: &mut SinkStats,
) -> Result<(), SinkError> {
    {
        let state = lock(assignment);
        let dropped = batch.drop_stale(&state);
        if dropped > 0 {
            tracing::info!(
                dropped,
                "records of revoked partitions dropped from the batch"
            );
        }
    }
    if batch.records.is_empty() {
        *batch = OpenBatch::default();
        return Ok(());
    }
    let open = std::mem::take(batch);
    let tolerate = preparer.config().errors_tolerance == ErrorTolerance::All;
    preparer.fetch_schemas(&open.records).await?;
    let prepared = preparer.prepare(&open.records, tolerate)?;
    if let Some(done) = pipeline.wait_if_busy().await {
        settle(pipeline, done, consumer, assignment, stats)?;
    }
    let Pipeline::Idle(mut applier) = std::mem::replace(pipeline, Pipeline::Broken) else {
        return Err(SinkError::Apply(
            "no applier after the previous batch".to_owned(),
        ));
    };
    let commits: Vec<PartitionCommit> = open
        .partitions
        .iter()
        .filter_map(|(partition, span)| {
            Some(PartitionCommit {
                partition: partition.clone(),
                expected: span.expected,
                next: span.next?,
            })
        })
        .collect();
    // The next batch starts where this one ends. Should this one fail, the run ends
    // and the next one begins again from the warehouse's offsets.
    {
        let mut state = lock(assignment);
        for (partition, span) in &open.partitions {
            let Some(next) = span.next else { continue };
            if let Some(position) = state.positions.get_mut(partition) {
                if position.epoch == span.epoch {
                    position.stored = Some(next);
                }
            }
        }
    }
    let records = open.records;
    let count = records.len();
    let task = tokio::spawn(async move {
        let result = apply_batch(&mut applier, &records, prepared, &commits).await;
        (applier, result)
    });
    *pipeline = Pipeline::Busy(InFlight {
        partitions: open.partitions,
        records: count,
        task,
    });
    Ok(())
}

/// Applies `records` (planned as `prepared`) with their offsets: rows changed and
/// records rejected.
async fn apply_batch(
    applier: &mut Applier,
    records: &[Consumed],
    prepared: Prepared,
    commits: &[PartitionCommit],
) -> Applied {
    let config = Arc::clone(&applier.config);
    let config = config.as_ref();
    let tolerate = config.errors_tolerance == ErrorTolerance::All;
    let dead_letters = applier.dead_letters.as_deref();
    // Known before the transaction: out before it commits.
    reject(dead_letters, config, records, &prepared.rejected).await?;
    let error = match applier.warehouse.apply(&prepared.tables, commits).await {
        Ok(applied) => return Ok((applied.rows, prepared.rejected.len() as u64)),
        Err(e) => e,
    };
    if !matches!(&error, SinkError::Warehouse { source, .. } if is_row_rejection(source)) {
        return Err(error);
    }
    tracing::warn!(error = %error, sink = %config.name, "the warehouse refused a row of the batch; applying the batch record by record to find it");
    applier.preparer.fetch_schemas(records).await?;
    let mut each = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if prepared.rejected.iter().any(|r| r.index == index) {
            continue;
        }
        let tables = applier
            .preparer
            .prepare(std::slice::from_ref(record), false)?
            .tables;
        each.push(RecordTables { index, tables });
    }
    let before_commit = |refused: Vec<(usize, String)>| async move {
        let refused: Vec<Rejected> = refused
            .into_iter()
            .map(|(index, reason)| Rejected {
                index,
                failure: RecordFailure::warehouse(reason),
            })
            .collect();
        reject(dead_letters, config, records, &refused).await
    };
    match applier
        .warehouse
        .apply_each(&each, commits, tolerate, before_commit)
        .await?
    {
        EachApplied::Committed { stats, refused } => {
            Ok((stats.rows, (prepared.rejected.len() + refused.len()) as u64))
        }
        EachApplied::Refused { index, reason } => {
            Err(records[index].error(&RecordFailure::warehouse(reason)))
        }
    }
}

/// Logs tolerated records and sends them to the dead-letter topic, if any.
async fn reject(
    dead_letters: Option<&DeadLetters>,
    config: &SinkConfig,
    records: &[Consumed],
    rejected: &[Rejected],
) -> Result<(), SinkError> {
    for rejection in rejected {
        let record = &records[rejection.index];
        tracing::warn!(
            sink = %config.name,
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            stage = rejection.failure.stage.name(),
            reason = %rejection.failure.reason,
            "record skipped (errors.tolerance=all){}",
            if dead_letters.is_some() { "; sent to the dead-letter topic" } else { "" }
        );
    }
    match dead_letters {
        Some(queue) if !rejected.is_empty() => queue.send(config, records, rejected).await,
        _ => Ok(()),
    }
}

/// Runs the sink until `shutdown`, restarting after retriable failures with
/// exponential backoff (1 s doubling to 60 s, with jitter).
pub async fn run_until_stopped(
    config: Arc<SinkConfig>,
    kafka: &ClientConfig,
    shutdown: CancellationToken,
) -> Result<SinkStats, SinkError> {
    let mut delay = Duration::from_secs(1);
    let mut total = SinkStats::default();
    loop {
        let started = Instant::now();
        let result = run(Arc::clone(&config), kafka, shutdown.clone()).await;
        if started.elapsed() > Duration::from_secs(60) {
            // A run that went well for a while starts the backoff over.
            delay = Duration::from_secs(1);
        }
        match result {
            Ok(stats) => {
                total.batches += stats.batches;
                total.records += stats.records;
                total.rows += stats.rows;
                total.skipped += stats.skipped;
                total.rejected += stats.rejected;
                total.rewinds += stats.rewinds;
                return Ok(total);
            }
            Err(e) if e.is_retriable() && !shutdown.is_cancelled() => {
                let wait = delay + delay.mul_f64(rand::random::<f64>() * 0.5);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "sink failed; restarting from the warehouse's offsets");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(total),
                    () = tokio::time::sleep(wait) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            Err(e) => return Err(e),
        }
    }
}
