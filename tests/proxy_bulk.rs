//! Volume through the proxy: pgbench in the three query modes, COPY in and out of 100,000 rows,
//! and a 1,000,000-row result that must match what PostgreSQL sends directly.

#[macro_use]
#[path = "support/lib.rs"]
mod support;

use std::pin::pin;
use std::process::Stdio;

use futures_util::{SinkExt, StreamExt};
use support::{Fixture, TestResult, DB, SCRAM_USER};
use tokio::process::Command;

/// Rows for the COPY test: NULLs, escaped tabs and backslashes, multi-byte text.
const COPY_ROWS: usize = 100_000;
const BIG_RESULT_SQL: &str = "SELECT g, md5(g::text), g % 7 = 0, repeat('é', g % 5) \
                              FROM generate_series(1, 1000000) g ORDER BY g";

fn pgbench(fx: &Fixture, port: u16) -> Command {
    let mut cmd = Command::new(fx.cluster.program("pgbench"));
    cmd.arg("-h")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .arg("-U")
        .arg(SCRAM_USER.0)
        .env("PGPASSWORD", SCRAM_USER.1)
        .env("PGSSLMODE", "disable")
        .stdin(Stdio::null());
    cmd
}

/// `pgbench -i` straight into PostgreSQL, then the standard TPC-B-like script through the
/// target: 4 clients x 200 transactions, none may fail.
async fn pgbench_mode(mode: &str) -> TestResult {
    let fx = Fixture::start().await?;
    let init = pgbench(&fx, fx.cluster.port())
        .args(["-i", "-q", "-s", "1", DB])
        .output()
        .await?;
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let run = pgbench(&fx, fx.target.port())
        .args(["-n", "-M", mode, "-t", "200", "-c", "4", "-j", "2", DB])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "pgbench -M {mode} failed: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("number of transactions actually processed: 800/800"),
        "{stdout}"
    );
    assert!(
        stdout.contains("number of failed transactions: 0 "),
        "{stdout}"
    );
    // The work really reached the database.
    let history = fx
        .cluster
        .psql_db(DB, "SELECT count(*) FROM pgbench_history")?;
    assert_eq!(history, "800");
    Ok(())
}

#[tokio::test]
async fn pgbench_simple() -> TestResult {
    pgbench_mode("simple").await
}

#[tokio::test]
async fn pgbench_extended() -> TestResult {
    pgbench_mode("extended").await
}

#[tokio::test]
async fn pgbench_prepared() -> TestResult {
    pgbench_mode("prepared").await
}

/// COPY text format for `(id int, name text, note text)`.
fn copy_data() -> Vec<u8> {
    let mut out = Vec::with_capacity(COPY_ROWS * 40);
    for i in 1..=COPY_ROWS {
        let note = match i % 7 {
            0 => "\\N".to_owned(),
            1 => format!("tab\\there {i}"),
            2 => format!("back\\\\slash {i}"),
            3 => format!("臺北 {i} 許功蓋"),
            4 => format!("line\\nbreak {i}"),
            _ => format!("plain {i}"),
        };
        out.extend_from_slice(format!("{i}\tguest-{i}\t{note}\n").as_bytes());
    }
    out
}

