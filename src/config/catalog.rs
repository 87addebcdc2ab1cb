//! `[catalog]` checks (owned by the catalog work).

use super::raw::RawCatalog;

/// Validated `[catalog]` section. Placeholder until the catalog module defines its options type.
pub type CatalogOptions = RawCatalog;

pub(super) fn validate(
    raw: Option<RawCatalog>,
    _problems: &mut Vec<String>,
) -> Option<CatalogOptions> {
    raw
}
