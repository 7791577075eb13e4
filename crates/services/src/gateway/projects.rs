//! Gateway projects (a user's own), their agents, budgets and policies, and the system policy.
//! Every change is audited in its transaction.

use crate::gateway::in_tx_uncached;
use chrono::NaiveDateTime;
use models::ids::public_id;
use models::rows::{Agent, Project};
use models::AuditResult;
use repositories::{gateway::projects as repo, DbConnection, Page, RepoError};
use serde_json::json;

use crate::audit::{self, AuditContext, Entry};
use crate::gateway::decide::{policy_check, Budget, Operation, Policy, Reason, SystemPolicy};
use crate::{in_tx, with_conn, FieldError, Principal, ServiceError};

fn check_name(name: &str) -> Result<String, ServiceError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(ServiceError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(n.to_string())
}

fn check_description(d: Option<&str>) -> Result<(), ServiceError> {
    if d.is_some_and(|d| d.chars().count() > 1000) {
        return Err(ServiceError::invalid("description", "must be at most 1000 characters"));
    }
    Ok(())
}

/// The project if the caller owns it (or is an admin); 404 otherwise.
pub(crate) fn owned(conn: &mut DbConnection, caller: &Principal, id: &str) -> Result<Project, ServiceError> {
    let p = repo::by_public_id(conn, id).map_err(|e| match e {
        RepoError::NotFound => ServiceError::NotFound("project"),
        other => other.into(),
    })?;
    if p.user_id != caller.user_id && !caller.is_admin() {
        return Err(ServiceError::NotFound("project"));
    }
    Ok(p)
}

/// Creates a project owned by the caller.
pub async fn create(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    name: String,
    description: Option<String>,
    now: NaiveDateTime,
) -> Result<Project, ServiceError> {
    let name = check_name(&name)?;
    check_description(description.as_deref())?;
    let user_id = caller.user_id;
    in_tx_uncached(db, move |conn| {
        let p =
            repo::insert(conn, &public_id("prj"), user_id, &name, description.as_deref().unwrap_or(""), now)
                .map_err(|e| match e {
                    RepoError::UniqueViolation { .. } => ServiceError::conflict(
                        "PROJECT_NAME_TAKEN",
                        "you already have a project with this name",
                    ),
                    other => other.into(),
                })?;
        audit::record_success(
            conn,
            &ctx,
            "project.created",
            "project",
            &p.public_id,
            json!({"name": p.name}),
        )?;
        Ok(p)
    })
    .await
}

/// The caller's projects (admins: everyone's), newest first.
pub async fn list(
    db: &repositories::Db,
    caller: &Principal,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<Project>, ServiceError> {
    let owner = (!caller.is_admin()).then_some(caller.user_id);
    with_conn(db, move |conn| Ok(repo::list(conn, owner, Page { limit, before })?)).await
}

/// One project (its owner or an admin).
pub async fn get(db: &repositories::Db, caller: &Principal, id: String) -> Result<Project, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| owned(conn, &caller, &id)).await
}

/// Renames or re-describes a project.
pub async fn update(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    id: String,
    name: Option<String>,
    description: Option<String>,
    now: NaiveDateTime,
) -> Result<Project, ServiceError> {
    let name = name.map(|n| check_name(&n)).transpose()?;
    check_description(description.as_deref())?;
    if name.is_none() && description.is_none() {
        return Err(ServiceError::invalid("body", "give name or description"));
    }
    let caller = caller.clone();
    in_tx(db, move |conn| {
        let p = owned(conn, &caller, &id)?;
        repo::update(conn, p.id, name.as_deref(), description.as_deref(), now).map_err(|e| match e {
            RepoError::UniqueViolation { .. } => {
                ServiceError::conflict("PROJECT_NAME_TAKEN", "you already have a project with this name")
            }
            other => other.into(),
        })?;
        let after = repo::by_public_id(conn, &p.public_id)?;
        audit::record_success(
            conn,
            &ctx,
            "project.updated",
            "project",
            &after.public_id,
            json!({"name": after.name}),
        )?;
        Ok(after)
    })
    .await
}

