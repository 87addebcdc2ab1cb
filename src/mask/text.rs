//! String-level masks: decoded characters in, masked characters out. Encoding and type handling
//! are the caller's (`mask.rs`). Every function here hides at least one character of any
//! non-empty input, and answers an empty input with `****` so emptiness is not disclosed either.

use super::{Mask, REDACTED};

/// The fill character: one per hidden character (SPEC "Masks").
const FILL: char = '*';

/// Dispatches a string mask. `hidden` is the stand-in for a hidden character of a name.
pub(super) fn apply(mask: &Mask, s: &str, hidden: char) -> String {
    match mask {
        Mask::KeepFirst(n) => keep_first(s, usize::from(*n)),
        Mask::KeepLast(n) => keep_last(s, usize::from(*n)),
        Mask::Email => email(s),
        Mask::PhoneTw => phone_tw(s),
        Mask::NationalIdTw => national_id_tw(s),
        Mask::NameZh => name_zh(s, hidden),
        Mask::SurnameOnly => surname_only(s, hidden),
        Mask::CardLast4 => card_last4(s),
        // Not string masks; `mask::apply` never routes them here. Redacting is the safe answer.
        Mask::Redact | Mask::Null | Mask::YearOnly | Mask::Hash => REDACTED.to_owned(),
    }
}

/// First `n` characters, `*` for the rest; at least one character is always hidden.
pub(super) fn keep_first(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len == 0 {
        return REDACTED.to_owned();
    }
    let keep = n.min(len - 1);
    let mut out: String = s.chars().take(keep).collect();
    out.extend(std::iter::repeat_n(FILL, len - keep));
    out
}

/// Last `n` characters, `*` for the rest; at least one character is always hidden.
pub(super) fn keep_last(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len == 0 {
        return REDACTED.to_owned();
    }
    let keep = n.min(len - 1);
    let mut out: String = std::iter::repeat_n(FILL, len - keep).collect();
    out.extend(s.chars().skip(len - keep));
    out
}

/// `wang@Example.COM` -> `w***@example.com`. Splits at the last `@`; without one, the value is
/// not an address and keeps only its first character.
pub(super) fn email(s: &str) -> String {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return keep_first(s, 1);
    };
    let mut out = String::with_capacity(s.len());
    let mut chars = local.chars();
    match (chars.next(), chars.clone().next()) {
        // One character: hide it, or the local part would be shown whole.
        (Some(_), None) | (None, _) => out.push(FILL),
        (Some(first), Some(_)) => {
            out.push(first);
            out.extend(chars.map(|_| FILL));
        }
    }
    out.push('@');
    out.push_str(&domain.to_lowercase());
    out
}

/// Taiwan area codes, longest first so `0826` wins over `082` and `08`.
const AREA_CODES: &[&str] = &[
    "0826", "0836", "037", "049", "082", "089", "02", "03", "04", "05", "06", "07", "08",
];

/// `0912345678`, `+886 912 345 678` -> `0912-***-678`; `(02) 2345-6789` -> `02-*****789`;
/// anything else keeps its last 3 digits. An extension (`#123`, `ext. 12`, `轉12`) is dropped.
pub(super) fn phone_tw(s: &str) -> String {
    let main = without_extension(s);
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let national = match digits.strip_prefix("886") {
        Some(rest) if main.trim_start().starts_with('+') || digits.len() >= 11 => {
            // +886 2 2345 6789 / +886 912 345 678: the trunk 0 replaces the country code.
            let rest = rest.strip_prefix('0').unwrap_or(rest);
            format!("0{rest}")
        }
        Some(_) | None => digits.clone(),
    };
    if national.len() == 10 && national.starts_with("09") {
        let (head, tail) = (national.get(..4), national.get(7..));
        if let (Some(head), Some(tail)) = (head, tail) {
            return format!("{head}-***-{tail}");
        }
    }
    if (8..=10).contains(&national.len()) {
        if let Some(area) = AREA_CODES.iter().find(|a| national.starts_with(**a)) {
            let subscriber = national.get(area.len()..).unwrap_or_default();
            if subscriber.len() >= 4 {
                let hidden = subscriber.len() - 3;
                let tail = subscriber.get(hidden..).unwrap_or_default();
                return format!("{area}-{}{tail}", "*".repeat(hidden));
            }
        }
    }
    if digits.len() >= 4 {
        let hidden = digits.len() - 3;
        let tail = digits.get(hidden..).unwrap_or_default();
        return format!("{}{tail}", "*".repeat(hidden));
    }
    REDACTED.to_owned()
}

