//! Masks against a real PostgreSQL 15: `year_only` must give, byte for byte, what the server's
//! own `date_trunc('year', …)` gives, in binary format and in text format under every
//! DateStyle; `hash` of an integer must be the same whichever format the server used. This is
//! what shows our binary encodings and DateStyle parsing match the server's, not just our tests.
//!
//! Starts a throwaway cluster (initdb, trust auth, a free port) as the `postgres` OS user; skips
//! with a message when the PostgreSQL binaries are not installed.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use trailmask::mask::{apply, oid, Encoding, Format, Mask, MaskCtx};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const KEY: [u8; 32] = [42; 32];

/// A throwaway cluster, stopped when dropped.
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let bin = Path::new(PG_BIN);
        if !bin.join("initdb").exists() {
            eprintln!("skipping: no PostgreSQL binaries in {PG_BIN}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let init = as_postgres(&bin.join("initdb"))
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb: {init:?}");
        // A free port: bind 0, read it, release it (pg_ctl fails loudly if it was taken since).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        // `-w` waits until the server accepts connections: no sleeping here.
        let start = as_postgres(&bin.join("pg_ctl"))
            .args(["-w", "-l"])
            .arg(dir.path().join("log"))
            .args(["-o", &opts, "-D"])
            .arg(&data)
            .arg("start")
            .output()
            .unwrap();
        assert!(start.status.success(), "pg_ctl start: {start:?}");
        Some(Cluster {
            _dir: dir,
            data,
            port,
        })
    }

    async fn connect(&self) -> Client {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&Path::new(PG_BIN).join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

/// Any field's raw bytes as the server sent them.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn ctx(type_oid: u32, format: Format) -> MaskCtx<'static> {
    MaskCtx {
        type_oid,
        format,
        encoding: Encoding::Utf8,
        hash_key: &KEY,
    }
}

fn text_rows(messages: Vec<SimpleQueryMessage>) -> Vec<Vec<String>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Dates from 4713 BC to 9999 AD, leap days and year ends included.
const DATES: &str = "SELECT d, date_trunc('year', d)::date FROM (
    SELECT DATE '4713-01-01 BC' + n * 2719 AS d FROM generate_series(0, 1500) n
    UNION ALL VALUES (DATE '2000-02-29'), (DATE '1999-12-31'), (DATE '2000-01-01'),
                     (DATE '1900-03-01'), (DATE '0001-12-31'), (DATE '0001-12-31 BC')
) s";

