//! The load generator of `make bench`: `n` requests, `concurrency` at a time, on one pooled
//! client; latency percentiles and throughput.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

/// One measured run.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Requests that failed or answered a non-2xx status.
    pub errors: usize,
}

/// Sends `n` requests (`concurrency` in flight), each with `headers` and, if given, a JSON `body`;
/// `url_of(i)` names the URL of request `i`.
pub async fn load(
    method: Method,
    url_of: impl Fn(usize) -> String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    n: usize,
    concurrency: usize,
) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .pool_idle_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (client, url, headers, body, method) =
                (client.clone(), url_of(i), headers.clone(), body.clone(), method.clone());
            async move {
                let t = Instant::now();
                let mut req = client.request(method, url);
                if let Some(b) = &body {
                    req = req.json(b);
                }
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

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A count from the environment, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
