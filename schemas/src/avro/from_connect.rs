//! Connect schema → Avro schema, as Confluent's converter makes it
//! (`io.confluent.connect.avro.AvroData.fromConnectSchema`, schema-registry 8.x) with
//! the converter's default settings: `connect.meta.data=true`,
//! `enhanced.avro.schema.support=false`, `scrub.invalid.names=false`,
//! `generalized.sum.type.support=false`, `allow.optional.map.keys=false`.
//!
//! The rules, each checked by a test in `from_connect_tests.rs` that names it:
//!
//! 1. Types: INT8 and INT16 become `int` with `"connect.type":"int8"`/`"int16"`,
//!    INT32 `int`, INT64 `long`, FLOAT32 `float`, FLOAT64 `double`, BOOLEAN
//!    `boolean`, STRING `string`, BYTES `bytes`, ARRAY `array`.
//! 2. A MAP with non-optional STRING keys becomes an Avro `map`; any other map an
//!    `array` of records with fields `key` and `value`, named
//!    `io.confluent.connect.avro.MapEntry`, or, for a named map, by the map's name
//!    with `"connect.internal.type":"MapEntry"`.
//! 3. A STRUCT becomes a `record` named after the schema (namespace: everything
//!    before the last dot); an unnamed struct is `io.confluent.connect.avro.ConnectDefault`,
//!    then `ConnectDefault2`, `ConnectDefault3`, ... in conversion order. The record's
//!    `doc` comes only from the parameter `io.confluent.connect.avro.record.doc`, a
//!    field's from `io.confluent.connect.avro.field.doc.<field>`.
//! 4. Metadata, on every non-union schema, in this order: `connect.doc`,
//!    `connect.version`, `connect.parameters` (all parameters, in order),
//!    `connect.default` (the schema's default in Avro's JSON form), `connect.name`,
//!    `connect.type`.
//! 5. An optional schema becomes a union with `null`: `["null", T]`, or `[T, "null"]`
//!    when it has a non-null default (so that the default is valid for the union);
//!    an optional struct is always `["null", record]`.
//! 6. A field's Avro `default` is the Connect default (floats widened to double, as
//!    Avro Java's Jackson round trip does; bytes as ISO-8859-1 text), `null` for an
//!    optional field without one, absent otherwise; a default Avro would reject
//!    (e.g. a non-string-keyed map's) is dropped from the field, and kept in
//!    `connect.default`.
//! 7. Logical types: Connect `Decimal` (bytes) gets `"scale"` and `"precision"` (the
//!    `connect.decimal.precision` parameter, default 64) before the metadata and
//!    `"logicalType":"decimal"` after it; when the scale is negative or above the
//!    precision Avro's decimal is invalid and only the legacy `logicalType` property
//!    is written. `Date` → `"logicalType":"date"`, `Time` → `"time-millis"`,
//!    `Timestamp` → `"timestamp-millis"` (names compared ignoring case). Other named
//!    schemas (Debezium's `io.debezium.*`) are their base type with `connect.name`.
//! 8. A BYTES schema with a name and a `connect.fixed.size` parameter becomes a
//!    `fixed` of that size.
//! 9. Parameters whose key starts with `avro` are copied as schema properties.
//! 10. A struct named `io.confluent.connect.avro.Union`, or with the parameter
//!     `org.apache.kafka.connect.data.Union`, becomes the union of its fields' types
//!     (with `null` first when optional), without metadata.
//! 11. A named type met again is written as a reference; when a field's schema is a
//!     named type seen before and has parameters, the field carries them as
//!     `connect.parameters`.
//! 12. Record, fixed and field names must be Avro names (a letter or `_`, then
//!     letters, digits or `_`; Avro Java accepts Unicode letters).
//!
//! Where this knowingly differs: two *different* types with one full name are an
//! error here (Avro Java writes the second as a reference to the first, so the
//! registered schema would not describe the bytes), and so is an optional struct
//! with a non-null default reached through a name seen before (Confluent puts
//! `null` last there and first everywhere else). Kafka Connect's `Variant` struct
//! is not supported.

use std::collections::{HashMap, HashSet};

use crate::connect::{Field, Schema, SchemaKind, Value};

use super::props::Json;
use super::schema::{is_valid_default, AvroField, AvroKind, AvroSchema, Name};
use super::AvroError;

