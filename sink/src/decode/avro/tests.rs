use pgcdc_schemas::avro::{AvroData, DatumWriter};
use pgcdc_schemas::connect::{Field, Schema, SchemaKind, Value};
use pgcdc_schemas::fixtures;

use super::BothPaths;
use crate::decode::json::JsonDecoder;

/// Reads a datum the way the sink does, after checking that the compiled reading
/// and the two-step path (Avro value, then Connect value) agree on it: the same
/// value, or both an error.
fn decode_with(text: &str, datum: &[u8]) -> Result<(Schema, Value), String> {
    if let Ok(both) = BothPaths::new(text) {
        let _ = agree(&both, datum, text);
    }
    super::decode_with(text, datum)
}

/// The compiled reading's result for `datum`, after checking that the two-step
/// path gives the same.
fn agree(both: &BothPaths, datum: &[u8], text: &str) -> Result<Value, String> {
    let compiled = both.compiled(datum);
    let two_steps = both.in_two_steps(datum);
    match (&compiled, &two_steps) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}"),
        (Err(_), Err(_)) => {}
        _ => panic!("compiled {compiled:?} but in two steps {two_steps:?}\n{text}"),
    }
    compiled
}

/// Parameters sorted at every level: the registry's JSON parser does not keep their
/// order, and nothing reads them by position.
fn normalized(mut schema: Schema) -> Schema {
    schema.parameters.sort();
    schema.kind = match schema.kind {
        SchemaKind::Array(items) => SchemaKind::Array(Box::new(normalized(*items))),
        SchemaKind::Map { keys, values } => SchemaKind::Map {
            keys: Box::new(normalized(*keys)),
            values: Box::new(normalized(*values)),
        },
        SchemaKind::Struct(fields) => SchemaKind::Struct(
            fields
                .into_iter()
                .map(|f| Field::new(f.name, normalized(f.schema)))
                .collect(),
        ),
        other => other,
    };
    schema
}

/// What pgcdc's Avro converter writes for `schema` and `value`, read back.
fn round_trip(schema: &Schema, value: &Value) -> (Schema, Value) {
    let avro = AvroData::default()
        .from_connect_schema(schema)
        .expect("an Avro form");
    let mut datum = Vec::new();
    DatumWriter::default()
        .write(schema, value, "value", &mut datum)
        .expect("encodes");
    decode_with(&avro.to_text(), &datum).unwrap_or_else(|e| panic!("{e}\n{}", avro.to_text()))
}

/// Where two schemas first differ.
fn difference(a: &Schema, b: &Schema, path: &str) -> Option<String> {
    let (fa, fb) = (a.fields(), b.fields());
    if fa.len() == fb.len() && !fa.is_empty() {
        for (x, y) in fa.iter().zip(fb) {
            if let Some(d) = difference(&x.schema, &y.schema, &format!("{path}.{}", x.name)) {
                return Some(d);
            }
        }
    }
    if let (SchemaKind::Array(x), SchemaKind::Array(y)) = (&a.kind, &b.kind) {
        if let Some(d) = difference(x, y, &format!("{path}[]")) {
            return Some(d);
        }
    }
    (a != b).then(|| format!("{path}:\n  read     {a:?}\n  expected {b:?}"))
}

fn assert_round_trip(schema: &Schema, value: &Value, label: &str) {
    let (read_schema, read_value) = round_trip(schema, value);
    let (read_schema, expected) = (normalized(read_schema), normalized(schema.clone()));
    if let Some(d) = difference(&read_schema, &expected, "") {
        panic!("{label}: schema differs at {d}");
    }
    // Debug text: NaN equals NaN there.
    assert_eq!(
        format!("{read_value:?}"),
        format!("{value:?}"),
        "{label}: value"
    );
}

