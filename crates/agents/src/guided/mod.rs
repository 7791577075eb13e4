//! The guided agent (`agent.mode = guided`, the default): a deterministic dialogue manager that
//! carries the SPEC §3.2 conversation in English and Roman Urdu with rules ([`grammar`]) and
//! answers in the guest's language ([`texts`]), through the same tools an LLM would use.
//!
//! Each turn reads the message in this order: a request for a human; starting over; the answer
//! to the pending question (ready to book, cancel); the identity step; what the guest asks for
//! (bookings, status, cancel, payment, pictures, videos, details, prices); search facts; a
//! property named; greetings; and otherwise the off-topic answer.

pub mod grammar;
pub mod texts;

use chrono::NaiveDate;
use models::booking::{BookingStatus, Shift};
use models::conversation::{
    Choice, Facts, Identity, IdentityStep, Language, Pending, Question, Reply, ReplyItem,
};
use services::conversations::lang::yes_no;
use services::conversations::tools::{booking_summary, Refusal, Resolution};
use services::conversations::{Agent, Turn};
use services::desk::payments::TypedProof;

use grammar::Intent;
use texts::{line, Line};

/// The guided agent.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuidedAgent;

#[async_trait::async_trait]
impl Agent for GuidedAgent {
    async fn respond(&self, turn: &mut Turn<'_>) -> Reply {
        let mut reply = Reply::default();
        if let Err(refusal) = respond(turn, &mut reply).await {
            tracing::warn!(code = refusal.code, message = %refusal.message, "a guided turn failed");
            reply.push(ReplyItem::Error { text: refusal_text(turn.tools.language(), &refusal) });
        }
        reply
    }
}

fn refusal_text(lang: Language, r: &Refusal) -> String {
    match r.code {
        "UNAVAILABLE" => line(lang, Line::Failed).to_string(),
        "NOT_FOUND" => line(lang, Line::BookingNotFound).to_string(),
        _ => {
            let mut m = r.message.clone();
            if let Some(first) = m.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            if !m.ends_with('.') {
                m.push('.');
            }
            m
        }
    }
}

fn yes_no_choices(lang: Language, text: String) -> ReplyItem {
    let (yes, no) = if lang == Language::RomanUrdu { ("Haan", "Nahi") } else { ("Yes", "No") };
    ReplyItem::Choices {
        text,
        choices: vec![
            Choice { id: "yes".into(), label: yes.into() },
            Choice { id: "no".into(), label: no.into() },
        ],
    }
}

fn missing(f: &Facts) -> Vec<&'static str> {
    let mut out = Vec::new();
    if f.kind.is_none() {
        out.push("type");
    }
    if f.date.is_none() {
        out.push("date");
    }
    if f.shift.is_none() {
        out.push("shift");
    }
    if f.guests.is_none() {
        out.push("guests");
    }
    out
}

fn ask_missing(lang: Language, f: &Facts, r: &mut Reply) {
    let fields = missing(f);
    let questions = fields
        .iter()
        .map(|field| Question { field: (*field).into(), label: texts::field_label(lang, field).into() })
        .collect();
    r.push(ReplyItem::Questions { text: line(lang, Line::AskMissing).into(), questions });
}

async fn respond(t: &mut Turn<'_>, r: &mut Reply) -> Result<(), Refusal> {
    if t.is_image {
        return image(t, r).await;
    }
    let text = t.text.clone();
    if let Some(l) = grammar::language(&text) {
        t.tools.state_mut().language = l;
    }
    let lang = t.tools.language();
    let intents = grammar::intents(&text);
    if intents.contains(&Intent::Human) {
        t.tools.request_human("asked in the chat").await?;
        r.say(line(lang, Line::HumanComing));
        return Ok(());
    }
    if intents.contains(&Intent::Reset) {
        let s = t.tools.state_mut();
        s.facts = Facts::default();
        s.identity = Identity::default();
        s.pending = Pending::Nothing;
        s.current_booking = None;
        r.say(line(lang, Line::StartedOver));
        ask_missing(lang, &Facts::default(), r);
        return Ok(());
    }
    if answered_pending(t, r, &text).await? {
        return Ok(());
    }
    if identity_step(t, r, &text, &intents).await? {
        return Ok(());
    }
    if asked_for(t, r, &text, &intents).await? {
        return Ok(());
    }
    if gave_facts(t, r, &text).await? {
        return Ok(());
    }
    if yes_no(&text).is_none() && named_property(t, r, &text).await? {
        return Ok(());
    }
    if intents.contains(&Intent::Thanks) {
        r.say(line(lang, Line::Welcome));
    } else if intents.contains(&Intent::Greeting) || intents.contains(&Intent::Help) || t.history.is_empty() {
        r.say(line(lang, Line::Intro));
        ask_missing(lang, &t.tools.state().facts, r);
    } else {
        r.say(line(lang, Line::OffTopic));
    }
    Ok(())
}

