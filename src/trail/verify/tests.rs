//! Unit and property tests of the chain check over in-memory segments built with `record`.

use proptest::prelude::*;

use super::*;
use crate::trail::checkpoint::Signer25519;
use crate::trail::record::{Body, Encoded, SegmentStart};

const CHAIN: &str = "test-chain";

/// Builds a chain in memory the way the writer lays it out.
struct Build {
    signer: Signer25519,
    seq: u64,
    prev: Digest,
    segs: Vec<(String, Vec<u8>)>,
}

impl Build {
    fn new() -> Build {
        Build {
            signer: Signer25519::from_seed([7; 32]),
            seq: 0,
            prev: Digest::ZERO,
            segs: Vec::new(),
        }
    }

    fn push(&mut self, body: Body) {
        self.seq += 1;
        let ts = format!(
            "2026-01-01T00:00:{:02}.{:06}Z",
            self.seq / 1_000_000 % 60,
            self.seq % 1_000_000
        );
        let Encoded { line, hash } = record::encode(self.seq, &ts, &body, &self.prev).unwrap();
        self.prev = hash;
        let seg = &mut self.segs.last_mut().unwrap().1;
        seg.extend_from_slice(line.as_bytes());
        seg.push(b'\n');
    }

    fn open(&mut self) {
        let name = format!("{:020}.jsonl", self.seq + 1);
        let previous_segment = self.segs.last().map(|s| s.0.clone());
        self.segs.push((name.clone(), Vec::new()));
        self.push(Body::SegmentStart(SegmentStart {
            chain: CHAIN.to_owned(),
            segment: name,
            previous_segment,
        }));
    }

    fn seal(&mut self, stop: bool) {
        let mut cp = self.signer.checkpoint(CHAIN, self.seq, &self.prev.to_hex());
        cp.stop = stop;
        self.push(Body::Checkpoint(cp));
    }

    fn anomaly(&mut self, i: u64) {
        self.push(Body::Anomaly(record::Anomaly {
            rule: "r".to_owned(),
            session: i,
            user: format!("u{i}"),
            detail: "d".to_owned(),
        }));
    }
}

/// A chain of `segments` segments with `per` records each; the last one sealed with stop.
fn chain(segments: usize, per: u64) -> Build {
    let mut b = Build::new();
    for s in 0..segments {
        b.open();
        for i in 0..per {
            b.anomaly(i);
        }
        b.seal(s + 1 == segments);
    }
    b
}

fn run(segs: &[(String, Vec<u8>)], opts: &Options) -> ChainReport {
    let mut c = ChainCheck::new(CHAIN, opts);
    for (i, (name, bytes)) in segs.iter().enumerate() {
        c.segment(
            SegmentInput {
                name,
                display: name,
                bytes,
                cut: None,
            },
            i + 1 == segs.len(),
        );
    }
    c.finish()
}

fn with_key(b: &Build) -> Options {
    Options {
        keys: vec![b.signer.verifying_key()],
        ..Options::default()
    }
}

#[test]
fn intact_chain_verifies_with_and_without_key() {
    let b = chain(3, 4);
    let r = run(&b.segs, &with_key(&b));
    assert_eq!(r.brk, None);
    assert_eq!(r.records, 3 * 6);
    assert_eq!(r.head_seq, Some(18));
    assert_eq!(r.signatures_checked, 3);
    let r = run(&b.segs, &Options::default());
    assert_eq!(r.brk, None);
    assert_eq!(r.signatures_unchecked, 3);
}

#[test]
fn wrong_key_is_a_break() {
    let b = chain(1, 2);
    let other = Signer25519::from_seed([8; 32]);
    let r = run(
        &b.segs,
        &Options {
            keys: vec![other.verifying_key()],
            ..Options::default()
        },
    );
    assert_eq!(r.brk.unwrap().reason, "checkpoint key_id matches no --key");
}

