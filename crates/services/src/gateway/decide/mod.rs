//! The spend gateway's deterministic decision pipeline (SPEC §4.2, steps 2–11): a pure function
//! from a request, the loaded state and the clock to a decision. Same input, same decision.
//!
//! [`crate::gateway`] loads a [`DecisionInput`] from the database and acts on the [`Decision`].
//! Amounts are micro-USDC (`1_000_000` = 1 USDC).

mod risk;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

pub use risk::{risk_score, RiskFactor, RiskScore};

/// One USDC in micro-USDC.
pub const USDC: i64 = 1_000_000;

pub use models::spend::{Operation, Outcome, Reason, ReasonKind, Tier};

/// The call being decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpendRequest {
    /// Provider, e.g. `openai`.
    pub provider: String,
    /// Model, e.g. `gpt-4o-mini`.
    pub model: String,
    /// Operation.
    pub operation: Operation,
    /// Characters of input (prompt and messages).
    pub input_chars: u64,
    /// Requested output tokens per choice, if any.
    pub max_tokens: Option<u64>,
    /// Completions the provider generates (`n`, `best_of`); each may use `max_tokens`.
    #[serde(default = "one_choice")]
    pub choices: u64,
}

fn one_choice() -> u64 {
    1
}

/// The user's account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Only `active` users may spend.
    pub active: bool,
    /// Only verified users may spend.
    pub verified: bool,
    /// Balance, micro-USDC.
    pub balance: i64,
    /// Already reserved, micro-USDC.
    pub reserved: i64,
}

/// A project's policy (SPEC §4.1). Allow-lists are strict: empty allows nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Switched on.
    pub active: bool,
    /// Allowed providers.
    pub allowed_providers: Vec<String>,
    /// Allowed models (`model` or `provider/model`).
    pub allowed_models: Vec<String>,
    /// Forbidden providers.
    pub forbidden_providers: Vec<String>,
    /// Forbidden `provider.model.operation` (a `*` part matches anything).
    pub forbidden_operations: Vec<String>,
    /// Requests per minute.
    pub rate_per_minute: u32,
    /// Requests per hour.
    pub rate_per_hour: u32,
    /// Requests per day.
    pub rate_per_day: u32,
    /// Allowed UTC hours (0–23); empty means all.
    pub allowed_hours: Vec<u32>,
    /// Allowed weekdays (0 = Monday); empty means all.
    pub allowed_weekdays: Vec<u32>,
    /// Reject above this risk.
    pub max_risk_score: f64,
    /// FLASH-approve below this risk.
    pub auto_approve_risk_threshold: f64,
    /// PRO sends anything above this cost to review; `None` = no such rule.
    pub require_approval_above: Option<i64>,
}

impl Policy {
    /// Problems with a policy document, by field.
    pub fn problems(&self) -> Vec<crate::FieldError> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: &str| {
            out.push(crate::FieldError { field: field.into(), message: message.into() })
        };
        for (field, list) in [
            ("allowed_providers", &self.allowed_providers),
            ("allowed_models", &self.allowed_models),
            ("forbidden_providers", &self.forbidden_providers),
        ] {
            if list.iter().any(|s| s.trim().is_empty() || s.len() > 200) {
                bad(field, "entries must be 1 to 200 characters");
            }
        }
        if self
            .forbidden_operations
            .iter()
            .any(|r| r.splitn(3, '.').count() != 3 || r.split('.').any(str::is_empty))
        {
            bad("forbidden_operations", "entries are provider.model.operation (a part may be *)");
        }
        if self.rate_per_minute == 0 || self.rate_per_hour == 0 || self.rate_per_day == 0 {
            bad("rate_per_minute", "rate limits must be at least 1");
        }
        if self.allowed_hours.iter().any(|h| *h > 23) {
            bad("allowed_hours", "hours are 0 to 23 (UTC)");
        }
        if self.allowed_weekdays.iter().any(|d| *d > 6) {
            bad("allowed_weekdays", "weekdays are 0 (Monday) to 6");
        }
        if !(1.0..=10.0).contains(&self.max_risk_score) {
            bad("max_risk_score", "must be 1 to 10");
        }
        if !(0.0..=10.0).contains(&self.auto_approve_risk_threshold)
            || self.auto_approve_risk_threshold > self.max_risk_score
        {
            bad("auto_approve_risk_threshold", "must be 0 to 10 and not above max_risk_score");
        }
        if self.require_approval_above.is_some_and(|v| v < 0) {
            bad("require_approval_above", "must not be negative");
        }
        out
    }
}

