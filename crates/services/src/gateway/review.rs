//! The review queue: a human approves (re-checking balance and budget) or rejects a request
//! the rules sent to review; each happens once (a status compare-and-swap).

use models::rows_spend::AiRequest;
use models::AuditResult;
use repositories::gateway::counters;
use repositories::gateway::reservations;
use repositories::{gateway::requests as repo, DbConnection};
use serde_json::json;

use crate::audit::{self, AuditContext, Entry};

use super::*;
use crate::{in_tx, with_conn, Principal, ServiceError};

impl Gateway {
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
            if !repo::transition(conn, row.id, RequestStatus::Pending, RequestStatus::Executing, now)? {
                return Err(review_closed());
            }
            audit::record_success(conn, &ctx, "review.approved", "request", &row.public_id, json!({}))?;
            // The rate-limit places were taken when the request was queued; now the money.
            let owner_project = (row.user_id, row.project_id);
            match reserve_or_undo(conn, owner_project, &periods, row.estimated, &row.public_id, now)? {
                Err(refusal) => {
                    let mut decision = row.decision.clone().into_inner();
                    let reason = refusal_reason(refusal);
                    let text = format!("approved by a reviewer, then refused: {}", refusal_text(refusal));
                    decision["outcome"] = json!("rejected");
                    decision["reason"] = json!(reason.as_str());
                    decision["reason_text"] = json!(text);
                    repo::transition(conn, row.id, RequestStatus::Executing, RequestStatus::Rejected, now)?;
                    counters::decided(conn, row.project_id, &counters::hour_key(now), true)?;
                    repo::set_decision(conn, row.id, Outcome::Rejected, Some(reason), &Json::new(decision), now)?;
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
            if !repo::transition(conn, row.id, RequestStatus::Pending, RequestStatus::Rejected, now)? {
                return Err(review_closed());
            }
            let mut decision = row.decision.clone().into_inner();
            let text = note.unwrap_or_else(|| "rejected by a reviewer".into());
            decision["outcome"] = json!("rejected");
            decision["reason"] = json!(Reason::ReviewRejected.as_str());
            decision["reason_text"] = json!(text);
            repo::set_decision(
                conn,
                row.id,
                Outcome::Rejected,
                Some(Reason::ReviewRejected),
                &Json::new(decision),
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
}

pub(super) fn review_closed() -> ServiceError {
    ServiceError::conflict("REVIEW_CLOSED", "this request is not waiting for review")
}

/// Reviews are a human decision: agent keys may not make them, nor keys scoped to another project.
pub(super) fn may_review(
    conn: &mut DbConnection,
    caller: &Principal,
    row: &AiRequest,
) -> Result<(), ServiceError> {
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
