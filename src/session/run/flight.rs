//! Statements on their way through the database: what the session remembers about each one
//! between forwarding it and its last result message (the trail record to pair the result with,
//! the plan that masks its rows, counters).

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::protocol::sqlstate::SqlState;
use crate::session::guard::Decided;
use crate::session::rewrite::ResultPlan;
use crate::trail::writer::Link;

/// The trail's side of one statement: its `statement` record, linked to its place in the chain
/// (the writer fills in the seq; the `result` record is rendered from the link).
pub enum Record {
    None,
    Linked(Link),
}

/// One statement awaiting its results.
pub struct Stmt {
    pub decided: Option<Arc<Decided>>,
    pub record: Record,
    pub rows: u64,
    /// How its rows are rewritten (None: they pass untouched).
    pub plan: Option<ResultPlan>,
    /// Masked values per field of `plan`, summed into the metrics when the statement ends.
    pub masked: Vec<u64>,
    /// Qualified column of each field (for `masked_values_total{column}`).
    pub columns: Vec<String>,
    /// The rows must be rewritten but no plan could be made: every field becomes NULL.
    pub blind: bool,
    /// Whose data the rows carry, when they include a `subject_key` column.
    pub subjects: Option<Subjects>,
}

/// At most this many subject hashes go into a `result` record.
pub const MAX_SUBJECTS: usize = 1000;
/// Distinct subjects counted exactly up to this many per statement (then rows count).
const MAX_COUNTED: usize = 1 << 20;

/// Bytes of subject keys kept while they come in ascending order (past this, a set is cheaper).
const MAX_ASCENDING_BYTES: usize = 16 << 20;

/// The data subjects of one statement's rows: keyed hashes of their `subject_key` values.
///
/// Every row is looked at, so this is cheap per row. While each key is greater than the one
/// before (by length, then bytes: a strict order, so such keys are all distinct; a result in key
/// order, such as a table read by its primary key, stays in this mode), the keys are only
/// appended to a buffer. Otherwise distinct keys are told apart by a 128-bit SipHash under keys
/// drawn at random for this statement (a collision is as likely as guessing a random 128-bit
/// number). The keyed BLAKE3 hash that goes into the trail is computed only for the first
/// [`MAX_SUBJECTS`] distinct keys.
pub struct Subjects {
    pub field: usize,
    key: std::sync::Arc<[u8; 32]>,
    /// `Some` while the keys have come in ascending order: all of them, one after the other.
    /// (Boxed: a `Stmt` without subjects should stay small.)
    ascending: Option<Box<Ascending>>,
    /// Two independently keyed SipHash instances: their outputs make one 128-bit fingerprint.
    fingerprint: (RandomState, RandomState),
    seen: HashSet<u128, BuildHasherDefault<Fingerprinted>>,
    pub list: Vec<String>,
    pub total: u64,
}

/// Subject keys in ascending order, concatenated.
#[derive(Default)]
struct Ascending {
    bytes: Vec<u8>,
    /// Where each key ends in `bytes`.
    ends: Vec<usize>,
}

impl Ascending {
    fn last(&self) -> Option<&[u8]> {
        let end = *self.ends.last()?;
        let start = self
            .ends
            .len()
            .checked_sub(2)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or(0);
        self.bytes.get(start..end)
    }

    /// Whether `value` comes after every key so far.
    fn is_next(&self, value: &[u8]) -> bool {
        match self.last() {
            None => self.ends.is_empty(),
            Some(last) => (value.len(), value) > (last.len(), last),
        }
    }

    fn push(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len());
    }

    fn keys(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| self.bytes.get(start..end).unwrap_or_default())
    }
}

impl Subjects {
    pub fn new(field: usize, key: std::sync::Arc<[u8; 32]>) -> Subjects {
        Subjects {
            field,
            key,
            ascending: Some(Box::default()),
            fingerprint: (RandomState::new(), RandomState::new()),
            seen: HashSet::default(),
            list: Vec::new(),
            total: 0,
        }
    }

