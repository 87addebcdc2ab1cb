//! The offline chain check (`trailmask verify`): fed one chain's segments in order as bytes, it
//! checks each line's hash, the chain across lines and segments, gap-free sequence numbers,
//! segment starts and seals, checkpoint signatures, `prune` anchors, `--expect-head` and
//! `--require-sealed`, and reports the first break with file, line (1-based, in the decompressed
//! segment), seq, expected and found.
//!
//! Pure: no I/O and no tokio (the auditor's commands must work with the proxy code absent).
//! `trail::archive` walks the directory and feeds this module.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::checkpoint;
use super::record::{self, Digest, PrunedSegment};

/// What to check beyond the chain itself.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Public keys for checkpoint signatures; empty: signatures are counted, not checked.
    pub keys: Vec<VerifyingKey>,
    /// `--expect-head SEQ[:HASH]`.
    pub expect_head: Option<(u64, Option<Digest>)>,
    /// `--require-sealed`: records after the last checkpoint are a break.
    pub require_sealed: bool,
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub file: String,
    /// 1-based line in the decompressed segment; 0 when the break is about the file as a whole.
    pub line: u64,
    pub seq: Option<u64>,
    pub expected: String,
    pub found: String,
    /// One sentence saying what does not hold.
    pub reason: String,
}

/// One chain's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub chain: String,
    pub records: u64,
    pub segments: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// Records after the last checkpoint: covered by no signature.
    pub unsealed: u64,
    pub signatures_checked: u64,
    pub signatures_unchecked: u64,
    pub warnings: Vec<String>,
    #[serde(rename = "break")]
    pub brk: Option<Break>,
}

/// One segment as read from disk.
#[derive(Debug, Clone, Copy)]
pub struct SegmentInput<'a> {
    /// The file name as found (`<20 digits>.jsonl` or `.jsonl.zst`).
    pub name: &'a str,
    /// How to name the file in a report (its path).
    pub display: &'a str,
    /// The (decompressed) bytes.
    pub bytes: &'a [u8],
    /// Set when decompression stopped early: the bytes are what could be read.
    pub cut: Option<&'a str>,
}

/// Where the chain's oldest remaining record sits, checked against `prune` records at the end.
#[derive(Debug, Clone)]
struct Anchor {
    display: String,
    seq: u64,
    prev: Digest,
    previous_segment: Option<String>,
}

/// Checks one chain, segment by segment.
#[derive(Debug)]
pub struct ChainCheck<'o> {
    opts: &'o Options,
    keys: BTreeMap<String, VerifyingKey>,
    report: ChainReport,
    /// Hash of the last record seen.
    prev_hash: Option<Digest>,
    last_seq: Option<u64>,
    prev_segment: Option<String>,
    anchor: Option<Anchor>,
    pruned: Vec<PrunedSegment>,
    /// Hash of the record `--expect-head` names, once seen.
    expected_head_hash: Option<Digest>,
    /// Where the first record after the last checkpoint is (file, line, seq).
    first_unsealed: Option<(String, u64, u64)>,
}

/// The base name a segment was opened as (`.zst` removed).
pub fn opened_name(name: &str) -> &str {
    name.strip_suffix(".zst").unwrap_or(name)
}

