//! Splits one tagged message (`tag`, `i32` length that counts itself, payload) off the front of a
//! `BytesMut`. `Ok(None)` means "need more bytes"; a length below 4 or above the cap is an error,
//! and nothing is reserved from an untrusted length: the buffer grows only as bytes arrive.

use bytes::{Buf, Bytes, BytesMut};

/// One whole message as it arrived: its original bytes (tag, length and payload), so forwarding
/// never re-encodes.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: Bytes,
}

/// A frame that cannot be part of a protocol 3.0 stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message '{tag}' declares length {len}, below the minimum of 4")]
    TooShort { tag: char, len: i32 },
    #[error("message '{tag}' declares length {len}, above the limit of {max} bytes")]
    TooLong { tag: char, len: i32, max: u32 },
}

/// Bytes before the payload: one tag byte and the 4-byte length.
pub const HEADER_LEN: usize = 5;

// === impl Frame ===

impl Frame {
    /// Splits one frame off `buf`, or returns `Ok(None)` when `buf` does not yet hold a whole one.
    /// `max_len` caps the declared length (which counts itself but not the tag).
    pub fn split(buf: &mut BytesMut, max_len: u32) -> Result<Option<Frame>, FrameError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let tag = header[0];
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let Ok(len_u) = u32::try_from(len) else {
            return Err(FrameError::TooShort {
                tag: char::from(tag),
                len,
            });
        };
        if len_u < 4 {
            return Err(FrameError::TooShort {
                tag: char::from(tag),
                len,
            });
        }
        if len_u > max_len {
            return Err(FrameError::TooLong {
                tag: char::from(tag),
                len,
                max: max_len,
            });
        }
        // len_u <= i32::MAX, so the sum fits a usize on every supported platform.
        let total = usize::try_from(len_u)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if buf.len() < total {
            // Let the buffer grow towards the whole frame without trusting more than what arrived.
            return Ok(None);
        }
        Ok(Some(Frame {
            bytes: buf.split_to(total).freeze(),
        }))
    }

    /// Builds a frame from complete message bytes that trailmask itself produced.
    pub fn from_encoded(bytes: Bytes) -> Frame {
        Frame { bytes }
    }

    pub fn tag(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    /// The payload after tag and length.
    pub fn payload(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or(&[])
    }

    /// The payload as a cheap `Bytes` slice of the original buffer.
    pub fn payload_bytes(&self) -> Bytes {
        let mut b = self.bytes.clone();
        b.advance(HEADER_LEN.min(b.len()));
        b
    }

    /// The whole original message, for forwarding.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Prints tag and length only: payloads may hold personal data.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frame('{}', {} bytes)",
            char::from(self.tag()),
            self.bytes.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_whole_frames_and_waits_for_partial_ones() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x09abcd\0Z\0\0"[..]);
        let f = Frame::split(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(f.tag(), b'Q');
        assert_eq!(f.payload(), b"abcd\0");
        assert_eq!(Frame::split(&mut buf, 1024).unwrap(), None);
        buf.extend_from_slice(b"\0\x05I");
        let z = Frame::split(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(z.payload(), b"I");
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut short = BytesMut::from(&b"Q\0\0\0\x03"[..]);
        assert!(matches!(
            Frame::split(&mut short, 1024),
            Err(FrameError::TooShort { .. })
        ));
        let mut neg = BytesMut::from(&b"Q\xff\xff\xff\xff"[..]);
        assert!(matches!(
            Frame::split(&mut neg, 1024),
            Err(FrameError::TooShort { .. })
        ));
        let mut long = BytesMut::from(&b"D\0\x10\0\0"[..]);
        assert!(matches!(
            Frame::split(&mut long, 1024),
            Err(FrameError::TooLong { .. })
        ));
    }

    #[test]
    fn debug_hides_payload() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x0bsecret\0"[..]);
        let f = Frame::split(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(format!("{f:?}"), "Frame('Q', 12 bytes)");
    }

    proptest! {
        #[test]
        fn no_byte_string_panics_the_splitter(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::from(&data[..]);
            let mut consumed = 0usize;
            while let Ok(Some(f)) = Frame::split(&mut buf, 64) {
                consumed += f.len();
                prop_assert!(f.len() >= HEADER_LEN);
            }
            prop_assert!(consumed + buf.len() == data.len());
        }
    }
}
