//! The payloads of CopyData messages on a replication stream ("Streaming
//! Replication Protocol" in the PostgreSQL docs): XLogData and primary keepalive
//! from the server, standby status update from us. Pure byte work with no I/O, so
//! it is unit-tested and property-tested on arbitrary input.
//!
//! All integers are big-endian. Times are microseconds since 2000-01-01 00:00 UTC
//! (PostgreSQL's `TimestampTz` epoch).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

use crate::lsn::Lsn;

/// Seconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_UNIX_SECS: u64 = 946_684_800;

/// A section of the logical decoding output: for pgoutput, exactly one message
/// (Begin, Relation, Insert, Commit, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XLogData {
    /// The WAL position this data belongs to. For pgoutput, a Commit's `wal_start`
    /// is the end of the commit record: the LSN to confirm once the transaction is
    /// safely delivered.
    pub wal_start: Lsn,
    /// The server's end of WAL when sending (the same as `wal_start` for logical
    /// replication).
    pub wal_end: Lsn,
    /// Server clock at send time, microseconds since 2000-01-01.
    pub server_time: i64,
    /// The output plugin's bytes, sharing the read buffer (no copy).
    pub data: Bytes,
}

impl XLogData {
    pub const TAG: u8 = b'w';
    pub const HEADER_LEN: usize = 1 + 8 + 8 + 8;

    /// Encodes the CopyData payload, for tests and fake servers.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(Self::HEADER_LEN + self.data.len());
        out.put_u8(Self::TAG);
        out.put_u64(self.wal_start.0);
        out.put_u64(self.wal_end.0);
        out.put_i64(self.server_time);
        out.put_slice(&self.data);
    }
}

/// The server's heartbeat. When `reply_requested` is set, the server disconnects
/// after `wal_sender_timeout` unless a status update arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryKeepalive {
    /// The server's current end of WAL (for logical replication: how far it has
    /// read and decoded).
    pub wal_end: Lsn,
    pub server_time: i64,
    pub reply_requested: bool,
}

impl PrimaryKeepalive {
    pub const TAG: u8 = b'k';
    pub const LEN: usize = 1 + 8 + 8 + 1;

    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(Self::LEN);
        out.put_u8(Self::TAG);
        out.put_u64(self.wal_end.0);
        out.put_i64(self.server_time);
        out.put_u8(u8::from(self.reply_requested));
    }
}

/// One CopyData payload sent by a walsender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    XLogData(XLogData),
    Keepalive(PrimaryKeepalive),
}

/// A CopyData payload that is not a valid XLogData or keepalive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty CopyData message")]
    Empty,
    #[error("unknown replication message type {0:#04x}")]
    UnknownTag(u8),
    #[error("{kind} message of {found} bytes is shorter than the required {expected}")]
    Truncated {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

/// Parses one CopyData payload. The XLogData's `data` is a slice of `payload`, so
/// no bytes are copied.
pub fn parse_server_message(payload: Bytes) -> Result<ServerMessage, FrameError> {
    let Some(&tag) = payload.first() else {
        return Err(FrameError::Empty);
    };
    match tag {
        XLogData::TAG => {
            if payload.len() < XLogData::HEADER_LEN {
                return Err(FrameError::Truncated {
                    kind: "XLogData",
                    expected: XLogData::HEADER_LEN,
                    found: payload.len(),
                });
            }
            Ok(ServerMessage::XLogData(XLogData {
                wal_start: Lsn(be_u64(&payload, 1)),
                wal_end: Lsn(be_u64(&payload, 9)),
                server_time: be_u64(&payload, 17) as i64,
                data: payload.slice(XLogData::HEADER_LEN..),
            }))
        }
        PrimaryKeepalive::TAG => {
            // Longer messages are accepted: a later protocol version may append
            // fields, as it did to other replication messages.
            if payload.len() < PrimaryKeepalive::LEN {
                return Err(FrameError::Truncated {
                    kind: "primary keepalive",
                    expected: PrimaryKeepalive::LEN,
                    found: payload.len(),
                });
            }
            Ok(ServerMessage::Keepalive(PrimaryKeepalive {
                wal_end: Lsn(be_u64(&payload, 1)),
                server_time: be_u64(&payload, 9) as i64,
                reply_requested: payload[17] != 0,
            }))
        }
        other => Err(FrameError::UnknownTag(other)),
    }
}

/// The standby status update ('r'), our only message during streaming. For a
/// logical slot the server takes `flush` as the slot's new `confirmed_flush_lsn`:
/// WAL before it may be recycled and decoding restarts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandbyStatusUpdate {
    /// The last WAL position received (informational: `pg_stat_replication`).
    pub write: Lsn,
    /// The last WAL position durably processed. Only ever what the caller confirmed.
    pub flush: Lsn,
    pub apply: Lsn,
    pub client_time: i64,
    /// Asks the server to answer at once with a keepalive (a ping).
    pub reply_requested: bool,
}

