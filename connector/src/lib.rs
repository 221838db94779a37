//! The source side of pgcdc: everything between a PostgreSQL server and a Kafka
//! acknowledgement. It speaks the streaming replication protocol itself
//! (`replication`), decodes pgoutput into typed messages (`pgoutput`), follows table
//! definitions as they change (`relations`), and turns column text into typed values
//! (`values`). Snapshots, change events, the producer and source offsets build on these
//! and live here too, so one row change can be followed from socket to Kafka ack
//! without leaving this crate.

pub mod capture;
pub mod config;
pub mod events;
pub mod lsn;
pub mod offsets;
pub mod pgoutput;
pub mod pipeline;
pub mod producer;
pub mod publication;
pub mod relations;
pub mod replication;
pub mod slot;
pub mod snapshot;
pub mod sql;
pub mod task;
pub mod values;

pub use lsn::Lsn;
