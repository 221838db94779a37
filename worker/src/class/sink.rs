//! `io.debezium.connector.jdbc.JdbcSinkConnector`: pgcdc's sink task
//! (`pgcdc_sink::run_with_metrics`), Kafka → warehouse, with the properties `pgcdc sink` reads.
//! Its consumed offsets live in the warehouse, in the same transaction as the rows;
//! `GET /connectors/{name}/offsets` reads them from there in Connect's sink shape.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgcdc_connector::config::PropertyError;
use pgcdc_connector::task::TaskOptions;
use pgcdc_sink::{SinkConfig, SinkMetrics};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::Failure;

/// A checked sink configuration and what was worth a warning in it.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub config: Arc<SinkConfig>,
    /// Ignored properties and the like, logged when the task starts.
    pub warnings: Vec<String>,
}

pub fn parse(resolved: &BTreeMap<String, String>) -> Result<SinkSettings, Vec<PropertyError>> {
    SinkConfig::from_properties(resolved)
        .map(|parsed| SinkSettings {
            config: Arc::new(parsed.config),
            warnings: parsed.warnings,
        })
        .map_err(|errors| {
            errors
                .0
                .into_iter()
                .map(|e| PropertyError {
                    property: e.property,
                    message: e.message,
                })
                .collect()
        })
}

/// One start of the sink: from the warehouse's offsets until `shutdown`, when it
/// applies and commits its open batch.
pub async fn run_once(
    settings: &SinkSettings,
    options: &TaskOptions,
    metrics: &SinkMetrics,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    for warning in &settings.warnings {
        tracing::warn!(connector = %settings.config.name, "{warning}");
    }
    let config = Arc::clone(&settings.config);
    match pgcdc_sink::run_with_metrics(config, &options.kafka, shutdown, metrics).await {
        Ok(stats) => {
            tracing::info!(
                connector = %settings.config.name,
                batches = stats.batches,
                records = stats.records,
                rows = stats.rows,
                "sink task stopped"
            );
            Ok(())
        }
        Err(e) => Err(Failure::of(&e, e.is_retriable())),
    }
}

/// The offsets the warehouse holds, as Connect shows a sink's:
/// `{"partition": {"kafka_topic", "kafka_partition"}, "offset": {"kafka_offset"}}`,
/// where the offset is the next one to apply. Partitions with nothing applied yet
/// are left out.
pub async fn offsets(config: &SinkConfig) -> Result<Value, String> {
    let table = pgcdc_sink::warehouse::offsets_table(config).map_err(|e| e.to_string())?;
    let (client, connection) = config
        .postgres_config()
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("connecting to the warehouse: {e}"))?;
    let connection = tokio::spawn(connection);
    let sql = format!(
        "SELECT topic, partition, next_offset FROM {} \
         WHERE sink = $1 AND next_offset IS NOT NULL ORDER BY topic, partition",
        table.table
    );
    let rows = match client.query(&sql, &[&config.name]).await {
        Ok(rows) => rows,
        // No table yet: the sink has not started once.
        Err(e) if e.code().is_some_and(|c| c.code() == "42P01") => Vec::new(),
        Err(e) => return Err(format!("reading {}: {e}", table.table)),
    };
    drop(client);
    connection.abort();
    let offsets: Vec<Value> = rows
        .iter()
        .map(|row| {
            let topic: String = row.get(0);
            let partition: i32 = row.get(1);
            let next: i64 = row.get(2);
            json!({
                "partition": {"kafka_topic": topic, "kafka_partition": partition},
                "offset": {"kafka_offset": next},
            })
        })
        .collect();
    Ok(json!({ "offsets": offsets }))
}
