//! The booking agent's tools (SPEC §10.3), bound to one guest's conversation: no tool takes a
//! guest id, every booking is read and changed as the guest ([`Caller::Guest`]), so a guest sees
//! and acts on their own bookings only. The guards live here: a booking needs the identity step
//! confirmed by the guest's own explicit yes.

use chrono::{NaiveDate, NaiveDateTime};
use models::booking::{BookingStatus, Money, PropertyKind, Shift};
use models::conversation::{BookingSummary, IdentityStep, Language, MediaItem, Pending, PropertyItem};
use models::rows_booking::PropertySummary;

use super::{lang, State};
use crate::desk::bookings::{self, BookingView, CreateBooking};
use crate::desk::catalogue::{self, PropertyDetails, Quote, SearchQuery};
use crate::desk::payments::{self, Instructions, Screenshot, Submitted, TypedProof};
use crate::desk::{notify, Caller, Desk, GuestPrincipal};
use crate::{in_tx, with_conn, ServiceError};

/// The tools of one turn.
#[derive(Debug)]
pub struct Tools<'a> {
    desk: &'a Desk,
    state: State,
    now: NaiveDateTime,
}

/// How a name matched the catalogue.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// One property.
    One(PropertySummary),
    /// Several close ones (at most 3).
    Several(Vec<PropertySummary>),
    /// None.
    Nothing,
}

/// Why a tool refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code (`IDENTITY_NOT_CONFIRMED`, `NOT_CONFIRMED_BY_GUEST`…).
    pub code: &'static str,
    /// What to tell the model or the guest.
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        let code = match &e {
            ServiceError::Conflict { code, .. } | ServiceError::Unprocessable { code, .. } => code,
            ServiceError::NotFound(_) => "NOT_FOUND",
            ServiceError::Validation(_) => "VALIDATION_FAILED",
            ServiceError::Forbidden(_) => "FORBIDDEN",
            _ => "UNAVAILABLE",
        };
        let message = match &e {
            ServiceError::Validation(f) => {
                f.iter().map(|f| format!("{} {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
            }
            ServiceError::Internal(_) | ServiceError::Unavailable(_) => {
                "something went wrong; try again".into()
            }
            other => other.to_string(),
        };
        Self { code, message }
    }
}

/// Lowercase letters and digits of a name, "farmhouse"/"farm house" as "farm", small words gone.
fn name_tokens(s: &str) -> Vec<String> {
    let lower = s.to_lowercase().replace("farm house", "farm").replace("farmhouse", "farm");
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !["the", "a", "an", "farm", "hut", "huts", "ka", "ki", "ke"].contains(w))
        .map(str::to_string)
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How well `query` names `name`: 0 (not at all) to 100 (the same words). Every query word must
/// match a name word exactly, by prefix, or within a small edit distance (typos); a name word
/// may be missing from the query.
pub fn name_score(query: &str, name: &str) -> u32 {
    let (q, n) = (name_tokens(query), name_tokens(name));
    if q.is_empty() || n.is_empty() {
        return 0;
    }
    let mut total = 0u32;
    for w in &q {
        let best = n
            .iter()
            .map(|x| {
                if x == w {
                    10
                } else if w.len() >= 3 && x.starts_with(w.as_str()) {
                    8
                } else {
                    let d = edit_distance(w, x);
                    let allowed = if w.len() >= 7 { 2 } else { usize::from(w.len() >= 4) };
                    if d <= allowed {
                        7
                    } else {
                        0
                    }
                }
            })
            .max()
            .unwrap_or(0);
        if best == 0 {
            return 0;
        }
        total += best;
    }
    let covered = q.len().min(n.len()) as u32;
    total * 100 / (10 * q.len() as u32) * covered / n.len() as u32
}

/// The best matches of `query` among `candidates`: one clear winner, or up to three ties.
pub fn resolve_among(query: &str, candidates: &[PropertySummary]) -> Resolution {
    let q = query.trim();
    if let Some(p) = candidates.iter().find(|p| p.name.eq_ignore_ascii_case(q) || p.public_id == q) {
        return Resolution::One(p.clone());
    }
    let mut scored: Vec<(u32, &PropertySummary)> =
        candidates.iter().map(|p| (name_score(q, &p.name), p)).filter(|(s, _)| *s >= 40).collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    match scored.as_slice() {
        [] => Resolution::Nothing,
        [(_, one)] => Resolution::One((*one).clone()),
        [(a, first), (b, _), ..] if a > b => Resolution::One((*first).clone()),
        many => Resolution::Several(many.iter().take(3).map(|(_, p)| (*p).clone()).collect()),
    }
}

