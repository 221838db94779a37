//! Properties: no input makes the decoder panic, and every message the test encoder
//! writes (as PostgreSQL would) decodes back to itself.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::encoder::{encode, Wire};
use super::samples;
use crate::lsn::Lsn;
use crate::pgoutput::{
    Begin, BeginPrepare, ColumnValue, Commit, CommitPrepared, Decoder, Delete, Insert,
    LogicalDecodingMessage, LogicalReplicationMessage as M, MessageType, Oid, OldTuple, Origin,
    PgTimestamp, Prepare, Relation, RelationColumn, ReplicaIdentity, RollbackPrepared, StreamAbort,
    StreamAbortParallel, StreamCommit, StreamStart, StreamingMode, Truncate, TruncateOptions,
    TupleData, Type, Update, Xid,
};

const TAGS: &[u8] = b"BCORYIUDTMSEcAbPKrp";

/// A decoder for any valid combination of options, possibly inside a streamed block.
fn any_decoder() -> impl Strategy<Value = Decoder> {
    (1u32..=4, 0u8..3, any::<bool>(), any::<u32>()).prop_map(|(version, mode, open, xid)| {
        let streaming = match (version, mode) {
            (4, 2) => StreamingMode::Parallel,
            (2.., 1..) => StreamingMode::On,
            _ => StreamingMode::Off,
        };
        let mut decoder = Decoder::new(version, streaming).unwrap();
        if open && version >= 2 {
            decoder
                .decode(Wire::new(b'S').u32(xid).u8(1).bytes())
                .unwrap();
        }
        decoder
    })
}

fn xid() -> impl Strategy<Value = Xid> {
    any::<u32>().prop_map(Xid)
}

fn oid() -> impl Strategy<Value = Oid> {
    any::<u32>().prop_map(Oid)
}

fn lsn() -> impl Strategy<Value = Lsn> {
    any::<u64>().prop_map(Lsn)
}

fn timestamp() -> impl Strategy<Value = PgTimestamp> {
    any::<i64>().prop_map(PgTimestamp)
}

/// Any string PostgreSQL can send: UTF-8 without NUL.
fn name() -> impl Strategy<Value = String> {
    "[^\\x00]{0,12}"
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// A column as (kind, bytes); the bytes only count for text and binary columns.
fn column() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (0u8..4, vec(any::<u8>(), 0..24))
}

fn tuple() -> impl Strategy<Value = TupleData> {
    vec(column(), 0..16).prop_map(|columns| {
        TupleData::from_values(columns.iter().map(|(kind, bytes)| match kind {
            0 => ColumnValue::Null,
            1 => ColumnValue::UnchangedToast,
            2 => ColumnValue::Text(bytes),
            _ => ColumnValue::Binary(bytes),
        }))
    })
}

fn old_tuple() -> impl Strategy<Value = OldTuple> {
    prop_oneof![
        tuple().prop_map(OldTuple::Key),
        tuple().prop_map(OldTuple::Full)
    ]
}

fn replica_identity() -> impl Strategy<Value = ReplicaIdentity> {
    prop::sample::select(vec![
        ReplicaIdentity::Default,
        ReplicaIdentity::Nothing,
        ReplicaIdentity::Full,
        ReplicaIdentity::Index,
    ])
}

fn relation_column() -> impl Strategy<Value = RelationColumn> {
    (any::<u8>(), name(), oid(), any::<i32>()).prop_map(|(flags, name, type_oid, type_modifier)| {
        RelationColumn {
            flags,
            name,
            type_oid,
            type_modifier,
        }
    })
}

