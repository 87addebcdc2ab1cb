//! `[catalog]` checks: raw section -> [`CatalogOptions`]. The password is read here, once, from
//! the environment variable `password_env` names; a missing variable is a problem naming it
//! (never the value).

use std::time::Duration;

pub use crate::catalog::CatalogOptions;
use crate::catalog::Secret;

use super::raw::RawCatalog;

pub(super) fn validate(
    raw: Option<RawCatalog>,
    problems: &mut Vec<String>,
) -> Option<CatalogOptions> {
    validate_with(raw, problems, |name| std::env::var(name).ok())
}

/// As [`validate`], with the environment lookup passed in so tests need not set variables.
fn validate_with(
    raw: Option<RawCatalog>,
    problems: &mut Vec<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<CatalogOptions> {
    let raw = raw?;
    let before = problems.len();
    if raw.user.trim().is_empty() {
        problems.push("catalog.user is empty; name the login trailmask reads pg_catalog as".into());
    }
    let mut password = Secret::new(String::new());
    if raw.password_env.trim().is_empty() {
        problems.push(
            "catalog.password_env is empty; name the environment variable holding the catalog login's password"
                .into(),
        );
    } else {
        match env(&raw.password_env) {
            Some(p) => password = Secret::new(p),
            None => problems.push(format!(
                "catalog.password_env: environment variable {} is not set (it must hold the password of catalog.user {:?})",
                raw.password_env, raw.user
            )),
        }
    }
    if let Some(db) = &raw.database {
        if db.trim().is_empty() {
            problems.push("catalog.database is empty; leave it out to use the login name".into());
        }
    }
    if raw.refresh_secs == 0 {
        problems
            .push("catalog.refresh_secs = 0 is not allowed; use at least 1 (default 60)".into());
    }
    if problems.len() > before {
        return None;
    }
    Some(CatalogOptions {
        // Filled in from `[upstream]` by the proxy, which validates that section.
        upstream: None,
        user: raw.user,
        password,
        password_env: raw.password_env,
        database: raw.database,
        refresh: Duration::from_secs(raw.refresh_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(env: &str, secs: u64) -> RawCatalog {
        RawCatalog {
            user: "trailmask".into(),
            password_env: env.into(),
            database: None,
            refresh_secs: secs,
        }
    }

    #[test]
    fn reads_the_password_from_the_named_variable() {
        let mut p = Vec::new();
        let o = validate_with(Some(raw("PW", 60)), &mut p, |n| {
            (n == "PW").then(|| "s3cret".to_owned())
        });
        assert!(p.is_empty());
        let o = o.unwrap_or_else(|| panic!("valid"));
        assert_eq!(o.password.expose(), "s3cret");
        assert_eq!(o.refresh, Duration::from_secs(60));
        assert!(!format!("{o:?}").contains("s3cret"));
    }

    #[test]
    fn missing_variable_and_zero_refresh_are_problems() {
        let mut p = Vec::new();
        let o = validate_with(Some(raw("NOPE_PW", 0)), &mut p, |_| None);
        assert!(o.is_none());
        assert_eq!(p.len(), 2);
        assert!(p[0].contains("NOPE_PW"));
        assert!(p[1].contains("refresh_secs"));
    }

    #[test]
    fn absent_section_is_none() {
        let mut p = Vec::new();
        assert!(validate_with(None, &mut p, |_| None).is_none());
        assert!(p.is_empty());
    }
}
