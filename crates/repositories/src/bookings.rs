//! Bookings and their half-slots. The primary key of `booking_slots` is the availability
//! invariant: two bookings whose half-slots intersect cannot both hold them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_booking::{Booking, BookingSlot, NewBooking};
use models::schema::{booking_slots, bookings};

use crate::{DbConnection, Page, RepoError};

/// Inserts a booking and returns it.
pub fn insert(conn: &mut DbConnection, new: &NewBooking) -> Result<Booking, RepoError> {
    diesel::insert_into(bookings::table).values(new).execute(conn)?;
    by_reference(conn, &new.reference)
}

/// Takes a half-slot; a `UniqueViolation` means it is held by another booking.
pub fn take_slot(conn: &mut DbConnection, slot: &BookingSlot) -> Result<(), RepoError> {
    diesel::insert_into(booking_slots::table).values(slot).execute(conn)?;
    Ok(())
}

/// Frees a booking's half-slots.
pub fn release_slots(conn: &mut DbConnection, booking_id: i64) -> Result<usize, RepoError> {
    Ok(diesel::delete(booking_slots::table.filter(booking_slots::booking_id.eq(booking_id))).execute(conn)?)
}

/// Occupied half-slots of a property between two dates (inclusive), as `(date, half)`.
pub fn taken_slots(
    conn: &mut DbConnection,
    property_id: i64,
    from: &str,
    to: &str,
) -> Result<Vec<(String, String)>, RepoError> {
    Ok(booking_slots::table
        .filter(booking_slots::property_id.eq(property_id))
        .filter(booking_slots::date.ge(from))
        .filter(booking_slots::date.le(to))
        .select((booking_slots::date, booking_slots::half))
        .load(conn)?)
}

/// The booking with this reference.
pub fn by_reference(conn: &mut DbConnection, reference: &str) -> Result<Booking, RepoError> {
    Ok(bookings::table.filter(bookings::reference.eq(reference)).select(Booking::as_select()).first(conn)?)
}

/// The booking with this id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<Booking, RepoError> {
    Ok(bookings::table.find(id).select(Booking::as_select()).first(conn)?)
}

/// Listing filters.
#[derive(Clone, Debug, Default)]
pub struct BookingFilter {
    /// One guest's bookings.
    pub guest_id: Option<i64>,
    /// Bookings of these properties.
    pub property_ids: Option<Vec<i64>>,
    /// One status.
    pub status: Option<String>,
    /// Stays on or after this date (`YYYY-MM-DD`).
    pub date_from: Option<String>,
    /// Stays on or before this date (`YYYY-MM-DD`).
    pub date_to: Option<String>,
}

/// Bookings, newest first.
pub fn list(conn: &mut DbConnection, filter: &BookingFilter, page: Page) -> Result<Vec<Booking>, RepoError> {
    let mut q = bookings::table
        .select(Booking::as_select())
        .order(bookings::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(bookings::id.lt(before));
    }
    if let Some(g) = filter.guest_id {
        q = q.filter(bookings::guest_id.eq(g));
    }
    if let Some(ids) = &filter.property_ids {
        q = q.filter(bookings::property_id.eq_any(ids.clone()));
    }
    if let Some(s) = &filter.status {
        q = q.filter(bookings::status.eq(s.clone()));
    }
    // ISO dates compare as text.
    if let Some(d) = &filter.date_from {
        q = q.filter(bookings::date.ge(d.clone()));
    }
    if let Some(d) = &filter.date_to {
        q = q.filter(bookings::date.le(d.clone()));
    }
    Ok(q.load(conn)?)
}

/// Compare-and-swap of the status: moves the booking to `to` only if its status is one of
/// `from`. Sets the hold deadline and reason as given. Returns false when the status had changed.
pub fn transition(
    conn: &mut DbConnection,
    id: i64,
    from: &[&str],
    to: &str,
    hold_expires_at: Option<NaiveDateTime>,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    let from: Vec<String> = from.iter().map(|s| s.to_string()).collect();
    let n = diesel::update(bookings::table.find(id).filter(bookings::status.eq_any(from)))
        .set((
            bookings::status.eq(to),
            bookings::hold_expires_at.eq(hold_expires_at),
            bookings::status_reason.eq(reason),
            bookings::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Pending bookings whose hold lapsed before `now`.
pub fn lapsed_holds(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Booking>, RepoError> {
    Ok(bookings::table
        .filter(bookings::status.eq("pending"))
        .filter(bookings::hold_expires_at.lt(now))
        .order(bookings::id.asc())
        .limit(limit)
        .select(Booking::as_select())
        .load(conn)?)
}

/// Confirmed bookings whose stay ended before `now`.
pub fn finished_stays(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Booking>, RepoError> {
    Ok(bookings::table
        .filter(bookings::status.eq("confirmed"))
        .filter(bookings::ends_at.lt(now))
        .order(bookings::id.asc())
        .limit(limit)
        .select(Booking::as_select())
        .load(conn)?)
}

/// Number of bookings (any status) for the slot-free check in tests and reports.
pub fn count_holding(conn: &mut DbConnection, property_id: i64) -> Result<i64, RepoError> {
    Ok(bookings::table
        .filter(bookings::property_id.eq(property_id))
        .filter(bookings::status.eq_any(["pending", "waiting", "confirmed"]))
        .count()
        .get_result(conn)?)
}