#[tokio::test(flavor = "current_thread")]
async fn year_only_matches_date_trunc_in_both_formats() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let client = cluster.connect().await;
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();

    // Binary format: tokio-postgres asks for binary results.
    let rows = client.query(DATES, &[]).await.unwrap();
    assert!(rows.len() > 1500);
    for row in &rows {
        let (Raw(d), Raw(want)) = (row.get::<_, Raw>(0), row.get::<_, Raw>(1));
        let got = apply(&Mask::YearOnly, &d, &ctx(oid::DATE, Format::Binary));
        assert_eq!(got.as_deref(), Some(&want[..]), "binary date {d:?}");
    }
    let ts = "SELECT t, date_trunc('year', t), t::timestamptz, date_trunc('year', t::timestamptz)
              FROM (SELECT TIMESTAMP '1583-06-30 13:45:12.345678' + n * INTERVAL '997 days 7 hours'
                    AS t FROM generate_series(0, 1000) n
                    UNION ALL VALUES (TIMESTAMP '1999-12-31 23:59:59.999999')) s";
    for row in client.query(ts, &[]).await.unwrap() {
        for (col, type_oid) in [(0, oid::TIMESTAMP), (2, oid::TIMESTAMPTZ)] {
            let Raw(t) = row.get(col);
            let Raw(want) = row.get(col + 1);
            let got = apply(&Mask::YearOnly, &t, &ctx(type_oid, Format::Binary));
            assert_eq!(got.as_deref(), Some(&want[..]), "binary timestamp {t:?}");
        }
    }

    // Text format, every DateStyle the server can answer in.
    for style in [
        "ISO, MDY",
        "SQL, MDY",
        "SQL, DMY",
        "German, DMY",
        "Postgres, MDY",
        "Postgres, DMY",
    ] {
        client
            .batch_execute(&format!("SET DateStyle = '{style}'"))
            .await
            .unwrap();
        let rows = text_rows(client.simple_query(DATES).await.unwrap());
        assert!(rows.len() > 1500);
        for row in rows {
            let [d, want] = &row[..] else {
                panic!("{row:?}")
            };
            let got = apply(&Mask::YearOnly, d.as_bytes(), &ctx(oid::DATE, Format::Text));
            assert_eq!(got.as_deref(), Some(want.as_bytes()), "{style}: {d}");
        }
    }

    // Text timestamps (ISO) in zones without daylight saving time, whose offset on January 1st
    // is the offset all year.
    client.batch_execute("SET DateStyle = 'ISO'").await.unwrap();
    for zone in ["UTC", "Asia/Taipei", "Asia/Kolkata", "America/Caracas"] {
        client
            .batch_execute(&format!("SET TimeZone = '{zone}'"))
            .await
            .unwrap();
        let rows = text_rows(
            client
                .simple_query(
                    "SELECT t::text, date_trunc('year', t)::text FROM (
                       SELECT TIMESTAMPTZ '2019-03-05 08:09:10.5+00' + n * INTERVAL '37 days 3 hours'
                       AS t FROM generate_series(0, 40) n) s",
                )
                .await
                .unwrap(),
        );
        for row in rows {
            let [t, want] = &row[..] else {
                panic!("{row:?}")
            };
            let got = apply(
                &Mask::YearOnly,
                t.as_bytes(),
                &ctx(oid::TIMESTAMPTZ, Format::Text),
            );
            assert_eq!(got.as_deref(), Some(want.as_bytes()), "{zone}: {t}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn hash_and_masks_keep_types_valid_for_the_server() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let client = cluster.connect().await;
    let values = "SELECT n::int2, n::int4, n::int8, n::numeric, n::text,
                         md5(n::text)::uuid, decode(md5(n::text), 'hex')
                  FROM generate_series(-300, 300, 7) n";
    let binary = client.query(values, &[]).await.unwrap();
    let text = text_rows(client.simple_query(values).await.unwrap());
    assert_eq!(binary.len(), text.len());
    let types = [
        oid::INT2,
        oid::INT4,
        oid::INT8,
        oid::NUMERIC,
        oid::TEXT,
        oid::UUID,
        oid::BYTEA,
    ];
    for (brow, trow) in binary.iter().zip(&text) {
        for (i, type_oid) in types.iter().enumerate() {
            let Raw(b) = brow.get(i);
            let t = trow.get(i).unwrap();
            let from_text =
                apply(&Mask::Hash, t.as_bytes(), &ctx(*type_oid, Format::Text)).expect("text hash");
            // The server must accept the hashed text as a value of the column's type.
            let cast = format!(
                "SELECT '{}'::{}::text",
                String::from_utf8(from_text.to_vec()).unwrap(),
                brow.columns()[i].type_().name()
            );
            let echoed = text_rows(client.simple_query(&cast).await.unwrap());
            assert_eq!(echoed.len(), 1, "{cast}");
            // Binary results hash like text results (numeric binary is NULL by design).
            if *type_oid != oid::NUMERIC {
                let from_binary =
                    apply(&Mask::Hash, &b, &ctx(*type_oid, Format::Binary)).expect("binary hash");
                let rendered: String = match *type_oid {
                    oid::INT2 | oid::INT4 | oid::INT8 => {
                        let mut wide = [0u8; 8];
                        let start = 8 - from_binary.len();
                        wide[start..].copy_from_slice(&from_binary);
                        i64::from_be_bytes(wide).to_string()
                    }
                    oid::BYTEA => format!(
                        "\\x{}",
                        from_binary
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    ),
                    oid::UUID => {
                        let echoed = client
                            .query_one(
                                "SELECT $1::text::uuid::text",
                                &[&String::from_utf8(from_text.to_vec()).unwrap()],
                            )
                            .await
                            .unwrap();
                        let s: String = echoed.get(0);
                        assert_eq!(
                            s.replace('-', ""),
                            from_binary
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect::<String>()
                        );
                        s
                    }
                    _ => String::from_utf8(from_binary.to_vec()).unwrap(),
                };
                assert_eq!(
                    rendered.as_bytes(),
                    &from_text[..],
                    "type {type_oid}, value {t}"
                );
            }
        }
    }
}
