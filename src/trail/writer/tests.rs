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
        h.hash_key().keyed_hex(b"A123456789"),
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

/// Every record of the chain, parsed, in order.
fn all_records(dir: &Path) -> Vec<record::Parsed> {
    let mut out = Vec::new();
    for seg in archive::segments(&dir.join("unit")).unwrap() {
        let data = archive::read_segment(&seg).unwrap();
        for line in data.bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            out.push(record::parse_line(line).unwrap());
        }
    }
    out
}

fn statement(task: u64, i: u64) -> Body {
    Body::Statement(record::Statement {
        session: task,
        op: "SELECT".to_owned(),
        sql: format!("SELECT {task}-{i}"),
        params: vec![],
        fingerprint: "f".to_owned(),
        tables: vec![],
        columns_read: vec![],
        columns_written: vec![],
        masked: vec![],
        decision: record::Decision::Allow,
    })
}

fn result(task: u64, i: u64) -> ResultRecord {
    ResultRecord {
        session: task,
        // Ignored: the writer takes the statement's seq from the link.
        statement_seq: 777_777,
        status: record::Status::Ok,
        rows: i,
        command_tag: "SELECT 1".to_owned(),
        duration_us: 5,
        subjects: vec![],
        subjects_total: 0,
    }
}

/// The session path: `submit` a statement (strict: wait for `Link::durable`), then
/// `submit_result`; every result names the seq of its own statement.
fn links_and_results(durability: Durability, queue_capacity: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), durability, 1 << 16);
    opts.queue_capacity = queue_capacity;
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    let handle = trail.handle();
    let (tasks, per_task) = (8u64, 60u64);
    let seqs = rt().block_on(async move {
        let mut joins = Vec::new();
        for t in 0..tasks {
            let h = handle.clone();
            joins.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                let mut last = None;
                for i in 0..per_task {
                    let link = h.submit(&statement(t, i)).await.unwrap();
                    if durability == Durability::Strict {
                        let seq = link.durable().await.unwrap();
                        assert_eq!(link.seq(), Some(seq));
                        seqs.push(seq);
                    }
                    h.submit_result(result(t, i), &link).await.unwrap();
                    last = Some(link);
                }
                let last = last.unwrap();
                let seq = last.durable().await.unwrap();
                assert_eq!(last.seq(), Some(seq));
                seqs
            }));
        }
        let mut all = Vec::new();
        for j in joins {
            all.extend(j.await.unwrap());
        }
        all
    });
    trail.shutdown().unwrap();
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
    let records = all_records(dir.path());
    let mut statements = std::collections::HashMap::new();
    let mut results = 0;
    for p in &records {
        match p.kind.as_str() {
            "statement" => {
                let sql = p.value["sql"].as_str().unwrap().to_owned();
                statements.insert(p.seq, sql);
            }
            "result" => {
                results += 1;
                let of = p.value["statement_seq"].as_u64().unwrap();
                assert!(of < p.seq, "result {} before its statement {of}", p.seq);
                let want = format!(
                    "SELECT {}-{}",
                    p.value["session"].as_u64().unwrap(),
                    p.value["rows"].as_u64().unwrap()
                );
                assert_eq!(statements.get(&of), Some(&want), "result {}", p.seq);
            }
            _ => {}
        }
    }
    assert_eq!(statements.len(), usize::try_from(tasks * per_task).unwrap());
    assert_eq!(results, tasks * per_task);
    if durability == Durability::Strict {
        assert_eq!(seqs.len(), statements.len());
        assert!(seqs.iter().all(|s| statements.contains_key(s)));
    }
}

#[test]
fn links_and_results_strict() {
    links_and_results(Durability::Strict, 64);
}

#[test]
fn links_and_results_batched() {
    links_and_results(Durability::Batched, 64);
}

#[test]
fn links_and_results_async() {
    links_and_results(Durability::Async, 64);
}

#[test]
fn links_and_results_with_a_tiny_queue() {
    // The writer ticks rather than waking per record: a queue smaller than what arrives
    // within one tick must still drain (a full drain goes again at once).
    links_and_results(Durability::Batched, 4);
    links_and_results(Durability::Strict, 2);
}

