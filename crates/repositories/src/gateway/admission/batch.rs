//! A batch's admissions and settlements written together.
//!
//! The group-commit writer hands these functions every approved admission (and every answered
//! call's settlement) waiting in its batch. The rows all of a project's calls share (the owner's
//! balance, the project's and the owner's usage, the running totals) are read once, the batch is
//! decided against them in memory in arrival order, and each is written once with the batch's
//! sums; the per-call rows (requests, payments, ledger entries, audit events) go in multi-row
//! statements. A batch of 32 calls costs about as many statements as one call.
//!
//! Every shared row is updated on the condition that it still holds what was read (on SQLite
//! the writer holds the only write lock anyway; on PostgreSQL a deposit or a review may have
//! moved it): when one does not, or any statement fails, the caller rolls the whole part back
//! and writes the batch call by call ([`Admit::one`], [`Settle::one`]), so the result is always
//! what the calls would have got one at a time.

use chrono::NaiveDateTime;
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use models::ids::ordered_id;
use models::rows_spend::{AiRequest, NewAiRequest, RequestPayment};
use models::spend::{PaymentStatus, RequestStatus};
use models::sql::Json;
use serde_json::Value;

use super::{record_approved, record_executed, settled, Approved, Executed, Held, Settled, Settlement};
use crate::audit::{self, EventRow};
use crate::gateway::counters::{self, RateLimits, Window};
use crate::gateway::requests::{self, Finish};
use crate::gateway::reservations::{Periods, Refusal};
use crate::stmt::{push_rows, Stmt};
use crate::{DbConnection, RepoError};

/// An approved admission, queued for its batch.
#[derive(Debug)]
pub struct Admit {
    /// The request row (status `executing`).
    pub request: NewAiRequest,
    /// The project's rate limits (the head row exists when any is set: `counters::ensure_head`).
    pub limits: RateLimits,
    /// The payment's public id (`pay_…`).
    pub payment: String,
    /// The decision's and the reservation's audit events, in order.
    pub events: [EventRow; 2],
    /// The periods and limits the money counts against.
    pub periods: Periods,
    /// The hour (`YYYY-MM-DDTHH`) whose admitted count it adds to.
    pub hour: String,
    /// When.
    pub now: NaiveDateTime,
}

impl Admit {
    /// Writes this admission alone ([`record_approved`]); a refusal leaves writes for the
    /// caller to roll back.
    pub(crate) fn one(&self, conn: &mut DbConnection) -> Result<Result<AiRequest, Held>, RepoError> {
        let events = [self.events[0].as_new(), self.events[1].as_new()];
        let approved = Approved {
            request: &self.request,
            payment: &self.payment,
            events: &events,
            limits: self.limits,
            periods: &self.periods,
            hour: &self.hour,
            now: self.now,
        };
        record_approved(conn, &approved)
    }
}

/// An answered call's settlement, queued for its batch.
#[derive(Debug)]
pub struct Settle {
    /// The request as admitted (`executing`).
    pub request: AiRequest,
    /// What the settlement charges (at most the reservation).
    pub charged: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// The provider call's latency.
    pub latency_ms: Option<i64>,
    /// The answer.
    pub response: Option<Json<Value>>,
    /// A note (a stream cut short).
    pub error: Option<String>,
    /// What the provider's usage cost (at most the reservation on this path).
    pub actual: i64,
    /// The settlement's audit event.
    pub event: EventRow,
    /// When.
    pub now: NaiveDateTime,
    /// The hour (`YYYY-MM-DDTHH`) of `now` and the hour 24 hours before, for the view read back.
    pub hours: (String, String),
}

/// What a settlement's view depends on: `(user, project, agent, day, month, hour)`.
type ViewKey<'a> = (i64, i64, Option<i64>, &'a str, &'a str, &'a str);

/// A settlement's outcome and, when it settled, the [`Settled`] view read back after it.
pub type SettleResult = (Settlement, Option<Settled>);

impl Settle {
    fn finish(&self) -> Finish<'_> {
        Finish {
            charged: self.charged,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            latency_ms: self.latency_ms,
            response: self.response.as_ref().map(Json::text),
            error: self.error.as_deref(),
        }
    }

    /// Binds the eight values of a `(VALUES …)` row that finishes its request: id, charged,
    /// tokens in and out, latency, answer, note, when.
    fn bind_finish(&self, stmt: Stmt) -> Stmt {
        stmt.int(self.request.id)
            .int(self.charged)
            .int(self.input_tokens)
            .int(self.output_tokens)
            .maybe_int(self.latency_ms)
            .maybe_text(self.response.as_ref().map(Json::text))
            .maybe_text(self.error.as_deref())
            .time(self.now)
    }

    /// Writes this settlement alone ([`record_executed`]) and reads its view back.
    pub(crate) fn one(&self, conn: &mut DbConnection) -> Result<SettleResult, RepoError> {
        let event = self.event.as_new();
        let finish = self.finish();
        let executed = Executed {
            request: &self.request,
            finish: &finish,
            actual: self.actual,
            event: &event,
            now: self.now,
        };
        let settlement = record_executed(conn, &executed)?;
        if let Settlement::Released = settlement {
            return Ok((settlement, None));
        }
        let view = self.view(conn)?;
        Ok((settlement, Some(view)))
    }

    fn view(&self, conn: &mut DbConnection) -> Result<Settled, RepoError> {
        let r = &self.request;
        settled(conn, r.user_id, r.project_id, r.agent_id, &r.day, &r.month, &self.hours.0, &self.hours.1)?
            .ok_or(RepoError::NotFound)
    }

    /// The key of the view: settlements with equal keys read the same view.
    fn view_key(&self) -> ViewKey<'_> {
        let r = &self.request;
        (r.user_id, r.project_id, r.agent_id, &r.day, &r.month, &self.hours.0)
    }
}

