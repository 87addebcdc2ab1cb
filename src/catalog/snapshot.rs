//! The snapshot types: relations (tables, views, …) by OID and by name, their columns, view
//! definitions with each view column mapped to base columns, and roles with the closure of
//! their memberships. Built once per load; immutable afterwards and shared in an `Arc`.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::resolve::{self, ResolvedLineage};
use crate::sql::FunctionName;

/// Names sqlparser reports as function calls that PostgreSQL implements as SQL syntax, not as
/// pg_proc entries; they are built-ins (pg_catalog) by definition.
const SQL_SYNTAX_FUNCTIONS: &[&str] = &[
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "current_user",
    "current_role",
    "session_user",
    "user",
    "current_catalog",
    "current_schema",
    "row",
    "xmlelement",
    "xmlforest",
    "xmlconcat",
    "xmlparse",
    "xmlserialize",
    "xmlroot",
    "xmlpi",
    "xmlexists",
    "normalize",
    "collation",
];

/// A relation's OID (`pg_class.oid`), as RowDescription's table OID names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableOid(pub u32);

/// A column's number in its relation (`pg_attribute.attnum`); negative for system columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttNum(pub i16);

/// A type's OID (`pg_type.oid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeOid(pub u32);

/// A role's OID (`pg_roles.oid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleOid(pub u32);

/// `pg_class.relkind` for the relations the snapshot keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelKind {
    /// `r`
    Table,
    /// `p`
    PartitionedTable,
    /// `v`
    View,
    /// `m`
    MaterializedView,
    /// `f`
    ForeignTable,
    /// Anything else (sequences, composite types …), with the relkind character.
    Other(char),
}

impl RelKind {
    pub fn from_relkind(c: char) -> Self {
        match c {
            'r' => RelKind::Table,
            'p' => RelKind::PartitionedTable,
            'v' => RelKind::View,
            'm' => RelKind::MaterializedView,
            'f' => RelKind::ForeignTable,
            other => RelKind::Other(other),
        }
    }

    /// Whether the relation's columns are computed from a stored definition.
    pub fn is_view(self) -> bool {
        match self {
            RelKind::View => true,
            // A materialized view stores rows computed from its definition: same lineage.
            RelKind::MaterializedView => true,
            RelKind::Table
            | RelKind::PartitionedTable
            | RelKind::ForeignTable
            | RelKind::Other(_) => false,
        }
    }
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub attnum: AttNum,
    pub name: String,
    pub type_oid: TypeOid,
}

/// A table, view or other relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: TableOid,
    pub schema: String,
    pub name: String,
    pub kind: RelKind,
    /// User columns (attnum > 0) in attnum order, dropped ones excluded: what `*` expands to.
    pub columns: Vec<Column>,
    /// System columns (attnum < 0: ctid, xmin …), resolvable by name but not part of `*`.
    pub system_columns: Vec<Column>,
    /// `pg_get_viewdef` for views and materialized views.
    pub view_definition: Option<String>,
    /// For a partition or an inheritance child: the (schema, name) of its topmost ancestor
    /// (first parent at each step, see [`Snapshot::with_parents`]). Its rows are the
    /// ancestor's rows, so the policy treats its columns as the ancestor's.
    pub root: Option<(String, String)>,
}

impl Relation {
    /// A user or system column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .chain(self.system_columns.iter())
            .find(|c| c.name == name)
    }

    /// Position of a user column in `columns` (its index for view lineage).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// The catalog of one database at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The database this describes.
    pub database: String,
    /// When it was loaded (drives scheduled refresh).
    pub loaded_at: Instant,
    /// What `load::DIGEST_SQL` answered just before the load (empty for snapshots built by
    /// hand): a different answer later means the catalog changed.
    pub digest: String,
    /// What `load::VIEWS_DIGEST_SQL` answered just before the load (empty when built by hand):
    /// the cheaper probe restricted sessions make before each statement that reads a view.
    pub views_digest: String,
    relations: HashMap<TableOid, Relation>,
    by_name: HashMap<(String, String), TableOid>,
    /// Role name -> every role it is a member of, directly or through other roles (itself
    /// excluded).
    member_of: HashMap<String, BTreeSet<String>>,
    role_oids: HashMap<String, RoleOid>,
    /// View OID -> lineage of each of its columns (same order as `Relation::columns`).
    view_lineage: HashMap<TableOid, Vec<ResolvedLineage>>,
    /// Schema -> names of the functions (pg_proc, any kind) defined in it.
    functions: HashMap<String, BTreeSet<String>>,
}

