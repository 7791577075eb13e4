//! The words the guards need: the deterministic yes/no classifier (English and Roman Urdu) that
//! both agents share, so "the guest said yes" means the same thing whoever asks.

/// Lowercase words of a message, punctuation dropped.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '/'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

const YES: &[&str] = &[
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "k",
    "confirm",
    "confirmed",
    "correct",
    "right",
    "proceed",
    "go",
    "haan",
    "han",
    "haa",
    "ha",
    "hanji",
    "ji",
    "jee",
    "g",
    "bilkul",
    "zaroor",
    "zarur",
    "theek",
    "thik",
    "sahi",
    "acha",
    "accha",
    "done",
];
const NO: &[&str] = &[
    "no", "n", "nope", "nah", "not", "dont", "don't", "nahi", "nahin", "nai", "na", "mat", "ghalat", "galat",
];

/// `Some(true)` for an explicit yes, `Some(false)` for a no, `None` for anything else (a message
/// that merely contains other content is neither). "haan", "ji", "theek hai", "nahi"…
pub fn yes_no(text: &str) -> Option<bool> {
    let w = words(text);
    if w.is_empty() || w.len() > 4 {
        return None;
    }
    let filler = [
        "please", "hai", "he", "kar", "karo", "do", "dein", "to", "bhai", "sir", "thanks", "shukriya",
        "book", "it",
    ];
    let content: Vec<&String> = w.iter().filter(|x| !filler.contains(&x.as_str())).collect();
    if content.is_empty() {
        return None;
    }
    let yes = content.iter().all(|x| YES.contains(&x.as_str()));
    let no = content.iter().any(|x| NO.contains(&x.as_str()));
    match (yes, no) {
        (true, false) => Some(true),
        (_, true) if !content.iter().any(|x| YES.contains(&x.as_str()) && !NO.contains(&x.as_str())) => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::yes_no;

    #[test]
    fn yes_and_no_in_both_languages() {
        for y in [
            "yes",
            "Yes!",
            "ok",
            "haan",
            "ji",
            "jee",
            "theek hai",
            "Haan ji",
            "bilkul",
            "yes please",
            "confirm",
        ] {
            assert_eq!(yes_no(y), Some(true), "{y}");
        }
        for n in ["no", "No.", "nahi", "nahin", "nahi bhai", "nope", "na"] {
            assert_eq!(yes_no(n), Some(false), "{n}");
        }
        for other in
            ["", "what is the price", "yes but change the date to friday please", "42201-1234567-1", "maybe"]
        {
            assert_eq!(yes_no(other), None, "{other}");
        }
    }
}
