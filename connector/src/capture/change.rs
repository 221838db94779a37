//! What capture hands to the layers above: decoded pgoutput messages with their
//! relation resolved, and row images whose columns parse into typed values on demand.

use std::sync::Arc;

use crate::lsn::Lsn;
use crate::pgoutput::{
    Begin, ColumnValue, Commit, LogicalDecodingMessage, OldTuple, Origin, Relation,
    TruncateOptions, TupleData, Xid,
};
use crate::values::{parse_text, PgValue, ResolvedType, ValueError};

/// A table as the stream last described it, with each column's type resolved once
/// so that rows parse without lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub relation: Arc<Relation>,
    pub column_types: Vec<ResolvedType>,
}

impl TableSchema {
    /// `schema.table`, the name Debezium's include lists and topic names use.
    pub fn qualified_name(&self) -> String {
        self.relation.qualified_name()
    }
}

/// One step of the change stream, in the order PostgreSQL sent it.
#[derive(Debug, Clone)]
pub enum Change {
    Begin(Begin),
    /// A table's definition, before its first row in a session and again after an
    /// ALTER TABLE; `previous` is the definition it replaces.
    Schema {
        table: Arc<TableSchema>,
        previous: Option<Arc<TableSchema>>,
    },
    Row(RowChange),
    Truncate {
        lsn: Lsn,
        xid: Option<Xid>,
        tables: Vec<Arc<TableSchema>>,
        options: TruncateOptions,
    },
    Message(LogicalDecodingMessage),
    Origin(Origin),
    Commit(Commit),
    /// Streamed (in-progress) transactions, protocol version 2 and later: rows between
    /// `StreamStart` and `StreamStop` belong to `xid` and may still be aborted.
    StreamStart {
        xid: Xid,
        first_segment: bool,
    },
    StreamStop,
    StreamCommit(Commit, Xid),
    StreamAbort {
        xid: Xid,
        subxid: Xid,
    },
    /// Two-phase commit messages (protocol version 3 and later), passed through as
    /// decoded; pgcdc does not request two-phase decoding itself.
    TwoPhase(Box<crate::pgoutput::LogicalReplicationMessage>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowOp {
    Insert,
    Update,
    Delete,
}

/// Which columns the old row image of an update or delete holds, per the table's
/// REPLICA IDENTITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldImage {
    /// The replica identity key columns only (DEFAULT or USING INDEX); the other
    /// columns are null in the image.
    Key,
    /// Every column (REPLICA IDENTITY FULL).
    Full,
}

/// One inserted, updated or deleted row.
#[derive(Debug, Clone)]
pub struct RowChange {
    pub op: RowOp,
    /// The WAL position of this change's record. Several rows can share it (a
    /// multi-row insert is one record), so it does not identify a row change alone.
    pub lsn: Lsn,
    /// Present inside streamed transactions only (protocol version 2+).
    pub xid: Option<Xid>,
    pub table: Arc<TableSchema>,
    /// The old row: for updates only when the key changed or the identity is FULL;
    /// always for deletes, unless REPLICA IDENTITY NOTHING (then no delete is sent).
    pub old: Option<(OldImage, TupleData)>,
    /// The new row of inserts and updates.
    pub new: Option<TupleData>,
}

impl RowChange {
    pub(crate) fn old_from(old: Option<OldTuple>) -> Option<(OldImage, TupleData)> {
        old.map(|old| match old {
            OldTuple::Key(tuple) => (OldImage::Key, tuple),
            OldTuple::Full(tuple) => (OldImage::Full, tuple),
        })
    }

    pub fn new_row(&self) -> Option<RowValues<'_>> {
        self.new.as_ref().map(|tuple| RowValues {
            table: &self.table,
            tuple,
        })
    }

    pub fn old_row(&self) -> Option<RowValues<'_>> {
        self.old.as_ref().map(|(_, tuple)| RowValues {
            table: &self.table,
            tuple,
        })
    }
}

/// A column of a row image, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    /// A TOASTed value the update did not change: PostgreSQL does not send it (unless
    /// REPLICA IDENTITY FULL), so its current value is unknown here.
    UnchangedToast,
    Value(PgValue<'a>),
    /// Binary format, sent only when binary output was requested (pgcdc never does).
    Binary(&'a [u8]),
}

/// A row image bound to its table, so columns can be read by name and type.
#[derive(Debug, Clone, Copy)]
pub struct RowValues<'a> {
    table: &'a TableSchema,
    tuple: &'a TupleData,
}

/// A column value that does not parse as its column's type.
#[derive(Debug, thiserror::Error)]
#[error("column {column} of {table}: {source}")]
pub struct CellError {
    pub table: String,
    pub column: String,
    #[source]
    pub source: ValueError,
}

impl<'a> RowValues<'a> {
    /// Binds a row image (streamed or copied by a snapshot) to its table.
    pub fn new(table: &'a TableSchema, tuple: &'a TupleData) -> Self {
        RowValues { table, tuple }
    }

    pub fn len(&self) -> usize {
        self.tuple.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tuple.is_empty()
    }

    /// The column's name, as of the row's table definition.
    pub fn column_name(&self, index: usize) -> Option<&'a str> {
        self.table
            .relation
            .columns
            .get(index)
            .map(|c| c.name.as_str())
    }

    /// The raw pgoutput column: null, unchanged TOAST, or the type's text.
    pub fn raw(&self, index: usize) -> Option<ColumnValue<'a>> {
        self.tuple.get(index)
    }

    /// The column parsed as its type. `None` past the last column.
    pub fn cell(&self, index: usize) -> Option<Result<Cell<'a>, CellError>> {
        let raw = self.tuple.get(index)?;
        Some(match raw {
            ColumnValue::Null => Ok(Cell::Null),
            ColumnValue::UnchangedToast => Ok(Cell::UnchangedToast),
            ColumnValue::Binary(bytes) => Ok(Cell::Binary(bytes)),
            ColumnValue::Text(text) => {
                let resolved = self.table.column_types.get(index)?;
                parse_text(resolved.ty, resolved.typmod, text)
                    .map(Cell::Value)
                    .map_err(|source| CellError {
                        table: self.table.qualified_name(),
                        column: self.column_name(index).unwrap_or("?").to_owned(),
                        source,
                    })
            }
        })
    }

    /// Every column parsed, in table order; the first failure stops.
    pub fn cells(&self) -> Result<Vec<Cell<'a>>, CellError> {
        (0..self.len()).filter_map(|i| self.cell(i)).collect()
    }
}
