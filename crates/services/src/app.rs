//! The composition root: the adapters the services run with ([`Ports`], filled by
//! `integrations`, with fakes in tests) and every service built once over them ([`Services`]),
//! which the binary hands to the HTTP layer and to the background jobs.

use std::sync::Arc;
use std::time::Duration;

use core_config::Settings;
use repositories::Db;

use crate::desk::{search_cache::SearchCache, Desk, Rules};
use crate::gateway::alerts::SpendJobs;
use crate::gateway::chat_model::GatewayChatModel;
use crate::gateway::decide::RulesEvaluator;
use crate::gateway::extractor::GatewayPaymentExtractor;
use crate::gateway::Gateway;
use crate::ports::{Clock, MediaStore, MessageSender, ModelProvider, PaymentExtractor, WebhookSender};
use crate::ServiceError;

/// The adapters the services reach the world through.
#[derive(Clone, Debug)]
pub struct Ports {
    /// Where uploads go.
    pub media: Arc<dyn MediaStore>,
    /// A screenshot reader given from outside (tests); when `None`, [`Services::build`] uses the
    /// gateway-backed reader of `payments.extractor_model`, or none (manual review).
    pub extractor: Option<Arc<dyn PaymentExtractor>>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Senders of outside channels.
    pub senders: Vec<Arc<dyn MessageSender>>,
    /// Model providers of the spend gateway.
    pub providers: Vec<Arc<dyn ModelProvider>>,
    /// Delivers alert webhooks.
    pub webhooks: Arc<dyn WebhookSender>,
}

/// Every service, built once.
#[derive(Clone, Debug)]
pub struct Services {
    /// The database.
    pub db: Db,
    /// The booking desk.
    pub desk: Desk,
    /// The AI spend gateway.
    pub gateway: Gateway,
    /// What the gateway's jobs (stale reservations, alert webhooks) need.
    pub spend: SpendJobs,
}

impl Services {
    /// Builds the services of `settings` over `db` and `ports`.
    pub fn build(settings: &Settings, db: Db, ports: Ports) -> Result<Self, ServiceError> {
        let gateway = Gateway::new(
            db.clone(),
            ports.clock.clone(),
            ports.providers.clone(),
            Arc::new(RulesEvaluator),
            Duration::from_secs(settings.gateway.provider_timeout_secs),
            settings.gateway.default_max_tokens,
        );
        let extractor = ports.extractor.or_else(|| {
            let model = settings.payments.extractor_model.trim();
            (!model.is_empty()).then(|| {
                let reader = GatewayChatModel::for_project(
                    gateway.clone(),
                    db.clone(),
                    &settings.agent.project,
                    model,
                    settings.gateway.default_max_tokens,
                );
                Arc::new(GatewayPaymentExtractor::new(reader)) as Arc<dyn PaymentExtractor>
            })
        });
        let desk = Desk {
            db: db.clone(),
            rules: Arc::new(Rules::from_settings(settings)?),
            clock: ports.clock,
            media: ports.media,
            extractor,
            senders: ports.senders,
            search_cache: Arc::new(SearchCache::new(Duration::from_millis(settings.booking.search_cache_ms))),
            wake: Arc::default(),
            pacer: Arc::new(crate::outbox::Pacer::new(
                settings.whatsapp.pacing_burst,
                settings.whatsapp.pacing_interval_ms,
            )),
        };
        let spend = SpendJobs {
            stale_after: Duration::from_secs(settings.gateway.stale_reservation_secs),
            release_every: Duration::from_secs(settings.jobs.tick_secs),
            sender: ports.webhooks,
            max_attempts: settings.gateway.webhook_max_attempts,
            backoff: Duration::from_millis(settings.gateway.webhook_backoff_ms),
        };
        Ok(Self { db, desk, gateway, spend })
    }

    /// A chat model (`provider/model`) through the gateway, paid by `project` (`booking-desk`
    /// or `prj_…`).
    pub fn chat_model(&self, project: &str, model: &str, max_tokens: u64) -> GatewayChatModel {
        GatewayChatModel::for_project(self.gateway.clone(), self.db.clone(), project, model, max_tokens)
    }
}
