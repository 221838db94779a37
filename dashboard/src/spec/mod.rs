//! The aggregation configuration: one JSON document, parsed and validated once by
//! [`Spec::from_json`] (or [`Spec::from_value`] for a document received over REST).
//! Every problem is reported with its property path, e.g.
//! `metrics[2].window.size.ms: must be a positive integer`; unknown properties are
//! errors too (a typo must not silently change a metric), except inside `kafka`.
//!
//! # Reference
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `name` | required | names the aggregation; letters, digits, `.`, `_`, `-` |
//! | `kafka` | `{}` | librdkafka consumer properties (`bootstrap.servers`, `group.id`, security…); values are strings, numbers or booleans. `group.id` defaults to `pgcdc-dashboard-<name>` |
//! | `schema.registry.url` | none | for Avro topics (Confluent wire format) |
//! | `redis.url` | `redis://127.0.0.1:6379` | where results are served from |
//! | `redis.key.prefix` | `pgcdc:<name>` | prefix of every Redis key |
//! | `redis.ttl.seconds` | `604800` | expiry of window results |
//! | `dead.letter.topic` | none | malformed events are copied here (else only counted and logged) |
//! | `alerts.topic` | none | fired alerts are written here as JSON |
//! | `commit.interval.ms` | `100` | how often results and offsets are committed to Redis |
//! | `worker.metrics.url` | none | the worker's `/metrics`, for the replication-lag panel |
//! | `sources` | required | name → fact source (below) |
//! | `tables` | `{}` | name → dimension table: `{"topic": …, "key": <column>}` |
//! | `metrics` | required | list of metrics (below) |
//! | `alerts` | `[]` | list of alert rules (below) |
//!
//! **A source** reads one change topic:
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `topic` | required | e.g. `shop.public.page_views` |
//! | `event.time` | required | `"source.ts_ms"` (the commit time) or `{"field": <column>, "unit": "micros"\|"millis"\|"seconds"}`; `unit` defaults to `micros` (Debezium's `MicroTimestamp`) and applies to numbers; strings are read as RFC 3339 (`ZonedTimestamp`) |
//! | `allowed.lateness.ms` | `5000` | the watermark trails the newest event time by this much |
//! | `idle.timeout.ms` | `2000` | wall-clock time without events after which a partition is idle (see the engine) |
//! | `ops` | `["c","r","u","d"]`; `["c","r"]` with `source.ts_ms` | the change kinds aggregated; others are skipped. With `source.ts_ms` only `c` and `r` are allowed: a retraction must land in the window of the row's own time, and the commit time of an update is not the time of the row it retracts |
//! | `where` | `[]` | predicates (all must hold), tested on each row image after the joins |
//! | `joins` | `[]` | `{"table": <dimension>, "on": <fact column>, "as": <alias>, "type": "left"\|"inner"}`; `type` defaults to `left` (a missing dimension row reads as null; `inner` skips the image) |
//!
//! Sources reading the same topic must agree on `event.time`, `allowed.lateness.ms`
//! and `idle.timeout.ms`: a topic partition has one watermark.
//!
//! **A predicate** is `{"field": <path>, "op": "eq"|"ne"|"lt"|"le"|"gt"|"ge"|"in"|"not_null", "value": …}`
//! (`in` takes an array; `not_null` no value). Numbers and numeric strings compare as
//! numbers, other values as strings; a null or missing field satisfies only `ne`.
//!
//! **A field path** names a column of the row (`amount`), a column of a joined
//! dimension row (`product.category`, where `product` is the join's `as`), or a key
//! inside a JSON column (`payload.kind`). A column whose name contains a dot is found
//! first.
//!
//! **A metric**:
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `name` | required | unique |
//! | `source` | required | a source name, or `metric:<name>` of a session metric (below) |
//! | `window` | required | `{"type": "tumbling", "size.ms": n}`, `{"type": "hopping", "size.ms": n, "advance.ms": m}` (`0 < m ≤ n`; an event is in every window of size `n` starting at a multiple of `m` that holds it), or `{"type": "session", "gap.ms": g}` |
//! | `group.by` | `[]` | field paths; the group renders as a JSON array of strings, `["books"]` (null stays `null`) |
//! | `aggregate` | required | `{"fn": "count"}`, `{"fn": "sum"\|"min"\|"max"\|"avg"\|"count_distinct", "field": <path>}`, or `{"fn": "ratio", "numerator": <aggregate>, "denominator": <aggregate>}`; any aggregate may carry its own `where` |
//!
//! Windows are aligned to the Unix epoch and half-open, `[start, end)`. Null values
//! are ignored by `sum`, `min`, `max`, `avg` and `count_distinct`, as in SQL.
//!
//! **A metric over a metric** (`"source": "metric:sessions"`) aggregates the windows of
//! a session metric: each session is a row with the session metric's `group.by`
//! fields (under the same paths), `value`, `start_ms` and `end_ms`, at event time
//! `start_ms`. Bounce rate is then
//! `ratio(count where value eq 1, count)` over `metric:page_views_per_session`.
//!
//! **An alert**:
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `name` | required | unique |
//! | `metric` | required | the metric watched |
//! | `group` | any group | only this group: an array of values (`["books"]`) or an object by `group.by` path (`{"product.category": "books"}`) |
//! | `rule` | required | `{"type": "threshold", "above": x}` or `"below": x`; `{"type": "rate_of_change", "max.change.pct": p}` (against the previous closed window); `{"type": "zscore", "baseline.windows": n, "threshold": z}` (against the last `n` closed windows) |
//! | `evaluate` | `open` for `above`, else `closed` | `open`: in-progress windows are judged too (early alerts); `closed`: only final windows |
//! | `for.ms` | `0` | the condition must hold this long (wall clock) before the alert fires |
//! | `cooldown.ms` | `300000` | after firing, the same rule and group stays quiet this long |
//! | `webhook.url` | none | fired alerts are POSTed here as JSON |

mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::change::Op;

pub use parse::SpecError;

/// A validated aggregation configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    /// librdkafka consumer properties, as strings.
    pub kafka: BTreeMap<String, String>,
    pub schema_registry_url: Option<String>,
    pub redis_url: String,
    pub redis_key_prefix: String,
    pub redis_ttl_seconds: u64,
    pub dead_letter_topic: Option<String>,
    pub alerts_topic: Option<String>,
    pub commit_interval_ms: u64,
    pub worker_metrics_url: Option<String>,
    pub sources: BTreeMap<String, SourceSpec>,
    pub tables: BTreeMap<String, TableSpec>,
    pub metrics: Vec<MetricSpec>,
    pub alerts: Vec<AlertSpec>,
    /// The document as given, for [`Spec::public_view`].
    raw: Value,
}

/// A fact source: one change topic.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub topic: String,
    pub event_time: EventTime,
    pub allowed_lateness_ms: i64,
    pub idle_timeout_ms: i64,
    pub ops: Vec<Op>,
    pub filter: Vec<Predicate>,
    pub joins: Vec<JoinSpec>,
}

/// Where an event's time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTime {
    /// `source.ts_ms`, the commit time.
    SourceTs,
    /// A column of the row.
    Field { field: String, unit: TimeUnit },
}

/// The unit of a numeric event-time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Micros,
    Millis,
    Seconds,
}

/// `where` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub field: String,
    pub op: CompareOp,
    /// `Null` for `not_null`; an array for `in`.
    pub value: Value,
}

/// A predicate's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotNull,
}

/// A join of the fact row with the current row of a dimension table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSpec {
    pub table: String,
    /// The fact column holding the dimension key.
    pub on: String,
    /// The alias under which the dimension row's columns are read (`as`).
    pub alias: String,
    /// `inner`: an image without a dimension row is skipped; else the alias is null.
    pub inner: bool,
}

