//! The OpenAPI 3.1 document: paths from the registered handlers ([`crate::routes::configure`]),
//! plus the error responses every operation shares, added here in one place so no operation
//! forgets one it can produce:
//!
//! - 400 everywhere: a control character in the path or query is refused before any handler;
//!   malformed JSON and bad query strings too.
//! - 401 and 403 where the operation reads credentials (it declares `security`).
//! - 404 where the path names something (or a route resolves a named project or agent).
//! - 409 and 422 where an `Idempotency-Key` is honoured (in flight, reused).
//! - 413, 415 and 422 where there is a request body; 422 where there are query parameters.
//! - 503 wherever the database is read: it may be down.
//!
//! Under `/v1` errors take OpenAI's shape (`OpenAiError`, `application/json`); elsewhere they are
//! RFC 9457 problems (`Problem`, `application/problem+json`).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, ResponsesBuilder};
use utoipa::OpenApi;

use crate::error;

/// An error of the OpenAI-compatible API (`/v1/…`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiError {
    /// The error.
    pub error: OpenAiErrorBody,
}

/// The body of an [`OpenAiError`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorBody {
    /// What went wrong.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
    /// `rate_limit_error` or `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Steward's stable code (see docs/api.md).
    pub code: String,
    /// The offending parameter, for invalid requests.
    pub param: Option<String>,
    /// The HTTP request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// The AI request a refusal or provider failure was recorded as (`req_…`).
    pub steward_request_id: Option<String>,
    /// Close catalogued names, for `MODEL_NOT_FOUND`.
    pub suggestions: Option<Vec<String>>,
    /// The provider's own error code, for `PROVIDER_FAILED`.
    pub upstream_code: Option<String>,
}

/// Base document; paths are collected from the registered handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Steward", description = "Agentic commerce server: booking desk and AI spend gateway."),
    components(schemas(error::Problem, error::ProblemField, OpenAiError, OpenAiErrorBody)),
    modifiers(&SecurityAddon)
)]
pub(crate) struct BaseDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sk-…").build(),
            ),
        );
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// Routes that answer without reading the database or credentials.
const STATIC_ROUTES: [&str; 4] = ["/healthz", "/metrics", "/openapi.json", "/readyz"];

fn error_response(openai: bool, description: &str) -> utoipa::openapi::Response {
    let (content_type, schema) =
        if openai { ("application/json", "OpenAiError") } else { ("application/problem+json", "Problem") };
    ResponseBuilder::new()
        .description(description)
        .content(content_type, ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
        .build()
}

/// Adds each shared error response the operation can produce and does not list yet, and lets
/// every secured operation take its key as `X-API-Key` too.
fn complete(path: &str, op: &mut Operation, calls_a_model: bool) {
    let openai = error::is_openai_path(path);
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured {
        let security = op.security.get_or_insert_with(Vec::new);
        let x_api_key = SecurityRequirement::new("x_api_key", Vec::<String>::new());
        if !security.contains(&x_api_key) {
            security.push(x_api_key);
        }
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = op.request_body.is_some();
    let names_project = params.iter().any(|p| p.name.eq_ignore_ascii_case("X-Steward-Project"));
    let idempotent = params.iter().any(|p| p.name.eq_ignore_ascii_case("Idempotency-Key"));
    let reads_db = !STATIC_ROUTES.contains(&path);
    let wanted: [(&str, bool, &str); 10] = [
        ("400", true, "Malformed request: bad JSON, query string or path (`BAD_REQUEST`, `MALFORMED_JSON`)"),
        ("401", secured, "No or bad credentials (`AUTH_REQUIRED`, `INVALID_API_KEY`)"),
        ("403", secured, "Not allowed for this role, scope or policy (`FORBIDDEN`, `USER_INACTIVE`, …)"),
        ("404", has_path || names_project || openai && secured, "Not found, or not visible to the caller"),
        ("409", idempotent, "The first request with this `Idempotency-Key` is still running (`IDEMPOTENCY_IN_FLIGHT`)"),
        ("413", has_body, "The body is larger than allowed (`PAYLOAD_TOO_LARGE`)"),
        ("415", has_body && !openai, "Unsupported media type"),
        ("422", has_body || has_query || idempotent, "Invalid input (`VALIDATION_FAILED` with `errors`), a refused rule, or a reused `Idempotency-Key` (`IDEMPOTENCY_KEY_REUSED`)"),
        ("500", reads_db, "Unexpected error (`INTERNAL_ERROR`); quote the request id"),
        ("503", reads_db, "A dependency is unavailable (`SERVICE_UNAVAILABLE`, `DEADLINE_EXCEEDED`)"),
    ];
    let spend: [(&str, bool, &str); 4] = [
        ("402", calls_a_model, "The balance does not cover the call (`INSUFFICIENT_BALANCE`)"),
        ("429", calls_a_model, "A rate limit is reached (`RATE_LIMIT_EXCEEDED`), with `Retry-After`"),
        ("502", calls_a_model, "The model provider failed (`PROVIDER_FAILED`); nothing was charged"),
        (
            "504",
            calls_a_model,
            "The model provider did not answer in time (`PROVIDER_TIMEOUT`); nothing was charged",
        ),
    ];
    let mut responses = ResponsesBuilder::new().build();
    responses.responses = std::mem::take(&mut op.responses.responses);
    for (status, applies, description) in wanted.into_iter().chain(spend) {
        if applies && !responses.responses.contains_key(status) {
            responses.responses.insert(status.to_string(), error_response(openai, description).into());
        }
    }
    // Errors listed by a handler without a body get the shared shape.
    for (status, response) in responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let utoipa::openapi::RefOr::T(r) = response {
            if is_error && r.content.is_empty() {
                let description = std::mem::take(&mut r.description);
                *r = error_response(openai, &description);
            }
        }
    }
    op.responses = responses;
}

/// The OpenAPI 3.1 document of every registered route.
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(BaseDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    for (path, item) in doc.paths.paths.iter_mut() {
        // The OpenAI-compatible calls (every POST under /v1) pass the spend pipeline and reach a
        // provider.
        if let Some(op) = item.post.as_mut() {
            complete(path, op, error::is_openai_path(path));
        }
        for op in [&mut item.get, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten() {
            complete(path, op, false);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_lists_the_shared_errors() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        assert!(paths.len() > 50);
        for (path, item) in paths {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                let responses = op["responses"].as_object().cloned().unwrap_or_default();
                assert!(responses.contains_key("400"), "{method} {path} lists 400");
                if op.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path} lists 401");
                }
                if op.get("requestBody").is_some() {
                    assert!(
                        responses.contains_key("422") && responses.contains_key("413"),
                        "{method} {path}"
                    );
                }
                for (status, r) in &responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = r["content"].as_object().cloned().unwrap_or_default();
                        let want = if path.starts_with("/v1/") {
                            "application/json"
                        } else {
                            "application/problem+json"
                        };
                        assert!(content.contains_key(want), "{method} {path} {status} documents {want}");
                    }
                }
            }
        }
    }
}
