//! The hot path: a Connect value written straight to Avro binary, walking the
//! Connect schema it was built with. No Avro schema or value tree is consulted: the
//! Avro schema of [`super::from_connect`] is a function of the Connect schema, so
//! the few choices that shape the bytes (which union branch holds `null`, whether a
//! map is an Avro `map`, whether bytes are a `fixed`) are decided by the same
//! helpers there.
//!
//! What the bytes are (Avro specification, "Binary Encoding", as Avro Java's
//! `GenericDatumWriter` and `BinaryEncoder` write it):
//! - an optional value: the union branch index (a `long`), then the value;
//! - INT8/INT16/INT32 as a zig-zag `int`, INT64 as a `long`, floats little-endian,
//!   BOOLEAN one byte, STRING and BYTES length-prefixed, a `fixed` raw (a fixed
//!   Decimal sign-extended to its size, as Confluent pads it);
//! - an array or map: one block with the item count, the items, then a 0 (an empty
//!   one is just the 0); map keys are strings; a map with other keys is an array of
//!   `{key, value}` records;
//! - a struct: its fields in order. A null field whose schema has a default is
//!   written as the default (Connect's `Struct.get`), unless
//!   `ignore.default.for.nullables=true`.

use crate::connect::{Schema, SchemaKind, SchemaType, Value};

use super::binary::{write_bytes, write_double, write_float, write_int, write_long};
use super::from_connect::{fixed_size, is_avro_map, is_decimal, is_union_struct, null_is_first};

/// A value that does not fit its schema: the cases Confluent's converter rejects with
/// a `DataException`. `path` locates the value (`after.amount`, `tags[2]`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("null value for {path}, which is required and has no default")]
    RequiredNull { path: String },
    #[error("{path}: a {found} value where the schema wants {expected}")]
    TypeMismatch {
        path: String,
        expected: SchemaType,
        found: &'static str,
    },
    #[error("{path}: the struct has {found} values for {expected} fields")]
    FieldCount {
        path: String,
        expected: usize,
        found: usize,
    },
    #[error("{path}: {found} bytes do not fit fixed({size})")]
    FixedSize {
        path: String,
        size: usize,
        found: usize,
    },
    #[error("{path}: {reason}")]
    InvalidSchema { path: String, reason: String },
    /// A null record is a tombstone: Confluent's serializer writes no bytes for it.
    #[error("a null record has no Avro bytes (it is a tombstone)")]
    NullRecord,
    /// Schemaless Connect data (Confluent's `io.confluent.connect.avro.Anything`).
    #[error("a record without a schema: schemaless data is not supported")]
    Schemaless,
}

impl EncodeError {
    fn path_mut(&mut self) -> Option<&mut String> {
        match self {
            EncodeError::RequiredNull { path }
            | EncodeError::TypeMismatch { path, .. }
            | EncodeError::FieldCount { path, .. }
            | EncodeError::FixedSize { path, .. }
            | EncodeError::InvalidSchema { path, .. } => Some(path),
            EncodeError::NullRecord | EncodeError::Schemaless => None,
        }
    }

    /// Puts `segment` (a field name, or `[i]`) in front of the path.
    fn within(mut self, segment: &str) -> EncodeError {
        let Some(path) = self.path_mut() else {
            return self;
        };
        *path = if path.is_empty() {
            segment.to_owned()
        } else if path.starts_with('[') {
            format!("{segment}{path}")
        } else {
            format!("{segment}.{path}")
        };
        self
    }
}

/// The value-conversion settings of Confluent's `AvroData` that change bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatumWriter {
    /// `ignore.default.for.nullables`: write a null field as null even when its
    /// schema has a default.
    pub ignore_default_for_nullables: bool,
}

impl DatumWriter {
    /// Appends the Avro binary of `value` (of `schema`) to `out`. `root` names the
    /// value in error paths (`"key"`, `"value"`). On error, `out` may hold part of
    /// the value.
    pub fn write(
        &self,
        schema: &Schema,
        value: &Value,
        root: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.value(schema, value, out).map_err(|e| e.within(root))
    }

    fn value(&self, schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if schema.optional {
            let null_first = null_is_first(schema);
            if value.is_null() {
                write_long(if null_first { 0 } else { 1 }, out);
                return Ok(());
            }
            if is_union_struct(schema) {
                return self.union(schema, value, 1, out);
            }
            write_long(if null_first { 1 } else { 0 }, out);
        } else if value.is_null() {
            return Err(EncodeError::RequiredNull {
                path: String::new(),
            });
        }
        self.present(schema, value, out)
    }

