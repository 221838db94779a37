//! The warehouse side of one batch, in ONE transaction:
//!
//! 1. the offsets rows of the batch's partitions are locked and compared with where
//!    the batch starts (a mismatch means another task moved them: roll back);
//! 2. per table: `CREATE TABLE` / `ALTER TABLE … ADD COLUMN` as `schema.evolution`
//!    allows, COPY of the staged rows into a temporary table, and the set-based
//!    merge statements ([`merge`](crate::merge));
//! 3. the partitions' next offsets are upserted;
//! 4. commit.
//!
//! A crash anywhere before the commit leaves nothing behind; after it, the rows and
//! the offsets that produced them are there together. After an error the
//! [`Warehouse`] forgets what it knew of the session (its staging tables are
//! discarded before the next batch).
//!
//! When the warehouse refuses a row, [`Warehouse::apply_each`] applies the batch
//! again record by record under savepoints, to tell the poison record from the rest
//! (see [`isolate`]).

pub mod catalog;
mod isolate;
pub mod offsets;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::SinkExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Transaction};

use crate::batch::PreparedTable;
use crate::config::{InsertMode, PrimaryKeyMode, SinkConfig};
use crate::error::SinkError;
use crate::history;
use crate::merge;
use crate::naming::{Ident, TableName};
use crate::table::{self, ExistingTable};
pub use isolate::{EachApplied, RecordTables};
pub use offsets::{OffsetReader, OffsetsTable, TopicPartition};

/// Where one partition's batch starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCommit {
    pub partition: TopicPartition,
    /// The stored next offset the batch started from (`None`: the beginning).
    pub expected: Option<i64>,
    /// The next offset after the batch.
    pub next: i64,
}

/// What one applied batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub tables: usize,
    /// Rows inserted, updated or deleted by the merge statements.
    pub rows: u64,
}

#[derive(Debug, Clone)]
struct Stage {
    name: Ident,
    columns: Vec<(Ident, String)>,
}

/// What the session knows about the warehouse: valid until a transaction that
/// changed it rolls back (then restored from a copy, or forgotten).
#[derive(Debug, Clone, Default)]
struct Caches {
    tables: HashMap<TableName, ExistingTable>,
    stages: HashMap<TableName, Stage>,
    next_stage: u32,
    /// History tables known to exist: their columns and the days they have
    /// partitions for.
    histories: HashMap<TableName, HistoryTable>,
    /// Tables whose last direct COPY met an existing key: batches left before the
    /// next attempt.
    direct_cooldown: HashMap<TableName, u32>,
}

#[derive(Debug, Clone, Default)]
struct HistoryTable {
    columns: Vec<Ident>,
    days: BTreeSet<i64>,
}

/// A connection to the warehouse and what it knows about its tables.
#[derive(Debug)]
pub struct Warehouse {
    client: Client,
    config: Arc<SinkConfig>,
    offsets: OffsetsTable,
    current_schema: Ident,
    caches: Caches,
    /// A transaction failed: its staging tables may be gone or half-made.
    stale_session: bool,
}

/// The settings every batch runs under.
struct Session<'a> {
    config: &'a SinkConfig,
    current_schema: &'a Ident,
}

