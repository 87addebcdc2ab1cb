//! Relays authentication between client and database, so the database stays the judge of
//! passwords and trailmask holds no secret. It rewrites two things only: the SASL mechanism list
//! loses SCRAM-SHA-256-PLUS (channel binding would bind to the wrong TLS certificate across the
//! proxy), and BackendKeyData is replaced by trailmask's own key so cancels come through it.

use bytes::BytesMut;

use super::cancel::{CancelKeyGuard, UpstreamKey};
use super::outbox::Outbox;
use super::SessionContext;
use crate::protocol::backend::{self, auth_code, SCRAM_SHA_256_PLUS};
use crate::protocol::encode;
use crate::protocol::frame::Frame;
use crate::protocol::frontend;
use crate::protocol::sqlstate;
use crate::stream::Stream;

/// A session that passed authentication; buffers keep any bytes that arrived early.
pub struct Authenticated {
    pub upstream_in: BytesMut,
    pub client_in: BytesMut,
    pub to_client: Outbox,
    pub cancel_key: Option<CancelKeyGuard>,
    /// The first ReadyForQuery's status.
    pub status: u8,
    /// `client_encoding` as the server reported it.
    pub client_encoding: Option<String>,
    /// `standard_conforming_strings` as the server reported it (`on` unless told otherwise).
    pub standard_strings: bool,
}

/// How authentication ended when it did not succeed.
#[derive(Debug)]
pub enum AuthError {
    /// The database refused the login; its ErrorResponse was relayed. Holds the SQLSTATE.
    Refused(String),
    /// The client left, or broke the protocol; the string is for the log.
    Client(String),
    /// The database broke the protocol or went away.
    Upstream(String),
}

