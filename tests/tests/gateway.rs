//! The spend gateway through HTTP: every rejection code, execution and settlement, the review
//! queue, provider failures and abandoned reservations, races against budgets and balances,
//! alerts with signed webhooks, and the report. Each test runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use integrations::fakes::{FixedClock, Script, ScriptedProvider};
use models::Role;
use reqwest::Method;
use serde_json::{json, Value};
use system_tests::spend::*;
use system_tests::{expect_problem, Backend, TestApp, TestDb};

/// A refusal with `status` and `code` that recorded a rejected request and moved no money.
async fn refused(app: &TestApp, s: &Spender, body: &Value, status: u16, code: &str) {
    let before = money(app, &s.uid).await;
    let p = expect_problem(app.post("/api/v1/requests", &s.key, body).await, status, code).await;
    let id = p["ai_request_id"].as_str().expect("the refusal names its request").to_string();
    let r: Value = app.get(&format!("/api/v1/requests/{id}"), &s.key).await.json().await.unwrap();
    assert_eq!((r["status"].as_str(), r["decision"]["reason"].as_str()), (Some("rejected"), Some(code)));
    assert!(r["payment"].is_null());
    assert!(r["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "request.decided" && e["result"] == "denied"));
    assert_eq!(money(app, &s.uid).await, before, "{code} changed no balance");
}

async fn every_rejection_code_through_http(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 10_000_000, open_policy()).await;
    let body = call_body(&s, "local", "echo");
    let policy = |extra: Value| {
        let mut p = open_policy();
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    };

    // The request itself: a malformed call is refused at the edge and never recorded; a
    // well-formed one without any input is recorded and refused by the pipeline.
    let mut empty = body.clone();
    empty["messages"] = json!([]);
    let recorded_before: Value = app.get("/api/v1/requests?limit=200", &s.key).await.json().await.unwrap();
    let problem =
        expect_problem(app.post("/api/v1/requests", &s.key, &empty).await, 422, "VALIDATION_FAILED").await;
    assert_eq!(problem["errors"][0]["field"], "messages");
    let recorded_after: Value = app.get("/api/v1/requests?limit=200", &s.key).await.json().await.unwrap();
    assert_eq!(recorded_before["items"], recorded_after["items"], "nothing recorded");
    let mut blank = body.clone();
    blank["messages"] = json!([{"role": "user", "content": ""}]);
    refused(&app, &s, &blank, 422, "INVALID_REQUEST").await;

    // The user: not verified.
    let unverified = spender(&app, 10_000_000, open_policy()).await;
    app.send(
        Method::PATCH,
        &format!("/api/v1/users/{}", unverified.uid),
        Some(&app.admin_key),
        Some(&json!({"verified": false})),
        &[],
    )
    .await;
    refused(&app, &unverified, &call_body(&unverified, "local", "echo"), 403, "USER_INACTIVE").await;

    // The system policy blocks a provider, then a model.
    let system = |doc: Value| {
        let app = &app;
        async move {
            let res =
                app.send(Method::PUT, "/api/v1/system-policy", Some(&app.admin_key), Some(&doc), &[]).await;
            assert_eq!(res.status(), 200);
        }
    };
    system(json!({"blocked_providers": ["local"]})).await;
    refused(&app, &s, &body, 403, "PROVIDER_BLOCKED").await;
    system(json!({"blocked_models": ["local/echo"]})).await;
    refused(&app, &s, &body, 403, "MODEL_BLOCKED").await;
    system(json!({"max_per_request": 50_000})).await;
    refused(&app, &s, &body, 403, "EXCEEDS_SYSTEM_LIMIT").await;
    system(json!({})).await;

    // Strict allow-lists, forbidden providers and operations, an inactive policy.
    for (p, code) in [
        (json!({"allowed_providers": []}), "NO_PROVIDERS_CONFIGURED"),
        (json!({"allowed_providers": ["openai"]}), "UNAUTHORIZED_PROVIDER"),
        (json!({"allowed_models": []}), "NO_MODELS_CONFIGURED"),
        (json!({"allowed_models": ["local/other"]}), "UNAUTHORIZED_MODEL"),
        (json!({"forbidden_providers": ["local"]}), "FORBIDDEN_PROVIDER"),
        (json!({"forbidden_operations": ["local.echo.chat"]}), "OPERATION_FORBIDDEN"),
        (json!({"active": false}), "POLICY_INACTIVE"),
    ] {
        put_policy(&app, &s.key, &s.project, policy(p)).await;
        refused(&app, &s, &body, 403, code).await;
    }

    // Time windows: every hour (weekday) but this one and the next.
    let now = chrono::Utc::now();
    use chrono::{Datelike, Timelike};
    let (h, d) = (now.hour(), now.weekday().num_days_from_monday());
    let hours: Vec<u32> = (0..24).filter(|x| *x != h && *x != (h + 1) % 24).collect();
    let days: Vec<u32> = (0..7).filter(|x| *x != d && *x != (d + 1) % 7).collect();
    put_policy(&app, &s.key, &s.project, policy(json!({"allowed_hours": hours}))).await;
    refused(&app, &s, &body, 403, "OUTSIDE_ALLOWED_HOURS").await;
    put_policy(&app, &s.key, &s.project, policy(json!({"allowed_weekdays": days}))).await;
    refused(&app, &s, &body, 403, "OUTSIDE_ALLOWED_DAYS").await;

    // Rate limit: one per minute.
    put_policy(&app, &s.key, &s.project, policy(json!({"rate_per_minute": 1}))).await;
    assert_eq!(call(&app, &s).await.status(), 200);
    refused(&app, &s, &body, 429, "RATE_LIMIT_EXCEEDED").await;

    // Budgets: per request, then a daily budget that fits one call.
    let b = spender(&app, 10_000_000, open_policy()).await;
    let bbody = call_body(&b, "local", "echo");
    put_budget(&app, &b, 100_000, 1_000_000, 2_000_000).await;
    refused(&app, &b, &bbody, 403, "EXCEEDS_PER_REQUEST_LIMIT").await;
    put_budget(&app, &b, CALL, CALL + 50_000, 2_000_000).await;
    assert_eq!(call(&app, &b).await.status(), 200);
    refused(&app, &b, &bbody, 403, "DAILY_BUDGET_EXCEEDED").await;

    // Monthly: spending earlier this month (a fixture on another day of the month) leaves less
    // than one call.
    let m = spender(&app, 10_000_000, open_policy()).await;
    put_budget(&app, &m, CALL, 1_000_000, 1_000_000).await;
    spent_earlier_this_month(&app, &m, 950_000);
    refused(&app, &m, &call_body(&m, "local", "echo"), 403, "MONTHLY_BUDGET_EXCEEDED").await;

    // Balance.
    let poor = spender(&app, 50_000, open_policy()).await;
    refused(&app, &poor, &call_body(&poor, "local", "echo"), 402, "INSUFFICIENT_BALANCE").await;

    // Risk: a new agent (+1.5) over a maximum of 1.
    let r =
        spender(&app, 10_000_000, policy(json!({"max_risk_score": 1.0, "auto_approve_risk_threshold": 0.5})))
            .await;
    let res =
        app.post(&format!("/api/v1/projects/{}/agents", r.project), &r.key, &json!({"name": "scout"})).await;
    let agent = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let mut rbody = call_body(&r, "local", "echo");
    rbody["agent"] = json!(agent);
    refused(&app, &r, &rbody, 403, "HIGH_RISK").await;

    // Outside the pipeline: unknown model, someone else's project, a mismatched key scope.
    let p = expect_problem(
        app.post("/api/v1/requests", &s.key, &call_body(&s, "local", "ecko")).await,
        404,
        "MODEL_NOT_FOUND",
    )
    .await;
    assert_eq!(p["suggestions"], json!(["local/echo"]));
    expect_problem(app.post("/api/v1/requests", &r.key, &body).await, 404, "NOT_FOUND").await;
    // No project named: a user with one project gets it (rate-limited here, so it was used);
    // with two, the call must say which.
    let mut no_project = body.clone();
    no_project.as_object_mut().unwrap().remove("project");
    refused(&app, &s, &no_project, 429, "RATE_LIMIT_EXCEEDED").await;
    assert_eq!(app.post("/api/v1/projects", &s.key, &json!({"name": "Second"})).await.status(), 201);
    let p = expect_problem(app.post("/api/v1/requests", &s.key, &no_project).await, 422, "VALIDATION_FAILED")
        .await;
    assert_eq!(p["errors"][0]["field"], "project");
    assert!(p["detail"].as_str().unwrap().contains("X-Steward-Project"), "{p}");
    for who in [&s, &unverified, &b, &m, &poor, &r] {
        assert_books(&app, &who.uid).await;
    }
}

/// Records `amount` as spent by the project on another day of this month.
fn spent_earlier_this_month(app: &TestApp, s: &Spender, amount: i64) {
    let mut conn = app.db.db.conn().unwrap();
    let project = repositories::gateway::projects::by_public_id(&mut conn, &s.project).unwrap();
    let user = repositories::users::by_public_id(&mut conn, &s.uid).unwrap();
    let now = models::time::now();
    let periods = repositories::gateway::reservations::Periods {
        day: "earlier-day".into(),
        month: now.format("%Y-%m").to_string(),
        daily_limit: i64::MAX,
        monthly_limit: i64::MAX,
        user_daily_limit: i64::MAX,
    };
    repositories::gateway::reservations::ensure_periods(&mut conn, user.id, project.id, &periods).unwrap();
    repositories::write_tx(&mut conn, |c| {
        repositories::gateway::reservations::reserve(
            c, user.id, project.id, &periods, amount, "fixture", now,
        )?
        .unwrap();
        repositories::gateway::reservations::settle(
            c, user.id, project.id, &periods, amount, amount, "fixture", now,
        )
    })
    .unwrap();
}

async fn execution_settles_and_is_visible(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 5_000_000, open_policy()).await;
    let body = serde_json::to_vec(&call_body(&s, "local", "echo")).unwrap();
    let res = app.post_raw("/api/v1/requests", &s.key, body.clone(), &[("idempotency-key", "call-1")]).await;
    assert_eq!(res.status(), 200);
    let first = res.bytes().await.unwrap();
    let r: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(r["status"], "executed");
    assert_eq!(r["decision"]["outcome"], "approved");
    assert_eq!(r["decision"]["tier"], "FLASH");
    assert_eq!(r["response"]["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!((r["estimated"].as_i64(), r["charged"].as_i64()), (Some(CALL), Some(CALL)));
    assert_eq!(r["payment"]["status"], "committed");
    assert_eq!((r["payment"]["amount"].as_i64(), r["payment"]["variance"].as_i64()), (Some(CALL), Some(0)));
    // A replay returns the same bytes and runs nothing.
    let replay = app.post_raw("/api/v1/requests", &s.key, body, &[("idempotency-key", "call-1")]).await;
    assert_eq!(replay.bytes().await.unwrap(), first);
    assert_eq!(money(&app, &s.uid).await, (5_000_000 - CALL, 0));

    // The project from a header instead of the body; the key scoped to another project refuses.
    let mut headerless = call_body(&s, "local", "local/echo");
    headerless.as_object_mut().unwrap().remove("project");
    let res = app
        .send(
            Method::POST,
            "/api/v1/requests",
            Some(&s.key),
            Some(&headerless),
            &[("x-steward-project", &s.project)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app.post("/api/v1/projects", &s.key, &json!({"name": "Elsewhere"})).await;
    let elsewhere = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let scoped = app.create_key(&s.key, &json!({"name": "scoped", "project": elsewhere})).await;
    let scoped = scoped["key"].as_str().unwrap();
    expect_problem(
        app.post("/api/v1/requests", scoped, &call_body(&s, "local", "echo")).await,
        403,
        "FORBIDDEN",
    )
    .await;

    // Listing, detail with its audit trail, payments.
    let id = r["id"].as_str().unwrap();
    let list: Value = app
        .get(&format!("/api/v1/requests?project={}&status=executed", s.project), &s.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let detail: Value = app.get(&format!("/api/v1/requests/{id}"), &s.key).await.json().await.unwrap();
    let actions: Vec<&str> =
        detail["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["request.decided", "payment.reserved", "request.executed"]);
    let other = app.user_with_key(Role::Member).await;
    expect_problem(app.get(&format!("/api/v1/requests/{id}"), &other).await, 404, "NOT_FOUND").await;
    let pid = r["payment"]["id"].as_str().unwrap();
    let p: Value = app.get(&format!("/api/v1/payments/{pid}"), &s.key).await.json().await.unwrap();
    assert_eq!((p["request"].as_str(), p["status"].as_str()), (Some(id), Some("committed")));
    let pays: Value = app.get("/api/v1/payments", &s.key).await.json().await.unwrap();
    assert_eq!(pays["items"].as_array().unwrap().len(), 2);
    expect_problem(app.get(&format!("/api/v1/payments/{pid}"), &other).await, 404, "NOT_FOUND").await;

    // Budget status.
    let st: Value =
        app.get(&format!("/api/v1/projects/{}/budget/status", s.project), &s.key).await.json().await.unwrap();
    assert_eq!((st["spent_today"].as_i64(), st["reserved"].as_i64()), (Some(2 * CALL), Some(0)));
    assert_eq!(st["remaining_today"].as_i64(), Some(100_000_000 - 2 * CALL));
    assert_eq!(st["status"], "available");

    // Malformed bodies change nothing.
    let res = app.post_raw("/api/v1/requests", &s.key, b"{nope".to_vec(), &[]).await;
    expect_problem(res, 400, "MALFORMED_JSON").await;
    let mut bad_op = call_body(&s, "local", "echo");
    bad_op["operation"] = json!("teleport");
    assert_eq!(app.post("/api/v1/requests", &s.key, &bad_op).await.status(), 422);
    assert_eq!(money(&app, &s.uid).await, (5_000_000 - 2 * CALL, 0));
    assert_books(&app, &s.uid).await;
    let v: Value = app.get("/api/v1/audit/verify", &app.admin_key).await.json().await.unwrap();
    assert_eq!(v["ok"], true);
}

async fn reviews_execute_once(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let review = json!({
        "allowed_providers": ["local"], "allowed_models": ["local/echo"],
        "auto_approve_risk_threshold": 0.0, "require_approval_above": 0,
    });
    let s = spender(&app, 5_000_000, review).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let res = call(&app, &s).await;
        assert_eq!(res.status(), 200);
        let r: Value = res.json().await.unwrap();
        assert_eq!(
            (r["status"].as_str(), r["decision"]["outcome"].as_str()),
            (Some("pending"), Some("requires_review"))
        );
        assert!(r["payment"].is_null());
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    assert_eq!(money(&app, &s.uid).await, (5_000_000, 0), "nothing is reserved while in review");
    let queue: Value = app.get("/api/v1/reviews", &s.key).await.json().await.unwrap();
    assert_eq!(queue["items"].as_array().unwrap().len(), 3);
    let other = app.user_with_key(Role::Member).await;
    expect_problem(
        app.post(&format!("/api/v1/reviews/{}/approve", ids[0]), &other, &json!({})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    // A review is a human decision: the owner's agent key cannot make it.
    let res =
        app.post(&format!("/api/v1/projects/{}/agents", s.project), &s.key, &json!({"name": "scout"})).await;
    let scout = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let agent_key = app.create_key(&s.key, &json!({"name": "agent", "agent": scout})).await;
    let res = app
        .post(&format!("/api/v1/reviews/{}/approve", ids[0]), agent_key["key"].as_str().unwrap(), &json!({}))
        .await;
    expect_problem(res, 403, "FORBIDDEN").await;

    // Approve (the owner): executes and charges; a second approve or a reject cannot run it again.
    let res = app.post(&format!("/api/v1/reviews/{}/approve", ids[0]), &s.key, &json!({})).await;
    assert_eq!(res.status(), 200);
    let r: Value = res.json().await.unwrap();
    assert_eq!((r["status"].as_str(), r["charged"].as_i64()), (Some("executed"), Some(CALL)));
    for action in ["approve", "reject"] {
        let res = app.post(&format!("/api/v1/reviews/{}/{action}", ids[0]), &app.admin_key, &json!({})).await;
        expect_problem(res, 409, "REVIEW_CLOSED").await;
    }
    // Reject (an admin): nothing charged; twice is refused.
    let res = app
        .post(&format!("/api/v1/reviews/{}/reject", ids[1]), &app.admin_key, &json!({"reason": "not needed"}))
        .await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["decision"]["reason_text"].as_str()),
        (Some("rejected"), Some("not needed"))
    );
    expect_problem(
        app.post(&format!("/api/v1/reviews/{}/approve", ids[1]), &s.key, &json!({})).await,
        409,
        "REVIEW_CLOSED",
    )
    .await;
    assert_eq!(money(&app, &s.uid).await, (5_000_000 - CALL, 0));

    // Concurrent approvals of the third: exactly one executes.
    let mut handles = Vec::new();
    for _ in 0..10 {
        let (client, url, key) =
            (app.client.clone(), format!("{}/api/v1/reviews/{}/approve", app.address, ids[2]), s.key.clone());
        handles.push(tokio::spawn(async move {
            client.post(url).bearer_auth(key).send().await.unwrap().status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for h in handles {
        codes.push(h.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 409).count(), 9, "{codes:?}");
    assert_eq!(money(&app, &s.uid).await, (5_000_000 - 2 * CALL, 0));

    // Approval re-checks the balance at that moment.
    let poor = spender(
        &app,
        50_000,
        json!({
            "allowed_providers": ["local"], "allowed_models": ["local/echo"],
            "auto_approve_risk_threshold": 0.0, "require_approval_above": 0,
        }),
    )
    .await;
    // Enough money when it is queued; most of it spent before the approval.
    let res = app
        .post(&format!("/api/v1/users/{}/deposits", poor.uid), &app.admin_key, &json!({"amount": CALL}))
        .await;
    assert_eq!(res.status(), 201);
    let r: Value = call(&app, &poor).await.json().await.unwrap();
    let queued = r["id"].as_str().unwrap().to_string();
    spent_earlier_this_month(&app, &poor, 100_000);
    let p = expect_problem(
        app.post(&format!("/api/v1/reviews/{queued}/approve"), &poor.key, &json!({})).await,
        402,
        "INSUFFICIENT_BALANCE",
    )
    .await;
    assert_eq!(p["ai_request_id"], queued.as_str());
    let r: Value = app.get(&format!("/api/v1/requests/{queued}"), &poor.key).await.json().await.unwrap();
    assert_eq!(r["status"], "rejected");
    for who in [&s, &poor] {
        assert_books(&app, &who.uid).await;
    }
}

async fn start_with_providers(backend: Backend, timeout_secs: u64) -> Option<TestApp> {
    let db = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap()?;
    Some(
        TestApp::start_with(
            db,
            |s| s.gateway.provider_timeout_secs = timeout_secs,
            |a| {
                a.providers.push(Arc::new(ScriptedProvider::new("flaky", Script::Fail)));
                a.providers
                    .push(Arc::new(ScriptedProvider::new("slow", Script::Hang(Duration::from_secs(30)))));
                a.providers.push(Arc::new(ScriptedProvider::new(
                    "stuck",
                    Script::Hang(Duration::from_millis(1500)),
                )));
            },
        )
        .await,
    )
}

async fn provider_failures_release_everything(app: TestApp) {
    for p in ["flaky", "slow", "stuck", "absent"] {
        set_price(&app, p, "x", 100_000);
    }
    let s = spender(
        &app,
        5_000_000,
        json!({
            "allowed_providers": ["flaky", "slow", "stuck", "absent"],
            "allowed_models": ["flaky/x", "slow/x", "stuck/x", "absent/x"],
            "rate_per_minute": 1000,
        }),
    )
    .await;
    for (provider, status, code) in [
        ("flaky", 502, "PROVIDER_FAILED"),
        ("slow", 504, "PROVIDER_TIMEOUT"),
        ("absent", 502, "PROVIDER_FAILED"),
    ] {
        let res = app.post("/api/v1/requests", &s.key, &call_body(&s, provider, "x")).await;
        let p = expect_problem(res, status, code).await;
        let id = p["ai_request_id"].as_str().unwrap();
        let r: Value = app.get(&format!("/api/v1/requests/{id}"), &s.key).await.json().await.unwrap();
        assert_eq!((r["status"].as_str(), r["charged"].as_i64()), (Some("failed"), Some(0)), "{provider}");
        assert_eq!(
            (r["payment"]["status"].as_str(), r["payment"]["amount"].as_i64()),
            (Some("failed"), Some(0))
        );
        assert_eq!(money(&app, &s.uid).await, (5_000_000, 0), "{provider}: nothing charged, all released");
    }
    let st: Value =
        app.get(&format!("/api/v1/projects/{}/budget/status", s.project), &s.key).await.json().await.unwrap();
    assert_eq!((st["spent_today"].as_i64(), st["reserved"].as_i64()), (Some(0), Some(0)));

    // A call whose process "died": the job releases it after the bound; the late answer then
    // finds it released and charges nothing.
    let (client, url, key, body) = (
        app.client.clone(),
        format!("{}/api/v1/requests", app.address),
        s.key.clone(),
        call_body(&s, "stuck", "x"),
    );
    let late =
        tokio::spawn(async move { client.post(url).bearer_auth(key).json(&body).send().await.unwrap() });
    let mut running = Value::Null;
    for _ in 0..100 {
        let l: Value = app.get("/api/v1/requests?status=executing", &s.key).await.json().await.unwrap();
        if let Some(r) = l["items"].as_array().unwrap().first() {
            running = r.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running["status"], "executing");
    assert_eq!(money(&app, &s.uid).await, (5_000_000, 100_000 + 5_000));
    let later = models::time::now()
        + chrono::Duration::seconds(app.settings.gateway.stale_reservation_secs as i64 + 1);
    let svc = app.services(Arc::new(FixedClock::at(later)));
    let ran = tasks::scheduler::run_due(&svc, "test-replica", later).await.unwrap();
    let release = ran.iter().find(|(j, _)| *j == tasks::registry::Job::ReleaseReservations).unwrap();
    assert_eq!(release.1, Ok(1));
    assert_eq!(money(&app, &s.uid).await, (5_000_000, 0));
    let res = late.await.unwrap();
    expect_problem(res, 504, "PROVIDER_TIMEOUT").await;
    let id = running["id"].as_str().unwrap();
    let r: Value = app.get(&format!("/api/v1/requests/{id}"), &s.key).await.json().await.unwrap();
    assert_eq!((r["status"].as_str(), r["payment"]["status"].as_str()), (Some("failed"), Some("cancelled")));
    assert!(r["audit"].as_array().unwrap().iter().any(|e| e["action"] == "request.released"));
    assert_eq!(money(&app, &s.uid).await, (5_000_000, 0));
    assert_books(&app, &s.uid).await;
}

/// `n` concurrent calls, spread over the spenders' projects in turn; returns the statuses and
/// problem codes (or the request status of a success).
async fn race(app: &TestApp, spenders: &[&Spender], n: usize) -> Vec<(u16, String)> {
    let mut handles = Vec::new();
    for i in 0..n {
        let s = spenders[i % spenders.len()];
        let (client, url, key, body) = (
            app.client.clone(),
            format!("{}/api/v1/requests", app.address),
            s.key.clone(),
            call_body(s, "local", "echo"),
        );
        handles.push(tokio::spawn(async move {
            let res = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap();
            (status, v["code"].as_str().unwrap_or(v["status"].as_str().unwrap_or("")).to_string())
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// No batch of the race had to be written call by call: every batch's shared rows held what it
/// read (nothing else moves them here), so `admit_all` and `settle_all` wrote them.
async fn no_batch_fell_back(app: &TestApp) {
    let text = app.send(Method::GET, "/metrics", None, None, &[]).await.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("steward_db_batched_writes_total{how=\"one_by_one\"}"))
        .unwrap_or_else(|| panic!("no batched-writes metric in:\n{text}"));
    assert!(line.ends_with(" 0"), "{line}");
}

async fn hundred_calls_against_a_daily_budget_for_ten(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 50_000_000, open_policy()).await;
    put_budget(&app, &s, CALL, 10 * CALL, 1000 * CALL).await;
    let results = race(&app, &[&s], 100).await;
    let executed = results.iter().filter(|r| r.0 == 200 && r.1 == "executed").count();
    let refused = results.iter().filter(|r| r.0 == 403 && r.1 == "DAILY_BUDGET_EXCEEDED").count();
    assert_eq!((executed, refused), (10, 90), "{results:?}");
    assert_eq!(money(&app, &s.uid).await, (50_000_000 - 10 * CALL, 0));
    let st: Value =
        app.get(&format!("/api/v1/projects/{}/budget/status", s.project), &s.key).await.json().await.unwrap();
    assert_eq!(
        (st["spent_today"].as_i64(), st["remaining_today"].as_i64(), st["status"].as_str()),
        (Some(10 * CALL), Some(0), Some("exhausted"))
    );
    assert_books(&app, &s.uid).await;
    no_batch_fell_back(&app).await;
}

async fn hundred_calls_against_a_balance_for_ten(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 10 * CALL, open_policy()).await;
    let results = race(&app, &[&s], 100).await;
    let executed = results.iter().filter(|r| r.0 == 200 && r.1 == "executed").count();
    let refused = results.iter().filter(|r| r.0 == 402 && r.1 == "INSUFFICIENT_BALANCE").count();
    assert_eq!((executed, refused), (10, 90), "{results:?}");
    assert_eq!(money(&app, &s.uid).await, (0, 0));
    assert_books(&app, &s.uid).await;
    no_batch_fell_back(&app).await;
}

async fn kinds(app: &TestApp, key: &str) -> Vec<String> {
    kinds_in(app, key, None).await
}

/// Sorted kinds of the caller's alerts, of one period if given.
async fn kinds_in(app: &TestApp, key: &str, period: Option<&str>) -> Vec<String> {
    let a: Value = app.get("/api/v1/alerts?limit=200", key).await.json().await.unwrap();
    let mut k: Vec<String> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| period.is_none_or(|p| x["period"] == p))
        .map(|x| x["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

/// The platform's daily cap per user holds across projects: 100 concurrent calls split over two
/// projects, a cap that fits exactly 10.
async fn hundred_calls_against_the_platform_daily_cap(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let res = app
        .send(
            Method::PUT,
            "/api/v1/system-policy",
            Some(&app.admin_key),
            Some(&json!({"max_daily": 10 * CALL})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    let a = spender(&app, 50_000_000, open_policy()).await;
    let res = app.post("/api/v1/projects", &a.key, &json!({"name": "Second"})).await;
    let second = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    put_policy(&app, &a.key, &second, open_policy()).await;
    let b = Spender { key: a.key.clone(), uid: a.uid.clone(), project: second };
    let results = race(&app, &[&a, &b], 100).await;
    let executed = results.iter().filter(|r| r.0 == 200 && r.1 == "executed").count();
    let refused = results.iter().filter(|r| r.0 == 403 && r.1 == "EXCEEDS_SYSTEM_LIMIT").count();
    assert_eq!((executed, refused), (10, 90), "{results:?}");
    assert_eq!(money(&app, &a.uid).await, (50_000_000 - 10 * CALL, 0));
    assert_books(&app, &a.uid).await;
    no_batch_fell_back(&app).await;
}

/// Verifies a Standard Webhooks signature the way a receiver would.
fn verify_standard_webhook(secret: &str, id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    use hmac::{KeyInit, Mac};
    let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    signature.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

async fn alerts_fire_once_and_webhooks_are_signed(app: TestApp) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    set_price(&app, "local", "echo", 100_000);
    // 12 calls' worth deposited: nine calls spend 75 %, ten 83 % (low balance at 80 %).
    let s = spender(&app, 12 * CALL, open_policy()).await;
    put_budget(&app, &s, CALL, 10 * CALL, 1000 * CALL).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let res = app
        .send(
            Method::PUT,
            "/api/v1/me/webhook",
            Some(&s.key),
            Some(&json!({"url": format!("{}/hook", receiver.uri())})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    let secret = res.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let bad = app
        .send(Method::PUT, "/api/v1/me/webhook", Some(&s.key), Some(&json!({"url": "ftp://x"})), &[])
        .await;
    expect_problem(bad, 422, "VALIDATION_FAILED").await;

    for _ in 0..7 {
        assert_eq!(call(&app, &s).await.status(), 200);
    }
    assert!(kinds(&app, &s.key).await.is_empty(), "70 % raises nothing");
    assert_eq!(call(&app, &s).await.status(), 200);
    assert_eq!(kinds(&app, &s.key).await, ["budget_daily_75"]);
    assert_eq!(call(&app, &s).await.status(), 200);
    assert_eq!(kinds(&app, &s.key).await, ["budget_daily_75", "budget_daily_90"], "once per threshold");
    assert_eq!(call(&app, &s).await.status(), 200);
    assert_eq!(
        kinds(&app, &s.key).await,
        ["budget_daily_100", "budget_daily_75", "budget_daily_90", "low_balance"]
    );
    // Refused calls raise nothing new.
    assert_eq!(call(&app, &s).await.status(), 403);
    assert_eq!(kinds(&app, &s.key).await.len(), 4);

    // Deliver: four signed messages that verify.
    let now = models::time::now();
    let svc = app.services(Arc::new(FixedClock::at(now)));
    assert_eq!(services::gateway::alerts::deliver_due(&svc.db, &svc.spend, now).await.unwrap(), 4);
    let got = receiver.received_requests().await.unwrap();
    assert_eq!(got.len(), 4);
    for r in &got {
        let h = |n: &str| r.headers.get(n).unwrap().to_str().unwrap().to_string();
        assert!(verify_standard_webhook(
            &secret,
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &r.body,
            &h("webhook-signature")
        ));
        assert!(
            !verify_standard_webhook(&secret, &h("webhook-id"), "1", &r.body, &h("webhook-signature")),
            "timestamp is signed"
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["type"], "alert.raised");
    }
    assert_eq!(
        services::gateway::alerts::deliver_due(&svc.db, &svc.spend, now).await.unwrap(),
        0,
        "delivered once"
    );

    // A failing receiver: retried with doubling delays, then given up.
    let failing = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&failing).await;
    let f = spender(&app, 100 * CALL, open_policy()).await;
    put_budget(&app, &f, CALL, 2 * CALL, 1000 * CALL).await;
    let res = app
        .send(Method::PUT, "/api/v1/me/webhook", Some(&f.key), Some(&json!({"url": failing.uri()})), &[])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(call(&app, &f).await.status(), 200);
    assert_eq!(call(&app, &f).await.status(), 200);
    let backoff = chrono::Duration::milliseconds(app.settings.gateway.webhook_backoff_ms as i64);
    let mut t = models::time::now();
    let mut delays = Vec::new();
    for attempt in 1..=app.settings.gateway.webhook_max_attempts {
        assert_eq!(services::gateway::alerts::deliver_due(&svc.db, &svc.spend, t).await.unwrap(), 0);
        // Not due again until the delay has passed.
        assert_eq!(failing.received_requests().await.unwrap().len() as u32, attempt * 3);
        services::gateway::alerts::deliver_due(&svc.db, &svc.spend, t + chrono::Duration::milliseconds(1))
            .await
            .unwrap();
        assert_eq!(
            failing.received_requests().await.unwrap().len() as u32,
            attempt * 3,
            "no retry before the delay"
        );
        let w: Value = app.get("/api/v1/me/webhook", &f.key).await.json().await.unwrap();
        let d = &w["deliveries"][0];
        assert_eq!(d["attempts"].as_u64(), Some(u64::from(attempt)));
        let next =
            chrono::DateTime::parse_from_rfc3339(d["next_attempt_at"].as_str().unwrap()).unwrap().naive_utc();
        delays.push((next - t).num_milliseconds());
        t = next;
    }
    let w: Value = app.get("/api/v1/me/webhook", &f.key).await.json().await.unwrap();
    assert!(w["deliveries"].as_array().unwrap().iter().all(|d| d["status"] == "failed"), "{w}");
    let b = backoff.num_milliseconds();
    let expected: Vec<i64> =
        (0..app.settings.gateway.webhook_max_attempts - 1).map(|i| b << i).chain([0]).collect();
    assert_eq!(delays, expected, "delays double; the last attempt gives up");
}

async fn report_counts_what_happened(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 20 * CALL, open_policy()).await;
    put_budget(&app, &s, CALL, 3 * CALL, 1000 * CALL).await;
    for _ in 0..4 {
        call(&app, &s).await; // three executed, one DAILY_BUDGET_EXCEEDED
    }
    let mut forbidden = open_policy();
    forbidden["forbidden_operations"] = json!(["local.*.chat"]);
    put_policy(&app, &s.key, &s.project, forbidden).await;
    call(&app, &s).await; // OPERATION_FORBIDDEN
    let r: Value =
        app.get(&format!("/api/v1/audit/report?project={}", s.project), &s.key).await.json().await.unwrap();
    assert_eq!(r["requests"], 5);
    assert_eq!(
        (r["approved"].as_u64(), r["executed"].as_u64(), r["rejected"].as_u64()),
        (Some(3), Some(3), Some(2))
    );
    assert_eq!(r["spend"].as_i64(), Some(3 * CALL));
    assert_eq!(r["violations"], json!({"DAILY_BUDGET_EXCEEDED": 1, "OPERATION_FORBIDDEN": 1}));
    assert_eq!((r["in_review"].as_u64(), r["provider_failures"].as_u64()), (Some(0), Some(0)));
    assert_eq!(r["alerts"].as_u64(), Some(3), "75, 90 and 100 % of the daily budget");
    // Admin view by user; another member cannot read it; a future range is empty.
    let a: Value =
        app.get(&format!("/api/v1/audit/report?user={}", s.uid), &app.admin_key).await.json().await.unwrap();
    assert_eq!(a["requests"], 5);
    let other = app.user_with_key(Role::Member).await;
    expect_problem(app.get(&format!("/api/v1/audit/report?user={}", s.uid), &other).await, 404, "NOT_FOUND")
        .await;
    let none: Value = app
        .get(&format!("/api/v1/audit/report?project={}&from=2999-01-01", s.project), &s.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["requests"], 0);
    expect_problem(app.get("/api/v1/audit/report?from=yesterday", &s.key).await, 422, "VALIDATION_FAILED")
        .await;
}

async fn put_model(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.send(Method::PUT, "/api/v1/models/openai/gpt-4o-mini", Some(key), Some(&body), &[]).await
}

/// `method path` with `body`, as the admin.
async fn as_admin(app: &TestApp, method: Method, path: &str, body: Value) -> reqwest::Response {
    app.send(method, path, Some(&app.admin_key), Some(&body), &[]).await
}

async fn the_model_catalogue(app: TestApp) {
    let member = app.user_with_key(Role::Member).await;
    let providers: Value = app.get("/api/v1/providers", &member).await.json().await.unwrap();
    let available = |name: &str| {
        providers.as_array().unwrap().iter().find(|p| p["name"] == name).map(|p| p["available"].clone())
    };
    assert_eq!(available("local"), Some(json!(true)));
    assert_eq!(
        available("openai"),
        Some(json!(false)),
        "no OPENAI_API_KEY, no adapter: listed as unavailable"
    );
    assert_eq!(available("ollama"), Some(json!(false)));

    let list = |q: &str| {
        let (app, member, q) = (&app, member.clone(), q.to_string());
        async move {
            let v: Value = app.get(&format!("/api/v1/models{q}"), &member).await.json().await.unwrap();
            v.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert!(list("").await.len() >= 20);
    assert_eq!(
        list("?provider=openai&category=embedding").await,
        ["openai/text-embedding-3-large", "openai/text-embedding-3-small"]
    );
    assert_eq!(list("?search=HAIKU").await, ["anthropic/claude-3-5-haiku-20241022"]);
    let mini: Value = app.get("/api/v1/models/openai/gpt-4o-mini", &member).await.json().await.unwrap();
    assert_eq!(
        (mini["input_per_million"].as_i64(), mini["output_per_million"].as_i64()),
        (Some(150_000), Some(600_000))
    );
    assert_eq!(mini["price_history"].as_array().unwrap().len(), 1);
    let p =
        expect_problem(app.get("/api/v1/models/openai/gpt-4o-mimi", &member).await, 404, "MODEL_NOT_FOUND")
            .await;
    assert_eq!(p["suggestions"][0], "openai/gpt-4o-mini");

    // Admins edit prices; the history keeps the old one. Members cannot; bad prices are refused.
    expect_problem(put_model(&app, &member, json!({"input_per_million": 1})).await, 403, "FORBIDDEN").await;
    expect_problem(
        put_model(&app, &app.admin_key, json!({"input_per_million": -1})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let res = put_model(&app, &app.admin_key, json!({"input_per_million": 200_000})).await;
    assert_eq!(res.status(), 200);
    let mini: Value = app.get("/api/v1/models/openai/gpt-4o-mini", &member).await.json().await.unwrap();
    let history = mini["price_history"].as_array().unwrap();
    assert_eq!(
        history.iter().map(|h| h["input_per_million"].as_i64().unwrap()).collect::<Vec<_>>(),
        [150_000, 200_000]
    );
    assert_eq!(mini["output_per_million"].as_i64(), Some(600_000), "absent fields keep their value");
    // A new model under an existing provider; none under an unknown one.
    let res = as_admin(&app, Method::PUT, "/api/v1/models/local/echo-2", json!({"per_request": 7})).await;
    assert_eq!(res.status(), 200);
    let res =
        app.send(Method::PUT, "/api/v1/models/nobody/x", Some(&app.admin_key), Some(&json!({})), &[]).await;
    expect_problem(res, 404, "NOT_FOUND").await;
    // Switching a provider off takes its models out of the gateway.
    let res = as_admin(&app, Method::PATCH, "/api/v1/providers/local", json!({"enabled": false})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["available"], false);
    let s = spender(&app, 5_000_000, open_policy()).await;
    expect_problem(call(&app, &s).await, 404, "MODEL_NOT_FOUND").await;
    assert!(!app.audit("subject_type=model").await.is_empty());
}

/// The catalogue rows and the only project a call reads are cached, and a change through the
/// API takes effect on the very next call: a new price, a second project (the project must be
/// named then), a provider switched off.
async fn decision_caches_follow_changes_at_once(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 5_000_000, open_policy()).await;
    let mut unnamed = call_body(&s, "local", "echo");
    unnamed.as_object_mut().unwrap().remove("project");
    for _ in 0..2 {
        let r: Value = app.post("/api/v1/requests", &s.key, &unnamed).await.json().await.unwrap();
        assert_eq!((r["status"].as_str(), r["charged"].as_i64()), (Some("executed"), Some(CALL)), "{r}");
    }
    let res = as_admin(&app, Method::PUT, "/api/v1/models/local/echo", json!({"per_request": 200_000})).await;
    assert_eq!(res.status(), 200);
    let r: Value = app.post("/api/v1/requests", &s.key, &unnamed).await.json().await.unwrap();
    assert_eq!(r["charged"].as_i64(), Some(2 * CALL), "the new price at once: {r}");
    let res = app.post("/api/v1/projects", &s.key, &json!({"name": "Second"})).await;
    assert_eq!(res.status(), 201);
    let p =
        expect_problem(app.post("/api/v1/requests", &s.key, &unnamed).await, 422, "VALIDATION_FAILED").await;
    assert!(p.to_string().contains("project"), "{p}");
    let res = as_admin(&app, Method::PATCH, "/api/v1/providers/local", json!({"enabled": false})).await;
    assert_eq!(res.status(), 200);
    expect_problem(call(&app, &s).await, 404, "MODEL_NOT_FOUND").await;
    assert_books(&app, &s.uid).await;
}

system_tests::system_test!(
    decision_caches_follow_changes_at_once,
    the_model_catalogue,
    every_rejection_code_through_http,
    execution_settles_and_is_visible,
    reviews_execute_once,
    hundred_calls_against_a_daily_budget_for_ten,
    hundred_calls_against_a_balance_for_ten,
    hundred_calls_against_the_platform_daily_cap,
    alerts_fire_once_and_webhooks_are_signed,
    report_counts_what_happened,
);

/// Spending this hour against the 24 hours before it (the gateway runs on a test clock).
async fn cost_spike_alert(backend: Backend) {
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 18).unwrap().and_hms_opt(10, 30, 0).unwrap();
    let clock = FixedClock::at(start);
    let c = clock.clone();
    let app = TestApp::start_with(db, |_| {}, move |a| a.clock = Arc::new(c)).await;
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 100 * CALL, open_policy()).await;
    // Yesterday from 10:30: a call every hour, an average of one per hour (its own spikes, while
    // the history builds up, belong to other hours).
    for i in 0..24 {
        clock.set(start + chrono::Duration::hours(i));
        assert_eq!(call(&app, &s).await.status(), 200);
    }
    // Today 10:40: one call is the average; two are +100 % (over 50 %), three +200 %.
    clock.set(start + chrono::Duration::hours(24) + chrono::Duration::minutes(10));
    assert_eq!(call(&app, &s).await.status(), 200);
    assert!(kinds_in(&app, &s.key, Some("2026-11-19T10")).await.is_empty());
    assert_eq!(call(&app, &s).await.status(), 200);
    assert_eq!(kinds_in(&app, &s.key, Some("2026-11-19T10")).await, ["cost_spike_50"]);
    assert_eq!(call(&app, &s).await.status(), 200);
    assert_eq!(kinds_in(&app, &s.key, Some("2026-11-19T10")).await, ["cost_spike_100", "cost_spike_50"]);
    assert_eq!(call(&app, &s).await.status(), 200);
    assert_eq!(kinds_in(&app, &s.key, Some("2026-11-19T10")).await.len(), 2, "once per hour and kind");
}

mod cost_spike_alert {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::cost_spike_alert(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::cost_spike_alert(super::Backend::Postgres).await;
    }
}

mod provider_failures_release_everything {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = super::start_with_providers(super::Backend::Sqlite, 2).await.unwrap();
        super::provider_failures_release_everything(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = super::start_with_providers(super::Backend::Postgres, 2).await {
            super::provider_failures_release_everything(app).await;
        }
    }
}

/// With private addresses refused (the production default), a webhook cannot point inside.
async fn webhooks_cannot_point_inside(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.gateway.webhook_allow_private = false).await else {
        return;
    };
    let key = app.user_with_key(Role::Member).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
    ] {
        let res =
            app.send(Method::PUT, "/api/v1/me/webhook", Some(&key), Some(&json!({"url": url})), &[]).await;
        expect_problem(res, 422, "VALIDATION_FAILED").await;
    }
    let res = app
        .send(
            Method::PUT,
            "/api/v1/me/webhook",
            Some(&key),
            Some(&json!({"url": "https://hooks.example.com/steward"})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
}

mod webhooks_cannot_point_inside {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::webhooks_cannot_point_inside(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::webhooks_cannot_point_inside(super::Backend::Postgres).await;
    }
}
