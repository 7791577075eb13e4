//! The WhatsApp channel over HTTP on both backends, against a loopback fake of Meta's Graph API
//! that speaks its wire format, with the payload shapes of `../shared/fixtures/whatsapp/`: the
//! verification handshake, signatures, a whole booking by text and interactive replies, a
//! screenshot proof, a media hash mismatch, admin commands from an admin number (and the same text
//! from a guest doing nothing), statuses in any order, a batch, unsupported types and reactions,
//! redeliveries processed once, and the outbox's failure handling (500s, 131026, 131047).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Datelike;
use serde_json::{json, Value};
use sha2::Digest;
use system_tests::{Backend, TestApp, TestDb};

const PHONE_ID: &str = "106540352242922";
const SECRET: &str = "app-secret";
const ADMIN: &str = "923330000000";

/// What the fake Graph API answers to sends: scripted failures first, then success.
#[derive(Clone, Default)]
struct Graph {
    sent: Arc<Mutex<Vec<Value>>>,
    times: Arc<Mutex<Vec<std::time::Instant>>>,
    failures: Arc<Mutex<Vec<(u16, Value)>>>,
    counter: Arc<AtomicUsize>,
}

impl wiremock::Respond for Graph {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let failure = {
            let mut f = self.failures.lock().unwrap();
            (!f.is_empty()).then(|| f.remove(0))
        };
        self.sent.lock().unwrap().push(body.clone());
        self.times.lock().unwrap().push(std::time::Instant::now());
        if let Some((status, error)) = failure {
            return wiremock::ResponseTemplate::new(status).set_body_json(error);
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let to = body["to"].as_str().or(body["recipient"].as_str()).unwrap_or_default().to_string();
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.OUT{n}")}],
        }))
    }
}

struct Fixture {
    app: TestApp,
    graph: Graph,
    upstream: wiremock::MockServer,
}

fn png(seed: u8) -> Vec<u8> {
    services::desk::image::png_bytes(360, 640, &[seed; 64])
}

async fn fixture(backend: Backend) -> Option<Fixture> {
    fixture_paced(backend, 0).await
}

/// A fixture whose outbox paces each recipient after a burst of 2 (`interval_ms`; 0: unpaced).
async fn fixture_paced(backend: Backend, interval_ms: u64) -> Option<Fixture> {
    use wiremock::matchers::{method, path, path_regex};
    let db = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap()?;
    let upstream = wiremock::MockServer::start().await;
    let graph = Graph::default();
    wiremock::Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_ID}/messages")))
        .respond_with(graph.clone())
        .mount(&upstream)
        .await;
    // Uploads (the admins' copy of a screenshot) answer with a media id.
    wiremock::Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_ID}/media")))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"id": "uploaded-proof-1"})))
        .mount(&upstream)
        .await;
    // Media: id `good-N` is the PNG of seed N; lookups give its URL and SHA-256.
    wiremock::Mock::given(method("GET"))
        .and(path_regex(r"^/v23\.0/good-\d+$"))
        .respond_with({
            let base = upstream.uri();
            move |r: &wiremock::Request| {
                let id = r.url.path().rsplit('/').next().unwrap().to_string();
                let seed: u8 = id.trim_start_matches("good-").parse().unwrap();
                wiremock::ResponseTemplate::new(200).set_body_json(json!({
                    "url": format!("{base}/files/{seed}"), "mime_type": "image/png",
                    "sha256": hex::encode(sha2::Sha256::digest(png(seed))), "file_size": "1000", "id": id,
                }))
            }
        })
        .mount(&upstream)
        .await;
    wiremock::Mock::given(method("GET"))
        .and(path_regex(r"^/files/\d+$"))
        .respond_with(|r: &wiremock::Request| {
            let seed: u8 = r.url.path().rsplit('/').next().unwrap().parse().unwrap();
            wiremock::ResponseTemplate::new(200).set_body_bytes(png(seed))
        })
        .mount(&upstream)
        .await;
    let graph_url = upstream.uri();
    let app = TestApp::start(db, move |s| {
        s.whatsapp.enabled = true;
        s.whatsapp.verify_token = core_config::Secret::new("verify-me");
        s.whatsapp.app_secret = core_config::Secret::new(SECRET);
        s.whatsapp.access_token = core_config::Secret::new("graph-token");
        s.whatsapp.phone_number_id = PHONE_ID.into();
        s.whatsapp.graph_url = graph_url;
        s.whatsapp.admin_numbers = vec![ADMIN.into()];
        s.whatsapp.template_name = "hello_again".into();
        s.whatsapp.pacing_burst = 2;
        s.whatsapp.pacing_interval_ms = interval_ms;
        s.payments.methods = vec![core_config::PaymentMethod {
            kind: core_config::PaymentMethodKind::Easypaisa,
            account_number: "0300-1112223".into(),
            holder_name: "Farm Owner".into(),
            bank_name: String::new(),
        }];
    })
    .await;
    services::desk::demo::seed(&app.db.db).await.unwrap();
    Some(Fixture { app, graph, upstream })
}

