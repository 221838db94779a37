//! A writer's Avro schema and its Connect form compiled, once per schema id, into a
//! [`Reading`]: the steps that read one datum straight into its Connect value. The
//! datum is read once, with no intermediate Avro value, no named-type lookups and no
//! string comparisons per record, which is what the sink spends most of its time on.
//!
//! The result is the one [`super::value::connect_value`] gives for the datum
//! [`pgcdc_schemas::avro::decode_datum_named`] reads (the tests hold the two to that),
//! errors included in kind: malformed bytes are a [`DecodeError`] with the offset,
//! a value that does not fit its Connect schema is an error naming the field. A
//! schema pair that can never fit compiles to a step that fails only when a datum
//! reaches it (a union branch never written costs nothing), as in the two-step path.
//!
//! The bytes come from outside: every count is checked against what is left of the
//! input before anything is allocated, items that take no bytes (nulls, empty
//! records) are bounded per datum, and nesting is bounded when compiling.

use pgcdc_schemas::avro::binary::Reader;
use pgcdc_schemas::avro::decode::{checked_block, min_size as avro_min_size, DecodeError};
use pgcdc_schemas::avro::decode_connect::minimal_twos_complement;
use pgcdc_schemas::avro::{AvroKind, AvroSchema};
use pgcdc_schemas::connect::{Schema, SchemaKind, Value};

use super::schema::{is_map_entry, resolve, Names, DECIMAL, UNION};

/// Deeper than any table's schema; schemas nested deeper are refused when compiled.
const MAX_DEPTH: usize = 128;

/// One step of reading a datum.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// An Avro `null`: Connect null, whatever the Connect type.
    Null,
    Boolean,
    /// An Avro `int` as INT8 or INT16 (range-checked) or INT32.
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    /// An Avro `enum` as its symbol.
    Symbol(Vec<String>),
    Bytes,
    /// An Avro `fixed`; a Connect decimal drops the sign extension a fixed width adds.
    Fixed {
        size: usize,
        decimal: bool,
    },
    Array {
        items: Box<Reading>,
        min_size: usize,
    },
    /// An Avro `map` (string keys).
    Map {
        values: Box<Reading>,
        min_size: usize,
    },
    /// An array of key/value records standing for a Connect map.
    Entries {
        key: Box<Reading>,
        value: Box<Reading>,
        min_size: usize,
    },
    /// A record's fields, in order, with their names for errors.
    Struct(Vec<(String, Reading)>),
    /// A union: per branch, where its value goes.
    Union(Vec<Branch>),
    /// Avro and Connect types that do not fit: reading a value here fails with this.
    Mismatch(String),
}

/// Where a union branch's value goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Branch {
    /// Connect null.
    Null,
    /// The value itself (a union of null and one type).
    Value(Reading),
    /// Member `member` of a Connect union struct of `width` fields.
    Member {
        member: usize,
        width: usize,
        reading: Reading,
    },
    /// Not readable as the Connect schema.
    Mismatch(String),
}

/// Compiles the reading of `avro` (with its named types) as `connect`.
pub fn compile(avro: &AvroSchema, connect: &Schema, names: &Names) -> Result<Reading, String> {
    compile_at(avro, connect, names, 0)
}