impl Warehouse {
    pub async fn connect(config: Arc<SinkConfig>) -> Result<Warehouse, SinkError> {
        let (client, connection) = config
            .postgres_config()
            .connect(NoTls)
            .await
            .map_err(SinkError::warehouse("connecting"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "warehouse connection ended");
            }
        });
        client
            .batch_execute(
                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'",
            )
            .await
            .map_err(SinkError::warehouse("setting up the session"))?;
        let current_schema = catalog::current_schema(&client)
            .await
            .map_err(SinkError::warehouse("reading current_schema()"))?;
        let offsets = offsets_table(&config)?;
        offsets::create_table(&client, &offsets)
            .await
            .map_err(SinkError::warehouse(format!("creating {}", offsets.table)))?;
        Ok(Warehouse {
            client,
            config,
            offsets,
            current_schema,
            caches: Caches::default(),
            stale_session: false,
        })
    }

    /// Applies a batch's tables and records its partitions' offsets, atomically. On
    /// error nothing is applied, and the warehouse can be used again.
    pub async fn apply(
        &mut self,
        tables: &[PreparedTable],
        partitions: &[PartitionCommit],
    ) -> Result<ApplyStats, SinkError> {
        self.refresh_session().await?;
        let result = self.apply_in_one_transaction(tables, partitions).await;
        if result.is_err() {
            self.forget_session();
        }
        result
    }

    async fn apply_in_one_transaction(
        &mut self,
        tables: &[PreparedTable],
        partitions: &[PartitionCommit],
    ) -> Result<ApplyStats, SinkError> {
        let Warehouse {
            client,
            config,
            offsets,
            current_schema,
            caches,
            ..
        } = self;
        let session = Session {
            config,
            current_schema,
        };
        let tx = client
            .transaction()
            .await
            .map_err(SinkError::warehouse("BEGIN"))?;
        fence(&tx, config, offsets, partitions).await?;
        let mut stats = ApplyStats::default();
        for prepared in tables {
            if apply_table(&tx, &session, caches, prepared, false, &mut stats).await? {
                stats.tables += 1;
            }
        }
        write_offsets(&tx, config, offsets, partitions).await?;
        tx.commit().await.map_err(SinkError::warehouse("COMMIT"))?;
        Ok(stats)
    }

    /// After a failed transaction: the staging tables it made are gone with it, and
    /// the ones before it may hold its rows.
    fn forget_session(&mut self) {
        self.caches = Caches::default();
        self.stale_session = true;
    }

    async fn refresh_session(&mut self) -> Result<(), SinkError> {
        if self.stale_session {
            self.client
                .batch_execute("DISCARD TEMP")
                .await
                .map_err(SinkError::warehouse("DISCARD TEMP"))?;
            self.stale_session = false;
        }
        Ok(())
    }
}

/// Step 1: the partitions' offsets must be where this task left them.
async fn fence(
    tx: &Transaction<'_>,
    config: &SinkConfig,
    offsets: &OffsetsTable,
    partitions: &[PartitionCommit],
) -> Result<(), SinkError> {
    if partitions.is_empty() {
        return Ok(());
    }
    let sink = config.name.as_str();
    let (topics, numbers) = partition_columns(partitions);
    tx.execute(&offsets.ensure_rows_sql(), &[&sink, &topics, &numbers])
        .await
        .map_err(SinkError::warehouse("creating offsets rows"))?;
    let rows = tx
        .query(&offsets.read_sql(true), &[&sink, &topics, &numbers])
        .await
        .map_err(SinkError::warehouse("locking offsets"))?;
    for commit in partitions {
        let found: Option<i64> = rows
            .iter()
            .find(|r| {
                r.get::<_, &str>(0) == commit.partition.topic
                    && r.get::<_, i32>(1) == commit.partition.partition
            })
            .and_then(|r| r.get(2));
        if found != commit.expected {
            return Err(SinkError::OffsetsMoved {
                topic: commit.partition.topic.clone(),
                partition: commit.partition.partition,
                expected: commit.expected,
                found,
            });
        }
    }
    Ok(())
}

/// Step 3: the offsets, with the rows.
async fn write_offsets(
    tx: &Transaction<'_>,
    config: &SinkConfig,
    offsets: &OffsetsTable,
    partitions: &[PartitionCommit],
) -> Result<(), SinkError> {
    if partitions.is_empty() {
        return Ok(());
    }
    let sink = config.name.as_str();
    let (topics, numbers) = partition_columns(partitions);
    let nexts: Vec<i64> = partitions.iter().map(|p| p.next).collect();
    tx.execute(&offsets.upsert_sql(), &[&sink, &topics, &numbers, &nexts])
        .await
        .map_err(SinkError::warehouse("writing offsets"))?;
    Ok(())
}

fn partition_columns(partitions: &[PartitionCommit]) -> (Vec<&str>, Vec<i32>) {
    (
        partitions
            .iter()
            .map(|p| p.partition.topic.as_str())
            .collect(),
        partitions.iter().map(|p| p.partition.partition).collect(),
    )
}

