//! The connector classes this worker hosts, and everything that differs between
//! them: how a configuration is read and checked, which properties validation
//! lists, how one run of the task goes, and the figures it keeps for `/metrics`.
//! The lifecycle around them (target states, retries, persistence, REST) is the same
//! for every class ([`crate::runtime`], [`crate::run`]).
//!
//! | class | type | task |
//! | --- | --- | --- |
//! | `io.debezium.connector.postgresql.PostgresConnector` | source | [`source`]: PostgreSQL → Kafka |
//! | `io.debezium.connector.jdbc.JdbcSinkConnector` | sink | [`sink`]: Kafka → warehouse |
//! | `io.pgcdc.dashboard.DashboardConnector` | sink | [`dashboard`]: Kafka → windows in Redis → page |

pub mod dashboard;
pub mod sink;
pub mod source;

use std::collections::BTreeMap;
use std::sync::Arc;

use pgcdc_connector::config::{PostgresConnectorConfig, PropertyError};
use pgcdc_connector::task::{TaskMetrics, TaskOptions};
use pgcdc_sink::SinkMetrics;
use tokio_util::sync::CancellationToken;

use crate::runtime::WorkerError;
use crate::secrets;

/// A connector class the worker can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnectorClass {
    /// Debezium's PostgreSQL source connector.
    Postgres,
    /// Debezium's JDBC sink connector (pgcdc's sink, into PostgreSQL).
    JdbcSink,
    /// pgcdc's windowed aggregations, served live.
    Dashboard,
}

impl ConnectorClass {
    pub const ALL: [ConnectorClass; 3] = [
        ConnectorClass::Postgres,
        ConnectorClass::JdbcSink,
        ConnectorClass::Dashboard,
    ];

    /// The Java-style class name `connector.class` holds.
    pub fn name(self) -> &'static str {
        match self {
            ConnectorClass::Postgres => pgcdc_connector::config::CONNECTOR_CLASS,
            ConnectorClass::JdbcSink => pgcdc_sink::config::CONNECTOR_CLASS,
            ConnectorClass::Dashboard => dashboard::CONNECTOR_CLASS,
        }
    }

    /// Connect's plugin type. The dashboard reads topics, as a sink does.
    pub fn plugin_type(self) -> &'static str {
        match self {
            ConnectorClass::Postgres => "source",
            ConnectorClass::JdbcSink | ConnectorClass::Dashboard => "sink",
        }
    }

    /// The class `name` stands for: its full name or one of the aliases Connect
    /// gives every plugin (the simple class name, and that name without its
    /// `Connector` suffix).
    pub fn from_name(name: &str) -> Option<ConnectorClass> {
        ConnectorClass::ALL.into_iter().find(|class| {
            let full = class.name();
            let simple = full.rsplit('.').next().unwrap_or(full);
            name == full || name == simple || Some(name) == simple.strip_suffix("Connector")
        })
    }

    /// Every class name, for messages.
    pub fn names() -> String {
        ConnectorClass::ALL
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The class a configuration names in `connector.class`.
    pub fn of(config: &BTreeMap<String, String>) -> Result<ConnectorClass, WorkerError> {
        let class = config
            .get("connector.class")
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| class_error("is required".to_owned()))?;
        ConnectorClass::from_name(class).ok_or_else(|| {
            class_error(format!(
                "{class:?} is not a connector class this worker has ({})",
                ConnectorClass::names()
            ))
        })
    }

    /// Reads resolved properties (config providers already substituted).
    pub fn parse(self, resolved: &BTreeMap<String, String>) -> Result<Parsed, Vec<PropertyError>> {
        // The parsers want the full class name; an alias has been accepted already.
        let mut resolved = resolved.clone();
        resolved.insert("connector.class".to_owned(), self.name().to_owned());
        match self {
            ConnectorClass::Postgres => {
                source::parse(&resolved).map(|c| Parsed::Source(Box::new(c)))
            }
            ConnectorClass::JdbcSink => sink::parse(&resolved).map(Parsed::Sink),
            ConnectorClass::Dashboard => dashboard::parse(&resolved).map(Parsed::Dashboard),
        }
    }

    /// Fresh figures for a connector of this class.
    pub fn figures(self) -> Figures {
        match self {
            ConnectorClass::Postgres => Figures::Source(Arc::default()),
            ConnectorClass::JdbcSink => Figures::Sink(Arc::default()),
            ConnectorClass::Dashboard => Figures::Dashboard(Arc::default()),
        }
    }
}

pub(crate) fn class_error(message: String) -> WorkerError {
    WorkerError::InvalidConfig(vec![PropertyError {
        property: "connector.class".to_owned(),
        message,
    }])
}

/// A checked configuration, typed by class.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// Boxed: the connector's configuration is by far the largest.
    Source(Box<PostgresConnectorConfig>),
    Sink(sink::SinkSettings),
    Dashboard(dashboard::DashboardConfig),
}

/// Checks a configuration as `POST /connectors` must: the class, the config
/// providers' references, then every property of the class.
pub fn validate(config: &BTreeMap<String, String>) -> Result<Parsed, WorkerError> {
    let class = ConnectorClass::of(config)?;
    let resolved = secrets::resolve(config).map_err(|e| {
        WorkerError::InvalidConfig(vec![PropertyError {
            property: e.property,
            message: e.reason,
        }])
    })?;
    class.parse(&resolved).map_err(WorkerError::InvalidConfig)
}

