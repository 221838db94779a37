//! What a change event looks like on the wire. This crate owns the mapping from
//! PostgreSQL column types to Kafka Connect schemas exactly as Debezium's PostgreSQL
//! connector makes them, the Debezium envelope (`before`, `after`, `source`, `op`,
//! `transaction`), the Connect → Avro rules of Confluent's converter, the Confluent
//! wire format, the Schema Registry client, and the embedded Confluent-compatible
//! registry server. It holds no I/O on the data path except the registry client, so
//! the mappings are pure functions tested case by case.

pub mod registry;
