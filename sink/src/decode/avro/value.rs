//! An Avro datum ([`AvroValue`], read with the writer's schema) → the Connect value
//! of the schema [`super::schema::connect_schema`] made from it: the data half of
//! Confluent's `AvroData.toConnectData`. Walks the Avro schema beside the value, so
//! that unions, map-entry arrays and fixed decimals read as the Connect types they
//! stand for. Pure; a datum that does not fit (which the Avro decoder should have
//! refused) is an error, never a panic.

use pgcdc_schemas::avro::decode_connect::minimal_twos_complement;
use pgcdc_schemas::avro::{AvroKind, AvroSchema, AvroValue};
use pgcdc_schemas::connect::{Schema, SchemaKind, Value};

use super::schema::{is_map_entry, resolve, Names, DECIMAL, UNION};

/// The Connect value of `value`, written with `avro`, read as `connect`.
pub fn connect_value<'a>(
    avro: &'a AvroSchema,
    connect: &Schema,
    value: &AvroValue,
    names: &'a Names,
) -> Result<Value, String> {
    let avro = resolve(avro, names)?;
    let mismatch = || {
        format!(
            "an Avro {} value does not fit the Connect {} schema",
            avro.type_name(),
            connect.schema_type()
        )
    };
    if let (AvroKind::Union(branches), AvroValue::Union(index, inner)) = (&avro.kind, value) {
        let branch = branches
            .get(*index as usize)
            .ok_or_else(|| format!("union branch {index} of {}", branches.len()))?;
        if matches!(branch.kind, AvroKind::Null) {
            return Ok(Value::Null);
        }
        let optional_form =
            branches.len() == 2 && branches.iter().filter(|b| is_null(b)).count() == 1;
        if !optional_form {
            if connect.name.as_deref() != Some(UNION) {
                return Err(mismatch());
            }
            // One member of the union struct set: the index among non-null branches.
            let member = branches[..*index as usize]
                .iter()
                .filter(|b| !is_null(b))
                .count();
            let fields = connect.fields();
            let field = fields.get(member).ok_or_else(mismatch)?;
            let mut values = vec![Value::Null; fields.len()];
            values[member] = connect_value(branch, &field.schema, inner, names)?;
            return Ok(Value::Struct(values));
        }
        return connect_value(branch, connect, inner, names);
    }
    let narrow = |v: i32, what: &str| format!("{v} is out of range for {what}");
    Ok(match (&connect.kind, value) {
        (_, AvroValue::Null) => Value::Null,
        (SchemaKind::Boolean, AvroValue::Boolean(b)) => Value::Boolean(*b),
        (SchemaKind::Int8, AvroValue::Int(v)) => {
            Value::Int8(i8::try_from(*v).map_err(|_| narrow(*v, "int8"))?)
        }
        (SchemaKind::Int16, AvroValue::Int(v)) => {
            Value::Int16(i16::try_from(*v).map_err(|_| narrow(*v, "int16"))?)
        }
        (SchemaKind::Int32, AvroValue::Int(v)) => Value::Int32(*v),
        (SchemaKind::Int64, AvroValue::Long(v)) => Value::Int64(*v),
        (SchemaKind::Float32, AvroValue::Float(v)) => Value::Float32(*v),
        (SchemaKind::Float64, AvroValue::Double(v)) => Value::Float64(*v),
        (SchemaKind::String, AvroValue::String(s)) => Value::String(s.clone()),
        (SchemaKind::String, AvroValue::Enum { symbol, .. }) => Value::String(symbol.clone()),
        (SchemaKind::Bytes, AvroValue::Bytes(b)) => Value::Bytes(b.clone()),
        (SchemaKind::Bytes, AvroValue::Fixed(b)) => {
            Value::Bytes(if connect.name.as_deref() == Some(DECIMAL) {
                // Connect's decimal bytes are Java's BigInteger.toByteArray: no
                // sign-extension bytes that a fixed's width adds.
                minimal_twos_complement(b).to_vec()
            } else {
                b.clone()
            })
        }
        (SchemaKind::Array(items), AvroValue::Array(elements)) => {
            let AvroKind::Array(avro_items) = &avro.kind else {
                return Err(mismatch());
            };
            Value::Array(
                elements
                    .iter()
                    .map(|e| connect_value(avro_items, items, e, names))
                    .collect::<Result<_, _>>()?,
            )
        }
        (SchemaKind::Map { values, .. }, AvroValue::Map(entries)) => {
            let AvroKind::Map(avro_values) = &avro.kind else {
                return Err(mismatch());
            };
            Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| {
                        Ok((
                            Value::String(k.clone()),
                            connect_value(avro_values, values, v, names)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        (SchemaKind::Map { keys, values }, AvroValue::Array(entries)) => {
            let AvroKind::Array(avro_items) = &avro.kind else {
                return Err(mismatch());
            };
            let entry = resolve(avro_items, names)?;
            let AvroKind::Record { fields, .. } = &entry.kind else {
                return Err(mismatch());
            };
            if !is_map_entry(entry) {
                return Err(mismatch());
            }
            Value::Map(
                entries
                    .iter()
                    .map(|e| match e {
                        AvroValue::Record(pair) if pair.len() == 2 => Ok((
                            connect_value(&fields[0].schema, keys, &pair[0].1, names)?,
                            connect_value(&fields[1].schema, values, &pair[1].1, names)?,
                        )),
                        _ => Err(mismatch()),
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        (SchemaKind::Struct(fields), AvroValue::Record(values)) => {
            let AvroKind::Record {
                fields: avro_fields,
                ..
            } = &avro.kind
            else {
                return Err(mismatch());
            };
            if fields.len() != values.len() || avro_fields.len() != values.len() {
                return Err(mismatch());
            }
            Value::Struct(
                fields
                    .iter()
                    .zip(avro_fields)
                    .zip(values)
                    .map(|((field, avro_field), (_, v))| {
                        connect_value(&avro_field.schema, &field.schema, v, names)
                            .map_err(|e| format!("{}: {e}", field.name))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => return Err(mismatch()),
    })
}

fn is_null(schema: &AvroSchema) -> bool {
    matches!(schema.kind, AvroKind::Null)
}
