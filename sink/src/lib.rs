//! The warehouse side of pgcdc. It consumes Debezium-shaped change topics with
//! `read_committed` and manual offsets, applies each batch with set-based statements,
//! and writes the consumed `(topic, partition, next offset)` in the same warehouse
//! transaction, so a crash, a redelivery or a rebalance never applies an event twice
//! or skips one. Target tables are created and evolved from the value schemas.
//!
//! A record's route, file by file:
//!
//! - [`consumer`]: the Kafka consumer; partitions are assigned at the offsets the
//!   warehouse holds;
//! - [`task`]: batching by size and latency, draining on shutdown, restarts;
//! - [`decode`]: record bytes → Connect schema and value (JsonConverter, or
//!   Confluent's AvroConverter through the schema registry);
//! - [`event`]: Debezium envelope → upsert, delete or truncate;
//! - [`naming`], [`table`], [`types`], [`values`]: the target table, its columns and
//!   types, and each value as PostgreSQL text;
//! - [`batch`], [`plan`]: a batch → per-table plans, last change per key;
//! - [`merge`]: a plan → COPY data and set-based statements;
//! - [`history`]: every applied change appended to a day-partitioned history table;
//! - [`warehouse`]: one transaction per batch with its offsets;
//! - [`metrics`]: live counters for a host's `/metrics`;
//! - [`poison`], [`dead_letter`]: records that cannot be applied, `errors.tolerance`
//!   and the dead-letter topic;
//! - [`config`]: the Debezium JDBC sink properties;
//! - [`verify`]: reconciling a source table with its warehouse copy.

pub mod batch;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod decode;
pub mod error;
pub mod event;
pub mod history;
pub mod merge;
pub mod metrics;
pub mod naming;
pub mod plan;
pub mod poison;
pub mod table;
pub mod task;
pub mod types;
pub mod values;
pub mod verify;
pub mod warehouse;

pub use config::{ConfigErrors, ParsedSinkConfig, SinkConfig};
pub use error::SinkError;
pub use metrics::SinkMetrics;
pub use task::{run, run_until_stopped, run_with_metrics, SinkStats};
