//! The outbox of outside channels (WhatsApp): every outbound message is a message row written in
//! the transaction that decided it (`pending`, with the channel's wire body), and
//! [`deliver_due`] sends it. Rows are claimed with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so several workers never send one twice; a recipient's messages go out in order
//! and paced ([`Pacer`]); failures are handled by kind: transient ones retried with backoff and
//! jitter, rate limits after a pause growing 4ⁿ seconds, an unreachable recipient (131026) never
//! retried and the rest of its turn dropped, a closed 24-hour window (131047) answered with the
//! template.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};
use models::booking::MessageSender as Sender;
use models::ids::public_id;
use models::rows_booking::{Message, NewMessage};
use rand::Rng;
use repositories::whatsapp as repo;
use repositories::DbConnection;

use crate::desk::{notify, Desk};
use crate::ports::{MessageSender, Outgoing, SendFailure};
use crate::{in_tx, ServiceError};

/// How long a worker's claim on a message lasts.
const CLAIM_SECS: i64 = 60;
/// Messages claimed per pass.
const BATCH: i64 = 50;
/// The wire body that stands for "the re-engagement template".
pub const TEMPLATE_WIRE: &str = r#"{"template":true}"#;

/// Per-recipient pacing: a burst of up to `burst` messages, then one every `interval`
/// (WhatsApp's pair rate limit is about one message per 6 s: `whatsapp.pacing_*`).
#[derive(Debug)]
pub struct Pacer {
    burst: f64,
    interval_ms: f64,
    buckets: Mutex<HashMap<String, (f64, NaiveDateTime)>>,
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new(6, 6000)
    }
}

impl Pacer {
    /// A pacer allowing `burst` messages at once, then one per `interval_ms` (0: unpaced).
    pub fn new(burst: u32, interval_ms: u64) -> Self {
        Self { burst: f64::from(burst.max(1)), interval_ms: interval_ms as f64, buckets: Mutex::default() }
    }

    /// Takes a send for `to` at `now`, or says when the next one is allowed.
    pub fn take(&self, to: &str, now: NaiveDateTime) -> Result<(), NaiveDateTime> {
        if self.interval_ms <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, at)| now - *at < Duration::minutes(10));
        }
        let (tokens, at) = buckets.entry(to.to_string()).or_insert((self.burst, now));
        let elapsed_ms = (now - *at).num_milliseconds().max(0) as f64;
        *tokens = (*tokens + elapsed_ms / self.interval_ms).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - *tokens) * self.interval_ms).ceil() as i64;
        Err(now + Duration::milliseconds(wait))
    }
}

/// The rows an outbound reply becomes on `channel`: rendered by the channel's sender, the first
/// carrying the structured reply (`payload`). Web replies are one delivered row.
pub fn reply_rows(
    desk: &Desk,
    guest_id: i64,
    channel: &str,
    reply: &models::conversation::Reply,
    reply_to: Option<i64>,
    now: NaiveDateTime,
) -> Vec<NewMessage> {
    let payload = serde_json::to_string(reply).unwrap_or_default();
    let row = |text: String, wire: Option<String>, payload: Option<String>, status: &str| NewMessage {
        public_id: public_id("msg"),
        guest_id,
        sender: Sender::Bot.as_str().into(),
        channel: channel.into(),
        text,
        payload,
        delivery_status: status.into(),
        created_at: now,
        channel_message_id: None,
        reply_to,
        processed_at: Some(now),
        wire,
    };
    if channel == "web" {
        return vec![row(reply.text(), None, Some(payload), "delivered")];
    }
    let rendered: Vec<Outgoing> = match sender(desk, channel) {
        Some(s) => s.render(reply),
        None => vec![Outgoing { text: reply.text(), wire: None }],
    };
    let rendered: Vec<Outgoing> =
        rendered.into_iter().filter(|o| o.wire.is_some() || !o.text.trim().is_empty()).collect();
    if rendered.is_empty() {
        // Nothing to send (a silent turn): the reply is kept, delivered as nothing.
        return vec![row(String::new(), None, Some(payload), "delivered")];
    }
    rendered
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let wire = o.wire.map(|w| w.to_string());
            row(o.text, wire, (i == 0).then(|| payload.clone()), "pending")
        })
        .collect()
}

/// Queues a plain text to a guest on their channel (delivered at once on the web).
pub fn enqueue_text(
    conn: &mut DbConnection,
    guest_id: i64,
    channel: &str,
    text: &str,
) -> Result<(), ServiceError> {
    let now = models::time::now();
    repositories::guests::insert_message(
        conn,
        &NewMessage {
            public_id: public_id("msg"),
            guest_id,
            sender: Sender::Bot.as_str().into(),
            channel: channel.into(),
            text: text.into(),
            payload: None,
            delivery_status: if channel == "web" { "delivered" } else { "pending" }.into(),
            created_at: now,
            channel_message_id: None,
            reply_to: None,
            processed_at: Some(now),
            wire: None,
        },
    )?;
    Ok(())
}

