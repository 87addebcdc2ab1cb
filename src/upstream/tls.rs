//! TLS on the upstream leg, per `upstream.tls.mode`: `disable`, `prefer` and `require` as libpq
//! means them (encrypt, do not verify the certificate), `verify-full` against a CA file and the
//! server name.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

/// What the upstream leg does with TLS.
#[derive(Clone)]
pub enum UpstreamTls {
    Disable,
    /// TLS if the server offers it; plaintext otherwise. No certificate check (as libpq's prefer).
    Prefer(Arc<ClientConfig>),
    /// TLS or fail; no certificate check (as libpq's require).
    Require(Arc<ClientConfig>),
    /// TLS with the certificate verified against the CA and `server_name`.
    VerifyFull(Arc<ClientConfig>, ServerName<'static>),
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UpstreamTls::Disable => "disable",
            UpstreamTls::Prefer(_) => "prefer",
            UpstreamTls::Require(_) => "require",
            UpstreamTls::VerifyFull(..) => "verify-full",
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that encrypts without verifying the server's certificate.
pub fn unverified_config() -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration that trusts the CA certificates in `ca`.
pub fn verified_config(ca: &Path) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("cannot read upstream CA file {}: {e}", ca.display()))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| format!("upstream CA file {} is not valid PEM: {e}", ca.display()))?;
        roots.add(cert).map_err(|e| {
            format!(
                "upstream CA file {} holds an unusable certificate: {e}",
                ca.display()
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "upstream CA file {} holds no certificate",
            ca.display()
        ));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any certificate but still checks the handshake signatures, as libpq's `require` does.
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
