//! The built-in `local` provider: model `echo`, free and deterministic, so the gateway works end
//! to end with no outside keys. It answers with the last user message (or the prompt) and
//! reports usage as ⌈chars / 4⌉ tokens each way.

use services::ports::{ModelCall, ModelProvider, ModelReply, PortError};

/// The `local` provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalProvider;

fn tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

#[async_trait::async_trait]
impl ModelProvider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn call(&self, call: &ModelCall) -> Result<ModelReply, PortError> {
        if call.model != "echo" {
            return Err(PortError { service: "local", message: format!("no local model {}", call.model) });
        }
        let input: usize = call.messages.iter().map(|m| m.content.chars().count()).sum::<usize>()
            + call.prompt.as_deref().map_or(0, |p| p.chars().count());
        let last = call
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .or(call.prompt.as_deref())
            .unwrap_or("");
        let mut content = format!("echo: {last}");
        if let Some(max) = call.max_tokens {
            let limit = usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX);
            content = content.chars().take(limit).collect();
        }
        Ok(ModelReply {
            output_tokens: tokens(content.chars().count()),
            input_tokens: tokens(input),
            content,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use services::ports::ChatMessage;
    use services::spend::Operation;

    fn call(model: &str, text: &str, max_tokens: Option<u64>) -> ModelCall {
        ModelCall {
            model: model.into(),
            operation: Operation::Chat,
            messages: vec![
                ChatMessage { role: "system".into(), content: "be brief".into() },
                ChatMessage { role: "user".into(), content: text.into() },
            ],
            prompt: None,
            max_tokens,
            parameters: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn echoes_the_last_user_message_with_usage() {
        let reply = LocalProvider.call(&call("echo", "hello there", None)).await.unwrap();
        assert_eq!(reply.content, "echo: hello there");
        // 8 + 11 input chars → 5 tokens; 17 output chars → 5 tokens.
        assert_eq!((reply.input_tokens, reply.output_tokens), (5, 5));
        let short = LocalProvider.call(&call("echo", "hello there", Some(1))).await.unwrap();
        assert_eq!((short.content.as_str(), short.output_tokens), ("echo", 1));
        assert!(LocalProvider.call(&call("gpt-4o", "hi", None)).await.is_err());
    }
}
