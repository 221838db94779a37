//! Transaction metadata (`provide.transaction.metadata=true`): the `transaction`
//! block of each change event, and the records of the `<prefix>.transaction` topic.

use crate::connect::{Field, Schema, Value};

pub const EVENT_BLOCK_NAME: &str = "event.block";
pub const METADATA_KEY_NAME: &str = "io.debezium.connector.common.TransactionMetadataKey";
pub const METADATA_VALUE_NAME: &str = "io.debezium.connector.common.TransactionMetadataValue";
pub const EVENT_COLLECTION_NAME: &str = "event.collection";

/// The envelope's `transaction` field: optional, null unless metadata is provided.
pub fn event_block_schema() -> Schema {
    Schema::structure(vec![
        Field::new("id", Schema::string()),
        Field::new("total_order", Schema::int64()),
        Field::new("data_collection_order", Schema::int64()),
    ])
    .named(EVENT_BLOCK_NAME)
    .versioned(1)
    .optional()
}

/// The transaction id Debezium's PostgreSQL connector uses: `<xid>:<lsn>`, the LSN
/// being the transaction's first event's (`"111477:775916240"`).
pub fn transaction_id(xid: u32, lsn: u64) -> String {
    format!("{xid}:{lsn}")
}

/// One event's place in its transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventBlock {
    pub id: String,
    /// 1-based position among all events of the transaction.
    pub total_order: i64,
    /// 1-based position among the transaction's events of the same table.
    pub data_collection_order: i64,
}

impl EventBlock {
    pub fn to_value(&self) -> Value {
        Value::Struct(vec![
            Value::from(self.id.as_str()),
            Value::Int64(self.total_order),
            Value::Int64(self.data_collection_order),
        ])
    }
}

/// The key schema of the transaction topic.
pub fn metadata_key_schema() -> Schema {
    Schema::structure(vec![Field::new("id", Schema::string())])
        .named(METADATA_KEY_NAME)
        .versioned(1)
}

/// The value schema of the transaction topic.
pub fn metadata_value_schema() -> Schema {
    let collection = Schema::structure(vec![
        Field::new("data_collection", Schema::string()),
        Field::new("event_count", Schema::int64()),
    ])
    .named(EVENT_COLLECTION_NAME)
    .versioned(1)
    .optional();
    Schema::structure(vec![
        Field::new("status", Schema::string()),
        Field::new("id", Schema::string()),
        Field::new("event_count", Schema::int64().optional()),
        Field::new("data_collections", Schema::array(collection).optional()),
        Field::new("ts_ms", Schema::int64()),
    ])
    .named(METADATA_VALUE_NAME)
    .versioned(1)
}

/// A record of the transaction topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionMetadata {
    Begin {
        id: String,
        ts_ms: i64,
    },
    End {
        id: String,
        ts_ms: i64,
        /// (`schema.table`, events) in the order the tables were first seen.
        data_collections: Vec<(String, i64)>,
    },
}

impl TransactionMetadata {
    pub fn key(&self) -> Value {
        let id = match self {
            TransactionMetadata::Begin { id, .. } | TransactionMetadata::End { id, .. } => id,
        };
        Value::Struct(vec![Value::from(id.as_str())])
    }

    pub fn value(&self) -> Value {
        match self {
            TransactionMetadata::Begin { id, ts_ms } => Value::Struct(vec![
                Value::from("BEGIN"),
                Value::from(id.as_str()),
                Value::Null,
                Value::Null,
                Value::Int64(*ts_ms),
            ]),
            TransactionMetadata::End {
                id,
                ts_ms,
                data_collections,
            } => Value::Struct(vec![
                Value::from("END"),
                Value::from(id.as_str()),
                Value::Int64(data_collections.iter().map(|(_, n)| n).sum()),
                Value::Array(
                    data_collections
                        .iter()
                        .map(|(name, count)| {
                            Value::Struct(vec![Value::from(name.as_str()), Value::Int64(*count)])
                        })
                        .collect(),
                ),
                Value::Int64(*ts_ms),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonConverter;

    #[test]
    fn end_record() {
        let end = TransactionMetadata::End {
            id: "11426:495305624".to_owned(),
            ts_ms: 1_795_605_583_526,
            data_collections: vec![("public.all_types".to_owned(), 1)],
        };
        let json = JsonConverter::default();
        assert_eq!(
            json.value_to_json(&metadata_value_schema(), &end.value())
                .expect("json"),
            concat!(
                r#"{"status":"END","id":"11426:495305624","event_count":1,"#,
                r#""data_collections":[{"data_collection":"public.all_types","event_count":1}],"#,
                r#""ts_ms":1795605583526}"#
            )
        );
        assert_eq!(
            json.value_to_json(&metadata_key_schema(), &end.key())
                .expect("json"),
            r#"{"id":"11426:495305624"}"#
        );
        assert_eq!(transaction_id(111_477, 775_916_240), "111477:775916240");
    }
}
