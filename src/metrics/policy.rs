//! Metric families of the policy area (SPEC.md, "Metrics"):
//! `trailmask_masked_values_total{role,column}`, `trailmask_denied_total{role,rule}` and
//! `trailmask_statements_total{role,op,decision}`. Registered once at start-up and handed to
//! sessions as clones (prometheus vectors are cheap `Arc` handles). Every configured label
//! combination starts at 0, so series exist before the first event and dashboards show zeros
//! rather than "no data".
//!
//! Label values are bounded: roles and columns come from the config, rules from the caller's
//! fixed list, ops and decisions from the enums below. Never pass SQL text or user names.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// The statement kinds counted in `statements_total{op}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Copy,
    /// CREATE / ALTER / DROP / GRANT … (the trail records the exact kind).
    Ddl,
    /// BEGIN / COMMIT / ROLLBACK / SAVEPOINT.
    Transaction,
    /// SET, SHOW, FETCH, unparsed SQL and everything else.
    Other,
}

/// A policy decision on a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// The policy area's metric families.
#[derive(Debug, Clone)]
pub struct PolicyMetrics {
    /// Result values replaced by a mask, by trailmask role and `schema.table.column`.
    pub masked_values: IntCounterVec,
    /// Statements refused, by trailmask role and the rule that refused them.
    pub denied: IntCounterVec,
    /// Statements decided, by trailmask role, op and decision.
    pub statements: IntCounterVec,
    /// Rows sent to clients, by trailmask role and each table the statement read.
    pub rows: IntCounterVec,
}

// === impl Op ===

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Select,
        Op::Insert,
        Op::Update,
        Op::Delete,
        Op::Merge,
        Op::Copy,
        Op::Ddl,
        Op::Transaction,
        Op::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Select => "SELECT",
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
            Op::Merge => "MERGE",
            Op::Copy => "COPY",
            Op::Ddl => "DDL",
            Op::Transaction => "TRANSACTION",
            Op::Other => "OTHER",
        }
    }
}

// === impl Decision ===

impl Decision {
    pub const ALL: [Decision; 2] = [Decision::Allow, Decision::Deny];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

// === impl PolicyMetrics ===

impl PolicyMetrics {
    /// Registers the families and initialises every combination of `roles` (the policy's
    /// `role_names()`), `columns` (every personal `schema.table.column`) and `rules` (the names
    /// refusals report) to 0.
    pub fn register(
        registry: &Registry,
        roles: &[String],
        columns: &[String],
        rules: &[&str],
    ) -> Result<Self, prometheus::Error> {
        let masked_values = IntCounterVec::new(
            Opts::new(
                "trailmask_masked_values_total",
                "Result values replaced by a mask, by role and personal column.",
            ),
            &["role", "column"],
        )?;
        let denied = IntCounterVec::new(
            Opts::new(
                "trailmask_denied_total",
                "Statements refused by the policy, by role and rule.",
            ),
            &["role", "rule"],
        )?;
        let statements = IntCounterVec::new(
            Opts::new(
                "trailmask_statements_total",
                "Statements decided by the policy, by role, op and decision.",
            ),
            &["role", "op", "decision"],
        )?;
        let rows = IntCounterVec::new(
            Opts::new(
                "trailmask_rows_returned_total",
                "Rows returned to clients, by role and table read (schema.table).",
            ),
            &["role", "table"],
        )?;
        registry.register(Box::new(rows.clone()))?;
        registry.register(Box::new(masked_values.clone()))?;
        registry.register(Box::new(denied.clone()))?;
        registry.register(Box::new(statements.clone()))?;

        let tables: std::collections::BTreeSet<&str> = columns
            .iter()
            .filter_map(|c| c.rsplit_once('.').map(|(t, _)| t))
            .collect();
        for role in roles {
            for column in columns {
                masked_values.with_label_values(&[role.as_str(), column.as_str()]);
            }
            for table in &tables {
                rows.with_label_values(&[role.as_str(), table]);
            }
            for rule in rules {
                denied.with_label_values(&[role.as_str(), rule]);
            }
            for op in Op::ALL {
                for decision in Decision::ALL {
                    statements.with_label_values(&[role.as_str(), op.as_str(), decision.as_str()]);
                }
            }
        }
        Ok(PolicyMetrics {
            masked_values,
            denied,
            statements,
            rows,
        })
    }

    /// Counts `n` masked values of `column` sent to `role`.
    pub fn masked(&self, role: &str, column: &str, n: u64) {
        self.masked_values
            .with_label_values(&[role, column])
            .inc_by(n);
    }

    /// Counts one statement of `role` refused by `rule` (also counted in `statements_total`).
    pub fn refused(&self, role: &str, op: Op, rule: &str) {
        self.denied.with_label_values(&[role, rule]).inc();
        self.statement(role, op, Decision::Deny);
    }

    /// Counts one decided statement.
    pub fn statement(&self, role: &str, op: Op, decision: Decision) {
        self.statements
            .with_label_values(&[role, op.as_str(), decision.as_str()])
            .inc();
    }

    /// The counters one statement of `role` moves each time it runs, resolved once (a label
    /// lookup hashes its values; a session runs the same statements over and over).
    /// `refused_by` is the rule that refuses it, `tables` the tables it reads.
    pub fn statement_counters<'t>(
        &self,
        role: &str,
        op: Op,
        refused_by: Option<&str>,
        tables: impl IntoIterator<Item = &'t str>,
    ) -> StatementCounters {
        let decision = match refused_by {
            Some(_) => Decision::Deny,
            None => Decision::Allow,
        };
        StatementCounters {
            statements: self
                .statements
                .with_label_values(&[role, op.as_str(), decision.as_str()]),
            denied: refused_by.map(|rule| self.denied.with_label_values(&[role, rule])),
            rows: tables
                .into_iter()
                .map(|t| self.rows.with_label_values(&[role, t]))
                .collect(),
        }
    }
}

/// The series one decided statement counts in (see [`PolicyMetrics::statement_counters`]).
#[derive(Debug, Clone)]
pub struct StatementCounters {
    statements: IntCounter,
    denied: Option<IntCounter>,
    /// `rows_returned_total` of each table the statement reads.
    rows: Vec<IntCounter>,
}

impl StatementCounters {
    /// Counts one run (and its refusal, if refused).
    pub fn count(&self) {
        self.statements.inc();
        if let Some(d) = &self.denied {
            d.inc();
        }
    }

    /// Counts `n` rows returned, under each table read.
    pub fn rows_returned(&self, n: u64) {
        for r in &self.rows {
            r.inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests;
