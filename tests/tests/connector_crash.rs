//! "SIGKILL during load loses nothing": the `pgcdc connect` process is killed at
//! random moments while a load generator keeps writing inserts, updates and deletes
//! in multi-row transactions to two tables, and restarted each time. Afterwards a
//! checker compares the source with the topics: every committed change is in Kafka
//! exactly once and in per-key order, and the topics' final state is the tables'.
//!
//! Every row carries a `version` that its insert sets to 1 and every update
//! increments, so a key's records must show versions 1, 2, 3, … (or the snapshot's
//! version, then +1 each) with no gap and no repeat, and a delete last. `orders` has
//! REPLICA IDENTITY FULL, so there the old row's version is checked too.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::connector::{
    self, confirmed_flush_lsn, current_wal_lsn, read_all, stored_offset, table_topic,
    wait_slot_inactive, wait_streaming,
};
use pgcdc_tests::consistency::{self, History, Rules};
use pgcdc_tests::process::{artifact_path, write_config, ConnectProcess};
use pgcdc_tests::{Stack, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const TABLES: [&str; 2] = ["accounts", "orders"];
const INITIAL_ROWS: i64 = 1000;
const KILLS: usize = 20;

const SCHEMA: &str = "
CREATE TABLE accounts (id bigint PRIMARY KEY, version int NOT NULL, balance bigint NOT NULL, note text);
CREATE TABLE orders (id bigint PRIMARY KEY, version int NOT NULL, account_id bigint NOT NULL, status text);
ALTER TABLE orders REPLICA IDENTITY FULL;
INSERT INTO accounts SELECT i, 1, 0, 'opened' FROM generate_series(1, 1000) i;
INSERT INTO orders SELECT i, 1, i, 'new' FROM generate_series(1, 1000) i;
";

/// What the generator committed, per table: id → (version, deleted).
#[derive(Debug, Default)]
struct Ledger {
    rows: BTreeMap<&'static str, BTreeMap<i64, (i64, bool)>>,
    transactions: u64,
    inserts: u64,
    updates: u64,
    deletes: u64,
}

/// Writes until `stop`: each transaction inserts one to three rows into each table,
/// updates two to five random live rows (sometimes the same row twice) and, one time
/// in three, deletes one. The ledger records only what committed.
async fn generate(
    sql: tokio_postgres::Client,
    seed: u64,
    stop: CancellationToken,
    committed: Arc<AtomicU64>,
) -> Ledger {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ledger = Ledger::default();
    let mut live: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
    for table in TABLES {
        let rows = ledger.rows.entry(table).or_default();
        for id in 1..=INITIAL_ROWS {
            rows.insert(id, (1, false));
        }
        live.insert(table, (1..=INITIAL_ROWS).collect());
    }
    let mut next_id = INITIAL_ROWS + 1;
    let mut sql = sql;
    while !stop.is_cancelled() {
        // Changes of this transaction: (table, id, version, deleted).
        let mut changes: Vec<(&'static str, i64, i64, bool)> = Vec::new();
        let tx = sql.transaction().await.unwrap();
        for table in TABLES {
            let count = rng.gen_range(1..=3);
            let values: Vec<String> = (next_id..next_id + count)
                .map(|id| match table {
                    "accounts" => format!("({id}, 1, 100, 'new')"),
                    _ => format!("({id}, 1, {}, 'placed')", rng.gen_range(1..next_id)),
                })
                .collect();
            tx.batch_execute(&format!("INSERT INTO {table} VALUES {}", values.join(", ")))
                .await
                .unwrap();
            for id in next_id..next_id + count {
                changes.push((table, id, 1, false));
            }
            next_id += count;
        }
        for _ in 0..rng.gen_range(2..=5) {
            let table = TABLES[rng.gen_range(0..2)];
            let ids = &live[table];
            let id = ids[rng.gen_range(0..ids.len())];
            let set = match table {
                "accounts" => "balance = balance + 10, note = 'moved'",
                _ => "status = 'paid'",
            };
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE {table} SET version = version + 1, {set} WHERE id = $1 RETURNING version"
                    ),
                    &[&id],
                )
                .await
                .unwrap();
            changes.push((table, id, i64::from(row.get::<_, i32>(0)), false));
        }
        let mut deleted = None;
        if rng.gen_ratio(1, 3) {
            let table = TABLES[rng.gen_range(0..2)];
            let ids = &live[table];
            let index = rng.gen_range(0..ids.len());
            let id = ids[index];
            let row = tx
                .query_one(
                    &format!("DELETE FROM {table} WHERE id = $1 RETURNING version"),
                    &[&id],
                )
                .await
                .unwrap();
            changes.push((table, id, i64::from(row.get::<_, i32>(0)), true));
            deleted = Some((table, index));
        }
        tx.commit().await.unwrap();

        // Committed: into the ledger.
        for (table, id, version, is_delete) in changes {
            let previous = ledger
                .rows
                .get_mut(table)
                .unwrap()
                .insert(id, (version, is_delete));
            match (previous, is_delete) {
                (None, _) => {
                    ledger.inserts += 1;
                    live.get_mut(table).unwrap().push(id);
                }
                (Some(_), true) => ledger.deletes += 1,
                (Some(_), false) => ledger.updates += 1,
            }
        }
        if let Some((table, index)) = deleted {
            live.get_mut(table).unwrap().swap_remove(index);
        }
        ledger.transactions += 1;
        committed.fetch_add(1, Ordering::SeqCst);
        // A steady load of a few hundred changes a second.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..=15))).await;
    }
    ledger
}

