//! Opening a replication connection ("Message Flow: Start-up"): TCP, the
//! SSLRequest negotiation and TLS handshake, the StartupMessage with
//! `replication=database`, authentication, then ParameterStatus and
//! BackendKeyData until ReadyForQuery.

use std::collections::HashMap;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::auth::{authenticate, AuthMethod};
use super::config::{ReplicationConfig, SslMode};
use super::error::{from_server, ErrorContext, ReplicationError, ServerError};
use super::tls;
use super::wire::{Frame, Transport, Wire};

/// What the server told us while starting the session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// ParameterStatus values: `server_version`, `integer_datetimes`, ...
    pub parameters: HashMap<String, String>,
    pub backend_pid: i32,
    pub auth_method: AuthMethod,
}

/// Opens and authenticates a connection, all within `connect_timeout`.
pub(crate) async fn connect(
    config: &ReplicationConfig,
) -> Result<(Wire, Session), ReplicationError> {
    validate(config)?;
    match tokio::time::timeout(config.connect_timeout, establish(config)).await {
        Ok(result) => result,
        Err(_) => Err(ReplicationError::ConnectTimeout {
            host: config.host.clone(),
            port: config.port,
            timeout: config.connect_timeout,
        }),
    }
}

fn validate(config: &ReplicationConfig) -> Result<(), ReplicationError> {
    let missing = |property: &'static str| ReplicationError::InvalidConfig {
        property,
        reason: "must not be empty".to_owned(),
    };
    if config.host.is_empty() {
        return Err(missing("hostname"));
    }
    if config.user.is_empty() {
        return Err(missing("user"));
    }
    if config.dbname.is_empty() {
        return Err(missing("dbname"));
    }
    if config.status_interval.is_zero() {
        return Err(ReplicationError::InvalidConfig {
            property: "status.update.interval.ms",
            reason: "must be positive".to_owned(),
        });
    }
    if config.receive_timeout.is_some_and(|t| t.is_zero()) {
        return Err(ReplicationError::InvalidConfig {
            property: "receive_timeout",
            reason: "must be positive (or unset to wait forever)".to_owned(),
        });
    }
    // The protocol's strings are NUL-terminated: a NUL inside one cannot be sent.
    let texts = [
        ("user", config.user.as_str()),
        ("dbname", config.dbname.as_str()),
        ("password", config.password.expose()),
        ("application_name", config.application_name.as_str()),
    ];
    let runtime = config.runtime_parameters.iter().flat_map(|(name, value)| {
        [
            ("runtime parameter", name.as_str()),
            ("runtime parameter", value.as_str()),
        ]
    });
    if let Some((property, _)) = texts
        .into_iter()
        .chain(runtime)
        .find(|(_, text)| text.contains('\0'))
    {
        return Err(ReplicationError::InvalidConfig {
            property,
            reason: "contains a NUL character".to_owned(),
        });
    }
    Ok(())
}

async fn establish(config: &ReplicationConfig) -> Result<(Wire, Session), ReplicationError> {
    let (transport, channel_binding) = match config.sslmode {
        SslMode::Disable => (Transport::Plain(tcp_connect(config).await?), None),
        mode => {
            let tls_config = tls::client_config(mode, config.sslrootcert.as_deref())?;
            match negotiate_tls(tcp_connect(config).await?, config, tls_config).await {
                // libpq's `prefer` retries without TLS when the handshake fails.
                Err(ReplicationError::Tls { source, .. }) if mode == SslMode::Prefer => {
                    tracing::warn!(
                        host = %config.host,
                        error = %source,
                        "TLS handshake failed; sslmode=prefer continues unencrypted"
                    );
                    (Transport::Plain(tcp_connect(config).await?), None)
                }
                other => other?,
            }
        }
    };
    let mut wire = Wire::new(transport);
    send_startup_message(&mut wire, config)?;
    wire.flush().await?;
    let auth_method = authenticate(
        &mut wire,
        &config.user,
        config.password.expose(),
        channel_binding,
    )
    .await?;
    let session = await_ready(&mut wire, &config.user, auth_method).await?;
    tracing::debug!(
        host = %config.host,
        port = config.port,
        backend_pid = session.backend_pid,
        encrypted = wire.is_encrypted(),
        auth = ?auth_method,
        "replication connection ready"
    );
    Ok((wire, session))
}

