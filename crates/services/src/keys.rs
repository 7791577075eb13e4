//! API keys: generation, authentication, creation, listing, revocation.
//!
//! A key is `sk-` + base64url(32 random bytes). Only its SHA-256 is stored; the plaintext is
//! returned once at creation and never logged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use models::ids::{prefix, public_id};
use models::rows::{ApiKey, NewApiKey, User};
use models::{AuditResult, KeyStatus, Role, UserStatus};
use rand::RngCore;
use repositories::{api_keys, gateway::projects, users, Db, DbConnection, Page};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditContext, Entry};
use crate::{in_tx, with_conn, Principal, ServiceError};

/// Length of `sk-` + 43 base64url characters.
pub const KEY_LEN: usize = 46;
/// Characters of the plaintext kept as the display prefix.
pub const PREFIX_LEN: usize = 10;

/// A freshly generated key.
#[derive(Clone)]
pub struct GeneratedKey {
    /// The plaintext, shown once.
    pub plaintext: String,
    /// SHA-256 hex of the plaintext.
    pub hash: String,
    /// Display prefix.
    pub prefix: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Generates a key from the OS random source.
pub fn generate() -> GeneratedKey {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let plaintext = format!("sk-{}", URL_SAFE_NO_PAD.encode(bytes));
    GeneratedKey { hash: hash(&plaintext), prefix: plaintext[..PREFIX_LEN].to_string(), plaintext }
}

/// SHA-256 hex of a key's plaintext.
pub fn hash(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// Authenticates a presented key; counts the use. A key read in the last
/// [`api_keys::KEY_CACHE_TTL`] is checked from memory, without a trip to the database, unless its
/// uses are due to be written.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Principal, ServiceError> {
    let presented = presented.trim();
    if presented.len() != KEY_LEN || !presented.starts_with("sk-") {
        return Err(ServiceError::InvalidApiKey);
    }
    let key_hash = hash(presented);
    let now = models::time::now();
    if let Some((key, user)) = db.key_cache().get(&key_hash) {
        let principal = principal_of(&key, &user, now)?;
        let Some((uses, last)) = db.key_uses().record(key.id, now) else { return Ok(principal) };
        let db_c = db.clone();
        return with_conn(db, move |conn| write_uses(&db_c, conn, key.id, uses, last).map(|()| principal))
            .await;
    }
    let db_c = db.clone();
    with_conn(db, move |conn| {
        let Some((key, user)) = api_keys::by_hash(conn, &key_hash)? else {
            return Err(ServiceError::InvalidApiKey);
        };
        let principal = principal_of(&key, &user, now)?;
        // The row is written on the key's first use and then once a minute at most.
        if let Some((uses, last)) = db_c.key_uses().record(key.id, now) {
            write_uses(&db_c, conn, key.id, uses, last)?;
        }
        db_c.key_cache().put(&key_hash, &key, &user);
        Ok(principal)
    })
    .await
}

/// The caller a key and its owner make, if both are active and the key has not expired.
fn principal_of(key: &ApiKey, user: &User, now: NaiveDateTime) -> Result<Principal, ServiceError> {
    if key.status != KeyStatus::Active.as_str() || key.expires_at.is_some_and(|t| t <= now) {
        return Err(ServiceError::InvalidApiKey);
    }
    if user.status != UserStatus::Active.as_str() {
        return Err(ServiceError::UserInactive);
    }
    let role = key.role.parse::<Role>().map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(Principal {
        user_id: user.id,
        user_public_id: user.public_id.clone(),
        key_id: key.id,
        key_public_id: key.public_id.clone(),
        role,
        project: key.project.clone(),
        agent: key.agent.clone(),
    })
}

/// Writes a key's pending uses; refused when the key was revoked meanwhile.
fn write_uses(
    db: &Db,
    conn: &mut DbConnection,
    id: i64,
    uses: i64,
    last: NaiveDateTime,
) -> Result<(), ServiceError> {
    match api_keys::touch(conn, id, uses, last) {
        Ok(true) => Ok(()),
        Ok(false) => {
            db.key_cache().clear();
            Err(ServiceError::InvalidApiKey)
        }
        Err(e) => {
            db.key_uses().unwritten(id, uses, last);
            Err(e.into())
        }
    }
}

/// What a caller asks for when creating a key.
#[derive(Clone, Debug, Default)]
pub struct CreateKey {
    /// Label, 1–100 characters.
    pub name: String,
    /// Role; defaults to the owner's role.
    pub role: Option<Role>,
    /// Project scope.
    pub project: Option<String>,
    /// Agent scope.
    pub agent: Option<String>,
    /// Expiry instant (must be in the future).
    pub expires_at: Option<NaiveDateTime>,
}

/// A key as shown to its owner (never the plaintext or the hash).
pub type KeyView = ApiKey;

/// Creates a key for `owner`, audited in the same transaction. `creator_role` bounds the role:
/// admins may mint any role, everyone else only their own.
pub async fn create(
    db: &Db,
    ctx: AuditContext,
    owner_user_id: i64,
    creator_role: Role,
    req: CreateKey,
) -> Result<(KeyView, String), ServiceError> {
    let mut errors = Vec::new();
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors
            .push(crate::FieldError { field: "name".into(), message: "must be 1 to 100 characters".into() });
    }
    let now = models::time::now();
    if req.expires_at.is_some_and(|t| t <= now) {
        errors
            .push(crate::FieldError { field: "expires_at".into(), message: "must be in the future".into() });
    }
    for (field, v) in [("project", &req.project), ("agent", &req.agent)] {
        if v.as_ref().is_some_and(|s| s.trim().is_empty() || s.len() > 100) {
            errors.push(crate::FieldError {
                field: field.into(),
                message: "must be 1 to 100 characters".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let trim = |s: Option<String>| s.map(|s| s.trim().to_string());
    let req = CreateKey { project: trim(req.project), agent: trim(req.agent), ..req };
    in_tx(db, move |conn| {
        let owner = users::by_id(conn, owner_user_id).map_err(|_| ServiceError::NotFound("user"))?;
        let owner_role = owner.role.parse::<Role>().map_err(|e| ServiceError::Internal(e.to_string()))?;
        let role = req.role.unwrap_or(owner_role);
        if creator_role != Role::Admin && role != owner_role {
            return Err(ServiceError::Forbidden(format!(
                "a {owner_role} can only create keys with role {owner_role}"
            )));
        }
        check_scope(conn, owner.id, req.project.as_deref(), req.agent.as_deref())?;
        let generated = generate();
        let key_public_id = public_id(prefix::API_KEY);
        let key = api_keys::insert(
            conn,
            &NewApiKey {
                public_id: &key_public_id,
                user_id: owner.id,
                name: &name,
                key_hash: &generated.hash,
                prefix: &generated.prefix,
                role: role.as_str(),
                project: req.project.as_deref(),
                agent: req.agent.as_deref(),
                status: KeyStatus::Active.as_str(),
                expires_at: req.expires_at,
                created_at: models::time::now(),
            },
        )?;
        audit::record(
            conn,
            &ctx,
            Entry {
                action: "api_key.created",
                subject_type: "api_key",
                subject_id: Some(&key.public_id),
                details: json!({
                    "owner": owner.public_id,
                    "name": key.name,
                    "role": key.role,
                    "prefix": key.prefix,
                    "project": key.project,
                    "agent": key.agent,
                    "expires_at": key.expires_at.map(models::time::rfc3339),
                }),
                result: AuditResult::Success,
            },
        )?;
        Ok((key, generated.plaintext))
    })
    .await
}

/// A key may only be scoped to a project of its owner, and to an agent of that project (or of
/// one of the owner's projects); anything else is 404, as if it did not exist.
fn check_scope(
    conn: &mut repositories::DbConnection,
    owner_id: i64,
    project: Option<&str>,
    agent: Option<&str>,
) -> Result<(), ServiceError> {
    let project_id = match project {
        None => None,
        Some(p) => match projects::by_public_id(conn, p.trim()) {
            Ok(p) if p.user_id == owner_id => Some(p.id),
            Ok(_) | Err(repositories::RepoError::NotFound) => return Err(ServiceError::NotFound("project")),
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(a) = agent {
        let agent = match projects::agent_by_public_id(conn, a) {
            Ok(agent) => agent,
            Err(repositories::RepoError::NotFound) => return Err(ServiceError::NotFound("agent")),
            Err(e) => return Err(e.into()),
        };
        let owns = match project_id {
            Some(id) => agent.project_id == id,
            None => projects::by_id(conn, agent.project_id)?.user_id == owner_id,
        };
        if !owns {
            return Err(ServiceError::NotFound("agent"));
        }
    }
    Ok(())
}

/// A user's keys, newest first.
pub async fn list_for_user(
    db: &Db,
    user_id: i64,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<KeyView>, ServiceError> {
    let mut rows = db.run(move |conn| api_keys::list_for_user(conn, user_id, Page { limit, before })).await?;
    for k in &mut rows {
        if let Some((uses, last)) = db.key_uses().pending(k.id) {
            k.usage_count += uses;
            k.last_used_at = Some(k.last_used_at.map_or(last, |t| t.max(last)));
        }
    }
    Ok(rows)
}

/// Writes the key uses still in memory (at shutdown).
pub async fn flush_uses(db: &Db) -> Result<(), ServiceError> {
    let pending = db.key_uses().drain();
    if pending.is_empty() {
        return Ok(());
    }
    Ok(db
        .run(move |conn| {
            for (id, uses, last) in pending {
                api_keys::touch(conn, id, uses, last)?;
            }
            Ok(())
        })
        .await?)
}

/// Revokes a key. Owners revoke their own keys; admins any key. Revoking a revoked key is a no-op.
pub async fn revoke(
    db: &Db,
    ctx: AuditContext,
    caller: &Principal,
    key_public_id: String,
) -> Result<KeyView, ServiceError> {
    let caller = caller.clone();
    let revoked = in_tx(db, move |conn| {
        let key =
            api_keys::by_public_id(conn, &key_public_id).map_err(|_| ServiceError::NotFound("api_key"))?;
        if key.user_id != caller.user_id && !caller.is_admin() {
            return Err(ServiceError::NotFound("api_key"));
        }
        if api_keys::revoke(conn, key.id, models::time::now())? {
            audit::record(
                conn,
                &ctx,
                Entry {
                    action: "api_key.revoked",
                    subject_type: "api_key",
                    subject_id: Some(&key.public_id),
                    details: json!({ "prefix": key.prefix, "name": key.name }),
                    result: AuditResult::Success,
                },
            )?;
        }
        Ok(api_keys::by_public_id(conn, &key_public_id)?)
    })
    .await;
    db.key_cache().clear();
    revoked
}

/// For the CLI: finds or creates the user with this email and mints a key of `role` for them.
pub async fn create_for_cli(
    db: &Db,
    name: &str,
    email: &str,
    role: Role,
) -> Result<(User, KeyView, String), ServiceError> {
    create_scoped_for_cli(db, name, email, role, None).await
}

/// Like [`create_for_cli`], the key scoped to one of the user's projects (`prj_…`).
pub async fn create_scoped_for_cli(
    db: &Db,
    name: &str,
    email: &str,
    role: Role,
    project: Option<String>,
) -> Result<(User, KeyView, String), ServiceError> {
    let user = crate::users::ensure(db, AuditContext::system(), name, email, role).await?;
    let (key, plaintext) = create(
        db,
        AuditContext::system(),
        user.id,
        Role::Admin,
        CreateKey { name: name.to_string(), role: Some(role), project, ..CreateKey::default() },
    )
    .await?;
    Ok((user, key, plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.plaintext.len(), KEY_LEN);
        assert!(a.plaintext.starts_with("sk-"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.plaintext[3..]).map(|b| b.len()).ok(), Some(32));
        assert_eq!(a.hash, hash(&a.plaintext));
        assert!(a.plaintext.starts_with(&a.prefix));
        assert!(!format!("{a:?}").contains(&a.plaintext));
    }
}