fn sender<'a>(desk: &'a Desk, channel: &str) -> Option<&'a std::sync::Arc<dyn MessageSender>> {
    desk.senders.iter().find(|s| s.channel() == channel)
}

/// Delay before retry `attempt` (1-based) of a transient failure: 2ⁿ⁻¹ seconds, capped at 10
/// minutes, with up to 50 % jitter.
fn transient_delay(attempt: u32) -> Duration {
    let base = 2_i64.saturating_pow(attempt.saturating_sub(1).min(10)).min(600) * 1000;
    let jitter = rand::thread_rng().gen_range(0..=base / 2);
    Duration::milliseconds(base + jitter)
}

/// Delay before retry `attempt` (1-based) after a rate limit: 4ⁿ⁻¹ seconds (1, 4, 16, …), capped
/// at an hour.
fn rate_limit_delay(attempt: u32) -> Duration {
    Duration::seconds(4_i64.saturating_pow(attempt.saturating_sub(1).min(6)).min(3600))
}

/// What happened to one claimed message.
enum Sent {
    /// Sent (or finally failed): the recipient's next message may follow.
    Next,
    /// Stop this recipient's messages for this pass (order is kept).
    Stop,
}

/// Sends the due outbound messages; returns how many went out.
#[tracing::instrument(skip(desk))]
pub async fn deliver_due(desk: &Desk, now: NaiveDateTime) -> Result<usize, ServiceError> {
    let until = now + Duration::seconds(CLAIM_SECS);
    let claimed = in_tx(&desk.db, move |conn| Ok(repo::claim_outbox(conn, now, until, BATCH)?)).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    // Each recipient's messages in order; a stop leaves the rest for a later pass.
    let mut order: Vec<i64> = Vec::new();
    let mut by_guest: HashMap<i64, Vec<repo::Outbound>> = HashMap::new();
    for row in claimed {
        if !by_guest.contains_key(&row.0.guest_id) {
            order.push(row.0.guest_id);
        }
        by_guest.entry(row.0.guest_id).or_default().push(row);
    }
    let mut sent = 0;
    for guest in order {
        let rows = by_guest.remove(&guest).unwrap_or_default();
        let mut stopped = false;
        for (message, channel, address) in rows {
            if stopped {
                let id = message.id;
                in_tx(&desk.db, move |conn| Ok(repo::unclaim(conn, id, now)?)).await?;
                continue;
            }
            match send_one(desk, &message, &channel, address.as_deref(), now).await? {
                (Sent::Next, ok) => sent += usize::from(ok),
                (Sent::Stop, _) => stopped = true,
            }
        }
    }
    Ok(sent)
}