/// Adds a known agent to a project.
pub async fn create_agent(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    project: String,
    name: String,
    description: Option<String>,
    now: NaiveDateTime,
) -> Result<Agent, ServiceError> {
    let name = check_name(&name)?;
    check_description(description.as_deref())?;
    let caller = caller.clone();
    in_tx(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        let a = repo::insert_agent(
            conn,
            &public_id("agt"),
            p.id,
            &name,
            description.as_deref().unwrap_or(""),
            now,
        )
        .map_err(|e| match e {
            RepoError::UniqueViolation { .. } => {
                ServiceError::conflict("AGENT_NAME_TAKEN", "this project already has an agent with this name")
            }
            other => other.into(),
        })?;
        audit::record_success(
            conn,
            &ctx,
            "agent.created",
            "project",
            &p.public_id,
            json!({"agent": a.public_id, "name": a.name}),
        )?;
        Ok(a)
    })
    .await
}

/// A project's agents.
pub async fn agents(
    db: &repositories::Db,
    caller: &Principal,
    project: String,
) -> Result<Vec<Agent>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        Ok(repo::agents_of(conn, p.id)?)
    })
    .await
}

/// Budget limits `(per_request, daily, monthly)` in micro-USDC; the SPEC defaults until set.
pub async fn budget(
    db: &repositories::Db,
    caller: &Principal,
    project: String,
) -> Result<(i64, i64, i64), ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        let d = Budget::default();
        Ok(repo::budget(conn, p.id)?.unwrap_or((d.per_request, d.daily, d.monthly)))
    })
    .await
}

/// Sets budget limits: each positive, and per-request ≤ daily ≤ monthly.
pub async fn set_budget(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    project: String,
    limits: (i64, i64, i64),
    now: NaiveDateTime,
) -> Result<(i64, i64, i64), ServiceError> {
    let (per_request, daily, monthly) = limits;
    let mut errors = Vec::new();
    for (field, v) in [("per_request", per_request), ("daily", daily), ("monthly", monthly)] {
        if v <= 0 {
            errors.push(FieldError { field: field.into(), message: "must be positive (micro-USDC)".into() });
        }
    }
    if per_request > daily || daily > monthly {
        errors.push(FieldError {
            field: "daily".into(),
            message: "limits must satisfy per_request ≤ daily ≤ monthly".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let caller = caller.clone();
    in_tx(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        repo::set_budget(conn, p.id, limits, now)?;
        audit::record_success(
            conn,
            &ctx,
            "budget.updated",
            "project",
            &p.public_id,
            json!({"per_request": per_request, "daily": daily, "monthly": monthly}),
        )?;
        Ok(limits)
    })
    .await
}

pub(crate) fn parse_policy(document: Option<String>) -> Policy {
    document.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default()
}

/// A project's policy; the strict default (nothing allowed) until set.
pub async fn policy(
    db: &repositories::Db,
    caller: &Principal,
    project: String,
) -> Result<Policy, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        Ok(parse_policy(repo::policy(conn, p.id)?))
    })
    .await
}

/// Replaces a project's policy.
pub async fn set_policy(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    project: String,
    policy: Policy,
    now: NaiveDateTime,
) -> Result<Policy, ServiceError> {
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(ServiceError::Validation(problems));
    }
    let caller = caller.clone();
    in_tx(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        let doc = serde_json::to_string(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
        repo::set_policy(conn, p.id, &doc, now)?;
        audit::record_success(
            conn,
            &ctx,
            "policy.updated",
            "project",
            &p.public_id,
            serde_json::to_value(&policy).unwrap_or_default(),
        )?;
        Ok(policy)
    })
    .await
}

/// Would the system and the project allow this provider, model and operation? `Err` names the
/// rejection code and why.
pub async fn validate(
    db: &repositories::Db,
    caller: &Principal,
    project: String,
    provider: String,
    model: String,
    operation: Operation,
) -> Result<Result<(), (Reason, String)>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        let policy = parse_policy(repo::policy(conn, p.id)?);
        let system = parse_system(repo::system_policy(conn)?);
        Ok(policy_check(&system, &policy, provider.trim(), model.trim(), operation))
    })
    .await
}

