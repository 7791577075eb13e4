//! The spend gateway over REST: `/api/v1/requests` (execute and list), `/api/v1/payments`,
//! `/api/v1/reviews`, `/api/v1/alerts`, the caller's alert webhook, and `/api/v1/audit/report`.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use models::rows_spend::{Alert, RequestPayment, WebhookDelivery};
use models::sql::Json;
use repositories::Page;
use serde::{Deserialize, Serialize};
use services::audit::parse_instant;
use services::gateway::decide::Operation;
use services::gateway::{self as svc, CallRequest, ListFilter, RequestRecord, Scope};

use crate::error::{ApiError, Problem};
use crate::extract::{idempotent, optional_header, parse_json, Auth, PageOf, PageQuery};
use crate::routes::audit::AuditEventView;
use crate::state::AppState;

/// A chat message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text.
    pub content: String,
}

/// Body of `POST /api/v1/requests`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Provider, e.g. `local`.
    pub provider: String,
    /// Model, e.g. `echo` (or `local/echo`).
    pub model: String,
    /// `chat`, `completion`, `vision`, `code`, `embedding`, `audio` or `image`.
    #[schema(value_type = String)]
    pub operation: Operation,
    /// Chat messages.
    #[serde(default)]
    pub messages: Vec<MessageBody>,
    /// A plain prompt.
    pub prompt: Option<String>,
    /// Most output tokens.
    pub max_tokens: Option<u64>,
    /// Other parameters for the provider.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// `prj_…` (else `X-Steward-Project` or the key's scope).
    pub project: Option<String>,
    /// `agt_…` (else `X-Steward-Agent` or the key's scope).
    pub agent: Option<String>,
}

/// The payment of an AI request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestPaymentView {
    /// `pay_…`.
    pub id: String,
    /// `req_…`.
    pub request: String,
    /// Charged, micro-USDC.
    pub amount: i64,
    /// `USDC`.
    pub currency: String,
    /// `ledger`: the internal prepaid balance.
    pub rail: String,
    /// Reference on the rail.
    pub tx_reference: Option<String>,
    /// `reserved`, `committed`, `failed` or `cancelled`.
    pub status: String,
    /// Reserved (estimate + fee).
    pub estimated: i64,
    /// What the provider's reported usage cost (cost + fee); above `estimated` when it produced
    /// more than was reserved, while `amount` stops at the reservation.
    pub actual: i64,
    /// estimated − actual: negative when the provider outran the reservation.
    pub variance: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn payment_view(p: RequestPayment, request: String) -> RequestPaymentView {
    RequestPaymentView {
        id: p.public_id,
        request,
        amount: p.amount,
        currency: p.currency,
        rail: p.rail,
        tx_reference: p.tx_reference,
        status: p.status.as_str().into(),
        estimated: p.estimated,
        actual: p.actual,
        variance: p.variance,
        created_at: p.created_at.and_utc(),
        updated_at: p.updated_at.and_utc(),
    }
}

/// Tokens the provider reported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
}

/// An AI request and its decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// `req_…`.
    pub id: String,
    /// `prj_…`.
    pub project: String,
    /// `agt_…`.
    pub agent: Option<String>,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Operation.
    pub operation: String,
    /// `pending` (in review), `rejected`, `executing`, `executed`, `failed`.
    pub status: String,
    /// The decision: outcome, reason, tier, risk score and factors, checks, estimate.
    #[schema(value_type = Object)]
    pub decision: serde_json::Value,
    /// Reserved, micro-USDC (estimate + fee).
    pub estimated: i64,
    /// Charged, micro-USDC (actual + fee).
    pub charged: i64,
    /// Usage.
    pub usage: UsageView,
    /// Provider latency.
    pub latency_ms: Option<i64>,
    /// The provider's answer in the OpenAI shape (`choices`, `usage`…), once executed.
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its payment.
    pub payment: Option<RequestPaymentView>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<RequestRecord> for RequestView {
    fn from(r: RequestRecord) -> Self {
        let q = r.request;
        let id = q.public_id.clone();
        Self {
            id: q.public_id,
            project: r.project,
            agent: r.agent,
            provider: q.provider,
            model: q.model,
            operation: q.operation,
            status: q.status.as_str().into(),
            decision: q.decision.into_inner(),
            estimated: q.estimated,
            charged: q.charged,
            usage: UsageView { input_tokens: q.input_tokens, output_tokens: q.output_tokens },
            latency_ms: q.latency_ms,
            response: q.response.map(Json::into_inner),
            error: q.error,
            payment: r.payment.map(|p| payment_view(p, id)),
            created_at: q.created_at.and_utc(),
            updated_at: q.updated_at.and_utc(),
        }
    }
}

