//! What a change event looks like on the wire. This crate owns the mapping from
//! PostgreSQL column types to Kafka Connect schemas exactly as Debezium's PostgreSQL
//! connector makes them, the Debezium envelope (`before`, `after`, `source`, `op`,
//! `transaction`), the Connect → Avro rules of Confluent's converter, the Confluent
//! wire format, the Schema Registry client, and the embedded Confluent-compatible
//! registry server. It holds no I/O on the data path except the registry client, so
//! the mappings are pure functions tested case by case.
//!
//! - [`avro`]: Confluent's Avro converter: Connect → Avro schemas, the binary
//!   encoder and decoders, the wire format and the Schema Registry client;
//! - [`connect`]: Kafka Connect's schema and value model;
//! - [`debezium`]: PostgreSQL column → Connect field as Debezium maps it, the key,
//!   row, envelope, `source` and `transaction` schemas;
//! - [`json`]: Kafka's JsonConverter, byte for byte;
//! - [`registry`]: the Schema Registry.

pub mod avro;
pub mod connect;
pub mod debezium;
pub mod encoding;
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod fixtures;
pub mod json;
pub mod registry;
