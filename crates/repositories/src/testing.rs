//! Private databases for tests: a temp-file SQLite database, or a fresh PostgreSQL database created
//! from `STEWARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! dropped afterwards. Without a server the PostgreSQL case is skipped (it prints why), unless
//! `STEWARD_REQUIRE_POSTGRES=1`, then it fails.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use core_config::DatabaseTarget;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use rand::Rng;

use crate::{migrations, Backend, Db, DbOptions};

/// Default admin URL of the test PostgreSQL server.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated private database that is removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    /// The pool.
    pub db: Db,
    /// Its URL, for starting the real application against it.
    pub url: String,
    guard: Guard,
}

#[derive(Debug)]
enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

fn options(url: &str) -> DbOptions {
    DbOptions {
        target: DatabaseTarget::parse(url).expect("test url"),
        pool_max_size: 12,
        connect_timeout: Duration::from_secs(10),
        sqlite_busy_timeout_ms: 15_000,
        sqlite_create_dir: false,
    }
}

/// The admin URL of the test PostgreSQL server. Unless the URL says otherwise, tests connect
/// with `sslmode=disable`: the server is on loopback, and libpq's OpenSSL clean-up at process exit
/// can crash a test binary whose threads still hold SSL connections (seen as SIGSEGV after a
/// passing test).
pub fn postgres_admin_url() -> String {
    let url = std::env::var("STEWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    if url.contains("sslmode=") {
        url
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// True when `STEWARD_REQUIRE_POSTGRES=1`.
pub fn postgres_required() -> bool {
    std::env::var("STEWARD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

impl TestDb {
    /// A fresh database of the given backend; `None` when PostgreSQL is unavailable and not required.
    pub fn new(backend: Backend) -> Option<Self> {
        let t = Self::unmigrated(backend)?;
        let mut conn = t.db.conn().expect("test connection");
        migrations::run_pending(&mut conn).expect("migrations apply");
        drop(conn);
        Some(t)
    }

    /// A fresh, empty database without migrations applied.
    pub fn unmigrated(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite_unmigrated()),
            Backend::Postgres => Self::postgres_unmigrated(),
        }
    }

    fn sqlite_unmigrated() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("steward.db").display());
        let db = Db::connect(&options(&url)).expect("sqlite opens");
        Self { db, url, guard: Guard::Sqlite(dir) }
    }

    fn postgres_unmigrated() -> Option<Self> {
        let admin_url = postgres_admin_url();
        let mut admin = match PgConnection::establish(&admin_url) {
            Ok(c) => c,
            Err(e) if !postgres_required() => {
                eprintln!("SKIPPED: PostgreSQL not reachable at {admin_url} ({e}); set STEWARD_REQUIRE_POSTGRES=1 to fail instead");
                return None;
            }
            Err(e) => panic!(
                "PostgreSQL required (STEWARD_REQUIRE_POSTGRES=1) but not reachable at {admin_url}: {e}"
            ),
        };
        let suffix: String = {
            let mut rng = rand::thread_rng();
            (0..16).map(|_| (b'a' + rng.gen_range(0..26)) as char).collect()
        };
        let name = format!("steward_test_{suffix}");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("admin url parses");
        url.set_path(&name);
        let url = url.to_string();
        let db = Db::connect(&options(&url)).expect("postgres test db opens");
        Some(Self { db, url, guard: Guard::Postgres { admin_url, name } })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = &self.guard {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Runs an async test body on both backends: `both_backends!(my_test);` where
/// `async fn my_test(db: TestDb)` generates `my_test::sqlite` and `my_test::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = $crate::testing::TestDb::new($crate::Backend::Sqlite).expect("sqlite");
                super::$name(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::new($crate::Backend::Postgres) {
                    super::$name(db).await;
                }
            }
        }
    )+};
}
