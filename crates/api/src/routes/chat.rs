//! The guest web chat (SPEC §10.1): sessions, messages and pictures answered by the booking
//! agent with a structured reply, the conversation's state, reset, and history.

use actix_web::{delete, get, post, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use models::conversation::{Facts, Reply};
use serde::{Deserialize, Serialize};
use services::conversations::{self as conv, Input};
use services::desk::{guests, Caller};
use services::ServiceError;

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, parse_value, DeskCaller, PageOf, PageQuery};
use crate::state::AppState;

/// Body of `POST /api/v1/chat/sessions` for websites: their own user id for the guest.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The website's id for its user (absent: an anonymous guest).
    pub user_id: Option<String>,
    /// Name, if known.
    pub name: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
}

/// A new guest session: the token is shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionCreated {
    /// `gs_…`: send as `Authorization: Bearer gs_…`.
    pub token: String,
    /// `gst_…`.
    pub guest_id: String,
}

/// Opens a guest session. Without credentials: a new anonymous guest. With a `website` key and a
/// body: the guest the website knows by `user_id` (created on first use).
#[utoipa::path(tag = "chat", security((), ("api_key" = [])), request_body = Option<SessionRequest>, responses(
    (status = 201, body = SessionCreated),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/chat/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    caller: DeskCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // No body, `{}` or `{"user_id": null}`: an anonymous guest, as a web client opens one.
    let request: SessionRequest =
        if body.iter().all(u8::is_ascii_whitespace) { SessionRequest::default() } else { parse_json(&body)? };
    let website = match request {
        SessionRequest { user_id: Some(user_id), name, phone } => {
            Some(guests::WebsiteGuest { user_id, name, phone })
        }
        SessionRequest { user_id: None, name: None, phone: None } => None,
        SessionRequest { user_id: None, .. } => {
            return Err(ServiceError::invalid("user_id", "is required with name or phone").into())
        }
    };
    let s = guests::open_session(&state.db, &caller.caller, website).await?;
    Ok(HttpResponse::Created().json(SessionCreated { token: s.token, guest_id: s.guest.public_id }))
}

fn guest_only(caller: &Caller) -> Result<&services::desk::GuestPrincipal, ApiError> {
    match caller {
        Caller::Guest(g) => Ok(g),
        Caller::Anonymous => Err(ServiceError::AuthRequired.into()),
        Caller::Key(_) => {
            Err(ServiceError::Forbidden("this endpoint takes a guest session token".into()).into())
        }
    }
}

/// A structured reply (SPEC §10.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatReply {
    /// `msg_…`: the bot's message (the guest's own while a human answers).
    pub message_id: String,
    /// Every `text` of the items, joined by blank lines.
    pub text: String,
    /// The URLs of every media item.
    pub media: Vec<String>,
    /// The items: `text`, `choices`, `property_list`, `media`, `booking_summary`, `questions`,
    /// `error`, each with its fields.
    #[schema(value_type = Vec<Object>)]
    pub responses: Vec<models::conversation::ReplyItem>,
}

impl ChatReply {
    fn of(message_id: String, reply: Reply) -> Self {
        Self { message_id, text: reply.text(), media: reply.media(), responses: reply.items }
    }
}

/// Body of `POST /api/v1/chat/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessageRequest {
    /// What the guest wrote (1–4000 characters), or a choice's label.
    pub message: String,
}

/// Sends the guest's message and answers with the agent's structured reply. Messages of one
/// conversation are answered one at a time, in arrival order.
#[utoipa::path(tag = "chat", security(("api_key" = [])), request_body = ChatMessageRequest, responses(
    (status = 200, body = ChatReply),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/chat/messages")]
pub async fn send_message(
    state: web::Data<AppState>,
    caller: DeskCaller,
    body: web::Bytes,
) -> Result<web::Json<ChatReply>, ApiError> {
    let g = guest_only(&caller.caller)?.clone();
    let input: ChatMessageRequest = parse_json(&body)?;
    let turned = conv::send(&state.desk, state.agent.as_ref(), &g, Input::Text(input.message), None).await?;
    Ok(web::Json(ChatReply::of(turned.message_id, turned.reply)))
}

/// Body of `POST /api/v1/chat/images` as JSON.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatImageRequest {
    /// The picture, base64.
    pub image_base64: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime_type: Option<String>,
}

async fn read_image(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<(Vec<u8>, String), ApiError> {
    if req.content_type() == "multipart/form-data" {
        return crate::extract::multipart_file(req, payload, "image", limit, "pictures").await;
    }
    let body = crate::extract::read_limited(payload, limit / 3 * 4 + 64 * 1024, "pictures").await?;
    let input: ChatImageRequest = crate::extract::from_value(parse_value(&body)?)?;
    use base64::Engine;
    let b64 = input.image_base64.trim();
    let b64 = b64.split_once(";base64,").map_or(b64, |(_, data)| data);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| ServiceError::invalid("image_base64", "is not valid base64"))?;
    Ok((bytes, input.mime_type.unwrap_or_default()))
}

