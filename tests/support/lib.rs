//! Shared harness of the integration tests: a throwaway PostgreSQL ([`trailmask::cluster`]) with
//! one login per password method, and the endpoint the tests talk to ([`target::Target`]): the
//! trailmask binary, pgbouncer standing in for it, or PostgreSQL directly, chosen by
//! `TRAILMASK_TEST_TARGET=proxy|pgbouncer|direct` (default `proxy`).
//!
//! Each `tests/proxy_*.rs` includes this file with `#[path = "support/lib.rs"] mod support;`;
//! (with `#[macro_use]` for `require_proxy!`); not every test file uses every helper, hence the
//! `dead_code` allowance.

#![allow(dead_code)]

#[path = "raw.rs"]
pub mod raw;
#[path = "target.rs"]
pub mod target;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};
use trailmask::cluster::{Cluster, Options, PasswordAuth};

#[allow(unused_imports)]
pub use target::{Target, TargetKind, TargetOptions};

/// Errors in tests are reported, not unwrapped.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestResult<T = ()> = Result<T, BoxError>;

/// The database every fixture creates; owned by [`SCRAM_USER`].
pub const DB: &str = "app";
/// One login per password method the proxy must relay.
pub const SCRAM_USER: (&str, &str) = ("alice", "alice-secret");
pub const MD5_USER: (&str, &str) = ("bob", "bob-secret");
pub const PASSWORD_USER: (&str, &str) = ("carol", "carol-secret");
pub const TRUST_USER: (&str, &str) = ("dave", "dave-secret");

/// Skips the rest of a test unless the target is the real proxy (pgbouncer and PostgreSQL do
/// not implement what it checks); says so on stderr.
#[allow(unused_macros)]
macro_rules! require_proxy {
    ($why:expr) => {
        if crate::support::TargetKind::from_env()? != crate::support::TargetKind::Proxy {
            eprintln!("skipped on this target: {}", $why);
            return Ok(());
        }
    };
}

/// A cluster with the standard logins and database, and a target in front of it.
pub struct Fixture {
    // Field order is drop order: the target goes before the cluster it points at.
    pub target: Target,
    pub cluster: Cluster,
}

impl Fixture {
    /// Standard cluster, default target options.
    pub async fn start() -> TestResult<Fixture> {
        Fixture::start_with(Options::default(), TargetOptions::default()).await
    }

    pub async fn start_with(cluster_opts: Options, target_opts: TargetOptions) -> TestResult<Self> {
        let cluster = tokio::task::spawn_blocking(move || standard_cluster(cluster_opts)).await??;
        let target = Target::spawn_with(&cluster, target_opts).await?;
        Ok(Fixture { target, cluster })
    }

    /// Key-value connection string through the target (TLS off).
    pub fn conn_string(&self, user: (&str, &str)) -> String {
        self.target.conn_string(user.0, user.1, DB)
    }

    /// A tokio-postgres session through the target as `user`.
    pub async fn connect(&self, user: (&str, &str)) -> TestResult<Session> {
        Session::connect(&self.conn_string(user)).await
    }

    /// A tokio-postgres session straight to PostgreSQL, for comparisons and setup.
    pub async fn connect_direct(&self, user: (&str, &str)) -> TestResult<Session> {
        Session::connect(&self.cluster.conn_string(user.0, user.1, DB)).await
    }

    /// `psql` through the target as `user` with extra arguments; returns (status ok, stdout,
    /// stderr).
    pub async fn psql(
        &self,
        user: (&str, &str),
        args: &[&str],
    ) -> TestResult<(bool, Vec<u8>, String)> {
        let out = tokio::process::Command::new(self.cluster.program("psql"))
            .arg("-X")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .args(args)
            .arg(self.conn_string(user))
            .stdin(std::process::Stdio::null())
            .output()
            .await?;
        Ok((
            out.status.success(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// initdb + the standard logins: SCRAM owner of [`DB`], md5, cleartext and trust users.
pub fn standard_cluster(opts: Options) -> TestResult<Cluster> {
    let mut cluster = Cluster::start(opts)?;
    cluster.create_user(SCRAM_USER.0, SCRAM_USER.1, PasswordAuth::Scram)?;
    cluster.create_user(MD5_USER.0, MD5_USER.1, PasswordAuth::Md5)?;
    cluster.create_user(PASSWORD_USER.0, PASSWORD_USER.1, PasswordAuth::Password)?;
    cluster.create_user(TRUST_USER.0, TRUST_USER.1, PasswordAuth::Trust)?;
    cluster.psql(&format!("CREATE DATABASE {DB} OWNER {}", SCRAM_USER.0))?;
    cluster.psql_db(
        DB,
        &format!(
            "GRANT ALL ON SCHEMA public TO {m}, {p}, {t}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {s} GRANT ALL ON TABLES TO {m}, {p}, {t}",
            s = SCRAM_USER.0,
            m = MD5_USER.0,
            p = PASSWORD_USER.0,
            t = TRUST_USER.0
        ),
    )?;
    Ok(cluster)
}

/// A tokio-postgres client whose connection task forwards notifications and is aborted on drop.
pub struct Session {
    pub client: Client,
    pub notifications: mpsc::Receiver<Notification>,
    connection: JoinHandle<()>,
}

impl Session {
    pub async fn connect(conn: &str) -> TestResult<Session> {
        let (client, mut connection) = tokio_postgres::connect(conn, NoTls).await?;
        // Bounded: a test that ignores notifications loses the surplus, never memory.
        let (tx, notifications) = mpsc::channel(1024);
        let connection = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        let _ = tx.try_send(n);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        });
        Ok(Session {
            client,
            notifications,
            connection,
        })
    }
}

impl std::ops::Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The SQLSTATE of a tokio-postgres error, if the server (or proxy) sent one.
/// Sends SIGTERM to `child` (no unsafe code: rustix).
pub fn sigterm(child: &tokio::process::Child) -> TestResult {
    let pid = child.id().ok_or("the process already exited")?;
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid)?).ok_or("no pid 0")?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    Ok(())
}

pub fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.as_db_error().map(|db| db.code().code())
}

/// Polls `check` up to `attempts` times, `every` apart, until it returns true.
pub async fn eventually<F, Fut>(attempts: usize, every: Duration, mut check: F) -> TestResult<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TestResult<bool>>,
{
    for _ in 0..attempts {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(every).await;
    }
    Ok(false)
}
