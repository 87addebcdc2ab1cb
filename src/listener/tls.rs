//! TLS on the client leg: the rustls acceptor built from `[listen.tls]` PEM files. The session
//! answers SSLRequest ('S' or 'N') and detects a PG17 direct-TLS start; this file only builds
//! the configuration, announcing ALPN `postgresql` as PostgreSQL 17 does.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The ALPN protocol id PostgreSQL registers; required for direct TLS.
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// What the listener does with TLS.
#[derive(Clone)]
pub enum ListenTls {
    /// Answer SSLRequest with 'N'.
    Disable,
    /// TLS when the client asks for it.
    Allow(Arc<ServerConfig>),
    /// Refuse plaintext clients with FATAL 28000.
    Require(Arc<ServerConfig>),
}

impl ListenTls {
    pub fn server_config(&self) -> Option<&Arc<ServerConfig>> {
        match self {
            ListenTls::Disable => None,
            ListenTls::Allow(c) | ListenTls::Require(c) => Some(c),
        }
    }

    pub fn required(&self) -> bool {
        match self {
            ListenTls::Require(_) => true,
            ListenTls::Disable | ListenTls::Allow(_) => false,
        }
    }
}

impl std::fmt::Debug for ListenTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ListenTls::Disable => "disable",
            ListenTls::Allow(_) => "allow",
            ListenTls::Require(_) => "require",
        })
    }
}

/// Builds the server configuration from a PEM certificate chain and private key, or one
/// sentence saying which file is at fault.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate file {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "TLS certificate file {} is not valid PEM: {e}",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate file {} holds no certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "TLS certificate {} does not match its key: {e}",
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Arc::new(config))
}
