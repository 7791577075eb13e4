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

/// Counts a use: bumps `usage_count` and `last_used_at`, only while the key is still active.
/// Returns false when the key was revoked in the meantime.
pub fn touch(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<bool, RepoError> {
    let n = diesel::update(api_keys::table.find(id).filter(api_keys::status.eq(KeyStatus::Active.as_str())))
        .set((api_keys::usage_count.eq(api_keys::usage_count + 1), api_keys::last_used_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
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
