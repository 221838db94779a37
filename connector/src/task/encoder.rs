//! The connector's [`EventEncoder`]: captured changes → Debezium records in the
//! configured converters, one topic per table (`<topic.prefix>.<schema>.<table>`),
//! plus the transaction topic and heartbeats.
//!
//! A table's schemas are built when its definition arrives (before its first row, and
//! again after an ALTER TABLE), from the stream's column types and the catalog's
//! facts; rows then convert without further lookups.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pgcdc_schemas::avro::{AvroConverter, AvroConverterConfig, AvroError, SchemaId};
use pgcdc_schemas::connect::{Schema, Value};
use pgcdc_schemas::debezium::java::hashmap_iteration_order;
use pgcdc_schemas::debezium::source::sequence;
use pgcdc_schemas::debezium::transaction::{
    metadata_key_schema, metadata_value_schema, transaction_id,
};
use pgcdc_schemas::debezium::{
    heartbeat, SnapshotMarker, SourceInfo, TableId, TransactionMetadata, ValueModes,
};
use pgcdc_schemas::json::JsonConverter;
use tokio_postgres::Client;

use super::catalog::column_catalogs;
use super::metrics::TaskMetrics;
use crate::capture::{Cell, RowChange, RowOp, RowValues, TableSchema};
use crate::config::{Converter, PostgresConnectorConfig, SkippedOperations};
use crate::events::{
    describe_column, EventContext as RecordContext, Record, RecordOptions, RowEvent, TableEvents,
    TransactionState,
};
use crate::lsn::Lsn;
use crate::pgoutput::{Oid, TupleData};
use crate::pipeline::{EncodeError, EncodedRecord, EventContext, EventEncoder, TableChangedFuture};

/// `source.version`: pgcdc's own version, marked so that nobody mistakes it for a
/// Debezium release.
pub const SOURCE_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-pgcdc");

/// The settings of the connector that shape its records.
#[derive(Debug, Clone)]
pub struct EncoderSettings {
    pub topic_prefix: String,
    pub database: String,
    pub modes: ValueModes,
    pub records: RecordOptions,
    pub skipped: SkippedOperations,
    pub transaction_metadata: bool,
    pub heartbeat_topic: String,
    /// `heartbeat.interval.ms` is set.
    pub heartbeats: bool,
    pub key_converter: ConverterChoice,
    pub value_converter: ConverterChoice,
    config: Arc<PostgresConnectorConfig>,
}

impl EncoderSettings {
    pub fn from_config(config: &PostgresConnectorConfig) -> Result<EncoderSettings, String> {
        let choice = |converter: &Converter| match converter {
            Converter::Json { schemas_enable } => ConverterChoice::Json(JsonConverter {
                schemas_enable: *schemas_enable,
                ..JsonConverter::default()
            }),
            Converter::Avro { config, .. } => ConverterChoice::Avro(config.clone()),
        };
        Ok(EncoderSettings {
            topic_prefix: config.topic_prefix.clone(),
            database: config.database.dbname.clone(),
            modes: config.value_modes.clone(),
            records: RecordOptions {
                tombstones_on_delete: config.tombstones_on_delete,
            },
            skipped: config.skipped_operations,
            transaction_metadata: config.provide_transaction_metadata,
            heartbeats: config.heartbeat_interval.is_some(),
            heartbeat_topic: heartbeat::topic(
                &config.heartbeat_topics_prefix,
                &config.topic_prefix,
            ),
            key_converter: choice(&config.key_converter),
            value_converter: choice(&config.value_converter),
            config: Arc::new(config.clone()),
        })
    }

    /// `<topic.prefix>.transaction`.
    pub fn transaction_topic(&self) -> String {
        format!("{}.transaction", self.topic_prefix)
    }
}

/// The converter of one side (key or value), as configured.
#[derive(Debug, Clone)]
pub enum ConverterChoice {
    Json(JsonConverter),
    Avro(Box<AvroConverterConfig>),
}

/// A converter at work: Avro ones register schemas and remember their ids.
#[derive(Debug)]
enum RecordConverter {
    Json(JsonConverter),
    Avro(Box<AvroConverter>),
}

