//! TLS per `sslmode`, with rustls, and the `tls-server-end-point` channel binding
//! data for SCRAM-SHA-256-PLUS.
//!
//! libpq's meanings: `prefer` and `require` encrypt but accept any certificate
//! (the handshake signature is still checked, so the peer holds the key of the
//! certificate it sent); `verify-ca` checks the chain against the root
//! certificates but not the host name; `verify-full` checks both, matching IP
//! hosts against IP SANs.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::config::SslMode;
use super::error::ReplicationError;

/// The ALPN name PostgreSQL 17+ expects; older servers ignore it.
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for a mode that uses TLS.
pub(crate) fn client_config(
    sslmode: SslMode,
    sslrootcert: Option<&Path>,
) -> Result<Arc<ClientConfig>, ReplicationError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ReplicationError::InvalidConfig {
            property: "sslmode",
            reason: format!("TLS setup failed: {e}"),
        })?;
    let mut config = match sslmode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                provider: Arc::clone(&provider),
            }))
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let roots = Arc::new(root_store(sslrootcert)?);
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly {
                    roots,
                    provider: Arc::clone(&provider),
                }))
                .with_no_client_auth()
        }
        SslMode::VerifyFull => {
            let roots = Arc::new(root_store(sslrootcert)?);
            let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| ReplicationError::InvalidConfig {
                    property: "sslrootcert",
                    reason: e.to_string(),
                })?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Arc::new(config))
}

/// The server name to verify and to send as SNI. An IP address verifies against
/// the certificate's IP SANs.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, ReplicationError> {
    ServerName::try_from(host.to_owned()).map_err(|e| ReplicationError::InvalidConfig {
        property: "hostname",
        reason: format!("{host:?} is neither a DNS name nor an IP address: {e}"),
    })
}

/// The roots from `sslrootcert`, or the public web PKI when none is given.
fn root_store(sslrootcert: Option<&Path>) -> Result<RootCertStore, ReplicationError> {
    let mut roots = RootCertStore::empty();
    let Some(path) = sslrootcert else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let failed = |reason: String| ReplicationError::RootCertificate {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(|e| failed(e.to_string()))?;
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        let cert = cert.map_err(|e| failed(e.to_string()))?;
        roots.add(cert).map_err(|e| failed(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(failed("it holds no PEM certificate".to_owned()));
    }
    Ok(roots)
}

/// `sslmode=require`: any certificate, but a valid handshake signature by it.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name is not
/// checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// RFC 5929 `tls-server-end-point`: the hash of the server's certificate, with the
/// hash of its signature algorithm, SHA-256 when that is MD5 or SHA-1. `None` for
/// algorithms without a single hash (Ed25519, RSA-PSS), where PostgreSQL cannot
/// bind either; plain SCRAM-SHA-256 is used then.
pub(crate) fn tls_server_end_point(certificate_der: &[u8]) -> Option<Vec<u8>> {
    let algorithm = match signature_algorithm_oid(certificate_der)? {
        // sha256WithRSAEncryption, ecdsa-with-SHA256, and the MD5/SHA-1 ones the
        // RFC upgrades to SHA-256
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04 | 0x05 | 0x0b]
        | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01]
        | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02] => &ring::digest::SHA256,
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c]
        | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03] => &ring::digest::SHA384,
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d]
        | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04] => &ring::digest::SHA512,
        _ => return None,
    };
    Some(
        ring::digest::digest(algorithm, certificate_der)
            .as_ref()
            .to_vec(),
    )
}

/// The OID of `Certificate.signatureAlgorithm`: the DER is
/// SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, .. }, .. }.
fn signature_algorithm_oid(der: &[u8]) -> Option<&[u8]> {
    let (tag, certificate, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, after_tbs) = der_element(certificate)?;
    let (tag, algorithm, _) = der_element(after_tbs)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_element(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// Splits one DER element off `input`: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let len = rest[..octets]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[octets..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_signature_algorithm_of_a_certificate() {
        // SEQUENCE { SEQUENCE {} (tbs), SEQUENCE { OID sha256WithRSAEncryption, NULL }, BIT STRING }
        let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        let mut algorithm = vec![0x06, oid.len() as u8];
        algorithm.extend_from_slice(&oid);
        algorithm.extend_from_slice(&[0x05, 0x00]);
        let mut body = vec![0x30, 0x00, 0x30, algorithm.len() as u8];
        body.extend_from_slice(&algorithm);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut der = vec![0x30, body.len() as u8];
        der.extend_from_slice(&body);
        assert_eq!(signature_algorithm_oid(&der), Some(&oid[..]));
        assert_eq!(tls_server_end_point(&der).map(|h| h.len()), Some(32));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(signature_algorithm_oid(&[]), None);
        assert_eq!(signature_algorithm_oid(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(signature_algorithm_oid(&[0x30, 0x02, 0x30, 0x00]), None);
        assert_eq!(tls_server_end_point(&[0x04, 0x00]), None);
    }

    #[test]
    fn missing_root_file_is_a_clear_error() {
        let error = client_config(
            SslMode::VerifyFull,
            Some(Path::new("/nonexistent/root.crt")),
        )
        .unwrap_err();
        assert!(
            matches!(error, ReplicationError::RootCertificate { .. }),
            "{error}"
        );
    }
}
