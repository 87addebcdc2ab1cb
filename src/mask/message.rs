//! Scrubbing of ErrorResponse / NoticeResponse bodies for roles that see personal columns masked
//! (SPEC "Masking — what must hold"): a failed cast echoes the value it could not cast, a unique
//! violation names the key, a CONTEXT line quotes the statement. Pure bytes in, bytes out; the
//! session decides when to call it and frames the result.
//!
//! Kept byte for byte: severity (`S`, `V`), SQLSTATE (`C`), position (`P`), the object names
//! (`s` schema, `t` table, `c` column, `d` data type, `n` constraint: identifiers, not values)
//! and PostgreSQL's source location (`F`, `L`, `R`). Dropped: `D` detail, `H` hint, `W` context,
//! `p`/`q` internal position and query, and any field type PostgreSQL may add later.
//!
//! In `M`, every quoted span is replaced by `****` between its quotes: `"…"`, `'…'`, and in UTF-8
//! also `“…”` and `「…」` (translated messages). So is the value in `Key (col)=(value)`. The rule
//! is deliberately blunt: a quoted identifier (a constraint or column name) is replaced too,
//! because telling an identifier from a value by its look is guesswork. The identifiers remain
//! available in the `c`, `t`, `n` fields. Quotes are ASCII bytes that never occur inside a
//! multi-byte character of UTF-8 or Big5, so scanning bytes is safe in both.

use bytes::{BufMut, Bytes, BytesMut};

/// What replaces a quoted value.
const HIDDEN: &[u8] = b"****";

/// Opening and closing quote byte sequences recognised in `M`.
const QUOTES: &[(&[u8], &[u8])] = &[
    (b"\"", b"\""),
    (b"'", b"'"),
    ("“".as_bytes(), "”".as_bytes()),
    ("「".as_bytes(), "」".as_bytes()),
];

/// Scrubs an ErrorResponse/NoticeResponse body (`type byte, C string` pairs ended by a 0 byte).
/// A malformed body (a field without its terminator) loses the malformed field and everything
/// after it; the output is always well formed.
pub fn scrub_error_fields(payload: &[u8]) -> Bytes {
    // A PL/pgSQL RAISE (routine `exec_stmt_raise`) writes whatever the function's author put in
    // its message and its USING fields, quoted or not: its text is replaced whole and the
    // object-name fields dropped. Every other error follows PostgreSQL's own message templates.
    let raised = fields(payload).any(|(f, v)| f == b'R' && v == b"exec_stmt_raise");
    let mut out = BytesMut::with_capacity(payload.len());
    for (field, value) in fields(payload) {
        match field {
            b'S' | b'V' | b'C' | b'P' | b'F' | b'L' | b'R' => {
                out.put_u8(field);
                out.put_slice(value);
                out.put_u8(0);
            }
            b's' | b't' | b'c' | b'd' | b'n' if !raised => {
                out.put_u8(field);
                out.put_slice(value);
                out.put_u8(0);
            }
            b'M' => {
                out.put_u8(field);
                if raised {
                    out.put_slice(RAISE_HIDDEN.as_bytes());
                } else {
                    out.put_slice(&scrub_message(value));
                }
                out.put_u8(0);
            }
            // D, H, W, p, q, the fields of a RAISE, and unknown fields.
            _ => {}
        }
    }
    out.put_u8(0);
    out.freeze()
}

/// The message a masked role gets in place of a RAISE's own text.
pub const RAISE_HIDDEN: &str =
    "message raised by a database function (its text is hidden from this role by trailmask)";

/// The `(type, value)` fields of an ErrorResponse/NoticeResponse body, up to the first
/// malformed one.
fn fields(payload: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = payload;
    std::iter::from_fn(move || {
        let (&field, tail) = rest.split_first()?;
        if field == 0 {
            return None;
        }
        let end = tail.iter().position(|&b| b == 0)?;
        let (value, after) = tail.split_at(end);
        rest = after.get(1..).unwrap_or_default();
        Some((field, value))
    })
}

/// Replaces quoted spans and `=(value)` in a message text.
pub fn scrub_message(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    let mut i = 0;
    while let Some(rest) = m.get(i..) {
        if rest.is_empty() {
            break;
        }
        if let Some((open, close)) = QUOTES.iter().find(|(open, _)| rest.starts_with(open)) {
            out.extend_from_slice(open);
            out.extend_from_slice(HIDDEN);
            let body = rest.get(open.len()..).unwrap_or_default();
            match find(body, close) {
                Some(at) => {
                    out.extend_from_slice(close);
                    i += open.len() + at + close.len();
                }
                // Unterminated: everything after the quote is hidden.
                None => break,
            }
            continue;
        }
        // "invalid byte sequence … 0xe5 0x8f": the bytes of a value that did not convert.
        if rest.starts_with(b"0x")
            && rest
                .get(2..4)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            out.extend_from_slice(b"0x**");
            i += 4;
            continue;
        }
        if rest.starts_with(b"=(") {
            out.extend_from_slice(b"=(");
            out.extend_from_slice(HIDDEN);
            let body = rest.get(2..).unwrap_or_default();
            match closing_paren(body) {
                Some(at) => {
                    out.push(b')');
                    i += 2 + at + 1;
                }
                None => break,
            }
            continue;
        }
        if let Some(&b) = rest.first() {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Index of the `)` that closes an already opened `(`, counting nested pairs.
fn closing_paren(body: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            _ => {}
        }
    }
    None
}
