//! The streaming pipeline: changes from [`Capture`], encoded by an [`EventEncoder`],
//! published by the [`EventProducer`], and the slot confirmed only past what Kafka
//! acknowledged — the exactly-once protocol of ARCHITECTURE.md in one loop:
//!
//! 1. every record carries its [`SourcePosition`] (commit LSN, ordinal in the
//!    transaction), which is the same when PostgreSQL sends the transaction again;
//! 2. records a partition already holds (read back from its tail at start) are
//!    skipped, so a restart duplicates nothing;
//! 3. the [`AckTracker`] turns out-of-order acknowledgements into the one LSN that
//!    may be confirmed, so a crash loses nothing;
//! 4. when nothing is in flight and no transaction is open, the server's end of WAL is
//!    confirmed, so a slot whose tables are idle (or filtered out) does not pin WAL.
//!
//! Memory is bounded by `max_in_flight` records awaiting acknowledgement: past it, the
//! loop stops reading from PostgreSQL until acknowledgements come back.
//!
//! In the transactional mode ([`Transactions`]) the records go out in Kafka
//! transactions, one per batch, each with the connector's offsets record; an event
//! counts as acknowledged only when its transaction committed, so the slot is
//! confirmed only past committed batches, and a batch cut short (a crash, a fenced
//! producer) is never seen by `read_committed` consumers and is sent again by the next
//! start (the partitions' committed tails say what is there).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesUnordered;
use futures_util::{Future, StreamExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::capture::{Capture, CaptureError, Change, RowChange, TableSchema};
use crate::config::TransactionBoundary;
use crate::lsn::Lsn;
use crate::offsets::{AckTracker, ResumeFilter, SnapshotOverlap, SourcePosition, TxnId};
use crate::pgoutput::{PgTimestamp, Xid};
use crate::producer::{EventProducer, OutgoingRecord, ProducerError};

/// One Kafka record an encoder made of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

/// What an encoder knows about the transaction of the event it encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventContext {
    pub xid: Xid,
    pub commit_lsn: Lsn,
    pub commit_time: PgTimestamp,
    /// The LSN of the change's own WAL record (Debezium's `source.lsn`).
    pub event_lsn: Lsn,
    /// The end LSN of the previous transaction's commit, if one was streamed in this
    /// session (the first half of Debezium's `source.sequence`).
    pub previous_commit_lsn: Option<Lsn>,
}

/// A change that cannot be encoded: the connector stops with this, naming the table
/// and position, rather than skip the event.
#[derive(Debug, thiserror::Error)]
#[error("encoding a change of {table} at {lsn}: {reason}")]
pub struct EncodeError {
    pub table: String,
    pub lsn: Lsn,
    pub reason: String,
    /// A service the encoder depends on (the schema registry) was unavailable: a
    /// restart may succeed.
    pub retriable: bool,
}

/// The future of [`EventEncoder::table_changed`], which may read the catalog or call
/// a schema registry.
pub type TableChangedFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), EncodeError>> + Send + 'a>>;

/// Turns changes into Kafka records (the Debezium envelope in the configured
/// converter, in pgcdc; anything in tests).
pub trait EventEncoder: Send {
    /// A table's definition arrived or changed (e.g. to register a new schema version)
    /// before any row that uses it.
    fn table_changed<'a>(&'a mut self, _table: &'a Arc<TableSchema>) -> TableChangedFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    /// A transaction starts (its records, if any, follow).
    fn begin(
        &mut self,
        _context: &EventContext,
        _out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        Ok(())
    }

