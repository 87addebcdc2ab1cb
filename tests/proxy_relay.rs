//! The proxy relays the protocol faithfully: simple and extended queries in text and binary,
//! psql, notifications, cancel, pipelining, many sessions and a non-UTF-8 client encoding.
//! Run against pgbouncer or PostgreSQL with `TRAILMASK_TEST_TARGET=pgbouncer|direct`.

#[macro_use]
#[path = "support/lib.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use support::raw::{self, RawConn};
use support::{sqlstate, Fixture, TestResult, DB, PASSWORD_USER, SCRAM_USER};
use tokio_postgres::SimpleQueryMessage;

#[tokio::test]
async fn simple_and_extended_queries_in_text_and_binary() -> TestResult {
    let fx = Fixture::start().await?;
    let s = fx.connect(SCRAM_USER).await?;
    s.batch_execute(
        "CREATE TABLE kinds (id int8 PRIMARY KEY, n int4, t text, b bool, f float8, \
         num numeric, raw bytea, ts timestamptz, j jsonb);
         INSERT INTO kinds VALUES
           (1, -7, 'héllo 世界', true, 1.5, 12345.678, '\\x00ff10', '2026-01-02 03:04:05+00',
            '{\"a\": [1, 2]}'),
           (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .await?;

    // Simple query protocol: text results.
    let rows: Vec<_> = s
        .simple_query("SELECT id, n, t, b, f, num, raw, ts, j FROM kinds ORDER BY id")
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 2);
    let first = &rows[0];
    let text: Vec<Option<&str>> = (0..9).map(|i| first.get(i)).collect();
    assert_eq!(
        text,
        [
            Some("1"),
            Some("-7"),
            Some("héllo 世界"),
            Some("t"),
            Some("1.5"),
            Some("12345.678"),
            Some("\\x00ff10"),
            Some("2026-01-02 03:04:05+00"),
            Some("{\"a\": [1, 2]}"),
        ]
    );
    assert!((0..9).skip(1).all(|i| rows[1].get(i).is_none()));

    // Extended protocol: tokio-postgres asks for binary results and sends binary parameters.
    let stmt = s
        .prepare("SELECT n, t, b, f, raw FROM kinds WHERE id = $1")
        .await?;
    let row = s.query_one(&stmt, &[&1i64]).await?;
    assert_eq!(row.try_get::<_, Option<i32>>(0)?, Some(-7));
    assert_eq!(row.try_get::<_, Option<&str>>(1)?, Some("héllo 世界"));
    assert_eq!(row.try_get::<_, Option<bool>>(2)?, Some(true));
    assert_eq!(row.try_get::<_, Option<f64>>(3)?, Some(1.5));
    assert_eq!(
        row.try_get::<_, Option<&[u8]>>(4)?,
        Some(&[0u8, 0xff, 0x10][..])
    );
    let nulls = s.query_one(&stmt, &[&2i64]).await?;
    assert_eq!(nulls.try_get::<_, Option<i32>>(0)?, None);
    assert_eq!(nulls.try_get::<_, Option<&str>>(1)?, None);

    // Text-format results in the extended protocol, through the raw client.
    let mut conn = RawConn::connect(
        &fx.target.address(),
        PASSWORD_USER.0,
        PASSWORD_USER.1,
        DB,
        &[],
    )
    .await?;
    let mut out = raw::parse("", b"SELECT t, num FROM kinds WHERE id = $1");
    out.extend(raw::bind("", "", &[Some(b"1")], 0));
    out.extend(raw::execute(""));
    out.extend(raw::sync());
    conn.send(&out).await?;
    let msgs = conn.until_ready().await?;
    let tags: Vec<u8> = msgs.iter().map(|m| m.tag).collect();
    assert_eq!(tags, b"12DCZ", "{msgs:?}");
    assert_eq!(
        msgs[2].data_row()?,
        vec![
            Some("héllo 世界".as_bytes().to_vec()),
            Some(b"12345.678".to_vec())
        ]
    );

    // An error in the middle leaves the session usable.
    let err = s
        .simple_query("SELECT 1/0")
        .await
        .err()
        .ok_or("1/0 succeeded")?;
    assert_eq!(sqlstate(&err), Some("22012"));
    assert_eq!(
        s.query_one("SELECT $1::text", &[&"still here"])
            .await?
            .get::<_, &str>(0),
        "still here"
    );
    Ok(())
}

#[tokio::test]
async fn psql_runs_commands_and_prints_unaligned() -> TestResult {
    let fx = Fixture::start().await?;
    let (ok, out, err) = fx
        .psql(
            SCRAM_USER,
            &[
                "-At",
                "-c",
                "CREATE TABLE p (id int, v text)",
                "-c",
                "INSERT INTO p VALUES (1, 'a'), (2, '臺灣')",
                "-c",
                "SELECT id, v FROM p ORDER BY id",
            ],
        )
        .await?;
    assert!(ok, "psql failed: {err}");
    assert_eq!(
        String::from_utf8(out)?,
        "CREATE TABLE\nINSERT 0 2\n1|a\n2|臺灣\n"
    );

    let (ok, out, err) = fx
        .psql(SCRAM_USER, &["-c", "SELECT count(*) AS n FROM p"])
        .await?;
    assert!(ok, "psql failed: {err}");
    assert!(String::from_utf8(out)?.contains(" n \n---\n 2\n(1 row)"));

    let (ok, _, err) = fx
        .psql(SCRAM_USER, &["-c", "SELECT * FROM missing_table"])
        .await?;
    assert!(!ok);
    assert!(
        err.contains("relation \"missing_table\" does not exist"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn listen_notify_crosses_sessions() -> TestResult {
    let fx = Fixture::start().await?;
    let mut listener = fx.connect(SCRAM_USER).await?;
    let notifier = fx.connect(SCRAM_USER).await?;
    listener.batch_execute("LISTEN booking_events").await?;
    notifier
        .batch_execute("NOTIFY booking_events, 'room 301 booked'; NOTIFY other_channel, 'x'")
        .await?;
    // Delivery needs traffic on the listener's connection or an idle read; a no-op query
    // guarantees the message has been read by the time it returns.
    listener.batch_execute("SELECT 1").await?;
    let n = tokio::time::timeout(Duration::from_secs(10), listener.notifications.recv())
        .await?
        .ok_or("notification channel closed")?;
    assert_eq!(n.channel(), "booking_events");
    assert_eq!(n.payload(), "room 301 booked");
    assert!(
        listener.notifications.try_recv().is_err(),
        "unexpected second notification"
    );
    Ok(())
}

/// Waits (bounded) until a backend of the cluster is inside pg_sleep: the event, not a timer.
async fn wait_for_pg_sleep(fx: &Fixture) -> TestResult {
    // The superuser sees every session's query and wait event.
    let observer = support::Session::connect(&fx.cluster.superuser_conn_string()).await?;
    let sleeping = support::eventually(400, Duration::from_millis(25), || async {
        let n: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND \
                 query LIKE 'SELECT pg_sleep%'",
                &[],
            )
            .await?
            .get(0);
        Ok(n == 1)
    })
    .await?;
    if sleeping {
        Ok(())
    } else {
        Err("pg_sleep never started".into())
    }
}

#[tokio::test]
async fn sigterm_closes_idle_sessions_at_once_and_busy_ones_when_their_statement_ends() -> TestResult
{
    require_proxy!("shutting down is the proxy's own behaviour");
    let mut fx = Fixture::start().await?;
    let addr = fx.target.address();
    let mut idle = RawConn::connect(&addr, PASSWORD_USER.0, PASSWORD_USER.1, DB, &[]).await?;
    let mut busy = RawConn::connect(&addr, PASSWORD_USER.0, PASSWORD_USER.1, DB, &[]).await?;
    busy.send(&raw::query(b"SELECT pg_sleep(3), 'finished'"))
        .await?;
    wait_for_pg_sleep(&fx).await?;
    let stopped_at = tokio::time::Instant::now();
    // The grace period is the default 30 s: waiting it out instead of closing each session at
    // its idle point misses these deadlines.
    let stopping = fx.target.terminate(Duration::from_secs(15));
    let clients = tokio::time::timeout(Duration::from_secs(15), async {
        let idle_msgs = idle.until_closed(10).await?;
        let idle_closed_after = stopped_at.elapsed();
        let busy_msgs = busy.until_closed(20).await?;
        TestResult::Ok((idle_msgs, idle_closed_after, busy_msgs))
    });
    let (exited, clients) = tokio::join!(stopping, clients);
    let (idle_msgs, idle_closed_after, busy_msgs) =
        clients.map_err(|_| "a client was not closed within 15 s of SIGTERM")??;
    let shutdown_error = |msgs: &[raw::Message]| {
        msgs.iter()
            .any(|m| m.tag == b'E' && m.sqlstate().as_deref() == Some("57P01"))
    };
    assert!(shutdown_error(&idle_msgs), "idle session: {idle_msgs:?}");
    assert!(
        idle_closed_after < Duration::from_millis(2500),
        "the idle session was closed {idle_closed_after:?} after SIGTERM, not at once"
    );
    // The running statement finished and its result arrived before the session was closed.
    let row = busy_msgs
        .iter()
        .find(|m| m.tag == b'D')
        .ok_or_else(|| format!("no row for the running statement: {busy_msgs:?}"))?;
    assert_eq!(row.data_row()?.get(1), Some(&Some(b"finished".to_vec())));
    let ready = busy_msgs.iter().position(|m| m.tag == b'Z');
    let closed = busy_msgs
        .iter()
        .position(|m| m.tag == b'E' && m.sqlstate().as_deref() == Some("57P01"));
    assert!(
        matches!((ready, closed), (Some(r), Some(c)) if r < c),
        "busy session: {busy_msgs:?}"
    );
    assert!(
        exited?,
        "the proxy did not exit cleanly within 15 s of SIGTERM; log:\n{}",
        fx.target.proxy_log()
    );
    Ok(())
}

#[tokio::test]
async fn cancel_stops_pg_sleep_within_two_seconds() -> TestResult {
    let fx = Fixture::start().await?;
    let mut conn = RawConn::connect(
        &fx.target.address(),
        PASSWORD_USER.0,
        PASSWORD_USER.1,
        DB,
        &[],
    )
    .await?;
    let key = conn.backend_key().ok_or("no BackendKeyData")?;
    conn.send(&raw::query(b"SELECT pg_sleep(30)")).await?;
    wait_for_pg_sleep(&fx).await?;
    let started = tokio::time::Instant::now();
    raw::cancel(&fx.target.address(), key).await?;
    let msgs = match tokio::time::timeout(Duration::from_secs(2), conn.until_ready()).await {
        Ok(msgs) => msgs?,
        Err(_) => {
            return Err(format!(
                "pg_sleep(30) still running 2 s after the cancel; target log: {}",
                fx.target.proxy_log()
            )
            .into())
        }
    };
    assert!(started.elapsed() < Duration::from_secs(2));
    let error = msgs
        .iter()
        .find(|m| m.tag == b'E')
        .ok_or("no error after cancel")?;
    assert_eq!(
        error.sqlstate().as_deref(),
        Some("57014"),
        "{:?}",
        error.fields()
    );
    // The session survives its cancelled statement.
    conn.send(&raw::query(b"SELECT 'after'")).await?;
    let msgs = conn.until_ready().await?;
    let row = msgs
        .iter()
        .find(|m| m.tag == b'D')
        .ok_or("no row")?
        .data_row()?;
    assert_eq!(row[0].as_deref(), Some(&b"after"[..]));
    Ok(())
}

#[tokio::test]
async fn tokio_postgres_cancel_token_works() -> TestResult {
    // tokio-postgres half-closes its cancel connection right after the packet; pgbouncer 1.18
    // drops such a cancel ("client unexpected eof"), so only the proxy and PostgreSQL are held
    // to it.
    if support::TargetKind::from_env()? == support::TargetKind::Pgbouncer {
        eprintln!("skipped on pgbouncer: it drops half-closed cancel requests");
        return Ok(());
    }
    let fx = Fixture::start().await?;
    let s = Arc::new(fx.connect(SCRAM_USER).await?);
    let token = s.cancel_token();
    let sleeper = {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.simple_query("SELECT pg_sleep(30)").await.map(drop) })
    };
    wait_for_pg_sleep(&fx).await?;
    token.cancel_query(tokio_postgres::NoTls).await?;
    let result = tokio::time::timeout(Duration::from_secs(2), sleeper)
        .await
        .map_err(|_| "pg_sleep(30) still running 2 s after the cancel")??;
    let err = result.err().ok_or("pg_sleep(30) was not cancelled")?;
    assert_eq!(sqlstate(&err), Some("57014"), "{err}");
    assert_eq!(s.query_one("SELECT 2", &[]).await?.get::<_, i32>(0), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_sessions() -> TestResult {
    const SESSIONS: usize = 50;
    let fx = Arc::new(Fixture::start().await?);
    let barrier = Arc::new(tokio::sync::Barrier::new(SESSIONS));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..SESSIONS {
        let fx = Arc::clone(&fx);
        let barrier = Arc::clone(&barrier);
        set.spawn(async move {
            let s = fx.connect(SCRAM_USER).await?;
            // Every session is open at once before any does its work.
            barrier.wait().await;
            let pid: i32 = s.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
            for j in 0..20i64 {
                let v: i64 = s
                    .query_one("SELECT $1::int8 * 1000 + $2::int8", &[&(i as i64), &j])
                    .await?
                    .get(0);
                if v != i as i64 * 1000 + j {
                    return Err(format!("session {i} got {v}").into());
                }
            }
            barrier.wait().await;
            TestResult::Ok(pid)
        });
    }
    let mut pids = HashSet::new();
    while let Some(done) = set.join_next().await {
        pids.insert(done??);
    }
    assert_eq!(pids.len(), SESSIONS, "sessions shared a backend");
    Ok(())
}

#[tokio::test]
async fn a_thousand_extended_statements_before_one_sync() -> TestResult {
    const STATEMENTS: usize = 1000;
    let fx = Fixture::start().await?;
    let mut conn = RawConn::connect(
        &fx.target.address(),
        PASSWORD_USER.0,
        PASSWORD_USER.1,
        DB,
        &[],
    )
    .await?;
    let mut out = Vec::new();
    for i in 0..STATEMENTS {
        let sql = format!("SELECT $1::int + {i}, repeat('x', {})", i % 50);
        out.extend(raw::parse("", sql.as_bytes()));
        out.extend(raw::bind("", "", &[Some(i.to_string().as_bytes())], 0));
        out.extend(raw::execute(""));
    }
    out.extend(raw::sync());
    conn.send(&out).await?;
    let msgs = conn.until_ready().await?;
    assert_eq!(msgs.len(), STATEMENTS * 4 + 1);
    for (i, chunk) in msgs.chunks(4).take(STATEMENTS).enumerate() {
        let tags: Vec<u8> = chunk.iter().map(|m| m.tag).collect();
        assert_eq!(tags, b"12DC", "statement {i}");
        let row = chunk[2].data_row()?;
        assert_eq!(row[0].as_deref(), Some((2 * i).to_string().as_bytes()));
        assert_eq!(row[1].as_deref(), Some("x".repeat(i % 50).as_bytes()));
    }
    assert_eq!(msgs[STATEMENTS * 4].body, b"I");
    Ok(())
}

#[tokio::test]
async fn big5_client_encoding_round_trips_byte_exact() -> TestResult {
    let fx = Fixture::start().await?;
    let s = fx.connect(SCRAM_USER).await?;
    s.batch_execute("CREATE TABLE big5 (id int, v text)")
        .await?;
    // 許 and 功 end in 0x5C ('\'), the classic Big5 trap for byte-oriented code.
    let text = "許功蓋 臺北市信義區 王小明";
    let (encoded, _, had_errors) = encoding_rs::BIG5.encode(text);
    assert!(!had_errors);
    assert!(encoded.contains(&b'\\'));

    let mut conn = RawConn::connect(
        &fx.target.address(),
        PASSWORD_USER.0,
        PASSWORD_USER.1,
        DB,
        &[("client_encoding", "BIG5")],
    )
    .await?;
    let mut sql = b"INSERT INTO big5 VALUES (1, '".to_vec();
    sql.extend_from_slice(&encoded);
    sql.extend_from_slice(b"')");
    conn.send(&raw::query(&sql)).await?;
    let msgs = conn.until_ready().await?;
    assert!(
        msgs.iter().all(|m| m.tag != b'E'),
        "{:?}",
        msgs.first().map(|m| m.fields())
    );

    conn.send(&raw::query(
        b"SELECT v, octet_length(v), length(v) FROM big5 WHERE id = 1",
    ))
    .await?;
    let msgs = conn.until_ready().await?;
    let row = msgs
        .iter()
        .find(|m| m.tag == b'D')
        .ok_or("no row")?
        .data_row()?;
    assert_eq!(
        row[0].as_deref(),
        Some(&encoded[..]),
        "Big5 bytes changed in transit"
    );
    // Stored as UTF-8 on the server: 3 bytes per Han character.
    let utf8_len = text.len().to_string();
    assert_eq!(row[1].as_deref(), Some(utf8_len.as_bytes()));

    // A UTF-8 client reads the same text.
    let v: String = s
        .query_one("SELECT v FROM big5 WHERE id = 1", &[])
        .await?
        .get(0);
    assert_eq!(v, text);
    Ok(())
}
