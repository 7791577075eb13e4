//! The booking desk's jobs.

use chrono::NaiveDateTime;
use services::{desk, ServiceError, Services};

/// Expires pending bookings whose hold lapsed.
pub async fn expire_holds(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    desk::bookings::expire_lapsed(&s.desk, now).await
}

/// Completes confirmed bookings whose stay ended.
pub async fn complete_stays(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    desk::bookings::complete_finished(&s.desk, now).await
}

/// Reminds admins of proofs waiting too long.
pub async fn review_reminders(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    desk::payments::remind_reviews(&s.desk, now).await
}

/// Delivers pending notifications on outside channels.
pub async fn deliver_messages(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    services::outbox::deliver_due(&s.desk, now).await
}
