//! Spend alerts (SPEC §4.3) and their signed outbound webhooks.
//!
//! After each settled request the project's budgets and the user's balance and hourly spend are
//! checked; an alert is stored at most once per user, scope, kind and period (a unique
//! constraint), so a busy project cannot flood anyone. A user with a webhook gets each new alert
//! as a [Standard Webhooks](https://www.standardwebhooks.com/) message, retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{Duration as Span, NaiveDateTime};
use hmac::{KeyInit, Mac};
use models::ids::public_id;
use models::rows_spend::{Alert, WebhookDelivery};
use repositories::{
    gateway::admission, gateway::projects as project_repo, gateway::requests as repo, users as user_repo,
};
use repositories::{DbConnection, Page};
use serde_json::json;

use crate::audit::{self, AuditContext, Entry};
use crate::gateway::decide::Budget;
use crate::ports::{WebhookMessage, WebhookSender};
use crate::{in_tx, with_conn, Principal, ServiceError};

/// Budget thresholds, percent.
pub const THRESHOLDS: [i64; 3] = [75, 90, 100];

/// An alert whose threshold is crossed, not stored yet: [`due`] finds them after a settlement
/// (reads only), [`raise_due`] stores them.
#[derive(Debug)]
pub struct Candidate {
    scope: String,
    kind: String,
    period: String,
    message: String,
    details: serde_json::Value,
}

/// The thresholds a settlement crossed, from what it read back ([`admission::Settled`]: the
/// project's budget and usage, the owner's balance and hourly charges).
pub fn due(view: &admission::Settled, now: NaiveDateTime) -> Vec<Candidate> {
    let mut found = Vec::new();
    let d = Budget::default();
    let (daily, monthly) = (view.daily.unwrap_or(d.daily), view.monthly.unwrap_or(d.monthly));
    let day = now.format("%Y-%m-%d").to_string();
    let month = now.format("%Y-%m").to_string();
    for (name, period, limit, used) in
        [("daily", &day, daily, view.used_day), ("monthly", &month, monthly, view.used_month)]
    {
        let pct = if limit > 0 { used.saturating_mul(100) / limit } else { 0 };
        for t in THRESHOLDS.iter().filter(|t| pct >= **t) {
            found.push(Candidate {
                scope: view.project.clone(),
                kind: format!("budget_{name}_{t}"),
                period: period.clone(),
                message: format!("project {} has used {t}% of its {name} budget", view.project_name),
                details: json!({"project": view.project, "used": used, "limit": limit, "percent": pct}),
            });
        }
    }
    let (balance, deposited) = (view.balance, view.deposited);
    if deposited > 0 && (deposited - balance).saturating_mul(100) >= deposited.saturating_mul(80) {
        found.push(Candidate {
            scope: "account".into(),
            kind: "low_balance".into(),
            period: day.clone(),
            message: "80% or more of the deposited balance is spent".into(),
            details: json!({"balance": balance, "deposited": deposited}),
        });
    }
    // The user's charges by the hour their requests were made: this hour, and the 24 before it.
    let this_hour = view.this_hour;
    let average = view.hours_before as f64 / 24.0;
    if average > 0.0 {
        let over = (this_hour as f64 - average) / average;
        for (pct, kind) in [(1.0, "cost_spike_100"), (0.5, "cost_spike_50")] {
            if over > pct {
                found.push(Candidate {
                    scope: "account".into(),
                    kind: kind.into(),
                    period: now.format("%Y-%m-%dT%H").to_string(),
                    message: format!(
                        "spending this hour is more than {}% above the 24-hour average",
                        pct * 100.0
                    ),
                    details: json!({"this_hour": this_hour, "hourly_average": average}),
                });
            }
        }
    }
    found
}

/// A provider that reported more than was reserved (the charge stops at the reservation): one
/// `reservation_overrun` alert per request, so the owner sees the unbilled work.
pub fn overrun(
    conn: &mut DbConnection,
    user_id: i64,
    project_id: i64,
    request: &str,
    reserved: i64,
    actual: i64,
    now: NaiveDateTime,
) -> Result<Vec<String>, ServiceError> {
    let project = project_repo::by_id(conn, project_id)?;
    let candidate = Candidate {
        scope: project.public_id.clone(),
        kind: "reservation_overrun".into(),
        period: request.to_string(),
        message: format!(
            "request {request} cost {actual} micro-USDC by the provider's usage, above the {reserved} reserved; \
             the charge stopped at the reservation"
        ),
        details: json!({"project": project.public_id, "request": request, "reserved": reserved,
            "actual": actual, "unbilled": actual - reserved}),
    };
    raise_due(conn, user_id, vec![candidate], now)
}

