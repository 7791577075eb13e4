//! The gateway's running totals and rate-limit rings (migration `000011_gateway_counters`): what
//! a decision and an alert need, kept as requests are decided and settled, so that no call reads
//! the project's history row by row.
//!
//! - **Rate rings**: per project and window (60, 3600, 86400 s) the times of the last N
//!   admissions, N the policy's limit. An admission takes the slot N positions back, and only if
//!   that admission is at least a window old (a conditional upsert): at most N in any window,
//!   exactly, however many calls race (the head row's lock orders them).
//! - **Hourly and daily totals** per project (admitted, rejected; executed, charged, charged²)
//!   and per user (charged), and **what a project has used** (providers, models, hours, agents).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use models::schema::rate_slots;

use crate::stmt::Stmt;
use crate::{DbConnection, RepoError};

/// A project's rate limits; 0 leaves a window unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per minute.
    pub per_minute: u32,
    /// Requests per hour.
    pub per_hour: u32,
    /// Requests per day.
    pub per_day: u32,
}

/// The window whose limit refused an admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// 60 seconds.
    Minute,
    /// 3,600 seconds.
    Hour,
    /// 86,400 seconds.
    Day,
}

impl Window {
    /// `minute`, `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    pub(crate) fn secs(self) -> i32 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }
}

/// Takes an admission in each limited window of the project, or names the first window whose
/// limit is reached. Run it in a savepoint: a refusal leaves the head moved, and the caller rolls
/// it back.
pub fn take_rate(
    conn: &mut DbConnection,
    project_id: i64,
    limits: RateLimits,
    now: NaiveDateTime,
) -> Result<Option<Window>, RepoError> {
    let windows =
        [(Window::Minute, limits.per_minute), (Window::Hour, limits.per_hour), (Window::Day, limits.per_day)];
    if windows.iter().all(|(_, n)| *n == 0) {
        return Ok(None);
    }
    let now = to_micros(now);
    let bump = |conn: &mut DbConnection| -> Result<Vec<Head>, diesel::result::Error> {
        Stmt::new(
            "UPDATE rate_heads SET minute_next = minute_next + 1, hour_next = hour_next + 1, \
             day_next = day_next + 1 WHERE project_id = ? RETURNING minute_next, hour_next, day_next",
        )
        .int(project_id)
        .load(conn)
    };
    let mut heads = bump(conn)?;
    if heads.is_empty() {
        Stmt::new("INSERT INTO rate_heads (project_id) VALUES (?) ON CONFLICT DO NOTHING")
            .int(project_id)
            .execute(conn)?;
        heads = bump(conn)?;
    }
    let Some(head) = heads.pop() else { return Err(RepoError::NotFound) };
    // One upsert takes the slot N positions back in every limited window, each only if free.
    let wanted: Vec<(Window, i64)> = windows
        .into_iter()
        .zip([head.minute_next, head.hour_next, head.day_next])
        .filter(|((_, limit), _)| *limit > 0)
        .map(|((w, limit), next)| (w, (next - 1).rem_euclid(i64::from(limit))))
        .collect();
    // One of seven texts (which windows are limited), each prepared once per connection.
    const UPSERT: [&str; 4] = [
        "",
        "INSERT INTO rate_slots (project_id, window_secs, slot, taken_at, free_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (project_id, window_secs, slot) DO UPDATE SET taken_at = excluded.taken_at, \
         free_at = excluded.free_at WHERE rate_slots.free_at <= excluded.taken_at",
        "INSERT INTO rate_slots (project_id, window_secs, slot, taken_at, free_at) VALUES (?, ?, ?, ?, ?), \
         (?, ?, ?, ?, ?) ON CONFLICT (project_id, window_secs, slot) DO UPDATE SET taken_at = excluded.taken_at, \
         free_at = excluded.free_at WHERE rate_slots.free_at <= excluded.taken_at",
        "INSERT INTO rate_slots (project_id, window_secs, slot, taken_at, free_at) VALUES (?, ?, ?, ?, ?), \
         (?, ?, ?, ?, ?), (?, ?, ?, ?, ?) ON CONFLICT (project_id, window_secs, slot) DO UPDATE SET \
         taken_at = excluded.taken_at, free_at = excluded.free_at WHERE rate_slots.free_at <= excluded.taken_at",
    ];
    let mut query = Stmt::new(UPSERT[wanted.len()]);
    for (w, slot) in &wanted {
        let free = now + chrono::Duration::seconds(i64::from(w.secs()));
        query = query.int(project_id).int4(w.secs()).int(*slot).time(now).time(free);
    }
    let taken = query.execute(conn)?;
    if taken == wanted.len() {
        return Ok(None);
    }
    // Refused: the window whose slot was not free keeps its older time (the shortest one, should
    // every slot read back as taken now).
    for (w, slot) in &wanted {
        let at: NaiveDateTime =
            rate_slots::table.find((project_id, w.secs(), *slot)).select(rate_slots::taken_at).first(conn)?;
        if at != now {
            return Ok(Some(*w));
        }
    }
    Ok(wanted.first().map(|(w, _)| *w))
}

