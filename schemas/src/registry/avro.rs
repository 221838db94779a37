//! Avro schemas as the registry sees them: validated with `apache-avro`, stored as a
//! canonical text (so that the same schema registered twice, whatever its spacing or
//! key order, gets the same id), and parsed into a small model of what matters to
//! schema resolution (names, aliases, fields and defaults, symbols, sizes, decimals).
//!
//! The canonical text keeps everything the writer said (docs, defaults, aliases and
//! custom properties such as Debezium's `connect.name`), unlike Avro's Parsing
//! Canonical Form, which drops them: two schemas that differ only in a default are
//! different schemas to a reader, and must get different ids. Keys are written in the
//! order Avro's Java `Schema.toString()` uses for the ones it knows, then the others
//! sorted, and `{"type":"int"}` collapses to `"int"`, as Confluent's stored text does.

use serde_json::{Map, Value};

use super::error::RegistryError;

/// A validated Avro schema: its canonical text and its resolution model.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    pub canonical: String,
    pub parsed: Parsed,
}

/// Validates `text` (which may name types defined in `references`, each a schema
/// text) and returns its canonical form and model.
pub fn parse(text: &str, references: &[String]) -> Result<AvroSchema, RegistryError> {
    let invalid = |reason: String| RegistryError::InvalidSchema { reason };
    if text.trim().is_empty() {
        return Err(invalid("empty schema".into()));
    }
    let json: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    // apache-avro 0.21 panics (unwraps) on some invalid names instead of returning an
    // error, so names are checked first, and a panic that still escapes is caught.
    check_names(&json)?;
    // apache-avro is the judge of validity (names, defaults, duplicate fields, ...),
    // except for the defaults it misjudges, which are checked here and hidden from it.
    let mut judged = json.clone();
    check_logical_byte_defaults(&mut judged)?;
    let validated = std::panic::catch_unwind(|| {
        if references.is_empty() {
            apache_avro::Schema::parse(&judged).map(drop)
        } else {
            apache_avro::Schema::parse_str_with_list(&judged.to_string(), references).map(drop)
        }
    })
    .map_err(|_| invalid("the Avro parser rejected this schema".to_owned()))?;
    validated.map_err(|e| invalid(e.to_string()))?;

    let mut model = ModelBuilder::default();
    for reference in references {
        let value: Value =
            serde_json::from_str(reference).map_err(|e| invalid(format!("reference: {e}")))?;
        model.ty(&value, "")?;
    }
    let root = model.ty(&json, "")?;
    Ok(AvroSchema {
        canonical: canonical_text(&json),
        parsed: Parsed {
            root,
            named: model.named,
        },
    })
}

