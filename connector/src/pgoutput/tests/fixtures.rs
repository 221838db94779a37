//! Differential tests: payloads captured from real PostgreSQL 15 and 18 walsenders
//! (see `fixtures/capture.py` for the workload and the file format) must all decode,
//! and carry what the workload did.

use bytes::Bytes;

use crate::pgoutput::{
    ColumnKind, ColumnValue, Decoder, LogicalReplicationMessage as M, OldTuple, ReplicaIdentity,
    StreamingMode,
};
use crate::relations::RelationCache;

const PG15_V1: &[u8] = include_bytes!("fixtures/pg15-v1.bin");
const PG15_V2_STREAMING: &[u8] = include_bytes!("fixtures/pg15-v2-streaming.bin");
const PG18_V1_BINARY: &[u8] = include_bytes!("fixtures/pg18-v1-binary.bin");
const PG18_V4_PARALLEL: &[u8] = include_bytes!("fixtures/pg18-v4-parallel.bin");

/// Decodes a capture: the options byte sets up the decoder, then every payload must
/// decode; rows are checked against the relation cache as the event builder will.
fn decode_capture(capture: &[u8]) -> Vec<M> {
    let (&options, mut rest) = capture.split_first().unwrap();
    let streaming = match options >> 2 {
        0 => StreamingMode::Off,
        1 => StreamingMode::On,
        _ => StreamingMode::Parallel,
    };
    let mut decoder = Decoder::new(u32::from(options & 0b11) + 1, streaming).unwrap();
    let mut relations = RelationCache::new();
    let mut messages = Vec::new();
    while let [hi, lo, tail @ ..] = rest {
        let (payload, tail) = tail.split_at(usize::from(u16::from_be_bytes([*hi, *lo])));
        rest = tail;
        let message = decoder
            .decode(Bytes::copy_from_slice(payload))
            .unwrap_or_else(|err| panic!("message {}: {err}", messages.len()));
        let rows = match &message {
            M::Relation(relation) => {
                relations.insert(relation.clone());
                vec![]
            }
            M::Type(type_message) => {
                relations.insert_type(type_message.clone());
                vec![]
            }
            M::Insert(insert) => vec![(insert.relation_oid, &insert.new)],
            M::Update(update) => {
                let mut rows = vec![(update.relation_oid, &update.new)];
                rows.extend(
                    update
                        .old
                        .as_ref()
                        .map(|old| (update.relation_oid, old.tuple())),
                );
                rows
            }
            M::Delete(delete) => vec![(delete.relation_oid, delete.old.tuple())],
            _ => vec![],
        };
        for (oid, tuple) in rows {
            relations.get(oid).unwrap().check_tuple(tuple).unwrap();
        }
        messages.push(message);
    }
    assert!(rest.is_empty(), "capture ends mid-length");
    assert_eq!(decoder.open_stream(), None);
    messages
}

/// What every capture holds, whatever the options: the small transactions of the
/// workload.
fn assert_small_transactions(messages: &[M]) {
    let relation = |name: &str| {
        messages.iter().rev().find_map(|message| match message {
            M::Relation(relation) if relation.name == name => Some(relation),
            _ => None,
        })
    };
    let products = relation("products").unwrap();
    assert_eq!(products.namespace, "public");
    assert_eq!(products.replica_identity, ReplicaIdentity::Default);
    let names: Vec<_> = products
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "quantity",
            "price",
            "updated_at",
            "active",
            "uuid",
            "attributes",
            "weight",
            "mood",
            "email"
        ]
    );
    assert!(products.columns[0].is_key());
    assert!(products.columns[1..].iter().all(|column| !column.is_key()));
    // numeric(10,2) and varchar(255), as atttypmod stores them.
    assert_eq!(products.columns[3].type_modifier, (10 << 16 | 2) + 4);
    assert_eq!(products.columns[10].type_modifier, 255 + 4);
    assert_eq!(products.columns[2].type_modifier, -1);
    assert_eq!(
        relation("full_ident").unwrap().replica_identity,
        ReplicaIdentity::Full
    );

    let mood = messages
        .iter()
        .find_map(|message| match message {
            M::Type(type_message) if type_message.name == "mood" => Some(type_message),
            _ => None,
        })
        .unwrap();
    assert_eq!(mood.schema_name(), "public");
    assert_eq!(products.columns[9].type_oid, mood.oid);

    let begins = messages.iter().filter(|m| matches!(m, M::Begin(_))).count();
    let commits = messages
        .iter()
        .filter(|m| matches!(m, M::Commit(_)))
        .count();
    assert_eq!(begins, commits);
    for message in messages {
        if let M::Commit(commit) = message {
            assert!(commit.end_lsn > commit.commit_lsn);
            // Committed while the capture ran: after 2024, before 2100.
            let millis = commit.commit_timestamp.to_unix_millis();
            assert!(
                (1_704_067_200_000..4_102_444_800_000).contains(&millis),
                "{millis}"
            );
        }
    }

    let updates: Vec<_> = messages
        .iter()
        .filter_map(|m| if let M::Update(u) = m { Some(u) } else { None })
        .collect();
    assert!(updates.iter().any(|update| update.old.is_none()));
    // UPDATE products SET id = 10: the old key, other columns NULL.
    assert!(updates.iter().any(|update| matches!(
        &update.old,
        Some(OldTuple::Key(old)) if old.get(1) == Some(ColumnValue::Null)
    )));
    assert!(updates
        .iter()
        .any(|update| matches!(update.old, Some(OldTuple::Full(_)))));
    // UPDATE toasty SET other = 1: the TOASTed column is not resent.
    assert!(updates.iter().any(|update| update
        .new
        .iter()
        .any(|value| value == ColumnValue::UnchangedToast)));

    let deletes: Vec<_> = messages
        .iter()
        .filter_map(|m| if let M::Delete(d) = m { Some(d) } else { None })
        .collect();
    assert!(deletes
        .iter()
        .any(|delete| matches!(delete.old, OldTuple::Key(_))));
    assert!(deletes
        .iter()
        .any(|delete| matches!(delete.old, OldTuple::Full(_))));

    let truncate = messages
        .iter()
        .find_map(|m| {
            if let M::Truncate(t) = m {
                Some(t)
            } else {
                None
            }
        })
        .unwrap();
    assert!(truncate.options.cascade() && truncate.options.restart_identity());
    assert_eq!(truncate.relation_oids.len(), 2);

    let logical: Vec<_> = messages
        .iter()
        .filter_map(|m| if let M::Message(l) = m { Some(l) } else { None })
        .collect();
    assert_eq!(logical.len(), 2);
    assert!(logical[0].is_transactional());
    assert_eq!(
        (logical[0].prefix.as_str(), &logical[0].content[..]),
        ("audit", &b"hello"[..])
    );
    assert!(!logical[1].is_transactional());
    assert_eq!(
        (logical[1].prefix.as_str(), &logical[1].content[..]),
        ("heartbeat", &[0, 0xff][..])
    );
}

