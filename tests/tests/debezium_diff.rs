//! The compatibility proof: the real Debezium PostgreSQL connector and pgcdc capture
//! the same tables of the same database (the workload of `pgcdc_tests::diff`: a
//! snapshot of existing rows, then inserts, updates, key changes, deletes, truncates
//! and transactions) in several sets of mapping modes, and every record pgcdc writes
//! must equal Debezium's, key and value, schema and payload, as JsonConverter
//! (`schemas.enable=true`) bytes parsed back to JSON. The fields that must differ, and
//! why, are listed in `pgcdc_tests::diff`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;

use pgcdc_tests::diff::{
    capture_with_both, differences, mask_payload, without_prefix, PgcdcConverter, Run, TABLES,
};
use pgcdc_tests::kafka::Record;
use serde_json::{json, Value};

fn parse(bytes: &Option<Vec<u8>>) -> Value {
    bytes
        .as_deref()
        .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap())
}

/// A record as compared: prefix replaced, the fields that must differ masked.
fn normalized(record: &Record, prefix: &str) -> Value {
    let mut value = without_prefix(
        &json!({"key": parse(&record.key), "value": parse(&record.value)}),
        prefix,
    );
    if let Some(payload) = value["value"].get_mut("payload") {
        mask_payload(payload);
    }
    value
}

/// Every topic of both connectors, record by record. Returns Debezium's records,
/// normalised, by topic suffix, for the test to check what the oracle did.
fn compare(run: &Run, topics: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut oracle = BTreeMap::new();
    for suffix in topics {
        let (expected, actual) = run.records(suffix);
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
        oracle.insert(
            (*suffix).to_owned(),
            expected
                .iter()
                .map(|e| normalized(e, &run.debezium_prefix))
                .collect(),
        );
    }
    assert!(
        failures.is_empty(),
        "{} differences in {compared} records:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 30, "only {compared} records compared");
    oracle
}

/// The `op` of every record with a value.
fn ops(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .filter_map(|r| r["value"]["payload"]["op"].as_str())
        .collect()
}

/// How many END records of the transaction topic count no events.
fn empty_transactions(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["value"]["payload"]["status"] == "END")
        .filter(|r| r["value"]["payload"]["event_count"] == 0)
        .count()
}

/// `kv.h` of the created rows, in order.
fn created_hstores(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| matches!(r["value"]["payload"]["op"].as_str(), Some("r" | "c")))
        .map(|r| r["value"]["payload"]["after"]["h"].clone())
        .collect()
}

fn all_topics() -> Vec<&'static str> {
    TABLES.iter().copied().chain(["transaction"]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_modes_match_debezium_record_for_record() {
    let run = capture_with_both(
        "diff_default",
        json!({"provide.transaction.metadata": "true"}),
        PgcdcConverter::Json,
    )
    .await;
    let oracle = compare(&run, &all_topics());
    // Debezium 3 skips truncates by default (`skipped.operations=t`); pgcdc wrote as
    // many records, so it skipped them too.
    for table in TABLES {
        assert!(!ops(&oracle[table]).contains(&"t"), "{table}");
    }
    // The transaction that only truncated still has its BEGIN and END.
    assert_eq!(empty_transactions(&oracle["transaction"]), 1);
    // hstore.handling.mode=json: a JSON object in a string.
    let hstores = created_hstores(&oracle["public.kv"]);
    assert_eq!(hstores[1], json!("{}"));
    assert_eq!(hstores[2], Value::Null);
    assert_eq!(
        serde_json::from_str::<Value>(hstores[0].as_str().unwrap()).unwrap()["b"],
        Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_connect_hex_modes_match_debezium() {
    let run = capture_with_both(
        "diff_string",
        json!({
            "decimal.handling.mode": "string",
            "time.precision.mode": "connect",
            "binary.handling.mode": "hex",
            "interval.handling.mode": "string",
            "tombstones.on.delete": "false",
        }),
        PgcdcConverter::Json,
    )
    .await;
    compare(&run, &TABLES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_microsecond_url_safe_modes_match_debezium() {
    let run = capture_with_both(
        "diff_double",
        json!({
            "decimal.handling.mode": "double",
            "time.precision.mode": "adaptive_time_microseconds",
            "binary.handling.mode": "base64-url-safe",
            "column.propagate.source.type": ".*\\.c_numeric,.*\\.c_varchar",
        }),
        PgcdcConverter::Json,
    )
    .await;
    compare(&run, &TABLES);
}

/// Truncates published (`skipped.operations=none`), hstore as a Connect map, bytes as
/// standard base64, and a publication of all tables, so changes of a table that is
/// not captured reach both connectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_map_base64_all_tables_modes_match_debezium() {
    let run = capture_with_both(
        "diff_truncate",
        json!({
            "skipped.operations": "none",
            "hstore.handling.mode": "map",
            "binary.handling.mode": "base64",
            "provide.transaction.metadata": "true",
            "publication.autocreate.mode": "all_tables",
        }),
        PgcdcConverter::Json,
    )
    .await;
    let oracle = compare(&run, &all_topics());
    // One `t` record per truncated table, keyless, in its table's topic.
    for (table, truncates) in [
        ("public.all_types", 0),
        ("public.no_key", 1),
        ("public.composite_key", 1),
        ("public.kv", 1),
    ] {
        let records = &oracle[table];
        let found: Vec<&Value> = records
            .iter()
            .filter(|r| r["value"]["payload"]["op"] == "t")
            .collect();
        assert_eq!(found.len(), truncates, "{table}: {:?}", ops(records));
        for record in found {
            assert_eq!(record["key"], Value::Null, "{table}");
        }
    }
    let hstores = created_hstores(&oracle["public.kv"]);
    assert_eq!(hstores[1], json!({}));
    assert_eq!(hstores[0]["b"], Value::Null);
    assert_eq!(hstores[0]["日本語"], json!("🎉"));
    // The transaction that only wrote `not_captured` has its BEGIN and END.
    assert_eq!(empty_transactions(&oracle["transaction"]), 1);
    let bytes = oracle["public.all_types"][0]["value"]["payload"]["after"]["c_bytea"].clone();
    assert_eq!(bytes, json!("AQL/"), "\\x0102ff in standard base64");
}
