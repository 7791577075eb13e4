use repositories::RepoError;
use serde::Serialize;

/// One invalid input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Field name (dotted for nested fields).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Errors of the service layer; the API maps each variant to one HTTP status and stable code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No credentials were presented.
    #[error("authentication required")]
    AuthRequired,
    /// The key is unknown, revoked or expired.
    #[error("invalid API key")]
    InvalidApiKey,
    /// The key's user is not active.
    #[error("user account is not active")]
    UserInactive,
    /// The caller's role or scope does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The named resource does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input fields are semantically invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The change conflicts with current state; `code` is the stable error code.
    #[error("{message}")]
    Conflict {
        /// Stable UPPER_SNAKE code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// Same `Idempotency-Key` reused with a different request.
    #[error("Idempotency-Key reused with a different request")]
    IdempotencyMismatch,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is in progress")]
    IdempotencyInFlight,
    /// A dependency (the database) is unavailable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or unexpected failure; details are logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }
}

impl From<RepoError> for ServiceError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound => Self::NotFound("resource"),
            RepoError::Unavailable(m) => Self::Unavailable(m),
            RepoError::UniqueViolation { constraint } => Self::Conflict {
                code: "CONFLICT",
                message: format!("conflicts with an existing record ({constraint})"),
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<diesel_error::Error> for ServiceError {
    fn from(e: diesel_error::Error) -> Self {
        Self::from(RepoError::from(e))
    }
}

/// Re-export path for the transaction helper's error bound.
pub(crate) mod diesel_error {
    pub use repositories::DieselError as Error;
}
