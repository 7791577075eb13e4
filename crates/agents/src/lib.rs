//! Steward's booking agents, behind the `services::conversations::Agent` port: the guided agent
//! ([`guided::GuidedAgent`], rules in English and Roman Urdu, no LLM) and the LLM agent
//! ([`llm::LlmAgent`], a tool-calling loop over the `ChatModel` port that falls back to the
//! guided agent).

pub mod guided;
pub mod llm;

pub use guided::GuidedAgent;
pub use llm::LlmAgent;

use std::sync::Arc;

use core_config::{AgentMode, Settings};
use services::conversations::SharedAgent;
use services::Services;

/// The agent `agent.mode` selects: the guided agent, or the LLM agent over `agent.model` through
/// the gateway, paid by `agent.project`.
pub fn from_settings(settings: &Settings, services: &Services) -> SharedAgent {
    match settings.agent.mode {
        AgentMode::Guided => Arc::new(GuidedAgent),
        AgentMode::Llm => Arc::new(LlmAgent::new(
            Arc::new(services.chat_model(
                &settings.agent.project,
                &settings.agent.model,
                settings.gateway.default_max_tokens,
            )),
            settings.agent.history_messages as usize,
        )),
    }
}
