//! Name resolution: an [`Analysis`] (names as written, with FROM-clause scopes) against a
//! [`Snapshot`] becomes a [`Resolved`]: every column use, whole-row reference, output column and
//! write mapped to `schema.table.column` with table OID and attnum. `*` and `t.*` expand from
//! the catalog; unqualified names are looked up through the FROM scopes (innermost first, then
//! enclosing queries for correlated references); CTE and subquery columns map to their sources;
//! view columns map to base columns through the view's own definition.
//!
//! A name that cannot be resolved is listed in [`Resolved::unresolved`] and contributes nothing
//! else: the policy treats a non-empty list as "cannot tell" and fails closed.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::sql::{
    analyze, Analysis, ColumnName, Lineage, Output, RowRef, ScopeId, SourceKind, TableName,
    UseContext,
};

use super::snapshot::{AttNum, Column, Relation, Snapshot, TableOid, TypeOid, MAX_VIEW_DEPTH};

/// A relation, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    pub oid: TableOid,
    pub schema: String,
    pub name: String,
}

impl TableRef {
    /// `schema.table`, the form `[personal_data."…"]` keys use.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A base column, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColumnRef {
    pub table: TableOid,
    pub attnum: AttNum,
    pub schema: String,
    pub table_name: String,
    pub column: String,
    pub type_oid: TypeOid,
}

impl ColumnRef {
    /// `schema.table.column`, the form `clear = […]` and `deny = […]` use.
    pub fn qualified(&self) -> String {
        format!("{}.{}.{}", self.schema, self.table_name, self.column)
    }

    pub fn table_ref(&self) -> TableRef {
        TableRef {
            oid: self.table,
            schema: self.schema.clone(),
            name: self.table_name.clone(),
        }
    }
}

/// Where a value comes from, in base columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedLineage {
    /// Exactly this base column's value.
    Bare(ColumnRef),
    /// Computed from these columns and whole rows.
    Derived {
        columns: Vec<ColumnRef>,
        rows: Vec<TableRef>,
    },
    /// A whole row of a base table.
    WholeRow(TableRef),
    /// Depends on no column.
    Constant,
    /// Cannot tell (fail closed).
    Unknown,
}

impl ResolvedLineage {
    /// Every base column this value depends on (whole rows not expanded).
    pub fn columns(&self) -> Vec<&ColumnRef> {
        match self {
            ResolvedLineage::Bare(c) => vec![c],
            ResolvedLineage::Derived { columns, .. } => columns.iter().collect(),
            ResolvedLineage::WholeRow(_) | ResolvedLineage::Constant | ResolvedLineage::Unknown => {
                Vec::new()
            }
        }
    }
}

/// A column use, resolved to its base column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedUse {
    pub column: ColumnRef,
    pub context: UseContext,
}

/// A whole-row reference to a base table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedWholeRow {
    pub table: TableRef,
    pub context: UseContext,
}

/// One output column, `*` expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedOutput {
    pub name: Option<String>,
    pub lineage: ResolvedLineage,
}

/// A write, with its column list expanded (all columns where the statement named none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedWrite {
    pub table: TableRef,
    pub columns: Vec<ColumnRef>,
}

/// An analysis resolved against a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub uses: Vec<ResolvedUse>,
    pub whole_rows: Vec<ResolvedWholeRow>,
    /// The statement's result columns, one per RowDescription field.
    pub outputs: Vec<ResolvedOutput>,
    pub tables_read: Vec<TableRef>,
    pub writes: Vec<ResolvedWrite>,
    /// Names (tables, columns, rows) that could not be resolved, and uses of values of unknown
    /// origin. Non-empty: fail closed.
    pub unresolved: Vec<String>,
}

impl Resolved {
    /// Distinct base columns read in any context, for the trail's `columns_read`.
    pub fn columns_read(&self) -> Vec<&ColumnRef> {
        let mut seen = HashSet::new();
        self.uses
            .iter()
            .map(|u| &u.column)
            .filter(|c| seen.insert((c.table, c.attnum)))
            .collect()
    }
}

