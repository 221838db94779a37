//! The embedded, Confluent-compatible Schema Registry: what `pgcdc registry` serves,
//! so that a one-machine setup needs no JVM registry and Confluent's own clients
//! cannot tell the difference.
//!
//! - [`avro`]: validating (with `apache-avro`), canonicalizing and modelling schemas;
//! - [`compatibility`]: the levels and Avro's schema-resolution rules;
//! - [`records`]: the log of changes (mirroring Confluent's `_schemas` topic);
//! - [`state`]: the pure store, rebuilt by replaying the log;
//! - [`log`]: the local log (a JSON-lines file, fsynced per change);
//! - [`kafkastore`]: the log in a compacted Kafka topic shared by instances;
//! - [`store`]: the state and its log, writes serialized, reads never waiting on fsync;
//! - [`http`]: the REST API;
//! - [`metrics`]: the Prometheus exposition at `/metrics`.
//!
//! Where it knowingly differs from Confluent's registry:
//! - AVRO only: `schemaType` JSON or PROTOBUF is refused with 42201, and
//!   `/schemas/types` answers `["AVRO"]`.
//! - The stored text is our canonical form (compact, Avro Java's key order, every
//!   property kept), not Java's `Schema.toString()`. Spacing and key order never
//!   change an id; `normalize` is accepted and ignored.
//! - Names must be ASCII Avro names (apache-avro's rule); Java also takes Unicode
//!   letters.
//! - Two `decimal`s resolve only with equal scale and a reader precision at least
//!   the writer's; Avro Java ignores logical types (see [`compatibility`]).
//! - Contexts, metadata and rule sets, `/exporters` and the `guid` are not served.
//! - One process per data directory: nothing locks `schemas.log` against a second.
//!   Instances that share state use the Kafka store.
//! - Instances on one topic do not elect a leader and forward writes to it: each
//!   writes itself, serialized with its peers by Kafka transactions (see
//!   [`kafkastore::writer`]).

pub mod avro;
pub mod compatibility;
pub mod error;
pub mod http;
pub mod kafkastore;
pub mod log;
pub mod metrics;
pub mod records;
pub mod state;
pub mod store;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use compatibility::Level;
pub use error::RegistryError;
pub use http::router;
pub use kafkastore::KafkaStoreConfig;
pub use records::{Mode, Record, Reference, SchemaId};
pub use state::RegistryState;
pub use store::Registry;

/// Serves the registry's REST API on `listener` until the future is dropped or the
/// listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "schema registry listening");
    }
    axum::serve(listener, router(registry)).await
}

/// Like [`serve`], stopping gracefully (finishing requests in flight) when
/// `shutdown` completes.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Where a registry keeps its log.
#[derive(Debug)]
pub enum Storage {
    /// Nothing survives the process.
    Memory,
    /// `schemas.log` in this directory.
    File(PathBuf),
    /// A compacted Kafka topic, shared by every instance on it.
    Kafka(KafkaStoreConfig),
}

impl Storage {
    /// Opens the registry: replays the file, or reads the topic to its end.
    pub async fn open(self) -> Result<Registry, RegistryError> {
        match self {
            Storage::Memory => {
                tracing::warn!("no storage given: the registry keeps its schemas in memory only");
                Ok(Registry::in_memory())
            }
            Storage::File(dir) => tokio::task::spawn_blocking(move || Registry::open(&dir))
                .await
                .map_err(|e| RegistryError::Store {
                    reason: format!("opening the registry log failed: {e}"),
                })?,
            Storage::Kafka(config) => Registry::open_kafka(config).await,
        }
    }
}

/// What `pgcdc registry` does: opens the registry from `storage` (before it
/// listens, so that it never answers from a partial state), listens on `listen`,
/// and serves until `shutdown` completes. `started` is when the process started,
/// for the startup-time metric.
pub async fn run(
    listen: &str,
    storage: Storage,
    started: Instant,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let registry = storage.open().await?;
    let listener =
        tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| RegistryError::Listen {
                address: listen.to_owned(),
                reason: e.to_string(),
            })?;
    let startup = started.elapsed();
    registry.metrics().set_startup(startup);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(
            %address,
            storage = registry.storage(),
            startup_ms = format_args!("{:.1}", startup.as_secs_f64() * 1e3),
            "schema registry listening"
        );
    }
    serve_until(listener, Arc::new(registry), shutdown)
        .await
        .map_err(|e| RegistryError::Listen {
            address: listen.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod compatibility_cases;
