//! The one mapping from errors to HTTP: RFC 9457 `application/problem+json` with a stable `code`
//! and the request id. Internal details are logged here, never returned.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use services::{FieldError, ServiceError};

use crate::middleware::current_request_id;

/// Errors a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// From the service layer.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The request is malformed (bad query string, path segment or header).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No route matches the path.
    #[error("no such route")]
    RouteNotFound,
    /// The request ran past its deadline and was abandoned (its `Idempotency-Key` may be
    /// retried at once).
    #[error("the request ran past its deadline")]
    DeadlineExceeded,
    /// An error raised by the framework, known only by its status.
    #[error("{0}")]
    Status(StatusCode),
}

/// The problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Stable UPPER_SNAKE code (see docs/api.md).
    pub code: String,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// Invalid fields, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
    /// Close catalogued names, for `MODEL_NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestions: Option<Vec<String>>,
    /// The provider's own error code, for `PROVIDER_FAILED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_code: Option<String>,
    /// The AI request a refusal or provider failure was recorded as (`req_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_request_id: Option<String>,
}

/// One invalid field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// Field name.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// `(status, code, title, detail, field errors)` — the exhaustive mapping.
    fn parts(&self) -> (StatusCode, &'static str, &'static str, String, Option<&[FieldError]>) {
        use ServiceError as S;
        match self {
            Self::Service(e) => match e {
                S::AuthRequired => (
                    StatusCode::UNAUTHORIZED,
                    "AUTH_REQUIRED",
                    "Authentication required",
                    "send an API key as `Authorization: Bearer sk-…` or `X-API-Key: sk-…`".into(),
                    None,
                ),
                S::InvalidApiKey => (
                    StatusCode::UNAUTHORIZED,
                    "INVALID_API_KEY",
                    "Invalid API key",
                    "the API key is unknown, revoked or expired".into(),
                    None,
                ),
                S::InvalidSignature => (
                    StatusCode::UNAUTHORIZED,
                    "INVALID_SIGNATURE",
                    "Invalid signature",
                    "the X-Hub-Signature-256 header is missing or does not sign this body".into(),
                    None,
                ),
                S::UserInactive => (
                    StatusCode::FORBIDDEN,
                    "USER_INACTIVE",
                    "User not active",
                    "the account that owns this key is not active".into(),
                    None,
                ),
                S::Forbidden(m) => (StatusCode::FORBIDDEN, "FORBIDDEN", "Forbidden", m.clone(), None),
                S::NotFound(what) => {
                    (StatusCode::NOT_FOUND, "NOT_FOUND", "Not found", format!("{what} not found"), None)
                }
                S::ModelNotFound { name, suggestions } => (
                    StatusCode::NOT_FOUND,
                    "MODEL_NOT_FOUND",
                    "Model not found",
                    if suggestions.is_empty() {
                        format!("no model {name} is offered; GET /api/v1/models lists the catalogue")
                    } else {
                        format!("no model {name} is offered; did you mean {}?", suggestions.join(", "))
                    },
                    None,
                ),
                S::Validation(fields) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "VALIDATION_FAILED",
                    "Validation failed",
                    fields
                        .iter()
                        .map(|f| format!("{} {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    Some(fields.as_slice()),
                ),
                S::Conflict { code, message } => {
                    (StatusCode::CONFLICT, code, "Conflict", message.clone(), None)
                }
                S::Unprocessable { code, message } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, code, "Unprocessable request", message.clone(), None)
                }
                S::TooLarge(m) => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "Payload too large", m.clone(), None)
                }
                S::UnsupportedMedia(m) => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "Unsupported media type",
                    m.clone(),
                    None,
                ),
                S::Upstream(_) => (
                    StatusCode::BAD_GATEWAY,
                    "UPSTREAM_FAILURE",
                    "Upstream failure",
                    "an outside service failed; retry later".into(),
                    None,
                ),
                S::Refused { reason, message, .. } => {
                    use services::gateway::decide::ReasonKind;
                    let (status, title) = match reason.kind() {
                        ReasonKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid AI request"),
                        ReasonKind::Balance => (StatusCode::PAYMENT_REQUIRED, "Insufficient balance"),
                        ReasonKind::RateLimit => (StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
                        ReasonKind::Policy => (StatusCode::FORBIDDEN, "Refused by policy"),
                    };
                    (status, reason.as_str(), title, message.clone(), None)
                }
                S::AwaitingReview { request } => (
                    StatusCode::FORBIDDEN,
                    "REQUIRES_REVIEW",
                    "Waiting for review",
                    format!("the call needs a human review; request {request} is in GET /api/v1/reviews"),
                    None,
                ),
                S::ProviderFailed { timeout: true, .. } => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "PROVIDER_TIMEOUT",
                    "Provider timeout",
                    "the model provider did not answer in time; nothing was charged".into(),
                    None,
                ),
                S::ProviderFailed { timeout: false, upstream_code, .. } => (
                    StatusCode::BAD_GATEWAY,
                    "PROVIDER_FAILED",
                    "Provider failure",
                    match upstream_code {
                        Some(c) => format!("the model provider failed ({c}); nothing was charged"),
                        None => "the model provider failed; nothing was charged".into(),
                    },
                    None,
                ),
                S::IdempotencyMismatch => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "IDEMPOTENCY_KEY_REUSED",
                    "Idempotency key reused",
                    "this Idempotency-Key was used with a different request".into(),
                    None,
                ),
                S::IdempotencyInFlight { .. } => (
                    StatusCode::CONFLICT,
                    "IDEMPOTENCY_IN_FLIGHT",
                    "Request in progress",
                    "a request with this Idempotency-Key is still being processed; retry later".into(),
                    None,
                ),
                S::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "Service unavailable",
                    "a dependency is unavailable; retry later".into(),
                    None,
                ),
                S::Internal(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "Internal error",
                    "an unexpected error occurred; quote the request id when reporting it".into(),
                    None,
                ),
            },
            Self::MalformedJson(m) => {
                (StatusCode::BAD_REQUEST, "MALFORMED_JSON", "Malformed JSON", m.clone(), None)
            }
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", "Bad request", m.clone(), None),
            Self::DeadlineExceeded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "DEADLINE_EXCEEDED",
                "Deadline exceeded",
                "the request did not finish within its deadline; retry it with the same Idempotency-Key"
                    .into(),
                None,
            ),
            Self::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "ROUTE_NOT_FOUND",
                "Not found",
                "no route matches this method and path".into(),
                None,
            ),
            Self::Status(status) => {
                let (code, title) = match *status {
                    StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE", "Payload too large"),
                    StatusCode::METHOD_NOT_ALLOWED => ("METHOD_NOT_ALLOWED", "Method not allowed"),
                    StatusCode::NOT_FOUND => ("ROUTE_NOT_FOUND", "Not found"),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type")
                    }
                    s if s.is_client_error() => ("BAD_REQUEST", "Bad request"),
                    StatusCode::SERVICE_UNAVAILABLE => ("SERVICE_UNAVAILABLE", "Service unavailable"),
                    _ => ("INTERNAL_ERROR", "Internal error"),
                };
                (*status, code, title, title.to_string(), None)
            }
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (status, code, title, detail, fields) = self.parts();
        Problem {
            type_: format!("https://steward.dev/problems/{}", code.to_ascii_lowercase().replace('_', "-")),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            code: code.to_string(),
            request_id: current_request_id(),
            suggestions: match self {
                Self::Service(ServiceError::ModelNotFound { suggestions, .. }) => Some(suggestions.clone()),
                _ => None,
            },
            upstream_code: match self {
                Self::Service(ServiceError::ProviderFailed { upstream_code, .. }) => upstream_code.clone(),
                _ => None,
            },
            ai_request_id: match self {
                Self::Service(
                    ServiceError::Refused { request, .. }
                    | ServiceError::ProviderFailed { request, .. }
                    | ServiceError::AwaitingReview { request },
                ) => Some(request.clone()),
                _ => None,
            },
            errors: fields.map(|f| {
                f.iter()
                    .map(|f| ProblemField { field: f.field.clone(), message: f.message.clone() })
                    .collect()
            }),
        }
    }
}

