//! Every message type, built byte by byte from the documented layout, decoded with
//! every field checked.

use bytes::Bytes;

use super::encoder::Wire;
use super::samples;
use crate::lsn::Lsn;
use crate::pgoutput::{
    Begin, BeginPrepare, ColumnKind, ColumnValue, Commit, CommitPrepared, Decoder, Delete, Insert,
    LogicalDecodingMessage, LogicalReplicationMessage as M, Oid, OldTuple, Origin, PgTimestamp,
    Prepare, Relation, RelationColumn, ReplicaIdentity, RollbackPrepared, StreamAbort,
    StreamAbortParallel, StreamCommit, StreamStart, StreamingMode, Truncate, TruncateOptions,
    TupleData, Type, Update, Xid,
};

/// 2024-05-01 12:34:56.789012 UTC in PostgreSQL's epoch.
const TS: PgTimestamp = PgTimestamp(767_882_096_789_012);

fn decoder(protocol_version: u32, streaming: StreamingMode) -> Decoder {
    Decoder::new(protocol_version, streaming).unwrap()
}

/// A protocol version 2 decoder inside the streamed block of `xid`.
fn streaming_decoder(xid: u32) -> Decoder {
    let mut decoder = decoder(2, StreamingMode::On);
    decoder
        .decode(Wire::new(b'S').u32(xid).u8(1).bytes())
        .unwrap();
    assert_eq!(decoder.open_stream(), Some(Xid(xid)));
    decoder
}

fn decode(payload: Bytes) -> M {
    decoder(1, StreamingMode::Off).decode(payload).unwrap()
}

fn text(value: &'static str) -> ColumnValue<'static> {
    ColumnValue::Text(value.as_bytes())
}

#[test]
fn begin_from_literal_bytes() {
    let payload = Bytes::from_static(&[
        b'B', //
        0, 0, 0, 0, 0x01, 0x6B, 0x37, 0x48, // final LSN 0/16B3748
        0x00, 0x02, 0xBA, 0x62, 0x7B, 0x9B, 0xC6, 0x14, // commit timestamp
        0, 0, 0x02, 0xE6, // xid 742
    ]);
    assert_eq!(
        decode(payload),
        M::Begin(Begin {
            final_lsn: Lsn(0x16B_3748),
            commit_timestamp: TS,
            xid: Xid(742)
        })
    );
    assert_eq!(TS.to_unix_millis(), 1_714_566_896_789);
}

#[test]
fn commit() {
    let payload = Wire::new(b'C')
        .u8(0)
        .u64(0x16B_3748)
        .u64(0x16B_3778)
        .i64(TS.0)
        .bytes();
    assert_eq!(
        decode(payload),
        M::Commit(Commit {
            flags: 0,
            commit_lsn: Lsn(0x16B_3748),
            end_lsn: Lsn(0x16B_3778),
            commit_timestamp: TS,
        })
    );
}

#[test]
fn origin() {
    let payload = Wire::new(b'O').u64(0x3_0000_0010).str("node_a").bytes();
    assert_eq!(
        decode(payload),
        M::Origin(Origin {
            commit_lsn: Lsn(0x3_0000_0010),
            name: "node_a".to_owned()
        })
    );
}

#[test]
fn origin_after_stream_start_has_no_xid() {
    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'O').u64(0).str("node_a").bytes();
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Origin(Origin {
            commit_lsn: Lsn(0),
            name: "node_a".to_owned()
        })
    );
}

fn relation_payload(wire: Wire, identity: u8) -> Bytes {
    wire.u32(16_385)
        .str("inventory")
        .str("customers")
        .u8(identity)
        .u16(4)
        .u8(1)
        .str("id")
        .u32(20)
        .i32(-1)
        .u8(0)
        .str("email")
        .u32(1_043)
        .i32(259) // varchar(255): length + 4
        .u8(0)
        .str("balance")
        .u32(1_700)
        .i32((10 << 16 | 2) + 4) // numeric(10,2)
        .u8(0)
        .str("mood")
        .u32(16_400)
        .i32(-1)
        .bytes()
}

fn customers(xid: Option<Xid>, replica_identity: ReplicaIdentity) -> Relation {
    let column = |flags, name: &str, type_oid, type_modifier| RelationColumn {
        flags,
        name: name.to_owned(),
        type_oid: Oid(type_oid),
        type_modifier,
    };
    Relation {
        xid,
        oid: Oid(16_385),
        namespace: "inventory".to_owned(),
        name: "customers".to_owned(),
        replica_identity,
        columns: vec![
            column(1, "id", 20, -1),
            column(0, "email", 1_043, 259),
            column(0, "balance", 1_700, 655_366),
            column(0, "mood", 16_400, -1),
        ],
    }
}

