//! The per-statement masking decision (SPEC.md, "Masking — what must hold"). Pure: no I/O.
//!
//! [`decide`] takes one statement's [`Analysis`], its names resolved against the catalog
//! ([`Resolved`]) and the login's effective [`RoleSet`], and either allows it (listing the masked
//! columns it reads, for the trail) or refuses it with a [`Refusal`] naming the rule and the
//! column. [`field_action`] decides, per result field, whether its bytes pass, are masked or are
//! redacted, from the RowDescription origin first and the statement's output lineage second.
//!
//! The rules, for a role that sees some personal column masked: a masked column may appear only
//! bare in rows going to the client, or in a condition as `policy.masked_predicates` allows;
//! every other use, every whole-row reference to a table with masked columns, and everything
//! trailmask cannot see through (unparsed SQL, `DO`, functions outside `pg_catalog`, built-ins
//! that run SQL given as text or read out of band, catalog views exposing data) is refused.
//! So are statements that define or attach code PostgreSQL runs implicitly later (functions,
//! triggers, rules, operators …, and column defaults or checks calling functions outside
//! `pg_catalog`) and `COPY` to or from server files or programs. An unqualified function name
//! is checked against every schema, not the session's idea of the search_path, which the
//! client can change behind trailmask's back. A `deny` column may not be used at all, by any
//! role.
//!
//! A role with denied columns but none masked is held to the same "cannot see through" rules:
//! a statement trailmask cannot read could use the denied column, and SPEC.md refuses any use.
//! Applying frames is `session::rewrite`'s job; counting refusals is `metrics`'.

use std::fmt;

use super::roles::{ColumnAccess, RoleSet};
use super::{MaskedPredicates, Policy, TableName, Unparsed};
use crate::catalog::snapshot::{AttNum, Snapshot, TableOid};
use crate::catalog::{ColumnRef, Resolved, ResolvedLineage, TableRef};
use crate::mask::FieldAction;
use crate::sql::{Analysis, FunctionName, UseContext};

#[cfg(test)]
mod tests;

/// Any use of a `deny` column: read, compared, computed on, written, or in a whole row.
pub const RULE_DENY_COLUMN: &str = "deny_column";
/// SQL the analyser cannot read, with `policy.unparsed = "deny"`.
pub const RULE_UNPARSED: &str = "unparsed";
/// A `DO` block: its body is opaque.
pub const RULE_DO_BLOCK: &str = "do_block";
/// A function outside `pg_catalog` not listed in `policy.trusted_functions`.
pub const RULE_UNTRUSTED_FUNCTION: &str = "untrusted_function";
/// A built-in that runs SQL given as text or reads data out of band.
pub const RULE_OUT_OF_BAND_FUNCTION: &str = "out_of_band_function";
/// A catalog view exposing column statistics or other sessions' SQL.
pub const RULE_CATALOG_VIEW: &str = "catalog_view";
/// Names trailmask cannot resolve, in a statement that may touch personal data.
pub const RULE_UNRESOLVED: &str = "unresolved";
/// A masked column in a condition `policy.masked_predicates` does not allow.
pub const RULE_MASKED_PREDICATE: &str = "masked_predicate";
/// A masked column in ORDER BY, GROUP BY, DISTINCT ON, a window clause or FILTER.
pub const RULE_MASKED_ORDER: &str = "masked_order";
/// A masked column inside a function call, cast, operator, CASE, aggregate or window.
pub const RULE_MASKED_EXPRESSION: &str = "masked_expression";
/// A masked column in data written elsewhere.
pub const RULE_MASKED_WRITE: &str = "masked_write";
/// A masked column as an argument to something with side effects.
pub const RULE_MASKED_SIDE_EFFECT: &str = "masked_side_effect";
/// A whole-row reference to a table with masked columns.
pub const RULE_WHOLE_ROW: &str = "whole_row";
/// A statement that creates, replaces or attaches code PostgreSQL runs implicitly later
/// (functions, triggers, rules, operators …; column defaults and checks calling functions
/// outside `pg_catalog`): its body is opaque and may run on any row.
pub const RULE_CODE_DEFINITION: &str = "code_definition";
/// `COPY` to or from a file on the database server or a program it runs.
pub const RULE_SERVER_FILE: &str = "server_file";
/// A statement reading a view after a view was redefined on the database and the catalog
/// could not be reloaded to learn how (trailmask no longer knows what the view exposes).
pub const RULE_STALE_CATALOG: &str = "stale_catalog";

