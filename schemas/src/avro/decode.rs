//! Avro binary read with its (writer's) Avro schema, into an [`AvroValue`]: for
//! tools that hold only the registry's schema (`pgcdc tail`) and for tests.
//!
//! The bytes come from outside, so nothing here trusts them: every length and count
//! is checked against what is left of the input before anything is allocated, named
//! types are followed only to a bounded depth, and every failure is a
//! [`DecodeError`] with the offset where it happened.

use std::collections::HashMap;

use super::binary::Reader;
use super::schema::{AvroKind, AvroSchema};

/// Malformed Avro data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Avro data at byte {offset}: {reason}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

/// How deep values may nest (records in records, arrays in arrays): far beyond any
/// table's schema, far below what the stack holds.
pub const MAX_DEPTH: usize = 128;

/// Items of zero encoded size (nulls, empty records) one datum may hold: they take
/// no input bytes, so the input's length cannot bound them.
pub const MAX_ZERO_SIZE_ITEMS: usize = 1 << 16;

/// A decoded Avro value.
#[derive(Clone, Debug, PartialEq)]
pub enum AvroValue {
    Null,
    Boolean(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Bytes(Vec<u8>),
    String(String),
    Array(Vec<AvroValue>),
    /// Entries in the order they were written.
    Map(Vec<(String, AvroValue)>),
    /// Fields in schema order, with their names.
    Record(Vec<(String, AvroValue)>),
    Enum {
        index: u32,
        symbol: String,
    },
    Fixed(Vec<u8>),
    /// The branch index and the branch's value.
    Union(u32, Box<AvroValue>),
}

impl AvroValue {
    /// The value as plain JSON, for people and scripts: unions are unwrapped to
    /// their value, bytes and fixed are text of one character per byte (Avro's JSON
    /// encoding of bytes), NaN and the infinities are the strings `"NaN"`,
    /// `"Infinity"` and `"-Infinity"`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        let float = |v: f64| {
            serde_json::Number::from_f64(v).map_or_else(
                || {
                    J::String(
                        if v.is_nan() {
                            "NaN"
                        } else if v > 0.0 {
                            "Infinity"
                        } else {
                            "-Infinity"
                        }
                        .to_owned(),
                    )
                },
                J::Number,
            )
        };
        let latin1 = |bytes: &[u8]| J::String(bytes.iter().map(|&b| char::from(b)).collect());
        match self {
            AvroValue::Null => J::Null,
            AvroValue::Boolean(b) => J::Bool(*b),
            AvroValue::Int(i) => J::from(*i),
            AvroValue::Long(l) => J::from(*l),
            AvroValue::Float(f) => float(f64::from(*f)),
            AvroValue::Double(d) => float(*d),
            AvroValue::Bytes(b) | AvroValue::Fixed(b) => latin1(b),
            AvroValue::String(s) => J::String(s.clone()),
            AvroValue::Array(items) => J::Array(items.iter().map(AvroValue::to_json).collect()),
            AvroValue::Map(entries) | AvroValue::Record(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            AvroValue::Enum { symbol, .. } => J::String(symbol.clone()),
            AvroValue::Union(_, value) => value.to_json(),
        }
    }
}

/// Reads one datum of `schema` that fills all of `bytes`.
pub fn decode_datum(schema: &AvroSchema, bytes: &[u8]) -> Result<AvroValue, DecodeError> {
    let mut names = HashMap::new();
    collect_names(schema, &mut names);
    read_datum(schema, Names::Borrowed(names), bytes)
}

/// [`decode_datum`] with the schema's named types collected beforehand (by full
/// name, as [`collect_names`] finds them), for a reader of many datums of one schema.
pub fn decode_datum_named<'a>(
    schema: &'a AvroSchema,
    names: &'a HashMap<String, AvroSchema>,
    bytes: &[u8],
) -> Result<AvroValue, DecodeError> {
    read_datum(schema, Names::Owned(names), bytes)
}

fn read_datum<'a>(
    schema: &'a AvroSchema,
    names: Names<'a>,
    bytes: &[u8],
) -> Result<AvroValue, DecodeError> {
    let mut decoder = Decoder {
        names,
        zero_size_items: 0,
    };
    let mut reader = Reader::new(bytes);
    let value = decoder.read(schema, &mut reader, 0)?;
    if reader.remaining() > 0 {
        return Err(reader.error(format!("{} bytes after the datum", reader.remaining())));
    }
    Ok(value)
}

/// The definitions of named types, by full name (the first one wins, as when the
/// text is written: later ones are references).
pub(crate) fn collect_names<'a>(
    schema: &'a AvroSchema,
    names: &mut HashMap<String, &'a AvroSchema>,
) {
    if let Some(name) = schema.name() {
        if !matches!(schema.kind, AvroKind::Ref(_)) {
            names.entry(name.full_name()).or_insert(schema);
        }
    }
    match &schema.kind {
        AvroKind::Array(inner) | AvroKind::Map(inner) => collect_names(inner, names),
        AvroKind::Union(branches) => branches.iter().for_each(|b| collect_names(b, names)),
        AvroKind::Record { fields, .. } => {
            fields.iter().for_each(|f| collect_names(&f.schema, names))
        }
        _ => {}
    }
}

