//! The first byte of every pgoutput message, and the rules that hang off it.

use std::fmt;

/// Which pgoutput message a payload holds, named as in PostgreSQL's "Logical
/// Replication Message Formats".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Begin,
    Commit,
    Origin,
    Relation,
    Type,
    Insert,
    Update,
    Delete,
    Truncate,
    /// A logical decoding message (`pg_logical_emit_message`).
    Message,
    StreamStart,
    StreamStop,
    StreamCommit,
    StreamAbort,
    BeginPrepare,
    Prepare,
    CommitPrepared,
    RollbackPrepared,
    StreamPrepare,
}

impl MessageType {
    /// The message type for a leading byte, or `None` if pgoutput has no such message.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            b'B' => Self::Begin,
            b'C' => Self::Commit,
            b'O' => Self::Origin,
            b'R' => Self::Relation,
            b'Y' => Self::Type,
            b'I' => Self::Insert,
            b'U' => Self::Update,
            b'D' => Self::Delete,
            b'T' => Self::Truncate,
            b'M' => Self::Message,
            b'S' => Self::StreamStart,
            b'E' => Self::StreamStop,
            b'c' => Self::StreamCommit,
            b'A' => Self::StreamAbort,
            b'b' => Self::BeginPrepare,
            b'P' => Self::Prepare,
            b'K' => Self::CommitPrepared,
            b'r' => Self::RollbackPrepared,
            b'p' => Self::StreamPrepare,
            _ => return None,
        })
    }

    /// The leading byte PostgreSQL writes for this message.
    pub fn tag(self) -> u8 {
        match self {
            Self::Begin => b'B',
            Self::Commit => b'C',
            Self::Origin => b'O',
            Self::Relation => b'R',
            Self::Type => b'Y',
            Self::Insert => b'I',
            Self::Update => b'U',
            Self::Delete => b'D',
            Self::Truncate => b'T',
            Self::Message => b'M',
            Self::StreamStart => b'S',
            Self::StreamStop => b'E',
            Self::StreamCommit => b'c',
            Self::StreamAbort => b'A',
            Self::BeginPrepare => b'b',
            Self::Prepare => b'P',
            Self::CommitPrepared => b'K',
            Self::RollbackPrepared => b'r',
            Self::StreamPrepare => b'p',
        }
    }

    /// The name PostgreSQL's documentation gives the message.
    pub fn name(self) -> &'static str {
        match self {
            Self::Begin => "Begin",
            Self::Commit => "Commit",
            Self::Origin => "Origin",
            Self::Relation => "Relation",
            Self::Type => "Type",
            Self::Insert => "Insert",
            Self::Update => "Update",
            Self::Delete => "Delete",
            Self::Truncate => "Truncate",
            Self::Message => "Message",
            Self::StreamStart => "Stream Start",
            Self::StreamStop => "Stream Stop",
            Self::StreamCommit => "Stream Commit",
            Self::StreamAbort => "Stream Abort",
            Self::BeginPrepare => "Begin Prepare",
            Self::Prepare => "Prepare",
            Self::CommitPrepared => "Commit Prepared",
            Self::RollbackPrepared => "Rollback Prepared",
            Self::StreamPrepare => "Stream Prepare",
        }
    }

    /// The lowest `proto_version` in which PostgreSQL can send this message:
    /// streaming arrived with version 2 (PostgreSQL 14), two-phase commit with
    /// version 3 (PostgreSQL 15); version 4 (PostgreSQL 16) added no message, only
    /// the parallel Stream Abort fields.
    pub fn min_protocol_version(self) -> u32 {
        match self {
            Self::StreamStart | Self::StreamStop | Self::StreamCommit | Self::StreamAbort => 2,
            Self::BeginPrepare
            | Self::Prepare
            | Self::CommitPrepared
            | Self::RollbackPrepared
            | Self::StreamPrepare => 3,
            _ => 1,
        }
    }

    /// Whether the message carries the streamed transaction's xid right after the
    /// type byte when it arrives between Stream Start and Stream Stop.
    pub fn has_stream_xid(self) -> bool {
        matches!(
            self,
            Self::Relation
                | Self::Type
                | Self::Insert
                | Self::Update
                | Self::Delete
                | Self::Truncate
                | Self::Message
        )
    }

    /// Whether PostgreSQL can send the message between Stream Start and Stream Stop.
    /// Transaction boundaries of streamed transactions (Stream Commit, Stream Abort,
    /// Stream Prepare) are always sent outside the block; Origin is sent right after
    /// a transaction's first Stream Start, inside it (and without an xid).
    pub fn allowed_in_stream(self) -> bool {
        self.has_stream_xid() || matches!(self, Self::Origin | Self::StreamStop)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ('{}')", self.name(), char::from(self.tag()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_no_two_types_share_one() {
        let mut seen = std::collections::HashSet::new();
        for tag in 0..=u8::MAX {
            if let Some(message_type) = MessageType::from_tag(tag) {
                assert_eq!(message_type.tag(), tag);
                assert!(seen.insert(message_type));
            }
        }
        assert_eq!(seen.len(), 19);
    }

    #[test]
    fn displays_name_and_tag() {
        assert_eq!(MessageType::StreamCommit.to_string(), "Stream Commit ('c')");
        assert_eq!(MessageType::Insert.to_string(), "Insert ('I')");
    }
}
