//! `trailmask proxy --config FILE`: runs the proxy until SIGINT/SIGTERM, then drains sessions.
//! SIGHUP re-reads and validates the file and logs every problem.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::catalog::Catalog;
use crate::config::{self, Config};
use crate::error::{Error, Kind, Result, Source};
use crate::metrics::policy::PolicyMetrics;
use crate::metrics::proxy::ProxyMetrics;
use crate::metrics::trail::TrailMetrics;
use crate::metrics::Probes;
use crate::policy::Policy;
use crate::session::guard::Guard;
use crate::trail::record::{Body, ConfigRecord};
use crate::trail::writer::{Trail, TrailHandle};
use crate::upstream::UpstreamOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path of the TOML configuration file.
    #[arg(long)]
    pub config: PathBuf,
}

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
        let (reload_tx, reload_rx) = tokio::sync::mpsc::unbounded_channel();
        let shutdown = stop_signal(path, reload_tx)?;
        serve(config, shutdown, reload_rx, |_| {}).await
    })?;
    Ok(0)
}

/// The `config` record: the policy's hash and its role x column matrix.
fn config_record(policy: &Policy) -> Body {
    Body::Config(ConfigRecord {
        policy_hash: policy.hash().to_hex().to_string(),
        policy: serde_json::to_value(policy.matrix()).unwrap_or(serde_json::Value::Null),
    })
}

/// Appends the `config` record of `policy`.
async fn record_policy(trail: &TrailHandle, policy: &Policy) -> Result<()> {
    trail.append(config_record(policy)).await.map_err(|e| {
        Error::new(
            Kind::Trail,
            Source::Trail,
            format!("writing the config record: {e}"),
        )
    })?;
    Ok(())
}

/// Binds both addresses and serves until `shutdown` completes. `on_bound` learns the actual
/// client and metrics addresses (useful with port 0).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()>,
    mut reloads: tokio::sync::mpsc::UnboundedReceiver<Policy>,
    on_bound: impl FnOnce(Bound),
) -> Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = ProxyMetrics::register(&registry)
        .map_err(|e| Error::internal(format!("registering metrics: {e}")))?;
    let policy = config.policy;
    let columns: Vec<String> = policy
        .personal_columns()
        .map(|(c, _)| c.to_string())
        .collect();
    let policy_metrics = PolicyMetrics::register(
        &registry,
        &policy.role_names(),
        &columns,
        crate::policy::decide::RULES,
    )
    .map_err(|e| Error::internal(format!("registering metrics: {e}")))?;
    let trail: Option<Trail> = match config.audit {
        Some(opts) => {
            let trail_metrics = TrailMetrics::register(&registry);
            let trail = tokio::task::spawn_blocking(move || {
                crate::trail::writer::start(opts, trail_metrics)
            })
            .await
            .map_err(|e| Error::internal(format!("starting the trail writer: {e}")))??;
            Some(trail)
        }
        None => {
            tracing::warn!("no [audit] section: trailmask runs without a trail");
            None
        }
    };
    let handle = trail.as_ref().map(Trail::handle);
    if let Some(h) = &handle {
        record_policy(h, &policy).await?;
    }
    let hash_key = match &handle {
        Some(h) => h.hash_key().bytes(),
        None => {
            let mut k = [0u8; 32];
            getrandom::fill(&mut k)
                .map_err(|e| Error::internal(format!("random hash key: {e}")))?;
            k
        }
    };
    let upstream = config.upstream.clone();
    let catalog = config.catalog.map(|mut c| {
        c.upstream = Some(upstream);
        Catalog::new(c, config.upstream.address.clone())
    });
    if let Some(c) = &catalog {
        check_references(c, &policy).await?;
    }
    if catalog.is_none() && policy.tables().values().next().is_some() {
        tracing::warn!("no [catalog] section: logins with masked columns are refused every statement that names a table");
    }
    let guard = Arc::new(Guard::new(
        policy,
        catalog,
        handle.clone(),
        hash_key,
        policy_metrics,
    ));
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
        trail: handle.clone(),
    });
    let reload_guard = Arc::clone(&guard);
    let reloader = tokio::spawn(async move {
        while let Some(policy) = reloads.recv().await {
            if let Some(t) = &reload_guard.trail {
                if let Err(e) = record_policy(t, &policy).await {
                    tracing::error!(error = %e, "SIGHUP: the new policy could not be recorded; keeping the old one");
                    continue;
                }
            }
            reload_guard.set_policy(policy);
            tracing::info!("SIGHUP: new policy in force for sessions that start from now on");
        }
    });
    let (metrics_stop_tx, metrics_stop_rx) = watch::channel(false);
    let metrics_server = tokio::spawn(crate::metrics::server::serve(
        metrics_listener,
        registry,
        probes,
        metrics_stop_rx,
    ));
    crate::listener::run(
        listener,
        config.listen,
        config.upstream,
        metrics,
        Arc::clone(&guard),
        shutdown,
    )
    .await;
    reloader.abort();
    let _ = metrics_stop_tx.send(true);
    let _ = metrics_server.await;
    drop(guard);
    if let Some(trail) = trail {
        match tokio::task::spawn_blocking(move || trail.shutdown()).await {
            Ok(Ok(())) => tracing::info!("trail sealed"),
            Ok(Err(e)) => tracing::error!(error = %e, "sealing the trail failed"),
            Err(e) => tracing::error!(error = %e, "sealing the trail failed"),
        }
    }
    tracing::info!("trailmask stopped");
    Ok(())
}

