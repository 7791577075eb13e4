//! The desk's background jobs and their run records. Each job is idempotent; the lease in
//! `job_runs` makes one replica run it at a time (on SQLite there is one process anyway).

use chrono::{Duration, NaiveDateTime};
use models::rows_booking::JobRun;
use repositories::jobs as repo;

use super::{bookings, payments, Desk};
use crate::{with_conn, ServiceError};

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
    /// Every job.
    pub const ALL: [Job; 7] = [
        Job::ExpireHolds,
        Job::CompleteStays,
        Job::ReviewReminders,
        Job::DeliverMessages,
        Job::ReleaseReservations,
        Job::DeliverWebhooks,
        Job::ClearIdleConversations,
    ];

    /// Stable name.
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
    pub fn interval(self, desk: &Desk) -> Duration {
        match self {
            Job::ExpireHolds => Duration::seconds(60),
            Job::CompleteStays | Job::ClearIdleConversations => Duration::minutes(10),
            Job::ReviewReminders => Duration::minutes(5),
            Job::DeliverMessages | Job::DeliverWebhooks => Duration::seconds(10),
            Job::ReleaseReservations => {
                Duration::from_std(desk.spend.release_every).unwrap_or(Duration::seconds(15))
            }
        }
    }

    /// Runs it once at `now`; returns how many items it handled.
    pub async fn run(self, desk: &Desk, now: NaiveDateTime) -> Result<usize, ServiceError> {
        match self {
            Job::ExpireHolds => bookings::expire_lapsed(desk, now).await,
            Job::CompleteStays => bookings::complete_finished(desk, now).await,
            Job::ReviewReminders => payments::remind_reviews(desk, now).await,
            Job::DeliverMessages => super::notify::deliver_pending(desk).await,
            Job::ReleaseReservations => {
                crate::requests::release_stale(&desk.db, now, desk.spend.stale_after).await
            }
            Job::DeliverWebhooks => crate::alerts::deliver_due(&desk.db, &desk.spend, now).await,
            Job::ClearIdleConversations => {
                crate::conversations::clear_idle(desk, now, desk.rules.conversation_idle).await
            }
        }
    }
}

/// How long a claimed lease lasts (a crashed replica's job is taken over after this).
pub const LEASE: i64 = 300;

/// Runs every due job whose lease this replica (`owner`) can take. Returns the jobs it ran.
pub async fn run_due(
    desk: &Desk,
    owner: &str,
    now: NaiveDateTime,
) -> Result<Vec<(Job, Result<usize, String>)>, ServiceError> {
    let mut ran = Vec::new();
    for job in Job::ALL {
        let (name, owner_c, interval) = (job.name(), owner.to_string(), job.interval(desk));
        let claimed = with_conn(&desk.db, move |conn| {
            repo::ensure(conn, name)?;
            Ok(repo::claim(conn, name, &owner_c, now, now + Duration::seconds(LEASE), now - interval)?)
        })
        .await?;
        if !claimed {
            continue;
        }
        let result = job.run(desk, now).await;
        let (outcome, error, items) = match &result {
            Ok(n) => ("ok", None, *n as i64),
            Err(e) => ("error", Some(e.to_string()), 0),
        };
        let owner_c = owner.to_string();
        let finished = desk.clock.now().max(now);
        with_conn(&desk.db, move |conn| {
            Ok(repo::finish(conn, name, &owner_c, outcome, error.as_deref(), items, finished)?)
        })
        .await?;
        if let Err(e) = &result {
            tracing::warn!(job = name, error = %e, "job failed");
        }
        ran.push((job, result.map_err(|e| e.to_string())));
    }
    Ok(ran)
}

/// Every job's record (admins).
pub async fn list(desk: &Desk, caller: &super::Caller) -> Result<Vec<JobRun>, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden("only admins see jobs".into()));
    }
    with_conn(&desk.db, |conn| Ok(repo::list(conn)?)).await
}
