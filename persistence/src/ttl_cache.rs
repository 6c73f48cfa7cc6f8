//! A small in-process cache for values read on every request (users, and so credentials).
//!
//! Entries live for a time-to-live, which bounds how stale another process's writes can look.
//! This process's own writes invalidate entries at once; a generation counter keeps a read that
//! raced with such a write from putting the old value back.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Keys and values with a time-to-live.
pub(crate) struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (V, Instant)>>,
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
}

/// A ticket taken before reading the source: an insert with a stale ticket is dropped.
pub(crate) struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache keeping entries for `ttl` (zero disables it), at most `capacity` of them.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl,
            capacity,
            generation: AtomicU64::new(0),
        }
    }

    /// The fresh value for `key`, if cached.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (value, stored) = entries.get(key)?;
        (stored.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Take before reading the value from its source.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Caches `value`, unless an invalidation happened since `ticket` was taken.
    pub(crate) fn insert(&self, ticket: Ticket, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (_, stored)| stored.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Forgets `key`; call after the write that changed it has committed.
    pub(crate) fn invalidate(&self, key: &K) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_value_is_returned_until_invalidated() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert(cache.ticket(), 1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        cache.invalidate(&1);
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn insert_racing_an_invalidation_is_dropped() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let ticket = cache.ticket();
        cache.invalidate(&1);
        cache.insert(ticket, 1, "stale");
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn zero_ttl_disables_caching_and_capacity_bounds_size() {
        let off = TtlCache::new(Duration::ZERO, 10);
        off.insert(off.ticket(), 1, "a");
        assert_eq!(off.get(&1), None);
        let small = TtlCache::new(Duration::from_secs(60), 2);
        for key in 0..5 {
            small.insert(small.ticket(), key, key);
        }
        let entries = small.entries.read().unwrap();
        assert!(entries.len() <= 2);
    }
}
