//! Bookings (SPEC §2.4): creation holds the half-slots in the same transaction (the unique key of
//! `booking_slots` refuses a conflict), and every transition is a compare-and-swap on the status,
//! audited and announced to the guest in that transaction.

use chrono::{NaiveDate, NaiveDateTime};
use models::booking::{
    advance_due, booking_reference, mask_cnic, normalise_cnic, normalise_phone, BookingStatus, Shift,
};
use models::rows_booking::{Booking, BookingSlot, NewBooking, Property};
use models::{AuditResult, Role};
use repositories::bookings::{self as repo, BookingFilter};
use repositories::{catalogue, guests, DbConnection, Page, RepoError};
use serde_json::json;

use super::{catalogue as cat, notify, Caller, Desk, Rules};
use crate::audit::{self, AuditContext, Entry};
use crate::{in_tx, with_conn, FieldError, ServiceError};

/// Identity the guest gives for a booking (SPEC §2.4: name and CNIC are required).
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// Full name.
    pub name: String,
    /// CNIC, 13 digits (dashes allowed).
    pub cnic: String,
    /// Phone, optional.
    pub phone: Option<String>,
}

/// A booking request.
#[derive(Clone, Debug)]
pub struct CreateBooking {
    /// Property public id.
    pub property: String,
    /// Start date.
    pub date: NaiveDate,
    /// Shift.
    pub shift: Shift,
    /// Party size.
    pub guests: i32,
    /// Identity.
    pub identity: Identity,
    /// For admin and website keys: the guest (`gst_…`) the booking is for.
    pub guest: Option<String>,
}

/// A booking with its property.
#[derive(Clone, Debug)]
pub struct BookingView {
    /// The booking.
    pub booking: Booking,
    /// Its property.
    pub property: Property,
    /// Guest public id.
    pub guest_id: String,
    /// CNIC as the caller may see it (masked except for admins).
    pub cnic_shown: String,
}

fn not_found(e: RepoError) -> ServiceError {
    match e {
        RepoError::NotFound => ServiceError::NotFound("booking"),
        other => other.into(),
    }
}

fn ctx(caller: &Caller, request_id: Option<String>) -> AuditContext {
    AuditContext { actor: caller.actor(), request_id }
}

/// May the caller see this booking?
fn visible(conn: &mut DbConnection, caller: &Caller, b: &Booking) -> Result<bool, RepoError> {
    Ok(match caller {
        Caller::Guest(g) => g.guest_id == b.guest_id,
        Caller::Key(p) if p.is_admin() => true,
        Caller::Key(p) if p.role == Role::Owner => catalogue::is_owner(conn, b.property_id, p.user_id)?,
        Caller::Key(p) if p.role == Role::Website => {
            guests::by_id(conn, b.guest_id)?.website_user_id == Some(p.user_id)
        }
        _ => false,
    })
}

fn view(conn: &mut DbConnection, caller: &Caller, booking: Booking) -> Result<BookingView, RepoError> {
    let property = catalogue::by_id(conn, booking.property_id)?;
    let guest = guests::by_id(conn, booking.guest_id)?;
    let cnic_shown =
        if caller.is_admin() { booking.guest_cnic.clone() } else { mask_cnic(&booking.guest_cnic) };
    Ok(BookingView { booking, property, guest_id: guest.public_id, cnic_shown })
}

/// Loads a booking the caller may see (404 otherwise).
pub(crate) fn visible_booking(
    conn: &mut DbConnection,
    caller: &Caller,
    reference: &str,
) -> Result<Booking, ServiceError> {
    let b = repo::by_reference(conn, reference).map_err(not_found)?;
    if !visible(conn, caller, &b)? {
        return Err(ServiceError::NotFound("booking"));
    }
    Ok(b)
}

