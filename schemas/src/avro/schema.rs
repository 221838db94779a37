//! The Avro schema model, and its text as Avro Java's `Schema.toString()` writes it,
//! which is what Confluent's serializer registers (`AvroSchema.canonicalString()`).
//!
//! The text rules (Avro Java 1.12, `Schema.toJson`):
//! - a primitive without properties is its bare type name (`"int"`), with properties
//!   an object: `type`, then the properties in insertion order;
//! - a record is `type`, `name`, `namespace` (only when it differs from the enclosing
//!   one; `""` for a record without namespace inside one that has one), `doc`,
//!   `fields`, properties, `aliases`; a field is `name`, `type`, `doc`, `default`,
//!   `order` (unless ascending), `aliases`, properties;
//! - a named type seen before in the same text is written as a reference: its bare
//!   name when it is in the enclosing namespace (and not a primitive's name), its
//!   full name otherwise;
//! - a union is a JSON array of its branches.

use std::collections::HashSet;

use crate::json::escape::{write_json_string, Supplementary};

use super::props::Json;

/// A full Avro name split as Avro does: `namespace` is everything before the last dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    pub name: String,
    pub namespace: Option<String>,
}

impl Name {
    pub fn new(name: impl Into<String>, namespace: Option<String>) -> Name {
        Name {
            name: name.into(),
            namespace: namespace.filter(|ns| !ns.is_empty()),
        }
    }

    /// Splits `a.b.C` into namespace `a.b` and name `C`.
    pub fn parse(full: &str) -> Name {
        match full.rsplit_once('.') {
            Some((namespace, name)) => Name::new(name, Some(namespace.to_owned())),
            None => Name::new(full, None),
        }
    }

    pub fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// How a reference to this name is written inside `current` namespace.
    fn qualified(&self, current: Option<&str>) -> String {
        let same_space = self.namespace.is_some() && self.namespace.as_deref() == current;
        if same_space && !PRIMITIVE_AND_TYPE_NAMES.contains(&self.name.as_str()) {
            self.name.clone()
        } else {
            self.full_name()
        }
    }
}

/// Avro's type names: a named type called one of these is always referenced by its
/// full name.
const PRIMITIVE_AND_TYPE_NAMES: [&str; 14] = [
    "record", "enum", "array", "map", "union", "fixed", "string", "bytes", "int", "long", "float",
    "double", "boolean", "null",
];

/// An Avro schema with its properties (`connect.name`, `logicalType`, ...), which
/// Avro keeps in insertion order. A union has no properties.
#[derive(Clone, Debug, PartialEq)]
pub struct AvroSchema {
    pub kind: AvroKind,
    pub props: Vec<(String, Json)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AvroKind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<AvroSchema>),
    Map(Box<AvroSchema>),
    Union(Vec<AvroSchema>),
    Record {
        name: Name,
        doc: Option<String>,
        fields: Vec<AvroField>,
        aliases: Vec<String>,
    },
    Enum {
        name: Name,
        doc: Option<String>,
        symbols: Vec<String>,
        default: Option<String>,
        aliases: Vec<String>,
    },
    Fixed {
        name: Name,
        doc: Option<String>,
        size: usize,
        aliases: Vec<String>,
    },
    /// A named type defined earlier in the same schema.
    Ref(Name),
}

/// One field of a record.
#[derive(Clone, Debug, PartialEq)]
pub struct AvroField {
    pub name: String,
    pub schema: AvroSchema,
    pub doc: Option<String>,
    pub default: Option<Json>,
    /// `ascending` when absent.
    pub order: Option<String>,
    pub aliases: Vec<String>,
    pub props: Vec<(String, Json)>,
}

impl AvroField {
    pub fn new(name: impl Into<String>, schema: AvroSchema) -> AvroField {
        AvroField {
            name: name.into(),
            schema,
            doc: None,
            default: None,
            order: None,
            aliases: Vec::new(),
            props: Vec::new(),
        }
    }
}

impl From<AvroKind> for AvroSchema {
    fn from(kind: AvroKind) -> AvroSchema {
        AvroSchema {
            kind,
            props: Vec::new(),
        }
    }
}

impl AvroSchema {
    pub fn null() -> AvroSchema {
        AvroKind::Null.into()
    }

