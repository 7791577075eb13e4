//! Extractors and helpers shared by handlers: authentication, audit context, JSON bodies,
//! pagination, and the `Idempotency-Key` wrapper.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use services::audit::AuditContext;
use services::idempotency::{self, Begin, IdempotentRequest, StoredResponse};
use services::{keys, Principal, ServiceError};

use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

/// An authenticated caller (`Authorization: Bearer sk-…` or `X-API-Key: sk-…`) with the
/// request id, ready to build an audit context.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The key and its user.
    pub principal: Principal,
    /// `X-Request-Id`.
    pub request_id: String,
}

impl Auth {
    /// The audit context of this request.
    pub fn audit(&self) -> AuditContext {
        AuditContext { actor: self.principal.actor(), request_id: Some(self.request_id.clone()) }
    }
}

fn presented_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    if let Some(v) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::Service(ServiceError::InvalidApiKey))?;
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .ok_or(ApiError::Service(ServiceError::InvalidApiKey))?;
        return Ok(Some(token.trim().to_string()));
    }
    if let Some(v) = req.headers().get("x-api-key") {
        let v = v.to_str().map_err(|_| ApiError::Service(ServiceError::InvalidApiKey))?;
        return Ok(Some(v.trim().to_string()));
    }
    Ok(None)
}

/// Reads a body of at most `limit` bytes (413 `PAYLOAD_TOO_LARGE` beyond, naming `what`).
pub async fn read_limited(mut payload: web::Payload, limit: usize, what: &str) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ServiceError::TooLarge(format!("{what} are at most {limit} bytes")).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The bytes and declared content type of the `multipart/form-data` field `name` (at most
/// `limit` bytes, 413 naming `what` beyond); 422 on `name` when the form has no such field.
pub async fn multipart_file(
    req: &HttpRequest,
    payload: web::Payload,
    name: &str,
    limit: usize,
    what: &str,
) -> Result<(Vec<u8>, String), ApiError> {
    use futures_util::StreamExt;
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if field.name() != Some(name) {
            continue;
        }
        let content_type = field.content_type().map(|m| m.essence_str().to_string()).unwrap_or_default();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest(e.to_string()))?;
            if bytes.len() + chunk.len() > limit {
                return Err(ServiceError::TooLarge(format!("{what} are at most {limit} bytes")).into());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((bytes, content_type));
    }
    Err(ServiceError::invalid(name, format!("a multipart field named `{name}` is required")).into())
}

/// The admin console's session cookie.
pub const CONSOLE_COOKIE: &str = "steward_console";

/// The value of cookie `name`, if the request carries it.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The request id stored by the middleware.
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    /// An API key is required: no credentials is `AUTH_REQUIRED`, a guest token `INVALID_API_KEY`.
    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = DeskCaller::from_request(req, payload);
        Box::pin(async move {
            let DeskCaller { caller, request_id } = caller.await?;
            match caller {
                services::desk::Caller::Key(principal) => Ok(Auth { principal, request_id }),
                services::desk::Caller::Guest(_) => Err(ServiceError::InvalidApiKey.into()),
                services::desk::Caller::Anonymous => Err(ServiceError::AuthRequired.into()),
            }
        })
    }
}

/// A desk caller: an API key, a guest session token (`Bearer gs_…`), or nobody.
#[derive(Clone, Debug)]
pub struct DeskCaller {
    /// Who.
    pub caller: services::desk::Caller,
    /// `X-Request-Id`.
    pub request_id: String,
}

impl DeskCaller {
    /// The request id, for audit contexts.
    pub fn rid(&self) -> Option<String> {
        Some(self.request_id.clone())
    }

    /// The idempotency key space of this caller.
    pub fn owner(&self) -> String {
        self.caller.label()
    }
}

impl FromRequest for DeskCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = presented_key(req);
        let request_id = request_id(req);
        let console = cookie(req, CONSOLE_COOKIE);
        let unsafe_method =
            !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
        let csrf = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        Box::pin(async move {
            use services::desk::{guests, Caller};
            let state =
                state.ok_or_else(|| ApiError::Service(ServiceError::Internal("state missing".into())))?;
            let caller = match key? {
                // The admin console's session cookie; a state-changing request must also carry
                // the session's CSRF token.
                None if console.is_some() => {
                    let token = console.unwrap_or_default();
                    match services::console::authenticate(&state.db, &token).await {
                        Ok((principal, expected)) => {
                            if unsafe_method && !services::console::csrf_matches(&expected, csrf.as_deref()) {
                                return Err(ServiceError::Forbidden(
                                    "the console's CSRF token is missing or wrong".into(),
                                )
                                .into());
                            }
                            Caller::Key(principal)
                        }
                        Err(_) => Caller::Anonymous,
                    }
                }
                None => Caller::Anonymous,
                Some(t) if t.starts_with(guests::TOKEN_PREFIX) => {
                    Caller::Guest(guests::authenticate(&state.db, &t).await?)
                }
                Some(k) => Caller::Key(keys::authenticate(&state.db, &k).await?),
            };
            Ok(DeskCaller { caller, request_id })
        })
    }
}

/// Parses a JSON body into a value: syntax errors (and lone surrogates, and nesting deeper than
/// 128) are 400 `MALFORMED_JSON`; a string or key holding a control character (U+0000–U+001F
/// other than tab, line feed and carriage return) is 422 `VALIDATION_FAILED` naming the field,
/// so no backend ever sees one.
pub fn parse_value(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("the request body is empty; send a JSON object".into()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(strip_position(&e.to_string())))?;
    if let Some(field) = control_character_at(&value, &mut String::new()) {
        return Err(ApiError::Service(ServiceError::invalid(
            &field,
            "must not contain control characters (U+0000 to U+001F other than tab and newlines)",
        )));
    }
    Ok(value)
}

