//! `[audit]` and `[catalog]`-independent checks of the trail settings (owned by the trail work).

use super::raw::RawAudit;

/// Validated `[audit]` section. Placeholder until the trail writer defines its options type.
pub type AuditOptions = RawAudit;

pub(super) fn validate(raw: Option<RawAudit>, _problems: &mut Vec<String>) -> Option<AuditOptions> {
    raw
}
