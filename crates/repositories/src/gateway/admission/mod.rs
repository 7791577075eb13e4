//! The gateway's hot path in the database. What it reads to decide a call and to settle it, each
//! in one statement of small rows (the project, its owner's account, policy, budget and usage;
//! the recent totals), whatever the project's history; and its two writes, the approved call's
//! admission ([`record_approved`]) and the answered call's settlement ([`record_executed`]), each
//! one statement on PostgreSQL.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Timestamp};
use models::rows::Project;

use models::ids::ordered_id;
use models::rows::NewAuditEvent;
use models::rows_spend::{AiRequest, NewAiRequest, RequestPayment};
use models::spend::{PaymentStatus, RequestStatus};

use crate::gateway::counters::{self, RateLimits, Window};
use crate::gateway::reservations::{self, Periods, Refusal};
use crate::stmt::Stmt;
use crate::{audit, gateway::requests, DbConnection, RepoError};

mod batch;
pub use batch::{admit_all, settle_all};
pub use batch::{Admit, Settle, SettleResult};

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
    /// Whether the project's rate-limit head row exists (made on its first limited call).
    #[diesel(sql_type = Bool)]
    pub rate_head: bool,
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
        ud.used AS used_day, um.used AS used_month, uu.used AS user_used_day, \
        EXISTS (SELECT 1 FROM rate_heads rh WHERE rh.project_id = p.id) AS rate_head \
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
#[derive(Clone, Debug, QueryableByName)]
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

/// An approved call's admission, ready to write: its request row, payment, audit events, and
/// what it takes (rate-limit places, money, the hour's count).
#[derive(Debug)]
pub struct Approved<'a> {
    /// The request row (status `executing`).
    pub request: &'a NewAiRequest,
    /// The payment's public id (`pay_…`); the payment reserves the request's `estimated`.
    pub payment: &'a str,
    /// The decision's and the reservation's audit events, in order.
    pub events: &'a [NewAuditEvent<'a>; 2],
    /// The project's rate limits.
    pub limits: RateLimits,
    /// The periods and limits the money counts against.
    pub periods: &'a Periods,
    /// The hour (`YYYY-MM-DDTHH`) whose admitted count it adds to.
    pub hour: &'a str,
    /// When.
    pub now: NaiveDateTime,
}

/// Why [`record_approved`] recorded nothing: what refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// A rate-limit window is full.
    Rate(Window),
    /// The balance or a budget does not cover the amount.
    Money(Refusal),
}

/// Records an approved admission and takes what it holds, in the caller's transaction: the
/// request, its payment and audit events, then, last, the rows other calls of the project wait
/// for (the rate-limit places, the money, the hour's count). `Ok(Err(held))` when a rate-limit
/// window or the money refused: the caller must roll back what was written. On PostgreSQL all of
/// it is one statement (one round trip); on SQLite the statements run one by one.
pub fn record_approved(
    conn: &mut DbConnection,
    a: &Approved<'_>,
) -> Result<Result<AiRequest, Held>, RepoError> {
    if let DbConnection::Postgresql(_) = conn {
        return record_approved_in_one(conn, a);
    }
    let r = a.request;
    let row = requests::insert(conn, r)?;
    requests::insert_payment(
        conn,
        a.payment,
        row.id,
        r.user_id,
        PaymentStatus::Reserved,
        r.estimated,
        a.now,
    )?;
    audit::insert_all(conn, a.events)?;
    let money = Some((r.user_id, a.periods, r.estimated, r.public_id.as_str()));
    Ok(take(conn, r.project_id, a.limits, money, a.now, a.hour)?.map(|()| row))
}

/// Takes an admission's holds, statement by statement: the project's places in its rate-limit
/// windows (when `limits` has any), `money` = `(user, periods, amount, reference)` reserved
/// (when given) and the admission counted in `hour`. A refusal part-way leaves its earlier
/// writes for the caller to roll back.
pub fn take(
    conn: &mut DbConnection,
    project_id: i64,
    limits: RateLimits,
    money: Option<(i64, &Periods, i64, &str)>,
    now: NaiveDateTime,
    hour: &str,
) -> Result<Result<(), Held>, RepoError> {
    if let Some(w) = counters::take_rate(conn, project_id, limits, now)? {
        return Ok(Err(Held::Rate(w)));
    }
    if let Some((user_id, periods, amount, reference)) = money {
        if let Err(refusal) =
            reservations::reserve(conn, user_id, project_id, periods, amount, reference, now)?
        {
            return Ok(Err(Held::Money(refusal)));
        }
    }
    counters::decided(conn, project_id, hour, false)?;
    Ok(Ok(()))
}

