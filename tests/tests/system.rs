//! Black-box tests over HTTP, each on SQLite and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use models::Role;
use reqwest::Method;
use serde_json::{json, Value};
use system_tests::{expect_problem, system_test, Backend, TestApp, TestDb};

system_test!(
    health_and_readiness,
    request_ids_and_problems,
    missing_wrong_revoked_expired_keys,
    roles_are_enforced,
    key_lifecycle_through_the_api,
    idempotent_replay_and_mismatch,
    idempotent_concurrent_requests,
    users_are_managed_by_admins_and_audited,
    audit_list_filters_and_verify,
    plaintext_key_is_not_stored,
    body_limit_is_enforced,
    metrics_count_requests_by_route,
    deposits_and_the_ledger,
    projects_agents_budgets_and_policies,
);

async fn health_and_readiness(app: TestApp) {
    let res = app.send(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(res.status(), 200);
    let res = app.send(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let expected = match app.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
}

async fn request_ids_and_problems(app: TestApp) {
    // A client-supplied id is echoed; an unusable one is replaced.
    let res = app.send(Method::GET, "/healthz", None, None, &[("x-request-id", "abc-123")]).await;
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app.send(Method::GET, "/healthz", None, None, &[("x-request-id", "bad id with spaces")]).await;
    assert!(res.headers()["x-request-id"].to_str().unwrap().starts_with("rid_"));
    // Unknown route, wrong method, malformed JSON, wrong shape, bad cursor, bad query.
    expect_problem(app.send(Method::GET, "/nope", None, None, &[]).await, 404, "ROUTE_NOT_FOUND").await;
    let res = app.post_raw("/api/v1/api-keys", &app.admin_key, b"{\"name\":".to_vec(), &[]).await;
    expect_problem(res, 400, "MALFORMED_JSON").await;
    let res = app.post_raw("/api/v1/api-keys", &app.admin_key, Vec::new(), &[]).await;
    expect_problem(res, 400, "MALFORMED_JSON").await;
    let res = app.post("/api/v1/api-keys", &app.admin_key, &json!({"name": 5})).await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app.post("/api/v1/api-keys", &app.admin_key, &json!({"name": "x", "colour": "red"})).await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "colour");
    let res = app.post("/api/v1/api-keys", &app.admin_key, &json!({"name": ""})).await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "name");
    let res = app.get("/api/v1/api-keys?cursor=garbage", &app.admin_key).await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app.get("/api/v1/api-keys?limit=lots", &app.admin_key).await;
    expect_problem(res, 400, "BAD_REQUEST").await;
    let res = app.get("/api/v1/audit?from=yesterday", &app.admin_key).await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    // Nothing above created a key.
    let keys: Value = app.get("/api/v1/api-keys", &app.admin_key).await.json().await.unwrap();
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
}

async fn missing_wrong_revoked_expired_keys(app: TestApp) {
    expect_problem(app.send(Method::GET, "/api/v1/me", None, None, &[]).await, 401, "AUTH_REQUIRED").await;
    let wrong = format!("sk-{}", "A".repeat(43));
    expect_problem(app.get("/api/v1/me", &wrong).await, 401, "INVALID_API_KEY").await;
    expect_problem(app.get("/api/v1/me", "not-a-key").await, 401, "INVALID_API_KEY").await;
    let res = app.send(Method::GET, "/api/v1/me", None, None, &[("authorization", "Basic abc")]).await;
    expect_problem(res, 401, "INVALID_API_KEY").await;
    // X-API-Key works like Bearer.
    let res = app.send(Method::GET, "/api/v1/me", None, None, &[("x-api-key", &app.admin_key)]).await;
    assert_eq!(res.status(), 200);

    // Revoked.
    let created = app.create_key(&app.admin_key, &json!({"name": "short-lived"})).await;
    let secret = created["key"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &secret).await.status(), 200);
    let id = created["api_key"]["id"].as_str().unwrap();
    let res =
        app.send(Method::DELETE, &format!("/api/v1/api-keys/{id}"), Some(&app.admin_key), None, &[]).await;
    assert_eq!(res.status(), 200);
    expect_problem(app.get("/api/v1/me", &secret).await, 401, "INVALID_API_KEY").await;

    // Expired: create with an expiry just ahead, then wait past it.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let created = app.create_key(&app.admin_key, &json!({"name": "expiring", "expires_at": soon})).await;
    let secret = created["key"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &secret).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    expect_problem(app.get("/api/v1/me", &secret).await, 401, "INVALID_API_KEY").await;

    // An expiry in the past is refused.
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let res = app.post("/api/v1/api-keys", &app.admin_key, &json!({"name": "x", "expires_at": past})).await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;

    // A suspended user's key stops working.
    let user = app.create_user("Sam", "sam@example.com", "member").await;
    let member_key = {
        let (_, _, k) =
            services::keys::create_for_cli(&app.db.db, "Sam", "sam@example.com", Role::Member).await.unwrap();
        k
    };
    assert_eq!(app.get("/api/v1/me", &member_key).await.status(), 200);
    let uid = user["id"].as_str().unwrap();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{uid}"),
            Some(&app.admin_key),
            Some(&json!({"status": "suspended"})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    expect_problem(app.get("/api/v1/me", &member_key).await, 403, "USER_INACTIVE").await;
}

