//! "Killing the sink at random moments loses nothing and applies nothing twice."
//!
//! The source writes, per transaction, an account's new balance and version and one
//! append-only ledger row. The warehouse copies carry triggers that append every row
//! the sink inserts, updates or deletes to an audit table, in the same transaction as
//! the sink's batch. While the load runs, the sink is killed (its task aborted
//! mid-flight, or the `pgcdc sink` process SIGKILLed) again and again and restarted,
//! and the warehouse drops its connections.
//! Afterwards:
//!
//! - the tables equal the source (nothing lost);
//! - every ledger row was inserted exactly once and never touched again, and every
//!   account's audited versions only go up (a batch applied twice would write a
//!   version again, or an older one after a newer);
//! - the stored offsets are the topics' ends.
//!
//! The same holds when a second sink task of the same sink joins and leaves the
//! consumer group again and again (rebalances move partitions between the tasks).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::sink_support::{
    comparing_client, end_offsets, sink_config, sink_properties, stored_offsets, wait_equal,
    wait_topic, Connector, SinkProcess, SinkTask, TablePair,
};
use pgcdc_tests::TestDb;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio_postgres::Client;

const SOURCE: &str = "
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance bigint NOT NULL, version int NOT NULL);
CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, delta bigint NOT NULL, version int NOT NULL DEFAULT 1);
INSERT INTO accounts SELECT g, 'owner ' || g, 0, 1 FROM generate_series(1, 20) g;
INSERT INTO ledger VALUES (0, 1, 0, 1);
";

/// The warehouse copies, made before the sink runs so that they carry the audit
/// triggers (the sink finds them and writes into them).
fn warehouse_schema(prefix: &str) -> String {
    format!(
        "CREATE TABLE audit (seq bigserial PRIMARY KEY, tbl text NOT NULL, id bigint NOT NULL, version int, op text NOT NULL);
         CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'DELETE' THEN
             INSERT INTO audit (tbl, id, version, op) VALUES (TG_TABLE_NAME, OLD.id, OLD.version, 'D');
           ELSE
             INSERT INTO audit (tbl, id, version, op) VALUES (TG_TABLE_NAME, NEW.id, NEW.version, left(TG_OP, 1));
           END IF;
           RETURN NULL;
         END $$;
         CREATE TABLE {prefix}_public_accounts (id integer PRIMARY KEY, owner text, balance bigint NOT NULL, version integer NOT NULL);
         CREATE TABLE {prefix}_public_ledger (id bigint PRIMARY KEY, account integer NOT NULL, delta bigint NOT NULL, version integer NOT NULL);
         CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {prefix}_public_accounts FOR EACH ROW EXECUTE FUNCTION audit();
         CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {prefix}_public_ledger FOR EACH ROW EXECUTE FUNCTION audit();"
    )
}

/// Transactions until `stop`: move money on an account (balance, version, a ledger
/// row), now and then open a new account or close one (ids are never reused).
async fn load(sql: Client, stop: Arc<AtomicBool>) -> u64 {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut accounts: Vec<i32> = (1..=20).collect();
    let mut next_account = 21;
    let mut next_ledger = 1i64;
    let mut transactions = 0;
    while !stop.load(Ordering::Relaxed) {
        let roll: f64 = rng.gen();
        let statement = if roll < 0.05 {
            let id = next_account;
            next_account += 1;
            accounts.push(id);
            format!("INSERT INTO accounts VALUES ({id}, 'owner {id}', 0, 1)")
        } else if roll < 0.08 && accounts.len() > 5 {
            let id = accounts.swap_remove(rng.gen_range(0..accounts.len()));
            format!("DELETE FROM accounts WHERE id = {id}")
        } else {
            let id = accounts[rng.gen_range(0..accounts.len())];
            let delta: i64 = rng.gen_range(-1000..1000);
            let ledger = next_ledger;
            next_ledger += 1;
            format!(
                "BEGIN; UPDATE accounts SET balance = balance + {delta}, version = version + 1 WHERE id = {id}; \
                 INSERT INTO ledger (id, account, delta) VALUES ({ledger}, {id}, {delta}); COMMIT"
            )
        };
        sql.batch_execute(&statement).await.unwrap();
        transactions += 1;
    }
    transactions
}

