//! Compression of sealed segments off the writer thread: the writer hands over a sealed
//! segment's name and goes on chaining records while a thread of its own writes the `.zst`.
//!
//! Crash safety is [`segment::compress`]'s: the compressed copy is written and fsynced under a
//! temporary name, renamed, and only then is the plain file removed, so a crash at any point
//! leaves a readable segment (start-up removes the leftovers). Pruning may remove a segment
//! while it is being compressed: both take the directory lock for their renames and removals,
//! and a compressed copy whose plain file is gone is dropped instead of installed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::super::segment;

/// The background compressor of one chain directory.
pub(super) struct Compressor {
    tx: Option<mpsc::Sender<String>>,
    thread: Option<JoinHandle<()>>,
    /// Held for a segment's rename-and-remove step and for pruning's removals.
    dir_lock: Arc<parking_lot::Mutex<()>>,
}

/// Nice value of the compressor thread: the lowest. Compressing a sealed segment can always
/// wait; it uses CPU the sessions, the writer and the database leave idle, so a proxy under
/// full load does not trade statements for compression (sealed segments then wait their turn
/// uncompressed, and are compressed once load eases).
const COMPRESSOR_NICE: i32 = 19;

/// Lowers the calling thread's CPU priority to [`COMPRESSOR_NICE`] (on Linux the nice value
/// is per thread). A failure only costs priority: it is logged and compression goes on.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), COMPRESSOR_NICE) {
        tracing::debug!(error = %e, "cannot lower the trail compressor's priority");
    }
}

impl Compressor {
    /// Starts the thread; `None` (with a warning) if it cannot be started, in which case the
    /// writer compresses on its own thread.
    pub(super) fn start(dir: &Path, chain: &str) -> Option<Compressor> {
        let (tx, rx) = mpsc::channel::<String>();
        let dir_lock = Arc::new(parking_lot::Mutex::new(()));
        let lock = Arc::clone(&dir_lock);
        let dir = dir.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("trail-zstd-{chain}"))
            .spawn(move || {
                lower_priority();
                while let Ok(name) = rx.recv() {
                    compress_one(&dir, &name, &lock);
                }
            });
        match spawned {
            Ok(thread) => Some(Compressor {
                tx: Some(tx),
                thread: Some(thread),
                dir_lock,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the trail compressor thread; compressing on the writer thread");
                None
            }
        }
    }

    /// Queues the sealed segment `name` (a plain `.jsonl` in the directory). Returns the name
    /// back if the thread is gone, for the caller to compress itself.
    pub(super) fn queue(&self, name: String) -> Result<(), String> {
        match &self.tx {
            Some(tx) => tx.send(name).map_err(|e| e.0),
            None => Err(name),
        }
    }

    /// Runs `f` (pruning's removals) while no compressed copy is being installed.
    pub(super) fn with_dir_locked<T>(&self, f: impl FnOnce() -> T) -> T {
        let _held = self.dir_lock.lock();
        f()
    }

    /// Compresses everything queued, then stops the thread.
    pub(super) fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the trail compressor thread panicked");
            }
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Compresses one sealed segment; a failure leaves the plain file, which verify reads the same.
fn compress_one(dir: &Path, name: &str, lock: &parking_lot::Mutex<()>) {
    let tmp: PathBuf = match segment::compress_to_tmp(dir, name) {
        Ok(tmp) => tmp,
        Err(e) => {
            tracing::warn!(segment = %name, error = %e, "cannot compress sealed segment");
            let _ = std::fs::remove_file(segment::compressed_tmp(dir, name));
            return;
        }
    };
    install_or_drop(dir, name, &tmp, lock);
}

/// Installs the compressed copy `tmp` of `dir/name`, unless pruning removed `name` meanwhile.
fn install_or_drop(dir: &Path, name: &str, tmp: &Path, lock: &parking_lot::Mutex<()>) {
    let _held = lock.lock();
    if !dir.join(name).exists() {
        // Pruned meanwhile: the copy must not bring the segment back.
        let _ = std::fs::remove_file(tmp);
        return;
    }
    if let Err(e) = segment::install_compressed(dir, name) {
        tracing::warn!(segment = %name, error = %e, "cannot install compressed segment");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The compressor's thread, and only it, runs at the lowest priority.
    #[test]
    fn the_compressor_thread_alone_runs_at_the_lowest_priority() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let nice = std::thread::spawn(|| {
            lower_priority();
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(nice, COMPRESSOR_NICE);
        let me = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(me, before);
    }

    #[test]
    fn compresses_in_the_background_and_finish_waits() {
        let dir = tempfile::tempdir().unwrap();
        let name = segment::file_name(1);
        let mut f = segment::create(dir.path(), &name).unwrap();
        f.write_all(b"one\ntwo\n").unwrap();
        let mut c = Compressor::start(dir.path(), "t").unwrap();
        c.queue(name.clone()).unwrap();
        c.finish();
        assert!(!dir.path().join(&name).exists());
        let z = std::fs::read(dir.path().join(format!("{name}.zst"))).unwrap();
        assert_eq!(zstd::decode_all(z.as_slice()).unwrap(), b"one\ntwo\n");
        assert!(!segment::compressed_tmp(dir.path(), &name).exists());
    }

    #[test]
    fn a_segment_pruned_while_compressing_stays_gone() {
        let dir = tempfile::tempdir().unwrap();
        let name = segment::file_name(1);
        let mut f = segment::create(dir.path(), &name).unwrap();
        f.write_all(b"one\n").unwrap();
        let lock = parking_lot::Mutex::new(());
        // As if pruning removed the plain file between the copy and its installation.
        let tmp = segment::compress_to_tmp(dir.path(), &name).unwrap();
        std::fs::remove_file(dir.path().join(&name)).unwrap();
        install_or_drop(dir.path(), &name, &tmp, &lock);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
