//! The OpenAI-compatible API: `POST /v1/chat/completions` (JSON or SSE), `POST /v1/embeddings`,
//! `GET /v1/models`. Any OpenAI SDK works with `base_url` pointed at Steward and a Steward key;
//! every call passes the spend pipeline. Errors come back in OpenAI's shape
//! (`{"error": {message, type, code}}`) with Steward's code.

use ::models::spend::RequestStatus;
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};
use services::gateway::decide::Operation;
use services::gateway::{receipt, CallRequest, RequestRecord, Scope};
use services::ServiceError;

use crate::error::ApiError;
use crate::extract::{optional_header, Auth};
use crate::state::AppState;

/// An error in OpenAI's shape (see [`ApiError::openai_response`]).
fn openai_error(e: ApiError) -> HttpResponse {
    e.openai_response()
}

async fn authenticate(req: &HttpRequest) -> Result<Auth, ApiError> {
    Auth::from_request(req, &mut Payload::None).await
}

fn scope(req: &HttpRequest) -> Result<Scope, ApiError> {
    Ok(Scope {
        project: optional_header(req, "X-Steward-Project")?,
        agent: optional_header(req, "X-Steward-Agent")?,
    })
}

fn body_object(body: &[u8]) -> Result<Value, ApiError> {
    let v = crate::extract::parse_value(body)?;
    if !v.is_object() {
        return Err(ApiError::Service(ServiceError::invalid("body", "must be a JSON object")));
    }
    Ok(v)
}

/// `provider/model` from the body; a bare name is a 404 with suggestions.
async fn model_name(state: &AppState, body: &Value) -> Result<(String, String, String), ApiError> {
    let name = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ServiceError::invalid("model", "is required, as provider/model"))?
        .trim()
        .to_string();
    match name.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok((p.to_string(), m.to_string(), name)),
        _ => Err(services::gateway::catalogue::not_found(&state.db, name).await.into()),
    }
}

/// The stored answer with `model`, `usage` and the receipt.
fn answer(record: &RequestRecord, name: &str) -> Value {
    let q = &record.request;
    let mut body: Value = q.response.as_deref().cloned().unwrap_or_else(|| json!({}));
    body["model"] = json!(name);
    if body.get("usage").is_none_or(Value::is_null) {
        body["usage"] = json!({"prompt_tokens": q.input_tokens, "completion_tokens": q.output_tokens,
            "total_tokens": q.input_tokens + q.output_tokens});
    }
    if body.get("id").is_none() {
        body["id"] = json!(format!("chatcmpl-{}", q.public_id));
    }
    body["x_steward"] = receipt(record);
    body
}

async fn chat(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req).await?;
    let body = body_object(&body)?;
    let (provider, model, name) = model_name(&state, &body).await?;
    let has_image =
        body["messages"].as_array().into_iter().flatten().any(|m| {
            m["content"].as_array().is_some_and(|parts| parts.iter().any(|p| p["type"] == "image_url"))
        });
    let operation = if has_image { Operation::Vision } else { Operation::Chat };
    let mut call = CallRequest { provider, model, operation, body };
    call.validate()?;
    let stream = call.body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if let Some(o) = call.body.as_object_mut() {
        o.remove("model");
        o.remove("stream");
        o.remove("stream_options");
    }
    if stream {
        let s = state.gateway.execute_stream(auth.audit(), &auth.principal, scope(&req)?, call, None).await?;
        let events = s
            .chunks
            .map(|chunk| Ok::<Bytes, actix_web::Error>(Bytes::from(format!("data: {chunk}\n\n"))))
            .chain(futures_util::stream::once(async { Ok(Bytes::from_static(b"data: [DONE]\n\n")) }));
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-steward-request-id", s.request))
            .streaming(events));
    }
    let record = state.gateway.execute(auth.audit(), &auth.principal, scope(&req)?, call, None).await?;
    if record.request.status == RequestStatus::Pending {
        return Err(ServiceError::AwaitingReview { request: record.request.public_id }.into());
    }
    Ok(HttpResponse::Ok().json(answer(&record, &name)))
}

/// OpenAI chat completions through the spend pipeline; `stream: true` answers with SSE.
#[utoipa::path(tag = "openai", request_body(content = Object, description = "OpenAI chat completion request; `model` is `provider/model`"),
    security(("api_key" = [])),
    params(("X-Steward-Project" = Option<String>, Header), ("X-Steward-Agent" = Option<String>, Header)),
    responses(
        (status = 200, description = "`chat.completion` with `usage` and `x_steward`, or an SSE stream of chunks ending in `[DONE]`"),
        (status = 402, description = "OpenAI-shaped error, `code` INSUFFICIENT_BALANCE"),
        (status = 403, description = "OpenAI-shaped error with the refusal code, or REQUIRES_REVIEW"),
        (status = 404, description = "MODEL_NOT_FOUND with suggestions"),
        (status = 429, description = "RATE_LIMIT_EXCEEDED"),
        (status = 502, description = "PROVIDER_FAILED"),
    ))]
