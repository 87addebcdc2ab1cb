//! The catalog against a real PostgreSQL 15: a throwaway cluster (initdb as the `postgres` OS
//! user, free port, trust auth) with the hotel schema, a view and nested roles. Checks the
//! loaded snapshot's OIDs, attnums, role closure and view lineage, and cross-checks resolution
//! against the server's own RowDescription (table OID and column number of every field).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio_postgres::NoTls;
use trailmask::catalog::{
    self, resolve, AttNum, CatalogOptions, ResolvedLineage, Secret, Snapshot, TableOid,
};
use trailmask::sql::{analyze_one, UseContext};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster, stopped (immediate) when dropped.
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{BIN}/pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .unwrap_or_else(|e| panic!("id {flag} postgres: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {flag} postgres: {e}"))
}

fn run_as_postgres(args: &[&str], dir: &Path) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start() -> Cluster {
    assert!(
        Path::new(BIN).join("initdb").exists(),
        "PostgreSQL 15 binaries are needed at {BIN}"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::os::unix::fs::chown(dir.path(), Some(id_of("-u")), Some(id_of("-g")))
        .unwrap_or_else(|e| panic!("chown: {e}"));
    let data = dir.path().join("data");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"));
    let d = data.to_string_lossy().into_owned();
    let sock = dir.path().to_string_lossy().into_owned();
    run_as_postgres(
        &[
            &format!("{BIN}/initdb"),
            "-D",
            &d,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
        dir.path(),
    );
    let opts = format!("-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off");
    let log = dir.path().join("log").to_string_lossy().into_owned();
    run_as_postgres(
        &[
            &format!("{BIN}/pg_ctl"),
            "-D",
            &d,
            "-o",
            &opts,
            "-l",
            &log,
            "-w",
            "start",
        ],
        dir.path(),
    );
    Cluster {
        _dir: dir,
        data,
        port,
    }
}

const SCHEMA: &str = "
CREATE TABLE guests (id serial PRIMARY KEY, name text, phone text, email text, national_id text,
                     passport_no text, birthday date, address text);
CREATE TABLE payments (id serial PRIMARY KEY, guest_id int REFERENCES guests, card_number text,
                       card_holder text, amount numeric);
ALTER TABLE guests DROP COLUMN address;
ALTER TABLE guests ADD COLUMN address text;
CREATE VIEW guest_contacts AS SELECT id, name, upper(phone) AS phone_upper, email FROM guests;
CREATE SCHEMA ops;
CREATE VIEW ops.paid AS SELECT g.name, p.amount, p.card_number FROM guests g JOIN payments p ON p.guest_id = g.id;
CREATE ROLE staff NOLOGIN;
CREATE ROLE front_desk NOLOGIN IN ROLE staff;
CREATE ROLE alice LOGIN IN ROLE front_desk;
CREATE ROLE trailmask LOGIN;
";

async fn connect(port: u16, user: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(10))
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    tokio::spawn(conn);
    client
}

fn opts() -> CatalogOptions {
    CatalogOptions {
        user: "trailmask".into(),
        password: Secret::new(""),
        password_env: "UNUSED".into(),
        database: None,
        refresh: Duration::from_secs(60),
        upstream: None,
    }
}

/// Every field of `sql`'s RowDescription, as the server describes it, against our resolution:
/// a field with a table OID must be exactly the base (or view) column we resolved; a field
/// without one must not be claimed as a bare column.
async fn cross_check(client: &tokio_postgres::Client, snap: &Snapshot, sql: &str) -> usize {
    let mut matched = 0;
    let stmt = client
        .prepare(sql)
        .await
        .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
    let a = analyze_one(sql);
    assert!(!a.is_opaque(), "{sql}: {:?} {:?}", a.unknown, a.parse_error);
    let r = resolve(&a, snap, &["public".to_owned()]);
    assert!(
        r.unresolved.is_empty(),
        "{sql}: unresolved {:?}",
        r.unresolved
    );
    assert_eq!(r.outputs.len(), stmt.columns().len(), "{sql}: output count");
    for (col, out) in stmt.columns().iter().zip(&r.outputs) {
        let server = match (col.table_oid(), col.column_id()) {
            (Some(t), Some(n)) if t != 0 => snap.field_origin(TableOid(t), AttNum(n)),
            _ => None,
        };
        match (&server, &out.lineage) {
            (Some(s), ours) => {
                assert_eq!(s, ours, "{sql}: field {}", col.name());
                matched += 1;
            }
            (None, ResolvedLineage::Bare(c)) => {
                panic!(
                    "{sql}: field {} has no table OID but we said {}",
                    col.name(),
                    c.qualified()
                )
            }
            (None, _) => {}
        }
    }
    matched
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_catalog() {
    let cluster = start();
    let admin = connect(cluster.port, "postgres").await;
    admin
        .batch_execute(SCHEMA)
        .await
        .unwrap_or_else(|e| panic!("schema: {e}"));

    let snap = catalog::load(&opts(), &format!("127.0.0.1:{}", cluster.port), "postgres")
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));

    // OIDs and attnums as the server has them (address was dropped and re-added: attnum 9).
    let row = admin
        .query_one(
            "SELECT 'public.guests'::regclass::oid, 'public.payments'::regclass::oid, 'public.guest_contacts'::regclass::oid",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (guests, payments, view): (u32, u32, u32) = (row.get(0), row.get(1), row.get(2));
    let g = snap
        .by_name("public", "guests")
        .unwrap_or_else(|| panic!("guests missing"));
    assert_eq!(g.oid, TableOid(guests));
    let names: Vec<&str> = g.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "phone",
            "email",
            "national_id",
            "passport_no",
            "birthday",
            "address"
        ]
    );
    assert_eq!(g.column("phone").map(|c| c.attnum), Some(AttNum(3)));
    assert_eq!(g.column("address").map(|c| c.attnum), Some(AttNum(9)));
    assert_eq!(g.column("ctid").map(|c| c.attnum), Some(AttNum(-1)));
    assert_eq!(
        snap.by_name("public", "payments").map(|p| p.oid),
        Some(TableOid(payments))
    );
    assert!(snap.by_name("pg_catalog", "pg_class").is_some());

    // Role membership, closed over nesting.
    assert!(snap.is_member("alice", "front_desk"));
    assert!(snap.is_member("alice", "staff"));
    assert!(!snap.is_member("staff", "alice"));
    assert!(!snap.is_member("trailmask", "staff"));

    // View lineage from pg_get_viewdef.
    let l = snap
        .view_lineage(TableOid(view))
        .unwrap_or_else(|| panic!("no view lineage"));
    assert!(
        matches!(&l[0], ResolvedLineage::Bare(c) if c.table == TableOid(guests) && c.attnum == AttNum(1))
    );
    assert!(
        matches!(&l[2], ResolvedLineage::Derived { columns, .. } if columns.len() == 1 && columns[0].column == "phone")
    );
    let paid = snap
        .by_name("ops", "paid")
        .and_then(|r| snap.view_lineage(r.oid))
        .unwrap_or_else(|| panic!("ops.paid"));
    assert!(
        matches!(&paid[2], ResolvedLineage::Bare(c) if c.qualified() == "public.payments.card_number")
    );

    // SELECT * over a join resolves to the right OIDs/attnums; so say the server's fields.
    let sql = "SELECT * FROM guests g JOIN payments p ON p.guest_id = g.id";
    let r = resolve(&analyze_one(sql), &snap, &["public".to_owned()]);
    assert_eq!(r.outputs.len(), 13);
    assert!(
        matches!(&r.outputs[2].lineage, ResolvedLineage::Bare(c) if c.table == TableOid(guests) && c.attnum == AttNum(3))
    );
    assert!(matches!(&r.outputs[7].lineage, ResolvedLineage::Bare(c) if c.attnum == AttNum(9)));
    assert!(r
        .uses
        .iter()
        .any(|u| u.column.qualified() == "public.payments.guest_id"
            && u.context == UseContext::OtherPredicate));
    let mut matched = 0;
    for sql in [
        sql,
        "SELECT g.phone AS p, upper(g.name), g FROM guests g",
        "SELECT * FROM guest_contacts",
        "SELECT name, card_number FROM ops.paid",
        "WITH x AS (SELECT phone, email FROM guests) SELECT * FROM x",
        "SELECT s.* FROM (SELECT p.card_number, g.id FROM payments p, guests g) s",
        "SELECT phone FROM guests UNION SELECT card_number FROM payments",
        "INSERT INTO guests (name) VALUES ($1) RETURNING id, phone",
        "UPDATE guests SET email = $1 WHERE id = $2 RETURNING *",
        "SELECT c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
    ] {
        matched += cross_check(&admin, &snap, sql).await;
    }
    // Most fields above carry a table OID; all of those agreed.
    assert!(matched >= 30, "only {matched} fields cross-checked");

    // psql's own meta-command queries resolve fully against the real pg_catalog.
    let text = std::fs::read_to_string(format!(
        "{}/tests/corpus/psql_meta.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    for q in text
        .split("-- ;;;")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let a = analyze_one(q);
        let r = resolve(&a, &snap, &["public".to_owned()]);
        assert!(r.unresolved.is_empty(), "{q}: {:?}", r.unresolved);
    }

    // Functions resolve to their schema; unknown ones do not resolve at all.
    admin
        .batch_execute(
            "CREATE FUNCTION public.room_rate(int) RETURNS int LANGUAGE sql AS 'SELECT $1 * 2'",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let snap = catalog::load(&opts(), &format!("127.0.0.1:{}", cluster.port), "postgres")
        .await
        .unwrap_or_else(|e| panic!("reload: {e}"));
    let path = ["public".to_owned()];
    let a = analyze_one(
        "SELECT upper(name), coalesce(email, ''), room_rate(1), pg_catalog.set_config('a', 'b', false), nosuch(1), public.upper(name) FROM guests",
    );
    let schemas: Vec<Option<String>> = a
        .functions
        .iter()
        .map(|f| snap.function_schema(f, &path))
        .collect();
    assert_eq!(
        schemas,
        [
            Some("pg_catalog".to_owned()),
            Some("pg_catalog".to_owned()),
            Some("public".to_owned()),
            Some("pg_catalog".to_owned()),
            None,
            None
        ]
    );

    // A refresh after DDL sees the new column.
    admin
        .batch_execute("ALTER TABLE guests ADD COLUMN note text")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cat = catalog::Catalog::new(opts(), format!("127.0.0.1:{}", cluster.port));
    let fresh = cat
        .refresh("postgres")
        .await
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    assert!(fresh
        .by_name("public", "guests")
        .and_then(|r| r.column("note"))
        .is_some());
    assert!(cat.get("postgres").is_some());
}
