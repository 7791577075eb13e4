//! Conversations (SPEC §3): one per guest, answered a turn at a time by an [`Agent`] (crate
//! `agents`), over the [`tools`] bound to the guest.
//!
//! A guest message is stored first, waiting (`processed_at` NULL). Whoever holds the
//! conversation's turn lease (a conditional update on the row, so one replica at a time) processes
//! the waiting messages in arrival order: the agent answers from the conversation's state, and the
//! reply, the new state and the message's `processed_at` are written in one transaction. A caller
//! that did not get the lease waits for its own message's reply. While the conversation is in
//! `human` mode the bot answers nothing and the admins are told.

pub mod calls;
pub mod commands;
pub mod lang;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use models::booking::{mask_cnic, MessageSender};
use models::conversation::{
    Conversation, ConversationMode, ConversationState, Facts, Identity, IdentityStep, Language, Pending,
    Reply,
};
use models::ids::public_id;
use models::rows_booking::{Guest, Message, NewMessage};
use models::sql::Json;
use repositories::{conversations as repo, guests as guest_repo, DbConnection, Page};

use crate::desk::{notify, Desk, GuestPrincipal};
use crate::{in_tx, with_conn, ServiceError};

pub use tools::Tools;

/// Longest guest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// How long a turn lease lasts before another replica may take over a crashed one's turn.
/// How long a caller waits for its message's turn.
const TURN_WAIT: Duration = Duration::from_secs(90);

/// What a guest sent.
#[derive(Clone, Debug)]
pub enum Input {
    /// Text (a typed message or a choice's label).
    Text(String),
    /// A picture (a payment screenshot), with its declared content type.
    Image {
        /// The bytes.
        bytes: Vec<u8>,
        /// Declared content type.
        content_type: String,
    },
}

/// What answers a turn: the guided agent or the LLM agent (crate `agents`).
#[async_trait::async_trait]
pub trait Agent: Send + Sync + std::fmt::Debug {
    /// Answers the guest's message, acting through the tools (which keep the state).
    async fn respond(&self, turn: &mut Turn<'_>) -> Reply;

    /// How many earlier messages a turn should carry in [`Turn::history`] (at most
    /// [`MAX_HISTORY`]): the rules need only the last one, a model its window and more.
    fn history_wanted(&self) -> usize {
        1
    }
}

/// The most earlier messages a turn is given: the longest `agent.history_messages` window (50)
/// and the older requests the LLM agent's summary keeps.
pub const MAX_HISTORY: usize = 60;

/// One turn: the guest's message and the tools bound to the guest's conversation.
#[derive(Debug)]
pub struct Turn<'a> {
    /// The tools, holding the conversation's state.
    pub tools: Tools<'a>,
    /// The guest's text (for an image: empty).
    pub text: String,
    /// The picture the guest sent, with its type (`None` also when it reached another replica).
    pub image: Option<(Vec<u8>, String)>,
    /// The guest sent a picture.
    pub is_image: bool,
    /// The latest messages before this one, oldest first.
    pub history: Vec<Message>,
}

/// The conversation state a turn reads and changes.
#[derive(Clone, Debug)]
pub struct State {
    /// The row as the turn began.
    pub conversation: Conversation,
    /// The guest.
    pub guest: Guest,
    /// Language.
    pub language: Language,
    /// Search facts.
    pub facts: Facts,
    /// Identity step.
    pub identity: Identity,
    /// Pending question.
    pub pending: Pending,
    /// Media already sent.
    pub sent_media: Vec<String>,
    /// The booking discussed (`HB-…`).
    pub current_booking: Option<String>,
    /// Rolling summary.
    pub summary: String,
    /// Flag for an admin.
    pub needs_human: bool,
}

/// The answer to one guest message.
#[derive(Clone, Debug)]
pub struct Turned {
    /// The bot message (`msg_…`), or the guest's own message when the bot stayed silent.
    pub message_id: String,
    /// The reply (empty while a human answers).
    pub reply: Reply,
}

