//! The compatibility proof: the real Debezium PostgreSQL connector and pgcdc capture
//! the same tables of the same database — a snapshot of existing rows, then the same
//! stream of inserts, updates, key changes, deletes and transactions — and every
//! record pgcdc writes must equal Debezium's, key and value, schema and payload, as
//! JsonConverter (`schemas.enable=true`) bytes parsed back to JSON.
//!
//! Fields that must differ are masked before the comparison, each for a reason:
//!
//! - the topic prefix, which is part of record and topic names: each connector has its
//!   own (both write to the same broker);
//! - `source.version`: pgcdc reports its own version;
//! - processing and read times (`ts_ms`/`ts_us`/`ts_ns` of the envelope, and of
//!   `source` for snapshot records, which is when the row was read);
//! - for snapshot records, `source.lsn`, `source.txId` and `source.sequence`: each
//!   connector's snapshot is taken at its own slot's consistent point.
//!
//! Streamed records keep `source.lsn`, `source.txId`, the commit time and the
//! transaction block: both connectors read the same WAL, so those must be equal.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pgcdc_connector::config::PostgresConnectorConfig;
use pgcdc_connector::task::{self, TaskOptions};
use pgcdc_tests::debezium::{connector_config, DebeziumConnector};
use pgcdc_tests::kafka::{self, Isolation, Record};
use pgcdc_tests::TestDb;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const TABLES: [&str; 4] = [
    "public.all_types",
    "public.identity_full",
    "public.no_key",
    "public.composite_key",
];

const SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE all_types (
    id int PRIMARY KEY,
    c_bool bool, c_int2 int2, c_int4 int4 NOT NULL DEFAULT 7, c_int8 int8,
    c_float4 float4, c_float8 float8, c_numeric numeric(12,3), c_numeric_any numeric,
    c_text text, c_varchar varchar(20), c_char char(3), c_bytea bytea,
    c_date date, c_time time, c_time3 time(3), c_timetz timetz, c_ts timestamp,
    c_ts3 timestamp(3), c_tstz timestamptz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml,
    c_inet inet, c_cidr cidr, c_macaddr macaddr, c_bit bit(4), c_varbit varbit(8),
    c_int_array int[], c_text_array text[], c_mood mood, c_point point,
    c_int4range int4range, c_status text NOT NULL DEFAULT 'new'
);
CREATE TABLE identity_full (id int PRIMARY KEY, note text, big text);
ALTER TABLE identity_full REPLICA IDENTITY FULL;
ALTER TABLE identity_full ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE no_key (v text, n int);
ALTER TABLE no_key REPLICA IDENTITY FULL;
CREATE TABLE composite_key (a int, b text, payload text, PRIMARY KEY (b, a));
";

const ROW_COLUMNS: &str = "id, c_bool, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, \
    c_numeric_any, c_text, c_varchar, c_char, c_bytea, c_date, c_time, c_time3, c_timetz, c_ts, \
    c_ts3, c_tstz, c_interval, c_uuid, c_json, c_jsonb, c_xml, c_inet, c_cidr, c_macaddr, c_bit, \
    c_varbit, c_int_array, c_text_array, c_mood, c_point, c_int4range";

