//! The Grafana dashboards in `dashboards/` against the proxy that feeds them (SPEC.md: "Every
//! metric that a dashboard in `dashboards/` uses exists").
//!
//! Each dashboard is parsed as JSON and checked for the shape Grafana's import expects
//! (schemaVersion 39, the `DS_PROMETHEUS` input on every panel and query). The metric names are
//! taken out of every panel's `expr` and every template variable's `label_values(…)` by a small
//! PromQL tokenizer that also refuses any name outside `trailmask_*` (a panel on `up` or on a
//! misspelt family would show nothing). Then a real proxy, in front of a throwaway PostgreSQL
//! with a personal table and one login per role, serves allowed and refused statements for each
//! role and one failed login, and every name must appear as a sample in its `GET /metrics`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trailmask::cluster::{self, Cluster, Options, PasswordAuth};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The `uid` every panel and query must name: the import-time data source input.
const DATASOURCE_UID: &str = "${DS_PROMETHEUS}";
/// Grafana 10.4 / 11.0 dashboards.
const SCHEMA_VERSION: u64 = 39;
/// Attempts, `POLL` apart, for the proxy to accept: 30 s on a loaded 2-core machine.
const ATTEMPTS: usize = 600;
const POLL: Duration = Duration::from_millis(50);

/// PromQL words that are not metric names: aggregation operators, functions, modifiers.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "group",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "histogram_quantile",
    "time",
    "timestamp",
    "vector",
    "scalar",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp_min",
    "clamp_max",
    "label_replace",
    "max_over_time",
    "min_over_time",
    "avg_over_time",
    "last_over_time",
    "absent",
];
/// Words after which a parenthesised list of label names follows.
const LABEL_LIST_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Every `dashboards/*.json`, parsed, with its file name.
fn load_dashboards() -> TestResult<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dashboards_dir())? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .map_err(|e| format!("{name}: not JSON: {e}"))?;
        out.push((name, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The metric names a PromQL expression reads. Skips strings, label matchers (`{…}`), ranges
/// (`[…]`), label lists after `by`/`without`/`on`/…, numbers and Grafana variables (`$x`);
/// every other identifier is a PromQL word or a metric, and a metric must be `trailmask_*`.
fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while let Some(&d) = chars.get(i) {
                    i += 1;
                    if d == '\\' {
                        i += 1;
                    } else if d == c {
                        break;
                    }
                }
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                i += 1;
                while let Some(&d) = chars.get(i) {
                    i += 1;
                    if d == '"' {
                        while let Some(&e) = chars.get(i) {
                            i += 1;
                            if e == '\\' {
                                i += 1;
                            } else if e == '"' {
                                break;
                            }
                        }
                    } else if d == close {
                        break;
                    }
                }
            }
            '(' if skip_label_list => {
                skip_label_list = false;
                while let Some(&d) = chars.get(i) {
                    i += 1;
                    if d == ')' {
                        break;
                    }
                }
            }
            '$' => {
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '.')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_' || *d == ':')
                {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                if LABEL_LIST_WORDS.contains(&word.as_str()) {
                    skip_label_list = true;
                } else if PROMQL_WORDS.contains(&word.as_str()) {
                    // A function or operator keyword.
                } else if word.starts_with("trailmask_") {
                    names.insert(word);
                } else {
                    return Err(format!(
                        "`{word}` in `{expr}` is neither a PromQL word nor a trailmask_ metric"
                    ));
                }
            }
            _ => i += 1,
        }
    }
    if names.is_empty() {
        return Err(format!("`{expr}` reads no trailmask_ metric"));
    }
    Ok(names)
}

/// The expression inside a template variable's `label_values(EXPR, label)` query.
fn label_values_expr(query: &str) -> Result<&str, String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .ok_or_else(|| format!("variable query `{query}` is not label_values(…)"))?;
    Ok(match inner.rsplit_once(',') {
        Some((expr, _label)) => expr,
        None => inner,
    })
}