fn load_state(conn: &mut DbConnection, conversation: Conversation) -> Result<State, ServiceError> {
    let guest = guest_repo::by_id(conn, conversation.guest_id)?;
    let current_booking = match conversation.current_booking_id {
        Some(id) => Some(repositories::bookings::by_id(conn, id)?.reference),
        None => None,
    };
    Ok(State {
        language: conversation.language,
        facts: (*conversation.facts).clone(),
        identity: (*conversation.identity).clone(),
        pending: (*conversation.dialogue).clone(),
        sent_media: (*conversation.sent_media).clone(),
        summary: conversation.summary.clone(),
        needs_human: conversation.needs_human,
        current_booking,
        guest,
        conversation,
    })
}

fn save_state(conn: &mut DbConnection, state: &State, now: NaiveDateTime) -> Result<(), ServiceError> {
    let current_booking_id = match &state.current_booking {
        Some(r) => Some(repositories::bookings::by_reference(conn, r)?.id),
        None => None,
    };
    repo::save_state(
        conn,
        state.conversation.id,
        &ConversationState {
            language: state.language,
            facts: Json::new(state.facts.clone()),
            identity: Json::new(state.identity.clone()),
            dialogue: Json::new(state.pending.clone()),
            sent_media: Json::new(state.sent_media.clone()),
            current_booking_id: Some(current_booking_id),
            summary: state.summary.clone(),
            needs_human: state.needs_human,
            updated_at: now,
        },
    )?;
    Ok(())
}

/// The guest's conversation (created on first use).
pub async fn conversation_of(desk: &Desk, guest: &GuestPrincipal) -> Result<Conversation, ServiceError> {
    let guest_id = guest.guest_id;
    let now = desk.clock.now();
    with_conn(&desk.db, move |conn| {
        let channel = guest_repo::by_id(conn, guest_id)?.channel;
        Ok(repo::ensure(conn, guest_id, &channel, &public_id("cnv"), now)?)
    })
    .await
}

