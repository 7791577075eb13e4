//! Payment proofs of bookings. Transaction ids and screenshot hashes are unique in the database.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_booking::{Booking, BookingPayment, NewBookingPayment};
use models::schema::{booking_payments, bookings};

use crate::{DbConnection, Page, RepoError};

/// Inserts a proof; a `UniqueViolation` names the duplicated transaction id or image.
pub fn insert(conn: &mut DbConnection, new: &NewBookingPayment) -> Result<BookingPayment, RepoError> {
    diesel::insert_into(booking_payments::table).values(new).execute(conn)?;
    by_public_id(conn, &new.public_id)
}

/// The proof with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<BookingPayment, RepoError> {
    Ok(booking_payments::table
        .filter(booking_payments::public_id.eq(public_id))
        .select(BookingPayment::as_select())
        .first(conn)?)
}

/// True when a proof with this transaction id exists.
pub fn transaction_id_used(conn: &mut DbConnection, transaction_id: &str) -> Result<bool, RepoError> {
    let n: i64 = booking_payments::table
        .filter(booking_payments::transaction_id.eq(transaction_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// True when a proof with this screenshot hash exists.
pub fn image_used(conn: &mut DbConnection, sha256: &str) -> Result<bool, RepoError> {
    let n: i64 =
        booking_payments::table.filter(booking_payments::image_sha256.eq(sha256)).count().get_result(conn)?;
    Ok(n > 0)
}

/// The public ids of a booking's payments, oldest first.
pub fn public_ids_of_booking(conn: &mut DbConnection, booking_id: i64) -> Result<Vec<String>, RepoError> {
    Ok(booking_payments::table
        .filter(booking_payments::booking_id.eq(booking_id))
        .order(booking_payments::id.asc())
        .select(booking_payments::public_id)
        .load(conn)?)
}

/// Proofs awaiting review with their bookings, oldest first.
pub fn pending_review(
    conn: &mut DbConnection,
    page: Page,
) -> Result<Vec<(BookingPayment, Booking)>, RepoError> {
    let mut q = booking_payments::table
        .inner_join(bookings::table)
        .filter(booking_payments::status.eq("pending_review"))
        .select((BookingPayment::as_select(), Booking::as_select()))
        .order(booking_payments::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(booking_payments::id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// Decides a proof (compare-and-swap from `pending_review`); false when already decided.
pub fn decide(
    conn: &mut DbConnection,
    id: i64,
    status: &str,
    decided_by: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let n = diesel::update(
        booking_payments::table.find(id).filter(booking_payments::status.eq("pending_review")),
    )
    .set((
        booking_payments::status.eq(status),
        booking_payments::decided_by.eq(decided_by),
        booking_payments::decision_reason.eq(reason),
        booking_payments::decided_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Proofs waiting since before `older_than` and not reminded since then.
pub fn due_for_reminder(
    conn: &mut DbConnection,
    older_than: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(BookingPayment, Booking)>, RepoError> {
    Ok(booking_payments::table
        .inner_join(bookings::table)
        .filter(booking_payments::status.eq("pending_review"))
        .filter(booking_payments::created_at.lt(older_than))
        .filter(booking_payments::reminded_at.is_null().or(booking_payments::reminded_at.lt(older_than)))
        .order(booking_payments::id.asc())
        .limit(limit)
        .select((BookingPayment::as_select(), Booking::as_select()))
        .load(conn)?)
}

/// Records that admins were reminded.
pub fn mark_reminded(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), RepoError> {
    diesel::update(booking_payments::table.find(id))
        .set(booking_payments::reminded_at.eq(now))
        .execute(conn)?;
    Ok(())
}