fn datasource_uid(v: &Value) -> Option<&str> {
    v.get("datasource")?.get("uid")?.as_str()
}

/// Checks one dashboard's shape and returns (panel title, metric) pairs it reads.
fn check_dashboard(name: &str, d: &Value) -> Result<Vec<(String, String)>, String> {
    let mut used = Vec::new();
    if d.get("schemaVersion").and_then(Value::as_u64) != Some(SCHEMA_VERSION) {
        return Err(format!("{name}: schemaVersion is not {SCHEMA_VERSION}"));
    }
    let inputs = d.get("__inputs").and_then(Value::as_array);
    if !inputs.is_some_and(|inputs| {
        inputs.iter().any(|i| {
            i.get("name").and_then(Value::as_str) == Some("DS_PROMETHEUS")
                && i.get("pluginId").and_then(Value::as_str) == Some("prometheus")
        })
    }) {
        return Err(format!("{name}: no DS_PROMETHEUS prometheus input"));
    }
    for key in ["uid", "title"] {
        if d.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("{name}: no {key}"));
        }
    }

    let panels = d
        .get("panels")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name}: no panels"))?;
    let mut ids = BTreeSet::new();
    let mut queried = 0;
    for panel in panels {
        let title = panel
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let id = panel
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{name}: panel {title:?} has no id"))?;
        if !ids.insert(id) {
            return Err(format!("{name}: panel id {id} is used twice"));
        }
        let grid = panel.get("gridPos");
        let x = grid.and_then(|g| g.get("x")).and_then(Value::as_u64);
        let w = grid.and_then(|g| g.get("w")).and_then(Value::as_u64);
        match (x, w) {
            (Some(x), Some(w)) if w > 0 && x + w <= 24 => {}
            _ => {
                return Err(format!(
                    "{name}: panel {title:?} is outside the 24-column grid"
                ))
            }
        }
        if panel.get("type").and_then(Value::as_str) == Some("row") {
            continue;
        }
        if datasource_uid(panel) != Some(DATASOURCE_UID) {
            return Err(format!(
                "{name}: panel {title:?} does not use {DATASOURCE_UID}"
            ));
        }
        let targets = panel
            .get("targets")
            .and_then(Value::as_array)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("{name}: panel {title:?} has no query"))?;
        for target in targets {
            if datasource_uid(target) != Some(DATASOURCE_UID) {
                return Err(format!(
                    "{name}: a query of panel {title:?} does not use {DATASOURCE_UID}"
                ));
            }
            let expr = target
                .get("expr")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{name}: a query of panel {title:?} has no expr"))?;
            for metric in metric_names(expr).map_err(|e| format!("{name}: {title:?}: {e}"))? {
                used.push((title.clone(), metric));
            }
            queried += 1;
        }
    }
    if queried == 0 {
        return Err(format!("{name}: no panel queries anything"));
    }

    let variables = d
        .get("templating")
        .and_then(|t| t.get("list"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for var in variables {
        let var_name = var.get("name").and_then(Value::as_str).unwrap_or_default();
        if var.get("type").and_then(Value::as_str) != Some("query") {
            continue;
        }
        if datasource_uid(var) != Some(DATASOURCE_UID) {
            return Err(format!(
                "{name}: variable {var_name} does not use {DATASOURCE_UID}"
            ));
        }
        let query = var
            .get("definition")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name}: variable {var_name} has no definition"))?;
        let expr = label_values_expr(query).map_err(|e| format!("{name}: {e}"))?;
        for metric in metric_names(expr).map_err(|e| format!("{name}: ${var_name}: {e}"))? {
            used.push((format!("${var_name}"), metric));
        }
    }
    Ok(used)
}

