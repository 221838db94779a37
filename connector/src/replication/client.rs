//! A replication connection in command mode: identify the system, create or drop
//! slots, then turn into a [`ReplicationStream`] with START_REPLICATION.

use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::lsn::Lsn;

use super::auth::AuthMethod;
use super::commands::{self, CreateSlotOptions, CreatedSlot, IdentifySystem, PgOutputOptions};
use super::config::ReplicationConfig;
use super::error::{from_server, ErrorContext, ReplicationError, ServerError};
use super::query::{simple_query, TextRows};
use super::startup::{self, Session};
use super::stream::ReplicationStream;
use super::wire::{Frame, Wire};

/// An authenticated walsender connection (`replication=database`) to one database.
///
/// An exported snapshot ([`ReplicationClient::create_slot`]) stays valid only while
/// this connection runs no further command: read the snapshot on another
/// connection first, then call [`ReplicationClient::start_replication`].
#[derive(Debug)]
pub struct ReplicationClient {
    wire: Wire,
    session: Session,
    config: ReplicationConfig,
}

impl ReplicationClient {
    /// Connects, negotiates TLS per `sslmode` and authenticates.
    pub async fn connect(config: ReplicationConfig) -> Result<Self, ReplicationError> {
        let (wire, session) = startup::connect(&config).await?;
        Ok(ReplicationClient {
            wire,
            session,
            config,
        })
    }

    pub(crate) fn from_parts(wire: Wire, session: Session, config: ReplicationConfig) -> Self {
        ReplicationClient {
            wire,
            session,
            config,
        }
    }

    pub fn config(&self) -> &ReplicationConfig {
        &self.config
    }

    /// The walsender's process id (`pg_stat_replication.pid`).
    pub fn backend_pid(&self) -> i32 {
        self.session.backend_pid
    }

    pub fn auth_method(&self) -> AuthMethod {
        self.session.auth_method
    }

    pub fn is_encrypted(&self) -> bool {
        self.wire.is_encrypted()
    }

    /// A ParameterStatus value reported at startup (`server_version`,
    /// `server_encoding`, `TimeZone`, ...).
    pub fn server_parameter(&self, name: &str) -> Option<&str> {
        self.session.parameters.get(name).map(String::as_str)
    }

    /// The major version, e.g. 15 for "15.8 (Debian 15.8-1.pgdg120+1)".
    pub fn server_major_version(&self) -> Option<u32> {
        let version = self.server_parameter("server_version")?;
        let major: String = version.chars().take_while(char::is_ascii_digit).collect();
        major.parse().ok()
    }

    /// IDENTIFY_SYSTEM: the cluster id, timeline and current WAL flush position.
    pub async fn identify_system(&mut self) -> Result<IdentifySystem, ReplicationError> {
        let rows = simple_query(&mut self.wire, "IDENTIFY_SYSTEM", ErrorContext::Other).await?;
        let timeline = rows.required("timeline")?;
        let xlogpos = rows.required("xlogpos")?;
        Ok(IdentifySystem {
            systemid: rows.required("systemid")?.to_owned(),
            timeline: timeline
                .parse()
                .map_err(|_| ReplicationError::protocol(format!("timeline {timeline:?}")))?,
            xlogpos: xlogpos
                .parse()
                .map_err(|_| ReplicationError::protocol(format!("xlogpos {xlogpos:?}")))?,
            dbname: rows.single("dbname")?.map(str::to_owned),
        })
    }

    /// SHOW, a replication command of its own: the current value of a setting.
    pub async fn show(&mut self, setting: &str) -> Result<String, ReplicationError> {
        let sql = format!("SHOW {}", super::quote::quote_identifier(setting));
        let rows = simple_query(&mut self.wire, &sql, ErrorContext::Other).await?;
        match rows.rows.as_slice() {
            [row] => row
                .first()
                .cloned()
                .flatten()
                .ok_or_else(|| ReplicationError::protocol("SHOW returned NULL")),
            _ => Err(ReplicationError::protocol("SHOW did not return one row")),
        }
    }

    /// Runs one SQL statement (a `replication=database` walsender accepts simple
    /// queries before START_REPLICATION) and returns its rows as text. Used to read
    /// the catalog on the replication connection itself, so capture needs no second
    /// connection.
    pub async fn query_text(&mut self, sql: &str) -> Result<TextRows, ReplicationError> {
        simple_query(&mut self.wire, sql, ErrorContext::Other).await
    }

