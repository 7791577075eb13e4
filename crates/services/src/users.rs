//! Platform users: created and changed by admins, every change audited.

use models::ids::{prefix, public_id};
use models::rows::{NewUser, User};
use models::{AuditResult, Role, UserStatus};
use repositories::users::{self as repo, UserChanges};
use repositories::{Db, DbConnection, Page, RepoError};
use serde_json::{json, Map, Value};

use crate::audit::{self, AuditContext, Entry};
use crate::{in_tx, with_conn, FieldError, Principal, ServiceError};

/// A new user.
#[derive(Clone, Debug)]
pub struct CreateUser {
    /// Display name, 1–100 characters.
    pub name: String,
    /// Email, unique (compared lower-case).
    pub email: String,
    /// Role.
    pub role: Role,
    /// Status (default active).
    pub status: Option<UserStatus>,
}

/// Changes to a user.
#[derive(Clone, Debug, Default)]
pub struct UpdateUser {
    /// New name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New status.
    pub status: Option<UserStatus>,
    /// Verified flag (required to spend through the gateway).
    pub verified: Option<bool>,
    /// Tier: `free`, `pro` or `enterprise`.
    pub tier: Option<String>,
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let n = name.trim().chars().count();
    if n == 0 || n > 100 {
        errors.push(FieldError { field: "name".into(), message: "must be 1 to 100 characters".into() });
    }
}

/// Lower-cases and checks an email; `None` if it is not plausible.
pub fn normalise_email(email: &str) -> Option<String> {
    let e = email.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && !domain.contains('@');
    ok.then_some(e)
}

fn email_taken(e: RepoError) -> ServiceError {
    if e.is_unique("email") {
        ServiceError::Conflict {
            code: "EMAIL_TAKEN",
            message: "a user with this email already exists".into(),
        }
    } else {
        e.into()
    }
}

/// Creates a user (admin only), audited.
pub async fn create(
    db: &Db,
    ctx: AuditContext,
    caller: &Principal,
    req: CreateUser,
) -> Result<User, ServiceError> {
    caller.require_admin()?;
    let mut errors = Vec::new();
    check_name(&req.name, &mut errors);
    let email = normalise_email(&req.email);
    if email.is_none() {
        errors.push(FieldError { field: "email".into(), message: "must be a valid email address".into() });
    }
    let (Some(email), true) = (email, errors.is_empty()) else {
        return Err(ServiceError::Validation(errors));
    };
    let status = req.status.unwrap_or(UserStatus::Active);
    in_tx(db, move |conn| {
        insert_audited(conn, &ctx, req.name.trim(), &email, req.role, status).map_err(email_taken)
    })
    .await
}

/// Inserts a user and its `user.created` event in the caller's transaction.
fn insert_audited(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    name: &str,
    email: &str,
    role: Role,
    status: UserStatus,
) -> Result<User, RepoError> {
    let now = models::time::now();
    let id = public_id(prefix::USER);
    let user = repo::insert(
        conn,
        &NewUser {
            public_id: &id,
            name,
            email,
            role: role.as_str(),
            status: status.as_str(),
            created_at: now,
            updated_at: now,
        },
    )?;
    audit::record(
        conn,
        ctx,
        Entry {
            action: "user.created",
            subject_type: "user",
            subject_id: Some(&user.public_id),
            details: json!({ "name": user.name, "email": user.email, "role": user.role, "status": user.status }),
            result: AuditResult::Success,
        },
    )?;
    Ok(user)
}

/// Finds the user with this email, or creates it (CLI and demo seeding), audited on creation.
pub async fn ensure(
    db: &Db,
    ctx: AuditContext,
    name: &str,
    email: &str,
    role: Role,
) -> Result<User, ServiceError> {
    let email = normalise_email(email)
        .ok_or_else(|| ServiceError::invalid("email", "must be a valid email address"))?;
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(ServiceError::invalid("name", "must not be empty"));
    }
    in_tx(db, move |conn| {
        if let Some(user) = repo::by_email(conn, &email)? {
            return Ok(user);
        }
        Ok(insert_audited(conn, &ctx, &name, &email, role, UserStatus::Active)?)
    })
    .await
}

