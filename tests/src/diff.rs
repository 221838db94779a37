//! The differential workload: the real Debezium PostgreSQL connector and pgcdc capture
//! the same tables of one database — a snapshot of existing rows, then the same stream
//! of inserts, updates, key changes, deletes, truncates and transactions — each into
//! topics under its own prefix on the stack's broker. `tests/debezium_diff.rs` compares
//! the records as JsonConverter JSON (schema and payload), `tests/debezium_avro_diff.rs`
//! compares pgcdc's Avro records, read by Confluent's Python deserializer, with
//! Debezium's JSON payloads.
//!
//! Fields that must differ between the two connectors are masked by [`mask_payload`],
//! each for a reason:
//!
//! - the topic prefix, which is part of record and topic names and of `source.name`:
//!   each connector has its own (both write to the same broker);
//! - `source.version`: pgcdc reports its own version;
//! - processing and read times (`ts_ms`/`ts_us`/`ts_ns` of the envelope, and of
//!   `source` for snapshot records, which is when the row was read);
//! - for snapshot records, `source.lsn`, `source.txId` and `source.sequence`: each
//!   connector's snapshot is taken at its own slot's consistent point.
//!
//! Streamed records keep `source.lsn`, `source.txId`, the commit time and the
//! transaction block: both connectors read the same WAL, so those must be equal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pgcdc_connector::config::PostgresConnectorConfig;
use pgcdc_connector::task::{self, TaskOptions};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::debezium::{connector_config, DebeziumConnector};
use crate::kafka::{self, Isolation, Record};
use crate::TestDb;

/// The captured tables, in `table.include.list` order.
pub const TABLES: [&str; 5] = [
    "public.all_types",
    "public.identity_full",
    "public.no_key",
    "public.composite_key",
    "public.kv",
];

/// Created before either connector starts (Debezium reads extension types such as
/// `hstore` from the catalog when it connects).
pub const SCHEMA: &str = "
CREATE EXTENSION hstore;
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
CREATE TABLE kv (id int PRIMARY KEY, h hstore, h_array hstore[]);
CREATE TABLE not_captured (id int PRIMARY KEY);
";

const ROW_COLUMNS: &str = "id, c_bool, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, \
    c_numeric_any, c_text, c_varchar, c_char, c_bytea, c_date, c_time, c_time3, c_timetz, c_ts, \
    c_ts3, c_tstz, c_interval, c_uuid, c_json, c_jsonb, c_xml, c_inet, c_cidr, c_macaddr, c_bit, \
    c_varbit, c_int_array, c_text_array, c_mood, c_point, c_int4range";

/// Ordinary values, edge values and NULLs, in every table.
pub fn rows(first_id: i32) -> String {
    let a = first_id;
    let (b, c, d) = (first_id + 1, first_id + 2, first_id + 3);
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
        INSERT INTO composite_key VALUES ({a}, 'b{a}', 'p'), ({b}, 'b{a}', 'q');
        INSERT INTO kv VALUES
        ({a}, 'a=>1, b=>NULL, \"key with space\"=>\"value \\\"quoted\\\"\", \"日本語\"=>\"🎉\", \"\"=>\"empty key\", e=>\"\"',
         ARRAY['x=>1', 'y=>NULL', '']::hstore[]),
        ({b}, '', '{{}}'),
        ({c}, NULL, NULL);
        INSERT INTO kv (id, h)
            SELECT {d}, hstore(array_agg('key' || g), array_agg(g::text)) FROM generate_series(1, 20) g;"
    )
}

