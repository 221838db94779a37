//! A writer's Avro schema → the Connect schema it stands for, by the rules of
//! Confluent's `AvroData.toConnectSchema` with the converter's defaults
//! (`connect.meta.data=true`, `enhanced.avro.schema.support=false`): the way back from
//! `pgcdc_schemas::avro::from_connect`, so what pgcdc's connector (or Debezium under
//! Confluent's converter) writes reads back as the schema it started from. Pure.
//!
//! 1. `boolean`, `float`, `double`, `string`, `bytes` are their Connect types; `int`
//!    is INT32, or INT8/INT16 with `"connect.type"`; `long` is INT64.
//! 2. Logical types: `decimal` (on `bytes` or `fixed`) is Connect's `Decimal` with the
//!    `scale` parameter and, when the precision is not 64, `connect.decimal.precision`;
//!    `date` and `time-millis` on `int`, `timestamp-millis` on `long` are Connect's
//!    `Date`, `Time`, `Timestamp`. Debezium's time types, `Json`, `Uuid`, … are their
//!    base type with the name `connect.name` gives.
//! 3. A `record` is a STRUCT; an `array` whose items are a record marked
//!    `"connect.internal.type":"MapEntry"` (or named `io.confluent.connect.avro.MapEntry`)
//!    with fields `key` and `value` is a MAP with those types; any other `array` an
//!    ARRAY; a `map` a MAP with STRING keys.
//! 4. A union of `null` and one type is that type, optional; any other union a struct
//!    named `io.confluent.connect.avro.Union` with one optional field per non-null
//!    branch (named by the branch's simple name or type), optional when `null` is a
//!    branch.
//! 5. An `enum` is a STRING with the parameters `io.confluent.connect.avro.Enum` (its
//!    full name) and `io.confluent.connect.avro.Enum.<symbol>` per symbol; a `fixed`
//!    that is not a decimal is BYTES named by its full name with `connect.fixed.size`.
//! 6. Metadata: `connect.version`, `connect.parameters` (then properties starting with
//!    `avro`, as parameters), the default (a field's Avro default, else
//!    `connect.default`), the name (`connect.name`, else a record's, enum's or fixed's
//!    full name unless it is Confluent's `ConnectDefault`), the doc (`connect.doc`,
//!    else the field's, else the type's).
//!
//! A reference to a record defined earlier gets the referring field's own
//! `connect.parameters` (or none), not those of the definition, which belong to the
//! record's first use: the inverse of `from_connect`'s rule 11.
//!
//! Where pgcdc differs: a recursive schema is an error (Connect schemas are trees);
//! parameters come back in the order the registry's JSON parser gives them, which
//! nothing in the sink depends on.

use std::collections::HashMap;

use pgcdc_schemas::avro::{AvroKind, AvroSchema, Json};
use pgcdc_schemas::connect::{Field, Schema, SchemaKind, Value};

pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub const DATE: &str = "org.apache.kafka.connect.data.Date";
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
pub const UNION: &str = "io.confluent.connect.avro.Union";
const ENUM: &str = "io.confluent.connect.avro.Enum";
const MAP_ENTRY: &str = "io.confluent.connect.avro.MapEntry";
const CONNECT_DEFAULT: &str = "io.confluent.connect.avro.ConnectDefault";
const FIXED_SIZE: &str = "connect.fixed.size";
const DECIMAL_PRECISION: &str = "connect.decimal.precision";
const DEFAULT_DECIMAL_PRECISION: i64 = 64;
/// Deeper than any table's schema, shallower than the stack.
const MAX_DEPTH: usize = 64;

/// Named types of one schema, by full name (the first definition wins, as Avro
/// writes later ones as references). Owned, so a decoder collects them once per
/// writer schema rather than once per record.
pub type Names = HashMap<String, AvroSchema>;

