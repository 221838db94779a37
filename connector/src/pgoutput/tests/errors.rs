//! Every way a payload can be wrong ends in a `DecodeError` that says what and where,
//! never a panic, and never an allocation sized by an unchecked count.

use bytes::Bytes;

use super::encoder::Wire;
use super::samples;
use crate::pgoutput::{DecodeError, Decoder, MessageType, StreamingMode, Xid};

fn decoder(protocol_version: u32, streaming: StreamingMode) -> Decoder {
    Decoder::new(protocol_version, streaming).unwrap()
}

fn decode_v1(payload: Bytes) -> Result<crate::pgoutput::LogicalReplicationMessage, DecodeError> {
    decoder(1, StreamingMode::Off).decode(payload)
}

#[test]
fn every_prefix_of_every_message_is_an_error() {
    let mut checked = 0;
    for sample in samples::all() {
        for len in 0..sample.payload.len() {
            let mut decoder = sample.decoder();
            let before = decoder.open_stream();
            let err = decoder
                .decode(sample.payload.slice(..len))
                .expect_err(&format!("{} cut to {len} bytes decoded", sample.name));
            match err {
                DecodeError::Empty => assert_eq!(len, 0),
                DecodeError::Truncated {
                    offset,
                    needed,
                    remaining,
                    ..
                } => {
                    assert!(needed > remaining, "{}: {err}", sample.name);
                    assert_eq!(offset + remaining, len, "{}: {err}", sample.name);
                }
                DecodeError::UnterminatedString { offset, .. }
                | DecodeError::CountExceedsInput { offset, .. } => {
                    assert!(offset <= len, "{}: {err}", sample.name);
                }
                other => panic!("{} cut to {len} bytes: unexpected {other:?}", sample.name),
            }
            // A failed message leaves the streamed-block state alone.
            assert_eq!(decoder.open_stream(), before, "{}", sample.name);
            checked += 1;
        }
    }
    assert!(checked > 1_000, "only {checked} prefixes");
}

#[test]
fn trailing_bytes_after_a_complete_message_are_an_error() {
    for sample in samples::all() {
        let mut payload = sample.payload.to_vec();
        payload.push(0);
        let err = sample.decoder().decode(Bytes::from(payload)).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TrailingBytes {
                message: MessageType::from_tag(sample.payload[0]).unwrap(),
                offset: sample.payload.len(),
                trailing: 1,
            },
            "{}",
            sample.name
        );
    }
}

#[test]
fn empty_payload() {
    assert_eq!(decode_v1(Bytes::new()), Err(DecodeError::Empty));
}

#[test]
fn unknown_message_types() {
    for tag in 0..=u8::MAX {
        if MessageType::from_tag(tag).is_some() {
            continue;
        }
        let err = decoder(4, StreamingMode::Parallel)
            .decode(Bytes::from(vec![tag, 0, 0]))
            .unwrap_err();
        assert_eq!(err, DecodeError::UnknownMessageType { tag });
    }
    let err = decode_v1(Bytes::from_static(b"X")).unwrap_err();
    assert!(err.to_string().contains("0x58 ('X')"), "{err}");
}

#[test]
fn messages_newer_than_the_protocol_version() {
    let cases = [
        (1, Wire::new(b'S').u32(1).u8(1), MessageType::StreamStart, 2),
        (1, Wire::new(b'E'), MessageType::StreamStop, 2),
        (1, Wire::new(b'c'), MessageType::StreamCommit, 2),
        (1, Wire::new(b'A'), MessageType::StreamAbort, 2),
        (2, Wire::new(b'b'), MessageType::BeginPrepare, 3),
        (2, Wire::new(b'P'), MessageType::Prepare, 3),
        (2, Wire::new(b'K'), MessageType::CommitPrepared, 3),
        (2, Wire::new(b'r'), MessageType::RollbackPrepared, 3),
        (2, Wire::new(b'p'), MessageType::StreamPrepare, 3),
    ];
    for (version, wire, message, min_protocol_version) in cases {
        let streaming = if version >= 2 {
            StreamingMode::On
        } else {
            StreamingMode::Off
        };
        assert_eq!(
            decoder(version, streaming).decode(wire.bytes()),
            Err(DecodeError::NotInProtocolVersion {
                message,
                protocol_version: version,
                min_protocol_version,
            })
        );
    }
}

