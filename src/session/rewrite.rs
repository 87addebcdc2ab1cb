//! The DataRow rewriter: applies a [`ResultPlan`] (one [`FieldAction`] per result field, decided
//! by `policy`) to each DataRow of a result on its way to the client. Pure: no I/O, no tokio.
//!
//! A plan is built once per RowDescription (or per Bind, with [`ResultPlan::with_formats`]) and
//! then rewrites every row of the result: `Pass` fields are copied byte for byte, masked fields
//! are replaced by what [`mask::apply`] returns, and SQL NULL stays NULL. Where a mask cannot
//! express its output in the column's type and format, `apply` answers `None` and the client gets
//! NULL: the rewriter fails closed and never falls back to the clear value.
//!
//! Per row nothing is allocated besides the growth of the caller's output buffer and what the
//! masks themselves allocate: the DataRow is walked in place, field by field.
//!
//! Deciding the actions is `policy`'s job; routing frames to the right plan is `session::run`'s
//! and `session::extended`'s. RowDescription needs no rewrite: every mask keeps the column's type.

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use crate::catalog::{AttNum, TableOid, TypeOid};
use crate::mask::{self, Encoding, FieldAction, Format, Mask, MaskCtx};
use crate::protocol::{backend, read_i16, read_i32};

/// The DataRow message tag.
const DATA_ROW_TAG: u8 = b'D';

/// Why a RowDescription, a DataRow or a Bind's format codes could not be used. Every variant ends
/// the result it belongs to: the session answers with a protocol error rather than forward a row
/// it could not mask.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error("malformed RowDescription")]
    MalformedRowDescription,
    #[error(
        "RowDescription field {field} has format code {code}, neither text (0) nor binary (1)"
    )]
    BadFormatCode { field: usize, code: i16 },
    #[error("the result has {fields} fields but the plan was given {actions} actions")]
    ActionCount { fields: usize, actions: usize },
    #[error("malformed DataRow: {reason}")]
    MalformedDataRow { reason: &'static str },
    #[error("DataRow has {found} fields, its RowDescription {expected}")]
    FieldCount { expected: usize, found: usize },
    #[error("Bind gives {codes} result format codes for a result of {fields} fields")]
    FormatCount { fields: usize, codes: usize },
    #[error("rewritten DataRow is longer than a protocol message may be")]
    RowTooLong,
}

impl RewriteError {
    fn data_row(reason: &'static str) -> RewriteError {
        RewriteError::MalformedDataRow { reason }
    }
}

/// What the session needs to know of one RowDescription field to ask `policy` about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    /// The table the field is a plain column of; `TableOid(0)` for an expression.
    pub table_oid: TableOid,
    /// The column's number in that table; `AttNum(0)` for an expression or a whole-row value.
    pub column: AttNum,
    pub type_oid: TypeOid,
    pub format: Format,
}

/// Reads the fields of a RowDescription payload (after tag and length).
pub fn fields_of(row_description: &[u8]) -> Result<Vec<FieldInfo>, RewriteError> {
    let fields =
        backend::row_description(row_description).ok_or(RewriteError::MalformedRowDescription)?;
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Ok(FieldInfo {
                table_oid: TableOid(f.table_oid),
                column: AttNum(f.column),
                type_oid: TypeOid(f.type_oid),
                format: Format::from_code(f.format).ok_or(RewriteError::BadFormatCode {
                    field: i,
                    code: f.format,
                })?,
            })
        })
        .collect()
}

/// One field of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlannedField {
    /// `None` for [`FieldAction::Pass`]; `Redact` is carried out as [`Mask::Redact`], which is
    /// exactly what SPEC asks of it (text -> `****`, other types -> NULL).
    mask: Option<Mask>,
    type_oid: u32,
    format: Format,
}

/// How to rewrite the DataRows of one result: one action per field, with each field's type and
/// format, and the session's client encoding and hash key. `Debug` leaves the key out.
#[derive(Clone)]
pub struct ResultPlan {
    fields: Vec<PlannedField>,
    encoding: Encoding,
    /// Key of [`Mask::Hash`]; shared, not copied, by every plan of every session.
    hash_key: Arc<[u8; 32]>,
    /// Cached: no field is masked.
    passthrough: bool,
}

// === impl ResultPlan ===

