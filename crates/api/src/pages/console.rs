//! The admin console's pages and its session endpoints: `GET /admin/sign-in` (a form),
//! `POST /admin/sign-in` (an admin or owner key exchanged for the HttpOnly, `SameSite=Strict`
//! session cookie), `POST /admin/sign-out` (revokes it; needs the CSRF token), `GET /admin` (the
//! console, or a redirect to the sign-in form) and `GET /admin/session` (who is signed in, and the
//! CSRF token the console's script sends in `X-CSRF-Token`). The console itself calls the JSON API
//! with the cookie.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{secured, Assets};
use crate::extract::{cookie, request_id, CONSOLE_COOKIE};
use crate::state::AppState;

/// Registers the console's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(console))
        .route("/admin/", web::get().to(console))
        .route("/admin/sign-in", web::get().to(sign_in_form))
        .route("/admin/sign-in", web::post().to(sign_in))
        .route("/admin/sign-out", web::post().to(sign_out))
        .route("/admin/session", web::get().to(session));
}

/// A page; an error status keeps its page (the middleware leaves it alone).
fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    let mut res = secured(
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
    );
    res.extensions_mut().insert(crate::middleware::ShapedError);
    res
}

fn see_other(to: &str) -> HttpResponse {
    secured(HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish())
}

/// The text made safe for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn sign_in_page(error: &str) -> String {
    Assets::get()
        .page("signin.html")
        .replace("{{error}}", &escape(error))
        .replace("{{error-hidden}}", if error.is_empty() { "hidden" } else { "" })
}

async fn live_session(state: &AppState, req: &HttpRequest) -> Option<(services::Principal, String)> {
    let token = cookie(req, CONSOLE_COOKIE)?;
    services::console::authenticate(&state.db, &token).await.ok()
}

async fn console(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match live_session(&state, &req).await {
        Some(_) => html(actix_web::http::StatusCode::OK, Assets::get().page("admin.html")),
        None => see_other("/admin/sign-in"),
    }
}

async fn sign_in_form() -> HttpResponse {
    html(actix_web::http::StatusCode::OK, sign_in_page(""))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    key: String,
}

fn session_cookie(req: &HttpRequest, value: &str, max_age: i64) -> String {
    let secure = req.connection_info().scheme() == "https";
    format!(
        "{CONSOLE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

async fn sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SignIn>) -> HttpResponse {
    match services::console::sign_in(&state.db, &form.key, Some(request_id(&req))).await {
        Ok(s) => {
            let mut res = see_other("/admin");
            if let Ok(v) = header::HeaderValue::from_str(&session_cookie(
                &req,
                &s.token,
                services::console::SESSION_HOURS * 3600,
            )) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => {
            tracing::info!(error = %e, "console sign-in refused");
            html(
                actix_web::http::StatusCode::FORBIDDEN,
                sign_in_page(
                    "That key cannot sign in: the console takes an admin's or a property owner's API key.",
                ),
            )
        }
    }
}

/// The sign-out form: the CSRF token as a field.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    csrf: String,
}

async fn sign_out(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SignOut>) -> HttpResponse {
    let Some(token) = cookie(&req, CONSOLE_COOKIE) else { return see_other("/admin/sign-in") };
    match services::console::authenticate(&state.db, &token).await {
        Ok((_, expected)) if services::console::csrf_matches(&expected, Some(&form.csrf)) => {
            if let Err(e) = services::console::sign_out(&state.db, &token).await {
                tracing::warn!(error = %e, "console sign-out failed");
            }
        }
        Ok(_) => {
            return html(
                actix_web::http::StatusCode::FORBIDDEN,
                sign_in_page("The sign-out form was not this console's."),
            )
        }
        Err(_) => {}
    }
    let mut res = see_other("/admin/sign-in");
    if let Ok(v) = header::HeaderValue::from_str(&session_cookie(&req, "", 0)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// Who is signed in.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// `usr_…`.
    pub user_id: String,
    /// `admin` or `owner`.
    pub role: String,
    /// Sent back in `X-CSRF-Token` with every state-changing request.
    pub csrf_token: String,
}

async fn session(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match live_session(&state, &req).await {
        Some((p, csrf)) => {
            secured(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SessionView {
                user_id: p.user_public_id,
                role: p.role.as_str().into(),
                csrf_token: csrf,
            }))
        }
        None => secured(HttpResponse::Unauthorized().json(serde_json::json!({"error": "not signed in"}))),
    }
}