/// The generator on a thread and runtime of its own.
fn spawn_generator(
    db: &TestDb,
    seed: u64,
    stop: CancellationToken,
    committed: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Ledger> {
    let server = db.server.clone();
    let name = db.name.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let sql = server.connect(&name).await.unwrap();
            generate(sql, seed, stop, committed).await
        })
    })
}

/// How `pgcdc connect` is started for this test: config file, log, state directory.
struct Deployment {
    config: PathBuf,
    log: PathBuf,
    state_dir: PathBuf,
    offsets_topic: String,
}

impl Deployment {
    fn new(db: &TestDb) -> Deployment {
        let config = artifact_path(&format!("{}.json", db.name)).unwrap();
        write_config(
            &config,
            &connector::properties(db, json!({"topic.creation.default.partitions": "3"})),
        )
        .unwrap();
        let state_dir = artifact_path(&format!("{}-state", db.name)).unwrap();
        std::fs::create_dir_all(&state_dir).unwrap();
        Deployment {
            config,
            log: artifact_path(&format!("{}.log", db.name)).unwrap(),
            state_dir,
            offsets_topic: connector::offsets_topic(db),
        }
    }

    /// The first start, with the connector's configuration file.
    fn start(&self) -> ConnectProcess {
        self.launch(Some(&self.config))
    }

    /// After a passing run: its files are not needed (a failing run keeps them).
    fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }

    /// A restart, as a supervisor restarts the container: the worker resumes the
    /// connector from its state directory. (With `--config` again, the worker would
    /// apply the unchanged configuration and restart the task it had just started,
    /// which only makes every restart slower.)
    fn restart(&self) -> ConnectProcess {
        self.launch(None)
    }

    fn launch(&self, config: Option<&std::path::Path>) -> ConnectProcess {
        ConnectProcess::start(
            config,
            Stack::get().kafka_bootstrap(),
            &self.offsets_topic,
            &self.state_dir,
            &self.log,
        )
        .unwrap()
    }
}

