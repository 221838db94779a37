//! `pgcdc connect`: runs one Debezium PostgreSQL connector from a JSON config file,
//! the same JSON a user would POST to Kafka Connect (`{"name":…,"config":{…}}`) or
//! the bare `config` object.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pgcdc_connector::config::PostgresConnectorConfig;
use pgcdc_connector::task::{run_until_stopped, TaskOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::kafka::KafkaArgs;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The connector's JSON configuration.
    #[arg(long)]
    pub config: PathBuf,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The compacted topic that keeps connector offsets (Connect's
    /// `offset.storage.topic`).
    #[arg(long, default_value = "pgcdc-offsets")]
    pub offsets_topic: String,
}

/// The connector's flat properties from a Connect-style JSON document; numbers and
/// booleans are accepted as their text, as Connect does.
pub fn properties(document: &Value) -> anyhow::Result<BTreeMap<String, String>> {
    let config = document.get("config").unwrap_or(document);
    let object = config
        .as_object()
        .context("the connector configuration must be a JSON object")?;
    let mut map = BTreeMap::new();
    for (key, value) in object {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            Value::Null => continue,
            other => anyhow::bail!("{key}: {other} is not a string, number or boolean"),
        };
        map.insert(key.clone(), text);
    }
    if let Some(name) = document.get("name").and_then(Value::as_str) {
        map.entry("name".to_owned())
            .or_insert_with(|| name.to_owned());
    }
    Ok(map)
}

pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let document: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.config.display()))?;
    let parsed = PostgresConnectorConfig::from_properties(&properties(&document)?)
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    for unknown in &parsed.unknown_properties {
        tracing::warn!(property = %unknown, "property not used by pgcdc");
    }
    let options = TaskOptions {
        kafka: args.kafka.client_config()?,
        offsets_topic: args.offsets_topic,
    };
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::info!("shutting down: draining what was sent");
        stopper.cancel();
    });
    run_until_stopped(&parsed.config, &options, shutdown).await?;
    Ok(())
}
