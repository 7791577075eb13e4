//! A structured reply as WhatsApp messages, within Meta's limits: text split under 4096
//! characters at line breaks; choices as reply buttons (≤ 3, titles ≤ 20 characters) or a list
//! (≤ 10 rows, titles ≤ 24, descriptions ≤ 72); a property list as a list; pictures and videos
//! as media messages by link. A button's or row's id carries the text the guest would have typed
//! (`say:{label}`), so a tap becomes that text again.

use models::conversation::{Reply, ReplyItem};
use serde_json::{json, Value};
use services::ports::Outgoing;

/// Longest text body Meta accepts is 4096 characters; stay under it.
pub const TEXT_LIMIT: usize = 4000;
/// Interactive body text limit.
const BODY_LIMIT: usize = 1024;
/// Most reply buttons.
const MAX_BUTTONS: usize = 3;
/// Button title limit.
const BUTTON_TITLE: usize = 20;
/// Most list rows.
const MAX_ROWS: usize = 10;
/// Row title limit.
const ROW_TITLE: usize = 24;
/// Row description limit.
const ROW_DESCRIPTION: usize = 72;
/// Row and button id limit.
const ID_LIMIT: usize = 200;

/// The prefix of ids that carry the text to say back.
pub const SAY: &str = "say:";

/// The reply as WhatsApp messages, in order.
pub fn render(reply: &Reply) -> Vec<Outgoing> {
    let mut out = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<Outgoing>| {
        for part in split(text) {
            out.push(Outgoing {
                wire: Some(json!({"type": "text", "text": {"body": part, "preview_url": false}})),
                text: part,
            });
        }
        text.clear();
    };
    for item in &reply.items {
        match item {
            ReplyItem::Text { text: t } | ReplyItem::Error { text: t } => push_paragraph(&mut text, t),
            ReplyItem::Questions { text: t, questions } => {
                push_paragraph(&mut text, t);
                let fields: Vec<String> = questions.iter().map(|q| format!("• {}", q.label)).collect();
                push_paragraph(&mut text, &fields.join("\n"));
            }
            ReplyItem::BookingSummary { booking: b } => push_paragraph(
                &mut text,
                &format!(
                    "*{}* — {}\n{} · {} · {}\n{} guests · total {} · advance {}",
                    b.reference,
                    b.status,
                    b.property,
                    b.date,
                    b.shift.replace('_', " "),
                    b.guests,
                    b.total.display(),
                    b.advance_due.display()
                ),
            ),
            ReplyItem::Choices { text: t, choices } => {
                flush(&mut text, &mut out);
                let labels: Vec<&str> = choices.iter().map(|c| c.label.as_str()).collect();
                out.push(choices_message(t, &labels));
            }
            ReplyItem::PropertyList { text: t, items } => {
                flush(&mut text, &mut out);
                let rows: Vec<Value> = items
                    .iter()
                    .take(MAX_ROWS)
                    .map(|p| {
                        json!({
                            "id": say_id(&p.name),
                            "title": clip(&p.name, ROW_TITLE),
                            "description": clip(&format!("{} · {} · up to {} guests · {}", p.kind, p.price.display(), p.max_guests, p.city), ROW_DESCRIPTION),
                        })
                    })
                    .collect();
                let listing: Vec<String> =
                    items.iter().map(|p| format!("{} — {}", p.name, p.price.display())).collect();
                let shown = format!("{t}\n{}", listing.join("\n"));
                if rows.is_empty() {
                    push_paragraph(&mut text, t);
                } else {
                    out.push(list_message(t, "See places", rows, shown));
                }
            }
            ReplyItem::Media { items } => {
                flush(&mut text, &mut out);
                // Meta fetches links itself: a path on this server is no link for it.
                for m in
                    items.iter().filter(|m| m.url.starts_with("https://") || m.url.starts_with("http://"))
                {
                    let kind = if m.kind == "video" { "video" } else { "image" };
                    out.push(Outgoing {
                        text: format!("[{kind}] {}", m.url),
                        wire: Some(json!({"type": kind, kind: {"link": m.url}})),
                    });
                }
            }
        }
    }
    flush(&mut text, &mut out);
    out
}

fn push_paragraph(text: &mut String, paragraph: &str) {
    if paragraph.trim().is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(paragraph);
}

/// Choices as buttons when they fit, else as a list.
fn choices_message(question: &str, labels: &[&str]) -> Outgoing {
    let question = if question.trim().is_empty() { "Please choose:" } else { question };
    let shown =
        format!("{question}\n{}", labels.iter().map(|l| format!("• {l}")).collect::<Vec<_>>().join("\n"));
    if labels.len() <= MAX_BUTTONS && labels.iter().all(|l| l.chars().count() <= BUTTON_TITLE) {
        let buttons: Vec<Value> =
            labels.iter().map(|l| json!({"type": "reply", "reply": {"id": say_id(l), "title": l}})).collect();
        return Outgoing {
            text: shown,
            wire: Some(json!({"type": "interactive", "interactive": {
                "type": "button", "body": {"text": clip(question, BODY_LIMIT)}, "action": {"buttons": buttons}}})),
        };
    }
    let rows: Vec<Value> = labels
        .iter()
        .take(MAX_ROWS)
        .map(|l| {
            let mut row = json!({"id": say_id(l), "title": clip(l, ROW_TITLE)});
            if l.chars().count() > ROW_TITLE {
                row["description"] = json!(clip(l, ROW_DESCRIPTION));
            }
            row
        })
        .collect();
    list_message(question, "Choose", rows, shown)
}

