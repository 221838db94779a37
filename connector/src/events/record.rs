//! Row changes → Debezium records (key and value, before the converter).
//!
//! Which records one change makes (`defaults.json`, `composite_key` and `all_types`):
//!
//! | change | records |
//! | --- | --- |
//! | snapshot row | `r` |
//! | insert | `c` |
//! | update | `u` (`before` only with the whole old row, REPLICA IDENTITY FULL) |
//! | update of a key column | `d` with the old row, a tombstone under the old key, `c` under the new one |
//! | delete | `d`, then a tombstone (`tombstones.on.delete`, default true) |
//! | truncate | `t`, with no key |
//!
//! The key is the primary key's columns in key order, taken from the new row (the old
//! one for deletes).

use std::collections::HashMap;

use pgcdc_schemas::connect::{Schema, Value};
use pgcdc_schemas::debezium::transaction::transaction_id;
use pgcdc_schemas::debezium::{
    ColumnDescription, Envelope, EventBlock, Op, SourceInfo, TableId, TableSchemas, ValueModes,
};
use pgcdc_schemas::json::{ConvertError, JsonConverter};

use super::convert::ReadPath;
use super::error::EventError;
use super::row::{image_values, toast_sources};
use crate::capture::Cell;

/// One Kafka record before conversion: `None` is a null key (truncate) or a null value
/// (tombstone).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub key: Option<Value>,
    pub value: Option<Value>,
}

/// A row change as the events layer takes it: the cells of the old and new images.
#[derive(Clone, Copy, Debug)]
pub enum RowEvent<'a> {
    /// A row read by a snapshot.
    Read {
        row: &'a [Cell<'a>],
    },
    Insert {
        new: &'a [Cell<'a>],
    },
    Update {
        /// The old row, when the change carries one: the key columns when the key
        /// changed (REPLICA IDENTITY DEFAULT), the whole row under FULL.
        old: Option<&'a [Cell<'a>]>,
        new: &'a [Cell<'a>],
    },
    Delete {
        old: &'a [Cell<'a>],
    },
}

/// Record-level options of the connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// `tombstones.on.delete` (default true).
    pub tombstones_on_delete: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            tombstones_on_delete: true,
        }
    }
}

/// Event numbering within one transaction, for the `transaction` block
/// (`provide.transaction.metadata`).
///
/// Debezium's PostgreSQL connector names the transaction `<xid>:<lsn>` with the LSN of
/// where it is in the WAL: the transaction's first change's for BEGIN (published or
/// not: pgoutput sends Begin right before it), each event's own in its
/// `transaction.id`, the end of the commit record for END (checked against Debezium
/// 3.7 by `tests/tests/debezium_diff.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionState {
    xid: u32,
    id: String,
    total: i64,
    per_table: HashMap<String, i64>,
}

impl TransactionState {
    /// A transaction `xid` whose first event is at `first_lsn`.
    pub fn new(xid: u32, first_lsn: u64) -> TransactionState {
        TransactionState {
            xid,
            id: transaction_id(xid, first_lsn),
            total: 0,
            per_table: HashMap::new(),
        }
    }

    /// The id at the transaction's current position.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Moves to the event at `lsn`.
    pub fn move_to(&mut self, lsn: u64) {
        self.id = transaction_id(self.xid, lsn);
    }

    /// The next event's block, for a table named `schema.table`.
    pub fn next(&mut self, table: &str) -> EventBlock {
        self.total += 1;
        let per_table = self.per_table.entry(table.to_owned()).or_insert(0);
        *per_table += 1;
        EventBlock {
            id: self.id.clone(),
            total_order: self.total,
            data_collection_order: *per_table,
        }
    }

    /// (`schema.table`, events) of the transaction so far.
    pub fn event_counts(&self) -> &HashMap<String, i64> {
        &self.per_table
    }
}

/// When and where an event happened, besides its rows.
#[derive(Debug)]
pub struct EventContext<'a> {
    pub source: &'a SourceInfo,
    /// Processing time, nanoseconds since the Unix epoch (the envelope's `ts_*`).
    pub processed_at_ns: i64,
    pub transaction: Option<&'a mut TransactionState>,
}

/// Everything needed to turn one table's changes into records.
#[derive(Clone, Debug)]
pub struct TableEvents {
    schemas: TableSchemas,
    columns: Vec<ColumnDescription>,
    modes: ValueModes,
    options: RecordOptions,
}

impl TableEvents {
    pub fn new(
        id: TableId,
        columns: Vec<ColumnDescription>,
        modes: ValueModes,
        options: RecordOptions,
    ) -> TableEvents {
        let schemas = TableSchemas::new(id, &columns, &modes);
        TableEvents {
            schemas,
            columns,
            modes,
            options,
        }
    }

    pub fn schemas(&self) -> &TableSchemas {
        &self.schemas
    }

    pub fn columns(&self) -> &[ColumnDescription] {
        &self.columns
    }

