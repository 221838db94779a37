//! The target table of a topic: its columns and key as the records' schemas describe
//! them ([`TableSpec`]), how one schema version's records fill those columns
//! ([`RowLayout`]), and the DDL that makes an existing table fit (`CREATE TABLE`,
//! `ALTER TABLE … ADD COLUMN`, per `schema.evolution`). Pure.

use pgcdc_schemas::connect::{Schema, SchemaKind, Value};

use crate::config::{PrimaryKeyMode, SchemaEvolution, SinkConfig};
use crate::naming::{Ident, TableName};
use crate::types::column_type;
use crate::values::{self, Cell};

/// One target column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: Ident,
    /// The column type as SQL text.
    pub sql_type: String,
    pub nullable: bool,
    /// The field schema's default, as an SQL literal.
    pub default: Option<String>,
}

/// What the records say a table looks like.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSpec {
    pub columns: Vec<ColumnSpec>,
    /// The key columns (`primary.key.mode`); empty without a key.
    pub key: Vec<Ident>,
}

impl TableSpec {
    pub fn column_index(&self, name: &Ident) -> Option<usize> {
        self.columns.iter().position(|c| &c.name == name)
    }

    /// Adds the columns of `other` this spec does not have, in their order.
    pub fn merge(&mut self, other: &TableSpec) {
        for column in &other.columns {
            if self.column_index(&column.name).is_none() {
                self.columns.push(column.clone());
            }
        }
        if self.key.is_empty() {
            self.key = other.key.clone();
        }
    }

    /// Positions of the key columns.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .filter_map(|k| self.column_index(k))
            .collect()
    }
}

/// Where a key column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    /// A field of the record key struct.
    KeyField(usize),
    /// The whole (primitive) record key.
    WholeKey,
    /// A field of the row image.
    RowField(usize),
}

/// How records of one (key schema, row schema) pair become table rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RowLayout {
    pub spec: TableSpec,
    /// For each spec column: the row field holding it.
    row_fields: Vec<Option<usize>>,
    /// For each key column: where its value is.
    key_sources: Vec<KeySource>,
    key_schemas: Vec<Schema>,
    row_schemas: Vec<Option<Schema>>,
}

/// Why records cannot be written to their table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("primary.key.fields names {field:?}, which the {side} does not have")]
    MissingKeyField { field: String, side: &'static str },
    #[error("primary.key.mode=record_key but the record has no key")]
    NoRecordKey,
    #[error("a primitive record key needs primary.key.fields to name its column")]
    UnnamedPrimitiveKey,
    #[error("field {field}: {reason}")]
    Field { field: String, reason: String },
    #[error("key column {column} is null")]
    NullKey { column: String },
}

impl RowLayout {
    /// The layout for records with this key schema and row schema (either may be
    /// absent: deletes have no row, flat records may have no key).
    pub fn new(
        config: &SinkConfig,
        key_schema: Option<&Schema>,
        row_schema: Option<&Schema>,
    ) -> Result<RowLayout, LayoutError> {
        let quote = config.quote_identifiers;
        let mut columns = Vec::new();
        let mut row_schemas = Vec::new();
        for field in row_schema.map(Schema::fields).unwrap_or_default() {
            columns.push(column_spec(&field.name, &field.schema, quote)?);
            row_schemas.push(Some(field.schema.clone()));
        }
        let mut row_fields: Vec<Option<usize>> = (0..columns.len()).map(Some).collect();
        let mut key = Vec::new();
        let mut key_sources = Vec::new();
        let mut key_schemas = Vec::new();
        match config.primary_key_mode {
            PrimaryKeyMode::None => {}
            PrimaryKeyMode::RecordValue => {
                let row = row_schema.map(Schema::fields).unwrap_or_default();
                for name in &config.primary_key_fields {
                    let index = row.iter().position(|f| &f.name == name).ok_or_else(|| {
                        LayoutError::MissingKeyField {
                            field: name.clone(),
                            side: "record value",
                        }
                    })?;
                    key.push(Ident::new(name, quote));
                    key_sources.push(KeySource::RowField(index));
                    key_schemas.push(row[index].schema.clone());
                }
            }
            PrimaryKeyMode::RecordKey => {
                let key_schema = key_schema.ok_or(LayoutError::NoRecordKey)?;
                let mut key_columns: Vec<(String, Schema, KeySource)> = Vec::new();
                if let SchemaKind::Struct(fields) = &key_schema.kind {
                    for (index, field) in fields.iter().enumerate() {
                        if config.primary_key_fields.is_empty()
                            || config.primary_key_fields.contains(&field.name)
                        {
                            key_columns.push((
                                field.name.clone(),
                                field.schema.clone(),
                                KeySource::KeyField(index),
                            ));
                        }
                    }
                    for name in &config.primary_key_fields {
                        if !fields.iter().any(|f| &f.name == name) {
                            return Err(LayoutError::MissingKeyField {
                                field: name.clone(),
                                side: "record key",
                            });
                        }
                    }
                } else {
                    let name = config
                        .primary_key_fields
                        .first()
                        .ok_or(LayoutError::UnnamedPrimitiveKey)?;
                    key_columns.push((name.clone(), key_schema.clone(), KeySource::WholeKey));
                }
                // Key columns the row does not carry come first.
                let mut missing = Vec::new();
                for (name, schema, source) in key_columns {
                    let ident = Ident::new(&name, quote);
                    if !columns.iter().any(|c: &ColumnSpec| c.name == ident) {
                        missing.push(column_spec(&name, &schema, quote)?);
                    }
                    key.push(ident);
                    key_sources.push(source);
                    key_schemas.push(schema);
                }
                let count = missing.len();
                columns.splice(0..0, missing);
                row_fields.splice(0..0, std::iter::repeat_n(None, count));
                row_schemas.splice(0..0, std::iter::repeat_n(None, count));
            }
        }
        for column in &mut columns {
            if key.contains(&column.name) {
                column.nullable = false;
            }
        }
        Ok(RowLayout {
            spec: TableSpec { columns, key },
            row_fields,
            key_sources,
            key_schemas,
            row_schemas,
        })
    }

