//! The accept loop: admits clients up to `listen.max_connections`, runs one session task per
//! client, and on shutdown stops accepting, lets sessions finish their work for the grace period
//! (idle sessions are closed at once), then closes the rest.

pub mod threads;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::metrics::proxy::{ConnectionOutcome, ProxyMetrics};
use crate::protocol::sqlstate;
use crate::session::cancel::CancelRegistry;
use crate::session::SessionContext;
use crate::stream::Stream;
use crate::upstream::UpstreamOptions;
use tls::ListenTls;

/// Stop levels sent to sessions: running, draining (close when idle), close now.
pub const STOP_RUNNING: u8 = 0;
pub const STOP_DRAIN: u8 = 1;
pub const STOP_NOW: u8 = 2;

/// After the grace period, how long closing sessions get to say goodbye before they are aborted.
const ABORT_AFTER: Duration = Duration::from_secs(5);

/// The client side of the proxy.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub address: String,
    pub tls: ListenTls,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
    pub max_frame_bytes: u32,
    /// Session threads (`listen.threads`), at least one.
    pub threads: usize,
}

/// Serves clients on `listener` until `shutdown` completes, then drains.
///
/// # Cancellation safety
/// Dropping the future aborts every session task.
pub async fn run(
    listener: TcpListener,
    opts: ListenerOptions,
    upstream: UpstreamOptions,
    metrics: ProxyMetrics,
    guard: Arc<crate::session::guard::Guard>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(STOP_RUNNING);
    let ctx = SessionContext {
        upstream,
        listen_tls: opts.tls.clone(),
        max_frame_bytes: opts.max_frame_bytes,
        metrics: metrics.clone(),
        cancels: CancelRegistry::default(),
        hard_stop: stop_rx,
        guard,
    };
    // Sessions run on threads of their own (see `threads`); should they fail to start, on this
    // runtime instead.
    let threads = match threads::SessionThreads::start(opts.threads) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start session threads; sessions share the main runtime");
            None
        }
    };
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: log, breathe, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let ctx = ctx.clone();
                let metrics = metrics.clone();
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        // The socket moves to the session's thread: it is registered with the
                        // runtime that polls it.
                        let handle = threads.as_ref().map_or_else(Handle::current, |t| t.pick());
                        let std_tcp = match tcp.into_std() {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(error = %e, %peer, "cannot hand the connection to a session thread");
                                continue;
                            }
                        };
                        sessions.spawn_on(async move {
                            let tcp = match tokio::net::TcpStream::from_std(std_tcp) {
                                Ok(t) => t,
                                Err(e) => {
                                    tracing::warn!(error = %e, %peer, "cannot register the connection on its session thread");
                                    return;
                                }
                            };
                            metrics.connections_active.inc();
                            crate::session::serve(tcp, peer, ctx).await;
                            metrics.connections_active.dec();
                            drop(permit);
                        }, &handle);
                    }
                    Err(_) => {
                        metrics.connection(ConnectionOutcome::Refused);
                        sessions.spawn(async move {
                            crate::session::refuse(
                                Stream::Plain(tcp),
                                sqlstate::TOO_MANY_CONNECTIONS,
                                "sorry, too many clients already (listen.max_connections)",
                                None,
                            )
                            .await;
                        });
                    }
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        sessions = sessions.len(),
        grace_secs = opts.shutdown_grace.as_secs(),
        "stopping: no new clients; draining sessions"
    );
    let _ = stop_tx.send(STOP_DRAIN);
    if tokio::time::timeout(opts.shutdown_grace, drain(&mut sessions))
        .await
        .is_err()
    {
        tracing::info!(
            sessions = sessions.len(),
            "grace period over: closing the remaining sessions"
        );
        let _ = stop_tx.send(STOP_NOW);
        if tokio::time::timeout(ABORT_AFTER, drain(&mut sessions))
            .await
            .is_err()
        {
            sessions.shutdown().await;
        }
    }
}

async fn drain(sessions: &mut JoinSet<()>) {
    while sessions.join_next().await.is_some() {}
}