    /// The records of one row change, in order (the event, then its tombstone).
    fn row(
        &mut self,
        change: &RowChange,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError>;

    /// The records of one truncated table.
    fn truncate(
        &mut self,
        table: &TableSchema,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError>;

    /// A change of a table that is not captured (the publication holds more tables
    /// than are captured): no records of its own, but part of the transaction.
    fn not_captured(
        &mut self,
        _context: &EventContext,
        _out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        Ok(())
    }

    /// The transaction commits (`context.event_lsn` is the end of its commit record):
    /// records that close it (transaction metadata).
    fn commit(
        &mut self,
        _context: &EventContext,
        _out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        Ok(())
    }

    /// Heartbeat records, sent every [`PipelineOptions::heartbeat_interval`] outside
    /// any transaction. They carry no data, so they are not part of the exactly-once
    /// accounting.
    fn heartbeat(&mut self, _out: &mut Vec<EncodedRecord>) {}
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Producer(Box<ProducerError>),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("replication stream out of order at {lsn}: {what}")]
    OutOfOrder { lsn: Lsn, what: String },
}

impl From<ProducerError> for PipelineError {
    fn from(error: ProducerError) -> Self {
        PipelineError::Producer(Box::new(error))
    }
}

impl PipelineError {
    pub fn is_retriable(&self) -> bool {
        match self {
            PipelineError::Capture(e) => e.is_retriable(),
            PipelineError::Producer(e) => e.is_retriable(),
            PipelineError::Encode(e) => e.retriable,
            PipelineError::OutOfOrder { .. } => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Records sent and not yet acknowledged before reading from PostgreSQL pauses.
    pub max_in_flight: u64,
    /// How often an idle slot is moved to the server's end of WAL.
    pub idle_confirm_interval: Duration,
    /// `heartbeat.interval.ms`; `None` sends no heartbeats.
    pub heartbeat_interval: Option<Duration>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            max_in_flight: 8192,
            idle_confirm_interval: Duration::from_secs(1),
            heartbeat_interval: None,
        }
    }
}

/// What a run did, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub transactions: u64,
    pub rows: u64,
    pub rows_filtered: u64,
    pub records_sent: u64,
    /// Replayed records a partition already held (after a restart).
    pub records_already_written: u64,
    /// Changes a resumed snapshot's rows already hold (committed before the point it
    /// was resumed at).
    pub records_in_resumed_snapshot: u64,
    /// Kafka transactions committed (the transactional mode).
    pub kafka_transactions: u64,
    pub confirmed: Lsn,
}

/// A record for the connector's offsets topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetsRecord {
    pub topic: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// The transactional mode: when a batch's Kafka transaction commits, and the offsets
/// record that goes into it.
#[derive(Clone)]
pub struct Transactions {
    pub boundary: TransactionBoundary,
    /// `max.batch.size`: the most records a `poll` batch holds.
    pub max_batch_records: u64,
    /// The offsets record saying the slot may be confirmed to an LSN.
    pub offsets_record: Arc<dyn Fn(Lsn) -> OffsetsRecord + Send + Sync>,
}

impl std::fmt::Debug for Transactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transactions")
            .field("boundary", &self.boundary)
            .field("max_batch_records", &self.max_batch_records)
            .finish_non_exhaustive()
    }
}

/// The open Kafka transaction: which PostgreSQL transactions' events it holds.
#[derive(Debug)]
struct Batch {
    started: Instant,
    records: u64,
    /// (transaction, events sent in this batch), in send order.
    events: Vec<(TxnId, u64)>,
}

impl Batch {
    /// Begins a Kafka transaction unless one is open.
    async fn open(
        producer: &EventProducer,
        batch: &mut Option<Batch>,
    ) -> Result<(), ProducerError> {
        if batch.is_none() {
            producer.begin_transaction().await?;
            *batch = Some(Batch {
                started: Instant::now(),
                records: 0,
                events: Vec::new(),
            });
        }
        Ok(())
    }

    fn note(&mut self, txn: TxnId) {
        self.records += 1;
        match self.events.last_mut() {
            Some((last, count)) if *last == txn => *count += 1,
            _ => self.events.push((txn, 1)),
        }
    }
}

type AckFuture = Pin<Box<dyn Future<Output = (TxnId, Result<i64, ProducerError>)> + Send>>;

struct OpenTransaction {
    id: TxnId,
    context: EventContext,
    ordinal: u32,
}

