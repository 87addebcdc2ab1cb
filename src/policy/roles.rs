//! Login -> effective roles. A login is handed in as the set of PostgreSQL roles it belongs to
//! (itself included; recursive membership is the catalog's job). Every `[roles.*]` table with a
//! member in that set applies; the login gets the union of their `clear` and the union of their
//! `deny`, and deny wins. A login no table matches gets `policy.default_role`; if that name has
//! no `[roles.*]` table, it sees every personal column masked. Personal columns nobody lists in
//! `clear` are masked: masked by default.

use std::collections::BTreeMap;
use std::fmt;

use super::{Policy, RoleDef, TableName};
use crate::mask::Mask;

/// Member name matching every login.
pub const ANY_MEMBER: &str = "*";

/// What one effective role set may do with one personal column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnAccess {
    /// Listed in `clear` (and in no `deny`): the value passes unchanged.
    Clear,
    /// The default: the value is replaced by this mask wherever it reaches the client.
    Masked(Mask),
    /// Listed in `deny`: any statement that uses the column is refused.
    Denied,
}

/// The effective roles of one login, with the access to every personal column resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSet {
    /// trailmask roles that matched, sorted; the default role alone when none matched.
    names: Vec<String>,
    /// Whether `names` is the default role because nothing matched.
    default: bool,
    /// table -> column -> access, for every personal column.
    access: BTreeMap<TableName, BTreeMap<String, ColumnAccess>>,
}

// === impl ColumnAccess ===

impl fmt::Display for ColumnAccess {
    /// `clear`, the mask's config name, or `deny`: the cells of the policy matrix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnAccess::Clear => f.write_str("clear"),
            ColumnAccess::Masked(mask) => write!(f, "{mask}"),
            ColumnAccess::Denied => f.write_str("deny"),
        }
    }
}

// === impl RoleSet ===

impl RoleSet {
    /// The trailmask roles in effect (the `role` of trail records and metrics).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One label for metrics and the trail: the role names joined by `+`.
    pub fn label(&self) -> String {
        self.names.join("+")
    }

    /// Whether no `[roles.*]` matched and `policy.default_role` applies.
    pub fn is_default(&self) -> bool {
        self.default
    }

    /// Access to `table.column`; `None` when the column is not personal (it passes unchanged).
    pub fn access(&self, table: &TableName, column: &str) -> Option<ColumnAccess> {
        self.access.get(table)?.get(column).copied()
    }

    /// Whether `table` has personal columns at all.
    pub fn is_personal_table(&self, table: &TableName) -> bool {
        self.access.contains_key(table)
    }

    /// Every personal column and its access, sorted by table then column.
    pub fn columns(&self) -> impl Iterator<Item = (&TableName, &str, ColumnAccess)> {
        self.access.iter().flat_map(|(table, cols)| {
            cols.iter()
                .map(move |(column, access)| (table, column.as_str(), *access))
        })
    }

    /// Whether any personal column is masked for this login: such a login is held to the
    /// masking rules (`policy.unparsed`, functions, catalog views).
    pub fn has_masked(&self) -> bool {
        self.columns()
            .any(|(_, _, a)| matches!(a, ColumnAccess::Masked(_)))
    }

    /// Whether any personal column is denied to this login.
    pub fn has_denied(&self) -> bool {
        self.columns().any(|(_, _, a)| a == ColumnAccess::Denied)
    }
}

// === impl Policy ===

impl Policy {
    /// The effective roles of a login that belongs to `pg_roles` (PostgreSQL role names, the
    /// login itself included).
    pub fn role_set<'a>(&self, pg_roles: impl IntoIterator<Item = &'a str>) -> RoleSet {
        let pg_roles: Vec<&str> = pg_roles.into_iter().collect();
        let matched: Vec<String> = self
            .roles
            .iter()
            .filter(|(_, def)| {
                def.members
                    .iter()
                    .any(|m| m == ANY_MEMBER || pg_roles.contains(&m.as_str()))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if matched.is_empty() {
            let mut set = self.role_set_of(std::slice::from_ref(&self.settings.default_role));
            set.default = true;
            set
        } else {
            self.role_set_of(&matched)
        }
    }

    /// The access of the union of the named trailmask roles; a name without a `[roles.*]`
    /// table contributes nothing (so alone it sees everything masked).
    pub(super) fn role_set_of(&self, names: &[String]) -> RoleSet {
        let defs: Vec<&RoleDef> = names.iter().filter_map(|n| self.roles.get(n)).collect();
        let access = self
            .tables
            .iter()
            .map(|(table, t)| {
                let cols = t
                    .columns
                    .iter()
                    .map(|(column, mask)| {
                        let denied = defs
                            .iter()
                            .any(|d| d.deny.iter().any(|s| s.selects(table, column)));
                        let clear = defs
                            .iter()
                            .any(|d| d.clear.iter().any(|s| s.selects(table, column)));
                        let access = if denied {
                            ColumnAccess::Denied
                        } else if clear {
                            ColumnAccess::Clear
                        } else {
                            ColumnAccess::Masked(*mask)
                        };
                        (column.clone(), access)
                    })
                    .collect();
                (table.clone(), cols)
            })
            .collect();
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        RoleSet {
            names,
            default: false,
            access,
        }
    }
}
