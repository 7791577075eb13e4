//! `/api/v1/audit`: the audit stream and its verification (admins).

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use models::rows::AuditEvent;
use repositories::audit::AuditFilter;
use serde::{Deserialize, Serialize};
use services::audit::{self, parse_instant, VerifyReport};

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, PageOf};
use crate::state::AppState;

/// One audit event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventView {
    /// `evt_…`.
    pub event_id: String,
    /// Position in the hash chain (null until linked, normally within a second).
    pub seq: Option<i64>,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// `guest`, `user`, `agent`, `admin` or `system`.
    pub actor_type: String,
    /// Actor's public id.
    pub actor_id: Option<String>,
    /// Dotted action, e.g. `api_key.created`.
    pub action: String,
    /// Subject kind.
    pub subject_type: String,
    /// Subject's public id.
    pub subject_id: Option<String>,
    /// `X-Request-Id` of the request that caused it.
    pub request_id: Option<String>,
    /// Details (personal data masked).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// `success`, `failure` or `denied`.
    pub result: String,
    /// Previous event's hash.
    pub prev_hash: Option<String>,
    /// This event's hash.
    pub hash: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            event_id: e.event_id,
            seq: e.seq,
            occurred_at: e.occurred_at.and_utc(),
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            request_id: e.request_id,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::String(e.details)),
            result: e.result,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Subject kind, e.g. `api_key`.
    pub subject_type: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Actor kind.
    pub actor_type: Option<String>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Action, e.g. `user.updated`.
    pub action: Option<String>,
    /// HTTP request id.
    pub request_id: Option<String>,
    /// From (inclusive): RFC 3339 or `YYYY-MM-DD`.
    pub from: Option<String>,
    /// To (exclusive): RFC 3339 or `YYYY-MM-DD`.
    pub to: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Audit events, newest first (admin).
#[utoipa::path(tag = "audit", params(AuditQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<AuditEventView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/audit")]
pub async fn list_events(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AuditQuery>,
) -> Result<web::Json<PageOf<AuditEventView>>, ApiError> {
    auth.principal.require_admin()?;
    let q = q.into_inner();
    let limit = services::page_limit(q.limit)?;
    let before = services::cursor::decode(q.cursor.as_deref())?;
    let filter = AuditFilter {
        subject_type: q.subject_type,
        subject_id: q.subject_id,
        actor_type: q.actor_type,
        actor_id: q.actor_id,
        action: q.action,
        request_id: q.request_id,
        from: q.from.as_deref().map(|s| parse_instant("from", s)).transpose()?,
        to: q.to.as_deref().map(|s| parse_instant("to", s)).transpose()?,
    };
    let rows = audit::list(&state.db, filter, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |e| e.id, AuditEventView::from)))
}

/// Links pending events, recomputes the whole hash chain, and names the first broken link.
#[utoipa::path(tag = "audit", security(("api_key" = [])), responses(
    (status = 200, description = "`ok` tells whether the chain verifies", body = VerifyReportView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/audit/verify")]
pub async fn verify_chain(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<web::Json<VerifyReportView>, ApiError> {
    auth.principal.require_admin()?;
    let report = audit::verify(&state.db, state.settings.audit.chain_batch_size).await?;
    Ok(web::Json(report.into()))
}

/// Result of verifying the chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyReportView {
    /// True when every link verifies.
    pub ok: bool,
    /// Events verified.
    pub checked: i64,
    /// Events not yet linked.
    pub unchained: i64,
    /// Hash of the last verified event.
    pub head_hash: String,
    /// The first broken link.
    pub first_broken: Option<BrokenLinkView>,
}

/// A link that does not verify.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BrokenLinkView {
    /// Chain position.
    pub seq: i64,
    /// `evt_…`.
    pub event_id: String,
    /// What does not match.
    pub reason: String,
}

impl From<VerifyReport> for VerifyReportView {
    fn from(r: VerifyReport) -> Self {
        Self {
            ok: r.ok,
            checked: r.checked,
            unchained: r.unchained,
            head_hash: r.head_hash,
            first_broken: r.first_broken.map(|b| BrokenLinkView {
                seq: b.seq,
                event_id: b.event_id,
                reason: b.reason,
            }),
        }
    }
}
