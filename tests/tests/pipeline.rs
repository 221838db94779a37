//! The streaming pipeline on the real PostgreSQL and Kafka: every committed change
//! reaches Kafka once, the slot follows acknowledgements, and a restart after a crash
//! sends nothing twice. Records here use a small test encoding; the Debezium encoding
//! has suites of its own — the delivery protocol does not depend on it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::time::Duration;

use pgcdc_connector::capture::{Capture, RowChange, TableSchema};
use pgcdc_connector::offsets::tail::read_tails;
use pgcdc_connector::pgoutput::ColumnValue;
use pgcdc_connector::pipeline::{
    EncodeError, EncodedRecord, EventContext, EventEncoder, Pipeline, PipelineOptions,
    PipelineStats,
};
use pgcdc_connector::producer::{EventProducer, TopicSettings};
use pgcdc_tests::capture::{self};
use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::TestDb;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// `<db>.<schema>.<table>` topics; key = the key columns' text, value = op and row.
struct TestEncoder {
    prefix: String,
}

fn row_json(
    table: &TableSchema,
    tuple: &pgcdc_connector::pgoutput::TupleData,
    keys_only: bool,
) -> Value {
    let mut map = serde_json::Map::new();
    for (i, column) in table.relation.columns.iter().enumerate() {
        if keys_only && !column.is_key() {
            continue;
        }
        let value = match tuple.get(i) {
            Some(ColumnValue::Text(t)) => Value::String(String::from_utf8_lossy(t).into_owned()),
            _ => Value::Null,
        };
        map.insert(column.name.clone(), value);
    }
    Value::Object(map)
}

impl EventEncoder for TestEncoder {
    fn row(
        &mut self,
        change: &RowChange,
        context: &EventContext,
        out: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        let table = &change.table;
        let image = change
            .new
            .as_ref()
            .or(change.old.as_ref().map(|(_, t)| t))
            .unwrap();
        let topic = format!(
            "{}.{}.{}",
            self.prefix, table.relation.namespace, table.relation.name
        );
        let key = serde_json::to_vec(&row_json(table, image, true)).unwrap();
        let value = json!({
            "op": format!("{:?}", change.op),
            "row": row_json(table, image, false),
            "commit_lsn": context.commit_lsn.to_string(),
        });
        out.push(EncodedRecord {
            topic,
            key: Some(key),
            value: Some(serde_json::to_vec(&value).unwrap()),
        });
        Ok(())
    }

    fn truncate(
        &mut self,
        _: &TableSchema,
        _: &EventContext,
        _: &mut Vec<EncodedRecord>,
    ) -> Result<(), EncodeError> {
        Ok(())
    }
}

fn captures_orders(table: &TableSchema) -> bool {
    table.relation.name == "orders"
}

/// Where a pipeline run reads and writes: owned, so a run can live in its own task.
#[derive(Clone)]
struct Target {
    replication: pgcdc_connector::replication::ReplicationConfig,
    capture: pgcdc_connector::capture::CaptureOptions,
    prefix: String,
}

impl Target {
    fn of(db: &TestDb) -> Target {
        Target {
            replication: capture::replication_config(db),
            capture: capture::options(db),
            prefix: db.topic_prefix(),
        }
    }
}

/// Runs the pipeline until `shutdown`, from where the slot is.
async fn run(target: Target, shutdown: CancellationToken) -> PipelineStats {
    let topic = format!("{}.public.orders", target.prefix);
    let resume = read_tails(&kafka::client_config(), &[topic], Duration::from_secs(20)).unwrap();
    let capture = Capture::start(target.replication, &target.capture)
        .await
        .unwrap();
    let mut producer = EventProducer::new(
        &kafka::client_config(),
        TopicSettings {
            partitions: 3,
            replication_factor: 1,
        },
    )
    .unwrap();
    let mut encoder = TestEncoder {
        prefix: target.prefix,
    };
    let options = PipelineOptions {
        max_in_flight: 64,
        idle_confirm_interval: Duration::from_millis(200),
        heartbeat_interval: None,
    };
    let pipeline = Pipeline::new(
        capture,
        &mut producer,
        &mut encoder,
        &captures_orders,
        resume,
        options,
    );
    pipeline.run(shutdown).await.unwrap()
}

/// Runs the pipeline for `seconds`, then shuts it down in order.
async fn run_for(target: Target, seconds: u64) -> PipelineStats {
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stopper.cancel();
    });
    run(target, shutdown).await
}

