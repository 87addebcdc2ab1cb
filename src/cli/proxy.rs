//! `trailmask proxy --config FILE`: runs the proxy until SIGINT/SIGTERM, then drains sessions.
//! SIGHUP re-reads and validates the file and logs every problem.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{self, Config};
use crate::error::{Error, Kind, Result, Source};
use crate::metrics::proxy::ProxyMetrics;
use crate::metrics::Probes;
use crate::upstream::UpstreamOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path of the TOML configuration file.
    #[arg(long)]
    pub config: PathBuf,
}

/// Statement kinds whose duration series exist from the start.
const OPS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "COPY", "DDL", "OTHER",
];

pub fn run(args: Args) -> Result<u8> {
    let config = config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trailmask")
        .build()
        .map_err(|e| {
            Error::new(Kind::Io, Source::Internal, "starting the runtime").with_cause(e)
        })?;
    let path = args.config.clone();
    runtime.block_on(async move {
        let shutdown = stop_signal(path)?;
        serve(config, shutdown, |_| {}).await
    })?;
    Ok(0)
}

/// Binds both addresses and serves until `shutdown` completes. `on_bound` learns the actual
/// client and metrics addresses (useful with port 0).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()>,
    on_bound: impl FnOnce(Bound),
) -> Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = ProxyMetrics::register(&registry, OPS)
        .map_err(|e| Error::internal(format!("registering metrics: {e}")))?;
    let listener = TcpListener::bind(&config.listen.address)
        .await
        .map_err(|e| {
            Error::new(
                Kind::Io,
                Source::Client,
                format!(
                    "cannot listen on listen.address = {:?}",
                    config.listen.address
                ),
            )
            .with_cause(e)
        })?;
    let metrics_listener = TcpListener::bind(&config.metrics_address)
        .await
        .map_err(|e| {
            Error::new(
                Kind::Io,
                Source::Client,
                format!(
                    "cannot listen on metrics.address = {:?}",
                    config.metrics_address
                ),
            )
            .with_cause(e)
        })?;
    let bound = Bound {
        proxy: listener
            .local_addr()
            .map_err(|e| Error::new(Kind::Io, Source::Internal, "local address").with_cause(e))?,
        metrics: metrics_listener
            .local_addr()
            .map_err(|e| Error::new(Kind::Io, Source::Internal, "local address").with_cause(e))?,
    };
    tracing::info!(proxy = %bound.proxy, metrics = %bound.metrics, upstream = %config.upstream.address, "trailmask listening");
    on_bound(bound);
    let probes = Arc::new(ProxyProbes {
        upstream: config.upstream.clone(),
    });
    let (metrics_stop_tx, metrics_stop_rx) = watch::channel(false);
    let metrics_server = tokio::spawn(crate::metrics::server::serve(
        metrics_listener,
        registry,
        probes,
        metrics_stop_rx,
    ));
    crate::listener::run(listener, config.listen, config.upstream, metrics, shutdown).await;
    let _ = metrics_stop_tx.send(true);
    let _ = metrics_server.await;
    tracing::info!("trailmask stopped");
    Ok(())
}

/// The addresses actually bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub proxy: std::net::SocketAddr,
    pub metrics: std::net::SocketAddr,
}

struct ProxyProbes {
    upstream: UpstreamOptions,
}

impl Probes for ProxyProbes {
    async fn ready(&self) -> std::result::Result<(), String> {
        if crate::upstream::probe(&self.upstream).await {
            Ok(())
        } else {
            Err(format!(
                "the database at {} does not answer",
                self.upstream.address
            ))
        }
    }

    fn latest_checkpoint(&self) -> Option<String> {
        None
    }
}

/// Completes on SIGINT or SIGTERM. SIGHUP re-validates `path` and logs the outcome.
fn stop_signal(path: PathBuf) -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let err =
        |e| Error::new(Kind::Io, Source::Internal, "installing signal handlers").with_cause(e);
    let mut term = signal(SignalKind::terminate()).map_err(err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(err)?;
    let mut hup = signal(SignalKind::hangup()).map_err(err)?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return; }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); return; }
                _ = hup.recv() => reload(&path),
            }
        }
    })
}

fn reload(path: &Path) {
    match config::load(path) {
        Ok(_) => tracing::info!(file = %path.display(), "SIGHUP: configuration is valid"),
        Err(e) => {
            tracing::error!(file = %path.display(), problems = %e, "SIGHUP: configuration rejected; keeping the old one")
        }
    }
}