/// What an executed call created at `created_at` marks as used (its provider, `provider/model`
/// and hour of the day, in that order), with its day and hour keys.
pub(crate) fn seen_of(
    created_at: NaiveDateTime,
    provider: &str,
    model: &str,
) -> ([String; 3], String, String) {
    let provider = provider.trim().to_ascii_lowercase();
    let model = format!("{provider}/{}", model.trim().to_ascii_lowercase());
    let hour_of_day = chrono::Timelike::hour(&created_at).to_string();
    ([provider, model, hour_of_day], day_key(created_at), hour_key(created_at))
}

/// `t` to the microsecond, as PostgreSQL keeps it, so a slot's time reads back equal.
pub(crate) fn to_micros(t: NaiveDateTime) -> NaiveDateTime {
    chrono::Timelike::with_nanosecond(&t, chrono::Timelike::nanosecond(&t) / 1000 * 1000).unwrap_or(t)
}

/// Makes the project's rate-limit head row if it is missing (idempotent; outside a transaction,
/// before a call that takes places in one statement).
pub fn ensure_head(conn: &mut DbConnection, project_id: i64) -> Result<(), RepoError> {
    Stmt::new("INSERT INTO rate_heads (project_id) VALUES (?) ON CONFLICT DO NOTHING")
        .int(project_id)
        .execute(conn)?;
    Ok(())
}

/// A project's rate-limit head: the next position of each window's ring.
#[derive(diesel::QueryableByName)]
pub(crate) struct Head {
    #[diesel(sql_type = BigInt)]
    pub(crate) minute_next: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) hour_next: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) day_next: i64,
}

/// `YYYY-MM-DDTHH` of a UTC time: the key of the hourly totals.
pub fn hour_key(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H").to_string()
}

/// `YYYY-MM-DD` of a UTC time: the key of the daily totals.
pub fn day_key(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Counts a decided request in its project's hour: admitted (executing or waiting for review) or
/// rejected.
pub fn decided(
    conn: &mut DbConnection,
    project_id: i64,
    hour: &str,
    rejected: bool,
) -> Result<(), RepoError> {
    let (a, r) = if rejected { (0_i64, 1_i64) } else { (1, 0) };
    count_decided(conn, project_id, hour, a, r)
}

/// Adds `admitted` and `rejected` requests to a project's hour (a batch's, or one).
pub fn count_decided(
    conn: &mut DbConnection,
    project_id: i64,
    hour: &str,
    admitted: i64,
    rejected: i64,
) -> Result<(), RepoError> {
    Stmt::new(
        "INSERT INTO project_hours (project_id, hour, admitted, rejected) VALUES (?, ?, ?, ?) \
         ON CONFLICT (project_id, hour) DO UPDATE SET admitted = project_hours.admitted + excluded.admitted, \
         rejected = project_hours.rejected + excluded.rejected",
    )
    .int(project_id)
    .text(hour)
    .int(admitted)
    .int(rejected)
    .execute(conn)?;
    Ok(())
}

/// Counts an executed request: its project's day (executed, charged, charged²), its user's hour
/// (charged), and what the project used (provider, model, hour of the day) as seen that day.
/// (On PostgreSQL the settlement keeps them in its one statement, `admission::record_executed`.)
pub fn executed(
    conn: &mut DbConnection,
    project_id: i64,
    user_id: i64,
    created_at: NaiveDateTime,
    provider: &str,
    model: &str,
    charged: i64,
) -> Result<(), RepoError> {
    let day = day_key(created_at);
    let hour = hour_key(created_at);
    let sq = (charged as f64) * (charged as f64);
    let ([provider, model, hour_of_day], _, _) = seen_of(created_at, provider, model);
    Stmt::new(
        "INSERT INTO project_days (project_id, day, executed, charged, charged_sq) VALUES (?, ?, 1, ?, ?) \
         ON CONFLICT (project_id, day) DO UPDATE SET executed = project_days.executed + 1, \
         charged = project_days.charged + excluded.charged, charged_sq = project_days.charged_sq + excluded.charged_sq",
    )
    .int(project_id)
    .text(&day)
    .int(charged)
    .float(sq)
    .execute(conn)?;
    Stmt::new(
        "INSERT INTO user_hours (user_id, hour, charged) VALUES (?, ?, ?) \
         ON CONFLICT (user_id, hour) DO UPDATE SET charged = user_hours.charged + excluded.charged",
    )
    .int(user_id)
    .text(&hour)
    .int(charged)
    .execute(conn)?;
    Stmt::new(
        "INSERT INTO project_seen (project_id, kind, value, last_day) VALUES (?, 'provider', ?, ?), \
         (?, 'model', ?, ?), (?, 'hour', ?, ?) \
         ON CONFLICT (project_id, kind, value) DO UPDATE SET last_day = excluded.last_day",
    )
    .int(project_id)
    .text(provider)
    .text(&day)
    .int(project_id)
    .text(model)
    .text(&day)
    .int(project_id)
    .text(hour_of_day)
    .text(&day)
    .execute(conn)?;
    Ok(())
}

/// Notes that an agent has made a request.
pub fn agent_seen(
    conn: &mut DbConnection,
    project_id: i64,
    agent_id: i64,
    day: &str,
) -> Result<(), RepoError> {
    Stmt::new(
        "INSERT INTO project_seen (project_id, kind, value, last_day) VALUES (?, 'agent', ?, ?) \
         ON CONFLICT (project_id, kind, value) DO UPDATE SET last_day = excluded.last_day",
    )
    .int(project_id)
    .text(agent_id.to_string())
    .text(day)
    .execute(conn)?;
    Ok(())
}
