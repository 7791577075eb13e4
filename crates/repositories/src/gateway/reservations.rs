//! Reserving money before an AI call and settling it after (SPEC §4.2 steps 12 and 14).
//!
//! A reservation moves `amount` into the user's `reserved` (only while `balance − reserved`
//! covers it) and adds it to the project's day and month usage and the user's day usage (only
//! while each stays within its limit), all conditional updates in the caller's transaction: concurrent requests can never
//! overspend the balance or a budget. Settlement charges the actual amount and releases the rest.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::schema::{project_usage, user_usage};

use crate::stmt::Stmt;
use crate::{gateway::ledger, DbConnection, RepoError};

/// Why a reservation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `balance − reserved` does not cover the amount.
    Balance,
    /// The day's usage would pass the daily limit.
    Daily,
    /// The month's usage would pass the monthly limit.
    Monthly,
    /// The user's spending today would pass the platform's daily cap.
    SystemDaily,
}

/// The periods and limits a reservation counts against.
#[derive(Clone, Debug)]
pub struct Periods {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// UTC month, `YYYY-MM`.
    pub month: String,
    /// Daily limit.
    pub daily_limit: i64,
    /// Monthly limit.
    pub monthly_limit: i64,
    /// The platform's daily cap per user (system policy `max_daily`).
    pub user_daily_limit: i64,
}

/// Creates the usage rows of the periods (the project's day and month, the user's day) if
/// missing (idempotent; call outside a transaction, so that a concurrent insert's unique
/// violation does not abort one on PostgreSQL).
pub fn ensure_periods(
    conn: &mut DbConnection,
    user_id: i64,
    project_id: i64,
    periods: &Periods,
) -> Result<(), RepoError> {
    let ignore_taken = |r: Result<usize, diesel::result::Error>| match r {
        Ok(_) => Ok(()),
        Err(e) => match RepoError::from(e) {
            RepoError::UniqueViolation { .. } => Ok(()),
            other => Err(other),
        },
    };
    for period in [&periods.day, &periods.month] {
        let exists: i64 = project_usage::table
            .filter(project_usage::project_id.eq(project_id))
            .filter(project_usage::period.eq(period))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            ignore_taken(
                diesel::insert_into(project_usage::table)
                    .values((
                        project_usage::project_id.eq(project_id),
                        project_usage::period.eq(period),
                        project_usage::used.eq(0_i64),
                    ))
                    .execute(conn),
            )?;
        }
    }
    let exists: i64 = user_usage::table
        .filter(user_usage::user_id.eq(user_id))
        .filter(user_usage::period.eq(&periods.day))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        ignore_taken(
            diesel::insert_into(user_usage::table)
                .values((
                    user_usage::user_id.eq(user_id),
                    user_usage::period.eq(&periods.day),
                    user_usage::used.eq(0_i64),
                ))
                .execute(conn),
        )?;
    }
    Ok(())
}

