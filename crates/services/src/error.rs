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
    /// A signed webhook's signature is missing or does not match its body.
    #[error("invalid webhook signature")]
    InvalidSignature,
    /// The key's user is not active.
    #[error("user account is not active")]
    UserInactive,
    /// The caller's role or scope does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The named resource does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No catalogued, active model of an enabled provider has this `provider/model` name.
    #[error("model {name} not found")]
    ModelNotFound {
        /// The name asked for.
        name: String,
        /// Close catalogued names.
        suggestions: Vec<String>,
    },
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
    /// The request is well-formed but a business rule refuses it; `code` is the stable code
    /// (e.g. `PRICE_NOT_SET`, `OUTSIDE_BOOKING_WINDOW`).
    #[error("{message}")]
    Unprocessable {
        /// Stable UPPER_SNAKE code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// An upload is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// An upload is not of an accepted type.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// An outside service (media store, vision model) failed.
    #[error("upstream failure: {0}")]
    Upstream(String),
    /// The spend pipeline refused an AI call; the request is recorded as `rejected`.
    #[error("{message}")]
    Refused {
        /// Stable reason code (SPEC §4.2).
        reason: crate::gateway::decide::Reason,
        /// Why.
        message: String,
        /// The recorded request, `req_…`.
        request: String,
    },
    /// The call must wait for a human review (OpenAI-compatible endpoints, which cannot answer
    /// with a pending request); it is in `GET /api/v1/reviews`.
    #[error("request {request} waits for review")]
    AwaitingReview {
        /// The queued request, `req_…`.
        request: String,
    },
    /// The model provider failed, timed out or is not available; nothing was charged.
    #[error("provider failure: {message}")]
    ProviderFailed {
        /// The call timed out.
        timeout: bool,
        /// What happened (logged, not returned).
        message: String,
        /// The failed request, `req_…`.
        request: String,
        /// The provider's own error code, if it gave one.
        upstream_code: Option<String>,
    },
    /// Same `Idempotency-Key` reused with a different request.
    #[error("Idempotency-Key reused with a different request")]
    IdempotencyMismatch,
    /// The first request with this `Idempotency-Key` is still running; its deadline passes in
    /// `retry_after_secs`, after which a retry takes the key over.
    #[error("a request with this Idempotency-Key is in progress")]
    IdempotencyInFlight {
        /// Seconds until the first request's deadline.
        retry_after_secs: u64,
    },
    /// A dependency (the database) is unavailable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or unexpected failure; details are logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A business-rule refusal (422) with a stable code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }

    /// A conflict with current state (409) with a stable code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

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
