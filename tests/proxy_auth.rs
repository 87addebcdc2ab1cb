//! Logins through the proxy (SCRAM, md5, cleartext, trust), their failures, and what a client
//! sees when the upstream is down or when it sends a malformed frame.

#[macro_use]
#[path = "support/lib.rs"]
mod support;

use support::raw::{self, RawConn};
use support::{
    Fixture, Session, TargetOptions, TestResult, DB, MD5_USER, PASSWORD_USER, SCRAM_USER,
    TRUST_USER,
};
use trailmask::cluster::{self, Options};

#[tokio::test]
async fn scram_md5_cleartext_and_trust_logins() -> TestResult {
    let fx = Fixture::start().await?;
    for user in [SCRAM_USER, MD5_USER, PASSWORD_USER, TRUST_USER] {
        let s = fx.connect(user).await?;
        let who: String = s.query_one("SELECT current_user::text", &[]).await?.get(0);
        assert_eq!(who, user.0);
        // psql (libpq) too.
        let (ok, out, err) = fx.psql(user, &["-At", "-c", "SELECT session_user"]).await?;
        assert!(ok, "psql as {}: {err}", user.0);
        assert_eq!(String::from_utf8(out)?.trim_end(), user.0);
    }
    // The server really stores what each method needs.
    let stored = fx.cluster.psql(&format!(
        "SELECT rolname || ':' || left(rolpassword, 3) FROM pg_authid WHERE rolname IN \
         ('{}', '{}') ORDER BY rolname",
        SCRAM_USER.0, MD5_USER.0
    ))?;
    assert_eq!(stored, "alice:SCR\nbob:md5");
    Ok(())
}

#[tokio::test]
async fn wrong_password_is_28p01() -> TestResult {
    let fx = Fixture::start().await?;
    for user in [SCRAM_USER, MD5_USER, PASSWORD_USER] {
        let conn = fx.target.conn_string(user.0, "not-the-password", DB);
        let err = Session::connect(&conn)
            .await
            .err()
            .ok_or(format!("{} logged in with a wrong password", user.0))?;
        let db = err
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|e| e.as_db_error())
            .ok_or(format!("{}: no ErrorResponse: {err}", user.0))?;
        assert_eq!(db.severity(), "FATAL", "{}: {db}", user.0);
        // pgbouncer 1.18 judges the password itself and answers 08P01 ("SASL authentication
        // failed"); the proxy relays the database's own verdict.
        if fx.target.kind() != support::TargetKind::Pgbouncer {
            assert_eq!(db.code().code(), "28P01", "{}: {db}", user.0);
            assert!(
                db.message().contains("password authentication failed"),
                "{}: {db}",
                user.0
            );
        }
    }
    // A failed login does not disturb the next one.
    fx.connect(SCRAM_USER).await?;
    Ok(())
}

#[tokio::test]
async fn upstream_down_is_08001_naming_the_address() -> TestResult {
    require_proxy!("pgbouncer reports a dead server differently and PostgreSQL cannot");
    let closed = format!("127.0.0.1:{}", cluster::free_port()?);
    let fx = Fixture::start_with(
        Options::default(),
        TargetOptions {
            upstream_address: Some(closed.clone()),
            ..TargetOptions::default()
        },
    )
    .await?;
    let err = fx
        .connect(SCRAM_USER)
        .await
        .err()
        .ok_or("connected through a proxy whose upstream is down")?;
    let db = err
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.as_db_error())
        .ok_or(format!("no ErrorResponse: {err}"))?;
    assert_eq!(db.code().code(), "08001", "{db}");
    assert!(
        db.message().contains(&closed),
        "message lacks {closed}: {}",
        db.message()
    );
    Ok(())
}

/// After a bad frame the offender gets 08P01 and is closed; a session opened before and one
/// opened after are served.
async fn malformed_frame(bad: &[u8]) -> TestResult {
    let fx = Fixture::start().await?;
    let before = fx.connect(SCRAM_USER).await?;
    let mut conn = RawConn::connect(
        &fx.target.address(),
        PASSWORD_USER.0,
        PASSWORD_USER.1,
        DB,
        &[],
    )
    .await?;
    conn.send(bad).await?;
    let msgs = conn.until_closed(16).await?;
    let error = msgs
        .iter()
        .find(|m| m.tag == b'E')
        .ok_or(format!("no ErrorResponse for a malformed frame: {msgs:?}"))?;
    assert_eq!(
        error.sqlstate().as_deref(),
        Some("08P01"),
        "{:?}",
        error.fields()
    );
    assert_eq!(before.query_one("SELECT 1", &[]).await?.get::<_, i32>(0), 1);
    let after = fx.connect(SCRAM_USER).await?;
    assert_eq!(after.query_one("SELECT 2", &[]).await?.get::<_, i32>(0), 2);
    Ok(())
}

#[tokio::test]
async fn unknown_message_type_is_08p01_and_others_go_on() -> TestResult {
    malformed_frame(&raw::frame(b'z', b"garbage")).await
}

#[tokio::test]
async fn impossible_length_is_08p01_and_others_go_on() -> TestResult {
    require_proxy!("PostgreSQL logs an impossible length without telling the client");
    // A Query whose length field (3) is smaller than the length field itself.
    malformed_frame(&[b'Q', 0, 0, 0, 3, b'x']).await
}