/// Resolves `analysis` against `snapshot`. `search_path` lists schemas for unqualified table
/// names (pg_catalog is searched first unless listed); `$user` entries must already be replaced.
pub fn resolve(analysis: &Analysis, snapshot: &Snapshot, search_path: &[String]) -> Resolved {
    let mut r = Resolver::new(analysis, snapshot, search_path, 0);
    r.run();
    r.out
}

/// Lineage of each column of view `oid`, by analysing its definition; `depth` counts views
/// over views so a cycle or a deep stack ends in Unknown.
pub(crate) fn compute_view_lineage(
    snap: &Snapshot,
    oid: TableOid,
    depth: usize,
) -> Vec<ResolvedLineage> {
    let Some(rel) = snap.relation(oid) else {
        return Vec::new();
    };
    let unknown = || vec![ResolvedLineage::Unknown; rel.columns.len()];
    if depth > MAX_VIEW_DEPTH {
        return unknown();
    }
    let Some(def) = &rel.view_definition else {
        return unknown();
    };
    let analyses = analyze(def);
    let [a] = analyses.as_slice() else {
        return unknown();
    };
    if a.is_opaque() || a.op != "SELECT" {
        return unknown();
    }
    // pg_get_viewdef qualifies every name not visible in the loader's search_path
    // (pg_catalog); `public` covers hand-written definitions.
    let path = ["public".to_owned()];
    let mut r = Resolver::new(a, snap, &path, depth);
    r.run();
    if !r.out.unresolved.is_empty() || r.out.outputs.len() != rel.columns.len() {
        return unknown();
    }
    r.out.outputs.into_iter().map(|o| o.lineage).collect()
}

/// A column as the policy knows it: a partition's or inheritance child's column under its
/// root table's name (the policy declares the root), with the child's own OID and attnum (what
/// RowDescription reports).
pub(crate) fn column_ref(rel: &Relation, col: &Column) -> ColumnRef {
    let (schema, table_name) = policy_name(rel);
    ColumnRef {
        table: rel.oid,
        attnum: col.attnum,
        schema: schema.to_owned(),
        table_name: table_name.to_owned(),
        column: col.name.clone(),
        type_oid: col.type_oid,
    }
}

fn table_ref(rel: &Relation) -> TableRef {
    let (schema, name) = policy_name(rel);
    TableRef {
        oid: rel.oid,
        schema: schema.to_owned(),
        name: name.to_owned(),
    }
}

/// The (schema, table) the policy knows `rel` by: its root for a partition or child.
fn policy_name(rel: &Relation) -> (&str, &str) {
    match &rel.root {
        Some((schema, name)) => (schema, name),
        None => (&rel.schema, &rel.name),
    }
}

/// A column of a FROM item.
#[derive(Debug, Clone)]
struct SourceCol {
    name: String,
    lineage: ResolvedLineage,
    /// System column: found by name, not part of `*`.
    system: bool,
}

/// What a name found.
enum Found {
    Columns(Vec<ResolvedLineage>),
    Row(ResolvedLineage),
    Nothing,
}

struct Resolver<'a> {
    a: &'a Analysis,
    snap: &'a Snapshot,
    path: &'a [String],
    depth: usize,
    cols: HashMap<(usize, usize), Rc<Vec<SourceCol>>>,
    in_progress: HashSet<(usize, usize)>,
    out: Resolved,
}

impl<'a> Resolver<'a> {
    fn new(a: &'a Analysis, snap: &'a Snapshot, path: &'a [String], depth: usize) -> Self {
        Resolver {
            a,
            snap,
            path,
            depth,
            cols: HashMap::new(),
            in_progress: HashSet::new(),
            out: Resolved::default(),
        }
    }

    fn unresolved(&mut self, what: String) {
        if !self.out.unresolved.contains(&what) {
            self.out.unresolved.push(what);
        }
    }