fn check_identity(identity: &Identity) -> Result<(String, String, Option<String>), ServiceError> {
    let mut errors = Vec::new();
    let name = identity.name.trim().to_string();
    if name.chars().count() < 2 || name.chars().count() > 100 {
        errors.push(FieldError { field: "guest.name".into(), message: "must be 2 to 100 characters".into() });
    }
    let cnic = normalise_cnic(&identity.cnic);
    if cnic.is_none() {
        errors.push(FieldError {
            field: "guest.cnic".into(),
            message: "must be 13 digits (e.g. 42201-1234567-1)".into(),
        });
    }
    let phone = match identity.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => match normalise_phone(p) {
            Some(p) => Some(p),
            None => {
                errors.push(FieldError {
                    field: "guest.phone".into(),
                    message: "must be a phone number".into(),
                });
                None
            }
        },
        None => None,
    };
    match (cnic, errors.is_empty()) {
        (Some(cnic), true) => Ok((name, cnic, phone)),
        _ => Err(ServiceError::Validation(errors)),
    }
}

/// Creates a pending booking that holds its half-slots for `booking.hold_minutes`.
pub async fn create(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    req: CreateBooking,
) -> Result<BookingView, ServiceError> {
    let (name, cnic, phone) = check_identity(&req.identity)?;
    if !(1..=10_000).contains(&req.guests) {
        return Err(ServiceError::invalid("guests", "must be 1 to 10000"));
    }
    let target_guest: Option<String> = match caller {
        Caller::Guest(_) if req.guest.is_some() => {
            return Err(ServiceError::invalid("guest_id", "a guest books for themselves; leave it out"))
        }
        Caller::Guest(_) => None,
        Caller::Key(p) if p.is_admin() || p.role == Role::Website => {
            Some(req.guest.clone().ok_or_else(|| {
                ServiceError::invalid("guest_id", "is required for bookings made with a key")
            })?)
        }
        Caller::Key(_) => {
            return Err(ServiceError::Forbidden("only guests, websites and admins create bookings".into()))
        }
        Caller::Anonymous => return Err(ServiceError::AuthRequired),
    };
    let rules = desk.rules.clone();
    let now = desk.clock.now();
    let caller = caller.clone();
    let audit_ctx = ctx(&caller, request_id);
    in_tx(&desk.db, move |conn| {
        let guest = match (&caller, &target_guest) {
            (Caller::Guest(g), _) => guests::by_id(conn, g.guest_id)?,
            (Caller::Key(p), Some(id)) => {
                let g = guests::by_public_id(conn, id).map_err(|_| ServiceError::invalid("guest_id", "no such guest"))?;
                if p.role == Role::Website && g.website_user_id != Some(p.user_id) {
                    return Err(ServiceError::invalid("guest_id", "no such guest"));
                }
                g
            }
            _ => return Err(ServiceError::AuthRequired),
        };
        let property = catalogue::by_public_id(conn, &req.property)
            .map_err(|_| ServiceError::invalid("property_id", "no such property"))?;
        let total = cat::bookable(conn, &rules, &property, req.date, req.shift, now)?;
        if i64::from(req.guests) > i64::from(property.max_guests) + i64::from(rules.capacity_tolerance) {
            return Err(ServiceError::unprocessable(
                "CAPACITY_EXCEEDED",
                format!("{} takes at most {} guests", property.name, property.max_guests + rules.capacity_tolerance as i32),
            ));
        }
        guests::set_identity(conn, guest.id, Some(&name), Some(&cnic), phone.as_deref(), now)?;
        let (starts, ends) = req.shift.window(req.date, rules.tz);
        let booking = repo::insert(
            conn,
            &NewBooking {
                reference: booking_reference(),
                property_id: property.id,
                guest_id: guest.id,
                date: req.date.to_string(),
                shift: req.shift.as_str().into(),
                guests: req.guests,
                status: BookingStatus::Pending.as_str().into(),
                total_amount: total,
                advance_amount: advance_due(total, property.advance_percent),
                currency: rules.currency.clone(),
                guest_name: name.clone(),
                guest_cnic: cnic.clone(),
                starts_at: starts.naive_utc(),
                ends_at: ends.naive_utc(),
                hold_expires_at: Some(rules.hold_until(now)),
                created_by: caller.label(),
                created_at: now,
                updated_at: now,
            },
        )?;
        for (date, half) in cat::slot_rows(req.date, req.shift) {
            repo::take_slot(conn, &BookingSlot { property_id: property.id, date, half: half.into(), booking_id: booking.id })
                .map_err(|e| match e {
                    RepoError::UniqueViolation { .. } => ServiceError::conflict(
                        "SLOT_UNAVAILABLE",
                        format!("{} is already booked for {} {}", property.name, req.date, req.shift.label()),
                    ),
                    other => other.into(),
                })?;
        }
        audit::record(
            conn,
            &audit_ctx,
            Entry {
                action: "booking.created",
                subject_type: "booking",
                subject_id: Some(&booking.reference),
                details: json!({
                    "property": property.public_id, "date": booking.date, "shift": booking.shift,
                    "guests": booking.guests, "total": booking.total_amount, "advance": booking.advance_amount,
                    "guest": guest.public_id, "cnic": cnic,
                }),
                result: AuditResult::Success,
            },
        )?;
        notify::guest(conn, &booking, created_text(&rules, &booking, &property))?;
        Ok(view(conn, &caller, booking)?)
    })
    .await
}

