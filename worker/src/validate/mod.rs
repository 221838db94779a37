//! `PUT /connector-plugins/{class}/config/validate`: Connect's validation response —
//! every property the class defines with its definition and value, and the errors
//! of each, counted in `error_count`. The errors come from the same parser that
//! starts the connector, so validation and start never disagree.
//! `GET /connector-plugins/{class}/config` serves the definitions alone.
//!
//! The PostgreSQL connector's definitions are Debezium 3.7's own (recorded from its
//! validation endpoint, [`postgres`]); the JDBC sink's list the properties pgcdc's
//! sink reads, with its defaults ([`sink`]); the dashboard's are pgcdc's
//! ([`dashboard`]).

mod dashboard;
mod postgres;
mod sink;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::class::ConnectorClass;
use crate::secrets;

/// A property definition in the recorded fixture's shape (Connect's `ConfigKeyInfo`
/// plus `recommended_values`).
fn definitions(class: ConnectorClass) -> &'static [Value] {
    match class {
        ConnectorClass::Postgres => postgres::definitions(),
        ConnectorClass::JdbcSink => sink::definitions(),
        ConnectorClass::Dashboard => dashboard::definitions(),
    }
}

/// A definition of pgcdc's own, in the fixture's shape.
#[derive(Debug, Clone, Copy)]
struct Definition {
    name: &'static str,
    /// Connect's type: STRING, INT, LONG, BOOLEAN, LIST, CLASS, PASSWORD.
    kind: &'static str,
    default: Option<&'static str>,
    required: bool,
    importance: &'static str,
    group: &'static str,
    display_name: &'static str,
    documentation: &'static str,
    recommended: &'static [&'static str],
}

/// The fixture-shaped JSON of `table`, numbered within each group.
fn from_table(table: &[Definition]) -> Vec<Value> {
    let mut order: BTreeMap<&str, u32> = BTreeMap::new();
    table
        .iter()
        .map(|d| {
            let position = order.entry(d.group).or_insert(0);
            *position += 1;
            json!({
                "name": d.name,
                "type": d.kind,
                "required": d.required,
                "default_value": d.default,
                "importance": d.importance,
                "documentation": d.documentation,
                "group": d.group,
                "order_in_group": *position,
                "display_name": d.display_name,
                "recommended_values": d.recommended,
            })
        })
        .collect()
}

/// Connect's `ConfigKeyInfo` of one definition.
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

/// Every property the class defines (`GET /connector-plugins/{class}/config`).
pub fn config_definitions(class: ConnectorClass) -> Value {
    Value::Array(definitions(class).iter().map(definition_json).collect())
}

/// The validation response for `config`, of `class`.
pub fn validation_response(class: ConnectorClass, config: &BTreeMap<String, String>) -> Value {
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
    if let Err(found) = class.parse(&with_name) {
        for e in found {
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
    for definition in definitions(class) {
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
        "name": class.name(),
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTOR_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

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
        let response = validation_response(
            ConnectorClass::Postgres,
            &config(&[
                ("connector.class", CONNECTOR_CLASS),
                ("name", "v"),
                ("database.port", "five"),
                ("topic.prefix", "x"),
                ("database.password", "hunter2"),
            ]),
        );
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
        let response = validation_response(
            ConnectorClass::Postgres,
            &config(&[
                ("connector.class", CONNECTOR_CLASS),
                ("name", "v"),
                ("database.hostname", "db"),
                ("database.user", "u"),
                ("database.dbname", "d"),
                ("topic.prefix", "x"),
            ]),
        );
        assert_eq!(response["error_count"], 0);
        assert_eq!(value_of(&response, "slot.name")["value"], "debezium");
    }

    #[test]
    fn a_sink_configuration_is_checked_by_the_sinks_parser() {
        let response = validation_response(
            ConnectorClass::JdbcSink,
            &config(&[
                (
                    "connector.class",
                    "io.debezium.connector.jdbc.JdbcSinkConnector",
                ),
                ("name", "s"),
                ("topics", "a,b"),
                ("connection.url", "jdbc:postgresql://db/warehouse"),
                ("connection.username", "u"),
                ("connection.password", "hunter2"),
                ("insert.mode", "merge"),
            ]),
        );
        assert_eq!(
            response["name"],
            "io.debezium.connector.jdbc.JdbcSinkConnector"
        );
        assert_eq!(response["error_count"], 1, "{response}");
        let mode = value_of(&response, "insert.mode");
        assert!(mode["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("insert.mode") && e.contains("merge")));
        assert_eq!(
            value_of(&response, "connection.password")["value"],
            secrets::MASK
        );
        assert_eq!(value_of(&response, "batch.size")["value"], "500");
    }

    #[test]
    fn every_definition_is_well_formed() {
        for class in ConnectorClass::ALL {
            let definitions = config_definitions(class);
            let list = definitions.as_array().expect("a list");
            assert!(list.len() >= 3, "{class:?}");
            for definition in list {
                assert!(definition["name"].is_string(), "{definition}");
                assert!(definition["group"].is_string(), "{definition}");
            }
        }
    }
}
