//! The masking attack corpus (issue 4): well over 50 query shapes, each run through the proxy
//! as a role that sees personal columns masked, against a real PostgreSQL holding known values
//! (`support/masking.rs`). Every byte that comes back — values, errors, notices, notifications,
//! parameter statuses, COPY data — is scanned for every known clear value in several forms.
//!
//! Each case says what SPEC.md ("Masking — what must hold") requires of it:
//! [`Expect::Refused`] (SQLSTATE 42501 before the statement runs), [`Expect::Masked`] (rows come
//! back, masked), [`Expect::Allowed`] (runs; rows optional), [`Expect::NoLeak`] (the SPEC allows
//! either a refusal or masked/redacted rows) or [`Expect::ErrorScrubbed`] (PostgreSQL's error
//! keeps its SQLSTATE, loses DETAIL/HINT/CONTEXT and every value). Single statements run twice:
//! simple Query (text) and Parse/Bind/Execute/Sync without Describe, results binary.
//!
//! Each case also says what PostgreSQL alone does with it ([`Direct`]); the test
//! `every_attack_is_live_against_postgresql_alone` checks that against the database directly, so
//! no case passes only because PostgreSQL itself would refuse or return nothing.
//!
//! After every case the session must still answer `SELECT 1`, and nothing the case could have
//! written (loot table, new tables, large objects, sequence, guests, payments) may have changed.
//!
//! Beside the corpus, tests for what one statement text cannot express: refusals inside
//! transactions, savepoints and pipelines; COPY through a driver; splitting a Query under other
//! `standard_conforming_strings` and `client_encoding` settings; FunctionCall messages;
//! suspended portals; statement names redefined by SQL; a Query inside an extended batch; a
//! view redefined on the database behind the proxy. Each shows its attack working on
//! PostgreSQL alone before it checks the proxy.
//!
//! `TRAILMASK_TEST_TARGET=direct` runs the corpus against PostgreSQL and shows it failing.

#[path = "support/lib.rs"]
mod support;

#[path = "support/masking.rs"]
mod masking;

use std::collections::BTreeSet;

use masking::{
    describe_errors, errors, extended_binary, leaks_in, needles, restore, rows, short, simple,
    state, text_rows, tx_status, Hotel, Needle,
};
use support::raw::{self, Message, RawConn};
use support::TestResult;

/// What SPEC.md requires of a case run through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// ErrorResponse 42501 and nothing executed: no row, no COPY data, no CommandComplete.
    Refused,
    /// No error, at least one row (or COPY data), no clear value.
    Masked,
    /// No error, no clear value (the statement may return no rows).
    Allowed,
    /// Either `Refused` or `Masked`/`Allowed`: the SPEC lets trailmask refuse or redact.
    NoLeak,
    /// PostgreSQL's error with this SQLSTATE, without DETAIL, HINT, CONTEXT/WHERE or a value.
    ErrorScrubbed(&'static str),
    /// Several steps (a lenient setup) where trailmask may refuse any of them and later steps
    /// may then fail: whatever happens, no clear value comes back and the session stays usable.
    Contained,
}

/// What PostgreSQL alone does with the case (checked by a test of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direct {
    /// A known clear value comes back somewhere (for `ErrorScrubbed`: with that error).
    Leaks,
    /// It runs without error (the leak is indirect: an oracle, a side effect, a computed value).
    Runs,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    login: &'static str,
    /// Statements run first on the same connection (simple Query); each must succeed.
    setup: &'static [&'static str],
    sql: &'static str,
    expect: Expect,
    direct: Direct,
    /// Several statements in one Query: not sent as one Parse.
    simple_only: bool,
    /// Setup statements may fail (trailmask may refuse them); they are scanned all the same.
    lenient: bool,
}

const fn case(
    name: &'static str,
    login: &'static str,
    sql: &'static str,
    expect: Expect,
    direct: Direct,
) -> Case {
    Case {
        name,
        login,
        setup: &[],
        sql,
        expect,
        direct,
        simple_only: false,
        lenient: false,
    }
}

impl Case {
    const fn after(mut self, setup: &'static [&'static str]) -> Case {
        self.setup = setup;
        self
    }

    /// Setup steps that trailmask may refuse (the case is then [`Expect::Contained`]).
    const fn steps(mut self, setup: &'static [&'static str]) -> Case {
        self.setup = setup;
        self.lenient = true;
        self
    }

    const fn simple_only(mut self) -> Case {
        self.simple_only = true;
        self
    }
}

/// A case as marketing: everything personal masked but the e-mail address.
const fn mk(name: &'static str, sql: &'static str, expect: Expect, direct: Direct) -> Case {
    case(name, "marketing", sql, expect, direct)
}

use Direct::{Leaks, Runs};
use Expect::{Allowed, Contained, ErrorScrubbed, Masked, NoLeak, Refused};