/// The namespace of the converter's own names.
pub const NAMESPACE: &str = "io.confluent.connect.avro";
pub const DEFAULT_SCHEMA_NAME: &str = "ConnectDefault";
pub const MAP_ENTRY_TYPE_NAME: &str = "MapEntry";

pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub const DATE: &str = "org.apache.kafka.connect.data.Date";
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
const VARIANT: &str = "org.apache.kafka.connect.data.Variant";
const UNION_NAME: &str = "io.confluent.connect.avro.Union";
const UNION_PARAMETER: &str = "org.apache.kafka.connect.data.Union";

const FIXED_SIZE: &str = "connect.fixed.size";
const DECIMAL_PRECISION: &str = "connect.decimal.precision";
const DEFAULT_DECIMAL_PRECISION: i64 = 64;
const RECORD_DOC: &str = "io.confluent.connect.avro.record.doc";
const FIELD_DOC_PREFIX: &str = "io.confluent.connect.avro.field.doc.";
const FIELD_DEFAULT_FLAG: &str = "io.confluent.connect.avro.field.default";

/// The `AvroData` settings that change schemas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvroData {
    /// `connect.meta.data`: write the `connect.*` properties (rule 4).
    pub connect_meta_data: bool,
}

impl Default for AvroData {
    fn default() -> Self {
        AvroData {
            connect_meta_data: true,
        }
    }
}

impl AvroData {
    /// The Avro schema Confluent's converter registers for `schema`.
    pub fn from_connect_schema(&self, schema: &Schema) -> Result<AvroSchema, AvroError> {
        let mut context = Context {
            settings: *self,
            converted: Vec::new(),
            named: HashMap::new(),
            struct_names: HashMap::new(),
            default_name_index: 0,
            seen_field_type_names: HashSet::new(),
        };
        context.convert(schema, "", false)
    }
}

/// The schema's default, unless it is absent or null (Connect has no null default).
pub(crate) fn default_of(schema: &Schema) -> Option<&Value> {
    schema.default.as_ref().filter(|d| !d.is_null())
}

/// Rule 10: a struct that stands for an Avro union.
pub(crate) fn is_union_struct(schema: &Schema) -> bool {
    matches!(schema.kind, SchemaKind::Struct(_))
        && (schema.name.as_deref() == Some(UNION_NAME)
            || schema.parameter(UNION_PARAMETER).is_some())
}

/// Rule 5: whether `null` is the first branch of an optional schema's union.
pub(crate) fn null_is_first(schema: &Schema) -> bool {
    matches!(schema.kind, SchemaKind::Struct(_)) || default_of(schema).is_none()
}

/// Rule 2: whether a map is an Avro `map` (else an array of key/value records).
pub(crate) fn is_avro_map(keys: &Schema) -> bool {
    matches!(keys.kind, SchemaKind::String) && !keys.optional
}

/// Rule 8: the size of a BYTES schema that is an Avro `fixed`.
pub(crate) fn fixed_size(schema: &Schema) -> Option<Result<usize, String>> {
    if !matches!(schema.kind, SchemaKind::Bytes) || schema.name.is_none() {
        return None;
    }
    let size = schema.parameter(FIXED_SIZE)?;
    Some(
        size.parse::<i32>()
            .ok()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| format!("{FIXED_SIZE} is {size:?}, not a size")),
    )
}

pub(crate) fn is_decimal(schema: &Schema) -> bool {
    schema
        .name
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case(DECIMAL))
}

/// Where a named type came from, to tell a repeated type from a clash of names.
#[derive(Debug, PartialEq)]
enum Origin {
    Struct(Vec<Field>),
    MapEntry(Box<(Schema, Schema)>),
    Fixed(usize),
}

