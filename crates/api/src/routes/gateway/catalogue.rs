//! `/api/v1/providers` and `/api/v1/models`: the model catalogue (admins edit it).

use actix_web::{get, patch, put, web};
use chrono::{DateTime, Utc};
use models::rows_spend::{CatalogueModel, PriceHistory};
use repositories::gateway::model_catalogue::ModelFilter;
use serde::{Deserialize, Serialize};
use services::gateway::catalogue::{self as svc, ModelChange};

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, Auth};
use crate::state::AppState;

/// A provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// Name used in `provider/model`.
    pub name: String,
    /// Adapter kind.
    pub kind: String,
    /// Shown name.
    pub display_name: String,
    /// API base URL.
    pub base_url: String,
    /// Environment variable with its API key (never the key).
    pub api_key_env: String,
    /// Switched on.
    pub enabled: bool,
    /// An adapter serves it now (enabled and, if it needs one, its key was set at start).
    pub available: bool,
}

/// Every provider and whether it can be called.
#[utoipa::path(tag = "catalogue", security(("api_key" = [])), responses((status = 200, body = Vec<ProviderView>)))]
#[get("/api/v1/providers")]
pub async fn list_providers(
    state: web::Data<AppState>,
    _auth: Auth,
) -> Result<web::Json<Vec<ProviderView>>, ApiError> {
    let rows = svc::providers(&state.db).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|p| ProviderView {
                available: p.enabled && state.gateway.has_provider(&p.name),
                name: p.name,
                kind: p.kind,
                display_name: p.display_name,
                base_url: p.base_url,
                api_key_env: p.api_key_env,
                enabled: p.enabled,
            })
            .collect(),
    ))
}

/// Body of `PATCH /api/v1/providers/{name}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    /// Switch on or off.
    pub enabled: Option<bool>,
    /// New base URL (adapters pick it up at the next start).
    pub base_url: Option<String>,
}

/// Switches a provider on or off or moves its base URL (admin).
#[utoipa::path(tag = "catalogue", request_body = ProviderChange, params(("name" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ProviderView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/providers/{name}")]
pub async fn update_provider(
    state: web::Data<AppState>,
    auth: Auth,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<ProviderView>, ApiError> {
    let input: ProviderChange = parse_json(&body)?;
    let p = svc::update_provider(
        &state.db,
        auth.audit(),
        &auth.principal,
        name.into_inner(),
        input.enabled,
        input.base_url,
        state.gateway.now(),
    )
    .await?;
    Ok(web::Json(ProviderView {
        available: p.enabled && state.gateway.has_provider(&p.name),
        name: p.name,
        kind: p.kind,
        display_name: p.display_name,
        base_url: p.base_url,
        api_key_env: p.api_key_env,
        enabled: p.enabled,
    }))
}

/// A model and its list prices (micro-USDC).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    /// `provider/model`: the exact name to call it by.
    pub id: String,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// `chat`, `completion`, `embedding`, `image`, `audio`, `vision`.
    pub category: String,
    /// Capabilities.
    pub capabilities: Vec<String>,
    /// Context window (tokens; 0 unknown).
    pub context_window: i64,
    /// Per million input tokens.
    pub input_per_million: i64,
    /// Per million output tokens.
    pub output_per_million: i64,
    /// Per request.
    pub per_request: i64,
    /// Per image.
    pub per_image: i64,
    /// Per million characters.
    pub per_million_chars: i64,
    /// When the list price was read, or who set it.
    pub price_read_on: String,
    /// Offered.
    pub active: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// View of a catalogue row.
pub fn model_view(m: CatalogueModel) -> ModelView {
    ModelView {
        id: format!("{}/{}", m.provider, m.model),
        capabilities: serde_json::from_str(&m.capabilities).unwrap_or_default(),
        provider: m.provider,
        model: m.model,
        category: m.category,
        context_window: m.context_window,
        input_per_million: m.input_per_million,
        output_per_million: m.output_per_million,
        per_request: m.per_request,
        per_image: m.per_image,
        per_million_chars: m.per_million_chars,
        price_read_on: m.price_read_on,
        active: m.active,
        updated_at: m.updated_at.and_utc(),
    }
}

/// Filters of `GET /api/v1/models`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    /// Provider name.
    pub provider: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Substring of `provider/model`.
    pub search: Option<String>,
}

