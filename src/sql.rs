//! SQL front end, pure (no I/O): normalisation and fingerprints ([`normalize()`]), statement
//! analysis with sqlparser's PostgreSQL dialect ([`analyze()`]), output-column lineage
//! ([`lineage`]) and a bounded cache of analyses keyed by normalised text ([`cache`]).
//!
//! Names here are as written; [`crate::catalog`] resolves them against a snapshot of pg_catalog.
//! Whatever the analyser does not understand is reported as unknown, never as safe: the masking
//! side fails closed on unknowns.

pub mod normalize;

pub use normalize::{normalize, split_statements, Fingerprint, Literal, Normalized};
pub mod analyze;
pub mod cache;
pub mod lineage;

pub use analyze::{
    analyze, analyze_one, Analysis, ColumnName, ColumnUse, FunctionName, RowRef, Scope, ScopeId,
    Source, SourceKind, StarUse, TableName, TableWrite, UseContext, WholeRowUse,
};
pub use cache::{AnalysisCache, CachedStatement};
pub use lineage::{Lineage, Output};
