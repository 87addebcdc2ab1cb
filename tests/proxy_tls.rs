//! TLS on both legs of the proxy: clients under `[listen.tls] mode = "require"`, a database that
//! only accepts TLS, and SCRAM channel binding across a TLS-terminating proxy. Proxy only.

#[macro_use]
#[path = "support/lib.rs"]
mod support;

use support::target::ListenTls;
use support::{Fixture, Session, TargetOptions, TestResult, DB, SCRAM_USER};
use tokio::process::Command;
use trailmask::cluster::{self, CertFiles, Options};

/// A certificate for the proxy's client side, in its own temp dir that outlives the test.
struct ProxyCert {
    dir: std::path::PathBuf,
    files: CertFiles,
}

impl ProxyCert {
    fn new() -> TestResult<ProxyCert> {
        let dir = cluster::make_temp_dir("trailmask-test-cert")?;
        let files = cluster::self_signed_cert(&dir, "proxy")?;
        Ok(ProxyCert { dir, files })
    }

    fn listen(&self, mode: &str) -> Option<ListenTls> {
        Some(ListenTls {
            mode: mode.to_owned(),
            files: self.files.clone(),
        })
    }
}

impl Drop for ProxyCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// psql with a full connection string (TLS settings included); (ok, stdout, stderr).
async fn psql(fx: &Fixture, conn: &str, sql: &str) -> TestResult<(bool, String, String)> {
    let out = Command::new(fx.cluster.program("psql"))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, conn])
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn tls_conn(fx: &Fixture, extra: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={} password={} dbname={DB} {extra}",
        fx.target.port(),
        SCRAM_USER.0,
        SCRAM_USER.1
    )
}

#[tokio::test]
async fn client_tls_require_serves_psql_over_tls() -> TestResult {
    require_proxy!("[listen.tls] is the proxy's");
    let cert = ProxyCert::new()?;
    let fx = Fixture::start_with(
        Options::default(),
        TargetOptions {
            listen_tls: cert.listen("require"),
            ..TargetOptions::default()
        },
    )
    .await?;
    // verify-full: the proxy presents our certificate, valid for 127.0.0.1.
    let conn = tls_conn(
        &fx,
        &format!(
            "sslmode=verify-full sslrootcert={}",
            cert.files.cert.display()
        ),
    );
    let (ok, out, err) = psql(&fx, &conn, "\\conninfo").await?;
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection"), "{out}");
    let (ok, out, err) = psql(&fx, &conn, "SELECT current_user").await?;
    assert!(ok, "{err}");
    assert_eq!(out.trim_end(), SCRAM_USER.0);
    Ok(())
}

#[tokio::test]
async fn plaintext_client_is_refused_under_require() -> TestResult {
    require_proxy!("[listen.tls] is the proxy's");
    let cert = ProxyCert::new()?;
    let fx = Fixture::start_with(
        Options::default(),
        TargetOptions {
            listen_tls: cert.listen("require"),
            ..TargetOptions::default()
        },
    )
    .await?;
    let err = Session::connect(&fx.conn_string(SCRAM_USER))
        .await
        .err()
        .ok_or("a plaintext client got in under mode = require")?;
    let db = err
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.as_db_error())
        .ok_or(format!("no ErrorResponse: {err}"))?;
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(db.code().code(), "28000");
    assert!(db.message().contains("TLS is required"), "{}", db.message());

    let (ok, _, err) = psql(&fx, &tls_conn(&fx, "sslmode=disable"), "SELECT 1").await?;
    assert!(!ok);
    assert!(err.contains("TLS is required"), "{err}");
    Ok(())
}

/// A database that refuses plaintext, behind a proxy with TLS on both legs.
async fn tls_everywhere(cert: &ProxyCert) -> TestResult<Fixture> {
    Fixture::start_with(
        Options {
            ssl: true,
            hba: vec!["hostnossl all all 127.0.0.1/32 reject".to_owned()],
            ..Options::default()
        },
        TargetOptions {
            listen_tls: cert.listen("require"),
            upstream_tls: Some("require".to_owned()),
            ..TargetOptions::default()
        },
    )
    .await
}

#[tokio::test]
async fn tls_on_both_legs_with_channel_binding_disabled() -> TestResult {
    require_proxy!("upstream TLS and SCRAM-SHA-256-PLUS stripping are the proxy's");
    let cert = ProxyCert::new()?;
    let fx = tls_everywhere(&cert).await?;
    let conn = tls_conn(&fx, "sslmode=require channel_binding=disable");
    let (ok, out, err) = psql(
        &fx,
        &conn,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .await?;
    assert!(ok, "{err}");
    assert_eq!(out.trim_end(), "t", "the upstream leg is not TLS");
    // tokio-postgres without TLS is refused by the proxy, as above; with channel binding
    // required the client must fail rather than be downgraded.
    let (ok, _, _) = psql(
        &fx,
        &tls_conn(&fx, "sslmode=require channel_binding=require"),
        "SELECT 1",
    )
    .await?;
    assert!(
        !ok,
        "channel_binding=require cannot be honoured across the proxy"
    );
    Ok(())
}

#[tokio::test]
async fn default_channel_binding_gets_a_clear_error() -> TestResult {
    require_proxy!("upstream TLS and SCRAM-SHA-256-PLUS stripping are the proxy's");
    let cert = ProxyCert::new()?;
    let fx = tls_everywhere(&cert).await?;
    // libpq's default channel_binding=prefer announces binding support the proxy cannot give.
    let (ok, _, err) = psql(&fx, &tls_conn(&fx, "sslmode=require"), "SELECT 1").await?;
    assert!(
        !ok,
        "channel_binding=prefer unexpectedly worked across a TLS-terminating proxy"
    );
    assert!(err.contains("channel_binding=disable"), "{err}");
    Ok(())
}
