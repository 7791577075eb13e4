use std::path::Path;
use std::time::Duration;

use core_config::{redact_url, DatabaseSettings, DatabaseTarget};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use tracing::Instrument;

use crate::RepoError;

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgresql(_) => "DbConnection::Postgresql",
            Self::Sqlite(_) => "DbConnection::Sqlite",
        })
    }
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgresql(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// The two supported engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Connection options derived from the settings.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Engine and location.
    pub target: DatabaseTarget,
    /// Pool size.
    pub pool_max_size: u32,
    /// Checkout and connect timeout.
    pub connect_timeout: Duration,
    /// SQLite busy timeout.
    pub sqlite_busy_timeout_ms: u32,
    /// Create a missing SQLite directory.
    pub sqlite_create_dir: bool,
}

impl DbOptions {
    /// Options from validated settings.
    pub fn from_settings(s: &DatabaseSettings) -> Result<Self, RepoError> {
        let target = DatabaseTarget::parse(s.url.expose())
            .map_err(|e| RepoError::Config(format!("database.url {e}")))?;
        Ok(Self {
            target,
            pool_max_size: s.pool_max_size,
            connect_timeout: Duration::from_secs(s.connect_timeout_secs),
            sqlite_busy_timeout_ms: s.sqlite_busy_timeout_ms,
            sqlite_create_dir: s.sqlite_create_dir,
        })
    }
}

/// r2d2 manager that opens the backend chosen by the URL scheme and configures SQLite connections.
#[derive(Debug)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    busy_timeout_ms: u32,
    statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// SQLite: a [`Checkpointer`] runs the WAL checkpoints, so connections do not.
    checkpoints_elsewhere: bool,
}

/// A connection as the pool keeps it: when it was last handed out, and whether a failure on it
/// means it must not be handed out again.
#[derive(Debug)]
pub struct Pooled {
    conn: DbConnection,
    handed_out: std::time::Instant,
    broken: bool,
}

impl Pooled {
    /// Keeps this connection from being handed out again (its work failed for want of the
    /// database).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// A connection idle for longer than this is tested (`SELECT 1`) before it is handed out again;
/// one used more recently is trusted, and a failure on it discards it.
const IDLE_BEFORE_TEST: Duration = Duration::from_secs(30);

/// Group-commit lanes on PostgreSQL (at most half the pool): owners' writes in parallel, each
/// owner's in one queue.
const POSTGRES_LANES: usize = 4;

/// The PostgreSQL URL to connect with: a server on this machine (loopback or a Unix socket) gets
/// `sslmode=disable` unless the URL chooses a mode, so nothing pays for TLS it does not need.
pub fn postgres_url(url: &str) -> String {
    if url.contains("sslmode=") {
        return url.to_string();
    }
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    let query_host = url.split_once("host=").map(|(_, h)| h.split('&').next().unwrap_or(""));
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1")
        || (host.is_empty() && query_host.is_none_or(|h| h.starts_with('/') || h.starts_with("%2F")));
    if !local {
        return url.to_string();
    }
    format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' })
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let mut conn = match &self.target {
            DatabaseTarget::Postgres(url) => {
                PgConnection::establish(&postgres_url(url)).map(DbConnection::Postgresql)?
            }
            DatabaseTarget::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = 67108864;",
                    self.busy_timeout_ms,
                    if self.checkpoints_elsewhere { 0 } else { 1000 }
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                DbConnection::Sqlite(conn)
            }
        };
        let statements = self.statements.clone();
        let counter = move |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
                statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // `RUST_LOG=steward::sql=trace` logs every statement.
                tracing::trace!(target: "steward::sql", "{query}");
            }
        };
        match &mut conn {
            DbConnection::Postgresql(c) => c.set_instrumentation(counter),
            DbConnection::Sqlite(c) => c.set_instrumentation(counter),
        }
        Ok(Pooled { conn, handed_out: std::time::Instant::now(), broken: false })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), Self::Error> {
        conn.conn.batch_execute("SELECT 1").map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.broken
            || std::thread::panicking()
            || <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(&mut conn.conn)
    }
}

