//! JSON → [`Spec`], with every error naming its property path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{
    AggregateKind, AggregateSpec, AlertRule, AlertSpec, CompareOp, EventTime, JoinSpec,
    MetricInput, MetricSpec, Predicate, SourceSpec, Spec, TableSpec, TimeUnit, WindowSpec,
};
use crate::change::Op;

/// A configuration problem: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct SpecError {
    /// The property path, e.g. `metrics[2].window.size.ms`; empty for the document.
    pub path: String,
    pub reason: String,
}

fn err<T>(path: &str, reason: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError {
        path: path.to_owned(),
        reason: reason.into(),
    })
}

/// An object being read: remembers which properties were used, so that the rest
/// can be reported as unknown.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    used: BTreeSet<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(path: &str, value: &'a Value) -> Result<Obj<'a>, SpecError> {
        match value {
            Value::Object(map) => Ok(Obj {
                path: path.to_owned(),
                map,
                used: BTreeSet::new(),
            }),
            _ => err(path, "must be an object"),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.insert(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn required(&mut self, key: &'static str) -> Result<&'a Value, SpecError> {
        match self.get(key) {
            Some(v) => Ok(v),
            None => err(&self.at(key), "is required"),
        }
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => err(&self.at(key), "must be a non-empty string"),
        }
    }

    fn required_string(&mut self, key: &'static str) -> Result<String, SpecError> {
        match self.string(key)? {
            Some(s) => Ok(s),
            None => err(&self.at(key), "is required"),
        }
    }

    fn positive(&mut self, key: &'static str, default: Option<i64>) -> Result<i64, SpecError> {
        self.integer(key, default, 1)
    }

    fn non_negative(&mut self, key: &'static str, default: i64) -> Result<i64, SpecError> {
        self.integer(key, Some(default), 0)
    }

    fn integer(
        &mut self,
        key: &'static str,
        default: Option<i64>,
        min: i64,
    ) -> Result<i64, SpecError> {
        let what = if min > 0 {
            "a positive integer"
        } else {
            "a non-negative integer"
        };
        match (self.get(key), default) {
            (None, Some(d)) => Ok(d),
            (None, None) => err(&self.at(key), "is required"),
            (Some(v), _) => match v.as_i64().filter(|n| *n >= min && *n <= i64::MAX / 4) {
                Some(n) => Ok(n),
                None => err(&self.at(key), format!("must be {what}")),
            },
        }
    }

    fn number(&mut self, key: &'static str) -> Result<Option<f64>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64().filter(|f| f.is_finite()) {
                Some(f) => Ok(Some(f)),
                None => err(&self.at(key), "must be a number"),
            },
        }
    }

    /// Fails on a property that was never asked for.
    fn done(self) -> Result<(), SpecError> {
        match self.map.keys().find(|k| !self.used.contains(k.as_str())) {
            Some(k) => err(&self.at(k), "unknown property"),
            None => Ok(()),
        }
    }
}

fn array<'a>(path: &str, value: Option<&'a Value>) -> Result<&'a [Value], SpecError> {
    match value {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => err(path, "must be an array"),
    }
}

fn object_entries<'a>(
    path: &str,
    value: Option<&'a Value>,
) -> Result<Vec<(&'a String, &'a Value)>, SpecError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map.iter().collect()),
        Some(_) => err(path, "must be an object"),
    }
}

fn valid_name(path: &str, name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        err(
            path,
            format!("{name:?}: use letters, digits, '.', '_' and '-' only"),
        )
    }
}

