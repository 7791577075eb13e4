//! AI calls through the spend gateway (SPEC §4.2 steps 1 and 12–15): authorise the project and
//! agent, load the state, decide, reserve, call the provider, settle; the review queue; the
//! release of reservations whose request never settled.
//!
//! A request's `status` only moves by compare-and-swap (`pending → executing → executed|failed`,
//! `pending → rejected`), and every money movement happens in the same
//! transaction as that move, so nothing is settled, released or executed twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDateTime, Timelike};
use models::ids::ordered_id;
use models::rows::{Agent, Project};
use models::rows_spend::{AiRequest, NewAiRequest, RequestPayment};
use models::AuditResult;
use repositories::admission;
use repositories::counters::{self, RateLimits};
use repositories::reservations::{self, Periods, Refusal};
use repositories::{projects as project_repo, requests as repo, users as user_repo, DbConnection, Page};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditContext, Entry};
use futures_util::StreamExt;

use crate::ports::{Clock, ModelCall, ModelProvider, StreamEvent};
use crate::projects::{parse_policy, parse_system};
use crate::spend::{
    cost_of, decide, Account, Baseline, Budget, Decision, DecisionInput, Operation, Outcome, Price,
    ProEvaluator, Reason, RecentUse, SpendRequest, SystemPolicy,
};
use crate::{alerts, in_tx, read_then_grouped, with_conn, Principal, ServiceError};

pub use crate::gateway::call::CallRequest;

/// The project and agent a caller names (body or `X-Steward-Project` / `X-Steward-Agent`).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `prj_…`.
    pub project: Option<String>,
    /// `agt_…`.
    pub agent: Option<String>,
}

/// What a request keeps to run later (after review) and to price its settlement.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    call: CallRequest,
    price: Price,
    fee_bps: i64,
}

/// A request with its payment and public references.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// The request.
    pub request: AiRequest,
    /// `prj_…`.
    pub project: String,
    /// `agt_…`.
    pub agent: Option<String>,
    /// Its payment (approved requests).
    pub payment: Option<RequestPayment>,
}

/// Runs AI calls through the pipeline.
#[derive(Clone, Debug)]
pub struct Gateway {
    db: repositories::Db,
    clock: Arc<dyn Clock>,
    providers: Vec<Arc<dyn ModelProvider>>,
    pro: Arc<dyn ProEvaluator>,
    timeout: Duration,
    default_max_tokens: u64,
}

/// Why a provider call did not produce an answer.
enum Failure {
    Unavailable,
    Timeout,
    Error(crate::ports::PortError),
}

impl Failure {
    fn text(&self) -> String {
        match self {
            Failure::Unavailable => "no adapter is configured for this provider".into(),
            Failure::Timeout => "the provider did not answer in time".into(),
            Failure::Error(e) => e.to_string(),
        }
    }
}

/// What the recording transaction decided.
enum Recorded {
    Refused(Reason, String, String),
    Done(Box<AiRequest>),
}

impl Gateway {
    /// A gateway over `providers`, deciding with `pro` at PRO tier, failing calls slower than
    /// `timeout`, and capping the output of calls that name no `max_tokens` at
    /// `default_max_tokens` (so a provider never produces more than was reserved).
    pub fn new(
        db: repositories::Db,
        clock: Arc<dyn Clock>,
        providers: Vec<Arc<dyn ModelProvider>>,
        pro: Arc<dyn ProEvaluator>,
        timeout: Duration,
        default_max_tokens: u64,
    ) -> Self {
        Self { db, clock, providers, pro, timeout, default_max_tokens }
    }

