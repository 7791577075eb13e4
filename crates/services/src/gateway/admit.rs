//! Admission (SPEC §4.2 steps 1–12): authorise the project and agent, load the decision's
//! input in a few statements, decide, and record and reserve as one part of a group commit.

use chrono::{Duration as Span, NaiveDateTime, Timelike};
use models::ids::ordered_id;
use models::rows::{Agent, Project};
use models::rows_spend::{AiRequest, NewAiRequest};
use models::AuditResult;
use repositories::gateway::admission;
pub(super) use repositories::gateway::admission::Held;
use repositories::gateway::cache::DecisionCache;
use repositories::gateway::counters::{self, RateLimits};
use repositories::gateway::reservations::{self, Periods, Refusal};
use repositories::{gateway::projects as project_repo, gateway::requests as repo, DbConnection, Page};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditContext, Entry};
use repositories::audit::EventRow;

use super::*;
use crate::gateway::decide::{
    decide, Account, Baseline, Budget, Decision, DecisionInput, Operation, Outcome, Price, Reason, RecentUse,
    SpendRequest, SystemPolicy,
};
use crate::gateway::projects::{parse_policy, parse_system};
use crate::{with_conn, Principal, ServiceError};

impl Gateway {
    /// Steps 1–12: authorises, decides and, for an approval, reserves; records the request.
    /// Returns it `executing` (reserved) or `pending` (in review); a refusal is recorded and
    /// returned as [`ServiceError::Refused`].
    pub(super) async fn admit(
        &self,
        ctx: AuditContext,
        caller: &Principal,
        scope: Scope,
        call: CallRequest,
        idempotency_key: Option<String>,
    ) -> Result<AiRequest, ServiceError> {
        call.validate()?;
        let now = self.clock.now();
        let caller_c = caller.clone();
        let mut call_c = call.clone();
        let generates_text =
            !matches!(call_c.operation, Operation::Embedding | Operation::Image | Operation::Audio);
        if generates_text && call_c.max_tokens().is_none() {
            if let Some(body) = call_c.body.as_object_mut() {
                body.insert("max_tokens".into(), json!(self.default_max_tokens));
            }
        }
        let pro = self.pro.clone();
        let db = self.db.clone();
        let user_id = caller.user_id;
        // One checkout: read and decide (outside the write lock), then record and reserve.
        let read = move |conn: &mut DbConnection| -> Result<Prepared, ServiceError> {
            let cache = db.decision_cache();
            let (project, agent, snapshot) = resolve(conn, cache, &caller_c, &scope, now)?;
            let loaded = load(conn, cache, &snapshot, &project, agent.as_ref(), call_c, now)?;
            if loaded.periods_missing {
                reservations::ensure_periods(conn, caller_c.user_id, project.id, &loaded.periods)?;
            }
            let Loaded { input, periods, stored, new_agent, .. } = loaded;
            let limits = RateLimits {
                per_minute: input.policy.rate_per_minute,
                per_hour: input.policy.rate_per_hour,
                per_day: input.policy.rate_per_day,
            };
            if !snapshot.rate_head && (limits.per_minute > 0 || limits.per_hour > 0 || limits.per_day > 0) {
                counters::ensure_head(conn, project.id)?;
            }
            let decision = decide(&input, now.and_utc(), pro.as_ref());
            let (provider, model) = stored.call.names();
            let body =
                Json::new(serde_json::to_value(&stored).map_err(|e| ServiceError::Internal(e.to_string()))?);
            let fingerprint =
                hex::encode(Sha256::digest(serde_json::to_vec(&stored.call).unwrap_or_default()));
            let operation = stored.call.operation;
            Ok(Prepared {
                project,
                agent,
                decision,
                periods,
                limits,
                new_agent,
                provider,
                model,
                body,
                fingerprint,
                operation,
            })
        };
        let prepared = with_conn(&self.db, read).await?;
        let id = ordered_id("req");
        let admission = Admission { prepared, ctx, idempotency_key, id, now, user_id };
        let key = user_id.unsigned_abs();
        // An approved call is written with the other approved admissions of its batch; a
        // refusal (a full rate-limit window, the money) wrote nothing and is recorded below.
        if admission.together() {
            match self.db.admit(key, admission.to_admit()).await? {
                Ok(row) => return Ok(row),
                Err(held) => {
                    let mut admission = admission;
                    admission.refuse(held);
                    let (reason, message, request) = self
                        .db
                        .grouped::<_, ServiceError, _>(key, move |conn| admission.record_refused(conn))
                        .await?;
                    return Err(ServiceError::Refused { reason, message, request });
                }
            }
        }
        // Recorded and held in one part of a group commit; a refusal of a rate-limit place or of
        // the money undoes the part, and the refusal is recorded in a second one.
        let refused = match self.db.grouped::<_, Short, _>(key, move |conn| admission.record_held(conn)).await
        {
            Ok(Recorded::Done(row)) => return Ok(*row),
            Ok(Recorded::Refused(reason, message, request)) => {
                return Err(ServiceError::Refused { reason, message, request })
            }
            Err(Short::Failed(e)) => return Err(e),
            Err(Short::Held(held, mut admission)) => {
                admission.refuse(held);
                admission
            }
        };
        let (reason, message, request) =
            self.db.grouped::<_, ServiceError, _>(key, move |conn| refused.record_refused(conn)).await?;
        Err(ServiceError::Refused { reason, message, request })
    }
}

