//! The shape of an AI call as a client sends it, checked at the edge before anything is recorded
//! or reserved: [`CallRequest::validate`] refuses what OpenAI would refuse (a parameter of the
//! wrong type or out of range, an unknown role), naming the parameter as OpenAI's `param` does;
//! [`CallRequest::choices`] and [`CallRequest::input_chars`] size the estimate, so every
//! parameter that multiplies the provider's work is priced before the call.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::gateway::decide::Operation;
use crate::{FieldError, ServiceError};

/// Most output tokens one call may ask for (per choice).
pub const MAX_OUTPUT_TOKENS: u64 = 1_000_000;
/// Most choices (`n`, `best_of`) one call may ask for.
pub const MAX_CHOICES: u64 = 128;
/// Most inputs of one embeddings call.
pub const MAX_EMBEDDING_INPUTS: usize = 2048;
/// Characters an input image is counted as in the estimate (about 1,100 tokens: a high-detail
/// 1024×1024 picture at OpenAI's tile rate).
pub const IMAGE_PART_CHARS: u64 = 4_500;
/// Characters an integer token of an embeddings input is counted as (the estimate takes four
/// characters per token).
const CHARS_PER_TOKEN: u64 = 4;

/// Chat roles OpenAI accepts.
pub const ROLES: [&str; 6] = ["system", "developer", "user", "assistant", "tool", "function"];

/// The call as a client sends it: provider, model, operation and the OpenAI-shaped body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// Provider, e.g. `local`.
    pub provider: String,
    /// Model within the provider, e.g. `echo` (`local/echo` is accepted too).
    pub model: String,
    /// Operation.
    pub operation: Operation,
    /// OpenAI-shaped body: `messages`, `tools`, `max_tokens`… or `input` (embeddings).
    pub body: Value,
}

type Check = Result<(), (String, String)>;

fn bad(param: impl Into<String>, message: impl Into<String>) -> Check {
    Err((param.into(), message.into()))
}

/// The value of an optional parameter: absent and `null` are the same.
fn opt<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn integer(body: &Map<String, Value>, key: &str, min: i64, max: u64) -> Check {
    let Some(v) = opt(body, key) else { return Ok(()) };
    let ok = match (v.as_i64(), v.as_u64()) {
        (Some(i), _) => i >= min && (i < 0 || (i as u64) <= max),
        (None, Some(u)) => u <= max,
        _ => return bad(key, "must be an integer"),
    };
    if ok {
        Ok(())
    } else {
        bad(key, format!("must be an integer from {min} to {max}"))
    }
}

fn number(body: &Map<String, Value>, key: &str, min: f64, max: f64) -> Check {
    let Some(v) = opt(body, key) else { return Ok(()) };
    match v.as_f64() {
        Some(x) if x.is_finite() && (min..=max).contains(&x) => Ok(()),
        Some(_) => bad(key, format!("must be a number from {min} to {max}")),
        None => bad(key, "must be a number"),
    }
}

fn boolean(body: &Map<String, Value>, key: &str) -> Check {
    match opt(body, key) {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(_) => bad(key, "must be a boolean"),
    }
}

fn string(body: &Map<String, Value>, key: &str) -> Check {
    match opt(body, key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => bad(key, "must be a string"),
    }
}

fn object(body: &Map<String, Value>, key: &str) -> Check {
    match opt(body, key) {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => bad(key, "must be an object"),
    }
}

fn one_of(body: &Map<String, Value>, key: &str, allowed: &[&str]) -> Check {
    match opt(body, key) {
        None => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(_) => bad(key, format!("must be one of {}", allowed.join(", "))),
    }
}

fn content_part(param: &str, part: &Value) -> Check {
    let Some(p) = part.as_object() else { return bad(param, "must be an object") };
    match p.get("type").and_then(Value::as_str) {
        Some("text") => match p.get("text") {
            Some(Value::String(_)) => Ok(()),
            _ => bad(format!("{param}.text"), "must be a string"),
        },
        Some("image_url") => match p.get("image_url") {
            Some(Value::String(_)) => Ok(()),
            Some(Value::Object(o)) if o.get("url").is_some_and(Value::is_string) => Ok(()),
            _ => bad(format!("{param}.image_url"), "must be an object with a url"),
        },
        Some("input_audio" | "file" | "refusal") => Ok(()),
        _ => bad(format!("{param}.type"), "must be one of text, image_url, input_audio, file, refusal"),
    }
}