    /// Whether an adapter serves this provider (credentials present, configured at start).
    pub fn has_provider(&self, name: &str) -> bool {
        self.providers.iter().any(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Decides, reserves, calls the provider and settles. `Ok` for an executed call or one
    /// waiting for review; [`ServiceError::Refused`] and [`ServiceError::ProviderFailed`] name
    /// the recorded request.
    pub async fn execute(
        &self,
        ctx: AuditContext,
        caller: &Principal,
        scope: Scope,
        call: CallRequest,
        idempotency_key: Option<String>,
    ) -> Result<RequestRecord, ServiceError> {
        let row = self.admit(ctx.clone(), caller, scope, call, idempotency_key).await?;
        if row.status == "pending" {
            self.record(row).await
        } else {
            self.run_detached(ctx, row).await
        }
    }

    /// Runs the call and its settlement on a task of its own: if the client goes away and the
    /// handler is dropped, the reservation is still settled (or released) now, not by the
    /// stale-reservation job.
    async fn run_detached(&self, ctx: AuditContext, row: AiRequest) -> Result<RequestRecord, ServiceError> {
        let gateway = self.clone();
        tokio::spawn(async move { gateway.run(ctx, row).await })
            .await
            .map_err(|e| ServiceError::Internal(format!("the provider call task failed: {e}")))?
    }

    /// Steps 1–12: authorises, decides and, for an approval, reserves; records the request.
    /// Returns it `executing` (reserved) or `pending` (in review); a refusal is recorded and
    /// returned as [`ServiceError::Refused`].
    async fn admit(
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
        let user_id = caller.user_id;
        // One checkout: read and decide (outside the write lock), then record and reserve.
        let read = move |conn: &mut DbConnection| -> Result<Prepared, ServiceError> {
            let (project, agent, snapshot) = resolve(conn, &caller_c, &scope, now)?;
            let loaded = load(conn, &snapshot, &project, agent.as_ref(), call_c, now)?;
            if loaded.periods_missing {
                reservations::ensure_periods(conn, caller_c.user_id, project.id, &loaded.periods)?;
            }
            let Loaded { input, periods, stored, new_agent, .. } = loaded;
            let limits = RateLimits {
                per_minute: input.policy.rate_per_minute,
                per_hour: input.policy.rate_per_hour,
                per_day: input.policy.rate_per_day,
            };
            let decision = decide(&input, now.and_utc(), pro.as_ref());
            let (provider, model) = stored.call.names();
            let body = serde_json::to_string(&stored).map_err(|e| ServiceError::Internal(e.to_string()))?;
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
        let recorded = read_then_grouped(&self.db, user_id, read, move |conn, prepared| {
            let Prepared {
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
            } = prepared;
            let id = ordered_id("req");
            let mut decision = decision;
            let total = decision.estimate.map_or(0, |e| e.total);
            let status = match decision.outcome {
                Outcome::Approved => "executing",
                Outcome::RequiresReview => "pending",
                Outcome::Rejected | Outcome::Error => "rejected",
            };
            let hour = counters::hour_key(now);
            // The request row, its decision's audit event and (for an approval) its payment.
            let record = |conn: &mut DbConnection, decision: &Decision, status: &str| {
                let row = repo::insert(
                    conn,
                    &NewAiRequest {
                        public_id: id.clone(),
                        user_id,
                        project_id: project.id,
                        agent_id: agent.as_ref().map(|a| a.id),
                        provider: provider.clone(),
                        model: model.clone(),
                        operation: operation.as_str().into(),
                        status: status.into(),
                        outcome: decision.outcome.as_str().into(),
                        reason: decision.reason.map(|r| r.as_str().to_string()),
                        tier: decision.tier.as_str().into(),
                        risk_score: decision.risk_score,
                        decision: serde_json::to_string(decision).unwrap_or_default(),
                        body: body.clone(),
                        estimated: total,
                        day: periods.day.clone(),
                        month: periods.month.clone(),
                        fingerprint: fingerprint.clone(),
                        idempotency_key: idempotency_key.clone(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                audit::record(
                    conn,
                    &ctx,
                    Entry {
                        action: "request.decided",
                        subject_type: "request",
                        subject_id: Some(&id),
                        details: json!({
                            "project": project.public_id,
                            "agent": agent.as_ref().map(|a| a.public_id.clone()),
                            "provider": provider,
                            "model": model,
                            "operation": operation.as_str(),
                            "outcome": decision.outcome.as_str(),
                            "reason": decision.reason.map(|r| r.as_str()),
                            "tier": decision.tier.as_str(),
                            "risk_score": decision.risk_score,
                            "estimated": total,
                        }),
                        result: if status == "rejected" { AuditResult::Denied } else { AuditResult::Success },
                    },
                )?;
                if status == "executing" {
                    open_payment(conn, &ctx, &row, now)?;
                }
                Ok::<_, ServiceError>(row)
            };
            if let (true, Some(a)) = (new_agent, agent.as_ref()) {
                counters::agent_seen(conn, project.id, a.id, &counters::day_key(now))?;
            }
            if status != "rejected" {
                // Recorded first, then the rows other calls wait for (the rate-limit places, the
                // money, the hour's count) last, right before the commit; a refusal of a place
                // or of the money keeps nothing of it.
                let money = (status == "executing").then_some((user_id, &periods, total, id.as_str()));
                let held = hold(conn, project.id, limits, money, now, Some(&hour), |c| {
                    record(c, &decision, status)
                })?;
                match held {
                    Ok(row) => return Ok(Recorded::Done(Box::new(row))),
                    Err(Held::Rate(window)) => refuse_at_rate_limit(&mut decision, window, limits),
                    Err(Held::Money(refusal)) => refuse_at_reservation(&mut decision, refusal),
                }
            }
            record(conn, &decision, "rejected")?;
            counters::decided(conn, project.id, &hour, true)?;
            let reason = decision.reason.unwrap_or(Reason::InvalidRequest);
            Ok(Recorded::Refused(reason, decision.reason_text.clone(), id.clone()))
        })
        .await?;
        match recorded {
            Recorded::Refused(reason, message, request) => {
                Err(ServiceError::Refused { reason, message, request })
            }
            Recorded::Done(row) => Ok(*row),
        }
    }

    /// Approves a request waiting for review and executes it, re-checking balance and budget
    /// now (admins and the project's owner). A request is reviewed once.
    pub async fn approve(
        &self,
        ctx: AuditContext,
        caller: &Principal,
        id: String,
    ) -> Result<RequestRecord, ServiceError> {
        let now = self.clock.now();
        let caller_c = caller.clone();
        let (row, periods) = with_conn(&self.db, move |conn| {
            let row = visible(conn, &caller_c, &id)?;
            may_review(conn, &caller_c, &row)?;
            let periods = periods_for(conn, row.project_id, now)?;
            reservations::ensure_periods(conn, row.user_id, row.project_id, &periods)?;
            Ok((row, periods))
        })
        .await?;
        let tx_ctx = ctx.clone();
        let recorded = in_tx(&self.db, move |conn| {
            let ctx = tx_ctx;
            if !repo::transition(conn, row.id, "pending", "executing", now)? {
                return Err(review_closed());
            }
            audit::record_success(conn, &ctx, "review.approved", "request", &row.public_id, json!({}))?;
            // The rate-limit places were taken when the request was queued; now the money.
            let money = Some((row.user_id, &periods, row.estimated, row.public_id.as_str()));
            match hold(conn, row.project_id, RateLimits::default(), money, now, None, |_| Ok(()))? {
                Err(Held::Rate(_)) => Err(ServiceError::Internal("no rate limit was asked for".into())),
                Err(Held::Money(refusal)) => {
                    let mut decision: Value = serde_json::from_str(&row.decision).unwrap_or_default();
                    let reason = refusal_reason(refusal);
                    let text = format!("approved by a reviewer, then refused: {}", refusal_text(refusal));
                    decision["outcome"] = json!("rejected");
                    decision["reason"] = json!(reason.as_str());
                    decision["reason_text"] = json!(text);
                    repo::transition(conn, row.id, "executing", "rejected", now)?;
                    counters::decided(conn, row.project_id, &counters::hour_key(now), true)?;
                    repo::set_decision(conn, row.id, "rejected", Some(reason.as_str()), &decision.to_string(), now)?;
                    audit::record(
                        conn,
                        &ctx,
                        Entry {
                            action: "request.decided",
                            subject_type: "request",
                            subject_id: Some(&row.public_id),
                            details: json!({"outcome": "rejected", "reason": reason.as_str(), "at": "review"}),
                            result: AuditResult::Denied,
                        },
                    )?;
                    Ok(Recorded::Refused(reason, text, row.public_id.clone()))
                }
                Ok(()) => {
                    repo::set_periods(conn, row.id, &periods.day, &periods.month)?;
                    let row = repo::by_id(conn, row.id)?;
                    open_payment(conn, &ctx, &row, now)?;
                    Ok(Recorded::Done(Box::new(row)))
                }
            }
        })
        .await?;
        match recorded {
            Recorded::Refused(reason, message, request) => {
                Err(ServiceError::Refused { reason, message, request })
            }
            Recorded::Done(row) => self.run_detached(ctx, *row).await,
        }
    }

    /// Rejects a request waiting for review; nothing is charged.
    pub async fn reject(
        &self,
        ctx: AuditContext,
        caller: &Principal,
        id: String,
        note: Option<String>,
    ) -> Result<RequestRecord, ServiceError> {
        if note.as_deref().is_some_and(|n| n.chars().count() > 1000) {
            return Err(ServiceError::invalid("reason", "must be at most 1000 characters"));
        }
        let now = self.clock.now();
        let caller = caller.clone();
        let row = in_tx(&self.db, move |conn| {
            let row = visible(conn, &caller, &id)?;
            may_review(conn, &caller, &row)?;
            if !repo::transition(conn, row.id, "pending", "rejected", now)? {
                return Err(review_closed());
            }
            let mut decision: Value = serde_json::from_str(&row.decision).unwrap_or_default();
            let text = note.unwrap_or_else(|| "rejected by a reviewer".into());
            decision["outcome"] = json!("rejected");
            decision["reason"] = json!("REVIEW_REJECTED");
            decision["reason_text"] = json!(text);
            repo::set_decision(
                conn,
                row.id,
                "rejected",
                Some("REVIEW_REJECTED"),
                &decision.to_string(),
                now,
            )?;
            counters::decided(conn, row.project_id, &counters::hour_key(now), true)?;
            audit::record_success(
                conn,
                &ctx,
                "review.rejected",
                "request",
                &row.public_id,
                json!({"note": text}),
            )?;
            Ok(repo::by_id(conn, row.id)?)
        })
        .await?;
        self.record(row).await
    }

    /// Calls the provider for an `executing` request and settles it.
    async fn run(&self, ctx: AuditContext, row: AiRequest) -> Result<RequestRecord, ServiceError> {
        let stored = stored_of(&row)?;
        let call = ModelCall {
            model: row.model.clone(),
            operation: stored.call.operation,
            body: stored.call.body.clone(),
        };
        let started = Instant::now();
        let result = match self.provider(&row.provider) {
            None => Err(Failure::Unavailable),
            Some(p) => match tokio::time::timeout(self.timeout, p.call(&call)).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(e)) => Err(Failure::Error(e)),
                Err(_) => Err(Failure::Timeout),
            },
        };
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok(reply) => {
                let usage = (reply.input_tokens, reply.output_tokens);
                let settled = self.settle_ok(ctx, &row, usage, latency, reply.body.to_string(), None).await?;
                match settled {
                    Some(record) => Ok(record),
                    None => Err(ServiceError::ProviderFailed {
                        timeout: true,
                        message: "released as stale before the answer came".into(),
                        request: row.public_id.clone(),
                        upstream_code: None,
                    }),
                }
            }
            Err(failure) => Err(self.settle_failed(ctx, &row, &failure, latency).await?),
        }
    }

    /// Like [`Gateway::execute`], streaming the answer: the request is admitted and reserved
    /// first, then the provider's chunks flow to the client; the last chunk carries `usage` and
    /// the receipt, after settlement on the provider's final usage. If the client goes away
    /// early, dropping the stream settles for what was streamed.
    pub async fn execute_stream(
        &self,
        ctx: AuditContext,
        caller: &Principal,
        scope: Scope,
        call: CallRequest,
        idempotency_key: Option<String>,
    ) -> Result<Streaming, ServiceError> {
        let row = self.admit(ctx.clone(), caller, scope, call, idempotency_key).await?;
        if row.status == "pending" {
            return Err(ServiceError::AwaitingReview { request: row.public_id });
        }
        let stored = stored_of(&row)?;
        let call = ModelCall {
            model: row.model.clone(),
            operation: stored.call.operation,
            body: stored.call.body.clone(),
        };
        let started = Instant::now();
        let opened = match self.provider(&row.provider) {
            None => Err(Failure::Unavailable),
            Some(p) => match tokio::time::timeout(self.timeout, p.stream(&call)).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(Failure::Error(e)),
                Err(_) => Err(Failure::Timeout),
            },
        };
        let inner = match opened {
            Ok(s) => s,
            Err(f) => {
                let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                return Err(self.settle_failed(ctx, &row, &f, latency).await?);
            }
        };
        let input_tokens = serde_json::from_str::<Value>(&row.decision)
            .ok()
            .and_then(|d| d["estimate"]["input_tokens"].as_u64())
            .unwrap_or(0);
        let request = row.public_id.clone();
        let name = format!("{}/{}", row.provider, row.model);
        let guard = StreamGuard {
            gateway: self.clone(),
            ctx,
            row,
            text: String::new(),
            usage: None,
            input_tokens,
            started,
            settled: false,
        };
        let timeout = self.timeout;
        let chunks = futures_util::stream::unfold(Some((inner, guard)), move |state| {
            let name = name.clone();
            async move {
                let (mut inner, mut guard) = state?;
                loop {
                    match tokio::time::timeout(timeout, inner.next()).await {
                        Ok(Some(Ok(StreamEvent::Chunk(mut chunk)))) => {
                            if let Some(choices) = chunk.get("choices").and_then(Value::as_array) {
                                for c in choices {
                                    if let Some(t) = c["delta"]["content"].as_str() {
                                        guard.text.push_str(t);
                                    }
                                }
                            }
                            if let Some(o) = chunk.as_object_mut() {
                                o.insert("model".into(), json!(name));
                            }
                            return Some((chunk, Some((inner, guard))));
                        }
                        Ok(Some(Ok(StreamEvent::Usage { input_tokens, output_tokens }))) => {
                            guard.usage = Some((input_tokens, output_tokens));
                        }
                        Ok(Some(Err(e))) => {
                            return Some((guard.finish(Some(e.to_string()), &name).await, None))
                        }
                        Err(_) => {
                            return Some((
                                guard.finish(Some("the provider stalled".into()), &name).await,
                                None,
                            ))
                        }
                        Ok(None) => return Some((guard.finish(None, &name).await, None)),
                    }
                }
            }
        })
        .boxed();
        Ok(Streaming { request, chunks })
    }

    fn provider(&self, name: &str) -> Option<Arc<dyn ModelProvider>> {
        self.providers.iter().find(|p| p.name().eq_ignore_ascii_case(name)).cloned()
    }

    /// Settles an answered call: `executing → executed`, charge actual + fee (at most the
    /// reservation), release the rest, evaluate alerts. `None` when the request was released
    /// meanwhile (nothing is charged then). `error` notes a stream cut short.
    async fn settle_ok(
        &self,
        ctx: AuditContext,
        row: &AiRequest,
        (input_tokens, output_tokens): (u64, u64),
        latency: i64,
        response: String,
        error: Option<String>,
    ) -> Result<Option<RequestRecord>, ServiceError> {
        let stored = stored_of(row)?;
        let chars = if stored.price.per_million_chars > 0 { stored.call.input_chars() } else { 0 };
        let (cost, fee) = cost_of(input_tokens, output_tokens, chars, &stored.price, stored.fee_bps);
        // What the provider's reported usage costs; the charge stops at the reservation, and
        // anything above it is recorded as (negative) variance and alerted.
        let actual = cost.saturating_add(fee);
        let charged = actual.min(row.estimated);
        let now = self.clock.now();
        let row = row.clone();
        let settled = self
            .db
            .grouped::<_, ServiceError, _>(row.user_id.unsigned_abs(), move |conn| {
                let id = row.id;
                let finish = repo::Finish {
                    charged,
                    input_tokens: i64::try_from(input_tokens).unwrap_or(i64::MAX),
                    output_tokens: i64::try_from(output_tokens).unwrap_or(i64::MAX),
                    latency_ms: Some(latency),
                    response: Some(&response),
                    error: error.as_deref(),
                };
                let finished = repo::finish(conn, id, "executed", &finish, now)?;
                if !finished {
                    tracing::warn!(request = %row.public_id, "request was released before it settled");
                    return Ok(None);
                }
                audit::record_success(
                    conn,
                    &ctx,
                    "request.executed",
                    "request",
                    &row.public_id,
                    json!({
                        "charged": charged,
                        "cost": cost,
                        "fee": fee,
                        "actual": actual,
                        "variance": row.estimated - actual,
                        "input_tokens": input_tokens,
                        "output_tokens": output_tokens,
                        "latency_ms": latency,
                        "note": error,
                    }),
                )?;
                if actual > row.estimated {
                    alerts::overrun(
                        conn,
                        row.user_id,
                        row.project_id,
                        &row.public_id,
                        row.estimated,
                        actual,
                        now,
                    )?;
                }
                // The rows other calls wait for (the user's balance, the usage, the totals) last.
                let payment = settle(conn, &row, charged, actual, "committed", now)?;
                counters::executed(
                    conn,
                    row.project_id,
                    row.user_id,
                    row.created_at,
                    &row.provider,
                    &row.model,
                    charged,
                )?;
                // What the receipt names and the alert thresholds look at, read back in one statement.
                let view = admission::settled(
                    conn,
                    row.user_id,
                    row.project_id,
                    row.agent_id,
                    &row.day,
                    &row.month,
                    &counters::hour_key(now),
                    &counters::hour_key(now - Span::hours(24)),
                )?
                .ok_or(ServiceError::NotFound("project"))?;
                // The row as the update left it (no read back).
                let request = AiRequest {
                    status: "executed".into(),
                    charged,
                    input_tokens: finish.input_tokens,
                    output_tokens: finish.output_tokens,
                    latency_ms: finish.latency_ms,
                    response: finish.response.map(str::to_string),
                    error: finish.error.map(str::to_string),
                    updated_at: now,
                    ..row.clone()
                };
                let due = alerts::due(&view, now);
                let record = RequestRecord { request, project: view.project, agent: view.agent, payment };
                Ok(Some((record, due)))
            })
            .await?;
        // An alert crossed is stored after the settlement commits, in a transaction of its own;
        // a failure is logged and the settlement stands.
        let Some((record, due)) = settled else { return Ok(None) };
        if !due.is_empty() {
            let user = record.request.user_id;
            if let Err(e) = in_tx(&self.db, move |conn| alerts::raise_due(conn, user, due, now)).await {
                tracing::warn!(request = %record.request.public_id, error = %e, "evaluating alerts failed");
            }
        }
        Ok(Some(record))
    }

    /// Settles a failed call: `executing → failed`, release everything. Returns the error to
    /// give the client.
    async fn settle_failed(
        &self,
        ctx: AuditContext,
        row: &AiRequest,
        failure: &Failure,
        latency: i64,
    ) -> Result<ServiceError, ServiceError> {
        let text = failure.text();
        let timeout = matches!(failure, Failure::Timeout);
        tracing::warn!(request = %row.public_id, provider = %row.provider, error = %text, "provider call failed");
        let now = self.clock.now();
        let (row, message) = (row.clone(), text.clone());
        let request = row.public_id.clone();
        self.db
            .grouped::<_, ServiceError, _>(row.user_id.unsigned_abs(), move |conn| {
                let f = repo::Finish { latency_ms: Some(latency), error: Some(&text), ..Default::default() };
                if repo::finish(conn, row.id, "failed", &f, now)? {
                    settle(conn, &row, 0, 0, "failed", now)?;
                    audit::record(
                        conn,
                        &ctx,
                        Entry {
                            action: "request.failed",
                            subject_type: "request",
                            subject_id: Some(&row.public_id),
                            details: json!({"error": text, "released": row.estimated}),
                            result: AuditResult::Failure,
                        },
                    )?;
                }
                Ok(())
            })
            .await?;
        let upstream_code = match failure {
            Failure::Error(e) => e.code.clone(),
            _ => None,
        };
        Ok(ServiceError::ProviderFailed { timeout, message, request, upstream_code })
    }

    /// The request with its payment.
    pub async fn record(&self, row: AiRequest) -> Result<RequestRecord, ServiceError> {
        with_conn(&self.db, move |conn| Ok(records(conn, vec![row])?.remove(0))).await
    }
}

/// Why [`hold`] refused.
enum Held {
    /// A rate-limit window is full.
    Rate(counters::Window),
    /// The balance or a budget does not cover the amount.
    Money(Refusal),
}

/// Inside a savepoint: runs `first` (writes no other call waits for), then takes the project's
/// places in its rate-limit windows (when `limits` has any), reserves `money` = `(user, periods,
/// amount, reference)` (when given) and counts the admission in `hour` (when given) — the rows
/// other calls of the project wait for, locked as late as possible. A refusal part-way leaves
/// nothing behind, `first`'s writes included.
fn hold<T>(
    conn: &mut DbConnection,
    project_id: i64,
    limits: RateLimits,
    money: Option<(i64, &Periods, i64, &str)>,
    now: NaiveDateTime,
    hour: Option<&str>,
    first: impl FnOnce(&mut DbConnection) -> Result<T, ServiceError>,
) -> Result<Result<T, Held>, ServiceError> {
    enum Out {
        Refused(Held),
        Failed(ServiceError),
    }
    impl From<repositories::DieselError> for Out {
        fn from(e: repositories::DieselError) -> Self {
            Out::Failed(repositories::RepoError::from(e).into())
        }
    }
    let db = |e: repositories::RepoError| Out::Failed(e.into());
    // Nested in the caller's transaction, `write_tx` is a savepoint.
    let result = repositories::write_tx(conn, |c| {
        let done = first(c).map_err(Out::Failed)?;
        if let Some(w) = counters::take_rate(c, project_id, limits, now).map_err(db)? {
            return Err(Out::Refused(Held::Rate(w)));
        }
        if let Some((user_id, periods, amount, reference)) = money {
            if let Err(refusal) =
                reservations::reserve(c, user_id, project_id, periods, amount, reference, now).map_err(db)?
            {
                return Err(Out::Refused(Held::Money(refusal)));
            }
        }
        if let Some(hour) = hour {
            counters::decided(c, project_id, hour, false).map_err(db)?;
        }
        Ok(done)
    });
    match result {
        Ok(done) => Ok(Ok(done)),
        Err(Out::Refused(r)) => Ok(Err(r)),
        Err(Out::Failed(e)) => Err(e),
    }
}

/// A decision refused because a rate-limit window is full.
fn refuse_at_rate_limit(decision: &mut Decision, window: counters::Window, limits: RateLimits) {
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

fn refusal_reason(r: Refusal) -> Reason {
    match r {
        Refusal::Balance => Reason::InsufficientBalance,
        Refusal::Daily => Reason::DailyBudgetExceeded,
        Refusal::Monthly => Reason::MonthlyBudgetExceeded,
        Refusal::SystemDaily => Reason::ExceedsSystemLimit,
    }
}

fn refusal_text(r: Refusal) -> &'static str {
    match r {
        Refusal::Balance => "the available balance does not cover the cost",
        Refusal::Daily => "the project's daily budget is used up",
        Refusal::Monthly => "the project's monthly budget is used up",
        Refusal::SystemDaily => "above the platform's daily cap",
    }
}

/// A decision the rules approved, refused when the atomic reservation found the money gone.
fn refuse_at_reservation(decision: &mut Decision, refusal: Refusal) {
    decision.outcome = Outcome::Rejected;
    decision.reason = Some(refusal_reason(refusal));
    decision.reason_text = refusal_text(refusal).into();
    decision.policies_checked.push("reservation");
}

fn review_closed() -> ServiceError {
    ServiceError::conflict("REVIEW_CLOSED", "this request is not waiting for review")
}

fn open_payment(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    row: &AiRequest,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let pay = ordered_id("pay");
    repo::insert_payment(conn, &pay, row.id, row.user_id, "reserved", row.estimated, now)?;
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

/// Charges `charged` of the request's reservation and releases the rest; marks the payment
/// with what the provider's usage cost (`actual`, which may exceed the reservation).
fn settle(
    conn: &mut DbConnection,
    row: &AiRequest,
    charged: i64,
    actual: i64,
    status: &str,
    now: NaiveDateTime,
) -> Result<Option<RequestPayment>, ServiceError> {
    let periods = Periods {
        day: row.day.clone(),
        month: row.month.clone(),
        daily_limit: 0,
        monthly_limit: 0,
        user_daily_limit: 0,
    };
    let reference = (charged > 0).then(|| format!("ledger:{}", row.public_id));
    let payment = repo::settle_payment(conn, row.id, status, charged, actual, reference.as_deref(), now)?;
    // The user's row, which the user's other calls wait for, last.
    reservations::settle(
        conn,
        row.user_id,
        row.project_id,
        &periods,
        row.estimated,
        charged,
        &row.public_id,
        now,
    )?;
    Ok(payment)
}

/// A streaming answer: its request and the chunks to send, in the OpenAI
/// `chat.completion.chunk` shape.
pub struct Streaming {
    /// `req_…`.
    pub request: String,
    /// The chunks; the last carries `usage` and `x_steward`.
    pub chunks: futures_util::stream::BoxStream<'static, Value>,
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming").field("request", &self.request).finish_non_exhaustive()
    }
}

/// Settles a stream once: at its end, or, if the client went away, when it is dropped.
struct StreamGuard {
    gateway: Gateway,
    ctx: AuditContext,
    row: AiRequest,
    text: String,
    usage: Option<(u64, u64)>,
    input_tokens: u64,
    started: Instant,
    settled: bool,
}

impl StreamGuard {
    /// Usage as reported, or for a cut stream: the estimated input and what was streamed.
    fn usage(&self) -> (u64, u64) {
        self.usage.unwrap_or((self.input_tokens, self.text.chars().count().div_ceil(4) as u64))
    }

    fn response(&self) -> String {
        let (i, o) = self.usage();
        json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text}}],
            "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o},
        })
        .to_string()
    }

    /// Settles and returns the final chunk (`usage` and the receipt).
    async fn finish(&mut self, error: Option<String>, name: &str) -> Value {
        self.settled = true;
        let latency = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let usage = self.usage();
        let settled =
            self.gateway.settle_ok(self.ctx.clone(), &self.row, usage, latency, self.response(), error).await;
        let receipt = match settled {
            Ok(Some(record)) => receipt(&record),
            Ok(None) => json!({"request_id": self.row.public_id, "status": "failed"}),
            Err(e) => {
                tracing::error!(request = %self.row.public_id, error = %e, "settling a stream failed");
                json!({"request_id": self.row.public_id, "status": "unsettled"})
            }
        };
        json!({
            "id": format!("chatcmpl-{}", self.row.public_id),
            "object": "chat.completion.chunk",
            "created": self.row.created_at.and_utc().timestamp(),
            "model": name,
            "choices": [],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1},
            "x_steward": receipt,
        })
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // The client went away mid-stream: charge what was streamed, release the rest.
        let (gateway, ctx, row) = (self.gateway.clone(), self.ctx.clone(), self.row.clone());
        let (usage, response) = (self.usage(), self.response());
        let latency = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let note = Some("the client disconnected; charged for what was streamed".to_string());
                if let Err(e) = gateway.settle_ok(ctx, &row, usage, latency, response, note).await {
                    tracing::error!(request = %row.public_id, error = %e, "settling a dropped stream failed");
                }
            });
        }
    }
}

