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

use crate::batch::{Consumed, Preparer};
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
    let mut warehouse = Warehouse::connect(Arc::clone(&config)).await?;
    let mut preparer = Preparer::new(Arc::clone(&config))?;
    let dead_letters = match (&config.dead_letter_queue, config.errors_tolerance) {
        (Some(queue), ErrorTolerance::All) => {
            Some(DeadLetters::start(queue, &config, kafka).await?)
        }
        _ => None,
    };
    let mut apply = Apply {
        config: &config,
        warehouse: &mut warehouse,
        preparer: &mut preparer,
        dead_letters: dead_letters.as_ref(),
    };
    let (consumer, assignment) = consumer::subscribe(&config, kafka)?;
    tracing::info!(sink = %config.name, group = %config.group_id(), "sink started");
    let mut stats = SinkStats::default();
    let mut reported = SinkStats::default();
    let mut batch = OpenBatch::default();
    loop {
        if let Some(failure) = lock(&assignment).failure.take() {
            return Err(SinkError::Assignment(failure));
        }
        let full = batch.len() >= config.batch_size;
        let due = batch
            .since
            .is_some_and(|since| since.elapsed() >= config.batch_max_latency);
        if full || due {
            flush(&mut apply, &consumer, &assignment, &mut batch, &mut stats).await?;
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
    flush(&mut apply, &consumer, &assignment, &mut batch, &mut stats).await?;
    metrics.report(&stats, &mut reported);
    tracing::info!(sink = %config.name, ?stats, "sink stopped");
    Ok(stats)
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

/// What applying a batch needs.
struct Apply<'a> {
    config: &'a SinkConfig,
    warehouse: &'a mut Warehouse,
    preparer: &'a mut Preparer,
    dead_letters: Option<&'a DeadLetters>,
}

async fn flush(
    apply: &mut Apply<'_>,
    consumer: &SinkConsumer,
    assignment: &Mutex<Assignment>,
    batch: &mut OpenBatch,
    stats: &mut SinkStats,
) -> Result<(), SinkError> {
    let config = apply.config;
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
    let (rows, rejected) = apply_batch(apply, &open.records, &commits).await?;
    stats.batches += 1;
    stats.records += open.records.len() as u64;
    stats.rows += rows;
    stats.rejected += rejected;
    tracing::debug!(
        records = open.records.len(),
        rows,
        rejected,
        "batch committed"
    );

    // The warehouse is the truth now: positions move on, and the group offsets
    // follow for whoever watches consumer lag.
    let mut monitoring = TopicPartitionList::new();
    {
        let mut state = lock(assignment);
        for (partition, span) in &open.partitions {
            let Some(next) = span.next else { continue };
            if let Some(position) = state.positions.get_mut(partition) {
                if position.epoch == span.epoch {
                    position.stored = Some(next);
                }
            }
            let _ = monitoring.add_partition_offset(
                &partition.topic,
                partition.partition,
                Offset::Offset(next),
            );
        }
    }
    if let Err(e) = consumer.commit(&monitoring, CommitMode::Async) {
        tracing::debug!(error = %e, sink = %config.name, "group offsets not committed (monitoring only)");
    }
    Ok(())
}

/// Applies `records` with their offsets: rows changed and records rejected.
async fn apply_batch(
    apply: &mut Apply<'_>,
    records: &[Consumed],
    commits: &[PartitionCommit],
) -> Result<(u64, u64), SinkError> {
    let config = apply.config;
    let tolerate = config.errors_tolerance == ErrorTolerance::All;
    apply.preparer.fetch_schemas(records).await?;
    let prepared = apply.preparer.prepare(records, tolerate)?;
    // Known before the transaction: out before it commits.
    reject(apply.dead_letters, config, records, &prepared.rejected).await?;
    let error = match apply.warehouse.apply(&prepared.tables, commits).await {
        Ok(applied) => return Ok((applied.rows, prepared.rejected.len() as u64)),
        Err(e) => e,
    };
    if !matches!(&error, SinkError::Warehouse { source, .. } if is_row_rejection(source)) {
        return Err(error);
    }
    tracing::warn!(error = %error, sink = %config.name, "the warehouse refused a row of the batch; applying the batch record by record to find it");
    let mut each = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if prepared.rejected.iter().any(|r| r.index == index) {
            continue;
        }
        let tables = apply
            .preparer
            .prepare(std::slice::from_ref(record), false)?
            .tables;
        each.push(RecordTables { index, tables });
    }
    let dead_letters = apply.dead_letters;
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
    match apply
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
