//! The untagged messages that open a connection: StartupMessage, SSLRequest, GSSENCRequest and
//! CancelRequest. They carry a length and a 32-bit code instead of a tag byte.

use bytes::{Bytes, BytesMut};

use super::{read_i32, split_cstr};

/// PostgreSQL refuses startup packets above this size (MAX_STARTUP_PACKET_LENGTH).
pub const MAX_STARTUP_LEN: u32 = 10_000;
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
/// Protocol 3.0: major 3 in the high 16 bits, minor 0.
pub const PROTOCOL_3_0: i32 = 196_608;
/// First byte of a TLS handshake record: a PG17 client starting TLS directly.
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// One untagged opening message.
#[derive(Clone, PartialEq, Eq)]
pub enum Startup {
    SslRequest,
    GssEncRequest,
    Cancel {
        pid: i32,
        secret: i32,
    },
    /// A protocol 3.x StartupMessage: the original bytes (forwarded unchanged) and its parameters.
    Startup {
        bytes: Bytes,
        params: StartupParams,
    },
}

/// The name/value pairs of a StartupMessage, kept as bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StartupParams {
    pairs: Vec<(Bytes, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    #[error("startup packet length {0} is outside 8..={MAX_STARTUP_LEN}")]
    BadLength(i32),
    #[error("unsupported frontend protocol {major}.{minor}: trailmask speaks 3.x")]
    UnsupportedProtocol { major: i32, minor: i32 },
    #[error("malformed startup packet: {0}")]
    Malformed(&'static str),
}

// === impl Startup ===

impl Startup {
    /// Splits one opening message off `buf`; `Ok(None)` until it is whole.
    pub fn split(buf: &mut BytesMut) -> Result<Option<Startup>, StartupError> {
        let Some((len, _)) = read_i32(buf) else {
            return Ok(None);
        };
        let Ok(len_u) = u32::try_from(len) else {
            return Err(StartupError::BadLength(len));
        };
        if !(8..=MAX_STARTUP_LEN).contains(&len_u) {
            return Err(StartupError::BadLength(len));
        }
        let total = usize::try_from(len_u).map_err(|_| StartupError::BadLength(len))?;
        if buf.len() < total {
            return Ok(None);
        }
        let bytes = buf.split_to(total).freeze();
        let body = bytes.get(4..).unwrap_or(&[]);
        let (code, rest) = read_i32(body).ok_or(StartupError::Malformed("no code"))?;
        match code {
            SSL_REQUEST_CODE => Ok(Some(Startup::SslRequest)),
            GSSENC_REQUEST_CODE => Ok(Some(Startup::GssEncRequest)),
            CANCEL_REQUEST_CODE => {
                let (pid, rest) = read_i32(rest).ok_or(StartupError::Malformed("cancel pid"))?;
                let (secret, _) = read_i32(rest).ok_or(StartupError::Malformed("cancel key"))?;
                Ok(Some(Startup::Cancel { pid, secret }))
            }
            _ => {
                let (major, minor) = (code >> 16, code & 0xffff);
                if major != 3 {
                    return Err(StartupError::UnsupportedProtocol { major, minor });
                }
                let params = StartupParams::parse(rest)?;
                Ok(Some(Startup::Startup { bytes, params }))
            }
        }
    }
}

impl std::fmt::Debug for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Startup::SslRequest => f.write_str("SSLRequest"),
            Startup::GssEncRequest => f.write_str("GSSENCRequest"),
            Startup::Cancel { .. } => f.write_str("CancelRequest"),
            Startup::Startup { bytes, .. } => write!(f, "StartupMessage({} bytes)", bytes.len()),
        }
    }
}

// === impl StartupParams ===

impl StartupParams {
    fn parse(mut rest: &[u8]) -> Result<StartupParams, StartupError> {
        let mut pairs = Vec::new();
        loop {
            let (name, after) =
                split_cstr(rest).ok_or(StartupError::Malformed("parameter name"))?;
            if name.is_empty() {
                return Ok(StartupParams { pairs });
            }
            let (value, after) =
                split_cstr(after).ok_or(StartupError::Malformed("parameter value"))?;
            pairs.push((Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
            rest = after;
        }
    }

    /// The value of `name`, as bytes.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n.as_ref() == name.as_bytes())
            .map(|(_, v)| v.as_ref())
    }

    /// The value of `name` as text, lossily: for logs, metrics and the trail, never for forwarding.
    pub fn get_lossy(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }
}

impl std::fmt::Debug for StartupParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StartupParams({} pairs)", self.pairs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode;

    #[test]
    fn parses_startup_message() {
        let mut buf = BytesMut::new();
        encode::startup_message(&mut buf, &[("user", "alice"), ("database", "hotel")]);
        let Some(Startup::Startup { params, bytes }) = Startup::split(&mut buf).unwrap() else {
            panic!("not a startup message");
        };
        assert_eq!(params.get("user"), Some(&b"alice"[..]));
        assert_eq!(params.get_lossy("database").as_deref(), Some("hotel"));
        assert_eq!(params.get("options"), None);
        assert_eq!(
            bytes.len(),
            4 + 4 + "user\0alice\0database\0hotel\0\0".len()
        );
    }

    #[test]
    fn parses_requests() {
        let mut buf = BytesMut::from(&[0, 0, 0, 8, 4, 210, 22, 47][..]);
        assert_eq!(Startup::split(&mut buf).unwrap(), Some(Startup::SslRequest));
        let mut buf = BytesMut::new();
        encode::cancel_request(&mut buf, 7, -9);
        assert_eq!(
            Startup::split(&mut buf).unwrap(),
            Some(Startup::Cancel { pid: 7, secret: -9 })
        );
    }

    #[test]
    fn rejects_bad_packets() {
        let mut huge = BytesMut::from(&[0, 1, 0, 0][..]);
        assert!(Startup::split(&mut huge).is_err());
        let mut v2 = BytesMut::from(&[0, 0, 0, 8, 0, 2, 0, 0][..]);
        assert!(matches!(
            Startup::split(&mut v2),
            Err(StartupError::UnsupportedProtocol { major: 2, .. })
        ));
        let mut unterminated =
            BytesMut::from(&[0, 0, 0, 12, 0, 3, 0, 0, b'u', b's', b'e', b'r'][..]);
        assert!(Startup::split(&mut unterminated).is_err());
        let mut partial = BytesMut::from(&[0, 0, 0][..]);
        assert_eq!(Startup::split(&mut partial).unwrap(), None);
    }
}