/// A decided admission on its way to the database.
pub(super) struct Admission {
    prepared: Prepared,
    ctx: AuditContext,
    idempotency_key: Option<String>,
    /// The request's public id.
    id: String,
    now: NaiveDateTime,
    user_id: i64,
}

/// Why [`Admission::record_held`] recorded nothing.
pub(super) enum Short {
    /// A rate-limit window or the money refused: the admission comes back to be recorded as
    /// refused.
    Held(Held, Box<Admission>),
    /// The database failed.
    Failed(ServiceError),
}

impl From<repositories::RepoError> for Short {
    fn from(e: repositories::RepoError) -> Self {
        Short::Failed(e.into())
    }
}

impl From<repositories::DieselError> for Short {
    fn from(e: repositories::DieselError) -> Self {
        Short::Failed(repositories::RepoError::from(e).into())
    }
}

impl From<ServiceError> for Short {
    fn from(e: ServiceError) -> Self {
        Short::Failed(e)
    }
}

impl Admission {
    /// Whether it is written together with its batch's others (`Db::admit`): approved, and its
    /// agent (if any) has been seen before.
    fn together(&self) -> bool {
        let p = &self.prepared;
        self.status() == RequestStatus::Executing && !(p.new_agent && p.agent.is_some())
    }

    /// The approved admission's rows, owned, for its batch.
    fn to_admit(&self) -> admission::Admit {
        let request = self.new_request(RequestStatus::Executing);
        let payment = ordered_id("pay");
        let ready = self.approved_events(&payment, request.estimated);
        let events = [EventRow::from(&ready[0].event(&self.ctx)), EventRow::from(&ready[1].event(&self.ctx))];
        admission::Admit {
            request,
            limits: self.prepared.limits,
            payment,
            events,
            periods: self.prepared.periods.clone(),
            hour: counters::hour_key(self.now),
            now: self.now,
        }
    }

    /// The audit events of an approved admission: its decision and its payment's reservation.
    fn approved_events(&self, payment: &str, amount: i64) -> [audit::Ready<'_>; 2] {
        [
            audit::Ready::new(self.decided(RequestStatus::Executing)),
            audit::Ready::new(Entry {
                action: "payment.reserved",
                subject_type: "request",
                subject_id: Some(&self.id),
                details: json!({"payment": payment, "amount": amount}),
                result: AuditResult::Success,
            }),
        ]
    }

    /// Turns the decision into the refusal of what held: a full rate-limit window or the money.
    fn refuse(&mut self, held: Held) {
        let limits = self.prepared.limits;
        match held {
            Held::Rate(window) => refuse_at_rate_limit(&mut self.prepared.decision, window, limits),
            Held::Money(refusal) => refuse_at_reservation(&mut self.prepared.decision, refusal),
        }
    }

    /// The request's status for its decision.
    fn status(&self) -> RequestStatus {
        match self.prepared.decision.outcome {
            Outcome::Approved => RequestStatus::Executing,
            Outcome::RequiresReview => RequestStatus::Pending,
            Outcome::Rejected | Outcome::Error => RequestStatus::Rejected,
        }
    }

