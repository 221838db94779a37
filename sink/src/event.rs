//! A decoded record → the change it asks for. Debezium envelopes (`op`, `before`,
//! `after`, `source`) and flat rows (records already unwrapped by
//! `ExtractNewRecordState`) are both understood, as Debezium's JDBC sink does:
//!
//! | record | change |
//! | --- | --- |
//! | `op` `c`, `r`, `u` | upsert the `after` image |
//! | `op` `d` | delete the key |
//! | tombstone (value null, key set) | delete the key |
//! | `op` `t` | truncate the table |
//! | flat struct value | upsert it |

use std::sync::Arc;

use pgcdc_schemas::connect::{Schema, SchemaKind, Value};

use crate::decode::{ConnectData, DecodedRecord};

/// What a record does to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A row image to write (`c`, `r`, `u`, or a flat row).
    Upsert,
    /// A key to delete (`d` or a tombstone).
    Delete,
    Truncate,
}

/// The row image of a change: a struct's values and its schema, which is the record's
/// value schema or one of its fields (shared by every record of a schema version).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    container: Arc<Schema>,
    field: Option<usize>,
    pub values: Vec<Value>,
}

impl Row {
    pub fn new(schema: Arc<Schema>, values: Vec<Value>) -> Row {
        Row {
            container: schema,
            field: None,
            values,
        }
    }

    pub fn schema(&self) -> &Schema {
        match self.field {
            Some(index) => &self.container.fields()[index].schema,
            None => &self.container,
        }
    }

    /// The same for every row of one schema version while the decoder's schemas live.
    pub fn schema_id(&self) -> (usize, Option<usize>) {
        (Arc::as_ptr(&self.container) as usize, self.field)
    }
}

/// One record's change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub operation: Operation,
    /// The record key with its schema (`None` for key-less records, e.g. truncates).
    pub key: Option<ConnectData>,
    /// The `after` image of an upsert; the `before` image of a delete when the
    /// envelope has one (used for `primary.key.mode=record_value`).
    pub row: Option<Row>,
    /// The envelope's `source` block.
    pub source: Option<Row>,
    /// The envelope's `op`; `None` for a flat row or a tombstone.
    pub op: Option<char>,
}

impl ChangeEvent {
    /// A field of `source` as text (for `${source.<field>}` table names).
    pub fn source_field(&self, name: &str) -> Option<String> {
        let source = self.source.as_ref()?;
        let index = source.schema().field_index(name)?;
        match source.values.get(index)? {
            Value::String(s) => Some(s.clone()),
            Value::Int32(v) => Some(v.to_string()),
            Value::Int64(v) => Some(v.to_string()),
            Value::Boolean(v) => Some(v.to_string()),
            _ => None,
        }
    }

    /// An integer field of `source` (`lsn`, `ts_ms`).
    pub fn source_i64(&self, name: &str) -> Option<i64> {
        let source = self.source.as_ref()?;
        let index = source.schema().field_index(name)?;
        match source.values.get(index)? {
            Value::Int64(v) => Some(*v),
            Value::Int32(v) => Some(i64::from(*v)),
            _ => None,
        }
    }
}