#[test]
fn relation_with_every_replica_identity() {
    for (byte, identity) in [
        (b'd', ReplicaIdentity::Default),
        (b'n', ReplicaIdentity::Nothing),
        (b'f', ReplicaIdentity::Full),
        (b'i', ReplicaIdentity::Index),
    ] {
        let message = decode(relation_payload(Wire::new(b'R'), byte));
        assert_eq!(message, M::Relation(customers(None, identity)));
        let M::Relation(relation) = message else {
            unreachable!()
        };
        assert_eq!(relation.schema_name(), "inventory");
        assert!(relation.columns[0].is_key());
        assert!(!relation.columns[1].is_key());
    }
}

#[test]
fn relation_streamed_carries_the_xid() {
    let mut decoder = streaming_decoder(900);
    let payload = relation_payload(Wire::new(b'R').u32(901), b'd');
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Relation(customers(Some(Xid(901)), ReplicaIdentity::Default))
    );
}

#[test]
fn relation_in_pg_catalog_has_an_empty_namespace() {
    let payload = Wire::new(b'R')
        .u32(16_385)
        .str("")
        .str("t")
        .u8(b'f')
        .u16(0)
        .bytes();
    let M::Relation(relation) = decode(payload) else {
        panic!("not a Relation")
    };
    assert_eq!(relation.namespace, "");
    assert_eq!(relation.schema_name(), "pg_catalog");
    assert_eq!(relation.replica_identity, ReplicaIdentity::Full);
    assert!(relation.columns.is_empty());
}

#[test]
fn type_message() {
    let payload = Wire::new(b'Y')
        .u32(16_400)
        .str("inventory")
        .str("mood")
        .bytes();
    assert_eq!(
        decode(payload),
        M::Type(Type {
            xid: None,
            oid: Oid(16_400),
            namespace: "inventory".to_owned(),
            name: "mood".to_owned(),
        })
    );
    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'Y')
        .u32(900)
        .u32(16_401)
        .str("")
        .str("int4")
        .bytes();
    let M::Type(type_message) = decoder.decode(payload).unwrap() else {
        panic!("not a Type")
    };
    assert_eq!(type_message.xid, Some(Xid(900)));
    assert_eq!(type_message.oid, Oid(16_401));
    assert_eq!(type_message.schema_name(), "pg_catalog");
    assert_eq!(type_message.name, "int4");
}

#[test]
fn insert_with_every_column_kind() {
    let payload = Wire::new(b'I')
        .u32(16_385)
        .u8(b'N')
        .u16(6)
        .u8(b't')
        .counted(b"42")
        .u8(b'n')
        .u8(b'u')
        .u8(b'b')
        .counted(&[0, 0, 0, 42])
        .u8(b't')
        .counted(b"")
        .u8(b'b')
        .counted(b"")
        .bytes();
    let message = decode(payload.clone());
    let expected_new = TupleData::from_values(vec![
        text("42"),
        ColumnValue::Null,
        ColumnValue::UnchangedToast,
        ColumnValue::Binary(&[0, 0, 0, 42]),
        text(""),
        ColumnValue::Binary(&[]),
    ]);
    assert_eq!(
        message,
        M::Insert(Insert {
            xid: None,
            relation_oid: Oid(16_385),
            new: expected_new
        })
    );

    // Values are slices of the payload, not copies.
    let M::Insert(insert) = message else {
        unreachable!()
    };
    let payload_range = payload.as_ptr_range();
    let borrowed = insert.new.get(0).and_then(|value| value.bytes()).unwrap();
    assert!(payload_range.contains(&borrowed.as_ptr()));
    let owned = insert.new.bytes(0).unwrap();
    assert!(payload_range.contains(&owned.as_ptr()));
    assert_eq!(owned, "42");
    assert_eq!(insert.new.bytes(1), None);
    assert_eq!(insert.new.kind(2), Some(ColumnKind::UnchangedToast));
    assert_eq!(insert.new.iter().len(), 6);
    assert!(insert.new.get(1).unwrap().is_null());
    assert_eq!(insert.new.get(2).unwrap().bytes(), None);
}

