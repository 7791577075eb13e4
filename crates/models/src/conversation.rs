//! Conversations (SPEC §3, §10.1): the state a guest's conversation keeps, the structured reply
//! the agent answers with (the wire contract every channel renders), and the conversation row.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::booking::{Money, PropertyKind, Shift};
use crate::schema::conversations;
use crate::sql::Json;

sql_text_enum! {
    /// Who answers the guest.
    ConversationMode {
        /// The booking agent.
        Bot => "bot",
        /// A human admin; the bot stays silent.
        Human => "human",
    }
}

sql_text_enum! {
    /// The language the guest writes in, which the guided agent answers in.
    Language {
        /// English.
        English => "en",
        /// Roman Urdu (Urdu in Latin letters).
        RomanUrdu => "ur",
    }
}

/// What the guest is looking for (SPEC §10.1 `facts`): absent facts are `null`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: Option<PropertyKind>,
    /// The date.
    pub date: Option<NaiveDate>,
    /// The shift.
    pub shift: Option<Shift>,
    /// Party size.
    pub guests: Option<i32>,
    /// Lowest price (minor units).
    pub min_price: Option<i64>,
    /// Highest price (minor units).
    pub max_price: Option<i64>,
    /// The property chosen (`prp_…`).
    pub property_id: Option<String>,
}

/// Where the identity step stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStep {
    /// Not started.
    #[default]
    None,
    /// Waiting for the name.
    Name,
    /// Waiting for the 13-digit CNIC.
    Cnic,
    /// Name and CNIC shown; waiting for the guest's yes (or an edit).
    AwaitingConfirmation,
    /// The guest confirmed them.
    Confirmed,
}

/// The identity step's draft: name and CNIC for the booking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// The step.
    pub step: IdentityStep,
    /// Full name.
    pub name: Option<String>,
    /// CNIC, 13 digits.
    pub cnic: Option<String>,
}

/// The question the agent is waiting for an answer to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "awaiting", rename_all = "snake_case")]
pub enum Pending {
    /// Nothing in particular.
    #[default]
    Nothing,
    /// "Ready to book …? (Yes/No)".
    ReadyToBook,
    /// "Cancel booking …? (Yes/No)".
    CancelBooking {
        /// The booking.
        reference: String,
    },
    /// Which booking an uploaded screenshot is for.
    ProofFor {
        /// Where the screenshot is stored.
        image_url: String,
        /// Its SHA-256.
        sha256: String,
        /// Its type.
        content_type: String,
    },
}

/// One choice the guest may click or type back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Stable id (a property id, a booking reference, `yes`…).
    pub id: String,
    /// What the guest may type back.
    pub label: String,
}

/// A property in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyItem {
    /// `prp_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: String,
    /// City.
    pub city: String,
    /// Capacity.
    pub max_guests: i32,
    /// Price for the date and shift.
    pub price: Money,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Shift wire value.
    pub shift: String,
}

/// A picture or video.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    /// `image` or `video`.
    pub kind: String,
    /// URL.
    pub url: String,
}

/// A booking as the guest sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingSummary {
    /// `HB-…`.
    pub reference: String,
    /// Status wire value.
    pub status: String,
    /// Property name.
    pub property: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Shift wire value.
    pub shift: String,
    /// Party size.
    pub guests: i32,
    /// Total.
    pub total: Money,
    /// Advance due.
    pub advance_due: Money,
}

/// A form field the guest is asked to fill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// `type`, `date`, `shift`, `guests`, `min_price`, `max_price`, `name` or `cnic`.
    pub field: String,
    /// The label shown.
    pub label: String,
}

/// One item of a structured reply (SPEC §10.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyItem {
    /// Plain text (WhatsApp-style `*bold*` and `_italic_`).
    Text {
        /// Text.
        text: String,
    },
    /// A question with choices.
    Choices {
        /// The question.
        text: String,
        /// The choices.
        choices: Vec<Choice>,
    },
    /// Properties with their price for a date and shift.
    PropertyList {
        /// The heading.
        text: String,
        /// The properties.
        items: Vec<PropertyItem>,
    },
    /// Pictures or videos.
    Media {
        /// The media.
        items: Vec<MediaItem>,
    },
    /// A booking.
    BookingSummary {
        /// The booking.
        booking: BookingSummary,
    },
    /// A small form.
    Questions {
        /// The heading.
        text: String,
        /// The fields.
        questions: Vec<Question>,
    },
    /// Something went wrong on the guest's side.
    Error {
        /// What.
        text: String,
    },
}

