//! The web pages, served from the binary (SPEC §6): the guest chat at `/` and the admin console
//! at `/admin` ([`console`]). Their files are
//! embedded at compile time (`crates/api/static/`), so nothing is needed beside the binary and
//! nothing is built or fetched at run time. Scripts and stylesheets are served under names that
//! carry a hash of their content, with a year-long immutable cache; the pages themselves are
//! never cached. Every page and asset carries a strict Content Security Policy (no inline
//! script or style, nothing from another origin), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: same-origin`. The pages are not part of the OpenAPI document.

mod assets;
mod console;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

pub use assets::{Asset, Assets};

/// The Content Security Policy of every page and asset: this origin only, no inline code, no
/// framing; pictures and videos of places may come from any `https` origin (a media store's CDN).
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; \
media-src 'self' https:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'; object-src 'none'";

/// Registers the pages and their assets on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    console::configure(cfg);
    cfg.route("/", web::get().to(chat))
        .route("/favicon.ico", web::get().to(favicon))
        .route("/assets/{name}", web::get().to(asset))
        .route("/pictures/{name}", web::get().to(picture));
}

pub(crate) fn secured(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    res
}

async fn chat() -> HttpResponse {
    let page = Assets::get().page("chat.html");
    secured(
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(page),
    )
}

/// Browsers ask for `/favicon.ico` whatever the page says; it is the SVG icon.
async fn favicon() -> HttpResponse {
    match Assets::get().by_name("favicon.svg") {
        Some(a) => secured(
            HttpResponse::Ok()
                .content_type(a.content_type)
                .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
                .body(a.bytes),
        ),
        None => secured(HttpResponse::NotFound().finish()),
    }
}

/// A picture of the demo's places; stable names, cached for a day.
async fn picture(name: web::Path<String>) -> HttpResponse {
    match assets::picture(&name) {
        Some(bytes) => secured(
            HttpResponse::Ok()
                .content_type("image/svg+xml")
                .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
                .body(bytes),
        ),
        None => secured(HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found")),
    }
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match Assets::get().by_hashed_name(&name) {
        Some(a) => secured(
            HttpResponse::Ok()
                .content_type(a.content_type)
                .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
                .body(a.bytes),
        ),
        None => secured(HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found")),
    }
}
