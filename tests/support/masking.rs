//! The masking harness: a throwaway PostgreSQL holding the demo hotel schema
//! (`config/demo/schema.sql`) with a few guests whose personal values are KNOWN and distinctive,
//! the demo logins (`front_desk`, `marketing`, `dba`, `auditor`) plus `intern` (matched by no
//! `[roles.*]`, so it gets `policy.default_role`) and `combo` (member of two roles), and `trailmask proxy` in front of it, configured
//! from `config/demo/demo.toml` the way `trailmask demo` does it (catalog login, trail directory,
//! a key from `trailmask keygen`, the trail hash key in the environment).
//!
//! `TRAILMASK_TEST_TARGET=direct` skips the proxy and points the same tests at PostgreSQL, which
//! shows that they fail when nothing masks (pgbouncer is not a meaningful target here).
//!
//! The tests look for leaks by scanning every byte that comes back — values, errors, notices,
//! notifications, parameter statuses, COPY data — for each known clear value in several forms
//! ([`needles`]).
//!
//! Included by `tests/masking_*.rs` with `#[path = "support/masking.rs"] mod masking;` next to
//! `support`; not every file uses every helper, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use trailmask::cluster::{self, Cluster, Options, PasswordAuth, SUPERUSER};

use crate::support::raw::{self, Message, RawConn};
use crate::support::{Session, TargetKind, TestResult};

/// The database the demo uses, and so the config's `[catalog] database`.
pub const DATABASE: &str = "hotel";
/// Logins the tests connect as. All authenticate with the `password` method, so the raw
/// frontend (cleartext only) can log in through the proxy as each of them.
/// `combo` is a member of both `marketing` and `front_desk`: the union of their `clear` lists,
/// and front_desk's `deny`.
pub const LOGINS: [&str; 6] = [
    "front_desk",
    "marketing",
    "dba",
    "auditor",
    "intern",
    "combo",
];
/// trailmask's catalog login (`[catalog] user` in demo.toml).
const CATALOG_USER: &str = "trailmask";
const SCHEMA_SQL: &str = include_str!("../../config/demo/schema.sql");
const CONFIG_TEMPLATE: &str = include_str!("../../config/demo/demo.toml");
/// Polls of the proxy's port, `PORT_POLL` apart: 60 s on a loaded machine.
const PORT_ATTEMPTS: usize = 1200;
const PORT_POLL: Duration = Duration::from_millis(50);

/// Rows with known values, rooms, bookings, payments, the objects the attacks need, and a
/// private copy of `guests` (schema `vault`, no grants) to restore it after a case.
const SETUP_SQL: &str = r#"
INSERT INTO rooms VALUES (1, '101', 1, 'single', 2400), (2, '102', 1, 'double', 3200),
    (3, '201', 2, 'suite', 6800);
INSERT INTO guests (id, name, phone, email, national_id, passport_no, birthday, address, created_at)
VALUES
    (1, '林美玉', '0987654321', 'meiyu.lin@example.com', 'F223456789', 'M12345678', '1985-07-23',
     '台北市信義區松仁路100號', '2026-01-02 03:04:05+00'),
    (2, 'Chen Wei-Ting', '0912-345-678', 'weiting.chen@example.org', 'A812345678', '300123987',
     '1992-11-05', '高雄市苓雅區四維三路2號', '2026-02-03 04:05:06+00'),
    -- Edge cases for the masks: one-character name and address, an international phone
    -- number, an e-mail address without '@', a lower-case ID number, a three-character passport.
    (3, '李', '+886 987 654 329', 'NoAtSignHere', 'f123456780', 'X12', NULL, '台',
     '2026-02-04 04:05:06+00');
-- Filler guests, so that ANALYZE builds histograms (pg_stats then holds the values above).
INSERT INTO guests (id, name, phone, email, national_id, passport_no, birthday, address, created_at)
SELECT 100 + i, '旅客' || i, '0955' || lpad(i::text, 6, '0'), 'guest' || i || '@example.net',
       'Q1' || lpad(i::text, 8, '0'), 'P' || lpad(i::text, 8, '0'), date '1970-01-01' + i * 400,
       '測試地址' || i || '號', '2026-03-01 00:00:00+00'