/// Whether a path belongs to the OpenAI-compatible API, whose errors take OpenAI's shape.
pub fn is_openai_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

impl ApiError {
    /// The error in OpenAI's shape (`{"error": {message, type, param, code}}`, JSON) with the
    /// status and `code` Steward would give, except that a request OpenAI would refuse as
    /// malformed (`VALIDATION_FAILED`) is 400 `invalid_request_error` naming the `param`.
    pub fn openai_response(&self) -> HttpResponse {
        if let Self::Service(ServiceError::Internal(detail)) = self {
            tracing::error!(error = %detail, "internal error");
        }
        let p = self.problem();
        let validation = matches!(self, Self::Service(ServiceError::Validation(_)));
        let status = if validation {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        };
        let kind = match status.as_u16() {
            401 => "authentication_error",
            402 | 403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            s if s >= 500 => "api_error",
            _ => "invalid_request_error",
        };
        let param = p.errors.as_ref().and_then(|f| f.first()).map(|f| f.field.clone());
        let mut message = p.detail.clone();
        if let Some(id) = &p.ai_request_id {
            message = format!("{message} (request {id})");
        }
        let mut res = HttpResponse::build(status).json(serde_json::json!({
            "error": {"message": message, "type": kind, "code": p.code, "param": param,
                "request_id": p.request_id, "steward_request_id": p.ai_request_id, "suggestions": p.suggestions,
                "upstream_code": p.upstream_code},
        }));
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
            }
        }
        res.extensions_mut().insert(crate::middleware::ShapedError);
        res
    }

    /// The response for a request to `path`: OpenAI's shape under `/v1`, else problem+json.
    pub fn render(&self, path: &str) -> HttpResponse {
        if is_openai_path(path) {
            self.openai_response()
        } else {
            self.error_response()
        }
    }

    /// Seconds a client should wait before retrying, for errors that have such a time.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Service(ServiceError::Refused {
                reason: services::gateway::decide::Reason::RateLimitExceeded,
                ..
            }) => Some(60),
            Self::Service(ServiceError::IdempotencyInFlight { retry_after_secs }) => Some(*retry_after_secs),
            Self::DeadlineExceeded => Some(1),
            _ => None,
        }
    }
}