/// A booking as the guest sees it.
pub fn booking_summary(v: &BookingView) -> BookingSummary {
    let b = &v.booking;
    BookingSummary {
        reference: b.reference.clone(),
        status: b.status.clone(),
        property: v.property.name.clone(),
        date: b.date.clone(),
        shift: b.shift.clone(),
        guests: b.guests,
        total: Money::new(b.total_amount, &b.currency),
        advance_due: Money::new(b.advance_amount, &b.currency),
    }
}

impl<'a> Tools<'a> {
    /// The tools over a conversation's state at `now`.
    pub fn new(desk: &'a Desk, state: State, now: NaiveDateTime) -> Self {
        Self { desk, state, now }
    }

    /// The state the turn leaves behind.
    pub fn into_state(self) -> State {
        self.state
    }

    /// The conversation's state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The conversation's state, to change.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// The guest's language.
    pub fn language(&self) -> Language {
        self.state.language
    }

    /// Now.
    pub fn now(&self) -> NaiveDateTime {
        self.now
    }

    /// Today in the business time zone.
    pub fn today(&self) -> NaiveDate {
        self.desk.rules.today(self.now)
    }

    /// The booking desk's currency.
    pub fn currency(&self) -> &str {
        &self.desk.rules.currency
    }

    fn caller(&self) -> Caller {
        Caller::Guest(GuestPrincipal {
            guest_id: self.state.guest.id,
            public_id: self.state.guest.public_id.clone(),
        })
    }

    /// `check_date`: `Err` says why the date (and shift) cannot be booked.
    pub fn check_date(&self, date: NaiveDate, shift: Option<Shift>) -> Result<(), Refusal> {
        let (today, last) = (self.today(), self.desk.rules.last_bookable(self.now));
        if date < today || date > last {
            return Err(Refusal::new(
                "OUTSIDE_BOOKING_WINDOW",
                format!("bookings are open from {today} to {last}"),
            ));
        }
        if let Some(shift) = shift {
            if shift.window(date, self.desk.rules.tz).0.naive_utc() <= self.now {
                return Err(Refusal::new(
                    "SHIFT_STARTED",
                    format!("the {} shift of {date} has started", shift.label()),
                ));
            }
        }
        Ok(())
    }

    /// `search_properties` over the facts (type, date, shift and guests must be known).
    pub async fn search(&self) -> Result<Vec<PropertyItem>, Refusal> {
        let f = &self.state.facts;
        let (Some(kind), Some(date), Some(shift), Some(guests)) = (f.kind, f.date, f.shift, f.guests) else {
            return Err(Refusal::new("MISSING_FACTS", "type, date, shift and guests are needed first"));
        };
        let page = catalogue::search(
            self.desk,
            SearchQuery {
                kind,
                date,
                shift,
                guests,
                min_price: f.min_price,
                max_price: f.max_price,
                city: None,
                country: None,
                limit: Some(10),
                cursor: None,
            },
        )
        .await?;
        Ok(page
            .hits
            .into_iter()
            .map(|h| PropertyItem {
                id: h.property.public_id,
                name: h.property.name,
                kind: h.property.kind,
                city: h.property.city,
                max_guests: h.property.max_guests,
                price: Money::new(h.price, &self.desk.rules.currency),
                date: date.to_string(),
                shift: shift.as_str().into(),
            })
            .collect())
    }

    /// `resolve_property`: exact name or id, then fuzzy (typos, missing words, "farm"/"farmhouse").
    pub async fn resolve_property(&self, name: &str) -> Result<Resolution, Refusal> {
        let all =
            with_conn(&self.desk.db, |conn| Ok(repositories::catalogue::active_summaries(conn)?)).await?;
        let kind = self.state.facts.kind;
        let of_kind: Vec<PropertySummary> =
            all.iter().filter(|p| kind.is_none_or(|k| p.kind == k.as_str())).cloned().collect();
        Ok(match resolve_among(name, &of_kind) {
            Resolution::Nothing if kind.is_some() => resolve_among(name, &all),
            r => r,
        })
    }

    /// `property_details`.
    pub async fn property(&self, id: &str) -> Result<PropertyDetails, Refusal> {
        Ok(catalogue::get(self.desk, &Caller::Anonymous, id.to_string()).await?)
    }

    /// `property_pricing` for a date and shift.
    pub async fn quote(&self, id: &str, date: NaiveDate, shift: Shift) -> Result<Quote, Refusal> {
        Ok(catalogue::quote(self.desk, id.to_string(), date, shift).await?)
    }