/// Takes a guest message on `channel`, waits for its turn, and returns the reply. The message
/// is stored before anything else happens; with a `channel_message_id` a redelivery is refused
/// as a conflict (unique per channel).
pub async fn send(
    desk: &Desk,
    agent: &dyn Agent,
    guest: &GuestPrincipal,
    input: Input,
    channel_message_id: Option<String>,
) -> Result<Turned, ServiceError> {
    let (text, image) = match input {
        Input::Text(t) => {
            let t = t.trim().to_string();
            if t.is_empty() {
                return Err(ServiceError::invalid("message", "must not be empty"));
            }
            if t.chars().count() > MAX_MESSAGE_CHARS {
                return Err(ServiceError::invalid(
                    "message",
                    format!("must be at most {MAX_MESSAGE_CHARS} characters"),
                ));
            }
            (t, None)
        }
        Input::Image { bytes, content_type } => {
            if bytes.len() > desk.rules.max_upload_bytes {
                return Err(ServiceError::TooLarge(format!(
                    "images are at most {} bytes",
                    desk.rules.max_upload_bytes
                )));
            }
            let Some(info) = crate::desk::image::ImageInfo::parse(&bytes) else {
                return Err(ServiceError::UnsupportedMedia("send a PNG, JPEG or WebP picture".into()));
            };
            (String::new(), Some((bytes, info.mime.to_string(), content_type)))
        }
    };
    let now = desk.clock.now();
    let guest_id = guest.guest_id;
    let stored_text = if image.is_some() { "[image]".to_string() } else { text.clone() };
    let owner = format!("turn-{}", models::ids::random_crockford(12));
    let (o, until) = (owner.clone(), now + chrono::Duration::seconds(desk.rules.turn_lease_secs));
    // The message is stored and, when the conversation is free, its turn taken, in one commit.
    let (conversation_id, message, mut taken) = in_tx(&desk.db, move |conn| {
        let channel = guest_repo::by_id(conn, guest_id)?.channel;
        let conversation = repo::ensure(conn, guest_id, &channel, &public_id("cnv"), now)?;
        // The conversation's row is locked before the message takes its id, so that messages of
        // one conversation commit in id order (on PostgreSQL two inserts racing could otherwise
        // commit the later id first, and the turn would answer it first).
        repo::touch_inbound(conn, conversation.id, now)?;
        let message = repo::insert_message(
            conn,
            &NewMessage {
                public_id: public_id("msg"),
                guest_id,
                sender: MessageSender::Guest.as_str().into(),
                channel,
                text: stored_text,
                payload: None,
                delivery_status: "delivered".into(),
                created_at: now,
                channel_message_id,
                reply_to: None,
                processed_at: None,
                wire: None,
            },
        )
        .map_err(|e| match e {
            repositories::RepoError::UniqueViolation { .. } => {
                ServiceError::conflict("DUPLICATE_MESSAGE", "this message was received before")
            }
            other => other.into(),
        })?;
        let taken = repo::take_turn(conn, conversation.id, &o, until, now)?;
        Ok((conversation.id, message, taken))
    })
    .await?;
    if let Some((bytes, mime, _)) = image {
        received_images()
            .lock()
            .map_err(|_| ServiceError::Internal("image inbox poisoned".into()))?
            .insert(message.public_id.clone(), (bytes, mime));
    }
    let started = std::time::Instant::now();
    let mut first = true;
    loop {
        if !first {
            let until = desk.clock.now() + chrono::Duration::seconds(desk.rules.turn_lease_secs);
            let (o, now) = (owner.clone(), desk.clock.now());
            // Lease writes go through write transactions, so on SQLite they queue with the other
            // writers instead of sleeping in SQLite's busy handler.
            taken = with_conn(&desk.db, move |conn| {
                repositories::write_tx(conn, |conn| {
                    Ok(repo::take_turn(conn, conversation_id, &o, until, now)?)
                })
            })
            .await?;
        }
        first = false;
        let processed =
            if taken { process_waiting(desk, agent, guest_id, conversation_id).await } else { Ok(()) };
        let (id, o, release) = (message.id, owner.clone(), taken);
        // The turn is given back and this message's reply read with one connection.
        let done = with_conn(&desk.db, move |conn| {
            if release {
                repositories::write_tx(conn, |conn| -> Result<(), ServiceError> {
                    Ok(repo::release_turn(conn, conversation_id, &o)?)
                })?;
            }
            let m = repo::message(conn, id)?;
            match m.processed_at {
                None => Ok(None),
                Some(_) => Ok(Some((m, repo::reply_of(conn, id)?))),
            }
        })
        .await?;
        processed?;
        if let Some((guest_message, reply)) = done {
            return Ok(match reply {
                Some(bot) => Turned {
                    message_id: bot.public_id,
                    reply: bot
                        .payload
                        .as_deref()
                        .and_then(|p| serde_json::from_str(p).ok())
                        .unwrap_or_default(),
                },
                None => Turned { message_id: guest_message.public_id, reply: Reply::default() },
            });
        }
        if started.elapsed() > TURN_WAIT {
            return Err(ServiceError::Unavailable("the conversation's turn did not come in time".into()));
        }
        tokio::time::sleep(Duration::from_millis(if taken { 0 } else { 15 })).await;
    }
}

/// Answers a guest's waiting messages when no one else is: after a crash left a stored message
/// unanswered, its redelivery lands here. A conversation whose turn another caller holds is left
/// to that caller.
pub async fn resume(desk: &Desk, agent: &dyn Agent, guest_id: i64) -> Result<(), ServiceError> {
    let Some(conversation) = with_conn(&desk.db, move |conn| Ok(repo::for_guest(conn, guest_id)?)).await?
    else {
        return Ok(());
    };
    let (id, owner, now) =
        (conversation.id, format!("turn-{}", models::ids::random_crockford(12)), desk.clock.now());
    let (o, until) = (owner.clone(), now + chrono::Duration::seconds(desk.rules.turn_lease_secs));
    let taken = with_conn(&desk.db, move |conn| {
        repositories::write_tx(conn, |conn| Ok(repo::take_turn(conn, id, &o, until, now)?))
    })
    .await?;
    if !taken {
        // Another caller holds the turn (or a dead one, until its lease lapses): try later.
        return Err(ServiceError::Unavailable("the conversation's turn is held".into()));
    }
    let processed = process_waiting(desk, agent, guest_id, id).await;
    with_conn(&desk.db, move |conn| {
        repositories::write_tx(conn, |conn| -> Result<(), ServiceError> {
            Ok(repo::release_turn(conn, id, &owner)?)
        })
    })
    .await?;
    processed
}

