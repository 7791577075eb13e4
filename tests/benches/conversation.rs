//! Guided turns (`make bench`): 8 web chat conversations at once on the demo catalogue, each
//! sending its messages one after another as a guest does (a conversation takes one turn at a
//! time), on SQLite and PostgreSQL, beside two floors measured in the same run at the same
//! concurrency: `GET /healthz` (no database) and `GET /api/v1/chat/session` (the guest's token
//! checked and the conversation read). Target: a turn's p50 ≤ 5 ms and p99 ≤ 20 ms.
//!
//! The script covers the guided agent's common paths without booking (so every round finds the
//! same free places): a greeting, a search with every fact in one message, a property named with a
//! typo, pictures, prices, "my bookings", and starting over.
//!
//! `STEWARD_BENCH_CONVERSATIONS` (default 8), `STEWARD_BENCH_ROUNDS` (25 rounds of the 7-message
//! script per conversation).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use system_tests::bench::{env, load, ms, Run};
use system_tests::{Backend, TestApp, TestDb};

/// One guest's script; `{date}` is replaced by a date a few days ahead.
const SCRIPT: [&str; 7] = [
    "hi",
    "farmhouse, {date}, full night, 12",
    "green valey farm",
    "show me pictures",
    "what is the price",
    "my bookings",
    "start over",
];

async fn session(client: &reqwest::Client, base: &str) -> String {
    let s: Value = client
        .post(format!("{base}/api/v1/chat/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s["token"].as_str().unwrap().to_string()
}

/// Runs `conversations` guests at once, each sending `rounds` times the script, one message
/// after the reply to the previous one.
async fn turns(base: &str, conversations: usize, rounds: usize, date: &str) -> Run {
    let client = reqwest::Client::builder().pool_max_idle_per_host(conversations).build().unwrap();
    let mut tokens = Vec::new();
    for _ in 0..conversations {
        tokens.push(session(&client, base).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (client, url, date) =
                (client.clone(), format!("{base}/api/v1/chat/messages"), date.to_string());
            tokio::spawn(async move {
                let mut out: Vec<(Duration, bool)> = Vec::new();
                for _ in 0..rounds {
                    for line in SCRIPT {
                        let message = line.replace("{date}", &date);
                        let t = Instant::now();
                        let res = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({"message": message}))
                            .send()
                            .await;
                        let ok = match res {
                            Ok(r) if r.status().is_success() => r
                                .json::<Value>()
                                .await
                                .is_ok_and(|v| v["responses"].as_array().is_some_and(|a| !a.is_empty())),
                            _ => false,
                        };
                        out.push((t.elapsed(), ok));
                    }
                }
                out
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.unwrap());
    }
    let total = started.elapsed();
    let mut lat: Vec<Duration> = results.iter().map(|r| r.0).collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Run {
        rps: results.len() as f64 / total.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        errors: results.iter().filter(|r| !r.1).count(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let conversations = env("STEWARD_BENCH_CONVERSATIONS", 8);
    let rounds = env("STEWARD_BENCH_ROUNDS", 25);
    let date = (chrono::Utc::now().date_naive() + chrono::Duration::days(4)).to_string();
    let mut rows: Vec<(String, Run)> = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else {
            eprintln!("{backend:?}: no database, skipped");
            continue;
        };
        let app = TestApp::start(db, |s| s.database.pool_max_size = 16).await;
        services::desk::demo::seed(&app.db.db).await.unwrap();
        let name = if backend == Backend::Sqlite { "SQLite" } else { "PostgreSQL" };
        let base = app.address.clone();
        // Warm up: connections, statement caches, the search cache's first fill.
        turns(&base, conversations, 1, &date).await;
        let n = conversations * rounds * SCRIPT.len();
        let health = format!("{base}/healthz");
        let floor = load(Method::GET, |_| health.clone(), vec![], None, n, conversations).await;
        let client = reqwest::Client::new();
        let token = session(&client, &base).await;
        let auth = vec![("authorization".to_string(), format!("Bearer {token}"))];
        let read_url = format!("{base}/api/v1/chat/session");
        let read = load(Method::GET, |_| read_url.clone(), auth, None, n, conversations).await;
        let run = turns(&base, conversations, rounds, &date).await;
        rows.push((format!("{name}: GET /healthz (floor)"), floor));
        rows.push((format!("{name}: GET /api/v1/chat/session (token + conversation read)"), read));
        rows.push((format!("{name}: POST /api/v1/chat/messages (a guided turn)"), run));
    }
    println!(
        "\nGuided turns: {conversations} conversations at once, {rounds} rounds of a {}-message script each, 2 server workers\n",
        SCRIPT.len()
    );
    println!("| path | requests/s | p50 ms | p99 ms | p50 ≤ 5 ms, p99 ≤ 20 ms | errors |");
    println!("|---|---:|---:|---:|:---:|---:|");
    for (name, r) in &rows {
        let target = if !name.contains("messages") {
            "–"
        } else if r.p50.as_secs_f64() <= 0.005 && r.p99.as_secs_f64() <= 0.020 {
            "yes"
        } else {
            "no"
        };
        println!("| {name} | {:.0} | {} | {} | {target} | {} |", r.rps, ms(r.p50), ms(r.p99), r.errors);
    }
}