impl RecordConverter {
    fn new(choice: &ConverterChoice) -> Result<RecordConverter, AvroError> {
        Ok(match choice {
            ConverterChoice::Json(json) => RecordConverter::Json(*json),
            ConverterChoice::Avro(config) => {
                RecordConverter::Avro(Box::new(AvroConverter::new((**config).clone())?))
            }
        })
    }

    /// What records of `schema` on `topic` need, computed once: the registered id
    /// (Avro), the schema's JSON (JsonConverter with `schemas.enable`).
    async fn prepare(
        &mut self,
        topic: &str,
        is_key: bool,
        schema: Option<&Schema>,
    ) -> Result<Prepared, AvroError> {
        match (self, schema) {
            (RecordConverter::Avro(avro), Some(schema)) => Ok(Prepared {
                id: Some(avro.prepare(topic, is_key, schema).await?),
                schema_json: None,
            }),
            (RecordConverter::Json(json), Some(schema)) if json.schemas_enable => Ok(Prepared {
                id: None,
                schema_json: json.schema_to_json(schema).ok(),
            }),
            _ => Ok(Prepared::default()),
        }
    }

    /// The record side's bytes; `None` for a null side (tombstone value, no key).
    fn convert(
        &self,
        prepared: &Prepared,
        schema: Option<&Schema>,
        value: &Option<Value>,
    ) -> Result<Option<Vec<u8>>, String> {
        let (Some(schema), Some(value)) = (schema, value) else {
            return Ok(None);
        };
        match self {
            RecordConverter::Json(json) => match &prepared.schema_json {
                Some(schema_json) => json
                    .record_with_schema_json(schema, schema_json, value)
                    .map(Some),
                None => json.from_connect_data(Some(schema), value),
            }
            .map_err(|e| e.to_string()),
            RecordConverter::Avro(avro) => {
                let id = prepared
                    .id
                    .ok_or("the Avro schema was not registered before its first record")?;
                let mut out = Vec::with_capacity(256);
                avro.encode(id, schema, value, &mut out)
                    .map_err(|e| e.to_string())?;
                Ok(Some(out))
            }
        }
    }
}

/// Both sides' converters.
#[derive(Debug)]
struct Converters {
    key: RecordConverter,
    value: RecordConverter,
}

/// What one side's converter computed once for a schema.
#[derive(Debug, Clone, Default)]
struct Prepared {
    id: Option<SchemaId>,
    schema_json: Option<String>,
}

/// Both sides of one topic, prepared.
#[derive(Debug, Clone, Default)]
struct SchemaIds {
    key: Prepared,
    value: Prepared,
}

impl Converters {
    async fn prepare(
        &mut self,
        topic: &str,
        key: Option<&Schema>,
        value: &Schema,
    ) -> Result<SchemaIds, AvroError> {
        Ok(SchemaIds {
            key: self.key.prepare(topic, true, key).await?,
            value: self.value.prepare(topic, false, Some(value)).await?,
        })
    }
}

/// One captured table, ready to convert rows.
struct TableState {
    events: TableEvents,
    topic: String,
    ids: SchemaIds,
    /// The positions, in the stream's row images, of the captured columns.
    captured: Vec<usize>,
}

/// The open transaction's metadata bookkeeping (`provide.transaction.metadata`).
struct OpenTransaction {
    xid: u32,
    ts_ms: i64,
    /// Created at the first change, when the BEGIN record goes out; taken out while
    /// an event uses it.
    state: Option<TransactionState>,
    /// Whether the BEGIN record went out.
    begun: bool,
    /// Tables in the order their first event came (the END record's order).
    tables: Vec<String>,
}

pub struct DebeziumEncoder {
    settings: EncoderSettings,
    catalog: Client,
    metrics: Arc<TaskMetrics>,
    converters: Converters,
    transaction_ids: SchemaIds,
    heartbeat_ids: SchemaIds,
    tables: HashMap<Oid, TableState>,
    transaction: Option<OpenTransaction>,
}

