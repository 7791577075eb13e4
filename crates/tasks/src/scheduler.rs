//! The lease runner and the jobs' run records. Each job is idempotent; the lease in `job_runs`
//! makes one replica run it at a time (on SQLite there is one process anyway).

use chrono::{Duration, NaiveDateTime};
use models::rows_booking::JobRun;
use repositories::jobs as repo;
use services::desk::Caller;
use services::{ServiceError, Services};

use crate::registry::Job;

/// How long a claimed lease lasts, in seconds (a crashed replica's job is taken over after this).
pub const LEASE: i64 = 300;

/// Runs every due job whose lease this replica (`owner`) can take. Returns the jobs it ran.
pub async fn run_due(
    s: &Services,
    owner: &str,
    now: NaiveDateTime,
) -> Result<Vec<(Job, Result<usize, String>)>, ServiceError> {
    let mut ran = Vec::new();
    for job in Job::ALL {
        let (name, owner_c, interval, db) = (job.name(), owner.to_string(), job.interval(s), s.db.clone());
        let claimed =
            s.db.run_blocking(move || -> Result<bool, ServiceError> {
                let mut conn = db.conn()?;
                repo::ensure(&mut conn, name)?;
                Ok(repo::claim(
                    &mut conn,
                    name,
                    &owner_c,
                    now,
                    now + Duration::seconds(LEASE),
                    now - interval,
                )?)
            })
            .await?;
        if !claimed {
            continue;
        }
        let result = job.run(s, now).await;
        let (outcome, error, items) = match &result {
            Ok(n) => ("ok", None, *n as i64),
            Err(e) => ("error", Some(e.to_string()), 0),
        };
        let (owner_c, db) = (owner.to_string(), s.db.clone());
        let finished = s.desk.clock.now().max(now);
        s.db.run_blocking(move || -> Result<(), ServiceError> {
            let mut conn = db.conn()?;
            Ok(repo::finish(&mut conn, name, &owner_c, outcome, error.as_deref(), items, finished)?)
        })
        .await?;
        if let Err(e) = &result {
            tracing::warn!(job = name, error = %e, "job failed");
        }
        ran.push((job, result.map_err(|e| e.to_string())));
    }
    Ok(ran)
}

/// Every job's run record (admins).
pub async fn records(db: &repositories::Db, caller: &Caller) -> Result<Vec<JobRun>, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden("only admins see jobs".into()));
    }
    let pool = db.clone();
    db.run_blocking(move || -> Result<Vec<JobRun>, ServiceError> { Ok(repo::list(&mut *pool.conn()?)?) })
        .await
}
