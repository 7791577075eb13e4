//! The booking desk over HTTP, on SQLite and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use models::booking::{conflicts, Shift};
use models::Role;
use reqwest::Method;
use serde_json::{json, Value};
use system_tests::{expect_problem, system_test, TestApp};

/// Today in Karachi (UTC+5, no daylight saving).
fn today() -> NaiveDate {
    (Utc::now() + Duration::hours(5)).date_naive()
}

/// A date `days` ahead, inside the booking window.
fn ahead(days: i64) -> NaiveDate {
    today() + Duration::days(days)
}

const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Creates an active property with a price for every weekday and shift; returns its id.
async fn property(app: &TestApp, key: &str, name: &str, kind: &str) -> String {
    let res = app
        .post(
            "/api/v1/properties",
            key,
            &json!({"name": name, "type": kind, "max_guests": 20, "advance_percent": 30,
            "contact_person": "Akbar", "contact_number": "0300-7654321"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let p: Value = res.json().await.unwrap();
    let id = p["id"].as_str().unwrap().to_string();
    let mut prices = Vec::new();
    for (i, w) in WEEKDAYS.iter().enumerate() {
        for (j, s) in ["day", "night", "full_day", "full_night"].iter().enumerate() {
            prices.push(json!({"weekday": w, "shift": s, "amount": (1_800_000 + 100_000 * (i as i64) + 10_000 * (j as i64))}));
        }
    }
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/properties/{id}/prices"),
            Some(key),
            Some(&json!({"prices": prices})),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    id
}

/// A web guest: `(token, guest_id)`.
async fn guest(app: &TestApp) -> (String, String) {
    let res = app.send(Method::POST, "/api/v1/chat/sessions", None, None, &[]).await;
    assert_eq!(res.status(), 201);
    let s: Value = res.json().await.unwrap();
    (s["token"].as_str().unwrap().to_string(), s["guest_id"].as_str().unwrap().to_string())
}

fn booking_body(property: &str, date: NaiveDate, shift: &str) -> Value {
    json!({"property_id": property, "date": date.to_string(), "shift": shift, "guests": 10,
           "guest": {"name": "Ayesha Khan", "cnic": "42201-1234567-1", "phone": "0300-1234567"}})
}

async fn book(app: &TestApp, token: &str, property: &str, date: NaiveDate, shift: &str) -> reqwest::Response {
    app.post("/api/v1/bookings", token, &booking_body(property, date, shift)).await
}

/// `GET /api/v1/search?{query}` without credentials.
async fn search(app: &TestApp, query: &str) -> reqwest::Response {
    app.send(Method::GET, &format!("/api/v1/search?{query}"), None, None, &[]).await
}

async fn search_has(app: &TestApp, property: &str, date: NaiveDate, shift: &str) -> bool {
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/search?type=farm&date={date}&shift={shift}&guests=10"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().iter().any(|h| h["id"] == property)
}

system_test!(
    conflict_matrix_matches_the_spec_and_search_agrees,
    search_and_quotes,
    catalogue_management_and_roles,
    every_transition_and_no_other,
    payment_proofs_checks_and_verification,
    screenshots_uploads_and_duplicates,
    visibility_by_role,
    malformed_input_changes_nothing,
    outbox_delivers_to_outside_channels,
    status_matrix_allows_exactly_the_documented_transitions,
);

async fn conflict_matrix_matches_the_spec_and_search_agrees(app: TestApp) {
    let admin = app.admin_key.clone();
    let farm = property(&app, &admin, "Matrix Farm", "farm").await;
    let (token, _) = guest(&app).await;
    let d = ahead(5);
    let shifts = ["day", "night", "full_day", "full_night"];
    let mut cases = 0;
    for a in shifts {
        for b in shifts {
            for offset in [-1_i64, 0, 1] {
                let db = d + Duration::days(offset);
                let res = book(&app, &token, &farm, d, a).await;
                assert_eq!(res.status(), 201, "{a} on {d}");
                let first: Value = res.json().await.unwrap();
                let expected_conflict =
                    conflicts((d, a.parse::<Shift>().unwrap()), (db, b.parse::<Shift>().unwrap()));
                let offered = search_has(&app, &farm, db, b).await;
                let res = book(&app, &token, &farm, db, b).await;
                let status = res.status().as_u16();
                if expected_conflict {
                    assert_eq!(status, 409, "{a}@D vs {b}@D{offset:+}");
                    let p: Value = res.json().await.unwrap();
                    assert_eq!(p["code"], "SLOT_UNAVAILABLE");
                } else {
                    assert_eq!(status, 201, "{a}@D vs {b}@D{offset:+}");
                    let second: Value = res.json().await.unwrap();
                    cancel(&app, &token, second["reference"].as_str().unwrap()).await;
                }
                assert_eq!(
                    offered, !expected_conflict,
                    "search agrees with create for {a}@D vs {b}@D{offset:+}"
                );
                cancel(&app, &token, first["reference"].as_str().unwrap()).await;
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 48);
    // Spot-check the spec's examples.
    let fnight = Shift::FullNight;
    assert!(!conflicts((d, fnight), (d + Duration::days(1), fnight)));
    assert!(conflicts((d - Duration::days(1), fnight), (d, Shift::FullDay)));
}

async fn cancel(app: &TestApp, token: &str, reference: &str) {
    let res =
        app.send(Method::POST, &format!("/api/v1/bookings/{reference}/cancel"), Some(token), None, &[]).await;
    assert_eq!(res.status(), 200, "cancel {reference}");
}

async fn search_and_quotes(app: TestApp) {
    let admin = app.admin_key.clone();
    let cheap = property(&app, &admin, "B Cheap Farm", "farm").await;
    let also = property(&app, &admin, "A Same Price Farm", "farm").await;
    let pricey = property(&app, &admin, "Pricey Farm", "farm").await;
    let _hut = property(&app, &admin, "Beach Hut", "hut").await;
    // Pricey: raise every price.
    let prices: Vec<Value> = WEEKDAYS
        .iter()
        .flat_map(|w| {
            ["day", "night", "full_day", "full_night"]
                .map(|s| json!({"weekday": w, "shift": s, "amount": 9_000_000}))
        })
        .collect();
    app.send(
        Method::PUT,
        &format!("/api/v1/properties/{pricey}/prices"),
        Some(&admin),
        Some(&json!({"prices": prices})),
        &[],
    )
    .await;
    let d = ahead(3);
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/search?type=farm&date={d}&shift=night&guests=25"),
            None,
            None,
            &[],
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let names: Vec<&str> =
        body["items"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec!["A Same Price Farm", "B Cheap Farm", "Pricey Farm"],
        "by price then name; huts excluded"
    );
    assert_eq!(body["items"][0]["price"]["currency"], "PKR");
    assert!(body["next_cursor"].is_null(), "one page");
    // A page at a time: the cursor keeps the price-then-name order; bad pages are refused.
    let mut walked = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value =
            search(&app, &format!("type=farm&date={d}&shift=night&guests=25&limit=1&cursor={cursor}"))
                .await
                .json()
                .await
                .unwrap();
        walked.extend(
            page["items"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(walked, names);
    for bad in ["limit=0", "limit=101", "limit=-1", "cursor=bm9wZQ"] {
        let res = search(&app, &format!("type=farm&date={d}&shift=night&guests=2&{bad}")).await;
        expect_problem(res, 422, "VALIDATION_FAILED").await;
    }
    // Cities compare without case; another city has nothing.
    let city = |c: &'static str| {
        let app = &app;
        async move {
            let v: Value = search(app, &format!("type=farm&date={d}&shift=night&guests=2&city={c}"))
                .await
                .json()
                .await
                .unwrap();
            v["items"].as_array().unwrap().len()
        }
    };
    assert_eq!((city("kARACHI").await, city("Lahore").await), (3, 0));
    // Capacity: 20 + tolerance 10.
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/search?type=farm&date={d}&shift=night&guests=31"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["items"].as_array().unwrap().len(), 0);
    // Price range.
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/search?type=farm&date={d}&shift=night&guests=5&max_price=5000000"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["items"].as_array().unwrap().len(), 2);
    // Quote: total, 30 % advance rounded to the rupee, remainder, hold.
    let res = app
        .send(Method::GET, &format!("/api/v1/quotes?property={cheap}&date={d}&shift=day"), None, None, &[])
        .await;
    assert_eq!(res.status(), 200);
    let q: Value = res.json().await.unwrap();
    let total = q["total"]["amount"].as_i64().unwrap();
    assert_eq!(q["advance_due"]["amount"].as_i64().unwrap(), models::booking::advance_due(total, 30));
    assert_eq!(
        q["remainder"]["amount"].as_i64().unwrap(),
        total - q["advance_due"]["amount"].as_i64().unwrap()
    );
    assert_eq!(q["hold_minutes"], 30);
    assert_eq!(q["available"], true);
    // A season overrides the base price inside its dates.
    let season = json!({"prices": [{"weekday": "monday", "shift": "day", "amount": 100}], "seasons": [{"name": "Eid",
        "start_date": d.to_string(), "end_date": d.to_string(),
        "prices": WEEKDAYS.iter().map(|w| json!({"weekday": w, "shift": "day", "amount": 7_700_000})).collect::<Vec<_>>()}]});
    let res = app
        .send(Method::PUT, &format!("/api/v1/properties/{also}/prices"), Some(&admin), Some(&season), &[])
        .await;
    assert_eq!(res.status(), 200);
    let q: Value = app
        .send(Method::GET, &format!("/api/v1/quotes?property={also}&date={d}&shift=day"), None, None, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["total"]["amount"], 7_700_000);
    // Search agrees: the season's price, on the season's date only.
    let price_in_search = |date: NaiveDate| {
        let (app, also) = (&app, also.clone());
        async move {
            let v: Value =
                search(app, &format!("type=farm&date={date}&shift=day&guests=2")).await.json().await.unwrap();
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["id"] == also.as_str())
                .map(|h| h["price"]["amount"].clone())
        }
    };
    assert_eq!(price_in_search(d).await, Some(json!(7_700_000)));
    // No price for that weekday/shift: not offered, and the quote says why.
    let other_day = d + Duration::days(1);
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/quotes?property={also}&date={other_day}&shift=night"),
            None,
            None,
            &[],
        )
        .await;
    expect_problem(res, 422, "PRICE_NOT_SET").await;
    assert!(!search_has(&app, &also, other_day, "night").await);
    // Window and past shifts.
    let far = today() + Duration::days(70);
    let res = app
        .send(Method::GET, &format!("/api/v1/quotes?property={cheap}&date={far}&shift=day"), None, None, &[])
        .await;
    expect_problem(res, 422, "OUTSIDE_BOOKING_WINDOW").await;
    let yesterday = today() - Duration::days(1);
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/search?type=farm&date={yesterday}&shift=day&guests=2"),
            None,
            None,
            &[],
        )
        .await;
    expect_problem(res, 422, "OUTSIDE_BOOKING_WINDOW").await;
    // Availability: a booking shows as taken half-slots.
    let (token, _) = guest(&app).await;
    assert_eq!(book(&app, &token, &cheap, d, "full_night").await.status(), 201);
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/properties/{cheap}/availability?from={d}&to={}", d + Duration::days(1)),
            None,
            None,
            &[],
        )
        .await;
    let days: Vec<Value> = res.json().await.unwrap();
    assert_eq!(
        days[0],
        json!({"date": d.to_string(), "day": true, "night": false, "full_day": false, "full_night": false})
    );
    assert_eq!(days[1]["day"], false);
    assert_eq!(days[1]["night"], true);
    assert_eq!(days[1]["full_day"], false);
}

async fn catalogue_management_and_roles(app: TestApp) {
    let owner_key = app.user_with_key(Role::Owner).await;
    let other_owner = app.user_with_key(Role::Owner).await;
    let member = app.user_with_key(Role::Member).await;
    let farm = property(&app, &owner_key, "Owner Farm", "farm").await;
    // Media and amenities by the owner.
    let res = app
        .post(
            &format!("/api/v1/properties/{farm}/media"),
            &owner_key,
            &json!({"kind": "image", "url": "https://img.example/1.jpg"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            &format!("/api/v1/properties/{farm}/media"),
            &owner_key,
            &json!({"kind": "video", "url": "https://img.example/2.mp4"}),
        )
        .await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["media"].as_array().unwrap().len(), 2);
    assert_eq!(p["media"][1]["position"], 2);
    let media_id = p["media"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .send(
            Method::DELETE,
            &format!("/api/v1/properties/{farm}/media/{media_id}"),
            Some(&owner_key),
            None,
            &[],
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["media"].as_array().unwrap().len(), 1);
    let res = app
        .send(Method::PUT, &format!("/api/v1/properties/{farm}/amenities"), Some(&owner_key),
            Some(&json!({"amenities": [{"kind": "facility", "value": "Pool"}, {"kind": "facility", "value": "Lawn"}]})), &[])
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["amenities"].as_array().unwrap().len(), 2);
    // Another owner and a member cannot change it.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/properties/{farm}"),
            Some(&other_owner),
            Some(&json!({"name": "Mine"})),
            &[],
        )
        .await;
    expect_problem(res, 403, "FORBIDDEN").await;
    let res =
        app.post("/api/v1/properties", &member, &json!({"name": "X", "type": "farm", "max_guests": 5})).await;
    expect_problem(res, 403, "FORBIDDEN").await;
    // Owners list only their own.
    property(&app, &app.admin_key, "Admin Farm", "farm").await;
    let mine: Value = app.get("/api/v1/properties", &owner_key).await.json().await.unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let all: Value = app.get("/api/v1/properties", &app.admin_key).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // Deactivating keeps the property for its owner, hides it from search and from the public.
    let res =
        app.send(Method::DELETE, &format!("/api/v1/properties/{farm}"), Some(&owner_key), None, &[]).await;
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    assert!(!search_has(&app, &farm, ahead(3), "day").await);
    assert_eq!(
        app.send(Method::GET, &format!("/api/v1/properties/{farm}"), None, None, &[]).await.status(),
        404
    );
    assert_eq!(app.get(&format!("/api/v1/properties/{farm}"), &owner_key).await.status(), 200);
    let events = app.audit(&format!("subject_type=property&subject_id={farm}")).await;
    assert!(events.iter().any(|e| e["action"] == "property.deactivated"));
}

async fn every_transition_and_no_other(app: TestApp) {
    let admin = app.admin_key.clone();
    let farm = property(&app, &admin, "State Farm", "farm").await;
    let (token, _) = guest(&app).await;
    let status = |b: &Value| b["status"].as_str().unwrap().to_string();
    let set = |reference: String, to: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.post(
                &format!("/api/v1/bookings/{reference}/status"),
                &admin,
                &json!({"status": to, "reason": "test"}),
            )
            .await
        }
    };

    // pending → waiting (payment) → confirmed (approve) → completed (admin).
    let b: Value = book(&app, &token, &farm, ahead(2), "day").await.json().await.unwrap();
    let r = b["reference"].as_str().unwrap().to_string();
    assert_eq!(status(&b), "pending");
    assert!(b["hold_expires_at"].is_string());
    // Not allowed from pending: completed, waiting, expired via the status endpoint.
    for to in ["completed", "waiting", "expired"] {
        expect_problem(set(r.clone(), to).await, 409, "INVALID_TRANSITION").await;
    }
    let unchanged: Value = app.get(&format!("/api/v1/bookings/{r}"), &token).await.json().await.unwrap();
    assert_eq!(unchanged["status"], "pending");
    assert_eq!(unchanged["updated_at"], b["updated_at"], "a refused transition changes nothing");
    let res = app.post(&format!("/api/v1/bookings/{r}/payments"), &token, &json!({"amount": b["advance_due"]["amount"], "transaction_id": "TXN-1001", "sender_name": "Ayesha"})).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["booking_status"], "waiting");
    let pay_id = sub["payment"]["id"].as_str().unwrap().to_string();
    // A second proof while waiting is refused.
    let res = app
        .post(
            &format!("/api/v1/bookings/{r}/payments"),
            &token,
            &json!({"amount": 1, "transaction_id": "TXN-1002", "sender_name": "A"}),
        )
        .await;
    expect_problem(res, 409, "INVALID_TRANSITION").await;
    let res = app.post(&format!("/api/v1/admin/verifications/{pay_id}/approve"), &admin, &json!({})).await;
    assert_eq!(res.status(), 200);
    let res = app.post(&format!("/api/v1/admin/verifications/{pay_id}/approve"), &admin, &json!({})).await;
    expect_problem(res, 409, "INVALID_TRANSITION").await;
    let b: Value = app.get(&format!("/api/v1/bookings/{r}"), &admin).await.json().await.unwrap();
    assert_eq!(status(&b), "confirmed");
    expect_problem(set(r.clone(), "pending").await, 409, "INVALID_TRANSITION").await;
    assert_eq!(set(r.clone(), "completed").await.status(), 200);
    let res = app.send(Method::POST, &format!("/api/v1/bookings/{r}/cancel"), Some(&admin), None, &[]).await;
    expect_problem(res, 409, "INVALID_TRANSITION").await;

    // waiting → pending (reject with reason): the hold restarts and the guest is told why.
    let b: Value = book(&app, &token, &farm, ahead(3), "night").await.json().await.unwrap();
    let r = b["reference"].as_str().unwrap().to_string();
    let sub: Value = app
        .post(
            &format!("/api/v1/bookings/{r}/payments"),
            &token,
            &json!({"amount": 100, "transaction_id": "TXN-2001", "sender_name": "Ayesha"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let pay_id = sub["payment"]["id"].as_str().unwrap().to_string();
    assert_eq!(sub["payment"]["checks"]["amount_ok"], false, "the amount is short of the advance");
    let res = app.post(&format!("/api/v1/admin/verifications/{pay_id}/reject"), &admin, &json!({})).await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let res = app
        .post(
            &format!("/api/v1/admin/verifications/{pay_id}/reject"),
            &admin,
            &json!({"reason": "amount is short"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let after: Value = app.get(&format!("/api/v1/bookings/{r}"), &token).await.json().await.unwrap();
    assert_eq!(status(&after), "pending");
    assert!(
        after["hold_expires_at"].as_str().unwrap() > b["hold_expires_at"].as_str().unwrap(),
        "hold restarted"
    );
    let history: Value = app.get("/api/v1/chat/history", &token).await.json().await.unwrap();
    assert!(history["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"].as_str().unwrap().contains("amount is short")));
    // pending → confirmed needs an admin override with a reason; a reason is required.
    let res = app
        .post(&format!("/api/v1/bookings/{r}/status"), &admin, &json!({"status": "confirmed", "reason": " "}))
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    assert_eq!(set(r.clone(), "confirmed").await.status(), 200);

    // Guest cancels a pending booking: the slot is free again.
    let d = ahead(4);
    let b: Value = book(&app, &token, &farm, d, "full_day").await.json().await.unwrap();
    assert!(!search_has(&app, &farm, d, "day").await);
    cancel(&app, &token, b["reference"].as_str().unwrap()).await;
    assert!(search_has(&app, &farm, d, "day").await);
    let events =
        app.audit(&format!("subject_type=booking&subject_id={}", b["reference"].as_str().unwrap())).await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["booking.cancelled", "booking.created"]);
    assert_eq!(events[1]["details"]["cnic"], "42201-*******-1", "CNIC masked in the audit trail");

    // The expiry job (clock injected): lapsed holds expire, slots free, the guest is told.
    let b: Value = book(&app, &token, &farm, d, "night").await.json().await.unwrap();
    let r = b["reference"].as_str().unwrap().to_string();
    let later = models::time::now() + Duration::minutes(31);
    let clock = integrations::fakes::FixedClock::at(later);
    let svc = app.services(Arc::new(clock.clone()));
    let ran = tasks::scheduler::run_due(&svc, "test-replica", later).await.unwrap();
    let expire = ran.iter().find(|(j, _)| *j == tasks::registry::Job::ExpireHolds).unwrap();
    assert_eq!(expire.1, Ok(1));
    let after: Value = app.get(&format!("/api/v1/bookings/{r}"), &token).await.json().await.unwrap();
    assert_eq!(status(&after), "expired");
    assert!(search_has(&app, &farm, d, "night").await);
    let history: Value = app.get("/api/v1/chat/history?limit=1", &token).await.json().await.unwrap();
    assert!(history["items"][0]["text"].as_str().unwrap().contains("expired"));
    // Not due again within its interval; due later and idempotent.
    assert!(tasks::scheduler::run_due(&svc, "test-replica", later).await.unwrap().is_empty());
    let much_later = later + Duration::minutes(2);
    let ran = tasks::scheduler::run_due(&svc, "other-replica", much_later).await.unwrap();
    assert!(ran.iter().any(|(j, r)| *j == tasks::registry::Job::ExpireHolds && *r == Ok(0)));
    let jobs: Vec<Value> = app.get("/api/v1/admin/jobs", &admin).await.json().await.unwrap();
    let expire = jobs.iter().find(|j| j["name"] == "expire_holds").unwrap();
    assert_eq!(expire["runs"], 2);
    assert_eq!(expire["last_outcome"], "ok");
    // A payment after expiry is refused.
    let res = app
        .post(
            &format!("/api/v1/bookings/{r}/payments"),
            &token,
            &json!({"amount": 1, "transaction_id": "TXN-3001", "sender_name": "A"}),
        )
        .await;
    expect_problem(res, 409, "INVALID_TRANSITION").await;
}

fn methods(s: &mut core_config::Settings) {
    s.payments.methods = vec![core_config::PaymentMethod {
        kind: core_config::PaymentMethodKind::Easypaisa,
        account_number: "0300-1112223".into(),
        holder_name: "Farm Owner".into(),
        bank_name: String::new(),
    }];
}

async fn payment_proofs_checks_and_verification(app: TestApp) {
    // Restart with a payment method configured.
    let db = {
        let TestApp { db, .. } = app;
        db
    };
    let app = TestApp::start(db, methods).await;
    let admin = app.admin_key.clone();
    let farm = property(&app, &admin, "Pay Farm", "farm").await;
    let (token, _) = guest(&app).await;
    let b: Value = book(&app, &token, &farm, ahead(2), "full_day").await.json().await.unwrap();
    let r = b["reference"].as_str().unwrap().to_string();
    let res = app.get(&format!("/api/v1/bookings/{r}/payment-instructions"), &token).await;
    assert_eq!(res.status(), 200);
    let i: Value = res.json().await.unwrap();
    assert_eq!(i["advance_due"], b["advance_due"]);
    assert_eq!(i["methods"][0]["account_number"], "0300-1112223");
    let advance_text =
        models::booking::Money::new(b["advance_due"]["amount"].as_i64().unwrap(), "PKR").display();
    assert!(i["text"].as_str().unwrap().contains(&advance_text), "{} should quote {advance_text}", i["text"]);
    let advance = b["advance_due"]["amount"].as_i64().unwrap();
    let res = app
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{r}/payments"),
            Some(&token),
            Some(&json!({"amount": advance - 50, "transaction_id": "EP-555", "sender_name": "Ayesha"})),
            &[("idempotency-key", "pay-1")],
        )
        .await;
    assert_eq!(res.status(), 201);
    let first = res.bytes().await.unwrap();
    let replay = app
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{r}/payments"),
            Some(&token),
            Some(&json!({"amount": advance - 50, "transaction_id": "EP-555", "sender_name": "Ayesha"})),
            &[("idempotency-key", "pay-1")],
        )
        .await;
    assert_eq!(replay.bytes().await.unwrap(), first, "payment submission replays under its Idempotency-Key");
    let sub: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(sub["payment"]["checks"]["amount_ok"], true, "within one rupee of the advance");
    assert_eq!(sub["payment"]["checks"]["transaction_id_unused"], true);
    // The admin sees it with the masked CNIC.
    let v: Value = app.get("/api/v1/admin/verifications", &admin).await.json().await.unwrap();
    assert_eq!(v["items"][0]["booking"], r);
    assert_eq!(v["items"][0]["cnic"], "42201-*******-1");
    // The same transaction id on another booking is flagged and not stored.
    let b2: Value = book(&app, &token, &farm, ahead(3), "day").await.json().await.unwrap();
    let r2 = b2["reference"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/api/v1/bookings/{r2}/payments"),
            &token,
            &json!({"amount": 999, "transaction_id": "EP-555", "sender_name": "Ayesha"}),
        )
        .await;
    expect_problem(res, 409, "DUPLICATE_PAYMENT_PROOF").await;
    let b2: Value = app.get(&format!("/api/v1/bookings/{r2}"), &token).await.json().await.unwrap();
    assert_eq!(b2["status"], "pending", "nothing changed");
    let inbox: Value = app.get("/api/v1/admin/notifications", &admin).await.json().await.unwrap();
    let kinds: Vec<&str> =
        inbox["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"duplicate_payment_proof") && kinds.contains(&"payment_proof"), "{kinds:?}");
    // Guests cannot review.
    let pay_id = sub["payment"]["id"].as_str().unwrap();
    let res = app.post(&format!("/api/v1/admin/verifications/{pay_id}/approve"), &token, &json!({})).await;
    expect_problem(res, 403, "FORBIDDEN").await;
    let res = app.post(&format!("/api/v1/admin/verifications/{pay_id}/approve"), &admin, &json!({})).await;
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["booking_status"], "confirmed");
    let history: Value = app.get("/api/v1/chat/history", &token).await.json().await.unwrap();
    let texts: Vec<&str> =
        history["items"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts[0].contains("is confirmed") && texts[0].contains("Akbar 0300-7654321"), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("received your payment proof")));
    let events = app.audit(&format!("subject_type=booking_payment&subject_id={pay_id}")).await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["booking_payment.approved", "booking_payment.submitted"]);
    // The review reminder fires for proofs waiting too long.
    let (token2, _) = guest(&app).await;
    let b3: Value = book(&app, &token2, &farm, ahead(6), "day").await.json().await.unwrap();
    let r3 = b3["reference"].as_str().unwrap();
    app.post(
        &format!("/api/v1/bookings/{r3}/payments"),
        &token2,
        &json!({"amount": 5, "transaction_id": "EP-777", "sender_name": "Bilal"}),
    )
    .await;
    let later = models::time::now() + Duration::minutes(61);
    let desk = app.desk(Arc::new(integrations::fakes::FixedClock::at(later)));
    assert_eq!(services::desk::payments::remind_reviews(&desk, later).await.unwrap(), 1);
    assert_eq!(services::desk::payments::remind_reviews(&desk, later).await.unwrap(), 0, "once per period");
}

