//! The dual-backend pool, migrations, transactions and constraint mapping, on both backends.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use core_config::DatabaseTarget;
use diesel::prelude::*;
use models::rows::NewUser;
use models::schema::users;
use repositories::testing::TestDb;
use repositories::{both_backends, migrations, write_tx, Db, DbOptions, RepoError};

fn new_user<'a>(public_id: &'a str, email: &'a str) -> NewUser<'a> {
    let now = models::time::now();
    NewUser {
        public_id,
        name: "N",
        email,
        role: "member",
        status: "active",
        created_at: now,
        updated_at: now,
    }
}

both_backends!(
    migrations_are_current,
    transactions_roll_back,
    unique_violations_name_the_constraint,
    check_constraints_hold,
    concurrent_writers_wait_instead_of_failing,
    timestamps_round_trip
);

async fn migrations_are_current(t: TestDb) {
    let pending = t.db.run(migrations::pending).await.unwrap();
    assert!(pending.is_empty());
    assert!(t.db.run(migrations::run_pending).await.unwrap().is_empty(), "second run applies nothing");
}

async fn transactions_roll_back(t: TestDb) {
    let r: Result<(), RepoError> =
        t.db.run(|c| {
            write_tx(c, |c| {
                repositories::users::insert(c, &new_user("usr_a", "a@x.com"))?;
                // Nested transaction (savepoint) inside the outer one.
                write_tx(c, |c| repositories::users::insert(c, &new_user("usr_b", "b@x.com")).map(|_| ()))?;
                Err(RepoError::Config("abort".into()))
            })
        })
        .await;
    assert!(r.is_err());
    let n: i64 = t.db.run(|c| Ok(users::table.count().get_result(c)?)).await.unwrap();
    assert_eq!(n, 0);
}

async fn unique_violations_name_the_constraint(t: TestDb) {
    t.db.run(|c| repositories::users::insert(c, &new_user("usr_1", "dup@x.com")).map(|_| ())).await.unwrap();
    let err =
        t.db.run(|c| repositories::users::insert(c, &new_user("usr_2", "dup@x.com")).map(|_| ()))
            .await
            .unwrap_err();
    assert!(err.is_unique("email"), "{err:?}");
    let err = t.db.run(|c| repositories::users::by_public_id(c, "usr_none").map(|_| ())).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound));
}

async fn check_constraints_hold(t: TestDb) {
    let err =
        t.db.run(|c| {
            let now = models::time::now();
            let u = NewUser {
                public_id: "usr_r",
                name: "R",
                email: "r@x.com",
                role: "root",
                status: "active",
                created_at: now,
                updated_at: now,
            };
            repositories::users::insert(c, &u).map(|_| ())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::CheckViolation(_) | RepoError::Database(_)), "{err:?}");
}

async fn concurrent_writers_wait_instead_of_failing(t: TestDb) {
    let mut handles = Vec::new();
    for w in 0..8 {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..25 {
                db.run(move |c| {
                    write_tx(c, |c| {
                        let id = format!("usr_{w}_{i}");
                        let email = format!("{w}.{i}@x.com");
                        repositories::users::insert(c, &new_user(&id, &email)).map(|_| ())
                    })
                })
                .await
                .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let n: i64 = t.db.run(|c| Ok(users::table.count().get_result(c)?)).await.unwrap();
    assert_eq!(n, 200);
}

async fn timestamps_round_trip(t: TestDb) {
    let now = models::time::now();
    let stored =
        t.db.run(move |c| {
            let mut u = new_user("usr_t", "t@x.com");
            u.created_at = now;
            repositories::users::insert(c, &u)
        })
        .await
        .unwrap();
    assert_eq!(stored.created_at, now, "microsecond timestamps survive the database");
}

fn options(url: &str, create_dir: bool) -> DbOptions {
    DbOptions {
        target: DatabaseTarget::parse(url).unwrap(),
        pool_max_size: 2,
        connect_timeout: Duration::from_secs(2),
        sqlite_busy_timeout_ms: 1000,
        sqlite_create_dir: create_dir,
    }
}

#[test]
fn missing_sqlite_directory_is_created_only_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/deeper/steward.db").display());
    let err = Db::connect(&options(&url, false)).unwrap_err();
    assert!(matches!(err, RepoError::Config(_)));
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!dir.path().join("nested").exists());
    Db::connect(&options(&url, true)).unwrap();
    assert!(dir.path().join("nested/deeper").is_dir());
}

#[test]
fn unreachable_postgres_is_a_clear_error() {
    let err = Db::connect(&options("postgres://app:hunter2@127.0.0.1:1/steward", false)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RepoError::Unavailable(_)));
    assert!(
        msg.contains("cannot connect to PostgreSQL at postgres://app:********@127.0.0.1:1/steward"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"));
}

#[test]
fn sqlite_connections_are_configured() {
    let t = TestDb::new(repositories::Backend::Sqlite).unwrap();
    let mut conn = t.db.conn().unwrap();
    #[derive(QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let repositories::DbConnection::Sqlite(c) = &mut *conn else { panic!("sqlite") };
    let mode: Pragma =
        diesel::sql_query("SELECT journal_mode AS v FROM pragma_journal_mode").get_result(c).unwrap();
    assert_eq!(mode.v, "wal");
    let fk: Pragma = diesel::sql_query("SELECT CAST(foreign_keys AS TEXT) AS v FROM pragma_foreign_keys")
        .get_result(c)
        .unwrap();
    assert_eq!(fk.v, "1");
    let busy: Pragma = diesel::sql_query("SELECT CAST(timeout AS TEXT) AS v FROM pragma_busy_timeout")
        .get_result(c)
        .unwrap();
    assert_eq!(busy.v, "15000");
}

both_backends!(expired_idempotency_records_are_purged);

async fn expired_idempotency_records_are_purged(t: TestDb) {
    use models::rows::NewIdempotencyRecord;
    let now = models::time::now();
    let record = move |key: &'static str, expires_at| NewIdempotencyRecord {
        owner: "usr_1",
        idem_key: key,
        method: "POST",
        path: "/x",
        fingerprint: "f",
        state: "in_flight",
        locked_at: now,
        created_at: now,
        expires_at,
    };
    t.db.run(move |c| {
        assert!(repositories::idempotency::claim(c, &record("old", now - chrono::Duration::hours(1)), now)?
            .is_none());
        assert!(repositories::idempotency::claim(c, &record("new", now + chrono::Duration::hours(1)), now)?
            .is_none());
        // A reused expired key is claimed afresh.
        assert!(repositories::idempotency::claim(c, &record("old", now + chrono::Duration::hours(1)), now)?
            .is_none());
        assert!(repositories::idempotency::claim(c, &record("new", now + chrono::Duration::hours(1)), now)?
            .is_some());
        Ok(())
    })
    .await
    .unwrap();
    let later = now + chrono::Duration::hours(2);
    let purged = t.db.run(move |c| repositories::idempotency::purge_expired(c, later)).await.unwrap();
    assert_eq!(purged, 2);
}