fn message(i: usize, m: &Value) -> Check {
    let param = format!("messages[{i}]");
    let Some(m) = m.as_object() else { return bad(param, "must be an object") };
    let role = match m.get("role") {
        Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.as_str(),
        Some(_) => return bad(format!("{param}.role"), format!("must be one of {}", ROLES.join(", "))),
        None => return bad(format!("{param}.role"), "is required"),
    };
    match m.get("content") {
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                content_part(&format!("{param}.content[{j}]"), part)?;
            }
        }
        None | Some(Value::Null) if role == "assistant" => {}
        None | Some(Value::Null) => return bad(format!("{param}.content"), "is required"),
        Some(_) => return bad(format!("{param}.content"), "must be a string or an array of content parts"),
    }
    if role == "tool" && !m.get("tool_call_id").is_some_and(Value::is_string) {
        return bad(format!("{param}.tool_call_id"), "is required for role tool");
    }
    string(m, "name").map_err(|(_, msg)| (format!("{param}.name"), msg))?;
    match m.get("tool_calls") {
        None | Some(Value::Null | Value::Array(_)) => Ok(()),
        Some(_) => bad(format!("{param}.tool_calls"), "must be an array"),
    }
}

fn tool(i: usize, t: &Value) -> Check {
    let param = format!("tools[{i}]");
    let Some(t) = t.as_object() else { return bad(param, "must be an object") };
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return bad(format!("{param}.type"), "must be function");
    }
    let Some(f) = t.get("function").and_then(Value::as_object) else {
        return bad(format!("{param}.function"), "must be an object");
    };
    let name_ok = f.get("name").and_then(Value::as_str).is_some_and(|n| {
        (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !name_ok {
        return bad(format!("{param}.function.name"), "must be 1 to 64 letters, digits, _ or -");
    }
    string(f, "description").map_err(|(_, m)| (format!("{param}.function.description"), m))?;
    object(f, "parameters").map_err(|(_, m)| (format!("{param}.function.parameters"), m))?;
    boolean(f, "strict").map_err(|(_, m)| (format!("{param}.function.strict"), m))
}

/// The parameters of a chat-shaped call (chat, completion, vision, code).
fn chat(b: &Map<String, Value>) -> Check {
    match b.get("messages") {
        Some(Value::Array(list)) if !list.is_empty() => {
            for (i, m) in list.iter().enumerate() {
                message(i, m)?;
            }
        }
        Some(Value::Array(_)) => return bad("messages", "must not be empty"),
        Some(_) => return bad("messages", "must be an array of messages"),
        None => return bad("messages", "is required"),
    }
    integer(b, "max_tokens", 1, MAX_OUTPUT_TOKENS)?;
    integer(b, "max_completion_tokens", 1, MAX_OUTPUT_TOKENS)?;
    integer(b, "n", 1, MAX_CHOICES)?;
    integer(b, "best_of", 1, MAX_CHOICES)?;
    number(b, "temperature", 0.0, 2.0)?;
    number(b, "top_p", 0.0, 1.0)?;
    number(b, "presence_penalty", -2.0, 2.0)?;
    number(b, "frequency_penalty", -2.0, 2.0)?;
    integer(b, "seed", i64::MIN, i64::MAX as u64)?;
    integer(b, "top_logprobs", 0, 20)?;
    for key in ["stream", "logprobs", "parallel_tool_calls", "store"] {
        boolean(b, key)?;
    }
    for key in ["stream_options", "metadata", "logit_bias"] {
        object(b, key)?;
    }
    for key in ["user", "reasoning_effort", "service_tier"] {
        string(b, key)?;
    }
    match opt(b, "stop") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(s)) if s.len() <= 4 && s.iter().all(Value::is_string) => {}
        Some(_) => return bad("stop", "must be a string or an array of at most 4 strings"),
    }
    if let Some(bias) = opt(b, "logit_bias").and_then(Value::as_object) {
        if !bias.values().all(|v| v.as_f64().is_some_and(|x| (-100.0..=100.0).contains(&x))) {
            return bad("logit_bias", "values must be numbers from -100 to 100");
        }
    }
    match opt(b, "tools") {
        None => {}
        Some(Value::Array(tools)) => {
            for (i, t) in tools.iter().enumerate() {
                tool(i, t)?;
            }
        }
        Some(_) => return bad("tools", "must be an array of tools"),
    }
    match opt(b, "tool_choice") {
        None | Some(Value::Object(_)) => {}
        Some(Value::String(s)) if ["none", "auto", "required"].contains(&s.as_str()) => {}
        Some(_) => return bad("tool_choice", "must be none, auto, required or an object naming a function"),
    }
    match opt(b, "response_format") {
        None => {}
        Some(Value::Object(f))
            if f.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| ["text", "json_object", "json_schema"].contains(&t)) => {}
        Some(_) => {
            return bad("response_format", "must be an object whose type is text, json_object or json_schema")
        }
    }
    Ok(())
}

