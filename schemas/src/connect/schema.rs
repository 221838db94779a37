//! Connect schemas.

use std::fmt;

use super::value::Value;

/// A Connect schema type, as named in JSON schemas (`"int32"`, `"struct"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    /// The name Kafka's JsonConverter writes in a schema's `"type"`.
    pub fn json_name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json_name())
    }
}

/// The shape of a schema; containers own the schemas of what they contain.
#[derive(Clone, Debug, PartialEq)]
pub enum SchemaKind {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array(Box<Schema>),
    Map {
        keys: Box<Schema>,
        values: Box<Schema>,
    },
    Struct(Vec<Field>),
}

/// One field of a struct schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub schema: Schema,
}

impl Field {
    pub fn new(name: impl Into<String>, schema: Schema) -> Field {
        Field {
            name: name.into(),
            schema,
        }
    }
}

/// A Connect schema (`org.apache.kafka.connect.data.ConnectSchema`).
///
/// Built with the constructors and the `with_*` methods, which mirror Connect's
/// `SchemaBuilder` and so read like the Debezium code they match:
/// `Schema::int64().named("io.debezium.time.MicroTimestamp").versioned(1).optional()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub kind: SchemaKind,
    pub optional: bool,
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    /// In insertion order, which converters keep (Connect uses a `LinkedHashMap`).
    pub parameters: Vec<(String, String)>,
    /// Written by converters in place of a null value (Kafka's JsonConverter with its
    /// default `replace.null.with.default=true`).
    pub default: Option<Value>,
}

impl Schema {
    fn of(kind: SchemaKind) -> Schema {
        Schema {
            kind,
            optional: false,
            name: None,
            version: None,
            doc: None,
            parameters: Vec::new(),
            default: None,
        }
    }

    pub fn int8() -> Schema {
        Schema::of(SchemaKind::Int8)
    }
    pub fn int16() -> Schema {
        Schema::of(SchemaKind::Int16)
    }
    pub fn int32() -> Schema {
        Schema::of(SchemaKind::Int32)
    }
    pub fn int64() -> Schema {
        Schema::of(SchemaKind::Int64)
    }
    pub fn float32() -> Schema {
        Schema::of(SchemaKind::Float32)
    }
    pub fn float64() -> Schema {
        Schema::of(SchemaKind::Float64)
    }
    pub fn boolean() -> Schema {
        Schema::of(SchemaKind::Boolean)
    }
    pub fn string() -> Schema {
        Schema::of(SchemaKind::String)
    }
    pub fn bytes() -> Schema {
        Schema::of(SchemaKind::Bytes)
    }
    pub fn array(items: Schema) -> Schema {
        Schema::of(SchemaKind::Array(Box::new(items)))
    }
    pub fn map(keys: Schema, values: Schema) -> Schema {
        Schema::of(SchemaKind::Map {
            keys: Box::new(keys),
            values: Box::new(values),
        })
    }
    pub fn structure(fields: Vec<Field>) -> Schema {
        Schema::of(SchemaKind::Struct(fields))
    }

    pub fn optional(mut self) -> Schema {
        self.optional = true;
        self
    }

    /// Sets optionality explicitly (`optional` when `true`).
    pub fn with_optional(mut self, optional: bool) -> Schema {
        self.optional = optional;
        self
    }

    pub fn named(mut self, name: impl Into<String>) -> Schema {
        self.name = Some(name.into());
        self
    }

    pub fn versioned(mut self, version: i32) -> Schema {
        self.version = Some(version);
        self
    }

    pub fn with_doc(mut self, doc: impl Into<String>) -> Schema {
        self.doc = Some(doc.into());
        self
    }

    /// Adds a parameter, or replaces the value of an existing one in place (as a
    /// `LinkedHashMap` does, keeping its position).
    pub fn with_parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Schema {
        self.set_parameter(key, value);
        self
    }

    pub fn set_parameter(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.parameters.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.parameters.push((key, value)),
        }
    }

    pub fn with_default(mut self, default: Value) -> Schema {
        self.default = Some(default);
        self
    }

    pub fn schema_type(&self) -> SchemaType {
        match self.kind {
            SchemaKind::Int8 => SchemaType::Int8,
            SchemaKind::Int16 => SchemaType::Int16,
            SchemaKind::Int32 => SchemaType::Int32,
            SchemaKind::Int64 => SchemaType::Int64,
            SchemaKind::Float32 => SchemaType::Float32,
            SchemaKind::Float64 => SchemaType::Float64,
            SchemaKind::Boolean => SchemaType::Boolean,
            SchemaKind::String => SchemaType::String,
            SchemaKind::Bytes => SchemaType::Bytes,
            SchemaKind::Array(_) => SchemaType::Array,
            SchemaKind::Map { .. } => SchemaType::Map,
            SchemaKind::Struct(_) => SchemaType::Struct,
        }
    }

    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A struct's fields; empty for other types.
    pub fn fields(&self) -> &[Field] {
        match &self.kind {
            SchemaKind::Struct(fields) => fields,
            _ => &[],
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields().iter().find(|f| f.name == name)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_keep_insertion_order_and_replace_in_place() {
        let schema = Schema::bytes()
            .with_parameter("scale", "2")
            .with_parameter("connect.decimal.precision", "10")
            .with_parameter("scale", "3");
        assert_eq!(
            schema.parameters,
            vec![
                ("scale".to_owned(), "3".to_owned()),
                ("connect.decimal.precision".to_owned(), "10".to_owned())
            ]
        );
        assert_eq!(schema.parameter("scale"), Some("3"));
        assert_eq!(schema.parameter("length"), None);
    }

    #[test]
    fn struct_fields_by_name() {
        let schema = Schema::structure(vec![
            Field::new("a", Schema::int32()),
            Field::new("b", Schema::string().optional()),
        ]);
        assert_eq!(schema.schema_type(), SchemaType::Struct);
        assert_eq!(schema.field_index("b"), Some(1));
        assert!(schema.field("b").is_some_and(|f| f.schema.optional));
        assert!(Schema::int8().fields().is_empty());
        assert_eq!(SchemaType::Float64.to_string(), "double");
    }
}
