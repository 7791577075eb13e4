//! The contract holds whatever is sent (issue 9): money stays bounded by the reservation, hostile
//! input gets a documented 4xx and changes nothing, the same on SQLite and PostgreSQL; plus the
//! operational regressions (keep-alive, the stale-reservation tick).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use system_tests::spend::*;
use system_tests::{expect_problem, system_test, Backend, TestApp, TestDb};

system_test!(
    control_characters_are_refused_everywhere,
    lenient_input_is_refused,
    openai_shapes_are_checked_before_anything_is_reserved,
    v1_errors_keep_openai_shape,
    sessions_open_from_an_empty_object,
    key_scopes_must_belong_to_the_owner,
    idle_connections_outlive_five_seconds,
    every_json_body_refuses_hostile_values,
);

/// `(status, error.code, error.param)` of an OpenAI-shaped error (JSON, not a problem).
async fn openai_error(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(ct.starts_with("application/json"), "OpenAI errors are plain JSON, got {ct}");
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"].is_string() && v["error"]["type"].is_string(), "{v}");
    (status, v["error"]["code"].as_str().unwrap().to_string(), v["error"]["param"].clone())
}

async fn control_characters_are_refused_everywhere(app: TestApp) {
    let admin = app.admin_key.clone();
    // Path and query, without credentials, on routes that read the database.
    for path in [
        "/api/v1/properties/%00",
        "/api/v1/quotes?property=%00abc&date=2026-12-05&shift=day",
        "/api/v1/search?type=farm&date=2026-12-05&shift=day&guests=2&city=%01",
        "/api/v1/bookings/HB-%1F",
    ] {
        let res = app.send(Method::GET, path, None, None, &[]).await;
        expect_problem(res, 400, "BAD_REQUEST").await;
    }
    // JSON: a NUL in a project name, a deposit note, a guest name; nothing is stored.
    let p = expect_problem(
        app.post("/api/v1/projects", &admin, &json!({"name": "a\u{0}b"})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "name");
    let projects: Value = app.get("/api/v1/projects", &admin).await.json().await.unwrap();
    let names: Vec<&str> =
        projects["items"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["booking-desk"], "nothing stored beside the platform's project");
    let me: Value = app.get("/api/v1/me", &admin).await.json().await.unwrap();
    let uid = me["user"]["id"].as_str().unwrap();
    let p = expect_problem(
        app.post(&format!("/api/v1/users/{uid}/deposits"), &admin, &json!({"amount": 5, "note": "x\u{0}"}))
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "note");
    let res = app
        .post(
            "/api/v1/bookings",
            &admin,
            &json!({"property_id": "prp_x", "date": "2026-12-05", "shift": "day", "guests": 2,
                "guest": {"name": "Ali\u{0}", "cnic": "42201-1234567-1"}}),
        )
        .await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "guest.name");
    // Other C0 characters in keys, nested values; tab and newlines are text.
    let p = expect_problem(
        app.post("/api/v1/projects", &admin, &json!({"name\u{7}": "x"})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "name\u{7}");
    let res = app
        .post("/api/v1/projects", &admin, &json!({"name": "Lines", "description": "one\ntwo\tthree\r\n"}))
        .await;
    assert_eq!(res.status(), 201);
    // A lone surrogate is not JSON.
    let res = app.post_raw("/api/v1/projects", &admin, br#"{"name": "\ud800"}"#.to_vec(), &[]).await;
    expect_problem(res, 400, "MALFORMED_JSON").await;
    // Under /v1, the same in OpenAI's shape.
    let res = app
        .post(
            "/v1/chat/completions",
            &admin,
            &json!({"model": "local/echo", "messages": [{"role": "user", "content": "\u{0}"}]}),
        )
        .await;
    let (status, code, param) = openai_error(res).await;
    assert_eq!((status, code.as_str(), param), (400, "VALIDATION_FAILED", json!("messages[0].content")));
    let res = app.send(Method::GET, "/v1/models?x=%00", Some(&admin), None, &[]).await;
    assert_eq!(openai_error(res).await.0, 400);
}

async fn lenient_input_is_refused(app: TestApp) {
    let admin = app.admin_key.clone();
    for limit in ["-1", "0", "201", "100000"] {
        let res = app.get(&format!("/api/v1/projects?limit={limit}"), &admin).await;
        let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
        assert_eq!(p["errors"][0]["field"], "limit");
    }
    assert_eq!(app.get("/api/v1/projects?limit=200", &admin).await.status(), 200);
    // A date with a leading space is not a date; a booking is not made.
    let session: Value =
        app.send(Method::POST, "/api/v1/chat/sessions", None, None, &[]).await.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    let date = (chrono::Utc::now().date_naive() + chrono::Duration::days(3)).to_string();
    let res = app
        .post(
            "/api/v1/bookings",
            token,
            &json!({"property_id": "prp_x", "date": format!(" {date}"), "shift": "day", "guests": 2,
                "guest": {"name": "Ali", "cnic": "42201-1234567-1"}}),
        )
        .await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "date");
    let bookings: Value = app.get("/api/v1/bookings", token).await.json().await.unwrap();
    assert!(bookings["items"].as_array().unwrap().is_empty());
    // An unknown payment method is refused before the booking is even looked up.
    let res = app
        .post(
            "/api/v1/bookings/HB-AAAAAA/payments",
            token,
            &json!({"amount": 100, "transaction_id": "T1", "sender_name": "Ali", "method": "bitcoin"}),
        )
        .await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert!(p["detail"].as_str().unwrap().contains("bitcoin"), "{p}");
}

/// A loopback OpenAI-compatible provider that produces what it is allowed to: `max_tokens` (or
/// `max_completion_tokens`, or 16) for each of `n` choices, plus `extra` tokens it should not
/// have produced.
struct Producer {
    extra: u64,
}

impl wiremock::Respond for Producer {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let per_choice = body["max_tokens"].as_u64().or(body["max_completion_tokens"].as_u64()).unwrap_or(16);
        let n = body["n"].as_u64().unwrap_or(1).max(body["best_of"].as_u64().unwrap_or(1));
        // An honest tokenizer: about four characters a token (the estimate reserves 10 % more).
        let chars: usize = body["messages"]
            .as_array()
            .map(|m| m.iter().map(|m| m["content"].as_str().map_or(0, str::len)).sum())
            .unwrap_or(0);
        let (prompt, completion) = if request.url.path().ends_with("/embeddings") {
            let tokens: u64 = body["input"]
                .as_array()
                .map(|a| a.iter().map(|i| i.as_array().map_or(1, |t| t.len() as u64)).sum())
                .unwrap_or(1);
            (tokens + self.extra, 0)
        } else {
            ((chars / 4) as u64, per_choice * n + self.extra)
        };
        let choices: Vec<Value> = (0..n)
            .map(|i| json!({"index": i, "finish_reason": "length", "message": {"role": "assistant", "content": "word"}}))
            .collect();
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "object": if request.url.path().ends_with("/embeddings") { "list" } else { "chat.completion" },
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
            "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }))
    }
}

