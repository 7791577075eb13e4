//! A small map whose entries are trusted for a fixed time after they were read: the shared
//! mechanism of the caches of reads kept beside the pool (API keys, the gateway's decision
//! reads). Past `max` entries it starts over.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Entries kept for `ttl` after they were stored.
#[derive(Debug)]
pub struct TtlMap<K, V> {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    /// An empty map whose entries live `ttl`, holding at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self { ttl, max, entries: Mutex::new(HashMap::new()) }
    }

    /// The value stored under `key` within the last `ttl`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Stores `value` under `key`, read now.
    pub fn insert(&self, key: K, value: V) {
        self.insert_if(key, value, || true);
    }

    /// Stores `value` under `key` if `keep` (asked while no [`TtlMap::clear`] can run) holds.
    pub fn insert_if(&self, key: K, value: V, keep: impl FnOnce() -> bool) {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !keep() {
            return;
        }
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
