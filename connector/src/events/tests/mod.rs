//! The events layer against the oracle. For every fixture in `tests/fixtures/debezium/`
//! (one Debezium 3.7.0 connector per mode combination), every change and every column:
//! the input is what pgoutput sent (the column text, NULL, or an unchanged-TOAST
//! marker), parsed by `values::parse_text`; the expected output is the record Debezium
//! wrote. `every_field_matches_debezium` compares column by column (readable
//! failures), `every_record_matches_debezium` whole records, byte for byte.

mod fixture_table;

use std::collections::BTreeMap;

use pgcdc_schemas::connect::Value;
use pgcdc_schemas::fixtures::{self, compact, Fixture};
use pgcdc_schemas::json::JsonConverter;
use serde_json::value::RawValue;

use fixture_table::{cells, FixtureTable};

use super::convert::ReadPath;

type Members = BTreeMap<String, Box<RawValue>>;

fn members(json: &str) -> Option<Members> {
    if json == "null" {
        return None;
    }
    Some(serde_json::from_str(json).expect("a JSON object"))
}

#[test]
fn every_field_matches_debezium() {
    let converter = JsonConverter::default();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (stem, fixture) in fixtures::all() {
        let tables = FixtureTable::all(&fixture);
        for event in &fixture.events {
            let table = &tables[&event.table];
            let path = if event.op == "snapshot" {
                ReadPath::Snapshot
            } else {
                ReadPath::Streaming
            };
            let old_cells = event
                .old
                .as_ref()
                .map(|o| cells(&table.types, &table.fixture_columns, &o.columns));
            let new_cells = event
                .new
                .as_ref()
                .map(|n| cells(&table.types, &table.fixture_columns, n));
            let old_values = old_cells.as_ref().map(|c| {
                table
                    .events
                    .row_values(c, path, None)
                    .expect("old row converts")
            });
            let new_values = new_cells.as_ref().map(|c| {
                table
                    .events
                    .row_values(c, path, old_cells.as_deref().zip(old_values.as_deref()))
                    .expect("new row converts")
            });
            for record in &event.records {
                let Some(value) = &record.value else { continue };
                let envelope = members(&value.payload()).expect("envelope");
                for (side, values) in [("before", &old_values), ("after", &new_values)] {
                    let Some(expected_row) = members(&compact(envelope[side].get())) else {
                        continue;
                    };
                    let values = values.as_ref().unwrap_or_else(|| {
                        panic!(
                            "{stem}: {}: Debezium has a {side} image, the input none",
                            event.label
                        )
                    });
                    let schemas = table.events.schemas();
                    for (i, column) in table.events.columns().iter().enumerate() {
                        let Some(field) = schemas.value_columns[i] else {
                            continue;
                        };
                        let field_schema = &schemas.value.fields()[field].schema;
                        let actual = converter
                            .value_to_json(field_schema, &values[i])
                            .unwrap_or_else(|e| format!("<{e}>"));
                        let expected = compact(expected_row[&column.name].get());
                        checked += 1;
                        if actual != expected {
                            failures.push(format!(
                                "{stem}: {} ({}), {side}.{}: input {:?}\n    pgcdc    {actual}\n    Debezium {expected}",
                                event.label,
                                event.table,
                                column.name,
                                input_text(event, side, &column.name),
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} fields differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 3000, "only {checked} fields checked");
}

fn input_text(event: &fixtures::FixtureEvent, side: &str, column: &str) -> String {
    let image = if side == "before" {
        event.old.as_ref().map(|o| &o.columns)
    } else {
        event.new.as_ref()
    };
    format!("{:?}", image.and_then(|i| i.get(column)))
}

/// The `source` block of an event, from the change's position in the stream, as the
/// connector tracks it (the previous transaction's commit end is `sequence[0]`).
/// Snapshot records take their read time and LSN from the fixture: the snapshot's own
/// position is not among the inputs.
fn source_for(
    fixture: &Fixture,
    event: &fixtures::FixtureEvent,
    last_commit_end: Option<u64>,
    recorded_source: &Members,
) -> pgcdc_schemas::debezium::SourceInfo {
    use pgcdc_schemas::debezium::source::sequence;
    use pgcdc_schemas::debezium::{SnapshotMarker, SourceInfo};
    let number = |name: &str| recorded_source[name].get().parse::<i64>().ok();
    let table = fixture.table(&event.table);
    let (ts_us, snapshot, tx_id, lsn, sequence) = match &event.position {
        Some(p) => {
            let lsn = fixtures::parse_lsn(&p.lsn);
            (
                p.commit_time_us,
                SnapshotMarker::False,
                Some(i64::from(p.xid)),
                Some(lsn),
                Some(sequence(last_commit_end, lsn)),
            )
        }
        None => {
            let lsn = number("lsn").expect("snapshot lsn") as u64;
            (
                number("ts_us").expect("ts_us"),
                SnapshotMarker::Last,
                number("txId"),
                Some(lsn),
                Some(sequence(None, lsn)),
            )
        }
    };
    SourceInfo {
        version: fixture.debezium_version.clone(),
        name: fixture.topic_prefix.clone(),
        ts_us,
        snapshot,
        db: fixture.database.clone(),
        sequence,
        schema: table.schema.clone(),
        table: table.name.clone(),
        tx_id,
        lsn,
        xmin: None,
        origin: None,
        origin_lsn: None,
    }
}

#[test]
fn every_record_matches_debezium() {
    use super::record::{EventContext, RowEvent, TransactionState};
    let converter = JsonConverter::default();
    let mut checked = 0;
    for (stem, fixture) in fixtures::all() {
        let tables = FixtureTable::all(&fixture);
        let metadata = fixture
            .properties
            .get("provide.transaction.metadata")
            .is_some_and(|v| v == "true");
        let mut current_xid = None;
        let mut transaction: Option<TransactionState> = None;
        for event in fixture.events_in_stream_order() {
            let table = &tables[&event.table];
            let last_commit_end = event
                .position
                .as_ref()
                .and_then(|p| fixture.previous_commit_end(p.xid));
            if let Some(p) = &event.position {
                if current_xid != Some(p.xid) {
                    current_xid = Some(p.xid);
                    transaction = metadata
                        .then(|| TransactionState::new(p.xid, fixtures::parse_lsn(&p.begin_lsn)));
                }
            }
            let first_value = event
                .records
                .iter()
                .find_map(|r| r.value.as_ref())
                .expect("a value record");
            let envelope = members(&first_value.payload()).expect("envelope");
            let recorded_source = members(&compact(envelope["source"].get())).expect("source");
            let processed_at_ns: i64 = envelope["ts_ns"].get().parse().expect("ts_ns");
            let source = source_for(&fixture, event, last_commit_end, &recorded_source);

            let old = event
                .old
                .as_ref()
                .map(|o| cells(&table.types, &table.fixture_columns, &o.columns));
            let new = event
                .new
                .as_ref()
                .map(|n| cells(&table.types, &table.fixture_columns, n));
            let context = EventContext {
                source: &source,
                processed_at_ns,
                transaction: transaction.as_mut(),
            };
            let records = match event.op.as_str() {
                "snapshot" => table.events.records(
                    RowEvent::Read {
                        row: new.as_deref().expect("row"),
                    },
                    context,
                ),
                "insert" => table.events.records(
                    RowEvent::Insert {
                        new: new.as_deref().expect("new"),
                    },
                    context,
                ),
                "update" => table.events.records(
                    RowEvent::Update {
                        old: old.as_deref(),
                        new: new.as_deref().expect("new"),
                    },
                    context,
                ),
                "delete" => table.events.records(
                    RowEvent::Delete {
                        old: old.as_deref().expect("old"),
                    },
                    context,
                ),
                "truncate" => Ok(vec![table.events.truncate_record(context)]),
                other => panic!("op {other}"),
            }
            .expect("records");

            assert_eq!(
                records.len(),
                event.records.len(),
                "{stem}: {} ({}): number of records",
                event.label,
                event.table
            );
            for (n, (record, expected)) in records.iter().zip(&event.records).enumerate() {
                // A record's envelope ts_* is processing time: each record of the change
                // has its own, taken from the fixture.
                let record = match (&record.value, &expected.value) {
                    (Some(_), Some(expected_value)) => {
                        let envelope = members(&expected_value.payload()).expect("envelope");
                        let ts_ns: i64 = envelope["ts_ns"].get().parse().expect("ts_ns");
                        with_processed_at(record, ts_ns)
                    }
                    _ => record.clone(),
                };
                let bytes = table
                    .events
                    .serialize(&record, &converter)
                    .expect("serializes");
                let (key, value) = (bytes.key, bytes.value);
                let expected_key = expected.key.as_ref().map(|k| fixture.record_bytes(k));
                let expected_value = expected.value.as_ref().map(|v| fixture.record_bytes(v));
                let key = key.map(|k| String::from_utf8(k).expect("utf-8"));
                let value = value.map(|v| String::from_utf8(v).expect("utf-8"));
                assert_eq!(
                    key, expected_key,
                    "{stem}: {} ({}), record {n}: key",
                    event.label, event.table
                );
                // Known difference: Debezium's snapshot schema of an unconstrained
                // numeric with column.propagate.source.type (see
                // pgcdc_schemas::debezium::source_type); only payloads are compared.
                let (value, expected_value) =
                    if fixture.propagates_source_type() && event.op == "snapshot" {
                        (
                            value.as_deref().map(payload_of),
                            expected_value.as_deref().map(payload_of),
                        )
                    } else {
                        (value, expected_value)
                    };
                if value != expected_value {
                    let (a, b) = (
                        value.unwrap_or_default(),
                        expected_value.unwrap_or_default(),
                    );
                    let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                    let context = |s: &str| {
                        let start = s.floor_char_boundary(at.saturating_sub(200));
                        let end = s.ceil_char_boundary((at + 200).min(s.len()));
                        s[start..end].to_owned()
                    };
                    panic!(
                        "{stem}: {} ({}), record {n}: value differs at byte {at}\n--- pgcdc\n…{}…\n--- Debezium\n…{}…",
                        event.label,
                        event.table,
                        context(&a),
                        context(&b),
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "only {checked} records checked");
}

/// The record with its envelope's processing time replaced.
fn with_processed_at(record: &super::Record, ts_ns: i64) -> super::Record {
    let mut record = record.clone();
    if let Some(Value::Struct(fields)) = &mut record.value {
        let n = fields.len();
        fields[n - 3] = Value::Int64(ts_ns.div_euclid(1_000_000));
        fields[n - 2] = Value::Int64(ts_ns.div_euclid(1_000));
        fields[n - 1] = Value::Int64(ts_ns);
    }
    record
}

/// The payload of a record, pretty-printed for a failure message.
fn payload_of(record: &str) -> String {
    serde_json::from_str::<serde_json::Value>(record)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v["payload"]).ok())
        .unwrap_or_else(|| record.to_owned())
}
