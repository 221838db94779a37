//! The decoder: one XLogData payload in, one message out, with the little state the
//! protocol needs.
//!
//! Why a state machine rather than a pure function: inside a streamed block (between
//! Stream Start and Stream Stop) Relation, Type, Insert, Update, Delete, Truncate and
//! Message carry the transaction's xid right after the type byte, and nothing in the
//! bytes says so. The decoder remembers whether a block is open, which also lets it
//! catch a lost Stream Start or Stop instead of misreading every following row.

use bytes::Bytes;

use super::error::DecodeError;
use super::message_type::MessageType;
use super::messages::LogicalReplicationMessage;
use super::parse;
use super::reader::Reader;
use super::types::Xid;

/// The `streaming` option given to pgoutput in START_REPLICATION.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StreamingMode {
    /// Large transactions are sent whole, after they commit.
    #[default]
    Off,
    /// `streaming = on` (protocol version 2+): in-progress transactions arrive in chunks.
    On,
    /// `streaming = parallel` (protocol version 4+): as `On`, and Stream Abort also
    /// carries the abort LSN and timestamp.
    Parallel,
}

/// Decodes the pgoutput messages of one replication session, in order.
///
/// Create one per START_REPLICATION with the options that were sent: a new session
/// starts outside any streamed block. A message that fails to decode leaves the state
/// unchanged.
#[derive(Clone, Debug)]
pub struct Decoder {
    protocol_version: u32,
    streaming: StreamingMode,
    /// PostgreSQL appends the abort LSN and timestamp to Stream Abort only under
    /// protocol version 4 with `streaming = parallel`.
    stream_abort_has_parallel_fields: bool,
    /// The xid of the Stream Start whose block is open.
    open_stream: Option<Xid>,
}

impl Decoder {
    /// A decoder for a session started with `proto_version` and `streaming` as given.
    /// Fails for combinations PostgreSQL itself refuses (versions outside 1–4,
    /// streaming before version 2, parallel streaming before version 4).
    pub fn new(protocol_version: u32, streaming: StreamingMode) -> Result<Self, DecodeError> {
        let unsupported = |reason| DecodeError::UnsupportedOptions {
            protocol_version,
            streaming,
            reason,
        };
        if !(1..=4).contains(&protocol_version) {
            return Err(unsupported("pgoutput protocol versions are 1 to 4"));
        }
        if streaming == StreamingMode::On && protocol_version < 2 {
            return Err(unsupported("streaming = on needs proto_version 2 or later"));
        }
        if streaming == StreamingMode::Parallel && protocol_version < 4 {
            return Err(unsupported(
                "streaming = parallel needs proto_version 4 or later",
            ));
        }
        Ok(Decoder {
            protocol_version,
            streaming,
            stream_abort_has_parallel_fields: protocol_version >= 4
                && streaming == StreamingMode::Parallel,
            open_stream: None,
        })
    }

    pub fn protocol_version(&self) -> u32 {
        self.protocol_version
    }

    pub fn streaming(&self) -> StreamingMode {
        self.streaming
    }

    /// Whether Stream Abort messages carry the abort LSN and timestamp.
    pub fn stream_abort_has_parallel_fields(&self) -> bool {
        self.stream_abort_has_parallel_fields
    }

    /// The xid of the streamed transaction whose block is open, if any.
    pub fn open_stream(&self) -> Option<Xid> {
        self.open_stream
    }

    /// Decodes one XLogData payload. Column values and Message content are zero-copy
    /// slices of `payload`.
    pub fn decode(&mut self, payload: Bytes) -> Result<LogicalReplicationMessage, DecodeError> {
        let Some(&tag) = payload.first() else {
            return Err(DecodeError::Empty);
        };
        let message_type =
            MessageType::from_tag(tag).ok_or(DecodeError::UnknownMessageType { tag })?;
        if self.protocol_version < message_type.min_protocol_version() {
            return Err(DecodeError::NotInProtocolVersion {
                message: message_type,
                protocol_version: self.protocol_version,
                min_protocol_version: message_type.min_protocol_version(),
            });
        }

        let mut reader = Reader::new(payload, 1, message_type);
        let xid = match self.open_stream {
            Some(_) if message_type.has_stream_xid() => Some(reader.xid("streamed xid")?),
            _ => None,
        };
        let message = self.decode_body(&mut reader, message_type, xid)?;
        reader.finish()?;
        self.advance(&message)?;
        Ok(message)
    }

    #[inline]
    fn decode_body(
        &self,
        r: &mut Reader,
        message_type: MessageType,
        xid: Option<Xid>,
    ) -> Result<LogicalReplicationMessage, DecodeError> {
        use LogicalReplicationMessage as M;
        Ok(match message_type {
            MessageType::Insert => M::Insert(parse::insert(r, xid)?),
            MessageType::Update => M::Update(parse::update(r, xid)?),
            MessageType::Delete => M::Delete(parse::delete(r, xid)?),
            MessageType::Begin => M::Begin(parse::begin(r)?),
            MessageType::Commit => M::Commit(parse::commit(r)?),
            MessageType::Origin => M::Origin(parse::origin(r)?),
            MessageType::Relation => M::Relation(parse::relation(r, xid)?),
            MessageType::Type => M::Type(parse::type_(r, xid)?),
            MessageType::Truncate => M::Truncate(parse::truncate(r, xid)?),
            MessageType::Message => M::Message(parse::message(r, xid)?),
            MessageType::StreamStart => M::StreamStart(parse::stream_start(r)?),
            MessageType::StreamStop => M::StreamStop,
            MessageType::StreamCommit => M::StreamCommit(parse::stream_commit(r)?),
            MessageType::StreamAbort => M::StreamAbort(parse::stream_abort(
                r,
                self.stream_abort_has_parallel_fields,
            )?),
            MessageType::BeginPrepare => M::BeginPrepare(parse::begin_prepare(r)?),
            MessageType::Prepare => M::Prepare(parse::prepare(r)?),
            MessageType::CommitPrepared => M::CommitPrepared(parse::commit_prepared(r)?),
            MessageType::RollbackPrepared => M::RollbackPrepared(parse::rollback_prepared(r)?),
            MessageType::StreamPrepare => M::StreamPrepare(parse::prepare(r)?),
        })
    }

    /// Moves in or out of a streamed block, after the message decoded completely, and
    /// rejects messages PostgreSQL never sends where they arrived.
    #[inline]
    fn advance(&mut self, message: &LogicalReplicationMessage) -> Result<(), DecodeError> {
        match (message, self.open_stream) {
            (LogicalReplicationMessage::StreamStart(start), None) => {
                self.open_stream = Some(start.xid);
            }
            (LogicalReplicationMessage::StreamStart(start), Some(open_xid)) => {
                return Err(DecodeError::NestedStreamStart {
                    xid: start.xid,
                    open_xid,
                });
            }
            (LogicalReplicationMessage::StreamStop, Some(_)) => self.open_stream = None,
            (LogicalReplicationMessage::StreamStop, None) => {
                return Err(DecodeError::StreamStopWithoutStart);
            }
            (message, Some(open_xid)) if !message.message_type().allowed_in_stream() => {
                return Err(DecodeError::NotAllowedInStream {
                    message: message.message_type(),
                    open_xid,
                });
            }
            _ => {}
        }
        Ok(())
    }
}
