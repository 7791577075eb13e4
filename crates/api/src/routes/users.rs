//! `/api/v1/users` (admins) and `/api/v1/me`.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest};
use chrono::{DateTime, Utc};
use models::rows::User;
use models::{Role, UserStatus};
use serde::{Deserialize, Serialize};
use services::users::{self, CreateUser, UpdateUser};

use super::catalogue::MoneyView;
use crate::error::{ApiError, Problem};
use crate::extract::{idempotent, parse_json, Auth, PageOf, PageQuery};
use crate::state::AppState;

/// A platform user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// `usr_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email (lower-case).
    pub email: String,
    /// `admin`, `owner`, `member` or `website`.
    pub role: String,
    /// `active`, `suspended`, `inactive`, `frozen` or `banned`.
    pub status: String,
    /// Identity verified (required to spend through the gateway).
    pub verified: bool,
    /// `free`, `pro` or `enterprise`.
    pub tier: String,
    /// Balance, micro-USDC.
    pub balance: MoneyView,
    /// Reserved for requests in flight, micro-USDC.
    pub reserved: MoneyView,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.public_id,
            name: u.name,
            email: u.email,
            role: u.role,
            status: u.status,
            verified: u.verified,
            tier: u.tier,
            balance: MoneyView::new(u.balance, "USDC"),
            reserved: MoneyView::new(u.reserved, "USDC"),
            created_at: u.created_at.and_utc(),
            updated_at: u.updated_at.and_utc(),
        }
    }
}

/// The caller and the key it used.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user.
    pub user: UserView,
    /// Id of the key used.
    pub key_id: String,
    /// Role of the key used.
    pub key_role: String,
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Display name.
    pub name: String,
    /// Email, unique.
    pub email: String,
    /// Role.
    #[schema(value_type = String, example = "member")]
    pub role: Role,
    /// Status (default `active`).
    #[schema(value_type = Option<String>, example = "active")]
    pub status: Option<UserStatus>,
}

/// Body of `PATCH /api/v1/users/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New name.
    pub name: Option<String>,
    /// New role.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// New status.
    #[schema(value_type = Option<String>)]
    pub status: Option<UserStatus>,
    /// Verified flag.
    pub verified: Option<bool>,
    /// `free`, `pro` or `enterprise`.
    pub tier: Option<String>,
}

/// Who am I: the caller's user and key.
#[utoipa::path(tag = "users", security(("api_key" = [])), responses(
    (status = 200, body = Me),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/me")]
pub async fn me(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Me>, ApiError> {
    let user = users::get(&state.db, &auth.principal, auth.principal.user_public_id.clone()).await?;
    Ok(web::Json(Me {
        user: user.into(),
        key_id: auth.principal.key_public_id.clone(),
        key_role: auth.principal.role.as_str().to_string(),
    }))
}

/// All users, newest first (admin).
#[utoipa::path(tag = "users", params(PageQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<UserView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    auth: Auth,
    page: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<UserView>>, ApiError> {
    let (limit, before) = page.resolve()?;
    let rows = users::list(&state.db, &auth.principal, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |u| u.id, UserView::from)))
}

/// Creates a user (admin). Honours `Idempotency-Key`.
#[utoipa::path(tag = "users", request_body = CreateUserRequest, security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for the same body")),
    responses(
        (status = 201, body = UserView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "EMAIL_TAKEN", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/api/v1/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    body: web::Bytes,
) -> Result<actix_web::HttpResponse, ApiError> {
    auth.principal.require_admin()?;
    idempotent(&state, &req, &auth.principal.user_public_id, &body, || async {
        let input: CreateUserRequest = parse_json(&body)?;
        let user = users::create(
            &state.db,
            auth.audit(),
            &auth.principal,
            CreateUser { name: input.name, email: input.email, role: input.role, status: input.status },
        )
        .await?;
        Ok((StatusCode::CREATED, serde_json::to_value(UserView::from(user)).unwrap_or_default()))
    })
    .await
}

/// One user (admins: anyone; others: themselves).
#[utoipa::path(tag = "users", security(("api_key" = [])), params(("id" = String, Path, description = "`usr_…`")),
    responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(users::get(&state.db, &auth.principal, id.into_inner()).await?.into()))
}

/// Changes a user's name, role or status (admin; not their own role or status).
#[utoipa::path(tag = "users", request_body = UpdateUserRequest, security(("api_key" = [])),
    params(("id" = String, Path, description = "`usr_…`")),
    responses(
        (status = 200, body = UserView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[patch("/api/v1/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<UserView>, ApiError> {
    auth.principal.require_admin()?;
    let input: UpdateUserRequest = parse_json(&body)?;
    let user = users::update(
        &state.db,
        auth.audit(),
        &auth.principal,
        id.into_inner(),
        UpdateUser {
            name: input.name,
            role: input.role,
            status: input.status,
            verified: input.verified,
            tier: input.tier,
        },
    )
    .await?;
    Ok(web::Json(user.into()))
}

/// One ledger entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerView {
    /// `led_…`.
    pub id: String,
    /// `deposit`, `reserve`, `release`, `charge`, `refund`, `adjustment`.
    pub kind: String,
    /// Signed micro-USDC (reserve and release change the reserved amount).
    pub amount: i64,
    /// Balance after.
    pub balance_after: i64,
    /// Reserved after.
    pub reserved_after: i64,
    /// What it is for.
    pub reference: Option<String>,
    /// Note.
    pub note: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/users/{id}/deposits`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// Micro-USDC to credit (1 USDC = 1 000 000).
    pub amount: i64,
    /// Note for the ledger.
    pub note: Option<String>,
}

fn ledger_view(e: models::rows::LedgerEntry) -> LedgerView {
    LedgerView {
        id: e.public_id,
        kind: e.kind,
        amount: e.amount,
        balance_after: e.balance_after,
        reserved_after: e.reserved_after,
        reference: e.reference,
        note: e.note,
        created_at: e.created_at.and_utc(),
    }
}

/// Credits a user's balance (admin). Honours `Idempotency-Key`.
#[utoipa::path(tag = "users", request_body = DepositRequest, security(("api_key" = [])),
    params(("id" = String, Path, description = "`usr_…`"), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 201, body = LedgerView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/api/v1/users/{id}/deposits")]
pub async fn deposit(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<actix_web::HttpResponse, ApiError> {
    auth.principal.require_admin()?;
    let id = id.into_inner();
    idempotent(&state, &req, &auth.principal.user_public_id, &body, || async {
        let input: DepositRequest = parse_json(&body)?;
        let entry = services::gateway::accounts::deposit(
            &state.db,
            auth.audit(),
            &auth.principal,
            id.clone(),
            input.amount,
            input.note,
            state.gateway.now(),
        )
        .await?;
        Ok((StatusCode::CREATED, serde_json::to_value(ledger_view(entry)).unwrap_or_default()))
    })
    .await
}

/// A user's ledger, newest first (admins, or the user).
#[utoipa::path(tag = "users", params(("id" = String, Path), PageQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<LedgerView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/{id}/ledger")]
pub async fn ledger(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<LedgerView>>, ApiError> {
    let (limit, before) = page.resolve()?;
    let rows =
        services::gateway::accounts::ledger_of(&state.db, &auth.principal, id.into_inner(), limit, before)
            .await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |e| e.id, ledger_view)))
}
