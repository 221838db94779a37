//! The streaming replication protocol: startup, authentication, TLS, replication commands and the CopyBoth stream.
//!
//! tokio-postgres cannot enter CopyBoth mode, so pgcdc speaks the protocol itself,
//! on top of `postgres_protocol`'s message codecs. One module per step:
//!
//! - `config`: where to connect and how (`sslmode`, timeouts, status interval);
//! - `startup`, `tls`, `auth`: TCP, SSLRequest and TLS, StartupMessage,
//!   trust/password/MD5/SCRAM-SHA-256(-PLUS);
//! - `wire`: buffered framing of backend messages (many per read);
//! - `query`, `commands`: simple-query replication commands and their text;
//! - `client`: [`ReplicationClient`], a connection in command mode;
//! - `frames`: pure parsing and encoding of XLogData, keepalive and status update;
//! - `stream`: [`ReplicationStream`], the CopyBoth stream with keepalive handling;
//! - `error`: [`ReplicationError`], classified retriable or fatal.
//!
//! Typical use: connect, `create_slot` (exporting a snapshot that another
//! connection reads with `SET TRANSACTION SNAPSHOT`), then `start_replication`,
//! then `next()` / `confirm()` until `stop()`.

mod auth;
mod client;
mod commands;
mod config;
mod error;
pub mod frames;
mod query;
mod quote;
mod startup;
mod stream;
pub(crate) mod tls;
mod wire;

pub use auth::AuthMethod;
pub use client::ReplicationClient;
pub use commands::{
    CreateSlotOptions, CreatedSlot, IdentifySystem, PgOutputOptions, SnapshotAction, Streaming,
    PGOUTPUT,
};
pub use config::{ParseSslModeError, ReplicationConfig, Secret, SslMode};
pub use error::{ReplicationError, ServerError};
pub use frames::{PrimaryKeepalive, StandbyStatusUpdate, XLogData};
pub use query::TextRows;
pub use quote::{quote_identifier, quote_literal, quote_replication_literal, validate_slot_name};
pub use stream::ReplicationStream;
