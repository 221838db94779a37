//! Window math, exhaustively: boundaries, late and out-of-order events, retraction on
//! update and delete, session gap merging and splitting, metrics over sessions, idle
//! partitions, enrichment, and restore-then-replay equal to never stopping.

mod restore;
mod sessions;
mod support;

use serde_json::json;

use super::*;
use support::{p, row, shop, Store};

const MIN: i64 = 60_000;

fn count_per_minute() -> serde_json::Value {
    json!([{"name": "count", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}}])
}

fn view(id: i64, at: i64) -> Row {
    row(json!({"id": id, "at": at, "user": id % 3, "amount": "1.50", "kind": "view"}))
}

#[test]
fn tumbling_window_boundaries() {
    let mut e = Engine::new(shop(count_per_minute(), 0));
    let mut s = Store::default();
    for (id, t) in [(1, 0), (2, MIN - 1), (3, MIN)] {
        assert_eq!(
            e.apply(&p(0), &Change::create(view(id, t), 0)),
            Outcome::Applied
        );
    }
    s.absorb(&mut e);
    assert_eq!(
        s.value("count", "[]", 0),
        Some(2.0),
        "the last millisecond is inside"
    );
    assert_eq!(
        s.value("count", "[]", MIN),
        Some(1.0),
        "the end belongs to the next window"
    );
    assert!(
        s.is_closed("count", "[]", 0),
        "lateness 0: the event at 60000 closes [0, 60000)"
    );
    assert!(!s.is_closed("count", "[]", MIN));
    assert_eq!(s.window_ends("count", "[]", MIN), vec![2 * MIN]);
}

#[test]
fn a_window_closes_when_the_watermark_reaches_its_end() {
    let mut e = Engine::new(shop(count_per_minute(), 1000));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(view(1, 10), 0));
    e.apply(&p(0), &Change::create(view(2, MIN + 999), 0)); // watermark MIN - 1
    s.absorb(&mut e);
    assert!(!s.is_closed("count", "[]", 0));
    assert_eq!(e.watermarks(), vec![(p(0), MIN - 1)]);
    e.apply(&p(0), &Change::create(view(3, MIN + 1000), 0)); // watermark MIN
    s.absorb(&mut e);
    assert!(s.is_closed("count", "[]", 0));
    assert_eq!(s.value("count", "[]", 0), Some(1.0));
}

#[test]
fn out_of_order_within_lateness_counts_and_late_events_change_nothing() {
    let mut e = Engine::new(shop(count_per_minute(), 5000));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(view(1, MIN + 4000), 0)); // watermark MIN - 1000
    assert_eq!(
        e.apply(&p(0), &Change::create(view(2, MIN - 10), 0)),
        Outcome::Applied,
        "out of order, in time"
    );
    e.apply(&p(0), &Change::create(view(3, MIN + 5000), 0)); // watermark MIN: [0, MIN) closes
    s.absorb(&mut e);
    assert!(s.is_closed("count", "[]", 0));
    assert_eq!(s.value("count", "[]", 0), Some(1.0));
    assert_eq!(
        e.apply(&p(0), &Change::create(view(4, MIN - 1), 0)),
        Outcome::Late
    );
    assert_eq!(
        e.apply(&p(0), &Change::delete(view(2, MIN - 10), 0)),
        Outcome::Late,
        "a closed window is final"
    );
    assert_eq!(e.stats().late_windows, 2);
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", 0), Some(1.0));
    assert_eq!(e.take_changes(), vec![], "nothing left to report");
    // An event older than the watermark but in an open window still counts.
    e.apply(&p(0), &Change::create(view(5, MIN + 6000), 0)); // watermark MIN + 1000
    assert_eq!(
        e.apply(&p(0), &Change::create(view(6, MIN + 500), 0)),
        Outcome::Applied
    );
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", MIN), Some(4.0));
}

