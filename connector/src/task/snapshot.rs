//! The initial snapshot: every captured table's rows as of the slot's consistent
//! point, as `op=r` records, before the stream starts at that point.
//!
//! Tables are read one after another; a table's heap is split into block-range chunks
//! that `snapshot.max.threads` connections, each inside the exported snapshot, copy in
//! parallel. One loop encodes and sends, so records are numbered (their
//! [`SourcePosition`]) in the order they are sent. `source.snapshot` follows
//! Debezium: `first` for the snapshot's first record, `first_in_data_collection` for
//! each later table's first, `last_in_data_collection` for each table's last but the
//! final table's, whose last is `last`; `true` otherwise.
//!
//! A crash during the snapshot leaves the slot where the snapshot began, and the next
//! start goes on with it ([`crate::offsets::overlap`]): rows whose keys Kafka
//! already holds are skipped, the others read as of a newer exported snapshot. Rows
//! of keyless tables have nothing to be recognised by and are all read again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use pgcdc_schemas::debezium::source::sequence;
use pgcdc_schemas::debezium::{SnapshotMarker, SourceInfo};
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::Client;

use super::encoder::{DebeziumEncoder, SOURCE_VERSION};
use super::metrics::TaskMetrics;
use super::TaskError;
use crate::capture::TableSchema;
use crate::lsn::Lsn;
use crate::offsets::{SnapshotKeys, SourcePosition};
use crate::pgoutput::TupleData;
use crate::producer::{EventProducer, OutgoingRecord, ProducerError};
use crate::replication::ReplicationConfig;
use crate::snapshot::chunks::{plan, BlockRange};
use crate::snapshot::{copy_chunk, import_snapshot, table_blocks, SnapshotError};

/// 1 MiB of heap per chunk. A chunk's rows are held in memory from its COPY until
/// they are sent, and up to `2 × snapshot.max.threads + 2` chunks can be. At 8 MiB a
/// chunk the snapshot peaked at 157 MiB of RSS (211 MiB with two threads); at 1 MiB,
/// 87 and 105 MiB, for about 12% fewer rows/s (bench/RESULTS.md, 2026-12-07).
const BLOCKS_PER_CHUNK: u32 = 128;
/// Records sent and not yet acknowledged before reading pauses.
const MAX_IN_FLIGHT: usize = 16_384;

/// What the snapshot did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    pub tables: usize,
    /// Rows sent.
    pub rows: u64,
    /// Rows a resumed snapshot found already sent.
    pub skipped: u64,
}

struct Held {
    tuple: TupleData,
    marker: SnapshotMarker,
    records: Vec<crate::pipeline::EncodedRecord>,
}

struct Job {
    table: Arc<TableSchema>,
    chunk: BlockRange,
}

type ChunkResult = Result<Vec<TupleData>, SnapshotError>;

/// Snapshot connections, each inside the exported snapshot.
pub struct Readers {
    clients: Vec<Client>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Readers({})", self.clients.len())
    }
}

impl Readers {
    pub async fn open(
        config: &ReplicationConfig,
        snapshot_name: &str,
        threads: usize,
    ) -> Result<Readers, TaskError> {
        let mut clients = Vec::with_capacity(threads);
        for _ in 0..threads.max(1) {
            let client = crate::sql::connect(config).await?;
            import_snapshot(&client, snapshot_name).await?;
            clients.push(client);
        }
        Ok(Readers { clients })
    }

    /// The first reader, for catalog queries that must see the snapshot.
    pub fn first(&self) -> &Client {
        &self.clients[0]
    }
}

