//! Gateway projects, their agents, budgets and policies, and the system policy.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows::{Agent, Project};
use models::schema::{agents, project_budgets, project_policies, projects, system_policy};

use crate::{DbConnection, Page, RepoError};

/// Inserts a project; a unique violation means the user already has one of that name.
pub fn insert(
    conn: &mut DbConnection,
    public_id: &str,
    user_id: i64,
    name: &str,
    description: &str,
    now: NaiveDateTime,
) -> Result<Project, RepoError> {
    diesel::insert_into(projects::table)
        .values((
            projects::public_id.eq(public_id),
            projects::user_id.eq(user_id),
            projects::name.eq(name),
            projects::description.eq(description),
            projects::created_at.eq(now),
            projects::updated_at.eq(now),
        ))
        .execute(conn)?;
    by_public_id(conn, public_id)
}

/// The project with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<Project, RepoError> {
    Ok(projects::table.filter(projects::public_id.eq(public_id)).select(Project::as_select()).first(conn)?)
}

/// A user's project by name.
pub fn by_name(conn: &mut DbConnection, user_id: i64, name: &str) -> Result<Option<Project>, RepoError> {
    Ok(projects::table
        .filter(projects::user_id.eq(user_id))
        .filter(projects::name.eq(name))
        .select(Project::as_select())
        .first(conn)
        .optional()?)
}

/// Projects of one user (or everyone's with `None`), newest first.
pub fn list(conn: &mut DbConnection, user_id: Option<i64>, page: Page) -> Result<Vec<Project>, RepoError> {
    let mut q = projects::table
        .select(Project::as_select())
        .order(projects::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(u) = user_id {
        q = q.filter(projects::user_id.eq(u));
    }
    if let Some(before) = page.before {
        q = q.filter(projects::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// Renames or re-describes a project.
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    if let Some(n) = name {
        diesel::update(projects::table.find(id)).set(projects::name.eq(n)).execute(conn)?;
    }
    if let Some(d) = description {
        diesel::update(projects::table.find(id)).set(projects::description.eq(d)).execute(conn)?;
    }
    diesel::update(projects::table.find(id)).set(projects::updated_at.eq(now)).execute(conn)?;
    Ok(())
}

/// Inserts an agent; a unique violation means the project already has one of that name.
pub fn insert_agent(
    conn: &mut DbConnection,
    public_id: &str,
    project_id: i64,
    name: &str,
    description: &str,
    now: NaiveDateTime,
) -> Result<Agent, RepoError> {
    diesel::insert_into(agents::table)
        .values((
            agents::public_id.eq(public_id),
            agents::project_id.eq(project_id),
            agents::name.eq(name),
            agents::description.eq(description),
            agents::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(agents::table.filter(agents::public_id.eq(public_id)).select(Agent::as_select()).first(conn)?)
}

/// A project's agents, by name.
pub fn agents_of(conn: &mut DbConnection, project_id: i64) -> Result<Vec<Agent>, RepoError> {
    Ok(agents::table
        .filter(agents::project_id.eq(project_id))
        .order(agents::name.asc())
        .select(Agent::as_select())
        .load(conn)?)
}

/// A project's stored budget limits `(per_request, daily, monthly)`, if set.
pub fn budget(conn: &mut DbConnection, project_id: i64) -> Result<Option<(i64, i64, i64)>, RepoError> {
    Ok(project_budgets::table
        .find(project_id)
        .select((project_budgets::per_request, project_budgets::daily, project_budgets::monthly))
        .first(conn)
        .optional()?)
}

/// Sets a project's budget limits.
pub fn set_budget(
    conn: &mut DbConnection,
    project_id: i64,
    limits: (i64, i64, i64),
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    let (per_request, daily, monthly) = limits;
    let n = diesel::update(project_budgets::table.find(project_id))
        .set((
            project_budgets::per_request.eq(per_request),
            project_budgets::daily.eq(daily),
            project_budgets::monthly.eq(monthly),
            project_budgets::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(project_budgets::table)
            .values((
                project_budgets::project_id.eq(project_id),
                project_budgets::per_request.eq(per_request),
                project_budgets::daily.eq(daily),
                project_budgets::monthly.eq(monthly),
                project_budgets::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A project's stored policy document, if set.
pub fn policy(conn: &mut DbConnection, project_id: i64) -> Result<Option<String>, RepoError> {
    Ok(project_policies::table.find(project_id).select(project_policies::document).first(conn).optional()?)
}

/// Sets a project's policy document.
pub fn set_policy(
    conn: &mut DbConnection,
    project_id: i64,
    document: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    let n = diesel::update(project_policies::table.find(project_id))
        .set((project_policies::document.eq(document), project_policies::updated_at.eq(now)))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(project_policies::table)
            .values((
                project_policies::project_id.eq(project_id),
                project_policies::document.eq(document),
                project_policies::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The stored system policy document, if set.
pub fn system_policy(conn: &mut DbConnection) -> Result<Option<String>, RepoError> {
    Ok(system_policy::table.find(1).select(system_policy::document).first(conn).optional()?)
}

/// Sets the system policy document.
pub fn set_system_policy(
    conn: &mut DbConnection,
    document: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    let n = diesel::update(system_policy::table.find(1))
        .set((system_policy::document.eq(document), system_policy::updated_at.eq(now)))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(system_policy::table)
            .values((
                system_policy::id.eq(1),
                system_policy::document.eq(document),
                system_policy::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The agent with this public id.
pub fn agent_by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<Agent, RepoError> {
    Ok(agents::table.filter(agents::public_id.eq(public_id)).select(Agent::as_select()).first(conn)?)
}

/// The project with this internal id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<Project, RepoError> {
    Ok(projects::table.find(id).select(Project::as_select()).first(conn)?)
}
