//! The relay loop: one task, both sockets, no locks. `poll_io` writes whatever is queued for
//! either side and reads from a side only while the queue towards the other side is below its
//! high-water mark, so a slow reader throttles its writer and neither direction can deadlock the
//! other. Complete frames are scanned in place; frames nothing acts on are forwarded as one slice
//! of the read buffer.

mod client;
mod flight;
mod server;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::{Instrument, Span};

use super::auth::{self, AuthError};
use super::extended::Tracker;
use super::guard::Inspector;
use super::outbox::Outbox;
use super::startup::Opened;
use super::state::{State, TxStatus};
use super::{Identity, SessionContext};
use crate::metrics::proxy::ConnectionOutcome;
use crate::protocol::encode::{self, Severity};
use crate::protocol::frame::HEADER_LEN;
use crate::protocol::sqlstate;
use crate::protocol::{backend, read_i32};
use crate::stream::Stream;
use crate::trail::record::{Auth, Body, SessionEnd, SessionStart};
use crate::trail::writer::SessionTicket;

/// Stop reading from one side while this much is queued for the other: 1 MiB keeps big results
/// streaming at full speed without letting one session buffer without bound.
const HIGH_WATER: usize = 1 << 20;
/// Bounds of the adaptive read size: small for OLTP round trips (so the buffers a session keeps
/// stay small), growing while reads fill it, up to 64 KiB for bulk results.
const READ_MIN: usize = 4 * 1024;
const READ_MAX: usize = 64 * 1024;

/// Next read size: double after a full read, halve after a short one.
fn next_read_size(current: usize, got: usize) -> usize {
    if got >= current {
        (current * 2).min(READ_MAX)
    } else if got < current / 4 {
        (current / 2).max(READ_MIN)
    } else {
        current
    }
}

/// What woke the loop.
enum Event {
    ClientData,
    UpstreamData,
    ClientClosed,
    UpstreamClosed,
    ClientError(io::Error),
    UpstreamError(io::Error),
    /// A frame from either side broke the protocol (the reason, for the client and the log).
    Violation(String),
    /// Shutdown is draining sessions and this one is idle with nothing left to send.
    Drained,
}

/// How a session ended, for the log.
#[derive(Debug)]
enum End {
    ClientLeft,
    UpstreamLeft,
    Stopped,
    ProtocolViolation(String),
    Io(String),
}

