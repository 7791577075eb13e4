use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};

use super::*;

/// Monday 2026-11-23 10:00 UTC.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).single().unwrap_or_default()
}

/// A request that passes every rule and scores 1.0: approved at FLASH.
fn base() -> DecisionInput {
    DecisionInput {
        request: SpendRequest {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            operation: Operation::Chat,
            input_chars: 4000,
            max_tokens: None,
            choices: 1,
        },
        account: Account { active: true, verified: true, balance: 10 * USDC, reserved: 0 },
        policy: Policy {
            allowed_providers: vec!["openai".into(), "local".into()],
            allowed_models: vec!["gpt-4o-mini".into(), "local/echo".into()],
            ..Policy::default()
        },
        system: SystemPolicy::default(),
        budget: Budget::default(),
        usage: RecentUse::default(),
        price: Price {
            input_per_million: 150_000,
            output_per_million: 600_000,
            per_request: 0,
            per_million_chars: 0,
        },
        baseline: Baseline {
            requests: 20,
            mean_cost: 520.0,
            stddev_cost: 100.0,
            hourly_rate: 2.0,
            providers: vec!["openai".into()],
            models: vec!["openai/gpt-4o-mini".into()],
            hours: (0..24).collect(),
            agent_known: true,
        },
    }
}

fn run(input: &DecisionInput) -> Decision {
    decide(input, now(), &RulesEvaluator)
}

#[test]
fn the_base_request_is_approved_at_flash() {
    let d = run(&base());
    assert_eq!(d.outcome, Outcome::Approved, "{d:?}");
    assert_eq!(d.tier, Tier::Flash);
    assert_eq!(d.risk_score, 1.0);
    let e = d.estimate.unwrap_or(Estimate { input_tokens: 0, output_tokens: 0, cost: 0, fee: 0, total: 0 });
    assert_eq!((e.input_tokens, e.output_tokens, e.cost, e.fee, e.total), (1100, 550, 495, 25, 520));
}

#[test]
fn estimate_follows_the_formula() {
    let mut r = base().request;
    r.input_chars = 7; // ⌊7/4⌋ = 1 → ⌊1 × 1.1⌋ = 1
    assert_eq!(estimate(&r, &Price::default(), 500).input_tokens, 1);
    r.input_chars = 400; // 100 → 110
    r.max_tokens = Some(1000);
    let e = estimate(
        &r,
        &Price {
            input_per_million: 1_000_000,
            output_per_million: 2_000_000,
            per_request: 7,
            per_million_chars: 0,
        },
        500,
    );
    assert_eq!((e.input_tokens, e.output_tokens), (110, 1000));
    assert_eq!(e.cost, 110 + 2000 + 7);
    assert_eq!(e.fee, (2117 * 500 + 9_999) / 10_000);
    let free = estimate(&r, &Price::default(), 500);
    assert_eq!((free.cost, free.fee, free.total), (0, 0, 0), "local/echo is free");
    // Each choice (`n`, `best_of`) may produce `max_tokens`: all of them are reserved.
    r.choices = 8;
    assert_eq!(estimate(&r, &Price::default(), 500).output_tokens, 8000);
}

