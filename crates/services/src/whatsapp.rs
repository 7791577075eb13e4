//! The WhatsApp channel (SPEC §3.4): the webhook's signature check and the split of a batch into
//! inbox events ([`verify_signature`], [`events_of`], [`store`]), and the inbox processing
//! ([`process_due`]): guests' messages become turns of the same turn API as the web chat, admin
//! numbers' messages run the admin command handler, statuses move outbound messages forward.

use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, KeyInit, Mac};
use models::booking::MessageSender as Sender;
use models::ids::public_id;
use models::rows_booking::{Guest, NewGuest, NewMessage};
use models::whatsapp::{EventKind, InboxEvent, NewInboxEvent};
use repositories::whatsapp as repo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::conversations::{self, Agent, Input};
use crate::desk::{notify, Caller, Desk, GuestPrincipal};
use crate::{in_tx, outbox, with_conn, Principal, ServiceError};

/// Events claimed per pass.
const BATCH: i64 = 20;
/// Attempts before an event that keeps failing is set aside.
const MAX_EVENT_ATTEMPTS: i32 = 10;
/// Told to a guest who sent something the agent cannot read.
pub const UNSUPPORTED: &str = "Sorry, I can only read text and photos. Please send text or a photo.";
/// Told to a guest whose picture could not be fetched intact.
pub const MEDIA_REFUSED: &str =
    "Sorry, your picture did not arrive intact. Please send the payment screenshot again.";
/// Told to a guest who shared a location.
pub const LOCATION: &str =
    "Thanks for the location! I can't use maps yet — please type the city or area you'd like to stay in.";

/// The `X-Hub-Signature-256` value Meta sends with `body`: `sha256=` and the hex HMAC-SHA256
/// under the app secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; the error arm cannot happen.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(sig) = hex::decode(hex_sig.trim()) else { return false };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Every message, status and system error of a webhook batch (every entry and change), each
/// with the contact and metadata it came with. Fields other than `messages` are ignored.
pub fn events_of(body: &Value, now: NaiveDateTime) -> Vec<NewInboxEvent> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for entry in body["entry"].as_array().unwrap_or(&empty) {
        for change in entry["changes"].as_array().unwrap_or(&empty) {
            if change["field"] != "messages" {
                continue;
            }
            let value = &change["value"];
            let contacts = value["contacts"].as_array().unwrap_or(&empty);
            for m in value["messages"].as_array().unwrap_or(&empty) {
                let Some(id) = m["id"].as_str() else { continue };
                let contact = contacts
                    .iter()
                    .find(|c| c["wa_id"].is_string() && c["wa_id"] == m["from"])
                    .or_else(|| {
                        contacts
                            .iter()
                            .find(|c| c["user_id"].is_string() && c["user_id"] == m["from_user_id"])
                    })
                    .or(contacts.first())
                    .cloned()
                    .unwrap_or(Value::Null);
                out.push(NewInboxEvent {
                    event_key: id.chars().take(300).collect(),
                    kind: EventKind::Message.as_str().into(),
                    payload: json!({"message": m, "contact": contact, "metadata": value["metadata"]})
                        .to_string(),
                    received_at: now,
                });
            }
            for s in value["statuses"].as_array().unwrap_or(&empty) {
                let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else { continue };
                out.push(NewInboxEvent {
                    event_key: format!(
                        "{}:{}",
                        id.chars().take(300).collect::<String>(),
                        status.chars().take(20).collect::<String>()
                    ),
                    kind: EventKind::Status.as_str().into(),
                    payload: json!({"status": s}).to_string(),
                    received_at: now,
                });
            }
            if let Some(errors) = value["errors"].as_array().filter(|e| !e.is_empty()) {
                let doc = json!({"errors": errors, "entry": entry["id"]}).to_string();
                out.push(NewInboxEvent {
                    event_key: format!("error:{}", hex::encode(Sha256::digest(doc.as_bytes()))),
                    kind: EventKind::Error.as_str().into(),
                    payload: doc,
                    received_at: now,
                });
            }
        }
    }
    out
}

