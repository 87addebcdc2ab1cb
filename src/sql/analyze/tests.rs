//! Unit tests of the analyser: ops, tables, contexts of the masking-attack shapes.

use super::*;

fn one(sql: &str) -> Analysis {
    let mut v = analyze(sql);
    assert_eq!(v.len(), 1, "{sql}");
    v.remove(0)
}

/// (qualifier.name, context) of every use, in order.
fn uses(a: &Analysis) -> Vec<(String, UseContext)> {
    a.uses
        .iter()
        .map(|u| {
            let mut q = u.column.qualifier.join(".");
            if !q.is_empty() {
                q.push('.');
            }
            (format!("{q}{}", u.column.name), u.context)
        })
        .collect()
}

fn ctx_of(a: &Analysis, col: &str) -> Vec<UseContext> {
    uses(a)
        .into_iter()
        .filter(|(n, _)| n == col || n.ends_with(&format!(".{col}")))
        .map(|(_, c)| c)
        .collect()
}

use UseContext::*;

#[test]
fn plain_select() {
    let a = one("SELECT id, g.phone AS p FROM public.guests g WHERE national_id = $1");
    assert_eq!(a.op, "SELECT");
    assert!(!a.is_ddl);
    assert!(a.returns_rows);
    assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    assert_eq!(
        a.tables_read,
        vec![TableName {
            schema: Some("public".into()),
            name: "guests".into()
        }]
    );
    assert_eq!(
        uses(&a),
        vec![
            ("national_id".into(), EqualityPredicate),
            ("id".into(), BareOutput),
            ("g.phone".into(), BareOutput)
        ]
    );
    assert_eq!(a.outputs.len(), 2);
    assert_eq!(a.outputs[1].name.as_deref(), Some("p"));
    assert!(matches!(&a.outputs[1].lineage, Lineage::Bare(c) if c.name == "phone"));
}

#[test]
fn expressions_in_output() {
    for sql in [
        "SELECT upper(phone) FROM guests",
        "SELECT phone::bigint + 1 FROM guests",
        "SELECT national_id LIKE 'A1%' FROM guests",
        "SELECT string_agg(phone, ',') FROM guests",
        "SELECT CASE WHEN phone IS NULL THEN 1 END FROM guests",
        "SELECT (SELECT phone FROM guests LIMIT 1)",
    ] {
        let a = one(sql);
        let col = if sql.contains("national_id") {
            "national_id"
        } else {
            "phone"
        };
        assert_eq!(ctx_of(&a, col), vec![Expression], "{sql}");
        assert!(
            matches!(a.outputs[0].lineage, Lineage::Derived { .. }),
            "{sql}"
        );
    }
}