struct Setup {
    source: TestDb,
    warehouse: TestDb,
    connector: Connector,
    topics: Vec<String>,
    pairs: [TablePair; 2],
}

async fn setup(label: &str) -> Setup {
    setup_with(label, json!({})).await
}

async fn setup_with(label: &str, connector: serde_json::Value) -> Setup {
    pgcdc_tests::log_tail::keep();
    let source = TestDb::create(&format!("{label}_src")).await.unwrap();
    let warehouse = TestDb::create(&format!("{label}_dw")).await.unwrap();
    source
        .client()
        .await
        .unwrap()
        .batch_execute(SOURCE)
        .await
        .unwrap();
    let prefix = source.topic_prefix();
    warehouse
        .client()
        .await
        .unwrap()
        .batch_execute(&warehouse_schema(&prefix))
        .await
        .unwrap();
    let connector = Connector::start(&source, connector).unwrap();
    let topics = vec![
        format!("{prefix}.public.accounts"),
        format!("{prefix}.public.ledger"),
    ];
    for topic in &topics {
        wait_topic(topic, Duration::from_secs(60)).await.unwrap();
    }
    let pairs = [
        TablePair {
            source: "accounts".to_owned(),
            copy: format!("{prefix}_public_accounts"),
            key: vec!["id"],
        },
        TablePair {
            source: "ledger".to_owned(),
            copy: format!("{prefix}_public_ledger"),
            key: vec!["id"],
        },
    ];
    Setup {
        source,
        warehouse,
        connector,
        topics,
        pairs,
    }
}