    /// The property's value, if set.
    pub fn prop(&self, key: &str) -> Option<&Json> {
        self.props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Adds a property unless it is set already, as Avro Java's `addProp` does (it
    /// refuses to change an existing one; the caller checks when that matters).
    pub fn add_prop(&mut self, key: &str, value: Json) {
        if self.prop(key).is_none() {
            self.props.push((key.to_owned(), value));
        }
    }

    /// The name of a named type (record, enum, fixed, or a reference to one).
    pub fn name(&self) -> Option<&Name> {
        match &self.kind {
            AvroKind::Record { name, .. }
            | AvroKind::Enum { name, .. }
            | AvroKind::Fixed { name, .. }
            | AvroKind::Ref(name) => Some(name),
            _ => None,
        }
    }

    /// How a union tells its branches apart: a named type's full name, otherwise the
    /// type's name. Two branches with the same one make an invalid union.
    pub fn branch_name(&self) -> String {
        match self.name() {
            Some(name) => name.full_name(),
            None => self.type_name().to_owned(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            AvroKind::Null => "null",
            AvroKind::Boolean => "boolean",
            AvroKind::Int => "int",
            AvroKind::Long => "long",
            AvroKind::Float => "float",
            AvroKind::Double => "double",
            AvroKind::Bytes => "bytes",
            AvroKind::String => "string",
            AvroKind::Array(_) => "array",
            AvroKind::Map(_) => "map",
            AvroKind::Union(_) => "union",
            AvroKind::Record { .. } => "record",
            AvroKind::Enum { .. } => "enum",
            AvroKind::Fixed { .. } => "fixed",
            AvroKind::Ref(_) => "reference",
        }
    }

    /// Whether this is a named type, or a union with a named branch.
    pub fn is_named_or_has_named_branch(&self) -> bool {
        match &self.kind {
            AvroKind::Union(branches) => branches.iter().any(|b| b.name().is_some()),
            _ => self.name().is_some(),
        }
    }

    /// The schema's text as Avro Java's `Schema.toString()` writes it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut known = HashSet::new();
        self.write(&mut known, None, &mut out);
        out
    }

    fn write(&self, known: &mut HashSet<String>, namespace: Option<&str>, out: &mut String) {
        let primitive = |name: &str, props: &[(String, Json)], out: &mut String| {
            if props.is_empty() {
                string(name, out);
            } else {
                out.push_str("{\"type\":");
                string(name, out);
                write_props(props, out);
                out.push('}');
            }
        };
        match &self.kind {
            AvroKind::Null
            | AvroKind::Boolean
            | AvroKind::Int
            | AvroKind::Long
            | AvroKind::Float
            | AvroKind::Double
            | AvroKind::Bytes
            | AvroKind::String => primitive(self.type_name(), &self.props, out),
            AvroKind::Array(items) => {
                out.push_str("{\"type\":\"array\",\"items\":");
                items.write(known, namespace, out);
                write_props(&self.props, out);
                out.push('}');
            }
            AvroKind::Map(values) => {
                out.push_str("{\"type\":\"map\",\"values\":");
                values.write(known, namespace, out);
                write_props(&self.props, out);
                out.push('}');
            }
            AvroKind::Union(branches) => {
                out.push('[');
                for (i, branch) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    branch.write(known, namespace, out);
                }
                out.push(']');
            }
            AvroKind::Ref(name) => string(&name.qualified(namespace), out),
            AvroKind::Record {
                name,
                doc,
                fields,
                aliases,
            } => {
                // Avro Java writes a name it has written before as a reference,
                // whatever the definition (the conversion has checked they agree).
                if !known.insert(name.full_name()) {
                    return string(&name.qualified(namespace), out);
                }
                out.push_str("{\"type\":\"record\"");
                write_name(name, namespace, out);
                if let Some(doc) = doc {
                    out.push_str(",\"doc\":");
                    string(doc, out);
                }
                out.push_str(",\"fields\":[");
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    field.write(known, name.namespace.as_deref(), out);
                }
                out.push(']');
                write_props(&self.props, out);
                write_aliases(aliases, out);
                out.push('}');
            }
            AvroKind::Enum {
                name,
                doc,
                symbols,
                default,
                aliases,
            } => {
                if !known.insert(name.full_name()) {
                    return string(&name.qualified(namespace), out);
                }
                out.push_str("{\"type\":\"enum\"");
                write_name(name, namespace, out);
                if let Some(doc) = doc {
                    out.push_str(",\"doc\":");
                    string(doc, out);
                }
                out.push_str(",\"symbols\":[");
                for (i, symbol) in symbols.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(symbol, out);
                }
                out.push(']');
                if let Some(default) = default {
                    out.push_str(",\"default\":");
                    string(default, out);
                }
                write_props(&self.props, out);
                write_aliases(aliases, out);
                out.push('}');
            }
            AvroKind::Fixed {
                name,
                doc,
                size,
                aliases,
            } => {
                if !known.insert(name.full_name()) {
                    return string(&name.qualified(namespace), out);
                }
                out.push_str("{\"type\":\"fixed\"");
                write_name(name, namespace, out);
                if let Some(doc) = doc {
                    out.push_str(",\"doc\":");
                    string(doc, out);
                }
                out.push_str(",\"size\":");
                out.push_str(&size.to_string());
                write_props(&self.props, out);
                write_aliases(aliases, out);
                out.push('}');
            }
        }
    }
}