/// Sends a picture (a payment screenshot): multipart field `image`, or JSON
/// `{image_base64, mime_type}`. It is the proof of the conversation's current booking, else of
/// the guest's only pending booking.
#[utoipa::path(tag = "chat", security(("api_key" = [])), request_body = ChatImageRequest, responses(
    (status = 200, body = ChatReply),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 413, body = Problem, content_type = "application/problem+json"),
    (status = 415, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/chat/images")]
pub async fn send_image(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: DeskCaller,
    payload: web::Payload,
) -> Result<web::Json<ChatReply>, ApiError> {
    let g = guest_only(&caller.caller)?.clone();
    let (bytes, content_type) = read_image(&req, payload, state.desk.rules.max_upload_bytes).await?;
    let turned =
        conv::send(&state.desk, state.agent.as_ref(), &g, Input::Image { bytes, content_type }, None).await?;
    Ok(web::Json(ChatReply::of(turned.message_id, turned.reply)))
}

/// The identity step as the guest sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    /// Name.
    pub name: Option<String>,
    /// CNIC, masked (`42201-*******-1`).
    pub cnic_masked: Option<String>,
    /// The guest confirmed them.
    pub confirmed: bool,
}

/// Search facts; absent ones are null.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FactsView {
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Shift wire value.
    pub shift: Option<String>,
    /// Party size.
    pub guests: Option<i32>,
    /// Lowest price (minor units).
    pub min_price: Option<i64>,
    /// Highest price (minor units).
    pub max_price: Option<i64>,
    /// `prp_…`.
    pub property_id: Option<String>,
}

impl From<Facts> for FactsView {
    fn from(f: Facts) -> Self {
        Self {
            kind: f.kind.map(|k| k.as_str().into()),
            date: f.date.map(|d| d.to_string()),
            shift: f.shift.map(|s| s.as_str().into()),
            guests: f.guests,
            min_price: f.min_price,
            max_price: f.max_price,
            property_id: f.property_id,
        }
    }
}

/// The guest's session and conversation state (SPEC §10.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// `gst_…`.
    pub guest_id: String,
    /// `bot` or `human`.
    pub mode: String,
    /// An admin should look.
    pub needs_human: bool,
    /// `web` or `whatsapp`.
    pub channel: String,
    /// Search facts.
    pub facts: FactsView,
    /// The identity step.
    pub identity: IdentityView,
    /// The booking discussed (`HB-…`) or null.
    pub current_booking: Option<String>,
}

impl From<conv::SessionView> for SessionView {
    fn from(s: conv::SessionView) -> Self {
        Self {
            guest_id: s.guest_id,
            mode: s.mode.as_str().into(),
            needs_human: s.needs_human,
            channel: s.channel,
            facts: s.facts.into(),
            identity: IdentityView {
                name: s.identity.name,
                cnic_masked: s.identity.cnic_masked,
                confirmed: s.identity.confirmed,
            },
            current_booking: s.current_booking,
        }
    }
}

/// The guest's session: mode, facts, identity, current booking.
#[utoipa::path(tag = "chat", security(("api_key" = [])), responses(
    (status = 200, body = SessionView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/chat/session")]
pub async fn get_session(
    state: web::Data<AppState>,
    caller: DeskCaller,
) -> Result<web::Json<SessionView>, ApiError> {
    let g = guest_only(&caller.caller)?.clone();
    Ok(web::Json(conv::session(&state.desk, &g).await?.into()))
}

/// Starts over: clears the facts, summary, identity draft and current booking. The token stays
/// valid; bookings, messages and the mode stay.
#[utoipa::path(tag = "chat", security(("api_key" = [])), responses(
    (status = 200, body = SessionView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/chat/session")]
pub async fn reset_session(
    state: web::Data<AppState>,
    caller: DeskCaller,
) -> Result<web::Json<SessionView>, ApiError> {
    let g = guest_only(&caller.caller)?.clone();
    conv::reset(&state.desk, &g).await?;
    Ok(web::Json(conv::session(&state.desk, &g).await?.into()))
}

/// A conversation message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    /// `msg_…`.
    pub id: String,
    /// `guest`, `bot`, `admin`.
    pub sender: String,
    /// `web`, `whatsapp`.
    pub channel: String,
    /// Text.
    pub text: String,
    /// The structured reply of a bot or admin message (`responses` items), or a notification's
    /// details.
    #[schema(value_type = Option<Vec<Object>>)]
    pub responses: Option<serde_json::Value>,
    /// The notification's details (booking updates).
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// `pending`, `sent`, `delivered`, `failed`.
    pub delivery_status: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The view of a stored message: a structured reply's items as `responses`.
pub fn message_view(m: models::rows_booking::Message) -> MessageView {
    let stored: Option<serde_json::Value> = m.payload.as_deref().and_then(|p| serde_json::from_str(p).ok());
    let (responses, payload) = match stored {
        Some(v) if v.get("items").is_some_and(serde_json::Value::is_array) => {
            (Some(v["items"].clone()), None)
        }
        other => (None, other),
    };
    MessageView {
        id: m.public_id,
        sender: m.sender,
        channel: m.channel,
        text: m.text,
        responses,
        payload,
        delivery_status: m.delivery_status,
        created_at: m.created_at.and_utc(),
    }
}

/// The guest's conversation, newest first: their messages, the bot's structured replies, admins'
/// replies and booking notifications.
#[utoipa::path(tag = "chat", security(("api_key" = [])), params(PageQuery), responses(
    (status = 200, body = PageOf<MessageView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/chat/history")]
pub async fn history(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<MessageView>>, ApiError> {
    let g = guest_only(&caller.caller)?.clone();
    let (limit, before) = q.resolve()?;
    let rows = guests::history(&state.db, g.guest_id, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |m| m.id, message_view)))
}
