//! Merge invariants: merging partials equals aggregating the union of their rows, in
//! any order and grouping; a retraction cancels its insert; serialisation is lossless.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::contribute::{contribution, empty};
use crate::row::RowView;
use crate::spec::{AggregateKind, AggregateSpec, CompareOp, Predicate};

fn agg(kind: AggregateKind) -> AggregateSpec {
    AggregateSpec {
        kind,
        filter: vec![],
    }
}

fn aggregates() -> Vec<AggregateSpec> {
    let f = || "v".to_owned();
    vec![
        agg(AggregateKind::Count),
        agg(AggregateKind::Sum(f())),
        agg(AggregateKind::Avg(f())),
        agg(AggregateKind::Min(f())),
        agg(AggregateKind::Max(f())),
        agg(AggregateKind::CountDistinct(f())),
        agg(AggregateKind::Ratio(
            Box::new(AggregateSpec {
                kind: AggregateKind::Count,
                filter: vec![Predicate {
                    field: "v".into(),
                    op: CompareOp::Gt,
                    value: json!(0),
                }],
            }),
            Box::new(agg(AggregateKind::Sum(f()))),
        )),
    ]
}

/// A value as Debezium may send it: cents as a JSON number or a numeric string, or null.
fn value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (-100_000i64..100_000).prop_map(|c| json!(c as f64 / 100.0)),
        (-100_000i64..100_000).prop_map(|c| json!(format!("{}.{:02}", c / 100, (c % 100).abs()))),
        (0i64..50).prop_map(|n| json!(n)),
        Just(serde_json::Value::Null),
    ]
}

fn row_partial(spec: &AggregateSpec, v: &serde_json::Value) -> Partial {
    let row = match json!({ "v": v }) {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    contribution(spec, &RowView::plain(&row)).unwrap()
}

fn fold(spec: &AggregateSpec, values: &[serde_json::Value]) -> Partial {
    let mut p = empty(spec);
    for v in values {
        p.merge(&row_partial(spec, v));
    }
    p
}

fn same_value(a: &Partial, b: &Partial) -> bool {
    match (a.value(), b.value()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())),
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #[test]
    fn merge_equals_aggregating_the_union(
        a in prop::collection::vec(value(), 0..40),
        b in prop::collection::vec(value(), 0..40),
        c in prop::collection::vec(value(), 0..40),
    ) {
        for spec in aggregates() {
            let union: Vec<_> = a.iter().chain(&b).chain(&c).cloned().collect();
            let whole = fold(&spec, &union);
            // (a + b) + c
            let mut left = fold(&spec, &a);
            left.merge(&fold(&spec, &b));
            left.merge(&fold(&spec, &c));
            // a + (c + b): any order and grouping
            let mut cb = fold(&spec, &c);
            cb.merge(&fold(&spec, &b));
            let mut right = fold(&spec, &a);
            right.merge(&cb);
            prop_assert_eq!(&left, &whole, "{:?}", spec.kind);
            prop_assert_eq!(&right, &whole, "{:?}", spec.kind);
        }
    }

    #[test]
    fn retraction_cancels_its_insert(
        kept in prop::collection::vec(value(), 0..30),
        removed in prop::collection::vec(value(), 0..30),
    ) {
        for spec in aggregates() {
            let mut p = fold(&spec, &kept);
            for v in &removed {
                p.merge(&row_partial(&spec, v));
            }
            for v in removed.iter().rev() {
                p.merge(&row_partial(&spec, v).negated());
            }
            prop_assert_eq!(&p, &fold(&spec, &kept), "{:?}", spec.kind);
            if kept.is_empty() {
                prop_assert!(p.is_empty());
            }
        }
    }

    #[test]
    fn serialisation_round_trips(values in prop::collection::vec(value(), 0..30)) {
        for spec in aggregates() {
            let p = fold(&spec, &values);
            let json = serde_json::to_value(&p).unwrap();
            let back: Partial = serde_json::from_value(json.clone()).unwrap();
            prop_assert!(same_value(&back, &p));
            prop_assert_eq!(&back, &p, "{}", json);
        }
    }

    #[test]
    fn distinct_sketches_merge_like_the_union(
        a in prop::collection::vec(0u64..5000, 0..1500),
        b in prop::collection::vec(0u64..5000, 0..1500),
    ) {
        let spec = agg(AggregateKind::CountDistinct("v".into()));
        let to_json = |xs: &[u64]| xs.iter().map(|x| json!(format!("user-{x}"))).collect::<Vec<_>>();
        let (a, b) = (to_json(&a), to_json(&b));
        let whole = fold(&spec, &a.iter().chain(&b).cloned().collect::<Vec<_>>());
        let mut merged = fold(&spec, &a);
        merged.merge(&fold(&spec, &b));
        prop_assert_eq!(&merged, &whole);
        let mut other_way = fold(&spec, &b);
        other_way.merge(&fold(&spec, &a));
        prop_assert_eq!(&other_way, &whole);
    }

    #[test]
    fn session_partials_merge_per_event(
        a in prop::collection::vec((0i64..100, 0u8..3), 0..20),
        b in prop::collection::vec((0i64..100, 0u8..3), 0..20),
    ) {
        let session = |events: &[(i64, u8)]| {
            let mut p = Partial::Session(Default::default());
            for (t, n) in events {
                p.merge(&Partial::Session([(*t, (1, Partial::Count(i64::from(*n))))].into()));
            }
            p
        };
        let mut merged = session(&a);
        merged.merge(&session(&b));
        let union: Vec<_> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(&merged, &session(&union));
        let total: i64 = union.iter().map(|(_, n)| i64::from(*n)).sum();
        if union.is_empty() {
            prop_assert_eq!(merged.value(), None);
        } else {
            prop_assert_eq!(merged.value(), Some(total as f64));
        }
        let mut cancelled = merged.clone();
        cancelled.merge(&merged.negated());
        prop_assert!(cancelled.is_empty());
    }
}

