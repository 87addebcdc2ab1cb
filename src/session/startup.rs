//! The client's opening: SSLRequest / GSSENCRequest answers, the TLS handshake (negotiated, or
//! PG17 direct TLS recognised by its first byte), CancelRequest, and the StartupMessage.

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::SessionContext;
use crate::listener::tls::ALPN_POSTGRESQL;
use crate::protocol::sqlstate;
use crate::protocol::startup::{Startup, StartupParams, TLS_HANDSHAKE_BYTE};
use crate::stream::Stream;

/// What the client opened with.
pub enum Opening {
    Session(Opened),
    Cancel { pid: i32, secret: i32 },
}

/// A client that sent its StartupMessage.
pub struct Opened {
    pub client: Stream,
    /// The StartupMessage exactly as received, forwarded upstream unchanged.
    pub startup: Bytes,
    pub params: StartupParams,
}

/// Reads the opening. `Err` is a reason for the log; the client has been answered already.
///
/// # Cancellation safety
/// Dropping the future drops the socket.
pub async fn open(tcp: TcpStream, ctx: &SessionContext) -> Result<Opening, String> {
    let mut first = [0u8; 1];
    let n = tcp
        .peek(&mut first)
        .await
        .map_err(|e| format!("reading the first byte: {e}"))?;
    if n == 0 {
        return Err("client closed before its startup message".into());
    }
    let mut stream = if first[0] == TLS_HANDSHAKE_BYTE {
        let Some(config) = ctx.listen_tls.server_config() else {
            return Err("direct TLS start, but TLS is disabled in listen.tls.mode".into());
        };
        let tls = tokio_rustls::TlsAcceptor::from(config.clone())
            .accept(tcp)
            .await
            .map_err(|e| format!("direct TLS handshake failed: {e}"))?;
        if tls.get_ref().1.alpn_protocol() != Some(ALPN_POSTGRESQL) {
            return Err("direct TLS start without ALPN \"postgresql\"".into());
        }
        Stream::ServerTls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    let mut buf = BytesMut::with_capacity(512);
    loop {
        let msg = read_startup(&mut stream, &mut buf).await?;
        match msg {
            Startup::SslRequest => {
                if stream.is_tls() {
                    return refuse(stream, "SSLRequest received on a TLS connection").await;
                }
                let config = ctx.listen_tls.server_config().cloned();
                let answer = if config.is_some() { b'S' } else { b'N' };
                if !buf.is_empty() {
                    // Bytes sent ahead of the handshake would be read as if encrypted (CVE-2021-23222).
                    return refuse(stream, "unencrypted data after SSLRequest").await;
                }
                stream
                    .write_all(&[answer])
                    .await
                    .map_err(|e| format!("answering SSLRequest: {e}"))?;
                if let Some(config) = config {
                    stream = match stream {
                        Stream::Plain(tcp) => {
                            let tls = tokio_rustls::TlsAcceptor::from(config)
                                .accept(tcp)
                                .await
                                .map_err(|e| format!("TLS handshake failed: {e}"))?;
                            Stream::ServerTls(Box::new(tls))
                        }
                        already @ (Stream::ServerTls(_) | Stream::ClientTls(_)) => already,
                    };
                }
            }
            Startup::GssEncRequest => {
                if !buf.is_empty() {
                    return refuse(stream, "unencrypted data after GSSENCRequest").await;
                }
                stream
                    .write_all(b"N")
                    .await
                    .map_err(|e| format!("answering GSSENCRequest: {e}"))?;
            }
            Startup::Cancel { pid, secret } => return Ok(Opening::Cancel { pid, secret }),
            Startup::Startup { bytes, params } => {
                if ctx.listen_tls.required() && !stream.is_tls() {
                    super::refuse(
                        stream,
                        sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                        "TLS is required by this trailmask proxy (listen.tls.mode = \"require\")",
                        Some("Connect with sslmode=require."),
                    )
                    .await;
                    return Err("plaintext client refused: TLS is required".into());
                }
                if !buf.is_empty() {
                    return refuse(
                        stream,
                        "data after the startup message before authentication",
                    )
                    .await;
                }
                return Ok(Opening::Session(Opened {
                    client: stream,
                    startup: bytes,
                    params,
                }));
            }
        }
    }
}

/// Reads one untagged opening message.
async fn read_startup(stream: &mut Stream, buf: &mut BytesMut) -> Result<Startup, String> {
    loop {
        match Startup::split(buf) {
            Ok(Some(msg)) => return Ok(msg),
            Ok(None) => {}
            Err(e) => {
                let mut out = BytesMut::new();
                super::protocol_violation(&mut out, &e.to_string());
                let _ = stream.write_all(&out).await;
                return Err(format!("bad startup packet: {e}"));
            }
        }
        let n = std::future::poll_fn(|cx| stream.poll_read_buf(cx, buf, 1024))
            .await
            .map_err(|e| format!("reading the startup packet: {e}"))?;
        if n == 0 {
            return Err("client closed during startup".into());
        }
    }
}

/// Answers a protocol violation during the opening with FATAL 08P01.
async fn refuse<T>(stream: Stream, why: &str) -> Result<T, String> {
    super::refuse(stream, sqlstate::PROTOCOL_VIOLATION, why, None).await;
    Err(why.to_owned())
}
