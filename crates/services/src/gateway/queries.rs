//! Reading requests and their payments, as their owners, reviewers and admins may see them.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use models::rows_spend::{AiRequest, RequestPayment};
use repositories::{gateway::projects as project_repo, gateway::requests as repo, DbConnection, Page};

use super::*;
use crate::{with_conn, Principal, ServiceError};

/// The request if the caller owns it or is an admin; 404 otherwise.
pub(super) fn visible(
    conn: &mut DbConnection,
    caller: &Principal,
    id: &str,
) -> Result<AiRequest, ServiceError> {
    match repo::by_public_id(conn, id) {
        Ok(r) if r.user_id == caller.user_id || caller.is_admin() => Ok(r),
        Ok(_) | Err(repositories::RepoError::NotFound) => Err(ServiceError::NotFound("request")),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn records(
    conn: &mut DbConnection,
    rows: Vec<AiRequest>,
) -> Result<Vec<RequestRecord>, ServiceError> {
    let project_ids: Vec<i64> = rows.iter().map(|r| r.project_id).collect();
    let agent_ids: Vec<i64> = rows.iter().filter_map(|r| r.agent_id).collect();
    let projects = repo::project_public_ids(conn, &project_ids)?;
    let agents: HashMap<i64, String> = repo::agent_public_ids(conn, &agent_ids)?;
    rows.into_iter()
        .map(|request| {
            Ok(RequestRecord {
                project: projects.get(&request.project_id).cloned().unwrap_or_default(),
                agent: request.agent_id.and_then(|a| agents.get(&a).cloned()),
                payment: repo::payment_of(conn, request.id)?,
                request,
            })
        })
        .collect()
}

/// List filters as the API receives them (public ids).
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// `prj_…`.
    pub project: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Outcome.
    pub outcome: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// Created at or after.
    pub from: Option<NaiveDateTime>,
    /// Created before.
    pub to: Option<NaiveDateTime>,
}

pub(super) fn to_repo_filter(
    conn: &mut DbConnection,
    caller: &Principal,
    f: ListFilter,
) -> Result<Option<repo::RequestFilter>, ServiceError> {
    let project_id = match &f.project {
        None => None,
        Some(p) => match project_repo::by_public_id(conn, p) {
            Ok(p) if p.user_id == caller.user_id || caller.is_admin() => Some(p.id),
            Ok(_) | Err(repositories::RepoError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(Some(repo::RequestFilter {
        user_id: (!caller.is_admin()).then_some(caller.user_id),
        project_id,
        status: f.status,
        outcome: f.outcome,
        provider: f.provider,
        from: f.from,
        to: f.to,
    }))
}

/// The caller's requests (admins: everyone's), newest first.
pub async fn list(
    db: &repositories::Db,
    caller: &Principal,
    filter: ListFilter,
    page: Page,
) -> Result<Vec<RequestRecord>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let Some(f) = to_repo_filter(conn, &caller, filter)? else { return Ok(Vec::new()) };
        let rows = repo::list(conn, &f, page)?;
        records(conn, rows)
    })
    .await
}

/// One request with its audit trail (oldest event first).
pub async fn get(
    db: &repositories::Db,
    caller: &Principal,
    id: String,
) -> Result<(RequestRecord, Vec<models::rows::AuditEvent>), ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let row = visible(conn, &caller, &id)?;
        let filter = repositories::audit::AuditFilter {
            subject_type: Some("request".into()),
            subject_id: Some(row.public_id.clone()),
            ..Default::default()
        };
        let mut trail = repositories::audit::list(conn, &filter, Page { limit: 200, before: None })?;
        trail.reverse();
        Ok((records(conn, vec![row])?.remove(0), trail))
    })
    .await
}

/// Payments of AI requests (the caller's; admins: everyone's), with each one's `req_…`.
pub async fn payments(
    db: &repositories::Db,
    caller: &Principal,
    status: Option<String>,
    page: Page,
) -> Result<Vec<(RequestPayment, String)>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let user = (!caller.is_admin()).then_some(caller.user_id);
        let rows = repo::payments(conn, user, status.as_deref(), page)?;
        rows.into_iter()
            .map(|p| {
                let req = repo::request_public_id(conn, p.request_id)?;
                Ok((p, req))
            })
            .collect()
    })
    .await
}

/// One payment (its payer or an admin).
pub async fn payment(
    db: &repositories::Db,
    caller: &Principal,
    id: String,
) -> Result<(RequestPayment, String), ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = match repo::payment_by_public_id(conn, &id) {
            Ok(p) if p.user_id == caller.user_id || caller.is_admin() => p,
            Ok(_) | Err(repositories::RepoError::NotFound) => return Err(ServiceError::NotFound("payment")),
            Err(e) => return Err(e.into()),
        };
        let req = repo::request_public_id(conn, p.request_id)?;
        Ok((p, req))
    })
    .await
}
