//! How fast pgoutput payloads decode, per message, on one core.
//!
//! The rows are what PostgreSQL sends (text format, protocol version 1) for a table of
//! nine columns: int8, text, int4, numeric, timestamptz, bool, uuid, jsonb, float8.
//! Run with `cargo bench -p pgcdc-connector --bench decode`; criterion's `thrpt` line
//! is messages per second on one core (each iteration decodes one message and drops
//! it, as the pipeline does).

use std::hint::black_box;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgcdc_connector::pgoutput::{Decoder, LogicalReplicationMessage, Oid, StreamingMode};
use pgcdc_connector::relations::RelationCache;

const RELATION_OID: u32 = 16_385;

/// The text output of one row of the nine-column table.
const ROW: [&str; 9] = [
    "1234567",
    "Sally Thomas <sally.thomas@acme.com>",
    "42",
    "12345.67",
    "2024-05-01 12:34:56.789012+00",
    "t",
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    r#"{"sku": "A-42", "qty": 3, "tags": ["red", "sale"]}"#,
    "3.141592653589793",
];

fn put_row(buf: &mut BytesMut) {
    buf.put_u16(ROW.len() as u16);
    for value in ROW {
        buf.put_u8(b't');
        buf.put_i32(value.len() as i32);
        buf.put_slice(value.as_bytes());
    }
}

/// A payload shared the way the replication stream hands it over (a reference-counted
/// slice), so cloning it per iteration costs what the pipeline pays: one increment.
fn shared(buf: BytesMut) -> Bytes {
    let bytes = buf.freeze();
    let _promote_to_shared = bytes.clone();
    bytes
}

fn insert() -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(b'I');
    buf.put_u32(RELATION_OID);
    buf.put_u8(b'N');
    put_row(&mut buf);
    shared(buf)
}

/// An UPDATE under the default replica identity that leaves the key alone: new row only.
fn update() -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(b'U');
    buf.put_u32(RELATION_OID);
    buf.put_u8(b'N');
    put_row(&mut buf);
    shared(buf)
}

/// An UPDATE under REPLICA IDENTITY FULL: the whole old row, then the new one.
fn update_full() -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(b'U');
    buf.put_u32(RELATION_OID);
    buf.put_u8(b'O');
    put_row(&mut buf);
    buf.put_u8(b'N');
    put_row(&mut buf);
    shared(buf)
}

fn begin() -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(b'B');
    buf.put_u64(0x16B_3748);
    buf.put_i64(767_882_096_789_012);
    buf.put_u32(742);
    shared(buf)
}

fn commit() -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(b'C');
    buf.put_u8(0);
    buf.put_u64(0x16B_3748);
    buf.put_u64(0x16B_3778);
    buf.put_i64(767_882_096_789_012);
    shared(buf)
}

fn relation() -> Bytes {
    let columns: [(&str, u32); 9] = [
        ("id", 20),
        ("name", 25),
        ("quantity", 23),
        ("price", 1_700),
        ("updated_at", 1_184),
        ("active", 16),
        ("uuid", 2_950),
        ("attributes", 3_802),
        ("weight", 701),
    ];
    let mut buf = BytesMut::new();
    buf.put_u8(b'R');
    buf.put_u32(RELATION_OID);
    buf.put_slice(b"inventory\0products\0");
    buf.put_u8(b'd');
    buf.put_u16(columns.len() as u16);
    for (index, (name, type_oid)) in columns.into_iter().enumerate() {
        buf.put_u8(u8::from(index == 0));
        buf.put_slice(name.as_bytes());
        buf.put_u8(0);
        buf.put_u32(type_oid);
        buf.put_i32(-1);
    }
    shared(buf)
}

fn decoder() -> Decoder {
    Decoder::new(1, StreamingMode::Off).expect("protocol version 1 is supported")
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("pgoutput");
    group.throughput(Throughput::Elements(1));
    for (name, payload) in [
        ("insert_9_columns", insert()),
        ("update_9_columns", update()),
        ("update_full_9_columns", update_full()),
        ("begin", begin()),
        ("commit", commit()),
    ] {
        let mut decoder = decoder();
        assert!(
            decoder.decode(payload.clone()).is_ok(),
            "{name} payload must decode"
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(decoder.decode(black_box(payload.clone()))))
        });
    }

    // What the event builder will pay per inserted row: decode, find the relation,
    // check the column count.
    let mut cache = RelationCache::new();
    let mut decoder = decoder();
    match decoder.decode(relation()) {
        Ok(LogicalReplicationMessage::Relation(relation)) => {
            cache.insert(relation);
        }
        other => panic!("relation payload must decode: {other:?}"),
    }
    let payload = insert();
    group.bench_function("insert_9_columns_with_relation_lookup", |b| {
        b.iter(|| {
            let Ok(LogicalReplicationMessage::Insert(insert)) =
                decoder.decode(black_box(payload.clone()))
            else {
                unreachable!("insert payload decodes")
            };
            let relation = cache.get(insert.relation_oid).expect("relation is cached");
            relation
                .check_tuple(&insert.new)
                .expect("column counts match");
            black_box((relation.oid == Oid(RELATION_OID), insert))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = decode
}
criterion_main!(benches);