/// apache-avro 0.21 refuses the default of a field whose type (or, in a union, first
/// branch) is `bytes` or `fixed` with a logical type — Connect's decimals — although
/// the specification makes it a JSON string of code points 0-255, as for any bytes
/// (Confluent's AvroData writes `"default": "\u0000\u0096"` for a column
/// `numeric(5,2) DEFAULT 1.50`). Such defaults are checked here by that rule and
/// removed from the copy apache-avro judges; the stored schema keeps them.
fn check_logical_byte_defaults(value: &mut Value) -> Result<(), RegistryError> {
    match value {
        Value::Array(branches) => branches
            .iter_mut()
            .try_for_each(check_logical_byte_defaults),
        Value::Object(object) => {
            if let Some(Value::Array(fields)) = object.get_mut("fields") {
                for field in fields.iter_mut().filter_map(Value::as_object_mut) {
                    let size = field.get("type").and_then(logical_bytes_size);
                    if let (Some(size), Some(default)) = (size, field.get("default")) {
                        let name = field.get("name").and_then(Value::as_str).unwrap_or("?");
                        check_bytes_default(name, default, size)?;
                        field.remove("default");
                    }
                    if let Some(inner) = field.get_mut("type") {
                        check_logical_byte_defaults(inner)?;
                    }
                }
            }
            for key in ["type", "items", "values"] {
                if let Some(inner) = object.get_mut(key) {
                    check_logical_byte_defaults(inner)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// For a type whose default must be a bytes string and that carries a logical type:
/// `Some(None)` for bytes, `Some(Some(size))` for fixed.
fn logical_bytes_size(ty: &Value) -> Option<Option<usize>> {
    let first = match ty {
        Value::Array(branches) => branches.first()?,
        other => other,
    };
    let object = first.as_object()?;
    object.get("logicalType")?;
    match object.get("type")?.as_str()? {
        "bytes" => Some(None),
        "fixed" => Some(Some(usize::try_from(object.get("size")?.as_u64()?).ok()?)),
        _ => None,
    }
}

fn check_bytes_default(
    field: &str,
    default: &Value,
    size: Option<usize>,
) -> Result<(), RegistryError> {
    let invalid = |why: String| RegistryError::InvalidSchema {
        reason: format!("invalid default for field '{field}': {why}"),
    };
    let text = default
        .as_str()
        .ok_or_else(|| invalid(format!("{default} is not a string of bytes")))?;
    if text.chars().any(|c| u32::from(c) > 0xff) {
        return Err(invalid(
            "a bytes default holds code points 0-255 only".into(),
        ));
    }
    match size {
        Some(size) if text.chars().count() != size => Err(invalid(format!(
            "{} bytes for a fixed of size {size}",
            text.chars().count()
        ))),
        _ => Ok(()),
    }
}

/// Whether `name` is an Avro name (`[A-Za-z_][A-Za-z0-9_]*`), or with `dotted` a
/// full name of such names joined by dots (Avro specification, "Names").
fn is_avro_name(name: &str, dotted: bool) -> bool {
    let simple = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if dotted {
        name.split('.').all(simple)
    } else {
        simple(name)
    }
}

/// Rejects, with the offending name, every name, namespace, alias and type
/// reference that is not a valid Avro name.
fn check_names(value: &Value) -> Result<(), RegistryError> {
    let bad = |what: &str, name: &str| {
        invalid(format!(
            "invalid {what} '{name}': Avro names match [A-Za-z_][A-Za-z0-9_]*, joined by dots in full names"
        ))
    };
    match value {
        Value::String(name) if !is_avro_name(name, true) => {
            return Err(bad("type name", name));
        }
        Value::Array(branches) => branches.iter().try_for_each(check_names)?,
        Value::Object(object) => {
            if let Some(Value::String(name)) = object.get("name") {
                if !is_avro_name(name, true) {
                    return Err(bad("name", name));
                }
            }
            if let Some(Value::String(namespace)) = object.get("namespace") {
                if !namespace.is_empty() && !is_avro_name(namespace, true) {
                    return Err(bad("namespace", namespace));
                }
            }
            if let Some(Value::Array(aliases)) = object.get("aliases") {
                for alias in aliases.iter().filter_map(Value::as_str) {
                    if !is_avro_name(alias, true) {
                        return Err(bad("alias", alias));
                    }
                }
            }
            for key in ["type", "items", "values"] {
                if let Some(inner) = object.get(key) {
                    check_names(inner)?;
                }
            }
            if let Some(Value::Array(fields)) = object.get("fields") {
                for field in fields {
                    if let Some(Value::String(name)) = field.get("name") {
                        if !is_avro_name(name, false) {
                            return Err(bad("field name", name));
                        }
                    }
                    if let Some(ty) = field.get("type") {
                        check_names(ty)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A schema reduced to what Avro's resolution rules look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub root: Ty,
    pub named: Vec<Named>,
}

impl Parsed {
    pub fn named(&self, index: usize) -> Option<&Named> {
        self.named.get(index)
    }
}

/// A type; named types are indexes into [`Parsed::named`] so recursion is finite.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes { decimal: Option<Decimal> },
    String,
    Array(Box<Ty>),
    Map(Box<Ty>),
    Union(Vec<Ty>),
    Named(usize),
}

/// The `decimal` logical type's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub precision: u64,
    pub scale: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub full_name: String,
    /// Aliases, as full names (resolved against the type's namespace).
    pub aliases: Vec<String>,
    pub kind: NamedKind,
}

impl Named {
    pub fn unqualified(&self) -> &str {
        unqualified(&self.full_name)
    }
}

pub fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

#[derive(Debug, Clone, PartialEq)]
pub enum NamedKind {
    Record {
        fields: Vec<Field>,
    },
    Enum {
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        size: u64,
        decimal: Option<Decimal>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub ty: Ty,
    pub has_default: bool,
}

#[derive(Default)]
struct ModelBuilder {
    named: Vec<Named>,
}

fn invalid(reason: impl Into<String>) -> RegistryError {
    RegistryError::InvalidSchema {
        reason: reason.into(),
    }
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

fn decimal_of(object: &Map<String, Value>) -> Option<Decimal> {
    // An invalid logical type is ignored, as the Avro specification requires.
    if object.get("logicalType")?.as_str()? != "decimal" {
        return None;
    }
    let precision = object.get("precision")?.as_u64()?;
    let scale = object.get("scale").map_or(Some(0), Value::as_u64)?;
    (precision > 0 && scale <= precision).then_some(Decimal { precision, scale })
}

impl ModelBuilder {
    fn lookup(&self, name: &str, namespace: &str) -> Option<usize> {
        let candidates = [full_name(name, namespace), name.to_owned()];
        candidates
            .iter()
            .find_map(|c| self.named.iter().position(|n| &n.full_name == c))
    }

    fn ty(&mut self, value: &Value, namespace: &str) -> Result<Ty, RegistryError> {
        match value {
            Value::String(name) => self.named_or_primitive(name, namespace),
            Value::Array(branches) => Ok(Ty::Union(
                branches
                    .iter()
                    .map(|b| self.ty(b, namespace))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Object(object) => self.complex(object, namespace),
            other => Err(invalid(format!("not a schema: {other}"))),
        }
    }

    fn named_or_primitive(&self, name: &str, namespace: &str) -> Result<Ty, RegistryError> {
        Ok(match name {
            "null" => Ty::Null,
            "boolean" => Ty::Boolean,
            "int" => Ty::Int,
            "long" => Ty::Long,
            "float" => Ty::Float,
            "double" => Ty::Double,
            "bytes" => Ty::Bytes { decimal: None },
            "string" => Ty::String,
            other => Ty::Named(
                self.lookup(other, namespace)
                    .ok_or_else(|| invalid(format!("unknown type '{other}'")))?,
            ),
        })
    }

    fn complex(
        &mut self,
        object: &Map<String, Value>,
        namespace: &str,
    ) -> Result<Ty, RegistryError> {
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            // `{"type": {...}}` and `{"type": [...]}` wrap another schema.
            Some(inner) => return self.ty(inner, namespace),
            None => return Err(invalid("object without 'type'")),
        };
        match kind {
            "array" => Ok(Ty::Array(Box::new(
                self.ty(
                    object
                        .get("items")
                        .ok_or_else(|| invalid("array without 'items'"))?,
                    namespace,
                )?,
            ))),
            "map" => Ok(Ty::Map(Box::new(
                self.ty(
                    object
                        .get("values")
                        .ok_or_else(|| invalid("map without 'values'"))?,
                    namespace,
                )?,
            ))),
            "bytes" => Ok(Ty::Bytes {
                decimal: decimal_of(object),
            }),
            "record" | "error" | "enum" | "fixed" => self.named_type(kind, object, namespace),
            other => self.named_or_primitive(other, namespace),
        }
    }

    fn named_type(
        &mut self,
        kind: &str,
        object: &Map<String, Value>,
        namespace: &str,
    ) -> Result<Ty, RegistryError> {
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{kind} without a name")))?;
        let own_namespace = match object.get("namespace").and_then(Value::as_str) {
            _ if name.contains('.') => name.rsplit_once('.').map_or("", |(ns, _)| ns),
            Some(ns) => ns,
            None => namespace,
        };
        let full = full_name(name, own_namespace);
        let aliases = object
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|alias| full_name(alias, own_namespace))
                    .collect()
            })
            .unwrap_or_default();
        let index = self.named.len();
        // Registered before the fields are read, so a record may refer to itself.
        self.named.push(Named {
            full_name: full,
            aliases,
            kind: NamedKind::Record { fields: Vec::new() },
        });
        let kind = match kind {
            "enum" => NamedKind::Enum {
                symbols: object
                    .get("symbols")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                default: object
                    .get("default")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            "fixed" => NamedKind::Fixed {
                size: object
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| invalid("fixed without a size"))?,
                decimal: decimal_of(object),
            },
            _ => {
                let mut fields = Vec::new();
                for field in object
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("record without fields"))?
                {
                    let field_name = field
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid("field without a name"))?;
                    let ty = self.ty(
                        field.get("type").ok_or_else(|| {
                            invalid(format!("field '{field_name}' without a type"))
                        })?,
                        own_namespace,
                    )?;
                    fields.push(Field {
                        name: field_name.to_owned(),
                        aliases: field
                            .get("aliases")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                        ty,
                        has_default: field.get("default").is_some(),
                    });
                }
                NamedKind::Record { fields }
            }
        };
        if let Some(named) = self.named.get_mut(index) {
            named.kind = kind;
        }
        Ok(Ty::Named(index))
    }
}

/// Keys in the order Avro's Java `Schema.toString()` writes them, for types and for
/// record fields.
const KEY_ORDER: &[&str] = &[
    "type",
    "name",
    "namespace",
    "doc",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
    "default",
    "aliases",
];
const FIELD_KEY_ORDER: &[&str] = &["name", "type", "doc", "default", "order", "aliases"];

const PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The compact, key-ordered text of a schema (see the module documentation).
pub fn canonical_text(value: &Value) -> String {
    let mut out = String::new();
    write_schema(value, &mut out);
    out
}

fn write_schema(value: &Value, out: &mut String) {
    match value {
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_schema(branch, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            if object.len() == 1 {
                if let Some(Value::String(t)) = object.get("type") {
                    if PRIMITIVES.contains(&t.as_str()) {
                        write_json(value.get("type").unwrap_or(value), out);
                        return;
                    }
                }
            }
            write_object(object, KEY_ORDER, out, |key, v, out| match key {
                "type" | "items" | "values" => write_schema(v, out),
                "fields" => match v {
                    Value::Array(fields) => {
                        out.push('[');
                        for (i, field) in fields.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            match field {
                                Value::Object(f) => {
                                    write_object(f, FIELD_KEY_ORDER, out, |key, v, out| {
                                        if key == "type" {
                                            write_schema(v, out)
                                        } else {
                                            write_json(v, out)
                                        }
                                    })
                                }
                                other => write_json(other, out),
                            }
                        }
                        out.push(']');
                    }
                    other => write_json(other, out),
                },
                _ => write_json(v, out),
            });
        }
        other => write_json(other, out),
    }
}

fn write_object(
    object: &Map<String, Value>,
    order: &[&str],
    out: &mut String,
    write_value: impl Fn(&str, &Value, &mut String),
) {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort_by_key(|k| {
        (
            order.iter().position(|o| o == k).unwrap_or(order.len()),
            k.as_str(),
        )
    });
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json(&Value::String(key.clone()), out);
        out.push(':');
        if let Some(v) = object.get(key) {
            write_value(key, v, out);
        }
    }
    out.push('}');
}

fn write_json(value: &Value, out: &mut String) {
    // Serializing a `Value` cannot fail (all keys are strings).
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn canonical_text_ignores_spacing_and_key_order_and_keeps_properties() {
        let a = r#"{"type": "record", "name": "V", "fields": [
            {"name": "a", "type": {"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"}},
            {"type": {"type": "int"}, "name": "b", "default": 0}]}"#;
        let b = r#"{"name":"V","fields":[{"type":{"connect.name":"io.debezium.time.ZonedTimestamp","type":"string"},"name":"a"},{"name":"b","type":"int","default":0}],"type":"record"}"#;
        let a = parse(a, &[]).map(|s| s.canonical).ok();
        let b = parse(b, &[]).map(|s| s.canonical).ok();
        assert_eq!(a, b);
        assert_eq!(
            a.as_deref(),
            Some(
                r#"{"type":"record","name":"V","fields":[{"name":"a","type":{"type":"string","connect.name":"io.debezium.time.ZonedTimestamp"}},{"name":"b","type":"int","default":0}]}"#
            )
        );
    }

    /// A value schema as Confluent's AvroConverter makes it from a Debezium record:
    /// every Connect property must survive canonicalization untouched.
    #[test]
    fn debezium_envelope_keeps_every_connect_property() {
        let envelope = r#"{"type":"record","name":"Envelope","namespace":"shop.public.orders",
          "fields":[
            {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
              {"name":"id","type":{"type":"int","connect.default":0},"default":0},
              {"name":"amount","type":["null",{"type":"bytes","scale":2,"precision":10,"connect.version":1,
                 "connect.parameters":{"scale":"2","connect.decimal.precision":"10"},
                 "connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null},
              {"name":"placed_at","type":["null",{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}],"default":null},
              {"name":"status","type":["null",{"type":"string","connect.version":1,
                 "connect.parameters":{"allowed":"new,paid"},"connect.name":"io.debezium.data.Enum"}],"default":null},
              {"name":"created","type":{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}}
            ],"connect.name":"shop.public.orders.Value"}],"default":null},
            {"name":"after","type":["null","Value"],"default":null},
            {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql",
              "fields":[{"name":"version","type":"string"},{"name":"lsn","type":["null","long"],"default":null},
                {"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},
                  "connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"}],
              "connect.name":"io.debezium.connector.postgresql.Source"}},
            {"name":"op","type":"string"},
            {"name":"ts_ms","type":["null","long"],"default":null}
          ],"connect.version":2,"connect.name":"shop.public.orders.Envelope"}"#;
        let schema = parse(envelope, &[]).unwrap();
        let original: Value = serde_json::from_str(envelope).unwrap();
        let canonical: Value = serde_json::from_str(&schema.canonical).unwrap();
        assert_eq!(canonical, original);
        assert!(!schema.canonical.contains(' '));
    }

    #[test]
    fn primitive_schemas_are_canonical_strings() {
        assert_eq!(
            parse(r#"{"type":"string"}"#, &[])
                .map(|s| s.canonical)
                .ok()
                .as_deref(),
            Some(r#""string""#)
        );
        assert_eq!(
            parse(r#""long""#, &[]).map(|s| s.canonical).ok().as_deref(),
            Some(r#""long""#)
        );
    }

    #[test]
    fn invalid_schemas_are_rejected_with_a_reason() {
        for bad in [
            "",
            "{",
            r#"{"type":"record"}"#,
            r#""nosuchtype""#,
            r#"{"type":"fixed","name":"F"}"#,
        ] {
            match parse(bad, &[]) {
                Err(RegistryError::InvalidSchema { reason }) => assert!(!reason.is_empty()),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn decimal_defaults_are_judged_by_the_bytes_rule() {
        let decimal = r#"{"type":"bytes","logicalType":"decimal","precision":5,"scale":2,"connect.name":"org.apache.kafka.connect.data.Decimal"}"#;
        let fixed = r#"{"type":"fixed","name":"F","size":2,"logicalType":"decimal","precision":4,"scale":1}"#;
        let record = |ty: &str, default: &str| {
            format!(
                r#"{{"type":"record","name":"V","fields":[{{"name":"discount","type":{ty},"default":{default}}}]}}"#
            )
        };
        for (ty, default) in [
            (format!("[{decimal},\"null\"]"), r#""\u0000\u0096""#),
            (decimal.to_owned(), r#""\u0000\u0096""#),
            (format!("[\"null\",{decimal}]"), "null"),
            (fixed.to_owned(), r#""\u0000\u000f""#),
        ] {
            let text = record(&ty, default);
            let parsed = parse(&text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(parsed.canonical.contains("default"), "{}", parsed.canonical);
        }
        for (ty, default, says) in [
            (decimal.to_owned(), "1.5", "not a string of bytes"),
            (decimal.to_owned(), r#""\u0100""#, "code points 0-255"),
            (fixed.to_owned(), r#""\u0000""#, "fixed of size 2"),
        ] {
            match parse(&record(&ty, default), &[]) {
                Err(RegistryError::InvalidSchema { reason }) => {
                    assert!(
                        reason.contains(says) && reason.contains("discount"),
                        "{reason}"
                    )
                }
                other => panic!("{ty} {default}: {other:?}"),
            }
        }
    }

    #[test]
    fn recursive_records_and_references_parse() {
        let list = r#"{"type":"record","name":"Node","namespace":"n","fields":[{"name":"next","type":["null","Node"]}]}"#;
        assert!(parse(list, &[]).is_ok());
        let address = r#"{"type":"record","name":"Address","namespace":"x","fields":[{"name":"city","type":"string"}]}"#;
        let person = r#"{"type":"record","name":"Person","namespace":"x","fields":[{"name":"home","type":"Address"}]}"#;
        assert!(parse(person, &[address.to_owned()]).is_ok());
        assert!(parse(person, &[]).is_err());
    }
}
