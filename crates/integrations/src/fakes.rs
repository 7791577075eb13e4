//! In-process fakes of the ports, for tests.

use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;
use services::ports::{
    Clock, Extraction, MediaStore, MessageSender, Outgoing, PaymentExtractor, PortError, SendError,
    SendFailure, StoredMedia,
};

/// An extractor that returns a fixed reading.
#[derive(Clone, Debug)]
pub struct FakeExtractor(pub Extraction);

#[async_trait::async_trait]
impl PaymentExtractor for FakeExtractor {
    async fn extract(&self, _bytes: &[u8], _content_type: &str) -> Result<Extraction, PortError> {
        Ok(self.0.clone())
    }
}

/// An upload kept by [`MemoryMediaStore`]: `(content type, bytes)`.
pub type MemoryItem = (String, Vec<u8>);

/// A media store that keeps uploads in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryMediaStore {
    /// Stored uploads.
    pub items: Arc<Mutex<Vec<MemoryItem>>>,
}

#[async_trait::async_trait]
impl MediaStore for MemoryMediaStore {
    async fn put(&self, bytes: Vec<u8>, content_type: &str, sha256: &str) -> Result<StoredMedia, PortError> {
        let mut items = self.items.lock().map_err(|_| PortError {
            service: "memory",
            message: "poisoned".into(),
            code: None,
        })?;
        items.push((content_type.to_string(), bytes));
        Ok(StoredMedia { url: format!("memory://{sha256}") })
    }
}

/// A clock that says what it is told.
#[derive(Clone, Debug)]
pub struct FixedClock(pub Arc<Mutex<NaiveDateTime>>);

impl FixedClock {
    /// A clock at `now`.
    pub fn at(now: NaiveDateTime) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Moves it.
    pub fn set(&self, now: NaiveDateTime) {
        if let Ok(mut t) = self.0.lock() {
            *t = now;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> NaiveDateTime {
        self.0.lock().map(|t| *t).unwrap_or_default()
    }
}

/// A sender that records what it sends, or fails every time.
#[derive(Clone, Debug, Default)]
pub struct RecordingSender {
    /// The channel it serves.
    pub channel: String,
    /// `(address, text)` of each send.
    pub sent: Arc<Mutex<Vec<(String, String)>>>,
    /// Fail every send.
    pub fail: bool,
}

#[async_trait::async_trait]
impl MessageSender for RecordingSender {
    fn channel(&self) -> &str {
        &self.channel
    }

    async fn send(&self, address: &str, message: &Outgoing) -> Result<Option<String>, SendError> {
        if self.fail {
            return Err(SendError { failure: SendFailure::Transient, code: None, message: "refused".into() });
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((address.to_string(), message.text.clone()));
        }
        Ok(None)
    }
}

/// How a [`ScriptedProvider`] behaves.
#[derive(Clone, Debug)]
pub enum Script {
    /// Answers with this many input and output tokens.
    Answer(u64, u64),
    /// Fails like an upstream 5xx.
    Fail,
    /// Answers only after this long (for timeouts and abandoned calls).
    Hang(std::time::Duration),
    /// Streams this many one-word chunks (`"word "`, five characters each), one per interval,
    /// then reports usage of 100 input tokens and the words streamed.
    SlowStream(usize, std::time::Duration),
}

/// A model provider for tests of the gateway's failure paths (the HTTP adapters have their own
/// loopback tests).
#[derive(Clone, Debug)]
pub struct ScriptedProvider {
    /// Provider name.
    pub name: String,
    /// Behaviour.
    pub script: Script,
    /// Calls received.
    pub calls: Arc<Mutex<u32>>,
}

impl ScriptedProvider {
    /// A provider called `name` that follows `script`.
    pub fn new(name: &str, script: Script) -> Self {
        Self { name: name.into(), script, calls: Arc::default() }
    }
}

#[async_trait::async_trait]
impl services::ports::ModelProvider for ScriptedProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn call(
        &self,
        _call: &services::ports::ModelCall,
    ) -> Result<services::ports::ModelReply, PortError> {
        if let Ok(mut n) = self.calls.lock() {
            *n += 1;
        }
        match &self.script {
            Script::Answer(input_tokens, output_tokens) => Ok(services::ports::ModelReply {
                body: serde_json::json!({"object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "scripted"}, "finish_reason": "stop"}]}),
                input_tokens: *input_tokens,
                output_tokens: *output_tokens,
            }),
            Script::Fail => {
                Err(PortError { service: "scripted", message: "upstream answered 503".into(), code: None })
            }
            Script::SlowStream(..) => {
                Err(PortError { service: "scripted", message: "stream only".into(), code: None })
            }
            Script::Hang(d) => {
                tokio::time::sleep(*d).await;
                Ok(services::ports::ModelReply {
                    body: serde_json::json!({"object": "chat.completion", "choices": []}),
                    input_tokens: 1,
                    output_tokens: 1,
                })
            }
        }
    }

    async fn stream(
        &self,
        _call: &services::ports::ModelCall,
    ) -> Result<services::ports::ReplyStream, PortError> {
        use futures_util::StreamExt;
        use services::ports::StreamEvent;
        let Script::SlowStream(n, every) = self.script.clone() else {
            return Err(PortError { service: "scripted", message: "no stream scripted".into(), code: None });
        };
        let chunks = futures_util::stream::iter(0..n).then(move |i| async move {
            tokio::time::sleep(every).await;
            Ok(StreamEvent::Chunk(serde_json::json!({"object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {"content": "word "}, "finish_reason": if i + 1 == n { "stop" } else { "" }}]})))
        });
        let usage = futures_util::stream::once(async move {
            Ok(StreamEvent::Usage { input_tokens: 100, output_tokens: n as u64 * 2 })
        });
        Ok(chunks.chain(usage).boxed())
    }
}
