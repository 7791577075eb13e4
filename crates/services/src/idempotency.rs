//! `Idempotency-Key` support for POSTs that create or move things.
//!
//! [`begin`] claims the key (a unique index decides races): a new key proceeds; a completed one
//! with the same request fingerprint replays the stored response byte for byte; a different
//! fingerprint is [`ServiceError::IdempotencyMismatch`] (422); an unfinished one is
//! [`ServiceError::IdempotencyInFlight`] (409) until the first request's deadline passes: a
//! request runs under its deadline (`idempotency.in_flight_timeout_secs`, plus the provider
//! timeout for AI calls), so once it has passed the first attempt is over — finished, failed or
//! its process gone — and a retry takes the key over.

use chrono::Duration;
use core_config::IdempotencySettings;
use models::rows::NewIdempotencyRecord;
use models::IdempotencyState;
use repositories::{idempotency as repo, Db};
use sha2::{Digest, Sha256};

use crate::{with_conn, ServiceError};

/// The request being made idempotent.
#[derive(Clone, Debug)]
pub struct IdempotentRequest {
    /// Whose key space (the caller's user public id).
    pub owner: String,
    /// The client's key.
    pub key: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Raw request body.
    pub body: Vec<u8>,
}

/// A stored response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// Run it, then [`complete`] or [`release`] the ticket.
    Proceed(Ticket),
    /// Return this stored response.
    Replay(StoredResponse),
}

/// A claimed key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    id: i64,
}

/// Checks a client-supplied key: 1–255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), ServiceError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters"));
    }
    Ok(())
}

fn fingerprint(req: &IdempotentRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.method.as_bytes());
    h.update(b"\n");
    h.update(req.path.as_bytes());
    h.update(b"\n");
    h.update(&req.body);
    hex::encode(h.finalize())
}

/// Claims the key or tells what to do instead.
pub async fn begin(
    db: &Db,
    settings: &IdempotencySettings,
    req: IdempotentRequest,
    deadline: std::time::Duration,
) -> Result<Begin, ServiceError> {
    validate_key(&req.key)?;
    let retention = Duration::hours(i64::from(settings.retention_hours));
    let in_flight_timeout = Duration::from_std(deadline).unwrap_or(Duration::seconds(30));
    with_conn(db, move |conn| {
        let now = models::time::now();
        let fp = fingerprint(&req);
        let existing = repo::claim(
            conn,
            &NewIdempotencyRecord {
                owner: &req.owner,
                idem_key: &req.key,
                method: &req.method,
                path: &req.path,
                fingerprint: &fp,
                state: IdempotencyState::InFlight.as_str(),
                locked_at: now,
                created_at: now,
                expires_at: now + retention,
            },
            now,
        )?;
        let Some(rec) = existing else {
            let rec = repo::get(conn, &req.owner, &req.key)?;
            return Ok(Begin::Proceed(Ticket { id: rec.id }));
        };
        if rec.fingerprint != fp {
            return Err(ServiceError::IdempotencyMismatch);
        }
        if rec.state == IdempotencyState::Completed.as_str() {
            return Ok(Begin::Replay(StoredResponse {
                status: rec.response_status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                content_type: rec.response_content_type.unwrap_or_else(|| "application/json".into()),
                body: rec.response_body.unwrap_or_default(),
            }));
        }
        if rec.locked_at + in_flight_timeout <= now && repo::take_over(conn, rec.id, rec.locked_at, now)? {
            return Ok(Begin::Proceed(Ticket { id: rec.id }));
        }
        let left = (rec.locked_at + in_flight_timeout - now).num_seconds().max(1);
        Err(ServiceError::IdempotencyInFlight { retry_after_secs: u64::try_from(left).unwrap_or(1) })
    })
    .await
}

/// Stores the response for replay.
pub async fn complete(db: &Db, ticket: Ticket, response: StoredResponse) -> Result<(), ServiceError> {
    with_conn(db, move |conn| {
        Ok(repo::complete(
            conn,
            ticket.id,
            i32::from(response.status),
            &response.content_type,
            &response.body,
        )?)
    })
    .await
}

/// Forgets the claim so the client may retry (used when the request failed).
pub async fn release(db: &Db, ticket: Ticket) -> Result<(), ServiceError> {
    with_conn(db, move |conn| Ok(repo::release(conn, ticket.id)?)).await
}

/// Deletes records past their retention; returns how many.
pub async fn purge_expired(db: &Db) -> Result<usize, ServiceError> {
    with_conn(db, |conn| Ok(repo::purge_expired(conn, models::time::now())?)).await
}
