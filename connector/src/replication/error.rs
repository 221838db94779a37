//! What can go wrong between pgcdc and PostgreSQL, said so that an operator knows
//! what to do, and classified once as retriable or fatal so retry loops never
//! match on message text.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{ErrorResponseBody, NoticeResponseBody};

use super::config::SslMode;

/// An ErrorResponse from the server, with the fields an operator needs
/// ("Error and Notice Message Fields" in the protocol docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// `ERROR`, `FATAL` or `PANIC` (the non-localized `V` field when present).
    pub severity: String,
    /// The SQLSTATE, e.g. `55006`.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ServerError {
    pub(crate) fn parse(body: &ErrorResponseBody) -> io::Result<ServerError> {
        let mut error = ServerError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        let mut localized_severity = None;
        let mut fields = body.fields();
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'V' => error.severity = value,
                b'S' => localized_severity = Some(value),
                b'C' => error.code = value,
                b'M' => error.message = value,
                b'D' => error.detail = Some(value),
                b'H' => error.hint = Some(value),
                _ => {}
            }
        }
        if error.severity.is_empty() {
            error.severity = localized_severity.unwrap_or_else(|| "ERROR".to_owned());
        }
        Ok(error)
    }

    /// Whether trying again later can succeed, judged by SQLSTATE class
    /// ("PostgreSQL Error Codes" appendix).
    pub fn is_retriable(&self) -> bool {
        sqlstate_is_retriable(&self.code)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (DETAIL: {detail})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (HINT: {hint})")?;
        }
        Ok(())
    }
}

/// Logs a NoticeResponse (a WARNING or NOTICE from the server) once.
pub(crate) fn log_notice(body: &NoticeResponseBody) {
    let mut severity = String::new();
    let mut message = String::new();
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        match field.type_() {
            b'V' => severity = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            _ => {}
        }
    }
    tracing::info!(%severity, "PostgreSQL says: {message}");
}

/// Transient conditions: the connection broke (08), the server is short of a
/// resource (53), it is shutting down or starting (57P01–57P03), an idle timeout
/// or cancel (57P05, 57014), a serialization conflict (40), or an object such as a
/// replication slot is in use by another process (55006).
pub(crate) fn sqlstate_is_retriable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("40")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P05" | "57014" | "55006"
        )
}

/// Every failure of the replication client and of slot and publication
/// management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicationError {
    #[error("invalid configuration: {property}: {reason}")]
    InvalidConfig {
        property: &'static str,
        reason: String,
    },

    #[error(
        "could not connect to PostgreSQL at {host}:{port}: {source}; \
         check that the server is running and accepts TCP connections there"
    )]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },

    #[error(
        "timed out after {timeout:?} connecting to PostgreSQL at {host}:{port}; \
         check host, port and firewalls, or raise the connect timeout"
    )]
    ConnectTimeout {
        host: String,
        port: u16,
        timeout: Duration,
    },

    #[error("connection to PostgreSQL lost: {0}; reconnecting resumes from the confirmed LSN")]
    Io(#[from] io::Error),

    #[error(
        "PostgreSQL sent nothing for {timeout:?}, not even a keepalive; the connection is \
         presumed dead and will be reopened"
    )]
    ReceiveTimeout { timeout: Duration },

    #[error(
        "the server at {host}:{port} does not accept SSL, but sslmode={sslmode} requires it; \
         enable ssl on the server or use sslmode=prefer or disable"
    )]
    SslNotSupported {
        host: String,
        port: u16,
        sslmode: SslMode,
    },

    #[error("could not use sslrootcert {path}: {reason}; check database.sslrootcert")]
    RootCertificate { path: PathBuf, reason: String },

    #[error(
        "the certificate of {host} was rejected ({reason}); check sslrootcert and that the \
         host name is in the certificate, or use sslmode=verify-ca or require"
    )]
    CertificateRejected { host: String, reason: String },

    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        host: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "authentication as {user:?} failed: {server}; check the user name and password and \
         the server's pg_hba.conf"
    )]
    AuthenticationFailed {
        user: String,
        server: Box<ServerError>,
    },

    #[error("the server wants a password for {user:?} but none is configured; set the password")]
    PasswordRequired { user: String },

    #[error(
        "the server asked for {method} authentication, which pgcdc does not support; \
         use scram-sha-256, md5, password or trust in pg_hba.conf"
    )]
    UnsupportedAuthentication { method: String },

    #[error(
        "role {role:?} may not use replication: it has neither REPLICATION nor SUPERUSER; \
         run ALTER ROLE \"{role}\" REPLICATION"
    )]
    MissingReplicationPrivilege { role: String },

    #[error(
        "wal_level is {found:?}, but logical replication needs wal_level = logical; run \
         ALTER SYSTEM SET wal_level = logical and restart PostgreSQL"
    )]
    WalLevelNotLogical { found: String },

    #[error(
        "replication slot {slot:?} is in use by another process (pid {}); stop the other \
         consumer or wait for it to exit; pgcdc retries",
        active_pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string())
    )]
    SlotInUse {
        slot: String,
        active_pid: Option<i32>,
    },

    #[error(
        "replication slot {slot:?} does not exist; let pgcdc create it or create it with \
         pg_create_logical_replication_slot('{slot}', 'pgoutput')"
    )]
    SlotNotFound { slot: String },

    #[error("replication slot {slot:?} already exists; reuse it or drop it first")]
    SlotAlreadyExists { slot: String },

    #[error("invalid replication slot name {name:?}: {reason}")]
    InvalidSlotName { name: String, reason: &'static str },

    #[error(
        "publication {publication:?} does not exist and publication.autocreate.mode is \
         disabled; create it (CREATE PUBLICATION ...) or choose all_tables or filtered"
    )]
    PublicationNotFound { publication: String },

    #[error("PostgreSQL reported: {0}")]
    Server(Box<ServerError>),

    #[error("SQL command failed: {0}")]
    Sql(#[from] tokio_postgres::Error),

    #[error("replication protocol violation: {0}; this is a pgcdc bug or an incompatible server")]
    Protocol(String),
}