    /// `property_images` / `property_videos`: the property's media of `kind` not sent before in
    /// this conversation; they are remembered as sent.
    pub async fn unsent_media(&mut self, id: &str, kind: &str) -> Result<(Vec<MediaItem>, usize), Refusal> {
        let details = self.property(id).await?;
        let all: Vec<MediaItem> = details
            .media
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| MediaItem { kind: m.kind.clone(), url: m.url.clone() })
            .collect();
        let total = all.len();
        let fresh: Vec<MediaItem> =
            all.into_iter().filter(|m| !self.state.sent_media.contains(&m.url)).collect();
        self.state.sent_media.extend(fresh.iter().map(|m| m.url.clone()));
        Ok((fresh, total))
    }

    /// `prepare_booking_details`: records the name and/or CNIC of the identity draft and moves the
    /// step on (name → CNIC → awaiting confirmation). An invalid CNIC is refused.
    pub fn prepare_booking_details(
        &mut self,
        name: Option<&str>,
        cnic: Option<&str>,
    ) -> Result<IdentityStep, Refusal> {
        if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
            if name.chars().count() > 100 || name.chars().any(|c| c.is_ascii_digit()) {
                return Err(Refusal::new("INVALID_NAME", "the name must be letters, at most 100 characters"));
            }
            self.state.identity.name = Some(name.to_string());
        }
        if let Some(cnic) = cnic {
            let Some(digits) = models::booking::normalise_cnic(cnic) else {
                return Err(Refusal::new("INVALID_CNIC", "a CNIC has 13 digits, like 42201-1234567-1"));
            };
            self.state.identity.cnic = Some(digits);
        }
        let id = &mut self.state.identity;
        id.step = match (&id.name, &id.cnic) {
            (None, _) => IdentityStep::Name,
            (Some(_), None) => IdentityStep::Cnic,
            (Some(_), Some(_)) => IdentityStep::AwaitingConfirmation,
        };
        Ok(id.step)
    }

    /// `confirm_booking_details`: only when the step awaits confirmation and the guest's own
    /// latest message (`guest_said`) is an explicit yes.
    pub fn confirm_booking_details(&mut self, guest_said: &str) -> Result<(), Refusal> {
        if self.state.identity.step != IdentityStep::AwaitingConfirmation {
            return Err(Refusal::new(
                "NOTHING_TO_CONFIRM",
                "the name and CNIC have not been shown to the guest yet",
            ));
        }
        if lang::yes_no(guest_said) != Some(true) {
            return Err(Refusal::new(
                "NOT_CONFIRMED_BY_GUEST",
                "the guest has not said yes to the name and CNIC",
            ));
        }
        self.state.identity.step = IdentityStep::Confirmed;
        Ok(())
    }

    /// `create_booking` for the chosen property and the facts; needs the identity confirmed.
    pub async fn create_booking(&mut self) -> Result<BookingView, Refusal> {
        if self.state.identity.step != IdentityStep::Confirmed {
            return Err(Refusal::new(
                "IDENTITY_NOT_CONFIRMED",
                "the guest has not confirmed their name and CNIC",
            ));
        }
        let f = self.state.facts.clone();
        let (Some(property), Some(date), Some(shift), Some(guests)) =
            (f.property_id, f.date, f.shift, f.guests)
        else {
            return Err(Refusal::new("MISSING_FACTS", "a property, date, shift and guests are needed"));
        };
        let identity = bookings::Identity {
            name: self.state.identity.name.clone().unwrap_or_default(),
            cnic: self.state.identity.cnic.clone().unwrap_or_default(),
            phone: self.state.guest.phone.clone(),
        };
        let view = bookings::create(
            self.desk,
            &self.caller(),
            None,
            CreateBooking { property, date, shift, guests, identity, guest: None },
        )
        .await?;
        self.state.current_booking = Some(view.booking.reference.clone());
        self.state.identity.step = IdentityStep::None;
        self.state.pending = Pending::Nothing;
        Ok(view)
    }

    /// `booking_status` of one of the guest's bookings (another guest's is "not found").
    pub async fn booking(&self, reference: &str) -> Result<BookingView, Refusal> {
        Ok(bookings::get(self.desk, &self.caller(), reference.trim().to_uppercase()).await?)
    }

    /// `my_bookings`: every booking of the guest, however it was made, newest first.
    pub async fn my_bookings(&self) -> Result<Vec<BookingView>, Refusal> {
        Ok(bookings::list(self.desk, &self.caller(), Default::default(), 20, None).await?)
    }

    /// The guest's bookings that are `pending` (awaiting payment).
    pub async fn pending_bookings(&self) -> Result<Vec<BookingView>, Refusal> {
        Ok(bookings::list(
            self.desk,
            &self.caller(),
            bookings::BookingsWanted { status: Some(BookingStatus::Pending), ..Default::default() },
            20,
            None,
        )
        .await?)
    }

    /// `payment_instructions`.
    pub async fn payment_instructions(&self, reference: &str) -> Result<Instructions, Refusal> {
        Ok(payments::instructions(self.desk, &self.caller(), reference.to_string()).await?)
    }

    /// `submit_payment_details` (typed).
    pub async fn submit_payment_details(
        &mut self,
        reference: &str,
        proof: TypedProof,
    ) -> Result<Submitted, Refusal> {
        let s = payments::submit_typed(self.desk, &self.caller(), None, reference.to_string(), proof).await?;
        self.state.current_booking = Some(s.booking.reference.clone());
        Ok(s)
    }

    /// A screenshot as the proof of `reference`.
    pub async fn submit_screenshot(
        &mut self,
        reference: &str,
        bytes: Vec<u8>,
        content_type: String,
    ) -> Result<Submitted, Refusal> {
        let s = payments::submit_screenshot(
            self.desk,
            &self.caller(),
            None,
            reference.to_string(),
            Screenshot { bytes, content_type },
        )
        .await?;
        self.state.current_booking = Some(s.booking.reference.clone());
        Ok(s)
    }

    /// `cancel_booking`.
    pub async fn cancel_booking(&mut self, reference: &str) -> Result<BookingView, Refusal> {
        let v = bookings::cancel(
            self.desk,
            &self.caller(),
            None,
            reference.to_string(),
            Some("cancelled in the chat".into()),
        )
        .await?;
        Ok(v)
    }

    /// `request_human`: flags the conversation and tells the admins.
    pub async fn request_human(&mut self, why: &str) -> Result<(), Refusal> {
        self.state.needs_human = true;
        let who = self.state.guest.name.clone().unwrap_or_else(|| self.state.guest.public_id.clone());
        let text =
            format!("{who} asks for a human ({why}); conversation {}", self.state.conversation.public_id);
        in_tx(&self.desk.db, move |conn| Ok(notify::admins(conn, "human_requested", None, text)?)).await?;
        Ok(())
    }

    /// The LLM agent failed this turn (the guided agent answered): flag the conversation and
    /// tell the admins (`agent_failed`).
    pub async fn agent_failed(&mut self, error: &str) -> Result<(), Refusal> {
        self.state.needs_human = true;
        let text = format!(
            "the booking agent's model failed in conversation {} ({error}); the guided agent answered",
            self.state.conversation.public_id
        );
        in_tx(&self.desk.db, move |conn| Ok(notify::admins(conn, "agent_failed", None, text)?)).await?;
        Ok(())
    }

    /// The kind of property facts name, for wording ("farmhouse" / "hut").
    pub fn kind_word(&self) -> Option<PropertyKind> {
        self.state.facts.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, name: &str) -> PropertySummary {
        PropertySummary {
            id: 1,
            public_id: id.into(),
            name: name.into(),
            kind: "farm".into(),
            city: "Karachi".into(),
            max_guests: 20,
            advance_percent: 50,
            special_offer: None,
        }
    }

    #[test]
    fn names_resolve_exactly_then_fuzzily() {
        let all = vec![
            p("prp_1", "Green Valley Farmhouse"),
            p("prp_2", "Sunset Farm"),
            p("prp_3", "Green Meadows Farmhouse"),
            p("prp_4", "Blue Lagoon Hut"),
        ];
        let one = |q: &str| match resolve_among(q, &all) {
            Resolution::One(p) => p.public_id,
            other => format!("{other:?}"),
        };
        assert_eq!(one("Green Valley Farmhouse"), "prp_1");
        assert_eq!(one("green valley farm"), "prp_1", "farm for farmhouse");
        assert_eq!(one("Green Vally"), "prp_1", "a typo");
        assert_eq!(one("valley"), "prp_1", "a missing word");
        assert_eq!(one("sunset farmhouse"), "prp_2");
        assert_eq!(one("lagoon"), "prp_4");
        match resolve_among("green", &all) {
            Resolution::Several(ps) => assert_eq!(ps.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(resolve_among("mountain retreat", &all), Resolution::Nothing);
    }
}