/// The answer to "Ready to book …?" or "Cancel booking …?". `true` when the turn is answered.
async fn answered_pending(t: &mut Turn<'_>, r: &mut Reply, text: &str) -> Result<bool, Refusal> {
    let lang = t.tools.language();
    let pending = t.tools.state().pending.clone();
    let said = yes_no(text);
    match (pending, said) {
        (Pending::ReadyToBook, Some(true)) => {
            t.tools.state_mut().pending = Pending::Nothing;
            start_identity(t, r);
            Ok(true)
        }
        (Pending::ReadyToBook, Some(false)) => {
            t.tools.state_mut().pending = Pending::Nothing;
            r.say(line(lang, Line::NotNow));
            Ok(true)
        }
        (Pending::CancelBooking { reference }, Some(true)) => {
            t.tools.state_mut().pending = Pending::Nothing;
            let v = t.tools.cancel_booking(&reference).await?;
            r.say(texts::cancelled(lang, &reference));
            r.push(ReplyItem::BookingSummary { booking: booking_summary(&v) });
            Ok(true)
        }
        (Pending::CancelBooking { .. }, Some(false)) => {
            t.tools.state_mut().pending = Pending::Nothing;
            r.say(line(lang, Line::KeptBooking));
            Ok(true)
        }
        (Pending::Nothing | Pending::ProofFor { .. }, _) => Ok(false),
        (_, None) => {
            // Something else: the question lapses and the message is read afresh.
            t.tools.state_mut().pending = Pending::Nothing;
            Ok(false)
        }
    }
}

fn start_identity(t: &mut Turn<'_>, r: &mut Reply) {
    let lang = t.tools.language();
    let Identity { name, cnic, .. } = t.tools.state().identity.clone();
    match (name, cnic) {
        (Some(name), Some(cnic)) => {
            t.tools.state_mut().identity.step = IdentityStep::AwaitingConfirmation;
            r.push(yes_no_choices(
                lang,
                texts::confirm_identity(lang, &name, &models::booking::mask_cnic(&cnic)),
            ));
        }
        (Some(_), None) => {
            t.tools.state_mut().identity.step = IdentityStep::Cnic;
            r.push(ReplyItem::Questions {
                text: line(lang, Line::AskCnic).into(),
                questions: vec![Question { field: "cnic".into(), label: "CNIC".into() }],
            });
        }
        _ => {
            t.tools.state_mut().identity.step = IdentityStep::Name;
            r.push(ReplyItem::Questions {
                text: line(lang, Line::AskName).into(),
                questions: vec![
                    Question { field: "name".into(), label: texts::field_label(lang, "name").into() },
                    Question { field: "cnic".into(), label: "CNIC".into() },
                ],
            });
        }
    }
}

