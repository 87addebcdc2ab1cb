//! Statement -> [`Analysis`]: what a statement is (`op`), which tables it reads and writes, which
//! functions it calls, every column use with the context it appears in, whole-row references,
//! and each output column's lineage. Parsing is sqlparser's PostgreSQL dialect; the walk over its
//! tree is ours. Names stay as written (unquoted ones folded to lower case, as PostgreSQL does),
//! each tagged with the FROM-clause scope it must be looked up in; the catalog resolves them.
//!
//! The analysis is the ground the masking rules stand on, so it errs one way only: a construct the
//! walker does not understand is recorded in [`Analysis::unknown`] (or makes the statement
//! `UNPARSED`), never skipped. Uses are over-approximated where PostgreSQL's own rules need the
//! catalog (a `GROUP BY` name may be an input or an output column: both are recorded).
//!
//! The analysis depends on the statement's text with literals replaced, except for integer
//! ordinals in `ORDER BY`/`GROUP BY`/`DISTINCT ON`, which the normaliser keeps verbatim; so one
//! analysis serves every statement with the same normalised text.

use sqlparser::ast::{
    AlterColumnOperation, AlterPolicyOperation, AlterTableOperation, Assignment, AssignmentTarget,
    CloseCursor, ColumnDef, ColumnOption, CopySource, CopyTarget, Distinct, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, GroupByExpr, Ident,
    JoinConstraint, JoinOperator, MergeAction, MergeInsertKind, NamedWindowExpr, ObjectName,
    ObjectType, OnConflictAction, OnInsert, OrderByExpr, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableConstraint, TableFactor, TableObject,
    TableWithJoins, UpdateTableFromKind, Value, WindowFrameBound, WindowSpec, WindowType,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::lineage::{self, Deps, Lineage, Output};
use super::normalize::split_statements;

/// Statements longer than this are not parsed (`UNPARSED`): sqlparser builds left-deep trees for
/// long operator chains iteratively, and walking or dropping a tree millions of levels deep
/// could exhaust a worker thread's stack. 1 MiB holds any ORM's bulk statement we have seen.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;

/// Deepest expression nesting the walker follows; deeper parts are recorded as unknown.
/// sqlparser's own recursion limit (50) bounds most nesting; this bounds operator chains.
const MAX_WALK_DEPTH: usize = 200;

/// Index of a FROM-clause scope in [`Analysis::scopes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(pub usize);

/// A column reference as written: `qualifier` is what precedes the column name (`[]`, `[t]`,
/// `[s, t]`), `scope` is where name lookup starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnName {
    pub qualifier: Vec<String>,
    pub name: String,
    pub scope: ScopeId,
}

/// A reference to a whole row of a FROM item (`g`, `g.*`, `s.t.*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowRef {
    pub qualifier: Vec<String>,
    pub scope: ScopeId,
}

/// A table name as written (lower-cased unless quoted), schema optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

/// A function name as written, schema optional (`pg_catalog.set_config` keeps its schema).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionName {
    pub schema: Option<String>,
    pub name: String,
}

/// Where a column appears; the masking rules are stated in these terms (SPEC "Masking").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UseContext {
    /// A bare column reference (through aliases) as a SELECT-list or RETURNING item of rows
    /// going to the client.
    BareOutput,
    /// The bare column in `col = v`, `v = col`, `col IN (…)`, `col = ANY (v)`,
    /// `col IS [NOT] NULL` in WHERE / JOIN ON / HAVING, where `v` uses no column at all.
    EqualityPredicate,
    /// Any other use inside WHERE / ON / HAVING / USING (LIKE, `<`, functions, `a.x = b.y` …).
    OtherPredicate,
    /// ORDER BY, GROUP BY, DISTINCT (ON), window PARTITION BY / ORDER BY, FILTER, WITHIN GROUP.
    OrderGroup,
    /// Inside a function call, cast, operator, CASE, aggregate, window function or scalar
    /// subquery whose value is output; also set-operation branches (UNION …).
    Expression,
    /// Data written elsewhere: INSERT … SELECT, UPDATE SET values, CREATE TABLE AS, CREATE VIEW,
    /// COPY … TO, SELECT INTO, MERGE.
    Written,
    /// Argument of a function with side effects (set_config, setval, pg_notify, advisory
    /// locks, lo_*, dblink*).
    SideEffectArg,
}

/// One appearance of a column in a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnUse {
    pub column: ColumnName,
    pub context: UseContext,
}

/// `*` or `t.*` used in some context (expanded by the resolver).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StarUse {
    /// `None` for `*`: every FROM item of the scope.
    pub qualifier: Option<Vec<String>>,
    pub scope: ScopeId,
    pub context: UseContext,
}

/// A whole-row reference and its context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WholeRowUse {
    pub row: RowRef,
    pub context: UseContext,
    /// `true` for `g.*` inside an expression; `false` for a bare `g` that names a FROM item in
    /// scope but might be a column of that name (PostgreSQL prefers the column).
    pub certain: bool,
}

/// A table (or other relation) a statement writes, with the columns written (`None`: all of
/// them or the whole row, as in DELETE, TRUNCATE, COPY FROM without a list, INSERT without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWrite {
    pub table: TableName,
    pub columns: Option<Vec<String>>,
}

/// A FROM-clause scope: the items visible to names inside one SELECT (or UPDATE/DELETE/INSERT
/// target), and the enclosing scope for correlated references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub parent: Option<ScopeId>,
    pub sources: Vec<Source>,
}

/// One FROM item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The alias, or `None` where the item is named by its table name.
    pub alias: Option<String>,
    pub kind: SourceKind,
}

/// What a FROM item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A table or view by name (or a CTE name the resolver did not find: CTEs are `Derived`).
    Table(TableName),
    /// A subquery, CTE reference or VALUES list: columns are its outputs.
    Derived(Vec<Output>),
    /// A set-returning function (or unnest, …): columns named by the alias list, if any, each
    /// derived from the arguments.
    Function {
        columns: Vec<String>,
        lineage: Lineage,
    },
}

/// Everything the proxy needs to know about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// SELECT, INSERT, UPDATE, DELETE, COPY, MERGE, DDL kinds (`CREATE TABLE` …), BEGIN, COMMIT,
    /// … or `UNPARSED`. Always one of a fixed set of strings (safe as a metric label).
    pub op: &'static str,
    /// Changes the schema, roles or privileges: the catalog is refreshed after it.
    pub is_ddl: bool,
    /// The statement's text, kept only for `UNPARSED`.
    pub text: Option<String>,
    /// For `UNPARSED`: sqlparser's message (positions, no values beyond what the text holds).
    pub parse_error: Option<String>,
    /// Relations named in FROM / JOIN / targets (tables, views, CTE names excluded).
    pub tables_read: Vec<TableName>,
    pub writes: Vec<TableWrite>,
    /// Every function called, as written.
    pub functions: Vec<FunctionName>,
    pub uses: Vec<ColumnUse>,
    /// Uses recorded by over-approximation (a GROUP BY name that may be an input column); the
    /// resolver drops those that name no column instead of reporting them unresolved.
    pub soft_uses: Vec<ColumnUse>,
    pub star_uses: Vec<StarUse>,
    pub whole_rows: Vec<WholeRowUse>,
    /// The columns of the rows this statement returns (SELECT list, RETURNING), in order.
    pub outputs: Vec<Output>,
    /// Rows go to the client (SELECT without INTO, RETURNING, FETCH, SHOW, EXECUTE, EXPLAIN).
    pub returns_rows: bool,
    pub scopes: Vec<Scope>,
    /// A `DO` block (its body is opaque).
    pub do_block: bool,
    /// Cursor named by DECLARE / FETCH / MOVE / CLOSE.
    pub cursor: Option<String>,
    /// Prepared statement named by PREPARE / EXECUTE / DEALLOCATE.
    pub prepared: Option<String>,
    /// What the analyser did not understand. Non-empty means: treat as unparsed.
    pub unknown: Vec<&'static str>,
    /// The statement creates, replaces or attaches executable code that PostgreSQL runs on its
    /// own later (a function, procedure, trigger, rule, operator …): the kind, in lower case
    /// (`"function"`, `"event trigger"`, `"trigger (enabled)"` …). Set from the leading words
    /// as well as the parse tree, so SQL the parser cannot read is caught too.
    pub code_definition: Option<&'static str>,
    /// Functions a definition attaches to run implicitly later (column `DEFAULT`, `CHECK`,
    /// `GENERATED`, `ALTER … TYPE … USING`, domain, index and row-security expressions), as
    /// written. Not part of [`Analysis::functions`]: they are not called by this statement.
    pub code_functions: Vec<FunctionName>,
    /// `COPY` to or from a file on the database server or a program it runs.
    pub server_file: bool,
}

// === impl Analysis ===

impl Analysis {
    fn empty(op: &'static str) -> Self {
        Analysis {
            op,
            is_ddl: false,
            text: None,
            parse_error: None,
            tables_read: Vec::new(),
            writes: Vec::new(),
            functions: Vec::new(),
            uses: Vec::new(),
            soft_uses: Vec::new(),
            star_uses: Vec::new(),
            whole_rows: Vec::new(),
            outputs: Vec::new(),
            returns_rows: false,
            scopes: Vec::new(),
            do_block: false,
            cursor: None,
            prepared: None,
            unknown: Vec::new(),
            code_definition: None,
            code_functions: Vec::new(),
            server_file: false,
        }
    }

    fn unparsed(text: &str, error: Option<String>) -> Self {
        let mut a = Analysis::empty(OP_UNPARSED);
        a.text = Some(text.to_owned());
        a.parse_error = error;
        a
    }

    /// The parser could not read the statement.
    pub fn is_unparsed(&self) -> bool {
        self.op == OP_UNPARSED
    }

    /// Unparsed, or something in it was not understood: the fail-closed case.
    pub fn is_opaque(&self) -> bool {
        self.is_unparsed() || !self.unknown.is_empty()
    }

    /// The tables written, without their column lists.
    pub fn tables_written(&self) -> impl Iterator<Item = &TableName> {
        self.writes.iter().map(|w| &w.table)
    }
}

/// The `op` of text the parser cannot read.
pub const OP_UNPARSED: &str = "UNPARSED";
/// The `op` of a `DO` block.
pub const OP_DO: &str = "DO";

