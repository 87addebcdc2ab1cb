//! Tests of role resolution and the role × column matrix, on SPEC.md's example policy.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn table(s: &str) -> TableName {
    TableName::parse(s).unwrap()
}

fn role(members: &[&str], clear: &[&str], deny: &[&str]) -> RoleDef {
    RoleDef {
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        clear: clear.iter().map(|s| Selector::parse(s).unwrap()).collect(),
        deny: deny.iter().map(|s| Selector::parse(s).unwrap()).collect(),
    }
}

/// SPEC.md's example `[personal_data]` and `[roles]`.
fn spec_policy() -> Policy {
    let mut tables = BTreeMap::new();
    let guests: BTreeMap<String, Mask> = [
        ("name", "name_zh"),
        ("phone", "phone_tw"),
        ("email", "email"),
        ("national_id", "national_id_tw"),
        ("passport_no", "keep_last(3)"),
        ("birthday", "year_only"),
        ("address", "redact"),
    ]
    .into_iter()
    .map(|(c, m)| (c.to_owned(), m.parse().unwrap()))
    .collect();
    tables.insert(
        table("public.guests"),
        PersonalTable {
            subject_key: Some("id".to_owned()),
            columns: guests,
        },
    );
    let payments = [
        ("card_number", Mask::CardLast4),
        ("card_holder", Mask::NameZh),
    ]
    .into_iter()
    .map(|(c, m)| (c.to_owned(), m))
    .collect();
    tables.insert(
        table("public.payments"),
        PersonalTable {
            subject_key: None,
            columns: payments,
        },
    );
    let mut roles = BTreeMap::new();
    roles.insert(
        "front_desk".to_owned(),
        role(
            &["front_desk"],
            &[
                "public.guests.name",
                "public.guests.phone",
                "public.guests.national_id",
            ],
            &["public.payments.card_number"],
        ),
    );
    roles.insert(
        "marketing".to_owned(),
        role(&["marketing"], &["public.guests.email"], &[]),
    );
    roles.insert("dba".to_owned(), role(&["dba"], &["*"], &[]));
    Policy::new(Settings::default(), tables, roles)
}

#[test]
fn a_single_role_sees_its_clear_columns_and_masks_the_rest() {
    let p = spec_policy();
    let set = p.role_set(["alice", "front_desk"]);
    assert_eq!(set.names(), ["front_desk"]);
    assert!(!set.is_default());
    let guests = table("public.guests");
    let payments = table("public.payments");
    assert_eq!(set.access(&guests, "name"), Some(ColumnAccess::Clear));
    assert_eq!(
        set.access(&guests, "email"),
        Some(ColumnAccess::Masked(Mask::Email))
    );
    assert_eq!(
        set.access(&payments, "card_number"),
        Some(ColumnAccess::Denied)
    );
    assert_eq!(set.access(&guests, "id"), None);
    assert_eq!(set.access(&table("public.rooms"), "number"), None);
    assert!(set.has_masked());
    assert!(set.has_denied());
}

#[test]
fn several_roles_union_clear_and_deny_wins() {
    let p = spec_policy();
    let set = p.role_set(["front_desk", "marketing", "dba"]);
    assert_eq!(set.names(), ["dba", "front_desk", "marketing"]);
    assert_eq!(set.label(), "dba+front_desk+marketing");
    let payments = table("public.payments");
    // dba clears everything, front_desk denies card_number: deny wins.
    assert_eq!(
        set.access(&payments, "card_number"),
        Some(ColumnAccess::Denied)
    );
    assert_eq!(
        set.access(&payments, "card_holder"),
        Some(ColumnAccess::Clear)
    );
    let both = p.role_set(["front_desk", "marketing"]);
    let guests = table("public.guests");
    assert_eq!(both.access(&guests, "email"), Some(ColumnAccess::Clear));
    assert_eq!(both.access(&guests, "phone"), Some(ColumnAccess::Clear));
    assert_eq!(
        both.access(&guests, "address"),
        Some(ColumnAccess::Masked(Mask::Redact))
    );
}

#[test]
fn unmatched_logins_get_the_default_role_with_everything_masked() {
    let p = spec_policy();
    let set = p.role_set(["bob"]);
    assert!(set.is_default());
    assert_eq!(set.names(), ["restricted"]);
    assert!(set
        .columns()
        .all(|(_, _, a)| matches!(a, ColumnAccess::Masked(_))));
    assert!(p.role_set(std::iter::empty()).is_default());
}

#[test]
fn a_configured_default_role_applies_its_own_lists() {
    let mut p = spec_policy();
    p.settings.default_role = "marketing".to_owned();
    let set = p.role_set(["bob"]);
    assert!(set.is_default());
    assert_eq!(
        set.access(&table("public.guests"), "email"),
        Some(ColumnAccess::Clear)
    );
}

