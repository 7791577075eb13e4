//! `/api/v1/api-keys`: a user's own keys.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest};
use chrono::{DateTime, Utc};
use models::rows::ApiKey;
use models::Role;
use serde::{Deserialize, Serialize};
use services::keys::{self, CreateKey};

use crate::error::{ApiError, Problem};
use crate::extract::{idempotent, parse_json, Auth, PageOf, PageQuery};
use crate::state::AppState;

/// An API key as shown to its owner (never the secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// `key_…`.
    pub id: String,
    /// Label.
    pub name: String,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    /// `admin`, `owner`, `member` or `website`.
    pub role: String,
    /// Project scope.
    pub project: Option<String>,
    /// Agent scope.
    pub agent: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    /// Successful authentications.
    pub usage_count: i64,
    /// Last successful authentication.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Revocation.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.public_id,
            name: k.name,
            prefix: k.prefix,
            role: k.role,
            project: k.project,
            agent: k.agent,
            status: k.status,
            usage_count: k.usage_count,
            last_used_at: k.last_used_at.map(|t| t.and_utc()),
            expires_at: k.expires_at.map(|t| t.and_utc()),
            created_at: k.created_at.and_utc(),
            revoked_at: k.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// Body of `POST /api/v1/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Label, 1–100 characters.
    pub name: String,
    /// Role of the key; defaults to the user's role. Only admins may choose another role.
    #[schema(value_type = Option<String>, example = "member")]
    pub role: Option<Role>,
    /// Optional project scope.
    pub project: Option<String>,
    /// Optional agent scope.
    pub agent: Option<String>,
    /// Optional expiry (RFC 3339, in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key: the secret is shown here once and never again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The secret: `sk-` + 43 characters. Store it now.
    pub key: String,
    /// The key's record.
    pub api_key: KeyView,
}

/// The caller's keys, newest first.
#[utoipa::path(tag = "api-keys", params(PageQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<KeyView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/api-keys")]
pub async fn list_keys(
    state: web::Data<AppState>,
    auth: Auth,
    page: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<KeyView>>, ApiError> {
    let (limit, before) = page.resolve()?;
    let rows = keys::list_for_user(&state.db, auth.principal.user_id, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |k| k.id, KeyView::from)))
}

/// Creates a key for the caller. Honours `Idempotency-Key`.
#[utoipa::path(tag = "api-keys", request_body = CreateKeyRequest, security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for the same body")),
    responses(
        (status = 201, body = CreatedKey),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "the `project` or `agent` scope is not one of the owner's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "same Idempotency-Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/api/v1/api-keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    body: web::Bytes,
) -> Result<actix_web::HttpResponse, ApiError> {
    idempotent(&state, &req, &auth.principal.user_public_id, &body, || async {
        let input: CreateKeyRequest = parse_json(&body)?;
        let (key, secret) = keys::create(
            &state.db,
            auth.audit(),
            auth.principal.user_id,
            auth.principal.role,
            CreateKey {
                name: input.name,
                role: input.role,
                project: input.project,
                agent: input.agent,
                expires_at: input.expires_at.map(|t| t.naive_utc()),
            },
        )
        .await?;
        let out = CreatedKey { key: secret, api_key: key.into() };
        Ok((StatusCode::CREATED, serde_json::to_value(out).unwrap_or_default()))
    })
    .await
}

/// Revokes one of the caller's keys (admins: any key). Revoking twice is harmless.
#[utoipa::path(tag = "api-keys", security(("api_key" = [])), params(("id" = String, Path, description = "key id `key_…`")),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
#[delete("/api/v1/api-keys/{id}")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<web::Json<KeyView>, ApiError> {
    let key = keys::revoke(&state.db, auth.audit(), &auth.principal, id.into_inner()).await?;
    Ok(web::Json(key.into()))
}
