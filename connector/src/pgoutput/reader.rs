//! A bounds-checked cursor over one pgoutput payload.
//!
//! Every read checks the remaining length first and reports the field and offset it
//! was reading, so no input can make the decoder index out of bounds, and every
//! length or count taken from the input is checked against what is left before it
//! sizes anything.

use bytes::Bytes;

use super::error::DecodeError;
use super::message_type::MessageType;
use super::types::{Oid, PgTimestamp, Xid};
use crate::lsn::Lsn;

pub(super) struct Reader {
    /// The whole payload. Row messages move it into their [`TupleData`]s at the end,
    /// so column values stay zero-copy without a reference-count update per column.
    ///
    /// [`TupleData`]: super::TupleData
    payload: Bytes,
    /// The payload's length, still known after the payload was taken.
    len: usize,
    pos: usize,
    message: MessageType,
}

impl Reader {
    /// A reader positioned at `pos` (just after the type byte).
    #[inline]
    pub(super) fn new(payload: Bytes, pos: usize, message: MessageType) -> Self {
        let len = payload.len();
        Reader {
            payload,
            len,
            pos,
            message,
        }
    }

    #[inline]
    pub(super) fn message(&self) -> MessageType {
        self.message
    }

    #[inline]
    pub(super) fn offset(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(super) fn remaining(&self) -> usize {
        self.len.saturating_sub(self.pos)
    }

    #[inline]
    fn rest(&self) -> &[u8] {
        self.payload.get(self.pos..).unwrap_or_default()
    }

    /// Hands the payload over once the last field that needs it has been read; later
    /// reads fail as truncated. Cloning instead would cost an atomic increment and
    /// decrement per message.
    #[inline]
    pub(super) fn take_payload(&mut self) -> Bytes {
        std::mem::take(&mut self.payload)
    }

    pub(super) fn truncated(&self, field: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            message: self.message,
            field,
            offset: self.pos,
            needed,
            remaining: self.remaining(),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        match self.rest().first_chunk::<N>().copied() {
            Some(chunk) => {
                self.pos += N;
                Ok(chunk)
            }
            None => Err(self.truncated(field, N)),
        }
    }

    #[inline]
    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    /// An `Int16` that PostgreSQL writes from an unsigned count (`pq_sendint16`).
    #[inline]
    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_be_bytes)
    }

    #[inline]
    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    #[inline]
    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    #[inline]
    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }

    #[inline]
    pub(super) fn xid(&mut self, field: &'static str) -> Result<Xid, DecodeError> {
        self.u32(field).map(Xid)
    }

    #[inline]
    pub(super) fn oid(&mut self, field: &'static str) -> Result<Oid, DecodeError> {
        self.u32(field).map(Oid)
    }

    #[inline]
    pub(super) fn lsn(&mut self, field: &'static str) -> Result<Lsn, DecodeError> {
        self.u64(field).map(Lsn)
    }

    #[inline]
    pub(super) fn timestamp(&mut self, field: &'static str) -> Result<PgTimestamp, DecodeError> {
        self.array(field)
            .map(|bytes| PgTimestamp(i64::from_be_bytes(bytes)))
    }

    /// An owned copy of a NUL-terminated string, which must be UTF-8 (the replication
    /// connection asks for `client_encoding` UTF8, and PostgreSQL converts names and
    /// prefixes to it). Strings appear in Relation, Type, Origin, Message and the
    /// two-phase messages, never in rows.
    pub(super) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let start = self.pos;
        let rest = self.rest();
        let Some(nul) = memchr::memchr(0, rest) else {
            return Err(DecodeError::UnterminatedString {
                message: self.message,
                field,
                offset: start,
            });
        };
        let text = match std::str::from_utf8(rest.get(..nul).unwrap_or_default()) {
            Ok(text) => text.to_owned(),
            Err(err) => {
                return Err(DecodeError::InvalidUtf8 {
                    message: self.message,
                    field,
                    offset: start,
                    bad_byte_offset: start + err.valid_up_to(),
                })
            }
        };
        self.pos = start + nul + 1;
        Ok(text)
    }

    /// An `Int32` byte length, which must not be negative. Whether that many bytes
    /// are left is checked by [`Reader::bytes`], which reads them.
    #[inline]
    pub(super) fn length(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let length = self.i32(field)?;
        usize::try_from(length).map_err(|_| DecodeError::NegativeLength {
            message: self.message,
            field,
            offset,
            length,
        })
    }

    /// Skips the next `len` bytes and returns where they start.
    #[inline]
    pub(super) fn skip(&mut self, len: usize, field: &'static str) -> Result<usize, DecodeError> {
        if len > self.remaining() {
            return Err(self.truncated(field, len));
        }
        let start = self.pos;
        self.pos += len;
        Ok(start)
    }

    /// The next `len` bytes as a zero-copy slice of the payload.
    pub(super) fn bytes(&mut self, len: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.skip(len, field)?;
        match self.payload.get(start..self.pos) {
            Some(_) => Ok(self.payload.slice(start..self.pos)),
            None => Err(self.truncated(field, len)),
        }
    }

    /// Checks a count read at `offset` before anything is sized by it: `count` items of
    /// at least `min_bytes_each` bytes must fit in what is left.
    #[inline]
    pub(super) fn check_count(
        &self,
        field: &'static str,
        offset: usize,
        count: u64,
        min_bytes_each: u64,
    ) -> Result<usize, DecodeError> {
        let min_bytes = count.saturating_mul(min_bytes_each);
        match usize::try_from(count) {
            Ok(count) if min_bytes <= self.remaining() as u64 => Ok(count),
            _ => Err(DecodeError::CountExceedsInput {
                message: self.message,
                field,
                offset,
                count,
                min_bytes,
                remaining: self.remaining(),
            }),
        }
    }

    /// Strict end of message: bytes after a complete message mean the layout is not
    /// the one we decode (a newer protocol, or a corrupted stream), so they are an
    /// error rather than silently ignored.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            trailing => Err(DecodeError::TrailingBytes {
                message: self.message,
                offset: self.pos,
                trailing,
            }),
        }
    }
}
