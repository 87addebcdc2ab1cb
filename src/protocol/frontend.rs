//! Read-only views of the client messages trailmask acts on.

use super::{read_i32, split_cstr};

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
    }
}
