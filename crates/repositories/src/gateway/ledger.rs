//! Account balances and the ledger: every movement is a row written in the same transaction as
//! the conditional update that moves the money.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::ids::ordered_id;
use models::rows::{LedgerEntry, NewLedgerEntry};
use models::schema::{ledger_entries, users};

use crate::stmt::Stmt;
use crate::{DbConnection, Page, RepoError};

/// Kinds whose amounts change the balance (reserve and release change the reserved amount).
pub const BALANCE_KINDS: [&str; 4] = ["deposit", "charge", "refund", "adjustment"];

/// Credits (positive) or debits (negative) the balance, never below zero, and records it.
/// `NotFound` when the user does not exist; `CheckViolation` when a debit would go negative.
pub fn move_balance(
    conn: &mut DbConnection,
    user_id: i64,
    kind: &str,
    amount: i64,
    reference: Option<&str>,
    note: &str,
    now: NaiveDateTime,
) -> Result<LedgerEntry, RepoError> {
    // A deposit also adds to what the user has deposited in all (the low-balance alert's base).
    let deposit = if kind == "deposit" { amount } else { 0 };
    let n = diesel::update(users::table.find(user_id).filter((users::balance + amount).ge(users::reserved)))
        .set((users::balance.eq(users::balance + amount), users::deposited.eq(users::deposited + deposit)))
        .execute(conn)?;
    if n == 0 {
        users::table.find(user_id).select(users::id).first::<i64>(conn)?;
        return Err(RepoError::CheckViolation("balance would fall below the reserved amount".into()));
    }
    let (balance, reserved): (i64, i64) =
        users::table.find(user_id).select((users::balance, users::reserved)).first(conn)?;
    let new = NewLedgerEntry {
        public_id: ordered_id("led"),
        user_id,
        kind: kind.into(),
        amount,
        balance_after: balance,
        reserved_after: reserved,
        reference: reference.map(str::to_string),
        note: note.into(),
        created_at: now,
    };
    diesel::insert_into(ledger_entries::table).values(&new).execute(conn)?;
    Ok(ledger_entries::table
        .filter(ledger_entries::public_id.eq(&new.public_id))
        .select(LedgerEntry::as_select())
        .first(conn)?)
}

/// Records a movement already made by a conditional update: `reserve` (+) and `release` (−) of
/// the reserved amount, `charge` (−) and `refund` (+) of the balance.
pub fn record(
    conn: &mut DbConnection,
    user_id: i64,
    kind: &str,
    amount: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    // One statement: the entry takes the balances after the movement from the user's row.
    let n = Stmt::new(
        "INSERT INTO ledger_entries (public_id, user_id, kind, amount, balance_after, reserved_after, \
         reference, note, created_at) SELECT ?, id, ?, ?, balance, reserved, ?, '', ? FROM users WHERE id = ?",
    )
    .text(ordered_id("led"))
    .text(kind)
    .int(amount)
    .text(reference)
    .time(now)
    .int(user_id)
    .execute(conn)?;
    if n == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

/// Records two movements made by one conditional update (a settlement's `release` and
/// `charge`), in that order, in one statement; both take the balances after it.
pub fn record_pair(
    conn: &mut DbConnection,
    user_id: i64,
    (first_kind, first_amount): (&str, i64),
    (second_kind, second_amount): (&str, i64),
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    let n = Stmt::new(
        "INSERT INTO ledger_entries (public_id, user_id, kind, amount, balance_after, reserved_after, \
         reference, note, created_at) \
         SELECT ?, id, ?, ?, balance, reserved, ?, '', ? FROM users WHERE id = ? \
         UNION ALL SELECT ?, id, ?, ?, balance, reserved, ?, '', ? FROM users WHERE id = ?",
    )
    .text(ordered_id("led"))
    .text(first_kind)
    .int(first_amount)
    .text(reference)
    .time(now)
    .int(user_id)
    .text(ordered_id("led"))
    .text(second_kind)
    .int(second_amount)
    .text(reference)
    .time(now)
    .int(user_id)
    .execute(conn)?;
    if n != 2 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

/// A user's ledger, newest first.
pub fn entries(conn: &mut DbConnection, user_id: i64, page: Page) -> Result<Vec<LedgerEntry>, RepoError> {
    let mut q = ledger_entries::table
        .filter(ledger_entries::user_id.eq(user_id))
        .select(LedgerEntry::as_select())
        .order(ledger_entries::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(ledger_entries::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// The sum of the balance-changing entries: equals the balance when the books are right.
pub fn balance_from_entries(conn: &mut DbConnection, user_id: i64) -> Result<i64, RepoError> {
    let amounts: Vec<i64> = ledger_entries::table
        .filter(ledger_entries::user_id.eq(user_id))
        .filter(ledger_entries::kind.eq_any(BALANCE_KINDS))
        .select(ledger_entries::amount)
        .load(conn)?;
    Ok(amounts.iter().sum())
}
