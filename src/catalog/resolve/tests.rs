//! Resolution tests over a hand-built hotel snapshot (the live loader has its own test).

use super::*;
use crate::catalog::snapshot::{RelKind, RoleOid};
use crate::sql::analyze_one;

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
            .enumerate()
            .map(|(i, c)| Column {
                attnum: AttNum(i16::try_from(i + 1).unwrap_or(i16::MAX)),
                name: (*c).into(),
                type_oid: TypeOid(25),
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

pub(crate) fn hotel() -> Snapshot {
    Snapshot::new(
        "hotel",
        vec![
            rel(
                100,
                "public",
                "guests",
                RelKind::Table,
                &["id", "name", "phone", "email", "national_id", "passport_no", "birthday", "address"],
                None,
            ),
            rel(
                200,
                "public",
                "payments",
                RelKind::Table,
                &["id", "guest_id", "card_number", "card_holder", "amount"],
                None,
            ),
            rel(
                300,
                "public",
                "guest_contacts",
                RelKind::View,
                &["id", "name", "phone_upper", "email"],
                Some(" SELECT guests.id, guests.name, upper(guests.phone) AS phone_upper, guests.email FROM public.guests;"),
            ),
            rel(
                400,
                "public",
                "contacts_v2",
                RelKind::View,
                &["id", "email"],
                Some("SELECT c.id, c.email FROM public.guest_contacts c"),
            ),
        ],
        vec![
            (RoleOid(1), "alice".into()),
            (RoleOid(2), "front_desk".into()),
            (RoleOid(3), "staff".into()),
        ],
        vec![
            ("alice".into(), "front_desk".into()),
            ("front_desk".into(), "staff".into()),
        ],
    )
}

fn res(sql: &str) -> Resolved {
    let snap = hotel();
    let a = analyze_one(sql);
    assert!(a.unknown.is_empty(), "{sql}: {:?}", a.unknown);
    resolve(&a, &snap, &["public".to_owned()])
}

fn uses(r: &Resolved) -> Vec<(String, UseContext)> {
    r.uses
        .iter()
        .map(|u| (u.column.qualified(), u.context))
        .collect()
}

fn out_names(r: &Resolved) -> Vec<String> {
    r.outputs
        .iter()
        .map(|o| match &o.lineage {
            ResolvedLineage::Bare(c) => c.qualified(),
            ResolvedLineage::Derived { columns, rows } => format!(
                "derived({}{})",
                columns
                    .iter()
                    .map(|c| c.column.clone())
                    .collect::<Vec<_>>()
                    .join(","),
                rows.iter()
                    .map(|t| format!(";row {}", t.name))
                    .collect::<String>()
            ),
            ResolvedLineage::WholeRow(t) => format!("row {}", t.qualified()),
            ResolvedLineage::Constant => "const".into(),
            ResolvedLineage::Unknown => "unknown".into(),
        })
        .collect()
}

use UseContext::*;

#[test]
fn star_join_expands_from_catalog() {
    let r = res("SELECT * FROM guests g JOIN payments p ON p.guest_id = g.id");
    assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
    assert_eq!(r.outputs.len(), 13);
    assert_eq!(out_names(&r)[2], "public.guests.phone");
    assert_eq!(out_names(&r)[10], "public.payments.card_number");
    match &r.outputs[10].lineage {
        ResolvedLineage::Bare(c) => {
            assert_eq!(c.table, TableOid(200));
            assert_eq!(c.attnum, AttNum(3));
        }
        other => panic!("{other:?}"),
    }
    assert!(uses(&r).contains(&("public.payments.guest_id".into(), OtherPredicate)));
    assert!(uses(&r).contains(&("public.guests.phone".into(), BareOutput)));
    assert_eq!(r.tables_read.len(), 2);
}

#[test]
fn unqualified_names_and_ambiguity() {
    let r = res("SELECT phone, card_number, amount FROM guests, payments WHERE national_id = $1");
    assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
    assert_eq!(
        out_names(&r),
        vec![
            "public.guests.phone",
            "public.payments.card_number",
            "public.payments.amount"
        ]
    );
    assert!(uses(&r).contains(&("public.guests.national_id".into(), EqualityPredicate)));
    // `id` exists in both: both are counted (PostgreSQL would refuse the statement).
    let r = res("SELECT id FROM guests, payments");
    assert_eq!(r.uses.len(), 2);
}

#[test]
fn unknown_names_fail_closed() {
    let r = res("SELECT nosuch FROM guests");
    assert_eq!(r.unresolved, vec!["column nosuch".to_string()]);
    let r = res("SELECT x FROM nosuch");
    assert!(r.unresolved.contains(&"relation nosuch".to_string()));
    let r = res("SELECT g.nosuch FROM guests g");
    assert!(!r.unresolved.is_empty());
}

#[test]
fn whole_rows_resolve() {
    let r = res("SELECT g FROM guests g");
    assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
    assert_eq!(r.whole_rows.len(), 1);
    assert_eq!(r.whole_rows[0].table.oid, TableOid(100));
    assert_eq!(r.whole_rows[0].context, BareOutput);
    assert_eq!(out_names(&r), vec!["row public.guests"]);
    let r = res("SELECT row_to_json(g) FROM guests g");
    assert_eq!(r.whole_rows[0].context, Expression);
    let r = res("SELECT row_to_json(guests.*) FROM guests");
    assert_eq!(r.whole_rows[0].context, Expression);
    assert_eq!(out_names(&r), vec!["derived(;row guests)"]);
    // A column named like the alias wins over the row.
    let r = res("SELECT name FROM guests name");
    assert!(r.whole_rows.is_empty());
    assert_eq!(out_names(&r), vec!["public.guests.name"]);
}

#[test]
fn ctes_and_subqueries_map_to_sources() {
    let r = res("WITH x AS (SELECT upper(phone) p FROM guests) SELECT p FROM x");
    assert_eq!(out_names(&r), vec!["derived(phone)"]);
    assert!(uses(&r).contains(&("public.guests.phone".into(), Expression)));
    let r = res("SELECT p FROM (SELECT phone AS p FROM guests) s ORDER BY p");
    assert_eq!(out_names(&r), vec!["public.guests.phone"]);
    assert!(uses(&r).contains(&("public.guests.phone".into(), OrderGroup)));
    let r = res("SELECT s.* FROM (SELECT g.* FROM guests g) s");
    assert_eq!(r.outputs.len(), 8);
    assert_eq!(out_names(&r)[4], "public.guests.national_id");
    let r = res("SELECT * FROM (SELECT phone || '' AS p FROM guests) s");
    assert_eq!(out_names(&r), vec!["derived(phone)"]);
    let r = res("SELECT upper(p) FROM (SELECT phone AS p FROM guests) s");
    assert!(uses(&r).contains(&("public.guests.phone".into(), Expression)));
    let r = res("SELECT s FROM (SELECT phone FROM guests) s");
    assert!(uses(&r).contains(&("public.guests.phone".into(), Expression)));
}

#[test]
fn recursive_cte_resolves() {
    let r = res(
        "WITH RECURSIVE t(n, p) AS (SELECT 1, name FROM guests UNION ALL SELECT n + 1, p FROM t WHERE n < 3) SELECT n, p FROM t",
    );
    assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
    assert_eq!(out_names(&r), vec!["const", "derived(name)"]);
}

#[test]
fn correlated_subquery() {
    let r =
        res("SELECT g.id, (SELECT count(*) FROM payments p WHERE p.guest_id = g.id) FROM guests g");
    assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
    assert!(uses(&r).contains(&("public.guests.id".into(), OtherPredicate)));
}

#[test]
fn views_map_to_base_columns() {
    let snap = hotel();
    let l = snap.view_lineage(TableOid(300)).unwrap_or_default();
    assert_eq!(l.len(), 4);
    assert!(matches!(&l[0], ResolvedLineage::Bare(c) if c.qualified() == "public.guests.id"));
    assert!(
        matches!(&l[2], ResolvedLineage::Derived { columns, .. } if columns[0].column == "phone")
    );
    // a view over a view
    let l = snap.view_lineage(TableOid(400)).unwrap_or_default();
    assert!(matches!(&l[1], ResolvedLineage::Bare(c) if c.qualified() == "public.guests.email"));
    // RowDescription names the view's column: map it.
    assert!(matches!(
        snap.field_origin(TableOid(300), AttNum(3)),
        Some(ResolvedLineage::Derived { .. })
    ));
    assert!(matches!(
        snap.field_origin(TableOid(100), AttNum(3)),
        Some(ResolvedLineage::Bare(c)) if c.column == "phone"
    ));
    let r = res("SELECT phone_upper, email FROM guest_contacts WHERE phone_upper = $1");
    assert_eq!(out_names(&r), vec!["derived(phone)", "public.guests.email"]);
    // equality on a computed view column is not equality on the base column
    assert!(uses(&r).contains(&("public.guests.phone".into(), OtherPredicate)));
}

#[test]
fn writes_and_system_columns() {
    let r = res("INSERT INTO guests (name, phone) VALUES ($1, $2)");
    assert_eq!(r.writes.len(), 1);
    assert_eq!(r.writes[0].columns.len(), 2);
    let r = res("DELETE FROM payments WHERE id = $1");
    assert_eq!(r.writes[0].columns.len(), 5);
    let r = res("SELECT ctid, * FROM guests");
    assert!(r.unresolved.is_empty());
    assert_eq!(r.outputs.len(), 9);
    let r = res("INSERT INTO payments SELECT * FROM guests");
    assert!(uses(&r).contains(&("public.guests.phone".into(), Written)));
}

#[test]
fn catalog_tables_resolve_through_pg_catalog() {
    let snap = Snapshot::new(
        "x",
        vec![rel(
            1259,
            "pg_catalog",
            "pg_class",
            RelKind::Table,
            &["oid", "relname"],
            None,
        )],
        vec![],
        vec![],
    );
    let a = analyze_one("SELECT c.relname FROM pg_class c");
    let r = resolve(&a, &snap, &["public".to_owned()]);
    assert!(r.unresolved.is_empty());
    assert_eq!(out_names(&r), vec!["pg_catalog.pg_class.relname"]);
}

#[test]
fn membership_is_transitive() {
    let snap = hotel();
    assert!(snap.is_member("alice", "staff"));
    assert!(snap.is_member("alice", "front_desk"));
    assert!(!snap.is_member("front_desk", "alice"));
    assert_eq!(snap.member_of("alice").len(), 2);
}

#[test]
fn partitions_and_children_resolve_under_their_root() {
    let cols = &["id", "phone"];
    let snap = Snapshot::new(
        "hotel",
        vec![
            rel(
                100,
                "public",
                "guests",
                RelKind::PartitionedTable,
                cols,
                None,
            ),
            rel(
                101,
                "public",
                "guests_2025",
                RelKind::PartitionedTable,
                cols,
                None,
            ),
            rel(102, "archive", "guests_2025_q1", RelKind::Table, cols, None),
        ],
        Vec::new(),
        Vec::new(),
    )
    .with_parents([
        (TableOid(102), TableOid(101)),
        (TableOid(101), TableOid(100)),
    ]);
    let a = analyze_one("SELECT phone FROM archive.guests_2025_q1");
    let r = resolve(&a, &snap, &["public".to_owned()]);
    let c = &r.uses.first().expect("one use").column;
    assert_eq!(c.qualified(), "public.guests.phone");
    // RowDescription reports the leaf's OID: that is what the column keeps.
    assert_eq!(c.table, TableOid(102));
    assert_eq!(
        r.tables_read
            .iter()
            .map(TableRef::qualified)
            .collect::<Vec<_>>(),
        vec!["public.guests"]
    );
    let a = analyze_one("SELECT phone FROM guests");
    let r = resolve(&a, &snap, &["public".to_owned()]);
    assert_eq!(r.uses.first().map(|u| u.column.table), Some(TableOid(100)));
}
