//! What the guided agent says, in English and Roman Urdu.

use chrono::NaiveDate;
use models::booking::{PropertyKind, Shift};
use models::conversation::Language;

/// A fixed sentence.
#[derive(Clone, Copy, Debug)]
pub enum Line {
    /// The introduction: what the agent does and the shifts.
    Intro,
    /// Off-topic.
    OffTopic,
    /// A human will answer.
    HumanComing,
    /// Ask for the missing details.
    AskMissing,
    /// Nothing matched the search.
    NoResults,
    /// Results heading.
    Results,
    /// How to pick from the results.
    PickOne,
    /// Ask for the full name.
    AskName,
    /// Ask for the CNIC.
    AskCnic,
    /// The CNIC was not 13 digits.
    BadCnic,
    /// The name was not a name.
    BadName,
    /// Fine, not booked.
    NotNow,
    /// Which to edit.
    WhatToEdit,
    /// No bookings.
    NoBookings,
    /// Your bookings.
    YourBookings,
    /// Not found (or not yours).
    BookingNotFound,
    /// Which booking.
    WhichBooking,
    /// Kept the booking.
    KeptBooking,
    /// Send the screenshot again.
    ImageAgain,
    /// No pending booking for a proof.
    NoPendingForProof,
    /// Which booking is the screenshot for.
    ProofWhich,
    /// The proof is with the admin.
    ProofReceived,
    /// Not a payment screenshot.
    NotAPayment,
    /// No pictures.
    NoPictures,
    /// No videos.
    NoVideos,
    /// Already sent.
    AlreadySent,
    /// Which property.
    WhichProperty,
    /// Unknown property name.
    UnknownProperty,
    /// Start over.
    StartedOver,
    /// You are welcome.
    Welcome,
    /// How to send payment details.
    HowToPay,
    /// Something failed.
    Failed,
}

