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
    fixed_statements_are_prepared_once,
    a_batch_is_decided_and_written_together,
    a_batch_takes_rate_limit_places_in_order
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
    use repositories::gateway::counters::{take_rate, RateLimits, Window};
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
    use repositories::gateway::reservations::{self, Periods, Refusal};
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
            repositories::gateway::ledger::move_balance(c, u.id, "deposit", balance, None, "", now)?;
            let p = repositories::gateway::projects::insert(c, "prj_race", u.id, "Race", "", now)?;
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
            Ok((u.balance, u.reserved, repositories::gateway::ledger::balance_from_entries(c, user)?))
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

/// Eight admissions of one project written as one batch (`admission::admit_all`): decided in
/// arrival order against the money read once (the daily budget refuses the third and the last
/// two), written in a constant number of statements, each ledger entry with the balances after
/// its own movement; then the five settled in two batches (`admission::settle_all`): two with
/// every request executing (one statement on PostgreSQL), then three, one of them released
/// meanwhile.
async fn a_batch_is_decided_and_written_together(t: TestDb) {
    use models::schema::{ai_requests, audit_events, ledger_entries, project_days, project_usage};
    use repositories::gateway::admission::{admit_all, settle_all, Admit, Held, Settle, Settlement};
    use repositories::gateway::counters::RateLimits;
    use repositories::gateway::reservations::Refusal;

    let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(10, 0, 0).unwrap();
    let periods = december_first(500);
    let (user, project) = batch_project(&t, "batch", 1_000, &periods).await;
    let amounts = [100_i64, 100, 450, 100, 100, 100, 100, 100];
    let jobs: Vec<Admit> = amounts
        .iter()
        .enumerate()
        .map(|(i, amount)| admit_job((user, project), i, *amount, &periods, RateLimits::default(), now))
        .collect();
    let ids: Vec<String> = jobs.iter().map(|j| j.request.public_id.clone()).collect();
    let before = t.db.statements();
    let results =
        t.db.run(move |c| {
            let batch: Vec<&Admit> = jobs.iter().collect();
            write_tx(c, |c| admit_all(c, &batch))
        })
        .await
        .unwrap();
    let admitting = t.db.statements() - before;
    let refused: Vec<Option<Held>> = results.iter().map(|r| r.as_ref().err().copied()).collect();
    let daily = Some(Held::Money(Refusal::Daily));
    assert_eq!(refused, vec![None, None, daily, None, None, None, daily, daily]);
    // BEGIN and COMMIT, the money read once and written once, four multi-row inserts, the hour.
    assert!(admitting <= 11, "{admitting} statements for eight admissions");
    let rows: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
    let approved: Vec<&str> = [0, 1, 3, 4, 5].iter().map(|i| ids[*i].as_str()).collect();
    assert_eq!(rows.iter().map(|r| r.public_id.as_str()).collect::<Vec<_>>(), approved);
    let (state, reserves) =
        t.db.run(move |c| {
            let state: (i64, i64) =
                users::table.find(user).select((users::balance, users::reserved)).first(&mut *c)?;
            let reserves: Vec<(Option<String>, i64, i64, i64)> = ledger_entries::table
                .filter(ledger_entries::kind.eq("reserve"))
                .order(ledger_entries::id)
                .select((
                    ledger_entries::reference,
                    ledger_entries::amount,
                    ledger_entries::balance_after,
                    ledger_entries::reserved_after,
                ))
                .load(&mut *c)?;
            Ok((state, reserves))
        })
        .await
        .unwrap();
    assert_eq!(state, (1_000, 500));
    let expected: Vec<(Option<String>, i64, i64, i64)> = [0, 1, 3, 4, 5]
        .iter()
        .enumerate()
        .map(|(n, i)| (Some(ids[*i].clone()), 100, 1_000, 100 * (n as i64 + 1)))
        .collect();
    assert_eq!(reserves, expected);

    // One request released meanwhile; the other four charge 60 of their 100 each.
    let released = rows[2].id;
    let settles: Vec<Settle> = rows
        .iter()
        .map(|r| Settle {
            request: r.clone(),
            charged: 60,
            input_tokens: 3,
            output_tokens: 4,
            latency_ms: Some(5),
            response: Some(models::sql::Json::new(serde_json::json!({}))),
            error: None,
            actual: 60,
            event: request_event(&format!("evt_settle_{}", r.id), "request.executed", &r.public_id, now),
            now,
            hours: ("2026-12-01T10".into(), "2026-11-30T10".into()),
        })
        .collect();
    // Two batches: the first two (every request still executing: on PostgreSQL one statement),
    // then the other three, one of them released meanwhile.
    let mut settles = settles;
    let rest = settles.split_off(2);
    let before = t.db.statements();
    let first =
        t.db.run(move |c| {
            let batch: Vec<&Settle> = settles.iter().collect();
            write_tx(c, |c| settle_all(c, &batch))
        })
        .await
        .unwrap();
    let settling = t.db.statements() - before;
    // BEGIN, the settlement, the view, COMMIT on PostgreSQL.
    let bound = if t.backend() == repositories::Backend::Postgres { 4 } else { 14 + 2 * 2 };
    assert!(settling <= bound, "{settling} statements for two settlements");
    let second =
        t.db.run(move |c| {
            diesel::update(ai_requests::table.find(released))
                .set(ai_requests::status.eq(models::spend::RequestStatus::Failed))
                .execute(&mut *c)?;
            let batch: Vec<&Settle> = rest.iter().collect();
            write_tx(c, |c| settle_all(c, &batch))
        })
        .await
        .unwrap();
    let settled: Vec<_> = first.into_iter().chain(second).collect();
    let kinds: Vec<bool> = settled.iter().map(|(s, _)| matches!(s, Settlement::Settled(Some(_)))).collect();
    assert_eq!(kinds, [true, true, false, true, true]);
    assert!(matches!(settled[2], (Settlement::Released, None)));
    let view = settled[0].1.as_ref().unwrap();
    assert_eq!((view.project.as_str(), view.used_day, view.balance), ("prj_batch", 420, 880));
    let view = settled[4].1.as_ref().unwrap();
    assert_eq!((view.project.as_str(), view.used_day, view.balance), ("prj_batch", 340, 760));
    let (state, entries, used, days, events) =
        t.db.run(move |c| {
            let state: (i64, i64) =
                users::table.find(user).select((users::balance, users::reserved)).first(&mut *c)?;
            let entries: Vec<(String, i64, i64, i64)> = ledger_entries::table
                .filter(ledger_entries::kind.ne("reserve"))
                .order(ledger_entries::id)
                .select((
                    ledger_entries::kind,
                    ledger_entries::amount,
                    ledger_entries::balance_after,
                    ledger_entries::reserved_after,
                ))
                .load(&mut *c)?;
            let used: Vec<i64> = project_usage::table
                .filter(project_usage::project_id.eq(project))
                .order(project_usage::period)
                .select(project_usage::used)
                .load(&mut *c)?;
            let days: (i64, i64) = project_days::table
                .filter(project_days::project_id.eq(project))
                .select((project_days::executed, project_days::charged))
                .first(&mut *c)?;
            let events: i64 = audit_events::table.count().get_result(&mut *c)?;
            Ok((state, entries, used, days, events))
        })
        .await
        .unwrap();
    assert_eq!(state, (760, 100), "four charged 60, the released one's 100 still held");
    let mut expected = Vec::new();
    for n in 1..=4_i64 {
        let after = (1_000 - 60 * n, 500 - 100 * n);
        expected.push(("release".to_string(), -100, after.0, after.1));
        expected.push(("charge".to_string(), -60, after.0, after.1));
    }
    assert_eq!(entries, expected);
    assert_eq!(used, [500 - 4 * 40, 500 - 4 * 40], "the month and the day");
    assert_eq!(days, (4, 240));
    assert_eq!(events, 10 + 4);
}