async fn roles_are_enforced(app: TestApp) {
    let member = app.user_with_key(Role::Member).await;
    for path in ["/api/v1/users", "/api/v1/audit", "/api/v1/audit/verify"] {
        expect_problem(app.get(path, &member).await, 403, "FORBIDDEN").await;
    }
    let res = app
        .post("/api/v1/users", &member, &json!({"name": "x", "email": "x@example.com", "role": "admin"}))
        .await;
    expect_problem(res, 403, "FORBIDDEN").await;
    // A member cannot mint an admin key for themselves.
    let res = app.post("/api/v1/api-keys", &member, &json!({"name": "escalate", "role": "admin"})).await;
    expect_problem(res, 403, "FORBIDDEN").await;
    // …but can mint their own role.
    let created = app.create_key(&member, &json!({"name": "mine"})).await;
    assert_eq!(created["api_key"]["role"], "member");
    // A member sees only their own keys, and cannot revoke the admin's.
    let keys: Value = app.get("/api/v1/api-keys", &member).await.json().await.unwrap();
    assert_eq!(keys["items"].as_array().unwrap().len(), 2);
    let admin_keys: Value = app.get("/api/v1/api-keys", &app.admin_key).await.json().await.unwrap();
    let admin_key_id = admin_keys["items"][0]["id"].as_str().unwrap();
    let res =
        app.send(Method::DELETE, &format!("/api/v1/api-keys/{admin_key_id}"), Some(&member), None, &[]).await;
    expect_problem(res, 404, "NOT_FOUND").await;
    assert_eq!(app.get("/api/v1/me", &app.admin_key).await.status(), 200);
}

async fn key_lifecycle_through_the_api(app: TestApp) {
    let res = app.post("/api/v1/projects", &app.admin_key, &json!({"name": "Website"})).await;
    let project = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let created =
        app.create_key(&app.admin_key, &json!({"name": "ci", "role": "website", "project": project})).await;
    let secret = created["key"].as_str().unwrap();
    assert!(secret.starts_with("sk-") && secret.len() == 46);
    assert_eq!(created["api_key"]["prefix"], &secret[..10]);
    assert_eq!(created["api_key"]["role"], "website");
    assert_eq!(created["api_key"]["project"], project.as_str());
    // Usage is counted.
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/me", secret).await.status(), 200);
    }
    let keys: Value = app.get("/api/v1/api-keys?limit=1", &app.admin_key).await.json().await.unwrap();
    assert_eq!(keys["items"][0]["usage_count"], 3);
    assert!(keys["items"][0]["last_used_at"].is_string());
    assert!(keys["items"][0].get("key").is_none(), "the secret is never listed");
    // Cursor pagination walks the rest.
    let cursor = keys["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(&format!("/api/v1/api-keys?limit=1&cursor={cursor}"), &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(next["items"][0]["id"], keys["items"][0]["id"]);
    // Revoking twice is harmless and audited once.
    let id = created["api_key"]["id"].as_str().unwrap();
    for _ in 0..2 {
        let res = app
            .send(Method::DELETE, &format!("/api/v1/api-keys/{id}"), Some(&app.admin_key), None, &[])
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "revoked");
    }
    let events = app.audit(&format!("subject_type=api_key&subject_id={id}")).await;
    let actions: Vec<_> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["api_key.revoked", "api_key.created"]);
    let res = app.send(Method::DELETE, "/api/v1/api-keys/key_unknown", Some(&app.admin_key), None, &[]).await;
    expect_problem(res, 404, "NOT_FOUND").await;
}

