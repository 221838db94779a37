//! One row image → what it contributes: its event time, its group, and its partial
//! for an aggregate. Pure; the engine decides where the contribution goes.

use crate::change::Row;
use crate::hash::hash64;
use crate::partial::{Distinct, Extremes, Partial, Sum};
use crate::row::{
    canonical_text, matches_all, Field, GroupKey, Number, RowView, UNAVAILABLE_VALUE,
};
use crate::spec::{AggregateKind, AggregateSpec, EventTime, TimeUnit};

/// Why an image cannot be aggregated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub message: String,
    /// The field is absent or withheld: in a `before` image that means the table's
    /// replica identity does not send the old row.
    pub identity_problem: bool,
}

impl RowError {
    fn field(field: &str, problem: &str, identity_problem: bool) -> RowError {
        RowError {
            message: format!("field `{field}` {problem}"),
            identity_problem,
        }
    }
}

/// A field's value, or why there is none; `Ok(None)` for null.
fn read<'a>(row: &RowView<'a>, field: &str) -> Result<Option<&'a serde_json::Value>, RowError> {
    match row.field(field) {
        Field::Value(serde_json::Value::String(s)) if s == UNAVAILABLE_VALUE => {
            Err(RowError::field(
                field,
                "is an unchanged TOAST value Debezium did not send",
                true,
            ))
        }
        Field::Value(v) => Ok(Some(v)),
        Field::Null => Ok(None),
        Field::Missing => Err(RowError::field(field, "is not in the row", true)),
    }
}

/// The event time of an image, in milliseconds.
pub fn event_time(spec: &EventTime, row: &RowView<'_>, source_ts_ms: i64) -> Result<i64, RowError> {
    let (field, unit) = match spec {
        EventTime::SourceTs => return Ok(source_ts_ms),
        EventTime::Field { field, unit } => (field, *unit),
    };
    let Some(value) = read(row, field)? else {
        // An event time is rarely nullable; a null one in a before image is the
        // mark of REPLICA IDENTITY DEFAULT (only key columns are sent).
        return Err(RowError::field(field, "(the event time) is null", true));
    };
    if let serde_json::Value::String(s) = value {
        if let Some(ms) = crate::timestamp::parse_rfc3339_ms(s) {
            return Ok(ms);
        }
    }
    let bad = || RowError::field(field, &format!("is not a timestamp: {value}"), false);
    let number = Number::from_value(value).ok_or_else(bad)?;
    let whole = number.float.floor();
    if whole.abs() > 9.0e15 {
        return Err(bad());
    }
    let n = whole as i64;
    match unit {
        TimeUnit::Micros => Ok(n.div_euclid(1000)),
        TimeUnit::Millis => Ok(n),
        TimeUnit::Seconds => match number.nanos {
            Some(nanos) => i64::try_from(nanos.div_euclid(1_000_000)).map_err(|_| bad()),
            None => n.checked_mul(1000).ok_or_else(bad),
        },
    }
}

/// The group of an image: its `group.by` values.
pub fn group_key(group_by: &[String], row: &RowView<'_>) -> Result<GroupKey, RowError> {
    if group_by.is_empty() {
        return Ok(GroupKey::empty());
    }
    let parts = group_by
        .iter()
        .map(|path| Ok(read(row, path)?.map(canonical_text)))
        .collect::<Result<Vec<_>, RowError>>()?;
    Ok(GroupKey::from_parts(&parts))
}

/// The partial of an aggregate over nothing.
pub fn empty(spec: &AggregateSpec) -> Partial {
    match &spec.kind {
        AggregateKind::Count => Partial::Count(0),
        AggregateKind::Sum(_) => Partial::Sum(Sum::default()),
        AggregateKind::Avg(_) => Partial::Avg(Sum::default()),
        AggregateKind::Min(_) => Partial::Min(Extremes::default()),
        AggregateKind::Max(_) => Partial::Max(Extremes::default()),
        AggregateKind::CountDistinct(_) => Partial::Distinct(Distinct::default()),
        AggregateKind::Ratio(n, d) => Partial::Ratio(Box::new(empty(n)), Box::new(empty(d))),
    }
}