/// Parses a JSON body: syntax errors are 400 `MALFORMED_JSON`, control characters and wrong
/// shapes 422 `VALIDATION_FAILED` (see [`parse_value`]).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    from_value(parse_value(body)?)
}

/// Turns a checked JSON value into `T`; a wrong shape is 422 `VALIDATION_FAILED`.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown field"))
            .unwrap_or("body")
            .to_string();
        ApiError::Service(ServiceError::invalid(&field, strip_position(&msg)))
    })
}

/// Whether text holds a control character other than tab, line feed and carriage return.
pub fn has_control_character(s: &str) -> bool {
    s.chars().any(|c| c < ' ' && c != '\t' && c != '\n' && c != '\r')
}

/// The path (`messages[0].content`) of the first string or key holding a control character.
fn control_character_at(v: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if has_control_character(s) => {
            Some(if path.is_empty() { "body".into() } else { path.clone() })
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = control_character_at(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found =
                if has_control_character(k) { Some(path.clone()) } else { control_character_at(item, path) };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Whether a percent-encoded path or query decodes to a C0 control character (U+0000–U+001F):
/// such a request is refused before any handler sees it.
pub fn uri_has_control_character(encoded: &str) -> bool {
    let bytes = encoded.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' && i + 2 < bytes.len() {
            match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    i += 2;
                    (h * 16 + l) as u8
                }
                _ => bytes[i],
            }
        } else {
            bytes[i]
        };
        if b < 0x20 {
            return true;
        }
        i += 1;
    }
    false
}

fn strip_position(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

/// `?limit=&cursor=` for list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// `(limit, before-id)`.
    pub fn resolve(&self) -> Result<(i64, Option<i64>), ApiError> {
        Ok((services::page_limit(self.limit)?, services::cursor::decode(self.cursor.as_deref())?))
    }
}

/// A page of items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageOf<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageOf<T> {
    /// Builds a page from rows of which the last one's id continues the listing.
    pub fn from_rows<R>(rows: Vec<R>, limit: i64, id: impl Fn(&R) -> i64, view: impl Fn(R) -> T) -> Self {
        let next_cursor = if rows.len() as i64 == limit {
            rows.last().map(|r| services::cursor::encode(id(r)))
        } else {
            None
        };
        Self { items: rows.into_iter().map(view).collect(), next_cursor }
    }
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(body)
}

/// A header's value, trimmed; `None` when absent, a validation error (naming the header) when it
/// is not visible ASCII.
pub fn optional_header(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim().to_string()))
            .map_err(|_| ApiError::Service(ServiceError::invalid(name, "must be visible ASCII"))),
    }
}

/// The deadline of a request made under an `Idempotency-Key`: `idempotency.in_flight_timeout_secs`,
/// plus `gateway.provider_timeout_secs` for AI calls (they wait for a provider).
pub fn request_deadline(settings: &core_config::Settings, path: &str) -> std::time::Duration {
    let mut secs = u64::from(settings.idempotency.in_flight_timeout_secs);
    if path.starts_with("/api/v1/requests") {
        secs += settings.gateway.provider_timeout_secs;
    }
    std::time::Duration::from_secs(secs)
}

/// Runs `handler` under the request's `Idempotency-Key`, if it has one: a replay returns the
/// stored response byte for byte (with `Idempotent-Replayed: true`); a failed attempt releases
/// the key so the client can retry.
pub async fn idempotent<F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    owner: &str,
    body: &[u8],
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(key) = optional_header(req, "Idempotency-Key")? else {
        let (status, value) = handler().await?;
        return Ok(json_response(status, serde_json::to_vec(&value).unwrap_or_default()));
    };
    let deadline = request_deadline(&state.settings, req.path());
    let begin = idempotency::begin(
        &state.db,
        &state.settings.idempotency,
        IdempotentRequest {
            owner: owner.to_string(),
            key,
            method: req.method().to_string(),
            path: req.path().to_string(),
            body: body.to_vec(),
        },
        deadline,
    )
    .await?;
    let ticket = match begin {
        Begin::Replay(stored) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            return Ok(HttpResponse::build(status)
                .content_type(stored.content_type)
                .insert_header(("Idempotent-Replayed", "true"))
                .body(stored.body));
        }
        Begin::Proceed(ticket) => ticket,
    };
    // Past the deadline the attempt is abandoned and the key stays claimed only until then, so
    // a retry after a timeout or a crash takes it over at once.
    let Ok(outcome) = tokio::time::timeout(deadline, handler()).await else {
        tracing::warn!(path = %req.path(), "request abandoned at its deadline");
        return Err(ApiError::DeadlineExceeded);
    };
    match outcome {
        Ok((status, value)) => {
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            idempotency::complete(
                &state.db,
                ticket,
                StoredResponse {
                    status: status.as_u16(),
                    content_type: "application/json".into(),
                    body: bytes.clone(),
                },
            )
            .await?;
            Ok(json_response(status, bytes))
        }
        Err(e) => {
            if let Err(release) = idempotency::release(&state.db, ticket).await {
                tracing::warn!(error = %release, "could not release idempotency key");
            }
            Err(e)
        }
    }
}