async fn is_streaming(db: &TestDb) -> bool {
    wait_streaming(db, &db.slot_name(), Duration::ZERO)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_nothing_and_duplicates_nothing() {
    let started = Instant::now();
    let db = TestDb::create("crash").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(SCHEMA).await.unwrap();
    let deployment = Deployment::new(&db);
    eprintln!("connector log: {}", deployment.log.display());

    // The initial snapshot completes before the first kill (a crash during the
    // snapshot is documented as at-least-once for the snapshot's rows).
    let mut process = deployment.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let offset = stored_offset(&deployment.offsets_topic, &db.name, &db.topic_prefix())
            .await
            .unwrap();
        if offset.is_some_and(|o| o["snapshot_completed"] == true) {
            break;
        }
        assert!(
            process.try_status().unwrap().is_none(),
            "pgcdc connect exited during the snapshot; log: {}",
            deployment.log.display()
        );
        assert!(Instant::now() < deadline, "the snapshot did not complete");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let seed: u64 = rand::random();
    eprintln!("load generator seed: {seed}");
    let stop = CancellationToken::new();
    let committed = Arc::new(AtomicU64::new(0));
    let generator = spawn_generator(&db, seed, stop.clone(), Arc::clone(&committed));

    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut killed_while_streaming = 0;
    let mut time_to_streaming = Vec::new();
    for kill in 0..KILLS {
        // Most kills land while the connector streams (the delay counts from when its
        // slot streams); every fourth counts from the process start, so it may land in
        // the start-up (offsets, partition tails, slot) instead.
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
        if is_streaming(&db).await {
            killed_while_streaming += 1;
        }
        process.kill().unwrap();
        // As a supervisor would, restart once the old session is gone from the server.
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
    assert!(
        killed_while_streaming >= KILLS / 2,
        "only {killed_while_streaming} of {KILLS} kills hit a streaming connector"
    );
    assert!(
        ledger.transactions >= 100,
        "the load was too light to test anything"
    );

    // The last process catches up (the slot passes the end of the load), then stops
    // in order on SIGTERM.
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

    // The checker: per-key rules, the table's final state, and the ledger.
    let mut problems = Vec::new();
    let mut updates_seen = 0;
    for table in TABLES {
        let events = read_all(&table_topic(&db, table)).await.unwrap();
        let rules = Rules {
            full_before: table == "orders",
            ..Rules::default()
        };
        let histories = match consistency::histories(&events, rules) {
            Ok(histories) => histories,
            Err(violations) => {
                problems.extend(violations.into_iter().map(|v| format!("{table}: {v}")));
                continue;
            }
        };
        let rows = consistency::table_rows(&sql, table).await.unwrap();
        problems.extend(
            consistency::compare_with_table(&histories, &rows)
                .into_iter()
                .map(|d| format!("{table}: {d}")),
        );
        problems.extend(
            against_ledger(&histories, &ledger.rows[table])
                .into_iter()
                .map(|d| format!("{table}: {d}")),
        );
        updates_seen += histories.values().map(|h| h.updates as u64).sum::<u64>();
    }
    assert!(
        problems.is_empty(),
        "the topics do not hold every committed change exactly once (seed {seed}; log {}): {}",
        deployment.log.display(),
        consistency::summary(&problems, 30)
    );
    assert_eq!(updates_seen, ledger.updates);
    eprintln!("checked in {:.0}s", started.elapsed().as_secs_f64());
    deployment.remove_files();
}

/// Every row the ledger knows has the history the ledger says: inserted once (the
/// snapshot's rows as `r` at version 1, the generator's as `c` at version 1), every
/// committed update (the last version is the ledger's), deleted when it was.
fn against_ledger(
    histories: &BTreeMap<i64, History>,
    ledger: &BTreeMap<i64, (i64, bool)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, &(version, deleted)) in ledger {
        let Some(history) = histories.get(id) else {
            problems.push(format!("{id}: committed, but not in the topic"));
            continue;
        };
        let first_op = if *id <= INITIAL_ROWS { "r" } else { "c" };
        if history.first_op != first_op || history.first_version != 1 {
            problems.push(format!(
                "{id}: begins with {} at version {}, expected {first_op} at version 1",
                history.first_op, history.first_version
            ));
        }
        if history.last_version != version || history.deleted != deleted {
            problems.push(format!(
                "{id}: the topic ends at version {} (deleted: {}), the ledger at {version} (deleted: {deleted})",
                history.last_version, history.deleted
            ));
        }
    }
    for id in histories.keys().filter(|id| !ledger.contains_key(id)) {
        problems.push(format!("{id}: in the topic but never written"));
    }
    problems
}

/// A crash during the initial snapshot: the next start snapshots again from a new
/// slot, so rows the first attempt sent may come twice (README: at-least-once for an
/// interrupted snapshot only) — but no row is lost, and the stream that follows the
/// completed snapshot starts exactly where it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_the_initial_snapshot_loses_no_row() {
    const ROWS: i64 = 50_000;
    let db = TestDb::create("crash_snapshot").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(&format!(
        "CREATE TABLE items (id bigint PRIMARY KEY, version int NOT NULL, note text);
         INSERT INTO items SELECT i, 1, 'row ' || i FROM generate_series(1, {ROWS}) i;"
    ))
    .await
    .unwrap();
    let deployment = Deployment::new(&db);
    eprintln!("connector log: {}", deployment.log.display());
    let topic = table_topic(&db, "items");

    let mut process = deployment.start();
    let mut reader = connector::TopicReader::open(&topic, Duration::from_secs(120))
        .await
        .unwrap();
    reader
        .wait_for_count(2000, Duration::from_secs(120))
        .await
        .unwrap();
    let completed = stored_offset(&deployment.offsets_topic, &db.name, &db.topic_prefix())
        .await
        .unwrap()
        .is_some_and(|o| o["snapshot_completed"] == true);
    process.kill().unwrap();
    eprintln!(
        "killed after {} snapshot records (snapshot completed: {completed})",
        reader.events.len()
    );
    wait_slot_inactive(&db, &db.slot_name(), Duration::from_secs(30))
        .await
        .unwrap();

    let mut process = deployment.restart();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let offset = stored_offset(&deployment.offsets_topic, &db.name, &db.topic_prefix())
            .await
            .unwrap();
        if offset.is_some_and(|o| o["snapshot_completed"] == true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot did not complete after the restart; log: {}",
            deployment.log.display()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_streaming(&db, &db.slot_name(), Duration::from_secs(60))
        .await
        .unwrap();
    sql.batch_execute(&format!(
        "INSERT INTO items VALUES ({}, 1, 'streamed'); UPDATE items SET version = 2 WHERE id = 1;",
        ROWS + 1
    ))
    .await
    .unwrap();
    reader
        .wait_until(Duration::from_secs(120), "the streamed update", |events| {
            events.iter().any(|e| e.op() == Some("u"))
        })
        .await
        .unwrap();
    let status = process.terminate(Duration::from_secs(60)).unwrap();
    assert!(
        status.success(),
        "pgcdc connect exited with {status} on SIGTERM"
    );
    reader.read_to_end(Duration::from_secs(60)).await.unwrap();

    // Repeated snapshot reads of a row are the documented at-least-once; they must
    // be identical, and without them the topic follows every rule.
    let mut seen = std::collections::BTreeMap::new();
    let mut repeated = 0;
    let mut events = Vec::new();
    for event in reader.events {
        if event.op() == Some("r") {
            let id = event.key["id"].as_i64().unwrap();
            if let Some(first) = seen.insert(id, event.after().clone()) {
                assert_eq!(&first, event.after(), "two snapshot reads of {id} differ");
                repeated += 1;
                continue;
            }
        }
        events.push(event);
    }
    eprintln!("{repeated} rows were read by both snapshot attempts");
    let histories = consistency::histories(&events, Rules::default())
        .unwrap_or_else(|v| panic!("{}", consistency::summary(&v, 20)));
    let rows = consistency::table_rows(&sql, "items").await.unwrap();
    let differences = consistency::compare_with_table(&histories, &rows);
    assert!(
        differences.is_empty(),
        "rows lost or wrong after a crash during the snapshot: {}",
        consistency::summary(&differences, 20)
    );
    assert_eq!(histories[&(ROWS + 1)].first_op, "c");
    assert_eq!(histories[&1].updates, 1);
    deployment.remove_files();
}
