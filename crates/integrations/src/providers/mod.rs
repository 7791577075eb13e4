//! Model provider adapters behind the `ModelProvider` port, and their construction from the
//! catalogue: one adapter per enabled provider whose credentials are present.

pub mod anthropic;
pub mod cohere;
pub mod gemini;
pub mod http;
pub mod openai;

use std::sync::Arc;
use std::time::Duration;

use core_config::GatewaySettings;
use models::rows_spend::ProviderRow;
use services::ports::ModelProvider;

pub use anthropic::Anthropic;
pub use cohere::Cohere;
pub use gemini::Gemini;
pub use http::Upstream;
pub use openai::OpenAiCompatible;

/// The adapter of a catalogue row with this API key; `None` for `local` (built in) and unknown
/// kinds.
pub fn adapter(
    row: &ProviderRow,
    api_key: Option<String>,
    settings: &GatewaySettings,
) -> Result<Option<Arc<dyn ModelProvider>>, String> {
    let up = Upstream::new(
        &row.name,
        &row.base_url,
        api_key,
        Duration::from_secs(settings.provider_timeout_secs),
        settings.provider_retries,
        Duration::from_millis(settings.provider_backoff_ms),
    )?;
    Ok(match row.kind.as_str() {
        "openai" => Some(Arc::new(OpenAiCompatible::new(up))),
        "anthropic" => Some(Arc::new(Anthropic::new(up))),
        "gemini" => Some(Arc::new(Gemini::new(up))),
        "cohere" => Some(Arc::new(Cohere::new(up))),
        _ => None,
    })
}

/// Adapters for the enabled providers of the catalogue whose key is in the environment (or that
/// need none). A provider without credentials gets no adapter and is listed as unavailable.
pub fn from_catalogue(
    rows: &[ProviderRow],
    env: impl Fn(&str) -> Option<String>,
    settings: &GatewaySettings,
) -> Vec<Arc<dyn ModelProvider>> {
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| r.enabled && r.kind != "local") {
        let key = if row.api_key_env.is_empty() {
            None
        } else {
            match env(&row.api_key_env).filter(|k| !k.trim().is_empty()) {
                Some(k) => Some(k),
                None => {
                    tracing::info!(provider = %row.name, env = %row.api_key_env, "no API key set; provider unavailable");
                    continue;
                }
            }
        };
        match adapter(row, key, settings) {
            Ok(Some(a)) => out.push(a),
            Ok(None) => tracing::warn!(provider = %row.name, kind = %row.kind, "no adapter for this kind"),
            Err(e) => tracing::warn!(provider = %row.name, error = %e, "adapter could not be built"),
        }
    }
    out
}
