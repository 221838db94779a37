//! The Avro specification's schema-resolution rules, case by case, each checked at
//! every compatibility level: `backward` says whether the new schema reads data
//! written with the old one, `forward` whether the old one reads the new one's data.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use super::avro;
use super::compatibility::{check, Level, Previous};

struct Case {
    name: &'static str,
    old: Value,
    new: Value,
    backward: bool,
    forward: bool,
    /// A field path or name the messages must mention when incompatible.
    mentions: &'static str,
}

fn rec(name: &str, fields: Value) -> Value {
    json!({"type": "record", "name": name, "namespace": "pgcdc.test", "fields": fields})
}

fn one(ty: Value) -> Value {
    rec("R", json!([{"name": "f", "type": ty}]))
}

fn decimal(precision: u64, scale: u64) -> Value {
    json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
}

fn enumeration(name: &str, symbols: &[&str], default: Option<&str>) -> Value {
    let mut e = json!({"type": "enum", "name": name, "symbols": symbols});
    if let Some(d) = default {
        e["default"] = json!(d);
    }
    e
}

fn linked_list(extra: Option<Value>) -> Value {
    let mut fields = vec![
        json!({"name": "value", "type": "int"}),
        json!({"name": "next", "type": ["null", "Node"], "default": null}),
    ];
    fields.extend(extra);
    rec("Node", Value::Array(fields))
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let c = |name, old, new, backward, forward, mentions| Case {
        name,
        old,
        new,
        backward,
        forward,
        mentions,
    };
    let id = json!({"name": "id", "type": "int"});
    let address = |extra: Option<Value>| {
        let mut fields = vec![json!({"name": "city", "type": "string"})];
        fields.extend(extra);
        rec("Address", Value::Array(fields))
    };
    vec![
        c(
            "identical records",
            rec("R", json!([id])),
            rec("R", json!([id])),
            true,
            true,
            "",
        ),
        c(
            "field added with a default",
            rec("R", json!([id])),
            rec(
                "R",
                json!([id, {"name": "email", "type": ["null", "string"], "default": null}]),
            ),
            true,
            true,
            "",
        ),
        c(
            "field added without a default",
            rec("R", json!([id])),
            rec("R", json!([id, {"name": "email", "type": "string"}])),
            false,
            true,
            "email",
        ),
        c(
            "field with a default removed",
            rec(
                "R",
                json!([id, {"name": "note", "type": "string", "default": ""}]),
            ),
            rec("R", json!([id])),
            true,
            true,
            "",
        ),
        c(
            "field without a default removed",
            rec("R", json!([id, {"name": "note", "type": "string"}])),
            rec("R", json!([id])),
            true,
            false,
            "note",
        ),
        c(
            "int promoted to long",
            one(json!("int")),
            one(json!("long")),
            true,
            false,
            "f",
        ),
        c(
            "long narrowed to int",
            one(json!("long")),
            one(json!("int")),
            false,
            true,
            "f",
        ),
        c(
            "int promoted to float",
            one(json!("int")),
            one(json!("float")),
            true,
            false,
            "f",
        ),
        c(
            "int promoted to double",
            one(json!("int")),
            one(json!("double")),
            true,
            false,
            "f",
        ),
        c(
            "long promoted to float",
            one(json!("long")),
            one(json!("float")),
            true,
            false,
            "f",
        ),
        c(
            "long promoted to double",
            one(json!("long")),
            one(json!("double")),
            true,
            false,
            "f",
        ),
        c(
            "float promoted to double",
            one(json!("float")),
            one(json!("double")),
            true,
            false,
            "f",
        ),
        c(
            "double narrowed to float",
            one(json!("double")),
            one(json!("float")),
            false,
            true,
            "f",
        ),
        c(
            "string read as bytes",
            one(json!("string")),
            one(json!("bytes")),
            true,
            true,
            "",
        ),
        c(
            "bytes read as string",
            one(json!("bytes")),
            one(json!("string")),
            true,
            true,
            "",
        ),
        c(
            "int changed to string",
            one(json!("int")),
            one(json!("string")),
            false,
            false,
            "f",
        ),
        c(
            "boolean changed to int",
            one(json!("boolean")),
            one(json!("int")),
            false,
            false,
            "f",
        ),
        c(
            "null widened to a union",
            one(json!("null")),
            one(json!(["null", "string"])),
            true,
            false,
            "f",
        ),
        c(
            "non-union read by a union",
            one(json!("string")),
            one(json!(["null", "string"])),
            true,
            false,
            "f",
        ),
        c(
            "union narrowed to one branch",
            one(json!(["null", "string"])),
            one(json!("string")),
            false,
            true,
            "f",
        ),
        c(
            "union gains a branch",
            one(json!(["null", "string"])),
            one(json!(["null", "string", "int"])),
            true,
            false,
            "f",
        ),
        c(
            "union branch promoted",
            one(json!(["null", "int"])),
            one(json!(["null", "long"])),
            true,
            false,
            "f",
        ),
        c(
            "union branches reordered",
            one(json!(["null", "string"])),
            one(json!(["string", "null"])),
            true,
            true,
            "",
        ),
        c(
            "union branch replaced",
            one(json!(["null", "string"])),
            one(json!(["null", "boolean"])),
            false,
            false,
            "f",
        ),
        c(
            "enum gains a symbol",
            one(enumeration("E", &["A", "B"], None)),
            one(enumeration("E", &["A", "B", "C"], None)),
            true,
            false,
            "f",
        ),
        c(
            "enum loses a symbol",
            one(enumeration("E", &["A", "B", "C"], None)),
            one(enumeration("E", &["A", "B"], None)),
            false,
            true,
            "f",
        ),
        c(
            "enum loses a symbol, reader has a default",
            one(enumeration("E", &["A", "B", "C"], None)),
            one(enumeration("E", &["A", "B"], Some("A"))),
            true,
            true,
            "",
        ),
        c(
            "enum symbols swapped, both have defaults",
            one(enumeration("E", &["A", "B", "C"], Some("A"))),
            one(enumeration("E", &["A", "B", "D"], Some("A"))),
            true,
            true,
            "",
        ),
        c(
            "enum symbols swapped, only the old has a default",
            one(enumeration("E", &["A", "B", "C"], Some("A"))),
            one(enumeration("E", &["A", "B", "D"], None)),
            false,
            true,
            "f",
        ),
        c(
            "enum renamed",
            one(enumeration("E", &["A"], None)),
            one(enumeration("F", &["A"], None)),
            false,
            false,
            "f",
        ),
        c(
            "fixed unchanged",
            one(json!({"type": "fixed", "name": "H", "size": 16})),
            one(json!({"type": "fixed", "name": "H", "size": 16})),
            true,
            true,
            "",
        ),
        c(
            "fixed size changed",
            one(json!({"type": "fixed", "name": "H", "size": 16})),
            one(json!({"type": "fixed", "name": "H", "size": 8})),
            false,
            false,
            "f",
        ),
        c(
            "fixed renamed",
            one(json!({"type": "fixed", "name": "H", "size": 16})),
            one(json!({"type": "fixed", "name": "G", "size": 16})),
            false,
            false,
            "f",
        ),
        c(
            "fixed changed to bytes",
            one(json!({"type": "fixed", "name": "H", "size": 16})),
            one(json!("bytes")),
            false,
            false,
            "f",
        ),
        c(
            "record renamed without an alias",
            rec("R", json!([id])),
            rec("S", json!([id])),
            false,
            false,
            "S",
        ),
        c(
            "record renamed, new aliases the old name",
            rec("R", json!([id])),
            json!({"type": "record", "name": "S", "namespace": "pgcdc.test", "aliases": ["R"], "fields": [id]}),
            true,
            false,
            "S",
        ),
        c(
            "namespace changed, same name",
            rec("R", json!([id])),
            json!({"type": "record", "name": "R", "namespace": "other", "fields": [id]}),
            true,
            true,
            "",
        ),
        c(
            "field renamed, new aliases the old name",
            rec("R", json!([{"name": "name", "type": "string"}])),
            rec(
                "R",
                json!([{"name": "full_name", "aliases": ["name"], "type": "string"}]),
            ),
            true,
            false,
            "name",
        ),
        c(
            "field renamed without an alias",
            rec("R", json!([{"name": "name", "type": "string"}])),
            rec("R", json!([{"name": "full_name", "type": "string"}])),
            false,
            false,
            "name",
        ),
        c(
            "nested record gains a required field",
            rec("R", json!([{"name": "address", "type": address(None)}])),
            rec(
                "R",
                json!([{"name": "address", "type": address(Some(json!({"name": "zip", "type": "string"})))}]),
            ),
            false,
            true,
            "address.zip",
        ),
        c(
            "nested record gains an optional field",
            rec("R", json!([{"name": "address", "type": address(None)}])),
            rec(
                "R",
                json!([{"name": "address", "type": address(Some(json!({"name": "zip", "type": ["null", "string"], "default": null})))}]),
            ),
            true,
            true,
            "",
        ),
        c(
            "nested field promoted",
            rec(
                "R",
                json!([{"name": "address", "type": rec("A", json!([{"name": "n", "type": "int"}]))}]),
            ),
            rec(
                "R",
                json!([{"name": "address", "type": rec("A", json!([{"name": "n", "type": "long"}]))}]),
            ),
            true,
            false,
            "address.n",
        ),
        c(
            "array items promoted",
            one(json!({"type": "array", "items": "int"})),
            one(json!({"type": "array", "items": "long"})),
            true,
            false,
            "f",
        ),
        c(
            "array items changed",
            one(json!({"type": "array", "items": "string"})),
            one(json!({"type": "array", "items": "int"})),
            false,
            false,
            "f",
        ),
        c(
            "map values promoted",
            one(json!({"type": "map", "values": "int"})),
            one(json!({"type": "map", "values": "long"})),
            true,
            false,
            "f",
        ),
        c(
            "map changed to array",
            one(json!({"type": "map", "values": "int"})),
            one(json!({"type": "array", "items": "int"})),
            false,
            false,
            "f",
        ),
        c(
            "array of records gains an optional field",
            one(json!({"type": "array", "items": rec("I", json!([id]))})),
            one(
                json!({"type": "array", "items": rec("I", json!([id, {"name": "q", "type": "int", "default": 0}]))}),
            ),
            true,
            true,
            "",
        ),
        c(
            "map of records gains a required field",
            one(json!({"type": "map", "values": rec("I", json!([id]))})),
            one(
                json!({"type": "map", "values": rec("I", json!([id, {"name": "q", "type": "int"}]))}),
            ),
            false,
            true,
            "f.q",
        ),
        c(
            "decimal unchanged",
            one(decimal(10, 2)),
            one(decimal(10, 2)),
            true,
            true,
            "",
        ),
        c(
            "decimal precision widened",
            one(decimal(10, 2)),
            one(decimal(12, 2)),
            true,
            false,
            "f",
        ),
        c(
            "decimal scale changed",
            one(decimal(10, 2)),
            one(decimal(10, 3)),
            false,
            false,
            "f",
        ),
        c(
            "bytes gains a decimal logical type",
            one(json!("bytes")),
            one(decimal(10, 2)),
            true,
            true,
            "",
        ),
        c(
            "fixed decimal unchanged",
            one(
                json!({"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}),
            ),
            one(
                json!({"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}),
            ),
            true,
            true,
            "",
        ),
        c(
            "int date read as long",
            one(json!({"type": "int", "logicalType": "date"})),
            one(json!("long")),
            true,
            false,
            "f",
        ),
        c(
            "recursive record unchanged",
            linked_list(None),
            linked_list(None),
            true,
            true,
            "",
        ),
        c(
            "recursive record gains an optional field",
            linked_list(None),
            linked_list(Some(
                json!({"name": "label", "type": "string", "default": ""}),
            )),
            true,
            true,
            "",
        ),
        c(
            "recursive record gains a required field",
            linked_list(None),
            linked_list(Some(json!({"name": "label", "type": "string"}))),
            false,
            true,
            "label",
        ),
        c(
            "top-level int promoted to long",
            json!("int"),
            json!("long"),
            true,
            false,
            "",
        ),
        c(
            "top-level string to record",
            json!("string"),
            rec("R", json!([id])),
            false,
            false,
            "",
        ),
        c(
            "field becomes optional",
            one(rec("In", json!([id]))),
            one(json!(["null", rec("In", json!([id]))])),
            true,
            false,
            "f",
        ),
        c(
            "optional record gains an optional field",
            one(json!(["null", rec("In", json!([id]))])),
            one(json!([
                "null",
                rec(
                    "In",
                    json!([id, {"name": "x", "type": "int", "default": 1}])
                )
            ])),
            true,
            true,
            "",
        ),
        c(
            "int field becomes a record",
            one(json!("int")),
            one(rec("In", json!([id]))),
            false,
            false,
            "f",
        ),
        c(
            "Debezium envelope gains an optional column",
            debezium_value(&[("id", json!("int"))]),
            debezium_value(&[("id", json!("int")), ("note", json!(["null", "string"]))]),
            true,
            true,
            "",
        ),
        c(
            "Debezium envelope column changes type",
            debezium_value(&[("id", json!("int"))]),
            debezium_value(&[("id", json!("string"))]),
            false,
            false,
            "before",
        ),
    ]
}

/// A Debezium-shaped value schema: `before`/`after` optional rows, `op`, `ts_ms`.
fn debezium_value(columns: &[(&str, Value)]) -> Value {
    let row = rec(
        "Value",
        Value::Array(
            columns
                .iter()
                .map(|(name, ty)| {
                    if ty.is_array() {
                        json!({"name": name, "type": ty, "default": null})
                    } else {
                        json!({"name": name, "type": ty})
                    }
                })
                .collect(),
        ),
    );
    json!({
        "type": "record", "name": "Envelope", "namespace": "shop.public.orders",
        "fields": [
            {"name": "before", "type": ["null", row], "default": null},
            {"name": "after", "type": ["null", "pgcdc.test.Value"], "default": null},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": null}
        ],
        "connect.name": "shop.public.orders.Envelope"
    })
}

fn parsed(schema: &Value) -> avro::AvroSchema {
    avro::parse(&schema.to_string(), &[]).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn expected(level: Level, backward: bool, forward: bool) -> bool {
    match level {
        Level::None => true,
        Level::Backward | Level::BackwardTransitive => backward,
        Level::Forward | Level::ForwardTransitive => forward,
        Level::Full | Level::FullTransitive => backward && forward,
    }
}

#[test]
fn resolution_rules_at_every_level() {
    let cases = cases();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for case in &cases {
        let (old, new) = (parsed(&case.old), parsed(&case.new));
        let previous = [Previous {
            version: 1,
            canonical: &old.canonical,
            parsed: &old.parsed,
        }];
        for level in Level::ALL {
            let messages = check(level, &new.parsed, &previous);
            let want = expected(level, case.backward, case.forward);
            if messages.is_empty() != want {
                failures.push(format!(
                    "{} at {level}: expected compatible={want}, messages {messages:?}",
                    case.name
                ));
            } else if !want {
                let text = messages.join(" ");
                if !text.contains(case.mentions) || !text.contains(level.as_str()) {
                    failures.push(format!(
                        "{} at {level}: messages do not name '{}': {text}",
                        case.name, case.mentions
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn transitive_levels_check_every_version() {
    let id = json!({"name": "id", "type": "int"});
    // BACKWARD_TRANSITIVE: v3 reads v2 (which has `email`) but not v1 (which lacks it).
    let v1 = parsed(&rec("R", json!([id])));
    let v2 = parsed(&rec(
        "R",
        json!([id, {"name": "email", "type": "string", "default": ""}]),
    ));
    let v3 = parsed(&rec("R", json!([id, {"name": "email", "type": "string"}])));
    let previous = [
        Previous {
            version: 1,
            canonical: &v1.canonical,
            parsed: &v1.parsed,
        },
        Previous {
            version: 2,
            canonical: &v2.canonical,
            parsed: &v2.parsed,
        },
    ];
    let compatible = |level| check(level, &v3.parsed, &previous).is_empty();
    assert!(compatible(Level::Backward));
    assert!(!compatible(Level::BackwardTransitive));
    assert!(compatible(Level::Forward));
    assert!(compatible(Level::ForwardTransitive));
    assert!(compatible(Level::Full));
    assert!(!compatible(Level::FullTransitive));
    let messages = check(Level::BackwardTransitive, &v3.parsed, &previous);
    assert!(
        messages.iter().any(|m| m == "{oldSchemaVersion: 1}"),
        "{messages:?}"
    );

    // FORWARD_TRANSITIVE: v1 (which requires `a`) cannot read v3 (which dropped it).
    let v1 = parsed(&rec("R", json!([id, {"name": "a", "type": "string"}])));
    let v2 = parsed(&rec(
        "R",
        json!([id, {"name": "a", "type": "string", "default": "x"}]),
    ));
    let v3 = parsed(&rec("R", json!([id])));
    let previous = [
        Previous {
            version: 1,
            canonical: &v1.canonical,
            parsed: &v1.parsed,
        },
        Previous {
            version: 2,
            canonical: &v2.canonical,
            parsed: &v2.parsed,
        },
    ];
    let compatible = |level| check(level, &v3.parsed, &previous).is_empty();
    assert!(compatible(Level::Forward));
    assert!(!compatible(Level::ForwardTransitive));
    assert!(compatible(Level::BackwardTransitive));
    assert!(!compatible(Level::FullTransitive));
    assert!(compatible(Level::None));
}

/// Unions of differently named records nested in each other: every branch pair is
/// tried, so without memoization the work grows as (branches²)^depth.
#[test]
fn nested_unions_of_records_are_checked_quickly() {
    fn nest(depth: usize, tag: &str) -> Value {
        let branches: Vec<Value> = (0..8)
            .map(|i| {
                let fields = if depth == 0 {
                    json!([{"name": "leaf", "type": "int"}])
                } else {
                    json!([{"name": "inner", "type": nest(depth - 1, &format!("{tag}_{i}"))}])
                };
                json!({"type": "record", "name": format!("R{tag}_{i}"), "fields": fields})
            })
            .collect();
        Value::Array(branches)
    }
    let schema = parsed(&rec("Top", json!([{"name": "u", "type": nest(3, "x")}])));
    let started = std::time::Instant::now();
    for level in Level::ALL {
        assert!(check(
            level,
            &schema.parsed,
            &[Previous {
                version: 1,
                canonical: &schema.canonical,
                parsed: &schema.parsed
            }]
        )
        .is_empty());
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn nothing_to_check_against_is_compatible() {
    let schema = parsed(&json!("int"));
    for level in Level::ALL {
        assert!(check(level, &schema.parsed, &[]).is_empty());
    }
}

#[test]
fn levels_parse_case_insensitively() {
    for level in Level::ALL {
        assert_eq!(
            level.as_str().to_lowercase().parse::<Level>().unwrap(),
            level
        );
    }
    assert_eq!("SIDEWAYS".parse::<Level>().unwrap_err().error_code(), 42203);
}