/// The change a record asks for; `Ok(None)` for a record that changes nothing (a
/// tombstone without a key).
pub fn change_of(record: DecodedRecord) -> Result<Option<ChangeEvent>, String> {
    let DecodedRecord { key, value } = record;
    let Some(value) = value else {
        return Ok(key.map(|key| ChangeEvent {
            operation: Operation::Delete,
            key: Some(key),
            row: None,
            source: None,
            op: None,
        }));
    };
    let ConnectData { schema, value } = value;
    if !matches!(schema.kind, SchemaKind::Struct(_)) {
        return Err(format!(
            "the value is a {}, not a struct: the sink needs Debezium change events or rows",
            schema.schema_type()
        ));
    }
    let Value::Struct(mut values) = value else {
        return Err("the value does not match its struct schema".to_owned());
    };
    let is_envelope = schema.field("op").is_some() && schema.field("after").is_some();
    if !is_envelope {
        return Ok(Some(ChangeEvent {
            operation: Operation::Upsert,
            key,
            row: Some(Row::new(schema, values)),
            source: None,
            op: None,
        }));
    }
    let op = match schema.field_index("op").and_then(|i| values.get(i)) {
        Some(Value::String(op)) => op.clone(),
        _ => return Err("the envelope has no op".to_owned()),
    };
    let mut take = |name: &str| -> Option<Row> {
        let index = schema.field_index(name)?;
        let taken = values
            .get_mut(index)
            .map(|v| std::mem::replace(v, Value::Null));
        match taken {
            Some(Value::Struct(fields)) => Some(Row {
                container: Arc::clone(&schema),
                field: Some(index),
                values: fields,
            }),
            _ => None,
        }
    };
    let source = take("source");
    let (operation, row) = match op.as_str() {
        "c" | "r" | "u" => match take("after") {
            Some(after) => (Operation::Upsert, Some(after)),
            None => return Err(format!("an op={op} event without an after image")),
        },
        "d" => (Operation::Delete, take("before")),
        "t" => (Operation::Truncate, None),
        // Debezium's `m` (logical decoding messages) change no table.
        "m" => return Ok(None),
        other => return Err(format!("unknown op {other:?}")),
    };
    Ok(Some(ChangeEvent {
        operation,
        key,
        row,
        source,
        op: op.chars().next(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgcdc_schemas::connect::Field;

    fn row_schema() -> Schema {
        Schema::structure(vec![
            Field::new("id", Schema::int32()),
            Field::new("v", Schema::string().optional()),
        ])
        .named("p.public.t.Value")
        .optional()
    }

    fn envelope(op: &str, before: Value, after: Value) -> DecodedRecord {
        let schema = Schema::structure(vec![
            Field::new("before", row_schema()),
            Field::new("after", row_schema()),
            Field::new(
                "source",
                Schema::structure(vec![Field::new("table", Schema::string())]),
            ),
            Field::new("op", Schema::string()),
        ])
        .named("p.public.t.Envelope");
        let key_schema = Schema::structure(vec![Field::new("id", Schema::int32())]);
        DecodedRecord {
            key: Some(ConnectData {
                schema: Arc::new(key_schema),
                value: Value::Struct(vec![Value::Int32(1)]),
            }),
            value: Some(ConnectData {
                schema: Arc::new(schema),
                value: Value::Struct(vec![
                    before,
                    after,
                    Value::Struct(vec![Value::from("t")]),
                    Value::from(op),
                ]),
            }),
        }
    }

    fn row(v: &str) -> Value {
        Value::Struct(vec![Value::Int32(1), Value::from(v)])
    }

    #[test]
    fn envelope_operations() {
        for op in ["c", "r", "u"] {
            let change = change_of(envelope(op, Value::Null, row("a")))
                .expect("ok")
                .expect("a change");
            assert_eq!(change.operation, Operation::Upsert);
            assert_eq!(change.source_field("table").as_deref(), Some("t"));
            let row = change.row.expect("row");
            assert_eq!(row.values, vec![Value::Int32(1), Value::from("a")]);
            assert_eq!(row.schema(), &row_schema());
        }
        let delete = change_of(envelope("d", row("a"), Value::Null))
            .expect("ok")
            .expect("a change");
        assert_eq!(delete.operation, Operation::Delete);
        let truncate = change_of(envelope("t", Value::Null, Value::Null))
            .expect("ok")
            .expect("a change");
        assert_eq!(truncate.operation, Operation::Truncate);
        assert!(change_of(envelope("c", Value::Null, Value::Null)).is_err());
        assert!(change_of(envelope("x", Value::Null, row("a"))).is_err());
    }

    #[test]
    fn tombstones_and_flat_rows() {
        let mut tombstone = envelope("d", Value::Null, Value::Null);
        tombstone.value = None;
        let change = change_of(tombstone.clone()).expect("ok").expect("a change");
        assert_eq!(change.operation, Operation::Delete);
        tombstone.key = None;
        assert_eq!(change_of(tombstone).expect("ok"), None);

        let flat = DecodedRecord {
            key: None,
            value: Some(ConnectData {
                schema: Arc::new(row_schema()),
                value: row("b"),
            }),
        };
        let change = change_of(flat).expect("ok").expect("a change");
        assert_eq!(change.operation, Operation::Upsert);
        assert_eq!(change.row.expect("row").schema(), &row_schema());
    }
}
