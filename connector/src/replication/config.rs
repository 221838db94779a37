//! Where and how to open a replication connection. Field names follow libpq and
//! Debezium (`sslmode`, `sslrootcert`, `application_name`), so a Debezium
//! `database.*` property maps onto exactly one field.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A password or other credential. `Debug` and `Display` never show it, so a config
/// can be logged whole.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// libpq's `sslmode`, with libpq's meaning for each value.
///
/// `require` encrypts without verifying the server certificate, as libpq and pgjdbc
/// (which Debezium uses) do; `verify-ca` checks the chain but not the host name;
/// `verify-full` checks both. With no `sslrootcert`, the verifying modes trust the
/// public web PKI roots (libpq's `sslrootcert=system`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SslMode {
    Disable,
    /// Try TLS; fall back to an unencrypted connection when the server refuses it.
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the supported `sslmode` values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sslmode {0:?}: expected disable, prefer, require, verify-ca or verify-full")]
pub struct ParseSslModeError(pub String);

impl FromStr for SslMode {
    type Err = ParseSslModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" | "verify_ca" => Ok(SslMode::VerifyCa),
            "verify-full" | "verify_full" => Ok(SslMode::VerifyFull),
            _ => Err(ParseSslModeError(s.to_owned())),
        }
    }
}

/// Everything needed to open a logical replication connection and keep its stream
/// healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Empty when the server needs none (trust).
    pub password: Secret,
    pub dbname: String,
    pub sslmode: SslMode,
    /// PEM file of the CA certificates that sign the server certificate.
    pub sslrootcert: Option<PathBuf>,
    /// Shown in `pg_stat_activity` and `pg_stat_replication`.
    pub application_name: String,
    /// Bounds the whole connection attempt: TCP, TLS, authentication and startup.
    pub connect_timeout: Duration,
    /// How often a standby status update is sent while streaming, whatever else
    /// happens (Debezium's `status.update.interval.ms`, PostgreSQL's
    /// `wal_receiver_status_interval`). Must stay well below the server's
    /// `wal_sender_timeout` (60 s by default).
    pub status_interval: Duration,
    /// The stream fails (retriably) when nothing at all arrives for this long; after
    /// half of it a status update asks the server for a reply, as PostgreSQL's own
    /// `wal_receiver_timeout` does. `None` waits forever.
    pub receive_timeout: Option<Duration>,
    /// More run-time parameters for the StartupMessage, e.g. `("wal_sender_timeout",
    /// "30s")` (settable per connection since PostgreSQL 12). They cannot override
    /// the connection's identity or the output formats pgcdc relies on.
    pub runtime_parameters: Vec<(String, String)>,
}

impl ReplicationConfig {
    /// A config with libpq's defaults for everything but the four essentials.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        dbname: impl Into<String>,
    ) -> Self {
        ReplicationConfig {
            host: host.into(),
            port,
            user: user.into(),
            password: Secret::default(),
            dbname: dbname.into(),
            sslmode: SslMode::default(),
            sslrootcert: None,
            application_name: "pgcdc".to_owned(),
            connect_timeout: Duration::from_secs(30),
            status_interval: Duration::from_secs(10),
            receive_timeout: Some(Duration::from_secs(60)),
            runtime_parameters: Vec::new(),
        }
    }

    pub fn with_password(mut self, password: impl Into<Secret>) -> Self {
        self.password = password.into();
        self
    }

    pub fn with_sslmode(mut self, sslmode: SslMode) -> Self {
        self.sslmode = sslmode;
        self
    }

    pub fn with_sslrootcert(mut self, path: impl Into<PathBuf>) -> Self {
        self.sslrootcert = Some(path.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let config = ReplicationConfig::new("h", 5432, "u", "d").with_password("hunter2");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("****"));
        assert_eq!(config.password.expose(), "hunter2");
    }

    #[test]
    fn sslmode_round_trips_libpq_names() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(mode.as_str().parse::<SslMode>(), Ok(mode));
        }
        assert!("allow".parse::<SslMode>().is_err());
    }
}
