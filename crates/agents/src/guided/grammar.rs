//! What a guest's message says, in English or Roman Urdu, as small pure functions: dates, shifts,
//! guest counts, types, prices, CNICs, booking references, and what the guest wants.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use models::booking::{PropertyKind, Shift};
use models::conversation::Language;
use services::conversations::lang::words;

/// Words that only Roman Urdu uses (a message with two of them, or one and no English marker,
/// is Roman Urdu).
const URDU: &[&str] = &[
    "aaj",
    "kal",
    "parson",
    "parso",
    "haan",
    "han",
    "nahi",
    "nahin",
    "hai",
    "hain",
    "ka",
    "ki",
    "ke",
    "ko",
    "se",
    "mujhe",
    "mein",
    "main",
    "hum",
    "humein",
    "chahiye",
    "chahte",
    "karna",
    "karni",
    "karo",
    "kar",
    "dein",
    "den",
    "batao",
    "bataen",
    "bataein",
    "kitne",
    "kitna",
    "log",
    "afraad",
    "afrad",
    "din",
    "raat",
    "poora",
    "poori",
    "pura",
    "puri",
    "agle",
    "agla",
    "theek",
    "thik",
    "acha",
    "shukriya",
    "kya",
    "koi",
    "aur",
    "ya",
    "bhi",
    "wala",
    "wali",
    "liye",
    "tasveer",
    "tasveerein",
    "dikhao",
    "dikhayein",
    "insaan",
    "insan",
    "baat",
    "meri",
    "mera",
    "mere",
    "peer",
    "mangal",
    "budh",
    "jumerat",
    "jumeraat",
    "juma",
    "hafta",
    "itwaar",
    "itwar",
    "qeemat",
    "kimat",
    "ji",
    "jee",
    "salam",
    "assalam",
    "walaikum",
    "alaikum",
];

/// Words that only English uses.
const ENGLISH: &[&str] = &[
    "the", "for", "is", "are", "want", "need", "please", "book", "people", "guests", "persons", "tomorrow",
    "today", "night", "day", "full", "show", "what", "how", "much", "price", "my", "cancel", "yes", "no",
    "pictures", "photos", "hello", "hi", "thanks", "i", "we", "a", "an", "to", "of", "on", "and",
];

/// The language of a message, when it shows one.
pub fn language(text: &str) -> Option<Language> {
    let w = words(text);
    let urdu = w.iter().filter(|x| URDU.contains(&x.as_str())).count();
    let english = w.iter().filter(|x| ENGLISH.contains(&x.as_str())).count();
    if urdu >= 2 && urdu >= english || urdu == 1 && english == 0 && w.len() <= 3 {
        Some(Language::RomanUrdu)
    } else if english >= 1 && english > urdu {
        Some(Language::English)
    } else {
        None
    }
}

const MONTHS: [(&str, u32); 24] = [
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

fn month(w: &str) -> Option<u32> {
    MONTHS.iter().find(|(name, _)| *name == w).map(|(_, m)| *m)
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" | "peer" | "pir" => Weekday::Mon,
        "tuesday" | "tue" | "tues" | "mangal" => Weekday::Tue,
        "wednesday" | "wed" | "budh" => Weekday::Wed,
        "thursday" | "thu" | "thurs" | "jumerat" | "jumeraat" => Weekday::Thu,
        "friday" | "fri" | "juma" | "jumma" | "jummah" => Weekday::Fri,
        "saturday" | "sat" | "hafta" | "haftay" | "hafte" => Weekday::Sat,
        "sunday" | "sun" | "itwaar" | "itwar" => Weekday::Sun,
        _ => return None,
    })
}

