//! One valid payload of every message shape, each with the session it must be decoded
//! in: the building blocks of the truncation, trailing-byte and mutation tests.

use bytes::Bytes;

use super::encoder::Wire;
use crate::pgoutput::{Decoder, StreamingMode, Xid};

/// The xid of the streamed block the `streamed` samples are decoded in.
pub(crate) const STREAM_XID: Xid = Xid(5_001);

#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) name: &'static str,
    pub(crate) protocol_version: u32,
    pub(crate) streaming: StreamingMode,
    /// Whether the payload is sent between Stream Start and Stream Stop.
    pub(crate) streamed: bool,
    pub(crate) payload: Bytes,
}

impl Sample {
    /// A decoder in the state the payload expects.
    pub(crate) fn decoder(&self) -> Decoder {
        let mut decoder = Decoder::new(self.protocol_version, self.streaming).unwrap();
        if self.streamed {
            let start = Wire::new(b'S').u32(STREAM_XID.0).u8(1).bytes();
            decoder.decode(start).unwrap();
        }
        decoder
    }
}

/// Nine text columns as a row of (int8, text, int4, numeric, timestamptz, bool, uuid,
/// jsonb, float8) arrives, plus NULL, unchanged-TOAST and binary columns.
pub(crate) fn row(wire: Wire) -> Wire {
    let text = [
        &b"1234567"[..],
        b"Sally Thomas",
        b"42",
        b"12345.67",
        b"2024-05-01 12:34:56.789012+00",
        b"t",
        b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        br#"{"sku": "A-42", "qty": 3}"#,
        b"3.141592653589793",
    ];
    let wire = text
        .iter()
        .fold(wire.u16(12), |wire, value| wire.u8(b't').counted(value));
    wire.u8(b'n').u8(b'u').u8(b'b').counted(&[0, 0, 0, 7])
}

fn key(wire: Wire) -> Wire {
    wire.u16(3).u8(b't').counted(b"1234567").u8(b'n').u8(b'n')
}

fn relation(wire: Wire) -> Wire {
    wire.u32(16_385)
        .str("inventory")
        .str("customers")
        .u8(b'd')
        .u16(3)
        .u8(1)
        .str("id")
        .u32(20)
        .i32(-1)
        .u8(0)
        .str("email")
        .u32(1_043)
        .i32(259)
        .u8(0)
        .str("mood")
        .u32(16_400)
        .i32(-1)
}

fn sample(
    name: &'static str,
    protocol_version: u32,
    streaming: StreamingMode,
    streamed: bool,
    wire: Wire,
) -> Sample {
    Sample {
        name,
        protocol_version,
        streaming,
        streamed,
        payload: wire.bytes(),
    }
}