#[post("/v1/chat/completions")]
pub async fn chat_completions(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    chat(state, req, body).await.unwrap_or_else(openai_error)
}

async fn embed(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req).await?;
    let mut body = body_object(&body)?;
    let (provider, model, name) = model_name(&state, &body).await?;
    if let Some(o) = body.as_object_mut() {
        o.remove("model");
    }
    let call = CallRequest { provider, model, operation: Operation::Embedding, body };
    call.validate()?;
    let record = state.gateway.execute(auth.audit(), &auth.principal, scope(&req)?, call, None).await?;
    if record.request.status == RequestStatus::Pending {
        return Err(ServiceError::AwaitingReview { request: record.request.public_id }.into());
    }
    let mut v = answer(&record, &name);
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
    }
    Ok(HttpResponse::Ok().json(v))
}

/// OpenAI embeddings through the spend pipeline.
#[utoipa::path(tag = "openai", request_body(content = Object, description = "OpenAI embeddings request; `model` is `provider/model`"),
    security(("api_key" = [])),
    responses((status = 200, description = "embeddings `list` with `usage` and `x_steward`")))]
#[post("/v1/embeddings")]
pub async fn embeddings(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    embed(state, req, body).await.unwrap_or_else(openai_error)
}

async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req).await?;
    let offered = services::gateway::catalogue::allowed(
        &state.db,
        &auth.principal,
        optional_header(&req, "X-Steward-Project")?,
    )
    .await?;
    let data: Vec<Value> = offered
        .into_iter()
        .map(|m| json!({"id": format!("{}/{}", m.provider, m.model), "object": "model", "created": 0, "owned_by": m.provider}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}

/// The models this key's project policy allows (OpenAI `list` of `model`).
#[utoipa::path(tag = "openai", security(("api_key" = [])),
    params(("X-Steward-Project" = Option<String>, Header, description = "else the key's project, else all the caller's projects")),
    responses((status = 200, description = "OpenAI `list` of models")))]
#[get("/v1/models")]
pub async fn models(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    list(state, req).await.unwrap_or_else(openai_error)
}

/// Runs a facility call: `provider/model` from the body, `body` as the OpenAI-shaped request.
async fn facility(
    state: &AppState,
    req: &HttpRequest,
    raw: &Value,
    operation: Operation,
    body: Value,
) -> Result<(RequestRecord, String), ApiError> {
    let auth = authenticate(req).await?;
    let (provider, model, name) = model_name(state, raw).await?;
    let call = CallRequest { provider, model, operation, body };
    let record = state.gateway.execute(auth.audit(), &auth.principal, scope(req)?, call, None).await?;
    if record.request.status == RequestStatus::Pending {
        return Err(ServiceError::AwaitingReview { request: record.request.public_id }.into());
    }
    Ok((record, name))
}

fn text_field(body: &Value, field: &str) -> Result<String, ApiError> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ServiceError::invalid(field, "is required").into())
}

fn passthrough(from: &Value, to: &mut Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to[*k] = v.clone();
        }
    }
}

fn reply_of(record: &RequestRecord) -> Value {
    record.request.response.as_deref().filter(|r| r.is_object()).cloned().unwrap_or_else(|| json!({}))
}

/// A facility answer carrying the model's text as `field`, with usage and the receipt.
fn text_answer(record: &RequestRecord, name: &str, object: &str, field: &str) -> Value {
    let reply = reply_of(record);
    let q = &record.request;
    let mut out = json!({
        "id": q.public_id, "object": object, "model": name,
        "finish_reason": reply["choices"][0]["finish_reason"],
        "usage": {"prompt_tokens": q.input_tokens, "completion_tokens": q.output_tokens},
        "x_steward": receipt(record),
    });
    out[field] = reply["choices"][0]["message"]["content"].clone();
    out
}

async fn text_completion_inner(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let raw = body_object(&body)?;
    let prompt = text_field(&raw, "prompt")?;
    let mut call = json!({"messages": [{"role": "user", "content": prompt}]});
    passthrough(&raw, &mut call, &["max_tokens", "temperature", "top_p", "stop"]);
    let (record, name) = facility(&state, &req, &raw, Operation::Completion, call).await?;
    Ok(HttpResponse::Ok().json(text_answer(&record, &name, "text_completion", "text")))
}