/// The streamed workload, one statement list per transaction; the last one writes the
/// row both connectors are waited for.
pub fn workload() -> Vec<String> {
    let mut statements = vec![rows(100)];
    statements.extend(
        [
        "UPDATE all_types SET c_text = 'changed', c_numeric = 1 WHERE id = 100",
        "UPDATE all_types SET id = 150 WHERE id = 101",
        "DELETE FROM all_types WHERE id = 102",
        "UPDATE identity_full SET note = 'second' WHERE id = 100",
        "UPDATE identity_full SET big = 'small now', note = NULL WHERE id = 100",
        "DELETE FROM identity_full WHERE id = 101",
        "UPDATE no_key SET n = 0 WHERE v = 'k100'; DELETE FROM no_key WHERE v IS NULL",
        "UPDATE composite_key SET payload = 'r' WHERE a = 100; UPDATE composite_key SET b = 'moved' WHERE a = 101",
        "UPDATE kv SET h = h || 'c=>3'::hstore, h_array = NULL WHERE id = 100; DELETE FROM kv WHERE id = 101",
        // One TRUNCATE of two tables (one pgoutput message) between other changes of
        // the same transaction; a truncate-only transaction.
        "BEGIN; INSERT INTO no_key VALUES ('before truncate', 1); TRUNCATE no_key, composite_key; \
         INSERT INTO no_key VALUES ('after truncate', 2); COMMIT",
        "TRUNCATE kv",
        // Published only with `publication.autocreate.mode=all_tables`.
        "INSERT INTO not_captured VALUES (1)",
        "BEGIN; INSERT INTO not_captured VALUES (2); UPDATE all_types SET c_int2 = 3 WHERE id = 100; COMMIT",
        "BEGIN; INSERT INTO all_types (id) VALUES (200); UPDATE all_types SET c_int4 = 8 WHERE id = 200; \
         INSERT INTO composite_key VALUES (200, 'x', NULL); DELETE FROM all_types WHERE id = 200; \
         INSERT INTO kv VALUES (200, 'z=>26', NULL); COMMIT",
        "INSERT INTO all_types (id, c_text) VALUES (999, 'the end')",
    ]
        .map(str::to_owned),
    );
    statements
}

/// How pgcdc writes its records in a run.
#[derive(Debug, Clone)]
pub enum PgcdcConverter {
    /// As the Debezium worker does: JsonConverter, `schemas.enable=true`.
    Json,
    /// Confluent's Avro converter for keys and values, against this registry.
    Avro { registry_url: String },
}

/// Both connectors' records of one workload. The Debezium connector is deleted before
/// the database (fields drop in order).
#[derive(Debug)]
pub struct Run {
    pub debezium: DebeziumConnector,
    pub db: TestDb,
    pub debezium_prefix: String,
    pub pgcdc_prefix: String,
}

impl Run {
    /// Every record of `<debezium prefix>.<suffix>` and of `<pgcdc prefix>.<suffix>`.
    pub fn records(&self, suffix: &str) -> (Vec<Record>, Vec<Record>) {
        let read = |prefix: &str| {
            kafka::read_topic(
                &format!("{prefix}.{suffix}"),
                Isolation::ReadCommitted,
                None,
                Duration::from_secs(30),
            )
            .unwrap_or_else(|e| panic!("{e:#}"))
        };
        (read(&self.debezium_prefix), read(&self.pgcdc_prefix))
    }
}