/// A day of the month: "25", "25th", "1st".
fn day_number(w: &str) -> Option<u32> {
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &w[digits.len()..];
    if !["", "st", "nd", "rd", "th"].contains(&suffix) {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

/// The date in the year that makes it today or later.
fn upcoming(today: NaiveDate, month: u32, day: u32, year: Option<i32>) -> Option<NaiveDate> {
    if let Some(y) = year {
        return NaiveDate::from_ymd_opt(y, month, day);
    }
    let this = NaiveDate::from_ymd_opt(today.year(), month, day)?;
    if this >= today {
        Some(this)
    } else {
        NaiveDate::from_ymd_opt(today.year() + 1, month, day)
    }
}

/// A date: ISO `2026-12-05`, `5/12` or `5/12/2026` (day first), `25 Dec`, `Dec 25th`,
/// `today`/`aaj`, `tomorrow`/`kal`, `day after tomorrow`/`parson`, a weekday in either language
/// (`Saturday`, `agle hafta`, `next Friday`: the next one after today).
pub fn date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let lower = text.to_lowercase();
    if lower.contains("day after tomorrow") {
        return Some(today + Duration::days(2));
    }
    let w = words(&lower);
    for (i, word) in w.iter().enumerate() {
        if word.len() == 10 && word.as_bytes()[4] == b'-' && word.as_bytes()[7] == b'-' {
            if let Ok(d) = NaiveDate::parse_from_str(word, "%Y-%m-%d") {
                return Some(d);
            }
        }
        if word.contains('/') {
            let parts: Vec<&str> = word.split('/').collect();
            let n = |s: &str| s.parse::<u32>().ok();
            match parts.as_slice() {
                [d, m] => {
                    if let (Some(d), Some(m)) = (n(d), n(m)) {
                        if let Some(date) = upcoming(today, m, d, None) {
                            return Some(date);
                        }
                    }
                }
                [d, m, y] => {
                    if let (Some(d), Some(m), Some(y)) = (n(d), n(m), n(y)) {
                        let y = if y < 100 { 2000 + y } else { y };
                        if let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d) {
                            return Some(date);
                        }
                    }
                }
                _ => {}
            }
        }
        let year_after =
            |j: usize| w.get(j).and_then(|y| y.parse::<i32>().ok()).filter(|y| (2000..2100).contains(y));
        if let Some(m) = month(word) {
            // "Dec 25" / "December 25th 2026"
            if let Some(d) = w.get(i + 1).and_then(|x| day_number(x)) {
                if let Some(date) = upcoming(today, m, d, year_after(i + 2)) {
                    return Some(date);
                }
            }
        }
        if let Some(d) = day_number(word) {
            // "25 Dec" / "25th of December 2026"
            let next = if w.get(i + 1).map(String::as_str) == Some("of") { i + 2 } else { i + 1 };
            if let Some(m) = w.get(next).and_then(|x| month(x)) {
                if let Some(date) = upcoming(today, m, d, year_after(next + 1)) {
                    return Some(date);
                }
            }
        }
        match word.as_str() {
            "today" | "aaj" | "tonight" => return Some(today),
            "tomorrow" | "kal" | "tmrw" => return Some(today + Duration::days(1)),
            "parson" | "parso" => return Some(today + Duration::days(2)),
            _ => {}
        }
        if let Some(wd) = weekday(word) {
            let ahead =
                (7 + wd.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64) % 7;
            return Some(today + Duration::days(if ahead == 0 { 7 } else { ahead }));
        }
    }
    None
}

/// A shift: `full night`/`poori raat`, `full day`/`poora din`, `night`/`raat`, `day`/`din`.
pub fn shift(text: &str) -> Option<Shift> {
    let lower = text.to_lowercase().replace("day after tomorrow", " ").replace(['-', '_'], " ");
    let w = words(&lower);
    let has = |a: &str, b: &str| w.windows(2).any(|p| p[0] == a && p[1] == b);
    let full = |x: &str| ["full", "poora", "poori", "pura", "puri", "whole", "pooray", "puray"].contains(&x);
    if w.windows(2).any(|p| full(&p[0]) && ["night", "raat"].contains(&p[1].as_str()))
        || w.iter().any(|x| x == "fullnight" || x == "overnight")
    {
        return Some(Shift::FullNight);
    }
    if w.windows(2).any(|p| full(&p[0]) && ["day", "din"].contains(&p[1].as_str()))
        || w.iter().any(|x| x == "fullday")
    {
        return Some(Shift::FullDay);
    }
    if w.iter().any(|x| ["night", "raat", "evening", "shaam"].contains(&x.as_str())) {
        return Some(Shift::Night);
    }
    if w.iter().any(|x| ["day", "din", "daytime", "morning", "subah"].contains(&x.as_str()))
        && !has("per", "day")
    {
        return Some(Shift::Day);
    }
    None
}

