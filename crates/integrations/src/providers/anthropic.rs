//! Anthropic Messages (`POST /v1/messages`): OpenAI chat requests are translated (system prompt,
//! text and image parts, tools, tool calls and results, max tokens, temperature) and answers
//! translated back, tool uses included; usage from `usage.input_tokens` / `output_tokens`.

use serde_json::{json, Map, Value};
use services::gateway::decide::Operation;
use services::ports::{
    content_text, ModelCall, ModelProvider, ModelReply, PortError, ReplyStream, StreamEvent,
};

use super::http::{translated_stream, Upstream};

/// The Anthropic adapter.
#[derive(Clone, Debug)]
pub struct Anthropic {
    up: Upstream,
}

/// `max_tokens` is required by the API; this is used when the client gives none.
const DEFAULT_MAX_TOKENS: u64 = 1024;

impl Anthropic {
    /// An adapter reaching Anthropic through `up`.
    pub fn new(up: Upstream) -> Self {
        Self { up }
    }
}

/// An OpenAI content part as Anthropic content blocks.
fn part(p: &Value) -> Option<Value> {
    match p["type"].as_str() {
        Some("text") => Some(json!({"type": "text", "text": p["text"]})),
        Some("image_url") => {
            let url = p["image_url"]["url"].as_str().unwrap_or("");
            match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
                Some((media_type, data)) => Some(
                    json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
                ),
                None => Some(json!({"type": "image", "source": {"type": "url", "url": url}})),
            }
        }
        _ => None,
    }
}

fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts.iter().filter_map(part).collect(),
        _ => Vec::new(),
    }
}

/// The Messages request of an OpenAI chat request.
pub fn request(call: &ModelCall) -> Value {
    let b = &call.body;
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in b["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str().unwrap_or("user") {
            "system" | "developer" => system.push(content_text(&m["content"])),
            "assistant" => {
                let mut content = blocks(&m["content"]);
                for tc in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = tc["function"]["arguments"].as_str().unwrap_or("{}");
                    content.push(json!({
                        "type": "tool_use", "id": tc["id"], "name": tc["function"]["name"],
                        "input": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({})),
                    }));
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            "tool" => messages.push(json!({"role": "user", "content": [{
                "type": "tool_result", "tool_use_id": m["tool_call_id"], "content": content_text(&m["content"]),
            }]})),
            _ => messages.push(json!({"role": "user", "content": blocks(&m["content"])})),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(call.model));
    out.insert("messages".into(), Value::Array(messages));
    let max = b["max_tokens"].as_u64().or(b["max_completion_tokens"].as_u64()).unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n")));
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = b.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(tools) = b["tools"].as_array() {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let f = &t["function"];
                json!({"name": f["name"], "description": f["description"],
                    "input_schema": if f["parameters"].is_object() { f["parameters"].clone() } else { json!({"type": "object"}) }})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    Value::Object(out)
}

/// The OpenAI `chat.completion` of a Messages answer; `(input, output)` tokens.
pub fn response(model: &str, a: &Value) -> (Value, u64, u64) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in a["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": block["id"], "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            _ => {}
        }
    }
    let finish = match a["stop_reason"].as_str() {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        _ => "stop",
    };
    let (i, o) =
        (a["usage"]["input_tokens"].as_u64().unwrap_or(0), a["usage"]["output_tokens"].as_u64().unwrap_or(0));
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let body = json!({
        "id": a["id"], "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o},
    });
    (body, i, o)
}

fn chunk(delta: Value, finish: Value) -> StreamEvent {
    StreamEvent::Chunk(
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
    )
}

/// One Messages stream event as OpenAI chunks: text deltas, tool calls (name, then argument
/// pieces), the stop reason, and the usage at `message_stop`. State: `(input, output)` tokens.
pub fn stream_event(usage: &mut (u64, u64), e: Value) -> Vec<StreamEvent> {
    match e["type"].as_str() {
        Some("message_start") => {
            usage.0 = e["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0);
            usage.1 = e["message"]["usage"]["output_tokens"].as_u64().unwrap_or(0);
            vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)]
        }
        Some("content_block_start") if e["content_block"]["type"] == "tool_use" => {
            let b = &e["content_block"];
            vec![chunk(
                json!({"tool_calls": [{"index": e["index"], "id": b["id"], "type": "function",
                    "function": {"name": b["name"], "arguments": ""}}]}),
                Value::Null,
            )]
        }
        Some("content_block_delta") => match e["delta"]["type"].as_str() {
            Some("text_delta") => vec![chunk(json!({"content": e["delta"]["text"]}), Value::Null)],
            Some("input_json_delta") => vec![chunk(
                json!({"tool_calls": [{"index": e["index"], "function": {"arguments": e["delta"]["partial_json"]}}]}),
                Value::Null,
            )],
            _ => Vec::new(),
        },
        Some("message_delta") => {
            if let Some(o) = e["usage"]["output_tokens"].as_u64() {
                usage.1 = o;
            }
            let finish = match e["delta"]["stop_reason"].as_str() {
                Some("max_tokens") => "length",
                Some("tool_use") => "tool_calls",
                _ => "stop",
            };
            vec![chunk(json!({}), json!(finish))]
        }
        Some("message_stop") => vec![StreamEvent::Usage { input_tokens: usage.0, output_tokens: usage.1 }],
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl ModelProvider for Anthropic {
    fn name(&self) -> &str {
        &self.up.name
    }

    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        if call.operation == Operation::Embedding {
            return Err(self
                .up
                .error("Anthropic offers no embeddings", Some("unsupported_operation".into())));
        }
        let key = self.up.api_key.clone().unwrap_or_default();
        let res = self
            .up
            .post("/v1/messages", &request(call), |r| {
                r.header("x-api-key", key.as_str()).header("anthropic-version", "2023-06-01")
            })
            .await?;
        let (body, input_tokens, output_tokens) = response(&call.model, &self.up.json(res).await?);
        Ok(ModelReply { body, input_tokens, output_tokens })
    }

    async fn stream(&self, call: &ModelCall) -> Result<ReplyStream, PortError> {
        let key = self.up.api_key.clone().unwrap_or_default();
        let mut body = request(call);
        body["stream"] = json!(true);
        let res = self
            .up
            .post("/v1/messages", &body, |r| {
                r.header("x-api-key", key.as_str()).header("anthropic-version", "2023-06-01")
            })
            .await?;
        Ok(translated_stream(self.up.name.clone(), res, (0u64, 0u64), stream_event))
    }
}