impl ReplicationError {
    /// Whether reconnecting and trying again can succeed without anyone changing
    /// the server or the configuration.
    pub fn is_retriable(&self) -> bool {
        match self {
            ReplicationError::Connect { .. }
            | ReplicationError::ConnectTimeout { .. }
            | ReplicationError::Io(_)
            | ReplicationError::ReceiveTimeout { .. }
            | ReplicationError::Tls { .. }
            | ReplicationError::SlotInUse { .. } => true,
            ReplicationError::Server(error) => error.is_retriable(),
            ReplicationError::Sql(error) => match error.code() {
                Some(code) => sqlstate_is_retriable(code.code()),
                None => {
                    error.is_closed()
                        || std::error::Error::source(error).is_some_and(|s| s.is::<io::Error>())
                }
            },
            ReplicationError::InvalidConfig { .. }
            | ReplicationError::SslNotSupported { .. }
            | ReplicationError::RootCertificate { .. }
            | ReplicationError::CertificateRejected { .. }
            | ReplicationError::AuthenticationFailed { .. }
            | ReplicationError::PasswordRequired { .. }
            | ReplicationError::UnsupportedAuthentication { .. }
            | ReplicationError::MissingReplicationPrivilege { .. }
            | ReplicationError::WalLevelNotLogical { .. }
            | ReplicationError::SlotNotFound { .. }
            | ReplicationError::SlotAlreadyExists { .. }
            | ReplicationError::InvalidSlotName { .. }
            | ReplicationError::PublicationNotFound { .. }
            | ReplicationError::Protocol(_) => false,
        }
    }

    /// The SQLSTATE, when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            ReplicationError::Server(error) => Some(&error.code),
            ReplicationError::AuthenticationFailed { server, .. } => Some(&server.code),
            ReplicationError::Sql(error) => error.code().map(|code| code.code()),
            _ => None,
        }
    }

    pub(crate) fn protocol(what: impl Into<String>) -> Self {
        ReplicationError::Protocol(what.into())
    }
}

