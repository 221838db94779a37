//! The registry's log of operations. Every change to the registry is one of these
//! records, appended to a log before it is applied, and the registry's state is the
//! replay of its log — a local file, or a compacted Kafka `_schemas` topic
//! ([`super::kafkastore`]). They mirror the keys and values of Confluent's `_schemas`
//! topic (`SCHEMA`, `CONFIG`, `MODE`; a hard delete is a tombstone there and
//! `DELETE_SCHEMA` here) so that either backend replays to the same state.

use serde::{Deserialize, Serialize};

use super::compatibility::Level;

/// A global schema id, the number in the Confluent wire format's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaId(pub u32);

impl std::fmt::Display for SchemaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A named reference from a schema to a type registered under another subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// The registry's (or a subject's) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    Readwrite,
    Readonly,
    ReadonlyOverride,
    Import,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Readwrite => "READWRITE",
            Mode::Readonly => "READONLY",
            Mode::ReadonlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [
            Mode::Readwrite,
            Mode::Readonly,
            Mode::ReadonlyOverride,
            Mode::Import,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

/// One change to the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Record {
    /// A subject version: registered, or soft-deleted (`deleted: true`).
    Schema {
        subject: String,
        version: u32,
        id: SchemaId,
        #[serde(rename = "schemaType", default = "avro")]
        schema_type: String,
        schema: String,
        #[serde(default)]
        references: Vec<Reference>,
        #[serde(default)]
        deleted: bool,
    },
    /// A subject version permanently deleted.
    DeleteSchema { subject: String, version: u32 },
    /// A compatibility level set (`Some`) or removed (`None`), for the registry
    /// (`subject: None`) or one subject.
    Config {
        subject: Option<String>,
        #[serde(rename = "compatibilityLevel")]
        compatibility_level: Option<Level>,
    },
    /// A mode set or removed, for the registry or one subject.
    Mode {
        subject: Option<String>,
        mode: Option<Mode>,
    },
    /// The highest schema id ever given out. Written with permanent deletes: once a
    /// compacted topic has dropped the last version using an id, this record still
    /// keeps that id from being given to another schema.
    IdHighWater { id: SchemaId },
}

fn avro() -> String {
    "AVRO".to_owned()
}
