//! `[policy]`, `[personal_data]` and `[roles]` checks (owned by the masking work).

use super::raw::RawConfig;

/// Validated policy sections. Placeholder until the policy module defines its options type.
#[derive(Debug, Default)]
pub struct PolicyOptions;

pub(super) fn validate(_raw: &RawConfig, _problems: &mut Vec<String>) -> PolicyOptions {
    PolicyOptions
}
