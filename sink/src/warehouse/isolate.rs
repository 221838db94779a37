//! Telling the poison record from the rest of a batch the warehouse refused.
//!
//! The batch is applied again in one transaction, one record at a time, each under a
//! savepoint; a record whose row the warehouse refuses (SQLSTATE class 22 or 23) is
//! rolled back to its savepoint and reported, the others stay. Applying a batch's
//! records one by one in source order leaves the tables as the set-based merge of
//! the whole batch would (each key's last change wins either way), so the rest of the
//! batch still applies exactly once, with the offsets, in one commit. This is the slow
//! path, taken only after a refusal.

use std::collections::HashSet;

use crate::batch::PreparedTable;
use crate::error::SinkError;
use crate::poison::is_row_rejection;

use super::{apply_table, fence, write_offsets, ApplyStats, PartitionCommit, Session, Warehouse};

/// One record's share of a batch: its index in the batch and its plans.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordTables {
    pub index: usize,
    pub tables: Vec<PreparedTable>,
}

/// What applying a batch record by record came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EachApplied {
    /// Committed, without the records the warehouse refused (index, reason).
    Committed {
        stats: ApplyStats,
        refused: Vec<(usize, String)>,
    },
    /// Not tolerating: the first refused record, and nothing was committed.
    Refused { index: usize, reason: String },
}

impl Warehouse {
    /// Applies `records` one by one in one transaction with the batch's offsets.
    /// With `tolerate`, refused records are skipped, handed to `before_commit` (which
    /// must succeed for the commit to happen: the dead-letter topic) and listed;
    /// without, the first one rolls everything back.
    pub async fn apply_each<F, Fut>(
        &mut self,
        records: &[RecordTables],
        partitions: &[PartitionCommit],
        tolerate: bool,
        before_commit: F,
    ) -> Result<EachApplied, SinkError>
    where
        F: FnOnce(Vec<(usize, String)>) -> Fut,
        Fut: std::future::Future<Output = Result<(), SinkError>>,
    {
        self.refresh_session().await?;
        let result = self
            .apply_each_in_one_transaction(records, partitions, tolerate, before_commit)
            .await;
        if !matches!(result, Ok(EachApplied::Committed { .. })) {
            self.forget_session();
        }
        result
    }

    async fn apply_each_in_one_transaction<F, Fut>(
        &mut self,
        records: &[RecordTables],
        partitions: &[PartitionCommit],
        tolerate: bool,
        before_commit: F,
    ) -> Result<EachApplied, SinkError>
    where
        F: FnOnce(Vec<(usize, String)>) -> Fut,
        Fut: std::future::Future<Output = Result<(), SinkError>>,
    {
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
        let mut written = HashSet::new();
        let mut refused = Vec::new();
        for record in records {
            let saved = caches.clone();
            tx.batch_execute("SAVEPOINT pgcdc_record")
                .await
                .map_err(SinkError::warehouse("SAVEPOINT"))?;
            let mut record_stats = ApplyStats::default();
            let mut outcome = Ok(());
            for prepared in &record.tables {
                match apply_table(&tx, &session, caches, prepared, true, &mut record_stats).await {
                    Ok(true) => {
                        written.insert(prepared.name.clone());
                    }
                    Ok(false) => {}
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            match outcome {
                Ok(()) => {
                    tx.batch_execute("RELEASE SAVEPOINT pgcdc_record")
                        .await
                        .map_err(SinkError::warehouse("RELEASE SAVEPOINT"))?;
                    stats.rows += record_stats.rows;
                }
                Err(SinkError::Warehouse { context, source }) if is_row_rejection(&source) => {
                    let reason = format!("warehouse: {context}: {}", describe(&source));
                    if !tolerate {
                        return Ok(EachApplied::Refused {
                            index: record.index,
                            reason,
                        });
                    }
                    tx.batch_execute("ROLLBACK TO SAVEPOINT pgcdc_record")
                        .await
                        .map_err(SinkError::warehouse("ROLLBACK TO SAVEPOINT"))?;
                    // The savepoint took back whatever this record's DDL and staging
                    // tables did: so does the session's knowledge of them.
                    *caches = saved;
                    refused.push((record.index, reason));
                }
                Err(e) => return Err(e),
            }
        }
        write_offsets(&tx, config, offsets, partitions).await?;
        before_commit(refused.clone()).await?;
        tx.commit().await.map_err(SinkError::warehouse("COMMIT"))?;
        stats.tables = written.len();
        Ok(EachApplied::Committed { stats, refused })
    }
}

/// The server's message with its SQLSTATE and detail.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(": {detail}"));
            }
            text
        }
        None => error.to_string(),
    }
}