    /// Records an approved or pending admission and takes what it holds: its rate-limit places,
    /// (approved) its money, its hour's count: the rows other calls of the project wait for,
    /// last, right before the commit. A refusal returns the admission, and the group commit
    /// undoes whatever the part wrote. A decision refused by the rules is recorded as refused.
    fn record_held(self, conn: &mut DbConnection) -> Result<Recorded, Short> {
        let status = self.status();
        if status == RequestStatus::Rejected {
            let (reason, message, request) = self.record_refused(conn)?;
            return Ok(Recorded::Refused(reason, message, request));
        }
        let p = &self.prepared;
        let hour = counters::hour_key(self.now);
        if status == RequestStatus::Executing {
            // Recorded and held by the repository (one statement on PostgreSQL).
            self.agent_seen(conn)?;
            let new = self.new_request(status);
            let pay = ordered_id("pay");
            let ready = self.approved_events(&pay, new.estimated);
            let events = [ready[0].event(&self.ctx), ready[1].event(&self.ctx)];
            let approved = admission::Approved {
                request: &new,
                payment: &pay,
                events: &events,
                limits: p.limits,
                periods: &p.periods,
                hour: &hour,
                now: self.now,
            };
            return match admission::record_approved(conn, &approved)? {
                Ok(row) => Ok(Recorded::Done(Box::new(row))),
                Err(held) => Err(Short::Held(held, Box::new(self))),
            };
        }
        let row = self.record(conn, status)?;
        match admission::take(conn, p.project.id, p.limits, None, self.now, &hour)? {
            Ok(()) => Ok(Recorded::Done(Box::new(row))),
            Err(held) => Err(Short::Held(held, Box::new(self))),
        }
    }

    /// Records the admission as refused (its decision's reason) and counts it in its hour.
    fn record_refused(self, conn: &mut DbConnection) -> Result<(Reason, String, String), ServiceError> {
        self.record(conn, RequestStatus::Rejected)?;
        counters::decided(conn, self.prepared.project.id, &counters::hour_key(self.now), true)?;
        let d = &self.prepared.decision;
        Ok((d.reason.unwrap_or(Reason::InvalidRequest), d.reason_text.clone(), self.id))
    }

    /// The request row and its decision's audit event, and (an agent's first request) the agent
    /// as seen: a refused or pending admission (an approved one is [`Admission::record_held`]'s).
    fn record(&self, conn: &mut DbConnection, status: RequestStatus) -> Result<AiRequest, ServiceError> {
        self.agent_seen(conn)?;
        let row = repo::insert(conn, &self.new_request(status))?;
        audit::record(conn, &self.ctx, self.decided(status))?;
        Ok(row)
    }

    /// Notes the agent as seen on its first request.
    fn agent_seen(&self, conn: &mut DbConnection) -> Result<(), ServiceError> {
        let p = &self.prepared;
        if let (true, Some(a)) = (p.new_agent, p.agent.as_ref()) {
            counters::agent_seen(conn, p.project.id, a.id, &counters::day_key(self.now))?;
        }
        Ok(())
    }

    /// The request row with `status`.
    fn new_request(&self, status: RequestStatus) -> NewAiRequest {
        let p = &self.prepared;
        let decision = &p.decision;
        NewAiRequest {
            public_id: self.id.clone(),
            user_id: self.user_id,
            project_id: p.project.id,
            agent_id: p.agent.as_ref().map(|a| a.id),
            provider: p.provider.clone(),
            model: p.model.clone(),
            operation: p.operation.as_str().into(),
            status,
            outcome: decision.outcome,
            reason: decision.reason,
            tier: decision.tier,
            risk_score: decision.risk_score,
            decision: Json::new(serde_json::to_value(decision).unwrap_or_default()),
            body: p.body.clone(),
            estimated: decision.estimate.map_or(0, |e| e.total),
            day: p.periods.day.clone(),
            month: p.periods.month.clone(),
            fingerprint: p.fingerprint.clone(),
            idempotency_key: self.idempotency_key.clone(),
            created_at: self.now,
            updated_at: self.now,
        }
    }