#[test]
fn insert_streamed_carries_the_xid() {
    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'I')
        .u32(902)
        .u32(16_385)
        .u8(b'N')
        .u16(1)
        .u8(b't')
        .counted(b"1")
        .bytes();
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Insert(Insert {
            xid: Some(Xid(902)),
            relation_oid: Oid(16_385),
            new: TupleData::from_values(vec![text("1")]),
        })
    );
}

#[test]
fn update_without_old_tuple() {
    let payload = Wire::new(b'U')
        .u32(16_385)
        .u8(b'N')
        .u16(2)
        .u8(b't')
        .counted(b"1")
        .u8(b'u')
        .bytes();
    assert_eq!(
        decode(payload),
        M::Update(Update {
            xid: None,
            relation_oid: Oid(16_385),
            old: None,
            new: TupleData::from_values(vec![text("1"), ColumnValue::UnchangedToast]),
        })
    );
}

#[test]
fn update_with_old_key() {
    let payload = Wire::new(b'U')
        .u32(16_385)
        .u8(b'K')
        .u16(2)
        .u8(b't')
        .counted(b"1")
        .u8(b'n')
        .u8(b'N')
        .u16(2)
        .u8(b't')
        .counted(b"2")
        .u8(b't')
        .counted(b"sally@example.com")
        .bytes();
    let M::Update(update) = decode(payload) else {
        panic!("not an Update")
    };
    assert_eq!(update.xid, None);
    assert_eq!(update.relation_oid, Oid(16_385));
    assert_eq!(
        update.old,
        Some(OldTuple::Key(TupleData::from_values(vec![
            text("1"),
            ColumnValue::Null
        ])))
    );
    assert_eq!(
        update.new,
        TupleData::from_values(vec![text("2"), text("sally@example.com")])
    );
}

#[test]
fn update_with_old_tuple_streamed() {
    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'U')
        .u32(900)
        .u32(16_385)
        .u8(b'O')
        .u16(1)
        .u8(b't')
        .counted(b"old")
        .u8(b'N')
        .u16(1)
        .u8(b't')
        .counted(b"new")
        .bytes();
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Update(Update {
            xid: Some(Xid(900)),
            relation_oid: Oid(16_385),
            old: Some(OldTuple::Full(TupleData::from_values(vec![text("old")]))),
            new: TupleData::from_values(vec![text("new")]),
        })
    );
}

#[test]
fn delete_with_old_key_and_old_tuple() {
    for (marker, wrap) in [
        (b'K', OldTuple::Key as fn(TupleData) -> OldTuple),
        (b'O', OldTuple::Full as fn(TupleData) -> OldTuple),
    ] {
        let payload = Wire::new(b'D')
            .u32(16_385)
            .u8(marker)
            .u16(2)
            .u8(b't')
            .counted(b"1")
            .u8(b'n')
            .bytes();
        let old = wrap(TupleData::from_values(vec![text("1"), ColumnValue::Null]));
        assert_eq!(
            decode(payload),
            M::Delete(Delete {
                xid: None,
                relation_oid: Oid(16_385),
                old: old.clone()
            })
        );
        assert_eq!(old.tuple().len(), 2);
    }
    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'D').u32(900).u32(16_385).u8(b'K').u16(0).bytes();
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Delete(Delete {
            xid: Some(Xid(900)),
            relation_oid: Oid(16_385),
            old: OldTuple::Key(TupleData::default()),
        })
    );
}

#[test]
fn truncate_with_every_option_combination() {
    for options in 0..=3u8 {
        let payload = Wire::new(b'T')
            .u32(2)
            .u8(options)
            .u32(16_385)
            .u32(16_390)
            .bytes();
        let message = decode(payload);
        assert_eq!(
            message,
            M::Truncate(Truncate {
                xid: None,
                options: TruncateOptions(options),
                relation_oids: vec![Oid(16_385), Oid(16_390)],
            })
        );
        let M::Truncate(truncate) = message else {
            unreachable!()
        };
        assert_eq!(truncate.options.cascade(), options & 1 != 0);
        assert_eq!(truncate.options.restart_identity(), options & 2 != 0);
    }
    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'T').u32(900).u32(1).u8(1).u32(16_385).bytes();
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Truncate(Truncate {
            xid: Some(Xid(900)),
            options: TruncateOptions(TruncateOptions::CASCADE),
            relation_oids: vec![Oid(16_385)],
        })
    );
}

