//! `POST /api/v1/chatbot/chat`: the help chatbot.

use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use services::gateway::chat_model::GatewayChatModel;
use services::gateway::chatbot::{self, Turn};

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, Auth};
use crate::state::AppState;

/// An earlier turn.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnBody {
    /// `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
}

/// Body of `POST /api/v1/chatbot/chat`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The question (1–2000 characters).
    pub message: String,
    /// Up to 20 earlier turns.
    #[serde(default)]
    pub history: Vec<TurnBody>,
}

/// The chatbot's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatAnswer {
    /// The answer.
    pub answer: String,
    /// `guide`: quoted from the user guide; `llm`: answered by the configured model.
    pub mode: String,
    /// Headings of the guide sections it drew on.
    pub sources: Vec<String>,
    /// The gateway request that paid for an `llm` answer.
    pub request_id: Option<String>,
}

/// Answers a question about Steward from its user guide.
#[utoipa::path(tag = "chatbot", request_body = ChatRequest, security(("api_key" = [])), responses(
    (status = 200, body = ChatAnswer),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/chatbot/chat")]
pub async fn chat(
    state: web::Data<AppState>,
    _auth: Auth,
    body: web::Bytes,
) -> Result<web::Json<ChatAnswer>, ApiError> {
    let input: ChatRequest = parse_json(&body)?;
    let settings = &state.settings.chatbot;
    let model = if settings.model.is_empty() {
        None
    } else {
        let payer = services::platform::payer(&state.db, &settings.project).await?;
        Some(GatewayChatModel::new(state.gateway.clone(), payer, &settings.model, 500))
    };
    let history = input.history.into_iter().map(|t| Turn { role: t.role, content: t.content }).collect();
    let a =
        chatbot::chat(model.as_ref().map(|m| m as &dyn services::ports::ChatModel), input.message, history)
            .await?;
    Ok(web::Json(ChatAnswer {
        answer: a.answer,
        mode: a.mode.into(),
        sources: a.sources,
        request_id: a.request_id,
    }))
}
