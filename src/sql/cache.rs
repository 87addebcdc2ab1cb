//! A bounded cache of statement analyses keyed by normalised text, so a client that sends new
//! literals with every statement (`pgbench -M simple`, ORMs without server-side prepare) is
//! parsed once per statement shape. Per statement: normalise (cheap, lexical) -> look up ->
//! parse only on a miss.
//!
//! Eviction is CLOCK (second chance): a hit sets a bit, the hand clears bits until it finds an
//! entry not used since its last pass. It approximates LRU with O(1) work per hit, and a hit
//! only flips a bit under the lock. The lock is a `parking_lot::Mutex` held for a hash lookup,
//! never across parsing: two sessions missing on the same text both parse it, which is cheaper
//! than making one wait.
//!
//! The cache is a value the proxy owns and hands to sessions in an `Arc` (no global state).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::analyze::{analyze_one, Analysis};
use super::normalize::{normalize, split_statements, Normalized};

/// Default number of entries: a busy booking application has a few hundred statement shapes;
/// 10,000 leaves room for ad-hoc queries without letting memory grow unbounded.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Statements whose normalised text is longer than this are analysed every time, not cached,
/// so 10,000 entries stay within tens of megabytes even if clients send huge statements.
pub const MAX_CACHED_TEXT_BYTES: usize = 16 * 1024;

/// One statement of a Query: its normalised form and its (shared) analysis.
#[derive(Debug, Clone)]
pub struct CachedStatement {
    pub normalized: Normalized,
    /// For `UNPARSED` statements served from the cache, `analysis.text` is the normalised text
    /// (literals replaced), never another statement's literals.
    pub analysis: Arc<Analysis>,
}

struct Slot {
    key: String,
    analysis: Arc<Analysis>,
    referenced: bool,
}

struct Inner {
    index: HashMap<String, usize>,
    slots: Vec<Slot>,
    hand: usize,
}

/// The bounded analysis cache.
pub struct AnalysisCache {
    inner: Mutex<Inner>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

// === impl AnalysisCache ===

impl AnalysisCache {
    /// A cache holding at most `capacity` analyses (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        AnalysisCache {
            inner: Mutex::new(Inner {
                index: HashMap::with_capacity(capacity),
                slots: Vec::with_capacity(capacity),
                hand: 0,
            }),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Splits a simple Query's text into statements and analyses each (from the cache when its
    /// normalised text was seen before). An empty Query gives no statements.
    pub fn analyze(&self, sql: &str) -> Vec<CachedStatement> {
        split_statements(sql)
            .into_iter()
            .map(|r| self.analyze_statement(sql.get(r).unwrap_or_default()))
            .collect()
    }

    /// Analyses one statement's text (a Parse message's query, or one piece of a Query).
    pub fn analyze_statement(&self, text: &str) -> CachedStatement {
        let normalized = normalize(text);
        if let Some(analysis) = self.get(&normalized.text) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return CachedStatement {
                normalized,
                analysis,
            };
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let mut analysis = analyze_one(text);
        if analysis.text.is_some() {
            analysis.text = Some(normalized.text.clone());
        }
        let analysis = Arc::new(analysis);
        if normalized.text.len() <= MAX_CACHED_TEXT_BYTES {
            self.insert(normalized.text.clone(), Arc::clone(&analysis));
        }
        CachedStatement {
            normalized,
            analysis,
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Analysis>> {
        let mut inner = self.inner.lock();
        let i = *inner.index.get(key)?;
        let slot = inner.slots.get_mut(i)?;
        slot.referenced = true;
        Some(Arc::clone(&slot.analysis))
    }

    fn insert(&self, key: String, analysis: Arc<Analysis>) {
        let mut inner = self.inner.lock();
        if inner.index.contains_key(&key) {
            return;
        }
        if inner.slots.len() < self.capacity {
            let i = inner.slots.len();
            inner.index.insert(key.clone(), i);
            inner.slots.push(Slot {
                key,
                analysis,
                referenced: false,
            });
            return;
        }
        // CLOCK: at most two sweeps find an unreferenced slot.
        let len = inner.slots.len();
        for _ in 0..=(2 * len) {
            let hand = inner.hand % len;
            inner.hand = (hand + 1) % len;
            let Some(slot) = inner.slots.get_mut(hand) else {
                return;
            };
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let old = std::mem::replace(&mut slot.key, key.clone());
            slot.analysis = analysis;
            inner.index.remove(&old);
            inner.index.insert(key, hand);
            return;
        }
    }

    /// Number of cached analyses.
    pub fn len(&self) -> usize {
        self.inner.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Statements served from the cache since it was made.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Statements that had to be parsed.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

impl Default for AnalysisCache {
    fn default() -> Self {
        AnalysisCache::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_literals_hit() {
        let c = AnalysisCache::new(10);
        let a = c.analyze("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
        let b = c.analyze("SELECT abalance FROM pgbench_accounts WHERE aid = 2");
        assert_eq!((c.hits(), c.misses()), (1, 1));
        assert!(Arc::ptr_eq(&a[0].analysis, &b[0].analysis));
        assert_eq!(b[0].normalized.literals[0].text, "2");
    }

    #[test]
    fn ordinals_do_not_share() {
        let c = AnalysisCache::new(10);
        let a = c.analyze("SELECT name, phone FROM guests ORDER BY 1");
        let b = c.analyze("SELECT name, phone FROM guests ORDER BY 2");
        assert_eq!(c.misses(), 2);
        assert_ne!(a[0].analysis, b[0].analysis);
    }

    #[test]
    fn multi_statement_and_unparsed() {
        let c = AnalysisCache::new(10);
        let v = c.analyze("BEGIN; SELEC 'secret'; COMMIT;");
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].analysis.text.as_deref(), Some("SELEC $1"));
        let v = c.analyze("SELEC 'other'");
        assert_eq!(c.hits(), 1);
        assert_eq!(v[0].analysis.text.as_deref(), Some("SELEC $1"));
    }

    #[test]
    fn bounded_with_second_chance() {
        let c = AnalysisCache::new(3);
        for t in ["a", "b", "c"] {
            c.analyze(&format!("SELECT x FROM {t}"));
        }
        // Touch a: it survives the next insertion, b (unreferenced) goes.
        c.analyze("SELECT x FROM a");
        c.analyze("SELECT x FROM d");
        assert_eq!(c.len(), 3);
        let before = c.hits();
        c.analyze("SELECT x FROM a");
        assert_eq!(c.hits(), before + 1);
        let misses = c.misses();
        c.analyze("SELECT x FROM b");
        assert_eq!(c.misses(), misses + 1);
    }
}