async fn idempotent_replay_and_mismatch(app: TestApp) {
    let body = br#"{"name":"idem"}"#.to_vec();
    let first =
        app.post_raw("/api/v1/api-keys", &app.admin_key, body.clone(), &[("idempotency-key", "k-1")]).await;
    assert_eq!(first.status(), 201);
    let first_bytes = first.bytes().await.unwrap();
    let replay =
        app.post_raw("/api/v1/api-keys", &app.admin_key, body.clone(), &[("idempotency-key", "k-1")]).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.bytes().await.unwrap(), first_bytes, "replay is byte for byte");
    // Only one key was created.
    let keys: Value = app.get("/api/v1/api-keys", &app.admin_key).await.json().await.unwrap();
    assert_eq!(keys["items"].as_array().unwrap().len(), 2);
    // Same key, different body.
    let res = app
        .post_raw(
            "/api/v1/api-keys",
            &app.admin_key,
            br#"{"name":"other"}"#.to_vec(),
            &[("idempotency-key", "k-1")],
        )
        .await;
    expect_problem(res, 422, "IDEMPOTENCY_KEY_REUSED").await;
    // Keys are per user: another user may use the same key string.
    let member = app.user_with_key(Role::Member).await;
    let res = app.post_raw("/api/v1/api-keys", &member, body.clone(), &[("idempotency-key", "k-1")]).await;
    assert_eq!(res.status(), 201);
    // A failed request releases the key, so a corrected retry with it proceeds.
    let res = app
        .post_raw(
            "/api/v1/api-keys",
            &app.admin_key,
            br#"{"name":""}"#.to_vec(),
            &[("idempotency-key", "k-2")],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .post_raw(
            "/api/v1/api-keys",
            &app.admin_key,
            br#"{"name":"fixed"}"#.to_vec(),
            &[("idempotency-key", "k-2")],
        )
        .await;
    assert_eq!(res.status(), 201, "the failed attempt released the key");
    let res = app
        .post_raw("/api/v1/api-keys", &app.admin_key, body, &[("idempotency-key", &"x".repeat(300))])
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
}

async fn idempotent_concurrent_requests(app: TestApp) {
    // Hold the key in flight by claiming it directly, as a concurrent first request would.
    let admin: Value = app.get("/api/v1/me", &app.admin_key).await.json().await.unwrap();
    let owner = admin["user"]["id"].as_str().unwrap().to_string();
    let body = br#"{"name":"race"}"#.to_vec();
    let begin = services::idempotency::begin(
        &app.db.db,
        &core_config::IdempotencySettings::default(),
        services::idempotency::IdempotentRequest {
            owner,
            key: "race-1".into(),
            method: "POST".into(),
            path: "/api/v1/api-keys".into(),
            body: body.clone(),
        },
        api::extract::request_deadline(&app.settings, "/api/v1/api-keys"),
    )
    .await
    .unwrap();
    assert!(matches!(begin, services::idempotency::Begin::Proceed(_)));
    let res = app
        .post_raw("/api/v1/api-keys", &app.admin_key, body.clone(), &[("idempotency-key", "race-1")])
        .await;
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "409 says when the first attempt's deadline passes: {wait}");
    expect_problem(res, 409, "IDEMPOTENCY_IN_FLIGHT").await;

    // Truly concurrent: 8 identical requests at once → one creation, the rest replay or 409.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/api-keys", app.address);
        let key = app.admin_key.clone();
        handles.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .header("idempotency-key", "race-2")
                .header("content-type", "application/json")
                .body(r#"{"name":"burst"}"#)
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&201));
    let keys: Value = app.get("/api/v1/api-keys?limit=200", &app.admin_key).await.json().await.unwrap();
    let burst = keys["items"].as_array().unwrap().iter().filter(|k| k["name"] == "burst").count();
    assert_eq!(burst, 1, "exactly one key created under one Idempotency-Key");
}

