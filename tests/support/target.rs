//! The endpoint under test: the trailmask binary (`proxy --config FILE`), pgbouncer in session
//! pooling mode as a stand-in with the same interface, or PostgreSQL itself. Spawned processes
//! are killed when the [`Target`] drops.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use trailmask::cluster::{self, CertFiles, Cluster, SUPERUSER};

use super::TestResult;

/// Attempts, `PORT_POLL` apart, to see the target's port accept: 30 s on a loaded machine.
const PORT_ATTEMPTS: usize = 600;
const PORT_POLL: Duration = Duration::from_millis(50);
/// Environment variable that picks the target.
pub const TARGET_ENV: &str = "TRAILMASK_TEST_TARGET";

/// Which endpoint the tests talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `trailmask proxy` (the default).
    Proxy,
    /// pgbouncer, session pooling: proves the tests themselves before the proxy exists.
    Pgbouncer,
    /// PostgreSQL with nothing in between.
    Direct,
}

impl TargetKind {
    /// From `TRAILMASK_TEST_TARGET`; an unknown value is an error, not a silent default.
    pub fn from_env() -> TestResult<TargetKind> {
        match std::env::var(TARGET_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(TargetKind::Proxy),
            Err(e) => Err(format!("{TARGET_ENV}: {e}").into()),
            Ok(v) => match v.as_str() {
                "" | "proxy" => Ok(TargetKind::Proxy),
                "pgbouncer" => Ok(TargetKind::Pgbouncer),
                "direct" => Ok(TargetKind::Direct),
                other => Err(format!(
                    "{TARGET_ENV}={other:?} is not one of proxy, pgbouncer, direct"
                )
                .into()),
            },
        }
    }
}

/// `[listen.tls]` of the proxy.
#[derive(Debug, Clone)]
pub struct ListenTls {
    /// disable | allow | require
    pub mode: String,
    pub files: CertFiles,
}

/// How to configure the target beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Proxy only: client-side TLS.
    pub listen_tls: Option<ListenTls>,
    /// Proxy only: `[upstream] tls.mode`; default `disable`.
    pub upstream_tls: Option<String>,
    /// Point the proxy (or pgbouncer) somewhere other than the cluster, e.g. a closed port.
    pub upstream_address: Option<String>,
    /// Proxy only: more TOML appended to the config (whole tables, not keys of the ones above).
    pub extra_toml: String,
}

/// A running target; its process (if any) is killed on drop.
pub struct Target {
    kind: TargetKind,
    port: u16,
    metrics_port: Option<u16>,
    child: Option<Child>,
    /// Config and log files of the child.
    dir: PathBuf,
}

impl Target {
    /// The brief's shape: a proxy (or stand-in) in front of `cluster` with extra config TOML.
    pub async fn spawn(cluster: &Cluster, config_toml_extra: &str) -> TestResult<Target> {
        Target::spawn_with(
            cluster,
            TargetOptions {
                extra_toml: config_toml_extra.to_owned(),
                ..TargetOptions::default()
            },
        )
        .await
    }

    /// Starts the target selected by `TRAILMASK_TEST_TARGET` and waits until it accepts.
    pub async fn spawn_with(cluster: &Cluster, opts: TargetOptions) -> TestResult<Target> {
        match TargetKind::from_env()? {
            TargetKind::Proxy => Target::spawn_proxy(cluster, opts).await,
            TargetKind::Pgbouncer => Target::spawn_pgbouncer(cluster, opts).await,
            TargetKind::Direct => Ok(Target {
                kind: TargetKind::Direct,
                port: cluster.port(),
                metrics_port: None,
                child: None,
                dir: cluster.dir().to_owned(),
            }),
        }
    }

    async fn spawn_proxy(cluster: &Cluster, opts: TargetOptions) -> TestResult<Target> {
        let dir = cluster::make_temp_dir("trailmask-proxy")?;
        let port = cluster::free_port()?;
        let metrics_port = cluster::free_port()?;
        let mut toml = format!("[listen]\naddress = \"127.0.0.1:{port}\"\n");
        if let Some(tls) = &opts.listen_tls {
            writeln!(
                toml,
                "tls = {{ mode = \"{}\", cert = \"{}\", key = \"{}\" }}",
                tls.mode,
                tls.files.cert.display(),
                tls.files.key.display()
            )?;
        }
        let audit = audit_toml(&dir, &opts.extra_toml)?;
        let upstream = opts
            .upstream_address
            .clone()
            .unwrap_or_else(|| cluster.address());
        let upstream_tls = opts.upstream_tls.as_deref().unwrap_or("disable");
        write!(
            toml,
            "\n[upstream]\naddress = \"{upstream}\"\ntls = {{ mode = \"{upstream_tls}\" }}\n\
             connect_timeout_ms = 5000\n\n[metrics]\naddress = \"127.0.0.1:{metrics_port}\"\n\n{}\n{audit}",
            opts.extra_toml
        )?;
        let config = dir.join("trailmask.toml");
        std::fs::write(&config, toml)?;
        let log = std::fs::File::create(dir.join("proxy.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_trailmask"))
            .arg("proxy")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env(
                "TRAILMASK_TEST_HASH_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let mut target = Target {
            kind: TargetKind::Proxy,
            port,
            metrics_port: Some(metrics_port),
            child: Some(child),
            dir,
        };
        target.wait_until_accepting("proxy.log").await?;
        Ok(target)
    }