/// The receipt added to OpenAI-shaped answers: `{request_id, decision, cost, payment}`.
pub fn receipt(r: &RequestRecord) -> Value {
    let q = &r.request;
    let decision: Value = serde_json::from_str(&q.decision).unwrap_or_default();
    json!({
        "request_id": q.public_id,
        "decision": {
            "outcome": decision["outcome"], "reason": decision["reason"], "tier": decision["tier"],
            "risk_score": decision["risk_score"],
        },
        "cost": {"estimated": q.estimated, "charged": q.charged, "currency": "USDC", "unit": "micro"},
        "payment": r.payment.as_ref().map(|p| json!({"id": p.public_id, "status": p.status, "amount": p.amount,
            "actual": p.actual, "variance": p.variance, "rail": p.rail})),
    })
}

fn stored_of(row: &AiRequest) -> Result<Stored, ServiceError> {
    serde_json::from_str(&row.body).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The key's scope wins; a different name in the body or headers is refused. The project must
/// be the caller's own, and the agent one of the project's. Returns them with the project's
/// [`admission::Snapshot`] for the call at `now`.
fn resolve(
    conn: &mut DbConnection,
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
        None => only_project(conn, caller.user_id)?.ok_or_else(|| {
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
/// needs).
fn only_project(conn: &mut DbConnection, user_id: i64) -> Result<Option<String>, ServiceError> {
    let mut mine = project_repo::list(conn, Some(user_id), Page { limit: 2, before: None })?;
    Ok(if mine.len() == 1 { mine.pop().map(|p| p.public_id) } else { None })
}

fn periods_for(
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

fn periods_of(now: NaiveDateTime, daily: i64, monthly: i64, system: &SystemPolicy) -> Periods {
    Periods {
        day: now.format("%Y-%m-%d").to_string(),
        month: now.format("%Y-%m").to_string(),
        daily_limit: daily,
        monthly_limit: monthly,
        user_daily_limit: system.max_daily,
    }
}

/// An admission decided and ready to record.
struct Prepared {
    project: Project,
    agent: Option<Agent>,
    decision: Decision,
    periods: Periods,
    limits: RateLimits,
    new_agent: bool,
    provider: String,
    model: String,
    body: String,
    fingerprint: String,
    operation: Operation,
}

/// What [`load`] read besides the decision's input.
struct Loaded {
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
fn load(
    conn: &mut DbConnection,
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
        crate::model_catalogue::price_of(&crate::model_catalogue::resolve(conn, &provider, &model)?)
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
fn baseline(
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

/// Reviews are a human decision: agent keys may not make them, nor keys scoped to another project.
fn may_review(conn: &mut DbConnection, caller: &Principal, row: &AiRequest) -> Result<(), ServiceError> {
    if caller.agent.is_some() {
        return Err(ServiceError::Forbidden(
            "an agent key cannot review requests; use a person's key".into(),
        ));
    }
    if let Some(scope) = &caller.project {
        let project = repo::project_public_ids(conn, &[row.project_id])?;
        if project.get(&row.project_id) != Some(scope) {
            return Err(ServiceError::Forbidden("this key is scoped to another project".into()));
        }
    }
    Ok(())
}

/// The request if the caller owns it or is an admin; 404 otherwise.
fn visible(conn: &mut DbConnection, caller: &Principal, id: &str) -> Result<AiRequest, ServiceError> {
    match repo::by_public_id(conn, id) {
        Ok(r) if r.user_id == caller.user_id || caller.is_admin() => Ok(r),
        Ok(_) | Err(repositories::RepoError::NotFound) => Err(ServiceError::NotFound("request")),
        Err(e) => Err(e.into()),
    }
}

fn records(conn: &mut DbConnection, rows: Vec<AiRequest>) -> Result<Vec<RequestRecord>, ServiceError> {
    let project_ids: Vec<i64> = rows.iter().map(|r| r.project_id).collect();
    let agent_ids: Vec<i64> = rows.iter().filter_map(|r| r.agent_id).collect();
    let projects = repo::project_public_ids(conn, &project_ids)?;
    let agents: HashMap<i64, String> = repo::agent_public_ids(conn, &agent_ids)?;
    rows.into_iter()
        .map(|request| {
            Ok(RequestRecord {
                project: projects.get(&request.project_id).cloned().unwrap_or_default(),
                agent: request.agent_id.and_then(|a| agents.get(&a).cloned()),
                payment: repo::payment_of(conn, request.id)?,
                request,
            })
        })
        .collect()
}

/// List filters as the API receives them (public ids).
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// `prj_…`.
    pub project: Option<String>,
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

fn to_repo_filter(
    conn: &mut DbConnection,
    caller: &Principal,
    f: ListFilter,
) -> Result<Option<repo::RequestFilter>, ServiceError> {
    let project_id = match &f.project {
        None => None,
        Some(p) => match project_repo::by_public_id(conn, p) {
            Ok(p) if p.user_id == caller.user_id || caller.is_admin() => Some(p.id),
            Ok(_) | Err(repositories::RepoError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(Some(repo::RequestFilter {
        user_id: (!caller.is_admin()).then_some(caller.user_id),
        project_id,
        status: f.status,
        outcome: f.outcome,
        provider: f.provider,
        from: f.from,
        to: f.to,
    }))
}

/// The caller's requests (admins: everyone's), newest first.
pub async fn list(
    db: &repositories::Db,
    caller: &Principal,
    filter: ListFilter,
    page: Page,
) -> Result<Vec<RequestRecord>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let Some(f) = to_repo_filter(conn, &caller, filter)? else { return Ok(Vec::new()) };
        let rows = repo::list(conn, &f, page)?;
        records(conn, rows)
    })
    .await
}

/// One request with its audit trail (oldest event first).
pub async fn get(
    db: &repositories::Db,
    caller: &Principal,
    id: String,
) -> Result<(RequestRecord, Vec<models::rows::AuditEvent>), ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let row = visible(conn, &caller, &id)?;
        let filter = repositories::audit::AuditFilter {
            subject_type: Some("request".into()),
            subject_id: Some(row.public_id.clone()),
            ..Default::default()
        };
        let mut trail = repositories::audit::list(conn, &filter, Page { limit: 200, before: None })?;
        trail.reverse();
        Ok((records(conn, vec![row])?.remove(0), trail))
    })
    .await
}

/// Payments of AI requests (the caller's; admins: everyone's), with each one's `req_…`.
pub async fn payments(
    db: &repositories::Db,
    caller: &Principal,
    status: Option<String>,
    page: Page,
) -> Result<Vec<(RequestPayment, String)>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let user = (!caller.is_admin()).then_some(caller.user_id);
        let rows = repo::payments(conn, user, status.as_deref(), page)?;
        rows.into_iter()
            .map(|p| {
                let req = repo::request_public_id(conn, p.request_id)?;
                Ok((p, req))
            })
            .collect()
    })
    .await
}

/// One payment (its payer or an admin).
pub async fn payment(
    db: &repositories::Db,
    caller: &Principal,
    id: String,
) -> Result<(RequestPayment, String), ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = match repo::payment_by_public_id(conn, &id) {
            Ok(p) if p.user_id == caller.user_id || caller.is_admin() => p,
            Ok(_) | Err(repositories::RepoError::NotFound) => return Err(ServiceError::NotFound("payment")),
            Err(e) => return Err(e.into()),
        };
        let req = repo::request_public_id(conn, p.request_id)?;
        Ok((p, req))
    })
    .await
}

