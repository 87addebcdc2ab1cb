//! Where each output column of a statement comes from, before name resolution: a bare column
//! (through aliases), a value derived from some columns and whole rows, a constant, a `*` still
//! to be expanded from the catalog, or unknown. [`crate::catalog::resolve()`] turns these into base
//! table columns; the proxy cross-checks them against RowDescription.

use super::analyze::{ColumnName, RowRef, ScopeId};

/// One output column of a query (SELECT list, RETURNING, subquery in FROM, CTE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The column's name as PostgreSQL would label it (alias, column or function name); `None`
    /// where PostgreSQL says `?column?`.
    pub name: Option<String>,
    pub lineage: Lineage,
}

/// Where an output column's values come from, names unresolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lineage {
    /// A column reference passed through unchanged (possibly via aliases). The name may turn
    /// out to denote a whole row (`SELECT g FROM guests g`); the resolver decides.
    Bare(ColumnName),
    /// Computed from these columns and whole rows (functions, casts, operators, CASE, aggregates,
    /// scalar subqueries, set operations).
    Derived {
        columns: Vec<ColumnName>,
        rows: Vec<RowRef>,
    },
    /// A whole-row value (`(g.*)` as an output).
    WholeRow(RowRef),
    /// Depends on no column (literals, parameters, `now()`).
    Constant,
    /// The analyser cannot tell: the masking side treats it as depending on everything.
    Unknown,
    /// `*` or `t.*`, one output entry standing for several columns: the resolver expands it
    /// from the FROM-clause scope (`qualifier` None: every source of the scope).
    Star {
        qualifier: Option<Vec<String>>,
        scope: ScopeId,
    },
}

/// The columns and rows an expression depends on, gathered while walking it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deps {
    pub columns: Vec<ColumnName>,
    pub rows: Vec<RowRef>,
    /// Stars (`*`, `t.*`) a value depends on, e.g. through `(SELECT * FROM t)`.
    pub stars: Vec<(Option<Vec<String>>, ScopeId)>,
    /// Something was not understood.
    pub unknown: bool,
}

// === impl Deps ===

impl Deps {
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.rows.is_empty() && self.stars.is_empty() && !self.unknown
    }

    pub fn extend(&mut self, other: Deps) {
        self.columns.extend(other.columns);
        self.rows.extend(other.rows);
        self.stars.extend(other.stars);
        self.unknown |= other.unknown;
    }

    /// What an output's lineage contributes when its value is used inside an expression.
    pub fn add_lineage(&mut self, lineage: &Lineage) {
        match lineage {
            Lineage::Bare(c) => self.columns.push(c.clone()),
            Lineage::Derived { columns, rows } => {
                self.columns.extend(columns.iter().cloned());
                self.rows.extend(rows.iter().cloned());
            }
            Lineage::WholeRow(r) => self.rows.push(r.clone()),
            Lineage::Constant => {}
            Lineage::Unknown => self.unknown = true,
            Lineage::Star { qualifier, scope } => self.stars.push((qualifier.clone(), *scope)),
        }
    }

    /// The lineage of a value computed from these dependencies.
    pub fn into_lineage(self) -> Lineage {
        if self.unknown || !self.stars.is_empty() {
            Lineage::Unknown
        } else if self.columns.is_empty() && self.rows.is_empty() {
            Lineage::Constant
        } else {
            Lineage::Derived {
                columns: self.columns,
                rows: self.rows,
            }
        }
    }
}

/// Output columns of a set operation (`UNION`, `INTERSECT`, `EXCEPT`): positionally derived
/// from both sides, named after the left. A `*` on either side makes positions unknowable here,
/// so every column becomes `Unknown`.
pub fn combine_set_operation(left: Vec<Output>, right: &[Output]) -> Vec<Output> {
    let has_star = |o: &[Output]| o.iter().any(|x| matches!(x.lineage, Lineage::Star { .. }));
    if has_star(&left) || has_star(right) {
        let n = left.len().max(right.len()).max(1);
        return (0..n)
            .map(|i| Output {
                name: left.get(i).and_then(|o| o.name.clone()),
                lineage: Lineage::Unknown,
            })
            .collect();
    }
    let mut right_iter = right.iter();
    left.into_iter()
        .map(|l| {
            let mut deps = Deps::default();
            deps.add_lineage(&l.lineage);
            match right_iter.next() {
                Some(r) => deps.add_lineage(&r.lineage),
                None => deps.unknown = true,
            }
            Output {
                name: l.name,
                lineage: deps.into_lineage(),
            }
        })
        .collect()
}

/// Applies a column alias list (`AS s(a, b)`, `WITH x(a, b)`) to a query's outputs.
pub fn rename(outputs: &mut [Output], names: &[String]) {
    for (o, n) in outputs.iter_mut().zip(names.iter()) {
        o.name = Some(n.clone());
    }
}
