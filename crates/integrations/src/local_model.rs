//! The built-in `local` provider: model `echo`, free and deterministic, so the gateway works end
//! to end with no outside keys. Chat answers with the last user message (or the prompt), in the
//! OpenAI shape, streaming word by word if asked; embeddings are a small deterministic vector.
//! Usage is ⌈chars / 4⌉ tokens each way.

use futures_util::StreamExt;
use serde_json::{json, Value};
use services::gateway::decide::Operation;
use services::ports::{
    content_text, ModelCall, ModelProvider, ModelReply, PortError, ReplyStream, StreamEvent,
};

/// The `local` provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalProvider;

fn tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

fn fail(message: String) -> PortError {
    PortError { service: "local", message, code: None }
}

/// `(input chars, answer)` of a chat call.
fn answer(call: &ModelCall) -> (usize, String) {
    let messages = call.body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    let input: usize =
        messages.iter().map(|m| content_text(m.get("content").unwrap_or(&Value::Null)).chars().count()).sum();
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let mut content = format!("echo: {last}");
    let max = call
        .body
        .get("max_tokens")
        .or_else(|| call.body.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    if let Some(max) = max {
        let limit = usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX);
        content = content.chars().take(limit).collect();
    }
    (input, content)
}

fn embedding(text: &str) -> Vec<f64> {
    let mut v = [0.0f64; 8];
    for (i, b) in text.bytes().enumerate() {
        v[i % 8] += f64::from(b) / 255.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
    v.iter().map(|x| x / norm).collect()
}

#[async_trait::async_trait]
impl ModelProvider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        if call.model != "echo" {
            return Err(fail(format!("no local model {}", call.model)));
        }
        if call.operation == Operation::Embedding {
            let inputs: Vec<String> = match call.body.get("input") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                _ => return Err(fail("embeddings need an input".into())),
            };
            let chars: usize = inputs.iter().map(|s| s.chars().count()).sum();
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"object": "embedding", "index": i, "embedding": embedding(s)}))
                .collect();
            let input_tokens = tokens(chars);
            return Ok(ModelReply {
                body: json!({"object": "list", "model": "echo", "data": data,
                    "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens}}),
                input_tokens,
                output_tokens: 0,
            });
        }
        let (input, content) = answer(call);
        let (input_tokens, output_tokens) = (tokens(input), tokens(content.chars().count()));
        Ok(ModelReply {
            body: json!({
                "id": "chatcmpl-local", "object": "chat.completion", "created": 0, "model": "echo",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens},
            }),
            input_tokens,
            output_tokens,
        })
    }

    async fn stream(&self, call: &ModelCall) -> Result<ReplyStream, PortError> {
        if call.model != "echo" || call.operation == Operation::Embedding {
            return Err(fail(format!("local/{} does not stream this", call.model)));
        }
        let (input, content) = answer(call);
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0, "model": "echo",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut events =
            vec![Ok(StreamEvent::Chunk(chunk(json!({"role": "assistant", "content": ""}), Value::Null)))];
        let words: Vec<String> = content.split_inclusive(' ').map(str::to_string).collect();
        for w in words {
            events.push(Ok(StreamEvent::Chunk(chunk(json!({"content": w}), Value::Null))));
        }
        events.push(Ok(StreamEvent::Chunk(chunk(json!({}), json!("stop")))));
        events.push(Ok(StreamEvent::Usage {
            input_tokens: tokens(input),
            output_tokens: tokens(content.chars().count()),
        }));
        Ok(futures_util::stream::iter(events).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(model: &str, text: &str, max_tokens: Option<u64>) -> ModelCall {
        let mut body = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ]});
        if let Some(m) = max_tokens {
            body["max_tokens"] = json!(m);
        }
        ModelCall { model: model.into(), operation: Operation::Chat, body }
    }

    #[tokio::test]
    async fn echoes_the_last_user_message_with_usage() {
        let reply = LocalProvider.call(&call("echo", "hello there", None)).await.unwrap();
        assert_eq!(reply.body["choices"][0]["message"]["content"], "echo: hello there");
        // 8 + 11 input chars → 5 tokens; 17 output chars → 5 tokens.
        assert_eq!((reply.input_tokens, reply.output_tokens), (5, 5));
        let short = LocalProvider.call(&call("echo", "hello there", Some(1))).await.unwrap();
        assert_eq!(
            (short.body["choices"][0]["message"]["content"].as_str(), short.output_tokens),
            (Some("echo"), 1)
        );
        assert!(LocalProvider.call(&call("gpt-4o", "hi", None)).await.is_err());
    }

    #[tokio::test]
    async fn streams_words_then_usage() {
        let events: Vec<_> = LocalProvider.stream(&call("echo", "a b", None)).await.unwrap().collect().await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(StreamEvent::Chunk(c)) => c["choices"][0]["delta"]["content"].as_str().map(str::to_string),
                _ => None,
            })
            .collect();
        assert_eq!(text, "echo: a b");
        assert_eq!(
            events.last().unwrap().as_ref().unwrap(),
            &StreamEvent::Usage { input_tokens: 3, output_tokens: 3 }
        );
    }
}
