//! Group commit: the write transactions of many callers committed as one.
//!
//! A caller hands [`Db::grouped`](crate::Db::grouped) a closure; a writer thread (a *lane*)
//! collects whatever closures are waiting, opens one write transaction, runs each in a savepoint
//! of its own (a closure alone in its batch runs directly in the transaction) and commits once. A closure that fails rolls back to its savepoint and only its
//! caller sees the error; a commit that fails fails every caller of the batch. Results reach the
//! callers only after the commit, so a caller never acts on a write that may yet be lost.
//!
//! Under load the batch grows by itself (the closures that arrived while the previous batch
//! committed), so the lock, the commit (and on PostgreSQL its `fsync`) and the rows every call of
//! a project touches are paid once per batch; at one caller a batch is one closure and nothing
//! waits. SQLite has one lane (it allows one writer anyway); PostgreSQL has several, and a
//! caller's key (the gateway uses the owner's user id) picks its lane, so that calls that would
//! wait on the same rows queue in memory rather than on row locks.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use crate::pool::{write_tx, ConnectionManager, DbConnection};
use crate::RepoError;

/// What a closure's caller is told once the batch's commit is known.
pub(crate) type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Where a caller's work runs.
pub(crate) enum Slot<'a> {
    /// In a batch with others: in a savepoint of its own, which the batch sets before and rolls
    /// back to should the work fail.
    Shared(&'a mut DbConnection),
    /// Alone in its batch: directly in the transaction (which its failure rolls back), saving
    /// the savepoint's two statements.
    Alone(&'a mut DbConnection),
    /// There is no connection, for this reason.
    Missing(String),
}

/// A caller's work: runs in its [`Slot`] and returns how to deliver its result, and whether it
/// succeeded.
pub(crate) type Job = Box<dyn FnOnce(Slot<'_>) -> (Deliver, bool) + Send>;

/// The most closures one batch takes (a bound on how long one commit keeps the others waiting).
const MAX_BATCH: usize = 64;

/// The lanes of one database.
#[derive(Debug)]
pub(crate) struct Lanes {
    senders: Vec<mpsc::Sender<Job>>,
    /// `(batches committed or failed, writes in them, microseconds spent)`, for the metrics.
    counts: Arc<(AtomicU64, AtomicU64, AtomicU64)>,
}

impl Lanes {
    /// Starts `count` writer threads over `pool`; they end when the last [`Lanes`] handle is
    /// dropped.
    pub(crate) fn start(pool: &r2d2::Pool<ConnectionManager>, count: usize, checkout: Duration) -> Self {
        let counts: Arc<(AtomicU64, AtomicU64, AtomicU64)> = Arc::default();
        let senders = (0..count.max(1))
            .map(|n| {
                let (tx, rx) = mpsc::channel::<Job>();
                let (pool, counts) = (pool.clone(), counts.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("steward-commit-{n}"))
                    .spawn(move || lane(&pool, &rx, checkout, &counts));
                if let Err(e) = spawned {
                    // Without its thread the lane's receiver is gone: submissions fail cleanly.
                    tracing::error!(error = %e, "cannot start a group-commit writer");
                }
                tx
            })
            .collect();
        Self { senders, counts }
    }

    /// `(batches, writes, microseconds)` so far: writes per batch is the average batch, and
    /// the time is what the lanes spent running and committing them.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let c = &self.counts;
        (c.0.load(Ordering::Relaxed), c.1.load(Ordering::Relaxed), c.2.load(Ordering::Relaxed))
    }

    /// Queues `job` on the lane of `key`.
    pub(crate) fn submit(&self, key: u64, job: Job) -> Result<(), RepoError> {
        let lane = (key % self.senders.len() as u64) as usize;
        self.senders[lane]
            .send(job)
            .map_err(|_| RepoError::Unavailable("the database writer has stopped".into()))
    }
}

fn lane(
    pool: &r2d2::Pool<ConnectionManager>,
    rx: &mpsc::Receiver<Job>,
    checkout: Duration,
    counts: &(AtomicU64, AtomicU64, AtomicU64),
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        counts.0.fetch_add(1, Ordering::Relaxed);
        counts.1.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        let started = std::time::Instant::now();
        run_batch(pool, jobs, checkout);
        counts.2.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// Runs one batch in one write transaction and tells every caller how it ended.
fn run_batch(pool: &r2d2::Pool<ConnectionManager>, jobs: Vec<Job>, checkout: Duration) {
    let mut conn = match pool.get_timeout(checkout) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("database unavailable: {e}");
            for job in jobs {
                job(Slot::Missing(why.clone())).0(Err(why.clone()));
            }
            return;
        }
    };
    let mut delivers: Vec<Deliver> = Vec::with_capacity(jobs.len());
    // A panic in a caller's closure fails the whole batch: the callers whose results were not
    // delivered see their channel closed, and the connection is not reused.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
        write_tx(&mut conn, |c| {
            let alone = jobs.len() == 1;
            let mut failed = false;
            for (i, job) in jobs.into_iter().enumerate() {
                if !alone {
                    // One round trip per part: the previous part's savepoint released and this
                    // part's set (the commit releases the last).
                    c.batch_execute(if i == 0 {
                        "SAVEPOINT part"
                    } else {
                        "RELEASE SAVEPOINT part; SAVEPOINT part"
                    })?;
                }
                let (deliver, ok) = job(if alone { Slot::Alone(&mut *c) } else { Slot::Shared(&mut *c) });
                delivers.push(deliver);
                if !ok {
                    failed = true;
                    if !alone {
                        c.batch_execute("ROLLBACK TO SAVEPOINT part")?;
                    }
                }
            }
            // A batch of one is an ordinary transaction: its failure rolls it back.
            if alone && failed {
                Err(diesel::result::Error::RollbackTransaction)
            } else {
                Ok(())
            }
        })
    }));
    let outcome = match ran {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let e = RepoError::from(e);
            if matches!(e, RepoError::Unavailable(_)) {
                conn.mark_broken();
            }
            Err(e.to_string())
        }
        Err(_) => {
            conn.mark_broken();
            tracing::error!("a grouped write panicked; its batch was rolled back");
            Err("a write in the same batch failed".into())
        }
    };
    drop(conn);
    for deliver in delivers {
        deliver(outcome.clone());
    }
}
