//! Google Gemini native API: `models/{model}:generateContent` for chat (contents with text,
//! inline images, function calls and responses; system instruction; tools; generation config)
//! and `:batchEmbedContents` for embeddings. Usage from `usageMetadata`.

use serde_json::{json, Value};
use services::gateway::decide::Operation;
use services::ports::{
    content_text, ModelCall, ModelProvider, ModelReply, PortError, ReplyStream, StreamEvent,
};

use super::http::{translated_stream, Upstream};

/// The Gemini adapter.
#[derive(Clone, Debug)]
pub struct Gemini {
    up: Upstream,
}

impl Gemini {
    /// An adapter reaching Gemini through `up`.
    pub fn new(up: Upstream) -> Self {
        Self { up }
    }
}

fn parts(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"text": s})],
        Value::Array(items) => items
            .iter()
            .filter_map(|p| match p["type"].as_str() {
                Some("text") => Some(json!({"text": p["text"]})),
                Some("image_url") => {
                    let url = p["image_url"]["url"].as_str().unwrap_or("");
                    match url.strip_prefix("data:").and_then(|r| r.split_once(";base64,")) {
                        Some((mime, data)) => Some(json!({"inline_data": {"mime_type": mime, "data": data}})),
                        None => Some(json!({"file_data": {"file_uri": url}})),
                    }
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The `generateContent` request of an OpenAI chat request.
pub fn request(call: &ModelCall) -> Value {
    let b = &call.body;
    let mut system = Vec::new();
    let mut contents = Vec::new();
    // Tool results name the function, which OpenAI gives only on the call: remember ids.
    let mut names = std::collections::HashMap::new();
    for m in b["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str().unwrap_or("user") {
            "system" | "developer" => system.push(json!({"text": content_text(&m["content"])})),
            "assistant" => {
                let mut p = parts(&m["content"]);
                for tc in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = tc["function"]["arguments"].as_str().unwrap_or("{}");
                    names.insert(tc["id"].as_str().unwrap_or("").to_string(), tc["function"]["name"].clone());
                    p.push(json!({"functionCall": {"name": tc["function"]["name"],
                        "args": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({}))}}));
                }
                contents.push(json!({"role": "model", "parts": p}));
            }
            "tool" => {
                let name =
                    names.get(m["tool_call_id"].as_str().unwrap_or("")).cloned().unwrap_or(json!("tool"));
                let text = content_text(&m["content"]);
                let response =
                    serde_json::from_str::<Value>(&text).unwrap_or_else(|_| json!({"result": text}));
                contents.push(json!({"role": "user", "parts": [{"functionResponse": {"name": name, "response": response}}]}));
            }
            _ => contents.push(json!({"role": "user", "parts": parts(&m["content"])})),
        }
    }
    let mut out = json!({"contents": contents});
    if !system.is_empty() {
        out["systemInstruction"] = json!({"parts": system});
    }
    let mut config = serde_json::Map::new();
    if let Some(m) = b["max_tokens"].as_u64().or(b["max_completion_tokens"].as_u64()) {
        config.insert("maxOutputTokens".into(), json!(m));
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "topP")] {
        if let Some(v) = b.get(from) {
            config.insert(to.into(), v.clone());
        }
    }
    if !config.is_empty() {
        out["generationConfig"] = Value::Object(config);
    }
    if let Some(tools) = b["tools"].as_array() {
        let decls: Vec<Value> = tools
            .iter()
            .map(|t| {
                json!({"name": t["function"]["name"], "description": t["function"]["description"],
                "parameters": t["function"]["parameters"]})
            })
            .collect();
        out["tools"] = json!([{"functionDeclarations": decls}]);
    }
    out
}

