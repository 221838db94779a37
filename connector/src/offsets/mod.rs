//! Source offsets and the exactly-once bookkeeping around them.
//!
//! Every event pgcdc publishes carries its [`SourcePosition`]: the commit LSN of its
//! transaction and its ordinal within that transaction. Positions strictly increase
//! in emit order and are the same when PostgreSQL replays a transaction, which gives
//! the two halves of exactly-once delivery without Kafka transactions:
//!
//! - **Nothing lost** — [`AckTracker`] derives the LSN that may be confirmed to the
//!   slot: the end of the newest transaction whose every event Kafka acknowledged,
//!   and every transaction before it.
//! - **Nothing duplicated** — after a restart PostgreSQL replays from the confirmed
//!   LSN, so events Kafka already holds come again; [`tail`] reads the last record
//!   of each partition, and [`ResumeFilter`] drops every replayed event at or below
//!   what its partition already holds.
//!
//! - **A resumed snapshot** — [`overlap`] reads back which rows an interrupted
//!   snapshot already sent, and which streamed changes their images already hold.
//!
//! The LSN of an event's own WAL record is not enough for this: one record can carry
//! many rows (a multi-row INSERT, COPY), which is how a connector that resumed by
//! record LSN lost rows on restart.

mod acks;
pub mod overlap;
mod position;
pub mod tail;

pub use acks::{AckTracker, TxnId};
pub use overlap::{SnapshotKeys, SnapshotOverlap, SNAPSHOT_HEADER};
pub use position::{ParsePositionError, SourcePosition, POSITION_HEADER};
pub use tail::ResumeFilter;
