//! Recent search pages, so a popular search costs a hash lookup instead of a query.
//!
//! A page is fresh while no write transaction has committed through this process's pool since its
//! query began ([`repositories::Db::writes`]) and it is younger than the time to live
//! (`booking.search_cache_ms`), which bounds how long another replica's booking can go unseen.
//! A stale page is never served: the next search queries the database again. Booking itself
//! always checks the slot in the database, whatever search showed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::catalogue::SearchPage;

/// Most pages kept; when full, the cache starts over.
const MAX_PAGES: usize = 4096;

/// The cache of search pages (one per process, shared by the desk's clones).
#[derive(Debug)]
pub struct SearchCache {
    ttl: Duration,
    pages: Mutex<HashMap<String, (u64, Instant, SearchPage)>>,
}

impl SearchCache {
    /// A cache keeping pages for at most `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, pages: Mutex::new(HashMap::new()) }
    }

    /// The page for `key` if it was read after the `writes`-th write and within the time to live.
    pub fn get(&self, key: &str, writes: u64) -> Option<SearchPage> {
        if self.ttl.is_zero() {
            return None;
        }
        let pages = self.pages.lock().ok()?;
        pages
            .get(key)
            .filter(|(at_writes, at, _)| *at_writes == writes && at.elapsed() < self.ttl)
            .map(|(_, _, page)| page.clone())
    }

    /// Keeps a page read when `writes` writes had committed (counted before the read began).
    pub fn put(&self, key: String, writes: u64, page: SearchPage) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut pages) = self.pages.lock() {
            if pages.len() >= MAX_PAGES {
                pages.clear();
            }
            pages.insert(key, (writes, Instant::now(), page));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> SearchPage {
        SearchPage { hits: Vec::new(), next_cursor: Some("c".into()) }
    }

    #[test]
    fn a_write_or_the_time_to_live_ends_a_page() {
        let cache = SearchCache::new(Duration::from_millis(50));
        cache.put("k".into(), 7, page());
        assert!(cache.get("k", 7).is_some());
        assert!(cache.get("k", 8).is_none(), "a write since");
        assert!(cache.get("other", 7).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("k", 7).is_none(), "expired");
        let off = SearchCache::new(Duration::ZERO);
        off.put("k".into(), 1, page());
        assert!(off.get("k", 1).is_none());
    }
}
