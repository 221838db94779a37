//! Reading a row image: field paths through joined dimension rows and JSON columns,
//! numbers in every shape Debezium writes them, predicates, and group keys.

use std::fmt;

use serde_json::{Map, Value};

use crate::change::Row;
use crate::decimal::parse_nanos;
use crate::spec::{CompareOp, Predicate};

/// Debezium's placeholder for an unchanged TOAST value under REPLICA IDENTITY DEFAULT.
pub const UNAVAILABLE_VALUE: &str = "__debezium_unavailable_value";

/// A fact row with the dimension rows joined to it.
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    pub fact: &'a Row,
    /// Alias → the joined row (`None`: no dimension row for the key).
    pub joins: &'a [(&'a str, Option<&'a Row>)],
}

/// What a field path found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Value(&'a Value),
    /// Null, or under a join alias whose dimension row is missing.
    Null,
    /// No such column.
    Missing,
}

impl<'a> RowView<'a> {
    /// A row without joins.
    pub fn plain(fact: &'a Row) -> RowView<'a> {
        RowView { fact, joins: &[] }
    }

    /// Resolves a field path (see [`crate::spec`]): a column whose name is the whole
    /// path first, then `alias.column`, then a key inside a JSON column.
    pub fn field(&self, path: &str) -> Field<'a> {
        if let Some(v) = self.fact.get(path) {
            return non_null(v);
        }
        let Some((head, rest)) = path.split_once('.') else {
            return Field::Missing;
        };
        if let Some((_, joined)) = self.joins.iter().find(|(alias, _)| *alias == head) {
            return match joined {
                Some(row) => lookup(row, rest),
                None => Field::Null,
            };
        }
        match self.fact.get(head) {
            Some(Value::Object(inner)) => lookup(inner, rest),
            Some(Value::Null) => Field::Null,
            _ => Field::Missing,
        }
    }
}

fn non_null(v: &Value) -> Field<'_> {
    if v.is_null() {
        Field::Null
    } else {
        Field::Value(v)
    }
}

fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Field<'a> {
    if let Some(v) = map.get(path) {
        return non_null(v);
    }
    match path.split_once('.') {
        Some((head, rest)) => match map.get(head) {
            Some(Value::Object(inner)) => lookup(inner, rest),
            Some(Value::Null) => Field::Null,
            _ => Field::Missing,
        },
        None => Field::Missing,
    }
}

/// A number as aggregates use it: exact nano-units when it has at most nine fraction
/// digits, and always as `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    pub nanos: Option<i128>,
    pub float: f64,
}

impl Number {
    /// Reads a JSON number or a numeric string (`decimal.handling.mode=string`);
    /// booleans count as 0 and 1. `None` for anything else, NaN and infinities.
    pub fn from_value(v: &Value) -> Option<Number> {
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_owned(),
            Value::Bool(b) => u8::from(*b).to_string(),
            _ => return None,
        };
        let float: f64 = text.parse().ok()?;
        if !float.is_finite() {
            return None;
        }
        Some(Number {
            nanos: parse_nanos(&text),
            float,
        })
    }
}

