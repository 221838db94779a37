//! The oracle's answers, recorded: what the real Debezium PostgreSQL connector writes
//! for every PostgreSQL type pgcdc parses, in every handling mode pgcdc must match.
//!
//! `regenerate_debezium_type_fixtures` is ignored by default because it needs the
//! reference worker and takes a few minutes. It writes `tests/fixtures/debezium/*.json`,
//! which the unit tests of `pgcdc-schemas` and `pgcdc-connector` (`events`) replay
//! without any service. Regenerate after a Debezium upgrade or when adding a type:
//!
//! ```sh
//! dev/stack up --with-debezium
//! tests/fixtures/debezium/regenerate.sh     # = cargo test -p pgcdc-tests --test debezium_types -- --ignored
//! ```
//!
//! One database holds the captured tables; one Debezium connector per mode
//! combination (its own slot, publication and topic prefix) captures them, after a
//! snapshot of one seed row. The same statements then run once, so every connector sees
//! the same changes. An extra pgoutput slot, read with `pg_logical_slot_peek_binary_changes`
//! and decoded by pgcdc's own decoder, records what PostgreSQL sent for each change —
//! the text of every column, `null`, or an unchanged TOAST marker — so a unit test can
//! feed exactly Debezium's input to pgcdc and compare the output with Debezium's.
//!
//! The parts: `debezium_types/scenario.rs` (tables, changes, connector modes),
//! `rows.rs` (the values written), `input.rs` (catalog and pgoutput input),
//! `fixture.rs` (one connector's records matched to the changes) and `json.rs` (the
//! token-preserving writer).
//!
//! # Fixture format
//!
//! ```text
//! {
//!   "debezium_version", "postgres_version",
//!   "mode": "<file stem>", "properties": {connector properties that differ from the defaults},
//!   "topic_prefix": "fx", "database": "fixtures",
//!   "types": [user types of the tables' columns, as pg_type rows, enum labels in sort order],
//!   "tables": [{"schema", "name", "replica_identity", "topic",
//!               "columns": [{"name", "type_oid", "typmod", "flags" (pgoutput Relation),
//!                            "type_name" (format_type), "udt_name" (pg_type.typname),
//!                            "not_null", "default" (expression), "pk_position"}]}],
//!               (only the columns the connector captures: see `column.include.list`)
//!   "schemas": {"<Connect schema name>": <schema exactly as JsonConverter wrote it>},
//!   "transactions": [{"xid", "begin_lsn", "commit_lsn", "commit_end_lsn", "commit_time_us"}]
//!               (every transaction the connector streamed, in order),
//!   "events": [{"label", "table", "op" (snapshot|insert|update|delete|truncate),
//!               "position": {"lsn", "xid", "begin_lsn", "commit_lsn", "commit_end_lsn",
//!                            "commit_time_us"} | null,
//!               "old": {"kind": "key"|"full", "columns": {name: text|null|{"unchanged_toast":true}}} | null,
//!               "new": {...} | null,
//!               "records": [{"key": {"schema": name|null, "payload": <verbatim>} | null,
//!                            "value": {"schema": name|null, "payload": <verbatim>} | null}]}],
//!   "transaction_records": [...]   (only with provide.transaction.metadata)
//! }
//! ```
//!
//! Records are stored with their schema factored out, because one value schema of a
//! wide table is larger than a hundred payloads: the record Kafka held is, byte for
//! byte, `{"schema":` then schemas[name] (compacted), `,"payload":`, the payload
//! (compacted) and `}` — the generator checks this for every record before writing.
//! "Compacted" means whitespace outside strings removed: the generator only re-indents
//! Debezium's JSON, it never re-encodes a string or a number, so the number formatting
//! and string escapes of Kafka's JsonConverter survive exactly. The topic prefix and database name
//! are replaced by `fx` and `fixtures`, so regenerated files differ only where Debezium's
//! output or the clock differs.

#![allow(clippy::unwrap_used)] // a generator that cannot unwrap has failed

use std::path::PathBuf;
use std::time::Duration;

use pgcdc_tests::debezium::{connector_config, DebeziumConnector};
use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::TestDb;
use serde_json::json;

const TOPIC_PREFIX: &str = "fx";
const DATABASE: &str = "fixtures";

#[path = "debezium_types/fixture.rs"]
mod fixture;
#[path = "debezium_types/input.rs"]
mod input;
#[path = "debezium_types/json.rs"]
mod json;
#[path = "debezium_types/rows.rs"]
mod rows;
#[path = "debezium_types/scenario.rs"]
mod scenario;

use fixture::build_fixture;
use input::{label_changes, read_pgoutput, Catalog};
use scenario::{setup_sql, steps, Mode, MODES};

// ---------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/debezium")
}

/// Session settings pgcdc uses on its own connections, so the recorded column text is
/// what pgcdc will parse.
const SESSION: &str = "SET DateStyle = ISO; SET IntervalStyle = postgres; \
    SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = hex;";