impl StandbyStatusUpdate {
    pub const TAG: u8 = b'r';
    pub const LEN: usize = 1 + 8 + 8 + 8 + 8 + 1;

    /// The CopyData payload.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = Self::TAG;
        out[1..9].copy_from_slice(&self.write.0.to_be_bytes());
        out[9..17].copy_from_slice(&self.flush.0.to_be_bytes());
        out[17..25].copy_from_slice(&self.apply.0.to_be_bytes());
        out[25..33].copy_from_slice(&self.client_time.to_be_bytes());
        out[33] = u8::from(self.reply_requested);
        out
    }

    /// Parses the payload, as a server would: for tests and fake servers.
    pub fn decode(payload: &[u8]) -> Result<Self, FrameError> {
        let Some(&tag) = payload.first() else {
            return Err(FrameError::Empty);
        };
        if tag != Self::TAG {
            return Err(FrameError::UnknownTag(tag));
        }
        if payload.len() < Self::LEN {
            return Err(FrameError::Truncated {
                kind: "standby status update",
                expected: Self::LEN,
                found: payload.len(),
            });
        }
        Ok(StandbyStatusUpdate {
            write: Lsn(be_u64(payload, 1)),
            flush: Lsn(be_u64(payload, 9)),
            apply: Lsn(be_u64(payload, 17)),
            client_time: be_u64(payload, 25) as i64,
            reply_requested: payload[33] != 0,
        })
    }
}

