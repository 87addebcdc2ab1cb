//! Writer tests: what the writer writes verifies, across rotation, compression, restart,
//! crash recovery and pruning, for every durability mode and several segment sizes.

use std::time::Duration;

use super::*;
use crate::trail::record::Anomaly;
use crate::trail::verify;

const SEED: [u8; 32] = [3; 32];

pub(crate) fn options(dir: &Path, durability: Durability, segment_max_bytes: u64) -> TrailOptions {
    TrailOptions {
        dir: dir.to_owned(),
        chain: ChainId::try_new("unit").unwrap(),
        durability,
        group_commit: Duration::from_millis(1),
        segment_max_bytes,
        segment_max_age: Duration::from_secs(3600),
        retention: Duration::from_secs(1826 * 86_400),
        signing_key: SigningKeySource::Seed(SEED),
        checkpoint_every_records: 50,
        checkpoint_every: Duration::from_secs(3600),
        on_failure: OnFailure::Block,
        parameters: Parameters::Hashed,
        hash_key: HashKeySource::Key(HashKey::new([9; 32])),
        compress_sealed: true,
        queue_capacity: 64,
    }
}

fn anomaly(i: u64) -> Body {
    Body::Anomaly(Anomaly {
        rule: "test".to_owned(),
        session: i,
        user: format!("user{i}"),
        detail: "x".repeat(40),
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Appends `n` records from `tasks` concurrent tasks, waiting for durability on each.
fn write(trail: &Trail, n: u64, tasks: u64) -> Vec<u64> {
    let rt = rt();
    let handle = trail.handle();
    rt.block_on(async move {
        let mut joins = Vec::new();
        for t in 0..tasks {
            let h = handle.clone();
            joins.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..n / tasks {
                    let r = h.append(anomaly(t * 1000 + i)).await.unwrap();
                    seqs.push(r.durable().await.unwrap());
                }
                seqs
            }));
        }
        let mut all = Vec::new();
        for j in joins {
            all.extend(j.await.unwrap());
        }
        all.sort_unstable();
        all
    })
}

fn check(dir: &Path) -> verify::ChainReport {
    let opts = verify::Options {
        keys: vec![Signer25519::from_seed(SEED).verifying_key()],
        ..verify::Options::default()
    };
    let mut reports = archive::verify_dir(dir, None, &opts).unwrap();
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

macro_rules! across_sizes {
    ($($name:ident: $durability:expr, $size:expr;)*) => {$(
        #[test]
        fn $name() {
            let dir = tempfile::tempdir().unwrap();
            let trail = start(options(dir.path(), $durability, $size), TrailMetrics::unregistered()).unwrap();
            let seqs = write(&trail, 400, 8);
            assert_eq!(seqs.len(), 400);
            seqs.windows(2).for_each(|w| assert!(w[0] < w[1]));
            trail.shutdown().unwrap();
            let r = check(dir.path());
            assert_eq!(r.brk, None, "{:?}", r.brk);
            assert_eq!(r.unsealed, 0);
            assert!(r.records > 400);
            // Restart continues the same chain in a new segment.
            let trail = start(options(dir.path(), $durability, $size), TrailMetrics::unregistered()).unwrap();
            write(&trail, 20, 2);
            trail.shutdown().unwrap();
            let r2 = check(dir.path());
            assert_eq!(r2.brk, None, "{:?}", r2.brk);
            assert!(r2.segments > r.segments);
        }
    )*};
}

across_sizes! {
    strict_small_segments: Durability::Strict, 4096;
    strict_large_segments: Durability::Strict, 1 << 20;
    batched_small_segments: Durability::Batched, 4096;
    async_small_segments: Durability::Async, 8192;
}

#[test]
fn sealed_segments_are_compressed_and_end_with_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let trail = start(
        options(dir.path(), Durability::Strict, 4096),
        TrailMetrics::unregistered(),
    )
    .unwrap();
    let handle = trail.handle();
    write(&trail, 100, 1);
    let cp = handle.latest_checkpoint().unwrap();
    assert!(cp.contains("\"kind\":\"checkpoint\""));
    trail.shutdown().unwrap();
    let segs = archive::segments(&dir.path().join("unit")).unwrap();
    assert!(segs.len() > 2);
    assert!(segs.iter().all(|s| s.compressed));
    let last = archive::read_segment(segs.last().unwrap()).unwrap();
    let (_, line) = segment::last_whole_line(&last.bytes);
    assert!(std::str::from_utf8(line.unwrap())
        .unwrap()
        .contains("\"stop\":true"));
}

