//! API keys (hashes only; the plaintext is never stored).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows::{ApiKey, NewApiKey, User};
use models::schema::{api_keys, users};
use models::KeyStatus;

use crate::{DbConnection, Page, RepoError};

/// Inserts a key and returns it.
pub fn insert(conn: &mut DbConnection, new: &NewApiKey<'_>) -> Result<ApiKey, RepoError> {
    diesel::insert_into(api_keys::table).values(new).execute(conn)?;
    by_public_id(conn, new.public_id)
}

/// The key with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<ApiKey, RepoError> {
    Ok(api_keys::table.filter(api_keys::public_id.eq(public_id)).select(ApiKey::as_select()).first(conn)?)
}

/// The key with this hash and its owner.
pub fn by_hash(conn: &mut DbConnection, key_hash: &str) -> Result<Option<(ApiKey, User)>, RepoError> {
    Ok(api_keys::table
        .inner_join(users::table)
        .filter(api_keys::key_hash.eq(key_hash))
        .select((ApiKey::as_select(), User::as_select()))
        .first(conn)
        .optional()?)
}

/// Records `uses` uses ending at `last_used`: bumps `usage_count` and `last_used_at`, only while the
/// key is still active. Returns false when the key was revoked in the meantime.
pub fn touch(
    conn: &mut DbConnection,
    id: i64,
    uses: i64,
    last_used: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(api_keys::table.find(id).filter(api_keys::status.eq(KeyStatus::Active.as_str())))
        .set((api_keys::usage_count.eq(api_keys::usage_count + uses), api_keys::last_used_at.eq(last_used)))
        .execute(conn)?;
    Ok(n == 1)
}

/// How long an authenticated key is trusted without reading its row again. A key revoked or a
/// user deactivated through this process is forgotten at once ([`KeyCache::clear`]); another
/// replica's change takes effect here within this time.
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Keys authenticated in the last [`KEY_CACHE_TTL`], by hash, with their owners.
#[derive(Debug)]
pub struct KeyCache {
    entries: crate::ttl::TtlMap<String, (ApiKey, User)>,
}

impl Default for KeyCache {
    fn default() -> Self {
        // Past 10,000 keys the cache starts over.
        Self { entries: crate::ttl::TtlMap::new(KEY_CACHE_TTL, 10_000) }
    }
}

impl KeyCache {
    /// The key with this hash and its owner, if read within [`KEY_CACHE_TTL`].
    pub fn get(&self, key_hash: &str) -> Option<(ApiKey, User)> {
        self.entries.get(key_hash)
    }

    /// Remembers a key read now.
    pub fn put(&self, key_hash: &str, key: &ApiKey, user: &User) {
        self.entries.insert(key_hash.to_string(), (key.clone(), user.clone()));
    }

    /// Forgets every key (a key was revoked, or a user changed).
    pub fn clear(&self) {
        self.entries.clear();
    }
}

/// How often a key's row is written for its uses; uses in between are kept in memory
/// ([`KeyUses`]) and shown by reads.
pub const KEY_USE_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Uses of API keys not yet written: a key's row is written on its first use and then at most
/// once per [`KEY_USE_WRITE_INTERVAL`], with every use since; reads add what is pending, and
/// [`KeyUses::drain`] writes the rest at shutdown.
#[derive(Debug, Default)]
pub struct KeyUses {
    pending: std::sync::Mutex<std::collections::HashMap<i64, PendingUses>>,
}

#[derive(Debug)]
struct PendingUses {
    count: i64,
    last_used: NaiveDateTime,
    written: Option<std::time::Instant>,
}

impl KeyUses {
    /// Counts a use of key `id`; when its row is due a write, returns the uses to write and
    /// forgets them (call [`KeyUses::unwritten`] if the write fails).
    pub fn record(&self, id: i64, now: NaiveDateTime) -> Option<(i64, NaiveDateTime)> {
        let mut map = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(id).or_insert(PendingUses { count: 0, last_used: now, written: None });
        entry.count += 1;
        entry.last_used = entry.last_used.max(now);
        let due = entry.written.is_none_or(|w| w.elapsed() >= KEY_USE_WRITE_INTERVAL);
        if !due {
            return None;
        }
        entry.written = Some(std::time::Instant::now());
        let out = (entry.count, entry.last_used);
        entry.count = 0;
        Some(out)
    }

    /// Puts back uses whose write failed.
    pub fn unwritten(&self, id: i64, uses: i64, last_used: NaiveDateTime) {
        let mut map = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = map.get_mut(&id) {
            e.count += uses;
            e.last_used = e.last_used.max(last_used);
        }
    }

    /// The uses of key `id` not written yet, and the latest.
    pub fn pending(&self, id: i64) -> Option<(i64, NaiveDateTime)> {
        let map = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&id).filter(|e| e.count > 0).map(|e| (e.count, e.last_used))
    }

    /// Takes every pending use (for a final write).
    pub fn drain(&self) -> Vec<(i64, i64, NaiveDateTime)> {
        let mut map = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.drain().filter(|(_, e)| e.count > 0).map(|(id, e)| (id, e.count, e.last_used)).collect()
    }
}

/// A user's keys, newest first.
pub fn list_for_user(conn: &mut DbConnection, user_id: i64, page: Page) -> Result<Vec<ApiKey>, RepoError> {
    let mut q = api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .select(ApiKey::as_select())
        .order(api_keys::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(api_keys::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// Revokes an active key (compare-and-swap on the status). Returns false when it was not active.
pub fn revoke(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<bool, RepoError> {
    let n = diesel::update(api_keys::table.find(id).filter(api_keys::status.eq(KeyStatus::Active.as_str())))
        .set((api_keys::status.eq(KeyStatus::Revoked.as_str()), api_keys::revoked_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}