/// Ordinary values, edge values and NULLs.
fn rows(first_id: i32) -> String {
    let a = first_id;
    let (b, c) = (first_id + 1, first_id + 2);
    format!(
        "INSERT INTO all_types ({ROW_COLUMNS}) VALUES
        ({a}, true, 12, 345, 6789012345, 1.5, 2.25, 123456.789, 3.14159, 'plain', 'short', 'abc',
         '\\x0102ff', '2024-02-29', '13:45:30.123456', '01:02:03.456', '10:11:12+02', '2024-02-29 13:45:30.123456',
         '2024-02-29 13:45:30.123', '2024-02-29 13:45:30.123456+01', '1 year 2 mons 3 days 04:05:06.789',
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{\"k\": [1, 2]}}', '{{\"b\": 1, \"a\": null}}', '<a>x</a>',
         '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010', B'101', '{{1,2,3}}', '{{\"x\",\"y z\"}}',
         'happy', '(1.5,2.5)', '[1,10)'),
        ({b}, false, -32768, -2147483648, 9223372036854775807, 'NaN', 'Infinity', -0.001, 'NaN',
         '日本語 🎉 \"quoted\" \\\\ back', '', '', '\\x', '0001-01-01', '00:00:00', '23:59:59.999', '00:00:00+00',
         '1970-01-01 00:00:00', 'infinity', '-infinity', '-1 days -00:00:01',
         '00000000-0000-0000-0000-000000000000', 'null', '[]', '<e/>',
         '::1', '::/0', 'ff:ff:ff:ff:ff:ff', B'0000', B'', '{{}}', '{{NULL}}',
         'sad', '(0,0)', 'empty'),
        ({c}, NULL, NULL, 1, NULL, '-Infinity', '-0', NULL, 1e-20, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL);
        INSERT INTO identity_full VALUES ({a}, 'first', repeat('toasted ', 2000)), ({b}, NULL, NULL);
        INSERT INTO no_key VALUES ('k{a}', {a}), (NULL, NULL);
        INSERT INTO composite_key VALUES ({a}, 'b{a}', 'p'), ({b}, 'b{a}', 'q');"
    )
}

/// The streamed workload, one statement list per transaction; the last one writes the
/// row both connectors are waited for.
fn workload() -> Vec<String> {
    vec![
        rows(100),
        "UPDATE all_types SET c_text = 'changed', c_numeric = 1 WHERE id = 100".to_owned(),
        "UPDATE all_types SET id = 150 WHERE id = 101".to_owned(),
        "DELETE FROM all_types WHERE id = 102".to_owned(),
        "UPDATE identity_full SET note = 'second' WHERE id = 100".to_owned(),
        "UPDATE identity_full SET big = 'small now', note = NULL WHERE id = 100".to_owned(),
        "DELETE FROM identity_full WHERE id = 101".to_owned(),
        "UPDATE no_key SET n = 0 WHERE v = 'k100'; DELETE FROM no_key WHERE v IS NULL".to_owned(),
        "UPDATE composite_key SET payload = 'r' WHERE a = 100; UPDATE composite_key SET b = 'moved' WHERE a = 101"
            .to_owned(),
        "BEGIN; INSERT INTO all_types (id) VALUES (200); UPDATE all_types SET c_int4 = 8 WHERE id = 200; \
         INSERT INTO composite_key VALUES (200, 'x', NULL); DELETE FROM all_types WHERE id = 200; COMMIT"
            .to_owned(),
        "INSERT INTO all_types (id, c_text) VALUES (999, 'the end')".to_owned(),
    ]
}

struct Run {
    db: TestDb,
    debezium_prefix: String,
    pgcdc_prefix: String,
}

/// Both connectors on one database, with the same `extra` properties.
async fn capture_with_both(label: &str, extra: Value) -> (Run, DebeziumConnector) {
    let db = TestDb::create(label).await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(SCHEMA).await.unwrap();
    sql.batch_execute(&rows(1)).await.unwrap();

    // Neither prefix may be the database name, which `source.db` holds unmasked.
    let debezium_prefix = format!("{}_dbz", db.topic_prefix());
    let mut debezium_config = connector_config(&db, &TABLES, extra.clone());
    debezium_config["topic.prefix"] = json!(debezium_prefix);
    let debezium = DebeziumConnector::start(&db.name, debezium_config.clone())
        .await
        .unwrap();

    let pgcdc_prefix = format!("{}_pgcdc", db.topic_prefix());
    let mut config = debezium_config;
    config["name"] = json!(format!("{}_pgcdc", db.name));
    config["topic.prefix"] = json!(pgcdc_prefix);
    config["slot.name"] = json!(format!("{}_pgcdc", db.slot_name()));
    config["publication.name"] = json!(format!("{}_pgcdc", db.publication_name()));
    let properties: BTreeMap<String, String> = config
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let parsed = PostgresConnectorConfig::from_properties(&properties).unwrap();
    let options = TaskOptions {
        kafka: kafka::client_config(),
        offsets_topic: format!("{}_offsets", db.name),
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let connector = tokio::spawn(async move {
        task::run(&parsed.config, &options, stop).await.unwrap();
    });

    let run = Run {
        debezium_prefix,
        pgcdc_prefix,
        db,
    };
    // Both snapshots done before the stream starts, so each sees the same split
    // between snapshot and stream.
    for prefix in [&run.debezium_prefix, &run.pgcdc_prefix] {
        wait_for(&format!("{prefix}.public.all_types"), |v| {
            v["payload"]["source"]["snapshot"] == "last"
                || v["payload"]["source"]["snapshot"] == "last_in_data_collection"
        });
    }
    // The last snapshotted table is one of the others; give both a moment to finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for statement in workload() {
        sql.batch_execute(&statement).await.unwrap();
    }
    for prefix in [&run.debezium_prefix, &run.pgcdc_prefix] {
        wait_for(&format!("{prefix}.public.all_types"), |v| {
            v["payload"]["after"]["id"] == 999
        });
    }
    shutdown.cancel();
    connector.await.unwrap();
    (run, debezium)
}

/// Waits until `topic` has a record whose value satisfies `done`.
fn wait_for(topic: &str, done: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let records = kafka::read_topic(
            topic,
            Isolation::ReadCommitted,
            None,
            Duration::from_secs(20),
        )
        .unwrap();
        if records
            .iter()
            .filter_map(|r| r.value_json().ok())
            .any(|v| done(&v))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: the awaited record never came"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn parse(bytes: &Option<Vec<u8>>) -> Value {
    bytes
        .as_deref()
        .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap())
}