fn created_text(rules: &Rules, b: &Booking, p: &Property) -> String {
    let deadline = b
        .hold_expires_at
        .map(|t| t.and_utc().with_timezone(&rules.tz).format("%H:%M on %d %b").to_string())
        .unwrap_or_default();
    format!(
        "Booking {} is held for you: {}. Total {}; please pay the advance of {} by {} to confirm. \
         The remaining {} is paid on arrival.",
        b.reference,
        notify::describe(b, p),
        notify::money(b.total_amount, &b.currency),
        notify::money(b.advance_amount, &b.currency),
        deadline,
        notify::money(b.total_amount - b.advance_amount, &b.currency),
    )
}

/// Bookings the caller may see, newest first: admins all, owners their properties', websites
/// their guests', guests their own.
pub async fn list(
    desk: &Desk,
    caller: &Caller,
    wanted: BookingsWanted,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<BookingView>, ServiceError> {
    let caller = caller.clone();
    with_conn(&desk.db, move |conn| {
        let mut filter = BookingFilter {
            status: wanted.status.map(|s| s.as_str().to_string()),
            date_from: wanted.from.map(|d| d.to_string()),
            date_to: wanted.to.map(|d| d.to_string()),
            ..BookingFilter::default()
        };
        let website_only = match &caller {
            Caller::Guest(g) => {
                filter.guest_id = Some(g.guest_id);
                None
            }
            Caller::Key(p) if p.is_admin() => None,
            Caller::Key(p) if p.role == Role::Owner => {
                filter.property_ids = Some(catalogue::owned_by(conn, p.user_id)?);
                None
            }
            Caller::Key(p) if p.role == Role::Website => Some(p.user_id),
            Caller::Key(_) => return Err(ServiceError::Forbidden("members have no bookings".into())),
            Caller::Anonymous => return Err(ServiceError::AuthRequired),
        };
        let rows = repo::list(conn, &filter, Page { limit, before })?;
        let mut out = Vec::with_capacity(rows.len());
        for b in rows {
            if let Some(site) = website_only {
                if guests::by_id(conn, b.guest_id)?.website_user_id != Some(site) {
                    continue;
                }
            }
            out.push(view(conn, &caller, b)?);
        }
        Ok(out)
    })
    .await
}

/// A booking's history from the audit trail, oldest first: its own events (created, each status)
/// and those of its payments (submitted, approved, rejected). Admins and the property's owners.
pub async fn history(
    desk: &Desk,
    caller: &Caller,
    reference: String,
) -> Result<Vec<models::rows::AuditEvent>, ServiceError> {
    match caller {
        Caller::Key(p) if p.is_admin() || p.role == Role::Owner => {}
        Caller::Anonymous => return Err(ServiceError::AuthRequired),
        _ => return Err(ServiceError::Forbidden("admins and owners only".into())),
    }
    let caller = caller.clone();
    with_conn(&desk.db, move |conn| {
        let b = visible_booking(conn, &caller, &reference)?;
        let mut subjects = vec![("booking", b.reference.clone())];
        for id in repositories::payments::public_ids_of_booking(conn, b.id)? {
            subjects.push(("booking_payment", id));
        }
        Ok(repositories::audit::about(conn, &subjects, HISTORY_LIMIT)?)
    })
    .await
}

/// The most events a booking's history shows.
const HISTORY_LIMIT: i64 = 500;

/// Which bookings a list wants; every field narrows it.
#[derive(Clone, Copy, Debug, Default)]
pub struct BookingsWanted {
    /// One status.
    pub status: Option<BookingStatus>,
    /// Stays on or after this date.
    pub from: Option<NaiveDate>,
    /// Stays on or before this date.
    pub to: Option<NaiveDate>,
}

/// One booking the caller may see.
pub async fn get(desk: &Desk, caller: &Caller, reference: String) -> Result<BookingView, ServiceError> {
    let caller = caller.clone();
    with_conn(&desk.db, move |conn| {
        let b = visible_booking(conn, &caller, &reference)?;
        Ok(view(conn, &caller, b)?)
    })
    .await
}

/// Moves a booking from one of `from` to `to` (compare-and-swap), frees its slots when it stops
/// holding them, audits and tells the guest. `INVALID_TRANSITION` when its status had changed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transition(
    conn: &mut DbConnection,
    audit_ctx: &AuditContext,
    booking: &Booking,
    from: &[BookingStatus],
    to: BookingStatus,
    hold_expires_at: Option<NaiveDateTime>,
    reason: Option<&str>,
    guest_text: Option<String>,
) -> Result<Booking, ServiceError> {
    let from_text: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    if from.is_empty()
        || !repo::transition(
            conn,
            booking.id,
            &from_text,
            to.as_str(),
            hold_expires_at,
            reason,
            models::time::now(),
        )?
    {
        let current = repo::by_id(conn, booking.id)?;
        return Err(ServiceError::conflict(
            "INVALID_TRANSITION",
            format!("booking {} is {}; it cannot become {}", booking.reference, current.status, to),
        ));
    }
    if !to.holds_slots() {
        repo::release_slots(conn, booking.id)?;
    }
    let after = repo::by_id(conn, booking.id)?;
    audit::record(
        conn,
        audit_ctx,
        Entry {
            action: &format!("booking.{}", to.as_str()),
            subject_type: "booking",
            subject_id: Some(&after.reference),
            details: json!({"from": booking.status, "to": after.status, "reason": reason}),
            result: AuditResult::Success,
        },
    )?;
    if let Some(text) = guest_text {
        notify::guest(conn, &after, text)?;
    }
    Ok(after)
}

