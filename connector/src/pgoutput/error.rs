//! What can be wrong with a pgoutput payload, and where.

use super::message_type::MessageType;
use super::types::Xid;
use super::StreamingMode;

/// A pgoutput payload that does not follow the documented layout, or a decoder set up
/// for something PostgreSQL cannot send. Offsets count bytes from the start of the
/// XLogData payload, where offset 0 is the message type byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "pgoutput decoder does not support proto_version {protocol_version} with \
         streaming = {streaming:?}: {reason}"
    )]
    UnsupportedOptions {
        protocol_version: u32,
        streaming: StreamingMode,
        reason: &'static str,
    },

    #[error("empty XLogData payload: a pgoutput message starts with its type byte")]
    Empty,

    #[error("unknown pgoutput message type byte 0x{tag:02X} ({:?})", as_char(.tag))]
    UnknownMessageType { tag: u8 },

    #[error(
        "pgoutput {message} message is not sent under proto_version {protocol_version} \
         (it needs at least {min_protocol_version})"
    )]
    NotInProtocolVersion {
        message: MessageType,
        protocol_version: u32,
        min_protocol_version: u32,
    },

    #[error(
        "pgoutput {message} message truncated: {field} at byte {offset} needs {needed} \
         bytes, {remaining} remain"
    )]
    Truncated {
        message: MessageType,
        field: &'static str,
        offset: usize,
        needed: usize,
        remaining: usize,
    },

    #[error(
        "pgoutput {message} message: {field} at byte {offset} is {count}, but at least \
         {min_bytes} bytes would follow and only {remaining} remain"
    )]
    CountExceedsInput {
        message: MessageType,
        field: &'static str,
        offset: usize,
        count: u64,
        min_bytes: u64,
        remaining: usize,
    },

    #[error("pgoutput {message} message: {field} at byte {offset} is negative ({length})")]
    NegativeLength {
        message: MessageType,
        field: &'static str,
        offset: usize,
        length: i32,
    },

    #[error(
        "pgoutput {message} message: string {field} at byte {offset} has no NUL \
         terminator before the end of the message"
    )]
    UnterminatedString {
        message: MessageType,
        field: &'static str,
        offset: usize,
    },

    #[error(
        "pgoutput {message} message: string {field} at byte {offset} is not valid UTF-8 \
         (first bad byte at {bad_byte_offset}); the replication connection must use \
         client_encoding UTF8"
    )]
    InvalidUtf8 {
        message: MessageType,
        field: &'static str,
        offset: usize,
        bad_byte_offset: usize,
    },

    #[error(
        "pgoutput {message} message: unknown {field} 0x{tag:02X} ({:?}) at byte {offset}, \
         expected {expected}",
        as_char(.tag)
    )]
    UnknownTag {
        message: MessageType,
        field: &'static str,
        offset: usize,
        tag: u8,
        expected: &'static str,
    },

    #[error(
        "pgoutput {message} message ends at byte {offset} but the payload has {trailing} \
         more bytes"
    )]
    TrailingBytes {
        message: MessageType,
        offset: usize,
        trailing: usize,
    },

    #[error(
        "pgoutput Stream Start for xid {xid} while the streamed block of xid {open_xid} \
         is still open (a Stream Stop was lost)"
    )]
    NestedStreamStart { xid: Xid, open_xid: Xid },

    #[error("pgoutput Stream Stop outside a streamed block (a Stream Start was lost)")]
    StreamStopWithoutStart,

    #[error(
        "pgoutput {message} message inside the streamed block of xid {open_xid}, where \
         PostgreSQL never sends it (a Stream Stop was lost)"
    )]
    NotAllowedInStream { message: MessageType, open_xid: Xid },
}

/// A tag byte as the character PostgreSQL's sources and documentation spell it.
fn as_char(tag: &u8) -> char {
    char::from(*tag)
}

impl DecodeError {
    /// Always `false`: after a reconnect PostgreSQL resends the same WAL through the
    /// same output plugin, so the same bytes would fail the same way. A decode error
    /// needs a person (or a pgcdc fix), not a retry loop.
    pub fn is_retriable(&self) -> bool {
        false
    }
}
