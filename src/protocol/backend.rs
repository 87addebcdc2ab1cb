//! Read-only views of the server messages trailmask acts on. Each view borrows a frame payload
//! and exposes checked accessors; nothing here copies or re-encodes.

use super::{read_i16, read_i32, split_cstr};

/// Authentication request codes (the `R` message's first field).
pub mod auth_code {
    pub const OK: i32 = 0;
    pub const CLEARTEXT_PASSWORD: i32 = 3;
    pub const MD5_PASSWORD: i32 = 5;
    pub const SASL: i32 = 10;
    pub const SASL_CONTINUE: i32 = 11;
    pub const SASL_FINAL: i32 = 12;
}

/// The SASL mechanism trailmask hides from clients: channel binding would bind to the
/// certificate of the wrong TLS connection across a TLS-terminating proxy.
pub const SCRAM_SHA_256_PLUS: &[u8] = b"SCRAM-SHA-256-PLUS";

/// `R`: the authentication code and what follows it.
pub fn authentication(payload: &[u8]) -> Option<(i32, &[u8])> {
    read_i32(payload)
}

/// Mechanism names of an AuthenticationSASL body (after the code).
pub fn sasl_mechanisms(mut body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    loop {
        let (name, rest) = split_cstr(body)?;
        if name.is_empty() {
            return Some(out);
        }
        out.push(name);
        body = rest;
    }
}

/// `Z`: the transaction status byte.
pub fn ready_for_query_status(payload: &[u8]) -> Option<u8> {
    payload.first().copied()
}

/// `K`: process id and secret key.
pub fn backend_key_data(payload: &[u8]) -> Option<(i32, i32)> {
    let (pid, rest) = read_i32(payload)?;
    let (secret, _) = read_i32(rest)?;
    Some((pid, secret))
}

/// `S`: parameter name and value.
pub fn parameter_status(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = split_cstr(payload)?;
    let (value, _) = split_cstr(rest)?;
    Some((name, value))
}

/// The fields of an ErrorResponse or NoticeResponse: `(type byte, value)` pairs.
#[derive(Clone, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    fields: Vec<(u8, &'a [u8])>,
}

impl<'a> ErrorFields<'a> {
    pub fn parse(mut payload: &'a [u8]) -> Option<ErrorFields<'a>> {
        let mut fields = Vec::new();
        loop {
            let (&kind, rest) = payload.split_first()?;
            if kind == 0 {
                return Some(ErrorFields { fields });
            }
            let (value, rest) = split_cstr(rest)?;
            fields.push((kind, value));
            payload = rest;
        }
    }

    pub fn get(&self, kind: u8) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| *v)
    }

    /// The SQLSTATE, if present and ASCII.
    pub fn code(&self) -> Option<&'a str> {
        std::str::from_utf8(self.get(b'C')?).ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + '_ {
        self.fields.iter().copied()
    }
}

impl std::fmt::Debug for ErrorFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErrorFields(code={:?})", self.code())
    }
}

/// One field of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    pub name: &'a [u8],
    pub table_oid: u32,
    pub column: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    pub format: i16,
}

/// `T`: iterates the field descriptions.
pub fn row_description(payload: &[u8]) -> Option<Vec<FieldDescription<'_>>> {
    let (count, mut rest) = read_i16(payload)?;
    let count = usize::try_from(count).ok()?;
    let mut out = Vec::with_capacity(count.min(1664));
    for _ in 0..count {
        let (name, r) = split_cstr(rest)?;
        let (table_oid, r) = read_i32(r)?;
        let (column, r) = read_i16(r)?;
        let (type_oid, r) = read_i32(r)?;
        let (type_size, r) = read_i16(r)?;
        let (type_modifier, r) = read_i32(r)?;
        let (format, r) = read_i16(r)?;
        out.push(FieldDescription {
            name,
            table_oid: u32::from_be_bytes(table_oid.to_be_bytes()),
            column,
            type_oid: u32::from_be_bytes(type_oid.to_be_bytes()),
            type_size,
            type_modifier,
            format,
        });
        rest = r;
    }
    Some(out)
}

/// `D`: the byte range of each field in the payload, `None` for SQL NULL.
pub fn data_row_fields(payload: &[u8]) -> Option<Vec<Option<std::ops::Range<usize>>>> {
    let (count, _) = read_i16(payload)?;
    let count = usize::try_from(count).ok()?;
    let mut out = Vec::with_capacity(count.min(1664));
    let mut at = 2usize;
    for _ in 0..count {
        let (len, _) = read_i32(payload.get(at..)?)?;
        at += 4;
        if len < 0 {
            out.push(None);
        } else {
            let len = usize::try_from(len).ok()?;
            let end = at.checked_add(len)?;
            if end > payload.len() {
                return None;
            }
            out.push(Some(at..end));
            at = end;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sasl_mechanisms() {
        let body = b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        let m = sasl_mechanisms(body).unwrap();
        assert_eq!(m, vec![&b"SCRAM-SHA-256-PLUS"[..], &b"SCRAM-SHA-256"[..]]);
        assert!(sasl_mechanisms(b"SCRAM").is_none());
    }

    #[test]
    fn reads_data_row_fields() {
        let payload = b"\0\x02\0\0\0\x02hi\xff\xff\xff\xff";
        let f = data_row_fields(payload).unwrap();
        assert_eq!(f, vec![Some(6..8), None]);
        assert!(data_row_fields(b"\0\x01\0\0\0\x09hi").is_none());
    }

    #[test]
    fn reads_row_description() {
        let mut p = vec![0, 1];
        p.extend_from_slice(b"phone\0");
        p.extend_from_slice(&16384u32.to_be_bytes());
        p.extend_from_slice(&3i16.to_be_bytes());
        p.extend_from_slice(&25u32.to_be_bytes());
        p.extend_from_slice(&(-1i16).to_be_bytes());
        p.extend_from_slice(&(-1i32).to_be_bytes());
        p.extend_from_slice(&1i16.to_be_bytes());
        let f = row_description(&p).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, b"phone");
        assert_eq!(
            (f[0].table_oid, f[0].column, f[0].type_oid, f[0].format),
            (16384, 3, 25, 1)
        );
    }
}