/// Releases the reservations of requests still `executing` after `older_than` (their process
/// died or the call hung): the request becomes `failed`, its payment `cancelled`, nothing is
/// charged. Returns how many were released.
pub async fn release_stale(
    db: &repositories::Db,
    now: NaiveDateTime,
    older_than: Duration,
) -> Result<usize, ServiceError> {
    let bound = now - Span::from_std(older_than).unwrap_or(Span::zero());
    let stale = with_conn(db, move |conn| Ok(repo::stale(conn, bound, 500)?)).await?;
    let mut released = 0;
    for row in stale {
        let done = in_tx(db, move |conn| {
            let error = "abandoned: released after the stale-reservation bound";
            let f = repo::Finish { error: Some(error), ..Default::default() };
            if !repo::finish(conn, row.id, "failed", &f, now)? {
                return Ok(false);
            }
            settle(conn, &row, 0, 0, "cancelled", now)?;
            audit::record(
                conn,
                &AuditContext::system(),
                Entry {
                    action: "request.released",
                    subject_type: "request",
                    subject_id: Some(&row.public_id),
                    details: json!({"released": row.estimated, "reason": "stale"}),
                    result: AuditResult::Failure,
                },
            )?;
            Ok(true)
        })
        .await?;
        released += usize::from(done);
    }
    Ok(released)
}