impl SystemPolicy {
    /// Problems with a system policy document, by field.
    pub fn problems(&self) -> Vec<crate::FieldError> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: &str| {
            out.push(crate::FieldError { field: field.into(), message: message.into() })
        };
        if !(0..=10_000).contains(&self.fee_bps) {
            bad("fee_bps", "must be 0 to 10000 basis points");
        }
        if self.max_per_request <= 0 {
            bad("max_per_request", "must be positive");
        }
        if self.max_daily <= 0 {
            bad("max_daily", "must be positive");
        }
        if self.flash_ceiling < 0 {
            bad("flash_ceiling", "must not be negative");
        }
        out
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            active: true,
            allowed_providers: Vec::new(),
            allowed_models: Vec::new(),
            forbidden_providers: Vec::new(),
            forbidden_operations: Vec::new(),
            rate_per_minute: 10,
            rate_per_hour: 100,
            rate_per_day: 1000,
            allowed_hours: Vec::new(),
            allowed_weekdays: Vec::new(),
            max_risk_score: 7.0,
            auto_approve_risk_threshold: 3.0,
            require_approval_above: None,
        }
    }
}

/// The platform-wide policy; it overrides projects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemPolicy {
    /// Blocked providers.
    pub blocked_providers: Vec<String>,
    /// Blocked `provider/model`.
    pub blocked_models: Vec<String>,
    /// Most one request may cost (cost + fee).
    pub max_per_request: i64,
    /// Most one user may spend per UTC day.
    pub max_daily: i64,
    /// Platform fee in basis points (500 = 5 %).
    pub fee_bps: i64,
    /// FLASH approves only below this cost.
    pub flash_ceiling: i64,
}

impl Default for SystemPolicy {
    fn default() -> Self {
        Self {
            blocked_providers: Vec::new(),
            blocked_models: Vec::new(),
            max_per_request: 100 * USDC,
            max_daily: 10_000 * USDC,
            fee_bps: 500,
            flash_ceiling: USDC,
        }
    }
}

/// A project's budget and what it has used (UTC day and month).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Per-request limit.
    pub per_request: i64,
    /// Daily limit.
    pub daily: i64,
    /// Monthly limit.
    pub monthly: i64,
    /// Spent and reserved today.
    pub used_today: i64,
    /// Spent and reserved this month.
    pub used_month: i64,
    /// The user's spending today across projects (for the system daily cap).
    pub user_used_today: i64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            per_request: 10 * USDC,
            daily: 100 * USDC,
            monthly: 3000 * USDC,
            used_today: 0,
            used_month: 0,
            user_used_today: 0,
        }
    }
}

/// Requests made recently by the project (for rate limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentUse {
    /// In the last minute.
    pub last_minute: u32,
    /// In the last hour.
    pub last_hour: u32,
    /// In the last day.
    pub last_day: u32,
    /// Rejections in the last 24 hours.
    pub recent_rejections: u32,
    /// Requests in about the last hour, from hourly totals (the risk score's `rate_spike`; the
    /// rate limits themselves are reserved by the gateway, not compared here).
    #[serde(default)]
    pub hourly: u32,
}

/// Catalogue price of the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Per million input tokens.
    pub input_per_million: i64,
    /// Per million output tokens.
    pub output_per_million: i64,
    /// Per request (or per generated image).
    pub per_request: i64,
    /// Per million input characters (speech).
    #[serde(default)]
    pub per_million_chars: i64,
}

/// The project's last 30 days, for the risk score (ignored below 10 requests).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Requests in the window.
    pub requests: u32,
    /// Mean cost.
    pub mean_cost: f64,
    /// Standard deviation of cost.
    pub stddev_cost: f64,
    /// Average requests per hour.
    pub hourly_rate: f64,
    /// Providers used.
    pub providers: Vec<String>,
    /// Models used (`provider/model`).
    pub models: Vec<String>,
    /// UTC hours with activity.
    pub hours: Vec<u32>,
    /// Whether the calling agent has made requests before.
    pub agent_known: bool,
}

