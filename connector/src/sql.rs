//! Ordinary SQL connections to the source database (catalog reads, snapshots,
//! publication management, the heartbeat action query), opened with the same
//! settings as the replication connection: TLS per `sslmode` with the same
//! certificate checks, password, application name and timeout.

use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::replication::{tls, ReplicationConfig, ReplicationError, SslMode};

/// Opens a connection and drives it on a task of its own; the connection closes when
/// the returned client is dropped.
pub async fn connect(config: &ReplicationConfig) -> Result<Client, ReplicationError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .dbname(&config.dbname)
        .application_name(&config.application_name)
        .connect_timeout(config.connect_timeout)
        .ssl_mode(match config.sslmode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            // The certificate checks of verify-ca and verify-full live in the rustls
            // configuration; tokio-postgres only needs to insist on TLS.
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
    if !config.password.is_empty() {
        pg.password(config.password.expose());
    }
    let tls = MakeRustlsConnect::new(
        (*tls::client_config(config.sslmode, config.sslrootcert.as_deref())?).clone(),
    );
    let (client, connection) = pg.connect(tls).await.map_err(|e| {
        ReplicationError::Io(std::io::Error::other(format!(
            "connecting to {}:{} as {}: {e}",
            config.host, config.port, config.user
        )))
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "SQL connection closed");
        }
    });
    Ok(client)
}