/// Stores each candidate (what [`due`] found) once — the unique constraint decides — in the
/// caller's transaction, audits it and queues its webhook; the kinds raised.
pub fn raise_due(
    conn: &mut DbConnection,
    user_id: i64,
    found: Vec<Candidate>,
    now: NaiveDateTime,
) -> Result<Vec<String>, ServiceError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let user = user_repo::by_id(conn, user_id)?;
    let webhook = repo::webhook(conn, user_id)?;
    let mut raised = Vec::new();
    for c in found {
        let id = public_id("alr");
        let details = c.details.to_string();
        let new = repo::NewAlert {
            public_id: &id,
            user_id,
            scope: &c.scope,
            kind: &c.kind,
            period: &c.period,
            message: &c.message,
            details: &details,
        };
        if !repo::insert_alert_once(conn, &new, now)? {
            continue;
        }
        audit::record(
            conn,
            &AuditContext::system(),
            Entry {
                action: "alert.raised",
                subject_type: "alert",
                subject_id: Some(&id),
                details: json!({"user": user.public_id, "kind": c.kind, "scope": c.scope, "period": c.period}),
                result: models::AuditResult::Success,
            },
        )?;
        if let Some((url, _)) = &webhook {
            let payload = json!({
                "type": "alert.raised",
                "timestamp": now.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "data": {
                    "id": id, "kind": c.kind, "scope": c.scope, "period": c.period,
                    "message": c.message, "details": c.details,
                },
            });
            repo::enqueue_webhook(conn, &public_id("msg"), user_id, url, &payload.to_string(), now)?;
        }
        raised.push(c.kind);
    }
    Ok(raised)
}

/// The caller's alerts (admins: everyone's), newest first.
pub async fn list(
    db: &repositories::Db,
    caller: &Principal,
    scope: Option<String>,
    page: Page,
) -> Result<Vec<Alert>, ServiceError> {
    let user = (!caller.is_admin()).then_some(caller.user_id);
    with_conn(db, move |conn| Ok(repo::alerts(conn, user, scope.as_deref(), page)?)).await
}