const PEOPLE: &[&str] = &[
    "log", "logon", "afraad", "afrad", "people", "persons", "person", "guests", "guest", "pax", "members",
    "adults", "banday", "bande", "admi", "aadmi", "ppl",
];

/// A party size: `15 log`, `15 afraad`, `15 people`, `for 15`; with `bare`, a lone number too.
pub fn guests(text: &str, bare: bool) -> Option<i32> {
    let w = words(text);
    let n = |x: &str| x.parse::<i32>().ok().filter(|n| (1..=10_000).contains(n));
    for (i, word) in w.iter().enumerate() {
        if let Some(count) = n(word) {
            if w.get(i + 1).is_some_and(|x| PEOPLE.contains(&x.as_str())) {
                return Some(count);
            }
            if i > 0 && w[i - 1] == "for" && w.get(i + 1).is_none_or(|x| month(x).is_none()) {
                return Some(count);
            }
        }
    }
    if bare {
        let numbers: Vec<i32> = w.iter().filter_map(|x| n(x)).collect();
        if let [one] = numbers.as_slice() {
            return Some(*one);
        }
    }
    None
}

/// A property type: farm / farmhouse / farm house, hut / huts / beach hut.
pub fn kind(text: &str) -> Option<PropertyKind> {
    let w = words(text);
    if w.iter().any(|x| ["farm", "farmhouse", "farmhouses", "farms"].contains(&x.as_str())) {
        Some(PropertyKind::Farm)
    } else if w.iter().any(|x| ["hut", "huts", "cottage"].contains(&x.as_str())) {
        Some(PropertyKind::Hut)
    } else {
        None
    }
}

fn amount(word: &str) -> Option<i64> {
    let w = word.trim_start_matches("rs").trim_start_matches("pkr").replace(',', "");
    if let Some(k) = w.strip_suffix('k') {
        return k.parse::<i64>().ok().map(|n| n * 1000);
    }
    w.parse::<i64>().ok()
}

/// A price range in rupees, as minor units: `under 30000`, `max 30k`, `se kam`, `above 20000`,
/// `between 20000 and 40000`.
pub fn price_range(text: &str) -> (Option<i64>, Option<i64>) {
    let w = words(&text.to_lowercase().replace(',', ""));
    let mut lo = None;
    let mut hi = None;
    for (i, word) in w.iter().enumerate() {
        let next = w.get(i + 1).and_then(|x| amount(x));
        match word.as_str() {
            "under" | "below" | "max" | "maximum" | "upto" | "within" | "budget" => hi = hi.or(next),
            "above" | "over" | "min" | "minimum" => lo = lo.or(next),
            "between" => {
                lo = next;
                hi = w.get(i + 3).and_then(|x| amount(x));
            }
            _ => {}
        }
        // "30000 se kam" / "20000 se zyada"
        if let Some(a) = amount(word) {
            if w.get(i + 1).map(String::as_str) == Some("se") {
                match w.get(i + 2).map(String::as_str) {
                    Some("kam") => hi = Some(a),
                    Some("zyada" | "ziada" | "upar") => lo = Some(a),
                    _ => {}
                }
            }
        }
    }
    (lo.map(|r| r * 100), hi.map(|r| r * 100))
}

/// A 13-digit CNIC anywhere in the text (`42201-1234567-1` or `4220112345671`).
pub fn cnic(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .find_map(|t| models::booking::normalise_cnic(t.trim_matches('-')))
}

/// Whether the text holds something that looks like a CNIC attempt (a long run of digits).
pub fn looks_like_cnic(text: &str) -> bool {
    text.chars().filter(char::is_ascii_digit).count() >= 9
}

/// A booking reference `HB-XXXXXX` anywhere in the text.
pub fn reference(text: &str) -> Option<String> {
    let upper = text.to_uppercase();
    let i = upper.find("HB-")?;
    let code: String = upper[i + 3..].chars().take_while(char::is_ascii_alphanumeric).collect();
    (code.len() == 6).then(|| format!("HB-{code}"))
}