struct Context {
    settings: AvroData,
    /// Confluent's `schemaMap`: non-optional schemas already converted.
    converted: Vec<(Schema, AvroSchema)>,
    /// Named types by full name.
    named: HashMap<String, (Origin, AvroSchema)>,
    /// Confluent's `cycleReferences`: struct records by Connect name.
    struct_names: HashMap<String, Name>,
    default_name_index: u32,
    /// Confluent's `seenNamedTypes`: the names of field schemas met so far.
    seen_field_type_names: HashSet<String>,
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl Context {
    fn convert(
        &mut self,
        schema: &Schema,
        path: &str,
        ignore_optional: bool,
    ) -> Result<AvroSchema, AvroError> {
        let union = is_union_struct(schema);
        if !union && !schema.optional {
            if let Some((_, hit)) = self.converted.iter().find(|(s, _)| s == schema) {
                return Ok(hit.clone());
            }
        }
        let mut connect_type = None;
        let mut cacheable = false;
        let mut base: AvroSchema = match &schema.kind {
            SchemaKind::Int8 => {
                connect_type = Some("int8");
                AvroKind::Int.into()
            }
            SchemaKind::Int16 => {
                connect_type = Some("int16");
                AvroKind::Int.into()
            }
            SchemaKind::Int32 => AvroKind::Int.into(),
            SchemaKind::Int64 => AvroKind::Long.into(),
            SchemaKind::Float32 => AvroKind::Float.into(),
            SchemaKind::Float64 => AvroKind::Double.into(),
            SchemaKind::Boolean => AvroKind::Boolean.into(),
            SchemaKind::String => AvroKind::String.into(),
            SchemaKind::Bytes => self.bytes(schema, path, &mut cacheable)?,
            SchemaKind::Array(items) => AvroKind::Array(Box::new(self.convert_with_cycle(
                items,
                &child(path, "[]"),
                false,
            )?))
            .into(),
            SchemaKind::Map { keys, values } if is_avro_map(keys) => AvroKind::Map(Box::new(
                self.convert_with_cycle(values, &child(path, "{}"), false)?,
            ))
            .into(),
            SchemaKind::Map { keys, values } => {
                cacheable = true;
                self.map_entries(schema, keys, values, path)?
            }
            SchemaKind::Struct(fields) => {
                if schema.name.as_deref() == Some(VARIANT) {
                    return Err(AvroError::schema(
                        path,
                        "Connect's Variant type is not supported",
                    ));
                }
                if union {
                    return self.union(schema, fields, path);
                }
                if schema.optional {
                    let inner = self.convert_with_cycle(&non_optional(schema), path, false)?;
                    return Ok(AvroKind::Union(vec![AvroSchema::null(), inner]).into());
                }
                cacheable = true;
                self.record(schema, fields, path)?
            }
        };

        if !matches!(base.kind, AvroKind::Ref(_)) {
            if self.settings.connect_meta_data {
                self.add_metadata(schema, &mut base, connect_type, path)?;
            }
            add_logical_type(schema, &mut base, path)?;
            for (key, value) in &schema.parameters {
                if key.starts_with("avro") {
                    let value = Json::string(value.as_str());
                    if base.prop(key).is_some_and(|old| *old != value) {
                        return Err(AvroError::schema(
                            path,
                            format!("property {key} is set twice"),
                        ));
                    }
                    base.add_prop(key, value);
                }
            }
        }
        let result = if ignore_optional {
            base
        } else {
            make_optional(schema, base)
        };
        if cacheable && !schema.optional {
            self.converted.push((schema.clone(), result.clone()));
        }
        Ok(result)
    }

    /// Confluent's `fromConnectSchemaWithCycle`: a struct whose name was converted
    /// before is a reference to that record.
    fn convert_with_cycle(
        &mut self,
        schema: &Schema,
        path: &str,
        ignore_optional: bool,
    ) -> Result<AvroSchema, AvroError> {
        let known = match (&schema.kind, &schema.name) {
            (SchemaKind::Struct(fields), Some(connect_name)) => self
                .struct_names
                .get(connect_name)
                .map(|name| (fields, name.clone())),
            _ => None,
        };
        let Some((fields, name)) = known else {
            return self.convert(schema, path, ignore_optional);
        };
        match self.named.get(&name.full_name()) {
            Some((Origin::Struct(first), _)) if first == fields => {}
            _ => {
                return Err(AvroError::schema(
                    path,
                    format!("two different structs are named {}", name.full_name()),
                ))
            }
        }
        // Confluent makes this union with maybeMakeOptional, which puts null last
        // for a schema with a default; an optional struct is null-first everywhere
        // else, and the encoder relies on that.
        if schema.optional && !ignore_optional && default_of(schema).is_some() {
            return Err(AvroError::schema(
                path,
                "an optional struct with a default, met again by name: Confluent's converter would put null last here and first elsewhere",
            ));
        }
        let reference = AvroKind::Ref(name).into();
        Ok(if ignore_optional {
            reference
        } else {
            make_optional(schema, reference)
        })
    }

    fn bytes(
        &mut self,
        schema: &Schema,
        path: &str,
        cacheable: &mut bool,
    ) -> Result<AvroSchema, AvroError> {
        let mut base: AvroSchema = match fixed_size(schema) {
            Some(size) => {
                let size = size.map_err(|e| AvroError::schema(path, e))?;
                *cacheable = true;
                let name = self.name_or_default(schema.name.as_deref(), path)?;
                let fixed = AvroKind::Fixed {
                    name: name.clone(),
                    doc: None,
                    size,
                    aliases: Vec::new(),
                }
                .into();
                self.define(name, Origin::Fixed(size), fixed, path)?
            }
            None => AvroKind::Bytes.into(),
        };
        if is_decimal(schema) && !matches!(base.kind, AvroKind::Ref(_)) {
            let scale = schema
                .parameter("scale")
                .and_then(|s| s.parse::<i32>().ok())
                .ok_or_else(|| {
                    AvroError::schema(path, "a Decimal without an integer scale parameter")
                })?;
            base.add_prop("scale", Json::Int(i64::from(scale)));
            base.add_prop("precision", Json::Int(decimal_precision(schema, path)?));
        }
        Ok(base)
    }

    fn map_entries(
        &mut self,
        schema: &Schema,
        keys: &Schema,
        values: &Schema,
        path: &str,
    ) -> Result<AvroSchema, AvroError> {
        let (name, props) = match schema.name.as_deref() {
            None => (
                Name::new(MAP_ENTRY_TYPE_NAME, Some(NAMESPACE.to_owned())),
                Vec::new(),
            ),
            Some(connect_name) => (
                self.name_or_default(Some(connect_name), path)?,
                vec![(
                    "connect.internal.type".to_owned(),
                    Json::string(MAP_ENTRY_TYPE_NAME),
                )],
            ),
        };
        let fields = vec![
            self.field("key", keys, None, &child(path, "key"))?,
            self.field("value", values, None, &child(path, "value"))?,
        ];
        let record = AvroSchema {
            kind: AvroKind::Record {
                name: name.clone(),
                doc: None,
                fields,
                aliases: Vec::new(),
            },
            props,
        };
        let origin = Origin::MapEntry(Box::new((keys.clone(), values.clone())));
        let entry = self.define(name, origin, record, path)?;
        Ok(AvroKind::Array(Box::new(entry)).into())
    }

    fn record(
        &mut self,
        schema: &Schema,
        fields: &[Field],
        path: &str,
    ) -> Result<AvroSchema, AvroError> {
        let name = self.name_or_default(schema.name.as_deref(), path)?;
        if let Some(connect_name) = &schema.name {
            self.struct_names.insert(connect_name.clone(), name.clone());
        }
        let mut avro_fields = Vec::with_capacity(fields.len());
        for field in fields {
            let doc = schema
                .parameter(&format!("{FIELD_DOC_PREFIX}{}", field.name))
                .map(str::to_owned);
            avro_fields.push(self.field(
                &field.name,
                &field.schema,
                doc,
                &child(path, &field.name),
            )?);
        }
        let record = AvroKind::Record {
            name: name.clone(),
            doc: schema.parameter(RECORD_DOC).map(str::to_owned),
            fields: avro_fields,
            aliases: Vec::new(),
        }
        .into();
        self.define(name, Origin::Struct(fields.to_vec()), record, path)
    }

    fn union(
        &mut self,
        schema: &Schema,
        fields: &[Field],
        path: &str,
    ) -> Result<AvroSchema, AvroError> {
        let mut branches = Vec::with_capacity(fields.len() + 1);
        if schema.optional {
            branches.push(AvroSchema::null());
        }
        for field in fields {
            let branch = self.convert_with_cycle(
                &non_optional(&field.schema),
                &child(path, &field.name),
                true,
            )?;
            if matches!(branch.kind, AvroKind::Union(_)) {
                return Err(AvroError::schema(path, "a union directly inside a union"));
            }
            if branches
                .iter()
                .any(|b: &AvroSchema| b.branch_name() == branch.branch_name())
            {
                return Err(AvroError::schema(
                    path,
                    format!("{} appears twice in the union", branch.branch_name()),
                ));
            }
            branches.push(branch);
        }
        Ok(AvroKind::Union(branches).into())
    }

    /// Confluent's `addAvroRecordField`.
    fn field(
        &mut self,
        name: &str,
        schema: &Schema,
        doc: Option<String>,
        path: &str,
    ) -> Result<AvroField, AvroError> {
        validate_name(name).map_err(|reason| AvroError::schema(path, reason))?;
        let mut default = match default_of(schema) {
            Some(value) => Some(jackson_round_trip(default_json(schema, value, path)?)),
            None if schema.optional => Some(Json::Null),
            None => None,
        };
        let already_seen = schema
            .name
            .as_ref()
            .is_some_and(|n| !self.seen_field_type_names.insert(n.clone()));
        let avro = self.convert(schema, path, false)?;
        if let Some(value) = &default {
            let named = &self.named;
            let resolve = |n: &Name| named.get(&n.full_name()).map(|(_, definition)| definition);
            if !is_valid_default(&avro, value, &resolve) {
                default = None;
            }
        }
        let mut field = AvroField::new(name, avro);
        field.doc = doc;
        field.default = default;
        if self.settings.connect_meta_data
            && already_seen
            && field.schema.is_named_or_has_named_branch()
        {
            if let Some(parameters) = parameters_json(schema) {
                field
                    .props
                    .push(("connect.parameters".to_owned(), parameters));
            }
        }
        Ok(field)
    }

    fn add_metadata(
        &self,
        schema: &Schema,
        base: &mut AvroSchema,
        connect_type: Option<&str>,
        path: &str,
    ) -> Result<(), AvroError> {
        if let Some(doc) = &schema.doc {
            base.add_prop("connect.doc", Json::string(doc.as_str()));
        }
        if let Some(version) = schema.version {
            base.add_prop("connect.version", Json::Int(i64::from(version)));
        }
        if let Some(parameters) = parameters_json(schema) {
            base.add_prop("connect.parameters", parameters);
        }
        if let Some(default) = default_of(schema) {
            if schema.parameter(FIELD_DEFAULT_FLAG).is_none() {
                base.add_prop("connect.default", default_json(schema, default, path)?);
            }
        }
        if let Some(name) = &schema.name {
            base.add_prop("connect.name", Json::string(name.as_str()));
        }
        if let Some(connect_type) = connect_type {
            base.add_prop("connect.type", Json::string(connect_type));
        }
        Ok(())
    }

    /// Confluent's `getNameOrDefault`, with Avro's checks on the result.
    fn name_or_default(
        &mut self,
        connect_name: Option<&str>,
        path: &str,
    ) -> Result<Name, AvroError> {
        let name = match connect_name {
            Some(full) => split_name(full).map_err(|reason| AvroError::schema(path, reason))?,
            None => {
                self.default_name_index += 1;
                let suffix = match self.default_name_index {
                    1 => String::new(),
                    n => n.to_string(),
                };
                Name::new(
                    format!("{DEFAULT_SCHEMA_NAME}{suffix}"),
                    Some(NAMESPACE.to_owned()),
                )
            }
        };
        validate_name(&name.name).map_err(|reason| AvroError::schema(path, reason))?;
        let primitives = [
            "null", "boolean", "int", "long", "float", "double", "bytes", "string",
        ];
        if primitives.contains(&name.full_name().as_str()) {
            return Err(AvroError::schema(
                path,
                format!("a named type may not be called {}", name.full_name()),
            ));
        }
        Ok(name)
    }

    /// Registers a named type, or returns a reference when the same type was
    /// defined before under this name.
    fn define(
        &mut self,
        name: Name,
        origin: Origin,
        definition: AvroSchema,
        path: &str,
    ) -> Result<AvroSchema, AvroError> {
        let full = name.full_name();
        match self.named.get(&full) {
            Some((first, _)) if *first == origin => Ok(AvroKind::Ref(name).into()),
            Some(_) => Err(AvroError::schema(
                path,
                format!("two different types are named {full}"),
            )),
            None => {
                self.named.insert(full, (origin, definition.clone()));
                Ok(definition)
            }
        }
    }
}

fn non_optional(schema: &Schema) -> Schema {
    let mut copy = schema.clone();
    copy.optional = false;
    copy
}

fn make_optional(schema: &Schema, base: AvroSchema) -> AvroSchema {
    if !schema.optional {
        base
    } else if default_of(schema).is_some() {
        AvroKind::Union(vec![base, AvroSchema::null()]).into()
    } else {
        AvroKind::Union(vec![AvroSchema::null(), base]).into()
    }
}

fn decimal_precision(schema: &Schema, path: &str) -> Result<i64, AvroError> {
    match schema.parameter(DECIMAL_PRECISION) {
        None => Ok(DEFAULT_DECIMAL_PRECISION),
        Some(p) => p.parse::<i32>().map(i64::from).map_err(|_| {
            AvroError::schema(
                path,
                format!("{DECIMAL_PRECISION} is {p:?}, not an integer"),
            )
        }),
    }
}

/// Rule 7, after the metadata: the logical type, and its checks by Avro Java.
fn add_logical_type(schema: &Schema, base: &mut AvroSchema, path: &str) -> Result<(), AvroError> {
    let Some(name) = schema.name.as_deref() else {
        return Ok(());
    };
    let base_is = |kinds: &[&str]| kinds.contains(&base.type_name());
    let logical = if name.eq_ignore_ascii_case(DECIMAL) {
        let precision = decimal_precision(schema, path)?;
        let scale = schema
            .parameter("scale")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        let legacy = scale < 0 || scale > precision;
        if !legacy {
            if !base_is(&["bytes", "fixed"]) {
                return Err(AvroError::schema(path, "a Decimal must be bytes or fixed"));
            }
            if precision <= 0 {
                return Err(AvroError::schema(
                    path,
                    format!("invalid decimal precision {precision}"),
                ));
            }
            if let AvroKind::Fixed { size, .. } = base.kind {
                let max = max_fixed_precision(size);
                if precision > max {
                    return Err(AvroError::schema(
                        path,
                        format!("fixed({size}) cannot store {precision} digits (max {max})"),
                    ));
                }
            }
        }
        // Valid or not for Avro, a Decimal carries `"logicalType":"decimal"`: from
        // Avro's own decimal type, or from Confluent's legacy property.
        "decimal"
    } else if name.eq_ignore_ascii_case(DATE) {
        if !base_is(&["int"]) {
            return Err(AvroError::schema(
                path,
                "Date can only be used with an underlying int type",
            ));
        }
        "date"
    } else if name.eq_ignore_ascii_case(TIME) {
        if !base_is(&["int"]) {
            return Err(AvroError::schema(
                path,
                "Time (millis) can only be used with an underlying int type",
            ));
        }
        "time-millis"
    } else if name.eq_ignore_ascii_case(TIMESTAMP) {
        if !base_is(&["long"]) {
            return Err(AvroError::schema(
                path,
                "Timestamp (millis) can only be used with an underlying long type",
            ));
        }
        "timestamp-millis"
    } else {
        return Ok(());
    };
    base.add_prop("logicalType", Json::string(logical));
    Ok(())
}

/// The most decimal digits a two's-complement `fixed(size)` holds (Avro Java's
/// `LogicalTypes.Decimal.maxPrecision`).
fn max_fixed_precision(size: usize) -> i64 {
    if size == 0 {
        return 0;
    }
    ((8.0 * size as f64 - 1.0) * std::f64::consts::LN_2 / std::f64::consts::LN_10).floor() as i64
}

/// `connect.parameters`: every parameter but Confluent's own default flag, or
/// nothing when none is left.
fn parameters_json(schema: &Schema) -> Option<Json> {
    let members: Vec<(String, Json)> = schema
        .parameters
        .iter()
        .filter(|(k, _)| k != FIELD_DEFAULT_FLAG)
        .map(|(k, v)| (k.clone(), Json::string(v.as_str())))
        .collect();
    (!members.is_empty()).then_some(Json::Object(members))
}

/// Confluent's `defaultValueFromConnect`: a Connect value in Avro's JSON form.
fn default_json(schema: &Schema, value: &Value, path: &str) -> Result<Json, AvroError> {
    let mismatch = || {
        AvroError::schema(
            path,
            format!("a default that is not a {} value", schema.schema_type()),
        )
    };
    Ok(match (&schema.kind, value) {
        (_, Value::Null) => Json::Null,
        (SchemaKind::Int8, Value::Int8(v)) => Json::Int(i64::from(*v)),
        (SchemaKind::Int16, Value::Int16(v)) => Json::Int(i64::from(*v)),
        (SchemaKind::Int32, Value::Int32(v)) => Json::Int(i64::from(*v)),
        (SchemaKind::Int64, Value::Int64(v)) => Json::Int(*v),
        (SchemaKind::Float32, Value::Float32(v)) => Json::Float(*v),
        (SchemaKind::Float64, Value::Float64(v)) => Json::Double(*v),
        (SchemaKind::Boolean, Value::Boolean(v)) => Json::Bool(*v),
        (SchemaKind::String, Value::String(v)) => Json::string(v.as_str()),
        (SchemaKind::Bytes, Value::Bytes(v)) => {
            Json::String(v.iter().map(|&b| char::from(b)).collect())
        }
        (SchemaKind::Array(items), Value::Array(elements)) => Json::Array(
            elements
                .iter()
                .map(|e| default_json(items, e, path))
                .collect::<Result<_, _>>()?,
        ),
        (SchemaKind::Map { keys, values }, Value::Map(entries)) if is_avro_map(keys) => {
            let mut members: Vec<(String, Json)> = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let Value::String(key) = key else {
                    return Err(mismatch());
                };
                let value = default_json(values, value, path)?;
                match members.iter_mut().find(|(k, _)| k == key) {
                    Some(member) => member.1 = value,
                    None => members.push((key.clone(), value)),
                }
            }
            Json::Object(members)
        }
        (SchemaKind::Map { keys, values }, Value::Map(entries)) => Json::Array(
            entries
                .iter()
                .map(|(k, v)| {
                    Ok(Json::Array(vec![
                        default_json(keys, k, path)?,
                        default_json(values, v, path)?,
                    ]))
                })
                .collect::<Result<_, AvroError>>()?,
        ),
        (SchemaKind::Struct(fields), Value::Struct(values)) if fields.len() == values.len() => {
            let field_value = |field: &Field, value: &Value| {
                let value = if value.is_null() {
                    field.schema.default.as_ref().unwrap_or(value)
                } else {
                    value
                };
                default_json(&field.schema, value, path)
            };
            if is_union_struct(schema) {
                // Confluent returns the first member's default, null or not.
                return match fields.first().zip(values.first()) {
                    Some((field, value)) => field_value(field, value),
                    None => Ok(Json::Object(Vec::new())),
                };
            }
            Json::Object(
                fields
                    .iter()
                    .zip(values)
                    .map(|(f, v)| Ok((f.name.clone(), field_value(f, v)?)))
                    .collect::<Result<_, AvroError>>()?,
            )
        }
        _ => return Err(mismatch()),
    })
}