/// Lists users, newest first (admin only).
pub async fn list(
    db: &Db,
    caller: &Principal,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<User>, ServiceError> {
    caller.require_admin()?;
    with_conn(db, move |conn| Ok(repo::list(conn, Page { limit, before })?)).await
}

/// One user: admins see anyone, others only themselves.
pub async fn get(db: &Db, caller: &Principal, public_id: String) -> Result<User, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let user = repo::by_public_id(conn, &public_id).map_err(|_| ServiceError::NotFound("user"))?;
        if user.id != caller.user_id && !caller.is_admin() {
            return Err(ServiceError::NotFound("user"));
        }
        Ok(user)
    })
    .await
}

/// Changes a user (admin only), audited with the fields that changed. Admins cannot change their
/// own role or status (so the last admin cannot lock everyone out by accident).
pub async fn update(
    db: &Db,
    ctx: AuditContext,
    caller: &Principal,
    public_id: String,
    req: UpdateUser,
) -> Result<User, ServiceError> {
    caller.require_admin()?;
    let mut errors = Vec::new();
    if let Some(name) = &req.name {
        check_name(name, &mut errors);
    }
    if req.name.is_none()
        && req.role.is_none()
        && req.status.is_none()
        && req.verified.is_none()
        && req.tier.is_none()
    {
        errors.push(FieldError {
            field: "body".into(),
            message: "give at least one of name, role, status, verified, tier".into(),
        });
    }
    if req.tier.as_deref().is_some_and(|t| !["free", "pro", "enterprise"].contains(&t)) {
        errors.push(FieldError { field: "tier".into(), message: "must be free, pro or enterprise".into() });
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let caller = caller.clone();
    let updated = in_tx(db, move |conn| {
        let before = repo::by_public_id(conn, &public_id).map_err(|_| ServiceError::NotFound("user"))?;
        if before.id == caller.user_id && (req.role.is_some() || req.status.is_some()) {
            return Err(ServiceError::Forbidden("admins cannot change their own role or status".into()));
        }
        let changes = UserChanges {
            name: req.name.as_ref().map(|n| n.trim().to_string()),
            role: req.role.map(|r| r.as_str().to_string()),
            status: req.status.map(|s| s.as_str().to_string()),
            verified: req.verified,
            tier: req.tier.clone(),
            updated_at: Some(models::time::now()),
        };
        let after = repo::update(conn, before.id, &changes)?;
        let mut changed = Map::new();
        let (old_verified, new_verified) = (before.verified.to_string(), after.verified.to_string());
        for (field, old, new) in [
            ("name", &before.name, &after.name),
            ("role", &before.role, &after.role),
            ("status", &before.status, &after.status),
            ("verified", &old_verified, &new_verified),
            ("tier", &before.tier, &after.tier),
        ] {
            if old != new {
                changed.insert(field.into(), json!({ "from": old, "to": new }));
            }
        }
        audit::record(
            conn,
            &ctx,
            Entry {
                action: "user.updated",
                subject_type: "user",
                subject_id: Some(&after.public_id),
                details: json!({ "changes": Value::Object(changed) }),
                result: AuditResult::Success,
            },
        )?;
        Ok(after)
    })
    .await;
    // A status change decides whether the user's keys authenticate.
    db.key_cache().clear();
    updated
}

#[cfg(test)]
mod tests {
    use super::normalise_email;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalise_email(" Ali@Example.COM ").as_deref(), Some("ali@example.com"));
        for bad in ["", "ali", "ali@", "@x.com", "ali@x", "a b@x.com", "a@b@c.com", "a@.com"] {
            assert_eq!(normalise_email(bad), None, "{bad}");
        }
    }
}