fn embeddings(b: &Map<String, Value>) -> Check {
    match b.get("input") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_EMBEDDING_INPUTS => {
            let strings = items.iter().all(|i| i.as_str().is_some_and(|s| !s.is_empty()));
            let tokens = items.iter().all(|i| i.as_u64().is_some());
            let token_lists = items.iter().all(|i| {
                i.as_array().is_some_and(|t| !t.is_empty() && t.iter().all(|x| x.as_u64().is_some()))
            });
            if !(strings || tokens || token_lists) {
                return bad(
                    "input",
                    "must be a string, or an array of strings, of token integers or of token arrays",
                );
            }
        }
        Some(Value::Array(items)) if items.is_empty() => return bad("input", "must not be empty"),
        Some(Value::Array(_)) => {
            return bad("input", format!("must have at most {MAX_EMBEDDING_INPUTS} items"))
        }
        Some(Value::String(_)) => return bad("input", "must not be empty"),
        Some(_) => return bad("input", "must be a string or an array"),
        None => return bad("input", "is required"),
    }
    one_of(b, "encoding_format", &["float", "base64"])?;
    integer(b, "dimensions", 1, 65_536)?;
    string(b, "user")
}

fn image(b: &Map<String, Value>) -> Check {
    match b.get("prompt") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => return bad("prompt", "is required (a string)"),
    }
    match opt(b, "n") {
        None => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => return bad("n", "one image per request (each is priced and charged)"),
    }
    for key in ["size", "quality", "style", "user"] {
        string(b, key)?;
    }
    one_of(b, "response_format", &["url", "b64_json"])
}

fn speech(b: &Map<String, Value>) -> Check {
    match b.get("input") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => return bad("input", "is required (a string)"),
    }
    string(b, "voice")?;
    number(b, "speed", 0.25, 4.0)?;
    one_of(b, "response_format", &["mp3", "opus", "aac", "flac", "wav", "pcm"])
}

impl CallRequest {
    /// A call from plain messages and/or a prompt (`POST /api/v1/requests`). A prompt becomes the
    /// last user message of chat-like calls and the input of embeddings.
    pub fn simple(
        provider: String,
        model: String,
        operation: Operation,
        messages: Vec<(String, String)>,
        prompt: Option<String>,
        max_tokens: Option<u64>,
        parameters: Value,
    ) -> Self {
        let mut body = match parameters {
            Value::Object(map) => Value::Object(map),
            _ => json!({}),
        };
        if operation == Operation::Embedding {
            let mut input: Vec<String> = messages.into_iter().map(|(_, c)| c).collect();
            input.extend(prompt);
            body["input"] = json!(input);
        } else {
            let mut list: Vec<Value> = messages
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect();
            if let Some(p) = prompt {
                list.push(json!({"role": "user", "content": p}));
            }
            body["messages"] = Value::Array(list);
        }
        if let Some(m) = max_tokens {
            body["max_tokens"] = json!(m);
        }
        Self { provider, model, operation, body }
    }

    /// Refuses a body OpenAI would refuse, naming the parameter (`messages[0].role`,
    /// `max_tokens`…). Unknown parameters pass through to the provider untouched.
    pub fn validate(&self) -> Result<(), ServiceError> {
        let Some(b) = self.body.as_object() else {
            return Err(ServiceError::invalid("body", "must be a JSON object"));
        };
        let checked = match self.operation {
            Operation::Chat | Operation::Completion | Operation::Vision | Operation::Code => chat(b),
            Operation::Embedding => embeddings(b),
            Operation::Image => image(b),
            Operation::Audio => speech(b),
        };
        checked.map_err(|(field, message)| ServiceError::Validation(vec![FieldError { field, message }]))
    }

    /// Characters of input the estimate counts: message texts, the prompt, embedding inputs
    /// (a token integer as four characters), each input image as [`IMAGE_PART_CHARS`], and the
    /// tool and response-format schemas the model also reads.
    pub fn input_chars(&self) -> u64 {
        let mut n: u64 = 0;
        let chars = |s: &str| s.chars().count() as u64;
        if let Some(messages) = self.body.get("messages").and_then(Value::as_array) {
            for m in messages {
                n = n.saturating_add(m.get("content").map_or(0, |c| chars(&crate::ports::content_text(c))));
                let images = m
                    .get("content")
                    .and_then(Value::as_array)
                    .map_or(0, |parts| parts.iter().filter(|p| p["type"] == "image_url").count());
                n = n.saturating_add(images as u64 * IMAGE_PART_CHARS);
                if let Some(calls) = m.get("tool_calls").filter(|c| !c.is_null()) {
                    n = n.saturating_add(chars(&calls.to_string()));
                }
            }
        }
        for key in ["prompt", "input"] {
            match self.body.get(key) {
                Some(Value::String(s)) => n = n.saturating_add(chars(s)),
                Some(Value::Array(items)) => {
                    for item in items {
                        n = n.saturating_add(match item {
                            Value::String(s) => chars(s),
                            Value::Number(_) => CHARS_PER_TOKEN,
                            Value::Array(tokens) => tokens.len() as u64 * CHARS_PER_TOKEN,
                            _ => 0,
                        });
                    }
                }
                _ => {}
            }
        }
        for key in ["tools", "response_format"] {
            if let Some(v) = self.body.get(key).filter(|v| !v.is_null()) {
                n = n.saturating_add(chars(&v.to_string()));
            }
        }
        n
    }