    /// The key column texts of a record (`None` without a key).
    pub fn key_texts(
        &self,
        key: Option<&Value>,
        row: Option<&[Value]>,
    ) -> Result<Option<Vec<String>>, LayoutError> {
        if self.key_sources.is_empty() {
            return Ok(None);
        }
        let mut texts = Vec::with_capacity(self.key_sources.len());
        for ((source, schema), name) in self
            .key_sources
            .iter()
            .zip(&self.key_schemas)
            .zip(&self.spec.key)
        {
            let value = match source {
                KeySource::WholeKey => key,
                KeySource::KeyField(i) => match key {
                    Some(Value::Struct(fields)) => fields.get(*i),
                    _ => None,
                },
                KeySource::RowField(i) => row.and_then(|r| r.get(*i)),
            };
            let value = value
                .filter(|v| !v.is_null())
                .ok_or_else(|| LayoutError::NullKey {
                    column: name.as_str().to_owned(),
                })?;
            texts.push(
                values::text(schema, value).map_err(|reason| LayoutError::Field {
                    field: name.as_str().to_owned(),
                    reason,
                })?,
            );
        }
        Ok(Some(texts))
    }

    /// Where this layout's columns and key columns sit in `target` (a spec that
    /// includes them): worked out once per batch, not once per record.
    pub fn placement(&self, target: &TableSpec) -> Placement {
        Placement {
            width: target.columns.len(),
            columns: self
                .spec
                .columns
                .iter()
                .map(|c| target.column_index(&c.name))
                .collect(),
            key: self
                .spec
                .key
                .iter()
                .map(|k| target.column_index(k))
                .collect(),
        }
    }

    /// The cells of a row image, one per column of `target` (a spec that includes
    /// this layout's columns); columns this layout does not have are absent, and key
    /// columns hold `key` when given.
    pub fn cells(
        &self,
        target: &TableSpec,
        row: &[Value],
        key: Option<&[String]>,
        placeholder: &[u8],
    ) -> Result<Vec<Cell>, LayoutError> {
        self.placed_cells(&self.placement(target), row, key, placeholder)
    }

    /// [`RowLayout::cells`] with the placement worked out beforehand.
    pub fn placed_cells(
        &self,
        placement: &Placement,
        row: &[Value],
        key: Option<&[String]>,
        placeholder: &[u8],
    ) -> Result<Vec<Cell>, LayoutError> {
        let mut cells = vec![Cell::Absent; placement.width];
        for (column, ((field, schema), position)) in self.spec.columns.iter().zip(
            self.row_fields
                .iter()
                .zip(&self.row_schemas)
                .zip(&placement.columns),
        ) {
            let (Some(field), Some(schema), Some(position)) = (field, schema, position) else {
                continue;
            };
            let value = row.get(*field).unwrap_or(&Value::Null);
            cells[*position] =
                values::cell(schema, value, placeholder).map_err(|reason| LayoutError::Field {
                    field: column.name.as_str().to_owned(),
                    reason,
                })?;
        }
        if let Some(key) = key {
            placement.put_key(key, &mut cells);
        }
        Ok(cells)
    }

    /// Cells holding only the key (a delete).
    pub fn key_cells(&self, target: &TableSpec, key: &[String]) -> Vec<Cell> {
        self.placement(target).key_cells(key)
    }
}