/// The OpenAI `chat.completion` of a `generateContent` answer; `(input, output)` tokens.
pub fn response(model: &str, g: &Value) -> (Value, u64, u64) {
    let candidate = &g["candidates"][0];
    let mut text = String::new();
    let mut calls = Vec::new();
    for p in candidate["content"]["parts"].as_array().into_iter().flatten() {
        if let Some(t) = p["text"].as_str() {
            text.push_str(t);
        }
        if p["functionCall"].is_object() {
            calls.push(json!({"id": format!("call_{}", calls.len()), "type": "function",
                "function": {"name": p["functionCall"]["name"], "arguments": p["functionCall"]["args"].to_string()}}));
        }
    }
    let finish = match candidate["finishReason"].as_str() {
        Some("MAX_TOKENS") => "length",
        Some("SAFETY") | Some("RECITATION") => "content_filter",
        _ if !calls.is_empty() => "tool_calls",
        _ => "stop",
    };
    let u = &g["usageMetadata"];
    let (i, o) =
        (u["promptTokenCount"].as_u64().unwrap_or(0), u["candidatesTokenCount"].as_u64().unwrap_or(0));
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let body = json!({
        "id": "chatcmpl-gemini", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o},
    });
    (body, i, o)
}

/// One `streamGenerateContent` event as OpenAI chunks; usage (cumulative in every event) is
/// kept and reported when the candidate finishes. State: `(input, output, reported)`.
pub fn stream_event(state: &mut (u64, u64, bool), g: Value) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    let candidate = &g["candidates"][0];
    for p in candidate["content"]["parts"].as_array().into_iter().flatten() {
        if let Some(t) = p["text"].as_str() {
            out.push(StreamEvent::Chunk(json!({"object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]})));
        }
    }
    let u = &g["usageMetadata"];
    if u.is_object() {
        state.0 = u["promptTokenCount"].as_u64().unwrap_or(state.0);
        state.1 = u["candidatesTokenCount"].as_u64().unwrap_or(state.1);
    }
    if let Some(reason) = candidate["finishReason"].as_str().filter(|_| !state.2) {
        state.2 = true;
        let finish = if reason == "MAX_TOKENS" { "length" } else { "stop" };
        out.push(StreamEvent::Chunk(json!({"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})));
        out.push(StreamEvent::Usage { input_tokens: state.0, output_tokens: state.1 });
    }
    out
}

fn inputs(body: &Value) -> Vec<String> {
    match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl ModelProvider for Gemini {
    fn name(&self) -> &str {
        &self.up.name
    }

    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        let key = self.up.api_key.clone().unwrap_or_default();
        let auth = |r: reqwest::RequestBuilder| r.header("x-goog-api-key", key.as_str());
        if call.operation == Operation::Embedding {
            let texts = inputs(&call.body);
            let requests: Vec<Value> = texts
                .iter()
                .map(|t| json!({"model": format!("models/{}", call.model), "content": {"parts": [{"text": t}]}}))
                .collect();
            let res = self
                .up
                .post(
                    &format!("/models/{}:batchEmbedContents", call.model),
                    &json!({"requests": requests}),
                    auth,
                )
                .await?;
            let g = self.up.json(res).await?;
            let data: Vec<Value> = g["embeddings"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e["values"]}))
                .collect();
            // The embedding API reports no usage: ⌈chars / 4⌉.
            let tokens = texts.iter().map(|t| t.chars().count().div_ceil(4) as u64).sum::<u64>();
            let body = json!({"object": "list", "model": call.model, "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
            return Ok(ModelReply { body, input_tokens: tokens, output_tokens: 0 });
        }
        let res =
            self.up.post(&format!("/models/{}:generateContent", call.model), &request(call), auth).await?;
        let (body, input_tokens, output_tokens) = response(&call.model, &self.up.json(res).await?);
        Ok(ModelReply { body, input_tokens, output_tokens })
    }

    async fn stream(&self, call: &ModelCall) -> Result<ReplyStream, PortError> {
        let key = self.up.api_key.clone().unwrap_or_default();
        let path = format!("/models/{}:streamGenerateContent?alt=sse", call.model);
        let res = self.up.post(&path, &request(call), |r| r.header("x-goog-api-key", key.as_str())).await?;
        Ok(translated_stream(self.up.name.clone(), res, (0u64, 0u64, false), stream_event))
    }
}