/// Pictures received by this process and not yet processed, by message public id. (A picture
/// whose turn another replica takes is not there; the agent then asks for it again.)
fn received_images() -> &'static ImageInbox {
    static IMAGES: std::sync::OnceLock<ImageInbox> = std::sync::OnceLock::new();
    IMAGES.get_or_init(Default::default)
}

/// Picture bytes and type by message public id.
type ImageInbox = std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, String)>>;

/// Processes the conversation's waiting guest messages in arrival order, while holding its turn
/// lease.
async fn process_waiting(
    desk: &Desk,
    agent: &dyn Agent,
    guest_id: i64,
    conversation_id: i64,
) -> Result<(), ServiceError> {
    let wanted = agent.history_wanted().min(MAX_HISTORY) as i64 + 1;
    let mut loaded =
        with_conn(&desk.db, move |conn| next_turn(conn, guest_id, conversation_id, wanted)).await?;
    while let Some((message, state, mut history)) = loaded.take() {
        history.retain(|m| m.id != message.id);
        let now = desk.clock.now();
        if state.conversation.mode == ConversationMode::Human {
            let (id, name) =
                (message.id, state.guest.name.clone().unwrap_or_else(|| state.guest.public_id.clone()));
            let text = message.text.clone();
            loaded = commit_then_next(desk, (guest_id, conversation_id, wanted), move |conn| {
                repo::mark_processed(conn, id, now)?;
                notify::admins(
                    conn,
                    "guest_message",
                    None,
                    format!("{name} wrote (a human is answering): {text}"),
                )?;
                Ok(())
            })
            .await?;
            continue;
        }
        let is_image = message.text == "[image]" && message.payload.is_none();
        let image = if is_image {
            received_images().lock().ok().and_then(|mut m| m.remove(&message.public_id))
        } else {
            None
        };
        let text = if is_image { String::new() } else { message.text.clone() };
        let mut turn = Turn { tools: Tools::new(desk, state, now), text, image, is_image, history };
        let reply = agent.respond(&mut turn).await;
        let state = turn.tools.into_state();
        let channel = state.conversation.channel.clone();
        let id = message.id;
        // The reply as the channel sends it: one delivered row on the web, the rendered outbound
        // messages (the outbox) elsewhere, written with the state in one commit.
        let rows = crate::outbox::reply_rows(desk, guest_id, &channel, &reply, Some(id), now);
        let outbound = rows.iter().any(|r| r.delivery_status == "pending");
        loaded = commit_then_next(desk, (guest_id, conversation_id, wanted), move |conn| {
            if !repo::mark_processed(conn, id, now)? {
                return Ok(());
            }
            save_state(conn, &state, now)?;
            for row in &rows {
                repo::insert_message(conn, row)?;
            }
            Ok(())
        })
        .await?;
        if outbound {
            desk.wake.outbox.notify_one();
        }
    }
    Ok(())
}

/// A waiting message to answer, with the conversation's state and history.
type NextTurn = (Message, State, Vec<Message>);

/// The oldest waiting message with the conversation's state and `wanted` messages of history
/// (the waiting one included).
fn next_turn(
    conn: &mut DbConnection,
    guest_id: i64,
    conversation_id: i64,
    wanted: i64,
) -> Result<Option<NextTurn>, ServiceError> {
    let Some(message) = repo::next_waiting(conn, guest_id)? else { return Ok(None) };
    let conversation = repo::by_id(conn, conversation_id)?;
    let history = repo::recent(conn, guest_id, wanted)?;
    let state = load_state(conn, conversation)?;
    Ok(Some((message, state, history)))
}

