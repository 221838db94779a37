//! The embedded, Confluent-compatible Schema Registry: what `pgcdc registry` serves,
//! so that a one-machine setup needs no JVM registry and Confluent's own clients
//! cannot tell the difference.
//!
//! - [`avro`]: validating (with `apache-avro`), canonicalizing and modelling schemas;
//! - [`compatibility`]: the levels and Avro's schema-resolution rules;
//! - [`records`]: the log of changes (mirroring Confluent's `_schemas` topic);
//! - [`state`]: the pure store, rebuilt by replaying the log;
//! - [`log`]: where the log is kept (a JSON-lines file, fsynced per change);
//! - [`store`]: the state and its log, writes serialized, reads never waiting on fsync;
//! - [`http`]: the REST API.
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

pub mod avro;
pub mod compatibility;
pub mod error;
pub mod http;
pub mod log;
pub mod records;
pub mod state;
pub mod store;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

pub use compatibility::Level;
pub use error::RegistryError;
pub use http::router;
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

/// What `pgcdc registry --listen ADDRESS [--data-dir DIR]` does: opens the registry
/// (replaying `DIR/schemas.log`, or in memory without a directory), listens on
/// `listen`, and serves until `shutdown` completes.
pub async fn run(
    listen: &str,
    data_dir: Option<&Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let registry = match data_dir {
        Some(dir) => Registry::open(dir)?,
        None => {
            tracing::warn!("no --data-dir: the registry keeps its schemas in memory only");
            Registry::in_memory()
        }
    };
    let listener =
        tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| RegistryError::Listen {
                address: listen.to_owned(),
                reason: e.to_string(),
            })?;
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "schema registry listening");
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