/// Reserves `amount` for a request; `Ok(Err(refusal))` when the balance or a budget does not
/// cover it (the caller rolls back its transaction). Writes a `reserve` ledger row. Four
/// statements, each prepared once per connection: the path of an approved review (an approved
/// call's admission reserves inside `admission::record_approved`, one statement on PostgreSQL).
pub fn reserve(
    conn: &mut DbConnection,
    user_id: i64,
    project_id: i64,
    periods: &Periods,
    amount: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<Result<(), Refusal>, RepoError> {
    let n = Stmt::new("UPDATE users SET reserved = reserved + ? WHERE id = ? AND balance - reserved >= ?")
        .int(amount)
        .int(user_id)
        .int(amount)
        .execute(conn)?;
    if n == 0 {
        return Ok(Err(Refusal::Balance));
    }
    // The day and the month in one statement; the periods it moved tell which limit refused.
    let moved: Vec<PeriodRow> = Stmt::new(
        "UPDATE project_usage SET used = used + ? WHERE project_id = ? \
         AND ((period = ? AND used + ? <= ?) OR (period = ? AND used + ? <= ?)) RETURNING period",
    )
    .int(amount)
    .int(project_id)
    .text(&periods.day)
    .int(amount)
    .int(periods.daily_limit)
    .text(&periods.month)
    .int(amount)
    .int(periods.monthly_limit)
    .load(conn)?;
    if !moved.iter().any(|m| m.period == periods.day) {
        return Ok(Err(Refusal::Daily));
    }
    if !moved.iter().any(|m| m.period == periods.month) {
        return Ok(Err(Refusal::Monthly));
    }
    let n =
        Stmt::new("UPDATE user_usage SET used = used + ? WHERE user_id = ? AND period = ? AND used + ? <= ?")
            .int(amount)
            .int(user_id)
            .text(&periods.day)
            .int(amount)
            .int(periods.user_daily_limit)
            .execute(conn)?;
    if n == 0 {
        return Ok(Err(Refusal::SystemDaily));
    }
    ledger::record(conn, user_id, "reserve", amount, reference, now)?;
    Ok(Ok(()))
}

#[derive(QueryableByName)]
struct PeriodRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    period: String,
}

/// Settles a reservation: charges `actual` (≤ reserved) and releases the rest from the user's
/// reserved amount and the project's usage. `actual = 0` releases everything (a failed call).
/// (An answered call settles inside `admission::record_executed`, one statement on PostgreSQL.)
#[allow(clippy::too_many_arguments)]
pub fn settle(
    conn: &mut DbConnection,
    user_id: i64,
    project_id: i64,
    periods: &Periods,
    reserved: i64,
    actual: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    let actual = actual.clamp(0, reserved);
    let n = Stmt::new(
        "UPDATE users SET reserved = reserved - ?, balance = balance - ? \
         WHERE id = ? AND reserved >= ? AND balance >= ?",
    )
    .int(reserved)
    .int(actual)
    .int(user_id)
    .int(reserved)
    .int(actual)
    .execute(conn)?;
    if n == 0 {
        return Err(RepoError::CheckViolation("the reservation is not held".into()));
    }
    let unused = reserved - actual;
    if unused > 0 {
        Stmt::new("UPDATE project_usage SET used = used - ? WHERE project_id = ? AND period IN (?, ?)")
            .int(unused)
            .int(project_id)
            .text(&periods.day)
            .text(&periods.month)
            .execute(conn)?;
        Stmt::new("UPDATE user_usage SET used = used - ? WHERE user_id = ? AND period = ?")
            .int(unused)
            .int(user_id)
            .text(&periods.day)
            .execute(conn)?;
    }
    if actual > 0 {
        ledger::record_pair(conn, user_id, ("release", -reserved), ("charge", -actual), reference, now)?;
    } else {
        ledger::record(conn, user_id, "release", -reserved, reference, now)?;
    }
    Ok(())
}

/// Used amount of a project's period; `None` when its row is missing.
pub fn used_row(conn: &mut DbConnection, project_id: i64, period: &str) -> Result<Option<i64>, RepoError> {
    Ok(project_usage::table
        .filter(project_usage::project_id.eq(project_id))
        .filter(project_usage::period.eq(period))
        .select(project_usage::used)
        .first(conn)
        .optional()?)
}

/// What a user has used of the platform's daily cap on `day`; `None` when its row is missing.
pub fn user_used_row(conn: &mut DbConnection, user_id: i64, day: &str) -> Result<Option<i64>, RepoError> {
    Ok(user_usage::table
        .filter(user_usage::user_id.eq(user_id))
        .filter(user_usage::period.eq(day))
        .select(user_usage::used)
        .first(conn)
        .optional()?)
}

/// Used amount of a project's period.
pub fn used(conn: &mut DbConnection, project_id: i64, period: &str) -> Result<i64, RepoError> {
    Ok(project_usage::table
        .filter(project_usage::project_id.eq(project_id))
        .filter(project_usage::period.eq(period))
        .select(project_usage::used)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}