/// Everything the pipeline reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionInput {
    /// The call.
    pub request: SpendRequest,
    /// The account.
    pub account: Account,
    /// The project's policy.
    pub policy: Policy,
    /// The system policy.
    pub system: SystemPolicy,
    /// The project's budget.
    pub budget: Budget,
    /// Recent use.
    pub usage: RecentUse,
    /// The model's price.
    pub price: Price,
    /// The 30-day baseline.
    pub baseline: Baseline,
}

/// The estimated cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    /// ⌊⌊chars / 4⌋ × 1.1⌋.
    pub input_tokens: u64,
    /// `max_tokens` (else half the input) times the choices.
    pub output_tokens: u64,
    /// Provider cost.
    pub cost: i64,
    /// Platform fee.
    pub fee: i64,
    /// Cost + fee: what is reserved.
    pub total: i64,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// Outcome.
    pub outcome: Outcome,
    /// Rejection code (rejected only).
    pub reason: Option<Reason>,
    /// Human-readable reason.
    pub reason_text: String,
    /// Which evaluator decided.
    pub tier: Tier,
    /// Risk score (0 when decided before scoring).
    pub risk_score: f64,
    /// Risk factors that applied.
    pub risk_factors: Vec<RiskFactor>,
    /// Checks run, in order.
    pub policies_checked: Vec<&'static str>,
    /// Estimate (absent when decided before estimating).
    pub estimate: Option<Estimate>,
}

/// The PRO evaluator: it sees a request the rules did not approve at FLASH and may approve it,
/// send it to review, or reject it. It can only make a decision stricter than the rules.
pub trait ProEvaluator: Send + Sync + std::fmt::Debug {
    /// Approve (`None`), or the stricter outcome and why.
    fn evaluate(
        &self,
        input: &DecisionInput,
        estimate: &Estimate,
        risk: &RiskScore,
    ) -> Option<(Outcome, String)>;
}

/// The rules PRO evaluator: approves whatever passed the rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct RulesEvaluator;

impl ProEvaluator for RulesEvaluator {
    fn evaluate(&self, _: &DecisionInput, _: &Estimate, _: &RiskScore) -> Option<(Outcome, String)> {
        None
    }
}

/// `(cost, fee)` of a call with these token and character counts: the price (rounded up to the
/// micro-USDC) plus the platform fee in basis points (rounded up).
pub fn cost_of(
    input_tokens: u64,
    output_tokens: u64,
    input_chars: u64,
    price: &Price,
    fee_bps: i64,
) -> (i64, i64) {
    let per_tokens = |tokens: u64, per_million: i64| -> i64 {
        let t = i128::from(tokens) * i128::from(per_million);
        i64::try_from((t + 999_999) / 1_000_000).unwrap_or(i64::MAX)
    };
    let cost = per_tokens(input_tokens, price.input_per_million)
        .saturating_add(per_tokens(output_tokens, price.output_per_million))
        .saturating_add(per_tokens(input_chars, price.per_million_chars))
        .saturating_add(price.per_request);
    let fee = cost.saturating_mul(fee_bps).saturating_add(9_999) / 10_000;
    (cost, fee)
}

/// ⌊⌊chars / 4⌋ × 1.1⌋ input tokens; output = (`max_tokens` or half the input) × choices; cost
/// and fee by [`cost_of`].
pub fn estimate(request: &SpendRequest, price: &Price, fee_bps: i64) -> Estimate {
    let input_tokens = request.input_chars / 4 * 11 / 10;
    let output_tokens = request.max_tokens.unwrap_or(input_tokens / 2).saturating_mul(request.choices.max(1));
    let (cost, fee) = cost_of(input_tokens, output_tokens, request.input_chars, price, fee_bps);
    Estimate { input_tokens, output_tokens, cost, fee, total: cost.saturating_add(fee) }
}

fn matches_model(list: &[String], provider: &str, model: &str) -> bool {
    let full = format!("{provider}/{model}");
    list.iter().any(|m| m.eq_ignore_ascii_case(model) || m.eq_ignore_ascii_case(&full))
}

