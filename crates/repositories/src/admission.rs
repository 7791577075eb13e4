//! What the gateway reads to decide a call and to settle it, each in one statement of small rows
//! (the project, its owner's account, policy, budget and usage; the recent totals), whatever the
//! project's history.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Timestamp};
use models::rows::Project;

use crate::stmt::Stmt;
use crate::{DbConnection, RepoError};

/// A project with its owner's account, its policy, budget and this period's usage, and the
/// platform's policy: everything a decision reads besides the price and the recent totals.
#[derive(Debug, QueryableByName)]
pub struct Snapshot {
    #[diesel(sql_type = BigInt)]
    project_id: i64,
    #[diesel(sql_type = Text)]
    project_public_id: String,
    /// The project's owner.
    #[diesel(sql_type = BigInt)]
    pub project_owner: i64,
    #[diesel(sql_type = Text)]
    project_name: String,
    #[diesel(sql_type = Text)]
    project_description: String,
    #[diesel(sql_type = Timestamp)]
    project_created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    project_updated_at: NaiveDateTime,
    /// The caller's account status (`active`, …).
    #[diesel(sql_type = Text)]
    pub user_status: String,
    /// Whether the caller's account is verified.
    #[diesel(sql_type = Bool)]
    pub user_verified: bool,
    /// The caller's balance (micro-USDC).
    #[diesel(sql_type = BigInt)]
    pub user_balance: i64,
    /// What the caller has reserved.
    #[diesel(sql_type = BigInt)]
    pub user_reserved: i64,
    /// The project's policy document.
    #[diesel(sql_type = Nullable<Text>)]
    pub policy: Option<String>,
    /// The platform's policy document.
    #[diesel(sql_type = Nullable<Text>)]
    pub system: Option<String>,
    /// The project's budget: per request, daily, monthly (`None` when it has none).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub per_request: Option<i64>,
    /// See `per_request`.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub daily: Option<i64>,
    /// See `per_request`.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub monthly: Option<i64>,
    /// What the project used today (`None`: the day's row is missing).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub used_day: Option<i64>,
    /// What the project used this month (`None`: the month's row is missing).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub used_month: Option<i64>,
    /// What the caller used of the platform's daily cap today (`None`: the row is missing).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub user_used_day: Option<i64>,
}

impl Snapshot {
    /// The project.
    pub fn project(&self) -> Project {
        Project {
            id: self.project_id,
            public_id: self.project_public_id.clone(),
            user_id: self.project_owner,
            name: self.project_name.clone(),
            description: self.project_description.clone(),
            created_at: self.project_created_at,
            updated_at: self.project_updated_at,
        }
    }
}

/// The snapshot of project `project` (public id) for the call of user `user_id` on `day`
/// (`YYYY-MM-DD`) of `month` (`YYYY-MM`); `None` when there is no such project or user. The
/// project may be another user's: the caller checks the owner.
pub fn snapshot(
    conn: &mut DbConnection,
    project: &str,
    user_id: i64,
    day: &str,
    month: &str,
) -> Result<Option<Snapshot>, RepoError> {
    const SQL: &str =
        "SELECT p.id AS project_id, p.public_id AS project_public_id, p.user_id AS project_owner, \
        p.name AS project_name, p.description AS project_description, p.created_at AS project_created_at, \
        p.updated_at AS project_updated_at, u.status AS user_status, u.verified AS user_verified, \
        u.balance AS user_balance, u.reserved AS user_reserved, pp.document AS policy, \
        (SELECT s.document FROM system_policy s WHERE s.id = 1) AS system, \
        b.per_request AS per_request, b.daily AS daily, b.monthly AS monthly, \
        ud.used AS used_day, um.used AS used_month, uu.used AS user_used_day \
        FROM projects p \
        JOIN users u ON u.id = ? \
        LEFT JOIN project_policies pp ON pp.project_id = p.id \
        LEFT JOIN project_budgets b ON b.project_id = p.id \
        LEFT JOIN project_usage ud ON ud.project_id = p.id AND ud.period = ? \
        LEFT JOIN project_usage um ON um.project_id = p.id AND um.period = ? \
        LEFT JOIN user_usage uu ON uu.user_id = u.id AND uu.period = ? \
        WHERE p.public_id = ?";
    Ok(Stmt::new(SQL).int(user_id).text(day).text(month).text(day).text(project).first(conn)?)
}

/// One row of [`history`]: `tag` says which total it is.
#[derive(Debug, QueryableByName)]
struct HistoryRow {
    #[diesel(sql_type = Text)]
    tag: String,
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = Text)]
    v: String,
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
    #[diesel(sql_type = Double)]
    c: f64,
}

/// A project's recent totals, as [`history`] reads them.
#[derive(Debug, Default)]
pub struct History {
    /// `(hour, admitted, rejected)` from `since_hour` on.
    pub hours: Vec<(String, i64, i64)>,
    /// Executed requests, their charges and the sum of the charges' squares from `since_day`.
    pub executed: i64,
    /// See `executed`.
    pub charged: i64,
    /// See `executed`.
    pub charged_sq: f64,
    /// `(kind, value)` the project used since `since_day` (agents whenever).
    pub seen: Vec<(String, String)>,
}