impl AvroField {
    fn write(&self, known: &mut HashSet<String>, namespace: Option<&str>, out: &mut String) {
        out.push_str("{\"name\":");
        string(&self.name, out);
        out.push_str(",\"type\":");
        self.schema.write(known, namespace, out);
        if let Some(doc) = &self.doc {
            out.push_str(",\"doc\":");
            string(doc, out);
        }
        if let Some(default) = &self.default {
            out.push_str(",\"default\":");
            default.write(out);
        }
        if let Some(order) = self.order.as_deref().filter(|o| *o != "ascending") {
            out.push_str(",\"order\":");
            string(order, out);
        }
        if !self.aliases.is_empty() {
            out.push_str(",\"aliases\":[");
            for (i, alias) in self.aliases.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(alias, out);
            }
            out.push(']');
        }
        write_props(&self.props, out);
        out.push('}');
    }
}

fn string(s: &str, out: &mut String) {
    write_json_string(s, Supplementary::Raw, out);
}

fn write_name(name: &Name, current: Option<&str>, out: &mut String) {
    out.push_str(",\"name\":");
    string(&name.name, out);
    match (&name.namespace, current) {
        (Some(ns), current) if Some(ns.as_str()) != current => {
            out.push_str(",\"namespace\":");
            string(ns, out);
        }
        (None, Some(_)) => out.push_str(",\"namespace\":\"\""),
        _ => {}
    }
}

fn write_props(props: &[(String, Json)], out: &mut String) {
    for (key, value) in props {
        out.push(',');
        string(key, out);
        out.push(':');
        value.write(out);
    }
}

fn write_aliases(aliases: &[String], out: &mut String) {
    if aliases.is_empty() {
        return;
    }
    out.push_str(",\"aliases\":[");
    for (i, alias) in aliases.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(alias, out);
    }
    out.push(']');
}

