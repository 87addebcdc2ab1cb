//! TEMPORARY interface stub so the session compiles; replaced by the real module.
use crate::catalog::{AttNum, Resolved, ResolvedLineage, Snapshot, TableOid};
use crate::mask::FieldAction;
use crate::policy::{Policy, RoleSet};
use crate::sql::Analysis;

pub struct Refusal {
    pub rule: &'static str,
    pub column: Option<String>,
    pub message: String,
}
pub enum Verdict {
    Allow { masked: Vec<String> },
    Deny(Refusal),
}
pub const RULES: &[&str] = &["unparsed"];
pub fn decide(
    _policy: &Policy,
    _roles: &RoleSet,
    _analysis: &Analysis,
    _resolved: &Resolved,
    _snapshot: &Snapshot,
    _search_path: &[String],
) -> Verdict {
    Verdict::Allow { masked: Vec::new() }
}
pub fn touches_personal(_roles: &RoleSet, _resolved: &Resolved) -> bool {
    true
}
pub fn field_action(
    _roles: &RoleSet,
    _snapshot: &Snapshot,
    _origin: (TableOid, AttNum),
    _output: Option<&ResolvedLineage>,
    _touches_personal: bool,
) -> FieldAction {
    FieldAction::Redact
}
