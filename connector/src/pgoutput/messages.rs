//! The decoded pgoutput messages, one type per message of PostgreSQL's "Logical
//! Replication Message Formats", with the field names the documentation uses.
//!
//! Fields marked `xid: Option<Xid>` are the "Xid of the transaction (only present for
//! streamed transactions)": `Some` exactly when the message arrived between Stream
//! Start and Stream Stop.

use bytes::Bytes;

use super::message_type::MessageType;
use super::tuple::TupleData;
use super::types::{Oid, PgTimestamp, Xid};
use crate::lsn::Lsn;

/// One decoded pgoutput message (the payload of one XLogData message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogicalReplicationMessage {
    Begin(Begin),
    Commit(Commit),
    Origin(Origin),
    Relation(Relation),
    Type(Type),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
    Truncate(Truncate),
    Message(LogicalDecodingMessage),
    StreamStart(StreamStart),
    StreamStop,
    StreamCommit(StreamCommit),
    StreamAbort(StreamAbort),
    BeginPrepare(BeginPrepare),
    Prepare(Prepare),
    CommitPrepared(CommitPrepared),
    RollbackPrepared(RollbackPrepared),
    /// Same layout as Prepare, for a transaction that was streamed.
    StreamPrepare(Prepare),
}

impl LogicalReplicationMessage {
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Begin(_) => MessageType::Begin,
            Self::Commit(_) => MessageType::Commit,
            Self::Origin(_) => MessageType::Origin,
            Self::Relation(_) => MessageType::Relation,
            Self::Type(_) => MessageType::Type,
            Self::Insert(_) => MessageType::Insert,
            Self::Update(_) => MessageType::Update,
            Self::Delete(_) => MessageType::Delete,
            Self::Truncate(_) => MessageType::Truncate,
            Self::Message(_) => MessageType::Message,
            Self::StreamStart(_) => MessageType::StreamStart,
            Self::StreamStop => MessageType::StreamStop,
            Self::StreamCommit(_) => MessageType::StreamCommit,
            Self::StreamAbort(_) => MessageType::StreamAbort,
            Self::BeginPrepare(_) => MessageType::BeginPrepare,
            Self::Prepare(_) => MessageType::Prepare,
            Self::CommitPrepared(_) => MessageType::CommitPrepared,
            Self::RollbackPrepared(_) => MessageType::RollbackPrepared,
            Self::StreamPrepare(_) => MessageType::StreamPrepare,
        }
    }
}

/// `B`: a (non-streamed) transaction starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begin {
    /// The LSN of the transaction's commit record.
    pub final_lsn: Lsn,
    pub commit_timestamp: PgTimestamp,
    pub xid: Xid,
}

/// `C`: the transaction opened by the last Begin committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Currently unused (always 0); kept so nothing the server says is lost.
    pub flags: u8,
    pub commit_lsn: Lsn,
    /// The end of the commit record: the position to confirm once the transaction's
    /// events are acknowledged.
    pub end_lsn: Lsn,
    pub commit_timestamp: PgTimestamp,
}

/// `O`: the transaction was replayed from another node (replication origin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The commit LSN on the origin server. Zero when sent after a Stream Start.
    pub commit_lsn: Lsn,
    pub name: String,
}

/// How a table identifies its old rows in Update and Delete (`pg_class.relreplident`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaIdentity {
    /// `d`: the primary key (nothing if there is none).
    Default,
    /// `n`: nothing; updates and deletes carry no old values.
    Nothing,
    /// `f`: all columns; old rows come as full `'O'` tuples.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

impl ReplicaIdentity {
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'd' => Some(Self::Default),
            b'n' => Some(Self::Nothing),
            b'f' => Some(Self::Full),
            b'i' => Some(Self::Index),
            _ => None,
        }
    }

    pub fn as_byte(self) -> u8 {
        match self {
            Self::Default => b'd',
            Self::Nothing => b'n',
            Self::Full => b'f',
            Self::Index => b'i',
        }
    }
}

/// `R`: the shape of a table, sent before its first row in a session and again
/// whenever it may have changed (ALTER TABLE, a publication change, a new streamed
/// transaction touching it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub xid: Option<Xid>,
    pub oid: Oid,
    /// The schema name exactly as sent. PostgreSQL sends an empty string for
    /// `pg_catalog` to save space; [`Relation::schema_name`] undoes that.
    pub namespace: String,
    pub name: String,
    pub replica_identity: ReplicaIdentity,
    /// The published columns, in attribute order: dropped columns are never sent, and
    /// a publication column list leaves out the others.
    pub columns: Vec<RelationColumn>,
}

impl Relation {
    /// The schema name, with the empty string PostgreSQL sends for `pg_catalog`
    /// spelled out.
    pub fn schema_name(&self) -> &str {
        pg_catalog_if_empty(&self.namespace)
    }
}

/// One column of a Relation message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationColumn {
    /// Bit 1 ([`RelationColumn::KEY_FLAG`]): the column is part of the replica
    /// identity (every column is, under REPLICA IDENTITY FULL).
    pub flags: u8,
    pub name: String,
    pub type_oid: Oid,
    /// `atttypmod`: e.g. length for `varchar(n)`, precision and scale for
    /// `numeric(p,s)`; -1 when the type has none.
    pub type_modifier: i32,
}

impl RelationColumn {
    pub const KEY_FLAG: u8 = 1;

    /// Whether the column is part of the replica identity (Debezium's message key).
    pub fn is_key(&self) -> bool {
        self.flags & Self::KEY_FLAG != 0
    }
}

/// `Y`: the name of a type a following Relation uses, sent for types outside
/// `pg_catalog` (enums, domains, composite and extension types). For a domain the
/// oid is the domain's but the names are those of its base type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    pub xid: Option<Xid>,
    pub oid: Oid,
    /// As sent: empty for `pg_catalog`, like [`Relation::namespace`].
    pub namespace: String,
    pub name: String,
}