#[test]
fn links_queued_before_stop_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Batched, 1 << 20);
    opts.group_commit = Duration::from_millis(200);
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    let h = trail.handle();
    let rt = rt();
    let links: Vec<Link> = rt.block_on(async {
        let mut links = Vec::new();
        for i in 0..20 {
            links.push(h.submit(&anomaly(i)).await.unwrap());
        }
        links
    });
    trail.shutdown().unwrap();
    let mut seqs = Vec::new();
    for l in &links {
        let seq = rt.block_on(l.durable()).unwrap();
        assert_eq!(l.seq(), Some(seq));
        seqs.push(seq);
    }
    seqs.windows(2).for_each(|w| assert_eq!(w[0] + 1, w[1]));
    assert_eq!(
        rt.block_on(h.submit(&anomaly(99))).unwrap_err(),
        TrailUnavailable::STOPPED
    );
    let r = check(dir.path());
    assert_eq!(r.brk, None, "{:?}", r.brk);
}

#[test]
fn a_refused_statement_takes_its_result_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Batched, 1 << 20);
    opts.on_failure = OnFailure::Allow;
    let shared = Arc::new(Shared::new(&opts, HashKey::new([9; 32])));
    let (durable_tx, durable_rx) = watch::channel(DurableState {
        seq: 0,
        failing: false,
    });
    let mut w = Writer::open(
        opts,
        Signer25519::from_seed(SEED),
        TrailMetrics::unregistered(),
        shared,
        durable_tx,
    )
    .unwrap();
    let link = |durable: &watch::Receiver<DurableState>| Link {
        seq: Arc::new(AtomicU64::new(UNCHAINED)),
        durable: durable.clone(),
    };
    // Accepted: the link gets the seq, and the result names it.
    let ok = link(&durable_rx);
    let before = w.next_seq;
    w.accept(Request::Submit {
        rec: Prepared::new(&statement(1, 1)).unwrap(),
        seq: Arc::clone(&ok.seq),
    });
    assert_eq!(ok.seq(), Some(before));
    w.accept(Request::Result {
        rec: Prepared::result(result(1, 1)).unwrap(),
        statement: Arc::clone(&ok.seq),
    });
    assert_eq!(w.next_seq, before + 2);
    let text = String::from_utf8(w.pending.clone()).unwrap();
    assert!(
        text.contains(&format!("\"statement_seq\":{before},")),
        "{text}"
    );
    // Refused while failing: the link says so and the result is dropped.
    w.retry_at = Some(Instant::now() + RETRY_EVERY);
    let refused = link(&durable_rx);
    w.accept(Request::Submit {
        rec: Prepared::new(&statement(1, 2)).unwrap(),
        seq: Arc::clone(&refused.seq),
    });
    assert_eq!(refused.seq(), None);
    assert_eq!(refused.seq.load(Ordering::Acquire), REJECTED);
    w.retry_at = None;
    w.accept(Request::Result {
        rec: Prepared::result(result(1, 2)).unwrap(),
        statement: Arc::clone(&refused.seq),
    });
    assert_eq!(w.next_seq, before + 2);
    let rt = rt();
    assert_eq!(
        rt.block_on(refused.durable()).unwrap_err(),
        TrailUnavailable::FAILING
    );
    // Not yet durable in batched mode until written: the accepted link waits, then resolves.
    w.write_out(true).unwrap();
    assert_eq!(rt.block_on(ok.durable()).unwrap(), before);
}

/// Under `strict`, a group commits at the end of its window unless every registered session is
/// waiting for it; then at once (no one else could join it).
#[test]
fn strict_group_closes_early_when_every_session_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), Durability::Strict, 1 << 20);
    let window = Duration::from_millis(1000);
    opts.group_commit = window;
    let trail = start(opts, TrailMetrics::unregistered()).unwrap();
    let handle = trail.handle();
    rt().block_on(async move {
        let _a = handle.register();
        let b = handle.register();
        // One of two sessions waits: the group waits out its window.
        let started = Instant::now();
        let link = handle.submit(&statement(1, 1)).await.unwrap();
        handle.durable(&link).await.unwrap();
        assert!(started.elapsed() >= window, "{:?}", started.elapsed());
        // Both wait: the second one's arrival closes the group.
        let started = Instant::now();
        let first = handle.submit(&statement(1, 2)).await.unwrap();
        let h = handle.clone();
        let waiter = tokio::spawn(async move { h.durable(&first).await });
        while handle.shared.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let second = handle.submit(&statement(2, 1)).await.unwrap();
        handle.durable(&second).await.unwrap();
        waiter.await.unwrap().unwrap();
        assert!(
            started.elapsed() < window.mul_f32(0.9),
            "{:?}",
            started.elapsed()
        );
        // A session gone: the one left alone closes its groups by itself.
        drop(b);
        let started = Instant::now();
        let link = handle.submit(&statement(1, 3)).await.unwrap();
        handle.durable(&link).await.unwrap();
        assert!(started.elapsed() < window.mul_f32(0.9));
    });
    trail.shutdown().unwrap();
}
