//! `trailmask policy` end to end: the documented example config gives the golden matrix, and a
//! broken config exits 2 listing every problem.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn policy(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailmask"))
        .arg("policy")
        .arg("--config")
        .arg(config)
        .output()
        .expect("running trailmask")
}

#[test]
fn example_config_prints_the_golden_matrix() {
    let out = policy(&repo("config/trailmask.toml"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let golden = std::fs::read_to_string(repo("tests/golden/policy_matrix.txt")).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout, golden,
        "output differs from tests/golden/policy_matrix.txt"
    );
}

#[test]
fn policy_sections_alone_are_enough() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy-only.toml");
    std::fs::write(
        &path,
        r#"
[personal_data."public.guests"]
columns = { phone = "phone_tw" }

[roles.front_desk]
members = ["front_desk"]
clear = ["public.guests.phone"]
"#,
    )
    .unwrap();
    let out = policy(&path);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let row = stdout
        .lines()
        .find(|l| l.starts_with("public.guests.phone"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["public.guests.phone", "clear", "phone_tw"]);
}

#[test]
fn broken_config_exits_2_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
[policy]
unparsed = "sometimes"
masked_predicates = "always"

[personal_data."public.guests"]
subject_key = "id"
columns = { name = "name_zh", phone = "phone_taiwan" }

[roles.front_desk]
members = ["front_desk"]
clear = ["public.guests.nmae", "public.rooms.number"]

[roles.nobody]
clear = ["*"]
"#,
    )
    .unwrap();
    let out = policy(&path);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    for expected in [
        "has 6 problem(s):",
        "policy.unparsed = \"sometimes\"",
        "policy.masked_predicates = \"always\"",
        "personal_data.\"public.guests\".columns.phone = \"phone_taiwan\": unknown mask",
        "roles.front_desk.clear[0] = \"public.guests.nmae\" names column \"nmae\"",
        "roles.front_desk.clear[1] = \"public.rooms.number\" names table public.rooms",
        "roles.nobody.members is empty",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unreadable_or_unparsable_config_exits_2() {
    let out = policy(Path::new("/nonexistent/trailmask.toml"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/trailmask.toml"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "[roles.x]\nmembrs = [\"x\"]\n").unwrap();
    let out = policy(&path);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("membrs"));
}