async fn confirmed_flush_lsn(db: &TestDb) -> String {
    let admin = db.server.connect("postgres").await.unwrap();
    admin
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&db.slot_name()],
        )
        .await
        .unwrap()
        .get(0)
}

/// order id → every value published for it, in partition order.
fn published(db: &TestDb, expected: usize) -> BTreeMap<i64, Vec<Value>> {
    let topic = format!("{}.public.orders", db.topic_prefix());
    let records = kafka::read_topic(
        &topic,
        Isolation::ReadCommitted,
        Some(expected),
        Duration::from_secs(60),
    )
    .unwrap();
    let mut by_id: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for record in records {
        let value = record.value_json().unwrap();
        let id = value["row"]["id"].as_str().unwrap().parse().unwrap();
        by_id.entry(id).or_default().push(value);
    }
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_is_published_once_and_the_slot_follows_acknowledgements() {
    let db = TestDb::create("pipe").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text); CREATE TABLE audit (id serial PRIMARY KEY, note text)")
        .await
        .unwrap();
    capture::prepare(&db, &[]).await.unwrap();
    for batch in 0..20i64 {
        sql.batch_execute(&format!(
            "BEGIN; INSERT INTO orders SELECT i, 'new' FROM generate_series({0} * 10 + 1, {0} * 10 + 10) i; \
             UPDATE orders SET status = 'paid' WHERE id = {0} * 10 + 1; INSERT INTO audit (note) VALUES ('x'); COMMIT;",
            batch
        ))
        .await
        .unwrap();
    }
    let end: String = sql
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);

    let stats = run_for(Target::of(&db), 4).await;

    assert_eq!(stats.transactions, 20);
    assert_eq!(stats.rows, 20 * 12);
    assert_eq!(stats.rows_filtered, 20, "audit rows are not captured");
    assert_eq!(stats.records_sent, 20 * 11);
    let by_id = published(&db, 220);
    assert_eq!(by_id.len(), 200);
    for (id, values) in &by_id {
        let ops: Vec<&str> = values.iter().map(|v| v["op"].as_str().unwrap()).collect();
        let expected: &[&str] = if id % 10 == 1 {
            &["Insert", "Update"]
        } else {
            &["Insert"]
        };
        assert_eq!(
            ops, expected,
            "order {id}: one partition keeps a key's changes in commit order"
        );
    }
    // Everything was acknowledged, so the slot moved at least past the last commit.
    let confirmed: pgcdc_connector::Lsn = confirmed_flush_lsn(&db).await.parse().unwrap();
    assert!(
        confirmed >= end.parse().unwrap(),
        "slot at {confirmed}, WAL at {end}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_crash_replays_into_kafka_without_duplicates() {
    let db = TestDb::create("pipe_crash").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")
        .await
        .unwrap();
    capture::prepare(&db, &["orders"]).await.unwrap();
    // Multi-row inserts: many rows share one transaction (and several share a WAL
    // record), which is where resuming by a record's LSN alone loses or repeats rows.
    for batch in 0..10i64 {
        sql.batch_execute(&format!(
            "INSERT INTO orders SELECT i, 'new' FROM generate_series({0} * 30 + 1, {0} * 30 + 30) i",
            batch
        ))
        .await
        .unwrap();
    }
    let before = confirmed_flush_lsn(&db).await;

    // A run that publishes everything and then dies without a word to PostgreSQL: the
    // task is dropped before its first status update (sent every 10 s), so the slot
    // still points at the start and PostgreSQL will send all of it again.
    let crashed = tokio::spawn(run(Target::of(&db), CancellationToken::new()));
    let first = tokio::task::block_in_place(|| published(&db, 300));
    assert_eq!(first.values().map(Vec::len).sum::<usize>(), 300);
    crashed.abort();
    let _ = crashed.await;
    assert_eq!(
        confirmed_flush_lsn(&db).await,
        before,
        "the crashed run confirmed nothing"
    );

    // The restarted run reads the partitions' tails and skips the replay.
    sql.batch_execute("INSERT INTO orders VALUES (1001, 'after the crash')")
        .await
        .unwrap();
    let stats = run_for(Target::of(&db), 4).await;
    assert_eq!(
        stats.records_already_written, 300,
        "the replayed transactions were all in Kafka"
    );
    assert_eq!(stats.records_sent, 1);

    let all = published(&db, 301);
    assert_eq!(all.len(), 301);
    assert!(
        all.values().all(|values| values.len() == 1),
        "a row was published twice"
    );
}
