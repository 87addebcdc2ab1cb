//! Masks: one function per mask named in SPEC.md ("Masks"), applied to one result field as it
//! travels to the client. Pure: no I/O, nothing of ours imported.
//!
//! A field arrives as raw bytes in a result **format** (text or binary), with the column's **type
//! OID** from RowDescription and the session's **client encoding**. A mask returns the bytes that
//! replace it, or `None` for SQL NULL. Three rules hold for every mask:
//!
//! * the output is a valid value of the column's type in that format and encoding, or NULL where
//!   the type cannot hold the masked form (`phone_tw` of an `int8`, anything of a `jsonb`);
//! * the output never equals a non-trivial input (a value that is not already in masked form):
//!   at least one character is hidden, even when the value is shorter than `keep_last(n)`;
//! * bytes that do not decode in the client encoding are redacted (`****`), never echoed.
//!
//! Deciding *which* field gets *which* mask is `policy`'s job; rewriting frames is `session`'s.
//! Error and notice scrubbing lives in [`message`].

mod date;
mod error;
mod hash;
pub mod message;
mod text;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};

pub use error::MaskParseError;

/// What text-type maskers return for a value they must hide entirely. ASCII, so it is the same
/// bytes in every client encoding PostgreSQL supports.
pub const REDACTED: &str = "****";

/// What happens to one field of a result on its way to the client: decided per field by
/// `policy::decide` from the RowDescription and the statement's analysis, carried out per
/// DataRow by `session::rewrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAction {
    /// Not personal, or clear for this role: the bytes pass unchanged.
    Pass,
    /// A masked personal column: replaced by this mask's output.
    Mask(Mask),
    /// Of unknown or computed origin in a statement that touches personal data: as `redact`.
    Redact,
}

/// One mask from the `[personal_data]` section of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mask {
    /// Text -> `****`, other types -> NULL.
    Redact,
    /// Always NULL.
    Null,
    /// Keep the first n characters, `*` for each other one.
    KeepFirst(u16),
    /// Keep the last n characters, `*` for each other one.
    KeepLast(u16),
    /// `w***@example.com`: first character of the local part, domain lower-cased.
    Email,
    /// `0912-***-678`; landlines keep the area code and the last 3 digits.
    PhoneTw,
    /// `A12345****`: the last four characters hidden.
    NationalIdTw,
    /// `王○明`, `王○`, `王○○明`; Latin names keep the first letter of each word.
    NameZh,
    /// `王○○`: the first character only.
    SurnameOnly,
    /// `************1234`.
    CardLast4,
    /// A date or timestamp becomes January 1st (midnight) of its year, same type.
    YearOnly,
    /// Keyed BLAKE3 of the value: hex for text, a derived number/uuid/bytea for those types.
    Hash,
}

/// Result field format code from Bind / RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

/// The session's `client_encoding`, as far as masks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Big5,
    /// Any other encoding: only pure-ASCII values are masked character by character; anything
    /// else is redacted, because we cannot tell where its characters begin.
    Other,
}

/// Everything a mask needs to know about the field besides its bytes. `Debug` leaves the key
/// out: it is a secret.
#[derive(Clone, Copy)]
pub struct MaskCtx<'a> {
    /// `pg_type` OID from the RowDescription field.
    pub type_oid: u32,
    pub format: Format,
    pub encoding: Encoding,
    /// Key of the keyed BLAKE3 behind [`Mask::Hash`] (the trail's hash key: stable across
    /// sessions and restarts, so joins and counts on hashed values still work).
    pub hash_key: &'a [u8; 32],
}

/// Type OIDs from `pg_type.dat` that masks treat specially.
pub mod oid {
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
}

/// How masks see a column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeClass {
    /// text, varchar, bpchar, name, unknown: the value is characters in the client encoding,
    /// in both formats.
    Text {
        blank_padded: bool,
    },
    Date,
    Timestamp,
    Int2,
    Int4,
    Int8,
    Numeric,
    Uuid,
    Bytea,
    /// Everything else (json, bool, floats, enums, user types, "char"…): only NULL is safe.
    Other,
}

impl TypeClass {
    /// `Some(blank_padded)` for the text types, `None` for the others.
    fn text(self) -> Option<bool> {
        match self {
            TypeClass::Text { blank_padded } => Some(blank_padded),
            TypeClass::Date
            | TypeClass::Timestamp
            | TypeClass::Int2
            | TypeClass::Int4
            | TypeClass::Int8
            | TypeClass::Numeric
            | TypeClass::Uuid
            | TypeClass::Bytea
            | TypeClass::Other => None,
        }
    }

