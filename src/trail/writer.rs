//! The single trail writer: one named OS thread owns the segment files; sessions append through
//! a cloneable [`TrailHandle`] over a bounded queue (a full queue makes `append` wait, it never
//! drops a record).
//!
//! * Durability (SPEC.md, "Durability"): `strict` — one fsync shared by every record that
//!   arrived within `group_commit`, and [`Receipt::durable`] resolves after it; `batched` —
//!   records are written at once and fsynced every `group_commit`; `async` — written at once,
//!   the OS decides (fsync only when a segment is sealed).
//! * Segments rotate by size and age; a rotated segment is sealed with a signed checkpoint,
//!   fsynced and (optionally) compressed on a thread of its own (`compressor`), so the
//!   writer goes on chaining meanwhile. Periodic checkpoints every N records or N seconds.
//!   A clean stop seals with `"stop":true`.
//! * Crash recovery on start truncates a torn tail, appends a `recovery` checkpoint and
//!   continues in a new segment; retention prunes old segments behind a `prune` record.
//! * A failed write or fsync makes the trail unwritable: the partial record is truncated away,
//!   appends fail with [`TrailUnavailable`] (at once under `on_failure = "block"`), and a probe
//!   checkpoint is retried every second until the disk takes it again.
//!
//! Hand-off without a wakeup per record: [`TrailHandle::submit`] returns a [`Link`] whose seq
//! the writer stores when it chains the record (no reply channel), and a `result` record is
//! queued with [`TrailHandle::submit_result`] for the writer to render with its statement's seq.
//! The writer does not wait on its queue while records flow: it sleeps until the next tick
//! (every `group_commit`) and drains what arrived, so a sender never wakes it; only after a
//! tick that found nothing does it wait on the queue again. Under `strict` the tick also ends
//! when every session waits for the open group: the last one to wait wakes the writer, once per
//! group rather than once per record.
//!
//! The writer thread waits with a small current-thread tokio runtime (only for the queue and its
//! timer); all file I/O is plain blocking `std::fs` on that thread.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};

use super::archive;
use super::checkpoint::{self, Signer25519};
use super::record::{
    self, Body, Digest, HashKey, Prepared, PrunedSegment, Recovery, ResultRecord, SegmentStart,
};
use super::segment;
use crate::error::{Error, Kind, Source};
use crate::metrics::trail::TrailMetrics;
use compressor::Compressor;

/// Records queued between sessions and the writer. The writer drains the queue once per tick
/// (`group_commit`, 2 ms by default) under `batched`/`async`, so the queue holds a whole tick:
/// 8192 covers 2 ms at 4M records/s while keeping memory bounded (a record is a few hundred
/// bytes). A drain that finds the queue more than half full starts the next one at once.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;
/// How often a failed trail retries a write (SPEC: at least every second).
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Most requests taken from the queue before the writer writes what it has: bounds the memory
/// of one batch and the latency of the first record in it.
const MAX_DRAIN: usize = 8192;

// === Options ===

/// `audit.durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Strict,
    Batched,
    Async,
}

/// `audit.on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Refuse statements and sessions while the trail cannot be written.
    Block,
    /// Let them pass; count and alert.
    Allow,
}

/// `audit.parameters`: how literals and bind parameters appear in `statement` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameters {
    None,
    Hashed,
    Clear,
}

/// A chain id: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainId(String);

impl ChainId {
    pub fn try_new(s: &str) -> Option<ChainId> {
        archive::is_chain_id(s).then(|| ChainId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the signing key comes from.
#[derive(Clone)]
pub enum SigningKeySource {
    /// A `trail-signing.key` file, read at start.
    File(PathBuf),
    /// A seed given directly (tests, benches).
    Seed([u8; 32]),
}

impl fmt::Debug for SigningKeySource {
    /// Never prints a seed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningKeySource::File(p) => write!(f, "File({})", p.display()),
            SigningKeySource::Seed(_) => f.write_str("Seed(..)"),
        }
    }
}

/// Where the keyed-hash key comes from.
#[derive(Debug, Clone)]
pub enum HashKeySource {
    /// Name of an environment variable holding 64 hex digits, read at start.
    Env(String),
    /// A key given directly (tests, benches).
    Key(HashKey),
}

/// Everything the writer needs; built by `config` from `[audit]`.
#[derive(Debug, Clone)]
pub struct TrailOptions {
    /// `audit.dir`; the chain lives in `dir/<chain>`.
    pub dir: PathBuf,
    pub chain: ChainId,
    pub durability: Durability,
    /// `audit.group_commit_ms`.
    pub group_commit: Duration,
    /// Rotate once a segment reaches this many bytes (>= 4096).
    pub segment_max_bytes: u64,
    pub segment_max_age: Duration,
    /// Sealed segments whose last record is older than this are pruned.
    pub retention: Duration,
    pub signing_key: SigningKeySource,
    pub checkpoint_every_records: u64,
    pub checkpoint_every: Duration,
    pub on_failure: OnFailure,
    pub parameters: Parameters,
    pub hash_key: HashKeySource,
    pub compress_sealed: bool,
    /// Bounded queue between sessions and the writer.
    pub queue_capacity: usize,
}

// === Errors ===

/// Why an append or a durability wait failed: the trail cannot take records now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("audit trail unavailable: {reason}")]
pub struct TrailUnavailable {
    reason: &'static str,
}

impl TrailUnavailable {
    const FAILING: TrailUnavailable = TrailUnavailable {
        reason: "a trail write failed and has not been retried successfully yet",
    };
    const STOPPED: TrailUnavailable = TrailUnavailable {
        reason: "the trail writer has stopped",
    };
    pub const ENCODE: TrailUnavailable = TrailUnavailable {
        reason: "the record cannot be encoded",
    };

    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

fn trail_err(context: String, e: impl Into<crate::error::Cause>) -> Error {
    Error::new(Kind::Trail, Source::Trail, context).with_cause(e)
}

// === Handle ===

/// What the writer publishes about durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DurableState {
    /// Every record up to this seq is as durable as the mode promises.
    seq: u64,
    /// A write failed and no retry has succeeded since.
    failing: bool,
}

/// What a [`Link`] holds before the writer chains its record.
const UNCHAINED: u64 = 0;
/// What a [`Link`] holds when the writer refused its record (the trail was failing).
const REJECTED: u64 = u64::MAX;

enum Request {
    /// [`TrailHandle::append`]: the seq is sent back.
    Append {
        rec: Prepared,
        reply: oneshot::Sender<Result<u64, TrailUnavailable>>,
    },
    /// [`TrailHandle::submit`]: the seq is stored into the link.
    Submit { rec: Prepared, seq: Arc<AtomicU64> },
    /// [`TrailHandle::submit_result`]: rendered by the writer once the statement's seq is known.
    Result {
        rec: Prepared,
        statement: Arc<AtomicU64>,
    },
}

/// State the handles read without asking the writer thread.
struct Shared {
    writable: AtomicBool,
    /// The newest durable checkpoint line (without `\n`), for `GET /checkpoint`. A mutex held
    /// only to clone or replace a string.
    latest_checkpoint: parking_lot::Mutex<Option<String>>,
    durability: Durability,
    on_failure: OnFailure,
    parameters: Parameters,
    hash_key: HashKey,
    /// Sessions that may hand over records ([`TrailHandle::register`]).
    live: AtomicUsize,
    /// Of those, how many wait in [`TrailHandle::durable`] now.
    waiting: AtomicUsize,
    /// `strict`: every registered session is waiting for the open group, so no other record
    /// can join it: commit now rather than at the end of `group_commit_ms`. Set before
    /// `flush` is notified; the writer takes it after draining the queue.
    flush_asked: AtomicBool,
    /// Wakes the writer for `flush_asked` (a record sent alone does not wake a busy writer).
    flush: tokio::sync::Notify,
}

/// The running trail: owns the writer thread.
pub struct Trail {
    handle: TrailHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

/// What sessions hold: append records, ask whether the trail can be written.
#[derive(Clone)]
pub struct TrailHandle {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    durable: watch::Receiver<DurableState>,
}

/// A record's place in the chain; [`Receipt::durable`] waits until it is on disk.
#[derive(Debug)]
pub struct Receipt {
    seq: u64,
    durable: watch::Receiver<DurableState>,
}

impl fmt::Debug for TrailHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrailHandle")
            .field("writable", &self.is_writable())
            .finish()
    }
}

