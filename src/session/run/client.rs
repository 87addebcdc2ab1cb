//! Client messages that the policy or the trail act on: each Query and Parse is analysed and
//! decided before it goes upstream, each Bind remembered, each Execute recorded (and, under
//! `strict`, made durable) before it is forwarded. A refused statement is replaced by one that
//! fails in the database, so transaction state and Sync skipping stay PostgreSQL's own.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::flight::{self, Flight, Kind, Record, Stmt};
use super::{frame_bounds, Relay};
use crate::policy::decide::{Refusal, Verdict};
use crate::protocol::encode;
use crate::protocol::frame::HEADER_LEN;
use crate::protocol::frontend;
use crate::protocol::sqlstate::{self, SqlState};
use crate::session::guard::{Decided, ViewCheck};
use crate::session::splice::Splice;
use crate::trail::record::{Params, Prepared, RecordError};
use crate::trail::writer::{Durability, OnFailure, TrailUnavailable};

/// How a PostgreSQL client encoding relates to ASCII.
enum ClientSide {
    Utf8,
    /// ASCII bytes can be part of a character (client-only encodings): decode properly.
    Multibyte(&'static encoding_rs::Encoding),
    /// Every non-ASCII byte belongs to a non-ASCII character.
    AsciiSafe,
    Unknown,
}

/// PostgreSQL's client encodings by name (`pg_encoding_to_char`).
fn client_side_encoding(name: &str) -> ClientSide {
    let n = name.trim().to_ascii_uppercase().replace(['-', '_'], "");
    match n.as_str() {
        "UTF8" | "UNICODE" => ClientSide::Utf8,
        "BIG5" | "WIN950" => ClientSide::Multibyte(encoding_rs::BIG5),
        "SJIS" | "SHIFTJIS" | "WIN932" | "SHIFTJIS2004" => {
            ClientSide::Multibyte(encoding_rs::SHIFT_JIS)
        }
        "GBK" | "WIN936" | "CP936" => ClientSide::Multibyte(encoding_rs::GBK),
        "GB18030" => ClientSide::Multibyte(encoding_rs::GB18030),
        "UHC" | "WIN949" => ClientSide::Multibyte(encoding_rs::EUC_KR),
        "JOHAB" => ClientSide::Unknown,
        _ => ClientSide::AsciiSafe,
    }
}

/// What becomes of one client frame.
enum Action {
    Forward,
    /// Replaced by these bytes.
    Replace(BytesMut),
    /// These bytes go first, then the frame.
    Prepend(BytesMut),
}

/// A prepared statement the session knows (by name).
pub struct PreparedInfo {
    pub decided: Option<Arc<Decided>>,
    pub raw: Arc<str>,
}

/// A portal the session knows (by name).
pub struct PortalInfo {
    pub decided: Option<Arc<Decided>>,
    pub raw: Arc<str>,
    pub params: Params,
    pub formats: Vec<i16>,
    /// The statement's RowDescription known when the portal was bound.
    pub statement_rd: Option<Bytes>,
}

fn bad(what: &str) -> String {
    format!("malformed {what} message")
}

/// The message a restricted login gets for a statement reading a view while trailmask cannot
/// learn the view's new definition.
const STALE_VIEWS_MESSAGE: &str = "trailmask refused this statement: rule stale_catalog — a view was redefined on the database and trailmask cannot reload its catalog to see what the view now shows; try again shortly or tell the operator to check the [catalog] login";

/// Which protocol a refusal answers in.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// A Query message: the whole Query is replaced.
    Simple,
    /// Parse or Execute: messages up to the next Sync are discarded.
    Extended,
}

/// The message a client gets when the trail cannot be written.
fn trail_down_message(e: TrailUnavailable) -> String {
    format!(
        "trailmask cannot write its audit trail ({}), so no statement can run now; try again shortly or tell the operator",
        e.reason()
    )
}

