//! The encoder on small exhaustive cases, each checked byte for byte against the Avro
//! specification's binary encoding, and decoded again by apache-avro (an Avro
//! implementation no one here wrote) with the schema `from_connect` derives.
#![allow(clippy::unwrap_used)]

use crate::avro::decode_connect::decode_connect_datum;
use crate::avro::from_connect::AvroData;
use crate::connect::{Field, Schema, Value};
use crate::debezium::logical;

use super::{DatumWriter, EncodeError};

fn bytes(schema: &Schema, value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    DatumWriter::default()
        .write(schema, value, "record", &mut out)
        .unwrap();
    // apache-avro reads the bytes with the schema Confluent's rules give, to the end.
    let text = AvroData::default()
        .from_connect_schema(schema)
        .unwrap()
        .to_text();
    let avro_schema =
        apache_avro::Schema::parse_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut reader = out.as_slice();
    apache_avro::from_avro_datum(&avro_schema, &mut reader, None)
        .unwrap_or_else(|e| panic!("apache-avro cannot read {out:02x?} as {text}: {e}"));
    assert!(reader.is_empty(), "apache-avro left {reader:02x?}");
    out
}

fn error(schema: &Schema, value: &Value) -> EncodeError {
    let mut out = Vec::new();
    DatumWriter::default()
        .write(schema, value, "record", &mut out)
        .unwrap_err()
}

#[test]
fn primitives() {
    assert_eq!(bytes(&Schema::int8(), &Value::Int8(-1)), [0x01]);
    assert_eq!(bytes(&Schema::int16(), &Value::Int16(300)), [0xd8, 0x04]);
    assert_eq!(
        bytes(&Schema::int32(), &Value::Int32(i32::MIN)),
        [0xff, 0xff, 0xff, 0xff, 0x0f]
    );
    assert_eq!(bytes(&Schema::int64(), &Value::Int64(64)), [0x80, 0x01]);
    assert_eq!(
        bytes(&Schema::float32(), &Value::Float32(1.0)),
        [0x00, 0x00, 0x80, 0x3f]
    );
    assert_eq!(
        bytes(&Schema::float64(), &Value::Float64(-2.0)),
        [0, 0, 0, 0, 0, 0, 0, 0xc0]
    );
    assert_eq!(bytes(&Schema::boolean(), &Value::Boolean(true)), [0x01]);
    assert_eq!(bytes(&Schema::boolean(), &Value::Boolean(false)), [0x00]);
    assert_eq!(
        bytes(&Schema::string(), &Value::from("hé")),
        [0x06, b'h', 0xc3, 0xa9]
    );
    assert_eq!(bytes(&Schema::string(), &Value::from("")), [0x00]);
    assert_eq!(
        bytes(&Schema::bytes(), &Value::Bytes(vec![0xde, 0xad])),
        [0x04, 0xde, 0xad]
    );
    // Logical types are their base type; a Decimal is its unscaled bytes.
    assert_eq!(
        bytes(&logical::decimal(2), &Value::Bytes(vec![0x30, 0x39])),
        [0x04, 0x30, 0x39]
    );
    assert_eq!(
        bytes(&logical::connect_date(), &Value::Int32(19000)),
        [0xf0, 0xa8, 0x02]
    );
    assert_eq!(
        bytes(&logical::micro_timestamp(), &Value::Int64(-1)),
        [0x01]
    );
}