    /// A non-null value, without the union wrapper of an optional schema.
    fn present(
        &self,
        schema: &Schema,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match (&schema.kind, value) {
            (SchemaKind::Int8, Value::Int8(v)) => write_int(i32::from(*v), out),
            (SchemaKind::Int16, Value::Int16(v)) => write_int(i32::from(*v), out),
            (SchemaKind::Int32, Value::Int32(v)) => write_int(*v, out),
            (SchemaKind::Int64, Value::Int64(v)) => write_long(*v, out),
            (SchemaKind::Float32, Value::Float32(v)) => write_float(*v, out),
            (SchemaKind::Float64, Value::Float64(v)) => write_double(*v, out),
            (SchemaKind::Boolean, Value::Boolean(v)) => out.push(u8::from(*v)),
            (SchemaKind::String, Value::String(v)) => write_bytes(v.as_bytes(), out),
            (SchemaKind::Bytes, Value::Bytes(v)) => match fixed_size(schema) {
                None => write_bytes(v, out),
                Some(size) => write_fixed(schema, size, v, out)?,
            },
            (SchemaKind::Array(items), Value::Array(elements)) => {
                if !elements.is_empty() {
                    write_long(elements.len() as i64, out);
                    for (i, element) in elements.iter().enumerate() {
                        self.value(items, element, out)
                            .map_err(|e| e.within(&format!("[{i}]")))?;
                    }
                }
                out.push(0);
            }
            (SchemaKind::Map { keys, values }, Value::Map(entries)) => {
                if !entries.is_empty() {
                    write_long(entries.len() as i64, out);
                    let avro_map = is_avro_map(keys);
                    for (key, value) in entries {
                        if avro_map {
                            match key {
                                Value::String(key) => write_bytes(key.as_bytes(), out),
                                other => return Err(mismatch(keys, other).within("{key}")),
                            }
                        } else {
                            self.value(keys, key, out).map_err(|e| e.within("{key}"))?;
                        }
                        self.value(values, value, out)
                            .map_err(|e| e.within("{value}"))?;
                    }
                }
                out.push(0);
            }
            (SchemaKind::Struct(fields), Value::Struct(values)) => {
                if is_union_struct(schema) {
                    return self.union(schema, value, 0, out);
                }
                if fields.len() != values.len() {
                    return Err(EncodeError::FieldCount {
                        path: String::new(),
                        expected: fields.len(),
                        found: values.len(),
                    });
                }
                for (field, value) in fields.iter().zip(values) {
                    let value = self.field_value(&field.schema, value);
                    self.value(&field.schema, value, out)
                        .map_err(|e| e.within(&field.name))?;
                }
            }
            (_, other) => return Err(mismatch(schema, other)),
        }
        Ok(())
    }

    /// Connect's `Struct.get`: a null field reads as its schema's default.
    #[inline]
    fn field_value<'v>(&self, schema: &'v Schema, value: &'v Value) -> &'v Value {
        match (&schema.default, value) {
            (Some(default), Value::Null) if !self.ignore_default_for_nullables => default,
            _ => value,
        }
    }

    /// A union struct: the branch of its first non-null field (`offset` is 1 when
    /// the union starts with `null`).
    fn union(
        &self,
        schema: &Schema,
        value: &Value,
        offset: i64,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let (SchemaKind::Struct(fields), Value::Struct(values)) = (&schema.kind, value) else {
            return Err(mismatch(schema, value));
        };
        if fields.len() != values.len() {
            return Err(EncodeError::FieldCount {
                path: String::new(),
                expected: fields.len(),
                found: values.len(),
            });
        }
        for (i, (field, value)) in fields.iter().zip(values).enumerate() {
            let value = self.field_value(&field.schema, value);
            if !value.is_null() {
                write_long(offset + i as i64, out);
                return self
                    .present(&field.schema, value, out)
                    .map_err(|e| e.within(&field.name));
            }
        }
        if offset == 1 {
            write_long(0, out);
            Ok(())
        } else {
            Err(EncodeError::RequiredNull {
                path: String::new(),
            })
        }
    }
}

fn write_fixed(
    schema: &Schema,
    size: Result<usize, String>,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let size = size.map_err(|reason| EncodeError::InvalidSchema {
        path: String::new(),
        reason,
    })?;
    let too_long = || EncodeError::FixedSize {
        path: String::new(),
        size,
        found: bytes.len(),
    };
    if bytes.len() == size {
        out.extend_from_slice(bytes);
    } else if is_decimal(schema) && bytes.len() < size {
        // The unscaled value, sign-extended to the fixed size.
        let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            0xFF
        } else {
            0x00
        };
        out.extend(std::iter::repeat_n(fill, size - bytes.len()));
        out.extend_from_slice(bytes);
    } else {
        return Err(too_long());
    }
    Ok(())
}

fn mismatch(schema: &Schema, value: &Value) -> EncodeError {
    EncodeError::TypeMismatch {
        path: String::new(),
        expected: schema.schema_type(),
        found: variant_name(value),
    }
}

pub(crate) fn variant_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int8(_) => "int8",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
    }
}

#[cfg(test)]
mod tests;
