//! The CopyBoth stream after START_REPLICATION: XLogData out to the caller,
//! keepalives answered here, standby status updates sent on request, on a timer
//! and on demand.
//!
//! The one rule that makes delivery safe: the flush and apply positions reported
//! to the server are only ever what the caller has confirmed. The server treats
//! the flush position as the slot's `confirmed_flush_lsn` and never sends what
//! lies before it again, so confirming more than has been delivered loses data.
//!
//! `next()` must be called often enough that status updates go out (it sends them
//! while waiting for data); a caller that blocks elsewhere for long, e.g. on a full
//! channel, should `select!` on a timer and call [`ReplicationStream::send_status`],
//! otherwise the server ends the connection after `wal_sender_timeout`.

use std::time::{Duration, SystemTime};

use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::time::Instant;

use crate::lsn::Lsn;

use super::client::ReplicationClient;
use super::config::ReplicationConfig;
use super::error::{from_server, ErrorContext, ReplicationError, ServerError};
use super::frames::{
    parse_server_message, pg_timestamp, ServerMessage, StandbyStatusUpdate, XLogData,
};
use super::startup::Session;
use super::wire::{Frame, Wire};

/// How long [`ReplicationStream::stop`] waits for the server to end the stream.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A logical replication stream for one slot.
#[derive(Debug)]
pub struct ReplicationStream {
    wire: Wire,
    session: Session,
    config: ReplicationConfig,
    slot: String,
    /// Highest position seen (XLogData start, keepalive end): the `write` we report.
    received: Lsn,
    /// What the caller confirmed: the `flush` and `apply` we report.
    confirmed: Lsn,
    server_wal_end: Lsn,
    last_status: Instant,
    last_receive: Instant,
    ping_outstanding: bool,
    /// The server sent CopyDone: no more data will come.
    server_done: bool,
}

impl ReplicationStream {
    pub(crate) fn new(
        wire: Wire,
        session: Session,
        config: ReplicationConfig,
        slot: String,
    ) -> Self {
        let now = Instant::now();
        ReplicationStream {
            wire,
            session,
            config,
            slot,
            received: Lsn::ZERO,
            confirmed: Lsn::ZERO,
            server_wal_end: Lsn::ZERO,
            last_status: now,
            last_receive: now,
            ping_outstanding: false,
            server_done: false,
        }
    }

    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// The walsender's process id (`pg_stat_replication.pid`).
    pub fn backend_pid(&self) -> i32 {
        self.session.backend_pid
    }

    /// The next output plugin message. Keepalives are answered internally and
    /// status updates sent when due. `None` once the server has ended the stream.
    ///
    /// Cancel-safe: dropping the future loses no message and leaves no
    /// half-written status update behind.
    pub async fn next(&mut self) -> Result<Option<XLogData>, ReplicationError> {
        if self.wire.has_pending_writes() {
            self.wire.flush().await?;
        }
        loop {
            if self.server_done {
                return Ok(None);
            }
            match self.wire.try_frame()? {
                Some(frame) => {
                    if let Some(data) = self.handle(frame).await? {
                        return Ok(Some(data));
                    }
                }
                None => self.receive().await?,
            }
        }
    }

    /// Records that everything up to `lsn` is durably delivered; the server may
    /// discard WAL before it and will not send it again. Never moves backwards.
    /// Reported with the next status update (at the latest after
    /// `status_interval`, or at once with [`ReplicationStream::send_status`]).
    pub fn confirm(&mut self, lsn: Lsn) {
        if lsn > self.confirmed {
            self.confirmed = lsn;
        }
    }

    /// The flush position reported to the server.
    pub fn confirmed_lsn(&self) -> Lsn {
        self.confirmed
    }

    /// The highest WAL position received.
    pub fn received_lsn(&self) -> Lsn {
        self.received
    }

    /// The server's end of WAL from its latest keepalive. When every received
    /// transaction is confirmed and none is open, confirming this lets the slot
    /// move past WAL that produced no changes (and lets a shutting-down server,
    /// which waits for its walsenders' clients to catch up, finish).
    pub fn server_wal_end(&self) -> Lsn {
        self.server_wal_end
    }