pub fn names(schema: &AvroSchema) -> Names {
    fn collect(schema: &AvroSchema, names: &mut Names) {
        if let (Some(name), false) = (schema.name(), matches!(schema.kind, AvroKind::Ref(_))) {
            names
                .entry(name.full_name())
                .or_insert_with(|| schema.clone());
        }
        match &schema.kind {
            AvroKind::Array(inner) | AvroKind::Map(inner) => collect(inner, names),
            AvroKind::Union(branches) => branches.iter().for_each(|b| collect(b, names)),
            AvroKind::Record { fields, .. } => {
                fields.iter().for_each(|f| collect(&f.schema, names))
            }
            _ => {}
        }
    }
    let mut names = HashMap::new();
    collect(schema, &mut names);
    names
}

/// A reference resolved to its definition.
pub fn resolve<'a>(schema: &'a AvroSchema, names: &'a Names) -> Result<&'a AvroSchema, String> {
    match &schema.kind {
        AvroKind::Ref(name) => names
            .get(&name.full_name())
            .ok_or_else(|| format!("the schema does not define {}", name.full_name())),
        _ => Ok(schema),
    }
}

/// Rule 3: the record of an array that stands for a Connect map.
pub fn is_map_entry(items: &AvroSchema) -> bool {
    let AvroKind::Record { name, fields, .. } = &items.kind else {
        return false;
    };
    let marked = matches!(items.prop("connect.internal.type"), Some(Json::String(t)) if t == "MapEntry")
        || name.full_name() == MAP_ENTRY;
    marked && fields.len() == 2 && fields[0].name == "key" && fields[1].name == "value"
}

/// The Connect schema of a writer's schema.
pub fn connect_schema(schema: &AvroSchema) -> Result<Schema, String> {
    let names = names(schema);
    let mut reader = Reader {
        names: &names,
        open: Vec::new(),
    };
    reader.convert(schema, Context::default(), "")
}

/// What a field passes down to its schema.
#[derive(Default, Clone, Copy)]
struct Context<'a> {
    optional: bool,
    default: Option<&'a Json>,
    doc: Option<&'a str>,
    parameters: Option<&'a Json>,
    /// The schema is a reference to a record defined earlier: its parameters are the
    /// referring field's own (`from_connect` rule 11), not those of the record's
    /// first use, which the definition carries.
    reference: bool,
}