/// Relays the exchange until the first ReadyForQuery.
///
/// # Cancellation safety
/// Not cancel-safe: dropping it mid-exchange leaves both sockets mid-protocol; callers drop them.
pub async fn relay(
    client: &mut Stream,
    upstream: &mut Stream,
    ctx: &SessionContext,
) -> Result<Authenticated, AuthError> {
    let max = ctx.max_frame_bytes;
    let mut upstream_in = BytesMut::with_capacity(8 * 1024);
    let mut client_in = BytesMut::with_capacity(1024);
    let mut to_client = Outbox::default();
    let mut to_upstream = Outbox::default();
    let mut cancel_key = None;
    let mut client_encoding = None;
    let mut standard_strings = true;
    // Whether the last request was AuthenticationSASL, so the client's answer is the initial one.
    let mut sasl_initial = false;
    loop {
        let frame = read_frame(upstream, &mut upstream_in, max)
            .await
            .map_err(AuthError::Upstream)?;
        let payload = frame.payload();
        match frame.tag() {
            b'R' => {
                let (code, body) = backend::authentication(payload).ok_or_else(|| {
                    AuthError::Upstream("malformed authentication request".into())
                })?;
                let needs_answer = match code {
                    auth_code::OK | auth_code::SASL_FINAL => false,
                    auth_code::SASL => {
                        let mechs = backend::sasl_mechanisms(body).ok_or_else(|| {
                            AuthError::Upstream("malformed SASL mechanism list".into())
                        })?;
                        if mechs.contains(&SCRAM_SHA_256_PLUS) {
                            let kept: Vec<&[u8]> = mechs
                                .into_iter()
                                .filter(|m| *m != SCRAM_SHA_256_PLUS)
                                .collect();
                            let mut buf = BytesMut::new();
                            encode::authentication_sasl(&mut buf, &kept);
                            to_client.push_encoded(buf);
                        } else {
                            to_client.push(frame.bytes().clone());
                        }
                        sasl_initial = true;
                        true
                    }
                    _ => true,
                };
                if code != auth_code::SASL {
                    to_client.push(frame.into_bytes());
                }
                if needs_answer {
                    to_client
                        .drain_to(client)
                        .await
                        .map_err(|e| AuthError::Client(e.to_string()))?;
                    let answer = read_frame(client, &mut client_in, max)
                        .await
                        .map_err(AuthError::Client)?;
                    if answer.tag() != b'p' {
                        return Err(AuthError::Client(format!(
                            "expected a password message, got '{}'",
                            char::from(answer.tag())
                        )));
                    }
                    if sasl_initial && upstream.is_tls() {
                        check_channel_binding_flag(client, answer.payload()).await?;
                    }
                    sasl_initial = false;
                    to_upstream.push(answer.into_bytes());
                    to_upstream
                        .drain_to(upstream)
                        .await
                        .map_err(|e| AuthError::Upstream(e.to_string()))?;
                }
            }
            b'K' => {
                let (pid, secret) = backend::backend_key_data(payload)
                    .ok_or_else(|| AuthError::Upstream("malformed BackendKeyData".into()))?;
                let (our_pid, our_secret, guard) = ctx.cancels.issue(UpstreamKey { pid, secret });
                let mut buf = BytesMut::new();
                encode::backend_key_data(&mut buf, our_pid, our_secret);
                to_client.push_encoded(buf);
                cancel_key = Some(guard);
            }
            b'E' => {
                let code = backend::ErrorFields::parse(payload)
                    .and_then(|f| f.code().map(str::to_owned))
                    .unwrap_or_else(|| "XX000".to_owned());
                to_client.push(frame.into_bytes());
                let _ = to_client.drain_to(client).await;
                return Err(AuthError::Refused(code));
            }
            b'Z' => {
                let status = backend::ready_for_query_status(payload)
                    .ok_or_else(|| AuthError::Upstream("malformed ReadyForQuery".into()))?;
                to_client.push(frame.into_bytes());
                return Ok(Authenticated {
                    upstream_in,
                    client_in,
                    to_client,
                    cancel_key,
                    status,
                    client_encoding,
                    standard_strings,
                });
            }
            b'S' => {
                if let Some((name, value)) = backend::parameter_status(payload) {
                    if name == b"client_encoding" {
                        client_encoding = Some(String::from_utf8_lossy(value).into_owned());
                    }
                    if name == b"standard_conforming_strings" {
                        standard_strings = value != b"off";
                    }
                }
                to_client.push(frame.into_bytes());
            }
            _ => to_client.push(frame.into_bytes()),
        }
    }
}

/// A TLS client that supports channel binding but was not offered SCRAM-SHA-256-PLUS says so
/// with the gs2 flag `y`; a TLS database then rejects the login as a downgrade attack, and
/// nothing in the middle can change the flag without breaking the client's proof. Tell the user
/// what to do instead of letting the database's puzzling error through.
async fn check_channel_binding_flag(client: &mut Stream, payload: &[u8]) -> Result<(), AuthError> {
    let Some((_, data)) = frontend::sasl_initial_response(payload) else {
        return Err(AuthError::Client("malformed SASLInitialResponse".into()));
    };
    if data.first() == Some(&b'y') {
        let mut buf = BytesMut::new();
        encode::error_response(
            &mut buf,
            encode::Severity::Fatal,
            sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
            "SCRAM channel binding cannot pass through trailmask's TLS termination while the database connection also uses TLS",
            Some("Connect with channel_binding=disable (libpq) or without TLS-based channel binding."),
        );
        let mut out = Outbox::default();
        out.push_encoded(buf);
        let _ = out.drain_to(client).await;
        return Err(AuthError::Client(
            "client asked for channel binding across TLS on both legs".into(),
        ));
    }
    Ok(())
}

/// Reads one whole frame, reading more bytes as needed.
pub(super) async fn read_frame(
    stream: &mut Stream,
    buf: &mut BytesMut,
    max: u32,
) -> Result<Frame, String> {
    loop {
        match Frame::split(buf, max) {
            Ok(Some(f)) => return Ok(f),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let n = std::future::poll_fn(|cx| stream.poll_read_buf(cx, buf, 8 * 1024))
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
    }
}