/// The number without an extension: cut at `#`, `x`, `ext`, `轉`, `分機` or `,` once eight digits
/// have been seen (so a `Tel:` or `Fax` label before the number is not mistaken for one).
fn without_extension(s: &str) -> &str {
    let mut digits = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if digits >= 8 && matches!(c, '#' | 'x' | 'X' | 'e' | 'E' | '轉' | '分' | ',') {
            return s.get(..i).unwrap_or(s);
        }
    }
    s
}

/// `A123456789` -> `A12345****`; resident certificates `AB12345678` -> `AB1234****` and
/// `A812345678` -> `A81234****`. The last four characters are hidden; an odd-length value keeps
/// at most its first six, and one of four characters or fewer is hidden whole.
pub(super) fn national_id_tw(s: &str) -> String {
    let s = s.trim();
    keep_first(s, s.chars().count().saturating_sub(4).min(6))
}

/// A name written in Latin letters (with spaces, hyphens, apostrophes, dots, commas), as opposed
/// to Han characters: `name_zh` treats it word by word.
fn is_latin_name(s: &str) -> bool {
    s.chars().any(char::is_alphabetic)
        && s.chars().all(|c| {
            c.is_whitespace()
                || matches!(c, '-' | '\'' | '.' | ',')
                || (c.is_alphabetic() && u32::from(c) < 0x0250)
        })
}

/// `王小明` -> `王○明`, `王明` -> `王○`, `司馬中原` -> `司○○原`; `John Smith` -> `J*** S****`.
pub(super) fn name_zh(s: &str, hidden: char) -> String {
    let s = s.trim();
    if is_latin_name(s) {
        return latin_initials(s);
    }
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        [] => REDACTED.to_owned(),
        [_] => hidden.to_string(),
        [first, _] => [*first, hidden].iter().collect(),
        [first, middle @ .., last] => {
            let mut out = String::with_capacity(s.len());
            out.push(*first);
            out.extend(middle.iter().map(|_| hidden));
            out.push(*last);
            out
        }
    }
}

/// First letter of each word kept, every other letter `*`, separators kept. If that would hide
/// nothing (every word one letter long), every letter is hidden.
fn latin_initials(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    let mut hid_any = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if at_word_start {
                out.push(c);
            } else {
                out.push(FILL);
                hid_any = true;
            }
            at_word_start = false;
        } else {
            out.push(c);
            // A hyphen or apostrophe belongs to the word (`Mary-Jane`, `O'Neil`).
            at_word_start = !matches!(c, '-' | '\'');
        }
    }
    if hid_any {
        out
    } else {
        s.chars()
            .map(|c| if c.is_alphabetic() { FILL } else { c })
            .collect()
    }
}

/// `王小明` -> `王○○`; a Latin name keeps only its first letter (`J*** *****`).
pub(super) fn surname_only(s: &str, hidden: char) -> String {
    let s = s.trim();
    let latin = is_latin_name(s);
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return REDACTED.to_owned();
    };
    let rest: Vec<char> = chars.collect();
    if rest.is_empty() {
        return if latin { FILL } else { hidden }.to_string();
    }
    let mut out = String::with_capacity(s.len());
    out.push(first);
    for c in rest {
        out.push(match (latin, c.is_whitespace()) {
            (true, true) => c,
            (true, false) => FILL,
            (false, _) => hidden,
        });
    }
    out
}

/// `4111 1111 1111 1234` -> `************1234`: digits only, the last four kept. A value with
/// fewer than eight digits is not a card number and is hidden whole.
pub(super) fn card_last4(s: &str) -> String {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return REDACTED.to_owned();
    }
    let hidden = digits.len() - 4;
    let mut out: String = std::iter::repeat_n(FILL, hidden).collect();
    out.extend(digits.iter().skip(hidden));
    out
}
