//! Corpus tests of the statement analyser: real statements from psql meta-commands, pgbench,
//! ORMs (Django, Hibernate, SQLAlchemy styles), DDL, COPY, and the masking-attack shapes of
//! SPEC "Masking — what must hold" on the hotel schema, each checked for op, tables, and the
//! exact set of column uses with their contexts. Also: no input panics the analyser.

use proptest::prelude::*;
use trailmask::sql::{analyze, normalize, Analysis, AnalysisCache, Lineage};

fn one(sql: &str) -> Analysis {
    let v = analyze(sql);
    assert_eq!(v.len(), 1, "{sql}");
    v.into_iter().next().unwrap_or_else(|| panic!("{sql}"))
}

/// Sorted `name:context` of every use (qualifier dropped).
fn uses(a: &Analysis) -> Vec<String> {
    let mut v: Vec<String> = a
        .uses
        .iter()
        .map(|u| format!("{}:{:?}", u.column.name, u.context))
        .collect();
    v.extend(a.star_uses.iter().map(|s| format!("*:{:?}", s.context)));
    v.extend(
        a.whole_rows
            .iter()
            .filter(|w| w.certain)
            .map(|w| format!("row {}:{:?}", w.row.qualifier.join("."), w.context)),
    );
    v.sort();
    v
}

fn tables(a: &Analysis) -> Vec<String> {
    a.tables_read
        .iter()
        .map(|t| match &t.schema {
            Some(s) => format!("{s}.{}", t.name),
            None => t.name.clone(),
        })
        .collect()
}