/// Analyses a simple Query's text: one [`Analysis`] per statement, in order. Text the parser
/// cannot read gives an `UNPARSED` analysis holding that statement's text. Never panics.
pub fn analyze(sql: &str) -> Vec<Analysis> {
    let mut out = Vec::new();
    for range in split_statements(sql) {
        let text = sql.get(range).unwrap_or_default();
        out.push(analyze_one(text));
    }
    if out.is_empty() {
        // An empty query: PostgreSQL answers EmptyQueryResponse. Nothing to analyse.
        out.push(Analysis::empty("EMPTY"));
    }
    out
}

/// Analyses exactly one statement's text (as split by [`split_statements`]).
pub fn analyze_one(text: &str) -> Analysis {
    let mut a = analyze_text(text);
    if a.code_definition.is_none() {
        a.code_definition = code_definition_kind(text);
    }
    if a.is_unparsed() && first_word_is(text, "copy") && copy_without_options(text).is_none() {
        // A COPY the parser cannot read that names neither STDIN nor STDOUT: a server file or
        // program, as far as anyone can tell.
        a.server_file = true;
    }
    a
}

/// Words between the verb (`CREATE` / `ALTER`) and the kind of object that change nothing
/// about what is defined.
const CODE_DEFINITION_FILLER: &[&str] = &["or", "replace", "constraint", "trusted", "procedural"];

/// Kinds of object that are executable code PostgreSQL runs implicitly (or that install it),
/// as named after `CREATE` / `ALTER`; `event` must be followed by `trigger`.
const CODE_DEFINITION_KINDS: &[&str] = &[
    "function",
    "procedure",
    "routine",
    "trigger",
    "rule",
    "operator",
    "aggregate",
    "cast",
    "language",
    "transform",
    "extension",
    "conversion",
];

/// The kind of code a `CREATE` / `ALTER` statement defines, from its leading words (see
/// [`Analysis::code_definition`]); None for anything else.
fn code_definition_kind(text: &str) -> Option<&'static str> {
    let words = super::normalize::leading_words(text, 8);
    let mut rest = words.iter();
    let verb = rest.next()?;
    if !verb.eq_ignore_ascii_case("create") && !verb.eq_ignore_ascii_case("alter") {
        return None;
    }
    let mut rest = rest.skip_while(|w| {
        CODE_DEFINITION_FILLER
            .iter()
            .any(|f| w.eq_ignore_ascii_case(f))
            // `CREATE DEFAULT CONVERSION`
            || w.eq_ignore_ascii_case("default")
    });
    let kind = rest.next()?;
    if kind.eq_ignore_ascii_case("event") {
        return rest
            .next()
            .filter(|w| w.eq_ignore_ascii_case("trigger"))
            .map(|_| "event trigger");
    }
    CODE_DEFINITION_KINDS
        .iter()
        .find(|k| kind.eq_ignore_ascii_case(k))
        .copied()
}

/// [`analyze_one`] before the checks that look at the text itself.
fn analyze_text(text: &str) -> Analysis {
    if text.len() > MAX_STATEMENT_BYTES {
        return Analysis::unparsed(text, Some("statement too long to analyse".to_owned()));
    }
    if first_word_is(text, "do") {
        let mut a = Analysis::empty(OP_DO);
        a.do_block = true;
        return a;
    }
    let dialect = PostgreSqlDialect {};
    let parse = |t: &str| {
        Parser::new(&dialect)
            .try_with_sql(t)
            .and_then(|mut p| p.parse_statements())
    };
    let mut parsed = parse(text);
    if parsed.is_err() && first_word_is(text, "copy") {
        // sqlparser reads `COPY … FROM STDIN` only followed by its inline data; give it none.
        if let Ok(stmts) = parse(&format!("{text};\n\\.\n")) {
            parsed = Ok(stmts);
        } else if let Some(prefix) = copy_without_options(text) {
            // Options sqlparser does not know (`WITH (FREEZE ON)`) change nothing about what
            // is read or written: analyse the statement up to its STDIN / STDOUT.
            if let Ok(stmts) = parse(&format!("{prefix};\n\\.\n")) {
                parsed = Ok(stmts);
            }
        }
    }
    if parsed.is_err() {
        if let Some(op) = UTILITY_WORDS
            .iter()
            .find_map(|(w, op)| first_word_is(text, w).then_some(*op))
        {
            // Utility statements that return no rows and move no data; sqlparser lacks them.
            return Analysis::empty(op);
        }
    }
    match parsed {
        Ok(stmts) => match stmts.as_slice() {
            [stmt] => {
                let mut w = Walker::default();
                w.statement(stmt);
                w.a
            }
            _ => Analysis::unparsed(text, Some("not exactly one statement".to_owned())),
        },
        Err(e) => {
            let mut a = Analysis::unparsed(text, Some(e.to_string()));
            // Keep the catalog fresh even after DDL the parser cannot read (`GRANT role TO …`).
            a.is_ddl = DDL_WORDS.iter().any(|w| first_word_is(text, w));
            a
        }
    }
}

/// Utility statements recognised by their first word when sqlparser cannot read them. None of
/// them returns rows or moves table data to the client or elsewhere.
const UTILITY_WORDS: &[(&str, &str)] = &[
    ("vacuum", "VACUUM"),
    ("checkpoint", "CHECKPOINT"),
    ("reset", "RESET"),
    ("lock", "LOCK"),
    ("move", "MOVE"),
    ("reindex", "REINDEX"),
    ("cluster", "CLUSTER"),
];

/// `COPY … STDIN` / `COPY … STDOUT` with whatever options follow cut off; None if neither word
/// occurs.
fn copy_without_options(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let end = ["stdin", "stdout"]
        .iter()
        .filter_map(|w| lower.rfind(w).map(|i| i + w.len()))
        .max()?;
    text.get(..end)
}

/// First words of statements that change schema, roles or privileges.
const DDL_WORDS: &[&str] = &[
    "create", "alter", "drop", "grant", "revoke", "comment", "truncate", "reassign", "security",
    "import", "refresh",
];

/// Whether the statement's first word (after whitespace and comments) is `word`.
fn first_word_is(text: &str, word: &str) -> bool {
    super::normalize::first_word(text).eq_ignore_ascii_case(word)
}

// === names ===

/// PostgreSQL folds unquoted identifiers to lower case.
pub fn ident_name(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn object_parts(n: &ObjectName) -> Option<Vec<String>> {
    n.0.iter()
        .map(|p| p.as_ident().map(ident_name))
        .collect::<Option<Vec<_>>>()
}

fn table_name(parts: &[String]) -> Option<TableName> {
    match parts {
        [name] => Some(TableName {
            schema: None,
            name: name.clone(),
        }),
        [schema, name] | [_, schema, name] => Some(TableName {
            schema: Some(schema.clone()),
            name: name.clone(),
        }),
        _ => None,
    }
}

/// Functions whose arguments leave the statement (settings, sequences, notifications, locks,
/// large objects, other databases): a masked value there escapes masking.
fn is_side_effect_function(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "set_config",
        "setval",
        "nextval",
        "pg_notify",
        "pg_logical_emit_message",
        "pg_file_write",
        "lowrite",
        "loread",
    ];
    const PREFIX: &[&str] = &["pg_advisory", "pg_try_advisory", "lo_", "dblink"];
    EXACT.contains(&name) || PREFIX.iter().any(|p| name.starts_with(p))
}

// === walker ===

/// Where the rows of a (sub)query go; decides the context of its bare output columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// To the client.
    Client,
    /// Into a table, file or setting.
    Written,
    /// Into an expression whose value is output.
    Expression,
    /// Into a condition.
    Predicate,
}

impl Sink {
    fn bare(self) -> UseContext {
        match self {
            Sink::Client => UseContext::BareOutput,
            Sink::Written => UseContext::Written,
            Sink::Expression => UseContext::Expression,
            Sink::Predicate => UseContext::OtherPredicate,
        }
    }

    fn computed(self) -> UseContext {
        match self {
            Sink::Client | Sink::Expression => UseContext::Expression,
            Sink::Written => UseContext::Written,
            Sink::Predicate => UseContext::OtherPredicate,
        }
    }

    fn of_context(ctx: UseContext) -> Sink {
        match ctx {
            UseContext::BareOutput | UseContext::Expression | UseContext::SideEffectArg => {
                Sink::Expression
            }
            UseContext::EqualityPredicate | UseContext::OtherPredicate | UseContext::OrderGroup => {
                Sink::Predicate
            }
            UseContext::Written => Sink::Written,
        }
    }

    /// Branches of UNION/INTERSECT/EXCEPT: values are compared and merged, never bare.
    fn set_branch(self) -> Sink {
        match self {
            Sink::Client => Sink::Expression,
            Sink::Written | Sink::Expression | Sink::Predicate => self,
        }
    }
}

struct Walker {
    a: Analysis,
    /// Visible CTEs, innermost last: name -> outputs.
    ctes: Vec<(String, Vec<Output>)>,
    depth: usize,
    /// Where RETURNING rows go: the client, except for a data-modifying CTE.
    returning_sink: Sink,
}

impl Default for Walker {
    fn default() -> Self {
        Walker {
            a: Analysis::default(),
            ctes: Vec::new(),
            depth: 0,
            returning_sink: Sink::Client,
        }
    }
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis::empty(OP_UNPARSED)
    }
}

impl Walker {
    fn unknown(&mut self, what: &'static str) {
        if !self.a.unknown.contains(&what) {
            self.a.unknown.push(what);
        }
    }

    fn new_scope(&mut self, parent: Option<ScopeId>) -> ScopeId {
        let id = ScopeId(self.a.scopes.len());
        self.a.scopes.push(Scope {
            parent,
            sources: Vec::new(),
        });
        id
    }

    fn add_source(&mut self, scope: ScopeId, source: Source) {
        if let Some(s) = self.a.scopes.get_mut(scope.0) {
            s.sources.push(source);
        }
    }

    fn read_table(&mut self, t: &TableName) {
        if !self.a.tables_read.contains(t) {
            self.a.tables_read.push(t.clone());
        }
    }

    fn write(&mut self, table: TableName, columns: Option<Vec<String>>) {
        self.a.writes.push(TableWrite { table, columns });
    }

