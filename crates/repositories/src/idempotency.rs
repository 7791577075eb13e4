//! Stored `Idempotency-Key` records. The unique `(owner, idem_key)` index decides which of two
//! concurrent requests runs; the other sees the record.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows::{IdempotencyRecord, NewIdempotencyRecord};
use models::schema::idempotency_keys;
use models::IdempotencyState;

use crate::{DbConnection, RepoError};

/// Tries to take the key. `Ok(None)` when this call inserted it; `Ok(Some(existing))` when a
/// record already exists (expired records are removed first and do not count).
pub fn claim(
    conn: &mut DbConnection,
    new: &NewIdempotencyRecord<'_>,
    now: NaiveDateTime,
) -> Result<Option<IdempotencyRecord>, RepoError> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::owner.eq(new.owner))
            .filter(idempotency_keys::idem_key.eq(new.idem_key))
            .filter(idempotency_keys::expires_at.le(now)),
    )
    .execute(conn)?;
    match diesel::insert_into(idempotency_keys::table).values(new).execute(conn) {
        Ok(_) => Ok(None),
        Err(e) => match RepoError::from(e) {
            RepoError::UniqueViolation { .. } => Ok(Some(get(conn, new.owner, new.idem_key)?)),
            other => Err(other),
        },
    }
}

/// The record for this owner and key.
pub fn get(conn: &mut DbConnection, owner: &str, key: &str) -> Result<IdempotencyRecord, RepoError> {
    Ok(idempotency_keys::table
        .filter(idempotency_keys::owner.eq(owner))
        .filter(idempotency_keys::idem_key.eq(key))
        .select(IdempotencyRecord::as_select())
        .first(conn)?)
}

/// Takes over an abandoned in-flight record (compare-and-swap on `locked_at`).
pub fn take_over(
    conn: &mut DbConnection,
    id: i64,
    seen_locked_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(
        idempotency_keys::table
            .find(id)
            .filter(idempotency_keys::state.eq(IdempotencyState::InFlight.as_str()))
            .filter(idempotency_keys::locked_at.eq(seen_locked_at)),
    )
    .set(idempotency_keys::locked_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Stores the response and marks the record completed.
pub fn complete(
    conn: &mut DbConnection,
    id: i64,
    status: i32,
    content_type: &str,
    body: &[u8],
) -> Result<(), RepoError> {
    diesel::update(idempotency_keys::table.find(id))
        .set((
            idempotency_keys::state.eq(IdempotencyState::Completed.as_str()),
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_content_type.eq(content_type),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets an in-flight record (the request failed before producing a result worth replaying).
pub fn release(conn: &mut DbConnection, id: i64) -> Result<(), RepoError> {
    diesel::delete(
        idempotency_keys::table
            .find(id)
            .filter(idempotency_keys::state.eq(IdempotencyState::InFlight.as_str())),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes expired records; returns how many.
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, RepoError> {
    Ok(diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now))).execute(conn)?)
}