impl From<repositories::RepoError> for ApiError {
    fn from(e: repositories::RepoError) -> Self {
        Self::Service(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Service(ServiceError::Internal(detail)) => {
                tracing::error!(error = %detail, "internal error")
            }
            Self::Service(ServiceError::Unavailable(detail)) => {
                tracing::warn!(error = %detail, "dependency unavailable")
            }
            _ => {}
        }
        let problem = self.problem();
        let mut res =
            HttpResponse::build(self.status_code()).content_type("application/problem+json").json(problem);
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_error_has_a_distinct_stable_code() {
        let errors = [
            ServiceError::AuthRequired,
            ServiceError::InvalidApiKey,
            ServiceError::InvalidSignature,
            ServiceError::UserInactive,
            ServiceError::Forbidden("x".into()),
            ServiceError::NotFound("user"),
            ServiceError::invalid("name", "bad"),
            ServiceError::IdempotencyMismatch,
            ServiceError::IdempotencyInFlight { retry_after_secs: 3 },
            ServiceError::TooLarge("big".into()),
            ServiceError::UnsupportedMedia("pdf".into()),
            ServiceError::Upstream("cloud down".into()),
            ServiceError::Unavailable("db".into()),
            ServiceError::Internal("secret detail".into()),
        ];
        let mut codes = std::collections::HashSet::new();
        for e in errors {
            let p = ApiError::from(e).problem();
            assert!(codes.insert(p.code.clone()), "duplicate code {}", p.code);
            assert!(p.code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            assert!(!p.detail.contains("secret detail"));
        }
    }
}
