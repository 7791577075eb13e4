//! The [`PaymentExtractor`] port over the spend gateway: a vision model reads a payment
//! screenshot, paid by the booking desk's project like the agent's own calls (SPEC §2.5). The
//! model is asked for one JSON object; whatever it answers is parsed leniently and never trusted
//! beyond [`Extraction::is_valid`] and the desk's checks.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::gateway::chat_model::GatewayChatModel;
use crate::gateway::decide::Operation;
use crate::ports::{Extraction, PaymentExtractor, PortError};

/// What the model is told to return.
const PROMPT: &str =
    "You read payment screenshots from Pakistani wallets and banks (EasyPaisa, JazzCash, bank transfers). \
Answer with one JSON object and nothing else, with these keys: \
is_payment (true only for a completed payment receipt), confidence (0.0 to 1.0), transaction_id, \
amount (the amount paid in rupees, as a number), sender_name, sender_phone, receiver_name, receiver_account, \
date, method (easypaisa, jazzcash or bank_transfer), status (as printed), raw_text (all the text you read). \
Use null for anything not on the image. Never guess a transaction id.";

/// A vision model (`provider/model`) called through the gateway.
#[derive(Clone, Debug)]
pub struct GatewayPaymentExtractor {
    model: GatewayChatModel,
}

impl GatewayPaymentExtractor {
    /// Reads screenshots with `model`'s calls (its payer and token bound).
    pub fn new(model: GatewayChatModel) -> Self {
        Self { model }
    }
}

fn port_error(message: String) -> PortError {
    PortError { service: "payment extractor", message, code: None }
}

#[async_trait::async_trait]
impl PaymentExtractor for GatewayPaymentExtractor {
    async fn extract(&self, bytes: &[u8], content_type: &str) -> Result<Extraction, PortError> {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        let body = json!({
            "messages": [
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": [
                    {"type": "text", "text": "Read this payment screenshot."},
                    {"type": "image_url", "image_url": {"url": format!("data:{content_type};base64,{data}")}},
                ]},
            ],
            "max_tokens": self.model.max_tokens().min(600),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        });
        let (reply, _, request) =
            self.model.call(Operation::Vision, body).await.map_err(|e| port_error(e.to_string()))?;
        let text = reply["choices"][0]["message"]["content"].as_str().unwrap_or_default();
        let extraction =
            parse(text).ok_or_else(|| port_error(format!("{request}: the model's answer is not JSON")))?;
        tracing::debug!(%request, is_payment = extraction.is_payment, confidence = extraction.confidence, "screenshot read");
        Ok(extraction)
    }
}

/// The model's answer as an [`Extraction`]: the first JSON object in the text (a fenced block is
/// fine), numbers or numeric strings, the amount in rupees turned into minor units. `None` when
/// no object can be found.
pub fn parse(text: &str) -> Option<Extraction> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let v: Value = serde_json::from_str(text.get(start..=end)?).ok()?;
    let string = |key: &str| -> Option<String> {
        match &v[key] {
            Value::String(s) if !s.trim().is_empty() && !s.eq_ignore_ascii_case("null") => {
                Some(s.trim().chars().take(500).collect())
            }
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let number = |key: &str| -> Option<f64> {
        match &v[key] {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => {
                let digits: String = s.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
                digits.trim_matches('.').parse().ok()
            }
            _ => None,
        }
    };
    let is_payment = match &v["is_payment"] {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes"),
        _ => false,
    };
    let amount = number("amount")
        .filter(|a| a.is_finite() && *a > 0.0 && *a < 1e12)
        .map(|a| (a * 100.0).round() as i64);
    Some(Extraction {
        is_payment,
        confidence: number("confidence").filter(|c| c.is_finite()).map(|c| c.clamp(0.0, 1.0)).unwrap_or(0.0),
        transaction_id: string("transaction_id").map(|t| t.replace(' ', "")),
        amount,
        sender_name: string("sender_name"),
        sender_phone: string("sender_phone"),
        receiver_name: string("receiver_name"),
        receiver_account: string("receiver_account"),
        date: string("date"),
        method: string("method"),
        status: string("status"),
        raw_text: string("raw_text"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse;

    #[test]
    fn reads_a_receipt_in_a_fence_with_rupees_as_text() {
        let e = parse("```json\n{\"is_payment\": true, \"confidence\": \"0.92\", \"amount\": \"Rs. 5,000\", \"transaction_id\": \"TX 123\"}\n```").unwrap();
        assert!(e.is_payment);
        assert_eq!(e.amount, Some(500_000));
        assert_eq!(e.transaction_id.as_deref(), Some("TX123"));
        assert!((e.confidence - 0.92).abs() < 1e-9);
        assert!(e.is_valid());
    }

    #[test]
    fn nonsense_is_not_a_payment() {
        assert!(parse("I cannot read this").is_none());
        let e = parse("{\"is_payment\": \"no\", \"confidence\": 7, \"amount\": -3}").unwrap();
        assert!(!e.is_payment);
        assert_eq!(e.confidence, 1.0);
        assert_eq!(e.amount, None);
        assert!(!e.is_valid());
    }
}
