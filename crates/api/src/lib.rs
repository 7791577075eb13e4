//! Steward's HTTP layer (actix-web).
//!
//! [`Application::build`] binds the listener first (port 0 works, for tests), then serves the
//! routes registered by [`routes::configure`]; the same function feeds the OpenAPI document, so
//! every route is documented. Errors leave through one mapping ([`error::ApiError`]) as RFC 9457
//! problem+json.

pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod state;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use core_config::Settings;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use error::ApiError;
pub use state::AppState;

/// The OpenAPI 3.1 document of every registered route (see [`openapi`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::document()
}

async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `server.host:server.port` and prepares the server over the services the caller
    /// built once (the binary from the settings, tests with fakes) and the booking agent.
    pub fn build(
        settings: Settings,
        services: services::Services,
        agent: services::conversations::SharedAgent,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let metrics = metrics::Metrics::new().map_err(std::io::Error::other)?;
        let services::Services { db, desk, gateway, .. } = services;
        let state =
            AppState { db, settings: Arc::new(settings), metrics: Arc::new(metrics), desk, gateway, agent };
        let doc = serde_json::to_value(openapi()).map_err(std::io::Error::other)?;
        let body_limit = state.settings.server.body_limit_bytes;
        let whatsapp = state.settings.whatsapp.enabled;
        let workers = state.settings.server.workers;
        let shutdown = state.settings.server.shutdown_timeout_secs;
        let keep_alive = std::time::Duration::from_secs(state.settings.server.keep_alive_secs);
        let data = web::Data::new(state);
        let doc = web::Data::new(routes::system::OpenApiDoc(doc));
        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                .app_data(data.clone())
                .app_data(doc.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::JsonConfig::default().limit(body_limit))
                .configure(pages::configure)
                .configure(|cfg| {
                    if whatsapp {
                        routes::channels::whatsapp::configure(cfg);
                    }
                })
                .route("/docs", web::get().to(docs_redirect))
                .service(SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/openapi.json"])))
                .default_service(web::to(not_found))
                .wrap(actix_web::middleware::from_fn(middleware::observe))
        })
        .disable_signals()
        .keep_alive(keep_alive)
        .shutdown_timeout(shutdown);
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Self { port, server })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through the handle.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Stops `handle` gracefully on SIGINT or SIGTERM.
pub async fn stop_on_signal(handle: ServerHandle) {
    wait_for_signal().await;
    tracing::info!("shutdown signal received; finishing in-flight requests");
    handle.stop(true).await;
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
