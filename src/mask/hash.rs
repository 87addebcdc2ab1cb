//! `hash`: keyed BLAKE3 of the value's canonical form, so equal values hash equally across
//! sessions, result formats and client encodings (joins and counts on hashed columns still work).
//!
//! Canonical form: the UTF-8 text of a text value (bpchar without its padding), the decimal text
//! of an integer, the raw bytes of a bytea, the hyphenated lower-case text of a uuid. The output
//! keeps the column's type: 64 hex digits for text, a non-negative integer taken from the digest
//! for int2/int4/int8/numeric, a uuid from its first 16 bytes, the 32 digest bytes for bytea.
//! Dates, timestamps and other types have no meaningful hashed value of their type: NULL.

use std::fmt::Write as _;

use bytes::Bytes;

use super::{decode, Encoding, Format, MaskCtx, TypeClass};

pub(super) fn apply(value: &[u8], class: TypeClass, ctx: &MaskCtx<'_>) -> Option<Bytes> {
    let canonical = canonical(value, class, ctx)?;
    let digest = blake3::keyed_hash(ctx.hash_key, &canonical);
    let d = digest.as_bytes();
    let text = |s: String| Some(Bytes::from(s));
    match (class, ctx.format) {
        (TypeClass::Text { .. }, Format::Text | Format::Binary) => {
            text(digest.to_hex().to_string())
        }
        (TypeClass::Int2, Format::Text) => text(int2(d).to_string()),
        (TypeClass::Int2, Format::Binary) => Some(Bytes::copy_from_slice(&int2(d).to_be_bytes())),
        (TypeClass::Int4, Format::Text) => text(int4(d).to_string()),
        (TypeClass::Int4, Format::Binary) => Some(Bytes::copy_from_slice(&int4(d).to_be_bytes())),
        (TypeClass::Int8, Format::Text) => text(int8(d).to_string()),
        (TypeClass::Int8, Format::Binary) => Some(Bytes::copy_from_slice(&int8(d).to_be_bytes())),
        (TypeClass::Numeric, Format::Text) => text(int8(d).to_string()),
        (TypeClass::Uuid, Format::Text) => text(uuid_text(d.get(..16)?)),
        (TypeClass::Uuid, Format::Binary) => Some(Bytes::copy_from_slice(d.get(..16)?)),
        (TypeClass::Bytea, Format::Text) => text(format!("\\x{}", digest.to_hex())),
        (TypeClass::Bytea, Format::Binary) => Some(Bytes::copy_from_slice(d)),
        // Binary numeric is a base-10000 digit array; not worth encoding for a hash.
        (TypeClass::Numeric, Format::Binary) => None,
        (
            TypeClass::Date | TypeClass::Timestamp | TypeClass::Other,
            Format::Text | Format::Binary,
        ) => None,
    }
}

/// The bytes that are hashed; `None` when the value cannot be read as its type.
fn canonical(value: &[u8], class: TypeClass, ctx: &MaskCtx<'_>) -> Option<Vec<u8>> {
    let ascii = || decode(value, Encoding::Other);
    match (class, ctx.format) {
        (TypeClass::Text { blank_padded }, Format::Text | Format::Binary) => {
            match decode(value, ctx.encoding) {
                Some(s) if blank_padded => Some(s.trim_end_matches(' ').as_bytes().to_vec()),
                Some(s) => Some(s.as_bytes().to_vec()),
                // Undecodable bytes are still hashed (stable within one encoding), never shown.
                None => Some(value.to_vec()),
            }
        }
        (TypeClass::Int2 | TypeClass::Int4 | TypeClass::Int8, Format::Text) => {
            let n: i64 = ascii()?.trim().parse().ok()?;
            Some(n.to_string().into_bytes())
        }
        (TypeClass::Int2, Format::Binary) => Some(
            i16::from_be_bytes(value.try_into().ok()?)
                .to_string()
                .into_bytes(),
        ),
        (TypeClass::Int4, Format::Binary) => Some(
            i32::from_be_bytes(value.try_into().ok()?)
                .to_string()
                .into_bytes(),
        ),
        (TypeClass::Int8, Format::Binary) => Some(
            i64::from_be_bytes(value.try_into().ok()?)
                .to_string()
                .into_bytes(),
        ),
        (TypeClass::Numeric, Format::Text) => Some(ascii()?.as_bytes().to_vec()),
        (TypeClass::Uuid, Format::Text) => Some(ascii()?.to_ascii_lowercase().into_bytes()),
        (TypeClass::Uuid, Format::Binary) => {
            (value.len() == 16).then(|| uuid_text(value).into_bytes())
        }
        (TypeClass::Bytea, Format::Text) => {
            let s = ascii()?;
            match s.strip_prefix("\\x") {
                Some(hex) => decode_hex(hex),
                // bytea_output = escape: hash the escaped text as it is.
                None => Some(value.to_vec()),
            }
        }
        (TypeClass::Bytea, Format::Binary) => Some(value.to_vec()),
        (
            TypeClass::Numeric | TypeClass::Date | TypeClass::Timestamp | TypeClass::Other,
            Format::Text | Format::Binary,
        ) => None,
    }
}

fn int2(d: &[u8; 32]) -> i16 {
    i16::from_be_bytes([d[0] & 0x7f, d[1]])
}

fn int4(d: &[u8; 32]) -> i32 {
    i32::from_be_bytes([d[0] & 0x7f, d[1], d[2], d[3]])
}

fn int8(d: &[u8; 32]) -> i64 {
    i64::from_be_bytes([d[0] & 0x7f, d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// 16 bytes -> `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn uuid_text(b: &[u8]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
