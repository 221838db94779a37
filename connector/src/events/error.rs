//! What can go wrong turning a row change into records.

use crate::capture::CellError;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The column's text did not parse as its type (a corrupt stream or a changed
    /// session setting: see `values`).
    #[error(transparent)]
    Cell(#[from] CellError),
    /// A parsed value of another kind than the column's type produces. Means the
    /// table description and the row disagree (a relation changed without a new
    /// Relation message reaching the events layer).
    #[error("column {column}: a {found} value where {expected} was expected")]
    UnexpectedValue {
        column: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A value Debezium can represent but pgcdc does not read yet, with what to do.
    #[error("column {column}: {reason}")]
    Unsupported { column: String, reason: String },
    /// A value outside what the field's type can hold.
    #[error("column {column}: {reason}")]
    OutOfRange { column: String, reason: String },
    /// The binary tuple format, which pgcdc never requests.
    #[error("column {column}: binary tuple data is not supported")]
    BinaryCell { column: String },
}

impl EventError {
    /// None of these go away by retrying: the same input gives the same error.
    pub fn is_retriable(&self) -> bool {
        false
    }
}
