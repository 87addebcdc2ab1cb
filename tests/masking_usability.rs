//! Masking must not get in the way of what each role may do (issue 4): roles that see a
//! column in clear get exactly what a direct read returns, in text and binary formats; masked
//! roles get the documented mask formats (SPEC.md, "Masks") in both formats, through a raw
//! frontend and through a driver that binds typed parameters (tokio-postgres, like JDBC, asks
//! for binary results); psql's `\d`, `\dt`, `\l`, `\d guests` and friends work for every role.
//!
//! Same hotel database and known values as the attack corpus (`support/masking.rs`).

#[path = "support/lib.rs"]
mod support;

#[path = "support/masking.rs"]
mod masking;

use masking::{
    date_from_2000, describe_errors, errors, extended_binary, leaks_in, needles, rows, simple,
    text_rows, Hotel, LOGINS,
};
use support::raw::Message;
use support::TestResult;
use tokio_postgres::types::{FromSql, Type};

/// Field values of each row (`None` = NULL), raw bytes.
type Rows = Vec<Vec<Option<Vec<u8>>>>;

/// Rows and COPY data of a reply, as raw bytes: what a client receives as results.
fn results(messages: &[Message]) -> TestResult<(Rows, Vec<Vec<u8>>)> {
    let copy = messages
        .iter()
        .filter(|m| m.tag == b'd')
        .map(|m| m.body.clone())
        .collect();
    Ok((rows(messages)?, copy))
}

/// Statements each role may run on columns it sees in clear (or on nothing personal): the
/// proxy must return byte for byte what PostgreSQL returns to the same login.
const CLEAR_READS: &[(&str, &str)] = &[
    ("front_desk", "SELECT id, name, phone, national_id FROM guests ORDER BY id"),
    ("front_desk", "SELECT upper(name), length(phone), national_id LIKE 'F%' FROM guests ORDER BY phone"),
    ("front_desk", "SELECT g.name, g.phone, b.check_in FROM guests g JOIN bookings b ON b.guest_id = g.id ORDER BY b.id"),
    ("front_desk", "SELECT id, name FROM guests WHERE phone LIKE '09%' ORDER BY national_id"),
    ("front_desk", "SELECT id, name, phone FROM guest_contacts ORDER BY id"),
    ("front_desk", "SELECT id, amount_twd, paid_at FROM payments ORDER BY id"),
    ("marketing", "SELECT id, email FROM guests ORDER BY id"),
    ("marketing", "SELECT id, lower(email) FROM guests WHERE email LIKE '%example.com' ORDER BY email"),
    ("marketing", "SELECT number, kind, bookings FROM occupancy ORDER BY number"),
    ("marketing", "SELECT id, public.room_rate(rate_twd) FROM rooms ORDER BY id"),
    ("marketing", "SELECT count(*) FROM guests"),
    ("marketing", "SELECT b.id, b.check_in, b.status FROM bookings b JOIN guests g ON g.id = b.guest_id WHERE g.national_id = 'F223456789'"),
    ("auditor", "SELECT id, guest_id, room_id, check_in, check_out, status FROM bookings ORDER BY id"),
    ("combo", "SELECT id, name, phone, national_id, email, upper(email) FROM guests ORDER BY phone"),
    ("dba", "SELECT * FROM guests ORDER BY id"),
    ("dba", "SELECT * FROM payments ORDER BY id"),
    ("dba", "SELECT row_to_json(g) FROM guests g ORDER BY id"),
    ("dba", "SELECT string_agg(phone, ',' ORDER BY id), min(birthday) FROM guests"),
    ("dba", "SELECT upper(name), phone::text, substr(national_id, 1, 3) FROM guests ORDER BY phone"),
    ("dba", "SELECT * FROM guest_shout ORDER BY id"),
    ("dba", "SELECT * FROM guest_contacts WHERE phone LIKE '09%' ORDER BY name"),
];

