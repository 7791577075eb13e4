//! The LLM agent (`agent.mode = llm`): a bounded tool-calling loop over the `ChatModel` port
//! (through the spend gateway as project `booking-desk`, so every call is budgeted, recorded and
//! audited). The model sees the conversation contract, the state and the latest messages; it acts
//! only through the tools, whose guards decide. Structured replies come from tool results, never
//! from a second model call. When the model fails or the gateway refuses it, the guided agent
//! answers the turn, the conversation is flagged for a human and the admins are told.

use std::sync::Arc;

use models::conversation::{IdentityStep, Language, Reply, ReplyItem};
use services::conversations::{calls, Agent, State, Turn};
use services::ports::{ChatMessage, ChatModel};

use crate::guided::GuidedAgent;

/// Most model calls in one turn.
const MAX_ROUNDS: usize = 6;

/// The LLM agent.
#[derive(Debug)]
pub struct LlmAgent {
    model: Arc<dyn ChatModel>,
    history: usize,
}

impl LlmAgent {
    /// An agent over `model`, showing it the latest `history` messages.
    pub fn new(model: Arc<dyn ChatModel>, history: usize) -> Self {
        Self { model, history }
    }
}

fn system_prompt(turn: &Turn<'_>) -> String {
    let s = turn.tools.state();
    let language = match s.language {
        Language::RomanUrdu => "Roman Urdu",
        Language::English => "English",
    };
    format!(
        "You are the booking assistant of a service that rents farmhouses and beach huts by shift in Pakistan. \
Today is {today}. Shifts: day 8 AM-6 PM, night 8 PM-6 AM, full_day 8 AM-6 AM next morning, full_night 8 PM-6 PM next day.\n\
Conversation contract:\n\
- Greet with what you can do (the introduction tool), the details to share and the four shifts.\n\
- Collect type, date, shift and number of guests (price optional), asking only for what is missing; record them with set_search_preferences, then search_properties.\n\
- Show details, prices, pictures and videos only when asked.\n\
- Before booking ask exactly: \"Ready to book {{property}} for {{date}} {{shift}}? (Yes/No)\" and go on only after an explicit yes.\n\
- Then collect the full name and the 13-digit CNIC (prepare_booking_details), show them and ask the guest to confirm; call confirm_booking_details only after the guest's own yes; then create_booking and give the payment instructions.\n\
- Never confirm anything for the guest. Act only through the tools. A guest sees only their own bookings.\n\
- Say \"farmhouse\" or \"hut\", never \"property\". Answer in the guest's language ({language} so far).\n\
- Off-topic: \"I can only help with farmhouse and hut bookings. Would you like help finding one?\"\n\
State: facts {facts}; identity step {step:?}; current booking {booking}; summary: {summary}",
        today = turn.tools.today(),
        facts = serde_json::to_string(&s.facts).unwrap_or_default(),
        step = s.identity.step,
        booking = s.current_booking.as_deref().unwrap_or("none"),
        summary = if s.summary.is_empty() { "none" } else { &s.summary },
    )
}

impl LlmAgent {
    async fn converse(&self, turn: &mut Turn<'_>, reply: &mut Reply) -> Result<(), String> {
        let mut messages = vec![ChatMessage::text("system", system_prompt(turn))];
        let skip = turn.history.len().saturating_sub(self.history);
        for m in turn.history.iter().skip(skip) {
            let role = if m.sender == "guest" { "user" } else { "assistant" };
            if !m.text.is_empty() {
                messages.push(ChatMessage::text(role, m.text.clone()));
            }
        }
        messages.push(ChatMessage::text("user", turn.text.clone()));
        let specs = calls::specs();
        for _ in 0..MAX_ROUNDS {
            let answer = self.model.complete(&messages, &specs).await.map_err(|e| e.to_string())?;
            let message = answer.message;
            if message.tool_calls.is_empty() {
                if let Some(text) = message.content.filter(|t| !t.trim().is_empty()) {
                    reply.items.insert(0, ReplyItem::Text { text });
                }
                return Ok(());
            }
            messages.push(message.clone());
            for call in &message.tool_calls {
                let said = turn.text.clone();
                let result =
                    calls::call(&mut turn.tools, &call.function.name, &call.function.arguments, &said).await;
                reply.items.extend(result.items);
                messages.push(ChatMessage {
                    role: "tool".into(),
                    content: Some(result.value.to_string()),
                    tool_call_id: Some(call.id.clone()),
                    ..ChatMessage::default()
                });
            }
        }
        Err(format!("no answer after {MAX_ROUNDS} model calls"))
    }
}

