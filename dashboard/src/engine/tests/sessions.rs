//! Session windows: gap merging, bridging, shrinking and splitting on retraction,
//! lateness, and bounce rate as a metric over sessions.

use serde_json::json;

use super::support::{p, row, shop, Store};
use crate::engine::{Change, Engine, Outcome};

const GAP: i64 = 10;

fn sessions_spec(lateness: i64) -> std::sync::Arc<crate::spec::Spec> {
    shop(
        json!([
            {"name": "sessions", "source": "views", "group.by": ["user"],
             "window": {"type": "session", "gap.ms": GAP}, "aggregate": {"fn": "count"}},
            {"name": "bounce", "source": "metric:sessions",
             "window": {"type": "tumbling", "size.ms": 100},
             "aggregate": {"fn": "ratio",
                           "numerator": {"fn": "count", "where": [{"field": "value", "op": "eq", "value": 1}]},
                           "denominator": {"fn": "count"}}}
        ]),
        lateness,
    )
}

fn click(id: i64, user: i64, at: i64) -> crate::engine::Row {
    row(json!({"id": id, "user": user, "at": at}))
}

const U1: &str = r#"["1"]"#;
const U2: &str = r#"["2"]"#;

#[test]
fn events_closer_than_the_gap_merge_and_exactly_the_gap_apart_do_not() {
    let mut e = Engine::new(sessions_spec(1000));
    let mut s = Store::default();
    for (id, user, at) in [
        (1, 1, 0),
        (2, 1, 5),
        (3, 1, 14),
        (4, 1, 30),
        (5, 2, 100),
        (6, 2, 110),
    ] {
        assert_eq!(
            e.apply(&p(0), &Change::create(click(id, user, at), 0)),
            Outcome::Applied
        );
    }
    s.absorb(&mut e);
    assert_eq!(
        s.sessions("sessions", U1),
        vec![(0, 24, Some(3.0), false), (30, 40, Some(1.0), false)]
    );
    assert_eq!(
        s.sessions("sessions", U2),
        vec![(100, 110, Some(1.0), false), (110, 120, Some(1.0), false)]
    );
}