#[test]
fn values_of_nothing() {
    assert_eq!(Partial::Count(0).value(), Some(0.0));
    assert_eq!(Partial::Sum(Sum::default()).value(), None);
    assert_eq!(Partial::Avg(Sum::default()).value(), None);
    assert_eq!(Partial::Min(Extremes::default()).value(), None);
    assert_eq!(Partial::Distinct(Distinct::default()).value(), Some(0.0));
    let zero_over_zero = Partial::Ratio(Box::new(Partial::Count(0)), Box::new(Partial::Count(0)));
    assert_eq!(zero_over_zero.value(), None);
    let half = Partial::Ratio(Box::new(Partial::Count(1)), Box::new(Partial::Count(2)));
    assert_eq!(half.value(), Some(0.5));
}

#[test]
fn sums_are_exact_decimals() {
    let spec = agg(AggregateKind::Sum("v".into()));
    let values: Vec<_> = ["0.1", "0.2", "0.3"].iter().map(|s| json!(s)).collect();
    let mut p = fold(&spec, &values);
    p.merge(&row_partial(&spec, &json!("0.2")).negated());
    assert_eq!(p.value(), Some(0.4), "no floating-point residue");
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"sum":{"s":"0.4","n":2}}"#
    );
    let avg = fold(&agg(AggregateKind::Avg("v".into())), &values);
    assert!((avg.value().unwrap() - 0.2).abs() < 1e-15);
}

#[test]
fn min_and_max_survive_retracting_the_extreme() {
    let spec = agg(AggregateKind::Max("v".into()));
    let mut p = fold(&spec, &[json!(3), json!(9), json!(9), json!(5)]);
    assert_eq!(p.value(), Some(9.0));
    p.merge(&row_partial(&spec, &json!(9)).negated());
    assert_eq!(p.value(), Some(9.0), "another row still holds 9");
    p.merge(&row_partial(&spec, &json!(9)).negated());
    assert_eq!(p.value(), Some(5.0));
    let spec = agg(AggregateKind::Min("v".into()));
    let mut p = fold(&spec, &[json!(-0.0), json!(2)]);
    assert_eq!(p.value(), Some(0.0));
    p.merge(&row_partial(&spec, &json!(0)).negated());
    assert_eq!(p.value(), Some(2.0), "-0 and 0 are one value");
    assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"min":[[2.0,1]]}"#);
}

#[test]
fn mismatched_kinds_do_not_merge() {
    let mut p = Partial::Count(2);
    p.merge(&Partial::Sum(Sum::default()));
    assert_eq!(p, Partial::Count(2));
}

#[test]
fn compact_serialisation() {
    assert_eq!(
        serde_json::to_string(&Partial::Count(3)).unwrap(),
        r#"{"count":3}"#
    );
    let ratio = Partial::Ratio(Box::new(Partial::Count(1)), Box::new(Partial::Count(2)));
    assert_eq!(
        serde_json::to_string(&ratio).unwrap(),
        r#"{"ratio":[{"count":1},{"count":2}]}"#
    );
    let session = Partial::Session([(1_700_000_000_000, (2, Partial::Count(2)))].into());
    assert_eq!(
        serde_json::to_string(&session).unwrap(),
        r#"{"session":{"1700000000000":[2,{"count":2}]}}"#
    );
    let back: Partial = serde_json::from_value(serde_json::to_value(&session).unwrap()).unwrap();
    assert_eq!(back, session);
    assert!(serde_json::from_str::<Partial>(r#"{"sum":{"s":"x","n":1}}"#).is_err());
}