#[tokio::test]
async fn copy_in_and_out_of_100k_rows_keeps_content() -> TestResult {
    let fx = Fixture::start().await?;
    let s = fx.connect(SCRAM_USER).await?;
    s.batch_execute(
        "CREATE TABLE copy_psql (id int PRIMARY KEY, name text, note text);
         CREATE TABLE copy_sink (id int PRIMARY KEY, name text, note text);",
    )
    .await?;
    let data = copy_data();
    let input = fx.cluster.dir().join("copy-in.txt");
    let output = fx.cluster.dir().join("copy-out.txt");
    std::fs::write(&input, &data)?;

    // psql \copy: COPY FROM STDIN and COPY TO STDOUT through the target.
    let copy_in = format!("\\copy copy_psql FROM '{}'", input.display());
    let copy_out = format!(
        "\\copy (SELECT * FROM copy_psql ORDER BY id) TO '{}'",
        output.display()
    );
    let (ok, out, err) = fx
        .psql(SCRAM_USER, &["-c", &copy_in, "-c", &copy_out])
        .await?;
    assert!(ok, "psql \\copy failed: {err}");
    assert_eq!(
        String::from_utf8(out)?,
        format!("COPY {COPY_ROWS}\nCOPY {COPY_ROWS}\n")
    );
    let copied = std::fs::read(&output)?;
    assert!(copied == data, "COPY out differs from COPY in");

    // tokio-postgres: COPY FROM STDIN in chunks, then binary COPY TO STDOUT compared with the
    // same COPY straight from PostgreSQL.
    let sink = s.copy_in("COPY copy_sink FROM STDIN").await?;
    let mut sink = pin!(sink);
    for chunk in data.chunks(64 * 1024) {
        sink.send(bytes::Bytes::copy_from_slice(chunk)).await?;
    }
    let rows = sink.as_mut().finish().await?;
    assert_eq!(rows, COPY_ROWS as u64);

    let sql = "COPY (SELECT * FROM copy_sink ORDER BY id) TO STDOUT (FORMAT binary)";
    let through = copy_out_hash(&s, sql).await?;
    let direct = copy_out_hash(&*fx.connect_direct(SCRAM_USER).await?, sql).await?;
    assert_eq!(through, direct);
    let text_sql = "COPY (SELECT * FROM copy_sink ORDER BY id) TO STDOUT";
    assert_eq!(copy_out_hash(&s, text_sql).await?, blake3::hash(&data));
    Ok(())
}

async fn copy_out_hash(s: &tokio_postgres::Client, sql: &str) -> TestResult<blake3::Hash> {
    let stream = s.copy_out(sql).await?;
    let mut stream = pin!(stream);
    let mut hasher = blake3::Hasher::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(hasher.finalize())
}

/// Hash of every row of `BIG_RESULT_SQL` read with binary results, and the row count.
async fn big_result_hash(s: &tokio_postgres::Client) -> TestResult<(blake3::Hash, usize)> {
    let params: [i32; 0] = [];
    let stream = s.query_raw(BIG_RESULT_SQL, params).await?;
    let mut stream = pin!(stream);
    let mut hasher = blake3::Hasher::new();
    let mut rows = 0;
    while let Some(row) = stream.next().await {
        let row = row?;
        let g: i32 = row.try_get(0)?;
        let md5: &str = row.try_get(1)?;
        let b: bool = row.try_get(2)?;
        let e: &str = row.try_get(3)?;
        hasher.update(&g.to_be_bytes());
        hasher.update(md5.as_bytes());
        hasher.update(&[u8::from(b)]);
        hasher.update(e.as_bytes());
        hasher.update(b"\n");
        rows += 1;
    }
    Ok((hasher.finalize(), rows))
}

#[tokio::test]
async fn a_million_row_result_matches_direct() -> TestResult {
    let fx = Fixture::start().await?;
    // Binary results through tokio-postgres.
    let through = big_result_hash(&*fx.connect(SCRAM_USER).await?).await?;
    let direct = big_result_hash(&*fx.connect_direct(SCRAM_USER).await?).await?;
    assert_eq!(through.1, 1_000_000);
    assert_eq!(through, direct);

    // Text results through psql, byte for byte.
    let (ok, out, err) = fx.psql(SCRAM_USER, &["-At", "-c", BIG_RESULT_SQL]).await?;
    assert!(ok, "{err}");
    let direct_out = Command::new(fx.cluster.program("psql"))
        .args(["-X", "-At", "-c", BIG_RESULT_SQL])
        .arg(fx.cluster.conn_string(SCRAM_USER.0, SCRAM_USER.1, DB))
        .stdin(Stdio::null())
        .output()
        .await?;
    assert!(direct_out.status.success());
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1_000_000);
    assert!(blake3::hash(&out) == blake3::hash(&direct_out.stdout));
    Ok(())
}
