//! Gateway overhead (`make bench`): requests per second and latency of `/v1/chat/completions`
//! through Steward (key check, pipeline, reservation, provider call, settlement, audit) versus
//! the same fake OpenAI-compatible upstream called directly, on SQLite and on PostgreSQL.
//!
//! `STEWARD_BENCH_REQUESTS` (default 2000) and `STEWARD_BENCH_CONCURRENCY` (default 16).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde_json::{json, Value};
use system_tests::spend::*;
use system_tests::{Backend, TestApp, TestDb};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A minimal OpenAI-compatible upstream answering every chat completion at once.
async fn upstream() -> String {
    let answer = json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    });
    let server = HttpServer::new(move || {
        let answer = answer.clone();
        App::new().route(
            "/v1/chat/completions",
            web::post().to(move || {
                let answer = answer.clone();
                async move { HttpResponse::Ok().json(answer) }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    format!("http://127.0.0.1:{port}/v1")
}

struct Run {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

async fn load(url: String, headers: Vec<(String, String)>, body: Value, n: usize, concurrency: usize) -> Run {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = futures_util::stream::iter(0..n)
        .map(|_| {
            let (client, url, headers, body) = (client.clone(), url.clone(), headers.clone(), body.clone());
            async move {
                let t = Instant::now();
                let mut req = client.post(url).json(&body);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                let ok = match req.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let total = started.elapsed();
    let mut lat: Vec<Duration> = results.iter().map(|r| r.0).collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Run {
        rps: n as f64 / total.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        errors: results.iter().filter(|r| !r.1).count(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env("STEWARD_BENCH_REQUESTS", 2000);
    let c = env("STEWARD_BENCH_CONCURRENCY", 16);
    let base = upstream().await;
    let body =
        json!({"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "ping"}]});
    // Warm up, then measure the upstream alone.
    load(format!("{base}/chat/completions"), vec![], body.clone(), 200, c).await;
    let direct = load(format!("{base}/chat/completions"), vec![], body.clone(), n, c).await;

    let mut rows = vec![("upstream directly".to_string(), direct)];
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else {
            eprintln!("{backend:?}: no database, skipped");
            continue;
        };
        let upstream_base = base.clone();
        let app = TestApp::start_with(
            db,
            |s| s.database.pool_max_size = 16,
            move |a| {
                let up = integrations::providers::Upstream::new(
                    "openai",
                    &upstream_base,
                    Some("bench".into()),
                    Duration::from_secs(30),
                    0,
                    Duration::from_millis(1),
                )
                .unwrap();
                a.providers.push(Arc::new(integrations::providers::OpenAiCompatible::new(up)));
            },
        )
        .await;
        let mut policy = open_policy();
        policy["allowed_providers"] = json!(["openai"]);
        policy["allowed_models"] = json!(["openai/gpt-4o-mini"]);
        policy["rate_per_minute"] = json!(1_000_000);
        policy["rate_per_hour"] = json!(1_000_000);
        policy["rate_per_day"] = json!(1_000_000);
        let s = spender(&app, 1_000_000_000, policy).await;
        put_budget(&app, &s, 10_000_000, 1_000_000_000, 10_000_000_000).await;
        let mut b = body.clone();
        b["model"] = json!("openai/gpt-4o-mini");
        let headers = vec![
            ("authorization".to_string(), format!("Bearer {}", s.key)),
            ("x-steward-project".to_string(), s.project.clone()),
        ];
        let url = format!("{}/v1/chat/completions", app.address);
        load(url.clone(), headers.clone(), b.clone(), 200, c).await;
        let run = load(url, headers, b, n, c).await;
        rows.push((
            format!("through Steward ({})", if backend == Backend::Sqlite { "SQLite" } else { "PostgreSQL" }),
            run,
        ));
    }

    println!("\n/v1/chat/completions, {n} requests, {c} concurrent, 2 server workers\n");
    println!("| path | requests/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (d50, d99) = (rows[0].1.p50, rows[0].1.p99);
    for (name, r) in &rows {
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} | {} |",
            r.rps,
            ms(r.p50),
            ms(r.p99),
            ms(r.p50.saturating_sub(d50)),
            ms(r.p99.saturating_sub(d99)),
            r.errors
        );
    }
}
