//! The audit trail: events recorded in the caller's transaction, linked into a SHA-256 hash chain
//! by a chainer, verified by recomputing the chain.
//!
//! `hash(n) = SHA-256(canonical_json({seq, event_id, occurred_at, actor_type, actor_id, action,
//! subject_type, subject_id, request_id, details, result, prev_hash}))`, `prev_hash(1)` = 64 zeros.

use chrono::NaiveDateTime;
use models::ids::{ordered_id, prefix};
use models::rows::{AuditEvent, NewAuditEvent};
use models::{ActorType, AuditResult};
use repositories::audit::{self as repo, AuditFilter};
use repositories::{write_tx, Db, DbConnection, Page, RepoError};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::ServiceError;

/// `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Kind of actor.
    pub kind: ActorType,
    /// Public id, when there is one.
    pub id: Option<String>,
}

impl Actor {
    /// Steward itself (CLI, jobs).
    pub fn system() -> Self {
        Self { kind: ActorType::System, id: None }
    }
}

/// The context every audited change carries: the actor and the HTTP request id.
#[derive(Clone, Debug)]
pub struct AuditContext {
    /// Who.
    pub actor: Actor,
    /// `X-Request-Id`, when the change came over HTTP.
    pub request_id: Option<String>,
}

impl AuditContext {
    /// A system context without a request.
    pub fn system() -> Self {
        Self { actor: Actor::system(), request_id: None }
    }
}

/// What happened.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    /// Dotted action, e.g. `api_key.created`.
    pub action: &'a str,
    /// Kind of subject, e.g. `api_key`.
    pub subject_type: &'a str,
    /// Subject's public id.
    pub subject_id: Option<&'a str>,
    /// Details; personal data in it is masked before storing.
    pub details: Value,
    /// Outcome.
    pub result: AuditResult,
}

/// Records an event **in the caller's open transaction**: it commits or rolls back with the change.
pub fn record(conn: &mut DbConnection, ctx: &AuditContext, entry: Entry<'_>) -> Result<(), RepoError> {
    record_all(conn, ctx, [entry])
}

/// Records several events in the caller's open transaction, in order, in one statement.
pub fn record_all<const N: usize>(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    entries: [Entry<'_>; N],
) -> Result<(), RepoError> {
    let ready = entries.map(Ready::new);
    let events: Vec<NewAuditEvent<'_>> = ready.iter().map(|r| r.event(ctx)).collect();
    repo::insert_all(conn, &events)
}

/// An event ready to store: its id, its time and its details masked and in canonical form.
#[derive(Debug)]
pub struct Ready<'a> {
    event_id: String,
    occurred_at: NaiveDateTime,
    details: String,
    entry: Entry<'a>,
}

impl<'a> Ready<'a> {
    /// Masks and serialises `entry`'s details and names the event.
    pub fn new(mut entry: Entry<'a>) -> Self {
        let mut details = std::mem::take(&mut entry.details);
        mask_personal_data(&mut details);
        Self {
            event_id: ordered_id(prefix::AUDIT_EVENT),
            occurred_at: models::time::now(),
            details: canonical_json(&details),
            entry,
        }
    }

    /// The row to insert for the actor and request of `ctx`.
    pub fn event<'b>(&'b self, ctx: &'b AuditContext) -> NewAuditEvent<'b> {
        NewAuditEvent {
            event_id: &self.event_id,
            occurred_at: self.occurred_at,
            actor_type: ctx.actor.kind.as_str(),
            actor_id: ctx.actor.id.as_deref(),
            action: self.entry.action,
            subject_type: self.entry.subject_type,
            subject_id: self.entry.subject_id,
            request_id: ctx.request_id.as_deref(),
            details: &self.details,
            result: self.entry.result.as_str(),
        }
    }
}

/// Records a successful action on a subject, in the caller's transaction (see [`record`]).
pub fn record_success(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    action: &str,
    subject_type: &str,
    subject_id: &str,
    details: Value,
) -> Result<(), RepoError> {
    record(
        conn,
        ctx,
        Entry { action, subject_type, subject_id: Some(subject_id), details, result: AuditResult::Success },
    )
}