/// Deepest chain of views over views that view lineage follows; beyond it, columns are Unknown.
pub(crate) const MAX_VIEW_DEPTH: usize = 8;

// === impl Snapshot ===

impl Snapshot {
    /// Builds a snapshot: indexes relations, closes role membership (`memberships` are
    /// `(member, role)` name pairs from pg_auth_members) and computes view lineage by analysing
    /// each view's definition with the statement analyser.
    pub fn new(
        database: impl Into<String>,
        relations: Vec<Relation>,
        roles: Vec<(RoleOid, String)>,
        memberships: Vec<(String, String)>,
    ) -> Self {
        let mut by_name = HashMap::new();
        let mut rels = HashMap::new();
        for r in relations {
            by_name.insert((r.schema.clone(), r.name.clone()), r.oid);
            rels.insert(r.oid, r);
        }
        let mut direct: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (member, role) in memberships {
            direct.entry(member).or_default().insert(role);
        }
        let mut member_of = HashMap::new();
        let names: BTreeSet<String> = roles
            .iter()
            .map(|(_, n)| n.clone())
            .chain(direct.keys().cloned())
            .collect();
        for name in names {
            // Breadth-first over the membership graph; the visited set makes cycles harmless.
            let mut seen = BTreeSet::new();
            let mut todo: Vec<String> = direct.get(&name).into_iter().flatten().cloned().collect();
            while let Some(r) = todo.pop() {
                if r != name && seen.insert(r.clone()) {
                    todo.extend(direct.get(&r).into_iter().flatten().cloned());
                }
            }
            member_of.insert(name, seen);
        }
        let mut snap = Snapshot {
            database: database.into(),
            loaded_at: Instant::now(),
            digest: String::new(),
            views_digest: String::new(),
            relations: rels,
            by_name,
            member_of,
            role_oids: roles.into_iter().map(|(o, n)| (n, o)).collect(),
            view_lineage: HashMap::new(),
            functions: HashMap::new(),
        };
        let views: Vec<TableOid> = snap
            .relations
            .values()
            .filter(|r| r.kind.is_view())
            .map(|r| r.oid)
            .collect();
        let mut lineage = HashMap::new();
        for v in views {
            lineage.insert(v, resolve::compute_view_lineage(&snap, v, 0));
        }
        snap.view_lineage = lineage;
        snap
    }

    /// Records partitions and inheritance children: `(child, parent)` pairs from pg_inherits,
    /// first parent (lowest `inhseqno`) only. Each child's [`Relation::root`] becomes its
    /// topmost ancestor; cycles (impossible in PostgreSQL) stop the walk.
    pub fn with_parents(mut self, parents: impl IntoIterator<Item = (TableOid, TableOid)>) -> Self {
        let parent: HashMap<TableOid, TableOid> = parents.into_iter().collect();
        let mut roots = Vec::new();
        for &child in parent.keys() {
            let mut top = child;
            let mut steps = 0;
            while let Some(&p) = parent.get(&top) {
                top = p;
                steps += 1;
                if steps > parent.len() {
                    break;
                }
            }
            if let Some(r) = self.relations.get(&top) {
                roots.push((child, (r.schema.clone(), r.name.clone())));
            }
        }
        for (child, root) in roots {
            if let Some(rel) = self.relations.get_mut(&child) {
                rel.root = Some(root);
            }
        }
        self
    }

    /// Adds the functions (schema, name) found in pg_proc.
    pub fn with_functions(mut self, functions: impl IntoIterator<Item = (String, String)>) -> Self {
        for (schema, name) in functions {
            self.functions.entry(schema).or_default().insert(name);
        }
        self
    }

