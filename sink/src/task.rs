//! The sink task: consume, batch, apply — until shutdown.
//!
//! A batch closes at `batch.size` records or `batch.max.latency.ms` after its first
//! record. Closing it decodes and plans it ([`Preparer`]), applies it with its offsets
//! in one warehouse transaction ([`Warehouse::apply`]), then commits the group offsets
//! for monitoring. Records below a partition's stored offset are skipped (a replay
//! after an assignment), so each record is applied once.
//!
//! Shutdown (SIGTERM) drains: the open batch is applied and committed, then the task
//! ends. [`run_until_stopped`] restarts after retriable failures with exponential
//! backoff; every restart begins again from the warehouse's offsets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::{Consumed, Preparer};
use crate::config::SinkConfig;
use crate::consumer::{self, lock, Assignment, SinkConsumer};
use crate::error::SinkError;
use crate::warehouse::{PartitionCommit, TopicPartition, Warehouse};

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
    let mut warehouse = Warehouse::connect(Arc::clone(&config)).await?;
    let mut preparer = Preparer::new(Arc::clone(&config))?;
    let (consumer, assignment) = consumer::subscribe(&config, kafka)?;
    tracing::info!(sink = %config.name, group = %config.group_id(), "sink started");
    let mut stats = SinkStats::default();
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
            flush(
                &config,
                &consumer,
                &assignment,
                &mut warehouse,
                &mut preparer,
                &mut batch,
                &mut stats,
            )
            .await?;
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
        &config,
        &consumer,
        &assignment,
        &mut warehouse,
        &mut preparer,
        &mut batch,
        &mut stats,
    )
    .await?;
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

async fn flush(
    config: &SinkConfig,
    consumer: &SinkConsumer,
    assignment: &Mutex<Assignment>,
    warehouse: &mut Warehouse,
    preparer: &mut Preparer,
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
    let tables = preparer.prepare(&open.records)?;
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
    let applied = warehouse.apply(&tables, &commits).await?;
    stats.batches += 1;
    stats.records += open.records.len() as u64;
    stats.rows += applied.rows;
    tracing::debug!(
        records = open.records.len(),
        rows = applied.rows,
        tables = applied.tables,
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
