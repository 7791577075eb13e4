//! AI requests, their payments, model prices, alerts and webhook deliveries. State changes are
//! compare-and-swap updates on `status`, so a request is settled, released or reviewed once.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_spend::{AiRequest, Alert, NewAiRequest, RequestPayment, WebhookDelivery};
use models::schema::{
    ai_requests, alerts, projects, request_payments, webhook_deliveries, webhook_endpoints,
};
use models::spend::{Outcome, PaymentStatus, Reason, RequestStatus};
use models::sql::Json;
use serde_json::Value;

use crate::stmt::Stmt;
use crate::{DbConnection, Page, RepoError};

/// Inserts a request; returns it as stored (the fields the insert leaves out at their
/// defaults: nothing charged, no tokens, no answer yet).
pub fn insert(conn: &mut DbConnection, new: &NewAiRequest) -> Result<AiRequest, RepoError> {
    let ids: Vec<IdRow> = bind_new(
        Stmt::new(
            "INSERT INTO ai_requests (public_id, user_id, project_id, agent_id, provider, model, operation, status, \
             outcome, reason, tier, risk_score, decision, body, estimated, day, month, fingerprint, idempotency_key, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        ),
        new,
    )
    .load(conn)?;
    let id = ids.first().map(|r| r.id).ok_or(RepoError::NotFound)?;
    Ok(stored(id, new))
}

/// Binds the 21 columns of a new request, in the order of [`insert`]'s column list.
pub(crate) fn bind_new(stmt: Stmt, new: &NewAiRequest) -> Stmt {
    stmt.text(&new.public_id)
        .int(new.user_id)
        .int(new.project_id)
        .maybe_int(new.agent_id)
        .text(&new.provider)
        .text(&new.model)
        .text(&new.operation)
        .text(new.status.as_str())
        .text(new.outcome.as_str())
        .maybe_text(new.reason.map(Reason::as_str))
        .text(new.tier.as_str())
        .float(new.risk_score)
        .text(new.decision.text())
        .text(new.body.text())
        .int(new.estimated)
        .text(&new.day)
        .text(&new.month)
        .text(&new.fingerprint)
        .maybe_text(new.idempotency_key.as_deref())
        .time(new.created_at)
        .time(new.updated_at)
}

/// The request `new` as stored under `id`: nothing charged, no tokens, no answer yet.
pub(crate) fn stored(id: i64, new: &NewAiRequest) -> AiRequest {
    AiRequest {
        id,
        public_id: new.public_id.clone(),
        user_id: new.user_id,
        project_id: new.project_id,
        agent_id: new.agent_id,
        provider: new.provider.clone(),
        model: new.model.clone(),
        operation: new.operation.clone(),
        status: new.status,
        outcome: new.outcome,
        reason: new.reason,
        tier: new.tier,
        risk_score: new.risk_score,
        decision: new.decision.clone(),
        body: new.body.clone(),
        estimated: new.estimated,
        charged: 0,
        input_tokens: 0,
        output_tokens: 0,
        latency_ms: None,
        response: None,
        error: None,
        day: new.day.clone(),
        month: new.month.clone(),
        fingerprint: new.fingerprint.clone(),
        idempotency_key: new.idempotency_key.clone(),
        created_at: new.created_at,
        updated_at: new.updated_at,
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// The request with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<AiRequest, RepoError> {
    Ok(ai_requests::table
        .filter(ai_requests::public_id.eq(public_id))
        .select(AiRequest::as_select())
        .first(conn)?)
}

/// The request with this internal id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<AiRequest, RepoError> {
    Ok(ai_requests::table.find(id).select(AiRequest::as_select()).first(conn)?)
}

/// Moves a request from `from` to `to`; false when it was not in `from` (someone else moved it).
pub fn transition(
    conn: &mut DbConnection,
    id: i64,
    from: RequestStatus,
    to: RequestStatus,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(ai_requests::table.find(id).filter(ai_requests::status.eq(from)))
        .set((ai_requests::status.eq(to), ai_requests::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Rewrites the decision of a request (a reviewed request refused when it was approved).
pub fn set_decision(
    conn: &mut DbConnection,
    id: i64,
    outcome: Outcome,
    reason: Option<Reason>,
    decision: &Json<Value>,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    diesel::update(ai_requests::table.find(id))
        .set((
            ai_requests::outcome.eq(outcome),
            ai_requests::reason.eq(reason),
            ai_requests::decision.eq(decision),
            ai_requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the provider call produced.
#[derive(Clone, Debug, Default)]
pub struct Finish<'a> {
    /// Charged (actual + fee).
    pub charged: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Latency.
    pub latency_ms: Option<i64>,
    /// Answer JSON.
    pub response: Option<&'a str>,
    /// Failure.
    pub error: Option<&'a str>,
}

/// Finishes an `executing` request as `to` (`executed` or `failed`); false when it was no
/// longer executing.
pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    to: RequestStatus,
    f: &Finish<'_>,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = Stmt::new(
        "UPDATE ai_requests SET status = ?, charged = ?, input_tokens = ?, output_tokens = ?, latency_ms = ?, \
         response = ?, error = ?, updated_at = ? WHERE id = ? AND status = 'executing'",
    )
    .text(to.as_str())
    .int(f.charged)
    .int(f.input_tokens)
    .int(f.output_tokens)
    .maybe_int(f.latency_ms)
    .maybe_text(f.response)
    .maybe_text(f.error)
    .time(now)
    .int(id)
    .execute(conn)?;
    Ok(n == 1)
}

/// Filters of the request list.
#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    /// Owner (`None`: everyone's, for admins).
    pub user_id: Option<i64>,
    /// Project.
    pub project_id: Option<i64>,
    /// Status.
    pub status: Option<String>,
    /// Outcome.
    pub outcome: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// Created at or after.
    pub from: Option<NaiveDateTime>,
    /// Created before.
    pub to: Option<NaiveDateTime>,
}

/// Requests matching `f`, newest first.
pub fn list(conn: &mut DbConnection, f: &RequestFilter, page: Page) -> Result<Vec<AiRequest>, RepoError> {
    let mut q = ai_requests::table.select(AiRequest::as_select()).order(ai_requests::id.desc()).into_boxed();
    if let Some(u) = f.user_id {
        q = q.filter(ai_requests::user_id.eq(u));
    }
    if let Some(p) = f.project_id {
        q = q.filter(ai_requests::project_id.eq(p));
    }
    if let Some(s) = &f.status {
        q = q.filter(ai_requests::status.eq(s.clone()));
    }
    if let Some(o) = &f.outcome {
        q = q.filter(ai_requests::outcome.eq(o.clone()));
    }
    if let Some(p) = &f.provider {
        q = q.filter(ai_requests::provider.eq(p.clone()));
    }
    if let Some(t) = f.from {
        q = q.filter(ai_requests::created_at.ge(t));
    }
    if let Some(t) = f.to {
        q = q.filter(ai_requests::created_at.lt(t));
    }
    if let Some(before) = page.before {
        q = q.filter(ai_requests::id.lt(before));
    }
    Ok(q.limit(page.limit).load(conn)?)
}

/// Every request matching `f` (for reports), oldest first.
pub fn all(conn: &mut DbConnection, f: &RequestFilter) -> Result<Vec<AiRequest>, RepoError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let rows = list(conn, f, Page { limit: 1000, before })?;
        let done = rows.len() < 1000;
        before = rows.last().map(|r| r.id);
        out.extend(rows);
        if done {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// Requests still `executing` whose last change is older than `before`.
pub fn stale(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<AiRequest>, RepoError> {
    Ok(ai_requests::table
        .filter(ai_requests::status.eq(RequestStatus::Executing))
        .filter(ai_requests::updated_at.lt(before))
        .select(AiRequest::as_select())
        .order(ai_requests::id.asc())
        .limit(limit)
        .load(conn)?)
}

/// Creates the payment of a request.
pub fn insert_payment(
    conn: &mut DbConnection,
    public_id: &str,
    request_id: i64,
    user_id: i64,
    status: PaymentStatus,
    estimated: i64,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    Stmt::new(
        "INSERT INTO request_payments (public_id, request_id, user_id, status, estimated, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .text(public_id)
    .int(request_id)
    .int(user_id)
    .text(status.as_str())
    .int(estimated)
    .time(now)
    .time(now)
    .execute(conn)?;
    Ok(())
}

/// Settles the payment of a request: `status`, the `amount` charged, and what the usage cost
/// (`actual`; variance = estimated − actual, negative when the provider produced more than was
/// reserved).
pub fn settle_payment(
    conn: &mut DbConnection,
    request_id: i64,
    status: PaymentStatus,
    amount: i64,
    actual: i64,
    tx_reference: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<RequestPayment>, RepoError> {
    Ok(Stmt::new(
        "UPDATE request_payments SET status = ?, amount = ?, actual = ?, variance = estimated - ?, \
         tx_reference = ?, updated_at = ? WHERE request_id = ? RETURNING *",
    )
    .text(status.as_str())
    .int(amount)
    .int(actual)
    .int(actual)
    .maybe_text(tx_reference)
    .time(now)
    .int(request_id)
    .first(conn)?)
}

/// The payment of a request, if it has one.
pub fn payment_of(conn: &mut DbConnection, request_id: i64) -> Result<Option<RequestPayment>, RepoError> {
    Ok(request_payments::table
        .filter(request_payments::request_id.eq(request_id))
        .select(RequestPayment::as_select())
        .first(conn)
        .optional()?)
}

/// A payment by public id.
pub fn payment_by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<RequestPayment, RepoError> {
    Ok(request_payments::table
        .filter(request_payments::public_id.eq(public_id))
        .select(RequestPayment::as_select())
        .first(conn)?)
}

/// Payments, newest first (`user_id` `None`: everyone's).
pub fn payments(
    conn: &mut DbConnection,
    user_id: Option<i64>,
    status: Option<&str>,
    page: Page,
) -> Result<Vec<RequestPayment>, RepoError> {
    let mut q = request_payments::table
        .select(RequestPayment::as_select())
        .order(request_payments::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(u) = user_id {
        q = q.filter(request_payments::user_id.eq(u));
    }
    if let Some(s) = status {
        q = q.filter(request_payments::status.eq(s.to_string()));
    }
    if let Some(before) = page.before {
        q = q.filter(request_payments::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// The public id of the request a payment belongs to.
pub fn request_public_id(conn: &mut DbConnection, id: i64) -> Result<String, RepoError> {
    Ok(ai_requests::table.find(id).select(ai_requests::public_id).first(conn)?)
}

/// A new alert.
#[derive(Clone, Debug)]
pub struct NewAlert<'a> {
    /// `alr_…`.
    pub public_id: &'a str,
    /// Whose.
    pub user_id: i64,
    /// `prj_…` or `account`.
    pub scope: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Period.
    pub period: &'a str,
    /// Message.
    pub message: &'a str,
    /// JSON.
    pub details: &'a str,
}

/// Stores an alert unless one of the same user, scope, kind and period exists: `true` when it
/// was new. Safe under concurrency (the unique constraint decides, inside a savepoint).
pub fn insert_alert_once(
    conn: &mut DbConnection,
    a: &NewAlert<'_>,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let exists: i64 = alerts::table
        .filter(alerts::user_id.eq(a.user_id))
        .filter(alerts::scope.eq(a.scope))
        .filter(alerts::kind.eq(a.kind))
        .filter(alerts::period.eq(a.period))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    let inserted = conn.transaction(|c| {
        diesel::insert_into(alerts::table)
            .values((
                alerts::public_id.eq(a.public_id),
                alerts::user_id.eq(a.user_id),
                alerts::scope.eq(a.scope),
                alerts::kind.eq(a.kind),
                alerts::period.eq(a.period),
                alerts::message.eq(a.message),
                alerts::details.eq(a.details),
                alerts::created_at.eq(now),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match RepoError::from(e) {
            RepoError::UniqueViolation { .. } => Ok(false),
            other => Err(other),
        },
    }
}

/// A user's alerts (`None`: everyone's), newest first.
pub fn alerts(
    conn: &mut DbConnection,
    user_id: Option<i64>,
    scope: Option<&str>,
    page: Page,
) -> Result<Vec<Alert>, RepoError> {
    let mut q =
        alerts::table.select(Alert::as_select()).order(alerts::id.desc()).limit(page.limit).into_boxed();
    if let Some(u) = user_id {
        q = q.filter(alerts::user_id.eq(u));
    }
    if let Some(s) = scope {
        q = q.filter(alerts::scope.eq(s.to_string()));
    }
    if let Some(before) = page.before {
        q = q.filter(alerts::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// How many alerts a user (`None`: everyone) got in `[from, to)`.
pub fn count_alerts(
    conn: &mut DbConnection,
    user_id: Option<i64>,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
) -> Result<u64, RepoError> {
    let mut q = alerts::table.count().into_boxed();
    if let Some(u) = user_id {
        q = q.filter(alerts::user_id.eq(u));
    }
    if let Some(f) = from {
        q = q.filter(alerts::created_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(alerts::created_at.lt(t));
    }
    let n: i64 = q.get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `(url, secret)` of a user's webhook.
pub fn webhook(conn: &mut DbConnection, user_id: i64) -> Result<Option<(String, String)>, RepoError> {
    Ok(webhook_endpoints::table
        .find(user_id)
        .select((webhook_endpoints::url, webhook_endpoints::secret))
        .first(conn)
        .optional()?)
}

/// Sets (or removes, with `None`) a user's webhook.
pub fn set_webhook(
    conn: &mut DbConnection,
    user_id: i64,
    endpoint: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    diesel::delete(webhook_endpoints::table.find(user_id)).execute(conn)?;
    if let Some((url, secret)) = endpoint {
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::user_id.eq(user_id),
                webhook_endpoints::url.eq(url),
                webhook_endpoints::secret.eq(secret),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Queues a webhook message.
pub fn enqueue_webhook(
    conn: &mut DbConnection,
    public_id: &str,
    user_id: i64,
    url: &str,
    payload: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::public_id.eq(public_id),
            webhook_deliveries::user_id.eq(user_id),
            webhook_deliveries::url.eq(url),
            webhook_deliveries::payload.eq(payload),
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::created_at.eq(now),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Pending deliveries due at `now`.
pub fn due_webhooks(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<WebhookDelivery>, RepoError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::status.eq("pending"))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .select(WebhookDelivery::as_select())
        .order(webhook_deliveries::id.asc())
        .limit(limit)
        .load(conn)?)
}

/// Records one delivery attempt: `status`, attempts + 1, next try and error. Conditional on the
/// attempt count, so two workers never both record the same attempt.
pub fn record_attempt(
    conn: &mut DbConnection,
    id: i64,
    attempts_before: i32,
    status: &str,
    next_attempt_at: NaiveDateTime,
    error: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::status.eq("pending"))
            .filter(webhook_deliveries::attempts.eq(attempts_before)),
    )
    .set((
        webhook_deliveries::status.eq(status),
        webhook_deliveries::attempts.eq(attempts_before + 1),
        webhook_deliveries::next_attempt_at.eq(next_attempt_at),
        webhook_deliveries::last_error.eq(error),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A user's webhook deliveries, newest first.
pub fn webhook_deliveries(conn: &mut DbConnection, user_id: i64) -> Result<Vec<WebhookDelivery>, RepoError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::user_id.eq(user_id))
        .select(WebhookDelivery::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(200)
        .load(conn)?)
}

/// Points a request at the budget periods it is reserved against (a reviewed request reserves
/// when it is approved).
pub fn set_periods(conn: &mut DbConnection, id: i64, day: &str, month: &str) -> Result<(), RepoError> {
    diesel::update(ai_requests::table.find(id))
        .set((ai_requests::day.eq(day), ai_requests::month.eq(month)))
        .execute(conn)?;
    Ok(())
}

/// Public ids of projects by internal id.
pub fn project_public_ids(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, RepoError> {
    let rows: Vec<(i64, String)> = projects::table
        .filter(projects::id.eq_any(ids))
        .select((projects::id, projects::public_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Public ids of agents by internal id.
pub fn agent_public_ids(
    conn: &mut DbConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, RepoError> {
    use models::schema::agents;
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, String)> =
        agents::table.filter(agents::id.eq_any(ids)).select((agents::id, agents::public_id)).load(conn)?;
    Ok(rows.into_iter().collect())
}