#[test]
fn logical_decoding_message() {
    let payload = Wire::new(b'M')
        .u8(0)
        .u64(0x16B_3700)
        .str("heartbeat")
        .counted(b"")
        .bytes();
    let message = decode(payload);
    assert_eq!(
        message,
        M::Message(LogicalDecodingMessage {
            xid: None,
            flags: 0,
            lsn: Lsn(0x16B_3700),
            prefix: "heartbeat".to_owned(),
            content: Bytes::new(),
        })
    );
    let M::Message(message) = message else {
        unreachable!()
    };
    assert!(!message.is_transactional());

    let mut decoder = streaming_decoder(900);
    let payload = Wire::new(b'M')
        .u32(900)
        .u8(1)
        .u64(0x16B_3700)
        .str("audit")
        .counted(b"\0\xFFraw")
        .bytes();
    assert_eq!(
        decoder.decode(payload).unwrap(),
        M::Message(LogicalDecodingMessage {
            xid: Some(Xid(900)),
            flags: 1,
            lsn: Lsn(0x16B_3700),
            prefix: "audit".to_owned(),
            content: Bytes::from_static(b"\0\xFFraw"),
        })
    );
}

#[test]
fn stream_start_and_stop_open_and_close_the_block() {
    let mut decoder = decoder(2, StreamingMode::On);
    assert_eq!(
        decoder
            .decode(Wire::new(b'S').u32(900).u8(1).bytes())
            .unwrap(),
        M::StreamStart(StreamStart {
            xid: Xid(900),
            first_segment: true
        })
    );
    assert_eq!(decoder.open_stream(), Some(Xid(900)));
    assert_eq!(
        decoder.decode(Wire::new(b'E').bytes()).unwrap(),
        M::StreamStop
    );
    assert_eq!(decoder.open_stream(), None);
    assert_eq!(
        decoder
            .decode(Wire::new(b'S').u32(900).u8(0).bytes())
            .unwrap(),
        M::StreamStart(StreamStart {
            xid: Xid(900),
            first_segment: false
        })
    );
}

#[test]
fn stream_commit() {
    let payload = Wire::new(b'c')
        .u32(900)
        .u8(0)
        .u64(0x2000)
        .u64(0x2030)
        .i64(TS.0)
        .bytes();
    assert_eq!(
        decoder(2, StreamingMode::On).decode(payload).unwrap(),
        M::StreamCommit(StreamCommit {
            xid: Xid(900),
            flags: 0,
            commit_lsn: Lsn(0x2000),
            end_lsn: Lsn(0x2030),
            commit_timestamp: TS,
        })
    );
}

#[test]
fn stream_abort_without_parallel_fields() {
    for (version, streaming) in [
        (2, StreamingMode::On),
        (3, StreamingMode::On),
        (4, StreamingMode::On),
    ] {
        let mut decoder = decoder(version, streaming);
        assert!(!decoder.stream_abort_has_parallel_fields());
        let message = decoder
            .decode(Wire::new(b'A').u32(900).u32(903).bytes())
            .unwrap();
        assert_eq!(
            message,
            M::StreamAbort(StreamAbort {
                xid: Xid(900),
                subxact_xid: Xid(903),
                parallel: None
            })
        );
        let M::StreamAbort(abort) = message else {
            unreachable!()
        };
        assert!(!abort.is_top_level());
    }
}

#[test]
fn stream_abort_v4_parallel_has_lsn_and_timestamp() {
    let mut decoder = decoder(4, StreamingMode::Parallel);
    assert!(decoder.stream_abort_has_parallel_fields());
    let payload = Wire::new(b'A')
        .u32(900)
        .u32(900)
        .u64(0x2100)
        .i64(TS.0)
        .bytes();
    let message = decoder.decode(payload).unwrap();
    assert_eq!(
        message,
        M::StreamAbort(StreamAbort {
            xid: Xid(900),
            subxact_xid: Xid(900),
            parallel: Some(StreamAbortParallel {
                abort_lsn: Lsn(0x2100),
                abort_timestamp: TS
            }),
        })
    );
    let M::StreamAbort(abort) = message else {
        unreachable!()
    };
    assert!(abort.is_top_level());
}

#[test]
fn begin_prepare() {
    let payload = Wire::new(b'b')
        .u64(0x3000)
        .u64(0x3040)
        .i64(TS.0)
        .u32(743)
        .str("gid-1")
        .bytes();
    assert_eq!(
        decoder(3, StreamingMode::Off).decode(payload).unwrap(),
        M::BeginPrepare(BeginPrepare {
            prepare_lsn: Lsn(0x3000),
            end_lsn: Lsn(0x3040),
            prepare_timestamp: TS,
            xid: Xid(743),
            gid: "gid-1".to_owned(),
        })
    );
}

