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

use models::rows_spend::AiRequest;

use crate::gateway::admission::{Admit, Held, Settle, SettleResult};
use crate::pool::{write_tx, ConnectionManager, DbConnection, PooledConnection};
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

/// How long a lane keeps its connection without work.
const LANE_IDLE: Duration = Duration::from_secs(1);

/// The most closures one batch takes (a bound on how long one commit keeps the others waiting).
const MAX_BATCH: usize = 64;

/// The lanes of one database.
#[derive(Debug)]
pub(crate) struct Lanes {
    senders: Vec<mpsc::Sender<Work>>,
    /// What the lanes did, for the metrics.
    counts: Arc<Counts>,
}

/// What the lanes did.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Batches committed or failed.
    batches: AtomicU64,
    /// Writes in them.
    writes: AtomicU64,
    /// Microseconds spent running and committing them.
    micros: AtomicU64,
    /// Admissions and settlements written together with their batch's others.
    together: AtomicU64,
    /// Admissions and settlements written call by call after their batch's part failed.
    one_by_one: AtomicU64,
}

impl Lanes {
    /// Starts `count` writer threads over `pool`; they end when the last [`Lanes`] handle is
    /// dropped.
    pub(crate) fn start(pool: &r2d2::Pool<ConnectionManager>, count: usize, checkout: Duration) -> Self {
        let counts: Arc<Counts> = Arc::default();
        let senders = (0..count.max(1))
            .map(|n| {
                let (tx, rx) = mpsc::channel::<Work>();
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
        (
            c.batches.load(Ordering::Relaxed),
            c.writes.load(Ordering::Relaxed),
            c.micros.load(Ordering::Relaxed),
        )
    }

    /// `(written together, written call by call after their batch's part failed)`: the
    /// admissions and settlements of batches of two or more.
    pub(crate) fn together(&self) -> (u64, u64) {
        let c = &self.counts;
        (c.together.load(Ordering::Relaxed), c.one_by_one.load(Ordering::Relaxed))
    }

    /// Queues `work` on the lane of `key`.
    pub(crate) fn submit(&self, key: u64, work: Work) -> Result<(), RepoError> {
        let lane = (key % self.senders.len() as u64) as usize;
        self.senders[lane]
            .send(work)
            .map_err(|_| RepoError::Unavailable("the database writer has stopped".into()))
    }
}

fn lane(
    pool: &r2d2::Pool<ConnectionManager>,
    rx: &mpsc::Receiver<Work>,
    checkout: Duration,
    counts: &Counts,
) {
    // The lane keeps its connection from batch to batch (its prepared statements, the batches'
    // multi-row ones among them, stay on that one connection), and returns it to the pool once
    // idle for a second or after a failed batch.
    let mut held: Option<PooledConnection> = None;
    loop {
        let first = match rx.recv_timeout(LANE_IDLE) {
            Ok(work) => work,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                held = None;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts.writes.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        let started = std::time::Instant::now();
        run_batch(pool, &mut held, jobs, checkout, counts);
        counts.micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// A typed write's reply: its result, sent once the batch's commit is known.
pub(crate) type Reply<T> = tokio::sync::oneshot::Sender<Result<T, RepoError>>;

/// What a lane is handed: a closure, or one of the gateway's hot writes, which a batch writes
/// together (`admission::admit_all`, `admission::settle_all`).
pub(crate) enum Work {
    /// Any write, in a part of its own.
    Each(Job),
    /// An approved admission.
    Admit(Box<Admit>, Reply<Result<AiRequest, Held>>),
    /// An answered call's settlement.
    Settle(Box<Settle>, Reply<SettleResult>),
}

/// From this many admissions (or settlements) in a batch on, they are written together.
const TOGETHER_FROM: usize = 2;

/// The parts of one batch: each in a savepoint of its own, unless the batch has one part.
struct Parts {
    started: usize,
    alone: bool,
}

impl Parts {
    /// Starts a part: one round trip (the previous part's savepoint released and this one's set;
    /// the commit releases the last).
    fn begin(&mut self, c: &mut DbConnection) -> diesel::QueryResult<()> {
        if !self.alone {
            c.batch_execute(if self.started == 0 {
                "SAVEPOINT part"
            } else {
                "RELEASE SAVEPOINT part; SAVEPOINT part"
            })?;
        }
        self.started += 1;
        Ok(())
    }

    /// Undoes the current part; `false` when the batch is the part (its transaction rolls back).
    fn undo(&self, c: &mut DbConnection) -> diesel::QueryResult<bool> {
        if self.alone {
            return Ok(false);
        }
        c.batch_execute("ROLLBACK TO SAVEPOINT part")?;
        Ok(true)
    }
}

/// Writes one kind of a batch's typed writes: together (`together`, from [`TOGETHER_FROM`] of
/// them, in one part), or, alone or when that part failed, each in a part of its own (`one`,
/// whose result `ok` tells a success from a failure to undo). Returns the results in order, and
/// whether the transaction may commit (false: a batch of one part failed).
fn write_kind<J, T>(
    c: &mut DbConnection,
    parts: &mut Parts,
    batch: &[&J],
    together: fn(&mut DbConnection, &[&J]) -> Result<Vec<T>, RepoError>,
    one: fn(&J, &mut DbConnection) -> Result<T, RepoError>,
    ok: impl Fn(&Result<T, RepoError>) -> bool,
    counts: &Counts,
) -> diesel::QueryResult<(Vec<Result<T, RepoError>>, bool)> {
    if batch.len() >= TOGETHER_FROM {
        parts.begin(c)?;
        match together(c, batch) {
            Ok(results) => {
                counts.together.fetch_add(batch.len() as u64, Ordering::Relaxed);
                return Ok((results.into_iter().map(Ok).collect(), true));
            }
            Err(e) => {
                tracing::debug!(error = %e, "a batch's writes are written one by one");
                counts.one_by_one.fetch_add(batch.len() as u64, Ordering::Relaxed);
                parts.undo(c)?;
            }
        }
    }
    let mut results = Vec::with_capacity(batch.len());
    let mut commit = true;
    for j in batch {
        parts.begin(c)?;
        let result = one(j, c);
        if !ok(&result) && !parts.undo(c)? {
            commit = false;
        }
        results.push(result);
    }
    Ok((results, commit))
}

/// Runs one batch in one write transaction and tells every caller how it ended.
fn run_batch(
    pool: &r2d2::Pool<ConnectionManager>,
    held: &mut Option<PooledConnection>,
    works: Vec<Work>,
    checkout: Duration,
    counts: &Counts,
) {
    let total = works.len();
    let (mut jobs, mut admits, mut settles) = (Vec::new(), Vec::new(), Vec::new());
    for work in works {
        match work {
            Work::Each(job) => jobs.push(job),
            Work::Admit(a, reply) => admits.push((a, reply)),
            Work::Settle(s, reply) => settles.push((s, reply)),
        }
    }
    let got = match held.take() {
        Some(c) => Ok(c),
        None => pool.get_timeout(checkout),
    };
    let mut conn = match got {
        Ok(c) => c,
        Err(e) => {
            let why = format!("database unavailable: {e}");
            for job in jobs {
                job(Slot::Missing(why.clone())).0(Err(why.clone()));
            }
            for (_, reply) in admits {
                let _ = reply.send(Err(RepoError::Unavailable(why.clone())));
            }
            for (_, reply) in settles {
                let _ = reply.send(Err(RepoError::Unavailable(why.clone())));
            }
            return;
        }
    };
    let mut delivers: Vec<Deliver> = Vec::with_capacity(jobs.len());
    let mut admitted: Vec<Result<Result<AiRequest, Held>, RepoError>> = Vec::new();
    let mut settled: Vec<Result<SettleResult, RepoError>> = Vec::new();
    // A panic in a caller's closure fails the whole batch: the callers whose results were not
    // delivered see their channel closed, and the connection is not reused.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
        write_tx(&mut conn, |c| {
            let mut parts = Parts { started: 0, alone: total == 1 };
            let mut failed = false;
            let batch: Vec<&Admit> = admits.iter().map(|(a, _)| &**a).collect();
            let ok = |r: &Result<Result<AiRequest, Held>, RepoError>| matches!(r, Ok(Ok(_)));
            let written = write_kind(
                c,
                &mut parts,
                &batch,
                crate::gateway::admission::admit_all,
                Admit::one,
                ok,
                counts,
            )?;
            failed |= !written.1;
            admitted = written.0;
            let batch: Vec<&Settle> = settles.iter().map(|(s, _)| &**s).collect();
            let ok = |r: &Result<SettleResult, RepoError>| r.is_ok();
            let written = write_kind(
                c,
                &mut parts,
                &batch,
                crate::gateway::admission::settle_all,
                Settle::one,
                ok,
                counts,
            )?;
            failed |= !written.1;
            settled = written.0;
            for job in jobs {
                parts.begin(c)?;
                let (deliver, ok) =
                    job(if parts.alone { Slot::Alone(&mut *c) } else { Slot::Shared(&mut *c) });
                delivers.push(deliver);
                if !ok && !parts.undo(c)? {
                    failed = true;
                }
            }
            // A batch of one is an ordinary transaction: its failure rolls it back.
            if failed {
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
    // A connection whose batch failed goes back to the pool, which tests or discards it; so does
    // every connection of a pool too small to spare one.
    if outcome.is_ok() && pool.max_size() >= 4 {
        *held = Some(conn);
    } else {
        drop(conn);
    }
    for deliver in delivers {
        deliver(outcome.clone());
    }
    let lost = |why: &Result<(), String>| {
        RepoError::Unavailable(why.clone().err().unwrap_or_else(|| "the batch was not written".into()))
    };
    let mut admitted = admitted.into_iter();
    for (_, reply) in admits {
        let result = match (admitted.next(), &outcome) {
            // A refusal wrote nothing: it stands whatever became of the batch.
            (Some(Ok(Err(held))), _) => Ok(Err(held)),
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(Ok(row))), Ok(())) => Ok(Ok(row)),
            (Some(Ok(Ok(_))) | None, _) => Err(lost(&outcome)),
        };
        let _ = reply.send(result);
    }
    let mut settled = settled.into_iter();
    for (_, reply) in settles {
        let result = match (settled.next(), &outcome) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(done)), Ok(())) => Ok(done),
            (Some(Ok(_)) | None, _) => Err(lost(&outcome)),
        };
        let _ = reply.send(result);
    }
}