/// The guest's last few messages that scrolled out of the model's window of `window` messages.
fn older_requests(history: &[models::rows_booking::Message], window: usize) -> Vec<String> {
    let outside = history.len().saturating_sub(window);
    let mut older: Vec<String> = history[..outside]
        .iter()
        .rev()
        .filter(|m| m.sender == "guest" && !m.text.trim().is_empty())
        .take(3)
        .map(|m| m.text.trim().chars().take(120).collect())
        .collect();
    older.reverse();
    older
}

/// The rolling summary the model sees beside the facts: the state in words and the guest's
/// requests that left the window. Made from the state, not by a second model call, so it costs
/// nothing and cannot invent anything; refreshed when the state changes and every `window` turns.
pub fn summarize(s: &State, older: &[String]) -> String {
    let f = &s.facts;
    let mut parts = Vec::new();
    let wanted: Vec<String> = [
        f.kind.map(|k| k.as_str().to_string()),
        f.date.map(|d| d.to_string()),
        f.shift.map(|x| x.as_str().to_string()),
        f.guests.map(|g| format!("{g} guests")),
        f.max_price.map(|p| format!("at most {} PKR", p / 100)),
        f.min_price.map(|p| format!("at least {} PKR", p / 100)),
        f.property_id.clone().map(|p| format!("chose {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !wanted.is_empty() {
        parts.push(format!("Looking for: {}.", wanted.join(", ")));
    }
    if let Some(b) = &s.current_booking {
        parts.push(format!("Booking in discussion: {b}."));
    }
    if s.identity.step != IdentityStep::None {
        parts.push(format!("Identity step: {:?}.", s.identity.step));
    }
    if !older.is_empty() {
        parts.push(format!(
            "Earlier the guest said: {}.",
            older.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join("; ")
        ));
    }
    parts.join(" ")
}

#[async_trait::async_trait]
impl Agent for LlmAgent {
    fn history_wanted(&self) -> usize {
        // The window, and the older messages whose requests the summary keeps.
        self.history + 10
    }

    async fn respond(&self, turn: &mut Turn<'_>) -> Reply {
        if turn.is_image {
            // A screenshot is a proof for a booking: the same deterministic path either way.
            return GuidedAgent.respond(turn).await;
        }
        let before = turn.tools.state().clone();
        let mut reply = Reply::default();
        match self.converse(turn, &mut reply).await {
            Ok(()) => {
                let guest_turns = turn.history.iter().filter(|m| m.sender == "guest").count() + 1;
                let older = older_requests(&turn.history, self.history);
                let s = turn.tools.state_mut();
                if s.identity.step == IdentityStep::Confirmed && s.current_booking != before.current_booking {
                    s.identity.step = IdentityStep::None;
                }
                let changed = s.facts != before.facts
                    || s.current_booking != before.current_booking
                    || s.identity.step != before.identity.step;
                if changed || (self.history > 0 && guest_turns % self.history == 0) {
                    s.summary = summarize(s, &older);
                }
                reply
            }
            Err(error) => {
                tracing::warn!(%error, "the LLM agent failed; the guided agent answers");
                // Undo what the failed turn half did to the state, then answer by the rules.
                *turn.tools.state_mut() = before;
                let answer = GuidedAgent.respond(turn).await;
                if let Err(e) = turn.tools.agent_failed(&error).await {
                    tracing::warn!(code = e.code, "could not flag the conversation");
                }
                answer
            }
        }
    }
}