/// The first seq a segment file name declares: `<20 digits>.jsonl[.zst]`.
pub fn segment_number(name: &str) -> Option<u64> {
    let digits = opened_name(name).strip_suffix(".jsonl")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl<'o> ChainCheck<'o> {
    pub fn new(chain: &str, opts: &'o Options) -> ChainCheck<'o> {
        let keys = opts
            .keys
            .iter()
            .map(|k| (checkpoint::key_id(k), *k))
            .collect();
        ChainCheck {
            opts,
            keys,
            report: ChainReport {
                chain: chain.to_owned(),
                records: 0,
                segments: 0,
                first_ts: None,
                last_ts: None,
                head_seq: None,
                head_hash: None,
                unsealed: 0,
                signatures_checked: 0,
                signatures_unchecked: 0,
                warnings: Vec::new(),
                brk: None,
            },
            prev_hash: None,
            last_seq: None,
            prev_segment: None,
            anchor: None,
            pruned: Vec::new(),
            expected_head_hash: None,
            first_unsealed: None,
        }
    }

    fn broken(&mut self, b: Break) {
        if self.report.brk.is_none() {
            self.report.brk = Some(b);
        }
    }

    /// Checks the next segment of the chain. `newest` marks the chain's last segment, the only
    /// one allowed to end unsealed or with a torn line.
    pub fn segment(&mut self, seg: SegmentInput<'_>, newest: bool) {
        if self.report.brk.is_some() {
            return;
        }
        self.report.segments += 1;
        if let Err(b) = self.segment_inner(seg, newest) {
            self.broken(*b);
        }
    }

    fn segment_inner(&mut self, seg: SegmentInput<'_>, newest: bool) -> Result<(), Box<Break>> {
        let display = seg.display.to_owned();
        let at = |line: u64, seq: Option<u64>, expected: String, found: String, reason: &str| {
            Box::new(Break {
                file: display.clone(),
                line,
                seq,
                expected,
                found,
                reason: reason.to_owned(),
            })
        };
        let Some(number) = segment_number(seg.name) else {
            return Err(at(
                0,
                None,
                "<20 digits>.jsonl[.zst]".to_owned(),
                seg.name.to_owned(),
                "segment file name is not a first seq of 20 digits",
            ));
        };
        let mut lines: Vec<&[u8]> = seg.bytes.split(|&b| b == b'\n').collect();
        // `split` yields the text after the last `\n`: empty for a whole last line.
        let tail = lines.pop().unwrap_or_default();
        if let Some(why) = seg.cut {
            let n = u64::try_from(lines.len()).unwrap_or(u64::MAX);
            return Err(at(
                n.saturating_add(1),
                None,
                "a complete zstd frame".to_owned(),
                why.to_owned(),
                "compressed segment is cut or corrupt",
            ));
        }
        if !tail.is_empty() {
            let n = u64::try_from(lines.len()).unwrap_or(u64::MAX);
            if newest {
                self.report.warnings.push(format!(
                    "{}: line {} is a torn write of {} bytes without its newline (ignored)",
                    seg.display,
                    n.saturating_add(1),
                    tail.len()
                ));
            } else {
                return Err(at(
                    n.saturating_add(1),
                    None,
                    "a line ending in \\n".to_owned(),
                    format!("{} bytes without a newline", tail.len()),
                    "torn line in a segment that is not the newest",
                ));
            }
        }
        if lines.is_empty() && newest {
            // A crash between creating the next segment and its `segment_start` reaching the
            // file (mid-rotation): the writer's recovery removes such a file on start.
            self.report.warnings.push(format!(
                "{}: the newest segment holds no whole record (a crash while it was being opened)",
                seg.display
            ));
            return Ok(());
        }
        if lines.is_empty() {
            return Err(at(
                1,
                None,
                "a segment_start record".to_owned(),
                "no complete line".to_owned(),
                "segment holds no record",
            ));
        }
        let mut stopped = false;
        let mut last_kind = String::new();
        for (idx, raw) in lines.iter().enumerate() {
            let line_no = u64::try_from(idx).unwrap_or(u64::MAX).saturating_add(1);
            let p = record::parse_line(raw).map_err(|e| {
                at(
                    line_no,
                    None,
                    "a trail record".to_owned(),
                    e.to_string(),
                    "line is not a well-formed record",
                )
            })?;
            let seq = Some(p.seq);
            let first_line = idx == 0;
            if p.computed != p.stated {
                return Err(at(
                    line_no,
                    seq,
                    p.computed.to_hex(),
                    p.stated.to_hex(),
                    "hash does not match the line's bytes",
                ));
            }
            match (self.last_seq, self.prev_hash) {
                (Some(last), Some(prev)) => {
                    let want = last.saturating_add(1);
                    if p.seq != want {
                        let reason = if p.seq > want && first_line {
                            "records are missing before this segment (a segment or its tail is gone)"
                        } else if p.seq > want {
                            "records are missing before this line"
                        } else {
                            "sequence number out of order"
                        };
                        return Err(at(
                            line_no,
                            seq,
                            format!("seq {want}"),
                            format!("seq {}", p.seq),
                            reason,
                        ));
                    }
                    if p.prev != prev {
                        return Err(at(
                            line_no,
                            seq,
                            prev.to_hex(),
                            p.prev.to_hex(),
                            "prev does not equal the hash of the record before",
                        ));
                    }
                }
                _ => {
                    self.anchor = Some(Anchor {
                        display: seg.display.to_owned(),
                        seq: p.seq,
                        prev: p.prev,
                        previous_segment: None,
                    });
                }
            }
            if let Some(last_ts) = &self.report.last_ts {
                if p.ts < *last_ts {
                    return Err(at(
                        line_no,
                        seq,
                        format!("ts >= {last_ts}"),
                        p.ts.clone(),
                        "timestamp goes backwards",
                    ));
                }
            }
            if stopped {
                return Err(at(
                    line_no,
                    seq,
                    "end of segment after the stop checkpoint".to_owned(),
                    format!("{} record", p.kind),
                    "record after a stop checkpoint in the same segment",
                ));
            }
            let first = idx == 0;
            if first != (p.kind == "segment_start") {
                return Err(at(
                    line_no,
                    seq,
                    if first {
                        "segment_start".to_owned()
                    } else {
                        "any record but segment_start".to_owned()
                    },
                    p.kind.clone(),
                    "every segment starts with exactly one segment_start",
                ));
            }
            match p.kind.as_str() {
                "segment_start" => {
                    let member = |k: &str| p.value.get(k).and_then(|v| v.as_str());
                    let want_name = opened_name(seg.name);
                    if number != p.seq {
                        return Err(at(
                            line_no,
                            seq,
                            format!("seq {number} (from the file name)"),
                            format!("seq {}", p.seq),
                            "segment file name does not match its first record",
                        ));
                    }
                    if member("segment") != Some(want_name) {
                        return Err(at(
                            line_no,
                            seq,
                            want_name.to_owned(),
                            format!("{:?}", member("segment")),
                            "segment_start names another file",
                        ));
                    }
                    if member("chain") != Some(self.report.chain.as_str()) {
                        return Err(at(
                            line_no,
                            seq,
                            self.report.chain.clone(),
                            format!("{:?}", member("chain")),
                            "segment_start names another chain",
                        ));
                    }
                    let previous = p.value.get("previous_segment").map(|v| v.as_str());
                    match (&self.prev_segment, previous) {
                        (Some(want), Some(Some(found))) if want == found => {}
                        (None, Some(found)) => {
                            if let Some(a) = self.anchor.as_mut() {
                                a.previous_segment = found.map(str::to_owned);
                            }
                        }
                        (want, found) => {
                            return Err(at(
                                line_no,
                                seq,
                                format!("{want:?}"),
                                format!("{found:?}"),
                                "previous_segment does not name the segment before",
                            ));
                        }
                    }
                }
                "checkpoint" => {
                    self.check_checkpoint(&p, &self.report.chain.clone())
                        .map_err(|(expected, found, reason)| {
                            at(line_no, seq, expected, found, reason)
                        })?;
                    stopped = p.value.get("stop").and_then(|v| v.as_bool()) == Some(true);
                    self.first_unsealed = None;
                }
                "prune" => {
                    let segs = p
                        .value
                        .get("segments")
                        .cloned()
                        .and_then(|v| serde_json::from_value::<Vec<PrunedSegment>>(v).ok())
                        .ok_or_else(|| {
                            at(
                                line_no,
                                seq,
                                "segments: [{segment, first_seq, last_seq, last_hash}]".to_owned(),
                                "something else".to_owned(),
                                "prune record is malformed",
                            )
                        })?;
                    self.pruned.extend(segs);
                }
                _ => {}
            }
            if p.kind != "checkpoint" && self.first_unsealed.is_none() {
                self.first_unsealed = Some((seg.display.to_owned(), line_no, p.seq));
            }
            if let Some((want_seq, _)) = self.opts.expect_head {
                if want_seq == p.seq {
                    self.expected_head_hash = Some(p.stated);
                }
            }
            self.report.records = self.report.records.saturating_add(1);
            if self.report.first_ts.is_none() {
                self.report.first_ts = Some(p.ts.clone());
            }
            self.report.last_ts = Some(p.ts.clone());
            self.last_seq = Some(p.seq);
            self.prev_hash = Some(p.stated);
            self.report.head_seq = Some(p.seq);
            self.report.head_hash = Some(p.stated.to_hex());
            last_kind = p.kind;
        }
        if !newest && last_kind != "checkpoint" {
            let n = u64::try_from(lines.len()).unwrap_or(u64::MAX);
            return Err(at(
                n,
                self.last_seq,
                "a checkpoint sealing the segment".to_owned(),
                format!("{last_kind} record"),
                "segment is not sealed but a newer one follows",
            ));
        }
        self.prev_segment = Some(opened_name(seg.name).to_owned());
        Ok(())
    }

    fn check_checkpoint(
        &mut self,
        p: &record::Parsed,
        chain: &str,
    ) -> Result<(), (String, String, &'static str)> {
        let cp: record::Checkpoint = serde_json::from_value(p.value.clone()).map_err(|e| {
            (
                "covers_seq, covers_hash, key_id, sig".to_owned(),
                e.to_string(),
                "checkpoint record is malformed",
            )
        })?;
        let want_seq = p.seq.saturating_sub(1);
        if cp.covers_seq != want_seq {
            return Err((
                want_seq.to_string(),
                cp.covers_seq.to_string(),
                "checkpoint covers another record than the one before it",
            ));
        }
        if cp.covers_hash != p.prev.to_hex() {
            return Err((
                p.prev.to_hex(),
                cp.covers_hash,
                "checkpoint covers_hash is not the hash of the record before it",
            ));
        }
        if self.opts.keys.is_empty() {
            self.report.signatures_unchecked = self.report.signatures_unchecked.saturating_add(1);
            return Ok(());
        }
        let Some(key) = self.keys.get(&cp.key_id) else {
            return Err((
                format!(
                    "key_id of a given key ({})",
                    self.keys.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                cp.key_id,
                "checkpoint key_id matches no --key",
            ));
        };
        if !checkpoint::check(key, chain, cp.covers_seq, &cp.covers_hash, &cp.sig) {
            return Err((
                format!("an Ed25519 signature by key_id {}", cp.key_id),
                cp.sig,
                "checkpoint signature does not verify",
            ));
        }
        self.report.signatures_checked = self.report.signatures_checked.saturating_add(1);
        Ok(())
    }

    /// Final checks (prune anchor, unsealed tail, expected head) and the report.
    pub fn finish(mut self) -> ChainReport {
        if self.report.brk.is_none() {
            if let Some(b) = self.finish_checks() {
                self.broken(b);
            }
        }
        self.report
    }

    fn finish_checks(&mut self) -> Option<Break> {
        let anchor = self.anchor.clone()?;
        let genesis =
            anchor.seq == 1 && anchor.prev == Digest::ZERO && anchor.previous_segment.is_none();
        if !genesis {
            let pruned = self.pruned.iter().any(|s| {
                s.last_seq.checked_add(1) == Some(anchor.seq)
                    && s.last_hash == anchor.prev.to_hex()
                    && anchor.previous_segment.as_deref() == Some(s.segment.as_str())
            });
            if !pruned {
                return Some(Break {
                    file: anchor.display,
                    line: 1,
                    seq: Some(anchor.seq),
                    expected: format!(
                        "seq 1 with prev {}, or a prune record naming the segment before",
                        record::ZERO_HASH
                    ),
                    found: format!("seq {} with prev {}", anchor.seq, anchor.prev.to_hex()),
                    reason:
                        "the chain's oldest records are missing and no prune record explains it"
                            .to_owned(),
                });
            }
        }
        if let Some((file, line, seq)) = self.first_unsealed.clone() {
            let head = self.report.head_seq.unwrap_or(seq);
            self.report.unsealed = head.saturating_sub(seq).saturating_add(1);
            let msg = format!(
                "{} record(s) after the last checkpoint (from seq {seq} in {file} line {line}) are covered by no signature",
                self.report.unsealed
            );
            if self.opts.require_sealed {
                return Some(Break {
                    file,
                    line,
                    seq: Some(seq),
                    expected: "a checkpoint as the last record".to_owned(),
                    found: format!("{} unsealed record(s)", self.report.unsealed),
                    reason: "--require-sealed: records follow the last checkpoint".to_owned(),
                });
            }
            self.report.warnings.push(msg);
        }
        if let Some((want_seq, want_hash)) = self.opts.expect_head {
            let head = self.report.head_seq.unwrap_or(0);
            let found = self.expected_head_hash;
            let fail = match (found, want_hash) {
                (None, _) => Some(format!("chain ends at seq {head}")),
                (Some(f), Some(w)) if f != w => Some(format!("seq {want_seq} has hash {f}")),
                (Some(_), _) => None,
            };
            if let Some(found) = fail {
                return Some(Break {
                    file: self.report.chain.clone(),
                    line: 0,
                    seq: Some(want_seq),
                    expected: match want_hash {
                        Some(h) => format!("seq {want_seq} with hash {h}"),
                        None => format!("a record with seq {want_seq}"),
                    },
                    found,
                    reason: "--expect-head: the trail lacks the expected head record".to_owned(),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
