//! The proxy checks `[personal_data]` against the live catalog at start: a table or column the
//! database does not have is a configuration error (exit 2) naming every one.

#[path = "support/lib.rs"]
mod support;

use std::process::Stdio;

use support::{standard_cluster, TestResult, DB};
use trailmask::cluster::{self, Options, PasswordAuth};

#[tokio::test]
async fn unknown_personal_columns_are_listed_and_exit_2() -> TestResult {
    let mut cluster =
        tokio::task::spawn_blocking(|| standard_cluster(Options::default())).await??;
    cluster.create_user("trailmask", "catalog-secret", PasswordAuth::Scram)?;
    cluster.psql_db(
        DB,
        "CREATE TABLE public.guests (id int PRIMARY KEY, name text, phone text);",
    )?;
    let dir = cluster::make_temp_dir("trailmask-refs")?;
    let port = cluster::free_port()?;
    let metrics = cluster::free_port()?;
    let config = dir.join("trailmask.toml");
    std::fs::write(
        &config,
        format!(
            "[listen]\naddress = \"127.0.0.1:{port}\"\n[upstream]\naddress = \"{}\"\n\
             tls = {{ mode = \"disable\" }}\n[metrics]\naddress = \"127.0.0.1:{metrics}\"\n\
             [catalog]\nuser = \"trailmask\"\npassword_env = \"TM_CATALOG_PW\"\ndatabase = \"{DB}\"\n\
             [personal_data.\"public.guests\"]\nsubject_key = \"guest_no\"\n\
             columns = {{ name = \"name_zh\", phone = \"phone_tw\", passport = \"redact\" }}\n\
             [personal_data.\"public.payments\"]\ncolumns = {{ card_number = \"card_last4\" }}\n",
            cluster.address()
        ),
    )?;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_trailmask"))
        .arg("proxy")
        .arg("--config")
        .arg(&config)
        .env("TM_CATALOG_PW", "catalog-secret")
        .stdin(Stdio::null())
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    for named in ["\"passport\"", "\"guest_no\"", "public.payments"] {
        assert!(stderr.contains(named), "{named} not named in: {stderr}");
    }
    assert!(
        !stderr.contains("\"phone\""),
        "an existing column was reported: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