impl Fixture {
    async fn post_raw(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(format!("{}/webhooks/whatsapp", self.app.address))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        req.send().await.unwrap()
    }

    async fn webhook(&self, body: &Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let res = self.post_raw(&raw, Some(&services::whatsapp::sign(SECRET, &raw))).await;
        assert_eq!(res.status(), 200);
    }

    /// Everything sent to `to` so far.
    fn sent_to(&self, to: &str) -> Vec<Value> {
        self.graph
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["to"] == to || b["recipient"] == to)
            .cloned()
            .collect()
    }

    /// Waits until `to` has been sent more than `before` messages and they have settled; returns
    /// the new ones.
    async fn replies(&self, to: &str, before: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut seen = self.sent_to(to).len();
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = self.sent_to(to).len();
            if now > before && now == seen {
                return self.sent_to(to).split_off(before);
            }
            seen = now;
            assert!(std::time::Instant::now() < deadline, "no reply to {to} after {before} messages");
        }
    }

    /// Sends `text` from `from` and returns the replies.
    async fn say(&self, from: &str, text: &str) -> Vec<Value> {
        let before = self.sent_to(from).len();
        self.webhook(&text_message(from, text)).await;
        self.replies(from, before).await
    }

    async fn channel(&self) -> Value {
        self.app.get("/api/v1/admin/channels/whatsapp", &self.app.admin_key).await.json().await.unwrap()
    }

    async fn bookings(&self) -> Vec<Value> {
        let b: Value =
            self.app.get("/api/v1/bookings?limit=50", &self.app.admin_key).await.json().await.unwrap();
        b["items"].as_array().unwrap().clone()
    }
}

fn next_id() -> String {
    format!("wamid.IN{}", models::ids::random_crockford(16))
}

fn envelope(from: &str, message: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
        "messages": [message]}}]}]})
}

fn text_message(from: &str, text: &str) -> Value {
    envelope(
        from,
        json!({"from": from, "id": next_id(), "timestamp": "1739321024", "type": "text", "text": {"body": text}}),
    )
}

fn interactive(from: &str, kind: &str, id: &str, title: &str) -> Value {
    envelope(
        from,
        json!({"from": from, "id": next_id(), "timestamp": "1739321200", "type": "interactive",
               "interactive": {"type": kind, kind: {"id": id, "title": title}}}),
    )
}

fn image(from: &str, media_id: &str, sha256: &str) -> Value {
    envelope(
        from,
        json!({"from": from, "id": next_id(), "timestamp": "1739321100", "type": "image",
               "image": {"caption": "payment done", "mime_type": "image/png", "sha256": sha256, "id": media_id}}),
    )
}

fn status(wamid: &str, status: &str, to: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_ID},
        "statuses": [{"id": wamid, "status": status, "timestamp": "1739321801", "recipient_id": to}]}}]}]})
}

