//! `trailmask demo` (see SPEC.md, "Commands"): a throwaway PostgreSQL with the demo hotel
//! schema and synthetic guests (`config/demo/`), the proxy in front of it, and one `psql` line
//! per demo role; Ctrl-C stops the proxy, then the cluster, and removes its files.
//!
//! The proxy runs as a child process (`trailmask proxy --config FILE`) so its own signal
//! handling, draining and trail sealing are exactly those of production.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::cluster::{self, Cluster, Options, PasswordAuth};
use crate::error::{Error, Kind, OrErr, Result, Source};

/// The demo schema and data, built into the binary so `trailmask demo` works from any directory.
const SCHEMA_SQL: &str = include_str!("../../config/demo/schema.sql");
const DATA_SQL: &str = include_str!("../../config/demo/data.sql");
const CONFIG_TEMPLATE: &str = include_str!("../../config/demo/demo.toml");
/// Database the demo creates.
const DATABASE: &str = "hotel";
/// The demo's logins; each is also a `[roles.*]` member in `demo.toml`.
const ROLES: [&str; 4] = ["front_desk", "marketing", "dba", "auditor"];
/// trailmask's own catalog login (`[catalog] user`).
const CATALOG_USER: &str = "trailmask";
/// Polls of the proxy's port before giving up: 60 s at `READY_POLL`, enough for a cold start.
const READY_ATTEMPTS: usize = 1200;
const READY_POLL: Duration = Duration::from_millis(50);
/// How long a stopping proxy may take to drain and seal before it is killed; above the
/// proxy's own default `shutdown_grace_secs` (30).
const STOP_GRACE: Duration = Duration::from_secs(40);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port the proxy listens on (127.0.0.1); a free one is picked if it is taken.
    #[arg(long, default_value_t = 6432)]
    pub port: u16,
    /// Keep the trail in this directory (created if missing) instead of the throwaway one,
    /// to run `trailmask verify --trail DIR` after the demo.
    #[arg(long)]
    pub trail: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_err(
            Kind::Internal,
            Source::Internal,
            "starting the async runtime",
        )?;

    println!("Starting a throwaway PostgreSQL cluster …");
    let mut cluster = Cluster::start(Options::default())?;
    let passwords = load_demo_database(&mut cluster)?;
    let catalog_password = cluster::random_password();
    cluster
        .create_user(CATALOG_USER, &catalog_password, PasswordAuth::Scram)
        .map_err(Error::from)?;

    let trail_dir = match &args.trail {
        Some(dir) => dir.clone(),
        None => cluster.dir().join("trail"),
    };
    std::fs::create_dir_all(&trail_dir).or_err(
        Kind::Io,
        Source::Client,
        format!("creating the trail directory {}", trail_dir.display()),
    )?;
    let signing_key = write_signing_key(cluster.dir())?;
    let listen = format!("127.0.0.1:{}", pick_port(args.port)?);
    let metrics = format!("127.0.0.1:{}", cluster::free_port()?);
    let config = CONFIG_TEMPLATE
        .replace("@LISTEN_ADDRESS@", &listen)
        .replace("@UPSTREAM_ADDRESS@", &cluster.address())
        .replace("@METRICS_ADDRESS@", &metrics)
        .replace("@TRAIL_DIR@", &toml_path(&trail_dir))
        .replace("@SIGNING_KEY@", &toml_path(&signing_key));
    let config_path = cluster.dir().join("trailmask.toml");
    std::fs::write(&config_path, config).or_err(
        Kind::Io,
        Source::Internal,
        format!("writing {}", config_path.display()),
    )?;

    let demo = Demo {
        config_path,
        listen,
        metrics,
        trail_dir,
        catalog_password,
        passwords,
    };
    let status = runtime.block_on(demo.serve());
    // The cluster stops and its directory goes when `cluster` drops, after the proxy is gone.
    drop(cluster);
    status
}