/// Microseconds since 2000-01-01 UTC, PostgreSQL's timestamp representation.
pub fn pg_timestamp(time: SystemTime) -> i64 {
    let pg_epoch = UNIX_EPOCH + Duration::from_secs(PG_EPOCH_UNIX_SECS);
    match time.duration_since(pg_epoch) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

/// The wall-clock time of a PostgreSQL timestamp.
pub fn system_time(pg_timestamp: i64) -> SystemTime {
    let pg_epoch = UNIX_EPOCH + Duration::from_secs(PG_EPOCH_UNIX_SECS);
    let offset = Duration::from_micros(pg_timestamp.unsigned_abs());
    if pg_timestamp >= 0 {
        pg_epoch + offset
    } else {
        pg_epoch - offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_xlogdata_without_copying() {
        let payload = {
            let mut out = BytesMut::new();
            XLogData {
                wal_start: Lsn(0x16B3748),
                wal_end: Lsn(0x16B3800),
                server_time: 1234,
                data: Bytes::from_static(b"B\x00\x01"),
            }
            .encode(&mut out);
            out.freeze()
        };
        let ServerMessage::XLogData(x) = parse_server_message(payload.clone()).unwrap() else {
            panic!("not XLogData");
        };
        assert_eq!(x.wal_start, Lsn(0x16B3748));
        assert_eq!(x.wal_end, Lsn(0x16B3800));
        assert_eq!(x.server_time, 1234);
        assert_eq!(&x.data[..], b"B\x00\x01");
        assert_eq!(x.data.as_ptr(), payload[XLogData::HEADER_LEN..].as_ptr());
    }

    #[test]
    fn parses_keepalive() {
        let mut raw = vec![b'k'];
        raw.extend_from_slice(&0x0000_0001_0000_0010u64.to_be_bytes());
        raw.extend_from_slice(&7i64.to_be_bytes());
        raw.push(1);
        assert_eq!(
            parse_server_message(Bytes::from(raw)),
            Ok(ServerMessage::Keepalive(PrimaryKeepalive {
                wal_end: "1/10".parse().unwrap(),
                server_time: 7,
                reply_requested: true,
            }))
        );
    }

    #[test]
    fn rejects_short_and_unknown_messages() {
        assert_eq!(parse_server_message(Bytes::new()), Err(FrameError::Empty));
        assert!(matches!(
            parse_server_message(Bytes::from_static(b"w\x00\x00")),
            Err(FrameError::Truncated { found: 3, .. })
        ));
        assert!(matches!(
            parse_server_message(Bytes::from_static(&[b'k'; 17])),
            Err(FrameError::Truncated { found: 17, .. })
        ));
        assert_eq!(
            parse_server_message(Bytes::from_static(b"z")),
            Err(FrameError::UnknownTag(b'z'))
        );
    }

    #[test]
    fn status_update_layout_matches_the_docs() {
        let update = StandbyStatusUpdate {
            write: Lsn(0x0102_0304_0506_0708),
            flush: Lsn(2),
            apply: Lsn(3),
            client_time: -1,
            reply_requested: true,
        };
        let raw = update.encode();
        assert_eq!(raw.len(), 34);
        assert_eq!(raw[0], b'r');
        assert_eq!(&raw[1..9], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&raw[25..33], &[0xff; 8]);
        assert_eq!(raw[33], 1);
        assert_eq!(StandbyStatusUpdate::decode(&raw), Ok(update));
    }

    #[test]
    fn timestamps_use_the_2000_epoch() {
        let y2k = UNIX_EPOCH + Duration::from_secs(946_684_800);
        assert_eq!(pg_timestamp(y2k), 0);
        assert_eq!(pg_timestamp(y2k + Duration::from_micros(5)), 5);
        assert_eq!(pg_timestamp(y2k - Duration::from_secs(1)), -1_000_000);
        assert_eq!(system_time(-1_000_000), y2k - Duration::from_secs(1));
        assert_eq!(
            system_time(pg_timestamp(y2k + Duration::from_secs(9))),
            y2k + Duration::from_secs(9)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_server_message(Bytes::from(raw.clone()));
            let _ = StandbyStatusUpdate::decode(&raw);
        }

        #[test]
        fn tagged_arbitrary_bodies_never_panic(tag in prop_oneof![Just(b'w'), Just(b'k'), Just(b'r')],
                                               body in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut raw = vec![tag];
            raw.extend_from_slice(&body);
            let _ = parse_server_message(Bytes::from(raw.clone()));
            let _ = StandbyStatusUpdate::decode(&raw);
        }

        #[test]
        fn xlogdata_round_trips(start in any::<u64>(), end in any::<u64>(), time in any::<i64>(),
                                data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let message = XLogData { wal_start: Lsn(start), wal_end: Lsn(end), server_time: time, data: Bytes::from(data) };
            let mut out = BytesMut::new();
            message.encode(&mut out);
            prop_assert_eq!(parse_server_message(out.freeze()), Ok(ServerMessage::XLogData(message)));
        }

        #[test]
        fn keepalive_and_status_round_trip(a in any::<u64>(), b in any::<u64>(), c in any::<u64>(),
                                           time in any::<i64>(), flag in any::<bool>()) {
            let keepalive = PrimaryKeepalive { wal_end: Lsn(a), server_time: time, reply_requested: flag };
            let mut out = BytesMut::new();
            keepalive.encode(&mut out);
            prop_assert_eq!(parse_server_message(out.freeze()), Ok(ServerMessage::Keepalive(keepalive)));
            let status = StandbyStatusUpdate { write: Lsn(a), flush: Lsn(b), apply: Lsn(c), client_time: time, reply_requested: flag };
            prop_assert_eq!(StandbyStatusUpdate::decode(&status.encode()), Ok(status));
        }
    }
}