/// Every key and value Debezium wrote in every fixture (every type and mode pgcdc
/// emits: decimals, the time types in each precision mode, json, uuid, arrays,
/// hstore maps, bits, geometry structs, intervals, defaults, TOAST placeholders),
/// through pgcdc's Avro converter and back, is the schema and value JsonConverter
/// gave.
#[test]
fn every_debezium_record_round_trips_through_avro() {
    let mut checked = 0;
    for (stem, fixture) in fixtures::all() {
        let mut json = JsonDecoder::default();
        // Change events, then transaction metadata (whose schemas are kept apart).
        let records = fixture
            .events
            .iter()
            .flat_map(|e| &e.records)
            .map(|r| (r, false))
            .chain(fixture.transaction_records.iter().map(|r| (r, true)));
        for (index, (record, transaction)) in records.enumerate() {
            for (side, name) in [(&record.key, "key"), (&record.value, "value")] {
                let Some(side) = side else { continue };
                let Some(schema_name) = &side.schema else {
                    continue;
                };
                let bytes = if transaction {
                    let schema = fixtures::compact(fixture.transaction_schemas[schema_name].get());
                    format!("{{\"schema\":{schema},\"payload\":{}}}", side.payload())
                } else {
                    fixture.record_bytes(side)
                };
                let Some((schema, value)) = json.decode(bytes.as_bytes()).expect("JSON decodes")
                else {
                    continue;
                };
                if value.is_null() {
                    continue;
                }
                assert_round_trip(&schema, &value, &format!("{stem} record {index} {name}"));
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} records checked");
}

#[test]
fn connect_types_and_logical_types() {
    let decimal = |p: &str, s: &str| {
        Schema::bytes()
            .named("org.apache.kafka.connect.data.Decimal")
            .versioned(1)
            .with_parameter("scale", s)
            .with_parameter("connect.decimal.precision", p)
    };
    let schema = Schema::structure(vec![
        Field::new("i8", Schema::int8()),
        Field::new("i16", Schema::int16().optional()),
        Field::new("i32", Schema::int32()),
        Field::new("i64", Schema::int64()),
        Field::new("f", Schema::float32()),
        Field::new("d", Schema::float64().optional()),
        Field::new("b", Schema::boolean()),
        Field::new("s", Schema::string().optional()),
        Field::new("y", Schema::bytes()),
        Field::new("amount", decimal("10", "2").optional()),
        Field::new(
            "wide",
            Schema::bytes()
                .named("org.apache.kafka.connect.data.Decimal")
                .versioned(1)
                .with_parameter("scale", "0"),
        ),
        Field::new(
            "day",
            Schema::int32()
                .named("org.apache.kafka.connect.data.Date")
                .versioned(1),
        ),
        Field::new(
            "at",
            Schema::int32()
                .named("org.apache.kafka.connect.data.Time")
                .versioned(1),
        ),
        Field::new(
            "ts",
            Schema::int64()
                .named("org.apache.kafka.connect.data.Timestamp")
                .versioned(1)
                .optional(),
        ),
        Field::new(
            "micros",
            Schema::int64()
                .named("io.debezium.time.MicroTimestamp")
                .versioned(1),
        ),
        Field::new(
            "zoned",
            Schema::string()
                .named("io.debezium.time.ZonedTimestamp")
                .versioned(1)
                .optional(),
        ),
        Field::new(
            "doc",
            Schema::string()
                .named("io.debezium.data.Json")
                .versioned(1)
                .optional(),
        ),
        Field::new(
            "ref",
            Schema::string()
                .named("io.debezium.data.Uuid")
                .versioned(1)
                .optional(),
        ),
        Field::new(
            "tags",
            Schema::array(Schema::string().optional()).optional(),
        ),
        Field::new(
            "nested",
            Schema::array(Schema::array(Schema::int32())).optional(),
        ),
        Field::new(
            "attrs",
            Schema::map(Schema::string(), Schema::string().optional()).optional(),
        ),
        Field::new(
            "pairs",
            Schema::map(Schema::int32(), Schema::boolean()).optional(),
        ),
        Field::new(
            "point",
            Schema::structure(vec![
                Field::new("x", Schema::float64()),
                Field::new("y", Schema::float64()),
                Field::new("wkb", Schema::bytes().optional()),
            ])
            .named("io.debezium.data.geometry.Point")
            .versioned(1)
            .with_doc("Geometry (POINT)")
            .optional(),
        ),
        Field::new(
            "note",
            Schema::string().optional().with_default(Value::from("n/a")),
        ),
        Field::new(
            "discount",
            decimal("5", "2")
                .optional()
                .with_default(Value::Bytes(vec![0x00, 0x96])),
        ),
        Field::new("count", Schema::int32().with_default(Value::Int32(7))),
    ])
    .named("shop.public.orders.Value")
    .optional();
    let value = Value::Struct(vec![
        Value::Int8(-3),
        Value::Null,
        Value::Int32(1 << 20),
        Value::Int64(-1),
        Value::Float32(f32::NAN),
        Value::Float64(f64::INFINITY),
        Value::Boolean(true),
        Value::from("é ☃"),
        Value::Bytes(vec![0, 255, 7]),
        Value::Bytes(vec![0xff, 0x38]),
        Value::Bytes(vec![0x01; 40]),
        Value::Int32(19_000),
        Value::Int32(3_600_000),
        Value::Null,
        Value::Int64(1_700_000_000_123_456),
        Value::from("2024-01-02T03:04:05.123456Z"),
        Value::from(r#"{"k":[1,2]}"#),
        Value::from("6a2f41a3-c54c-fce8-32d2-0324e1c32e22"),
        Value::Array(vec![Value::from("a"), Value::Null]),
        Value::Array(vec![
            Value::Array(vec![Value::Int32(1)]),
            Value::Array(vec![]),
        ]),
        Value::Map(vec![(Value::from("k"), Value::Null)]),
        Value::Map(vec![
            (Value::Int32(1), Value::Boolean(true)),
            (Value::Int32(-2), Value::Boolean(false)),
        ]),
        Value::Struct(vec![
            Value::Float64(1.5),
            Value::Float64(-2.0),
            Value::Bytes(vec![1, 2]),
        ]),
        Value::from("set"),
        Value::Bytes(vec![0x01, 0x2c]),
        Value::Int32(9),
    ]);
    assert_round_trip(&schema, &value, "every type");
    // Nulls where the schema allows them; a null with a default is written as the
    // default (Confluent's `ignore.default.for.nullables=false`).
    let mut nulls = value.clone();
    if let Value::Struct(values) = &mut nulls {
        for i in [1, 5, 7, 9, 13, 15, 16, 17, 18, 19, 20, 21, 22] {
            values[i] = Value::Null;
        }
    }
    assert_round_trip(&schema, &nulls, "nulls");
}

#[test]
fn avro_schemas_not_written_by_connect() {
    // Plain Avro: names become Connect names, enums strings, fixed bytes, general
    // unions Confluent's union structs.
    let text = r#"{"type":"record","name":"R","namespace":"ns","doc":"a row","fields":[
        {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
        {"name":"x","type":{"type":"fixed","name":"Two","size":2}},
        {"name":"dec","type":{"type":"fixed","name":"Money","size":4,"logicalType":"decimal","precision":9,"scale":2}},
        {"name":"u","type":["null","int","string"]},
        {"name":"v","type":["long","string"],"default":5},
        {"name":"later","type":["string","null"],"default":"x","doc":"text"}
    ]}"#;
    let datum = [
        0x02, // GREEN
        0xca, 0xfe, // fixed
        0xff, 0xff, 0xff, 0x38, // -200 in four bytes
        0x04, 0x02, b'h', // branch 2: "h"
        0x00, 0x0e, // branch 0: 7
        0x02, // branch 1: null
    ];
    let (schema, value) = decode_with(text, &datum).expect("reads");
    assert_eq!(schema.name.as_deref(), Some("ns.R"));
    assert_eq!(schema.doc.as_deref(), Some("a row"));
    let field = |name: &str| schema.field(name).expect("field").schema.clone();
    assert_eq!(
        field("e").parameter("io.confluent.connect.avro.Enum"),
        Some("ns.Color")
    );
    assert_eq!(
        field("e").parameter("io.confluent.connect.avro.Enum.GREEN"),
        Some("GREEN")
    );
    assert_eq!(field("x").parameter("connect.fixed.size"), Some("2"));
    assert_eq!(field("x").name.as_deref(), Some("ns.Two"));
    assert_eq!(
        field("dec").name.as_deref(),
        Some("org.apache.kafka.connect.data.Decimal")
    );
    assert_eq!(field("dec").parameter("scale"), Some("2"));
    assert_eq!(
        field("dec").parameter("connect.decimal.precision"),
        Some("9")
    );
    let u = field("u");
    assert_eq!(u.name.as_deref(), Some("io.confluent.connect.avro.Union"));
    assert!(u.optional);
    assert_eq!(
        u.fields()
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["int", "string"]
    );
    let v = field("v");
    assert!(!v.optional);
    assert_eq!(
        v.default,
        Some(Value::Struct(vec![Value::Int64(5), Value::Null]))
    );
    let later = field("later");
    assert!(later.optional);
    assert_eq!(later.default, Some(Value::from("x")));
    assert_eq!(later.doc.as_deref(), Some("text"));
    assert_eq!(
        value,
        Value::Struct(vec![
            Value::from("GREEN"),
            Value::Bytes(vec![0xca, 0xfe]),
            Value::Bytes(vec![0xff, 0x38]),
            Value::Struct(vec![Value::Null, Value::from("h")]),
            Value::Struct(vec![Value::Int64(7), Value::Null]),
            Value::Null,
        ])
    );
}

#[test]
fn unusable_schemas_and_bytes_are_errors() {
    let recursive =
        r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#;
    assert!(decode_with(recursive, &[0x00])
        .unwrap_err()
        .contains("recursive"));
    assert!(decode_with(r#""null""#, &[]).unwrap_err().contains("null"));
    let odd_type = r#"{"type":"int","connect.type":"int64"}"#;
    assert!(decode_with(odd_type, &[0x02])
        .unwrap_err()
        .contains("connect.type"));
    let bad_default =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#;
    assert!(decode_with(bad_default, &[0x02])
        .unwrap_err()
        .contains("default"));
    let int8 = r#"{"type":"int","connect.type":"int8"}"#;
    // 300 does not fit an int8.
    assert!(decode_with(int8, &[0xd8, 0x04])
        .unwrap_err()
        .contains("out of range"));
    // Truncated and trailing bytes.
    let record = r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}"#;
    assert!(decode_with(record, &[0x08, b'a']).is_err());
    assert!(decode_with(record, &[0x02, b'a', 0x00]).is_err());
}

#[test]
fn wire_format_and_missing_schemas() {
    use pgcdc_schemas::avro::AvroConverterConfig;
    let decoder =
        super::AvroDecoder::new(&AvroConverterConfig::new("http://127.0.0.1:9")).expect("client");
    assert!(decoder.decode(&[]).unwrap_err().contains("empty"));
    assert!(decoder
        .decode(&[1, 0, 0, 0, 1])
        .unwrap_err()
        .contains("magic"));
    assert!(decoder.decode(&[0, 0, 0]).unwrap_err().contains("header"));
    assert!(decoder
        .decode(&[0, 0, 0, 0, 9, 2])
        .unwrap_err()
        .contains("not fetched"));
    assert_eq!(
        decoder.missing(&[0, 0, 0, 0, 9, 2]),
        Some(pgcdc_schemas::avro::SchemaId(9))
    );
    assert_eq!(decoder.missing(b"{}"), None);
}

/// One fixture record's Avro datum per value schema (every type and mode Debezium
/// writes), cut short and with bytes changed: the compiled reading never panics and
/// agrees with the two-step path on every one.
#[test]
fn damaged_datums_read_as_the_two_step_path_reads_them() {
    let mut checked = 0;
    let mut schemas_seen = std::collections::HashSet::new();
    for (_, fixture) in fixtures::all() {
        let mut json = JsonDecoder::default();
        for record in fixture.events.iter().flat_map(|e| &e.records) {
            let Some(side) = &record.value else { continue };
            if side.schema.is_none() {
                continue;
            }
            let bytes = fixture.record_bytes(side);
            let Some((schema, value)) = json.decode(bytes.as_bytes()).expect("JSON decodes") else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            let text = AvroData::default()
                .from_connect_schema(&schema)
                .expect("an Avro form")
                .to_text();
            if !schemas_seen.insert(text.clone()) {
                continue;
            }
            let both = BothPaths::new(&text).expect("a writer schema");
            let mut datum = Vec::new();
            DatumWriter::default()
                .write(&schema, &value, "value", &mut datum)
                .expect("encodes");
            agree(&both, &datum, &text).expect("the datum reads");
            // About 128 places per datum (a debug build reads slowly), shifted from
            // one schema to the next.
            let step = datum.len() / 128 + 1;
            let places = || (schemas_seen.len() % step..datum.len()).step_by(step);
            for cut in places() {
                agree(&both, &datum[..cut], &text).expect_err("a cut datum is an error");
            }
            // Bytes set to values that change lengths, signs, branches.
            for at in places() {
                for byte in [0x00, 0x02, 0x80, 0xff] {
                    let mut damaged = datum.clone();
                    damaged[at] = byte;
                    let _ = agree(&both, &damaged, &text);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 2_000, "only {checked} damaged datums");
}
