//! Shared application state.

use std::sync::Arc;

use core_config::Settings;
use repositories::Db;

use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Effective settings.
    pub settings: Arc<Settings>,
    /// Prometheus registry and instruments.
    pub metrics: Arc<Metrics>,
    /// The booking desk's services and adapters.
    pub desk: services::desk::Desk,
    /// The AI spend gateway.
    pub gateway: services::gateway::Gateway,
    /// The booking agent that answers guests.
    pub agent: services::conversations::SharedAgent,
}