    fn run(&mut self) {
        let a = self.a;
        for t in &a.tables_read {
            if let Some(rel) = self.table(t) {
                let tr = table_ref(rel);
                if !self.out.tables_read.contains(&tr) {
                    self.out.tables_read.push(tr);
                }
            }
        }
        for w in &a.writes {
            let Some(rel) = self.table(&w.table) else {
                continue;
            };
            let columns = match &w.columns {
                None => rel.columns.iter().map(|c| column_ref(rel, c)).collect(),
                Some(names) => {
                    let mut v = Vec::new();
                    for n in names {
                        match rel.column(n) {
                            Some(c) => v.push(column_ref(rel, c)),
                            None => self.unresolved(format!("column {}.{n}", rel.name)),
                        }
                    }
                    v
                }
            };
            self.out.writes.push(ResolvedWrite {
                table: table_ref(rel),
                columns,
            });
        }
        for u in &a.uses {
            self.column_use(&u.column, u.context, false);
        }
        for u in &a.soft_uses {
            self.column_use(&u.column, u.context, true);
        }
        for s in &a.star_uses {
            for col in self.expand_star(s.qualifier.as_deref(), s.scope) {
                self.add_use(&col.lineage, s.context);
            }
        }
        for w in &a.whole_rows {
            if !w.certain {
                // A bare name: its use resolves it as a column or as a row.
                continue;
            }
            match self.row(&w.row) {
                Some(l) => self.add_row_use(&l, w.context),
                None => self.unresolved(format!("row {}", w.row.qualifier.join("."))),
            }
        }
        for o in &a.outputs {
            let resolved = self.output(o);
            self.out.outputs.extend(resolved);
        }
    }

