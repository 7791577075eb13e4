//! The booking desk (SPEC §2): catalogue, availability, search and quotes, guests, bookings and
//! their state machine, payment proofs and their verification, notifications, and the plain
//! functions the scheduler's jobs call (expire holds, complete stays, remind admins).

pub mod bookings;
pub mod catalogue;
pub mod demo;
pub mod guests;
pub mod image;
pub mod notify;
pub mod payments;
pub mod search_cache;

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use core_config::{PaymentMethod, Settings};
use models::Role;
use repositories::Db;

use crate::ports::{Clock, MediaStore, MessageSender, PaymentExtractor};
use crate::{Principal, ServiceError};

/// Business rules from `booking.*` and `payments.*`.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Business time zone.
    pub tz: Tz,
    /// Window: until the end of the month this many months ahead.
    pub months_ahead: u32,
    /// Guests allowed over capacity.
    pub capacity_tolerance: u32,
    /// Hold length.
    pub hold_minutes: u32,
    /// Review reminder delay.
    pub review_reminder_minutes: u32,
    /// Auto-confirm limit (0 = off).
    pub auto_confirm_below: i64,
    /// Currency.
    pub currency: String,
    /// Told on cancellation of a confirmed booking.
    pub refund_note: String,
    /// Accounts guests pay to.
    pub methods: Vec<PaymentMethod>,
    /// Largest upload.
    pub max_upload_bytes: usize,
    /// How long a conversation stays idle before its search state is cleared.
    pub conversation_idle: std::time::Duration,
    /// WhatsApp numbers whose messages are admin commands.
    pub admin_numbers: Vec<String>,
    /// The WhatsApp channel is enabled (admins get proof notifications there).
    pub whatsapp_enabled: bool,
    /// Attempts of one outbound message on an outside channel.
    pub channel_max_attempts: u32,
    /// Seconds a conversation's turn lease lasts.
    pub turn_lease_secs: i64,
    /// Seconds a worker's claim on a webhook event lasts.
    pub event_lease_secs: i64,
}

impl Rules {
    /// Rules from validated settings.
    pub fn from_settings(s: &Settings) -> Result<Self, ServiceError> {
        let tz =
            s.booking.timezone.parse::<Tz>().map_err(|_| {
                ServiceError::Internal(format!("bad booking.timezone {}", s.booking.timezone))
            })?;
        Ok(Self {
            tz,
            months_ahead: s.booking.months_ahead,
            capacity_tolerance: s.booking.capacity_tolerance,
            hold_minutes: s.booking.hold_minutes,
            review_reminder_minutes: s.booking.review_reminder_minutes,
            auto_confirm_below: s.booking.auto_confirm_below,
            currency: s.booking.currency.clone(),
            refund_note: s.booking.refund_note.clone(),
            methods: s.payments.methods.clone(),
            max_upload_bytes: s.media.max_upload_bytes,
            conversation_idle: std::time::Duration::from_secs(u64::from(s.conversation.idle_hours) * 3600),
            admin_numbers: s.whatsapp.admin_numbers.clone(),
            whatsapp_enabled: s.whatsapp.enabled,
            channel_max_attempts: s.whatsapp.max_attempts,
            turn_lease_secs: i64::try_from(s.conversation.turn_lease_secs).unwrap_or(120),
            event_lease_secs: i64::try_from(s.whatsapp.event_lease_secs).unwrap_or(120),
        })
    }

    /// Today in the business time zone.
    pub fn today(&self, now: NaiveDateTime) -> NaiveDate {
        now.and_utc().with_timezone(&self.tz).date_naive()
    }

    /// Last bookable date: the end of the calendar month `months_ahead` after today's.
    pub fn last_bookable(&self, now: NaiveDateTime) -> NaiveDate {
        let today = self.today(now);
        let months = today.year() * 12 + today.month0() as i32 + self.months_ahead as i32 + 1;
        let first_after = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1);
        first_after.and_then(|d| d.pred_opt()).unwrap_or(today)
    }

    /// The hold deadline of a booking held from `now`.
    pub fn hold_until(&self, now: NaiveDateTime) -> NaiveDateTime {
        now + Duration::minutes(i64::from(self.hold_minutes))
    }
}