pub(super) fn spec(value: Value) -> Result<Spec, SpecError> {
    let mut root = Obj::new("", &value)?;
    let name = root.required_string("name")?;
    valid_name("name", &name)?;
    let mut kafka = BTreeMap::new();
    for (key, v) in object_entries("kafka", root.get("kafka"))? {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return err(
                    &format!("kafka.{key}"),
                    "must be a string, number or boolean",
                )
            }
        };
        kafka.insert(key.clone(), text);
    }
    let schema_registry_url = root.string("schema.registry.url")?;
    let redis_url = root
        .string("redis.url")?
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let redis_key_prefix = root
        .string("redis.key.prefix")?
        .unwrap_or_else(|| format!("pgcdc:{name}"));
    let redis_ttl_seconds = root
        .positive("redis.ttl.seconds", Some(604_800))?
        .unsigned_abs();
    let dead_letter_topic = root.string("dead.letter.topic")?;
    let alerts_topic = root.string("alerts.topic")?;
    let commit_interval_ms = root
        .positive("commit.interval.ms", Some(100))?
        .unsigned_abs();
    let worker_metrics_url = root.string("worker.metrics.url")?;

    let mut tables = BTreeMap::new();
    for (table, v) in object_entries("tables", root.get("tables"))? {
        let path = format!("tables.{table}");
        valid_name(&path, table)?;
        let mut t = Obj::new(&path, v)?;
        let spec = TableSpec {
            topic: t.required_string("topic")?,
            key: t.required_string("key")?,
        };
        t.done()?;
        tables.insert(table.clone(), spec);
    }

    let mut sources = BTreeMap::new();
    let entries = object_entries("sources", Some(root.required("sources")?))?;
    if entries.is_empty() {
        return err("sources", "must name at least one source");
    }
    for (source, v) in entries {
        let path = format!("sources.{source}");
        valid_name(&path, source)?;
        sources.insert(source.clone(), source_spec(&path, v, &tables)?);
    }
    check_shared_topics(&sources)?;

    let metric_values = array("metrics", Some(root.required("metrics")?))?;
    if metric_values.is_empty() {
        return err("metrics", "must list at least one metric");
    }
    let mut metrics: Vec<MetricSpec> = Vec::new();
    for (i, v) in metric_values.iter().enumerate() {
        let path = format!("metrics[{i}]");
        let metric = metric_spec(&path, v, &sources, &metrics)?;
        if metrics.iter().any(|m| m.name == metric.name) {
            return err(
                &format!("{path}.name"),
                format!("{:?} is used twice", metric.name),
            );
        }
        metrics.push(metric);
    }

    let mut alerts: Vec<AlertSpec> = Vec::new();
    for (i, v) in array("alerts", root.get("alerts"))?.iter().enumerate() {
        let path = format!("alerts[{i}]");
        let alert = alert_spec(&path, v, &metrics)?;
        if alerts.iter().any(|a| a.name == alert.name) {
            return err(
                &format!("{path}.name"),
                format!("{:?} is used twice", alert.name),
            );
        }
        alerts.push(alert);
    }
    root.done()?;
    Ok(Spec {
        name,
        kafka,
        schema_registry_url,
        redis_url,
        redis_key_prefix,
        redis_ttl_seconds,
        dead_letter_topic,
        alerts_topic,
        commit_interval_ms,
        worker_metrics_url,
        sources,
        tables,
        metrics,
        alerts,
        raw: value.clone(),
    })
}