/// A record as compared: prefix replaced, the fields that must differ masked.
fn normalized(record: &Record, prefix: &str) -> Value {
    let text = serde_json::to_string(&json!({
        "key": parse(&record.key),
        "value": parse(&record.value),
    }))
    .unwrap()
    .replace(prefix, "PREFIX");
    let mut value: Value = serde_json::from_str(&text).unwrap();
    let masked = json!("<differs>");
    if let Some(payload) = value["value"].get_mut("payload") {
        if payload.is_object() {
            for field in ["ts_ms", "ts_us", "ts_ns"] {
                if payload.get(field).is_some() {
                    payload[field] = masked.clone();
                }
            }
            let snapshot = payload["op"] == "r";
            if let Some(source) = payload.get_mut("source").filter(|s| s.is_object()) {
                source["version"] = masked.clone();
                if snapshot {
                    for field in ["ts_ms", "ts_us", "ts_ns", "lsn", "txId", "sequence"] {
                        source[field] = masked.clone();
                    }
                }
            }
        }
    }
    value
}

/// Paths where two JSON values differ, with both sides.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                differences(
                    &format!("{path}.{key}"),
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if a != b => out.push(format!("{path}: Debezium {a} | pgcdc {b}")),
        _ => {}
    }
}

/// Every topic of both connectors, record by record.
fn compare(run: &Run, topics: &[&str]) {
    let mut failures = Vec::new();
    let mut compared = 0;
    for suffix in topics {
        let read = |prefix: &str| {
            kafka::read_topic(
                &format!("{prefix}.{suffix}"),
                Isolation::ReadCommitted,
                None,
                Duration::from_secs(30),
            )
            .unwrap()
        };
        let expected = read(&run.debezium_prefix);
        let actual = read(&run.pgcdc_prefix);
        if expected.len() != actual.len() {
            failures.push(format!(
                "{suffix}: Debezium wrote {} records, pgcdc {}",
                expected.len(),
                actual.len()
            ));
        }
        for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
            let e = normalized(e, &run.debezium_prefix);
            let a = normalized(a, &run.pgcdc_prefix);
            let mut diffs = Vec::new();
            differences("", &e, &a, &mut diffs);
            compared += 1;
            if !diffs.is_empty() {
                failures.push(format!(
                    "{suffix} record {i} (op {}):\n    {}",
                    e["value"]["payload"]["op"],
                    diffs.join("\n    ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences in {compared} records:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 30, "only {compared} records compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_modes_match_debezium_record_for_record() {
    let (run, _debezium) = capture_with_both(
        "diff_default",
        json!({"provide.transaction.metadata": "true"}),
    )
    .await;
    compare(
        &run,
        &[
            "public.all_types",
            "public.identity_full",
            "public.no_key",
            "public.composite_key",
            "transaction",
        ],
    );
    drop(run.db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_connect_hex_modes_match_debezium() {
    let (run, _debezium) = capture_with_both(
        "diff_string",
        json!({
            "decimal.handling.mode": "string",
            "time.precision.mode": "connect",
            "binary.handling.mode": "hex",
            "interval.handling.mode": "string",
            "tombstones.on.delete": "false",
        }),
    )
    .await;
    compare(&run, &TABLES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_microsecond_base64_modes_match_debezium() {
    let (run, _debezium) = capture_with_both(
        "diff_double",
        json!({
            "decimal.handling.mode": "double",
            "time.precision.mode": "adaptive_time_microseconds",
            "binary.handling.mode": "base64-url-safe",
            "column.propagate.source.type": ".*\\.c_numeric,.*\\.c_varchar",
        }),
    )
    .await;
    compare(&run, &TABLES);
}
