//! Adapters that implement the ports of `services`: media storage on local disk (default) or
//! Cloudinary, and in-process fakes for tests ([`fakes`]).

pub mod cloudinary;
pub mod fakes;
pub mod local_media;
pub mod local_model;
pub mod providers;
pub mod webhooks;
pub mod whatsapp;

use std::sync::Arc;

use core_config::{MediaStoreKind, Settings};
use services::ports::{MediaStore, SystemClock};
use services::Ports;

pub use cloudinary::CloudinaryMediaStore;
pub use local_media::LocalMediaStore;
pub use local_model::LocalProvider;
pub use webhooks::HttpWebhookSender;
pub use whatsapp::WhatsAppSender;

/// The ports the settings select: local or Cloudinary media, the system clock, the built-in
/// `local` provider (the binary adds one per configured catalogue provider) and the HTTP webhook
/// sender. The screenshot reader is left to [`services::Services::build`], which builds the
/// gateway-backed one of `payments.extractor_model`.
pub fn ports(settings: &Settings) -> Result<Ports, String> {
    let media: Arc<dyn MediaStore> = match settings.media.store {
        MediaStoreKind::Local => Arc::new(LocalMediaStore::new(&settings.media.local_dir)),
        MediaStoreKind::Cloudinary => Arc::new(CloudinaryMediaStore::new(&settings.media.cloudinary)?),
    };
    let timeout = std::time::Duration::from_secs(settings.gateway.webhook_timeout_secs);
    Ok(Ports {
        media,
        extractor: None,
        clock: Arc::new(SystemClock),
        senders: if settings.whatsapp.enabled {
            vec![Arc::new(whatsapp::WhatsAppSender::new(&settings.whatsapp)?)
                as Arc<dyn services::ports::MessageSender>]
        } else {
            Vec::new()
        },
        providers: vec![Arc::new(LocalProvider)],
        webhooks: Arc::new(HttpWebhookSender::new(timeout)?),
    })
}