// Rule 5 of from_connect: ["null", T] without a default, [T, "null"] with one.
#[test]
fn optional_values_are_unions() {
    let plain = Schema::int32().optional();
    assert_eq!(bytes(&plain, &Value::Null), [0x00]);
    assert_eq!(bytes(&plain, &Value::Int32(1)), [0x02, 0x02]);
    let defaulted = Schema::int32().optional().with_default(Value::Int32(7));
    assert_eq!(bytes(&defaulted, &Value::Int32(1)), [0x00, 0x02]);
    assert_eq!(bytes(&defaulted, &Value::Null), [0x02]);
    let optional_struct = Schema::structure(vec![Field::new("a", Schema::int32())])
        .named("S")
        .optional()
        .with_default(Value::Struct(vec![Value::Int32(0)]));
    assert_eq!(bytes(&optional_struct, &Value::Null), [0x00]);
    assert_eq!(
        bytes(&optional_struct, &Value::Struct(vec![Value::Int32(3)])),
        [0x02, 0x06]
    );
}

// Connect's Struct.get: a null field reads as its default (Confluent's default
// ignore.default.for.nullables=false); with true, the null stays.
#[test]
fn null_fields_take_their_default() {
    let schema = Schema::structure(vec![
        Field::new("required", Schema::int32().with_default(Value::Int32(7))),
        Field::new(
            "optional",
            Schema::string().optional().with_default(Value::from("d")),
        ),
        Field::new("plain", Schema::string().optional()),
    ])
    .named("R");
    let nulls = Value::Struct(vec![Value::Null, Value::Null, Value::Null]);
    assert_eq!(bytes(&schema, &nulls), [0x0e, 0x00, 0x02, b'd', 0x00]);
    assert_eq!(
        decode_connect_datum(&schema, &bytes(&schema, &nulls)).unwrap(),
        Value::Struct(vec![Value::Int32(7), Value::from("d"), Value::Null])
    );
    let keep_nulls = DatumWriter {
        ignore_default_for_nullables: true,
    };
    let mut out = Vec::new();
    let nullable_only = Value::Struct(vec![Value::Int32(1), Value::Null, Value::Null]);
    keep_nulls
        .write(&schema, &nullable_only, "record", &mut out)
        .unwrap();
    assert_eq!(out, [0x02, 0x02, 0x00]);
    assert_eq!(
        keep_nulls.write(&schema, &nulls, "record", &mut Vec::new()),
        Err(EncodeError::RequiredNull {
            path: "record.required".to_owned()
        })
    );
}

#[test]
fn arrays_and_maps_in_one_block() {
    let ints = Schema::array(Schema::int32());
    assert_eq!(bytes(&ints, &Value::Array(vec![])), [0x00]);
    assert_eq!(
        bytes(&ints, &Value::Array(vec![Value::Int32(1), Value::Int32(2)])),
        [0x04, 0x02, 0x04, 0x00]
    );
    let by_name = Schema::map(Schema::string(), Schema::int64().optional());
    assert_eq!(bytes(&by_name, &Value::Map(vec![])), [0x00]);
    assert_eq!(
        bytes(
            &by_name,
            &Value::Map(vec![
                (Value::from("b"), Value::Null),
                (Value::from("a"), Value::Int64(1))
            ])
        ),
        [0x04, 0x02, b'b', 0x00, 0x02, b'a', 0x02, 0x02, 0x00]
    );
    // Other keys: an array of {key, value} records.
    let by_number = Schema::map(Schema::int16(), Schema::boolean());
    assert_eq!(
        bytes(
            &by_number,
            &Value::Map(vec![(Value::Int16(-1), Value::Boolean(true))])
        ),
        [0x02, 0x01, 0x01, 0x00]
    );
    let optional_keys = Schema::map(Schema::string().optional(), Schema::int32());
    assert_eq!(
        bytes(
            &optional_keys,
            &Value::Map(vec![(Value::Null, Value::Int32(1))])
        ),
        [0x02, 0x00, 0x02, 0x00]
    );
}

