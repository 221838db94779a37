//! Avro schema text → [`AvroSchema`], for schemas fetched from a registry (the
//! decoder's side). Names resolve as the Avro specification says: a name with a dot
//! is full, otherwise it is looked up in the enclosing namespace first; a named type
//! may be used only after (or inside) its definition. Properties are kept, in
//! `serde_json`'s key order (Avro attaches no meaning to their order).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::props::Json;
use super::schema::{AvroField, AvroKind, AvroSchema, Name};
use super::AvroError;

/// Parses Avro schema text.
pub fn parse_schema(text: &str) -> Result<AvroSchema, AvroError> {
    let json: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut parser = Parser {
        defined: HashSet::new(),
    };
    parser.parse(&json, None)
}

fn invalid(reason: impl Into<String>) -> AvroError {
    AvroError::InvalidAvroSchema {
        reason: reason.into(),
    }
}

struct Parser {
    defined: HashSet<String>,
}

impl Parser {
    fn parse(&mut self, json: &Value, namespace: Option<&str>) -> Result<AvroSchema, AvroError> {
        match json {
            Value::String(name) => self.named_or_primitive(name, namespace, Vec::new()),
            Value::Array(branches) => {
                let branches = branches
                    .iter()
                    .map(|b| self.parse(b, namespace))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut seen = HashSet::new();
                for branch in &branches {
                    if matches!(branch.kind, AvroKind::Union(_)) {
                        return Err(invalid("a union directly inside a union"));
                    }
                    if !seen.insert(branch.branch_name()) {
                        return Err(invalid(format!(
                            "duplicate {} in union",
                            branch.branch_name()
                        )));
                    }
                }
                Ok(AvroKind::Union(branches).into())
            }
            Value::Object(object) => self.object(object, namespace),
            other => Err(invalid(format!("{other} is not a schema"))),
        }
    }

    fn named_or_primitive(
        &mut self,
        name: &str,
        namespace: Option<&str>,
        props: Vec<(String, Json)>,
    ) -> Result<AvroSchema, AvroError> {
        let kind = match name {
            "null" => AvroKind::Null,
            "boolean" => AvroKind::Boolean,
            "int" => AvroKind::Int,
            "long" => AvroKind::Long,
            "float" => AvroKind::Float,
            "double" => AvroKind::Double,
            "bytes" => AvroKind::Bytes,
            "string" => AvroKind::String,
            reference => {
                let in_namespace = match namespace {
                    Some(ns) if !reference.contains('.') => format!("{ns}.{reference}"),
                    _ => reference.to_owned(),
                };
                let full = if self.defined.contains(&in_namespace) {
                    in_namespace
                } else if self.defined.contains(reference) {
                    reference.to_owned()
                } else {
                    return Err(invalid(format!("unknown type {reference}")));
                };
                return Ok(AvroKind::Ref(Name::parse(&full)).into());
            }
        };
        Ok(AvroSchema { kind, props })
    }

