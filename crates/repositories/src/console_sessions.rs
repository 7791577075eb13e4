//! Admin console sessions: stored by token hash, found with their key and user, revoked at
//! sign-out.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows::{ApiKey, User};
use models::schema::{api_keys, console_sessions, users};

use crate::{DbConnection, RepoError};

/// A new session.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct NewConsoleSession {
    /// SHA-256 of the cookie token (hex).
    pub token_hash: String,
    /// The CSRF token the console sends back.
    pub csrf_token: String,
    /// The key signed in with.
    pub key_id: i64,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// End.
    pub expires_at: NaiveDateTime,
}

/// Stores a session.
pub fn insert(conn: &mut DbConnection, new: &NewConsoleSession) -> Result<(), RepoError> {
    diesel::insert_into(console_sessions::table).values(new).execute(conn)?;
    Ok(())
}

/// The live session with this token hash: its CSRF token, key and user.
pub fn live(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<(String, ApiKey, User)>, RepoError> {
    Ok(console_sessions::table
        .inner_join(api_keys::table.inner_join(users::table))
        .filter(console_sessions::token_hash.eq(token_hash))
        .filter(console_sessions::revoked_at.is_null())
        .filter(console_sessions::expires_at.gt(now))
        .select((console_sessions::csrf_token, ApiKey::as_select(), User::as_select()))
        .first(conn)
        .optional()?)
}

/// Ends a session; `true` when it was live.
pub fn revoke(conn: &mut DbConnection, token_hash: &str, now: NaiveDateTime) -> Result<bool, RepoError> {
    Ok(diesel::update(
        console_sessions::table
            .filter(console_sessions::token_hash.eq(token_hash))
            .filter(console_sessions::revoked_at.is_null()),
    )
    .set(console_sessions::revoked_at.eq(now))
    .execute(conn)?
        == 1)
}
