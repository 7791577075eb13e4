//! The AI spend gateway's wing (SPEC §4): every AI call goes through [`Gateway`].
//!
//! [`call`] is the shape of a call and its edge checks; `admit` authorises, loads, decides and
//! records and reserves; `settle` calls the provider and settles; `stream` does both for a
//! streamed answer; `review` is the queue a human decides; [`queries`](list) and [`report`] read;
//! [`release_stale`] releases what never settled; [`chat_model`] is the `ChatModel` port over the
//! gateway, for the platform's own agents. The pure decision is [`crate::gateway::decide`].
//!
//! A request's `status` only moves by compare-and-swap (`pending → executing → executed|failed`,
//! `pending → rejected`), and every money movement happens in the same transaction as that
//! move, so nothing is settled, released or executed twice.

pub mod accounts;
mod admit;
pub mod alerts;
pub mod call;
pub mod catalogue;
pub mod chat_model;
pub mod chatbot;
pub mod decide;
pub mod extractor;
pub mod projects;
mod queries;
mod report;
mod review;
mod settle;
mod stale;
mod stream;

pub use call::CallRequest;
pub use queries::{get, list, payment, payments, ListFilter};
pub use report::{report, Report, ReportFilter};
pub use stale::release_stale;
pub use stream::Streaming;

// The wing's parts share their helpers through this module.
use admit::*;
use queries::*;
use settle::*;

use std::sync::Arc;
use std::time::Duration;

use models::rows_spend::{AiRequest, RequestPayment};
use models::spend::{Outcome, PaymentStatus, RequestStatus};
use models::sql::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::AuditContext;

use crate::gateway::decide::{Price, ProEvaluator, Reason};
use crate::ports::{Clock, ModelProvider};
use crate::{with_conn, Principal, ServiceError};

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
pub(super) struct Stored {
    pub(super) call: CallRequest,
    pub(super) price: Price,
    pub(super) fee_bps: i64,
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
pub(super) enum Failure {
    Unavailable,
    Timeout,
    Error(crate::ports::PortError),
}

/// The provider call a recorded request makes, from what it stored.
pub(super) fn model_call(row: &AiRequest) -> Result<crate::ports::ModelCall, ServiceError> {
    let stored = stored_of(row)?;
    Ok(crate::ports::ModelCall {
        model: row.model.clone(),
        operation: stored.call.operation,
        body: stored.call.body,
    })
}

/// Awaits a provider's answer within `timeout`, naming how it failed.
pub(super) async fn within<T>(
    timeout: Duration,
    answer: impl std::future::Future<Output = Result<T, crate::ports::PortError>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(Failure::Error(e)),
        Err(_) => Err(Failure::Timeout),
    }
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
pub(super) enum Recorded {
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

    /// Now, by the gateway's clock: the one time source of the wing (projects, accounts,
    /// alerts and the catalogue take it from here).
    pub fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
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
        if row.status == RequestStatus::Pending {
            self.record(row).await
        } else {
            self.run_detached(ctx, row).await
        }
    }

    /// Runs the call and its settlement on a task of its own: if the client goes away and the
    /// handler is dropped, the reservation is still settled (or released) now, not by the
    /// stale-reservation job.
    pub(super) async fn run_detached(
        &self,
        ctx: AuditContext,
        row: AiRequest,
    ) -> Result<RequestRecord, ServiceError> {
        let gateway = self.clone();
        tokio::spawn(async move { gateway.run(ctx, row).await })
            .await
            .map_err(|e| ServiceError::Internal(format!("the provider call task failed: {e}")))?
    }

    pub(super) fn provider(&self, name: &str) -> Option<Arc<dyn ModelProvider>> {
        self.providers.iter().find(|p| p.name().eq_ignore_ascii_case(name)).cloned()
    }

    /// The request with its payment.
    pub async fn record(&self, row: AiRequest) -> Result<RequestRecord, ServiceError> {
        with_conn(&self.db, move |conn| Ok(records(conn, vec![row])?.remove(0))).await
    }
}

/// Runs `f` in one write transaction ([`in_tx`]) that changes what the gateway's decisions
/// cache (the catalogue, a user's projects), and then clears that cache
/// (`repositories::gateway::cache`), whether or not it committed.
pub(crate) async fn in_tx_uncached<T, F>(db: &repositories::Db, f: F) -> Result<T, ServiceError>
where
    T: Send + 'static,
    F: FnOnce(&mut repositories::DbConnection) -> Result<T, ServiceError> + Send + 'static,
{
    let done = crate::in_tx(db, f).await;
    db.decision_cache().clear();
    done
}

/// The receipt added to OpenAI-shaped answers: `{request_id, decision, cost, payment}`.
pub fn receipt(r: &RequestRecord) -> Value {
    let q = &r.request;
    let decision = &q.decision;
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

pub(super) fn stored_of(row: &AiRequest) -> Result<Stored, ServiceError> {
    Stored::deserialize(&*row.body).map_err(|e| ServiceError::Internal(e.to_string()))
}