    fn use_col(&mut self, column: ColumnName, context: UseContext) {
        self.a.uses.push(ColumnUse { column, context });
    }

    /// Whether `name` names a FROM item visible from `scope` (alias, or table name unaliased).
    fn names_source(&self, scope: ScopeId, name: &str) -> bool {
        self.source_named(scope, name).is_some()
    }

    /// The innermost FROM item visible from `scope` that `name` names (its alias, or the table
    /// name of an unaliased table), as PostgreSQL resolves a qualifier.
    fn source_named(&self, scope: ScopeId, name: &str) -> Option<&Source> {
        let mut cur = Some(scope);
        let mut guard = 0;
        while let Some(id) = cur {
            guard += 1;
            let s = self.a.scopes.get(id.0)?;
            let named = s.sources.iter().find(|src| match (&src.alias, &src.kind) {
                (Some(a), _) => a == name,
                (None, SourceKind::Table(t)) => t.name == name,
                (None, SourceKind::Derived(_) | SourceKind::Function { .. }) => false,
            });
            if named.is_some() {
                return named;
            }
            if guard > self.a.scopes.len() {
                return None;
            }
            cur = s.parent;
        }
        None
    }

    fn cte(&self, name: &str) -> Option<Vec<Output>> {
        self.ctes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
    }

    // --- statements ---

