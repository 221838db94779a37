//! The simple query protocol, the only one a walsender accepts: Query, then
//! RowDescription/DataRow/CommandComplete per statement, then ReadyForQuery. All
//! values are text.

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::error::{from_server, ErrorContext, ReplicationError, ServerError};
use super::wire::{Frame, Wire};

/// The rows of one statement's result, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl TextRows {
    /// The value of `column` in the only row, for one-row replies such as
    /// IDENTIFY_SYSTEM.
    pub(crate) fn single(&self, column: &str) -> Result<Option<&str>, ReplicationError> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| ReplicationError::protocol(format!("reply has no column {column:?}")))?;
        let row = match self.rows.as_slice() {
            [row] => row,
            rows => {
                return Err(ReplicationError::protocol(format!(
                    "expected one row, got {}",
                    rows.len()
                )))
            }
        };
        Ok(row.get(index).and_then(|v| v.as_deref()))
    }

    pub(crate) fn required(&self, column: &str) -> Result<&str, ReplicationError> {
        self.single(column)?
            .ok_or_else(|| ReplicationError::protocol(format!("column {column:?} is NULL")))
    }
}

/// Runs one command and returns its last result set. A server error is mapped
/// with `context` only after ReadyForQuery, so the connection stays usable.
pub(crate) async fn simple_query(
    wire: &mut Wire,
    sql: &str,
    context: ErrorContext<'_>,
) -> Result<TextRows, ReplicationError> {
    frontend::query(sql, wire.write_buf())?;
    wire.flush().await?;
    let mut current = TextRows::default();
    let mut error = None;
    loop {
        let Frame::Message(message) = wire.next_frame().await? else {
            return Err(ReplicationError::protocol(
                "CopyBothResponse to a command that does not stream",
            ));
        };
        match message {
            Message::RowDescription(body) => {
                current = TextRows::default();
                let mut fields = body.fields();
                while let Some(field) = fields.next()? {
                    current.columns.push(field.name().to_owned());
                }
            }
            Message::DataRow(body) => {
                let buffer = body.buffer();
                let mut values = Vec::with_capacity(current.columns.len());
                let mut ranges = body.ranges();
                while let Some(range) = ranges.next()? {
                    values.push(match range {
                        Some(range) => Some(
                            std::str::from_utf8(buffer.get(range).ok_or_else(|| {
                                ReplicationError::protocol("DataRow value out of bounds")
                            })?)
                            .map_err(|_| ReplicationError::protocol("DataRow value is not UTF-8"))?
                            .to_owned(),
                        ),
                        None => None,
                    });
                }
                current.rows.push(values);
            }
            Message::CommandComplete(_) | Message::EmptyQueryResponse => {}
            Message::ErrorResponse(body) => error = Some(ServerError::parse(&body)?),
            Message::NoticeResponse(body) => super::error::log_notice(&body),
            Message::ParameterStatus(_) => {}
            Message::ReadyForQuery(_) => {
                return match error {
                    Some(error) => Err(from_server(error, context)),
                    None => Ok(current),
                }
            }
            Message::CopyOutResponse(_) | Message::CopyInResponse(_) => {
                return Err(ReplicationError::protocol(
                    "COPY is not supported on the replication connection",
                ))
            }
            _ => return Err(ReplicationError::protocol("unexpected reply to a query")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_row_lookup() {
        let rows = TextRows {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Some("1".into()), None]],
        };
        assert_eq!(rows.single("a").unwrap(), Some("1"));
        assert_eq!(rows.single("b").unwrap(), None);
        assert!(rows.required("b").is_err());
        assert!(rows.single("c").is_err());
        assert!(TextRows::default().single("a").is_err());
    }
}
