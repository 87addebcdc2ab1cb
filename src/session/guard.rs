//! The statement side of a session: each statement's analysis (from the shared cache), its
//! resolution against the catalog snapshot, the policy's verdict for this login, and the trail's
//! `statement` record. `Guard` is what every session shares; `Inspector` is one session's view
//! (its login's roles, its snapshot, a small cache of verdicts by normalised text).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::RwLock;

use super::Identity;
use crate::catalog::{self, Catalog, Resolved, Snapshot};
use crate::metrics::policy::{Op, PolicyMetrics, StatementCounters};
use crate::policy::decide::{self, Refusal, Verdict};
use crate::policy::{Policy, RoleSet};
use crate::sql::{Analysis, AnalysisCache, CachedStatement};
use crate::trail::record::{self, Params, Prepared, RecordError, Statement, StatementTemplate};
use crate::trail::writer::{Parameters, TrailHandle};

/// Verdicts kept per session before the map is cleared (a session replaying the same few
/// statements, the common case, never reaches it).
const SESSION_VERDICTS: usize = 512;

/// What every session shares.
pub struct Guard {
    policy: RwLock<Arc<Policy>>,
    pub cache: AnalysisCache,
    pub catalog: Option<Catalog>,
    pub trail: Option<TrailHandle>,
    /// Key of the `hash` mask (the trail's hash key when there is a trail).
    pub hash_key: Arc<[u8; 32]>,
    pub metrics: PolicyMetrics,
    /// A scheduled catalog refresh is running (one at a time).
    refreshing: AtomicBool,
    /// Held while a restricted session's start checks (digest probe) and, if the catalog
    /// changed, reloads the snapshot, so a burst of logins loads it once. Objects created
    /// directly on the database (a function shadowing a built-in, a redefined view) are seen by
    /// every new restricted session.
    start_refresh: tokio::sync::Mutex<()>,
}

/// One statement, analysed, resolved and decided for one login.
pub struct Decided {
    pub analysis: Arc<Analysis>,
    pub resolved: Resolved,
    pub verdict: Verdict,
    pub touches_personal: bool,
    /// It names a view: a restricted session checks view definitions before running it
    /// ([`Inspector::check_views`]).
    pub reads_view: bool,
    pub op: Op,
    pub normalized_text: String,
    pub fingerprint: String,
    /// Its `statement` record less session and parameters, rendered at its first run (unless
    /// parameters are recorded in clear, which puts the SQL as sent into the record).
    record_template: OnceLock<Option<StatementTemplate>>,
    /// Its metric series for this login (see [`Inspector::count`]).
    counters: OnceLock<StatementCounters>,
}

/// What [`Inspector::check_views`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewCheck {
    /// The session's view definitions are current (or the statements read no view).
    Fresh,
    /// A view changed; the snapshot was reloaded: decide the statements again.
    Reloaded,
    /// A view changed and the catalog could not be reloaded: refuse (fail closed).
    Stale,
}

/// One session's side of the policy.
pub struct Inspector {
    guard: Arc<Guard>,
    policy: Arc<Policy>,
    pub roles: RoleSet,
    /// The trailmask role label of trail records and metrics.
    pub role: String,
    /// Some personal column is masked for this login: result plans, error scrubbing, and the
    /// masking rules apply.
    pub masked: bool,
    /// Some personal column is masked or denied: every statement is decided.
    pub restricted: bool,
    user: String,
    database: String,
    search_path: Vec<String>,
    snapshot: Arc<Snapshot>,
    verdicts: HashMap<String, Arc<Decided>>,
    pub session: u64,
}

// === impl Guard ===

impl Guard {
    pub fn new(
        policy: Policy,
        catalog: Option<Catalog>,
        trail: Option<TrailHandle>,
        hash_key: [u8; 32],
        metrics: PolicyMetrics,
    ) -> Guard {
        Guard {
            policy: RwLock::new(Arc::new(policy)),
            cache: AnalysisCache::default(),
            catalog,
            trail,
            hash_key: Arc::new(hash_key),
            metrics,
            refreshing: AtomicBool::new(false),
            start_refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The policy new sessions get.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read())
    }

    /// Installs a reloaded policy for sessions that start from now on.
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write() = Arc::new(policy);
    }
}

/// A snapshot with nothing in it: names resolve to nothing, so restricted logins are refused
/// whatever touches a table (fail closed) while the catalog cannot be read.
fn empty_snapshot(database: &str) -> Snapshot {
    Snapshot::new(database, Vec::new(), Vec::new(), Vec::new())
}

