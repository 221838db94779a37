//! The aggregation engine's own ceiling: change events per second on one core, with
//! no Kafka, no Redis and no other process competing. `bench/run dashboard` reports
//! these beside the whole process's throughput.
//!
//! The aggregations are those of `configs/dashboard-shop.json` (seven metrics over page
//! views and orders: per-minute counts and sums, a count by the joined product
//! category, distinct users over hopping windows, sessions per user and the bounce
//! rate over them) with its 40 products loaded as the dimension table. Event times
//! advance 200 µs per page view (5,000 a second) over four partitions, so windows open
//! and close as they would live; the changed windows are taken every 500 events, as a
//! flush every `commit.interval.ms` would at 5,000 events/s.
//!
//! - `engine/page_view_insert`: [`Engine::apply`] of an insert (`op: c`) feeding five
//!   metrics and, through the sessions, the bounce rate;
//! - `engine/page_view_update`: an update moving a view to another product and 40 s
//!   later (its old row taken back out of every window, the new one put in);
//! - `engine/order_insert`: an order (a `where` filter, an exact decimal sum and an
//!   average);
//! - `decode/json_with_schema`: one page-view insert as pgcdc's connector writes it
//!   with JsonConverter and `schemas.enable=true`, through
//!   [`RecordDecoder::decode`] (the JSON parsed, decimals applied by the schema, the
//!   envelope read);
//!
//! ```sh
//! cargo bench -p pgcdc-dashboard --bench engine
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgcdc_dashboard::decode::{Record, RecordDecoder};
use pgcdc_dashboard::engine::{Change, Engine, Outcome, Row, SourcePartition};
use pgcdc_dashboard::spec::Spec;
use serde_json::{json, Value};

const SHOP: &str = include_str!("../../configs/dashboard-shop.json");
/// A page-view insert recorded from `pgcdc connect` (JsonConverter, schemas on).
const PAGE_VIEW_RECORD: &[u8] = include_bytes!("fixtures/page_view_insert.json");
const PARTITIONS: i32 = 4;
/// Changed windows are taken (a flush) every this many events.
const FLUSH_EVERY: u64 = 500;
/// Event-time step between two page views: 5,000 a second.
const STEP_MICROS: i64 = 200;
/// 2026-01-01T00:00:00Z, in microseconds.
const START_MICROS: i64 = 1_767_225_600_000_000;

fn row(value: Value) -> Row {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("rows are objects"),
    }
}

/// The shop's engine with its products loaded.
fn shop_engine() -> Engine {
    let spec = Spec::from_json(SHOP).expect("configs/dashboard-shop.json is valid");
    let mut engine = Engine::new(Arc::new(spec));
    for id in 1..=40 {
        let category = ["books", "games", "music", "garden"][id % 4];
        engine.upsert_dimension(
            "products",
            &json!(id),
            Some(row(
                json!({"id": id, "category": category, "price": format!("{}.25", id)}),
            )),
        );
    }
    engine
}

fn page_view(i: u64, product_shift: u64, micros_shift: i64) -> Row {
    row(json!({
        "id": i,
        "user_id": 1 + (i * 7_919) % 1_000,
        "product_id": 1 + (i + product_shift) % 40,
        "viewed_at": START_MICROS + i as i64 * STEP_MICROS + micros_shift,
    }))
}

fn order(i: u64) -> Row {
    row(json!({
        "id": i,
        "user_id": 1 + (i * 7_919) % 1_000,
        "amount": format!("{}.{:02}", 1 + i % 500, i % 100),
        "created_at": START_MICROS + i as i64 * STEP_MICROS * 5,
    }))
}

/// Applies `changes` (each with its partition) to a long-lived engine, taking the
/// changed windows every [`FLUSH_EVERY`]; returns the time spent.
fn apply_all(
    engine: &mut Engine,
    changes: &[(SourcePartition, Change)],
    applied: &mut u64,
) -> Duration {
    let started = Instant::now();
    for (at, change) in changes {
        let outcome = engine.apply(at, change);
        debug_assert_eq!(outcome, Outcome::Applied);
        black_box(outcome);
        *applied += 1;
        if *applied % FLUSH_EVERY == 0 {
            black_box(engine.take_changes());
        }
    }
    started.elapsed()
}

fn partitions(topic: &str) -> Vec<SourcePartition> {
    (0..PARTITIONS)
        .map(|p| SourcePartition::new(topic, p))
        .collect()
}

fn engine_benches(c: &mut Criterion) {
    let views = partitions("shop.public.page_views");
    let orders = partitions("shop.public.orders");
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));

    // Each benchmark keeps one engine and keeps time moving forward across samples;
    // building the events is not timed.
    let (mut engine, mut next, mut applied) = (shop_engine(), 0u64, 0u64);
    group.bench_function("page_view_insert", |b| {
        b.iter_custom(|iters| {
            let changes: Vec<_> = (next..next + iters)
                .map(|i| {
                    let after = page_view(i, 0, 0);
                    let at = views[(after["user_id"].as_u64().unwrap_or(0) % 4) as usize].clone();
                    (at, Change::create(after, 0))
                })
                .collect();
            next += iters;
            apply_all(&mut engine, &changes, &mut applied)
        });
    });

    // Updates need their rows in the windows first: each sample inserts its rows
    // (untimed), then times the updates of the same rows.
    let (mut engine, mut next, mut applied) = (shop_engine(), 0u64, 0u64);
    group.bench_function("page_view_update", |b| {
        b.iter_custom(|iters| {
            let mut inserts = Vec::new();
            let mut updates = Vec::new();
            for i in next..next + iters {
                let before = page_view(i, 0, 0);
                let at = views[(before["user_id"].as_u64().unwrap_or(0) % 4) as usize].clone();
                inserts.push((at.clone(), Change::create(before.clone(), 0)));
                updates.push((at, Change::update(before, page_view(i, 7, 40_000_000), 0)));
            }
            next += iters;
            let mut untimed = 0;
            apply_all(&mut engine, &inserts, &mut untimed);
            black_box(engine.take_changes());
            apply_all(&mut engine, &updates, &mut applied)
        });
    });

    let (mut engine, mut next, mut applied) = (shop_engine(), 0u64, 0u64);
    group.bench_function("order_insert", |b| {
        b.iter_custom(|iters| {
            let changes: Vec<_> = (next..next + iters)
                .map(|i| {
                    (
                        orders[(i % 4) as usize].clone(),
                        Change::create(order(i), 0),
                    )
                })
                .collect();
            next += iters;
            apply_all(&mut engine, &changes, &mut applied)
        });
    });
    group.finish();
}

fn decode_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let mut decoder = RecordDecoder::new(None).expect("a decoder without registry");
    let check = runtime.block_on(decoder.decode(Some(PAGE_VIEW_RECORD)));
    assert!(
        matches!(check, Ok(Record::Change(_))),
        "the fixture is not a change event: {check:?}"
    );
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("json_with_schema", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(decoder.decode(Some(black_box(PAGE_VIEW_RECORD))).await.ok());
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, engine_benches, decode_benches);
criterion_main!(benches);