/// The streaming loop. Runs until `shutdown` is cancelled or the server ends the
/// stream, then drains: everything sent is acknowledged and confirmed before it
/// returns.
pub struct Pipeline<'a> {
    capture: Capture,
    producer: &'a mut EventProducer,
    encoder: &'a mut dyn EventEncoder,
    captures_table: &'a (dyn Fn(&TableSchema) -> bool + Send + Sync),
    resume: ResumeFilter,
    overlap: Option<SnapshotOverlap>,
    options: PipelineOptions,
    tracker: AckTracker,
    acks: FuturesUnordered<AckFuture>,
    open: Option<OpenTransaction>,
    previous_commit_lsn: Option<Lsn>,
    records: Vec<EncodedRecord>,
    stats: PipelineStats,
    progress: Option<watch::Sender<Lsn>>,
    transactions: Option<Transactions>,
    batch: Option<Batch>,
    /// The newest LSN an offsets record in a committed transaction holds.
    offsets_written: Lsn,
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a> Pipeline<'a> {
    pub fn new(
        capture: Capture,
        producer: &'a mut EventProducer,
        encoder: &'a mut dyn EventEncoder,
        captures_table: &'a (dyn Fn(&TableSchema) -> bool + Send + Sync),
        resume: ResumeFilter,
        options: PipelineOptions,
    ) -> Self {
        let confirmed = capture.confirmed_lsn();
        Pipeline {
            capture,
            producer,
            encoder,
            captures_table,
            resume,
            overlap: None,
            options,
            tracker: AckTracker::new(confirmed),
            acks: FuturesUnordered::new(),
            open: None,
            previous_commit_lsn: None,
            records: Vec::new(),
            stats: PipelineStats::default(),
            progress: None,
            transactions: None,
            batch: None,
            offsets_written: confirmed,
        }
    }

    /// After a resumed snapshot: holds back the changes its rows already hold.
    pub fn with_snapshot_overlap(mut self, overlap: SnapshotOverlap) -> Self {
        self.overlap = Some(overlap);
        self
    }

    /// The transactional mode; `producer` must be transactional.
    pub fn with_transactions(mut self, transactions: Transactions) -> Self {
        self.transactions = Some(transactions);
        self
    }

    /// Publishes every LSN the pipeline confirms (for the offsets topic, metrics and
    /// status).
    pub fn with_progress(mut self, progress: watch::Sender<Lsn>) -> Self {
        self.progress = Some(progress);
        self
    }

    pub async fn run(
        mut self,
        shutdown: CancellationToken,
    ) -> Result<PipelineStats, PipelineError> {
        if let Err(error) = self.stream(shutdown).await {
            self.abort_batch().await;
            return Err(error);
        }
        self.drain().await
    }

    async fn stream(&mut self, shutdown: CancellationToken) -> Result<(), PipelineError> {
        let mut idle = tokio::time::interval(self.options.idle_confirm_interval);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let heartbeats = self.options.heartbeat_interval;
        let mut heartbeat = tokio::time::interval(heartbeats.unwrap_or(Duration::from_secs(3600)));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let interval = match self.transactions.as_ref().map(|t| t.boundary) {
            Some(TransactionBoundary::Interval(interval)) => Some(interval),
            _ => None,
        };
        let poll_batches = self.transactions.is_some() && interval.is_none();
        loop {
            let can_read = self.tracker.in_flight() < self.options.max_in_flight;
            let batch_open = self.batch.is_some();
            let batch_deadline = self.batch.as_ref().zip(interval).map_or_else(
                || Instant::now() + Duration::from_secs(3600),
                |(b, i)| b.started + i,
            );
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some((txn, result)) = self.acks.next(), if !self.acks.is_empty() => {
                    result?;
                    if let Some(lsn) = self.tracker.acked(txn) {
                        self.confirm(lsn);
                    }
                }
                change = self.capture.next(), if can_read => match change? {
                    Some(change) => self.handle(change).await?,
                    None => break,
                },
                _ = idle.tick() => self.confirm_idle(),
                _ = heartbeat.tick(), if heartbeats.is_some() => self.send_heartbeat().await?,
                () = tokio::time::sleep_until(batch_deadline.into()), if batch_open && interval.is_some() => {
                    self.commit_batch().await?;
                }
                // Last in this biased select: reached only when no change is ready to
                // read, which ends a `poll` batch (Connect commits once per poll(),
                // which returns what the connector had ready). A full queue ends any
                // batch, since only a commit acknowledges its events.
                () = std::future::ready(()), if batch_open && (poll_batches || !can_read) => {
                    self.commit_batch().await?;
                }
            }
        }
        Ok(())
    }

    async fn handle(&mut self, change: Change) -> Result<(), PipelineError> {
        match change {
            Change::Begin(begin) => {
                let id = self.tracker.begin();
                self.open = Some(OpenTransaction {
                    id,
                    context: EventContext {
                        xid: begin.xid,
                        commit_lsn: begin.final_lsn,
                        commit_time: begin.commit_timestamp,
                        event_lsn: begin.final_lsn,
                        previous_commit_lsn: self.previous_commit_lsn,
                    },
                    ordinal: 0,
                });
                let context = self.context_at(begin.final_lsn)?;
                self.records.clear();
                self.encoder.begin(&context, &mut self.records)?;
                self.send_records().await?;
            }
            Change::Schema { table, .. } => {
                if (self.captures_table)(&table) {
                    self.encoder.table_changed(&table).await?;
                }
            }
            Change::Row(row) => {
                self.stats.rows += 1;
                let context = self.context_at(row.lsn)?;
                self.records.clear();
                if (self.captures_table)(&row.table) {
                    self.encoder.row(&row, &context, &mut self.records)?;
                } else {
                    self.stats.rows_filtered += 1;
                    self.encoder.not_captured(&context, &mut self.records)?;
                }
                self.send_records().await?;
            }
            Change::Truncate { lsn, tables, .. } => {
                let context = self.context_at(lsn)?;
                self.records.clear();
                for table in &tables {
                    if (self.captures_table)(table) {
                        self.encoder.truncate(table, &context, &mut self.records)?;
                    } else {
                        self.encoder.not_captured(&context, &mut self.records)?;
                    }
                }
                self.send_records().await?;
            }
            Change::Commit(commit) => {
                if self.open.is_some() {
                    let context = self.context_at(commit.end_lsn)?;
                    self.records.clear();
                    self.encoder.commit(&context, &mut self.records)?;
                    self.send_records().await?;
                }
                let open = self.open.take().ok_or_else(|| PipelineError::OutOfOrder {
                    lsn: commit.commit_lsn,
                    what: "Commit without Begin".to_owned(),
                })?;
                if open.context.commit_lsn != commit.commit_lsn {
                    return Err(PipelineError::OutOfOrder {
                        lsn: commit.commit_lsn,
                        what: format!("Begin announced commit at {}", open.context.commit_lsn),
                    });
                }
                self.stats.transactions += 1;
                self.previous_commit_lsn = Some(commit.end_lsn);
                if let Some(lsn) = self.tracker.commit(open.id, commit.end_lsn) {
                    self.confirm(lsn);
                }
            }
            // pgcdc streams with protocol 1 (whole transactions at commit; PostgreSQL
            // spills large ones to disk), so streamed and two-phase blocks never come;
            // messages and origins carry nothing to publish.
            Change::Message(_)
            | Change::Origin(_)
            | Change::StreamStart { .. }
            | Change::StreamStop
            | Change::StreamCommit(..)
            | Change::StreamAbort { .. }
            | Change::TwoPhase(_) => {}
        }
        Ok(())
    }

    fn context_at(&self, lsn: Lsn) -> Result<EventContext, PipelineError> {
        let open = self
            .open
            .as_ref()
            .ok_or_else(|| PipelineError::OutOfOrder {
                lsn,
                what: "a change outside a transaction".to_owned(),
            })?;
        Ok(EventContext {
            event_lsn: lsn,
            ..open.context
        })
    }

    async fn send_records(&mut self) -> Result<(), PipelineError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        for record in self.records.drain(..) {
            let position = SourcePosition::new(open.context.commit_lsn, open.ordinal);
            open.ordinal += 1;
            self.producer.ensure_topic(&record.topic).await?;
            let outgoing = OutgoingRecord {
                topic: record.topic,
                key: record.key,
                value: record.value,
                position,
                snapshot_point: None,
            };
            let partition = self.producer.partition_of(&outgoing);
            if self
                .resume
                .already_written(&outgoing.topic, partition, position)
            {
                self.stats.records_already_written += 1;
                continue;
            }
            if let Some(overlap) = self.overlap.as_mut() {
                if !overlap.keeps(
                    &outgoing.topic,
                    outgoing.key.as_deref(),
                    position.commit_lsn,
                ) {
                    self.stats.records_in_resumed_snapshot += 1;
                    continue;
                }
                if position.commit_lsn >= overlap.until() {
                    tracing::info!(held_back = overlap.dropped(), until = %overlap.until(), "the stream passed the resumed snapshot's point");
                    self.overlap = None;
                }
            }
            if self.transactions.is_some() {
                Batch::open(self.producer, &mut self.batch).await?;
            }
            let pending = self.producer.send(&outgoing, partition).await?;
            self.tracker.sent(open.id);
            self.stats.records_sent += 1;
            let txn = open.id;
            match self.batch.as_mut() {
                // Its delivery is checked by the commit, which fails if any record
                // of the transaction was not written.
                Some(batch) => {
                    drop(pending);
                    batch.note(txn);
                }
                None => self
                    .acks
                    .push(Box::pin(async move { (txn, pending.acknowledged().await) })),
            }
        }
        let full = match (&self.transactions, &self.batch) {
            (Some(t), Some(b)) => {
                t.boundary == TransactionBoundary::Poll && b.records >= t.max_batch_records
            }
            _ => false,
        };
        if full {
            self.commit_batch().await?;
        }
        Ok(())
    }

    /// Commits the open Kafka transaction with an offsets record for the LSN its
    /// commit makes confirmable, then confirms that LSN: never before the commit.
    async fn commit_batch(&mut self) -> Result<(), PipelineError> {
        let (Some(transactions), Some(batch)) = (&self.transactions, self.batch.take()) else {
            return Ok(());
        };
        let mut after_commit = self.tracker.clone();
        for &(txn, count) in &batch.events {
            after_commit.acked_many(txn, count);
        }
        let lsn = after_commit.confirmable();
        if lsn > self.offsets_written {
            let record = (transactions.offsets_record)(lsn);
            self.producer
                .send_plain(&record.topic, &record.key, &record.value)
                .await?;
        }
        let committing = Instant::now();
        self.producer.commit_transaction().await?;
        self.stats.kafka_transactions += 1;
        self.offsets_written = self.offsets_written.max(lsn);
        tracing::debug!(
            records = batch.records,
            lsn = %lsn,
            open_ms = batch.started.elapsed().as_millis() as u64,
            commit_ms = committing.elapsed().as_millis() as u64,
            "committed a Kafka transaction"
        );
        for (txn, count) in batch.events {
            if let Some(lsn) = self.tracker.acked_many(txn, count) {
                self.confirm(lsn);
            }
        }
        Ok(())
    }

    /// After a failure: abort the open transaction now, rather than leave
    /// `read_committed` readers waiting for the broker's transaction timeout (the
    /// next start would abort it too, when it fences this producer).
    async fn abort_batch(&mut self) {
        if self.batch.take().is_some() {
            if let Err(error) = self.producer.abort_transaction().await {
                tracing::warn!(error = %error, "aborting the open Kafka transaction failed");
            }
        }
    }

    fn confirm(&mut self, lsn: Lsn) {
        self.capture.confirm(lsn);
        self.stats.confirmed = self.stats.confirmed.max(lsn);
        if let Some(progress) = &self.progress {
            progress.send_replace(self.stats.confirmed);
        }
    }

    /// Heartbeat records go out with the confirmed position; nothing waits for their
    /// acknowledgement and a restart may repeat one, which is harmless.
    async fn send_heartbeat(&mut self) -> Result<(), PipelineError> {
        let mut records = Vec::new();
        self.encoder.heartbeat(&mut records);
        let position = SourcePosition::new(self.capture.confirmed_lsn(), 0);
        for record in records {
            self.producer.ensure_topic(&record.topic).await?;
            let outgoing = OutgoingRecord {
                topic: record.topic,
                key: record.key,
                value: record.value,
                position,
                snapshot_point: None,
            };
            let partition = self.producer.partition_of(&outgoing);
            if self.transactions.is_some() {
                Batch::open(self.producer, &mut self.batch).await?;
            }
            drop(self.producer.send(&outgoing, partition).await?);
            if let Some(batch) = self.batch.as_mut() {
                batch.records += 1;
            }
        }
        Ok(())
    }

    /// Nothing open, nothing in flight: everything the server sent is durable, so the
    /// slot may move to the server's end of WAL.
    fn confirm_idle(&mut self) {
        if self.open.is_none()
            && self.batch.is_none()
            && self.tracker.pending_transactions() == 0
            && self.acks.is_empty()
        {
            let end = self
                .capture
                .server_wal_end()
                .max(self.tracker.confirmable());
            if end > self.capture.confirmed_lsn() {
                self.confirm(end);
            }
        }
    }

    async fn drain(mut self) -> Result<PipelineStats, PipelineError> {
        if let Err(error) = self.commit_batch().await {
            self.abort_batch().await;
            return Err(error);
        }
        while let Some((txn, result)) = self.acks.next().await {
            result?;
            if let Some(lsn) = self.tracker.acked(txn) {
                self.confirm(lsn);
            }
        }
        tracing::info!(confirmed = %self.stats.confirmed, rows = self.stats.rows, "pipeline drained");
        self.capture.stop().await?;
        Ok(self.stats)
    }
}
