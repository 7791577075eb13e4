//! The booking agent through the web chat (SPEC §10.1–10.3), guided mode, on both backends:
//! conversations in English and Roman Urdu, each judged by the end state through the API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Datelike, Duration, NaiveDate};
use reqwest::Method;
use serde_json::{json, Value};
use system_tests::{expect_problem, system_test, TestApp};

/// A web guest in conversation.
struct Guest<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Guest<'a> {
    async fn new(app: &'a TestApp) -> Guest<'a> {
        let res = app.send(Method::POST, "/api/v1/chat/sessions", None, Some(&json!({})), &[]).await;
        assert_eq!(res.status(), 201);
        let s: Value = res.json().await.unwrap();
        Guest { app, token: s["token"].as_str().unwrap().to_string() }
    }

    /// Sends a message; returns the reply (asserting its shape).
    async fn say(&self, message: &str) -> Value {
        let res = self.app.post("/api/v1/chat/messages", &self.token, &json!({"message": message})).await;
        assert_eq!(res.status(), 200, "{message}: {}", res.text().await.unwrap());
        let r: Value = res.json().await.unwrap();
        assert!(r["message_id"].as_str().unwrap().starts_with("msg_"));
        assert!(r["responses"].is_array() && r["media"].is_array() && r["text"].is_string(), "{r}");
        r
    }

    async fn session(&self) -> Value {
        self.app.get("/api/v1/chat/session", &self.token).await.json().await.unwrap()
    }
}

fn items<'v>(r: &'v Value, kind: &str) -> Vec<&'v Value> {
    r["responses"].as_array().unwrap().iter().filter(|i| i["type"] == kind).collect()
}

fn has_text(r: &Value, needle: &str) -> bool {
    r["text"].as_str().unwrap().to_lowercase().contains(&needle.to_lowercase())
}

/// The next Saturday at least two days ahead, within the booking window.
fn saturday() -> NaiveDate {
    let mut d = chrono::Utc::now().date_naive() + Duration::days(2);
    while d.weekday() != chrono::Weekday::Sat {
        d += Duration::days(1);
    }
    d
}

async fn seeded(app: &TestApp) {
    services::desk::demo::seed(&app.db.db).await.unwrap();
}

system_test!(
    books_a_farmhouse_in_english,
    books_a_farmhouse_in_roman_urdu,
    facts_all_at_once_and_comma_joined,
    browsing_pictures_and_details_without_booking,
    a_misspelt_name_an_invalid_cnic_and_an_edit,
    payment_by_typed_details_then_approval_reaches_the_guest,
    status_my_bookings_and_cancellation,
    off_topic_handoff_and_back,
    another_guest_cannot_see_or_cancel,
    reset_and_bad_input,
    twenty_messages_at_once,
    idle_conversations_forget_their_search,
);