fn source_spec(
    path: &str,
    value: &Value,
    tables: &BTreeMap<String, TableSpec>,
) -> Result<SourceSpec, SpecError> {
    let mut s = Obj::new(path, value)?;
    let topic = s.required_string("topic")?;
    let event_time = match s.required("event.time")? {
        Value::String(t) if t == "source.ts_ms" => EventTime::SourceTs,
        v @ Value::Object(_) => {
            let mut e = Obj::new(&s.at("event.time"), v)?;
            let field = e.required_string("field")?;
            let unit = match e.string("unit")?.as_deref() {
                None | Some("micros") => TimeUnit::Micros,
                Some("millis") => TimeUnit::Millis,
                Some("seconds") => TimeUnit::Seconds,
                Some(other) => {
                    return err(
                        &e.at("unit"),
                        format!("{other:?}: expected micros, millis or seconds"),
                    )
                }
            };
            e.done()?;
            EventTime::Field { field, unit }
        }
        _ => {
            return err(
                &s.at("event.time"),
                "must be \"source.ts_ms\" or {\"field\": …, \"unit\": …}",
            )
        }
    };
    let allowed_lateness_ms = s.non_negative("allowed.lateness.ms", 5000)?;
    let idle_timeout_ms = s.positive("idle.timeout.ms", Some(2000))?;
    let ops_path = s.at("ops");
    let ops = match s.get("ops") {
        None if event_time == EventTime::SourceTs => vec![Op::Create, Op::Read],
        None => vec![Op::Create, Op::Read, Op::Update, Op::Delete],
        Some(v) => {
            let mut ops = Vec::new();
            for (i, op) in array(&ops_path, Some(v))?.iter().enumerate() {
                let at = format!("{ops_path}[{i}]");
                let op = match op.as_str().and_then(Op::from_code) {
                    Some(op @ (Op::Create | Op::Read | Op::Update | Op::Delete)) => op,
                    _ => return err(&at, "must be one of \"c\", \"r\", \"u\", \"d\""),
                };
                if event_time == EventTime::SourceTs && matches!(op, Op::Update | Op::Delete) {
                    return err(
                        &at,
                        "updates and deletes need an event.time field of the row: with \
                         source.ts_ms a retraction would land in the window of the commit, \
                         not of the row it retracts",
                    );
                }
                if !ops.contains(&op) {
                    ops.push(op);
                }
            }
            if ops.is_empty() {
                return err(&ops_path, "must list at least one op");
            }
            ops
        }
    };
    let filter = predicates(&s.at("where"), s.get("where"))?;
    let mut joins: Vec<JoinSpec> = Vec::new();
    let joins_path = s.at("joins");
    for (i, v) in array(&joins_path, s.get("joins"))?.iter().enumerate() {
        let mut j = Obj::new(&format!("{joins_path}[{i}]"), v)?;
        let table = j.required_string("table")?;
        if !tables.contains_key(&table) {
            return err(&j.at("table"), format!("{table:?} is not in tables"));
        }
        let on = j.required_string("on")?;
        let alias = j.string("as")?.unwrap_or_else(|| table.clone());
        let inner = match j.string("type")?.as_deref() {
            None | Some("left") => false,
            Some("inner") => true,
            Some(other) => return err(&j.at("type"), format!("{other:?}: expected left or inner")),
        };
        if joins.iter().any(|other| other.alias == alias) {
            return err(&j.at("as"), format!("alias {alias:?} is used twice"));
        }
        j.done()?;
        joins.push(JoinSpec {
            table,
            on,
            alias,
            inner,
        });
    }
    s.done()?;
    Ok(SourceSpec {
        topic,
        event_time,
        allowed_lateness_ms,
        idle_timeout_ms,
        ops,
        filter,
        joins,
    })
}

fn check_shared_topics(sources: &BTreeMap<String, SourceSpec>) -> Result<(), SpecError> {
    let mut by_topic: BTreeMap<&str, (&String, &SourceSpec)> = BTreeMap::new();
    for (name, s) in sources {
        if let Some((first, f)) = by_topic.get(s.topic.as_str()) {
            if f.event_time != s.event_time
                || f.allowed_lateness_ms != s.allowed_lateness_ms
                || f.idle_timeout_ms != s.idle_timeout_ms
            {
                return err(
                    &format!("sources.{name}"),
                    format!(
                        "reads {} like sources.{first} and must have the same event.time, \
                         allowed.lateness.ms and idle.timeout.ms (a partition has one watermark)",
                        s.topic
                    ),
                );
            }
        } else {
            by_topic.insert(&s.topic, (name, s));
        }
    }
    Ok(())
}

fn predicates(path: &str, value: Option<&Value>) -> Result<Vec<Predicate>, SpecError> {
    let mut out = Vec::new();
    for (i, v) in array(path, value)?.iter().enumerate() {
        let mut p = Obj::new(&format!("{path}[{i}]"), v)?;
        let field = p.required_string("field")?;
        let op = match p.required_string("op")?.as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "in" => CompareOp::In,
            "not_null" => CompareOp::NotNull,
            other => {
                return err(
                    &p.at("op"),
                    format!("{other:?}: expected eq, ne, lt, le, gt, ge, in or not_null"),
                )
            }
        };
        let value = match op {
            CompareOp::NotNull => {
                if p.get("value").is_some() {
                    return err(&p.at("value"), "not_null takes no value");
                }
                Value::Null
            }
            CompareOp::In => match p.required("value")? {
                v @ Value::Array(_) => v.clone(),
                _ => return err(&p.at("value"), "must be an array for in"),
            },
            _ => match p.required("value")? {
                v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => v.clone(),
                _ => return err(&p.at("value"), "must be a string, number or boolean"),
            },
        };
        p.done()?;
        out.push(Predicate { field, op, value });
    }
    Ok(out)
}