    fn of(type_oid: u32) -> TypeClass {
        match type_oid {
            oid::TEXT | oid::VARCHAR | oid::NAME | oid::UNKNOWN => TypeClass::Text {
                blank_padded: false,
            },
            oid::BPCHAR => TypeClass::Text { blank_padded: true },
            oid::DATE => TypeClass::Date,
            oid::TIMESTAMP | oid::TIMESTAMPTZ => TypeClass::Timestamp,
            oid::INT2 => TypeClass::Int2,
            oid::INT4 => TypeClass::Int4,
            oid::INT8 => TypeClass::Int8,
            oid::NUMERIC => TypeClass::Numeric,
            oid::UUID => TypeClass::Uuid,
            oid::BYTEA => TypeClass::Bytea,
            // "char" (18) is one byte in binary format: `****` would not fit.
            _ => TypeClass::Other,
        }
    }
}

// === impl Mask ===

impl Mask {
    /// Every mask name the config accepts, for error messages.
    pub const NAMES: &'static str = "redact, null, keep_first(n), keep_last(n), email, phone_tw, \
         national_id_tw, name_zh, surname_only, card_last4, year_only, hash";
}

impl FromStr for Mask {
    type Err = MaskParseError;

    fn from_str(s: &str) -> Result<Mask, MaskParseError> {
        let name = s.trim();
        let simple = match name {
            "redact" => Some(Mask::Redact),
            "null" => Some(Mask::Null),
            "email" => Some(Mask::Email),
            "phone_tw" => Some(Mask::PhoneTw),
            "national_id_tw" => Some(Mask::NationalIdTw),
            "name_zh" => Some(Mask::NameZh),
            "surname_only" => Some(Mask::SurnameOnly),
            "card_last4" => Some(Mask::CardLast4),
            "year_only" => Some(Mask::YearOnly),
            "hash" => Some(Mask::Hash),
            _ => None,
        };
        if let Some(mask) = simple {
            return Ok(mask);
        }
        for (prefix, make) in [
            ("keep_first", Mask::KeepFirst as fn(u16) -> Mask),
            ("keep_last", Mask::KeepLast as fn(u16) -> Mask),
        ] {
            if let Some(rest) = name.strip_prefix(prefix) {
                let arg = rest
                    .trim_start()
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .map(str::trim);
                return match arg.map(str::parse::<u16>) {
                    Some(Ok(n)) => Ok(make(n)),
                    Some(Err(_)) | None => Err(MaskParseError::bad_argument(s, prefix)),
                };
            }
        }
        Err(MaskParseError::unknown(s))
    }
}

impl fmt::Display for Mask {
    /// The canonical config spelling, e.g. `keep_last(3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mask::Redact => f.write_str("redact"),
            Mask::Null => f.write_str("null"),
            Mask::KeepFirst(n) => write!(f, "keep_first({n})"),
            Mask::KeepLast(n) => write!(f, "keep_last({n})"),
            Mask::Email => f.write_str("email"),
            Mask::PhoneTw => f.write_str("phone_tw"),
            Mask::NationalIdTw => f.write_str("national_id_tw"),
            Mask::NameZh => f.write_str("name_zh"),
            Mask::SurnameOnly => f.write_str("surname_only"),
            Mask::CardLast4 => f.write_str("card_last4"),
            Mask::YearOnly => f.write_str("year_only"),
            Mask::Hash => f.write_str("hash"),
        }
    }
}

impl fmt::Debug for MaskCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskCtx")
            .field("type_oid", &self.type_oid)
            .field("format", &self.format)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

// === impl Format / Encoding ===

impl Format {
    /// From a format code of Bind or RowDescription: 0 text, 1 binary, anything else `None`.
    pub fn from_code(code: i16) -> Option<Format> {
        match code {
            0 => Some(Format::Text),
            1 => Some(Format::Binary),
            _ => None,
        }
    }
}

impl Encoding {
    /// From the `client_encoding` the server reports in ParameterStatus (`UTF8`, `BIG5`), or a
    /// name a client may set (`utf-8`, `unicode`, `big5`, case-insensitive).
    pub fn from_pg_name(name: &str) -> Encoding {
        let name = name.trim().to_ascii_lowercase().replace(['-', '_'], "");
        match name.as_str() {
            "utf8" | "unicode" => Encoding::Utf8,
            "big5" | "win950" | "windows950" => Encoding::Big5,
            _ => Encoding::Other,
        }
    }
}

// === apply ===

