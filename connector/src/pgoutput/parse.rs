//! The body of each pgoutput message, field by field in the documented order. Each
//! function starts just after the type byte (and after the streamed xid, which the
//! decoder reads and passes in).

use super::error::DecodeError;
use super::messages::{
    Begin, BeginPrepare, Commit, CommitPrepared, Delete, Insert, LogicalDecodingMessage, OldTuple,
    Origin, Prepare, Relation, RelationColumn, ReplicaIdentity, RollbackPrepared, StreamAbort,
    StreamAbortParallel, StreamCommit, StreamStart, Truncate, TruncateOptions, Type, Update,
};
use super::reader::Reader;
use super::tuple::read_tuple;
use super::types::Xid;

/// Smallest encoding of a Relation column: flags, an empty name's NUL, type oid and
/// type modifier.
const MIN_RELATION_COLUMN_BYTES: u64 = 1 + 1 + 4 + 4;

pub(super) fn begin(r: &mut Reader) -> Result<Begin, DecodeError> {
    Ok(Begin {
        final_lsn: r.lsn("final LSN")?,
        commit_timestamp: r.timestamp("commit timestamp")?,
        xid: r.xid("xid")?,
    })
}

pub(super) fn commit(r: &mut Reader) -> Result<Commit, DecodeError> {
    Ok(Commit {
        flags: r.u8("flags")?,
        commit_lsn: r.lsn("commit LSN")?,
        end_lsn: r.lsn("end LSN")?,
        commit_timestamp: r.timestamp("commit timestamp")?,
    })
}

pub(super) fn origin(r: &mut Reader) -> Result<Origin, DecodeError> {
    Ok(Origin {
        commit_lsn: r.lsn("origin commit LSN")?,
        name: r.string("origin name")?,
    })
}

pub(super) fn relation(r: &mut Reader, xid: Option<Xid>) -> Result<Relation, DecodeError> {
    let oid = r.oid("relation oid")?;
    let namespace = r.string("namespace")?;
    let name = r.string("relation name")?;
    let identity_offset = r.offset();
    let identity_byte = r.u8("replica identity")?;
    let replica_identity =
        ReplicaIdentity::from_byte(identity_byte).ok_or(DecodeError::UnknownTag {
            message: r.message(),
            field: "replica identity",
            offset: identity_offset,
            tag: identity_byte,
            expected: "'d', 'n', 'f' or 'i'",
        })?;
    let count_offset = r.offset();
    let count = r.u16("column count")?;
    let count = r.check_count(
        "column count",
        count_offset,
        u64::from(count),
        MIN_RELATION_COLUMN_BYTES,
    )?;
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        columns.push(RelationColumn {
            flags: r.u8("column flags")?,
            name: r.string("column name")?,
            type_oid: r.oid("column type oid")?,
            type_modifier: r.i32("column type modifier")?,
        });
    }
    Ok(Relation {
        xid,
        oid,
        namespace,
        name,
        replica_identity,
        columns,
    })
}

pub(super) fn type_(r: &mut Reader, xid: Option<Xid>) -> Result<Type, DecodeError> {
    Ok(Type {
        xid,
        oid: r.oid("type oid")?,
        namespace: r.string("namespace")?,
        name: r.string("type name")?,
    })
}

/// The `'K'`/`'O'`/`'N'` byte that announces a TupleData.
fn tuple_marker(
    r: &mut Reader,
    accepted: &[u8],
    expected: &'static str,
) -> Result<u8, DecodeError> {
    let offset = r.offset();
    let marker = r.u8("tuple marker")?;
    if accepted.contains(&marker) {
        Ok(marker)
    } else {
        Err(DecodeError::UnknownTag {
            message: r.message(),
            field: "tuple marker",
            offset,
            tag: marker,
            expected,
        })
    }
}

#[inline]
pub(super) fn insert(r: &mut Reader, xid: Option<Xid>) -> Result<Insert, DecodeError> {
    let relation_oid = r.oid("relation oid")?;
    tuple_marker(r, b"N", "'N'")?;
    let new = read_tuple(r)?;
    // The row is the last field: the payload moves into it rather than being cloned.
    Ok(Insert {
        xid,
        relation_oid,
        new: new.with_data(r.take_payload()),
    })
}

pub(super) fn update(r: &mut Reader, xid: Option<Xid>) -> Result<Update, DecodeError> {
    let relation_oid = r.oid("relation oid")?;
    let marker = tuple_marker(r, b"KON", "'K', 'O' or 'N'")?;
    let old = match marker {
        b'K' | b'O' => {
            let old = read_tuple(r)?;
            tuple_marker(r, b"N", "'N' after the old tuple")?;
            Some(old)
        }
        _ => None,
    };
    let new = read_tuple(r)?;
    let data = r.take_payload();
    let old = old.map(|old| {
        let old = old.with_data(data.clone());
        if marker == b'K' {
            OldTuple::Key(old)
        } else {
            OldTuple::Full(old)
        }
    });
    Ok(Update {
        xid,
        relation_oid,
        old,
        new: new.with_data(data),
    })
}