/// Every rule name, so metrics can pre-create `denied_total{role,rule}` series.
pub const RULES: &[&str] = &[
    RULE_DENY_COLUMN,
    RULE_UNPARSED,
    RULE_DO_BLOCK,
    RULE_UNTRUSTED_FUNCTION,
    RULE_OUT_OF_BAND_FUNCTION,
    RULE_CATALOG_VIEW,
    RULE_UNRESOLVED,
    RULE_MASKED_PREDICATE,
    RULE_MASKED_ORDER,
    RULE_MASKED_EXPRESSION,
    RULE_MASKED_WRITE,
    RULE_MASKED_SIDE_EFFECT,
    RULE_WHOLE_ROW,
    RULE_CODE_DEFINITION,
    RULE_SERVER_FILE,
    RULE_STALE_CATALOG,
];

/// Built-in functions refused by exact name: they run SQL given as text (`ts_stat`,
/// `ts_rewrite` with a query argument) or read data out of band (files, large objects, other
/// sessions' SQL).
const OUT_OF_BAND_NAMES: &[&str] = &[
    "loread",
    "lowrite",
    "pg_stat_file",
    "pg_stat_get_activity",
    "pg_stat_get_backend_activity",
    "pg_stat_statements",
    "pg_logdir_ls",
    "ts_stat",
    "ts_rewrite",
];

/// Built-in function name prefixes refused: large objects (`lo_import`, `lo_get` …), dblink,
/// server files (`pg_read_file`, `pg_read_binary_file`, `pg_ls_dir`, `pg_ls_logdir` …, and
/// adminpack's `pg_file_*`).
const OUT_OF_BAND_PREFIXES: &[&str] = &["lo_", "dblink", "pg_read_", "pg_ls_", "pg_file_"];

/// Name part of every function that runs a query given as text into XML (`query_to_xml`,
/// `cursor_to_xml`, `table_to_xmlschema`, `database_to_xml_and_xmlschema` …).
const OUT_OF_BAND_INFIX: &str = "_to_xml";

/// Catalog views (and the table behind them) in `pg_catalog` that expose column values
/// (statistics: most common values, histograms) or other sessions' SQL.
const CATALOG_VIEWS: &[&str] = &[
    "pg_stats",
    "pg_statistic",
    "pg_stats_ext",
    "pg_stats_ext_exprs",
    "pg_statistic_ext_data",
    "pg_stat_activity",
];

/// An extension view exposing every session's SQL: refused in whichever schema it lives.
const ANY_SCHEMA_CATALOG_VIEW: &str = "pg_stat_statements";

/// The schema whose functions are built-ins (bodies trailmask knows).
const PG_CATALOG: &str = "pg_catalog";

/// A refusal: `rule` is one of [`RULES`]; `message` names the rule and the column, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: &'static str,
    /// The column at fault as `schema.table.column`, where one is.
    pub column: Option<String>,
    /// One sentence for the client's ErrorResponse (SQLSTATE 42501).
    pub message: String,
}

/// The decision on one statement for one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `masked`: qualified `schema.table.column` of personal columns this role sees masked that
    /// the statement reads (for the trail's `masked` member), sorted, distinct.
    Allow {
        masked: Vec<String>,
    },
    Deny(Refusal),
}

// === impl Refusal ===

impl Refusal {
    fn new(rule: &'static str, column: Option<String>, detail: fmt::Arguments<'_>) -> Refusal {
        Refusal {
            rule,
            column,
            message: format!("trailmask refused this statement: rule {rule} — {detail}"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// === impl Verdict ===

impl Verdict {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Verdict::Allow { .. } => None,
            Verdict::Deny(r) => Some(r),
        }
    }

    /// The rule that refused the statement, if any (the trail's `decision` and the metric label).
    pub fn rule(&self) -> Option<&'static str> {
        self.refusal().map(|r| r.rule)
    }

    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow { .. })
    }
}

// === decide ===

