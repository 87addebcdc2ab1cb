//! Who sees what: the compiled form of `[personal_data]`, `[roles]` and `[policy]` (SPEC.md,
//! "Configuration" and "Masking — what must hold"). Pure: no I/O.
//!
//! [`Policy`] holds the personal tables with each column's [`Mask`] and subject key, the
//! trailmask roles with their members, `clear` and `deny` lists, and the `[policy]` settings.
//! [`roles`] turns a login's PostgreSQL role memberships into its effective [`RoleSet`]: for
//! every personal column, [`ColumnAccess::Clear`], [`ColumnAccess::Masked`] or
//! [`ColumnAccess::Denied`]. [`Matrix`] is the role × column table that `trailmask policy` prints
//! and the trail's `config` record stores.
//!
//! Checking the config file (unknown masks, references to undeclared columns, bad values) is
//! `config::policy`'s job; this module's constructors take values that are already typed.
//! Deciding a statement (`decide`) needs the SQL analysis and is built on top of this.

pub mod decide;
mod error;
mod matrix;
pub mod roles;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::mask::Mask;

pub use error::NameError;
pub use matrix::{Matrix, MatrixRow};
pub use roles::{ColumnAccess, RoleSet};

/// `policy.default_role` when the key is absent.
pub const DEFAULT_DEFAULT_ROLE: &str = "restricted";
/// `policy.unparsed` when absent: refusing what we cannot read is the only safe default.
pub const DEFAULT_UNPARSED: Unparsed = Unparsed::Deny;
/// `policy.masked_predicates` when absent: point look-ups work, nothing leaks through ordering.
pub const DEFAULT_MASKED_PREDICATES: MaskedPredicates = MaskedPredicates::Equality;
/// PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated by the server, so a longer
/// name in the config could never match.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// `policy.unparsed`: what a role with any masked column gets for SQL the parser cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unparsed {
    Deny,
    Allow,
}

/// `policy.masked_predicates`: where a masked column may appear in a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskedPredicates {
    /// Anywhere.
    Allow,
    /// Only as the bare column in `col = v`, `col IN (…)`, `col IS [NOT] NULL`.
    Equality,
    /// Nowhere.
    Deny,
}

/// A table as `schema.table`, each part a PostgreSQL identifier as stored in `pg_catalog`
/// (lower case unless the table was created with a quoted name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    schema: String,
    name: String,
}

/// A column as `schema.table.column`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnRef {
    table: TableName,
    column: String,
}

/// A function as `schema.function` (for `policy.trusted_functions`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionName {
    schema: String,
    name: String,
}

/// One entry of a role's `clear` or `deny` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `*`: every personal column.
    All,
    /// `schema.table.*`: every personal column of one table.
    Table(TableName),
    /// `schema.table.column`.
    Column(ColumnRef),
}

/// One `[personal_data."schema.table"]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalTable {
    /// Column identifying the data subject; need not be personal itself (often `id`).
    pub subject_key: Option<String>,
    /// Personal column -> its mask.
    pub columns: BTreeMap<String, Mask>,
}

/// One `[roles.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleDef {
    /// PostgreSQL roles whose members get this role; `*` matches every login.
    pub members: BTreeSet<String>,
    pub clear: Vec<Selector>,
    pub deny: Vec<Selector>,
}

/// The `[policy]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub default_role: String,
    pub unparsed: Unparsed,
    pub masked_predicates: MaskedPredicates,
    pub trusted_functions: BTreeSet<FunctionName>,
}

/// The whole compiled policy. Immutable once built; a reload builds a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    settings: Settings,
    tables: BTreeMap<TableName, PersonalTable>,
    roles: BTreeMap<String, RoleDef>,
}

// === impl Unparsed / MaskedPredicates ===

impl FromStr for Unparsed {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "deny" => Ok(Unparsed::Deny),
            "allow" => Ok(Unparsed::Allow),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Unparsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unparsed::Deny => "deny",
            Unparsed::Allow => "allow",
        })
    }
}

impl FromStr for MaskedPredicates {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "allow" => Ok(MaskedPredicates::Allow),
            "equality" => Ok(MaskedPredicates::Equality),
            "deny" => Ok(MaskedPredicates::Deny),
            _ => Err(()),
        }
    }
}

impl fmt::Display for MaskedPredicates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaskedPredicates::Allow => "allow",
            MaskedPredicates::Equality => "equality",
            MaskedPredicates::Deny => "deny",
        })
    }
}

// === names ===

/// Checks one part of a dotted name.
pub fn check_identifier(part: &str) -> Result<(), NameError> {
    if part.is_empty() {
        return Err(NameError::EmptyPart);
    }
    if part.len() > MAX_IDENTIFIER_BYTES {
        return Err(NameError::TooLong(part.to_owned()));
    }
    if part
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '.' || c == '*')
    {
        return Err(NameError::BadCharacter(part.to_owned()));
    }
    Ok(())
}

