//! What one gateway call costs the database, on both backends: a statement counter on the pool's
//! connections (`Db::statements`) counts the SQL statements of one non-streaming call, which must
//! be the same with no history and with 5,000 earlier requests in the project, and at most
//! [`STATEMENTS_PER_CALL`] (docs/architecture.md explains the budget).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use models::rows_spend::NewAiRequest;
use models::schema::{ai_requests, projects};
use repositories::DbConnection;
use system_tests::spend::{call, open_policy, set_price, spender, Spender, CALL};
use system_tests::{system_test, TestApp};

/// The most statements one approved, executed and settled call may run: on SQLite, and on
/// PostgreSQL (where the admission's write and the settlement's are one statement each).
const STATEMENTS_PER_CALL: u64 = 26;
const STATEMENTS_PER_CALL_POSTGRES: u64 = 10;

/// The statements of one call: the counter before and after, once it has settled (work that
/// finishes after the response is counted too).
async fn statements_of_one_call(app: &TestApp, s: &Spender) -> u64 {
    // The key is read from the database (a key authenticated a moment ago is not).
    app.db.db.key_cache().clear();
    let before = app.db.db.statements();
    assert_eq!(call(app, s).await.status(), 200);
    let mut last = app.db.db.statements();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let now = app.db.db.statements();
        if now == last {
            return now - before;
        }
        last = now;
    }
}

/// `n` executed requests of the spender's project spread over the last 30 days, written
/// directly (the history the decision must not read row by row).
fn history(app: &TestApp, s: &Spender, n: usize) {
    let mut conn = app.db.db.conn().unwrap();
    let (project, user): (i64, i64) = projects::table
        .filter(projects::public_id.eq(&s.project))
        .select((projects::id, projects::user_id))
        .first(&mut **conn)
        .unwrap();
    let now = chrono::Utc::now().naive_utc();
    let rows: Vec<NewAiRequest> = (0..n)
        .map(|i| {
            let at = now - chrono::Duration::minutes(10 + (i as i64 * 30 * 24 * 60) / n as i64);
            NewAiRequest {
                public_id: format!("req_history{i:08}"),
                user_id: user,
                project_id: project,
                agent_id: None,
                provider: "local".into(),
                model: "echo".into(),
                operation: "chat".into(),
                status: models::spend::RequestStatus::Executed,
                outcome: models::spend::Outcome::Approved,
                reason: None,
                tier: models::spend::Tier::Flash,
                risk_score: 0.0,
                decision: models::sql::Json::new(serde_json::json!({})),
                body: models::sql::Json::new(serde_json::json!({})),
                estimated: CALL,
                day: at.format("%Y-%m-%d").to_string(),
                month: at.format("%Y-%m").to_string(),
                fingerprint: String::new(),
                idempotency_key: None,
                created_at: at,
                updated_at: at,
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        match &mut **conn {
            DbConnection::Postgresql(c) => {
                diesel::insert_into(ai_requests::table).values(chunk).execute(c).unwrap();
            }
            DbConnection::Sqlite(c) => {
                diesel::insert_into(ai_requests::table).values(chunk).execute(c).unwrap();
            }
        }
    }
}

async fn one_call_costs_a_constant_number_of_statements(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 10_000 * CALL, open_policy()).await;
    // The first calls pay for what is written once: the key's first use, the period rows.
    for _ in 0..2 {
        assert_eq!(call(&app, &s).await.status(), 200);
    }
    let fresh = statements_of_one_call(&app, &s).await;
    history(&app, &s, 5_000);
    let with_history = statements_of_one_call(&app, &s).await;
    eprintln!("statements per call: {fresh} fresh, {with_history} with 5,000 earlier requests");
    assert_eq!(fresh, with_history, "the history changed the work of a call");
    let most = match app.db.db.backend() {
        repositories::Backend::Sqlite => STATEMENTS_PER_CALL,
        repositories::Backend::Postgres => STATEMENTS_PER_CALL_POSTGRES,
    };
    assert!(fresh <= most, "{fresh} statements, more than {most}");
}

/// 100 concurrent calls against a per-minute limit of 10: exactly 10 run, the rest are refused
/// with 429 and charge nothing.
async fn rate_limits_are_reserved(app: TestApp) {
    set_price(&app, "local", "echo", 100_000);
    let mut policy = open_policy();
    policy["rate_per_minute"] = serde_json::json!(10);
    let s = spender(&app, 1_000 * CALL, policy).await;
    let mut handles = Vec::new();
    for _ in 0..100 {
        let (client, url, key, body) = (
            app.client.clone(),
            format!("{}/api/v1/requests", app.address),
            s.key.clone(),
            system_tests::spend::call_body(&s, "local", "echo"),
        );
        handles.push(tokio::spawn(async move {
            let res = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            let v: serde_json::Value = res.json().await.unwrap();
            (status, v["code"].as_str().or(v["status"].as_str()).unwrap_or("").to_string())
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    let executed = results.iter().filter(|r| r.0 == 200 && r.1 == "executed").count();
    let limited = results.iter().filter(|r| r.0 == 429 && r.1 == "RATE_LIMIT_EXCEEDED").count();
    assert_eq!((executed, limited), (10, 90), "{results:?}");
    assert_eq!(system_tests::spend::money(&app, &s.uid).await, (1_000 * CALL - 10 * CALL, 0));
    system_tests::spend::assert_books(&app, &s.uid).await;
}

system_test!(one_call_costs_a_constant_number_of_statements, rate_limits_are_reserved);
