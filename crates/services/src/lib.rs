//! Steward business logic, and the ports (traits) for the world outside the process
//! ([`ports`]); adapters live in `integrations`.
//!
//! Services are plain async functions over a [`repositories::Db`]; each one that changes state
//! does it in one transaction together with its audit event ([`audit::record`]).

pub mod app;
pub mod audit;
pub mod console;
pub mod conversations;
pub mod desk;
mod error;
pub mod gateway;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod outbox;
pub mod platform;
pub mod ports;
pub mod principal;
pub mod users;
pub mod whatsapp;

pub use app::{Ports, Services};
pub use error::{FieldError, ServiceError};

use repositories::{write_tx, Db, DbConnection};

/// Runs `f` with a pooled connection on the blocking pool (no transaction).
pub(crate) async fn with_conn<T, F>(db: &Db, f: F) -> Result<T, ServiceError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, ServiceError> + Send + 'static,
{
    let pool = db.clone();
    db.run_blocking(move || {
        let mut conn = pool.conn()?;
        let result = f(&mut conn);
        // A lost connection fails this call; it is not handed out again.
        if matches!(result, Err(ServiceError::Unavailable(_))) {
            conn.mark_broken();
        }
        result
    })
    .await
}

/// Runs `f` in one write transaction ([`write_tx`]) on the blocking pool; a commit is counted
/// ([`Db::note_write`]) so caches of reads know their data may have changed.
pub(crate) async fn in_tx<T, F>(db: &Db, f: F) -> Result<T, ServiceError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, ServiceError> + Send + 'static,
{
    let done = with_conn(db, move |conn| write_tx(conn, f)).await;
    if done.is_ok() {
        db.note_write();
    }
    done
}
pub use principal::Principal;

/// Equality of two secrets in time independent of where they differ (their lengths are not
/// secret): webhook verify tokens, CSRF tokens.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Most items a list endpoint returns at once.
pub const MAX_PAGE: i64 = 200;

/// A requested page size: 50 when absent, else `1..=MAX_PAGE` or a validation error on `limit`.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ServiceError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ServiceError::invalid("limit", format!("must be from 1 to {MAX_PAGE}"))),
    }
}

/// Opaque list cursor: the internal id to continue below, encoded so clients treat it as opaque.
pub mod cursor {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use crate::ServiceError;

    /// Encodes an id as a cursor.
    pub fn encode(id: i64) -> String {
        URL_SAFE_NO_PAD.encode(format!("id:{id}"))
    }

    /// Decodes a cursor; a malformed one is a validation error on field `cursor`.
    pub fn decode(cursor: Option<&str>) -> Result<Option<i64>, ServiceError> {
        let Some(c) = cursor.filter(|c| !c.is_empty()) else { return Ok(None) };
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse::<i64>().ok()))
            .map(Some)
            .ok_or_else(|| ServiceError::invalid("cursor", "is not a cursor returned by this API"))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trip_and_reject_garbage() {
            assert_eq!(super::decode(Some(&super::encode(42))).ok(), Some(Some(42)));
            assert!(super::decode(Some("nope")).is_err());
            assert_eq!(super::decode(None).ok(), Some(None));
        }
    }
}
