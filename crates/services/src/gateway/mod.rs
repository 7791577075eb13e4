//! The AI spend gateway's wing (SPEC §4). It grows here piece by piece from `requests`:
//! [`call`] is the shape of a call and its edge checks; [`chat_model`] the `ChatModel` port
//! over the gateway, for the platform's own agents.

pub mod call;
pub mod chat_model;
pub mod extractor;