/// One row's partial. Rows outside the aggregate's `where`, and null values, give
/// the empty partial (SQL ignores nulls in aggregates too).
pub fn contribution(spec: &AggregateSpec, row: &RowView<'_>) -> Result<Partial, RowError> {
    if let AggregateKind::Ratio(n, d) = &spec.kind {
        if !matches_all(row, &spec.filter) {
            return Ok(empty(spec));
        }
        return Ok(Partial::Ratio(
            Box::new(contribution(n, row)?),
            Box::new(contribution(d, row)?),
        ));
    }
    let field = match &spec.kind {
        AggregateKind::Count => None,
        AggregateKind::Sum(f)
        | AggregateKind::Min(f)
        | AggregateKind::Max(f)
        | AggregateKind::Avg(f)
        | AggregateKind::CountDistinct(f) => Some(f),
        AggregateKind::Ratio(..) => None,
    };
    // Read the field even when the row is filtered out, so a malformed row is
    // reported the same whatever its other columns say.
    let value = match field {
        Some(f) => read(row, f)?,
        None => None,
    };
    if !matches_all(row, &spec.filter) {
        return Ok(empty(spec));
    }
    let number = |f: &str| -> Result<Option<Number>, RowError> {
        match value {
            None => Ok(None),
            Some(v) => Number::from_value(v)
                .map(Some)
                .ok_or_else(|| RowError::field(f, &format!("is not a number: {v}"), false)),
        }
    };
    Ok(match &spec.kind {
        AggregateKind::Count => Partial::Count(1),
        AggregateKind::Sum(f) => Partial::Sum(number(f)?.map(Sum::of).unwrap_or_default()),
        AggregateKind::Avg(f) => Partial::Avg(number(f)?.map(Sum::of).unwrap_or_default()),
        AggregateKind::Min(f) => Partial::Min(
            number(f)?
                .map(|n| Extremes::single(n.float, 1))
                .unwrap_or_default(),
        ),
        AggregateKind::Max(f) => Partial::Max(
            number(f)?
                .map(|n| Extremes::single(n.float, 1))
                .unwrap_or_default(),
        ),
        AggregateKind::CountDistinct(_) => Partial::Distinct(match value {
            Some(v) => Distinct::single(hash64(canonical_text(v).as_bytes()), 1),
            None => Distinct::default(),
        }),
        AggregateKind::Ratio(..) => empty(spec),
    })
}

/// The dimension rows joined to a fact: alias → row (`None`: no row for the key).
pub type Joined<'a> = Vec<(&'a str, Option<&'a Row>)>;

