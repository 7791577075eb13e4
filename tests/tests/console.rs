//! The admin console's sessions over HTTP on both backends: the console without a session
//! redirects to sign-in; guest tokens and member keys cannot sign in; an admin's key becomes an
//! HttpOnly, `SameSite=Strict` cookie that authenticates the JSON API; a state-changing request
//! with the cookie but without the session's CSRF token (a cross-site form post) is refused; an
//! owner's session sees only the owner's bookings; sign-out revokes the session. And what the
//! console's sections read: bookings by stay date, a booking's history from the audit trail,
//! alerts by project, the demo's pictures served by Steward.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use system_tests::{expect_problem, system_test, TestApp};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in with `key`; the response.
async fn sign_in(app: &TestApp, key: &str) -> reqwest::Response {
    no_redirects().post(format!("{}/admin/sign-in", app.address)).form(&[("key", key)]).send().await.unwrap()
}

/// The `steward_console=…` pair of a sign-in's cookie.
fn cookie_of(res: &reqwest::Response) -> String {
    let set = res.headers().get(SET_COOKIE).expect("a cookie").to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    set.split(';').next().unwrap().to_string()
}

async fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
) -> reqwest::Response {
    let mut req = no_redirects().request(method, format!("{}{path}", app.address)).header(COOKIE, cookie);
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    req.send().await.unwrap()
}

