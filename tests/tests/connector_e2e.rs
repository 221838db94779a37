//! The connector end to end on the real PostgreSQL and Kafka, as a data engineer would
//! check it: a snapshot that meets the stream with no gap and no overlap while writes
//! continue, every Debezium snapshot mode across restarts, the include/exclude
//! filters, keys (primary, keyless, `message.key.columns`), tombstones, transaction
//! metadata, heartbeats that keep an idle slot moving, and a slot that never moves
//! past what Kafka acknowledged while the broker is down.
//!
//! The connector runs in-process (`task::run`, one start per [`InProcess`]); what it
//! wrote is read back from the topics and decoded.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_connector::offsets::SourcePosition;
use pgcdc_connector::producer::{EventProducer, OutgoingRecord, TopicSettings};
use pgcdc_connector::Lsn;
use pgcdc_tests::broker::PrivateBroker;
use pgcdc_tests::connector::{
    self, confirmed_flush_lsn, current_wal_lsn, heartbeat_topic, read_all, table_topic,
    topic_exists, wait_streaming, Event, InProcess, TopicReader,
};
use pgcdc_tests::consistency::{self, Rules};
use pgcdc_tests::TestDb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

/// A test database with `schema` applied.
async fn database(label: &str, schema: &str) -> (TestDb, tokio_postgres::Client) {
    let db = TestDb::create(label).await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(schema).await.unwrap();
    (db, sql)
}

fn start(db: &TestDb, extra: Value) -> InProcess {
    InProcess::start(
        connector::config(db, extra).unwrap(),
        connector::task_options(db),
    )
}

/// Starts the connector and waits until its slot streams (so that what is written
/// from then on is streamed).
async fn start_streaming(db: &TestDb, extra: Value) -> InProcess {
    let running = start(db, extra);
    wait_streaming(db, &db.slot_name(), WAIT).await.unwrap();
    running
}

fn ops(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.op() {
            Some(op) => format!("{op}{}", e.key["id"]),
            None => format!("tombstone{}", e.key["id"]),
        })
        .collect()
}

fn ids(events: &[Event]) -> BTreeSet<i64> {
    events.iter().filter_map(|e| e.key["id"].as_i64()).collect()
}

const TABLE: &str = "CREATE TABLE items (id int PRIMARY KEY, version int NOT NULL, note text);
                     INSERT INTO items SELECT i, 1, 'row ' || i FROM generate_series(1, 3) i;";

// ---------------------------------------------------------------------------------
// Snapshot meets stream

/// Writes continuously to `items` until cancelled: each transaction inserts five new
/// rows, updates five existing ones (version + 1) and sometimes deletes an original
/// row. Counts the committed transactions in `committed`.
async fn write_continuously(
    sql: tokio_postgres::Client,
    first_new_id: i64,
    original_rows: i64,
    stop: CancellationToken,
    committed: Arc<AtomicU64>,
) {
    let mut next = first_new_id;
    let mut rng = StdRng::from_entropy();
    while !stop.is_cancelled() {
        let updates: Vec<String> = (0..5).map(|_| rng.gen_range(1..next).to_string()).collect();
        let delete = if rng.gen_ratio(1, 4) {
            format!(
                "DELETE FROM items WHERE id = {};",
                rng.gen_range(1..=original_rows)
            )
        } else {
            String::new()
        };
        sql.batch_execute(&format!(
            "BEGIN;
             INSERT INTO items SELECT g, 1, 'new ' || g FROM generate_series({next}, {}) g;
             UPDATE items SET version = version + 1, note = 'updated' WHERE id IN ({});
             {delete}
             COMMIT;",
            next + 4,
            updates.join(","),
        ))
        .await
        .unwrap();
        next += 5;
        committed.fetch_add(1, Ordering::SeqCst);
        // A steady load (a few hundred changes a second), not a flood.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs [`write_continuously`] on a thread and runtime of its own, so that the
/// connector's work on the test's runtime does not slow the writer down.
fn spawn_writer(
    db: &TestDb,
    first_new_id: i64,
    original_rows: i64,
    stop: CancellationToken,
    committed: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let server = db.server.clone();
    let name = db.name.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let sql = server.connect(&name).await.unwrap();
            write_continuously(sql, first_new_id, original_rows, stop, committed).await;
        });
    })
}