pub(super) fn delete(r: &mut Reader, xid: Option<Xid>) -> Result<Delete, DecodeError> {
    let relation_oid = r.oid("relation oid")?;
    let marker = tuple_marker(r, b"KO", "'K' or 'O'")?;
    let old = read_tuple(r)?.with_data(r.take_payload());
    let old = if marker == b'K' {
        OldTuple::Key(old)
    } else {
        OldTuple::Full(old)
    };
    Ok(Delete {
        xid,
        relation_oid,
        old,
    })
}

pub(super) fn truncate(r: &mut Reader, xid: Option<Xid>) -> Result<Truncate, DecodeError> {
    let count_offset = r.offset();
    let count = r.u32("relation count")?;
    let options = TruncateOptions(r.u8("options")?);
    let count = r.check_count("relation count", count_offset, u64::from(count), 4)?;
    let mut relation_oids = Vec::with_capacity(count);
    for _ in 0..count {
        relation_oids.push(r.oid("relation oid")?);
    }
    Ok(Truncate {
        xid,
        options,
        relation_oids,
    })
}

pub(super) fn message(
    r: &mut Reader,
    xid: Option<Xid>,
) -> Result<LogicalDecodingMessage, DecodeError> {
    let flags = r.u8("flags")?;
    let lsn = r.lsn("message LSN")?;
    let prefix = r.string("prefix")?;
    let length = r.length("content length")?;
    let content = r.bytes(length, "content")?;
    Ok(LogicalDecodingMessage {
        xid,
        flags,
        lsn,
        prefix,
        content,
    })
}

pub(super) fn stream_start(r: &mut Reader) -> Result<StreamStart, DecodeError> {
    let xid = r.xid("xid")?;
    let offset = r.offset();
    let first_segment = match r.u8("first segment flag")? {
        0 => false,
        1 => true,
        tag => {
            return Err(DecodeError::UnknownTag {
                message: r.message(),
                field: "first segment flag",
                offset,
                tag,
                expected: "0 or 1",
            })
        }
    };
    Ok(StreamStart { xid, first_segment })
}

pub(super) fn stream_commit(r: &mut Reader) -> Result<StreamCommit, DecodeError> {
    Ok(StreamCommit {
        xid: r.xid("xid")?,
        flags: r.u8("flags")?,
        commit_lsn: r.lsn("commit LSN")?,
        end_lsn: r.lsn("end LSN")?,
        commit_timestamp: r.timestamp("commit timestamp")?,
    })
}

/// `with_parallel_fields`: the session asked for `proto_version` 4 and
/// `streaming = parallel`, the only case in which PostgreSQL appends the abort LSN and
/// timestamp. Nothing in the message itself says whether they are there.
pub(super) fn stream_abort(
    r: &mut Reader,
    with_parallel_fields: bool,
) -> Result<StreamAbort, DecodeError> {
    let xid = r.xid("xid")?;
    let subxact_xid = r.xid("subtransaction xid")?;
    let parallel = if with_parallel_fields {
        Some(StreamAbortParallel {
            abort_lsn: r.lsn("abort LSN")?,
            abort_timestamp: r.timestamp("abort timestamp")?,
        })
    } else {
        None
    };
    Ok(StreamAbort {
        xid,
        subxact_xid,
        parallel,
    })
}

pub(super) fn begin_prepare(r: &mut Reader) -> Result<BeginPrepare, DecodeError> {
    Ok(BeginPrepare {
        prepare_lsn: r.lsn("prepare LSN")?,
        end_lsn: r.lsn("end LSN")?,
        prepare_timestamp: r.timestamp("prepare timestamp")?,
        xid: r.xid("xid")?,
        gid: r.string("gid")?,
    })
}

/// Prepare and Stream Prepare share one layout.
pub(super) fn prepare(r: &mut Reader) -> Result<Prepare, DecodeError> {
    Ok(Prepare {
        flags: r.u8("flags")?,
        prepare_lsn: r.lsn("prepare LSN")?,
        end_lsn: r.lsn("end LSN")?,
        prepare_timestamp: r.timestamp("prepare timestamp")?,
        xid: r.xid("xid")?,
        gid: r.string("gid")?,
    })
}

pub(super) fn commit_prepared(r: &mut Reader) -> Result<CommitPrepared, DecodeError> {
    Ok(CommitPrepared {
        flags: r.u8("flags")?,
        commit_lsn: r.lsn("commit LSN")?,
        end_lsn: r.lsn("end LSN")?,
        commit_timestamp: r.timestamp("commit timestamp")?,
        xid: r.xid("xid")?,
        gid: r.string("gid")?,
    })
}

pub(super) fn rollback_prepared(r: &mut Reader) -> Result<RollbackPrepared, DecodeError> {
    Ok(RollbackPrepared {
        flags: r.u8("flags")?,
        prepare_end_lsn: r.lsn("prepare end LSN")?,
        rollback_end_lsn: r.lsn("rollback end LSN")?,
        prepare_timestamp: r.timestamp("prepare timestamp")?,
        rollback_timestamp: r.timestamp("rollback timestamp")?,
        xid: r.xid("xid")?,
        gid: r.string("gid")?,
    })
}