#[test]
fn ordering_and_grouping() {
    let a = one("SELECT name FROM guests ORDER BY phone");
    assert_eq!(ctx_of(&a, "phone"), vec![OrderGroup]);
    let a = one("SELECT phone, count(*) FROM guests GROUP BY phone");
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput, OrderGroup]);
    let a = one("SELECT phone AS p, name FROM guests ORDER BY p");
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput, OrderGroup]);
    let a = one("SELECT name, phone FROM guests ORDER BY 2");
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput, OrderGroup]);
    assert_eq!(ctx_of(&a, "name"), vec![BareOutput]);
    let a = one("SELECT DISTINCT ON (phone) name FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![OrderGroup]);
    let a = one("SELECT row_number() OVER (PARTITION BY phone ORDER BY email) FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![OrderGroup]);
    assert_eq!(ctx_of(&a, "email"), vec![OrderGroup]);
    let a = one("SELECT count(*) FILTER (WHERE phone = '1') FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![OrderGroup]);
    let a = one("SELECT DISTINCT phone FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput, OrderGroup]);
}

#[test]
fn predicates() {
    let a = one("SELECT id FROM guests WHERE phone = '0912' AND email IN ($1, $2) OR passport_no IS NOT NULL");
    assert_eq!(ctx_of(&a, "phone"), vec![EqualityPredicate]);
    assert_eq!(ctx_of(&a, "email"), vec![EqualityPredicate]);
    assert_eq!(ctx_of(&a, "passport_no"), vec![EqualityPredicate]);
    let a = one("SELECT id FROM guests WHERE national_id LIKE 'A1%' OR birthday < now()");
    assert_eq!(ctx_of(&a, "national_id"), vec![OtherPredicate]);
    assert_eq!(ctx_of(&a, "birthday"), vec![OtherPredicate]);
    let a = one(
        "SELECT g.id FROM guests g JOIN payments p ON p.guest_id = g.id WHERE upper(g.name) = 'X'",
    );
    assert_eq!(ctx_of(&a, "guest_id"), vec![OtherPredicate]);
    assert_eq!(ctx_of(&a, "name"), vec![OtherPredicate]);
    let a = one("SELECT id FROM guests WHERE $1 = phone AND email = ANY($2)");
    assert_eq!(ctx_of(&a, "phone"), vec![EqualityPredicate]);
    assert_eq!(ctx_of(&a, "email"), vec![EqualityPredicate]);
    let a = one("SELECT id FROM guests WHERE phone IN (SELECT phone FROM blacklist)");
    assert_eq!(ctx_of(&a, "phone"), vec![OtherPredicate, OtherPredicate]);
    let a = one("SELECT id FROM guests WHERE NOT (phone = lower(email))");
    assert_eq!(ctx_of(&a, "phone"), vec![OtherPredicate]);
    assert_eq!(ctx_of(&a, "email"), vec![OtherPredicate]);
    let a = one("SELECT g.id FROM guests g GROUP BY g.id HAVING max(phone) = '1'");
    assert_eq!(ctx_of(&a, "phone"), vec![OtherPredicate]);
}

#[test]
fn whole_rows() {
    let a = one("SELECT g FROM guests g");
    assert_eq!(a.whole_rows.len(), 1);
    assert!(!a.whole_rows[0].certain);
    assert_eq!(a.whole_rows[0].row.qualifier, vec!["g".to_string()]);
    let a = one("SELECT row_to_json(g) FROM guests g");
    assert_eq!(a.whole_rows.len(), 1);
    assert_eq!(a.whole_rows[0].context, Expression);
    let a = one("SELECT g::text FROM guests g");
    assert_eq!(a.whole_rows[0].context, Expression);
    let a = one("SELECT row_to_json(guests.*) FROM guests");
    assert!(a.whole_rows[0].certain);
    assert_eq!(a.whole_rows[0].row.qualifier, vec!["guests".to_string()]);
    let a = one("SELECT phone FROM guests");
    assert!(a.whole_rows.is_empty());
}

#[test]
fn stars() {
    let a = one("SELECT * FROM guests g JOIN payments p ON p.guest_id = g.id");
    assert_eq!(a.star_uses.len(), 1);
    assert_eq!(a.star_uses[0].context, BareOutput);
    assert!(matches!(
        a.outputs[0].lineage,
        Lineage::Star {
            qualifier: None,
            ..
        }
    ));
    let a = one("SELECT g.*, p.card_number FROM guests g, payments p");
    assert_eq!(a.star_uses[0].qualifier, Some(vec!["g".to_string()]));
}

#[test]
fn written_elsewhere() {
    let a = one("INSERT INTO t SELECT phone FROM guests");
    assert_eq!(a.op, "INSERT");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    assert!(!a.returns_rows);
    let a = one("UPDATE rooms SET note = phone FROM guests WHERE guests.id = rooms.guest_id");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    assert_eq!(a.writes[0].columns, Some(vec!["note".to_string()]));
    let a = one("CREATE TABLE x AS SELECT phone FROM guests");
    assert_eq!(a.op, "CREATE TABLE AS");
    assert!(a.is_ddl);
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    let a = one("COPY (SELECT phone FROM guests) TO STDOUT");
    assert_eq!(a.op, "COPY");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    let a = one("COPY guests (id, phone) TO STDOUT");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    let a = one("COPY guests TO STDOUT");
    assert_eq!(a.star_uses[0].context, Written);
    let a = one("COPY guests FROM STDIN");
    assert!(a.uses.is_empty() && a.writes.len() == 1);
    let a = one("SELECT phone INTO TEMP x FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    assert!(!a.returns_rows);
    let a = one("INSERT INTO t SELECT * FROM (SELECT phone FROM guests) s");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
    assert_eq!(a.star_uses[0].context, Written);
}

#[test]
fn side_effects() {
    let a = one("SELECT set_config('a', phone, false) FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![SideEffectArg]);
    let a = one("SELECT pg_catalog.pg_advisory_lock(hashtext(phone)) FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![SideEffectArg]);
    assert_eq!(
        a.functions[0],
        FunctionName {
            schema: Some("pg_catalog".into()),
            name: "pg_advisory_lock".into()
        }
    );
    let a = one("SELECT pg_notify('c', phone) FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![SideEffectArg]);
}

#[test]
fn laundering_through_ctes_and_subqueries() {
    let a = one("WITH x AS (SELECT upper(phone) p FROM guests) SELECT p FROM x");
    assert_eq!(ctx_of(&a, "phone"), vec![Expression]);
    assert_eq!(ctx_of(&a, "p"), vec![BareOutput]);
    let a = one("SELECT * FROM (SELECT phone || '' AS p FROM guests) s");
    assert_eq!(ctx_of(&a, "phone"), vec![Expression]);
    let a = one("SELECT p FROM (SELECT phone AS p FROM guests) s ORDER BY p");
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput]);
    // the outer ORDER BY p names the output p, whose lineage is s.p
    assert_eq!(ctx_of(&a, "p"), vec![BareOutput, OrderGroup]);
    let a = one("SELECT phone FROM guests UNION SELECT name FROM guests");
    assert_eq!(ctx_of(&a, "phone"), vec![Expression]);
    assert_eq!(ctx_of(&a, "name"), vec![Expression]);
    assert!(
        matches!(a.outputs[0].lineage, Lineage::Derived { ref columns, .. } if columns.len() == 2)
    );
    let a = one(
        "WITH RECURSIVE t(n, p) AS (SELECT 1, phone FROM guests UNION ALL SELECT n + 1, p FROM t WHERE n < 3) SELECT p FROM t",
    );
    let mut c = ctx_of(&a, "phone");
    c.dedup();
    assert_eq!(c, vec![Expression]);
}

#[test]
fn returning_and_upsert() {
    let a = one(
        r#"INSERT INTO "public"."guests" ("name", "phone") VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET phone = EXCLUDED.phone RETURNING "guests"."id", phone"#,
    );
    assert_eq!(a.op, "INSERT");
    assert!(a.returns_rows);
    assert_eq!(a.outputs.len(), 2);
    assert_eq!(ctx_of(&a, "phone"), vec![Written, BareOutput]);
    assert_eq!(
        a.writes[0].columns,
        Some(vec!["name".to_string(), "phone".to_string()])
    );
    let a = one("DELETE FROM guests WHERE id = $1 RETURNING phone");
    assert_eq!(a.op, "DELETE");
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput]);
    assert_eq!(ctx_of(&a, "id"), vec![EqualityPredicate]);
}

#[test]
fn ops() {
    for (sql, op, ddl) in [
        ("BEGIN", "BEGIN", false),
        ("COMMIT", "COMMIT", false),
        ("END", "COMMIT", false),
        ("ROLLBACK", "ROLLBACK", false),
        ("SET search_path TO public", "SET", false),
        ("SHOW search_path", "SHOW", false),
        ("ALTER TABLE guests ADD COLUMN x int", "ALTER TABLE", true),
        ("DROP TABLE IF EXISTS x", "DROP TABLE", true),
        ("TRUNCATE pgbench_history", "TRUNCATE", true),
        ("CREATE INDEX ON guests (phone)", "CREATE INDEX", true),
        ("GRANT SELECT ON guests TO front_desk", "GRANT", true),
        ("GRANT front_desk TO alice", OP_UNPARSED, true),
        ("PREPARE q AS SELECT phone FROM guests", "PREPARE", false),
        ("EXECUTE q(1)", "EXECUTE", false),
        (
            "DECLARE c CURSOR FOR SELECT phone FROM guests",
            "DECLARE",
            false,
        ),
        ("FETCH 10 FROM c", "FETCH", false),
        ("CLOSE c", "CLOSE", false),
        ("LISTEN ch", "LISTEN", false),
        ("NOTIFY ch, 'x'", "NOTIFY", false),
        ("CALL p(1)", "CALL", false),
        ("DO $$ BEGIN PERFORM 1; END $$", "DO", false),
        (
            "MERGE INTO t USING guests g ON t.id = g.id WHEN MATCHED THEN UPDATE SET x = g.phone",
            "MERGE",
            false,
        ),
    ] {
        let a = one(sql);
        assert_eq!(a.op, op, "{sql}");
        assert_eq!(a.is_ddl, ddl, "{sql}");
    }
    let a = one("DO $$ BEGIN PERFORM 1; END $$");
    assert!(a.do_block);
    let a = one("DECLARE c CURSOR FOR SELECT phone FROM guests");
    assert_eq!(a.cursor.as_deref(), Some("c"));
    assert_eq!(ctx_of(&a, "phone"), vec![BareOutput]);
    let a =
        one("MERGE INTO t USING guests g ON t.id = g.id WHEN MATCHED THEN UPDATE SET x = g.phone");
    assert_eq!(ctx_of(&a, "phone"), vec![Written]);
}

#[test]
fn unparsed_keeps_text() {
    let a = one("SELEC phone FROM guests");
    assert_eq!(a.op, OP_UNPARSED);
    assert_eq!(a.text.as_deref(), Some("SELEC phone FROM guests"));
    assert!(a.is_opaque());
}

#[test]
fn multi_statement() {
    let v = analyze("BEGIN; UPDATE t SET a = 1 WHERE b = 'x;y'; SELEC; COMMIT");
    let ops: Vec<&str> = v.iter().map(|a| a.op).collect();
    assert_eq!(ops, vec!["BEGIN", "UPDATE", OP_UNPARSED, "COMMIT"]);
}

#[test]
fn deep_nesting_does_not_overflow() {
    let sql = format!("SELECT {}1", "1 + ".repeat(20_000));
    let v = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || analyze(&sql))
        .map(|h| h.join());
    assert!(matches!(v, Ok(Ok(_))));
}

#[test]
fn code_definitions_are_recognised_parsed_or_not() {
    for (sql, kind) in [
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "function",
        ),
        (
            "create or replace procedure p() language sql as $$select 1$$",
            "procedure",
        ),
        (
            "CREATE TRIGGER t BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "trigger",
        ),
        (
            "CREATE CONSTRAINT TRIGGER t AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "trigger",
        ),
        (
            "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()",
            "event trigger",
        ),
        ("CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "rule"),
        ("-- x\nALTER OPERATOR = (text, text) OWNER TO x", "operator"),
        (
            "CREATE DEFAULT CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f",
            "conversion",
        ),
        ("ALTER TABLE t ENABLE ALWAYS TRIGGER x", "trigger (enabled)"),
    ] {
        assert_eq!(one(sql).code_definition, Some(kind), "{sql}");
    }
    for sql in [
        "CREATE OR REPLACE VIEW v AS SELECT 1",
        "CREATE TABLE t (x int)",
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO x",
        "CREATE EVENT",
        "SELECT 1",
    ] {
        assert_eq!(one(sql).code_definition, None, "{sql}");
    }
}

#[test]
fn functions_in_definitions_are_code_functions_not_calls() {
    let a = one("CREATE TABLE t (id int DEFAULT public.f(), x text CHECK (g(x)), CHECK (h(id)))");
    let names: Vec<&str> = a.code_functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["f", "g", "h"]);
    assert_eq!(
        a.code_functions.first().and_then(|f| f.schema.as_deref()),
        Some("public")
    );
    assert!(a.functions.is_empty());
    assert!(a.uses.is_empty(), "{:?}", a.uses);
    let a = one("ALTER TABLE t ALTER COLUMN x SET DEFAULT f(), ADD COLUMN y int DEFAULT g()");
    let names: Vec<&str> = a.code_functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["f", "g"]);
}