/// Runs an AI call through the spend pipeline: decide, reserve, call the provider, settle.
/// Honours `Idempotency-Key`. Refusals are problems whose `code` is the reason (402 balance,
/// 403 policy, 429 rate limit, 422 invalid) and whose `ai_request_id` names the recorded request.
#[utoipa::path(tag = "gateway", request_body = ExecuteRequest, security(("api_key" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header),
        ("X-Steward-Project" = Option<String>, Header, description = "`prj_…` when the body and key name none"),
        ("X-Steward-Agent" = Option<String>, Header, description = "`agt_…` when the body and key name none"),
    ),
    responses(
        (status = 200, description = "Executed, or waiting for review (`status` = `pending`)", body = RequestView),
        (status = 402, description = "INSUFFICIENT_BALANCE", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A policy, allow-list, budget or risk refusal", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown project, agent or model", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "PROVIDER_FAILED: nothing charged", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "PROVIDER_TIMEOUT: nothing charged", body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/api/v1/requests")]
pub async fn execute(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = optional_header(&req, "Idempotency-Key")?;
    let (project_header, agent_header) =
        (optional_header(&req, "X-Steward-Project")?, optional_header(&req, "X-Steward-Agent")?);
    idempotent(&state, &req, &auth.principal.user_public_id, &body, || async {
        let input: ExecuteRequest = parse_json(&body)?;
        let scope = Scope { project: input.project.or(project_header), agent: input.agent.or(agent_header) };
        let call = CallRequest::simple(
            input.provider,
            input.model,
            input.operation,
            input.messages.into_iter().map(|m| (m.role, m.content)).collect(),
            input.prompt,
            input.max_tokens,
            input.parameters,
        );
        let record = state.gateway.execute(auth.audit(), &auth.principal, scope, call, key).await?;
        Ok((StatusCode::OK, serde_json::to_value(RequestView::from(record)).unwrap_or_default()))
    })
    .await
}

/// Filters of `GET /api/v1/requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    /// `prj_…`.
    pub project: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Decision outcome.
    pub outcome: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// From (inclusive): RFC 3339 or `YYYY-MM-DD`.
    pub from: Option<String>,
    /// To (exclusive).
    pub to: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's AI requests (admins: everyone's), newest first.
#[utoipa::path(tag = "gateway", params(RequestQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<RequestView>),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/requests")]
pub async fn list_requests(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<RequestQuery>,
) -> Result<web::Json<PageOf<RequestView>>, ApiError> {
    let q = q.into_inner();
    let limit = services::page_limit(q.limit)?;
    let before = services::cursor::decode(q.cursor.as_deref())?;
    let filter = ListFilter {
        project: q.project,
        status: q.status,
        outcome: q.outcome,
        provider: q.provider,
        from: q.from.as_deref().map(|s| parse_instant("from", s)).transpose()?,
        to: q.to.as_deref().map(|s| parse_instant("to", s)).transpose()?,
    };
    let rows = svc::list(&state.db, &auth.principal, filter, Page { limit, before }).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |r| r.request.id, RequestView::from)))
}

/// A request with its audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestDetail {
    /// The request.
    #[serde(flatten)]
    pub request: RequestView,
    /// Its audit events, oldest first.
    pub audit: Vec<AuditEventView>,
}

/// One AI request with its decision, payment and audit trail.
#[utoipa::path(tag = "gateway", params(("id" = String, Path, description = "`req_…`")), security(("api_key" = [])), responses(
    (status = 200, body = RequestDetail),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/requests/{id}")]
pub async fn get_request(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<RequestDetail>, ApiError> {
    let (record, trail) = svc::get(&state.db, &auth.principal, id.into_inner()).await?;
    Ok(web::Json(RequestDetail {
        request: record.into(),
        audit: trail.into_iter().map(AuditEventView::from).collect(),
    }))
}

/// Filters of `GET /api/v1/payments`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PaymentQuery {
    /// Status.
    pub status: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Payments of AI requests (the caller's; admins: everyone's), newest first.
#[utoipa::path(tag = "gateway", params(PaymentQuery), security(("api_key" = [])), responses((status = 200, body = PageOf<RequestPaymentView>)))]
#[get("/api/v1/payments")]
pub async fn list_payments(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PaymentQuery>,
) -> Result<web::Json<PageOf<RequestPaymentView>>, ApiError> {
    let q = q.into_inner();
    let limit = services::page_limit(q.limit)?;
    let before = services::cursor::decode(q.cursor.as_deref())?;
    let rows = svc::payments(&state.db, &auth.principal, q.status, Page { limit, before }).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |(p, _)| p.id, |(p, r)| payment_view(p, r))))
}