pub(crate) fn parse_system(document: Option<String>) -> SystemPolicy {
    document.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default()
}

/// The system policy (defaults until set).
pub async fn system_policy(db: &repositories::Db, caller: &Principal) -> Result<SystemPolicy, ServiceError> {
    caller.require_admin()?;
    with_conn(db, |conn| Ok(parse_system(repo::system_policy(conn)?))).await
}

/// Replaces the system policy (admins).
pub async fn set_system_policy(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    policy: SystemPolicy,
    now: NaiveDateTime,
) -> Result<SystemPolicy, ServiceError> {
    caller.require_admin()?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(ServiceError::Validation(problems));
    }
    in_tx(db, move |conn| {
        let doc = serde_json::to_string(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
        repo::set_system_policy(conn, &doc, now)?;
        audit::record(
            conn,
            &ctx,
            Entry {
                action: "system_policy.updated",
                subject_type: "system_policy",
                subject_id: None,
                details: serde_json::to_value(&policy).unwrap_or_default(),
                result: AuditResult::Success,
            },
        )?;
        Ok(policy)
    })
    .await
}

/// `GET /projects/{id}/budget/status`: limits, what is used, what is left.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BudgetStatus {
    /// Per-request limit.
    pub per_request: i64,
    /// Daily limit.
    pub daily: i64,
    /// Monthly limit.
    pub monthly: i64,
    /// Charged today (UTC).
    pub spent_today: i64,
    /// Charged this month (UTC).
    pub spent_month: i64,
    /// Reserved by requests still running.
    pub reserved: i64,
    /// Daily limit − used (spent + reserved) today, never negative.
    pub remaining_today: i64,
    /// Monthly limit − used this month, never negative.
    pub remaining_month: i64,
    /// `available` (< 75 % used), `low` (≥ 75 %), `critical` (≥ 90 %), `exhausted` (100 %), by
    /// the fuller of the two periods.
    pub status: &'static str,
}

/// The budget's state at `now`.
pub async fn budget_status(
    db: &repositories::Db,
    caller: &Principal,
    project: String,
    now: chrono::NaiveDateTime,
) -> Result<BudgetStatus, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let p = owned(conn, &caller, &project)?;
        let d = Budget::default();
        let (per_request, daily, monthly) =
            repo::budget(conn, p.id)?.unwrap_or((d.per_request, d.daily, d.monthly));
        let day = now.format("%Y-%m-%d").to_string();
        let month = now.format("%Y-%m").to_string();
        let used_today = repositories::gateway::reservations::used(conn, p.id, &day)?;
        let used_month = repositories::gateway::reservations::used(conn, p.id, &month)?;
        let filter = repositories::gateway::requests::RequestFilter {
            project_id: Some(p.id),
            status: Some("executing".into()),
            ..Default::default()
        };
        let running = repositories::gateway::requests::all(conn, &filter)?;
        let reserved_today: i64 = running.iter().filter(|r| r.day == day).map(|r| r.estimated).sum();
        let reserved_month: i64 = running.iter().filter(|r| r.month == month).map(|r| r.estimated).sum();
        let pct = |used: i64, limit: i64| if limit > 0 { used.saturating_mul(100) / limit } else { 100 };
        let fullest = pct(used_today, daily).max(pct(used_month, monthly));
        let status = match fullest {
            p if p >= 100 => "exhausted",
            p if p >= 90 => "critical",
            p if p >= 75 => "low",
            _ => "available",
        };
        Ok(BudgetStatus {
            per_request,
            daily,
            monthly,
            spent_today: used_today - reserved_today,
            spent_month: used_month - reserved_month,
            reserved: reserved_month,
            remaining_today: (daily - used_today).max(0),
            remaining_month: (monthly - used_month).max(0),
            status,
        })
    })
    .await
}
