//! Kafka Connect's data model: the [`Schema`] a record is written with and the
//! [`Value`] it carries. Debezium builds every key and value as Connect `Struct`s, and
//! converters (JSON, Avro) turn the pair into bytes, so this model is the meeting
//! point of the type mapping (`crate::debezium`) and the converters (`crate::json`).
//!
//! It follows `org.apache.kafka.connect.data` where that matters on the wire: a
//! schema's parameters keep their insertion order, struct fields are positional, and a
//! schema may carry a default that converters write in place of a null. Logical types
//! (Connect's `Decimal`, `Date`, Debezium's `io.debezium.time.*`) are plain schemas
//! with a name; their values are the underlying primitive (a `Decimal` is the unscaled
//! integer's big-endian two's-complement bytes, the scale lives in the schema).

mod schema;
mod value;

pub use schema::{Field, Schema, SchemaKind, SchemaType};
pub use value::Value;