struct Relay {
    /// Keeps this session counted by the trail (see `TrailHandle::register`).
    _trail_ticket: Option<SessionTicket>,
    /// Keeps the session's cancel key mapped to its upstream session while it lives.
    _cancel_key: Option<super::cancel::CancelKeyGuard>,
    client: Stream,
    upstream: Stream,
    client_in: BytesMut,
    upstream_in: BytesMut,
    to_client: Outbox,
    to_upstream: Outbox,
    state: State,
    max_frame: u32,
    /// The session's `client_encoding` as the server last reported it (masks work on characters).
    client_encoding: Option<String>,
    /// `standard_conforming_strings` as last reported: off makes `\'` end no string, which the
    /// statement splitter must know.
    standard_strings: bool,
    tracker: Tracker,
    /// Current read sizes per side (see `next_read_size`).
    client_read: usize,
    upstream_read: usize,
    /// The login's policy view and the trail.
    insp: Inspector,
    /// Statements are analysed and results followed (a trail, or a restricted login); when
    /// false, frames only pass through.
    active: bool,
    /// Shutdown has begun: the session closes at its next idle point.
    draining: bool,
    flights: VecDeque<flight::Flight>,
    /// Queries, FunctionCalls and Syncs sent upstream; ReadyForQuery messages received.
    batches_sent: u64,
    batches_done: u64,
    /// A statement of the batch whose results are arriving failed: the database skips the rest
    /// of that batch (up to its Sync), so the Executes still in flight at its ReadyForQuery never
    /// ran.
    batch_failed: bool,
    prepared: HashMap<Bytes, client::PreparedInfo>,
    portals: HashMap<Bytes, client::PortalInfo>,
    /// DDL went through: reload the catalog at the next ReadyForQuery.
    refresh_pending: bool,
    metrics: crate::metrics::proxy::ProxyMetrics,
    statements: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// Runs an opened session: upstream connect, authentication relay, then the relay loop. Log
/// lines carry `span` (the session's). A session that only passes frames through enters it
/// only to handle events its loop does not handle inline (see [`Relay::poll_io`]); one that
/// inspects statements enters it on every poll, as its work is mostly event handling.
pub async fn run(opened: Opened, identity: Identity, ctx: &SessionContext, span: Span) {
    let relay = open(opened, &identity, ctx).instrument(span.clone()).await;
    let Some(mut relay) = relay else {
        return;
    };
    let end = if relay.active {
        relay.run(ctx, None).instrument(span.clone()).await
    } else {
        relay.run(ctx, Some(&span)).await
    };
    relay.finish(&identity, end).instrument(span).await;
}

/// Connects upstream, relays authentication and starts the session's trail: the relay, or
/// `None` once the client has been told why not.
async fn open(opened: Opened, identity: &Identity, ctx: &SessionContext) -> Option<Relay> {
    let mut client = opened.client;
    let mut upstream = match crate::upstream::connect(&ctx.upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "upstream connect failed");
            ctx.metrics.upstream_errors_total.inc();
            ctx.metrics.connection(ConnectionOutcome::UpstreamError);
            super::refuse(
                client,
                sqlstate::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                &e.to_string(),
                None,
            )
            .await;
            return None;
        }
    };
    if let Err(e) = upstream.write_all(&opened.startup).await {
        ctx.metrics.upstream_errors_total.inc();
        ctx.metrics.connection(ConnectionOutcome::UpstreamError);
        let msg = format!(
            "could not send the startup message to the database at {}: {e}",
            ctx.upstream.address
        );
        super::refuse(
            client,
            sqlstate::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            &msg,
            None,
        )
        .await;
        return None;
    }
    let authed = match auth::relay(&mut client, &mut upstream, ctx).await {
        Ok(a) => a,
        Err(AuthError::Refused(code)) => {
            tracing::info!(user = %identity.user, sqlstate = %code, "login refused by the database");
            ctx.metrics.connection(ConnectionOutcome::AuthFailed);
            if let Some(trail) = &ctx.guard.trail {
                let policy = ctx.guard.policy();
                let role = policy.role_set([identity.user.as_str()]).label();
                let body = session_start(
                    identity,
                    role,
                    Auth::Failed {
                        sqlstate: code.to_string(),
                    },
                );
                if let Err(e) = trail.submit(&body).await {
                    tracing::warn!(error = %e, "failed login not recorded in the trail");
                }
            }
            return None;
        }
        Err(AuthError::Client(why)) => {
            tracing::info!(reason = %why, "client left during authentication");
            ctx.metrics.connection(ConnectionOutcome::Refused);
            return None;
        }
        Err(AuthError::Upstream(why)) => {
            tracing::warn!(reason = %why, "database failed during authentication");
            ctx.metrics.upstream_errors_total.inc();
            ctx.metrics.connection(ConnectionOutcome::UpstreamError);
            let msg = format!(
                "the database at {} failed during authentication: {why}",
                ctx.upstream.address
            );
            super::refuse(client, sqlstate::CONNECTION_FAILURE, &msg, None).await;
            return None;
        }
    };
    ctx.metrics.connection(ConnectionOutcome::Ok);
    tracing::debug!(user = %identity.user, database = %identity.database, tls = identity.tls, "session ready");
    let insp = Inspector::start(Arc::clone(&ctx.guard), identity).await;
    if let Some(trail) = insp.trail() {
        let body = session_start(identity, insp.role.clone(), Auth::Ok);
        let allow = trail.on_failure() == crate::trail::writer::OnFailure::Allow;
        match trail.submit(&body).await {
            Ok(_) => {}
            Err(e) if allow => {
                tracing::warn!(error = %e, "session starts without its trail record (on_failure = \"allow\")");
            }
            Err(e) => {
                tracing::warn!(error = %e, "session refused: the audit trail cannot be written");
                let mut upstream = upstream;
                let _ = upstream.shutdown().await;
                let msg = format!("trailmask cannot write its audit trail ({}), so no session can start now; try again shortly or tell the operator", e.reason());
                super::refuse(client, sqlstate::IO_ERROR, &msg, None).await;
                return None;
            }
        }
    }
    // Counted while the session lives: lets a strict trail close a group early.
    let trail_ticket = insp.trail().map(|t| t.register());
    let active = insp.restricted || insp.trail().is_some();
    let state =
        TxStatus::from_byte(authed.status).map_or(State::ready(TxStatus::Idle), State::ready);
    Some(Relay {
        client,
        upstream,
        client_in: authed.client_in,
        upstream_in: authed.upstream_in,
        to_client: authed.to_client,
        to_upstream: Outbox::default(),
        state,
        max_frame: ctx.max_frame_bytes,
        client_encoding: authed.client_encoding,
        standard_strings: authed.standard_strings,
        tracker: Tracker::new(),
        client_read: READ_MIN,
        upstream_read: READ_MIN,
        insp,
        active,
        draining: false,
        flights: VecDeque::new(),
        batches_sent: 0,
        batches_done: 0,
        batch_failed: false,
        prepared: HashMap::new(),
        portals: HashMap::new(),
        refresh_pending: false,
        metrics: ctx.metrics.clone(),
        statements: 0,
        bytes_in: 0,
        bytes_out: 0,
        _trail_ticket: trail_ticket,
        _cancel_key: authed.cancel_key,
    })
}

