//! Reader of the Debezium fixtures in `tests/fixtures/debezium/` (format documented in
//! `tests/tests/debezium_types.rs`), for the unit tests of this crate and of the
//! connector's `events` module (feature `fixtures`).
//!
//! Debezium's JSON is kept verbatim ([`RawValue`]): [`compact`] gives back the exact
//! bytes Kafka held, so tests compare bytes, not parsed values.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a bad fixture must fail loudly

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::debezium::column::{ColumnDescription, PgColumnType, PgScalar};
use crate::debezium::ValueModes;

/// `tests/fixtures/debezium/` of the workspace.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/debezium")
}

/// Every fixture, with its file stem.
pub fn all() -> Vec<(String, Fixture)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/debezium exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .filter(|p| is_type_fixture(p))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap()
                .to_owned();
            (stem, load_path(&path))
        })
        .collect()
}

/// Other teams keep other Debezium recordings in the same directory: a type fixture is
/// an object with `mode` and `events`.
fn is_type_fixture(path: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .is_ok_and(|v| v.get("mode").is_some() && v.get("events").is_some())
}

/// One fixture by file stem (`defaults`, `decimal_double`, ...).
pub fn load(stem: &str) -> Fixture {
    load_path(&fixture_dir().join(format!("{stem}.json")))
}

fn load_path(path: &std::path::Path) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub debezium_version: String,
    pub postgres_version: String,
    pub mode: String,
    pub properties: BTreeMap<String, String>,
    pub topic_prefix: String,
    pub database: String,
    pub types: Vec<FixtureType>,
    pub tables: Vec<FixtureTable>,
    pub schemas: BTreeMap<String, Box<RawValue>>,
    /// Every transaction the connector streamed, in commit order.
    pub transactions: Vec<FixtureTransaction>,
    pub events: Vec<FixtureEvent>,
    #[serde(default)]
    pub transaction_schemas: BTreeMap<String, Box<RawValue>>,
    #[serde(default)]
    pub transaction_records: Vec<FixtureRecord>,
}

