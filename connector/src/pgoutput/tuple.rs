//! TupleData: the column values of one row in an Insert, Update or Delete.
//!
//! A row keeps the XLogData payload it came in (one reference-counted [`Bytes`]) and,
//! per column, how it was sent and where its bytes are. Values are read as borrowed
//! slices, or taken as zero-copy `Bytes` slices on request. Holding one `Bytes` per
//! column instead would cost an atomic increment and decrement per column: measured
//! on our 2-core VMs that was about 16 ns a column, nearly all of the decode time of a
//! 9-column Insert (155 ns that way, 60 ns this way; `benches/decode.rs`).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::DecodeError;
use super::reader::Reader;

/// How one column of a row was sent: the TupleData kind byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// `'n'`: the column is NULL.
    Null,
    /// `'u'`: an unchanged TOASTed value. PostgreSQL does not resend large
    /// out-of-line values an UPDATE left alone, so the value is not in the message
    /// (Debezium emits its `unavailable.value.placeholder` for these).
    UnchangedToast,
    /// `'t'`: the type's text output, in the connection's client encoding.
    Text,
    /// `'b'`: the type's binary send format (only with the `binary` option).
    Binary,
}

/// One column of a row, borrowed from its [`TupleData`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnValue<'a> {
    Null,
    UnchangedToast,
    /// Not validated as UTF-8 here: checking every column of every row belongs to the
    /// code that parses the text anyway (`values/`).
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

impl<'a> ColumnValue<'a> {
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnValue::Null => ColumnKind::Null,
            ColumnValue::UnchangedToast => ColumnKind::UnchangedToast,
            ColumnValue::Text(_) => ColumnKind::Text,
            ColumnValue::Binary(_) => ColumnKind::Binary,
        }
    }

    /// The value's bytes for `'t'` and `'b'` columns; `None` for NULL and unchanged TOAST.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            ColumnValue::Text(bytes) | ColumnValue::Binary(bytes) => Some(bytes),
            ColumnValue::Null | ColumnValue::UnchangedToast => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, ColumnValue::Null)
    }
}

impl fmt::Debug for ColumnValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnValue::Null => f.write_str("Null"),
            ColumnValue::UnchangedToast => f.write_str("UnchangedToast"),
            ColumnValue::Text(bytes) => write!(f, "Text(b\"{}\")", bytes.escape_ascii()),
            ColumnValue::Binary(bytes) => write!(f, "Binary(b\"{}\")", bytes.escape_ascii()),
        }
    }
}

/// Where a column's value lies in the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Column {
    kind: ColumnKind,
    start: usize,
    end: usize,
}

/// The columns of one row, in the order of the columns of the latest Relation message
/// for its table. Both leave out dropped columns, and generated columns unless the
/// publication publishes them (`publish_generated_columns`, PostgreSQL 18).
///
/// Equality compares the column values, not where they are stored.
#[derive(Clone, Default)]
pub struct TupleData {
    /// The payload the columns point into.
    data: Bytes,
    columns: Vec<Column>,
}

impl TupleData {
    /// A row built from values rather than decoded (tests, and rows made up by other
    /// stages); the values are copied into one buffer.
    pub fn from_values<'v>(values: impl IntoIterator<Item = ColumnValue<'v>>) -> Self {
        let mut data = BytesMut::new();
        let columns = values
            .into_iter()
            .map(|value| {
                let start = data.len();
                if let Some(bytes) = value.bytes() {
                    data.put_slice(bytes);
                }
                Column {
                    kind: value.kind(),
                    start,
                    end: data.len(),
                }
            })
            .collect();
        TupleData {
            data: data.freeze(),
            columns,
        }
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The column at `index`, or `None` past the last column.
    #[inline]
    pub fn get(&self, index: usize) -> Option<ColumnValue<'_>> {
        self.columns
            .get(index)
            .map(|column| column.value(&self.data))
    }

    /// How the column at `index` was sent.
    pub fn kind(&self, index: usize) -> Option<ColumnKind> {
        self.columns.get(index).map(|column| column.kind)
    }

    /// The bytes of a `'t'` or `'b'` column as a zero-copy slice of the payload, for
    /// values kept beyond the row (one reference-count increment).
    pub fn bytes(&self, index: usize) -> Option<Bytes> {
        let column = self.columns.get(index)?;
        match column.kind {
            ColumnKind::Text | ColumnKind::Binary => {
                self.data.get(column.start..column.end)?;
                Some(self.data.slice(column.start..column.end))
            }
            ColumnKind::Null | ColumnKind::UnchangedToast => None,
        }
    }

    pub fn iter(&self) -> Columns<'_> {
        Columns {
            data: &self.data,
            columns: self.columns.iter(),
        }
    }
}

