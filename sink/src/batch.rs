//! A batch of consumed records → per-table merge plans: decode each record, find its
//! table, lay its key and row out as the table's columns, and reduce each table's
//! changes ([`plan::reduce`]). Pure apart from the decoder's schema cache (filled
//! beforehand by [`Preparer::fetch_schemas`]).
//!
//! A record that fails here is poison ([`crate::poison`]): with `tolerate` it is left
//! out of the plans and listed, otherwise it stops the batch with an error naming it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{PrimaryKeyMode, SinkConfig};
use crate::decode::{RecordBytes, RecordDecoder, Side};
use crate::error::SinkError;
use crate::event::{change_of, ChangeEvent, Operation};
use crate::history::HistoryRow;
use crate::naming::{TableName, TableNameFormat};
use crate::plan::{self, Change, TablePlan};
use crate::poison::{RecordFailure, Rejected, Stage};
use crate::table::{Placement, RowLayout, TableSpec};

/// One consumed Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The record's headers (kept for the dead-letter topic, as Connect does).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Consumed {
    /// The task error for this record failing with `failure`.
    pub fn error(&self, failure: &RecordFailure) -> SinkError {
        SinkError::Record {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            reason: failure.reason.clone(),
        }
    }
}

/// A batch's plans, and the records left out of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prepared {
    pub tables: Vec<PreparedTable>,
    pub rejected: Vec<Rejected>,
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
    /// Every change of the plan, in order, for the history table (empty unless
    /// `history.enabled`).
    pub history: Vec<HistoryRow>,
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
        let decoder = RecordDecoder::new(&config.key_converter, &config.value_converter)
            .map_err(SinkError::Registry)?;
        Ok(Preparer {
            decoder,
            config,
            format,
        })
    }

    /// Fetches the schemas `records` were written with (Avro: from the registry).
    pub fn config(&self) -> &SinkConfig {
        &self.config
    }

    pub async fn fetch_schemas(&mut self, records: &[Consumed]) -> Result<(), SinkError> {
        // Collected first: a closure in the iterator would make this future's
        // lifetimes too specific to be spawned.
        let sides: Vec<RecordBytes<'_>> = records
            .iter()
            .map(|r| (r.key.as_deref(), r.value.as_deref()))
            .collect();
        self.decoder
            .fetch_schemas(sides)
            .await
            .map_err(SinkError::Registry)
    }

    /// The plans for `records` (in consumption order: each partition in offset
    /// order). With `tolerate`, poison records are listed instead of failing the batch.
    pub fn prepare(&mut self, records: &[Consumed], tolerate: bool) -> Result<Prepared, SinkError> {
        let config = Arc::clone(&self.config);
        let mut tables: Vec<TableAccumulator> = Vec::new();
        let mut by_name: HashMap<TableName, usize> = HashMap::new();
        let mut rejected = Vec::new();
        let mut reject = |index: usize, failure: RecordFailure| -> Result<(), SinkError> {
            if tolerate {
                rejected.push(Rejected { index, failure });
                Ok(())
            } else {
                Err(records[index].error(&failure))
            }
        };
        for (index, record) in records.iter().enumerate() {
            let fail = |reason: String| RecordFailure::new(Stage::TaskPut, reason);
            let decoded = match self
                .decoder
                .decode(record.key.as_deref(), record.value.as_deref())
            {
                Ok(decoded) => decoded,
                Err(failure) => {
                    let stage = match failure.side {
                        Side::Key => Stage::KeyConverter,
                        Side::Value => Stage::ValueConverter,
                    };
                    reject(index, RecordFailure::new(stage, failure.to_string()))?;
                    continue;
                }
            };
            let change = match change_of(decoded) {
                Ok(change) => change,
                Err(reason) => {
                    reject(index, fail(reason))?;
                    continue;
                }
            };
            let Some(change) = change else {
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
                Err(reason) => {
                    reject(index, fail(reason))?;
                    continue;
                }
            };
            let name = match TableName::parse(&resolved, config.quote_identifiers) {
                Ok(name) => name,
                Err(reason) => {
                    reject(index, fail(reason))?;
                    continue;
                }
            };
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
                            let layout = match RowLayout::new(
                                &config,
                                key_schema.map(|k| k.as_ref()),
                                row.map(|r| r.schema()),
                            ) {
                                Ok(layout) => Arc::new(layout),
                                Err(source) => {
                                    reject(index, fail(format!("table {}: {source}", table.name)))?;
                                    continue;
                                }
                            };
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
            let mut history = Vec::new();
            // Few layouts per table (one per schema version and kind of change).
            let mut placements: Vec<(*const RowLayout, Placement)> = Vec::new();
            for (layout, change, index) in table.events {
                let placement = layout.as_ref().map(|layout| {
                    let id = Arc::as_ptr(layout);
                    match placements.iter().position(|(p, _)| *p == id) {
                        Some(at) => at,
                        None => {
                            placements.push((id, layout.placement(&spec)));
                            placements.len() - 1
                        }
                    }
                });
                let placement = placement.map(|at| &placements[at].1);
                let fail = |e: crate::table::LayoutError| {
                    RecordFailure::new(Stage::TaskPut, format!("table {name}: {e}"))
                };
                let key_value = change.key.as_ref().map(|k| &k.value);
                let row_values = change.row.as_ref().map(|r| r.values.as_slice());
                let planned = match (change.operation, layout) {
                    (Operation::Truncate, _) => Ok(Some(Change::Truncate)),
                    (_, None) => Ok(None),
                    (Operation::Upsert, Some(layout)) => layout
                        .key_texts(key_value, row_values)
                        .and_then(|key| {
                            let cells = layout.placed_cells(
                                placement.expect("a layout has its placement"),
                                row_values.unwrap_or_default(),
                                key.as_deref(),
                                placeholder,
                            )?;
                            Ok(Some(Change::Upsert { key, cells }))
                        })
                        .map_err(fail),
                    (Operation::Delete, Some(layout)) => {
                        let key_row = match config.primary_key_mode {
                            PrimaryKeyMode::RecordKey => None,
                            _ => row_values,
                        };
                        layout
                            .key_texts(key_value, key_row)
                            .map(|key| {
                                key.map(|key| {
                                    let cells = placement
                                        .expect("a layout has its placement")
                                        .key_cells(&key);
                                    Change::Delete { key, cells }
                                })
                            })
                            .map_err(fail)
                    }
                };
                match planned {
                    Ok(Some(planned)) => {
                        // A tombstone repeats the delete before it.
                        let tombstone =
                            change.source.is_none() && change.operation == Operation::Delete;
                        if config.history.is_some() && !tombstone {
                            history.push(history_row(
                                &records[index],
                                &change,
                                &planned,
                                spec.columns.len(),
                            ));
                        }
                        changes.push(planned);
                    }
                    Ok(None) => {}
                    Err(failure) => reject(index, failure)?,
                }
            }
            prepared.push(PreparedTable {
                name,
                spec,
                has_writes: table.has_writes,
                plan: plan::reduce(changes),
                history,
            });
        }
        rejected.sort_by_key(|r| r.index);
        Ok(Prepared {
            tables: prepared,
            rejected,
        })
    }
}

/// The history row of one planned change of `record`.
fn history_row(
    record: &Consumed,
    change: &ChangeEvent,
    planned: &Change,
    width: usize,
) -> HistoryRow {
    let cells = match planned {
        Change::Upsert { cells, .. } | Change::Delete { cells, .. } => cells.clone(),
        Change::Truncate => vec![crate::values::Cell::Null; width],
    };
    let source_ts_ms = change.source_i64("ts_ms").unwrap_or_else(|| {
        // A flat row has no source time: the time it is applied stands in.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    });
    HistoryRow {
        op: change.op,
        lsn: change.source_i64("lsn"),
        source_ts_ms,
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
        cells,
    }
}
