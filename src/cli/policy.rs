//! `trailmask policy --config FILE` (SPEC.md, "Commands"): validates the config and prints the
//! effective role × personal-column matrix. Exit 0, or 2 with every problem listed (the config
//! error carries the list; `main` prints it). Only the policy sections need be present.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::error::Result;
use crate::policy::Policy;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

pub fn run(args: Args) -> Result<u8> {
    let policy = crate::config::load_policy(&args.config)?;
    print!("{}", render(&policy));
    Ok(0)
}

/// The report: settings, the policy hash, roles with their members, personal tables with their subject keys, then
/// the matrix with one row per personal column and one column per role (`clear`, the mask, or
/// `deny`), aligned with spaces.
pub fn render(policy: &Policy) -> String {
    let mut out = String::new();
    let settings = policy.settings();
    let trusted: Vec<String> = settings
        .trusted_functions
        .iter()
        .map(ToString::to_string)
        .collect();
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        "policy: default_role = {}, unparsed = {}, masked_predicates = {}",
        settings.default_role, settings.unparsed, settings.masked_predicates
    );
    let _ = writeln!(
        out,
        "trusted_functions: {}",
        if trusted.is_empty() {
            "(none)".to_owned()
        } else {
            trusted.join(", ")
        }
    );

    // The hash the trail's `config` records carry: lets an auditor tie a trail to this file.
    let _ = writeln!(out, "policy_hash: {}", policy.hash().to_hex());

    let matrix = policy.matrix();
    out.push_str("\nroles:\n");
    let role_width = matrix.roles.iter().map(|r| r.role.len()).max().unwrap_or(0);
    for row in &matrix.roles {
        let what = match (policy.roles().contains_key(&row.role), row.default) {
            (true, false) => format!("members: {}", row.members.join(", ")),
            (true, true) => format!(
                "members: {} (also the default role)",
                row.members.join(", ")
            ),
            (false, _) => format!(
                "default role, no [roles.{}]: every personal column masked",
                row.role
            ),
        };
        let _ = writeln!(out, "  {:role_width$}  {what}", row.role);
    }

    out.push_str("\npersonal data:\n");
    let table_width = policy
        .tables()
        .keys()
        .map(|t| t.to_string().len())
        .max()
        .unwrap_or(0);
    for (name, table) in policy.tables() {
        let _ = writeln!(
            out,
            "  {:table_width$}  subject_key = {}",
            name.to_string(),
            table.subject_key.as_deref().unwrap_or("(none)")
        );
    }

    out.push('\n');
    let mut header = vec!["column".to_owned()];
    header.extend(matrix.roles.iter().map(|r| r.role.clone()));
    let mut rows = vec![header];
    for (i, column) in matrix.columns.iter().enumerate() {
        let mut row = vec![column.clone()];
        row.extend(
            matrix
                .roles
                .iter()
                .map(|r| r.cells.get(i).cloned().unwrap_or_default()),
        );
        rows.push(row);
    }
    let widths: Vec<usize> = (0..=matrix.roles.len())
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if matrix.columns.is_empty() {
        out.push_str("(no personal columns declared)\n");
    }
    out
}
