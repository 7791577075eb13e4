//! Adapters that implement the ports of `services`: media storage on local disk (default) or
//! Cloudinary, and in-process fakes for tests ([`fakes`]).

pub mod cloudinary;
pub mod fakes;
pub mod local_media;
pub mod local_model;
pub mod providers;
pub mod webhooks;

use std::sync::Arc;

use core_config::{MediaStoreKind, Settings};
use services::ports::{
    Clock, MediaStore, MessageSender, ModelProvider, PaymentExtractor, SystemClock, WebhookSender,
};

pub use cloudinary::CloudinaryMediaStore;
pub use local_media::LocalMediaStore;
pub use local_model::LocalProvider;
pub use webhooks::HttpWebhookSender;

/// The adapters the application runs with.
#[derive(Clone, Debug)]
pub struct Adapters {
    /// Where uploads go.
    pub media: Arc<dyn MediaStore>,
    /// Screenshot reader; `None` until a vision model is configured (every image goes to manual
    /// review, marked "not machine-checked").
    pub extractor: Option<Arc<dyn PaymentExtractor>>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Senders of outside channels (WhatsApp arrives with its issue).
    pub senders: Vec<Arc<dyn MessageSender>>,
    /// Model providers of the spend gateway (the built-in `local` one to begin with).
    pub providers: Vec<Arc<dyn ModelProvider>>,
    /// Delivers alert webhooks.
    pub webhooks: Arc<dyn WebhookSender>,
}

impl Adapters {
    /// The adapters the settings select.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let media: Arc<dyn MediaStore> = match settings.media.store {
            MediaStoreKind::Local => Arc::new(LocalMediaStore::new(&settings.media.local_dir)),
            MediaStoreKind::Cloudinary => Arc::new(CloudinaryMediaStore::new(&settings.media.cloudinary)?),
        };
        let timeout = std::time::Duration::from_secs(settings.gateway.webhook_timeout_secs);
        Ok(Self {
            media,
            extractor: None,
            clock: Arc::new(SystemClock),
            senders: Vec::new(),
            providers: vec![Arc::new(LocalProvider)],
            webhooks: Arc::new(HttpWebhookSender::new(timeout)?),
        })
    }
}
