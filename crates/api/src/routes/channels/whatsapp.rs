//! WhatsApp's webhook (SPEC §3.4): `GET /webhooks/whatsapp` answers Meta's verification
//! handshake; `POST /webhooks/whatsapp` checks `X-Hub-Signature-256` over the raw body before
//! parsing anything, stores the batch's events in the inbox in one transaction and answers 200 —
//! nothing else happens in the request (the inbox worker does the rest). `/meta-webhook` is an
//! alias of both. The channel's operations view is `GET /api/v1/admin/channels/whatsapp`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Problem};
use crate::extract::DeskCaller;
use crate::state::AppState;

/// The largest webhook body accepted.
pub const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Registers the webhook (and its alias) on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/webhooks/whatsapp", "/meta-webhook"] {
        cfg.service(
            web::resource(path)
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .route(web::get().to(verify))
                .route(web::post().to(receive)),
        );
    }
}

/// The verification handshake's query.
#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn verify(state: web::Data<AppState>, q: web::Query<Handshake>) -> HttpResponse {
    let expected = state.settings.whatsapp.verify_token.expose().as_bytes();
    let given = q.verify_token.as_deref().unwrap_or("").as_bytes();
    match (&q.mode, &q.challenge) {
        (Some(mode), Some(challenge))
            if mode == "subscribe" && !expected.is_empty() && services::constant_time_eq(expected, given) =>
        {
            HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(challenge.clone())
        }
        _ => HttpResponse::Forbidden().finish(),
    }
}

async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !services::whatsapp::verify_signature(state.settings.whatsapp.app_secret.expose(), &body, signature) {
        tracing::warn!("WhatsApp webhook with a bad or missing signature refused");
        return Err(services::ServiceError::InvalidSignature.into());
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadRequest("the body is not JSON".into()))?;
    let events = services::whatsapp::events_of(&value, models::time::now());
    let stored = services::whatsapp::store(&state.desk, events).await?;
    state.metrics.whatsapp_webhook(started.elapsed(), stored);
    Ok(HttpResponse::Ok().finish())
}

/// The WhatsApp channel's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    /// `whatsapp.enabled` with its settings: the webhook is served and replies are sent.
    pub configured: bool,
    /// Webhook events stored and not processed yet.
    pub inbox_backlog: i64,
    /// The oldest of them.
    pub oldest_waiting_at: Option<DateTime<Utc>>,
    /// The last webhook event stored.
    pub last_webhook_at: Option<DateTime<Utc>>,
    /// Outbound messages waiting to be sent.
    pub outbox_pending: i64,
    /// Outbound messages that failed.
    pub outbox_failed: i64,
}

/// The WhatsApp channel: configured or not, inbox and outbox backlogs, the last webhook (admins).
#[utoipa::path(tag = "admin", security(("api_key" = [])), responses(
    (status = 200, body = ChannelView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/channels/whatsapp")]
pub async fn channel(
    state: web::Data<AppState>,
    caller: DeskCaller,
) -> Result<web::Json<ChannelView>, ApiError> {
    if !caller.caller.is_admin() {
        return Err(services::ServiceError::Forbidden("only admins see channels".into()).into());
    }
    let h = services::whatsapp::health(&state.desk).await?;
    Ok(web::Json(ChannelView {
        configured: h.configured,
        inbox_backlog: h.inbox_backlog,
        oldest_waiting_at: h.oldest_waiting.map(|t| t.and_utc()),
        last_webhook_at: h.last_webhook.map(|t| t.and_utc()),
        outbox_pending: h.outbox_pending,
        outbox_failed: h.outbox_failed,
    }))
}