impl TrailHandle {
    /// Appends a record and returns its seq once the writer has chained it.
    ///
    /// Waits for queue space when the queue is full (never drops). Fails at once while the
    /// trail is failing under `on_failure = "block"`, and with the writer's answer otherwise.
    ///
    /// # Cancellation safety
    /// Not cancellation safe: once the request is queued, dropping the future does not withdraw
    /// it, so the record is still written; only its seq is lost to the caller.
    pub async fn append(&self, body: Body) -> Result<Receipt, TrailUnavailable> {
        let permit = self.slot().await?;
        // Rendered here, on the caller's task, so the writer thread only chains and hashes.
        let rec = Prepared::new(&body).map_err(|_| TrailUnavailable::ENCODE)?;
        let (reply, answer) = oneshot::channel();
        permit.send(Request::Append { rec, reply });
        let seq = answer.await.map_err(|_| TrailUnavailable::STOPPED)??;
        Ok(Receipt {
            seq,
            durable: self.durable.clone(),
        })
    }

    /// Queues a record without waiting for the writer to chain it: waits only for queue space.
    /// The writer stores the seq into the returned [`Link`] when it chains the record; nothing
    /// is sent back, so the writer never wakes the caller. A session forwards the statement
    /// meanwhile (`batched` and `async`), or waits for [`TrailHandle::durable`] first (`strict`).
    ///
    /// # Cancellation safety
    /// Not cancellation safe, as [`TrailHandle::append`].
    pub async fn submit(&self, body: &Body) -> Result<Link, TrailUnavailable> {
        let rec = Prepared::new(body).map_err(|_| TrailUnavailable::ENCODE)?;
        self.submit_prepared(rec).await
    }

    /// [`TrailHandle::submit`] for a body the caller rendered.
    ///
    /// # Cancellation safety
    /// Not cancellation safe, as [`TrailHandle::append`].
    pub async fn submit_prepared(&self, rec: Prepared) -> Result<Link, TrailUnavailable> {
        let permit = self.slot().await?;
        let seq = Arc::new(AtomicU64::new(UNCHAINED));
        permit.send(Request::Submit {
            rec,
            seq: Arc::clone(&seq),
        });
        Ok(Link {
            seq,
            durable: self.durable.clone(),
        })
    }

    /// Queues the `result` record of the statement behind `statement`; the writer renders it
    /// with the statement's seq (`result.statement_seq` is ignored). The statement's request
    /// must have been queued first (it then precedes this one in the queue). A result whose
    /// statement the writer refused is dropped silently.
    ///
    /// # Cancellation safety
    /// Not cancellation safe, as [`TrailHandle::append`].
    pub async fn submit_result(
        &self,
        result: ResultRecord,
        statement: &Link,
    ) -> Result<(), TrailUnavailable> {
        let permit = self.slot().await?;
        // Rendered here too; the writer only writes the statement's seq into it.
        let rec = Prepared::result(result).map_err(|_| TrailUnavailable::ENCODE)?;
        permit.send(Request::Result {
            rec,
            statement: Arc::clone(&statement.seq),
        });
        Ok(())
    }