async fn send_one(
    desk: &Desk,
    message: &Message,
    channel: &str,
    address: Option<&str>,
    now: NaiveDateTime,
) -> Result<(Sent, bool), ServiceError> {
    let id = message.id;
    let Some(sender) = sender(desk, channel) else {
        // No sender for the channel here (not configured): it waits.
        in_tx(&desk.db, move |conn| Ok(repo::unclaim(conn, id, now + Duration::minutes(1))?)).await?;
        return Ok((Sent::Stop, false));
    };
    let Some(address) = address else {
        in_tx(&desk.db, move |conn| {
            Ok(repo::mark_attempt_failed(conn, id, "the guest has no address", None)?)
        })
        .await?;
        return Ok((Sent::Next, false));
    };
    if let Err(not_before) = desk.pacer.take(address, now) {
        in_tx(&desk.db, move |conn| Ok(repo::unclaim(conn, id, not_before)?)).await?;
        return Ok((Sent::Stop, false));
    }
    let is_template = message.wire.as_deref() == Some(TEMPLATE_WIRE);
    let result = if is_template {
        sender.send_template(address).await
    } else {
        let wire: Option<serde_json::Value> =
            message.wire.as_deref().and_then(|w| serde_json::from_str(w).ok());
        match wire {
            Some(w) => match with_stored_media(desk, sender.as_ref(), w).await {
                Ok(w) => sender.send(address, &Outgoing { text: message.text.clone(), wire: Some(w) }).await,
                Err(e) => Err(e),
            },
            None => sender.send(address, &Outgoing { text: message.text.clone(), wire: None }).await,
        }
    };
    let attempt = u32::try_from(message.attempts).unwrap_or(0) + 1;
    let max = desk.rules.channel_max_attempts.max(1);
    match result {
        Ok(wamid) => {
            in_tx(&desk.db, move |conn| Ok(repo::mark_sent(conn, id, wamid.as_deref())?)).await?;
            Ok((Sent::Next, true))
        }
        Err(e) => {
            tracing::warn!(message = %message.public_id, failure = ?e.failure, error = %e, "channel send failed");
            let error = e.to_string();
            let guest = message.guest_id;
            match e.failure {
                SendFailure::Transient | SendFailure::RateLimited => {
                    let retry_at = (attempt < max).then(|| {
                        now + if e.failure == SendFailure::RateLimited {
                            rate_limit_delay(attempt)
                        } else {
                            transient_delay(attempt)
                        }
                    });
                    in_tx(&desk.db, move |conn| Ok(repo::mark_attempt_failed(conn, id, &error, retry_at)?))
                        .await?;
                    Ok((if retry_at.is_some() { Sent::Stop } else { Sent::Next }, false))
                }
                SendFailure::Unreachable => {
                    in_tx(&desk.db, move |conn| {
                        repo::mark_attempt_failed(conn, id, &error, None)?;
                        let dropped =
                            repo::drop_pending(conn, guest, "the recipient cannot be reached (131026)")?;
                        notify::admins(
                            conn,
                            "delivery_failed",
                            None,
                            format!(
                                "A WhatsApp guest cannot be reached ({error}); {} more message(s) dropped.",
                                dropped
                            ),
                        )?;
                        Ok(())
                    })
                    .await?;
                    Ok((Sent::Stop, false))
                }
                SendFailure::WindowClosed if !is_template => {
                    in_tx(&desk.db, move |conn| {
                        repo::mark_attempt_failed(conn, id, &error, None)?;
                        queue_template(conn, guest, now)
                    })
                    .await?;
                    Ok((Sent::Next, false))
                }
                SendFailure::WindowClosed | SendFailure::Rejected => {
                    in_tx(&desk.db, move |conn| Ok(repo::mark_attempt_failed(conn, id, &error, None)?))
                        .await?;
                    Ok((Sent::Next, false))
                }
            }
        }
    }
}

/// A body naming Steward's own stored media (`{"image": {"steward_media": url}}`) made sendable:
/// a public `https` URL is linked, anything else read from the media store and uploaded.
async fn with_stored_media(
    desk: &Desk,
    sender: &dyn MessageSender,
    mut wire: serde_json::Value,
) -> Result<serde_json::Value, crate::ports::SendError> {
    let Some(url) = wire["image"]["steward_media"].as_str().map(str::to_string) else { return Ok(wire) };
    let caption = wire["image"]["caption"].clone();
    let image = if url.starts_with("https://") {
        serde_json::json!({"link": url, "caption": caption})
    } else {
        let (bytes, content_type) = desk.media.get(&url).await.map_err(|e| crate::ports::SendError {
            failure: SendFailure::Rejected,
            code: None,
            message: format!("the stored picture cannot be read: {e}"),
        })?;
        let id = sender.upload_media(bytes, &content_type).await?;
        serde_json::json!({"id": id, "caption": caption})
    };
    wire["image"] = image;
    Ok(wire)
}

/// Queues the re-engagement template to a WhatsApp guest (the 24-hour window closed).
pub fn queue_template(
    conn: &mut DbConnection,
    guest_id: i64,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    repositories::guests::insert_message(
        conn,
        &NewMessage {
            public_id: public_id("msg"),
            guest_id,
            sender: Sender::Bot.as_str().into(),
            channel: "whatsapp".into(),
            text: "[template] re-engagement".into(),
            payload: None,
            delivery_status: "pending".into(),
            created_at: now,
            channel_message_id: None,
            reply_to: None,
            processed_at: Some(now),
            wire: Some(TEMPLATE_WIRE.into()),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_message_every_six_seconds() {
        let pacer = Pacer::default();
        let t0 = models::time::now();
        for _ in 0..6 {
            assert!(pacer.take("92300", t0).is_ok());
        }
        let next = pacer.take("92300", t0).unwrap_err();
        assert_eq!((next - t0).num_seconds(), 6);
        assert!(pacer.take("92311", t0).is_ok(), "another recipient has its own bucket");
        assert!(pacer.take("92300", t0 + Duration::seconds(6)).is_ok());
    }

    #[test]
    fn rate_limits_back_off_four_fold() {
        assert_eq!(rate_limit_delay(1).num_seconds(), 1);
        assert_eq!(rate_limit_delay(2).num_seconds(), 4);
        assert_eq!(rate_limit_delay(3).num_seconds(), 16);
        let d = transient_delay(1).num_milliseconds();
        assert!((1000..=1500).contains(&d));
    }
}
