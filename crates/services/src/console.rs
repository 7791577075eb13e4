//! Admin console sessions (SPEC §6): an admin's or a property owner's API key is exchanged for a
//! session whose token lives only in an HttpOnly, `SameSite=Strict` cookie; state-changing
//! requests made with the cookie must also carry the session's CSRF token. Guest tokens, member,
//! website and agent keys cannot sign in. Sign-out revokes the session; revoking the key ends it
//! too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use models::{KeyStatus, Role, UserStatus};
use rand::RngCore;
use repositories::console_sessions as repo;
use serde_json::json;

use crate::audit::AuditContext;
use crate::{in_tx, keys, with_conn, Principal, ServiceError};

/// How long a console session lasts.
pub const SESSION_HOURS: i64 = 12;
/// The prefix of console session tokens.
pub const TOKEN_PREFIX: &str = "cs_";

/// A new session: the cookie's token, the CSRF token, and who signed in.
#[derive(Clone, Debug)]
pub struct Session {
    /// The cookie value (shown once, stored hashed).
    pub token: String,
    /// Sent back by the console in `X-CSRF-Token`.
    pub csrf_token: String,
    /// The key's principal.
    pub principal: Principal,
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Signs in with an API key: only admin and owner keys of active users.
pub async fn sign_in(
    db: &repositories::Db,
    key: &str,
    request_id: Option<String>,
) -> Result<Session, ServiceError> {
    let principal = keys::authenticate(db, key).await?;
    if !matches!(principal.role, Role::Admin | Role::Owner) || principal.agent.is_some() {
        return Err(ServiceError::Forbidden("the console is for admins and property owners".into()));
    }
    let (token, csrf_token) = (random_token(TOKEN_PREFIX), random_token(""));
    let now = models::time::now();
    let new = repo::NewConsoleSession {
        token_hash: keys::hash(&token),
        csrf_token: csrf_token.clone(),
        key_id: principal.key_id,
        created_at: now,
        expires_at: now + chrono::Duration::hours(SESSION_HOURS),
    };
    let ctx = AuditContext { actor: principal.actor(), request_id };
    let key_id = principal.key_public_id.clone();
    in_tx(db, move |conn| {
        repo::insert(conn, &new)?;
        crate::audit::record_success(conn, &ctx, "console.sign_in", "api_key", &key_id, json!({}))?;
        Ok(())
    })
    .await?;
    Ok(Session { token, csrf_token, principal })
}

/// The principal and CSRF token of a live session (its key still active, its user too).
pub async fn authenticate(db: &repositories::Db, token: &str) -> Result<(Principal, String), ServiceError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 43 {
        return Err(ServiceError::AuthRequired);
    }
    let hash = keys::hash(token);
    with_conn(db, move |conn| {
        let now = models::time::now();
        let Some((csrf, key, user)) = repo::live(conn, &hash, now)? else {
            return Err(ServiceError::AuthRequired);
        };
        if key.status != KeyStatus::Active.as_str() || key.expires_at.is_some_and(|t| t <= now) {
            return Err(ServiceError::AuthRequired);
        }
        if user.status != UserStatus::Active.as_str() {
            return Err(ServiceError::UserInactive);
        }
        let role = key.role.parse::<Role>().map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok((
            Principal {
                user_id: user.id,
                user_public_id: user.public_id,
                key_id: key.id,
                key_public_id: key.public_id,
                role,
                project: key.project,
                agent: key.agent,
            },
            csrf,
        ))
    })
    .await
}

/// Ends a session (idempotent).
pub async fn sign_out(db: &repositories::Db, token: &str) -> Result<(), ServiceError> {
    let hash = keys::hash(token);
    in_tx(db, move |conn| {
        repo::revoke(conn, &hash, models::time::now())?;
        Ok(())
    })
    .await
}

/// Constant-time equality of a presented CSRF token and the session's.
pub fn csrf_matches(expected: &str, presented: Option<&str>) -> bool {
    let Some(p) = presented else { return false };
    !expected.is_empty() && crate::constant_time_eq(expected.as_bytes(), p.trim().as_bytes())
}