#[test]
fn watermarks_are_per_partition_and_never_go_back() {
    let mut e = Engine::new(shop(count_per_minute(), 0));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(view(1, 4 * MIN + 10), 0));
    e.apply(&p(0), &Change::create(view(2, 5 * MIN), 0));
    assert_eq!(
        e.apply(&p(0), &Change::create(view(3, 5 * MIN - 1), 0)),
        Outcome::Late
    );
    assert_eq!(
        e.apply(&p(1), &Change::create(view(4, 10), 0)),
        Outcome::Applied,
        "p1 has its own watermark"
    );
    assert_eq!(e.watermarks(), vec![(p(0), 5 * MIN), (p(1), 10)]);
    s.absorb(&mut e);
    assert!(s.is_closed_at("count", "[]", 4 * MIN, &p(0)));
    assert_eq!(s.value("count", "[]", 0), Some(1.0));
}

#[test]
fn hopping_windows_take_an_event_in_every_open_window() {
    let metrics = json!([{"name": "active", "source": "views",
        "window": {"type": "hopping", "size.ms": 5 * MIN, "advance.ms": MIN},
        "aggregate": {"fn": "count_distinct", "field": "user"}}]);
    let mut e = Engine::new(shop(metrics, 0));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(view(1, 5 * MIN + 10), 0)); // user 1; watermark 5m+10
    s.absorb(&mut e);
    let starts: Vec<i64> = s.starts("active");
    assert_eq!(starts, vec![MIN, 2 * MIN, 3 * MIN, 4 * MIN, 5 * MIN]);
    // At 4m: windows starting 0..4m hold it; [0, 5m) is closed, the other four are open.
    assert_eq!(
        e.apply(&p(0), &Change::create(view(4, 4 * MIN), 0)),
        Outcome::Applied
    ); // user 1 again
    assert_eq!(
        e.apply(&p(0), &Change::create(view(2, 4 * MIN), 0)),
        Outcome::Applied
    ); // user 2
    s.absorb(&mut e);
    assert_eq!(
        s.value("active", "[]", 0),
        None,
        "[0, 5m) had closed: nothing was added to it"
    );
    assert_eq!(s.value("active", "[]", MIN), Some(2.0));
    assert_eq!(s.value("active", "[]", 5 * MIN), Some(1.0));
    assert_eq!(
        e.stats().late_windows,
        2,
        "one closed window per late-ish image"
    );
}

