//! Restore after a restart or rebalance: the stored watermark and open partials of a
//! partition, plus a replay from the stored offset, give exactly what an engine that
//! never stopped gives — for every kind of window and aggregate, with updates, deletes
//! and late events in the workload.

use proptest::prelude::*;
use serde_json::json;

use super::support::{p, row, shop, Store};
use crate::engine::{Change, Engine, SourcePartition};

fn spec() -> std::sync::Arc<crate::spec::Spec> {
    shop(
        json!([
            {"name": "count", "source": "views", "group.by": ["kind"], "window": {"type": "tumbling", "size.ms": 1000}, "aggregate": {"fn": "count"}},
            {"name": "revenue", "source": "views", "window": {"type": "tumbling", "size.ms": 1000}, "aggregate": {"fn": "sum", "field": "amount"}},
            {"name": "largest", "source": "views", "window": {"type": "tumbling", "size.ms": 2000}, "aggregate": {"fn": "max", "field": "amount"}},
            {"name": "active", "source": "views", "window": {"type": "hopping", "size.ms": 3000, "advance.ms": 1000}, "aggregate": {"fn": "count_distinct", "field": "user"}},
            {"name": "sessions", "source": "views", "group.by": ["user"], "window": {"type": "session", "gap.ms": 700}, "aggregate": {"fn": "avg", "field": "amount"}},
            {"name": "bounce", "source": "metric:sessions", "window": {"type": "tumbling", "size.ms": 1000},
             "aggregate": {"fn": "ratio", "numerator": {"fn": "count", "where": [{"field": "value", "op": "lt", "value": 5}]}, "denominator": {"fn": "count"}}}
        ]),
        1500,
    )
}

/// A deterministic workload of creates, updates and deletes, some out of order and
/// some late, keyed so that one user's rows share a partition.
fn workload(seed: u64, steps: usize) -> Vec<(SourcePartition, Change)> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut rows: std::collections::BTreeMap<i64, crate::engine::Row> = Default::default();
    let mut clock = 0i64;
    let mut out = Vec::new();
    for _ in 0..steps {
        clock += next(150) as i64;
        let id = next(40) as i64;
        let user = id % 7;
        let at = clock + next(2500) as i64 - 2000;
        let new = row(
            json!({"id": id, "user": user, "at": at, "kind": (["view", "buy"][next(2) as usize]),
                             "amount": format!("{}.{:02}", next(20), next(100))}),
        );
        let change = match (rows.get(&id).cloned(), next(10)) {
            (Some(old), 0..=1) => {
                rows.remove(&id);
                Change::delete(old, 0)
            }
            (Some(old), _) => {
                rows.insert(id, new.clone());
                Change::update(old, new, 0)
            }
            (None, _) => {
                rows.insert(id, new.clone());
                Change::create(new, 0)
            }
        };
        out.push((p((user % 3) as i32), change));
    }
    out
}

fn run_through(events: &[(SourcePartition, Change)]) -> Store {
    let mut e = Engine::new(spec());
    let mut s = Store::default();
    for (i, (at, change)) in events.iter().enumerate() {
        e.apply(at, change);
        if i % 7 == 0 {
            s.absorb(&mut e);
        }
    }
    s.absorb(&mut e);
    s
}

/// Runs to `stop`, commits, "crashes", restores a new engine from the store (one
/// partition at a time, as a rebalance would hand them out) and replays the rest.
fn run_with_restart(events: &[(SourcePartition, Change)], stop: usize) -> Store {
    let mut first = Engine::new(spec());
    let mut s = Store::default();
    for (at, change) in &events[..stop] {
        first.apply(at, change);
    }
    s.absorb(&mut first);
    drop(first);
    let mut second = Engine::new(spec());
    for (at, watermark) in s.watermarks.clone() {
        second.restore(at.clone(), watermark, s.open_partials(&at));
    }
    s.absorb(&mut second);
    for (at, change) in &events[stop..] {
        second.apply(at, change);
    }
    s.absorb(&mut second);
    s
}

#[test]
fn restore_then_replay_equals_never_stopping() {
    for seed in 0..6 {
        let events = workload(seed, 400);
        let whole = run_through(&events);
        assert!(
            whole.merged_values().values().any(|(_, closed)| *closed),
            "the workload closes windows"
        );
        assert!(whole.merged_values().len() > 50);
        for stop in [0, 1, 57, 200, 399, 400] {
            let restarted = run_with_restart(&events, stop);
            assert_eq!(
                restarted.merged_values(),
                whole.merged_values(),
                "seed {seed}, restart after {stop}"
            );
            assert_eq!(restarted.watermarks, whole.watermarks);
        }
    }
}

#[test]
fn restoring_a_partition_replaces_what_was_held() {
    let events = workload(42, 100);
    let whole = run_through(&events);
    let mut e = Engine::new(spec());
    for (at, change) in &events {
        e.apply(at, change);
    }
    // Restoring over live state (a partition handed back) gives the stored state.
    let mut s = Store::default();
    s.absorb(&mut e);
    for (at, watermark) in s.watermarks.clone() {
        e.restore(at.clone(), watermark, s.open_partials(&at));
    }
    s.absorb(&mut e);
    assert_eq!(s.merged_values(), whole.merged_values());
    // Unknown metrics and partials of the wrong kind are left out.
    e.restore(
        p(0),
        0,
        vec![
            (
                "gone".into(),
                "[]".into(),
                0,
                1000,
                crate::partial::Partial::Count(1),
            ),
            (
                "sessions".into(),
                r#"["1"]"#.into(),
                0,
                700,
                crate::partial::Partial::Count(1),
            ),
        ],
    );
    assert!(e.open_windows(&p(0)).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn restore_at_any_point(seed in 0u64..1_000_000, stop in 0usize..150) {
        let events = workload(seed, 150);
        prop_assert_eq!(run_with_restart(&events, stop).merged_values(), run_through(&events).merged_values());
    }
}