#[test]
fn promql_tokenizer_finds_metrics_and_rejects_strangers() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, op) (rate(trailmask_x_bucket{a=~\"$i\", b=\"}\"}[$__rate_interval])))",
    );
    assert_eq!(names, Ok(BTreeSet::from(["trailmask_x_bucket".to_owned()])));
    let names = metric_names("time() - max by (instance) (trailmask_a) + on (job) trailmask_b");
    assert_eq!(
        names,
        Ok(BTreeSet::from([
            "trailmask_a".to_owned(),
            "trailmask_b".to_owned()
        ]))
    );
    assert!(metric_names("sum(up)").is_err());
    assert!(metric_names("sum(rate(trailmsk_typo_total[5m]))").is_err());
    assert!(metric_names("vector(1)").is_err());
    assert_eq!(
        label_values_expr("label_values(trailmask_a{x=\"1\"}, role)"),
        Ok("trailmask_a{x=\"1\"}")
    );
}

#[test]
fn dashboards_are_well_formed() -> TestResult {
    let dashboards = load_dashboards()?;
    let names: Vec<&str> = dashboards.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["trailmask-overview.json", "trailmask-trail.json"] {
        assert!(
            names.contains(&expected),
            "dashboards/{expected} is missing"
        );
    }
    let mut uids = BTreeSet::new();
    for (name, d) in &dashboards {
        check_dashboard(name, d)?;
        let uid = d.get("uid").and_then(Value::as_str).unwrap_or_default();
        assert!(uids.insert(uid.to_owned()), "{name}: uid {uid} used twice");
    }
    Ok(())
}

// === the live check ===

/// The trailmask roles of the test config, each a login of the same name.
const ROLES: [&str; 3] = ["front_desk", "marketing", "dba"];
const DB: &str = "hotel";

/// Per role: a statement the policy allows and one it refuses (once masking is wired in).
fn statements(role: &str) -> [&'static str; 2] {
    match role {
        "front_desk" => [
            "SELECT id, name, phone, email FROM guests ORDER BY id",
            "SELECT card_number FROM payments",
        ],
        "marketing" => [
            "SELECT id, name, email, national_id FROM guests ORDER BY id",
            "SELECT upper(phone) FROM guests",
        ],
        _ => [
            "SELECT * FROM guests ORDER BY id",
            "SELECT * FROM guests ORDER BY id",
        ],
    }
}

fn config_toml(listen: u16, metrics: u16, upstream: &str, trail: &Path, key: &Path) -> String {
    format!(
        r#"[listen]
address = "127.0.0.1:{listen}"
tls = {{ mode = "disable" }}

[upstream]
address = "{upstream}"
tls = {{ mode = "disable" }}

[catalog]
user = "trailmask"
database = "{DB}"

[audit]
dir = "{trail}"
chain = "dashboards"
durability = "batched"
signing_key = "{key}"
checkpoint_every_secs = 1

[metrics]
address = "127.0.0.1:{metrics}"

[personal_data."public.guests"]
subject_key = "id"
columns = {{ name = "name_zh", phone = "phone_tw", email = "email", national_id = "national_id_tw" }}

[personal_data."public.payments"]
columns = {{ card_number = "card_last4" }}

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
"#,
        trail = trail.display(),
        key = key.display(),
    )
}

/// One HTTP/1.1 GET to 127.0.0.1:`port`; returns the body of a 200 answer.
async fn http_get(port: u16, path: &str) -> TestResult<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8(response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("no end of HTTP headers")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or_default()).into());
    }
    Ok(body.to_owned())
}

