//! `io.pgcdc.dashboard.DashboardConnector`: pgcdc's windowed aggregations
//! (`pgcdc_dashboard`), Kafka → event-time windows in Redis → the live page, hosted
//! by the worker like any connector.
//!
//! The aggregation spec is a nested JSON document (sources, metrics with windows,
//! alert rules) that Connect's flat string map cannot hold key by key: its own keys
//! contain dots (`size.ms`, `redis.url`), so a dotted flattening would be ambiguous.
//! So the whole document `pgcdc dashboard --config` reads is one property,
//! `dashboard.spec`, holding it as JSON text; its `name` defaults to the connector's.
//! Every other property is flat:
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `dashboard.spec` | required | the aggregation spec, as JSON text (README, "Dashboard") |
//! | `dashboard.listen` | `127.0.0.1:8090` | where the page, its JSON API and its `/metrics` are served |
//! | `tasks.max` | `1` | one task runs whatever this says; it must be at least 1 |
//!
//! Kafka settings are the worker's, with the spec's `kafka` object on top. Secrets in
//! the spec (a Redis password, a webhook token) belong in `${env:…}` or `${file:…}`
//! references: the stored and shown configuration then holds only the reference.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use pgcdc_connector::config::PropertyError;
use pgcdc_connector::task::TaskOptions;
use pgcdc_dashboard::metrics::DashboardMetrics;
use pgcdc_dashboard::service::Dashboard;
use pgcdc_dashboard::spec::Spec;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Failure;

pub const CONNECTOR_CLASS: &str = "io.pgcdc.dashboard.DashboardConnector";

pub const SPEC: &str = "dashboard.spec";
pub const LISTEN: &str = "dashboard.listen";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

/// A checked dashboard configuration.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    pub spec: Arc<Spec>,
    pub listen: SocketAddr,
}

/// The figures of the dashboard's current run (each run binds a new service, which
/// brings its own).
#[derive(Debug, Default)]
pub struct DashboardFigures {
    current: StdMutex<Option<Arc<DashboardMetrics>>>,
}

impl DashboardFigures {
    pub fn current(&self) -> Option<Arc<DashboardMetrics>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, metrics: Arc<DashboardMetrics>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(metrics);
    }
}

fn problem(property: &str, message: impl Into<String>) -> PropertyError {
    PropertyError {
        property: property.to_owned(),
        message: message.into(),
    }
}

