//! A batch of consumed records → per-table merge plans: decode each record, find its
//! table, lay its key and row out as the table's columns, and reduce each table's
//! changes ([`plan::reduce`]). Pure apart from the decoder's schema cache.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{PrimaryKeyMode, SinkConfig};
use crate::decode::RecordDecoder;
use crate::error::SinkError;
use crate::event::{change_of, ChangeEvent, Operation};
use crate::naming::{TableName, TableNameFormat};
use crate::plan::{self, Change, TablePlan};
use crate::table::{RowLayout, TableSpec};

/// One consumed Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// A table's share of a batch, ready to merge.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedTable {
    pub name: TableName,
    /// The columns the batch's records carry (every schema version, in order).
    pub spec: TableSpec,
    /// Whether any record writes rows (a table that only sees deletes or truncates
    /// is not created for them).
    pub has_writes: bool,
    pub plan: TablePlan,
}

/// Turns batches into plans; keeps the decoder and the layouts it built.
#[derive(Debug)]
pub struct Preparer {
    config: Arc<SinkConfig>,
    format: TableNameFormat,
    decoder: RecordDecoder,
}

type LayoutId = (usize, Option<(usize, Option<usize>)>);

struct TableAccumulator {
    name: TableName,
    spec: TableSpec,
    key_spec: TableSpec,
    has_writes: bool,
    layouts: HashMap<LayoutId, Arc<RowLayout>>,
    events: Vec<(Option<Arc<RowLayout>>, ChangeEvent, usize)>,
}

impl Preparer {
    pub fn new(config: Arc<SinkConfig>) -> Result<Preparer, SinkError> {
        let format = TableNameFormat::parse(&config.table_name_format).map_err(|message| {
            SinkError::Config(crate::config::ConfigErrors(vec![
                crate::config::PropertyError {
                    property: "collection.name.format".to_owned(),
                    message,
                },
            ]))
        })?;
        Ok(Preparer {
            decoder: RecordDecoder::new(config.converter),
            config,
            format,
        })
    }

    /// The plans for `records` (in consumption order: each partition in offset order).
    pub fn prepare(&mut self, records: &[Consumed]) -> Result<Vec<PreparedTable>, SinkError> {
        let config = Arc::clone(&self.config);
        let mut tables: Vec<TableAccumulator> = Vec::new();
        let mut by_name: HashMap<TableName, usize> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            let fail = |reason: String| SinkError::Record {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                reason,
            };
            let decoded = self
                .decoder
                .decode(record.key.as_deref(), record.value.as_deref())
                .map_err(fail)?;
            let Some(change) = change_of(decoded).map_err(fail)? else {
                continue;
            };
            let wanted = match change.operation {
                Operation::Upsert => true,
                Operation::Delete => config.delete_enabled,
                Operation::Truncate => config.truncate_enabled,
            };
            if !wanted {
                continue;
            }
            if change.operation == Operation::Delete
                && config.primary_key_mode == PrimaryKeyMode::RecordKey
                && change.key.is_none()
            {
                continue;
            }
            let resolved = match self
                .format
                .resolve(&record.topic, |field| change.source_field(field))
            {
                Ok(resolved) => resolved,
                // A tombstone has no `source`: its delete came with the `d` event.
                Err(_) if change.source.is_none() && change.operation == Operation::Delete => {
                    continue
                }
                Err(reason) => return Err(fail(reason)),
            };
            let name = TableName::parse(&resolved, config.quote_identifiers).map_err(fail)?;
            let slot = *by_name.entry(name.clone()).or_insert_with(|| {
                tables.push(TableAccumulator {
                    name,
                    spec: TableSpec::default(),
                    key_spec: TableSpec::default(),
                    has_writes: false,
                    layouts: HashMap::new(),
                    events: Vec::new(),
                });
                tables.len() - 1
            });
            let table = &mut tables[slot];
            let layout = match change.operation {
                Operation::Truncate => None,
                operation => {
                    let key_schema = change.key.as_ref().map(|k| &k.schema);
                    let row = match operation {
                        Operation::Upsert => change.row.as_ref(),
                        // A delete by record key needs only the key's columns.
                        _ if config.primary_key_mode == PrimaryKeyMode::RecordKey => None,
                        _ => change.row.as_ref(),
                    };
                    let id: LayoutId = (
                        key_schema.map_or(0, |k| Arc::as_ptr(k) as usize),
                        row.map(|r| r.schema_id()),
                    );
                    let layout = match table.layouts.get(&id) {
                        Some(layout) => Arc::clone(layout),
                        None => {
                            let layout = Arc::new(
                                RowLayout::new(
                                    &config,
                                    key_schema.map(|k| k.as_ref()),
                                    row.map(|r| r.schema()),
                                )
                                .map_err(|source| {
                                    SinkError::Layout {
                                        table: table.name.to_string(),
                                        source,
                                    }
                                })?,
                            );
                            if operation == Operation::Upsert {
                                table.spec.merge(&layout.spec);
                            } else {
                                table.key_spec.merge(&layout.spec);
                            }
                            table.layouts.insert(id, Arc::clone(&layout));
                            layout
                        }
                    };
                    Some(layout)
                }
            };
            table.has_writes |= change.operation == Operation::Upsert;
            table.events.push((layout, change, index));
        }

        let placeholder = &config.unavailable_value_placeholder;
        let mut prepared = Vec::with_capacity(tables.len());
        for mut table in tables {
            let key_spec = std::mem::take(&mut table.key_spec);
            table.spec.merge(&key_spec);
            let spec = table.spec;
            let name = table.name;
            let mut changes = Vec::with_capacity(table.events.len());
            for (layout, change, index) in table.events {
                let record = &records[index];
                let fail = |reason: String| SinkError::Record {
                    topic: record.topic.clone(),
                    partition: record.partition,
                    offset: record.offset,
                    reason: format!("table {name}: {reason}"),
                };
                let key_value = change.key.as_ref().map(|k| &k.value);
                let row_values = change.row.as_ref().map(|r| r.values.as_slice());
                changes.push(match (change.operation, layout) {
                    (Operation::Truncate, _) => Change::Truncate,
                    (_, None) => continue,
                    (Operation::Upsert, Some(layout)) => {
                        let key = layout
                            .key_texts(key_value, row_values)
                            .map_err(|e| fail(e.to_string()))?;
                        let cells = layout
                            .cells(
                                &spec,
                                row_values.unwrap_or_default(),
                                key.as_deref(),
                                placeholder,
                            )
                            .map_err(|e| fail(e.to_string()))?;
                        Change::Upsert { key, cells }
                    }
                    (Operation::Delete, Some(layout)) => {
                        let key_row = match config.primary_key_mode {
                            PrimaryKeyMode::RecordKey => None,
                            _ => row_values,
                        };
                        let Some(key) = layout
                            .key_texts(key_value, key_row)
                            .map_err(|e| fail(e.to_string()))?
                        else {
                            continue;
                        };
                        let cells = layout.key_cells(&spec, &key);
                        Change::Delete { key, cells }
                    }
                });
            }
            prepared.push(PreparedTable {
                name,
                spec,
                has_writes: table.has_writes,
                plan: plan::reduce(changes),
            });
        }
        Ok(prepared)
    }
}