/// Masks one field value. `None` means the client receives SQL NULL.
pub fn apply(mask: &Mask, value: &[u8], ctx: &MaskCtx<'_>) -> Option<Bytes> {
    let mut out = BytesMut::new();
    apply_into(mask, value, ctx, &mut out).then(|| out.freeze())
}

/// Masks one field value, appending its replacement to `out` (the DataRow being built): the same
/// bytes [`apply`] returns, without allocating for them. `false` means SQL NULL, and then nothing
/// was appended.
pub fn apply_into(mask: &Mask, value: &[u8], ctx: &MaskCtx<'_>, out: &mut BytesMut) -> bool {
    let class = TypeClass::of(ctx.type_oid);
    match mask {
        Mask::Null => false,
        Mask::Hash => match hash::apply(value, class, ctx) {
            Some(hashed) => {
                out.put_slice(&hashed);
                true
            }
            None => false,
        },
        Mask::YearOnly => date::year_only(value, class, ctx, out),
        // Text -> `****`; no other type can hold it.
        Mask::Redact => {
            let text = class.text().is_some();
            if text {
                out.put_slice(REDACTED.as_bytes());
            }
            text
        }
        // A masked string is not a valid number, date, uuid…: SPEC says NULL for those.
        Mask::KeepFirst(_)
        | Mask::KeepLast(_)
        | Mask::Email
        | Mask::PhoneTw
        | Mask::NationalIdTw
        | Mask::NameZh
        | Mask::SurnameOnly
        | Mask::CardLast4 => match class.text() {
            Some(blank_padded) => {
                mask_text_value(mask, value, ctx.encoding, blank_padded, out);
                true
            }
            None => false,
        },
    }
}

/// Decodes a text-type value, masks it as a string, encodes it back onto `out`; anything that
/// does not decode or re-encode cleanly becomes [`REDACTED`].
fn mask_text_value(
    mask: &Mask,
    value: &[u8],
    encoding: Encoding,
    blank_padded: bool,
    out: &mut BytesMut,
) {
    let Some(s) = decode(value, encoding) else {
        return out.put_slice(REDACTED.as_bytes());
    };
    // bpchar pads with blanks that carry no data; masking them would only hide the length.
    let s = if blank_padded {
        s.trim_end_matches(' ')
    } else {
        &s
    };
    let hidden = hidden_char(encoding);
    match encoding {
        // Masks only ever write whole characters: the output is UTF-8 as it is written.
        Encoding::Utf8 => text::apply(mask, s, hidden, &mut text::Utf8Out(out)),
        Encoding::Big5 | Encoding::Other => {
            let mut masked = String::with_capacity(s.len());
            text::apply(mask, s, hidden, &mut masked);
            match encode(&masked, encoding) {
                Some(bytes) => out.put_slice(&bytes),
                None => out.put_slice(REDACTED.as_bytes()),
            }
        }
    }
}

/// The character standing for one hidden character of a name (SPEC: `王○明`). `○` (U+25CB) exists
/// in UTF-8 and in Big5 (0xA1B3); in any other encoding we use `*`.
fn hidden_char(encoding: Encoding) -> char {
    match encoding {
        Encoding::Utf8 | Encoding::Big5 => '○',
        Encoding::Other => '*',
    }
}

/// Strictly decodes bytes in the client encoding; `None` for malformed input.
fn decode(value: &[u8], encoding: Encoding) -> Option<Cow<'_, str>> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(value).ok().map(Cow::Borrowed),
        Encoding::Big5 => {
            encoding_rs::BIG5.decode_without_bom_handling_and_without_replacement(value)
        }
        // Every encoding PostgreSQL offers to clients is an ASCII superset, and a byte string
        // without high bytes has no multi-byte characters in any of them.
        Encoding::Other => std::str::from_utf8(value)
            .ok()
            .filter(|s| s.is_ascii())
            .map(Cow::Borrowed),
    }
}

/// Encodes a masked string; `None` when the encoding cannot hold it exactly.
fn encode(s: &str, encoding: Encoding) -> Option<Bytes> {
    match encoding {
        Encoding::Utf8 => Some(Bytes::copy_from_slice(s.as_bytes())),
        Encoding::Big5 => {
            let (bytes, _, unmappable) = encoding_rs::BIG5.encode(s);
            if unmappable {
                None
            } else {
                Some(Bytes::copy_from_slice(&bytes))
            }
        }
        Encoding::Other => s.is_ascii().then(|| Bytes::copy_from_slice(s.as_bytes())),
    }
}
