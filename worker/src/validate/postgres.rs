//! The PostgreSQL connector's property definitions: Debezium 3.7's own, recorded
//! from its validation endpoint.

use std::sync::OnceLock;

use serde_json::Value;

const DEFINITIONS: &str =
    include_str!("../../../tests/fixtures/debezium/postgres-connector-config-definitions.json");

pub(super) fn definitions() -> &'static [Value] {
    static PARSED: OnceLock<Vec<Value>> = OnceLock::new();
    PARSED.get_or_init(|| {
        serde_json::from_str::<Value>(DEFINITIONS)
            .ok()
            .and_then(|v| v["configs"].as_array().cloned())
            .unwrap_or_default()
    })
}
