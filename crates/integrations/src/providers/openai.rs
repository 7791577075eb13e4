//! OpenAI-compatible providers (OpenAI, Groq, OpenRouter, Ollama, vLLM, llama.cpp, Gemini's
//! OpenAI endpoint): the request already has the wire shape, so it is passed through with the
//! model name; usage is read from `usage`, streamed usage from the final chunk
//! (`stream_options.include_usage`).

use futures_util::StreamExt;
use serde_json::{json, Value};
use services::gateway::decide::Operation;
use services::ports::{ModelCall, ModelProvider, ModelReply, PortError, ReplyStream, StreamEvent};

use super::http::{sse_data, Upstream};

/// An OpenAI-compatible provider.
#[derive(Clone, Debug)]
pub struct OpenAiCompatible {
    up: Upstream,
}

impl OpenAiCompatible {
    /// A provider reached through `up`.
    pub fn new(up: Upstream) -> Self {
        Self { up }
    }

    fn body(call: &ModelCall, stream: bool) -> Value {
        let mut body = call.body.clone();
        body["model"] = json!(call.model);
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        } else if let Some(o) = body.as_object_mut() {
            o.remove("stream");
            o.remove("stream_options");
        }
        body
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.up.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }
}

impl OpenAiCompatible {
    /// `POST /audio/speech` answers with audio bytes; they travel base64-encoded in the reply.
    async fn speech(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        use base64::Engine;
        let res = self.up.post("/audio/speech", &Self::body(call, false), |r| self.auth(r)).await?;
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("audio/mpeg")
            .to_string();
        let bytes = res.bytes().await.map_err(|e| self.up.error(format!("unreadable audio: {e}"), None))?;
        let body = json!({"object": "audio.speech", "content_type": content_type,
            "audio_base64": base64::engine::general_purpose::STANDARD.encode(&bytes)});
        Ok(ModelReply { body, input_tokens: 0, output_tokens: 0 })
    }
}

fn usage(body: &Value) -> (u64, u64) {
    let u = &body["usage"];
    (u["prompt_tokens"].as_u64().unwrap_or(0), u["completion_tokens"].as_u64().unwrap_or(0))
}

#[async_trait::async_trait]
impl ModelProvider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.up.name
    }

    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        if call.operation == Operation::Audio {
            return self.speech(call).await;
        }
        let path = match call.operation {
            Operation::Embedding => "/embeddings",
            Operation::Image => "/images/generations",
            _ => "/chat/completions",
        };
        let res = self.up.post(path, &Self::body(call, false), |r| self.auth(r)).await?;
        let body = self.up.json(res).await?;
        let (input_tokens, output_tokens) = usage(&body);
        Ok(ModelReply { body, input_tokens, output_tokens })
    }

    async fn stream(&self, call: &ModelCall) -> Result<ReplyStream, PortError> {
        let res = self.up.post("/chat/completions", &Self::body(call, true), |r| self.auth(r)).await?;
        let name = self.up.name.clone();
        let events = sse_data(res).flat_map(move |data| {
            let out: Vec<Result<StreamEvent, PortError>> = match data {
                Err(e) => {
                    vec![Err(PortError { service: "provider", message: format!("{name}: {e}"), code: None })]
                }
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Err(e) => vec![Err(PortError {
                        service: "provider",
                        message: format!("{name}: unreadable chunk: {e}"),
                        code: Some("bad_response".into()),
                    })],
                    Ok(chunk) => {
                        let mut out = Vec::new();
                        if chunk["choices"].as_array().is_some_and(|c| !c.is_empty()) {
                            out.push(Ok(StreamEvent::Chunk(chunk.clone())));
                        }
                        if chunk["usage"].is_object() {
                            let (input_tokens, output_tokens) = usage(&chunk);
                            out.push(Ok(StreamEvent::Usage { input_tokens, output_tokens }));
                        }
                        out
                    }
                },
            };
            futures_util::stream::iter(out)
        });
        Ok(events.boxed())
    }
}
