//! Properties of the registry's pure core over generated input: parsing outside
//! bytes never panics, canonical text is a fixed point, every valid schema is
//! compatible with itself at every level, and checking any two schemas never panics.
#![allow(clippy::unwrap_used)]

use pgcdc_schemas::registry::avro;
use pgcdc_schemas::registry::compatibility::{check, Level, Previous};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The shape of a schema; names are given when it is turned into JSON.
#[derive(Debug, Clone)]
enum Shape {
    Primitive(&'static str),
    Decimal(u8, u8),
    Array(Box<Shape>),
    Map(Box<Shape>),
    Optional(Box<Shape>),
    Enum(Vec<u8>, bool),
    Fixed(u8),
    Record(Vec<(u8, Shape, bool)>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "null", "boolean", "int", "long", "float", "double", "bytes", "string"
        ])
        .prop_map(Shape::Primitive),
        (1u8..30, 0u8..30).prop_map(|(p, s)| Shape::Decimal(p, s.min(p))),
        (prop::collection::btree_set(0u8..6, 1..4), any::<bool>())
            .prop_map(|(s, d)| Shape::Enum(s.into_iter().collect(), d)),
        (1u8..20).prop_map(Shape::Fixed),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Shape::Array(Box::new(s))),
            inner.clone().prop_map(|s| Shape::Map(Box::new(s))),
            inner.clone().prop_map(|s| Shape::Optional(Box::new(s))),
            prop::collection::vec((0u8..8, inner, any::<bool>()), 0..4).prop_map(|fields| {
                let mut seen = std::collections::HashSet::new();
                Shape::Record(
                    fields
                        .into_iter()
                        .filter(|(n, _, _)| seen.insert(*n))
                        .collect(),
                )
            }),
        ]
    })
}

fn to_json(shape: &Shape, counter: &mut u32) -> Value {
    let mut name = |prefix: &str| {
        *counter += 1;
        format!("{prefix}{counter}")
    };
    match shape {
        Shape::Primitive(p) => json!(p),
        Shape::Decimal(p, s) => {
            json!({"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s})
        }
        Shape::Array(items) => json!({"type": "array", "items": to_json(items, counter)}),
        Shape::Map(values) => json!({"type": "map", "values": to_json(values, counter)}),
        Shape::Optional(inner) => match to_json(inner, counter) {
            // A union may not hold a union or a second null.
            Value::String(s) if s == "null" => json!("null"),
            Value::Array(branches) => Value::Array(branches),
            other => json!(["null", other]),
        },
        Shape::Enum(symbols, default) => {
            let symbols: Vec<String> = symbols.iter().map(|s| format!("S{s}")).collect();
            let mut e = json!({"type": "enum", "name": name("E"), "symbols": symbols});
            if *default {
                e["default"] = json!(symbols[0]);
            }
            e
        }
        Shape::Fixed(size) => json!({"type": "fixed", "name": name("F"), "size": size}),
        Shape::Record(fields) => {
            let record_name = name("R");
            let fields: Vec<Value> = fields
                .iter()
                .map(|(n, s, _)| json!({"name": format!("f{n}"), "type": to_json(s, counter)}))
                .collect();
            json!({"type": "record", "name": record_name, "namespace": "gen", "fields": fields})
        }
    }
}

fn previous(schema: &avro::AvroSchema) -> [Previous<'_>; 1] {
    [Previous {
        version: 1,
        canonical: &schema.canonical,
        parsed: &schema.parsed,
    }]
}

/// Schema-shaped JSON whose names, namespaces, aliases, symbols and type references
/// are arbitrary strings.
fn odd_schema() -> impl Strategy<Value = Value> {
    let name = "[a-zA-Zé_0-9. -]{0,6}";
    let leaf = prop_oneof![
        name.prop_map(Value::String),
        (name, name, prop::collection::vec(name, 0..2)).prop_map(|(n, ns, aliases)| {
            json!({"type": "fixed", "name": n, "namespace": ns, "aliases": aliases, "size": 4})
        }),
        (name, prop::collection::vec(name, 0..3), name).prop_map(|(n, symbols, default)| {
            json!({"type": "enum", "name": n, "symbols": symbols, "default": default})
        }),
        (name, 0i64..40, -2i64..40).prop_map(|(t, p, s)| {
            json!({"type": t, "logicalType": "decimal", "precision": p, "scale": s})
        }),
    ];
    leaf.prop_recursive(3, 16, 3, move |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|i| json!({"type": "array", "items": i})),
            inner
                .clone()
                .prop_map(|i| json!({"type": "map", "values": i})),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            (name, prop::collection::vec((name, inner, name), 0..3)).prop_map(|(n, fields)| {
                let fields: Vec<Value> = fields
                    .into_iter()
                    .map(|(f, t, alias)| json!({"name": f, "type": t, "aliases": [alias]}))
                    .collect();
                json!({"type": "record", "name": n, "fields": fields})
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn registry_parse_never_panics_on_arbitrary_text(text in ".{0,200}") {
        let _ = avro::parse(&text, &[]);
    }

    #[test]
    fn registry_parse_never_panics_on_json_like_text(
        text in r#"[\[\]{}",:0-9a-z ]{0,120}"#,
    ) {
        let _ = avro::parse(&text, &[]);
    }

    #[test]
    fn registry_parse_never_panics_on_odd_names(schema in odd_schema()) {
        let result = std::panic::catch_unwind(|| avro::parse(&schema.to_string(), &[]));
        prop_assert!(result.is_ok(), "panicked on {}", schema);
        if let Ok(Ok(parsed)) = result {
            for level in Level::ALL {
                let _ = check(level, &parsed.parsed, &previous(&parsed));
            }
        }
    }

    #[test]
    fn registry_valid_schemas_are_self_compatible_and_canonical_is_a_fixed_point(s in shape()) {
        let value = to_json(&s, &mut 0);
        let schema = avro::parse(&value.to_string(), &[]).unwrap();
        let again = avro::parse(&schema.canonical, &[]).unwrap();
        prop_assert_eq!(&again.canonical, &schema.canonical);
        for level in Level::ALL {
            let messages = check(level, &schema.parsed, &previous(&schema));
            prop_assert!(messages.is_empty(), "{} at {}: {:?}", value, level, messages);
        }
    }

    #[test]
    fn registry_checking_any_two_schemas_never_panics(a in shape(), b in shape()) {
        let a = avro::parse(&to_json(&a, &mut 0).to_string(), &[]).unwrap();
        let b = avro::parse(&to_json(&b, &mut 0).to_string(), &[]).unwrap();
        for level in Level::ALL {
            let forward = check(level, &a.parsed, &previous(&b));
            let backward = check(level, &b.parsed, &previous(&a));
            // FULL is exactly BACKWARD and FORWARD.
            if level == Level::Full {
                let backward_only = check(Level::Backward, &a.parsed, &previous(&b)).is_empty();
                let forward_only = check(Level::Forward, &a.parsed, &previous(&b)).is_empty();
                prop_assert_eq!(forward.is_empty(), backward_only && forward_only);
            }
            let _ = backward;
        }
    }
}