    fn statement(&mut self, stmt: &Statement) {
        self.a.op = op_of(stmt);
        self.a.is_ddl = is_ddl(stmt);
        match stmt {
            Statement::Query(q)
                if matches!(
                    q.body.as_ref(),
                    SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_)
                ) =>
            {
                // `WITH … INSERT/UPDATE/DELETE …`: the CTEs feed a write.
                let before = self.ctes.len();
                if let Some(with) = &q.with {
                    self.with_clause(with, None, Sink::Written);
                }
                if let SetExpr::Insert(st) | SetExpr::Update(st) | SetExpr::Delete(st) =
                    q.body.as_ref()
                {
                    self.statement(st);
                }
                self.ctes.truncate(before);
            }
            Statement::Query(q) => {
                let outputs = self.query(q, None, Sink::Client);
                if self.a.writes.is_empty() {
                    self.a.returns_rows = true;
                    self.a.outputs = outputs;
                }
            }
            Statement::Insert(ins) => self.insert(ins),
            Statement::Update {
                table,
                assignments,
                from,
                selection,
                returning,
                or: _,
            } => self.update(
                table,
                assignments,
                from.as_ref(),
                selection.as_ref(),
                returning,
            ),
            Statement::Delete(del) => self.delete(del),
            Statement::Copy {
                source, to, target, ..
            } => {
                match target {
                    CopyTarget::Stdin | CopyTarget::Stdout => {}
                    CopyTarget::File { .. } | CopyTarget::Program { .. } => {
                        self.a.server_file = true
                    }
                }
                self.copy(source, *to)
            }
            Statement::Merge {
                table,
                source,
                on,
                clauses,
                ..
            } => {
                let scope = self.new_scope(None);
                if let TableFactor::Table { name, .. } = table {
                    if let Some(t) = object_parts(name).as_deref().and_then(table_name) {
                        self.write(t, None);
                    }
                }
                self.table_factor(table, scope);
                self.table_factor_with_sink(source, scope, Sink::Written);
                self.expr(on, scope, UseContext::Written);
                for c in clauses {
                    if let Some(p) = &c.predicate {
                        self.expr(p, scope, UseContext::Written);
                    }
                    match &c.action {
                        MergeAction::Insert(ins) => {
                            if let MergeInsertKind::Values(v) = &ins.kind {
                                for row in &v.rows {
                                    for e in row {
                                        self.expr(e, scope, UseContext::Written);
                                    }
                                }
                            }
                        }
                        MergeAction::Update { assignments } => {
                            for asg in assignments {
                                self.expr(&asg.value, scope, UseContext::Written);
                            }
                        }
                        MergeAction::Delete => {}
                    }
                }
            }
            Statement::CreateTable(ct) => {
                if let Some(t) = object_parts(&ct.name).as_deref().and_then(table_name) {
                    self.write(t, None);
                }
                if let Some(q) = &ct.query {
                    self.query(q, None, Sink::Written);
                }
                for c in &ct.columns {
                    self.column_code(c);
                }
                for c in &ct.constraints {
                    self.constraint_code(c);
                }
            }
            Statement::CreateView { name, query, .. } => {
                if let Some(t) = object_parts(name).as_deref().and_then(table_name) {
                    self.write(t, None);
                }
                self.query(query, None, Sink::Written);
            }
            Statement::Declare { stmts } => {
                for d in stmts {
                    if let Some(n) = d.names.first() {
                        self.a.cursor = Some(ident_name(n));
                    }
                    if let Some(q) = &d.for_query {
                        self.a.outputs = self.query(q, None, Sink::Client);
                    }
                }
            }
            Statement::Fetch { name, into, .. } => {
                self.a.cursor = Some(ident_name(name));
                self.a.returns_rows = into.is_none();
                if into.is_some() {
                    self.unknown("FETCH INTO");
                }
            }
            Statement::Close { cursor } => match cursor {
                CloseCursor::All => {}
                CloseCursor::Specific { name } => self.a.cursor = Some(ident_name(name)),
            },
            Statement::Prepare {
                name, statement, ..
            } => {
                let op = self.a.op;
                let ddl = self.a.is_ddl;
                self.statement(statement);
                self.a.op = op;
                self.a.is_ddl |= ddl;
                self.a.returns_rows = false;
                self.a.prepared = Some(ident_name(name));
            }
            Statement::Execute {
                name, parameters, ..
            } => {
                self.a.prepared = name
                    .as_ref()
                    .and_then(object_parts)
                    .and_then(|p| p.last().cloned());
                self.a.returns_rows = true;
                let scope = self.new_scope(None);
                for p in parameters {
                    self.expr(p, scope, UseContext::Expression);
                }
            }
            Statement::Deallocate { name, .. } => self.a.prepared = Some(ident_name(name)),
            Statement::Explain {
                statement, analyze, ..
            } => {
                let op = self.a.op;
                self.statement(statement);
                self.a.op = op;
                self.a.returns_rows = true;
                // EXPLAIN prints plan text, not the inner statement's rows.
                self.a.outputs = vec![Output {
                    name: Some("QUERY PLAN".to_owned()),
                    lineage: Lineage::Constant,
                }];
                if !*analyze {
                    self.a.is_ddl = false;
                }
            }
            Statement::Call(f) => {
                let scope = self.new_scope(None);
                self.function(f, scope, UseContext::Expression);
            }
            Statement::Set(_) | Statement::ShowVariable { .. } => {
                self.a.returns_rows = matches!(stmt, Statement::ShowVariable { .. });
            }
            Statement::Truncate { table_names, .. } => {
                for t in table_names {
                    if let Some(t) = object_parts(&t.name).as_deref().and_then(table_name) {
                        self.write(t, None);
                    }
                }
            }
            Statement::Drop { names, .. } => {
                for n in names {
                    if let Some(t) = object_parts(n).as_deref().and_then(table_name) {
                        self.write(t, None);
                    }
                }
            }
            Statement::AlterTable {
                name, operations, ..
            } => {
                if let Some(t) = object_parts(name).as_deref().and_then(table_name) {
                    self.write(t, None);
                }
                for op in operations {
                    self.alter_table_code(op);
                }
            }
            Statement::CreateIndex(ci) => {
                if let Some(t) = object_parts(&ci.table_name).as_deref().and_then(table_name) {
                    self.read_table(&t);
                }
                let exprs = ci.columns.iter().map(|c| &c.column.expr);
                self.code_exprs(exprs.chain(ci.predicate.as_ref()));
            }
            Statement::CreateDomain(cd) => {
                self.code_exprs(cd.default.as_ref());
                for c in &cd.constraints {
                    self.constraint_code(c);
                }
            }
            Statement::CreatePolicy {
                using, with_check, ..
            }
            | Statement::AlterPolicy {
                operation:
                    AlterPolicyOperation::Apply {
                        using, with_check, ..
                    },
                ..
            } => self.code_exprs(using.iter().chain(with_check.iter())),
            _ => {
                if matches!(op_of(stmt), OP_OTHER) {
                    self.unknown("statement kind");
                }
            }
        }
    }

    // --- code a definition attaches ---

    /// Records the functions `exprs` call as [`Analysis::code_functions`]. The expressions
    /// are walked by a walker of their own: their column names belong to the table being
    /// defined, not to this statement's scopes. What that walker does not understand is
    /// unknown here too.
    fn code_exprs<'e>(&mut self, exprs: impl IntoIterator<Item = &'e Expr>) {
        let mut w = Walker::default();
        let scope = w.new_scope(None);
        for e in exprs {
            w.expr(e, scope, UseContext::Expression);
        }
        for f in w.a.functions {
            if !self.a.code_functions.contains(&f) {
                self.a.code_functions.push(f);
            }
        }
        for u in w.a.unknown {
            self.unknown(u);
        }
    }

    /// A column definition's `DEFAULT`, `CHECK` and `GENERATED` expressions.
    fn column_code(&mut self, c: &ColumnDef) {
        for o in &c.options {
            match &o.option {
                ColumnOption::Default(e)
                | ColumnOption::Check(e)
                | ColumnOption::OnUpdate(e)
                | ColumnOption::Materialized(e)
                | ColumnOption::Alias(e)
                | ColumnOption::Ephemeral(Some(e))
                | ColumnOption::Generated {
                    generation_expr: Some(e),
                    ..
                } => self.code_exprs([e]),
                ColumnOption::Srid(e) => self.code_exprs([e.as_ref()]),
                ColumnOption::Null
                | ColumnOption::NotNull
                | ColumnOption::Ephemeral(None)
                | ColumnOption::Unique { .. }
                | ColumnOption::ForeignKey { .. }
                | ColumnOption::DialectSpecific(_)
                | ColumnOption::CharacterSet(_)
                | ColumnOption::Collation(_)
                | ColumnOption::Comment(_)
                | ColumnOption::Generated { .. }
                | ColumnOption::Options(_)
                | ColumnOption::Identity(_)
                | ColumnOption::OnConflict(_)
                | ColumnOption::Policy(_)
                | ColumnOption::Tags(_) => {}
            }
        }
    }

    /// A table or domain constraint's `CHECK` expression.
    fn constraint_code(&mut self, c: &TableConstraint) {
        if let TableConstraint::Check { expr, .. } = c {
            self.code_exprs([expr.as_ref()]);
        }
    }

    /// The code an `ALTER TABLE` operation attaches: new columns' and constraints'
    /// expressions, a new default, a conversion's `USING`, and enabling a trigger or rule
    /// (which makes PostgreSQL run it again).
    fn alter_table_code(&mut self, op: &AlterTableOperation) {
        match op {
            AlterTableOperation::AddColumn { column_def, .. } => self.column_code(column_def),
            AlterTableOperation::AddConstraint { constraint, .. } => {
                self.constraint_code(constraint)
            }
            AlterTableOperation::AlterColumn { op, .. } => match op {
                AlterColumnOperation::SetDefault { value } => self.code_exprs([value]),
                AlterColumnOperation::SetDataType { using, .. } => self.code_exprs(using.as_ref()),
                _ => {}
            },
            AlterTableOperation::EnableAlwaysRule { .. }
            | AlterTableOperation::EnableReplicaRule { .. }
            | AlterTableOperation::EnableRule { .. } => {
                self.a.code_definition.get_or_insert("rule (enabled)");
            }
            AlterTableOperation::EnableAlwaysTrigger { .. }
            | AlterTableOperation::EnableReplicaTrigger { .. }
            | AlterTableOperation::EnableTrigger { .. } => {
                self.a.code_definition.get_or_insert("trigger (enabled)");
            }
            _ => {}
        }
    }

    fn insert(&mut self, ins: &sqlparser::ast::Insert) {
        let target = match &ins.table {
            TableObject::TableName(n) => object_parts(n).as_deref().and_then(table_name),
            TableObject::TableFunction(_) => None,
        };
        let Some(target) = target else {
            self.unknown("INSERT target");
            return;
        };
        let columns: Vec<String> = ins.columns.iter().map(ident_name).collect();
        self.write(
            target.clone(),
            if columns.is_empty() {
                None
            } else {
                Some(columns)
            },
        );
        if let Some(src) = &ins.source {
            self.query(src, None, Sink::Written);
        }
        let scope = self.new_scope(None);
        self.add_source(
            scope,
            Source {
                alias: ins.table_alias.as_ref().map(ident_name),
                kind: SourceKind::Table(target.clone()),
            },
        );
        self.add_source(
            scope,
            Source {
                alias: Some("excluded".to_owned()),
                kind: SourceKind::Table(target.clone()),
            },
        );
        match &ins.on {
            Some(OnInsert::OnConflict(oc)) => match &oc.action {
                OnConflictAction::DoNothing => {}
                OnConflictAction::DoUpdate(du) => {
                    let cols = self.assignments(&du.assignments, scope);
                    self.write(target.clone(), Some(cols));
                    if let Some(sel) = &du.selection {
                        self.predicate(sel, scope);
                    }
                }
            },
            Some(OnInsert::DuplicateKeyUpdate(_)) => self.unknown("ON DUPLICATE KEY"),
            Some(_) => self.unknown("INSERT ON clause"),
            None => {}
        }
        if !ins.assignments.is_empty() {
            self.unknown("INSERT SET");
        }
        if let Some(ret) = &ins.returning {
            self.returning(ret, scope);
        }
    }

    /// Assignment values are data written; returns the target column names.
    fn assignments(&mut self, asgs: &[Assignment], scope: ScopeId) -> Vec<String> {
        let mut cols = Vec::new();
        for asg in asgs {
            match &asg.target {
                AssignmentTarget::ColumnName(n) => {
                    if let Some(last) = object_parts(n).and_then(|p| p.last().cloned()) {
                        cols.push(last);
                    }
                }
                AssignmentTarget::Tuple(ns) => {
                    for n in ns {
                        if let Some(last) = object_parts(n).and_then(|p| p.last().cloned()) {
                            cols.push(last);
                        }
                    }
                }
            }
            self.expr(&asg.value, scope, UseContext::Written);
        }
        cols
    }

    fn returning(&mut self, items: &[SelectItem], scope: ScopeId) {
        self.a.returns_rows = true;
        self.a.outputs = self.projection(items, scope, self.returning_sink);
    }

    fn update(
        &mut self,
        table: &TableWithJoins,
        assignments: &[Assignment],
        from: Option<&UpdateTableFromKind>,
        selection: Option<&Expr>,
        returning: &Option<Vec<SelectItem>>,
    ) {
        let scope = self.new_scope(None);
        self.table_with_joins(table, scope);
        let target = match &table.relation {
            TableFactor::Table { name, .. } => object_parts(name).as_deref().and_then(table_name),
            _ => None,
        };
        if let Some(f) = from {
            let (UpdateTableFromKind::BeforeSet(v) | UpdateTableFromKind::AfterSet(v)) = f;
            for t in v {
                self.table_with_joins(t, scope);
            }
        }
        let cols = self.assignments(assignments, scope);
        match target {
            Some(t) => self.write(t, Some(cols)),
            None => self.unknown("UPDATE target"),
        }
        if let Some(sel) = selection {
            self.predicate(sel, scope);
        }
        if let Some(ret) = returning {
            self.returning(ret, scope);
        }
    }

    fn delete(&mut self, del: &sqlparser::ast::Delete) {
        let scope = self.new_scope(None);
        let (sqlparser::ast::FromTable::WithFromKeyword(from)
        | sqlparser::ast::FromTable::WithoutKeyword(from)) = &del.from;
        for t in from {
            self.table_with_joins(t, scope);
            if let TableFactor::Table { name, .. } = &t.relation {
                if let Some(t) = object_parts(name).as_deref().and_then(table_name) {
                    self.write(t, None);
                }
            }
        }
        if !del.tables.is_empty() || del.limit.is_some() || !del.order_by.is_empty() {
            self.unknown("DELETE form");
        }
        if let Some(using) = &del.using {
            for t in using {
                self.table_with_joins(t, scope);
            }
        }
        if let Some(sel) = &del.selection {
            self.predicate(sel, scope);
        }
        if let Some(ret) = &del.returning {
            self.returning(ret, scope);
        }
    }

    fn copy(&mut self, source: &CopySource, to: bool) {
        match source {
            CopySource::Table {
                table_name: name,
                columns,
            } => {
                let Some(t) = object_parts(name).as_deref().and_then(table_name) else {
                    self.unknown("COPY table");
                    return;
                };
                let cols: Vec<String> = columns.iter().map(ident_name).collect();
                if to {
                    let scope = self.new_scope(None);
                    self.read_table(&t);
                    self.add_source(
                        scope,
                        Source {
                            alias: None,
                            kind: SourceKind::Table(t),
                        },
                    );
                    if cols.is_empty() {
                        self.a.star_uses.push(StarUse {
                            qualifier: None,
                            scope,
                            context: UseContext::Written,
                        });
                    }
                    for c in cols {
                        self.use_col(
                            ColumnName {
                                qualifier: Vec::new(),
                                name: c,
                                scope,
                            },
                            UseContext::Written,
                        );
                    }
                } else {
                    self.write(t, if cols.is_empty() { None } else { Some(cols) });
                }
            }
            CopySource::Query(q) => {
                self.query(q, None, Sink::Written);
            }
        }
    }

    // --- queries ---

    /// Registers a WITH clause's CTEs (visible until the caller truncates `self.ctes`).
    fn with_clause(&mut self, with: &sqlparser::ast::With, parent: Option<ScopeId>, sink: Sink) {
        for cte in &with.cte_tables {
            let name = ident_name(&cte.alias.name);
            let renames: Vec<String> = cte
                .alias
                .columns
                .iter()
                .map(|c| ident_name(&c.name))
                .collect();
            if with.recursive {
                // The recursive term sees the CTE itself: give it the anchor's lineage first.
                let anchor = match cte.query.body.as_ref() {
                    SetExpr::SetOperation { left, .. } => {
                        // Walked here once for its lineage and again with the whole
                        // body: its uses are recorded twice, which changes no decision.
                        let (o, _) = self.set_expr(left, parent, sink.set_branch());
                        o
                    }
                    _ => Vec::new(),
                };
                let mut anchor = anchor;
                lineage::rename(&mut anchor, &renames);
                self.ctes.push((name.clone(), anchor));
            }
            let mut outputs = self.query(&cte.query, parent, sink);
            lineage::rename(&mut outputs, &renames);
            self.ctes.push((name, outputs));
        }
    }

    /// Walks a query; returns its output columns.
    fn query(&mut self, q: &Query, parent: Option<ScopeId>, sink: Sink) -> Vec<Output> {
        let ctes_before = self.ctes.len();
        if let Some(with) = &q.with {
            self.with_clause(with, parent, sink);
        }
        let (outputs, body_scope) = self.set_expr(&q.body, parent, sink);
        if let Some(ob) = &q.order_by {
            match &ob.kind {
                OrderByKind::Expressions(items) => {
                    let scope = match body_scope {
                        Some(s) => s,
                        None => self.output_scope(parent, &outputs),
                    };
                    for item in items {
                        self.order_item(item, scope, &outputs, true);
                    }
                }
                OrderByKind::All(_) => self.unknown("ORDER BY ALL"),
            }
        }
        let scope = match body_scope {
            Some(s) => s,
            None => self.new_scope(parent),
        };
        if let Some(lc) = &q.limit_clause {
            match lc {
                sqlparser::ast::LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                } => {
                    if let Some(l) = limit {
                        self.expr(l, scope, UseContext::Expression);
                    }
                    if let Some(o) = offset {
                        self.expr(&o.value, scope, UseContext::Expression);
                    }
                    for e in limit_by {
                        self.expr(e, scope, UseContext::OrderGroup);
                    }
                }
                sqlparser::ast::LimitClause::OffsetCommaLimit { offset, limit } => {
                    self.expr(offset, scope, UseContext::Expression);
                    self.expr(limit, scope, UseContext::Expression);
                }
            }
        }
        if let Some(f) = &q.fetch {
            if let Some(e) = &f.quantity {
                self.expr(e, scope, UseContext::Expression);
            }
        }
        if q.for_clause.is_some()
            || q.settings.is_some()
            || q.format_clause.is_some()
            || !q.pipe_operators.is_empty()
        {
            self.unknown("query clause");
        }
        self.ctes.truncate(ctes_before);
        outputs
    }

    /// A scope whose only item is a set operation's outputs, for its ORDER BY names.
    fn output_scope(&mut self, parent: Option<ScopeId>, outputs: &[Output]) -> ScopeId {
        let scope = self.new_scope(parent);
        self.add_source(
            scope,
            Source {
                alias: None,
                kind: SourceKind::Derived(outputs.to_vec()),
            },
        );
        scope
    }

    /// Marks what an output column depends on as used in `ctx`.
    fn use_lineage(&mut self, lineage: &Lineage, ctx: UseContext) {
        match lineage {
            Lineage::Bare(c) => self.use_col(c.clone(), ctx),
            Lineage::Derived { columns, rows } => {
                for c in columns {
                    self.use_col(c.clone(), ctx);
                }
                for r in rows {
                    self.a.whole_rows.push(WholeRowUse {
                        row: r.clone(),
                        context: ctx,
                        certain: true,
                    });
                }
            }
            Lineage::WholeRow(r) => self.a.whole_rows.push(WholeRowUse {
                row: r.clone(),
                context: ctx,
                certain: true,
            }),
            Lineage::Constant => {}
            Lineage::Unknown => self.unknown("use of an output of unknown origin"),
            Lineage::Star { qualifier, scope } => self.a.star_uses.push(StarUse {
                qualifier: qualifier.clone(),
                scope: *scope,
                context: ctx,
            }),
        }
    }

    /// An ORDER BY (or DISTINCT ON / GROUP BY with `prefer_output`) item: an integer is an
    /// output ordinal; a bare name matching an output is that output (ORDER BY prefers outputs);
    /// anything else is an expression over the FROM scope.
    fn order_item(&mut self, item: &OrderByExpr, scope: ScopeId, outputs: &[Output], _o: bool) {
        self.ordering_expr(&item.expr, scope, outputs, true);
        if item.with_fill.is_some() {
            self.unknown("WITH FILL");
        }
    }

    fn ordering_expr(&mut self, e: &Expr, scope: ScopeId, outputs: &[Output], prefer_output: bool) {
        if let Expr::Value(v) = e {
            if let Value::Number(n, _) = &v.value {
                match n.parse::<usize>().ok().and_then(|i| i.checked_sub(1)) {
                    Some(i) => match outputs.get(i) {
                        Some(o) => {
                            let l = o.lineage.clone();
                            self.use_lineage(&l, UseContext::OrderGroup);
                        }
                        None => self.unknown("ordinal out of range"),
                    },
                    None => self.unknown("ordinal"),
                }
                return;
            }
        }
        if let Expr::Identifier(i) = e {
            let name = ident_name(i);
            let matching: Vec<Lineage> = outputs
                .iter()
                .filter(|o| o.name.as_deref() == Some(name.as_str()))
                .map(|o| o.lineage.clone())
                .collect();
            if !matching.is_empty() {
                for l in &matching {
                    self.use_lineage(l, UseContext::OrderGroup);
                }
                if prefer_output {
                    return;
                }
                // GROUP BY prefers an input column of that name: record it too, softly.
                self.a.soft_uses.push(ColumnUse {
                    column: ColumnName {
                        qualifier: Vec::new(),
                        name,
                        scope,
                    },
                    context: UseContext::OrderGroup,
                });
                return;
            }
        }
        self.expr(e, scope, UseContext::OrderGroup);
    }

    fn set_expr(
        &mut self,
        s: &SetExpr,
        parent: Option<ScopeId>,
        sink: Sink,
    ) -> (Vec<Output>, Option<ScopeId>) {
        match s {
            SetExpr::Select(sel) => {
                let (o, scope) = self.select(sel, parent, sink);
                (o, Some(scope))
            }
            SetExpr::Query(q) => (self.query(q, parent, sink), None),
            SetExpr::SetOperation { left, right, .. } => {
                let (l, _) = self.set_expr(left, parent, sink.set_branch());
                let (r, _) = self.set_expr(right, parent, sink.set_branch());
                (lineage::combine_set_operation(l, &r), None)
            }
            SetExpr::Values(v) => {
                let scope = self.new_scope(parent);
                let width = v.rows.iter().map(Vec::len).max().unwrap_or(0);
                let mut deps: Vec<Deps> = vec![Deps::default(); width];
                for row in &v.rows {
                    for (i, e) in row.iter().enumerate() {
                        let d = self.expr(e, scope, sink.computed());
                        if let Some(slot) = deps.get_mut(i) {
                            slot.extend(d);
                        }
                    }
                }
                let outputs = deps
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| Output {
                        name: Some(format!("column{}", i + 1)),
                        lineage: d.into_lineage(),
                    })
                    .collect();
                (outputs, Some(scope))
            }
            SetExpr::Insert(st) | SetExpr::Update(st) | SetExpr::Delete(st) => {
                // A data-modifying CTE: its RETURNING rows feed the outer query.
                let saved_outputs = std::mem::take(&mut self.a.outputs);
                let saved_returns = self.a.returns_rows;
                let saved_op = self.a.op;
                let saved_ddl = self.a.is_ddl;
                let saved_sink = std::mem::replace(&mut self.returning_sink, sink);
                self.statement(st);
                self.returning_sink = saved_sink;
                let outputs = std::mem::replace(&mut self.a.outputs, saved_outputs);
                self.a.returns_rows = saved_returns;
                self.a.op = saved_op;
                self.a.is_ddl = saved_ddl;
                (outputs, None)
            }
            SetExpr::Table(t) => {
                let scope = self.new_scope(parent);
                let parts: Vec<String> = t
                    .schema_name
                    .iter()
                    .chain(t.table_name.iter())
                    .map(|s| s.to_lowercase())
                    .collect();
                match table_name(&parts) {
                    Some(tn) => {
                        self.read_table(&tn);
                        self.add_source(
                            scope,
                            Source {
                                alias: None,
                                kind: SourceKind::Table(tn),
                            },
                        );
                    }
                    None => self.unknown("TABLE statement"),
                }
                self.a.star_uses.push(StarUse {
                    qualifier: None,
                    scope,
                    context: sink.bare(),
                });
                (
                    vec![Output {
                        name: None,
                        lineage: Lineage::Star {
                            qualifier: None,
                            scope,
                        },
                    }],
                    Some(scope),
                )
            }
        }
    }

    fn select(
        &mut self,
        s: &Select,
        parent: Option<ScopeId>,
        sink: Sink,
    ) -> (Vec<Output>, ScopeId) {
        let scope = self.new_scope(parent);
        for t in &s.from {
            self.table_with_joins(t, scope);
        }
        let mut sink = sink;
        if let Some(into) = &s.into {
            sink = Sink::Written;
            match object_parts(&into.name).as_deref().and_then(table_name) {
                Some(t) => self.write(t, None),
                None => self.unknown("SELECT INTO target"),
            }
        }
        if let Some(sel) = &s.selection {
            self.predicate(sel, scope);
        }
        let outputs = self.projection(&s.projection, scope, sink);
        match &s.distinct {
            None => {}
            Some(Distinct::Distinct) => {
                // Duplicate removal compares the values, like GROUP BY.
                for o in &outputs {
                    self.use_lineage(&o.lineage, UseContext::OrderGroup);
                }
            }
            Some(Distinct::On(exprs)) => {
                for e in exprs {
                    self.ordering_expr(e, scope, &outputs, true);
                }
            }
        }
        match &s.group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                for e in exprs {
                    self.ordering_expr(e, scope, &outputs, false);
                }
                if !modifiers.is_empty() {
                    self.unknown("GROUP BY modifier");
                }
            }
            GroupByExpr::All(_) => {
                for o in &outputs {
                    self.use_lineage(&o.lineage, UseContext::OrderGroup);
                }
            }
        }
        if let Some(h) = &s.having {
            self.predicate(h, scope);
        }
        for w in &s.named_window {
            match &w.1 {
                NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec, scope),
                NamedWindowExpr::NamedWindow(_) => {}
            }
        }
        if s.top.is_some()
            || s.exclude.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || s.qualify.is_some()
            || s.value_table_mode.is_some()
            || s.connect_by.is_some()
        {
            self.unknown("SELECT clause outside PostgreSQL");
        }
        (outputs, scope)
    }

    fn projection(&mut self, items: &[SelectItem], scope: ScopeId, sink: Sink) -> Vec<Output> {
        let mut outputs = Vec::new();
        for item in items {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let lineage = self.output_expr(e, scope, sink);
                    outputs.push(Output {
                        name: expr_name(e),
                        lineage,
                    });
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let lineage = self.output_expr(expr, scope, sink);
                    outputs.push(Output {
                        name: Some(ident_name(alias)),
                        lineage,
                    });
                }
                SelectItem::Wildcard(opts) => {
                    if wildcard_has_options(opts) {
                        self.unknown("wildcard options");
                    }
                    self.a.star_uses.push(StarUse {
                        qualifier: None,
                        scope,
                        context: sink.bare(),
                    });
                    outputs.push(Output {
                        name: None,
                        lineage: Lineage::Star {
                            qualifier: None,
                            scope,
                        },
                    });
                }
                SelectItem::QualifiedWildcard(kind, opts) => {
                    if wildcard_has_options(opts) {
                        self.unknown("wildcard options");
                    }
                    match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => match object_parts(n) {
                            Some(q) => {
                                self.a.star_uses.push(StarUse {
                                    qualifier: Some(q.clone()),
                                    scope,
                                    context: sink.bare(),
                                });
                                outputs.push(Output {
                                    name: None,
                                    lineage: Lineage::Star {
                                        qualifier: Some(q),
                                        scope,
                                    },
                                });
                            }
                            None => {
                                self.unknown("qualified wildcard");
                                outputs.push(Output {
                                    name: None,
                                    lineage: Lineage::Unknown,
                                });
                            }
                        },
                        SelectItemQualifiedWildcardKind::Expr(e) => {
                            // `(expr).*`: fields of a composite value.
                            let d = self.expr(e, scope, sink.computed());
                            let mut d = d;
                            d.unknown = true;
                            outputs.push(Output {
                                name: None,
                                lineage: d.into_lineage(),
                            });
                        }
                    }
                }
            }
        }
        outputs
    }

    /// An output expression: a bare column keeps its identity; anything else is computed.
    fn output_expr(&mut self, e: &Expr, scope: ScopeId, sink: Sink) -> Lineage {
        let inner = strip_nested(e);
        if let Some(c) = self.bare_column(inner, scope) {
            self.note_whole_row_candidate(&c, sink.bare());
            self.use_col(c.clone(), sink.bare());
            return Lineage::Bare(c);
        }
        if let Expr::QualifiedWildcard(n, _) = inner {
            if let Some(q) = object_parts(n) {
                let row = RowRef {
                    qualifier: q,
                    scope,
                };
                self.a.whole_rows.push(WholeRowUse {
                    row: row.clone(),
                    context: sink.bare(),
                    certain: true,
                });
                return Lineage::WholeRow(row);
            }
        }
        self.expr(e, scope, sink.computed()).into_lineage()
    }

    fn bare_column(&self, e: &Expr, scope: ScopeId) -> Option<ColumnName> {
        match e {
            Expr::Identifier(i) => Some(ColumnName {
                qualifier: Vec::new(),
                name: ident_name(i),
                scope,
            }),
            Expr::CompoundIdentifier(parts) => {
                let mut names: Vec<String> = parts.iter().map(ident_name).collect();
                let name = names.pop()?;
                Some(ColumnName {
                    qualifier: names,
                    name,
                    scope,
                })
            }
            _ => None,
        }
    }

    /// Whether `e` is a qualified column (`v.p`) of a subquery or `VALUES` list in FROM whose
    /// value depends on no column at all (literals, parameters): comparing with it is
    /// comparing with a constant. The qualifier names the innermost FROM item with that
    /// alias, as in PostgreSQL; anything less certain is not constant.
    fn is_constant_column(&self, e: &Expr, scope: ScopeId) -> bool {
        let Some(c) = self.bare_column(strip_nested(e), scope) else {
            return false;
        };
        let [qualifier] = c.qualifier.as_slice() else {
            return false;
        };
        let Some(src) = self.source_named(scope, qualifier) else {
            return false;
        };
        let SourceKind::Derived(outputs) = &src.kind else {
            return false;
        };
        let mut same_name = outputs
            .iter()
            .filter(|o| o.name.as_deref() == Some(c.name.as_str()));
        match (same_name.next(), same_name.next()) {
            (Some(o), None) => o.lineage == Lineage::Constant,
            _ => false,
        }
    }

    /// A bare unqualified name that also names a FROM item may be a whole-row reference.
    fn note_whole_row_candidate(&mut self, c: &ColumnName, ctx: UseContext) {
        if c.qualifier.is_empty() && self.names_source(c.scope, &c.name) {
            self.a.whole_rows.push(WholeRowUse {
                row: RowRef {
                    qualifier: vec![c.name.clone()],
                    scope: c.scope,
                },
                context: ctx,
                certain: false,
            });
        }
    }

    // --- FROM ---

    fn table_with_joins(&mut self, t: &TableWithJoins, scope: ScopeId) {
        self.table_factor(&t.relation, scope);
        for j in &t.joins {
            self.table_factor(&j.relation, scope);
            let constraint = match &j.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::CrossJoin | JoinOperator::CrossApply | JoinOperator::OuterApply => {
                    None
                }
                JoinOperator::AsOf { .. } => {
                    self.unknown("ASOF join");
                    None
                }
            };
            match constraint {
                Some(JoinConstraint::On(e)) => self.predicate(e, scope),
                Some(JoinConstraint::Using(cols)) => {
                    for c in cols {
                        if let Some(name) = object_parts(c).and_then(|p| p.last().cloned()) {
                            self.use_col(
                                ColumnName {
                                    qualifier: Vec::new(),
                                    name,
                                    scope,
                                },
                                UseContext::OtherPredicate,
                            );
                        }
                    }
                }
                Some(JoinConstraint::Natural) => {
                    // Compares every same-named column pair: count them all as compared.
                    self.a.star_uses.push(StarUse {
                        qualifier: None,
                        scope,
                        context: UseContext::OtherPredicate,
                    });
                }
                Some(JoinConstraint::None) | None => {}
            }
        }
    }

    fn table_factor(&mut self, t: &TableFactor, scope: ScopeId) {
        self.table_factor_with_sink(t, scope, Sink::Client)
    }

    /// `sink` is where a subquery's rows go when its columns are not used by name afterwards
    /// (MERGE source); ordinary FROM subqueries inherit the enclosing statement's sink through
    /// the uses of their columns, and their bare outputs are recorded as `bare_sink`.
    fn table_factor_with_sink(&mut self, t: &TableFactor, scope: ScopeId, sink: Sink) {
        match t {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                partitions,
                json_path,
                sample,
                index_hints,
                with_ordinality: _,
            } => {
                if let Some(fargs) = args {
                    // `FROM schema.fn(args) [AS alias(cols)]`: a set-returning function.
                    if fargs.settings.is_some() {
                        self.unknown("table function settings");
                    }
                    let f = self.record_function(name).map(|f| f.name);
                    let mut deps = Deps::default();
                    for arg in &fargs.args {
                        deps.extend(self.function_arg(arg, scope, UseContext::Expression));
                    }
                    self.function_source(scope, alias.as_ref(), f, deps);
                    return;
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                {
                    self.unknown("table factor options");
                }
                let Some(mut parts) = object_parts(name) else {
                    self.unknown("table name");
                    return;
                };
                let mut alias = alias.as_ref();
                if let Some(table) = only_table(name, alias) {
                    // `FROM ONLY guests`: sqlparser reads a table `only` aliased `guests`.
                    // ONLY is a reserved word in PostgreSQL, so that reading is impossible:
                    // the table is the "alias", without inheritance children (the masking
                    // rules do not depend on those).
                    parts = vec![table];
                    alias = None;
                }
                let alias_name = alias.map(|a| ident_name(&a.name));
                let renames: Vec<String> = alias
                    .map(|a| a.columns.iter().map(|c| ident_name(&c.name)).collect())
                    .unwrap_or_default();
                if let [single] = parts.as_slice() {
                    if let Some(mut outputs) = self.cte(single) {
                        lineage::rename(&mut outputs, &renames);
                        self.add_source(
                            scope,
                            Source {
                                alias: Some(alias_name.unwrap_or_else(|| single.clone())),
                                kind: SourceKind::Derived(outputs),
                            },
                        );
                        return;
                    }
                }
                let Some(tn) = table_name(&parts) else {
                    self.unknown("table name");
                    return;
                };
                if !renames.is_empty() {
                    // Column aliases on a table rename its columns positionally; without the
                    // catalog we cannot tell which is which.
                    self.unknown("column aliases on a table");
                }
                self.read_table(&tn);
                self.add_source(
                    scope,
                    Source {
                        alias: alias_name,
                        kind: SourceKind::Table(tn),
                    },
                );
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut outputs = self.query(subquery, Some(scope), self.derived_sink(sink));
                if let Some(a) = alias {
                    let renames: Vec<String> =
                        a.columns.iter().map(|c| ident_name(&c.name)).collect();
                    lineage::rename(&mut outputs, &renames);
                }
                self.add_source(
                    scope,
                    Source {
                        alias: alias.as_ref().map(|a| ident_name(&a.name)),
                        kind: SourceKind::Derived(outputs),
                    },
                );
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                let mut deps = Deps::default();
                let f = self.record_function(name).map(|f| f.name);
                for arg in args {
                    deps.extend(self.function_arg(arg, scope, UseContext::Expression));
                }
                self.function_source(scope, alias.as_ref(), f, deps);
            }
            TableFactor::TableFunction { expr, alias } => {
                let deps = self.expr(expr, scope, UseContext::Expression);
                self.function_source(scope, alias.as_ref(), None, deps);
            }
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } => {
                let mut deps = Deps::default();
                for e in array_exprs {
                    deps.extend(self.expr(e, scope, UseContext::Expression));
                }
                self.function_source(scope, alias.as_ref(), Some("unnest".to_owned()), deps);
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    self.unknown("alias on a parenthesised join");
                }
                self.table_with_joins(table_with_joins, scope);
            }
            _ => self.unknown("FROM item kind"),
        }
    }

    /// The sink of a subquery in FROM: its bare outputs are passed on to the enclosing query,
    /// whose own uses of them are resolved through lineage; for statements that write, those
    /// outputs count as written.
    fn derived_sink(&self, sink: Sink) -> Sink {
        if self.a.writes.is_empty() {
            sink
        } else {
            Sink::Written
        }
    }

    /// A set-returning function in FROM. PostgreSQL names it (and, for a scalar result, its one
    /// column) after the alias, else after the function.
    fn function_source(
        &mut self,
        scope: ScopeId,
        alias: Option<&sqlparser::ast::TableAlias>,
        default_name: Option<String>,
        deps: Deps,
    ) {
        let name = alias.map(|a| ident_name(&a.name)).or(default_name);
        let mut columns: Vec<String> = alias
            .map(|a| a.columns.iter().map(|c| ident_name(&c.name)).collect())
            .unwrap_or_default();
        if columns.is_empty() {
            columns.extend(name.clone());
        }
        self.add_source(
            scope,
            Source {
                alias: name,
                kind: SourceKind::Function {
                    columns,
                    lineage: deps.into_lineage(),
                },
            },
        );
    }

    // --- conditions ---

    /// A WHERE / ON / HAVING condition: splits AND/OR/NOT and recognises equality shapes.
    fn predicate(&mut self, e: &Expr, scope: ScopeId) {
        use sqlparser::ast::{BinaryOperator as B, UnaryOperator as U};
        match e {
            Expr::Nested(inner) => self.predicate(inner, scope),
            Expr::BinaryOp {
                left,
                op: B::And | B::Or,
                right,
            } => {
                self.predicate(left, scope);
                self.predicate(right, scope);
            }
            Expr::UnaryOp { op: U::Not, expr } => self.predicate(expr, scope),
            Expr::BinaryOp {
                left,
                op: B::Eq,
                right,
            } => {
                let left_col = self.bare_column(strip_nested(left), scope);
                let right_col = self.bare_column(strip_nested(right), scope);
                // `v.p = g.phone` with `v.p` constant: the column compared is on the right.
                let left_col = match (left_col, &right_col) {
                    (Some(_), Some(_)) if self.is_constant_column(left, scope) => None,
                    (l, _) => l,
                };
                if let Some(c) = left_col {
                    let d = self.expr(right, scope, UseContext::OtherPredicate);
                    let clean = d.is_empty() || self.is_constant_column(right, scope);
                    self.equality_side(c, clean);
                } else if let Some(c) = right_col {
                    let d = self.expr(left, scope, UseContext::OtherPredicate);
                    let clean = d.is_empty() || self.is_constant_column(left, scope);
                    self.equality_side(c, clean);
                } else {
                    self.expr(e, scope, UseContext::OtherPredicate);
                }
            }
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                match self.bare_column(strip_nested(x), scope) {
                    Some(c) => self.equality_side(c, true),
                    None => {
                        self.expr(x, scope, UseContext::OtherPredicate);
                    }
                }
            }
            Expr::InList { expr, list, .. } => match self.bare_column(strip_nested(expr), scope) {
                Some(c) => {
                    let mut d = Deps::default();
                    for v in list {
                        d.extend(self.expr(v, scope, UseContext::OtherPredicate));
                    }
                    self.equality_side(c, d.is_empty());
                }
                None => {
                    self.expr(e, scope, UseContext::OtherPredicate);
                }
            },
            Expr::AnyOp {
                left,
                compare_op: B::Eq,
                right,
                ..
            } => match self.bare_column(strip_nested(left), scope) {
                Some(c) => {
                    let d = self.expr(right, scope, UseContext::OtherPredicate);
                    self.equality_side(c, d.is_empty());
                }
                None => {
                    self.expr(e, scope, UseContext::OtherPredicate);
                }
            },
            _ => {
                self.expr(e, scope, UseContext::OtherPredicate);
            }
        }
    }

    fn equality_side(&mut self, c: ColumnName, other_side_clean: bool) {
        let ctx = if other_side_clean {
            UseContext::EqualityPredicate
        } else {
            UseContext::OtherPredicate
        };
        self.note_whole_row_candidate(&c, UseContext::OtherPredicate);
        self.use_col(c, ctx);
    }

    fn window_spec(&mut self, spec: &WindowSpec, scope: ScopeId) {
        for e in &spec.partition_by {
            self.expr(e, scope, UseContext::OrderGroup);
        }
        for o in &spec.order_by {
            self.expr(&o.expr, scope, UseContext::OrderGroup);
        }
        if let Some(frame) = &spec.window_frame {
            for b in std::iter::once(&frame.start_bound).chain(frame.end_bound.iter()) {
                match b {
                    WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) => {
                        self.expr(e, scope, UseContext::OrderGroup);
                    }
                    WindowFrameBound::Preceding(None)
                    | WindowFrameBound::Following(None)
                    | WindowFrameBound::CurrentRow => {}
                }
            }
        }
    }

    // --- expressions ---

    fn record_function(&mut self, name: &ObjectName) -> Option<FunctionName> {
        let parts = object_parts(name)?;
        let f = match parts.as_slice() {
            [n] => FunctionName {
                schema: None,
                name: n.clone(),
            },
            [s, n] | [_, s, n] => FunctionName {
                schema: Some(s.clone()),
                name: n.clone(),
            },
            _ => return None,
        };
        if !self.a.functions.contains(&f) {
            self.a.functions.push(f.clone());
        }
        Some(f)
    }

    fn function(&mut self, f: &Function, scope: ScopeId, ctx: UseContext) -> Deps {
        let mut deps = Deps::default();
        if is_array_subquery(f) {
            // `ARRAY(SELECT …)` is SQL syntax (an array sublink), not a call: no function is
            // looked up. Its subquery's columns are used inside an expression, as any
            // function argument's are.
            return self.subquery_arg(f, scope, ctx);
        }
        let ctx = match self.record_function(&f.name) {
            Some(fname) if is_side_effect_function(&fname.name) => UseContext::SideEffectArg,
            Some(_) => ctx,
            None => {
                self.unknown("function name");
                ctx
            }
        };
        for args in [&f.parameters, &f.args] {
            match args {
                FunctionArguments::None => {}
                FunctionArguments::Subquery(q) => {
                    let outputs = self.query(q, Some(scope), Sink::of_context(ctx));
                    for o in &outputs {
                        deps.add_lineage(&o.lineage);
                    }
                }
                FunctionArguments::List(list) => {
                    for a in &list.args {
                        deps.extend(self.function_arg(a, scope, ctx));
                    }
                    for c in &list.clauses {
                        match c {
                            FunctionArgumentClause::OrderBy(items) => {
                                for o in items {
                                    deps.extend(self.expr(&o.expr, scope, UseContext::OrderGroup));
                                }
                            }
                            FunctionArgumentClause::Limit(e) => {
                                deps.extend(self.expr(e, scope, ctx));
                            }
                            FunctionArgumentClause::IgnoreOrRespectNulls(_)
                            | FunctionArgumentClause::Separator(_)
                            | FunctionArgumentClause::JsonNullClause(_) => {}
                            FunctionArgumentClause::OnOverflow(_)
                            | FunctionArgumentClause::Having(_) => {
                                self.unknown("function argument clause")
                            }
                        }
                    }
                }
            }
        }
        if let Some(filter) = &f.filter {
            deps.extend(self.expr(filter, scope, UseContext::OrderGroup));
        }
        match &f.over {
            Some(WindowType::WindowSpec(spec)) => self.window_spec(spec, scope),
            Some(WindowType::NamedWindow(_)) | None => {}
        }
        for o in &f.within_group {
            deps.extend(self.expr(&o.expr, scope, UseContext::OrderGroup));
        }
        deps
    }

    /// The subquery of `ARRAY(SELECT …)`, walked as a function's subquery argument.
    fn subquery_arg(&mut self, f: &Function, scope: ScopeId, ctx: UseContext) -> Deps {
        let mut deps = Deps::default();
        if let FunctionArguments::Subquery(q) = &f.args {
            let outputs = self.query(q, Some(scope), Sink::of_context(ctx));
            for o in &outputs {
                deps.add_lineage(&o.lineage);
            }
        }
        deps
    }

    fn function_arg(&mut self, a: &FunctionArg, scope: ScopeId, ctx: UseContext) -> Deps {
        let arg = match a {
            FunctionArg::Named { arg, .. } | FunctionArg::Unnamed(arg) => arg,
            FunctionArg::ExprNamed { name, arg, .. } => {
                let mut d = self.expr(name, scope, ctx);
                d.extend(self.function_arg_expr(arg, scope, ctx));
                return d;
            }
        };
        self.function_arg_expr(arg, scope, ctx)
    }

    fn function_arg_expr(
        &mut self,
        arg: &FunctionArgExpr,
        scope: ScopeId,
        ctx: UseContext,
    ) -> Deps {
        match arg {
            FunctionArgExpr::Expr(e) => self.expr(e, scope, ctx),
            FunctionArgExpr::QualifiedWildcard(n) => self.whole_row(n, scope, ctx),
            // `count(*)` counts rows; it reads no column.
            FunctionArgExpr::Wildcard => Deps::default(),
        }
    }

    fn whole_row(&mut self, n: &ObjectName, scope: ScopeId, ctx: UseContext) -> Deps {
        let mut d = Deps::default();
        match object_parts(n) {
            Some(q) => {
                let row = RowRef {
                    qualifier: q,
                    scope,
                };
                self.a.whole_rows.push(WholeRowUse {
                    row: row.clone(),
                    context: ctx,
                    certain: true,
                });
                d.rows.push(row);
            }
            None => {
                self.unknown("whole-row reference");
                d.unknown = true;
            }
        }
        d
    }

    /// Walks an expression, recording every column in it with context `ctx` (bare or not: the
    /// bare cases with their own contexts are recognised by the callers), and returns what its
    /// value depends on.
    fn expr(&mut self, e: &Expr, scope: ScopeId, ctx: UseContext) -> Deps {
        if self.depth >= MAX_WALK_DEPTH {
            self.unknown("expression nested too deeply");
            return Deps {
                unknown: true,
                ..Deps::default()
            };
        }
        self.depth += 1;
        let d = self.expr_inner(e, scope, ctx);
        self.depth -= 1;
        d
    }

    fn exprs<'e>(
        &mut self,
        es: impl IntoIterator<Item = &'e Expr>,
        scope: ScopeId,
        ctx: UseContext,
    ) -> Deps {
        let mut d = Deps::default();
        for e in es {
            d.extend(self.expr(e, scope, ctx));
        }
        d
    }

    fn subquery(&mut self, q: &Query, scope: ScopeId, ctx: UseContext) -> Deps {
        let outputs = self.query(q, Some(scope), Sink::of_context(ctx));
        let mut d = Deps::default();
        for o in &outputs {
            d.add_lineage(&o.lineage);
        }
        d
    }

    fn expr_inner(&mut self, e: &Expr, scope: ScopeId, ctx: UseContext) -> Deps {
        let mut d = Deps::default();
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                if let Some(c) = self.bare_column(e, scope) {
                    self.note_whole_row_candidate(&c, ctx);
                    self.use_col(c.clone(), ctx);
                    d.columns.push(c);
                }
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                d.extend(self.expr(root, scope, ctx));
                for a in access_chain {
                    match a {
                        sqlparser::ast::AccessExpr::Dot(x) => {
                            // `(g).phone`: a field name, not a column of the scope.
                            if !matches!(x, Expr::Identifier(_)) {
                                d.extend(self.expr(x, scope, ctx));
                            }
                        }
                        sqlparser::ast::AccessExpr::Subscript(s) => match s {
                            sqlparser::ast::Subscript::Index { index } => {
                                d.extend(self.expr(index, scope, ctx))
                            }
                            sqlparser::ast::Subscript::Slice {
                                lower_bound,
                                upper_bound,
                                stride,
                            } => {
                                for x in [lower_bound, upper_bound, stride].into_iter().flatten() {
                                    d.extend(self.expr(x, scope, ctx));
                                }
                            }
                        },
                    }
                }
            }
            Expr::JsonAccess { value, .. } => d.extend(self.expr(value, scope, ctx)),
            Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x)
            | Expr::Nested(x)
            | Expr::OuterJoin(x)
            | Expr::Prior(x)
            | Expr::UnaryOp { expr: x, .. }
            | Expr::Cast { expr: x, .. }
            | Expr::Extract { expr: x, .. }
            | Expr::Ceil { expr: x, .. }
            | Expr::Floor { expr: x, .. }
            | Expr::Collate { expr: x, .. }
            | Expr::Named { expr: x, .. }
            | Expr::IsNormalized { expr: x, .. }
            | Expr::Prefixed { value: x, .. } => d.extend(self.expr(x, scope, ctx)),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::BinaryOp {
                left: a, right: b, ..
            }
            | Expr::AnyOp {
                left: a, right: b, ..
            }
            | Expr::AllOp {
                left: a, right: b, ..
            }
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b }
            | Expr::InUnnest {
                expr: a,
                array_expr: b,
                ..
            }
            | Expr::Like {
                expr: a,
                pattern: b,
                ..
            }
            | Expr::ILike {
                expr: a,
                pattern: b,
                ..
            }
            | Expr::SimilarTo {
                expr: a,
                pattern: b,
                ..
            }
            | Expr::RLike {
                expr: a,
                pattern: b,
                ..
            } => {
                d.extend(self.expr(a, scope, ctx));
                d.extend(self.expr(b, scope, ctx));
            }
            Expr::InList { expr, list, .. } => {
                d.extend(self.expr(expr, scope, ctx));
                d.extend(self.exprs(list, scope, ctx));
            }
            Expr::InSubquery { expr, subquery, .. } => {
                d.extend(self.expr(expr, scope, ctx));
                d.extend(self.subquery(subquery, scope, ctx));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                d.extend(self.expr(expr, scope, ctx));
                d.extend(self.expr(low, scope, ctx));
                d.extend(self.expr(high, scope, ctx));
            }
            Expr::Convert { expr, styles, .. } => {
                d.extend(self.expr(expr, scope, ctx));
                d.extend(self.exprs(styles, scope, ctx));
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                d.extend(self.expr(expr, scope, ctx));
                for x in [substring_from, substring_for].into_iter().flatten() {
                    d.extend(self.expr(x, scope, ctx));
                }
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                d.extend(self.expr(expr, scope, ctx));
                if let Some(w) = trim_what {
                    d.extend(self.expr(w, scope, ctx));
                }
                if let Some(cs) = trim_characters {
                    d.extend(self.exprs(cs, scope, ctx));
                }
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                d.extend(self.expr(expr, scope, ctx));
                d.extend(self.expr(overlay_what, scope, ctx));
                d.extend(self.expr(overlay_from, scope, ctx));
                if let Some(f) = overlay_for {
                    d.extend(self.expr(f, scope, ctx));
                }
            }
            Expr::Value(_) | Expr::TypedString { .. } => {}
            Expr::Function(f) => d.extend(self.function(f, scope, ctx)),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    d.extend(self.expr(o, scope, ctx));
                }
                for c in conditions {
                    d.extend(self.expr(&c.condition, scope, ctx));
                    d.extend(self.expr(&c.result, scope, ctx));
                }
                if let Some(x) = else_result {
                    d.extend(self.expr(x, scope, ctx));
                }
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => {
                d.extend(self.subquery(subquery, scope, ctx))
            }
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                for s in sets {
                    d.extend(self.exprs(s, scope, ctx));
                }
            }
            Expr::Tuple(v) => d.extend(self.exprs(v, scope, ctx)),
            Expr::Struct { values, .. } => d.extend(self.exprs(values, scope, ctx)),
            Expr::Array(a) => d.extend(self.exprs(&a.elem, scope, ctx)),
            Expr::Interval(i) => d.extend(self.expr(&i.value, scope, ctx)),
            Expr::QualifiedWildcard(n, _) => d.extend(self.whole_row(n, scope, ctx)),
            Expr::Wildcard(_) => {
                self.a.star_uses.push(StarUse {
                    qualifier: None,
                    scope,
                    context: ctx,
                });
                d.stars.push((None, scope));
            }
            _ => {
                self.unknown("expression kind");
                d.unknown = true;
            }
        }
        d
    }
}