/// (sql, op, tables read, uses as `name:Context`, sorted).
const CASES: &[(&str, &str, &[&str], &[&str])] = &[
    // --- pgbench (tpcb-like, -M simple and -M extended) ---
    ("UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 12345;", "UPDATE",
     &["pgbench_accounts"], &["abalance:Written", "aid:EqualityPredicate"]),
    ("SELECT abalance FROM pgbench_accounts WHERE aid = $1", "SELECT",
     &["pgbench_accounts"], &["abalance:BareOutput", "aid:EqualityPredicate"]),
    ("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 12345, -4711, CURRENT_TIMESTAMP)",
     "INSERT", &[], &[]),
    ("END", "COMMIT", &[], &[]),
    ("select count(*) from pgbench_branches", "SELECT", &["pgbench_branches"], &[]),
    // --- ORMs ---
    (r#"SELECT "guests"."id", "guests"."name" FROM "guests" WHERE "guests"."id" = $1 LIMIT 21"#,
     "SELECT", &["guests"], &["id:BareOutput", "id:EqualityPredicate", "name:BareOutput"]),
    ("select g1_0.id,g1_0.name,g1_0.phone from guests g1_0 where g1_0.id=$1", "SELECT",
     &["guests"], &["id:BareOutput", "id:EqualityPredicate", "name:BareOutput", "phone:BareOutput"]),
    ("SELECT guests.id AS guests_id, guests.phone AS guests_phone FROM guests WHERE guests.id = 5",
     "SELECT", &["guests"], &["id:BareOutput", "id:EqualityPredicate", "phone:BareOutput"]),
    (r#"INSERT INTO "guests" ("name", "phone") VALUES ($1, $2) RETURNING "guests"."id""#, "INSERT",
     &[], &["id:BareOutput"]),
    (r#"UPDATE "guests" SET "email" = $1 WHERE "guests"."id" = $2"#, "UPDATE", &["guests"],
     &["id:EqualityPredicate"]),
    (r#"SELECT count(*) AS "__count" FROM "guests" WHERE "guests"."birthday" BETWEEN $1 AND $2"#,
     "SELECT", &["guests"], &["birthday:OtherPredicate"]),
    ("SELECT g.name, p.amount FROM guests g LEFT OUTER JOIN payments p ON (g.id = p.guest_id) WHERE (g.id IN (1, 2, 3) AND p.amount > 100) ORDER BY g.name DESC NULLS LAST OFFSET 10 ROWS FETCH FIRST 5 ROWS ONLY",
     "SELECT", &["guests", "payments"],
     &["amount:BareOutput", "amount:OtherPredicate", "guest_id:OtherPredicate", "id:EqualityPredicate",
       "id:OtherPredicate", "name:BareOutput", "name:OrderGroup"]),
    ("SELECT EXISTS (SELECT 1 FROM guests WHERE phone = $1)", "SELECT", &["guests"],
     &["phone:EqualityPredicate"]),
    ("SELECT t.typname, t.oid FROM pg_type t WHERE t.typname = ANY($1::text[])", "SELECT",
     &["pg_type"], &["oid:BareOutput", "typname:BareOutput", "typname:EqualityPredicate"]),
    // --- DDL ---
    ("CREATE TABLE guests (id serial PRIMARY KEY, name text, phone text, email text, national_id text, passport_no text, birthday date, address text)",
     "CREATE TABLE", &[], &[]),
    ("ALTER TABLE guests ADD COLUMN note text", "ALTER TABLE", &[], &[]),
    ("CREATE ROLE front_desk NOLOGIN", "CREATE ROLE", &[], &[]),
    ("DROP VIEW IF EXISTS guest_contacts", "DROP VIEW", &[], &[]),
    // --- COPY ---
    ("COPY guests FROM STDIN", "COPY", &[], &[]),
    ("copy pgbench_accounts from stdin with (freeze on)", "COPY", &[], &[]),
    ("COPY guests (id, phone) TO STDOUT WITH (FORMAT binary)", "COPY", &["guests"],
     &["id:Written", "phone:Written"]),
    ("COPY guests TO '/tmp/x.csv' WITH (FORMAT csv)", "COPY", &["guests"], &["*:Written"]),
    ("COPY (SELECT phone FROM guests) TO STDOUT", "COPY", &["guests"], &["phone:Written"]),
    // --- masking-attack shapes (SPEC) ---
    ("SELECT upper(phone) FROM guests", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT phone::bigint + 1 FROM guests", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT national_id LIKE 'A1%' FROM guests", "SELECT", &["guests"], &["national_id:Expression"]),
    ("SELECT string_agg(phone, ',') FROM guests", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT name FROM guests ORDER BY phone", "SELECT", &["guests"], &["name:BareOutput", "phone:OrderGroup"]),
    ("SELECT g FROM guests g", "SELECT", &["guests"], &["g:BareOutput"]),
    ("SELECT row_to_json(g) FROM guests g", "SELECT", &["guests"], &["g:Expression"]),
    ("SELECT g::text FROM guests g", "SELECT", &["guests"], &["g:Expression"]),
    ("SELECT row_to_json(guests.*) FROM guests", "SELECT", &["guests"], &["row guests:Expression"]),
    ("INSERT INTO t SELECT phone FROM guests", "INSERT", &["guests"], &["phone:Written"]),
    ("UPDATE rooms SET note = phone FROM guests WHERE guests.id = rooms.guest_id", "UPDATE",
     &["rooms", "guests"], &["guest_id:OtherPredicate", "id:OtherPredicate", "phone:Written"]),
    ("CREATE TABLE x AS SELECT phone FROM guests", "CREATE TABLE AS", &["guests"], &["phone:Written"]),
    ("SELECT set_config('a', phone, false) FROM guests", "SELECT", &["guests"], &["phone:SideEffectArg"]),
    ("SELECT setval('s', length(phone)) FROM guests", "SELECT", &["guests"], &["phone:SideEffectArg"]),
    ("SELECT pg_advisory_lock(hashtext(national_id)) FROM guests", "SELECT", &["guests"],
     &["national_id:SideEffectArg"]),
    ("WITH x AS (SELECT upper(phone) p FROM guests) SELECT p FROM x", "SELECT", &["guests"],
     &["p:BareOutput", "phone:Expression"]),
    ("SELECT * FROM (SELECT phone || '' AS p FROM guests) s", "SELECT", &["guests"],
     &["*:BareOutput", "phone:Expression"]),
    ("SELECT phone FROM guests UNION SELECT national_id FROM guests", "SELECT", &["guests"],
     &["national_id:Expression", "phone:Expression"]),
    ("SELECT phone FROM guests UNION ALL SELECT '0912'", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT count(*) FILTER (WHERE phone = '1') FROM guests", "SELECT", &["guests"], &["phone:OrderGroup"]),
    ("SELECT DISTINCT ON (phone) name FROM guests", "SELECT", &["guests"],
     &["name:BareOutput", "phone:OrderGroup"]),
    ("SELECT rank() OVER (PARTITION BY phone) FROM guests", "SELECT", &["guests"], &["phone:OrderGroup"]),
    ("SELECT array_agg(id ORDER BY phone) FROM guests", "SELECT", &["guests"],
     &["id:Expression", "phone:OrderGroup"]),
    ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY birthday) FROM guests", "SELECT", &["guests"],
     &["birthday:OrderGroup"]),
    ("SELECT id FROM guests WHERE phone = '0912345678'", "SELECT", &["guests"],
     &["id:BareOutput", "phone:EqualityPredicate"]),
    ("SELECT id FROM guests WHERE phone IN ('1', '2') OR email IS NULL", "SELECT", &["guests"],
     &["email:EqualityPredicate", "id:BareOutput", "phone:EqualityPredicate"]),
    ("SELECT id FROM guests WHERE national_id LIKE 'A1%'", "SELECT", &["guests"],
     &["id:BareOutput", "national_id:OtherPredicate"]),
    ("SELECT id FROM guests WHERE phone = email", "SELECT", &["guests"],
     &["email:OtherPredicate", "id:BareOutput", "phone:OtherPredicate"]),
    ("SELECT id FROM guests WHERE substr(phone, 1, 4) = '0912'", "SELECT", &["guests"],
     &["id:BareOutput", "phone:OtherPredicate"]),
    ("SELECT (SELECT phone FROM guests LIMIT 1)", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT jsonb_build_object('p', phone) FROM guests", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT ARRAY[phone] FROM guests", "SELECT", &["guests"], &["phone:Expression"]),
    ("SELECT phone COLLATE \"C\" FROM guests", "SELECT", &["guests"], &["phone:Expression"]),
    ("DECLARE c CURSOR FOR SELECT phone FROM guests", "DECLARE", &["guests"], &["phone:BareOutput"]),
    ("SELECT phone INTO x FROM guests", "SELECT INTO", &["guests"], &["phone:Written"]),
    ("MERGE INTO t USING guests g ON t.id = g.id WHEN MATCHED THEN UPDATE SET x = g.phone", "MERGE",
     &["t", "guests"], &["id:Written", "id:Written", "phone:Written"]),
    ("WITH d AS (DELETE FROM guests WHERE id = 1 RETURNING phone) INSERT INTO archive SELECT phone FROM d",
     "INSERT", &["guests"], &["id:EqualityPredicate", "phone:Written", "phone:Written"]),
];