/// `fut` inside `span` when there is one.
async fn in_span<F: std::future::Future>(fut: F, span: Option<&Span>) -> F::Output {
    match span {
        Some(span) => fut.instrument(span.clone()).await,
        None => fut.await,
    }
}

/// The next stop level the listener announces (`STOP_NOW` when it is gone), with the receiver
/// back for the next wait.
async fn next_stop_level(mut rx: watch::Receiver<u8>) -> (u8, watch::Receiver<u8>) {
    let level = match rx.changed().await {
        Ok(()) => *rx.borrow_and_update(),
        Err(_) => crate::listener::STOP_NOW,
    };
    (level, rx)
}

fn session_start(identity: &Identity, role: String, auth: Auth) -> Body {
    Body::SessionStart(SessionStart {
        session: identity.id.0,
        client: identity.client.to_string(),
        user: identity.user.clone(),
        role,
        database: identity.database.clone(),
        application: identity.application.clone(),
        tls: identity.tls,
        auth,
    })
}

impl End {
    /// The trail's `session_end.reason`.
    fn reason(&self) -> String {
        match self {
            End::ClientLeft => "client closed".to_owned(),
            End::UpstreamLeft => "database closed".to_owned(),
            End::Stopped => "shutdown".to_owned(),
            End::ProtocolViolation(why) => format!("protocol violation: {why}"),
            End::Io(why) => format!("i/o error: {why}"),
        }
    }
}

impl Relay {
    /// The relay loop, to the session's end. With a `span`, waiting and pass-through run
    /// outside it and every event handled here (so all logging) inside it; without one, the
    /// caller has entered the session's span around the whole loop.
    async fn run(&mut self, ctx: &SessionContext, span: Option<&Span>) -> End {
        // One stop watcher for the whole session, not one per event (each would register with
        // the watch channel anew).
        let mut stop = Box::pin(next_stop_level(ctx.hard_stop.clone()));
        loop {
            let event = tokio::select! {
                biased;
                (level, rx) = &mut stop => {
                    if level >= crate::listener::STOP_NOW {
                        return in_span(self.close_for_shutdown(), span).await;
                    }
                    self.draining = level >= crate::listener::STOP_DRAIN;
                    stop.set(next_stop_level(rx));
                    continue;
                }
                ev = std::future::poll_fn(|cx| self.poll_io(cx)) => ev,
            };
            if let Some(end) = in_span(self.handle(event, ctx), span).await {
                return end;
            }
        }
    }

    /// Acts on one event; `Some` when the session is over.
    async fn handle(&mut self, event: Event, ctx: &SessionContext) -> Option<End> {
        let outcome = match event {
            Event::ClientData => self.on_client_data().await,
            Event::UpstreamData => self.on_upstream_data().await,
            Event::Violation(why) => Err(why),
            Event::Drained => return Some(self.close_for_shutdown().await),
            Event::ClientClosed => {
                let _ = self.send_upstream_terminate().await;
                return Some(End::ClientLeft);
            }
            Event::UpstreamClosed => {
                if self.state.is_terminating() {
                    return Some(End::ClientLeft);
                }
                ctx.metrics.upstream_errors_total.inc();
                let end = self
                    .fatal_to_client(
                        sqlstate::CONNECTION_FAILURE,
                        "the database closed the connection unexpectedly",
                        End::UpstreamLeft,
                    )
                    .await;
                return Some(end);
            }
            Event::ClientError(e) => {
                let _ = self.send_upstream_terminate().await;
                return Some(End::Io(format!("client: {e}")));
            }
            Event::UpstreamError(e) => {
                ctx.metrics.upstream_errors_total.inc();
                let msg = format!("lost the connection to the database: {e}");
                let end = self
                    .fatal_to_client(sqlstate::CONNECTION_FAILURE, &msg, End::UpstreamLeft)
                    .await;
                return Some(end);
            }
        };
        let why = outcome.err()?;
        let _ = self.send_upstream_terminate().await;
        let end = self
            .fatal_to_client(
                sqlstate::PROTOCOL_VIOLATION,
                &why,
                End::ProtocolViolation(why.clone()),
            )
            .await;
        Some(end)
    }

