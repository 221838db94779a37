//! `io.debezium.connector.postgresql.PostgresConnector`: pgcdc's connector task
//! (`pgcdc_connector::task`), PostgreSQL → Kafka.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pgcdc_connector::config::{PostgresConnectorConfig, PropertyError};
use pgcdc_connector::replication::ReplicationError;
use pgcdc_connector::task::{self, TaskMetrics, TaskOptions};
use tokio_util::sync::CancellationToken;

use super::Failure;

pub fn parse(
    resolved: &BTreeMap<String, String>,
) -> Result<PostgresConnectorConfig, Vec<PropertyError>> {
    PostgresConnectorConfig::from_properties(resolved)
        .map(|parsed| parsed.config)
        .map_err(|errors| errors.0)
}

pub async fn run_once(
    config: &PostgresConnectorConfig,
    options: &TaskOptions,
    metrics: Arc<TaskMetrics>,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    // Pausing and restarting stop the task too; the worker drops the slot only when
    // the connector really stops (see `Worker::halt`).
    let config = PostgresConnectorConfig {
        slot_drop_on_stop: false,
        ..config.clone()
    };
    task::run_with_metrics(&config, options, metrics, shutdown)
        .await
        .map(drop)
        .map_err(|e| Failure::of(&e, e.is_retriable()))
}

/// Streaming (not connecting, not snapshotting): a cancelled task drains and
/// confirms what it sent.
pub fn streaming(metrics: &TaskMetrics) -> bool {
    metrics.connected.load(Ordering::Relaxed) && !metrics.snapshot_running.load(Ordering::Relaxed)
}

pub fn disconnected(metrics: &TaskMetrics) {
    metrics.connected.store(false, Ordering::Relaxed);
    metrics.snapshot_running.store(false, Ordering::Relaxed);
}

/// `slot.drop.on.stop`: drops the connector's slot. An aborted task's walsender lets
/// the slot go shortly after its connection closes: wait a little for that.
pub async fn drop_slot(config: &PostgresConnectorConfig) {
    let replication = task::replication_config(config);
    let client = match pgcdc_connector::sql::connect(&replication).await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(slot = %config.slot_name, error = %e, "slot not dropped");
            return;
        }
    };
    for attempt in 1.. {
        match pgcdc_connector::slot::drop_slot(&client, &config.slot_name).await {
            Ok(dropped) => {
                tracing::info!(slot = %config.slot_name, dropped, "slot.drop.on.stop");
            }
            Err(ReplicationError::SlotInUse { .. }) if attempt < 25 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => tracing::warn!(slot = %config.slot_name, error = %e, "slot not dropped"),
        }
        return;
    }
}