/// The day and month of 2026-12-01, with `daily` the project's daily limit and 100,000 the
/// monthly one and the platform's daily cap.
fn december_first(daily: i64) -> repositories::gateway::reservations::Periods {
    repositories::gateway::reservations::Periods {
        day: "2026-12-01".into(),
        month: "2026-12".into(),
        daily_limit: daily,
        monthly_limit: 100_000,
        user_daily_limit: 100_000,
    }
}

/// A user with `balance` and a project, both called `name`, with the usage rows of `periods`.
async fn batch_project(
    t: &TestDb,
    name: &str,
    balance: i64,
    periods: &repositories::gateway::reservations::Periods,
) -> (i64, i64) {
    let (name, p) = (name.to_string(), periods.clone());
    t.db.run(move |c| {
        let now = models::time::now();
        let (usr, prj) = (format!("usr_{name}"), format!("prj_{name}"));
        diesel::insert_into(users::table)
            .values(&new_user(&usr, &format!("{name}@example.com")))
            .execute(&mut *c)?;
        let user: i64 = users::table.select(users::id).filter(users::public_id.eq(&usr)).first(&mut *c)?;
        diesel::update(users::table.find(user)).set(users::balance.eq(balance)).execute(&mut *c)?;
        diesel::insert_into(models::schema::projects::table)
            .values((
                models::schema::projects::public_id.eq(&prj),
                models::schema::projects::user_id.eq(user),
                models::schema::projects::name.eq(&name),
                models::schema::projects::description.eq(""),
                models::schema::projects::created_at.eq(now),
                models::schema::projects::updated_at.eq(now),
            ))
            .execute(&mut *c)?;
        let project: i64 = models::schema::projects::table
            .select(models::schema::projects::id)
            .filter(models::schema::projects::public_id.eq(&prj))
            .first(&mut *c)?;
        repositories::gateway::reservations::ensure_periods(c, user, project, &p)?;
        repositories::gateway::counters::ensure_head(c, project)?;
        Ok((user, project))
    })
    .await
    .unwrap()
}

