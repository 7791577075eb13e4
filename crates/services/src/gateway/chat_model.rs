//! The [`ChatModel`] port over the spend gateway: every call is decided, reserved, recorded,
//! settled and audited as an AI request of the paying project, like any agent's.

use serde_json::{json, Value};

use crate::audit::AuditContext;
use crate::gateway::call::CallRequest;
use crate::gateway::decide::Operation;
use crate::gateway::{Gateway, Scope};
use crate::ports::{ChatAnswer, ChatMessage, ChatModel, ToolSpec};
use crate::{Principal, ServiceError};
use models::spend::RequestStatus;

/// A model (`provider/model`) called through the gateway, paid by a project's owner.
#[derive(Clone, Debug)]
pub struct GatewayChatModel {
    gateway: Gateway,
    payer: Payer,
    provider: String,
    model: String,
    max_tokens: u64,
}

/// Who pays: known, or a project resolved on the first call (the platform's `booking-desk`).
#[derive(Clone, Debug)]
enum Payer {
    Known(Principal),
    Project {
        db: repositories::Db,
        project: String,
        resolved: std::sync::Arc<tokio::sync::OnceCell<Principal>>,
    },
}

impl GatewayChatModel {
    /// `model` is `provider/model`; each answer may use up to `max_tokens`.
    pub fn new(gateway: Gateway, payer: Principal, model: &str, max_tokens: u64) -> Self {
        let (provider, model) = model.split_once('/').unwrap_or(("", model));
        Self {
            gateway,
            payer: Payer::Known(payer),
            provider: provider.into(),
            model: model.into(),
            max_tokens,
        }
    }

    /// Like [`GatewayChatModel::new`], paid by `project` (`booking-desk` or `prj_…`), looked up
    /// on the first call.
    pub fn for_project(
        gateway: Gateway,
        db: repositories::Db,
        project: &str,
        model: &str,
        max_tokens: u64,
    ) -> Self {
        let (provider, model) = model.split_once('/').unwrap_or(("", model));
        Self {
            gateway,
            payer: Payer::Project { db, project: project.into(), resolved: Default::default() },
            provider: provider.into(),
            model: model.into(),
            max_tokens,
        }
    }

    async fn payer(&self) -> Result<Principal, ServiceError> {
        match &self.payer {
            Payer::Known(p) => Ok(p.clone()),
            Payer::Project { db, project, resolved } => {
                resolved.get_or_try_init(|| crate::platform::payer(db, project)).await.cloned()
            }
        }
    }
}

impl GatewayChatModel {
    /// One call of `operation` with this OpenAI-shaped `body` (the model is added), through the
    /// gateway; returns the provider's reply and the request it was recorded as. A call the
    /// gateway holds for review is an error here: a guest turn does not wait for an admin.
    pub(crate) async fn call(
        &self,
        operation: Operation,
        body: Value,
    ) -> Result<(Value, (u64, u64), String), ServiceError> {
        let call =
            CallRequest { provider: self.provider.clone(), model: self.model.clone(), operation, body };
        let payer = self.payer().await?;
        let ctx = AuditContext { actor: payer.actor(), request_id: None };
        let record = self.gateway.execute(ctx, &payer, Scope::default(), call, None).await?;
        let q = &record.request;
        if q.status != RequestStatus::Executed {
            return Err(ServiceError::AwaitingReview { request: q.public_id.clone() });
        }
        let reply: Value = q.response.as_deref().cloned().unwrap_or_default();
        let usage = (u64::try_from(q.input_tokens).unwrap_or(0), u64::try_from(q.output_tokens).unwrap_or(0));
        Ok((reply, usage, q.public_id.clone()))
    }

    /// Most tokens one answer may use.
    pub(crate) fn max_tokens(&self) -> u64 {
        self.max_tokens
    }
}

#[async_trait::async_trait]
impl ChatModel for GatewayChatModel {
    async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<ChatAnswer, ServiceError> {
        let mut body = json!({"messages": messages, "max_tokens": self.max_tokens});
        if !tools.is_empty() {
            body["tools"] = Value::Array(
                tools
                    .iter()
                    .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                    .collect(),
            );
        }
        let (reply, usage, request) = self.call(Operation::Chat, body).await?;
        let mut message: ChatMessage =
            serde_json::from_value(reply["choices"][0]["message"].clone()).unwrap_or_default();
        if message.role.is_empty() {
            message.role = "assistant".into();
        }
        Ok(ChatAnswer { message, usage, request_id: Some(request) })
    }
}