const CORPUS: &[Case] = &[
    // --- bare columns: masked where the rows go to the client (rule 1) ---
    mk("bare columns", "SELECT name, phone, national_id, passport_no, birthday, address FROM guests", Masked, Leaks),
    mk("star", "SELECT * FROM guests", Masked, Leaks),
    mk("aliases", "SELECT g.phone AS p, g.national_id AS \"n\" FROM guests AS g", Masked, Leaks),
    mk("subquery, bare", "SELECT p FROM (SELECT phone AS p FROM guests) s", Masked, Leaks),
    mk("CTE, bare", "WITH c AS (SELECT phone, national_id FROM guests) SELECT * FROM c", Masked, Leaks),
    mk("join, bare", "SELECT b.id, g.name, g.phone FROM bookings b JOIN guests g ON g.id = b.guest_id", Masked, Leaks),
    mk("equality predicate", "SELECT id, phone FROM guests WHERE phone = '0987654321'", Masked, Leaks),
    mk("IN predicate", "SELECT id, national_id FROM guests WHERE national_id IN ('F223456789', 'A812345678')", Masked, Leaks),
    mk("IS NOT NULL predicate", "SELECT name FROM guests WHERE phone IS NOT NULL", Masked, Leaks),
    mk("ordered by a clear column", "SELECT phone FROM guests ORDER BY id LIMIT 2", Masked, Leaks),
    mk("grouped by the key, bare output", "SELECT id, phone FROM guests GROUP BY id", Masked, Leaks),
    mk("payments, bare", "SELECT card_number, card_holder FROM payments", Masked, Leaks),
    mk("three-table join, bare", "SELECT g.name, p.card_number FROM payments p JOIN bookings b ON b.id = p.booking_id JOIN guests g ON g.id = b.guest_id", Masked, Leaks),
    mk("VALUES join on equality", "SELECT g.id FROM guests g JOIN (VALUES ('0900000000')) v(p) ON g.phone = v.p", Allowed, Runs),
    mk("scalar subquery, bare", "SELECT (SELECT phone FROM guests WHERE id = 1) AS p", NoLeak, Leaks),
    mk("LATERAL alias, bare", "SELECT g.id, x.p2 FROM guests g, LATERAL (SELECT g.phone AS p2) x", NoLeak, Leaks),
    mk("DateStyle SQL, DMY", "SELECT birthday FROM guests", Masked, Leaks).after(&["SET DateStyle = 'SQL, DMY'"]),
    mk("DateStyle German", "SELECT birthday FROM guests", Masked, Leaks).after(&["SET DateStyle = 'German'"]),
    // --- views ---
    mk("view, plain columns", "SELECT name, phone, email FROM guest_contacts", Masked, Leaks),
    mk("view, computed columns", "SELECT shout, phone_copy FROM guest_shout", Masked, Leaks),
    mk("view, star", "SELECT * FROM guest_shout", Masked, Leaks),
    mk("view column in a function", "SELECT upper(phone) FROM guest_contacts", Refused, Leaks),
    mk("view column in LIKE", "SELECT id FROM guest_contacts WHERE phone LIKE '09%'", Refused, Runs),
    // --- functions ---
    mk("upper()", "SELECT upper(national_id), upper(name) FROM guests", Refused, Leaks),
    mk("lower()", "SELECT lower(passport_no) FROM guests", Refused, Leaks),
    mk("substr()", "SELECT substr(phone, 1, 10) FROM guests", Refused, Leaks),
    mk("concat()", "SELECT concat(phone, '') FROM guests", Refused, Leaks),
    mk("format()", "SELECT format('%s/%s', national_id, address) FROM guests", Refused, Leaks),
    mk("coalesce()", "SELECT coalesce(phone, 'none') FROM guests", Refused, Leaks),
    mk("nullif()", "SELECT nullif(address, '') FROM guests", Refused, Leaks),
    mk("greatest()", "SELECT greatest(passport_no, '') FROM guests", Refused, Leaks),
    mk("reverse(reverse())", "SELECT reverse(reverse(phone)) FROM guests", Refused, Leaks),
    mk("hex encoding", "SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM guests", Refused, Leaks),
    mk("md5()", "SELECT md5(phone) FROM guests", Refused, Runs),
    mk("length()", "SELECT id, length(address) FROM guests", Refused, Runs),
    mk("json_build_object()", "SELECT json_build_object('p', phone) FROM guests", Refused, Leaks),
    mk("ARRAY[]", "SELECT ARRAY[phone, national_id] FROM guests", Refused, Leaks),
    mk("ROW()", "SELECT ROW(name, phone) FROM guests", Refused, Leaks),
    mk("xmlelement() (unparsed)", "SELECT xmlelement(name x, phone) FROM guests", Refused, Leaks),
    mk("overlay()", "SELECT overlay(national_id placing 'X' from 1 for 1) FROM guests", Refused, Leaks),
    mk("unnest(ARRAY[…]) in FROM", "SELECT u FROM guests, unnest(ARRAY[phone]) AS u", Refused, Leaks),
    mk("set-returning function", "SELECT regexp_split_to_table(phone, '-') FROM guests", Refused, Leaks),
    mk("JSON path over a built object", "SELECT jsonb_path_query(jsonb_build_object('p', national_id), '$.p') FROM guests", Refused, Leaks),
    mk("to_char() of a date", "SELECT to_char(birthday, 'YYYY-MM-DD') FROM guests", Refused, Leaks),
    mk("extract() from a date", "SELECT extract(month FROM birthday) FROM guests", Refused, Runs),
    mk("age() of a date", "SELECT age(birthday) FROM guests", Refused, Runs),
    mk("old inheritance syntax guests*", "SELECT phone FROM guests*", NoLeak, Leaks),
    mk("COLLATE", "SELECT phone COLLATE \"C\" FROM guests", NoLeak, Leaks),
    // --- casts ---
    mk("cast to bigint", "SELECT replace(phone, '-', '')::bigint FROM guests WHERE id IN (1, 2)", Refused, Leaks),
    mk("cast plus one", "SELECT phone::bigint + 1 FROM guests WHERE id = 1", Refused, Runs),
    mk("CAST AS varchar", "SELECT CAST(national_id AS varchar(20)) FROM guests", Refused, Leaks),
    mk("date to text", "SELECT birthday::text FROM guests", Refused, Leaks),
    mk("text to bytea", "SELECT phone::bytea FROM guests", Refused, Leaks),
    mk("cast to char(4)", "SELECT national_id::char(4) FROM guests", Refused, Runs),
    // --- operators ---
    mk("|| operator", "SELECT phone || '' FROM guests", Refused, Leaks),
    mk("LIKE in the select list", "SELECT national_id LIKE 'F2%' FROM guests", Refused, Runs),
    mk("comparison in the select list", "SELECT phone = '0987000000' FROM guests", Refused, Runs),
    mk("date arithmetic", "SELECT birthday + 1 FROM guests", Refused, Runs),
    mk("date difference", "SELECT birthday - date '1985-01-01' FROM guests", Refused, Runs),
    mk("modulo on a card number", "SELECT card_number::numeric % 100000000 FROM payments", Refused, Runs),
    mk("OPERATOR() syntax", "SELECT 'x' OPERATOR(pg_catalog.||) phone FROM guests", Refused, Leaks),
    // --- CASE ---
    mk("CASE on LIKE", "SELECT CASE WHEN phone LIKE '09%' THEN 'mobile' ELSE 'landline' END FROM guests", Refused, Runs),
    mk("CASE passing the value", "SELECT CASE WHEN id > 0 THEN address END FROM guests", Refused, Leaks),
    // --- aggregates ---
    mk("string_agg()", "SELECT string_agg(phone, ',') FROM guests", Refused, Leaks),
    mk("array_agg()", "SELECT array_agg(national_id) FROM guests", Refused, Leaks),
    mk("min()/max()", "SELECT min(phone), max(national_id) FROM guests", Refused, Leaks),
    mk("min() of a date", "SELECT min(birthday) FROM guests WHERE id = 1", Refused, Leaks),
    mk("json_agg()", "SELECT json_agg(name) FROM guests", Refused, Leaks),
    mk("count(DISTINCT)", "SELECT count(DISTINCT phone) FROM guests", Refused, Runs),
    mk("FILTER on LIKE", "SELECT count(*) FILTER (WHERE phone LIKE '0987%') FROM guests", Refused, Runs),
    mk("mode() WITHIN GROUP", "SELECT mode() WITHIN GROUP (ORDER BY passport_no) FROM guests", Refused, Leaks),
    // --- windows ---
    mk("first_value() OVER", "SELECT first_value(phone) OVER (ORDER BY id) FROM guests", Refused, Leaks),
    mk("window ordered by a masked column", "SELECT id, row_number() OVER (ORDER BY national_id) FROM guests", Refused, Runs),
    mk("lag() OVER", "SELECT id, lag(address) OVER (ORDER BY id) FROM guests", Refused, Leaks),
    mk("PARTITION BY a masked column", "SELECT id, count(*) OVER (PARTITION BY birthday) FROM guests", Refused, Runs),
    mk("named WINDOW on a masked column", "SELECT id, rank() OVER w FROM guests WINDOW w AS (ORDER BY phone)", Refused, Runs),
    // --- ordering, grouping, DISTINCT ON ---
    mk("ORDER BY a masked column", "SELECT id FROM guests ORDER BY phone", Refused, Runs),
    mk("ORDER BY … DESC LIMIT 1", "SELECT id FROM guests ORDER BY national_id DESC LIMIT 1", Refused, Runs),
    mk("masked output ordered by itself", "SELECT phone FROM guests ORDER BY phone", Refused, Leaks),
    mk("GROUP BY a masked column", "SELECT birthday, count(*) FROM guests GROUP BY birthday", Refused, Leaks),
    mk("GROUP BY an expression", "SELECT count(*) FROM guests GROUP BY substr(phone, 1, 4)", Refused, Runs),
    mk("GROUP BY DISTINCT (unparsed)", "SELECT phone FROM guests GROUP BY DISTINCT phone, id", Refused, Leaks),
    mk("DISTINCT ON", "SELECT DISTINCT ON (phone) id FROM guests", Refused, Runs),
    mk("HAVING on max()", "SELECT count(*) FROM guests GROUP BY id HAVING max(national_id) > 'F'", Refused, Runs),
    // --- predicates beyond equality ---
    mk("LIKE", "SELECT id FROM guests WHERE phone LIKE '0987%'", Refused, Runs),
    mk("ILIKE", "SELECT id FROM guests WHERE national_id ILIKE 'f2%'", Refused, Runs),
    mk("regular expression", "SELECT id FROM guests WHERE national_id ~ '^F2'", Refused, Runs),
    mk("range", "SELECT id FROM guests WHERE birthday > '1985-01-01'", Refused, Runs),
    mk("BETWEEN", "SELECT id FROM guests WHERE phone BETWEEN '0987' AND '0988'", Refused, Runs),
    mk("function in WHERE", "SELECT id FROM guests WHERE length(name) = 3", Refused, Runs),
    mk("masked column on both sides", "SELECT id FROM guests WHERE phone = national_id", Refused, Runs),
    mk("OR with LIKE", "SELECT id FROM guests WHERE phone = '0900000000' OR address LIKE '台北%'", Refused, Runs),
    mk("EXISTS with LIKE", "SELECT 1 WHERE EXISTS (SELECT 1 FROM guests WHERE national_id LIKE 'F22%')", Refused, Runs),
    mk("JOIN ON LIKE", "SELECT b.id FROM bookings b JOIN guests g ON g.id = b.guest_id AND g.phone LIKE '0987%'", Refused, Runs),
    mk("self-join on a masked column", "SELECT g1.id FROM guests g1 JOIN guests g2 ON g1.phone = g2.phone", Refused, Runs),
    mk("IN (subquery of a masked column)", "SELECT id FROM guests WHERE phone IN (SELECT phone FROM guests WHERE id = 1)", Refused, Runs),
    mk("VALUES join on LIKE", "SELECT g.id FROM guests g JOIN (VALUES ('0987%')) v(p) ON g.phone LIKE v.p", Refused, Runs),
    mk("EXPLAIN ANALYZE with LIKE", "EXPLAIN ANALYZE SELECT id FROM guests WHERE phone LIKE '0987%'", Refused, Runs),
    // --- laundering through subqueries, CTEs, UNION ---
    mk("subquery computes", "SELECT x FROM (SELECT lower(national_id) AS x FROM guests) s", Refused, Leaks),
    mk("scalar subquery computes", "SELECT (SELECT upper(address) FROM guests WHERE id = 1)", Refused, Leaks),
    mk("CTE computes", "WITH c AS (SELECT phone || '' AS p FROM guests) SELECT p FROM c", Refused, Leaks),
    mk("function over a CTE alias", "WITH c AS MATERIALIZED (SELECT phone AS p FROM guests) SELECT upper(p) FROM c", Refused, Leaks),
    mk("function over a subquery alias", "SELECT concat(s.n, '') FROM (SELECT national_id AS n FROM guests) s", Refused, Leaks),
    mk("subquery ordered by a masked column", "SELECT * FROM (SELECT id FROM guests ORDER BY phone LIMIT 1) s", Refused, Runs),
    mk("LATERAL computes", "SELECT v.i, s.u FROM (VALUES (1)) v(i) CROSS JOIN LATERAL (SELECT upper(phone) AS u FROM guests) s", Refused, Leaks),
    mk("recursive CTE computes", "WITH RECURSIVE r(p, n) AS (SELECT phone, 1 FROM guests WHERE id = 1 UNION ALL SELECT p || '', n + 1 FROM r WHERE n < 2) SELECT p FROM r", Refused, Leaks),
    mk("UNION of masked columns", "SELECT phone FROM guests UNION SELECT national_id FROM guests", NoLeak, Leaks),
    mk("UNION ALL with a literal", "SELECT address FROM guests WHERE id = 1 UNION ALL SELECT 'x'", NoLeak, Leaks),
    mk("UNION ALL of a function", "SELECT upper(phone) FROM guests UNION ALL SELECT 'x'", Refused, Leaks),
    // --- whole-row references ---
    mk("whole row g", "SELECT g FROM guests g", Refused, Leaks),
    mk("row_to_json(g)", "SELECT row_to_json(g) FROM guests g", Refused, Leaks),
    mk("g::text", "SELECT g::text FROM guests g", Refused, Leaks),
    mk("to_jsonb(g)", "SELECT to_jsonb(g) FROM guests g", Refused, Leaks),
    mk("whole row of payments", "SELECT p::text FROM payments p", Refused, Leaks),
    mk("whole row in WHERE", "SELECT id FROM guests g WHERE g::text LIKE '%0987%'", Refused, Runs),
    mk("json_populate_record(row_to_json(g))", "SELECT json_populate_record(NULL::guests, row_to_json(g)) FROM guests g", Refused, Leaks),
    mk("field of a whole row", "SELECT (g).phone FROM guests g", NoLeak, Leaks),
    // --- the same operators and names, spelled differently ---
    mk("LIKE spelled ~~", "SELECT id FROM guests WHERE phone ~~ '0987%'", Refused, Runs),
    mk("LIKE as OPERATOR(pg_catalog.~~)", "SELECT id FROM guests WHERE phone OPERATOR(pg_catalog.~~) '0987%'", Refused, Runs),
    mk("starts-with operator ^@", "SELECT id FROM guests WHERE phone ^@ '0987'", Refused, Runs),
    mk("SIMILAR TO", "SELECT id FROM guests WHERE national_id SIMILAR TO 'F2%'", Refused, Runs),
    mk("comment between column and LIKE", "SELECT id FROM guests WHERE phone/**/LIKE '0987%'", Refused, Runs),
    mk("CASE in WHERE", "SELECT id FROM guests WHERE CASE phone WHEN '0987654321' THEN true ELSE false END", Refused, Runs),
    mk("= ALL (masked subquery)", "SELECT id FROM guests WHERE phone = ALL (SELECT phone FROM guests WHERE id = 1)", Refused, Runs),
    mk("Unicode-escaped column in a function", "SELECT upper(U&\"\\0070hone\") FROM guests", NoLeak, Leaks),
    mk("Unicode-escaped column in LIKE", "SELECT id FROM guests WHERE U&\"\\0070hone\" LIKE '0987%'", Refused, Runs),
    mk("Unicode escape with UESCAPE", "SELECT id FROM guests WHERE U&\"!0070hone\" UESCAPE '!' LIKE '0987%'", Refused, Runs),
    // --- ordering hidden inside aggregates and grouping ---
    mk("aggregate ORDER BY a masked column", "SELECT string_agg(id::text, ',' ORDER BY phone) FROM guests", Refused, Runs),
    mk("array_agg ORDER BY a masked column", "SELECT array_agg(id ORDER BY national_id DESC) FROM guests", Refused, Runs),
    mk("hypothetical-set aggregate", "SELECT percent_rank('0987') WITHIN GROUP (ORDER BY phone) FROM guests", Refused, Runs),
    mk("GROUPING SETS", "SELECT count(*) FROM guests GROUP BY GROUPING SETS ((birthday), ())", Refused, Runs),
    mk("ROLLUP", "SELECT count(*) FROM guests GROUP BY ROLLUP (phone)", Refused, Runs),
    mk("DISTINCT ON with ORDER BY a masked column", "SELECT DISTINCT ON (id) phone FROM guests ORDER BY id, phone", Refused, Leaks),
    mk("ORDER BY … COLLATE", "SELECT id FROM guests ORDER BY phone COLLATE \"C\"", Refused, Runs),
    mk("recursive CTE SEARCH BY a masked column", "WITH RECURSIVE r AS (SELECT id, phone FROM guests UNION ALL SELECT g.id, g.phone FROM guests g JOIN r ON false) SEARCH DEPTH FIRST BY phone SET ord SELECT ord FROM r", NoLeak, Leaks),
    mk("recursive CTE CYCLE on a masked column", "WITH RECURSIVE r AS (SELECT id, national_id FROM guests UNION ALL SELECT g.id, g.national_id FROM guests g JOIN r ON false) CYCLE national_id SET is_cycle USING path SELECT path FROM r", NoLeak, Leaks),
    // --- whole rows spelled differently ---
    mk("whole row by table name", "SELECT guests FROM guests", Refused, Leaks),
    mk("row_to_json(table name)", "SELECT row_to_json(guests) FROM guests", Refused, Leaks),
    mk("(table.*)::text", "SELECT (guests.*)::text FROM guests", Refused, Leaks),
    mk("ROW(table.*)", "SELECT ROW(guests.*) FROM guests", Refused, Leaks),
    mk("json_agg(g)", "SELECT json_agg(g) FROM guests g", Refused, Leaks),
    mk("format('%s', g)", "SELECT format('%s', g) FROM guests g", Refused, Leaks),
    mk("whole-row equality in WHERE", "SELECT id FROM guests g WHERE g = g", Refused, Runs),
    mk("field of a row-valued subquery", "SELECT ((SELECT g FROM guests g WHERE id = 1)).phone", NoLeak, Leaks),
    mk("whole row of a view", "SELECT c FROM guest_contacts c", NoLeak, Leaks),
    // --- data written elsewhere ---
    mk("INSERT … SELECT", "INSERT INTO loot SELECT phone FROM guests", Refused, Runs),
    mk("INSERT … VALUES (subquery)", "INSERT INTO loot VALUES ((SELECT national_id FROM guests WHERE id = 1))", Refused, Runs),
    mk("CTE feeding INSERT", "WITH x AS (SELECT address FROM guests) INSERT INTO loot SELECT * FROM x", Refused, Runs),
    mk("CREATE TABLE AS", "CREATE TABLE ctas_loot AS SELECT phone FROM guests", Refused, Runs),
    mk("SELECT INTO", "SELECT phone INTO into_loot FROM guests", Refused, Runs),
    mk("UPDATE … SET x = phone", "UPDATE guests SET address = phone WHERE id = 1", Refused, Runs),
    mk("UPDATE … SET x = (subquery)", "UPDATE loot SET t = (SELECT national_id FROM guests WHERE id = 1)", Refused, Runs),
    mk("data-modifying CTE", "WITH u AS (UPDATE guests SET created_at = created_at WHERE id = 2 RETURNING phone) INSERT INTO loot SELECT phone FROM u", Refused, Runs),
    mk("ON CONFLICT DO UPDATE copies a masked column", "INSERT INTO guests (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET email = guests.phone", Refused, Runs),
    mk("UPDATE … FROM copies a masked column", "UPDATE guests SET email = g2.national_id FROM guests g2 WHERE g2.id = guests.id AND guests.id = 1", Refused, Runs),
    mk("MERGE copies a masked column", "MERGE INTO guests g USING guests s ON g.id = s.id AND g.id = 1 WHEN MATCHED THEN UPDATE SET email = s.phone", Refused, Runs),
    mk("UPDATE … SET from a CASE oracle", "UPDATE guests SET email = CASE WHEN phone LIKE '09%' THEN 'mobile@example.com' ELSE email END WHERE id = 1", Refused, Runs),
    mk("UPDATE … WHERE LIKE", "UPDATE guests SET email = 'matched@example.com' WHERE phone LIKE '0987%'", Refused, Runs),
    mk("UPDATE … RETURNING a copied value", "UPDATE guests SET email = phone WHERE id = 1 RETURNING email", Refused, Leaks),
    mk("UPDATE through a view copies a masked column", "UPDATE guest_contacts SET email = phone WHERE id = 1", Refused, Runs),
    mk("UPDATE through a view, WHERE LIKE", "UPDATE guest_contacts SET email = 'x@example.com' WHERE phone LIKE '09%'", Refused, Runs),
    mk("UPDATE through a view, RETURNING bare", "UPDATE guest_contacts SET email = email WHERE id = 1 RETURNING name, phone", Masked, Leaks),
    mk("UPDATE … RETURNING, bare", "UPDATE guests SET created_at = created_at WHERE id = 1 RETURNING phone, national_id, name", Masked, Leaks),
    mk("UPDATE … RETURNING a function", "UPDATE guests SET created_at = created_at WHERE id = 1 RETURNING upper(address)", Refused, Leaks),
    // --- COPY … TO ---
    mk("COPY (SELECT) TO STDOUT", "COPY (SELECT phone FROM guests) TO STDOUT", Refused, Leaks),
    mk("COPY table TO STDOUT", "COPY guests TO STDOUT", Refused, Leaks),
    mk("COPY columns TO STDOUT", "COPY guests (id, national_id) TO STDOUT", Refused, Leaks),
    mk("COPY binary TO STDOUT", "COPY (SELECT name FROM guests) TO STDOUT (FORMAT binary)", Refused, Leaks),
    mk("COPY payments TO STDOUT", "COPY payments TO STDOUT", Refused, Leaks),
    // --- side effects ---
    mk("set_config(application_name)", "SELECT set_config('application_name', phone, false) FROM guests WHERE id = 1", Refused, Leaks),
    mk("set_config(custom)", "SELECT set_config('app.x', national_id, false) FROM guests WHERE id = 1", Refused, Leaks),
    mk("setval()", "SELECT setval('loot_seq', replace(phone, '-', '')::bigint) FROM guests WHERE id = 1", Refused, Leaks),
    mk("pg_notify()", "SELECT pg_notify('ch', phone) FROM guests WHERE id = 1", Refused, Leaks).after(&["LISTEN ch"]),
    mk("advisory lock", "SELECT pg_advisory_lock(hashtext(phone)) FROM guests WHERE id = 1", Refused, Runs),
    mk("advisory xact lock", "SELECT pg_try_advisory_xact_lock(replace(phone, '-', '')::bigint) FROM guests WHERE id = 1", Refused, Runs),
    mk("lo_from_bytea() of a literal", "SELECT lo_from_bytea(0, '\\x00'::bytea)", Refused, Runs),
    mk("large object of a masked value", "SELECT lo_from_bytea(0, convert_to(phone, 'UTF8')) FROM guests WHERE id = 1", Refused, Runs),
    // --- SQL given as text, data read out of band ---
    mk("query_to_xml()", "SELECT query_to_xml('SELECT phone FROM guests', true, false, '')", Refused, Leaks),
    mk("table_to_xml()", "SELECT table_to_xml('guests', true, false, '')", Refused, Leaks),
    mk("query_to_xml_and_xmlschema()", "SELECT query_to_xml_and_xmlschema('SELECT national_id FROM guests', true, false, '')", Refused, Leaks),
    mk("cursor_to_xml() over an allowed cursor", "SELECT cursor_to_xml('c', 10, false, false, '')", Refused, Leaks)
        .after(&["BEGIN", "DECLARE c CURSOR FOR SELECT phone, national_id FROM guests"]),
    mk("pg_read_file()", "SELECT pg_read_file('@EXPORT_FILE@')", Refused, Leaks),
    mk("pg_read_binary_file()", "SELECT pg_read_binary_file('@EXPORT_FILE@')", Refused, Leaks),
    mk("COPY FROM a server file, then read", "SELECT t FROM loot", Contained, Leaks)
        .steps(&["COPY loot FROM '@EXPORT_FILE@'"]),
    mk("dblink()", "SELECT * FROM dblink('@DBA_CONN@', 'SELECT phone FROM guests') AS t(p text)", Refused, Leaks),
    mk("dblink_connect()", "SELECT dblink_connect('c1', '@DBA_CONN@')", Refused, Runs),
    // --- DO blocks and functions outside pg_catalog ---
    mk("DO with RAISE NOTICE", "DO $$BEGIN RAISE NOTICE '%', (SELECT phone FROM guests WHERE id = 1); END$$", Refused, Leaks),
    mk("DO with set_config", "DO $$BEGIN PERFORM set_config('application_name', (SELECT national_id FROM guests WHERE id = 1), false); END$$", Refused, Leaks),
    mk("DO doing nothing", "DO $$BEGIN NULL; END$$", Refused, Runs),
    mk("untrusted function of a masked column", "SELECT public.leak(phone) FROM guests", Refused, Leaks),
    mk("untrusted function, unqualified", "SELECT leak(address) FROM guests", Refused, Leaks),
    mk("untrusted function without arguments", "SELECT public.peek()", Refused, Leaks),
    mk("untrusted function in WHERE", "SELECT id FROM guests WHERE public.leak(phone) = '0'", Refused, Runs),
    mk("trusted function over a computed value", "SELECT public.room_rate(length(phone)) FROM guests", Refused, Runs),
    // --- catalog views that expose data or other sessions' SQL ---
    mk("pg_stats histogram", "SELECT histogram_bounds::text FROM pg_stats WHERE tablename = 'guests'", Refused, Leaks),
    mk("pg_stats star", "SELECT * FROM pg_stats WHERE tablename = 'guests' AND attname = 'phone'", Refused, Leaks),
    mk("pg_statistic", "SELECT stavalues1::text FROM pg_statistic", Refused, Leaks),
    mk("pg_stats_ext", "SELECT * FROM pg_stats_ext", Refused, Runs),
    mk("pg_stat_activity", "SELECT query FROM pg_stat_activity", Refused, Leaks),
    mk("pg_catalog.pg_stat_activity", "SELECT query FROM pg_catalog.pg_stat_activity", Refused, Leaks),
    mk("pg_stat_get_activity()", "SELECT * FROM pg_stat_get_activity(NULL)", Refused, Leaks),
    mk("pg_stat_get_backend_activity()", "SELECT pg_stat_get_backend_activity(s) FROM pg_stat_get_backend_idset() s", Refused, Leaks),
    mk("pg_stat_statements", "SELECT query FROM pg_stat_statements", Refused, Runs),
    // --- cursors and prepared statements ---
    mk("FETCH from a cursor", "FETCH ALL FROM c", Masked, Leaks)
        .after(&["BEGIN", "DECLARE c CURSOR FOR SELECT name, phone, national_id FROM guests"]),
    mk("FETCH BACKWARD from a scroll cursor", "FETCH BACKWARD 1 FROM c", Masked, Leaks)
        .after(&["BEGIN", "DECLARE c SCROLL CURSOR FOR SELECT address FROM guests", "MOVE 2 IN c"]),
    mk("DECLARE over a function", "DECLARE c CURSOR FOR SELECT upper(phone) FROM guests", Refused, Runs)
        .after(&["BEGIN"]),
    mk("EXECUTE a prepared statement", "EXECUTE p", Masked, Leaks)
        .after(&["PREPARE p AS SELECT phone, birthday FROM guests"]),
    mk("EXECUTE with a parameter", "EXECUTE r(1)", Masked, Leaks)
        .after(&["PREPARE r(bigint) AS SELECT address FROM guests WHERE id = $1"]),
    mk("PREPARE over a function", "PREPARE q AS SELECT lower(national_id) FROM guests", Refused, Runs),
    // --- SQL the parser cannot read (policy.unparsed = deny) ---
    mk("TABLE guests", "TABLE guests", NoLeak, Leaks),
    mk("FOR NO KEY UPDATE", "SELECT phone FROM guests WHERE id = 1 FOR NO KEY UPDATE", NoLeak, Leaks),
    // --- errors and notices from PostgreSQL ---
    mk("check violation prints the row", "UPDATE guests SET passport_no = repeat('x', 30) WHERE id = 1", ErrorScrubbed("23514"), Leaks),
    mk("NOT NULL violation prints the row", "UPDATE guests SET name = NULL WHERE id = 1", ErrorScrubbed("23502"), Leaks),
    mk("unique violation names the key", "UPDATE guests SET national_id = 'A812345678' WHERE id = 1", ErrorScrubbed("23505"), Leaks),
    mk("trigger error quotes a value", "UPDATE guests SET email = 'error-quoted@example.com' WHERE id = 1", ErrorScrubbed("P0001"), Leaks),
    mk("trigger's dynamic SQL fails on a value", "UPDATE guests SET email = 'error-dynamic@example.com' WHERE id = 1", ErrorScrubbed("22P02"), Leaks),
    mk("trigger error with values in its fields", "UPDATE guests SET email = 'error-fields@example.com' WHERE id = 1", ErrorScrubbed("P0001"), Leaks),
    mk("value the client_encoding cannot hold", "SELECT address FROM guests WHERE id = 1", ErrorScrubbed("22P05"), Leaks)
        .after(&["SET client_encoding = 'LATIN1'"]),
    mk("trigger notice quotes a value", "UPDATE guests SET email = 'notice-quoted@example.com' WHERE id = 1", Allowed, Leaks),
    mk("trigger notice with a bare value", "UPDATE guests SET email = 'notice-bare@example.com' WHERE id = 1", Allowed, Leaks),
    // --- one refused statement refuses the whole Query ---
    mk("multi-statement: write, then refused", "INSERT INTO loot VALUES ('first'); SELECT upper(phone) FROM guests", Refused, Leaks).simple_only(),
    mk("multi-statement: select, refused, select", "SELECT 'before'; SELECT phone::text FROM guests; SELECT 'after'", Refused, Leaks).simple_only(),
    // --- output names that belong to other (clear) columns ---
    mk("masked columns aliased as clear ones", "SELECT national_id AS email, phone AS id FROM guests", Masked, Leaks),
    mk("swapped aliases", "SELECT phone AS name, name AS phone FROM guests", Masked, Leaks),
    mk("subquery alias named like a clear column", "SELECT email FROM (SELECT national_id AS email FROM guests) s", Masked, Leaks),
    mk("CTE column list", "WITH c(email) AS (SELECT phone FROM guests) SELECT email FROM c", Masked, Leaks),
    mk("derived table column list", "SELECT s.email FROM (SELECT phone FROM guests) AS s(email)", Masked, Leaks),
    // Masked by rule 1, but the SPEC also lets trailmask refuse SQL its parser cannot read.
    mk("table alias column list", "SELECT x.c3, x.c5 FROM guests AS x(c1, c2, c3, c4, c5)", NoLeak, Leaks),
    mk("clear column UNION masked column", "SELECT email FROM guests UNION ALL SELECT national_id FROM guests", NoLeak, Leaks),
    // The implied join condition compares masked columns with masked columns.
    mk("NATURAL JOIN with a view", "SELECT * FROM guests NATURAL JOIN guest_contacts", Refused, Leaks),
    mk("JOIN USING", "SELECT * FROM guests JOIN guest_contacts USING (id)", Masked, Leaks),
    mk("VALUES of a scalar subquery", "VALUES ((SELECT phone FROM guests WHERE id = 1))", NoLeak, Leaks),
    mk("upper-case identifiers", "SELECT PHONE, NATIONAL_ID FROM GUESTS", Masked, Leaks),
    mk("quoted, schema-qualified identifiers", "SELECT \"phone\" FROM \"public\".\"guests\"", Masked, Leaks),
    mk("database-qualified table", "SELECT phone FROM hotel.public.guests", NoLeak, Leaks),
    mk("ONLY", "SELECT phone FROM ONLY guests", Masked, Leaks),
    mk("system columns beside a masked one", "SELECT tableoid::regclass, ctid, xmin, phone FROM guests", Masked, Leaks),
    mk("FOR UPDATE", "SELECT phone FROM guests WHERE id = 1 FOR UPDATE", Masked, Leaks),
    mk("TABLESAMPLE", "SELECT phone FROM guests TABLESAMPLE SYSTEM (100)", NoLeak, Leaks),
    mk("WITH HOLD cursor", "FETCH ALL FROM hc", Masked, Leaks)
        .after(&["DECLARE hc CURSOR WITH HOLD FOR SELECT phone, national_id FROM guests"]),
    mk("client_encoding BIG5", "SELECT name, address FROM guests", Masked, Leaks)
        .after(&["SET client_encoding = 'BIG5'"]),
    mk("client_encoding GBK", "SELECT name, address FROM guests", Masked, Leaks)
        .after(&["SET client_encoding = 'GBK'"]),
    // --- ordering and grouping by position or alias ---
    mk("ORDER BY ordinal", "SELECT id, phone FROM guests ORDER BY 2", Refused, Leaks),
    mk("ORDER BY output alias", "SELECT phone AS p FROM guests ORDER BY p", Refused, Leaks),
    mk("GROUP BY ordinal", "SELECT phone, count(*) FROM guests GROUP BY 1", Refused, Leaks),
    mk("plain DISTINCT", "SELECT DISTINCT phone FROM guests", NoLeak, Leaks),
    mk("UNION ordered by the masked output", "SELECT phone FROM guests WHERE id = 1 UNION SELECT 'x' ORDER BY 1", Refused, Leaks),
    // --- more predicates ---
    mk("IS DISTINCT FROM", "SELECT id FROM guests WHERE phone IS DISTINCT FROM '0900000000'", Refused, Runs),
    mk("NOT (<>)", "SELECT id FROM guests WHERE NOT (phone <> '0900000000')", Refused, Runs),
    mk("equality with a masked subquery", "SELECT id FROM guests WHERE phone = (SELECT national_id FROM guests WHERE id = 2)", Refused, Runs),
    mk("row comparison range", "SELECT id FROM guests WHERE (phone, id) > ('0987', 0)", Refused, Runs),
    mk("cast in WHERE", "SELECT id FROM guests WHERE phone::text = '0900000000'", Refused, Runs),
    mk("IS NULL in the select list", "SELECT phone IS NULL FROM guests", Refused, Runs),
    mk("count(column)", "SELECT count(phone) FROM guests", Refused, Runs),
    mk("LIMIT from a masked value", "SELECT id FROM guests LIMIT (SELECT length(phone) FROM guests WHERE id = 1)", Refused, Runs),
    mk("division-by-zero oracle", "SELECT id FROM guests WHERE id = 1 AND 1 / (CASE WHEN substr(national_id, 2, 1) = '9' THEN 0 ELSE 1 END) = 1", Refused, Runs),
    mk("comparison of a scalar subquery", "SELECT (SELECT phone FROM guests WHERE id = 1) = '0987000000'", Refused, Runs),
    // --- spelling a function call differently ---
    mk("comment inside a call", "SELECT upper/**/(phone) FROM guests", Refused, Leaks),
    mk("pg_catalog-qualified call", "SELECT pg_catalog.upper(phone) FROM guests", Refused, Leaks),
    mk("quoted function name", "SELECT \"upper\"(phone) FROM guests", Refused, Leaks),
    mk("upper-case untrusted function", "SELECT PUBLIC.LEAK(phone) FROM guests", Refused, Leaks),
    mk("own function in attribute notation", "SELECT g.mk_row FROM guests g", Contained, Leaks)
        .steps(&["CREATE FUNCTION public.mk_row(guests) RETURNS text LANGUAGE sql AS 'SELECT $1.phone'"]),
    // --- splitting a Query the way PostgreSQL does ---
    mk("backslash before a quote", "SELECT '\\'; SELECT upper(phone) FROM guests; --'", Refused, Leaks).simple_only(),
    mk("E'' string with an escaped quote", "SELECT E'\\''; SELECT upper(phone) FROM guests; --'", Refused, Leaks).simple_only(),
    mk("standard_conforming_strings off", "SELECT '\\''; SELECT upper(phone) FROM guests; --'", Refused, Leaks)
        .after(&["SET standard_conforming_strings = off"])
        .simple_only(),
    mk("standard_conforming_strings off by set_config()", "SELECT '\\''; SELECT upper(phone) FROM guests; --'", Refused, Leaks)
        .after(&["SELECT set_config('standard_conforming_strings', 'off', false)"])
        .simple_only(),
    mk("tagged dollar quote", "SELECT $a$ $$ $a$; SELECT upper(phone) FROM guests", Refused, Leaks).simple_only(),
    mk("semicolon in a quoted identifier", "SELECT 1 AS \";\"; SELECT upper(phone) FROM guests", Refused, Leaks).simple_only(),
    mk("nested comment", "SELECT 1 /* /* */ ; SELECT 2 */; SELECT upper(phone) FROM guests", Refused, Leaks).simple_only(),
    mk("BEGIN … COMMIT in one Query", "BEGIN; INSERT INTO loot VALUES ('x'); SELECT upper(phone) FROM guests; COMMIT", Refused, Leaks).simple_only(),
    // --- objects the attacker creates, names the attacker shadows ---
    mk("temp table shadowed by search_path, function", "SELECT upper(phone) FROM guests", Refused, Leaks)
        .after(&["CREATE TEMP TABLE guests (id bigint, name text, phone text)", "SET search_path = public, pg_temp"]),
    mk("temp table shadowed by search_path, bare", "SELECT name, phone FROM guests", Masked, Leaks)
        .after(&["CREATE TEMP TABLE guests (id bigint, name text, phone text)", "SET search_path = public, pg_temp"]),
    mk("own '=' operator ahead of pg_catalog", "SELECT t FROM loot", Contained, Leaks).steps(&[
        "CREATE FUNCTION public.mk_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN INSERT INTO loot VALUES ($1); RAISE NOTICE 'saw %', $1; RETURN $1 OPERATOR(pg_catalog.=) $2; END$$",
        "CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.mk_eq)",
        "SET search_path = public, pg_catalog",
        "SELECT id FROM guests WHERE phone = '0900000000'",
    ]),
    mk("built-in shadowed through search_path", "SELECT now()", Contained, Leaks).steps(&[
        "CREATE FUNCTION public.now() RETURNS text LANGUAGE sql AS $$SELECT string_agg(phone, ',') FROM public.guests$$",
        "SET search_path = public, pg_catalog",
    ]),
    mk("built-in shadowed, search_path set in the same Query", "SET search_path = public, pg_catalog; SELECT now()", Contained, Leaks)
        .steps(&["CREATE FUNCTION public.now() RETURNS text LANGUAGE sql AS $$SELECT string_agg(phone, ',') FROM public.guests$$"])
        .simple_only(),
    mk("own '=' on bigint ahead of pg_catalog, clear query", "SELECT id FROM bookings WHERE id = 1::bigint", Contained, Leaks).steps(&[
        "CREATE FUNCTION public.mk_eq8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE NOTICE '%', (SELECT string_agg(phone, ',') FROM public.guests); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$",
        "CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.mk_eq8)",
        "SET search_path = public, pg_catalog",
    ]),
    mk("own trigger on an own table", "INSERT INTO mk_t VALUES ('x') RETURNING x", Contained, Leaks).steps(&[
        "CREATE TABLE public.mk_t (x text)",
        "CREATE FUNCTION public.mk_trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.x := (SELECT string_agg(phone, ',') FROM public.guests); RETURN NEW; END$$",
        "CREATE TRIGGER mk_trg BEFORE INSERT ON public.mk_t FOR EACH ROW EXECUTE FUNCTION public.mk_trg()",
    ]),
    mk("own rule that selects instead", "INSERT INTO mk_t VALUES ('x')", Contained, Leaks).steps(&[
        "CREATE TABLE public.mk_t (x text)",
        "CREATE RULE mk_r AS ON INSERT TO public.mk_t DO INSTEAD SELECT upper(national_id) FROM public.guests",
    ]),
    mk("own DEFAULT calling an own function", "INSERT INTO mk_t (id) VALUES (1) RETURNING x", Contained, Leaks).steps(&[
        "CREATE FUNCTION public.mk_fn() RETURNS text LANGUAGE sql AS $$SELECT string_agg(phone, ',') FROM public.guests$$",
        "CREATE TABLE public.mk_t (id int, x text DEFAULT public.mk_fn())",
    ]),
    mk("own CHECK calling a noisy function", "INSERT INTO mk_t VALUES (1)", Contained, Leaks).steps(&[
        "CREATE FUNCTION public.mk_notice(int) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE NOTICE '%', (SELECT string_agg(national_id, ',') FROM public.guests); RETURN true; END$$",
        "CREATE TABLE public.mk_t (x int CHECK (public.mk_notice(x)))",
    ]),
    mk("built-in shadowed, search_path by set_config()", "SELECT now()", Contained, Leaks).steps(&[
        "CREATE FUNCTION public.now() RETURNS text LANGUAGE sql AS $$SELECT string_agg(phone, ',') FROM public.guests$$",
        "SELECT set_config('search_path', 'public, pg_catalog', false)",
    ]),
    mk("own view over a function", "SELECT p FROM mk_view", Contained, Leaks)
        .steps(&["CREATE VIEW public.mk_view AS SELECT id, upper(phone) AS p FROM guests"]),
    mk("own view, plain column", "SELECT q FROM mk_view", Contained, Leaks)
        .steps(&["CREATE VIEW public.mk_view AS SELECT id, national_id AS q FROM guests"]),
    mk("own temp view over a function", "SELECT p FROM mk_tview", Contained, Leaks)
        .steps(&["CREATE TEMP VIEW mk_tview AS SELECT upper(national_id) AS p FROM guests"]),
    mk("own function reading guests", "SELECT * FROM public.mk_phones()", Contained, Leaks)
        .steps(&["CREATE FUNCTION public.mk_phones() RETURNS SETOF text LANGUAGE sql AS 'SELECT phone FROM public.guests'"]),
    mk("materialized view", "CREATE MATERIALIZED VIEW mk_matview AS SELECT phone FROM guests", Refused, Runs),
    mk("temp CREATE TABLE AS", "CREATE TEMP TABLE tmp_loot AS SELECT phone FROM guests", Refused, Runs),
    mk("SELECT INTO TEMP, then read", "SELECT * FROM tmp_loot2", Contained, Leaks)
        .steps(&["SELECT phone INTO TEMP tmp_loot2 FROM guests"]),
    mk("CREATE TABLE AS EXECUTE", "CREATE TABLE ctas_loot AS EXECUTE p", Refused, Runs)
        .after(&["PREPARE p AS SELECT phone FROM guests"]),
    mk("prepared INSERT … SELECT", "EXECUTE ins", Contained, Runs)
        .steps(&["PREPARE ins AS INSERT INTO loot SELECT phone FROM guests"]),
    mk("pg_stats through a CTE", "WITH s AS (SELECT * FROM pg_stats) SELECT histogram_bounds::text FROM s WHERE tablename = 'guests'", Refused, Leaks),
    // --- front_desk: name, phone, national_id clear; card_number denied ---
    case("deny: select card_number", "front_desk", "SELECT card_number FROM payments", Refused, Leaks),
    case("deny: star over payments", "front_desk", "SELECT * FROM payments", Refused, Leaks),
    case("deny: IS NOT NULL", "front_desk", "SELECT count(*) FROM payments WHERE card_number IS NOT NULL", Refused, Runs),
    case("deny: equality", "front_desk", "SELECT id FROM payments WHERE card_number = '4111000000000000'", Refused, Runs),
    case("deny: COPY", "front_desk", "COPY payments TO STDOUT", Refused, Leaks),
    case("deny: whole row", "front_desk", "SELECT p FROM payments p", Refused, Leaks),
    case("deny: INSERT writes card_number", "front_desk", "INSERT INTO payments (id, booking_id, amount_twd, card_number, paid_at) VALUES (9, 1, 1, '4000000000000002', now())", Refused, Runs),
    case("deny: RETURNING card_number", "front_desk", "INSERT INTO payments (id, booking_id, amount_twd, paid_at) VALUES (9, 1, 1, now()) RETURNING card_number", Refused, Runs),
    case("deny: count(card_number)", "front_desk", "SELECT count(card_number) FROM payments", Refused, Runs),
    case("deny: ORDER BY card_number", "front_desk", "SELECT id FROM payments ORDER BY card_number", Refused, Runs),
    case("deny: inside a subquery", "front_desk", "SELECT 1 FROM (SELECT card_number FROM payments) s", Refused, Runs),
    case("deny: whole row by table name", "front_desk", "SELECT payments FROM payments", Refused, Leaks),
    case("front_desk: masked e-mail", "front_desk", "SELECT name, phone, email, passport_no, birthday, address FROM guests", Masked, Leaks),
    case("front_desk: function of e-mail", "front_desk", "SELECT upper(email) FROM guests", Refused, Leaks),
    case("front_desk: string_agg(card_holder)", "front_desk", "SELECT string_agg(card_holder, ',') FROM payments", Refused, Leaks),
    // --- combo: member of marketing and front_desk (union of clear, front_desk's deny) ---
    case("combo: deny wins", "combo", "SELECT card_number FROM payments", Refused, Leaks),
    case("combo: function of a column neither role sees", "combo", "SELECT upper(passport_no) FROM guests", Refused, Leaks),
    case("combo: star", "combo", "SELECT * FROM guests", Masked, Leaks),
    // --- auditor: everything masked ---
    case("auditor: star", "auditor", "SELECT * FROM guests", Masked, Leaks),
    case("auditor: payments", "auditor", "SELECT id, card_number, card_holder FROM payments", Masked, Leaks),
    case("auditor: function of e-mail", "auditor", "SELECT lower(email) FROM guests", Refused, Leaks),
    // --- intern: no [roles.*] matches, so policy.default_role ---
    case("default role: view star", "intern", "SELECT * FROM guest_contacts", Masked, Leaks),
    case("default role: whole row of a view", "intern", "SELECT row_to_json(c) FROM guest_contacts c", NoLeak, Leaks),
    case("default role: string_agg", "intern", "SELECT string_agg(email, ',') FROM guests", Refused, Leaks),
];

