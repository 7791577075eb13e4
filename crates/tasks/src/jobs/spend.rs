//! The spend gateway's jobs.

use chrono::NaiveDateTime;
use services::{ServiceError, Services};

/// Releases AI reservations whose request never settled.
pub async fn release_reservations(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    services::gateway::release_stale(&s.db, now, s.spend.stale_after).await
}

/// Delivers due alert webhooks.
pub async fn deliver_webhooks(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    services::gateway::alerts::deliver_due(&s.db, &s.spend, now).await
}
