//! The spend report: totals by project, provider and model over a period.

use chrono::NaiveDateTime;
use repositories::{gateway::requests as repo, users as user_repo};
use serde::Serialize;

use super::*;
use crate::{with_conn, Principal, ServiceError};

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
            match row.status {
                RequestStatus::Pending => r.in_review += 1,
                RequestStatus::Executed => r.executed += 1,
                RequestStatus::Failed => r.provider_failures += 1,
                RequestStatus::Rejected | RequestStatus::Executing => {}
            }
            if row.outcome == Outcome::Approved
                || (row.outcome == Outcome::RequiresReview && row.status != RequestStatus::Pending)
            {
                r.approved += 1;
            }
            if row.outcome == Outcome::Rejected {
                r.rejected += 1;
                let code = row.reason.map_or("UNKNOWN", Reason::as_str);
                *r.violations.entry(code.to_string()).or_default() += 1;
            }
            if row.risk_score >= 7.0 || row.reason == Some(Reason::HighRisk) {
                r.high_risk += 1;
            }
            r.spend += row.charged;
        }
        r.alerts = repo::count_alerts(conn, user_id, f.from, f.to)?;
        Ok(r)
    })
    .await
}