/// A key left in flight by a crashed process (claimed, never finished) blocks retries only until
/// the request's own deadline, then a retry takes it over and runs once.
async fn idempotency_takeover_at_the_deadline(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.idempotency.in_flight_timeout_secs = 1).await else {
        return;
    };
    let admin: Value = app.get("/api/v1/me", &app.admin_key).await.json().await.unwrap();
    let body = br#"{"name":"after-crash"}"#.to_vec();
    services::idempotency::begin(
        &app.db.db,
        &app.settings.idempotency,
        services::idempotency::IdempotentRequest {
            owner: admin["user"]["id"].as_str().unwrap().to_string(),
            key: "crash-1".into(),
            method: "POST".into(),
            path: "/api/v1/api-keys".into(),
            body: body.clone(),
        },
        api::extract::request_deadline(&app.settings, "/api/v1/api-keys"),
    )
    .await
    .unwrap();
    let retry =
        || app.post_raw("/api/v1/api-keys", &app.admin_key, body.clone(), &[("idempotency-key", "crash-1")]);
    let res = retry().await;
    assert_eq!(res.headers()["retry-after"], "1");
    expect_problem(res, 409, "IDEMPOTENCY_IN_FLIGHT").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = retry().await;
    assert_eq!(res.status(), 201, "taken over after the deadline");
    let res = retry().await;
    assert_eq!(
        (res.status().as_u16(), res.headers()["idempotent-replayed"].to_str().unwrap()),
        (201, "true")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_takeover_sqlite() {
    idempotency_takeover_at_the_deadline(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_takeover_postgres() {
    idempotency_takeover_at_the_deadline(Backend::Postgres).await;
}

async fn users_are_managed_by_admins_and_audited(app: TestApp) {
    let user = app.create_user("Ayesha Khan", "Ayesha@Example.com", "owner").await;
    assert_eq!(user["email"], "ayesha@example.com");
    assert_eq!(user["status"], "active");
    let res = app
        .post(
            "/api/v1/users",
            &app.admin_key,
            &json!({"name": "Dup", "email": "AYESHA@example.com", "role": "member"}),
        )
        .await;
    expect_problem(res, 409, "EMAIL_TAKEN").await;
    let res = app
        .post(
            "/api/v1/users",
            &app.admin_key,
            &json!({"name": "X", "email": "not-an-email", "role": "member"}),
        )
        .await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "email");
    let res = app
        .post(
            "/api/v1/users",
            &app.admin_key,
            &json!({"name": "X", "email": "x@example.com", "role": "root"}),
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let id = user["id"].as_str().unwrap();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&app.admin_key),
            Some(&json!({"role": "member", "name": "Ayesha K."})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["role"], "member");
    let res = app
        .send(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&app.admin_key), Some(&json!({})), &[])
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .send(
            Method::PATCH,
            "/api/v1/users/usr_missing",
            Some(&app.admin_key),
            Some(&json!({"name": "x"})),
            &[],
        )
        .await;
    expect_problem(res, 404, "NOT_FOUND").await;
    // Admins cannot demote themselves.
    let me: Value = app.get("/api/v1/me", &app.admin_key).await.json().await.unwrap();
    let my_id = me["user"]["id"].as_str().unwrap();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{my_id}"),
            Some(&app.admin_key),
            Some(&json!({"role": "member"})),
            &[],
        )
        .await;
    expect_problem(res, 403, "FORBIDDEN").await;
    // Listing and fetching.
    // The test admin, the new user and the platform user that pays for the booking agent.
    let list: Value = app.get("/api/v1/users", &app.admin_key).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(app.get(&format!("/api/v1/users/{id}"), &app.admin_key).await.status(), 200);
    // Audit: created and updated, email masked, changes recorded.
    let events = app.audit(&format!("subject_type=user&subject_id={id}")).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["action"], "user.updated");
    assert_eq!(events[0]["details"]["changes"]["role"]["to"], "member");
    assert_eq!(events[1]["action"], "user.created");
    assert_eq!(events[1]["details"]["email"], "a***@example.com");
    assert_eq!(events[1]["actor_type"], "admin");
    assert!(events[1]["request_id"].as_str().unwrap().starts_with("rid_"));
}

async fn audit_list_filters_and_verify(app: TestApp) {
    let res = app
        .send(
            Method::POST,
            "/api/v1/api-keys",
            Some(&app.admin_key),
            Some(&json!({"name": "traced"})),
            &[("x-request-id", "trace-me-1")],
        )
        .await;
    assert_eq!(res.status(), 201);
    let events = app.audit("request_id=trace-me-1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["action"], "api_key.created");
    let from = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(app.audit(&format!("from={}", urlencode(&from))).await.is_empty());
    assert!(!app.audit("actor_type=system").await.is_empty(), "the seeded admin was created by the system");
    let verify: Value = app.get("/api/v1/audit/verify", &app.admin_key).await.json().await.unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(verify["checked"].as_i64().unwrap() >= 3);
    assert_eq!(verify["unchained"], 0);
    // After verify every listed event is linked.
    let all = app.audit("limit=200").await;
    assert!(all.iter().all(|e| e["seq"].is_i64() && e["hash"].is_string()));
    let seqs: BTreeSet<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), all.len());
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn plaintext_key_is_not_stored(app: TestApp) {
    let created = app.create_key(&app.admin_key, &json!({"name": "secret-check"})).await;
    let secret = created["key"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &secret).await.status(), 200);
    let dump = dump_database(&app.db).await;
    assert!(dump.contains(&services::keys::hash(&secret)), "the hash is stored");
    assert!(!dump.contains(&secret), "the plaintext is not stored");
    assert!(!dump.contains(&secret[3..]), "not even without the prefix");
}

/// Every row of every table as text.
async fn dump_database(db: &TestDb) -> String {
    let url = db.url.clone();
    let backend = db.backend();
    tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use diesel::sql_types::Text;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            t: String,
        }
        match backend {
            Backend::Postgres => {
                let mut c = diesel::PgConnection::establish(&url).unwrap();
                let tables: Vec<Row> = diesel::sql_query("SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public'").load(&mut c).unwrap();
                let mut out = String::new();
                for table in tables {
                    let rows: Vec<Row> = diesel::sql_query(format!("SELECT x::text AS t FROM {} x", table.t)).load(&mut c).unwrap();
                    for r in rows {
                        out.push_str(&r.t);
                        out.push('\n');
                    }
                }
                out
            }
            Backend::Sqlite => {
                // The raw bytes of the database and its WAL: nothing can hide there.
                let path = url.trim_start_matches("sqlite://").to_string();
                let mut out = String::new();
                for p in [path.clone(), format!("{path}-wal")] {
                    if let Ok(bytes) = std::fs::read(&p) {
                        out.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                out
            }
        }
    })
    .await
    .unwrap()
}