/// `ARRAY(subquery)` as sqlparser reads it: a call of an unquoted, unqualified `array` whose
/// argument is a subquery, with nothing else attached. A quoted `"array"(…)` is a real call.
fn is_array_subquery(f: &Function) -> bool {
    let name_is_keyword = match f.name.0.as_slice() {
        [part] => part
            .as_ident()
            .is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("array")),
        _ => false,
    };
    name_is_keyword
        && matches!(f.args, FunctionArguments::Subquery(_))
        && matches!(f.parameters, FunctionArguments::None)
        && f.filter.is_none()
        && f.over.is_none()
        && f.within_group.is_empty()
}

/// For `FROM ONLY t` as sqlparser reads it (a table named by the unquoted word `only`, aliased
/// `t`, without column aliases): the table's name `t`.
fn only_table(name: &ObjectName, alias: Option<&sqlparser::ast::TableAlias>) -> Option<String> {
    let [part] = name.0.as_slice() else {
        return None;
    };
    let word = part.as_ident()?;
    if word.quote_style.is_some() || !word.value.eq_ignore_ascii_case("only") {
        return None;
    }
    let alias = alias?;
    alias.columns.is_empty().then(|| ident_name(&alias.name))
}

fn strip_nested(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

fn wildcard_has_options(o: &sqlparser::ast::WildcardAdditionalOptions) -> bool {
    o.opt_ilike.is_some()
        || o.opt_exclude.is_some()
        || o.opt_except.is_some()
        || o.opt_replace.is_some()
        || o.opt_rename.is_some()
}

/// The column name PostgreSQL gives an unaliased output expression.
fn expr_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(ident_name(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
        Expr::Function(f) => object_parts(&f.name).and_then(|p| p.last().cloned()),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => expr_name(expr),
        Expr::Case { .. } => Some("case".to_owned()),
        Expr::Exists { .. } => Some("exists".to_owned()),
        Expr::Array(_) => Some("array".to_owned()),
        Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
            Some(sqlparser::ast::AccessExpr::Dot(Expr::Identifier(i))) => Some(ident_name(i)),
            _ => None,
        },
        _ => None,
    }
}