/// [`record_approved`] as one statement of data-modifying `WITH` queries (PostgreSQL). What each
/// conditional part matched names the refusal, in the order of the statements one by one.
fn record_approved_in_one(
    conn: &mut DbConnection,
    a: &Approved<'_>,
) -> Result<Result<AiRequest, Held>, RepoError> {
    let r = a.request;
    let now = counters::to_micros(a.now);
    let amount = r.estimated;
    let limited = [a.limits.per_minute, a.limits.per_hour, a.limits.per_day];
    let mut stmt = Stmt::new(
        "WITH h AS (UPDATE rate_heads SET minute_next = minute_next + 1, hour_next = hour_next + 1, \
         day_next = day_next + 1 WHERE project_id = ? AND ? RETURNING minute_next, hour_next, day_next), \
         s AS (INSERT INTO rate_slots (project_id, window_secs, slot, taken_at, free_at) \
         SELECT ?, w.secs, (CASE w.secs WHEN 60 THEN h.minute_next WHEN 3600 THEN h.hour_next \
         ELSE h.day_next END - 1) % w.lim, ?, ? + w.secs * INTERVAL '1 second' \
         FROM h CROSS JOIN (VALUES (60, ?), (3600, ?), (86400, ?)) AS w (secs, lim) WHERE w.lim > 0 \
         ON CONFLICT (project_id, window_secs, slot) DO UPDATE SET taken_at = excluded.taken_at, \
         free_at = excluded.free_at WHERE rate_slots.free_at <= excluded.taken_at RETURNING window_secs), \
         u AS (UPDATE users SET reserved = reserved + ? WHERE id = ? AND balance - reserved >= ? \
         RETURNING id, balance, reserved), \
         p AS (UPDATE project_usage SET used = used + ? WHERE project_id = ? \
         AND ((period = ? AND used + ? <= ?) OR (period = ? AND used + ? <= ?)) RETURNING period), \
         d AS (UPDATE user_usage SET used = used + ? WHERE user_id = ? AND period = ? AND used + ? <= ? RETURNING 1), \
         l AS (INSERT INTO ledger_entries (public_id, user_id, kind, amount, balance_after, reserved_after, \
         reference, note, created_at) SELECT ?, id, 'reserve', ?, balance, reserved, ?, '', ? FROM u RETURNING 1), \
         c AS (INSERT INTO project_hours (project_id, hour, admitted, rejected) VALUES (?, ?, 1, 0) \
         ON CONFLICT (project_id, hour) DO UPDATE SET admitted = project_hours.admitted + 1 RETURNING 1), \
         r AS (INSERT INTO ai_requests (public_id, user_id, project_id, agent_id, provider, model, operation, \
         status, outcome, reason, tier, risk_score, decision, body, estimated, day, month, fingerprint, \
         idempotency_key, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id), \
         m AS (INSERT INTO request_payments (public_id, request_id, user_id, status, estimated, created_at, \
         updated_at) SELECT ?, id, ?, 'reserved', ?, ?, ? FROM r RETURNING 1), \
         e AS (INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
         subject_id, request_id, details, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), \
         (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING 1) \
         SELECT (SELECT id FROM r) AS id, (SELECT count(*) FROM h) AS heads, \
         (SELECT count(*) FROM s WHERE window_secs = 60) AS minute, \
         (SELECT count(*) FROM s WHERE window_secs = 3600) AS hour, \
         (SELECT count(*) FROM s WHERE window_secs = 86400) AS day, \
         (SELECT count(*) FROM u) AS users, (SELECT count(*) FROM p WHERE period = ?) AS day_usage, \
         (SELECT count(*) FROM p WHERE period = ?) AS month_usage, (SELECT count(*) FROM d) AS user_day, \
         (SELECT count(*) FROM l) + (SELECT count(*) FROM c) + (SELECT count(*) FROM m) \
         + (SELECT count(*) FROM e) AS written",
    )
    // The rate-limit places.
    .int(r.project_id)
    .flag(limited.iter().any(|l| *l > 0))
    .int(r.project_id)
    .time(now)
    .time(now)
    .int(i64::from(a.limits.per_minute))
    .int(i64::from(a.limits.per_hour))
    .int(i64::from(a.limits.per_day))
    // The money.
    .int(amount)
    .int(r.user_id)
    .int(amount)
    .int(amount)
    .int(r.project_id)
    .text(&a.periods.day)
    .int(amount)
    .int(a.periods.daily_limit)
    .text(&a.periods.month)
    .int(amount)
    .int(a.periods.monthly_limit)
    .int(amount)
    .int(r.user_id)
    .text(&a.periods.day)
    .int(amount)
    .int(a.periods.user_daily_limit)
    .text(ordered_id("led"))
    .int(amount)
    .text(&r.public_id)
    .time(a.now)
    // The hour's count.
    .int(r.project_id)
    .text(a.hour);
    // The request, its payment and its events.
    stmt = requests::bind_new(stmt, r).text(a.payment).int(r.user_id).int(amount).time(a.now).time(a.now);
    for event in a.events {
        stmt = audit::bind_new(stmt, event);
    }
    let got: Option<InOne> = stmt.text(&a.periods.day).text(&a.periods.month).first(conn)?;
    let Some(got) = got else { return Err(RepoError::NotFound) };
    let wanted = limited.iter().filter(|l| **l > 0).count();
    if wanted > 0 && got.heads == 0 {
        // The head row is made before the call (`counters::ensure_head`); without it nothing was
        // taken.
        return Err(RepoError::NotFound);
    }
    for (window, limit, taken) in [
        (Window::Minute, a.limits.per_minute, got.minute),
        (Window::Hour, a.limits.per_hour, got.hour),
        (Window::Day, a.limits.per_day, got.day),
    ] {
        if limit > 0 && taken == 0 {
            return Ok(Err(Held::Rate(window)));
        }
    }
    let refusal = if got.users == 0 {
        Some(Refusal::Balance)
    } else if got.day_usage == 0 {
        Some(Refusal::Daily)
    } else if got.month_usage == 0 {
        Some(Refusal::Monthly)
    } else if got.user_day == 0 {
        Some(Refusal::SystemDaily)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        return Ok(Err(Held::Money(refusal)));
    }
    let (Some(id), 5) = (got.id, got.written) else { return Err(RepoError::NotFound) };
    Ok(Ok(requests::stored(id, r)))
}