/// A shared row that no longer held what was read: the batch is written call by call instead.
fn moved(what: &str) -> RepoError {
    RepoError::CheckViolation(format!("{what} moved while the batch was written"))
}

#[derive(QueryableByName)]
struct Money {
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = BigInt)]
    reserved: i64,
    #[diesel(sql_type = BigInt)]
    used_day: i64,
    #[diesel(sql_type = BigInt)]
    used_month: i64,
    #[diesel(sql_type = BigInt)]
    user_used_day: i64,
}

#[derive(QueryableByName)]
struct IdOf {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    public_id: String,
}

#[derive(QueryableByName)]
struct After {
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = BigInt)]
    reserved: i64,
}

#[derive(QueryableByName)]
struct Finished {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct SlotRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    window_secs: i32,
    #[diesel(sql_type = BigInt)]
    slot: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    free_at: NaiveDateTime,
}

/// A project's rate-limit rings as a batch takes places in them (`counters::take_rate`, for
/// many admissions at once): the head and the slots the batch can reach, read once; each
/// admission takes the slot N positions back in every limited window, if that one is free at its
/// time; the head moves by the places taken, and the slots taken are written in one upsert.
struct Ring {
    /// `(window, limit, next position)` of each limited window.
    windows: Vec<(Window, i64, i64)>,
    /// The head's three counters as read (all three move with every admission).
    heads: [i64; 3],
    /// `(window secs, slot, free at)`: as read, then as taken.
    slots: Vec<(i32, i64, NaiveDateTime)>,
    /// `(window secs, slot, taken at, free at)` taken by the batch.
    taken: Vec<(i32, i64, NaiveDateTime, NaiveDateTime)>,
    /// Admissions that took their places.
    admitted: i64,
}

impl Ring {
    /// The rings of `project` for up to `count` admissions; `None` when it has no limits.
    fn read(
        conn: &mut DbConnection,
        project: i64,
        limits: RateLimits,
        count: usize,
    ) -> Result<Option<Self>, RepoError> {
        let all = [
            (Window::Minute, limits.per_minute),
            (Window::Hour, limits.per_hour),
            (Window::Day, limits.per_day),
        ];
        if all.iter().all(|(_, n)| *n == 0) {
            return Ok(None);
        }
        let h: counters::Head =
            Stmt::new("SELECT minute_next, hour_next, day_next FROM rate_heads WHERE project_id = ?")
                .int(project)
                .first(conn)?
                .ok_or(RepoError::NotFound)?;
        let heads = [h.minute_next, h.hour_next, h.day_next];
        let mut windows = Vec::new();
        // Per window the positions the batch can reach, as up to two ranges (the ring wraps):
        // each range a search of the primary key.
        macro_rules! range {
            () => {
                "SELECT window_secs, slot, free_at FROM rate_slots \
                 WHERE project_id = ? AND window_secs = ? AND slot >= ? AND slot < ?"
            };
        }
        const RANGES: &str = concat!(
            range!(),
            " UNION ALL ",
            range!(),
            " UNION ALL ",
            range!(),
            " UNION ALL ",
            range!(),
            " UNION ALL ",
            range!(),
            " UNION ALL ",
            range!()
        );
        let mut stmt = Stmt::new(RANGES);
        for ((window, limit), head) in all.into_iter().zip(heads) {
            let limit = i64::from(limit);
            let secs = window.secs();
            if limit == 0 {
                for _ in 0..2 {
                    stmt = stmt.int(project).int4(secs).int(0).int(0);
                }
                continue;
            }
            windows.push((window, limit, head));
            let from = head.rem_euclid(limit);
            let reach = (count as i64).min(limit);
            let first_end = (from + reach).min(limit);
            let wrapped = from + reach - first_end;
            stmt = stmt.int(project).int4(secs).int(from).int(first_end);
            stmt = stmt.int(project).int4(secs).int(0).int(wrapped);
        }
        let rows: Vec<SlotRow> = stmt.load(conn)?;
        let slots = rows.into_iter().map(|r| (r.window_secs, r.slot, r.free_at)).collect();
        Ok(Some(Self { windows, heads, slots, taken: Vec::new(), admitted: 0 }))
    }

    fn slot_of(limit: i64, next: i64) -> i64 {
        next.rem_euclid(limit)
    }

    /// The first limited window whose slot is not free at `now`, if any.
    fn full(&self, now: NaiveDateTime) -> Option<Window> {
        self.windows.iter().find_map(|(window, limit, next)| {
            let slot = Self::slot_of(*limit, *next);
            let secs = window.secs();
            let busy = self.slots.iter().any(|(w, s, free)| *w == secs && *s == slot && *free > now);
            busy.then_some(*window)
        })
    }

