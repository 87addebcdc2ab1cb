//! Trail records: the typed body of every record kind SPEC.md lists, the canonical JSON line
//! `{"seq":N,"ts":"…","kind":"…",<members>,"prev":"<64hex>","hash":"<64hex>"}`, the hash rule
//! (BLAKE3 of the bytes before the LAST `,"hash":`), the structural parse of a line that `verify`
//! and writer recovery share, and the keyed BLAKE3 used for parameters and subject ids.
//!
//! Pure: no I/O, no clock (callers pass the timestamp), no tokio. Member order inside each body
//! is the struct's field order, which is the SPEC's order; serde_json writes compact JSON, so the
//! line is canonical by construction.

mod template;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use template::{Params, StatementTemplate};

/// Hex digits of a BLAKE3 hash (`hash`, `prev`, `covers_hash`).
pub const HASH_HEX_LEN: usize = 64;
/// `prev` of a chain's first record.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The member that ends every line; the hash covers everything before its LAST occurrence.
pub const HASH_MARKER: &[u8] = b",\"hash\":\"";
/// What the hashed prefix of every line ends with, before the 64 hex digits of `prev`.
const PREV_MARKER: &[u8] = b",\"prev\":\"";
/// Every line starts with its sequence number.
const SEQ_MARKER: &[u8] = b"{\"seq\":";

/// Why a record could not be encoded or a line is not a well-formed trail record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("the body cannot be written as JSON: {0}")]
    Encode(String),
    #[error("the line is not valid UTF-8 JSON: {0}")]
    NotJson(String),
    #[error("the line does not start with {{\"seq\":")]
    NoSeqFirst,
    #[error("the line has no \"hash\" member of 64 lowercase hex digits as its last member")]
    BadHashMember,
    #[error("the member before \"hash\" is not \"prev\" with 64 lowercase hex digits")]
    BadPrevMember,
    #[error("member {0:?} is missing or has the wrong type")]
    Member(&'static str),
    #[error("\"ts\" {0:?} is not RFC 3339 UTC with microseconds")]
    BadTimestamp(String),
}

// === Digest ===

/// A 32-byte BLAKE3 digest; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub const ZERO: Digest = Digest([0; 32]);

    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Digest> {
        decode_hex_32(s).map(Digest)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The two lowercase hex digits of a byte.
fn hex_pair(b: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]]
}

/// Lowercase hex of any byte string.
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for pair in bytes.iter().map(|&b| hex_pair(b)) {
        s.extend(pair.map(char::from));
    }
    s
}

/// The 64 lowercase hex digits of a digest, on the stack. Every record hashes twice per line
/// (its own hash and the next one's `prev`) and once per recorded parameter: a table lookup a
/// nibble instead of `blake3::Hash::to_hex`'s checked pushes into an `ArrayString`.
pub fn hex_32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&hex_pair(b));
    }
    out
}

/// Lowercase hex digit value; uppercase is refused because every hash in the trail is lowercase.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes lowercase hex into exactly `N` bytes.
pub fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (hex_value(*hi)?, hex_value(*lo)?),
            _ => return None,
        };
        *o = (hi << 4) | lo;
    }
    Some(out)
}

fn decode_hex_32(s: &str) -> Option<[u8; 32]> {
    decode_hex::<32>(s)
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|&c| hex_value(c).is_some())
}

// === HashKey ===

/// The 32-byte key of the keyed BLAKE3 over parameters and subject ids (`audit.hash_key_env`).
/// Keyed, so a trail reader cannot confirm a guessed national id by hashing it.
#[derive(Clone, PartialEq, Eq)]
pub struct HashKey([u8; 32]);

impl HashKey {
    pub fn new(bytes: [u8; 32]) -> HashKey {
        HashKey(bytes)
    }

    /// Parses the 64 hex digits of the environment variable (surrounding whitespace ignored;
    /// upper- or lowercase, since an operator may paste either).
    pub fn from_hex(s: &str) -> Option<HashKey> {
        decode_hex_32(&s.trim().to_ascii_lowercase()).map(HashKey)
    }