    /// Requested output tokens per choice: the larger of `max_tokens` and
    /// `max_completion_tokens`, so neither can outrun the estimate.
    pub fn max_tokens(&self) -> Option<u64> {
        let get = |k: &str| self.body.get(k).and_then(Value::as_u64);
        match (get("max_tokens"), get("max_completion_tokens")) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many completions the provider generates: the larger of `n` and `best_of` (1 when
    /// neither is given). Images are one per call; embeddings and speech produce no choices.
    pub fn choices(&self) -> u64 {
        if !matches!(
            self.operation,
            Operation::Chat | Operation::Completion | Operation::Vision | Operation::Code
        ) {
            return 1;
        }
        let get = |k: &str| self.body.get(k).and_then(Value::as_u64).unwrap_or(1);
        get("n").max(get("best_of")).max(1)
    }

    /// Provider and model, trimmed, with a `provider/` prefix on the model removed.
    pub fn names(&self) -> (String, String) {
        let provider = self.provider.trim().to_string();
        let model = self.model.trim();
        let model = model
            .split_once('/')
            .filter(|(p, _)| p.eq_ignore_ascii_case(&provider))
            .map_or(model, |(_, m)| m)
            .to_string();
        (provider, model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_call(body: Value) -> CallRequest {
        CallRequest { provider: "local".into(), model: "echo".into(), operation: Operation::Chat, body }
    }

    fn param_of(call: &CallRequest) -> Option<String> {
        match call.validate() {
            Ok(()) => None,
            Err(ServiceError::Validation(f)) => Some(f[0].field.clone()),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn refuses_what_openai_refuses_naming_the_parameter() {
        let base = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(param_of(&chat_call(base.clone())), None);
        for (key, value, param) in [
            ("max_tokens", json!(-5), "max_tokens"),
            ("max_tokens", json!(1e30), "max_tokens"),
            ("max_tokens", json!(10.5), "max_tokens"),
            ("max_tokens", json!(u64::MAX), "max_tokens"),
            ("stream", json!("yes"), "stream"),
            ("temperature", json!("hot"), "temperature"),
            ("temperature", json!(3), "temperature"),
            ("tools", json!("x"), "tools"),
            ("tools", json!([{"type": "function", "function": {"name": "a b"}}]), "tools[0].function.name"),
            ("n", json!(0), "n"),
            ("n", json!(1000), "n"),
            ("stop", json!([1]), "stop"),
            ("tool_choice", json!("sometimes"), "tool_choice"),
        ] {
            let mut b = base.clone();
            b[key] = value;
            assert_eq!(param_of(&chat_call(b)).as_deref(), Some(param), "{key}");
        }
        let emperor = json!({"messages": [{"role": "emperor", "content": "hi"}]});
        assert_eq!(param_of(&chat_call(emperor)).as_deref(), Some("messages[0].role"));
        assert_eq!(param_of(&chat_call(json!({"messages": []}))).as_deref(), Some("messages"));
        // null is the same as absent.
        let mut b = base;
        b["temperature"] = Value::Null;
        assert_eq!(param_of(&chat_call(b)), None);
    }

    #[test]
    fn multipliers_and_inputs_are_counted() {
        let call = chat_call(json!({"messages": [{"role": "user", "content": "abcd"}], "n": 3, "best_of": 5,
            "max_tokens": 10, "max_completion_tokens": 40}));
        assert_eq!(call.choices(), 5);
        assert_eq!(call.max_tokens(), Some(40));
        let emb = CallRequest {
            provider: "p".into(),
            model: "m".into(),
            operation: Operation::Embedding,
            body: json!({"input": [[1, 2, 3], [4]]}),
        };
        assert_eq!(emb.validate().ok(), Some(()));
        assert_eq!(emb.input_chars(), 16);
        assert_eq!(emb.choices(), 1);
        let mixed = CallRequest { body: json!({"input": ["a", 1]}), ..emb };
        assert!(mixed.validate().is_err());
    }
}
