//! The gateway's typed columns: what a call does, how it was decided (outcome, tier, reason)
//! and where a request and its payment stand. The columns are stored as their wire text
//! ([`sql_text_enum!`]).

text_enum! {
    /// What the AI call does (the request row keeps it as text).
    Operation {
        /// Chat completion.
        Chat => "chat",
        /// Text completion.
        Completion => "completion",
        /// Image understanding.
        Vision => "vision",
        /// Code generation.
        Code => "code",
        /// Embeddings.
        Embedding => "embedding",
        /// Speech.
        Audio => "audio",
        /// Image generation.
        Image => "image",
    }
}

sql_text_enum! {
    /// The decision's outcome.
    Outcome {
        /// Pay for it and run it.
        Approved => "approved",
        /// Refused with a reason code.
        Rejected => "rejected",
        /// Wait for a human.
        RequiresReview => "requires_review",
        /// The pipeline could not decide.
        Error => "error",
    }
}

sql_text_enum! {
    /// Which evaluator decided.
    Tier {
        /// Hard rules before any scoring (validation, blocks, allow-lists, limits).
        System => "SYSTEM",
        /// Low risk and cheap: approved at once.
        Flash => "FLASH",
        /// Everything else: the PRO evaluator.
        Pro => "PRO",
    }
}

sql_text_enum! {
    /// Stable rejection codes (SPEC §4.2), and the reviewer's refusal.
    Reason {
        /// The request is malformed.
        InvalidRequest => "INVALID_REQUEST",
        /// The user is not active and verified.
        UserInactive => "USER_INACTIVE",
        /// The system policy blocks the provider.
        ProviderBlocked => "PROVIDER_BLOCKED",
        /// The system policy blocks the model.
        ModelBlocked => "MODEL_BLOCKED",
        /// The project allows no provider.
        NoProvidersConfigured => "NO_PROVIDERS_CONFIGURED",
        /// The provider is not on the project's allow-list.
        UnauthorizedProvider => "UNAUTHORIZED_PROVIDER",
        /// The project allows no model.
        NoModelsConfigured => "NO_MODELS_CONFIGURED",
        /// The model is not on the project's allow-list.
        UnauthorizedModel => "UNAUTHORIZED_MODEL",
        /// The project forbids the provider.
        ForbiddenProvider => "FORBIDDEN_PROVIDER",
        /// The project forbids this provider.model.operation.
        OperationForbidden => "OPERATION_FORBIDDEN",
        /// Outside the allowed UTC hours.
        OutsideAllowedHours => "OUTSIDE_ALLOWED_HOURS",
        /// Outside the allowed weekdays.
        OutsideAllowedDays => "OUTSIDE_ALLOWED_DAYS",
        /// A rate limit is reached.
        RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
        /// Over the system's per-request or daily cap.
        ExceedsSystemLimit => "EXCEEDS_SYSTEM_LIMIT",
        /// Over the project's per-request limit.
        ExceedsPerRequestLimit => "EXCEEDS_PER_REQUEST_LIMIT",
        /// Over the project's daily budget.
        DailyBudgetExceeded => "DAILY_BUDGET_EXCEEDED",
        /// Over the project's monthly budget.
        MonthlyBudgetExceeded => "MONTHLY_BUDGET_EXCEEDED",
        /// The available balance does not cover the cost.
        InsufficientBalance => "INSUFFICIENT_BALANCE",
        /// The risk score is above the project's maximum.
        HighRisk => "HIGH_RISK",
        /// The project's policy is switched off.
        PolicyInactive => "POLICY_INACTIVE",
        /// A reviewer refused a request that waited for review (never the pipeline's code).
        ReviewRejected => "REVIEW_REJECTED",
    }
}

/// What kind of refusal a reason is (the API maps it to 402, 403, 429 or 422).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonKind {
    /// The request itself is wrong.
    Invalid,
    /// Not enough money.
    Balance,
    /// Too many requests.
    RateLimit,
    /// Refused by a policy, allow-list, budget or risk.
    Policy,
}

impl Reason {
    /// The kind of refusal.
    pub fn kind(self) -> ReasonKind {
        match self {
            Reason::InvalidRequest => ReasonKind::Invalid,
            Reason::InsufficientBalance => ReasonKind::Balance,
            Reason::RateLimitExceeded => ReasonKind::RateLimit,
            _ => ReasonKind::Policy,
        }
    }
}

sql_text_enum! {
    /// Where an AI request stands. It only moves by compare-and-swap: `pending → executing →
    /// executed | failed`, `pending → rejected`, `executing → rejected` (a reviewed request whose
    /// reservation is refused); a refused call is `rejected` at once.
    RequestStatus {
        /// Waiting for a human review; nothing reserved.
        Pending => "pending",
        /// Refused (by the pipeline, the reservation or a reviewer).
        Rejected => "rejected",
        /// Reserved and sent to the provider.
        Executing => "executing",
        /// Answered and charged.
        Executed => "executed",
        /// The provider failed or timed out, or the call never settled; everything released.
        Failed => "failed",
    }
}

sql_text_enum! {
    /// Where the payment of a request stands (`reserved → committed | failed | cancelled`).
    PaymentStatus {
        /// The estimate is held against the balance.
        Reserved => "reserved",
        /// Charged.
        Committed => "committed",
        /// The call failed; nothing charged.
        Failed => "failed",
        /// Released by the stale-reservation job; nothing charged.
        Cancelled => "cancelled",
    }
}