/// gpt-4o-mini list price (0.15 / 0.60 USDC per million tokens) plus the 5 % fee.
fn cost(prompt: u64, completion: u64) -> i64 {
    let tokens = |t: u64, per_m: u64| (t * per_m).div_ceil(1_000_000) as i64;
    let c = tokens(prompt, 150_000) + tokens(completion, 600_000);
    c + (c * 500 + 9_999) / 10_000
}

/// No combination of `n`, `best_of`, `max_tokens`, `max_completion_tokens` and token-array inputs
/// lets what the provider reports exceed the reservation unnoticed: an honest provider is charged
/// exactly its usage (within the reservation); one that produces more is charged the whole
/// reservation, and the overrun is the payment's negative variance and an alert.
async fn money_stays_bounded(backend: Backend) {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let (honest, greedy) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST")).respond_with(Producer { extra: 0 }).mount(&honest).await;
    Mock::given(method("POST")).respond_with(Producer { extra: 50_000 }).mount(&greedy).await;
    let (honest_url, greedy_url) = (format!("{}/v1", honest.uri()), format!("{}/v1", greedy.uri()));
    let app = TestApp::start_with(
        db,
        |_| {},
        move |a| {
            for (name, url) in [("openai", &honest_url), ("groq", &greedy_url)] {
                a.providers.push(openai_compatible(name, url));
            }
        },
    )
    .await;
    set_prices(&app, "groq", "greedy", (150_000, 600_000, 0));
    set_prices(&app, "openai", "text-embedding-3-small", (150_000, 0, 0));
    let mut policy = open_policy();
    policy["allowed_providers"] = json!(["openai", "groq"]);
    policy["allowed_models"] = json!(["openai/gpt-4o-mini", "groq/greedy", "openai/text-embedding-3-small"]);
    let s = spender(&app, 50_000_000, policy).await;
    put_budget(&app, &s, 50_000_000, 50_000_000, 50_000_000).await;
    let call = |model: &str, extra: Value| {
        let mut b = json!({"model": model, "messages": [{"role": "user", "content": "tell me everything"}]});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };

    // The defect: n multiplied the provider's work but not the reservation.
    let res = v1(
        &app,
        &s,
        "/v1/chat/completions",
        &call("openai/gpt-4o-mini", json!({"max_tokens": 10, "n": 1000})),
    )
    .await;
    let (status, code, param) = openai_error(res).await;
    assert_eq!((status, code.as_str(), param), (400, "VALIDATION_FAILED", json!("n")));

    let combos = [
        json!({"max_tokens": 10, "n": 100}),
        json!({"max_tokens": 7, "best_of": 9, "n": 3}),
        json!({"max_completion_tokens": 40, "n": 5}),
        json!({"max_tokens": 5, "max_completion_tokens": 300}),
        json!({"n": 4}),
        json!({}),
    ];
    for extra in &combos {
        let res = v1(&app, &s, "/v1/chat/completions", &call("openai/gpt-4o-mini", extra.clone())).await;
        assert_eq!(res.status(), 200, "{extra}");
        let v: Value = res.json().await.unwrap();
        let usage = (
            v["usage"]["prompt_tokens"].as_u64().unwrap(),
            v["usage"]["completion_tokens"].as_u64().unwrap(),
        );
        let receipt = &v["x_steward"];
        let (estimated, charged) =
            (receipt["cost"]["estimated"].as_i64().unwrap(), receipt["cost"]["charged"].as_i64().unwrap());
        assert_eq!(charged, cost(usage.0, usage.1), "{extra}: the whole usage is charged");
        assert!(charged <= estimated, "{extra}: the reservation covered it");
        assert!(receipt["payment"]["variance"].as_i64().unwrap() >= 0, "{extra}");
    }
    // Embeddings of token arrays: the tokens are reserved.
    let tokens: Vec<u64> = (0..3000).collect();
    let res =
        v1(&app, &s, "/v1/embeddings", &json!({"model": "openai/text-embedding-3-small", "input": [tokens]}))
            .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let (estimated, charged) = (
        v["x_steward"]["cost"]["estimated"].as_i64().unwrap(),
        v["x_steward"]["cost"]["charged"].as_i64().unwrap(),
    );
    assert_eq!(charged, cost(3000, 0));
    assert!(charged <= estimated);

    // A provider that reports more than it may: charged the whole reservation, never less, the
    // overrun visible as negative variance and alerted once per request.
    let before = money(&app, &s.uid).await.0;
    let res =
        v1(&app, &s, "/v1/chat/completions", &call("groq/greedy", json!({"max_tokens": 10, "n": 2}))).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let receipt = &v["x_steward"];
    let estimated = receipt["cost"]["estimated"].as_i64().unwrap();
    let actual = cost("tell me everything".len() as u64 / 4, 20 + 50_000);
    assert_eq!(receipt["cost"]["charged"].as_i64(), Some(estimated));
    assert_eq!(money(&app, &s.uid).await.0, before - estimated);
    let id = receipt["request_id"].as_str().unwrap();
    let r: Value = app.get(&format!("/api/v1/requests/{id}"), &s.key).await.json().await.unwrap();
    assert_eq!(r["payment"]["actual"].as_i64(), Some(actual));
    assert_eq!(r["payment"]["variance"].as_i64(), Some(estimated - actual));
    let alerts: Value = app.get("/api/v1/alerts", &s.key).await.json().await.unwrap();
    let overruns: Vec<&Value> =
        alerts["items"].as_array().unwrap().iter().filter(|a| a["kind"] == "reservation_overrun").collect();
    assert_eq!(overruns.len(), 1, "{alerts}");
    assert_eq!(overruns[0]["details"]["request"], id);
    assert_books(&app, &s.uid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_stays_bounded_sqlite() {
    money_stays_bounded(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_stays_bounded_postgres() {
    money_stays_bounded(Backend::Postgres).await;
}

async fn v1(app: &TestApp, s: &Spender, path: &str, body: &Value) -> reqwest::Response {
    app.send(Method::POST, path, Some(&s.key), Some(body), &[("x-steward-project", &s.project)]).await
}

async fn openai_shapes_are_checked_before_anything_is_reserved(app: TestApp) {
    let s = spender(&app, 5_000_000, open_policy()).await;
    let base = json!({"model": "local/echo", "messages": [{"role": "user", "content": "hi"}]});
    for (key, value, param) in [
        ("max_tokens", json!(-5), "max_tokens"),
        ("max_tokens", json!(1e30), "max_tokens"),
        ("max_tokens", json!(9_223_372_036_854_775_808u64), "max_tokens"),
        ("stream", json!("yes"), "stream"),
        ("temperature", json!("hot"), "temperature"),
        ("tools", json!("x"), "tools"),
        ("messages", json!([{"role": "emperor", "content": "hi"}]), "messages[0].role"),
    ] {
        let mut body = base.clone();
        body[key] = value;
        let res = v1(&app, &s, "/v1/chat/completions", &body).await;
        let (status, code, got) = openai_error(res).await;
        assert_eq!((status, code.as_str(), got), (400, "VALIDATION_FAILED", json!(param)), "{key}");
    }
    // The platform API: the same checks as problems.
    let mut emperor = call_body(&s, "local", "echo");
    emperor["messages"] = json!([{"role": "emperor", "content": "hi"}]);
    let p =
        expect_problem(app.post("/api/v1/requests", &s.key, &emperor).await, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "messages[0].role");
    let mut huge = call_body(&s, "local", "echo");
    huge["max_tokens"] = json!(9_223_372_036_854_775_808u64);
    expect_problem(app.post("/api/v1/requests", &s.key, &huge).await, 422, "VALIDATION_FAILED").await;
    let mut hot = call_body(&s, "local", "echo");
    hot["parameters"] = json!({"temperature": "hot"});
    expect_problem(app.post("/api/v1/requests", &s.key, &hot).await, 422, "VALIDATION_FAILED").await;
    // Nothing recorded, nothing reserved.
    let listed: Value = app.get("/api/v1/requests", &s.key).await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    assert_eq!(money(&app, &s.uid).await, (5_000_000, 0));
}

async fn v1_errors_keep_openai_shape(app: TestApp) {
    let s = spender(&app, 5_000_000, open_policy()).await;
    let big =
        json!({"model": "local/echo", "messages": [{"role": "user", "content": "x".repeat(300 * 1024)}]});
    let (status, code, _) = openai_error(v1(&app, &s, "/v1/chat/completions", &big).await).await;
    assert_eq!((status, code.as_str()), (413, "PAYLOAD_TOO_LARGE"));
    let (status, code, _) =
        openai_error(app.send(Method::GET, "/v1/nothing-here", Some(&s.key), None, &[]).await).await;
    assert_eq!((status, code.as_str()), (404, "ROUTE_NOT_FOUND"));
    let res = app.post_raw("/v1/embeddings", &s.key, b"{not json".to_vec(), &[]).await;
    assert_eq!(openai_error(res).await.1, "MALFORMED_JSON");
    let (status, code, _) = openai_error(app.send(Method::GET, "/v1/models", None, None, &[]).await).await;
    assert_eq!((status, code.as_str()), (401, "AUTH_REQUIRED"));
}

async fn sessions_open_from_an_empty_object(app: TestApp) {
    for body in [json!({}), json!({"user_id": null})] {
        let res = app.send(Method::POST, "/api/v1/chat/sessions", None, Some(&body), &[]).await;
        assert_eq!(res.status(), 201, "{body}");
        let s: Value = res.json().await.unwrap();
        assert!(s["token"].as_str().unwrap().starts_with("gs_"));
    }
    let res = app.send(Method::POST, "/api/v1/chat/sessions", None, Some(&json!({"name": "Ali"})), &[]).await;
    let p = expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "user_id");
}

async fn key_scopes_must_belong_to_the_owner(app: TestApp) {
    let a = spender(&app, 0, open_policy()).await;
    let b = spender(&app, 0, open_policy()).await;
    let res =
        app.post(&format!("/api/v1/projects/{}/agents", b.project), &b.key, &json!({"name": "bot"})).await;
    let b_agent = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res =
        app.post(&format!("/api/v1/projects/{}/agents", a.project), &a.key, &json!({"name": "bot"})).await;
    let a_agent = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // Another user's project or agent, ones that do not exist, an agent of another project.
    for scope in [
        json!({"project": b.project}),
        json!({"project": "prj_doesnotexist"}),
        json!({"agent": b_agent}),
        json!({"agent": "agt_doesnotexist"}),
        json!({"project": a.project, "agent": b_agent}),
    ] {
        let mut body = json!({"name": "scoped"});
        body.as_object_mut().unwrap().extend(scope.as_object().unwrap().clone());
        let res = app.post("/api/v1/api-keys", &a.key, &body).await;
        expect_problem(res, 404, "NOT_FOUND").await;
    }
    let keys: Value = app.get("/api/v1/api-keys", &a.key).await.json().await.unwrap();
    assert_eq!(keys["items"].as_array().unwrap().len(), 1, "no key was minted");
    let ok = app
        .post("/api/v1/api-keys", &a.key, &json!({"name": "mine", "project": a.project, "agent": a_agent}))
        .await;
    assert_eq!(ok.status(), 201);
}

/// The server keeps an idle keep-alive connection open well past five seconds (the old default
/// that reset clients reusing a pooled connection): a second request on the same connection after
/// six seconds is answered.
async fn idle_connections_outlive_five_seconds(app: TestApp) {
    let addr = app.address.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let ask = |conn: &mut std::net::TcpStream| {
            conn.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        };
        assert!(ask(&mut conn).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_secs(6));
        let again = ask(&mut conn);
        assert!(again.starts_with("HTTP/1.1 200"), "the idle connection was kept: {again:?}");
    })
    .await
    .unwrap();
}

/// The hostile values, by what a schema property expects.
fn hostile_values(kind: &str) -> Vec<(&'static str, Value)> {
    let nested = (0..40).fold(json!("deep"), |v, _| json!({"a": v}));
    let mut out = vec![
        ("NUL", json!("a\u{0}b")),
        ("1 MB string", json!("x".repeat(1024 * 1024))),
        ("40-level nesting", nested),
        ("beyond i64", serde_json::from_str("99999999999999999999").unwrap()),
        ("1e30", json!(1e30)),
    ];
    if kind == "integer" {
        out.push(("float for an integer", json!(1.5)));
    }
    out
}

/// The codes docs/api.md documents.
fn documented_codes() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    doc.split('`')
        .filter(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_string)
        .collect()
}

