//! Trail writer throughput: records/s and MB/s from many concurrent tasks, through
//! `TrailHandle::append` (a reply per record) and `TrailHandle::submit` (the session path: a
//! link, no reply; optionally with the statement's `submit_result`), in `batched` (fsync every
//! group_commit_ms, appenders do not wait), `async` and `strict` (every appender waits for the
//! shared fsync) modes. Plain `harness = false` bench:
//! `cargo bench --bench trail_writer` (add `--profile dev` for a quick debug-build figure).

use std::time::{Duration, Instant};

use trailmask::metrics::trail::TrailMetrics;
use trailmask::trail::record::{Body, Decision, HashKey, ResultRecord, Statement, Status};
use trailmask::trail::writer::{
    self, ChainId, Durability, HashKeySource, OnFailure, Parameters, SigningKeySource, TrailOptions,
};

fn statement(i: u64) -> Body {
    Body::Statement(Statement {
        session: i % 512,
        op: "SELECT".to_owned(),
        sql: "SELECT name, phone FROM public.guests WHERE id = $1".to_owned(),
        params: vec![Some(format!("{i:064x}"))],
        fingerprint: "5f2a9c0e1b7d4e33".to_owned(),
        tables: vec!["public.guests".to_owned()],
        columns_read: vec![
            "public.guests.name".to_owned(),
            "public.guests.phone".to_owned(),
        ],
        columns_written: vec![],
        masked: vec!["public.guests.phone".to_owned()],
        decision: Decision::Allow,
    })
}

fn result(i: u64) -> ResultRecord {
    ResultRecord {
        session: i % 512,
        statement_seq: 0,
        status: Status::Ok,
        rows: 1,
        command_tag: "SELECT 1".to_owned(),
        duration_us: 120,
        subjects: vec![],
        subjects_total: 0,
    }
}

/// How each task hands records to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `append`: waits for the writer's reply with the seq (one round trip per record).
    Append,
    /// `submit`: the session path; the seq arrives through the link, nothing is sent back.
    Submit,
    /// `submit` of a statement, then `submit_result` of its result (two records).
    SubmitWithResult,
}

/// `tasks` concurrent appenders stand for sessions issuing statements.
fn run(durability: Durability, via: Via, tasks: u64, total: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = TrailOptions {
        dir: dir.path().to_owned(),
        chain: ChainId::try_new("bench").expect("chain id"),
        durability,
        group_commit: Duration::from_millis(2),
        segment_max_bytes: 64 << 20,
        segment_max_age: Duration::from_secs(86_400),
        retention: Duration::from_secs(1826 * 86_400),
        signing_key: SigningKeySource::Seed([1; 32]),
        checkpoint_every_records: 1000,
        checkpoint_every: Duration::from_secs(10),
        on_failure: OnFailure::Block,
        parameters: Parameters::Hashed,
        hash_key: HashKeySource::Key(HashKey::new([2; 32])),
        compress_sealed: true,
        queue_capacity: writer::DEFAULT_QUEUE_CAPACITY,
    };
    let metrics = TrailMetrics::unregistered();
    let trail = writer::start(opts, metrics.clone()).expect("start");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let handle = trail.handle();
    let strict = durability == Durability::Strict;
    let started = Instant::now();
    rt.block_on(async move {
        let mut joins = Vec::new();
        for t in 0..tasks {
            let h = handle.clone();
            joins.push(tokio::spawn(async move {
                let mut last = None;
                let mut last_receipt = None;
                for i in 0..total / tasks {
                    let body = statement(t * total + i);
                    match via {
                        Via::Append => {
                            let r = h.append(body).await.expect("append");
                            if strict {
                                r.durable().await.expect("durable");
                            } else {
                                last_receipt = Some(r);
                            }
                        }
                        Via::Submit | Via::SubmitWithResult => {
                            let link = h.submit(&body).await.expect("submit");
                            if strict {
                                link.durable().await.expect("durable");
                            }
                            if via == Via::SubmitWithResult {
                                h.submit_result(result(t * total + i), &link)
                                    .await
                                    .expect("submit_result");
                            }
                            last = Some(link);
                        }
                    }
                }
                if let Some(r) = last_receipt {
                    r.durable().await.expect("durable");
                }
                if let Some(l) = last {
                    l.durable().await.expect("durable");
                }
            }));
        }
        for j in joins {
            j.await.expect("task");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let writer_cpu = writer_cpu_seconds();
    trail.shutdown().expect("shutdown");
    let bytes = metrics.bytes.get() as f64;
    let fsyncs = metrics.fsync_seconds.get_sample_count();
    let per = if via == Via::SubmitWithResult { 2 } else { 1 };
    let n = (total / tasks * tasks * per) as f64;
    let per_core = writer_cpu.map_or_else(
        || "writer CPU unknown".to_owned(),
        |cpu| {
            format!(
                "writer thread {cpu:.2} CPU s: {:.0} records/s per core",
                n / cpu
            )
        },
    );
    println!(
        "{durability:?} via {via:?}, {tasks} appenders: {n} records in {elapsed:.2} s: {:.0} records/s, {:.1} MB/s, {fsyncs} fsyncs ({:.0} records/fsync); {per_core}",
        n / elapsed,
        bytes / elapsed / 1e6,
        n / fsyncs.max(1) as f64,
    );
}

/// CPU time of the writer thread so far (Linux: `/proc/self/task/*/schedstat`, nanoseconds on
/// the CPU), found by its name. Taken before shutdown, so sealing (compression) is left out.
fn writer_cpu_seconds() -> Option<f64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.starts_with("trail-writer") {
            let stat = std::fs::read_to_string(path.join("schedstat")).ok()?;
            let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
            return Some(ns / 1e9);
        }
    }
    None
}

fn main() {
    let total: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    run(Durability::Batched, Via::Append, 64, total);
    run(Durability::Batched, Via::Submit, 64, total);
    run(Durability::Batched, Via::SubmitWithResult, 64, total);
    run(Durability::Async, Via::Submit, 64, total);
    run(Durability::Strict, Via::Submit, 64, total);
    // Strict throughput grows with concurrency: one fsync serves every waiting appender.
    run(Durability::Strict, Via::Submit, 512, total);
}
