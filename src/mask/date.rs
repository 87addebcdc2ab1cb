//! `year_only`: a date becomes January 1st of its year, a timestamp midnight of January 1st, in
//! the same type and format. Binary dates are days since 2000-01-01 (i32), binary timestamps
//! microseconds since 2000-01-01 00:00 (i64); text follows the session's DateStyle, which we read
//! from the value's shape rather than from the session.
//!
//! A value already on January 1st masks to itself: that is its masked form, it discloses only
//! the year.

use bytes::{BufMut, BytesMut};

use super::{decode, Encoding, Format, MaskCtx, TypeClass, REDACTED};

/// Microseconds per day.
const USECS_PER_DAY: i64 = 86_400_000_000;

/// Appends the masked value to `out`; `false` for NULL (nothing appended).
pub(super) fn year_only(
    value: &[u8],
    class: TypeClass,
    ctx: &MaskCtx<'_>,
    out: &mut BytesMut,
) -> bool {
    match (class, ctx.format) {
        (TypeClass::Date, Format::Binary) => {
            let Some(jan1) = binary_date(value) else {
                return false;
            };
            out.put_slice(&jan1.to_be_bytes());
            true
        }
        (TypeClass::Timestamp, Format::Binary) => {
            let Some(jan1) = binary_timestamp(value) else {
                return false;
            };
            out.put_slice(&jan1.to_be_bytes());
            true
        }
        (TypeClass::Date, Format::Text) => {
            iso_date(value, out)
                || decode(value, Encoding::Other).is_some_and(|s| date_text(&s, out))
        }
        (TypeClass::Timestamp, Format::Text) => {
            decode(value, Encoding::Other).is_some_and(|s| timestamp_text(&s, out))
        }
        // A date kept in a text column: mask it if it looks like one, otherwise hide it.
        (TypeClass::Text { .. }, Format::Text | Format::Binary) => {
            let masked = decode(value, ctx.encoding)
                .is_some_and(|s| date_text(s.trim(), out) || timestamp_text(s.trim(), out));
            if !masked {
                out.put_slice(REDACTED.as_bytes());
            }
            true
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
        ) => false,
    }
}

/// A binary date's January 1st.
fn binary_date(value: &[u8]) -> Option<i32> {
    let days = i32::from_be_bytes(value.try_into().ok()?);
    // i32::MIN / i32::MAX are -infinity / infinity: no year to keep.
    if days == i32::MIN || days == i32::MAX {
        return None;
    }
    let year = civil_from_days(i64::from(days)).0;
    i32::try_from(days_from_civil(year, 1, 1)).ok()
}

/// A binary timestamp's January 1st, midnight.
fn binary_timestamp(value: &[u8]) -> Option<i64> {
    let usecs = i64::from_be_bytes(value.try_into().ok()?);
    if usecs == i64::MIN || usecs == i64::MAX {
        return None;
    }
    let year = civil_from_days(usecs.div_euclid(USECS_PER_DAY)).0;
    days_from_civil(year, 1, 1).checked_mul(USECS_PER_DAY)
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

/// The three parts of `s` split at `sep`; `None` unless there are exactly three.
fn three(s: &str, sep: char) -> Option<(&str, &str, &str)> {
    let mut parts = s.split(sep);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c), None) => Some((a, b, c)),
        _ => None,
    }
}

/// The usual case, an ISO date `1990-05-17`, read from its bytes: `date_text` without decoding
/// or splitting.
fn iso_date(value: &[u8], out: &mut BytesMut) -> bool {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *value else {
        return false;
    };
    if ![y0, y1, y2, y3, m0, m1, d0, d1]
        .iter()
        .all(u8::is_ascii_digit)
    {
        return false;
    }
    out.put_slice(&[y0, y1, y2, y3]);
    out.put_slice(b"-01-01");
    true
}

/// A date in any DateStyle: ISO `1990-05-17`, SQL `05/17/1990` or `17/05/1990`, German
/// `17.05.1990`, Postgres `05-17-1990`; each with an optional ` BC`. Day and month both become
/// `01`, so the field order (MDY or DMY) does not matter. Appends the masked date to `out` and
/// answers `true`, or appends nothing and answers `false` when `s` is not a date.
fn date_text(s: &str, out: &mut BytesMut) -> bool {
    if iso_date(s.as_bytes(), out) {
        return true;
    }
    let (body, era) = split_era(s);
    let Some(sep) = body.chars().find(|c| matches!(c, '-' | '/' | '.')) else {
        return false;
    };
    let Some((a, b, c)) = three(body, sep) else {
        return false;
    };
    if sep == '-' && all_digits(a, 4, 7) && all_digits(b, 1, 2) && all_digits(c, 1, 2) {
        out.put_slice(a.as_bytes());
        out.put_slice(b"-01-01");
        out.put_slice(era.as_bytes());
        return true;
    }
    if all_digits(a, 1, 2) && all_digits(b, 1, 2) && all_digits(c, 4, 7) {
        let mut buf = [0u8; 4];
        let sep = sep.encode_utf8(&mut buf).as_bytes();
        out.put_slice(b"01");
        out.put_slice(sep);
        out.put_slice(b"01");
        out.put_slice(sep);
        out.put_slice(c.as_bytes());
        out.put_slice(era.as_bytes());
        return true;
    }
    false
}

/// An ISO-style timestamp (`1990-05-17 13:45:12.5`, with `+08`, `-03:30` etc. for timestamptz)
/// becomes `1990-01-01 00:00:00` with the same offset and era. Other DateStyles give `false`
/// (nothing appended; NULL): their zone abbreviations cannot be carried over safely.
///
/// The offset kept is the value's own. In a zone with daylight saving time, January's offset
/// differs (`-04` in July, `-05` in January for New York), so the masked instant is an hour off
/// the server's `date_trunc('year', …)`; we have no time zone database to do better, and the
/// value is still a valid timestamptz in the right year.
fn timestamp_text(s: &str, out: &mut BytesMut) -> bool {
    let (body, era) = split_era(s);
    let Some((date, time)) = body.split_once(' ') else {
        return false;
    };
    let Some((year, month, day)) = three(date, '-') else {
        return false;
    };
    if !(all_digits(year, 4, 7) && all_digits(month, 2, 2) && all_digits(day, 2, 2)) {
        return false;
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
        return false;
    }
    out.put_slice(year.as_bytes());
    out.put_slice(b"-01-01 00:00:00");
    out.put_slice(offset.as_bytes());
    out.put_slice(era.as_bytes());
    true
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