fn png(seed: u8) -> Vec<u8> {
    services::desk::image::png_bytes(360, 640, &[seed; 64])
}

async fn screenshots_uploads_and_duplicates(app: TestApp) {
    use base64::Engine;
    let admin = app.admin_key.clone();
    let farm = property(&app, &admin, "Shot Farm", "farm").await;
    let (token, _) = guest(&app).await;
    let r1 = book(&app, &token, &farm, ahead(2), "day").await.json::<Value>().await.unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let r2 = book(&app, &token, &farm, ahead(3), "day").await.json::<Value>().await.unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let r3 = book(&app, &token, &farm, ahead(4), "day").await.json::<Value>().await.unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    // Base64 screenshot, no extractor configured: manual review.
    let b64 = base64::engine::general_purpose::STANDARD.encode(png(1));
    let res = app
        .post(
            &format!("/api/v1/bookings/{r1}/payments"),
            &token,
            &json!({"image_base64": b64, "content_type": "image/png"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["payment"]["machine_checked"], false);
    assert_eq!(sub["payment"]["checks"]["notes"][0], "manual review, not machine-checked");
    assert_eq!(sub["payment"]["image_sha256"].as_str().unwrap().len(), 64);
    let url = sub["payment"]["image_url"].as_str().unwrap();
    let img = app.send(Method::GET, url, None, None, &[]).await;
    assert_eq!(img.status(), 200);
    assert_eq!(img.headers()["content-type"], "image/png");
    assert_eq!(img.bytes().await.unwrap().to_vec(), png(1));
    // The same image again (multipart this time) is a duplicate.
    let form = |bytes: Vec<u8>, ct: &str| {
        reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("s.png").mime_str(ct).unwrap())
    };
    let multipart = |r: String, f: reqwest::multipart::Form| {
        app.client
            .post(format!("{}/api/v1/bookings/{r}/payments", app.address))
            .bearer_auth(&token)
            .multipart(f)
            .send()
    };
    let res = multipart(r2.clone(), form(png(1), "image/png")).await.unwrap();
    expect_problem(res, 409, "DUPLICATE_PAYMENT_PROOF").await;
    // A new image by multipart works.
    let res = multipart(r2.clone(), form(png(2), "image/png")).await.unwrap();
    assert_eq!(res.status(), 201);
    // Not an image; oversized.
    let res =
        multipart(r3.clone(), form(b"%PDF-1.7 not an image".to_vec(), "application/pdf")).await.unwrap();
    expect_problem(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    // A PNG signature followed by garbage does not decode: refused, nothing stored.
    let mut garbage = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    garbage.extend(std::iter::repeat_n(7u8, 64));
    let res = multipart(r3.clone(), form(garbage, "image/png")).await.unwrap();
    expect_problem(res, 422, "INVALID_IMAGE").await;
    let mut big = png(3);
    big.resize(5 * 1024 * 1024 + 10, 0);
    let res = multipart(r3.clone(), form(big, "image/png")).await.unwrap();
    expect_problem(res, 413, "PAYLOAD_TOO_LARGE").await;
    let b3: Value = app.get(&format!("/api/v1/bookings/{r3}"), &token).await.json().await.unwrap();
    assert_eq!(b3["status"], "pending", "refused uploads change nothing");
    assert_eq!(app.send(Method::GET, "/media/0123.png", None, None, &[]).await.status(), 404);

    // With an extractor: a non-payment image is refused; a valid one is machine-checked and,
    // under the auto-confirm limit with every check passing, confirmed without a human.
    let db = {
        let TestApp { db, .. } = app;
        db
    };
    let reading = services::ports::Extraction {
        is_payment: true,
        confidence: 0.93,
        transaction_id: Some("EP-9001".into()),
        amount: Some(10_000_000),
        receiver_name: Some("Farm Owner".into()),
        ..Default::default()
    };
    let app = TestApp::start_with(
        db,
        |s| {
            methods(s);
            s.booking.auto_confirm_below = 50_000_000;
        },
        |a| a.extractor = Some(Arc::new(integrations::fakes::FakeExtractor(reading))),
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(png(9));
    let res = app
        .post(
            &format!("/api/v1/bookings/{r3}/payments"),
            &token,
            &json!({"image_base64": b64, "content_type": "image/png"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["payment"]["machine_checked"], true);
    assert_eq!(sub["payment"]["checks"]["receiver_ok"], true);
    assert_eq!(sub["booking_status"], "confirmed", "auto-confirmed");

    let db = {
        let TestApp { db, .. } = app;
        db
    };
    let not_payment =
        services::ports::Extraction { is_payment: false, confidence: 0.99, ..Default::default() };
    let app = TestApp::start_with(
        db,
        |_| {},
        |a| a.extractor = Some(Arc::new(integrations::fakes::FakeExtractor(not_payment))),
    )
    .await;
    let (token, _) = guest(&app).await;
    let farm2 = property(&app, &app.admin_key, "Shot Farm 2", "farm").await;
    let r4 = book(&app, &token, &farm2, ahead(5), "day").await.json::<Value>().await.unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(png(10));
    let res = app
        .post(
            &format!("/api/v1/bookings/{r4}/payments"),
            &token,
            &json!({"image_base64": b64, "content_type": "image/png"}),
        )
        .await;
    let p = expect_problem(res, 422, "NOT_A_PAYMENT_SCREENSHOT").await;
    assert_eq!(p["detail"], "Please send me the payment screenshot only.");
}

async fn visibility_by_role(app: TestApp) {
    let owner = app.user_with_key(Role::Owner).await;
    let member = app.user_with_key(Role::Member).await;
    let mine = property(&app, &owner, "Owned Farm", "farm").await;
    let theirs = property(&app, &app.admin_key, "Other Farm", "farm").await;
    let (alice, _) = guest(&app).await;
    let (bob, _) = guest(&app).await;
    let a: Value = book(&app, &alice, &mine, ahead(2), "day").await.json().await.unwrap();
    let b: Value = book(&app, &bob, &theirs, ahead(2), "day").await.json().await.unwrap();
    let (ra, rb) = (a["reference"].as_str().unwrap(), b["reference"].as_str().unwrap());
    // Guests see only their own.
    let list: Value = app.get("/api/v1/bookings", &alice).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    expect_problem(app.get(&format!("/api/v1/bookings/{rb}"), &alice).await, 404, "NOT_FOUND").await;
    let res = app.send(Method::POST, &format!("/api/v1/bookings/{rb}/cancel"), Some(&alice), None, &[]).await;
    expect_problem(res, 404, "NOT_FOUND").await;
    // Owners see their properties' bookings, CNIC masked.
    let list: Value = app.get("/api/v1/bookings", &owner).await.json().await.unwrap();
    let refs: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|b| b["reference"].as_str().unwrap()).collect();
    assert_eq!(refs, vec![ra]);
    assert_eq!(list["items"][0]["guest"]["cnic"], "42201-*******-1");
    expect_problem(app.get(&format!("/api/v1/bookings/{rb}"), &owner).await, 404, "NOT_FOUND").await;
    // Admins see everything, CNIC in full.
    let list: Value = app.get("/api/v1/bookings", &app.admin_key).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0]["guest"]["cnic"], "4220112345671");
    // Members have no bookings; guests reach no admin or owner routes.
    expect_problem(app.get("/api/v1/bookings", &member).await, 403, "FORBIDDEN").await;
    for path in ["/api/v1/admin/verifications", "/api/v1/admin/notifications", "/api/v1/admin/jobs"] {
        expect_problem(app.get(path, &alice).await, 403, "FORBIDDEN").await;
    }
    let res =
        app.post("/api/v1/properties", &alice, &json!({"name": "G", "type": "farm", "max_guests": 3})).await;
    expect_problem(res, 403, "FORBIDDEN").await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/properties/{mine}"),
            Some(&alice),
            Some(&json!({"name": "G"})),
            &[],
        )
        .await;
    expect_problem(res, 403, "FORBIDDEN").await;
    let res = app
        .post(
            &format!("/api/v1/bookings/{ra}/status"),
            &alice,
            &json!({"status": "confirmed", "reason": "me"}),
        )
        .await;
    expect_problem(res, 403, "FORBIDDEN").await;
    expect_problem(app.get("/api/v1/users", &alice).await, 401, "INVALID_API_KEY").await;
    // Anonymous callers cannot book; a bad guest token is 401.
    let res = app
        .send(Method::POST, "/api/v1/bookings", None, Some(&booking_body(&mine, ahead(3), "day")), &[])
        .await;
    expect_problem(res, 401, "AUTH_REQUIRED").await;
    let res = app.get("/api/v1/chat/session", &format!("gs_{}", "A".repeat(43))).await;
    expect_problem(res, 401, "INVALID_API_KEY").await;
    // A website key creates or finds its guest by its own user id and books for it.
    let website = app.user_with_key(Role::Website).await;
    let s1: Value = app
        .post("/api/v1/chat/sessions", &website, &json!({"user_id": "site-user-7", "name": "Sana"}))
        .await
        .json()
        .await
        .unwrap();
    let s2: Value = app
        .post("/api/v1/chat/sessions", &website, &json!({"user_id": "site-user-7"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s1["guest_id"], s2["guest_id"]);
    let mut body = booking_body(&mine, ahead(3), "night");
    body["guest_id"] = s1["guest_id"].clone();
    assert_eq!(app.post("/api/v1/bookings", &website, &body).await.status(), 201);
    let list: Value = app.get("/api/v1/bookings", &website).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // …but not for another website's or a web guest.
    let mut body = booking_body(&mine, ahead(4), "night");
    body["guest_id"] = json!(a["guest"]["id"]);
    expect_problem(app.post("/api/v1/bookings", &website, &body).await, 422, "VALIDATION_FAILED").await;
    let res = app.post("/api/v1/chat/sessions", &member, &json!({"user_id": "x"})).await;
    expect_problem(res, 403, "FORBIDDEN").await;
}

async fn malformed_input_changes_nothing(app: TestApp) {
    let admin = app.admin_key.clone();
    let farm = property(&app, &admin, "Strict Farm", "farm").await;
    let (token, _) = guest(&app).await;
    let d = ahead(2).to_string();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"property_id": farm, "date": "2026-13-40", "shift": "day", "guests": 2, "guest": {"name": "Ali", "cnic": "4220112345671"}}),
            422,
            "VALIDATION_FAILED",
        ),
        (
            json!({"property_id": farm, "date": d, "shift": "evening", "guests": 2, "guest": {"name": "Ali", "cnic": "4220112345671"}}),
            422,
            "VALIDATION_FAILED",
        ),
        (
            json!({"property_id": farm, "date": d, "shift": "day", "guests": 2, "guest": {"name": "Ali", "cnic": "422011234567"}}),
            422,
            "VALIDATION_FAILED",
        ),
        (
            json!({"property_id": farm, "date": d, "shift": "day", "guests": 0, "guest": {"name": "Ali", "cnic": "4220112345671"}}),
            422,
            "VALIDATION_FAILED",
        ),
        (
            json!({"property_id": farm, "date": d, "shift": "day", "guests": 200, "guest": {"name": "Ali", "cnic": "4220112345671"}}),
            422,
            "CAPACITY_EXCEEDED",
        ),
        (
            json!({"property_id": "prp_nope", "date": d, "shift": "day", "guests": 2, "guest": {"name": "Ali", "cnic": "4220112345671"}}),
            422,
            "VALIDATION_FAILED",
        ),
        (json!({"property_id": farm, "date": d, "shift": "day", "guests": 2}), 422, "VALIDATION_FAILED"),
    ];
    for (body, status, code) in cases {
        let res = app.post("/api/v1/bookings", &token, &body).await;
        expect_problem(res, status, code).await;
    }
    let res = app.post_raw("/api/v1/bookings", &token, b"{not json".to_vec(), &[]).await;
    expect_problem(res, 400, "MALFORMED_JSON").await;
    let list: Value = app.get("/api/v1/bookings", &admin).await.json().await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty(), "nothing was booked");
    // Catalogue input.
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/properties/{farm}/prices"),
            Some(&admin),
            Some(&json!({"prices": [{"weekday": "monday", "shift": "day", "amount": -5}]})),
            &[],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/properties/{farm}/prices"),
            Some(&admin),
            Some(&json!({"prices": [{"weekday": "someday", "shift": "day", "amount": 5}]})),
            &[],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .send(
            Method::PUT,
            &format!("/api/v1/properties/{farm}/prices"),
            Some(&admin),
            Some(&json!({"prices": [{"weekday": "monday", "shift": "brunch", "amount": 5}]})),
            &[],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let p: Value = app.get(&format!("/api/v1/properties/{farm}"), &admin).await.json().await.unwrap();
    assert_eq!(p["prices"].as_array().unwrap().len(), 28, "prices unchanged");
    let res = app
        .post("/api/v1/properties", &admin, &json!({"name": "X", "type": "castle", "max_guests": 5}))
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .post(
            "/api/v1/properties",
            &admin,
            &json!({"name": "X", "type": "farm", "max_guests": 5, "advance_percent": 150}),
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    let res = app
        .post(
            &format!("/api/v1/properties/{farm}/media"),
            &admin,
            &json!({"kind": "image", "url": "javascript:alert(1)"}),
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
    // Search and quotes.
    for q in [
        "type=farm&date=tomorrow&shift=day&guests=2",
        "type=castle&date=2026-12-01&shift=day&guests=2",
        "type=farm&date=2026-12-01&shift=noon&guests=2",
        "type=farm&date=2026-12-01&shift=day&guests=2&min_price=-1",
    ] {
        expect_problem(
            app.send(Method::GET, &format!("/api/v1/search?{q}"), None, None, &[]).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
    }
    expect_problem(
        app.send(Method::GET, "/api/v1/search?type=farm", None, None, &[]).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    let res = app
        .send(
            Method::GET,
            &format!("/api/v1/properties/{farm}/availability?from=2026-12-10&to=2026-12-01"),
            None,
            None,
            &[],
        )
        .await;
    expect_problem(res, 422, "VALIDATION_FAILED").await;
}

/// 500 concurrent attempts at one slot: exactly one booking. And for overlapping shifts.
async fn race(app: &TestApp, farm: &str, attempts: Vec<(NaiveDate, &'static str)>) {
    let (token, _) = guest(app).await;
    let mut handles = Vec::new();
    for (date, shift) in attempts {
        let client = app.client.clone();
        let url = format!("{}/api/v1/bookings", app.address);
        let body = booking_body(farm, date, shift);
        let token = token.clone();
        handles.push(tokio::spawn(async move {
            let res = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            let code = res.json::<Value>().await.ok().and_then(|v| v["code"].as_str().map(str::to_string));
            (status, code)
        }));
    }
    let mut created = 0;
    for h in handles {
        let (status, code) = h.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(code.as_deref(), Some("SLOT_UNAVAILABLE")),
            other => panic!("unexpected status {other} {code:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one booking wins");
}

async fn concurrent_bookings_one_winner(app: TestApp) {
    let farm = property(&app, &app.admin_key, "Race Farm", "farm").await;
    let d = ahead(6);
    race(&app, &farm, vec![(d, "night"); 500]).await;
    let mixed: Vec<(NaiveDate, &'static str)> =
        (0..200).map(|i| if i % 2 == 0 { (d, "full_day") } else { (d, "day") }).collect();
    race(&app, &farm, mixed).await;
    let d2 = ahead(8);
    let mixed: Vec<(NaiveDate, &'static str)> = (0..200)
        .map(|i| if i % 2 == 0 { (d2 - Duration::days(1), "full_night") } else { (d2, "day") })
        .collect();
    race(&app, &farm, mixed).await;
    let holding = app.db.db.run({
        let farm = farm.clone();
        move |c| {
            let p = repositories::catalogue::by_public_id(c, &farm)?;
            repositories::bookings::count_holding(c, p.id)
        }
    });
    assert_eq!(holding.await.unwrap(), 3);
}

mod concurrent_bookings {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let app = system_tests::TestApp::spawn_with(system_tests::Backend::Sqlite, |s| s.server.workers = 4)
            .await
            .unwrap();
        super::concurrent_bookings_one_winner(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        if let Some(app) =
            system_tests::TestApp::spawn_with(system_tests::Backend::Postgres, |s| s.server.workers = 4).await
        {
            super::concurrent_bookings_one_winner(app).await;
        }
    }
}

async fn outbox_delivers_to_outside_channels(app: TestApp) {
    let farm = property(&app, &app.admin_key, "Outbox Farm", "farm").await;
    // A guest on an outside channel (the WhatsApp issue will create these from webhooks).
    let guest_id = app
        .db
        .db
        .run(|c| {
            let now = models::time::now();
            repositories::guests::insert(
                c,
                &models::rows_booking::NewGuest {
                    public_id: models::ids::public_id("gst"),
                    name: None,
                    phone: Some("923001234567".into()),
                    cnic: None,
                    website_user_id: None,
                    external_id: None,
                    channel: "whatsapp".into(),
                    address: Some("923001234567".into()),
                    created_at: now,
                    updated_at: now,
                },
            )
        })
        .await
        .unwrap()
        .public_id;
    let mut body = booking_body(&farm, ahead(2), "day");
    body["guest_id"] = json!(guest_id);
    let b: Value = app.post("/api/v1/bookings", &app.admin_key, &body).await.json().await.unwrap();
    let reference = b["reference"].as_str().unwrap().to_string();
    // Web guests' messages are delivered by being in the history; they never enter the outbox.
    let (token, _) = guest(&app).await;
    book(&app, &token, &farm, ahead(3), "day").await;

    let sender = integrations::fakes::RecordingSender { channel: "whatsapp".into(), ..Default::default() };
    let mut desk = app.desk(Arc::new(services::ports::SystemClock));
    let mut at = models::time::now();
    let mut later = || {
        at += chrono::Duration::hours(1);
        at
    };
    // Without a sender for the channel, messages wait.
    assert_eq!(services::outbox::deliver_due(&desk, later()).await.unwrap(), 0);
    desk.senders = vec![Arc::new(sender.clone())];
    assert_eq!(services::outbox::deliver_due(&desk, later()).await.unwrap(), 1);
    assert_eq!(services::outbox::deliver_due(&desk, later()).await.unwrap(), 0, "sent once");
    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "923001234567");
    assert!(sent[0].1.contains(&reference), "{}", sent[0].1);

    // A failing channel is retried, then marked failed.
    let res = app.post(&format!("/api/v1/bookings/{reference}/cancel"), &app.admin_key, &json!({})).await;
    assert_eq!(res.status(), 200);
    desk.senders = vec![Arc::new(integrations::fakes::RecordingSender {
        channel: "whatsapp".into(),
        fail: true,
        ..Default::default()
    })];
    // Transient failures are retried with backoff (each pass an hour later), then marked failed.
    for _ in 0..app.settings.whatsapp.max_attempts {
        assert_eq!(services::outbox::deliver_due(&desk, later()).await.unwrap(), 0);
    }
    let statuses: Vec<(String, i32)> = app
        .db
        .db
        .run(|c| {
            use diesel::prelude::*;
            use models::schema::messages;
            Ok(messages::table
                .filter(messages::channel.eq("whatsapp"))
                .order(messages::id.asc())
                .select((messages::delivery_status, messages::attempts))
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(statuses, vec![("sent".to_string(), 1), ("failed".to_string(), 6)]);
}

/// Puts a new booking into `state` and returns its reference.
async fn booking_in(app: &TestApp, token: &str, farm: &str, date: NaiveDate, state: &str) -> String {
    let b: Value = book(app, token, farm, date, "day").await.json().await.unwrap();
    let r = b["reference"].as_str().unwrap().to_string();
    let admin = &app.admin_key;
    let status = |to: &'static str| {
        let r = r.clone();
        async move {
            app.post(
                &format!("/api/v1/bookings/{r}/status"),
                admin,
                &json!({"status": to, "reason": "setup"}),
            )
            .await
        }
    };
    match state {
        "pending" => {}
        "waiting" => {
            let res = app
                .post(
                    &format!("/api/v1/bookings/{r}/payments"),
                    token,
                    &json!({"amount": 1, "transaction_id": format!("T-{r}"), "sender_name": "Setup"}),
                )
                .await;
            assert_eq!(res.status(), 201);
        }
        "confirmed" => assert_eq!(status("confirmed").await.status(), 200),
        "completed" => {
            assert_eq!(status("confirmed").await.status(), 200);
            assert_eq!(status("completed").await.status(), 200);
        }
        "cancelled" => assert_eq!(status("cancelled").await.status(), 200),
        "expired" => {
            let later = models::time::now() + Duration::minutes(31);
            let desk = app.desk(Arc::new(integrations::fakes::FixedClock::at(later)));
            assert!(services::desk::bookings::expire_lapsed(&desk, later).await.unwrap() >= 1);
        }
        other => panic!("unknown state {other}"),
    }
    let now: Value = app.get(&format!("/api/v1/bookings/{r}"), admin).await.json().await.unwrap();
    assert_eq!(now["status"], state);
    r
}

async fn status_matrix_allows_exactly_the_documented_transitions(app: TestApp) {
    let states = ["pending", "waiting", "confirmed", "cancelled", "expired", "completed"];
    let allowed = [
        ("pending", "confirmed"),
        ("waiting", "confirmed"),
        ("waiting", "pending"),
        ("pending", "cancelled"),
        ("waiting", "cancelled"),
        ("confirmed", "cancelled"),
        ("confirmed", "completed"),
    ];
    let (token, _) = guest(&app).await;
    let mut checked = 0;
    for from in states {
        let farm = property(&app, &app.admin_key, &format!("Matrix {from}"), "farm").await;
        for (j, to) in states.iter().enumerate() {
            let date = ahead(2 + j as i64);
            let r = booking_in(&app, &token, &farm, date, from).await;
            let before: Value =
                app.get(&format!("/api/v1/bookings/{r}"), &app.admin_key).await.json().await.unwrap();
            let res = app
                .post(
                    &format!("/api/v1/bookings/{r}/status"),
                    &app.admin_key,
                    &json!({"status": to, "reason": "matrix"}),
                )
                .await;
            let after: Value =
                app.get(&format!("/api/v1/bookings/{r}"), &app.admin_key).await.json().await.unwrap();
            if allowed.contains(&(from, *to)) {
                assert_eq!(res.status(), 200, "{from} → {to}");
                assert_eq!(after["status"], *to);
                assert_eq!(after["status_reason"], "matrix");
            } else {
                expect_problem(res, 409, "INVALID_TRANSITION").await;
                assert_eq!(after, before, "{from} → {to} changed nothing");
            }
            // Slots are held exactly while the booking is pending, waiting or confirmed.
            let holds = matches!(after["status"].as_str().unwrap(), "pending" | "waiting" | "confirmed");
            assert_eq!(search_has(&app, &farm, date, "day").await, !holds, "{from} → {to}: slot");
            checked += 1;
        }
    }
    assert_eq!(checked, 36);
    // Cancelling a confirmed booking tells the guest the refund note.
    let history: Value = app.get("/api/v1/chat/history?limit=200", &token).await.json().await.unwrap();
    assert!(history["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"].as_str().unwrap().contains("refunded")));
}