impl std::fmt::Debug for DebeziumEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebeziumEncoder")
            .field("topic_prefix", &self.settings.topic_prefix)
            .field("tables", &self.tables.len())
            .finish_non_exhaustive()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl DebeziumEncoder {
    /// An encoder; with Avro it registers the transaction and heartbeat schemas
    /// first, so a registry that cannot be reached fails the start, not a record.
    pub async fn new(
        settings: EncoderSettings,
        catalog: Client,
    ) -> Result<DebeziumEncoder, EncodeError> {
        let startup_error = |e: AvroError| EncodeError {
            table: "(connector start)".to_owned(),
            lsn: Lsn(0),
            retriable: e.is_retriable(),
            reason: e.to_string(),
        };
        let mut converters = Converters {
            key: RecordConverter::new(&settings.key_converter).map_err(startup_error)?,
            value: RecordConverter::new(&settings.value_converter).map_err(startup_error)?,
        };
        let transaction_ids = if settings.transaction_metadata {
            converters
                .prepare(
                    &settings.transaction_topic(),
                    Some(&metadata_key_schema()),
                    &metadata_value_schema(),
                )
                .await
                .map_err(startup_error)?
        } else {
            SchemaIds::default()
        };
        let heartbeat_ids = if settings.heartbeats {
            converters
                .prepare(
                    &settings.heartbeat_topic,
                    Some(&heartbeat::key_schema()),
                    &heartbeat::value_schema(),
                )
                .await
                .map_err(startup_error)?
        } else {
            SchemaIds::default()
        };
        Ok(DebeziumEncoder {
            settings,
            catalog,
            metrics: Arc::default(),
            converters,
            transaction_ids,
            heartbeat_ids,
            tables: HashMap::new(),
            transaction: None,
        })
    }

    /// Counts events and records into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<TaskMetrics>) -> DebeziumEncoder {
        self.metrics = metrics;
        self
    }

    pub fn settings(&self) -> &EncoderSettings {
        &self.settings
    }

    /// Builds (or rebuilds) a table's schemas from its definition and the catalog.
    pub async fn describe(&mut self, table: &TableSchema) -> Result<(), EncodeError> {
        let relation = &table.relation;
        let schema_name = relation.schema_name().to_owned();
        // The catalog connection failing is worth a restart.
        let error = |reason: String| EncodeError {
            table: table.qualified_name(),
            lsn: Lsn(0),
            reason,
            retriable: true,
        };
        let catalogs = column_catalogs(&self.catalog, relation.oid)
            .await
            .map_err(|e| error(format!("reading the catalog: {e}")))?;
        let config = &self.settings.config;
        let key_columns = config
            .message_key_columns
            .for_table(&schema_name, &relation.name);
        let mut captured = Vec::new();
        let mut columns = Vec::new();
        for (index, column) in relation.columns.iter().enumerate() {
            if !config
                .filters
                .captures_column(&schema_name, &relation.name, &column.name)
            {
                continue;
            }
            let mut catalog = catalogs.get(&column.name).cloned().unwrap_or_default();
            if let Some(keys) = key_columns {
                catalog.primary_key_position = keys.iter().position(|k| k == &column.name);
            }
            let propagate = config
                .column_propagate_source_type
                .as_ref()
                .is_some_and(|p| {
                    p.matches(&format!("{schema_name}.{}.{}", relation.name, column.name))
                });
            let resolved = table.column_types[index];
            columns.push(describe_column(
                &column.name,
                resolved,
                &catalog,
                &self.settings.modes,
                propagate,
            ));
            captured.push(index);
        }
        let id = TableId::new(
            self.settings.topic_prefix.as_str(),
            schema_name.as_str(),
            relation.name.as_str(),
        );
        let topic = id.topic();
        let events = TableEvents::new(
            id,
            columns,
            self.settings.modes.clone(),
            self.settings.records,
        );
        let schemas = events.schemas();
        let ids = self
            .converters
            .prepare(&topic, schemas.key.as_ref(), &schemas.envelope)
            .await
            .map_err(|e| EncodeError {
                table: table.qualified_name(),
                lsn: Lsn(0),
                retriable: e.is_retriable(),
                reason: e.to_string(),
            })?;
        tracing::info!(table = %table.qualified_name(), %topic, columns = captured.len(), "table schema built");
        self.tables.insert(
            relation.oid,
            TableState {
                events,
                topic,
                ids,
                captured,
            },
        );
        Ok(())
    }

    /// The records of a snapshot row of a table [`Self::describe`]d before.
    /// Encodes one snapshot row into `out` without counting it (a resumed snapshot
    /// skips rows Kafka already holds; [`DebeziumEncoder::count_snapshot_row`]
    /// counts the ones sent).
    pub fn snapshot_row(
        &mut self,
        table: &TableSchema,
        tuple: &TupleData,
        source: &SourceInfo,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        let state = self.state(table, Lsn(source.lsn.unwrap_or(0)))?;
        let cells = captured_cells(table, tuple, &state.captured)
            .map_err(|reason| encode_error(table, source.lsn, reason))?;
        let context = RecordContext {
            source,
            processed_at_ns: now_ns(),
            transaction: None,
        };
        let records = state
            .events
            .records(RowEvent::Read { row: &cells }, context)
            .map_err(|e| encode_error(table, source.lsn, e.to_string()))?;
        push_records(&self.converters, state, &records, out)
            .map_err(|reason| encode_error(table, source.lsn, reason))
    }

    /// Counts a snapshot row sent as `records` records.
    pub fn count_snapshot_row(&self, table: &TableSchema, records: usize) {
        self.metrics.event(&table.qualified_name(), "r", None);
        self.metrics
            .records_produced
            .fetch_add(records as u64, Ordering::Relaxed);
    }

    fn state(&self, table: &TableSchema, lsn: Lsn) -> Result<&TableState, EncodeError> {
        self.tables
            .get(&table.relation.oid)
            .ok_or_else(|| EncodeError {
                table: table.qualified_name(),
                lsn,
                reason: "a row before the table's definition".to_owned(),
                retriable: false,
            })
    }

    fn source(&self, table: &TableSchema, context: &EventContext) -> SourceInfo {
        SourceInfo {
            version: SOURCE_VERSION.to_owned(),
            name: self.settings.topic_prefix.clone(),
            ts_us: context.commit_time.to_unix_micros(),
            snapshot: SnapshotMarker::False,
            db: self.settings.database.clone(),
            sequence: Some(sequence(
                context.previous_commit_lsn.map(|l| l.0),
                context.event_lsn.0,
            )),
            schema: table.relation.schema_name().to_owned(),
            table: table.relation.name.clone(),
            tx_id: Some(i64::from(context.xid.0)),
            lsn: Some(context.event_lsn.0),
            xmin: None,
            origin: None,
            origin_lsn: None,
        }
    }

    /// The open transaction's metadata state, taken out for one event of `table` (give
    /// it back with [`Self::restore_transaction`]); at the transaction's first change
    /// this writes the BEGIN record.
    fn take_transaction(
        &mut self,
        context: &EventContext,
        table: &str,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<Option<TransactionState>, EncodeError> {
        self.transaction_reached(context, out)?;
        let Some(open) = self.transaction.as_mut() else {
            return Ok(None);
        };
        if !open.tables.iter().any(|t| t == table) {
            open.tables.push(table.to_owned());
        }
        Ok(open.state.take().map(|mut state| {
            state.move_to(context.event_lsn.0);
            state
        }))
    }

    /// A change of the open transaction reached the connector, whether or not it is
    /// published: at the first, this writes the BEGIN record. Debezium writes BEGIN
    /// when pgoutput's Begin arrives, and PostgreSQL (15 and later) sends Begin just
    /// before a transaction's first change, at that change's LSN — so a transaction
    /// whose changes are all skipped (`skipped.operations`) or of tables not captured
    /// (a publication wider than `table.include.list`) still has its BEGIN, and an END
    /// with no events.
    fn transaction_reached(
        &mut self,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        if !self.settings.transaction_metadata {
            return Ok(());
        }
        let Some(open) = self.transaction.as_mut() else {
            return Ok(());
        };
        if open.begun {
            return Ok(());
        }
        open.begun = true;
        let state = TransactionState::new(open.xid, context.event_lsn.0);
        let begin = TransactionMetadata::Begin {
            id: state.id().to_owned(),
            ts_ms: open.ts_ms,
        };
        open.state = Some(state);
        out.push(self.metadata_record(&begin).map_err(|reason| EncodeError {
            table: self.settings.transaction_topic(),
            lsn: context.event_lsn,
            reason,
            retriable: false,
        })?);
        Ok(())
    }

    fn restore_transaction(&mut self, state: Option<TransactionState>) {
        if let (Some(state), Some(open)) = (state, self.transaction.as_mut()) {
            open.state = Some(state);
        }
    }
}