#[test]
fn corpus_cases() {
    let mut failures = Vec::new();
    for (sql, op, tabs, want) in CASES {
        let a = one(sql);
        let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        let got = uses(&a);
        if a.op != *op || tables(&a) != *tabs || got != want || !a.unknown.is_empty() {
            failures.push(format!(
                "{sql}\n   op {} (want {op}), tables {:?} (want {tabs:?}), unknown {:?}\n   uses {got:?}\n   want {want:?}",
                a.op,
                tables(&a),
                a.unknown
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Statements separated by `-- ;;;` lines.
fn corpus_file(name: &str) -> Vec<String> {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("-- ;;;")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn psql_meta_commands_parse_fully() {
    let qs = corpus_file("psql_meta.sql");
    assert!(qs.len() >= 15);
    for q in qs {
        let a = one(&q);
        assert_eq!(a.op, "SELECT", "{q}");
        assert!(a.unknown.is_empty(), "{q}: {:?}", a.unknown);
        assert!(a.returns_rows);
        assert!(!a.outputs.is_empty());
        assert!(
            a.tables_read.iter().all(|t| t.name.starts_with("pg_")),
            "{q}"
        );
    }
}

#[test]
fn misc_statements_are_understood_or_unparsed_but_never_unknown_silently() {
    for q in corpus_file("misc.sql") {
        let a = one(&q);
        if a.op == "UNPARSED" {
            assert!(a.is_opaque());
            assert!(a.text.is_some());
        }
        // Anything the walker skipped is flagged.
        if !a.unknown.is_empty() {
            assert!(a.is_opaque(), "{q}");
        }
    }
}

#[test]
fn lineage_through_layers() {
    let a = one(
        "WITH x AS (SELECT g.phone AS p FROM guests g) SELECT y.p AS q FROM (SELECT p FROM x) y",
    );
    assert_eq!(a.outputs.len(), 1);
    assert_eq!(a.outputs[0].name.as_deref(), Some("q"));
    assert!(
        matches!(&a.outputs[0].lineage, Lineage::Bare(c) if c.name == "p" && c.qualifier == vec!["y".to_string()])
    );
    let a = one("SELECT 1, $1, now()");
    assert!(a.outputs.iter().all(|o| o.lineage == Lineage::Constant));
}

#[test]
fn cache_serves_pgbench_simple_mode() {
    let cache = AnalysisCache::new(100);
    for i in 0..50 {
        let sql = format!(
            "BEGIN; UPDATE pgbench_accounts SET abalance = abalance + {} WHERE aid = {i}; SELECT abalance FROM pgbench_accounts WHERE aid = {i}; END;",
            i * 7 + 1
        );
        let v = cache.analyze(&sql);
        assert_eq!(v.len(), 4);
        assert_eq!(v[1].analysis.op, "UPDATE");
    }
    assert_eq!(cache.misses(), 4);
    assert_eq!(cache.hits(), 49 * 4);
}

const SQL_WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "guests",
    "g",
    "phone",
    "(",
    ")",
    ",",
    "=",
    "'x'",
    "$1",
    "1",
    "*",
    "JOIN",
    "ON",
    "UNION",
    "WITH",
    "AS",
    "ORDER",
    "BY",
    "GROUP",
    "upper",
    "::",
    "text",
    ".",
    ";",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "RETURNING",
    "COPY",
    "TO",
    "STDOUT",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LATERAL",
    "DISTINCT",
    "OVER",
    "PARTITION",
    "FILTER",
    "$$",
    "E'\\''",
    "--",
    "/*",
    "*/",
    "\"q\"",
    "row_to_json",
    "DO",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn analyze_never_panics_on_any_string(s in "\\PC{0,200}") {
        let _ = analyze(&s);
        let n = normalize(&s);
        for l in &n.literals {
            prop_assert_eq!(s.get(l.span.clone()), Some(l.text.as_str()));
        }
        prop_assert_eq!(n.fingerprint.to_string().len(), 16);
    }

    #[test]
    fn analyze_never_panics_on_sql_soup(words in proptest::collection::vec(proptest::sample::select(SQL_WORDS), 0..40)) {
        let s = words.join(" ");
        for a in analyze(&s) {
            // Every analysis is either understood or says it is not.
            prop_assert!(a.op != "OTHER" || !a.unknown.is_empty());
        }
    }
}