async fn body_limit_is_enforced(app: TestApp) {
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(300 * 1024));
    let res = app.post_raw("/api/v1/api-keys", &app.admin_key, big.into_bytes(), &[]).await;
    expect_problem(res, 413, "PAYLOAD_TOO_LARGE").await;
}

async fn metrics_count_requests_by_route(app: TestApp) {
    for _ in 0..3 {
        app.get("/api/v1/users/usr_x", &app.admin_key).await;
    }
    let text = app.send(Method::GET, "/metrics", None, None, &[]).await.text().await.unwrap();
    assert!(
        text.contains(
            r#"steward_http_requests_total{method="GET",route="/api/v1/users/{id}",status="404"} 3"#
        ),
        "{text}"
    );
    assert!(text.contains("steward_http_request_duration_seconds_bucket"));
    assert!(text.contains("steward_db_pool_max_connections"));
}

/// `/openapi.json` is OpenAPI 3.1 and lists every route the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc: Value = app.send(Method::GET, "/openapi.json", None, None, &[]).await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            listed.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /api/v1/me",
        "GET /api/v1/api-keys",
        "POST /api/v1/api-keys",
        "DELETE /api/v1/api-keys/{id}",
        "GET /api/v1/users",
        "POST /api/v1/users",
        "GET /api/v1/users/{id}",
        "PATCH /api/v1/users/{id}",
        "POST /api/v1/users/{id}/deposits",
        "GET /api/v1/users/{id}/ledger",
        "GET /api/v1/projects",
        "POST /api/v1/projects",
        "GET /api/v1/projects/{id}",
        "PATCH /api/v1/projects/{id}",
        "GET /api/v1/projects/{id}/agents",
        "POST /api/v1/projects/{id}/agents",
        "GET /api/v1/projects/{id}/budget",
        "PUT /api/v1/projects/{id}/budget",
        "GET /api/v1/projects/{id}/policy",
        "PUT /api/v1/projects/{id}/policy",
        "POST /api/v1/projects/{id}/policy/validate",
        "GET /api/v1/system-policy",
        "PUT /api/v1/system-policy",
        "GET /api/v1/projects/{id}/budget/status",
        "POST /api/v1/requests",
        "GET /api/v1/requests",
        "GET /api/v1/requests/{id}",
        "GET /api/v1/payments",
        "GET /api/v1/payments/{id}",
        "GET /api/v1/reviews",
        "POST /api/v1/reviews/{id}/approve",
        "POST /api/v1/reviews/{id}/reject",
        "GET /api/v1/alerts",
        "PUT /api/v1/me/webhook",
        "GET /api/v1/me/webhook",
        "DELETE /api/v1/me/webhook",
        "GET /api/v1/audit/report",
        "GET /api/v1/providers",
        "PATCH /api/v1/providers/{name}",
        "GET /api/v1/models",
        "GET /api/v1/models/{provider}/{model}",
        "PUT /api/v1/models/{provider}/{model}",
        "POST /v1/chat/completions",
        "POST /v1/embeddings",
        "GET /v1/models",
        "POST /v1/text/completion",
        "POST /v1/vision/analyze",
        "POST /v1/images/generate",
        "POST /v1/audio/speech",
        "POST /api/v1/chatbot/chat",
        "GET /api/v1/audit",
        "GET /api/v1/audit/verify",
        "GET /api/v1/properties",
        "POST /api/v1/properties",
        "GET /api/v1/properties/{id}",
        "PATCH /api/v1/properties/{id}",
        "DELETE /api/v1/properties/{id}",
        "PUT /api/v1/properties/{id}/prices",
        "POST /api/v1/properties/{id}/media",
        "DELETE /api/v1/properties/{id}/media/{media_id}",
        "PUT /api/v1/properties/{id}/amenities",
        "GET /api/v1/properties/{id}/availability",
        "GET /api/v1/search",
        "GET /api/v1/quotes",
        "POST /api/v1/bookings",
        "GET /api/v1/bookings",
        "GET /api/v1/bookings/{reference}",
        "GET /api/v1/bookings/{reference}/history",
        "POST /api/v1/bookings/{reference}/cancel",
        "POST /api/v1/bookings/{reference}/status",
        "GET /api/v1/bookings/{reference}/payment-instructions",
        "POST /api/v1/bookings/{reference}/payments",
        "POST /api/v1/chat/sessions",
        "GET /api/v1/chat/session",
        "DELETE /api/v1/chat/session",
        "POST /api/v1/chat/messages",
        "POST /api/v1/chat/images",
        "GET /api/v1/admin/conversations",
        "GET /api/v1/admin/conversations/{id}",
        "POST /api/v1/admin/conversations/{id}/takeover",
        "POST /api/v1/admin/conversations/{id}/release",
        "POST /api/v1/admin/conversations/{id}/messages",
        "POST /api/v1/admin/commands",
        "GET /api/v1/chat/history",
        "GET /api/v1/admin/verifications",
        "POST /api/v1/admin/verifications/{id}/approve",
        "POST /api/v1/admin/verifications/{id}/reject",
        "GET /api/v1/admin/notifications",
        "GET /api/v1/admin/jobs",
        "GET /api/v1/admin/channels/whatsapp",
        "GET /media/{name}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(listed, expected);
    // Every listed operation is really served (never ROUTE_NOT_FOUND).
    for op in &listed {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "x")
            .replace("{reference}", "HB-XXXXXX")
            .replace("{media_id}", "x")
            .replace("{name}", "x");
        let res = app
            .send(Method::from_bytes(method.as_bytes()).unwrap(), &path, Some(&app.admin_key), None, &[])
            .await;
        if res.status() == 404 {
            let body: Value = res.json().await.unwrap();
            assert_ne!(body["code"], "ROUTE_NOT_FOUND", "{op} is documented but not served");
        }
    }
    // The docs UI is served from the binary.
    let res = app.send(Method::GET, "/docs/", None, None, &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"));
}