/// A pooled connection.
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// The database: a pool plus the helper that runs blocking work off the async executor.
#[derive(Clone, Debug)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    backend: Backend,
    checkout_timeout: Duration,
    /// Write transactions committed through this pool (and its clones), for caches of reads.
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// SQL statements run on this pool's connections.
    statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// API key uses not yet written.
    key_uses: std::sync::Arc<crate::api_keys::KeyUses>,
    /// Keys authenticated a moment ago.
    key_cache: std::sync::Arc<crate::api_keys::KeyCache>,
    /// The gateway's cached decision reads.
    decision_cache: std::sync::Arc<crate::gateway::cache::DecisionCache>,
    /// The group-commit writers, started on first use ([`Db::grouped`]).
    lanes: std::sync::Arc<std::sync::OnceLock<crate::group::Lanes>>,
    /// SQLite's WAL checkpoints, off the writers' path (stops with the last clone).
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
}

/// How often the checkpointer copies SQLite's write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The log's length (4 KiB pages) from which the checkpointer waits for readers to start it again.
const CHECKPOINT_RESTART_FRAMES: i64 = 4096;

/// What `PRAGMA wal_checkpoint` reports.
#[derive(diesel::QueryableByName)]
struct Checkpointed {
    /// Pages in the log.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
}

