//! PostgreSQL servers of the stack and the per-test database.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

/// One PostgreSQL cluster of the local stack.
#[derive(Debug, Clone)]
pub struct PgServer {
    pub version: u32,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Where its `postgres`, `pg_ctl` and `pg_recvlogical` live.
    pub bin_dir: PathBuf,
}

impl PgServer {
    /// A libpq-style connection string for `dbname` as the stack's superuser.
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={} password={} dbname={} connect_timeout=10",
            self.host, self.port, self.user, self.password, dbname
        )
    }

    /// An ordinary SQL connection; its driver task runs on the current runtime.
    pub async fn connect(&self, dbname: &str) -> anyhow::Result<Client> {
        let (client, connection) = tokio_postgres::connect(&self.conninfo(dbname), NoTls)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "PostgreSQL {} at {}:{} is not reachable ({e}); is the stack up? `dev/stack status`",
                    self.version,
                    self.host,
                    self.port
                )
            })?;
        tokio::spawn(async move {
            // The error, if any, surfaces on the client's next call.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// A database of its own for one test, with names for the slot, publication and topic
/// prefix the test should use. Dropping it removes every replication slot created in
/// the database and the database itself.
#[derive(Debug)]
pub struct TestDb {
    pub server: PgServer,
    pub name: String,
}

impl TestDb {
    /// Creates a fresh database on the stack's PostgreSQL of this run's version.
    pub async fn create(label: &str) -> anyhow::Result<TestDb> {
        Self::create_on(crate::Stack::get().pg(), label).await
    }

    pub async fn create_on(server: PgServer, label: &str) -> anyhow::Result<TestDb> {
        let name = crate::unique_name(label);
        let admin = server.connect("postgres").await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(TestDb { server, name })
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        self.server.connect(&self.name).await
    }

    pub fn conninfo(&self) -> String {
        self.server.conninfo(&self.name)
    }

    /// The replication slot name this test should use (slot names are global to the
    /// cluster, so they are derived from the unique database name).
    pub fn slot_name(&self) -> String {
        format!("slot_{}", self.name)
    }

    pub fn publication_name(&self) -> String {
        format!("pub_{}", self.name)
    }

    /// The Kafka topic prefix (Debezium's `topic.prefix`) this test should use.
    pub fn topic_prefix(&self) -> String {
        self.name.clone()
    }

    /// Replication slots that currently exist in this test's database.
    pub async fn slots(&self) -> anyhow::Result<Vec<String>> {
        let admin = self.server.connect("postgres").await?;
        let rows = admin
            .query(
                "SELECT slot_name::text FROM pg_replication_slots WHERE database = $1",
                &[&self.name],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside any async context we could await in, possibly while
        // unwinding: clean up on a thread with its own small runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(&server, &name))
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: cleaning up test database {}: {e:#}", self.name),
            Err(_) => eprintln!("warning: cleanup of test database {} panicked", self.name),
        }
    }
}

async fn drop_database(server: &PgServer, name: &str) -> anyhow::Result<()> {
    let admin = server.connect("postgres").await?;
    // A slot that is still streaming cannot be dropped: end its walsender first, and
    // retry briefly because the walsender releases the slot asynchronously.
    for attempt in 0..50 {
        admin
            .execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                 WHERE database = $1 AND active_pid IS NOT NULL",
                &[&name],
            )
            .await?;
        let dropped = admin
            .query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE database = $1 AND NOT active",
                &[&name],
            )
            .await;
        let remaining: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
                &[&name],
            )
            .await?
            .get(0);
        if remaining == 0 {
            break;
        }
        if attempt == 49 {
            anyhow::bail!(
                "{remaining} replication slot(s) of {name} could not be dropped: {dropped:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}