/// The catalogue.
#[utoipa::path(tag = "catalogue", params(ModelQuery), security(("api_key" = [])), responses((status = 200, body = Vec<ModelView>)))]
#[get("/api/v1/models")]
pub async fn list_models(
    state: web::Data<AppState>,
    _auth: Auth,
    q: web::Query<ModelQuery>,
) -> Result<web::Json<Vec<ModelView>>, ApiError> {
    let q = q.into_inner();
    let f = ModelFilter { provider: q.provider, category: q.category, search: q.search, active_only: false };
    Ok(web::Json(svc::models(&state.db, f).await?.into_iter().map(model_view).collect()))
}

/// One price of a model's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelPriceView {
    /// Per million input tokens.
    pub input_per_million: i64,
    /// Per million output tokens.
    pub output_per_million: i64,
    /// Per request.
    pub per_request: i64,
    /// Per image.
    pub per_image: i64,
    /// Per million characters.
    pub per_million_chars: i64,
    /// Seed or admin.
    pub source: String,
    /// From when.
    pub effective_from: DateTime<Utc>,
}

fn price_view(h: PriceHistory) -> ModelPriceView {
    ModelPriceView {
        input_per_million: h.input_per_million,
        output_per_million: h.output_per_million,
        per_request: h.per_request,
        per_image: h.per_image,
        per_million_chars: h.per_million_chars,
        source: h.source,
        effective_from: h.effective_from.and_utc(),
    }
}

/// A model with its price history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelDetail {
    /// The model.
    #[serde(flatten)]
    pub model: ModelView,
    /// Every price it has had, oldest first.
    pub price_history: Vec<ModelPriceView>,
}

/// One model and its price history; an unknown name is 404 `MODEL_NOT_FOUND` with suggestions.
#[utoipa::path(tag = "catalogue", params(("provider" = String, Path), ("model" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ModelDetail),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/models/{provider}/{model}")]
pub async fn get_model(
    state: web::Data<AppState>,
    _auth: Auth,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ModelDetail>, ApiError> {
    let (provider, model) = path.into_inner();
    let (m, history) = svc::model(&state.db, provider, model).await?;
    Ok(web::Json(ModelDetail {
        model: model_view(m),
        price_history: history.into_iter().map(price_view).collect(),
    }))
}

/// Body of `PUT /api/v1/models/{provider}/{model}` (absent fields keep their value).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPut {
    /// Category.
    pub category: Option<String>,
    /// Capabilities.
    pub capabilities: Option<Vec<String>>,
    /// Context window.
    pub context_window: Option<i64>,
    /// Micro-USDC per million input tokens.
    pub input_per_million: Option<i64>,
    /// Micro-USDC per million output tokens.
    pub output_per_million: Option<i64>,
    /// Micro-USDC per request.
    pub per_request: Option<i64>,
    /// Micro-USDC per image.
    pub per_image: Option<i64>,
    /// Micro-USDC per million characters.
    pub per_million_chars: Option<i64>,
    /// Offered.
    pub active: Option<bool>,
}

/// Creates or edits a model (admin); the old price stays in the history.
#[utoipa::path(tag = "catalogue", request_body = ModelPut, params(("provider" = String, Path), ("model" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ModelView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/models/{provider}/{model}")]
pub async fn put_model(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<web::Json<ModelView>, ApiError> {
    let (provider, model) = path.into_inner();
    let b: ModelPut = parse_json(&body)?;
    let change = ModelChange {
        category: b.category,
        capabilities: b.capabilities,
        context_window: b.context_window,
        input_per_million: b.input_per_million,
        output_per_million: b.output_per_million,
        per_request: b.per_request,
        per_image: b.per_image,
        per_million_chars: b.per_million_chars,
        active: b.active,
    };
    Ok(web::Json(model_view(
        svc::put_model(
            &state.db,
            auth.audit(),
            &auth.principal,
            provider,
            model,
            change,
            state.gateway.now(),
        )
        .await?,
    )))
}