/// A [`RowLayout`]'s columns as positions in a batch's table spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    width: usize,
    columns: Vec<Option<usize>>,
    key: Vec<Option<usize>>,
}

impl Placement {
    /// Cells holding only the key (a delete).
    pub fn key_cells(&self, key: &[String]) -> Vec<Cell> {
        let mut cells = vec![Cell::Absent; self.width];
        self.put_key(key, &mut cells);
        cells
    }

    fn put_key(&self, key: &[String], cells: &mut [Cell]) {
        for (position, text) in self.key.iter().zip(key) {
            if let Some(position) = position {
                cells[*position] = Cell::Text(text.clone());
            }
        }
    }
}

fn column_spec(name: &str, schema: &Schema, quote: bool) -> Result<ColumnSpec, LayoutError> {
    let field_error = |reason: String| LayoutError::Field {
        field: name.to_owned(),
        reason,
    };
    let sql_type = column_type(schema).map_err(field_error)?;
    let default = match &schema.default {
        Some(value) if !value.is_null() => Some(sql_literal(
            &values::text(schema, value).map_err(field_error)?,
            &sql_type,
        )),
        _ => None,
    };
    Ok(ColumnSpec {
        name: Ident::new(name, quote),
        sql_type,
        nullable: schema.optional,
        default,
    })
}

fn sql_literal(text: &str, sql_type: &str) -> String {
    format!("'{}'::{sql_type}", text.replace('\'', "''"))
}

/// A table as the warehouse catalog has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExistingTable {
    /// Column names and their `format_type` text, in column order.
    pub columns: Vec<(Ident, String)>,
    /// Primary key columns.
    pub key: Vec<Ident>,
}

impl ExistingTable {
    pub fn column_type(&self, name: &Ident) -> Option<&str> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }
}

/// Why a table cannot take the records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    #[error("table {table} does not exist (set schema.evolution=basic to create it)")]
    TableMissing { table: String },
    #[error("table {table} has no column {column} (set schema.evolution=basic to add it)")]
    ColumnMissing { table: String, column: String },
    #[error("table {table} needs a primary key on ({expected}) for insert.mode upsert/update and deletes, but has ({found})")]
    KeyMismatch {
        table: String,
        expected: String,
        found: String,
    },
}

/// The statements that make `existing` fit `spec`, or why it cannot.
pub fn ddl(
    table: &TableName,
    spec: &TableSpec,
    existing: Option<&ExistingTable>,
    evolution: SchemaEvolution,
    key_required: bool,
) -> Result<Vec<String>, SchemaMismatch> {
    let Some(existing) = existing else {
        if evolution == SchemaEvolution::None {
            return Err(SchemaMismatch::TableMissing {
                table: table.to_string(),
            });
        }
        let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} (");
        for (i, column) in spec.columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&column_definition(column, true));
        }
        if !spec.key.is_empty() {
            let key: Vec<String> = spec.key.iter().map(ToString::to_string).collect();
            sql.push_str(&format!(", PRIMARY KEY ({})", key.join(", ")));
        }
        sql.push(')');
        return Ok(vec![sql]);
    };
    if key_required && !spec.key.is_empty() {
        let mut expected: Vec<&Ident> = spec.key.iter().collect();
        let mut found: Vec<&Ident> = existing.key.iter().collect();
        expected.sort();
        found.sort();
        if expected != found {
            let names = |k: &[Ident]| k.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ");
            return Err(SchemaMismatch::KeyMismatch {
                table: table.to_string(),
                expected: names(&spec.key),
                found: names(&existing.key),
            });
        }
    }
    let missing: Vec<&ColumnSpec> = spec
        .columns
        .iter()
        .filter(|c| existing.column_type(&c.name).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    if evolution == SchemaEvolution::None {
        return Err(SchemaMismatch::ColumnMissing {
            table: table.to_string(),
            column: missing[0].name.as_str().to_owned(),
        });
    }
    let adds: Vec<String> = missing
        .iter()
        .map(|c| format!("ADD COLUMN IF NOT EXISTS {}", column_definition(c, false)))
        .collect();
    Ok(vec![format!("ALTER TABLE {table} {}", adds.join(", "))])
}

fn column_definition(column: &ColumnSpec, creating: bool) -> String {
    let mut sql = format!("{} {}", column.name, column.sql_type);
    if let Some(default) = &column.default {
        sql.push_str(" DEFAULT ");
        sql.push_str(default);
    }
    // A column added to a table with rows can only be NOT NULL with a default.
    if !column.nullable && (creating || column.default.is_some()) {
        sql.push_str(" NOT NULL");
    }
    sql
}

#[cfg(test)]
mod tests;