/// Step 2 for one table: DDL as `schema.evolution` allows, COPY into its staging
/// table (emptied first with `clear_stage`, when the transaction staged rows
/// before), and the merge. Whether the table was written.
async fn apply_table(
    tx: &Transaction<'_>,
    session: &Session<'_>,
    caches: &mut Caches,
    prepared: &PreparedTable,
    clear_stage: bool,
    stats: &mut ApplyStats,
) -> Result<bool, SinkError> {
    let config = session.config;
    let key_required =
        config.insert_mode == InsertMode::Upsert && config.primary_key_mode != PrimaryKeyMode::None;
    if prepared.plan.is_empty() {
        return Ok(false);
    }
    let target = prepared.name.qualified(session.current_schema);
    let existing = match caches.tables.get(&target) {
        Some(existing) => Some(existing.clone()),
        None => catalog::existing_table(tx, &target)
            .await
            .map_err(SinkError::warehouse(format!(
                "reading the catalog for {target}"
            )))?,
    };
    if existing.is_none() && !prepared.has_writes {
        // Deletes and truncates of a table that was never written.
        return Ok(false);
    }
    let ddl = table::ddl(
        &target,
        &prepared.spec,
        existing.as_ref(),
        config.schema_evolution,
        key_required,
    )?;
    for statement in &ddl {
        tracing::info!(table = %target, sql = %statement, "evolving the warehouse schema");
        run_ddl(tx, statement).await?;
    }
    let current = if ddl.is_empty() {
        existing
    } else {
        caches.tables.remove(&target);
        catalog::existing_table(tx, &target)
            .await
            .map_err(SinkError::warehouse(format!(
                "reading the catalog for {target}"
            )))?
    };
    let Some(current) = current else {
        return Err(table::SchemaMismatch::TableMissing {
            table: target.to_string(),
        }
        .into());
    };
    let columns: Vec<(Ident, String)> = prepared
        .spec
        .columns
        .iter()
        .map(|c| {
            let sql_type = current
                .column_type(&c.name)
                .unwrap_or(&c.sql_type)
                .to_owned();
            (c.name.clone(), sql_type)
        })
        .collect();
    caches.tables.insert(target.clone(), current);
    let names: Vec<Ident> = columns.iter().map(|(n, _)| n.clone()).collect();
    if let Some(direct) = merge::direct_copy(&target, &names, config.insert_mode, &prepared.plan) {
        if let Some(rows) = try_direct_copy(tx, caches, &target, direct).await? {
            stats.rows += rows;
            append_history_of(tx, config, caches, &target, &columns, prepared).await?;
            return Ok(true);
        }
    }

    let stage_name = match caches.stages.get(&target) {
        Some(stage) if stage.columns == columns => {
            if clear_stage {
                tx.batch_execute(&format!("TRUNCATE pg_temp.{}", stage.name))
                    .await
                    .map_err(SinkError::warehouse("emptying a staging table"))?;
            }
            stage.name.clone()
        }
        previous => {
            if let Some(previous) = previous {
                tx.batch_execute(&format!("DROP TABLE IF EXISTS pg_temp.{}", previous.name))
                    .await
                    .map_err(SinkError::warehouse("dropping a staging table"))?;
            }
            caches.next_stage += 1;
            let name = Ident::exact(format!("pgcdc_stage_{}", caches.next_stage));
            tx.batch_execute(&merge::create_stage_sql(&name, &columns))
                .await
                .map_err(SinkError::warehouse(format!(
                    "creating the staging table of {target}"
                )))?;
            caches.stages.insert(
                target.clone(),
                Stage {
                    name: name.clone(),
                    columns: columns.clone(),
                },
            );
            name
        }
    };
    let key = prepared.spec.key_positions();
    let plan = merge::merge(
        &target,
        &stage_name,
        &names,
        &key,
        config.insert_mode,
        &prepared.plan,
    );
    copy_in(tx, &plan.copy_sql, plan.copy_data)
        .await
        .map_err(SinkError::warehouse(format!(
            "COPY into the staging table of {target}"
        )))?;
    for statement in &plan.statements {
        stats.rows += tx
            .execute(statement.as_str(), &[])
            .await
            .map_err(SinkError::warehouse(format!(
                "merging into {target}: {statement}"
            )))?;
    }
    append_history_of(tx, config, caches, &target, &columns, prepared).await?;
    Ok(true)
}

/// Batches a table skips the direct COPY for after a key conflict sent one to the
/// merge: a table whose changes update existing keys stops paying for the attempt.
const DIRECT_COPY_COOLDOWN: u32 = 32;

/// The direct COPY of a batch of new rows, under a savepoint: the rows written, or
/// `None` when the table should be merged instead (a key exists already, or a
/// recent batch of the table found one).
async fn try_direct_copy(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    target: &TableName,
    direct: merge::DirectCopy,
) -> Result<Option<u64>, SinkError> {
    if direct.fallback_on_conflict {
        if let Some(left) = caches.direct_cooldown.get_mut(target) {
            *left = left.saturating_sub(1);
            if *left > 0 {
                return Ok(None);
            }
        }
    }
    let savepoint = |sql: &'static str| async move {
        tx.batch_execute(sql)
            .await
            .map_err(SinkError::warehouse(sql.to_owned()))
    };
    savepoint("SAVEPOINT pgcdc_direct_copy").await?;
    match copy_in(tx, &direct.copy_sql, direct.copy_data).await {
        Ok(rows) => {
            savepoint("RELEASE SAVEPOINT pgcdc_direct_copy").await?;
            caches.direct_cooldown.remove(target);
            Ok(Some(rows))
        }
        Err(e) if direct.fallback_on_conflict && e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            savepoint("ROLLBACK TO SAVEPOINT pgcdc_direct_copy").await?;
            tracing::debug!(table = %target, "a key of the batch exists: merging instead of copying");
            caches
                .direct_cooldown
                .insert(target.clone(), DIRECT_COPY_COOLDOWN);
            Ok(None)
        }
        Err(e) => Err(SinkError::warehouse(format!("COPY into {target}"))(e)),
    }
}

