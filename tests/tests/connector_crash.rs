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

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::connector::{
    self, confirmed_flush_lsn, current_wal_lsn, stored_offset, stored_offset_on, table_topic,
    wait_slot_inactive, wait_streaming,
};
use pgcdc_tests::consistency::{self, Rules};
use pgcdc_tests::kafka;
use pgcdc_tests::ledger::{check_topics, spawn_generator, Ledger, SCHEMA};
use pgcdc_tests::process::Deployment;
use pgcdc_tests::tansu::TansuBroker;
use pgcdc_tests::{Stack, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use tokio_util::sync::CancellationToken;

const KILLS: usize = 20;

async fn is_streaming(db: &TestDb) -> bool {
    wait_streaming(db, &db.slot_name(), Duration::ZERO)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_nothing_and_duplicates_nothing() {
    sigkill_during_load(
        "crash",
        Stack::get().kafka_bootstrap(),
        &kafka::client_config(),
    )
    .await;
}

/// The same on tansu, a broker without transactions: reading back each partition's
/// tail on start is all that keeps a restarted connector from writing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_on_tansu_loses_nothing_and_duplicates_nothing() {
    let broker = TansuBroker::start("crash_tansu").await.unwrap();
    sigkill_during_load("crash_tansu", &broker.bootstrap(), &broker.client_config()).await;
}

/// Kills `pgcdc connect`, writing to the broker at `bootstrap`, [`KILLS`] times
/// under load, then checks the topics against the load's ledger.
async fn sigkill_during_load(label: &str, bootstrap: &str, kafka: &ClientConfig) {
    let started = Instant::now();
    let db = TestDb::create(label).await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(SCHEMA).await.unwrap();
    let deployment = Deployment::new(&db, bootstrap);
    eprintln!("connector log: {}", deployment.log.display());

    // The initial snapshot completes before the first kill (crashes during the
    // snapshot have their own test below).
    let mut process = deployment.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let offset = stored_offset_on(
            kafka,
            &deployment.offsets_topic,
            &db.name,
            &db.topic_prefix(),
        )
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
    let generator = spawn_generator(
        &db,
        seed,
        stop.clone(),
        Arc::clone(&committed),
        Ledger::default(),
    );

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

    let problems = check_topics(kafka, &db, &sql, &ledger).await.unwrap();
    assert!(
        problems.is_empty(),
        "the topics do not hold every committed change exactly once (seed {seed}; log {}): {}",
        deployment.log.display(),
        consistency::summary(&problems, 30)
    );
    eprintln!("checked in {:.0}s", started.elapsed().as_secs_f64());
    deployment.remove_files();
}

/// Crashes during the initial snapshot while the table is being written to: each
/// start goes on with the interrupted snapshot (rows already in Kafka are not read
/// again, the others are read as of a new snapshot, and the changes those rows hold
/// are not streamed again), so every row is read once, and every change after its
/// read is streamed once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_the_initial_snapshot_resumes_it_without_repeating_a_row() {
    const ROWS: i64 = 200_000;
    const KILL_AFTER: usize = 15_000;
    let db = TestDb::create("crash_snapshot").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(&format!(
        "CREATE TABLE items (id bigint PRIMARY KEY, version int NOT NULL, note text);
         INSERT INTO items SELECT i, 1, 'row ' || i FROM generate_series(1, {ROWS}) i;"
    ))
    .await
    .unwrap();
    let deployment = Deployment::new(&db, Stack::get().kafka_bootstrap());
    eprintln!("connector log: {}", deployment.log.display());
    let topic = table_topic(&db, "items");
    let stop_writing = CancellationToken::new();
    let writer = tokio::spawn(write_during_snapshot(
        db.client().await.unwrap(),
        ROWS,
        stop_writing.clone(),
    ));

    let mut process = deployment.start();
    let mut reader = connector::TopicReader::open(&topic, Duration::from_secs(120))
        .await
        .unwrap();
    let mut resumed_after_completion = false;
    for kill in 0..2 {
        let target = reader.events.len() + KILL_AFTER;
        reader
            .wait_for_count(target, Duration::from_secs(180))
            .await
            .unwrap();
        let completed = stored_offset(&deployment.offsets_topic, &db.name, &db.topic_prefix())
            .await
            .unwrap()
            .is_some_and(|o| o["snapshot_completed"] == true);
        process.kill().unwrap();
        eprintln!(
            "kill {kill} after {} records (snapshot completed: {completed})",
            reader.events.len()
        );
        // The first kill must cut the snapshot, or nothing here is tested.
        assert!(
            kill > 0 || !completed,
            "the snapshot of {ROWS} rows completed before the first kill"
        );
        resumed_after_completion |= completed;
        wait_slot_inactive(&db, &db.slot_name(), Duration::from_secs(30))
            .await
            .unwrap();
        process = deployment.restart();
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let offset = stored_offset(&deployment.offsets_topic, &db.name, &db.topic_prefix())
            .await
            .unwrap();
        if offset.is_some_and(|o| o["snapshot_completed"] == true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot did not complete after the restarts; log: {}",
            deployment.log.display()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_streaming(&db, &db.slot_name(), Duration::from_secs(60))
        .await
        .unwrap();
    stop_writing.cancel();
    let written = writer.await.unwrap();
    eprintln!("writer: {written:?}");
    assert!(
        written.updates > 0 && written.inserts > 0 && written.deletes > 0,
        "{written:?}"
    );
    let marker = ROWS + 1_000_000;
    sql.batch_execute(&format!("INSERT INTO items VALUES ({marker}, 1, 'after')"))
        .await
        .unwrap();
    reader
        .wait_until(Duration::from_secs(120), "the marker row", |events| {
            events.iter().any(|e| e.key["id"].as_i64() == Some(marker))
        })
        .await
        .unwrap();
    let status = process.terminate(Duration::from_secs(60)).unwrap();
    assert!(
        status.success(),
        "pgcdc connect exited with {status} on SIGTERM"
    );
    reader.read_to_end(Duration::from_secs(60)).await.unwrap();

    let log = std::fs::read_to_string(&deployment.log).unwrap();
    let resumes = log.matches("resuming the interrupted snapshot").count();
    eprintln!(
        "{resumes} resumed snapshot(s); second kill after completion: {resumed_after_completion}"
    );
    assert!(
        resumes >= 1,
        "no start resumed the snapshot; log: {}",
        deployment.log.display()
    );
    // A second read of a row, or a change its read already holds, breaks a rule.
    let histories = consistency::histories(&reader.events, Rules::default())
        .unwrap_or_else(|v| panic!("{}", consistency::summary(&v, 20)));
    let rows = consistency::table_rows(&sql, "items").await.unwrap();
    let differences = consistency::compare_with_table(&histories, &rows);
    assert!(
        differences.is_empty(),
        "rows lost or wrong after crashes during the snapshot: {}",
        consistency::summary(&differences, 20)
    );
    let reads = reader.events.iter().filter(|e| e.op() == Some("r")).count();
    assert!(
        reads as i64 <= ROWS + written.inserts as i64,
        "{reads} reads"
    );
    deployment.remove_files();
}

#[derive(Debug, Default)]
struct Written {
    updates: u64,
    inserts: u64,
    deletes: u64,
}

/// Updates, inserts and deletes in small transactions until `stop`: updates bump the
/// version, inserts take new ids, deleted ids are never used again.
async fn write_during_snapshot(
    client: tokio_postgres::Client,
    rows: i64,
    stop: CancellationToken,
) -> Written {
    let mut rng = StdRng::seed_from_u64(7);
    let mut written = Written::default();
    let mut next_id = rows + 1;
    while !stop.is_cancelled() {
        let update = rng.gen_range(1..=rows);
        let delete = rng.gen_range(1..=rows);
        let sql = format!(
            "BEGIN; UPDATE items SET version = version + 1 WHERE id = {update};              INSERT INTO items VALUES ({next_id}, 1, 'new');              UPDATE items SET version = version + 1 WHERE id = {}; {} COMMIT;",
            next_id.saturating_sub(3).max(rows + 1),
            if next_id % 4 == 0 {
                format!("DELETE FROM items WHERE id = {delete};")
            } else {
                String::new()
            }
        );
        client.batch_execute(&sql).await.unwrap();
        written.updates += 2;
        written.inserts += 1;
        written.deletes += u64::from(next_id % 4 == 0);
        next_id += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    written
}