    /// Takes the places of an admission at `now` (after [`Ring::full`] found them free).
    fn take(&mut self, now: NaiveDateTime) {
        for (window, limit, next) in &mut self.windows {
            let slot = Self::slot_of(*limit, *next);
            let secs = window.secs();
            let free = now + chrono::Duration::seconds(i64::from(secs));
            self.slots.retain(|(w, s, _)| !(*w == secs && *s == slot));
            self.slots.push((secs, slot, free));
            self.taken.push((secs, slot, now, free));
            *next += 1;
        }
        self.admitted += 1;
    }

    /// Moves the head by the places taken (if it is still where it was read) and writes the
    /// slots (each only if still free).
    fn write(self, conn: &mut DbConnection, project: i64) -> Result<(), RepoError> {
        if self.admitted == 0 {
            return Ok(());
        }
        let n = Stmt::new(
            "UPDATE rate_heads SET minute_next = minute_next + ?, hour_next = hour_next + ?, \
             day_next = day_next + ? WHERE project_id = ? AND minute_next = ? AND hour_next = ? AND day_next = ?",
        )
        .int(self.admitted)
        .int(self.admitted)
        .int(self.admitted)
        .int(project)
        .int(self.heads[0])
        .int(self.heads[1])
        .int(self.heads[2])
        .execute(conn)?;
        if n != 1 {
            return Err(moved("the rate-limit head"));
        }
        for chunk in self.taken.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO rate_slots (project_id, window_secs, slot, taken_at, free_at) VALUES ",
            );
            push_rows(&mut sql, chunk.len(), 5);
            sql.push_str(
                " ON CONFLICT (project_id, window_secs, slot) DO UPDATE SET taken_at = excluded.taken_at, \
                 free_at = excluded.free_at WHERE rate_slots.free_at <= excluded.taken_at",
            );
            let mut stmt = Stmt::built(sql);
            for (secs, slot, at, free) in chunk {
                stmt = stmt.int(project).int4(*secs).int(*slot).time(*at).time(*free);
            }
            if stmt.execute(conn)? != chunk.len() {
                return Err(moved("a rate-limit slot"));
            }
        }
        Ok(())
    }
}

/// One ledger entry to write: `(user, kind, amount, balance after, reserved after, reference, when)`.
type Entry<'a> = (i64, &'static str, i64, i64, i64, &'a str, NaiveDateTime);

fn insert_ledger(conn: &mut DbConnection, entries: &[Entry<'_>]) -> Result<(), RepoError> {
    for chunk in entries.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO ledger_entries (public_id, user_id, kind, amount, balance_after, reserved_after, \
             reference, note, created_at) VALUES ",
        );
        push_rows(&mut sql, chunk.len(), 9);
        let mut stmt = Stmt::built(sql);
        for (user, kind, amount, balance, reserved, reference, at) in chunk {
            stmt = stmt
                .text(ordered_id("led"))
                .int(*user)
                .text(*kind)
                .int(*amount)
                .int(*balance)
                .int(*reserved)
                .text(*reference)
                .text("")
                .time(*at);
        }
        stmt.execute(conn)?;
    }
    Ok(())
}