async fn copy_in(
    tx: &Transaction<'_>,
    sql: &str,
    data: Vec<u8>,
) -> Result<u64, tokio_postgres::Error> {
    let sink_stream = tx.copy_in::<_, bytes::Bytes>(sql).await?;
    futures_util::pin_mut!(sink_stream);
    sink_stream.send(bytes::Bytes::from(data)).await?;
    sink_stream.finish().await
}

async fn append_history_of(
    tx: &Transaction<'_>,
    config: &SinkConfig,
    caches: &mut Caches,
    target: &TableName,
    columns: &[(Ident, String)],
    prepared: &PreparedTable,
) -> Result<(), SinkError> {
    match &config.history {
        Some(history) if !prepared.history.is_empty() => {
            append_history(tx, history, caches, target, columns, &prepared.history).await
        }
        _ => Ok(()),
    }
}

/// The history mode's share of a table's batch: the history table created or given
/// the target's new columns, the days' partitions made, the changes appended.
async fn append_history(
    tx: &Transaction<'_>,
    config: &history::HistoryConfig,
    caches: &mut Caches,
    target: &TableName,
    columns: &[(Ident, String)],
    rows: &[history::HistoryRow],
) -> Result<(), SinkError> {
    let name = history::table_name(target, config);
    let known = match caches.histories.get(&name) {
        Some(known) => known.clone(),
        None => {
            let existing =
                catalog::existing_table(tx, &name)
                    .await
                    .map_err(SinkError::warehouse(format!(
                        "reading the catalog for {name}"
                    )))?;
            match existing {
                Some(existing) => HistoryTable {
                    columns: existing.columns.into_iter().map(|(n, _)| n).collect(),
                    days: BTreeSet::new(),
                },
                None => {
                    let create = history::create_sql(&name, columns);
                    tracing::info!(table = %name, sql = %create, "creating the history table");
                    run_ddl(tx, &create).await?;
                    HistoryTable {
                        columns: columns.iter().map(|(n, _)| n.clone()).collect(),
                        days: BTreeSet::new(),
                    }
                }
            }
        }
    };
    let mut known = known;
    if let Some(alter) = history::add_columns_sql(&name, columns, &known.columns) {
        tracing::info!(table = %name, sql = %alter, "evolving the history table");
        run_ddl(tx, &alter).await?;
        for (column, _) in columns {
            if !known.columns.contains(column) {
                known.columns.push(column.clone());
            }
        }
    }
    let today = history::day_of(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    );
    for day in history::days_needed(rows, today, config.partitions_ahead) {
        if known.days.insert(day) {
            run_ddl(tx, &history::partition_sql(&name, day)).await?;
        }
    }
    let names: Vec<Ident> = columns.iter().map(|(n, _)| n.clone()).collect();
    let (copy_sql, copy_data) = history::copy(&name, &names, rows);
    copy_in(tx, &copy_sql, copy_data)
        .await
        .map_err(SinkError::warehouse(format!("COPY into {name}")))?;
    caches.histories.insert(name, known);
    Ok(())
}

/// A DDL statement; a concurrent task's identical DDL is a conflict the batch retries.
async fn run_ddl(tx: &Transaction<'_>, statement: &str) -> Result<(), SinkError> {
    tx.batch_execute(statement).await.map_err(|source| {
        if offsets::lost_ddl_race(&source) {
            SinkError::DdlConflict {
                statement: statement.to_owned(),
                source,
            }
        } else {
            SinkError::warehouse(statement.to_owned())(source)
        }
    })
}

/// The offsets table of a configuration.
pub fn offsets_table(config: &SinkConfig) -> Result<OffsetsTable, SinkError> {
    OffsetsTable::new(&config.offsets_table, config.quote_identifiers).map_err(|message| {
        SinkError::Config(crate::config::ConfigErrors(vec![
            crate::config::PropertyError {
                property: "offsets.table.name".to_owned(),
                message,
            },
        ]))
    })
}