/// One payment.
#[utoipa::path(tag = "gateway", params(("id" = String, Path, description = "`pay_…`")), security(("api_key" = [])), responses(
    (status = 200, body = RequestPaymentView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/payments/{id}")]
pub async fn get_payment(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<RequestPaymentView>, ApiError> {
    let (p, r) = svc::payment(&state.db, &auth.principal, id.into_inner()).await?;
    Ok(web::Json(payment_view(p, r)))
}

/// Requests waiting for a human (the caller's projects; admins: all), newest first.
#[utoipa::path(tag = "gateway", params(PageQuery), security(("api_key" = [])), responses((status = 200, body = PageOf<RequestView>)))]
#[get("/api/v1/reviews")]
pub async fn list_reviews(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<RequestView>>, ApiError> {
    let (limit, before) = q.resolve()?;
    let filter = ListFilter { status: Some("pending".into()), ..Default::default() };
    let rows = svc::list(&state.db, &auth.principal, filter, Page { limit, before }).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |r| r.request.id, RequestView::from)))
}

/// Approves a request in review and executes it, re-checking balance and budget now (admin or
/// the project's owner). A second approve or reject is 409 `REVIEW_CLOSED`.
#[utoipa::path(tag = "gateway", params(("id" = String, Path, description = "`req_…`")), security(("api_key" = [])), responses(
    (status = 200, body = RequestView),
    (status = 402, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "REVIEW_CLOSED", body = Problem, content_type = "application/problem+json"),
    (status = 502, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/reviews/{id}/approve")]
pub async fn approve_review(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<RequestView>, ApiError> {
    Ok(web::Json(state.gateway.approve(auth.audit(), &auth.principal, id.into_inner()).await?.into()))
}

/// Body of `POST /api/v1/reviews/{id}/reject`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectReview {
    /// Why (shown in the decision).
    pub reason: Option<String>,
}

/// Rejects a request in review; nothing is charged.
#[utoipa::path(tag = "gateway", request_body = RejectReview, params(("id" = String, Path, description = "`req_…`")), security(("api_key" = [])), responses(
    (status = 200, body = RequestView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "REVIEW_CLOSED", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/reviews/{id}/reject")]
pub async fn reject_review(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<RequestView>, ApiError> {
    let input: RejectReview = if body.is_empty() { RejectReview::default() } else { parse_json(&body)? };
    Ok(web::Json(
        state.gateway.reject(auth.audit(), &auth.principal, id.into_inner(), input.reason).await?.into(),
    ))
}

/// A stored alert.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// `alr_…`.
    pub id: String,
    /// `budget_daily_75|90|100`, `budget_monthly_…`, `low_balance`, `cost_spike_50|100`.
    pub kind: String,
    /// `prj_…` or `account`.
    pub scope: String,
    /// The day, month or hour it fired for (once per period).
    pub period: String,
    /// What happened.
    pub message: String,
    /// Figures.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn alert_view(a: Alert) -> AlertView {
    AlertView {
        id: a.public_id,
        kind: a.kind,
        scope: a.scope,
        period: a.period,
        message: a.message,
        details: serde_json::from_str(&a.details).unwrap_or_default(),
        created_at: a.created_at.and_utc(),
    }
}

/// `?scope=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Only alerts of this scope: a project (`prj_…`) or `account`.
    pub scope: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's alerts (admins: everyone's), newest first.
#[utoipa::path(tag = "gateway", params(AlertQuery), security(("api_key" = [])), responses((status = 200, body = PageOf<AlertView>)))]
#[get("/api/v1/alerts")]
pub async fn list_alerts(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AlertQuery>,
) -> Result<web::Json<PageOf<AlertView>>, ApiError> {
    let q = q.into_inner();
    let (limit, before) = PageQuery { limit: q.limit, cursor: q.cursor }.resolve()?;
    let scope = q.scope.filter(|s| !s.trim().is_empty());
    let rows =
        services::gateway::alerts::list(&state.db, &auth.principal, scope, Page { limit, before }).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |a| a.id, alert_view)))
}

