//! Platform users.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows::{NewUser, User};
use models::schema::users;

use crate::{DbConnection, Page, RepoError};

/// Inserts a user and returns it.
pub fn insert(conn: &mut DbConnection, new: &NewUser<'_>) -> Result<User, RepoError> {
    diesel::insert_into(users::table).values(new).execute(conn)?;
    by_public_id(conn, new.public_id)
}

/// The user with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<User, RepoError> {
    Ok(users::table.filter(users::public_id.eq(public_id)).select(User::as_select()).first(conn)?)
}

/// The user with this internal id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<User, RepoError> {
    Ok(users::table.find(id).select(User::as_select()).first(conn)?)
}

/// The user with this (lower-case) email, if any.
pub fn by_email(conn: &mut DbConnection, email: &str) -> Result<Option<User>, RepoError> {
    Ok(users::table.filter(users::email.eq(email)).select(User::as_select()).first(conn).optional()?)
}

/// Users newest first.
pub fn list(conn: &mut DbConnection, page: Page) -> Result<Vec<User>, RepoError> {
    let mut q = users::table.select(User::as_select()).order(users::id.desc()).limit(page.limit).into_boxed();
    if let Some(before) = page.before {
        q = q.filter(users::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    /// New name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// Verified flag.
    pub verified: Option<bool>,
    /// Tier.
    pub tier: Option<String>,
    /// Set on every change.
    pub updated_at: Option<NaiveDateTime>,
}

/// Applies changes; `NotFound` when the user does not exist.
pub fn update(conn: &mut DbConnection, id: i64, changes: &UserChanges) -> Result<User, RepoError> {
    let n = diesel::update(users::table.find(id)).set(changes).execute(conn)?;
    if n == 0 {
        return Err(RepoError::NotFound);
    }
    by_id(conn, id)
}