fn matches_operation(rule: &str, provider: &str, model: &str, op: &str) -> bool {
    let parts: Vec<&str> = rule.splitn(3, '.').collect();
    let [p, m, o] = parts.as_slice() else { return false };
    let part = |rule: &str, value: &str| rule == "*" || rule.eq_ignore_ascii_case(value);
    part(p, provider) && part(m, model) && part(o, op)
}

/// Steps 4–6 without the clock: would the system and the project allow this provider, model and
/// operation? `Err` carries the rejection code and why (also `POST …/policy/validate`).
pub fn policy_check(
    system: &SystemPolicy,
    p: &Policy,
    provider: &str,
    model: &str,
    operation: Operation,
) -> Result<(), (Reason, String)> {
    let op = operation.as_str();
    if system.blocked_providers.iter().any(|b| b.eq_ignore_ascii_case(provider)) {
        return Err((Reason::ProviderBlocked, format!("provider {provider} is blocked platform-wide")));
    }
    if system.blocked_models.iter().any(|m| m.eq_ignore_ascii_case(&format!("{provider}/{model}"))) {
        return Err((Reason::ModelBlocked, format!("model {provider}/{model} is blocked platform-wide")));
    }
    if !p.active {
        return Err((Reason::PolicyInactive, "the project's policy is switched off".into()));
    }
    if p.allowed_providers.is_empty() {
        return Err((Reason::NoProvidersConfigured, "the project allows no provider yet".into()));
    }
    if !p.allowed_providers.iter().any(|a| a.eq_ignore_ascii_case(provider)) {
        return Err((
            Reason::UnauthorizedProvider,
            format!("provider {provider} is not allowed for this project"),
        ));
    }
    if p.allowed_models.is_empty() {
        return Err((Reason::NoModelsConfigured, "the project allows no model yet".into()));
    }
    if !matches_model(&p.allowed_models, provider, model) {
        return Err((Reason::UnauthorizedModel, format!("model {model} is not allowed for this project")));
    }
    if p.forbidden_providers.iter().any(|f| f.eq_ignore_ascii_case(provider)) {
        return Err((
            Reason::ForbiddenProvider,
            format!("provider {provider} is forbidden for this project"),
        ));
    }
    if p.forbidden_operations.iter().any(|rule| matches_operation(rule, provider, model, op)) {
        return Err((Reason::OperationForbidden, format!("{provider}.{model}.{op} is forbidden")));
    }
    Ok(())
}