impl Relay {
    /// Handles the client frames of `chunk` (whole frames only) and queues them upstream.
    pub(super) async fn on_client_chunk(&mut self, chunk: Bytes) -> Result<(), String> {
        let mut splice = Splice::new(chunk);
        let mut at = 0usize;
        while let Some((tag, end)) = frame_bounds(splice.chunk(), at) {
            let payload = splice.chunk().slice(at + HEADER_LEN..end);
            self.bytes_in += u64::try_from(end - at).unwrap_or(0);
            let timed = matches!(tag, b'Q' | b'P' | b'E');
            let started = timed.then(Instant::now);
            let action = self.client_frame(tag, &payload).await?;
            if let Some(t) = started {
                self.metrics
                    .proxy_overhead_seconds
                    .observe(t.elapsed().as_secs_f64());
            }
            match action {
                Action::Forward => {}
                Action::Replace(buf) => splice.replace(at, end, &mut self.to_upstream, |s| {
                    s.extend_from_slice(&buf)
                }),
                Action::Prepend(buf) => {
                    splice.insert(at, &mut self.to_upstream, |s| s.extend_from_slice(&buf))
                }
            }
            at = end;
        }
        splice.finish(&mut self.to_upstream);
        Ok(())
    }

    async fn client_frame(&mut self, tag: u8, payload: &Bytes) -> Result<Action, String> {
        match tag {
            b'Q' => {
                let sql = frontend::query(payload).ok_or_else(|| bad("Query"))?;
                self.on_query(sql).await
            }
            b'P' => {
                let (name, sql) = frontend::parse(payload).ok_or_else(|| bad("Parse"))?;
                self.on_parse(Bytes::copy_from_slice(name), Bytes::copy_from_slice(sql))
                    .await
            }
            b'B' => {
                let bind = frontend::bind(payload).ok_or_else(|| bad("Bind"))?;
                self.on_bind(&bind);
                Ok(Action::Forward)
            }
            b'D' => {
                match frontend::describe_or_close(payload).ok_or_else(|| bad("Describe"))? {
                    (b'S', name) => self
                        .tracker
                        .on_describe_statement(Bytes::copy_from_slice(name)),
                    (b'P', name) => self
                        .tracker
                        .on_describe_portal(Bytes::copy_from_slice(name), false),
                    _ => return Err(bad("Describe")),
                }
                Ok(Action::Forward)
            }
            b'E' => {
                let (portal, _) = frontend::execute(payload).ok_or_else(|| bad("Execute"))?;
                self.on_execute(Bytes::copy_from_slice(portal)).await
            }
            b'C' => {
                match frontend::describe_or_close(payload).ok_or_else(|| bad("Close"))? {
                    (kind @ (b'S' | b'P'), name) => {
                        self.tracker.on_close(kind, name);
                        if kind == b'S' {
                            self.prepared.remove(name);
                        } else {
                            self.portals.remove(name);
                        }
                    }
                    _ => return Err(bad("Close")),
                }
                Ok(Action::Forward)
            }
            b'S' => {
                self.tracker.on_sync();
                self.batches_sent += 1;
                Ok(Action::Forward)
            }
            b'c' | b'f' => {
                let withdrawn = self.tracker.on_copy_end();
                self.batches_sent = self
                    .batches_sent
                    .saturating_sub(u64::try_from(withdrawn).unwrap_or(0));
                Ok(Action::Forward)
            }
            b'F' => {
                // A fast-path call names a function by OID: nothing to analyse, so a masked
                // login is refused (fail closed).
                if self.insp.masked {
                    let message = "trailmask refused this function call: the fast-path FunctionCall message bypasses statement analysis; call the function in a SELECT instead".to_owned();
                    self.tracker.on_function_call();
                    self.batches_sent += 1;
                    let mut buf = BytesMut::new();
                    encode::query(
                        &mut buf,
                        &flight::refusal_sql(sqlstate::INSUFFICIENT_PRIVILEGE),
                    );
                    self.push_flight(Kind::Refusal {
                        code: sqlstate::INSUFFICIENT_PRIVILEGE,
                        message,
                        stmts: Vec::new(),
                    });
                    return Ok(Action::Replace(buf));
                }
                self.tracker.on_function_call();
                self.batches_sent += 1;
                Ok(Action::Forward)
            }
            _ => Ok(Action::Forward),
        }
    }

