//! The admins' deterministic commands (SPEC §2.6, §10.2): `confirm <ref>`, `reject <ref>
//! <reason>`, `status <ref>`, `pending`, `help`. The same handler answers the REST endpoint and
//! (with its issue) WhatsApp messages from admin numbers; no LLM is involved.

use crate::desk::{bookings, payments, Caller, Desk};
use crate::ServiceError;

/// The help text.
pub const HELP: &str = "Commands:\n• confirm <ref> — approve the payment proof of a booking\n• reject <ref> <reason> — reject it; the guest is told the reason\n• status <ref> — a booking's status\n• pending — proofs waiting for review\n• help — this list";

/// Runs one command as `caller` (an admin) and answers with the acknowledgement text.
pub async fn run(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    text: &str,
) -> Result<String, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden("admin commands need an admin".into()));
    }
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 1000 {
        return Err(ServiceError::invalid("text", "must be 1 to 1000 characters"));
    }
    let mut parts = text.splitn(3, char::is_whitespace);
    let command = parts.next().unwrap_or("").to_lowercase();
    let reference = parts.next().map(|r| r.trim().to_uppercase());
    let rest = parts.next().map(str::trim).unwrap_or("").to_string();
    match (command.as_str(), reference) {
        ("help", _) => Ok(HELP.into()),
        ("pending", _) => {
            let waiting = payments::verifications(desk, caller, 20, None).await?;
            if waiting.is_empty() {
                return Ok("No payment proofs are waiting.".into());
            }
            let lines: Vec<String> = waiting
                .iter()
                .map(|v| {
                    format!(
                        "• {} — {}, {} {} — {} ({})",
                        v.booking.reference,
                        v.property.name,
                        v.booking.date,
                        v.booking.shift,
                        v.payment
                            .amount
                            .map(|a| format!("Rs {}", a / 100))
                            .unwrap_or_else(|| "amount unread".into()),
                        v.payment.kind
                    )
                })
                .collect();
            Ok(format!("{} waiting:\n{}", waiting.len(), lines.join("\n")))
        }
        ("status", Some(reference)) => {
            let v = bookings::get(desk, caller, reference).await?;
            Ok(format!(
                "{}: {} — {}, {} {}, {} guests, advance Rs {}",
                v.booking.reference,
                v.booking.status,
                v.property.name,
                v.booking.date,
                v.booking.shift,
                v.booking.guests,
                v.booking.advance_amount / 100
            ))
        }
        ("confirm" | "approve", Some(reference)) => {
            let proof = proof_of(desk, caller, &reference).await?;
            let decided = payments::approve(desk, caller, request_id, proof).await?;
            Ok(format!("{} confirmed; the guest has been told.", decided.booking.reference))
        }
        ("reject", Some(reference)) => {
            if rest.is_empty() {
                return Ok(format!("Give a reason: reject {reference} <reason>"));
            }
            let proof = proof_of(desk, caller, &reference).await?;
            let decided = payments::reject(desk, caller, request_id, proof, rest).await?;
            Ok(format!("{} rejected; the guest has been told and may pay again.", decided.booking.reference))
        }
        ("confirm" | "approve" | "reject" | "status", None) => {
            Ok(format!("Name the booking: {command} <ref>"))
        }
        _ => Ok(format!("I don't know \"{command}\".\n\n{HELP}")),
    }
}

/// The proof of `reference` waiting for review.
async fn proof_of(desk: &Desk, caller: &Caller, reference: &str) -> Result<String, ServiceError> {
    let waiting = payments::verifications(desk, caller, 200, None).await?;
    waiting.into_iter().find(|v| v.booking.reference == reference).map(|v| v.payment.public_id).ok_or_else(
        || {
            ServiceError::unprocessable(
                "NO_PROOF_WAITING",
                format!("{reference} has no payment proof waiting for review"),
            )
        },
    )
}