    /// CREATE_REPLICATION_SLOT for pgoutput. With [`commands::SnapshotAction::Export`]
    /// the returned `snapshot_name` can be imported elsewhere with
    /// `SET TRANSACTION SNAPSHOT` until this connection runs its next command.
    pub async fn create_slot(
        &mut self,
        slot: &str,
        options: CreateSlotOptions,
    ) -> Result<CreatedSlot, ReplicationError> {
        let command = commands::create_slot(slot, options)?;
        tracing::info!(
            slot,
            temporary = options.temporary,
            "creating replication slot"
        );
        let rows = match simple_query(&mut self.wire, &command.0, ErrorContext::Slot { slot }).await
        {
            Ok(rows) => rows,
            Err(ReplicationError::WalLevelNotLogical { .. }) => {
                let found = self
                    .show("wal_level")
                    .await
                    .unwrap_or_else(|_| "below logical".to_owned());
                return Err(ReplicationError::WalLevelNotLogical { found });
            }
            Err(error) => return Err(error),
        };
        let consistent_point = rows.required("consistent_point")?;
        Ok(CreatedSlot {
            slot_name: rows.required("slot_name")?.to_owned(),
            consistent_point: consistent_point.parse().map_err(|_| {
                ReplicationError::protocol(format!("consistent_point {consistent_point:?}"))
            })?,
            snapshot_name: rows.single("snapshot_name")?.map(str::to_owned),
            output_plugin: rows
                .single("output_plugin")?
                .unwrap_or(commands::PGOUTPUT)
                .to_owned(),
        })
    }

    /// DROP_REPLICATION_SLOT. With `wait`, a slot still held by an exiting
    /// walsender is waited for instead of reported as in use.
    pub async fn drop_slot(&mut self, slot: &str, wait: bool) -> Result<(), ReplicationError> {
        let command = commands::drop_slot(slot, wait)?;
        tracing::info!(slot, "dropping replication slot");
        simple_query(&mut self.wire, &command.0, ErrorContext::Slot { slot }).await?;
        Ok(())
    }

    /// START_REPLICATION: from here on the connection streams. `start` is where to
    /// resume; the server begins at the slot's `confirmed_flush_lsn` when `start`
    /// is earlier (`Lsn::ZERO` means "wherever the slot is").
    pub async fn start_replication(
        mut self,
        slot: &str,
        start: Lsn,
        options: &PgOutputOptions,
    ) -> Result<ReplicationStream, ReplicationError> {
        let command = commands::start_replication(slot, start, options)?;
        tracing::info!(slot, %start, publications = ?options.publication_names, "starting replication");
        frontend::query(&command.0, self.wire.write_buf())?;
        self.wire.flush().await?;
        let mut error = None;
        loop {
            match self.wire.next_frame().await? {
                Frame::CopyBothResponse if error.is_none() => {
                    return Ok(ReplicationStream::new(
                        self.wire,
                        self.session,
                        self.config,
                        slot.to_owned(),
                    ))
                }
                Frame::CopyBothResponse => {
                    return Err(ReplicationError::protocol(
                        "CopyBothResponse after an error",
                    ))
                }
                Frame::Message(Message::ErrorResponse(body)) => {
                    error = Some(ServerError::parse(&body)?);
                }
                Frame::Message(Message::ReadyForQuery(_)) => {
                    return Err(match error {
                        Some(error) => from_server(error, ErrorContext::Slot { slot }),
                        None => {
                            ReplicationError::protocol("START_REPLICATION ended without streaming")
                        }
                    });
                }
                Frame::Message(Message::NoticeResponse(body)) => super::error::log_notice(&body),
                Frame::Message(Message::ParameterStatus(_)) => {}
                Frame::Message(_) => {
                    return Err(ReplicationError::protocol(
                        "unexpected reply to START_REPLICATION",
                    ))
                }
            }
        }
    }

    /// Ends the session politely (Terminate), so the server logs no "unexpected EOF".
    pub async fn close(mut self) -> Result<(), ReplicationError> {
        frontend::terminate(self.wire.write_buf());
        self.wire.flush().await?;
        // The server closes its side; a failed shutdown of ours changes nothing.
        let _ = self.wire.shutdown().await;
        Ok(())
    }
}
