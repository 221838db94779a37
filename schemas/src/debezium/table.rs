//! A captured table's record schemas: the key (`<prefix>.<schema>.<table>.Key`), the
//! row (`….Value`, used for `before` and `after`) and the envelope (`….Envelope`,
//! version 2), and how the table's columns map onto their fields.

use crate::connect::{Field, Schema, Value};

use super::column::ColumnDescription;
use super::mapping::{key_field_schema, value_field_schema};
use super::modes::ValueModes;
use super::source::source_schema;
use super::transaction::{event_block_schema, EventBlock};

/// Which table, and under which topic prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableId {
    /// `topic.prefix`.
    pub prefix: String,
    pub schema: String,
    pub table: String,
}

impl TableId {
    pub fn new(
        prefix: impl Into<String>,
        schema: impl Into<String>,
        table: impl Into<String>,
    ) -> TableId {
        TableId {
            prefix: prefix.into(),
            schema: schema.into(),
            table: table.into(),
        }
    }

    /// The table's topic and the base of its schema names: `<prefix>.<schema>.<table>`.
    pub fn topic(&self) -> String {
        format!("{}.{}.{}", self.prefix, self.schema, self.table)
    }
}

/// The schemas of one table's records, and where each column goes.
#[derive(Clone, Debug, PartialEq)]
pub struct TableSchemas {
    pub id: TableId,
    /// `None` for a table without a primary key: its records have no key.
    pub key: Option<Schema>,
    /// The row struct (optional, as `before` and `after` are).
    pub value: Schema,
    pub envelope: Schema,
    /// For each table column, its field index in `value`; `None` when left out.
    pub value_columns: Vec<Option<usize>>,
    /// The table columns of the key fields, in key field (primary key) order.
    pub key_columns: Vec<usize>,
}

impl TableSchemas {
    /// Builds the schemas of a table from its columns, in table order.
    pub fn new(id: TableId, columns: &[ColumnDescription], modes: &ValueModes) -> TableSchemas {
        let topic = id.topic();
        let mut fields = Vec::new();
        let mut value_columns = Vec::with_capacity(columns.len());
        for column in columns {
            match value_field_schema(column, modes) {
                Some(schema) => {
                    value_columns.push(Some(fields.len()));
                    fields.push(Field::new(column.name.clone(), schema));
                }
                None => value_columns.push(None),
            }
        }
        let value = Schema::structure(fields)
            .named(format!("{topic}.Value"))
            .optional();

        // Debezium orders key fields by primary key position, not column position.
        let mut key_columns: Vec<usize> = (0..columns.len())
            .filter(|&i| columns[i].key_position.is_some())
            .collect();
        key_columns.sort_by_key(|&i| columns[i].key_position);
        key_columns.retain(|&i| key_field_schema(&columns[i], modes).is_some());
        let key = (!key_columns.is_empty()).then(|| {
            Schema::structure(
                key_columns
                    .iter()
                    .filter_map(|&i| {
                        key_field_schema(&columns[i], modes)
                            .map(|schema| Field::new(columns[i].name.clone(), schema))
                    })
                    .collect(),
            )
            .named(format!("{topic}.Key"))
        });

        let envelope = Schema::structure(vec![
            Field::new("before", value.clone()),
            Field::new("after", value.clone()),
            Field::new("source", source_schema()),
            Field::new("transaction", event_block_schema()),
            Field::new("op", Schema::string()),
            Field::new("ts_ms", Schema::int64().optional()),
            Field::new("ts_us", Schema::int64().optional()),
            Field::new("ts_ns", Schema::int64().optional()),
        ])
        .named(format!("{topic}.Envelope"))
        .versioned(2);

        TableSchemas {
            id,
            key,
            value,
            envelope,
            value_columns,
            key_columns,
        }
    }

    /// The row struct from one value per table column (values of left-out columns are
    /// dropped).
    pub fn row_value(&self, column_values: Vec<Value>) -> Value {
        Value::Struct(
            column_values
                .into_iter()
                .zip(&self.value_columns)
                .filter_map(|(value, field)| field.map(|_| value))
                .collect(),
        )
    }

    /// The key struct from one value per table column.
    pub fn key_value(&self, column_values: &[Value]) -> Option<Value> {
        self.key.as_ref()?;
        Some(Value::Struct(
            self.key_columns
                .iter()
                .map(|&i| column_values.get(i).cloned().unwrap_or(Value::Null))
                .collect(),
        ))
    }
}

/// `op`: what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `r`: read by a snapshot.
    Read,
    /// `c`
    Create,
    /// `u`
    Update,
    /// `d`
    Delete,
    /// `t`
    Truncate,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
        }
    }
}

/// One change event's envelope, before it becomes a value of the envelope schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub source: Value,
    pub transaction: Option<EventBlock>,
    pub op: Op,
    /// When pgcdc processed the event, in nanoseconds since the Unix epoch: the
    /// envelope's `ts_ms`, `ts_us` and `ts_ns` (each rounded down).
    pub processed_at_ns: i64,
}

impl Envelope {
    pub fn to_value(&self) -> Value {
        Value::Struct(vec![
            self.before.clone().unwrap_or(Value::Null),
            self.after.clone().unwrap_or(Value::Null),
            self.source.clone(),
            self.transaction
                .as_ref()
                .map_or(Value::Null, EventBlock::to_value),
            Value::from(self.op.as_str()),
            Value::Int64(self.processed_at_ns.div_euclid(1_000_000)),
            Value::Int64(self.processed_at_ns.div_euclid(1_000)),
            Value::Int64(self.processed_at_ns),
        ])
    }
}