/// The sentence in the language.
pub fn line(lang: Language, l: Line) -> &'static str {
    let ur = lang == Language::RomanUrdu;
    match l {
        Line::Intro => {
            if ur {
                "Assalam o Alaikum! Main Steward ka booking assistant hoon. Main aap ke liye farmhouse aur hut dhoond kar book kar sakta hoon, qeemat bata sakta hoon, tasveerein aur videos dikha sakta hoon, aur payment le sakta hoon.\n\nMujhe batayein: *type* (farmhouse ya hut), *tareekh*, *shift* aur *kitne log*.\n\nShifts:\n• Day (din): subah 8 se shaam 6 baje\n• Night (raat): raat 8 se subah 6 baje\n• Full Day (poora din): subah 8 se agli subah 6 baje\n• Full Night (poori raat): raat 8 se agle din shaam 6 baje"
            } else {
                "Assalam o Alaikum! I'm Steward's booking assistant. I can find and book farmhouses and huts for you, tell you prices, show pictures and videos, and take your payment.\n\nTell me the *type* (farmhouse or hut), the *date*, the *shift* and *how many guests*.\n\nShifts:\n• Day: 8 AM – 6 PM\n• Night: 8 PM – 6 AM\n• Full Day: 8 AM – 6 AM next morning\n• Full Night: 8 PM – 6 PM next day"
            }
        }
        Line::OffTopic => {
            if ur {
                "Main sirf farmhouse aur hut ki booking mein madad kar sakta hoon. Kya aap ko koi dhoondhne mein madad chahiye?"
            } else {
                "I can only help with farmhouse and hut bookings. Would you like help finding one?"
            }
        }
        Line::HumanComing => {
            if ur {
                "Theek hai, main admin ko bata raha hoon. Koi insaan jald aap se baat karega."
            } else {
                "Sure — I've asked a person from our team to join. They will reply here shortly."
            }
        }
        Line::AskMissing => {
            if ur {
                "Booking ke liye yeh batayein:"
            } else {
                "To find a place, tell me:"
            }
        }
        Line::NoResults => {
            if ur {
                "Is tareekh aur shift ke liye koi jagah khaali nahi. Koi aur tareekh ya shift try karein?"
            } else {
                "Nothing is free for that date and shift. Would you like to try another date or shift?"
            }
        }
        Line::Results => {
            if ur {
                "Yeh jagahein khaali hain:"
            } else {
                "Here is what is free:"
            }
        }
        Line::PickOne => {
            if ur {
                "Kisi ka naam likhein — tafseel, tasveerein ya booking ke liye."
            } else {
                "Reply with a name to see details, pictures, or to book it."
            }
        }
        Line::AskName => {
            if ur {
                "Booking ke liye apna poora naam likhein."
            } else {
                "Please send the full name for the booking."
            }
        }
        Line::AskCnic => {
            if ur {
                "Ab apna 13 hindson ka CNIC number likhein (jaise 42201-1234567-1)."
            } else {
                "Now your 13-digit CNIC number (like 42201-1234567-1)."
            }
        }
        Line::BadCnic => {
            if ur {
                "Yeh CNIC sahi nahi lag raha. 13 hindse likhein, jaise 42201-1234567-1."
            } else {
                "That doesn't look like a CNIC. Please send its 13 digits, like 42201-1234567-1."
            }
        }
        Line::BadName => {
            if ur {
                "Naam mein sirf huroof likhein, please."
            } else {
                "Please send a name in letters."
            }
        }
        Line::NotNow => {
            if ur {
                "Koi baat nahi. Tafseel, tasveerein, ya koi aur jagah dekhni ho to batayein."
            } else {
                "No problem. Ask me for details, pictures, or another place whenever you like."
            }
        }
        Line::WhatToEdit => {
            if ur {
                "Kya badalna hai? Naya naam ya CNIC likh dein."
            } else {
                "What should I change? Send the corrected name or CNIC."
            }
        }
        Line::NoBookings => {
            if ur {
                "Aap ki koi booking nahi hai."
            } else {
                "You have no bookings yet."
            }
        }
        Line::YourBookings => {
            if ur {
                "Aap ki bookings:"
            } else {
                "Your bookings:"
            }
        }
        Line::BookingNotFound => {
            if ur {
                "Yeh booking nahi mili. Reference dobara check karein (jaise HB-7KQ2M9)."
            } else {
                "I couldn't find that booking. Please check the reference (like HB-7KQ2M9)."
            }
        }
        Line::WhichBooking => {
            if ur {
                "Kaun si booking?"
            } else {
                "Which booking?"
            }
        }
        Line::KeptBooking => {
            if ur {
                "Theek hai, booking qaim hai."
            } else {
                "Okay, the booking stays as it is."
            }
        }
        Line::ImageAgain => {
            if ur {
                "Tasveer mujh tak nahi pahunchi. Please screenshot dobara bhejein."
            } else {
                "The picture didn't reach me. Please send the screenshot again."
            }
        }
        Line::NoPendingForProof => {
            if ur {
                "Aap ki koi booking payment ki muntazir nahi. Pehle booking karein."
            } else {
                "You have no booking waiting for payment. Book a place first, then send the screenshot."
            }
        }
        Line::ProofWhich => {
            if ur {
                "Yeh screenshot kis booking ka hai?"
            } else {
                "Which booking is this screenshot for?"
            }
        }
        Line::ProofReceived => {
            if ur {
                "Shukriya! Payment ka saboot admin ko bhej diya hai. Tasdeeq hote hi aap ko bata diya jayega."
            } else {
                "Thank you! Your payment proof is with our admin. You'll hear here as soon as it is verified."
            }
        }
        Line::NotAPayment => "Please send me the payment screenshot only.",
        Line::NoPictures => {
            if ur {
                "Is jagah ki tasveerein abhi nahi hain."
            } else {
                "There are no pictures of this place yet."
            }
        }
        Line::NoVideos => {
            if ur {
                "Is jagah ki videos abhi nahi hain."
            } else {
                "There are no videos of this place yet."
            }
        }
        Line::AlreadySent => {
            if ur {
                "Yeh sab pehle hi bhej chuka hoon (upar dekhein)."
            } else {
                "I've already sent all of them above."
            }
        }
        Line::WhichProperty => {
            if ur {
                "Kaun si jagah? Naam likhein."
            } else {
                "Which place? Send its name."
            }
        }
        Line::UnknownProperty => {
            if ur {
                "Is naam ki koi jagah nahi mili. Tareekh, shift aur log batayein to main khaali jagahein dikhata hoon."
            } else {
                "I couldn't find a place by that name. Tell me the date, shift and guests and I'll show what's free."
            }
        }
        Line::StartedOver => {
            if ur {
                "Theek hai, naye sire se shuru karte hain."
            } else {
                "Okay, let's start over."
            }
        }
        Line::Welcome => {
            if ur {
                "Aap ka shukriya! Aur kuch?"
            } else {
                "You're welcome! Anything else?"
            }
        }
        Line::HowToPay => {
            if ur {
                "Payment ke baad screenshot bhejein, ya likhein: paid <raqam>, TID <transaction id>, from <naam>."
            } else {
                "After paying, send the screenshot here, or type: paid <amount>, TID <transaction id>, from <name>."
            }
        }
        Line::Failed => {
            if ur {
                "Maaf kijiye, kuch ghalat ho gaya. Dobara koshish karein."
            } else {
                "Sorry, something went wrong. Please try again."
            }
        }
    }
}

/// "Sat 5 Dec 2026".
pub fn date_label(d: NaiveDate) -> String {
    d.format("%a %-d %b %Y").to_string()
}

/// "Night", "Full Night"…
pub fn shift_label(s: Shift) -> &'static str {
    s.label()
}

/// "farmhouse" / "hut".
pub fn kind_word(k: Option<PropertyKind>) -> &'static str {
    match k {
        Some(PropertyKind::Hut) => "hut",
        _ => "farmhouse",
    }
}