    /// Sends a standby status update now.
    pub async fn send_status(&mut self) -> Result<(), ReplicationError> {
        self.send_status_update(false).await
    }

    /// Reports the confirmed position one last time, ends the stream (CopyDone),
    /// discards what the server still had in flight and returns the connection
    /// to command mode.
    pub async fn stop(mut self) -> Result<ReplicationClient, ReplicationError> {
        self.send_status_update(false).await?;
        frontend::copy_done(self.wire.write_buf());
        self.wire.flush().await?;
        match tokio::time::timeout(STOP_TIMEOUT, self.drain()).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ReplicationError::ReceiveTimeout {
                    timeout: STOP_TIMEOUT,
                })
            }
        }
        tracing::info!(slot = %self.slot, confirmed = %self.confirmed, "replication stopped");
        Ok(ReplicationClient::from_parts(
            self.wire,
            self.session,
            self.config,
        ))
    }

    /// After our CopyDone: the server's CopyDone, CommandComplete, ReadyForQuery.
    async fn drain(&mut self) -> Result<(), ReplicationError> {
        let mut error = None;
        loop {
            match self.wire.next_frame().await? {
                Frame::Message(Message::ReadyForQuery(_)) => {
                    return match error {
                        Some(error) => {
                            Err(from_server(error, ErrorContext::Slot { slot: &self.slot }))
                        }
                        None => Ok(()),
                    }
                }
                Frame::Message(Message::ErrorResponse(body)) => {
                    error = Some(ServerError::parse(&body)?)
                }
                Frame::Message(_) => {}
                Frame::CopyBothResponse => {
                    return Err(ReplicationError::protocol(
                        "CopyBothResponse while stopping",
                    ))
                }
            }
        }
    }

    async fn handle(&mut self, frame: Frame) -> Result<Option<XLogData>, ReplicationError> {
        let message = match frame {
            Frame::Message(message) => message,
            Frame::CopyBothResponse => {
                return Err(ReplicationError::protocol("second CopyBothResponse"))
            }
        };
        match message {
            Message::CopyData(body) => match parse_server_message(body.into_bytes()) {
                Ok(ServerMessage::XLogData(data)) => {
                    self.received = self.received.max(data.wal_start);
                    Ok(Some(data))
                }
                Ok(ServerMessage::Keepalive(keepalive)) => {
                    self.server_wal_end = keepalive.wal_end;
                    self.received = self.received.max(keepalive.wal_end);
                    if keepalive.reply_requested {
                        self.send_status_update(false).await?;
                    }
                    Ok(None)
                }
                Err(error) => Err(ReplicationError::protocol(error.to_string())),
            },
            Message::CopyDone => {
                tracing::info!(slot = %self.slot, "the server ended the replication stream");
                self.server_done = true;
                Ok(None)
            }
            Message::ErrorResponse(body) => {
                let error = ServerError::parse(&body)?;
                Err(from_server(error, ErrorContext::Slot { slot: &self.slot }))
            }
            Message::NoticeResponse(body) => {
                super::error::log_notice(&body);
                Ok(None)
            }
            Message::ParameterStatus(_) => Ok(None),
            _ => Err(ReplicationError::protocol(
                "unexpected message in the replication stream",
            )),
        }
    }

    /// Waits for more bytes, sending status updates when due: every
    /// `status_interval`, and a ping after half of `receive_timeout` of silence.
    async fn receive(&mut self) -> Result<(), ReplicationError> {
        loop {
            let now = Instant::now();
            let status_due = later(self.last_status, self.config.status_interval);
            if now >= status_due {
                self.send_status_update(false).await?;
                continue;
            }
            let mut deadline = status_due;
            if let Some(timeout) = self.config.receive_timeout {
                let silent_since = self.last_receive;
                if now >= later(silent_since, timeout) {
                    return Err(ReplicationError::ReceiveTimeout { timeout });
                }
                if !self.ping_outstanding && now >= later(silent_since, timeout / 2) {
                    self.ping_outstanding = true;
                    self.send_status_update(true).await?;
                    continue;
                }
                let next_check = if self.ping_outstanding {
                    later(silent_since, timeout)
                } else {
                    later(silent_since, timeout / 2)
                };
                deadline = deadline.min(next_check);
            }
            tokio::select! {
                filled = self.wire.fill() => {
                    filled?;
                    self.last_receive = Instant::now();
                    self.ping_outstanding = false;
                    return Ok(());
                }
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn send_status_update(&mut self, reply_requested: bool) -> Result<(), ReplicationError> {
        let update = StandbyStatusUpdate {
            write: self.received.max(self.confirmed),
            flush: self.confirmed,
            apply: self.confirmed,
            client_time: pg_timestamp(SystemTime::now()),
            reply_requested,
        };
        frontend::CopyData::new(&update.encode()[..])?.write(self.wire.write_buf());
        self.wire.flush().await?;
        self.last_status = Instant::now();
        tracing::trace!(
            slot = %self.slot,
            write = %update.write,
            flush = %update.flush,
            reply_requested,
            "sent standby status update"
        );
        Ok(())
    }
}

/// `start + duration`, saturating at a year from now for absurd durations.
fn later(start: Instant, duration: Duration) -> Instant {
    start
        .checked_add(duration)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::{Buf, BufMut, Bytes, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::replication::auth::AuthMethod;
    use crate::replication::frames::PrimaryKeepalive;
    use crate::replication::wire::Transport;

    const MESSAGES: u64 = 300_000;
    /// About the size of a pgoutput Insert of a 9-column row.
    const PAYLOAD: usize = 180;

    fn copy_data(payload: &[u8], out: &mut BytesMut) {
        out.put_u8(b'd');
        out.put_i32(4 + payload.len() as i32);
        out.put_slice(payload);
    }

    /// What a walsender would send: XLogData with a keepalive asking for a reply
    /// every 50,000 messages.
    fn server_stream() -> Bytes {
        let mut out = BytesMut::with_capacity(MESSAGES as usize * (PAYLOAD + 40));
        let mut payload = BytesMut::new();
        let data = Bytes::from(vec![b'I'; PAYLOAD]);
        for i in 1..=MESSAGES {
            payload.clear();
            if i % 50_000 == 0 {
                PrimaryKeepalive {
                    wal_end: Lsn(i * 1000),
                    server_time: 0,
                    reply_requested: true,
                }
                .encode(&mut payload);
                copy_data(&payload, &mut out);
                payload.clear();
            }
            XLogData {
                wal_start: Lsn(i * 1000),
                wal_end: Lsn(i * 1000),
                server_time: 0,
                data: data.clone(),
            }
            .encode(&mut payload);
            copy_data(&payload, &mut out);
        }
        out.freeze()
    }

    /// Reads frontend messages until the client's CopyDone, answers the way a
    /// walsender ends a stream, and returns the status updates it got.
    async fn fake_walsender(socket: &mut TcpStream, stream: Bytes) -> Vec<StandbyStatusUpdate> {
        let (mut reader, mut writer) = socket.split();
        let writing = async move {
            writer.write_all(&stream).await.unwrap();
            writer
        };
        let reading = async move {
            let mut updates = Vec::new();
            let mut buf = BytesMut::new();
            loop {
                while buf.len() >= 5 {
                    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                    if buf.len() < len + 1 {
                        break;
                    }
                    let tag = buf[0];
                    let body = buf.split_to(len + 1).split_off(5);
                    match tag {
                        b'd' => updates.push(StandbyStatusUpdate::decode(&body).unwrap()),
                        b'c' => return updates,
                        other => panic!("unexpected frontend message {other}"),
                    }
                }
                assert!(
                    reader.read_buf(&mut buf).await.unwrap() > 0,
                    "client hung up"
                );
            }
        };
        let (mut writer, updates) = tokio::join!(writing, reading);
        let mut end = BytesMut::new();
        end.put_slice(b"c\0\0\0\x04");
        end.put_u8(b'C');
        end.put_i32(4 + 7);
        end.put_slice(b"COPY 0\0");
        end.put_slice(b"Z\0\0\0\x05I");
        writer.write_all(&end).await.unwrap();
        updates
    }

    fn stream_over(socket: TcpStream, status_interval: Duration) -> ReplicationStream {
        let mut config = ReplicationConfig::new("127.0.0.1", 0, "u", "d");
        config.status_interval = status_interval;
        let session = Session {
            parameters: HashMap::new(),
            backend_pid: 1,
            auth_method: AuthMethod::Trust,
        };
        ReplicationStream::new(
            Wire::new(Transport::Plain(socket)),
            session,
            config,
            "s".into(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_fast_answers_keepalives_and_reports_only_confirmed_flush() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let bytes = server_stream();
        let total_bytes = bytes.len();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            fake_walsender(&mut socket, bytes).await
        });
        let mut stream = stream_over(
            TcpStream::connect(address).await.unwrap(),
            Duration::from_secs(3600),
        );

        let started = std::time::Instant::now();
        let mut count = 0u64;
        let mut payload_bytes = 0usize;
        while count < MESSAGES {
            let data = stream.next().await.unwrap().unwrap();
            count += 1;
            assert_eq!(data.wal_start, Lsn(count * 1000));
            payload_bytes += data.data.len();
            if count == 1000 {
                stream.confirm(Lsn(1000 * 1000));
                stream.confirm(Lsn(5)); // never backwards
            }
        }
        let elapsed = started.elapsed();
        println!(
            "fake walsender: {count} messages, {:.1} MB on the wire in {elapsed:?}: {:.0} messages/s, {:.1} MB/s",
            total_bytes as f64 / 1e6,
            count as f64 / elapsed.as_secs_f64(),
            total_bytes as f64 / 1e6 / elapsed.as_secs_f64(),
        );
        assert_eq!(payload_bytes, MESSAGES as usize * PAYLOAD);
        assert_eq!(stream.received_lsn(), Lsn(MESSAGES * 1000));
        stream.stop().await.unwrap();

        let updates = server.await.unwrap();
        // One reply per keepalive that asked, plus the final one from stop().
        assert!(updates.len() >= (MESSAGES / 50_000) as usize, "{updates:?}");
        for update in &updates {
            assert!(
                update.flush <= Lsn(1000 * 1000),
                "flush passed the confirmed LSN: {update:?}"
            );
            assert!(update.write >= update.flush);
            assert!(!update.reply_requested);
        }
        let last = updates.last().unwrap();
        assert_eq!(last.flush, Lsn(1000 * 1000));
        assert_eq!(last.apply, Lsn(1000 * 1000));
        assert_eq!(last.write, Lsn(MESSAGES * 1000));
        if !cfg!(debug_assertions) {
            assert!(count as f64 / elapsed.as_secs_f64() > 250_000.0);
        }
    }

    #[tokio::test]
    async fn sends_status_on_its_own_while_idle() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            while buf.len() < 2 * (5 + StandbyStatusUpdate::LEN) {
                socket.read_buf(&mut buf).await.unwrap();
            }
            buf.advance(5);
            let first = StandbyStatusUpdate::decode(&buf[..StandbyStatusUpdate::LEN]).unwrap();
            let mut end = BytesMut::new();
            end.put_slice(b"c\0\0\0\x04");
            socket.write_all(&end).await.unwrap();
            first
        });
        let mut stream = stream_over(
            TcpStream::connect(address).await.unwrap(),
            Duration::from_millis(50),
        );
        stream.confirm(Lsn(42));
        // The server sends nothing until two periodic updates arrived, then ends.
        assert_eq!(stream.next().await.unwrap(), None);
        let first = server.await.unwrap();
        assert_eq!(first.flush, Lsn(42));
        assert_eq!(first.write, Lsn(42));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_after_a_ping() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            // Read until the client gives up, recording whether it pinged.
            while socket.read_buf(&mut buf).await.unwrap_or(0) > 0 {}
            buf.chunks(5 + StandbyStatusUpdate::LEN).any(|frame| {
                StandbyStatusUpdate::decode(&frame[5..]).is_ok_and(|u| u.reply_requested)
            })
        });
        let mut stream = stream_over(
            TcpStream::connect(address).await.unwrap(),
            Duration::from_secs(3600),
        );
        stream.config.receive_timeout = Some(Duration::from_millis(200));
        let error = stream.next().await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::ReceiveTimeout { .. }),
            "{error}"
        );
        assert!(error.is_retriable());
        drop(stream);
        assert!(server.await.unwrap(), "no ping before giving up");
    }
}
