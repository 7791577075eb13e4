//! The append-only audit stream and the head of its hash chain.
//!
//! Writers only insert (with `seq` NULL) inside their own transaction; the chainer later links
//! committed events in id order under a lock on the single `audit_chain_head` row, so writers never
//! wait for each other on the chain.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows::{AuditEvent, NewAuditEvent};
use models::schema::{audit_chain_head, audit_events};

use crate::stmt::Stmt;
use crate::{DbConnection, Page, RepoError};

/// Inserts an event (not yet chained).
pub fn insert(conn: &mut DbConnection, new: &NewAuditEvent<'_>) -> Result<(), RepoError> {
    insert_all(conn, std::slice::from_ref(new))
}

/// Inserts up to three events (not yet chained) in one statement, in order.
pub fn insert_all(conn: &mut DbConnection, events: &[NewAuditEvent<'_>]) -> Result<(), RepoError> {
    // One text per count, each prepared once per connection.
    let sql = match events.len() {
        0 => return Ok(()),
        1 => {
            "INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
         subject_id, request_id, details, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        }
        2 => {
            "INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
         subject_id, request_id, details, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), \
              (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        }
        3 => {
            "INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
         subject_id, request_id, details, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), \
              (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        }
        _ => {
            for chunk in events.chunks(3) {
                insert_all(conn, chunk)?;
            }
            return Ok(());
        }
    };
    let mut stmt = Stmt::new(sql);
    for new in events {
        stmt = bind_new(stmt, new);
    }
    stmt.execute(conn)?;
    Ok(())
}

/// A new event that owns its text: one that waits in a group-commit queue for its batch.
#[derive(Clone, Debug)]
pub struct EventRow {
    event_id: String,
    occurred_at: NaiveDateTime,
    actor_type: String,
    actor_id: Option<String>,
    action: String,
    subject_type: String,
    subject_id: Option<String>,
    request_id: Option<String>,
    details: String,
    result: String,
}

impl EventRow {
    /// The row to insert.
    pub fn as_new(&self) -> NewAuditEvent<'_> {
        NewAuditEvent {
            event_id: &self.event_id,
            occurred_at: self.occurred_at,
            actor_type: &self.actor_type,
            actor_id: self.actor_id.as_deref(),
            action: &self.action,
            subject_type: &self.subject_type,
            subject_id: self.subject_id.as_deref(),
            request_id: self.request_id.as_deref(),
            details: &self.details,
            result: &self.result,
        }
    }
}

impl From<&NewAuditEvent<'_>> for EventRow {
    fn from(e: &NewAuditEvent<'_>) -> Self {
        Self {
            event_id: e.event_id.into(),
            occurred_at: e.occurred_at,
            actor_type: e.actor_type.into(),
            actor_id: e.actor_id.map(Into::into),
            action: e.action.into(),
            subject_type: e.subject_type.into(),
            subject_id: e.subject_id.map(Into::into),
            request_id: e.request_id.map(Into::into),
            details: e.details.into(),
            result: e.result.into(),
        }
    }
}

/// Inserts any number of events in statements of up to 100 rows (a batch's events).
pub(crate) fn insert_many(conn: &mut DbConnection, events: &[NewAuditEvent<'_>]) -> Result<(), RepoError> {
    for chunk in events.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
             subject_id, request_id, details, result) VALUES ",
        );
        crate::stmt::push_rows(&mut sql, chunk.len(), 10);
        let mut stmt = Stmt::built(sql);
        for new in chunk {
            stmt = bind_new(stmt, new);
        }
        stmt.execute(conn)?;
    }
    Ok(())
}

/// Binds the ten columns of a new event, in the order of [`insert_all`]'s column list.
pub(crate) fn bind_new(stmt: Stmt, new: &NewAuditEvent<'_>) -> Stmt {
    stmt.text(new.event_id)
        .time(new.occurred_at)
        .text(new.actor_type)
        .maybe_text(new.actor_id)
        .text(new.action)
        .text(new.subject_type)
        .maybe_text(new.subject_id)
        .maybe_text(new.request_id)
        .text(new.details)
        .text(new.result)
}

/// Every event about one of `subjects` (`(subject_type, subject_id)`), oldest first, at most
/// `limit`.
pub fn about(
    conn: &mut DbConnection,
    subjects: &[(&str, String)],
    limit: i64,
) -> Result<Vec<AuditEvent>, RepoError> {
    let mut q = audit_events::table
        .select(AuditEvent::as_select())
        .filter(audit_events::id.eq(-1)) // matches nothing; each subject widens it
        .order(audit_events::id.asc())
        .limit(limit)
        .into_boxed();
    for (kind, id) in subjects {
        q = q.or_filter(audit_events::subject_type.eq(*kind).and(audit_events::subject_id.eq(id.clone())));
    }
    Ok(q.load(conn)?)
}

/// Reads the chain head, locking it on PostgreSQL (`FOR UPDATE`); on SQLite the surrounding
/// `BEGIN IMMEDIATE` transaction already holds the write lock.
pub fn lock_head(conn: &mut DbConnection) -> Result<(i64, String), RepoError> {
    let q = audit_chain_head::table.find(1).select((audit_chain_head::last_seq, audit_chain_head::last_hash));
    Ok(match conn {
        DbConnection::Postgresql(c) => q.for_update().first(c)?,
        DbConnection::Sqlite(c) => q.first(c)?,
    })
}