/// A `pg_type` row of a user type.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureType {
    pub oid: u32,
    pub namespace: String,
    pub name: String,
    pub typtype: String,
    pub typcategory: String,
    pub typelem: u32,
    pub typbasetype: u32,
    pub typtypmod: i32,
    pub enum_labels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureTable {
    pub schema: String,
    pub name: String,
    pub replica_identity: String,
    pub topic: String,
    pub columns: Vec<FixtureColumn>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureColumn {
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
    pub flags: u8,
    pub type_name: String,
    pub udt_name: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub pk_position: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureEvent {
    pub label: String,
    pub table: String,
    /// `snapshot`, `insert`, `update`, `delete` or `truncate`.
    pub op: String,
    pub position: Option<FixturePosition>,
    pub old: Option<FixtureOld>,
    pub new: Option<BTreeMap<String, Option<FixtureCell>>>,
    pub records: Vec<FixtureRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixturePosition {
    pub lsn: String,
    pub xid: u32,
    pub begin_lsn: String,
    pub commit_lsn: String,
    pub commit_end_lsn: String,
    pub commit_time_us: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureTransaction {
    pub xid: u32,
    pub begin_lsn: String,
    pub commit_lsn: String,
    pub commit_end_lsn: String,
    pub commit_time_us: i64,
}

#[derive(Debug, Deserialize)]
pub struct FixtureOld {
    /// `key` or `full`.
    pub kind: String,
    pub columns: BTreeMap<String, Option<FixtureCell>>,
}

/// A column as pgoutput sent it (a JSON null is SQL NULL).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FixtureCell {
    Text(String),
    UnchangedToast { unchanged_toast: bool },
}

#[derive(Debug, Deserialize)]
pub struct FixtureRecord {
    pub key: Option<FixtureSide>,
    pub value: Option<FixtureSide>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureSide {
    /// The name under which `Fixture::schemas` holds the schema.
    pub schema: Option<String>,
    pub payload: Box<RawValue>,
}

impl FixtureSide {
    /// The payload exactly as Kafka held it.
    pub fn payload(&self) -> String {
        compact(self.payload.get())
    }
}

impl Fixture {
    pub fn table(&self, name: &str) -> &FixtureTable {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no table {name} in fixture {}", self.mode))
    }

    /// A schema exactly as Kafka held it.
    pub fn schema(&self, name: &str) -> String {
        compact(
            self.schemas
                .get(name)
                .unwrap_or_else(|| panic!("no schema {name} in fixture {}", self.mode))
                .get(),
        )
    }

    /// The whole record side (`{"schema":…,"payload":…}`) exactly as Kafka held it.
    pub fn record_bytes(&self, side: &FixtureSide) -> String {
        let schema = side
            .schema
            .as_deref()
            .map_or_else(|| "null".to_owned(), |name| self.schema(name));
        format!("{{\"schema\":{schema},\"payload\":{}}}", side.payload())
    }

    /// The value modes the fixture's connector ran with.
    pub fn value_modes(&self) -> ValueModes {
        ValueModes::from_properties(
            self.properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .expect("valid properties")
    }

    pub fn propagates_source_type(&self) -> bool {
        self.properties.contains_key("column.propagate.source.type")
    }

    pub fn user_type(&self, oid: u32) -> Option<&FixtureType> {
        self.types.iter().find(|t| t.oid == oid)
    }

    /// The column's type as the mapping classifies it, with the typmod that applies
    /// and the enum labels: built-in types by name, user types through `types`
    /// (domains resolve to their base type and typmod, enums carry their labels).
    pub fn classify(&self, column: &FixtureColumn) -> (PgColumnType, i32, Vec<String>) {
        self.classify_oid(column.type_oid, &column.udt_name, column.typmod)
    }

    fn classify_oid(&self, oid: u32, name: &str, typmod: i32) -> (PgColumnType, i32, Vec<String>) {
        if let Some(user) = self.user_type(oid) {
            match user.typtype.as_str() {
                "e" => {
                    let labels = user.enum_labels.clone().unwrap_or_default();
                    return (PgColumnType::Scalar(PgScalar::Enum), typmod, labels);
                }
                "d" => {
                    let base = self.user_type(user.typbasetype).map(|t| t.name.clone());
                    let base_name = base.unwrap_or_else(|| builtin_name(user.typbasetype));
                    let typmod = if typmod < 0 { user.typtypmod } else { typmod };
                    return self.classify_oid(user.typbasetype, &base_name, typmod);
                }
                "b" if user.typcategory == "A" => {
                    let element = self.user_type(user.typelem).map(|t| t.name.clone());
                    let element_name = element.unwrap_or_else(|| builtin_name(user.typelem));
                    let (element_type, typmod, labels) =
                        self.classify_oid(user.typelem, &element_name, typmod);
                    return (PgColumnType::Array(element_type.element()), typmod, labels);
                }
                _ => {}
            }
        }
        match name.strip_prefix('_') {
            Some(element) => (
                PgColumnType::Array(PgScalar::from_type_name(element).unwrap_or(PgScalar::Unknown)),
                typmod,
                Vec::new(),
            ),
            None => (
                PgColumnType::Scalar(PgScalar::from_type_name(name).unwrap_or(PgScalar::Unknown)),
                typmod,
                Vec::new(),
            ),
        }
    }

    /// The mapping's view of a column (no default: callers that need one add it).
    pub fn column_description(&self, column: &FixtureColumn) -> ColumnDescription {
        let (pg_type, typmod, enum_values) = self.classify(column);
        ColumnDescription {
            name: column.name.clone(),
            pg_type,
            type_name: column.udt_name.clone(),
            typmod,
            optional: !column.not_null,
            default: None,
            enum_values,
            key_position: column.pk_position,
            propagate_source_type: self.propagates_source_type(),
        }
    }

    /// The end of the commit the connector streamed before transaction `xid`
    /// (`source.sequence[0]`), `None` for the first one after the snapshot.
    pub fn previous_commit_end(&self, xid: u32) -> Option<u64> {
        let index = self.transactions.iter().position(|t| t.xid == xid)?;
        let previous = self.transactions.get(index.checked_sub(1)?)?;
        Some(parse_lsn(&previous.commit_end_lsn))
    }

    /// The events in the order the connector saw them (snapshot first, then by LSN).
    pub fn events_in_stream_order(&self) -> Vec<&FixtureEvent> {
        let mut events: Vec<&FixtureEvent> = self.events.iter().collect();
        events.sort_by_key(|e| e.position.as_ref().map(|p| parse_lsn(&p.lsn)));
        events
    }
}

/// Built-in type names the fixtures' domains and arrays refer to by OID.
fn builtin_name(oid: u32) -> String {
    match oid {
        16 => "bool",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        1043 => "varchar",
        1700 => "numeric",
        _ => "unknown",
    }
    .to_owned()
}

/// `X/Y` → the 64-bit LSN.
pub fn parse_lsn(text: &str) -> u64 {
    let (high, low) = text.split_once('/').expect("LSN with a slash");
    (u64::from_str_radix(high, 16).expect("hex") << 32) | u64::from_str_radix(low, 16).expect("hex")
}

/// Removes the whitespace outside strings that the fixtures' indentation added: the
/// JSON Kafka held, byte for byte.
pub fn compact(pretty: &str) -> String {
    let mut out = String::with_capacity(pretty.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in pretty.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_outside_strings_only() {
        assert_eq!(
            compact("{\n  \"a b\": [1, \"x\\\" y\"],\n  \"c\": null\n}"),
            "{\"a b\":[1,\"x\\\" y\"],\"c\":null}"
        );
        assert_eq!(parse_lsn("0/1D85EA58"), 495_315_544);
        assert_eq!(parse_lsn("1/0"), 1 << 32);
    }

    #[test]
    fn every_fixture_loads() {
        let fixtures = all();
        assert!(fixtures.len() >= 14, "{} fixtures", fixtures.len());
        for (stem, fixture) in &fixtures {
            assert_eq!(stem, &fixture.mode);
            assert!(!fixture.events.is_empty(), "{stem}");
        }
    }
}
