//! The vision extractor (`payments.extractor_model`) against a fake OpenAI-compatible provider on
//! loopback: a valid proof machine-checked, a non-payment image and a low-confidence reading
//! refused, a duplicate transaction id refused, a reader that fails sending the proof to manual
//! review; every reading a `vision` request of `booking-desk`, with its cost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};
use system_tests::spend::openai_compatible;
use system_tests::{expect_problem, Backend, TestApp, TestDb};

/// Answers each chat completion with the next scripted content (the model's JSON reading).
#[derive(Clone, Default)]
struct Readings(Arc<Mutex<VecDeque<String>>>);

impl Readings {
    fn push(&self, content: impl Into<String>) {
        self.0.lock().unwrap().push_back(content.into());
    }
}

impl wiremock::Respond for Readings {
    fn respond(&self, _request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let content = self.0.lock().unwrap().pop_front().unwrap_or_else(|| "{}".into());
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-vision", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 80, "total_tokens": 980},
        }))
    }
}

fn png(seed: u8) -> Vec<u8> {
    services::desk::image::png_bytes(360, 640, &[seed; 64])
}

async fn booking(app: &TestApp, token: &str, farm: &str, days: i64) -> (String, i64) {
    let date = chrono::Utc::now().date_naive() + Duration::days(days);
    let res = app
        .post(
            "/api/v1/bookings",
            token,
            &json!({"property_id": farm, "date": date.to_string(), "shift": "day", "guests": 10,
                    "guest": {"name": "Ayesha Khan", "cnic": "42201-1234567-1", "phone": "0300-1234567"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.unwrap();
    (b["reference"].as_str().unwrap().to_string(), b["advance_due"]["amount"].as_i64().unwrap())
}

async fn upload(app: &TestApp, token: &str, reference: &str, image: &[u8]) -> reqwest::Response {
    let b64 = base64::engine::general_purpose::STANDARD.encode(image);
    app.post(
        &format!("/api/v1/bookings/{reference}/payments"),
        token,
        &json!({"image_base64": b64, "content_type": "image/png"}),
    )
    .await
}

async fn status(app: &TestApp, token: &str, reference: &str) -> String {
    let b: Value = app.get(&format!("/api/v1/bookings/{reference}"), token).await.json().await.unwrap();
    b["status"].as_str().unwrap().to_string()
}

async fn reads_payment_screenshots(backend: Backend) {
    use wiremock::matchers::method;
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let upstream = wiremock::MockServer::start().await;
    let readings = Readings::default();
    wiremock::Mock::given(method("POST")).respond_with(readings.clone()).mount(&upstream).await;
    let base = format!("{}/v1", upstream.uri());
    let app = TestApp::start_with(
        db,
        |s| {
            s.payments.extractor_model = "openai/gpt-4o-mini".into();
            s.payments.methods = vec![core_config::PaymentMethod {
                kind: core_config::PaymentMethodKind::Easypaisa,
                account_number: "0300-1112223".into(),
                holder_name: "Farm Owner".into(),
                bank_name: String::new(),
            }];
        },
        move |p| p.providers.push(openai_compatible("openai", &base)),
    )
    .await;
    services::desk::demo::seed(&app.db.db).await.unwrap();
    services::gateway::accounts::fund_platform(&app.db.db, &["openai/gpt-4o-mini"], models::time::now())
        .await
        .unwrap();
    let farms: Value = app.get("/api/v1/properties?limit=5", &app.admin_key).await.json().await.unwrap();
    let farm = farms["items"][0]["id"].as_str().unwrap().to_string();
    let s: Value =
        app.send(reqwest::Method::POST, "/api/v1/chat/sessions", None, None, &[]).await.json().await.unwrap();
    let token = s["token"].as_str().unwrap().to_string();

    // A valid proof: read, machine-checked, the booking waits for the admin.
    let (r1, advance) = booking(&app, &token, &farm, 3).await;
    let rupees = advance as f64 / 100.0;
    readings.push(format!(
        "```json\n{{\"is_payment\": true, \"confidence\": 0.94, \"amount\": \"Rs. {rupees}\", \"transaction_id\": \"EP 5551\", \
         \"receiver_name\": \"Farm Owner\", \"receiver_account\": \"03001112223\", \"method\": \"easypaisa\"}}\n```"
    ));
    let res = upload(&app, &token, &r1, &png(1)).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    let payment = &sub["payment"];
    assert_eq!(payment["machine_checked"], true, "{sub}");
    assert_eq!(payment["transaction_id"], "EP5551");
    assert_eq!(payment["checks"]["amount_ok"], true, "{sub}");
    assert_eq!(payment["checks"]["receiver_ok"], true, "{sub}");
    assert_eq!(sub["booking_status"], "waiting");
    // The model saw the image itself, as an OpenAI image part.
    let sent = upstream.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    let parts = body["messages"][1]["content"].as_array().unwrap();
    let url = parts.iter().find(|p| p["type"] == "image_url").unwrap()["image_url"]["url"].as_str().unwrap();
    assert!(url.starts_with("data:image/png;base64,"), "{}", &url[..40]);

    // A picture that is not a payment, and a reading the model is unsure of: refused, nothing stored.
    let (r2, _) = booking(&app, &token, &farm, 4).await;
    readings.push(r#"{"is_payment": false, "confidence": 0.97, "raw_text": "a cat"}"#);
    let p = expect_problem(upload(&app, &token, &r2, &png(2)).await, 422, "NOT_A_PAYMENT_SCREENSHOT").await;
    assert_eq!(p["detail"], "Please send me the payment screenshot only.");
    readings.push(r#"{"is_payment": true, "confidence": 0.41, "amount": 5000, "transaction_id": "EP-1"}"#);
    expect_problem(upload(&app, &token, &r2, &png(3)).await, 422, "NOT_A_PAYMENT_SCREENSHOT").await;
    assert_eq!(status(&app, &token, &r2).await, "pending", "refused proofs change nothing");

    // The first proof's transaction id on another image: a duplicate, refused.
    readings.push(format!(
        r#"{{"is_payment": true, "confidence": 0.9, "amount": {rupees}, "transaction_id": "EP5551"}}"#
    ));
    expect_problem(upload(&app, &token, &r2, &png(4)).await, 409, "DUPLICATE_PAYMENT_PROOF").await;
    assert_eq!(status(&app, &token, &r2).await, "pending");

    // A reader whose answer is not JSON: the proof goes to manual review, marked so.
    readings.push("I am sorry, I cannot help with that.");
    let res = upload(&app, &token, &r2, &png(5)).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["payment"]["machine_checked"], false, "{sub}");
    let notes = sub["payment"]["checks"]["notes"].to_string();
    assert!(notes.contains("not machine-checked") && notes.contains("could not read"), "{notes}");
    assert_eq!(sub["booking_status"], "waiting");

    // Every reading is a vision request of booking-desk, with its cost.
    let requests: Value = app.get("/api/v1/requests?limit=200", &app.admin_key).await.json().await.unwrap();
    let reads: Vec<&Value> =
        requests["items"].as_array().unwrap().iter().filter(|q| q["provider"] == "openai").collect();
    assert_eq!(reads.len(), 5, "one request per reading");
    assert!(reads.iter().all(|q| q["operation"] == "vision" && q["status"] == "executed"), "{reads:?}");
    assert!(reads.iter().all(|q| q["charged"].as_i64().unwrap() > 0), "{reads:?}");
    let project = reads[0]["project"].as_str().unwrap();
    let p: Value =
        app.get(&format!("/api/v1/projects/{project}"), &app.admin_key).await.json().await.unwrap();
    assert_eq!(p["name"], "booking-desk");
}

mod reads_payment_screenshots {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::reads_payment_screenshots(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::reads_payment_screenshots(super::Backend::Postgres).await;
    }
}
