//! Notifications: each guest-facing event becomes a bot message in the guest's conversation,
//! written in the transaction of the change it announces. For web guests that is the delivery
//! (`GET /api/v1/chat/history`); for guests on an outside channel the message waits as `pending`
//! in the outbox until [`crate::outbox::deliver_due`] hands it to the channel's
//! [`crate::ports::MessageSender`]. Admin-facing events go to the admins' inbox.

use models::booking::{MessageSender, Money, Shift};
use models::ids::public_id;
use models::rows_booking::{AdminNotification, Booking, NewAdminNotification, NewMessage, Property};
use repositories::{guests as repo, DbConnection, Page, RepoError};

use super::{Caller, Desk};
use crate::{with_conn, ServiceError};

/// A message to the guest of `booking`.
pub fn guest(conn: &mut DbConnection, booking: &Booking, text: String) -> Result<(), RepoError> {
    let channel = repo::by_id(conn, booking.guest_id)?.channel;
    let delivery_status = if channel == "web" { "delivered" } else { "pending" };
    repo::insert_message(
        conn,
        &NewMessage {
            public_id: public_id("msg"),
            guest_id: booking.guest_id,
            sender: MessageSender::Bot.as_str().into(),
            channel,
            text,
            payload: Some(serde_json::json!({"type": "booking_update", "booking": booking.reference, "status": booking.status}).to_string()),
            delivery_status: delivery_status.into(),
            created_at: models::time::now(),
            channel_message_id: None,
            reply_to: None,
            processed_at: Some(models::time::now()),
            wire: None,
        },
    )
}

/// An entry in the admins' inbox.
pub fn admins(
    conn: &mut DbConnection,
    kind: &str,
    booking_ref: Option<&str>,
    text: String,
) -> Result<(), RepoError> {
    repo::insert_admin_notification(
        conn,
        &NewAdminNotification {
            public_id: public_id("ntf"),
            kind: kind.into(),
            text,
            booking_ref: booking_ref.map(str::to_string),
            created_at: models::time::now(),
        },
    )
}

/// "Farm Name, 2026-12-05 Full Night".
pub fn describe(booking: &Booking, property: &Property) -> String {
    let shift = booking.shift.parse::<Shift>().map(Shift::label).unwrap_or("");
    format!("{}, {} {}", property.name, booking.date, shift)
}

/// Formats an amount of the booking's currency.
pub fn money(amount: i64, currency: &str) -> String {
    Money::new(amount, currency).display()
}

/// The admins' inbox, newest first (admins only).
pub async fn inbox(
    desk: &Desk,
    caller: &Caller,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<AdminNotification>, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden("admins only".into()));
    }
    with_conn(&desk.db, move |conn| Ok(repo::admin_notifications(conn, Page { limit, before })?)).await
}