/// Runs the snapshot and the [`workload`] with both connectors on a new database,
/// with the same `extra` properties, and pgcdc writing with `converter`.
pub async fn capture_with_both(label: &str, extra: Value, converter: PgcdcConverter) -> Run {
    let db = TestDb::create(label)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let sql = db.client().await.unwrap_or_else(|e| panic!("{e:#}"));
    run_sql(&sql, SCHEMA).await;
    run_sql(&sql, &rows(1)).await;

    // Neither prefix may be the database name, which `source.db` holds unmasked.
    let debezium_prefix = format!("{}_dbz", db.topic_prefix());
    let mut debezium_config = connector_config(&db, &TABLES, extra);
    debezium_config["topic.prefix"] = json!(debezium_prefix);
    let debezium = DebeziumConnector::start(&db.name, debezium_config.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));

    let pgcdc_prefix = format!("{}_pgcdc", db.topic_prefix());
    let mut config = debezium_config;
    config["name"] = json!(format!("{}_pgcdc", db.name));
    config["topic.prefix"] = json!(pgcdc_prefix);
    config["slot.name"] = json!(format!("{}_pgcdc", db.slot_name()));
    config["publication.name"] = json!(format!("{}_pgcdc", db.publication_name()));
    if let PgcdcConverter::Avro { registry_url } = &converter {
        for side in ["key", "value"] {
            config[format!("{side}.converter")] = json!("io.confluent.connect.avro.AvroConverter");
            config[format!("{side}.converter.schema.registry.url")] = json!(registry_url);
        }
    }
    let properties: BTreeMap<String, String> = config
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let parsed = PostgresConnectorConfig::from_properties(&properties)
        .unwrap_or_else(|e| panic!("pgcdc refused the properties: {e:?}"));
    let options = TaskOptions {
        kafka: kafka::client_config(),
        offsets_topic: format!("{}_offsets", db.name),
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let connector = tokio::spawn(async move { task::run(&parsed.config, &options, stop).await });

    let run = Run {
        debezium,
        db,
        debezium_prefix,
        pgcdc_prefix,
    };
    // Both snapshots done before the stream starts, so each sees the same split
    // between snapshot and stream. pgcdc's records may be Avro: it is awaited by
    // count, once Debezium's are there.
    let snapshotted = wait_for_debezium(&run, "public.all_types", |v| {
        v["payload"]["source"]["snapshot"] == "last"
            || v["payload"]["source"]["snapshot"] == "last_in_data_collection"
    });
    let pgcdc_snapshot = wait_for_pgcdc(&run, "public.all_types", snapshotted);
    assert_eq!(
        pgcdc_snapshot, snapshotted,
        "pgcdc's snapshot of all_types never completed"
    );
    // The last snapshotted table is one of the others; give both a moment to finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for statement in workload() {
        run_sql(&sql, &statement).await;
    }
    let written = wait_for_debezium(&run, "public.all_types", |v| {
        v["payload"]["after"]["id"] == 999
    });
    // Fewer records are reported by the comparison, with what is missing.
    wait_for_pgcdc(&run, "public.all_types", written);
    shutdown.cancel();
    connector
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("pgcdc failed: {e}"));
    run
}

async fn run_sql(sql: &tokio_postgres::Client, statements: &str) {
    sql.batch_execute(statements)
        .await
        .unwrap_or_else(|e| panic!("{e}: {statements}"));
}

/// Waits until Debezium's `suffix` topic has a record whose value satisfies `done`;
/// returns how many records the topic then holds.
fn wait_for_debezium(run: &Run, suffix: &str, done: impl Fn(&Value) -> bool) -> usize {
    let topic = format!("{}.{suffix}", run.debezium_prefix);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let records = kafka::read_topic(
            &topic,
            Isolation::ReadCommitted,
            None,
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        if records
            .iter()
            .filter_map(|r| r.value_json().ok())
            .any(|v| done(&v))
        {
            return records.len();
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: the awaited record never came"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits (at most 90 s) until pgcdc's `suffix` topic holds `count` records; returns
/// how many it holds.
fn wait_for_pgcdc(run: &Run, suffix: &str, count: usize) -> usize {
    kafka::read_topic(
        &format!("{}.{suffix}", run.pgcdc_prefix),
        Isolation::ReadCommitted,
        Some(count),
        Duration::from_secs(90),
    )
    .unwrap_or_else(|e| panic!("{e:#}"))
    .len()
}

/// Masks the fields of a record value's payload that must differ (see the module
/// documentation). The prefix is replaced separately, in the whole record.
pub fn mask_payload(payload: &mut Value) {
    if !payload.is_object() {
        return;
    }
    let masked = json!("<differs>");
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

/// `value` with every occurrence of `prefix` in its strings and keys replaced by
/// `PREFIX`.
pub fn without_prefix(value: &Value, prefix: &str) -> Value {
    let text = value.to_string().replace(prefix, "PREFIX");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Paths where two JSON values differ, with both sides; a field present on one side
/// only is a difference even when the other side's value is null.
pub fn differences(path: &str, debezium: &Value, pgcdc: &Value, out: &mut Vec<String>) {
    match (debezium, pgcdc) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let path = format!("{path}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(x), Some(y)) => differences(&path, x, y, out),
                    (Some(x), None) => {
                        out.push(format!("{path}: Debezium {x} | pgcdc has no such field"))
                    }
                    (None, Some(y)) => {
                        out.push(format!("{path}: Debezium has no such field | pgcdc {y}"))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if debezium != pgcdc => out.push(format!("{path}: Debezium {debezium} | pgcdc {pgcdc}")),
        _ => {}
    }
}