#[test]
fn copy_with_a_server_file_or_program() {
    for sql in [
        "COPY t FROM '/tmp/x'",
        "COPY t TO '/tmp/x'",
        "COPY t FROM PROGRAM 'cat'",
        "COPY (SELECT 1) TO PROGRAM 'cat'",
        "COPY t FROM '/tmp/x' WITH (NOSUCH_OPTION 1)",
    ] {
        assert!(one(sql).server_file, "{sql}");
    }
    for sql in [
        "COPY t FROM STDIN",
        "COPY t TO STDOUT",
        "COPY t (a) TO STDOUT WITH (FORMAT csv)",
    ] {
        assert!(!one(sql).server_file, "{sql}");
    }
}

#[test]
fn array_subquery_is_not_a_function_call() {
    let a = one("SELECT ARRAY(SELECT phone FROM guests) AS a, \"array\"(1)");
    let names: Vec<&str> = a.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["array"]);
    assert_eq!(ctx_of(&a, "phone"), [UseContext::Expression]);
    let a = one("SELECT array(SELECT 1)");
    assert!(a.functions.is_empty());
}

#[test]
fn from_only_names_the_table() {
    let a = one("SELECT phone FROM ONLY guests WHERE id = 1");
    assert_eq!(
        a.tables_read,
        [TableName {
            schema: None,
            name: "guests".into()
        }]
    );
    assert_eq!(ctx_of(&a, "phone"), [UseContext::BareOutput]);
    // A quoted "only" is a table of that name.
    let a = one("SELECT x FROM \"only\" o");
    assert_eq!(a.tables_read.first().map(|t| t.name.as_str()), Some("only"));
}

#[test]
fn constant_values_columns_are_clean_equality_operands() {
    let a = one("SELECT g.id FROM guests g JOIN (VALUES ('0900')) v(p) ON g.phone = v.p");
    assert_eq!(ctx_of(&a, "phone"), [UseContext::EqualityPredicate]);
    let a = one("SELECT g.id FROM guests g JOIN (VALUES ('0900')) v(p) ON v.p = g.phone");
    assert_eq!(ctx_of(&a, "phone"), [UseContext::EqualityPredicate]);
    let a = one("SELECT g.id FROM guests g JOIN (SELECT name AS p FROM t) v ON g.phone = v.p");
    assert_eq!(ctx_of(&a, "phone"), [UseContext::OtherPredicate]);
}
