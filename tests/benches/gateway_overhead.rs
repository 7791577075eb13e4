//! Gateway overhead (`make bench`): requests per second and latency of `/v1/chat/completions`
//! through Steward (key check, pipeline, reservation, provider call, settlement, audit) versus
//! the same fake OpenAI-compatible upstream called directly, on SQLite and on PostgreSQL.
//!
//! `STEWARD_BENCH_REQUESTS` (default 2000) and `STEWARD_BENCH_CONCURRENCY` (default 16).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::Method;
use serde_json::json;
use system_tests::bench::{env, load, ms};
use system_tests::spend::*;
use system_tests::{Backend, TestApp, TestDb};

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env("STEWARD_BENCH_REQUESTS", 2000);
    let c = env("STEWARD_BENCH_CONCURRENCY", 16);
    let base = upstream().await;
    let body =
        json!({"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "ping"}]});
    // Warm up, then measure the upstream alone.
    let direct_url = format!("{base}/chat/completions");
    load(Method::POST, |_| direct_url.clone(), vec![], Some(body.clone()), 200, c).await;
    let direct = load(Method::POST, |_| direct_url.clone(), vec![], Some(body.clone()), n, c).await;

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
        load(Method::POST, |_| url.clone(), headers.clone(), Some(b.clone()), 200, c).await;
        let run = load(Method::POST, |_| url.clone(), headers, Some(b), n, c).await;
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