enum Names<'a> {
    Borrowed(HashMap<String, &'a AvroSchema>),
    Owned(&'a HashMap<String, AvroSchema>),
}

impl<'a> Names<'a> {
    fn get(&self, full_name: &str) -> Option<&'a AvroSchema> {
        match self {
            Names::Borrowed(names) => names.get(full_name).copied(),
            Names::Owned(names) => names.get(full_name),
        }
    }
}

struct Decoder<'a> {
    names: Names<'a>,
    zero_size_items: usize,
}

impl<'a> Decoder<'a> {
    fn resolve(
        &self,
        schema: &'a AvroSchema,
        reader: &Reader<'_>,
    ) -> Result<&'a AvroSchema, DecodeError> {
        match &schema.kind {
            AvroKind::Ref(name) => self.names.get(&name.full_name()).ok_or_else(|| {
                reader.error(format!("the schema does not define {}", name.full_name()))
            }),
            _ => Ok(schema),
        }
    }

    fn read(
        &mut self,
        schema: &'a AvroSchema,
        reader: &mut Reader<'_>,
        depth: usize,
    ) -> Result<AvroValue, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(reader.error(format!("values nested deeper than {MAX_DEPTH}")));
        }
        let schema = self.resolve(schema, reader)?;
        Ok(match &schema.kind {
            AvroKind::Null => AvroValue::Null,
            AvroKind::Boolean => AvroValue::Boolean(reader.boolean()?),
            AvroKind::Int => AvroValue::Int(reader.int()?),
            AvroKind::Long => AvroValue::Long(reader.long()?),
            AvroKind::Float => AvroValue::Float(reader.float()?),
            AvroKind::Double => AvroValue::Double(reader.double()?),
            AvroKind::Bytes => AvroValue::Bytes(reader.bytes()?.to_vec()),
            AvroKind::String => AvroValue::String(reader.string()?.to_owned()),
            AvroKind::Fixed { size, .. } => AvroValue::Fixed(reader.take(*size)?.to_vec()),
            AvroKind::Enum { symbols, .. } => {
                let start = reader.position();
                let index = reader.int()?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or_else(|| DecodeError {
                        offset: start,
                        reason: format!("enum index {index} of {} symbols", symbols.len()),
                    })?;
                AvroValue::Enum {
                    index: index as u32,
                    symbol: symbol.clone(),
                }
            }
            AvroKind::Union(branches) => {
                let start = reader.position();
                let index = reader.long()?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| DecodeError {
                        offset: start,
                        reason: format!("union index {index} of {} branches", branches.len()),
                    })?;
                AvroValue::Union(
                    index as u32,
                    Box::new(self.read(branch, reader, depth + 1)?),
                )
            }
            AvroKind::Record { fields, .. } => {
                let mut values = Vec::with_capacity(fields.len());
                for field in fields {
                    values.push((
                        field.name.clone(),
                        self.read(&field.schema, reader, depth + 1)?,
                    ));
                }
                AvroValue::Record(values)
            }
            AvroKind::Array(items) => {
                let min = self.min_size(items, 0);
                let mut values = Vec::new();
                loop {
                    let count = self.block(reader, min)?;
                    if count == 0 {
                        break;
                    }
                    values.reserve(count.min(reader.remaining()));
                    for _ in 0..count {
                        values.push(self.read(items, reader, depth + 1)?);
                    }
                }
                AvroValue::Array(values)
            }
            AvroKind::Map(values_schema) => {
                // A key takes at least its length byte.
                let min = 1 + self.min_size(values_schema, 0);
                let mut entries = Vec::new();
                loop {
                    let count = self.block(reader, min)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count.min(reader.remaining()));
                    for _ in 0..count {
                        let key = reader.string()?.to_owned();
                        entries.push((key, self.read(values_schema, reader, depth + 1)?));
                    }
                }
                AvroValue::Map(entries)
            }
            AvroKind::Ref(_) => return Err(reader.error("a reference to a reference")),
        })
    }

    /// The next block's item count, refused when the input cannot hold that many
    /// items of at least `min_size` bytes.
    fn block(&mut self, reader: &mut Reader<'_>, min_size: usize) -> Result<usize, DecodeError> {
        checked_block(reader, &mut self.zero_size_items, min_size)
    }

    fn min_size(&self, schema: &AvroSchema, depth: usize) -> usize {
        min_size(schema, &|name| self.names.get(name), depth)
    }
}