struct Reader<'a> {
    names: &'a Names,
    /// Named types being converted (a reference to one of them is a cycle).
    open: Vec<String>,
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl<'a> Reader<'a> {
    fn convert(
        &mut self,
        schema: &'a AvroSchema,
        context: Context<'a>,
        path: &str,
    ) -> Result<Schema, String> {
        if self.open.len() > MAX_DEPTH {
            return Err(format!("{path}: nested deeper than {MAX_DEPTH}"));
        }
        let context = Context {
            reference: matches!(schema.kind, AvroKind::Ref(_)),
            ..context
        };
        let schema = resolve(schema, self.names).map_err(|e| format!("{path}: {e}"))?;
        let named = schema.name().map(|n| n.full_name());
        if let Some(name) = &named {
            if self.open.contains(name) {
                return Err(format!(
                    "{path}: {name} contains itself; recursive schemas have no Connect form"
                ));
            }
            self.open.push(name.clone());
        }
        let result = self.convert_resolved(schema, context, path);
        if named.is_some() {
            self.open.pop();
        }
        result
    }

    fn convert_resolved(
        &mut self,
        schema: &'a AvroSchema,
        context: Context<'a>,
        path: &str,
    ) -> Result<Schema, String> {
        let logical = match schema.prop("logicalType") {
            Some(Json::String(l)) => Some(l.as_str()),
            _ => None,
        };
        let is_logical = |name: &str| logical.is_some_and(|l| l.eq_ignore_ascii_case(name));
        let mut connect = match &schema.kind {
            AvroKind::Null => return Err(format!("{path}: a null schema has no Connect form")),
            AvroKind::Boolean => Schema::boolean(),
            AvroKind::Int if is_logical("date") => Schema::int32().named(DATE).versioned(1),
            AvroKind::Int if is_logical("time-millis") => Schema::int32().named(TIME).versioned(1),
            AvroKind::Int => match schema.prop("connect.type") {
                Some(Json::String(t)) if t == "int8" => Schema::int8(),
                Some(Json::String(t)) if t == "int16" => Schema::int16(),
                None => Schema::int32(),
                Some(other) => {
                    return Err(format!(
                        "{path}: connect.type {} on an int",
                        other.to_text()
                    ))
                }
            },
            AvroKind::Long if is_logical("timestamp-millis") => {
                Schema::int64().named(TIMESTAMP).versioned(1)
            }
            AvroKind::Long => Schema::int64(),
            AvroKind::Float => Schema::float32(),
            AvroKind::Double => Schema::float64(),
            AvroKind::String => Schema::string(),
            AvroKind::Bytes | AvroKind::Fixed { .. } if is_logical("decimal") => {
                let scale = integer_prop(schema, "scale", path)?.unwrap_or(0);
                let mut decimal = Schema::bytes()
                    .named(DECIMAL)
                    .versioned(1)
                    .with_parameter("scale", scale.to_string());
                if let Some(precision) = integer_prop(schema, "precision", path)? {
                    if precision != DEFAULT_DECIMAL_PRECISION {
                        decimal.set_parameter(DECIMAL_PRECISION, precision.to_string());
                    }
                }
                decimal
            }
            AvroKind::Bytes => Schema::bytes(),
            AvroKind::Fixed { name, size, .. } => Schema::bytes()
                .named(name.full_name())
                .with_parameter(FIXED_SIZE, size.to_string()),
            AvroKind::Enum { name, symbols, .. } => {
                let mut string = Schema::string().with_parameter(ENUM, name.full_name());
                for symbol in symbols {
                    string.set_parameter(format!("{ENUM}.{symbol}"), symbol.clone());
                }
                string
            }
            AvroKind::Array(items) => {
                let entry = resolve(items, self.names).map_err(|e| format!("{path}: {e}"))?;
                match &entry.kind {
                    AvroKind::Record { fields, .. } if is_map_entry(entry) => Schema::map(
                        self.field(&fields[0], &child(path, "key"))?,
                        self.field(&fields[1], &child(path, "value"))?,
                    ),
                    _ => Schema::array(self.convert(
                        items,
                        Context::default(),
                        &child(path, "[]"),
                    )?),
                }
            }
            AvroKind::Map(values) => Schema::map(
                Schema::string(),
                self.convert(values, Context::default(), &child(path, "{}"))?,
            ),
            AvroKind::Record { fields, .. } => Schema::structure(
                fields
                    .iter()
                    .map(|f| {
                        Ok(Field::new(
                            f.name.clone(),
                            self.field(f, &child(path, &f.name))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            AvroKind::Union(branches) => return self.union(branches, context, path),
            AvroKind::Ref(_) => return Err(format!("{path}: a reference to a reference")),
        };

        if let Some(version) = integer_prop(schema, "connect.version", path)? {
            if connect.version.is_none() {
                connect.version = Some(
                    i32::try_from(version)
                        .map_err(|_| format!("{path}: connect.version {version}"))?,
                );
            }
        }
        let own = schema
            .prop("connect.parameters")
            .filter(|_| !(context.reference && matches!(schema.kind, AvroKind::Record { .. })));
        for parameters in [own, context.parameters].into_iter().flatten() {
            let Json::Object(members) = parameters else {
                return Err(format!("{path}: connect.parameters is not an object"));
            };
            for (key, value) in members {
                connect.set_parameter(key.clone(), text_of(value));
            }
        }
        for (key, value) in &schema.props {
            if key.starts_with("avro") {
                connect.set_parameter(key.clone(), text_of(value));
            }
        }
        if connect.name.is_none() {
            connect.name = match schema.prop("connect.name") {
                Some(Json::String(name)) => Some(name.clone()),
                Some(other) => return Err(format!("{path}: connect.name {}", other.to_text())),
                None => match &schema.kind {
                    AvroKind::Record { name, .. } | AvroKind::Enum { name, .. } => {
                        Some(name.full_name()).filter(|n| !n.starts_with(CONNECT_DEFAULT))
                    }
                    _ => None,
                },
            };
        }
        connect.doc = match schema.prop("connect.doc") {
            Some(Json::String(doc)) => Some(doc.clone()),
            _ => context
                .doc
                .map(str::to_owned)
                .or_else(|| match &schema.kind {
                    AvroKind::Record { doc, .. }
                    | AvroKind::Enum { doc, .. }
                    | AvroKind::Fixed { doc, .. } => doc.clone(),
                    _ => None,
                }),
        };
        let default = context
            .default
            .filter(|d| **d != Json::Null)
            .or_else(|| schema.prop("connect.default"));
        if let Some(default) = default {
            let value = default_value(&connect, default, &child(path, "default"))?;
            connect.default = Some(value).filter(|v| !v.is_null());
        }
        connect.optional = context.optional;
        Ok(connect)
    }

    /// A record field's schema, with what the field adds to it.
    fn field(
        &mut self,
        field: &'a pgcdc_schemas::avro::AvroField,
        path: &str,
    ) -> Result<Schema, String> {
        let parameters = field
            .props
            .iter()
            .find(|(k, _)| k == "connect.parameters")
            .map(|(_, v)| v);
        let context = Context {
            optional: false,
            default: field.default.as_ref(),
            doc: field.doc.as_deref(),
            parameters,
            reference: false,
        };
        self.convert(&field.schema, context, path)
    }

    fn union(
        &mut self,
        branches: &'a [AvroSchema],
        context: Context<'a>,
        path: &str,
    ) -> Result<Schema, String> {
        let is_null = |b: &AvroSchema| matches!(b.kind, AvroKind::Null);
        if let ([a, b], Some(null_at)) = (branches, branches.iter().position(is_null)) {
            let (value, value_first) = if null_at == 0 { (b, false) } else { (a, true) };
            if !is_null(value) {
                // A field's Avro default belongs to the first branch.
                let default = context.default.filter(|_| value_first);
                let inner = Context {
                    optional: true,
                    default,
                    ..context
                };
                return self.convert(value, inner, path);
            }
        }
        let mut fields: Vec<Field> = Vec::new();
        for branch in branches.iter().filter(|b| !is_null(b)) {
            let resolved = resolve(branch, self.names).map_err(|e| format!("{path}: {e}"))?;
            let name = match resolved.name() {
                Some(name) => name.name.clone(),
                None => resolved.type_name().to_owned(),
            };
            let member = Context {
                optional: true,
                ..Context::default()
            };
            let schema = self.convert(branch, member, &child(path, &name))?;
            fields.push(Field::new(name, schema));
        }
        let mut union = Schema::structure(fields).named(UNION);
        union.optional = branches.iter().any(is_null) || context.optional;
        if let Some(default) = context.default.filter(|d| **d != Json::Null) {
            union.default = Some(default_value(&union, default, &child(path, "default"))?);
        }
        Ok(union)
    }
}

fn integer_prop(schema: &AvroSchema, key: &str, path: &str) -> Result<Option<i64>, String> {
    match schema.prop(key) {
        None => Ok(None),
        Some(Json::Int(v)) => Ok(Some(*v)),
        Some(other) => Err(format!(
            "{path}: {key} is {}, not an integer",
            other.to_text()
        )),
    }
}

/// A parameter's text: strings as they are, anything else as JSON.
fn text_of(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_text(),
    }
}

/// A default in Avro's JSON form (a field default or `connect.default`) as a value
/// of `schema`.
pub fn default_value(schema: &Schema, json: &Json, path: &str) -> Result<Value, String> {
    let mismatch = || {
        format!(
            "{path}: {} is not a {} default",
            json.to_text(),
            schema.schema_type()
        )
    };
    let integer = |min: i64, max: i64| match json {
        Json::Int(v) if (min..=max).contains(v) => Ok(*v),
        _ => Err(mismatch()),
    };
    let float = || match json {
        Json::Int(v) => Ok(*v as f64),
        Json::Float(v) => Ok(f64::from(*v)),
        Json::Double(v) => Ok(*v),
        Json::String(s) if s == "NaN" => Ok(f64::NAN),
        Json::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Json::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => Err(mismatch()),
    };
    if *json == Json::Null {
        return Ok(Value::Null);
    }
    Ok(match &schema.kind {
        SchemaKind::Int8 => Value::Int8(integer(i8::MIN.into(), i8::MAX.into())? as i8),
        SchemaKind::Int16 => Value::Int16(integer(i16::MIN.into(), i16::MAX.into())? as i16),
        SchemaKind::Int32 => Value::Int32(integer(i32::MIN.into(), i32::MAX.into())? as i32),
        SchemaKind::Int64 => Value::Int64(integer(i64::MIN, i64::MAX)?),
        SchemaKind::Float32 => Value::Float32(float()? as f32),
        SchemaKind::Float64 => Value::Float64(float()?),
        SchemaKind::Boolean => match json {
            Json::Bool(b) => Value::Boolean(*b),
            _ => return Err(mismatch()),
        },
        SchemaKind::String => match json {
            Json::String(s) => Value::String(s.clone()),
            _ => return Err(mismatch()),
        },
        // Avro's JSON form of bytes: one character (U+0000..U+00FF) per byte.
        SchemaKind::Bytes => match json {
            Json::String(s) => Value::Bytes(
                s.chars()
                    .map(|c| u8::try_from(u32::from(c)).map_err(|_| mismatch()))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        },
        SchemaKind::Array(items) => match json {
            Json::Array(elements) => Value::Array(
                elements
                    .iter()
                    .map(|e| default_value(items, e, path))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        },
        SchemaKind::Map { keys, values } => match json {
            Json::Object(members) => Value::Map(
                members
                    .iter()
                    .map(|(k, v)| Ok((Value::String(k.clone()), default_value(values, v, path)?)))
                    .collect::<Result<_, String>>()?,
            ),
            // A map with other keys: `[[key, value], …]` (connect.default) or
            // `[{"key":…, "value":…}, …]` (a field default of its entry records).
            Json::Array(entries) => Value::Map(
                entries
                    .iter()
                    .map(|entry| {
                        let (k, v) = match entry {
                            Json::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                            Json::Object(members) => {
                                let get = |name: &str| {
                                    members.iter().find(|(m, _)| m == name).map(|(_, v)| v)
                                };
                                match (get("key"), get("value")) {
                                    (Some(k), Some(v)) => (k, v),
                                    _ => return Err(mismatch()),
                                }
                            }
                            _ => return Err(mismatch()),
                        };
                        Ok((
                            default_value(keys, k, path)?,
                            default_value(values, v, path)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            _ => return Err(mismatch()),
        },
        SchemaKind::Struct(fields) if schema.name.as_deref() == Some(UNION) => {
            // Avro: a union's default is of its first branch.
            let mut values = vec![Value::Null; fields.len()];
            if let Some(first) = fields.first() {
                values[0] = default_value(&first.schema, json, path)?;
            }
            Value::Struct(values)
        }
        SchemaKind::Struct(fields) => match json {
            Json::Object(members) => Value::Struct(
                fields
                    .iter()
                    .map(
                        |field| match members.iter().find(|(m, _)| *m == field.name) {
                            Some((_, v)) => {
                                default_value(&field.schema, v, &child(path, &field.name))
                            }
                            None => Ok(field.schema.default.clone().unwrap_or(Value::Null)),
                        },
                    )
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(mismatch()),
        },
    })
}