async fn books_a_farmhouse_in_english(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    let r = g.say("hi").await;
    assert!(has_text(&r, "Full Night: 8 PM – 6 PM"), "the introduction names the shifts: {r}");
    assert_eq!(items(&r, "questions").len(), 1);
    let r = g.say("I want a farmhouse").await;
    let asked: Vec<&str> = items(&r, "questions")[0]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["field"].as_str().unwrap())
        .collect();
    assert_eq!(asked, ["date", "shift", "guests"], "asks only for what is missing");
    let date = saturday();
    let r = g.say(&format!("{date}")).await;
    assert_eq!(items(&r, "questions")[0]["questions"].as_array().unwrap().len(), 2);
    let r = g.say("night").await;
    let r2 = g.say("25 people").await;
    let _ = r;
    let list = items(&r2, "property_list");
    assert_eq!(list.len(), 1, "{r2}");
    let names: Vec<&str> =
        list[0]["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Green Valley Farmhouse"), "{names:?}");
    let first = &list[0]["items"][0];
    assert_eq!(first["type"], "farm");
    assert_eq!(first["date"], date.to_string());
    assert_eq!(first["shift"], "night");
    assert_eq!(first["price"]["currency"], "PKR");
    let r = g.say("Green Valley Farmhouse").await;
    let expected =
        format!("Ready to book Green Valley Farmhouse for {} Night? (Yes/No)", date.format("%a %-d %b %Y"));
    assert!(has_text(&r, &expected), "{r}");
    let r = g.say("yes").await;
    assert_eq!(items(&r, "questions")[0]["questions"][0]["field"], "name");
    let r = g.say("Ayesha Khan").await;
    assert_eq!(items(&r, "questions")[0]["questions"][0]["field"], "cnic");
    let r = g.say("42201-1234567-1").await;
    assert!(has_text(&r, "42201-*******-1"), "the CNIC is masked: {r}");
    let s = g.session().await;
    assert_eq!(s["identity"]["confirmed"], false);
    assert_eq!(s["identity"]["cnic_masked"], "42201-*******-1");
    let r = g.say("yes").await;
    let summary = items(&r, "booking_summary");
    assert_eq!(summary.len(), 1, "{r}");
    let b = &summary[0]["booking"];
    assert_eq!(
        (b["status"].as_str(), b["property"].as_str(), b["shift"].as_str()),
        (Some("pending"), Some("Green Valley Farmhouse"), Some("night"))
    );
    assert!(has_text(&r, "advance"), "payment instructions: {r}");
    let reference = b["reference"].as_str().unwrap();
    // The end state through the API.
    let booking: Value =
        app.get(&format!("/api/v1/bookings/{reference}"), &g.token).await.json().await.unwrap();
    assert_eq!(booking["status"], "pending");
    assert_eq!(booking["guests"], 25);
    let s = g.session().await;
    assert_eq!(s["current_booking"], reference);
    assert_eq!(s["facts"]["type"], "farm");
    assert_eq!(s["facts"]["shift"], "night");
    assert_eq!(s["mode"], "bot");
    // History carries the structured replies.
    let h: Value = app.get("/api/v1/chat/history?limit=3", &g.token).await.json().await.unwrap();
    assert!(h["items"].as_array().unwrap().iter().any(|m| m["sender"] == "bot" && m["responses"].is_array()));
}

async fn books_a_farmhouse_in_roman_urdu(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    let r = g.say("assalam o alaikum, mujhe farmhouse chahiye").await;
    assert!(has_text(&r, "batayein"), "Roman Urdu: {r}");
    let r = g.say("agle hafta poori raat 30 log").await;
    assert!(!items(&r, "property_list").is_empty(), "{r}");
    let r = g.say("green valley").await;
    assert!(has_text(&r, "(Haan/Nahi)"), "{r}");
    let r = g.say("haan").await;
    assert_eq!(items(&r, "questions")[0]["questions"][0]["field"], "name");
    let r = g.say("mera naam Ali Raza hai").await;
    assert_eq!(items(&r, "questions")[0]["questions"][0]["field"], "cnic");
    g.say("4220112345671").await;
    let r = g.say("ji").await;
    let b = &items(&r, "booking_summary")[0]["booking"];
    assert_eq!(b["shift"], "full_night");
    assert_eq!(b["guests"], 30);
    assert!(has_text(&r, "Booking ho gayi"), "{r}");
}

async fn facts_all_at_once_and_comma_joined(app: TestApp) {
    seeded(&app).await;
    let date = saturday();
    let g = Guest::new(&app).await;
    let r = g.say(&format!("Farm, {date}, Full Night, 30")).await;
    let list = items(&r, "property_list");
    assert_eq!(list[0]["items"][0]["shift"], "full_night", "{r}");
    let s = g.session().await;
    assert_eq!(
        s["facts"],
        json!({"type": "farm", "date": date.to_string(), "shift": "full_night", "guests": 30,
        "min_price": null, "max_price": null, "property_id": null})
    );
    let h = Guest::new(&app).await;
    let r = h.say("a hut for tomorrow day for 10 people").await;
    let list = items(&r, "property_list");
    assert!(list.is_empty() || list[0]["items"][0]["type"] == "hut", "{r}");
    let s = h.session().await;
    assert_eq!(
        (s["facts"]["type"].as_str(), s["facts"]["shift"].as_str(), s["facts"]["guests"].as_i64()),
        (Some("hut"), Some("day"), Some(10))
    );
}