/// Decides one statement for one login. A login with no masked and no denied column is
/// allowed at once, without allocating (the dba path).
///
/// `_search_path`, the path the session believes in, is not consulted: names that matter
/// here (functions) are checked against every schema, since the real path can be changed
/// behind the session's back (startup options, `ALTER ROLE … SET`, `set_config`). Relations
/// were resolved with it beforehand (`resolved`); RowDescription origins back that up.
pub fn decide(
    policy: &Policy,
    roles: &RoleSet,
    analysis: &Analysis,
    resolved: &Resolved,
    snapshot: &Snapshot,
    _search_path: &[String],
) -> Verdict {
    let has_masked = roles.has_masked();
    let has_denied = roles.has_denied();
    if !has_masked && !has_denied {
        return Verdict::Allow { masked: Vec::new() };
    }
    let ctx = Ctx {
        policy,
        roles,
        analysis,
        resolved,
        snapshot,
    };
    match ctx.check() {
        Ok(()) => Verdict::Allow {
            masked: if has_masked {
                ctx.masked_read()
            } else {
                Vec::new()
            },
        },
        Err(r) => Verdict::Deny(r),
    }
}

/// Whether the statement reads or writes any table with personal columns (via `resolved`).
/// An analysis trailmask could not read resolves to nothing; callers that allow such SQL
/// (`policy.unparsed = "allow"`) should treat it as touching personal data.
pub fn touches_personal(roles: &RoleSet, resolved: &Resolved) -> bool {
    touches(resolved, |schema, name| is_personal(roles, schema, name))
}

/// Whether the statement reads or writes any table `hit` accepts (by schema and name).
fn touches(resolved: &Resolved, hit: impl Fn(&str, &str) -> bool) -> bool {
    resolved.tables_read.iter().any(|t| hit(&t.schema, &t.name))
        || resolved
            .writes
            .iter()
            .any(|w| hit(&w.table.schema, &w.table.name))
        || resolved
            .uses
            .iter()
            .any(|u| hit(&u.column.schema, &u.column.table_name))
        || resolved
            .whole_rows
            .iter()
            .any(|w| hit(&w.table.schema, &w.table.name))
        || resolved
            .outputs
            .iter()
            .any(|o| lineage_touches(&o.lineage, &hit))
}

/// The action for result field `i`: `origin` = (table OID, column number) from RowDescription
/// (0,0 when the server gives none); `output` = the analysis' lineage of output `i` when the
/// statement's outputs line up with the fields (same count), else None.
///
/// A non-zero origin is authoritative (PostgreSQL reports it only for plain column references);
/// one the snapshot does not know is redacted for a role with masked or denied columns, since
/// it may be a relation created after the snapshot. A zero origin falls back on `output`.
pub fn field_action(
    roles: &RoleSet,
    snapshot: &Snapshot,
    origin: (TableOid, AttNum),
    output: Option<&ResolvedLineage>,
    touches_personal: bool,
) -> FieldAction {
    if !roles.has_masked() && !roles.has_denied() {
        return FieldAction::Pass;
    }
    let (table, attnum) = origin;
    if table.0 != 0 {
        if let Some(lineage) = snapshot.field_origin(table, attnum) {
            // A view column of unknown lineage: the view may read anything, so its field is
            // redacted whatever the statement touches.
            return lineage_action(roles, &lineage, true);
        }
        return match snapshot.relation(table) {
            // A whole-row value of that relation.
            Some(rel) if attnum.0 == 0 => {
                if table_protected(roles, &rel.schema, &rel.name) {
                    FieldAction::Redact
                } else {
                    FieldAction::Pass
                }
            }
            // A column the snapshot does not know (added since it was loaded): its table is.
            Some(rel) if !table_protected(roles, &rel.schema, &rel.name) => FieldAction::Pass,
            // A relation the snapshot does not know could be a personal table or a view over
            // one created since it was loaded: nothing establishes this field's origin.
            Some(_) | None => FieldAction::Redact,
        };
    }
    match output {
        Some(lineage) => lineage_action(roles, lineage, touches_personal),
        None if touches_personal => FieldAction::Redact,
        None => FieldAction::Pass,
    }
}

/// [`field_action`] for every field of a RowDescription, given as (table OID, column number)
/// origins in field order. The statement's outputs are used where they line up with the fields
/// (same count). A statement trailmask could not read (allowed by `policy.unparsed = "allow"`)
/// counts as touching personal data, so fields of unknown origin are redacted.
pub fn field_actions(
    roles: &RoleSet,
    snapshot: &Snapshot,
    analysis: &Analysis,
    resolved: &Resolved,
    origins: &[(TableOid, AttNum)],
) -> Vec<FieldAction> {
    if !roles.has_masked() && !roles.has_denied() {
        return vec![FieldAction::Pass; origins.len()];
    }
    let touches = analysis.is_opaque() || touches_personal(roles, resolved);
    let aligned = resolved.outputs.len() == origins.len();
    origins
        .iter()
        .enumerate()
        .map(|(i, origin)| {
            let output = if aligned {
                resolved.outputs.get(i).map(|o| &o.lineage)
            } else {
                None
            };
            field_action(roles, snapshot, *origin, output, touches)
        })
        .collect()
}

