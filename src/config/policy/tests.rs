//! Tests of the policy sections' validation, through `config::parse`.

use std::path::Path;

use crate::config::parse;

fn problems(toml: &str) -> String {
    match parse(toml, Path::new("t.toml")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

const TABLES: &str = r#"
[personal_data."public.guests"]
subject_key = "id"
columns = { name = "name_zh", phone = "phone_tw" }
"#;

#[test]
fn a_valid_policy_has_no_problems() {
    let toml = format!(
        "{TABLES}\n[roles.front_desk]\nmembers = [\"front_desk\"]\nclear = [\"public.guests.name\", \"public.guests.*\"]\ndeny = [\"*\"]\n"
    );
    assert_eq!(problems(&toml), "");
}

#[test]
fn the_policy_hash_ignores_layout_and_order() {
    let a = parse(
        r#"
[personal_data."public.guests"]
columns = { name = "name_zh", phone = "phone_tw" }
[roles.b]
members = ["b"]
clear = ["public.guests.phone"]
[roles.a]
members = ["a", "x"]
"#,
        Path::new("a.toml"),
    )
    .unwrap();
    let b = parse(
        r#"
# same policy, other order and layout
[roles.a]
members = ["x", "a"]
[roles.b]
clear = ["public.guests.phone"]
members = ["b"]
[personal_data."public.guests".columns]
phone = "phone_tw"
name = "name_zh"
"#,
        Path::new("b.toml"),
    )
    .unwrap();
    assert_eq!(a.policy.hash(), b.policy.hash());
    let c = parse(
        r#"
[personal_data."public.guests"]
columns = { name = "name_zh", phone = "keep_last(4)" }
[roles.b]
members = ["b"]
clear = ["public.guests.phone"]
[roles.a]
members = ["a", "x"]
"#,
        Path::new("c.toml"),
    )
    .unwrap();
    assert_ne!(a.policy.hash(), c.policy.hash());
}

#[test]
fn every_problem_is_listed_with_its_key_and_value() {
    let toml = r#"
[policy]
default_role = ""
unparsed = "maybe"
masked_predicates = "sometimes"
trusted_functions = ["room_rate", "public.room_rate"]

[personal_data."guests"]
columns = { name = "name_zh" }

[personal_data."public.guests"]
subject_key = "the id"
columns = { name = "name_zh", phone = "phonetw", passport_no = "keep_last(x)" }

[roles.front_desk]
members = []
clear = ["public.guests.nam", "public.rooms.number", "guests.name", "public.guests.name"]
deny = ["public.payments.*"]
"#;
    let out = problems(toml);
    for expected in [
        "t.toml has 13 problem(s):",
        "policy.default_role = \"\" is empty",
        "policy.unparsed = \"maybe\" is not one of \"deny\", \"allow\"",
        "policy.masked_predicates = \"sometimes\" is not one of",
        "policy.trusted_functions[0] = \"room_rate\" is not of the form schema.function",
        "personal_data.guests: the table name \"guests\" is not of the form schema.table",
        "personal_data.\"public.guests\".subject_key = \"the id\" has a part with a space",
        "personal_data.\"public.guests\".columns.phone = \"phonetw\": unknown mask \"phonetw\"",
        "personal_data.\"public.guests\".columns.passport_no = \"keep_last(x)\": mask \"keep_last(x)\" needs a whole number",
        "roles.front_desk.members is empty",
        "roles.front_desk.clear[0] = \"public.guests.nam\" names column \"nam\", which personal_data.\"public.guests\" does not declare (it declares: name, passport_no, phone)",
        "roles.front_desk.clear[1] = \"public.rooms.number\" names table public.rooms, which no [personal_data] table declares",
        "roles.front_desk.clear[2] = \"guests.name\" is not of the form *, schema.table.* or schema.table.column",
        "roles.front_desk.deny[0] = \"public.payments.*\" names table public.payments",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("clear[3]"), "{out}");
}