impl ResultPlan {
    /// `row_description`: RowDescription payload (after tag+length); `actions`: one per field.
    pub fn new(
        row_description: &[u8],
        actions: Vec<FieldAction>,
        encoding: Encoding,
        hash_key: Arc<[u8; 32]>,
    ) -> Result<ResultPlan, RewriteError> {
        let infos = fields_of(row_description)?;
        if infos.len() != actions.len() {
            return Err(RewriteError::ActionCount {
                fields: infos.len(),
                actions: actions.len(),
            });
        }
        let fields: Vec<PlannedField> = infos
            .iter()
            .zip(actions)
            .map(|(info, action)| PlannedField {
                mask: match action {
                    FieldAction::Pass => None,
                    FieldAction::Mask(mask) => Some(mask),
                    FieldAction::Redact => Some(Mask::Redact),
                },
                type_oid: info.type_oid.0,
                format: info.format,
            })
            .collect();
        let passthrough = fields.iter().all(|f| f.mask.is_none());
        Ok(ResultPlan {
            fields,
            encoding,
            hash_key,
            passthrough,
        })
    }

    /// Number of fields of the result.
    pub fn fields(&self) -> usize {
        self.fields.len()
    }

    /// Every field Pass: the session forwards DataRows untouched.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    /// Whether field `i` is masked or redacted (false for Pass and out of range).
    pub fn is_masked(&self, i: usize) -> bool {
        self.fields.get(i).is_some_and(|f| f.mask.is_some())
    }

    /// Appends the rewritten whole 'D' message (tag, length, payload) to `out`; adds 1 to
    /// `masked[i]` for each field i masked or redacted (masked.len() == fields()). A NULL field
    /// stays NULL and is not counted: it held no value to hide.
    ///
    /// On error `out` is left as it was and nothing is counted: no partial message is ever
    /// appended.
    pub fn rewrite_data_row(
        &self,
        payload: &[u8],
        out: &mut BytesMut,
        masked: &mut [u64],
    ) -> Result<(), RewriteError> {
        let start = out.len();
        let mut counted = 0;
        let result = self.write_data_row(payload, out, masked, &mut counted);
        if result.is_err() {
            out.truncate(start);
            self.uncount(payload, counted, masked);
        }
        result
    }

    /// One pass over the row: each field is read, checked and written (masked where the plan
    /// says so) straight into `out`, and the message length is filled in at the end.
    /// `counted`: how many fields have been written and counted so far.
    fn write_data_row(
        &self,
        payload: &[u8],
        out: &mut BytesMut,
        masked: &mut [u64],
        counted: &mut usize,
    ) -> Result<(), RewriteError> {
        let (raw_count, rest) =
            read_i16(payload).ok_or(RewriteError::data_row("no field count"))?;
        let count = usize::try_from(raw_count)
            .map_err(|_| RewriteError::data_row("negative field count"))?;
        if count != self.fields.len() {
            return Err(RewriteError::FieldCount {
                expected: self.fields.len(),
                found: count,
            });
        }
        let mut values = Values { rest, left: count };
        if self.passthrough {
            // Nothing to mask: the payload goes out as it came, once its framing is checked.
            for value in values.by_ref() {
                value?;
            }
            if !values.rest.is_empty() {
                return Err(RewriteError::data_row("bytes after the last field"));
            }
            let len = payload
                .len()
                .checked_add(4)
                .and_then(|n| i32::try_from(n).ok())
                .ok_or(RewriteError::RowTooLong)?;
            out.reserve(payload.len().saturating_add(5));
            out.put_u8(DATA_ROW_TAG);
            out.put_i32(len);
            out.put_slice(payload);
            return Ok(());
        }
        // Most rows shrink or grow by a few bytes; reserve once for the common case.
        out.reserve(payload.len().saturating_add(5 + 4 * count));
        let start = out.len();
        out.put_u8(DATA_ROW_TAG);
        out.put_i32(0);
        out.put_i16(raw_count);
        for (i, field) in self.fields.iter().enumerate() {
            let value = values.read()?;
            match (field.mask, value) {
                (None | Some(_), None) => out.put_i32(-1),
                (None, Some(value)) => put_value(out, value)?,
                (Some(mask), Some(value)) => {
                    let ctx = MaskCtx {
                        type_oid: field.type_oid,
                        format: field.format,
                        encoding: self.encoding,
                        hash_key: &self.hash_key,
                    };
                    // The length is filled in once the mask has written the value. `false`:
                    // NULL, including "this mask cannot express this type/format".
                    let len_at = out.len();
                    out.put_i32(-1);
                    if mask::apply_into(&mask, value, &ctx, out) {
                        let len = i32::try_from(out.len() - len_at - 4)
                            .map_err(|_| RewriteError::RowTooLong)?;
                        patch_i32(out, len_at, len);
                    }
                    if let Some(n) = masked.get_mut(i) {
                        *n = n.saturating_add(1);
                    }
                }
            }
            *counted = i + 1;
        }
        if !values.rest.is_empty() {
            return Err(RewriteError::data_row("bytes after the last field"));
        }
        let len = i32::try_from(out.len() - start - 1).map_err(|_| RewriteError::RowTooLong)?;
        patch_i32(out, start + 1, len);
        Ok(())
    }

