//! Booking-desk domain rules that need no database: shifts and their half-slots (SPEC §2.2), the
//! booking state machine (§2.4), references, money.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::random_crockford;

text_enum! {
    /// A rentable shift.
    Shift {
        /// 08:00–18:00 on D.
        Day => "day",
        /// 20:00 on D – 06:00 on D+1.
        Night => "night",
        /// 08:00 on D – 06:00 on D+1.
        FullDay => "full_day",
        /// 20:00 on D – 18:00 on D+1.
        FullNight => "full_night",
    }
}

text_enum! {
    /// Half of a calendar day; the unit of occupancy.
    Half {
        /// The day half (08:00–18:00).
        Day => "day",
        /// The night half (20:00–06:00 next morning).
        Night => "night",
    }
}

text_enum! {
    /// Kind of property.
    PropertyKind {
        /// A farmhouse.
        Farm => "farm",
        /// A beach hut.
        Hut => "hut",
    }
}

text_enum! {
    /// Booking lifecycle state.
    BookingStatus {
        /// Held, awaiting payment.
        Pending => "pending",
        /// Payment proof under review.
        Waiting => "waiting",
        /// Confirmed by an admin (or the auto-confirm policy).
        Confirmed => "confirmed",
        /// Cancelled by the guest or an admin.
        Cancelled => "cancelled",
        /// The hold lapsed.
        Expired => "expired",
        /// The stay is over.
        Completed => "completed",
    }
}

text_enum! {
    /// Kind of property media.
    MediaKind {
        /// A picture.
        Image => "image",
        /// A video.
        Video => "video",
    }
}

text_enum! {
    /// Status of a payment proof.
    PaymentProofStatus {
        /// Waiting for an admin.
        PendingReview => "pending_review",
        /// Accepted.
        Approved => "approved",
        /// Refused, with a reason.
        Rejected => "rejected",
    }
}

text_enum! {
    /// Who wrote a conversation message.
    MessageSender {
        /// The guest.
        Guest => "guest",
        /// Steward.
        Bot => "bot",
        /// A human admin.
        Admin => "admin",
    }
}

impl Shift {
    /// The half-slots this shift occupies when it starts on `date`.
    pub fn halves(self, date: NaiveDate) -> Vec<(NaiveDate, Half)> {
        let next = date.succ_opt().unwrap_or(date);
        match self {
            Shift::Day => vec![(date, Half::Day)],
            Shift::Night => vec![(date, Half::Night)],
            Shift::FullDay => vec![(date, Half::Day), (date, Half::Night)],
            Shift::FullNight => vec![(date, Half::Night), (next, Half::Day)],
        }
    }

    /// Local start time on the start date and `(days after the start date, local end time)`.
    pub fn local_span(self) -> (NaiveTime, (i64, NaiveTime)) {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        match self {
            Shift::Day => (t(8), (0, t(18))),
            Shift::Night => (t(20), (1, t(6))),
            Shift::FullDay => (t(8), (1, t(6))),
            Shift::FullNight => (t(20), (1, t(18))),
        }
    }

    /// Start and end instants (UTC) of this shift on `date` in time zone `tz`.
    pub fn window(self, date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let (start, (days, end)) = self.local_span();
        let at = |d: NaiveDate, t: NaiveTime| {
            tz.from_local_datetime(&d.and_time(t))
                .earliest()
                .map(|x| x.with_timezone(&Utc))
                .unwrap_or_else(|| d.and_time(t).and_utc())
        };
        (at(date, start), at(date + Duration::days(days), end))
    }

    /// Human label, e.g. "Full Night".
    pub fn label(self) -> &'static str {
        match self {
            Shift::Day => "Day",
            Shift::Night => "Night",
            Shift::FullDay => "Full Day",
            Shift::FullNight => "Full Night",
        }
    }
}

/// True iff two bookings' half-slot sets intersect.
pub fn conflicts(a: (NaiveDate, Shift), b: (NaiveDate, Shift)) -> bool {
    let ha = a.1.halves(a.0);
    b.1.halves(b.0).iter().any(|h| ha.contains(h))
}

/// Monday = 0 … Sunday = 6.
pub fn weekday_index(date: NaiveDate) -> i32 {
    date.weekday().num_days_from_monday() as i32
}

/// Weekday names on the wire, Monday first.
pub const WEEKDAYS: [&str; 7] =
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Parses a weekday name (`monday`…`sunday`, or the first three letters).
pub fn parse_weekday(s: &str) -> Option<i32> {
    let s = s.trim().to_ascii_lowercase();
    WEEKDAYS.iter().position(|w| *w == s || (s.len() == 3 && w.starts_with(&s))).map(|i| i as i32)
}

/// A new booking reference: `HB-` + 6 Crockford base32 characters.
pub fn booking_reference() -> String {
    format!("HB-{}", random_crockford(6))
}