    /// The key itself, for the `hash` mask (same key, so masked values join with the trail's).
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Keyed BLAKE3 of `bytes`, as 64 lowercase hex digits.
    pub fn keyed_hex(&self, bytes: &[u8]) -> String {
        hex_encode(self.keyed(bytes).as_bytes())
    }

    /// Keyed BLAKE3 of `bytes`.
    pub fn keyed(&self, bytes: &[u8]) -> blake3::Hash {
        blake3::keyed_hash(&self.0, bytes)
    }
}

impl fmt::Debug for HashKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(..)")
    }
}

// === Timestamps ===

const TS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// RFC 3339 UTC with microseconds: `2026-11-22T10:00:00.123456Z`. Fixed width, so timestamps
/// compare as strings.
pub fn format_ts(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    // Formatting with a fixed description only fails for years outside 0..=9999.
    utc.format(TS_FORMAT)
        .unwrap_or_else(|_| "0000-01-01T00:00:00.000000Z".to_owned())
}

/// Bytes of `YYYY-MM-DDTHH:MM:SS.` in a `ts`.
const TS_SECOND_LEN: usize = 20;

/// [`format_ts`] for a stream of records: the part up to the second is formatted once per
/// second and reused, the microseconds are written by hand.
#[derive(Debug, Default)]
pub struct TsFormatter {
    /// The Unix second last formatted, its `YYYY-MM-DDTHH:MM:SS.`, and whether it is
    /// [`format_ts`]'s fallback (whose microseconds are zeros).
    cached: Option<(i64, String, bool)>,
}

impl TsFormatter {
    pub fn new() -> TsFormatter {
        TsFormatter::default()
    }

    /// Writes `format_ts(t)` into `out` (cleared first).
    pub fn format_into(&mut self, t: OffsetDateTime, out: &mut String) {
        let utc = t.to_offset(time::UtcOffset::UTC);
        let second = utc.unix_timestamp();
        let (prefix, fallback) = match &mut self.cached {
            Some((s, p, f)) if *s == second => (&*p, *f),
            slot => {
                let full = format_ts(utc);
                let fallback = utc.format(TS_FORMAT).is_err();
                let p = full.get(..TS_SECOND_LEN).unwrap_or_default().to_owned();
                let (_, p, f) = slot.insert((second, p, fallback));
                (&*p, *f)
            }
        };
        out.clear();
        out.push_str(prefix);
        let mut micros = if fallback { 0 } else { utc.microsecond() };
        let mut digits = [b'0'; 6];
        for d in digits.iter_mut().rev() {
            // `micros % 10` is below 10, so the digit is ASCII.
            *d = b'0'.saturating_add(u8::try_from(micros % 10).unwrap_or(0));
            micros /= 10;
        }
        for d in digits {
            out.push(char::from(d));
        }
        out.push('Z');
    }
}

/// Parses a `ts` written by [`format_ts`].
pub fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    let pdt = time::PrimitiveDateTime::parse(s, TS_FORMAT).ok()?;
    Some(pdt.assume_utc())
}

// === Bodies ===

/// Outcome of a login (`session_start.auth`): `ok` or `failed:<SQLSTATE>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Auth {
    Ok,
    Failed { sqlstate: String },
}

/// `statement.decision`: `allow` or `deny:<rule>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Decision {
    Allow,
    Deny { rule: String },
}

/// `result.status`: `ok`, `error:<SQLSTATE>` or `cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Status {
    Ok,
    Error { sqlstate: String },
    Cancelled,
}

fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

impl From<Auth> for String {
    fn from(a: Auth) -> String {
        match a {
            Auth::Ok => "ok".to_owned(),
            Auth::Failed { sqlstate } => format!("failed:{sqlstate}"),
        }
    }
}

impl TryFrom<String> for Auth {
    type Error = String;
    fn try_from(s: String) -> Result<Auth, String> {
        match split_tag(&s) {
            ("ok", None) => Ok(Auth::Ok),
            ("failed", Some(code)) => Ok(Auth::Failed {
                sqlstate: code.to_owned(),
            }),
            _ => Err(format!("auth {s:?} is not ok or failed:<SQLSTATE>")),
        }
    }
}

