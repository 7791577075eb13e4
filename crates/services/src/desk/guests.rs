//! Guests and their web sessions. A session token is `gs_` + base64url(32 random bytes); only its
//! SHA-256 is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use models::ids::public_id;
use models::rows_booking::{Guest, Message, NewGuest, NewGuestSession};
use models::Role;
use rand::RngCore;
use repositories::guests as repo;
use repositories::{Db, Page, RepoError};

use super::{Caller, GuestPrincipal};
use crate::{in_tx, with_conn, ServiceError};

/// Prefix of guest session tokens.
pub const TOKEN_PREFIX: &str = "gs_";

/// A new session.
#[derive(Clone, PartialEq)]
pub struct NewSession {
    /// The token, shown once.
    pub token: String,
    /// The guest.
    pub guest: Guest,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").field("guest", &self.guest.public_id).finish_non_exhaustive()
    }
}

fn token_hash(token: &str) -> String {
    crate::keys::hash(token)
}

/// What a website says about its user when asking for a session.
#[derive(Clone, Debug, Default)]
pub struct WebsiteGuest {
    /// The website's own id for the user.
    pub user_id: String,
    /// Name, if known.
    pub name: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
}

/// Opens a session: an anonymous caller gets a new guest; a `website` key gets the guest it knows
/// by `website.user_id` (created on first use).
pub async fn open_session(
    db: &Db,
    caller: &Caller,
    website: Option<WebsiteGuest>,
) -> Result<NewSession, ServiceError> {
    let website_user = match (caller, &website) {
        (Caller::Key(p), Some(_)) if p.role == Role::Website || p.is_admin() => Some(p.user_id),
        (Caller::Key(_), Some(_)) => {
            return Err(ServiceError::Forbidden("only website or admin keys may name a website user".into()))
        }
        (Caller::Guest(_), _) => return Err(ServiceError::Forbidden("a guest already has a session".into())),
        (_, None) => None,
        (Caller::Anonymous, Some(_)) => return Err(ServiceError::AuthRequired),
    };
    let phone = match website.as_ref().and_then(|w| w.phone.as_deref()) {
        Some(p) => Some(
            models::booking::normalise_phone(p)
                .ok_or_else(|| ServiceError::invalid("phone", "must be a phone number"))?,
        ),
        None => None,
    };
    if let Some(w) = &website {
        if w.user_id.trim().is_empty() || w.user_id.len() > 200 {
            return Err(ServiceError::invalid("user_id", "must be 1 to 200 characters"));
        }
        if w.name.as_ref().is_some_and(|n| n.chars().count() > 100) {
            return Err(ServiceError::invalid("name", "must be at most 100 characters"));
        }
    }
    in_tx(db, move |conn| {
        let now = models::time::now();
        let existing = match (&website_user, &website) {
            (Some(uid), Some(w)) => repo::by_website(conn, *uid, w.user_id.trim())?,
            _ => None,
        };
        let guest = match existing {
            Some(g) => g,
            None => repo::insert(
                conn,
                &NewGuest {
                    public_id: public_id("gst"),
                    name: website.as_ref().and_then(|w| w.name.clone()).filter(|n| !n.trim().is_empty()),
                    phone,
                    cnic: None,
                    website_user_id: website_user,
                    external_id: website.as_ref().map(|w| w.user_id.trim().to_string()),
                    channel: "web".into(),
                    address: None,
                    created_at: now,
                    updated_at: now,
                },
            )?,
        };
        let mut bytes = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        repo::insert_session(
            conn,
            &NewGuestSession { token_hash: token_hash(&token), guest_id: guest.id, created_at: now },
        )?;
        Ok(NewSession { token, guest })
    })
    .await
}

/// Authenticates a guest session token.
pub async fn authenticate(db: &Db, token: &str) -> Result<GuestPrincipal, ServiceError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 43 {
        return Err(ServiceError::InvalidApiKey);
    }
    let hash = token_hash(token);
    with_conn(db, move |conn| {
        let guest =
            repo::by_token_hash(conn, &hash, models::time::now())?.ok_or(ServiceError::InvalidApiKey)?;
        Ok(GuestPrincipal { guest_id: guest.id, public_id: guest.public_id })
    })
    .await
}

/// The guest behind a session.
pub async fn get(db: &Db, guest_id: i64) -> Result<Guest, ServiceError> {
    with_conn(db, move |conn| {
        repo::by_id(conn, guest_id).map_err(|e| match e {
            RepoError::NotFound => ServiceError::NotFound("guest"),
            other => other.into(),
        })
    })
    .await
}

/// A guest's conversation, newest first.
pub async fn history(
    db: &Db,
    guest_id: i64,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<Message>, ServiceError> {
    with_conn(db, move |conn| Ok(repo::messages(conn, guest_id, Page { limit, before })?)).await
}
