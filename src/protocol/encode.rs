//! Writers for the messages trailmask itself produces, straight into the caller's buffer with the
//! length back-patched. Written by hand rather than through pgwire's message structs: those own
//! `String`s (lossy for non-UTF-8 text) and allocate per message, while these few messages are
//! built once per session or per refusal directly where they are sent.

use bytes::{BufMut, BytesMut};

use super::sqlstate::SqlState;

/// Severity of an ErrorResponse trailmask sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// Starts a tagged message; returns the offset of its length field for [`finish`].
fn begin(buf: &mut BytesMut, tag: u8) -> usize {
    buf.put_u8(tag);
    let at = buf.len();
    buf.put_i32(0);
    at
}

/// Back-patches the length of the message begun at `at`.
fn finish(buf: &mut BytesMut, at: usize) {
    let len = i32::try_from(buf.len() - at).unwrap_or(i32::MAX);
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

fn put_cstr(buf: &mut BytesMut, s: &[u8]) {
    buf.put_slice(s);
    buf.put_u8(0);
}

/// ErrorResponse with severity, SQLSTATE and message (and an optional hint).
pub fn error_response(
    buf: &mut BytesMut,
    severity: Severity,
    code: SqlState,
    message: &str,
    hint: Option<&str>,
) {
    let at = begin(buf, b'E');
    buf.put_u8(b'S');
    put_cstr(buf, severity.as_str().as_bytes());
    buf.put_u8(b'V');
    put_cstr(buf, severity.as_str().as_bytes());
    buf.put_u8(b'C');
    put_cstr(buf, code.code().as_bytes());
    buf.put_u8(b'M');
    put_cstr(buf, message.as_bytes());
    if let Some(hint) = hint {
        buf.put_u8(b'H');
        put_cstr(buf, hint.as_bytes());
    }
    buf.put_u8(0);
    finish(buf, at);
}

/// ReadyForQuery with transaction status `I`, `T` or `E`.
pub fn ready_for_query(buf: &mut BytesMut, status: u8) {
    let at = begin(buf, b'Z');
    buf.put_u8(status);
    finish(buf, at);
}

/// BackendKeyData (protocol 3.0: 32-bit secret).
pub fn backend_key_data(buf: &mut BytesMut, pid: i32, secret: i32) {
    let at = begin(buf, b'K');
    buf.put_i32(pid);
    buf.put_i32(secret);
    finish(buf, at);
}

/// AuthenticationSASL listing `mechanisms`.
pub fn authentication_sasl(buf: &mut BytesMut, mechanisms: &[&[u8]]) {
    let at = begin(buf, b'R');
    buf.put_i32(10);
    for m in mechanisms {
        put_cstr(buf, m);
    }
    buf.put_u8(0);
    finish(buf, at);
}

/// A protocol 3.0 StartupMessage.
pub fn startup_message(buf: &mut BytesMut, params: &[(&str, &str)]) {
    let at = buf.len();
    buf.put_i32(0);
    buf.put_i32(super::startup::PROTOCOL_3_0);
    for (k, v) in params {
        put_cstr(buf, k.as_bytes());
        put_cstr(buf, v.as_bytes());
    }
    buf.put_u8(0);
    finish(buf, at);
}

/// SSLRequest.
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(super::startup::SSL_REQUEST_CODE);
}

/// CancelRequest for a backend's process id and secret key.
pub fn cancel_request(buf: &mut BytesMut, pid: i32, secret: i32) {
    buf.put_i32(16);
    buf.put_i32(super::startup::CANCEL_REQUEST_CODE);
    buf.put_i32(pid);
    buf.put_i32(secret);
}

/// Query (simple protocol).
pub fn query(buf: &mut BytesMut, sql: &[u8]) {
    let at = begin(buf, b'Q');
    put_cstr(buf, sql);
    finish(buf, at);
}

/// Describe of a portal (`P`) or statement (`S`).
pub fn describe(buf: &mut BytesMut, kind: u8, name: &[u8]) {
    let at = begin(buf, b'D');
    buf.put_u8(kind);
    put_cstr(buf, name);
    finish(buf, at);
}

/// Parse of an unnamed statement without parameter types.
pub fn parse(buf: &mut BytesMut, name: &[u8], sql: &[u8]) {
    let at = begin(buf, b'P');
    put_cstr(buf, name);
    put_cstr(buf, sql);
    buf.put_i16(0);
    finish(buf, at);
}

/// Bind of `statement` to `portal` with no parameters and text results.
pub fn bind_empty(buf: &mut BytesMut, portal: &[u8], statement: &[u8]) {
    let at = begin(buf, b'B');
    put_cstr(buf, portal);
    put_cstr(buf, statement);
    buf.put_i16(0);
    buf.put_i16(0);
    buf.put_i16(0);
    finish(buf, at);
}

/// Execute of `portal`, all rows.
pub fn execute(buf: &mut BytesMut, portal: &[u8]) {
    let at = begin(buf, b'E');
    put_cstr(buf, portal);
    buf.put_i32(0);
    finish(buf, at);
}

/// DataRow from field values (`None`: NULL).
pub fn data_row(buf: &mut BytesMut, fields: &[Option<&[u8]>]) {
    let at = begin(buf, b'D');
    buf.put_i16(i16::try_from(fields.len()).unwrap_or(i16::MAX));
    for f in fields {
        match f {
            Some(v) => {
                buf.put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
                buf.put_slice(v);
            }
            None => buf.put_i32(-1),
        }
    }
    finish(buf, at);
}

/// Sync.
pub fn sync(buf: &mut BytesMut) {
    let at = begin(buf, b'S');
    finish(buf, at);
}

/// Terminate.
pub fn terminate(buf: &mut BytesMut) {
    let at = begin(buf, b'X');
    finish(buf, at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::backend::ErrorFields;
    use crate::protocol::sqlstate;
    use crate::protocol::Frame;

    #[test]
    fn error_response_round_trips() {
        let mut buf = BytesMut::new();
        error_response(
            &mut buf,
            Severity::Fatal,
            sqlstate::PROTOCOL_VIOLATION,
            "bad frame",
            Some("fix it"),
        );
        let frame = Frame::split(&mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(frame.tag(), b'E');
        let fields = ErrorFields::parse(frame.payload()).unwrap();
        assert_eq!(fields.get(b'C'), Some(&b"08P01"[..]));
        assert_eq!(fields.get(b'M'), Some(&b"bad frame"[..]));
        assert_eq!(fields.get(b'H'), Some(&b"fix it"[..]));
        assert_eq!(fields.get(b'S'), Some(&b"FATAL"[..]));
    }

    #[test]
    fn ready_for_query_is_six_bytes() {
        let mut buf = BytesMut::new();
        ready_for_query(&mut buf, b'I');
        assert_eq!(&buf[..], b"Z\0\0\0\x05I");
    }
}
