//! The `source` block of every change event (`io.debezium.connector.postgresql.Source`):
//! where and when the change happened.

use crate::connect::{Field, Schema, Value};

use super::logical;

pub const SOURCE_SCHEMA_NAME: &str = "io.debezium.connector.postgresql.Source";

/// `source.snapshot`: whether, and where in a snapshot, the event was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapshotMarker {
    /// A snapshot record that is neither the first nor the last.
    True,
    /// The first record of the snapshot.
    First,
    FirstInDataCollection,
    LastInDataCollection,
    /// The last record of the snapshot (also when it is the only one).
    Last,
    /// A streamed change.
    False,
    Incremental,
}

impl SnapshotMarker {
    /// The Enum values, in the order of the schema's `allowed` parameter.
    pub const ALL: [SnapshotMarker; 7] = [
        SnapshotMarker::True,
        SnapshotMarker::First,
        SnapshotMarker::FirstInDataCollection,
        SnapshotMarker::LastInDataCollection,
        SnapshotMarker::Last,
        SnapshotMarker::False,
        SnapshotMarker::Incremental,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMarker::True => "true",
            SnapshotMarker::First => "first",
            SnapshotMarker::FirstInDataCollection => "first_in_data_collection",
            SnapshotMarker::LastInDataCollection => "last_in_data_collection",
            SnapshotMarker::Last => "last",
            SnapshotMarker::False => "false",
            SnapshotMarker::Incremental => "incremental",
        }
    }
}

/// The Source schema: field order and optionality exactly as Debezium 3.7 writes it.
pub fn source_schema() -> Schema {
    let allowed: Vec<String> = SnapshotMarker::ALL
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    Schema::structure(vec![
        Field::new("version", Schema::string()),
        Field::new("connector", Schema::string()),
        Field::new("name", Schema::string()),
        Field::new("ts_ms", Schema::int64()),
        Field::new(
            "snapshot",
            logical::enumeration(&allowed)
                .optional()
                .with_default(Value::from("false")),
        ),
        Field::new("db", Schema::string()),
        Field::new("sequence", Schema::string().optional()),
        Field::new("ts_us", Schema::int64().optional()),
        Field::new("ts_ns", Schema::int64().optional()),
        Field::new("schema", Schema::string()),
        Field::new("table", Schema::string()),
        Field::new("txId", Schema::int64().optional()),
        Field::new("lsn", Schema::int64().optional()),
        Field::new("xmin", Schema::int64().optional()),
        Field::new("origin", Schema::string().optional()),
        Field::new("origin_lsn", Schema::int64().optional()),
    ])
    .named(SOURCE_SCHEMA_NAME)
    .versioned(1)
}

/// What one event's `source` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// The Debezium version pgcdc reports (consumers and tools read it).
    pub version: String,
    /// `topic.prefix`.
    pub name: String,
    /// When the change happened, in microseconds since the Unix epoch: the commit
    /// time of its transaction when streaming, the read time in a snapshot. `ts_ms` is
    /// this divided by 1000 (rounded down), `ts_ns` this times 1000.
    pub ts_us: i64,
    pub snapshot: SnapshotMarker,
    /// `database.dbname`.
    pub db: String,
    /// `sequence`: see [`sequence`].
    pub sequence: Option<String>,
    pub schema: String,
    pub table: String,
    pub tx_id: Option<i64>,
    /// The change's LSN (the snapshot's LSN for snapshot records).
    pub lsn: Option<u64>,
    pub xmin: Option<i64>,
    pub origin: Option<String>,
    pub origin_lsn: Option<u64>,
}

/// The connector name in `source.connector`.
pub const CONNECTOR: &str = "postgresql";

impl SourceInfo {
    /// The block as a value of [`source_schema`].
    pub fn to_value(&self) -> Value {
        let lsn = |l: Option<u64>| l.map_or(Value::Null, |l| Value::Int64(l as i64));
        Value::Struct(vec![
            Value::from(self.version.as_str()),
            Value::from(CONNECTOR),
            Value::from(self.name.as_str()),
            Value::Int64(self.ts_us.div_euclid(1000)),
            Value::from(self.snapshot.as_str()),
            Value::from(self.db.as_str()),
            self.sequence.clone().map_or(Value::Null, Value::String),
            Value::Int64(self.ts_us),
            Value::Int64(self.ts_us.saturating_mul(1000)),
            Value::from(self.schema.as_str()),
            Value::from(self.table.as_str()),
            self.tx_id.map_or(Value::Null, Value::Int64),
            lsn(self.lsn),
            self.xmin.map_or(Value::Null, Value::Int64),
            self.origin.clone().map_or(Value::Null, Value::String),
            lsn(self.origin_lsn),
        ])
    }
}

/// `source.sequence`: a JSON array of two decimal LSN strings, the end of the last
/// commit the connector processed before this event (`null` right after a snapshot or
/// a start) and the event's own LSN: `["495315488","495315544"]`,
/// `[null,"495268672"]`.
pub fn sequence(last_commit_end_lsn: Option<u64>, lsn: u64) -> String {
    match last_commit_end_lsn {
        Some(last) => format!("[\"{last}\",\"{lsn}\"]"),
        None => format!("[null,\"{lsn}\"]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonConverter;

    #[test]
    fn sequences() {
        assert_eq!(sequence(None, 495_268_672), "[null,\"495268672\"]");
        assert_eq!(
            sequence(Some(495_315_488), 495_315_544),
            "[\"495315488\",\"495315544\"]"
        );
    }

    // The source of a streamed insert in transaction_metadata.json.
    #[test]
    fn value_as_debezium_writes_it() {
        let info = SourceInfo {
            version: "3.7.0.Final".to_owned(),
            name: "fx".to_owned(),
            ts_us: 1_795_605_583_526_686,
            snapshot: SnapshotMarker::False,
            db: "fixtures".to_owned(),
            sequence: Some(sequence(Some(775_922_864), 775_922_864)),
            schema: "public".to_owned(),
            table: "all_types".to_owned(),
            tx_id: Some(111_478),
            lsn: Some(775_922_864),
            xmin: None,
            origin: None,
            origin_lsn: None,
        };
        assert_eq!(
            JsonConverter::default()
                .value_to_json(&source_schema(), &info.to_value())
                .expect("json"),
            concat!(
                r#"{"version":"3.7.0.Final","connector":"postgresql","name":"fx","#,
                r#""ts_ms":1795605583526,"snapshot":"false","db":"fixtures","#,
                r#""sequence":"[\"775922864\",\"775922864\"]","ts_us":1795605583526686,"#,
                r#""ts_ns":1795605583526686000,"schema":"public","table":"all_types","#,
                r#""txId":111478,"lsn":775922864,"xmin":null,"origin":null,"origin_lsn":null}"#
            )
        );
    }
}