/// Completes a prompt (operation `completion`) with a chat model.
#[utoipa::path(tag = "openai", request_body(content = Object, description = "`{model, prompt, max_tokens?, temperature?}`"),
    security(("api_key" = [])), responses((status = 200, description = "`{text, usage, x_steward}`")))]
#[post("/v1/text/completion")]
pub async fn text_completion(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    text_completion_inner(state, req, body).await.unwrap_or_else(openai_error)
}

async fn vision_inner(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let raw = body_object(&body)?;
    let image =
        match (raw.get("image_url").and_then(Value::as_str), raw.get("image_base64").and_then(Value::as_str))
        {
            (Some(url), _) if url.starts_with("http") || url.starts_with("data:image/") => url.to_string(),
            (None, Some(b64)) => {
                let ct = raw.get("content_type").and_then(Value::as_str).unwrap_or("image/png");
                if !ct.starts_with("image/") {
                    return Err(ServiceError::invalid("content_type", "must be an image type").into());
                }
                format!("data:{ct};base64,{b64}")
            }
            _ => {
                return Err(ServiceError::invalid(
                    "image_url",
                    "give an http(s) or data: image URL, or image_base64",
                )
                .into())
            }
        };
    let prompt = raw.get("prompt").and_then(Value::as_str).unwrap_or("Describe this image.").to_string();
    let mut call = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": image}}]}]});
    passthrough(&raw, &mut call, &["max_tokens", "temperature"]);
    let (record, name) = facility(&state, &req, &raw, Operation::Vision, call).await?;
    Ok(HttpResponse::Ok().json(text_answer(&record, &name, "vision.analysis", "analysis")))
}

/// Analyses an image (operation `vision`).
#[utoipa::path(tag = "openai", request_body(content = Object, description = "`{model, image_url | image_base64 + content_type, prompt?}`"),
    security(("api_key" = [])), responses((status = 200, description = "`{analysis, usage, x_steward}`")))]
#[post("/v1/vision/analyze")]
pub async fn vision_analyze(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    vision_inner(state, req, body).await.unwrap_or_else(openai_error)
}

async fn images_inner(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let raw = body_object(&body)?;
    let prompt = text_field(&raw, "prompt")?;
    if raw.get("n").is_some_and(|n| n.as_u64() != Some(1)) {
        return Err(ServiceError::invalid("n", "one image per request (each is priced and charged)").into());
    }
    let mut call = json!({"prompt": prompt, "n": 1});
    passthrough(&raw, &mut call, &["size", "quality", "style", "response_format"]);
    let (record, _) = facility(&state, &req, &raw, Operation::Image, call).await?;
    let mut reply = reply_of(&record);
    reply["x_steward"] = receipt(&record);
    Ok(HttpResponse::Ok().json(reply))
}

/// Generates an image (operation `image`), priced per image.
#[utoipa::path(tag = "openai", request_body(content = Object, description = "`{model, prompt, size?, quality?, style?, response_format?}`"),
    security(("api_key" = [])), responses((status = 200, description = "OpenAI images answer `{created, data}` with `x_steward`")))]
#[post("/v1/images/generate")]
pub async fn images_generate(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    images_inner(state, req, body).await.unwrap_or_else(openai_error)
}

async fn speech_inner(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    use base64::Engine;
    let raw = body_object(&body)?;
    let input = text_field(&raw, "input")?;
    if input.chars().count() > 4096 {
        return Err(ServiceError::invalid("input", "must be at most 4096 characters").into());
    }
    let mut call = json!({"input": input, "voice": raw.get("voice").cloned().unwrap_or(json!("alloy"))});
    passthrough(&raw, &mut call, &["response_format", "speed"]);
    let (record, _) = facility(&state, &req, &raw, Operation::Audio, call).await?;
    let reply = reply_of(&record);
    let audio = reply["audio_base64"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(|| ServiceError::Internal("the provider's audio was not stored".into()))?;
    Ok(HttpResponse::Ok()
        .content_type(reply["content_type"].as_str().unwrap_or("audio/mpeg"))
        .insert_header(("x-steward-request-id", record.request.public_id.clone()))
        .insert_header(("x-steward-charged", record.request.charged.to_string()))
        .body(audio))
}

/// Speaks text (operation `audio`), priced per character; answers with the audio bytes.
#[utoipa::path(tag = "openai", request_body(content = Object, description = "`{model, input, voice?, response_format?, speed?}`"),
    security(("api_key" = [])), responses((status = 200, description = "audio bytes; `x-steward-request-id` and `x-steward-charged` headers")))]
#[post("/v1/audio/speech")]
pub async fn audio_speech(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    speech_inner(state, req, body).await.unwrap_or_else(openai_error)
}