/// The project's hourly admissions from `since_hour`, its daily totals of executed requests from
/// `since_day`, and what it has used since then: one statement over the running totals (at most
/// 25 hourly rows, 31 daily rows and the distinct providers, models, hours and agents).
pub fn history(
    conn: &mut DbConnection,
    project_id: i64,
    since_hour: &str,
    since_day: &str,
) -> Result<History, RepoError> {
    const SQL: &str = "SELECT 'h' AS tag, hour AS k, '' AS v, admitted AS a, rejected AS b, \
        CAST(0 AS DOUBLE PRECISION) AS c FROM project_hours WHERE project_id = ? AND hour >= ? \
        UNION ALL SELECT 'd', '', '', CAST(COALESCE(SUM(executed), 0) AS BIGINT), \
        CAST(COALESCE(SUM(charged), 0) AS BIGINT), CAST(COALESCE(SUM(charged_sq), 0) AS DOUBLE PRECISION) \
        FROM project_days WHERE project_id = ? AND day >= ? \
        UNION ALL SELECT 's', kind, value, CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS DOUBLE PRECISION) \
        FROM project_seen WHERE project_id = ? AND (last_day >= ? OR kind = 'agent')";
    let rows: Vec<HistoryRow> = Stmt::new(SQL)
        .int(project_id)
        .text(since_hour)
        .int(project_id)
        .text(since_day)
        .int(project_id)
        .text(since_day)
        .load(conn)?;
    let mut out = History::default();
    for r in rows {
        match r.tag.as_str() {
            "h" => out.hours.push((r.k, r.a, r.b)),
            "d" => {
                out.executed = r.a;
                out.charged = r.b;
                out.charged_sq = r.c;
            }
            _ => out.seen.push((r.k, r.v)),
        }
    }
    Ok(out)
}

/// What a settlement reads back in one statement: the public ids its receipt names, and what the
/// alert thresholds look at (the project's budget and usage, the owner's balance and deposits,
/// the owner's charges this hour and in the 24 hours before).
#[derive(Debug, QueryableByName)]
pub struct Settled {
    /// `prj_…`.
    #[diesel(sql_type = Text)]
    pub project: String,
    /// The project's name.
    #[diesel(sql_type = Text)]
    pub project_name: String,
    /// `agt_…` of the request's agent.
    #[diesel(sql_type = Nullable<Text>)]
    pub agent: Option<String>,
    /// The project's daily budget (`None`: the default).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub daily: Option<i64>,
    /// The project's monthly budget (`None`: the default).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub monthly: Option<i64>,
    /// Used today.
    #[diesel(sql_type = BigInt)]
    pub used_day: i64,
    /// Used this month.
    #[diesel(sql_type = BigInt)]
    pub used_month: i64,
    /// The owner's balance.
    #[diesel(sql_type = BigInt)]
    pub balance: i64,
    /// Everything the owner has deposited.
    #[diesel(sql_type = BigInt)]
    pub deposited: i64,
    /// The owner's charges for requests made this hour.
    #[diesel(sql_type = BigInt)]
    pub this_hour: i64,
    /// The owner's charges for requests made in the 24 hours before this one.
    #[diesel(sql_type = BigInt)]
    pub hours_before: i64,
}

/// The [`Settled`] view of a request of `user_id` in project `project_id` (agent `agent_id`),
/// read at hour `hour` (`YYYY-MM-DDTHH`) with `day_before` the hour 24 hours earlier.
#[allow(clippy::too_many_arguments)]
pub fn settled(
    conn: &mut DbConnection,
    user_id: i64,
    project_id: i64,
    agent_id: Option<i64>,
    day: &str,
    month: &str,
    hour: &str,
    day_before: &str,
) -> Result<Option<Settled>, RepoError> {
    const SQL: &str = "SELECT p.public_id AS project, p.name AS project_name, \
        (SELECT a.public_id FROM agents a WHERE a.id = ?) AS agent, \
        b.daily AS daily, b.monthly AS monthly, \
        CAST(COALESCE(ud.used, 0) AS BIGINT) AS used_day, CAST(COALESCE(um.used, 0) AS BIGINT) AS used_month, \
        u.balance AS balance, u.deposited AS deposited, \
        CAST(COALESCE((SELECT SUM(h.charged) FROM user_hours h WHERE h.user_id = u.id AND h.hour = ?), 0) AS BIGINT) AS this_hour, \
        CAST(COALESCE((SELECT SUM(h.charged) FROM user_hours h WHERE h.user_id = u.id AND h.hour >= ? AND h.hour < ?), 0) AS BIGINT) AS hours_before \
        FROM projects p \
        JOIN users u ON u.id = ? \
        LEFT JOIN project_budgets b ON b.project_id = p.id \
        LEFT JOIN project_usage ud ON ud.project_id = p.id AND ud.period = ? \
        LEFT JOIN project_usage um ON um.project_id = p.id AND um.period = ? \
        WHERE p.id = ?";
    Ok(Stmt::new(SQL)
        .maybe_int(agent_id)
        .text(hour)
        .text(day_before)
        .text(hour)
        .int(user_id)
        .text(day)
        .text(month)
        .int(project_id)
        .first(conn)?)
}