    /// The decision's audit event for a request recorded with `status`.
    fn decided(&self, status: RequestStatus) -> Entry<'_> {
        let p = &self.prepared;
        let decision = &p.decision;
        Entry {
            action: "request.decided",
            subject_type: "request",
            subject_id: Some(&self.id),
            details: json!({
                "project": p.project.public_id,
                "agent": p.agent.as_ref().map(|a| a.public_id.clone()),
                "provider": p.provider,
                "model": p.model,
                "operation": p.operation.as_str(),
                "outcome": decision.outcome.as_str(),
                "reason": decision.reason.map(|r| r.as_str()),
                "tier": decision.tier.as_str(),
                "risk_score": decision.risk_score,
                "estimated": decision.estimate.map_or(0, |e| e.total),
            }),
            result: if status == RequestStatus::Rejected {
                AuditResult::Denied
            } else {
                AuditResult::Success
            },
        }
    }
}

/// Reserves `amount` of the user's balance and the project's budgets for `reference`, in a
/// savepoint: a refusal part-way leaves nothing behind.
pub(super) fn reserve_or_undo(
    conn: &mut DbConnection,
    (user_id, project_id): (i64, i64),
    periods: &Periods,
    amount: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<Result<(), Refusal>, ServiceError> {
    enum Out {
        Refused(Refusal),
        Failed(repositories::RepoError),
    }
    impl From<repositories::DieselError> for Out {
        fn from(e: repositories::DieselError) -> Self {
            Out::Failed(e.into())
        }
    }
    // Nested in the caller's transaction, `write_tx` is a savepoint.
    let result = repositories::write_tx(conn, |c| {
        match reservations::reserve(c, user_id, project_id, periods, amount, reference, now)
            .map_err(Out::Failed)?
        {
            Ok(()) => Ok(()),
            Err(refusal) => Err(Out::Refused(refusal)),
        }
    });
    match result {
        Ok(()) => Ok(Ok(())),
        Err(Out::Refused(r)) => Ok(Err(r)),
        Err(Out::Failed(e)) => Err(e.into()),
    }
}

/// A decision refused because a rate-limit window is full.
pub(super) fn refuse_at_rate_limit(decision: &mut Decision, window: counters::Window, limits: RateLimits) {
    let limit = match window {
        counters::Window::Minute => limits.per_minute,
        counters::Window::Hour => limits.per_hour,
        counters::Window::Day => limits.per_day,
    };
    decision.outcome = Outcome::Rejected;
    decision.reason = Some(Reason::RateLimitExceeded);
    decision.reason_text = format!("{limit} requests per {} reached", window.as_str());
    decision.policies_checked.push("rate_limit_reservation");
}

pub(super) fn refusal_reason(r: Refusal) -> Reason {
    match r {
        Refusal::Balance => Reason::InsufficientBalance,
        Refusal::Daily => Reason::DailyBudgetExceeded,
        Refusal::Monthly => Reason::MonthlyBudgetExceeded,
        Refusal::SystemDaily => Reason::ExceedsSystemLimit,
    }
}

pub(super) fn refusal_text(r: Refusal) -> &'static str {
    match r {
        Refusal::Balance => "the available balance does not cover the cost",
        Refusal::Daily => "the project's daily budget is used up",
        Refusal::Monthly => "the project's monthly budget is used up",
        Refusal::SystemDaily => "above the platform's daily cap",
    }
}

/// A decision the rules approved, refused when the atomic reservation found the money gone.
pub(super) fn refuse_at_reservation(decision: &mut Decision, refusal: Refusal) {
    decision.outcome = Outcome::Rejected;
    decision.reason = Some(refusal_reason(refusal));
    decision.reason_text = refusal_text(refusal).into();
    decision.policies_checked.push("reservation");
}

pub(super) fn open_payment(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    row: &AiRequest,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let pay = ordered_id("pay");
    repo::insert_payment(conn, &pay, row.id, row.user_id, PaymentStatus::Reserved, row.estimated, now)?;
    audit::record_success(
        conn,
        ctx,
        "payment.reserved",
        "request",
        &row.public_id,
        json!({"payment": pay, "amount": row.estimated}),
    )?;
    Ok(())
}

