//! The transactional mode (`exactly.once.support=required`) on Apache Kafka, as a
//! `read_committed` consumer sees it:
//!
//! - "SIGKILL during load loses nothing" again, with every batch in a Kafka
//!   transaction: `pgcdc connect` is killed 20 times under load and the checker,
//!   reading with `isolation.level=read_committed`, finds every committed change
//!   exactly once in per-key order; a `read_uncommitted` count shows how many records
//!   of aborted transactions (batches cut by a kill) the partitions also hold;
//! - a batch cut by SIGKILL while its transaction is open is invisible to
//!   `read_committed` readers, the slot is not confirmed past it, and the next start
//!   (which fences the killed instance) sends it again, once;
//! - a producer fenced under load (another instance's `transactional.id`) restarts
//!   the task, and `read_committed` still sees every change once;
//! - the worker's `exactly.once.source.support` turns the mode on for connectors
//!   that only request it, and the default stays idempotent (no markers).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::connector::{
    self, confirmed_flush_lsn, current_wal_lsn, read_all, stored_offset, table_topic,
    wait_slot_inactive, wait_streaming,
};
use pgcdc_tests::consistency::{self, Rules};
use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::ledger::{check_topics, spawn_generator, Ledger, SCHEMA, TABLES};
use pgcdc_tests::process::{write_config, ConnectProcess, Deployment};
use pgcdc_tests::{Stack, TestDb};
use pgcdc_worker::{Worker, WorkerOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const KILLS: usize = 20;

/// A deployment of the connector in the transactional mode, three partitions per
/// table topic; `extra` adds properties.
fn transactional_deployment(db: &TestDb, extra: Value) -> Deployment {
    let deployment = Deployment::new(db, Stack::get().kafka_bootstrap());
    let mut properties = json!({
        "topic.creation.default.partitions": "3",
        "exactly.once.support": "required",
    });
    if let (Some(properties), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        properties.extend(extra);
    }
    write_config(&deployment.config, &connector::properties(db, properties)).unwrap();
    deployment
}

async fn wait_snapshot_completed(
    deployment: &Deployment,
    db: &TestDb,
    process: &mut ConnectProcess,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let offset = stored_offset(&deployment.offsets_topic, &db.name, &db.topic_prefix())
            .await
            .unwrap();
        if offset.is_some_and(|o| o["snapshot_completed"] == true) {
            return;
        }
        assert!(
            process.try_status().unwrap().is_none(),
            "pgcdc connect exited during the snapshot; log: {}",
            deployment.log.display()
        );
        assert!(Instant::now() < deadline, "the snapshot did not complete");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The sum of `topic`'s partitions' high watermarks: every offset taken, by records
/// and by transaction markers alike.
fn high_watermarks(topic: &str) -> u64 {
    let consumer: BaseConsumer = kafka::client_config().create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len() as i32);
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            u64::try_from(high - low).unwrap()
        })
        .sum()
}

/// What a topic holds, counted three ways: records a `read_committed` reader sees,
/// records a `read_uncommitted` reader sees (aborted ones too), and offsets
/// (records and markers). Markers are the offsets no reader sees as a record: one
/// per transaction that wrote to the partition.
#[derive(Debug, Clone, Copy)]
struct Counts {
    committed: usize,
    uncommitted: usize,
    offsets: u64,
}

impl Counts {
    async fn of(topic: &str, committed: usize) -> Counts {
        let topic_owned = topic.to_owned();
        let uncommitted = tokio::task::spawn_blocking(move || {
            kafka::read_topic(
                &topic_owned,
                Isolation::ReadUncommitted,
                None,
                Duration::from_secs(120),
            )
        })
        .await
        .unwrap()
        .unwrap()
        .len();
        Counts {
            committed,
            uncommitted,
            offsets: high_watermarks(topic),
        }
    }

    fn markers(&self) -> u64 {
        self.offsets - self.uncommitted as u64
    }

    fn aborted(&self) -> usize {
        self.uncommitted - self.committed
    }
}