/// Commits `write` in one transaction, then reads the next waiting message on the same
/// connection: one pool checkout per turn instead of two.
async fn commit_then_next<F>(
    desk: &Desk,
    (guest_id, conversation_id, wanted): (i64, i64, i64),
    write: F,
) -> Result<Option<NextTurn>, ServiceError>
where
    F: FnOnce(&mut DbConnection) -> Result<(), ServiceError> + Send + 'static,
{
    let db = desk.db.clone();
    with_conn(&desk.db, move |conn| {
        repositories::write_tx(conn, write)?;
        db.note_write();
        next_turn(conn, guest_id, conversation_id, wanted)
    })
    .await
}

/// Forgets the search state: facts, summary, the identity draft, the pending question and the
/// current booking. Bookings, messages and the mode stay; the session stays valid.
pub async fn reset(desk: &Desk, guest: &GuestPrincipal) -> Result<Conversation, ServiceError> {
    let conversation = conversation_of(desk, guest).await?;
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        repo::save_state(
            conn,
            conversation.id,
            &ConversationState {
                language: conversation.language,
                facts: Json::new(Facts::default()),
                identity: Json::new(Identity::default()),
                dialogue: Json::new(Pending::default()),
                sent_media: Json::new(Vec::new()),
                current_booking_id: Some(None),
                summary: String::new(),
                needs_human: conversation.needs_human,
                updated_at: now,
            },
        )?;
        Ok(repo::by_id(conn, conversation.id)?)
    })
    .await
}

/// The session view of SPEC §10.1 (`GET /api/v1/chat/session`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionView {
    /// `gst_…`.
    pub guest_id: String,
    /// `bot` or `human`.
    pub mode: ConversationMode,
    /// An admin should look.
    pub needs_human: bool,
    /// Source channel.
    pub channel: String,
    /// Search facts.
    pub facts: Facts,
    /// Identity: name, masked CNIC, confirmed.
    pub identity: IdentityView,
    /// The booking discussed.
    pub current_booking: Option<String>,
}

/// The identity step as the guest sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IdentityView {
    /// Name.
    pub name: Option<String>,
    /// CNIC, masked.
    pub cnic_masked: Option<String>,
    /// The guest confirmed them.
    pub confirmed: bool,
}

/// The guest's session with the conversation state.
pub async fn session(desk: &Desk, guest: &GuestPrincipal) -> Result<SessionView, ServiceError> {
    let conversation = conversation_of(desk, guest).await?;
    let state = with_conn(&desk.db, move |conn| load_state(conn, conversation)).await?;
    Ok(view(&state))
}

fn view(state: &State) -> SessionView {
    SessionView {
        guest_id: state.guest.public_id.clone(),
        mode: state.conversation.mode,
        needs_human: state.needs_human,
        channel: state.conversation.channel.clone(),
        facts: state.facts.clone(),
        identity: IdentityView {
            name: state.identity.name.clone(),
            cnic_masked: state.identity.cnic.as_deref().map(mask_cnic),
            confirmed: state.identity.step == IdentityStep::Confirmed,
        },
        current_booking: state.current_booking.clone(),
    }
}

/// A conversation in the admins' list (SPEC §10.2).
#[derive(Clone, Debug)]
pub struct ConversationSummary {
    /// The row.
    pub conversation: Conversation,
    /// The guest.
    pub guest: Guest,
    /// Latest message.
    pub last_message: Option<Message>,
}

