//! Steward background jobs.
//!
//! The scheduler ([`scheduler`]) runs the registered jobs ([`registry`], adapters in [`jobs`])
//! under leases recorded in `job_runs`. The audit chainer, which links committed audit events into the hash chain
//! every `audit.chain_interval_ms`. It runs in every replica; on PostgreSQL the chain head row is
//! locked `FOR UPDATE` while linking, so replicas take turns and never double-link. The
//! idempotency purge deletes `Idempotency-Key` records past their retention (idempotent; any
//! replica may run it).

pub mod jobs;
pub mod registry;
pub mod scheduler;

use std::time::Duration;

use core_config::AuditSettings;
use repositories::Db;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runs `job` every `every` until `shutdown` turns true. Failures are logged and retried next tick.
fn periodic<F, Fut>(
    name: &'static str,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut job: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, services::ServiceError>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            match job().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(job = name, items = n, "job run"),
                Err(e) => tracing::warn!(job = name, error = %e, "job failed; will retry"),
            }
        }
        tracing::info!(job = name, "job stopped");
    })
}

/// Starts the audit chainer; after shutdown it links what was committed, so nothing waits for
/// the next start.
pub fn spawn_audit_chainer(
    db: Db,
    settings: AuditSettings,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let every = Duration::from_millis(settings.chain_interval_ms);
    let batch = settings.chain_batch_size;
    let job_db = db.clone();
    let job = periodic("audit_chainer", every, shutdown, move || {
        let db = job_db.clone();
        async move { services::audit::link_pending(&db, batch).await }
    });
    tokio::spawn(async move {
        let _ = job.await;
        if let Err(e) = services::audit::link_pending(&db, batch).await {
            tracing::warn!(error = %e, "final audit linking failed");
        }
    })
}

/// How often expired idempotency records are purged.
pub const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Starts the idempotency purge.
pub fn spawn_idempotency_purge(db: Db, every: Duration, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    periodic("idempotency_purge", every, shutdown, move || {
        let db = db.clone();
        async move { services::idempotency::purge_expired(&db).await }
    })
}

/// Starts the scheduler: every `tick` it runs each due job of the [`registry`] whose lease this
/// replica can take, recording the outcome in `job_runs` (`GET /api/v1/admin/jobs`).
pub fn spawn_scheduler(
    services: services::Services,
    tick: Duration,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let owner = replica_id();
    periodic("scheduler", tick, shutdown, move || {
        let services = services.clone();
        let owner = owner.clone();
        async move {
            let now = services.desk.clock.now();
            scheduler::run_due(&services, &owner, now).await.map(|ran| ran.len())
        }
    })
}

/// How often the channel workers look for work without a wake-up.
pub const CHANNEL_TICK: Duration = Duration::from_secs(1);

/// Runs `pass` whenever `wake` fires or `CHANNEL_TICK` passes, until `shutdown`.
fn worker<F, Fut>(
    name: &'static str,
    wake: std::sync::Arc<services::desk::Wake>,
    inbox: bool,
    mut shutdown: watch::Receiver<bool>,
    mut pass: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, services::ServiceError>> + Send,
{
    tokio::spawn(async move {
        loop {
            let notified = if inbox { wake.inbox.notified() } else { wake.outbox.notified() };
            match pass().await {
                // A full pass may have left more: go again at once.
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(worker = name, error = %e, "channel worker pass failed; will retry"),
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(CHANNEL_TICK) => {}
                // A dropped sender means the owner is gone: stop too.
                changed = shutdown.changed() => if changed.is_err() { break },
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!(worker = name, "worker stopped");
    })
}

/// Starts the WhatsApp inbox worker (webhook events → turns, admin commands, statuses) and the
/// outbox worker (outbound channel messages). Both run in every replica: claims keep them from
/// doing anything twice.
pub fn spawn_channel_workers(
    services: services::Services,
    agent: services::conversations::SharedAgent,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let wake = services.desk.wake.clone();
    let inbox_services = services.clone();
    let inbox = worker("whatsapp_inbox", wake.clone(), true, shutdown.clone(), move || {
        let (s, agent) = (inbox_services.clone(), agent.clone());
        async move { services::whatsapp::process_due(&s.desk, agent.as_ref(), s.desk.clock.now()).await }
    });
    let outbox = worker("outbox", wake, false, shutdown, move || {
        let s = services.clone();
        async move { services::outbox::deliver_due(&s.desk, s.desk.clock.now()).await }
    });
    vec![inbox, outbox]
}

/// An id for this process among replicas: host name, process id and a random suffix.
pub fn replica_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "steward".into());
    format!("{host}-{}-{}", std::process::id(), suffix())
}

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:08x}")
}
