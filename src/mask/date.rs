//! `year_only`: a date becomes January 1st of its year, a timestamp midnight of January 1st, in
//! the same type and format. Binary dates are days since 2000-01-01 (i32), binary timestamps
//! microseconds since 2000-01-01 00:00 (i64); text follows the session's DateStyle, which we read
//! from the value's shape rather than from the session.
//!
//! A value already on January 1st masks to itself: that is its masked form, it discloses only
//! the year.

use bytes::Bytes;

use super::{decode, Encoding, Format, MaskCtx, TypeClass, REDACTED};

/// Microseconds per day.
const USECS_PER_DAY: i64 = 86_400_000_000;

pub(super) fn year_only(value: &[u8], class: TypeClass, ctx: &MaskCtx<'_>) -> Option<Bytes> {
    match (class, ctx.format) {
        (TypeClass::Date, Format::Binary) => {
            let days = i32::from_be_bytes(value.try_into().ok()?);
            // i32::MIN / i32::MAX are -infinity / infinity: no year to keep.
            if days == i32::MIN || days == i32::MAX {
                return None;
            }
            let year = civil_from_days(i64::from(days)).0;
            let jan1 = i32::try_from(days_from_civil(year, 1, 1)).ok()?;
            Some(Bytes::copy_from_slice(&jan1.to_be_bytes()))
        }
        (TypeClass::Timestamp, Format::Binary) => {
            let usecs = i64::from_be_bytes(value.try_into().ok()?);
            if usecs == i64::MIN || usecs == i64::MAX {
                return None;
            }
            let year = civil_from_days(usecs.div_euclid(USECS_PER_DAY)).0;
            let jan1 = days_from_civil(year, 1, 1).checked_mul(USECS_PER_DAY)?;
            Some(Bytes::copy_from_slice(&jan1.to_be_bytes()))
        }
        (TypeClass::Date, Format::Text) => {
            let s = decode(value, Encoding::Other)?;
            date_text(&s).map(Bytes::from)
        }
        (TypeClass::Timestamp, Format::Text) => {
            let s = decode(value, Encoding::Other)?;
            timestamp_text(&s).map(Bytes::from)
        }
        // A date kept in a text column: mask it if it looks like one, otherwise hide it.
        (TypeClass::Text { .. }, Format::Text | Format::Binary) => {
            let masked = decode(value, ctx.encoding)
                .and_then(|s| date_text(s.trim()).or_else(|| timestamp_text(s.trim())));
            Some(Bytes::from(masked.unwrap_or_else(|| REDACTED.to_owned())))
        }
        (
            TypeClass::Int2
            | TypeClass::Int4
            | TypeClass::Int8
            | TypeClass::Numeric
            | TypeClass::Uuid
            | TypeClass::Bytea
            | TypeClass::Other,
            Format::Text | Format::Binary,
        ) => None,
    }
}

/// Splits a trailing ` BC` off a date/timestamp text.
fn split_era(s: &str) -> (&str, &str) {
    match s.strip_suffix(" BC") {
        Some(body) => (body, " BC"),
        None => (s, ""),
    }
}

fn all_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A date in any DateStyle: ISO `1990-05-17`, SQL `05/17/1990` or `17/05/1990`, German
/// `17.05.1990`, Postgres `05-17-1990`; each with an optional ` BC`. Day and month both become
/// `01`, so the field order (MDY or DMY) does not matter.
fn date_text(s: &str) -> Option<String> {
    let (body, era) = split_era(s);
    let sep = body.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = body.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if sep == '-' && all_digits(a, 4, 7) && all_digits(b, 1, 2) && all_digits(c, 1, 2) {
        return Some(format!("{a}-01-01{era}"));
    }
    if all_digits(a, 1, 2) && all_digits(b, 1, 2) && all_digits(c, 4, 7) {
        return Some(format!("01{sep}01{sep}{c}{era}"));
    }
    None
}

/// An ISO-style timestamp (`1990-05-17 13:45:12.5`, with `+08`, `-03:30` etc. for timestamptz)
/// becomes `1990-01-01 00:00:00` with the same offset and era. Other DateStyles give `None`
/// (NULL): their zone abbreviations cannot be carried over safely.
///
/// The offset kept is the value's own. In a zone with daylight saving time, January's offset
/// differs (`-04` in July, `-05` in January for New York), so the masked instant is an hour off
/// the server's `date_trunc('year', …)`; we have no time zone database to do better, and the
/// value is still a valid timestamptz in the right year.
fn timestamp_text(s: &str) -> Option<String> {
    let (body, era) = split_era(s);
    let (date, time) = body.split_once(' ')?;
    let [year, month, day] = date.split('-').collect::<Vec<_>>()[..] else {
        return None;
    };
    if !(all_digits(year, 4, 7) && all_digits(month, 2, 2) && all_digits(day, 2, 2)) {
        return None;
    }
    let offset_at = time.find(['+', '-']).unwrap_or(time.len());
    let (clock, offset) = time.split_at(offset_at);
    let clock_ok = clock
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        && clock.len() >= 8;
    let offset_ok = offset
        .bytes()
        .skip(1)
        .all(|b| b.is_ascii_digit() || b == b':');
    if !(clock_ok && offset_ok) {
        return None;
    }
    Some(format!("{year}-01-01 00:00:00{offset}{era}"))
}

/// Days since 2000-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, shifted to PostgreSQL's epoch).
pub(super) fn civil_from_days(days_since_2000: i64) -> (i64, u32, u32) {
    // 2000-01-01 is day 10957 after 1970-01-01; Hinnant's algorithm counts from 0000-03-01.
    let z = days_since_2000 + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// (year, month, day) -> days since 2000-01-01.
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}