/// The text a value is compared, hashed, joined and grouped by: strings as they are,
/// numbers in their shortest decimal form (so `42`, `42.0` and `"42"` agree), other
/// values as JSON.
pub fn canonical_text(v: &Value) -> String {
    match v {
        Value::String(s) => match parse_nanos(s.trim()) {
            Some(nanos) if looks_numeric(s) => crate::decimal::format_nanos(nanos),
            _ => s.clone(),
        },
        Value::Number(n) => match parse_nanos(&n.to_string()) {
            Some(nanos) => crate::decimal::format_nanos(nanos),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Only strings that a number would print as are canonicalised (`"007"` stays a
/// zip code, `"1e3"` stays text).
fn looks_numeric(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."))
}

/// Whether a row satisfies every predicate.
pub fn matches_all(row: &RowView<'_>, predicates: &[Predicate]) -> bool {
    predicates.iter().all(|p| matches(row, p))
}

/// Evaluates one predicate: numbers (and numeric strings) compare as numbers, other
/// values as their text; a null or missing field satisfies only `ne`.
pub fn matches(row: &RowView<'_>, p: &Predicate) -> bool {
    let Field::Value(actual) = row.field(&p.field) else {
        return p.op == CompareOp::Ne;
    };
    match p.op {
        CompareOp::NotNull => true,
        CompareOp::In => match &p.value {
            Value::Array(options) => options
                .iter()
                .any(|o| compare(actual, o) == Some(std::cmp::Ordering::Equal)),
            _ => false,
        },
        op => match compare(actual, &p.value) {
            None => op == CompareOp::Ne,
            Some(ord) => match op {
                CompareOp::Eq => ord.is_eq(),
                CompareOp::Ne => ord.is_ne(),
                CompareOp::Lt => ord.is_lt(),
                CompareOp::Le => ord.is_le(),
                CompareOp::Gt => ord.is_gt(),
                CompareOp::Ge => ord.is_ge(),
                CompareOp::In | CompareOp::NotNull => false,
            },
        },
    }
}

fn compare(actual: &Value, expected: &Value) -> Option<std::cmp::Ordering> {
    if let (Some(a), Some(e)) = (numeric(actual), numeric(expected)) {
        return Some(match (a.nanos, e.nanos) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.float.partial_cmp(&e.float)?,
        });
    }
    Some(canonical_text(actual).cmp(&canonical_text(expected)))
}

fn numeric(v: &Value) -> Option<Number> {
    match v {
        Value::Number(_) => Number::from_value(v),
        Value::String(s) if looks_numeric(s.trim()) => Number::from_value(v),
        _ => None,
    }
}

/// A group's identity: its values as a JSON array of strings, `["books"]`, `[]` for
/// a metric without `group.by`, `null` for a null value. Stable across processes,
/// so it keys Redis and merges partials of different partitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey(String);

impl GroupKey {
    /// The key of no grouping, `[]`.
    pub fn empty() -> GroupKey {
        GroupKey("[]".to_owned())
    }

    /// Builds the key from values in `group.by` order (`None` = null).
    pub fn from_parts(parts: &[Option<String>]) -> GroupKey {
        let values: Vec<Value> = parts
            .iter()
            .map(|p| p.as_ref().map_or(Value::Null, |s| Value::String(s.clone())))
            .collect();
        GroupKey(Value::Array(values).to_string())
    }

    /// The values, in `group.by` order (`None` = null); empty if the key is not ours.
    pub fn parts(&self) -> Vec<Option<String>> {
        serde_json::from_str::<Vec<Option<String>>>(&self.0).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for GroupKey {
    /// Takes a key as stored (its JSON text).
    fn from(stored: String) -> GroupKey {
        GroupKey(stored)
    }
}

impl From<&str> for GroupKey {
    fn from(stored: &str) -> GroupKey {
        GroupKey(stored.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(v: Value) -> Row {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn field_paths() {
        let fact = row(json!({"a": 1, "x.y": 2, "doc": {"k": {"z": 3}}, "n": null, "nd": null}));
        let product = row(json!({"category": "books"}));
        let joins = [("product", Some(&product)), ("user", None)];
        let r = RowView {
            fact: &fact,
            joins: &joins,
        };
        assert_eq!(r.field("a"), Field::Value(&json!(1)));
        assert_eq!(r.field("x.y"), Field::Value(&json!(2)));
        assert_eq!(r.field("doc.k.z"), Field::Value(&json!(3)));
        assert_eq!(r.field("product.category"), Field::Value(&json!("books")));
        assert_eq!(r.field("product.price"), Field::Missing);
        assert_eq!(r.field("user.country"), Field::Null);
        assert_eq!(r.field("n"), Field::Null);
        assert_eq!(r.field("nd.q"), Field::Null);
        assert_eq!(r.field("b"), Field::Missing);
        assert_eq!(r.field("a.b"), Field::Missing);
    }

    #[test]
    fn numbers_in_every_shape() {
        assert_eq!(
            Number::from_value(&json!(3)).map(|n| n.nanos),
            Some(Some(3_000_000_000))
        );
        assert_eq!(
            Number::from_value(&json!("12.34")).map(|n| n.nanos),
            Some(Some(12_340_000_000))
        );
        assert_eq!(
            Number::from_value(&json!(0.1)).map(|n| n.nanos),
            Some(Some(100_000_000))
        );
        assert_eq!(Number::from_value(&json!(true)).map(|n| n.float), Some(1.0));
        let tiny = Number::from_value(&json!(1e-12)).unwrap();
        assert_eq!(tiny.nanos, None);
        assert!(tiny.float > 0.0);
        assert_eq!(Number::from_value(&json!("NaN")), None);
        assert_eq!(Number::from_value(&json!("abc")), None);
        assert_eq!(Number::from_value(&json!(null)), None);
        assert_eq!(Number::from_value(&json!({"a": 1})), None);
    }

    #[test]
    fn canonical_text_unifies_numbers() {
        assert_eq!(canonical_text(&json!(42)), "42");
        assert_eq!(canonical_text(&json!(42.0)), "42");
        assert_eq!(canonical_text(&json!("42")), "42");
        assert_eq!(canonical_text(&json!("42.50")), "42.5");
        assert_eq!(canonical_text(&json!("007")), "007");
        assert_eq!(canonical_text(&json!("1e3")), "1e3");
        assert_eq!(canonical_text(&json!("books")), "books");
        assert_eq!(canonical_text(&json!(true)), "true");
    }

    fn pred(field: &str, op: CompareOp, value: Value) -> Predicate {
        Predicate {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn predicates() {
        let fact = row(json!({"kind": "view", "n": 5, "s": "10.5", "z": null}));
        let r = RowView::plain(&fact);
        let t = |p: Predicate| matches(&r, &p);
        assert!(t(pred("kind", CompareOp::Eq, json!("view"))));
        assert!(t(pred("kind", CompareOp::Ne, json!("click"))));
        assert!(t(pred("n", CompareOp::Eq, json!("5"))));
        assert!(
            t(pred("n", CompareOp::Lt, json!(10))),
            "numeric, not text, comparison"
        );
        assert!(t(pred("s", CompareOp::Gt, json!(9))));
        assert!(t(pred("s", CompareOp::Le, json!(10.5))));
        assert!(t(pred("n", CompareOp::Ge, json!(5))));
        assert!(!t(pred("n", CompareOp::Gt, json!(5))));
        assert!(t(pred("kind", CompareOp::In, json!(["click", "view"]))));
        assert!(!t(pred("kind", CompareOp::In, json!(["click"]))));
        assert!(t(pred("n", CompareOp::In, json!([4, 5]))));
        assert!(t(pred("kind", CompareOp::NotNull, Value::Null)));
        assert!(!t(pred("z", CompareOp::NotNull, Value::Null)));
        assert!(!t(pred("missing", CompareOp::NotNull, Value::Null)));
        assert!(!t(pred("z", CompareOp::Eq, json!(1))));
        assert!(t(pred("z", CompareOp::Ne, json!(1))));
        assert!(!t(pred("z", CompareOp::Lt, json!(1))));
        assert!(
            t(pred("kind", CompareOp::Lt, json!("w"))),
            "text comparison"
        );
        assert!(matches_all(&r, &[]));
    }

    #[test]
    fn group_keys() {
        assert_eq!(GroupKey::empty().to_string(), "[]");
        let k = GroupKey::from_parts(&[Some("books".into()), None]);
        assert_eq!(k.as_str(), r#"["books",null]"#);
        assert_eq!(k.parts(), vec![Some("books".to_owned()), None]);
        assert_eq!(GroupKey::from(k.to_string()), k);
        assert_eq!(
            GroupKey::from("garbage").parts(),
            Vec::<Option<String>>::new()
        );
    }
}
