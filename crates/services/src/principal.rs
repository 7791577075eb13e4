//! Who is calling: the authenticated API key and its user.

use models::{ActorType, Role};

use crate::audit::Actor;
use crate::ServiceError;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Internal user id.
    pub user_id: i64,
    /// `usr_…`.
    pub user_public_id: String,
    /// Internal key id.
    pub key_id: i64,
    /// `key_…`.
    pub key_public_id: String,
    /// The key's role.
    pub role: Role,
    /// Project scope of the key.
    pub project: Option<String>,
    /// Agent scope of the key.
    pub agent: Option<String>,
}

impl Principal {
    /// The platform acting for itself: the owner of `project` (`prj_…`), scoped to it, without a
    /// key (the booking agent's and the chatbot's model calls).
    pub fn service(user_id: i64, user_public_id: String, project: String) -> Self {
        Self {
            user_id,
            user_public_id,
            key_id: 0,
            key_public_id: "service".into(),
            role: Role::Member,
            project: Some(project),
            agent: None,
        }
    }

    /// An admin acting from a configured WhatsApp number (`whatsapp.admin_numbers`), without a
    /// key: the admin commands' caller. The audit trail names the number.
    pub fn whatsapp_admin(number: &str) -> Self {
        Self {
            user_id: 0,
            user_public_id: format!("whatsapp:{number}"),
            key_id: 0,
            key_public_id: "whatsapp".into(),
            role: Role::Admin,
            project: None,
            agent: None,
        }
    }

    /// True for admin keys.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// `Forbidden` unless the key has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this needs a key with role {}",
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ")
            )))
        }
    }

    /// `Forbidden` unless admin.
    pub fn require_admin(&self) -> Result<(), ServiceError> {
        self.require(&[Role::Admin])
    }

    /// The audit actor for this caller.
    pub fn actor(&self) -> Actor {
        let kind = if self.is_admin() {
            ActorType::Admin
        } else if self.agent.is_some() {
            ActorType::Agent
        } else {
            ActorType::User
        };
        Actor { kind, id: Some(self.user_public_id.clone()) }
    }
}
