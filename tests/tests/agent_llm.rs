//! The LLM agent against a scripted OpenAI-compatible fake on loopback that speaks the real
//! `tool_calls` wire format, through the spend gateway as project `booking-desk`: a booking made
//! through the tools, every model call recorded with its cost, a model that oversteps refused,
//! and a failing model answered by the guided agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Duration};
use serde_json::{json, Value};
use system_tests::spend::openai_compatible;
use system_tests::{Backend, TestApp, TestDb};

/// Answers each chat completion with the next scripted assistant message (a text or tool calls).
#[derive(Clone, Default)]
struct Script(Arc<Mutex<VecDeque<Value>>>);

impl Script {
    fn push(&self, message: Value) {
        self.0.lock().unwrap().push_back(message);
    }
}

fn calls(list: &[(&str, Value)]) -> Value {
    let tool_calls: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, (name, args))| json!({"id": format!("call_{i}_{name}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect();
    json!({"role": "assistant", "content": null, "tool_calls": tool_calls})
}

fn says(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

impl wiremock::Respond for Script {
    fn respond(&self, _request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let message = self.0.lock().unwrap().pop_front().unwrap_or_else(|| says("(script ended)"));
        let finish = if message["tool_calls"].is_array() { "tool_calls" } else { "stop" };
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": 400, "completion_tokens": 30, "total_tokens": 430},
        }))
    }
}

struct Fixture {
    app: TestApp,
    script: Script,
    upstream: wiremock::MockServer,
}

async fn fixture(backend: Backend, failing: bool) -> Option<Fixture> {
    use wiremock::matchers::method;
    let db = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap()?;
    let upstream = wiremock::MockServer::start().await;
    let script = Script::default();
    if failing {
        wiremock::Mock::given(method("POST"))
            .respond_with(
                wiremock::ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "down"}})),
            )
            .mount(&upstream)
            .await;
    } else {
        wiremock::Mock::given(method("POST")).respond_with(script.clone()).mount(&upstream).await;
    }
    let base = format!("{}/v1", upstream.uri());
    let app = TestApp::start_with(
        db,
        |s| {
            s.agent.mode = core_config::AgentMode::Llm;
            s.agent.model = "openai/gpt-4o-mini".into();
        },
        move |a| a.providers.push(openai_compatible("openai", &base)),
    )
    .await;
    services::desk::demo::seed(&app.db.db).await.unwrap();
    services::gateway::accounts::fund_platform(&app.db.db, &["openai/gpt-4o-mini"], models::time::now())
        .await
        .unwrap();
    Some(Fixture { app, script, upstream })
}

async fn session(app: &TestApp) -> String {
    let s: Value = app
        .send(reqwest::Method::POST, "/api/v1/chat/sessions", None, Some(&json!({})), &[])
        .await
        .json()
        .await
        .unwrap();
    s["token"].as_str().unwrap().to_string()
}