/// Conversations for the admins; `needs_human` ones first within the page.
pub async fn list(
    desk: &Desk,
    mode: Option<ConversationMode>,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<ConversationSummary>, ServiceError> {
    with_conn(&desk.db, move |conn| {
        let rows = repo::list(conn, mode, Page { limit, before })?;
        let mut out = Vec::with_capacity(rows.len());
        for (conversation, guest) in rows {
            let last_message = repo::last_message(conn, guest.id)?;
            out.push(ConversationSummary { conversation, guest, last_message });
        }
        Ok(out)
    })
    .await
}

/// A conversation with its state and messages (oldest first, at most `limit`).
pub async fn detail(
    desk: &Desk,
    id: String,
    limit: i64,
) -> Result<(SessionView, ConversationSummary, Vec<Message>), ServiceError> {
    with_conn(&desk.db, move |conn| {
        let conversation = repo::by_public_id(conn, &id).map_err(|e| match e {
            repositories::RepoError::NotFound => ServiceError::NotFound("conversation"),
            other => other.into(),
        })?;
        let guest_id = conversation.guest_id;
        let state = load_state(conn, conversation.clone())?;
        let messages = repo::recent(conn, guest_id, limit)?;
        let summary = ConversationSummary {
            guest: state.guest.clone(),
            last_message: messages.last().cloned(),
            conversation,
        };
        Ok((view(&state), summary, messages))
    })
    .await
}

/// Hands the conversation to a human (`human`) or back to the bot (`bot`); audited.
pub async fn set_mode(
    desk: &Desk,
    ctx: crate::audit::AuditContext,
    id: String,
    mode: ConversationMode,
) -> Result<(), ServiceError> {
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        let c = repo::by_public_id(conn, &id).map_err(|e| match e {
            repositories::RepoError::NotFound => ServiceError::NotFound("conversation"),
            other => other.into(),
        })?;
        repo::set_mode(conn, c.id, mode, false, now)?;
        crate::audit::record_success(
            conn,
            &ctx,
            if mode == ConversationMode::Human { "conversation.taken_over" } else { "conversation.released" },
            "conversation",
            &c.public_id,
            serde_json::json!({}),
        )?;
        Ok(())
    })
    .await
}

/// An admin's message to the guest, on the guest's channel; in `bot` mode it takes the
/// conversation over first.
pub async fn admin_message(
    desk: &Desk,
    ctx: crate::audit::AuditContext,
    id: String,
    text: String,
) -> Result<(), ServiceError> {
    let text = text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ServiceError::invalid("text", format!("must be 1 to {MAX_MESSAGE_CHARS} characters")));
    }
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        let c = repo::by_public_id(conn, &id).map_err(|e| match e {
            repositories::RepoError::NotFound => ServiceError::NotFound("conversation"),
            other => other.into(),
        })?;
        if c.mode == ConversationMode::Bot {
            repo::set_mode(conn, c.id, ConversationMode::Human, false, now)?;
        }
        let mut reply = Reply::default();
        reply.say(text.clone());
        repo::insert_message(
            conn,
            &NewMessage {
                public_id: public_id("msg"),
                guest_id: c.guest_id,
                sender: MessageSender::Admin.as_str().into(),
                delivery_status: if c.channel == "web" { "delivered" } else { "pending" }.into(),
                channel: c.channel.clone(),
                text: text.clone(),
                payload: Some(serde_json::to_string(&reply).unwrap_or_default()),
                created_at: now,
                channel_message_id: None,
                reply_to: None,
                processed_at: Some(now),
                wire: None,
            },
        )?;
        crate::audit::record_success(
            conn,
            &ctx,
            "conversation.admin_message",
            "conversation",
            &c.public_id,
            serde_json::json!({"chars": text.chars().count()}),
        )?;
        Ok(())
    })
    .await
}

/// Clears the search state of conversations idle for `idle` (SPEC §7); returns how many.
pub async fn clear_idle(desk: &Desk, now: NaiveDateTime, idle: Duration) -> Result<usize, ServiceError> {
    let before = now - chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::hours(24));
    in_tx(&desk.db, move |conn| Ok(repo::clear_idle(conn, before, now)?)).await
}

/// An agent shared by the process.
pub type SharedAgent = Arc<dyn Agent>;
