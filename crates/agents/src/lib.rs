//! Steward's booking agents, behind the `services::conversations::Agent` port: the guided agent
//! ([`guided::GuidedAgent`], rules in English and Roman Urdu, no LLM).

pub mod guided;

pub use guided::GuidedAgent;
