//! The link to PostgreSQL: one connection per client session (no pooling), TCP with a connect
//! timeout, then TLS per `[upstream].tls`. Also forwards cancel requests. Authentication itself
//! is relayed by the session; this module only opens the channel.

pub mod tls;

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::encode;
use crate::stream::Stream;
use tls::UpstreamTls;

/// Where and how to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// `host:port` as configured (also used in error messages).
    pub address: String,
    pub tls: UpstreamTls,
    pub connect_timeout: Duration,
}

/// Why the upstream leg could not be opened. Every variant names the address.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("could not connect to the database at {address}: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("could not connect to the database at {address}: timed out after {ms} ms")]
    Timeout { address: String, ms: u128 },
    #[error("the database at {address} refused TLS, which upstream.tls.mode requires")]
    TlsRefused { address: String },
    #[error("TLS handshake with the database at {address} failed: {source}")]
    Tls {
        address: String,
        source: std::io::Error,
    },
    #[error("the database at {address} answered the TLS request with an unexpected byte")]
    BadSslResponse { address: String },
}

/// Opens the upstream leg: TCP, then TLS per mode. Bounded by `connect_timeout` as a whole.
///
/// # Cancellation safety
/// Dropping the future drops the half-open socket; nothing else is left behind.
pub async fn connect(opts: &UpstreamOptions) -> Result<Stream, ConnectError> {
    let ms = opts.connect_timeout.as_millis();
    match tokio::time::timeout(opts.connect_timeout, connect_inner(opts)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout {
            address: opts.address.clone(),
            ms,
        }),
    }
}

async fn connect_inner(opts: &UpstreamOptions) -> Result<Stream, ConnectError> {
    let address = || opts.address.clone();
    let tcp = TcpStream::connect(&opts.address)
        .await
        .map_err(|source| ConnectError::Io {
            address: address(),
            source,
        })?;
    // Statements are small and latency-bound: never wait for Nagle.
    tcp.set_nodelay(true).map_err(|source| ConnectError::Io {
        address: address(),
        source,
    })?;
    let (config, name, must) = match &opts.tls {
        UpstreamTls::Disable => return Ok(Stream::Plain(tcp)),
        UpstreamTls::Prefer(c) => (c.clone(), server_name(&opts.address), false),
        UpstreamTls::Require(c) => (c.clone(), server_name(&opts.address), true),
        UpstreamTls::VerifyFull(c, name) => (c.clone(), name.clone(), true),
    };
    let mut tcp = tcp;
    let mut req = BytesMut::with_capacity(8);
    encode::ssl_request(&mut req);
    tcp.write_all(&req)
        .await
        .map_err(|source| ConnectError::Io {
            address: address(),
            source,
        })?;
    let answer = tcp.read_u8().await.map_err(|source| ConnectError::Io {
        address: address(),
        source,
    })?;
    match answer {
        b'S' => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|source| ConnectError::Tls {
                    address: address(),
                    source,
                })?;
            Ok(Stream::ClientTls(Box::new(tls)))
        }
        b'N' if !must => Ok(Stream::Plain(tcp)),
        b'N' => Err(ConnectError::TlsRefused { address: address() }),
        _ => Err(ConnectError::BadSslResponse { address: address() }),
    }
}

/// The TLS server name for `host:port` when no certificate is checked (any valid name will do).
fn server_name(address: &str) -> rustls::pki_types::ServerName<'static> {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap_or(
        rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
    )
}

/// Forwards a cancel request for the upstream backend `pid`/`secret` on a fresh connection, as
/// PostgreSQL expects. Errors are only logged by the caller: a cancel is best effort.
///
/// # Cancellation safety
/// Dropping the future abandons the cancel; nothing else is left behind.
pub async fn send_cancel(
    opts: &UpstreamOptions,
    pid: i32,
    secret: i32,
) -> Result<(), ConnectError> {
    let mut stream = connect(opts).await?;
    let mut msg = BytesMut::with_capacity(16);
    encode::cancel_request(&mut msg, pid, secret);
    stream
        .write_all(&msg)
        .await
        .map_err(|source| ConnectError::Io {
            address: opts.address.clone(),
            source,
        })?;
    let _ = stream.flush().await;
    // PostgreSQL closes the connection after reading the request; wait for that, briefly.
    let mut sink = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut sink)).await;
    Ok(())
}

/// Whether the database accepts TCP connections right now.
pub async fn probe(opts: &UpstreamOptions) -> bool {
    let limit = opts.connect_timeout.min(Duration::from_secs(2));
    matches!(
        tokio::time::timeout(limit, TcpStream::connect(&opts.address)).await,
        Ok(Ok(_))
    )
}
