//! The authentication exchange that follows the StartupMessage ("Message Flow:
//! Start-up" and "SASL Authentication" in the protocol docs): trust, cleartext
//! password, MD5 and SCRAM-SHA-256, with tls-server-end-point channel binding
//! (SCRAM-SHA-256-PLUS) when the connection is encrypted and the server offers it.

use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{
    ChannelBinding, ScramSha256, SCRAM_SHA_256, SCRAM_SHA_256_PLUS,
};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::error::{from_server, ErrorContext, ReplicationError, ServerError};
use super::wire::{Frame, Wire};

/// How the server authenticated us, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No password was asked for.
    Trust,
    Cleartext,
    Md5,
    ScramSha256,
    /// SCRAM bound to the TLS channel: proves the server holds the password
    /// verifier *and* the certificate's key.
    ScramSha256Plus,
}

/// Runs authentication until AuthenticationOk. `channel_binding` is the
/// tls-server-end-point hash when the connection is encrypted.
pub(crate) async fn authenticate(
    wire: &mut Wire,
    user: &str,
    password: &str,
    mut channel_binding: Option<Vec<u8>>,
) -> Result<AuthMethod, ReplicationError> {
    let context = ErrorContext::Startup { user };
    let need_password = || {
        if password.is_empty() {
            Err(ReplicationError::PasswordRequired {
                user: user.to_owned(),
            })
        } else {
            Ok(())
        }
    };
    let mut method = AuthMethod::Trust;
    let mut scram: Option<ScramSha256> = None;
    loop {
        let message = match wire.next_frame().await? {
            Frame::Message(message) => message,
            Frame::CopyBothResponse => {
                return Err(ReplicationError::protocol(
                    "CopyBothResponse during authentication",
                ))
            }
        };
        match message {
            Message::AuthenticationOk => return Ok(method),
            Message::AuthenticationCleartextPassword => {
                need_password()?;
                method = AuthMethod::Cleartext;
                frontend::password_message(password.as_bytes(), wire.write_buf())?;
            }
            Message::AuthenticationMd5Password(body) => {
                need_password()?;
                method = AuthMethod::Md5;
                let hash = md5_hash(user.as_bytes(), password.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), wire.write_buf())?;
            }
            Message::AuthenticationSasl(body) => {
                need_password()?;
                let mut offers_scram = false;
                let mut offers_plus = false;
                let mut mechanisms = body.mechanisms();
                while let Some(mechanism) = mechanisms.next()? {
                    offers_scram |= mechanism == SCRAM_SHA_256;
                    offers_plus |= mechanism == SCRAM_SHA_256_PLUS;
                }
                // The GS2 header tells the server what we could do: "p" when we
                // bind, "y" when we could but the server offered no PLUS (so a
                // stripped offer is detected), "n" when we cannot.
                let (binding, mechanism) = match (offers_plus, channel_binding.take()) {
                    (true, Some(hash)) => {
                        method = AuthMethod::ScramSha256Plus;
                        (
                            ChannelBinding::tls_server_end_point(hash),
                            SCRAM_SHA_256_PLUS,
                        )
                    }
                    (true, None) => (ChannelBinding::unsupported(), SCRAM_SHA_256),
                    (false, Some(_)) if offers_scram => {
                        (ChannelBinding::unrequested(), SCRAM_SHA_256)
                    }
                    (false, None) if offers_scram => (ChannelBinding::unsupported(), SCRAM_SHA_256),
                    (false, _) => {
                        return Err(ReplicationError::UnsupportedAuthentication {
                            method: "a SASL mechanism other than SCRAM-SHA-256".to_owned(),
                        })
                    }
                };
                if method != AuthMethod::ScramSha256Plus {
                    method = AuthMethod::ScramSha256;
                }
                let exchange = ScramSha256::new(password.as_bytes(), binding);
                frontend::sasl_initial_response(mechanism, exchange.message(), wire.write_buf())?;
                scram = Some(exchange);
            }
            Message::AuthenticationSaslContinue(body) => {
                let exchange = scram.as_mut().ok_or_else(|| {
                    ReplicationError::protocol("SASLContinue before SASL was started")
                })?;
                exchange.update(body.data()).map_err(|e| {
                    ReplicationError::protocol(format!("invalid SCRAM server message: {e}"))
                })?;
                frontend::sasl_response(exchange.message(), wire.write_buf())?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let exchange = scram.as_mut().ok_or_else(|| {
                    ReplicationError::protocol("SASLFinal before SASL was started")
                })?;
                // Verifies the server signature: a server that does not know the
                // password cannot complete this step.
                exchange.finish(body.data()).map_err(|e| {
                    ReplicationError::protocol(format!(
                        "the server's SCRAM signature is invalid: {e}"
                    ))
                })?;
                continue;
            }
            Message::AuthenticationKerberosV5 => return Err(unsupported("Kerberos V5")),
            Message::AuthenticationScmCredential => return Err(unsupported("SCM credential")),
            Message::AuthenticationGss | Message::AuthenticationGssContinue(_) => {
                return Err(unsupported("GSSAPI"))
            }
            Message::AuthenticationSspi => return Err(unsupported("SSPI")),
            Message::ErrorResponse(body) => {
                return Err(from_server(ServerError::parse(&body)?, context));
            }
            Message::NoticeResponse(_) => continue,
            _ => {
                return Err(ReplicationError::protocol(
                    "unexpected message during authentication",
                ))
            }
        }
        wire.flush().await?;
    }
}

fn unsupported(method: &str) -> ReplicationError {
    ReplicationError::UnsupportedAuthentication {
        method: method.to_owned(),
    }
}
