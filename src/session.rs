//! One task per client connection. `serve` takes an accepted socket through the opening
//! (TLS, cancel, StartupMessage: `startup`), opens the upstream leg, relays authentication so the
//! database stays the judge of passwords, and then runs the relay loop (`run`) until either side
//! ends. Frames pass through as the bytes they arrived as; only the message types a rule acts on
//! are decoded.

mod auth;
pub mod cancel;
pub mod extended;
pub mod guard;
mod outbox;
pub mod rewrite;
mod run;
mod splice;
mod startup;
pub mod state;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::listener::tls::ListenTls;
use crate::metrics::proxy::{ConnectionOutcome, ProxyMetrics};
use crate::protocol::encode::{self, Severity};
use crate::protocol::sqlstate::{self, SqlState};
use crate::stream::Stream;
use crate::upstream::UpstreamOptions;
use cancel::CancelRegistry;

/// PostgreSQL's own `authentication_timeout` default: a client that never finishes its opening
/// holds a slot at most this long.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What every session shares: options, metrics, the cancel registry and the stop signal.
#[derive(Clone)]
pub struct SessionContext {
    pub upstream: UpstreamOptions,
    pub listen_tls: ListenTls,
    /// Largest message accepted from either side.
    pub max_frame_bytes: u32,
    pub metrics: ProxyMetrics,
    pub cancels: CancelRegistry,
    /// The stop level (`listener::STOP_*`): draining closes idle sessions, `STOP_NOW` all.
    pub hard_stop: watch::Receiver<u8>,
    /// Policy, analysis cache, catalog and trail, shared by every session.
    pub guard: std::sync::Arc<guard::Guard>,
}

/// A session id, unique within this process run; the trail pairs it with the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u64);

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

impl SessionId {
    fn next() -> SessionId {
        SessionId(NEXT_SESSION.fetch_add(1, Ordering::Relaxed))
    }
}

/// Who the session is, known once the StartupMessage arrived.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: SessionId,
    pub client: SocketAddr,
    pub user: String,
    pub database: String,
    pub application: String,
    pub tls: bool,
}

/// Serves one client connection to its end. Never panics on input; every way out is logged.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, ctx: SessionContext) {
    let id = SessionId::next();
    let span = tracing::info_span!("session", id = id.0, client = %peer);
    // The span is entered around everything but the relay loop's pass-through (see
    // `run::run`): entering a span on every poll cost ~10% of the proxy's user time at pgbench
    // rates.
    let ctx = &ctx;
    let opening = async move {
        let _ = tcp.set_nodelay(true);
        let opening = tokio::time::timeout(STARTUP_TIMEOUT, startup::open(tcp, ctx)).await;
        let opening = match opening {
            Ok(Ok(o)) => o,
            Ok(Err(why)) => {
                tracing::info!(reason = %why, "client refused during startup");
                ctx.metrics.connection(ConnectionOutcome::Refused);
                return None;
            }
            Err(_) => {
                tracing::info!("client did not finish its startup in time");
                ctx.metrics.connection(ConnectionOutcome::Refused);
                return None;
            }
        };
        match opening {
            startup::Opening::Cancel { pid, secret } => {
                ctx.metrics.connection(ConnectionOutcome::Cancel);
                if let Some(key) = ctx.cancels.lookup(pid, secret) {
                    if let Err(e) =
                        crate::upstream::send_cancel(&ctx.upstream, key.pid, key.secret).await
                    {
                        tracing::warn!(error = %e, "forwarding a cancel request failed");
                    }
                }
                None
            }
            startup::Opening::Session(opened) => {
                let identity = Identity {
                    id,
                    client: peer,
                    user: opened.params.get_lossy("user").unwrap_or_default(),
                    database: opened
                        .params
                        .get_lossy("database")
                        .or_else(|| opened.params.get_lossy("user"))
                        .unwrap_or_default(),
                    application: opened
                        .params
                        .get_lossy("application_name")
                        .unwrap_or_default(),
                    tls: opened.client.is_tls(),
                };
                Some((opened, identity))
            }
        }
    };
    let opened = tracing::Instrument::instrument(opening, span.clone()).await;
    if let Some((opened, identity)) = opened {
        run::run(opened, identity, ctx, span).await;
    }
}

/// Sends one FATAL ErrorResponse and closes the socket. Best effort: the client may be gone.
///
/// # Cancellation safety
/// Dropping it drops the socket, which is what it was going to do anyway.
pub(crate) async fn refuse(mut stream: Stream, code: SqlState, message: &str, hint: Option<&str>) {
    let mut buf = BytesMut::new();
    encode::error_response(&mut buf, Severity::Fatal, code, message, hint);
    let _ = stream.write_all(&buf).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// The FATAL sent for a malformed frame from either side.
pub(crate) fn protocol_violation(buf: &mut BytesMut, what: &str) {
    encode::error_response(
        buf,
        Severity::Fatal,
        sqlstate::PROTOCOL_VIOLATION,
        what,
        None,
    );
}