    /// Queues a flight. A simple Query or FunctionCall ends its own batch (already counted);
    /// extended messages end with the next Sync (`extended`).
    fn push_flight(&mut self, kind: Kind) {
        let extended = matches!(kind, Kind::Execute { .. });
        self.push_flight_in(kind, extended);
    }

    fn push_flight_in(&mut self, kind: Kind, extended: bool) {
        self.flights.push_back(Flight {
            batch: self.batches_sent + u64::from(extended),
            started: Instant::now(),
            kind,
        });
    }

    /// The SQL text in the session's encoding, as Rust text, or why a restricted login's
    /// statement cannot be read safely.
    fn decode_sql<'a>(&self, sql: &'a [u8]) -> Result<Cow<'a, str>, &'static str> {
        if self.insp.restricted && !self.standard_strings && sql.contains(&b'\\') {
            // With standard_conforming_strings off, `'\''` does not end a string: the
            // splitter and the database would disagree where statements end.
            return Err("a backslash in a statement while standard_conforming_strings is off (set it to on)");
        }
        let name = self.client_encoding.as_deref().unwrap_or("UTF8");
        if sql.is_ascii() {
            return std::str::from_utf8(sql)
                .map(Cow::Borrowed)
                .map_err(|_| "text that is not valid in the session's client_encoding");
        }
        let decoded = match client_side_encoding(name) {
            ClientSide::Utf8 => std::str::from_utf8(sql).ok().map(Cow::Borrowed),
            ClientSide::Multibyte(enc) => {
                enc.decode_without_bom_handling_and_without_replacement(sql)
            }
            // Every byte of a multibyte character is >= 0x80: non-ASCII bytes can only sit
            // inside literals, names and comments, so a lossy reading splits statements right.
            ClientSide::AsciiSafe => Some(String::from_utf8_lossy(sql)),
            // ASCII bytes may be the second byte of a character (JOHAB): not readable here.
            ClientSide::Unknown => None,
        };
        decoded.ok_or("text that trailmask cannot read in the session's client_encoding")
    }

    async fn on_query(&mut self, sql: &[u8]) -> Result<Action, String> {
        self.tracker.on_query();
        self.batches_sent += 1;
        if !self.active {
            return Ok(Action::Forward);
        }
        let text = match self.decode_sql(sql) {
            Ok(t) => t,
            Err(why) if self.insp.restricted => {
                return Ok(self.refuse_query(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("trailmask refused this statement: rule unparsed — {why}"),
                    Vec::new(),
                    true,
                ));
            }
            Err(_) => String::from_utf8_lossy(sql),
        };
        let text = text.into_owned();
        let mut pieces = self.insp.query(&text);
        match self
            .insp
            .check_views(pieces.iter().map(|(_, d, _)| d.as_ref()))
            .await
        {
            ViewCheck::Fresh => {}
            ViewCheck::Reloaded => pieces = self.insp.query(&text),
            ViewCheck::Stale => return Ok(self.refuse_stale_views(Protocol::Simple)),
        }
        let refusal = pieces.iter().find_map(|(_, d, _)| match &d.verdict {
            Verdict::Deny(r) => Some(r),
            Verdict::Allow { .. } => None,
        });
        let refusal = refusal.map(|r| Refusal {
            rule: r.rule,
            column: r.column.clone(),
            message: r.message.clone(),
        });
        let mut stmts = Vec::with_capacity(pieces.len());
        let mut last = None;
        for (cs, d, raw) in &pieces {
            self.insp.count(d);
            self.statements += 1;
            let mut params = Params::default();
            if self.insp.records_params() {
                for l in &cs.normalized.literals {
                    self.insp.param(&mut params, Some(l.text.as_bytes()), false);
                }
            }
            let rec = self
                .insp
                .statement_record(d, raw, &params, refusal.as_ref());
            match self.submit(rec).await {
                Ok(rec) => {
                    if let Record::Linked(_) = rec {
                        last = Some(stmts.len());
                    }
                    stmts.push(Stmt::new(Some(Arc::clone(d)), rec));
                }
                Err(e) => {
                    return Ok(self.refuse_query(
                        sqlstate::IO_ERROR,
                        trail_down_message(e),
                        stmts,
                        false,
                    ));
                }
            }
            if d.analysis.is_ddl {
                self.refresh_pending = true;
            }
        }
        if let Some(r) = refusal {
            return Ok(self.refuse_query(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                r.message,
                stmts,
                false,
            ));
        }
        if let Some(i) = last {
            if let Err(e) = self.make_durable(&stmts, i).await {
                return Ok(self.refuse_query(
                    sqlstate::IO_ERROR,
                    trail_down_message(e),
                    stmts,
                    false,
                ));
            }
        }
        self.push_flight(Kind::Query { stmts, at: 0 });
        Ok(Action::Forward)
    }

    /// Replaces the Query just counted (tracker and batch already advanced) by a failing one.
    fn refuse_query(
        &mut self,
        code: SqlState,
        message: String,
        stmts: Vec<Stmt>,
        count: bool,
    ) -> Action {
        if count {
            self.insp.guard().metrics.refused(
                &self.insp.role,
                crate::metrics::policy::Op::Other,
                "unparsed",
            );
        }
        let mut buf = BytesMut::new();
        encode::query(&mut buf, &flight::refusal_sql(code));
        self.push_flight(Kind::Refusal {
            code,
            message,
            stmts,
        });
        Action::Replace(buf)
    }

    /// Refuses a statement that reads a view while the catalog cannot be reloaded after a view
    /// changed (fail closed), counted under `stale_catalog`.
    fn refuse_stale_views(&mut self, protocol: Protocol) -> Action {
        self.insp.guard().metrics.refused(
            &self.insp.role,
            crate::metrics::policy::Op::Other,
            crate::policy::decide::RULE_STALE_CATALOG,
        );
        let message = STALE_VIEWS_MESSAGE.to_owned();
        match protocol {
            Protocol::Simple => {
                self.refuse_query(sqlstate::INSUFFICIENT_PRIVILEGE, message, Vec::new(), false)
            }
            Protocol::Extended => {
                self.refuse_extended(sqlstate::INSUFFICIENT_PRIVILEGE, message, Vec::new())
            }
        }
    }

    /// Refuses a statement of the extended protocol that policy denies, with its `statement`
    /// record (decision deny) on the trail.
    async fn refuse_denied_extended(
        &mut self,
        d: Arc<Decided>,
        raw: &str,
        message: String,
    ) -> Action {
        self.insp.count(&d);
        self.statements += 1;
        let rec = self
            .insp
            .statement_record(&d, raw, &Params::default(), None);
        let rec = self.submit(rec).await.unwrap_or(Record::None);
        let stmts = vec![Stmt::new(Some(d), rec)];
        self.refuse_extended(sqlstate::INSUFFICIENT_PRIVILEGE, message, stmts)
    }

    /// Queues a record on the trail (if there is one). Under `on_failure = "allow"` a trail
    /// that cannot take it does not stop the statement (the writer counts the failure).
    async fn submit(&self, rec: Result<Prepared, RecordError>) -> Result<Record, TrailUnavailable> {
        let Some(t) = self.insp.trail() else {
            return Ok(Record::None);
        };
        let queued = match rec {
            Ok(rec) => t.submit_prepared(rec).await,
            Err(_) => Err(TrailUnavailable::ENCODE),
        };
        match queued {
            Ok(link) => Ok(Record::Linked(link)),
            Err(e) if t.on_failure() == OnFailure::Allow => {
                tracing::warn!(error = %e, "statement runs without its trail record (on_failure = \"allow\")");
                Ok(Record::None)
            }
            Err(e) => Err(e),
        }
    }

    /// Under `strict`, waits until statement `i`'s record (and so every earlier one) is on
    /// disk; in the other modes returns at once (the writer chains it meanwhile).
    async fn make_durable(&self, stmts: &[Stmt], i: usize) -> Result<(), TrailUnavailable> {
        let Some(stmt) = stmts.get(i) else {
            return Ok(());
        };
        let Some(trail) = self.insp.trail() else {
            return Ok(());
        };
        if trail.durability() != Durability::Strict {
            return Ok(());
        }
        let allow = trail.on_failure() == OnFailure::Allow;
        match &stmt.record {
            Record::Linked(link) => match trail.durable(link).await {
                Ok(_) => Ok(()),
                Err(e) if allow => {
                    tracing::warn!(error = %e, "statement runs before its trail record is durable (on_failure = \"allow\")");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Record::None => Ok(()),
        }
    }

    async fn on_parse(&mut self, name: Bytes, sql: Bytes) -> Result<Action, String> {
        if !self.active {
            self.tracker.on_parse(name, sql);
            return Ok(Action::Forward);
        }
        let text = match self.decode_sql(&sql) {
            Ok(t) => t.into_owned(),
            Err(why) if self.insp.restricted => {
                self.insp.guard().metrics.refused(
                    &self.insp.role,
                    crate::metrics::policy::Op::Other,
                    "unparsed",
                );
                return Ok(self.refuse_extended(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("trailmask refused this statement: rule unparsed — {why}"),
                    Vec::new(),
                ));
            }
            Err(_) => String::from_utf8_lossy(&sql).into_owned(),
        };
        let (_, mut d) = self.insp.parse(&text);
        match self.insp.check_views([d.as_ref()]).await {
            ViewCheck::Fresh => {}
            ViewCheck::Reloaded => d = self.insp.parse(&text).1,
            ViewCheck::Stale => return Ok(self.refuse_stale_views(Protocol::Extended)),
        }
        if let Verdict::Deny(r) = &d.verdict {
            let message = r.message.clone();
            return Ok(self.refuse_denied_extended(d, &text, message).await);
        }
        if d.analysis.is_ddl {
            self.refresh_pending = true;
        }
        self.prepared.insert(
            name.clone(),
            PreparedInfo {
                decided: Some(d),
                raw: text.into(),
            },
        );
        self.tracker.on_parse(name, sql);
        Ok(Action::Forward)
    }

    /// Replaces a Parse (or an Execute) by Parse/Bind/Execute of a failing statement: the
    /// database reports the error and skips to the next Sync.
    fn refuse_extended(&mut self, code: SqlState, message: String, stmts: Vec<Stmt>) -> Action {
        let sql = flight::refusal_sql(code);
        let mut buf = BytesMut::new();
        encode::parse(&mut buf, b"", &sql);
        encode::bind_empty(&mut buf, b"", b"");
        encode::execute(&mut buf, b"");
        self.tracker.on_injected_parse(Bytes::new(), sql);
        self.tracker.on_injected_bind(Bytes::new(), Bytes::new());
        self.tracker.on_execute(Bytes::new());
        // Our unnamed statement and portal replaced the client's.
        self.prepared.remove(&b""[..]);
        self.portals.remove(&b""[..]);
        self.push_flight_in(
            Kind::Refusal {
                code,
                message,
                stmts,
            },
            true,
        );
        Action::Replace(buf)
    }

    fn on_bind(&mut self, bind: &frontend::Bind<'_>) {
        let portal = Bytes::copy_from_slice(bind.portal);
        let statement = Bytes::copy_from_slice(bind.statement);
        if self.active {
            let (decided, raw) = match self.prepared.get(bind.statement) {
                Some(p) => (p.decided.clone(), Arc::clone(&p.raw)),
                None => (None, Arc::from("")),
            };
            let mut params = Params::default();
            if self.insp.records_params() {
                for (i, v) in bind.params.iter().enumerate() {
                    let binary = match bind.param_formats.as_slice() {
                        [] => false,
                        [one] => *one == 1,
                        many => many.get(i).is_some_and(|f| *f == 1),
                    };
                    self.insp.param(&mut params, *v, binary);
                }
            }
            let statement_rd = self
                .tracker
                .statement(bind.statement)
                .and_then(|s| s.row_description.clone());
            self.portals.insert(
                portal.clone(),
                PortalInfo {
                    decided,
                    raw,
                    params,
                    formats: bind.result_formats.clone(),
                    statement_rd,
                },
            );
        }
        self.tracker.on_bind(portal, statement);
    }

    async fn on_execute(&mut self, portal: Bytes) -> Result<Action, String> {
        if !self.active {
            self.tracker.on_execute(portal);
            return Ok(Action::Forward);
        }
        let mut decided = self.portals.get(&portal).and_then(|p| p.decided.clone());
        if let Some(d) = &decided {
            // A statement prepared before a view was redefined is decided again.
            match self.insp.check_views([d.as_ref()]).await {
                ViewCheck::Fresh => {}
                ViewCheck::Reloaded => {
                    let raw = self
                        .portals
                        .get(&portal)
                        .map(|p| Arc::clone(&p.raw))
                        .unwrap_or_else(|| Arc::from(""));
                    let (_, again) = self.insp.parse(&raw);
                    if let Verdict::Deny(r) = &again.verdict {
                        let message = r.message.clone();
                        return Ok(self.refuse_denied_extended(again, &raw, message).await);
                    }
                    if let Some(p) = self.portals.get_mut(&portal) {
                        p.decided = Some(Arc::clone(&again));
                    }
                    decided = Some(again);
                }
                ViewCheck::Stale => return Ok(self.refuse_stale_views(Protocol::Extended)),
            }
        }
        let info = self.portals.get(&portal);
        let statement_rd = info.and_then(|p| p.statement_rd.clone());
        let mut stmts = Vec::with_capacity(1);
        if let Some(d) = &decided {
            self.insp.count(d);
            self.statements += 1;
            let no_params = Params::default();
            let (raw, params) = info.map_or(("", &no_params), |p| (&*p.raw, &p.params));
            let rec = self.insp.statement_record(d, raw, params, None);
            match self.submit(rec).await {
                Ok(rec) => stmts.push(Stmt::new(Some(Arc::clone(d)), rec)),
                Err(e) => {
                    return Ok(self.refuse_extended(
                        sqlstate::IO_ERROR,
                        trail_down_message(e),
                        Vec::new(),
                    ));
                }
            }
            if let Err(e) = self.make_durable(&stmts, 0).await {
                return Ok(self.refuse_extended(sqlstate::IO_ERROR, trail_down_message(e), stmts));
            }
        }
        let mut stmt = stmts
            .pop()
            .unwrap_or_else(|| Stmt::new(decided, Record::None));
        let mut prepend = None;
        let mut awaiting_description = false;
        let subjects_wanted = self.insp.trail().is_some()
            && stmt.decided.as_deref().is_none_or(|d| d.touches_personal);
        if self.insp.masked || subjects_wanted {
            match statement_rd {
                Some(rd) => {
                    let formats = self
                        .portals
                        .get(&portal)
                        .map(|p| p.formats.clone())
                        .unwrap_or_default();
                    self.describe_rows(&mut stmt, &rd, Some(&formats));
                }
                None => {
                    // Nobody described this statement yet: ask the database, consume the answer.
                    let mut buf = BytesMut::new();
                    encode::describe(&mut buf, b'P', &portal);
                    self.tracker.on_describe_portal(portal.clone(), true);
                    prepend = Some(buf);
                    awaiting_description = true;
                }
            }
        }
        self.tracker.on_execute(portal);
        self.push_flight(Kind::Execute {
            stmt,
            awaiting_description,
        });
        Ok(match prepend {
            Some(buf) => Action::Prepend(buf),
            None => Action::Forward,
        })
    }
}