/// An audit event `id` of `action` on request `public_id`, ready to queue.
fn request_event(
    id: &str,
    action: &str,
    public_id: &str,
    now: chrono::NaiveDateTime,
) -> repositories::audit::EventRow {
    repositories::audit::EventRow::from(&models::rows::NewAuditEvent {
        event_id: id,
        occurred_at: now,
        actor_type: "user",
        actor_id: None,
        action,
        subject_type: "request",
        subject_id: Some(public_id),
        request_id: None,
        details: "{}",
        result: "success",
    })
}

/// The `i`th approved admission of `amount` in a batch of the project.
fn admit_job(
    (user, project): (i64, i64),
    i: usize,
    amount: i64,
    periods: &repositories::gateway::reservations::Periods,
    limits: repositories::gateway::counters::RateLimits,
    now: chrono::NaiveDateTime,
) -> repositories::gateway::admission::Admit {
    let public_id = format!("req_{project}_{i}_{}", now.and_utc().timestamp());
    let event = |n: usize| request_event(&format!("evt_{public_id}_{n}"), "request.decided", &public_id, now);
    repositories::gateway::admission::Admit {
        limits,
        request: models::rows_spend::NewAiRequest {
            public_id: public_id.clone(),
            user_id: user,
            project_id: project,
            agent_id: None,
            provider: "local".into(),
            model: "echo".into(),
            operation: "chat".into(),
            status: models::spend::RequestStatus::Executing,
            outcome: models::spend::Outcome::Approved,
            reason: None,
            tier: models::spend::Tier::Flash,
            risk_score: 0.0,
            decision: models::sql::Json::new(serde_json::json!({})),
            body: models::sql::Json::new(serde_json::json!({})),
            estimated: amount,
            day: periods.day.clone(),
            month: periods.month.clone(),
            fingerprint: format!("f{i}"),
            idempotency_key: None,
            created_at: now,
            updated_at: now,
        },
        payment: format!("pay_{public_id}"),
        events: [event(0), event(1)],
        periods: periods.clone(),
        hour: repositories::gateway::counters::hour_key(now),
        now,
    }
}

