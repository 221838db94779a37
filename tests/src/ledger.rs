//! A load with a ledger: transactions of inserts, updates and deletes on two tables,
//! recording what committed, so that a checker can hold the change topics against
//! it. Every row carries a `version` that its insert sets to 1 and every update
//! increments; `orders` has REPLICA IDENTITY FULL, so its old rows are checked too.

// The generator runs inside tests: a failed statement is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use rdkafka::config::ClientConfig;

use crate::connector::{read_all_on, table_topic};
use crate::consistency::{self, History, Rules};
use crate::TestDb;

pub const TABLES: [&str; 2] = ["accounts", "orders"];
pub const INITIAL_ROWS: i64 = 1000;

pub const SCHEMA: &str = "
CREATE TABLE accounts (id bigint PRIMARY KEY, version int NOT NULL, balance bigint NOT NULL, note text);
CREATE TABLE orders (id bigint PRIMARY KEY, version int NOT NULL, account_id bigint NOT NULL, status text);
ALTER TABLE orders REPLICA IDENTITY FULL;
INSERT INTO accounts SELECT i, 1, 0, 'opened' FROM generate_series(1, 1000) i;
INSERT INTO orders SELECT i, 1, i, 'new' FROM generate_series(1, 1000) i;
";

/// What the generator committed, per table: id → (version, deleted).
#[derive(Debug, Clone)]
pub struct Ledger {
    pub rows: BTreeMap<&'static str, BTreeMap<i64, (i64, bool)>>,
    pub transactions: u64,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

impl Default for Ledger {
    /// The rows [`SCHEMA`] inserts, each at version 1.
    fn default() -> Ledger {
        let initial: BTreeMap<i64, (i64, bool)> =
            (1..=INITIAL_ROWS).map(|id| (id, (1, false))).collect();
        Ledger {
            rows: TABLES
                .iter()
                .map(|&table| (table, initial.clone()))
                .collect(),
            transactions: 0,
            inserts: 0,
            updates: 0,
            deletes: 0,
        }
    }
}

/// Writes until `stop`: each transaction inserts one to three rows into each table,
/// updates two to five random live rows (sometimes the same row twice) and, one time
/// in three, deletes one. The ledger records only what committed; it goes on from
/// `ledger` (what an earlier run of the generator committed).
pub async fn generate(
    sql: tokio_postgres::Client,
    seed: u64,
    stop: CancellationToken,
    committed: Arc<AtomicU64>,
    mut ledger: Ledger,
) -> Ledger {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut live: BTreeMap<&'static str, Vec<i64>> = ledger
        .rows
        .iter()
        .map(|(&table, rows)| {
            let ids = rows
                .iter()
                .filter(|(_, &(_, deleted))| !deleted)
                .map(|(&id, _)| id);
            (table, ids.collect())
        })
        .collect();
    // Ids are shared by both tables' inserts, so the next is past every table's last.
    let mut next_id = ledger
        .rows
        .values()
        .filter_map(|rows| rows.keys().next_back())
        .max()
        .map_or(1, |id| id + 1);
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
pub fn spawn_generator(
    db: &TestDb,
    seed: u64,
    stop: CancellationToken,
    committed: Arc<AtomicU64>,
    ledger: Ledger,
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
            generate(sql, seed, stop, committed, ledger).await
        })
    })
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

/// The checker: per key, the change records of each table's topic on the broker
/// `kafka` points at obey the rules of a change stream; their final state is the
/// table's; and they hold every change of the ledger exactly once. Returns the
/// problems found, none when all is well.
pub async fn check_topics(
    kafka: &ClientConfig,
    db: &TestDb,
    sql: &tokio_postgres::Client,
    ledger: &Ledger,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut updates_seen = 0;
    for table in TABLES {
        let events = read_all_on(kafka, &table_topic(db, table)).await?;
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
        let rows = consistency::table_rows(sql, table).await?;
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
    if problems.is_empty() && updates_seen != ledger.updates {
        problems.push(format!(
            "{updates_seen} updates in the topics, {} committed",
            ledger.updates
        ));
    }
    Ok(problems)
}