/// A thread that checkpoints an SQLite database's write-ahead log (`PASSIVE`: it never blocks a
/// writer or a reader, and copies what no reader still needs), so that no commit pays for a
/// checkpoint and its `fsync` (SQLite's automatic checkpoint runs in the committing writer, the
/// group-commit lane; measured, 15 % of the lane's time). It ends soon after its [`Db`] (and every
/// clone) is dropped.
#[derive(Debug)]
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread for the database at `path`; `None` when it cannot start (the pool's
    /// connections then keep SQLite's automatic checkpoints).
    fn start(path: std::path::PathBuf) -> Option<std::sync::Arc<Self>> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new().name("steward-checkpoint".into()).spawn(move || {
            let mut conn: Option<SqliteConnection> = None;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if conn.is_none() {
                    conn = SqliteConnection::establish(&path.to_string_lossy()).ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                // Most of the log is copied while the writers go on; then, with this process's
                // writers held at their gate for the moment it takes, the few pages they added
                // meanwhile, so that the copy is complete and the next writer starts the log
                // again from its beginning (a log that writers never stop appending to is never
                // completely copied, and grows without end).
                // Should readers have kept the log from starting again for long, the log is
                // copied with the readers waited for (`RESTART`, at most 50 ms), which bounds it.
                let copied = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)").and_then(|()| {
                    let _turn = sqlite_writers().enter(SQLITE_GATE_WAIT);
                    let log: Vec<Checkpointed> =
                        diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)"), c)?;
                    if log.first().is_some_and(|l| l.log > CHECKPOINT_RESTART_FRAMES) {
                        c.batch_execute("PRAGMA busy_timeout = 50; PRAGMA wal_checkpoint(RESTART); PRAGMA busy_timeout = 0")?;
                    }
                    Ok(())
                });
                if let Err(e) = copied {
                    tracing::debug!(error = %e, "a WAL checkpoint failed");
                    conn = None;
                }
            }
        });
        match spawned {
            Ok(_) => Some(std::sync::Arc::new(Self { stop })),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the WAL checkpointer; commits checkpoint");
                None
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Db {
    /// Opens the database: checks the URL, creates a missing SQLite directory when allowed, makes
    /// one connection to report a clear error early, then builds the pool.
    pub fn connect(options: &DbOptions) -> Result<Self, RepoError> {
        let backend = match &options.target {
            DatabaseTarget::Sqlite(path) => {
                prepare_sqlite_dir(path, options.sqlite_create_dir)?;
                Backend::Sqlite
            }
            DatabaseTarget::Postgres(_) => Backend::Postgres,
        };
        let statements = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let checkpointer = match &options.target {
            DatabaseTarget::Sqlite(path) => Checkpointer::start(path.clone()),
            DatabaseTarget::Postgres(_) => None,
        };
        let manager = ConnectionManager {
            target: options.target.clone(),
            busy_timeout_ms: options.sqlite_busy_timeout_ms,
            statements: statements.clone(),
            checkpoints_elsewhere: checkpointer.is_some(),
        };
        let probe = r2d2::ManageConnection::connect(&manager).map_err(|e| {
            RepoError::Unavailable(match &options.target {
                DatabaseTarget::Postgres(url) => format!(
                    "database.url: cannot connect to PostgreSQL at {}: {}",
                    redact_url(url),
                    e.to_string().trim()
                ),
                DatabaseTarget::Sqlite(path) => format!(
                    "database.url: cannot open SQLite database {}: {}",
                    path.display(),
                    e.to_string().trim()
                ),
            })
        })?;
        drop(probe);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_max_size)
            .min_idle(Some(0))
            .connection_timeout(options.connect_timeout)
            // Tested when idle or failed (`Db::conn`, `has_broken`), not on every checkout.
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            backend,
            checkout_timeout: options.connect_timeout,
            writes: Default::default(),
            statements,
            key_uses: Default::default(),
            key_cache: Default::default(),
            decision_cache: Default::default(),
            lanes: Default::default(),
            _checkpointer: checkpointer,
        })
    }

    /// Runs `f` as one part of a group commit (see [`crate::group`]): in a savepoint of a write
    /// transaction shared with whatever other grouped writes are waiting on the lane of `key`,
    /// committed once for all of them. The result comes back after the commit; an error of `f`
    /// undoes only `f`'s writes, a failed commit fails every part. Writes to rows of one owner
    /// should share a key (the lanes of PostgreSQL then never wait on each other's row locks).
    /// `f` must use only the connection it is given.
    pub async fn grouped<T, E, F>(&self, key: u64, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<RepoError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let span = tracing::Span::current();
        let job: crate::group::Job = Box::new(move |slot| {
            use crate::group::Slot;
            let result = match slot {
                Slot::Missing(why) => Err(E::from(RepoError::Unavailable(why))),
                // The batch has set a savepoint for it.
                Slot::Shared(c) => span.in_scope(|| f(c)),
                Slot::Alone(c) => span.in_scope(|| f(c)),
            };
            let ok = result.is_ok();
            let deliver: crate::group::Deliver = Box::new(move |commit| {
                let out = match (result, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(why)) => Err(E::from(RepoError::Unavailable(why))),
                };
                let _ = tx.send(out);
            });
            (deliver, ok)
        });
        self.lanes().submit(key, crate::group::Work::Each(job)).map_err(E::from)?;
        let out = rx.await.map_err(|_| E::from(RepoError::Task("a grouped write was abandoned".into())))?;
        if out.is_ok() {
            self.note_write();
        }
        out
    }

    /// Records an approved admission in a group commit on the lane of `key` (the owner's id),
    /// written together with the others in its batch (`admission::Admit`). `Ok(Err(held))`: a
    /// rate-limit window or the money refused, and nothing was written.
    pub async fn admit(
        &self,
        key: u64,
        admit: crate::gateway::admission::Admit,
    ) -> Result<Result<models::rows_spend::AiRequest, crate::gateway::admission::Held>, RepoError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lanes().submit(key, crate::group::Work::Admit(Box::new(admit), tx))?;
        let out = rx.await.map_err(|_| RepoError::Task("a grouped write was abandoned".into()))?;
        if matches!(out, Ok(Ok(_))) {
            self.note_write();
        }
        out
    }

    /// Settles an answered call in a group commit on the lane of `key` (the owner's id), written
    /// together with the others in its batch (`admission::Settle`).
    pub async fn settle(
        &self,
        key: u64,
        settle: crate::gateway::admission::Settle,
    ) -> Result<crate::gateway::admission::SettleResult, RepoError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lanes().submit(key, crate::group::Work::Settle(Box::new(settle), tx))?;
        let out = rx.await.map_err(|_| RepoError::Task("a grouped write was abandoned".into()))?;
        if out.is_ok() {
            self.note_write();
        }
        out
    }

    /// The group-commit writers, started on first use.
    fn lanes(&self) -> &crate::group::Lanes {
        self.lanes.get_or_init(|| {
            let count = match self.backend {
                Backend::Sqlite => 1,
                Backend::Postgres => POSTGRES_LANES.min(self.pool.max_size().div_ceil(2) as usize).max(1),
            };
            crate::group::Lanes::start(&self.pool, count, self.checkout_timeout)
        })
    }

    /// Keys authenticated a moment ago (see [`crate::api_keys::KEY_CACHE_TTL`]).
    pub fn key_cache(&self) -> &crate::api_keys::KeyCache {
        &self.key_cache
    }

    /// The gateway's catalogue rows and only projects read a moment ago (see
    /// [`crate::gateway::cache::DECISION_CACHE_TTL`]).
    pub fn decision_cache(&self) -> &crate::gateway::cache::DecisionCache {
        &self.decision_cache
    }

    /// API key uses not yet written to their rows.
    pub fn key_uses(&self) -> &crate::api_keys::KeyUses {
        &self.key_uses
    }

    /// How many SQL statements this pool's connections have run (a counter for tests, metrics and
    /// benchmarks).
    pub fn statements(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Group commits so far ([`Db::grouped`]): `(batches, writes in them, microseconds the
    /// writers spent on them)`.
    pub fn group_commits(&self) -> (u64, u64, u64) {
        self.lanes.get().map_or((0, 0, 0), crate::group::Lanes::counts)
    }

    /// The gateway's admissions and settlements in batches of two or more: `(written together,
    /// written call by call after their batch's part failed)` (`admission::admit_all`,
    /// `settle_all`).
    pub fn batched(&self) -> (u64, u64) {
        self.lanes.get().map_or((0, 0), crate::group::Lanes::together)
    }

    /// How many write transactions this process has committed on the database. A cache of a read
    /// is fresh for this process while the number has not moved since the read began.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counts a committed write transaction (after its commit).
    pub fn note_write(&self) {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Which backend this database uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection from the pool (blocking; call from [`Db::run`] or a blocking context).
    pub fn conn(&self) -> Result<PooledConnection, RepoError> {
        self.conn_within(self.checkout_timeout)
    }

    /// A connection, waiting at most `timeout` (for health checks). One that sat idle for
    /// [`IDLE_BEFORE_TEST`] is tested first and replaced if it fails.
    pub fn conn_within(&self, timeout: Duration) -> Result<PooledConnection, RepoError> {
        let mut conn = self.pool.get_timeout(timeout)?;
        if conn.handed_out.elapsed() >= IDLE_BEFORE_TEST && conn.conn.batch_execute("SELECT 1").is_err() {
            conn.broken = true;
            drop(conn);
            conn = self.pool.get_timeout(timeout)?;
        }
        conn.handed_out = std::time::Instant::now();
        Ok(conn)
    }

    /// `(connections, idle)` currently in the pool.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    /// Largest pool size.
    pub fn pool_max_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// Runs blocking database work on the blocking thread pool, inside the caller's tracing span.
    pub async fn run<T, F>(&self, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, RepoError> + Send + 'static,
    {
        let db = self.clone();
        self.run_blocking(move || {
            let mut conn = db.conn()?;
            let result = f(&mut conn);
            // A lost connection fails this call; it is not handed out again.
            if matches!(result, Err(RepoError::Unavailable(_))) {
                conn.broken = true;
            }
            result
        })
        .await
    }

    /// Runs any blocking closure off the executor, keeping the tracing span.
    pub async fn run_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let span = tracing::Span::current();
        let handle = tokio::task::spawn_blocking(move || span.in_scope(f));
        async move { handle.await.map_err(|e| E::from(RepoError::Task(e.to_string())))? }
            .in_current_span()
            .await
    }
}

fn prepare_sqlite_dir(path: &Path, create: bool) -> Result<(), RepoError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    if !create {
        return Err(RepoError::Config(format!(
            "database.url: directory {} for the SQLite database does not exist \
             (create it, or set database.sqlite_create_dir = true)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        RepoError::Config(format!("database.url: cannot create directory {}: {e}", dir.display()))
    })?;
    tracing::info!(directory = %dir.display(), "created the directory for the SQLite database");
    Ok(())
}

/// How long a SQLite writer waits for this process's other writers before it goes on to
/// SQLite's own lock (and its busy timeout) anyway.
const SQLITE_GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The queue of this process's SQLite writers: one at a time, each woken the moment the previous
/// one commits. SQLite allows one writer per file anyway; a process with several SQLite files
/// (tests) only serializes writes that were cheap to begin with. A writer that waited
/// [`SQLITE_GATE_WAIT`] goes on regardless, so the gate can slow a write but never block it.
struct WriterGate {
    busy: std::sync::Mutex<bool>,
    freed: std::sync::Condvar,
}

/// A writer's place at the gate; leaving frees it.
struct GateTurn<'a>(Option<&'a WriterGate>);

impl WriterGate {
    fn enter(&self, wait: std::time::Duration) -> GateTurn<'_> {
        let Ok(busy) = self.busy.lock() else { return GateTurn(None) };
        match self.freed.wait_timeout_while(busy, wait, |b| *b) {
            Ok((mut busy, timeout)) if !timeout.timed_out() => {
                *busy = true;
                GateTurn(Some(self))
            }
            _ => GateTurn(None),
        }
    }
}