impl From<Decision> for String {
    fn from(d: Decision) -> String {
        match d {
            Decision::Allow => "allow".to_owned(),
            Decision::Deny { rule } => format!("deny:{rule}"),
        }
    }
}

impl TryFrom<String> for Decision {
    type Error = String;
    fn try_from(s: String) -> Result<Decision, String> {
        match split_tag(&s) {
            ("allow", None) => Ok(Decision::Allow),
            ("deny", Some(rule)) => Ok(Decision::Deny {
                rule: rule.to_owned(),
            }),
            _ => Err(format!("decision {s:?} is not allow or deny:<rule>")),
        }
    }
}

impl From<Status> for String {
    fn from(st: Status) -> String {
        match st {
            Status::Ok => "ok".to_owned(),
            Status::Error { sqlstate } => format!("error:{sqlstate}"),
            Status::Cancelled => "cancelled".to_owned(),
        }
    }
}

impl TryFrom<String> for Status {
    type Error = String;
    fn try_from(s: String) -> Result<Status, String> {
        match split_tag(&s) {
            ("ok", None) => Ok(Status::Ok),
            ("cancelled", None) => Ok(Status::Cancelled),
            ("error", Some(code)) => Ok(Status::Error {
                sqlstate: code.to_owned(),
            }),
            _ => Err(format!(
                "status {s:?} is not ok, error:<SQLSTATE> or cancelled"
            )),
        }
    }
}

/// First record of every segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentStart {
    pub chain: String,
    /// The file name the segment was opened as, `<20 digits>.jsonl` (kept after compression).
    pub segment: String,
    /// The previous segment's file name, or null for the chain's first.
    pub previous_segment: Option<String>,
}

/// The effective policy, written at start and at every reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// BLAKE3 of the effective policy.
    pub policy_hash: String,
    /// The role × personal-column matrix.
    pub policy: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStart {
    pub session: u64,
    /// `ip:port` of the client.
    pub client: String,
    pub user: String,
    pub role: String,
    pub database: String,
    pub application: String,
    pub tls: bool,
    pub auth: Auth,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub session: u64,
    /// SELECT, INSERT, UPDATE, DELETE, COPY, a DDL kind…
    pub op: String,
    /// Literals replaced by `$n` unless `audit.parameters = "clear"`.
    pub sql: String,
    /// Keyed hashes (hashed), values (clear) or nothing (none); NULL parameters stay null.
    pub params: Vec<Option<String>>,
    pub fingerprint: String,
    pub tables: Vec<String>,
    pub columns_read: Vec<String>,
    pub columns_written: Vec<String>,
    pub masked: Vec<String>,
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub session: u64,
    /// `seq` of the `statement` record this result belongs to.
    pub statement_seq: u64,
    pub status: Status,
    pub rows: u64,
    pub command_tag: String,
    pub duration_us: u64,
    /// Keyed hashes of the `subject_key` values returned, at most 1,000.
    pub subjects: Vec<String>,
    pub subjects_total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnd {
    pub session: u64,
    pub statements: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub rule: String,
    pub session: u64,
    pub user: String,
    pub detail: String,
}

/// What crash recovery removed from the newest segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    pub dropped_bytes: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub covers_seq: u64,
    /// The `hash` of record `covers_seq`, the record just before the checkpoint.
    pub covers_hash: String,
    /// First 16 hex digits of BLAKE3 of the public key's 32 bytes.
    pub key_id: String,
    /// 128 hex digits: Ed25519 over `trailmask-checkpoint:<chain>:<covers_seq>:<covers_hash>`.
    pub sig: String,
    /// Present (true) only on the checkpoint that seals a segment at a clean stop.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stop: bool,
    /// Present only on the checkpoint written by crash recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedSegment {
    pub segment: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prune {
    /// Oldest first.
    pub segments: Vec<PrunedSegment>,
}

/// Every record kind. Serde's tag is the `kind` member, so a whole parsed line deserialises
/// into a `Body` (the envelope members are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    SegmentStart(SegmentStart),
    Config(ConfigRecord),
    SessionStart(SessionStart),
    Statement(Statement),
    Result(ResultRecord),
    SessionEnd(SessionEnd),
    Anomaly(Anomaly),
    Checkpoint(Checkpoint),
    Prune(Prune),
}