#[test]
fn unsealed_tail_is_a_warning_or_a_break_when_required() {
    let mut b = chain(1, 2);
    b.open();
    b.anomaly(1);
    let r = run(&b.segs, &Options::default());
    assert_eq!(r.brk, None);
    assert_eq!(r.unsealed, 2);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("covered by no signature")));
    let r = run(
        &b.segs,
        &Options {
            require_sealed: true,
            ..Options::default()
        },
    );
    let brk = r.brk.unwrap();
    assert_eq!(brk.line, 1);
    assert_eq!(brk.seq, Some(5));
}

#[test]
fn torn_last_line_is_a_warning_only_in_the_newest_segment() {
    let mut b = chain(2, 2);
    b.segs
        .last_mut()
        .unwrap()
        .1
        .extend_from_slice(b"{\"seq\":13,\"ts");
    let r = run(&b.segs, &Options::default());
    assert_eq!(r.brk, None);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("torn write of 13 bytes")));
    b.segs
        .first_mut()
        .unwrap()
        .1
        .extend_from_slice(b"{\"seq\":13");
    let r = run(&b.segs, &Options::default());
    assert!(r.brk.is_some());
}

#[test]
fn empty_newest_segment_after_a_crash_mid_rotation_is_a_warning_elsewhere_a_break() {
    // Sealed by rotation, then the next file created, then the crash: empty or a torn start.
    let mut b = Build::new();
    b.open();
    b.anomaly(1);
    b.seal(false);
    let next = format!("{:020}.jsonl", b.seq + 1);
    for bytes in [&b""[..], &b"{\"seq\":4,\"ts\":"[..]] {
        let mut segs = b.segs.clone();
        segs.push((next.clone(), bytes.to_vec()));
        let r = run(&segs, &with_key(&b));
        assert_eq!(r.brk, None, "{bytes:?}");
        assert_eq!(r.head_seq, Some(3));
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("holds no whole record")),
            "{:?}",
            r.warnings
        );
        let r = run(
            &segs,
            &Options {
                require_sealed: true,
                ..with_key(&b)
            },
        );
        assert_eq!(
            r.brk, None,
            "every record is covered by the rotation checkpoint"
        );
    }
    // Anywhere but the newest, an empty segment is a break.
    let mut segs = b.segs.clone();
    segs.insert(0, ("00000000000000000000.jsonl".to_owned(), Vec::new()));
    let r = run(&segs, &Options::default());
    assert_eq!(r.brk.unwrap().reason, "segment holds no record");
}

#[test]
fn record_after_stop_is_a_break() {
    let mut b = chain(1, 1);
    b.anomaly(9);
    let brk = run(&b.segs, &Options::default()).brk.unwrap();
    assert_eq!(
        brk.reason,
        "record after a stop checkpoint in the same segment"
    );
    assert_eq!(brk.line, 4);
}

#[test]
fn expect_head_checks_seq_and_hash() {
    let b = chain(1, 2);
    let head = b.prev;
    let ok = Options {
        expect_head: Some((4, Some(head))),
        ..Options::default()
    };
    assert_eq!(run(&b.segs, &ok).brk, None);
    let past = Options {
        expect_head: Some((5, None)),
        ..Options::default()
    };
    assert!(run(&b.segs, &past).brk.is_some());
    let wrong = Options {
        expect_head: Some((3, Some(head))),
        ..Options::default()
    };
    assert!(run(&b.segs, &wrong).brk.is_some());
}

#[test]
fn missing_oldest_segment_needs_a_prune_record() {
    let b = chain(3, 2);
    let rest = b.segs[1..].to_vec();
    let brk = run(&rest, &Options::default()).brk.unwrap();
    assert!(brk.reason.contains("no prune record"), "{}", brk.reason);
}