/// Everything the desk's services need.
#[derive(Clone, Debug)]
pub struct Desk {
    /// The database.
    pub db: Db,
    /// Business rules.
    pub rules: Arc<Rules>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Where screenshots go.
    pub media: Arc<dyn MediaStore>,
    /// Reads screenshots; `None` means every image goes to manual review.
    pub extractor: Option<Arc<dyn PaymentExtractor>>,
    /// Senders of outside channels (none until the WhatsApp channel is configured).
    pub senders: Vec<Arc<dyn MessageSender>>,
    /// Recent search pages.
    pub search_cache: Arc<search_cache::SearchCache>,
    /// Wakes the channel workers when there is work (an event stored, a reply to send).
    pub wake: Arc<Wake>,
    /// Per-recipient pacing of outbound channel messages.
    pub pacer: Arc<crate::outbox::Pacer>,
}

/// Wake-ups for the channel workers; each also runs on its own tick, so a missed wake-up only
/// delays.
#[derive(Debug, Default)]
pub struct Wake {
    /// New inbox events.
    pub inbox: tokio::sync::Notify,
    /// New outbound messages.
    pub outbox: tokio::sync::Notify,
}

/// An authenticated web guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestPrincipal {
    /// Internal id.
    pub guest_id: i64,
    /// `gst_…`.
    pub public_id: String,
}

/// Who is calling a desk endpoint.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A platform API key.
    Key(Principal),
    /// A guest session token.
    Guest(GuestPrincipal),
    /// No credentials (public catalogue reads only).
    Anonymous,
}

impl Caller {
    /// The key principal, if any.
    pub fn key(&self) -> Option<&Principal> {
        match self {
            Caller::Key(p) => Some(p),
            _ => None,
        }
    }

    /// True for admin keys.
    pub fn is_admin(&self) -> bool {
        self.key().is_some_and(Principal::is_admin)
    }

    /// True for keys of `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.key().is_some_and(|p| p.role == role)
    }

    /// `AuthRequired` for anonymous callers.
    pub fn require_known(&self) -> Result<(), ServiceError> {
        match self {
            Caller::Anonymous => Err(ServiceError::AuthRequired),
            _ => Ok(()),
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> crate::audit::Actor {
        match self {
            Caller::Key(p) => p.actor(),
            Caller::Guest(g) => {
                crate::audit::Actor { kind: models::ActorType::Guest, id: Some(g.public_id.clone()) }
            }
            Caller::Anonymous => crate::audit::Actor::system(),
        }
    }

    /// `created_by` text of bookings.
    pub fn label(&self) -> String {
        match self {
            Caller::Key(p) => format!("user:{}", p.user_public_id),
            Caller::Guest(g) => format!("guest:{}", g.public_id),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}

/// Parses a business date `YYYY-MM-DD`.
pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate, ServiceError> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shaped
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| ServiceError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// Parses a shift name (exactly its wire value).
pub fn parse_shift(field: &str, s: &str) -> Result<models::booking::Shift, ServiceError> {
    s.parse().map_err(|_| ServiceError::invalid(field, "must be one of day, night, full_day, full_night"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_iso() {
        assert!(parse_date("date", "2026-12-05").is_ok());
        for bad in [" 2026-12-05", "2026-12-05 ", "2026-1-05", "+2026-12-05", "2026-02-30", "2026/12/05", ""]
        {
            assert!(parse_date("date", bad).is_err(), "{bad:?}");
        }
        assert!(parse_shift("shift", " day").is_err());
    }

    #[test]
    fn booking_window_ends_with_the_next_month() {
        let rules = Rules::from_settings(&Settings::default()).unwrap();
        let now = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap().and_hms_opt(10, 0, 0).unwrap();
        assert_eq!(rules.last_bookable(now), NaiveDate::from_ymd_opt(2027, 1, 31).unwrap());
        let now = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(10, 0, 0).unwrap();
        assert_eq!(rules.last_bookable(now), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
    }
}