    /// Counts the subject of one DataRow payload (a NULL key counts nothing).
    pub fn see_row(&mut self, payload: &[u8]) {
        let Some(value) = nth_field(payload, self.field) else {
            return;
        };
        let distinct = self
            .ascending
            .as_ref()
            .map_or(self.seen.len(), |a| a.ends.len());
        if distinct >= MAX_COUNTED {
            self.total += 1;
            return;
        }
        if let Some(asc) = &mut self.ascending {
            if asc.is_next(value) && asc.bytes.len() < MAX_ASCENDING_BYTES {
                asc.push(value);
                self.new_subject(value);
                return;
            }
            // Out of order (or too much to keep): from here on, the set.
            if let Some(asc) = self.ascending.take() {
                self.seen.reserve(asc.ends.len());
                for key in asc.keys() {
                    let id = self.id(key);
                    self.seen.insert(id);
                }
            }
        }
        let id = self.id(value);
        if self.seen.insert(id) {
            self.new_subject(value);
        }
    }

    /// The 128-bit fingerprint of a key.
    fn id(&self, value: &[u8]) -> u128 {
        (u128::from(self.fingerprint.0.hash_one(value)) << 64)
            | u128::from(self.fingerprint.1.hash_one(value))
    }

    /// A key not seen before in this result.
    fn new_subject(&mut self, value: &[u8]) {
        self.total += 1;
        if self.list.len() < MAX_SUBJECTS {
            // The trail's keyed hash, so subjects join with recorded parameters.
            let key = crate::trail::record::HashKey::new(*self.key);
            self.list.push(key.keyed_hex(value));
        }
    }
}

/// The hasher of the `seen` set: its items are random-keyed SipHash outputs already, so their
/// low 64 bits serve as the hash as they are.
#[derive(Default)]
struct Fingerprinted(u64);

impl Hasher for Fingerprinted {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for other item types; folds the bytes in, still a valid hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        // Keeps the low 64 bits: no information is meant to be lost by the cast.
        self.0 = u64::try_from(n & u128::from(u64::MAX)).unwrap_or(0);
    }
}

/// The bytes of field `n` of a DataRow payload, without allocating; `None` for NULL or a
/// malformed row.
fn nth_field(payload: &[u8], n: usize) -> Option<&[u8]> {
    let (_, mut rest) = crate::protocol::read_i16(payload)?;
    for _ in 0..n {
        let (len, r) = crate::protocol::read_i32(rest)?;
        let skip = usize::try_from(len).unwrap_or(0);
        rest = r.get(skip..)?;
    }
    let (len, r) = crate::protocol::read_i32(rest)?;
    let len = usize::try_from(len).ok()?;
    r.get(..len)
}

/// What a flight is.
pub enum Kind {
    /// A simple Query: its statements in order; `at` is the one whose results are arriving.
    Query { stmts: Vec<Stmt>, at: usize },
    /// An Execute of a portal.
    Execute {
        stmt: Stmt,
        /// A Describe of the portal was injected just before the Execute and its answer will
        /// give the plan.
        awaiting_description: bool,
    },
    /// A statement refused by trailmask: the database was sent a statement that fails, and its
    /// error is replaced by this one.
    Refusal {
        code: SqlState,
        message: String,
        stmts: Vec<Stmt>,
    },
}

pub struct Flight {
    /// The Query/Sync count this flight's batch ends with.
    pub batch: u64,
    pub started: Instant,
    pub kind: Kind,
}

impl Stmt {
    pub fn new(decided: Option<Arc<Decided>>, record: Record) -> Stmt {
        Stmt {
            decided,
            record,
            rows: 0,
            plan: None,
            masked: Vec::new(),
            columns: Vec::new(),
            blind: false,
            subjects: None,
        }
    }
}

impl Flight {
    /// The statement whose results are arriving now, if any.
    pub fn current(&mut self) -> Option<&mut Stmt> {
        match &mut self.kind {
            Kind::Query { stmts, at } => stmts.get_mut(*at),
            Kind::Execute { stmt, .. } => Some(stmt),
            Kind::Refusal { .. } => None,
        }
    }
}

/// The SQL sent to the database in place of a refused statement: it fails with `code`, so the
/// database itself puts the transaction into the failed state and skips to the next Sync,
/// exactly as for its own errors. The client never sees this error; it gets trailmask's.
pub fn refusal_sql(code: SqlState) -> Bytes {
    Bytes::from(format!(
        "DO $trailmask$BEGIN RAISE EXCEPTION USING ERRCODE = '{}', MESSAGE = 'refused by trailmask'; END$trailmask$",
        code.0
    ))
}