/// Every rejection code, each produced by the smallest change to the base request.
#[test]
fn every_rejection_code() {
    type Mutation = fn(&mut DecisionInput);
    let cases: Vec<(Reason, Mutation)> = vec![
        (Reason::InvalidRequest, |i| i.request.model = " ".into()),
        (Reason::UserInactive, |i| i.account.verified = false),
        (Reason::ProviderBlocked, |i| i.system.blocked_providers = vec!["OpenAI".into()]),
        (Reason::ModelBlocked, |i| i.system.blocked_models = vec!["openai/gpt-4o-mini".into()]),
        (Reason::PolicyInactive, |i| i.policy.active = false),
        (Reason::NoProvidersConfigured, |i| i.policy.allowed_providers.clear()),
        (Reason::UnauthorizedProvider, |i| i.request.provider = "anthropic".into()),
        (Reason::NoModelsConfigured, |i| i.policy.allowed_models.clear()),
        (Reason::UnauthorizedModel, |i| i.request.model = "gpt-4o".into()),
        (Reason::ForbiddenProvider, |i| i.policy.forbidden_providers = vec!["openai".into()]),
        (Reason::OperationForbidden, |i| i.policy.forbidden_operations = vec!["openai.*.chat".into()]),
        (Reason::OutsideAllowedHours, |i| i.policy.allowed_hours = vec![0, 1, 2]),
        (Reason::OutsideAllowedDays, |i| i.policy.allowed_weekdays = vec![5, 6]),
        (Reason::RateLimitExceeded, |i| i.usage.last_minute = 10),
        (Reason::ExceedsSystemLimit, |i| i.system.max_per_request = 100),
        (Reason::ExceedsPerRequestLimit, |i| i.budget.per_request = 100),
        (Reason::DailyBudgetExceeded, |i| i.budget.used_today = i.budget.daily),
        (Reason::MonthlyBudgetExceeded, |i| i.budget.used_month = i.budget.monthly),
        (Reason::InsufficientBalance, |i| i.account.reserved = i.account.balance),
        (Reason::HighRisk, |i| i.policy.max_risk_score = 0.5),
    ];
    // Every code but the reviewer's, which the pipeline never gives.
    assert_eq!(cases.len(), Reason::ALL.len() - 1, "a case for every code");
    for (reason, mutate) in cases {
        let mut input = base();
        mutate(&mut input);
        let d = run(&input);
        assert_eq!(d.outcome, Outcome::Rejected, "{reason}: {d:?}");
        assert_eq!(d.reason, Some(reason), "{d:?}");
        assert!(!d.reason_text.is_empty());
    }
}

#[test]
fn rate_limits_per_hour_and_day_and_system_daily_cap() {
    for mutate in
        [|i: &mut DecisionInput| i.usage.last_hour = 100, |i: &mut DecisionInput| i.usage.last_day = 1000]
    {
        let mut input = base();
        mutate(&mut input);
        assert_eq!(run(&input).reason, Some(Reason::RateLimitExceeded));
    }
    let mut input = base();
    input.budget.user_used_today = input.system.max_daily;
    assert_eq!(run(&input).reason, Some(Reason::ExceedsSystemLimit));
    assert_eq!(Reason::InsufficientBalance.kind(), ReasonKind::Balance);
    assert_eq!(Reason::RateLimitExceeded.kind(), ReasonKind::RateLimit);
    assert_eq!(Reason::UnauthorizedModel.kind(), ReasonKind::Policy);
}

fn factors(input: &DecisionInput) -> Vec<&'static str> {
    let est = estimate(&input.request, &input.price, input.system.fee_bps);
    risk_score(input, &est, now()).factors.iter().map(|f| f.name).collect()
}

fn score(input: &DecisionInput) -> f64 {
    let est = estimate(&input.request, &input.price, input.system.fee_bps);
    risk_score(input, &est, now()).score
}

#[test]
fn risk_high_cost_without_baseline() {
    let mut i = base();
    i.baseline.requests = 9; // ignored below 10
    i.price.per_request = 11 * USDC;
    assert_eq!(factors(&i), vec!["high_cost_without_baseline"]);
    assert_eq!(score(&i), 3.0);
    i.price.per_request = 9 * USDC;
    assert!(factors(&i).is_empty());
}

#[test]
fn risk_cost_spike() {
    let mut i = base();
    i.baseline.mean_cost = 100.0;
    i.baseline.stddev_cost = 100.0; // cost 520 → deviation 4.2 → +3 (capped)
    assert_eq!(score(&i), 4.0);
    i.baseline.stddev_cost = 150.0; // deviation 2.8 → +1.5
    assert_eq!(score(&i), 2.5);
    i.baseline.stddev_cost = 300.0; // deviation 1.4 → nothing
    assert_eq!(score(&i), 1.0);
    i.baseline.requests = 5; // baseline ignored
    i.baseline.stddev_cost = 100.0;
    assert_eq!(score(&i), 1.0);
}