/// How a case is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// One Query message, text results.
    Simple,
    /// Parse/Bind/Execute/Sync, no Describe, binary results.
    ExtendedBinary,
}

/// Everything that came back for one case on one connection.
struct Run {
    /// Replies to the setup statements.
    setup: Vec<Message>,
    /// Replies to the case itself, up to its ReadyForQuery.
    attack: Vec<Message>,
    /// Replies to the clean-up (ROLLBACK if needed) and the `SELECT 1` probe.
    after: Vec<Message>,
    /// A setup statement that failed (the case is then not meaningful).
    setup_error: Option<String>,
    /// The probe returned `1`.
    usable: bool,
}

impl Run {
    fn all(&self) -> impl Iterator<Item = &Message> {
        self.setup.iter().chain(&self.attack).chain(&self.after)
    }

    /// What came back, briefly, for a failure report.
    fn summary(&self) -> String {
        let tags: String = self.attack.iter().map(|m| char::from(m.tag)).collect();
        let errs = describe_errors(&self.attack);
        let rows = text_rows(&self.attack)
            .map(|rows| {
                rows.iter()
                    .take(2)
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        format!(
            "messages {tags:?}; errors [{errs}]; first rows {}",
            short(&rows)
        )
    }
}

async fn run_case(hotel: &Hotel, case: &Case, proto: Proto, direct: bool) -> TestResult<Run> {
    let mut conn = if direct {
        hotel.raw_direct(case.login).await?
    } else {
        hotel.raw(case.login).await?
    };
    let mut run = Run {
        setup: Vec::new(),
        attack: Vec::new(),
        after: Vec::new(),
        setup_error: None,
        usable: false,
    };
    for statement in case.setup {
        let replies = simple(&mut conn, &hotel.expand(statement)?).await?;
        if !case.lenient && !errors(&replies).is_empty() && run.setup_error.is_none() {
            run.setup_error = Some(format!(
                "setup `{statement}` failed: {}",
                describe_errors(&replies)
            ));
        }
        run.setup.extend(replies);
    }
    let sql = hotel.expand(case.sql)?;
    run.attack = match proto {
        Proto::Simple => simple(&mut conn, &sql).await?,
        Proto::ExtendedBinary => extended_binary(&mut conn, &sql).await?,
    };
    if tx_status(&run.attack) != Some(b'I') {
        run.after.extend(simple(&mut conn, "ROLLBACK").await?);
    }
    let probe = simple(&mut conn, "SELECT 1").await?;
    run.usable = text_rows(&probe)? == vec![vec![Some("1".to_owned())]];
    run.after.extend(probe);
    Ok(run)
}

/// Field codes PostgreSQL uses for DETAIL, HINT and CONTEXT (the WHERE field).
const SCRUBBED_FIELDS: [(u8, &str); 3] = [(b'D', "DETAIL"), (b'H', "HINT"), (b'W', "CONTEXT")];

/// What is wrong with a run through the proxy (empty: the case holds).
fn judge(case: &Case, run: &Run, needles: &[Needle]) -> TestResult<Vec<String>> {
    let mut problems = Vec::new();
    if let Some(e) = &run.setup_error {
        problems.push(e.clone());
    }
    let all: Vec<Message> = run.all().cloned().collect();
    for leak in leaks_in(&all, needles) {
        problems.push(format!("leaked {leak}"));
    }
    // Every error and notice to a role with masked columns loses DETAIL, HINT, CONTEXT.
    for msg in all.iter().filter(|m| m.tag == b'E' || m.tag == b'N') {
        let fields = msg.fields();
        for (code, name) in SCRUBBED_FIELDS {
            if let Some(value) = fields.get(&code) {
                problems.push(format!(
                    "{} kept {name}: {}",
                    if msg.tag == b'E' { "error" } else { "notice" },
                    short(value)
                ));
            }
        }
    }
    if !run.usable {
        problems.push("the session did not answer SELECT 1 afterwards".to_owned());
    }
    let errs = errors(&run.attack);
    let data = rows(&run.attack)?.len() + run.attack.iter().filter(|m| m.tag == b'd').count();
    let completed = run.attack.iter().filter(|m| m.tag == b'C').count();
    let refused = errs.len() == 1
        && errs.first().and_then(|e| e.sqlstate()).as_deref() == Some("42501")
        && data == 0
        && completed == 0;
    match case.expect {
        Expect::Refused => {
            if !refused {
                problems.push(format!(
                    "expected one 42501 and nothing executed, got {} error(s), {data} row(s), \
                     {completed} CommandComplete",
                    errs.len()
                ));
            }
        }
        Expect::Masked => {
            if !errs.is_empty() || data == 0 {
                problems.push(format!(
                    "expected masked rows, got {} error(s) and {data} row(s)",
                    errs.len()
                ));
            }
        }
        Expect::Allowed => {
            if !errs.is_empty() {
                problems.push("expected it to run, got an error".to_owned());
            }
        }
        Expect::NoLeak => {
            if !errs.is_empty() && !refused {
                problems.push("expected a 42501 refusal or a result, got another error".to_owned());
            }
        }
        Expect::ErrorScrubbed(code) => {
            let first = errs.first().and_then(|e| e.sqlstate());
            if first.as_deref() != Some(code) {
                problems.push(format!("expected PostgreSQL's {code}, got {first:?}"));
            }
        }
        Expect::Contained => {}
    }
    Ok(problems)
}

/// Runs every case through the target, in both protocols, and reports every failure at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attack_shape_reveals_a_masked_value() -> TestResult {
    let hotel = Hotel::start().await?;
    let superuser = hotel.superuser().await?;
    // Another session whose last statement names personal values, for pg_stat_activity.
    let witness = hotel.connect_direct("dba").await?;
    witness
        .simple_query(
            "SELECT count(*) FROM guests WHERE national_id = 'F223456789' AND phone = '0987654321'",
        )
        .await?;
    let baseline = state(&superuser).await?;

    let shapes: BTreeSet<(&str, &str, &[&str])> =
        CORPUS.iter().map(|c| (c.login, c.sql, c.setup)).collect();
    assert!(
        shapes.len() >= 50,
        "the corpus has only {} distinct shapes",
        shapes.len()
    );

    let mut failures = Vec::new();
    let mut runs = 0;
    for case in CORPUS {
        let needles = needles(case.login);
        for proto in [Proto::Simple, Proto::ExtendedBinary] {
            if proto == Proto::ExtendedBinary && case.simple_only {
                continue;
            }
            runs += 1;
            let run = run_case(&hotel, case, proto, false).await?;
            let mut problems = judge(case, &run, &needles)?;
            let after = state(&superuser).await?;
            if after != baseline {
                problems.push(format!("side effect: {after} (was {baseline})"));
            }
            restore(&superuser).await?;
            if !problems.is_empty() {
                failures.push(format!(
                    "[{}] as {} via {proto:?}: {}\n      expected {:?}; {}\n      got: {}",
                    case.name,
                    case.login,
                    short(case.sql),
                    case.expect,
                    problems.join("; "),
                    run.summary()
                ));
            }
        }
    }
    drop(witness);
    eprintln!(
        "attack corpus: {} shapes, {runs} runs, {} failing",
        shapes.len(),
        failures.len()
    );
    for failure in &failures {
        eprintln!("  {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} attack runs failed (listed above); proxy log tail:\n{}",
        failures.len(),
        tail(&hotel.proxy_log(), 40)
    );
    Ok(())
}

/// The corpus is live: against PostgreSQL alone, every case runs (none passes only because
/// the database refuses it) and those marked `Leaks` do reveal a known value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_is_live_against_postgresql_alone() -> TestResult {
    let hotel = Hotel::database_only().await?;
    let superuser = hotel.superuser().await?;
    let witness = hotel.connect_direct("dba").await?;
    witness
        .simple_query(
            "SELECT count(*) FROM guests WHERE national_id = 'F223456789' AND phone = '0987654321'",
        )
        .await?;
    let mut failures = Vec::new();
    for case in CORPUS {
        let run = run_case(&hotel, case, Proto::Simple, true).await?;
        restore(&superuser).await?;
        let all: Vec<Message> = run.all().cloned().collect();
        let leaks = leaks_in(&all, &needles(case.login));
        let errs = errors(&run.attack);
        let mut problems = Vec::new();
        if let Some(e) = &run.setup_error {
            problems.push(e.clone());
        }
        match case.expect {
            Expect::ErrorScrubbed(code) => {
                let first = errs.first().and_then(|e| e.sqlstate());
                if first.as_deref() != Some(code) {
                    problems.push(format!("expected error {code}, got {first:?}"));
                }
            }
            Expect::Refused
            | Expect::Masked
            | Expect::Allowed
            | Expect::NoLeak
            | Expect::Contained => {
                if !errs.is_empty() {
                    problems.push(format!(
                        "PostgreSQL refused it: {}",
                        describe_errors(&errs_owned(&errs))
                    ));
                }
            }
        }
        if case.direct == Direct::Leaks && leaks.is_empty() {
            problems.push("no known value came back".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] as {}: {}: {}",
                case.name,
                case.login,
                short(case.sql),
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "cases that are not live against PostgreSQL:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

fn errs_owned(errs: &[&Message]) -> Vec<Message> {
    errs.iter().map(|m| (*m).clone()).collect()
}

/// A refusal behaves as a PostgreSQL error would (SPEC.md): inside a transaction block the
/// transaction fails and rolls back; a multi-statement Query is refused before any of it runs;
/// in the extended protocol everything up to Sync is discarded; the session stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_behave_like_postgresql_errors() -> TestResult {
    let hotel = Hotel::start().await?;
    let superuser = hotel.superuser().await?;
    let loot = || async {
        let rows = superuser
            .query_one("SELECT count(*) FROM loot", &[])
            .await?;
        TestResult::Ok(rows.get::<_, i64>(0))
    };
    let mut conn = hotel.raw("marketing").await?;

    // Inside BEGIN: refused, transaction failed (E), 25P02 until ROLLBACK, write undone.
    let r = simple(&mut conn, "BEGIN").await?;
    assert_eq!(tx_status(&r), Some(b'T'), "{}", describe_errors(&r));
    let r = simple(&mut conn, "INSERT INTO loot VALUES ('inside')").await?;
    assert!(errors(&r).is_empty(), "{}", describe_errors(&r));
    let r = simple(&mut conn, "SELECT upper(phone) FROM guests").await?;
    assert_eq!(sqlstates(&r), ["42501"], "refusal inside BEGIN");
    assert_eq!(
        tx_status(&r),
        Some(b'E'),
        "transaction not failed after a refusal"
    );
    let r = simple(&mut conn, "SELECT 1").await?;
    assert_eq!(
        sqlstates(&r),
        ["25P02"],
        "statement after a refusal in BEGIN"
    );
    let r = simple(&mut conn, "COMMIT").await?;
    assert_eq!(tags(&r), ["ROLLBACK"], "COMMIT of a failed transaction");
    assert_eq!(tx_status(&r), Some(b'I'));
    assert_eq!(
        loot().await?,
        0,
        "the write before the refusal was committed"
    );
    let r = simple(&mut conn, "SELECT 1").await?;
    assert_eq!(text_rows(&r)?, vec![vec![Some("1".to_owned())]]);

    // Inside a savepoint: ROLLBACK TO SAVEPOINT recovers, as after any error.
    for (sql, want) in [
        ("BEGIN", None),
        ("SAVEPOINT s", None),
        ("SELECT lower(national_id) FROM guests", Some("42501")),
        ("ROLLBACK TO SAVEPOINT s", None),
        ("INSERT INTO loot VALUES ('after savepoint')", None),
        ("COMMIT", None),
    ] {
        let r = simple(&mut conn, sql).await?;
        let got = sqlstates(&r);
        let want: Vec<String> = want.map(str::to_owned).into_iter().collect();
        assert_eq!(got, want, "{sql}: {}", describe_errors(&r));
    }
    assert_eq!(
        loot().await?,
        1,
        "the work after ROLLBACK TO SAVEPOINT was not committed"
    );
    restore(&superuser).await?;

    // A multi-statement Query with one refused statement: refused whole, nothing runs.
    let r = simple(
        &mut conn,
        "INSERT INTO loot VALUES ('first'); SELECT string_agg(phone, ',') FROM guests; \
         INSERT INTO loot VALUES ('last')",
    )
    .await?;
    assert_eq!(sqlstates(&r), ["42501"], "multi-statement refusal");
    assert!(
        tags(&r).is_empty(),
        "part of a refused Query ran: {:?}",
        tags(&r)
    );
    assert_eq!(
        loot().await?,
        0,
        "the first statement of a refused Query ran"
    );

    // Extended protocol: refused at Parse, Bind/Describe/Execute discarded up to Sync.
    let mut out = raw::parse("", b"SELECT upper(national_id) FROM guests");
    out.extend(raw::bind("", "", &[], 0));
    out.extend(raw::frame(b'D', b"P\0"));
    out.extend(raw::execute(""));
    out.extend(raw::sync());
    conn.send(&out).await?;
    let r = conn.until_ready().await?;
    let tags_seen: String = r.iter().map(|m| char::from(m.tag)).collect();
    assert_eq!(tags_seen, "EZ", "extended refusal: {}", describe_errors(&r));
    assert_eq!(sqlstates(&r), ["42501"]);
    let r = extended_binary(&mut conn, "SELECT 1::int4").await?;
    assert_eq!(
        rows(&r)?,
        vec![vec![Some(1i32.to_be_bytes().to_vec())]],
        "extended protocol after a refusal"
    );

    // Extended, pipelined: an allowed write, then a refused statement, one Sync. PostgreSQL
    // runs the batch as one implicit transaction, so the error undoes the write.
    let mut out = raw::parse("", b"INSERT INTO loot VALUES ('pipelined')");
    out.extend(raw::bind("", "", &[], 0));
    out.extend(raw::execute(""));
    out.extend(raw::parse("", b"SELECT min(phone) FROM guests"));
    out.extend(raw::bind("", "", &[], 0));
    out.extend(raw::execute(""));
    out.extend(raw::sync());
    conn.send(&out).await?;
    let r = conn.until_ready().await?;
    assert_eq!(sqlstates(&r), ["42501"], "pipelined refusal");
    assert_eq!(tx_status(&r), Some(b'I'));
    assert_eq!(
        loot().await?,
        0,
        "a write pipelined before a refusal was committed"
    );

    // Extended inside BEGIN: the transaction fails.
    simple(&mut conn, "BEGIN").await?;
    let r = extended_binary(&mut conn, "SELECT max(national_id) FROM guests").await?;
    assert_eq!(sqlstates(&r), ["42501"]);
    assert_eq!(tx_status(&r), Some(b'E'), "extended refusal inside BEGIN");
    let r = simple(&mut conn, "ROLLBACK").await?;
    assert_eq!(tx_status(&r), Some(b'I'));

    // And the session still works for what is allowed.
    let r = simple(
        &mut conn,
        "SELECT count(*) FROM guests WHERE phone = '0987654321'",
    )
    .await?;
    assert_eq!(text_rows(&r)?, vec![vec![Some("1".to_owned())]]);
    let all_needles = needles("marketing");
    let leaks = leaks_in(&r, &all_needles);
    assert!(leaks.is_empty(), "{leaks:?}");
    close(conn).await
}

/// COPY data through tokio-postgres (`copy_out`): refused for masked columns, and the error has
/// no value in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_out_of_masked_columns_is_refused() -> TestResult {
    let hotel = Hotel::start().await?;
    let client = hotel.connect("marketing").await?;
    let marketing = needles("marketing");
    for sql in [
        "COPY guests TO STDOUT",
        "COPY (SELECT phone, national_id FROM guests) TO STDOUT WITH (FORMAT csv)",
        "COPY (SELECT name FROM guests) TO STDOUT WITH (FORMAT binary)",
    ] {
        let outcome = match client.copy_out(sql).await {
            Ok(stream) => {
                use futures_util::TryStreamExt;
                let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
                Err(chunks.concat())
            }
            Err(e) => Ok(e),
        };
        match outcome {
            Ok(e) => {
                assert_eq!(support::sqlstate(&e), Some("42501"), "{sql}: {e}");
                let text = format!("{e:?}");
                let leaks = masking::find_needles(text.as_bytes(), &marketing);
                assert!(leaks.is_empty(), "{sql}: the error names {leaks:?}");
            }
            Err(data) => {
                let leaks = masking::find_needles(&data, &marketing);
                panic!(
                    "{sql}: COPY ran ({} bytes; clear values: {leaks:?})",
                    data.len()
                );
            }
        }
    }
    let r = client.query_one("SELECT 1::int4", &[]).await?;
    assert_eq!(r.get::<_, i32>(0), 1);
    Ok(())
}

fn sqlstates(messages: &[Message]) -> Vec<String> {
    errors(messages)
        .iter()
        .filter_map(|e| e.sqlstate())
        .collect()
}

/// CommandComplete tags.
fn tags(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.tag == b'C')
        .map(|m| {
            String::from_utf8_lossy(m.body.strip_suffix(b"\0").unwrap_or(&m.body)).into_owned()
        })
        .collect()
}

async fn close(mut conn: RawConn) -> TestResult {
    conn.send(&raw::frame(b'X', &[])).await?;
    Ok(())
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One way to make trailmask and PostgreSQL split a Query differently.
struct SplitTrick {
    name: &'static str,
    /// Startup parameters of the connection.
    startup: &'static [(&'static str, &'static str)],
    /// Statements run first (simple Query, UTF-8).
    setup: &'static [&'static str],
    /// The Query: `prefix`, then `lead` encoded in `encoding` (or UTF-8), then `suffix`.
    prefix: &'static str,
    lead: Option<(&'static encoding_rs::Encoding, &'static [u8])>,
    suffix: &'static str,
}

/// A double-byte character whose second byte is `\` (0x5C) in BIG5, GBK and Shift_JIS: lexed in
/// the client encoding, as PostgreSQL does after converting it, it is one character; lexed as
/// raw bytes, its second half escapes the quote that follows in an `E''` string (or in any
/// string under `standard_conforming_strings = off`).
const BIG5_5C: &[u8] = &[0xB3, 0x5C];
const GBK_5C: &[u8] = &[0x81, 0x5C];
const SJIS_5C: &[u8] = &[0x83, 0x5C];

const SPLIT_TRICKS: &[SplitTrick] = &[
    SplitTrick {
        name: "standard_conforming_strings=off as a startup parameter",
        startup: &[("standard_conforming_strings", "off")],
        setup: &[],
        prefix: "SELECT '\\''; SELECT upper(phone) FROM guests; --'",
        lead: None,
        suffix: "",
    },
    SplitTrick {
        name: "E'' string ending in a BIG5 character",
        startup: &[],
        setup: &["SET client_encoding = 'BIG5'"],
        prefix: "SELECT E'",
        lead: Some((encoding_rs::BIG5, BIG5_5C)),
        suffix: "'; SELECT upper(phone) FROM guests; --'",
    },
    SplitTrick {
        name: "E'' string ending in a GBK character",
        startup: &[],
        setup: &["SET client_encoding = 'GBK'"],
        prefix: "SELECT E'",
        lead: Some((encoding_rs::GBK, GBK_5C)),
        suffix: "'; SELECT upper(phone) FROM guests; --'",
    },
    SplitTrick {
        name: "E'' string ending in a Shift_JIS character",
        startup: &[("client_encoding", "SJIS")],
        setup: &[],
        prefix: "SELECT E'",
        lead: Some((encoding_rs::SHIFT_JIS, SJIS_5C)),
        suffix: "'; SELECT upper(phone) FROM guests; --'",
    },
    SplitTrick {
        name: "standard string ending in a BIG5 character, standard_conforming_strings=off",
        startup: &[],
        setup: &[
            "SET client_encoding = 'BIG5'",
            "SET standard_conforming_strings = off",
        ],
        prefix: "SELECT '",
        lead: Some((encoding_rs::BIG5, BIG5_5C)),
        suffix: "'; SELECT upper(phone) FROM guests; --'",
    },
];

impl SplitTrick {
    fn query(&self) -> Vec<u8> {
        let mut q = self.prefix.as_bytes().to_vec();
        if let Some((_, bytes)) = self.lead {
            q.extend_from_slice(bytes);
        }
        q.extend_from_slice(self.suffix.as_bytes());
        q
    }

