//! Raw config -> typed options for each module. Every key and value is checked and each problem
//! is recorded as one sentence naming the key and value; the caller fails once with the list.

use super::audit::{self, AuditOptions};
use super::catalog::{self, CatalogOptions};
use super::policy::{self, PolicyOptions};
use super::raw::RawConfig;

/// The validated configuration: one options value per module.
#[derive(Debug)]
pub struct Config {
    pub audit: Option<AuditOptions>,
    pub catalog: Option<CatalogOptions>,
    pub policy: PolicyOptions,
}

pub(super) fn validate(raw: RawConfig) -> Result<Config, Vec<String>> {
    let mut problems = Vec::new();
    let policy = policy::validate(&raw, &mut problems);
    let audit = audit::validate(raw.audit, &mut problems);
    let catalog = catalog::validate(raw.catalog, &mut problems);
    if problems.is_empty() {
        Ok(Config {
            audit,
            catalog,
            policy,
        })
    } else {
        Err(problems)
    }
}
