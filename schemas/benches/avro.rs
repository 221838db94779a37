//! Encoding one Debezium change event of the 9-column benchmark table
//! (`id int4 primary key, name text, amount numeric(10,2), created timestamptz,
//! flag bool, qty int8, note varchar(40), score float8, day date`): Avro in
//! Confluent's wire format (the converter's sync hot path, schema already
//! registered) against Kafka's JsonConverter, with and without schemas. Each
//! iteration is one event; criterion's `thrpt` is events per second on one core.
//! With schemas, the connector writes the schema's JSON once per schema version
//! (`json_schemas_enable_cached_schema`); `json_schemas_enable` writes it for every
//! record, as `JsonConverter::from_connect_data` does, and `json_schema_only` is that
//! schema part alone.
//!
//! `cargo bench -p pgcdc-schemas --bench avro`, or `bench/run encode` for a report.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgcdc_schemas::avro::{AvroConverter, AvroConverterConfig, SchemaId};
use pgcdc_schemas::connect::Value;
use pgcdc_schemas::debezium::{
    ColumnDescription, Envelope, Op, PgColumnType, PgScalar, SnapshotMarker, SourceInfo, TableId,
    TableSchemas, ValueModes,
};
use pgcdc_schemas::json::JsonConverter;

fn table() -> TableSchemas {
    let column = |name: &str, scalar: PgScalar, type_name: &str, typmod: i32| {
        ColumnDescription::new(name, PgColumnType::Scalar(scalar), type_name, typmod)
    };
    let mut id = column("id", PgScalar::Int4, "int4", -1);
    id.optional = false;
    id.key_position = Some(0);
    let columns = [
        id,
        column("name", PgScalar::Text, "text", -1),
        column("amount", PgScalar::Numeric, "numeric", ((10 << 16) | 2) + 4),
        column("created", PgScalar::Timestamptz, "timestamptz", -1),
        column("flag", PgScalar::Bool, "bool", -1),
        column("qty", PgScalar::Int8, "int8", -1),
        column("note", PgScalar::Varchar, "varchar", 44),
        column("score", PgScalar::Float8, "float8", -1),
        column("day", PgScalar::Date, "date", -1),
    ];
    TableSchemas::new(
        TableId::new("bench", "public", "orders"),
        &columns,
        &ValueModes::default(),
    )
}

fn event(tables: &TableSchemas) -> Value {
    let row = tables.row_value(vec![
        Value::Int32(1_234_567),
        Value::from("Alice Example"),
        // 12345.67: the unscaled 1234567, big-endian two's complement.
        Value::Bytes(vec![0x12, 0xd6, 0x87]),
        Value::from("2024-05-01T12:34:56.789012Z"),
        Value::Boolean(true),
        Value::Int64(42),
        Value::from("a short note about this order"),
        Value::Float64(0.875),
        Value::Int32(19_844),
    ]);
    let source = SourceInfo {
        version: "3.7.0.Final".to_owned(),
        name: "bench".to_owned(),
        ts_us: 1_714_566_896_789_012,
        snapshot: SnapshotMarker::False,
        db: "shop".to_owned(),
        sequence: Some("[\"24023128\",\"24023184\"]".to_owned()),
        schema: "public".to_owned(),
        table: "orders".to_owned(),
        tx_id: Some(771),
        lsn: Some(24_023_184),
        xmin: None,
        origin: None,
        origin_lsn: None,
    };
    Envelope {
        before: None,
        after: Some(row),
        source: source.to_value(),
        transaction: None,
        op: Op::Create,
        processed_at_ns: 1_714_566_897_000_000_001,
    }
    .to_value()
}

fn encode(c: &mut Criterion) {
    let tables = table();
    let value = event(&tables);
    // No registry is called: the id is what `prepare` would have returned.
    let converter =
        AvroConverter::new(AvroConverterConfig::new("http://127.0.0.1:9")).expect("converter");
    let id = SchemaId(1);
    let mut out = Vec::with_capacity(512);
    converter
        .encode(id, &tables.envelope, &value, &mut out)
        .expect("encodes");
    let avro_len = out.len();
    let json = JsonConverter::default();
    let json_len = json
        .from_connect_data(Some(&tables.envelope), &value)
        .expect("converts")
        .map_or(0, |b| b.len());
    let plain = JsonConverter {
        schemas_enable: false,
        ..JsonConverter::default()
    };
    let plain_len = plain
        .from_connect_data(Some(&tables.envelope), &value)
        .expect("converts")
        .map_or(0, |b| b.len());
    // bench/encode reads this line for its report.
    eprintln!(
        "one event: Avro {avro_len} bytes, JSON with schema {json_len} bytes, \
         JSON without schema {plain_len} bytes"
    );

    let mut group = c.benchmark_group("encode_9_column_envelope");
    group.throughput(Throughput::Elements(1));
    group.bench_function("avro", |b| {
        b.iter(|| {
            out.clear();
            converter
                .encode(id, black_box(&tables.envelope), black_box(&value), &mut out)
                .expect("encodes");
            black_box(out.len())
        })
    });
    group.bench_function("json_schemas_enable", |b| {
        b.iter(|| json.from_connect_data(Some(black_box(&tables.envelope)), black_box(&value)))
    });
    // The two halves of a record with schema: the schema's JSON, which the connector
    // computes once per schema version, and the payload, written for every record.
    group.bench_function("json_schema_only", |b| {
        b.iter(|| json.schema_to_json(black_box(&tables.envelope)))
    });
    let schema_json = json.schema_to_json(&tables.envelope).expect("schema");
    group.bench_function("json_schemas_enable_cached_schema", |b| {
        b.iter(|| {
            json.record_with_schema_json(
                black_box(&tables.envelope),
                black_box(&schema_json),
                black_box(&value),
            )
        })
    });
    group.bench_function("json_schemas_disable", |b| {
        b.iter(|| plain.from_connect_data(Some(black_box(&tables.envelope)), black_box(&value)))
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
