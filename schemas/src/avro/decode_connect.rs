//! Avro binary read back into a Connect [`Value`] with the Connect schema it was
//! written from: the inverse of [`super::encode`], for tests and tools that know the
//! table's schemas. Fields written as their default read back as the default; a
//! fixed Decimal reads back as its minimal two's-complement bytes (what Java's
//! `BigInteger.toByteArray` gives), which is what Connect values hold.
//!
//! Like [`super::decode`], it never trusts the bytes: counts are checked against
//! the input before allocating, and every failure is a [`DecodeError`].

use crate::connect::{Schema, SchemaKind, Value};

use super::binary::Reader;
use super::decode::{checked_block, DecodeError};
use super::from_connect::{fixed_size, is_avro_map, is_decimal, is_union_struct, null_is_first};

/// Reads one datum of `schema` that fills all of `bytes`.
pub fn decode_connect_datum(schema: &Schema, bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut zero_size_items = 0;
    let value = read(schema, &mut reader, &mut zero_size_items)?;
    if reader.remaining() > 0 {
        return Err(reader.error(format!("{} bytes after the datum", reader.remaining())));
    }
    Ok(value)
}

fn read(schema: &Schema, reader: &mut Reader<'_>, zero: &mut usize) -> Result<Value, DecodeError> {
    if schema.optional {
        let start = reader.position();
        let index = reader.long()?;
        let out_of_range = || DecodeError {
            offset: start,
            reason: format!(
                "union index {index} for an optional {}",
                schema.schema_type()
            ),
        };
        if is_union_struct(schema) {
            return match index {
                0 => Ok(Value::Null),
                i if i > 0 => union_member(schema, i - 1, reader, zero),
                _ => Err(out_of_range()),
            };
        }
        let null_index = if null_is_first(schema) { 0 } else { 1 };
        if index == null_index {
            return Ok(Value::Null);
        }
        if index != 1 - null_index {
            return Err(out_of_range());
        }
    }
    present(schema, reader, zero)
}

fn present(
    schema: &Schema,
    reader: &mut Reader<'_>,
    zero: &mut usize,
) -> Result<Value, DecodeError> {
    let narrow = |reader: &Reader<'_>, v: i32, what: &str| {
        reader.error(format!("{v} is out of range for {what}"))
    };
    Ok(match &schema.kind {
        SchemaKind::Int8 => {
            let v = reader.int()?;
            Value::Int8(i8::try_from(v).map_err(|_| narrow(reader, v, "int8"))?)
        }
        SchemaKind::Int16 => {
            let v = reader.int()?;
            Value::Int16(i16::try_from(v).map_err(|_| narrow(reader, v, "int16"))?)
        }
        SchemaKind::Int32 => Value::Int32(reader.int()?),
        SchemaKind::Int64 => Value::Int64(reader.long()?),
        SchemaKind::Float32 => Value::Float32(reader.float()?),
        SchemaKind::Float64 => Value::Float64(reader.double()?),
        SchemaKind::Boolean => Value::Boolean(reader.boolean()?),
        SchemaKind::String => Value::String(reader.string()?.to_owned()),
        SchemaKind::Bytes => match fixed_size(schema) {
            None => Value::Bytes(reader.bytes()?.to_vec()),
            Some(size) => {
                let size = size.map_err(|reason| reader.error(reason))?;
                let bytes = reader.take(size)?;
                Value::Bytes(if is_decimal(schema) {
                    minimal_twos_complement(bytes).to_vec()
                } else {
                    bytes.to_vec()
                })
            }
        },
        SchemaKind::Array(items) => {
            let min = min_size(items);
            let mut values = Vec::new();
            loop {
                let count = block(reader, min, zero)?;
                if count == 0 {
                    break;
                }
                values.reserve(count.min(reader.remaining()));
                for _ in 0..count {
                    values.push(read(items, reader, zero)?);
                }
            }
            Value::Array(values)
        }
        SchemaKind::Map { keys, values } => {
            let avro_map = is_avro_map(keys);
            let min = if avro_map { 1 } else { min_size(keys) } + min_size(values);
            let mut entries = Vec::new();
            loop {
                let count = block(reader, min, zero)?;
                if count == 0 {
                    break;
                }
                entries.reserve(count.min(reader.remaining()));
                for _ in 0..count {
                    let key = if avro_map {
                        Value::String(reader.string()?.to_owned())
                    } else {
                        read(keys, reader, zero)?
                    };
                    entries.push((key, read(values, reader, zero)?));
                }
            }
            Value::Map(entries)
        }
        SchemaKind::Struct(fields) => {
            if is_union_struct(schema) {
                let index = reader.long()?;
                return union_member(schema, index, reader, zero);
            }
            let mut values = Vec::with_capacity(fields.len());
            for field in fields {
                values.push(read(&field.schema, reader, zero)?);
            }
            Value::Struct(values)
        }
    })
}

/// A union struct with only the `index`th field set.
fn union_member(
    schema: &Schema,
    index: i64,
    reader: &mut Reader<'_>,
    zero: &mut usize,
) -> Result<Value, DecodeError> {
    let fields = schema.fields();
    let i = usize::try_from(index)
        .ok()
        .filter(|&i| i < fields.len())
        .ok_or_else(|| reader.error(format!("union index {index} of {} members", fields.len())))?;
    let member = present(&fields[i].schema, reader, zero)?;
    let mut values = vec![Value::Null; fields.len()];
    values[i] = member;
    Ok(Value::Struct(values))
}

fn block(reader: &mut Reader<'_>, min_size: usize, zero: &mut usize) -> Result<usize, DecodeError> {
    checked_block(reader, zero, min_size)
}

/// The fewest bytes a value of `schema` takes.
fn min_size(schema: &Schema) -> usize {
    if schema.optional {
        return 1;
    }
    match &schema.kind {
        SchemaKind::Float32 => 4,
        SchemaKind::Float64 => 8,
        SchemaKind::Bytes => match fixed_size(schema) {
            Some(Ok(size)) => size,
            _ => 1,
        },
        SchemaKind::Struct(_) if is_union_struct(schema) => 1,
        SchemaKind::Struct(fields) => fields
            .iter()
            .map(|f| min_size(&f.schema))
            .fold(0, usize::saturating_add),
        _ => 1,
    }
}

/// Drops sign-extension bytes that do not change the value: Connect's decimal bytes
/// are Java's `BigInteger.toByteArray`, without the ones a fixed's width adds.
pub fn minimal_twos_complement(bytes: &[u8]) -> &[u8] {
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_twos_complement_as_java_writes_it() {
        assert_eq!(minimal_twos_complement(&[0, 0, 0x05]), &[0x05]);
        assert_eq!(minimal_twos_complement(&[0, 0, 0x80]), &[0x00, 0x80]);
        assert_eq!(minimal_twos_complement(&[0xff, 0xff, 0x80]), &[0x80]);
        assert_eq!(minimal_twos_complement(&[0xff, 0xff, 0x7f]), &[0xff, 0x7f]);
        assert_eq!(minimal_twos_complement(&[0, 0]), &[0]);
        assert_eq!(minimal_twos_complement(&[]), &[] as &[u8]);
    }
}
