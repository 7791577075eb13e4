//! Readiness: the database answers and its schema is current.

use std::time::Duration;

use repositories::{migrations, Backend, Db, RepoError};

use crate::ServiceError;

/// The database is reachable and migrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Backend in use.
    pub backend: Backend,
}

/// Checks readiness within about two seconds; `Unavailable` names what is wrong.
pub async fn readiness(db: &Db) -> Result<Ready, ServiceError> {
    let pool = db.clone();
    db.run_blocking(move || {
        let mut conn = pool
            .conn_within(Duration::from_secs(2))
            .map_err(|e| ServiceError::Unavailable(format!("database unreachable: {e}")))?;
        let pending = migrations::pending(&mut conn).map_err(|e| match e {
            RepoError::Migration(m) => ServiceError::Unavailable(format!("cannot read migrations: {m}")),
            other => ServiceError::Unavailable(other.to_string()),
        })?;
        if !pending.is_empty() {
            return Err(ServiceError::Unavailable(format!("migrations pending: {}", pending.join(", "))));
        }
        Ok(Ready { backend: pool.backend() })
    })
    .await
}