async fn wait_for_commits(committed: &AtomicU64, at_least: u64) {
    let deadline = Instant::now() + WAIT;
    while committed.load(Ordering::SeqCst) < at_least {
        assert!(Instant::now() < deadline, "the writer stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_meets_the_stream_with_no_gap_or_overlap_while_writes_continue() {
    const ROWS: i64 = 200_000;
    let (db, sql) = database(
        "e2e_snap_stream",
        &format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, version int NOT NULL, note text);
             INSERT INTO items SELECT i, 1, 'original ' || i FROM generate_series(1, {ROWS}) i;"
        ),
    )
    .await;

    // The writer runs before, during and after the snapshot.
    let stop_writer = CancellationToken::new();
    let committed = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(
        &db,
        ROWS + 1,
        ROWS,
        stop_writer.clone(),
        Arc::clone(&committed),
    );
    wait_for_commits(&committed, 10).await;

    let started = Instant::now();
    let running = start(
        &db,
        json!({
            "snapshot.max.threads": "2",
            "topic.creation.default.partitions": "3",
        }),
    );
    let mut reader = TopicReader::open(&table_topic(&db, "items"), WAIT)
        .await
        .unwrap();
    reader
        .wait_until(
            Duration::from_secs(300),
            "the snapshot's last record",
            |events| events.iter().any(|e| e.source()["snapshot"] == "last"),
        )
        .await
        .unwrap();
    let snapshot_seconds = started.elapsed().as_secs_f64();
    // Keep writing a while into the stream, then stop and let the connector catch up.
    let after_snapshot = committed.load(Ordering::SeqCst);
    wait_for_commits(&committed, after_snapshot + 20).await;
    stop_writer.cancel();
    tokio::task::block_in_place(|| writer.join()).unwrap();
    let last_id: i64 = sql
        .query_one("SELECT max(id) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    reader
        .wait_until(
            Duration::from_secs(120),
            "the writer's last insert",
            |events| {
                events
                    .iter()
                    .any(|e| e.op() == Some("c") && e.key["id"].as_i64() == Some(last_id))
            },
        )
        .await
        .unwrap();
    let stats = running.stop().await.unwrap();
    reader.read_to_end(Duration::from_secs(120)).await.unwrap();
    let events = reader.events;

    // Every key's records obey the rules (one r or c, versions +1 each, delete last
    // with its tombstone), and the final state is the table's.
    let histories = consistency::histories(&events, Rules::default()).unwrap_or_else(|v| {
        panic!(
            "the items topic breaks the rules: {}",
            consistency::summary(&v, 20)
        )
    });
    let rows = consistency::table_rows(&sql, "items").await.unwrap();
    let differences = consistency::compare_with_table(&histories, &rows);
    assert!(
        differences.is_empty(),
        "the topic's final state is not the table: {}",
        consistency::summary(&differences, 20)
    );

    // The test exercised the boundary: the snapshot read rows the writer inserted
    // before the slot's consistent point, the stream carried changes committed while
    // the snapshot was still being read, and both met on the same keys.
    let snapshot_rows = events.iter().filter(|e| e.op() == Some("r")).count();
    assert_eq!(snapshot_rows as u64, stats.snapshot_rows);
    let snapshot_read_until = events
        .iter()
        .filter(|e| e.op() == Some("r"))
        .filter_map(|e| e.source()["ts_ms"].as_i64())
        .max()
        .unwrap();
    let streamed_during_snapshot = events
        .iter()
        .filter(|e| matches!(e.op(), Some("c" | "u" | "d")))
        .filter(|e| e.source()["ts_ms"].as_i64().unwrap() < snapshot_read_until)
        .count();
    let new_rows_snapshotted = histories
        .iter()
        .filter(|(id, h)| **id > ROWS && h.first_op == "r")
        .count();
    let new_rows_streamed = histories
        .iter()
        .filter(|(id, h)| **id > ROWS && h.first_op == "c")
        .count();
    let snapshotted_then_updated = histories
        .values()
        .filter(|h| h.first_op == "r" && h.updates > 0)
        .count();
    eprintln!(
        "snapshot of {snapshot_rows} rows in {snapshot_seconds:.1}s; {} writer transactions; \
         {streamed_during_snapshot} changes committed during the snapshot were streamed; \
         new rows: {new_rows_snapshotted} snapshotted, {new_rows_streamed} streamed",
        committed.load(Ordering::SeqCst)
    );
    assert!(
        snapshot_rows as i64 >= ROWS - 1000,
        "{snapshot_rows} rows snapshotted"
    );
    assert!(
        streamed_during_snapshot > 0,
        "no change committed during the snapshot: the snapshot was too quick to test the boundary"
    );
    assert!(new_rows_snapshotted > 0 && new_rows_streamed > 0);
    assert!(snapshotted_then_updated > 0);
    // A few hundred thousand records: not worth keeping on the shared broker.
    pgcdc_tests::kafka::delete_topics(&[&table_topic(&db, "items")])
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------
// Snapshot modes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_mode_initial_snapshots_once_then_streams_across_restarts() {
    let (db, sql) = database("e2e_initial", TABLE).await;
    let topic = table_topic(&db, "items");

    let first = start(&db, json!({"snapshot.mode": "initial"}));
    let mut reader = TopicReader::open(&topic, WAIT).await.unwrap();
    reader.wait_for_count(3, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    sql.batch_execute("INSERT INTO items VALUES (4, 1, 'streamed')")
        .await
        .unwrap();
    reader.wait_for_count(4, WAIT).await.unwrap();
    let stats = first.stop().await.unwrap();
    assert_eq!(stats.snapshot_rows, 3);

    // Written while the connector is down: the slot keeps it for the next start.
    sql.batch_execute("INSERT INTO items VALUES (5, 1, 'while stopped')")
        .await
        .unwrap();
    let second = start(&db, json!({"snapshot.mode": "initial"}));
    reader.wait_for_count(5, WAIT).await.unwrap();
    let stats = second.stop().await.unwrap();
    assert_eq!(stats.snapshot_rows, 0, "the second start snapshotted again");
    reader.read_to_end(WAIT).await.unwrap();
    assert_eq!(ops(&reader.events), ["r1", "r2", "r3", "c4", "c5"]);
    let markers: Vec<&Value> = reader.events[..3]
        .iter()
        .map(|e| &e.source()["snapshot"])
        .collect();
    assert_eq!(markers, [&json!("first"), &json!("true"), &json!("last")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_mode_initial_only_snapshots_then_stops_leaving_no_slot() {
    let (db, sql) = database("e2e_initial_only", TABLE).await;
    let config = json!({"snapshot.mode": "initial_only"});

    let stats = start(&db, config.clone()).finished(WAIT).await.unwrap();
    assert_eq!(stats.snapshot_rows, 3);
    assert_eq!(stats.stream.transactions, 0, "initial_only streamed");
    wait_no_slots(&db).await;
    let events = read_all(&table_topic(&db, "items")).await.unwrap();
    assert_eq!(ops(&events), ["r1", "r2", "r3"]);

    // Started again, it has nothing to do: the snapshot is done and it never streams.
    sql.batch_execute("INSERT INTO items VALUES (4, 1, 'after')")
        .await
        .unwrap();
    let stats = start(&db, config).finished(WAIT).await.unwrap();
    assert_eq!(stats.snapshot_rows, 0, "initial_only snapshotted twice");
    assert_eq!(stats.stream.transactions, 0, "initial_only streamed");
    wait_no_slots(&db).await;
    let events = read_all(&table_topic(&db, "items")).await.unwrap();
    assert_eq!(ops(&events), ["r1", "r2", "r3"]);
}

async fn wait_no_slots(db: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let slots = db.slots().await.unwrap();
        if slots.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "slots left behind: {slots:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_mode_no_data_streams_only_changes_made_after_the_start() {
    let (db, sql) = database("e2e_no_data", TABLE).await;
    let running = start_streaming(&db, json!({"snapshot.mode": "no_data"})).await;
    sql.batch_execute(
        "INSERT INTO items VALUES (4, 1, 'new');
         UPDATE items SET version = 2 WHERE id = 1;
         DELETE FROM items WHERE id = 2;",
    )
    .await
    .unwrap();
    let mut reader = TopicReader::open(&table_topic(&db, "items"), WAIT)
        .await
        .unwrap();
    reader.wait_for_count(4, WAIT).await.unwrap();
    let stats = running.stop().await.unwrap();
    reader.read_to_end(WAIT).await.unwrap();
    assert_eq!(stats.snapshot_rows, 0);
    assert_eq!(ops(&reader.events), ["c4", "u1", "d2", "tombstone2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_mode_always_snapshots_at_every_start() {
    let (db, sql) = database("e2e_always", TABLE).await;
    let config = json!({"snapshot.mode": "always"});

    let first = start(&db, config.clone());
    let mut reader = TopicReader::open(&table_topic(&db, "items"), WAIT)
        .await
        .unwrap();
    reader.wait_for_count(3, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    sql.batch_execute("INSERT INTO items VALUES (4, 1, 'streamed')")
        .await
        .unwrap();
    reader.wait_for_count(4, WAIT).await.unwrap();
    assert_eq!(first.stop().await.unwrap().snapshot_rows, 3);

    // The second start snapshots the table as it is now; the row written while the
    // connector was down comes with the snapshot, not as a change.
    sql.batch_execute("INSERT INTO items VALUES (5, 1, 'while stopped')")
        .await
        .unwrap();
    let second = start(&db, config);
    reader.wait_for_count(9, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    let stats = second.stop().await.unwrap();
    reader.read_to_end(WAIT).await.unwrap();
    assert_eq!(stats.snapshot_rows, 5);
    assert_eq!(
        ops(&reader.events),
        ["r1", "r2", "r3", "c4", "r1", "r2", "r3", "r4", "r5"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_mode_when_needed_snapshots_again_only_after_the_slot_is_lost() {
    let (db, sql) = database("e2e_when_needed", TABLE).await;
    let config = json!({"snapshot.mode": "when_needed"});

    let first = start(&db, config.clone());
    let mut reader = TopicReader::open(&table_topic(&db, "items"), WAIT)
        .await
        .unwrap();
    reader.wait_for_count(3, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    assert_eq!(first.stop().await.unwrap().snapshot_rows, 3);

    // Offsets and slot are both there: no snapshot, the change is streamed.
    sql.batch_execute("INSERT INTO items VALUES (4, 1, 'while stopped')")
        .await
        .unwrap();
    let second = start(&db, config.clone());
    reader.wait_for_count(4, WAIT).await.unwrap();
    assert_eq!(second.stop().await.unwrap().snapshot_rows, 0);

    // The slot is gone (dropped by an operator, or invalidated): what happened since
    // cannot be streamed, so the table is snapshotted again.
    db.server
        .connect("postgres")
        .await
        .unwrap()
        .execute("SELECT pg_drop_replication_slot($1)", &[&db.slot_name()])
        .await
        .unwrap();
    sql.batch_execute("INSERT INTO items VALUES (5, 1, 'slot lost')")
        .await
        .unwrap();
    let third = start(&db, config);
    reader.wait_for_count(9, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    assert_eq!(third.stop().await.unwrap().snapshot_rows, 5);
    reader.read_to_end(WAIT).await.unwrap();
    assert_eq!(
        ops(&reader.events),
        ["r1", "r2", "r3", "c4", "r1", "r2", "r3", "r4", "r5"]
    );
}

// ---------------------------------------------------------------------------------
// Filters

const THREE_TABLES: &str = "
    CREATE TABLE a (id int PRIMARY KEY, version int NOT NULL, note text, secret text);
    CREATE TABLE b (id int PRIMARY KEY, version int NOT NULL, note text, secret text);
    CREATE TABLE c (id int PRIMARY KEY, version int NOT NULL, note text, secret text);
    INSERT INTO a VALUES (1, 1, 'a1', 's');
    INSERT INTO b VALUES (1, 1, 'b1', 's');
    INSERT INTO c VALUES (1, 1, 'c1', 's');";

/// One transaction that writes b before a and c, so once c's change is in Kafka,
/// b's would be too if b were captured.
const WRITE_ALL: &str = "BEGIN;
    INSERT INTO b VALUES (2, 1, 'b2', 's');
    INSERT INTO a VALUES (2, 1, 'a2', 's');
    INSERT INTO c VALUES (2, 1, 'c2', 's');
    COMMIT;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_include_list_captures_only_the_listed_tables_in_list_order() {
    let (db, sql) = database("e2e_include", THREE_TABLES).await;
    let running = start(&db, json!({"table.include.list": "public.c,public.a"}));
    let mut c = TopicReader::open(&table_topic(&db, "c"), WAIT)
        .await
        .unwrap();
    let mut a = TopicReader::open(&table_topic(&db, "a"), WAIT)
        .await
        .unwrap();
    c.wait_for_count(1, WAIT).await.unwrap();
    a.wait_for_count(1, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    sql.batch_execute(WRITE_ALL).await.unwrap();
    c.wait_for_count(2, WAIT).await.unwrap();
    a.wait_for_count(2, WAIT).await.unwrap();
    running.stop().await.unwrap();

    assert_eq!(ops(&a.events), ["r1", "c2"]);
    assert_eq!(ops(&c.events), ["r1", "c2"]);
    // Debezium snapshots in the include list's order: c first, then a.
    assert_eq!(c.events[0].source()["snapshot"], "first");
    assert_eq!(a.events[0].source()["snapshot"], "last");
    assert!(
        !topic_exists(&table_topic(&db, "b")).unwrap(),
        "a table outside table.include.list got a topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_exclude_list_and_column_exclude_list_leave_out_tables_and_columns() {
    let (db, sql) = database("e2e_exclude", THREE_TABLES).await;
    let running = start(
        &db,
        json!({
            "table.exclude.list": "public.b",
            "column.exclude.list": "public.a.secret,public.c.se.*",
            "value.converter.schemas.enable": "true",
        }),
    );
    let mut c = TopicReader::open(&table_topic(&db, "c"), WAIT)
        .await
        .unwrap();
    let mut a = TopicReader::open(&table_topic(&db, "a"), WAIT)
        .await
        .unwrap();
    c.wait_for_count(1, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    sql.batch_execute(
        "UPDATE a SET note = 'a1 updated', secret = 'new secret' WHERE id = 1;
         DELETE FROM c WHERE id = 1;",
    )
    .await
    .unwrap();
    sql.batch_execute(WRITE_ALL).await.unwrap();
    c.wait_for_count(4, WAIT).await.unwrap();
    a.wait_for_count(3, WAIT).await.unwrap();
    running.stop().await.unwrap();

    assert_eq!(ops(&a.events), ["r1", "u1", "c2"]);
    assert_eq!(ops(&c.events), ["r1", "d1", "tombstone1", "c2"]);
    assert!(
        !topic_exists(&table_topic(&db, "b")).unwrap(),
        "a table in table.exclude.list got a topic"
    );
    for event in a
        .events
        .iter()
        .chain(&c.events)
        .filter(|e| !e.is_tombstone())
    {
        for image in [event.before(), event.after()] {
            if let Some(row) = image.as_object() {
                let columns: BTreeSet<&str> = row.keys().map(String::as_str).collect();
                assert_eq!(
                    columns,
                    BTreeSet::from(["id", "note", "version"]),
                    "{event:?}"
                );
            }
        }
        // The value schema's row struct has no field for the excluded column either.
        let schema = event.value_schema.as_ref().unwrap();
        let after = schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == "after")
            .unwrap();
        let fields: Vec<&str> = after["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["id", "version", "note"]);
    }
    assert_eq!(a.events[1].after()["note"], "a1 updated");
}

// ---------------------------------------------------------------------------------
// Keys, tombstones, transaction metadata

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_tombstones_and_transaction_metadata() {
    let (db, sql) = database(
        "e2e_keys",
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, note text);
         CREATE TABLE log (msg text, n int);
         ALTER TABLE log REPLICA IDENTITY FULL;
         CREATE TABLE items (id int PRIMARY KEY, note text);",
    )
    .await;
    let running = start_streaming(
        &db,
        json!({
            "snapshot.mode": "no_data",
            "message.key.columns": "public.orders:customer_id",
            "provide.transaction.metadata": "true",
        }),
    )
    .await;
    let transactions = [
        "BEGIN;
         INSERT INTO orders VALUES (1, 42, 'first'), (2, 43, 'second');
         INSERT INTO log VALUES ('hello', 1);
         INSERT INTO items VALUES (1, 'item');
         COMMIT;",
        "BEGIN; UPDATE log SET n = 2; DELETE FROM items WHERE id = 1; COMMIT;",
        "UPDATE orders SET note = 'changed' WHERE id = 1",
    ];
    for statement in transactions {
        sql.batch_execute(statement).await.unwrap();
    }
    let mut txn = TopicReader::open(&format!("{}.transaction", db.topic_prefix()), WAIT)
        .await
        .unwrap();
    txn.wait_for_count(6, WAIT).await.unwrap();
    let orders = read_all(&table_topic(&db, "orders")).await.unwrap();
    let log = read_all(&table_topic(&db, "log")).await.unwrap();
    let items = read_all(&table_topic(&db, "items")).await.unwrap();
    running.stop().await.unwrap();
    txn.read_to_end(WAIT).await.unwrap();

    // message.key.columns replaces the primary key as the record key.
    let keys: Vec<&Value> = orders.iter().map(|e| &e.key).collect();
    assert_eq!(
        keys,
        [
            &json!({"customer_id": 42}),
            &json!({"customer_id": 43}),
            &json!({"customer_id": 42})
        ]
    );
    // A keyless table's records have no key at all.
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e.key.is_null()), "{log:?}");
    assert_eq!(log[1].op(), Some("u"));
    assert_eq!(
        log[1].before()["n"],
        1,
        "REPLICA IDENTITY FULL gives the old row"
    );
    // A delete is followed by a tombstone with the same key.
    assert_eq!(ops(&items), ["c1", "d1", "tombstone1"]);
    assert_eq!(items[2].key, json!({"id": 1}));

    // One BEGIN and one END per transaction, the END counting the events per table,
    // and every event pointing at its transaction in order.
    let statuses: Vec<&str> = txn
        .events
        .iter()
        .map(|e| e.field("status").as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["BEGIN", "END", "BEGIN", "END", "BEGIN", "END"]);
    let counts: Vec<(i64, BTreeMap<String, i64>)> = txn
        .events
        .iter()
        .filter(|e| e.field("status") == "END")
        .map(|e| {
            let per_table = e
                .field("data_collections")
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["data_collection"].as_str().unwrap().to_owned(),
                        c["event_count"].as_i64().unwrap(),
                    )
                })
                .collect();
            (e.field("event_count").as_i64().unwrap(), per_table)
        })
        .collect();
    let table_counts = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
        pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    };
    assert_eq!(
        counts,
        [
            (
                4,
                table_counts(&[("public.orders", 2), ("public.log", 1), ("public.items", 1)])
            ),
            (2, table_counts(&[("public.log", 1), ("public.items", 1)])),
            (1, table_counts(&[("public.orders", 1)])),
        ]
    );
    // A transaction's id is `<txId>:<lsn>` with the LSN of the event at hand (as
    // Debezium writes it), so events are grouped by the txId part.
    let xid = |id: &Value| id.as_str().unwrap().split(':').next().unwrap().to_owned();
    let mut by_transaction: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for event in orders
        .iter()
        .chain(&log)
        .chain(&items)
        .filter(|e| !e.is_tombstone())
    {
        let block = event.field("transaction");
        by_transaction
            .entry(xid(&block["id"]))
            .or_default()
            .push(block["total_order"].as_i64().unwrap());
    }
    let transaction_xids = |status: &str| -> Vec<String> {
        txn.events
            .iter()
            .filter(|e| e.field("status") == status)
            .map(|e| xid(e.field("id")))
            .collect()
    };
    assert_eq!(transaction_xids("BEGIN"), transaction_xids("END"));
    assert_eq!(
        by_transaction.keys().cloned().collect::<Vec<_>>(),
        transaction_xids("BEGIN")
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    for orders in by_transaction.values_mut() {
        orders.sort_unstable();
        assert_eq!(*orders, (1..=orders.len() as i64).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_off_deletes_have_no_tombstone() {
    let (db, sql) = database("e2e_no_tombstones", TABLE).await;
    let running = start_streaming(
        &db,
        json!({"snapshot.mode": "no_data", "tombstones.on.delete": "false"}),
    )
    .await;
    sql.batch_execute("DELETE FROM items WHERE id = 1")
        .await
        .unwrap();
    sql.batch_execute("INSERT INTO items VALUES (9, 1, 'after the delete')")
        .await
        .unwrap();
    let mut reader = TopicReader::open(&table_topic(&db, "items"), WAIT)
        .await
        .unwrap();
    reader
        .wait_until(WAIT, "the insert after the delete", |events| {
            events.iter().any(|e| e.op() == Some("c"))
        })
        .await
        .unwrap();
    running.stop().await.unwrap();
    reader.read_to_end(WAIT).await.unwrap();
    assert_eq!(ops(&reader.events), ["d1", "c9"]);
}

// ---------------------------------------------------------------------------------
// Heartbeats

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_an_idle_slot_moving_while_another_database_is_busy() {
    let (db, _sql) = database("e2e_heartbeat_idle", TABLE).await;
    let (busy, busy_sql) = database(
        "e2e_heartbeat_busy",
        "CREATE TABLE noise (id bigserial PRIMARY KEY, payload text)",
    )
    .await;
    assert_eq!(db.server.port, busy.server.port);
    let running = start_streaming(&db, json!({"heartbeat.interval.ms": "500"})).await;

    let mut heartbeats = TopicReader::open(&heartbeat_topic(&db), WAIT)
        .await
        .unwrap();
    heartbeats.wait_for_count(3, WAIT).await.unwrap();
    let heartbeat = &heartbeats.events[0];
    assert_eq!(heartbeat.key, json!({"serverName": db.topic_prefix()}));
    assert!(heartbeat.field("ts_ms").as_i64().unwrap() > 0);

    // The other database writes; the captured table stays idle.
    let before = confirmed_flush_lsn(&db, &db.slot_name())
        .await
        .unwrap()
        .unwrap();
    busy_sql
        .batch_execute(
            "INSERT INTO noise (payload) SELECT repeat('x', 200) FROM generate_series(1, 20000)",
        )
        .await
        .unwrap();
    let busy_until = current_wal_lsn(&busy_sql).await.unwrap();
    assert!(busy_until > before);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut rounds = 0;
    let confirmed = loop {
        // Keep the other database busy while waiting.
        busy_sql
            .batch_execute(
                "INSERT INTO noise (payload) SELECT repeat('y', 100) FROM generate_series(1, 100)",
            )
            .await
            .unwrap();
        rounds += 1;
        let confirmed = confirmed_flush_lsn(&db, &db.slot_name())
            .await
            .unwrap()
            .unwrap();
        if confirmed >= busy_until {
            break confirmed;
        }
        assert!(
            Instant::now() < deadline,
            "the idle slot stayed at {confirmed} (was {before}) while the server's WAL reached {busy_until}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("slot moved from {before} to {confirmed} after {rounds} rounds of writes elsewhere");
    running.stop().await.unwrap();
    let events = read_all(&table_topic(&db, "items")).await.unwrap();
    assert_eq!(
        ops(&events),
        ["r1", "r2", "r3"],
        "the idle table got records"
    );
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_action_query_runs_every_interval_and_moves_the_slot() {
    let (db, sql) = database(
        "e2e_heartbeat_query",
        "CREATE TABLE items (id int PRIMARY KEY, version int NOT NULL);
         CREATE TABLE heartbeat (id serial PRIMARY KEY, at timestamptz NOT NULL);",
    )
    .await;
    let running = start_streaming(
        &db,
        json!({
            "heartbeat.interval.ms": "300",
            "heartbeat.action.query": "INSERT INTO heartbeat (at) VALUES (now())",
            "table.include.list": "public.items",
        }),
    )
    .await;
    let deadline = Instant::now() + WAIT;
    let mut count = 0;
    while count < 5 {
        count = sql
            .query_one("SELECT count(*) FROM heartbeat", &[])
            .await
            .unwrap()
            .get::<_, i64>(0);
        assert!(
            Instant::now() < deadline,
            "heartbeat.action.query ran {count} times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written = current_wal_lsn(&sql).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let confirmed = confirmed_flush_lsn(&db, &db.slot_name())
            .await
            .unwrap()
            .unwrap();
        if confirmed >= written {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slot at {confirmed}, heartbeats wrote up to {written}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await.unwrap();
    assert!(!topic_exists(&table_topic(&db, "heartbeat")).unwrap());
}

// ---------------------------------------------------------------------------------
// The slot and Kafka's acknowledgements

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slot_never_moves_past_what_kafka_acknowledged_while_the_broker_is_down() {
    let mut broker = PrivateBroker::start("e2e_outage").await.unwrap();
    let (db, sql) = database("e2e_outage", TABLE).await;
    let mut options = connector::task_options(&db);
    options.kafka = broker.client_config();
    // As `pgcdc connect` runs it: a start that fails for a retriable reason restarts.
    let running = InProcess::start_until_stopped(
        connector::config(&db, json!({"heartbeat.interval.ms": "500"})).unwrap(),
        options,
    );
    let mut reader =
        TopicReader::open_on(&broker.client_config(), &table_topic(&db, "items"), WAIT)
            .await
            .unwrap();
    reader.wait_for_count(3, WAIT).await.unwrap();
    wait_streaming(&db, &db.slot_name(), WAIT).await.unwrap();
    sql.batch_execute("INSERT INTO items VALUES (4, 1, 'before the outage')")
        .await
        .unwrap();
    reader.wait_for_count(4, WAIT).await.unwrap();
    drop(reader);

    broker.kill().unwrap();
    let outage_starts = current_wal_lsn(&sql).await.unwrap();
    for id in 5..=14 {
        sql.batch_execute(&format!(
            "INSERT INTO items VALUES ({id}, 1, 'during the outage')"
        ))
        .await
        .unwrap();
    }
    let outage_wal = current_wal_lsn(&sql).await.unwrap();

    // PostgreSQL sends the changes; Kafka cannot take them. For 20 s (two status
    // intervals and more), the slot must stay before the first unacknowledged commit.
    let admin = db.server.connect("postgres").await.unwrap();
    let watch_until = Instant::now() + Duration::from_secs(20);
    let mut sent_past_outage = false;
    while Instant::now() < watch_until {
        let confirmed = confirmed_flush_lsn(&db, &db.slot_name())
            .await
            .unwrap()
            .unwrap();
        assert!(
            confirmed <= outage_starts,
            "the slot was confirmed to {confirmed}, past {outage_starts} where the unacknowledged changes begin"
        );
        let sent: Option<String> = admin
            .query_opt(
                "SELECT r.sent_lsn::text FROM pg_stat_replication r \
                 JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1",
                &[&db.slot_name()],
            )
            .await
            .unwrap()
            .and_then(|row| row.get(0));
        if let Some(sent) = sent {
            sent_past_outage |= sent.parse::<Lsn>().unwrap() >= outage_wal;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        sent_past_outage,
        "PostgreSQL never sent the outage's changes, so the test proved nothing"
    );

    // The broker comes back: everything arrives once, and the slot moves on.
    broker.restart().await.unwrap();
    let mut reader =
        TopicReader::open_on(&broker.client_config(), &table_topic(&db, "items"), WAIT)
            .await
            .unwrap();
    reader
        .wait_for_count(14, Duration::from_secs(120))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let confirmed = confirmed_flush_lsn(&db, &db.slot_name())
            .await
            .unwrap()
            .unwrap();
        if confirmed >= outage_wal {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot stayed at {confirmed} after the broker came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await.unwrap();
    reader.read_to_end(WAIT).await.unwrap();
    let expected: Vec<String> = ["r1", "r2", "r3"]
        .into_iter()
        .map(str::to_owned)
        .chain((4..=14).map(|id| format!("c{id}")))
        .collect();
    assert_eq!(ops(&reader.events), expected);
    assert_eq!(ids(&reader.events).len(), 14);
}

// ---------------------------------------------------------------------------------
// Topic creation

/// The connector creates a table's topic when the table's first record is ready (the
/// broker has auto-creation off) and sends at once. Every record the producer
/// acknowledges must then be in the topic — the first rows of a snapshot included.
/// Several rounds, three at a time, with records trickling in as a snapshot sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_sent_right_after_a_topic_is_created_reaches_kafka() {
    async fn round(label: &'static str) -> (usize, usize) {
        const RECORDS: u32 = 300;
        let topic = pgcdc_tests::unique_name(label);
        let mut producer = EventProducer::new(
            &pgcdc_tests::kafka::client_config(),
            TopicSettings {
                partitions: 3,
                replication_factor: 1,
            },
        )
        .unwrap();
        producer.ensure_topic(&topic).await.unwrap();
        let mut acks = Vec::new();
        for ordinal in 0..RECORDS {
            let record = OutgoingRecord {
                topic: topic.clone(),
                key: Some(format!("{{\"id\":{ordinal}}}").into_bytes()),
                value: Some(b"{}".to_vec()),
                position: SourcePosition::new(Lsn(0x1000), ordinal),
                snapshot_point: None,
            };
            let partition = producer.partition_of(&record);
            acks.push(producer.send(&record, partition).await.unwrap());
            if ordinal < 100 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let mut without_offset = 0;
        for ack in acks {
            if ack.acknowledged().await.unwrap() < 0 {
                without_offset += 1;
            }
        }
        let written = read_all(&topic).await.unwrap();
        pgcdc_tests::kafka::delete_topics(&[&topic]).await.unwrap();
        (RECORDS as usize - written.len(), without_offset)
    }

    let (mut lost, mut without_offset, mut rounds) = (0, 0, 0);
    for _ in 0..25 {
        let results = tokio::join!(
            round("new_topic_a"),
            round("new_topic_b"),
            round("new_topic_c")
        );
        for (l, w) in [results.0, results.1, results.2] {
            lost += l;
            without_offset += w;
            rounds += 1;
        }
    }
    assert_eq!(
        lost, 0,
        "{lost} acknowledged records are missing from {rounds} new topics ({without_offset} \
         delivery reports said success without an offset): records sent before every partition \
         of a just-created topic is ready on its leader are lost by the idempotent producer; \
         EventProducer::ensure_topic must wait until each partition answers (e.g. ListOffsets)"
    );
}