/// A batch takes rate-limit places as the admissions one by one would: 2 a minute and 3 an hour;
/// five at once get two places, three a minute later get the hour's last one.
async fn a_batch_takes_rate_limit_places_in_order(t: TestDb) {
    use repositories::gateway::admission::{admit_all, Admit, Held};
    use repositories::gateway::counters::{RateLimits, Window};
    let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(10, 0, 0).unwrap();
    let periods = december_first(100_000);
    let owner = batch_project(&t, "ring", 1_000, &periods).await;
    let limits = RateLimits { per_minute: 2, per_hour: 3, per_day: 0 };
    let rate = |w| Some(Held::Rate(w));
    for (at, count, expected) in [
        (0, 5, vec![None, None, rate(Window::Minute), rate(Window::Minute), rate(Window::Minute)]),
        (61, 3, vec![None, rate(Window::Hour), rate(Window::Hour)]),
    ] {
        let at = now + chrono::Duration::seconds(at);
        let jobs: Vec<Admit> = (0..count).map(|i| admit_job(owner, i, 10, &periods, limits, at)).collect();
        let results =
            t.db.run(move |c| {
                let batch: Vec<&Admit> = jobs.iter().collect();
                write_tx(c, |c| admit_all(c, &batch))
            })
            .await
            .unwrap();
        let refused: Vec<Option<Held>> = results.iter().map(|r| r.as_ref().err().copied()).collect();
        assert_eq!(refused, expected);
    }
    // The ring as one admission at a time sees it: the hour is full until 10:59:59.
    let (_, project) = owner;
    let next =
        t.db.run(move |c| {
            let later = now + chrono::Duration::seconds(3_599);
            repositories::gateway::counters::take_rate(c, project, limits, later)
        })
        .await
        .unwrap();
    assert_eq!(next, Some(Window::Hour));
    let reserved: i64 =
        t.db.run(move |c| Ok(users::table.find(owner.0).select(users::reserved).first(&mut *c)?))
            .await
            .unwrap();
    assert_eq!(reserved, 30, "three admitted, ten each");
}

/// SQLite's write-ahead log is checkpointed by the pool's own thread, not by the committing
/// writer: commits leave the log alone (`wal_autocheckpoint` is 0 on the pool's connections),
/// and yet what they wrote reaches the database file within moments.
#[tokio::test]
async fn the_checkpointer_copies_the_log_into_the_database() {
    let t = TestDb::new(repositories::Backend::Sqlite).unwrap();
    let DatabaseTarget::Sqlite(path) = DatabaseTarget::parse(&t.url).unwrap() else { unreachable!() };
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        wal_autocheckpoint: i64,
    }
    let auto: Vec<Setting> =
        t.db.run(|c| Ok(repositories::stmt::Stmt::new("PRAGMA wal_autocheckpoint").load(c)?)).await.unwrap();
    assert_eq!(auto[0].wal_autocheckpoint, 0);
    let before = std::fs::metadata(&path).unwrap().len();
    for w in 0..40 {
        t.db.run(move |c| {
            for i in 0..25 {
                let id = format!("usr_ckpt_{w}_{i}");
                diesel::insert_into(users::table)
                    .values(&new_user(&id, &format!("{w}.{i}.{}@example.com", "x".repeat(200))))
                    .execute(c)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    let mut grown = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        grown = std::fs::metadata(&path).unwrap().len().saturating_sub(before);
        if grown > 100_000 {
            break;
        }
    }
    assert!(grown > 100_000, "the database file grew by {grown} bytes only: nothing was checkpointed");
    // Writers that never stop (each through the writers' queue, as the group commit writes): the
    // log is still copied completely now and then, so that it starts again from its beginning
    // instead of growing with every write (10 MB, 2,500 pages and more, written here).
    for w in 0..100 {
        t.db.run(move |c| {
            write_tx(c, |c| {
                for i in 0..25 {
                    let id = format!("usr_more_{w}_{i}");
                    diesel::insert_into(users::table)
                        .values(&new_user(&id, &format!("{w}.{i}.{}@example.com", "y".repeat(2_000))))
                        .execute(c)?;
                }
                Ok::<_, RepoError>(())
            })
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    #[derive(QueryableByName, Debug)]
    struct Log {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        log: i64,
    }
    // (This checkpoint copies the rest; `log` is how long the log has grown since it started again.)
    let log: Vec<Log> =
        t.db.run(|c| Ok(repositories::stmt::Stmt::new("PRAGMA wal_checkpoint(PASSIVE)").load(c)?))
            .await
            .unwrap();
    assert!(log[0].log < 1_500, "the log holds {} pages: it never started again", log[0].log);
}
