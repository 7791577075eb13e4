//! Row structs: what a `SELECT` returns and what an `INSERT` takes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{api_keys, audit_events, idempotency_keys, ledger_entries, users};

/// A platform user.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// Internal key.
    pub id: i64,
    /// `usr_…`.
    pub public_id: String,
    /// Display name.
    pub name: String,
    /// Unique, stored lower-case.
    pub email: String,
    /// [`crate::Role`] as text.
    pub role: String,
    /// [`crate::UserStatus`] as text.
    pub status: String,
    /// Creation instant (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
    /// Identity verified (required to spend).
    pub verified: bool,
    /// `free`, `pro` or `enterprise`.
    pub tier: String,
    /// Balance, micro-USDC.
    pub balance: i64,
    /// Reserved for requests in flight, micro-USDC.
    pub reserved: i64,
}

/// A new platform user.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// `usr_…`.
    pub public_id: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Lower-case email.
    pub email: &'a str,
    /// Role text.
    pub role: &'a str,
    /// Status text.
    pub status: &'a str,
    /// Creation instant.
    pub created_at: NaiveDateTime,
    /// Same as `created_at`.
    pub updated_at: NaiveDateTime,
}

/// An API key (never its plaintext).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// Internal key.
    pub id: i64,
    /// `key_…`.
    pub public_id: String,
    /// Owner.
    pub user_id: i64,
    /// Label given at creation.
    pub name: String,
    /// SHA-256 of the plaintext, hex.
    pub key_hash: String,
    /// First characters of the plaintext, for recognising a key.
    pub prefix: String,
    /// [`crate::Role`] as text.
    pub role: String,
    /// Optional project scope.
    pub project: Option<String>,
    /// Optional agent scope.
    pub agent: Option<String>,
    /// [`crate::KeyStatus`] as text.
    pub status: String,
    /// Successful authentications.
    pub usage_count: i64,
    /// Last successful authentication.
    pub last_used_at: Option<NaiveDateTime>,
    /// After this instant the key is refused.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation instant.
    pub created_at: NaiveDateTime,
    /// When it was revoked.
    pub revoked_at: Option<NaiveDateTime>,
}

/// A new API key.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    /// `key_…`.
    pub public_id: &'a str,
    /// Owner.
    pub user_id: i64,
    /// Label.
    pub name: &'a str,
    /// SHA-256 hex.
    pub key_hash: &'a str,
    /// Display prefix.
    pub prefix: &'a str,
    /// Role text.
    pub role: &'a str,
    /// Project scope.
    pub project: Option<&'a str>,
    /// Agent scope.
    pub agent: Option<&'a str>,
    /// Status text.
    pub status: &'a str,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation instant.
    pub created_at: NaiveDateTime,
}

/// A stored `Idempotency-Key` record.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRecord {
    /// Internal key.
    pub id: i64,
    /// Whose key (a user public id).
    pub owner: String,
    /// The client's `Idempotency-Key`.
    pub idem_key: String,
    /// HTTP method of the first request.
    pub method: String,
    /// Path of the first request.
    pub path: String,
    /// SHA-256 over method, path and body.
    pub fingerprint: String,
    /// [`crate::IdempotencyState`] as text.
    pub state: String,
    /// Stored response status.
    pub response_status: Option<i32>,
    /// Stored response content type.
    pub response_content_type: Option<String>,
    /// Stored response body, byte for byte.
    pub response_body: Option<Vec<u8>>,
    /// When the current attempt took the key.
    pub locked_at: NaiveDateTime,
    /// First seen.
    pub created_at: NaiveDateTime,
    /// Replay ends here.
    pub expires_at: NaiveDateTime,
}

/// A new idempotency record, taken in flight.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct NewIdempotencyRecord<'a> {
    /// Owner.
    pub owner: &'a str,
    /// Client key.
    pub idem_key: &'a str,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Fingerprint.
    pub fingerprint: &'a str,
    /// `in_flight`.
    pub state: &'a str,
    /// Lock instant.
    pub locked_at: NaiveDateTime,
    /// Creation instant.
    pub created_at: NaiveDateTime,
    /// Expiry.
    pub expires_at: NaiveDateTime,
}

/// One audit event, chained or not yet.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Insertion order (not chain order).
    pub id: i64,
    /// `evt_…`.
    pub event_id: String,
    /// When it happened (UTC).
    pub occurred_at: NaiveDateTime,
    /// [`crate::ActorType`] as text.
    pub actor_type: String,
    /// Actor's public id.
    pub actor_id: Option<String>,
    /// Dotted action, e.g. `api_key.created`.
    pub action: String,
    /// Kind of subject, e.g. `api_key`.
    pub subject_type: String,
    /// Subject's public id.
    pub subject_id: Option<String>,
    /// `X-Request-Id` of the HTTP request.
    pub request_id: Option<String>,
    /// Canonical JSON, personal data masked.
    pub details: String,
    /// [`crate::AuditResult`] as text.
    pub result: String,
    /// Position in the hash chain, once linked.
    pub seq: Option<i64>,
    /// Hash of the previous event in the chain.
    pub prev_hash: Option<String>,
    /// SHA-256 over the canonical event and `prev_hash`.
    pub hash: Option<String>,
}

/// A new audit event (linked into the chain later by the chainer).
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    /// `evt_…`.
    pub event_id: &'a str,
    /// When.
    pub occurred_at: NaiveDateTime,
    /// Actor type text.
    pub actor_type: &'a str,
    /// Actor id.
    pub actor_id: Option<&'a str>,
    /// Action.
    pub action: &'a str,
    /// Subject type.
    pub subject_type: &'a str,
    /// Subject id.
    pub subject_id: Option<&'a str>,
    /// Request id.
    pub request_id: Option<&'a str>,
    /// Canonical JSON details.
    pub details: &'a str,
    /// Result text.
    pub result: &'a str,
}

/// One money movement of a user's account (micro-USDC).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = ledger_entries)]
pub struct LedgerEntry {
    /// Internal key.
    pub id: i64,
    /// `led_…`.
    pub public_id: String,
    /// Account.
    pub user_id: i64,
    /// `deposit`, `reserve`, `release`, `charge`, `refund`, `adjustment`.
    pub kind: String,
    /// Signed change of the balance (reserve/release: of the reserved amount).
    pub amount: i64,
    /// Balance after.
    pub balance_after: i64,
    /// Reserved after.
    pub reserved_after: i64,
    /// What it is for (a request id, a payment reference).
    pub reference: Option<String>,
    /// Note.
    pub note: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// A new ledger entry.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = ledger_entries)]
pub struct NewLedgerEntry {
    /// `led_…`.
    pub public_id: String,
    /// Account.
    pub user_id: i64,
    /// Kind text.
    pub kind: String,
    /// Signed amount.
    pub amount: i64,
    /// Balance after.
    pub balance_after: i64,
    /// Reserved after.
    pub reserved_after: i64,
    /// Reference.
    pub reference: Option<String>,
    /// Note.
    pub note: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// A gateway project of a user.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::projects)]
pub struct Project {
    /// Internal key.
    pub id: i64,
    /// `prj_…`.
    pub public_id: String,
    /// Owner.
    pub user_id: i64,
    /// Name, unique per user.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// An agent of a project ("known agents").
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::agents)]
pub struct Agent {
    /// Internal key.
    pub id: i64,
    /// `agt_…`.
    pub public_id: String,
    /// Project.
    pub project_id: i64,
    /// Name, unique per project.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation.
    pub created_at: NaiveDateTime,
}
