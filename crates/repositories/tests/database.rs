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
    timestamps_round_trip,
    rate_rings_allow_exactly_the_limit_in_any_window,
    grouped_writes_commit_together_and_fail_alone,
    fixed_statements_are_prepared_once
);

/// 200 grouped writes from 16 tasks on 3 keys: every one that succeeds is committed, every one
/// that fails (a duplicate email, after a first write of its own) leaves nothing, and several
/// share a commit.
async fn grouped_writes_commit_together_and_fail_alone(t: TestDb) {
    // Alone in its batch (nothing else is waiting), a failing part rolls the transaction back.
    let alone =
        t.db.grouped(0, |c| {
            repositories::users::insert(c, &new_user("usr_alone", "alone@x.com"))?;
            repositories::users::insert(c, &new_user("usr_alone_again", "alone@x.com"))?;
            Ok::<_, RepoError>(())
        })
        .await;
    assert!(matches!(alone, Err(RepoError::UniqueViolation { .. })), "{alone:?}");
    let n: i64 = t.db.run(|c| Ok(users::table.count().get_result(c)?)).await.unwrap();
    assert_eq!(n, 0, "the lone part's first write was rolled back");
    let mut handles = Vec::new();
    for w in 0..16u64 {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            let mut failed = 0;
            for i in 0..13 {
                let result = db
                    .grouped(w % 3, move |c| {
                        let id = format!("usr_{w}_{i}");
                        repositories::users::insert(c, &new_user(&id, &format!("{w}.{i}@x.com")))?;
                        if i % 4 == 3 {
                            // A second row whose email is taken: this part fails as a whole.
                            let again = format!("usr_{w}_{i}_again");
                            repositories::users::insert(c, &new_user(&again, &format!("{w}.{i}@x.com")))?;
                        }
                        Ok::<_, RepoError>(())
                    })
                    .await;
                match result {
                    Ok(()) => {}
                    Err(RepoError::UniqueViolation { .. }) => failed += 1,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for h in handles {
        failed += h.await.unwrap();
    }
    assert_eq!(failed, 16 * 3, "i = 3, 7, 11 fail for every task");
    let n: i64 = t.db.run(|c| Ok(users::table.count().get_result(c)?)).await.unwrap();
    assert_eq!(n, 16 * 10, "every part that succeeded is committed, and nothing of those that failed");
    let (batches, writes, _) = t.db.group_commits();
    assert_eq!(writes, 16 * 13 + 1);
    assert!(
        batches < writes,
        "parts should share commits under load ({batches} batches for {writes} writes)"
    );
}

/// The rate ring admits at most N in any window and names the full window: 2 a minute and 3 an
/// hour, on a clock of our own.
async fn rate_rings_allow_exactly_the_limit_in_any_window(t: TestDb) {
    use repositories::counters::{take_rate, RateLimits, Window};
    let project =
        t.db.run(|c| {
            let user: i64 = diesel::insert_into(users::table)
                .values(&new_user("usr_ring", "ring@example.com"))
                .execute(&mut *c)
                .and_then(|_| {
                    users::table.select(users::id).filter(users::public_id.eq("usr_ring")).first(&mut *c)
                })?;
            diesel::insert_into(models::schema::projects::table)
                .values((
                    models::schema::projects::public_id.eq("prj_ring"),
                    models::schema::projects::user_id.eq(user),
                    models::schema::projects::name.eq("Ring"),
                    models::schema::projects::description.eq(""),
                    models::schema::projects::created_at.eq(models::time::now()),
                    models::schema::projects::updated_at.eq(models::time::now()),
                ))
                .execute(&mut *c)?;
            Ok(models::schema::projects::table
                .select(models::schema::projects::id)
                .filter(models::schema::projects::public_id.eq("prj_ring"))
                .first::<i64>(&mut *c)?)
        })
        .await
        .unwrap();
    let limits = RateLimits { per_minute: 2, per_hour: 3, per_day: 0 };
    let t0 = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(10, 0, 0).unwrap();
    let steps: [(i64, Option<Window>); 7] = [
        (0, None),
        (1, None),
        (2, Some(Window::Minute)),
        (59, Some(Window::Minute)),
        (61, None),
        (122, Some(Window::Hour)),
        (3601, None),
    ];
    for (secs, expected) in steps {
        let now = t0 + chrono::Duration::seconds(secs);
        let got =
            t.db.run(move |c| {
                write_tx(c, |c| match take_rate(c, project, limits, now) {
                    // A refusal rolls back, as the gateway's savepoint does.
                    Ok(Some(w)) => Err(RepoError::Config(w.as_str().into())),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                })
            })
            .await;
        let got = match got {
            Ok(()) => None,
            Err(RepoError::Config(w)) => Some(w),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(got.as_deref(), expected.map(Window::as_str), "at +{secs}s");
    }
}

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
    let repositories::DbConnection::Sqlite(c) = &mut **conn else { panic!("sqlite") };
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

mod reservations_race {
    use repositories::reservations::{self, Periods, Refusal};
    use repositories::testing::TestDb;
    use repositories::{both_backends, write_tx, RepoError};

    const AMOUNT: i64 = 1_000_000;

    /// A user with `balance` and a project whose daily limit is `daily`; returns their ids.
    async fn setup(t: &TestDb, balance: i64) -> (i64, i64) {
        t.db.run(move |c| {
            let now = models::time::now();
            let u = repositories::users::insert(
                c,
                &models::rows::NewUser {
                    public_id: "usr_race",
                    name: "Race",
                    email: "race@x.com",
                    role: "member",
                    status: "active",
                    created_at: now,
                    updated_at: now,
                },
            )?;
            repositories::ledger::move_balance(c, u.id, "deposit", balance, None, "", now)?;
            let p = repositories::projects::insert(c, "prj_race", u.id, "Race", "", now)?;
            Ok((u.id, p.id))
        })
        .await
        .unwrap()
    }

    fn periods(daily: i64) -> Periods {
        Periods {
            day: "2026-11-22".into(),
            month: "2026-11".into(),
            daily_limit: daily,
            monthly_limit: i64::MAX / 2,
            user_daily_limit: i64::MAX / 2,
        }
    }

    /// 100 concurrent reservations; returns (granted, refusals).
    async fn race(t: &TestDb, user: i64, project: i64, p: Periods) -> (usize, Vec<Refusal>) {
        let pc = p.clone();
        t.db.run(move |c| reservations::ensure_periods(c, user, project, &pc)).await.unwrap();
        let mut handles = Vec::new();
        for i in 0..100 {
            let (db, p) = (t.db.clone(), p.clone());
            handles.push(tokio::spawn(async move {
                db.run(move |c| {
                    write_tx(c, |c| {
                        match reservations::reserve(
                            c,
                            user,
                            project,
                            &p,
                            AMOUNT,
                            &format!("req_{i}"),
                            models::time::now(),
                        )? {
                            Ok(()) => Ok(None),
                            // Refused: roll back whatever the reservation had taken.
                            Err(r) => Err(RepoError::Config(format!("{r:?}"))),
                        }
                    })
                    .or_else(|e| match e {
                        RepoError::Config(r) => Ok(Some(r)),
                        other => Err(other),
                    })
                })
                .await
                .unwrap()
            }));
        }
        let mut granted = 0;
        let mut refusals = Vec::new();
        for h in handles {
            match h.await.unwrap() {
                None => granted += 1,
                Some(r) => refusals.push(match r.as_str() {
                    "Balance" => Refusal::Balance,
                    "Daily" => Refusal::Daily,
                    _ => Refusal::Monthly,
                }),
            }
        }
        (granted, refusals)
    }

    async fn account(t: &TestDb, user: i64) -> (i64, i64, i64) {
        t.db.run(move |c| {
            let u = repositories::users::by_id(c, user)?;
            Ok((u.balance, u.reserved, repositories::ledger::balance_from_entries(c, user)?))
        })
        .await
        .unwrap()
    }

    both_backends!(
        a_daily_budget_that_fits_ten_grants_exactly_ten,
        a_balance_that_fits_ten_grants_exactly_ten
    );

    async fn a_daily_budget_that_fits_ten_grants_exactly_ten(t: TestDb) {
        let (user, project) = setup(&t, 1_000 * AMOUNT).await;
        let (granted, refusals) = race(&t, user, project, periods(10 * AMOUNT)).await;
        assert_eq!(granted, 10);
        assert!(refusals.iter().all(|r| *r == Refusal::Daily), "{refusals:?}");
        let used = t.db.run(move |c| reservations::used(c, project, "2026-11-22")).await.unwrap();
        assert_eq!(used, 10 * AMOUNT);
        let (balance, reserved, ledger_sum) = account(&t, user).await;
        assert_eq!((balance, reserved, ledger_sum), (1_000 * AMOUNT, 10 * AMOUNT, 1_000 * AMOUNT));
        // Settle one at 40 % (charge and release the rest) and one as failed (release all).
        let p = periods(10 * AMOUNT);
        t.db.run(move |c| {
            write_tx(c, |c| {
                reservations::settle(
                    c,
                    user,
                    project,
                    &p,
                    AMOUNT,
                    AMOUNT * 4 / 10,
                    "req_a",
                    models::time::now(),
                )
            })?;
            write_tx(c, |c| {
                reservations::settle(c, user, project, &p, AMOUNT, 0, "req_b", models::time::now())
            })
        })
        .await
        .unwrap();
        let (balance, reserved, ledger_sum) = account(&t, user).await;
        assert_eq!(balance, 1_000 * AMOUNT - AMOUNT * 4 / 10, "charged the actual cost only");
        assert_eq!(reserved, 8 * AMOUNT);
        assert_eq!(ledger_sum, balance, "the ledger sums to the balance");
        let used = t.db.run(move |c| reservations::used(c, project, "2026-11-22")).await.unwrap();
        assert_eq!(used, 8 * AMOUNT + AMOUNT * 4 / 10, "unused amounts return to the budget");
        // A reservation cannot be settled twice past what is held.
        let p = periods(10 * AMOUNT);
        let err =
            t.db.run(move |c| {
                write_tx(c, |c| {
                    reservations::settle(c, user, project, &p, 100 * AMOUNT, 0, "req_x", models::time::now())
                })
            })
            .await;
        assert!(err.is_err());
    }

    async fn a_balance_that_fits_ten_grants_exactly_ten(t: TestDb) {
        let (user, project) = setup(&t, 10 * AMOUNT).await;
        let (granted, refusals) = race(&t, user, project, periods(1_000 * AMOUNT)).await;
        assert_eq!(granted, 10);
        assert!(refusals.iter().all(|r| *r == Refusal::Balance), "{refusals:?}");
        let (balance, reserved, ledger_sum) = account(&t, user).await;
        assert_eq!((balance, reserved, ledger_sum), (10 * AMOUNT, 10 * AMOUNT, 10 * AMOUNT));
        let used = t.db.run(move |c| reservations::used(c, project, "2026-11-22")).await.unwrap();
        assert_eq!(used, 10 * AMOUNT, "refused reservations left no usage behind");
    }
}

/// A [`Stmt`] is prepared on a connection's first use and reused after (diesel re-prepares an
/// `UPDATE` or a `sql_query` every time); its binds and rows read back right.
async fn fixed_statements_are_prepared_once(t: TestDb) {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use repositories::stmt::Stmt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        t: Option<String>,
    }
    fn counter(prepared: &Arc<AtomicUsize>) -> impl Instrumentation {
        let prepared = prepared.clone();
        move |e: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { .. } = e {
                prepared.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let mut conn = t.db.conn().unwrap();
    let prepared = Arc::new(AtomicUsize::new(0));
    match &mut **conn {
        repositories::DbConnection::Postgresql(c) => c.set_instrumentation(counter(&prepared)),
        repositories::DbConnection::Sqlite(c) => c.set_instrumentation(counter(&prepared)),
    }
    diesel::insert_into(users::table)
        .values(&new_user("usr_stmt", "stmt@example.com"))
        .execute(&mut **conn)
        .unwrap();
    // (Diesel caches that insert on SQLite but not on PostgreSQL.)
    let before = prepared.load(Ordering::Relaxed);
    for i in 0..3_i64 {
        let n = Stmt::new("UPDATE users SET name = ? WHERE public_id = ? AND id > ?")
            .text(format!("name {i}"))
            .text("usr_stmt")
            .int(-1)
            .execute(&mut conn)
            .unwrap();
        assert_eq!(n, 1);
        let rows: Vec<Row> = Stmt::new("SELECT CAST(? AS BIGINT) + 1 AS n, CAST(? AS TEXT) AS t")
            .int(41 + i)
            .maybe_text(if i == 0 { None } else { Some("x") })
            .load(&mut conn)
            .unwrap();
        assert_eq!((rows[0].n, rows[0].t.is_some()), (42 + i, i > 0));
    }
    // Two texts, each prepared once; a `sql_query` is never cached.
    assert_eq!(prepared.load(Ordering::Relaxed) - before, 2);
    for _ in 0..2 {
        match &mut **conn {
            repositories::DbConnection::Postgresql(c) => diesel::sql_query("SELECT 1").execute(c).unwrap(),
            repositories::DbConnection::Sqlite(c) => diesel::sql_query("SELECT 1").execute(c).unwrap(),
        };
    }
    assert_eq!(prepared.load(Ordering::Relaxed) - before, 2);
    let name: String =
        users::table.filter(users::public_id.eq("usr_stmt")).select(users::name).first(&mut **conn).unwrap();
    assert_eq!(name, "name 2");
}
