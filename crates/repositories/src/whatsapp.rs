//! The WhatsApp channel's storage: the inbox of webhook events (stored once, claimed by one
//! worker at a time, processed once), WhatsApp guests by contact key, and the outbox — outbound
//! message rows claimed for sending, their retries and their delivery statuses.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_booking::{Guest, Message, NewGuest};
use models::schema::{guests, messages, whatsapp_inbox};
use models::whatsapp::{InboxEvent, NewInboxEvent};

use crate::{DbConnection, RepoError};

/// Stores a webhook event unless one with its key is stored already; `true` when new.
pub fn insert_event(conn: &mut DbConnection, event: &NewInboxEvent) -> Result<bool, RepoError> {
    let q = diesel::insert_into(whatsapp_inbox::table).values(event).on_conflict_do_nothing();
    let n = match conn {
        DbConnection::Postgresql(c) => q.execute(c)?,
        DbConnection::Sqlite(c) => q.execute(c)?,
    };
    Ok(n == 1)
}

/// Claims up to `limit` due events in arrival order until `until` (a worker that dies lets its
/// claim lapse); on PostgreSQL rows another worker is claiming are skipped (`FOR UPDATE SKIP
/// LOCKED`). Run it in a write transaction.
pub fn claim_events(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<InboxEvent>, RepoError> {
    let due = whatsapp_inbox::table
        .filter(whatsapp_inbox::processed_at.is_null())
        .filter(whatsapp_inbox::claimed_until.is_null().or(whatsapp_inbox::claimed_until.lt(now)))
        .order(whatsapp_inbox::id.asc())
        .limit(limit)
        .select(whatsapp_inbox::id);
    let ids: Vec<i64> = match conn {
        DbConnection::Postgresql(c) => due.for_update().skip_locked().load(c)?,
        DbConnection::Sqlite(c) => due.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(whatsapp_inbox::table.filter(whatsapp_inbox::id.eq_any(&ids)))
        .set((
            whatsapp_inbox::claimed_until.eq(until),
            whatsapp_inbox::attempts.eq(whatsapp_inbox::attempts + 1),
        ))
        .execute(conn)?;
    Ok(whatsapp_inbox::table
        .filter(whatsapp_inbox::id.eq_any(&ids))
        .order(whatsapp_inbox::id.asc())
        .select(InboxEvent::as_select())
        .load(conn)?)
}

/// Marks an event processed (`error` keeps what went wrong with one that cannot be processed).
pub fn finish_event(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
    error: Option<&str>,
) -> Result<(), RepoError> {
    diesel::update(whatsapp_inbox::table.find(id))
        .set((
            whatsapp_inbox::processed_at.eq(now),
            whatsapp_inbox::claimed_until.eq(None::<NaiveDateTime>),
            whatsapp_inbox::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// Leaves an event due again after `retry_at`, with the error that stopped it.
pub fn retry_event(
    conn: &mut DbConnection,
    id: i64,
    retry_at: NaiveDateTime,
    error: &str,
) -> Result<(), RepoError> {
    diesel::update(whatsapp_inbox::table.find(id))
        .set((whatsapp_inbox::claimed_until.eq(retry_at), whatsapp_inbox::last_error.eq(error)))
        .execute(conn)?;
    Ok(())
}

/// `(unprocessed events, the oldest one's arrival, the last arrival)`.
pub fn inbox_backlog(
    conn: &mut DbConnection,
) -> Result<(i64, Option<NaiveDateTime>, Option<NaiveDateTime>), RepoError> {
    let waiting: i64 =
        whatsapp_inbox::table.filter(whatsapp_inbox::processed_at.is_null()).count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = whatsapp_inbox::table
        .filter(whatsapp_inbox::processed_at.is_null())
        .select(diesel::dsl::min(whatsapp_inbox::received_at))
        .first(conn)?;
    let last: Option<NaiveDateTime> =
        whatsapp_inbox::table.select(diesel::dsl::max(whatsapp_inbox::received_at)).first(conn)?;
    Ok((waiting, oldest, last))
}

/// The WhatsApp guest with this contact key (business-scoped user id, else wa_id), created on
/// first contact (the unique contact key settles races); the phone and profile name are kept
/// current.
pub fn guest_by_contact(
    conn: &mut DbConnection,
    key: &str,
    phone: Option<&str>,
    name: Option<&str>,
    new: impl FnOnce() -> NewGuest,
) -> Result<Guest, RepoError> {
    let guest = match find_contact(conn, key)? {
        Some(g) => g,
        None => {
            let new = new();
            let q = diesel::insert_into(guests::table).values(&new).on_conflict_do_nothing();
            match conn {
                DbConnection::Postgresql(c) => q.execute(c)?,
                DbConnection::Sqlite(c) => q.execute(c)?,
            };
            find_contact(conn, key)?.ok_or(RepoError::NotFound)?
        }
    };
    let phone_changed = phone.is_some() && guest.phone.as_deref() != phone;
    let name_missing = guest.name.is_none() && name.is_some();
    if phone_changed || name_missing {
        let address = phone.map(str::to_string).or(guest.address.clone());
        diesel::update(guests::table.find(guest.id))
            .set((
                guests::phone.eq(phone.map(str::to_string).or(guest.phone.clone())),
                guests::address.eq(address),
                guests::name.eq(guest.name.clone().or(name.map(str::to_string))),
            ))
            .execute(conn)?;
        return Ok(guests::table.find(guest.id).select(Guest::as_select()).first(conn)?);
    }
    Ok(guest)
}

fn find_contact(conn: &mut DbConnection, key: &str) -> Result<Option<Guest>, RepoError> {
    Ok(guests::table
        .filter(guests::channel.eq("whatsapp"))
        .filter(guests::external_id.eq(key))
        .filter(guests::website_user_id.is_null())
        .select(Guest::as_select())
        .first(conn)
        .optional()?)
}

/// An outbound message claimed for sending, with its guest's channel and address.
pub type Outbound = (Message, String, Option<String>);

/// Claims up to `limit` due outbound messages (pending, their retry time reached, not claimed by
/// a live worker) in id order until `until`; `FOR UPDATE SKIP LOCKED` on PostgreSQL. Run it in a
/// write transaction.
pub fn claim_outbox(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Outbound>, RepoError> {
    let due = messages::table
        .filter(messages::delivery_status.eq("pending"))
        .filter(messages::next_attempt_at.is_null().or(messages::next_attempt_at.le(now)))
        .filter(messages::claimed_until.is_null().or(messages::claimed_until.lt(now)))
        .order(messages::id.asc())
        .limit(limit)
        .select(messages::id);
    let ids: Vec<i64> = match conn {
        DbConnection::Postgresql(c) => due.for_update().skip_locked().load(c)?,
        DbConnection::Sqlite(c) => due.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(messages::table.filter(messages::id.eq_any(&ids)))
        .set(messages::claimed_until.eq(until))
        .execute(conn)?;
    Ok(messages::table
        .inner_join(guests::table)
        .filter(messages::id.eq_any(&ids))
        .order(messages::id.asc())
        .select((Message::as_select(), guests::channel, guests::address))
        .load(conn)?)
}

/// Records a send the channel accepted: `sent`, with the channel's message id.
pub fn mark_sent(
    conn: &mut DbConnection,
    id: i64,
    channel_message_id: Option<&str>,
) -> Result<(), RepoError> {
    diesel::update(messages::table.find(id).filter(messages::delivery_status.eq("pending")))
        .set((
            messages::delivery_status.eq("sent"),
            messages::channel_message_id.eq(channel_message_id),
            messages::attempts.eq(messages::attempts + 1),
            messages::last_error.eq(None::<String>),
            messages::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: due again at `retry_at`, or `failed` when `retry_at` is `None`.
pub fn mark_attempt_failed(
    conn: &mut DbConnection,
    id: i64,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> Result<(), RepoError> {
    let status = if retry_at.is_some() { "pending" } else { "failed" };
    diesel::update(messages::table.find(id).filter(messages::delivery_status.eq("pending")))
        .set((
            messages::delivery_status.eq(status),
            messages::attempts.eq(messages::attempts + 1),
            messages::last_error.eq(error),
            messages::next_attempt_at.eq(retry_at),
            messages::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives a claimed message back untouched (pacing: it goes out on a later pass).
pub fn unclaim(conn: &mut DbConnection, id: i64, not_before: NaiveDateTime) -> Result<(), RepoError> {
    diesel::update(messages::table.find(id))
        .set((messages::claimed_until.eq(None::<NaiveDateTime>), messages::next_attempt_at.eq(not_before)))
        .execute(conn)?;
    Ok(())
}

/// Fails the guest's other pending messages on the channel (the rest of a turn to a recipient
/// that cannot be reached). Returns how many.
pub fn drop_pending(conn: &mut DbConnection, guest_id: i64, error: &str) -> Result<usize, RepoError> {
    Ok(diesel::update(
        messages::table
            .filter(messages::guest_id.eq(guest_id))
            .filter(messages::delivery_status.eq("pending")),
    )
    .set((
        messages::delivery_status.eq("failed"),
        messages::last_error.eq(error),
        messages::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// The statuses a status may follow: delivery moves forward only (`failed` ends a message that
/// was not yet delivered).
fn earlier_than(status: &str) -> &'static [&'static str] {
    match status {
        "sent" => &["pending"],
        "delivered" => &["pending", "sent"],
        "read" => &["pending", "sent", "delivered"],
        "failed" => &["pending", "sent"],
        _ => &[],
    }
}

/// Applies a delivery status to the outbound message with this channel id, when it moves the
/// message forward; returns the message when it did.
pub fn apply_status(
    conn: &mut DbConnection,
    channel_message_id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<Option<Message>, RepoError> {
    let n = diesel::update(
        messages::table
            .filter(messages::channel.eq("whatsapp"))
            .filter(messages::channel_message_id.eq(channel_message_id))
            .filter(messages::delivery_status.eq_any(earlier_than(status))),
    )
    .set((messages::delivery_status.eq(status), messages::last_error.eq(error)))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(messages::table
        .filter(messages::channel.eq("whatsapp"))
        .filter(messages::channel_message_id.eq(channel_message_id))
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

/// `(pending outbound messages, failed ones)` on a channel.
pub fn outbox_backlog(conn: &mut DbConnection, channel: &str) -> Result<(i64, i64), RepoError> {
    let pending: i64 = messages::table
        .filter(messages::channel.eq(channel))
        .filter(messages::delivery_status.eq("pending"))
        .count()
        .get_result(conn)?;
    let failed: i64 = messages::table
        .filter(messages::channel.eq(channel))
        .filter(messages::delivery_status.eq("failed"))
        .count()
        .get_result(conn)?;
    Ok((pending, failed))
}

/// Outbound messages on a channel by delivery status (`pending`, `sent`, `delivered`, `read`,
/// `failed`).
pub fn outbound_by_status(conn: &mut DbConnection, channel: &str) -> Result<Vec<(String, i64)>, RepoError> {
    Ok(messages::table
        .filter(messages::channel.eq(channel))
        .filter(messages::sender.ne("guest"))
        .group_by(messages::delivery_status)
        .select((messages::delivery_status, diesel::dsl::count_star()))
        .load(conn)?)
}