fn starts_fenced(deployment: &Deployment) -> usize {
    let log = std::fs::read_to_string(&deployment.log).unwrap_or_default();
    log.matches("transactional producer initialized").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_in_transactions_read_committed_sees_each_change_once() {
    let started = Instant::now();
    let db = TestDb::create("crash_txn").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(SCHEMA).await.unwrap();
    let deployment = transactional_deployment(&db, json!({}));
    eprintln!("connector log: {}", deployment.log.display());

    let mut process = deployment.start();
    wait_snapshot_completed(&deployment, &db, &mut process).await;

    let seed: u64 = rand::random();
    eprintln!("load generator seed: {seed}");
    let stop = CancellationToken::new();
    let committed = Arc::new(AtomicU64::new(0));
    let generator = spawn_generator(
        &db,
        seed,
        stop.clone(),
        Arc::clone(&committed),
        Ledger::default(),
    );

    let mut rng = StdRng::seed_from_u64(seed ^ 0x7a5e);
    let mut killed_while_streaming = 0;
    let mut time_to_streaming: Vec<f64> = Vec::new();
    for kill in 0..KILLS {
        // As in connector_crash.rs: most kills land while streaming, every fourth
        // may land in the start-up (fencing, offsets, tails, slot).
        if kill % 4 != 3 {
            let restarted = Instant::now();
            wait_streaming(&db, &db.slot_name(), Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{e}; log: {}", deployment.log.display()));
            time_to_streaming.push(restarted.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(500..=3000))).await;
        assert!(
            process.try_status().unwrap().is_none(),
            "pgcdc connect exited on its own; log: {}",
            deployment.log.display()
        );
        if wait_streaming(&db, &db.slot_name(), Duration::ZERO)
            .await
            .is_ok()
        {
            killed_while_streaming += 1;
        }
        process.kill().unwrap();
        wait_slot_inactive(&db, &db.slot_name(), Duration::from_secs(30))
            .await
            .unwrap();
        process = deployment.restart();
    }
    stop.cancel();
    let ledger = tokio::task::block_in_place(|| generator.join()).unwrap();
    let end_of_load = current_wal_lsn(&sql).await.unwrap();
    eprintln!(
        "{KILLS} kills ({killed_while_streaming} while streaming) during {} transactions: \
         {} inserts, {} updates, {} deletes; restart to streaming took {:.1}..{:.1}s",
        ledger.transactions,
        ledger.inserts,
        ledger.updates,
        ledger.deletes,
        time_to_streaming
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
        time_to_streaming.iter().copied().fold(0.0, f64::max),
    );
    assert!(killed_while_streaming >= KILLS / 2);
    assert!(
        ledger.transactions >= 100,
        "the load was too light to test anything"
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let confirmed = confirmed_flush_lsn(&db, &db.slot_name()).await.unwrap();
        if confirmed.is_some_and(|c| c >= end_of_load) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connector did not catch up (slot at {confirmed:?}, load ended at {end_of_load}); log: {}",
            deployment.log.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = process.terminate(Duration::from_secs(60)).unwrap();
    assert!(
        status.success(),
        "pgcdc connect exited with {status} on SIGTERM"
    );
    wait_slot_inactive(&db, &db.slot_name(), Duration::from_secs(30))
        .await
        .unwrap();
    // Starts that got as far as their producer fenced their predecessor (a kill
    // that lands early in a start-up comes before it).
    let fenced = starts_fenced(&deployment);
    eprintln!(
        "{fenced} of {} starts initialized a transactional producer",
        KILLS + 1
    );
    assert!(
        fenced > KILLS / 2,
        "only {fenced} starts were transactional"
    );

    // The checker reads every table topic with isolation.level=read_committed.
    let problems = check_topics(&kafka::client_config(), &db, &sql, &ledger)
        .await
        .unwrap();
    assert!(
        problems.is_empty(),
        "read_committed consumers do not see every committed change exactly once (seed {seed}; log {}): {}",
        deployment.log.display(),
        consistency::summary(&problems, 30)
    );
    let mut markers = 0;
    let mut aborted = 0;
    for table in TABLES {
        let topic = table_topic(&db, table);
        let committed = read_all(&topic).await.unwrap().len();
        let counts = Counts::of(&topic, committed).await;
        eprintln!(
            "{topic}: {} records read_committed, {} read_uncommitted ({} of aborted \
             transactions), {} transaction markers",
            counts.committed,
            counts.uncommitted,
            counts.aborted(),
            counts.markers()
        );
        markers += counts.markers();
        aborted += counts.aborted();
    }
    assert!(
        markers > 0,
        "no transaction markers: the records were not written in transactions"
    );
    eprintln!(
        "{markers} transaction markers, {aborted} records of aborted transactions hidden; \
         checked in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    deployment.remove_files();
}

/// A batch whose transaction is open when the process is SIGKILLed: a
/// `read_uncommitted` reader sees its records, a `read_committed` one does not, the
/// slot is not confirmed past it; the next start aborts it (fencing the killed
/// producer) and sends the changes again, which `read_committed` readers then see
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cut_by_sigkill_is_invisible_to_read_committed_and_sent_again() {
    const SNAPSHOT_ROWS: usize = 10;
    const INSERTS: usize = 50;
    const UPDATES: usize = 5;
    let db = TestDb::create("txn_abort").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(&format!(
        "CREATE TABLE items (id bigint PRIMARY KEY, version int NOT NULL, note text);
         INSERT INTO items SELECT i, 1, 'row ' || i FROM generate_series(1, {SNAPSHOT_ROWS}) i;"
    ))
    .await
    .unwrap();
    // An interval boundary keeps the stream's transaction open long enough to kill
    // the process inside it.
    let deployment = transactional_deployment(
        &db,
        json!({
            "transaction.boundary": "interval",
            "transaction.boundary.interval.ms": "15000",
        }),
    );
    eprintln!("connector log: {}", deployment.log.display());
    let topic = table_topic(&db, "items");

    let mut process = deployment.start();
    wait_snapshot_completed(&deployment, &db, &mut process).await;
    wait_streaming(&db, &db.slot_name(), Duration::from_secs(60))
        .await
        .unwrap();
    let mut committed_reader = connector::TopicReader::open(&topic, Duration::from_secs(60))
        .await
        .unwrap();
    committed_reader
        .wait_for_count(SNAPSHOT_ROWS, Duration::from_secs(60))
        .await
        .unwrap();

    sql.batch_execute(&format!(
        "INSERT INTO items SELECT i, 1, 'streamed' FROM generate_series({}, {}) i;",
        SNAPSHOT_ROWS + 1,
        SNAPSHOT_ROWS + INSERTS
    ))
    .await
    .unwrap();
    sql.batch_execute(&format!(
        "UPDATE items SET version = version + 1 WHERE id <= {UPDATES}"
    ))
    .await
    .unwrap();
    let after_changes = current_wal_lsn(&sql).await.unwrap();
    let streamed = INSERTS + UPDATES;
    let expected = SNAPSHOT_ROWS + streamed;

    // The open transaction's records reach the broker...
    let topic_owned = topic.clone();
    let uncommitted = tokio::task::spawn_blocking(move || {
        kafka::read_topic(
            &topic_owned,
            Isolation::ReadUncommitted,
            Some(expected),
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        uncommitted.len(),
        expected,
        "the open transaction's records are on the broker (read_uncommitted)"
    );
    // ...but not to read_committed readers, and the slot stays before them.
    committed_reader
        .poll_for(Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        committed_reader.events.len(),
        SNAPSHOT_ROWS,
        "read_committed saw records of an open transaction"
    );
    let confirmed = confirmed_flush_lsn(&db, &db.slot_name())
        .await
        .unwrap()
        .unwrap();
    assert!(
        confirmed < after_changes,
        "the slot was confirmed to {confirmed} before the transaction committed (changes end at {after_changes})"
    );

    process.kill().unwrap();
    wait_slot_inactive(&db, &db.slot_name(), Duration::from_secs(30))
        .await
        .unwrap();
    // The killed transaction is still open: a read_committed reader sees nothing of
    // it (and nothing after it) until the next start fences the killed producer.
    committed_reader
        .poll_for(Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(committed_reader.events.len(), SNAPSHOT_ROWS);

    let mut process = deployment.restart();
    committed_reader
        .wait_for_count(expected, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{e}; log: {}", deployment.log.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while confirmed_flush_lsn(&db, &db.slot_name())
        .await
        .unwrap()
        .is_none_or(|c| c < after_changes)
    {
        assert!(
            Instant::now() < deadline,
            "the slot was not confirmed past the changes after their commit"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = process.terminate(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "pgcdc connect exited with {status}");
    assert_eq!(starts_fenced(&deployment), 2);

    let events = read_all(&topic).await.unwrap();
    assert_eq!(
        events.len(),
        expected,
        "read_committed: each change once (the aborted batch is invisible)"
    );
    let histories = consistency::histories(&events, Rules::default())
        .unwrap_or_else(|v| panic!("{}", consistency::summary(&v, 20)));
    let rows = consistency::table_rows(&sql, "items").await.unwrap();
    let differences = consistency::compare_with_table(&histories, &rows);
    assert!(
        differences.is_empty(),
        "{}",
        consistency::summary(&differences, 20)
    );
    let counts = Counts::of(&topic, events.len()).await;
    eprintln!(
        "{counts:?}: {} markers, {} aborted",
        counts.markers(),
        counts.aborted()
    );
    assert_eq!(
        counts.aborted(),
        streamed,
        "the killed transaction's records stay in the log, aborted"
    );
    assert!(
        counts.markers() >= 3,
        "snapshot, aborted and re-sent transactions"
    );
    deployment.remove_files();
}

/// The worker's `exactly.once.source.support` (`--exactly-once-source-support`)
/// turns transactions on for a connector that only requests them (Connect's
/// default), and without it the connector keeps the idempotent producer: no
/// transaction markers in its partitions, as brokers without transactions need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_flag_turns_transactions_on_and_the_default_stays_idempotent() {
    const ROWS: usize = 20;
    for enabled in [false, true] {
        let db = TestDb::create(if enabled {
            "txn_worker_on"
        } else {
            "txn_worker_off"
        })
        .await
        .unwrap();
        let sql = db.client().await.unwrap();
        sql.batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, version int NOT NULL, note text);
             INSERT INTO items SELECT i, 1, 'row ' || i FROM generate_series(1, {ROWS}) i;"
        ))
        .await
        .unwrap();
        let state_dir = pgcdc_tests::process::artifact_path(&format!("{}-state", db.name)).unwrap();
        let worker = Worker::start(WorkerOptions {
            kafka: kafka::client_config(),
            offsets_topic: connector::offsets_topic(&db),
            state_dir: state_dir.clone(),
            worker_id: "127.0.0.1:0".to_owned(),
            exactly_once_source_support: enabled,
        })
        .await
        .unwrap();
        let properties: BTreeMap<String, String> =
            connector::properties(&db, json!({"topic.creation.default.partitions": "3"}))
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect();
        worker.put_config(&db.name, properties).await.unwrap();
        wait_streaming(&db, &db.slot_name(), Duration::from_secs(60))
            .await
            .unwrap();
        sql.batch_execute(&format!(
            "INSERT INTO items SELECT i, 1, 'streamed' FROM generate_series({}, {}) i;",
            ROWS + 1,
            2 * ROWS
        ))
        .await
        .unwrap();
        let topic = table_topic(&db, "items");
        let mut reader = connector::TopicReader::open(&topic, Duration::from_secs(60))
            .await
            .unwrap();
        reader
            .wait_for_count(2 * ROWS, Duration::from_secs(60))
            .await
            .unwrap();
        worker.shutdown().await;
        let counts = Counts::of(&topic, reader.events.len()).await;
        eprintln!("exactly.once.source.support enabled={enabled}: {counts:?}");
        assert_eq!(counts.committed, 2 * ROWS);
        assert_eq!(counts.aborted(), 0);
        if enabled {
            assert!(counts.markers() > 0, "no transactions with the worker flag");
        } else {
            assert_eq!(counts.markers(), 0, "transactions without being asked");
        }
        let _ = std::fs::remove_dir_all(&state_dir);
    }
}

/// Fences the connector's producer the way the broker sees a second instance of the
/// task: another producer initializes with its `transactional.id`, which aborts the
/// open transaction and bumps the epoch.
async fn fence(transactional_id: String) {
    tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = kafka::client_config()
            .set("transactional.id", &transactional_id)
            .create()
            .unwrap();
        producer.init_transactions(Duration::from_secs(30)).unwrap();
    })
    .await
    .unwrap();
}

/// The connector's producer is fenced under load, three times: each time the task
/// fails its batch (aborted: invisible to `read_committed`), restarts as after any
/// retriable failure, fences the intruder in turn and sends the batch again — every
/// committed change exactly once, in per-key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_producer_restarts_and_read_committed_sees_each_change_once() {
    const FENCES: usize = 3;
    let db = TestDb::create("txn_fenced").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(SCHEMA).await.unwrap();
    let deployment = transactional_deployment(&db, json!({}));
    eprintln!("connector log: {}", deployment.log.display());
    let mut process = deployment.start();
    wait_snapshot_completed(&deployment, &db, &mut process).await;

    let seed: u64 = rand::random();
    eprintln!("load generator seed: {seed}");
    let stop = CancellationToken::new();
    let generator = spawn_generator(
        &db,
        seed,
        stop.clone(),
        Arc::new(AtomicU64::new(0)),
        Ledger::default(),
    );
    let transactional_id =
        pgcdc_connector::task::transactional_id(&deployment.offsets_topic, &db.name);
    for fenced in 0..FENCES {
        // Fence a producer that is streaming: the restart after the previous fence
        // has initialized its own and the slot streams again.
        while starts_fenced(&deployment) <= fenced {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        wait_streaming(&db, &db.slot_name(), Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}; log: {}", deployment.log.display()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = retries(&deployment);
        fence(transactional_id.clone()).await;
        // The task notices at its next send or commit, and restarts.
        let deadline = Instant::now() + Duration::from_secs(60);
        while retries(&deployment) == before {
            assert!(
                Instant::now() < deadline,
                "the fenced task did not restart; log: {}",
                deployment.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let ledger = tokio::task::block_in_place(|| generator.join()).unwrap();
    let end_of_load = current_wal_lsn(&sql).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while confirmed_flush_lsn(&db, &db.slot_name())
        .await
        .unwrap()
        .is_none_or(|c| c < end_of_load)
    {
        assert!(
            Instant::now() < deadline,
            "the connector did not catch up; log: {}",
            deployment.log.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        process.try_status().unwrap().is_none(),
        "a fenced task must restart, not end the worker"
    );
    let status = process.terminate(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "pgcdc connect exited with {status}");
    let problems = check_topics(&kafka::client_config(), &db, &sql, &ledger)
        .await
        .unwrap();
    assert!(
        problems.is_empty(),
        "after fencing (seed {seed}; log {}): {}",
        deployment.log.display(),
        consistency::summary(&problems, 30)
    );
    let mut aborted = 0;
    for table in TABLES {
        let topic = table_topic(&db, table);
        let committed = read_all(&topic).await.unwrap().len();
        aborted += Counts::of(&topic, committed).await.aborted();
    }
    eprintln!(
        "{FENCES} fences during {} transactions; {aborted} records of aborted transactions hidden",
        ledger.transactions
    );
    deployment.remove_files();
}

/// Restarts of the task after retriable failures, as the worker logs them.
fn retries(deployment: &Deployment) -> usize {
    let log = std::fs::read_to_string(&deployment.log).unwrap_or_default();
    log.matches("task failed; retrying").count()
}
