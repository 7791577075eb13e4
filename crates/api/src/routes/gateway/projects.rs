//! `/api/v1/projects` (a user's own), their agents, budget and policy; `/api/v1/system-policy`.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use services::gateway::decide::{Operation, Policy, SystemPolicy};
use services::gateway::projects as svc;
use services::ServiceError;

use crate::error::{ApiError, Problem};
use crate::extract::{idempotent, parse_json, Auth, PageOf, PageQuery};
use crate::routes::catalogue::MoneyView;
use crate::state::AppState;

/// A project.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// `prj_…`.
    pub id: String,
    /// Name (unique per user).
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<models::rows::Project> for ProjectView {
    fn from(p: models::rows::Project) -> Self {
        Self {
            id: p.public_id,
            name: p.name,
            description: p.description,
            created_at: p.created_at.and_utc(),
            updated_at: p.updated_at.and_utc(),
        }
    }
}

/// Body of `POST /api/v1/projects` and `PATCH /api/v1/projects/{id}` (optional fields on PATCH).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRequest {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// The caller's projects (admins: all), newest first.
#[utoipa::path(tag = "projects", params(PageQuery), security(("api_key" = [])), responses((status = 200, body = PageOf<ProjectView>)))]
#[get("/api/v1/projects")]
pub async fn list_projects(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<ProjectView>>, ApiError> {
    let (limit, before) = q.resolve()?;
    let rows = svc::list(&state.db, &auth.principal, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |p| p.id, ProjectView::from)))
}

/// Creates a project owned by the caller. Honours `Idempotency-Key`.
#[utoipa::path(tag = "projects", request_body = ProjectRequest, security(("api_key" = [])), params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for the same body")), responses(
    (status = 201, body = ProjectView),
    (status = 409, description = "PROJECT_NAME_TAKEN", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/projects")]
pub async fn create_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    idempotent(&state, &req, &auth.principal.user_public_id, &body, || async {
        let input: ProjectRequest = parse_json(&body)?;
        let name = input.name.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let p = svc::create(
            &state.db,
            auth.audit(),
            &auth.principal,
            name,
            input.description,
            state.gateway.now(),
        )
        .await?;
        Ok((StatusCode::CREATED, serde_json::to_value(ProjectView::from(p)).unwrap_or_default()))
    })
    .await
}

/// One project (its owner or an admin).
#[utoipa::path(tag = "projects", params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ProjectView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/projects/{id}")]
pub async fn get_project(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<ProjectView>, ApiError> {
    Ok(web::Json(svc::get(&state.db, &auth.principal, id.into_inner()).await?.into()))
}

/// Renames or re-describes a project.
#[utoipa::path(tag = "projects", request_body = ProjectRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ProjectView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "PROJECT_NAME_TAKEN", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/projects/{id}")]
pub async fn update_project(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<ProjectView>, ApiError> {
    let input: ProjectRequest = parse_json(&body)?;
    Ok(web::Json(
        svc::update(
            &state.db,
            auth.audit(),
            &auth.principal,
            id.into_inner(),
            input.name,
            input.description,
            state.gateway.now(),
        )
        .await?
        .into(),
    ))
}

/// A known agent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// `agt_…`.
    pub id: String,
    /// Name (unique per project).
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation.
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/projects/{id}/agents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// A project's agents.
#[utoipa::path(tag = "projects", params(("id" = String, Path)), security(("api_key" = [])), responses((status = 200, body = Vec<AgentView>)))]
#[get("/api/v1/projects/{id}/agents")]
pub async fn list_agents(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<Vec<AgentView>>, ApiError> {
    let rows = svc::agents(&state.db, &auth.principal, id.into_inner()).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|a| AgentView {
                id: a.public_id,
                name: a.name,
                description: a.description,
                created_at: a.created_at.and_utc(),
            })
            .collect(),
    ))
}

/// Adds a known agent.
#[utoipa::path(tag = "projects", request_body = AgentRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 201, body = AgentView),
    (status = 409, description = "AGENT_NAME_TAKEN", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/projects/{id}/agents")]
pub async fn create_agent(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: AgentRequest = parse_json(&body)?;
    let a = svc::create_agent(
        &state.db,
        auth.audit(),
        &auth.principal,
        id.into_inner(),
        input.name,
        input.description,
        state.gateway.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(AgentView {
        id: a.public_id,
        name: a.name,
        description: a.description,
        created_at: a.created_at.and_utc(),
    }))
}

/// Budget limits (micro-USDC; UTC days and months).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    /// Per-request limit.
    pub per_request: i64,
    /// Daily limit.
    pub daily: i64,
    /// Monthly limit.
    pub monthly: i64,
}

/// A budget with its currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    /// Per-request limit.
    pub per_request: MoneyView,
    /// Daily limit.
    pub daily: MoneyView,
    /// Monthly limit.
    pub monthly: MoneyView,
}

fn budget_view((per_request, daily, monthly): (i64, i64, i64)) -> BudgetView {
    BudgetView {
        per_request: MoneyView::new(per_request, "USDC"),
        daily: MoneyView::new(daily, "USDC"),
        monthly: MoneyView::new(monthly, "USDC"),
    }
}