// === op names ===

const OP_OTHER: &str = "OTHER";

/// The statement's `op`: a fixed string per kind (a metric label and a trail member).
fn op_of(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Select(s) if s.into.is_some() => "SELECT INTO",
            _ => "SELECT",
        },
        Statement::Insert(_) => "INSERT",
        Statement::Update { .. } => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Copy { .. } => "COPY",
        Statement::Merge { .. } => "MERGE",
        Statement::CreateTable(ct) if ct.query.is_some() => "CREATE TABLE AS",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView {
            materialized: true, ..
        } => "CREATE MATERIALIZED VIEW",
        Statement::CreateView { .. } => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateRole { .. } => "CREATE ROLE",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateProcedure { .. } => "CREATE PROCEDURE",
        Statement::CreateTrigger { .. } => "CREATE TRIGGER",
        Statement::CreateSequence { .. } => "CREATE SEQUENCE",
        Statement::CreateType { .. } => "CREATE TYPE",
        Statement::CreateDomain(_) => "CREATE DOMAIN",
        Statement::CreateExtension { .. } => "CREATE EXTENSION",
        Statement::CreatePolicy { .. } => "CREATE POLICY",
        Statement::AlterTable { .. } => "ALTER TABLE",
        Statement::AlterIndex { .. } => "ALTER INDEX",
        Statement::AlterView { .. } => "ALTER VIEW",
        Statement::AlterRole { .. } => "ALTER ROLE",
        Statement::AlterType(_) => "ALTER TYPE",
        Statement::AlterPolicy { .. } => "ALTER POLICY",
        Statement::Drop { object_type, .. } => match object_type {
            ObjectType::Table => "DROP TABLE",
            ObjectType::View => "DROP VIEW",
            ObjectType::MaterializedView => "DROP MATERIALIZED VIEW",
            ObjectType::Index => "DROP INDEX",
            ObjectType::Schema => "DROP SCHEMA",
            ObjectType::Role => "DROP ROLE",
            ObjectType::Sequence => "DROP SEQUENCE",
            ObjectType::Database => "DROP DATABASE",
            ObjectType::Type => "DROP TYPE",
            _ => "DROP",
        },
        Statement::DropFunction { .. } => "DROP FUNCTION",
        Statement::DropProcedure { .. } => "DROP PROCEDURE",
        Statement::DropTrigger { .. } => "DROP TRIGGER",
        Statement::DropPolicy { .. } => "DROP POLICY",
        Statement::DropExtension { .. } => "DROP EXTENSION",
        Statement::DropDomain(_) => "DROP DOMAIN",
        Statement::Truncate { .. } => "TRUNCATE",
        Statement::Grant { .. } => "GRANT",
        Statement::Revoke { .. } => "REVOKE",
        Statement::Comment { .. } => "COMMENT",
        Statement::RenameTable(_) => "ALTER TABLE",
        Statement::StartTransaction { .. } => "BEGIN",
        Statement::Commit { .. } => "COMMIT",
        Statement::Rollback { .. } => "ROLLBACK",
        Statement::Savepoint { .. } => "SAVEPOINT",
        Statement::ReleaseSavepoint { .. } => "RELEASE",
        Statement::Set(_) => "SET",
        Statement::ShowVariable { .. } => "SHOW",
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::Declare { .. } => "DECLARE",
        Statement::Fetch { .. } => "FETCH",
        Statement::Close { .. } => "CLOSE",
        Statement::Call(_) => "CALL",
        Statement::LISTEN { .. } => "LISTEN",
        Statement::UNLISTEN { .. } => "UNLISTEN",
        Statement::NOTIFY { .. } => "NOTIFY",
        Statement::Explain { .. } => "EXPLAIN",
        Statement::Analyze { .. } => "ANALYZE",
        Statement::Discard { .. } => "DISCARD",
        Statement::LockTables { .. } => "LOCK",
        _ => OP_OTHER,
    }
}

fn is_ddl(stmt: &Statement) -> bool {
    let op = op_of(stmt);
    op.starts_with("CREATE")
        || op.starts_with("ALTER")
        || op.starts_with("DROP")
        || matches!(op, "TRUNCATE" | "GRANT" | "REVOKE" | "COMMENT")
        || (op == "SELECT INTO")
}

#[cfg(test)]
mod tests;