/// Clear reads through the proxy equal direct reads, in text (simple Query) and binary
/// (extended, no Describe) formats; `COPY … TO STDOUT` for dba too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_roles_see_exactly_what_postgresql_returns() -> TestResult {
    let hotel = Hotel::start().await?;
    let mut failures = Vec::new();
    for &(login, sql) in CLEAR_READS {
        for binary in [false, true] {
            let mut proxied = hotel.raw(login).await?;
            let mut direct = hotel.raw_direct(login).await?;
            let (got, want) = if binary {
                (
                    extended_binary(&mut proxied, sql).await?,
                    extended_binary(&mut direct, sql).await?,
                )
            } else {
                (
                    simple(&mut proxied, sql).await?,
                    simple(&mut direct, sql).await?,
                )
            };
            let format = if binary { "binary" } else { "text" };
            if !errors(&want).is_empty() {
                return Err(
                    format!("{login}: {sql}: fails directly: {}", describe_errors(&want)).into(),
                );
            }
            if !errors(&got).is_empty() {
                failures.push(format!(
                    "{login} ({format}): {sql}: error {}",
                    describe_errors(&got)
                ));
            } else if results(&got)? != results(&want)? {
                failures.push(format!(
                    "{login} ({format}): {sql}: differs from a direct read:\n      got  {:?}\n      want {:?}",
                    text_rows(&got)?.first(),
                    text_rows(&want)?.first()
                ));
            }
        }
    }
    for sql in [
        "COPY guests TO STDOUT",
        "COPY (SELECT * FROM payments ORDER BY id) TO STDOUT (FORMAT csv)",
    ] {
        let got = simple(&mut hotel.raw("dba").await?, sql).await?;
        let want = simple(&mut hotel.raw_direct("dba").await?, sql).await?;
        if !errors(&got).is_empty() || results(&got)? != results(&want)? {
            failures.push(format!(
                "dba: {sql}: differs from a direct COPY: {}",
                describe_errors(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "clear reads that differ:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// What a masked value must look like: exactly `Text`, or (Latin names, whose exact output the
/// SPEC leaves open) beginning with a letter and not the clear value.
#[derive(Debug, Clone, Copy)]
enum Want {
    Text(&'static str),
    /// year_only: the same type, 1 January of the year.
    Date(i32),
    /// name_zh of a Latin name: first letter kept, the clear value gone.
    Initial(char, &'static str),
}

impl Want {
    fn check(&self, value: Option<&[u8]>, binary: bool) -> Result<(), String> {
        let Some(value) = value else {
            return Err("NULL".to_owned());
        };
        let text = String::from_utf8_lossy(value);
        match *self {
            Want::Text(want) => (text == want)
                .then_some(())
                .ok_or(format!("{text:?}, want {want:?}")),
            Want::Date(year) if binary => {
                let days = <[u8; 4]>::try_from(value).map(i32::from_be_bytes);
                match days.map(date_from_2000) {
                    Ok(date) if date == (year, 1, 1) => Ok(()),
                    other => Err(format!("binary date {other:?}, want ({year}, 1, 1)")),
                }
            }
            Want::Date(year) => {
                let want = format!("{year}-01-01");
                (text == want)
                    .then_some(())
                    .ok_or(format!("{text:?}, want {want:?}"))
            }
            Want::Initial(first, clear) => {
                if text.starts_with(first) && text != clear && !text.contains(&clear[1..]) {
                    Ok(())
                } else {
                    Err(format!("{text:?}, want {first}… with the rest hidden"))
                }
            }
        }
    }
}

use Want::{Date, Initial, Text};

/// (login, SQL, expected rows) for masked reads of the known rows. E-mail local parts hide one
/// `*` per character after the first (SPEC: "one per hidden character"; `w***@example.com` is
/// the mask of a four-letter local part).
const MASKED_READS: &[(&str, &str, &[&[Want]])] = &[
    (
        "marketing",
        "SELECT name, phone, national_id, passport_no, birthday, address FROM guests WHERE id IN (1, 2) ORDER BY id",
        &[
            &[Text("林○玉"), Text("0987-***-321"), Text("F22345****"), Text("******678"), Date(1985), Text("****")],
            &[Initial('C', "Chen Wei-Ting"), Text("0912-***-678"), Text("A81234****"), Text("******987"), Date(1992), Text("****")],
        ],
    ),
    (
        "marketing",
        "SELECT card_number, card_holder FROM payments ORDER BY id",
        &[
            &[Text("************1111"), Text("王○明")],
            &[Text("************5559"), Initial('L', "Lee Siew Ling")],
        ],
    ),
    (
        "marketing",
        "SELECT p AS phone_alias FROM (SELECT id, phone AS p FROM guests) s WHERE id = 1",
        &[&[Text("0987-***-321")]],
    ),
    (
        "marketing",
        "SELECT name, phone FROM guest_contacts WHERE id = 1",
        &[&[Text("林○玉"), Text("0987-***-321")]],
    ),
    (
        "marketing",
        "SELECT shout, phone_copy FROM guest_shout WHERE id = 1",
        &[&[Text("****"), Text("****")]],
    ),
    (
        "front_desk",
        "SELECT name, email, passport_no, birthday, address FROM guests WHERE id = 1",
        &[&[Text("林美玉"), Text("m********@example.com"), Text("******678"), Date(1985), Text("****")]],
    ),
    (
        "front_desk",
        "SELECT card_holder FROM payments ORDER BY id",
        &[&[Text("王○明")], &[Initial('L', "Lee Siew Ling")]],
    ),
    (
        "auditor",
        "SELECT email, national_id, birthday FROM guests WHERE id IN (1, 2) ORDER BY id",
        &[
            &[Text("m********@example.com"), Text("F22345****"), Date(1985)],
            &[Text("w***********@example.org"), Text("A81234****"), Date(1992)],
        ],
    ),
    (
        "combo",
        "SELECT name, email, passport_no FROM guests WHERE id = 1",
        &[&[Text("林美玉"), Text("meiyu.lin@example.com"), Text("******678")]],
    ),
    (
        "intern",
        "SELECT name, phone, email FROM guest_contacts WHERE id = 1",
        &[&[Text("林○玉"), Text("0987-***-321"), Text("m********@example.com")]],
    ),
    (
        "marketing",
        "UPDATE guests SET created_at = created_at WHERE id = 1 RETURNING name, phone",
        &[&[Text("林○玉"), Text("0987-***-321")]],
    ),
];

fn check_rows(got: &[Vec<Option<Vec<u8>>>], want: &[&[Want]], binary: bool) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} rows, want {}", got.len(), want.len()));
    }
    for (r, (row, wants)) in got.iter().zip(want).enumerate() {
        if row.len() != wants.len() {
            return Err(format!(
                "row {r}: {} fields, want {}",
                row.len(),
                wants.len()
            ));
        }
        for (c, (value, w)) in row.iter().zip(wants.iter()).enumerate() {
            w.check(value.as_deref(), binary)
                .map_err(|e| format!("row {r} field {c}: {e}"))?;
        }
    }
    Ok(())
}

/// The documented formats, text and binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_roles_get_the_documented_formats() -> TestResult {
    let hotel = Hotel::start().await?;
    let mut failures = Vec::new();
    for &(login, sql, want) in MASKED_READS {
        for binary in [false, true] {
            let mut conn = hotel.raw(login).await?;
            let got = if binary {
                extended_binary(&mut conn, sql).await?
            } else {
                simple(&mut conn, sql).await?
            };
            let format = if binary { "binary" } else { "text" };
            if !errors(&got).is_empty() {
                failures.push(format!(
                    "{login} ({format}): {sql}: error {}",
                    describe_errors(&got)
                ));
                continue;
            }
            if let Err(e) = check_rows(&rows(&got)?, want, binary) {
                failures.push(format!("{login} ({format}): {sql}: {e}"));
            }
            let leaks = leaks_in(&got, &needles(login));
            if !leaks.is_empty() {
                failures.push(format!("{login} ({format}): {sql}: leaked {leaks:?}"));
            }
        }
    }
    // Point look-ups on a masked column still work (masked_predicates = equality).
    for (sql, want) in [
        (
            "SELECT id FROM guests WHERE phone = '0987654321'",
            vec!["1"],
        ),
        (
            "SELECT id FROM guests WHERE national_id IN ('F223456789', 'A812345678') ORDER BY id",
            vec!["1", "2"],
        ),
        ("SELECT id FROM guests WHERE passport_no IS NULL", vec![]),
    ] {
        let got = simple(&mut hotel.raw("marketing").await?, sql).await?;
        let ids: Vec<Option<String>> = text_rows(&got)?.into_iter().flatten().collect();
        let want: Vec<Option<String>> = want.into_iter().map(|s| Some(s.to_owned())).collect();
        if ids != want {
            failures.push(format!(
                "marketing: {sql}: got {ids:?} [{}], want {want:?}",
                describe_errors(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "masked reads:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// Any result value as its raw bytes, whatever its type (a driver's view of binary results).
struct RawValue(Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn raw_rows(rows: &[tokio_postgres::Row]) -> TestResult<Rows> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| Ok(row.try_get::<_, Option<RawValue>>(i)?.map(|v| v.0)))
                .collect()
        })
        .collect()
}

/// A driver with typed parameters (tokio-postgres binds them in binary and asks for binary
/// results, as JDBC does once a statement is prepared): masked for masked roles, equal to a
/// direct read for clear ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_results_through_a_driver_are_masked() -> TestResult {
    let hotel = Hotel::start().await?;
    let sql = "SELECT name, phone, national_id, birthday FROM guests WHERE id = $1";
    let marketing = hotel.connect("marketing").await?;
    let want: &[&[Want]] = &[&[
        Text("林○玉"),
        Text("0987-***-321"),
        Text("F22345****"),
        Date(1985),
    ]];

    let got = raw_rows(&marketing.query(sql, &[&1i64]).await?)?;
    check_rows(&got, want, true).map_err(|e| format!("query(): {e}"))?;

    let statement = marketing.prepare(sql).await?;
    for _ in 0..2 {
        let got = raw_rows(&marketing.query(&statement, &[&1i64]).await?)?;
        check_rows(&got, want, true).map_err(|e| format!("prepared query(): {e}"))?;
    }
    let typed = marketing.query_typed(sql, &[(&1i64, Type::INT8)]).await?;
    check_rows(&raw_rows(&typed)?, want, true).map_err(|e| format!("query_typed(): {e}"))?;

    // Clear roles: identical to a direct read, through the same driver.
    for login in ["front_desk", "dba"] {
        let sql = "SELECT id, name, phone, national_id FROM guests WHERE id = ANY($1) ORDER BY id";
        let ids: Vec<i64> = vec![1, 2, 101];
        let got = raw_rows(&hotel.connect(login).await?.query(sql, &[&ids]).await?)?;
        let want = raw_rows(
            &hotel
                .connect_direct(login)
                .await?
                .query(sql, &[&ids])
                .await?,
        )?;
        assert_eq!(got, want, "{login}: driver read differs from a direct read");
    }
    Ok(())
}

/// psql's describe commands run catalog queries full of casts, regexes, ORDER BY and functions;
/// none touches a personal column, so every role must get them (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describe_commands_work_for_every_role() -> TestResult {
    let hotel = Hotel::start().await?;
    let mut failures = Vec::new();
    let commands: &[(&str, &str)] = &[
        ("\\d", "guests"),
        ("\\dt", "guests"),
        ("\\l", "hotel"),
        ("\\d guests", "national_id"),
        ("\\d+ guest_contacts", "phone"),
        ("\\dv", "guest_contacts"),
        ("\\dn", "public"),
        ("\\du", "marketing"),
        ("\\df public.*", "room_rate"),
        ("\\dx", "dblink"),
        ("\\conninfo", "hotel"),
    ];
    for login in LOGINS {
        for &(command, expect) in commands {
            let (ok, stdout, stderr) = hotel.psql(login, &["-c", command]).await?;
            if !ok || !stdout.contains(expect) {
                failures.push(format!(
                    "{login}: psql -c '{command}': exit ok {ok}, {} bytes of output{}; stderr: {}",
                    stdout.len(),
                    if stdout.contains(expect) {
                        String::new()
                    } else {
                        format!(" without {expect:?}")
                    },
                    stderr.trim()
                ));
            }
            let leaks = masking::find_needles(stdout.as_bytes(), &needles(login));
            if !leaks.is_empty() {
                failures.push(format!("{login}: psql -c '{command}' printed {leaks:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "psql describe commands:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// Bind with one result format code per column (or none: all text), as drivers that mix
/// formats send it: each column is masked in its own format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_result_formats_are_masked_per_column() -> TestResult {
    let hotel = Hotel::start().await?;
    let sql = "SELECT birthday, name, birthday AS b2, phone FROM guests WHERE id = 1";
    let cases: [(&[i16], [bool; 4]); 4] = [
        (&[], [false; 4]),
        (&[1, 0, 0, 1], [true, false, false, true]),
        (&[0, 1, 1, 0], [false, true, true, false]),
        (&[1], [true; 4]),
    ];
    for (formats, binary) in cases {
        let mut conn = hotel.raw("marketing").await?;
        let mut out = support::raw::parse("", sql.as_bytes());
        out.extend(bind_formats(formats));
        out.extend(support::raw::execute(""));
        out.extend(support::raw::sync());
        conn.send(&out).await?;
        let got = conn.until_ready().await?;
        assert!(
            errors(&got).is_empty(),
            "{formats:?}: {}",
            describe_errors(&got)
        );
        let wants = [Date(1985), Text("林○玉"), Date(1985), Text("0987-***-321")];
        let rows = rows(&got)?;
        let row = rows.first().ok_or("no row")?;
        for (i, ((value, want), binary)) in row.iter().zip(wants).zip(binary).enumerate() {
            want.check(value.as_deref(), binary)
                .map_err(|e| format!("formats {formats:?}, field {i}: {e}"))?;
        }
        let leaks = leaks_in(&got, &needles("marketing"));
        assert!(leaks.is_empty(), "formats {formats:?}: leaked {leaks:?}");
    }
    Ok(())
}

/// Bind of the unnamed statement to the unnamed portal, no parameters, these result formats.
fn bind_formats(formats: &[i16]) -> Vec<u8> {
    let mut body = vec![0u8, 0u8];
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&i16::try_from(formats.len()).unwrap_or(0).to_be_bytes());
    for f in formats {
        body.extend_from_slice(&f.to_be_bytes());
    }
    support::raw::frame(b'B', &body)
}

/// A mask never hands back its input, even for values outside the format it was made for
/// (guest 3: one-character name and address, an international phone number, an e-mail address
/// without '@', a lower-case ID number, a passport number no longer than `keep_last(3)` keeps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masks_never_return_their_input() -> TestResult {
    let hotel = Hotel::start().await?;
    let sql =
        "SELECT name, phone, email, national_id, passport_no, address FROM guests WHERE id = 3";
    let clear = text_rows(&simple(&mut hotel.raw_direct("auditor").await?, sql).await?)?;
    let clear = clear.first().ok_or("guest 3 is missing")?.clone();
    let mut failures = Vec::new();
    for binary in [false, true] {
        let mut conn = hotel.raw("auditor").await?;
        let got = if binary {
            extended_binary(&mut conn, sql).await?
        } else {
            simple(&mut conn, sql).await?
        };
        if !errors(&got).is_empty() {
            failures.push(format!("binary {binary}: {}", describe_errors(&got)));
            continue;
        }
        let rows = text_rows(&got)?;
        let row = rows.first().ok_or("no row")?;
        for (i, (masked, input)) in row.iter().zip(&clear).enumerate() {
            let (Some(masked), Some(input)) = (masked, input) else {
                continue;
            };
            if masked == input || (input.chars().count() >= 4 && masked.contains(input.as_str())) {
                failures.push(format!(
                    "binary {binary}, column {i}: {input:?} came back as {masked:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "masks that returned their input:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// A database that accepts TLS connections only: trailmask's catalog login reaches it the way
/// sessions do (`[upstream] tls`), so masked roles get masked values rather than refusals, and
/// clear roles their clear values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_only_database_serves_every_role() -> TestResult {
    let hotel = Hotel::start_tls_only().await?;
    if !hotel.proxied() {
        // The raw frontend speaks no TLS; this case is about the proxy's upstream leg.
        return Ok(());
    }
    let sql = "SELECT id, phone, email FROM guests WHERE id = 1";
    let got = simple(&mut hotel.raw("marketing").await?, sql).await?;
    assert!(
        errors(&got).is_empty(),
        "marketing: {}\nproxy log: {}",
        describe_errors(&got),
        hotel.proxy_log()
    );
    assert!(
        leaks_in(&got, &needles("marketing")).is_empty(),
        "marketing saw clear values"
    );
    assert_eq!(
        text_rows(&got)?,
        vec![vec![
            Some("1".to_owned()),
            Some("0987-***-321".to_owned()),
            Some("meiyu.lin@example.com".to_owned()),
        ]],
        "marketing: the phone masked, the email (clear for marketing) as stored"
    );
    let got = simple(&mut hotel.raw("front_desk").await?, sql).await?;
    assert!(
        errors(&got).is_empty(),
        "front_desk: {}",
        describe_errors(&got)
    );
    assert_eq!(
        text_rows(&got)?.first().and_then(|r| r.get(1).cloned()),
        Some(Some("0987654321".to_owned())),
        "front_desk sees the phone in clear"
    );
    Ok(())
}