/// The `statements_total{op}` label of an analysis.
pub fn op_of(analysis: &Analysis) -> Op {
    match analysis.op {
        "SELECT" => Op::Select,
        "INSERT" => Op::Insert,
        "UPDATE" => Op::Update,
        "DELETE" => Op::Delete,
        "MERGE" => Op::Merge,
        "COPY" => Op::Copy,
        "BEGIN" | "START TRANSACTION" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "END"
        | "ABORT" => Op::Transaction,
        _ if analysis.is_ddl => Op::Ddl,
        _ => Op::Other,
    }
}

// === impl Inspector ===

impl Inspector {
    /// The login's view: its snapshot (loaded now if missing; empty when the catalog cannot be
    /// read) and its effective roles.
    pub async fn start(guard: Arc<Guard>, identity: &Identity) -> Inspector {
        let snapshot = match &guard.catalog {
            Some(c) => match c.current(&identity.database).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(database = %identity.database, error = %e, "cannot read the catalog; restricted logins are refused until it loads");
                    Arc::new(empty_snapshot(&identity.database))
                }
            },
            None => Arc::new(empty_snapshot(&identity.database)),
        };
        let policy = guard.policy();
        let mut roles = Self::roles_of(&policy, &snapshot, &identity.user);
        let mut snapshot = snapshot;
        if roles.has_masked() || roles.has_denied() {
            if let Some(c) = &guard.catalog {
                let _one = guard.start_refresh.lock().await;
                let current = c
                    .get(&identity.database)
                    .unwrap_or_else(|| Arc::clone(&snapshot));
                let fresh = if !c.changed_since(&current).await {
                    Ok(current)
                } else {
                    c.refresh(&identity.database).await
                };
                match fresh {
                    Ok(s) => {
                        roles = Self::roles_of(&policy, &s, &identity.user);
                        snapshot = s;
                    }
                    Err(e) => {
                        tracing::warn!(database = %identity.database, error = %e, "catalog refresh at session start failed; using the older snapshot")
                    }
                }
            }
        }
        let role = roles.label();
        let masked = roles.has_masked();
        let restricted = masked || roles.has_denied();
        Inspector {
            guard,
            policy,
            role,
            masked,
            restricted,
            roles,
            user: identity.user.clone(),
            database: identity.database.clone(),
            search_path: vec![identity.user.clone(), "public".to_owned()],
            snapshot,
            verdicts: HashMap::new(),
            session: identity.id.0,
        }
    }

    fn roles_of(policy: &Policy, snapshot: &Snapshot, user: &str) -> RoleSet {
        let mut pg_roles = snapshot.member_of(user);
        pg_roles.insert(user.to_owned());
        policy.role_set(pg_roles.iter().map(String::as_str))
    }

    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    pub fn trail(&self) -> Option<&TrailHandle> {
        self.guard.trail.as_ref()
    }

    /// Picks up a newer snapshot if one was installed, and starts a background refresh when the
    /// current one is older than `catalog.refresh_secs`.
    fn follow_catalog(&mut self) {
        let guard = Arc::clone(&self.guard);
        let Some(catalog) = &guard.catalog else {
            return;
        };
        if let Some(s) = catalog.get(&self.database) {
            if !Arc::ptr_eq(&s, &self.snapshot) {
                self.install(s);
            }
        }
        if catalog.is_stale(&self.database, Instant::now())
            && !self.guard.refreshing.swap(true, Ordering::AcqRel)
        {
            let guard = Arc::clone(&self.guard);
            let database = self.database.clone();
            tokio::spawn(async move {
                if let Some(c) = &guard.catalog {
                    if let Err(e) = c.refresh(&database).await {
                        tracing::warn!(database = %database, error = %e, "scheduled catalog refresh failed; keeping the old snapshot");
                    }
                }
                guard.refreshing.store(false, Ordering::Release);
            });
        }
    }

    fn install(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = snapshot;
        self.verdicts.clear();
    }

    /// Reloads the catalog now (after DDL went through), so the next statement sees the change.
    pub async fn refresh_catalog(&mut self) {
        let guard = Arc::clone(&self.guard);
        let Some(catalog) = &guard.catalog else {
            return;
        };
        // Boxed, like the probe in `check_views`: connecting and loading take a large future,
        // which would otherwise sit inside every statement's future (and be copied with it).
        match Box::pin(catalog.refresh(&self.database)).await {
            Ok(s) => self.install(s),
            Err(e) => {
                tracing::warn!(database = %self.database, error = %e, "catalog refresh after DDL failed")
            }
        }
    }

    /// Before a restricted session runs statements that read a view: checks that no view was
    /// redefined behind trailmask's back (a migration run directly on the database) since the
    /// session's snapshot, reloading the snapshot when one was. Unrestricted sessions and
    /// statements that read no view skip the probe (one small query on a kept connection).
    pub async fn check_views<'a>(
        &mut self,
        decided: impl IntoIterator<Item = &'a Decided>,
    ) -> ViewCheck {
        if !self.restricted {
            return ViewCheck::Fresh;
        }
        if !decided.into_iter().any(|d| d.reads_view) {
            return ViewCheck::Fresh;
        }
        let guard = Arc::clone(&self.guard);
        let Some(catalog) = &guard.catalog else {
            return ViewCheck::Fresh;
        };
        // Boxed: the probe and the reload are large futures, awaited only by restricted
        // sessions reading views; unboxed they would enlarge (and be copied with) the future
        // of every statement of every session.
        if !Box::pin(catalog.views_changed_since(&self.snapshot)).await {
            return ViewCheck::Fresh;
        }
        match Box::pin(catalog.refresh(&self.database)).await {
            Ok(s) => {
                self.install(s);
                ViewCheck::Reloaded
            }
            Err(e) => {
                tracing::warn!(database = %self.database, error = %e, "a view changed and the catalog cannot be reloaded; refusing statements that read views for restricted logins");
                ViewCheck::Stale
            }
        }
    }

    /// Splits a Query's text into statements and decides each. The raw text of each piece is
    /// returned beside it (the trail keeps it when `parameters = "clear"`).
    pub fn query(&mut self, sql: &str) -> Vec<(CachedStatement, Arc<Decided>, String)> {
        self.follow_catalog();
        crate::sql::split_statements(sql)
            .into_iter()
            .map(|r| {
                let text = sql.get(r).unwrap_or_default();
                let cs = self.guard.cache.analyze_statement(text);
                let d = self.decided(&cs);
                (cs, d, text.to_owned())
            })
            .collect()
    }

    /// Decides the text of one Parse message.
    pub fn parse(&mut self, sql: &str) -> (CachedStatement, Arc<Decided>) {
        self.follow_catalog();
        let cs = self.guard.cache.analyze_statement(sql);
        let d = self.decided(&cs);
        (cs, d)
    }

    fn decided(&mut self, cs: &CachedStatement) -> Arc<Decided> {
        if let Some(d) = self.verdicts.get(&cs.normalized.text) {
            return Arc::clone(d);
        }
        let analysis = Arc::clone(&cs.analysis);
        let resolved = catalog::resolve(&analysis, &self.snapshot, &self.search_path);
        let verdict = decide::decide(
            &self.policy,
            &self.roles,
            &analysis,
            &resolved,
            &self.snapshot,
            &self.search_path,
        );
        // Unparsed SQL (relayed under `policy.unparsed = "allow"`) may touch anything.
        let touches_personal =
            decide::touches_personal(&self.roles, &resolved) || analysis.is_opaque();
        let reads_view = resolved.tables_read.iter().any(|t| {
            self.snapshot
                .relation(t.oid)
                .is_some_and(|r| r.kind.is_view())
        });
        let d = Arc::new(Decided {
            reads_view,
            op: op_of(&analysis),
            analysis,
            resolved,
            verdict,
            touches_personal,
            normalized_text: cs.normalized.text.clone(),
            fingerprint: cs.normalized.fingerprint.to_string(),
            record_template: OnceLock::new(),
            counters: OnceLock::new(),
        });
        if self.verdicts.len() >= SESSION_VERDICTS {
            self.verdicts.clear();
        }
        self.verdicts
            .insert(cs.normalized.text.clone(), Arc::clone(&d));
        d
    }

    /// Counts a decided statement in `statements_total` / `denied_total`.
    pub fn count(&self, d: &Decided) {
        self.counters(d).count();
    }

    /// Counts `n` rows of `d`'s result in `rows_returned_total`, under each table it reads.
    pub fn count_rows(&self, d: &Decided, n: u64) {
        self.counters(d).rows_returned(n);
    }

    /// `d`'s metric series, resolved at its first run.
    fn counters<'d>(&self, d: &'d Decided) -> &'d StatementCounters {
        d.counters.get_or_init(|| {
            let refused_by = match &d.verdict {
                Verdict::Allow { .. } => None,
                Verdict::Deny(r) => Some(r.rule),
            };
            let tables: Vec<String> = d
                .resolved
                .tables_read
                .iter()
                .map(|t| t.qualified())
                .collect();
            self.guard.metrics.statement_counters(
                &self.role,
                d.op,
                refused_by,
                tables.iter().map(String::as_str),
            )
        })
    }

    /// The `statement` record of `d`, rendered. `raw` is the statement as sent; `params` its
    /// literals or bind values, rendered per `audit.parameters` ([`Inspector::param`]).
    /// `refusal` overrides the verdict (a Query refused whole because of another statement).
    /// The members that are the same at every run come from `d`'s template.
    pub fn statement_record(
        &self,
        d: &Decided,
        raw: &str,
        params: &Params,
        refusal: Option<&Refusal>,
    ) -> Result<Prepared, RecordError> {
        let clear = self
            .trail()
            .is_some_and(|t| t.parameters() == Parameters::Clear);
        if refusal.is_none() && !clear {
            let cached = d
                .record_template
                .get_or_init(|| StatementTemplate::new(&self.statement_body(d, None, None)).ok());
            if let Some(template) = cached {
                return Ok(template.render(self.session, params));
            }
        }
        let sql_as_sent = clear.then_some(raw);
        let template = StatementTemplate::new(&self.statement_body(d, sql_as_sent, refusal))?;
        Ok(template.render(self.session, params))
    }

    /// The `statement` record of `d` without its parameters (see [`Inspector::statement_record`]):
    /// its `sql` is `sql_as_sent` (parameters recorded in clear) or else the normalised text.
    fn statement_body(
        &self,
        d: &Decided,
        sql_as_sent: Option<&str>,
        refusal: Option<&Refusal>,
    ) -> Statement {
        let sql = sql_as_sent.map_or_else(|| d.normalized_text.clone(), str::to_owned);
        let tables = dedup(
            d.resolved
                .tables_read
                .iter()
                .map(|t| t.qualified())
                .chain(d.resolved.writes.iter().map(|w| w.table.qualified())),
        );
        let columns_read = dedup(d.resolved.columns_read().into_iter().map(|c| c.qualified()));
        let columns_written = dedup(
            d.resolved
                .writes
                .iter()
                .flat_map(|w| w.columns.iter().map(|c| c.qualified())),
        );
        let (masked, decision) = match (refusal, &d.verdict) {
            (Some(r), _) | (None, Verdict::Deny(r)) => (
                Vec::new(),
                record::Decision::Deny {
                    rule: r.rule.to_owned(),
                },
            ),
            (None, Verdict::Allow { masked }) => (masked.clone(), record::Decision::Allow),
        };
        Statement {
            session: self.session,
            op: d.analysis.op.to_owned(),
            sql,
            params: Vec::new(),
            fingerprint: d.fingerprint.clone(),
            tables,
            columns_read,
            columns_written,
            masked,
            decision,
        }
    }

    /// Adds one parameter or literal to `params`, rendered per `audit.parameters`.
    pub fn param(&self, params: &mut Params, value: Option<&[u8]>, binary: bool) {
        let Some(trail) = self.trail() else {
            return;
        };
        let Some(v) = value else {
            params.push_null();
            return;
        };
        match trail.parameters() {
            Parameters::Clear if binary => {
                params.push_str(&format!("\\x{}", record::hex_encode(v)));
            }
            Parameters::Clear => params.push_str(&String::from_utf8_lossy(v)),
            Parameters::Hashed | Parameters::None => params.push_keyed_hash(trail.hash_key(), v),
        }
    }

    /// Whether parameters are recorded at all.
    pub fn records_params(&self) -> bool {
        self.trail()
            .is_some_and(|t| t.parameters() != Parameters::None)
    }

    /// The field of a result that holds a personal table's `subject_key` (the first one), so
    /// the `result` record can say whose data was returned.
    pub fn subject_field(&self, fields: &[crate::session::rewrite::FieldInfo]) -> Option<usize> {
        self.trail()?;
        fields.iter().position(|f| {
            let Some(rel) = self.snapshot.relation(f.table_oid) else {
                return false;
            };
            let Some(col) = usize::try_from(f.column.0)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| rel.columns.get(i))
            else {
                return false;
            };
            crate::policy::TableName::new(&rel.schema, &rel.name)
                .ok()
                .and_then(|t| self.policy.personal_table(&t))
                .and_then(|t| t.subject_key.as_deref())
                == Some(col.name.as_str())
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn database(&self) -> &str {
        &self.database
    }
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v.dedup();
    v
}