/// Figures of `GET /api/v1/audit/report`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Requests decided.
    pub requests: u64,
    /// Approved by the pipeline or a reviewer (executed or not).
    pub approved: u64,
    /// Rejected.
    pub rejected: u64,
    /// Waiting for review.
    pub in_review: u64,
    /// Executed.
    pub executed: u64,
    /// Failed at the provider (or abandoned).
    pub provider_failures: u64,
    /// Charged, micro-USDC.
    pub spend: i64,
    /// Rejections by reason code.
    pub violations: std::collections::BTreeMap<String, u64>,
    /// Decisions with a risk score of 7 or more, or rejected `HIGH_RISK`.
    pub high_risk: u64,
    /// Alerts raised in the range.
    pub alerts: u64,
}

/// Report filters (public ids; times UTC).
#[derive(Clone, Debug, Default)]
pub struct ReportFilter {
    /// `usr_…` (admins; others always get their own).
    pub user: Option<String>,
    /// `prj_…`.
    pub project: Option<String>,
    /// From (inclusive).
    pub from: Option<NaiveDateTime>,
    /// To (exclusive).
    pub to: Option<NaiveDateTime>,
}

/// Sums the requests matching the filter.
pub async fn report(
    db: &repositories::Db,
    caller: &Principal,
    f: ReportFilter,
) -> Result<Report, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let user_id = match (&f.user, caller.is_admin()) {
            (Some(u), true) => Some(match user_repo::by_public_id(conn, u) {
                Ok(u) => u.id,
                Err(repositories::RepoError::NotFound) => return Err(ServiceError::NotFound("user")),
                Err(e) => return Err(e.into()),
            }),
            (Some(u), false) if *u != caller.user_public_id => return Err(ServiceError::NotFound("user")),
            (_, true) => None,
            (_, false) => Some(caller.user_id),
        };
        let list = ListFilter { project: f.project.clone(), from: f.from, to: f.to, ..Default::default() };
        let Some(mut filter) = to_repo_filter(conn, &caller, list)? else {
            return Err(ServiceError::NotFound("project"));
        };
        filter.user_id = user_id;
        let rows = repo::all(conn, &filter)?;
        let mut r = Report::default();
        for row in &rows {
            r.requests += 1;
            match row.status.as_str() {
                "pending" => r.in_review += 1,
                "executed" => r.executed += 1,
                "failed" => r.provider_failures += 1,
                _ => {}
            }
            if row.outcome == "approved" || (row.outcome == "requires_review" && row.status != "pending") {
                r.approved += 1;
            }
            if row.outcome == "rejected" {
                r.rejected += 1;
                let code = row.reason.clone().unwrap_or_else(|| "UNKNOWN".into());
                *r.violations.entry(code).or_default() += 1;
            }
            if row.risk_score >= 7.0 || row.reason.as_deref() == Some("HIGH_RISK") {
                r.high_risk += 1;
            }
            r.spend += row.charged;
        }
        r.alerts = repo::count_alerts(conn, user_id, f.from, f.to)?;
        Ok(r)
    })
    .await
}
