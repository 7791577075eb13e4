//! Rows of the WhatsApp channel: the inbox of webhook events.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::whatsapp_inbox;

/// What a webhook event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A guest's or an admin's message.
    Message,
    /// A delivery status of an outbound message.
    Status,
    /// A system error not tied to a message.
    Error,
}

impl EventKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Status => "status",
            EventKind::Error => "error",
        }
    }
}

/// A stored webhook event.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = whatsapp_inbox)]
pub struct InboxEvent {
    /// Internal key (arrival order).
    pub id: i64,
    /// The message id, `{message id}:{status}` for a status, `error:{hash}` for an error.
    pub event_key: String,
    /// `message`, `status` or `error`.
    pub kind: String,
    /// The event as received, with its contact and metadata (JSON).
    pub payload: String,
    /// When the webhook stored it.
    pub received_at: NaiveDateTime,
    /// Processing attempts so far.
    pub attempts: i32,
    /// A worker holds it until then.
    pub claimed_until: Option<NaiveDateTime>,
    /// When it was processed (`None`: due).
    pub processed_at: Option<NaiveDateTime>,
    /// The last processing error.
    pub last_error: Option<String>,
}

/// A new webhook event.
#[derive(Clone, Debug, PartialEq, Insertable)]
#[diesel(table_name = whatsapp_inbox)]
pub struct NewInboxEvent {
    /// See [`InboxEvent::event_key`].
    pub event_key: String,
    /// See [`InboxEvent::kind`].
    pub kind: String,
    /// See [`InboxEvent::payload`].
    pub payload: String,
    /// Arrival.
    pub received_at: NaiveDateTime,
}