impl DebeziumEncoder {
    fn count(&self, table: &str, op: &'static str, context: &EventContext, records: usize) {
        let source_ms = context.commit_time.to_unix_micros().div_euclid(1000);
        self.metrics
            .streamed_event(table, op, context.commit_lsn.0, source_ms);
        self.metrics
            .records_produced
            .fetch_add(records as u64, Ordering::Relaxed);
    }
}

fn encode_error(table: &TableSchema, lsn: Option<u64>, reason: String) -> EncodeError {
    EncodeError {
        table: table.qualified_name(),
        lsn: Lsn(lsn.unwrap_or(0)),
        reason,
        retriable: false,
    }
}

/// The captured columns of a row image, parsed.
///
/// Sized up front: collecting a `Result` iterator starts a `Vec` at four cells and
/// grows it twice for a nine-column row, and at sixteen cells the request is large
/// enough that glibc consolidates its free lists on every row (about a tenth of the
/// connector's CPU in `bench/run connector`'s snapshot, before this).
fn captured_cells<'a>(
    table: &'a TableSchema,
    tuple: &'a TupleData,
    captured: &[usize],
) -> Result<Vec<Cell<'a>>, String> {
    let row = RowValues::new(table, tuple);
    let mut cells = Vec::with_capacity(captured.len());
    for &i in captured {
        cells.push(
            row.cell(i)
                .unwrap_or(Ok(Cell::Null))
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(cells)
}

fn image_cells<'a>(
    table: &'a TableSchema,
    tuple: Option<&'a TupleData>,
    captured: &[usize],
    lsn: Option<u64>,
) -> Result<Option<Vec<Cell<'a>>>, EncodeError> {
    tuple
        .map(|t| captured_cells(table, t, captured))
        .transpose()
        .map_err(|reason| encode_error(table, lsn, reason))
}