/// What a field of this lineage becomes.
fn lineage_action(roles: &RoleSet, lineage: &ResolvedLineage, touches: bool) -> FieldAction {
    match lineage {
        ResolvedLineage::Bare(c) => match access(roles, c) {
            None | Some(ColumnAccess::Clear) => FieldAction::Pass,
            Some(ColumnAccess::Masked(m)) => FieldAction::Mask(m),
            Some(ColumnAccess::Denied) => FieldAction::Redact,
        },
        ResolvedLineage::Derived { columns, rows } => {
            let protected = columns.iter().any(|c| column_protected(roles, c))
                || rows
                    .iter()
                    .any(|t| table_protected(roles, &t.schema, &t.name));
            if protected {
                FieldAction::Redact
            } else {
                FieldAction::Pass
            }
        }
        ResolvedLineage::WholeRow(t) => {
            if table_protected(roles, &t.schema, &t.name) {
                FieldAction::Redact
            } else {
                FieldAction::Pass
            }
        }
        ResolvedLineage::Constant => FieldAction::Pass,
        ResolvedLineage::Unknown if touches => FieldAction::Redact,
        ResolvedLineage::Unknown => FieldAction::Pass,
    }
}

// === access helpers ===

/// Access to a resolved column. `RoleSet::access` wants a policy `TableName`; building one
/// per lookup would allocate, so this scans the (small) list of personal columns instead.
fn access(roles: &RoleSet, c: &ColumnRef) -> Option<ColumnAccess> {
    roles
        .columns()
        .find(|(t, col, _)| *col == c.column && t.schema() == c.schema && t.name() == c.table_name)
        .map(|(_, _, a)| a)
}

fn same_table(t: &TableName, schema: &str, name: &str) -> bool {
    t.schema() == schema && t.name() == name
}

fn is_personal(roles: &RoleSet, schema: &str, name: &str) -> bool {
    roles.columns().any(|(t, _, _)| same_table(t, schema, name))
}

/// The first column of `schema.name` this role has access `pred` to.
fn table_column_with(
    roles: &RoleSet,
    schema: &str,
    name: &str,
    pred: impl Fn(ColumnAccess) -> bool,
) -> Option<String> {
    roles
        .columns()
        .find(|(t, _, a)| same_table(t, schema, name) && pred(*a))
        .map(|(t, col, _)| format!("{t}.{col}"))
}

fn is_masked(a: ColumnAccess) -> bool {
    matches!(a, ColumnAccess::Masked(_))
}

fn is_denied(a: ColumnAccess) -> bool {
    a == ColumnAccess::Denied
}

/// Masked or denied: a value computed from it must not pass in clear.
fn protected(a: ColumnAccess) -> bool {
    match a {
        ColumnAccess::Clear => false,
        ColumnAccess::Masked(_) | ColumnAccess::Denied => true,
    }
}

fn column_protected(roles: &RoleSet, c: &ColumnRef) -> bool {
    access(roles, c).is_some_and(protected)
}

/// Whether `schema.name` has a column this role sees masked or may not see.
fn table_protected(roles: &RoleSet, schema: &str, name: &str) -> bool {
    roles
        .columns()
        .any(|(t, _, a)| same_table(t, schema, name) && protected(a))
}

/// Whether a lineage depends on a table `personal` accepts.
fn lineage_touches(l: &ResolvedLineage, personal: &impl Fn(&str, &str) -> bool) -> bool {
    match l {
        ResolvedLineage::Bare(c) => personal(&c.schema, &c.table_name),
        ResolvedLineage::Derived { columns, rows } => {
            columns.iter().any(|c| personal(&c.schema, &c.table_name))
                || rows.iter().any(|t| personal(&t.schema, &t.name))
        }
        ResolvedLineage::WholeRow(t) => personal(&t.schema, &t.name),
        ResolvedLineage::Constant | ResolvedLineage::Unknown => false,
    }
}

// === the rules ===

/// Everything one decision looks at.
struct Ctx<'a> {
    policy: &'a Policy,
    roles: &'a RoleSet,
    analysis: &'a Analysis,
    resolved: &'a Resolved,
    snapshot: &'a Snapshot,
}

