//! Decode-only throughput on pgoutput bytes a real server sent: rows per second on
//! one core, with no socket, no server and no other process competing.
//!
//! The input is a recording of one session's XLogData payloads, the output of
//!
//! ```sql
//! COPY (SELECT data FROM pg_logical_slot_peek_binary_changes('SLOT', NULL, NULL,
//!         'proto_version', '1', 'publication_names', 'PUB'))
//!   TO STDOUT (FORMAT binary)
//! ```
//!
//! i.e. PostgreSQL's binary COPY format, where every payload is a one-field tuple with
//! its Int32 length in front. `bench/run capture` records one for its workload (1,000,000
//! inserts of a 9-column row) and runs this bench on it:
//!
//! ```sh
//! PGCDC_BENCH_RECORDED=/path/to/recording.copy cargo bench -p pgcdc-connector --bench recorded
//! ```
//!
//! Without `PGCDC_BENCH_RECORDED` the bench does nothing. Criterion's `thrpt` line is
//! rows per second on one core:
//!
//! - `recorded/decode`: every payload through [`Decoder::decode`], the message dropped
//!   (what the receive loop pays before anything looks at a row);
//! - `recorded/decode_typed`: as above, plus what capture does per row (find the
//!   relation, check the column count) and every column parsed with
//!   [`parse_text`] using the types resolved once per Relation message (what
//!   `pgcdc capture --typed` and the event builder pay).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgcdc_connector::pgoutput::{
    ColumnValue, Decoder, LogicalReplicationMessage as Message, Oid, StreamingMode, TupleData,
};
use pgcdc_connector::relations::RelationCache;
use pgcdc_connector::values::{parse_text, ResolvedType, TypeRegistry, Typmod};

const RECORDED_ENV: &str = "PGCDC_BENCH_RECORDED";
/// "PGCOPY\n\377\r\n\0": the start of every binary COPY file.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// One recorded session: the payloads as slices of one buffer, as the replication
/// stream hands them over (cloning one costs a reference-count increment).
struct Recording {
    payloads: Vec<Bytes>,
    bytes: usize,
    rows: u64,
}

/// Splits a binary COPY file of one bytea column into its values.
fn read_copy_binary(data: Bytes) -> Result<Vec<Bytes>, String> {
    let be_u32 = |at: usize| -> Result<u32, String> {
        data.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    if !data.starts_with(COPY_SIGNATURE) {
        return Err("not a binary COPY file (no PGCOPY signature)".to_owned());
    }
    // Signature, Int32 flags, Int32 header extension length, the extension.
    let extension = be_u32(COPY_SIGNATURE.len() + 4)? as usize;
    let mut at = COPY_SIGNATURE.len() + 8 + extension;
    let mut payloads = Vec::new();
    loop {
        let fields = data
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("truncated at byte {at}"))?;
        at += 2;
        match fields {
            -1 => return Ok(payloads),
            1 => {}
            n => return Err(format!("a tuple of {n} fields at byte {}", at - 2)),
        }
        let len = be_u32(at)? as usize;
        at += 4;
        if len == u32::MAX as usize || at + len > data.len() {
            return Err(format!("NULL or truncated value at byte {}", at - 4));
        }
        payloads.push(data.slice(at..at + len));
        at += len;
    }
}

fn load(path: &str) -> Result<Recording, String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let payloads = read_copy_binary(Bytes::from(data)).map_err(|e| format!("{path}: {e}"))?;
    let mut decoder = new_decoder();
    let mut rows = 0;
    for (index, payload) in payloads.iter().enumerate() {
        match decoder.decode(payload.clone()) {
            Ok(Message::Insert(_) | Message::Update(_) | Message::Delete(_)) => rows += 1,
            Ok(_) => {}
            Err(e) => return Err(format!("{path}: payload {index} does not decode: {e}")),
        }
    }
    let bytes = payloads.iter().map(Bytes::len).sum();
    Ok(Recording {
        payloads,
        bytes,
        rows,
    })
}

