//! String-level masks: decoded characters in, masked characters out. Encoding and type handling
//! are the caller's (`mask.rs`). Every function here hides at least one character of any
//! non-empty input, and answers an empty input with `****` so emptiness is not disclosed either.

use bytes::{BufMut, BytesMut};

use super::{Mask, REDACTED};

/// The fill character: one per hidden character (SPEC "Masks").
const FILL: char = '*';

/// Where a string mask writes its characters: a `String`, or straight into the DataRow being
/// built when the client encoding is UTF-8 (so a masked value costs no allocation).
pub(super) trait Sink {
    fn push(&mut self, c: char);
    fn push_str(&mut self, s: &str);

    /// `n` times `c`.
    fn fill(&mut self, c: char, n: usize) {
        for _ in 0..n {
            self.push(c);
        }
    }
}

impl Sink for String {
    fn push(&mut self, c: char) {
        String::push(self, c);
    }

    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
}

/// Appends UTF-8 to a message buffer.
pub(super) struct Utf8Out<'a>(pub &'a mut BytesMut);

impl Sink for Utf8Out<'_> {
    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.0.put_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    fn push_str(&mut self, s: &str) {
        self.0.put_slice(s.as_bytes());
    }

    fn fill(&mut self, c: char, n: usize) {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        self.0.reserve(bytes.len().saturating_mul(n));
        for _ in 0..n {
            self.0.put_slice(bytes);
        }
    }
}

/// Dispatches a string mask, writing its output to `out`. `hidden` is the stand-in for a hidden
/// character of a name.
pub(super) fn apply(mask: &Mask, s: &str, hidden: char, out: &mut impl Sink) {
    match mask {
        Mask::KeepFirst(n) => keep_first(s, usize::from(*n), out),
        Mask::KeepLast(n) => keep_last(s, usize::from(*n), out),
        Mask::Email => email(s, out),
        Mask::PhoneTw => phone_tw(s, out),
        Mask::NationalIdTw => national_id_tw(s, out),
        Mask::NameZh => name_zh(s, hidden, out),
        Mask::SurnameOnly => surname_only(s, hidden, out),
        Mask::CardLast4 => card_last4(s, out),
        // Not string masks; `mask::apply` never routes them here. Redacting is the safe answer.
        Mask::Redact | Mask::Null | Mask::YearOnly | Mask::Hash => out.push_str(REDACTED),
    }
}

/// Number of characters of `s` (its length for ASCII, which most values are).
fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Byte offset of the `n`th character of `s` (its length when there are fewer).
fn char_offset(s: &str, n: usize) -> usize {
    if s.is_ascii() {
        return n.min(s.len());
    }
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// First `n` characters, `*` for the rest; at least one character is always hidden.
pub(super) fn keep_first(s: &str, n: usize, out: &mut impl Sink) {
    let len = char_count(s);
    if len == 0 {
        return out.push_str(REDACTED);
    }
    let keep = n.min(len - 1);
    out.push_str(s.get(..char_offset(s, keep)).unwrap_or_default());
    out.fill(FILL, len - keep);
}

/// Last `n` characters, `*` for the rest; at least one character is always hidden.
pub(super) fn keep_last(s: &str, n: usize, out: &mut impl Sink) {
    let len = char_count(s);
    if len == 0 {
        return out.push_str(REDACTED);
    }
    let keep = n.min(len - 1);
    out.fill(FILL, len - keep);
    out.push_str(s.get(char_offset(s, len - keep)..).unwrap_or_default());
}

/// `wang@Example.COM` -> `w***@example.com`. Splits at the last `@`; without one, the value is
/// not an address and keeps only its first character.
pub(super) fn email(s: &str, out: &mut impl Sink) {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return keep_first(s, 1, out);
    };
    let mut chars = local.chars();
    match (chars.next(), chars.clone().next()) {
        // One character: hide it, or the local part would be shown whole.
        (Some(_), None) | (None, _) => out.push(FILL),
        (Some(first), Some(_)) => {
            out.push(first);
            out.fill(FILL, chars.count());
        }
    }
    out.push('@');
    if !domain.is_ascii() {
        // `str::to_lowercase` knows the context rules (final sigma) that `char`'s does not.
        out.push_str(&domain.to_lowercase());
    } else if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        for c in domain.chars() {
            out.push(c.to_ascii_lowercase());
        }
    } else {
        out.push_str(domain);
    }
}