/// Decides and writes a batch of approved admissions (see the module). `Ok` holds each
/// admission's result in order: its request as stored, or what refused it (refused ones wrote
/// nothing). An `Err` leaves writes for the caller to roll back.
pub fn admit_all(
    conn: &mut DbConnection,
    jobs: &[&Admit],
) -> Result<Vec<Result<AiRequest, Held>>, RepoError> {
    let mut refused: Vec<Option<Held>> = vec![None; jobs.len()];
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(jobs.len());
    // The money, by (user, project, day, month), in order of first arrival.
    let mut done = vec![false; jobs.len()];
    for first in 0..jobs.len() {
        if done[first] {
            continue;
        }
        let key = |a: &Admit| {
            let r = &a.request;
            (r.user_id, r.project_id, a.periods.day.clone(), a.periods.month.clone(), a.limits)
        };
        let k = key(jobs[first]);
        let group: Vec<usize> = (first..jobs.len()).filter(|i| !done[*i] && key(jobs[*i]) == k).collect();
        for i in &group {
            done[*i] = true;
        }
        let (user, project, day, month, limits) = k;
        let mut ring = Ring::read(conn, project, limits, group.len())?;
        let m: Money = Stmt::new(
            "SELECT u.balance AS balance, u.reserved AS reserved, ud.used AS used_day, um.used AS used_month, \
             uu.used AS user_used_day FROM users u \
             JOIN project_usage ud ON ud.project_id = ? AND ud.period = ? \
             JOIN project_usage um ON um.project_id = ? AND um.period = ? \
             JOIN user_usage uu ON uu.user_id = u.id AND uu.period = ? WHERE u.id = ?",
        )
        .int(project)
        .text(&day)
        .int(project)
        .text(&month)
        .text(&day)
        .int(user)
        .first(conn)?
        .ok_or(RepoError::NotFound)?;
        let mut taken = 0_i64;
        for i in group {
            let a = jobs[i];
            let now = counters::to_micros(a.now);
            if let Some(window) = ring.as_mut().and_then(|r| r.full(now)) {
                refused[i] = Some(Held::Rate(window));
                continue;
            }
            let (amount, p) = (a.request.estimated, &a.periods);
            let refusal = if m.balance - m.reserved - taken < amount {
                Some(Refusal::Balance)
            } else if m.used_day + taken + amount > p.daily_limit {
                Some(Refusal::Daily)
            } else if m.used_month + taken + amount > p.monthly_limit {
                Some(Refusal::Monthly)
            } else if m.user_used_day + taken + amount > p.user_daily_limit {
                Some(Refusal::SystemDaily)
            } else {
                None
            };
            match refusal {
                Some(r) => refused[i] = Some(Held::Money(r)),
                None => {
                    if let Some(r) = ring.as_mut() {
                        r.take(now);
                    }
                    taken += amount;
                    let reference = a.request.public_id.as_str();
                    entries.push((user, "reserve", amount, m.balance, m.reserved + taken, reference, a.now));
                }
            }
        }
        if let Some(r) = ring {
            r.write(conn, project)?;
        }
        if taken == 0 {
            continue;
        }
        let n = Stmt::new(
            "UPDATE users SET reserved = reserved + ? WHERE id = ? AND reserved = ? AND balance = ?",
        )
        .int(taken)
        .int(user)
        .int(m.reserved)
        .int(m.balance)
        .execute(conn)?;
        if n != 1 {
            return Err(moved("the balance"));
        }
        let n = Stmt::new(
            "UPDATE project_usage SET used = used + ? WHERE project_id = ? \
             AND ((period = ? AND used = ?) OR (period = ? AND used = ?))",
        )
        .int(taken)
        .int(project)
        .text(&day)
        .int(m.used_day)
        .text(&month)
        .int(m.used_month)
        .execute(conn)?;
        if n != 2 {
            return Err(moved("the project's usage"));
        }
        let n =
            Stmt::new("UPDATE user_usage SET used = used + ? WHERE user_id = ? AND period = ? AND used = ?")
                .int(taken)
                .int(user)
                .text(&day)
                .int(m.user_used_day)
                .execute(conn)?;
        if n != 1 {
            return Err(moved("the owner's usage"));
        }
    }
    let approved: Vec<&Admit> =
        jobs.iter().zip(&refused).filter(|(_, r)| r.is_none()).map(|(a, _)| *a).collect();
    let mut stored: Vec<AiRequest> = Vec::with_capacity(approved.len());
    if !approved.is_empty() {
        // The requests, then their payments (which name the requests' ids).
        let mut sql = String::from(
            "INSERT INTO ai_requests (public_id, user_id, project_id, agent_id, provider, model, operation, status, \
             outcome, reason, tier, risk_score, decision, body, estimated, day, month, fingerprint, idempotency_key, \
             created_at, updated_at) VALUES ",
        );
        push_rows(&mut sql, approved.len(), 21);
        sql.push_str(" RETURNING id, public_id");
        let mut stmt = Stmt::built(sql);
        for a in &approved {
            stmt = requests::bind_new(stmt, &a.request);
        }
        let ids: Vec<IdOf> = stmt.load(conn)?;
        for a in &approved {
            let id = ids
                .iter()
                .find(|r| r.public_id == a.request.public_id)
                .map(|r| r.id)
                .ok_or(RepoError::NotFound)?;
            stored.push(requests::stored(id, &a.request));
        }
        let mut sql = String::from(
            "INSERT INTO request_payments (public_id, request_id, user_id, status, estimated, created_at, updated_at) \
             VALUES ",
        );
        push_rows(&mut sql, approved.len(), 7);
        let mut stmt = Stmt::built(sql);
        for (a, row) in approved.iter().zip(&stored) {
            stmt = stmt
                .text(&a.payment)
                .int(row.id)
                .int(row.user_id)
                .text(PaymentStatus::Reserved.as_str())
                .int(row.estimated)
                .time(a.now)
                .time(a.now);
        }
        stmt.execute(conn)?;
        insert_ledger(conn, &entries)?;
        let events: Vec<_> = approved.iter().flat_map(|a| a.events.iter().map(EventRow::as_new)).collect();
        audit::insert_many(conn, &events)?;
        // The hours' counts, one statement per project and hour.
        let mut hours: Vec<(i64, &str, i64)> = Vec::new();
        for a in &approved {
            let (p, h) = (a.request.project_id, a.hour.as_str());
            match hours.iter_mut().find(|(q, g, _)| *q == p && *g == h) {
                Some(c) => c.2 += 1,
                None => hours.push((p, h, 1)),
            }
        }
        for (project, hour, n) in hours {
            counters::count_decided(conn, project, hour, n, 0)?;
        }
    }
    let mut stored = stored.into_iter();
    refused
        .into_iter()
        .map(|r| match r {
            Some(held) => Ok(Err(held)),
            None => stored.next().map(Ok).ok_or(RepoError::NotFound),
        })
        .collect()
}