    fn object(
        &mut self,
        object: &Map<String, Value>,
        namespace: Option<&str>,
    ) -> Result<AvroSchema, AvroError> {
        let Some(type_json) = object.get("type") else {
            return Err(invalid("a schema object without \"type\""));
        };
        let type_name = match type_json {
            Value::String(t) => t.as_str(),
            nested => return self.parse(nested, namespace),
        };
        let reserved: &[&str] = match type_name {
            "record" | "error" => &["type", "name", "namespace", "doc", "fields", "aliases"],
            "enum" => &[
                "type",
                "name",
                "namespace",
                "doc",
                "symbols",
                "default",
                "aliases",
            ],
            "fixed" => &["type", "name", "namespace", "doc", "size", "aliases"],
            "array" => &["type", "items"],
            "map" => &["type", "values"],
            _ => &["type"],
        };
        let props: Vec<(String, Json)> = object
            .iter()
            .filter(|(k, _)| !reserved.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), Json::from_serde(v)))
            .collect();
        let kind = match type_name {
            "array" => {
                let items = object
                    .get("items")
                    .ok_or_else(|| invalid("array without items"))?;
                AvroKind::Array(Box::new(self.parse(items, namespace)?))
            }
            "map" => {
                let values = object
                    .get("values")
                    .ok_or_else(|| invalid("map without values"))?;
                AvroKind::Map(Box::new(self.parse(values, namespace)?))
            }
            "record" | "error" | "enum" | "fixed" => {
                let name = self.define(object, namespace)?;
                let doc = text(object, "doc")?;
                let aliases = strings(object, "aliases")?;
                match type_name {
                    "enum" => AvroKind::Enum {
                        name,
                        doc,
                        symbols: strings(object, "symbols")?,
                        default: text(object, "default")?,
                        aliases,
                    },
                    "fixed" => {
                        let size = object
                            .get("size")
                            .and_then(Value::as_u64)
                            .and_then(|s| usize::try_from(s).ok())
                            .ok_or_else(|| {
                                invalid(format!("fixed {} without a size", name.full_name()))
                            })?;
                        AvroKind::Fixed {
                            name,
                            doc,
                            size,
                            aliases,
                        }
                    }
                    _ => {
                        let fields_json = object
                            .get("fields")
                            .and_then(Value::as_array)
                            .ok_or_else(|| {
                                invalid(format!("record {} without fields", name.full_name()))
                            })?;
                        let mut fields = Vec::with_capacity(fields_json.len());
                        for field in fields_json {
                            fields.push(self.field(field, name.namespace.as_deref())?);
                        }
                        AvroKind::Record {
                            name,
                            doc,
                            fields,
                            aliases,
                        }
                    }
                }
            }
            other => return self.named_or_primitive(other, namespace, props),
        };
        Ok(AvroSchema { kind, props })
    }

    fn define(
        &mut self,
        object: &Map<String, Value>,
        namespace: Option<&str>,
    ) -> Result<Name, AvroError> {
        let given = text(object, "name")?.ok_or_else(|| invalid("a named type without a name"))?;
        let name = if given.contains('.') {
            Name::parse(&given)
        } else {
            let own = text(object, "namespace")?;
            Name::new(given, own.or_else(|| namespace.map(str::to_owned)))
        };
        if !self.defined.insert(name.full_name()) {
            return Err(invalid(format!("{} is defined twice", name.full_name())));
        }
        Ok(name)
    }

    fn field(&mut self, json: &Value, namespace: Option<&str>) -> Result<AvroField, AvroError> {
        let object = json
            .as_object()
            .ok_or_else(|| invalid("a field that is not an object"))?;
        let name = text(object, "name")?.ok_or_else(|| invalid("a field without a name"))?;
        let schema_json = object
            .get("type")
            .ok_or_else(|| invalid(format!("field {name} without a type")))?;
        let schema = self.parse(schema_json, namespace)?;
        let reserved = ["name", "type", "doc", "default", "order", "aliases"];
        Ok(AvroField {
            doc: text(object, "doc")?,
            default: object.get("default").map(Json::from_serde),
            order: text(object, "order")?,
            aliases: strings(object, "aliases")?,
            props: object
                .iter()
                .filter(|(k, _)| !reserved.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), Json::from_serde(v)))
                .collect(),
            name,
            schema,
        })
    }
}

fn text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, AvroError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!("\"{key}\" is {other}, not a string"))),
    }
}

fn strings(object: &Map<String, Value>, key: &str) -> Result<Vec<String>, AvroError> {
    match object.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("\"{key}\" holds {item}, not a string")))
            })
            .collect(),
        Some(other) => Err(invalid(format!("\"{key}\" is {other}, not an array"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let text = concat!(
            r#"{"type":"record","name":"Envelope","namespace":"a.b","fields":["#,
            r#"{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"x","type":{"type":"int","connect.type":"int16"}}]}],"default":null},"#,
            r#"{"name":"after","type":["null","Value"],"default":null},"#,
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},"#,
            r#"{"name":"f","type":{"type":"fixed","name":"F","namespace":"","size":3}},"#,
            r#"{"name":"m","type":{"type":"map","values":{"type":"array","items":"E"}}}],"#,
            r#""connect.name":"a.b.Envelope"}"#
        );
        let schema = parse_schema(text).expect("parses");
        assert_eq!(schema.to_text(), text);
        // A full name in the same namespace is the same reference.
        let full = text.replace(r#""items":"E""#, r#""items":"a.b.E""#);
        assert_eq!(parse_schema(&full).expect("parses"), schema);
    }

    #[test]
    fn refuses_invalid_schemas() {
        for bad in [
            "",
            "42",
            r#""Unknown""#,
            r#"["int","int"]"#,
            r#"["int",["null"]]"#,
            r#"{"type":"array"}"#,
            r#"{"type":"fixed","name":"F"}"#,
            r#"{"type":"record","name":"R"}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"R"},{"name":"b","type":{"type":"record","name":"R","fields":[]}}]}"#,
            r#"{"type":"enum","name":"E","symbols":[1]}"#,
        ] {
            assert!(parse_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recursive_records_are_references() {
        let schema = parse_schema(
            r#"{"type":"record","name":"List","fields":[{"name":"next","type":["null","List"]}]}"#,
        )
        .expect("parses");
        let AvroKind::Record { fields, .. } = &schema.kind else {
            panic!("record");
        };
        assert_eq!(
            fields[0].schema,
            AvroKind::Union(vec![
                AvroSchema::null(),
                AvroKind::Ref(Name::new("List", None)).into()
            ])
            .into()
        );
    }
}
