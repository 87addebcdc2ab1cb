//! PostgreSQL protocol 3.0 wire format: splitting frames off a byte buffer, read-only views of the
//! few message types trailmask acts on, and writers for the messages trailmask itself sends.
//! No I/O and no tokio here; every accessor is byte-exact (text is never decoded lossily, so a
//! BIG5 session's bytes survive untouched).

pub mod backend;
pub mod encode;
pub mod frame;
pub mod frontend;
pub mod sqlstate;
pub mod startup;

pub use frame::{Frame, FrameError};

/// Reads a NUL-terminated string at the start of `buf`: the bytes before the NUL and the rest
/// after it, or `None` when no NUL is present.
pub fn split_cstr(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = buf.iter().position(|&b| b == 0)?;
    let (s, rest) = buf.split_at(nul);
    Some((s, rest.get(1..)?))
}

/// Reads a big-endian i32 at the start of `buf`.
pub fn read_i32(buf: &[u8]) -> Option<(i32, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    Some((i32::from_be_bytes(*head), rest))
}

/// Reads a big-endian i16 at the start of `buf`.
pub fn read_i16(buf: &[u8]) -> Option<(i16, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<2>()?;
    Some((i16::from_be_bytes(*head), rest))
}