/// Links one batch of committed, unchained events (in id order). The events are read and hashed
/// before the write transaction, from the head as it was then; under the head's lock the links
/// are written only if the head has not moved meanwhile (another replica's chainer), and
/// otherwise read and hashed again under the lock. Returns how many were linked.
pub fn link_batch(conn: &mut DbConnection, batch_size: i64) -> Result<usize, RepoError> {
    // Read and hashed outside the write lock: the writers (the gateway's group commit among
    // them) wait only for the updates.
    let head = repo::head(conn)?;
    let events = repo::unchained(conn, batch_size)?;
    if events.is_empty() {
        return Ok(0);
    }
    let prepared = links_of(&events, head.clone());
    write_tx(conn, |conn| {
        let locked = repo::lock_head(conn)?;
        let (links, events_len) = if locked == head {
            (prepared, events.len())
        } else {
            // Under the head's lock every event read is still unlinked: each takes the next place.
            let events = repo::unchained(conn, batch_size)?;
            (links_of(&events, locked), events.len())
        };
        let Some((_, seq, _, last)) = links.last() else { return Ok(0) };
        let (seq, last) = (*seq, last.clone());
        if repo::link_all(conn, &links)? != links.len() {
            return Err(RepoError::CheckViolation("an event was linked by another chainer".into()));
        }
        repo::set_head(conn, seq, &last)?;
        Ok(events_len)
    })
}

/// The links of `events`, in order, after the head `(seq, hash)`: `(id, seq, prev_hash, hash)`.
fn links_of(events: &[AuditEvent], (mut seq, mut prev): (i64, String)) -> Vec<(i64, i64, String, String)> {
    let mut links = Vec::with_capacity(events.len());
    for ev in events {
        let next = seq + 1;
        let hash = event_hash(ev, next, &prev);
        links.push((ev.id, next, std::mem::replace(&mut prev, hash.clone()), hash));
        seq = next;
    }
    links
}

/// Links every event committed so far; returns how many were linked.
pub async fn link_pending(db: &Db, batch_size: u32) -> Result<usize, ServiceError> {
    let batch = i64::from(batch_size.max(1));
    Ok(db
        .run(move |conn| {
            let mut total = 0;
            loop {
                let n = link_batch(conn, batch)?;
                total += n;
                if (n as i64) < batch {
                    return Ok(total);
                }
            }
        })
        .await?)
}

/// The first link that does not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// Chain position.
    pub seq: i64,
    /// `evt_…`.
    pub event_id: String,
    /// What does not match.
    pub reason: String,
}

/// Result of recomputing the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// True when every link verifies.
    pub ok: bool,
    /// Events checked.
    pub checked: i64,
    /// Committed events not yet linked (they are linked before verifying, so normally 0).
    pub unchained: i64,
    /// Hash of the last verified event.
    pub head_hash: String,
    /// The first broken link, when there is one.
    pub first_broken: Option<BrokenLink>,
}

/// Recomputes the whole chain in sequence order and names the first broken link.
pub fn verify_chain(conn: &mut DbConnection) -> Result<VerifyReport, RepoError> {
    let mut expected_seq = 1_i64;
    let mut prev = GENESIS_HASH.to_string();
    let mut checked = 0_i64;
    let mut broken = None;
    'outer: loop {
        let events = repo::chained_after(conn, expected_seq - 1, 1000)?;
        if events.is_empty() {
            break;
        }
        for ev in events {
            let seq = ev.seq.unwrap_or_default();
            let reason = if seq != expected_seq {
                Some(format!("sequence gap: expected {expected_seq}, found {seq}"))
            } else if ev.prev_hash.as_deref() != Some(prev.as_str()) {
                Some("prev_hash does not match the previous event's hash".to_string())
            } else if ev.hash.as_deref() != Some(event_hash(&ev, seq, &prev).as_str()) {
                Some("hash does not match the event's contents".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                broken = Some(BrokenLink { seq, event_id: ev.event_id, reason });
                break 'outer;
            }
            checked += 1;
            prev = ev.hash.unwrap_or_default();
            expected_seq += 1;
        }
    }
    // The head must agree with the last event (a deleted tail shows up here).
    if broken.is_none() {
        let (head_seq, head_hash) = repo::lock_head(conn)?;
        if head_seq != checked || head_hash != prev {
            broken = Some(BrokenLink {
                seq: checked + 1,
                event_id: String::new(),
                reason: format!(
                    "chain head says {head_seq} events, the table holds {checked} verifiable ones"
                ),
            });
        }
    }
    let unchained = repo::unchained_count(conn)?;
    Ok(VerifyReport { ok: broken.is_none(), checked, unchained, head_hash: prev, first_broken: broken })
}

/// Links pending events, then verifies the chain.
pub async fn verify(db: &Db, batch_size: u32) -> Result<VerifyReport, ServiceError> {
    link_pending(db, batch_size).await?;
    Ok(db.run(verify_chain).await?)
}

