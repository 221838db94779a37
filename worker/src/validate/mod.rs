//! `PUT /connector-plugins/{class}/config/validate`: Connect's validation response —
//! every property the connector defines with its definition and value, and the
//! errors of each, counted in `error_count`. The definitions are Debezium 3.7's own
//! (recorded from its validation endpoint into the fixture below); the errors are
//! pgcdc's, from the same parser that starts the connector, so validation and start
//! never disagree. `GET /connector-plugins/{class}/config` serves the definitions
//! alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use pgcdc_connector::config::{PostgresConnectorConfig, CONNECTOR_CLASS};
use serde_json::{json, Value};

use crate::secrets;

const DEFINITIONS: &str =
    include_str!("../../tests/fixtures/debezium/postgres-connector-config-definitions.json");

fn definitions() -> &'static Vec<Value> {
    static PARSED: OnceLock<Vec<Value>> = OnceLock::new();
    PARSED.get_or_init(|| {
        serde_json::from_str::<Value>(DEFINITIONS)
            .ok()
            .and_then(|v| v["configs"].as_array().cloned())
            .unwrap_or_default()
    })
}

/// Connect's `ConfigKeyInfo` of one recorded definition.
fn definition_json(definition: &Value) -> Value {
    json!({
        "name": definition["name"],
        "type": definition["type"],
        "required": definition["required"],
        "default_value": definition["default_value"],
        "importance": definition["importance"],
        "documentation": definition.get("documentation").cloned().unwrap_or(json!("")),
        "group": definition["group"],
        "order_in_group": definition["order_in_group"],
        "width": definition.get("width").cloned().unwrap_or(json!("NONE")),
        "display_name": definition["display_name"],
        "dependents": [],
    })
}

/// Every property the connector defines (`GET /connector-plugins/{class}/config`).
pub fn config_definitions() -> Value {
    Value::Array(definitions().iter().map(definition_json).collect())
}

/// The validation response for `config`.
pub fn validation_response(config: &BTreeMap<String, String>) -> Value {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let resolved = match secrets::resolve(config) {
        Ok(resolved) => resolved,
        Err(e) => {
            errors.entry(e.property).or_default().push(e.reason);
            config.clone()
        }
    };
    let mut with_name = resolved.clone();
    with_name
        .entry("name".to_owned())
        .or_insert_with(|| "validation".to_owned());
    if let Err(found) = PostgresConnectorConfig::from_properties(&with_name) {
        for e in found.0 {
            errors.entry(e.property.clone()).or_default().push(format!(
                "The '{}' value is invalid: {}",
                e.property, e.message
            ));
        }
    }
    let shown = secrets::masked(config);
    let mut groups: Vec<String> = Vec::new();
    let mut configs = Vec::new();
    let mut defined = BTreeSet::new();
    for definition in definitions() {
        let Some(name) = definition["name"].as_str() else {
            continue;
        };
        defined.insert(name.to_owned());
        if let Some(group) = definition["group"].as_str() {
            if !groups.iter().any(|g| g == group) {
                groups.push(group.to_owned());
            }
        }
        let value = shown
            .get(name)
            .map(|v| json!(v))
            .unwrap_or_else(|| definition["default_value"].clone());
        configs.push(json!({
            "definition": definition_json(definition),
            "value": {
                "name": name,
                "value": value,
                "recommended_values": definition["recommended_values"],
                "errors": errors.get(name).cloned().unwrap_or_default(),
                "visible": true,
            },
        }));
    }
    // Errors about properties outside Debezium's definitions (e.g. a converter's).
    for (name, messages) in &errors {
        if !defined.contains(name) {
            configs.push(json!({
                "definition": {
                    "name": name, "type": "STRING", "required": false, "default_value": null,
                    "importance": "LOW", "documentation": "", "group": null,
                    "order_in_group": -1, "width": "NONE", "display_name": name, "dependents": [],
                },
                "value": {
                    "name": name, "value": shown.get(name), "recommended_values": [],
                    "errors": messages, "visible": true,
                },
            }));
        }
    }
    let error_count: usize = errors.values().map(Vec::len).sum();
    json!({
        "name": CONNECTOR_CLASS,
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn value_of<'a>(response: &'a Value, name: &str) -> &'a Value {
        response["configs"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["value"]["name"] == name))
            .map(|c| &c["value"])
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn every_debezium_property_is_listed_and_errors_are_per_property() {
        let response = validation_response(&config(&[
            ("connector.class", CONNECTOR_CLASS),
            ("name", "v"),
            ("database.port", "five"),
            ("topic.prefix", "x"),
            ("database.password", "hunter2"),
        ]));
        assert_eq!(response["name"], CONNECTOR_CLASS);
        assert!(response["configs"].as_array().map_or(0, Vec::len) >= 160);
        let port = value_of(&response, "database.port");
        assert_eq!(port["value"], "five");
        assert!(port["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("database.port") && e.contains("port number")));
        assert_eq!(
            value_of(&response, "database.hostname")["errors"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            value_of(&response, "database.password")["value"],
            secrets::MASK
        );
        // hostname, user, dbname missing; port invalid.
        assert_eq!(response["error_count"], 4);
    }

    #[test]
    fn a_valid_configuration_has_no_errors() {
        let response = validation_response(&config(&[
            ("connector.class", CONNECTOR_CLASS),
            ("name", "v"),
            ("database.hostname", "db"),
            ("database.user", "u"),
            ("database.dbname", "d"),
            ("topic.prefix", "x"),
        ]));
        assert_eq!(response["error_count"], 0);
        assert_eq!(value_of(&response, "slot.name")["value"], "debezium");
    }
}