fn metric_spec(
    path: &str,
    value: &Value,
    sources: &BTreeMap<String, SourceSpec>,
    earlier: &[MetricSpec],
) -> Result<MetricSpec, SpecError> {
    let mut m = Obj::new(path, value)?;
    let name = m.required_string("name")?;
    valid_name(&m.at("name"), &name)?;
    let source = m.required_string("source")?;
    let input = match source.strip_prefix("metric:") {
        Some(upstream) => {
            let Some(up) = earlier.iter().find(|e| e.name == upstream) else {
                return err(
                    &m.at("source"),
                    format!("no metric {upstream:?} is defined before this one"),
                );
            };
            if !up.window.is_session() || matches!(up.input, MetricInput::Metric(_)) {
                return err(
                    &m.at("source"),
                    format!("{upstream:?} must be a session metric reading a source"),
                );
            }
            MetricInput::Metric(upstream.to_owned())
        }
        None if sources.contains_key(&source) => MetricInput::Source(source),
        None => return err(&m.at("source"), format!("{source:?} is not in sources")),
    };
    let mut w = Obj::new(&m.at("window"), m.required("window")?)?;
    let window = match w.required_string("type")?.as_str() {
        "tumbling" => WindowSpec::Tumbling {
            size_ms: w.positive("size.ms", None)?,
        },
        "hopping" => {
            let size_ms = w.positive("size.ms", None)?;
            let advance_ms = w.positive("advance.ms", None)?;
            if advance_ms > size_ms {
                return err(&w.at("advance.ms"), "must not exceed size.ms");
            }
            WindowSpec::Hopping {
                size_ms,
                advance_ms,
            }
        }
        "session" => WindowSpec::Session {
            gap_ms: w.positive("gap.ms", None)?,
        },
        other => {
            return err(
                &w.at("type"),
                format!("{other:?}: expected tumbling, hopping or session"),
            )
        }
    };
    w.done()?;
    let mut group_by = Vec::new();
    let group_path = m.at("group.by");
    for (i, v) in array(&group_path, m.get("group.by"))?.iter().enumerate() {
        match v {
            Value::String(s) if !s.is_empty() => group_by.push(s.clone()),
            _ => return err(&format!("{group_path}[{i}]"), "must be a field path"),
        }
    }
    let aggregate = aggregate_spec(&m.at("aggregate"), m.required("aggregate")?)?;
    if let MetricInput::Metric(upstream) = &input {
        if window.is_session() {
            return err(
                &m.at("window.type"),
                "a metric over sessions takes tumbling or hopping windows",
            );
        }
        let up = earlier
            .iter()
            .find(|e| &e.name == upstream)
            .map(|e| e.group_by.as_slice())
            .unwrap_or(&[]);
        let known =
            |f: &str| up.iter().any(|g| g == f) || matches!(f, "value" | "start_ms" | "end_ms");
        let mut fields = group_by.clone();
        aggregate_fields(&aggregate, &mut fields);
        if let Some(f) = fields.iter().find(|f| !known(f)) {
            return err(
                path,
                format!("{f:?}: a session row has only value, start_ms, end_ms and the group.by of {upstream:?}"),
            );
        }
    }
    m.done()?;
    Ok(MetricSpec {
        name,
        input,
        window,
        group_by,
        aggregate,
    })
}

/// Every field an aggregate reads.
fn aggregate_fields(a: &AggregateSpec, out: &mut Vec<String>) {
    out.extend(a.filter.iter().map(|p| p.field.clone()));
    match &a.kind {
        AggregateKind::Count => {}
        AggregateKind::Sum(f)
        | AggregateKind::Min(f)
        | AggregateKind::Max(f)
        | AggregateKind::Avg(f)
        | AggregateKind::CountDistinct(f) => out.push(f.clone()),
        AggregateKind::Ratio(n, d) => {
            aggregate_fields(n, out);
            aggregate_fields(d, out);
        }
    }
}

fn aggregate_spec(path: &str, value: &Value) -> Result<AggregateSpec, SpecError> {
    let mut a = Obj::new(path, value)?;
    let function = a.required_string("fn")?;
    let kind = match function.as_str() {
        "count" => AggregateKind::Count,
        "sum" => AggregateKind::Sum(a.required_string("field")?),
        "min" => AggregateKind::Min(a.required_string("field")?),
        "max" => AggregateKind::Max(a.required_string("field")?),
        "avg" => AggregateKind::Avg(a.required_string("field")?),
        "count_distinct" => AggregateKind::CountDistinct(a.required_string("field")?),
        "ratio" => AggregateKind::Ratio(
            Box::new(aggregate_spec(
                &a.at("numerator"),
                a.required("numerator")?,
            )?),
            Box::new(aggregate_spec(
                &a.at("denominator"),
                a.required("denominator")?,
            )?),
        ),
        other => {
            return err(
                &a.at("fn"),
                format!("{other:?}: expected count, sum, min, max, avg, count_distinct or ratio"),
            )
        }
    };
    let filter = predicates(&a.at("where"), a.get("where"))?;
    a.done()?;
    Ok(AggregateSpec { kind, filter })
}

