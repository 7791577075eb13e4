//! Steward background jobs.
//!
//! Two jobs so far. The audit chainer, which links committed audit events into the hash chain
//! every `audit.chain_interval_ms`. It runs in every replica; on PostgreSQL the chain head row is
//! locked `FOR UPDATE` while linking, so replicas take turns and never double-link. The
//! idempotency purge deletes `Idempotency-Key` records past their retention (idempotent; any
//! replica may run it).

use std::time::Duration;

use core_config::AuditSettings;
use repositories::Db;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts the audit chainer; it stops after its current batch when `shutdown` turns true.
pub fn spawn_audit_chainer(
    db: Db,
    settings: AuditSettings,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(settings.chain_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            match services::audit::link_pending(&db, settings.chain_batch_size).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(linked = n, "audit events linked"),
                Err(e) => tracing::warn!(error = %e, "audit chainer failed; will retry"),
            }
        }
        // Link what was committed before shutdown, so nothing waits for the next start.
        if let Err(e) = services::audit::link_pending(&db, settings.chain_batch_size).await {
            tracing::warn!(error = %e, "final audit linking failed");
        }
        tracing::info!("audit chainer stopped");
    })
}

/// How often expired idempotency records are purged.
pub const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Starts the idempotency purge; it stops when `shutdown` turns true.
pub fn spawn_idempotency_purge(
    db: Db,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
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
            match services::idempotency::purge_expired(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired idempotency records deleted"),
                Err(e) => tracing::warn!(error = %e, "idempotency purge failed; will retry"),
            }
        }
    })
}