fn transaction_message() -> impl Strategy<Value = M> {
    prop_oneof![
        (lsn(), timestamp(), xid()).prop_map(|(final_lsn, commit_timestamp, xid)| {
            M::Begin(Begin {
                final_lsn,
                commit_timestamp,
                xid,
            })
        }),
        (any::<u8>(), lsn(), lsn(), timestamp()).prop_map(
            |(flags, commit_lsn, end_lsn, commit_timestamp)| {
                M::Commit(Commit {
                    flags,
                    commit_lsn,
                    end_lsn,
                    commit_timestamp,
                })
            }
        ),
        (lsn(), name()).prop_map(|(commit_lsn, name)| M::Origin(Origin { commit_lsn, name })),
    ]
}

/// The messages that carry an xid inside a streamed block (`Some` ones are encoded and
/// decoded as inside one).
fn data_message() -> impl Strategy<Value = M> {
    let stream_xid = || proptest::option::of(xid());
    prop_oneof![
        (
            stream_xid(),
            oid(),
            name(),
            name(),
            replica_identity(),
            vec(relation_column(), 0..8)
        )
            .prop_map(|(xid, oid, namespace, name, replica_identity, columns)| {
                M::Relation(Relation {
                    xid,
                    oid,
                    namespace,
                    name,
                    replica_identity,
                    columns,
                })
            }),
        (stream_xid(), oid(), name(), name()).prop_map(|(xid, oid, namespace, name)| {
            M::Type(Type {
                xid,
                oid,
                namespace,
                name,
            })
        }),
        (stream_xid(), oid(), tuple()).prop_map(|(xid, relation_oid, new)| {
            M::Insert(Insert {
                xid,
                relation_oid,
                new,
            })
        }),
        (
            stream_xid(),
            oid(),
            proptest::option::of(old_tuple()),
            tuple()
        )
            .prop_map(|(xid, relation_oid, old, new)| M::Update(Update {
                xid,
                relation_oid,
                old,
                new
            })),
        (stream_xid(), oid(), old_tuple()).prop_map(|(xid, relation_oid, old)| {
            M::Delete(Delete {
                xid,
                relation_oid,
                old,
            })
        }),
        (stream_xid(), any::<u8>(), vec(oid(), 0..8)).prop_map(|(xid, options, relation_oids)| {
            M::Truncate(Truncate {
                xid,
                options: TruncateOptions(options),
                relation_oids,
            })
        }),
        (stream_xid(), any::<u8>(), lsn(), name(), bytes(64)).prop_map(
            |(xid, flags, lsn, prefix, content)| {
                M::Message(LogicalDecodingMessage {
                    xid,
                    flags,
                    lsn,
                    prefix,
                    content,
                })
            }
        ),
    ]
}

fn stream_message() -> impl Strategy<Value = M> {
    let parallel =
        (lsn(), timestamp()).prop_map(|(abort_lsn, abort_timestamp)| StreamAbortParallel {
            abort_lsn,
            abort_timestamp,
        });
    prop_oneof![
        (xid(), any::<bool>()).prop_map(|(xid, first_segment)| {
            M::StreamStart(StreamStart { xid, first_segment })
        }),
        Just(M::StreamStop),
        (xid(), any::<u8>(), lsn(), lsn(), timestamp()).prop_map(
            |(xid, flags, commit_lsn, end_lsn, commit_timestamp)| {
                M::StreamCommit(StreamCommit {
                    xid,
                    flags,
                    commit_lsn,
                    end_lsn,
                    commit_timestamp,
                })
            }
        ),
        (xid(), xid(), proptest::option::of(parallel)).prop_map(|(xid, subxact_xid, parallel)| {
            M::StreamAbort(StreamAbort {
                xid,
                subxact_xid,
                parallel,
            })
        }),
    ]
}