/// What [`record_approved_in_one`] matched and wrote.
#[derive(QueryableByName)]
struct InOne {
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    heads: i64,
    #[diesel(sql_type = BigInt)]
    minute: i64,
    #[diesel(sql_type = BigInt)]
    hour: i64,
    #[diesel(sql_type = BigInt)]
    day: i64,
    #[diesel(sql_type = BigInt)]
    users: i64,
    #[diesel(sql_type = BigInt)]
    day_usage: i64,
    #[diesel(sql_type = BigInt)]
    month_usage: i64,
    #[diesel(sql_type = BigInt)]
    user_day: i64,
    #[diesel(sql_type = BigInt)]
    written: i64,
}

/// An answered call's settlement, ready to write.
#[derive(Debug)]
pub struct Executed<'a> {
    /// The request as admitted (`executing`).
    pub request: &'a AiRequest,
    /// What the provider call produced (`charged` is what the settlement charges).
    pub finish: &'a requests::Finish<'a>,
    /// What the provider's usage cost (may exceed the reservation; the charge stops at it).
    pub actual: i64,
    /// The settlement's audit event.
    pub event: &'a NewAuditEvent<'a>,
    /// When.
    pub now: NaiveDateTime,
}

/// How [`record_executed`] ended.
#[derive(Debug)]
pub enum Settlement {
    /// Settled: `executing → executed`, the money charged and released, the totals kept; the
    /// request's payment as settled.
    Settled(Option<RequestPayment>),
    /// The request was no longer executing (released meanwhile): nothing was written.
    Released,
}

