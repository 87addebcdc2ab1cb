//! Server messages that the policy or the trail act on: RowDescription makes the plan that masks
//! the rows after it, DataRows are rewritten only where the plan says so, CommandComplete and
//! ErrorResponse end a statement (its `result` record), ErrorResponse and NoticeResponse are
//! scrubbed for masked logins, and the answers to what trailmask injected are consumed.

use bytes::{BufMut, Bytes, BytesMut};

use super::flight::{Kind, Record, Stmt, Subjects};
use super::{frame_bounds, Relay};
use crate::mask::FieldAction;
use crate::policy::decide;
use crate::protocol::backend;
use crate::protocol::encode::{self, Severity};
use crate::protocol::frame::HEADER_LEN;
use crate::session::extended::Matched;
use crate::session::rewrite::{self, FieldInfo, ResultPlan};
use crate::session::splice::Splice;
use crate::trail::record::{ResultRecord, Status};

/// `result.status` of a statement the database skipped after an earlier failure in its batch:
/// in_failed_sql_transaction, the SQLSTATE PostgreSQL gives statements it will not run.
const SKIPPED: &str = "25P02";
/// query_canceled: a cancel request or `statement_timeout` stopped the statement; its `result`
/// record says `cancelled`.
const QUERY_CANCELED: &str = "57014";

/// What becomes of one server frame.
enum Out {
    Forward,
    Drop,
    Replace(BytesMut),
}

/// Writes a whole message with `tag` around `payload`.
fn wrap(tag: u8, payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::with_capacity(payload.len() + HEADER_LEN);
    buf.put_u8(tag);
    buf.put_i32(i32::try_from(payload.len() + 4).unwrap_or(i32::MAX));
    buf.put_slice(payload);
    buf
}

impl Relay {
    /// Handles the server frames of `chunk` (whole frames only) and queues them for the client.
    pub(super) async fn on_upstream_chunk(&mut self, chunk: Bytes) -> Result<(), String> {
        let mut splice = Splice::new(chunk.clone());
        let mut at = 0usize;
        while let Some((tag, end)) = frame_bounds(&chunk, at) {
            self.bytes_out += u64::try_from(end - at).unwrap_or(0);
            if tag == b'D' {
                // The hot path: no `Bytes` per row (the tracker needs a payload only for
                // RowDescription), and rows of a plan-less statement pass as they are.
                self.tracker
                    .on_server(tag, &Bytes::new())
                    .map_err(|e| format!("from the database: {e}"))?;
                let payload = chunk.get(at + HEADER_LEN..end).unwrap_or_default();
                if let Some(stmt) = self.flights.front_mut().and_then(|f| f.current()) {
                    stmt.rows += 1;
                    if let Some(s) = &mut stmt.subjects {
                        s.see_row(payload);
                    }
                    if let Some(plan) = &stmt.plan {
                        let masked = &mut stmt.masked;
                        let mut failed = false;
                        splice.reserve_rest(at);
                        splice.replace(at, end, &mut self.to_client, |out| {
                            failed = plan.rewrite_data_row(payload, out, masked).is_err();
                        });
                        if failed {
                            return Err("a result row does not match its row description".into());
                        }
                    } else if stmt.blind {
                        splice.replace(at, end, &mut self.to_client, |out| null_row(payload, out));
                    }
                }
                at = end;
                continue;
            }
            let payload = chunk.slice(at + HEADER_LEN..end);
            let matched = self
                .tracker
                .on_server(tag, &payload)
                .map_err(|e| format!("from the database: {e}"))?;
            match self.server_frame(tag, &payload, matched).await {
                Out::Forward => {}
                Out::Drop => splice.replace(at, end, &mut self.to_client, |_| {}),
                Out::Replace(buf) => {
                    splice.replace(at, end, &mut self.to_client, |s| s.extend_from_slice(&buf))
                }
            }
            at = end;
        }
        splice.finish(&mut self.to_client);
        Ok(())
    }

