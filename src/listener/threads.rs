//! Session threads: each runs a single-threaded tokio runtime of its own, and a session lives on
//! one of them (round robin at accept) from its first byte to its close.
//!
//! Written here rather than taken from tokio's multi-thread scheduler because that scheduler
//! moves ready tasks between workers (work stealing), and for a proxy, whose every message is a
//! socket event, that means cross-thread wake-ups. Measured with pgbench -S -M prepared -c 8 on
//! 2 cores, CPU per transaction: multi-thread runtime ~30 µs, one session thread ~25 µs,
//! pgbouncer's single event loop ~23 µs. Several sessions sharing one thread also share its
//! `epoll_wait` calls, which is why `listen.threads` defaults to half the cores rather than all
//! (but two on a 2-core host, where one thread is the bottleneck; see `default_threads` in
//! `config::validate`).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The running session threads. Dropping it lets each thread finish: its runtime, and any task
/// still on it, is dropped on that thread.
#[derive(Debug)]
pub struct SessionThreads {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stops: Vec<oneshot::Sender<()>>,
}

impl SessionThreads {
    /// Starts `n` threads (at least one).
    pub fn start(n: usize) -> std::io::Result<SessionThreads> {
        let n = n.max(1);
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for i in 0..n {
            let rt = Builder::new_current_thread().enable_all().build()?;
            handles.push(rt.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("trailmask-s{i}"))
                .spawn(move || {
                    // Drives every session spawned onto this runtime until told to stop (or
                    // until the sender is dropped).
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
        }
        Ok(SessionThreads {
            handles,
            next: AtomicUsize::new(0),
            stops,
        })
    }

    /// The runtime the next session goes to (the caller's own if there were none).
    pub fn pick(&self) -> Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len().max(1);
        self.handles.get(i).cloned().unwrap_or_else(Handle::current)
    }
}

impl Drop for SessionThreads {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_spread_over_the_threads_and_run() {
        let threads = SessionThreads::start(2).unwrap();
        let rt = Builder::new_current_thread().enable_all().build().unwrap();
        let names = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..4 {
                set.spawn_on(
                    async { std::thread::current().name().map(str::to_owned) },
                    &threads.pick(),
                );
            }
            let mut names = Vec::new();
            while let Some(r) = set.join_next().await {
                names.push(r.unwrap().unwrap_or_default());
            }
            names.sort();
            names
        });
        assert_eq!(
            names,
            vec![
                "trailmask-s0",
                "trailmask-s0",
                "trailmask-s1",
                "trailmask-s1"
            ]
        );
    }
}