FROM generate_series(1, 30) AS i;
INSERT INTO bookings VALUES (1, 1, 1, '2026-12-01', '2026-12-03', 'booked'),
    (2, 2, 2, '2026-12-05', '2026-12-06', 'checked_in'),
    (3, 101, 3, '2026-12-10', '2026-12-12', 'booked');
INSERT INTO payments VALUES
    (1, 1, 4800, '4111111111111111', '王大明', '2026-11-20 10:00:00+00'),
    (2, 2, 3200, '5500005555555559', 'Lee Siew Ling', '2026-11-21 11:00:00+00');

-- A unique violation names the key; a check or NOT NULL violation prints the whole row.
CREATE UNIQUE INDEX guests_national_id ON guests (national_id);
ALTER TABLE guests ADD CONSTRAINT guests_passport_short CHECK (length(passport_no) < 20);

-- Somewhere to write stolen values to.
CREATE TABLE loot (t text);
CREATE SEQUENCE loot_seq;

-- A view with computed columns (the demo's guest_contacts has only plain ones).
CREATE VIEW guest_shout AS SELECT id, upper(name) AS shout, phone || '' AS phone_copy FROM guests;

-- Functions outside pg_catalog: two untrusted, one listed in policy.trusted_functions.
CREATE FUNCTION public.leak(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION public.peek() RETURNS text LANGUAGE sql SECURITY DEFINER
    AS 'SELECT phone FROM public.guests WHERE id = 1';
CREATE FUNCTION public.room_rate(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';

-- An owner's trigger that talks about the row: a notice (quoted or bare value) or an error.
-- It skips the update in those cases, so the data stays as it was.
CREATE FUNCTION public.guest_note() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF NEW.email = 'notice-quoted@example.com' THEN
        RAISE NOTICE 'guest "%" changed', OLD.phone;
        RETURN NULL;
    ELSIF NEW.email = 'notice-bare@example.com' THEN
        RAISE NOTICE 'guest % changed', OLD.phone;
        RETURN NULL;
    ELSIF NEW.email = 'error-quoted@example.com' THEN
        RAISE EXCEPTION 'guest "%" is locked', OLD.national_id;
    ELSIF NEW.email = 'error-dynamic@example.com' THEN
        -- Fails with the value in the message and in the internal query (field q).
        EXECUTE format('SELECT %L::boolean', OLD.phone);
    ELSIF NEW.email = 'error-fields@example.com' THEN
        RAISE EXCEPTION 'guest is locked'
            USING COLUMN = OLD.phone, DETAIL = OLD.national_id, HINT = OLD.address;
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER guest_note BEFORE UPDATE ON guests FOR EACH ROW EXECUTE FUNCTION public.guest_note();

CREATE STATISTICS guests_stx (mcv) ON phone, national_id FROM guests;
CREATE EXTENSION dblink;
CREATE EXTENSION pg_stat_statements;

CREATE SCHEMA vault;
CREATE TABLE vault.guests AS SELECT * FROM public.guests;
ANALYZE;
"#;

/// Privileges: enough that PostgreSQL itself would run every attack (so a refusal can only come
/// from trailmask), including the predefined roles that read files and other sessions.
const GRANTS_SQL: &str = "
GRANT marketing, front_desk TO combo;
GRANT USAGE, CREATE ON SCHEMA public TO front_desk, marketing, dba, auditor, intern;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO front_desk, marketing, auditor, intern;
GRANT ALL ON ALL TABLES IN SCHEMA public TO dba;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO dba, marketing, front_desk;
GRANT INSERT, UPDATE ON guests, bookings, rooms, loot TO front_desk, marketing;
GRANT INSERT ON payments TO front_desk;
GRANT UPDATE ON guest_contacts TO marketing;
GRANT pg_read_server_files, pg_read_all_stats TO marketing;
GRANT SELECT ON pg_catalog.pg_statistic TO marketing;
GRANT EXECUTE ON FUNCTION pg_read_file(text), pg_read_binary_file(text) TO marketing;
";

/// Puts the database back as it was after a case (run as the superuser).
const RESTORE_SQL: &str = "
TRUNCATE loot;
DROP TABLE IF EXISTS public.ctas_loot, public.into_loot;
DROP MATERIALIZED VIEW IF EXISTS public.mk_matview;
DROP VIEW IF EXISTS public.mk_view;
DROP OPERATOR IF EXISTS public.= (text, text);
DROP FUNCTION IF EXISTS public.mk_eq(text, text);
DROP FUNCTION IF EXISTS public.mk_phones();
DROP FUNCTION IF EXISTS public.mk_row(guests);
DROP FUNCTION IF EXISTS public.now();
DROP TABLE IF EXISTS public.mk_t CASCADE;
DROP OPERATOR IF EXISTS public.= (bigint, bigint);
DROP FUNCTION IF EXISTS public.mk_trg(), public.mk_fn(), public.mk_notice(int),
    public.mk_eq8(bigint, bigint);
SELECT lo_unlink(oid) FROM pg_largeobject_metadata;
SELECT setval('loot_seq', 1, false);
DELETE FROM payments WHERE id NOT IN (1, 2);
DELETE FROM guests WHERE id NOT IN (SELECT id FROM vault.guests);
UPDATE guests g SET (name, phone, email, national_id, passport_no, birthday, address, created_at)
    = (v.name, v.phone, v.email, v.national_id, v.passport_no, v.birthday, v.address, v.created_at)
    FROM vault.guests v WHERE v.id = g.id;
";

/// What a case may have changed, as one line (run as the superuser): compared before and after.
const STATE_SQL: &str = "
SELECT concat_ws(' ',
    'loot=' || (SELECT count(*) FROM loot),
    'ctas_loot=' || (to_regclass('public.ctas_loot') IS NOT NULL),
    'into_loot=' || (to_regclass('public.into_loot') IS NOT NULL),
    'mk_matview=' || (to_regclass('public.mk_matview') IS NOT NULL),
    'large_objects=' || (SELECT count(*) FROM pg_largeobject_metadata),
    'loot_seq=' || (SELECT last_value || '/' || is_called FROM loot_seq),
    'guests=' || (SELECT md5(string_agg(g::text, '|' ORDER BY id)) FROM guests g),
    'payments=' || (SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM payments p))
";

// === known values ===

/// One personal value stored in the database, with the forms in which it would count as
/// leaked (besides the value itself and its hex form, which [`needles`] adds).
pub struct Known {
    /// `table.column` (schema public).
    pub column: &'static str,
    pub value: &'static str,
    /// Fragments that identify it as well: digits only, partial names, other date styles.
    pub fragments: &'static [&'static str],
}

pub const KNOWN: &[Known] = &[
    Known {
        column: "guests.name",
        value: "林美玉",
        fragments: &["林美", "美玉"],
    },
    Known {
        column: "guests.name",
        value: "Chen Wei-Ting",
        fragments: &["Wei-Ting"],
    },
    Known {
        column: "guests.phone",
        value: "0987654321",
        fragments: &["987654321", "0987-654-321"],
    },
    Known {
        column: "guests.phone",
        value: "0912-345-678",
        fragments: &["0912345678", "912345678"],
    },
    Known {
        column: "guests.name",
        value: "李",
        fragments: &[],
    },
    Known {
        column: "guests.phone",
        value: "+886 987 654 329",
        fragments: &["987 654 329", "987654329"],
    },
    Known {
        column: "guests.email",
        value: "NoAtSignHere",
        fragments: &[],
    },
    Known {
        column: "guests.national_id",
        value: "f123456780",
        fragments: &["123456780"],
    },
    Known {
        column: "guests.email",
        value: "meiyu.lin@example.com",
        fragments: &["meiyu.lin"],
    },
    Known {
        column: "guests.email",
        value: "weiting.chen@example.org",
        fragments: &["weiting.chen"],
    },
    Known {
        column: "guests.national_id",
        value: "F223456789",
        fragments: &["223456789"],
    },
    Known {
        column: "guests.national_id",
        value: "A812345678",
        fragments: &["812345678"],
    },
    Known {
        column: "guests.passport_no",
        value: "M12345678",
        fragments: &[],
    },
    Known {
        column: "guests.passport_no",
        value: "300123987",
        fragments: &[],
    },
    Known {
        column: "guests.birthday",
        value: "1985-07-23",
        fragments: &["07/23/1985", "23/07/1985", "23.07.1985", "07-23-1985"],
    },
    Known {
        column: "guests.birthday",
        value: "1992-11-05",
        fragments: &["11/05/1992", "05/11/1992", "05.11.1992", "11-05-1992"],
    },
    Known {
        column: "guests.address",
        value: "台北市信義區松仁路100號",
        // Also the first character's UTF-8 as PostgreSQL prints it when it cannot convert it
        // to the client_encoding ("character with byte sequence 0xe5 0x8f 0xb0 …").
        fragments: &["松仁路100", "0xe5 0x8f 0xb0"],
    },
    Known {
        column: "guests.address",
        value: "高雄市苓雅區四維三路2號",
        fragments: &["四維三路2", "0xe9 0xab 0x98"],
    },
    Known {
        column: "payments.card_number",
        value: "4111111111111111",
        fragments: &[],
    },
    Known {
        column: "payments.card_number",
        value: "5500005555555559",
        fragments: &[],
    },
    Known {
        column: "payments.card_holder",
        value: "王大明",
        fragments: &["王大", "大明"],
    },
    Known {
        column: "payments.card_holder",
        value: "Lee Siew Ling",
        fragments: &["Siew Ling"],
    },
];

/// Columns each login sees in clear under demo.toml (`payments.card_number` is denied to
/// front_desk, which is stricter than masked, so it stays a needle).
pub fn clear_columns(login: &str) -> &'static [&'static str] {
    match login {
        "front_desk" => &["guests.name", "guests.phone", "guests.national_id"],
        "marketing" => &["guests.email"],
        "combo" => &[
            "guests.name",
            "guests.phone",
            "guests.national_id",
            "guests.email",
        ],
        "dba" => &[
            "guests.name",
            "guests.phone",
            "guests.email",
            "guests.national_id",
            "guests.passport_no",
            "guests.birthday",
            "guests.address",
            "payments.card_number",
            "payments.card_holder",
        ],
        _ => &[],
    }
}

/// A byte pattern that must not come back, and what it stands for.
#[derive(Debug, Clone)]
pub struct Needle {
    pub bytes: Vec<u8>,
    /// The value it stands for, e.g. `guests.phone "0987654321"`.
    pub value: String,
    /// The form, e.g. `as hex`.
    pub form: String,
}

impl Needle {
    pub fn label(&self) -> String {
        format!("{} {}", self.value, self.form)
    }
}

/// Every form of every known value `login` sees masked (or may not see at all): the value, its
/// fragments, the lower-case hex of its UTF-8 (bytea output, `encode(…, 'hex')`), and for dates
/// the binary `date` field (length 4, days since 2000-01-01).
pub fn needles(login: &str) -> Vec<Needle> {
    let clear = clear_columns(login);
    let mut out = Vec::new();
    for known in KNOWN.iter().filter(|k| !clear.contains(&k.column)) {
        let mut push = |bytes: Vec<u8>, form: &str| {
            out.push(Needle {
                bytes,
                value: format!("{} {:?}", known.column, known.value),
                form: form.to_owned(),
            });
        };
        push(known.value.as_bytes().to_vec(), "as stored");
        for fragment in known.fragments {
            push(fragment.as_bytes().to_vec(), &format!("as {fragment:?}"));
        }
        push(hex(known.value.as_bytes()).into_bytes(), "as hex");
        // A client that sets client_encoding to BIG5 or GBK gets Han characters in those bytes.
        if !known.value.is_ascii() {
            for (encoding, name) in [(encoding_rs::BIG5, "BIG5"), (encoding_rs::GBK, "GBK")] {
                for text in std::iter::once(&known.value).chain(known.fragments) {
                    let (bytes, _, unmappable) = encoding.encode(text);
                    if !unmappable && !text.is_ascii() {
                        push(bytes.into_owned(), &format!("as {text:?} in {name}"));
                    }
                }
            }
        }
        if known.column == "guests.birthday" {
            if let Some(days) = parse_date(known.value).map(|(y, m, d)| days_from_2000(y, m, d)) {
                let mut field = 4i32.to_be_bytes().to_vec();
                field.extend_from_slice(&days.to_be_bytes());
                push(field, "as a binary date field");
            }
        }
    }
    out
}

/// Labels of the needles found in `haystack` (ASCII case-insensitive: `lower(national_id)`
/// leaks as much as the value).
pub fn find_needles(haystack: &[u8], needles: &[Needle]) -> Vec<String> {
    let hay = haystack.to_ascii_lowercase();
    needles
        .iter()
        .filter(|n| {
            let needle = n.bytes.to_ascii_lowercase();
            !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice())
        })
        .map(Needle::label)
        .collect()
}

