//! Black-box test harness: [`TestApp`] starts the real HTTP application on `127.0.0.1:0` over a
//! private database (SQLite temp file or a fresh PostgreSQL database) and offers one helper per
//! endpoint. [`system_test!`] runs a test body on both backends.

#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod bench;
pub mod spend;

use core_config::{Secret, Settings};
pub use repositories::testing::TestDb;
pub use repositories::Backend;
use reqwest::{Method, Response};
use serde_json::Value;

/// A running application and a client for it.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The private database (dropped with the app).
    pub db: TestDb,
    /// HTTP client.
    pub client: reqwest::Client,
    /// A key of the seeded admin user.
    pub admin_key: String,
    /// The settings the app runs with.
    pub settings: Settings,
    /// Where the local media store writes.
    pub media_dir: tempfile::TempDir,
    _stop: actix_web_handle::Handle,
    /// Dropping it stops the channel workers.
    _workers: tokio::sync::watch::Sender<bool>,
}

/// Keeps the server's stop handle without exposing actix types to tests.
mod actix_web_handle {
    /// Opaque stop handle; dropping it stops the server.
    pub struct Handle(pub(crate) Box<dyn Fn() + Send + Sync>);
    impl std::fmt::Debug for Handle {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Handle")
        }
    }
    impl Drop for Handle {
        fn drop(&mut self) {
            (self.0)();
        }
    }
}

/// Settings for a test server over `url`.
pub fn test_settings(url: &str) -> Settings {
    let mut s = Settings::default();
    s.server.port = 0;
    s.server.workers = 2;
    s.database.url = Secret::new(url);
    s.database.sqlite_create_dir = false;
    // Webhook receivers in tests are loopback fakes.
    s.gateway.webhook_allow_private = true;
    s
}

/// The tests' HTTP client. Its pooled connections are dropped after 10 s idle, well inside the
/// server's keep-alive (`server.keep_alive_secs`), so the client always closes an idle connection
/// first and never sends a request on one the server is closing.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// The application of `settings` over `db` and `ports`, composed as the binary composes it: the
/// services built once, the agent the settings select, the HTTP server bound.
pub fn application(settings: &Settings, db: repositories::Db, ports: services::Ports) -> api::Application {
    compose(settings, db, ports).0
}

/// Like [`application`], also returning the services and the agent it was built with (for the
/// background workers).
pub fn compose(
    settings: &Settings,
    db: repositories::Db,
    ports: services::Ports,
) -> (api::Application, services::Services, services::conversations::SharedAgent) {
    let services = services::Services::build(settings, db, ports).expect("services");
    let agent = agents::from_settings(settings, &services);
    let app = api::Application::build(settings.clone(), services.clone(), agent.clone()).expect("app builds");
    (app, services, agent)
}