/// Stores a batch's events in one transaction; a redelivered event is a no-op. Returns how many
/// were new.
pub async fn store(desk: &Desk, events: Vec<NewInboxEvent>) -> Result<usize, ServiceError> {
    if events.is_empty() {
        return Ok(0);
    }
    let new = in_tx(&desk.db, move |conn| {
        let mut new = 0;
        for e in &events {
            if repo::insert_event(conn, e)? {
                new += 1;
            }
        }
        Ok(new)
    })
    .await?;
    if new > 0 {
        desk.wake.inbox.notify_one();
    }
    Ok(new)
}

/// Processes the due inbox events in arrival order; returns how many were processed.
#[tracing::instrument(skip(desk, agent))]
pub async fn process_due(desk: &Desk, agent: &dyn Agent, now: NaiveDateTime) -> Result<usize, ServiceError> {
    let until = now + Duration::seconds(desk.rules.event_lease_secs);
    let claimed = in_tx(&desk.db, move |conn| Ok(repo::claim_events(conn, now, until, BATCH)?)).await?;
    let mut done = 0;
    for event in claimed {
        let id = event.id;
        match process(desk, agent, &event).await {
            Ok(()) => {
                in_tx(&desk.db, move |conn| Ok(repo::finish_event(conn, id, models::time::now(), None)?))
                    .await?;
                done += 1;
            }
            Err(e) => {
                tracing::warn!(event = %event.event_key, error = %e, "a WhatsApp event failed; retried later");
                let error = e.to_string();
                if event.attempts >= MAX_EVENT_ATTEMPTS {
                    in_tx(&desk.db, move |conn| {
                        repo::finish_event(conn, id, models::time::now(), Some(&error))?;
                        notify::admins(
                            conn,
                            "whatsapp_error",
                            None,
                            format!("A WhatsApp event could not be processed: {error}"),
                        )?;
                        Ok(())
                    })
                    .await?;
                } else {
                    let retry_at =
                        models::time::now() + Duration::seconds(5 * i64::from(event.attempts.max(1)));
                    in_tx(&desk.db, move |conn| Ok(repo::retry_event(conn, id, retry_at, &error)?)).await?;
                }
            }
        }
    }
    Ok(done)
}

async fn process(desk: &Desk, agent: &dyn Agent, event: &InboxEvent) -> Result<(), ServiceError> {
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or_default();
    match event.kind.as_str() {
        "status" => status(desk, &payload["status"]).await,
        "error" => {
            let errors = payload["errors"].to_string();
            with_conn(&desk.db, move |conn| {
                notify::admins(
                    conn,
                    "whatsapp_error",
                    None,
                    format!("WhatsApp reported an error: {errors}"),
                )?;
                Ok(())
            })
            .await
        }
        _ => message(desk, agent, &payload).await,
    }
}

/// A delivery status: the outbound message moves forward (never back); a message that failed
/// because the 24-hour window closed gets the template instead.
async fn status(desk: &Desk, s: &Value) -> Result<(), ServiceError> {
    let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else { return Ok(()) };
    if !matches!(status, "sent" | "delivered" | "read" | "failed") {
        return Ok(());
    }
    let code = s["errors"][0]["code"].as_i64();
    let error = (status == "failed").then(|| {
        format!("{} ({})", s["errors"][0]["title"].as_str().unwrap_or("failed"), code.unwrap_or_default())
    });
    let (id, status) = (id.to_string(), status.to_string());
    let queued = in_tx(&desk.db, move |conn| {
        let Some(m) = repo::apply_status(conn, &id, &status, error.as_deref())? else { return Ok(false) };
        if status == "failed" && code == Some(131047) && m.wire.as_deref() != Some(outbox::TEMPLATE_WIRE) {
            outbox::queue_template(conn, m.guest_id, models::time::now())?;
            return Ok(true);
        }
        Ok(false)
    })
    .await?;
    if queued {
        desk.wake.outbox.notify_one();
    }
    Ok(())
}

