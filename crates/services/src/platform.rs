//! The platform as a customer of its own gateway: the platform user (`platform@steward.local`)
//! and its project `booking-desk`, which pays for the booking agent's model calls (SPEC §10.3), so
//! they are budgeted, policed and audited like any other agent's.

use models::ids::public_id;
use models::rows::User;
use models::Role;
use repositories::{gateway::projects as project_repo, users as user_repo};

use crate::audit::AuditContext;
use crate::{with_conn, Principal, ServiceError};

/// The platform user's email.
pub const PLATFORM_EMAIL: &str = "platform@steward.local";
/// The platform project's name.
pub const BOOKING_DESK: &str = "booking-desk";

/// The platform user and its `booking-desk` project, created when missing (`steward migrate`).
/// Returns `(user, project public id)`.
pub async fn ensure(db: &repositories::Db) -> Result<(User, String), ServiceError> {
    let user =
        crate::users::ensure(db, AuditContext::system(), "Steward Platform", PLATFORM_EMAIL, Role::Member)
            .await?;
    let user_id = user.id;
    let project = crate::gateway::in_tx_uncached(db, move |conn| {
        if let Some(p) = project_repo::by_name(conn, user_id, BOOKING_DESK)? {
            return Ok(p.public_id);
        }
        let p = project_repo::insert(
            conn,
            &public_id("prj"),
            user_id,
            BOOKING_DESK,
            "The booking agent's model calls",
            models::time::now(),
        )?;
        crate::audit::record_success(
            conn,
            &AuditContext::system(),
            "project.created",
            "project",
            &p.public_id,
            serde_json::json!({"name": BOOKING_DESK, "owner": "platform"}),
        )?;
        Ok(p.public_id)
    })
    .await?;
    Ok((user, project))
}

/// Who pays for calls of `project`: `booking-desk` (the platform project) or a `prj_…` id, as
/// its owner scoped to it.
pub async fn payer(db: &repositories::Db, project: &str) -> Result<Principal, ServiceError> {
    let project = project.trim().to_string();
    with_conn(db, move |conn| {
        let p = if project.starts_with("prj_") {
            project_repo::by_public_id(conn, &project).map_err(|e| match e {
                repositories::RepoError::NotFound => ServiceError::NotFound("project"),
                other => other.into(),
            })?
        } else {
            let owner =
                user_repo::by_email(conn, PLATFORM_EMAIL)?.ok_or(ServiceError::NotFound("platform user"))?;
            project_repo::by_name(conn, owner.id, &project)?.ok_or(ServiceError::NotFound("project"))?
        };
        let owner = user_repo::by_id(conn, p.user_id)?;
        Ok(Principal::service(owner.id, owner.public_id, p.public_id))
    })
    .await
}