/// The key's scope wins; a different name in the body or headers is refused. The project must
/// be the caller's own, and the agent one of the project's. Returns them with the project's
/// [`admission::Snapshot`] for the call at `now`.
pub(super) fn resolve(
    conn: &mut DbConnection,
    cache: &DecisionCache,
    caller: &Principal,
    scope: &Scope,
    now: NaiveDateTime,
) -> Result<(Project, Option<Agent>, admission::Snapshot), ServiceError> {
    let pick = |key: &Option<String>, named: &Option<String>, what: &str| match (key, named) {
        (Some(k), Some(n)) if k != n => {
            Err(ServiceError::Forbidden(format!("this key is scoped to {what} {k}")))
        }
        (Some(k), _) => Ok(Some(k.clone())),
        (None, n) => Ok(n.clone()),
    };
    let project_id = match pick(&caller.project, &scope.project, "project")? {
        Some(p) => p,
        None => only_project(conn, cache, caller.user_id)?.ok_or_else(|| {
            ServiceError::invalid(
                "project",
                "is required: send the X-Steward-Project header or a \"project\" field, or use a key \
                 scoped to a project (a user with a single project may leave it out)",
            )
        })?,
    };
    let (day, month) = (now.format("%Y-%m-%d").to_string(), now.format("%Y-%m").to_string());
    let snapshot = admission::snapshot(conn, &project_id, caller.user_id, &day, &month)?
        .filter(|s| s.project_owner == caller.user_id)
        .ok_or(ServiceError::NotFound("project"))?;
    let project = snapshot.project();
    let agent = match pick(&caller.agent, &scope.agent, "agent")? {
        None => None,
        Some(a) => match project_repo::agent_by_public_id(conn, &a) {
            Ok(agent) if agent.project_id == project.id => Some(agent),
            Ok(_) | Err(repositories::RepoError::NotFound) => return Err(ServiceError::NotFound("agent")),
            Err(e) => return Err(e.into()),
        },
    };
    Ok((project, agent, snapshot))
}

/// The user's project when they have exactly one (so a key and a base URL are all an OpenAI SDK
/// needs); cached (creating a project clears the cache).
pub(super) fn only_project(
    conn: &mut DbConnection,
    cache: &DecisionCache,
    user_id: i64,
) -> Result<Option<String>, ServiceError> {
    if let Some(known) = cache.only_project(user_id) {
        return Ok(known);
    }
    let seen = cache.generation();
    let mut mine = project_repo::list(conn, Some(user_id), Page { limit: 2, before: None })?;
    let only = if mine.len() == 1 { mine.pop().map(|p| p.public_id) } else { None };
    cache.put_only_project(seen, user_id, only.as_deref());
    Ok(only)
}

pub(super) fn periods_for(
    conn: &mut DbConnection,
    project_id: i64,
    now: NaiveDateTime,
) -> Result<Periods, ServiceError> {
    let d = Budget::default();
    let (_, daily, monthly) =
        project_repo::budget(conn, project_id)?.unwrap_or((d.per_request, d.daily, d.monthly));
    let system = parse_system(project_repo::system_policy(conn)?);
    Ok(periods_of(now, daily, monthly, &system))
}

pub(super) fn periods_of(now: NaiveDateTime, daily: i64, monthly: i64, system: &SystemPolicy) -> Periods {
    Periods {
        day: now.format("%Y-%m-%d").to_string(),
        month: now.format("%Y-%m").to_string(),
        daily_limit: daily,
        monthly_limit: monthly,
        user_daily_limit: system.max_daily,
    }
}

/// An admission decided and ready to record.
pub(super) struct Prepared {
    project: Project,
    agent: Option<Agent>,
    decision: Decision,
    periods: Periods,
    limits: RateLimits,
    new_agent: bool,
    provider: String,
    model: String,
    body: Json<Value>,
    fingerprint: String,
    operation: Operation,
}

/// What [`load`] read besides the decision's input.
pub(super) struct Loaded {
    input: DecisionInput,
    periods: Periods,
    stored: Stored,
    /// The usage rows of the periods are missing (the first call of a day or month).
    periods_missing: bool,
    /// The agent has made no request before.
    new_agent: bool,
}