#[test]
fn risk_rate_spike() {
    let mut i = base();
    i.usage.last_hour = 7; // > 3 × 2
    assert_eq!(factors(&i), vec!["rate_spike"]);
    assert_eq!(score(&i), 3.0);
    i.usage.last_hour = 6;
    assert!(factors(&i).is_empty());
}

#[test]
fn risk_unusual_provider_model_and_hour() {
    let mut i = base();
    i.request.provider = "local".into();
    i.request.model = "echo".into();
    assert_eq!(factors(&i), vec!["unusual_provider", "unusual_model"]);
    assert_eq!(score(&i), 2.5);
    let mut i = base();
    i.baseline.models = vec!["openai/gpt-4o".into()];
    assert_eq!(score(&i), 1.5);
    let mut i = base();
    i.baseline.hours = vec![22, 23];
    assert_eq!(factors(&i), vec!["unusual_hour"]);
    assert_eq!(score(&i), 1.5);
}

#[test]
fn risk_new_agent() {
    let mut i = base();
    i.baseline.agent_known = false;
    assert_eq!(score(&i), 2.5);
}

#[test]
fn risk_recent_rejections() {
    let mut i = base();
    i.usage.recent_rejections = 3;
    assert_eq!(score(&i), 2.0);
    i.usage.recent_rejections = 5;
    assert_eq!(score(&i), 3.0);
    i.usage.recent_rejections = 2;
    assert_eq!(score(&i), 1.0);
}

#[test]
fn risk_budget_nearly_exhausted() {
    let mut i = base();
    i.budget.used_today = i.budget.daily * 9 / 10;
    assert_eq!(factors(&i), vec!["budget_nearly_exhausted"]);
    assert_eq!(score(&i), 2.5);
    let mut i = base();
    i.budget.used_month = i.budget.monthly * 95 / 100;
    assert_eq!(score(&i), 2.5);
}

#[test]
fn risk_is_capped_at_ten() {
    let mut i = base();
    i.baseline.mean_cost = 0.0;
    i.baseline.stddev_cost = 1.0;
    i.usage.last_hour = 50;
    i.request.provider = "local".into();
    i.request.model = "echo".into();
    i.baseline.hours = vec![];
    i.baseline.agent_known = false;
    i.usage.recent_rejections = 9;
    i.budget.used_today = i.budget.daily - 600;
    // 1 + 3 + 2 + 1 + 0.5 + 0.5 + 1.5 + 2 + 1.5 = 13 → 10
    assert_eq!(factors(&i).len(), 8);
    assert_eq!(score(&i), risk::CAP);
}

#[test]
fn tiers_pro_review_and_high_risk() {
    // Risk 3.0 (not below the auto-approve threshold) → PRO approves.
    let mut i = base();
    i.baseline.agent_known = false;
    i.usage.recent_rejections = 3;
    let d = run(&i);
    assert_eq!((d.outcome, d.tier), (Outcome::Approved, Tier::Pro), "{d:?}");
    // Cheap and low-risk, but above the FLASH ceiling → PRO.
    let mut i = base();
    i.system.flash_ceiling = 100;
    assert_eq!(run(&i).tier, Tier::Pro);
    // Above require_approval_above → review.
    i.policy.require_approval_above = Some(500);
    let d = run(&i);
    assert_eq!((d.outcome, d.tier), (Outcome::RequiresReview, Tier::Pro));
    // Above the maximum risk → HIGH_RISK.
    let mut i = base();
    i.policy.max_risk_score = 2.0;
    i.baseline.agent_known = false;
    let d = run(&i);
    assert_eq!((d.outcome, d.reason), (Outcome::Rejected, Some(Reason::HighRisk)));
}