#[test]
fn updates_retract_the_before_image_and_add_the_after_image() {
    let metrics = json!([
        {"name": "count", "source": "views", "group.by": ["kind"], "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}},
        {"name": "sum", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "sum", "field": "amount"}},
        {"name": "max", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "max", "field": "amount"}},
        {"name": "avg", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "avg", "field": "amount"}}
    ]);
    let mut e = Engine::new(shop(metrics, 10 * MIN));
    let mut s = Store::default();
    let a = row(json!({"id": 1, "at": 10, "kind": "view", "amount": "2.25"}));
    let b = row(json!({"id": 2, "at": 20, "kind": "view", "amount": "7.00"}));
    e.apply(&p(0), &Change::create(a.clone(), 0));
    e.apply(&p(0), &Change::create(b.clone(), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("sum", "[]", 0), Some(9.25));
    assert_eq!(s.value("max", "[]", 0), Some(7.0));
    // b changes kind and amount and moves to the next minute.
    let b2 = row(json!({"id": 2, "at": MIN + 5, "kind": "click", "amount": "1.00"}));
    assert_eq!(
        e.apply(&p(0), &Change::update(b.clone(), b2.clone(), 0)),
        Outcome::Applied
    );
    s.absorb(&mut e);
    assert_eq!(s.value("count", r#"["view"]"#, 0), Some(1.0));
    assert_eq!(s.value("count", r#"["click"]"#, MIN), Some(1.0));
    assert_eq!(s.value("sum", "[]", 0), Some(2.25));
    assert_eq!(
        s.value("max", "[]", 0),
        Some(2.25),
        "the retracted maximum is gone"
    );
    assert_eq!(s.value("avg", "[]", 0), Some(2.25));
    assert_eq!(s.value("sum", "[]", MIN), Some(1.0));
    // Deletes retract; an emptied window disappears.
    e.apply(&p(0), &Change::delete(b2, 0));
    e.apply(&p(0), &Change::delete(a, 0));
    s.absorb(&mut e);
    assert_eq!(s.value("sum", "[]", 0), None);
    assert_eq!(s.value("count", r#"["click"]"#, MIN), None);
    assert!(s.is_empty(), "{s:?}");
}

#[test]
fn a_retraction_without_its_insert_is_ignored_and_counted() {
    let mut e = Engine::new(shop(count_per_minute(), MIN));
    assert_eq!(
        e.apply(&p(0), &Change::delete(view(1, 10), 0)),
        Outcome::Skipped
    );
    assert_eq!(e.stats().unmatched_retractions, 1);
    assert_eq!(e.take_changes(), vec![]);
}

#[test]
fn filters_apply_per_image() {
    let mut spec = support::shop_doc(count_per_minute(), MIN);
    spec["sources"]["views"]["where"] = json!([{"field": "kind", "op": "eq", "value": "view"}]);
    let mut e = Engine::new(Arc::new(Spec::from_value(spec).unwrap()));
    let mut s = Store::default();
    let v = view(1, 10);
    let mut clicked = v.clone();
    clicked.insert("kind".into(), json!("click"));
    assert_eq!(
        e.apply(&p(0), &Change::create(clicked.clone(), 0)),
        Outcome::Skipped
    );
    e.apply(&p(0), &Change::create(v.clone(), 0));
    e.apply(&p(0), &Change::create(view(2, 20), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", 0), Some(2.0));
    // Leaving the filter only retracts; entering it only adds.
    e.apply(&p(0), &Change::update(v.clone(), clicked.clone(), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", 0), Some(1.0));
    e.apply(&p(0), &Change::update(clicked, v, 0));
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", 0), Some(2.0));
}

#[test]
fn ops_outside_the_source_are_skipped() {
    let mut spec = support::shop_doc(count_per_minute(), MIN);
    spec["sources"]["views"]["ops"] = json!(["c", "r"]);
    let mut e = Engine::new(Arc::new(Spec::from_value(spec).unwrap()));
    e.apply(
        &p(0),
        &Change {
            op: Op::Read,
            before: None,
            after: Some(view(1, 1)),
            source_ts_ms: 0,
        },
    );
    assert_eq!(
        e.apply(&p(0), &Change::delete(view(1, 1), 0)),
        Outcome::Skipped
    );
    let truncate = Change {
        op: Op::Truncate,
        before: None,
        after: None,
        source_ts_ms: 0,
    };
    assert_eq!(
        e.apply(&p(0), &truncate),
        Outcome::Skipped,
        "a truncate's rows are unknown"
    );
    let mut s = Store::default();
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", 0), Some(1.0));
    assert_eq!(
        e.apply(
            &SourcePartition::new("elsewhere", 0),
            &Change::create(view(2, 1), 0)
        ),
        Outcome::Skipped
    );
}

#[test]
fn source_ts_ms_event_time() {
    let mut spec = support::shop_doc(count_per_minute(), 0);
    spec["sources"]["views"]["event.time"] = json!("source.ts_ms");
    let mut e = Engine::new(Arc::new(Spec::from_value(spec).unwrap()));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(row(json!({"id": 1})), 3 * MIN + 1));
    s.absorb(&mut e);
    assert_eq!(s.value("count", "[]", 3 * MIN), Some(1.0));
    assert_eq!(
        e.apply(
            &p(0),
            &Change::update(row(json!({"id": 1})), row(json!({"id": 1})), 0)
        ),
        Outcome::Skipped
    );
}

#[test]
fn malformed_events_name_the_field_and_change_nothing() {
    let metrics = json!([
        {"name": "count", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}},
        {"name": "sum", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "sum", "field": "amount"}}
    ]);
    let mut e = Engine::new(shop(metrics, MIN));
    let malformed = |e: &mut Engine, change: Change| match e.apply(&p(0), &change) {
        Outcome::Malformed(why) => why,
        other => panic!("{other:?}"),
    };
    let why = malformed(
        &mut e,
        Change::create(row(json!({"id": 1, "amount": 1})), 0),
    );
    assert_eq!(why, "field `at` is not in the row in the after image");
    let why = malformed(
        &mut e,
        Change::create(row(json!({"id": 1, "at": 5, "amount": "lots"})), 0),
    );
    assert_eq!(
        why,
        r#"field `amount` is not a number: "lots" in the after image"#
    );
    let why = malformed(
        &mut e,
        Change::create(row(json!({"id": 1, "at": "yesterday"})), 0),
    );
    assert!(why.starts_with("field `at` is not a timestamp"), "{why}");
    let after = view(1, 5);
    let why = malformed(
        &mut e,
        Change {
            op: Op::Update,
            before: None,
            after: Some(after.clone()),
            source_ts_ms: 0,
        },
    );
    assert!(
        why.contains("before image of an update is null")
            && why.contains("set REPLICA IDENTITY FULL on the table"),
        "{why}"
    );
    let why = malformed(
        &mut e,
        Change {
            op: Op::Delete,
            before: None,
            after: None,
            source_ts_ms: 0,
        },
    );
    assert!(
        why.contains("set REPLICA IDENTITY FULL on the table"),
        "{why}"
    );
    // REPLICA IDENTITY DEFAULT: a delete's before image has the key only, the rest null.
    let key_only = row(json!({"id": 1, "at": null, "amount": null}));
    let why = malformed(&mut e, Change::delete(key_only, 0));
    assert!(
        why.starts_with(
            "field `at` (the event time) is null in the before image: set REPLICA IDENTITY FULL"
        ),
        "{why}"
    );
    let toasted = row(json!({"id": 1, "at": 5, "amount": crate::row::UNAVAILABLE_VALUE}));
    let why = malformed(&mut e, Change::update(toasted, after, 0));
    assert!(
        why.contains("unchanged TOAST value") && why.contains("REPLICA IDENTITY FULL"),
        "{why}"
    );
    assert_eq!(
        e.take_changes(),
        vec![],
        "the count metric was not touched either"
    );
    assert_eq!(e.watermarks(), vec![], "nor the watermark");
}

#[test]
fn idle_partitions_follow_the_busy_ones() {
    let mut e = Engine::new(shop(count_per_minute(), 1000)); // idle.timeout.ms 2000
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(view(1, 10), 0));
    e.apply(&p(1), &Change::create(view(2, 20), 0));
    e.tick(100_000);
    e.apply(&p(0), &Change::create(view(3, 5 * MIN), 0));
    e.tick(101_000);
    e.apply(&p(0), &Change::create(view(4, 5 * MIN + 1), 0));
    e.tick(101_999);
    assert_eq!(
        e.watermarks(),
        vec![(p(0), 5 * MIN - 999), (p(1), 20 - 1000)]
    );
    e.apply(&p(0), &Change::create(view(5, 5 * MIN + 2), 0));
    e.tick(102_000); // p1 silent for 2000 ms: idle
    assert_eq!(
        e.watermarks(),
        vec![(p(0), 5 * MIN - 998), (p(1), 5 * MIN - 998)]
    );
    s.absorb(&mut e);
    assert!(
        s.is_closed_at("count", "[]", 0, &p(1)),
        "p1's window closed without new events"
    );
    // When every partition is idle, the wall clock leads.
    e.tick(103_000);
    e.tick(104_000);
    e.tick(106_000);
    // now - lateness - idle timeout = 103000, behind event time: no change.
    assert_eq!(
        e.watermarks(),
        vec![(p(0), 5 * MIN - 998), (p(1), 5 * MIN - 998)]
    );
    e.tick(10 * MIN + 3000);
    assert_eq!(e.watermarks(), vec![(p(0), 10 * MIN), (p(1), 10 * MIN)]);
    // An event wakes the partition; it is not idle at the next tick.
    e.apply(&p(1), &Change::create(view(6, 10 * MIN + 5), 0));
    e.tick(10 * MIN + 3001);
    e.tick(10 * MIN + 4000);
    assert_eq!(e.watermarks()[1], (p(1), 10 * MIN));
}

#[test]
fn a_backlogged_partition_is_never_idle() {
    let mut e = Engine::new(shop(count_per_minute(), 1000)); // idle.timeout.ms 2000
    e.apply(&p(0), &Change::create(view(1, 10), 0));
    e.apply(&p(1), &Change::create(view(2, 20), 0));
    e.tick(100_000);
    e.apply(&p(0), &Change::create(view(3, 5 * MIN), 0));
    // p1's records queue behind p0's: the consumer says so at every tick.
    for now in [101_000, 102_000, 104_000, 110_000] {
        e.mark_backlogged(&p(1));
        e.tick(now);
    }
    assert_eq!(
        e.watermarks()[1],
        (p(1), 20 - 1000),
        "a partition with unread records keeps its own watermark"
    );
    assert_eq!(
        e.apply(&p(1), &Change::create(view(4, 30), 0)),
        Outcome::Applied,
        "its backlog is not late"
    );
    // Caught up and silent: idle after the timeout, as usual (both partitions are
    // idle now: p1 follows the highest of them).
    e.tick(111_000);
    e.tick(113_000);
    assert_eq!(e.watermarks()[1], (p(1), 5 * MIN - 1000));
}

#[test]
fn dimension_changes_affect_later_events_only() {
    let metrics = json!([{"name": "by_category", "source": "views", "group.by": ["product.category"],
        "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}}]);
    let mut doc = support::shop_doc(metrics, 0);
    doc["tables"] = json!({"products": {"topic": "products", "key": "id"}});
    doc["sources"]["views"]["joins"] =
        json!([{"table": "products", "on": "product_id", "as": "product"}]);
    let mut e = Engine::new(Arc::new(Spec::from_value(doc).unwrap()));
    let mut s = Store::default();
    e.upsert_dimension(
        "products",
        &json!(7),
        Some(row(json!({"id": 7, "category": "books"}))),
    );
    let v = |id: i64, at: i64| row(json!({"id": id, "at": at, "product_id": "7"}));
    e.apply(&p(0), &Change::create(v(1, 10), 0));
    e.apply(&p(0), &Change::create(v(2, MIN + 10), 0)); // closes minute 0
    e.upsert_dimension(
        "products",
        &json!("7"),
        Some(row(json!({"id": 7, "category": "games"}))),
    );
    e.apply(&p(0), &Change::create(v(3, MIN + 20), 0));
    e.apply(
        &p(0),
        &Change::create(row(json!({"id": 4, "at": MIN + 30, "product_id": 8})), 0),
    );
    s.absorb(&mut e);
    assert_eq!(
        s.value("by_category", r#"["books"]"#, 0),
        Some(1.0),
        "closed window unchanged"
    );
    assert_eq!(s.value("by_category", r#"["books"]"#, MIN), Some(1.0));
    assert_eq!(s.value("by_category", r#"["games"]"#, MIN), Some(1.0));
    assert_eq!(
        s.value("by_category", "[null]", MIN),
        Some(1.0),
        "left join: no product row"
    );
    // A retraction joins the current row too: the delete of view 2 lands in games.
    e.apply(&p(0), &Change::delete(v(2, MIN + 10), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("by_category", r#"["books"]"#, MIN), Some(1.0));
    assert_eq!(s.value("by_category", r#"["games"]"#, MIN), None);
    // Deleting the dimension row: later facts read null.
    e.upsert_dimension("products", &json!(7), None);
    e.apply(&p(0), &Change::create(v(5, MIN + 40), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("by_category", "[null]", MIN), Some(2.0));
}

#[test]
fn inner_joins_skip_facts_without_a_dimension_row() {
    let metrics = json!([{"name": "by_category", "source": "views", "group.by": ["product.category"],
        "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}}]);
    let mut doc = support::shop_doc(metrics, 0);
    doc["tables"] = json!({"products": {"topic": "products", "key": "id"}});
    doc["sources"]["views"]["joins"] =
        json!([{"table": "products", "on": "product_id", "as": "product", "type": "inner"}]);
    let mut e = Engine::new(Arc::new(Spec::from_value(doc).unwrap()));
    assert_eq!(
        e.apply(
            &p(0),
            &Change::create(row(json!({"id": 1, "at": 5 * MIN, "product_id": 1})), 0)
        ),
        Outcome::Skipped
    );
    assert_eq!(
        e.watermarks(),
        vec![(p(0), 5 * MIN)],
        "its time still moves the watermark"
    );
}

#[test]
fn sources_sharing_a_topic_each_aggregate() {
    let mut doc = support::shop_doc(
        json!([
            {"name": "views", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}},
            {"name": "clicks", "source": "clicks", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}}
        ]),
        MIN,
    );
    doc["sources"]["clicks"] = doc["sources"]["views"].clone();
    doc["sources"]["clicks"]["where"] = json!([{"field": "kind", "op": "eq", "value": "click"}]);
    let mut e = Engine::new(Arc::new(Spec::from_value(doc).unwrap()));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(view(1, 1), 0));
    e.apply(
        &p(0),
        &Change::create(row(json!({"id": 2, "at": 2, "kind": "click"})), 0),
    );
    s.absorb(&mut e);
    assert_eq!(s.value("views", "[]", 0), Some(2.0));
    assert_eq!(s.value("clicks", "[]", 0), Some(1.0));
}

#[test]
fn revoke_forgets_a_partition() {
    let mut e = Engine::new(shop(count_per_minute(), MIN));
    e.apply(&p(0), &Change::create(view(1, 1), 0));
    e.apply(&p(1), &Change::create(view(2, 1), 0));
    e.revoke(&p(0));
    let changes = e.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].at, p(1));
    assert_eq!(e.watermarks(), vec![(p(1), 1 - MIN)]);
    assert!(e.open_windows(&p(0)).is_empty());
}

#[test]
fn take_changes_reports_each_change_once_with_the_latest_partial() {
    let mut e = Engine::new(shop(count_per_minute(), MIN));
    for id in 0..5 {
        e.apply(&p(0), &Change::create(view(id, 1), 0));
    }
    let changes = e.take_changes();
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(
        (
            c.metric.as_str(),
            c.group.as_str(),
            c.start_ms,
            c.end_ms,
            c.closed
        ),
        ("count", "[]", 0, MIN, false)
    );
    assert_eq!(c.partial, Some(Partial::Count(5)));
    assert_eq!(e.take_changes(), vec![]);
    assert_eq!(c.at.to_string(), "t:0");
}

mod merged_partitions {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Splitting the rows of a workload over partitions by key and merging the
        /// partials when read gives what one partition computes.
        #[test]
        fn partitioned_partials_merge_to_the_whole(
            events in prop::collection::vec((0i64..40, 0i64..(4 * MIN), 0i64..500, 0u8..4), 1..80),
        ) {
            let metrics = json!([
                {"name": "count", "source": "views", "group.by": ["kind"], "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count"}},
                {"name": "sum", "source": "views", "window": {"type": "hopping", "size.ms": 2 * MIN, "advance.ms": MIN}, "aggregate": {"fn": "sum", "field": "amount"}},
                {"name": "users", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "count_distinct", "field": "user"}},
                {"name": "min", "source": "views", "window": {"type": "tumbling", "size.ms": MIN}, "aggregate": {"fn": "min", "field": "amount"}}
            ]);
            let spec = shop(metrics, 10 * MIN);
            let (mut one, mut many) = (Engine::new(Arc::clone(&spec)), Engine::new(spec));
            let (mut whole, mut parts) = (Store::default(), Store::default());
            let mut rows: std::collections::BTreeMap<i64, Row> = Default::default();
            for (id, at, cents, kind) in events {
                let new = row(json!({"id": id, "at": at, "user": id % 7, "amount": format!("{}.{:02}", cents / 100, cents % 100),
                                      "kind": (["view", "click", "buy", "view"][kind as usize])}));
                let change = match (rows.get(&id), kind) {
                    (Some(old), 3) => { let old = old.clone(); rows.remove(&id); Change::delete(old, 0) }
                    (Some(old), _) => { let old = old.clone(); rows.insert(id, new.clone()); Change::update(old, new, 0) }
                    (None, _) => { rows.insert(id, new.clone()); Change::create(new, 0) }
                };
                prop_assert_eq!(one.apply(&p(0), &change), Outcome::Applied);
                prop_assert_eq!(many.apply(&p((id % 3) as i32), &change), Outcome::Applied);
            }
            whole.absorb(&mut one);
            parts.absorb(&mut many);
            prop_assert_eq!(whole.merged_values(), parts.merged_values());
        }
    }
}