fn texts(replies: &[Value]) -> String {
    replies
        .iter()
        .map(|r| {
            r["text"]["body"]
                .as_str()
                .or(r["interactive"]["body"]["text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn saturday() -> String {
    let mut d = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    while d.weekday() != chrono::Weekday::Sat {
        d += chrono::Duration::days(1);
    }
    d.to_string()
}

async fn handshake_and_signatures(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let base = &f.app.address;
    let ok = reqwest::get(format!(
        "{base}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=12345"
    ))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "12345");
    let bad =
        reqwest::get(format!("{base}/meta-webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"))
            .await
            .unwrap();
    assert_eq!(bad.status(), 403);
    // Forged and missing signatures: 401, nothing stored, nothing answered.
    let raw = serde_json::to_vec(&text_message("923001234567", "hi")).unwrap();
    let forged = services::whatsapp::sign("not-the-secret", &raw);
    assert_eq!(f.post_raw(&raw, Some(&forged)).await.status(), 401);
    assert_eq!(f.post_raw(&raw, None).await.status(), 401);
    let mut tampered = raw.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(f.post_raw(&tampered, Some(&services::whatsapp::sign(SECRET, &raw))).await.status(), 401);
    let c = f.channel().await;
    assert_eq!(c["configured"], true);
    assert!(c["last_webhook_at"].is_null(), "nothing stored: {c}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(f.sent_to("923001234567").is_empty());
}

async fn books_and_pays_over_whatsapp(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let guest = "923001234567";
    let hello = f.say(guest, "hi").await;
    assert!(texts(&hello).to_lowercase().contains("shift"), "{hello:?}");
    let found = f.say(guest, &format!("farmhouse, {}, full night, 12", saturday())).await;
    let list = found.iter().find(|r| r["interactive"]["type"] == "list").expect("a list of places");
    let row = &list["interactive"]["action"]["sections"][0]["rows"][0];
    let (row_id, row_title) = (row["id"].as_str().unwrap(), row["title"].as_str().unwrap());
    // A tap on the list's first row.
    let before = f.sent_to(guest).len();
    f.webhook(&interactive(guest, "list_reply", row_id, row_title)).await;
    let ready = f.replies(guest, before).await;
    let buttons = ready.iter().find(|r| r["interactive"]["type"] == "button").expect("yes/no buttons");
    let yes = buttons["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["reply"]["title"].as_str().unwrap().to_lowercase().starts_with("yes"))
        .unwrap()["reply"]
        .clone();
    let before = f.sent_to(guest).len();
    f.webhook(&interactive(
        guest,
        "button_reply",
        yes["id"].as_str().unwrap(),
        yes["title"].as_str().unwrap(),
    ))
    .await;
    f.replies(guest, before).await;
    f.say(guest, "Ayesha Khan").await;
    f.say(guest, "42201-1234567-1").await;
    let booked = f.say(guest, "yes").await;
    assert!(texts(&booked).contains("HB-"), "{booked:?}");
    let bookings = f.bookings().await;
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0]["status"], "pending");
    let reference = bookings[0]["reference"].as_str().unwrap().to_string();

    // A picture whose bytes do not match the webhook's hash: refused, the guest told.
    let before = f.sent_to(guest).len();
    f.webhook(&image(guest, "good-7", &"0".repeat(64))).await;
    let refused = f.replies(guest, before).await;
    assert!(texts(&refused).contains("did not arrive intact"), "{refused:?}");
    assert_eq!(f.bookings().await[0]["status"], "pending");

    // The screenshot itself: the booking waits for the admin, and the admin number gets the
    // picture (uploaded, sent by media id), the booking, the checks and the masked CNIC.
    let before = f.sent_to(guest).len();
    f.webhook(&image(guest, "good-3", &hex::encode(sha2::Sha256::digest(png(3))))).await;
    f.replies(guest, before).await;
    assert_eq!(f.bookings().await[0]["status"], "waiting");
    let told = f.replies(ADMIN, 0).await;
    assert_eq!(told[0]["type"], "image", "{told:?}");
    assert_eq!(told[0]["image"]["id"], "uploaded-proof-1");
    let note = texts(&told);
    assert!(note.contains(&reference) && note.contains("42201-*******-1"), "{note}");
    assert!(note.contains("screenshot not used before") && !note.contains("1234567"), "{note}");
    let uploads = f.upstream.received_requests().await.unwrap();
    let upload = uploads.iter().find(|r| r.url.path().ends_with("/media")).unwrap();
    assert!(upload.body.windows(8).any(|w| w == &png(3)[..8]), "the screenshot's bytes were uploaded");

    // The same command text from a guest is just a message to the agent.
    f.say(guest, &format!("confirm {reference}")).await;
    assert_eq!(f.bookings().await[0]["status"], "waiting");

    // The admin number's commands: help, pending, status, confirm — each acknowledged.
    assert!(texts(&f.say(ADMIN, "help").await).contains("confirm <ref>"));
    assert!(texts(&f.say(ADMIN, "pending").await).contains(&reference));
    assert!(texts(&f.say(ADMIN, &format!("status {reference}")).await).contains("waiting"));
    // Rejected with a reason: the booking is pending again and the guest told why; a second
    // screenshot brings it back to the admins.
    let before = f.sent_to(guest).len();
    let ack = f.say(ADMIN, &format!("reject {reference} the amount is short")).await;
    assert!(texts(&ack).contains("rejected"), "{ack:?}");
    assert_eq!(f.bookings().await[0]["status"], "pending");
    let why = f.replies(guest, before).await;
    assert!(texts(&why).contains("the amount is short"), "{why:?}");
    let (admin_before, before) = (f.sent_to(ADMIN).len(), f.sent_to(guest).len());
    f.webhook(&image(guest, "good-4", &hex::encode(sha2::Sha256::digest(png(4))))).await;
    f.replies(guest, before).await;
    assert_eq!(f.bookings().await[0]["status"], "waiting");
    f.replies(ADMIN, admin_before).await;
    let before = f.sent_to(guest).len();
    let ack = f.say(ADMIN, &format!("confirm {reference}")).await;
    assert!(texts(&ack).to_lowercase().contains("confirmed"), "{ack:?}");
    assert_eq!(f.bookings().await[0]["status"], "confirmed");
    // The approval reaches the guest on WhatsApp.
    let news = f.replies(guest, before).await;
    assert!(texts(&news).contains(&reference), "{news:?}");
    // No conversation was opened for the admin.
    let list: Value = f.app.get("/api/v1/admin/conversations", &f.app.admin_key).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn statuses_batches_and_odd_messages(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let guest = "923001234567";
    let replies = f.say(guest, "hi").await;
    assert!(!replies.is_empty());
    let wamid = "wamid.OUT0";
    // Statuses in any order end at `read`; a late `sent` does not move it back.
    for s in ["read", "delivered", "sent"] {
        f.webhook(&status(wamid, s, guest)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list: Value =
            f.app.get("/api/v1/admin/conversations", &f.app.admin_key).await.json().await.unwrap();
        let id = list["items"][0]["id"].as_str().unwrap().to_string();
        let c: Value = f
            .app
            .get(&format!("/api/v1/admin/conversations/{id}"), &f.app.admin_key)
            .await
            .json()
            .await
            .unwrap();
        let out = c["messages"].as_array().unwrap().iter().find(|m| m["sender"] == "bot").cloned().unwrap();
        if out["delivery_status"] == "read" && f.channel().await["inbox_backlog"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A batch of two entries: both guests answered.
    let batch: Value =
        serde_json::from_str(include_str!("../../../shared/fixtures/whatsapp/batch.json")).unwrap();
    let before = f.sent_to(guest).len();
    f.webhook(&batch).await;
    f.replies(guest, before).await;
    f.replies("923009999999", 0).await;
    // A guest known only by a business-scoped user id is answered with `recipient`.
    let bsuid = "US.13491208655302741918";
    f.webhook(
        &serde_json::from_str(include_str!("../../../shared/fixtures/whatsapp/bsuid_no_phone.json")).unwrap(),
    )
    .await;
    let to_bsuid = f.replies(bsuid, 0).await;
    assert!(to_bsuid.iter().all(|m| m["recipient"] == bsuid && m["to"].is_null()), "{to_bsuid:?}");
    // Unsupported: a polite answer; a reaction: nothing.
    let before = f.sent_to(guest).len();
    f.webhook(
        &serde_json::from_str(include_str!("../../../shared/fixtures/whatsapp/unsupported.json")).unwrap(),
    )
    .await;
    let polite = f.replies(guest, before).await;
    assert!(texts(&polite).contains("text or a photo"), "{polite:?}");
    let before = f.sent_to(guest).len();
    f.webhook(
        &serde_json::from_str(include_str!("../../../shared/fixtures/whatsapp/reaction.json")).unwrap(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(f.sent_to(guest).len(), before, "a reaction is not answered");
    assert_eq!(f.channel().await["inbox_backlog"], 0);
    // The metrics show the webhook, the inbox and the outbox's results.
    let metrics = reqwest::get(format!("{}/metrics", f.app.address)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("steward_whatsapp_outbound_messages{status=\"read\"} 1"), "{metrics}");
    assert!(metrics.contains("steward_whatsapp_inbox_backlog 0"), "{metrics}");
    assert!(metrics.contains("steward_whatsapp_webhook_events_total{channel=\"whatsapp\"}"), "{metrics}");
}

async fn redeliveries_are_processed_once(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let guest = "923001234567";
    let message = text_message(guest, "hi");
    let raw = serde_json::to_vec(&message).unwrap();
    let signature = services::whatsapp::sign(SECRET, &raw);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (raw, signature, base) = (raw.clone(), signature.clone(), f.app.address.clone());
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/webhooks/whatsapp"))
                .header("x-hub-signature-256", signature)
                .body(raw)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    for _ in 0..4 {
        assert_eq!(f.post_raw(&raw, Some(&signature)).await.status(), 200);
    }
    let replies = f.replies(guest, 0).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(f.sent_to(guest).len(), replies.len(), "answered once");
    let list: Value = f.app.get("/api/v1/admin/conversations", &f.app.admin_key).await.json().await.unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let c: Value =
        f.app.get(&format!("/api/v1/admin/conversations/{id}"), &f.app.admin_key).await.json().await.unwrap();
    let inbound = c["messages"].as_array().unwrap().iter().filter(|m| m["sender"] == "guest").count();
    assert_eq!(inbound, 1, "stored once");
}

async fn outbox_failures(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let error = |code: i64| json!({"error": {"message": "x", "type": "OAuthException", "code": code, "fbtrace_id": "A"}});
    // Two 500s, then success: delivered once, on the third attempt.
    let guest = "923001234567";
    f.graph.failures.lock().unwrap().extend([(500, json!({})), (500, json!({}))]);
    f.webhook(&text_message(guest, "hi")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while f.graph.counter.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attempts = f.sent_to(guest);
    assert_eq!(attempts.len(), 3, "two failures and one success");
    assert!(attempts.iter().all(|a| a == &attempts[0]), "the same message each time");

    // 131026: one attempt only; the rest of the turn is dropped.
    let other = "923005555555";
    f.graph.failures.lock().unwrap().push((400, error(131026)));
    f.webhook(&text_message(other, "hi")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(f.sent_to(other).len(), 1, "never retried");

    // 131047: the template instead.
    let third = "923006666666";
    f.graph.failures.lock().unwrap().push((400, error(131047)));
    f.webhook(&text_message(third, "hi")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent = f.sent_to(third);
        if let Some(t) = sent.iter().find(|s| s["type"] == "template") {
            assert_eq!(t["template"]["name"], "hello_again");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no template: {sent:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn recipients_are_paced(backend: Backend) {
    let Some(f) = fixture_paced(backend, 1500).await else { return };
    let guest = "923001234567";
    f.webhook(&text_message(guest, "hi")).await;
    f.webhook(&text_message(guest, &format!("farmhouse, {}, full night, 12", saturday()))).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while f.sent_to(guest).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", f.sent_to(guest));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let times = f.graph.times.lock().unwrap().clone();
    let sent = f.sent_to(guest);
    // A burst of two, then the third after the interval; in order.
    assert!(times[1] - times[0] < Duration::from_millis(1000), "the burst goes out at once");
    assert!(times[2] - times[1] >= Duration::from_millis(1200), "then paced: {:?}", times[2] - times[1]);
    assert!(texts(&sent[..1]).to_lowercase().contains("shift"), "the greeting first: {sent:?}");
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

both!(
    handshake_and_signatures,
    books_and_pays_over_whatsapp,
    statuses_batches_and_odd_messages,
    redeliveries_are_processed_once,
    outbox_failures,
    recipients_are_paced
);
