//! Helpers for spend-gateway tests: a verified, funded user with a project, catalogue prices,
//! policies and budgets, and the books check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{json, Value};

use crate::TestApp;
use models::Role;

/// 0.1 USDC per request, 5 % fee: every `local/echo` call costs exactly this.
pub const CALL: i64 = 105_000;

/// A verified platform user with a balance, a project and a key.
#[derive(Debug)]
pub struct Spender {
    /// Its key.
    pub key: String,
    /// `usr_…`.
    pub uid: String,
    /// `prj_…`.
    pub project: String,
}

/// Catalogues `provider/model` at `per_request` micro-USDC a call (the provider row too, for the
/// scripted test providers).
pub fn set_price(app: &TestApp, provider: &str, model: &str, per_request: i64) {
    set_prices(app, provider, model, (0, 0, per_request));
}

/// Catalogues `provider/model` at `(input, output)` micro-USDC per million tokens and
/// `per_request` a call.
pub fn set_prices(app: &TestApp, provider: &str, model: &str, (input, output, per_request): (i64, i64, i64)) {
    use repositories::gateway::model_catalogue as cat;
    let mut conn = app.db.db.conn().unwrap();
    let now = models::time::now();
    cat::insert_provider_if_missing(
        &mut conn,
        &models::rows_spend::ProviderRow {
            name: provider.into(),
            kind: "openai".into(),
            display_name: provider.into(),
            base_url: "http://127.0.0.1:9".into(),
            api_key_env: String::new(),
            enabled: true,
            updated_at: now,
        },
    )
    .unwrap();
    let m = models::rows_spend::CatalogueModel {
        provider: provider.into(),
        model: model.into(),
        category: "chat".into(),
        capabilities: "[]".into(),
        context_window: 0,
        input_per_million: input,
        output_per_million: output,
        per_request,
        per_image: 0,
        per_million_chars: 0,
        price_read_on: "test".into(),
        active: true,
        updated_at: now,
    };
    if !cat::insert_model_if_missing(&mut conn, &m, "test", now).unwrap() {
        cat::update_model(&mut conn, &m, "test", now).unwrap();
    }
    // Written past the services, which would clear the gateway's cache of catalogue rows.
    app.db.db.decision_cache().clear();
}

pub fn open_policy() -> Value {
    json!({
        "allowed_providers": ["local"],
        "allowed_models": ["local/echo"],
        "rate_per_minute": 10000, "rate_per_hour": 10000, "rate_per_day": 10000,
    })
}

pub async fn spender(app: &TestApp, balance: i64, policy: Value) -> Spender {
    let email = format!("spender-{}@test.local", models::ids::random_crockford(8).to_ascii_lowercase());
    let (_, _, key) =
        services::keys::create_for_cli(&app.db.db, "Spender", &email, Role::Member).await.unwrap();
    let me: Value = app.get("/api/v1/me", &key).await.json().await.unwrap();
    let uid = me["user"]["id"].as_str().or(me["id"].as_str()).unwrap().to_string();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{uid}"),
            Some(&app.admin_key),
            Some(&json!({"verified": true})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    if balance > 0 {
        let res = app
            .post(&format!("/api/v1/users/{uid}/deposits"), &app.admin_key, &json!({"amount": balance}))
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app.post("/api/v1/projects", &key, &json!({"name": "Agents"})).await;
    assert_eq!(res.status(), 201);
    let project = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    put_policy(app, &key, &project, policy).await;
    Spender { key, uid, project }
}

pub async fn put_policy(app: &TestApp, key: &str, project: &str, policy: Value) {
    let res = app
        .send(Method::PUT, &format!("/api/v1/projects/{project}/policy"), Some(key), Some(&policy), &[])
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

pub async fn put_budget(app: &TestApp, s: &Spender, per_request: i64, daily: i64, monthly: i64) {
    let body = json!({"per_request": per_request, "daily": daily, "monthly": monthly});
    let res = app
        .send(Method::PUT, &format!("/api/v1/projects/{}/budget", s.project), Some(&s.key), Some(&body), &[])
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

pub fn call_body(s: &Spender, provider: &str, model: &str) -> Value {
    json!({
        "provider": provider, "model": model, "operation": "chat", "project": s.project,
        "messages": [{"role": "user", "content": "hello there"}],
    })
}

pub async fn call(app: &TestApp, s: &Spender) -> reqwest::Response {
    app.post("/api/v1/requests", &s.key, &call_body(s, "local", "echo")).await
}

/// `(balance, reserved)` of a user.
pub async fn money(app: &TestApp, uid: &str) -> (i64, i64) {
    let u: Value = app.get(&format!("/api/v1/users/{uid}"), &app.admin_key).await.json().await.unwrap();
    (u["balance"]["amount"].as_i64().unwrap(), u["reserved"]["amount"].as_i64().unwrap_or(-1))
}

/// The books balance: the ledger's balance-changing entries sum to the balance, nothing is left
/// reserved, and neither is negative.
pub async fn assert_books(app: &TestApp, uid: &str) {
    let (balance, reserved) = money(app, uid).await;
    let mut sum = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users/{uid}/ledger?limit=200&cursor={c}"),
            None => format!("/api/v1/users/{uid}/ledger?limit=200"),
        };
        let page: Value = app.get(&path, &app.admin_key).await.json().await.unwrap();
        for e in page["items"].as_array().unwrap() {
            if ["deposit", "charge", "refund", "adjustment"].contains(&e["kind"].as_str().unwrap()) {
                sum += e["amount"].as_i64().unwrap();
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(sum, balance, "ledger sum equals the balance");
    assert_eq!(reserved, 0, "nothing left reserved");
    assert!(balance >= 0);
}

/// The real OpenAI-compatible adapter called `name`, pointed at `base` (a loopback fake's `…/v1`),
/// with a 5 s timeout and no retries.
pub fn openai_compatible(name: &str, base: &str) -> std::sync::Arc<dyn services::ports::ModelProvider> {
    let up = integrations::providers::Upstream::new(
        name,
        base,
        Some("k".into()),
        std::time::Duration::from_secs(5),
        0,
        std::time::Duration::from_millis(1),
    )
    .unwrap();
    std::sync::Arc::new(integrations::providers::OpenAiCompatible::new(up))
}