impl Ctx<'_> {
    fn role(&self) -> String {
        self.roles.label()
    }

    /// The rules in a fixed order: denied columns, then what trailmask cannot see through,
    /// then the uses of masked columns, then names that did not resolve (last, so that a
    /// statement refused anyway names its most specific rule).
    fn check(&self) -> Result<(), Refusal> {
        self.deny_columns()?;
        self.code_definition()?;
        self.server_file()?;
        self.opaque()?;
        self.functions()?;
        self.catalog_views()?;
        if self.roles.has_masked() {
            self.masked_uses()?;
            self.masked_whole_rows()?;
            self.masked_outputs()?;
        }
        self.unresolved()
    }

    /// Any use, whole row, output or write of a denied column.
    fn deny_columns(&self) -> Result<(), Refusal> {
        if !self.roles.has_denied() {
            return Ok(());
        }
        let r = self.resolved;
        let denied = |c: &ColumnRef| access(self.roles, c) == Some(ColumnAccess::Denied);
        let used = r
            .uses
            .iter()
            .map(|u| &u.column)
            .chain(r.writes.iter().flat_map(|w| w.columns.iter()))
            .chain(r.outputs.iter().flat_map(|o| o.lineage.columns()))
            .find(|c| denied(c));
        if let Some(c) = used {
            return Err(self.denied_column(&c.qualified()));
        }
        let rows = r
            .whole_rows
            .iter()
            .map(|w| &w.table)
            .chain(r.outputs.iter().flat_map(|o| output_rows(&o.lineage)));
        for t in rows {
            if let Some(col) = table_column_with(self.roles, &t.schema, &t.name, is_denied) {
                return Err(Refusal::new(
                    RULE_DENY_COLUMN,
                    Some(col.clone()),
                    format_args!(
                        "a whole-row reference to {} includes column {col}, which is denied to \
                         role {} and may not be used in any way",
                        t.qualified(),
                        self.role()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn denied_column(&self, col: &str) -> Refusal {
        Refusal::new(
            RULE_DENY_COLUMN,
            Some(col.to_owned()),
            format_args!(
                "column {col} is denied to role {} and may not be used in any way",
                self.role()
            ),
        )
    }

    /// Unparsed SQL and `DO` blocks.
    fn opaque(&self) -> Result<(), Refusal> {
        let a = self.analysis;
        if a.is_opaque() {
            match self.policy.unparsed() {
                Unparsed::Deny => {
                    return Err(Refusal::new(
                        RULE_UNPARSED,
                        None,
                        format_args!(
                            "trailmask cannot analyse it and role {} sees personal columns \
                             masked or denied (see policy.unparsed)",
                            self.role()
                        ),
                    ))
                }
                Unparsed::Allow => {}
            }
        }
        if a.do_block {
            return Err(Refusal::new(
                RULE_DO_BLOCK,
                None,
                format_args!(
                    "a DO block's body is opaque and role {} sees personal columns masked or \
                     denied",
                    self.role()
                ),
            ));
        }
        Ok(())
    }

    /// Functions: out-of-band built-ins by name (whatever their schema: listing one in
    /// `trusted_functions` does not make it safe), then anything that may not be a
    /// `pg_catalog` built-in and is not trusted ([`Ctx::untrusted`]).
    fn functions(&self) -> Result<(), Refusal> {
        for f in &self.analysis.functions {
            if is_out_of_band(&f.name) {
                return Err(Refusal::new(
                    RULE_OUT_OF_BAND_FUNCTION,
                    None,
                    format_args!(
                        "function {} runs SQL given as text or reads data out of band, and role \
                         {} sees personal columns masked or denied",
                        function_display(f),
                        self.role()
                    ),
                ));
            }
            if let Some(name) = self.untrusted(f) {
                return Err(Refusal::new(
                    RULE_UNTRUSTED_FUNCTION,
                    None,
                    format_args!(
                        "function {name} is not a pg_catalog built-in and is not listed in \
                         policy.trusted_functions, and role {} sees personal columns masked or \
                         denied",
                        self.role()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The name to refuse `f` under, if a call of it may run something other than a
    /// `pg_catalog` built-in or a trusted function; None if it is safe to call.
    ///
    /// A qualified name is looked up in its schema. An unqualified one is looked up in every
    /// schema: the session cannot know the search_path PostgreSQL really uses (startup
    /// options, `ALTER ROLE … SET`, `set_config`, a function's `SET` clause can all put
    /// another schema ahead of `pg_catalog`), so a function of that name in any schema other
    /// than `pg_catalog` could be the one that runs, and each such one must be trusted. A
    /// name found nowhere is not trusted, unless it is SQL syntax sqlparser reports as a call.
    fn untrusted(&self, f: &FunctionName) -> Option<String> {
        let snap = self.snapshot;
        if let Some(s) = &f.schema {
            let known = snap.has_function(s, &f.name);
            let safe = known && (s == PG_CATALOG || self.policy.is_trusted_function(s, &f.name));
            return (!safe).then(|| function_display(f));
        }
        let mut elsewhere = snap
            .function_schemas(&f.name)
            .filter(|s| *s != PG_CATALOG)
            .peekable();
        if elsewhere.peek().is_none() {
            let builtin =
                snap.has_function(PG_CATALOG, &f.name) || Snapshot::is_sql_syntax_function(&f.name);
            return (!builtin).then(|| f.name.clone());
        }
        elsewhere
            .find(|s| !self.policy.is_trusted_function(s, &f.name))
            .map(|s| format!("{s}.{}", f.name))
    }

    /// Statements that create, replace or attach code PostgreSQL runs on its own later.
    /// A function the role cannot call directly could otherwise run as a trigger, rule,
    /// operator, column default or check, on this role's rows or anyone's.
    fn code_definition(&self) -> Result<(), Refusal> {
        let a = self.analysis;
        if let Some(kind) = a.code_definition {
            return Err(Refusal::new(
                RULE_CODE_DEFINITION,
                None,
                format_args!(
                    "the statement defines or attaches a {kind}, code PostgreSQL runs \
                     implicitly, and role {} sees personal columns masked or denied",
                    self.role()
                ),
            ));
        }
        for f in &a.code_functions {
            if is_out_of_band(&f.name) || self.untrusted(f).is_some() {
                return Err(Refusal::new(
                    RULE_CODE_DEFINITION,
                    None,
                    format_args!(
                        "the statement attaches function {} (a default, check, generated \
                         column, index or row-security expression) that is not a pg_catalog \
                         built-in or a trusted function, and role {} sees personal columns \
                         masked or denied",
                        self.untrusted(f).unwrap_or_else(|| function_display(f)),
                        self.role()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `COPY` to or from a server file or program: data moves where trailmask cannot see it.
    fn server_file(&self) -> Result<(), Refusal> {
        if self.analysis.server_file {
            return Err(Refusal::new(
                RULE_SERVER_FILE,
                None,
                format_args!(
                    "COPY to or from a file on the database server or a program moves data \
                     trailmask cannot see, and role {} sees personal columns masked or denied",
                    self.role()
                ),
            ));
        }
        Ok(())
    }

    /// Catalog views exposing statistics (column values) or other sessions' SQL, by the name
    /// as written (an unqualified name finds `pg_catalog` first) and as resolved. A view over
    /// one that calls the underlying function (`pg_stat_get_activity`) is not seen here: the
    /// view's functions are not part of the statement's analysis.
    fn catalog_views(&self) -> Result<(), Refusal> {
        let written = self.analysis.tables_read.iter().find_map(|t| {
            let schema = t.schema.as_deref();
            is_catalog_view(schema.unwrap_or(PG_CATALOG), &t.name).then(|| match schema {
                Some(s) => format!("{s}.{}", t.name),
                None => t.name.clone(),
            })
        });
        // Resolved: the relations read, and the base tables of the columns used (a view over
        // `pg_stats` reads `pg_statistic`).
        let resolved = || {
            let r = self.resolved;
            r.tables_read
                .iter()
                .find(|t| is_catalog_view(&t.schema, &t.name))
                .map(TableRef::qualified)
                .or_else(|| {
                    r.uses
                        .iter()
                        .map(|u| &u.column)
                        .chain(r.outputs.iter().flat_map(|o| o.lineage.columns()))
                        .find(|c| is_catalog_view(&c.schema, &c.table_name))
                        .map(|c| format!("{}.{}", c.schema, c.table_name))
                })
        };
        if let Some(view) = written.or_else(resolved) {
            return Err(Refusal::new(
                RULE_CATALOG_VIEW,
                None,
                format_args!(
                    "{view} exposes column statistics or other sessions' SQL, and role {} sees \
                     personal columns masked or denied",
                    self.role()
                ),
            ));
        }
        Ok(())
    }

    /// Unresolved names fail closed. A relation the snapshot does not know could be a personal
    /// table or a view over one created since the snapshot was loaded (or found through another
    /// schema): reading it is refused. Any other unresolved name (a column, a whole row, a
    /// value of unknown origin) is refused when the statement touches a table with a column
    /// this role sees masked or may not see, or reads a view whose lineage is unknown; among
    /// tables that are all known and not personal it cannot be personal data, and PostgreSQL
    /// will report it.
    ///
    /// A write target the snapshot does not know (`CREATE TABLE t AS …`, a new table) is no
    /// reason, unless it is named like a personal table: what goes into it was checked as
    /// `Written` uses, and its own columns, where the statement names them, are unresolved
    /// entries of their own.
    fn unresolved(&self) -> Result<(), Refusal> {
        let target = |u: &str| {
            self.analysis.tables_written().any(|t| {
                let name = match &t.schema {
                    Some(s) => format!("relation {s}.{}", t.name),
                    None => format!("relation {}", t.name),
                };
                name == u
            })
        };
        let mut first = None;
        let mut unknown_relation = false;
        for u in &self.resolved.unresolved {
            if let Some(rel) = u.strip_prefix("relation ") {
                let name = rel.rsplit('.').next().unwrap_or(rel);
                let named_personal = self
                    .roles
                    .columns()
                    .any(|(t, _, a)| t.name() == name && protected(a));
                if !named_personal && target(u) {
                    continue;
                }
                unknown_relation = true;
            }
            first = first.or(Some(u));
        }
        let Some(first) = first else {
            return Ok(());
        };
        if unknown_relation
            || touches(self.resolved, |s, n| table_protected(self.roles, s, n))
            || self.reads_opaque_view()
        {
            return Err(Refusal::new(
                RULE_UNRESOLVED,
                None,
                format_args!(
                    "trailmask cannot resolve {first} against the catalog, and the statement may \
                     touch personal columns that role {} sees masked or denied",
                    self.role()
                ),
            ));
        }
        Ok(())
    }

    /// Whether the statement reads a view whose columns' lineage trailmask could not work
    /// out: a value of unknown origin may then come from any table.
    fn reads_opaque_view(&self) -> bool {
        self.resolved.tables_read.iter().any(|t| {
            self.snapshot
                .relation(t.oid)
                .is_some_and(|rel| rel.kind.is_view())
                && self
                    .snapshot
                    .view_lineage(t.oid)
                    .is_none_or(|l| l.iter().any(|c| matches!(c, ResolvedLineage::Unknown)))
        })
    }

    /// Column uses by context.
    fn masked_uses(&self) -> Result<(), Refusal> {
        let preds = self.policy.masked_predicates();
        for u in &self.resolved.uses {
            let Some(ColumnAccess::Masked(_)) = access(self.roles, &u.column) else {
                continue;
            };
            let rule = match (u.context, preds) {
                (UseContext::BareOutput, _)
                | (
                    UseContext::EqualityPredicate,
                    MaskedPredicates::Allow | MaskedPredicates::Equality,
                )
                | (UseContext::OtherPredicate | UseContext::OrderGroup, MaskedPredicates::Allow) => {
                    continue
                }
                (UseContext::EqualityPredicate, MaskedPredicates::Deny)
                | (
                    UseContext::OtherPredicate,
                    MaskedPredicates::Equality | MaskedPredicates::Deny,
                ) => RULE_MASKED_PREDICATE,
                (UseContext::OrderGroup, MaskedPredicates::Equality | MaskedPredicates::Deny) => {
                    RULE_MASKED_ORDER
                }
                (UseContext::Expression, _) => RULE_MASKED_EXPRESSION,
                (UseContext::Written, _) => RULE_MASKED_WRITE,
                (UseContext::SideEffectArg, _) => RULE_MASKED_SIDE_EFFECT,
            };
            return Err(self.masked_use(rule, &u.column.qualified(), preds));
        }
        Ok(())
    }

    /// The refusal of a masked column used against `rule`.
    fn masked_use(&self, rule: &'static str, col: &str, preds: MaskedPredicates) -> Refusal {
        let role = self.role();
        let column = Some(col.to_owned());
        match rule {
            RULE_MASKED_PREDICATE if preds == MaskedPredicates::Deny => Refusal::new(
                rule,
                column,
                format_args!(
                    "column {col} is masked for role {role} and may not appear in a condition \
                     (see policy.masked_predicates)"
                ),
            ),
            RULE_MASKED_PREDICATE => Refusal::new(
                rule,
                column,
                format_args!(
                    "column {col} is masked for role {role} and may only be compared bare with \
                     \"=\", IN or IS NULL against values that use no masked column (see \
                     policy.masked_predicates)"
                ),
            ),
            RULE_MASKED_ORDER => Refusal::new(
                rule,
                column,
                format_args!(
                    "column {col} is masked for role {role} and may not be used for ordering, \
                     grouping, DISTINCT ON, windows or FILTER (see policy.masked_predicates)"
                ),
            ),
            RULE_MASKED_WRITE => Refusal::new(
                rule,
                column,
                format_args!(
                    "column {col} is masked for role {role} and may not be written elsewhere \
                     (INSERT … SELECT, CREATE TABLE AS, UPDATE … SET, COPY … TO)"
                ),
            ),
            RULE_MASKED_SIDE_EFFECT => Refusal::new(
                rule,
                column,
                format_args!(
                    "column {col} is masked for role {role} and may not be passed to a \
                     function with side effects"
                ),
            ),
            _ => self.masked_expression(col),
        }
    }

    fn masked_expression(&self, col: &str) -> Refusal {
        Refusal::new(
            RULE_MASKED_EXPRESSION,
            Some(col.to_owned()),
            format_args!(
                "column {col} is masked for role {} and may only be selected bare or compared \
                 with \"=\" (see policy.masked_predicates)",
                self.role()
            ),
        )
    }

    fn whole_row(&self, t: &TableRef) -> Result<(), Refusal> {
        match table_column_with(self.roles, &t.schema, &t.name, is_masked) {
            Some(col) => Err(Refusal::new(
                RULE_WHOLE_ROW,
                Some(col.clone()),
                format_args!(
                    "a whole-row reference to {} would expose its masked column {col} to role {}",
                    t.qualified(),
                    self.role()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Whole-row references to a table with masked columns, in any context.
    fn masked_whole_rows(&self) -> Result<(), Refusal> {
        for w in &self.resolved.whole_rows {
            self.whole_row(&w.table)?;
        }
        Ok(())
    }

    /// Output columns that are a whole row of a table with masked columns.
    ///
    /// An output `Derived` from a masked column is refused through its uses: the statement's
    /// own expressions (here or in a subquery or CTE) record the column in `Expression`
    /// context. What remains `Derived` with a bare-output use is a view column computed from a
    /// masked column, and SPEC.md has those redacted ([`field_action`]), not refused.
    fn masked_outputs(&self) -> Result<(), Refusal> {
        for o in &self.resolved.outputs {
            match &o.lineage {
                ResolvedLineage::WholeRow(t) => self.whole_row(t)?,
                ResolvedLineage::Derived { .. }
                | ResolvedLineage::Bare(_)
                | ResolvedLineage::Constant
                | ResolvedLineage::Unknown => {}
            }
        }
        Ok(())
    }

    /// Masked columns the statement reads, qualified, sorted and distinct.
    fn masked_read(&self) -> Vec<String> {
        let r = self.resolved;
        let mut masked: Vec<String> = r
            .uses
            .iter()
            .map(|u| &u.column)
            .chain(r.outputs.iter().flat_map(|o| o.lineage.columns()))
            .filter(|c| matches!(access(self.roles, c), Some(ColumnAccess::Masked(_))))
            .map(ColumnRef::qualified)
            .collect();
        masked.sort();
        masked.dedup();
        masked
    }
}

/// Whole rows an output lineage depends on.
fn output_rows(l: &ResolvedLineage) -> Vec<&TableRef> {
    match l {
        ResolvedLineage::WholeRow(t) => vec![t],
        ResolvedLineage::Derived { rows, .. } => rows.iter().collect(),
        ResolvedLineage::Bare(_) | ResolvedLineage::Constant | ResolvedLineage::Unknown => {
            Vec::new()
        }
    }
}

fn is_out_of_band(name: &str) -> bool {
    OUT_OF_BAND_NAMES.contains(&name)
        || OUT_OF_BAND_PREFIXES.iter().any(|p| name.starts_with(p))
        || name.contains(OUT_OF_BAND_INFIX)
}

fn is_catalog_view(schema: &str, name: &str) -> bool {
    name == ANY_SCHEMA_CATALOG_VIEW || (schema == PG_CATALOG && CATALOG_VIEWS.contains(&name))
}

fn function_display(f: &FunctionName) -> String {
    match &f.schema {
        Some(s) => format!("{s}.{}", f.name),
        None => f.name.clone(),
    }
}