// Rule 10 of from_connect: a union struct writes the branch of its first non-null field.
#[test]
fn union_structs() {
    let union = Schema::structure(vec![
        Field::new("int", Schema::int32().optional()),
        Field::new("string", Schema::string().optional()),
    ])
    .named("io.confluent.connect.avro.Union");
    assert_eq!(
        bytes(&union, &Value::Struct(vec![Value::Null, Value::from("x")])),
        [0x02, 0x02, b'x']
    );
    assert_eq!(
        bytes(&union, &Value::Struct(vec![Value::Int32(1), Value::Null])),
        [0x00, 0x02]
    );
    let optional = union.clone().optional();
    assert_eq!(
        bytes(&optional, &Value::Struct(vec![Value::Null, Value::Null])),
        [0x00]
    );
    assert_eq!(
        bytes(
            &optional,
            &Value::Struct(vec![Value::Int32(1), Value::Null])
        ),
        [0x02, 0x02]
    );
    assert_eq!(
        decode_connect_datum(&optional, &[0x04, 0x02, b'x']).unwrap(),
        Value::Struct(vec![Value::Null, Value::from("x")])
    );
    assert!(matches!(
        error(&union, &Value::Struct(vec![Value::Null, Value::Null])),
        EncodeError::RequiredNull { .. }
    ));
}

// AvroDataTest testFromConnectLogicalDecimalFixedSerializesShortUnscaledValue and
// ...NegativeUnscaledValue: a fixed Decimal is sign-extended to its size.
#[test]
fn fixed_values() {
    let decimal = logical::decimal(2)
        .with_parameter("connect.decimal.precision", "5")
        .with_parameter("connect.fixed.size", "4");
    assert_eq!(
        bytes(&decimal, &Value::Bytes(vec![0x01, 0x00])),
        [0x00, 0x00, 0x01, 0x00]
    );
    assert_eq!(
        bytes(&decimal, &Value::Bytes(vec![0xff])),
        [0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(
        decode_connect_datum(&decimal, &[0xff, 0xff, 0xff, 0x80]).unwrap(),
        Value::Bytes(vec![0x80])
    );
    assert!(matches!(
        error(&decimal, &Value::Bytes(vec![1, 2, 3, 4, 5])),
        EncodeError::FixedSize {
            size: 4,
            found: 5,
            ..
        }
    ));
    let uuid = Schema::bytes()
        .named("x.Uuid")
        .with_parameter("connect.fixed.size", "2");
    assert_eq!(bytes(&uuid, &Value::Bytes(vec![7, 8])), [7, 8]);
    assert!(matches!(
        error(&uuid, &Value::Bytes(vec![7])),
        EncodeError::FixedSize { .. }
    ));
}

#[test]
fn errors_say_where() {
    let schema = Schema::structure(vec![
        Field::new(
            "after",
            Schema::structure(vec![Field::new("id", Schema::int32())])
                .named("V")
                .optional(),
        ),
        Field::new("tags", Schema::array(Schema::string())),
    ])
    .named("E");
    assert_eq!(
        error(
            &schema,
            &Value::Struct(vec![Value::Struct(vec![Value::Null]), Value::Array(vec![])])
        ),
        EncodeError::RequiredNull {
            path: "record.after.id".to_owned()
        }
    );
    assert_eq!(
        error(
            &schema,
            &Value::Struct(vec![
                Value::Null,
                Value::Array(vec![Value::from("a"), Value::Int32(1)])
            ])
        ),
        EncodeError::TypeMismatch {
            path: "record.tags[1]".to_owned(),
            expected: crate::connect::SchemaType::String,
            found: "int32"
        }
    );
    assert_eq!(
        error(&schema, &Value::Struct(vec![Value::Null])),
        EncodeError::FieldCount {
            path: "record".to_owned(),
            expected: 2,
            found: 1
        }
    );
    assert!(matches!(
        error(&Schema::int8(), &Value::Int16(1)),
        EncodeError::TypeMismatch { .. }
    ));
    assert!(matches!(
        error(
            &Schema::map(Schema::string(), Schema::int32()),
            &Value::Map(vec![(Value::Int32(1), Value::Int32(1))])
        ),
        EncodeError::TypeMismatch { .. }
    ));
}