async fn say(app: &TestApp, token: &str, message: &str) -> Value {
    let res = app.post("/api/v1/chat/messages", token, &json!({"message": message})).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn saturday() -> String {
    let mut d = chrono::Utc::now().date_naive() + Duration::days(2);
    while d.weekday() != chrono::Weekday::Sat {
        d += Duration::days(1);
    }
    d.to_string()
}

/// The tool results the model was sent back, in order.
async fn tool_results(upstream: &wiremock::MockServer) -> Vec<Value> {
    let mut out = Vec::new();
    for r in upstream.received_requests().await.unwrap() {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        // The results of the previous model answer's calls: the trailing tool messages.
        let trailing: Vec<&Value> = messages.iter().rev().take_while(|m| m["role"] == "tool").collect();
        for m in trailing.into_iter().rev() {
            out.push(serde_json::from_str(m["content"].as_str().unwrap()).unwrap());
        }
    }
    out
}

async fn books_through_the_tools(backend: Backend) {
    let Some(f) = fixture(backend, false).await else { return };
    let (app, s) = (&f.app, &f.script);
    let token = session(app).await;
    let date = saturday();
    s.push(calls(&[
        ("set_search_preferences", json!({"type": "farm", "date": date, "shift": "night", "guests": 20})),
        ("search_properties", json!({})),
    ]));
    s.push(says("Here are the free farmhouses."));
    let r = say(app, &token, "farmhouse on saturday night for 20 people").await;
    assert_eq!(r["responses"][0], json!({"type": "text", "text": "Here are the free farmhouses."}));
    assert!(r["responses"].as_array().unwrap().iter().any(|i| i["type"] == "property_list"), "{r}");
    s.push(calls(&[("resolve_property", json!({"property": "green valley"}))]));
    s.push(says("Ready to book Green Valley Farmhouse? (Yes/No)"));
    say(app, &token, "green valley please").await;
    s.push(says("Please send your full name and CNIC."));
    say(app, &token, "yes").await;
    // The model tries to book and to confirm for the guest before the guest said yes: refused.
    s.push(calls(&[
        ("prepare_booking_details", json!({"name": "Ayesha Khan", "cnic": "42201-1234567-1"})),
        ("confirm_booking_details", json!({})),
        ("create_booking", json!({})),
    ]));
    s.push(says("Name Ayesha Khan, CNIC 42201-*******-1. Is that right?"));
    say(app, &token, "Ayesha Khan, 42201-1234567-1").await;
    let mine: Value = app.get("/api/v1/bookings", &token).await.json().await.unwrap();
    assert!(mine["items"].as_array().unwrap().is_empty(), "nothing booked before the guest's yes");
    let results = tool_results(&f.upstream).await;
    let codes: Vec<&str> = results.iter().filter_map(|r| r["error"]["code"].as_str()).collect();
    assert_eq!(codes, ["NOT_CONFIRMED_BY_GUEST", "IDENTITY_NOT_CONFIRMED"], "{results:?}");
    // The guest's yes: now the model may confirm and book.
    s.push(calls(&[("confirm_booking_details", json!({})), ("create_booking", json!({}))]));
    s.push(says("Booked! Pay the advance to confirm."));
    let r = say(app, &token, "yes").await;
    let summary =
        r["responses"].as_array().unwrap().iter().find(|i| i["type"] == "booking_summary").cloned().unwrap();
    assert_eq!(summary["booking"]["property"], "Green Valley Farmhouse");
    assert_eq!(summary["booking"]["status"], "pending");
    // The rolling summary follows the state: what the guest wants and the booking made.
    let list: Value = app.get("/api/v1/admin/conversations", &app.admin_key).await.json().await.unwrap();
    let id = list["items"][0]["id"].as_str().unwrap();
    let c: Value =
        app.get(&format!("/api/v1/admin/conversations/{id}"), &app.admin_key).await.json().await.unwrap();
    let rolling = c["summary"].as_str().unwrap();
    let reference = summary["booking"]["reference"].as_str().unwrap();
    assert!(rolling.contains(&format!("farm, {date}, night, 20 guests")), "{rolling}");
    assert!(rolling.contains(reference), "{rolling}");
    // Every model call is an AI request of booking-desk, with its cost.
    let requests: Value = app.get("/api/v1/requests?limit=200", &app.admin_key).await.json().await.unwrap();
    let desk: Vec<&Value> =
        requests["items"].as_array().unwrap().iter().filter(|q| q["provider"] == "openai").collect();
    assert_eq!(desk.len(), 9, "one recorded request per model call");
    let project = desk[0]["project"].as_str().unwrap();
    let p: Value =
        app.get(&format!("/api/v1/projects/{project}"), &app.admin_key).await.json().await.unwrap();
    assert_eq!(p["name"], "booking-desk");
    assert!(desk.iter().all(|q| q["status"] == "executed" && q["charged"].as_i64().unwrap() > 0), "{desk:?}");
}

async fn oversteps_are_refused(backend: Backend) {
    let Some(f) = fixture(backend, false).await else { return };
    let (app, s) = (&f.app, &f.script);
    // Another guest's booking, made by the guided path through the API.
    let other = session(app).await;
    let date = saturday();
    let res = app
        .post("/api/v1/bookings", &other, &json!({"property_id": property_id(app, "Palm Grove Farmhouse").await, "date": date, "shift": "day", "guests": 5,
            "guest": {"name": "Other Guest", "cnic": "42101-1111111-1"}}))
        .await;
    let theirs = res.json::<Value>().await.unwrap()["reference"].as_str().unwrap().to_string();
    let token = session(app).await;
    s.push(calls(&[
        ("booking_status", json!({"reference": theirs})),
        ("cancel_booking", json!({"reference": theirs})),
        ("my_bookings", json!({"guest_id": "gst_someone"})),
    ]));
    s.push(says("I can't find that booking."));
    let r = say(app, &token, &format!("what about {theirs}?")).await;
    assert!(
        !r.to_string().contains("Other Guest") && !r.to_string().contains("Palm Grove"),
        "nothing leaks: {r}"
    );
    let results = tool_results(&f.upstream).await;
    let codes: Vec<&str> = results.iter().filter_map(|r| r["error"]["code"].as_str()).collect();
    assert_eq!(codes, ["NOT_FOUND", "NOT_FOUND", "UNDECLARED_ARGUMENT"], "{results:?}");
    assert!(!results.iter().any(|r| r.to_string().contains("Other Guest")));
    let b: Value = app.get(&format!("/api/v1/bookings/{theirs}"), &other).await.json().await.unwrap();
    assert_eq!(b["status"], "pending", "the other guest's booking stands");
}

async fn property_id(app: &TestApp, name: &str) -> String {
    let v: Value = app
        .send(reqwest::Method::GET, "/api/v1/properties?limit=200", None, None, &[])
        .await
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn a_failing_model_hands_over_to_the_rules(backend: Backend) {
    let Some(f) = fixture(backend, true).await else { return };
    let app = &f.app;
    let token = session(app).await;
    let r = say(app, &token, "hi").await;
    assert!(r["text"].as_str().unwrap().contains("Full Night"), "the guided introduction: {r}");
    let s: Value = app.get("/api/v1/chat/session", &token).await.json().await.unwrap();
    assert_eq!(s["needs_human"], true);
    let inbox: Value = app.get("/api/v1/admin/notifications", &app.admin_key).await.json().await.unwrap();
    assert!(inbox["items"].as_array().unwrap().iter().any(|n| n["kind"] == "agent_failed"), "{inbox}");
    let requests: Value = app.get("/api/v1/requests?limit=200", &app.admin_key).await.json().await.unwrap();
    assert!(
        requests["items"].as_array().unwrap().iter().any(|q| q["status"] == "failed"),
        "the failed call is recorded, not charged"
    );
}

macro_rules! both {
    ($($name:ident),+) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name(super::Backend::Sqlite).await; }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name(super::Backend::Postgres).await; }
        }
    )+};
}

both!(books_through_the_tools, oversteps_are_refused, a_failing_model_hands_over_to_the_rules);
