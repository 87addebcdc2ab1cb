//! The access trail through the real proxy (issue 3; SPEC.md "Trail" and `[audit]`):
//!
//! * end to end: a session with an allowed, a refused (42501) and a failing (22012) statement
//!   leaves `session_start`, `statement`, `result` and `session_end` records in order; a failed
//!   login leaves a `session_start` with `auth = "failed:28P01"`; `GET /checkpoint` answers 404
//!   before the first checkpoint and then the newest checkpoint line exactly as in the file;
//!   after a clean stop `verify --key` (and the Python verifier) exit 0;
//! * crash: four clients run statements under `strict`, the proxy is killed with SIGKILL, the
//!   trail verifies, and every statement whose result reached a client, and every row that
//!   reached the database, has its `statement` record; restarted on the same trail, the proxy
//!   recovers the tail and serves, and the whole trail verifies with the key;
//! * disk full (root only: a 2 MiB tmpfs holds the trail): statements and new sessions are
//!   refused with 58030 and a message naming the audit trail, nothing hangs, service returns
//!   within 5 s of space returning, nothing written is lost and the trail verifies.
//!
//! The proxy runs as a child process (`trailmask proxy --config FILE`), exactly as in
//! production, so it can be killed and restarted on the same trail directory. `support::Target`
//! owns one process and deletes its directory on drop, so these tests start the proxy
//! themselves ([`Proxy`]) over the shared cluster helpers.

#[macro_use]
#[path = "support/lib.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;
use tokio_postgres::SimpleQueryMessage;
use trailmask::cluster::{self, Cluster, Options, PasswordAuth};

use support::{sqlstate, Session, TestResult, DB, MD5_USER, PASSWORD_USER, SCRAM_USER, TRUST_USER};

/// `audit.chain` of every test proxy.
const CHAIN: &str = "it";
/// trailmask's own catalog login (`[catalog] user`).
const CATALOG_USER: &str = "trailmask";
const CATALOG_PASSWORD_ENV: &str = "TRAILMASK_CATALOG_PASSWORD";
const HASH_KEY_ENV: &str = "TRAILMASK_TRAIL_HASH_KEY";
/// Bound on any one client operation: a hang fails the test instead of stalling the suite.
/// Generous: five engineers share two cores, and a first login loads the catalog.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a record may take to reach the trail after the event that causes it (the session's
/// end is noticed asynchronously).
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);
/// Start-up of the proxy (catalog load included) on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A stopping proxy drains and seals; its default shutdown grace is 30 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);
/// SPEC: service returns within 5 s of space returning.
const RESUME_WITHIN: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// The tables and grants every test uses; run as the superuser in [`DB`].
const SCHEMA: &str = "CREATE TABLE guests (id int PRIMARY KEY, name text, phone text);
     INSERT INTO guests VALUES (1, '王小明', '0912345678'), (2, 'Lin Mei', '0223456789');
     CREATE TABLE payments (id int PRIMARY KEY, card_number text);
     INSERT INTO payments VALUES (1, '4111111111111111');
     CREATE TABLE crash_log (tag text PRIMARY KEY);
     GRANT ALL ON guests, payments, crash_log TO alice, bob, carol, dave;";

/// Policy of every test proxy: alice sees everything, bob (`clerk`) may never touch a card
/// number, everyone else is `restricted`.
const POLICY: &str = r#"
[policy]
default_role = "restricted"
unparsed = "deny"
masked_predicates = "equality"
trusted_functions = []

[personal_data."public.guests"]
subject_key = "id"
columns = { name = "name_zh", phone = "phone_tw" }

[personal_data."public.payments"]
columns = { card_number = "card_last4" }

[roles.owner]
members = ["alice"]
clear = ["*"]

[roles.clerk]
members = ["bob"]
clear = ["public.guests.name"]
deny = ["public.payments.card_number"]
"#;

/// The three statements of the end-to-end session.
const STMT_ALLOWED: &str = "SELECT id, name FROM guests ORDER BY id";
const STMT_DENIED: &str = "SELECT card_number FROM payments";
const STMT_FAILS: &str = "SELECT id / (id - id) FROM guests";
const STMT_LITERAL: &str = "SELECT name FROM guests WHERE id = 1";
const STMT_LITERAL_NORMALIZED: &str = "SELECT name FROM guests WHERE id = $1";
const STMT_BOUND: &str = "SELECT $1::text, $2::text";

// === the cluster, keys and trail of one test ===

/// A cluster with the standard logins, the catalog login and [`SCHEMA`]; a signing key made
/// by `trailmask keygen`; a hash key; the trail directory.
struct Setup {
    /// Configs, keys and proxy logs.
    work: tempfile::TempDir,
    trail: PathBuf,
    catalog_password: String,
    /// 64 hex digits for `audit.hash_key_env`.
    hash_key: String,
    cluster: Cluster,
}

impl Setup {
    /// `trail`: where the trail lives (default: inside the work directory).
    async fn start(trail: Option<PathBuf>) -> TestResult<Setup> {
        let catalog_password = cluster::random_password();
        let password = catalog_password.clone();
        let cluster = tokio::task::spawn_blocking(move || -> TestResult<Cluster> {
            let mut cluster = support::standard_cluster(Options::default())?;
            cluster.create_user(CATALOG_USER, &password, PasswordAuth::Scram)?;
            cluster.psql_db(DB, SCHEMA)?;
            Ok(cluster)
        })
        .await??;
        let work = tempfile::tempdir()?;
        let trail = trail.unwrap_or_else(|| work.path().join("trail"));
        keygen(&work.path().join("keys")).await?;
        // Not a secret worth a CSPRNG: the cluster helper's random password, hashed to 32 bytes.
        let hash_key = blake3::hash(cluster::random_password().as_bytes())
            .to_hex()
            .to_string();
        Ok(Setup {
            work,
            trail,
            catalog_password,
            hash_key,
            cluster,
        })
    }

    fn public_key(&self) -> PathBuf {
        self.work.path().join("keys").join("trail-signing.pub")
    }

    fn signing_key(&self) -> PathBuf {
        self.work.path().join("keys").join("trail-signing.key")
    }

