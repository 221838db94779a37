//! `pgcdc sink`: runs a Debezium JDBC sink connector configuration (the JSON one would
//! POST to Kafka Connect, `{"name":…,"config":{…}}`, or the bare `config` object,
//! with `${env:VAR}` / `${file:path:key}` references resolved as the worker does):
//! consumes its topics and applies them to the warehouse exactly once. SIGTERM drains
//! the open batch, commits it and exits 0; a retriable failure (warehouse or broker
//! away) restarts from the warehouse's offsets with backoff.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use pgcdc_sink::SinkConfig;
use tokio_util::sync::CancellationToken;

use crate::kafka::KafkaArgs;

#[derive(Debug, Args)]
pub struct SinkArgs {
    /// The sink connector's JSON configuration
    /// (`connector.class` `io.debezium.connector.jdbc.JdbcSinkConnector`).
    #[arg(long)]
    pub config: PathBuf,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.config.display()))?;
    let (name, mut properties) = crate::connect::connector_document(&document)?;
    properties.entry("name".to_owned()).or_insert(name);
    // `${env:…}` and `${file:…:…}` references, as the worker resolves them.
    let properties =
        pgcdc_worker::secrets::resolve(&properties).map_err(|e| anyhow::anyhow!("{e}"))?;
    let parsed = SinkConfig::from_properties(&properties)?;
    for warning in &parsed.warnings {
        tracing::warn!("{warning}");
    }
    let kafka = args.kafka.client_config()?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::info!("shutting down: applying the open batch");
        stop.cancel();
    });
    let stats = pgcdc_sink::run_until_stopped(Arc::new(parsed.config), &kafka, shutdown).await?;
    tracing::info!(?stats, "sink stopped");
    Ok(())
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The source database: a libpq connection string (`host=… dbname=…`), a
    /// `postgresql://` URL or a `jdbc:postgresql://` URL.
    #[arg(long)]
    pub source: String,
    /// The captured table (`schema.table` or `table`).
    #[arg(long)]
    pub source_table: String,
    /// The warehouse database, in the same forms as `--source`.
    #[arg(long)]
    pub copy: String,
    /// The warehouse copy (`schema.table` or `table`).
    #[arg(long)]
    pub copy_table: String,
    /// Key columns (comma-separated); default: the source table's primary key.
    #[arg(long, value_delimiter = ',')]
    pub key: Option<Vec<String>>,
    /// Environment variable holding the password for connections that name none.
    #[arg(long, default_value = "PGPASSWORD")]
    pub password_env: String,
    /// Ranges the key space is cut into at each level.
    #[arg(long, default_value_t = 16)]
    pub ranges: i64,
    /// Ranges with at most this many rows are compared row by row.
    #[arg(long, default_value_t = 1000)]
    pub row_by_row: i64,
    /// Differing keys listed at most.
    #[arg(long, default_value_t = 100)]
    pub max_keys: usize,
}

fn postgres_config(text: &str, password_env: &str) -> anyhow::Result<tokio_postgres::Config> {
    let mut config = if text.starts_with("jdbc:") {
        pgcdc_sink::config::parse_jdbc_url(text)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .postgres_config("pgcdc verify")
    } else {
        text.parse::<tokio_postgres::Config>()
            .with_context(|| format!("{text:?} is not a PostgreSQL connection string"))?
    };
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var(password_env) {
            config.password(password);
        }
    }
    if config.get_application_name().is_none() {
        config.application_name("pgcdc verify");
    }
    Ok(config)
}

async fn connect(
    config: &tokio_postgres::Config,
    side: &str,
) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to the {side} database"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `pgcdc verify`: prints the reconciliation report; a difference is an error (exit
/// status 1).
pub async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let mut source = connect(
        &postgres_config(&args.source, &args.password_env)?,
        "source",
    )
    .await?;
    let mut copy = connect(&postgres_config(&args.copy, &args.password_env)?, "copy").await?;
    let options = pgcdc_sink::verify::VerifyOptions {
        ranges: args.ranges,
        row_by_row: args.row_by_row,
        max_keys: args.max_keys,
    };
    let report = pgcdc_sink::verify::verify(
        &mut source,
        &args.source_table,
        &mut copy,
        &args.copy_table,
        args.key,
        options,
    )
    .await?;
    print!("{report}");
    anyhow::ensure!(
        report.is_equal(),
        "{} and {} differ",
        args.source_table,
        args.copy_table
    );
    Ok(())
}
