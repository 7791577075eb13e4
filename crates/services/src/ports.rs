//! Ports: the traits through which services reach the world outside the process. Adapters live in
//! the `integrations` crate; tests use the in-process fakes there.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// A failure of an outside service, with a message fit for the logs.
#[derive(Debug, thiserror::Error)]
#[error("{service}: {message}")]
pub struct PortError {
    /// Which adapter failed.
    pub service: &'static str,
    /// What happened (never shown to users).
    pub message: String,
    /// The outside service's own error code (e.g. an upstream `rate_limit_exceeded`), passed on
    /// to clients.
    pub code: Option<String>,
}

/// Where an upload was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMedia {
    /// URL the admin console and notifications use.
    pub url: String,
}

/// Stores uploaded media (payment screenshots).
#[async_trait::async_trait]
pub trait MediaStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` of `content_type` (already validated) and returns where it lives.
    async fn put(&self, bytes: Vec<u8>, content_type: &str, sha256: &str) -> Result<StoredMedia, PortError>;
    /// The bytes and content type of media this store made, by its URL (a store whose URLs are
    /// public need not: channels can link them).
    async fn get(&self, _url: &str) -> Result<(Vec<u8>, String), PortError> {
        Err(PortError { service: "media store", message: "this store does not read back".into(), code: None })
    }
}

/// What a vision model read from a payment screenshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    /// The image is a payment receipt.
    pub is_payment: bool,
    /// 0.0–1.0.
    pub confidence: f64,
    /// Transaction id.
    pub transaction_id: Option<String>,
    /// Amount in minor units.
    pub amount: Option<i64>,
    /// Sender's name.
    pub sender_name: Option<String>,
    /// Sender's phone.
    pub sender_phone: Option<String>,
    /// Receiver's name.
    pub receiver_name: Option<String>,
    /// Receiver's phone or account.
    pub receiver_account: Option<String>,
    /// Date on the receipt.
    pub date: Option<String>,
    /// Method (EasyPaisa, JazzCash, bank).
    pub method: Option<String>,
    /// Status printed on the receipt.
    pub status: Option<String>,
    /// Everything the model read.
    pub raw_text: Option<String>,
}

impl Extraction {
    /// SPEC §2.5: valid iff is_payment ∧ confidence ≥ 0.7 ∧ (amount ∨ transaction id).
    pub fn is_valid(&self) -> bool {
        self.is_payment && self.confidence >= 0.7 && (self.amount.is_some() || self.transaction_id.is_some())
    }
}

/// Reads payment screenshots (a vision model through the spend gateway, when configured).
#[async_trait::async_trait]
pub trait PaymentExtractor: Send + Sync + std::fmt::Debug {
    /// Extracts the payment details of an image.
    async fn extract(&self, bytes: &[u8], content_type: &str) -> Result<Extraction, PortError>;
}

/// One message for an outside channel, rendered from a structured reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// What the message says, as text (the history shows it).
    pub text: String,
    /// The channel's message body (e.g. WhatsApp's `{"type": "interactive", …}`); `None`: text.
    pub wire: Option<serde_json::Value>,
}

/// Why a send failed, as the channel classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// A timeout, a 5xx: try again with backoff.
    Transient,
    /// The channel's rate limit (WhatsApp 130429, 131056): try again after a growing pause.
    RateLimited,
    /// The recipient cannot be reached (WhatsApp 131026): never retried; the rest of the turn
    /// to them is dropped.
    Unreachable,
    /// The 24-hour customer service window is closed (WhatsApp 131047): send the template.
    WindowClosed,
    /// Anything else the channel refused: not retried.
    Rejected,
}

/// A failed send.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// How to react.
    pub failure: SendFailure,
    /// The channel's own error code, when it gave one.
    pub code: Option<i64>,
    /// What happened (for the logs and the message's `last_error`).
    pub message: String,
}

/// Sends messages to guests and admins on an outside channel (WhatsApp plugs in here). Web
/// guests need no sender: their conversation history is the delivery.
#[async_trait::async_trait]
pub trait MessageSender: Send + Sync + std::fmt::Debug {
    /// The channel this sender serves, e.g. `whatsapp`.
    fn channel(&self) -> &str;
    /// The messages a structured reply becomes on this channel, in order (default: its text).
    fn render(&self, reply: &models::conversation::Reply) -> Vec<Outgoing> {
        vec![Outgoing { text: reply.text(), wire: None }]
    }
    /// Sends `message` to `address` (a phone number, or a channel user id); returns the channel's
    /// id of the sent message, when it gives one.
    async fn send(&self, address: &str, message: &Outgoing) -> Result<Option<String>, SendError>;
    /// Sends the channel's re-engagement template to `address` (when the channel has one).
    async fn send_template(&self, _address: &str) -> Result<Option<String>, SendError> {
        Err(SendError { failure: SendFailure::Rejected, code: None, message: "no template".into() })
    }
    /// Uploads media to the channel for sending by id (WhatsApp: `POST /{phone-number-id}/media`).
    async fn upload_media(&self, _bytes: Vec<u8>, _content_type: &str) -> Result<String, SendError> {
        Err(SendError {
            failure: SendFailure::Rejected,
            code: None,
            message: "no media uploads on this channel".into(),
        })
    }
    /// Downloads a media item the guest sent: its bytes and content type.
    async fn fetch_media(&self, _media_id: &str) -> Result<(Vec<u8>, String), PortError> {
        Err(PortError { service: "message sender", message: "no media on this channel".into(), code: None })
    }
}

/// Source of the current time, replaceable in tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, UTC, microsecond precision.
    fn now(&self) -> NaiveDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        models::time::now()
    }
}

/// A call to a model, as the gateway approved it, in the OpenAI request shape: `messages`
/// (content a string or parts, tool calls and results), `tools`, `max_tokens`, `temperature`…
/// for chat-like operations; `input` for embeddings. Adapters translate it to their wire format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    /// Model name within the provider, e.g. `gpt-4o-mini`.
    pub model: String,
    /// Operation.
    pub operation: crate::gateway::decide::Operation,
    /// The OpenAI-shaped request body (its `model` and `stream` fields are ignored).
    pub body: serde_json::Value,
}

/// A model's answer in the OpenAI response shape (`chat.completion` or an embeddings `list`),
/// with the usage the provider reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReply {
    /// The OpenAI-shaped response body.
    pub body: serde_json::Value,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

/// One event of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A `chat.completion.chunk` in the OpenAI shape, to pass to the client.
    Chunk(serde_json::Value),
    /// The usage the provider reported at the end.
    Usage {
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
    },
}

/// A stream of answer events.
pub type ReplyStream = futures_util::stream::BoxStream<'static, Result<StreamEvent, PortError>>;

/// A model provider (OpenAI-compatible, Anthropic, Gemini, Cohere; the built-in `local` echo).
#[async_trait::async_trait]
pub trait ModelProvider: Send + Sync + std::fmt::Debug {
    /// The provider's name in `provider/model`, e.g. `local`.
    fn name(&self) -> &str;
    /// Runs the call.
    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError>;
    /// Runs a chat call streaming its answer; providers without streaming refuse.
    async fn stream(&self, call: &ModelCall) -> Result<ReplyStream, PortError> {
        let _ = call;
        Err(PortError {
            service: "provider",
            message: format!("{} does not stream", self.name()),
            code: None,
        })
    }
}

/// The text of a message's `content`: a string, or the `text` of its parts.
pub fn content_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// An outbound HTTP POST of a signed webhook message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookMessage {
    /// Receiver URL.
    pub url: String,
    /// Headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`, content type).
    pub headers: Vec<(String, String)>,
    /// The exact body that was signed.
    pub body: String,
}