/// What a connector's runs report for `/metrics`, by class.
#[derive(Debug, Clone)]
pub enum Figures {
    Source(Arc<TaskMetrics>),
    Sink(Arc<SinkMetrics>),
    Dashboard(Arc<dashboard::DashboardFigures>),
}

impl Figures {
    /// Whether a cancelled run is worth waiting for: it drains what it holds. A
    /// source drains only once streaming (see [`crate::run`]); a sink applies its
    /// open batch and the dashboard commits its windows whenever they stop.
    pub fn drains_when_stopped(&self) -> bool {
        match self {
            Figures::Source(metrics) => source::streaming(metrics),
            Figures::Sink(_) | Figures::Dashboard(_) => true,
        }
    }

    /// An aborted run cannot say it disconnected.
    pub fn disconnected(&self) {
        if let Figures::Source(metrics) = self {
            source::disconnected(metrics);
        }
    }
}

/// Why one run of a task ended other than by being stopped.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The error, for logs.
    pub message: String,
    /// The error with its detail: the FAILED task's `trace`.
    pub trace: String,
    /// The worker retries it with backoff; otherwise the task is FAILED.
    pub retriable: bool,
}

impl Failure {
    fn of<E: std::fmt::Display + std::fmt::Debug>(error: &E, retriable: bool) -> Failure {
        Failure {
            message: error.to_string(),
            trace: format!("{error}\n{error:?}"),
            retriable,
        }
    }
}

/// One run of a connector's task until `shutdown` (then it drains) or a failure.
pub async fn run_once(
    name: &str,
    parsed: &Parsed,
    options: &TaskOptions,
    figures: &Figures,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    match (parsed, figures) {
        (Parsed::Source(config), Figures::Source(metrics)) => {
            source::run_once(config, options, Arc::clone(metrics), shutdown).await
        }
        (Parsed::Sink(settings), Figures::Sink(metrics)) => {
            sink::run_once(settings, options, metrics, shutdown).await
        }
        (Parsed::Dashboard(config), Figures::Dashboard(metrics)) => {
            dashboard::run_once(name, config, options, Arc::clone(metrics), shutdown).await
        }
        _ => Err(Failure {
            message: "internal: the connector's figures are of another class".to_owned(),
            trace: "internal: the connector's figures are of another class".to_owned(),
            retriable: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_answer_to_connects_aliases() {
        for (name, class) in [
            (
                "io.debezium.connector.postgresql.PostgresConnector",
                ConnectorClass::Postgres,
            ),
            ("PostgresConnector", ConnectorClass::Postgres),
            ("Postgres", ConnectorClass::Postgres),
            (
                "io.debezium.connector.jdbc.JdbcSinkConnector",
                ConnectorClass::JdbcSink,
            ),
            ("JdbcSinkConnector", ConnectorClass::JdbcSink),
            ("JdbcSink", ConnectorClass::JdbcSink),
            (
                "io.pgcdc.dashboard.DashboardConnector",
                ConnectorClass::Dashboard,
            ),
            ("Dashboard", ConnectorClass::Dashboard),
        ] {
            assert_eq!(ConnectorClass::from_name(name), Some(class), "{name}");
        }
        for name in [
            "",
            "Connector",
            "io.debezium.connector.mysql.MySqlConnector",
        ] {
            assert_eq!(ConnectorClass::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn a_missing_or_unknown_class_names_the_property() {
        let missing = ConnectorClass::of(&BTreeMap::new()).expect_err("missing");
        assert!(missing.to_string().contains("connector.class: is required"));
        let config = [("connector.class".to_owned(), "x.Y".to_owned())].into();
        let unknown = ConnectorClass::of(&config).expect_err("unknown");
        assert!(
            unknown.to_string().contains("JdbcSinkConnector"),
            "{unknown}"
        );
    }

    /// The `config` object of an example file, as flat properties.
    fn example(text: &str) -> BTreeMap<String, String> {
        let document: serde_json::Value = serde_json::from_str(text).expect("JSON");
        let mut config: BTreeMap<String, String> =
            serde_json::from_value(document["config"].clone()).expect("string properties");
        if let Some(name) = document["name"].as_str() {
            config.insert("name".to_owned(), name.to_owned());
        }
        config
    }

    #[test]
    fn the_example_configurations_parse() {
        // Unresolved: the example's password is a `${env:…}` reference.
        let sink = example(include_str!("../../../configs/jdbc-sink-rest.json"));
        let class = ConnectorClass::of(&sink).expect("class");
        assert_eq!(class, ConnectorClass::JdbcSink);
        let Ok(Parsed::Sink(settings)) = class.parse(&sink) else {
            panic!("the sink example does not parse");
        };
        assert_eq!(settings.config.name, "warehouse-sink");
        assert_eq!(settings.config.table_name_format, "${topic}");

        let dashboard = example(include_str!("../../../configs/dashboard-connector.json"));
        let class = ConnectorClass::of(&dashboard).expect("class");
        assert_eq!(class, ConnectorClass::Dashboard);
        let Ok(Parsed::Dashboard(config)) = class.parse(&dashboard) else {
            panic!("the dashboard example does not parse");
        };
        assert_eq!(config.spec.name, "shop-live");
        assert!(!config.spec.metrics.is_empty());
    }
}