fn push_records(
    converters: &Converters,
    state: &TableState,
    records: &[Record],
    out: &mut Vec<EncodedRecord>,
) -> Result<(), String> {
    let schemas = state.events.schemas();
    for record in records {
        out.push(EncodedRecord {
            topic: state.topic.clone(),
            key: converters
                .key
                .convert(&state.ids.key, schemas.key.as_ref(), &record.key)?,
            value: converters.value.convert(
                &state.ids.value,
                Some(&schemas.envelope),
                &record.value,
            )?,
        });
    }
    Ok(())
}

impl DebeziumEncoder {
    fn metadata_record(&self, metadata: &TransactionMetadata) -> Result<EncodedRecord, String> {
        Ok(EncodedRecord {
            topic: self.settings.transaction_topic(),
            key: self.converters.key.convert(
                &self.transaction_ids.key,
                Some(&metadata_key_schema()),
                &Some(metadata.key()),
            )?,
            value: self.converters.value.convert(
                &self.transaction_ids.value,
                Some(&metadata_value_schema()),
                &Some(metadata.value()),
            )?,
        })
    }
}

impl EventEncoder for DebeziumEncoder {
    fn table_changed<'a>(&'a mut self, table: &'a Arc<TableSchema>) -> TableChangedFuture<'a> {
        Box::pin(self.describe(table))
    }

    fn begin(
        &mut self,
        context: &EventContext,
        _out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        self.transaction = Some(OpenTransaction {
            xid: context.xid.0,
            ts_ms: context.commit_time.to_unix_micros().div_euclid(1000),
            state: None,
            begun: false,
            tables: Vec::new(),
        });
        Ok(())
    }