/// Reads `tables` as of `point` (the readers' snapshot) and publishes their rows;
/// returns when every record is acknowledged. A resumed snapshot passes the keys its
/// series already sent in `already_sent`: those rows are skipped, and the keys of the
/// rows sent are added with `point`.
pub async fn run(
    readers: Readers,
    tables: &[Arc<TableSchema>],
    point: Lsn,
    mut already_sent: Option<&mut SnapshotKeys>,
    encoder: &mut DebeziumEncoder,
    producer: &mut EventProducer,
    metrics: &TaskMetrics,
) -> Result<SnapshotStats, TaskError> {
    metrics.snapshot_running.store(true, Ordering::Relaxed);
    metrics
        .snapshot_tables_total
        .store(tables.len() as u64, Ordering::Relaxed);
    let snapshot_xid: Option<i64> = readers
        .first()
        .query_one(
            "SELECT txid_snapshot_xmin(txid_current_snapshot())::bigint",
            &[],
        )
        .await
        .ok()
        .map(|row| row.get(0));
    let mut plans = Vec::with_capacity(tables.len());
    for table in tables {
        let blocks = table_blocks(readers.first(), table).await?;
        plans.push(plan(blocks, BLOCKS_PER_CHUNK));
    }

    let threads = readers.clients.len();
    let (job_tx, job_rx) = mpsc::channel::<Job>(threads * 2);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (row_tx, mut row_rx) = mpsc::channel::<ChunkResult>(threads + 1);
    let mut workers = Vec::new();
    for client in readers.clients {
        let jobs = Arc::clone(&job_rx);
        let rows = row_tx.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let job = jobs.lock().await.recv().await;
                let Some(job) = job else { break };
                let mut chunk_rows = Vec::new();
                let result = copy_chunk(&client, &job.table, job.chunk, |t| chunk_rows.push(t))
                    .await
                    .map(|_| chunk_rows);
                if rows.send(result).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(row_tx);

    let mut sender = Sender {
        producer,
        // Snapshot records sort before everything the stream sends from the point
        // on (and the tails skip them: their header says what they are).
        commit_lsn: Lsn(point.0.saturating_sub(1)),
        point,
        ordinal: 0,
        acks: FuturesUnordered::new(),
        in_transaction: 0,
    };
    let mut stats = SnapshotStats::default();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut first_of_snapshot = true;
    let mut records = Vec::new();
    for (index, (table, chunks)) in tables.iter().zip(plans).enumerate() {
        encoder.describe(table).await.map_err(TaskError::Encode)?;
        let name = table.qualified_name();
        tracing::info!(table = %name, chunks = chunks.len(), "snapshot of table started");
        let is_last_table = index + 1 == tables.len();
        let mut pending_chunks = chunks.len();
        let mut queued = chunks.into_iter().map(|chunk| Job {
            table: Arc::clone(table),
            chunk,
        });
        // Keep the workers busy without queueing the whole table.
        let mut next_job = queued.next();
        // The row sent last, held back until the next one shows whether it is the
        // table's last (its marker then changes).
        let mut held: Option<Held> = None;
        let mut table_rows = 0u64;
        let mut table_skipped = 0u64;
        while pending_chunks > 0 {
            tokio::select! {
                permit = job_tx.reserve(), if next_job.is_some() => {
                    let permit = permit.map_err(|_| TaskError::Snapshot("snapshot readers stopped".to_owned()))?;
                    if let Some(job) = next_job.take() {
                        permit.send(job);
                    }
                    next_job = queued.next();
                }
                chunk = row_rx.recv() => {
                    let rows = chunk.ok_or_else(|| TaskError::Snapshot("snapshot readers stopped".to_owned()))??;
                    pending_chunks -= 1;
                    metrics.snapshot_rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
                    for row in rows {
                        let marker = if first_of_snapshot {
                            SnapshotMarker::First
                        } else if table_rows == 0 {
                            SnapshotMarker::FirstInDataCollection
                        } else {
                            SnapshotMarker::True
                        };
                        let info = source(encoder, table, point, snapshot_xid, marker);
                        encoder.snapshot_row(table, &row, &info, &mut records).map_err(TaskError::Encode)?;
                        if let Some(keys) = already_sent.as_deref_mut() {
                            let sent = !records.is_empty() && records.iter().all(|r| {
                                r.key.as_deref().is_some_and(|key| keys.contains(&r.topic, key))
                            });
                            if sent {
                                records.clear();
                                table_skipped += 1;
                                continue;
                            }
                            for record in &records {
                                keys.insert(&record.topic, record.key.as_deref(), point);
                            }
                        }
                        first_of_snapshot = false;
                        table_rows += 1;
                        let next = Held { tuple: row, marker, records: std::mem::take(&mut records) };
                        if let Some(previous) = held.replace(next) {
                            encoder.count_snapshot_row(table, previous.records.len());
                            sender.send(previous.records).await?;
                        }
                    }
                    if last_progress.elapsed() >= PROGRESS_EVERY {
                        last_progress = Instant::now();
                        tracing::info!(table = %name, rows = table_rows, skipped = table_skipped, total_rows = stats.rows + table_rows, "snapshot in progress");
                    }
                }
            }
        }
        if let Some(last) = held.take() {
            // Debezium's precedence (RelationalSnapshotChangeEventSource
            // setSnapshotMarker): last of the snapshot, then first of the snapshot
            // (a one-row first table keeps `first`), then last of a table.
            let marker = if is_last_table {
                SnapshotMarker::Last
            } else if last.marker == SnapshotMarker::First {
                SnapshotMarker::First
            } else {
                SnapshotMarker::LastInDataCollection
            };
            let records = if marker == last.marker {
                last.records
            } else {
                let info = source(encoder, table, point, snapshot_xid, marker);
                encoder
                    .snapshot_row(table, &last.tuple, &info, &mut records)
                    .map_err(TaskError::Encode)?;
                std::mem::take(&mut records)
            };
            encoder.count_snapshot_row(table, records.len());
            sender.send(records).await?;
        }
        stats.skipped += table_skipped;
        stats.tables += 1;
        stats.rows += table_rows;
        metrics.snapshot_tables_done.fetch_add(1, Ordering::Relaxed);
        tracing::info!(table = %name, rows = table_rows, skipped = table_skipped, "snapshot of table completed");
    }
    drop(job_tx);
    for worker in workers {
        let _ = worker.await;
    }
    sender.drain().await?;
    metrics.snapshot_running.store(false, Ordering::Relaxed);
    metrics.snapshot_completed.store(true, Ordering::Relaxed);
    tracing::info!(
        tables = stats.tables,
        rows = stats.rows,
        seconds = started.elapsed().as_secs_f64(),
        "snapshot completed"
    );
    Ok(stats)
}

type AckFuture = Pin<Box<dyn Future<Output = Result<i64, ProducerError>> + Send>>;

struct Sender<'a> {
    producer: &'a mut EventProducer,
    commit_lsn: Lsn,
    point: Lsn,
    ordinal: u32,
    acks: FuturesUnordered<AckFuture>,
    /// Records in the open Kafka transaction (the transactional mode).
    in_transaction: usize,
}

