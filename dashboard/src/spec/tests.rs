use serde_json::{json, Value};

use super::*;

pub(crate) fn minimal() -> Value {
    json!({
        "name": "shop",
        "sources": {"views": {"topic": "t.public.views", "event.time": {"field": "at", "unit": "millis"}}},
        "metrics": [{"name": "per_minute", "source": "views",
                     "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "count"}}]
    })
}

fn error_of(doc: Value) -> String {
    match Spec::from_value(doc) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Sets `value` at a `/`-separated JSON pointer, creating objects on the way.
fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc.pointer_mut(parent).unwrap();
    match target {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{pointer}"),
    }
    doc
}

#[test]
fn the_sample_configuration_parses() {
    let text = include_str!("../../../configs/dashboard-shop.json");
    let spec = Spec::from_json(text).unwrap();
    assert_eq!(spec.name, "shop-live");
    assert_eq!(spec.group_id(), "shop-live");
    assert_eq!(spec.metrics.len(), 7);
    assert_eq!(spec.alerts.len(), 4);
    assert_eq!(
        spec.fact_topics(),
        vec!["shop.public.orders", "shop.public.page_views"]
    );
    assert_eq!(
        spec.metric_topic("bounce_rate"),
        Some("shop.public.page_views")
    );
    assert_eq!(
        spec.metric("bounce_rate").map(|m| &m.input),
        Some(&MetricInput::Metric("views_per_session".into()))
    );
    let books = spec.alerts.iter().find(|a| a.name == "books-busy").unwrap();
    assert_eq!(books.group, Some(vec![Some("books".to_owned())]));
    assert!(books.evaluate_open);
    assert!(
        !spec.alerts[0].evaluate_open,
        "zscore judges closed windows by default"
    );
    let view = spec.public_view();
    assert_eq!(view["metrics"].as_array().map(Vec::len), Some(7));
    assert!(view.get("kafka").is_none() && view.get("redis.url").is_none());
}

#[test]
fn defaults() {
    let spec = Spec::from_value(minimal()).unwrap();
    assert_eq!(spec.redis_url, "redis://127.0.0.1:6379");
    assert_eq!(spec.redis_key_prefix, "pgcdc:shop");
    assert_eq!(spec.redis_ttl_seconds, 604_800);
    assert_eq!(spec.commit_interval_ms, 100);
    assert_eq!(spec.group_id(), "pgcdc-dashboard-shop");
    let source = &spec.sources["views"];
    assert_eq!(source.allowed_lateness_ms, 5000);
    assert_eq!(source.idle_timeout_ms, 2000);
    assert_eq!(
        source.ops,
        vec![Op::Create, Op::Read, Op::Update, Op::Delete]
    );
    assert_eq!(
        source.event_time,
        EventTime::Field {
            field: "at".into(),
            unit: TimeUnit::Millis
        }
    );
    let micros = with(
        minimal(),
        "/sources/views/event.time",
        json!({"field": "at"}),
    );
    let spec = Spec::from_value(micros).unwrap();
    assert_eq!(
        spec.sources["views"].event_time,
        EventTime::Field {
            field: "at".into(),
            unit: TimeUnit::Micros
        }
    );
    let commit = with(
        minimal(),
        "/sources/views/event.time",
        json!("source.ts_ms"),
    );
    let spec = Spec::from_value(commit).unwrap();
    assert_eq!(spec.sources["views"].ops, vec![Op::Create, Op::Read]);
}

#[test]
fn kafka_properties_become_strings() {
    let doc = with(
        minimal(),
        "/kafka",
        json!({"bootstrap.servers": "k:9092", "fetch.wait.max.ms": 10, "enable.partition.eof": false}),
    );
    let spec = Spec::from_value(doc).unwrap();
    assert_eq!(spec.kafka["fetch.wait.max.ms"], "10");
    assert_eq!(spec.kafka["enable.partition.eof"], "false");
    let bad = with(minimal(), "/kafka", json!({"x": [1]}));
    assert_eq!(
        error_of(bad),
        "kafka.x: must be a string, number or boolean"
    );
}

#[test]
fn errors_name_the_property() {
    let cases: Vec<(Value, &str)> = vec![
        (with(minimal(), "/metrics/0/window/size.ms", json!(0)), "metrics[0].window.size.ms: must be a positive integer"),
        (with(minimal(), "/metrics/0/window/size.ms", json!("60s")), "metrics[0].window.size.ms: must be a positive integer"),
        (with(minimal(), "/metrics/0/window", json!({"type": "hopping", "size.ms": 10, "advance.ms": 20})),
         "metrics[0].window.advance.ms: must not exceed size.ms"),
        (with(minimal(), "/metrics/0/window", json!({"type": "sliding"})), "metrics[0].window.type: \"sliding\": expected tumbling, hopping or session"),
        (with(minimal(), "/metrics/0/source", json!("clicks")), "metrics[0].source: \"clicks\" is not in sources"),
        (with(minimal(), "/metrics/0/aggregate", json!({"fn": "sum"})), "metrics[0].aggregate.field: is required"),
        (with(minimal(), "/metrics/0/aggregate", json!({"fn": "median", "field": "x"})),
         "metrics[0].aggregate.fn: \"median\": expected count, sum, min, max, avg, count_distinct or ratio"),
        (with(minimal(), "/metrics/0/aggregate", json!({"fn": "ratio", "numerator": {"fn": "count"}, "denominator": {"fn": "avg"}})),
         "metrics[0].aggregate.denominator.field: is required"),
        (with(minimal(), "/metrics/0/aggregate", json!({"fn": "count", "where": [{"field": "k", "op": "like", "value": "a"}]})),
         "metrics[0].aggregate.where[0].op: \"like\": expected eq, ne, lt, le, gt, ge, in or not_null"),
        (with(minimal(), "/metrics/0/colour", json!("red")), "metrics[0].colour: unknown property"),
        (with(minimal(), "/sources/views/event.time", json!({"field": "at", "unit": "hours"})),
         "sources.views.event.time.unit: \"hours\": expected micros, millis or seconds"),
        (with(minimal(), "/sources/views/event.time", json!(5)), "sources.views.event.time: must be \"source.ts_ms\" or {\"field\": …, \"unit\": …}"),
        (with(minimal(), "/sources/views/ops", json!(["c", "x"])), "sources.views.ops[1]: must be one of \"c\", \"r\", \"u\", \"d\""),
        (with(minimal(), "/sources/views/ops", json!([])), "sources.views.ops: must list at least one op"),
        (with(minimal(), "/sources/views/where", json!([{"field": "k", "op": "in", "value": 3}])), "sources.views.where[0].value: must be an array for in"),
        (with(minimal(), "/sources/views/where", json!([{"field": "k", "op": "not_null", "value": 3}])), "sources.views.where[0].value: not_null takes no value"),
        (with(minimal(), "/sources/views/where", json!([{"field": "k", "op": "eq"}])), "sources.views.where[0].value: is required"),
        (with(minimal(), "/sources/views/joins", json!([{"table": "products", "on": "pid"}])), "sources.views.joins[0].table: \"products\" is not in tables"),
        (with(minimal(), "/sources/views/allowed.lateness.ms", json!(-1)), "sources.views.allowed.lateness.ms: must be a non-negative integer"),
        (with(minimal(), "/sources", json!({})), "sources: must name at least one source"),
        (with(minimal(), "/metrics", json!([])), "metrics: must list at least one metric"),
        (with(minimal(), "/name", json!("a b")), "name: \"a b\": use letters, digits, '.', '_' and '-' only"),
        (with(minimal(), "/redis.ttl.seconds", json!(0)), "redis.ttl.seconds: must be a positive integer"),
        (with(minimal(), "/alerts", json!([{"name": "a", "metric": "nope", "rule": {"type": "threshold", "above": 1}}])),
         "alerts[0].metric: \"nope\" is not in metrics"),
        (with(minimal(), "/alerts", json!([{"name": "a", "metric": "per_minute", "rule": {"type": "threshold"}}])),
         "alerts[0].rule: a threshold needs exactly one of above and below"),
        (with(minimal(), "/alerts", json!([{"name": "a", "metric": "per_minute", "rule": {"type": "rate_of_change"}}])),
         "alerts[0].rule.max.change.pct: must be a positive number"),
        (with(minimal(), "/alerts", json!([{"name": "a", "metric": "per_minute", "rule": {"type": "zscore", "baseline.windows": 1}}])),
         "alerts[0].rule.baseline.windows: must be at least 2"),
        (with(minimal(), "/alerts", json!([{"name": "a", "metric": "per_minute", "group": ["x"], "rule": {"type": "threshold", "above": 1}}])),
         "alerts[0].group: the metric groups by 0 field(s); got 1"),
        (with(minimal(), "/alerts", json!([{"name": "a", "metric": "per_minute", "evaluate": "sometimes", "rule": {"type": "threshold", "above": 1}}])),
         "alerts[0].evaluate: \"sometimes\": expected open or closed"),
    ];
    for (doc, expected) in cases {
        assert_eq!(error_of(doc), expected);
    }
    assert_eq!(error_of(json!([])), "must be an object");
    assert!(Spec::from_json("{")
        .unwrap_err()
        .to_string()
        .starts_with("not valid JSON"));
    assert_eq!(error_of(json!({"name": "x"})), "sources: is required");
}

#[test]
fn source_ts_event_time_refuses_retractions() {
    let doc = with(
        minimal(),
        "/sources/views/event.time",
        json!("source.ts_ms"),
    );
    let doc = with(doc, "/sources/views/ops", json!(["c", "u"]));
    let e = error_of(doc);
    assert!(
        e.starts_with("sources.views.ops[1]: updates and deletes need an event.time field"),
        "{e}"
    );
}

#[test]
fn sources_sharing_a_topic_share_timing() {
    let mut doc = minimal();
    doc["sources"]["clicks"] = json!({"topic": "t.public.views", "event.time": {"field": "at", "unit": "millis"},
                                      "where": [{"field": "kind", "op": "eq", "value": "click"}]});
    assert!(Spec::from_value(doc.clone()).is_ok());
    doc["sources"]["clicks"]["allowed.lateness.ms"] = json!(1);
    assert!(error_of(doc).starts_with(
        "sources.views: reads t.public.views like sources.clicks and must have the same"
    ));
}

#[test]
fn metrics_over_sessions_are_checked() {
    let mut doc = minimal();
    let metrics = doc["metrics"].as_array_mut().unwrap();
    metrics.push(json!({"name": "s", "source": "views", "group.by": ["user"], "window": {"type": "session", "gap.ms": 10}, "aggregate": {"fn": "count"}}));
    metrics.push(json!({"name": "b", "source": "metric:s", "group.by": ["user"], "window": {"type": "tumbling", "size.ms": 10},
                        "aggregate": {"fn": "ratio", "numerator": {"fn": "count", "where": [{"field": "value", "op": "eq", "value": 1}]}, "denominator": {"fn": "count"}}}));
    assert!(Spec::from_value(doc.clone()).is_ok());
    let e = error_of(with(doc.clone(), "/metrics/2/group.by", json!(["country"])));
    assert!(
        e.starts_with("metrics[2]: \"country\": a session row has only"),
        "{e}"
    );
    let e = error_of(with(
        doc.clone(),
        "/metrics/2/source",
        json!("metric:per_minute"),
    ));
    assert_eq!(
        e,
        "metrics[2].source: \"per_minute\" must be a session metric reading a source"
    );
    let e = error_of(with(
        doc.clone(),
        "/metrics/2/source",
        json!("metric:later"),
    ));
    assert_eq!(
        e,
        "metrics[2].source: no metric \"later\" is defined before this one"
    );
    let e = error_of(with(
        doc.clone(),
        "/metrics/2/window",
        json!({"type": "session", "gap.ms": 5}),
    ));
    assert_eq!(
        e,
        "metrics[2].window.type: a metric over sessions takes tumbling or hopping windows"
    );
    let e = error_of(with(doc, "/metrics/1/name", json!("per_minute")));
    assert_eq!(e, "metrics[1].name: \"per_minute\" is used twice");
}

#[test]
fn alert_groups_by_object_or_array() {
    let mut doc = minimal();
    doc["metrics"][0]["group.by"] = json!(["product.category", "country"]);
    doc["alerts"] = json!([
        {"name": "a", "metric": "per_minute", "group": {"country": "GB", "product.category": "books"}, "rule": {"type": "threshold", "below": 2}},
        {"name": "b", "metric": "per_minute", "group": ["books", null], "rule": {"type": "threshold", "above": 2}, "webhook.url": "http://x/secret"}
    ]);
    let spec = Spec::from_value(doc.clone()).unwrap();
    assert_eq!(
        spec.alerts[0].group,
        Some(vec![Some("books".into()), Some("GB".into())])
    );
    assert_eq!(spec.alerts[1].group, Some(vec![Some("books".into()), None]));
    assert_eq!(spec.alerts[0].rule, AlertRule::Below(2.0));
    assert_eq!(
        spec.alerts[1].webhook_url.as_deref(),
        Some("http://x/secret")
    );
    assert!(
        !spec.public_view().to_string().contains("secret"),
        "webhook URLs are not published"
    );
    doc["alerts"][0]["group"] = json!({"city": "x", "country": "GB"});
    assert_eq!(
        error_of(doc),
        "alerts[0].group.city: is not in the metric's group.by"
    );
}