fn compile_at(
    avro: &AvroSchema,
    connect: &Schema,
    names: &Names,
    depth: usize,
) -> Result<Reading, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the schema nests deeper than {MAX_DEPTH}"));
    }
    let avro = resolve(avro, names)?;
    let why = || {
        format!(
            "an Avro {} value does not fit the Connect {} schema",
            avro.type_name(),
            connect.schema_type()
        )
    };
    let mismatch = || Reading::Mismatch(why());
    let next = depth + 1;
    Ok(match (&avro.kind, &connect.kind) {
        (AvroKind::Null, _) => Reading::Null,
        (AvroKind::Union(branches), _) => {
            let optional_form =
                branches.len() == 2 && branches.iter().filter(|b| is_null(b)).count() == 1;
            let union_struct = connect.name.as_deref() == Some(UNION);
            let fields = connect.fields();
            let mut member = 0;
            let mut compiled = Vec::with_capacity(branches.len());
            for branch in branches {
                let branch = resolve(branch, names)?;
                if is_null(branch) {
                    compiled.push(Branch::Null);
                    continue;
                }
                let this = member;
                member += 1;
                compiled.push(if optional_form {
                    Branch::Value(compile_at(branch, connect, names, next)?)
                } else {
                    match fields.get(this).filter(|_| union_struct) {
                        Some(field) => Branch::Member {
                            member: this,
                            width: fields.len(),
                            reading: compile_at(branch, &field.schema, names, next)?,
                        },
                        None => Branch::Mismatch(why()),
                    }
                });
            }
            Reading::Union(compiled)
        }
        (AvroKind::Boolean, SchemaKind::Boolean) => Reading::Boolean,
        (AvroKind::Int, SchemaKind::Int8) => Reading::Int8,
        (AvroKind::Int, SchemaKind::Int16) => Reading::Int16,
        (AvroKind::Int, SchemaKind::Int32) => Reading::Int32,
        (AvroKind::Long, SchemaKind::Int64) => Reading::Int64,
        (AvroKind::Float, SchemaKind::Float32) => Reading::Float32,
        (AvroKind::Double, SchemaKind::Float64) => Reading::Float64,
        (AvroKind::String, SchemaKind::String) => Reading::String,
        (AvroKind::Enum { symbols, .. }, SchemaKind::String) => Reading::Symbol(symbols.clone()),
        (AvroKind::Bytes, SchemaKind::Bytes) => Reading::Bytes,
        (AvroKind::Fixed { size, .. }, SchemaKind::Bytes) => Reading::Fixed {
            size: *size,
            decimal: connect.name.as_deref() == Some(DECIMAL),
        },
        (AvroKind::Array(items), SchemaKind::Array(connect_items)) => Reading::Array {
            items: Box::new(compile_at(items, connect_items, names, next)?),
            min_size: min_size(items, names),
        },
        (
            AvroKind::Map(values),
            SchemaKind::Map {
                values: connect_values,
                ..
            },
        ) => Reading::Map {
            values: Box::new(compile_at(values, connect_values, names, next)?),
            // A key takes at least its length byte.
            min_size: 1 + min_size(values, names),
        },
        (AvroKind::Array(items), SchemaKind::Map { keys, values }) => {
            let entry = resolve(items, names)?;
            match &entry.kind {
                AvroKind::Record { fields, .. } if is_map_entry(entry) => Reading::Entries {
                    key: Box::new(compile_at(&fields[0].schema, keys, names, next)?),
                    value: Box::new(compile_at(&fields[1].schema, values, names, next)?),
                    min_size: min_size(items, names),
                },
                _ => mismatch(),
            }
        }
        (
            AvroKind::Record {
                fields: avro_fields,
                ..
            },
            SchemaKind::Struct(fields),
        ) => {
            if fields.len() != avro_fields.len() {
                mismatch()
            } else {
                Reading::Struct(
                    fields
                        .iter()
                        .zip(avro_fields)
                        .map(|(field, avro_field)| {
                            Ok((
                                field.name.clone(),
                                compile_at(&avro_field.schema, &field.schema, names, next)?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                )
            }
        }
        _ => mismatch(),
    })
}

fn is_null(schema: &AvroSchema) -> bool {
    matches!(schema.kind, AvroKind::Null)
}

/// The fewest bytes a value of `schema` takes.
fn min_size(schema: &AvroSchema, names: &Names) -> usize {
    avro_min_size(schema, &|name| names.get(name), 0)
}

/// Why a datum could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The bytes are not Avro of the schema.
    Malformed(DecodeError),
    /// The value does not fit its Connect schema; the path names the field.
    Unfit(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Malformed(e) => e.fmt(f),
            ReadError::Unfit(why) => f.write_str(why),
        }
    }
}

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> ReadError {
        ReadError::Malformed(e)
    }
}

impl Reading {
    /// The Connect value of a datum that fills all of `bytes`.
    pub fn read_datum(&self, bytes: &[u8]) -> Result<Value, ReadError> {
        let mut datum = Datum {
            reader: Reader::new(bytes),
            zero_size_items: 0,
        };
        let value = self.read(&mut datum)?;
        let left = datum.reader.remaining();
        if left > 0 {
            return Err(datum
                .reader
                .error(format!("{left} bytes after the datum"))
                .into());
        }
        Ok(value)
    }

