//! What every gateway call would read again though it changes only by an admin's or an owner's
//! hand: the offered catalogue row of a model (with its price) and a user's only project (the
//! project of a call that names none). Each entry lives [`DECISION_CACHE_TTL`]; a change made
//! through this process clears the cache at once ([`DecisionCache::clear`]), and another
//! replica's change takes effect here within that time, as for API keys.
//!
//! A read that began before a clear is not kept: [`DecisionCache::generation`] is taken before
//! the read, and `put_*` keeps the value only if no clear happened since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use models::rows_spend::CatalogueModel;

use crate::ttl::TtlMap;

/// How long a cached catalogue row or only project is used without reading it again.
pub const DECISION_CACHE_TTL: Duration = Duration::from_secs(2);

/// Most entries of each kind; past it that kind starts over.
const MAX: usize = 10_000;

/// The gateway's cached decision reads (see the module).
#[derive(Debug)]
pub struct DecisionCache {
    generation: AtomicU64,
    /// By `provider/model`.
    prices: TtlMap<String, CatalogueModel>,
    only_projects: TtlMap<i64, Option<String>>,
}

impl Default for DecisionCache {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            prices: TtlMap::new(DECISION_CACHE_TTL, MAX),
            only_projects: TtlMap::new(DECISION_CACHE_TTL, MAX),
        }
    }
}

impl DecisionCache {
    /// The current generation: take it before a read whose result is to be kept.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The offered row of `provider/model`, if read within the TTL.
    pub fn price(&self, provider: &str, model: &str) -> Option<CatalogueModel> {
        self.prices.get(&format!("{provider}/{model}"))
    }

    /// Keeps the offered row of `provider/model`, read in generation `seen`.
    pub fn put_price(&self, seen: u64, provider: &str, model: &str, row: &CatalogueModel) {
        self.prices.insert_if(format!("{provider}/{model}"), row.clone(), || self.generation() == seen);
    }

    /// The user's only project (`Some(None)`: none, or several), if read within the TTL.
    pub fn only_project(&self, user_id: i64) -> Option<Option<String>> {
        self.only_projects.get(&user_id)
    }

    /// Keeps the user's only project, read in generation `seen`.
    pub fn put_only_project(&self, seen: u64, user_id: i64, project: Option<&str>) {
        self.only_projects.insert_if(user_id, project.map(str::to_string), || self.generation() == seen);
    }

    /// Forgets everything (the catalogue changed, or a project was created); reads in flight
    /// are not kept (the generation moves before the entries go).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.prices.clear();
        self.only_projects.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> CatalogueModel {
        CatalogueModel {
            provider: "local".into(),
            model: "echo".into(),
            category: "chat".into(),
            capabilities: "[]".into(),
            context_window: 0,
            input_per_million: 1,
            output_per_million: 2,
            per_request: 0,
            per_image: 0,
            per_million_chars: 0,
            price_read_on: "2026-01-01".into(),
            active: true,
            updated_at: models::time::now(),
        }
    }

    #[test]
    fn a_clear_forgets_and_refuses_reads_begun_before_it() {
        let cache = DecisionCache::default();
        let seen = cache.generation();
        cache.put_price(seen, "local", "echo", &row());
        cache.put_only_project(seen, 7, Some("prj_a"));
        assert_eq!(cache.price("local", "echo").map(|m| m.output_per_million), Some(2));
        assert_eq!(cache.only_project(7), Some(Some("prj_a".to_string())));
        assert_eq!(cache.only_project(8), None);
        // A read that began before the clear comes back after it: not kept.
        let before = cache.generation();
        cache.clear();
        assert_eq!(cache.price("local", "echo"), None);
        assert_eq!(cache.only_project(7), None);
        cache.put_price(before, "local", "echo", &row());
        cache.put_only_project(before, 7, None);
        assert_eq!(cache.price("local", "echo"), None);
        assert_eq!(cache.only_project(7), None);
        // One begun after it is.
        cache.put_only_project(cache.generation(), 7, None);
        assert_eq!(cache.only_project(7), Some(None));
    }
}