impl Drop for GateTurn<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.0 {
            if let Ok(mut busy) = gate.busy.lock() {
                *busy = false;
            }
            gate.freed.notify_one();
        }
    }
}

fn sqlite_writers() -> &'static WriterGate {
    static GATE: std::sync::OnceLock<WriterGate> = std::sync::OnceLock::new();
    GATE.get_or_init(|| WriterGate { busy: std::sync::Mutex::new(false), freed: std::sync::Condvar::new() })
}

/// Runs `f` in a write transaction. On SQLite it begins with `BEGIN IMMEDIATE`, taking the write
/// lock up front so concurrent writers wait instead of failing on lock upgrade (and this
/// process's writers wait in a queue that wakes them at once, [`WriterGate`]); on PostgreSQL it
/// is an ordinary transaction. Nested calls become savepoints.
pub fn write_tx<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let immediate = match conn {
        DbConnection::Sqlite(c) => {
            let depth = AnsiTransactionManager::transaction_manager_status_mut(c)
                .transaction_depth()
                .map_err(E::from)?;
            depth.is_none()
        }
        DbConnection::Postgresql(_) => false,
    };
    if !immediate {
        return conn.transaction(f);
    }
    // Writers of this process queue here rather than in SQLite's busy handler, whose sleeps
    // (up to 100 ms each) would leave the lock idle long after it was freed.
    let _turn = sqlite_writers().enter(SQLITE_GATE_WAIT);
    if let DbConnection::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").map_err(E::from)?;
    }
    let result = f(conn);
    if let DbConnection::Sqlite(c) = conn {
        match &result {
            Ok(_) => {
                if let Err(e) = AnsiTransactionManager::commit_transaction(c) {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    return Err(E::from(e));
                }
            }
            Err(_) => {
                let _ = AnsiTransactionManager::rollback_transaction(c);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::postgres_url;

    #[test]
    fn a_server_on_this_machine_gets_no_tls_unless_asked() {
        assert_eq!(
            postgres_url("postgres://u@127.0.0.1:5432/db"),
            "postgres://u@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            postgres_url("postgres://localhost/db?x=1"),
            "postgres://localhost/db?x=1&sslmode=disable"
        );
        assert_eq!(
            postgres_url("postgres://u:p@[::1]:5432/db"),
            "postgres://u:p@[::1]:5432/db?sslmode=disable"
        );
        assert_eq!(
            postgres_url("postgres:///db?host=/var/run/postgresql"),
            "postgres:///db?host=/var/run/postgresql&sslmode=disable"
        );
        // Another host, or a mode chosen in the URL, is left alone.
        assert_eq!(postgres_url("postgres://db.example.com/db"), "postgres://db.example.com/db");
        assert_eq!(
            postgres_url("postgres://127.0.0.1/db?sslmode=require"),
            "postgres://127.0.0.1/db?sslmode=require"
        );
        assert_eq!(postgres_url("postgres:///db?host=db.example.com"), "postgres:///db?host=db.example.com");
    }
}