    async fn run(&self, hotel: &Hotel, direct: bool) -> TestResult<Vec<Message>> {
        let addr = if direct {
            hotel.cluster.address()
        } else {
            hotel.address()
        };
        let mut conn = RawConn::connect(
            &addr,
            "marketing",
            hotel.password("marketing")?,
            masking::DATABASE,
            self.startup,
        )
        .await?;
        let mut all = conn.startup.clone();
        for statement in self.setup {
            let r = simple(&mut conn, statement).await?;
            if !errors(&r).is_empty() {
                return Err(
                    format!("{}: setup {statement}: {}", self.name, describe_errors(&r)).into(),
                );
            }
            all.extend(r);
        }
        conn.send(&raw::query(&self.query())).await?;
        all.extend(conn.until_ready().await?);
        Ok(all)
    }
}

/// trailmask must split a Query into statements exactly as PostgreSQL will, whatever the
/// session's `standard_conforming_strings` and `client_encoding` (set at startup, by SET, by
/// `ALTER ROLE … SET` for later sessions): otherwise a refused statement hides inside what
/// trailmask takes for a string literal. Each trick is first shown to work on PostgreSQL alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_splitting_follows_the_session_settings() -> TestResult {
    let hotel = Hotel::start().await?;
    let marketing = needles("marketing");
    let mut failures = Vec::new();
    for trick in SPLIT_TRICKS {
        if let Some((encoding, bytes)) = trick.lead {
            let (text, _, bad) = encoding.decode(bytes);
            assert!(
                !bad && text.chars().count() == 1,
                "{}: not one character",
                trick.name
            );
        }
        let direct = trick.run(&hotel, true).await?;
        assert!(
            !leaks_in(&direct, &marketing).is_empty(),
            "{}: does not leak even on PostgreSQL alone: {}",
            trick.name,
            describe_errors(&direct)
        );
        let got = trick.run(&hotel, false).await?;
        let leaks = leaks_in(&got, &marketing);
        let refused = sqlstates(&got) == ["42501"] && rows(&got)?.is_empty();
        if !leaks.is_empty() || !refused {
            failures.push(format!(
                "{}: expected one 42501 and no rows; got errors [{}], {} row(s), leaked {leaks:?}",
                trick.name,
                describe_errors(&got),
                rows(&got)?.len()
            ));
        }
    }

