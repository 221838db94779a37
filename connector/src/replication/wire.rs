//! Message framing over the socket: a large read buffer from which many backend
//! messages are cut per read, and a write buffer that survives cancellation.
//!
//! Every backend message is a tag byte and an Int32 length that counts itself but
//! not the tag ("Message Formats"). postgres-protocol parses all messages but
//! CopyBothResponse ('W'), which only replication uses; that one is parsed here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use postgres_protocol::message::backend::{self, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::error::ReplicationError;

/// Bytes read per system call while streaming. A read parses into many messages;
/// 256 KiB keeps the syscall rate low at hundreds of MB/s.
const READ_CHUNK: usize = 256 * 1024;
/// Refill the buffer once less than this is free, instead of reading in slivers.
const MIN_FREE: usize = 32 * 1024;
/// PostgreSQL never sends a message over 1 GiB (MaxAllocSize); a larger length
/// means a corrupt stream, not a reason to allocate it.
const MAX_MESSAGE_LEN: usize = (1 << 30) + 1024;

const COPY_BOTH_RESPONSE_TAG: u8 = b'W';

/// The socket, encrypted or not.
#[derive(Debug)]
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One framed backend message.
pub(crate) enum Frame {
    /// The answer to START_REPLICATION: both sides may now send CopyData.
    CopyBothResponse,
    Message(Message),
}

/// A connection's buffered reader and writer.
#[derive(Debug)]
pub(crate) struct Wire {
    io: Transport,
    read_buf: BytesMut,
    write_buf: BytesMut,
}

impl Wire {
    pub(crate) fn new(io: Transport) -> Self {
        Wire {
            io,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(1024),
        }
    }

    pub(crate) fn is_encrypted(&self) -> bool {
        matches!(self.io, Transport::Tls(_))
    }

    /// Where outgoing messages are encoded; sent by [`Wire::flush`].
    pub(crate) fn write_buf(&mut self) -> &mut BytesMut {
        &mut self.write_buf
    }

    /// Sends everything encoded so far. Cancel-safe: bytes not yet written stay
    /// in the buffer and go out first on the next call, so a message is never
    /// half-sent and then forgotten.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        while self.write_buf.has_remaining() {
            let written = self.io.write_buf(&mut self.write_buf).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        self.io.flush().await
    }

    /// Cuts the next complete message out of the read buffer, if there is one.
    pub(crate) fn try_frame(&mut self) -> Result<Option<Frame>, ReplicationError> {
        let Some(header) = backend::Header::parse(&self.read_buf)
            .map_err(|e| ReplicationError::protocol(e.to_string()))?
        else {
            return Ok(None);
        };
        // The length is at least 4 here: Header::parse rejects smaller ones.
        let total = header.len() as usize + 1;
        if total > MAX_MESSAGE_LEN {
            return Err(ReplicationError::protocol(format!(
                "message {:?} claims {total} bytes",
                char::from(header.tag())
            )));
        }
        if self.read_buf.len() < total {
            self.read_buf.reserve(total - self.read_buf.len());
            return Ok(None);
        }
        if header.tag() == COPY_BOTH_RESPONSE_TAG {
            let message = self.read_buf.split_to(total);
            check_copy_both_response(&message[5..])?;
            return Ok(Some(Frame::CopyBothResponse));
        }
        match Message::parse(&mut self.read_buf) {
            Ok(Some(message)) => Ok(Some(Frame::Message(message))),
            Ok(None) => Ok(None),
            Err(e) => Err(ReplicationError::protocol(format!(
                "could not parse message {:?}: {e}",
                char::from(header.tag())
            ))),
        }
    }

    /// Reads once from the socket into the buffer. Cancel-safe. End of stream is
    /// an error: the server never closes a connection without a reason it sends.
    pub(crate) async fn fill(&mut self) -> io::Result<()> {
        if self.read_buf.capacity() - self.read_buf.len() < MIN_FREE {
            self.read_buf.reserve(READ_CHUNK);
        }
        let read = self.io.read_buf(&mut self.read_buf).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(())
    }

    /// The next message, reading as needed.
    pub(crate) async fn next_frame(&mut self) -> Result<Frame, ReplicationError> {
        loop {
            if let Some(frame) = self.try_frame()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// Whether bytes are waiting to be sent.
    pub(crate) fn has_pending_writes(&self) -> bool {
        !self.write_buf.is_empty()
    }

    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

/// CopyBothResponse: Int8 overall format, Int16 column count, Int16 per column.
/// Logical replication streams are always "binary" (1) with no columns.
fn check_copy_both_response(body: &[u8]) -> Result<(), ReplicationError> {
    if body.len() < 3 {
        return Err(ReplicationError::protocol("truncated CopyBothResponse"));
    }
    let columns = usize::from(u16::from_be_bytes([body[1], body[2]]));
    if body.len() != 3 + 2 * columns {
        return Err(ReplicationError::protocol(
            "CopyBothResponse length does not match its column count",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_both_response_is_validated() {
        assert!(check_copy_both_response(&[0, 0, 0]).is_ok());
        assert!(check_copy_both_response(&[1, 0, 1, 0, 1]).is_ok());
        assert!(check_copy_both_response(&[0, 0]).is_err());
        assert!(check_copy_both_response(&[0, 0, 2, 0, 1]).is_err());
    }
}