    async fn server_frame(&mut self, tag: u8, payload: &Bytes, matched: Matched) -> Out {
        match tag {
            b'S' => {
                match backend::parameter_status(payload) {
                    Some((b"client_encoding", value)) => {
                        self.client_encoding = Some(String::from_utf8_lossy(value).into_owned());
                    }
                    Some((b"standard_conforming_strings", value)) => {
                        self.standard_strings = value != b"off";
                    }
                    _ => {}
                }
                Out::Forward
            }
            b'N' if self.insp.masked => Out::Replace(wrap(
                b'N',
                &crate::mask::message::scrub_error_fields(payload),
            )),
            // Boxed: errors are rare and their handling is a large future.
            b'E' => Box::pin(self.on_error(payload, matched)).await,
            b'T' => match matched {
                Matched::PortalDescription { injected: true } => {
                    self.on_injected_description(Some(payload));
                    Out::Drop
                }
                Matched::Query => {
                    if let Some(mut stmt) = self.take_current() {
                        self.describe_rows(&mut stmt, payload, None);
                        self.put_current(stmt);
                    }
                    Out::Forward
                }
                _ => Out::Forward,
            },
            b'n' => match matched {
                Matched::PortalDescription { injected: true } => {
                    self.on_injected_description(None);
                    Out::Drop
                }
                _ => Out::Forward,
            },
            b'1' | b'2' if matched == Matched::Injected => Out::Drop,
            // Nothing in flight (a session trailmask only relays): nothing to end.
            b'C' | b'I' | b's' if self.flights.is_empty() => Out::Forward,
            b'C' | b'I' | b's' => {
                let tag_text = if tag == b'C' {
                    let end = payload
                        .iter()
                        .position(|&b| b == 0)
                        .unwrap_or(payload.len());
                    String::from_utf8_lossy(payload.get(..end).unwrap_or_default()).into_owned()
                } else {
                    String::new()
                };
                self.end_current(Status::Ok, tag_text).await;
                Out::Forward
            }
            b'Z' => {
                self.batches_done += 1;
                let failed = std::mem::take(&mut self.batch_failed);
                while self
                    .flights
                    .front()
                    .is_some_and(|f| f.batch <= self.batches_done)
                {
                    let Some(f) = self.flights.pop_front() else {
                        break;
                    };
                    // Every Execute ends with its own message; one still here at the batch's
                    // ReadyForQuery was skipped after the failure.
                    if let (true, Kind::Execute { stmt, .. }) = (failed, f.kind) {
                        self.record_skipped(stmt, f.started).await;
                    }
                }
                if self.refresh_pending {
                    self.refresh_pending = false;
                    self.insp.refresh_catalog().await;
                }
                Out::Forward
            }
            _ => Out::Forward,
        }
    }

    /// The answer to a Describe trailmask sent before an Execute: the plan of the first
    /// Execute still waiting for one.
    fn on_injected_description(&mut self, rd: Option<&Bytes>) {
        let Some(i) = self.flights.iter().position(|f| {
            matches!(
                f.kind,
                Kind::Execute {
                    awaiting_description: true,
                    ..
                }
            )
        }) else {
            return;
        };
        let Some(flight) = self.flights.get_mut(i) else {
            return;
        };
        let Kind::Execute {
            stmt,
            awaiting_description,
            ..
        } = &mut flight.kind
        else {
            return;
        };
        *awaiting_description = false;
        let mut stmt = std::mem::replace(stmt, Stmt::new(None, Record::None));
        if let Some(rd) = rd {
            self.describe_rows(&mut stmt, rd, None);
        }
        if let Some(Kind::Execute { stmt: slot, .. }) = self.flights.get_mut(i).map(|f| &mut f.kind)
        {
            *slot = stmt;
        }
    }

    /// Prepares for the rows described by `rd` (a RowDescription payload): the subject field
    /// for the trail and, for a masked login, the masking plan — with the Bind's result
    /// `formats` when `rd` is the statement's shape rather than the portal's.
    pub(super) fn describe_rows(&self, stmt: &mut Stmt, rd: &[u8], formats: Option<&[i16]>) {
        let Ok(fields) = rewrite::fields_of(rd) else {
            stmt.blind = self.insp.masked;
            return;
        };
        let touches = stmt.decided.as_deref().is_none_or(|d| d.touches_personal);
        if touches {
            stmt.subjects = self
                .insp
                .subject_field(&fields)
                .map(|i| Subjects::new(i, self.insp.guard().hash_key.clone()));
        }
        if self.insp.masked {
            self.plan_rows(stmt, &fields, rd, formats);
        }
    }

