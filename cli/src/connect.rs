//! `pgcdc connect`: the worker. It serves Kafka Connect's REST API, runs the
//! connectors created through it — PostgreSQL sources, JDBC sinks and dashboards
//! (`pgcdc_worker::class`) — (and those given with `--config`, the JSON one would
//! POST to Kafka Connect: `{"name":…,"config":{…}}` or the bare `config` object), keeps
//! their configurations in the state directory so a restart resumes them, and on
//! SIGTERM drains every connector and exits 0.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pgcdc_worker::{router, ApiAuth, Worker, WorkerOptions};
use serde_json::Value;

use crate::kafka::KafkaArgs;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// A connector's JSON configuration (any class the worker hosts: PostgreSQL
    /// source, JDBC sink, dashboard), created or updated at start; repeatable.
    #[arg(long)]
    pub config: Vec<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The compacted topic that keeps connector offsets (Connect's
    /// `offset.storage.topic`).
    #[arg(long, default_value = "pgcdc-offsets")]
    pub offsets_topic: String,
    /// Where the REST API listens (Kafka Connect's default port is 8083; port 0 picks
    /// a free one, logged at start).
    #[arg(long, default_value = "127.0.0.1:8083")]
    pub listen: SocketAddr,
    /// Directory for connector configurations and target states.
    #[arg(long, default_value = "pgcdc-state")]
    pub state_dir: PathBuf,
    /// Environment variable holding `user:password` for HTTP basic auth on the API.
    #[arg(long)]
    pub api_basic_auth_env: Option<String>,
    /// Environment variable holding a bearer token for the API.
    #[arg(long)]
    pub api_token_env: Option<String>,
    /// Serve the REST API over HTTPS with this PEM certificate chain (leaf first);
    /// needs `--rest-tls-key`.
    #[arg(long, requires = "rest_tls_key", env = "PGCDC_REST_TLS_CERT")]
    pub rest_tls_cert: Option<PathBuf>,
    /// The PEM private key of `--rest-tls-cert`.
    #[arg(long, requires = "rest_tls_cert", env = "PGCDC_REST_TLS_KEY")]
    pub rest_tls_key: Option<PathBuf>,
    /// Kafka Connect's worker property `exactly.once.source.support`: `enabled` writes
    /// every connector's records in Kafka transactions (the broker must support them;
    /// consumers benefit with `isolation.level=read_committed`); `disabled` leaves it
    /// to each connector (`exactly.once.support=required`). Connect's `preparing`
    /// step of a rolling upgrade has no use on one worker.
    #[arg(
        long,
        value_enum,
        default_value = "disabled",
        env = "PGCDC_EXACTLY_ONCE_SOURCE_SUPPORT"
    )]
    pub exactly_once_source_support: ExactlyOnceSourceSupport,
}

/// The values of `--exactly-once-source-support`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExactlyOnceSourceSupport {
    Disabled,
    Enabled,
}

/// The connector's name and flat properties from a Connect-style JSON document;
/// numbers and booleans are accepted as their text, as Connect does.
pub fn connector_document(document: &Value) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let config = document.get("config").unwrap_or(document);
    let map = pgcdc_worker::rest::properties(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = document
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| map.get("name").map(String::as_str))
        .context("the configuration has no \"name\"")?
        .to_owned();
    Ok((name, map))
}

fn secret_from_env(variable: Option<&String>) -> anyhow::Result<Option<String>> {
    variable
        .map(|v| std::env::var(v).with_context(|| format!("environment variable {v} is not set")))
        .transpose()
}

pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    // Read before anything starts: a bad certificate is a configuration error.
    let tls = match (&args.rest_tls_cert, &args.rest_tls_key) {
        (Some(cert), Some(key)) => Some(crate::rest_tls::server_config(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let worker = Worker::start(WorkerOptions {
        kafka: args.kafka.client_config()?,
        offsets_topic: args.offsets_topic.clone(),
        state_dir: args.state_dir.clone(),
        worker_id: address.to_string(),
        exactly_once_source_support: args.exactly_once_source_support
            == ExactlyOnceSourceSupport::Enabled,
    })
    .await?;
    for path in &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let document: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let (name, config) = connector_document(&document)?;
        worker
            .put_config(&name, config)
            .await
            .with_context(|| format!("connector {name} from {}", path.display()))?;
    }
    let auth = ApiAuth {
        basic: secret_from_env(args.api_basic_auth_env.as_ref())?,
        bearer: secret_from_env(args.api_token_env.as_ref())?,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%address, %scheme, state_dir = %args.state_dir.display(), "REST API listening");
    let app = router(std::sync::Arc::clone(&worker), auth);
    let shutdown = async {
        crate::shutdown_signal().await;
        tracing::info!("shutting down: draining every connector");
    };
    match tls {
        Some(config) => {
            let listener = crate::rest_tls::TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
    }
    worker.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