fn list_message(body: &str, button: &str, rows: Vec<Value>, shown: String) -> Outgoing {
    let body = if body.trim().is_empty() { "Please choose:" } else { body };
    Outgoing {
        text: shown,
        wire: Some(json!({"type": "interactive", "interactive": {
            "type": "list", "body": {"text": clip(body, BODY_LIMIT)},
            "action": {"button": button, "sections": [{"title": clip(button, ROW_TITLE), "rows": rows}]}}})),
    }
}

/// The id of a button or row that says `label` back.
fn say_id(label: &str) -> String {
    clip(&format!("{SAY}{label}"), ID_LIMIT)
}

/// At most `limit` characters, with an ellipsis when cut.
pub fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut s: String = text.chars().take(limit.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Text in parts under [`TEXT_LIMIT`] characters, cut at a line break when there is one (then at a
/// space), newlines kept.
pub fn split(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > TEXT_LIMIT {
        let cut_byte = rest.char_indices().nth(TEXT_LIMIT).map(|(i, _)| i).unwrap_or(rest.len());
        let head = &rest[..cut_byte];
        let at = head.rfind('\n').or_else(|| head.rfind(' ')).filter(|&i| i > 0).unwrap_or(cut_byte);
        parts.push(rest[..at].trim_end().to_string());
        rest = rest[at..].trim_start_matches([' ', '\n']);
    }
    if !rest.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use models::booking::Money;
    use models::conversation::{Choice, PropertyItem};

    use super::*;

    fn choice(label: &str) -> Choice {
        Choice { id: label.to_lowercase(), label: label.into() }
    }

    #[test]
    fn long_text_is_split_under_the_limit_at_line_breaks() {
        let line = "x".repeat(99);
        let text = vec![line.as_str(); 120].join("\n");
        let parts = split(&text);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= TEXT_LIMIT && !p.starts_with('\n')));
        assert_eq!(parts.join("\n"), text, "nothing lost, newlines kept");
        let one_word = "y".repeat(9000);
        assert!(split(&one_word).iter().all(|p| p.chars().count() <= TEXT_LIMIT));
    }

    #[test]
    fn few_short_choices_are_buttons_and_others_a_list() {
        let mut r = Reply::default();
        r.say("Hello");
        r.push(ReplyItem::Choices { text: "Ready?".into(), choices: vec![choice("Yes"), choice("No")] });
        let out = render(&r);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].wire.as_ref().unwrap()["text"]["body"], "Hello");
        let b = out[1].wire.as_ref().unwrap();
        assert_eq!(b["interactive"]["type"], "button");
        assert_eq!(b["interactive"]["action"]["buttons"][1]["reply"]["id"], "say:No");

        let many: Vec<Choice> =
            (0..12).map(|i| choice(&format!("Option number {i} with a long name"))).collect();
        let mut r = Reply::default();
        r.push(ReplyItem::Choices { text: "Pick".into(), choices: many });
        let w = render(&r)[0].wire.clone().unwrap();
        assert_eq!(w["interactive"]["type"], "list");
        let rows = w["interactive"]["action"]["sections"][0]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10);
        assert!(rows.iter().all(|r| r["title"].as_str().unwrap().chars().count() <= 24));
        assert!(rows.iter().all(|r| r["description"].as_str().unwrap().chars().count() <= 72));
    }

    #[test]
    fn properties_become_a_list_and_media_links() {
        let p = PropertyItem {
            id: "prp_1".into(),
            name: "Green Valley Farmhouse".into(),
            kind: "farm".into(),
            city: "Karachi".into(),
            max_guests: 40,
            price: Money { amount: 3_500_000, currency: "PKR".into() },
            date: "2026-12-05".into(),
            shift: "full_night".into(),
        };
        let mut r = Reply::default();
        r.push(ReplyItem::PropertyList { text: "Free places:".into(), items: vec![p] });
        r.push(ReplyItem::Media {
            items: vec![
                models::conversation::MediaItem { kind: "image".into(), url: "/pictures/hut.svg".into() },
                models::conversation::MediaItem { kind: "video".into(), url: "https://x/v.mp4".into() },
            ],
        });
        let out = render(&r);
        assert_eq!(out.len(), 2, "a path on this server is not sent as a link: {out:?}");
        let list = out[0].wire.as_ref().unwrap();
        assert_eq!(
            list["interactive"]["action"]["sections"][0]["rows"][0]["id"],
            "say:Green Valley Farmhouse"
        );
        assert_eq!(
            out[1].wire.as_ref().unwrap(),
            &json!({"type": "video", "video": {"link": "https://x/v.mp4"}})
        );
    }
}
