//! The consumed offsets, kept in the warehouse: one row per (sink, topic, partition)
//! holding the next offset to apply, written in the same transaction as the rows it
//! stands for. `NULL` means "from the partition's beginning" (nothing applied yet).
//!
//! Rows are created when a partition is first assigned, so that every later batch
//! finds its partitions' rows and locks them (`FOR UPDATE`) before comparing them with
//! where it started: a task that lost a partition without noticing cannot commit over
//! the task that owns it now.
//!
//! [`OffsetReader`] reads them synchronously, for librdkafka's rebalance callback,
//! from a thread and connection of its own.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::naming::TableName;

/// A Kafka partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// SQL for the offsets table.
#[derive(Debug, Clone)]
pub struct OffsetsTable {
    pub table: TableName,
}

impl OffsetsTable {
    pub fn new(name: &str, quote_identifiers: bool) -> Result<OffsetsTable, String> {
        Ok(OffsetsTable {
            table: TableName::parse(name, quote_identifiers)?,
        })
    }

    pub fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (sink text NOT NULL, topic text NOT NULL, \
             partition integer NOT NULL, next_offset bigint, \
             updated_at timestamptz NOT NULL DEFAULT now(), \
             PRIMARY KEY (sink, topic, partition))",
            self.table
        )
    }

    /// `$1` sink, `$2` topics, `$3` partitions: creates missing rows.
    pub fn ensure_rows_sql(&self) -> String {
        format!(
            "INSERT INTO {} (sink, topic, partition, next_offset) \
             SELECT $1, t, p, NULL FROM unnest($2::text[], $3::int[]) AS x(t, p) \
             ON CONFLICT DO NOTHING",
            self.table
        )
    }

    /// `$1` sink, `$2` topics, `$3` partitions → (topic, partition, next_offset);
    /// with `lock`, the rows stay locked until the transaction ends.
    pub fn read_sql(&self, lock: bool) -> String {
        format!(
            "SELECT o.topic, o.partition, o.next_offset FROM {} AS o \
             JOIN unnest($2::text[], $3::int[]) AS x(t, p) ON o.topic = x.t AND o.partition = x.p \
             WHERE o.sink = $1{}",
            self.table,
            if lock { " FOR UPDATE OF o" } else { "" }
        )
    }

    /// `$1` sink, `$2` topics, `$3` partitions, `$4` next offsets.
    pub fn upsert_sql(&self) -> String {
        format!(
            "INSERT INTO {} AS o (sink, topic, partition, next_offset) \
             SELECT $1, t, p, n FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, n) \
             ON CONFLICT (sink, topic, partition) \
             DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
            self.table
        )
    }
}

/// Creates the offsets table; two sinks starting at once may race on it.
pub async fn create_table(
    client: &Client,
    table: &OffsetsTable,
) -> Result<(), tokio_postgres::Error> {
    // "already exists, skipping" is not news.
    client
        .batch_execute("SET client_min_messages = warning")
        .await?;
    let sql = table.create_sql();
    match client.batch_execute(&sql).await {
        // The loser of the race sees the winner's committed table on the retry.
        Err(e) if lost_ddl_race(&e) => client.batch_execute(&sql).await,
        other => other,
    }
}

/// A DDL statement failed because a concurrent session created the same object
/// first: a duplicate key in the catalog (23505), or a duplicate table (42P07),
/// type (42710; a table's row type) or column (42701).
pub fn lost_ddl_race(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|c| matches!(c.code(), "23505" | "42P07" | "42710" | "42701"))
}

/// Stored next offsets of `partitions` (creating their rows), in their order.
pub async fn read(
    client: &Client,
    table: &OffsetsTable,
    sink: &str,
    partitions: &[TopicPartition],
) -> Result<Vec<Option<i64>>, tokio_postgres::Error> {
    let topics: Vec<&str> = partitions.iter().map(|p| p.topic.as_str()).collect();
    let numbers: Vec<i32> = partitions.iter().map(|p| p.partition).collect();
    client
        .execute(&table.ensure_rows_sql(), &[&sink, &topics, &numbers])
        .await?;
    let rows = client
        .query(&table.read_sql(false), &[&sink, &topics, &numbers])
        .await?;
    let mut stored = vec![None; partitions.len()];
    for row in rows {
        let topic: String = row.get(0);
        let partition: i32 = row.get(1);
        if let Some(index) = partitions
            .iter()
            .position(|p| p.topic == topic && p.partition == partition)
        {
            stored[index] = row.get(2);
        }
    }
    Ok(stored)
}

type Answer = Result<Vec<Option<i64>>, String>;

struct Request {
    partitions: Vec<TopicPartition>,
    reply: Box<dyn FnOnce(Answer) + Send>,
}

/// Reads stored offsets synchronously (for the rebalance callback, which librdkafka
/// runs inside a poll and which cannot await), on a thread with its own runtime and
/// connection, so it never waits on the runtime that polls.
#[derive(Debug)]
pub struct OffsetReader {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl OffsetReader {
    pub fn start(
        postgres: tokio_postgres::Config,
        table: OffsetsTable,
        sink: String,
    ) -> OffsetReader {
        let (requests, incoming) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("pgcdc-sink-offsets".to_owned())
            .spawn(move || serve(postgres, table, sink, incoming))
            .ok();
        OffsetReader {
            requests: Some(requests),
            thread,
        }
    }

    /// The stored next offsets of `partitions`, waiting at most `timeout`.
    pub fn read_blocking(
        &self,
        partitions: Vec<TopicPartition>,
        timeout: Duration,
    ) -> Result<Vec<Option<i64>>, String> {
        let (reply, answer) = mpsc::channel();
        self.send(partitions, move |a| {
            let _ = reply.send(a);
        })?;
        answer
            .recv_timeout(timeout)
            .map_err(|_| format!("the warehouse did not answer within {timeout:?}"))?
    }

    /// [`Self::read_blocking`] for a task on the runtime.
    pub async fn read(
        &self,
        partitions: Vec<TopicPartition>,
        timeout: Duration,
    ) -> Result<Vec<Option<i64>>, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(partitions, move |a| {
            let _ = reply.send(a);
        })?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the offset reader stopped".to_owned()),
            Err(_) => Err(format!("the warehouse did not answer within {timeout:?}")),
        }
    }

    fn send(
        &self,
        partitions: Vec<TopicPartition>,
        reply: impl FnOnce(Answer) + Send + 'static,
    ) -> Result<(), String> {
        self.requests
            .as_ref()
            .ok_or("the offset reader stopped")?
            .send(Request {
                partitions,
                reply: Box::new(reply),
            })
            .map_err(|_| "the offset reader stopped".to_owned())
    }
}

impl Drop for OffsetReader {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    postgres: tokio_postgres::Config,
    table: OffsetsTable,
    sink: String,
    incoming: mpsc::Receiver<Request>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let mut client: Option<Client> = None;
    while let Ok(request) = incoming.recv() {
        let answer = runtime.block_on(async {
            if client.as_ref().is_none_or(Client::is_closed) {
                let (connected, connection) = postgres
                    .connect(NoTls)
                    .await
                    .map_err(|e| format!("connecting: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                create_table(&connected, &table)
                    .await
                    .map_err(|e| e.to_string())?;
                client = Some(connected);
            }
            let Some(connected) = client.as_ref() else {
                return Err("not connected".to_owned());
            };
            read(connected, &table, &sink, &request.partitions)
                .await
                .map_err(|e| e.to_string())
        });
        if answer.is_err() {
            client = None;
        }
        (request.reply)(answer);
    }
}
