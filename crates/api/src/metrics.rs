//! Prometheus instruments: HTTP requests by route and status, latency, and the pool gauges.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use repositories::Db;

/// The registry and its instruments.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    statements: prometheus::IntCounter,
    group_batches: prometheus::IntCounter,
    group_writes: prometheus::IntCounter,
    group_micros: prometheus::IntCounter,
    batched: IntCounterVec,
    webhook_latency: HistogramVec,
    webhook_events: IntCounterVec,
    inbox_backlog: IntGauge,
    inbox_lag: prometheus::Gauge,
    outbound: prometheus::IntGaugeVec,
}

impl Metrics {
    /// Registers every instrument.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("steward".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route template and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route template",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        let pool_max = IntGauge::new("db_pool_max_connections", "Largest database pool size")?;
        let group_batches = prometheus::IntCounter::new(
            "db_group_commits_total",
            "Group commits of the gateway's writes (one transaction each)",
        )?;
        let group_writes = prometheus::IntCounter::new(
            "db_group_commit_writes_total",
            "Writes committed in group commits (divided by the commits: the average batch)",
        )?;
        let group_micros = prometheus::IntCounter::new(
            "db_group_commit_microseconds_total",
            "Time the group-commit writers spent running and committing batches",
        )?;
        let batched = IntCounterVec::new(
            Opts::new(
                "db_batched_writes_total",
                "The gateway's admissions and settlements in batches of two or more: written together, \
                 or one by one after their batch's part failed",
            ),
            &["how"],
        )?;
        let statements = prometheus::IntCounter::new(
            "db_statements_total",
            "SQL statements run on the pool's connections",
        )?;
        let webhook_latency = HistogramVec::new(
            HistogramOpts::new(
                "whatsapp_webhook_duration_seconds",
                "WhatsApp webhook: check, store and answer",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
            &["channel"],
        )?;
        let webhook_events = IntCounterVec::new(
            Opts::new(
                "whatsapp_webhook_events_total",
                "WhatsApp webhook events stored (redeliveries not counted)",
            ),
            &["channel"],
        )?;
        let inbox_backlog =
            IntGauge::new("whatsapp_inbox_backlog", "WhatsApp webhook events not processed yet")?;
        let inbox_lag = prometheus::Gauge::new(
            "whatsapp_inbox_lag_seconds",
            "Age of the oldest unprocessed WhatsApp webhook event (0 when none)",
        )?;
        let outbound = prometheus::IntGaugeVec::new(
            Opts::new(
                "whatsapp_outbound_messages",
                "Outbound WhatsApp messages by delivery status (the outbox's results)",
            ),
            &["status"],
        )?;
        registry.register(Box::new(inbox_backlog.clone()))?;
        registry.register(Box::new(inbox_lag.clone()))?;
        registry.register(Box::new(outbound.clone()))?;
        registry.register(Box::new(webhook_latency.clone()))?;
        registry.register(Box::new(webhook_events.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(statements.clone()))?;
        registry.register(Box::new(group_batches.clone()))?;
        registry.register(Box::new(group_writes.clone()))?;
        registry.register(Box::new(group_micros.clone()))?;
        registry.register(Box::new(batched.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            pool_max,
            statements,
            group_batches,
            group_writes,
            group_micros,
            batched,
            webhook_latency,
            webhook_events,
            inbox_backlog,
            inbox_lag,
            outbound,
        })
    }

    /// Counts one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(elapsed.as_secs_f64());
    }

    /// Counts one WhatsApp webhook call that stored `events` new events.
    pub fn whatsapp_webhook(&self, elapsed: Duration, events: usize) {
        self.webhook_latency.with_label_values(&["whatsapp"]).observe(elapsed.as_secs_f64());
        self.webhook_events.with_label_values(&["whatsapp"]).inc_by(events as u64);
    }

    /// Sets the WhatsApp channel's gauges from its state read now.
    pub fn whatsapp_state(&self, h: &services::whatsapp::ChannelHealth, now: chrono::NaiveDateTime) {
        self.inbox_backlog.set(h.inbox_backlog);
        let lag =
            h.oldest_waiting.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0).unwrap_or(0.0);
        self.inbox_lag.set(lag);
        for (status, n) in &h.outbound {
            self.outbound.with_label_values(&[status.as_str()]).set(*n);
        }
    }

    /// The text exposition, with pool gauges read now.
    pub fn render(&self, db: &Db) -> String {
        let (connections, idle) = db.pool_state();
        self.pool_connections.set(i64::from(connections));
        self.pool_idle.set(i64::from(idle));
        self.pool_max.set(i64::from(db.pool_max_size()));
        self.statements.inc_by(db.statements().saturating_sub(self.statements.get()));
        let (batches, writes, micros) = db.group_commits();
        self.group_micros.inc_by(micros.saturating_sub(self.group_micros.get()));
        self.group_batches.inc_by(batches.saturating_sub(self.group_batches.get()));
        self.group_writes.inc_by(writes.saturating_sub(self.group_writes.get()));
        let (together, one_by_one) = db.batched();
        for (how, n) in [("together", together), ("one_by_one", one_by_one)] {
            let counter = self.batched.with_label_values(&[how]);
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        let mut buf = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
