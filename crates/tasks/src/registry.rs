//! Every scheduled job: its stable name, how often it runs, and the adapter that runs it.

use chrono::{Duration, NaiveDateTime};
use services::{ServiceError, Services};

use crate::jobs::{booking, conversations, spend};

/// A scheduled job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Expire pending bookings whose hold lapsed (every minute).
    ExpireHolds,
    /// Complete confirmed bookings whose stay ended (every 10 minutes).
    CompleteStays,
    /// Remind admins of proofs waiting too long (every 5 minutes).
    ReviewReminders,
    /// Deliver pending outbox messages on outside channels (every 10 seconds).
    DeliverMessages,
    /// Release AI reservations whose request never settled (every scheduler tick).
    ReleaseReservations,
    /// Deliver due alert webhooks (every 10 seconds).
    DeliverWebhooks,
    /// Clear the search state of idle conversations (every 10 minutes).
    ClearIdleConversations,
}

impl Job {
    /// Every job, in the order a scheduler tick runs them.
    pub const ALL: [Job; 7] = [
        Job::ExpireHolds,
        Job::CompleteStays,
        Job::ReviewReminders,
        Job::DeliverMessages,
        Job::ReleaseReservations,
        Job::DeliverWebhooks,
        Job::ClearIdleConversations,
    ];

    /// Stable name (the key of its run record).
    pub fn name(self) -> &'static str {
        match self {
            Job::ExpireHolds => "expire_holds",
            Job::CompleteStays => "complete_stays",
            Job::ReviewReminders => "review_reminders",
            Job::DeliverMessages => "deliver_messages",
            Job::ReleaseReservations => "release_reservations",
            Job::DeliverWebhooks => "deliver_webhooks",
            Job::ClearIdleConversations => "clear_idle_conversations",
        }
    }

    /// How often it runs; the stale-reservation release runs on every scheduler tick
    /// (`jobs.tick_secs`), so a reservation is freed within a tick of its bound.
    pub fn interval(self, s: &Services) -> Duration {
        match self {
            Job::ExpireHolds => Duration::seconds(60),
            Job::CompleteStays | Job::ClearIdleConversations => Duration::minutes(10),
            Job::ReviewReminders => Duration::minutes(5),
            Job::DeliverMessages | Job::DeliverWebhooks => Duration::seconds(10),
            Job::ReleaseReservations => {
                Duration::from_std(s.spend.release_every).unwrap_or(Duration::seconds(15))
            }
        }
    }

    /// Runs it once at `now`; returns how many items it handled.
    pub async fn run(self, s: &Services, now: NaiveDateTime) -> Result<usize, ServiceError> {
        match self {
            Job::ExpireHolds => booking::expire_holds(s, now).await,
            Job::CompleteStays => booking::complete_stays(s, now).await,
            Job::ReviewReminders => booking::review_reminders(s, now).await,
            Job::DeliverMessages => booking::deliver_messages(s, now).await,
            Job::ReleaseReservations => spend::release_reservations(s, now).await,
            Job::DeliverWebhooks => spend::deliver_webhooks(s, now).await,
            Job::ClearIdleConversations => conversations::clear_idle(s, now).await,
        }
    }
}