    /// A session straight to PostgreSQL, for checking what reached the database.
    async fn connect_direct(&self, user: (&str, &str)) -> TestResult<Session> {
        let conn = self.cluster.conn_string(user.0, user.1, DB);
        timeout(OP_TIMEOUT, Session::connect(&conn)).await?
    }
}

/// `trailmask keygen --out dir`: exit 0, the SPEC's file formats, and no overwrite.
async fn keygen(dir: &Path) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_trailmask"))
            .arg("keygen")
            .arg("--out")
            .arg(dir)
            .output()
    };
    let out = run().await?;
    assert!(
        out.status.success(),
        "keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = dir.join("trail-signing.key");
    let public = dir.join("trail-signing.pub");
    for path in [&secret, &public] {
        let text = std::fs::read_to_string(path)?;
        let hex = text
            .strip_suffix('\n')
            .ok_or("key file without its newline")?;
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}: {text:?} is not 64 hex digits and a newline",
            path.display()
        );
    }
    let mode = std::fs::metadata(&secret)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the signing key is readable by others");
    let again = run().await?;
    assert!(!again.status.success(), "keygen overwrote an existing key");
    Ok(())
}

// === the proxy process ===

/// What differs between the tests' `[audit]` sections.
struct Knobs {
    parameters: &'static str,
    checkpoint_every_records: u64,
    /// `audit.segment_max_bytes`: small values make the proxy rotate, seal and compress often.
    segment_max_bytes: u64,
    /// `audit.on_failure`: block | allow.
    on_failure: &'static str,
}

impl Default for Knobs {
    /// Parameters in clear (records are found by their SQL), rare checkpoints, one segment,
    /// `block`.
    fn default() -> Knobs {
        Knobs {
            parameters: "clear",
            checkpoint_every_records: 1000,
            segment_max_bytes: BIG_SEGMENTS,
            on_failure: "block",
        }
    }
}

/// The SPEC's default `audit.segment_max_bytes` (64 MiB): one segment for a whole test.
const BIG_SEGMENTS: u64 = 64 << 20;
/// The smallest `audit.segment_max_bytes`: a segment every dozen records or so.
const SMALL_SEGMENTS: u64 = 4096;

/// A running `trailmask proxy`; killed (SIGKILL) if dropped before `stop` or `kill`.
struct Proxy {
    child: Child,
    port: u16,
    metrics_port: u16,
    log: PathBuf,
}

impl Proxy {
    /// Writes a config on fresh ports over `setup`'s trail and starts the proxy.
    async fn start(setup: &Setup, knobs: &Knobs) -> TestResult<Proxy> {
        let port = cluster::free_port()?;
        let metrics_port = cluster::free_port()?;
        let config = format!(
            r#"[listen]
address = "127.0.0.1:{port}"

[upstream]
address = "{upstream}"
tls = {{ mode = "disable" }}
connect_timeout_ms = 5000

[catalog]
user = "{CATALOG_USER}"
password_env = "{CATALOG_PASSWORD_ENV}"
database = "{DB}"
refresh_secs = 60

[audit]
dir = "{trail}"
chain = "{CHAIN}"
durability = "strict"
group_commit_ms = 2
signing_key = "{key}"
checkpoint_every_records = {every}
checkpoint_every_secs = 3600
segment_max_bytes = {segment_max_bytes}
on_failure = "{on_failure}"
parameters = "{parameters}"
hash_key_env = "{HASH_KEY_ENV}"

[metrics]
address = "127.0.0.1:{metrics_port}"
{POLICY}"#,
            upstream = setup.cluster.address(),
            trail = setup.trail.display(),
            key = setup.signing_key().display(),
            every = knobs.checkpoint_every_records,
            parameters = knobs.parameters,
            segment_max_bytes = knobs.segment_max_bytes,
            on_failure = knobs.on_failure,
        );
        let path = setup.work.path().join(format!("trailmask-{port}.toml"));
        std::fs::write(&path, config)?;
        let log = setup.work.path().join(format!("proxy-{port}.log"));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_trailmask"))
            .arg("proxy")
            .arg("--config")
            .arg(&path)
            .env(CATALOG_PASSWORD_ENV, &setup.catalog_password)
            .env(HASH_KEY_ENV, &setup.hash_key)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()?;
        let mut proxy = Proxy {
            child,
            port,
            metrics_port,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(proxy);
            }
            if let Some(status) = proxy.child.try_wait()? {
                return Err(format!(
                    "the proxy exited with {status} before accepting; its log:\n{}",
                    proxy.log()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the proxy did not accept on port {port} in time; its log:\n{}",
                    proxy.log()
                )
                .into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn conn_string(&self, user: &str, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={DB} sslmode=disable \
             connect_timeout=10",
            self.port
        )
    }

    async fn connect(&self, user: (&str, &str)) -> TestResult<Session> {
        let conn = self.conn_string(user.0, user.1);
        match timeout(OP_TIMEOUT, Session::connect(&conn)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                Err(format!("{} cannot log in: {e}; proxy log:\n{}", user.0, self.log()).into())
            }
            Err(_) => Err(format!("{} login hangs; proxy log:\n{}", user.0, self.log()).into()),
        }
    }

    /// `GET path` on the metrics address: (status, body).
    async fn get(&self, path: &str) -> TestResult<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.metrics_port)).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut response = Vec::new();
        timeout(OP_TIMEOUT, stream.read_to_end(&mut response)).await??;
        let text = String::from_utf8(response)?;
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("GET {path}: no end of headers in {text:?}"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("GET {path}: no status in {head:?}"))?;
        Ok((status, body.to_owned()))
    }

    /// SIGKILL, as a crash would.
    async fn kill(mut self) -> TestResult {
        self.child.kill().await?;
        Ok(())
    }

    /// SIGTERM, then the drain and the seal; exit 0.
    async fn stop(mut self) -> TestResult {
        support::sigterm(&self.child)?;
        let status = match timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                return Err(format!(
                    "the proxy did not stop within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    self.log()
                )
                .into())
            }
        };
        assert!(
            status.success(),
            "the proxy stopped with {status}; log:\n{}",
            self.log()
        );
        Ok(())
    }
}

// === reading and verifying the trail ===