/// Writes a batch of settlements (see the module). `Ok` holds each one's result in order. An
/// `Err` leaves writes for the caller to roll back.
pub fn settle_all(conn: &mut DbConnection, jobs: &[&Settle]) -> Result<Vec<SettleResult>, RepoError> {
    let Some(first) = jobs.first() else { return Ok(Vec::new()) };
    let one_owner = jobs.iter().all(|s| s.request.user_id == first.request.user_id);
    // One owner's batch on PostgreSQL: one statement (a round trip) for all of it, unless a
    // request was released meanwhile.
    let together = match conn {
        DbConnection::Postgresql(_) if one_owner => settle_in_one(conn, jobs)?,
        _ => None,
    };
    let (finished, payments) = match together {
        Some(payments) => (vec![true; jobs.len()], payments),
        None => settle_statements(conn, jobs)?,
    };
    let live: Vec<&Settle> = jobs.iter().zip(&finished).filter(|(_, f)| **f).map(|(s, _)| *s).collect();
    // The views, one read per distinct key.
    let mut views: Vec<(ViewKey<'_>, Settled)> = Vec::new();
    for s in &live {
        if !views.iter().any(|(k, _)| *k == s.view_key()) {
            let view = s.view(conn)?;
            views.push((s.view_key(), view));
        }
    }
    let mut payments = payments.into_iter();
    let mut out = Vec::with_capacity(jobs.len());
    for (s, f) in jobs.iter().zip(finished) {
        if !f {
            out.push((Settlement::Released, None));
            continue;
        }
        let view = views.iter().find(|(k, _)| *k == s.view_key()).map(|(_, v)| v.clone());
        out.push((Settlement::Settled(payments.next().flatten()), view));
    }
    Ok(out)
}

/// One owner's batch of settlements as one statement of data-modifying `WITH` queries
/// (PostgreSQL): the requests finished, and only if every one of them was still executing, the
/// payments, the owner's balance, the ledger entries (each with the balances after its own
/// movement: the row's final values plus what the later calls of the batch moved), the usage
/// returned, the running totals and the audit events. `None` when a request was no longer
/// executing: nothing was written. (Should one be released while the statement runs, the checks
/// fail it, and the caller rolls back.)
fn settle_in_one(
    conn: &mut DbConnection,
    jobs: &[&Settle],
) -> Result<Option<Vec<Option<RequestPayment>>>, RepoError> {
    let n = jobs.len();
    let user = jobs.first().map_or(0, |s| s.request.user_id);
    let released: i64 = jobs.iter().map(|s| s.request.estimated).sum();
    let charged: i64 = jobs.iter().map(|s| s.charged).sum();
    let references: Vec<Option<String>> =
        jobs.iter().map(|s| (s.charged > 0).then(|| format!("ledger:{}", s.request.public_id))).collect();
    // The ledger rows with what the later calls move: `(kind, amount, balance delta, reserved delta)`.
    let mut ledger: Vec<(&Settle, &'static str, i64, i64, i64)> = Vec::with_capacity(2 * n);
    let (mut later_charged, mut later_released) = (0_i64, 0_i64);
    for s in jobs.iter().rev() {
        if s.charged > 0 {
            ledger.push((s, "charge", -s.charged, later_charged, later_released));
        }
        ledger.push((s, "release", -s.request.estimated, later_charged, later_released));
        later_charged += s.charged;
        later_released += s.request.estimated;
    }
    ledger.reverse();
    let mut periods: Vec<(i64, &str, i64)> = Vec::new();
    let mut days_used: Vec<(i64, &str, i64)> = Vec::new();
    for s in jobs {
        let r = &s.request;
        let unused = (r.estimated - s.charged).max(0);
        add(&mut periods, r.project_id, r.day.as_str(), unused);
        add(&mut periods, r.project_id, r.month.as_str(), unused);
        add(&mut days_used, r.user_id, r.day.as_str(), unused);
    }
    let Totals { days, hours, seen } = totals_of(jobs);
    let values = |sql: &mut String, rows: usize, cols: usize| {
        sql.push_str("(VALUES ");
        push_rows(sql, rows, cols);
        sql.push_str(") AS v");
    };
    // Whether every request is still executing, as the statement's snapshot sees them; if not,
    // it writes nothing.
    let mut sql = String::from(
        "WITH c AS (SELECT count(*) = ? AS go FROM ai_requests WHERE status = 'executing' AND id IN (",
    );
    for i in 0..n {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
    }
    sql.push_str(
        ")), f AS (UPDATE ai_requests AS r SET status = 'executed', charged = v.column2, input_tokens = v.column3, \
         output_tokens = v.column4, latency_ms = v.column5, response = v.column6, error = v.column7, \
         updated_at = v.column8 FROM ",
    );
    values(&mut sql, n, 8);
    sql.push_str(
        " WHERE r.id = v.column1 AND r.status = 'executing' AND (SELECT go FROM c) RETURNING r.id), \
         ok AS (SELECT count(*) = ? AS go FROM f), \
         m AS (UPDATE request_payments AS m SET status = 'committed', amount = v.column2, actual = v.column3, \
         variance = m.estimated - v.column3, tx_reference = v.column4, updated_at = v.column5 FROM ",
    );
    values(&mut sql, n, 5);
    sql.push_str(
        " WHERE m.request_id = v.column1 AND (SELECT go FROM ok) RETURNING m.*), \
         u AS (UPDATE users SET reserved = reserved - ?, balance = balance - ? \
         WHERE id = ? AND reserved >= ? AND balance >= ? AND (SELECT go FROM ok) RETURNING id, balance, reserved), \
         l AS (INSERT INTO ledger_entries (public_id, user_id, kind, amount, balance_after, reserved_after, \
         reference, note, created_at) SELECT v.column1, u.id, v.column2, v.column3, u.balance + v.column4, \
         u.reserved + v.column5, v.column6, '', v.column7 FROM u CROSS JOIN ",
    );
    values(&mut sql, ledger.len(), 7);
    sql.push_str(" RETURNING 1), pu AS (UPDATE project_usage AS x SET used = x.used - v.column3 FROM ");
    values(&mut sql, periods.len(), 3);
    sql.push_str(
        " WHERE x.project_id = v.column1 AND x.period = v.column2 AND EXISTS (SELECT 1 FROM u) RETURNING 1), \
         uu AS (UPDATE user_usage AS x SET used = x.used - v.column3 FROM ",
    );
    values(&mut sql, days_used.len(), 3);
    sql.push_str(
        " WHERE x.user_id = v.column1 AND x.period = v.column2 AND EXISTS (SELECT 1 FROM u) RETURNING 1), \
         t AS (INSERT INTO project_days (project_id, day, executed, charged, charged_sq) \
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5 FROM ",
    );
    values(&mut sql, days.len(), 5);
    sql.push_str(
        " WHERE (SELECT go FROM ok) ON CONFLICT (project_id, day) DO UPDATE SET \
         executed = project_days.executed + excluded.executed, charged = project_days.charged + excluded.charged, \
         charged_sq = project_days.charged_sq + excluded.charged_sq RETURNING 1), \
         h AS (INSERT INTO user_hours (user_id, hour, charged) SELECT v.column1, v.column2, v.column3 FROM ",
    );
    values(&mut sql, hours.len(), 3);
    sql.push_str(
        " WHERE (SELECT go FROM ok) ON CONFLICT (user_id, hour) DO UPDATE SET \
         charged = user_hours.charged + excluded.charged RETURNING 1), \
         s AS (INSERT INTO project_seen (project_id, kind, value, last_day) \
         SELECT v.column1, v.column2, v.column3, v.column4 FROM ",
    );
    values(&mut sql, seen.len(), 4);
    sql.push_str(
        " WHERE (SELECT go FROM ok) ON CONFLICT (project_id, kind, value) DO UPDATE SET last_day = excluded.last_day \
         RETURNING 1), \
         e AS (INSERT INTO audit_events (event_id, occurred_at, actor_type, actor_id, action, subject_type, \
         subject_id, request_id, details, result) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, \
         v.column6, v.column7, v.column8, v.column9, v.column10 FROM ",
    );
    values(&mut sql, n, 10);
    sql.push_str(
        " WHERE (SELECT go FROM ok) RETURNING 1) \
         SELECT (SELECT go FROM c) AS ready, (SELECT count(*) FROM f) AS finished, (SELECT count(*) FROM u) AS users, \
         (SELECT count(*) FROM l) AS ledger, (SELECT count(*) FROM pu) + (SELECT count(*) FROM uu) AS usage, \
         (SELECT count(*) FROM t) + (SELECT count(*) FROM h) + (SELECT count(*) FROM s) \
         + (SELECT count(*) FROM e) AS totals, \
         m.id, m.public_id, m.request_id, m.user_id, m.amount, m.currency, m.rail, m.tx_reference, m.status, \
         m.estimated, m.actual, m.variance, m.created_at, m.updated_at \
         FROM (SELECT 1 AS one) AS one LEFT JOIN m ON TRUE",
    );
    let mut stmt = Stmt::built(sql).int(n as i64);
    for s in jobs {
        stmt = stmt.int(s.request.id);
    }
    for s in jobs {
        stmt = s.bind_finish(stmt);
    }
    stmt = stmt.int(n as i64);
    for (s, reference) in jobs.iter().zip(&references) {
        stmt =
            stmt.int(s.request.id).int(s.charged).int(s.actual).maybe_text(reference.as_deref()).time(s.now);
    }
    stmt = stmt.int(released).int(charged).int(user).int(released).int(charged);
    for (s, kind, amount, balance_delta, reserved_delta) in &ledger {
        stmt = stmt
            .text(ordered_id("led"))
            .text(*kind)
            .int(*amount)
            .int(*balance_delta)
            .int(*reserved_delta)
            .text(s.request.public_id.as_str())
            .time(s.now);
    }
    for (project, period, unused) in &periods {
        stmt = stmt.int(*project).text(*period).int(*unused);
    }
    for (user, day, unused) in &days_used {
        stmt = stmt.int(*user).text(*day).int(*unused);
    }
    for (project, day, executed, charged, sq) in &days {
        stmt = stmt.int(*project).text(day.as_str()).int(*executed).int(*charged).float(*sq);
    }
    for (user, hour, charged) in &hours {
        stmt = stmt.int(*user).text(hour.as_str()).int(*charged);
    }
    for (project, kind, value, day) in &seen {
        stmt = stmt.int(*project).text(*kind).text(value.as_str()).text(day.as_str());
    }
    for s in jobs {
        stmt = audit::bind_new(stmt, &s.event.as_new());
    }
    let rows: Vec<SettledInOne> = stmt.load(conn)?;
    let Some(got) = rows.first() else { return Err(RepoError::NotFound) };
    if !got.ready {
        return Ok(None);
    }
    if got.finished != n as i64 {
        return Err(moved("a request"));
    }
    if got.users != 1 || got.ledger != ledger.len() as i64 {
        return Err(RepoError::CheckViolation("the reservation is not held".into()));
    }
    let wanted_totals = (days.len() + hours.len() + seen.len() + n) as i64;
    if got.usage != (periods.len() + days_used.len()) as i64 || got.totals != wanted_totals {
        return Err(moved("a running total"));
    }
    let payments: Vec<RequestPayment> = rows.into_iter().filter_map(SettledInOne::payment).collect();
    Ok(Some(jobs.iter().map(|s| payments.iter().find(|p| p.request_id == s.request.id).cloned()).collect()))
}

/// What [`settle_in_one`] matched and wrote, and one settled payment per row.
#[derive(QueryableByName)]
struct SettledInOne {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ready: bool,
    #[diesel(sql_type = BigInt)]
    finished: i64,
    #[diesel(sql_type = BigInt)]
    users: i64,
    #[diesel(sql_type = BigInt)]
    ledger: i64,
    #[diesel(sql_type = BigInt)]
    usage: i64,
    #[diesel(sql_type = BigInt)]
    totals: i64,
    #[diesel(embed)]
    payment: super::PaymentColumns,
}

impl SettledInOne {
    fn payment(self) -> Option<RequestPayment> {
        self.payment.payment()
    }
}

/// [`settle_all`] statement by statement: which requests finished, and their payments.
fn settle_statements(
    conn: &mut DbConnection,
    jobs: &[&Settle],
) -> Result<(Vec<bool>, Vec<Option<RequestPayment>>), RepoError> {
    // The requests `executing → executed`; the ones released meanwhile are left out of the rest.
    let finished: Vec<bool> = match conn {
        DbConnection::Postgresql(_) => {
            let mut sql = String::from(
                "UPDATE ai_requests AS r SET status = 'executed', charged = v.column2, input_tokens = v.column3, \
                 output_tokens = v.column4, latency_ms = v.column5, response = v.column6, error = v.column7, \
                 updated_at = v.column8 FROM (VALUES ",
            );
            push_rows(&mut sql, jobs.len(), 8);
            sql.push_str(") AS v WHERE r.id = v.column1 AND r.status = 'executing' RETURNING r.id");
            let mut stmt = Stmt::built(sql);
            for s in jobs {
                stmt = s.bind_finish(stmt);
            }
            let ids: Vec<Finished> = stmt.load(conn)?;
            jobs.iter().map(|s| ids.iter().any(|f| f.id == s.request.id)).collect()
        }
        // Statements cost no round trip here: one prepared update per request.
        DbConnection::Sqlite(_) => {
            let mut out = Vec::with_capacity(jobs.len());
            for s in jobs {
                out.push(requests::finish(conn, s.request.id, RequestStatus::Executed, &s.finish(), s.now)?);
            }
            out
        }
    };
    let live: Vec<&Settle> = jobs.iter().zip(&finished).filter(|(_, f)| **f).map(|(s, _)| *s).collect();
    let mut payments: Vec<Option<RequestPayment>> = Vec::with_capacity(live.len());
    let references: Vec<Option<String>> =
        live.iter().map(|s| (s.charged > 0).then(|| format!("ledger:{}", s.request.public_id))).collect();
    if !live.is_empty() {
        match conn {
            DbConnection::Postgresql(_) => {
                let mut sql = String::from(
                    "UPDATE request_payments AS m SET status = 'committed', amount = v.column2, actual = v.column3, \
                     variance = m.estimated - v.column3, tx_reference = v.column4, updated_at = v.column5 \
                     FROM (VALUES ",
                );
                push_rows(&mut sql, live.len(), 5);
                sql.push_str(") AS v WHERE m.request_id = v.column1 RETURNING m.*");
                let mut stmt = Stmt::built(sql);
                for (s, reference) in live.iter().zip(&references) {
                    stmt = stmt
                        .int(s.request.id)
                        .int(s.charged)
                        .int(s.actual)
                        .maybe_text(reference.as_deref())
                        .time(s.now);
                }
                let rows: Vec<RequestPayment> = stmt.load(conn)?;
                for s in &live {
                    payments.push(rows.iter().find(|p| p.request_id == s.request.id).cloned());
                }
            }
            DbConnection::Sqlite(_) => {
                for (s, reference) in live.iter().zip(&references) {
                    payments.push(requests::settle_payment(
                        conn,
                        s.request.id,
                        PaymentStatus::Committed,
                        s.charged,
                        s.actual,
                        reference.as_deref(),
                        s.now,
                    )?);
                }
            }
        }
        settle_money(conn, &live)?;
        settle_totals(conn, &live)?;
        let events: Vec<_> = live.iter().map(|s| s.event.as_new()).collect();
        audit::insert_many(conn, &events)?;
    }
    Ok((finished, payments))
}

/// The money of settled calls: each owner's reservation released and charge taken in one update,
/// what was left unused returned to the project's and the owner's usage, the ledger entries.
fn settle_money(conn: &mut DbConnection, live: &[&Settle]) -> Result<(), RepoError> {
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(live.len() * 2);
    let mut users: Vec<i64> = live.iter().map(|s| s.request.user_id).collect();
    users.sort_unstable();
    users.dedup();
    for user in users {
        let mine: Vec<&Settle> = live.iter().filter(|s| s.request.user_id == user).copied().collect();
        let released: i64 = mine.iter().map(|s| s.request.estimated).sum();
        let charged: i64 = mine.iter().map(|s| s.charged).sum();
        let after: Option<After> = Stmt::new(
            "UPDATE users SET reserved = reserved - ?, balance = balance - ? \
             WHERE id = ? AND reserved >= ? AND balance >= ? RETURNING balance, reserved",
        )
        .int(released)
        .int(charged)
        .int(user)
        .int(released)
        .int(charged)
        .first(conn)?;
        let after = after.ok_or_else(|| RepoError::CheckViolation("the reservation is not held".into()))?;
        // Each call's entries carry the balances after its own movement, in order.
        let (mut balance, mut reserved) = (after.balance + charged, after.reserved + released);
        for s in mine {
            let r = &s.request;
            balance -= s.charged;
            reserved -= r.estimated;
            entries.push((user, "release", -r.estimated, balance, reserved, r.public_id.as_str(), s.now));
            if s.charged > 0 {
                entries.push((user, "charge", -s.charged, balance, reserved, r.public_id.as_str(), s.now));
            }
        }
    }
    insert_ledger(conn, &entries)?;
    // What was reserved and not charged goes back to the budgets.
    let mut project_periods: Vec<(i64, &str, i64)> = Vec::new();
    let mut user_days: Vec<(i64, &str, i64)> = Vec::new();
    for s in live {
        let r = &s.request;
        let unused = r.estimated - s.charged;
        if unused <= 0 {
            continue;
        }
        for period in [r.day.as_str(), r.month.as_str()] {
            add(&mut project_periods, r.project_id, period, unused);
        }
        add(&mut user_days, r.user_id, r.day.as_str(), unused);
    }
    for (project, period, unused) in project_periods {
        Stmt::new("UPDATE project_usage SET used = used - ? WHERE project_id = ? AND period = ?")
            .int(unused)
            .int(project)
            .text(period)
            .execute(conn)?;
    }
    for (user, day, unused) in user_days {
        Stmt::new("UPDATE user_usage SET used = used - ? WHERE user_id = ? AND period = ?")
            .int(unused)
            .int(user)
            .text(day)
            .execute(conn)?;
    }
    Ok(())
}

/// Adds `n` to the entry of `(id, key)`.
fn add<'a>(sums: &mut Vec<(i64, &'a str, i64)>, id: i64, key: &'a str, n: i64) {
    match sums.iter_mut().find(|(i, k, _)| *i == id && *k == key) {
        Some(e) => e.2 += n,
        None => sums.push((id, key, n)),
    }
}

