//! One connector's fixture: its records read back from Kafka and matched to the
//! changes that produced them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use pgcdc_tests::kafka::{self, Isolation, Record};

use super::input::{Catalog, Cell, Change, ChangeKind, Column, Position, Table};
use super::json::{split_record, J};
use super::scenario::Mode;
use super::{Versions, DATABASE, TOPIC_PREFIX};

// --- the records of one connector ---------------------------------------------------

/// The records Debezium writes for one change: a key change is a delete, its tombstone
/// and a create; a delete is followed by a tombstone.
pub(crate) fn expected_records(table: &Table, change: &Change) -> usize {
    match change.kind {
        ChangeKind::Insert | ChangeKind::Truncate => 1,
        ChangeKind::Delete => 2,
        ChangeKind::Update => {
            let key_changed = change.old.as_ref().is_some_and(|(_, old)| {
                let new = change.new.as_ref().unwrap();
                table
                    .columns
                    .iter()
                    .enumerate()
                    .any(|(i, c)| c.pk_position.is_some() && old[i] != new[i])
            });
            if key_changed {
                3
            } else {
                1
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn build_fixture(
    mode: &Mode,
    prefix: &str,
    database: &str,
    catalog: &Catalog,
    seed: &HashMap<String, Vec<Cell>>,
    changes: &[Change],
    labels: &[&'static str],
    versions: &Versions,
) -> String {
    let normalize = |text: &str| {
        text.replace(prefix, TOPIC_PREFIX)
            .replace(database, DATABASE)
    };
    let mut schemas: BTreeMap<String, String> = BTreeMap::new();
    let mut events = Vec::new();
    let mut tables = Vec::new();

    for (table_name, captured) in mode.tables {
        let table = catalog.table(table_name);
        let topic = format!("{prefix}.public.{table_name}");
        let seeded = seed.get(*table_name);
        let table_changes: Vec<(usize, &Change)> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.table == *table_name)
            .collect();
        let expected = usize::from(seeded.is_some())
            + table_changes
                .iter()
                .map(|(_, c)| expected_records(table, c))
                .sum::<usize>();
        let records = kafka::read_topic(
            &topic,
            Isolation::ReadUncommitted,
            Some(expected),
            Duration::from_secs(180),
        )
        .unwrap();
        assert_eq!(
            records.len(),
            expected,
            "{}: records on {topic}: {:#?}",
            mode.name,
            records
                .iter()
                .map(|r| r.value.as_deref().map(String::from_utf8_lossy))
                .collect::<Vec<_>>()
        );
        let mut records = records.into_iter();
        let mut take = |n: usize| -> Vec<J> {
            (0..n)
                .map(|_| {
                    let record = records.next().unwrap();
                    record_json(&record, &normalize, &mut schemas)
                })
                .collect()
        };
        let kept = |label: &str| mode.keep.is_empty() || mode.keep.contains(&label);
        if let Some(cells) = seeded {
            let records = take(1);
            if kept("snapshot of the seed row") {
                events.push(J::obj([
                    ("label", J::str("snapshot of the seed row")),
                    ("table", J::str(*table_name)),
                    ("op", J::str("snapshot")),
                    ("position", J::Null),
                    ("old", J::Null),
                    ("new", row_json(table, cells, captured)),
                    ("records", J::Arr(records)),
                ]));
            }
        }
        for (index, change) in table_changes {
            let op = match change.kind {
                ChangeKind::Insert => "insert",
                ChangeKind::Update => "update",
                ChangeKind::Delete => "delete",
                ChangeKind::Truncate => "truncate",
            };
            let records = take(expected_records(table, change));
            if !kept(labels[index]) {
                continue;
            }
            let p = &change.position;
            events.push(J::obj([
                ("label", J::str(labels[index])),
                ("table", J::str(*table_name)),
                ("op", J::str(op)),
                (
                    "position",
                    J::obj([
                        ("lsn", J::str(&p.lsn)),
                        ("xid", J::num(p.xid)),
                        ("begin_lsn", J::str(&p.begin_lsn)),
                        ("commit_lsn", J::str(&p.commit_lsn)),
                        ("commit_end_lsn", J::str(&p.commit_end_lsn)),
                        ("commit_time_us", J::num(p.commit_time_us)),
                    ]),
                ),
                (
                    "old",
                    change.old.as_ref().map_or(J::Null, |(kind, cells)| {
                        J::obj([
                            ("kind", J::str(*kind)),
                            ("columns", row_json(table, cells, captured)),
                        ])
                    }),
                ),
                (
                    "new",
                    change
                        .new
                        .as_ref()
                        .map_or(J::Null, |cells| row_json(table, cells, captured)),
                ),
                ("records", J::Arr(records)),
            ]));
        }
        tables.push(table_json(table, &normalize(&topic), captured));
    }

    let mut properties: Vec<(&str, J)> = mode
        .properties
        .iter()
        .map(|(k, v)| (*k, J::str(*v)))
        .collect();
    properties.push(("snapshot.mode", J::str("initial")));
    properties.push(("skipped.operations", J::str("none")));
    let mut fixture = vec![
        (
            "debezium_version",
            J::str(pgcdc_tests::Stack::get().var("PGCDC_DEBEZIUM_VERSION")),
        ),
        ("postgres_version", J::str(&versions.postgres)),
        ("mode", J::str(mode.name)),
        (
            "properties",
            J::Obj(
                properties
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ),
        ),
        ("topic_prefix", J::str(TOPIC_PREFIX)),
        ("database", J::str(DATABASE)),
        ("types", catalog.types.clone()),
        ("tables", J::Arr(tables)),
        (
            "schemas",
            J::Obj(
                schemas
                    .into_iter()
                    .map(|(name, raw)| (name, J::Raw(raw)))
                    .collect(),
            ),
        ),
        ("transactions", transactions_json(mode, changes)),
        ("events", J::Arr(events)),
    ];
    if mode
        .properties
        .iter()
        .any(|(k, _)| *k == "provide.transaction.metadata")
    {
        let topic = format!("{prefix}.transaction");
        let records = kafka::read_topic(
            &topic,
            Isolation::ReadUncommitted,
            None,
            Duration::from_secs(60),
        )
        .unwrap();
        let mut schemas = BTreeMap::new();
        let records: Vec<J> = records
            .iter()
            .map(|r| record_json(r, &normalize, &mut schemas))
            .collect();
        fixture.push((
            "transaction_schemas",
            J::Obj(
                schemas
                    .into_iter()
                    .map(|(n, raw)| (n, J::Raw(raw)))
                    .collect(),
            ),
        ));
        fixture.push(("transaction_records", J::Arr(records)));
    }
    let mut out = String::new();
    J::Obj(
        fixture
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
    .write(&mut out, 0);
    out.push('\n');
    out
}

/// Every transaction the connector saw (those changing one of its tables), in commit
/// order, also when `keep` leaves their events out: `source.sequence` refers to the
/// previous one.
pub(crate) fn transactions_json(mode: &Mode, changes: &[Change]) -> J {
    let mut seen: Vec<&Position> = Vec::new();
    for change in changes {
        let captured = mode.tables.iter().any(|(t, _)| *t == change.table);
        if captured && seen.last().is_none_or(|p| p.xid != change.position.xid) {
            seen.push(&change.position);
        }
    }
    J::Arr(
        seen.into_iter()
            .map(|p| {
                J::obj([
                    ("xid", J::num(p.xid)),
                    ("begin_lsn", J::str(&p.begin_lsn)),
                    ("commit_lsn", J::str(&p.commit_lsn)),
                    ("commit_end_lsn", J::str(&p.commit_end_lsn)),
                    ("commit_time_us", J::num(p.commit_time_us)),
                ])
            })
            .collect(),
    )
}

pub(crate) fn is_captured(captured: &[&str], column: &Column) -> bool {
    captured.is_empty() || captured.contains(&column.name.as_str())
}

/// The table as pgoutput and the catalog describe it, limited to the columns the
/// connector captures (`column.include.list`).
pub(crate) fn table_json(table: &Table, topic: &str, captured: &[&str]) -> J {
    J::obj([
        ("schema", J::str("public")),
        ("name", J::str(&table.name)),
        ("replica_identity", J::str(&table.replica_identity)),
        ("topic", J::str(topic)),
        (
            "columns",
            J::Arr(
                table
                    .columns
                    .iter()
                    .filter(|c| is_captured(captured, c))
                    .map(|c| {
                        let key = match table.replica_identity.as_str() {
                            "f" => true,
                            _ => c.pk_position.is_some(),
                        };
                        J::obj([
                            ("name", J::str(&c.name)),
                            ("type_oid", J::num(c.type_oid)),
                            ("typmod", J::num(c.typmod)),
                            ("flags", J::num(u8::from(key))),
                            ("type_name", J::str(&c.type_name)),
                            ("udt_name", J::str(&c.udt_name)),
                            ("not_null", J::Bool(c.not_null)),
                            ("default", c.default.as_deref().map_or(J::Null, J::str)),
                            ("pk_position", c.pk_position.map_or(J::Null, J::num)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

pub(crate) fn row_json(table: &Table, cells: &[Cell], captured: &[&str]) -> J {
    J::Obj(
        table
            .columns
            .iter()
            .zip(cells)
            .filter(|(c, _)| is_captured(captured, c))
            .map(|(c, cell)| {
                let value = match cell {
                    Cell::Null => J::Null,
                    Cell::UnchangedToast => J::obj([("unchanged_toast", J::Bool(true))]),
                    Cell::Text(text) => J::str(text),
                };
                (c.name.clone(), value)
            })
            .collect(),
    )
}

/// A record as `{"key": …, "value": …}` with each side's schema moved to `schemas`.
pub(crate) fn record_json(
    record: &Record,
    normalize: &dyn Fn(&str) -> String,
    schemas: &mut BTreeMap<String, String>,
) -> J {
    let side = |bytes: Option<&[u8]>, schemas: &mut BTreeMap<String, String>| -> J {
        let Some(bytes) = bytes else {
            return J::Null;
        };
        let text = normalize(std::str::from_utf8(bytes).unwrap());
        let (schema, payload) = split_record(&text);
        let schema_name = if schema == "null" {
            J::Null
        } else {
            let parsed: serde_json::Value = serde_json::from_str(schema).unwrap();
            let name = parsed["name"].as_str().unwrap().to_owned();
            let pretty = schema.to_owned();
            // Debezium may change a table's schema between records (the snapshot's
            // from JDBC metadata, the stream's from the Relation message): each
            // variant gets its own entry, `name`, `name@2`, ...
            let mut key = name.clone();
            let mut variant = 1;
            loop {
                match schemas.get(&key) {
                    Some(existing) if *existing == pretty => break,
                    Some(_) => {
                        variant += 1;
                        key = format!("{name}@{variant}");
                    }
                    None => {
                        schemas.insert(key.clone(), pretty);
                        break;
                    }
                }
            }
            J::str(key)
        };
        // The stored form must give back the record's bytes exactly.
        assert_eq!(
            format!("{{\"schema\":{schema},\"payload\":{payload}}}"),
            text
        );
        J::obj([
            ("schema", schema_name),
            ("payload", J::Raw(payload.to_owned())),
        ])
    };
    J::obj([
        ("key", side(record.key.as_deref(), schemas)),
        ("value", side(record.value.as_deref(), schemas)),
    ])
}