/// A field default goes through Avro Java's `JacksonUtils.toObject` and back, which
/// turns a float into a double (`12.2f` is written `12.199999809265137`).
fn jackson_round_trip(json: Json) -> Json {
    match json {
        Json::Float(f) => Json::Double(f64::from(f)),
        Json::Array(items) => Json::Array(items.into_iter().map(jackson_round_trip).collect()),
        Json::Object(members) => Json::Object(
            members
                .into_iter()
                .map(|(k, v)| (k, jackson_round_trip(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Confluent's `splitName`: namespace is everything before the last dot, split as
/// Java's `String.split("\\.")` does (trailing empty parts dropped).
fn split_name(full: &str) -> Result<Name, String> {
    let mut parts: Vec<&str> = full.split('.').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    match parts.as_slice() {
        [] if full.is_empty() => Err("empty name".to_owned()),
        [] => Err(format!("{full:?} is not a name")),
        [name] => Ok(Name::new(*name, None)),
        [namespace @ .., name] => Ok(Name::new(*name, Some(namespace.join(".")))),
    }
}

/// Avro Java's default name rule (`NameValidator.UTF_VALIDATOR`): a letter or `_`,
/// then letters, digits or `_`, where letters and digits may be any Unicode ones of
/// the Basic Multilingual Plane (Java checks UTF-16 units).
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("empty name".to_owned());
    };
    let bmp = |c: char| (c as u32) <= 0xFFFF;
    if !(first == '_' || (first.is_alphabetic() && bmp(first))) {
        return Err(format!("illegal initial character: {name}"));
    }
    if chars.any(|c| !(c == '_' || (c.is_alphanumeric() && bmp(c)))) {
        return Err(format!("illegal character in: {name}"));
    }
    Ok(())
}