/// A name typed by the guest: "my name is X", "mera naam X hai", or the message itself.
fn name_in(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let mut name = text.trim();
    for prefix in ["my name is", "name is", "name:", "naam:", "mera naam", "naam"] {
        if let Some(i) = lower.find(prefix) {
            name = text[i + prefix.len()..].trim();
            break;
        }
    }
    let name =
        name.trim_end_matches(" hai").trim_matches(|c: char| c == '.' || c == ',' || c.is_whitespace());
    let words: Vec<&str> = name.split_whitespace().collect();
    let ok = !words.is_empty()
        && words.len() <= 6
        && name.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '.' || c == '\'' || c == '-');
    ok.then(|| {
        words
            .iter()
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The identity step: name, CNIC, confirmation (or edits), then the booking.
async fn identity_step(
    t: &mut Turn<'_>,
    r: &mut Reply,
    text: &str,
    intents: &[Intent],
) -> Result<bool, Refusal> {
    let lang = t.tools.language();
    let step = t.tools.state().identity.step;
    match step {
        IdentityStep::None | IdentityStep::Confirmed => Ok(false),
        IdentityStep::Name => {
            if !intents.is_empty() && name_in(text).is_none() {
                return Ok(false);
            }
            // "Ali Raza, 42201-1234567-1" gives both at once.
            let cnic = grammar::cnic(text);
            let name_part = text.split(',').next().unwrap_or(text);
            match name_in(name_part) {
                Some(name) => {
                    t.tools.prepare_booking_details(Some(&name), cnic.as_deref())?;
                }
                None => {
                    r.say(line(lang, Line::BadName));
                    return Ok(true);
                }
            }
            after_identity_input(t, r);
            Ok(true)
        }
        IdentityStep::Cnic => match grammar::cnic(text) {
            Some(cnic) => {
                t.tools.prepare_booking_details(None, Some(&cnic))?;
                after_identity_input(t, r);
                Ok(true)
            }
            None if intents.is_empty() || grammar::looks_like_cnic(text) => {
                r.push(ReplyItem::Error { text: line(lang, Line::BadCnic).into() });
                Ok(true)
            }
            None => Ok(false),
        },
        IdentityStep::AwaitingConfirmation => {
            match yes_no(text) {
                Some(true) => {
                    t.tools.confirm_booking_details(text)?;
                    book(t, r).await?;
                    return Ok(true);
                }
                Some(false) => {
                    r.say(line(lang, Line::WhatToEdit));
                    return Ok(true);
                }
                None => {}
            }
            if let Some(cnic) = grammar::cnic(text) {
                t.tools.prepare_booking_details(None, Some(&cnic))?;
            } else if grammar::looks_like_cnic(text) {
                r.push(ReplyItem::Error { text: line(lang, Line::BadCnic).into() });
                return Ok(true);
            } else if let Some(name) = name_in(text).filter(|_| intents.is_empty()) {
                t.tools.prepare_booking_details(Some(&name), None)?;
            } else {
                return Ok(false);
            }
            after_identity_input(t, r);
            Ok(true)
        }
    }
}

fn after_identity_input(t: &mut Turn<'_>, r: &mut Reply) {
    let lang = t.tools.language();
    let id = t.tools.state().identity.clone();
    match (id.step, id.name, id.cnic) {
        (IdentityStep::AwaitingConfirmation, Some(name), Some(cnic)) => {
            r.push(yes_no_choices(
                lang,
                texts::confirm_identity(lang, &name, &models::booking::mask_cnic(&cnic)),
            ));
        }
        _ => {
            r.push(ReplyItem::Questions {
                text: line(lang, Line::AskCnic).into(),
                questions: vec![Question { field: "cnic".into(), label: "CNIC".into() }],
            });
        }
    }
}

/// Creates the booking and gives the payment instructions.
async fn book(t: &mut Turn<'_>, r: &mut Reply) -> Result<(), Refusal> {
    let lang = t.tools.language();
    let view = match t.tools.create_booking().await {
        Ok(v) => v,
        Err(e)
            if e.code == "SLOT_UNAVAILABLE"
                || e.code == "SHIFT_STARTED"
                || e.code == "OUTSIDE_BOOKING_WINDOW" =>
        {
            t.tools.state_mut().facts.property_id = None;
            t.tools.state_mut().identity.step = IdentityStep::None;
            r.push(ReplyItem::Error { text: refusal_text(lang, &e) });
            return search_and_list(t, r).await;
        }
        Err(e) => return Err(e),
    };
    let reference = view.booking.reference.clone();
    let instructions = t.tools.payment_instructions(&reference).await?;
    r.say(texts::booked(lang, &reference, &instructions.text));
    r.push(ReplyItem::BookingSummary { booking: booking_summary(&view) });
    r.say(line(lang, Line::HowToPay));
    Ok(())
}

/// The booking a message is about: a reference in it, else the current one, else the guest's
/// only active one.
async fn booking_meant(
    t: &Turn<'_>,
    text: &str,
    statuses: &[BookingStatus],
) -> Result<Result<String, Vec<String>>, Refusal> {
    if let Some(r) = grammar::reference(text) {
        return Ok(Ok(r));
    }
    if let Some(r) = t.tools.state().current_booking.clone() {
        return Ok(Ok(r));
    }
    let mine: Vec<String> = t
        .tools
        .my_bookings()
        .await?
        .into_iter()
        .filter(|v| statuses.iter().any(|s| s.as_str() == v.booking.status))
        .map(|v| v.booking.reference)
        .collect();
    Ok(match mine.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(mine),
    })
}

fn which_booking(lang: Language, refs: Vec<String>, r: &mut Reply) {
    if refs.is_empty() {
        r.say(line(lang, Line::NoBookings));
    } else {
        r.push(ReplyItem::Choices {
            text: line(lang, Line::WhichBooking).into(),
            choices: refs.into_iter().map(|x| Choice { id: x.clone(), label: x }).collect(),
        });
    }
}

/// My bookings, status, cancel, payment, pictures, videos, details, prices.
async fn asked_for(t: &mut Turn<'_>, r: &mut Reply, text: &str, intents: &[Intent]) -> Result<bool, Refusal> {
    let lang = t.tools.language();
    let active = [BookingStatus::Pending, BookingStatus::Waiting, BookingStatus::Confirmed];
    let about_one = intents.contains(&Intent::Cancel) || intents.contains(&Intent::Status);
    if intents.contains(&Intent::MyBookings) && !about_one {
        let mine = t.tools.my_bookings().await?;
        if mine.is_empty() {
            r.say(line(lang, Line::NoBookings));
        } else {
            r.say(line(lang, Line::YourBookings));
            for v in &mine {
                r.push(ReplyItem::BookingSummary { booking: booking_summary(v) });
            }
        }
        return Ok(true);
    }
    if let Some((amount, transaction_id, sender)) = grammar::typed_payment(text) {
        let all = [BookingStatus::Pending];
        let reference = match booking_meant(t, text, &all).await? {
            Ok(r) => r,
            Err(refs) => {
                which_booking(lang, refs, r);
                return Ok(true);
            }
        };
        let proof = TypedProof {
            amount,
            transaction_id,
            sender_name: sender
                .or_else(|| t.tools.state().identity.name.clone())
                .unwrap_or_else(|| "Guest".into()),
            sender_phone: None,
            method: None,
        };
        let s = t.tools.submit_payment_details(&reference, proof).await?;
        r.say(line(lang, Line::ProofReceived));
        let v = t.tools.booking(&s.booking.reference).await?;
        r.push(ReplyItem::BookingSummary { booking: booking_summary(&v) });
        return Ok(true);
    }
    if intents.contains(&Intent::Cancel) {
        match booking_meant(t, text, &active).await? {
            Ok(reference) => {
                let v = t.tools.booking(&reference).await?;
                t.tools.state_mut().pending = Pending::CancelBooking { reference: reference.clone() };
                r.push(yes_no_choices(lang, texts::confirm_cancel(lang, &reference, &v.property.name)));
            }
            Err(refs) => which_booking(lang, refs, r),
        }
        return Ok(true);
    }
    if intents.contains(&Intent::Status)
        || (grammar::reference(text).is_some() && !intents.contains(&Intent::Payment))
    {
        match booking_meant(t, text, &active).await? {
            Ok(reference) => {
                let v = t.tools.booking(&reference).await?;
                t.tools.state_mut().current_booking = Some(reference.clone());
                let b = &v.booking;
                r.say(texts::status(lang, &b.reference, &v.property.name, &b.date, &b.shift, &b.status));
                r.push(ReplyItem::BookingSummary { booking: booking_summary(&v) });
            }
            Err(refs) => which_booking(lang, refs, r),
        }
        return Ok(true);
    }
    if intents.contains(&Intent::Payment) {
        match booking_meant(t, text, &[BookingStatus::Pending]).await? {
            Ok(reference) => {
                let i = t.tools.payment_instructions(&reference).await?;
                r.say(i.text);
                r.say(line(lang, Line::HowToPay));
            }
            Err(refs) if refs.is_empty() => {
                r.say(line(lang, Line::NoPendingForProof));
            }
            Err(refs) => which_booking(lang, refs, r),
        }
        return Ok(true);
    }
    let media_kind = if intents.contains(&Intent::Pictures) {
        Some("image")
    } else if intents.contains(&Intent::Videos) {
        Some("video")
    } else {
        None
    };
    if media_kind.is_some() || intents.contains(&Intent::Details) || intents.contains(&Intent::Pricing) {
        let Some(id) = property_meant(t, text).await? else {
            r.say(line(lang, Line::WhichProperty));
            return Ok(true);
        };
        if let Some(kind) = media_kind {
            let (items, total) = t.tools.unsent_media(&id, kind).await?;
            if items.is_empty() {
                r.say(line(
                    lang,
                    if total > 0 {
                        Line::AlreadySent
                    } else if kind == "image" {
                        Line::NoPictures
                    } else {
                        Line::NoVideos
                    },
                ));
            } else {
                r.push(ReplyItem::Media { items });
            }
        } else if intents.contains(&Intent::Pricing) {
            pricing(t, r, &id).await?;
        } else {
            details(t, r, &id).await?;
        }
        return Ok(true);
    }
    Ok(false)
}

/// The property a request is about: named in the text, else the chosen one.
async fn property_meant(t: &mut Turn<'_>, text: &str) -> Result<Option<String>, Refusal> {
    let noise = [
        "pictures",
        "picture",
        "photos",
        "photo",
        "pics",
        "images",
        "image",
        "videos",
        "video",
        "details",
        "detail",
        "price",
        "prices",
        "pricing",
        "show",
        "me",
        "of",
        "the",
        "send",
        "tasveerein",
        "tasveer",
        "dikhao",
        "ki",
        "ka",
        "ke",
        "please",
        "tafseel",
        "qeemat",
        "what",
        "is",
        "rate",
        "rates",
        "info",
        "about",
        "for",
    ];
    let rest: String = services::conversations::lang::words(text)
        .into_iter()
        .filter(|w| !noise.contains(&w.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    if !rest.is_empty() {
        if let Resolution::One(p) = t.tools.resolve_property(&rest).await? {
            t.tools.state_mut().facts.property_id = Some(p.public_id.clone());
            return Ok(Some(p.public_id));
        }
    }
    Ok(t.tools.state().facts.property_id.clone())
}

async fn details(t: &mut Turn<'_>, r: &mut Reply, id: &str) -> Result<(), Refusal> {
    let lang = t.tools.language();
    let d = t.tools.property(id).await?;
    let p = &d.property;
    let amenities: Vec<String> = d.amenities.iter().map(|a| a.value.clone()).collect();
    r.say(texts::details(
        lang,
        &p.name,
        texts::kind_word(p.kind.parse().ok()),
        &p.city,
        p.max_guests,
        &p.description,
        &amenities,
    ));
    offer_booking(t, r, id, &p.name).await
}

async fn pricing(t: &mut Turn<'_>, r: &mut Reply, id: &str) -> Result<(), Refusal> {
    let lang = t.tools.language();
    let f = t.tools.state().facts.clone();
    let d = t.tools.property(id).await?;
    let name = d.property.name.clone();
    match (f.date, f.shift) {
        (Some(date), Some(shift)) => match t.tools.quote(id, date, shift).await {
            Ok(q) => {
                let total = texts::money(q.total.amount);
                let advance = texts::money(q.advance_due.amount);
                r.say(match lang {
                    Language::RomanUrdu => format!(
                        "{name}, {} {}: kul {total}, advance {advance}.",
                        texts::date_label(date),
                        shift.label()
                    ),
                    Language::English => format!(
                        "{name}, {} {}: {total} in total, {advance} advance.",
                        texts::date_label(date),
                        shift.label()
                    ),
                });
            }
            Err(e) => {
                r.push(ReplyItem::Error { text: refusal_text(lang, &e) });
            }
        },
        _ => {
            let mut lines = vec![format!("*{name}*")];
            for shift in Shift::ALL {
                let prices: Vec<i64> =
                    d.prices.iter().filter(|p| p.shift == shift.as_str()).map(|p| p.amount).collect();
                if let (Some(lo), Some(hi)) = (prices.iter().min(), prices.iter().max()) {
                    let range = if lo == hi {
                        texts::money(*lo)
                    } else {
                        format!("{} – {}", texts::money(*lo), texts::money(*hi))
                    };
                    lines.push(format!("• {}: {range}", shift.label()));
                }
            }
            r.say(lines.join("\n"));
        }
    }
    offer_booking(t, r, id, &name).await
}

/// After details or prices: the ready-to-book question when everything is known, without pushing
/// otherwise.
async fn offer_booking(t: &mut Turn<'_>, r: &mut Reply, _id: &str, name: &str) -> Result<(), Refusal> {
    let lang = t.tools.language();
    let f = t.tools.state().facts.clone();
    if let (Some(date), Some(shift), Some(_)) = (f.date, f.shift, f.guests) {
        t.tools.state_mut().pending = Pending::ReadyToBook;
        r.push(yes_no_choices(lang, texts::ready_to_book(lang, name, date, shift)));
    }
    Ok(())
}

/// Search facts in the message (also comma-joined form answers). `true` when there were any.
async fn gave_facts(t: &mut Turn<'_>, r: &mut Reply, text: &str) -> Result<bool, Refusal> {
    let lang = t.tools.language();
    let today = t.tools.today();
    let before = t.tools.state().facts.clone();
    let mut f = before.clone();
    let form = text.contains(',');
    let only_guests_missing =
        before.kind.is_some() && before.date.is_some() && before.shift.is_some() && before.guests.is_none();
    let date: Option<NaiveDate> = grammar::date(text, today);
    let bare_ok = form || only_guests_missing || missing(&before).contains(&"guests") && date.is_none();
    let guests = if form {
        text.split(',').find_map(|part| grammar::guests(part, grammar::date(part, today).is_none()))
    } else {
        grammar::guests(text, bare_ok && date.is_none())
    };
    if let Some(k) = grammar::kind(text) {
        f.kind = Some(k);
    }
    if let Some(d) = date {
        f.date = Some(d);
    }
    if let Some(s) = grammar::shift(text) {
        f.shift = Some(s);
    }
    if let Some(g) = guests {
        f.guests = Some(g);
    }
    let (lo, hi) = grammar::price_range(text);
    if lo.is_some() {
        f.min_price = lo;
    }
    if hi.is_some() {
        f.max_price = hi;
    }
    if f == before {
        return Ok(false);
    }
    if let Some(d) = f.date {
        if let Err(e) = t.tools.check_date(d, f.shift) {
            f.date = None;
            t.tools.state_mut().facts = Facts { property_id: None, ..f };
            r.push(ReplyItem::Error { text: refusal_text(lang, &e) });
            ask_missing(lang, &t.tools.state().facts, r);
            return Ok(true);
        }
    }
    // New facts: what was chosen for the old ones may not fit; the search shows it again.
    f.property_id = None;
    t.tools.state_mut().facts = f.clone();
    if missing(&f).is_empty() {
        search_and_list(t, r).await?;
    } else {
        ask_missing(lang, &f, r);
    }
    Ok(true)
}

async fn search_and_list(t: &mut Turn<'_>, r: &mut Reply) -> Result<(), Refusal> {
    let lang = t.tools.language();
    let items = t.tools.search().await?;
    if items.is_empty() {
        r.say(line(lang, Line::NoResults));
        return Ok(());
    }
    let choices: Vec<Choice> =
        items.iter().map(|p| Choice { id: p.id.clone(), label: p.name.clone() }).collect();
    r.push(ReplyItem::PropertyList { text: line(lang, Line::Results).into(), items });
    r.push(ReplyItem::Choices { text: line(lang, Line::PickOne).into(), choices });
    Ok(())
}

/// A property named by the guest: with all facts known, the ready-to-book question.
async fn named_property(t: &mut Turn<'_>, r: &mut Reply, text: &str) -> Result<bool, Refusal> {
    let lang = t.tools.language();
    if text.chars().count() > 80 || grammar::intents(text).contains(&Intent::Greeting) {
        return Ok(false);
    }
    match t.tools.resolve_property(text).await? {
        Resolution::Nothing => Ok(false),
        Resolution::Several(ps) => {
            r.push(ReplyItem::Choices {
                text: line(lang, Line::WhichProperty).into(),
                choices: ps.into_iter().map(|p| Choice { id: p.public_id, label: p.name }).collect(),
            });
            Ok(true)
        }
        Resolution::One(p) => {
            t.tools.state_mut().facts.property_id = Some(p.public_id.clone());
            let f = t.tools.state().facts.clone();
            match (f.date, f.shift, f.guests) {
                (Some(date), Some(shift), Some(_)) => match t.tools.quote(&p.public_id, date, shift).await {
                    Ok(q) if q.available => {
                        t.tools.state_mut().pending = Pending::ReadyToBook;
                        r.say(format!(
                            "*{}* — {} {}: {} ({} advance).",
                            p.name,
                            texts::date_label(date),
                            shift.label(),
                            texts::money(q.total.amount),
                            texts::money(q.advance_due.amount)
                        ));
                        r.push(yes_no_choices(lang, texts::ready_to_book(lang, &p.name, date, shift)));
                    }
                    Ok(_) => {
                        t.tools.state_mut().facts.property_id = None;
                        r.push(ReplyItem::Error {
                            text: match lang {
                                Language::RomanUrdu => format!("{} is waqt khaali nahi.", p.name),
                                Language::English => format!("{} is not free then.", p.name),
                            },
                        });
                        search_and_list(t, r).await?;
                    }
                    Err(e) => {
                        t.tools.state_mut().facts.property_id = None;
                        r.push(ReplyItem::Error { text: refusal_text(lang, &e) });
                    }
                },
                _ => {
                    details(t, r, &p.public_id).await?;
                    ask_missing(lang, &f, r);
                }
            }
            Ok(true)
        }
    }
}

/// A picture: the payment proof of the current booking, else of the only pending one.
async fn image(t: &mut Turn<'_>, r: &mut Reply) -> Result<(), Refusal> {
    let lang = t.tools.language();
    let Some((bytes, content_type)) = t.image.take() else {
        r.say(line(lang, Line::ImageAgain));
        return Ok(());
    };
    let current = t.tools.state().current_booking.clone();
    let pending: Vec<String> =
        t.tools.pending_bookings().await?.into_iter().map(|v| v.booking.reference).collect();
    let target = match current.filter(|c| pending.contains(c)) {
        Some(c) => c,
        None => match pending.as_slice() {
            [] => {
                r.say(line(lang, Line::NoPendingForProof));
                return Ok(());
            }
            [one] => one.clone(),
            many => {
                r.push(ReplyItem::Choices {
                    text: format!("{} {}", line(lang, Line::ProofWhich), line(lang, Line::ImageAgain)),
                    choices: many.iter().map(|x| Choice { id: x.clone(), label: x.clone() }).collect(),
                });
                return Ok(());
            }
        },
    };
    match t.tools.submit_screenshot(&target, bytes, content_type).await {
        Ok(s) => {
            r.say(line(lang, Line::ProofReceived));
            let v = t.tools.booking(&s.booking.reference).await?;
            r.push(ReplyItem::BookingSummary { booking: booking_summary(&v) });
        }
        Err(e) if e.code == "NOT_A_PAYMENT_SCREENSHOT" => {
            r.push(ReplyItem::Error { text: line(lang, Line::NotAPayment).into() });
        }
        Err(e) => {
            r.push(ReplyItem::Error { text: refusal_text(lang, &e) });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::name_in;

    #[test]
    fn names() {
        assert_eq!(name_in("Ayesha Khan"), Some("Ayesha Khan".into()));
        assert_eq!(name_in("my name is ayesha khan"), Some("Ayesha Khan".into()));
        assert_eq!(name_in("mera naam Ali Raza hai"), Some("Ali Raza".into()));
        assert_eq!(name_in("42201-1234567-1"), None);
        assert_eq!(name_in(""), None);
    }
}
