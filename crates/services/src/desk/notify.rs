//! Notifications: each guest-facing event becomes a bot message in the guest's conversation (the
//! web chat's delivery; `GET /api/v1/chat/history`), and admin-facing events go to the admins'
//! inbox. Both are written in the transaction of the change they announce.

use models::booking::{MessageSender, Money, Shift};
use models::ids::public_id;
use models::rows_booking::{Booking, NewAdminNotification, NewMessage, Property};
use repositories::{guests as repo, DbConnection, RepoError};

/// A message to the guest of `booking`.
pub fn guest(conn: &mut DbConnection, booking: &Booking, text: String) -> Result<(), RepoError> {
    repo::insert_message(
        conn,
        &NewMessage {
            public_id: public_id("msg"),
            guest_id: booking.guest_id,
            sender: MessageSender::Bot.as_str().into(),
            channel: "web".into(),
            text,
            payload: Some(serde_json::json!({"type": "booking_update", "booking": booking.reference, "status": booking.status}).to_string()),
            delivery_status: "delivered".into(),
            created_at: models::time::now(),
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