/// Every JSON request body the OpenAPI document lists gets, in each declared property (and as the
/// whole body), a NUL, a lone surrogate, a 1 MB string, 40 levels of nesting, numbers beyond i64
/// and floats where integers belong: each answer is a 4xx with a documented code.
async fn every_json_body_refuses_hostile_values(app: TestApp) {
    let doc: Value = app.send(Method::GET, "/openapi.json", None, None, &[]).await.json().await.unwrap();
    let codes = documented_codes();
    let schemas = doc["components"]["schemas"].clone();
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => s.clone(),
        }
    };
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() else {
                continue;
            };
            let schema = resolve(&Value::Object(schema.clone()));
            let schema = if schema["oneOf"].is_array() { resolve(&schema["oneOf"][0]) } else { schema };
            let url = path.replace(['{', '}'], "");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
            for (what, v) in hostile_values("") {
                bodies.push((format!("whole body {what}"), serde_json::to_vec(&v).unwrap()));
            }
            bodies.push(("whole body lone surrogate".into(), br#""\ud800""#.to_vec()));
            for (name, prop) in schema["properties"].as_object().cloned().unwrap_or_default() {
                let kind = resolve(&prop)["type"].as_str().unwrap_or("").to_string();
                for (what, v) in hostile_values(&kind) {
                    bodies.push((
                        format!("{name}: {what}"),
                        serde_json::to_vec(&json!({name.clone(): v})).unwrap(),
                    ));
                }
                bodies.push((
                    format!("{name}: lone surrogate"),
                    format!(r#"{{"{name}": "\ud800"}}"#).into_bytes(),
                ));
            }
            for (what, body) in bodies {
                let res = app
                    .client
                    .request(method.clone(), format!("{}{url}", app.address))
                    .bearer_auth(&app.admin_key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let v: Value = res.json().await.unwrap_or_default();
                let code = v["code"].as_str().or(v["error"]["code"].as_str()).unwrap_or_default().to_string();
                assert!((400..500).contains(&status), "{method} {path} with {what}: {status} {v}");
                assert!(codes.contains(&code), "{method} {path} with {what}: undocumented code {code:?}");
                sent += 1;
            }
        }
    }
    assert!(sent > 200, "{sent} hostile bodies sent");
}

/// The stale-reservation release follows `jobs.tick_secs`: due again one tick later, not a minute.
async fn stale_release_runs_every_tick(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.jobs.tick_secs = 2).await else { return };
    let now = models::time::now();
    let svc = app.services(Arc::new(integrations::fakes::FixedClock::at(now)));
    let release = tasks::registry::Job::ReleaseReservations;
    let ran = tasks::scheduler::run_due(&svc, "r1", now).await.unwrap();
    assert!(ran.iter().any(|(j, _)| *j == release));
    let ran = tasks::scheduler::run_due(&svc, "r1", now + chrono::Duration::seconds(1)).await.unwrap();
    assert!(!ran.iter().any(|(j, _)| *j == release), "not within a tick");
    let ran = tasks::scheduler::run_due(&svc, "r1", now + chrono::Duration::seconds(3)).await.unwrap();
    assert!(ran.iter().any(|(j, _)| *j == release), "due again after a tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_release_runs_every_tick_sqlite() {
    stale_release_runs_every_tick(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_release_runs_every_tick_postgres() {
    stale_release_runs_every_tick(Backend::Postgres).await;
}