/// Settles an answered call in the caller's transaction: finishes the request
/// (`executing → executed`), audits it, settles its payment, charges `finish.charged` of the
/// reservation and releases the rest, and adds it to the running totals (the project's day, the
/// user's hour, what the project used). On PostgreSQL one statement (one round trip); on SQLite
/// the statements one by one.
pub fn record_executed(conn: &mut DbConnection, x: &Executed<'_>) -> Result<Settlement, RepoError> {
    let r = x.request;
    let charged = x.finish.charged.clamp(0, r.estimated);
    let reference = (charged > 0).then(|| format!("ledger:{}", r.public_id));
    let periods = Periods {
        day: r.day.clone(),
        month: r.month.clone(),
        daily_limit: 0,
        monthly_limit: 0,
        user_daily_limit: 0,
    };
    if let DbConnection::Sqlite(_) = conn {
        if !requests::finish(conn, r.id, RequestStatus::Executed, x.finish, x.now)? {
            return Ok(Settlement::Released);
        }
        audit::insert_all(conn, std::slice::from_ref(x.event))?;
        let payment = requests::settle_payment(
            conn,
            r.id,
            PaymentStatus::Committed,
            charged,
            x.actual,
            reference.as_deref(),
            x.now,
        )?;
        reservations::settle(
            conn,
            r.user_id,
            r.project_id,
            &periods,
            r.estimated,
            charged,
            &r.public_id,
            x.now,
        )?;
        counters::executed(conn, r.project_id, r.user_id, r.created_at, &r.provider, &r.model, charged)?;
        return Ok(Settlement::Settled(payment));
    }
    let unused = r.estimated - charged;
    let (seen, day, hour) = counters::seen_of(r.created_at, &r.provider, &r.model);
    let mut stmt = Stmt::new(
        "WITH f AS (UPDATE ai_requests SET status = 'executed', charged = ?, input_tokens = ?, output_tokens = ?, \
         latency_ms = ?, response = ?, error = ?, updated_at = ? WHERE id = ? AND status = 'executing' RETURNING id), \
         e AS (INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
         subject_id, request_id, details, result) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM f RETURNING 1), \
         m AS (UPDATE request_payments SET status = 'committed', amount = ?, actual = ?, variance = estimated - ?, \
         tx_reference = ?, updated_at = ? WHERE request_id IN (SELECT id FROM f) RETURNING *), \
         u AS (UPDATE users SET reserved = reserved - ?, balance = balance - ? \
         WHERE id = ? AND reserved >= ? AND balance >= ? AND EXISTS (SELECT 1 FROM f) RETURNING id, balance, reserved), \
         p AS (UPDATE project_usage SET used = used - ? WHERE ? > 0 AND project_id = ? AND period IN (?, ?) \
         AND EXISTS (SELECT 1 FROM u) RETURNING 1), \
         d AS (UPDATE user_usage SET used = used - ? WHERE ? > 0 AND user_id = ? AND period = ? \
         AND EXISTS (SELECT 1 FROM u) RETURNING 1), \
         l AS (INSERT INTO ledger_entries (public_id, user_id, kind, amount, balance_after, reserved_after, \
         reference, note, created_at) \
         SELECT ?, id, 'release', ?, balance, reserved, ?, '', ? FROM u \
         UNION ALL SELECT ?, id, 'charge', ?, balance, reserved, ?, '', ? FROM u WHERE ? > 0 RETURNING 1), \
         t AS (INSERT INTO project_days (project_id, day, executed, charged, charged_sq) \
         SELECT ?, ?, 1, ?, ? FROM f ON CONFLICT (project_id, day) DO UPDATE SET \
         executed = project_days.executed + 1, charged = project_days.charged + excluded.charged, \
         charged_sq = project_days.charged_sq + excluded.charged_sq RETURNING 1), \
         h AS (INSERT INTO user_hours (user_id, hour, charged) SELECT ?, ?, ? FROM f \
         ON CONFLICT (user_id, hour) DO UPDATE SET charged = user_hours.charged + excluded.charged RETURNING 1), \
         s AS (INSERT INTO project_seen (project_id, kind, value, last_day) \
         SELECT ?, v.kind, v.value, ? FROM f CROSS JOIN (VALUES ('provider', ?), ('model', ?), ('hour', ?)) \
         AS v (kind, value) ON CONFLICT (project_id, kind, value) DO UPDATE SET last_day = excluded.last_day \
         RETURNING 1) \
         SELECT (SELECT count(*) FROM f) AS finished, (SELECT count(*) FROM u) AS users, \
         (SELECT count(*) FROM l) AS ledger, (SELECT count(*) FROM e) + (SELECT count(*) FROM t) \
         + (SELECT count(*) FROM h) + (SELECT count(*) FROM s) AS totals, \
         m.id, m.public_id, m.request_id, m.user_id, m.amount, m.currency, m.rail, m.tx_reference, m.status, \
         m.estimated, m.actual, m.variance, m.created_at, m.updated_at \
         FROM (SELECT 1 AS one) AS one LEFT JOIN m ON TRUE",
    )
    // Finish.
    .int(charged)
    .int(x.finish.input_tokens)
    .int(x.finish.output_tokens)
    .maybe_int(x.finish.latency_ms)
    .maybe_text(x.finish.response)
    .maybe_text(x.finish.error)
    .time(x.now)
    .int(r.id);
    stmt = audit::bind_new(stmt, x.event)
        // The payment.
        .int(charged)
        .int(x.actual)
        .int(x.actual)
        .maybe_text(reference.as_deref())
        .time(x.now)
        // The money.
        .int(r.estimated)
        .int(charged)
        .int(r.user_id)
        .int(r.estimated)
        .int(charged)
        .int(unused)
        .int(unused)
        .int(r.project_id)
        .text(&periods.day)
        .text(&periods.month)
        .int(unused)
        .int(unused)
        .int(r.user_id)
        .text(&periods.day)
        .text(ordered_id("led"))
        .int(-r.estimated)
        .text(&r.public_id)
        .time(x.now)
        .text(ordered_id("led"))
        .int(-charged)
        .text(&r.public_id)
        .time(x.now)
        .int(charged)
        // The totals.
        .int(r.project_id)
        .text(&day)
        .int(charged)
        .float((charged as f64) * (charged as f64))
        .int(r.user_id)
        .text(&hour)
        .int(charged)
        .int(r.project_id)
        .text(&day);
    for value in seen {
        stmt = stmt.text(value);
    }
    let Some(got) = stmt.first::<ExecutedInOne>(conn)? else { return Err(RepoError::NotFound) };
    if got.finished == 0 {
        return Ok(Settlement::Released);
    }
    let entries = if charged > 0 { 2 } else { 1 };
    if got.users != 1 || got.ledger != entries {
        return Err(RepoError::CheckViolation("the reservation is not held".into()));
    }
    // The event, the day, the hour, and the three things used.
    if got.totals != 6 {
        return Err(RepoError::NotFound);
    }
    Ok(Settlement::Settled(got.payment()))
}