#[test]
fn wildcards_select_tables_and_match_every_login() {
    let mut p = spec_policy();
    p.roles.insert(
        "everyone".to_owned(),
        role(&["*"], &["public.payments.*"], &["public.guests.address"]),
    );
    let set = p.role_set(["bob"]);
    assert!(!set.is_default());
    assert_eq!(
        set.access(&table("public.payments"), "card_holder"),
        Some(ColumnAccess::Clear)
    );
    assert_eq!(
        set.access(&table("public.guests"), "address"),
        Some(ColumnAccess::Denied)
    );
}

#[test]
fn the_matrix_has_every_role_and_column() {
    let m = spec_policy().matrix();
    assert_eq!(m.columns.len(), 9);
    assert_eq!(m.columns.first().unwrap(), "public.guests.address");
    let names: Vec<&str> = m.roles.iter().map(|r| r.role.as_str()).collect();
    assert_eq!(names, ["dba", "front_desk", "marketing", "restricted"]);
    let restricted = m.roles.last().unwrap();
    assert!(restricted.default);
    assert!(restricted.members.is_empty());
    let fd = m.roles.get(1).unwrap();
    let cell = |col: &str| {
        let i = m.columns.iter().position(|c| c == col).unwrap();
        fd.cells.get(i).unwrap().as_str()
    };
    assert_eq!(cell("public.guests.name"), "clear");
    assert_eq!(cell("public.guests.passport_no"), "keep_last(3)");
    assert_eq!(cell("public.payments.card_number"), "deny");
}

#[test]
fn the_policy_hash_follows_the_effective_policy() {
    let a = spec_policy();
    let mut b = spec_policy();
    assert_eq!(a.hash(), b.hash());
    b.settings.unparsed = Unparsed::Allow;
    assert_ne!(a.hash(), b.hash());
    let mut c = spec_policy();
    c.roles
        .get_mut("marketing")
        .unwrap()
        .clear
        .push(Selector::parse("public.guests.phone").unwrap());
    assert_ne!(a.hash(), c.hash());
}

#[test]
fn names_are_checked() {
    assert!(TableName::parse("public.guests").is_ok());
    assert!(TableName::parse("guests").is_err());
    assert!(TableName::parse("a.b.c").is_err());
    assert!(TableName::parse("public.").is_err());
    assert!(ColumnRef::parse("public.guests.name").is_ok());
    assert!(ColumnRef::parse("public.guests.na me").is_err());
    assert_eq!(Selector::parse("*"), Ok(Selector::All));
    assert!(matches!(
        Selector::parse("public.guests.*"),
        Ok(Selector::Table(_))
    ));
    assert!(Selector::parse("public.*").is_err());
    assert!(FunctionName::parse("public.room_rate").is_ok());
    let long = "x".repeat(64);
    assert!(TableName::parse(&format!("public.{long}")).is_err());
    let trusted: BTreeSet<FunctionName> = [FunctionName::parse("public.room_rate").unwrap()]
        .into_iter()
        .collect();
    let p = Policy::new(
        Settings {
            trusted_functions: trusted,
            ..Settings::default()
        },
        BTreeMap::new(),
        BTreeMap::new(),
    );
    assert!(p.is_trusted_function("public", "room_rate"));
    assert!(!p.is_trusted_function("public", "other"));
}

proptest::proptest! {
    /// A login in several roles gets what the roles give one by one, combined: denied if any
    /// denies, else clear if any clears, else masked; and a login in none gets the default role.
    #[test]
    fn a_union_of_roles_combines_the_single_roles(
        member_of in proptest::collection::btree_set(
            proptest::sample::select(&["front_desk", "marketing", "dba", "bob", "alice"][..]),
            0..5,
        ),
    ) {
        let p = spec_policy();
        let set = p.role_set(member_of.iter().copied());
        let singles: Vec<RoleSet> = member_of
            .iter()
            .filter(|r| p.roles().contains_key(**r))
            .map(|r| p.role_set([*r]))
            .collect();
        proptest::prop_assert_eq!(set.is_default(), singles.is_empty());
        for (table, column, access) in set.columns() {
            let each: Vec<ColumnAccess> = singles
                .iter()
                .filter_map(|s| s.access(table, column))
                .collect();
            let expected = if each.contains(&ColumnAccess::Denied) {
                ColumnAccess::Denied
            } else if each.contains(&ColumnAccess::Clear) {
                ColumnAccess::Clear
            } else {
                ColumnAccess::Masked(p.personal_mask(table, column).unwrap())
            };
            proptest::prop_assert_eq!(access, expected, "{}.{}", table, column);
        }
    }
}