/// Guests cancel their own bookings before the stay starts; admins any holding booking.
pub async fn cancel(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    reference: String,
    reason: Option<String>,
) -> Result<BookingView, ServiceError> {
    let caller = caller.clone();
    let audit_ctx = ctx(&caller, request_id);
    let rules = desk.rules.clone();
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        let b = visible_booking(conn, &caller, &reference)?;
        let allowed = match &caller {
            Caller::Guest(_) => true,
            Caller::Key(p) => p.is_admin(),
            Caller::Anonymous => false,
        };
        if !allowed {
            return Err(ServiceError::Forbidden("only the guest or an admin may cancel".into()));
        }
        if matches!(caller, Caller::Guest(_)) && b.starts_at <= now {
            return Err(ServiceError::conflict("INVALID_TRANSITION", "the stay has started; ask an admin"));
        }
        let property = catalogue::by_id(conn, b.property_id)?;
        let mut text = format!("Booking {} ({}) is cancelled.", b.reference, notify::describe(&b, &property));
        if b.status == BookingStatus::Confirmed.as_str() {
            text.push(' ');
            text.push_str(&rules.refund_note);
        }
        let after = transition(
            conn,
            &audit_ctx,
            &b,
            &[BookingStatus::Pending, BookingStatus::Waiting, BookingStatus::Confirmed],
            BookingStatus::Cancelled,
            None,
            reason.as_deref(),
            Some(text),
        )?;
        Ok(view(conn, &caller, after)?)
    })
    .await
}