/// Everything `serve` needs once the cluster is up.
struct Demo {
    config_path: PathBuf,
    listen: String,
    metrics: String,
    trail_dir: PathBuf,
    catalog_password: String,
    /// (role, password) for each demo login.
    passwords: Vec<(&'static str, String)>,
}

impl Demo {
    /// Runs the proxy until Ctrl-C (exit 0) or until it stops on its own (an error).
    async fn serve(self) -> Result<u8> {
        let exe = std::env::current_exe().or_err(
            Kind::Internal,
            Source::Internal,
            "finding the trailmask executable",
        )?;
        let mut hash_key = [0u8; 32];
        getrandom::fill(&mut hash_key)
            .map_err(|e| Error::internal(format!("reading random bytes: {e}")))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("proxy")
            .arg("--config")
            .arg(&self.config_path)
            .env("TRAILMASK_CATALOG_PASSWORD", &self.catalog_password)
            .env("TRAILMASK_TRAIL_HASH_KEY", hex(&hash_key))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .or_err(Kind::Io, Source::Internal, "starting `trailmask proxy`")?;

        let mut ready = false;
        for _ in 0..READY_ATTEMPTS {
            if let Some(status) =
                child
                    .try_wait()
                    .or_err(Kind::Io, Source::Internal, "watching the proxy")?
            {
                return Err(proxy_stopped(status));
            }
            if tokio::net::TcpStream::connect(&self.listen).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(READY_POLL).await;
        }
        if !ready {
            return Err(Error::new(
                Kind::Io,
                Source::Internal,
                format!(
                    "the proxy did not accept on {} within a minute",
                    self.listen
                ),
            ));
        }
        self.print_instructions();

        tokio::select! {
            status = child.wait() => {
                let status = status.or_err(Kind::Io, Source::Internal, "watching the proxy")?;
                Err(proxy_stopped(status))
            }
            signal = tokio::signal::ctrl_c() => {
                signal.or_err(Kind::Io, Source::Internal, "waiting for Ctrl-C")?;
                println!("\nStopping the proxy and the cluster …");
                stop(&mut child).await;
                Ok(0)
            }
        }
    }

    fn print_instructions(&self) {
        let (host, port) = self.listen.rsplit_once(':').unwrap_or((&self.listen, ""));
        println!();
        println!("trailmask demo is running: database `{DATABASE}` with 300 synthetic guests.");
        println!("Connect through the proxy as each demo role:");
        println!();
        for (role, password) in &self.passwords {
            println!(
                "  psql \"host={host} port={port} user={role} password={password} dbname={DATABASE}\""
            );
        }
        println!();
        println!(
            "Try:   SELECT name, phone, national_id, birthday FROM guests ORDER BY id LIMIT 5;"
        );
        println!("       SELECT card_number, card_holder FROM payments LIMIT 3;");
        println!("Metrics: http://{}/metrics", self.metrics);
        println!("Trail:   {}", self.trail_dir.display());
        println!();
        println!("Press Ctrl-C to stop.");
    }
}

/// Creates `hotel`, loads the schema and synthetic data, and the demo logins with their grants.
fn load_demo_database(cluster: &mut Cluster) -> Result<Vec<(&'static str, String)>> {
    cluster.create_database(DATABASE)?;
    for (name, sql) in [("schema.sql", SCHEMA_SQL), ("data.sql", DATA_SQL)] {
        let path = cluster.dir().join(name);
        std::fs::write(&path, sql).or_err(
            Kind::Io,
            Source::Internal,
            format!("writing {}", path.display()),
        )?;
        cluster.psql_file(DATABASE, &path)?;
    }
    let mut passwords = Vec::new();
    for role in ROLES {
        let password = cluster::random_password();
        cluster.create_user(role, &password, PasswordAuth::Scram)?;
        passwords.push((role, password));
    }
    cluster.psql_db(
        DATABASE,
        "GRANT USAGE ON SCHEMA public TO front_desk, marketing, dba, auditor;
         GRANT SELECT, INSERT, UPDATE ON guests, bookings, rooms TO front_desk;
         GRANT SELECT, INSERT ON payments TO front_desk;
         GRANT SELECT ON guest_contacts, occupancy TO front_desk, marketing;
         GRANT SELECT ON guests, bookings, rooms TO marketing;
         GRANT ALL ON ALL TABLES IN SCHEMA public TO dba;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor;",
    )?;
    Ok(passwords)
}

/// A fresh Ed25519 trail-signing key in the format of `trailmask keygen` (SPEC.md): the seed as
/// 64 hex digits and a newline (mode 0600), and the public key beside it.
fn write_signing_key(dir: &Path) -> Result<PathBuf> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Error::internal(format!("reading random bytes: {e}")))?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let key = dir.join("trail-signing.key");
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, format!("{}\n", hex(bytes))).or_err(
            Kind::Io,
            Source::Internal,
            format!("writing {}", path.display()),
        )
    };
    write(&key, &seed)?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).or_err(
        Kind::Io,
        Source::Internal,
        format!("restricting {}", key.display()),
    )?;
    write(&dir.join("trail-signing.pub"), &public)?;
    Ok(key)
}