/// The `kind` member values, in SPEC order; metrics pre-initialise one series per entry.
pub const KINDS: [&str; 9] = [
    "segment_start",
    "config",
    "session_start",
    "statement",
    "result",
    "session_end",
    "anomaly",
    "checkpoint",
    "prune",
];

impl Body {
    pub fn kind(&self) -> &'static str {
        match self {
            Body::SegmentStart(_) => "segment_start",
            Body::Config(_) => "config",
            Body::SessionStart(_) => "session_start",
            Body::Statement(_) => "statement",
            Body::Result(_) => "result",
            Body::SessionEnd(_) => "session_end",
            Body::Anomaly(_) => "anomaly",
            Body::Checkpoint(_) => "checkpoint",
            Body::Prune(_) => "prune",
        }
    }
}

// === Encoding ===

/// A record as written: the line without its trailing `\n`, and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub line: String,
    pub hash: Digest,
}

/// A body rendered ahead of chaining: its kind and its members as compact JSON. Sessions render
/// their own records, so the single writer thread only adds the envelope and the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    kind: &'static str,
    /// The body as a JSON object, `{…}`; the members are the bytes between the braces.
    json: Vec<u8>,
    /// A `result` rendered before its statement's seq is known: where the placeholder `0` of
    /// `statement_seq` sits in `json`, and the seq written in its place.
    statement_seq: Option<(usize, u64)>,
}

/// Most bodies fit in this many bytes of JSON: one allocation per record.
const BODY_CAPACITY: usize = 384;

fn to_json(body: &Body) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(BODY_CAPACITY);
    match body {
        Body::SegmentStart(b) => serde_json::to_writer(&mut out, b)?,
        Body::Config(b) => serde_json::to_writer(&mut out, b)?,
        Body::SessionStart(b) => serde_json::to_writer(&mut out, b)?,
        Body::Statement(b) => serde_json::to_writer(&mut out, b)?,
        Body::Result(b) => serde_json::to_writer(&mut out, b)?,
        Body::SessionEnd(b) => serde_json::to_writer(&mut out, b)?,
        Body::Anomaly(b) => serde_json::to_writer(&mut out, b)?,
        Body::Checkpoint(b) => serde_json::to_writer(&mut out, b)?,
        Body::Prune(b) => serde_json::to_writer(&mut out, b)?,
    }
    Ok(out)
}

impl Prepared {
    pub fn new(body: &Body) -> Result<Prepared, RecordError> {
        let json = to_json(body).map_err(|e| RecordError::Encode(e.to_string()))?;
        Ok(Prepared {
            kind: body.kind(),
            json,
            statement_seq: None,
        })
    }

