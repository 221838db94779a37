//! Row images → one Connect value per column.
//!
//! Three rules beyond converting each cell (all in `defaults.json` and
//! `replica_identity_full.json`):
//!
//! - an unchanged TOASTed value takes the old row's value when the change's old row
//!   has one for the column (REPLICA IDENTITY FULL), and Debezium's placeholder
//!   otherwise (also when the old row holds only the key);
//! - a NULL in a `NOT NULL` column — the non-key columns of a key-only old row — is
//!   the column's default, or else the zero of its type (`""` for text), because the
//!   row struct cannot hold a null there;
//! - NULL in a nullable column stays null (the converter may still write the schema's
//!   default in its place, see `pgcdc_schemas::json`).

use pgcdc_schemas::connect::{Schema, SchemaKind, Value};
use pgcdc_schemas::debezium::{unchanged_toast_value, ColumnDescription, ValueModes};

use super::convert::{convert, ReadPath};
use super::error::EventError;
use crate::capture::Cell;

/// The values of one row image, one per column, in table order. `old_values` are the
/// old row's values where its cell was not null (what an unchanged TOASTed cell of
/// this image takes).
pub fn image_values(
    columns: &[ColumnDescription],
    field_schemas: &[Option<&Schema>],
    cells: &[Cell<'_>],
    modes: &ValueModes,
    path: ReadPath,
    old_values: Option<&[Option<Value>]>,
) -> Result<Vec<Value>, EventError> {
    // Sized up front, not collected from a `Result` iterator: that starts at four
    // values and reallocates as it grows, on every row.
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let cell = cells.get(i).unwrap_or(&Cell::Null);
        values.push(match cell {
            Cell::Value(value) => convert(value, column, modes, path)?,
            Cell::UnchangedToast => match old_values.and_then(|old| old.get(i)) {
                Some(Some(old)) => old.clone(),
                _ => unchanged_toast_value(column, modes),
            },
            Cell::Null if column.optional => Value::Null,
            Cell::Null => column.default.clone().unwrap_or_else(|| {
                field_schemas
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or(Value::Null, zero_value)
            }),
            Cell::Binary(_) => {
                return Err(EventError::BinaryCell {
                    column: column.name.clone(),
                })
            }
        });
    }
    Ok(values)
}

/// The value Debezium substitutes for a null in a required field without a default.
/// Only the text case is pinned by a fixture (`c_nn_text`); the others follow the
/// converters' fallbacks: zero numbers, `false`, empty bytes and collections, and for
/// named string types their epoch or zero form.
pub fn zero_value(schema: &Schema) -> Value {
    match &schema.kind {
        SchemaKind::Int8 => Value::Int8(0),
        SchemaKind::Int16 => Value::Int16(0),
        SchemaKind::Int32 => Value::Int32(0),
        SchemaKind::Int64 => Value::Int64(0),
        SchemaKind::Float32 => Value::Float32(0.0),
        SchemaKind::Float64 => Value::Float64(0.0),
        SchemaKind::Boolean => Value::Boolean(false),
        SchemaKind::String => Value::String(
            match schema.name.as_deref() {
                Some("io.debezium.time.ZonedTimestamp") => "1970-01-01T00:00:00Z",
                Some("io.debezium.time.ZonedTime") => "00:00:00Z",
                Some("io.debezium.data.Uuid") => "00000000-0000-0000-0000-000000000000",
                Some("io.debezium.data.Json") => "{}",
                Some("io.debezium.time.Interval") => "P0Y0M0DT0H0M0S",
                _ => "",
            }
            .to_owned(),
        ),
        SchemaKind::Bytes => match schema.name.as_deref() {
            Some("org.apache.kafka.connect.data.Decimal") => Value::Bytes(vec![0]),
            _ => Value::Bytes(Vec::new()),
        },
        SchemaKind::Array(_) => Value::Array(Vec::new()),
        SchemaKind::Map { .. } => Value::Map(Vec::new()),
        SchemaKind::Struct(fields) => Value::Struct(
            fields
                .iter()
                .map(|f| {
                    if f.schema.optional {
                        Value::Null
                    } else {
                        zero_value(&f.schema)
                    }
                })
                .collect(),
        ),
    }
}

/// The old row's values that an unchanged TOASTed cell of the new row can take: those
/// whose old cell carried a value (Debezium caches only non-null old values).
pub fn toast_sources(old_cells: &[Cell<'_>], old_values: &[Value]) -> Vec<Option<Value>> {
    old_cells
        .iter()
        .zip(old_values)
        .map(|(cell, value)| matches!(cell, Cell::Value(_)).then(|| value.clone()))
        .collect()
}