impl TestApp {
    /// Starts the app on a fresh database; `None` when PostgreSQL is unavailable and not required.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], with settings adjusted by `tweak`.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Self> {
        let db = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.expect("join")?;
        Some(Self::start(db, tweak).await)
    }

    /// Starts the app over an existing database.
    pub async fn start(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with(db, tweak, |_| {}).await
    }

    /// Like [`TestApp::start`], with the adapters adjusted by `adapt` (e.g. a fake extractor).
    pub async fn start_with(
        db: TestDb,
        tweak: impl FnOnce(&mut Settings),
        adapt: impl FnOnce(&mut services::Ports),
    ) -> Self {
        let media_dir = tempfile::tempdir().expect("media dir");
        let mut settings = test_settings(&db.url);
        settings.media.local_dir = media_dir.path().display().to_string();
        tweak(&mut settings);
        let pool = db.db.clone();
        let mut ports = integrations::ports(&settings).expect("ports");
        adapt(&mut ports);
        let (app, services, agent) = compose(&settings, pool.clone(), ports);
        // As the binary: the channel workers run when WhatsApp is enabled.
        let (stop_workers, stop_rx) = tokio::sync::watch::channel(false);
        if settings.whatsapp.enabled {
            tasks::spawn_channel_workers(services, agent, stop_rx);
        }
        let address = format!("http://127.0.0.1:{}", app.port());
        let server = app.handle();
        tokio::spawn(app.run_until_stopped());
        let admin_key = if repositories::migrations::pending(&mut pool.conn().expect("conn"))
            .map(|p| p.is_empty())
            .unwrap_or(false)
        {
            let (_, _, key) =
                services::keys::create_for_cli(&pool, "Test Admin", "admin@test.local", models::Role::Admin)
                    .await
                    .expect("admin key");
            services::gateway::catalogue::seed(
                &pool,
                services::gateway::catalogue::SEED,
                models::time::now(),
            )
            .await
            .expect("catalogue");
            services::platform::ensure(&pool).await.expect("platform project");
            key
        } else {
            String::new()
        };
        // Stopping waits for the server's workers to finish, so no connection outlives the test.
        let handle = actix_web_handle::Handle(Box::new(move || {
            let server = server.clone();
            let stopper = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(server.stop(false));
                }
            });
            let _ = stopper.join();
        }));
        Self {
            address,
            db,
            client: client(),
            admin_key,
            settings,
            media_dir,
            _stop: handle,
            _workers: stop_workers,
        }
    }

    /// The services over this app's database and settings, with `clock`, built as the binary
    /// builds them.
    pub fn services(&self, clock: std::sync::Arc<dyn services::ports::Clock>) -> services::Services {
        let mut ports = integrations::ports(&self.settings).expect("ports");
        ports.clock = clock;
        services::Services::build(&self.settings, self.db.db.clone(), ports).expect("services")
    }

    /// The booking desk's services over this app's database and rules, with `clock`.
    pub fn desk(&self, clock: std::sync::Arc<dyn services::ports::Clock>) -> services::desk::Desk {
        self.services(clock).desk
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Sends a request with an optional key, JSON body and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.address));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request sent")
    }

    /// `GET path` with a key.
    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.send(Method::GET, path, Some(key), None, &[]).await
    }

    /// `POST path` with a key and JSON body.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.send(Method::POST, path, Some(key), Some(body), &[]).await
    }

    /// `POST path` with raw bytes and headers.
    pub async fn post_raw(&self, path: &str, key: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request sent")
    }

    /// `POST /api/v1/users` as admin; returns the user JSON.
    pub async fn create_user(&self, name: &str, email: &str, role: &str) -> Value {
        let res = self
            .post(
                "/api/v1/users",
                &self.admin_key,
                &serde_json::json!({"name": name, "email": email, "role": role}),
            )
            .await;
        assert_eq!(res.status(), 201, "create user");
        res.json().await.expect("json")
    }

    /// `POST /api/v1/api-keys` with `key`; returns the response JSON (`key` holds the secret).
    pub async fn create_key(&self, key: &str, body: &Value) -> Value {
        let res = self.post("/api/v1/api-keys", key, body).await;
        assert_eq!(res.status(), 201, "create key");
        res.json().await.expect("json")
    }

    /// A user of `role` and a key for them (minted through the service, like the CLI).
    pub async fn user_with_key(&self, role: models::Role) -> String {
        let email =
            format!("{}-{}@test.local", role.as_str(), models::ids::random_crockford(6).to_ascii_lowercase());
        let (_, _, key) =
            services::keys::create_for_cli(&self.db.db, role.as_str(), &email, role).await.expect("user key");
        key
    }

    /// `GET /api/v1/audit?query` as admin; returns the items.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let res = self.get(&format!("/api/v1/audit?{query}"), &self.admin_key).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        body["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Asserts a problem+json response with `status` and `code`; returns the problem.
pub async fn expect_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/problem+json"), "content type {ct}");
    let rid = res.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"], rid.as_str(), "problem carries the request id");
    assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string());
    body
}

/// Runs `async fn name(app: TestApp)` against both backends, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! system_test {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("sqlite app");
                super::$name(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )+};
}
