//! Conversations and their turns: the row with the agent's state, the turn lease that lets one
//! replica at a time take a conversation's turns, and the inbound messages waiting in arrival
//! order.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::conversation::{Conversation, ConversationMode, ConversationState, NewConversation};
use models::rows_booking::{Guest, Message, NewMessage};
use models::schema::{conversations, guests, messages};

use crate::{DbConnection, Page, RepoError};

/// The stored form of "no pending question".
const NO_QUESTION: &str = r#"{"awaiting":"nothing"}"#;

/// The guest's conversation, created on first use (the unique guest key settles races).
pub fn ensure(
    conn: &mut DbConnection,
    guest_id: i64,
    channel: &str,
    public_id: &str,
    now: NaiveDateTime,
) -> Result<Conversation, RepoError> {
    if let Some(c) = for_guest(conn, guest_id)? {
        return Ok(c);
    }
    let new = NewConversation {
        public_id: public_id.into(),
        guest_id,
        channel: channel.into(),
        created_at: now,
        updated_at: now,
    };
    // In a savepoint: on PostgreSQL a failed insert would otherwise abort the caller's
    // transaction, and the race's loser must still read the winner's row.
    let inserted =
        crate::write_tx(conn, |c| diesel::insert_into(conversations::table).values(&new).execute(c));
    match inserted {
        Ok(_) => {}
        Err(e) => match RepoError::from(e) {
            RepoError::UniqueViolation { .. } => {}
            other => return Err(other),
        },
    }
    for_guest(conn, guest_id)?.ok_or(RepoError::NotFound)
}

/// The guest's conversation, if any.
pub fn for_guest(conn: &mut DbConnection, guest_id: i64) -> Result<Option<Conversation>, RepoError> {
    Ok(conversations::table
        .filter(conversations::guest_id.eq(guest_id))
        .select(Conversation::as_select())
        .first(conn)
        .optional()?)
}

/// A conversation by public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<Conversation, RepoError> {
    Ok(conversations::table
        .filter(conversations::public_id.eq(public_id))
        .select(Conversation::as_select())
        .first(conn)?)
}

/// A conversation by internal id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<Conversation, RepoError> {
    Ok(conversations::table.find(id).select(Conversation::as_select()).first(conn)?)
}

/// Writes the state a turn produced.
pub fn save_state(conn: &mut DbConnection, id: i64, state: &ConversationState) -> Result<(), RepoError> {
    diesel::update(conversations::table.find(id)).set(state).execute(conn)?;
    Ok(())
}

/// Sets who answers; `needs_human` follows (a human looking, or the bot back in charge).
pub fn set_mode(
    conn: &mut DbConnection,
    id: i64,
    mode: ConversationMode,
    needs_human: bool,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    diesel::update(conversations::table.find(id))
        .set((
            conversations::mode.eq(mode),
            conversations::needs_human.eq(needs_human),
            conversations::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Flags the conversation for an admin.
pub fn flag(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), RepoError> {
    diesel::update(conversations::table.find(id))
        .set((conversations::needs_human.eq(true), conversations::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Records a guest message's arrival time.
pub fn touch_inbound(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), RepoError> {
    diesel::update(conversations::table.find(id))
        .set((conversations::last_inbound_at.eq(now), conversations::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Takes the conversation's turn lease for `owner` until `until`, if it is free or lapsed (or
/// already this owner's). Whoever holds it processes the conversation's waiting messages.
pub fn take_turn(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(
        conversations::table.find(id).filter(
            conversations::turn_owner
                .is_null()
                .or(conversations::turn_until.lt(now))
                .or(conversations::turn_owner.eq(owner)),
        ),
    )
    .set((conversations::turn_owner.eq(owner), conversations::turn_until.eq(until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives the lease back (only the owner can).
pub fn release_turn(conn: &mut DbConnection, id: i64, owner: &str) -> Result<(), RepoError> {
    diesel::update(conversations::table.find(id).filter(conversations::turn_owner.eq(owner)))
        .set((
            conversations::turn_owner.eq(None::<String>),
            conversations::turn_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Appends a message and returns it.
pub fn insert_message(conn: &mut DbConnection, new: &NewMessage) -> Result<Message, RepoError> {
    diesel::insert_into(messages::table).values(new).execute(conn)?;
    Ok(messages::table
        .filter(messages::public_id.eq(&new.public_id))
        .select(Message::as_select())
        .first(conn)?)
}

/// The oldest guest message of the guest still waiting for its turn.
pub fn next_waiting(conn: &mut DbConnection, guest_id: i64) -> Result<Option<Message>, RepoError> {
    Ok(messages::table
        .filter(messages::guest_id.eq(guest_id))
        .filter(messages::sender.eq("guest"))
        .filter(messages::processed_at.is_null())
        .order(messages::id.asc())
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a guest message processed (compare-and-swap: once).
pub fn mark_processed(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<bool, RepoError> {
    let n = diesel::update(messages::table.find(id).filter(messages::processed_at.is_null()))
        .set(messages::processed_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// A message by internal id.
pub fn message(conn: &mut DbConnection, id: i64) -> Result<Message, RepoError> {
    Ok(messages::table.find(id).select(Message::as_select()).first(conn)?)
}

/// The reply to a guest message, once its turn has run.
pub fn reply_of(conn: &mut DbConnection, message_id: i64) -> Result<Option<Message>, RepoError> {
    Ok(messages::table
        .filter(messages::reply_to.eq(message_id))
        .order(messages::id.asc())
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

/// The latest `n` messages of a guest, oldest first (the agent's short memory).
pub fn recent(conn: &mut DbConnection, guest_id: i64, n: i64) -> Result<Vec<Message>, RepoError> {
    let mut rows: Vec<Message> = messages::table
        .filter(messages::guest_id.eq(guest_id))
        .order(messages::id.desc())
        .limit(n)
        .select(Message::as_select())
        .load(conn)?;
    rows.reverse();
    Ok(rows)
}

/// Conversations for the admins, newest activity first (`needs_human` first when asked), with
/// their guest.
pub fn list(
    conn: &mut DbConnection,
    mode: Option<ConversationMode>,
    page: Page,
) -> Result<Vec<(Conversation, Guest)>, RepoError> {
    let mut q = conversations::table
        .inner_join(guests::table)
        .select((Conversation::as_select(), Guest::as_select()))
        .order(conversations::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(conversations::id.lt(before));
    }
    if let Some(mode) = mode {
        q = q.filter(conversations::mode.eq(mode));
    }
    Ok(q.load(conn)?)
}

/// The latest message of a guest.
pub fn last_message(conn: &mut DbConnection, guest_id: i64) -> Result<Option<Message>, RepoError> {
    Ok(messages::table
        .filter(messages::guest_id.eq(guest_id))
        .order(messages::id.desc())
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

/// Clears the search state of conversations whose guest has been quiet since `before` (SPEC §7);
/// messages, bookings and the mode stay. Returns how many were cleared.
pub fn clear_idle(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, RepoError> {
    Ok(diesel::update(
        conversations::table.filter(conversations::last_inbound_at.lt(before)).filter(
            conversations::facts
                .ne("{}")
                .or(conversations::summary.ne(""))
                .or(conversations::dialogue.ne(NO_QUESTION))
                .or(conversations::identity.ne("{}")),
        ),
    )
    .set((
        conversations::facts.eq("{}"),
        conversations::summary.eq(""),
        conversations::dialogue.eq(NO_QUESTION),
        conversations::identity.eq("{}"),
        conversations::current_booking_id.eq(None::<i64>),
        conversations::updated_at.eq(now),
    ))
    .execute(conn)?)
}