/// A structured reply: what the agent says in one turn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The items, in order.
    pub items: Vec<ReplyItem>,
}

impl Reply {
    /// Adds an item.
    pub fn push(&mut self, item: ReplyItem) -> &mut Self {
        self.items.push(item);
        self
    }

    /// Adds a text item.
    pub fn say(&mut self, text: impl Into<String>) -> &mut Self {
        self.push(ReplyItem::Text { text: text.into() })
    }

    /// Every `text` field, joined by blank lines (choice labels and list rows stay in their items).
    pub fn text(&self) -> String {
        self.items
            .iter()
            .filter_map(|i| match i {
                ReplyItem::Text { text }
                | ReplyItem::Choices { text, .. }
                | ReplyItem::PropertyList { text, .. }
                | ReplyItem::Questions { text, .. }
                | ReplyItem::Error { text } => Some(text.as_str()),
                ReplyItem::Media { .. } | ReplyItem::BookingSummary { .. } => None,
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The URLs of every media item.
    pub fn media(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                ReplyItem::Media { items } => Some(items.iter().map(|m| m.url.clone())),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// A guest's conversation.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = conversations)]
pub struct Conversation {
    /// Internal key.
    pub id: i64,
    /// `cnv_…`.
    pub public_id: String,
    /// The guest.
    pub guest_id: i64,
    /// Where the guest came from (and where notifications go): `web`, `whatsapp`.
    pub channel: String,
    /// Who answers.
    pub mode: ConversationMode,
    /// An admin should look.
    pub needs_human: bool,
    /// The guest's language.
    pub language: Language,
    /// Search facts.
    pub facts: Json<Facts>,
    /// The identity step.
    pub identity: Json<Identity>,
    /// The pending question.
    pub dialogue: Json<Pending>,
    /// URLs of media already sent (not sent again).
    pub sent_media: Json<Vec<String>>,
    /// The booking being discussed.
    pub current_booking_id: Option<i64>,
    /// Rolling summary (LLM mode).
    pub summary: String,
    /// The replica taking a turn now.
    pub turn_owner: Option<String>,
    /// Until when its turn lease holds.
    pub turn_until: Option<NaiveDateTime>,
    /// Last guest message.
    pub last_inbound_at: Option<NaiveDateTime>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new conversation.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = conversations)]
pub struct NewConversation {
    /// `cnv_…`.
    pub public_id: String,
    /// The guest.
    pub guest_id: i64,
    /// Channel.
    pub channel: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Same.
    pub updated_at: NaiveDateTime,
}

/// The state a turn writes back.
#[derive(Clone, Debug, AsChangeset)]
#[diesel(table_name = conversations)]
pub struct ConversationState {
    /// Language.
    pub language: Language,
    /// Facts.
    pub facts: Json<Facts>,
    /// Identity.
    pub identity: Json<Identity>,
    /// Pending question.
    pub dialogue: Json<Pending>,
    /// Media sent.
    pub sent_media: Json<Vec<String>>,
    /// Current booking.
    pub current_booking_id: Option<Option<i64>>,
    /// Summary.
    pub summary: String,
    /// Flag for an admin.
    pub needs_human: bool,
    /// When.
    pub updated_at: NaiveDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_serialize_as_the_wire_contract() {
        let mut r = Reply::default();
        r.say("Hello");
        r.push(ReplyItem::Choices {
            text: "Pick one".into(),
            choices: vec![Choice { id: "yes".into(), label: "Yes".into() }],
        });
        r.push(ReplyItem::Media {
            items: vec![MediaItem { kind: "image".into(), url: "https://x/1.jpg".into() }],
        });
        let v = serde_json::to_value(&r.items).unwrap_or_default();
        assert_eq!(v[0], serde_json::json!({"type": "text", "text": "Hello"}));
        assert_eq!(v[1]["type"], "choices");
        assert_eq!(v[1]["choices"][0], serde_json::json!({"id": "yes", "label": "Yes"}));
        assert_eq!(
            v[2],
            serde_json::json!({"type": "media", "items": [{"kind": "image", "url": "https://x/1.jpg"}]})
        );
        assert_eq!(r.text(), "Hello\n\nPick one");
        assert_eq!(r.media(), vec!["https://x/1.jpg".to_string()]);
        let facts = serde_json::to_value(Facts { shift: Some(Shift::FullNight), ..Facts::default() })
            .unwrap_or_default();
        assert_eq!(facts["shift"], "full_night");
        assert!(facts["type"].is_null());
    }
}
