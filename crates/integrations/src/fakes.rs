//! In-process fakes of the ports, for tests.

use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;
use services::ports::{
    Clock, Extraction, MediaStore, MessageSender, PaymentExtractor, PortError, StoredMedia,
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
        let mut items =
            self.items.lock().map_err(|_| PortError { service: "memory", message: "poisoned".into() })?;
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

    async fn send(&self, address: &str, text: &str) -> Result<(), PortError> {
        if self.fail {
            return Err(PortError { service: "recording sender", message: "refused".into() });
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((address.to_string(), text.to_string()));
        }
        Ok(())
    }
}