impl Column {
    #[inline]
    fn value<'a>(&self, data: &'a Bytes) -> ColumnValue<'a> {
        // Ranges are checked against the payload while decoding; `get` keeps even a
        // broken invariant from panicking.
        let bytes = || data.get(self.start..self.end).unwrap_or_default();
        match self.kind {
            ColumnKind::Null => ColumnValue::Null,
            ColumnKind::UnchangedToast => ColumnValue::UnchangedToast,
            ColumnKind::Text => ColumnValue::Text(bytes()),
            ColumnKind::Binary => ColumnValue::Binary(bytes()),
        }
    }
}

impl PartialEq for TupleData {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for TupleData {}

impl fmt::Debug for TupleData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The columns of a [`TupleData`], in order.
#[derive(Clone, Debug)]
pub struct Columns<'a> {
    data: &'a Bytes,
    columns: std::slice::Iter<'a, Column>,
}

impl<'a> Iterator for Columns<'a> {
    type Item = ColumnValue<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.columns.next().map(|column| column.value(self.data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.columns.size_hint()
    }
}

impl ExactSizeIterator for Columns<'_> {}

impl<'a> IntoIterator for &'a TupleData {
    type Item = ColumnValue<'a>;
    type IntoIter = Columns<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The columns of a TupleData, located but not yet attached to the payload (which the
/// caller moves in once the message is read).
pub(super) struct TupleLayout(Vec<Column>);

impl TupleLayout {
    pub(super) fn with_data(self, data: Bytes) -> TupleData {
        TupleData {
            data,
            columns: self.0,
        }
    }
}

/// Reads an `Int16` column count, then per column a kind byte and, for `'t'` and
/// `'b'`, an `Int32` length and that many bytes.
#[inline]
pub(super) fn read_tuple(reader: &mut Reader) -> Result<TupleLayout, DecodeError> {
    let count_offset = reader.offset();
    let count = reader.u16("column count")?;
    // Every column takes at least its kind byte, so a count larger than what is left
    // is rejected before it sizes the Vec.
    let count = reader.check_count("column count", count_offset, u64::from(count), 1)?;
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        let kind_offset = reader.offset();
        let kind = match reader.u8("column kind")? {
            b't' => ColumnKind::Text,
            b'n' => ColumnKind::Null,
            b'u' => ColumnKind::UnchangedToast,
            b'b' => ColumnKind::Binary,
            tag => {
                return Err(DecodeError::UnknownTag {
                    message: reader.message(),
                    field: "column kind",
                    offset: kind_offset,
                    tag,
                    expected: "'n', 'u', 't' or 'b'",
                })
            }
        };
        let (start, end) = match kind {
            ColumnKind::Text | ColumnKind::Binary => {
                let len = reader.length("column length")?;
                let field = if kind == ColumnKind::Text {
                    "text column value"
                } else {
                    "binary column value"
                };
                let start = reader.skip(len, field)?;
                (start, reader.offset())
            }
            ColumnKind::Null | ColumnKind::UnchangedToast => (0, 0),
        };
        columns.push(Column { kind, start, end });
    }
    Ok(TupleLayout(columns))
}