/// A dimension (changelog) table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub topic: String,
    /// The key column.
    pub key: String,
}

/// One metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub name: String,
    pub input: MetricInput,
    pub window: WindowSpec,
    pub group_by: Vec<String>,
    pub aggregate: AggregateSpec,
}

/// What a metric reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricInput {
    /// A source by name.
    Source(String),
    /// The windows of a session metric, by name (`metric:<name>`).
    Metric(String),
}

/// A metric's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    Tumbling { size_ms: i64 },
    Hopping { size_ms: i64, advance_ms: i64 },
    Session { gap_ms: i64 },
}

/// An aggregate and the rows it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateSpec {
    pub kind: AggregateKind,
    /// The aggregate's own `where`.
    pub filter: Vec<Predicate>,
}

/// The aggregate functions.
#[derive(Debug, Clone, PartialEq)]
pub enum AggregateKind {
    Count,
    Sum(String),
    Min(String),
    Max(String),
    Avg(String),
    CountDistinct(String),
    Ratio(Box<AggregateSpec>, Box<AggregateSpec>),
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSpec {
    pub name: String,
    pub metric: String,
    /// Only this group, as its values in `group.by` order (strings; `None` = null).
    pub group: Option<Vec<Option<String>>>,
    pub rule: AlertRule,
    /// Whether open (in-progress) windows are judged, or only closed ones.
    pub evaluate_open: bool,
    pub for_ms: i64,
    pub cooldown_ms: i64,
    pub webhook_url: Option<String>,
}

/// An alert's condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlertRule {
    Above(f64),
    Below(f64),
    RateOfChange {
        max_change_pct: f64,
    },
    ZScore {
        baseline_windows: usize,
        threshold: f64,
    },
}

impl Spec {
    /// Parses and validates a JSON document.
    pub fn from_json(text: &str) -> Result<Spec, SpecError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SpecError {
            path: String::new(),
            reason: format!("not valid JSON: {e}"),
        })?;
        Spec::from_value(value)
    }

    /// Validates a parsed document.
    pub fn from_value(value: Value) -> Result<Spec, SpecError> {
        parse::spec(value)
    }

    /// The Kafka consumer group of the fact topics.
    pub fn group_id(&self) -> String {
        self.kafka
            .get("group.id")
            .cloned()
            .unwrap_or_else(|| format!("pgcdc-dashboard-{}", self.name))
    }

    /// Every fact topic, sorted, once.
    pub fn fact_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.sources.values().map(|s| s.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// A metric by name.
    pub fn metric(&self, name: &str) -> Option<&MetricSpec> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The source a metric reads, through a `metric:` input.
    pub fn metric_source(&self, metric: &str) -> Option<&SourceSpec> {
        match &self.metric(metric)?.input {
            MetricInput::Source(source) => self.sources.get(source),
            MetricInput::Metric(upstream) => self.metric_source(upstream),
        }
    }

    /// The topic whose partitions hold a metric's partials (and watermarks).
    pub fn metric_topic(&self, metric: &str) -> Option<&str> {
        self.metric_source(metric).map(|s| s.topic.as_str())
    }

    /// The configuration without connection settings, for the page: `name`,
    /// `metrics` and `alerts` as written (without webhook URLs, which may hold tokens).
    pub fn public_view(&self) -> Value {
        let mut alerts = self
            .raw
            .get("alerts")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        if let Value::Array(list) = &mut alerts {
            for alert in list {
                if let Value::Object(map) = alert {
                    map.remove("webhook.url");
                }
            }
        }
        serde_json::json!({
            "name": self.name,
            "metrics": self.raw.get("metrics").cloned().unwrap_or(Value::Array(Vec::new())),
            "alerts": alerts,
        })
    }
}

impl WindowSpec {
    /// Whether this is a session window.
    pub fn is_session(&self) -> bool {
        matches!(self, WindowSpec::Session { .. })
    }
}