/// Checks every `[personal_data]` table, column and `subject_key` against the catalog of
/// `catalog.database` (default: the catalog login's own database), listing every one that does
/// not exist. A catalog that cannot be read now is only a warning: sessions fail closed until it
/// loads.
async fn check_references(catalog: &Catalog, policy: &Policy) -> Result<()> {
    let database = catalog
        .options()
        .database
        .clone()
        .unwrap_or_else(|| catalog.options().user.clone());
    let snapshot = match catalog.current(&database).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(database = %database, error = %e, "cannot read the catalog at start; [personal_data] names are not checked yet");
            return Ok(());
        }
    };
    let mut problems = Vec::new();
    for (table, t) in policy.tables() {
        let Some(rel) = snapshot.by_name(table.schema(), table.name()) else {
            problems.push(format!(
                "[personal_data.\"{table}\"] names a table that database {database:?} does not have"
            ));
            continue;
        };
        if let Some((schema, name)) = &rel.root {
            problems.push(format!(
                "[personal_data.\"{table}\"] names a partition (or inheritance child) of {schema}.{name}; declare {schema}.{name} instead: its partitions follow it"
            ));
            continue;
        }
        for column in t.columns.keys().chain(t.subject_key.iter()) {
            if rel.column(column).is_none() {
                problems.push(format!(
                    "[personal_data.\"{table}\"] names column {column:?}, which {table} does not have in database {database:?}"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::config(format!(
            "the configuration names what the database lacks:\n  {}",
            problems.join("\n  ")
        )))
    }
}

/// The addresses actually bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub proxy: std::net::SocketAddr,
    pub metrics: std::net::SocketAddr,
}

struct ProxyProbes {
    upstream: UpstreamOptions,
    trail: Option<TrailHandle>,
}

impl Probes for ProxyProbes {
    async fn ready(&self) -> std::result::Result<(), String> {
        if let Some(t) = &self.trail {
            if !t.is_writable() {
                return Err("the audit trail cannot be written".to_owned());
            }
        }
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
        self.trail.as_ref().and_then(TrailHandle::latest_checkpoint)
    }
}

/// Completes on SIGINT or SIGTERM. SIGHUP re-validates `path`, logs the outcome and sends a valid
/// policy to `reloads` (the rest of the file needs a restart to change).
fn stop_signal(
    path: PathBuf,
    reloads: tokio::sync::mpsc::UnboundedSender<Policy>,
) -> Result<impl Future<Output = ()>> {
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
                _ = hup.recv() => {
                    if let Some(policy) = reload(&path) {
                        let _ = reloads.send(policy);
                    }
                }
            }
        }
    })
}

fn reload(path: &Path) -> Option<Policy> {
    match config::load(path) {
        Ok(c) => {
            tracing::info!(file = %path.display(), "SIGHUP: configuration is valid");
            Some(c.policy)
        }
        Err(e) => {
            tracing::error!(file = %path.display(), problems = %e, "SIGHUP: configuration rejected; keeping the old one");
            None
        }
    }
}