/// What the guest wants, beyond facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// A human.
    Human,
    /// Hello.
    Greeting,
    /// What the bot can do.
    Help,
    /// Start over.
    Reset,
    /// My bookings.
    MyBookings,
    /// The status of a booking.
    Status,
    /// Cancel a booking.
    Cancel,
    /// How to pay.
    Payment,
    /// Pictures.
    Pictures,
    /// Videos.
    Videos,
    /// Details of a property.
    Details,
    /// Prices.
    Pricing,
    /// Thanks.
    Thanks,
}

/// The guest's intents, most specific first.
pub fn intents(text: &str) -> Vec<Intent> {
    let lower = text.to_lowercase();
    let w = words(&lower);
    let any = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    let mut out = Vec::new();
    if any(&["agent", "human", "insaan", "insan", "representative", "operator"])
        || lower.contains("real person")
        || lower.contains("talk to someone")
    {
        out.push(Intent::Human);
    }
    if lower.contains("start over") || any(&["reset", "restart"]) || lower.contains("shuru se") {
        out.push(Intent::Reset);
    }
    if (any(&["my", "meri", "mera", "mere"]) && any(&["booking", "bookings"]))
        || lower.contains("my reservations")
    {
        out.push(Intent::MyBookings);
    }
    if any(&["status"]) || lower.contains("kya hua") {
        out.push(Intent::Status);
    }
    if any(&["cancel", "mansookh", "cancellation"]) {
        out.push(Intent::Cancel);
    }
    if any(&["payment", "pay", "account", "paise", "raqam", "jama", "bank", "easypaisa", "jazzcash"]) {
        out.push(Intent::Payment);
    }
    if any(&[
        "picture",
        "pictures",
        "photo",
        "photos",
        "pic",
        "pics",
        "image",
        "images",
        "tasveer",
        "tasveerein",
        "tasveeren",
        "tasaveer",
    ]) {
        out.push(Intent::Pictures);
    }
    if any(&["video", "videos", "vid"]) {
        out.push(Intent::Videos);
    }
    if any(&["details", "detail", "tafseel", "info", "information", "amenities", "facilities", "about"]) {
        out.push(Intent::Details);
    }
    if any(&["price", "prices", "pricing", "rate", "rates", "charges", "qeemat", "kimat", "cost", "kiraya"])
        || lower.contains("kitne ka")
        || lower.contains("how much")
    {
        out.push(Intent::Pricing);
    }
    if any(&["help", "madad"]) || lower.contains("what can you do") {
        out.push(Intent::Help);
    }
    if any(&["hi", "hello", "hey", "salam", "salaam", "assalam", "assalamualaikum", "aoa", "asalam"]) {
        out.push(Intent::Greeting);
    }
    if any(&["thanks", "thank", "shukriya", "shukria", "jazakallah"]) {
        out.push(Intent::Thanks);
    }
    out
}

