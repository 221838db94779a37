//! The runtime that hosts connectors: a REST API with Kafka Connect's paths and
//! shapes, connector and task lifecycle, persistence of configs, statuses and offsets,
//! secret masking and config providers, Prometheus metrics and health endpoints, and
//! ordered shutdown. Operators drive it exactly as they drive a Kafka Connect worker.