/// Leaks in any message, one entry per value and message type (the first form found):
/// `guests.phone "0987654321" as stored in 'D'`.
pub fn leaks_in(messages: &[Message], needles: &[Needle]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for msg in messages {
        let hay = msg.body.to_ascii_lowercase();
        for n in needles {
            let needle = n.bytes.to_ascii_lowercase();
            let found =
                !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice());
            if found && seen.insert((n.value.clone(), msg.tag)) {
                out.push(format!("{} in '{}'", n.label(), char::from(msg.tag)));
            }
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYY-MM-DD` -> (y, m, d).
pub fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    let mut parts = s.splitn(3, '-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    Some((y, m, d))
}

/// Days from 2000-01-01 (PostgreSQL's binary `date`) to a civil date (H. Hinnant's algorithm).
pub fn days_from_2000(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i32::try_from(m).unwrap_or(1);
    let d = i32::try_from(d).unwrap_or(1);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let unix_days = era * 146_097 + doe - 719_468;
    unix_days - 10_957
}

/// The civil date of a binary `date` value.
pub fn date_from_2000(days: i32) -> (i32, u32, u32) {
    let z = days + 10_957 + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(0),
        u32::try_from(d).unwrap_or(0),
    )
}

// === the fixture ===

/// The hotel database, its logins and (unless the target is `direct`) the proxy.
pub struct Hotel {
    // Field order is drop order: the proxy goes before the cluster it points at.
    proxy: Option<Child>,
    /// Where clients connect: the proxy, or PostgreSQL under `TRAILMASK_TEST_TARGET=direct`.
    port: u16,
    /// Config, key and log of the proxy.
    dir: Option<PathBuf>,
    passwords: BTreeMap<&'static str, String>,
    /// A file with personal data on the server's disk, for `pg_read_file`.
    export_file: PathBuf,
    pub cluster: Cluster,
}

impl Hotel {
    /// Cluster, data, logins, and the target chosen by `TRAILMASK_TEST_TARGET`.
    pub async fn start() -> TestResult<Hotel> {
        Hotel::start_on(Link::Plain).await
    }

    /// As [`Hotel::start`], with a database that accepts TLS connections only and the proxy's
    /// upstream leg (sessions and catalog login alike) under `tls.mode = "require"`.
    pub async fn start_tls_only() -> TestResult<Hotel> {
        Hotel::start_on(Link::TlsOnly).await
    }

    async fn start_on(link: Link) -> TestResult<Hotel> {
        let kind = TargetKind::from_env()?;
        if kind == TargetKind::Pgbouncer {
            return Err("the masking tests need the proxy (or `direct` to see them fail)".into());
        }
        let mut hotel = Hotel::database_on(link).await?;
        if kind == TargetKind::Proxy {
            hotel.spawn_proxy(link).await?;
        }
        Ok(hotel)
    }

    /// Cluster, data and logins, no proxy: clients reach PostgreSQL directly.
    pub async fn database_only() -> TestResult<Hotel> {
        Hotel::database_on(Link::Plain).await
    }

    async fn database_on(link: Link) -> TestResult<Hotel> {
        let (cluster, passwords, export_file) =
            tokio::task::spawn_blocking(move || build_database(link)).await??;
        Ok(Hotel {
            proxy: None,
            port: cluster.port(),
            dir: None,
            passwords,
            export_file,
            cluster,
        })
    }

    async fn spawn_proxy(&mut self, link: Link) -> TestResult<()> {
        let dir = cluster::make_temp_dir("trailmask-masking")?;
        let keys = dir.join("keys");
        let status = Command::new(env!("CARGO_BIN_EXE_trailmask"))
            .arg("keygen")
            .arg("--out")
            .arg(&keys)
            .stdout(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            return Err(format!("trailmask keygen failed: {status}").into());
        }
        let trail = dir.join("trail");
        std::fs::create_dir_all(&trail)?;
        let port = cluster::free_port()?;
        let metrics = cluster::free_port()?;
        let plain_upstream = "address = \"@UPSTREAM_ADDRESS@\"\ntls = { mode = \"disable\" }";
        if !CONFIG_TEMPLATE.contains(plain_upstream) {
            return Err("demo.toml no longer has the [upstream] lines to fill in".into());
        }
        let upstream_tls = match link {
            Link::Plain => "disable",
            Link::TlsOnly => "require",
        };
        let config = CONFIG_TEMPLATE
            .replace(
                plain_upstream,
                &format!("address = \"@UPSTREAM_ADDRESS@\"\ntls = {{ mode = \"{upstream_tls}\" }}"),
            )
            .replace("@LISTEN_ADDRESS@", &format!("127.0.0.1:{port}"))
            .replace("@UPSTREAM_ADDRESS@", &self.cluster.address())
            .replace("@METRICS_ADDRESS@", &format!("127.0.0.1:{metrics}"))
            .replace("@TRAIL_DIR@", &trail.display().to_string())
            .replace(
                "@SIGNING_KEY@",
                &keys.join("trail-signing.key").display().to_string(),
            )
            .replace(
                "trusted_functions = []",
                "trusted_functions = [\"public.room_rate\"]",
            );
        if !config.contains("\"public.room_rate\"") {
            return Err("demo.toml no longer has `trusted_functions = []` to fill in".into());
        }
        let config_path = dir.join("trailmask.toml");
        std::fs::write(&config_path, config)?;
        let mut hash_key = [0u8; 32];
        getrandom::fill(&mut hash_key).map_err(|e| format!("random bytes: {e}"))?;
        let log = std::fs::File::create(dir.join("proxy.log"))?;
        let catalog_password = self
            .passwords
            .get(CATALOG_USER)
            .cloned()
            .ok_or("no catalog password")?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_trailmask"))
            .arg("proxy")
            .arg("--config")
            .arg(&config_path)
            .env("TRAILMASK_CATALOG_PASSWORD", catalog_password)
            .env("TRAILMASK_TRAIL_HASH_KEY", hex(&hash_key))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.dir = Some(dir);
        for _ in 0..PORT_ATTEMPTS {
            if let Some(status) = child.try_wait()? {
                return Err(format!(
                    "the proxy exited with {status} before accepting; its log: {}",
                    self.proxy_log()
                )
                .into());
            }
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                self.proxy = Some(child);
                self.port = port;
                return Ok(());
            }
            tokio::time::sleep(PORT_POLL).await;
        }
        Err(format!(
            "the proxy did not accept on 127.0.0.1:{port}; its log: {}",
            self.proxy_log()
        )
        .into())
    }

    /// Whether a proxy sits in front (false under `TRAILMASK_TEST_TARGET=direct`).
    pub fn proxied(&self) -> bool {
        self.proxy.is_some()
    }

    /// The proxy's log so far (empty without a proxy).
    pub fn proxy_log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("proxy.log")).ok())
            .unwrap_or_default()
    }

    pub fn password(&self, login: &str) -> TestResult<&str> {
        self.passwords
            .get(login)
            .map(String::as_str)
            .ok_or_else(|| format!("no login {login}").into())
    }

    /// `127.0.0.1:<port>` of the target.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Key-value connection string through the target.
    pub fn conn_string(&self, login: &str) -> TestResult<String> {
        Ok(format!(
            "host=127.0.0.1 port={} user={login} password={} dbname={DATABASE} sslmode=disable",
            self.port,
            self.password(login)?
        ))
    }

    /// Key-value connection string straight to PostgreSQL.
    pub fn direct_conn_string(&self, login: &str) -> TestResult<String> {
        Ok(self
            .cluster
            .conn_string(login, self.password(login)?, DATABASE))
    }

    /// A raw frontend through the target.
    pub async fn raw(&self, login: &str) -> TestResult<RawConn> {
        RawConn::connect(&self.address(), login, self.password(login)?, DATABASE, &[]).await
    }

    /// A raw frontend straight to PostgreSQL.
    pub async fn raw_direct(&self, login: &str) -> TestResult<RawConn> {
        RawConn::connect(
            &self.cluster.address(),
            login,
            self.password(login)?,
            DATABASE,
            &[],
        )
        .await
    }

    /// tokio-postgres through the target.
    pub async fn connect(&self, login: &str) -> TestResult<Session> {
        Session::connect(&self.conn_string(login)?).await
    }

    /// tokio-postgres straight to PostgreSQL.
    pub async fn connect_direct(&self, login: &str) -> TestResult<Session> {
        Session::connect(&self.direct_conn_string(login)?).await
    }

    /// tokio-postgres as the superuser, straight to PostgreSQL, in `hotel`.
    pub async fn superuser(&self) -> TestResult<Session> {
        Session::connect(&self.cluster.conn_string(
            SUPERUSER,
            self.cluster.superuser_password(),
            DATABASE,
        ))
        .await
    }

    /// Replaces `@EXPORT_FILE@` (a server-side file with personal data) and `@DBA_CONN@` (a
    /// libpq string that logs in as dba directly) in a case's SQL.
    pub fn expand(&self, sql: &str) -> TestResult<String> {
        let dba = format!(
            "host=127.0.0.1 port={} dbname={DATABASE} user=dba password={}",
            self.cluster.port(),
            self.password("dba")?
        );
        Ok(sql
            .replace("@EXPORT_FILE@", &self.export_file.display().to_string())
            .replace("@DBA_CONN@", &dba))
    }

    /// `psql` through the target as `login` with extra arguments: (exit ok, stdout, stderr).
    pub async fn psql(&self, login: &str, args: &[&str]) -> TestResult<(bool, String, String)> {
        let out = Command::new(self.cluster.program("psql"))
            .arg("-X")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .args(args)
            .arg(self.conn_string(login)?)
            .stdin(Stdio::null())
            .output()
            .await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

impl Drop for Hotel {
    fn drop(&mut self) {
        if let Some(child) = &mut self.proxy {
            let _ = child.start_kill();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

type Built = (Cluster, BTreeMap<&'static str, String>, PathBuf);

/// initdb, schema, known data, logins, grants; blocking.
/// How clients other than local superuser tools may reach the hotel database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Plain,
    /// `ssl = on` and plaintext TCP connections rejected.
    TlsOnly,
}

fn build_database(link: Link) -> TestResult<Built> {
    let tls_only = link == Link::TlsOnly;
    let mut cluster = Cluster::start(Options {
        settings: vec!["shared_preload_libraries = 'pg_stat_statements'".to_owned()],
        ssl: tls_only,
        hba: if tls_only {
            vec!["hostnossl all all 127.0.0.1/32 reject".to_owned()]
        } else {
            Vec::new()
        },
        ..Options::default()
    })?;
    cluster.create_database(DATABASE)?;
    let mut passwords = BTreeMap::new();
    for login in LOGINS {
        let password = cluster::random_password();
        cluster.create_user(login, &password, PasswordAuth::Password)?;
        passwords.insert(login, password);
    }
    let catalog_password = cluster::random_password();
    cluster.create_user(CATALOG_USER, &catalog_password, PasswordAuth::Scram)?;
    passwords.insert(CATALOG_USER, catalog_password);

    for (name, sql) in [
        ("schema.sql", SCHEMA_SQL),
        ("setup.sql", SETUP_SQL),
        ("grants.sql", GRANTS_SQL),
    ] {
        let path = cluster.dir().join(name);
        std::fs::write(&path, sql)?;
        cluster.hand_over(&path)?;
        cluster.psql_file(DATABASE, &path)?;
    }
    let export_file = cluster.dir().join("guest-export.csv");
    std::fs::write(
        &export_file,
        "id,name,phone,national_id\n1,林美玉,0987654321,F223456789\n",
    )?;
    cluster.hand_over(&export_file)?;
    Ok((cluster, passwords, export_file))
}

// === running statements ===

/// Reads messages up to and including ReadyForQuery; the last one is the `Z`.
pub async fn simple(conn: &mut RawConn, sql: &str) -> TestResult<Vec<Message>> {
    conn.send(&raw::query(sql.as_bytes())).await?;
    conn.until_ready().await
}

/// Parse, Bind (all results binary), Execute, Sync — no Describe, as a driver that already
/// knows the statement would send.
pub async fn extended_binary(conn: &mut RawConn, sql: &str) -> TestResult<Vec<Message>> {
    let mut out = raw::parse("", sql.as_bytes());
    out.extend(raw::bind("", "", &[], 1));
    out.extend(raw::execute(""));
    out.extend(raw::sync());
    conn.send(&out).await?;
    conn.until_ready().await
}

/// Same, results in text.
pub async fn extended_text(conn: &mut RawConn, sql: &str) -> TestResult<Vec<Message>> {
    let mut out = raw::parse("", sql.as_bytes());
    out.extend(raw::bind("", "", &[], 0));
    out.extend(raw::execute(""));
    out.extend(raw::sync());
    conn.send(&out).await?;
    conn.until_ready().await
}

/// The transaction status of the final ReadyForQuery (`I`, `T`, `E`).
pub fn tx_status(messages: &[Message]) -> Option<u8> {
    messages
        .iter()
        .rev()
        .find(|m| m.tag == b'Z')
        .and_then(|m| m.body.first().copied())
}

/// ErrorResponses in `messages`.
pub fn errors(messages: &[Message]) -> Vec<&Message> {
    messages.iter().filter(|m| m.tag == b'E').collect()
}

/// DataRow values in `messages`.
pub fn rows(messages: &[Message]) -> TestResult<Vec<Vec<Option<Vec<u8>>>>> {
    messages
        .iter()
        .filter(|m| m.tag == b'D')
        .map(Message::data_row)
        .collect()
}

/// Rows as text (lossy UTF-8; NULL as `None`).
pub fn text_rows(messages: &[Message]) -> TestResult<Vec<Vec<Option<String>>>> {
    Ok(rows(messages)?
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                .collect()
        })
        .collect())
}

/// `SQLSTATE: message` of each error, for failure reports.
pub fn describe_errors(messages: &[Message]) -> String {
    errors(messages)
        .iter()
        .map(|e| {
            let f = e.fields();
            format!(
                "{}: {}",
                f.get(&b'C').cloned().unwrap_or_default(),
                f.get(&b'M').cloned().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The superuser's view of what a case could have changed (see `STATE_SQL`).
pub async fn state(superuser: &Session) -> TestResult<String> {
    let rows = superuser.simple_query(STATE_SQL).await?;
    for msg in rows {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            return Ok(row.get(0).unwrap_or_default().to_owned());
        }
    }
    Err("state query returned no row".into())
}

/// Undoes whatever a case changed.
pub async fn restore(superuser: &Session) -> TestResult<()> {
    superuser.batch_execute(RESTORE_SQL).await?;
    Ok(())
}

/// A SQL text on one line, cut to a readable length, for failure reports.
pub fn short(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 110 {
        format!("{}…", one_line.chars().take(110).collect::<String>())
    } else {
        one_line
    }
}