fn alert_spec(path: &str, value: &Value, metrics: &[MetricSpec]) -> Result<AlertSpec, SpecError> {
    let mut a = Obj::new(path, value)?;
    let name = a.required_string("name")?;
    let metric_name = a.required_string("metric")?;
    let Some(metric) = metrics.iter().find(|m| m.name == metric_name) else {
        return err(
            &a.at("metric"),
            format!("{metric_name:?} is not in metrics"),
        );
    };
    let group = match a.get("group") {
        None => None,
        Some(v) => Some(group_match(&a.at("group"), v, &metric.group_by)?),
    };
    let mut r = Obj::new(&a.at("rule"), a.required("rule")?)?;
    let rule = match r.required_string("type")?.as_str() {
        "threshold" => match (r.number("above")?, r.number("below")?) {
            (Some(x), None) => AlertRule::Above(x),
            (None, Some(x)) => AlertRule::Below(x),
            _ => return err(&r.path, "a threshold needs exactly one of above and below"),
        },
        "rate_of_change" => {
            let pct = r.number("max.change.pct")?;
            match pct.filter(|p| *p > 0.0) {
                Some(max_change_pct) => AlertRule::RateOfChange { max_change_pct },
                None => return err(&r.at("max.change.pct"), "must be a positive number"),
            }
        }
        "zscore" => {
            let baseline = r.positive("baseline.windows", Some(30))?;
            if baseline < 2 {
                return err(&r.at("baseline.windows"), "must be at least 2");
            }
            let threshold = r.number("threshold")?.unwrap_or(3.0);
            if threshold <= 0.0 {
                return err(&r.at("threshold"), "must be a positive number");
            }
            AlertRule::ZScore {
                baseline_windows: baseline.unsigned_abs() as usize,
                threshold,
            }
        }
        other => {
            return err(
                &r.at("type"),
                format!("{other:?}: expected threshold, rate_of_change or zscore"),
            )
        }
    };
    r.done()?;
    let evaluate_open = match a.string("evaluate")?.as_deref() {
        None => matches!(rule, AlertRule::Above(_)),
        Some("open") => true,
        Some("closed") => false,
        Some(other) => {
            return err(
                &a.at("evaluate"),
                format!("{other:?}: expected open or closed"),
            )
        }
    };
    let for_ms = a.non_negative("for.ms", 0)?;
    let cooldown_ms = a.non_negative("cooldown.ms", 300_000)?;
    let webhook_url = a.string("webhook.url")?;
    a.done()?;
    Ok(AlertSpec {
        name,
        metric: metric_name,
        group,
        rule,
        evaluate_open,
        for_ms,
        cooldown_ms,
        webhook_url,
    })
}

/// A group filter → the group values in `group.by` order.
fn group_match(
    path: &str,
    value: &Value,
    group_by: &[String],
) -> Result<Vec<Option<String>>, SpecError> {
    let render = |at: &str, v: &Value| -> Result<Option<String>, SpecError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok(Some(crate::row::canonical_text(v))),
            _ => err(at, "must be a string, number, boolean or null"),
        }
    };
    match value {
        Value::Array(items) => {
            if items.len() != group_by.len() {
                return err(
                    path,
                    format!(
                        "the metric groups by {} field(s); got {}",
                        group_by.len(),
                        items.len()
                    ),
                );
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render(&format!("{path}[{i}]"), v))
                .collect()
        }
        Value::Object(map) => {
            if let Some(k) = map.keys().find(|k| !group_by.contains(k)) {
                return err(&format!("{path}.{k}"), "is not in the metric's group.by");
            }
            if map.len() != group_by.len() {
                return err(path, "must give a value for every group.by field");
            }
            group_by
                .iter()
                .map(|k| render(&format!("{path}.{k}"), &map[k]))
                .collect()
        }
        _ => err(path, "must be an array or an object"),
    }
}
