//! The provider call and its settlement: charge what the usage cost (at most the reservation),
//! release the rest, audit, keep the totals, and raise the alerts a settlement crossed.

use std::time::Instant;

use chrono::{Duration as Span, NaiveDateTime};
use models::rows_spend::{AiRequest, RequestPayment};
use models::AuditResult;
use repositories::gateway::admission;
use repositories::gateway::counters;
use repositories::gateway::reservations::{self, Periods};
use repositories::{gateway::requests as repo, DbConnection};
use serde_json::json;

use crate::audit::{self, AuditContext, Entry};
use repositories::audit::EventRow;

use super::*;
use crate::gateway::decide::cost_of;
use crate::{in_tx, ServiceError};

impl Gateway {
    /// Calls the provider for an `executing` request and settles it.
    pub(super) async fn run(&self, ctx: AuditContext, row: AiRequest) -> Result<RequestRecord, ServiceError> {
        let call = model_call(&row)?;
        let started = Instant::now();
        let result = match self.provider(&row.provider) {
            None => Err(Failure::Unavailable),
            Some(p) => within(self.timeout, p.call(&call)).await,
        };
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok(reply) => {
                let usage = (reply.input_tokens, reply.output_tokens);
                let settled = self.settle_ok(ctx, &row, usage, latency, Json::new(reply.body), None).await?;
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

    /// Settles an answered call: `executing → executed`, charge actual + fee (at most the
    /// reservation), release the rest, evaluate alerts. `None` when the request was released
    /// meanwhile (nothing is charged then). `error` notes a stream cut short.
    pub(super) async fn settle_ok(
        &self,
        ctx: AuditContext,
        row: &AiRequest,
        (input_tokens, output_tokens): (u64, u64),
        latency: i64,
        response: Json<Value>,
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
        let event = audit::Ready::new(Entry {
            action: "request.executed",
            subject_type: "request",
            subject_id: Some(&row.public_id),
            details: json!({
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
            result: AuditResult::Success,
        });
        // The row as the settlement leaves it (no read back).
        let request = AiRequest {
            status: RequestStatus::Executed,
            charged,
            input_tokens: i64::try_from(input_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(output_tokens).unwrap_or(i64::MAX),
            latency_ms: Some(latency),
            response: Some(response),
            error,
            updated_at: now,
            ..row.clone()
        };
        let settle = admission::Settle {
            request: row.clone(),
            charged,
            input_tokens: request.input_tokens,
            output_tokens: request.output_tokens,
            latency_ms: request.latency_ms,
            response: request.response.clone(),
            error: request.error.clone(),
            actual,
            event: EventRow::from(&event.event(&ctx)),
            now,
            hours: (counters::hour_key(now), counters::hour_key(now - Span::hours(24))),
        };
        // The request, its payment, the money and the totals, written with the other
        // settlements of its batch; the view the receipt and the alerts read, read back.
        let (payment, view) = match self.db.settle(row.user_id.unsigned_abs(), settle).await? {
            (admission::Settlement::Settled(payment), Some(view)) => (payment, view),
            (admission::Settlement::Settled(_), None) => return Err(ServiceError::NotFound("project")),
            (admission::Settlement::Released, _) => {
                tracing::warn!(request = %row.public_id, "request was released before it settled");
                return Ok(None);
            }
        };
        let due = alerts::due(&view, now);
        let record = RequestRecord { request, project: view.project, agent: view.agent, payment };
        // An alert crossed (and an overrun, which the charge stopped at the reservation) is
        // stored after the settlement commits, in a transaction of its own; a failure is logged
        // and the settlement stands.
        let overrun = actual > row.estimated;
        if !due.is_empty() || overrun {
            let (user, project, request, estimated) =
                (row.user_id, row.project_id, row.public_id.clone(), row.estimated);
            let raised = in_tx(&self.db, move |conn| {
                if overrun {
                    alerts::overrun(conn, user, project, &request, estimated, actual, now)?;
                }
                alerts::raise_due(conn, user, due, now)
            })
            .await;
            if let Err(e) = raised {
                tracing::warn!(request = %record.request.public_id, error = %e, "evaluating alerts failed");
            }
        }
        Ok(Some(record))
    }

    /// Settles a failed call: `executing → failed`, release everything. Returns the error to
    /// give the client.
    pub(super) async fn settle_failed(
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
                if repo::finish(conn, row.id, RequestStatus::Failed, &f, now)? {
                    settle(conn, &row, 0, 0, PaymentStatus::Failed, now)?;
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
}

/// Charges `charged` of the request's reservation and releases the rest; marks the payment
/// with what the provider's usage cost (`actual`, which may exceed the reservation).
pub(super) fn settle(
    conn: &mut DbConnection,
    row: &AiRequest,
    charged: i64,
    actual: i64,
    status: PaymentStatus,
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