#[test]
fn an_event_can_bridge_two_sessions_and_its_retraction_splits_them_again() {
    let mut e = Engine::new(sessions_spec(1000));
    let mut s = Store::default();
    for (id, at) in [(1, 0), (2, 5), (3, 14), (4, 30)] {
        e.apply(&p(0), &Change::create(click(id, 1, at), 0));
    }
    s.absorb(&mut e);
    e.apply(&p(0), &Change::create(click(5, 1, 22), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.sessions("sessions", U1),
        vec![(0, 40, Some(5.0), false)],
        "the old windows are gone from the store"
    );
    e.apply(&p(0), &Change::delete(click(5, 1, 22), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.sessions("sessions", U1),
        vec![(0, 24, Some(3.0), false), (30, 40, Some(1.0), false)]
    );
    // Shrinking from the end, then from the start.
    e.apply(&p(0), &Change::delete(click(3, 1, 14), 0));
    e.apply(&p(0), &Change::delete(click(1, 1, 0), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.sessions("sessions", U1),
        vec![(5, 15, Some(1.0), false), (30, 40, Some(1.0), false)]
    );
    // Moving an event: an update retracts at the old time and adds at the new.
    e.apply(&p(0), &Change::update(click(4, 1, 30), click(4, 1, 12), 0));
    s.absorb(&mut e);
    assert_eq!(s.sessions("sessions", U1), vec![(5, 22, Some(2.0), false)]);
    e.apply(&p(0), &Change::delete(click(4, 1, 12), 0));
    e.apply(&p(0), &Change::delete(click(2, 1, 5), 0));
    s.absorb(&mut e);
    assert!(s.sessions("sessions", U1).is_empty());
}

#[test]
fn two_rows_at_one_time_are_two_events() {
    let mut e = Engine::new(sessions_spec(1000));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(click(1, 1, 7), 0));
    e.apply(&p(0), &Change::create(click(2, 1, 7), 0));
    e.apply(&p(0), &Change::delete(click(1, 1, 7), 0));
    s.absorb(&mut e);
    assert_eq!(s.sessions("sessions", U1), vec![(7, 17, Some(1.0), false)]);
}

#[test]
fn sessions_close_at_last_event_plus_gap_and_late_events_are_refused() {
    let mut e = Engine::new(sessions_spec(0));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(click(1, 1, 0), 0));
    e.apply(&p(0), &Change::create(click(2, 2, 9), 0)); // watermark 9: [0, 10) open
    s.absorb(&mut e);
    assert_eq!(s.sessions("sessions", U1), vec![(0, 10, Some(1.0), false)]);
    e.apply(&p(0), &Change::create(click(3, 2, 10), 0)); // watermark 10: [0, 10) closes
    s.absorb(&mut e);
    assert_eq!(s.sessions("sessions", U1), vec![(0, 10, Some(1.0), true)]);
    // At 5 the event would extend the closed session: late. Below the watermark in
    // general: late, even where its own window [t, t + gap) would still be open.
    assert_eq!(
        e.apply(&p(0), &Change::create(click(4, 1, 5), 0)),
        Outcome::Late
    );
    assert_eq!(
        e.apply(&p(0), &Change::create(click(5, 3, 9), 0)),
        Outcome::Late
    );
    assert_eq!(
        e.apply(&p(0), &Change::delete(click(1, 1, 0), 0)),
        Outcome::Late,
        "the closed session is final"
    );
    // A retraction in an open session whose time is below the watermark is honoured.
    assert_eq!(
        e.apply(&p(0), &Change::delete(click(2, 2, 9), 0)),
        Outcome::Applied
    );
    s.absorb(&mut e);
    assert_eq!(s.sessions("sessions", U1), vec![(0, 10, Some(1.0), true)]);
    assert_eq!(s.sessions("sessions", U2), vec![(10, 20, Some(1.0), false)]);
}

#[test]
fn a_split_can_close_a_piece_at_once() {
    let mut e = Engine::new(sessions_spec(0));
    let mut s = Store::default();
    for (id, at) in [(1, 0), (2, 8), (3, 16)] {
        e.apply(&p(0), &Change::create(click(id, 1, at), 0));
    }
    // Watermark 16; retracting 8 leaves [0, 10), already past, and [16, 26).
    e.apply(&p(0), &Change::delete(click(2, 1, 8), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.sessions("sessions", U1),
        vec![(0, 10, Some(1.0), true), (16, 26, Some(1.0), false)]
    );
}

#[test]
fn bounce_rate_over_sessions() {
    let mut e = Engine::new(sessions_spec(0));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(click(1, 1, 0), 0));
    e.apply(&p(0), &Change::create(click(2, 2, 5), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.value("bounce", "[]", 0),
        Some(1.0),
        "two one-page sessions"
    );
    e.apply(&p(0), &Change::create(click(3, 1, 8), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.value("bounce", "[]", 0),
        Some(0.5),
        "user 1 saw a second page"
    );
    e.apply(&p(0), &Change::create(click(4, 3, 120), 0));
    s.absorb(&mut e);
    assert!(
        s.is_closed("bounce", "[]", 0),
        "all sessions starting before 100 have closed"
    );
    assert_eq!(s.value("bounce", "[]", 0), Some(0.5));
    assert_eq!(s.value("bounce", "[]", 100), Some(1.0));
    // A window of bounce rate stays open while a session starting in it is open,
    // even after the watermark passed its end.
    e.apply(&p(0), &Change::create(click(5, 4, 190), 0));
    e.apply(&p(0), &Change::create(click(6, 4, 199), 0));
    e.apply(&p(0), &Change::create(click(7, 5, 205), 0)); // watermark 205 > 200
    s.absorb(&mut e);
    assert!(
        !s.is_closed("bounce", "[]", 100),
        "user 4's session [190, 209) is open"
    );
    assert_eq!(s.value("bounce", "[]", 100), Some(0.5));
    e.apply(&p(0), &Change::create(click(8, 5, 250), 0));
    s.absorb(&mut e);
    assert!(s.is_closed("bounce", "[]", 100));
    assert_eq!(s.value("bounce", "[]", 100), Some(0.5));
    assert_eq!(
        s.value("bounce", "[]", 200),
        Some(1.0),
        "user 5's sessions at 205 and 250"
    );
    // A retraction in an open session reaches the bounce rate too.
    e.apply(&p(0), &Change::create(click(9, 5, 255), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("bounce", "[]", 200), Some(0.5));
    e.apply(&p(0), &Change::delete(click(9, 5, 255), 0));
    s.absorb(&mut e);
    assert_eq!(s.value("bounce", "[]", 200), Some(1.0));
}

#[test]
fn sessions_of_one_key_in_several_partitions_merge_per_start_when_read() {
    let mut e = Engine::new(sessions_spec(1000));
    let mut s = Store::default();
    e.apply(&p(0), &Change::create(click(1, 1, 0), 0));
    e.apply(&p(1), &Change::create(click(2, 1, 4), 0));
    e.apply(&p(2), &Change::create(click(3, 1, 0), 0));
    s.absorb(&mut e);
    assert_eq!(
        s.sessions("sessions", U1).len(),
        3,
        "one per partition: [0,10) twice and [4,14)"
    );
    assert_eq!(
        s.value("sessions", U1, 0),
        Some(2.0),
        "merged per start; [4, 14) stays apart"
    );
}