/// `/readyz` is 503 while migrations are pending and 200 once they are applied (SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_pending_migrations() {
    let db = tokio::task::spawn_blocking(|| TestDb::unmigrated(Backend::Sqlite)).await.unwrap().unwrap();
    let pool = db.db.clone();
    let app = TestApp::start(db, |_| {}).await;
    let res = app.send(Method::GET, "/readyz", None, None, &[]).await;
    let p = expect_problem(res, 503, "SERVICE_UNAVAILABLE").await;
    assert!(!p["detail"].as_str().unwrap().contains("migration"), "internal detail stays in the logs");
    tokio::task::spawn_blocking(move || {
        repositories::migrations::run_pending(&mut pool.conn().unwrap()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(app.send(Method::GET, "/readyz", None, None, &[]).await.status(), 200);
}

/// `/readyz` is 503 while PostgreSQL refuses connections and 200 again after, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database_going_away_and_back() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    assert_eq!(app.send(Method::GET, "/readyz", None, None, &[]).await.status(), 200);
    let name = app.db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let admin_url = repositories::testing::postgres_admin_url();
    let toggle = |allow: bool| {
        let (admin_url, name) = (admin_url.clone(), name.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                use diesel::connection::SimpleConnection;
                use diesel::Connection;
                let mut c = diesel::PgConnection::establish(&admin_url).unwrap();
                c.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}")).unwrap();
                if !allow {
                    c.batch_execute(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                    ))
                    .unwrap();
                }
            })
            .await
            .unwrap();
        }
    };
    toggle(false).await;
    let res = app.send(Method::GET, "/readyz", None, None, &[]).await;
    expect_problem(res, 503, "SERVICE_UNAVAILABLE").await;
    // An API call while the database is down is a 503 too, not a 500.
    let res = app.get("/api/v1/me", &app.admin_key).await;
    expect_problem(res, 503, "SERVICE_UNAVAILABLE").await;
    toggle(true).await;
    assert_eq!(app.send(Method::GET, "/readyz", None, None, &[]).await.status(), 200);
    assert_eq!(app.get("/api/v1/me", &app.admin_key).await.status(), 200);
}

