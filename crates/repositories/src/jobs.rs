//! Job leases and run records. A job runs in one replica at a time: the replica whose conditional
//! update takes the lease (free, or expired) runs it; the others skip it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_booking::JobRun;
use models::schema::job_runs;

use crate::{DbConnection, RepoError};

/// Makes sure the job has a row (idempotent; call outside a transaction).
pub fn ensure(conn: &mut DbConnection, name: &str) -> Result<(), RepoError> {
    match diesel::insert_into(job_runs::table)
        .values((job_runs::name.eq(name), job_runs::runs.eq(0_i64)))
        .execute(conn)
    {
        Ok(_) => Ok(()),
        Err(e) => match RepoError::from(e) {
            RepoError::UniqueViolation { .. } => Ok(()),
            other => Err(other),
        },
    }
}

/// Takes the lease when it is free or expired and the job is due (its last run finished before
/// `due_before`). Returns true when this replica now holds it.
pub fn claim(
    conn: &mut DbConnection,
    name: &str,
    owner: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    due_before: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(
        job_runs::table
            .filter(job_runs::name.eq(name))
            .filter(job_runs::lease_until.is_null().or(job_runs::lease_until.lt(now)))
            .filter(job_runs::last_finished_at.is_null().or(job_runs::last_finished_at.le(due_before))),
    )
    .set((
        job_runs::lease_owner.eq(owner),
        job_runs::lease_until.eq(lease_until),
        job_runs::last_started_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records the outcome and releases the lease held by `owner`.
pub fn finish(
    conn: &mut DbConnection,
    name: &str,
    owner: &str,
    outcome: &str,
    error: Option<&str>,
    items: i64,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    diesel::update(job_runs::table.filter(job_runs::name.eq(name)).filter(job_runs::lease_owner.eq(owner)))
        .set((
            job_runs::lease_owner.eq(None::<String>),
            job_runs::lease_until.eq(None::<NaiveDateTime>),
            job_runs::last_finished_at.eq(now),
            job_runs::last_outcome.eq(outcome),
            job_runs::last_error.eq(error),
            job_runs::last_items.eq(items),
            job_runs::runs.eq(job_runs::runs + 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every job's record, by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<JobRun>, RepoError> {
    Ok(job_runs::table.order(job_runs::name.asc()).select(JobRun::as_select()).load(conn)?)
}