fn two_phase_message() -> impl Strategy<Value = M> {
    let prepare = || {
        (any::<u8>(), lsn(), lsn(), timestamp(), xid(), name()).prop_map(
            |(flags, prepare_lsn, end_lsn, prepare_timestamp, xid, gid)| Prepare {
                flags,
                prepare_lsn,
                end_lsn,
                prepare_timestamp,
                xid,
                gid,
            },
        )
    };
    prop_oneof![
        (lsn(), lsn(), timestamp(), xid(), name()).prop_map(
            |(prepare_lsn, end_lsn, prepare_timestamp, xid, gid)| {
                M::BeginPrepare(BeginPrepare {
                    prepare_lsn,
                    end_lsn,
                    prepare_timestamp,
                    xid,
                    gid,
                })
            }
        ),
        prepare().prop_map(M::Prepare),
        prepare().prop_map(M::StreamPrepare),
        (any::<u8>(), lsn(), lsn(), timestamp(), xid(), name()).prop_map(
            |(flags, commit_lsn, end_lsn, commit_timestamp, xid, gid)| {
                M::CommitPrepared(CommitPrepared {
                    flags,
                    commit_lsn,
                    end_lsn,
                    commit_timestamp,
                    xid,
                    gid,
                })
            }
        ),
        (
            any::<u8>(),
            lsn(),
            lsn(),
            timestamp(),
            timestamp(),
            xid(),
            name()
        )
            .prop_map(
                |(
                    flags,
                    prepare_end_lsn,
                    rollback_end_lsn,
                    prepare_timestamp,
                    rollback_timestamp,
                    xid,
                    gid,
                )| {
                    M::RollbackPrepared(RollbackPrepared {
                        flags,
                        prepare_end_lsn,
                        rollback_end_lsn,
                        prepare_timestamp,
                        rollback_timestamp,
                        xid,
                        gid,
                    })
                }
            ),
    ]
}

fn any_message() -> impl Strategy<Value = M> {
    prop_oneof![
        transaction_message(),
        data_message(),
        stream_message(),
        two_phase_message()
    ]
}

/// Whether `message` is sent between Stream Start and Stream Stop.
fn sent_in_stream(message: &M) -> bool {
    match message {
        M::Relation(m) => m.xid.is_some(),
        M::Type(m) => m.xid.is_some(),
        M::Insert(m) => m.xid.is_some(),
        M::Update(m) => m.xid.is_some(),
        M::Delete(m) => m.xid.is_some(),
        M::Truncate(m) => m.xid.is_some(),
        M::Message(m) => m.xid.is_some(),
        M::StreamStop => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(mut decoder in any_decoder(), payload in vec(any::<u8>(), 0..256)) {
        let _ = decoder.decode(Bytes::from(payload));
    }

    #[test]
    fn arbitrary_bodies_never_panic(
        mut decoder in any_decoder(),
        tag in prop::sample::select(TAGS),
        body in vec(any::<u8>(), 0..256),
    ) {
        let mut payload = vec![tag];
        payload.extend(body);
        let _ = decoder.decode(Bytes::from(payload));
    }

    #[test]
    fn mutated_messages_never_panic(
        index in any::<prop::sample::Index>(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let all = samples::all();
        let sample = index.get(&all);
        let mut payload = sample.payload.to_vec();
        for (position, value) in flips {
            let position = position.index(payload.len());
            payload[position] = value;
        }
        let keep = cut.index(payload.len() + 1);
        payload.truncate(keep.max(1));
        let _ = sample.decoder().decode(Bytes::from(payload));
    }

    #[test]
    fn encoded_messages_round_trip(message in any_message()) {
        let parallel = matches!(&message, M::StreamAbort(StreamAbort { parallel: Some(_), .. }));
        let streaming = if parallel { StreamingMode::Parallel } else { StreamingMode::On };
        let mut decoder = Decoder::new(4, streaming).unwrap();
        if sent_in_stream(&message) {
            decoder.decode(Wire::new(b'S').u32(1).u8(1).bytes()).unwrap();
        }
        let payload = encode(&message);
        prop_assert_eq!(payload.first().copied(), Some(message.message_type().tag()));
        let decoded = decoder.decode(payload).unwrap();
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(decoded.message_type(), MessageType::from_tag(message.message_type().tag()).unwrap());
    }
}