async fn browsing_pictures_and_details_without_booking(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    let r = g.say("pictures of green valley").await;
    let media = items(&r, "media");
    assert_eq!(media.len(), 1, "{r}");
    assert_eq!(media[0]["items"].as_array().unwrap().len(), 2);
    assert_eq!(r["media"].as_array().unwrap().len(), 2);
    let again = g.say("pictures").await;
    assert!(items(&again, "media").is_empty(), "not sent twice: {again}");
    let r = g.say("details").await;
    assert!(has_text(&r, "pool"), "{r}");
    assert!(!has_text(&r, "Ready to book"), "no push without a date: {r}");
    let r = g.say("price").await;
    assert!(has_text(&r, "Full Night"), "{r}");
    let mine: Value = app.get("/api/v1/bookings", &g.token).await.json().await.unwrap();
    assert!(mine["items"].as_array().unwrap().is_empty(), "nothing booked");
}

async fn a_misspelt_name_an_invalid_cnic_and_an_edit(app: TestApp) {
    seeded(&app).await;
    let date = saturday();
    let g = Guest::new(&app).await;
    g.say(&format!("farmhouse on {date} night for 20 people")).await;
    let r = g.say("palm grov").await;
    assert!(has_text(&r, "Ready to book Palm Grove Farmhouse"), "{r}");
    let r = g.say("no").await;
    assert!(has_text(&r, "No problem"), "{r}");
    let mine: Value = app.get("/api/v1/bookings", &g.token).await.json().await.unwrap();
    assert!(mine["items"].as_array().unwrap().is_empty());
    g.say("palm grove").await;
    g.say("yes").await;
    g.say("Bilal Ahmed").await;
    let r = g.say("42201-12345").await;
    assert!(!items(&r, "error").is_empty(), "an invalid CNIC is asked again: {r}");
    let r = g.say("4220112345671").await;
    assert!(has_text(&r, "Bilal Ahmed"), "{r}");
    let r = g.say("my name is Bilal Ahmed Khan").await;
    assert!(has_text(&r, "Bilal Ahmed Khan"), "the name was edited: {r}");
    let r = g.say("yes").await;
    let b = &items(&r, "booking_summary")[0]["booking"];
    let booking: Value = app
        .get(&format!("/api/v1/bookings/{}", b["reference"].as_str().unwrap()), &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booking["guest"]["name"], "Bilal Ahmed Khan", "{booking}");
}

async fn book(g: &Guest<'_>, property: &str) -> String {
    g.say(&format!("farmhouse on {} full day for 12 people", saturday())).await;
    g.say(property).await;
    g.say("yes").await;
    g.say("Sana Iqbal").await;
    g.say("42101-7654321-2").await;
    let r = g.say("yes").await;
    items(&r, "booking_summary")[0]["booking"]["reference"].as_str().unwrap().to_string()
}

async fn payment_by_typed_details_then_approval_reaches_the_guest(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    let reference = book(&g, "Green Valley Farmhouse").await;
    let r = g.say("how do I pay?").await;
    assert!(has_text(&r, "advance"), "{r}");
    let r = g.say("paid 27500, TID 8812345678, from Sana Iqbal").await;
    assert!(has_text(&r, "admin"), "{r}");
    assert_eq!(items(&r, "booking_summary")[0]["booking"]["status"], "waiting");
    let r: Value = app
        .post("/api/v1/admin/commands", &app.admin_key, &json!({"text": format!("confirm {reference}")}))
        .await
        .json()
        .await
        .unwrap();
    assert!(r["text"].as_str().unwrap().contains("confirmed"), "{r}");
    let booking: Value =
        app.get(&format!("/api/v1/bookings/{reference}"), &g.token).await.json().await.unwrap();
    assert_eq!(booking["status"], "confirmed");
    let h: Value = app.get("/api/v1/chat/history?limit=2", &g.token).await.json().await.unwrap();
    assert!(
        h["items"][0]["text"].as_str().unwrap().contains("confirmed"),
        "the approval reached the guest: {h}"
    );
}

