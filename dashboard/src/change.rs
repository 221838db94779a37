//! The change an aggregation sees: Debezium's `op`, the `before` and `after` row
//! images, and `source.ts_ms`.

use serde_json::{Map, Value};

/// A row image: column name → value, as in Debezium's `before`/`after`.
pub type Row = Map<String, Value>;

/// Debezium's `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `c`
    Create,
    /// `r` (snapshot read)
    Read,
    /// `u`
    Update,
    /// `d`
    Delete,
    /// `t`
    Truncate,
}

impl Op {
    /// Debezium's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Read => "r",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
        }
    }

    /// Parses `c`, `r`, `u`, `d` or `t`.
    pub fn from_code(code: &str) -> Option<Op> {
        Some(match code {
            "c" => Op::Create,
            "r" => Op::Read,
            "u" => Op::Update,
            "d" => Op::Delete,
            "t" => Op::Truncate,
            _ => return None,
        })
    }
}

/// One decoded change event.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub op: Op,
    pub before: Option<Row>,
    pub after: Option<Row>,
    /// `source.ts_ms`: when the change was committed in PostgreSQL.
    pub source_ts_ms: i64,
}

impl Change {
    /// An insert (`op: c`) of `after`.
    pub fn create(after: Row, source_ts_ms: i64) -> Change {
        Change {
            op: Op::Create,
            before: None,
            after: Some(after),
            source_ts_ms,
        }
    }

    /// An update (`op: u`) from `before` to `after`.
    pub fn update(before: Row, after: Row, source_ts_ms: i64) -> Change {
        Change {
            op: Op::Update,
            before: Some(before),
            after: Some(after),
            source_ts_ms,
        }
    }

    /// A delete (`op: d`) of `before`.
    pub fn delete(before: Row, source_ts_ms: i64) -> Change {
        Change {
            op: Op::Delete,
            before: Some(before),
            after: None,
            source_ts_ms,
        }
    }
}