/// In the transactional mode, snapshot records are committed in transactions of this
/// many: an interrupted snapshot (resumed at the next start) leaves nothing a
/// `read_committed` reader sees past its last commit.
const RECORDS_PER_TRANSACTION: usize = 8192;

fn source(
    encoder: &DebeziumEncoder,
    table: &TableSchema,
    consistent_point: Lsn,
    xid: Option<i64>,
    marker: SnapshotMarker,
) -> SourceInfo {
    let ts_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let settings = encoder.settings();
    SourceInfo {
        version: SOURCE_VERSION.to_owned(),
        name: settings.topic_prefix.clone(),
        ts_us,
        snapshot: marker,
        db: settings.database.clone(),
        sequence: Some(sequence(None, consistent_point.0)),
        schema: table.relation.schema_name().to_owned(),
        table: table.relation.name.clone(),
        tx_id: xid,
        lsn: Some(consistent_point.0),
        xmin: None,
        origin: None,
        origin_lsn: None,
    }
}

impl Sender<'_> {
    async fn send(
        &mut self,
        records: Vec<crate::pipeline::EncodedRecord>,
    ) -> Result<(), TaskError> {
        for record in records {
            let position = SourcePosition::new(self.commit_lsn, self.ordinal);
            self.ordinal = self.ordinal.checked_add(1).ok_or_else(|| {
                TaskError::Snapshot("more than 4,294,967,295 snapshot records".to_owned())
            })?;
            self.producer.ensure_topic(&record.topic).await?;
            let outgoing = OutgoingRecord {
                topic: record.topic,
                key: record.key,
                value: record.value,
                position,
                snapshot_point: Some(self.point),
            };
            let partition = self.producer.partition_of(&outgoing);
            if self.producer.is_transactional() {
                if self.in_transaction == 0 {
                    self.producer.begin_transaction().await?;
                }
                // Delivery is checked by the commit.
                drop(self.producer.send(&outgoing, partition).await?);
                self.in_transaction += 1;
                if self.in_transaction >= RECORDS_PER_TRANSACTION {
                    self.commit().await?;
                }
                continue;
            }
            let pending = self.producer.send(&outgoing, partition).await?;
            self.acks.push(Box::pin(pending.acknowledged()));
            while self.acks.len() >= MAX_IN_FLIGHT {
                if let Some(result) = self.acks.next().await {
                    result?;
                }
            }
        }
        Ok(())
    }

    async fn drain(&mut self) -> Result<(), TaskError> {
        while let Some(result) = self.acks.next().await {
            result?;
        }
        self.commit().await
    }

    async fn commit(&mut self) -> Result<(), TaskError> {
        if self.in_transaction > 0 {
            self.producer.commit_transaction().await?;
            self.in_transaction = 0;
        }
        Ok(())
    }
}

const PROGRESS_EVERY: Duration = Duration::from_secs(10);