/// The streamed part: a transaction streamed in chunks with a subtransaction rolled
/// back inside it, then aborted; another streamed and committed.
fn assert_streamed_transactions(messages: &[M], parallel: bool) {
    let starts: Vec<_> = messages
        .iter()
        .filter_map(|m| {
            if let M::StreamStart(s) = m {
                Some(s)
            } else {
                None
            }
        })
        .collect();
    assert!(starts.iter().any(|start| start.first_segment));
    assert!(starts.iter().any(|start| !start.first_segment));

    let aborts: Vec<_> = messages
        .iter()
        .filter_map(|m| {
            if let M::StreamAbort(a) = m {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(aborts.len(), 2);
    assert!(
        !aborts[0].is_top_level(),
        "the rolled-back savepoint comes first"
    );
    assert!(aborts[1].is_top_level());
    for abort in aborts {
        assert_eq!(abort.parallel.is_some(), parallel);
        if let Some(fields) = &abort.parallel {
            assert!(fields.abort_lsn.0 > 0);
            assert!(fields.abort_timestamp.to_unix_millis() > 1_704_067_200_000);
        }
    }
    assert_eq!(
        messages
            .iter()
            .filter(|m| matches!(m, M::StreamCommit(_)))
            .count(),
        1
    );

    let streamed_inserts = messages
        .iter()
        .filter(|m| matches!(m, M::Insert(insert) if insert.xid.is_some()))
        .count();
    assert!(streamed_inserts > 500, "{streamed_inserts}");
}

#[test]
fn postgres_15_protocol_1() {
    let messages = decode_capture(PG15_V1);
    assert_eq!(messages.len(), 651);
    assert_small_transactions(&messages);
    assert!(messages.iter().all(|m| !matches!(m, M::StreamStart(_))));
}

#[test]
fn postgres_15_protocol_2_streaming() {
    let messages = decode_capture(PG15_V2_STREAMING);
    assert_eq!(messages.len(), 1585);
    assert_small_transactions(&messages);
    assert_streamed_transactions(&messages, false);
}

#[test]
fn postgres_18_protocol_1_binary() {
    let messages = decode_capture(PG18_V1_BINARY);
    assert_eq!(messages.len(), 651);
    assert_small_transactions(&messages);
    let binary_columns = messages
        .iter()
        .filter_map(|m| {
            if let M::Insert(i) = m {
                Some(&i.new)
            } else {
                None
            }
        })
        .flat_map(|row| (0..row.len()).filter_map(|index| row.kind(index)))
        .filter(|kind| *kind == ColumnKind::Binary)
        .count();
    assert!(binary_columns > 600, "{binary_columns}");
}

#[test]
fn postgres_18_protocol_4_parallel_streaming() {
    let messages = decode_capture(PG18_V4_PARALLEL);
    assert_eq!(messages.len(), 1641);
    assert_small_transactions(&messages);
    assert_streamed_transactions(&messages, true);
}

/// The first row of the workload in text format, column by column.
#[test]
fn postgres_text_output_of_the_nine_types() {
    let messages = decode_capture(PG15_V1);
    let first = messages
        .iter()
        .find_map(|m| {
            if let M::Insert(i) = m {
                Some(&i.new)
            } else {
                None
            }
        })
        .unwrap();
    let text: Vec<_> = first
        .iter()
        .map(|value| {
            value
                .bytes()
                .map(|bytes| String::from_utf8(bytes.to_vec()).unwrap())
        })
        .collect();
    let expected = [
        "1",
        "Sally Thomas",
        "42",
        "12345.67",
        "2024-05-01 12:34:56.789012+00",
        "t",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        r#"{"qty": 3, "sku": "A-42"}"#,
        "3.141592653589793",
        "happy",
    ];
    assert_eq!(text, expected.map(|value| Some(value.to_owned())));
}