/// A batch's additions to the running totals, one entry per key.
struct Totals {
    /// `(project, day, executed, charged, charged²)`.
    days: Vec<(i64, String, i64, i64, f64)>,
    /// `(user, hour, charged)`.
    hours: Vec<(i64, String, i64)>,
    /// `(project, kind, value, last day)`.
    seen: Vec<(i64, &'static str, String, String)>,
}

fn totals_of(live: &[&Settle]) -> Totals {
    let mut days: Vec<(i64, String, i64, i64, f64)> = Vec::new();
    let mut hours: Vec<(i64, String, i64)> = Vec::new();
    let mut seen: Vec<(i64, &'static str, String, String)> = Vec::new();
    for s in live {
        let r = &s.request;
        let ([provider, model, hour_of_day], day, hour) =
            counters::seen_of(r.created_at, &r.provider, &r.model);
        let sq = (s.charged as f64) * (s.charged as f64);
        match days.iter_mut().find(|d| d.0 == r.project_id && d.1 == day) {
            Some(d) => {
                d.2 += 1;
                d.3 += s.charged;
                d.4 += sq;
            }
            None => days.push((r.project_id, day.clone(), 1, s.charged, sq)),
        }
        match hours.iter_mut().find(|h| h.0 == r.user_id && h.1 == hour) {
            Some(h) => h.2 += s.charged,
            None => hours.push((r.user_id, hour, s.charged)),
        }
        for (kind, value) in [("provider", provider), ("model", model), ("hour", hour_of_day)] {
            match seen.iter_mut().find(|e| e.0 == r.project_id && e.1 == kind && e.2 == value) {
                Some(e) => {
                    if day > e.3 {
                        e.3 = day.clone();
                    }
                }
                None => seen.push((r.project_id, kind, value, day.clone())),
            }
        }
    }
    Totals { days, hours, seen }
}

/// The running totals of settled calls: each project's day (executed, charged, charged²), each
/// owner's hour, what each project used.
fn settle_totals(conn: &mut DbConnection, live: &[&Settle]) -> Result<(), RepoError> {
    let Totals { days, hours, seen } = totals_of(live);
    for (project, day, executed, charged, sq) in days {
        Stmt::new(
            "INSERT INTO project_days (project_id, day, executed, charged, charged_sq) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (project_id, day) DO UPDATE SET executed = project_days.executed + excluded.executed, \
             charged = project_days.charged + excluded.charged, charged_sq = project_days.charged_sq + excluded.charged_sq",
        )
        .int(project)
        .text(day)
        .int(executed)
        .int(charged)
        .float(sq)
        .execute(conn)?;
    }
    for (user, hour, charged) in hours {
        Stmt::new(
            "INSERT INTO user_hours (user_id, hour, charged) VALUES (?, ?, ?) \
             ON CONFLICT (user_id, hour) DO UPDATE SET charged = user_hours.charged + excluded.charged",
        )
        .int(user)
        .text(hour)
        .int(charged)
        .execute(conn)?;
    }
    for chunk in seen.chunks(100) {
        let mut sql = String::from("INSERT INTO project_seen (project_id, kind, value, last_day) VALUES ");
        push_rows(&mut sql, chunk.len(), 4);
        sql.push_str(" ON CONFLICT (project_id, kind, value) DO UPDATE SET last_day = excluded.last_day");
        let mut stmt = Stmt::built(sql);
        for (project, kind, value, day) in chunk {
            stmt = stmt.int(*project).text(*kind).text(value.as_str()).text(day.as_str());
        }
        stmt.execute(conn)?;
    }
    Ok(())
}