/// Lists events, newest first.
pub async fn list(
    db: &Db,
    filter: AuditFilter,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<AuditEvent>, ServiceError> {
    Ok(db.run(move |conn| repo::list(conn, &filter, Page { limit, before })).await?)
}

/// The hash of an event at position `seq` after `prev_hash`.
pub fn event_hash(ev: &AuditEvent, seq: i64, prev_hash: &str) -> String {
    let details: Value = serde_json::from_str(&ev.details).unwrap_or(Value::String(ev.details.clone()));
    let material = json!({
        "seq": seq,
        "event_id": ev.event_id,
        "occurred_at": models::time::rfc3339(ev.occurred_at),
        "actor_type": ev.actor_type,
        "actor_id": ev.actor_id,
        "action": ev.action,
        "subject_type": ev.subject_type,
        "subject_id": ev.subject_id,
        "request_id": ev.request_id,
        "details": details,
        "result": ev.result,
        "prev_hash": prev_hash,
    });
    hex::encode(Sha256::digest(canonical_json(&material).as_bytes()))
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Masks personal data in place: CNICs (`42201-*******-1`), phone numbers, emails, and anything
/// that looks like a secret is replaced outright.
pub fn mask_personal_data(value: &mut Value) {
    match value {
        Value::Object(map) => mask_object(map),
        Value::Array(items) => items.iter_mut().for_each(mask_personal_data),
        Value::String(s) => {
            if let Some(masked) = mask_cnic(s) {
                *s = masked;
            }
        }
        _ => {}
    }
}

fn mask_object(map: &mut Map<String, Value>) {
    for (key, v) in map.iter_mut() {
        let k = key.to_ascii_lowercase();
        if let Value::String(s) = v {
            let masked = if k.contains("secret")
                || k.contains("password")
                || k.contains("token")
                || k == "key"
                || k == "api_key"
            {
                Some("[redacted]".to_string())
            } else if k.contains("cnic") {
                Some(mask_cnic(s).unwrap_or_else(|| mask_middle(s, 2, 1)))
            } else if k.contains("phone") || k.contains("msisdn") || k == "wa_id" {
                Some(mask_middle(s, 4, 2))
            } else if k.contains("email") {
                Some(mask_email(s))
            } else {
                None
            };
            if let Some(m) = masked {
                *s = m;
                continue;
            }
        }
        mask_personal_data(v);
    }
}

/// `4220112345671` or `42201-1234567-1` → `42201-*******-1`; `None` if it is not a CNIC.
pub fn mask_cnic(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let shape_ok = s.chars().all(|c| c.is_ascii_digit() || c == '-')
        && (s.len() == 13
            || (s.len() == 15 && s.as_bytes().get(5) == Some(&b'-') && s.as_bytes().get(13) == Some(&b'-')));
    if digits.len() == 13 && shape_ok {
        Some(format!("{}-*******-{}", &digits[..5], &digits[12..]))
    } else {
        None
    }
}

fn mask_middle(s: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..keep_start].iter().collect();
    out.push_str(&"*".repeat(chars.len() - keep_start - keep_end));
    out.extend(&chars[chars.len() - keep_end..]);
    out
}

fn mask_email(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_middle(s, 1, 0),
    }
}

/// Parses an audit time filter (RFC 3339 instant or `YYYY-MM-DD`, UTC).
pub fn parse_instant(field: &str, s: &str) -> Result<NaiveDateTime, ServiceError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    Err(ServiceError::invalid(field, "must be an RFC 3339 instant or YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": "x"}});
        assert_eq!(canonical_json(&v), r#"{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}"#);
    }

    #[test]
    fn personal_data_is_masked() {
        let mut v = json!({
            "cnic": "4220112345671",
            "guest": {"phone": "923001234567", "email": "ali@example.com", "note": "42201-1234567-1"},
            "api_key": "sk-abc",
            "count": 3
        });
        mask_personal_data(&mut v);
        assert_eq!(v["cnic"], "42201-*******-1");
        assert_eq!(v["guest"]["phone"], "9230******67");
        assert_eq!(v["guest"]["email"], "a***@example.com");
        assert_eq!(v["guest"]["note"], "42201-*******-1");
        assert_eq!(v["api_key"], "[redacted]");
        assert_eq!(v["count"], 3);
    }

    #[test]
    fn hash_depends_on_every_field_and_the_previous_hash() {
        let ev = AuditEvent {
            id: 1,
            event_id: "evt_1".into(),
            occurred_at: models::time::now(),
            actor_type: "admin".into(),
            actor_id: Some("usr_1".into()),
            action: "user.created".into(),
            subject_type: "user".into(),
            subject_id: Some("usr_2".into()),
            request_id: None,
            details: r#"{"a":1}"#.into(),
            result: "success".into(),
            seq: None,
            prev_hash: None,
            hash: None,
        };
        let h = event_hash(&ev, 1, GENESIS_HASH);
        assert_eq!(h.len(), 64);
        assert_ne!(h, event_hash(&ev, 2, GENESIS_HASH));
        assert_ne!(h, event_hash(&ev, 1, &"1".repeat(64)));
        let mut other = ev.clone();
        other.details = r#"{"a":2}"#.into();
        assert_ne!(h, event_hash(&other, 1, GENESIS_HASH));
    }
}