/// Loads everything the pipeline reads, in a bounded number of small reads whatever the
/// project's history: running totals instead of scans of `ai_requests`. An unknown model is a
/// 404 (never a substitute).
pub(super) fn load(
    conn: &mut DbConnection,
    cache: &DecisionCache,
    snapshot: &admission::Snapshot,
    project: &Project,
    agent: Option<&Agent>,
    call: CallRequest,
    now: NaiveDateTime,
) -> Result<Loaded, ServiceError> {
    let (provider, model) = call.names();
    let price = if provider.is_empty() || model.is_empty() {
        Price::default()
    } else {
        crate::gateway::catalogue::price_of(&crate::gateway::catalogue::resolve_cached(
            conn, cache, &provider, &model,
        )?)
    };
    let policy = parse_policy(snapshot.policy.clone());
    let system = parse_system(snapshot.system.clone());
    let d = Budget::default();
    let per_request = snapshot.per_request.unwrap_or(d.per_request);
    let daily = snapshot.daily.unwrap_or(d.daily);
    let monthly = snapshot.monthly.unwrap_or(d.monthly);
    let periods = periods_of(now, daily, monthly, &system);
    let periods_missing =
        snapshot.used_day.is_none() || snapshot.used_month.is_none() || snapshot.user_used_day.is_none();
    let budget = Budget {
        per_request,
        daily,
        monthly,
        used_today: snapshot.used_day.unwrap_or(0),
        used_month: snapshot.used_month.unwrap_or(0),
        user_used_today: snapshot.user_used_day.unwrap_or(0),
    };
    // The last 24 hours by the hour (at most 25 rows), the 30 days' totals and what the project
    // used in them: one statement over the running totals.
    let since = counters::day_key(now - Span::days(30));
    let history = admission::history(conn, project.id, &counters::hour_key(now - Span::hours(24)), &since)?;
    let this_hour = counters::hour_key(now);
    let last_hour = counters::hour_key(now - Span::hours(1));
    let share_of_last = 1.0 - f64::from(now.minute()) / 60.0;
    let hourly = history.hours.iter().fold(0.0, |acc, (h, admitted, _)| {
        if *h == this_hour {
            acc + *admitted as f64
        } else if *h == last_hour {
            acc + *admitted as f64 * share_of_last
        } else {
            acc
        }
    });
    let usage = RecentUse {
        last_minute: 0,
        last_hour: 0,
        last_day: 0,
        recent_rejections: u32::try_from(history.hours.iter().map(|h| h.2).sum::<i64>()).unwrap_or(u32::MAX),
        hourly: hourly.round() as u32,
    };
    let seen = &history.seen;
    let new_agent = agent.is_some_and(|a| {
        let id = a.id.to_string();
        !seen.iter().any(|(kind, value)| kind == "agent" && *value == id)
    });
    let baseline = baseline(history.executed, history.charged, history.charged_sq, seen, !new_agent);
    let input = DecisionInput {
        request: SpendRequest {
            provider: provider.clone(),
            model: model.clone(),
            operation: call.operation,
            input_chars: call.input_chars(),
            max_tokens: call.max_tokens(),
            choices: call.choices(),
        },
        account: Account {
            active: snapshot.user_status == "active",
            verified: snapshot.user_verified,
            balance: snapshot.user_balance,
            reserved: snapshot.user_reserved,
        },
        policy,
        budget,
        usage,
        price,
        baseline,
        system: system.clone(),
    };
    Ok(Loaded {
        input,
        periods,
        stored: Stored { call, price, fee_bps: system.fee_bps },
        periods_missing,
        new_agent,
    })
}

/// The 30-day baseline: the request count, cost mean and deviation and hourly rate from the
/// daily totals of executed requests; the providers, models and hours the project used in those
/// days.
pub(super) fn baseline(
    executed: i64,
    charged: i64,
    charged_sq: f64,
    seen: &[(String, String)],
    agent_known: bool,
) -> Baseline {
    let n = executed.max(0) as f64;
    let mean = if n > 0.0 { charged as f64 / n } else { 0.0 };
    let var = if n > 0.0 { (charged_sq / n - mean * mean).max(0.0) } else { 0.0 };
    let of = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = seen.iter().filter(|(k, _)| k == kind).map(|(_, v)| v.clone()).collect();
        v.sort();
        v
    };
    let mut hours: Vec<u32> = of("hour").iter().filter_map(|h| h.parse().ok()).collect();
    hours.sort_unstable();
    Baseline {
        requests: u32::try_from(executed).unwrap_or(u32::MAX),
        mean_cost: mean,
        stddev_cost: var.sqrt(),
        hourly_rate: executed as f64 / (30.0 * 24.0),
        providers: of("provider"),
        models: of("model"),
        hours,
        agent_known,
    }
}