#[derive(Debug)]
struct Strict(Outcome);
impl ProEvaluator for Strict {
    fn evaluate(&self, _: &DecisionInput, _: &Estimate, _: &RiskScore) -> Option<(Outcome, String)> {
        Some((self.0, "the model says no".into()))
    }
}

#[derive(Debug)]
struct Lenient;
impl ProEvaluator for Lenient {
    fn evaluate(&self, _: &DecisionInput, _: &Estimate, _: &RiskScore) -> Option<(Outcome, String)> {
        Some((Outcome::Approved, "looks fine".into()))
    }
}

#[test]
fn the_pro_evaluator_can_only_be_stricter() {
    let mut i = base();
    i.system.flash_ceiling = 100; // force PRO
    assert_eq!(decide(&i, now(), &Strict(Outcome::RequiresReview)).outcome, Outcome::RequiresReview);
    assert_eq!(decide(&i, now(), &Strict(Outcome::Rejected)).outcome, Outcome::Rejected);
    // An evaluator that "approves" can at most send to review when it returns an opinion.
    assert_ne!(decide(&i, now(), &Lenient).outcome, Outcome::Approved);
    // It is never asked about what the rules refused.
    i.account.verified = false;
    assert_eq!(decide(&i, now(), &Lenient).reason, Some(Reason::UserInactive));
    i.account.verified = true;
    i.policy.max_risk_score = 0.5;
    assert_eq!(decide(&i, now(), &Lenient).reason, Some(Reason::HighRisk));
}

/// Property: for random inputs, the same request and state give the same decision — evaluated
/// twice, and after the input makes a JSON round trip (as it would through storage).
#[test]
fn decisions_are_deterministic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let providers = ["openai", "local", "anthropic", ""];
    let models = ["gpt-4o-mini", "echo", "claude", "gpt-4o"];
    for case in 0..2000 {
        let mut i = base();
        i.request.provider = providers[rng.gen_range(0..providers.len())].into();
        i.request.model = models[rng.gen_range(0..models.len())].into();
        i.request.operation = Operation::ALL[rng.gen_range(0..Operation::ALL.len())];
        i.request.input_chars = rng.gen_range(0..200_000);
        i.request.max_tokens = if rng.gen_bool(0.5) { Some(rng.gen_range(0..50_000)) } else { None };
        i.account.balance = rng.gen_range(0..20 * USDC);
        i.account.reserved = rng.gen_range(0..=i.account.balance);
        i.account.active = rng.gen_bool(0.95);
        i.usage.last_minute = rng.gen_range(0..12);
        i.usage.last_hour = rng.gen_range(0..40);
        i.usage.recent_rejections = rng.gen_range(0..8);
        i.budget.used_today = rng.gen_range(0..120 * USDC);
        i.baseline.requests = rng.gen_range(0..30);
        i.baseline.stddev_cost = rng.gen_range(0.0..1000.0);
        i.baseline.agent_known = rng.gen_bool(0.7);
        i.price.per_request = rng.gen_range(0..15 * USDC);
        let at = now() + chrono::Duration::minutes(rng.gen_range(0..10_080));
        i.policy.allowed_hours = if rng.gen_bool(0.2) { vec![9, 10, 11] } else { vec![] };
        let first = decide(&i, at, &RulesEvaluator);
        assert_eq!(first, decide(&i, at, &RulesEvaluator), "case {case}");
        let json = serde_json::to_string(&i).unwrap_or_default();
        let back: DecisionInput = serde_json::from_str(&json).unwrap_or_else(|_| base());
        assert_eq!(first, decide(&back, at, &RulesEvaluator), "case {case} after a round trip");
        // Invariants: approvals never exceed the available balance or the budget.
        if first.outcome == Outcome::Approved {
            let total = first.estimate.map(|e| e.total).unwrap_or(i64::MAX);
            assert!(total <= i.account.balance - i.account.reserved, "case {case}");
            assert!(i.budget.used_today + total <= i.budget.daily, "case {case}");
        }
    }
}