/// Body of `PUT /api/v1/me/webhook`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where alerts are POSTed (http or https).
    pub url: String,
}

/// The webhook's signing secret, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookCreated {
    /// Receiver URL.
    pub url: String,
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

/// One delivery of a webhook message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `msg_…` (the `webhook-id` header).
    pub id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Next attempt (pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Last failure.
    pub last_error: Option<String>,
    /// The body.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// The caller's webhook and its recent deliveries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Receiver URL, if set.
    pub url: Option<String>,
    /// Recent deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
}

fn delivery_view(d: WebhookDelivery) -> DeliveryView {
    DeliveryView {
        id: d.public_id,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.and_utc(),
        last_error: d.last_error,
        payload: serde_json::from_str(&d.payload).unwrap_or_default(),
    }
}

/// Sets the caller's alert webhook and returns a new signing secret (shown once).
#[utoipa::path(tag = "gateway", request_body = WebhookRequest, security(("api_key" = [])), responses(
    (status = 200, body = WebhookCreated),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/me/webhook")]
pub async fn set_webhook(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Bytes,
) -> Result<web::Json<WebhookCreated>, ApiError> {
    let input: WebhookRequest = parse_json(&body)?;
    let url = input.url.trim().to_string();
    let allow_private = state.settings.gateway.webhook_allow_private;
    let secret = services::gateway::alerts::set_webhook(
        &state.db,
        auth.audit(),
        &auth.principal,
        url.clone(),
        allow_private,
        state.gateway.now(),
    )
    .await?;
    Ok(web::Json(WebhookCreated { url, secret }))
}

/// The caller's webhook URL and recent deliveries.
#[utoipa::path(tag = "gateway", security(("api_key" = [])), responses((status = 200, body = WebhookView)))]
#[get("/api/v1/me/webhook")]
pub async fn get_webhook(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<WebhookView>, ApiError> {
    let (url, deliveries) = services::gateway::alerts::webhook(&state.db, &auth.principal).await?;
    Ok(web::Json(WebhookView { url, deliveries: deliveries.into_iter().map(delivery_view).collect() }))
}

/// Removes the caller's webhook.
#[utoipa::path(tag = "gateway", security(("api_key" = [])), responses((status = 204)))]
#[delete("/api/v1/me/webhook")]
pub async fn remove_webhook(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    services::gateway::alerts::remove_webhook(&state.db, auth.audit(), &auth.principal, state.gateway.now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Filters of `GET /api/v1/audit/report`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `usr_…` (admins; others get their own).
    pub user: Option<String>,
    /// `prj_…`.
    pub project: Option<String>,
    /// From (inclusive): RFC 3339 or `YYYY-MM-DD`.
    pub from: Option<String>,
    /// To (exclusive).
    pub to: Option<String>,
}

/// The report's figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// Requests decided.
    pub requests: u64,
    /// Approved (by the pipeline or a reviewer).
    pub approved: u64,
    /// Rejected.
    pub rejected: u64,
    /// Waiting for review.
    pub in_review: u64,
    /// Executed.
    pub executed: u64,
    /// Failed at the provider or abandoned.
    pub provider_failures: u64,
    /// Charged, micro-USDC.
    pub spend: i64,
    /// Rejections by reason code.
    #[schema(value_type = Object)]
    pub violations: std::collections::BTreeMap<String, u64>,
    /// Decisions with risk ≥ 7 or rejected `HIGH_RISK`.
    pub high_risk: u64,
    /// Alerts raised.
    pub alerts: u64,
}

/// Spend-gateway figures for a user, project and time range.
#[utoipa::path(tag = "audit", params(ReportQuery), security(("api_key" = [])), responses(
    (status = 200, body = ReportView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/audit/report")]
pub async fn report(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> Result<web::Json<ReportView>, ApiError> {
    let q = q.into_inner();
    let f = svc::ReportFilter {
        user: q.user,
        project: q.project,
        from: q.from.as_deref().map(|s| parse_instant("from", s)).transpose()?,
        to: q.to.as_deref().map(|s| parse_instant("to", s)).transpose()?,
    };
    let r = svc::report(&state.db, &auth.principal, f).await?;
    Ok(web::Json(ReportView {
        requests: r.requests,
        approved: r.approved,
        rejected: r.rejected,
        in_review: r.in_review,
        executed: r.executed,
        provider_failures: r.provider_failures,
        spend: r.spend,
        violations: r.violations,
        high_risk: r.high_risk,
        alerts: r.alerts,
    }))
}
