//! `worker/openapi.yaml` describes exactly the routes the router is built from
//! (`rest::routes()`): every route is an operation of the description and every
//! operation is a route, each operation declares the path parameters its template
//! has, and every error response is Connect's `{"error_code", "message"}`.
//! (tests/tests/worker_openapi.rs checks the description against a live worker.)

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn description() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("worker/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// The node a local `$ref` points to, followed until it is not a reference.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("only local references: {reference}"));
        node = pointer.split('/').fold(root, |n, key| {
            n.get(key)
                .unwrap_or_else(|| panic!("{reference} points to nothing"))
        });
    }
    node
}

fn operations(root: &Value) -> Vec<(String, String, &Value, &Value)> {
    let paths = root["paths"].as_mapping().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().expect("a path is a string").to_owned();
        for (key, operation) in item.as_mapping().expect("a path item is a mapping") {
            let key = key.as_str().expect("a key is a string");
            if METHODS.contains(&key) {
                out.push((key.to_ascii_uppercase(), path.clone(), item, operation));
            }
        }
    }
    out
}

#[test]
fn the_description_lists_exactly_the_served_routes() {
    let root = description();
    let described: BTreeSet<(String, String)> = operations(&root)
        .into_iter()
        .map(|(method, path, _, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> = pgcdc_worker::rest::routes()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect();
    let undescribed: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty() && unserved.is_empty(),
        "served but not in openapi.yaml: {undescribed:?}\nin openapi.yaml but not served: {unserved:?}"
    );
    assert!(served.len() >= 20, "{served:?}");
}

#[test]
fn every_operation_declares_its_path_parameters_and_connects_error_bodies() {
    let root = description();
    let error_schema = &root["components"]["schemas"]["Error"];
    assert_eq!(
        error_schema["required"],
        serde_yaml_ng::from_str::<Value>("[error_code, message]").unwrap()
    );
    let mut ids = BTreeSet::new();
    for (method, path, item, operation) in operations(&root) {
        let label = format!("{method} {path}");
        let id = operation["operationId"].as_str();
        assert!(
            id.is_some_and(|id| ids.insert(id.to_owned())),
            "{label}: a missing or repeated operationId"
        );
        let template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let declared: BTreeSet<&str> = [&item["parameters"], &operation["parameters"]]
            .into_iter()
            .filter_map(Value::as_sequence)
            .flatten()
            .map(|p| resolve(&root, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"],
                    Value::Bool(true),
                    "{label}: path parameters are required"
                );
                p["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(template, declared, "{label}: path parameters");

        let responses = operation["responses"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{label}: no responses"));
        assert!(!responses.is_empty(), "{label}: no responses");
        for (status, response) in responses {
            let status = status
                .as_str()
                .unwrap_or_else(|| panic!("{label}: quote status codes"));
            let code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{label}: {status}"));
            let response = resolve(&root, response);
            if code >= 400 {
                let schema = resolve(&root, &response["content"]["application/json"]["schema"]);
                assert_eq!(schema, error_schema, "{label} {status}: not the error body");
            }
            if code == 204 {
                assert!(
                    response.get("content").is_none(),
                    "{label}: 204 has no body"
                );
            }
        }
        if path != "/health" {
            assert!(
                responses.contains_key("401"),
                "{label}: authentication can answer 401"
            );
        }
    }
}
