//! The admins' side of conversations (SPEC §10.2): the list, one conversation with its messages,
//! takeover, human replies, release, and the deterministic admin commands.

use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use models::conversation::ConversationMode;
use serde::{Deserialize, Serialize};
use services::conversations::{self as conv, commands, ConversationSummary};
use services::desk::Caller;
use services::ServiceError;

use super::chat::{message_view, MessageView, SessionView};
use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, DeskCaller, PageOf};
use crate::state::AppState;

fn require_admin(caller: &DeskCaller) -> Result<services::audit::AuditContext, ApiError> {
    match &caller.caller {
        Caller::Key(p) if p.is_admin() => {
            Ok(services::audit::AuditContext { actor: p.actor(), request_id: caller.rid() })
        }
        Caller::Anonymous => Err(ServiceError::AuthRequired.into()),
        _ => Err(ServiceError::Forbidden("admins only".into()).into()),
    }
}

/// A conversation in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationItem {
    /// `cnv_…`.
    pub id: String,
    /// `gst_…`.
    pub guest_id: String,
    /// The guest's name, when known.
    pub guest_name: Option<String>,
    /// `bot` or `human`.
    pub mode: String,
    /// An admin should look.
    pub needs_human: bool,
    /// `web` or `whatsapp`.
    pub channel: String,
    /// The guest's last message.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The latest message.
    pub last_message: Option<MessageView>,
}

fn item(s: ConversationSummary) -> ConversationItem {
    let c = s.conversation;
    ConversationItem {
        id: c.public_id,
        guest_id: s.guest.public_id,
        guest_name: s.guest.name,
        mode: c.mode.as_str().into(),
        needs_human: c.needs_human,
        channel: c.channel,
        last_inbound_at: c.last_inbound_at.map(|t| t.and_utc()),
        last_message: s.last_message.map(message_view),
    }
}

/// `?mode=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConversationQuery {
    /// `bot` or `human`.
    pub mode: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Conversations, newest first; those that need a human come first within a page.
#[utoipa::path(tag = "admin", params(ConversationQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<ConversationItem>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/conversations")]
pub async fn list(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<ConversationQuery>,
) -> Result<web::Json<PageOf<ConversationItem>>, ApiError> {
    require_admin(&caller)?;
    let q = q.into_inner();
    let mode = match q.mode.as_deref() {
        None => None,
        Some(m) => Some(
            m.parse::<ConversationMode>()
                .map_err(|_| ServiceError::invalid("mode", "must be bot or human"))?,
        ),
    };
    let (limit, before) = crate::extract::PageQuery { limit: q.limit, cursor: q.cursor }.resolve()?;
    let mut rows = conv::list(&state.desk, mode, limit, before).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| services::cursor::encode(r.conversation.id)))
        .flatten();
    rows.sort_by_key(|r| !r.conversation.needs_human);
    Ok(web::Json(PageOf { items: rows.into_iter().map(item).collect(), next_cursor }))
}

/// One conversation: its state and its latest messages (oldest first) with delivery status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    /// `cnv_…`.
    pub id: String,
    /// The guest's name.
    pub guest_name: Option<String>,
    /// Where the guest is reached (phone, or the web session).
    pub channel_address: Option<String>,
    /// The guest's last message.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The state (mode, facts, identity, current booking).
    pub state: SessionView,
    /// `bot` or `human`.
    pub mode: String,
    /// An admin should look.
    pub needs_human: bool,
    /// The rolling summary the LLM agent keeps (empty with the guided agent, which keeps the
    /// facts alone).
    pub summary: String,
    /// Messages, oldest first (at most 200).
    pub messages: Vec<MessageView>,
}

async fn detail_of(state: &AppState, id: String) -> Result<ConversationDetail, ApiError> {
    let (session, summary, messages) = conv::detail(&state.desk, id, 200).await?;
    let c = summary.conversation;
    Ok(ConversationDetail {
        id: c.public_id,
        guest_name: summary.guest.name,
        channel_address: summary.guest.phone.or(summary.guest.address),
        last_inbound_at: c.last_inbound_at.map(|t| t.and_utc()),
        mode: c.mode.as_str().into(),
        needs_human: c.needs_human,
        summary: c.summary,
        state: session.into(),
        messages: messages.into_iter().map(message_view).collect(),
    })
}

/// One conversation.
#[utoipa::path(tag = "admin", params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ConversationDetail),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/conversations/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
) -> Result<web::Json<ConversationDetail>, ApiError> {
    require_admin(&caller)?;
    Ok(web::Json(detail_of(&state, id.into_inner()).await?))
}

/// Takes the conversation over: the bot stays silent until it is released.
#[utoipa::path(tag = "admin", params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ConversationDetail),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/conversations/{id}/takeover")]
pub async fn takeover(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
) -> Result<web::Json<ConversationDetail>, ApiError> {
    let ctx = require_admin(&caller)?;
    let id = id.into_inner();
    conv::set_mode(&state.desk, ctx, id.clone(), ConversationMode::Human).await?;
    Ok(web::Json(detail_of(&state, id).await?))
}

/// Gives the conversation back to the bot.
#[utoipa::path(tag = "admin", params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = ConversationDetail),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/conversations/{id}/release")]
pub async fn release(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
) -> Result<web::Json<ConversationDetail>, ApiError> {
    let ctx = require_admin(&caller)?;
    let id = id.into_inner();
    conv::set_mode(&state.desk, ctx, id.clone(), ConversationMode::Bot).await?;
    Ok(web::Json(detail_of(&state, id).await?))
}

/// Body of `POST /api/v1/admin/conversations/{id}/messages` and of the admin commands.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    /// The text.
    pub text: String,
}

/// An admin's reply, delivered on the guest's channel; in `bot` mode it takes the conversation
/// over first.
#[utoipa::path(tag = "admin", params(("id" = String, Path)), request_body = TextRequest, security(("api_key" = [])), responses(
    (status = 200, body = ConversationDetail),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/conversations/{id}/messages")]
pub async fn message(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<ConversationDetail>, ApiError> {
    let ctx = require_admin(&caller)?;
    let input: TextRequest = parse_json(&body)?;
    let id = id.into_inner();
    conv::admin_message(&state.desk, ctx, id.clone(), input.text).await?;
    Ok(web::Json(detail_of(&state, id).await?))
}

/// The acknowledgement of an admin command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandAnswer {
    /// What happened.
    pub text: String,
}

/// Runs an admin command (`confirm <ref>`, `reject <ref> <reason>`, `status <ref>`, `pending`,
/// `help`), the same handler WhatsApp admins use.
#[utoipa::path(tag = "admin", request_body = TextRequest, security(("api_key" = [])), responses(
    (status = 200, body = CommandAnswer),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/commands")]
pub async fn command(
    state: web::Data<AppState>,
    caller: DeskCaller,
    body: web::Bytes,
) -> Result<web::Json<CommandAnswer>, ApiError> {
    require_admin(&caller)?;
    let input: TextRequest = parse_json(&body)?;
    let text = commands::run(&state.desk, &caller.caller, caller.rid(), &input.text).await?;
    Ok(web::Json(CommandAnswer { text }))
}