#[test]
fn unsupported_decoder_options() {
    for (version, streaming) in [
        (0, StreamingMode::Off),
        (5, StreamingMode::Off),
        (1, StreamingMode::On),
        (3, StreamingMode::Parallel),
    ] {
        let err = Decoder::new(version, streaming).unwrap_err();
        assert!(
            matches!(err, DecodeError::UnsupportedOptions { .. }),
            "{err}"
        );
    }
}

#[test]
fn unknown_column_kind() {
    let payload = Wire::new(b'I')
        .u32(1)
        .u8(b'N')
        .u16(2)
        .u8(b'n')
        .u8(b'x')
        .bytes();
    assert_eq!(
        decode_v1(payload),
        Err(DecodeError::UnknownTag {
            message: MessageType::Insert,
            field: "column kind",
            offset: 9,
            tag: b'x',
            expected: "'n', 'u', 't' or 'b'",
        })
    );
}

#[test]
fn unknown_tuple_markers() {
    let insert = Wire::new(b'I').u32(1).u8(b'K').u16(0).bytes();
    let update = Wire::new(b'U').u32(1).u8(b'X').u16(0).bytes();
    let update_second = Wire::new(b'U')
        .u32(1)
        .u8(b'K')
        .u16(0)
        .u8(b'K')
        .u16(0)
        .bytes();
    let delete = Wire::new(b'D').u32(1).u8(b'N').u16(0).bytes();
    for (payload, message, offset, tag) in [
        (insert, MessageType::Insert, 5, b'K'),
        (update, MessageType::Update, 5, b'X'),
        (update_second, MessageType::Update, 8, b'K'),
        (delete, MessageType::Delete, 5, b'N'),
    ] {
        match decode_v1(payload) {
            Err(DecodeError::UnknownTag {
                message: m,
                field,
                offset: o,
                tag: t,
                ..
            }) => {
                assert_eq!((m, field, o, t), (message, "tuple marker", offset, tag));
            }
            other => panic!("{message}: {other:?}"),
        }
    }
}

#[test]
fn unknown_replica_identity() {
    let payload = Wire::new(b'R')
        .u32(1)
        .str("public")
        .str("t")
        .u8(b'z')
        .u16(0)
        .bytes();
    assert_eq!(
        decode_v1(payload),
        Err(DecodeError::UnknownTag {
            message: MessageType::Relation,
            field: "replica identity",
            offset: 14,
            tag: b'z',
            expected: "'d', 'n', 'f' or 'i'",
        })
    );
}