    /// A `result` whose `statement_seq` is filled in later with [`Prepared::set_statement_seq`]
    /// (`result.statement_seq` is ignored).
    ///
    /// Rendered by hand, one per statement on the session's thread: the bytes are exactly
    /// serde's for the same record (members in struct order, strings escaped as serde_json
    /// escapes them), as the unit tests check against [`Prepared::new`].
    pub fn result(result: ResultRecord) -> Result<Prepared, RecordError> {
        let mut json = Vec::with_capacity(
            160 + result.command_tag.len() + result.subjects.len().saturating_mul(67),
        );
        json.extend_from_slice(b"{\"session\":");
        push_u64(&mut json, result.session);
        json.extend_from_slice(b",\"statement_seq\":");
        let at = json.len();
        json.extend_from_slice(b"0,\"status\":");
        match &result.status {
            Status::Ok => json.extend_from_slice(b"\"ok\""),
            Status::Cancelled => json.extend_from_slice(b"\"cancelled\""),
            Status::Error { sqlstate } => {
                json.extend_from_slice(b"\"error:");
                push_json_str_inner(&mut json, sqlstate)?;
                json.push(b'"');
            }
        }
        json.extend_from_slice(b",\"rows\":");
        push_u64(&mut json, result.rows);
        json.extend_from_slice(b",\"command_tag\":");
        push_json_str(&mut json, &result.command_tag)?;
        json.extend_from_slice(b",\"duration_us\":");
        push_u64(&mut json, result.duration_us);
        json.extend_from_slice(b",\"subjects\":[");
        for (i, subject) in result.subjects.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            push_json_str(&mut json, subject)?;
        }
        json.extend_from_slice(b"],\"subjects_total\":");
        push_u64(&mut json, result.subjects_total);
        json.push(b'}');
        Ok(Prepared {
            kind: "result",
            json,
            statement_seq: Some((at, 0)),
        })
    }

    /// The `statement_seq` of a record made by [`Prepared::result`].
    pub fn set_statement_seq(&mut self, seq: u64) {
        if let Some((_, s)) = &mut self.statement_seq {
            *s = seq;
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Appends the members (the object without its braces) to `out`.
    fn write_members(&self, out: &mut Vec<u8>) {
        let end = self.json.len().saturating_sub(1);
        match self.statement_seq {
            None => out.extend_from_slice(self.json.get(1..end).unwrap_or_default()),
            Some((at, seq)) => {
                out.extend_from_slice(self.json.get(1..at).unwrap_or_default());
                push_u64(out, seq);
                out.extend_from_slice(self.json.get(at.saturating_add(1)..end).unwrap_or_default());
            }
        }
    }

    fn has_members(&self) -> bool {
        self.json.len() > 2
    }
}

/// Appends `s` as a JSON string, quotes included, exactly as serde_json writes it.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) -> Result<(), RecordError> {
    out.push(b'"');
    push_json_str_inner(out, s)?;
    out.push(b'"');
    Ok(())
}

/// Appends `s` as the inside of a JSON string, exactly as serde_json writes it: text with no
/// quote, backslash or control character (all a server's command tags and SQLSTATEs) is copied
/// as it is, anything else goes through serde_json.
fn push_json_str_inner(out: &mut Vec<u8>, s: &str) -> Result<(), RecordError> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(s.as_bytes());
        return Ok(());
    }
    let quoted = serde_json::to_vec(s).map_err(|e| RecordError::Encode(e.to_string()))?;
    out.extend_from_slice(
        quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default(),
    );
    Ok(())
}

/// Appends the decimal digits of `n`.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i = i.saturating_sub(1);
        if let Some(d) = digits.get_mut(i) {
            // `n % 10` is below 10.
            *d = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// Writes the canonical line of record `seq`: `{"seq":…,"ts":…,"kind":…,<members>,"prev":…,"hash":…}`.
pub fn encode(seq: u64, ts: &str, body: &Body, prev: &Digest) -> Result<Encoded, RecordError> {
    encode_prepared(seq, ts, &Prepared::new(body)?, prev)
}

/// [`encode`] for a body already rendered.
pub fn encode_prepared(
    seq: u64,
    ts: &str,
    rec: &Prepared,
    prev: &Digest,
) -> Result<Encoded, RecordError> {
    let mut out = Vec::with_capacity(rec.json.len().saturating_add(240));
    let prev_hex = blake3::Hash::from_bytes(prev.0).to_hex();
    let hash = encode_into(&mut out, seq, ts, rec, prev_hex.as_str())?;
    out.pop();
    let line = String::from_utf8(out).map_err(|e| RecordError::Encode(e.to_string()))?;
    Ok(Encoded { line, hash })
}

/// Appends record `seq`'s canonical line and its `\n` to `out` (the writer's buffer: no
/// allocation of its own) and returns its hash. `prev_hex` is the previous record's `hash`.
pub fn encode_into(
    out: &mut Vec<u8>,
    seq: u64,
    ts: &str,
    rec: &Prepared,
    prev_hex: &str,
) -> Result<Digest, RecordError> {
    let start = out.len();
    out.extend_from_slice(b"{\"seq\":");
    push_u64(out, seq);
    out.extend_from_slice(b",\"ts\":");
    if ts
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":.-".contains(&b))
    {
        // What [`format_ts`] writes needs no escaping.
        out.push(b'"');
        out.extend_from_slice(ts.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, ts).map_err(|e| RecordError::Encode(e.to_string()))?;
    }
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(rec.kind.as_bytes());
    out.push(b'"');
    if rec.has_members() {
        out.push(b',');
        rec.write_members(out);
    }
    out.extend_from_slice(PREV_MARKER);
    out.extend_from_slice(prev_hex.as_bytes());
    out.push(b'"');
    let hash = blake3::hash(out.get(start..).unwrap_or_default());
    out.extend_from_slice(HASH_MARKER);
    out.extend_from_slice(&hex_32(hash.as_bytes()));
    out.extend_from_slice(b"\"}\n");
    Ok(Digest(*hash.as_bytes()))
}