async fn sessions_cookies_and_csrf(app: TestApp) {
    // No session: the console sends you to sign in.
    let res = no_redirects().get(format!("{}/admin", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin/sign-in");
    let form = no_redirects().get(format!("{}/admin/sign-in", app.address)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));

    // A guest token and a member key cannot sign in; nothing is set.
    let guest: Value = app
        .send(reqwest::Method::POST, "/api/v1/chat/sessions", None, Some(&json!({})), &[])
        .await
        .json()
        .await
        .unwrap();
    for key in [guest["token"].as_str().unwrap().to_string(), app.user_with_key(models::Role::Member).await] {
        let res = sign_in(&app, &key).await;
        assert_eq!(res.status(), 403);
        assert!(res.headers().get(SET_COOKIE).is_none());
        assert!(res.text().await.unwrap().contains("cannot sign in"));
    }

    // An admin's key: a cookie, the console, the JSON API with the cookie alone.
    let res = sign_in(&app, &app.admin_key).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin");
    let cookie = cookie_of(&res);
    assert!(!cookie.contains(&app.admin_key), "the key is not the cookie");
    let page = with_cookie(&app, reqwest::Method::GET, "/admin", &cookie, None).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Steward console"));
    let session: Value =
        with_cookie(&app, reqwest::Method::GET, "/admin/session", &cookie, None).await.json().await.unwrap();
    assert_eq!(session["role"], "admin");
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    let list = with_cookie(&app, reqwest::Method::GET, "/api/v1/admin/verifications", &cookie, None).await;
    assert_eq!(list.status(), 200, "reads need no CSRF token");

    // A state-changing request with the cookie needs the CSRF token: a cross-site form post
    // (cookie, form body, no token) and a wrong token are refused before anything happens.
    let forged = no_redirects()
        .post(format!("{}/api/v1/admin/verifications/pay_nothing/reject", app.address))
        .header(COOKIE, &cookie)
        .form(&[("reason", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let wrong =
        with_cookie(&app, reqwest::Method::POST, "/api/v1/admin/commands", &cookie, Some("nope")).await;
    assert_eq!(wrong.status(), 403);
    let ok = no_redirects()
        .post(format!("{}/api/v1/admin/commands", app.address))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"text": "help"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "with the token the console acts");

    // Sign-out needs the token too, then the session is gone everywhere.
    let refused = no_redirects()
        .post(format!("{}/admin/sign-out", app.address))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(with_cookie(&app, reqwest::Method::GET, "/admin", &cookie, None).await.status(), 200);
    let out = no_redirects()
        .post(format!("{}/admin/sign-out", app.address))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(with_cookie(&app, reqwest::Method::GET, "/admin", &cookie, None).await.status(), 303);
    let after = with_cookie(&app, reqwest::Method::GET, "/api/v1/admin/verifications", &cookie, None).await;
    assert_eq!(after.status(), 401, "a revoked session authenticates nothing");
}

async fn owners_see_their_own(app: TestApp) {
    // An owner signs in; their session sees the bookings of their properties only.
    let owner = app.user_with_key(models::Role::Owner).await;
    let res = sign_in(&app, &owner).await;
    assert_eq!(res.status(), 303);
    let cookie = cookie_of(&res);
    let session: Value =
        with_cookie(&app, reqwest::Method::GET, "/admin/session", &cookie, None).await.json().await.unwrap();
    assert_eq!(session["role"], "owner");
    services::desk::demo::seed(&app.db.db).await.unwrap();
    let farms: Value = app.get("/api/v1/properties?limit=10", &app.admin_key).await.json().await.unwrap();
    let farm = farms["items"][0]["id"].as_str().unwrap();
    let guest: Value = app
        .send(reqwest::Method::POST, "/api/v1/chat/sessions", None, Some(&json!({})), &[])
        .await
        .json()
        .await
        .unwrap();
    let date = (chrono::Utc::now().date_naive() + chrono::Duration::days(3)).to_string();
    let res = app
        .post(
            "/api/v1/bookings",
            guest["token"].as_str().unwrap(),
            &json!({"property_id": farm, "date": date, "shift": "day", "guests": 10,
                    "guest": {"name": "Ayesha Khan", "cnic": "42201-1234567-1"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let theirs: Value = with_cookie(&app, reqwest::Method::GET, "/api/v1/bookings", &cookie, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs["items"].as_array().unwrap().is_empty(), "not the owner's property: {theirs}");
    let all: Value = app.get("/api/v1/bookings", &app.admin_key).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

async fn console_reads_filters_histories_and_pictures(app: TestApp) {
    services::desk::demo::seed(&app.db.db).await.unwrap();
    let farms: Value = app.get("/api/v1/properties?limit=10", &app.admin_key).await.json().await.unwrap();
    let farm = farms["items"][0]["id"].as_str().unwrap();
    // The demo's places carry pictures Steward serves itself.
    let detail: Value =
        app.get(&format!("/api/v1/properties/{farm}"), &app.admin_key).await.json().await.unwrap();
    let url = detail["media"][0]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/pictures/"), "{detail}");
    let picture = app.client.get(format!("{}{url}", app.address)).send().await.unwrap();
    assert_eq!(picture.status(), 200);
    assert_eq!(picture.headers()["content-type"], "image/svg+xml");
    assert!(picture.headers().contains_key("content-security-policy"));
    assert_eq!(
        app.client.get(format!("{}/pictures/nope.svg", app.address)).send().await.unwrap().status(),
        404
    );
    // A path on this server is a valid picture; a scheme-relative URL (another origin) is not.
    let media = format!("/api/v1/properties/{farm}/media");
    let ok = app.post(&media, &app.admin_key, &json!({"kind": "image", "url": "/pictures/pool.svg"})).await;
    assert_eq!(ok.status(), 201);
    let before: Value =
        app.get(&format!("/api/v1/properties/{farm}"), &app.admin_key).await.json().await.unwrap();
    let bad =
        app.post(&media, &app.admin_key, &json!({"kind": "image", "url": "//evil.example/x.png"})).await;
    expect_problem(bad, 422, "VALIDATION_FAILED").await;
    let after: Value =
        app.get(&format!("/api/v1/properties/{farm}"), &app.admin_key).await.json().await.unwrap();
    assert_eq!(before["media"], after["media"], "a refused picture changes nothing");

    // Two bookings a week apart; the stay-date filters pick each.
    let guest: Value = app
        .send(reqwest::Method::POST, "/api/v1/chat/sessions", None, Some(&json!({})), &[])
        .await
        .json()
        .await
        .unwrap();
    let token = guest["token"].as_str().unwrap();
    let today = chrono::Utc::now().date_naive();
    let (near, far) =
        ((today + chrono::Duration::days(3)).to_string(), (today + chrono::Duration::days(10)).to_string());
    let mut refs = Vec::new();
    for date in [&near, &far] {
        let res = app
            .post(
                "/api/v1/bookings",
                token,
                &json!({"property_id": farm, "date": date, "shift": "day", "guests": 10,
                        "guest": {"name": "Ayesha Khan", "cnic": "42201-1234567-1"}}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let b: Value = res.json().await.unwrap();
        refs.push(b["reference"].as_str().unwrap().to_string());
    }
    let listed = |q: String| {
        let app = &app;
        async move {
            let page: Value =
                app.get(&format!("/api/v1/bookings?{q}"), &app.admin_key).await.json().await.unwrap();
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["reference"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(format!("from={far}")).await, vec![refs[1].clone()]);
    assert_eq!(listed(format!("to={near}")).await, vec![refs[0].clone()]);
    assert_eq!(listed(format!("from={near}&to={far}&status=pending")).await.len(), 2);
    assert!(listed(format!("from={near}&status=confirmed")).await.is_empty());
    expect_problem(app.get("/api/v1/bookings?from=soon", &app.admin_key).await, 422, "VALIDATION_FAILED")
        .await;

    // The history: created, then the typed proof and the move to waiting, oldest first.
    let res = app
        .post(
            &format!("/api/v1/bookings/{}/payments", refs[0]),
            token,
            &json!({"amount": 100, "transaction_id": "EP-console-1", "sender_name": "Ayesha Khan"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let history: Value =
        app.get(&format!("/api/v1/bookings/{}/history", refs[0]), &app.admin_key).await.json().await.unwrap();
    let actions: Vec<&str> =
        history.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.first(), Some(&"booking.created"), "{actions:?}");
    assert!(actions.contains(&"booking.waiting"), "{actions:?}");
    assert!(history.as_array().unwrap().iter().any(|e| e["subject_type"] == "booking_payment"), "{history}");
    let other: Value =
        app.get(&format!("/api/v1/bookings/{}/history", refs[1]), &app.admin_key).await.json().await.unwrap();
    assert!(
        other.as_array().unwrap().iter().all(|e| e["subject_id"] == refs[1].as_str()),
        "only its own: {other}"
    );
    // Guests and members do not read histories; an unknown booking is not found.
    let path = format!("/api/v1/bookings/{}/history", refs[0]);
    expect_problem(app.get(&path, token).await, 403, "FORBIDDEN").await;
    let member = app.user_with_key(models::Role::Member).await;
    expect_problem(app.get(&path, &member).await, 403, "FORBIDDEN").await;
    expect_problem(app.get("/api/v1/bookings/HB-NOPE00/history", &app.admin_key).await, 404, "NOT_FOUND")
        .await;

    // Alerts by scope: none for a project that has none; unknown filters are refused.
    let none: Value = app.get("/api/v1/alerts?scope=prj_none", &app.admin_key).await.json().await.unwrap();
    assert_eq!(none["items"], json!([]));
    assert_eq!(app.get("/api/v1/alerts?colour=red", &app.admin_key).await.status(), 400);
}

system_test!(sessions_cookies_and_csrf, owners_see_their_own, console_reads_filters_histories_and_pictures);