fn new_decoder() -> Decoder {
    Decoder::new(1, StreamingMode::Off).expect("protocol version 1 is supported")
}

/// Capture's per-session state for typed rows: relations and their resolved types.
#[derive(Default)]
struct Tables {
    relations: RelationCache,
    registry: TypeRegistry,
    column_types: Vec<(Oid, Vec<ResolvedType>)>,
}

impl Tables {
    fn on_relation(&mut self, relation: pgcdc_connector::pgoutput::Relation) {
        let (relation, _) = self.relations.insert(relation);
        let types = relation
            .columns
            .iter()
            .map(|c| self.registry.resolve(c.type_oid, Typmod(c.type_modifier)))
            .collect();
        self.column_types.retain(|(oid, _)| *oid != relation.oid);
        self.column_types.push((relation.oid, types));
    }

    /// Parses every column of `tuple`; returns how many values were parsed.
    fn parse_row(&self, oid: Oid, tuple: &TupleData) -> usize {
        let relation = self.relations.get(oid).expect("relation precedes its rows");
        relation
            .check_tuple(tuple)
            .expect("rows have one value per column");
        let (_, types) = self
            .column_types
            .iter()
            .find(|(o, _)| *o == oid)
            .expect("types are resolved with the relation");
        let mut parsed = 0;
        for (value, resolved) in tuple.iter().zip(types) {
            if let ColumnValue::Text(text) = value {
                let value = parse_text(resolved.ty, resolved.typmod, text)
                    .expect("PostgreSQL's text parses as its type");
                black_box(&value);
                parsed += 1;
            }
        }
        parsed
    }
}

fn decode_all(recording: &Recording) -> u64 {
    let mut decoder = new_decoder();
    let mut rows = 0;
    for payload in &recording.payloads {
        let message = decoder
            .decode(payload.clone())
            .expect("decoded once already");
        if matches!(
            message,
            Message::Insert(_) | Message::Update(_) | Message::Delete(_)
        ) {
            rows += 1;
        }
        black_box(message);
    }
    rows
}

fn decode_typed_all(recording: &Recording) -> u64 {
    let mut decoder = new_decoder();
    let mut tables = Tables::default();
    let mut rows = 0;
    for payload in &recording.payloads {
        let message = decoder
            .decode(payload.clone())
            .expect("decoded once already");
        match message {
            Message::Relation(relation) => tables.on_relation(relation),
            Message::Insert(insert) => {
                black_box(tables.parse_row(insert.relation_oid, &insert.new));
                rows += 1;
            }
            Message::Update(update) => {
                black_box(tables.parse_row(update.relation_oid, &update.new));
                rows += 1;
            }
            Message::Delete(delete) => {
                black_box(delete);
                rows += 1;
            }
            other => {
                black_box(other);
            }
        }
    }
    rows
}

fn recorded(c: &mut Criterion) {
    let Ok(path) = std::env::var(RECORDED_ENV) else {
        eprintln!(
            "recorded: {RECORDED_ENV} is not set, nothing to measure \
             (bench/run capture records a session and sets it)"
        );
        return;
    };
    let recording = match load(&path) {
        Ok(recording) => recording,
        Err(e) => panic!("recorded: {e}"),
    };
    eprintln!(
        "recorded: {} messages, {} rows, {} payload bytes from {path}",
        recording.payloads.len(),
        recording.rows,
        recording.bytes
    );
    assert_eq!(decode_typed_all(&recording), recording.rows);

    let mut group = c.benchmark_group("recorded");
    group.throughput(Throughput::Elements(recording.rows));
    group.sample_size(10);
    group.bench_function("decode", |b| b.iter(|| decode_all(&recording)));
    group.bench_function("decode_typed", |b| b.iter(|| decode_typed_all(&recording)));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    targets = recorded
}
criterion_main!(benches);
