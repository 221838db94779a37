//! How long turning one row's column text into typed values takes, on one core.
//!
//! The row is the nine-column table of the decode benchmark (int8, text, int4,
//! numeric(12,2), timestamptz, bool, uuid, jsonb, float8) with texts as PostgreSQL 15
//! prints them. Run with `cargo bench -p pgcdc-connector --bench values`; criterion's
//! `time` line is nanoseconds per row (all nine columns, values dropped after each row
//! as the pipeline does once the event is built).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgcdc_connector::values::{parse_text, Oid, PgType, ScalarType, TypeRegistry, Typmod};

const ROW: [(u32, i32, &str); 9] = [
    (20, -1, "1234567"),
    (25, -1, "Sally Thomas <sally.thomas@acme.com>"),
    (23, -1, "42"),
    // numeric(12,2)
    (1700, 786_438, "12345.67"),
    (1184, -1, "2024-05-01 12:34:56.789012+00"),
    (16, -1, "t"),
    (2950, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (
        3802,
        -1,
        r#"{"qty": 3, "sku": "A-42", "tags": ["red", "sale"]}"#,
    ),
    (701, -1, "3.141592653589793"),
];

fn bench_row(c: &mut Criterion) {
    // Resolved once per relation, as the relation cache does.
    let registry = TypeRegistry::new();
    let columns: Vec<(PgType, Typmod, &[u8])> = ROW
        .iter()
        .map(|&(oid, typmod, text)| {
            let resolved = registry.resolve(Oid(oid), Typmod(typmod));
            (resolved.ty, resolved.typmod, text.as_bytes())
        })
        .collect();

    let mut group = c.benchmark_group("values");
    group.throughput(Throughput::Elements(1));
    group.bench_function("row_9_columns", |b| {
        b.iter(|| {
            for &(ty, typmod, text) in &columns {
                let value = parse_text(ty, typmod, black_box(text));
                black_box(&value);
            }
        })
    });
    group.bench_function("timestamptz", |b| {
        let ty = PgType::Scalar(ScalarType::Timestamptz);
        b.iter(|| {
            parse_text(
                ty,
                Typmod::NONE,
                black_box(b"2024-05-01 12:34:56.789012+05:30"),
            )
        })
    });
    group.bench_function("numeric_12_2", |b| {
        let ty = PgType::Scalar(ScalarType::Numeric);
        b.iter(|| parse_text(ty, Typmod(786_438), black_box(b"-1234567890.12")))
    });
    group.bench_function("int4_array_10", |b| {
        let ty = PgType::Array(ScalarType::Int4);
        b.iter(|| {
            parse_text(
                ty,
                Typmod::NONE,
                black_box(b"{1,22,333,4444,55555,-6,7,8,9,NULL}"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_row);
criterion_main!(benches);
