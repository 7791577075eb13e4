//! The risk score (SPEC §4.2 step 10): start at 1.0, add each factor that applies, cap at 10.0.
//! A baseline of fewer than 10 requests is ignored (the factors that need one do not apply).

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;

use super::{DecisionInput, Estimate, USDC};

/// Requests a baseline needs before it counts.
pub const MIN_BASELINE: u32 = 10;
/// Maximum score.
pub const CAP: f64 = 10.0;

/// One factor and the points it added.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskFactor {
    /// Stable name, e.g. `cost_spike`.
    pub name: &'static str,
    /// Points added.
    pub points: f64,
}

/// The score and the factors behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskScore {
    /// 1.0–10.0.
    pub score: f64,
    /// Factors that applied, in table order.
    pub factors: Vec<RiskFactor>,
}

/// Scores a request that passed the rules.
pub fn risk_score(input: &DecisionInput, est: &Estimate, now: DateTime<Utc>) -> RiskScore {
    let mut factors = Vec::new();
    let mut add = |name: &'static str, points: f64| factors.push(RiskFactor { name, points });
    let b = &input.baseline;
    let has_baseline = b.requests >= MIN_BASELINE;
    let cost = est.total as f64;
    let provider = input.request.provider.trim().to_ascii_lowercase();
    let model = format!("{provider}/{}", input.request.model.trim().to_ascii_lowercase());

    if !has_baseline && est.total > 10 * USDC {
        add("high_cost_without_baseline", 2.0);
    }
    if has_baseline && b.stddev_cost > 0.0 {
        let deviation = (cost - b.mean_cost) / b.stddev_cost;
        if deviation > 3.0 {
            add("cost_spike", deviation.min(3.0));
        } else if deviation > 2.0 {
            add("cost_spike", 1.5);
        }
    }
    if has_baseline
        && b.hourly_rate > 0.0
        && f64::from(input.usage.last_hour.max(input.usage.hourly)) > 3.0 * b.hourly_rate.max(1.0)
    {
        add("rate_spike", 2.0);
    }
    if has_baseline && !b.providers.iter().any(|p| p.eq_ignore_ascii_case(&provider)) {
        add("unusual_provider", 1.0);
    }
    if has_baseline && !b.models.iter().any(|m| m.eq_ignore_ascii_case(&model)) {
        add("unusual_model", 0.5);
    }
    if has_baseline && !b.hours.contains(&now.hour()) {
        add("unusual_hour", 0.5);
    }
    if !b.agent_known {
        add("new_agent", 1.5);
    }
    let rejections = input.usage.recent_rejections;
    if rejections >= 5 {
        add("recent_rejections", 2.0);
    } else if rejections >= 3 {
        add("recent_rejections", 1.0);
    }
    let budget = &input.budget;
    let nearly =
        |used: i64, limit: i64| limit > 0 && (used.saturating_add(est.total)) as f64 >= 0.9 * limit as f64;
    if nearly(budget.used_today, budget.daily) || nearly(budget.used_month, budget.monthly) {
        add("budget_nearly_exhausted", 1.5);
    }
    let score = (1.0 + factors.iter().map(|f| f.points).sum::<f64>()).min(CAP);
    RiskScore { score, factors }
}
