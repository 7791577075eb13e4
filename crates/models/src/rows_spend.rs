//! Row structs of the spend gateway: AI requests, their payments, alerts and webhook deliveries.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::schema::{
    ai_requests, alerts, catalogue_models, model_price_history, providers, request_payments,
    webhook_deliveries,
};
use crate::spend::{Outcome, PaymentStatus, Reason, RequestStatus, Tier};
use crate::sql::Json;

/// An AI call and its decision (`req_…`).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = ai_requests)]
pub struct AiRequest {
    /// Internal key.
    pub id: i64,
    /// `req_…`.
    pub public_id: String,
    /// Owner.
    pub user_id: i64,
    /// Project.
    pub project_id: i64,
    /// Agent, if named.
    pub agent_id: Option<i64>,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Operation.
    pub operation: String,
    /// Where it stands.
    pub status: RequestStatus,
    /// Decision outcome.
    pub outcome: Outcome,
    /// Rejection code.
    pub reason: Option<Reason>,
    /// Which evaluator decided.
    pub tier: Tier,
    /// Risk score.
    pub risk_score: f64,
    /// The whole decision.
    pub decision: Json<Value>,
    /// The call as requested (a reviewed request runs from it).
    pub body: Json<Value>,
    /// Reserved: estimated cost + fee.
    pub estimated: i64,
    /// Charged: actual cost + fee.
    pub charged: i64,
    /// Input tokens reported by the provider.
    pub input_tokens: i64,
    /// Output tokens reported by the provider.
    pub output_tokens: i64,
    /// Provider latency.
    pub latency_ms: Option<i64>,
    /// The provider's answer.
    pub response: Option<Json<Value>>,
    /// Why it failed.
    pub error: Option<String>,
    /// UTC day the budget counted against.
    pub day: String,
    /// UTC month the budget counted against.
    pub month: String,
    /// SHA-256 of the call.
    pub fingerprint: String,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new AI request.
#[derive(Debug, Insertable)]
#[diesel(table_name = ai_requests)]
pub struct NewAiRequest {
    /// `req_…`.
    pub public_id: String,
    /// Owner.
    pub user_id: i64,
    /// Project.
    pub project_id: i64,
    /// Agent.
    pub agent_id: Option<i64>,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Operation.
    pub operation: String,
    /// Status.
    pub status: RequestStatus,
    /// Outcome.
    pub outcome: Outcome,
    /// Rejection code.
    pub reason: Option<Reason>,
    /// Tier.
    pub tier: Tier,
    /// Risk score.
    pub risk_score: f64,
    /// The decision.
    pub decision: Json<Value>,
    /// The call as requested.
    pub body: Json<Value>,
    /// Estimated total.
    pub estimated: i64,
    /// UTC day.
    pub day: String,
    /// UTC month.
    pub month: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The payment of one AI request (`pay_…`).
#[derive(Clone, Debug, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = request_payments)]
pub struct RequestPayment {
    /// Internal key.
    pub id: i64,
    /// `pay_…`.
    pub public_id: String,
    /// The request.
    pub request_id: i64,
    /// Payer.
    pub user_id: i64,
    /// Charged amount.
    pub amount: i64,
    /// `USDC`.
    pub currency: String,
    /// `ledger` (the internal prepaid rail).
    pub rail: String,
    /// Rail reference.
    pub tx_reference: Option<String>,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Reserved (estimate + fee).
    pub estimated: i64,
    /// What the provider's reported usage cost (cost + fee); above `estimated` when the provider
    /// produced more than was reserved (the charge, `amount`, stops at the reservation).
    pub actual: i64,
    /// estimated − actual.
    pub variance: i64,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A stored alert (`alr_…`), once per user, scope, kind and period.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct Alert {
    /// Internal key.
    pub id: i64,
    /// `alr_…`.
    pub public_id: String,
    /// Whose.
    pub user_id: i64,
    /// `prj_…` or `account`.
    pub scope: String,
    /// `budget_daily_75`, `low_balance`, `cost_spike_50`…
    pub kind: String,
    /// The period it fired for.
    pub period: String,
    /// Human-readable.
    pub message: String,
    /// JSON figures.
    pub details: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// An outbound webhook message and its delivery state.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    /// Internal key.
    pub id: i64,
    /// `msg_…`, the `webhook-id`.
    pub public_id: String,
    /// Receiver's owner.
    pub user_id: i64,
    /// Where.
    pub url: String,
    /// JSON body.
    pub payload: String,
    /// `pending`, `delivered`, `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Next try.
    pub next_attempt_at: NaiveDateTime,
    /// Last failure.
    pub last_error: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A model provider of the catalogue.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = providers)]
pub struct ProviderRow {
    /// Name in `provider/model`, e.g. `openai`.
    pub name: String,
    /// Adapter: `local`, `openai` (any OpenAI-compatible API), `anthropic`, `gemini`, `cohere`.
    pub kind: String,
    /// Shown name.
    pub display_name: String,
    /// API base URL.
    pub base_url: String,
    /// Environment variable holding the API key (empty: none needed).
    pub api_key_env: String,
    /// Switched on by an admin.
    pub enabled: bool,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A model of the catalogue with its list prices (micro-USDC).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = catalogue_models)]
pub struct CatalogueModel {
    /// Provider name.
    pub provider: String,
    /// Model name within the provider.
    pub model: String,
    /// `chat`, `completion`, `embedding`, `image`, `audio`, `vision`.
    pub category: String,
    /// JSON array, e.g. `["chat","tools","vision","streaming"]`.
    pub capabilities: String,
    /// Context window in tokens (0: unknown).
    pub context_window: i64,
    /// Per million input tokens.
    pub input_per_million: i64,
    /// Per million output tokens.
    pub output_per_million: i64,
    /// Per request.
    pub per_request: i64,
    /// Per generated image.
    pub per_image: i64,
    /// Per million characters (speech).
    pub per_million_chars: i64,
    /// When the list price was read (`YYYY-MM-DD`), or who set it.
    pub price_read_on: String,
    /// Offered.
    pub active: bool,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// One price a model had from `effective_from`.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = model_price_history)]
pub struct PriceHistory {
    /// Internal key.
    pub id: i64,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Per million input tokens.
    pub input_per_million: i64,
    /// Per million output tokens.
    pub output_per_million: i64,
    /// Per request.
    pub per_request: i64,
    /// Per image.
    pub per_image: i64,
    /// Per million characters.
    pub per_million_chars: i64,
    /// `seed <date>` or the admin who set it.
    pub source: String,
    /// From when.
    pub effective_from: NaiveDateTime,
}