    /// Records the session's end in the trail and the log.
    async fn finish(&self, identity: &Identity, end: End) {
        if let Some(trail) = self.insp.trail() {
            let body = Body::SessionEnd(SessionEnd {
                session: identity.id.0,
                statements: self.statements,
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                reason: end.reason(),
            });
            if let Err(e) = trail.submit(&body).await {
                tracing::warn!(error = %e, "session end not recorded in the trail");
            }
        }
        match &end {
            End::ClientLeft | End::Stopped | End::UpstreamLeft => {
                tracing::debug!(?end, "session ended")
            }
            End::ProtocolViolation(why) => {
                tracing::info!(reason = %why, "session ended: protocol violation")
            }
            End::Io(why) => tracing::info!(reason = %why, "session ended: I/O error"),
        }
    }

    /// Writes queued bytes both ways, then reads from whichever side has room. Ready with the
    /// first thing that needs handling.
    ///
    /// A session that only passes frames through handles what it read right here and goes round
    /// again (write, then read), so a round trip costs one wake-up per direction and never goes
    /// back through the event loop; tokio's cooperative budget on socket polls keeps this loop
    /// from starving other sessions on the thread. Each round, once the writes are done, a
    /// draining session that is idle is over.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        loop {
            if let Poll::Ready(Err(e)) = self.to_upstream.poll_write_to(&mut self.upstream, cx) {
                return Poll::Ready(Event::UpstreamError(e));
            }
            if let Poll::Ready(Err(e)) = self.to_client.poll_write_to(&mut self.client, cx) {
                return Poll::Ready(Event::ClientError(e));
            }
            if self.draining && self.state.is_idle() && self.to_client.is_empty() {
                return Poll::Ready(Event::Drained);
            }
            let inline = !self.active;
            if self.to_upstream.len() < HIGH_WATER {
                match self
                    .client
                    .poll_read_buf(cx, &mut self.client_in, self.client_read)
                {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Event::ClientClosed),
                    Poll::Ready(Ok(n)) => {
                        self.client_read = next_read_size(self.client_read, n);
                        if !inline {
                            return Poll::Ready(Event::ClientData);
                        }
                        let at = match self.scan_client_frames() {
                            Ok(at) => at,
                            Err(why) => return Poll::Ready(Event::Violation(why)),
                        };
                        self.bytes_in += u64::try_from(at).unwrap_or(0);
                        let sent = self.to_upstream.send_from(
                            &mut self.upstream,
                            cx,
                            &mut self.client_in,
                            at,
                        );
                        if let Err(e) = sent {
                            return Poll::Ready(Event::UpstreamError(e));
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::ClientError(e)),
                    Poll::Pending => {}
                }
            }
            if self.to_client.len() < HIGH_WATER {
                match self
                    .upstream
                    .poll_read_buf(cx, &mut self.upstream_in, self.upstream_read)
                {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Event::UpstreamClosed),
                    Poll::Ready(Ok(n)) => {
                        self.upstream_read = next_read_size(self.upstream_read, n);
                        if !inline {
                            return Poll::Ready(Event::UpstreamData);
                        }
                        let at = match self.scan_upstream_frames() {
                            Ok(at) => at,
                            Err(why) => return Poll::Ready(Event::Violation(why)),
                        };
                        self.bytes_out += u64::try_from(at).unwrap_or(0);
                        let sent = self.to_client.send_from(
                            &mut self.client,
                            cx,
                            &mut self.upstream_in,
                            at,
                        );
                        if let Err(e) = sent {
                            return Poll::Ready(Event::ClientError(e));
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::UpstreamError(e)),
                    Poll::Pending => {}
                }
            }
            return Poll::Pending;
        }
    }

    /// Scans the complete client frames and hands them to the statement machinery (sessions
    /// that only pass frames through forward them in [`Relay::poll_io`]).
    async fn on_client_data(&mut self) -> Result<(), String> {
        match self.take_client_frames()? {
            Some(chunk) => self.on_client_chunk(chunk).await,
            None => Ok(()),
        }
    }

    /// Scans the complete server frames and hands them to the result machinery.
    async fn on_upstream_data(&mut self) -> Result<(), String> {
        match self.take_upstream_frames()? {
            Some(chunk) => self.on_upstream_chunk(chunk).await,
            None => Ok(()),
        }
    }

    /// The complete client frames at the front of the read buffer, checked against the
    /// protocol state, as one chunk (`None` while the first frame is incomplete).
    fn take_client_frames(&mut self) -> Result<Option<Bytes>, String> {
        let at = self.scan_client_frames()?;
        Ok((at > 0).then(|| self.client_in.split_to(at).freeze()))
    }

    /// How many bytes of whole client frames the read buffer starts with, each frame checked
    /// against the protocol state.
    fn scan_client_frames(&mut self) -> Result<usize, String> {
        let mut at = 0usize;
        while let Some((tag, total)) = frame_at(&self.client_in, at, self.max_frame)? {
            self.state = self.state.on_client(tag).map_err(|e| e.to_string())?;
            at += total;
        }
        Ok(at)
    }

    /// The complete server frames at the front of the read buffer, checked against the
    /// protocol state, as one chunk (`None` while the first frame is incomplete).
    fn take_upstream_frames(&mut self) -> Result<Option<Bytes>, String> {
        let at = self.scan_upstream_frames()?;
        Ok((at > 0).then(|| self.upstream_in.split_to(at).freeze()))
    }

    /// How many bytes of whole server frames the read buffer starts with, each frame checked
    /// against the protocol state (and `client_encoding` noted when the session only passes
    /// frames through).
    fn scan_upstream_frames(&mut self) -> Result<usize, String> {
        let mut at = 0usize;
        while let Some((tag, total)) = frame_at(&self.upstream_in, at, self.max_frame)? {
            let status = if tag == b'Z' {
                self.upstream_in.get(at + HEADER_LEN).copied()
            } else {
                None
            };
            self.state = self
                .state
                .on_server(tag, status)
                .map_err(|e| format!("from the database: {e}"))?;
            if !self.active && tag == b'S' {
                let payload = self
                    .upstream_in
                    .get(at + HEADER_LEN..at + total)
                    .unwrap_or(&[]);
                if let Some((b"client_encoding", value)) = backend::parameter_status(payload) {
                    self.client_encoding = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            at += total;
        }
        Ok(at)
    }

    async fn send_upstream_terminate(&mut self) -> io::Result<()> {
        if !self.state.is_terminating() {
            let mut buf = BytesMut::with_capacity(5);
            encode::terminate(&mut buf);
            self.to_upstream.push_encoded(buf);
            self.state = State::Terminating;
        }
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            self.to_upstream.drain_to(&mut self.upstream),
        )
        .await;
        r.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "upstream not reading",
            ))
        })
    }

    async fn fatal_to_client(&mut self, code: sqlstate::SqlState, message: &str, end: End) -> End {
        let mut buf = BytesMut::new();
        encode::error_response(&mut buf, Severity::Fatal, code, message, None);
        self.to_client.push_encoded(buf);
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            self.to_client.drain_to(&mut self.client),
        )
        .await;
        let _ = self.client.shutdown().await;
        end
    }

    async fn close_for_shutdown(&mut self) -> End {
        let _ = self.send_upstream_terminate().await;
        self.fatal_to_client(
            sqlstate::ADMIN_SHUTDOWN,
            "terminating connection because trailmask is shutting down",
            End::Stopped,
        )
        .await
    }
}