/// `wanted` if it is free on 127.0.0.1, else any free port.
fn pick_port(wanted: u16) -> Result<u16> {
    if wanted != 0 && TcpListener::bind((Ipv4Addr::LOCALHOST, wanted)).is_ok() {
        return Ok(wanted);
    }
    Ok(cluster::free_port()?)
}

/// SIGTERM, then wait for the drain, then SIGKILL.
async fn stop(child: &mut tokio::process::Child) {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn proxy_stopped(status: ExitStatus) -> Error {
    Error::new(
        Kind::Io,
        Source::Internal,
        format!("`trailmask proxy` stopped on its own ({status}); its messages are above"),
    )
}

/// A path as a TOML basic string body (backslashes and quotes escaped).
fn toml_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_a_complete_valid_config() {
        let filled = CONFIG_TEMPLATE
            .replace("@LISTEN_ADDRESS@", "127.0.0.1:6432")
            .replace("@UPSTREAM_ADDRESS@", "127.0.0.1:5432")
            .replace("@METRICS_ADDRESS@", "127.0.0.1:9930")
            .replace("@TRAIL_DIR@", "/tmp/trail")
            .replace("@SIGNING_KEY@", "/tmp/key");
        let unfilled = filled
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.contains('@'));
        assert!(!unfilled, "a placeholder was left unfilled");
        let raw: std::result::Result<crate::config::raw::RawConfig, _> = toml::from_str(&filled);
        let raw = raw.map_err(|e| e.to_string());
        assert!(raw.is_ok(), "{raw:?}");
        if let Ok(raw) = raw {
            for role in ROLES {
                let members = raw.roles.get(role).map(|r| r.members.clone());
                assert_eq!(members, Some(vec![role.to_owned()]));
            }
        }
    }

    #[test]
    fn the_demo_database_loads_and_its_ids_fail_the_checksum() -> Result<()> {
        let mut cluster = Cluster::start(Options::default())?;
        load_demo_database(&mut cluster)?;
        let counts = cluster.psql_db(
            DATABASE,
            "SELECT (SELECT count(*) FROM guests) || ' ' || (SELECT count(*) FROM bookings) \
             || ' ' || (SELECT count(*) FROM payments) || ' ' || (SELECT count(*) FROM rooms)",
        )?;
        // Payments exist for bookings 1..=500 except the cancelled fifth.
        assert_eq!(counts, "300 600 400 40");
        assert!(
            valid_taiwan_id("A123456789"),
            "the checksum helper is wrong"
        );
        let ids = cluster.psql_db(DATABASE, "SELECT national_id FROM guests ORDER BY id")?;
        for id in ids.lines() {
            assert!(!valid_taiwan_id(id), "{id} is a valid ID number");
        }
        Ok(())
    }

    /// The checksum of a 身分證統一編號 (letters A-H only, as the demo generates).
    fn valid_taiwan_id(id: &str) -> bool {
        let bytes = id.as_bytes();
        let Some((&letter, digits)) = bytes.split_first() else {
            return false;
        };
        if !(b'A'..=b'H').contains(&letter) || digits.len() != 9 {
            return false;
        }
        let code = u32::from(letter - b'A') + 10;
        let mut sum = code / 10 + (code % 10) * 9;
        for (digit, weight) in digits.iter().zip([8, 7, 6, 5, 4, 3, 2, 1, 1]) {
            sum += u32::from(digit - b'0') * weight;
        }
        sum % 10 == 0
    }
}