    fn read(&self, datum: &mut Datum<'_>) -> Result<Value, ReadError> {
        let reader = &mut datum.reader;
        Ok(match self {
            Reading::Null => Value::Null,
            Reading::Boolean => Value::Boolean(reader.boolean()?),
            Reading::Int8 => {
                let v = reader.int()?;
                Value::Int8(i8::try_from(v).map_err(|_| out_of_range(v, "int8"))?)
            }
            Reading::Int16 => {
                let v = reader.int()?;
                Value::Int16(i16::try_from(v).map_err(|_| out_of_range(v, "int16"))?)
            }
            Reading::Int32 => Value::Int32(reader.int()?),
            Reading::Int64 => Value::Int64(reader.long()?),
            Reading::Float32 => Value::Float32(reader.float()?),
            Reading::Float64 => Value::Float64(reader.double()?),
            Reading::String => Value::String(reader.string()?.to_owned()),
            Reading::Symbol(symbols) => {
                let start = reader.position();
                let index = reader.int()?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or_else(|| DecodeError {
                        offset: start,
                        reason: format!("enum index {index} of {} symbols", symbols.len()),
                    })?;
                Value::String(symbol.clone())
            }
            Reading::Bytes => Value::Bytes(reader.bytes()?.to_vec()),
            Reading::Fixed { size, decimal } => {
                let bytes = reader.take(*size)?;
                Value::Bytes(if *decimal {
                    minimal_twos_complement(bytes).to_vec()
                } else {
                    bytes.to_vec()
                })
            }
            Reading::Array { items, min_size } => {
                let mut values = Vec::new();
                loop {
                    let count = datum.block(*min_size)?;
                    if count == 0 {
                        break;
                    }
                    values.reserve(count.min(datum.reader.remaining()));
                    for _ in 0..count {
                        values.push(items.read(datum)?);
                    }
                }
                Value::Array(values)
            }
            Reading::Map { values, min_size } => {
                let mut entries = Vec::new();
                loop {
                    let count = datum.block(*min_size)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count.min(datum.reader.remaining()));
                    for _ in 0..count {
                        let key = datum.reader.string()?.to_owned();
                        entries.push((Value::String(key), values.read(datum)?));
                    }
                }
                Value::Map(entries)
            }
            Reading::Entries {
                key,
                value,
                min_size,
            } => {
                let mut entries = Vec::new();
                loop {
                    let count = datum.block(*min_size)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count.min(datum.reader.remaining()));
                    for _ in 0..count {
                        let k = key.read(datum)?;
                        entries.push((k, value.read(datum)?));
                    }
                }
                Value::Map(entries)
            }
            Reading::Struct(fields) => {
                let mut values = Vec::with_capacity(fields.len());
                for (name, reading) in fields {
                    values.push(reading.read(datum).map_err(|e| match e {
                        ReadError::Unfit(why) => ReadError::Unfit(format!("{name}: {why}")),
                        malformed => malformed,
                    })?);
                }
                Value::Struct(values)
            }
            Reading::Union(branches) => {
                let start = reader.position();
                let index = reader.long()?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| DecodeError {
                        offset: start,
                        reason: format!("union index {index} of {} branches", branches.len()),
                    })?;
                match branch {
                    Branch::Null => Value::Null,
                    Branch::Value(reading) => reading.read(datum)?,
                    Branch::Member {
                        member,
                        width,
                        reading,
                    } => {
                        let mut values = vec![Value::Null; *width];
                        values[*member] = reading.read(datum)?;
                        Value::Struct(values)
                    }
                    Branch::Mismatch(why) => return Err(ReadError::Unfit(why.clone())),
                }
            }
            Reading::Mismatch(why) => return Err(ReadError::Unfit(why.clone())),
        })
    }
}

fn out_of_range(v: i32, what: &str) -> ReadError {
    ReadError::Unfit(format!("{v} is out of range for {what}"))
}

/// The state of reading one datum.
struct Datum<'a> {
    reader: Reader<'a>,
    zero_size_items: usize,
}

impl Datum<'_> {
    /// The next block's item count, refused when the input cannot hold that many
    /// items of at least `min_size` bytes.
    fn block(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        checked_block(&mut self.reader, &mut self.zero_size_items, min_size)
    }
}
