//! Guests, their web sessions, conversation messages, and the admins' inbox.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_booking::{
    AdminNotification, Guest, Message, NewAdminNotification, NewGuest, NewGuestSession, NewMessage,
};
use models::schema::{admin_notifications, guest_sessions, guests, messages};

use crate::{DbConnection, Page, RepoError};

/// Inserts a guest and returns it.
pub fn insert(conn: &mut DbConnection, new: &NewGuest) -> Result<Guest, RepoError> {
    diesel::insert_into(guests::table).values(new).execute(conn)?;
    by_public_id(conn, &new.public_id)
}

/// The guest with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<Guest, RepoError> {
    Ok(guests::table.filter(guests::public_id.eq(public_id)).select(Guest::as_select()).first(conn)?)
}

/// The guest with this internal id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<Guest, RepoError> {
    Ok(guests::table.find(id).select(Guest::as_select()).first(conn)?)
}

/// The guest a website knows by its own id.
pub fn by_website(
    conn: &mut DbConnection,
    website_user_id: i64,
    external_id: &str,
) -> Result<Option<Guest>, RepoError> {
    Ok(guests::table
        .filter(guests::website_user_id.eq(website_user_id))
        .filter(guests::external_id.eq(external_id))
        .select(Guest::as_select())
        .first(conn)
        .optional()?)
}

/// Sets the guest's identity details (only those given).
pub fn set_identity(
    conn: &mut DbConnection,
    id: i64,
    name: Option<&str>,
    cnic: Option<&str>,
    phone: Option<&str>,
    now: NaiveDateTime,
) -> Result<Guest, RepoError> {
    if let Some(name) = name {
        diesel::update(guests::table.find(id)).set(guests::name.eq(name)).execute(conn)?;
    }
    if let Some(cnic) = cnic {
        diesel::update(guests::table.find(id)).set(guests::cnic.eq(cnic)).execute(conn)?;
    }
    if let Some(phone) = phone {
        diesel::update(guests::table.find(id)).set(guests::phone.eq(phone)).execute(conn)?;
    }
    diesel::update(guests::table.find(id)).set(guests::updated_at.eq(now)).execute(conn)?;
    by_id(conn, id)
}

/// Stores a session token's hash.
pub fn insert_session(conn: &mut DbConnection, new: &NewGuestSession) -> Result<(), RepoError> {
    diesel::insert_into(guest_sessions::table).values(new).execute(conn)?;
    Ok(())
}

/// How stale a session's `last_used_at` may get before a request writes it again: a chatting
/// guest's every message would otherwise be a write.
pub const SESSION_TOUCH_SECS: i64 = 60;

/// The guest holding a session token hash; touches the session when its last use is older than
/// [`SESSION_TOUCH_SECS`].
pub fn by_token_hash(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<Guest>, RepoError> {
    let found: Option<(i64, Option<NaiveDateTime>)> = guest_sessions::table
        .filter(guest_sessions::token_hash.eq(token_hash))
        .select((guest_sessions::guest_id, guest_sessions::last_used_at))
        .first(conn)
        .optional()?;
    let Some((guest_id, last_used)) = found else { return Ok(None) };
    if last_used.is_none_or(|t| now - t >= chrono::Duration::seconds(SESSION_TOUCH_SECS)) {
        diesel::update(guest_sessions::table.filter(guest_sessions::token_hash.eq(token_hash)))
            .set(guest_sessions::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(by_id(conn, guest_id)?))
}

/// Appends a message to a guest's conversation.
pub fn insert_message(conn: &mut DbConnection, new: &NewMessage) -> Result<(), RepoError> {
    diesel::insert_into(messages::table).values(new).execute(conn)?;
    Ok(())
}

/// A guest's messages, newest first.
pub fn messages(conn: &mut DbConnection, guest_id: i64, page: Page) -> Result<Vec<Message>, RepoError> {
    let mut q = messages::table
        .filter(messages::guest_id.eq(guest_id))
        .select(Message::as_select())
        .order(messages::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(messages::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// Adds an entry to the admins' inbox.
pub fn insert_admin_notification(
    conn: &mut DbConnection,
    new: &NewAdminNotification,
) -> Result<(), RepoError> {
    diesel::insert_into(admin_notifications::table).values(new).execute(conn)?;
    Ok(())
}

/// The admins' inbox, newest first.
pub fn admin_notifications(conn: &mut DbConnection, page: Page) -> Result<Vec<AdminNotification>, RepoError> {
    let mut q = admin_notifications::table
        .select(AdminNotification::as_select())
        .order(admin_notifications::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(admin_notifications::id.lt(before));
    }
    Ok(q.load(conn)?)
}
