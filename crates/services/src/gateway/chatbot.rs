//! The help chatbot (`POST /api/v1/chatbot/chat`): answers questions about Steward from
//! `docs/user-guide.md`. With a model configured it answers through the spend gateway under the
//! platform's project, grounded in the best-matching guide sections; without one (or when that
//! call is refused) it quotes those sections, found by BM25, and says it is quoting the guide.

use crate::ports::{ChatMessage, ChatModel};
use crate::ServiceError;

/// The user guide, embedded in the binary.
pub const GUIDE: &str = include_str!("../../../../docs/user-guide.md");

/// A `##` section of the guide.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Its heading.
    pub heading: String,
    /// Its text.
    pub body: String,
}

/// The `##` sections of a Markdown guide.
pub fn sections(guide: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in guide.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            out.push(Section { heading: h.trim().into(), body: String::new() });
        } else if let Some(s) = out.last_mut() {
            s.body.push_str(line);
            s.body.push('\n');
        }
    }
    for s in &mut out {
        s.body = s.body.trim().to_string();
    }
    out
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "if",
    "in", "is", "it", "its", "me", "my", "of", "on", "or", "so", "the", "this", "to", "what", "when",
    "where", "which", "who", "why", "with", "you", "your",
];

/// Lower-case words of two letters or more, stop words dropped, a plural `s` removed.
fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.len() >= 2 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w
            }
        })
        .collect()
}

/// Sections ranked by BM25 (k1 = 1.2, b = 0.75; a heading counts twice) for `query`; only those
/// that match, best first.
pub fn search(sections: &[Section], query: &str) -> Vec<(usize, f64)> {
    let docs: Vec<Vec<String>> = sections
        .iter()
        .map(|s| {
            let mut t = terms(&s.heading);
            t.extend(terms(&s.heading));
            t.extend(terms(&s.body));
            t
        })
        .collect();
    let n = docs.len() as f64;
    let avg = docs.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1.0);
    let mut query_terms = terms(query);
    query_terms.sort();
    query_terms.dedup();
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let score = query_terms
                .iter()
                .map(|q| {
                    let df = docs.iter().filter(|d| d.contains(q)).count() as f64;
                    let tf = d.iter().filter(|t| *t == q).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * d.len() as f64 / avg))
                })
                .sum::<f64>();
            (i, score)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

/// One earlier turn of the conversation.
#[derive(Clone, Debug)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
}

/// The chatbot's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The text.
    pub answer: String,
    /// `guide` (quoted) or `llm` (answered by the model through the gateway).
    pub mode: &'static str,
    /// Headings of the guide sections used.
    pub sources: Vec<String>,
    /// The gateway request, in `llm` mode.
    pub request_id: Option<String>,
}

/// Answers `message` (with up to 20 earlier turns).
pub async fn chat(
    model: Option<&dyn ChatModel>,
    message: String,
    history: Vec<Turn>,
) -> Result<Answer, ServiceError> {
    let message = message.trim().to_string();
    if message.is_empty() || message.chars().count() > 2000 {
        return Err(ServiceError::invalid("message", "must be 1 to 2000 characters"));
    }
    if history.len() > 20
        || history
            .iter()
            .any(|t| !matches!(t.role.as_str(), "user" | "assistant") || t.content.chars().count() > 2000)
    {
        return Err(ServiceError::invalid(
            "history",
            "at most 20 turns, each with role user or assistant and at most 2000 characters",
        ));
    }
    let all = sections(GUIDE);
    let ranked = search(&all, &message);
    let top: Vec<&Section> = ranked.iter().take(2).map(|(i, _)| &all[*i]).collect();
    let sources: Vec<String> = top.iter().map(|s| s.heading.clone()).collect();
    let quoted = || {
        if top.is_empty() {
            return "I am quoting the Steward user guide, and found no section about that. Try asking about \
                    keys, budgets, policies, calling models, reviews, alerts, errors or the booking desk."
                .to_string();
        }
        let mut out =
            String::from("Quoting the Steward user guide (no model is configured for this chatbot):\n");
        for s in &top {
            out.push_str(&format!("\n## {}\n\n{}\n", s.heading, s.body));
        }
        out
    };
    let Some(m) = model else {
        return Ok(Answer { answer: quoted(), mode: "guide", sources, request_id: None });
    };
    let context: String = top.iter().map(|s| format!("## {}\n{}\n\n", s.heading, s.body)).collect();
    let mut messages = vec![ChatMessage::text(
        "system",
        format!("You are Steward's help assistant. Answer briefly, only from these sections of the user guide:\n\n{context}"),
    )];
    messages.extend(history.iter().map(|t| ChatMessage::text(&t.role, t.content.clone())));
    messages.push(ChatMessage::text("user", message));
    match m.complete(&messages, &[]).await {
        Ok(answer) => Ok(Answer {
            answer: answer.message.content.unwrap_or_default(),
            mode: "llm",
            sources,
            request_id: answer.request_id,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "the chatbot's model call did not run; quoting the guide");
            Ok(Answer { answer: quoted(), mode: "guide", sources, request_id: None })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_question_finds_the_budget_section() {
        let all = sections(GUIDE);
        let ranked = search(&all, "how do I raise my daily budget?");
        assert_eq!(all[ranked[0].0].heading, "Budgets");
        let ranked = search(&all, "what does UNAUTHORIZED_MODEL mean");
        assert_eq!(all[ranked[0].0].heading, "Errors and their codes");
        assert!(search(&all, "zzz qqq").is_empty());
    }
}