/// Joins a fact row with the current dimension rows; `None` when an inner join finds
/// no row.
pub fn join<'a>(
    fact: &'a Row,
    joins: &'a [crate::spec::JoinSpec],
    lookup: impl Fn(&str, &str) -> Option<&'a Row>,
) -> Result<Option<Joined<'a>>, RowError> {
    let plain = RowView::plain(fact);
    let mut joined = Vec::with_capacity(joins.len());
    for j in joins {
        let row = match read(&plain, &j.on)? {
            Some(key) => lookup(&j.table, &canonical_text(key)),
            None => None,
        };
        if row.is_none() && j.inner {
            return Ok(None);
        }
        joined.push((j.alias.as_str(), row));
    }
    Ok(Some(joined))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::spec::{CompareOp, Predicate};

    fn row(v: Value) -> Row {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn agg(kind: AggregateKind) -> AggregateSpec {
        AggregateSpec {
            kind,
            filter: vec![],
        }
    }

    #[test]
    fn event_times_in_every_unit() {
        let r = row(
            json!({"us": 1_700_000_000_123_456i64, "ms": 1_700_000_000_123i64, "s": 1_700_000_000,
            "iso": "2023-11-14T22:13:20.123Z", "neg": -1, "frac": "1700000000.5", "bad": "soon", "null": null}),
        );
        let v = RowView::plain(&r);
        let f = |field: &str, unit| {
            event_time(
                &EventTime::Field {
                    field: field.into(),
                    unit,
                },
                &v,
                7,
            )
        };
        assert_eq!(f("us", TimeUnit::Micros), Ok(1_700_000_000_123));
        assert_eq!(f("ms", TimeUnit::Millis), Ok(1_700_000_000_123));
        assert_eq!(f("s", TimeUnit::Seconds), Ok(1_700_000_000_000));
        assert_eq!(f("frac", TimeUnit::Seconds), Ok(1_700_000_000_500));
        assert_eq!(f("iso", TimeUnit::Micros), Ok(1_700_000_000_123));
        assert_eq!(f("neg", TimeUnit::Micros), Ok(-1), "floor, not truncation");
        assert!(f("bad", TimeUnit::Millis).is_err_and(|e| !e.identity_problem));
        assert!(f("null", TimeUnit::Millis).is_err_and(|e| e.identity_problem));
        assert!(f("nope", TimeUnit::Millis)
            .is_err_and(|e| e.identity_problem && e.message.contains("`nope`")));
        assert_eq!(event_time(&EventTime::SourceTs, &v, 7), Ok(7));
    }

    #[test]
    fn contributions() {
        let r = row(
            json!({"amount": "12.50", "user": "u1", "kind": "buy", "none": null, "text": "x",
            "toast": UNAVAILABLE_VALUE}),
        );
        let v = RowView::plain(&r);
        assert_eq!(
            contribution(&agg(AggregateKind::Count), &v),
            Ok(Partial::Count(1))
        );
        let sum = contribution(&agg(AggregateKind::Sum("amount".into())), &v).unwrap();
        assert_eq!(sum.value(), Some(12.5));
        let sum_null = contribution(&agg(AggregateKind::Sum("none".into())), &v).unwrap();
        assert!(sum_null.is_empty());
        assert_eq!(sum_null.value(), None);
        let err = contribution(&agg(AggregateKind::Sum("text".into())), &v).unwrap_err();
        assert!(
            err.message.contains("`text` is not a number"),
            "{}",
            err.message
        );
        let err = contribution(&agg(AggregateKind::Max("toast".into())), &v).unwrap_err();
        assert!(err.identity_problem && err.message.contains("TOAST"));
        let err = contribution(&agg(AggregateKind::Avg("nope".into())), &v).unwrap_err();
        assert!(err.identity_problem);
        let filtered = AggregateSpec {
            kind: AggregateKind::Count,
            filter: vec![Predicate {
                field: "kind".into(),
                op: CompareOp::Eq,
                value: json!("view"),
            }],
        };
        assert_eq!(contribution(&filtered, &v), Ok(Partial::Count(0)));
        let ratio = agg(AggregateKind::Ratio(
            Box::new(filtered),
            Box::new(agg(AggregateKind::Count)),
        ));
        let p = contribution(&ratio, &v).unwrap();
        assert_eq!(p.value(), Some(0.0));
        let d = contribution(&agg(AggregateKind::CountDistinct("user".into())), &v).unwrap();
        assert_eq!(d.value(), Some(1.0));
        assert_eq!(
            contribution(&agg(AggregateKind::Min("amount".into())), &v)
                .unwrap()
                .value(),
            Some(12.5)
        );
    }

    #[test]
    fn groups_and_joins() {
        let product = row(json!({"id": 7, "category": "books"}));
        let fact = row(json!({"product_id": "7", "country": null, "x": 1.50}));
        let joins = vec![crate::spec::JoinSpec {
            table: "products".into(),
            on: "product_id".into(),
            alias: "product".into(),
            inner: false,
        }];
        let lookup =
            |table: &str, key: &str| (table == "products" && key == "7").then_some(&product);
        let joined = join(&fact, &joins, lookup).unwrap().unwrap();
        let view = RowView {
            fact: &fact,
            joins: &joined,
        };
        let key = group_key(
            &["product.category".into(), "country".into(), "x".into()],
            &view,
        )
        .unwrap();
        assert_eq!(key.as_str(), r#"["books",null,"1.5"]"#);
        assert!(group_key(&["zzz".into()], &view).is_err());
        assert_eq!(group_key(&[], &view), Ok(GroupKey::empty()));

        let none = |_: &str, _: &str| None;
        let left = join(&fact, &joins, none).unwrap().unwrap();
        assert_eq!(left, vec![("product", None)]);
        let inner = vec![crate::spec::JoinSpec {
            inner: true,
            ..joins[0].clone()
        }];
        assert_eq!(join(&fact, &inner, none), Ok(None));
    }
}