/// The chain's segment files, oldest first: a plain `.jsonl` wins over its `.zst` twin (the
/// twin may still be being written).
fn segments(trail: &Path) -> TestResult<Vec<PathBuf>> {
    let dir = trail.join(CHAIN);
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let stem = name.strip_suffix(".zst").unwrap_or(&name);
        if let Some(digits) = stem.strip_suffix(".jsonl") {
            if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
                names.insert(stem.to_owned());
            }
        }
    }
    Ok(names
        .into_iter()
        .map(|stem| {
            let plain = dir.join(&stem);
            if plain.exists() {
                plain
            } else {
                dir.join(format!("{stem}.zst"))
            }
        })
        .collect())
}

/// A segment's bytes, decompressed if sealed and compressed.
fn segment_bytes(path: &Path) -> TestResult<Vec<u8>> {
    let raw = std::fs::read(path)?;
    if path.extension().is_some_and(|e| e == "zst") {
        Ok(zstd::decode_all(raw.as_slice())?)
    } else {
        Ok(raw)
    }
}

/// Every whole line of the chain, oldest first; a torn last line (no `\n`) is left out.
fn trail_lines(trail: &Path) -> TestResult<Vec<String>> {
    let mut lines = Vec::new();
    for seg in segments(trail)? {
        let bytes = segment_bytes(&seg)?;
        let text = String::from_utf8(bytes)?;
        let mut parts: Vec<&str> = text.split('\n').collect();
        parts.pop(); // after the last '\n': empty, or a torn line
        lines.extend(parts.into_iter().map(str::to_owned));
    }
    Ok(lines)
}

/// For failure messages: the chain's files with their sizes and the newest lines.
fn trail_listing(trail: &Path) -> String {
    let mut out = String::from("trail files:\n");
    if let Ok(entries) = std::fs::read_dir(trail.join(CHAIN)) {
        let mut names: Vec<(String, u64)> = entries
            .filter_map(|e| e.ok())
            .map(|e| {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                (e.file_name().to_string_lossy().into_owned(), len)
            })
            .collect();
        names.sort();
        for (name, len) in names {
            out.push_str(&format!("  {name} {len} B\n"));
        }
    }
    out.push_str("newest lines:\n");
    let lines = trail_lines(trail).unwrap_or_default();
    for l in lines.iter().skip(lines.len().saturating_sub(8)) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Every whole record of the chain, parsed, oldest first.
fn trail_records(trail: &Path) -> TestResult<Vec<Value>> {
    trail_lines(trail)?
        .iter()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}").into()))
        .collect()
}

fn kind(r: &Value) -> &str {
    r["kind"].as_str().unwrap_or("")
}

/// The `sql` of every `statement` record, whitespace squashed.
fn statement_sqls(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| kind(r) == "statement")
        .filter_map(|r| r["sql"].as_str().map(squash))
        .collect()
}

fn seq(r: &Value) -> u64 {
    r["seq"].as_u64().unwrap_or(0)
}