    /// Room for one request in the queue: fails at once while the trail is failing under
    /// `on_failure = "block"`, otherwise waits for space (never drops).
    async fn slot(&self) -> Result<mpsc::Permit<'_, Request>, TrailUnavailable> {
        if self.shared.on_failure == OnFailure::Block && !self.is_writable() {
            return Err(TrailUnavailable::FAILING);
        }
        self.tx
            .reserve()
            .await
            .map_err(|_| TrailUnavailable::STOPPED)
    }

    /// Counts a session that may hand over statement records until the ticket drops. Under
    /// `strict` the writer closes a group early once every registered session waits for it
    /// ([`TrailHandle::durable`]); unregistered senders only ever get the full window.
    pub fn register(&self) -> SessionTicket {
        self.shared.live.fetch_add(1, Ordering::AcqRel);
        SessionTicket {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Waits until the record behind `link` is durable, as [`Link::durable`]; a registered
    /// session waits here so the writer can tell when no one else can join the open group.
    ///
    /// # Cancellation safety
    /// Cancellation safe, as [`Link::durable`].
    pub async fn durable(&self, link: &Link) -> Result<u64, TrailUnavailable> {
        let waiting = Waiting::enter(&self.shared);
        if waiting.all_waiting() {
            self.shared.flush_asked.store(true, Ordering::Release);
            self.shared.flush.notify_one();
        }
        link.durable().await
    }

    /// Whether the trail can be written now (for `/readyz` and 58030 refusals).
    pub fn is_writable(&self) -> bool {
        self.shared.writable.load(Ordering::Acquire)
    }

    /// Waits until the trail can be written (returns at once when it can).
    ///
    /// # Cancellation safety
    /// Cancellation safe: it only watches the writer's state.
    pub async fn wait_writable(&self) -> Result<(), TrailUnavailable> {
        let mut rx = self.durable.clone();
        loop {
            if !rx.borrow_and_update().failing {
                return Ok(());
            }
            rx.changed().await.map_err(|_| TrailUnavailable::STOPPED)?;
        }
    }

    /// The newest durable checkpoint record exactly as written (without its `\n`).
    pub fn latest_checkpoint(&self) -> Option<String> {
        self.shared.latest_checkpoint.lock().clone()
    }

    /// `audit.on_failure`: whether statements wait for (block) or go on without (allow) a trail
    /// that cannot be written.
    pub fn on_failure(&self) -> OnFailure {
        self.shared.on_failure
    }

    pub fn durability(&self) -> Durability {
        self.shared.durability
    }

    pub fn parameters(&self) -> Parameters {
        self.shared.parameters
    }

    /// The key of the keyed hashes (recorded parameters and subjects, and the `hash` mask).
    pub fn hash_key(&self) -> &record::HashKey {
        &self.shared.hash_key
    }
}

/// A session counted by [`TrailHandle::register`]; dropping it uncounts the session.
#[derive(Debug)]
pub struct SessionTicket {
    shared: Arc<Shared>,
}

impl Drop for SessionTicket {
    fn drop(&mut self) {
        self.shared.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn new(opts: &TrailOptions, hash_key: HashKey) -> Shared {
        Shared {
            writable: AtomicBool::new(true),
            latest_checkpoint: parking_lot::Mutex::new(None),
            durability: opts.durability,
            on_failure: opts.on_failure,
            parameters: opts.parameters,
            hash_key,
            live: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            flush_asked: AtomicBool::new(false),
            flush: tokio::sync::Notify::new(),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("live", &self.live)
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

/// One session waiting in [`TrailHandle::durable`] (uncounted on drop, also when cancelled).
struct Waiting<'a> {
    shared: &'a Shared,
    now: usize,
}

impl<'a> Waiting<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared
            .waiting
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        Waiting { shared, now }
    }

    /// Whether every registered session is waiting now.
    fn all_waiting(&self) -> bool {
        let live = self.shared.live.load(Ordering::Acquire);
        live > 0 && self.now >= live
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A record queued by [`TrailHandle::submit`]: its seq appears once the writer chains it.
#[derive(Debug, Clone)]
pub struct Link {
    /// [`UNCHAINED`] until the writer chains the record, [`REJECTED`] if it refused it.
    seq: Arc<AtomicU64>,
    durable: watch::Receiver<DurableState>,
}

impl Link {
    /// The record's seq, once the writer has chained it (`None` before, or if refused).
    pub fn seq(&self) -> Option<u64> {
        match self.seq.load(Ordering::Acquire) {
            UNCHAINED | REJECTED => None,
            seq => Some(seq),
        }
    }

    /// Waits until the record is chained and as durable as the mode promises (strict:
    /// fsynced), and returns its seq. Fails when the writer refused it, when the trail is
    /// failing before the record is durable, or when the writer stopped first.
    ///
    /// # Cancellation safety
    /// Cancellation safe: it only watches the writer's progress.
    pub async fn durable(&self) -> Result<u64, TrailUnavailable> {
        let mut rx = self.durable.clone();
        loop {
            // The writer stores the seq before it publishes the durable state that covers it,
            // so a state read first and a seq read second never miss each other.
            let state = *rx.borrow_and_update();
            match self.seq.load(Ordering::Acquire) {
                REJECTED => return Err(TrailUnavailable::FAILING),
                UNCHAINED => {}
                seq if state.seq >= seq => return Ok(seq),
                _ => {}
            }
            if state.failing {
                return Err(TrailUnavailable::FAILING);
            }
            if rx.changed().await.is_err() {
                let last = *rx.borrow();
                return match self.seq.load(Ordering::Acquire) {
                    UNCHAINED | REJECTED => Err(TrailUnavailable::STOPPED),
                    seq if last.seq >= seq => Ok(seq),
                    _ => Err(TrailUnavailable::STOPPED),
                };
            }
        }
    }
}

impl Receipt {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Waits until the record is as durable as the mode promises (strict: fsynced).
    ///
    /// # Cancellation safety
    /// Cancellation safe: it only watches the writer's progress.
    pub async fn durable(mut self) -> Result<u64, TrailUnavailable> {
        loop {
            let state = *self.durable.borrow_and_update();
            if state.seq >= self.seq {
                return Ok(self.seq);
            }
            if state.failing {
                return Err(TrailUnavailable::FAILING);
            }
            if self.durable.changed().await.is_err() {
                let last = *self.durable.borrow();
                return if last.seq >= self.seq {
                    Ok(self.seq)
                } else {
                    Err(TrailUnavailable::STOPPED)
                };
            }
        }
    }
}

impl Trail {
    pub fn handle(&self) -> TrailHandle {
        self.handle.clone()
    }

    /// Stops the writer: writes what is queued, seals the segment with a stop checkpoint and
    /// joins the thread. Blocks on disk I/O: from async code call it in `spawn_blocking`.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            // The writer may already have ended; then join reports why.
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| Error::internal("the trail writer thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Trail {
    /// A `Trail` dropped without `shutdown` still seals the trail; errors are logged.
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::error!(error = %e, "trail writer stopped with an error");
        }
    }
}

/// Opens (and, after a crash, recovers) the chain and starts the writer thread.
/// Blocks on disk I/O: call it before serving, or in `spawn_blocking`.
pub fn start(opts: TrailOptions, metrics: TrailMetrics) -> Result<Trail, Error> {
    let signer = match &opts.signing_key {
        SigningKeySource::File(p) => {
            checkpoint::load_signing_key(p).map_err(|e| Error::config(e.to_string()))?
        }
        SigningKeySource::Seed(s) => Signer25519::from_seed(*s),
    };
    let hash_key = match &opts.hash_key {
        HashKeySource::Key(k) => k.clone(),
        HashKeySource::Env(name) => {
            let value = std::env::var(name).map_err(|_| {
                Error::config(format!(
                    "environment variable {name} (audit.hash_key_env) is not set"
                ))
            })?;
            HashKey::from_hex(&value).ok_or_else(|| {
                Error::config(format!(
                    "environment variable {name} (audit.hash_key_env) does not hold 64 hex digits"
                ))
            })?
        }
    };
    let shared = Arc::new(Shared::new(&opts, hash_key));
    let (durable_tx, durable_rx) = watch::channel(DurableState {
        seq: 0,
        failing: false,
    });
    let mut writer = Writer::open(opts.clone(), signer, metrics, shared.clone(), durable_tx)?;
    let (tx, rx) = mpsc::channel(opts.queue_capacity.max(1));
    let (stop_tx, stop_rx) = oneshot::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| trail_err("cannot build the trail writer's timer".to_owned(), e))?;
    let thread = std::thread::Builder::new()
        .name(format!("trail-writer-{}", opts.chain.as_str()))
        .spawn(move || writer.run(&rt, rx, stop_rx))
        .map_err(|e| trail_err("cannot start the trail writer thread".to_owned(), e))?;
    Ok(Trail {
        handle: TrailHandle {
            tx,
            shared,
            durable: durable_rx,
        },
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

// === Writer ===

/// The open segment.
struct Current {
    name: String,
    file: File,
    /// Bytes of the file known good (fsynced, or written in async mode); a failed write is
    /// truncated back to this length.
    good_len: u64,
    opened: Instant,
    /// Records chained into this segment, its segment_start included. A segment holding only
    /// its segment_start is not rotated for age: idle time makes no empty segments.
    records: u64,
}

struct Writer {
    opts: TrailOptions,
    /// `records_total{kind}` children looked up once, not per record.
    kind_counters: Vec<(&'static str, prometheus::IntCounter)>,
    signer: Signer25519,
    metrics: TrailMetrics,
    shared: Arc<Shared>,
    durable_tx: watch::Sender<DurableState>,
    chain_dir: PathBuf,
    cur: Current,
    next_seq: u64,
    prev: Digest,
    last_ts: String,
    /// `prev` as the hex the next line carries.
    prev_hex: String,
    ts_fmt: record::TsFormatter,
    /// Scratch for the current time's `ts` (swapped with `last_ts`: no allocation per record).
    ts_now: String,
    /// Encoded lines not yet known good; `written` bytes of them already went to the file.
    pending: Vec<u8>,
    written: usize,
    /// Seq of the last record in `pending` (or the last good one when it is empty).
    pending_seq: u64,
    /// A write failed since the file's good length: truncate before writing again.
    dirty: bool,
    /// The newest checkpoint not yet durable: (seq, line).
    cp_pending: Option<(u64, String)>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    /// Strict: when the open group commits. Batched: when written data gets its fsync.
    commit_at: Option<Instant>,
    /// Every request not yet taken from the queue arrived after this instant (when the writer
    /// last found the queue empty, or was woken by a request).
    arrivals_since: Instant,
    /// Set while failing: when to retry.
    retry_at: Option<Instant>,
    /// A rotation is owed (size, age, or a failed attempt).
    rotate_due: bool,
    /// The current segment already ends with its sealing checkpoint.
    sealed: bool,
    /// The last drain found the queue at least half full: drain again without waiting.
    backlog: bool,
    /// Compresses sealed segments on its own thread (`compress_sealed`).
    compressor: Option<Compressor>,
    /// The last record of each sealed segment still on disk, by the name it was opened as,
    /// so pruning need not read (and decompress) a segment to learn it.
    sealed_tails: HashMap<String, Tail>,
}

/// The last record of a sealed segment, as pruning needs it.
#[derive(Debug, Clone)]
struct Tail {
    seq: u64,
    hash: Digest,
    ts: String,
}

impl Writer {
    /// Opens the chain directory, recovers after a crash, and starts a new segment.
    fn open(
        opts: TrailOptions,
        signer: Signer25519,
        metrics: TrailMetrics,
        shared: Arc<Shared>,
        durable_tx: watch::Sender<DurableState>,
    ) -> Result<Writer, Error> {
        let chain_dir = opts.dir.join(opts.chain.as_str());
        let ctx = |what: &str| format!("{what} {}", chain_dir.display());
        std::fs::create_dir_all(&chain_dir)
            .map_err(|e| trail_err(ctx("cannot create trail directory"), e))?;
        segment::fsync_dir(&opts.dir).map_err(|e| trail_err(ctx("cannot fsync"), e))?;
        clean_leftovers(&chain_dir).map_err(|e| trail_err(ctx("cannot tidy"), e))?;
        let found = archive::segments(&chain_dir)
            .map_err(|e| Error::new(Kind::Trail, Source::Trail, e.to_string()))?;
        let recovered = recover(&chain_dir, &found, &signer, opts.chain.as_str())?;
        let file = segment::create(&chain_dir, &segment::file_name(recovered.next_seq))
            .map_err(|e| trail_err(ctx("cannot create a segment in"), e))?;
        let kind_counters = record::KINDS
            .iter()
            .map(|k| (*k, metrics.records.with_label_values(&[*k])))
            .collect();
        let mut w = Writer {
            kind_counters,
            cur: Current {
                name: segment::file_name(recovered.next_seq),
                file,
                good_len: 0,
                opened: Instant::now(),
                records: 0,
            },
            chain_dir,
            signer,
            metrics,
            shared,
            durable_tx,
            next_seq: recovered.next_seq,
            prev: recovered.prev,
            prev_hex: recovered.prev.to_hex(),
            ts_fmt: record::TsFormatter::new(),
            ts_now: String::new(),
            last_ts: recovered.last_ts,
            pending: Vec::new(),
            written: 0,
            pending_seq: recovered.next_seq.saturating_sub(1),
            dirty: false,
            cp_pending: None,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            commit_at: None,
            arrivals_since: Instant::now(),
            retry_at: None,
            rotate_due: false,
            sealed: false,
            backlog: false,
            compressor: None,
            sealed_tails: HashMap::new(),
            opts,
        };
        if w.opts.compress_sealed {
            w.compressor = Compressor::start(&w.chain_dir, w.opts.chain.as_str());
        }
        *w.shared.latest_checkpoint.lock() = recovered.latest_checkpoint;
        w.durable_tx.send_replace(DurableState {
            seq: w.pending_seq,
            failing: false,
        });
        w.push(Body::SegmentStart(SegmentStart {
            chain: w.opts.chain.as_str().to_owned(),
            segment: w.cur.name.clone(),
            previous_segment: recovered.previous_segment,
        }))
        .map_err(|_| Error::internal("cannot encode segment_start"))?;
        if let Some(dropped) = recovered.recovery_here {
            w.push_checkpoint(false, Some(dropped))
                .map_err(|_| Error::internal("cannot encode the recovery checkpoint"))?;
        }
        w.write_out(true)
            .map_err(|e| trail_err(format!("cannot write {}", w.cur.name), e))?;
        if w.opts.compress_sealed {
            for seg in &found {
                let plain = w.chain_dir.join(&seg.name);
                // Recovery may have removed an empty newest segment whose name the new segment
                // now reuses: that file is live, not sealed, and must never be compressed away.
                if seg.name != w.cur.name && !seg.compressed && plain.exists() {
                    w.compress(&seg.name);
                }
            }
        }
        w.prune();
        Ok(w)
    }

    // --- the loop ---

    fn run(
        &mut self,
        rt: &tokio::runtime::Runtime,
        mut rx: mpsc::Receiver<Request>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), Error> {
        let _span = tracing::info_span!("trail_writer", chain = self.opts.chain.as_str()).entered();
        let capacity = rx.max_capacity();
        let shared = Arc::clone(&self.shared);
        // Whether the last drain took anything: a writer that found nothing waits on the queue.
        let mut busy = false;
        loop {
            let deadline = self.next_deadline();
            let wait = self.wait_mode(busy);
            let wake_at = match wait {
                Wait::Queue => deadline,
                Wait::Tick(tick) => deadline.min(Instant::now() + tick),
                Wait::None => Instant::now(),
            };
            // A request already queued arrived while the writer was busy (writing, fsyncing):
            // it is taken without waiting, and `arrivals_since` stays when it was last empty.
            let ready = match wait {
                Wait::Queue => match stop.try_recv() {
                    Err(oneshot::error::TryRecvError::Empty) => rx.try_recv().ok().map(Ok),
                    Ok(()) | Err(oneshot::error::TryRecvError::Closed) => Some(Err(())),
                },
                Wait::Tick(_) | Wait::None => None,
            };
            let woke = ready.is_none();
            let got = match ready {
                Some(Ok(req)) => Wake::Request(Box::new(req)),
                Some(Err(())) => Wake::Stop,
                None => rt.block_on(async {
                    let wake_at = tokio::time::Instant::from_std(wake_at);
                    match wait {
                        Wait::Queue => tokio::select! {
                            biased;
                            _ = &mut stop => Wake::Stop,
                            r = tokio::time::timeout_at(wake_at, rx.recv()) => match r {
                                Ok(Some(req)) => Wake::Request(Box::new(req)),
                                Ok(None) => Wake::Stop,
                                Err(_) => Wake::Timer,
                            },
                        },
                        Wait::Tick(_) => tokio::select! {
                            biased;
                            _ = &mut stop => Wake::Stop,
                            () = shared.flush.notified() => Wake::Timer,
                            () = tokio::time::sleep_until(wake_at) => Wake::Timer,
                        },
                        Wait::None => match stop.try_recv() {
                            Err(oneshot::error::TryRecvError::Empty) => Wake::Timer,
                            Ok(()) | Err(oneshot::error::TryRecvError::Closed) => Wake::Stop,
                        },
                    }
                }),
            };
            let mut took = 0usize;
            match got {
                Wake::Request(req) => {
                    if woke {
                        // The writer was waiting on the queue: this request arrived just now.
                        self.arrivals_since = Instant::now();
                    }
                    self.accept(*req);
                    took = 1;
                }
                Wake::Timer => {}
                Wake::Stop => {
                    while let Ok(req) = rx.try_recv() {
                        self.accept(req);
                    }
                    rx.close();
                    return self.stop();
                }
            }
            took = self.drain(&mut rx, took);
            if shared.flush_asked.swap(false, Ordering::AcqRel) {
                // Every session waits. The record of the last one to ask was queued before it
                // asked, yet possibly after the drain above found the queue empty: drain again,
                // then commit the group at once.
                took = self.drain(&mut rx, took);
                if let Some(at) = self.commit_at {
                    self.commit_at = Some(at.min(Instant::now()));
                }
            }
            busy = took > 0;
            // A drain that found the queue half full goes again at once: senders may be
            // waiting for space, and nothing else would wake the writer for them.
            self.backlog = took.saturating_mul(2) >= capacity && took > 0;
            self.metrics
                .queue_depth
                .set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
            self.tick();
        }
    }

    /// Takes queued requests (up to [`MAX_DRAIN`] in all, counting `took` already taken) and
    /// returns how many were taken in all.
    fn drain(&mut self, rx: &mut mpsc::Receiver<Request>, mut took: usize) -> usize {
        while took < MAX_DRAIN {
            match rx.try_recv() {
                Ok(req) => {
                    self.accept(req);
                    took += 1;
                }
                Err(_) => {
                    // Whatever is queued from now on arrived after this instant.
                    self.arrivals_since = Instant::now();
                    break;
                }
            }
        }
        took
    }

    /// How the writer waits next: every mode ticks every `group_commit` while records flow, so
    /// a sender never wakes it, and waits on the queue only after a tick that found nothing
    /// (and while failing, or with `group_commit` zero). Under `strict` a tick ends early when
    /// every session waits for the open group ([`TrailHandle::durable`] asks for the flush):
    /// one wake per group, not one per record.
    fn wait_mode(&self, busy: bool) -> Wait {
        if self.retry_at.is_some() || self.opts.group_commit.is_zero() {
            return Wait::Queue;
        }
        if self.backlog {
            return Wait::None;
        }
        if busy {
            Wait::Tick(self.opts.group_commit)
        } else {
            Wait::Queue
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        // With nothing else due, wake once a second for age rotation and timed checkpoints.
        let mut d = now + RETRY_EVERY;
        if let Some(r) = self.retry_at {
            return r.min(d);
        }
        if let Some(c) = self.commit_at {
            d = d.min(c);
        }
        if self.since_checkpoint > 0 {
            d = d.min(self.last_checkpoint + self.opts.checkpoint_every);
        }
        if self.cur.records > 1 {
            d = d.min(self.cur.opened + self.opts.segment_max_age);
        }
        d
    }

    fn accept(&mut self, req: Request) {
        match req {
            Request::Append { rec, reply } => {
                let answer = self.chain(&rec);
                // The caller may have gone away; the record stays in the chain regardless.
                let _ = reply.send(answer);
            }
            Request::Submit { rec, seq } => {
                let answer = self.chain(&rec);
                seq.store(answer.unwrap_or(REJECTED), Ordering::Release);
            }
            Request::Result { mut rec, statement } => {
                let statement_seq = statement.load(Ordering::Acquire);
                if statement_seq == UNCHAINED || statement_seq == REJECTED {
                    // The statement was refused (or never queued): no result without it.
                    return;
                }
                rec.set_statement_seq(statement_seq);
                let _ = self.chain(&rec);
            }
        }
    }

    /// Chains a record from a session: refused while failing; counts toward the periodic
    /// checkpoint; opens a strict group.
    fn chain(&mut self, rec: &Prepared) -> Result<u64, TrailUnavailable> {
        if self.retry_at.is_some() {
            return Err(TrailUnavailable::FAILING);
        }
        let counts = rec.kind() != "checkpoint";
        let answer = self.push_prepared(rec);
        if answer.is_ok() && counts {
            self.since_checkpoint = self.since_checkpoint.saturating_add(1);
            if self.since_checkpoint >= self.opts.checkpoint_every_records {
                let _ = self.push_checkpoint(false, None);
            }
        }
        if self.commit_at.is_none() && self.opts.durability == Durability::Strict {
            // The group's window opens when its first record arrived, not when the writer got
            // to it: records that queued up during the previous group's fsync have waited
            // already, and commit at once if that took `group_commit` or longer.
            let arrived = self.arrivals_since.min(Instant::now());
            self.commit_at = Some(arrived + self.opts.group_commit);
        }
        answer
    }

    /// Does what is due: writes, fsyncs, checkpoints, rotation, retry.
    fn tick(&mut self) {
        let now = Instant::now();
        if let Some(at) = self.retry_at {
            if now >= at {
                self.retry();
            }
            return;
        }
        if self.since_checkpoint > 0 && now >= self.last_checkpoint + self.opts.checkpoint_every {
            let _ = self.push_checkpoint(false, None);
        }
        let result = match self.opts.durability {
            // Records the writer made itself (checkpoints) commit at once.
            Durability::Strict => match self.commit_at {
                Some(at) if now < at => Ok(()),
                Some(_) => self.write_out(true),
                None if self.pending.is_empty() => Ok(()),
                None => self.write_out(true),
            },
            Durability::Batched => {
                if self.commit_at.is_none() && !self.pending.is_empty() {
                    self.commit_at = Some(now + self.opts.group_commit);
                }
                match self.commit_at {
                    Some(at) if now >= at => self.write_out(true),
                    Some(_) | None => self.write_out(false),
                }
            }
            Durability::Async => self.write_out(false),
        };
        if let Err(e) = result {
            self.fail(&e);
            return;
        }
        let size = self
            .cur
            .good_len
            .saturating_add(u64::try_from(self.pending.len()).unwrap_or(u64::MAX));
        let aged = self.cur.records > 1 && now >= self.cur.opened + self.opts.segment_max_age;
        if size >= self.opts.segment_max_bytes || aged {
            self.rotate_due = true;
        }
        if self.rotate_due {
            if let Err(e) = self.rotate(false) {
                self.fail(&e);
            }
        }
    }

    fn stop(&mut self) -> Result<(), Error> {
        if self.retry_at.is_some() {
            // One last try, so a stop after space returned still seals.
            self.retry();
        }
        if self.retry_at.is_some() {
            return Err(Error::new(
                Kind::Trail,
                Source::Trail,
                format!(
                    "trail {} could not be sealed at stop: the last write failed",
                    self.cur.name
                ),
            ));
        }
        self.sealed = false;
        self.rotate(true)
            .map_err(|e| trail_err(format!("cannot seal trail segment {}", self.cur.name), e))
    }

    // --- records ---

    /// Chains one record the writer made itself into `pending`.
    fn push(&mut self, body: Body) -> Result<u64, TrailUnavailable> {
        let rec = Prepared::new(&body).map_err(|_| TrailUnavailable::ENCODE)?;
        self.push_prepared(&rec)
    }

    /// Chains one rendered record into `pending`.
    fn push_prepared(&mut self, rec: &Prepared) -> Result<u64, TrailUnavailable> {
        self.ts_fmt
            .format_into(OffsetDateTime::now_utc(), &mut self.ts_now);
        // ts never goes backwards within a chain, even if the wall clock does.
        if self.ts_now >= self.last_ts {
            std::mem::swap(&mut self.ts_now, &mut self.last_ts);
        }
        let seq = self.next_seq;
        let start = self.pending.len();
        let hash = match record::encode_into(
            &mut self.pending,
            seq,
            &self.last_ts,
            rec,
            self.prev_hex.as_str(),
        ) {
            Ok(h) => h,
            Err(_) => {
                self.pending.truncate(start);
                return Err(TrailUnavailable::ENCODE);
            }
        };
        if let Some(c) = self.kind_counters.iter().find(|(k, _)| *k == rec.kind()) {
            c.1.inc();
        }
        if rec.kind() == "checkpoint" {
            let line = self
                .pending
                .get(start..self.pending.len().saturating_sub(1))
                .unwrap_or_default();
            self.cp_pending = Some((seq, String::from_utf8_lossy(line).into_owned()));
        }
        self.prev = hash;
        self.prev_hex.clear();
        let hex = record::hex_32(&hash.0);
        self.prev_hex
            .push_str(std::str::from_utf8(&hex).unwrap_or_default());
        self.next_seq = seq.saturating_add(1);
        self.pending_seq = seq;
        self.cur.records = self.cur.records.saturating_add(1);
        Ok(seq)
    }

    fn push_checkpoint(
        &mut self,
        stop: bool,
        recovery: Option<u64>,
    ) -> Result<u64, TrailUnavailable> {
        let covers = self.next_seq.saturating_sub(1);
        let mut cp = self
            .signer
            .checkpoint(self.opts.chain.as_str(), covers, &self.prev.to_hex());
        cp.stop = stop;
        cp.recovery = recovery.map(|dropped_bytes| Recovery { dropped_bytes });
        let seq = self.push(Body::Checkpoint(cp))?;
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        Ok(seq)
    }

    /// Writes `pending` to the segment; with `sync`, fsyncs and marks it durable. In async mode
    /// a write alone makes data "good" (the OS decides).
    fn write_out(&mut self, sync: bool) -> std::io::Result<()> {
        if self.dirty {
            self.cur.file.set_len(self.cur.good_len)?;
            self.written = 0;
            self.dirty = false;
        }
        if let Some(rest) = self.pending.get(self.written..) {
            if !rest.is_empty() {
                let n = rest.len();
                if let Err(e) = self.cur.file.write_all(rest) {
                    self.dirty = true;
                    return Err(e);
                }
                self.written = self.written.saturating_add(n);
                self.metrics
                    .bytes
                    .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
                self.metrics
                    .head_seq
                    .set(i64::try_from(self.pending_seq).unwrap_or(i64::MAX));
            }
        }
        let durable_now = sync || self.opts.durability == Durability::Async;
        if sync {
            let started = Instant::now();
            let r = self.cur.file.sync_data();
            self.metrics
                .fsync_seconds
                .observe(started.elapsed().as_secs_f64());
            if let Err(e) = r {
                self.dirty = true;
                return Err(e);
            }
            self.commit_at = None;
        }
        if durable_now {
            self.cur.good_len = self
                .cur
                .good_len
                .saturating_add(u64::try_from(self.written).unwrap_or(u64::MAX));
            self.pending.clear();
            self.written = 0;
            // `failing` is cleared only by `retry`, after `writable`, so a task woken by
            // `wait_writable` finds `is_writable()` true.
            self.durable_tx.send_if_modified(|s| {
                let changed = s.seq != self.pending_seq;
                s.seq = self.pending_seq;
                changed
            });
            if let Some((seq, line)) = self.cp_pending.take() {
                if seq <= self.pending_seq {
                    *self.shared.latest_checkpoint.lock() = Some(line);
                    self.metrics.last_checkpoint_timestamp.set(unix_now_secs());
                }
            }
        }
        Ok(())
    }

    // --- failure ---

    fn fail(&mut self, e: &std::io::Error) {
        self.metrics.write_failures.inc();
        if self.retry_at.is_none() {
            tracing::error!(segment = %self.cur.name, error = %e, "audit trail write failed; refusing until a retry succeeds");
        }
        self.dirty = true;
        self.retry_at = Some(Instant::now() + RETRY_EVERY);
        self.shared.writable.store(false, Ordering::Release);
        self.durable_tx.send_modify(|s| s.failing = true);
    }

    /// Retries after a failure: finishes an owed rotation, or writes a probe checkpoint.
    fn retry(&mut self) {
        let r = if self.rotate_due {
            self.rotate(false)
        } else {
            if self.pending.is_empty() {
                let _ = self.push_checkpoint(false, None);
            }
            self.write_out(true)
        };
        match r {
            Ok(()) => {
                tracing::info!(segment = %self.cur.name, "audit trail writable again");
                self.retry_at = None;
                self.shared.writable.store(true, Ordering::Release);
                self.durable_tx.send_modify(|s| s.failing = false);
            }
            Err(e) => self.fail(&e),
        }
    }

    // --- segments ---

    /// Seals the current segment and (unless `stop`) opens the next. Each step is done once,
    /// so after a failure it resumes where it stopped.
    fn rotate(&mut self, stop: bool) -> std::io::Result<()> {
        if !self.sealed {
            let _ = self.push_checkpoint(stop, None);
            self.write_out(true)?;
            self.sealed = true;
            self.sealed_tails.insert(
                self.cur.name.clone(),
                Tail {
                    seq: self.pending_seq,
                    hash: self.prev,
                    ts: self.last_ts.clone(),
                },
            );
        }
        let old = self.cur.name.clone();
        if stop {
            self.compress(&old);
            if let Some(c) = self.compressor.as_mut() {
                // A stopped trail is a finished one: its last segment is compressed too.
                c.finish();
            }
            return Ok(());
        }
        let name = segment::file_name(self.next_seq);
        let file = segment::create(&self.chain_dir, &name)?;
        self.cur = Current {
            name: name.clone(),
            file,
            good_len: 0,
            opened: Instant::now(),
            records: 0,
        };
        self.sealed = false;
        self.rotate_due = false;
        let _ = self.push(Body::SegmentStart(SegmentStart {
            chain: self.opts.chain.as_str().to_owned(),
            segment: name,
            previous_segment: Some(old.clone()),
        }));
        self.write_out(true)?;
        self.compress(&old);
        self.prune();
        Ok(())
    }

    /// Compresses a sealed segment: queued for the compressor thread, or here if it has none.
    fn compress(&self, name: &str) {
        if !self.opts.compress_sealed {
            return;
        }
        let name = match &self.compressor {
            Some(c) => match c.queue(name.to_owned()) {
                Ok(()) => return,
                Err(name) => name,
            },
            None => name.to_owned(),
        };
        if let Err(e) = segment::compress(&self.chain_dir, &name) {
            // The plain sealed segment stays; verify reads it just the same.
            tracing::warn!(segment = %name, error = %e, "cannot compress sealed segment");
        }
    }

    /// Removes sealed segments past retention, oldest first, behind a durable `prune` record.
    fn prune(&mut self) {
        let Ok(segs) = archive::segments(&self.chain_dir) else {
            return;
        };
        let now = OffsetDateTime::now_utc();
        let mut gone: Vec<(PrunedSegment, PathBuf)> = Vec::new();
        for seg in segs.iter().filter(|s| s.name != self.cur.name) {
            let opened = verify_name(&seg.name);
            let last = match self.sealed_tails.get(&opened) {
                Some(t) => t.clone(),
                None => {
                    let Some(last) = last_record(seg) else { break };
                    let t = Tail {
                        seq: last.seq,
                        hash: last.stated,
                        ts: last.ts,
                    };
                    self.sealed_tails.insert(opened.clone(), t.clone());
                    t
                }
            };
            let old_enough = record::parse_ts(&last.ts)
                .and_then(|t| t.checked_add(time::Duration::try_from(self.opts.retention).ok()?))
                .is_some_and(|expiry| expiry <= now);
            if !old_enough {
                break;
            }
            gone.push((
                PrunedSegment {
                    segment: opened,
                    first_seq: seg.first_seq,
                    last_seq: last.seq,
                    last_hash: last.hash.to_hex(),
                },
                seg.path.clone(),
            ));
        }
        if gone.is_empty() {
            return;
        }
        let listed = gone.iter().map(|(p, _)| p.clone()).collect();
        if self
            .push(Body::Prune(record::Prune { segments: listed }))
            .is_err()
        {
            return;
        }
        if let Err(e) = self.write_out(true) {
            self.fail(&e);
            return;
        }
        let remove = || {
            for (p, path) in &gone {
                // The plain file and its compressed copy, whichever exist (the compressor may
                // have installed the copy since the listing).
                let plain = self.chain_dir.join(&p.segment);
                let zst = self.chain_dir.join(format!("{}.zst", p.segment));
                let mut removed = false;
                for f in [&plain, &zst] {
                    match std::fs::remove_file(f) {
                        Ok(()) => removed = true,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            tracing::warn!(segment = %p.segment, error = %e, "cannot remove pruned segment");
                        }
                    }
                }
                if !removed {
                    tracing::warn!(segment = %p.segment, path = %path.display(), "pruned segment was already gone");
                }
            }
        };
        match &self.compressor {
            Some(c) => c.with_dir_locked(remove),
            None => remove(),
        }
        for (p, _) in &gone {
            self.sealed_tails.remove(&p.segment);
        }
        if let Err(e) = segment::fsync_dir(&self.chain_dir) {
            tracing::warn!(error = %e, "cannot fsync trail directory after prune");
        }
    }
}

/// Seconds since the Unix epoch, for the checkpoint-time gauge.
fn unix_now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

enum Wake {
    Request(Box<Request>),
    Timer,
    Stop,
}

/// How the writer waits for its next round (see [`Writer::wait_mode`]).
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// On the queue: the first request wakes it (or the deadline).
    Queue,
    /// Asleep for at most this long (or until the deadline); senders do not wake it.
    Tick(Duration),
    /// Not at all: a backlog is waiting.
    None,
}

fn verify_name(name: &str) -> String {
    super::verify::opened_name(name).to_owned()
}

/// The last whole record of a segment file, parsed and self-consistent.
fn last_record(seg: &archive::SegmentFile) -> Option<record::Parsed> {
    let data = archive::read_segment(seg).ok()?;
    let (_, line) = segment::last_whole_line(&data.bytes);
    let p = record::parse_line(line?).ok()?;
    (p.computed == p.stated).then_some(p)
}

/// Removes half-written compressed files, and plain files whose complete `.zst` exists.
fn clean_leftovers(dir: &Path) -> std::io::Result<()> {
    let mut changed = false;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let half_written = name.ends_with(&format!(".jsonl.zst{}", segment::TMP_SUFFIX));
        let superseded = name.ends_with(".jsonl") && dir.join(format!("{name}.zst")).exists();
        if half_written || superseded {
            std::fs::remove_file(&path)?;
            changed = true;
        }
    }
    if changed {
        segment::fsync_dir(dir)?;
    }
    Ok(())
}

/// Where the chain continues after start.
struct Recovered {
    next_seq: u64,
    prev: Digest,
    last_ts: String,
    previous_segment: Option<String>,
    latest_checkpoint: Option<String>,
    /// Bytes dropped that still need a recovery checkpoint in the new segment.
    recovery_here: Option<u64>,
}

/// Crash recovery: truncates the newest segment after its last whole line and seals it with a
/// `recovery` checkpoint when anything was dropped or it did not end with a checkpoint.
fn recover(
    dir: &Path,
    found: &[archive::SegmentFile],
    signer: &Signer25519,
    chain: &str,
) -> Result<Recovered, Error> {
    let mut segs: Vec<&archive::SegmentFile> = found.iter().collect();
    let mut dropped: u64 = 0;
    loop {
        let Some(newest) = segs.pop() else {
            return Ok(Recovered {
                next_seq: 1,
                prev: Digest::ZERO,
                last_ts: String::new(),
                previous_segment: None,
                latest_checkpoint: None,
                recovery_here: None,
            });
        };
        let data = archive::read_segment(newest)
            .map_err(|e| Error::new(Kind::Trail, Source::Trail, e.to_string()))?;
        let (whole, last) = segment::last_whole_line(&data.bytes);
        let torn = u64::try_from(data.bytes.len().saturating_sub(whole)).unwrap_or(u64::MAX);
        let Some(last) = last else {
            if newest.compressed {
                return Err(Error::new(
                    Kind::Trail,
                    Source::Trail,
                    format!("sealed segment {} holds no record", newest.path.display()),
                ));
            }
            // Nothing whole in it (a crash right after creating it): remove it and continue
            // from the segment before, noting the bytes dropped.
            std::fs::remove_file(&newest.path)
                .map_err(|e| trail_err(format!("cannot remove {}", newest.path.display()), e))?;
            segment::fsync_dir(dir)
                .map_err(|e| trail_err(format!("cannot fsync {}", dir.display()), e))?;
            dropped = dropped.saturating_add(torn);
            continue;
        };
        let p = record::parse_line(last).ok().filter(|p| p.computed == p.stated).ok_or_else(|| {
            Error::new(
                Kind::Trail,
                Source::Trail,
                format!(
                    "the last record of {} does not verify; refusing to extend a damaged chain (run `trailmask verify`)",
                    newest.path.display()
                ),
            )
        })?;
        let last_line = String::from_utf8_lossy(last).into_owned();
        let mut rec = Recovered {
            next_seq: p.seq.saturating_add(1),
            prev: p.stated,
            last_ts: p.ts.clone(),
            previous_segment: Some(verify_name(&newest.name)),
            latest_checkpoint: (p.kind == "checkpoint").then_some(last_line),
            recovery_here: None,
        };
        let need = torn > 0 || dropped > 0 || p.kind != "checkpoint";
        dropped = dropped.saturating_add(torn);
        if !need {
            return Ok(rec);
        }
        let whole_len = u64::try_from(whole).unwrap_or(u64::MAX);
        let mut file = None;
        if !newest.compressed {
            let f = segment::open_append(&newest.path)
                .and_then(|f| f.set_len(whole_len).and_then(|()| f.sync_all()).map(|()| f))
                .map_err(|e| trail_err(format!("cannot truncate {}", newest.path.display()), e))?;
            file = Some(f);
        }
        tracing::warn!(segment = %newest.name, dropped_bytes = dropped, "recovering the trail after a crash");
        let mut file = match file {
            // The segment ends with a record that is not a checkpoint: seal it here.
            Some(f) if p.kind != "checkpoint" => f,
            // A compressed or already sealed segment takes no more lines (a record after a stop
            // checkpoint would be a break): the recovery checkpoint follows the new segment's
            // segment_start instead.
            Some(_) | None => {
                rec.recovery_here = Some(dropped);
                return Ok(rec);
            }
        };
        let mut cp = signer.checkpoint(chain, p.seq, &p.stated.to_hex());
        cp.recovery = Some(Recovery {
            dropped_bytes: dropped,
        });
        let now = record::format_ts(OffsetDateTime::now_utc());
        let ts = if now < p.ts { p.ts.clone() } else { now };
        let enc = record::encode(rec.next_seq, &ts, &Body::Checkpoint(cp), &p.stated)
            .map_err(|_| Error::internal("cannot encode the recovery checkpoint"))?;
        let mut line = enc.line.clone().into_bytes();
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(|e| trail_err(format!("cannot recover {}", newest.path.display()), e))?;
        rec.next_seq = rec.next_seq.saturating_add(1);
        rec.prev = enc.hash;
        rec.last_ts = ts;
        rec.latest_checkpoint = Some(enc.line);
        return Ok(rec);
    }
}

mod compressor;
#[cfg(test)]
mod tests;
