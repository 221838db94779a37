use serde_json::json;

use super::*;

fn evaluator(alerts: serde_json::Value) -> AlertEvaluator {
    let doc = json!({
        "name": "t",
        "sources": {"s": {"topic": "t", "event.time": "source.ts_ms"}},
        "metrics": [
            {"name": "m", "source": "s", "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "count"}},
            {"name": "g", "source": "s", "group.by": ["k"], "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "count"}}
        ],
        "alerts": alerts
    });
    AlertEvaluator::new(&Spec::from_value(doc).unwrap())
}

const W: i64 = 60_000;

#[test]
fn threshold_above_fires_early_once_per_window_and_respects_cooldown() {
    let mut e = evaluator(
        json!([{"name": "hot", "metric": "m", "rule": {"type": "threshold", "above": 10}, "cooldown.ms": 1000}]),
    );
    assert!(e.observe("m", "[]", 0, 5.0, false, 100).is_empty());
    let fired = e.observe("m", "[]", 0, 11.0, false, 200);
    assert_eq!(fired.len(), 1);
    let alert = &fired[0];
    assert_eq!(
        (
            alert.name.as_str(),
            alert.metric.as_str(),
            alert.group.as_str()
        ),
        ("hot", "m", "[]")
    );
    assert_eq!(
        (alert.window_start_ms, alert.value, alert.fired_at_ms),
        (0, 11.0, 200)
    );
    assert_eq!(alert.rule, "threshold above 10");
    assert_eq!(
        alert.message,
        "hot: m [] = 11 is above 10 (window starting 1970-01-01T00:00:00.000Z)"
    );
    assert!(
        e.observe("m", "[]", 0, 12.0, false, 5000).is_empty(),
        "once per window"
    );
    assert!(
        e.observe("m", "[]", 0, 12.0, true, 5000).is_empty(),
        "closing it does not fire again"
    );
    assert!(
        e.observe("m", "[]", W, 20.0, false, 900).is_empty(),
        "cooldown"
    );
    assert_eq!(e.observe("m", "[]", W, 20.0, false, 1200).len(), 1);
    assert!(e
        .observe("other", "[]", 2 * W, 99.0, false, 9999)
        .is_empty());
    let json = serde_json::to_value(alert).unwrap();
    assert_eq!(json["window_start_ms"], 0);
    assert_eq!(json["fired_at_ms"], 200);
}

#[test]
fn below_judges_closed_windows_only_by_default() {
    let mut e = evaluator(
        json!([{"name": "quiet", "metric": "m", "rule": {"type": "threshold", "below": 3}}]),
    );
    assert!(
        e.observe("m", "[]", 0, 0.0, false, 1).is_empty(),
        "a window that just began is not quiet"
    );
    assert_eq!(e.observe("m", "[]", 0, 1.0, true, 2).len(), 1);
}

#[test]
fn for_ms_needs_the_condition_to_hold() {
    let mut e = evaluator(
        json!([{"name": "hot", "metric": "m", "rule": {"type": "threshold", "above": 10}, "for.ms": 1000, "cooldown.ms": 0}]),
    );
    assert!(e.observe("m", "[]", 0, 11.0, false, 0).is_empty());
    assert!(e.observe("m", "[]", 0, 12.0, false, 999).is_empty());
    assert!(
        e.observe("m", "[]", 0, 5.0, false, 1000).is_empty(),
        "it stopped holding"
    );
    assert!(
        e.observe("m", "[]", 0, 13.0, false, 1500).is_empty(),
        "the clock restarts"
    );
    assert!(e.observe("m", "[]", 0, 13.0, false, 2400).is_empty());
    assert_eq!(e.observe("m", "[]", 0, 13.0, false, 2500).len(), 1);
}

#[test]
fn stale_windows_are_not_judged() {
    let mut e = evaluator(
        json!([{"name": "hot", "metric": "m", "rule": {"type": "threshold", "above": 10}, "cooldown.ms": 0}]),
    );
    assert!(e.observe("m", "[]", W, 1.0, false, 0).is_empty());
    assert!(
        e.observe("m", "[]", 0, 50.0, true, 1).is_empty(),
        "an older window closing late"
    );
}

#[test]
fn rate_of_change_against_the_previous_closed_window() {
    let mut e = evaluator(
        json!([{"name": "drop", "metric": "m", "rule": {"type": "rate_of_change", "max.change.pct": 50}, "cooldown.ms": 0}]),
    );
    assert!(
        e.observe("m", "[]", 0, 100.0, true, 0).is_empty(),
        "nothing to compare with"
    );
    assert!(e.observe("m", "[]", W, 140.0, true, 1).is_empty(), "+40%");
    assert!(
        e.observe("m", "[]", W, 140.0, true, 2).is_empty(),
        "observed twice, counted once"
    );
    let fired = e.observe("m", "[]", 2 * W, 60.0, true, 3);
    assert_eq!(fired.len(), 1, "-57% against 140, not against 100");
    assert!(
        fired[0].message.contains("changed 57.1% from 140"),
        "{}",
        fired[0].message
    );
    assert!(e.observe("m", "[]", 3 * W, 0.0, true, 4).len() == 1);
    assert!(
        e.observe("m", "[]", 4 * W, 10.0, true, 5).is_empty(),
        "no rate from zero"
    );
}

#[test]
fn zscore_against_a_rolling_baseline() {
    let mut e = evaluator(
        json!([{"name": "odd", "metric": "m", "rule": {"type": "zscore", "baseline.windows": 4, "threshold": 3.0}, "cooldown.ms": 0}]),
    );
    assert!(e.observe("m", "[]", 0, 10.0, true, 0).is_empty());
    for (i, v) in [12.0, 10.0, 12.0, 10.0, 12.0].iter().enumerate() {
        assert!(e
            .observe("m", "[]", (i as i64 + 1) * W, *v, true, 0)
            .is_empty());
    }
    // Baseline: the last 4 windows, 10/12 → mean 11, σ 1.
    assert!(
        e.observe("m", "[]", 6 * W, 13.5, true, 0).is_empty(),
        "z = 2.5"
    );
    let fired = e.observe("m", "[]", 7 * W, 40.0, true, 0);
    assert_eq!(fired.len(), 1);
    assert!(
        fired[0]
            .message
            .contains("standard deviations from the mean"),
        "{}",
        fired[0].message
    );
    let mut flat = evaluator(
        json!([{"name": "odd", "metric": "m", "rule": {"type": "zscore", "baseline.windows": 3}, "cooldown.ms": 0}]),
    );
    for i in 0..3 {
        assert!(flat.observe("m", "[]", i * W, 5.0, true, 0).is_empty());
    }
    assert_eq!(
        flat.observe("m", "[]", 3 * W, 6.0, true, 0).len(),
        1,
        "a flat baseline fires on any change"
    );
}

#[test]
fn group_filters_and_per_group_state() {
    let mut e = evaluator(
        json!([{"name": "books", "metric": "g", "group": ["books"], "rule": {"type": "threshold", "above": 1}, "cooldown.ms": 0},
                                 {"name": "any", "metric": "g", "rule": {"type": "threshold", "above": 1}, "cooldown.ms": 60000}]),
    );
    let fired = e.observe("g", r#"["books"]"#, 0, 2.0, false, 0);
    assert_eq!(
        fired.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        vec!["books", "any"]
    );
    let fired = e.observe("g", r#"["games"]"#, 0, 2.0, false, 1);
    assert_eq!(
        fired.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        vec!["any"],
        "cooldown is per group"
    );
    assert!(e
        .observe("g", r#"["books"]"#, 0, f64::NAN, false, 2)
        .is_empty());
}