#[test]
fn prepare_and_stream_prepare() {
    let expected = Prepare {
        flags: 0,
        prepare_lsn: Lsn(0x3000),
        end_lsn: Lsn(0x3040),
        prepare_timestamp: TS,
        xid: Xid(743),
        gid: "gid-1".to_owned(),
    };
    for (tag, wrap) in [
        (b'P', M::Prepare as fn(Prepare) -> M),
        (b'p', M::StreamPrepare as fn(Prepare) -> M),
    ] {
        let payload = Wire::new(tag)
            .u8(0)
            .u64(0x3000)
            .u64(0x3040)
            .i64(TS.0)
            .u32(743)
            .str("gid-1")
            .bytes();
        assert_eq!(
            decoder(3, StreamingMode::On).decode(payload).unwrap(),
            wrap(expected.clone())
        );
    }
}

#[test]
fn commit_prepared() {
    let payload = Wire::new(b'K')
        .u8(0)
        .u64(0x3100)
        .u64(0x3140)
        .i64(TS.0)
        .u32(743)
        .str("gid-1")
        .bytes();
    assert_eq!(
        decoder(3, StreamingMode::Off).decode(payload).unwrap(),
        M::CommitPrepared(CommitPrepared {
            flags: 0,
            commit_lsn: Lsn(0x3100),
            end_lsn: Lsn(0x3140),
            commit_timestamp: TS,
            xid: Xid(743),
            gid: "gid-1".to_owned(),
        })
    );
}

#[test]
fn rollback_prepared() {
    let payload = Wire::new(b'r')
        .u8(0)
        .u64(0x3040)
        .u64(0x3200)
        .i64(TS.0)
        .i64(TS.0 + 1_000_000)
        .u32(743)
        .str("gid-1")
        .bytes();
    assert_eq!(
        decoder(4, StreamingMode::Parallel).decode(payload).unwrap(),
        M::RollbackPrepared(RollbackPrepared {
            flags: 0,
            prepare_end_lsn: Lsn(0x3040),
            rollback_end_lsn: Lsn(0x3200),
            prepare_timestamp: TS,
            rollback_timestamp: PgTimestamp(TS.0 + 1_000_000),
            xid: Xid(743),
            gid: "gid-1".to_owned(),
        })
    );
}

/// A session as PostgreSQL sends it with `streaming = on`: a large transaction streamed
/// in two chunks, a small one committed between them, then the stream commit.
#[test]
fn interleaved_session() {
    let mut decoder = decoder(2, StreamingMode::On);
    let insert = |wire: Wire| wire.u32(16_385).u8(b'N').u16(1).u8(b't').counted(b"1");
    let session = [
        Wire::new(b'S').u32(900).u8(1),
        Wire(relation_payload(Wire::new(b'R').u32(900), b'd').to_vec()),
        insert(Wire::new(b'I').u32(900)),
        Wire::new(b'E'),
        Wire::new(b'B').u64(0x5000).i64(TS.0).u32(901),
        Wire(relation_payload(Wire::new(b'R'), b'd').to_vec()),
        insert(Wire::new(b'I')),
        Wire::new(b'C').u8(0).u64(0x5000).u64(0x5030).i64(TS.0),
        Wire::new(b'S').u32(900).u8(0),
        insert(Wire::new(b'I').u32(904)),
        Wire::new(b'E'),
        Wire::new(b'c')
            .u32(900)
            .u8(0)
            .u64(0x6000)
            .u64(0x6030)
            .i64(TS.0),
    ];
    let decoded: Vec<M> = session
        .into_iter()
        .map(|wire| decoder.decode(wire.bytes()).unwrap())
        .collect();
    let xids: Vec<Option<Xid>> = decoded
        .iter()
        .filter_map(|message| match message {
            M::Insert(insert) => Some(insert.xid),
            _ => None,
        })
        .collect();
    assert_eq!(xids, [Some(Xid(900)), None, Some(Xid(904))]);
    assert_eq!(decoder.open_stream(), None);
}

#[test]
fn every_sample_decodes() {
    for sample in samples::all() {
        let result = sample.decoder().decode(sample.payload.clone());
        assert!(result.is_ok(), "{}: {result:?}", sample.name);
    }
}