async fn status_my_bookings_and_cancellation(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    let reference = book(&g, "Palm Grove Farmhouse").await;
    let r = g.say(&format!("status {reference}")).await;
    assert_eq!(items(&r, "booking_summary")[0]["booking"]["status"], "pending");
    let r = g.say("my bookings").await;
    assert_eq!(items(&r, "booking_summary").len(), 1);
    let r = g.say("cancel my booking").await;
    assert!(has_text(&r, &format!("Cancel booking {reference}")), "{r}");
    let r = g.say("yes").await;
    assert_eq!(items(&r, "booking_summary")[0]["booking"]["status"], "cancelled");
    let booking: Value =
        app.get(&format!("/api/v1/bookings/{reference}"), &g.token).await.json().await.unwrap();
    assert_eq!(booking["status"], "cancelled");
}

async fn off_topic_handoff_and_back(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    g.say("hello").await;
    let r = g.say("what is the capital of France?").await;
    assert!(has_text(&r, "I can only help with farmhouse and hut bookings"), "{r}");
    let r = g.say("insaan se baat karni hai").await;
    assert!(has_text(&r, "admin"), "{r}");
    assert_eq!(g.session().await["needs_human"], true);
    let list: Value = app.get("/api/v1/admin/conversations", &app.admin_key).await.json().await.unwrap();
    let c = &list["items"][0];
    assert_eq!(c["needs_human"], true);
    let id = c["id"].as_str().unwrap().to_string();
    let res =
        app.post(&format!("/api/v1/admin/conversations/{id}/takeover"), &app.admin_key, &json!({})).await;
    assert_eq!(res.status(), 200);
    let r = g.say("hello? anyone?").await;
    assert_eq!(
        (r["text"].as_str(), r["responses"].as_array().unwrap().len()),
        (Some(""), 0),
        "the bot is silent"
    );
    let d: Value = app
        .post(
            &format!("/api/v1/admin/conversations/{id}/messages"),
            &app.admin_key,
            &json!({"text": "Hi, this is Sara from the team."}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["mode"], "human");
    let h: Value = app.get("/api/v1/chat/history?limit=1", &g.token).await.json().await.unwrap();
    assert_eq!(
        (h["items"][0]["sender"].as_str(), h["items"][0]["text"].as_str()),
        (Some("admin"), Some("Hi, this is Sara from the team."))
    );
    let d: Value = app
        .post(&format!("/api/v1/admin/conversations/{id}/release"), &app.admin_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["mode"], "bot");
    let r = g.say("hi").await;
    assert!(has_text(&r, "farmhouse"), "the bot is back: {r}");
}

async fn another_guest_cannot_see_or_cancel(app: TestApp) {
    seeded(&app).await;
    let first = Guest::new(&app).await;
    let reference = book(&first, "Green Valley Farmhouse").await;
    let other = Guest::new(&app).await;
    let r = other.say(&format!("status {reference}")).await;
    assert!(items(&r, "booking_summary").is_empty(), "{r}");
    assert!(!has_text(&r, "Sana") && !has_text(&r, "Green Valley"), "nothing leaks: {r}");
    let r = other.say(&format!("cancel {reference}")).await;
    assert!(items(&r, "booking_summary").is_empty() && !has_text(&r, "Green Valley"), "{r}");
    other.say("yes").await;
    let booking: Value =
        app.get(&format!("/api/v1/bookings/{reference}"), &first.token).await.json().await.unwrap();
    assert_eq!(booking["status"], "pending", "the first guest's booking stands");
}

async fn reset_and_bad_input(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    g.say(&format!("farmhouse on {} night for 10 people", saturday())).await;
    let res = app.send(Method::DELETE, "/api/v1/chat/session", Some(&g.token), None, &[]).await;
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    assert!(s["facts"]["type"].is_null() && s["facts"]["date"].is_null());
    assert_eq!(s["mode"], "bot");
    // The token stays valid after a reset.
    g.say("hi").await;
    let long = "x".repeat(20_000);
    let before: Value = app.get("/api/v1/chat/history", &g.token).await.json().await.unwrap();
    for body in [json!({"message": ""}), json!({"message": long}), json!({"text": "hi"})] {
        let res = app.post("/api/v1/chat/messages", &g.token, &body).await;
        expect_problem(res, 422, "VALIDATION_FAILED").await;
    }
    let after: Value = app.get("/api/v1/chat/history", &g.token).await.json().await.unwrap();
    assert_eq!(before["items"], after["items"], "nothing half-written");
    let res = app
        .post(
            "/api/v1/chat/images",
            &g.token,
            &json!({"image_base64": "JVBERi0xLjcK", "mime_type": "application/pdf"}),
        )
        .await;
    expect_problem(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let res = app.post("/api/v1/chat/messages", &app.admin_key, &json!({"message": "hi"})).await;
    expect_problem(res, 403, "FORBIDDEN").await;
}

/// 20 messages sent at once to one conversation are answered one at a time in arrival order (each
/// bot reply answers the next guest message, by id); another conversation proceeds meanwhile.
async fn twenty_messages_at_once(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    let other = Guest::new(&app).await;
    let sends = (0..20).map(|i| {
        let (app, token) = (&app, g.token.clone());
        async move {
            let res = app
                .post("/api/v1/chat/messages", &token, &json!({"message": format!("{} people", i + 1)}))
                .await;
            res.status().as_u16()
        }
    });
    let parallel = async {
        let mut ok = 0;
        for _ in 0..5 {
            if other.say("hello").await["responses"].as_array().is_some_and(|r| !r.is_empty()) {
                ok += 1;
            }
        }
        ok
    };
    let (statuses, other_ok) = tokio::join!(futures_util::future::join_all(sends), parallel);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(other_ok, 5, "the other conversation was answered meanwhile");
    let mut conn = app.db.db.conn().unwrap();
    let guest =
        repositories::guests::by_public_id(&mut conn, g.session().await["guest_id"].as_str().unwrap())
            .unwrap();
    let all = repositories::conversations::recent(&mut conn, guest.id, 100).unwrap();
    let asked: Vec<i64> = all.iter().filter(|m| m.sender == "guest").map(|m| m.id).collect();
    let answered: Vec<i64> = all.iter().filter(|m| m.sender == "bot").filter_map(|m| m.reply_to).collect();
    assert_eq!(asked.len(), 20);
    assert_eq!(answered, asked, "replies in arrival order, one per message");
    let processed: Vec<_> =
        all.iter().filter(|m| m.sender == "guest").map(|m| m.processed_at.unwrap()).collect();
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "processed in arrival order");
}

/// The idle job (SPEC §7): a day without guest messages clears the search state; messages and
/// bookings stay.
async fn idle_conversations_forget_their_search(app: TestApp) {
    seeded(&app).await;
    let g = Guest::new(&app).await;
    g.say(&format!("farmhouse on {} night for 10 people", saturday())).await;
    assert_eq!(g.session().await["facts"]["type"], "farm");
    let later = models::time::now() + Duration::hours(25);
    let svc = app.services(std::sync::Arc::new(integrations::fakes::FixedClock::at(later)));
    let ran = tasks::scheduler::run_due(&svc, "test-replica", later).await.unwrap();
    let idle = ran.iter().find(|(j, _)| *j == tasks::registry::Job::ClearIdleConversations).unwrap();
    assert_eq!(idle.1, Ok(1));
    let s = g.session().await;
    assert!(s["facts"]["type"].is_null() && s["facts"]["date"].is_null(), "{s}");
    let h: Value = app.get("/api/v1/chat/history", &g.token).await.json().await.unwrap();
    assert_eq!(h["items"].as_array().unwrap().len(), 2, "messages stay");
}
