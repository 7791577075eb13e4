//! The request middleware: `X-Request-Id` (accepted or generated), a tracing span per request,
//! Prometheus metrics by route, and problem+json for errors raised by the framework itself.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::AppState;

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The request id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// The request id, stored in request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Accepts a client id of 1–128 characters from `[A-Za-z0-9._:-]`; otherwise generates one.
fn request_id_for(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("rid_{}", models::ids::random_crockford(20).to_ascii_lowercase()))
}

/// Marks an error response already rendered in another API's error shape (the OpenAI-compatible
/// endpoints), so it is not turned into a problem.
#[derive(Clone, Copy, Debug)]
pub struct ShapedError;

/// The middleware function (wrap with `actix_web::middleware::from_fn`).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request_id_for(&req);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let span = tracing::info_span!("http", %method, path = %req.path(), request_id = %request_id);
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let path = req.path().to_string();
    let hostile = crate::extract::uri_has_control_character(req.uri().path())
        || req.uri().query().is_some_and(crate::extract::uri_has_control_character);
    let mut res = if hostile {
        let err = ApiError::BadRequest(
            "the path or query string contains a control character (U+0000 to U+001F)".into(),
        );
        let rendered = CURRENT_REQUEST_ID.sync_scope(request_id.clone(), || err.render(&path));
        req.into_response(rendered)
    } else {
        let result =
            CURRENT_REQUEST_ID.scope(request_id.clone(), next.call(req).instrument(span.clone())).await;
        result?.map_into_boxed_body()
    };

    // Under /v1 an error a handler or extractor returned as a problem takes OpenAI's shape.
    if crate::error::is_openai_path(&path) {
        let reshaped = res
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>())
            .map(|e| CURRENT_REQUEST_ID.sync_scope(request_id.clone(), || e.openai_response()));
        if let Some(reshaped) = reshaped {
            res = res.into_response(reshaped);
        }
    }
    // Errors produced by the framework (payload limits, unmatched methods…) become problems
    // (OpenAI-shaped errors under /v1).
    let foreign_error = res.response().error().is_some_and(|e| e.as_error::<ApiError>().is_none());
    let is_problem = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
        || res.response().extensions().get::<ShapedError>().is_some();
    if foreign_error || ((res.status().is_client_error() || res.status().is_server_error()) && !is_problem) {
        let status = res.status();
        let detail = res.response().error().map(|e| e.to_string());
        let err = match (status.as_u16(), detail) {
            (404 | 413, _) => ApiError::Status(status),
            (400..=499, Some(d)) => ApiError::BadRequest(d),
            _ => ApiError::Status(status),
        };
        let mut problem = CURRENT_REQUEST_ID.sync_scope(request_id.clone(), || err.render(&path));
        *problem.status_mut() = status;
        res = res.into_response(problem);
    }

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state.metrics.observe(&method, &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, route = %route, "request");
    });
    Ok(res)
}
