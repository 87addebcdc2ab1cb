//! `[audit]`: raw keys -> [`TrailOptions`] for the trail writer. Every bad key is one problem
//! naming `audit.<key>` and its value. Key files and the hash-key variable are named here and
//! read when the trail starts, so `trailmask policy` works on a host without the secrets.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawAudit;
use crate::trail::writer::{
    ChainId, Durability, HashKeySource, OnFailure, Parameters, SigningKeySource, TrailOptions,
    DEFAULT_QUEUE_CAPACITY,
};

/// Validated `[audit]` section.
pub type AuditOptions = TrailOptions;

pub const DEFAULT_AUDIT_DIR: &str = "/var/lib/trailmask/trail";
/// A few milliseconds of fsync sharing costs a statement little and cuts fsyncs by orders of magnitude.
pub const DEFAULT_GROUP_COMMIT_MS: u64 = 2;
/// Longer than any sane group commit; a larger value would stall strict statements.
pub const MAX_GROUP_COMMIT_MS: u64 = 1000;
/// 64 MiB: a day of a busy proxy in a handful of files, each compressed in well under a second.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// SPEC: any value >= 4096.
pub const MIN_SEGMENT_MAX_BYTES: u64 = 4096;
pub const DEFAULT_SEGMENT_MAX_AGE_SECS: u64 = 86_400;
/// Five years and a leap day: the retention the regulation asks for.
pub const MIN_RETENTION_DAYS: u64 = 1826;
pub const DEFAULT_RETENTION_DAYS: u64 = MIN_RETENTION_DAYS;
pub const DEFAULT_CHECKPOINT_EVERY_RECORDS: u64 = 1000;
pub const DEFAULT_CHECKPOINT_EVERY_SECS: u64 = 10;
pub const DEFAULT_HASH_KEY_ENV: &str = "TRAILMASK_TRAIL_HASH_KEY";
const SECS_PER_DAY: u64 = 86_400;