#[test]
fn unknown_first_segment_flag() {
    let payload = Wire::new(b'S').u32(1).u8(2).bytes();
    let err = decoder(2, StreamingMode::On).decode(payload).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnknownTag {
                field: "first segment flag",
                offset: 5,
                tag: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn invalid_utf8_in_every_string_field() {
    const BAD: &[u8] = b"ok\xC3\x28";
    let bad = |wire: Wire| wire.raw(BAD).u8(0);
    let cases: Vec<(u32, Wire, MessageType, &str, usize)> = vec![
        (
            1,
            bad(Wire::new(b'O').u64(1)),
            MessageType::Origin,
            "origin name",
            9,
        ),
        (
            1,
            bad(Wire::new(b'R').u32(1)).str("t").u8(b'd').u16(0),
            MessageType::Relation,
            "namespace",
            5,
        ),
        (
            1,
            bad(Wire::new(b'R').u32(1).str("")).u8(b'd').u16(0),
            MessageType::Relation,
            "relation name",
            6,
        ),
        (
            1,
            bad(Wire::new(b'R')
                .u32(1)
                .str("")
                .str("t")
                .u8(b'd')
                .u16(1)
                .u8(0))
            .u32(25)
            .i32(-1),
            MessageType::Relation,
            "column name",
            12,
        ),
        (
            1,
            bad(Wire::new(b'Y').u32(1)).str("t"),
            MessageType::Type,
            "namespace",
            5,
        ),
        (
            1,
            bad(Wire::new(b'Y').u32(1).str("")),
            MessageType::Type,
            "type name",
            6,
        ),
        (
            1,
            bad(Wire::new(b'M').u8(0).u64(1)).i32(0),
            MessageType::Message,
            "prefix",
            10,
        ),
        (
            3,
            bad(Wire::new(b'b').u64(1).u64(2).i64(3).u32(4)),
            MessageType::BeginPrepare,
            "gid",
            29,
        ),
        (
            3,
            bad(Wire::new(b'P').u8(0).u64(1).u64(2).i64(3).u32(4)),
            MessageType::Prepare,
            "gid",
            30,
        ),
        (
            3,
            bad(Wire::new(b'K').u8(0).u64(1).u64(2).i64(3).u32(4)),
            MessageType::CommitPrepared,
            "gid",
            30,
        ),
        (
            3,
            bad(Wire::new(b'r').u8(0).u64(1).u64(2).i64(3).i64(4).u32(5)),
            MessageType::RollbackPrepared,
            "gid",
            38,
        ),
    ];
    for (version, wire, message, field, offset) in cases {
        let streaming = if version >= 2 {
            StreamingMode::On
        } else {
            StreamingMode::Off
        };
        assert_eq!(
            decoder(version, streaming).decode(wire.bytes()),
            Err(DecodeError::InvalidUtf8 {
                message,
                field,
                offset,
                bad_byte_offset: offset + 2
            }),
            "{message} {field}"
        );
    }
}

#[test]
fn huge_tuple_column_count_fails_before_allocating() {
    // 65535 columns announced, 3 bytes left.
    let payload = Wire::new(b'I')
        .u32(1)
        .u8(b'N')
        .u16(u16::MAX)
        .raw(b"nnn")
        .bytes();
    assert_eq!(
        decode_v1(payload),
        Err(DecodeError::CountExceedsInput {
            message: MessageType::Insert,
            field: "column count",
            offset: 6,
            count: 65_535,
            min_bytes: 65_535,
            remaining: 3,
        })
    );
}

#[test]
fn huge_relation_column_count_fails_before_allocating() {
    let payload = Wire::new(b'R')
        .u32(1)
        .str("")
        .str("t")
        .u8(b'd')
        .u16(u16::MAX)
        .u8(0)
        .bytes();
    let err = decode_v1(payload).unwrap_err();
    assert_eq!(
        err,
        DecodeError::CountExceedsInput {
            message: MessageType::Relation,
            field: "column count",
            offset: 9,
            count: 65_535,
            min_bytes: 655_350,
            remaining: 1,
        }
    );
}

#[test]
fn huge_truncate_relation_count_fails_before_allocating() {
    let payload = Wire::new(b'T').u32(u32::MAX).u8(0).u32(1).bytes();
    let err = decode_v1(payload).unwrap_err();
    assert_eq!(
        err,
        DecodeError::CountExceedsInput {
            message: MessageType::Truncate,
            field: "relation count",
            offset: 1,
            count: u64::from(u32::MAX),
            min_bytes: u64::from(u32::MAX) * 4,
            remaining: 4,
        }
    );
}

#[test]
fn huge_column_length_is_truncation() {
    let payload = Wire::new(b'I')
        .u32(1)
        .u8(b'N')
        .u16(1)
        .u8(b't')
        .i32(i32::MAX)
        .raw(b"abc")
        .bytes();
    assert_eq!(
        decode_v1(payload),
        Err(DecodeError::Truncated {
            message: MessageType::Insert,
            field: "text column value",
            offset: 13,
            needed: i32::MAX as usize,
            remaining: 3,
        })
    );
}

#[test]
fn negative_lengths() {
    let column = Wire::new(b'I')
        .u32(1)
        .u8(b'N')
        .u16(1)
        .u8(b'b')
        .i32(-1)
        .bytes();
    assert_eq!(
        decode_v1(column),
        Err(DecodeError::NegativeLength {
            message: MessageType::Insert,
            field: "column length",
            offset: 9,
            length: -1,
        })
    );
    let content = Wire::new(b'M').u8(0).u64(1).str("p").i32(i32::MIN).bytes();
    assert_eq!(
        decode_v1(content),
        Err(DecodeError::NegativeLength {
            message: MessageType::Message,
            field: "content length",
            offset: 12,
            length: i32::MIN,
        })
    );
}

#[test]
fn huge_message_content_length_is_truncation() {
    let payload = Wire::new(b'M').u8(0).u64(1).str("p").i32(i32::MAX).bytes();
    assert!(matches!(
        decode_v1(payload),
        Err(DecodeError::Truncated {
            field: "content",
            remaining: 0,
            ..
        })
    ));
}

#[test]
fn unterminated_string() {
    let payload = Wire::new(b'O').u64(1).raw(b"node_a").bytes();
    assert_eq!(
        decode_v1(payload),
        Err(DecodeError::UnterminatedString {
            message: MessageType::Origin,
            field: "origin name",
            offset: 9,
        })
    );
}

#[test]
fn nested_stream_start() {
    let mut decoder = decoder(2, StreamingMode::On);
    decoder
        .decode(Wire::new(b'S').u32(900).u8(1).bytes())
        .unwrap();
    assert_eq!(
        decoder.decode(Wire::new(b'S').u32(901).u8(1).bytes()),
        Err(DecodeError::NestedStreamStart {
            xid: Xid(901),
            open_xid: Xid(900)
        })
    );
    assert_eq!(decoder.open_stream(), Some(Xid(900)));
}

#[test]
fn stream_stop_without_start() {
    let mut decoder = decoder(2, StreamingMode::On);
    assert_eq!(
        decoder.decode(Wire::new(b'E').bytes()),
        Err(DecodeError::StreamStopWithoutStart)
    );
    assert_eq!(decoder.open_stream(), None);
}

#[test]
fn transaction_boundaries_inside_a_streamed_block() {
    let cases = [
        Wire::new(b'B').u64(1).i64(2).u32(3),
        Wire::new(b'C').u8(0).u64(1).u64(2).i64(3),
        Wire::new(b'c').u32(900).u8(0).u64(1).u64(2).i64(3),
        Wire::new(b'A').u32(900).u32(900),
        Wire::new(b'b').u64(1).u64(2).i64(3).u32(4).str("g"),
        Wire::new(b'P').u8(0).u64(1).u64(2).i64(3).u32(4).str("g"),
        Wire::new(b'K').u8(0).u64(1).u64(2).i64(3).u32(4).str("g"),
        Wire::new(b'r')
            .u8(0)
            .u64(1)
            .u64(2)
            .i64(3)
            .i64(4)
            .u32(5)
            .str("g"),
        Wire::new(b'p').u8(0).u64(1).u64(2).i64(3).u32(4).str("g"),
    ];
    for wire in cases {
        let mut decoder = decoder(3, StreamingMode::On);
        decoder
            .decode(Wire::new(b'S').u32(900).u8(1).bytes())
            .unwrap();
        let payload = wire.bytes();
        let message = MessageType::from_tag(payload[0]).unwrap();
        assert_eq!(
            decoder.decode(payload),
            Err(DecodeError::NotAllowedInStream {
                message,
                open_xid: Xid(900)
            })
        );
        assert_eq!(decoder.open_stream(), Some(Xid(900)));
    }
}

#[test]
fn a_streamed_row_without_its_xid_is_an_error() {
    // Inside a block the first four bytes are the xid, so an xid-less Insert is one
    // byte short (or misread: here it runs out of bytes).
    let mut decoder = decoder(2, StreamingMode::On);
    decoder
        .decode(Wire::new(b'S').u32(900).u8(1).bytes())
        .unwrap();
    let payload = Wire::new(b'I').u32(16_385).u8(b'N').u16(0).bytes();
    assert!(decoder.decode(payload).is_err());
}

#[test]
fn errors_read_well() {
    let err = decode_v1(
        Wire::new(b'I')
            .u32(1)
            .u8(b'N')
            .u16(1)
            .u8(b't')
            .i32(10)
            .raw(b"ab")
            .bytes(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pgoutput Insert ('I') message truncated: text column value at byte 13 needs 10 bytes, \
         2 remain"
    );
    assert!(!err.is_retriable());
}
