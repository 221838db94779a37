//! Debezium's PostgreSQL connector, as its records show it: how a column becomes a
//! field ([`mapping`], in every handling mode of [`modes`]), the key, row and envelope
//! schemas of a table ([`table`]), the `source` and `transaction` blocks ([`source`],
//! [`transaction`]) and the placeholders of unchanged TOASTed values ([`toast`]).
//!
//! The reference is what Debezium 3.7.0.Final writes, recorded in
//! `tests/fixtures/debezium/` (see `tests/tests/debezium_types.rs` for how); the unit
//! tests replay those records. Where Debezium's behaviour is surprising (a Java quirk,
//! a precision loss, a value that becomes null) the rule is matched and its comment
//! names the fixture that shows it.

pub mod column;
pub mod heartbeat;
pub mod java;
pub mod logical;
pub mod mapping;
pub mod modes;
pub mod source;
pub mod source_type;
pub mod table;
pub mod toast;
pub mod transaction;

#[cfg(test)]
mod tests;

pub use column::{ColumnDescription, PgColumnType, PgScalar};
pub use mapping::{key_field_schema, value_field_schema};
pub use modes::{
    BinaryHandlingMode, DecimalHandlingMode, HstoreHandlingMode, IntervalHandlingMode,
    TimePrecisionMode, ValueModes,
};
pub use source::{SnapshotMarker, SourceInfo};
pub use table::{Envelope, Op, TableId, TableSchemas};
pub use toast::unchanged_toast_value;
pub use transaction::{EventBlock, TransactionMetadata};