#[test]
fn crash_with_torn_tail_recovers_with_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Strict, 1 << 20);
    opts.compress_sealed = false;
    let trail = start(opts.clone(), TrailMetrics::unregistered()).unwrap();
    write(&trail, 30, 3);
    trail.shutdown().unwrap();
    // Make it look like a crash: drop the stop checkpoint, leave half a record.
    let segs = archive::segments(&dir.path().join("unit")).unwrap();
    let path = &segs.last().unwrap().path;
    let bytes = std::fs::read(path).unwrap();
    let (whole, _) = segment::last_whole_line(&bytes[..bytes.len() - 1]);
    let mut cut = bytes[..whole].to_vec();
    cut.extend_from_slice(b"{\"seq\":99,\"ts\":\"20");
    std::fs::write(path, &cut).unwrap();
    let r = check(dir.path());
    assert_eq!(r.brk, None);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("torn write of 18 bytes")));
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    write(&trail, 10, 1);
    trail.shutdown().unwrap();
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("\"recovery\":{\"dropped_bytes\":18}"));
}

#[test]
fn retention_prunes_behind_a_prune_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Batched, 4096);
    opts.retention = Duration::ZERO;
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    write(&trail, 200, 2);
    trail.shutdown().unwrap();
    let segs = archive::segments(&dir.path().join("unit")).unwrap();
    assert!(segs.len() <= 2, "{segs:?}");
    assert!(segs[0].first_seq > 1);
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
}

#[test]
fn handle_reports_and_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let trail = start(
        options(dir.path(), Durability::Batched, 4096),
        TrailMetrics::unregistered(),
    )
    .unwrap();
    let h = trail.handle();
    assert!(h.is_writable());
    assert_eq!(h.durability(), Durability::Batched);
    assert_eq!(
        h.keyed_hash(b"A123456789"),
        HashKey::new([9; 32]).keyed_hex(b"A123456789")
    );
    assert_eq!(h.latest_checkpoint(), None);
    trail.shutdown().unwrap();
    let rt = rt();
    assert_eq!(
        rt.block_on(h.append(anomaly(1))).unwrap_err(),
        TrailUnavailable::STOPPED
    );
}

#[test]
fn crash_while_opening_a_segment_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Strict, 1 << 20);
    opts.compress_sealed = false;
    let trail = start(opts.clone(), TrailMetrics::unregistered()).unwrap();
    write(&trail, 10, 1);
    trail.shutdown().unwrap();
    // The next start created its segment but only half of segment_start reached the disk.
    let next = archive::segments(&dir.path().join("unit")).unwrap().len();
    let stub = dir.path().join("unit").join(segment::file_name(100));
    std::fs::write(&stub, b"{\"seq\":1").unwrap();
    let trail = start(opts.clone(), TrailMetrics::unregistered()).unwrap();
    assert!(trail
        .handle()
        .latest_checkpoint()
        .unwrap()
        .contains("\"recovery\":{\"dropped_bytes\":8}"));
    write(&trail, 5, 1);
    trail.shutdown().unwrap();
    assert!(!stub.exists());
    assert_eq!(
        archive::segments(&dir.path().join("unit")).unwrap().len(),
        next + 1
    );
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn torn_tail_after_a_checkpoint_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Strict, 1 << 20);
    opts.compress_sealed = false;
    let trail = start(opts.clone(), TrailMetrics::unregistered()).unwrap();
    write(&trail, 10, 1);
    trail.shutdown().unwrap();
    let segs = archive::segments(&dir.path().join("unit")).unwrap();
    let path = &segs.last().unwrap().path;
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":");
    std::fs::write(path, &bytes).unwrap();
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    trail.shutdown().unwrap();
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn timed_checkpoints_and_age_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Strict, 1 << 20);
    opts.checkpoint_every_records = 1_000_000;
    opts.checkpoint_every = Duration::ZERO;
    opts.segment_max_age = Duration::ZERO;
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    let h = trail.handle();
    write(&trail, 3, 1);
    let rt = rt();
    rt.block_on(async {
        // The checkpoint after the last record becomes durable after its receipt.
        let r = h.append(anomaly(9)).await.unwrap();
        r.durable().await.unwrap();
    });
    trail.shutdown().unwrap();
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
    // Every record went to its own segment (age zero), yet no empty segment was made.
    assert!(r.segments >= 4, "{}", r.segments);
    assert!(r.segments <= 6, "{}", r.segments);
    assert!(r.signatures_checked >= 4);
}

#[test]
fn metrics_follow_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let registry = prometheus::Registry::new();
    let metrics = TrailMetrics::register(&registry);
    let trail = start(
        options(dir.path(), Durability::Strict, 1 << 20),
        metrics.clone(),
    )
    .unwrap();
    write(&trail, 60, 3);
    trail.shutdown().unwrap();
    assert_eq!(metrics.records.with_label_values(&["anomaly"]).get(), 60);
    // 60 records, a checkpoint every 50, and the stop checkpoint.
    assert_eq!(metrics.records.with_label_values(&["checkpoint"]).get(), 2);
    assert_eq!(
        metrics.records.with_label_values(&["segment_start"]).get(),
        1
    );
    assert_eq!(metrics.head_seq.get(), 63);
    assert!(metrics.fsync_seconds.get_sample_count() >= 1);
    assert!(metrics.bytes.get() > 60 * 100);
    assert!(metrics.last_checkpoint_timestamp.get() > 1.7e9);
    assert_eq!(metrics.write_failures.get(), 0);
}
