//! One test per rule of `from_connect.rs`, each naming where the expectation comes
//! from: Confluent's `AvroDataTest` (schema-registry `avro-data` module), the
//! `AvroData.fromConnectSchema` source read as a specification, or Avro schemas that
//! Debezium + Confluent's converter registered, as published by their users.
#![allow(clippy::unwrap_used)]

use crate::connect::{Field, Schema, Value};
use crate::debezium::logical;

use super::from_connect::AvroData;
use super::AvroError;

fn avro(schema: &Schema) -> String {
    AvroData::default()
        .from_connect_schema(schema)
        .unwrap()
        .to_text()
}

fn refused(schema: &Schema) -> String {
    match AvroData::default().from_connect_schema(schema) {
        Err(e @ AvroError::Schema { .. }) => e.to_string(),
        other => panic!("expected a schema error, got {other:?}"),
    }
}

fn record(name: &str, fields: Vec<Field>) -> Schema {
    Schema::structure(fields).named(name)
}

// Rule 1. AvroDataTest testFromConnectBoolean/Byte/Short/Integer/Long/Float/Double/
// Bytes/String: int8 and int16 are ints with a "connect.type" property.
#[test]
fn rule_1_primitive_types() {
    let cases = [
        (Schema::int8(), r#"{"type":"int","connect.type":"int8"}"#),
        (Schema::int16(), r#"{"type":"int","connect.type":"int16"}"#),
        (Schema::int32(), r#""int""#),
        (Schema::int64(), r#""long""#),
        (Schema::float32(), r#""float""#),
        (Schema::float64(), r#""double""#),
        (Schema::boolean(), r#""boolean""#),
        (Schema::string(), r#""string""#),
        (Schema::bytes(), r#""bytes""#),
        (
            Schema::array(Schema::string()),
            r#"{"type":"array","items":"string"}"#,
        ),
    ];
    for (schema, expected) in cases {
        assert_eq!(avro(&schema), expected, "{schema:?}");
    }
}

// Rule 2. AvroDataTest testFromConnectMapWithStringKey, testFromConnectMapWithNonStringKey,
// testFromConnectMapWithOptionalKey, testFromNamedConnectMapWithNonStringKey.
#[test]
fn rule_2_maps() {
    assert_eq!(
        avro(&Schema::map(Schema::string(), Schema::int32())),
        r#"{"type":"map","values":"int"}"#
    );
    assert_eq!(
        avro(&Schema::map(Schema::int32(), Schema::int32())),
        concat!(
            r#"{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","#,
            r#""fields":[{"name":"key","type":"int"},{"name":"value","type":"int"}]}}"#
        )
    );
    assert_eq!(
        avro(&Schema::map(Schema::string().optional(), Schema::int32())),
        concat!(
            r#"{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","#,
            r#""fields":[{"name":"key","type":["null","string"],"default":null},{"name":"value","type":"int"}]}}"#
        )
    );
    assert_eq!(
        avro(&Schema::map(Schema::string().optional(), Schema::int32()).named("foo.bar")),
        concat!(
            r#"{"type":"array","items":{"type":"record","name":"bar","namespace":"foo","#,
            r#""fields":[{"name":"key","type":["null","string"],"default":null},{"name":"value","type":"int"}],"#,
            r#""connect.internal.type":"MapEntry"},"connect.name":"foo.bar"}"#
        )
    );
    // The same map twice: one MapEntry definition, then a reference.
    let twice = record(
        "R",
        vec![
            Field::new("a", Schema::map(Schema::int64(), Schema::string())),
            Field::new("b", Schema::map(Schema::int64(), Schema::string())),
        ],
    );
    assert!(avro(&twice).contains(
        r#"{"name":"b","type":{"type":"array","items":"io.confluent.connect.avro.MapEntry"}}"#
    ));
    // Two different unnamed maps would both be called MapEntry.
    let clash = record(
        "R",
        vec![
            Field::new("a", Schema::map(Schema::int64(), Schema::string())),
            Field::new("b", Schema::map(Schema::int32(), Schema::string())),
        ],
    );
    assert!(refused(&clash).contains("io.confluent.connect.avro.MapEntry"));
}

// Rule 3. AvroDataTest testFromConnectRecordWithMetadata (namespace from the name),
// testFromConnectStructsWithNullName (ConnectDefault, then ConnectDefault2, reused
// by reference), testFromConnectOptionalAndNonOptionalStruct; the record doc from
// io.confluent.connect.avro.record.doc and field docs from
// io.confluent.connect.avro.field.doc.<field> (AvroData.fromConnectSchema, STRUCT).
#[test]
fn rule_3_struct_names_and_docs() {
    let inner = Schema::structure(vec![Field::new("value", Schema::int64())]).optional();
    let outer = Schema::structure(vec![
        Field::new("struct", inner.clone()),
        Field::new("array", Schema::array(inner)),
    ]);
    assert_eq!(
        avro(&outer),
        concat!(
            r#"{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":["#,
            r#"{"name":"struct","type":["null",{"type":"record","name":"ConnectDefault2","fields":[{"name":"value","type":"long"}]}],"default":null},"#,
            r#"{"name":"array","type":{"type":"array","items":["null","ConnectDefault2"]}}]}"#
        )
    );

    let inner = record("inner", vec![Field::new("value", Schema::int64())]).optional();
    let outer = record(
        "outer",
        vec![
            Field::new("struct", inner.clone()),
            Field::new("array", Schema::array(inner)),
        ],
    );
    assert_eq!(
        avro(&outer),
        concat!(
            r#"{"type":"record","name":"outer","fields":["#,
            r#"{"name":"struct","type":["null",{"type":"record","name":"inner","fields":[{"name":"value","type":"long"}],"connect.name":"inner"}],"default":null},"#,
            r#"{"name":"array","type":{"type":"array","items":["null","inner"]}}],"connect.name":"outer"}"#
        )
    );

    let documented = record("a.b.Doc", vec![Field::new("x", Schema::int32())])
        .with_parameter("io.confluent.connect.avro.record.doc", "the record")
        .with_parameter("io.confluent.connect.avro.field.doc.x", "the field");
    assert_eq!(
        avro(&documented),
        concat!(
            r#"{"type":"record","name":"Doc","namespace":"a.b","doc":"the record","fields":[{"name":"x","type":"int","doc":"the field"}],"#,
            r#""connect.parameters":{"io.confluent.connect.avro.record.doc":"the record","io.confluent.connect.avro.field.doc.x":"the field"},"#,
            r#""connect.name":"a.b.Doc"}"#
        )
    );
}

// Rule 4. AvroDataTest testFromConnectOptionalPrimitiveWithMetadata and
// testFromConnectRecordWithMetadata; the order is that of the metadata block of
// AvroData.fromConnectSchema, as Debezium's registered schemas show it
// ("connect.version":1,"connect.parameters":{...},"connect.default":"false",
// "connect.name":"io.debezium.data.Enum").
#[test]
fn rule_4_metadata_order() {
    let string = Schema::string()
        .with_doc("doc")
        .with_default(Value::from("foo"))
        .named("io.confluent.stringtype")
        .versioned(2)
        .optional()
        .with_parameter("foo", "bar")
        .with_parameter("baz", "baz");
    assert_eq!(
        avro(&string),
        concat!(
            r#"[{"type":"string","connect.doc":"doc","connect.version":2,"connect.parameters":{"foo":"bar","baz":"baz"},"#,
            r#""connect.default":"foo","connect.name":"io.confluent.stringtype"},"null"]"#
        )
    );
    let rec = record(
        "io.confluent.test.TestSchema",
        vec![Field::new("int32", Schema::int32())],
    )
    .versioned(12)
    .with_doc("doc");
    assert_eq!(
        avro(&rec),
        concat!(
            r#"{"type":"record","name":"TestSchema","namespace":"io.confluent.test","fields":[{"name":"int32","type":"int"}],"#,
            r#""connect.doc":"doc","connect.version":12,"connect.name":"io.confluent.test.TestSchema"}"#
        )
    );
    // connect.meta.data=false drops all of it, connect.type included.
    let bare = AvroData {
        connect_meta_data: false,
    };
    let int8 = Schema::int8().named("x.Y").versioned(1).with_doc("d");
    assert_eq!(
        bare.from_connect_schema(&int8).unwrap().to_text(),
        r#""int""#
    );
    // Confluent's own default flag is not a parameter, and suppresses connect.default.
    let flagged = Schema::int32()
        .with_default(Value::Int32(1))
        .with_parameter("io.confluent.connect.avro.field.default", "true");
    assert_eq!(avro(&flagged), r#""int""#);
}

// Rule 5. AvroData.maybeMakeOptional; AvroDataTest testFromConnectOptionalWithDefaultNull
// (["null", T]) and testFromConnectOptionalPrimitiveWithMetadata ([T, "null"] with a
// default); Debezium's registered "snapshot" field ([{...},"null"],"default":"false").
// An optional struct is always ["null", record] (the STRUCT branch builds the union).
#[test]
fn rule_5_optional_unions() {
    let fields = vec![
        Field::new("plain", Schema::boolean().optional()),
        Field::new(
            "with_default",
            Schema::int32().optional().with_default(Value::Int32(5)),
        ),
        Field::new(
            "struct_with_default",
            record("S", vec![Field::new("a", Schema::int32())])
                .optional()
                .with_default(Value::Struct(vec![Value::Int32(1)])),
        ),
    ];
    assert_eq!(
        avro(&record("R", fields)),
        concat!(
            r#"{"type":"record","name":"R","fields":["#,
            r#"{"name":"plain","type":["null","boolean"],"default":null},"#,
            r#"{"name":"with_default","type":[{"type":"int","connect.default":5},"null"],"default":5},"#,
            r#"{"name":"struct_with_default","type":["null",{"type":"record","name":"S","fields":[{"name":"a","type":"int"}],"#,
            r#""connect.default":{"a":1},"connect.name":"S"}],"default":{"a":1}}],"connect.name":"R"}"#
        )
    );
    assert_eq!(avro(&Schema::string().optional()), r#"["null","string"]"#);
}

// Rule 6. AvroDataTest testFromConnectComplexWithDefaults: field defaults next to
// connect.default; floats pass through Avro's JacksonUtils.toObject (a double);
// bytes are ISO-8859-1 text; testFromConnectOptionalWithInvalidDefault keeps a valid
// array default; a default Avro refuses (a non-string-keyed map's [[k, v]] pairs for
// an array of records) is dropped from the field (Confluent logs "Ignoring invalid
// default").
#[test]
fn rule_6_field_defaults() {
    let fields = vec![
        Field::new(
            "int8",
            Schema::int8()
                .with_default(Value::Int8(2))
                .with_doc("int8 field"),
        ),
        Field::new(
            "float32",
            Schema::float32().with_default(Value::Float32(12.2)),
        ),
        Field::new(
            "float64",
            Schema::float64().with_default(Value::Float64(12.2)),
        ),
        Field::new(
            "bytes",
            Schema::bytes().with_default(Value::Bytes(vec![b'f', 0xe9, 0x01])),
        ),
        Field::new(
            "array",
            Schema::array(Schema::string().optional())
                .with_default(Value::Array(vec![Value::from("a"), Value::Null])),
        ),
        Field::new(
            "map",
            Schema::map(Schema::int32(), Schema::int32())
                .with_default(Value::Map(vec![(Value::Int32(1), Value::Int32(2))])),
        ),
        Field::new("required", Schema::string()),
    ];
    assert_eq!(
        avro(&record("R", fields)),
        concat!(
            r#"{"type":"record","name":"R","fields":["#,
            r#"{"name":"int8","type":{"type":"int","connect.doc":"int8 field","connect.default":2,"connect.type":"int8"},"default":2},"#,
            r#"{"name":"float32","type":{"type":"float","connect.default":12.2},"default":12.199999809265137},"#,
            r#"{"name":"float64","type":{"type":"double","connect.default":12.2},"default":12.2},"#,
            "{\"name\":\"bytes\",\"type\":{\"type\":\"bytes\",\"connect.default\":\"f\u{e9}\\u0001\"},\"default\":\"f\u{e9}\\u0001\"},",
            r#"{"name":"array","type":{"type":"array","items":["null","string"],"connect.default":["a",null]},"default":["a",null]},"#,
            r#"{"name":"map","type":{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","#,
            r#""fields":[{"name":"key","type":"int"},{"name":"value","type":"int"}]},"connect.default":[[1,2]]}},"#,
            r#"{"name":"required","type":"string"}],"connect.name":"R"}"#
        )
    );
}

// Rule 7. AvroDataTest testFromConnectLogicalDecimalNew (scale and precision before
// the metadata, precision 64 by default), testFromConnectLogicalDateNew/TimeNew/
// TimestampNew, testFromConnectLogicalDecimalScaleGreaterThanPrecision (legacy
// property only). The Decimal text is what Debezium users see registered for
// numeric(p,s) columns.
#[test]
fn rule_7_logical_types() {
    let decimal = logical::decimal(2).with_parameter("connect.decimal.precision", "10");
    assert_eq!(
        avro(&decimal),
        concat!(
            r#"{"type":"bytes","scale":2,"precision":10,"connect.version":1,"#,
            r#""connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"#,
            r#""connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#
        )
    );
    assert_eq!(
        avro(&logical::decimal(2)),
        concat!(
            r#"{"type":"bytes","scale":2,"precision":64,"connect.version":1,"connect.parameters":{"scale":"2"},"#,
            r#""connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#
        )
    );
    // numeric(3,-2) as Debezium reads it: scale 2046 > precision 3.
    let legacy = logical::decimal(2046).with_parameter("connect.decimal.precision", "3");
    assert_eq!(
        avro(&legacy),
        concat!(
            r#"{"type":"bytes","scale":2046,"precision":3,"connect.version":1,"#,
            r#""connect.parameters":{"scale":"2046","connect.decimal.precision":"3"},"#,
            r#""connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#
        )
    );
    assert_eq!(
        avro(&logical::connect_date()),
        r#"{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}"#
    );
    assert_eq!(
        avro(&logical::connect_time()),
        r#"{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}"#
    );
    assert_eq!(
        avro(&logical::connect_timestamp()),
        r#"{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}"#
    );
    // Compared ignoring case (equalsIgnoreCase in AvroData).
    assert!(
        avro(&Schema::int32().named("org.apache.kafka.connect.data.DATE"))
            .ends_with(r#""logicalType":"date"}"#)
    );
    // Debezium's semantic types are their base type with a name.
    assert_eq!(
        avro(&logical::micro_timestamp()),
        r#"{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}"#
    );
    assert_eq!(
        avro(&logical::json()),
        r#"{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}"#
    );
    assert_eq!(
        avro(&logical::variable_scale_decimal()),
        concat!(
            r#"{"type":"record","name":"VariableScaleDecimal","namespace":"io.debezium.data","#,
            r#""fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}],"#,
            r#""connect.doc":"Variable scaled decimal","connect.version":1,"connect.name":"io.debezium.data.VariableScaleDecimal"}"#
        )
    );
    // Avro Java refuses a logical type on the wrong base type.
    assert!(refused(&Schema::int64().named("org.apache.kafka.connect.data.Date")).contains("int"));
    assert!(
        refused(&Schema::int32().named("org.apache.kafka.connect.data.Timestamp")).contains("long")
    );
    assert!(
        refused(&Schema::bytes().named("org.apache.kafka.connect.data.Decimal")).contains("scale")
    );
    assert!(
        refused(&logical::decimal(0).with_parameter("connect.decimal.precision", "0"))
            .contains("precision")
    );
}

// Rule 8. AvroDataTest testFromConnectBytesFixed and testFromConnectLogicalDecimalFixedNew.
#[test]
fn rule_8_fixed() {
    let fixed = Schema::bytes()
        .named("sample")
        .with_parameter("connect.fixed.size", "4");
    assert_eq!(
        avro(&fixed),
        r#"{"type":"fixed","name":"sample","size":4,"connect.parameters":{"connect.fixed.size":"4"},"connect.name":"sample"}"#
    );
    let decimal = logical::decimal(2)
        .with_parameter("connect.decimal.precision", "64")
        .with_parameter("connect.fixed.size", "100");
    assert_eq!(
        avro(&decimal),
        concat!(
            r#"{"type":"fixed","name":"Decimal","namespace":"org.apache.kafka.connect.data","size":100,"scale":2,"precision":64,"#,
            r#""connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"64","connect.fixed.size":"100"},"#,
            r#""connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}"#
        )
    );
    let too_small = logical::decimal(2)
        .with_parameter("connect.decimal.precision", "10")
        .with_parameter("connect.fixed.size", "2");
    assert!(refused(&too_small).contains("fixed(2)"));
    // Unnamed bytes are never fixed.
    assert!(
        avro(&Schema::bytes().with_parameter("connect.fixed.size", "4"))
            .starts_with(r#"{"type":"bytes""#)
    );
}

// Rule 9. AvroData.fromConnectSchema copies parameters whose key starts with "avro"
// as properties, after the logical type.
#[test]
fn rule_9_avro_parameters() {
    let string = Schema::string().with_parameter("avro.java.string", "String");
    assert_eq!(
        avro(&string),
        r#"{"type":"string","connect.parameters":{"avro.java.string":"String"},"avro.java.string":"String"}"#
    );
}

// Rule 10. AvroData.isUnionSchema / the STRUCT branch for unions; AvroDataTest
// testToConnectUnion shows the Connect form (a struct named
// io.confluent.connect.avro.Union with one optional field per branch).
#[test]
fn rule_10_union_structs() {
    let union = Schema::structure(vec![
        Field::new("int", Schema::int32().optional()),
        Field::new("string", Schema::string().optional()),
        Field::new(
            "R",
            record("R", vec![Field::new("a", Schema::int32())]).optional(),
        ),
    ])
    .named("io.confluent.connect.avro.Union");
    assert_eq!(
        avro(&union),
        r#"["int","string",{"type":"record","name":"R","fields":[{"name":"a","type":"int"}],"connect.name":"R"}]"#
    );
    assert_eq!(
        avro(&union.clone().optional()),
        r#"["null","int","string",{"type":"record","name":"R","fields":[{"name":"a","type":"int"}],"connect.name":"R"}]"#
    );
    let by_parameter = Schema::structure(vec![
        Field::new("a", Schema::int64().optional()),
        Field::new("b", Schema::boolean().optional()),
    ])
    .with_parameter("org.apache.kafka.connect.data.Union", "u");
    assert_eq!(avro(&by_parameter), r#"["long","boolean"]"#);
    let duplicate = Schema::structure(vec![
        Field::new("a", Schema::int32().optional()),
        Field::new("b", Schema::int32().optional()),
    ])
    .named("io.confluent.connect.avro.Union");
    assert!(refused(&duplicate).contains("twice"));
}

// Rule 11. A named type met again is a reference (Debezium's "after":["null","Value"]);
// AvroDataTest testFieldLevelParamsPreservedForSharedNamedType: the second field of
// a shared named type carries its own parameters.
#[test]
fn rule_11_references_and_field_parameters() {
    let address = |tag: &str| {
        record(
            "Address",
            vec![Field::new("street", Schema::string().optional())],
        )
        .with_parameter("tag", tag)
    };
    let person = record(
        "Person",
        vec![
            Field::new("home", address("2")),
            Field::new("work", address("3")),
        ],
    );
    assert_eq!(
        avro(&person),
        concat!(
            r#"{"type":"record","name":"Person","fields":["#,
            r#"{"name":"home","type":{"type":"record","name":"Address","fields":[{"name":"street","type":["null","string"],"default":null}],"#,
            r#""connect.parameters":{"tag":"2"},"connect.name":"Address"}},"#,
            r#"{"name":"work","type":"Address","connect.parameters":{"tag":"3"}}],"connect.name":"Person"}"#
        )
    );
    let clash = record(
        "Person",
        vec![
            Field::new(
                "a",
                record("Address", vec![Field::new("x", Schema::int32())]),
            ),
            Field::new(
                "b",
                record("Address", vec![Field::new("y", Schema::int32())]),
            ),
        ],
    );
    assert!(refused(&clash).contains("Address"));
    // An optional struct with a default met again by name: Confluent would make
    // that union [record, null], unlike every other optional struct.
    let point = record("P", vec![Field::new("x", Schema::int32())]);
    let defaulted = point
        .clone()
        .optional()
        .with_default(Value::Struct(vec![Value::Int32(0)]));
    let reused = record(
        "R",
        vec![
            Field::new("a", point),
            Field::new("b", Schema::array(defaulted)),
        ],
    );
    assert!(refused(&reused).contains("null last"));
}

// Rule 12. Avro Java's NameValidator.UTF_VALIDATOR, which Schema.Field and
// Schema.Name apply: Confluent's converter fails on these names with
// scrub.invalid.names=false.
#[test]
fn rule_12_names() {
    let bad_field = record("R", vec![Field::new("my-col", Schema::int32())]);
    assert!(refused(&bad_field).contains("my-col"));
    let digit = record("R", vec![Field::new("1st", Schema::int32())]);
    assert!(refused(&digit).contains("1st"));
    assert!(refused(&record("a.b.9R", vec![])).contains("9R"));
    assert!(refused(&record("int", vec![])).contains("int"));
    assert!(refused(&record("", vec![])).contains("empty"));
    // Unicode letters are Avro names for Avro Java.
    let unicode = record("ns.Tâble", vec![Field::new("prénom", Schema::string())]);
    assert!(avro(&unicode).contains(r#""name":"prénom""#));
    // A trailing dot is dropped by Java's split.
    assert!(avro(&record("a.b.C.", vec![]))
        .starts_with(r#"{"type":"record","name":"C","namespace":"a.b""#));
}

// The envelope of a Debezium 2.x PostgreSQL table as Confluent's converter registered
// it (published by a Debezium user, demo.public.users-value); the Connect schemas
// below are Debezium's for that table (id int DEFAULT 0, created_at/updated_at
// timestamp DEFAULT now() read as 0, snapshot an io.debezium.data.Enum).
#[test]
fn debezium_envelope_as_registered() {
    let micro_ts = || {
        logical::micro_timestamp()
            .optional()
            .with_default(Value::Int64(0))
    };
    let value = record(
        "demo.public.users.Value",
        vec![
            Field::new("id", Schema::int32().with_default(Value::Int32(0))),
            Field::new("user_id", Schema::string()),
            Field::new("email", Schema::string().optional()),
            Field::new("country", Schema::string().optional()),
            Field::new("created_at", micro_ts()),
            Field::new("updated_at", micro_ts()),
        ],
    )
    .optional();
    let source = record(
        "io.debezium.connector.postgresql.Source",
        vec![
            Field::new("version", Schema::string()),
            Field::new("connector", Schema::string()),
            Field::new("name", Schema::string()),
            Field::new("ts_ms", Schema::int64()),
            Field::new(
                "snapshot",
                Schema::string()
                    .named("io.debezium.data.Enum")
                    .versioned(1)
                    .with_parameter("allowed", "true,last,false,incremental")
                    .optional()
                    .with_default(Value::from("false")),
            ),
            Field::new("db", Schema::string()),
            Field::new("sequence", Schema::string().optional()),
            Field::new("ts_us", Schema::int64().optional()),
            Field::new("ts_ns", Schema::int64().optional()),
            Field::new("schema", Schema::string()),
            Field::new("table", Schema::string()),
            Field::new("txId", Schema::int64().optional()),
            Field::new("lsn", Schema::int64().optional()),
            Field::new("xmin", Schema::int64().optional()),
        ],
    );
    let block = record(
        "event.block",
        vec![
            Field::new("id", Schema::string()),
            Field::new("total_order", Schema::int64()),
            Field::new("data_collection_order", Schema::int64()),
        ],
    )
    .versioned(1)
    .optional();
    let envelope = record(
        "demo.public.users.Envelope",
        vec![
            Field::new("before", value.clone()),
            Field::new("after", value),
            Field::new("source", source),
            Field::new("transaction", block),
            Field::new("op", Schema::string()),
            Field::new("ts_ms", Schema::int64().optional()),
            Field::new("ts_us", Schema::int64().optional()),
            Field::new("ts_ns", Schema::int64().optional()),
        ],
    )
    .versioned(2);
    let registered = concat!(
        r#"{"type":"record","name":"Envelope","namespace":"demo.public.users","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":{"type":"int","connect.default":0},"default":0},{"name":"user_id","type":"string"},{"name":"email","type":["null","string"],"default":null},{"name":"country","type":["null","string"],"default":null},{"name":"created_at","type":[{"type":"long","connect.version":1,"connect.default":0,"connect.name":"io.debezium.time.MicroTimestamp"},"null"],"default":0},{"name":"updated_at","type":[{"type":"long","connect.version":1,"connect.default":0,"connect.name":"io.debezium.time.MicroTimestamp"},"null"],"default":0}],"connect.name":"demo.public.users.Value"}],"default":null},"#,
        r#"{"name":"after","type":["null","Value"],"default":null},"#,
        r#"{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[{"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},{"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},{"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},{"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null},{"name":"schema","type":"string"},{"name":"table","type":"string"},{"name":"txId","type":["null","long"],"default":null},{"name":"lsn","type":["null","long"],"default":null},{"name":"xmin","type":["null","long"],"default":null}],"connect.name":"io.debezium.connector.postgresql.Source"}},"#,
        r#"{"name":"transaction","type":["null",{"type":"record","name":"block","namespace":"event","fields":[{"name":"id","type":"string"},{"name":"total_order","type":"long"},{"name":"data_collection_order","type":"long"}],"connect.version":1,"connect.name":"event.block"}],"default":null},"#,
        r#"{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null},{"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null}],"connect.version":2,"connect.name":"demo.public.users.Envelope"}"#
    );
    assert_eq!(avro(&envelope), registered);
}

// The envelope pgcdc builds for a table converts without error, before and after
// share one Value record, and Debezium's Variant-free types all map.
#[test]
fn pgcdc_envelopes_convert() {
    use crate::debezium::{
        ColumnDescription, PgColumnType, PgScalar, TableId, TableSchemas, ValueModes,
    };
    let column = |name: &str, scalar, type_name: &str| {
        ColumnDescription::new(name, PgColumnType::Scalar(scalar), type_name, -1)
    };
    let mut id = column("id", PgScalar::Int4, "int4");
    id.optional = false;
    id.key_position = Some(0);
    let columns = [
        id,
        column("amount", PgScalar::Numeric, "numeric"),
        ColumnDescription::new("tags", PgColumnType::Array(PgScalar::Text), "_text", -1),
        column("at", PgScalar::Timestamptz, "timestamptz"),
        column("doc", PgScalar::Jsonb, "jsonb"),
        column("p", PgScalar::Point, "point"),
    ];
    let tables = TableSchemas::new(
        TableId::new("fx", "public", "t"),
        &columns,
        &ValueModes::default(),
    );
    let text = avro(&tables.envelope);
    assert!(
        text.contains(r#"{"name":"after","type":["null","Value"],"default":null}"#),
        "{text}"
    );
    assert!(
        text.contains("io.debezium.data.VariableScaleDecimal"),
        "{text}"
    );
    assert!(avro(tables.key.as_ref().unwrap())
        .starts_with(r#"{"type":"record","name":"Key","namespace":"fx.public.t""#));
}