/// Reads the item count of an array or map block and checks that so many items of
/// at least `min_size` bytes fit in what is left, so that a forged count cannot make
/// a reader allocate or loop beyond its input. Items of zero size add to
/// `zero_size_items`, which may not pass [`MAX_ZERO_SIZE_ITEMS`] in one datum.
pub fn checked_block(
    reader: &mut Reader<'_>,
    zero_size_items: &mut usize,
    min_size: usize,
) -> Result<usize, DecodeError> {
    let start = reader.position();
    let count = reader.block_count()?;
    let fits = match reader.remaining().checked_div(min_size) {
        Some(most) => count <= most,
        None => {
            *zero_size_items = zero_size_items.saturating_add(count);
            *zero_size_items <= MAX_ZERO_SIZE_ITEMS
        }
    };
    if fits {
        Ok(count)
    } else {
        Err(DecodeError {
            offset: start,
            reason: format!("a block of {count} items does not fit in what is left"),
        })
    }
}

/// The fewest bytes a value of `schema` takes; `named` finds a named type by its
/// full name. Beyond [`MAX_DEPTH`] (or for an unknown name) it answers 0, which only
/// makes [`checked_block`] count items as zero-size.
pub fn min_size<'a>(
    schema: &'a AvroSchema,
    named: &dyn Fn(&str) -> Option<&'a AvroSchema>,
    depth: usize,
) -> usize {
    if depth > MAX_DEPTH {
        return 0;
    }
    match &schema.kind {
        AvroKind::Null => 0,
        AvroKind::Float => 4,
        AvroKind::Double => 8,
        AvroKind::Fixed { size, .. } => *size,
        AvroKind::Record { fields, .. } => fields
            .iter()
            .map(|f| min_size(&f.schema, named, depth + 1))
            .fold(0, usize::saturating_add),
        AvroKind::Ref(name) => {
            named(&name.full_name()).map_or(0, |s| min_size(s, named, depth + 1))
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::parse::parse_schema;

    fn schema(text: &str) -> AvroSchema {
        parse_schema(text).expect("schema")
    }

    #[test]
    fn reads_every_type() {
        let s = schema(concat!(
            r#"{"type":"record","name":"R","fields":["#,
            r#"{"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},"#,
            r#"{"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},"#,
            r#"{"name":"y","type":"bytes"},{"name":"s","type":"string"},"#,
            r#"{"name":"a","type":{"type":"array","items":"int"}},{"name":"m","type":{"type":"map","values":"string"}},"#,
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}},"#,
            r#"{"name":"x","type":{"type":"fixed","name":"F","size":2}},"#,
            r#"{"name":"u","type":["null","R"]}]}"#
        ));
        let mut bytes = vec![1, 0x03, 0x04];
        bytes.extend(1.5f32.to_le_bytes());
        bytes.extend(2.5f64.to_le_bytes());
        bytes.extend([0x04, 0xde, 0xad, 0x02, b'h']);
        bytes.extend([0x04, 0x02, 0x04, 0x00]);
        // A map in a negative-count block (count -1, then the block's byte size).
        bytes.extend([0x01, 0x08, 0x02, b'k', 0x02, b'v', 0x00]);
        bytes.extend([0x02, 0xca, 0xfe, 0x00]);
        let value = decode_datum(&s, &bytes).expect("decodes");
        assert_eq!(
            value.to_json(),
            serde_json::json!({
                "n": null, "b": true, "i": -2, "l": 2, "f": 1.5, "d": 2.5,
                "y": "\u{de}\u{ad}", "s": "h", "a": [1, 2], "m": {"k": "v"},
                "e": "Y", "x": "\u{ca}\u{fe}", "u": null
            })
        );
    }

    #[test]
    fn malformed_data_is_an_error() {
        let s = schema(r#"{"type":"array","items":"long"}"#);
        // 2^62 items announced with 1 byte left.
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00];
        assert!(decode_datum(&s, &huge).is_err());
        assert!(decode_datum(&s, &[0x02, 0x02]).is_err());
        assert!(decode_datum(&s, &[0x00, 0x00]).is_err(), "trailing bytes");
        let nulls = schema(r#"{"type":"array","items":"null"}"#);
        assert!(decode_datum(&nulls, &[0x80, 0x80, 0x10, 0x00]).is_err());
        assert_eq!(
            decode_datum(&nulls, &[0x04, 0x00]),
            Ok(AvroValue::Array(vec![AvroValue::Null, AvroValue::Null]))
        );
        let union = schema(r#"["null","int"]"#);
        assert!(decode_datum(&union, &[0x04]).is_err());
        assert!(decode_datum(&union, &[0x01]).is_err());
        let deep =
            schema(r#"{"type":"record","name":"L","fields":[{"name":"n","type":["null","L"]}]}"#);
        let mut nested = vec![0x02; MAX_DEPTH + 10];
        nested.push(0x00);
        assert!(decode_datum(&deep, &nested).is_err());
        assert!(decode_datum(&deep, &[0x02, 0x02, 0x00]).is_ok());
    }
}
