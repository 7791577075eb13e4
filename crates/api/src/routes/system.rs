//! Health, readiness, metrics.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Liveness and readiness answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `ok` or `ready`.
    pub status: &'static str,
    /// `sqlite` or `postgres` (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// Liveness: the process answers (no dependencies checked).
#[utoipa::path(tag = "system", responses((status = 200, body = HealthStatus)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<HealthStatus> {
    web::Json(HealthStatus { status: "ok", database: None })
}

/// Readiness: the database is reachable and every migration is applied.
#[utoipa::path(tag = "system", responses(
    (status = 200, body = HealthStatus),
    (status = 503, description = "database unreachable or migrations pending", body = Problem, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<HealthStatus>, ApiError> {
    let ready = services::health::readiness(&state.db).await.inspect_err(|e| {
        tracing::warn!(error = %e, "not ready");
    })?;
    let database = match ready.backend {
        repositories::Backend::Sqlite => "sqlite",
        repositories::Backend::Postgres => "postgres",
    };
    Ok(web::Json(HealthStatus { status: "ready", database: Some(database) }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(tag = "system", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if state.settings.whatsapp.enabled {
        match services::whatsapp::health(&state.desk).await {
            Ok(h) => state.metrics.whatsapp_state(&h, models::time::now()),
            Err(e) => tracing::warn!(error = %e, "WhatsApp state unreadable for metrics"),
        }
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render(&state.db))
}

/// The generated OpenAPI document, served as is.
#[derive(Debug)]
pub struct OpenApiDoc(pub serde_json::Value);

/// This API's OpenAPI 3.1 document.
#[utoipa::path(tag = "system", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json(doc: web::Data<OpenApiDoc>) -> HttpResponse {
    HttpResponse::Ok().json(&doc.0)
}
