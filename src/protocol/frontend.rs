//! Read-only views of the client messages trailmask acts on.

use super::{read_i16, read_i32, split_cstr};

/// `Q`: the SQL text (bytes in the client's encoding, without the NUL).
pub fn query(payload: &[u8]) -> Option<&[u8]> {
    split_cstr(payload).map(|(sql, _)| sql)
}

/// `P`: statement name and SQL text.
pub fn parse(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = split_cstr(payload)?;
    let (sql, _) = split_cstr(rest)?;
    Some((name, sql))
}

/// `B`: portal name and statement name (the rest is left to whoever needs it).
pub fn bind_names(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (portal, rest) = split_cstr(payload)?;
    let (statement, _) = split_cstr(rest)?;
    Some((portal, statement))
}

/// `D` / `C`: kind (`S` statement or `P` portal) and name.
pub fn describe_or_close(payload: &[u8]) -> Option<(u8, &[u8])> {
    let (&kind, rest) = payload.split_first()?;
    let (name, _) = split_cstr(rest)?;
    Some((kind, name))
}

/// `E`: portal name and row limit.
pub fn execute(payload: &[u8]) -> Option<(&[u8], i32)> {
    let (portal, rest) = split_cstr(payload)?;
    let (max_rows, _) = read_i32(rest)?;
    Some((portal, max_rows))
}

/// `B` in full: names, parameter values (`None` for NULL) with their format codes, and the
/// result-column format codes, all borrowed from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind<'a> {
    pub portal: &'a [u8],
    pub statement: &'a [u8],
    pub param_formats: Vec<i16>,
    pub params: Vec<Option<&'a [u8]>>,
    pub result_formats: Vec<i16>,
}

/// `B`: every part of a Bind message.
pub fn bind(payload: &[u8]) -> Option<Bind<'_>> {
    let (portal, rest) = split_cstr(payload)?;
    let (statement, rest) = split_cstr(rest)?;
    let (param_formats, rest) = i16_list(rest)?;
    let (count, mut rest) = read_i16(rest)?;
    let count = usize::try_from(count).ok()?;
    let mut params = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let (len, r) = read_i32(rest)?;
        if len < 0 {
            params.push(None);
            rest = r;
        } else {
            let len = usize::try_from(len).ok()?;
            let (value, r) = (r.get(..len)?, r.get(len..)?);
            params.push(Some(value));
            rest = r;
        }
    }
    let (result_formats, _) = i16_list(rest)?;
    Some(Bind {
        portal,
        statement,
        param_formats,
        params,
        result_formats,
    })
}

/// A count-prefixed list of big-endian i16 (format codes).
fn i16_list(buf: &[u8]) -> Option<(Vec<i16>, &[u8])> {
    let (count, mut rest) = read_i16(buf)?;
    let count = usize::try_from(count).ok()?;
    let mut out = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let (v, r) = read_i16(rest)?;
        out.push(v);
        rest = r;
    }
    Some((out, rest))
}

/// `p` answering AuthenticationSASL: the chosen mechanism and the client-first-message.
pub fn sasl_initial_response(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mechanism, rest) = split_cstr(payload)?;
    let (len, data) = read_i32(rest)?;
    if len < 0 {
        return Some((mechanism, &[]));
    }
    Some((mechanism, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_messages() {
        assert_eq!(query(b"select 1\0"), Some(&b"select 1"[..]));
        assert_eq!(
            parse(b"s1\0select $1\0\0\0"),
            Some((&b"s1"[..], &b"select $1"[..]))
        );
        assert_eq!(execute(b"\0\0\0\0\x05"), Some((&b""[..], 5)));
        assert_eq!(describe_or_close(b"Pp1\0"), Some((b'P', &b"p1"[..])));
        let (m, data) = sasl_initial_response(b"SCRAM-SHA-256\0\0\0\0\x03y,,").unwrap();
        assert_eq!((m, data), (&b"SCRAM-SHA-256"[..], &b"y,,"[..]));
        assert_eq!(query(b"no terminator"), None);
        let b = bind(b"p\0s\0\0\x01\0\x01\0\x02\0\0\0\x02hi\xff\xff\xff\xff\0\x01\0\x01").unwrap();
        assert_eq!((b.portal, b.statement), (&b"p"[..], &b"s"[..]));
        assert_eq!(b.param_formats, vec![1]);
        assert_eq!(b.params, vec![Some(&b"hi"[..]), None]);
        assert_eq!(b.result_formats, vec![1]);
        assert_eq!(bind(b"p\0s\0\0\x00\0\x01\0\0\0\x09hi"), None);
    }
}