    /// One value per column for a row image; `old_row` is the change's old image
    /// (cells and their values), whose values replace unchanged TOASTed cells.
    pub fn row_values(
        &self,
        cells: &[Cell<'_>],
        path: ReadPath,
        old_row: Option<(&[Cell<'_>], &[Value])>,
    ) -> Result<Vec<Value>, EventError> {
        let fields = self.schemas.value.fields();
        let field_schemas: Vec<Option<&Schema>> = self
            .schemas
            .value_columns
            .iter()
            .map(|f| f.and_then(|i| fields.get(i)).map(|f| &f.schema))
            .collect();
        let toast_sources = old_row.map(|(cells, values)| toast_sources(cells, values));
        image_values(
            &self.columns,
            &field_schemas,
            cells,
            &self.modes,
            path,
            toast_sources.as_deref(),
        )
    }

    /// The records of one row change.
    pub fn records(
        &self,
        event: RowEvent<'_>,
        mut context: EventContext<'_>,
    ) -> Result<Vec<Record>, EventError> {
        let mut records = Vec::with_capacity(3);
        match event {
            RowEvent::Read { row } => {
                let row = self.row_values(row, ReadPath::Snapshot, None)?;
                records.push(self.record(Op::Read, None, Some(&row), &row, &mut context));
            }
            RowEvent::Insert { new } => {
                let new = self.row_values(new, ReadPath::Streaming, None)?;
                records.push(self.record(Op::Create, None, Some(&new), &new, &mut context));
            }
            RowEvent::Update { old, new } => {
                let old_cells = old;
                let old = old
                    .map(|cells| self.row_values(cells, ReadPath::Streaming, None))
                    .transpose()?;
                let old_row = old_cells.zip(old.as_deref());
                let new = self.row_values(new, ReadPath::Streaming, old_row)?;
                let old_key = old.as_ref().and_then(|o| self.schemas.key_value(o));
                let new_key = self.schemas.key_value(&new);
                match (old, old_key) {
                    (Some(old), Some(old_key)) if Some(&old_key) != new_key.as_ref() => {
                        records.push(self.record(Op::Delete, Some(&old), None, &old, &mut context));
                        if self.options.tombstones_on_delete {
                            records.push(Record {
                                key: Some(old_key),
                                value: None,
                            });
                        }
                        records.push(self.record(Op::Create, None, Some(&new), &new, &mut context));
                    }
                    (old, _) => {
                        let before = old.as_deref();
                        records.push(self.record(
                            Op::Update,
                            before,
                            Some(&new),
                            &new,
                            &mut context,
                        ));
                    }
                }
            }
            RowEvent::Delete { old } => {
                let old = self.row_values(old, ReadPath::Streaming, None)?;
                records.push(self.record(Op::Delete, Some(&old), None, &old, &mut context));
                if self.options.tombstones_on_delete {
                    records.push(Record {
                        key: self.schemas.key_value(&old),
                        value: None,
                    });
                }
            }
        }
        Ok(records)
    }

    /// The record of a TRUNCATE of this table: no key, no rows.
    pub fn truncate_record(&self, mut context: EventContext<'_>) -> Record {
        let envelope = Envelope {
            before: None,
            after: None,
            source: context.source.to_value(),
            transaction: self.next_block(&mut context),
            op: Op::Truncate,
            processed_at_ns: context.processed_at_ns,
        };
        Record {
            key: None,
            value: Some(envelope.to_value()),
        }
    }

    fn next_block(&self, context: &mut EventContext<'_>) -> Option<EventBlock> {
        let table = format!("{}.{}", self.schemas.id.schema, self.schemas.id.table);
        context.transaction.as_mut().map(|t| t.next(&table))
    }

    fn record(
        &self,
        op: Op,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
        key_row: &[Value],
        context: &mut EventContext<'_>,
    ) -> Record {
        let envelope = Envelope {
            before: before.map(|row| self.schemas.row_value(row.to_vec())),
            after: after.map(|row| self.schemas.row_value(row.to_vec())),
            source: context.source.to_value(),
            transaction: self.next_block(context),
            op,
            processed_at_ns: context.processed_at_ns,
        };
        Record {
            key: self.schemas.key_value(key_row),
            value: Some(envelope.to_value()),
        }
    }

    /// The record's key and value bytes with `converter` (`None` for null sides).
    pub fn serialize(
        &self,
        record: &Record,
        converter: &JsonConverter,
    ) -> Result<RecordBytes, ConvertError> {
        let key = match (&record.key, &self.schemas.key) {
            (Some(key), Some(schema)) => converter.from_connect_data(Some(schema), key)?,
            _ => None,
        };
        let value = match &record.value {
            Some(value) => converter.from_connect_data(Some(&self.schemas.envelope), value)?,
            None => None,
        };
        Ok(RecordBytes { key, value })
    }
}

/// A record's key and value as a converter wrote them; `None` is a null side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBytes {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}
