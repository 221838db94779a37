//! The runtime that hosts connectors: a REST API with Kafka Connect's paths and
//! shapes, connector and task lifecycle, persistence of configs and target states,
//! secret masking and config providers, Prometheus metrics and health endpoints, and
//! ordered shutdown. Operators drive it exactly as they drive a Kafka Connect worker.
//!
//! - [`class`]: the connector classes hosted (PostgreSQL source, JDBC sink,
//!   dashboard): their configurations, runs and figures;
//! - [`runtime`]: the [`Worker`]: connectors' lifecycle and state;
//! - [`run`]: one run of a connector's task: retries, and stopping it;
//! - [`rest`]: the HTTP API, `/metrics`, `/health`;
//! - [`store`]: configurations and target states in the state directory;
//! - [`secrets`]: masking and `${env:…}` / `${file:…}` config providers;
//! - [`validate`]: Connect's validation response;
//! - [`metrics`]: the Prometheus exposition.

pub mod class;
pub mod metrics;
pub mod rest;
pub mod run;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod validate;

pub use rest::{router, ApiAuth};
pub use runtime::{Worker, WorkerError, WorkerOptions};
