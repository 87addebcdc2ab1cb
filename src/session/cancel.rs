//! Cancel keys. Each client gets trailmask's own BackendKeyData; a CancelRequest carrying it is
//! mapped to the upstream backend's key and forwarded. A key nobody holds does nothing, as in
//! PostgreSQL, and says nothing about whether it exists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// The upstream backend a client key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamKey {
    pub pid: i32,
    pub secret: i32,
}

/// Shared by every session; a std-style mutex since each critical section is one map operation.
#[derive(Debug, Clone, Default)]
pub struct CancelRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// trailmask pid -> (trailmask secret, upstream key).
    keys: Mutex<HashMap<i32, (i32, UpstreamKey)>>,
    next_pid: AtomicI32,
}

/// Removes the key when the session ends.
#[derive(Debug)]
pub struct CancelKeyGuard {
    registry: CancelRegistry,
    pid: i32,
}

impl CancelRegistry {
    /// Issues a fresh client key for `upstream`: a unique pid and a random secret.
    pub fn issue(&self, upstream: UpstreamKey) -> (i32, i32, CancelKeyGuard) {
        let mut secret_bytes = [0u8; 4];
        // An all-zero secret would still be unique per pid; randomness makes it unguessable.
        let _ = getrandom::fill(&mut secret_bytes);
        let secret = i32::from_be_bytes(secret_bytes);
        let mut keys = self.inner.keys.lock();
        let pid = loop {
            let candidate = self
                .inner
                .next_pid
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1)
                & 0x3fff_ffff;
            if candidate != 0 && !keys.contains_key(&candidate) {
                break candidate;
            }
        };
        keys.insert(pid, (secret, upstream));
        drop(keys);
        (
            pid,
            secret,
            CancelKeyGuard {
                registry: self.clone(),
                pid,
            },
        )
    }

    /// The upstream key for a client's cancel request, if the pid and secret match.
    pub fn lookup(&self, pid: i32, secret: i32) -> Option<UpstreamKey> {
        let keys = self.inner.keys.lock();
        keys.get(&pid)
            .filter(|(s, _)| *s == secret)
            .map(|(_, k)| *k)
    }
}

impl Drop for CancelKeyGuard {
    fn drop(&mut self) {
        self.registry.inner.keys.lock().remove(&self.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_only_matching_keys_while_the_session_lives() {
        let reg = CancelRegistry::default();
        let up = UpstreamKey {
            pid: 4242,
            secret: 7,
        };
        let (pid, secret, guard) = reg.issue(up);
        assert_eq!(reg.lookup(pid, secret), Some(up));
        assert_eq!(reg.lookup(pid, secret.wrapping_add(1)), None);
        assert_eq!(reg.lookup(pid.wrapping_add(1), secret), None);
        drop(guard);
        assert_eq!(reg.lookup(pid, secret), None);
    }
}
