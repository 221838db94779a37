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
//! the offsets that produced them are there together. Any error drops the
//! [`Warehouse`] (its caches and temporary tables go with the connection).

pub mod catalog;
pub mod offsets;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

use crate::batch::PreparedTable;
use crate::config::{InsertMode, PrimaryKeyMode, SinkConfig};
use crate::error::SinkError;
use crate::merge;
use crate::naming::{Ident, TableName};
use crate::table::{self, ExistingTable};
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

#[derive(Debug)]
struct Stage {
    name: Ident,
    columns: Vec<(Ident, String)>,
}

/// A connection to the warehouse and what it knows about its tables.
#[derive(Debug)]
pub struct Warehouse {
    client: Client,
    config: Arc<SinkConfig>,
    offsets: OffsetsTable,
    current_schema: Ident,
    tables: HashMap<TableName, ExistingTable>,
    stages: HashMap<TableName, Stage>,
    next_stage: u32,
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
            tables: HashMap::new(),
            stages: HashMap::new(),
            next_stage: 0,
        })
    }

    /// Applies a batch's tables and records its partitions' offsets, atomically.
    pub async fn apply(
        &mut self,
        tables: &[PreparedTable],
        partitions: &[PartitionCommit],
    ) -> Result<ApplyStats, SinkError> {
        let Warehouse {
            client,
            config,
            offsets,
            current_schema,
            tables: known,
            stages,
            next_stage,
        } = self;
        let sink = config.name.as_str();
        let tx = client
            .transaction()
            .await
            .map_err(SinkError::warehouse("BEGIN"))?;

        // 1. Fence: the partitions' offsets must be where this task left them.
        let topics: Vec<&str> = partitions
            .iter()
            .map(|p| p.partition.topic.as_str())
            .collect();
        let numbers: Vec<i32> = partitions.iter().map(|p| p.partition.partition).collect();
        if !partitions.is_empty() {
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
        }

        // 2. The tables.
        let mut stats = ApplyStats::default();
        let key_required = config.insert_mode == InsertMode::Upsert
            && config.primary_key_mode != PrimaryKeyMode::None;
        for prepared in tables {
            if prepared.plan.is_empty() {
                continue;
            }
            let target = prepared.name.qualified(current_schema);
            let existing =
                match known.get(&target) {
                    Some(existing) => Some(existing.clone()),
                    None => catalog::existing_table(&tx, &target).await.map_err(
                        SinkError::warehouse(format!("reading the catalog for {target}")),
                    )?,
                };
            if existing.is_none() && !prepared.has_writes {
                // Deletes and truncates of a table that was never written.
                continue;
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
                tx.batch_execute(statement).await.map_err(|source| {
                    // duplicate key in the catalog, duplicate table, duplicate column
                    let conflict = source
                        .code()
                        .is_some_and(|c| matches!(c.code(), "23505" | "42P07" | "42701"));
                    if conflict {
                        SinkError::DdlConflict {
                            statement: statement.clone(),
                            source,
                        }
                    } else {
                        SinkError::warehouse(statement.clone())(source)
                    }
                })?;
            }
            let current = if ddl.is_empty() {
                existing
            } else {
                known.remove(&target);
                catalog::existing_table(&tx, &target)
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
            known.insert(target.clone(), current);

            let stage_name = match stages.get(&target) {
                Some(stage) if stage.columns == columns => stage.name.clone(),
                previous => {
                    if let Some(previous) = previous {
                        tx.batch_execute(&format!(
                            "DROP TABLE IF EXISTS pg_temp.{}",
                            previous.name
                        ))
                        .await
                        .map_err(SinkError::warehouse("dropping a staging table"))?;
                    }
                    *next_stage += 1;
                    let name = Ident::exact(format!("pgcdc_stage_{next_stage}"));
                    tx.batch_execute(&merge::create_stage_sql(&name, &columns))
                        .await
                        .map_err(SinkError::warehouse(format!(
                            "creating the staging table of {target}"
                        )))?;
                    stages.insert(
                        target.clone(),
                        Stage {
                            name: name.clone(),
                            columns: columns.clone(),
                        },
                    );
                    name
                }
            };
            let names: Vec<Ident> = columns.iter().map(|(n, _)| n.clone()).collect();
            let key = prepared.spec.key_positions();
            let plan = merge::merge(
                &target,
                &stage_name,
                &names,
                &key,
                config.insert_mode,
                &prepared.plan,
            );
            let sink_stream = tx
                .copy_in::<_, bytes::Bytes>(&plan.copy_sql)
                .await
                .map_err(SinkError::warehouse(format!(
                    "COPY into the staging table of {target}"
                )))?;
            futures_util::pin_mut!(sink_stream);
            sink_stream
                .send(bytes::Bytes::from(plan.copy_data))
                .await
                .map_err(SinkError::warehouse(format!(
                    "COPY into the staging table of {target}"
                )))?;
            sink_stream
                .finish()
                .await
                .map_err(SinkError::warehouse(format!(
                    "COPY into the staging table of {target}"
                )))?;
            for statement in &plan.statements {
                stats.rows +=
                    tx.execute(statement.as_str(), &[])
                        .await
                        .map_err(SinkError::warehouse(format!(
                            "merging into {target}: {statement}"
                        )))?;
            }
            stats.tables += 1;
        }

        // 3. The offsets, with the rows.
        if !partitions.is_empty() {
            let nexts: Vec<i64> = partitions.iter().map(|p| p.next).collect();
            tx.execute(&offsets.upsert_sql(), &[&sink, &topics, &numbers, &nexts])
                .await
                .map_err(SinkError::warehouse("writing offsets"))?;
        }
        tx.commit().await.map_err(SinkError::warehouse("COMMIT"))?;
        Ok(stats)
    }
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