    // A default set with ALTER ROLE … SET reaches only later sessions, in their startup.
    let superuser = hotel.superuser().await?;
    let mut conn = hotel.raw("marketing").await?;
    let r = simple(
        &mut conn,
        "ALTER ROLE marketing SET standard_conforming_strings = off",
    )
    .await?;
    let altered = errors(&r).is_empty();
    close(conn).await?;
    let sql = "SELECT '\\''; SELECT upper(phone) FROM guests; --'";
    if altered {
        let got = simple(&mut hotel.raw("marketing").await?, sql).await?;
        let leaks = leaks_in(&got, &marketing);
        if !leaks.is_empty() || sqlstates(&got) != ["42501"] {
            failures.push(format!(
                "ALTER ROLE marketing SET standard_conforming_strings = off, new session: \
                 expected 42501; got errors [{}], leaked {leaks:?}",
                describe_errors(&got)
            ));
        }
    }
    superuser
        .batch_execute("ALTER ROLE marketing RESET ALL")
        .await?;
    restore(&superuser).await?;

    assert!(
        failures.is_empty(),
        "Queries split differently from PostgreSQL:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// A FunctionCall message ('F', the protocol's own way to call a function by OID, which libpq
/// uses for large objects) carries no SQL for trailmask to read: a masked role must not reach
/// through it what it may not reach with SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_messages_cannot_bypass_the_policy() -> TestResult {
    let hotel = Hotel::start().await?;
    let superuser = hotel.superuser().await?;
    let marketing = needles("marketing");
    let export = hotel.expand("@EXPORT_FILE@")?;
    let calls: [(&str, Vec<&str>); 3] = [
        (
            "query_to_xml(text, boolean, boolean, text)",
            vec!["SELECT phone, national_id FROM guests", "t", "f", ""],
        ),
        ("pg_read_file(text)", vec![export.as_str()]),
        (
            "set_config(text, text, boolean)",
            vec!["application_name", "x", "f"],
        ),
    ];
    let mut failures = Vec::new();
    for (signature, args) in &calls {
        let oid: u32 = superuser
            .query_one(&format!("SELECT '{signature}'::regprocedure::oid"), &[])
            .await?
            .get(0);
        let message = function_call(oid, args);
        let mut direct = hotel.raw_direct("marketing").await?;
        direct.send(&message).await?;
        let want = direct.until_ready().await?;
        let mut conn = hotel.raw("marketing").await?;
        conn.send(&message).await?;
        let got = conn.until_ready().await?;
        let leaks = leaks_in(&got, &marketing);
        let probe = simple(&mut conn, "SELECT 1").await?;
        let usable = text_rows(&probe)? == vec![vec![Some("1".to_owned())]];
        let answered = got.iter().any(|m| m.tag == b'V');
        if signature.starts_with("set_config") {
            // Harmless arguments, but still no SQL: either answered or refused, never a leak.
            if !leaks.is_empty() || !usable {
                failures.push(format!("{signature}: leaked {leaks:?}, usable {usable}"));
            }
            continue;
        }
        assert!(
            !leaks_in(&want, &marketing).is_empty(),
            "{signature}: does not leak even on PostgreSQL alone: {}",
            describe_errors(&want)
        );
        if !leaks.is_empty() || answered || sqlstates(&got) != ["42501"] || !usable {
            failures.push(format!(
                "{signature} by FunctionCall: expected 42501; got errors [{}], a result: \
                 {answered}, leaked {leaks:?}, session usable afterwards: {usable}",
                describe_errors(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "FunctionCall:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// FunctionCall: function OID, all arguments in text format, text result.
fn function_call(oid: u32, args: &[&str]) -> Vec<u8> {
    let mut body = oid.to_be_bytes().to_vec();
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&i16::try_from(args.len()).unwrap_or(0).to_be_bytes());
    for arg in args {
        body.extend_from_slice(&i32::try_from(arg.len()).unwrap_or(0).to_be_bytes());
        body.extend_from_slice(arg.as_bytes());
    }
    body.extend_from_slice(&0i16.to_be_bytes());
    raw::frame(b'F', &body)
}

/// A portal read in pieces (Execute with a row limit, PortalSuspended, Execute again) and a
/// named statement bound twice stay masked in every piece.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_portals_and_named_statements_stay_masked() -> TestResult {
    let hotel = Hotel::start().await?;
    let marketing = needles("marketing");
    let mut conn = hotel.raw("marketing").await?;
    let execute_limited = |portal: &str, rows: i32| {
        let mut body = portal.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(&rows.to_be_bytes());
        raw::frame(b'E', &body)
    };
    let mut out = raw::parse(
        "s1",
        b"SELECT id, phone, national_id FROM guests ORDER BY id",
    );
    out.extend(raw::bind("p1", "s1", &[], 1));
    out.extend(execute_limited("p1", 1));
    out.extend(execute_limited("p1", 1));
    out.extend(raw::bind("p2", "s1", &[], 0));
    out.extend(execute_limited("p2", 2));
    out.extend(raw::sync());
    conn.send(&out).await?;
    let got = conn.until_ready().await?;
    assert!(errors(&got).is_empty(), "{}", describe_errors(&got));
    let leaks = leaks_in(&got, &marketing);
    assert!(leaks.is_empty(), "leaked {leaks:?}");
    let suspended = got.iter().filter(|m| m.tag == b's').count();
    assert_eq!(suspended, 3, "PortalSuspended after each limited Execute");
    let values: Vec<Vec<Option<Vec<u8>>>> = rows(&got)?;
    let phones: Vec<Option<&[u8]>> = values
        .iter()
        .map(|r| r.get(1).and_then(|v| v.as_deref()))
        .collect();
    assert_eq!(
        phones,
        [
            Some(&b"0987-***-321"[..]),
            Some(&b"0912-***-678"[..]),
            Some(&b"0987-***-321"[..]),
            Some(&b"0912-***-678"[..]),
        ],
        "masked phones in each piece"
    );
    close(conn).await
}

/// Prepared statement names are shared by SQL (`PREPARE`, `DEALLOCATE`, `DISCARD`) and the
/// protocol (Parse, Close, Bind): trailmask must not apply what it learnt about a name to a
/// statement that was redefined or created behind its back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redefined_statement_names_are_not_trusted() -> TestResult {
    let hotel = Hotel::start().await?;
    let marketing = needles("marketing");
    // The first definition reads only marketing's clear column; the second a masked one.
    let clear = "SELECT (SELECT email FROM guests WHERE id = 1) AS p";
    let masked = "PREPARE s1 AS SELECT (SELECT phone FROM guests WHERE id = 1) AS p";
    let scenarios: [(&str, Vec<Vec<u8>>); 5] = [
        (
            "Parse s1, DEALLOCATE s1, PREPARE s1, Bind s1",
            vec![
                parse_sync("s1", clear),
                raw::query(b"DEALLOCATE s1"),
                raw::query(masked.as_bytes()),
            ],
        ),
        (
            "Parse s1, DEALLOCATE ALL, PREPARE s1, Bind s1",
            vec![
                parse_sync("s1", clear),
                raw::query(b"DEALLOCATE ALL"),
                raw::query(masked.as_bytes()),
            ],
        ),
        (
            "Parse s1, DISCARD ALL, PREPARE s1, Bind s1",
            vec![
                parse_sync("s1", clear),
                raw::query(b"DISCARD ALL"),
                raw::query(masked.as_bytes()),
            ],
        ),
        (
            "Parse s1, Close s1, PREPARE s1, Bind s1",
            vec![
                parse_sync("s1", clear),
                [raw::frame(b'C', b"Ss1\0"), raw::sync()].concat(),
                raw::query(masked.as_bytes()),
            ],
        ),
        (
            "PREPARE s1, Bind s1 (no Parse ever)",
            vec![raw::query(masked.as_bytes())],
        ),
    ];
    let mut failures = Vec::new();
    for (name, steps) in &scenarios {
        let play = |mut conn: RawConn| async move {
            let mut all = Vec::new();
            for step in steps {
                conn.send(step).await?;
                all.extend(conn.until_ready().await?);
            }
            for format in [0, 1] {
                let mut out = raw::bind("", "s1", &[], format);
                out.extend(raw::execute(""));
                out.extend(raw::sync());
                conn.send(&out).await?;
                all.extend(conn.until_ready().await?);
            }
            close(conn).await?;
            TestResult::Ok(all)
        };
        let direct = play(hotel.raw_direct("marketing").await?).await?;
        assert!(
            !leaks_in(&direct, &marketing).is_empty(),
            "{name}: does not leak even on PostgreSQL alone: {}",
            describe_errors(&direct)
        );
        let all = play(hotel.raw("marketing").await?).await?;
        let leaks = leaks_in(&all, &marketing);
        if !leaks.is_empty() {
            failures.push(format!(
                "{name}: leaked {leaks:?} (errors: [{}])",
                describe_errors(&all)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "statement names:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// Parse (no parameter types) then Sync.
fn parse_sync(name: &str, sql: &str) -> Vec<u8> {
    [raw::parse(name, sql.as_bytes()), raw::sync()].concat()
}

/// A simple Query sent in the middle of an extended-protocol batch (before its Sync) is still
/// a statement: trailmask must check it like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_inside_an_extended_batch_is_still_checked() -> TestResult {
    let hotel = Hotel::start().await?;
    let marketing = needles("marketing");
    let mut batch = raw::parse("", b"SELECT 1");
    batch.extend(raw::bind("", "", &[], 0));
    batch.extend(raw::execute(""));
    batch.extend(raw::query(b"SELECT upper(phone) FROM guests"));
    batch.extend(raw::sync());
    let play = |mut conn: RawConn| {
        let batch = batch.clone();
        async move {
            conn.send(&batch).await?;
            // One ReadyForQuery for the Query, one for the Sync.
            let mut all = Vec::new();
            for _ in 0..2 {
                let part =
                    tokio::time::timeout(std::time::Duration::from_secs(30), conn.until_ready())
                        .await
                        .map_err(|_| "no ReadyForQuery within 30 s")??;
                all.extend(part);
            }
            let probe = simple(&mut conn, "SELECT 1").await?;
            let usable = text_rows(&probe)? == vec![vec![Some("1".to_owned())]];
            TestResult::Ok((all, usable))
        }
    };
    let (direct, _) = play(hotel.raw_direct("marketing").await?).await?;
    assert!(
        !leaks_in(&direct, &marketing).is_empty(),
        "does not leak even on PostgreSQL alone: {}",
        describe_errors(&direct)
    );
    let (got, usable) = play(hotel.raw("marketing").await?).await?;
    let leaks = leaks_in(&got, &marketing);
    assert!(leaks.is_empty(), "leaked {leaks:?}");
    assert!(
        sqlstates(&got).contains(&"42501".to_owned()),
        "expected a 42501 refusal, got [{}]",
        describe_errors(&got)
    );
    assert!(usable, "the session did not answer SELECT 1 afterwards");
    Ok(())
}

/// The owner redefines a view directly on the database (a migration that does not pass through
/// trailmask): a column marketing saw in clear now carries a masked value. trailmask's catalog
/// snapshot is then stale; what it does not know it must not pass in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_redefined_behind_the_proxy_is_not_trusted() -> TestResult {
    let hotel = Hotel::start().await?;
    let superuser = hotel.superuser().await?;
    let marketing = needles("marketing");
    let sql = "SELECT email FROM guest_contacts WHERE id = 1";
    let mut conn = hotel.raw("marketing").await?;
    // A statement prepared (Parse) before the redefinition and executed after it.
    let session = hotel.connect("marketing").await?;
    let prepared = session.prepare(sql).await?;
    let before = simple(&mut conn, sql).await?;
    assert_eq!(
        text_rows(&before)?,
        vec![vec![Some("meiyu.lin@example.com".to_owned())]],
        "marketing sees its clear column through the view: {}",
        describe_errors(&before)
    );
    superuser
        .batch_execute(
            "CREATE OR REPLACE VIEW guest_contacts AS \
             SELECT g.id, g.name, g.phone, g.email || ' ' || g.national_id AS email \
             FROM guests g",
        )
        .await?;
    let direct = simple(&mut hotel.raw_direct("marketing").await?, sql).await?;
    assert!(
        !leaks_in(&direct, &marketing).is_empty(),
        "the redefinition does not leak"
    );
    let mut failures = Vec::new();
    match session.query(&prepared, &[]).await {
        Ok(rows) => {
            for row in rows {
                let value: Option<String> = row.try_get(0)?;
                let leaks = masking::find_needles(value.unwrap_or_default().as_bytes(), &marketing);
                if !leaks.is_empty() {
                    failures.push(format!("statement prepared before: leaked {leaks:?}"));
                }
            }
        }
        Err(e) => {
            let leaks = masking::find_needles(format!("{e:?}").as_bytes(), &marketing);
            if !leaks.is_empty() {
                failures.push(format!(
                    "statement prepared before, error: leaked {leaks:?}"
                ));
            }
        }
    }
    for (name, got) in [
        ("same session", simple(&mut conn, sql).await?),
        (
            "same session, binary",
            extended_binary(&mut conn, sql).await?,
        ),
        (
            "new session",
            simple(&mut hotel.raw("marketing").await?, sql).await?,
        ),
        (
            "new session, binary",
            extended_binary(&mut hotel.raw("marketing").await?, sql).await?,
        ),
    ] {
        let leaks = leaks_in(&got, &marketing);
        if !leaks.is_empty() {
            failures.push(format!("{name}: leaked {leaks:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "after CREATE OR REPLACE VIEW on the database:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// The search_path that puts an attacker's `public.now()` ahead of `pg_catalog.now()` can also
/// come from the startup packet (`options=-c search_path=…`) or from `ALTER ROLE … SET`: trailmask
/// must resolve (or refuse) function names with the path the session really has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadowed_builtins_follow_every_way_to_set_search_path() -> TestResult {
    let hotel = Hotel::start().await?;
    let superuser = hotel.superuser().await?;
    let marketing = needles("marketing");
    // The function is the owner's here (created directly), so only the path is the attack.
    superuser
        .batch_execute(
            "CREATE FUNCTION public.now() RETURNS text LANGUAGE sql \
             AS $$SELECT string_agg(phone, ',') FROM public.guests$$",
        )
        .await?;
    let startup: &[(&str, &str)] = &[("options", "-c search_path=public,pg_catalog")];
    let hotel = &hotel;
    let connect = |direct: bool| {
        let addr = if direct {
            hotel.cluster.address()
        } else {
            hotel.address()
        };
        async move {
            RawConn::connect(
                &addr,
                "marketing",
                hotel.password("marketing")?,
                masking::DATABASE,
                startup,
            )
            .await
        }
    };
    let mut failures = Vec::new();
    let direct = simple(&mut connect(true).await?, "SELECT now()").await?;
    assert!(
        !leaks_in(&direct, &marketing).is_empty(),
        "startup options: no leak on PostgreSQL alone"
    );
    let got = simple(&mut connect(false).await?, "SELECT now()").await?;
    let leaks = leaks_in(&got, &marketing);
    if !leaks.is_empty() {
        failures.push(format!(
            "search_path in the startup options: leaked {leaks:?}"
        ));
    }
    superuser
        .batch_execute("ALTER ROLE marketing SET search_path = public, pg_catalog")
        .await?;
    let got = simple(&mut hotel.raw("marketing").await?, "SELECT now()").await?;
    let leaks = leaks_in(&got, &marketing);
    if !leaks.is_empty() {
        failures.push(format!(
            "search_path from ALTER ROLE … SET: leaked {leaks:?}"
        ));
    }
    superuser
        .batch_execute("ALTER ROLE marketing RESET ALL; DROP FUNCTION public.now()")
        .await?;
    assert!(
        failures.is_empty(),
        "shadowed built-ins:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// A personal table's rows may also live in its partitions or inheritance children, which a
/// login can name directly: to the policy their columns are the parent's columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_table_of_a_personal_table_is_masked_as_its_parent() -> TestResult {
    let hotel = Hotel::start().await?;
    let superuser = hotel.superuser().await?;
    superuser
        .batch_execute(
            "CREATE TABLE guests_archive () INHERITS (guests); \
             INSERT INTO guests_archive SELECT * FROM ONLY guests WHERE id = 1; \
             GRANT SELECT ON guests_archive TO marketing",
        )
        .await?;
    let marketing = needles("marketing");
    let sql = "SELECT id, name, phone, national_id FROM guests_archive";
    let direct = simple(&mut hotel.raw_direct("marketing").await?, sql).await?;
    assert!(
        !leaks_in(&direct, &marketing).is_empty(),
        "the child table does not hold guest 1's values"
    );
    let mut conn = hotel.raw("marketing").await?;
    let mut failures = Vec::new();
    for (name, got) in [
        ("text", simple(&mut conn, sql).await?),
        ("binary", extended_binary(&mut conn, sql).await?),
        (
            "star",
            simple(&mut conn, "SELECT * FROM guests_archive").await?,
        ),
    ] {
        let leaks = leaks_in(&got, &marketing);
        if !leaks.is_empty() {
            failures.push(format!("{name}: leaked {leaks:?}"));
        } else if text_rows(&got).map(|r| r.len()).unwrap_or(0) != 1 {
            failures.push(format!(
                "{name}: expected guest 1, masked; got {}",
                describe_errors(&got)
            ));
        }
    }
    let got = simple(&mut conn, "SELECT upper(phone) FROM guests_archive").await?;
    if !describe_errors(&got).contains("masked_expression") {
        failures.push(format!(
            "upper(phone) of the child was not refused: {}",
            describe_errors(&got)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