    /// The trail directory when `TRAILMASK_TEST_AUDIT` gave the proxy one.
    pub fn trail_dir(&self) -> Option<PathBuf> {
        let d = self.dir.join("trail");
        d.exists().then_some(d)
    }

    async fn spawn_pgbouncer(cluster: &Cluster, opts: TargetOptions) -> TestResult<Target> {
        let dir = cluster
            .dir()
            .join(format!("pgbouncer-{}", cluster::random_password()));
        std::fs::create_dir(&dir)?;
        cluster.hand_over(&dir)?;
        let port = cluster::free_port()?;
        let upstream = opts
            .upstream_address
            .clone()
            .unwrap_or_else(|| cluster.address());
        let (host, upstream_port) = upstream
            .rsplit_once(':')
            .ok_or_else(|| format!("upstream address {upstream} has no port"))?;

        let mut users = format!("\"{SUPERUSER}\" \"{}\"\n", cluster.superuser_password());
        let mut hba = format!("host all {SUPERUSER} 127.0.0.1/32 scram-sha-256\n");
        for user in cluster.users() {
            writeln!(users, "\"{}\" \"{}\"", user.name, user.password)?;
            writeln!(
                hba,
                "host all {} 127.0.0.1/32 {}",
                user.name,
                user.auth.hba_method()
            )?;
        }
        let ini = format!(
            "[databases]\n* = host={host} port={upstream_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = hba\nauth_hba_file = {d}/hba.conf\nauth_file = {d}/users.txt\n\
             pool_mode = session\nmax_client_conn = 500\ndefault_pool_size = 200\n\
             server_tls_sslmode = disable\n\
             ignore_startup_parameters = extra_float_digits\nlogfile = {d}/pgbouncer.log\n",
            d = dir.display()
        );
        for (name, contents) in [
            ("users.txt", users),
            ("hba.conf", hba),
            ("pgbouncer.ini", ini),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, contents)?;
            cluster.hand_over(&path)?;
        }
        let mut cmd = Command::new("pgbouncer");
        if cluster.switches_user() {
            cmd.arg("-u").arg("postgres");
        }
        let child = cmd
            .arg(dir.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let mut target = Target {
            kind: TargetKind::Pgbouncer,
            port,
            metrics_port: None,
            child: Some(child),
            dir,
        };
        target.wait_until_accepting("pgbouncer.log").await?;
        Ok(target)
    }

    /// Polls the port with a bounded number of attempts; fails early if the child exits.
    async fn wait_until_accepting(&mut self, log: &str) -> TestResult<()> {
        for _ in 0..PORT_ATTEMPTS {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    return Err(format!(
                        "{:?} exited with {status} before accepting; its log: {}",
                        self.kind,
                        self.log(log)
                    )
                    .into());
                }
            }
            tokio::time::sleep(PORT_POLL).await;
        }
        Err(format!(
            "{:?} did not accept on 127.0.0.1:{} in time; its log: {}",
            self.kind,
            self.port,
            self.log(log)
        )
        .into())
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The proxy's metrics port.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The proxy's log so far (empty for other targets).
    pub fn proxy_log(&self) -> String {
        match self.kind {
            TargetKind::Proxy => self.log("proxy.log"),
            TargetKind::Pgbouncer => self.log("pgbouncer.log"),
            TargetKind::Direct => String::new(),
        }
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit; `Ok(false)` if it is
    /// still running then. Targets without a process of their own are an error.
    pub async fn terminate(&mut self, within: Duration) -> TestResult<bool> {
        let child = self
            .child
            .as_mut()
            .ok_or("this target has no process to stop")?;
        super::sigterm(child)?;
        match tokio::time::timeout(within, child.wait()).await {
            Ok(status) => Ok(status?.success()),
            Err(_) => Ok(false),
        }
    }

    /// Key-value connection string through the target, TLS off.
    pub fn conn_string(&self, user: &str, password: &str, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={dbname} sslmode=disable",
            self.port
        )
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        // TRAILMASK_TEST_KEEP=1 keeps the proxy's config, log and trail for a post-mortem.
        if self.kind == TargetKind::Proxy && std::env::var_os("TRAILMASK_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `TRAILMASK_TEST_AUDIT=strict|batched|async` runs every proxy test with a trail (so the
/// statement and result paths of the session are exercised by the whole relay suite); unset or
/// when the test brings its own `[audit]`: none.
fn audit_toml(dir: &std::path::Path, extra: &str) -> TestResult<String> {
    let Ok(mode) = std::env::var("TRAILMASK_TEST_AUDIT") else {
        return Ok(String::new());
    };
    if mode.is_empty() || extra.contains("[audit]") {
        return Ok(String::new());
    }
    let keys = dir.join("keys");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_trailmask"))
        .arg("keygen")
        .arg("--out")
        .arg(&keys)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("trailmask keygen failed".into());
    }
    Ok(format!(
        "[audit]\ndir = \"{}\"\nchain = \"test\"\ndurability = \"{mode}\"\n\
         signing_key = \"{}\"\nparameters = \"hashed\"\nhash_key_env = \"TRAILMASK_TEST_HASH_KEY\"\n",
        dir.join("trail").display(),
        keys.join("trail-signing.key").display()
    ))
}
