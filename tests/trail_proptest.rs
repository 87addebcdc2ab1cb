//! Property tests over trails the real writer wrote: `verify` accepts every one, across
//! durability modes, segment sizes, record counts and concurrency; and any flipped byte,
//! dropped, duplicated, swapped or inserted line in it is found.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use trailmask::metrics::trail::TrailMetrics;
use trailmask::trail::archive;
use trailmask::trail::checkpoint::Signer25519;
use trailmask::trail::record::{Anomaly, Body, Digest, HashKey};
use trailmask::trail::verify;
use trailmask::trail::writer::{
    self, ChainId, Durability, HashKeySource, OnFailure, Parameters, SigningKeySource, TrailOptions,
};

const SEED: [u8; 32] = [21; 32];

fn write_trail(
    dir: &Path,
    durability: Durability,
    seg: u64,
    records: u64,
    tasks: u64,
    compress: bool,
) {
    let opts = TrailOptions {
        dir: dir.to_owned(),
        chain: ChainId::try_new("prop").unwrap(),
        durability,
        group_commit: Duration::from_millis(1),
        segment_max_bytes: seg,
        segment_max_age: Duration::from_secs(3600),
        retention: Duration::from_secs(1826 * 86_400),
        signing_key: SigningKeySource::Seed(SEED),
        checkpoint_every_records: 9,
        checkpoint_every: Duration::from_secs(3600),
        on_failure: OnFailure::Block,
        parameters: Parameters::Hashed,
        hash_key: HashKeySource::Key(HashKey::new([0; 32])),
        compress_sealed: compress,
        queue_capacity: 8,
    };
    let trail = writer::start(opts, TrailMetrics::unregistered()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let h = trail.handle();
    rt.block_on(async move {
        let mut joins = Vec::new();
        for t in 0..tasks {
            let h = h.clone();
            joins.push(tokio::spawn(async move {
                for i in 0..records / tasks {
                    let r = h
                        .append(Body::Anomaly(Anomaly {
                            rule: "p".to_owned(),
                            session: t,
                            user: format!("u{i}"),
                            detail: "\"quoted\",\"hash\":\"x\" \u{738b}".to_owned(),
                        }))
                        .await
                        .unwrap();
                    r.durable().await.unwrap();
                }
            }));
        }
        for j in joins {
            j.await.unwrap();
        }
    });
    trail.shutdown().unwrap();
}

fn report(dir: &Path, opts: &verify::Options) -> verify::ChainReport {
    archive::verify_dir(dir, None, opts).unwrap().remove(0)
}

fn key_opts() -> verify::Options {
    verify::Options {
        keys: vec![Signer25519::from_seed(SEED).verifying_key()],
        ..verify::Options::default()
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("prop"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[derive(Debug, Clone)]
enum Tamper {
    Flip(usize, usize, u8),
    Drop(usize),
    Duplicate(usize),
    Swap(usize),
    Insert(usize),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(l, b, bit)| Tamper::Flip(l, b, bit)),
        any::<usize>().prop_map(Tamper::Drop),
        any::<usize>().prop_map(Tamper::Duplicate),
        any::<usize>().prop_map(Tamper::Swap),
        any::<usize>().prop_map(Tamper::Insert),
    ]
}

/// Applies `t` to the joined lines of all segments, writing each back to its file.
fn apply(dir: &Path, t: &Tamper) {
    let paths = files(dir);
    let mut all: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        for l in std::fs::read(p)
            .unwrap()
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
        {
            all.push((i, l.to_vec()));
        }
    }
    let n = all.len();
    match *t {
        Tamper::Flip(l, b, bit) => {
            let line = &mut all[l % n].1;
            let at = b % line.len();
            line[at] ^= 1 << bit;
        }
        Tamper::Drop(l) => {
            all.remove(l % n);
        }
        Tamper::Duplicate(l) => {
            let x = all[l % n].clone();
            all.insert(l % n, x);
        }
        Tamper::Swap(l) => {
            let i = l % (n - 1);
            let a = all[i].1.clone();
            all[i].1 = all[i + 1].1.clone();
            all[i + 1].1 = a;
        }
        Tamper::Insert(l) => {
            let i = l % n;
            let forged = trailmask::trail::record::encode(
                2,
                "2026-01-01T00:00:00.000000Z",
                &Body::Anomaly(Anomaly {
                    rule: "forged".to_owned(),
                    session: 0,
                    user: String::new(),
                    detail: String::new(),
                }),
                &Digest::ZERO,
            )
            .unwrap();
            let seg = all[i].0;
            all.insert(i, (seg, forged.line.into_bytes()));
        }
    }
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); paths.len()];
    for (seg, l) in all {
        out[seg].extend_from_slice(&l);
        out[seg].push(b'\n');
    }
    for (p, bytes) in paths.iter().zip(out) {
        std::fs::write(p, bytes).unwrap();
    }
}

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![
        Just(Durability::Strict),
        Just(Durability::Batched),
        Just(Durability::Async)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn verify_accepts_every_written_trail_and_finds_every_tamper(
        d in durability(),
        seg in prop_oneof![Just(4096u64), Just(6000), Just(1 << 16)],
        records in 1u64..120,
        tasks in 1u64..5,
        compress in any::<bool>(),
        t in tamper(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        write_trail(tmp.path(), d, seg, records.max(tasks), tasks, compress);
        let intact = report(tmp.path(), &key_opts());
        prop_assert_eq!(&intact.brk, &None);
        prop_assert_eq!(intact.unsealed, 0);
        prop_assert!(intact.warnings.is_empty());
        if !compress {
            let before: Vec<Vec<u8>> = files(tmp.path()).iter().map(|p| std::fs::read(p).unwrap()).collect();
            apply(tmp.path(), &t);
            let after: Vec<Vec<u8>> = files(tmp.path()).iter().map(|p| std::fs::read(p).unwrap()).collect();
            prop_assume!(before != after);
            let head = Digest::from_hex(intact.head_hash.as_deref().unwrap()).unwrap();
            let opts = verify::Options {
                require_sealed: true,
                expect_head: Some((intact.head_seq.unwrap(), Some(head))),
                ..key_opts()
            };
            let r = report(tmp.path(), &opts);
            prop_assert!(r.brk.is_some(), "{:?} not found", t);
        }
    }
}
