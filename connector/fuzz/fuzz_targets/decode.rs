//! Fuzzes the pgoutput decoder and the relation cache with whole sessions.
//!
//! Input: one options byte (protocol version 1–4 in bits 0–1, streaming off / on /
//! parallel in the rest, modulo 3), then messages, each as a big-endian u16 length and
//! that many payload bytes (the last one may be shorter). Decoding must never panic,
//! whatever the bytes; decoded rows are checked against the cached relations the way
//! the event builder will.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pgcdc_connector::pgoutput::{
    Decoder, LogicalReplicationMessage as M, StreamingMode, TupleData,
};
use pgcdc_connector::relations::RelationCache;

fuzz_target!(|data: &[u8]| {
    let Some((&options, mut rest)) = data.split_first() else {
        return;
    };
    let protocol_version = u32::from(options & 0b11) + 1;
    let streaming = match (options >> 2) % 3 {
        0 => StreamingMode::Off,
        1 => StreamingMode::On,
        _ => StreamingMode::Parallel,
    };
    let Ok(mut decoder) = Decoder::new(protocol_version, streaming) else {
        return;
    };
    let mut relations = RelationCache::new();
    while !rest.is_empty() {
        let (payload, tail) = match rest {
            [hi, lo, tail @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
                tail.split_at(len)
            }
            _ => (rest, &[][..]),
        };
        rest = tail;
        let Ok(message) = decoder.decode(Bytes::copy_from_slice(payload)) else {
            continue;
        };
        match message {
            M::Relation(relation) => {
                relations.insert(relation);
            }
            M::Type(type_message) => relations.insert_type(type_message),
            M::Insert(insert) => check_row(&relations, insert.relation_oid, &insert.new),
            M::Update(update) => {
                if let Some(old) = &update.old {
                    check_row(&relations, update.relation_oid, old.tuple());
                }
                check_row(&relations, update.relation_oid, &update.new);
            }
            M::Delete(delete) => check_row(&relations, delete.relation_oid, delete.old.tuple()),
            _ => {}
        }
    }
});

fn check_row(relations: &RelationCache, oid: pgcdc_connector::pgoutput::Oid, tuple: &TupleData) {
    let Ok(relation) = relations.get(oid) else {
        return;
    };
    if relation.check_tuple(tuple).is_err() {
        return;
    }
    for (index, value) in tuple.iter().enumerate() {
        let column = relation
            .column(index)
            .expect("check_tuple matched the column count");
        let _ = (column.is_key(), value.bytes(), tuple.bytes(index));
    }
    let _ = relation.key_columns().count();
}
