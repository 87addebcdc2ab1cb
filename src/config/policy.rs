//! `[policy]`, `[personal_data]` and `[roles]` checks: every key is read, every problem recorded
//! as one sentence naming the key and the value at fault, and the valid parts compiled into a
//! [`Policy`]. The caller discards that policy when any problem was recorded.
//!
//! Keys are written as in TOML (`personal_data."public.guests".columns.phone`); array entries
//! are counted from 0 (`roles.front_desk.clear[0]` is the first entry).

use std::collections::{BTreeMap, BTreeSet};

use super::raw::{RawConfig, RawPersonalTable, RawPolicy, RawRole};
use crate::mask::Mask;
use crate::policy::{
    check_identifier, FunctionName, MaskedPredicates, PersonalTable, Policy, RoleDef, Selector,
    Settings, TableName, Unparsed, DEFAULT_DEFAULT_ROLE, DEFAULT_MASKED_PREDICATES,
    DEFAULT_UNPARSED,
};

/// The validated policy sections.
pub type PolicyOptions = Policy;

pub(super) fn validate(raw: &RawConfig, problems: &mut Vec<String>) -> PolicyOptions {
    let settings = settings(&raw.policy, problems);
    let tables = tables(&raw.personal_data, problems);
    let roles = roles(&raw.roles, &tables, problems);
    Policy::new(settings, tables, roles)
}

/// A TOML key part: bare when it can be, quoted otherwise.
fn key(part: &str) -> String {
    let bare = !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        part.to_owned()
    } else {
        format!("{part:?}")
    }
}

fn settings(raw: &RawPolicy, problems: &mut Vec<String>) -> Settings {
    let default_role = match raw.default_role.as_deref() {
        None => DEFAULT_DEFAULT_ROLE.to_owned(),
        Some("") => {
            problems.push(
                "policy.default_role = \"\" is empty; name the role of logins no [roles.*] matches"
                    .to_owned(),
            );
            DEFAULT_DEFAULT_ROLE.to_owned()
        }
        Some(name) => name.to_owned(),
    };
    let unparsed = match raw.unparsed.as_deref() {
        None => DEFAULT_UNPARSED,
        Some(v) => v.parse::<Unparsed>().unwrap_or_else(|()| {
            problems.push(format!(
                "policy.unparsed = {v:?} is not one of \"deny\", \"allow\""
            ));
            DEFAULT_UNPARSED
        }),
    };
    let masked_predicates = match raw.masked_predicates.as_deref() {
        None => DEFAULT_MASKED_PREDICATES,
        Some(v) => v.parse::<MaskedPredicates>().unwrap_or_else(|()| {
            problems.push(format!(
                "policy.masked_predicates = {v:?} is not one of \"allow\", \"equality\", \"deny\""
            ));
            DEFAULT_MASKED_PREDICATES
        }),
    };
    let mut trusted_functions = BTreeSet::new();
    for (i, f) in raw.trusted_functions.iter().enumerate() {
        match FunctionName::parse(f) {
            Ok(name) => {
                trusted_functions.insert(name);
            }
            Err(e) => problems.push(format!("policy.trusted_functions[{i}] = {f:?} {e}")),
        }
    }
    Settings {
        default_role,
        unparsed,
        masked_predicates,
        trusted_functions,
    }
}

fn tables(
    raw: &BTreeMap<String, RawPersonalTable>,
    problems: &mut Vec<String>,
) -> BTreeMap<TableName, PersonalTable> {
    let mut tables = BTreeMap::new();
    for (name, t) in raw {
        let at = format!("personal_data.{}", key(name));
        let table = match TableName::parse(name) {
            Ok(table) => Some(table),
            Err(e) => {
                problems.push(format!("{at}: the table name {name:?} {e}"));
                None
            }
        };
        let subject_key = match t.subject_key.as_deref() {
            None => None,
            Some(k) => match check_identifier(k) {
                Ok(()) => Some(k.to_owned()),
                Err(e) => {
                    problems.push(format!("{at}.subject_key = {k:?} {e}"));
                    None
                }
            },
        };
        let mut columns = BTreeMap::new();
        for (column, mask) in &t.columns {
            let at = format!("{at}.columns.{}", key(column));
            if let Err(e) = check_identifier(column) {
                problems.push(format!("{at}: the column name {column:?} {e}"));
                continue;
            }
            match mask.parse::<Mask>() {
                Ok(mask) => {
                    columns.insert(column.clone(), mask);
                }
                Err(e) => {
                    problems.push(format!("{at} = {mask:?}: {e}"));
                    // Still declared, so `clear`/`deny` entries naming it are not reported too;
                    // the policy is discarded anyway, and redact is the safe stand-in.
                    columns.insert(column.clone(), Mask::Redact);
                }
            }
        }
        if let Some(table) = table {
            tables.insert(
                table,
                PersonalTable {
                    subject_key,
                    columns,
                },
            );
        }
    }
    tables
}

fn roles(
    raw: &BTreeMap<String, RawRole>,
    tables: &BTreeMap<TableName, PersonalTable>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, RoleDef> {
    let mut roles = BTreeMap::new();
    for (name, r) in raw {
        let at = format!("roles.{}", key(name));
        if name.trim().is_empty() {
            problems.push(format!("{at}: a role name must not be empty"));
            continue;
        }
        if r.members.is_empty() {
            problems.push(format!(
                "{at}.members is empty: list the PostgreSQL roles whose members get role {name:?}"
            ));
        }
        let mut members = BTreeSet::new();
        for (i, m) in r.members.iter().enumerate() {
            if m.trim().is_empty() {
                problems.push(format!("{at}.members[{i}] = {m:?} is not a role name"));
            } else {
                members.insert(m.clone());
            }
        }
        let clear = selectors(&r.clear, &format!("{at}.clear"), tables, problems);
        let deny = selectors(&r.deny, &format!("{at}.deny"), tables, problems);
        roles.insert(
            name.clone(),
            RoleDef {
                members,
                clear,
                deny,
            },
        );
    }
    roles
}

/// Parses a `clear`/`deny` list, checking each entry names declared personal data.
fn selectors(
    raw: &[String],
    at: &str,
    tables: &BTreeMap<TableName, PersonalTable>,
    problems: &mut Vec<String>,
) -> Vec<Selector> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let at = format!("{at}[{i}] = {s:?}");
        let selector = match Selector::parse(s) {
            Ok(selector) => selector,
            Err(e) => {
                problems.push(format!("{at} {e}"));
                continue;
            }
        };
        let problem = match &selector {
            Selector::All => None,
            Selector::Table(table) => (!tables.contains_key(table)).then(|| {
                format!("{at} names table {table}, which no [personal_data] table declares")
            }),
            Selector::Column(column) => match tables.get(column.table()) {
                None => Some(format!(
                    "{at} names table {}, which no [personal_data] table declares",
                    column.table()
                )),
                Some(t) if !t.columns.contains_key(column.column()) => Some(format!(
                    "{at} names column {:?}, which personal_data.{} does not declare \
                     (it declares: {})",
                    column.column(),
                    key(&column.table().to_string()),
                    t.columns.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
                Some(_) => None,
            },
        };
        match problem {
            Some(p) => problems.push(p),
            None => out.push(selector),
        }
    }
    out
}

#[cfg(test)]
mod tests;
