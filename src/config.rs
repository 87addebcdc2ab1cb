//! Configuration: the TOML file becomes a validated [`Config`] holding each module's own options
//! type. Every problem in the file is collected first and reported at once, one line per key or
//! value at fault (exit 2). No other module imports this one.

mod audit;
mod catalog;
mod policy;
pub mod raw;
mod validate;

use std::path::Path;

pub use policy::PolicyOptions;
pub use validate::Config;

use crate::error::{Error, Result};

/// Reads and validates the file at `path`, listing every problem in the returned error.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read config file {}: {e}", path.display())))?;
    parse(&text, path)
}

/// Validates config text; `path` only names the file in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let raw = parse_raw(text, path)?;
    validate::validate(raw).map_err(|problems| listed(path, problems))
}

/// Reads the file and validates only what `trailmask policy` needs: every key must still be
/// known, but files named by other sections (TLS certificates, keys) need not exist here, so an
/// auditor can review the policy on another machine.
pub fn load_policy(path: &Path) -> Result<PolicyOptions> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read config file {}: {e}", path.display())))?;
    let raw = parse_raw(&text, path)?;
    let mut problems = Vec::new();
    let policy = policy::validate(&raw, &mut problems);
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(listed(path, problems))
    }
}

fn parse_raw(text: &str, path: &Path) -> Result<raw::RawConfig> {
    toml::from_str(text)
        .map_err(|e| Error::config(format!("{}: {}", path.display(), one_line(&e.to_string()))))
}

fn listed(path: &Path, problems: Vec<String>) -> Error {
    let mut msg = format!("{} has {} problem(s):", path.display(), problems.len());
    for p in problems {
        msg.push_str("\n  - ");
        msg.push_str(&p);
    }
    Error::config(msg)
}

/// toml's messages span several lines with a source excerpt; keep them readable in one block.
fn one_line(s: &str) -> String {
    s.trim().replace('\n', "\n  ")
}