/// What [`record_executed`]'s one statement matched and wrote, and the payment as settled.
#[derive(QueryableByName)]
struct ExecutedInOne {
    #[diesel(sql_type = BigInt)]
    finished: i64,
    #[diesel(sql_type = BigInt)]
    users: i64,
    #[diesel(sql_type = BigInt)]
    ledger: i64,
    #[diesel(sql_type = BigInt)]
    totals: i64,
    #[diesel(embed)]
    payment: PaymentColumns,
}

impl ExecutedInOne {
    /// The payment, when the request had one.
    fn payment(self) -> Option<RequestPayment> {
        self.payment.payment()
    }
}

/// A settled payment's columns, read beside a statement's counts (all `NULL` when there is
/// none).
#[derive(QueryableByName)]
pub(super) struct PaymentColumns {
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    public_id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    request_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    amount: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    rail: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tx_reference: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<PaymentStatus>,
    #[diesel(sql_type = Nullable<BigInt>)]
    estimated: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    actual: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    variance: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    updated_at: Option<NaiveDateTime>,
}

impl PaymentColumns {
    /// The payment, when there is one.
    pub(super) fn payment(self) -> Option<RequestPayment> {
        Some(RequestPayment {
            id: self.id?,
            public_id: self.public_id?,
            request_id: self.request_id?,
            user_id: self.user_id?,
            amount: self.amount?,
            currency: self.currency?,
            rail: self.rail?,
            tx_reference: self.tx_reference,
            status: self.status?,
            estimated: self.estimated?,
            actual: self.actual?,
            variance: self.variance?,
            created_at: self.created_at?,
            updated_at: self.updated_at?,
        })
    }
}
