//! A test-only pgoutput writer: byte-level helpers to build payloads by hand, and an
//! encoder for every message that mirrors PostgreSQL's `logicalrep_write_*`, so
//! decoded messages can be round-tripped.

use bytes::Bytes;

use crate::pgoutput::{ColumnValue, LogicalReplicationMessage, OldTuple, TupleData, Xid};

/// Big-endian bytes in the order they are pushed, as PostgreSQL's `pq_send*` write them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Wire(pub(crate) Vec<u8>);

impl Wire {
    pub(crate) fn new(tag: u8) -> Self {
        Wire(vec![tag])
    }

    pub(crate) fn u8(mut self, value: u8) -> Self {
        self.0.push(value);
        self
    }

    pub(crate) fn u16(mut self, value: u16) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn u32(mut self, value: u32) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn i32(mut self, value: i32) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn u64(mut self, value: u64) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn i64(mut self, value: i64) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// A NUL-terminated string.
    pub(crate) fn str(mut self, value: &str) -> Self {
        self.0.extend_from_slice(value.as_bytes());
        self.0.push(0);
        self
    }

    pub(crate) fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }

    fn xid_if_streamed(self, xid: Option<Xid>) -> Self {
        match xid {
            Some(xid) => self.u32(xid.0),
            None => self,
        }
    }

    /// A TupleData: column count, then each column's kind byte and value.
    pub(crate) fn tuple(self, tuple: &TupleData) -> Self {
        let count = u16::try_from(tuple.len()).expect("at most 65535 columns");
        tuple
            .iter()
            .fold(self.u16(count), |wire, value| match value {
                ColumnValue::Null => wire.u8(b'n'),
                ColumnValue::UnchangedToast => wire.u8(b'u'),
                ColumnValue::Text(bytes) => wire.u8(b't').counted(bytes),
                ColumnValue::Binary(bytes) => wire.u8(b'b').counted(bytes),
            })
    }

    /// An `Int32` length and the bytes.
    pub(crate) fn counted(self, bytes: &[u8]) -> Self {
        let len = i32::try_from(bytes.len()).expect("less than 2 GiB");
        self.i32(len).raw(bytes)
    }

    fn old_tuple(self, old: &OldTuple) -> Self {
        match old {
            OldTuple::Key(tuple) => self.u8(b'K').tuple(tuple),
            OldTuple::Full(tuple) => self.u8(b'O').tuple(tuple),
        }
    }

    pub(crate) fn bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

/// The payload PostgreSQL would send for `message`. Messages whose `xid` is `Some` are
/// written as inside a streamed block; Stream Abort with `parallel` set gets the
/// protocol version 4 fields, as `logicalrep_write_stream_abort` writes them.
pub(crate) fn encode(message: &LogicalReplicationMessage) -> Bytes {
    use LogicalReplicationMessage as M;
    let tag = message.message_type().tag();
    let wire = Wire::new(tag);
    let wire = match message {
        M::Begin(m) => wire
            .u64(m.final_lsn.0)
            .i64(m.commit_timestamp.0)
            .u32(m.xid.0),
        M::Commit(m) => wire
            .u8(m.flags)
            .u64(m.commit_lsn.0)
            .u64(m.end_lsn.0)
            .i64(m.commit_timestamp.0),
        M::Origin(m) => wire.u64(m.commit_lsn.0).str(&m.name),
        M::Relation(m) => {
            let count = u16::try_from(m.columns.len()).expect("at most 65535 columns");
            let wire = wire
                .xid_if_streamed(m.xid)
                .u32(m.oid.0)
                .str(&m.namespace)
                .str(&m.name)
                .u8(m.replica_identity.as_byte())
                .u16(count);
            m.columns.iter().fold(wire, |wire, column| {
                wire.u8(column.flags)
                    .str(&column.name)
                    .u32(column.type_oid.0)
                    .i32(column.type_modifier)
            })
        }
        M::Type(m) => wire
            .xid_if_streamed(m.xid)
            .u32(m.oid.0)
            .str(&m.namespace)
            .str(&m.name),
        M::Insert(m) => wire
            .xid_if_streamed(m.xid)
            .u32(m.relation_oid.0)
            .u8(b'N')
            .tuple(&m.new),
        M::Update(m) => {
            let wire = wire.xid_if_streamed(m.xid).u32(m.relation_oid.0);
            let wire = match &m.old {
                Some(old) => wire.old_tuple(old),
                None => wire,
            };
            wire.u8(b'N').tuple(&m.new)
        }
        M::Delete(m) => wire
            .xid_if_streamed(m.xid)
            .u32(m.relation_oid.0)
            .old_tuple(&m.old),
        M::Truncate(m) => {
            let count = u32::try_from(m.relation_oids.len()).expect("fits in Int32");
            let wire = wire.xid_if_streamed(m.xid).u32(count).u8(m.options.0);
            m.relation_oids
                .iter()
                .fold(wire, |wire, oid| wire.u32(oid.0))
        }
        M::Message(m) => wire
            .xid_if_streamed(m.xid)
            .u8(m.flags)
            .u64(m.lsn.0)
            .str(&m.prefix)
            .counted(&m.content),
        M::StreamStart(m) => wire.u32(m.xid.0).u8(u8::from(m.first_segment)),
        M::StreamStop => wire,
        M::StreamCommit(m) => wire
            .u32(m.xid.0)
            .u8(m.flags)
            .u64(m.commit_lsn.0)
            .u64(m.end_lsn.0)
            .i64(m.commit_timestamp.0),
        M::StreamAbort(m) => {
            let wire = wire.u32(m.xid.0).u32(m.subxact_xid.0);
            match &m.parallel {
                Some(parallel) => wire
                    .u64(parallel.abort_lsn.0)
                    .i64(parallel.abort_timestamp.0),
                None => wire,
            }
        }
        M::BeginPrepare(m) => wire
            .u64(m.prepare_lsn.0)
            .u64(m.end_lsn.0)
            .i64(m.prepare_timestamp.0)
            .u32(m.xid.0)
            .str(&m.gid),
        M::Prepare(m) | M::StreamPrepare(m) => wire
            .u8(m.flags)
            .u64(m.prepare_lsn.0)
            .u64(m.end_lsn.0)
            .i64(m.prepare_timestamp.0)
            .u32(m.xid.0)
            .str(&m.gid),
        M::CommitPrepared(m) => wire
            .u8(m.flags)
            .u64(m.commit_lsn.0)
            .u64(m.end_lsn.0)
            .i64(m.commit_timestamp.0)
            .u32(m.xid.0)
            .str(&m.gid),
        M::RollbackPrepared(m) => wire
            .u8(m.flags)
            .u64(m.prepare_end_lsn.0)
            .u64(m.rollback_end_lsn.0)
            .i64(m.prepare_timestamp.0)
            .i64(m.rollback_timestamp.0)
            .u32(m.xid.0)
            .str(&m.gid),
    };
    wire.bytes()
}