pub(super) fn validate(raw: Option<RawAudit>, problems: &mut Vec<String>) -> Option<AuditOptions> {
    let raw = raw?;
    let before = problems.len();
    let mut bad = |key: &str, value: &dyn std::fmt::Debug, why: &str| {
        problems.push(format!("audit.{key} = {value:?} {why}"));
    };

    let dir = raw.dir.unwrap_or_else(|| DEFAULT_AUDIT_DIR.to_owned());
    if dir.trim().is_empty() {
        bad("dir", &dir, "is empty; give the trail directory");
    }

    let chain_text = match raw.chain {
        Some(c) => c,
        None => gethostname::gethostname().to_string_lossy().into_owned(),
    };
    let chain = ChainId::try_new(&chain_text);
    if chain.is_none() {
        bad(
            "chain",
            &chain_text,
            "is not a chain id of 1 to 64 characters from [A-Za-z0-9._-] (the default is the host name)",
        );
    }

    let durability = match raw.durability.as_deref().unwrap_or("strict") {
        "strict" => Some(Durability::Strict),
        "batched" => Some(Durability::Batched),
        "async" => Some(Durability::Async),
        other => {
            bad("durability", &other, "is not one of strict, batched, async");
            None
        }
    };

    let group_commit_ms = raw.group_commit_ms.unwrap_or(DEFAULT_GROUP_COMMIT_MS);
    if group_commit_ms > MAX_GROUP_COMMIT_MS {
        bad(
            "group_commit_ms",
            &group_commit_ms,
            &format!("is above {MAX_GROUP_COMMIT_MS}"),
        );
    }

    let segment_max_bytes = raw.segment_max_bytes.unwrap_or(DEFAULT_SEGMENT_MAX_BYTES);
    if segment_max_bytes < MIN_SEGMENT_MAX_BYTES {
        bad(
            "segment_max_bytes",
            &segment_max_bytes,
            &format!("is below {MIN_SEGMENT_MAX_BYTES}"),
        );
    }

    let segment_max_age_secs = raw
        .segment_max_age_secs
        .unwrap_or(DEFAULT_SEGMENT_MAX_AGE_SECS);
    if segment_max_age_secs == 0 {
        bad("segment_max_age_secs", &0, "must be at least 1");
    }

    let retention_days = raw.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
    let allow_short = raw.allow_short_retention.unwrap_or(false);
    if retention_days < MIN_RETENTION_DAYS && !allow_short {
        bad(
            "retention_days",
            &retention_days,
            &format!("is below {MIN_RETENTION_DAYS} (five years); set audit.allow_short_retention = true to allow it"),
        );
    } else if retention_days == 0 {
        bad("retention_days", &0, "must be at least 1");
    }

    let signing_key = match raw.signing_key {
        Some(p) if !p.trim().is_empty() => Some(PathBuf::from(p)),
        Some(p) => {
            bad(
                "signing_key",
                &p,
                "is empty; give the path of trail-signing.key",
            );
            None
        }
        None => {
            problems.push(
                "audit.signing_key is missing: give the path of trail-signing.key (`trailmask keygen --out DIR` makes one)"
                    .to_owned(),
            );
            None
        }
    };
    let mut bad = |key: &str, value: &dyn std::fmt::Debug, why: &str| {
        problems.push(format!("audit.{key} = {value:?} {why}"));
    };

    let checkpoint_every_records = raw
        .checkpoint_every_records
        .unwrap_or(DEFAULT_CHECKPOINT_EVERY_RECORDS);
    if checkpoint_every_records == 0 {
        bad("checkpoint_every_records", &0, "must be at least 1");
    }
    let checkpoint_every_secs = raw
        .checkpoint_every_secs
        .unwrap_or(DEFAULT_CHECKPOINT_EVERY_SECS);
    if checkpoint_every_secs == 0 {
        bad("checkpoint_every_secs", &0, "must be at least 1");
    }

    let on_failure = match raw.on_failure.as_deref().unwrap_or("block") {
        "block" => Some(OnFailure::Block),
        "allow" => Some(OnFailure::Allow),
        other => {
            bad("on_failure", &other, "is not one of block, allow");
            None
        }
    };

    let parameters = match raw.parameters.as_deref().unwrap_or("hashed") {
        "none" => Some(Parameters::None),
        "hashed" => Some(Parameters::Hashed),
        "clear" => Some(Parameters::Clear),
        other => {
            bad("parameters", &other, "is not one of none, hashed, clear");
            None
        }
    };

    let hash_key_env = raw
        .hash_key_env
        .unwrap_or_else(|| DEFAULT_HASH_KEY_ENV.to_owned());
    if hash_key_env.is_empty() || hash_key_env.contains('=') || hash_key_env.contains('\0') {
        bad(
            "hash_key_env",
            &hash_key_env,
            "is not an environment variable name",
        );
    }

    if problems.len() != before {
        return None;
    }
    Some(TrailOptions {
        dir: PathBuf::from(dir),
        chain: chain?,
        durability: durability?,
        group_commit: Duration::from_millis(group_commit_ms),
        segment_max_bytes,
        segment_max_age: Duration::from_secs(segment_max_age_secs),
        retention: Duration::from_secs(retention_days.saturating_mul(SECS_PER_DAY)),
        signing_key: SigningKeySource::File(signing_key?),
        checkpoint_every_records,
        checkpoint_every: Duration::from_secs(checkpoint_every_secs),
        on_failure: on_failure?,
        parameters: parameters?,
        hash_key: HashKeySource::Env(hash_key_env),
        compress_sealed: raw.compress_sealed.unwrap_or(true),
        queue_capacity: DEFAULT_QUEUE_CAPACITY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawAudit {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn spec_example_validates_with_defaults() {
        let mut problems = Vec::new();
        let o = validate(
            Some(raw(r#"
                dir = "/var/lib/trailmask/trail"
                chain = "booking-db-1"
                durability = "strict"
                group_commit_ms = 2
                segment_max_bytes = 67108864
                segment_max_age_secs = 86400
                retention_days = 1826
                signing_key = "/etc/trailmask/trail-signing.key"
                checkpoint_every_records = 1000
                checkpoint_every_secs = 10
                on_failure = "block"
                parameters = "hashed"
                hash_key_env = "TRAILMASK_TRAIL_HASH_KEY"
            "#)),
            &mut problems,
        )
        .unwrap();
        assert!(problems.is_empty());
        assert_eq!(o.chain.as_str(), "booking-db-1");
        assert_eq!(o.durability, Durability::Strict);
        assert_eq!(o.group_commit, Duration::from_millis(2));
        assert_eq!(o.retention, Duration::from_secs(1826 * 86_400));
        assert!(o.compress_sealed);
    }

    #[test]
    fn every_bad_key_is_one_problem() {
        let mut problems = Vec::new();
        let o = validate(
            Some(raw(r#"
                chain = "bad chain!"
                durability = "fast"
                segment_max_bytes = 100
                retention_days = 30
                on_failure = "maybe"
                parameters = "plain"
                checkpoint_every_records = 0
            "#)),
            &mut problems,
        );
        assert!(o.is_none());
        assert_eq!(problems.len(), 8, "{problems:#?}");
        for key in [
            "audit.chain = \"bad chain!\"",
            "audit.durability = \"fast\"",
            "audit.segment_max_bytes = 100",
            "audit.retention_days = 30",
            "audit.on_failure = \"maybe\"",
            "audit.parameters = \"plain\"",
            "audit.checkpoint_every_records = 0",
            "audit.signing_key is missing",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key}: {problems:#?}"
            );
        }
    }

    #[test]
    fn short_retention_needs_the_switch() {
        let mut problems = Vec::new();
        let o = validate(
            Some(raw(r#"
                signing_key = "k"
                chain = "c"
                retention_days = 7
                allow_short_retention = true
            "#)),
            &mut problems,
        )
        .unwrap();
        assert!(problems.is_empty());
        assert_eq!(o.retention, Duration::from_secs(7 * 86_400));
    }
}