#[tokio::test]
#[ignore = "needs the reference Debezium worker; regenerates tests/fixtures/debezium (see module docs)"]
async fn regenerate_debezium_type_fixtures() {
    let db = TestDb::create("dbz_types").await.unwrap();
    let client = db.client().await.unwrap();
    client.batch_execute(SESSION).await.unwrap();
    client.batch_execute(&setup_sql()).await.unwrap();

    let input_slot = format!("in_{}", db.name);
    client
        .batch_execute(
            "CREATE PUBLICATION pub_input FOR TABLE all_types, all_types_full, toast_types, \
             toast_types_full, composite_key",
        )
        .await
        .unwrap();
    client
        .query_one(
            "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&input_slot],
        )
        .await
        .unwrap();

    let catalog = Catalog::read(&client).await;
    let seed = catalog.seed_rows(&client).await;
    let versions = Versions::read(&client).await;

    // One connector per mode; each snapshots the seed row, then streams.
    let mut connectors = Vec::new();
    for mode in MODES {
        connectors.push(start_connector(&db, mode).await);
    }
    for (mode, (_, prefix)) in MODES.iter().zip(&connectors) {
        let first = mode.tables[0].0;
        let topic = format!("{prefix}.public.{first}");
        let records = kafka::read_topic(
            &topic,
            Isolation::ReadUncommitted,
            Some(1),
            Duration::from_secs(180),
        )
        .unwrap();
        assert!(!records.is_empty(), "no snapshot record on {topic}");
    }

    for step in steps() {
        let mut sql = String::from("BEGIN;");
        if step.tables.is_empty() {
            sql.push_str(&step.sql);
        }
        for table in step.tables {
            sql.push_str(&step.sql.replace("{t}", table));
        }
        sql.push_str("COMMIT;");
        client.batch_execute(&sql).await.unwrap();
    }

    let changes = read_pgoutput(&client, &input_slot, &catalog).await;
    let labels = label_changes(&changes);

    for (mode, (_, prefix)) in MODES.iter().zip(&connectors) {
        let fixture = build_fixture(
            mode, prefix, &db.name, &catalog, &seed, &changes, &labels, &versions,
        );
        let path = fixture_dir().join(format!("{}.json", mode.name));
        std::fs::write(&path, fixture).unwrap();
        eprintln!("wrote {}", path.display());
    }
    // Connectors are deleted (and their slots released) before the database drops.
    drop(connectors);
}

struct Versions {
    postgres: String,
}

impl Versions {
    async fn read(client: &tokio_postgres::Client) -> Versions {
        let postgres: String = client
            .query_one("SHOW server_version", &[])
            .await
            .unwrap()
            .get(0);
        Versions { postgres }
    }
}

async fn start_connector(db: &TestDb, mode: &Mode) -> (DebeziumConnector, String) {
    let suffix = mode.name;
    let prefix = format!("{}_{suffix}", db.name);
    let tables: Vec<String> = mode
        .tables
        .iter()
        .map(|(t, _)| format!("public.{t}"))
        .collect();
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    let mut extra = json!({
        "topic.prefix": prefix,
        "slot.name": format!("s_{}_{}", db.name, short(suffix)),
        "publication.name": format!("p_{}_{}", db.name, short(suffix)),
        "snapshot.mode": "initial",
        "skipped.operations": "none",
    });
    let column_patterns: Vec<String> = mode
        .tables
        .iter()
        .filter(|(_, columns)| !columns.is_empty())
        .map(|(t, columns)| format!("public\\.{t}\\.({})", columns.join("|")))
        .collect();
    // A column list must name every captured table, or the others lose every column.
    let mut patterns = column_patterns.clone();
    if !column_patterns.is_empty() {
        for (t, columns) in mode.tables {
            if columns.is_empty() {
                patterns.push(format!("public\\.{t}\\..*"));
            }
        }
        extra["column.include.list"] = json!(patterns.join(","));
    }
    for (key, value) in mode.properties {
        extra[*key] = json!(value);
    }
    let config = connector_config(db, &tables, extra);
    let name = format!("{}_{}", db.name, suffix);
    let connector = DebeziumConnector::start(&name, config).await.unwrap();
    (connector, prefix)
}

/// Slot and publication names are limited to 63 bytes.
fn short(mode: &str) -> String {
    mode.split('_').map(|w| &w[..w.len().min(4)]).collect()
}

// ---------------------------------------------------------------------------------
// Checks that need no service
// ---------------------------------------------------------------------------------

/// Every committed fixture is valid JSON whose records rebuild into JsonConverter
/// records (the unit tests of `schemas` and `events` rely on this).
#[test]
fn fixtures_are_well_formed() {
    let mut count = 0;
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let fixture: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Other recordings share the directory; type fixtures have `mode` and `events`.
        if fixture.get("mode").is_none() || fixture.get("events").is_none() {
            continue;
        }
        count += 1;
        let schemas = fixture["schemas"].as_object().unwrap();
        for event in fixture["events"].as_array().unwrap() {
            for record in event["records"].as_array().unwrap() {
                for side in ["key", "value"] {
                    if let Some(name) = record[side]["schema"].as_str() {
                        assert!(schemas.contains_key(name), "{}: {name}", path.display());
                    }
                }
            }
        }
    }
    assert!(count >= MODES.len(), "fixtures missing: regenerate them");
}