/// Typed payment details: `paid 17500, TID 1234567890, from Ayesha Khan` → (amount in minor
/// units, transaction id, sender name).
pub fn typed_payment(text: &str) -> Option<(i64, String, Option<String>)> {
    let w: Vec<&str> =
        text.split(|c: char| c.is_whitespace() || c == ',' || c == ':').filter(|x| !x.is_empty()).collect();
    let lower: Vec<String> = w.iter().map(|x| x.to_lowercase()).collect();
    let mut txn = None;
    for (i, x) in lower.iter().enumerate() {
        if ["tid", "trx", "txn", "transaction", "id", "ref", "tx"].contains(&x.as_str()) {
            if let Some(next) = w
                .iter()
                .skip(i + 1)
                .find(|t| !["id", "#", "no", "number"].contains(&t.to_lowercase().as_str()))
            {
                let t: String = next.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                if t.len() >= 6 && t.chars().any(|c| c.is_ascii_digit()) {
                    txn = Some(t);
                    break;
                }
            }
        }
    }
    let txn = txn?;
    let amount = lower
        .iter()
        .filter(|x| **x != txn.to_lowercase())
        .filter_map(|x| amount(x.trim_start_matches("rs.")))
        .find(|a| (100..10_000_000).contains(a))?;
    let sender = lower.iter().position(|x| x == "from" || x == "sender" || x == "name").map(|i| {
        w[i + 1..]
            .iter()
            .take_while(|t| t.chars().all(char::is_alphabetic))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    });
    Some((amount * 100, txn, sender.filter(|s| !s.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn dates_in_both_languages() {
        let today = d(2026, 11, 29); // a Sunday
        for (text, want) in [
            ("2026-12-05", d(2026, 12, 5)),
            ("on 5/12", d(2026, 12, 5)),
            ("5/12/2026", d(2026, 12, 5)),
            ("25 Dec", d(2026, 12, 25)),
            ("Dec 25th", d(2026, 12, 25)),
            ("25th of December", d(2026, 12, 25)),
            ("3 jan", d(2027, 1, 3)),
            ("today", today),
            ("aaj", today),
            ("kal", d(2026, 11, 30)),
            ("tomorrow night", d(2026, 11, 30)),
            ("parson", d(2026, 12, 1)),
            ("day after tomorrow", d(2026, 12, 1)),
            ("Saturday", d(2026, 12, 5)),
            ("agle hafta", d(2026, 12, 5)),
            ("next friday", d(2026, 12, 4)),
            ("itwaar", d(2026, 12, 6)),
            ("Farm, 2026-12-05, Full Night, 30", d(2026, 12, 5)),
        ] {
            assert_eq!(date(text, today), Some(want), "{text}");
        }
        for text in ["hello", "30 log", "full night"] {
            assert_eq!(date(text, today), None, "{text}");
        }
    }

    #[test]
    fn shifts_in_both_languages() {
        for (text, want) in [
            ("Full Night", Shift::FullNight),
            ("poori raat", Shift::FullNight),
            ("full_night", Shift::FullNight),
            ("full day", Shift::FullDay),
            ("poora din", Shift::FullDay),
            ("night", Shift::Night),
            ("raat ko", Shift::Night),
            ("day", Shift::Day),
            ("din", Shift::Day),
        ] {
            assert_eq!(shift(text), Some(want), "{text}");
        }
        for text in ["day after tomorrow", "friday", "today", "hello"] {
            assert_eq!(shift(text), None, "{text}");
        }
    }

    #[test]
    fn counts_kinds_prices_and_ids() {
        for (text, bare, want) in [
            ("15 log", false, Some(15)),
            ("15 afraad", false, Some(15)),
            ("15 people", false, Some(15)),
            ("for 20", false, Some(20)),
            ("30", true, Some(30)),
            ("30", false, None),
            ("2026-12-05", true, None),
        ] {
            assert_eq!(guests(text, bare), want, "{text}");
        }
        assert_eq!(kind("a farmhouse please"), Some(PropertyKind::Farm));
        assert_eq!(kind("beach huts"), Some(PropertyKind::Hut));
        assert_eq!(kind("hello"), None);
        assert_eq!(price_range("under 30000"), (None, Some(3_000_000)));
        assert_eq!(price_range("30k se kam"), (None, Some(3_000_000)));
        assert_eq!(price_range("between 20000 and 40000"), (Some(2_000_000), Some(4_000_000)));
        assert_eq!(cnic("my cnic is 42201-1234567-1"), Some("4220112345671".into()));
        assert_eq!(cnic("42201-123456"), None);
        assert_eq!(reference("status of hb-7kq2m9?"), Some("HB-7KQ2M9".into()));
        assert_eq!(
            typed_payment("Paid 17500, TID 9876543210, from Ayesha Khan"),
            Some((1_750_000, "9876543210".into(), Some("Ayesha Khan".into())))
        );
    }

    #[test]
    fn intents_and_language() {
        assert_eq!(intents("insaan se baat karni hai"), vec![Intent::Human]);
        assert!(intents("show me my bookings").contains(&Intent::MyBookings));
        assert!(intents("tasveerein dikhao").contains(&Intent::Pictures));
        assert!(intents("kitne ka hai").contains(&Intent::Pricing));
        assert_eq!(language("mujhe kal farmhouse chahiye"), Some(Language::RomanUrdu));
        assert_eq!(language("I want a farmhouse for tomorrow"), Some(Language::English));
        assert_eq!(language("2026-12-05"), None);
    }
}