// === Parsing ===

/// The envelope of one line, checked for shape; member values beyond the envelope are in `value`.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub seq: u64,
    pub ts: String,
    pub kind: String,
    pub prev: Digest,
    /// The `hash` member as written.
    pub stated: Digest,
    /// BLAKE3 of the bytes before the last `,"hash":`.
    pub computed: Digest,
    /// The whole line as JSON, for kind-specific members.
    pub value: serde_json::Value,
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| hay.get(i..i + needle.len()) == Some(needle))
}

/// Parses one line (without its `\n`): the envelope shape SPEC fixes, the stated and the
/// computed hash. It does not judge the chain; `verify` does.
pub fn parse_line(line: &[u8]) -> Result<Parsed, RecordError> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| RecordError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(RecordError::NotJson("not an object".to_owned()));
    }
    if !line.starts_with(SEQ_MARKER) {
        return Err(RecordError::NoSeqFirst);
    }
    let at = rfind(line, HASH_MARKER).ok_or(RecordError::BadHashMember)?;
    let (prefix, rest) = line.split_at(at);
    let hash_hex = rest
        .get(HASH_MARKER.len()..)
        .and_then(|r| r.strip_suffix(b"\"}"))
        .filter(|h| h.len() == HASH_HEX_LEN && is_lower_hex(h))
        .ok_or(RecordError::BadHashMember)?;
    let prev_start = prefix
        .len()
        .checked_sub(HASH_HEX_LEN + 1 + PREV_MARKER.len())
        .ok_or(RecordError::BadPrevMember)?;
    let prev_part = prefix.get(prev_start..).ok_or(RecordError::BadPrevMember)?;
    let prev_hex = prev_part
        .strip_prefix(PREV_MARKER)
        .and_then(|p| p.strip_suffix(b"\""))
        .filter(|h| h.len() == HASH_HEX_LEN && is_lower_hex(h))
        .ok_or(RecordError::BadPrevMember)?;
    let stated = std::str::from_utf8(hash_hex)
        .ok()
        .and_then(Digest::from_hex)
        .ok_or(RecordError::BadHashMember)?;
    let prev = std::str::from_utf8(prev_hex)
        .ok()
        .and_then(Digest::from_hex)
        .ok_or(RecordError::BadPrevMember)?;
    // The JSON members must agree with the bytes we read them from (a duplicate `prev` or
    // `hash` member earlier in the line would otherwise be read differently by JSON readers).
    let str_member = |name: &'static str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or(RecordError::Member(name))
    };
    if str_member("hash")? != stated.to_hex() {
        return Err(RecordError::BadHashMember);
    }
    if str_member("prev")? != prev.to_hex() {
        return Err(RecordError::BadPrevMember);
    }
    let seq = value
        .get("seq")
        .and_then(|v| v.as_u64())
        .ok_or(RecordError::Member("seq"))?;
    let ts = str_member("ts")?;
    if parse_ts(&ts).is_none() {
        return Err(RecordError::BadTimestamp(ts));
    }
    let kind = str_member("kind")?;
    Ok(Parsed {
        seq,
        ts,
        kind,
        prev,
        stated,
        computed: Digest::of(prefix),
        value,
    })
}

#[cfg(test)]
mod tests;
