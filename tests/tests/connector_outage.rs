//! Outages mid-stream: while the ledger load writes, the broker is SIGKILLed and
//! restarted, and PostgreSQL is crashed (`pg_ctl stop -m immediate`) and restarted.
//! The same `pgcdc connect` process rides through both — it reconnects by itself —
//! and afterwards every committed change is in Kafka exactly once, in per-key order,
//! and the topics' final state is the tables'. The broker and the cluster are
//! private to this test, so the other tests on the shared stack see no outage.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::broker::PrivateBroker;
use pgcdc_tests::connector::{
    confirmed_flush_lsn, current_wal_lsn, stored_offset_on, wait_slot_inactive, wait_streaming,
};
use pgcdc_tests::consistency;
use pgcdc_tests::ledger::{check_topics, spawn_generator, Ledger, SCHEMA};
use pgcdc_tests::private_pg::PrivatePostgres;
use pgcdc_tests::process::{ConnectProcess, Deployment};
use pgcdc_tests::TestDb;
use tokio_util::sync::CancellationToken;

const ROUNDS: u64 = 2;

/// Runs the generator from `ledger` for `seconds`, then stops it and returns what it
/// committed in all.
async fn load_for(db: &TestDb, seed: u64, ledger: Ledger, seconds: u64) -> Ledger {
    let stop = CancellationToken::new();
    let generator = spawn_generator(db, seed, stop.clone(), Arc::new(AtomicU64::new(0)), ledger);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.cancel();
    tokio::task::block_in_place(|| generator.join()).unwrap()
}

fn assert_running(process: &mut ConnectProcess, deployment: &Deployment, during: &str) {
    assert!(
        process.try_status().unwrap().is_none(),
        "pgcdc connect exited during {during}; log: {}",
        deployment.log.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_and_postgres_outages_mid_stream_lose_nothing() {
    let started = Instant::now();
    let cluster = tokio::task::block_in_place(|| PrivatePostgres::start("outage")).unwrap();
    let mut broker = PrivateBroker::start("outage").await.unwrap();
    let kafka = broker.client_config();
    let db = TestDb::create_on(cluster.server(), "outage").await.unwrap();
    db.client()
        .await
        .unwrap()
        .batch_execute(SCHEMA)
        .await
        .unwrap();
    let deployment = Deployment::new(&db, &broker.bootstrap());
    eprintln!("connector log: {}", deployment.log.display());

    let mut process = deployment.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let offset = stored_offset_on(&kafka, &deployment.offsets_topic, &db.name, &db.name)
            .await
            .unwrap();
        if offset.is_some_and(|o| o["snapshot_completed"] == true) {
            break;
        }
        assert_running(&mut process, &deployment, "the snapshot");
        assert!(Instant::now() < deadline, "the snapshot did not complete");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let seed: u64 = rand::random();
    eprintln!("load generator seed: {seed}");
    let mut ledger = Ledger::default();
    for round in 0..ROUNDS {
        wait_streaming(&db, &db.slot_name(), Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("{e}; log: {}", deployment.log.display()));

        // The broker dies under load and comes back 5 s later; PostgreSQL keeps
        // taking writes meanwhile, which the connector must hold back, not drop.
        let stop = CancellationToken::new();
        let generator = spawn_generator(
            &db,
            seed.wrapping_add(2 * round),
            stop.clone(),
            Arc::new(AtomicU64::new(0)),
            ledger,
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        broker.kill().unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        broker.restart().await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.cancel();
        ledger = tokio::task::block_in_place(|| generator.join()).unwrap();
        assert_running(&mut process, &deployment, "the broker outage");

        // PostgreSQL crashes right after the load stops, while the connector still
        // has changes in flight, and is back 3 s later.
        tokio::task::block_in_place(|| cluster.crash()).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        tokio::task::block_in_place(|| cluster.restart()).unwrap();
        assert_running(&mut process, &deployment, "the PostgreSQL outage");
        wait_streaming(&db, &db.slot_name(), Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("{e}; log: {}", deployment.log.display()));
        ledger = load_for(&db, seed.wrapping_add(2 * round + 1), ledger, 3).await;
    }
    eprintln!(
        "{ROUNDS} broker and {ROUNDS} PostgreSQL outages during {} transactions: {} inserts, {} updates, {} deletes",
        ledger.transactions, ledger.inserts, ledger.updates, ledger.deletes
    );
    assert!(
        ledger.transactions >= 100,
        "the load was too light to test anything"
    );

    let sql = db.client().await.unwrap();
    let end_of_load = current_wal_lsn(&sql).await.unwrap();
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

    let problems = check_topics(&kafka, &db, &sql, &ledger).await.unwrap();
    assert!(
        problems.is_empty(),
        "the topics do not hold every committed change exactly once (seed {seed}; log {}): {}",
        deployment.log.display(),
        consistency::summary(&problems, 30)
    );
    eprintln!("checked in {:.0}s", started.elapsed().as_secs_f64());
    deployment.remove_files();
}
