//! Reserving money before an AI call and settling it after (SPEC §4.2 steps 12 and 14).
//!
//! A reservation moves `amount` into the user's `reserved` (only while `balance − reserved`
//! covers it) and adds it to the project's day and month usage and the user's day usage (only
//! while each stays within its limit), all conditional updates in the caller's transaction: concurrent requests can never
//! overspend the balance or a budget. Settlement charges the actual amount and releases the rest.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::schema::{project_usage, user_usage, users};

use crate::{ledger, DbConnection, RepoError};

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

fn add_usage(
    conn: &mut DbConnection,
    project_id: i64,
    period: &str,
    amount: i64,
    limit: i64,
) -> Result<bool, RepoError> {
    let n = diesel::update(
        project_usage::table
            .filter(project_usage::project_id.eq(project_id))
            .filter(project_usage::period.eq(period))
            .filter((project_usage::used + amount).le(limit)),
    )
    .set(project_usage::used.eq(project_usage::used + amount))
    .execute(conn)?;
    Ok(n == 1)
}

/// Reserves `amount` for a request; `Ok(Err(refusal))` when the balance or a budget does not
/// cover it (the caller rolls back its transaction). Writes a `reserve` ledger row.
pub fn reserve(
    conn: &mut DbConnection,
    user_id: i64,
    project_id: i64,
    periods: &Periods,
    amount: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<Result<(), Refusal>, RepoError> {
    let n = diesel::update(users::table.find(user_id).filter((users::balance - users::reserved).ge(amount)))
        .set(users::reserved.eq(users::reserved + amount))
        .execute(conn)?;
    if n == 0 {
        return Ok(Err(Refusal::Balance));
    }
    if !add_usage(conn, project_id, &periods.day, amount, periods.daily_limit)? {
        return Ok(Err(Refusal::Daily));
    }
    if !add_usage(conn, project_id, &periods.month, amount, periods.monthly_limit)? {
        return Ok(Err(Refusal::Monthly));
    }
    let n = diesel::update(
        user_usage::table
            .filter(user_usage::user_id.eq(user_id))
            .filter(user_usage::period.eq(&periods.day))
            .filter((user_usage::used + amount).le(periods.user_daily_limit)),
    )
    .set(user_usage::used.eq(user_usage::used + amount))
    .execute(conn)?;
    if n == 0 {
        return Ok(Err(Refusal::SystemDaily));
    }
    ledger::record(conn, user_id, "reserve", amount, reference, now)?;
    Ok(Ok(()))
}

/// Settles a reservation: charges `actual` (≤ reserved) and releases the rest from the user's
/// reserved amount and the project's usage. `actual = 0` releases everything (a failed call).
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
    let n = diesel::update(
        users::table.find(user_id).filter(users::reserved.ge(reserved)).filter(users::balance.ge(actual)),
    )
    .set((users::reserved.eq(users::reserved - reserved), users::balance.eq(users::balance - actual)))
    .execute(conn)?;
    if n == 0 {
        return Err(RepoError::CheckViolation("the reservation is not held".into()));
    }
    let unused = reserved - actual;
    if unused > 0 {
        for period in [&periods.day, &periods.month] {
            diesel::update(
                project_usage::table
                    .filter(project_usage::project_id.eq(project_id))
                    .filter(project_usage::period.eq(period)),
            )
            .set(project_usage::used.eq(project_usage::used - unused))
            .execute(conn)?;
        }
        diesel::update(
            user_usage::table
                .filter(user_usage::user_id.eq(user_id))
                .filter(user_usage::period.eq(&periods.day)),
        )
        .set(user_usage::used.eq(user_usage::used - unused))
        .execute(conn)?;
    }
    ledger::record(conn, user_id, "release", -reserved, reference, now)?;
    if actual > 0 {
        ledger::record(conn, user_id, "charge", -actual, reference, now)?;
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