/// Whether `default` is a valid default for a field of type `schema`, by Avro Java
/// 1.12's rule (`Schema.isValidDefault`; a union accepts a value of any branch since
/// AVRO-3649). `resolve` finds the definition of a referenced named type.
pub fn is_valid_default<'a>(
    schema: &'a AvroSchema,
    default: &Json,
    resolve: &dyn Fn(&Name) -> Option<&'a AvroSchema>,
) -> bool {
    match &schema.kind {
        AvroKind::String | AvroKind::Bytes | AvroKind::Enum { .. } | AvroKind::Fixed { .. } => {
            matches!(default, Json::String(_))
        }
        AvroKind::Int => matches!(default, Json::Int(i) if i32::try_from(*i).is_ok()),
        AvroKind::Long => default.is_integral(),
        AvroKind::Float | AvroKind::Double => default.is_number(),
        AvroKind::Boolean => matches!(default, Json::Bool(_)),
        AvroKind::Null => matches!(default, Json::Null),
        AvroKind::Array(items) => match default {
            Json::Array(elements) => elements.iter().all(|e| is_valid_default(items, e, resolve)),
            _ => false,
        },
        AvroKind::Map(values) => match default {
            Json::Object(members) => members
                .iter()
                .all(|(_, v)| is_valid_default(values, v, resolve)),
            _ => false,
        },
        AvroKind::Union(branches) => branches
            .iter()
            .any(|b| is_valid_default(b, default, resolve)),
        AvroKind::Record { fields, .. } => match default {
            Json::Object(members) => fields.iter().all(|field| {
                let value = members
                    .iter()
                    .find(|(k, _)| *k == field.name)
                    .map(|(_, v)| v)
                    .or(field.default.as_ref());
                value.is_some_and(|v| is_valid_default(&field.schema, v, resolve))
            }),
            _ => false,
        },
        AvroKind::Ref(name) => {
            resolve(name).is_some_and(|definition| is_valid_default(definition, default, resolve))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, namespace: Option<&str>, fields: Vec<AvroField>) -> AvroSchema {
        AvroKind::Record {
            name: Name::new(name, namespace.map(str::to_owned)),
            doc: None,
            fields,
            aliases: Vec::new(),
        }
        .into()
    }

    // Avro Java's Name.writeName / getQualified: namespaces are written only when they
    // change, "" marks a null namespace inside a non-null one, and repeated names are
    // references (short in the same namespace).
    #[test]
    fn names_namespaces_and_references() {
        let inner = record(
            "Value",
            Some("a.b"),
            vec![AvroField::new("x", AvroKind::Int.into())],
        );
        let bare = record("Bare", None, vec![]);
        let mut default_null = AvroField::new(
            "before",
            AvroKind::Union(vec![AvroSchema::null(), inner.clone()]).into(),
        );
        default_null.default = Some(Json::Null);
        let outer = record(
            "Envelope",
            Some("a.b"),
            vec![
                default_null,
                AvroField::new("after", inner),
                AvroField::new("bare", bare.clone()),
                AvroField::new("bare_again", bare),
                AvroField::new("elsewhere", AvroKind::Ref(Name::parse("c.d.Other")).into()),
            ],
        );
        assert_eq!(
            outer.to_text(),
            concat!(
                r#"{"type":"record","name":"Envelope","namespace":"a.b","fields":["#,
                r#"{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"x","type":"int"}]}],"default":null},"#,
                r#"{"name":"after","type":"Value"},"#,
                r#"{"name":"bare","type":{"type":"record","name":"Bare","namespace":"","fields":[]}},"#,
                r#"{"name":"bare_again","type":"Bare"},"#,
                r#"{"name":"elsewhere","type":"c.d.Other"}]}"#
            )
        );
    }

    #[test]
    fn a_type_named_like_a_primitive_is_referenced_by_full_name() {
        let named_int = record("int", Some("x"), vec![]);
        let outer = record(
            "R",
            Some("x"),
            vec![
                AvroField::new("a", named_int.clone()),
                AvroField::new("b", named_int),
            ],
        );
        assert!(outer
            .to_text()
            .ends_with(r#"{"name":"b","type":"x.int"}]}"#));
    }

    #[test]
    fn primitive_properties_and_field_extras() {
        let mut int8 = AvroSchema::from(AvroKind::Int);
        int8.add_prop("connect.type", Json::string("int8"));
        int8.add_prop("connect.type", Json::string("ignored"));
        let mut field = AvroField::new("f", int8);
        field.doc = Some("d".to_owned());
        field.default = Some(Json::Int(2));
        field.order = Some("descending".to_owned());
        field.aliases = vec!["g".to_owned()];
        field.props = vec![("p".to_owned(), Json::Bool(true))];
        let schema = record("R", None, vec![field]);
        assert_eq!(
            schema.to_text(),
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"int","connect.type":"int8"},"doc":"d","default":2,"order":"descending","aliases":["g"],"p":true}]}"#
        );
    }

    #[test]
    fn default_validity_follows_avro_java() {
        let none = |_: &Name| None;
        let int: AvroSchema = AvroKind::Int.into();
        let union: AvroSchema = AvroKind::Union(vec![AvroSchema::null(), int.clone()]).into();
        let array: AvroSchema = AvroKind::Array(Box::new(int.clone())).into();
        let rec = record(
            "R",
            None,
            vec![AvroField::new("x", AvroKind::String.into())],
        );
        assert!(is_valid_default(&int, &Json::Int(1), &none));
        assert!(!is_valid_default(&int, &Json::Int(1 << 40), &none));
        assert!(!is_valid_default(&int, &Json::Double(1.5), &none));
        assert!(is_valid_default(&union, &Json::Int(3), &none));
        assert!(is_valid_default(&union, &Json::Null, &none));
        assert!(!is_valid_default(
            &array,
            &Json::Array(vec![Json::Null]),
            &none
        ));
        assert!(is_valid_default(
            &rec,
            &Json::Object(vec![("x".to_owned(), Json::string("s"))]),
            &none
        ));
        assert!(!is_valid_default(&rec, &Json::Object(vec![]), &none));
    }
}