async fn deposits_and_the_ledger(app: TestApp) {
    let user = app.create_user("Wallet Owner", "wallet@example.com", "member").await;
    let uid = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["balance"], json!({"amount": 0, "currency": "USDC"}));
    assert_eq!(user["verified"], false);
    let (_, _, member) =
        services::keys::create_for_cli(&app.db.db, "Wallet Owner", "wallet@example.com", Role::Member)
            .await
            .unwrap();
    let other = app.user_with_key(Role::Member).await;

    // An idempotent deposit of 25 USDC.
    let body = br#"{"amount":25000000,"note":"top-up"}"#.to_vec();
    let first = app
        .post_raw(
            &format!("/api/v1/users/{uid}/deposits"),
            &app.admin_key,
            body.clone(),
            &[("idempotency-key", "dep-1")],
        )
        .await;
    assert_eq!(first.status(), 201);
    let first = first.bytes().await.unwrap();
    let replay = app
        .post_raw(
            &format!("/api/v1/users/{uid}/deposits"),
            &app.admin_key,
            body,
            &[("idempotency-key", "dep-1")],
        )
        .await;
    assert_eq!(replay.bytes().await.unwrap(), first);
    let entry: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(
        (entry["kind"].as_str(), entry["balance_after"].as_i64()),
        (Some("deposit"), Some(25_000_000))
    );

    // 20 concurrent deposits of 1 USDC.
    let mut handles = Vec::new();
    for _ in 0..20 {
        let (client, url, key) = (
            app.client.clone(),
            format!("{}/api/v1/users/{uid}/deposits", app.address),
            app.admin_key.clone(),
        );
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"amount": 1_000_000}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 201);
    }
    let me: Value = app.get("/api/v1/me", &member).await.json().await.unwrap();
    assert_eq!(me["user"]["balance"]["amount"], 45_000_000);
    let ledger: Value =
        app.get(&format!("/api/v1/users/{uid}/ledger?limit=200"), &member).await.json().await.unwrap();
    assert_eq!(ledger["items"].as_array().unwrap().len(), 21);
    let sum = app
        .db
        .db
        .run({
            let uid = uid.clone();
            move |c| {
                let u = repositories::users::by_public_id(c, &uid)?;
                repositories::gateway::ledger::balance_from_entries(c, u.id)
            }
        })
        .await
        .unwrap();
    assert_eq!(sum, 45_000_000, "the ledger sums to the balance");

    // Who may do what; bad amounts change nothing.
    expect_problem(
        app.post(&format!("/api/v1/users/{uid}/deposits"), &member, &json!({"amount": 5})).await,
        403,
        "FORBIDDEN",
    )
    .await;
    expect_problem(app.get(&format!("/api/v1/users/{uid}/ledger"), &other).await, 404, "NOT_FOUND").await;
    for amount in [json!(0), json!(-5), json!(2_000_000_000_000_000_i64)] {
        let res = app
            .post(&format!("/api/v1/users/{uid}/deposits"), &app.admin_key, &json!({"amount": amount}))
            .await;
        expect_problem(res, 422, "VALIDATION_FAILED").await;
    }
    expect_problem(
        app.post("/api/v1/users/usr_nobody/deposits", &app.admin_key, &json!({"amount": 5})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let me: Value = app.get("/api/v1/me", &member).await.json().await.unwrap();
    assert_eq!(me["user"]["balance"]["amount"], 45_000_000);
    assert_eq!(app.audit(&format!("action=account.deposit&subject_id={uid}&limit=200")).await.len(), 21);

    // Admins verify users and set tiers.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{uid}"),
            Some(&app.admin_key),
            Some(&json!({"verified": true, "tier": "pro"})),
            &[],
        )
        .await;
    let u: Value = res.json().await.unwrap();
    assert_eq!((u["verified"].as_bool(), u["tier"].as_str()), (Some(true), Some("pro")), "{u}");
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{uid}"),
            Some(&app.admin_key),
            Some(&json!({"tier": "platinum"})),
            &[],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
}