async fn tcp_connect(config: &ReplicationConfig) -> Result<TcpStream, ReplicationError> {
    let stream = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|source| ReplicationError::Connect {
            host: config.host.clone(),
            port: config.port,
            source,
        })?;
    // Status updates are tiny and latency matters more than packet count.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// SSLRequest, a one-byte answer, then the TLS handshake on 'S'. Exactly one byte
/// is read before the handshake, so nothing a man in the middle appends to the
/// answer can be mistaken for encrypted data (CVE-2021-23222).
async fn negotiate_tls(
    mut tcp: TcpStream,
    config: &ReplicationConfig,
    tls_config: std::sync::Arc<rustls::ClientConfig>,
) -> Result<(Transport, Option<Vec<u8>>), ReplicationError> {
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    tcp.write_all(&request).await?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    match answer[0] {
        b'S' => {}
        b'N' if config.sslmode == SslMode::Prefer => return Ok((Transport::Plain(tcp), None)),
        b'N' => {
            return Err(ReplicationError::SslNotSupported {
                host: config.host.clone(),
                port: config.port,
                sslmode: config.sslmode,
            })
        }
        other => {
            return Err(ReplicationError::protocol(format!(
                "unexpected answer {:?} to SSLRequest",
                char::from(other)
            )))
        }
    }
    let server_name = tls::server_name(&config.host)?;
    let stream = TlsConnector::from(tls_config)
        .connect(server_name, tcp)
        .await
        .map_err(|source| tls_error(&config.host, source))?;
    let channel_binding = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| tls::tls_server_end_point(leaf));
    Ok((Transport::Tls(Box::new(stream)), channel_binding))
}

/// A rejected certificate is a configuration problem; anything else in the
/// handshake may be transient.
fn tls_error(host: &str, source: std::io::Error) -> ReplicationError {
    if let Some(rustls::Error::InvalidCertificate(reason)) = source
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return ReplicationError::CertificateRejected {
            host: host.to_owned(),
            reason: reason.to_string(),
        };
    }
    ReplicationError::Tls {
        host: host.to_owned(),
        source,
    }
}

/// `replication=database` makes the backend a walsender connected to `dbname`,
/// accepting replication commands and SQL. The formatting parameters are fixed
/// because the values layer parses text output in exactly these styles.
fn send_startup_message(
    wire: &mut Wire,
    config: &ReplicationConfig,
) -> Result<(), ReplicationError> {
    let fixed = [
        ("user", config.user.as_str()),
        ("database", config.dbname.as_str()),
        ("replication", "database"),
        ("application_name", config.application_name.as_str()),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO"),
        ("IntervalStyle", "postgres"),
        ("TimeZone", "UTC"),
        ("extra_float_digits", "3"),
    ];
    // The server applies parameters in order, so the fixed ones go last and win.
    let extra = config
        .runtime_parameters
        .iter()
        .filter(|(name, _)| {
            !fixed
                .iter()
                .any(|(fixed, _)| fixed.eq_ignore_ascii_case(name))
        })
        .map(|(name, value)| (name.as_str(), value.as_str()));
    frontend::startup_message(extra.chain(fixed.iter().copied()), wire.write_buf())?;
    Ok(())
}

async fn await_ready(
    wire: &mut Wire,
    user: &str,
    auth_method: AuthMethod,
) -> Result<Session, ReplicationError> {
    let mut session = Session {
        parameters: HashMap::new(),
        backend_pid: 0,
        auth_method,
    };
    loop {
        let Frame::Message(message) = wire.next_frame().await? else {
            return Err(ReplicationError::protocol(
                "CopyBothResponse during startup",
            ));
        };
        match message {
            Message::ParameterStatus(body) => {
                session
                    .parameters
                    .insert(body.name()?.to_owned(), body.value()?.to_owned());
            }
            Message::BackendKeyData(body) => session.backend_pid = body.process_id(),
            Message::NoticeResponse(body) => super::error::log_notice(&body),
            Message::ErrorResponse(body) => {
                // The walsender privilege check runs after authentication.
                return Err(from_server(
                    ServerError::parse(&body)?,
                    ErrorContext::Startup { user },
                ));
            }
            Message::ReadyForQuery(_) => return Ok(session),
            _ => {
                return Err(ReplicationError::protocol(
                    "unexpected message during startup",
                ))
            }
        }
    }
}