/// SQL text without whitespace, lower-cased: matches a statement to its `sql` member whatever
/// spacing the normaliser keeps.
fn squash(sql: &str) -> String {
    sql.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Polls `check` over the trail's records until it yields a value or [`RECORD_TIMEOUT`] ends.
async fn wait_for_records<T>(
    trail: &Path,
    what: &str,
    mut check: impl FnMut(&[Value]) -> Option<T>,
) -> TestResult<T> {
    let deadline = Instant::now() + RECORD_TIMEOUT;
    loop {
        // The directory may not exist yet, or a segment may be mid-rename: retry.
        if let Ok(records) = trail_records(trail) {
            if let Some(found) = check(&records) {
                return Ok(found);
            }
        }
        if Instant::now() > deadline {
            let tail: Vec<String> = trail_lines(trail)
                .unwrap_or_default()
                .into_iter()
                .rev()
                .take(20)
                .collect();
            return Err(format!(
                "{what}: not in the trail within {RECORD_TIMEOUT:?}; newest lines (newest first):\n{}",
                tail.join("\n")
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn python_ready() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import blake3, cryptography, zstandard"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `trailmask verify --trail DIR [--key K] [extra…]` and, when it can run, the Python verifier
/// (same key); asserts they agree on the exit status. Returns it with the binary's output.
async fn verify(trail: &Path, key: Option<&Path>, extra: &[&str]) -> TestResult<(i32, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailmask"));
    cmd.arg("verify").arg("--trail").arg(trail).args(extra);
    if let Some(k) = key {
        cmd.arg("--key").arg(k);
    }
    let out = cmd.output().await?;
    let code = out.status.code().ok_or("verify was killed by a signal")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The Python verifier has no --expect-head / --require-sealed; compare plain runs only.
    if extra.is_empty() {
        if python_ready() {
            let mut py = Command::new("python3");
            py.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tools/verify_trail.py"
            ))
            .arg(trail);
            if let Some(k) = key {
                py.arg("--key").arg(k);
            }
            let pout = py.output().await?;
            assert_eq!(
                pout.status.code(),
                Some(code),
                "the Python verifier disagrees:\n{}{}\ntrailmask verify said:\n{text}",
                String::from_utf8_lossy(&pout.stdout),
                String::from_utf8_lossy(&pout.stderr)
            );
        } else {
            eprintln!("note: python3 with blake3, cryptography, zstandard missing; Python verifier not run");
        }
    }
    Ok((code, text))
}

/// The SQLSTATE and message of a client-side error.
fn db_error(e: &tokio_postgres::Error) -> (Option<String>, String) {
    (
        sqlstate(e).map(str::to_owned),
        e.as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| e.to_string()),
    )
}

// === end to end ===

/// Waits until `GET /checkpoint` serves the newest checkpoint line of the file, byte for byte
/// (the writer publishes a checkpoint once it is durable, so it may trail the file a moment).
async fn served_checkpoint(proxy: &Proxy, trail: &Path) -> TestResult<Value> {
    let deadline = Instant::now() + RECORD_TIMEOUT;
    loop {
        let newest = trail_lines(trail)?
            .into_iter()
            .rev()
            .find(|l| l.contains(r#""kind":"checkpoint""#));
        let (status, body) = proxy.get("/checkpoint").await?;
        if let Some(line) = &newest {
            if status == 200 && body == format!("{line}\n") {
                return Ok(serde_json::from_str(line)?);
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "GET /checkpoint = {status} {body:?}; newest checkpoint in the file: {newest:?}"
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The value of an unlabelled series from `GET /metrics`.
async fn metric(proxy: &Proxy, name: &str) -> TestResult<f64> {
    let (status, body) = proxy.get("/metrics").await?;
    assert_eq!(status, 200, "{body}");
    let value = body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .ok_or_else(|| format!("no {name} in /metrics"))?;
    Ok(value.trim().parse()?)
}

async fn fsync_count(proxy: &Proxy) -> TestResult<f64> {
    metric(proxy, "trailmask_audit_fsync_seconds_count").await
}

#[tokio::test]
async fn session_records_in_order_checkpoint_served_and_trail_verifies_with_key() -> TestResult {
    require_proxy!("the trail is written by the proxy");
    let setup = Setup::start(None).await?;
    // segment_start and config are records 1 and 2: the first checkpoint comes with the session.
    let proxy = Proxy::start(
        &setup,
        &Knobs {
            parameters: "hashed",
            checkpoint_every_records: 6,
            ..Knobs::default()
        },
    )
    .await?;

    let (status, body) = proxy.get("/checkpoint").await?;
    assert_eq!(status, 404, "GET /checkpoint before any checkpoint: {body}");

    // A failed login (cleartext password method).
    let bad = proxy.conn_string(PASSWORD_USER.0, "not-the-password");
    let err = timeout(OP_TIMEOUT, Session::connect(&bad))
        .await?
        .err()
        .ok_or("logged in with a wrong password")?;
    let code = err
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(sqlstate)
        .map(str::to_owned);
    assert_eq!(code.as_deref(), Some("28P01"), "{err}");

    // bob (`clerk`): allowed, refused, failing.
    let s = proxy.connect(MD5_USER).await?;
    // strict: a lone statement's record is fsynced before the statement runs.
    let fsyncs_before = fsync_count(&proxy).await?;
    let rows = timeout(OP_TIMEOUT, s.simple_query(STMT_ALLOWED)).await??;
    let fsyncs_after = fsync_count(&proxy).await?;
    assert!(
        fsyncs_after > fsyncs_before,
        "no trail fsync for a statement under strict ({fsyncs_before} -> {fsyncs_after})"
    );
    let n = rows
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(n, 2);
    let denied = timeout(OP_TIMEOUT, s.query(STMT_DENIED, &[]))
        .await?
        .err()
        .ok_or("a clerk read card_number, which the policy denies")?;
    assert_eq!(sqlstate(&denied), Some("42501"), "{denied}");
    let failed = timeout(OP_TIMEOUT, s.query(STMT_FAILS, &[]))
        .await?
        .err()
        .ok_or("division by zero succeeded")?;
    assert_eq!(sqlstate(&failed), Some("22012"), "{failed}");
    // The session is still usable after both errors.
    let one: i32 = timeout(OP_TIMEOUT, s.query_one("SELECT 1", &[]))
        .await??
        .get(0);
    assert_eq!(one, 1);
    // Parameters go into the trail as keyed hashes: a literal of a simple query, and the bind
    // values (one NULL) of an extended one.
    timeout(OP_TIMEOUT, s.simple_query(STMT_LITERAL)).await??;
    let no_value: Option<&str> = None;
    timeout(OP_TIMEOUT, s.query(STMT_BOUND, &[&"A123456789", &no_value])).await??;
    drop(s);

    let (records, sid) = wait_for_records(&setup.trail, "bob's session_end", |recs| {
        let sid = recs
            .iter()
            .find(|r| kind(r) == "session_start" && r["user"] == "bob" && r["auth"] == "ok")
            .map(|r| r["session"].clone())?;
        recs.iter()
            .any(|r| kind(r) == "session_end" && r["session"] == sid)
            .then(|| (recs.to_vec(), sid))
    })
    .await?;

    // The failed login.
    let failed_login = records
        .iter()
        .find(|r| kind(r) == "session_start" && r["user"] == PASSWORD_USER.0);
    let failed_login = failed_login.ok_or("no session_start for the failed login")?;
    assert_eq!(failed_login["auth"], "failed:28P01", "{failed_login}");

    // bob's session, in order.
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["session"] == sid
                && matches!(
                    kind(r),
                    "session_start" | "statement" | "result" | "session_end"
                )
        })
        .collect();
    let dump = || {
        mine.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let start = mine.first().ok_or("no records")?;
    let end = mine.last().ok_or("no records")?;
    assert_eq!(kind(start), "session_start", "{}", dump());
    assert_eq!(kind(end), "session_end", "{}", dump());
    assert_eq!(start["role"], "clerk", "{start}");
    assert_eq!(start["database"], DB, "{start}");
    assert_eq!(start["tls"], false, "{start}");
    assert!(
        start["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{start}"
    );

    let statements: Vec<&Value> = mine
        .iter()
        .copied()
        .filter(|r| kind(r) == "statement")
        .collect();
    let find = |text: &str| {
        let want = squash(text);
        statements
            .iter()
            .copied()
            .find(|r| r["sql"].as_str().is_some_and(|s| squash(s) == want))
            .ok_or_else(|| format!("no statement record for {text:?}:\n{}", dump()))
    };
    let allowed = find(STMT_ALLOWED)?;
    let refused = find(STMT_DENIED)?;
    let failing = find(STMT_FAILS)?;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["op"], "SELECT", "{allowed}");
    assert!(
        refused["decision"]
            .as_str()
            .is_some_and(|d| d.starts_with("deny:") && d.len() > "deny:".len()),
        "{refused}"
    );
    assert_eq!(failing["decision"], "allow", "{failing}");
    let keyed = |value: &[u8]| -> TestResult<String> {
        let key = (0..32)
            .map(|i| u8::from_str_radix(setup.hash_key.get(2 * i..2 * i + 2).unwrap_or(""), 16))
            .collect::<Result<Vec<u8>, _>>()?;
        let key: [u8; 32] = key.try_into().map_err(|_| "hash key is not 32 bytes")?;
        Ok(blake3::keyed_hash(&key, value).to_hex().to_string())
    };
    let literal = find(STMT_LITERAL_NORMALIZED)?;
    assert_eq!(
        literal["params"],
        serde_json::json!([keyed(b"1")?]),
        "{literal}"
    );
    let bound = find(STMT_BOUND)?;
    assert_eq!(
        bound["params"],
        serde_json::json!([keyed(b"A123456789")?, null]),
        "{bound}"
    );
    assert_eq!(allowed["params"], serde_json::json!([]), "{allowed}");

    let result_of = |st: &Value| {
        mine.iter()
            .copied()
            .find(|r| kind(r) == "result" && r["statement_seq"] == st["seq"])
    };
    let allowed_result = result_of(allowed)
        .ok_or_else(|| format!("no result for the allowed statement:\n{}", dump()))?;
    let failing_result = result_of(failing)
        .ok_or_else(|| format!("no result for the failing statement:\n{}", dump()))?;
    assert_eq!(allowed_result["status"], "ok", "{allowed_result}");
    assert_eq!(allowed_result["rows"], 2, "{allowed_result}");
    assert_eq!(failing_result["status"], "error:22012", "{failing_result}");

    let order = [
        seq(start),
        seq(allowed),
        seq(allowed_result),
        seq(refused),
        seq(failing),
        seq(failing_result),
        seq(end),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "records out of order {order:?}:\n{}",
        dump()
    );
    // A refused statement never ran; if it has a result, it is its error, in its place.
    if let Some(r) = result_of(refused) {
        assert_eq!(r["status"], "error:42501", "{r}");
        assert!(seq(refused) < seq(r) && seq(r) < seq(failing), "{}", dump());
    }
    assert_eq!(
        end["statements"].as_u64(),
        Some(statements.len() as u64),
        "session_end counts the session's statements:\n{}",
        dump()
    );

    let served = served_checkpoint(&proxy, &setup.trail).await?;

    proxy.stop().await?;
    let key = setup.public_key();
    let (code, text) = verify(&setup.trail, Some(&key), &[]).await?;
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("warning"), "{text}");
    let (code, text) = verify(&setup.trail, Some(&key), &["--require-sealed"]).await?;
    assert_eq!(code, 0, "a cleanly stopped trail is sealed: {text}");
    // The served checkpoint is an anchor the trail still holds.
    let anchor = format!(
        "{}:{}",
        served["covers_seq"],
        served["covers_hash"].as_str().unwrap_or("")
    );
    let (code, text) = verify(&setup.trail, Some(&key), &["--expect-head", &anchor]).await?;
    assert_eq!(code, 0, "--expect-head {anchor}: {text}");
    Ok(())
}

/// Outlives a 50 ms statement_timeout.
const SLEEPS: &str = "SELECT pg_sleep(5)";
/// The same, as the first statement of a Query (another text: records are found by SQL).
const SLEEPS_TOO: &str = "SELECT pg_sleep(6)";

/// Fails when executed: `2/0` would fail at Bind already, where the planner folds constants.
const FAILS_AT_EXECUTE: &str = "SELECT 2 / floor(random())::int";

/// Statements the database never ran, because an earlier one of the same batch failed, still
/// get a `result` record: `error:25P02` with no rows, for the rest of a simple Query and for
/// the Executes of a pipeline up to its Sync. The statement that failed has its own error; one
/// stopped by statement_timeout is `cancelled`.
#[tokio::test]
async fn statements_skipped_after_an_error_in_their_batch_get_an_error_result() -> TestResult {
    require_proxy!("the trail is written by the proxy");
    let setup = Setup::start(None).await?;
    let proxy = Proxy::start(&setup, &Knobs::default()).await?;

    // Simple Query: three statements, the second fails.
    let s = proxy.connect(MD5_USER).await?;
    let err = timeout(
        OP_TIMEOUT,
        s.simple_query("SELECT 101; SELECT 1/0; SELECT 102"),
    )
    .await?
    .err()
    .ok_or("division by zero succeeded")?;
    assert_eq!(sqlstate(&err), Some("22012"), "{err}");
    drop(s);

    // Extended: one pipeline, the first Execute fails, one Sync.
    let addr = format!("127.0.0.1:{}", proxy.port);
    let mut raw =
        support::raw::RawConn::connect(&addr, PASSWORD_USER.0, PASSWORD_USER.1, DB, &[]).await?;
    let mut batch = Vec::new();
    for (name, sql) in [("s1", FAILS_AT_EXECUTE), ("s2", "SELECT 202")] {
        batch.extend(support::raw::parse(name, sql.as_bytes()));
        batch.extend(support::raw::bind("", name, &[], 0));
        batch.extend(support::raw::execute(""));
    }
    batch.extend(support::raw::sync());
    raw.send(&batch).await?;
    let answer = timeout(OP_TIMEOUT, raw.until_ready()).await??;
    let errors: Vec<String> = answer.iter().filter_map(|m| m.sqlstate()).collect();
    assert_eq!(errors, vec!["22012".to_owned()], "{answer:?}");
    // The session goes on after the Sync.
    raw.send(&support::raw::query(b"SELECT 303")).await?;
    timeout(OP_TIMEOUT, raw.until_ready()).await??;
    // A statement stopped by statement_timeout (query_canceled) is `cancelled`.
    raw.send(&support::raw::query(b"SET statement_timeout = '50ms'"))
        .await?;
    timeout(OP_TIMEOUT, raw.until_ready()).await??;
    raw.send(&support::raw::query(SLEEPS.as_bytes())).await?;
    let answer = timeout(OP_TIMEOUT, raw.until_ready()).await??;
    let errors: Vec<String> = answer.iter().filter_map(|m| m.sqlstate()).collect();
    assert_eq!(errors, vec!["57014".to_owned()], "{answer:?}");
    // ... and what follows it in the same Query never runs.
    raw.send(&support::raw::query(
        format!("{SLEEPS_TOO}; SELECT 405").as_bytes(),
    ))
    .await?;
    let answer = timeout(OP_TIMEOUT, raw.until_ready()).await??;
    let errors: Vec<String> = answer.iter().filter_map(|m| m.sqlstate()).collect();
    assert_eq!(errors, vec!["57014".to_owned()], "{answer:?}");
    raw.send(&support::raw::query(b"SELECT 404")).await?;
    timeout(OP_TIMEOUT, raw.until_ready()).await??;
    drop(raw);

    let records = wait_for_records(&setup.trail, "the result of SELECT 404", |recs| {
        let st = recs
            .iter()
            .find(|r| kind(r) == "statement" && r["sql"] == "SELECT 404")?;
        recs.iter()
            .any(|r| kind(r) == "result" && r["statement_seq"] == st["seq"])
            .then(|| recs.to_vec())
    })
    .await?;
    let status_of = |sql: &str| -> TestResult<(String, u64)> {
        let st = records
            .iter()
            .find(|r| {
                kind(r) == "statement"
                    && r["sql"].as_str().is_some_and(|s| squash(s) == squash(sql))
            })
            .ok_or_else(|| format!("no statement record for {sql:?} in {records:?}"))?;
        let res = records
            .iter()
            .find(|r| kind(r) == "result" && r["statement_seq"] == st["seq"])
            .ok_or_else(|| format!("no result record for {sql:?} (statement {st})"))?;
        Ok((
            res["status"].as_str().unwrap_or("").to_owned(),
            res["rows"].as_u64().unwrap_or(u64::MAX),
        ))
    };
    assert_eq!(status_of("SELECT 101")?, ("ok".to_owned(), 1));
    assert_eq!(status_of("SELECT 1/0")?, ("error:22012".to_owned(), 0));
    assert_eq!(status_of("SELECT 102")?, ("error:25P02".to_owned(), 0));
    assert_eq!(status_of(FAILS_AT_EXECUTE)?, ("error:22012".to_owned(), 0));
    assert_eq!(status_of("SELECT 202")?, ("error:25P02".to_owned(), 0));
    assert_eq!(status_of("SELECT 303")?, ("ok".to_owned(), 1));
    assert_eq!(status_of(SLEEPS)?, ("cancelled".to_owned(), 0));
    assert_eq!(status_of(SLEEPS_TOO)?, ("cancelled".to_owned(), 0));
    assert_eq!(status_of("SELECT 405")?, ("error:25P02".to_owned(), 0));

    proxy.stop().await?;
    let (code, text) = verify(&setup.trail, Some(&setup.public_key()), &[]).await?;
    assert_eq!(code, 0, "{text}");
    Ok(())
}

// === crash ===

/// Statements each crash client runs, alternately an INSERT (simple query) and a SELECT of the
/// row it just wrote (extended query); each text is unique (`parameters = "clear"`).
fn crash_statement(client: usize, i: u64) -> String {
    if i % 2 == 0 {
        format!("INSERT INTO crash_log (tag) VALUES ('c{client}-{i}')")
    } else {
        format!(
            "SELECT count(*) FROM crash_log WHERE tag = 'c{client}-{}'",
            i - 1
        )
    }
}

/// Runs [`crash_statement`]s until the connection goes; records each one whose result arrived.
/// Returns an error for anything but the connection going away.
async fn crash_client(client: usize, conn: String, acked: Arc<Mutex<Vec<String>>>) -> TestResult {
    let s = timeout(OP_TIMEOUT, Session::connect(&conn)).await??;
    for i in 0.. {
        let sql = crash_statement(client, i);
        let outcome = if i % 2 == 0 {
            timeout(OP_TIMEOUT, s.simple_query(&sql))
                .await
                .map(|r| r.map(drop))
        } else {
            match timeout(OP_TIMEOUT, s.query_one(sql.as_str(), &[])).await {
                Ok(Ok(row)) => {
                    let n: i64 = row.get(0);
                    assert_eq!(n, 1, "{sql}: the row written just before is missing");
                    Ok(Ok(()))
                }
                other => other.map(|r| r.map(drop)),
            }
        };
        match outcome {
            Ok(Ok(())) => acked.lock().map_err(|_| "poisoned")?.push(sql),
            Ok(Err(e)) if e.as_db_error().is_none() => return Ok(()),
            Ok(Err(e)) => return Err(format!("client {client}: {sql}: {e}").into()),
            Err(_) => return Err(format!("client {client}: {sql} hangs").into()),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_strict_loses_no_statement_that_reached_the_database() -> TestResult {
    require_proxy!("the trail is written by the proxy");
    sigkill_under_strict(BIG_SEGMENTS).await
}

/// The same crash while the proxy rotates, seals and compresses a segment every few records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_strict_with_4k_segments_loses_nothing() -> TestResult {
    require_proxy!("the trail is written by the proxy");
    sigkill_under_strict(SMALL_SEGMENTS).await
}

/// Four clients, a SIGKILL, verify, the trail against the clients and the database, a restart
/// on the same trail, one more statement, a clean stop, verify with the key.
async fn sigkill_under_strict(segment_max_bytes: u64) -> TestResult {
    /// Kill once this many results have reached the clients (or at the deadline below).
    const ACKED_BEFORE_KILL: usize = 200;
    /// Fewer than this by the deadline means the proxy barely serves: a failure in itself.
    const ACKED_AT_LEAST: usize = 20;
    let setup = Setup::start(None).await?;
    let knobs = Knobs {
        checkpoint_every_records: 50,
        segment_max_bytes,
        ..Knobs::default()
    };
    let proxy = Proxy::start(&setup, &knobs).await?;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut clients = Vec::new();
    for (c, user) in [SCRAM_USER, MD5_USER, PASSWORD_USER, TRUST_USER]
        .into_iter()
        .enumerate()
    {
        let conn = proxy.conn_string(user.0, user.1);
        clients.push(tokio::spawn(crash_client(c, conn, acked.clone())));
    }
    let count = || acked.lock().map(|v| v.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count() < ACKED_BEFORE_KILL && Instant::now() < deadline {
        if clients.iter().any(|c| c.is_finished()) {
            break; // a client failed: its error is reported below
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = proxy.log();
    proxy.kill().await?;
    for c in clients {
        timeout(OP_TIMEOUT, c)
            .await
            .map_err(|_| "a client hangs after the kill")???;
    }
    let acked: Vec<String> = acked.lock().map_err(|_| "poisoned")?.clone();
    assert!(
        acked.len() >= ACKED_AT_LEAST,
        "only {} statements served before the deadline; proxy log:\n{log}",
        acked.len()
    );

    // The crashed trail verifies (an unsealed tail is a warning, not a break).
    let (code, text) = verify(&setup.trail, Some(&setup.public_key()), &[]).await?;
    assert_eq!(code, 0, "{text}");
    eprintln!("crash: verify after the kill:\n{text}");

    // Every acknowledged statement, and every row in the database, has its statement record.
    let records = trail_records(&setup.trail)?;
    let recorded = statement_sqls(&records);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|sql| !recorded.contains(&squash(sql)))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged statements are not in the trail, e.g. {:?}",
        missing.len(),
        acked.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let direct = setup.connect_direct(SCRAM_USER).await?;
    let tags = direct.query("SELECT tag FROM crash_log", &[]).await?;
    let mut in_db = 0;
    for row in tags {
        let tag: String = row.get(0);
        let sql = format!("INSERT INTO crash_log (tag) VALUES ('{tag}')");
        assert!(
            recorded.contains(&squash(&sql)),
            "row {tag} reached the database but its INSERT is not in the trail"
        );
        in_db += 1;
    }
    assert!(in_db > 0, "no row reached the database");
    eprintln!(
        "crash ({segment_max_bytes} B segments): {} results acknowledged, {in_db} rows in the \
         database, {} records in {} segments before the kill",
        acked.len(),
        records.len(),
        segments(&setup.trail)?.len()
    );

    // What recovery must do: the newest segment's torn bytes and whether it ends sealed.
    let newest = segments(&setup.trail)?
        .pop()
        .ok_or("no segment after the crash")?;
    let bytes = segment_bytes(&newest)?;
    let torn = bytes.len() - bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let ends_sealed = records.last().is_some_and(|r| kind(r) == "checkpoint");
    eprintln!("crash: newest segment has a torn tail of {torn} bytes; sealed: {ends_sealed}");
    let head_before = records.last().map(seq).unwrap_or(0);

    // Restarted on the same trail: recovery, then service.
    let proxy = Proxy::start(&setup, &knobs).await?;
    if torn > 0 || !ends_sealed {
        wait_for_records(&setup.trail, "the recovery checkpoint", |recs| {
            recs.iter()
                .find(|r| {
                    kind(r) == "checkpoint"
                        && seq(r) > head_before
                        && r["recovery"]["dropped_bytes"].as_u64() == Some(torn as u64)
                })
                .map(drop)
        })
        .await?;
    }
    let since = Instant::now();
    let s = proxy.connect(SCRAM_USER).await?;
    eprintln!(
        "crash: first login after the restart took {:?}",
        since.elapsed()
    );
    let after = "INSERT INTO crash_log (tag) VALUES ('after-restart')";
    timeout(OP_TIMEOUT, s.simple_query(after)).await??;
    drop(s);
    // The restarted proxy serves the newest checkpoint, recovered or written since.
    served_checkpoint(&proxy, &setup.trail).await?;
    proxy.stop().await?;

    let records = trail_records(&setup.trail)?;
    let recorded = statement_sqls(&records);
    assert!(
        recorded.contains(&squash(after)),
        "the statement after the restart is missing; {}",
        trail_listing(&setup.trail)
    );
    let lost: Vec<&String> = acked
        .iter()
        .filter(|sql| !recorded.contains(&squash(sql)))
        .collect();
    assert!(lost.is_empty(), "recovery lost {lost:?}");
    let (code, text) = verify(&setup.trail, Some(&setup.public_key()), &[]).await?;
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("warning"), "{text}");
    Ok(())
}

// === disk full ===

/// A 2 MiB tmpfs on a temporary directory, unmounted (then the directory removed) when the
/// test ends, however it ends.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None (with a note on stderr) when not root or when mounting is not allowed here.
    fn mount() -> TestResult<Option<Tmpfs>> {
        if !is_root() {
            eprintln!("note: not root; disk-full test skipped");
            return Ok(None);
        }
        let dir = tempfile::tempdir()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !mounted {
            eprintln!("note: cannot mount a tmpfs here; disk-full test skipped");
            return Ok(None);
        }
        Ok(Some(Tmpfs { dir }))
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system with a file; returns its path.
    async fn fill(&self) -> TestResult<PathBuf> {
        let filler = self.path().join("filler");
        let f = filler.clone();
        tokio::task::spawn_blocking(move || fill(&f)).await??;
        Ok(filler)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Polls `GET /readyz` until it answers `want`, within `within`; returns how long it took.
async fn readyz_becomes(proxy: &Proxy, want: u16, within: Duration) -> TestResult<Duration> {
    let since = Instant::now();
    loop {
        let (status, body) = proxy.get("/readyz").await?;
        if status == want {
            return Ok(since.elapsed());
        }
        if since.elapsed() > within {
            return Err(
                format!("/readyz still {status} {body:?} after {within:?}, not {want}").into(),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Writes zeros into `path` until the file system refuses.
fn fill(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0u8; 16 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    Ok(())
}

/// Asserts a refusal for an unwritable trail: SQLSTATE 58030, a message naming the audit trail.
fn assert_trail_refusal(what: &str, e: &tokio_postgres::Error) {
    let (code, message) = db_error(e);
    assert_eq!(code.as_deref(), Some("58030"), "{what}: {message}");
    assert!(message.contains("audit trail"), "{what}: {message}");
}

#[tokio::test]
async fn disk_full_refuses_with_58030_then_serves_again_and_the_trail_verifies() -> TestResult {
    require_proxy!("the trail is written by the proxy");
    // Declared before the proxy: unmounted after it is gone.
    let Some(mnt) = Tmpfs::mount()? else {
        return Ok(());
    };
    let setup = Setup::start(Some(mnt.path().join("trail"))).await?;
    let proxy = Proxy::start(&setup, &Knobs::default()).await?;
    let mut acked = Vec::new();
    let s = proxy.connect(SCRAM_USER).await?;
    for i in 0..5 {
        let sql = format!("INSERT INTO crash_log (tag) VALUES ('before-{i}')");
        timeout(OP_TIMEOUT, s.simple_query(&sql)).await??;
        acked.push(sql);
    }

    let filler = mnt.fill().await?;

    // Statements go on until a trail write fails (the segment's last page may take a few),
    // then are refused, each at once.
    let mut refused = None;
    for i in 0..500 {
        let sql = format!("INSERT INTO crash_log (tag) VALUES ('full-{i}')");
        match timeout(OP_TIMEOUT, s.simple_query(&sql)).await {
            Ok(Ok(_)) => acked.push(sql),
            Ok(Err(e)) => {
                assert_trail_refusal(&sql, &e);
                refused = Some(format!("full-{i}"));
                break;
            }
            Err(_) => {
                return Err(format!("{sql} hangs on a full disk; log:\n{}", proxy.log()).into())
            }
        }
    }
    let refused = refused.ok_or("500 statements served on a full disk")?;
    eprintln!(
        "disk full: {} statements served, then {refused} refused",
        acked.len()
    );
    let again = "INSERT INTO crash_log (tag) VALUES ('refused-again')";
    let e = timeout(OP_TIMEOUT, s.simple_query(again))
        .await
        .map_err(|_| "a statement hangs while the trail is unwritable")?
        .err()
        .ok_or("a statement ran while the trail is unwritable")?;
    assert_trail_refusal(again, &e);
    let conn = proxy.conn_string(MD5_USER.0, MD5_USER.1);
    let e = timeout(OP_TIMEOUT, Session::connect(&conn))
        .await
        .map_err(|_| "a login hangs while the trail is unwritable")?
        .err()
        .ok_or("a new session was admitted while the trail is unwritable")?;
    let e = e
        .downcast_ref::<tokio_postgres::Error>()
        .ok_or_else(|| format!("not a PostgreSQL error: {e}"))?;
    assert_trail_refusal("a new session", e);
    readyz_becomes(&proxy, 503, Duration::ZERO).await?;

    // Space returns: the same session is served again within 5 s.
    let f = filler.clone();
    tokio::task::spawn_blocking(move || std::fs::remove_file(f)).await??;
    let freed = Instant::now();
    let mut n = 0;
    loop {
        let sql = format!("INSERT INTO crash_log (tag) VALUES ('back-{n}')");
        n += 1;
        match timeout(OP_TIMEOUT, s.simple_query(&sql)).await {
            Ok(Ok(_)) => {
                acked.push(sql);
                break;
            }
            Ok(Err(e)) => assert_trail_refusal(&sql, &e),
            Err(_) => return Err(format!("{sql} hangs after space returned").into()),
        }
        assert!(
            freed.elapsed() <= RESUME_WITHIN,
            "still refused {:?} after space returned; log:\n{}",
            freed.elapsed(),
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "disk full: served again {:?} after space returned",
        freed.elapsed()
    );
    readyz_becomes(&proxy, 200, Duration::ZERO).await?;
    let s2 = proxy.connect(MD5_USER).await?;
    let sql = "INSERT INTO crash_log (tag) VALUES ('new-session')".to_owned();
    timeout(OP_TIMEOUT, s2.simple_query(&sql)).await??;
    acked.push(sql);
    drop((s, s2));

    // Nothing refused reached the database; nothing acknowledged is missing from the trail.
    let direct = setup.connect_direct(SCRAM_USER).await?;
    let leaked: i64 = direct
        .query_one(
            "SELECT count(*) FROM crash_log WHERE tag = $1 OR tag = 'refused-again'",
            &[&refused],
        )
        .await?
        .get(0);
    assert_eq!(
        leaked, 0,
        "a statement refused for the trail reached the database"
    );
    proxy.stop().await?;
    let recorded = statement_sqls(&trail_records(&setup.trail)?);
    let lost: Vec<&String> = acked
        .iter()
        .filter(|sql| !recorded.contains(&squash(sql)))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not in the trail: {lost:?}"
    );
    let (code, text) = verify(&setup.trail, Some(&setup.public_key()), &[]).await?;
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("warning"), "{text}");
    Ok(())
}

/// SPEC: under `on_failure = "allow"` statements pass while the trail cannot be written, the
/// failed writes are counted, and the trail records statements again once space returns.
#[tokio::test]
async fn disk_full_under_allow_serves_counts_failures_and_the_trail_verifies() -> TestResult {
    require_proxy!("the trail is written by the proxy");
    let Some(mnt) = Tmpfs::mount()? else {
        return Ok(());
    };
    let setup = Setup::start(Some(mnt.path().join("trail"))).await?;
    let proxy = Proxy::start(
        &setup,
        &Knobs {
            on_failure: "allow",
            ..Knobs::default()
        },
    )
    .await?;
    let s = proxy.connect(SCRAM_USER).await?;
    let before = "INSERT INTO crash_log (tag) VALUES ('before-allow')";
    timeout(OP_TIMEOUT, s.simple_query(before)).await??;

    let filler = mnt.fill().await?;
    // Every statement passes, none hangs; the failed trail writes are counted.
    for i in 0..30 {
        let sql = format!("INSERT INTO crash_log (tag) VALUES ('full-allow-{i}')");
        match timeout(OP_TIMEOUT, s.simple_query(&sql)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(
                    format!("{sql} refused under on_failure = allow: {:?}", db_error(&e)).into(),
                )
            }
            Err(_) => {
                return Err(format!("{sql} hangs on a full disk; log:\n{}", proxy.log()).into())
            }
        }
    }
    let failures = metric(&proxy, "trailmask_audit_write_failures_total").await?;
    assert!(
        failures >= 1.0,
        "no trail write failure counted on a full disk"
    );
    readyz_becomes(&proxy, 503, Duration::ZERO).await?;
    let s2 = proxy.connect(MD5_USER).await?;
    timeout(
        OP_TIMEOUT,
        s2.simple_query("SELECT count(*) FROM crash_log"),
    )
    .await??;
    drop(s2);

    // Space returns: the trail is writable again within 5 s and records the next statement.
    let f = filler.clone();
    tokio::task::spawn_blocking(move || std::fs::remove_file(f)).await??;
    let took = readyz_becomes(&proxy, 200, RESUME_WITHIN).await?;
    eprintln!("disk full (allow): {failures} write failures counted; writable again {took:?} after space returned");
    let after = "INSERT INTO crash_log (tag) VALUES ('after-allow')";
    timeout(OP_TIMEOUT, s.simple_query(after)).await??;
    drop(s);
    proxy.stop().await?;
    let recorded = statement_sqls(&trail_records(&setup.trail)?);
    for sql in [before, after] {
        assert!(recorded.contains(&squash(sql)), "{sql} is not in the trail");
    }
    let (code, text) = verify(&setup.trail, Some(&setup.public_key()), &[]).await?;
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("warning"), "{text}");
    Ok(())
}