#[test]
fn prune_record_anchors_the_remaining_chain() {
    let mut b = chain(2, 2);
    let (first_name, first_bytes) = b.segs[0].clone();
    let last_line = first_bytes
        .split(|&c| c == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap();
    let p = record::parse_line(last_line).unwrap();
    b.open();
    b.push(Body::Prune(record::Prune {
        segments: vec![PrunedSegment {
            segment: first_name,
            first_seq: 1,
            last_seq: p.seq,
            last_hash: p.stated.to_hex(),
        }],
    }));
    b.seal(true);
    let rest = b.segs[1..].to_vec();
    let r = run(&rest, &with_key(&b));
    assert_eq!(r.brk, None, "{:?}", r.brk);
}

#[test]
fn cut_compressed_segment_is_a_break() {
    let b = chain(1, 2);
    let opts = Options::default();
    let mut c = ChainCheck::new(CHAIN, &opts);
    c.segment(
        SegmentInput {
            name: "00000000000000000001.jsonl.zst",
            display: "x",
            bytes: &b.segs[0].1[..50],
            cut: Some("eof"),
        },
        true,
    );
    assert_eq!(
        c.finish().brk.unwrap().reason,
        "compressed segment is cut or corrupt"
    );
}

/// The tampering a proptest case applies to one line of the joined trail.
#[derive(Debug, Clone)]
enum Tamper {
    Flip { line: usize, byte: usize, bit: u8 },
    Drop { line: usize },
    Duplicate { line: usize },
    Swap { line: usize },
    Insert { line: usize },
}

fn tamper_strategy() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(line, byte, bit)| Tamper::Flip {
            line,
            byte,
            bit
        }),
        any::<usize>().prop_map(|line| Tamper::Drop { line }),
        any::<usize>().prop_map(|line| Tamper::Duplicate { line }),
        any::<usize>().prop_map(|line| Tamper::Swap { line }),
        any::<usize>().prop_map(|line| Tamper::Insert { line }),
    ]
}

fn apply(segs: &mut [(String, Vec<u8>)], t: &Tamper) {
    let mut all: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, (_, bytes)) in segs.iter().enumerate() {
        for l in bytes.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            all.push((i, l.to_vec()));
        }
    }
    let n = all.len();
    match t {
        Tamper::Flip { line, byte, bit } => {
            let l = &mut all[line % n].1;
            let at = byte % l.len();
            l[at] ^= 1 << bit;
        }
        Tamper::Drop { line } => {
            all.remove(line % n);
        }
        Tamper::Duplicate { line } => {
            let x = all[line % n].clone();
            all.insert(line % n, x);
        }
        Tamper::Swap { line } => {
            let i = line % (n - 1);
            let (a, b) = (all[i].1.clone(), all[i + 1].1.clone());
            all[i].1 = b;
            all[i + 1].1 = a;
        }
        Tamper::Insert { line } => {
            let i = line % n;
            let forged = record::encode(
                99,
                "2026-01-01T00:00:00.000001Z",
                &Body::Anomaly(record::Anomaly {
                    rule: "forged".to_owned(),
                    session: 1,
                    user: "x".to_owned(),
                    detail: String::new(),
                }),
                &Digest::ZERO,
            )
            .unwrap();
            let seg = all[i].0;
            all.insert(i, (seg, forged.line.into_bytes()));
        }
    }
    for (_, bytes) in segs.iter_mut() {
        bytes.clear();
    }
    for (seg, l) in all {
        segs[seg].1.extend_from_slice(&l);
        segs[seg].1.push(b'\n');
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_built_chain_verifies(segments in 1usize..4, per in 0u64..6) {
        let b = chain(segments, per);
        let r = run(&b.segs, &with_key(&b));
        prop_assert_eq!(r.brk, None);
        prop_assert_eq!(r.unsealed, 0);
    }

    #[test]
    fn every_tamper_is_found(segments in 1usize..4, per in 1u64..5, t in tamper_strategy()) {
        let b = chain(segments, per);
        let mut segs = b.segs.clone();
        apply(&mut segs, &t);
        prop_assume!(segs != b.segs);
        // An auditor holding the head off-host: a cut tail is otherwise a valid shorter trail.
        let opts = Options {
            require_sealed: true,
            expect_head: Some((b.seq, Some(b.prev))),
            ..with_key(&b)
        };
        let r = run(&segs, &opts);
        prop_assert!(r.brk.is_some(), "{:?} not found", t);
    }
}