/// A webhook secret: `whsec_` and 24 random bytes in base64.
fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// Whether a URL's host is `localhost` or a loopback, private, link-local or unspecified address.
fn internal_host(url: &url::Url) -> bool {
    use std::net::IpAddr;
    let ip = match url.host() {
        Some(url::Host::Domain(d)) => {
            return d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        None => return true,
    };
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Sets the caller's alert webhook; returns the new signing secret (shown once). Internal
/// addresses are refused unless `allow_private` (names are not resolved here).
pub async fn set_webhook(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    url: String,
    allow_private: bool,
    now: NaiveDateTime,
) -> Result<String, ServiceError> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| ServiceError::invalid("url", "is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() || url.len() > 2000 {
        return Err(ServiceError::invalid("url", "must be an http(s) URL of at most 2000 characters"));
    }
    if !allow_private && internal_host(&parsed) {
        return Err(ServiceError::invalid(
            "url",
            "must not point at a loopback, private or link-local address",
        ));
    }
    let secret = new_secret();
    let (user_id, url, s) = (caller.user_id, parsed.to_string(), secret.clone());
    let actor = caller.user_public_id.clone();
    in_tx(db, move |conn| {
        repo::set_webhook(conn, user_id, Some((&url, &s)), now)?;
        audit::record_success(conn, &ctx, "webhook.set", "user", &actor, json!({"url": url}))?;
        Ok(())
    })
    .await?;
    Ok(secret)
}

/// Removes the caller's webhook (pending deliveries are given up).
pub async fn remove_webhook(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let (user_id, actor) = (caller.user_id, caller.user_public_id.clone());
    in_tx(db, move |conn| {
        repo::set_webhook(conn, user_id, None, now)?;
        audit::record_success(conn, &ctx, "webhook.removed", "user", &actor, json!({}))?;
        Ok(())
    })
    .await
}

/// The caller's webhook URL (if any) and its recent deliveries.
pub async fn webhook(
    db: &repositories::Db,
    caller: &Principal,
) -> Result<(Option<String>, Vec<WebhookDelivery>), ServiceError> {
    let user_id = caller.user_id;
    with_conn(db, move |conn| {
        Ok((repo::webhook(conn, user_id)?.map(|(u, _)| u), repo::webhook_deliveries(conn, user_id)?))
    })
    .await
}

/// The Standard Webhooks signature `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under a
/// `whsec_…` secret (whose base64 part is the key).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, ServiceError> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| ServiceError::Internal("webhook secret is not base64".into()))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|_| ServiceError::Internal("webhook secret has a bad length".into()))?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// What the spend jobs need: the stale bound, the webhook sender and its retry rules.
#[derive(Clone, Debug)]
pub struct SpendJobs {
    /// Reservations older than this are released.
    pub stale_after: Duration,
    /// How often the release runs: every scheduler tick (`jobs.tick_secs`).
    pub release_every: Duration,
    /// Sends webhooks.
    pub sender: Arc<dyn WebhookSender>,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubled each attempt.
    pub backoff: Duration,
}

/// Delay before attempt `attempts + 1`: `backoff × 2^(attempts − 1)`, capped at a day.
pub fn retry_delay(backoff: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    backoff.saturating_mul(factor).min(Duration::from_secs(86_400))
}

/// Sends every due webhook once at `now`; returns how many were delivered.
pub async fn deliver_due(
    db: &repositories::Db,
    jobs: &SpendJobs,
    now: NaiveDateTime,
) -> Result<usize, ServiceError> {
    let due = with_conn(db, move |conn| Ok(repo::due_webhooks(conn, now, 100)?)).await?;
    let mut delivered = 0;
    for d in due {
        let user_id = d.user_id;
        let secret = with_conn(db, move |conn| Ok(repo::webhook(conn, user_id)?.map(|(_, s)| s))).await?;
        let removed = secret.is_none();
        let result = match secret.map(|s| {
            let ts = now.and_utc().timestamp();
            sign(&s, &d.public_id, ts, &d.payload).map(|sig| (ts, sig))
        }) {
            None => Err("the webhook was removed".to_string()),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok((ts, signature))) => {
                let message = WebhookMessage {
                    url: d.url.clone(),
                    headers: vec![
                        ("content-type".into(), "application/json".into()),
                        ("webhook-id".into(), d.public_id.clone()),
                        ("webhook-timestamp".into(), ts.to_string()),
                        ("webhook-signature".into(), signature),
                    ],
                    body: d.payload.clone(),
                };
                jobs.sender.send(&message).await.map_err(|e| e.to_string())
            }
        };
        let attempts = u32::try_from(d.attempts).unwrap_or(0) + 1;
        let (status, next, error) = match &result {
            Ok(()) => ("delivered", now, None),
            Err(_) if removed || attempts >= jobs.max_attempts => {
                ("failed", now, result.as_ref().err().cloned())
            }
            Err(e) => {
                let delay = Span::from_std(retry_delay(jobs.backoff, attempts)).unwrap_or(Span::zero());
                ("pending", now + delay, Some(e.clone()))
            }
        };
        if let Some(e) = &error {
            tracing::warn!(delivery = %d.public_id, attempts, error = %e, "webhook delivery failed");
        }
        let id = d.id;
        let before = d.attempts;
        with_conn(db, move |conn| {
            Ok(repo::record_attempt(conn, id, before, status, next, error.as_deref(), now)?)
        })
        .await?;
        delivered += usize::from(status == "delivered");
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (secret, id, timestamp, payload and
    /// signature as published there; recomputed independently with Python's `hmac`).
    #[test]
    fn signs_the_standard_webhooks_example() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn internal_hosts_are_recognised() {
        for (u, internal) in [
            ("http://localhost:8080/x", true),
            ("http://127.0.0.1/x", true),
            ("http://10.1.2.3/x", true),
            ("http://192.168.0.5/x", true),
            ("http://169.254.169.254/latest", true),
            ("http://[::1]/x", true),
            ("http://[fd00::1]/x", true),
            ("http://[::ffff:127.0.0.1]/x", true),
            ("https://hooks.example.com/x", false),
            ("https://8.8.8.8/x", false),
        ] {
            assert_eq!(internal_host(&url::Url::parse(u).unwrap()), internal, "{u}");
        }
    }

    #[test]
    fn retry_delays_double_and_are_capped() {
        let b = Duration::from_millis(500);
        let delays: Vec<u128> = (1..=5).map(|a| retry_delay(b, a).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000]);
        assert_eq!(retry_delay(Duration::from_secs(3600), 30), Duration::from_secs(86_400));
    }
}