/// Who wrote: `(contact key, phone, profile name)`. The key is the business-scoped user id when
/// Meta sends one, else the wa_id.
fn sender_of(payload: &Value) -> Option<(String, Option<String>, Option<String>)> {
    let m = &payload["message"];
    let c = &payload["contact"];
    let digits = |v: &Value| {
        v.as_str()
            .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    let phone = digits(&m["from"]).or_else(|| digits(&c["wa_id"]));
    let user_id = c["user_id"].as_str().or(m["from_user_id"].as_str()).map(str::to_string);
    let name = c["profile"]["name"].as_str().map(|n| n.chars().take(100).collect());
    let key = user_id.or_else(|| phone.clone())?;
    Some((key, phone, name))
}

async fn message(desk: &Desk, agent: &dyn Agent, payload: &Value) -> Result<(), ServiceError> {
    let Some((key, phone, name)) = sender_of(payload) else { return Ok(()) };
    let m = payload["message"].clone();
    let wamid = m["id"].as_str().unwrap_or_default().to_string();
    let (k, p, n) = (key.clone(), phone.clone(), name.clone());
    let guest = in_tx(&desk.db, move |conn| {
        let now = models::time::now();
        Ok(repo::guest_by_contact(conn, &k, p.as_deref(), n.as_deref(), || NewGuest {
            public_id: public_id("gst"),
            name: n.clone(),
            phone: p.clone(),
            cnic: None,
            website_user_id: None,
            external_id: Some(k.clone()),
            channel: "whatsapp".into(),
            address: p.clone().or(Some(k.clone())),
            created_at: now,
            updated_at: now,
        })?)
    })
    .await?;
    let kind = m["type"].as_str().unwrap_or("unknown");
    if let Some(number) = phone.as_deref().filter(|p| desk.rules.admin_numbers.iter().any(|a| a == p)) {
        return admin_command(desk, &guest, number, &wamid, text_of(&m).unwrap_or_default()).await;
    }
    let principal = GuestPrincipal { guest_id: guest.id, public_id: guest.public_id.clone() };
    let input = match kind {
        "reaction" => return Ok(()),
        "image" => match picture(desk, &m).await {
            Some((bytes, content_type)) => Input::Image { bytes, content_type },
            None => return reply_plainly(desk, &guest, &wamid, "[image]", MEDIA_REFUSED).await,
        },
        "location" => return reply_plainly(desk, &guest, &wamid, "[location]", LOCATION).await,
        _ => match text_of(&m) {
            Some(t) if !t.trim().is_empty() => Input::Text(t),
            _ => return reply_plainly(desk, &guest, &wamid, &format!("[{kind}]"), UNSUPPORTED).await,
        },
    };
    let wamid = (!wamid.is_empty()).then_some(wamid);
    match conversations::send(desk, agent, &principal, input, wamid).await {
        Ok(_) => Ok(()),
        // Stored before (a redelivery after a crash): make sure it is answered.
        Err(ServiceError::Conflict { code: "DUPLICATE_MESSAGE", .. }) => {
            conversations::resume(desk, agent, guest.id).await
        }
        // A message the turn API refuses (too long…): the guest gets the reason.
        Err(ServiceError::Validation(errors)) => {
            let text = errors.first().map(|e| format!("Sorry, {}.", e.message)).unwrap_or_default();
            let (id, channel) = (guest.id, guest.channel.clone());
            with_conn(&desk.db, move |conn| outbox::enqueue_text(conn, id, &channel, &text)).await?;
            desk.wake.outbox.notify_one();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The text a message carries: a text body, an interactive reply (the id of a button or row we
/// rendered says the text back), a template button, an image's caption.
fn text_of(m: &Value) -> Option<String> {
    let t = match m["type"].as_str()? {
        "text" => m["text"]["body"].as_str()?.to_string(),
        "interactive" => {
            let r = &m["interactive"];
            let reply = if r["type"] == "list_reply" { &r["list_reply"] } else { &r["button_reply"] };
            match reply["id"].as_str().and_then(|id| id.strip_prefix("say:")) {
                Some(said) => said.to_string(),
                None => reply["title"].as_str()?.to_string(),
            }
        }
        "button" => m["button"]["text"].as_str()?.to_string(),
        _ => return None,
    };
    Some(t)
}

/// Downloads a picture and checks its SHA-256 against the webhook's (hex or base64), trying once
/// more on a mismatch; `None` when it cannot be had intact.
async fn picture(desk: &Desk, m: &Value) -> Option<(Vec<u8>, String)> {
    let sender = desk.senders.iter().find(|s| s.channel() == "whatsapp")?;
    let image = &m["image"];
    let media_id = image["id"].as_str()?;
    let expected = image["sha256"].as_str().map(str::to_string);
    for attempt in 0..2 {
        match sender.fetch_media(media_id).await {
            Ok((bytes, mime)) => {
                let digest = Sha256::digest(&bytes);
                let ok = match &expected {
                    None => true,
                    Some(e) => {
                        e.eq_ignore_ascii_case(&hex::encode(digest)) || {
                            use base64::Engine;
                            *e == base64::engine::general_purpose::STANDARD.encode(digest)
                        }
                    }
                };
                if ok {
                    let declared = image["mime_type"].as_str().map(str::to_string).unwrap_or(mime);
                    return Some((bytes, declared));
                }
                tracing::warn!(media_id, attempt, "WhatsApp media hash mismatch");
            }
            Err(e) => tracing::warn!(media_id, attempt, error = %e, "WhatsApp media download failed"),
        }
    }
    None
}

/// Stores a guest's message that the agent does not read and answers it with `text`.
async fn reply_plainly(
    desk: &Desk,
    guest: &Guest,
    wamid: &str,
    stored: &str,
    text: &str,
) -> Result<(), ServiceError> {
    let (id, channel, wamid, stored, text) =
        (guest.id, guest.channel.clone(), wamid.to_string(), stored.to_string(), text.to_string());
    let sent = in_tx(&desk.db, move |conn| {
        if !inbound(conn, id, &channel, &wamid, &stored)? {
            return Ok(false);
        }
        outbox::enqueue_text(conn, id, &channel, &text)?;
        Ok(true)
    })
    .await?;
    if sent {
        desk.wake.outbox.notify_one();
    }
    Ok(())
}

/// Stores an inbound message as processed; `false` when it was stored before.
fn inbound(
    conn: &mut repositories::DbConnection,
    guest_id: i64,
    channel: &str,
    wamid: &str,
    text: &str,
) -> Result<bool, ServiceError> {
    let now = models::time::now();
    let r = repositories::guests::insert_message(
        conn,
        &NewMessage {
            public_id: public_id("msg"),
            guest_id,
            sender: Sender::Guest.as_str().into(),
            channel: channel.into(),
            text: text.chars().take(4096).collect(),
            payload: None,
            delivery_status: "delivered".into(),
            created_at: now,
            channel_message_id: (!wamid.is_empty()).then(|| wamid.to_string()),
            reply_to: None,
            processed_at: Some(now),
            wire: None,
        },
    );
    match r {
        Ok(()) => Ok(true),
        Err(repositories::RepoError::UniqueViolation { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// An admin number's message: the deterministic admin command handler answers, never the agent.
async fn admin_command(
    desk: &Desk,
    admin: &Guest,
    number: &str,
    wamid: &str,
    text: String,
) -> Result<(), ServiceError> {
    let (id, channel, w, t) = (admin.id, admin.channel.clone(), wamid.to_string(), text.clone());
    let fresh = in_tx(&desk.db, move |conn| inbound(conn, id, &channel, &w, &t)).await?;
    if !fresh {
        return Ok(());
    }
    let caller = Caller::Key(Principal::whatsapp_admin(number));
    let answer = match conversations::commands::run(desk, &caller, None, &text).await {
        Ok(a) => a,
        Err(ServiceError::Validation(_)) => conversations::commands::HELP.to_string(),
        Err(
            e @ (ServiceError::NotFound(_)
            | ServiceError::Conflict { .. }
            | ServiceError::Unprocessable { .. }),
        ) => {
            format!("Could not do that: {e}")
        }
        Err(e) => return Err(e),
    };
    let (id, channel) = (admin.id, admin.channel.clone());
    with_conn(&desk.db, move |conn| outbox::enqueue_text(conn, id, &channel, &answer)).await?;
    desk.wake.outbox.notify_one();
    Ok(())
}

/// Queues a payment proof's notification to every admin number (SPEC §10.4): the screenshot, when
/// there is one, then the booking, the checks and the masked CNIC, with the commands to answer.
/// Written in the proof's transaction; sent by the outbox.
pub fn proof_to_admins(
    conn: &mut repositories::DbConnection,
    numbers: &[String],
    image_url: Option<&str>,
    reference: &str,
    text: &str,
) -> Result<(), ServiceError> {
    let now = models::time::now();
    for number in numbers {
        let admin = repo::guest_by_contact(conn, number, Some(number), Some("Admin"), || NewGuest {
            public_id: public_id("gst"),
            name: Some("Admin".into()),
            phone: Some(number.clone()),
            cnic: None,
            website_user_id: None,
            external_id: Some(number.clone()),
            channel: "whatsapp".into(),
            address: Some(number.clone()),
            created_at: now,
            updated_at: now,
        })?;
        let row = |text: String, wire: Option<String>| NewMessage {
            public_id: public_id("msg"),
            guest_id: admin.id,
            sender: Sender::Bot.as_str().into(),
            channel: "whatsapp".into(),
            text,
            payload: None,
            delivery_status: "pending".into(),
            created_at: now,
            channel_message_id: None,
            reply_to: None,
            processed_at: Some(now),
            wire,
        };
        if let Some(url) = image_url {
            let wire = json!({"type": "image", "image": {"steward_media": url, "caption": format!("Payment proof for {reference}")}});
            repositories::guests::insert_message(
                conn,
                &row(format!("[image] {url}"), Some(wire.to_string())),
            )?;
        }
        let body = format!("{text}\n\nReply *confirm {reference}* or *reject {reference} <reason>*.");
        repositories::guests::insert_message(conn, &row(body, None))?;
    }
    Ok(())
}

/// The channel's state for the operations endpoint and the metrics.
pub async fn health(desk: &Desk) -> Result<ChannelHealth, ServiceError> {
    let configured = desk.senders.iter().any(|s| s.channel() == "whatsapp");
    with_conn(&desk.db, move |conn| {
        let (inbox_backlog, oldest_waiting, last_webhook) = repo::inbox_backlog(conn)?;
        let (outbox_pending, outbox_failed) = repo::outbox_backlog(conn, "whatsapp")?;
        let outbound = repo::outbound_by_status(conn, "whatsapp")?;
        Ok(ChannelHealth {
            configured,
            inbox_backlog,
            oldest_waiting,
            last_webhook,
            outbox_pending,
            outbox_failed,
            outbound,
        })
    })
    .await
}

/// The channel's state for operators.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelHealth {
    /// A sender is configured (`whatsapp.enabled`).
    pub configured: bool,
    /// Events not processed yet.
    pub inbox_backlog: i64,
    /// The oldest of them.
    pub oldest_waiting: Option<NaiveDateTime>,
    /// The last webhook event stored.
    pub last_webhook: Option<NaiveDateTime>,
    /// Outbound messages waiting.
    pub outbox_pending: i64,
    /// Outbound messages that failed.
    pub outbox_failed: i64,
    /// Outbound messages by delivery status.
    pub outbound: Vec<(String, i64)>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_bytes() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(verify_signature("s3cret", body, Some(&good)));
        assert!(!verify_signature("other", body, Some(&good)));
        assert!(!verify_signature("s3cret", b"{}", Some(&good)));
        assert!(!verify_signature("s3cret", body, None));
        assert!(!verify_signature("s3cret", body, Some("sha256=zz")));
    }

    #[test]
    fn a_batch_yields_every_message_and_status() {
        let body: Value =
            serde_json::from_str(include_str!("../../../../shared/fixtures/whatsapp/batch.json")).unwrap();
        let events = events_of(&body, models::time::now());
        let keys: Vec<&str> = events.iter().map(|e| e.event_key.as_str()).collect();
        assert_eq!(keys, ["wamid.BATCH1", "wamid.OUT1:sent", "wamid.BATCH2"]);
        let second: Value = serde_json::from_str(&events[2].payload).unwrap();
        assert_eq!(second["contact"]["profile"]["name"], "Bilal");
    }

    #[test]
    fn guests_are_keyed_by_user_id_then_wa_id() {
        let body: Value =
            serde_json::from_str(include_str!("../../../../shared/fixtures/whatsapp/bsuid_no_phone.json"))
                .unwrap();
        let e = &events_of(&body, models::time::now())[0];
        let (key, phone, name) = sender_of(&serde_json::from_str(&e.payload).unwrap()).unwrap();
        assert_eq!((key.as_str(), phone, name.as_deref()), ("US.13491208655302741918", None, Some("Ayesha")));
        let body: Value =
            serde_json::from_str(include_str!("../../../../shared/fixtures/whatsapp/text.json")).unwrap();
        let e = &events_of(&body, models::time::now())[0];
        let (key, phone, _) = sender_of(&serde_json::from_str(&e.payload).unwrap()).unwrap();
        assert_eq!((key.as_str(), phone.as_deref()), ("923001234567", Some("923001234567")));
    }
}
