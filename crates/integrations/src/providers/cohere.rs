//! Cohere v2: `POST /v2/chat` (OpenAI-like messages and tools; answers as content blocks) and
//! `POST /v2/embed`. Usage from `usage.tokens` (else `billed_units`).

use serde_json::{json, Value};
use services::gateway::decide::Operation;
use services::ports::{
    content_text, ModelCall, ModelProvider, ModelReply, PortError, ReplyStream, StreamEvent,
};

use super::http::{translated_stream, Upstream};

/// The Cohere adapter.
#[derive(Clone, Debug)]
pub struct Cohere {
    up: Upstream,
}

impl Cohere {
    /// An adapter reaching Cohere through `up`.
    pub fn new(up: Upstream) -> Self {
        Self { up }
    }
}

/// The v2 chat request of an OpenAI chat request (images are not sent: text models).
pub fn request(call: &ModelCall) -> Value {
    let b = &call.body;
    let messages: Vec<Value> = b["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let role = match m["role"].as_str().unwrap_or("user") {
                "developer" => "system",
                r => r,
            };
            let mut out = json!({"role": role, "content": content_text(&m["content"])});
            if m["tool_calls"].is_array() {
                out["tool_calls"] = m["tool_calls"].clone();
            }
            if m["tool_call_id"].is_string() {
                out["tool_call_id"] = m["tool_call_id"].clone();
            }
            out
        })
        .collect();
    let mut out = json!({"model": call.model, "messages": messages});
    for key in ["max_tokens", "temperature", "tools"] {
        if let Some(v) = b.get(key) {
            out[key] = v.clone();
        }
    }
    out
}

fn tokens(c: &Value) -> (u64, u64) {
    let u = &c["usage"];
    let pick = |k: &str| u["tokens"][k].as_u64().or(u["billed_units"][k].as_u64()).unwrap_or(0);
    (pick("input_tokens"), pick("output_tokens"))
}

/// The OpenAI `chat.completion` of a v2 chat answer; `(input, output)` tokens.
pub fn response(model: &str, c: &Value) -> (Value, u64, u64) {
    let text: String =
        c["message"]["content"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect();
    let calls = c["message"]["tool_calls"].as_array().cloned().unwrap_or_default();
    let finish = match c["finish_reason"].as_str() {
        Some("MAX_TOKENS") => "length",
        Some("TOOL_CALL") => "tool_calls",
        _ => "stop",
    };
    let (i, o) = tokens(c);
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let body = json!({
        "id": c["id"], "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o},
    });
    (body, i, o)
}

/// One v2 chat stream event as OpenAI chunks: `content-delta` text, the finish reason and usage
/// at `message-end`.
pub fn stream_event(_: &mut (), e: Value) -> Vec<StreamEvent> {
    match e["type"].as_str() {
        Some("content-delta") => vec![StreamEvent::Chunk(json!({"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": e["delta"]["message"]["content"]["text"]}, "finish_reason": null}]}))],
        Some("message-end") => {
            let finish = match e["delta"]["finish_reason"].as_str() {
                Some("MAX_TOKENS") => "length",
                Some("TOOL_CALL") => "tool_calls",
                _ => "stop",
            };
            let (i, o) = tokens(&e["delta"]);
            vec![
                StreamEvent::Chunk(json!({"object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})),
                StreamEvent::Usage { input_tokens: i, output_tokens: o },
            ]
        }
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl ModelProvider for Cohere {
    fn name(&self) -> &str {
        &self.up.name
    }

    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        let key = self.up.api_key.clone().unwrap_or_default();
        let auth = |r: reqwest::RequestBuilder| r.bearer_auth(key.as_str());
        if call.operation == Operation::Embedding {
            let texts: Vec<Value> = match &call.body["input"] {
                Value::String(s) => vec![json!(s)],
                Value::Array(a) => a.clone(),
                _ => Vec::new(),
            };
            let body = json!({"model": call.model, "texts": texts, "input_type": "search_document",
                "embedding_types": ["float"]});
            let c = self.up.json(self.up.post("/v2/embed", &body, auth).await?).await?;
            let data: Vec<Value> = c["embeddings"]["float"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
                .collect();
            let input = c["meta"]["billed_units"]["input_tokens"].as_u64().unwrap_or(0);
            let body = json!({"object": "list", "model": call.model, "data": data,
                "usage": {"prompt_tokens": input, "total_tokens": input}});
            return Ok(ModelReply { body, input_tokens: input, output_tokens: 0 });
        }
        let c = self.up.json(self.up.post("/v2/chat", &request(call), auth).await?).await?;
        let (body, input_tokens, output_tokens) = response(&call.model, &c);
        Ok(ModelReply { body, input_tokens, output_tokens })
    }

    async fn stream(&self, call: &ModelCall) -> Result<ReplyStream, PortError> {
        let key = self.up.api_key.clone().unwrap_or_default();
        let mut body = request(call);
        body["stream"] = json!(true);
        let res = self.up.post("/v2/chat", &body, |r| r.bearer_auth(key.as_str())).await?;
        Ok(translated_stream(self.up.name.clone(), res, (), stream_event))
    }
}
