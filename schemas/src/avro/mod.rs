//! Confluent's Avro converter (`io.confluent.connect.avro.AvroConverter`) for Kafka
//! Connect data: what Debezium users get with `value.converter=...AvroConverter`.
//!
//! A record goes through these files in order:
//!
//! - [`from_connect`]: a Connect schema becomes an Avro schema by the rules of
//!   Confluent's `AvroData.fromConnectSchema` with the converter's default settings
//!   (the rules are listed there, each with the unit test that checks it);
//! - [`schema`]: the Avro schema model, written as the text Avro Java's
//!   `Schema.toString()` gives (what Confluent's serializer registers), and
//!   [`parse`] reading such text back;
//! - [`subject`]: which subject the schema is registered under
//!   (`key.subject.name.strategy` / `value.subject.name.strategy`);
//! - [`client`]: the Schema Registry client, caching every answer, and [`diff`]:
//!   which columns an incompatible schema changed;
//! - [`encode`]: the hot path, a Connect value written straight to Avro binary
//!   (no intermediate Avro value tree), and [`wire`]: Confluent's framing (magic byte
//!   0, 4-byte big-endian schema id, Avro body);
//! - [`converter`]: [`AvroConverter`], tying them together: `prepare` (async,
//!   registers once per schema) then `encode` (sync, allocation-free into a reused
//!   buffer);
//! - [`decode`] and [`decode_connect`]: the way back, for tests and tools
//!   (`pgcdc tail`): Avro binary read with an Avro schema into an [`AvroValue`], or
//!   with the Connect schema it was written from into a Connect [`Value`]. Both
//!   return errors on malformed bytes, never panic, and never allocate more than the
//!   input can justify.
//!
//! ## Why not `schema_registry_converter`
//!
//! The issue suggested `schema_registry_converter` as the registry client. It was
//! evaluated (versions 6.0.0 and 4.4.0 on crates.io) and not used:
//! - 6.0 depends on reqwest 0.13 (the workspace is on 0.12: a second HTTP/TLS stack
//!   to compile), needs Rust 1.88 (the workspace promises 1.85), enables
//!   `native-tls` (OpenSSL) by default, and its Avro support pins apache-avro 0.22
//!   (the workspace is on 0.21);
//! - 4.4 (the last on reqwest 0.12) parses a refusal's body as a registered schema,
//!   so a 409's `message` (which names the incompatible field) is lost; 6.0 keeps it
//!   only behind a type-erased `source()`;
//! - its encoders take apache-avro `Value` trees, which the hot path avoids, so only
//!   its HTTP calls would be used: four endpoints.
//!
//! [`client`] is therefore a small client on the workspace's reqwest (rustls), with
//! Confluent's error `error_code` and `message` kept verbatim.
//!
//! [`Value`]: crate::connect::Value

pub mod binary;
pub mod client;
pub mod config;
pub mod converter;
pub mod decode;
pub mod decode_connect;
pub mod diff;
pub mod encode;
pub mod from_connect;
pub mod parse;
pub mod props;
pub mod schema;
pub mod subject;
pub mod wire;

#[cfg(test)]
mod from_connect_tests;

pub use client::{RegisteredSchema, RegistryClient};
pub use config::{AvroConverterConfig, BasicAuth, ConfigProblem};
pub use converter::AvroConverter;
pub use decode::{decode_datum, decode_datum_named, AvroValue, DecodeError};
pub use decode_connect::decode_connect_datum;
pub use diff::{Change, FieldChange};
pub use encode::{DatumWriter, EncodeError};
pub use from_connect::AvroData;
pub use props::Json;
pub use schema::{AvroField, AvroKind, AvroSchema, Name};
pub use subject::SubjectNameStrategy;

pub use crate::registry::SchemaId;

/// What can go wrong turning Connect records into registered Avro bytes, and back.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    /// The Connect schema has no Avro form under Confluent's rules (an invalid name,
    /// two different types with one name, a logical type on the wrong base type).
    /// Confluent's converter fails on the same schemas.
    #[error("cannot convert the Connect schema to Avro at {path}: {reason}")]
    Schema { path: String, reason: String },
    /// A value that does not fit its Connect schema.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Avro bytes that do not fit their schema.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Avro schema text that is not a valid schema.
    #[error("invalid Avro schema: {reason}")]
    InvalidAvroSchema { reason: String },
    /// Bytes that are not in Confluent's wire format.
    #[error("not Confluent wire format: {reason}")]
    WireFormat { reason: String },
    /// Converter properties that cannot be used, each with its property name.
    #[error("invalid Avro converter configuration: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config { problems: Vec<ConfigProblem> },
    /// The registry answered with an error. `message` is the registry's own text,
    /// verbatim: for an incompatible schema (409) it names the field and the rule.
    #[error(
        "schema registry refused {operation} (HTTP {status}, error_code {error_code}): {message}"
    )]
    Registry {
        operation: String,
        status: u16,
        error_code: u32,
        message: String,
    },
    /// The registry refused a new version of a subject as incompatible with the
    /// earlier ones (HTTP 409). `message` is the registry's, verbatim; `changes` are
    /// the fields (columns) that differ from the subject's latest version, found by
    /// comparing the two schemas.
    #[error(
        "schema registry refused the new schema of subject {subject} as incompatible{}: {message}",
        changes_summary(changes)
    )]
    Incompatible {
        subject: String,
        message: String,
        changes: Vec<FieldChange>,
    },
    /// No registry URL could be reached (or it answered with something that is not
    /// a registry's answer).
    #[error("schema registry unreachable for {operation}: {reason}")]
    Unreachable { operation: String, reason: String },
    /// `use.latest.version=true`, but the subject's latest schema is not the one this
    /// record's schema converts to, and pgcdc writes records only with their own
    /// schema.
    #[error("use.latest.version: the latest schema of subject {subject} (id {id}) differs from the record's schema; register it or set use.latest.version=false")]
    LatestVersionDiffers { subject: String, id: SchemaId },
    /// A subject name strategy that needs a record schema got another type.
    #[error("{0}")]
    Subject(String),
}

impl AvroError {
    /// Whether the same call may succeed later: a registry that is down, overloaded
    /// or failing internally. Everything else needs a change of schema, data or
    /// configuration.
    pub fn is_retriable(&self) -> bool {
        match self {
            AvroError::Unreachable { .. } => true,
            AvroError::Registry { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Confluent's `error_code` when the registry refused the call (409 for an
    /// incompatible schema, 40401 for an unknown subject, ...).
    pub fn registry_error_code(&self) -> Option<u32> {
        match self {
            AvroError::Registry { error_code, .. } => Some(*error_code),
            AvroError::Incompatible { .. } => Some(409),
            _ => None,
        }
    }

    pub(crate) fn schema(path: &str, reason: impl Into<String>) -> AvroError {
        AvroError::Schema {
            path: if path.is_empty() {
                "the top level".to_owned()
            } else {
                path.to_owned()
            },
            reason: reason.into(),
        }
    }
}

fn changes_summary(changes: &[FieldChange]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        let listed: Vec<String> = changes.iter().map(ToString::to_string).collect();
        format!(" (changed fields: {})", listed.join("; "))
    }
}