impl BookingStatus {
    /// States that hold their half-slots.
    pub fn holds_slots(self) -> bool {
        matches!(self, Self::Pending | Self::Waiting | Self::Confirmed)
    }
}

/// An amount of money in minor units with its currency (`{"amount": 3500000, "currency": "PKR"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (paisa for PKR).
    pub amount: i64,
    /// ISO currency code.
    pub currency: String,
}

impl Money {
    /// Builds an amount.
    pub fn new(amount: i64, currency: &str) -> Self {
        Self { amount, currency: currency.to_string() }
    }

    /// "Rs 35,000" for PKR, else "12.34 USD".
    pub fn display(&self) -> String {
        let major = self.amount / 100;
        let minor = self.amount % 100;
        let mut digits = major.to_string();
        let mut grouped = String::new();
        while digits.len() > 3 {
            let tail = digits.split_off(digits.len() - 3);
            grouped = format!(",{tail}{grouped}");
        }
        grouped = format!("{digits}{grouped}");
        let amount = if minor == 0 { grouped } else { format!("{grouped}.{minor:02}") };
        if self.currency == "PKR" {
            format!("Rs {amount}")
        } else {
            format!("{amount} {}", self.currency)
        }
    }
}

/// Advance due: `percent` of `total`, rounded to the whole unit (100 minor units), half up.
pub fn advance_due(total: i64, percent: i32) -> i64 {
    let raw = total * i64::from(percent);
    let units = (raw + 50 * 100) / (100 * 100);
    (units * 100).min(total)
}

/// Normalises a CNIC (`42201-1234567-1` or 13 digits) to 13 digits.
pub fn normalise_cnic(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let shape = s.trim().chars().all(|c| c.is_ascii_digit() || c == '-');
    (shape && digits.len() == 13).then_some(digits)
}

/// Masks a 13-digit CNIC as `42201-*******-1`.
pub fn mask_cnic(cnic: &str) -> String {
    if cnic.len() == 13 {
        format!("{}-*******-{}", &cnic[..5], &cnic[12..])
    } else {
        "*************".into()
    }
}

/// Normalises a Pakistani phone number to digits with country code (`923001234567`).
pub fn normalise_phone(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let ok_chars = s.trim().chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    if !ok_chars {
        return None;
    }
    let n = if let Some(rest) = digits.strip_prefix("0092") {
        format!("92{rest}")
    } else if digits.starts_with("92") {
        digits
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("92{rest}")
    } else {
        digits
    };
    (10..=15).contains(&n.len()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn half_slots_follow_the_spec_table() {
        let day = d("2026-12-05");
        let next = d("2026-12-06");
        assert_eq!(Shift::Day.halves(day), vec![(day, Half::Day)]);
        assert_eq!(Shift::Night.halves(day), vec![(day, Half::Night)]);
        assert_eq!(Shift::FullDay.halves(day), vec![(day, Half::Day), (day, Half::Night)]);
        assert_eq!(Shift::FullNight.halves(day), vec![(day, Half::Night), (next, Half::Day)]);
        assert!(!conflicts((day, Shift::FullNight), (next, Shift::FullNight)));
        assert!(conflicts((day, Shift::FullNight), (next, Shift::FullDay)));
    }

    #[test]
    fn windows_are_in_the_business_time_zone() {
        let (start, end) = Shift::FullNight.window(d("2026-12-05"), chrono_tz::Asia::Karachi);
        assert_eq!(start.to_rfc3339(), "2026-12-05T15:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-06T13:00:00+00:00");
    }

    #[test]
    fn money_advance_cnic_phone() {
        assert_eq!(Money::new(3_500_000, "PKR").display(), "Rs 35,000");
        assert_eq!(advance_due(3_500_000, 30), 1_050_000);
        assert_eq!(advance_due(1_800_050, 50), 900_000);
        assert_eq!(advance_due(100, 100), 100);
        assert_eq!(normalise_cnic("42201-1234567-1").as_deref(), Some("4220112345671"));
        assert_eq!(normalise_cnic("422011234567"), None);
        assert_eq!(normalise_cnic("42201a1234567"), None);
        assert_eq!(mask_cnic("4220112345671"), "42201-*******-1");
        assert_eq!(normalise_phone("0300-1234567").as_deref(), Some("923001234567"));
        assert_eq!(normalise_phone("+92 300 1234567").as_deref(), Some("923001234567"));
        assert_eq!(normalise_phone("call me"), None);
        let r = booking_reference();
        assert!(
            r.len() == 9
                && r.starts_with("HB-")
                && r[3..].bytes().all(|b| crate::ids::CROCKFORD.contains(&b))
        );
        assert_eq!(parse_weekday("Sat"), Some(5));
    }
}