    fn table(&mut self, t: &TableName) -> Option<&'a Relation> {
        let snap = self.snap;
        let found = snap.lookup(t.schema.as_deref(), &t.name, self.path);
        if found.is_none() {
            let name = match &t.schema {
                Some(s) => format!("relation {s}.{}", t.name),
                None => format!("relation {}", t.name),
            };
            self.unresolved(name);
        }
        found
    }

    // --- uses ---

    fn column_use(&mut self, c: &ColumnName, ctx: UseContext, soft: bool) {
        match self.lookup(c) {
            Found::Columns(ls) => {
                for l in ls {
                    self.add_use(&l, ctx);
                }
            }
            Found::Row(l) => self.add_row_use(&l, ctx),
            Found::Nothing => {
                if !soft {
                    self.unresolved(format!("column {}", display_name(c)));
                }
            }
        }
    }

    fn add_use(&mut self, l: &ResolvedLineage, ctx: UseContext) {
        match l {
            ResolvedLineage::Bare(c) => self.out.uses.push(ResolvedUse {
                column: c.clone(),
                context: ctx,
            }),
            ResolvedLineage::Derived { columns, rows } => {
                // A value computed from a column is never "the bare column" in a comparison.
                let ctx = match ctx {
                    UseContext::EqualityPredicate => UseContext::OtherPredicate,
                    other => other,
                };
                for c in columns {
                    self.out.uses.push(ResolvedUse {
                        column: c.clone(),
                        context: ctx,
                    });
                }
                for t in rows {
                    self.out.whole_rows.push(ResolvedWholeRow {
                        table: t.clone(),
                        context: ctx,
                    });
                }
            }
            ResolvedLineage::WholeRow(t) => self.out.whole_rows.push(ResolvedWholeRow {
                table: t.clone(),
                context: ctx,
            }),
            ResolvedLineage::Constant => {}
            ResolvedLineage::Unknown => self.unresolved("value of unknown origin".to_owned()),
        }
    }

    /// A whole-row value: of a base table it is a whole-row use; of a view, subquery or
    /// function it is a composite built from columns, so those columns count as used in an
    /// expression (or as written / side-effect arguments when that is the context).
    fn add_row_use(&mut self, l: &ResolvedLineage, ctx: UseContext) {
        match l {
            ResolvedLineage::WholeRow(_) => self.add_use(l, ctx),
            ResolvedLineage::Bare(_) | ResolvedLineage::Derived { .. } => {
                let ctx = match ctx {
                    UseContext::Written | UseContext::SideEffectArg => ctx,
                    UseContext::BareOutput
                    | UseContext::EqualityPredicate
                    | UseContext::OtherPredicate
                    | UseContext::OrderGroup
                    | UseContext::Expression => UseContext::Expression,
                };
                self.add_use(l, ctx)
            }
            ResolvedLineage::Constant | ResolvedLineage::Unknown => self.add_use(l, ctx),
        }
    }

    // --- outputs ---

    fn output(&mut self, o: &Output) -> Vec<ResolvedOutput> {
        match &o.lineage {
            Lineage::Star { qualifier, scope } => self
                .expand_star(qualifier.as_deref(), *scope)
                .into_iter()
                .map(|c| ResolvedOutput {
                    name: Some(c.name),
                    lineage: c.lineage,
                })
                .collect(),
            other => vec![ResolvedOutput {
                name: o.name.clone(),
                lineage: self.lineage(other),
            }],
        }
    }

    fn lineage(&mut self, l: &Lineage) -> ResolvedLineage {
        match l {
            Lineage::Bare(c) => match self.lookup(c) {
                Found::Columns(ls) => merge(ls),
                Found::Row(l) => l,
                Found::Nothing => {
                    self.unresolved(format!("column {}", display_name(c)));
                    ResolvedLineage::Unknown
                }
            },
            Lineage::Derived { columns, rows } => {
                let mut parts = Vec::new();
                for c in columns {
                    match self.lookup(c) {
                        Found::Columns(ls) => parts.extend(ls),
                        Found::Row(l) => parts.push(l),
                        Found::Nothing => {
                            self.unresolved(format!("column {}", display_name(c)));
                            parts.push(ResolvedLineage::Unknown);
                        }
                    }
                }
                for r in rows {
                    match self.row(r) {
                        Some(l) => parts.push(l),
                        None => {
                            self.unresolved(format!("row {}", r.qualifier.join(".")));
                            parts.push(ResolvedLineage::Unknown);
                        }
                    }
                }
                match merge(parts) {
                    // Derived stays derived even when it depends on a single column.
                    ResolvedLineage::Bare(c) => ResolvedLineage::Derived {
                        columns: vec![c],
                        rows: Vec::new(),
                    },
                    ResolvedLineage::WholeRow(t) => ResolvedLineage::Derived {
                        columns: Vec::new(),
                        rows: vec![t],
                    },
                    other => other,
                }
            }
            Lineage::WholeRow(r) => match self.row(r) {
                Some(l) => l,
                None => {
                    self.unresolved(format!("row {}", r.qualifier.join(".")));
                    ResolvedLineage::Unknown
                }
            },
            Lineage::Constant => ResolvedLineage::Constant,
            Lineage::Unknown => ResolvedLineage::Unknown,
            Lineage::Star { qualifier, scope } => merge(
                self.expand_star(qualifier.as_deref(), *scope)
                    .into_iter()
                    .map(|c| c.lineage)
                    .collect(),
            ),
        }
    }

    // --- scopes ---

    fn scope_sources(&self, scope: ScopeId) -> usize {
        self.a.scopes.get(scope.0).map_or(0, |s| s.sources.len())
    }

    fn parent(&self, scope: ScopeId) -> Option<ScopeId> {
        self.a.scopes.get(scope.0).and_then(|s| s.parent)
    }

    /// Scope ids from `scope` outwards, bounded (a malformed parent chain cannot loop).
    fn chain(&self, scope: ScopeId) -> Vec<ScopeId> {
        let mut v = Vec::new();
        let mut cur = Some(scope);
        while let Some(s) = cur {
            if v.len() > self.a.scopes.len() {
                break;
            }
            v.push(s);
            cur = self.parent(s);
        }
        v
    }

    /// Whether source `idx` of `scope` is the FROM item `qualifier` names.
    fn source_matches(&mut self, scope: ScopeId, idx: usize, qualifier: &[String]) -> bool {
        let Some(src) = self.a.scopes.get(scope.0).and_then(|s| s.sources.get(idx)) else {
            return false;
        };
        match (qualifier, &src.alias, &src.kind) {
            ([q], Some(alias), _) => q == alias,
            ([q], None, SourceKind::Table(t)) => &t.name == q,
            ([s, t] | [_, s, t], None, SourceKind::Table(tn)) => {
                let snap = self.snap;
                snap.lookup(tn.schema.as_deref(), &tn.name, self.path)
                    .is_some_and(|r| &r.schema == s && &r.name == t)
            }
            _ => false,
        }
    }

    fn lookup(&mut self, c: &ColumnName) -> Found {
        for scope in self.chain(c.scope) {
            let n = self.scope_sources(scope);
            if c.qualifier.is_empty() {
                let mut hits = Vec::new();
                for idx in 0..n {
                    let cols = self.source_columns(scope, idx);
                    hits.extend(
                        cols.iter()
                            .filter(|x| x.name == c.name)
                            .map(|x| x.lineage.clone()),
                    );
                }
                if !hits.is_empty() {
                    return Found::Columns(hits);
                }
            } else {
                for idx in 0..n {
                    if self.source_matches(scope, idx, &c.qualifier) {
                        let cols = self.source_columns(scope, idx);
                        let hits: Vec<ResolvedLineage> = cols
                            .iter()
                            .filter(|x| x.name == c.name)
                            .map(|x| x.lineage.clone())
                            .collect();
                        return if hits.is_empty() {
                            Found::Nothing
                        } else {
                            Found::Columns(hits)
                        };
                    }
                }
            }
        }
        // Not a column: a bare name may denote a whole row of a FROM item.
        if c.qualifier.is_empty() {
            if let Some(l) = self.row(&RowRef {
                qualifier: vec![c.name.clone()],
                scope: c.scope,
            }) {
                return Found::Row(l);
            }
        }
        Found::Nothing
    }

    /// The value of a whole-row reference.
    fn row(&mut self, r: &RowRef) -> Option<ResolvedLineage> {
        for scope in self.chain(r.scope) {
            for idx in 0..self.scope_sources(scope) {
                if !self.source_matches(scope, idx, &r.qualifier) {
                    continue;
                }
                let kind = self
                    .a
                    .scopes
                    .get(scope.0)
                    .and_then(|s| s.sources.get(idx))
                    .map(|s| s.kind.clone());
                if let Some(SourceKind::Table(t)) = &kind {
                    let snap = self.snap;
                    if let Some(rel) = snap.lookup(t.schema.as_deref(), &t.name, self.path) {
                        if !rel.kind.is_view() {
                            return Some(ResolvedLineage::WholeRow(table_ref(rel)));
                        }
                    }
                }
                let cols = self.source_columns(scope, idx);
                let parts: Vec<ResolvedLineage> = cols
                    .iter()
                    .filter(|c| !c.system)
                    .map(|c| c.lineage.clone())
                    .collect();
                return Some(match merge(parts) {
                    ResolvedLineage::Bare(c) => ResolvedLineage::Derived {
                        columns: vec![c],
                        rows: Vec::new(),
                    },
                    other => other,
                });
            }
        }
        None
    }

    fn expand_star(&mut self, qualifier: Option<&[String]>, scope: ScopeId) -> Vec<SourceCol> {
        let mut out = Vec::new();
        match qualifier {
            None => {
                for idx in 0..self.scope_sources(scope) {
                    out.extend(
                        self.source_columns(scope, idx)
                            .iter()
                            .filter(|c| !c.system)
                            .cloned(),
                    );
                }
            }
            Some(q) => {
                for s in self.chain(scope) {
                    for idx in 0..self.scope_sources(s) {
                        if self.source_matches(s, idx, q) {
                            return self
                                .source_columns(s, idx)
                                .iter()
                                .filter(|c| !c.system)
                                .cloned()
                                .collect();
                        }
                    }
                }
                self.unresolved(format!("{}.*", q.join(".")));
            }
        }
        out
    }

    /// The columns of FROM item `idx` of `scope`, memoised.
    fn source_columns(&mut self, scope: ScopeId, idx: usize) -> Rc<Vec<SourceCol>> {
        let key = (scope.0, idx);
        if let Some(c) = self.cols.get(&key) {
            return Rc::clone(c);
        }
        if !self.in_progress.insert(key) {
            return Rc::new(Vec::new());
        }
        let kind = self
            .a
            .scopes
            .get(scope.0)
            .and_then(|s| s.sources.get(idx))
            .map(|s| s.kind.clone());
        let cols = match kind {
            Some(SourceKind::Table(t)) => self.table_columns(&t),
            Some(SourceKind::Derived(outputs)) => {
                let mut v = Vec::new();
                for o in &outputs {
                    for r in self.output(o) {
                        v.push(SourceCol {
                            name: r.name.unwrap_or_else(|| "?column?".to_owned()),
                            lineage: r.lineage,
                            system: false,
                        });
                    }
                }
                v
            }
            Some(SourceKind::Function { columns, lineage }) => {
                let l = self.lineage(&lineage);
                let l = match l {
                    ResolvedLineage::Bare(c) => ResolvedLineage::Derived {
                        columns: vec![c],
                        rows: Vec::new(),
                    },
                    other => other,
                };
                let names = columns;
                names
                    .into_iter()
                    .map(|name| SourceCol {
                        name,
                        lineage: l.clone(),
                        system: false,
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        self.in_progress.remove(&key);
        let cols = Rc::new(cols);
        self.cols.insert(key, Rc::clone(&cols));
        cols
    }

    fn table_columns(&mut self, t: &TableName) -> Vec<SourceCol> {
        let Some(rel) = self.table(t) else {
            return Vec::new();
        };
        if rel.kind.is_view() {
            let lineage: Vec<ResolvedLineage> = match self.snap.view_lineage(rel.oid) {
                Some(l) => l.to_vec(),
                None => compute_view_lineage(self.snap, rel.oid, self.depth + 1),
            };
            return rel
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| SourceCol {
                    name: c.name.clone(),
                    lineage: lineage.get(i).cloned().unwrap_or(ResolvedLineage::Unknown),
                    system: false,
                })
                .collect();
        }
        rel.columns
            .iter()
            .map(|c| (c, false))
            .chain(rel.system_columns.iter().map(|c| (c, true)))
            .map(|(c, system)| SourceCol {
                name: c.name.clone(),
                lineage: ResolvedLineage::Bare(column_ref(rel, c)),
                system,
            })
            .collect()
    }
}

/// Several lineages as one value: one stays itself; several become Derived; any Unknown wins.
fn merge(parts: Vec<ResolvedLineage>) -> ResolvedLineage {
    let mut columns: Vec<ColumnRef> = Vec::new();
    let mut rows: Vec<TableRef> = Vec::new();
    let mut single = None;
    let count = parts.len();
    for p in parts {
        match p {
            ResolvedLineage::Unknown => return ResolvedLineage::Unknown,
            ResolvedLineage::Constant => {}
            ResolvedLineage::Bare(c) => {
                if count == 1 {
                    single = Some(ResolvedLineage::Bare(c.clone()));
                }
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
            ResolvedLineage::WholeRow(t) => {
                if count == 1 {
                    single = Some(ResolvedLineage::WholeRow(t.clone()));
                }
                if !rows.contains(&t) {
                    rows.push(t);
                }
            }
            ResolvedLineage::Derived {
                columns: c,
                rows: r,
            } => {
                for x in c {
                    if !columns.contains(&x) {
                        columns.push(x);
                    }
                }
                for x in r {
                    if !rows.contains(&x) {
                        rows.push(x);
                    }
                }
            }
        }
    }
    if let Some(s) = single {
        return s;
    }
    if columns.is_empty() && rows.is_empty() {
        ResolvedLineage::Constant
    } else if columns.len() == 1 && rows.is_empty() && count > 1 {
        // The same column reached twice (e.g. an ambiguous name matching one column via two
        // FROM items of the same table): still exactly that column's value.
        match columns.pop() {
            Some(c) => ResolvedLineage::Bare(c),
            None => ResolvedLineage::Constant,
        }
    } else {
        ResolvedLineage::Derived { columns, rows }
    }
}

fn display_name(c: &ColumnName) -> String {
    if c.qualifier.is_empty() {
        c.name.clone()
    } else {
        format!("{}.{}", c.qualifier.join("."), c.name)
    }
}

#[cfg(test)]
mod tests;