async fn projects_agents_budgets_and_policies(app: TestApp) {
    let alice = app.user_with_key(Role::Member).await;
    let bob = app.user_with_key(Role::Member).await;
    let res = app
        .post("/api/v1/projects", &alice, &json!({"name": "Support bot", "description": "answers mail"}))
        .await;
    assert_eq!(res.status(), 201);
    let p: Value = res.json().await.unwrap();
    let pid = p["id"].as_str().unwrap().to_string();
    expect_problem(
        app.post("/api/v1/projects", &alice, &json!({"name": "Support bot"})).await,
        409,
        "PROJECT_NAME_TAKEN",
    )
    .await;
    expect_problem(
        app.post("/api/v1/projects", &alice, &json!({"name": ""})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    // Bob has his own space and cannot see Alice's project; admins see all.
    assert_eq!(app.post("/api/v1/projects", &bob, &json!({"name": "Support bot"})).await.status(), 201);
    expect_problem(app.get(&format!("/api/v1/projects/{pid}"), &bob).await, 404, "NOT_FOUND").await;
    let mine: Value = app.get("/api/v1/projects", &alice).await.json().await.unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    // Alice's, Bob's and the platform's booking-desk.
    let all: Value = app.get("/api/v1/projects", &app.admin_key).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(&alice),
            Some(&json!({"description": "answers chat"})),
            &[],
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["description"], "answers chat");

    // Agents.
    let res = app.post(&format!("/api/v1/projects/{pid}/agents"), &alice, &json!({"name": "triage"})).await;
    assert_eq!(res.status(), 201);
    expect_problem(
        app.post(&format!("/api/v1/projects/{pid}/agents"), &alice, &json!({"name": "triage"})).await,
        409,
        "AGENT_NAME_TAKEN",
    )
    .await;
    expect_problem(
        app.post(&format!("/api/v1/projects/{pid}/agents"), &bob, &json!({"name": "x"})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let agents: Vec<Value> =
        app.get(&format!("/api/v1/projects/{pid}/agents"), &alice).await.json().await.unwrap();
    assert_eq!(agents.len(), 1);

    // Budget: SPEC defaults, then set; bad limits change nothing.
    let b: Value = app.get(&format!("/api/v1/projects/{pid}/budget"), &alice).await.json().await.unwrap();
    assert_eq!(
        (b["per_request"]["amount"].as_i64(), b["daily"]["amount"].as_i64(), b["monthly"]["amount"].as_i64()),
        (Some(10_000_000), Some(100_000_000), Some(3_000_000_000))
    );
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/projects/{pid}/budget"),
            Some(&alice),
            Some(&json!({"per_request": 1_000_000, "daily": 5_000_000, "monthly": 50_000_000})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    for bad in [
        json!({"per_request": -1, "daily": 5, "monthly": 50}),
        json!({"per_request": 10, "daily": 5, "monthly": 50}),
    ] {
        let res = app
            .send(Method::PUT, &format!("/api/v1/projects/{pid}/budget"), Some(&alice), Some(&bad), &[])
            .await;
        expect_problem(res, 422, "VALIDATION_FAILED").await;
    }
    let b: Value = app.get(&format!("/api/v1/projects/{pid}/budget"), &alice).await.json().await.unwrap();
    assert_eq!(b["daily"]["amount"], 5_000_000);

    // Policy: strict by default; validate says why.
    let validate = |provider: &'static str, model: &'static str| {
        let (app, alice, pid) = (&app, alice.clone(), pid.clone());
        async move {
            let v: Value = app
                .post(
                    &format!("/api/v1/projects/{pid}/policy/validate"),
                    &alice,
                    &json!({"provider": provider, "model": model, "operation": "chat"}),
                )
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    assert_eq!(validate("openai", "gpt-4o-mini").await["code"], "NO_PROVIDERS_CONFIGURED");
    let policy = json!({"allowed_providers": ["openai", "local"], "allowed_models": ["gpt-4o-mini", "local/echo"],
        "forbidden_operations": ["openai.gpt-4o-mini.image"], "rate_per_minute": 5});
    let res = app
        .send(Method::PUT, &format!("/api/v1/projects/{pid}/policy"), Some(&alice), Some(&policy), &[])
        .await;
    assert_eq!(res.status(), 200);
    let stored: Value = res.json().await.unwrap();
    assert_eq!(
        (stored["rate_per_minute"].as_u64(), stored["rate_per_hour"].as_u64()),
        (Some(5), Some(100)),
        "defaults fill the rest"
    );
    assert_eq!(validate("openai", "gpt-4o-mini").await["allowed"], true);
    assert_eq!(validate("local", "echo").await["allowed"], true);
    assert_eq!(validate("anthropic", "claude").await["code"], "UNAUTHORIZED_PROVIDER");
    assert_eq!(validate("openai", "gpt-4o").await["code"], "UNAUTHORIZED_MODEL");
    let v: Value = app
        .post(
            &format!("/api/v1/projects/{pid}/policy/validate"),
            &alice,
            &json!({"provider": "openai", "model": "gpt-4o-mini", "operation": "image"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["code"], "OPERATION_FORBIDDEN");
    let res = app
        .post(
            &format!("/api/v1/projects/{pid}/policy/validate"),
            &alice,
            &json!({"provider": "openai", "model": "m", "operation": "dance"}),
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    for bad in [
        json!({"allowed_hours": [25]}),
        json!({"max_risk_score": 11.0}),
        json!({"colour": "red"}),
        json!({"forbidden_operations": ["openai.chat"]}),
    ] {
        let res = app
            .send(Method::PUT, &format!("/api/v1/projects/{pid}/policy"), Some(&alice), Some(&bad), &[])
            .await;
        expect_problem(res, 422, "VALIDATION_FAILED").await;
    }
    assert_eq!(validate("openai", "gpt-4o-mini").await["allowed"], true, "refused updates changed nothing");

    // The system policy overrides projects (admins only).
    expect_problem(app.get("/api/v1/system-policy", &alice).await, 403, "FORBIDDEN").await;
    let sys: Value = app.get("/api/v1/system-policy", &app.admin_key).await.json().await.unwrap();
    assert_eq!(sys["fee_bps"], 500);
    let res = app
        .send(
            Method::PUT,
            "/api/v1/system-policy",
            Some(&app.admin_key),
            Some(&json!({"blocked_providers": ["openai"]})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(validate("openai", "gpt-4o-mini").await["code"], "PROVIDER_BLOCKED");
    let res = app
        .send(
            Method::PUT,
            "/api/v1/system-policy",
            Some(&app.admin_key),
            Some(&json!({"fee_bps": 20000})),
            &[],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let actions: Vec<String> = app
        .audit(&format!("subject_id={pid}&limit=200"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in ["project.created", "project.updated", "agent.created", "budget.updated", "policy.updated"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
}