/// A project's budget (SPEC defaults 10 / 100 / 3000 USDC until set).
#[utoipa::path(tag = "projects", params(("id" = String, Path)), security(("api_key" = [])), responses((status = 200, body = BudgetView)))]
#[get("/api/v1/projects/{id}/budget")]
pub async fn get_budget(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<BudgetView>, ApiError> {
    Ok(web::Json(budget_view(svc::budget(&state.db, &auth.principal, id.into_inner()).await?)))
}

/// Sets a project's budget (per_request ≤ daily ≤ monthly).
#[utoipa::path(tag = "projects", request_body = BudgetBody, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = BudgetView),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/projects/{id}/budget")]
pub async fn set_budget(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<BudgetView>, ApiError> {
    let b: BudgetBody = parse_json(&body)?;
    let limits = svc::set_budget(
        &state.db,
        auth.audit(),
        &auth.principal,
        id.into_inner(),
        (b.per_request, b.daily, b.monthly),
        state.gateway.now(),
    )
    .await?;
    Ok(web::Json(budget_view(limits)))
}

/// A project's policy document (strict allow-lists; the default allows nothing).
#[utoipa::path(tag = "projects", params(("id" = String, Path)), security(("api_key" = [])), responses((status = 200, description = "the policy", body = Object)))]
#[get("/api/v1/projects/{id}/policy")]
pub async fn get_policy(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<Policy>, ApiError> {
    Ok(web::Json(svc::policy(&state.db, &auth.principal, id.into_inner()).await?))
}

/// Replaces a project's policy. Fields: `active`, `allowed_providers`, `allowed_models`,
/// `forbidden_providers`, `forbidden_operations`, `rate_per_minute|hour|day`, `allowed_hours`,
/// `allowed_weekdays`, `max_risk_score`, `auto_approve_risk_threshold`, `require_approval_above`.
#[utoipa::path(tag = "projects", request_body(content = Object, description = "the policy"), params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, description = "the stored policy", body = Object),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/projects/{id}/policy")]
pub async fn set_policy(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<Policy>, ApiError> {
    let policy: Policy = parse_json(&body)?;
    Ok(web::Json(
        svc::set_policy(
            &state.db,
            auth.audit(),
            &auth.principal,
            id.into_inner(),
            policy,
            state.gateway.now(),
        )
        .await?,
    ))
}

/// Body of the validate endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Operation (`chat`, `completion`, `vision`, `code`, `embedding`, `audio`, `image`).
    pub operation: String,
}

/// Whether the call would pass the policies, and why not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ValidateView {
    /// Allowed by the system and project policies.
    pub allowed: bool,
    /// Rejection code when not allowed.
    pub code: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// Would this provider, model and operation be allowed for the project, and why not.
#[utoipa::path(tag = "projects", request_body = ValidateRequest, params(("id" = String, Path)), security(("api_key" = [])), responses((status = 200, body = ValidateView)))]
#[post("/api/v1/projects/{id}/policy/validate")]
pub async fn validate_policy(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<ValidateView>, ApiError> {
    let r: ValidateRequest = parse_json(&body)?;
    let operation: Operation = r
        .operation
        .parse()
        .map_err(|e: models::UnknownVariant| ServiceError::invalid("operation", e.to_string()))?;
    let verdict =
        svc::validate(&state.db, &auth.principal, id.into_inner(), r.provider, r.model, operation).await?;
    Ok(web::Json(match verdict {
        Ok(()) => ValidateView { allowed: true, code: None, reason: None },
        Err((code, reason)) => {
            ValidateView { allowed: false, code: Some(code.as_str().into()), reason: Some(reason) }
        }
    }))
}

/// The platform-wide policy (admins).
#[utoipa::path(tag = "projects", security(("api_key" = [])), responses(
    (status = 200, description = "the system policy", body = Object),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/system-policy")]
pub async fn get_system_policy(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<web::Json<SystemPolicy>, ApiError> {
    Ok(web::Json(svc::system_policy(&state.db, &auth.principal).await?))
}

/// Replaces the platform-wide policy (admins): `blocked_providers`, `blocked_models`,
/// `max_per_request`, `max_daily`, `fee_bps`, `flash_ceiling`.
#[utoipa::path(tag = "projects", request_body(content = Object, description = "the system policy"), security(("api_key" = [])), responses(
    (status = 200, description = "the stored system policy", body = Object),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/system-policy")]
pub async fn set_system_policy(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Bytes,
) -> Result<web::Json<SystemPolicy>, ApiError> {
    auth.principal.require_admin()?;
    let policy: SystemPolicy = parse_json(&body)?;
    Ok(web::Json(
        svc::set_system_policy(&state.db, auth.audit(), &auth.principal, policy, state.gateway.now()).await?,
    ))
}

/// Where a project's budget stands (micro-USDC amounts).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BudgetStatusView {
    /// Per-request limit.
    pub per_request: i64,
    /// Daily limit.
    pub daily: i64,
    /// Monthly limit.
    pub monthly: i64,
    /// Charged today (UTC).
    pub spent_today: i64,
    /// Charged this month (UTC).
    pub spent_month: i64,
    /// Reserved by requests still running.
    pub reserved: i64,
    /// Left today.
    pub remaining_today: i64,
    /// Left this month.
    pub remaining_month: i64,
    /// `available`, `low` (≥ 75 % used), `critical` (≥ 90 %) or `exhausted`.
    pub status: String,
}

/// A project's budget: limits, spent today and this month, reserved, remaining, status.
#[utoipa::path(tag = "projects", params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = BudgetStatusView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/projects/{id}/budget/status")]
pub async fn budget_status(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<BudgetStatusView>, ApiError> {
    let now = state.gateway.now();
    let s = svc::budget_status(&state.db, &auth.principal, id.into_inner(), now).await?;
    Ok(web::Json(BudgetStatusView {
        per_request: s.per_request,
        daily: s.daily,
        monthly: s.monthly,
        spent_today: s.spent_today,
        spent_month: s.spent_month,
        reserved: s.reserved,
        remaining_today: s.remaining_today,
        remaining_month: s.remaining_month,
        status: s.status.into(),
    }))
}