/// Splits `s` into exactly `n` checked dot-separated parts.
fn split_parts<const N: usize>(s: &str, shape: &'static str) -> Result<[String; N], NameError> {
    let parts: Vec<&str> = s.split('.').collect();
    let parts: [&str; N] = parts.try_into().map_err(|_| NameError::Shape { shape })?;
    for p in parts {
        check_identifier(p)?;
    }
    Ok(parts.map(str::to_owned))
}

impl TableName {
    pub fn new(schema: &str, name: &str) -> Result<Self, NameError> {
        check_identifier(schema)?;
        check_identifier(name)?;
        Ok(TableName {
            schema: schema.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Parses `schema.table`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let [schema, name] = split_parts(s, "schema.table")?;
        Ok(TableName { schema, name })
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

impl ColumnRef {
    pub fn new(table: TableName, column: &str) -> Result<Self, NameError> {
        check_identifier(column)?;
        Ok(ColumnRef {
            table,
            column: column.to_owned(),
        })
    }

    /// Parses `schema.table.column`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let [schema, name, column] = split_parts(s, "schema.table.column")?;
        Ok(ColumnRef {
            table: TableName { schema, name },
            column,
        })
    }

    pub fn table(&self) -> &TableName {
        &self.table
    }

    pub fn column(&self) -> &str {
        &self.column
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

impl FunctionName {
    /// Parses `schema.function`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let [schema, name] = split_parts(s, "schema.function")?;
        Ok(FunctionName { schema, name })
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

impl Selector {
    /// Parses `*`, `schema.table.*` or `schema.table.column`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let parsed = match s.strip_suffix(".*") {
            _ if s == "*" => return Ok(Selector::All),
            Some(table) => TableName::parse(table).map(Selector::Table),
            None => ColumnRef::parse(s).map(Selector::Column),
        };
        parsed.map_err(|e| match e {
            NameError::Shape { .. } => NameError::Shape {
                shape: "*, schema.table.* or schema.table.column",
            },
            other @ (NameError::EmptyPart | NameError::TooLong(_) | NameError::BadCharacter(_)) => {
                other
            }
        })
    }

    /// Whether this entry covers `column` of `table`.
    pub fn selects(&self, table: &TableName, column: &str) -> bool {
        match self {
            Selector::All => true,
            Selector::Table(t) => t == table,
            Selector::Column(c) => &c.table == table && c.column == column,
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::All => f.write_str("*"),
            Selector::Table(t) => write!(f, "{t}.*"),
            Selector::Column(c) => write!(f, "{c}"),
        }
    }
}

// === impl Settings ===

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_role: DEFAULT_DEFAULT_ROLE.to_owned(),
            unparsed: DEFAULT_UNPARSED,
            masked_predicates: DEFAULT_MASKED_PREDICATES,
            trusted_functions: BTreeSet::new(),
        }
    }
}

// === impl Policy ===

impl Policy {
    /// Builds a policy from checked parts. Selectors naming columns that no personal table
    /// declares select nothing (the config check reports them before this is called).
    pub fn new(
        settings: Settings,
        tables: BTreeMap<TableName, PersonalTable>,
        roles: BTreeMap<String, RoleDef>,
    ) -> Policy {
        Policy {
            settings,
            tables,
            roles,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn default_role(&self) -> &str {
        &self.settings.default_role
    }

    pub fn unparsed(&self) -> Unparsed {
        self.settings.unparsed
    }

    pub fn masked_predicates(&self) -> MaskedPredicates {
        self.settings.masked_predicates
    }

    /// Whether masked roles may call `schema.function` (functions outside `pg_catalog`).
    pub fn is_trusted_function(&self, schema: &str, function: &str) -> bool {
        self.settings
            .trusted_functions
            .iter()
            .any(|f| f.schema == schema && f.name == function)
    }

    pub fn tables(&self) -> &BTreeMap<TableName, PersonalTable> {
        &self.tables
    }

    pub fn roles(&self) -> &BTreeMap<String, RoleDef> {
        &self.roles
    }

    pub fn personal_table(&self, table: &TableName) -> Option<&PersonalTable> {
        self.tables.get(table)
    }

    /// The mask of a personal column; `None` when the column is not personal.
    pub fn personal_mask(&self, table: &TableName, column: &str) -> Option<Mask> {
        self.tables.get(table)?.columns.get(column).copied()
    }

    /// Every personal column with its mask, sorted by table then column.
    pub fn personal_columns(&self) -> impl Iterator<Item = (ColumnRef, Mask)> + '_ {
        self.tables.iter().flat_map(|(table, t)| {
            t.columns.iter().map(move |(column, mask)| {
                (
                    ColumnRef {
                        table: table.clone(),
                        column: column.clone(),
                    },
                    *mask,
                )
            })
        })
    }

    /// Every role a login can end up with: the configured roles and the default role. These
    /// are the `role` label values of the metrics.
    pub fn role_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.roles.keys().cloned().collect();
        names.insert(self.settings.default_role.clone());
        names.into_iter().collect()
    }
}