    /// Takes back what a rejected row counted in its first `counted` fields (which were read
    /// without error, so they read again the same).
    fn uncount(&self, payload: &[u8], counted: usize, masked: &mut [u64]) {
        let Some((_, rest)) = read_i16(payload) else {
            return;
        };
        let values = Values {
            rest,
            left: counted,
        };
        for ((field, value), n) in self.fields.iter().zip(values).zip(masked.iter_mut()) {
            if field.mask.is_some() && matches!(value, Ok(Some(_))) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Same plan with other result formats (for a Bind's result-format codes applied to a
    /// statement's RowDescription): `formats` per the Bind rules (0 codes = all text, 1 = all,
    /// n = each).
    pub fn with_formats(&self, formats: &[i16]) -> Result<ResultPlan, RewriteError> {
        let format_at = |i: usize| -> Result<Format, RewriteError> {
            let code = match formats {
                [] => 0,
                [one] => *one,
                many => many.get(i).copied().ok_or(RewriteError::FormatCount {
                    fields: self.fields.len(),
                    codes: many.len(),
                })?,
            };
            Format::from_code(code).ok_or(RewriteError::BadFormatCode { field: i, code })
        };
        if formats.len() > 1 && formats.len() != self.fields.len() {
            return Err(RewriteError::FormatCount {
                fields: self.fields.len(),
                codes: formats.len(),
            });
        }
        let fields = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Ok(PlannedField {
                    format: format_at(i)?,
                    ..*f
                })
            })
            .collect::<Result<Vec<_>, RewriteError>>()?;
        Ok(ResultPlan {
            fields,
            encoding: self.encoding,
            hash_key: Arc::clone(&self.hash_key),
            passthrough: self.passthrough,
        })
    }
}

/// The values of a DataRow after its field count, walked in place: `Ok(None)` for NULL.
#[derive(Clone)]
struct Values<'a> {
    rest: &'a [u8],
    /// Fields not yet read.
    left: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = Result<Option<&'a [u8]>, RewriteError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        Some(self.read())
    }
}

impl<'a> Values<'a> {
    fn read(&mut self) -> Result<Option<&'a [u8]>, RewriteError> {
        let (len, rest) =
            read_i32(self.rest).ok_or(RewriteError::data_row("truncated field length"))?;
        if len == -1 {
            self.rest = rest;
            return Ok(None);
        }
        let len =
            usize::try_from(len).map_err(|_| RewriteError::data_row("negative field length"))?;
        let (value, rest) = rest
            .split_at_checked(len)
            .ok_or(RewriteError::data_row("field runs past the message end"))?;
        self.rest = rest;
        Ok(Some(value))
    }
}

/// Overwrites the 4 bytes at `at` of `out` (written before as a placeholder) with `value`.
fn patch_i32(out: &mut BytesMut, at: usize, value: i32) {
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

/// Writes one non-NULL field: its length, then its bytes.
fn put_value(out: &mut BytesMut, value: &[u8]) -> Result<(), RewriteError> {
    let len = i32::try_from(value.len()).map_err(|_| RewriteError::RowTooLong)?;
    out.put_i32(len);
    out.put_slice(value);
    Ok(())
}

impl fmt::Debug for ResultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultPlan")
            .field("fields", &self.fields)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}
