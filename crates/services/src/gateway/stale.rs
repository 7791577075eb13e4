//! The release of reservations whose request never settled (the `release_reservations` job).

use std::time::Duration;

use chrono::{Duration as Span, NaiveDateTime};
use models::AuditResult;
use repositories::gateway::requests as repo;
use serde_json::json;

use crate::audit::{self, AuditContext, Entry};

use super::*;
use crate::{in_tx, with_conn, ServiceError};

/// Releases the reservations of requests still `executing` after `older_than` (their process
/// died or the call hung): the request becomes `failed`, its payment `cancelled`, nothing is
/// charged. Returns how many were released.
pub async fn release_stale(
    db: &repositories::Db,
    now: NaiveDateTime,
    older_than: Duration,
) -> Result<usize, ServiceError> {
    let bound = now - Span::from_std(older_than).unwrap_or(Span::zero());
    let stale = with_conn(db, move |conn| Ok(repo::stale(conn, bound, 500)?)).await?;
    let mut released = 0;
    for row in stale {
        let done = in_tx(db, move |conn| {
            let error = "abandoned: released after the stale-reservation bound";
            let f = repo::Finish { error: Some(error), ..Default::default() };
            if !repo::finish(conn, row.id, RequestStatus::Failed, &f, now)? {
                return Ok(false);
            }
            settle(conn, &row, 0, 0, PaymentStatus::Cancelled, now)?;
            audit::record(
                conn,
                &AuditContext::system(),
                Entry {
                    action: "request.released",
                    subject_type: "request",
                    subject_id: Some(&row.public_id),
                    details: json!({"released": row.estimated, "reason": "stale"}),
                    result: AuditResult::Failure,
                },
            )?;
            Ok(true)
        })
        .await?;
        released += usize::from(done);
    }
    Ok(released)
}