/// Admin status change with a reason. Allowed: waiting → confirmed; pending → confirmed
/// (override); waiting → pending (rejection, hold restarts); pending/waiting/confirmed →
/// cancelled; confirmed → completed. Anything else is `INVALID_TRANSITION`.
pub async fn set_status(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    reference: String,
    to: BookingStatus,
    reason: String,
) -> Result<BookingView, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden("only admins change a booking's status".into()));
    }
    let reason = reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ServiceError::invalid("reason", "is required (1 to 500 characters)"));
    }
    let caller = caller.clone();
    let audit_ctx = ctx(&caller, request_id);
    let rules = desk.rules.clone();
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        let b = visible_booking(conn, &caller, &reference)?;
        let property = catalogue::by_id(conn, b.property_id)?;
        use BookingStatus as S;
        let (from, hold, text): (&[S], Option<NaiveDateTime>, String) = match to {
            S::Confirmed => (&[S::Waiting, S::Pending], None, confirmed_text(&b, &property)),
            S::Pending => (
                &[S::Waiting],
                Some(rules.hold_until(now)),
                format!("The payment for booking {} was not accepted: {reason}. Please pay again and send the proof.", b.reference),
            ),
            S::Cancelled => {
                let mut text = format!("Booking {} is cancelled: {reason}.", b.reference);
                if b.status == S::Confirmed.as_str() {
                    text.push(' ');
                    text.push_str(&rules.refund_note);
                }
                (&[S::Pending, S::Waiting, S::Confirmed], None, text)
            }
            S::Completed => (&[S::Confirmed], None, format!("Thank you for staying at {}!", property.name)),
            S::Waiting | S::Expired => (&[], None, String::new()),
        };
        let after = transition(conn, &audit_ctx, &b, from, to, hold, Some(&reason), Some(text))?;
        Ok(view(conn, &caller, after)?)
    })
    .await
}

/// "Confirmed" message with the property contact.
pub(crate) fn confirmed_text(b: &Booking, p: &Property) -> String {
    let contact = match (p.contact_person.trim(), p.contact_number.trim()) {
        ("", "") => String::new(),
        (person, number) => format!(" Contact at the property: {person} {number}.").replace("  ", " "),
    };
    format!(
        "Booking {} is confirmed: {}. Please pay the remaining {} on arrival.{contact}",
        b.reference,
        notify::describe(b, p),
        notify::money(b.total_amount - b.advance_amount, &b.currency),
    )
}

/// Expires pending bookings whose hold lapsed before `now`: frees the slots, tells the guest.
/// Idempotent. Returns how many expired.
pub async fn expire_lapsed(desk: &Desk, now: NaiveDateTime) -> Result<usize, ServiceError> {
    in_tx(&desk.db, move |conn| {
        let ctx = AuditContext::system();
        let mut n = 0;
        for b in repo::lapsed_holds(conn, now, 200)? {
            let property = catalogue::by_id(conn, b.property_id)?;
            let text = format!(
                "Booking {} ({}) expired because the advance was not received in time. You are welcome to book again.",
                b.reference,
                notify::describe(&b, &property)
            );
            match transition(conn, &ctx, &b, &[BookingStatus::Pending], BookingStatus::Expired, None, Some("hold lapsed"), Some(text)) {
                Ok(_) => n += 1,
                Err(ServiceError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    })
    .await
}

/// Completes confirmed bookings whose stay ended before `now`. Idempotent.
pub async fn complete_finished(desk: &Desk, now: NaiveDateTime) -> Result<usize, ServiceError> {
    in_tx(&desk.db, move |conn| {
        let ctx = AuditContext::system();
        let mut n = 0;
        for b in repo::finished_stays(conn, now, 200)? {
            match transition(
                conn,
                &ctx,
                &b,
                &[BookingStatus::Confirmed],
                BookingStatus::Completed,
                None,
                None,
                None,
            ) {
                Ok(_) => n += 1,
                Err(ServiceError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    })
    .await
}