/// What was being done when the server answered with an error, so its SQLSTATE can
/// be turned into the variant that tells the user what to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorContext<'a> {
    Startup { user: &'a str },
    Slot { slot: &'a str },
    Other,
}

/// Turns a server error into the most specific variant. The message text is only
/// read to extract a value (a pid), never to decide the classification.
pub(crate) fn from_server(error: ServerError, context: ErrorContext<'_>) -> ReplicationError {
    match (error.code.as_str(), context) {
        // invalid_password, invalid_authorization_specification (no pg_hba entry)
        ("28P01" | "28000", ErrorContext::Startup { user }) => {
            ReplicationError::AuthenticationFailed {
                user: user.to_owned(),
                server: Box::new(error),
            }
        }
        // insufficient_privilege at startup of a walsender: "must be superuser or
        // replication role to start walsender" (15), "permission denied to start
        // WAL sender" (16+).
        ("42501", ErrorContext::Startup { user }) => {
            ReplicationError::MissingReplicationPrivilege {
                role: user.to_owned(),
            }
        }
        // object_in_use: 'replication slot "s" is active for PID 1234'
        ("55006", ErrorContext::Slot { slot }) => ReplicationError::SlotInUse {
            slot: slot.to_owned(),
            active_pid: trailing_pid(&error.message),
        },
        ("42704", ErrorContext::Slot { slot }) if error.message.contains("replication slot") => {
            ReplicationError::SlotNotFound {
                slot: slot.to_owned(),
            }
        }
        // undefined_object while decoding: 'publication "p" does not exist'
        ("42704", ErrorContext::Slot { .. }) if error.message.starts_with("publication") => {
            match quoted_name(&error.message) {
                Some(publication) => ReplicationError::PublicationNotFound { publication },
                None => ReplicationError::Server(Box::new(error)),
            }
        }
        ("42710", ErrorContext::Slot { slot }) => ReplicationError::SlotAlreadyExists {
            slot: slot.to_owned(),
        },
        // object_not_in_prerequisite_state: "logical decoding requires wal_level >=
        // logical"; the actual level is filled in by the caller when it can ask.
        ("55000", _) if error.message.contains("wal_level") => {
            ReplicationError::WalLevelNotLogical {
                found: "below logical".to_owned(),
            }
        }
        _ => ReplicationError::Server(Box::new(error)),
    }
}

/// The first double-quoted name in a message.
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    Some(message[start..end].to_owned())
}

/// The number after "PID" in a 55006 message.
fn trailing_pid(message: &str) -> Option<i32> {
    let after = &message[message.rfind("PID ")? + 4..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str, message: &str) -> ServerError {
        ServerError {
            severity: "ERROR".into(),
            code: code.into(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    #[test]
    fn slot_in_use_carries_the_pid() {
        let error = from_server(
            server("55006", "replication slot \"s1\" is active for PID 4321"),
            ErrorContext::Slot { slot: "s1" },
        );
        assert!(
            matches!(&error, ReplicationError::SlotInUse { slot, active_pid: Some(4321) } if slot == "s1"),
            "{error:?}"
        );
        assert!(error.is_retriable());
    }

    #[test]
    fn missing_publication_while_streaming_is_named() {
        let error = from_server(
            server("42704", "publication \"orders_pub\" does not exist"),
            ErrorContext::Slot { slot: "s" },
        );
        assert!(
            matches!(&error, ReplicationError::PublicationNotFound { publication } if publication == "orders_pub"),
            "{error:?}"
        );
        let error = from_server(
            server("42704", "replication slot \"s\" does not exist"),
            ErrorContext::Slot { slot: "s" },
        );
        assert!(
            matches!(error, ReplicationError::SlotNotFound { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn startup_errors_are_typed_and_fatal() {
        let auth = from_server(
            server("28P01", "password authentication failed for user \"x\""),
            ErrorContext::Startup { user: "x" },
        );
        assert!(matches!(
            auth,
            ReplicationError::AuthenticationFailed { .. }
        ));
        assert!(!auth.is_retriable());
        assert_eq!(auth.sqlstate(), Some("28P01"));
        let privilege = from_server(
            server("42501", "permission denied to start WAL sender"),
            ErrorContext::Startup { user: "x" },
        );
        assert!(matches!(
            privilege,
            ReplicationError::MissingReplicationPrivilege { .. }
        ));
        assert!(!privilege.is_retriable());
    }

    #[test]
    fn shutdown_and_resource_errors_are_retriable() {
        for code in ["57P01", "57P03", "53300", "08006", "40001"] {
            let error = from_server(server(code, "x"), ErrorContext::Other);
            assert!(error.is_retriable(), "{code}");
        }
        for code in ["42601", "XX000", "3D000"] {
            let error = from_server(server(code, "x"), ErrorContext::Other);
            assert!(!error.is_retriable(), "{code}");
        }
    }

    #[test]
    fn wal_level_message_maps_whatever_the_quoting() {
        for message in [
            "logical decoding requires wal_level >= logical",
            "logical decoding requires \"wal_level\" >= \"logical\"",
        ] {
            let error = from_server(server("55000", message), ErrorContext::Other);
            assert!(matches!(error, ReplicationError::WalLevelNotLogical { .. }));
        }
    }

    #[test]
    fn display_includes_detail_and_hint() {
        let mut error = server("42501", "denied");
        error.detail = Some("d".into());
        error.hint = Some("h".into());
        assert_eq!(
            error.to_string(),
            "ERROR 42501: denied (DETAIL: d) (HINT: h)"
        );
    }
}