pub fn parse(resolved: &BTreeMap<String, String>) -> Result<DashboardConfig, Vec<PropertyError>> {
    let mut errors = Vec::new();
    let value = |key: &str| {
        resolved
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let name = value("name");
    if name.is_none() {
        errors.push(problem("name", "is required"));
    }
    let listen = match value(LISTEN)
        .unwrap_or(DEFAULT_LISTEN)
        .parse::<SocketAddr>()
    {
        Ok(address) => Some(address),
        Err(_) => {
            errors.push(problem(
                LISTEN,
                format!(
                    "{:?} is not an address and port (e.g. {DEFAULT_LISTEN}; port 0 picks a free one)",
                    value(LISTEN).unwrap_or_default()
                ),
            ));
            None
        }
    };
    if let Some(tasks) = value("tasks.max") {
        if !tasks.parse::<u32>().is_ok_and(|n| n >= 1) {
            errors.push(problem(
                "tasks.max",
                format!("{tasks:?} is not a number of at least 1"),
            ));
        }
    }
    // A typo must not silently change a metric: unknown properties are errors.
    for key in resolved.keys() {
        if !matches!(
            key.as_str(),
            "name" | "connector.class" | "tasks.max" | SPEC | LISTEN
        ) {
            errors.push(problem(
                key,
                format!("is not a property of {CONNECTOR_CLASS} (the aggregations go in {SPEC})"),
            ));
        }
    }
    let spec = match value(SPEC) {
        None => {
            errors.push(problem(
                SPEC,
                "is required: the aggregation spec as JSON text",
            ));
            None
        }
        Some(text) => match read_spec(text, name.unwrap_or_default()) {
            Ok(spec) => Some(spec),
            Err(message) => {
                errors.push(problem(SPEC, message));
                None
            }
        },
    };
    match (spec, listen) {
        (Some(spec), Some(listen)) if errors.is_empty() => Ok(DashboardConfig {
            spec: Arc::new(spec),
            listen,
        }),
        _ => Err(errors),
    }
}

/// The spec in `text`; its `name` defaults to the connector's.
fn read_spec(text: &str, connector: &str) -> Result<Spec, String> {
    let mut document: Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON text: {e}"))?;
    let Value::Object(map) = &mut document else {
        return Err(
            "must be a JSON object (the document `pgcdc dashboard --config` reads)".to_owned(),
        );
    };
    if !map.contains_key("name") && !connector.is_empty() {
        map.insert("name".to_owned(), Value::String(connector.to_owned()));
    }
    Spec::from_value(document).map_err(|e| e.to_string())
}

/// How long a new run waits for the previous run's listener to be let go.
const BIND_WAIT: Duration = Duration::from_secs(5);

/// One run: binds the page's address, then aggregates until `shutdown`, when it
/// commits what it applied to Redis. The service restarts its own aggregation loop
/// after broker and Redis failures (the page keeps serving meanwhile); what ends it
/// otherwise is retried by the worker.
pub async fn run_once(
    name: &str,
    config: &DashboardConfig,
    options: &TaskOptions,
    figures: Arc<DashboardFigures>,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    let mut kafka = options.kafka.clone();
    for (key, value) in &config.spec.kafka {
        kafka.set(key, value);
    }
    let deadline = Instant::now() + BIND_WAIT;
    let dashboard = loop {
        match Dashboard::bind(Arc::clone(&config.spec), kafka.clone(), config.listen).await {
            Ok(dashboard) => break dashboard,
            // The previous run's listener may still be closing.
            Err(e) if Instant::now() < deadline && !shutdown.is_cancelled() => {
                tracing::debug!(connector = %name, error = %e, "binding the dashboard; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                let message = format!("{LISTEN} {}: {e:#}", config.listen);
                return Err(Failure {
                    trace: message.clone(),
                    message,
                    retriable: false,
                });
            }
        }
    };
    figures.set(dashboard.metrics());
    let address = dashboard
        .address()
        .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    tracing::info!(connector = %name, %address, "dashboard listening");
    dashboard.run(shutdown).await.map_err(|e| Failure {
        message: format!("{e:#}"),
        trace: format!("{e:#}\n{e:?}"),
        retriable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const SPEC_TEXT: &str = r#"{
        "sources": {"views": {"topic": "shop.public.page_views", "event.time": "source.ts_ms"}},
        "metrics": [{"name": "views", "source": "views",
                     "window": {"type": "tumbling", "size.ms": 60000},
                     "aggregate": {"fn": "count"}}]
    }"#;

    #[test]
    fn the_spec_is_one_json_property_named_after_the_connector() {
        let parsed = parse(&properties(&[
            ("name", "shop-live"),
            ("connector.class", CONNECTOR_CLASS),
            (SPEC, SPEC_TEXT),
            (LISTEN, "127.0.0.1:0"),
        ]))
        .expect("valid");
        assert_eq!(parsed.spec.name, "shop-live");
        assert_eq!(parsed.listen.port(), 0);
        let default = parse(&properties(&[("name", "d"), (SPEC, SPEC_TEXT)])).expect("valid");
        assert_eq!(default.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn every_problem_names_its_property() {
        let errors = parse(&properties(&[
            ("name", "d"),
            (SPEC, r#"{"sources": {}, "metrics": [{"name": "m"}]}"#),
            (LISTEN, "everywhere"),
            ("redis.url", "redis://x"),
            ("tasks.max", "0"),
        ]))
        .expect_err("invalid");
        let named: Vec<&str> = errors.iter().map(|e| e.property.as_str()).collect();
        assert_eq!(
            named,
            [LISTEN, "tasks.max", "redis.url", SPEC],
            "{errors:?}"
        );
        let spec = &errors[3].message;
        assert!(
            spec.contains("metrics[0]") || spec.contains("sources"),
            "{spec}"
        );
        let missing = parse(&properties(&[("name", "d")])).expect_err("no spec");
        assert_eq!(missing[0].property, SPEC);
        let not_json = parse(&properties(&[("name", "d"), (SPEC, "{")])).expect_err("not JSON");
        assert!(not_json[0].message.contains("not JSON"));
    }
}