/// Runs the pipeline. Pure: the same input and `now` always give the same decision.
pub fn decide(input: &DecisionInput, now: DateTime<Utc>, pro: &dyn ProEvaluator) -> Decision {
    let mut checked = Vec::new();
    let reject = |reason: Reason,
                  text: String,
                  checked: Vec<&'static str>,
                  estimate: Option<Estimate>,
                  risk: Option<&RiskScore>| Decision {
        outcome: Outcome::Rejected,
        reason: Some(reason),
        reason_text: text,
        tier: if reason == Reason::HighRisk { Tier::Pro } else { Tier::System },
        risk_score: risk.map_or(0.0, |r| r.score),
        risk_factors: risk.map(|r| r.factors.clone()).unwrap_or_default(),
        policies_checked: checked,
        estimate,
    };
    let r = &input.request;
    let (provider, model) = (r.provider.trim(), r.model.trim());

    // 2. Validate.
    checked.push("validation");
    if provider.is_empty() || model.is_empty() || r.input_chars == 0 || r.max_tokens == Some(0) {
        return reject(
            Reason::InvalidRequest,
            "provider, model and some input are required".into(),
            checked,
            None,
            None,
        );
    }
    // 3. The user.
    checked.push("user_status");
    if !input.account.active || !input.account.verified {
        return reject(
            Reason::UserInactive,
            "the account is not active and verified".into(),
            checked,
            None,
            None,
        );
    }
    // 4–6. System blocks, the project's policy, strict allow-lists, forbidden providers and
    // operations.
    checked.push("system_policy");
    checked.push("project_policy");
    if let Err((reason, text)) = policy_check(&input.system, &input.policy, provider, model, r.operation) {
        return reject(reason, text, checked, None, None);
    }
    let p = &input.policy;
    checked.push("time_window");
    if !p.allowed_hours.is_empty() && !p.allowed_hours.contains(&now.hour()) {
        return reject(
            Reason::OutsideAllowedHours,
            format!("{:02}:00 UTC is outside the allowed hours", now.hour()),
            checked,
            None,
            None,
        );
    }
    let weekday = now.weekday().num_days_from_monday();
    if !p.allowed_weekdays.is_empty() && !p.allowed_weekdays.contains(&weekday) {
        return reject(
            Reason::OutsideAllowedDays,
            format!("{} is not an allowed day", now.weekday()),
            checked,
            None,
            None,
        );
    }
    // 7. Rate limits.
    checked.push("rate_limits");
    let u = &input.usage;
    for (used, limit, window) in [
        (u.last_minute, p.rate_per_minute, "minute"),
        (u.last_hour, p.rate_per_hour, "hour"),
        (u.last_day, p.rate_per_day, "day"),
    ] {
        if used >= limit {
            return reject(
                Reason::RateLimitExceeded,
                format!("{limit} requests per {window} reached"),
                checked,
                None,
                None,
            );
        }
    }
    // 8. Estimate.
    checked.push("cost_estimate");
    let est = estimate(r, &input.price, input.system.fee_bps);
    // 9. Caps and balance.
    checked.push("budget");
    let b = &input.budget;
    if est.total > input.system.max_per_request {
        return reject(
            Reason::ExceedsSystemLimit,
            "above the platform's per-request cap".into(),
            checked,
            Some(est),
            None,
        );
    }
    if b.user_used_today.saturating_add(est.total) > input.system.max_daily {
        return reject(
            Reason::ExceedsSystemLimit,
            "above the platform's daily cap".into(),
            checked,
            Some(est),
            None,
        );
    }
    if est.total > b.per_request {
        return reject(
            Reason::ExceedsPerRequestLimit,
            "above the project's per-request limit".into(),
            checked,
            Some(est),
            None,
        );
    }
    if b.used_today.saturating_add(est.total) > b.daily {
        return reject(
            Reason::DailyBudgetExceeded,
            "the project's daily budget is used up".into(),
            checked,
            Some(est),
            None,
        );
    }
    if b.used_month.saturating_add(est.total) > b.monthly {
        return reject(
            Reason::MonthlyBudgetExceeded,
            "the project's monthly budget is used up".into(),
            checked,
            Some(est),
            None,
        );
    }
    checked.push("balance");
    if input.account.balance.saturating_sub(input.account.reserved) < est.total {
        return reject(
            Reason::InsufficientBalance,
            "the available balance does not cover the cost".into(),
            checked,
            Some(est),
            None,
        );
    }
    // 10. Risk.
    checked.push("risk");
    let risk = risk_score(input, &est, now);
    // 11. Decide.
    if risk.score > p.max_risk_score {
        let text = format!("risk {:.1} is above the project's maximum {:.1}", risk.score, p.max_risk_score);
        return reject(Reason::HighRisk, text, checked, Some(est), Some(&risk));
    }
    let approved = |tier: Tier, text: String, checked: Vec<&'static str>| Decision {
        outcome: Outcome::Approved,
        reason: None,
        reason_text: text,
        tier,
        risk_score: risk.score,
        risk_factors: risk.factors.clone(),
        policies_checked: checked,
        estimate: Some(est),
    };
    if risk.score < p.auto_approve_risk_threshold && est.total < input.system.flash_ceiling {
        return approved(Tier::Flash, "low risk and low cost".into(), checked);
    }
    checked.push("pro_evaluator");
    let review = |text: String, checked: Vec<&'static str>| Decision {
        outcome: Outcome::RequiresReview,
        reason: None,
        reason_text: text,
        tier: Tier::Pro,
        risk_score: risk.score,
        risk_factors: risk.factors.clone(),
        policies_checked: checked,
        estimate: Some(est),
    };
    if p.require_approval_above.is_some_and(|limit| est.total > limit) {
        return review("above the project's approval threshold".into(), checked);
    }
    match pro.evaluate(input, &est, &risk) {
        None => approved(Tier::Pro, "approved by the PRO rules".into(), checked),
        // Stricter only: the evaluator can send to review or reject, never more.
        Some((Outcome::Rejected, text)) => {
            Decision { outcome: Outcome::Rejected, reason: Some(Reason::HighRisk), ..review(text, checked) }
        }
        Some((_, text)) => review(text, checked),
    }
}

#[cfg(test)]
mod tests;
