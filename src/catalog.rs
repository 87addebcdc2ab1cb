//! A snapshot of pg_catalog for one database: relations with their OIDs and columns, view
//! definitions mapped to base columns, and role membership closed over pg_auth_members. Name
//! resolution ([`resolve()`]) maps an [`Analysis`](crate::sql::Analysis) onto that snapshot:
//! every column use and output column to `schema.table.column` with table OID and attnum.
//!
//! The snapshot types and resolution are pure (no I/O) so `policy` can use them and tests can
//! build snapshots by hand; only [`load()`] talks to PostgreSQL (tokio-postgres, trailmask's own
//! catalog login from `[catalog]`). The proxy keeps one snapshot per database in a [`Catalog`]
//! and refreshes it every `refresh_secs` and after DDL.

mod error;
pub mod load;
pub mod resolve;
pub mod snapshot;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

pub use error::Error;
pub use load::load;
pub use resolve::{
    resolve, ColumnRef, Resolved, ResolvedLineage, ResolvedOutput, ResolvedUse, ResolvedWholeRow,
    ResolvedWrite, TableRef,
};
pub use snapshot::{AttNum, Column, RelKind, Relation, RoleOid, Snapshot, TableOid, TypeOid};

/// Validated `[catalog]` options.
#[derive(Clone)]
pub struct CatalogOptions {
    /// trailmask's own login for reading pg_catalog.
    pub user: String,
    /// That login's password, read at start from the variable named by `password_env`.
    pub password: Secret,
    /// The variable the password came from (named in messages, never the value).
    pub password_env: String,
    /// Database to connect to when none is given; `None`: the login name.
    pub database: Option<String>,
    /// Time between scheduled refreshes (at least one second).
    pub refresh: Duration,
    /// How the proxy reaches the database (`[upstream]`): when its `tls.mode` is not `disable`,
    /// the catalog login opens its connection the same way (TLS, certificate check, connect
    /// timeout), so a database that accepts only TLS connections serves the catalog too.
    /// `None`: plain TCP to the address given to the loader.
    pub upstream: Option<crate::upstream::UpstreamOptions>,
}

impl fmt::Debug for CatalogOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogOptions")
            .field("user", &self.user)
            .field("password", &self.password)
            .field("password_env", &self.password_env)
            .field("database", &self.database)
            .field("refresh", &self.refresh)
            .field("upstream", &self.upstream)
            .finish()
    }
}

/// A password that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// The proxy's catalog: the newest snapshot per database, swapped whole on refresh, so a
/// statement sees one consistent snapshot. A `parking_lot::RwLock` guards only the map of
/// `Arc`s (a clone under the lock); loading happens outside it.
pub struct Catalog {
    opts: CatalogOptions,
    upstream: String,
    snapshots: RwLock<HashMap<String, Arc<Snapshot>>>,
    /// One kept connection per database for digest probes (a fresh login per probe would cost
    /// more than the probe).
    probes: tokio::sync::Mutex<HashMap<String, Arc<tokio_postgres::Client>>>,
}

// === impl Catalog ===

impl Catalog {
    /// `upstream` is the database's `host:port` (or a socket directory path and port).
    pub fn new(opts: CatalogOptions, upstream: impl Into<String>) -> Self {
        Catalog {
            opts,
            upstream: upstream.into(),
            snapshots: RwLock::new(HashMap::new()),
            probes: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The current snapshot of `database`, if one was loaded.
    pub fn get(&self, database: &str) -> Option<Arc<Snapshot>> {
        self.snapshots.read().get(database).cloned()
    }

    /// Whether `database` has no snapshot or one older than `refresh_secs` at `now`.
    pub fn is_stale(&self, database: &str, now: Instant) -> bool {
        match self.get(database) {
            Some(s) => now.saturating_duration_since(s.loaded_at) >= self.opts.refresh,
            None => true,
        }
    }

    /// Installs a snapshot (used by [`Catalog::refresh`] and by tests).
    pub fn install(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let s = Arc::new(snapshot);
        self.snapshots
            .write()
            .insert(s.database.clone(), Arc::clone(&s));
        s
    }

    /// Loads `database`'s catalog now and installs it; on failure the old snapshot stays.
    ///
    /// # Cancellation safety
    /// Cancel-safe: the snapshot is installed only after the load completes.
    pub async fn refresh(&self, database: &str) -> Result<Arc<Snapshot>, Error> {
        let snapshot = load(&self.opts, &self.upstream, database).await?;
        Ok(self.install(snapshot))
    }

    /// Returns the current snapshot, loading it first if missing or stale.
    ///
    /// # Cancellation safety
    /// Cancel-safe, as [`Catalog::refresh`].
    pub async fn current(&self, database: &str) -> Result<Arc<Snapshot>, Error> {
        if !self.is_stale(database, Instant::now()) {
            if let Some(s) = self.get(database) {
                return Ok(s);
            }
        }
        self.refresh(database).await
    }

    /// Whether the catalog of `snapshot.database` changed since `snapshot` was loaded (one
    /// small query on a kept connection). Errors count as changed.
    pub async fn changed_since(&self, snapshot: &Snapshot) -> bool {
        self.probe(&snapshot.database, load::DIGEST_SQL)
            .await
            .is_none_or(|d| d != snapshot.digest)
    }

    /// Whether any view definition of `snapshot.database` changed since `snapshot` was loaded
    /// (a cheaper probe than [`Catalog::changed_since`]). Errors count as changed.
    pub async fn views_changed_since(&self, snapshot: &Snapshot) -> bool {
        self.probe(&snapshot.database, load::VIEWS_DIGEST_SQL)
            .await
            .is_none_or(|d| d != snapshot.views_digest)
    }

    /// Asks a digest query (`load::DIGEST_SQL` or `load::VIEWS_DIGEST_SQL`) on the database's
    /// kept connection (reconnecting once); None on failure.
    /// The lock covers only finding the connection, so sessions' probes run side by side.
    async fn probe(&self, db: &str, sql: &str) -> Option<String> {
        for attempt in 0..2 {
            let client = {
                let mut probes = self.probes.lock().await;
                match probes.get(db).filter(|c| !c.is_closed()) {
                    Some(c) => Arc::clone(c),
                    None => match load::connect(&self.opts, &self.upstream, db).await {
                        Ok(c) => {
                            let c = Arc::new(c);
                            probes.insert(db.to_owned(), Arc::clone(&c));
                            c
                        }
                        Err(e) => {
                            tracing::warn!(database = %db, error = %e, "catalog probe cannot connect");
                            return None;
                        }
                    },
                }
            };
            match load::probe(&client, db, sql).await {
                Ok(d) => return Some(d),
                Err(e) if attempt == 0 => {
                    tracing::debug!(database = %db, error = %e, "catalog probe failed; reconnecting");
                    let mut probes = self.probes.lock().await;
                    if probes.get(db).is_some_and(|c| Arc::ptr_eq(c, &client)) {
                        probes.remove(db);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    pub fn options(&self) -> &CatalogOptions {
        &self.opts
    }
}