/// A short ASCII string, on the stack up to 32 bytes (a phone number has about ten digits).
struct Short {
    stack: [u8; 32],
    len: usize,
    heap: Vec<u8>,
}

impl Short {
    fn new() -> Short {
        Short {
            stack: [0; 32],
            len: 0,
            heap: Vec::new(),
        }
    }

    fn push(&mut self, b: u8) {
        if self.heap.is_empty() {
            if let Some(slot) = self.stack.get_mut(self.len) {
                *slot = b;
                self.len += 1;
                return;
            }
            self.heap.extend_from_slice(&self.stack);
        }
        self.heap.push(b);
    }

    fn as_str(&self) -> &str {
        let bytes = if self.heap.is_empty() {
            self.stack.get(..self.len).unwrap_or_default()
        } else {
            &self.heap
        };
        // Only ASCII digits are ever pushed.
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

/// Taiwan area codes, longest first so `0826` wins over `082` and `08`.
const AREA_CODES: &[&str] = &[
    "0826", "0836", "037", "049", "082", "089", "02", "03", "04", "05", "06", "07", "08",
];

/// `0912345678`, `+886 912 345 678` -> `0912-***-678`; `(02) 2345-6789` -> `02-*****789`;
/// anything else keeps its last 3 digits. An extension (`#123`, `ext. 12`, `轉12`) is dropped.
pub(super) fn phone_tw(s: &str, out: &mut impl Sink) {
    let main = without_extension(s);
    let mut digits = Short::new();
    for b in main.bytes().filter(u8::is_ascii_digit) {
        digits.push(b);
    }
    let digits = digits.as_str();
    let mut national = Short::new();
    match digits.strip_prefix("886") {
        Some(rest) if main.trim_start().starts_with('+') || digits.len() >= 11 => {
            // +886 2 2345 6789 / +886 912 345 678: the trunk 0 replaces the country code.
            let rest = rest.strip_prefix('0').unwrap_or(rest);
            national.push(b'0');
            for b in rest.bytes() {
                national.push(b);
            }
        }
        Some(_) | None => {
            for b in digits.bytes() {
                national.push(b);
            }
        }
    }
    let national = national.as_str();
    if national.len() == 10 && national.starts_with("09") {
        let (head, tail) = (national.get(..4), national.get(7..));
        if let (Some(head), Some(tail)) = (head, tail) {
            out.push_str(head);
            out.push_str("-***-");
            out.push_str(tail);
            return;
        }
    }
    if (8..=10).contains(&national.len()) {
        if let Some(area) = AREA_CODES.iter().find(|a| national.starts_with(**a)) {
            let subscriber = national.get(area.len()..).unwrap_or_default();
            if subscriber.len() >= 4 {
                let hidden = subscriber.len() - 3;
                let tail = subscriber.get(hidden..).unwrap_or_default();
                out.push_str(area);
                out.push('-');
                out.fill('*', hidden);
                out.push_str(tail);
                return;
            }
        }
    }
    if digits.len() >= 4 {
        let hidden = digits.len() - 3;
        let tail = digits.get(hidden..).unwrap_or_default();
        out.fill('*', hidden);
        out.push_str(tail);
        return;
    }
    out.push_str(REDACTED);
}

/// The number without an extension: cut at `#`, `x`, `ext`, `轉`, `分機` or `,` once eight digits
/// have been seen (so a `Tel:` or `Fax` label before the number is not mistaken for one).
fn without_extension(s: &str) -> &str {
    let mut digits = 0;
    // Byte by byte: every marker but `轉` and `分` is ASCII, and those two are found by their
    // whole encoding at a character boundary (a UTF-8 lead byte never occurs inside another
    // character).
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_digit() {
            digits += 1;
        } else if digits >= 8 {
            let marker = matches!(b, b'#' | b'x' | b'X' | b'e' | b'E' | b',')
                || s.get(i..)
                    .is_some_and(|rest| rest.starts_with('轉') || rest.starts_with('分'));
            if marker {
                return s.get(..i).unwrap_or(s);
            }
        }
    }
    s
}

/// `A123456789` -> `A12345****`; resident certificates `AB12345678` -> `AB1234****` and
/// `A812345678` -> `A81234****`. The last four characters are hidden; an odd-length value keeps
/// at most its first six, and one of four characters or fewer is hidden whole.
pub(super) fn national_id_tw(s: &str, out: &mut impl Sink) {
    let s = s.trim();
    keep_first(s, char_count(s).saturating_sub(4).min(6), out);
}

/// A name written in Latin letters (with spaces, hyphens, apostrophes, dots, commas), as opposed
/// to Han characters: `name_zh` treats it word by word.
fn is_latin_name(s: &str) -> bool {
    // The cheap test first: a Han name fails it at its first character.
    s.chars().all(|c| {
        c.is_whitespace()
            || matches!(c, '-' | '\'' | '.' | ',')
            || (u32::from(c) < 0x0250 && c.is_alphabetic())
    }) && s.chars().any(char::is_alphabetic)
}

/// `王小明` -> `王○明`, `王明` -> `王○`, `司馬中原` -> `司○○原`; `John Smith` -> `J*** S****`.
pub(super) fn name_zh(s: &str, hidden: char, out: &mut impl Sink) {
    let s = s.trim();
    if is_latin_name(s) {
        return latin_initials(s, out);
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next_back()) {
        (None, _) => out.push_str(REDACTED),
        (Some(_), None) => out.push(hidden),
        (Some(first), Some(last)) => {
            let middle = chars.count();
            out.push(first);
            if middle == 0 {
                out.push(hidden);
            } else {
                out.fill(hidden, middle);
                out.push(last);
            }
        }
    }
}

/// Whether keeping the first letter of each word hides any letter at all.
fn initials_hide_some(s: &str) -> bool {
    let mut at_word_start = true;
    for c in s.chars() {
        if c.is_alphabetic() {
            if !at_word_start {
                return true;
            }
            at_word_start = false;
        } else {
            at_word_start = !matches!(c, '-' | '\'');
        }
    }
    false
}

/// First letter of each word kept, every other letter `*`, separators kept. If that would hide
/// nothing (every word one letter long), every letter is hidden.
fn latin_initials(s: &str, out: &mut impl Sink) {
    if !initials_hide_some(s) {
        for c in s.chars() {
            out.push(if c.is_alphabetic() { FILL } else { c });
        }
        return;
    }
    let mut at_word_start = true;
    for c in s.chars() {
        if c.is_alphabetic() {
            out.push(if at_word_start { c } else { FILL });
            at_word_start = false;
        } else {
            out.push(c);
            // A hyphen or apostrophe belongs to the word (`Mary-Jane`, `O'Neil`).
            at_word_start = !matches!(c, '-' | '\'');
        }
    }
}

/// `王小明` -> `王○○`; a Latin name keeps only its first letter (`J*** *****`).
pub(super) fn surname_only(s: &str, hidden: char, out: &mut impl Sink) {
    let s = s.trim();
    let latin = is_latin_name(s);
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return out.push_str(REDACTED);
    };
    if chars.as_str().is_empty() {
        return out.push(if latin { FILL } else { hidden });
    }
    out.push(first);
    for c in chars {
        out.push(match (latin, c.is_whitespace()) {
            (true, true) => c,
            (true, false) => FILL,
            (false, _) => hidden,
        });
    }
}

/// `4111 1111 1111 1234` -> `************1234`: digits only, the last four kept. A value with
/// fewer than eight digits is not a card number and is hidden whole.
pub(super) fn card_last4(s: &str, out: &mut impl Sink) {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if digits < 8 {
        return out.push_str(REDACTED);
    }
    let hidden = digits - 4;
    out.fill(FILL, hidden);
    for c in s.chars().filter(char::is_ascii_digit).skip(hidden) {
        out.push(c);
    }
}