/// `Ready to book {property} for {date} {shift}? (Yes/No)`, or its Roman Urdu form.
pub fn ready_to_book(lang: Language, property: &str, date: NaiveDate, shift: Shift) -> String {
    match lang {
        Language::RomanUrdu => format!(
            "Kya main {property} {} {} ke liye book kar doon? (Haan/Nahi)",
            date_label(date),
            shift_label(shift)
        ),
        Language::English => {
            format!("Ready to book {property} for {} {}? (Yes/No)", date_label(date), shift_label(shift))
        }
    }
}

/// Rs 35,000.
pub fn money(minor: i64) -> String {
    let rupees = minor / 100;
    let digits = rupees.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("Rs {}{out}", if rupees < 0 { "-" } else { "" })
}

/// The identity summary and the confirmation question.
pub fn confirm_identity(lang: Language, name: &str, cnic_masked: &str) -> String {
    match lang {
        Language::RomanUrdu => format!(
            "Naam: *{name}*\nCNIC: *{cnic_masked}*\n\nKya yeh sahi hai? (Haan/Nahi) — ghalat ho to sahi naam ya CNIC likh dein."
        ),
        Language::English => format!(
            "Name: *{name}*\nCNIC: *{cnic_masked}*\n\nIs this correct? (Yes/No) — or send the corrected name or CNIC."
        ),
    }
}

/// Booked: reference, advance, account, deadline, remainder (from the payment instructions).
pub fn booked(lang: Language, reference: &str, instructions: &str) -> String {
    match lang {
        Language::RomanUrdu => format!("Booking ho gayi! Reference: *{reference}*\n\n{instructions}"),
        Language::English => format!("Booked! Your reference is *{reference}*.\n\n{instructions}"),
    }
}

/// A booking's status sentence.
pub fn status(
    lang: Language,
    reference: &str,
    property: &str,
    date: &str,
    shift: &str,
    status: &str,
) -> String {
    match lang {
        Language::RomanUrdu => {
            format!("Booking {reference} ({property}, {date} {shift}) ka status: *{status}*.")
        }
        Language::English => format!("Booking {reference} ({property}, {date} {shift}) is *{status}*."),
    }
}

/// "Cancel booking …? (Yes/No)".
pub fn confirm_cancel(lang: Language, reference: &str, property: &str) -> String {
    match lang {
        Language::RomanUrdu => format!("Kya booking {reference} ({property}) cancel kar doon? (Haan/Nahi)"),
        Language::English => format!("Cancel booking {reference} ({property})? (Yes/No)"),
    }
}

/// Cancelled.
pub fn cancelled(lang: Language, reference: &str) -> String {
    match lang {
        Language::RomanUrdu => format!("Booking {reference} cancel ho gayi."),
        Language::English => format!("Booking {reference} is cancelled."),
    }
}

/// The labels of the form's fields.
pub fn field_label(lang: Language, field: &str) -> &'static str {
    let ur = lang == Language::RomanUrdu;
    match field {
        "type" => {
            if ur {
                "Type (farmhouse ya hut)"
            } else {
                "Type (farmhouse or hut)"
            }
        }
        "date" => {
            if ur {
                "Tareekh (jaise kal, Saturday, 25 Dec)"
            } else {
                "Date (e.g. tomorrow, Saturday, 25 Dec)"
            }
        }
        "shift" => {
            if ur {
                "Shift (din, raat, poora din, poori raat)"
            } else {
                "Shift (day, night, full day, full night)"
            }
        }
        "guests" => {
            if ur {
                "Kitne log"
            } else {
                "Number of guests"
            }
        }
        "name" => {
            if ur {
                "Poora naam"
            } else {
                "Full name"
            }
        }
        "cnic" => "CNIC",
        _ => "",
    }
}

/// "Green Valley: Sat 5 Dec Night — Rs 22,000 for 20 guests" details line.
pub fn details(
    lang: Language,
    name: &str,
    kind: &str,
    city: &str,
    max_guests: i32,
    description: &str,
    amenities: &[String],
) -> String {
    let ur = lang == Language::RomanUrdu;
    let mut s = format!("*{name}* — {kind} in {city}, ");
    s.push_str(&if ur { format!("{max_guests} logon tak") } else { format!("up to {max_guests} guests") });
    if !description.trim().is_empty() {
        s.push_str(&format!("\n{}", description.trim()));
    }
    if !amenities.is_empty() {
        s.push_str(&format!("\n{}: {}", if ur { "Sahooliyat" } else { "Amenities" }, amenities.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_ready_question_and_money() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default();
        assert_eq!(
            ready_to_book(Language::English, "Green Valley Farmhouse", d, Shift::Night),
            "Ready to book Green Valley Farmhouse for Sat 5 Dec 2026 Night? (Yes/No)"
        );
        assert_eq!(money(3_500_000), "Rs 35,000");
        assert_eq!(money(1_750_050), "Rs 17,500");
    }
}