/// The checks of the module comment, once the sink has caught up.
async fn check_exactly_once(setup: &Setup, sink_name: &str) {
    let source = comparing_client(&setup.source).await.unwrap();
    let warehouse = comparing_client(&setup.warehouse).await.unwrap();
    wait_equal(&source, &warehouse, &setup.pairs, Duration::from_secs(90))
        .await
        .unwrap();

    let ledger = &setup.pairs[1].copy;
    let twice: Vec<(i64, i64, String)> = warehouse
        .query(
            "SELECT id, count(*), string_agg(op, '') FROM audit WHERE tbl = $1 \
             GROUP BY id HAVING count(*) <> 1 OR bool_or(op <> 'I') ORDER BY id LIMIT 10",
            &[ledger],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(
        twice.is_empty(),
        "ledger rows written more than once: {twice:?}"
    );
    let audited: i64 = warehouse
        .query_one("SELECT count(*) FROM audit WHERE tbl = $1", &[ledger])
        .await
        .unwrap()
        .get(0);
    let rows: i64 = source
        .query_one("SELECT count(*) FROM ledger", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, rows, "every ledger row inserted once");

    let accounts = &setup.pairs[0].copy;
    let regressions: Vec<(i64, String)> = warehouse
        .query(
            "SELECT id, string_agg(op || version, ' ' ORDER BY seq) FROM ( \
               SELECT id, seq, op, version, \
                      lag(version) OVER w AS previous, lag(op) OVER w AS previous_op \
               FROM audit WHERE tbl = $1 WINDOW w AS (PARTITION BY id ORDER BY seq)) x \
             GROUP BY id \
             HAVING bool_or(previous_op = 'D' OR (op <> 'D' AND version <= previous)) LIMIT 10",
            &[accounts],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        regressions.is_empty(),
        "accounts written twice or out of order (op+version in audit order): {regressions:?}"
    );

    check_history(setup, &source, &warehouse).await;

    let stored = stored_offsets(&warehouse, sink_name).await.unwrap();
    for topic in &setup.topics {
        for (partition, end) in end_offsets(topic).unwrap() {
            let next = stored.get(&(topic.clone(), partition)).copied().flatten();
            assert_eq!(
                next,
                Some(end),
                "{topic}/{partition}: stored {next:?}, end {end}"
            );
        }
    }
}

/// The history tables (`history.enabled=true`) hold every change once, in order:
/// one `c`/`r` row per ledger row; per account, versions 1, 2, 3… with nothing
/// after its delete, the last one equal to the warehouse copy.
async fn check_history(setup: &Setup, source: &Client, warehouse: &Client) {
    let ledger = format!("{}_history", setup.pairs[1].copy);
    let (rows, ids, creates): (i64, i64, i64) = warehouse
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE __op IN ('c', 'r')) FROM {ledger}"
            ),
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    let source_rows: i64 = source
        .query_one("SELECT count(*) FROM ledger", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        (rows, ids, creates),
        (source_rows, source_rows, source_rows),
        "{ledger}: (rows, distinct ids, creates) against the source's ledger rows"
    );

    let accounts = format!("{}_history", setup.pairs[0].copy);
    let broken: Vec<(i32, String)> = warehouse
        .query(
            &format!(
                "SELECT id, string_agg(__op || coalesce(version::text, ''), ' ' ORDER BY __offset) FROM ( \
                   SELECT id, __op, version, __offset, \
                          lag(version) OVER w AS previous, lag(__op) OVER w AS previous_op, \
                          row_number() OVER w AS n \
                   FROM {accounts} WINDOW w AS (PARTITION BY id ORDER BY __offset)) x \
                 GROUP BY id \
                 HAVING bool_or(previous_op = 'd' OR (__op <> 'd' AND version <> coalesce(previous + 1, 1))) \
                 LIMIT 10"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        broken.is_empty(),
        "{accounts}: an account's changes are missing, repeated or out of order (op+version by offset): {broken:?}"
    );
    let differing: i64 = warehouse
        .query_one(
            &format!(
                "SELECT count(*) FROM {copy} c LEFT JOIN LATERAL ( \
                   SELECT version, balance FROM {accounts} h WHERE h.id = c.id ORDER BY __offset DESC LIMIT 1) l ON true \
                 WHERE l.version IS DISTINCT FROM c.version OR l.balance IS DISTINCT FROM c.balance",
                copy = setup.pairs[0].copy
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        differing, 0,
        "{accounts}: last changes that differ from the copy"
    );
    let (deleted_ids, history_deletes): (i64, i64) = warehouse
        .query_one(
            &format!(
                "SELECT (SELECT count(DISTINCT id) FROM {accounts} WHERE id NOT IN (SELECT id FROM {copy})), \
                        (SELECT count(*) FROM {accounts} WHERE __op = 'd')",
                copy = setup.pairs[0].copy
            ),
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(
        deleted_ids, history_deletes,
        "{accounts}: one delete per closed account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_the_sink_task_twenty_times_and_dropping_its_connections_loses_and_duplicates_nothing(
) {
    let started = Instant::now();
    let setup = setup("sink_abort").await;
    let sink_name = format!("{}_sink", setup.warehouse.name);
    let properties = sink_properties(
        &sink_name,
        &setup.warehouse,
        &setup.topics,
        // Small batches: the sink is nearly always inside a warehouse transaction.
        json!({"batch.size": "40", "batch.max.latency.ms": "20", "history.enabled": "true"}),
    );
    let config = sink_config(&properties).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(load(
        setup.source.client().await.unwrap(),
        Arc::clone(&stop),
    ));
    let mut sink = SinkTask::start(Arc::clone(&config));
    let mut rng = rand::rngs::StdRng::from_entropy();
    let admin = setup.warehouse.server.connect("postgres").await.unwrap();
    let (kills, mut disconnects) = (20, 0);
    for round in 0..kills + 4 {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1200))).await;
        assert!(!sink.is_finished(), "the sink stopped on its own");
        if round % 6 == 5 {
            // The warehouse drops the sink's connections (a restart, a failover): the
            // task notices, restarts and carries on from the stored offsets.
            disconnects += admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1",
                    &[&format!("pgcdc sink {sink_name}")],
                )
                .await
                .unwrap();
            continue;
        }
        sink.kill().await;
        sink = SinkTask::start(Arc::clone(&config));
    }
    assert!(disconnects > 0, "no warehouse connection was dropped");
    stop.store(true, Ordering::Relaxed);
    let transactions = writer.await.unwrap();
    check_exactly_once(&setup, &sink_name).await;
    let stats = sink.stop().await.unwrap();
    setup.connector.stop().await.unwrap();
    eprintln!(
        "{kills} kills and {disconnects} dropped warehouse connections during {transactions} transactions; \
         last sink {stats:?}; test {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_pgcdc_sink_processes_lose_and_duplicate_nothing_and_sigterm_drains() {
    // Built (or found up to date) before anything runs: a build must not stall the test.
    tokio::task::spawn_blocking(pgcdc_tests::process::pgcdc_binary)
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let setup = setup("sink_kill").await;
    let sink_name = format!("{}_sink", setup.warehouse.name);
    let properties = sink_properties(
        &sink_name,
        &setup.warehouse,
        &setup.topics,
        json!({"batch.size": "40", "batch.max.latency.ms": "20", "history.enabled": "true"}),
    );
    // Static membership: a restarted process takes over its predecessor's place in the
    // group at once instead of waiting for the dead member's session to expire.
    let instance = format!("group.instance.id={sink_name}");
    let kafka = [instance.as_str(), "session.timeout.ms=6000"];
    let label = setup.warehouse.name.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(load(
        setup.source.client().await.unwrap(),
        Arc::clone(&stop),
    ));
    let mut process = SinkProcess::start(&label, &properties, &kafka).unwrap();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let kills = 10;
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(500..2000))).await;
        assert!(process.is_running(), "pgcdc sink exited on its own");
        process.kill().unwrap();
        process = SinkProcess::start(&label, &properties, &kafka).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let transactions = writer.await.unwrap();
    check_exactly_once(&setup, &sink_name).await;
    let status = process.terminate(Duration::from_secs(30)).await.unwrap();
    assert!(
        status.success(),
        "pgcdc sink exited with {status} after SIGTERM"
    );
    setup.connector.stop().await.unwrap();
    eprintln!(
        "{kills} SIGKILLs during {transactions} transactions; test {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_task_joining_and_leaving_double_applies_nothing() {
    let started = Instant::now();
    // Three partitions per topic, so that two tasks share the work.
    let setup = setup_with(
        "sink_rebalance",
        json!({"topic.creation.default.partitions": "3"}),
    )
    .await;
    let sink_name = format!("{}_sink", setup.warehouse.name);
    let properties = sink_properties(
        &sink_name,
        &setup.warehouse,
        &setup.topics,
        json!({"batch.size": "40", "batch.max.latency.ms": "20", "history.enabled": "true"}),
    );
    let config = sink_config(&properties).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(load(
        setup.source.client().await.unwrap(),
        Arc::clone(&stop),
    ));
    // Members learn of a rebalance through their heartbeats: make them frequent.
    let mut kafka = pgcdc_tests::kafka::client_config();
    kafka
        .set("heartbeat.interval.ms", "300")
        .set("session.timeout.ms", "6000");
    let first = SinkTask::start_with(Arc::clone(&config), kafka.clone());
    let mut rng = rand::rngs::StdRng::from_entropy();
    let rounds = 8;
    let mut second_batches = 0;
    for round in 0..rounds {
        let second = SinkTask::start_with(Arc::clone(&config), kafka.clone());
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..2500))).await;
        // A task that stopped says why: its error is the finding.
        if first.is_finished() {
            panic!("the first sink task stopped: {:?}", first.stop().await);
        }
        if second.is_finished() {
            panic!(
                "the second sink task stopped (round {round}): {:?}",
                second.stop().await
            );
        }
        // Leaving cleanly and vanishing mid-batch, in turn.
        if round % 2 == 0 {
            second_batches += second.stop().await.unwrap().batches;
        } else {
            second.kill().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..800))).await;
    }
    stop.store(true, Ordering::Relaxed);
    let transactions = writer.await.unwrap();
    check_exactly_once(&setup, &sink_name).await;
    let stats = first.stop().await.unwrap();
    setup.connector.stop().await.unwrap();
    assert!(second_batches > 0, "the second task never applied a batch");
    eprintln!(
        "{rounds} joins and leaves during {transactions} transactions; first task {stats:?}, \
         second task {second_batches} batches (cleanly stopped rounds); test {:?}",
        started.elapsed()
    );
}