/// Tag and end of the whole frame at `at` of a buffer already checked by `frame_at`.
fn frame_bounds(buf: &[u8], at: usize) -> Option<(u8, usize)> {
    let rest = buf.get(at..)?;
    let (&tag, after) = rest.split_first()?;
    let (len, _) = read_i32(after)?;
    let total = usize::try_from(len).ok()?.checked_add(1)?;
    let end = at.checked_add(total)?;
    (end <= buf.len()).then_some((tag, end))
}

/// The tag and total length of the complete frame starting at `at`, `None` if incomplete.
fn frame_at(buf: &[u8], at: usize, max: u32) -> Result<Option<(u8, usize)>, String> {
    let Some(rest) = buf.get(at..) else {
        return Ok(None);
    };
    let Some((&tag, after)) = rest.split_first() else {
        return Ok(None);
    };
    let Some((len, _)) = read_i32(after) else {
        return Ok(None);
    };
    let Ok(len_u) = u32::try_from(len) else {
        return Err(format!(
            "message '{}' declares a negative length",
            char::from(tag)
        ));
    };
    if len_u < 4 {
        return Err(format!(
            "message '{}' declares length {len}, below the minimum of 4",
            char::from(tag)
        ));
    }
    if len_u > max {
        return Err(format!(
            "message '{}' declares length {len}, above the limit of {max} bytes",
            char::from(tag)
        ));
    }
    let total = usize::try_from(len_u).map_err(|_| "message too long".to_owned())? + 1;
    if rest.len() < total {
        return Ok(None);
    }
    Ok(Some((tag, total)))
}