/// Sample names in a Prometheus text exposition (`name{labels} value` or `name value`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The cluster: database `hotel` with `guests` and `payments`, one login per role and
/// trailmask's catalog login. Returns the cluster and (role, password) pairs.
fn hotel_cluster(catalog_password: &str) -> TestResult<(Cluster, Vec<(String, String)>)> {
    let mut cluster = Cluster::start(Options::default())?;
    cluster.create_user("trailmask", catalog_password, PasswordAuth::Scram)?;
    let mut logins = Vec::new();
    for role in ROLES {
        let password = cluster::random_password();
        cluster.create_user(role, &password, PasswordAuth::Scram)?;
        logins.push((role.to_owned(), password));
    }
    cluster.create_database(DB)?;
    cluster.psql_db(
        DB,
        "CREATE TABLE guests (id bigint PRIMARY KEY, name text, phone text, email text, \
             national_id text); \
         CREATE TABLE payments (id bigint PRIMARY KEY, card_number text); \
         INSERT INTO guests SELECT i, '王小明', '0912345678', 'guest' || i || '@example.com', \
             'A123456789' FROM generate_series(1, 20) i; \
         INSERT INTO payments VALUES (1, '4111111111111111'); \
         GRANT SELECT ON guests, payments TO front_desk, marketing, dba, trailmask;",
    )?;
    Ok((cluster, logins))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_metric_is_served() -> TestResult {
    let mut used = Vec::new();
    for (name, d) in load_dashboards()? {
        for (panel, metric) in check_dashboard(&name, &d)? {
            used.push((name.clone(), panel, metric));
        }
    }

    let catalog_password = cluster::random_password();
    let cp = catalog_password.clone();
    let (cluster, logins) = tokio::task::spawn_blocking(move || hotel_cluster(&cp)).await??;
    let dir = tempfile::tempdir()?;
    let bin = env!("CARGO_BIN_EXE_trailmask");
    let keygen = tokio::process::Command::new(bin)
        .arg("keygen")
        .arg("--out")
        .arg(dir.path().join("keys"))
        .stdin(Stdio::null())
        .output()
        .await?;
    assert!(
        keygen.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let port = cluster::free_port()?;
    let metrics_port = cluster::free_port()?;
    let config = dir.path().join("trailmask.toml");
    std::fs::write(
        &config,
        config_toml(
            port,
            metrics_port,
            &cluster.address(),
            &dir.path().join("trail"),
            &dir.path().join("keys").join("trail-signing.key"),
        ),
    )?;
    let log_path = dir.path().join("proxy.log");
    let log = std::fs::File::create(&log_path)?;
    let mut proxy = tokio::process::Command::new(bin)
        .arg("proxy")
        .arg("--config")
        .arg(&config)
        .env("TRAILMASK_CATALOG_PASSWORD", &catalog_password)
        .env("TRAILMASK_TRAIL_HASH_KEY", "11".repeat(32))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let proxy_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut accepting = false;
    for _ in 0..ATTEMPTS {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            accepting = true;
            break;
        }
        if let Some(status) = proxy.try_wait()? {
            return Err(format!("the proxy exited with {status}: {}", proxy_log()).into());
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(accepting, "the proxy did not accept: {}", proxy_log());

    // The traffic SPEC.md names: each role with allowed and refused statements, one failed login.
    for (role, password) in &logins {
        let conn = format!(
            "host=127.0.0.1 port={port} user={role} password={password} dbname={DB} sslmode=disable"
        );
        let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("{role} through the proxy: {e}; log: {}", proxy_log()))?;
        let task = tokio::spawn(connection);
        for sql in statements(role) {
            // Refusals are the point of the second statement; only the counters matter here.
            let _ = client.simple_query(sql).await;
        }
        drop(client);
        let _ = task.await;
    }
    let wrong = format!(
        "host=127.0.0.1 port={port} user=marketing password=wrong dbname={DB} sslmode=disable"
    );
    assert!(
        tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
            .await
            .is_err(),
        "a wrong password was accepted"
    );

    let served = sample_names(&http_get(metrics_port, "/metrics").await?);
    let missing: Vec<String> = used
        .iter()
        .filter(|(_, _, metric)| !served.contains(metric))
        .map(|(file, panel, metric)| format!("{file}: {panel}: {metric}"))
        .collect();
    let _ = proxy.start_kill();
    let _ = proxy.wait().await;
    drop(cluster);
    assert!(
        missing.is_empty(),
        "metrics the dashboards use but the proxy does not serve:\n  {}",
        missing.join("\n  ")
    );
    Ok(())
}