/// Every message type, outside and (where PostgreSQL sends it there) inside a streamed
/// block, with every optional part present once.
pub(crate) fn all() -> Vec<Sample> {
    use StreamingMode::{Off, On, Parallel};
    let stream_xid = |tag| Wire::new(tag).u32(STREAM_XID.0);
    let mut samples = vec![
        sample(
            "begin",
            1,
            Off,
            false,
            Wire::new(b'B')
                .u64(0x16B_3748)
                .i64(767_882_096_789_012)
                .u32(742),
        ),
        sample(
            "commit",
            1,
            Off,
            false,
            Wire::new(b'C')
                .u8(0)
                .u64(0x16B_3748)
                .u64(0x16B_3778)
                .i64(767_882_096_789_012),
        ),
        sample(
            "origin",
            1,
            Off,
            false,
            Wire::new(b'O').u64(0x3_0000_0010).str("node_a"),
        ),
        sample(
            "origin in stream",
            2,
            On,
            true,
            Wire::new(b'O').u64(0).str("node_a"),
        ),
        sample("relation", 1, Off, false, relation(Wire::new(b'R'))),
        sample("relation streamed", 2, On, true, relation(stream_xid(b'R'))),
        sample(
            "type",
            1,
            Off,
            false,
            Wire::new(b'Y').u32(16_400).str("inventory").str("mood"),
        ),
        sample(
            "type streamed",
            2,
            On,
            true,
            stream_xid(b'Y').u32(16_400).str("inventory").str("mood"),
        ),
        sample(
            "insert",
            1,
            Off,
            false,
            row(Wire::new(b'I').u32(16_385).u8(b'N')),
        ),
        sample(
            "insert streamed",
            2,
            On,
            true,
            row(stream_xid(b'I').u32(16_385).u8(b'N')),
        ),
        sample(
            "update",
            1,
            Off,
            false,
            row(Wire::new(b'U').u32(16_385).u8(b'N')),
        ),
        sample(
            "update with old key",
            1,
            Off,
            false,
            row(key(Wire::new(b'U').u32(16_385).u8(b'K')).u8(b'N')),
        ),
        sample(
            "update with old tuple",
            1,
            Off,
            false,
            row(row(Wire::new(b'U').u32(16_385).u8(b'O')).u8(b'N')),
        ),
        sample(
            "update streamed",
            2,
            On,
            true,
            row(key(stream_xid(b'U').u32(16_385).u8(b'K')).u8(b'N')),
        ),
        sample(
            "delete with old key",
            1,
            Off,
            false,
            key(Wire::new(b'D').u32(16_385).u8(b'K')),
        ),
        sample(
            "delete with old tuple",
            1,
            Off,
            false,
            row(Wire::new(b'D').u32(16_385).u8(b'O')),
        ),
        sample(
            "delete streamed",
            2,
            On,
            true,
            key(stream_xid(b'D').u32(16_385).u8(b'K')),
        ),
        sample(
            "truncate",
            1,
            Off,
            false,
            Wire::new(b'T').u32(2).u8(3).u32(16_385).u32(16_390),
        ),
        sample(
            "truncate streamed",
            2,
            On,
            true,
            stream_xid(b'T').u32(1).u8(0).u32(16_385),
        ),
        sample(
            "message",
            1,
            Off,
            false,
            Wire::new(b'M')
                .u8(1)
                .u64(0x16B_3700)
                .str("audit")
                .counted(b"{\"user\":\"sally\"}"),
        ),
        sample(
            "message streamed",
            2,
            On,
            true,
            stream_xid(b'M')
                .u8(1)
                .u64(0x16B_3700)
                .str("audit")
                .counted(b"\0\x01binary"),
        ),
        sample(
            "stream start",
            2,
            On,
            false,
            Wire::new(b'S').u32(5_002).u8(1),
        ),
        sample("stream stop", 2, On, true, Wire::new(b'E')),
        sample(
            "stream commit",
            2,
            On,
            false,
            Wire::new(b'c')
                .u32(5_001)
                .u8(0)
                .u64(0x2000)
                .u64(0x2030)
                .i64(767_882_096_789_012),
        ),
        sample(
            "stream abort",
            2,
            On,
            false,
            Wire::new(b'A').u32(5_001).u32(5_003),
        ),
        sample(
            "stream abort v4 not parallel",
            4,
            On,
            false,
            Wire::new(b'A').u32(5_001).u32(5_001),
        ),
        sample(
            "stream abort v4 parallel",
            4,
            Parallel,
            false,
            Wire::new(b'A')
                .u32(5_001)
                .u32(5_003)
                .u64(0x2100)
                .i64(767_882_096_789_999),
        ),
        sample(
            "begin prepare",
            3,
            Off,
            false,
            Wire::new(b'b')
                .u64(0x3000)
                .u64(0x3040)
                .i64(767_882_096_000_000)
                .u32(743)
                .str("gid-1"),
        ),
        sample(
            "prepare",
            3,
            Off,
            false,
            Wire::new(b'P')
                .u8(0)
                .u64(0x3000)
                .u64(0x3040)
                .i64(767_882_096_000_000)
                .u32(743)
                .str("gid-1"),
        ),
        sample(
            "commit prepared",
            3,
            Off,
            false,
            Wire::new(b'K')
                .u8(0)
                .u64(0x3100)
                .u64(0x3140)
                .i64(767_882_097_000_000)
                .u32(743)
                .str("gid-1"),
        ),
        sample(
            "rollback prepared",
            3,
            Off,
            false,
            Wire::new(b'r')
                .u8(0)
                .u64(0x3040)
                .u64(0x3200)
                .i64(767_882_096_000_000)
                .i64(767_882_098_000_000)
                .u32(743)
                .str("gid-1"),
        ),
        sample(
            "stream prepare",
            3,
            On,
            false,
            Wire::new(b'p')
                .u8(0)
                .u64(0x3000)
                .u64(0x3040)
                .i64(767_882_096_000_000)
                .u32(5_001)
                .str("gid-2"),
        ),
    ];
    // Binary mode and protocol version 4 change nothing in these layouts.
    samples.push(sample(
        "insert v4",
        4,
        Parallel,
        false,
        row(Wire::new(b'I').u32(16_385).u8(b'N')),
    ));
    samples
}

/// Writes every sample as a seed for the `decode` fuzz target (see
/// `connector/fuzz/fuzz_targets/decode.rs` for the input format). Run with
/// `cargo test -p pgcdc-connector write_fuzz_seeds -- --ignored` after adding samples.
#[test]
#[ignore = "writes files; run by hand to refresh connector/fuzz/seeds"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    std::fs::create_dir_all(&dir).unwrap();
    for sample in all() {
        let mode = match sample.streaming {
            StreamingMode::Off => 0,
            StreamingMode::On => 1,
            StreamingMode::Parallel => 2,
        };
        let options = u8::try_from(sample.protocol_version - 1).unwrap() | (mode << 2);
        let mut input = vec![options];
        let mut push = |payload: &[u8]| {
            input.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
            input.extend_from_slice(payload);
        };
        if sample.streamed {
            push(&Wire::new(b'S').u32(STREAM_XID.0).u8(1).0);
        }
        push(&sample.payload);
        let name = sample.name.replace(' ', "_");
        std::fs::write(dir.join(name), input).unwrap();
    }

    // A whole session whose rows match their cached relation, so the fuzzer starts
    // with the relation checks reachable.
    let mut session = vec![0u8];
    for wire in [
        relation(Wire::new(b'R')),
        Wire::new(b'B')
            .u64(0x16B_3748)
            .i64(767_882_096_789_012)
            .u32(742),
        key(Wire::new(b'I').u32(16_385).u8(b'N')),
        key(key(Wire::new(b'U').u32(16_385).u8(b'K')).u8(b'N')),
        key(Wire::new(b'D').u32(16_385).u8(b'K')),
        Wire::new(b'C')
            .u8(0)
            .u64(0x16B_3748)
            .u64(0x16B_3778)
            .i64(767_882_096_789_012),
    ] {
        session.extend_from_slice(&u16::try_from(wire.0.len()).unwrap().to_be_bytes());
        session.extend_from_slice(&wire.0);
    }
    std::fs::write(dir.join("session"), session).unwrap();
}
