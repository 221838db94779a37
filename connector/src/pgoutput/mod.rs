//! pgoutput: bytes of one XLogData payload → one logical replication message.
//!
//! A pure decoder for the messages PostgreSQL's built-in `pgoutput` plugin sends, as
//! laid out in the documentation's "Logical Replication Message Formats" chapter,
//! protocol versions 1 to 4 (PostgreSQL 10 to 18):
//!
//! - transactions: Begin, Commit, Origin; the table and type descriptions Relation and
//!   Type; the row changes Insert, Update, Delete, Truncate; logical decoding Message;
//! - streaming of in-progress transactions (version 2+): Stream Start/Stop/Commit/Abort,
//!   with the abort LSN and timestamp under `streaming = parallel` (version 4);
//! - two-phase commit (version 3+): Begin Prepare, Prepare, Commit Prepared, Rollback
//!   Prepared, Stream Prepare.
//!
//! [`Decoder::decode`] takes the payload as [`bytes::Bytes`] and hands column values
//! back as zero-copy slices of it; per row it allocates only the `Vec` of columns.
//! Strings (names, prefixes, gids) are copied out, as they live in the rarer
//! description and control messages.
//!
//! The decoder never panics and never sizes an allocation from a count or length it
//! has not checked against the bytes that are left; every failure is a
//! [`DecodeError`] naming the message, field and byte offset. It is strict: unknown
//! tags, messages the negotiated protocol version cannot carry, trailing bytes after a
//! complete message and streamed-block mismatches are errors, because guessing past
//! them would turn into wrong rows downstream.
//!
//! Rows are interpreted with the relation cache (`crate::relations`), which follows the
//! Relation messages.

mod decoder;
mod error;
mod message_type;
mod messages;
mod parse;
mod reader;
mod tuple;
mod types;

#[cfg(test)]
mod tests;

pub use decoder::{Decoder, StreamingMode};
pub use error::DecodeError;
pub use message_type::MessageType;
pub use messages::{
    Begin, BeginPrepare, Commit, CommitPrepared, Delete, Insert, LogicalDecodingMessage,
    LogicalReplicationMessage, OldTuple, Origin, Prepare, Relation, RelationColumn,
    ReplicaIdentity, RollbackPrepared, StreamAbort, StreamAbortParallel, StreamCommit, StreamStart,
    Truncate, TruncateOptions, Type, Update,
};
pub use tuple::{ColumnKind, ColumnValue, Columns, TupleData};
pub use types::{Oid, PgTimestamp, Xid};