/// Delivers webhook messages; `Err` for a transport failure or a non-2xx answer.
#[async_trait::async_trait]
pub trait WebhookSender: Send + Sync + std::fmt::Debug {
    /// POSTs the message.
    async fn send(&self, message: &WebhookMessage) -> Result<(), PortError>;
}

/// A chat message in the OpenAI shape, typed: what a [`ChatModel`] reads and writes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text (absent on an assistant message that only calls tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with text.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: Some(content.into()), ..Self::default() }
    }
}

/// A tool call in the OpenAI wire shape (`{id, type: "function", function: {name, arguments}}`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The call's id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function and its JSON arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".into()
}

/// The function a tool call names, with its arguments as a JSON string.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FunctionCall {
    /// Tool name.
    pub name: String,
    /// JSON text of the arguments.
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call: name, description and JSON Schema parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ToolSpec {
    /// Name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// What a chat model answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatAnswer {
    /// The assistant message (text and/or tool calls).
    pub message: ChatMessage,
    /// Input and output tokens.
    pub usage: (u64, u64),
    /// The gateway request it was recorded as (`req_…`), when it went through the gateway.
    pub request_id: Option<String>,
}

/// An LLM that answers a conversation with text or tool calls (SPEC §1.2 `ChatModel`).
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    /// One model call.
    async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<ChatAnswer, crate::ServiceError>;
}