/// The chain head as it is (no lock): the last linked sequence number and hash.
pub fn head(conn: &mut DbConnection) -> Result<(i64, String), RepoError> {
    Ok(audit_chain_head::table
        .find(1)
        .select((audit_chain_head::last_seq, audit_chain_head::last_hash))
        .first(conn)?)
}

/// Moves the chain head.
pub fn set_head(conn: &mut DbConnection, last_seq: i64, last_hash: &str) -> Result<(), RepoError> {
    diesel::update(audit_chain_head::table.find(1))
        .set((audit_chain_head::last_seq.eq(last_seq), audit_chain_head::last_hash.eq(last_hash)))
        .execute(conn)?;
    Ok(())
}

/// The oldest committed events not yet in the chain, in id order.
pub fn unchained(conn: &mut DbConnection, limit: i64) -> Result<Vec<AuditEvent>, RepoError> {
    Ok(audit_events::table
        .filter(audit_events::seq.is_null())
        .order(audit_events::id.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}

/// Number of events not yet in the chain.
pub fn unchained_count(conn: &mut DbConnection) -> Result<i64, RepoError> {
    Ok(audit_events::table.filter(audit_events::seq.is_null()).count().get_result(conn)?)
}

/// Links events into the chain: `(id, seq, prev_hash, hash)` each, in chain order, only events
/// still unlinked; on PostgreSQL one statement (one round trip) per 32. Returns how many it
/// linked.
pub fn link_all(conn: &mut DbConnection, links: &[(i64, i64, String, String)]) -> Result<usize, RepoError> {
    const CHUNK: usize = 32;
    let mut linked = 0;
    if let DbConnection::Sqlite(_) = conn {
        // One prepared statement per event: no round trips on SQLite, and its planner may walk
        // the unchained events for a joined update instead of the few rows given.
        for (id, seq, prev_hash, hash) in links {
            linked += Stmt::new(
                "UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE id = ? AND seq IS NULL",
            )
            .int(*seq)
            .text(prev_hash)
            .text(hash)
            .int(*id)
            .execute(conn)?;
        }
        return Ok(linked);
    }
    for chunk in links.chunks(CHUNK) {
        // The rows as a derived table (portable: a `VALUES` list cannot name its columns on SQLite).
        let rows = std::iter::once("SELECT ? AS id, ? AS seq, ? AS prev_hash, ? AS hash")
            .chain(std::iter::repeat_n(" UNION ALL SELECT ?, ?, ?, ?", chunk.len() - 1))
            .collect::<String>();
        let mut stmt = Stmt::built(format!(
            "UPDATE audit_events SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash \
             FROM ({rows}) AS v WHERE audit_events.id = v.id AND audit_events.seq IS NULL"
        ));
        for (id, seq, prev_hash, hash) in chunk {
            stmt = stmt.int(*id).int(*seq).text(prev_hash).text(hash);
        }
        linked += stmt.execute(conn)?;
    }
    Ok(linked)
}

/// Chained events with `seq > after`, in chain order.
pub fn chained_after(conn: &mut DbConnection, after: i64, limit: i64) -> Result<Vec<AuditEvent>, RepoError> {
    Ok(audit_events::table
        .filter(audit_events::seq.gt(after))
        .order(audit_events::seq.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}

/// Filters for listing events; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Subject kind.
    pub subject_type: Option<String>,
    /// Subject public id.
    pub subject_id: Option<String>,
    /// Actor kind.
    pub actor_type: Option<String>,
    /// Actor public id.
    pub actor_id: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// HTTP request id.
    pub request_id: Option<String>,
    /// At or after.
    pub from: Option<NaiveDateTime>,
    /// Before.
    pub to: Option<NaiveDateTime>,
}

/// Events matching the filter, newest first.
pub fn list(conn: &mut DbConnection, filter: &AuditFilter, page: Page) -> Result<Vec<AuditEvent>, RepoError> {
    let mut q = audit_events::table
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(audit_events::id.lt(before));
    }
    if let Some(v) = &filter.subject_type {
        q = q.filter(audit_events::subject_type.eq(v.clone()));
    }
    if let Some(v) = &filter.subject_id {
        q = q.filter(audit_events::subject_id.eq(v.clone()));
    }
    if let Some(v) = &filter.actor_type {
        q = q.filter(audit_events::actor_type.eq(v.clone()));
    }
    if let Some(v) = &filter.actor_id {
        q = q.filter(audit_events::actor_id.eq(v.clone()));
    }
    if let Some(v) = &filter.action {
        q = q.filter(audit_events::action.eq(v.clone()));
    }
    if let Some(v) = &filter.request_id {
        q = q.filter(audit_events::request_id.eq(v.clone()));
    }
    if let Some(v) = filter.from {
        q = q.filter(audit_events::occurred_at.ge(v));
    }
    if let Some(v) = filter.to {
        q = q.filter(audit_events::occurred_at.lt(v));
    }
    Ok(q.load(conn)?)
}
