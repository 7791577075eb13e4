//! Streamed calls: admitted and reserved first, the provider's chunks passed on as they come,
//! settled on the final usage (or on what was streamed when the client goes away).

use std::time::Instant;

use models::rows_spend::AiRequest;
use serde_json::{json, Value};

use crate::audit::AuditContext;
use futures_util::StreamExt;

use super::*;
use crate::ports::StreamEvent;
use crate::{Principal, ServiceError};

impl Gateway {
    /// Like [`Gateway::execute`], streaming the answer: the request is admitted and reserved
    /// first, then the provider's chunks flow to the client; the last chunk carries `usage` and
    /// the receipt, after settlement on the provider's final usage. If the client goes away
    /// early, dropping the stream settles for what was streamed.
    pub async fn execute_stream(
        &self,
        ctx: AuditContext,
        caller: &Principal,
        scope: Scope,
        call: CallRequest,
        idempotency_key: Option<String>,
    ) -> Result<Streaming, ServiceError> {
        let row = self.admit(ctx.clone(), caller, scope, call, idempotency_key).await?;
        if row.status == RequestStatus::Pending {
            return Err(ServiceError::AwaitingReview { request: row.public_id });
        }
        let call = model_call(&row)?;
        let started = Instant::now();
        let opened = match self.provider(&row.provider) {
            None => Err(Failure::Unavailable),
            Some(p) => within(self.timeout, p.stream(&call)).await,
        };
        let inner = match opened {
            Ok(s) => s,
            Err(f) => {
                let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                return Err(self.settle_failed(ctx, &row, &f, latency).await?);
            }
        };
        let input_tokens = row.decision["estimate"]["input_tokens"].as_u64().unwrap_or(0);
        let request = row.public_id.clone();
        let name = format!("{}/{}", row.provider, row.model);
        let guard = StreamGuard {
            gateway: self.clone(),
            ctx,
            row,
            text: String::new(),
            usage: None,
            input_tokens,
            started,
            settled: false,
        };
        let timeout = self.timeout;
        let chunks = futures_util::stream::unfold(Some((inner, guard)), move |state| {
            let name = name.clone();
            async move {
                let (mut inner, mut guard) = state?;
                loop {
                    match tokio::time::timeout(timeout, inner.next()).await {
                        Ok(Some(Ok(StreamEvent::Chunk(mut chunk)))) => {
                            if let Some(choices) = chunk.get("choices").and_then(Value::as_array) {
                                for c in choices {
                                    if let Some(t) = c["delta"]["content"].as_str() {
                                        guard.text.push_str(t);
                                    }
                                }
                            }
                            if let Some(o) = chunk.as_object_mut() {
                                o.insert("model".into(), json!(name));
                            }
                            return Some((chunk, Some((inner, guard))));
                        }
                        Ok(Some(Ok(StreamEvent::Usage { input_tokens, output_tokens }))) => {
                            guard.usage = Some((input_tokens, output_tokens));
                        }
                        Ok(Some(Err(e))) => {
                            return Some((guard.finish(Some(e.to_string()), &name).await, None))
                        }
                        Err(_) => {
                            return Some((
                                guard.finish(Some("the provider stalled".into()), &name).await,
                                None,
                            ))
                        }
                        Ok(None) => return Some((guard.finish(None, &name).await, None)),
                    }
                }
            }
        })
        .boxed();
        Ok(Streaming { request, chunks })
    }
}

/// A streaming answer: its request and the chunks to send, in the OpenAI
/// `chat.completion.chunk` shape.
pub struct Streaming {
    /// `req_…`.
    pub request: String,
    /// The chunks; the last carries `usage` and `x_steward`.
    pub chunks: futures_util::stream::BoxStream<'static, Value>,
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming").field("request", &self.request).finish_non_exhaustive()
    }
}

/// Settles a stream once: at its end, or, if the client went away, when it is dropped.
struct StreamGuard {
    gateway: Gateway,
    ctx: AuditContext,
    row: AiRequest,
    text: String,
    usage: Option<(u64, u64)>,
    input_tokens: u64,
    started: Instant,
    settled: bool,
}

impl StreamGuard {
    /// Usage as reported, or for a cut stream: the estimated input and what was streamed.
    fn usage(&self) -> (u64, u64) {
        self.usage.unwrap_or((self.input_tokens, self.text.chars().count().div_ceil(4) as u64))
    }

    fn response(&self) -> Json<Value> {
        let (i, o) = self.usage();
        Json::new(json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text}}],
            "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o},
        }))
    }

    /// Settles and returns the final chunk (`usage` and the receipt).
    async fn finish(&mut self, error: Option<String>, name: &str) -> Value {
        self.settled = true;
        let latency = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let usage = self.usage();
        let settled =
            self.gateway.settle_ok(self.ctx.clone(), &self.row, usage, latency, self.response(), error).await;
        let receipt = match settled {
            Ok(Some(record)) => receipt(&record),
            Ok(None) => json!({"request_id": self.row.public_id, "status": "failed"}),
            Err(e) => {
                tracing::error!(request = %self.row.public_id, error = %e, "settling a stream failed");
                json!({"request_id": self.row.public_id, "status": "unsettled"})
            }
        };
        json!({
            "id": format!("chatcmpl-{}", self.row.public_id),
            "object": "chat.completion.chunk",
            "created": self.row.created_at.and_utc().timestamp(),
            "model": name,
            "choices": [],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1},
            "x_steward": receipt,
        })
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // The client went away mid-stream: charge what was streamed, release the rest.
        let (gateway, ctx, row) = (self.gateway.clone(), self.ctx.clone(), self.row.clone());
        let (usage, response) = (self.usage(), self.response());
        let latency = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let note = Some("the client disconnected; charged for what was streamed".to_string());
                if let Err(e) = gateway.settle_ok(ctx, &row, usage, latency, response, note).await {
                    tracing::error!(request = %row.public_id, error = %e, "settling a dropped stream failed");
                }
            });
        }
    }
}
