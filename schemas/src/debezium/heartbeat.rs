//! Heartbeat records (`heartbeat.interval.ms`): written to
//! `<heartbeat.topics.prefix>.<topic.prefix>` so consumers and operators can see the
//! connector is alive while the captured tables are quiet.

use crate::connect::{Field, Schema, Value};

const KEY_NAME: &str = "io.debezium.connector.common.ServerNameKey";
const VALUE_NAME: &str = "io.debezium.connector.common.Heartbeat";

/// The key: the connector's logical name (`topic.prefix`).
pub fn key_schema() -> Schema {
    Schema::structure(vec![Field::new("serverName", Schema::string())])
        .named(KEY_NAME)
        .versioned(1)
}

/// The value: when the heartbeat was sent, in milliseconds since the Unix epoch.
pub fn value_schema() -> Schema {
    Schema::structure(vec![Field::new("ts_ms", Schema::int64())])
        .named(VALUE_NAME)
        .versioned(1)
}

pub fn key(server_name: &str) -> Value {
    Value::Struct(vec![Value::from(server_name)])
}

pub fn value(ts_ms: i64) -> Value {
    Value::Struct(vec![Value::Int64(ts_ms)])
}

/// `<heartbeat.topics.prefix>.<topic.prefix>`.
pub fn topic(heartbeat_topics_prefix: &str, topic_prefix: &str) -> String {
    format!("{heartbeat_topics_prefix}.{topic_prefix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonConverter;

    #[test]
    fn records_as_json() {
        let json = JsonConverter::default();
        assert_eq!(
            json.value_to_json(&key_schema(), &key("shop"))
                .expect("json"),
            r#"{"serverName":"shop"}"#
        );
        assert_eq!(
            json.value_to_json(&value_schema(), &value(1_700_000_000_123))
                .expect("json"),
            r#"{"ts_ms":1700000000123}"#
        );
        assert_eq!(
            topic("__debezium-heartbeat", "shop"),
            "__debezium-heartbeat.shop"
        );
    }
}
