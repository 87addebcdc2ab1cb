//! The role × personal-column matrix that `trailmask policy` prints and the trail's `config`
//! record stores, and the policy hash (`config.policy_hash`) over a canonical JSON form of the
//! effective policy.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ColumnRef, MaskedPredicates, Policy, Unparsed};

/// The role × personal-column matrix: what each configured role (and the default role) sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    /// Every personal column, `schema.table.column`, sorted.
    pub columns: Vec<String>,
    /// One row per role, sorted by name, the default role included.
    pub roles: Vec<MatrixRow>,
}

/// One role's row of the [`Matrix`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixRow {
    pub role: String,
    /// PostgreSQL roles that map to it (empty for a default role without a `[roles.*]` table).
    pub members: Vec<String>,
    /// Whether this is `policy.default_role`.
    pub default: bool,
    /// One cell per entry of [`Matrix::columns`]: `clear`, a mask name, or `deny`.
    pub cells: Vec<String>,
}

// === impl Policy ===

impl Policy {
    /// The role × personal-column matrix.
    pub fn matrix(&self) -> Matrix {
        let columns: Vec<ColumnRef> = self.personal_columns().map(|(c, _)| c).collect();
        let roles = self
            .role_names()
            .into_iter()
            .map(|role| {
                let set = self.role_set_of(std::slice::from_ref(&role));
                let cells = columns
                    .iter()
                    .map(|c| match set.access(c.table(), c.column()) {
                        Some(access) => access.to_string(),
                        // Unreachable: every personal column has an entry.
                        None => "?".to_owned(),
                    })
                    .collect();
                MatrixRow {
                    default: role == self.settings.default_role,
                    members: self
                        .roles
                        .get(&role)
                        .map(|r| r.members.iter().cloned().collect())
                        .unwrap_or_default(),
                    role,
                    cells,
                }
            })
            .collect();
        Matrix {
            columns: columns.iter().map(ToString::to_string).collect(),
            roles,
        }
    }

    /// BLAKE3 of the effective policy (settings, personal columns with masks, matrix) in a
    /// canonical JSON form: the trail's `config.policy_hash`. Equal policies hash equally,
    /// whatever the order or comments of the file they came from.
    pub fn hash(&self) -> blake3::Hash {
        blake3::hash(self.canonical_json().as_bytes())
    }

    /// The canonical JSON that [`Policy::hash`] covers.
    pub fn canonical_json(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            default_role: &'a str,
            unparsed: Unparsed,
            masked_predicates: MaskedPredicates,
            trusted_functions: Vec<String>,
            personal_data: BTreeMap<String, CanonicalTable>,
            matrix: Matrix,
        }
        #[derive(Serialize)]
        struct CanonicalTable {
            subject_key: Option<String>,
            columns: BTreeMap<String, String>,
        }
        let canonical = Canonical {
            default_role: &self.settings.default_role,
            unparsed: self.settings.unparsed,
            masked_predicates: self.settings.masked_predicates,
            trusted_functions: self
                .settings
                .trusted_functions
                .iter()
                .map(ToString::to_string)
                .collect(),
            personal_data: self
                .tables
                .iter()
                .map(|(name, t)| {
                    (
                        name.to_string(),
                        CanonicalTable {
                            subject_key: t.subject_key.clone(),
                            columns: t
                                .columns
                                .iter()
                                .map(|(c, m)| (c.clone(), m.to_string()))
                                .collect(),
                        },
                    )
                })
                .collect(),
            matrix: self.matrix(),
        };
        // Serializing plain strings, maps and vectors cannot fail.
        serde_json::to_string(&canonical).unwrap_or_default()
    }
}