    fn plan_rows(&self, stmt: &mut Stmt, fields: &[FieldInfo], rd: &[u8], formats: Option<&[i16]>) {
        let decided = stmt.decided.as_deref();
        let outputs = decided
            .map(|d| &d.resolved.outputs)
            .filter(|o| o.len() == fields.len());
        let touches = decided.is_none_or(|d| d.touches_personal);
        let snapshot = self.insp.snapshot();
        let actions: Vec<FieldAction> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                decide::field_action(
                    &self.insp.roles,
                    snapshot,
                    (f.table_oid, f.column),
                    outputs.and_then(|o| o.get(i)).map(|o| &o.lineage),
                    touches,
                )
            })
            .collect();
        if actions.iter().all(|a| *a == FieldAction::Pass) {
            stmt.plan = None;
            return;
        }
        stmt.columns = fields
            .iter()
            .map(|f| {
                snapshot
                    .relation(f.table_oid)
                    .and_then(|r| {
                        let idx = usize::try_from(f.column.0).ok()?.checked_sub(1)?;
                        let c = r.columns.get(idx)?;
                        Some(format!("{}.{}.{}", r.schema, r.name, c.name))
                    })
                    .unwrap_or_default()
            })
            .collect();
        let encoding =
            crate::mask::Encoding::from_pg_name(self.client_encoding.as_deref().unwrap_or("UTF8"));
        let plan = ResultPlan::new(rd, actions, encoding, self.insp.guard().hash_key.clone())
            .and_then(|p| match formats {
                Some(f) => p.with_formats(f),
                None => Ok(p),
            });
        match plan {
            Ok(p) => {
                stmt.masked = vec![0; p.fields()];
                stmt.plan = Some(p);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot plan masking for a result; its values are sent as NULL");
                stmt.blind = true;
            }
        }
    }

    /// Takes the statement whose results are arriving (to work on it beside `self`).
    fn take_current(&mut self) -> Option<Stmt> {
        let cur = self.flights.front_mut()?.current()?;
        Some(std::mem::replace(cur, Stmt::new(None, Record::None)))
    }

    fn put_current(&mut self, stmt: Stmt) {
        if let Some(cur) = self.flights.front_mut().and_then(|f| f.current()) {
            *cur = stmt;
        }
    }

    /// The current statement ended (CommandComplete, EmptyQuery, PortalSuspended, or an error):
    /// its result record and metrics; the flight moves on.
    async fn end_current(&mut self, status: Status, command_tag: String) {
        let Some(flight) = self.flights.front_mut() else {
            return;
        };
        let started = flight.started;
        let mut skipped = Vec::new();
        let stmt = match &mut flight.kind {
            Kind::Query { stmts, at } => {
                let Some(s) = stmts.get_mut(*at) else {
                    return;
                };
                let s = std::mem::replace(s, Stmt::new(None, Record::None));
                *at += 1;
                if status != Status::Ok {
                    // Failed or cancelled: the database runs none of the Query's later
                    // statements (and `at` now points past the last).
                    skipped = stmts.split_off(*at);
                }
                s
            }
            Kind::Execute { .. } => {
                let Some(f) = self.flights.pop_front() else {
                    return;
                };
                match f.kind {
                    Kind::Execute { stmt, .. } => stmt,
                    Kind::Query { .. } | Kind::Refusal { .. } => return,
                }
            }
            Kind::Refusal { .. } => return,
        };
        self.finish_stmt(stmt, status, command_tag, started).await;
        for s in skipped {
            self.record_skipped(s, started).await;
        }
    }

    /// A statement the database skipped because an earlier message of its batch failed (an
    /// earlier statement, or the Bind of its own portal): it never ran, and its `result` record
    /// says so as PostgreSQL says it of statements in a failed transaction, `error:25P02`, with
    /// no rows. No duration or row metrics: nothing ran.
    async fn record_skipped(&mut self, stmt: Stmt, started: std::time::Instant) {
        self.submit_result(
            &stmt,
            Status::Error {
                sqlstate: SKIPPED.to_owned(),
            },
            String::new(),
            started.elapsed(),
        )
        .await;
    }

    async fn finish_stmt(
        &mut self,
        stmt: Stmt,
        status: Status,
        command_tag: String,
        started: std::time::Instant,
    ) {
        let elapsed = started.elapsed();
        let op = stmt.decided.as_ref().map(|d| d.op);
        self.metrics
            .statement_duration(op)
            .observe(elapsed.as_secs_f64());
        if stmt.rows > 0 {
            if let Some(d) = &stmt.decided {
                self.insp.count_rows(d, stmt.rows);
            }
        }
        for (n, column) in stmt.masked.iter().zip(&stmt.columns) {
            if *n > 0 && !column.is_empty() {
                self.insp
                    .guard()
                    .metrics
                    .masked(&self.insp.role, column, *n);
            }
        }
        self.submit_result(&stmt, status, command_tag, elapsed)
            .await;
    }

    /// Queues the `result` record of a statement that has a `statement` record.
    async fn submit_result(
        &mut self,
        stmt: &Stmt,
        status: Status,
        command_tag: String,
        elapsed: std::time::Duration,
    ) {
        let link = match &stmt.record {
            Record::None => return,
            Record::Linked(link) => link,
        };
        let Some(trail) = self.insp.trail() else {
            return;
        };
        // The writer fills in statement_seq from the link.
        let result = ResultRecord {
            session: self.insp.session,
            statement_seq: 0,
            status,
            rows: stmt.rows,
            command_tag,
            duration_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            subjects: stmt
                .subjects
                .as_ref()
                .map(|s| s.list.clone())
                .unwrap_or_default(),
            subjects_total: stmt.subjects.as_ref().map_or(0, |s| s.total),
        };
        if let Err(e) = trail.submit_result(result, link).await {
            tracing::warn!(error = %e, "result record not written");
        }
    }

    async fn on_error(&mut self, payload: &Bytes, matched: Matched) -> Out {
        // Whatever failed (a Parse, a Bind, an Execute, a refusal), the database skips the
        // rest of the batch.
        self.batch_failed = true;
        let code = backend::ErrorFields::parse(payload)
            .and_then(|f| f.code().map(str::to_owned))
            .unwrap_or_else(|| "XX000".to_owned());
        let refusal = matches!(matched, Matched::Execute { .. } | Matched::Query)
            && matches!(
                self.flights.front().map(|f| &f.kind),
                Some(Kind::Refusal { .. })
            );
        if refusal {
            if let Some(f) = self.flights.pop_front() {
                if let Kind::Refusal {
                    code,
                    message,
                    stmts,
                } = f.kind
                {
                    for s in stmts {
                        self.finish_stmt(
                            s,
                            Status::Error {
                                sqlstate: code.0.to_owned(),
                            },
                            String::new(),
                            f.started,
                        )
                        .await;
                    }
                    let mut buf = BytesMut::new();
                    encode::error_response(&mut buf, Severity::Error, code, &message, None);
                    return Out::Replace(buf);
                }
            }
        }
        if matches!(matched, Matched::Execute { .. } | Matched::Query) {
            let status = if code == QUERY_CANCELED {
                Status::Cancelled
            } else {
                Status::Error { sqlstate: code }
            };
            self.end_current(status, String::new()).await;
        }
        if self.insp.masked {
            Out::Replace(wrap(
                b'E',
                &crate::mask::message::scrub_error_fields(payload),
            ))
        } else {
            Out::Forward
        }
    }
}

/// A DataRow with every field NULL (fail closed when no plan could be made).
fn null_row(payload: &[u8], out: &mut BytesMut) {
    let count = backend::data_row_fields(payload).map_or(0, |f| f.len());
    let nulls = vec![None; count];
    encode::data_row(out, &nulls);
}