    fn row(
        &mut self,
        change: &RowChange,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        let skipped = match change.op {
            RowOp::Insert => self.settings.skipped.create,
            RowOp::Update => self.settings.skipped.update,
            RowOp::Delete => self.settings.skipped.delete,
        };
        if skipped {
            return self.transaction_reached(context, out);
        }
        let table = &change.table;
        let lsn = Some(context.event_lsn.0);
        let source = self.source(table, context);
        let name = table.qualified_name();
        let mut state_out = Vec::new();
        let mut transaction = self.take_transaction(context, &name, &mut state_out)?;
        let result = (|| {
            let state = self.state(table, context.event_lsn)?;
            let new = image_cells(table, change.new.as_ref(), &state.captured, lsn)?;
            let old = image_cells(
                table,
                change.old.as_ref().map(|(_, t)| t),
                &state.captured,
                lsn,
            )?;
            let event = match (change.op, &old, &new) {
                (RowOp::Insert, _, Some(new)) => RowEvent::Insert { new },
                (RowOp::Update, old, Some(new)) => RowEvent::Update {
                    old: old.as_deref(),
                    new,
                },
                (RowOp::Delete, Some(old), _) => RowEvent::Delete { old },
                _ => {
                    return Err(encode_error(
                        table,
                        lsn,
                        format!("a {:?} without the row image it needs", change.op),
                    ))
                }
            };
            let record_context = RecordContext {
                source: &source,
                processed_at_ns: now_ns(),
                transaction: transaction.as_mut(),
            };
            let records = state
                .events
                .records(event, record_context)
                .map_err(|e| encode_error(table, lsn, e.to_string()))?;
            push_records(&self.converters, state, &records, &mut state_out)
                .map_err(|reason| encode_error(table, lsn, reason))
        })();
        self.restore_transaction(transaction);
        result?;
        let op = match change.op {
            RowOp::Insert => "c",
            RowOp::Update => "u",
            RowOp::Delete => "d",
        };
        self.count(&name, op, context, state_out.len());
        out.append(&mut state_out);
        Ok(())
    }

    fn truncate(
        &mut self,
        table: &TableSchema,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        if self.settings.skipped.truncate {
            return self.transaction_reached(context, out);
        }
        let lsn = Some(context.event_lsn.0);
        let source = self.source(table, context);
        let name = table.qualified_name();
        let mut records_out = Vec::new();
        let mut transaction = self.take_transaction(context, &name, &mut records_out)?;
        let pushed = self.state(table, context.event_lsn).and_then(|state| {
            let record = state.events.truncate_record(RecordContext {
                source: &source,
                processed_at_ns: now_ns(),
                transaction: transaction.as_mut(),
            });
            push_records(&self.converters, state, &[record], &mut records_out)
                .map_err(|reason| encode_error(table, lsn, reason))
        });
        self.restore_transaction(transaction);
        pushed?;
        self.count(&name, "t", context, records_out.len());
        out.append(&mut records_out);
        Ok(())
    }

    fn not_captured(
        &mut self,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        self.transaction_reached(context, out)
    }

    fn commit(
        &mut self,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        let Some(open) = self.transaction.take() else {
            return Ok(());
        };
        let Some(state) = open.state else {
            return Ok(());
        };
        let counts = state.event_counts();
        // Debezium keeps the counts in a Java HashMap and writes them in its order.
        let names: Vec<&str> = open.tables.iter().map(String::as_str).collect();
        let end = TransactionMetadata::End {
            id: transaction_id(open.xid, context.event_lsn.0),
            ts_ms: open.ts_ms,
            data_collections: hashmap_iteration_order(&names)
                .into_iter()
                .map(|i| {
                    (
                        names[i].to_owned(),
                        counts.get(names[i]).copied().unwrap_or(0),
                    )
                })
                .collect(),
        };
        out.push(self.metadata_record(&end).map_err(|reason| EncodeError {
            table: self.settings.transaction_topic(),
            lsn: context.commit_lsn,
            reason,
            retriable: false,
        })?);
        Ok(())
    }

    fn heartbeat(&mut self, out: &mut Vec<EncodedRecord>) {
        let ts_ms = now_ns().div_euclid(1_000_000);
        let record = (|| {
            Ok::<_, String>(EncodedRecord {
                topic: self.settings.heartbeat_topic.clone(),
                key: self.converters.key.convert(
                    &self.heartbeat_ids.key,
                    Some(&heartbeat::key_schema()),
                    &Some(heartbeat::key(&self.settings.topic_prefix)),
                )?,
                value: self.converters.value.convert(
                    &self.heartbeat_ids.value,
                    Some(&heartbeat::value_schema()),
                    &Some(heartbeat::value(ts_ms)),
                )?,
            })
        })();
        match record {
            Ok(record) => {
                out.push(record);
                self.metrics
                    .last_heartbeat_ms
                    .store(ts_ms, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat record not encoded"),
        }
    }
}