    /// The schema a function call resolves to, as PostgreSQL would look it up: a qualified
    /// name where that schema has it; otherwise pg_catalog first (unless the path names it),
    /// then `search_path`. SQL syntax that sqlparser reports as a call (`coalesce`,
    /// `current_user` …) is pg_catalog. `None`: no such function (fail closed: not trusted).
    pub fn function_schema(&self, f: &FunctionName, search_path: &[String]) -> Option<String> {
        let has = |schema: &str| {
            self.functions
                .get(schema)
                .is_some_and(|names| names.contains(&f.name))
        };
        if let Some(s) = &f.schema {
            return has(s).then(|| s.clone());
        }
        if SQL_SYNTAX_FUNCTIONS.contains(&f.name.as_str()) {
            return Some("pg_catalog".to_owned());
        }
        if !search_path.iter().any(|s| s == "pg_catalog") && has("pg_catalog") {
            return Some("pg_catalog".to_owned());
        }
        search_path.iter().find(|s| has(s)).cloned()
    }

    /// Whether pg_proc has a function `name` in `schema`.
    pub fn has_function(&self, schema: &str, name: &str) -> bool {
        self.functions
            .get(schema)
            .is_some_and(|names| names.contains(name))
    }

    /// Every schema whose pg_proc has a function `name`, in name order.
    pub fn function_schemas<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let mut schemas: Vec<&str> = self
            .functions
            .iter()
            .filter(|(_, names)| names.contains(name))
            .map(|(s, _)| s.as_str())
            .collect();
        schemas.sort_unstable();
        schemas.into_iter()
    }

    /// Whether an unqualified, unquoted call of `name` is SQL syntax PostgreSQL's grammar
    /// turns into a fixed built-in (`coalesce`, `current_user`, `row` …) rather than a
    /// function looked up through the search path.
    pub fn is_sql_syntax_function(name: &str) -> bool {
        SQL_SYNTAX_FUNCTIONS.contains(&name)
    }

    pub fn relation(&self, oid: TableOid) -> Option<&Relation> {
        self.relations.get(&oid)
    }

    pub fn relations(&self) -> impl Iterator<Item = &Relation> {
        self.relations.values()
    }

    /// A relation by exact schema and name.
    pub fn by_name(&self, schema: &str, name: &str) -> Option<&Relation> {
        self.by_name
            .get(&(schema.to_owned(), name.to_owned()))
            .and_then(|o| self.relations.get(o))
    }

    /// Looks a relation up as PostgreSQL would: a schema-qualified name directly; otherwise
    /// `pg_catalog` first (unless the path names it), then each schema of `search_path`.
    /// `$user` entries must already be replaced by the caller (the session knows its user).
    pub fn lookup(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<&Relation> {
        if let Some(s) = schema {
            return self.by_name(s, name);
        }
        let explicit_catalog = search_path.iter().any(|s| s == "pg_catalog");
        if !explicit_catalog {
            if let Some(r) = self.by_name("pg_catalog", name) {
                return Some(r);
            }
        }
        search_path.iter().find_map(|s| self.by_name(s, name))
    }

    /// The column a RowDescription field names, with its lineage: a base column is `Bare`,
    /// a view's column is what the view computes it from. `None` for OID 0 or unknown fields.
    pub fn field_origin(&self, table: TableOid, attnum: AttNum) -> Option<ResolvedLineage> {
        let rel = self.relations.get(&table)?;
        if rel.kind.is_view() {
            let idx = rel.columns.iter().position(|c| c.attnum == attnum)?;
            return self.view_lineage.get(&table)?.get(idx).cloned();
        }
        let col = rel
            .columns
            .iter()
            .chain(rel.system_columns.iter())
            .find(|c| c.attnum == attnum)?;
        Some(ResolvedLineage::Bare(resolve::column_ref(rel, col)))
    }

    /// Lineage of each column of a view, in column order (None if not a view).
    pub fn view_lineage(&self, view: TableOid) -> Option<&[ResolvedLineage]> {
        self.view_lineage.get(&view).map(Vec::as_slice)
    }

    /// Every role `role` is a member of, directly or indirectly (not including itself).
    pub fn member_of(&self, role: &str) -> BTreeSet<String> {
        self.member_of.get(role).cloned().unwrap_or_default()
    }

    /// Whether `login` is `role` or a member of it, recursively.
    pub fn is_member(&self, login: &str, role: &str) -> bool {
        login == role || self.member_of.get(login).is_some_and(|s| s.contains(role))
    }

    pub fn role_oid(&self, role: &str) -> Option<RoleOid> {
        self.role_oids.get(role).copied()
    }
}
