//! Notifications: each guest-facing event becomes a bot message in the guest's conversation,
//! written in the transaction of the change it announces. For web guests that is the delivery
//! (`GET /api/v1/chat/history`); for guests on an outside channel the message waits as `pending`
//! in this outbox until [`deliver_pending`] hands it to the channel's
//! [`crate::ports::MessageSender`]. Admin-facing
//! events go to the admins' inbox.

use models::booking::{MessageSender, Money, Shift};
use models::ids::public_id;
use models::rows_booking::{AdminNotification, Booking, NewAdminNotification, NewMessage, Property};
use repositories::{guests as repo, DbConnection, Page, RepoError};

use super::{Caller, Desk};
use crate::{with_conn, ServiceError};

/// Attempts before an undeliverable message is marked `failed`.
pub const MAX_DELIVERY_ATTEMPTS: i32 = 5;

/// Hands pending outbox messages to the sender of their channel. Messages of a channel without
/// a sender stay pending. Returns how many were sent.
pub async fn deliver_pending(desk: &Desk) -> Result<usize, ServiceError> {
    let batch = with_conn(&desk.db, |conn| Ok(repo::outbox(conn, 100)?)).await?;
    let mut sent = 0;
    for (message, channel, address) in batch {
        let Some(sender) = desk.senders.iter().find(|s| s.channel() == channel) else { continue };
        let result = match address.as_deref() {
            Some(a) => sender.send(a, &message.text).await.map_err(|e| e.to_string()),
            None => Err("the guest has no address on this channel".to_string()),
        };
        if result.is_ok() {
            sent += 1;
        }
        let id = message.id;
        with_conn(&desk.db, move |conn| {
            Ok(repo::mark_delivery(conn, id, result.err().as_deref(), MAX_DELIVERY_ATTEMPTS)?)
        })
        .await?;
    }
    Ok(sent)
}

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
