//! The conversations' jobs.

use chrono::NaiveDateTime;
use services::{ServiceError, Services};

/// Clears the search state of conversations idle for `conversation.idle_hours`.
pub async fn clear_idle(s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
    services::conversations::clear_idle(&s.desk, now, s.desk.rules.conversation_idle).await
}
