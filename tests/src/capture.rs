//! Capture sessions on a test database: publication, slot and a running
//! [`Capture`], and helpers that collect what it sends.

use std::time::Duration;

use pgcdc_connector::capture::{Capture, CaptureOptions, Change};
use pgcdc_connector::replication::{ReplicationConfig, SslMode};

use crate::TestDb;

/// How a test database is reached over the replication protocol.
pub fn replication_config(db: &TestDb) -> ReplicationConfig {
    let server = &db.server;
    ReplicationConfig::new(&server.host, server.port, &server.user, &db.name)
        .with_password(server.password.clone())
        .with_sslmode(SslMode::Disable)
}

/// Creates a publication for `tables` (or for all tables when empty) and a
/// permanent pgoutput slot, both named after the test database.
pub async fn prepare(db: &TestDb, tables: &[&str]) -> anyhow::Result<()> {
    let client = db.client().await?;
    let target = if tables.is_empty() {
        "ALL TABLES".to_owned()
    } else {
        format!("TABLE {}", tables.join(", "))
    };
    client
        .batch_execute(&format!(
            "CREATE PUBLICATION {} FOR {target}",
            db.publication_name()
        ))
        .await?;
    client
        .query_one(
            "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&db.slot_name()],
        )
        .await?;
    Ok(())
}

pub fn options(db: &TestDb) -> CaptureOptions {
    CaptureOptions::new(db.slot_name(), vec![db.publication_name()])
}

pub async fn start(db: &TestDb, options: &CaptureOptions) -> anyhow::Result<Capture> {
    Ok(Capture::start(replication_config(db), options).await?)
}

/// Reads changes until `transactions` commits (or stream commits) arrived, failing
/// after `timeout`. Returns everything received, in order.
pub async fn collect(
    capture: &mut Capture,
    transactions: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut commits = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    while commits < transactions {
        let next = tokio::time::timeout_at(deadline, capture.next())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "timed out after {commits} of {transactions} transactions: {changes:#?}"
                )
            })??;
        let change = next.ok_or_else(|| anyhow::anyhow!("the server ended the stream"))?;
        if matches!(change, Change::Commit(_) | Change::StreamCommit(..)) {
            commits += 1;
        }
        changes.push(change);
    }
    Ok(changes)
}

/// Waits `quiet` and fails if anything but keepalives arrived meanwhile.
pub async fn expect_nothing(capture: &mut Capture, quiet: Duration) -> anyhow::Result<()> {
    match tokio::time::timeout(quiet, capture.next()).await {
        Err(_) => Ok(()),
        Ok(next) => anyhow::bail!("expected silence, received {:?}", next?),
    }
}
