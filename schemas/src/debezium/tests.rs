//! The mapping against the oracle: for every fixture and captured table, the key and
//! envelope schemas built here serialize to exactly the bytes Debezium's records held.

use crate::connect::{Schema, SchemaKind, Value};
use crate::fixtures::{self, Fixture, FixtureTable};
use crate::json::JsonConverter;

use super::table::{TableId, TableSchemas};
use super::ColumnDescription;

/// The schema a table's streamed records use (Debezium may use another one for its
/// snapshot records, see `source_type`), by the name the fixture stores it under.
fn streamed_schema_name(fixture: &Fixture, table: &str, key: bool) -> Option<String> {
    fixture
        .events
        .iter()
        .filter(|e| e.table == table && e.op != "snapshot")
        .flat_map(|e| &e.records)
        .filter_map(|r| {
            if key {
                r.key.as_ref()
            } else {
                r.value.as_ref()
            }
        })
        .find_map(|side| side.schema.clone())
}

/// Debezium derives a column's default from its DEFAULT expression; turning the
/// expression into a value is the connector's job (tested there). Here the default is
/// taken from the fixture's own schema, so that everything else is checked exactly.
fn default_from_fixture(field_schema: &Schema, fixture_field: &serde_json::Value) -> Option<Value> {
    let default = fixture_field.get("default")?;
    Some(match (&field_schema.kind, default) {
        (SchemaKind::Int16, d) => Value::Int16(d.as_i64()? as i16),
        (SchemaKind::Int32, d) => Value::Int32(d.as_i64()? as i32),
        (SchemaKind::Int64, d) => Value::Int64(d.as_i64()?),
        (SchemaKind::Float64, d) => Value::Float64(d.as_f64()?),
        (SchemaKind::String, d) => Value::from(d.as_str()?),
        (SchemaKind::Bytes, d) => Value::Bytes(base64_decode(d.as_str()?)),
        _ => return None,
    })
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for b in text.bytes().filter(|&b| b != b'=') {
        let index = ALPHABET.iter().position(|&a| a == b).expect("base64") as u32;
        bits = (bits << 6) | index;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

fn table_schemas(fixture: &Fixture, table: &FixtureTable) -> TableSchemas {
    let modes = fixture.value_modes();
    let mut columns: Vec<ColumnDescription> = table
        .columns
        .iter()
        .map(|c| fixture.column_description(c))
        .collect();
    // Defaults, from the fixture's streamed row schema.
    let envelope_name = streamed_schema_name(fixture, &table.name, false).expect("records");
    let envelope: serde_json::Value =
        serde_json::from_str(&fixture.schema(&envelope_name)).expect("json");
    let row_fields = envelope["fields"][0]["fields"]
        .as_array()
        .expect("fields")
        .clone();
    for column in &mut columns {
        let Some(field) = row_fields
            .iter()
            .find(|f| f["field"] == column.name.as_str())
        else {
            continue;
        };
        if let Some(schema) = super::value_field_schema(column, &modes) {
            column.default = default_from_fixture(&schema, field);
        }
    }
    TableSchemas::new(
        TableId::new(
            fixture.topic_prefix.clone(),
            table.schema.clone(),
            table.name.clone(),
        ),
        &columns,
        &modes,
    )
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| json.to_owned())
}

#[test]
fn every_table_schema_matches_debezium() {
    let converter = JsonConverter::default();
    let mut checked = 0;
    for (stem, fixture) in fixtures::all() {
        for table in &fixture.tables {
            let schemas = table_schemas(&fixture, table);
            let envelope_name = streamed_schema_name(&fixture, &table.name, false).expect("values");
            let expected = fixture.schema(&envelope_name);
            let actual = converter.schema_to_json(&schemas.envelope).expect("schema");
            assert!(
                actual == expected,
                "{stem}: envelope of {} differs\n--- pgcdc\n{}\n--- Debezium\n{}",
                table.name,
                pretty(&actual),
                pretty(&expected)
            );
            let key_name = streamed_schema_name(&fixture, &table.name, true).expect("keys");
            let expected = fixture.schema(&key_name);
            let actual = converter
                .schema_to_json(schemas.key.as_ref().expect("tables have keys"))
                .expect("schema");
            assert_eq!(actual, expected, "{stem}: key of {}", table.name);
            checked += 1;
        }
    }
    assert!(checked >= 20, "checked {checked} tables");
}

#[test]
fn transaction_topic_schemas_match_debezium() {
    let fixture = fixtures::load("transaction_metadata");
    let converter = JsonConverter::default();
    let schema = |name: &str| fixtures::compact(fixture.transaction_schemas[name].get());
    assert_eq!(
        converter
            .schema_to_json(&super::transaction::metadata_key_schema())
            .expect("schema"),
        schema(super::transaction::METADATA_KEY_NAME)
    );
    assert_eq!(
        converter
            .schema_to_json(&super::transaction::metadata_value_schema())
            .expect("schema"),
        schema(super::transaction::METADATA_VALUE_NAME)
    );
}

/// The records of the `<prefix>.transaction` topic: BEGIN under `xid:begin LSN`, END
/// under `xid:commit end LSN`, both at the commit time, END with the event counts.
#[test]
fn transaction_topic_records_match_debezium() {
    use super::transaction::{metadata_key_schema, metadata_value_schema, transaction_id};
    use super::TransactionMetadata;
    let fixture = fixtures::load("transaction_metadata");
    let converter = JsonConverter::default();
    let schema = |name: &Option<String>| {
        fixtures::compact(fixture.transaction_schemas[name.as_deref().expect("schema")].get())
    };
    let mut expected = fixture.transaction_records.iter();
    for t in &fixture.transactions {
        let ts_ms = t.commit_time_us.div_euclid(1000);
        let mut counts: Vec<(String, i64)> = Vec::new();
        for event in fixture
            .events
            .iter()
            .filter(|e| e.position.as_ref().is_some_and(|p| p.xid == t.xid))
        {
            let table = fixture.table(&event.table);
            let name = format!("{}.{}", table.schema, table.name);
            let n = event.records.iter().filter(|r| r.value.is_some()).count() as i64;
            match counts.iter_mut().find(|(t, _)| *t == name) {
                Some(entry) => entry.1 += n,
                None => counts.push((name, n)),
            }
        }
        let records = [
            TransactionMetadata::Begin {
                id: transaction_id(t.xid, fixtures::parse_lsn(&t.begin_lsn)),
                ts_ms,
            },
            TransactionMetadata::End {
                id: transaction_id(t.xid, fixtures::parse_lsn(&t.commit_end_lsn)),
                ts_ms,
                data_collections: counts.clone(),
            },
        ];
        for record in records {
            let recorded = expected.next().expect("a recorded transaction record");
            let key = recorded.key.as_ref().expect("key");
            let value = recorded.value.as_ref().expect("value");
            let bytes = |schema: &Schema, value: &Value| {
                String::from_utf8(
                    converter
                        .from_connect_data(Some(schema), value)
                        .expect("converts")
                        .expect("bytes"),
                )
                .expect("utf-8")
            };
            assert_eq!(
                bytes(&metadata_key_schema(), &record.key()),
                format!(
                    "{{\"schema\":{},\"payload\":{}}}",
                    schema(&key.schema),
                    key.payload()
                )
            );
            assert_eq!(
                bytes(&metadata_value_schema(), &record.value()),
                format!(
                    "{{\"schema\":{},\"payload\":{}}}",
                    schema(&value.schema),
                    value.payload()
                )
            );
        }
    }
    assert!(expected.next().is_none(), "unmatched transaction records");
}