impl Type {
    /// The schema name, with `pg_catalog` spelled out.
    pub fn schema_name(&self) -> &str {
        pg_catalog_if_empty(&self.namespace)
    }
}

fn pg_catalog_if_empty(namespace: &str) -> &str {
    if namespace.is_empty() {
        "pg_catalog"
    } else {
        namespace
    }
}

/// `I`: a row was inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insert {
    pub xid: Option<Xid>,
    pub relation_oid: Oid,
    pub new: TupleData,
}

/// The old row an Update or Delete carries, depending on the replica identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OldTuple {
    /// `'K'`: only the replica identity columns have values; the others are NULL.
    Key(TupleData),
    /// `'O'`: the whole old row (REPLICA IDENTITY FULL).
    Full(TupleData),
}

impl OldTuple {
    pub fn tuple(&self) -> &TupleData {
        match self {
            OldTuple::Key(tuple) | OldTuple::Full(tuple) => tuple,
        }
    }

    pub fn into_tuple(self) -> TupleData {
        match self {
            OldTuple::Key(tuple) | OldTuple::Full(tuple) => tuple,
        }
    }
}

/// `U`: a row was updated. `old` is present when the replica identity is FULL, or
/// when the update changed a key column (then only the key columns are set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub xid: Option<Xid>,
    pub relation_oid: Oid,
    pub old: Option<OldTuple>,
    pub new: TupleData,
}

/// `D`: a row was deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    pub xid: Option<Xid>,
    pub relation_oid: Oid,
    pub old: OldTuple,
}

/// The option bits of a Truncate message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TruncateOptions(pub u8);

impl TruncateOptions {
    pub const CASCADE: u8 = 1;
    pub const RESTART_IDENTITY: u8 = 2;

    /// `TRUNCATE ... CASCADE`.
    pub fn cascade(self) -> bool {
        self.0 & Self::CASCADE != 0
    }

    /// `TRUNCATE ... RESTART IDENTITY`.
    pub fn restart_identity(self) -> bool {
        self.0 & Self::RESTART_IDENTITY != 0
    }
}

/// `T`: one TRUNCATE statement emptied these tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncate {
    pub xid: Option<Xid>,
    pub options: TruncateOptions,
    pub relation_oids: Vec<Oid>,
}

/// `M`: a message written with `pg_logical_emit_message` (needs the `messages` option).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalDecodingMessage {
    pub xid: Option<Xid>,
    /// Bit 1: transactional (sent in its transaction, at commit); otherwise sent
    /// immediately, outside any Begin/Commit.
    pub flags: u8,
    pub lsn: Lsn,
    pub prefix: String,
    /// Arbitrary bytes, as given to `pg_logical_emit_message`.
    pub content: Bytes,
}

impl LogicalDecodingMessage {
    pub const TRANSACTIONAL_FLAG: u8 = 1;

    pub fn is_transactional(&self) -> bool {
        self.flags & Self::TRANSACTIONAL_FLAG != 0
    }
}

/// `S`: a chunk of an in-progress transaction follows, up to Stream Stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamStart {
    pub xid: Xid,
    /// Whether this is the transaction's first chunk.
    pub first_segment: bool,
}

/// `c`: a streamed transaction committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamCommit {
    pub xid: Xid,
    /// Currently unused (always 0).
    pub flags: u8,
    pub commit_lsn: Lsn,
    pub end_lsn: Lsn,
    pub commit_timestamp: PgTimestamp,
}

/// `A`: a streamed transaction, or one of its subtransactions, aborted: its changes
/// (those of `subxact_xid` and its children) must be discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamAbort {
    pub xid: Xid,
    /// Equal to `xid` when the whole transaction aborted.
    pub subxact_xid: Xid,
    /// Present only with `proto_version` 4 and `streaming = parallel`.
    pub parallel: Option<StreamAbortParallel>,
}

impl StreamAbort {
    /// Whether the top-level transaction aborted (not just a subtransaction).
    pub fn is_top_level(&self) -> bool {
        self.xid == self.subxact_xid
    }
}

/// The fields Stream Abort gains under `streaming = parallel` (protocol version 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamAbortParallel {
    pub abort_lsn: Lsn,
    pub abort_timestamp: PgTimestamp,
}

/// `b`: a transaction prepared for two-phase commit starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeginPrepare {
    pub prepare_lsn: Lsn,
    pub end_lsn: Lsn,
    pub prepare_timestamp: PgTimestamp,
    pub xid: Xid,
    /// The user-defined global transaction id of `PREPARE TRANSACTION`.
    pub gid: String,
}

/// `P` (and `p`, Stream Prepare): the transaction was prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepare {
    /// Currently unused (always 0).
    pub flags: u8,
    pub prepare_lsn: Lsn,
    pub end_lsn: Lsn,
    pub prepare_timestamp: PgTimestamp,
    pub xid: Xid,
    pub gid: String,
}

/// `K`: `COMMIT PREPARED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitPrepared {
    /// Currently unused (always 0).
    pub flags: u8,
    pub commit_lsn: Lsn,
    pub end_lsn: Lsn,
    pub commit_timestamp: PgTimestamp,
    pub xid: Xid,
    pub gid: String,
}

/// `r`: `ROLLBACK PREPARED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackPrepared {
    /// Currently unused (always 0).
    pub flags: u8,
    pub prepare_end_lsn: Lsn,
    pub rollback_end_lsn: Lsn,
    pub prepare_timestamp: PgTimestamp,
    pub rollback_timestamp: PgTimestamp,
    pub xid: Xid,
    pub gid: String,
}
