//! The sink's errors, each saying what to do, and whether retrying may help.

use crate::config::ConfigErrors;
use crate::table::{LayoutError, SchemaMismatch};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("warehouse: {context}: {}", pg_message(source))]
    Warehouse {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A record that cannot be read or applied: the task stops at it, naming it.
    #[error("{topic}/{partition}@{offset}: {reason}")]
    Record {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error("table {table}: {source}")]
    Layout {
        table: String,
        #[source]
        source: LayoutError,
    },
    #[error(transparent)]
    Schema(#[from] SchemaMismatch),
    /// Another task of the sink changed the same table at the same moment (both
    /// created it, or added the same column): retrying finds the table as it is now.
    #[error(
        "warehouse: {statement}: {} (another task changed the table concurrently)",
        pg_message(source)
    )]
    DdlConflict {
        statement: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// Another task wrote offsets of a partition this task was applying (a rebalance
    /// this task had not noticed yet): the batch was rolled back, and the task reads
    /// its partitions again from what the warehouse holds.
    #[error("offsets of {topic}/{partition} moved from {expected:?} to {found:?} under this task (another sink task owns the partition now)")]
    OffsetsMoved {
        topic: String,
        partition: i32,
        expected: Option<i64>,
        found: Option<i64>,
    },
    /// The warehouse offsets could not be read when partitions were assigned.
    #[error("reading the stored offsets on partition assignment: {0}")]
    Assignment(String),
    /// The task applying a batch did not return (it panicked): a defect, reported
    /// rather than retried.
    #[error("{0}")]
    Apply(String),
    /// The schema registry (Avro converter) could not answer.
    #[error("schema registry: {0}")]
    Registry(pgcdc_schemas::avro::AvroError),
    /// Tolerated records could not be written to the dead-letter topic; the batch was
    /// not committed.
    #[error("dead-letter topic {topic}: {reason}")]
    DeadLetter {
        topic: String,
        reason: String,
        /// A broker that is away, as opposed to a topic that cannot be created.
        retriable: bool,
    },
}

impl SinkError {
    pub(crate) fn warehouse(
        context: impl Into<String>,
    ) -> impl FnOnce(tokio_postgres::Error) -> SinkError {
        let context = context.into();
        move |source| SinkError::Warehouse { context, source }
    }

    /// Trouble that may go away on its own (a service restarting, a rebalance):
    /// the task restarts with backoff. Everything else stops the task.
    pub fn is_retriable(&self) -> bool {
        match self {
            SinkError::Kafka(_)
            | SinkError::OffsetsMoved { .. }
            | SinkError::Assignment(_)
            | SinkError::DdlConflict { .. } => true,
            SinkError::Warehouse { source, .. } => is_retriable_sql(source),
            SinkError::Registry(e) => e.is_retriable(),
            SinkError::DeadLetter { retriable, .. } => *retriable,
            SinkError::Config(_)
            | SinkError::Record { .. }
            | SinkError::Layout { .. }
            | SinkError::Apply(_)
            | SinkError::Schema(_) => false,
        }
    }
}

/// What the server said (tokio_postgres shows a server error only as "db error"), or
/// the client-side error with its cause (a refused connection, a TLS failure).
pub(crate) fn pg_message(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// A connection problem, or a server state that passes (shutdown, serialization
/// failures, deadlocks, too many connections).
pub(crate) fn is_retriable_sql(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") // connection exception
                || code.starts_with("57P") // operator intervention (admin shutdown, ...)
                || code.starts_with("53") // insufficient resources
                || code == "40001" // serialization failure
                || code == "40P01" // deadlock
                || code == "55P03" // lock not available
        }
    }
}
