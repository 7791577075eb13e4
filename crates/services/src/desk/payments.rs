//! Payments for bookings (SPEC §2.5) and their verification by admins (§2.6, REST part).

use chrono::NaiveDateTime;
use core_config::PaymentMethod;
use models::booking::{mask_cnic, BookingStatus, PaymentProofStatus};
use models::ids::public_id;
use models::rows_booking::{Booking, BookingPayment, NewBookingPayment, Property};
use models::AuditResult;
use repositories::{bookings as booking_repo, catalogue, payments as repo, DbConnection, Page, RepoError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::bookings::{confirmed_text, transition, visible_booking};
use super::image::ImageInfo;
use super::{notify, Caller, Desk, Rules};
use crate::audit::{self, AuditContext, Entry};
use crate::ports::Extraction;
use crate::{in_tx, with_conn, FieldError, ServiceError};

/// Told to the guest when an image is not a payment screenshot.
pub const NOT_A_SCREENSHOT: &str = "Please send me the payment screenshot only.";
/// Marks proofs no machine has read.
pub const MANUAL_REVIEW: &str = "manual review, not machine-checked";

/// The note on a screenshot the configured reader could not read.
pub const READER_FAILED: &str = "the vision model could not read it";
/// Accepted screenshot types.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

/// What the guest must pay and where.
#[derive(Clone, Debug)]
pub struct Instructions {
    /// The booking.
    pub booking: Booking,
    /// Its property.
    pub property: Property,
    /// Configured accounts.
    pub methods: Vec<PaymentMethod>,
    /// Text for the guest.
    pub text: String,
}

/// Payment instructions of a pending booking.
pub async fn instructions(
    desk: &Desk,
    caller: &Caller,
    reference: String,
) -> Result<Instructions, ServiceError> {
    let caller = caller.clone();
    let rules = desk.rules.clone();
    with_conn(&desk.db, move |conn| {
        let booking = visible_booking(conn, &caller, &reference)?;
        if booking.status != BookingStatus::Pending.as_str() {
            return Err(ServiceError::conflict(
                "INVALID_TRANSITION",
                format!(
                    "booking {} is {}; payment instructions are for pending bookings",
                    booking.reference, booking.status
                ),
            ));
        }
        let property = catalogue::by_id(conn, booking.property_id)?;
        let text = instructions_text(&rules, &booking);
        Ok(Instructions { booking, property, methods: rules.methods.clone(), text })
    })
    .await
}

fn instructions_text(rules: &Rules, b: &Booking) -> String {
    let deadline = b
        .hold_expires_at
        .map(|t| t.and_utc().with_timezone(&rules.tz).format("%H:%M on %d %b %Y").to_string())
        .unwrap_or_default();
    let accounts = if rules.methods.is_empty() {
        "No payment account is configured yet; an admin will contact you.".to_string()
    } else {
        rules
            .methods
            .iter()
            .map(|m| {
                let bank = if m.bank_name.is_empty() { String::new() } else { format!(" ({})", m.bank_name) };
                format!("{}{bank}: {} — {}", method_label(m), m.account_number, m.holder_name)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!(
        "Please pay the advance of {} for booking {} by {}. {} Send the screenshot or the transaction details \
         after paying. The remaining {} is paid on arrival.",
        notify::money(b.advance_amount, &b.currency),
        b.reference,
        deadline,
        accounts,
        notify::money(b.total_amount - b.advance_amount, &b.currency),
    )
}

fn method_label(m: &PaymentMethod) -> &'static str {
    match m.kind {
        core_config::PaymentMethodKind::Easypaisa => "EasyPaisa",
        core_config::PaymentMethodKind::Jazzcash => "JazzCash",
        core_config::PaymentMethodKind::BankTransfer => "Bank transfer",
    }
}

/// Typed payment details.
#[derive(Clone, Debug, Default)]
pub struct TypedProof {
    /// Amount paid, minor units.
    pub amount: i64,
    /// Transaction id.
    pub transaction_id: String,
    /// Sender's name.
    pub sender_name: String,
    /// Sender's phone.
    pub sender_phone: Option<String>,
    /// Method used.
    pub method: Option<core_config::PaymentMethodKind>,
}

/// The checks shown to the admin next to the proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// Amount ≥ advance due (±1 unit); null when unknown.
    pub amount_ok: Option<bool>,
    /// Receiver matches a configured account; null when unknown.
    pub receiver_ok: Option<bool>,
    /// Transaction id not seen before; null when there is none.
    pub transaction_id_unused: Option<bool>,
    /// Screenshot not seen before; null for typed details.
    pub image_unused: Option<bool>,
    /// A machine read the screenshot.
    pub machine_checked: bool,
    /// Notes, e.g. "manual review, not machine-checked".
    pub notes: Vec<String>,
}

impl Checks {
    /// The checks as lines an admin reads (✅ passed, ❌ failed, ❔ unknown).
    pub fn describe(&self) -> String {
        let mark = |v: Option<bool>| match v {
            Some(true) => "✅",
            Some(false) => "❌",
            None => "❔",
        };
        let mut lines = vec![
            format!("{} amount ≥ advance due", mark(self.amount_ok)),
            format!("{} paid to our account", mark(self.receiver_ok)),
            format!("{} transaction id not used before", mark(self.transaction_id_unused)),
            format!("{} screenshot not used before", mark(self.image_unused)),
        ];
        lines.extend(self.notes.iter().map(|n| format!("• {n}")));
        lines.join("\n")
    }

    /// Every check is known and passes (the auto-confirm condition).
    pub fn all_pass(&self) -> bool {
        self.amount_ok == Some(true)
            && self.receiver_ok == Some(true)
            && self.transaction_id_unused != Some(false)
            && self.image_unused != Some(false)
    }
}

fn receiver_matches(methods: &[PaymentMethod], name: Option<&str>, account: Option<&str>) -> Option<bool> {
    if name.is_none() && account.is_none() {
        return None;
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    Some(methods.iter().any(|m| {
        account.is_some_and(|a| !digits(a).is_empty() && digits(a) == digits(&m.account_number))
            || name.is_some_and(|n| n.trim().eq_ignore_ascii_case(m.holder_name.trim()))
    }))
}

fn amount_ok(amount: Option<i64>, advance: i64) -> Option<bool> {
    amount.map(|a| a >= advance - 100)
}

fn check_typed(p: &TypedProof) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    if p.amount <= 0 {
        errors.push(FieldError { field: "amount".into(), message: "must be positive (minor units)".into() });
    }
    let txn = p.transaction_id.trim();
    if txn.is_empty() || txn.len() > 64 || !txn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        errors.push(FieldError {
            field: "transaction_id".into(),
            message: "must be 1 to 64 letters, digits or dashes".into(),
        });
    }
    if p.sender_name.trim().is_empty() || p.sender_name.chars().count() > 100 {
        errors
            .push(FieldError { field: "sender_name".into(), message: "must be 1 to 100 characters".into() });
    }
    let phone_ok = |s: &str| {
        let digits = s.chars().filter(char::is_ascii_digit).count();
        (7..=15).contains(&digits)
            && s.len() <= 24
            && s.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
    };
    if p.sender_phone.as_deref().is_some_and(|s| !phone_ok(s)) {
        errors.push(FieldError {
            field: "sender_phone".into(),
            message: "must be a phone number of 7 to 15 digits".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Validation(errors))
    }
}

/// An uploaded screenshot.
#[derive(Clone, Debug)]
pub struct Screenshot {
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Declared content type.
    pub content_type: String,
}

/// Whether the bytes start like an accepted image type (so a failure to parse them is a broken
/// image, not a wrong type).
fn looks_like_image(b: &[u8]) -> bool {
    b.starts_with(&[0x89, b'P', b'N', b'G']) || b.starts_with(&[0xFF, 0xD8, 0xFF]) || b.starts_with(b"RIFF")
}

/// A recorded proof and what happened to the booking.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The proof.
    pub payment: BookingPayment,
    /// The booking after submission (`waiting`, or `confirmed` by the auto-confirm policy).
    pub booking: Booking,
}

fn duplicate(what: &str) -> ServiceError {
    ServiceError::conflict(
        "DUPLICATE_PAYMENT_PROOF",
        format!("this {what} was already submitted; an admin has been told"),
    )
}

/// Records a flag in the admins' inbox in its own transaction (the refused proof is not stored).
async fn flag_duplicate(desk: &Desk, reference: String, what: &'static str) {
    let r = in_tx(&desk.db, move |conn| {
        notify::admins(
            conn,
            "duplicate_payment_proof",
            Some(&reference),
            format!("Booking {reference}: a {what} that was already used was submitted again."),
        )?;
        Ok(())
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not flag a duplicate payment proof");
    }
}

/// Submits typed payment details for a pending booking.
pub async fn submit_typed(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    reference: String,
    proof: TypedProof,
) -> Result<Submitted, ServiceError> {
    check_typed(&proof)?;
    let txn = proof.transaction_id.trim().to_string();
    submit(desk, caller, request_id, reference, move |conn, booking| {
        let used = repo::transaction_id_used(conn, &txn)?;
        let checks = Checks {
            amount_ok: amount_ok(Some(proof.amount), booking.advance_amount),
            receiver_ok: None,
            transaction_id_unused: Some(!used),
            image_unused: None,
            machine_checked: false,
            notes: vec!["typed by the guest".into()],
        };
        if used {
            return Err(duplicate("transaction id"));
        }
        Ok(NewBookingPayment {
            public_id: public_id("pay"),
            booking_id: booking.id,
            kind: "details".into(),
            status: PaymentProofStatus::PendingReview.as_str().into(),
            amount: Some(proof.amount),
            transaction_id: Some(txn.clone()),
            sender_name: Some(proof.sender_name.trim().to_string()),
            sender_phone: proof.sender_phone.clone(),
            method: proof.method.map(|m| m.as_str().to_string()),
            image_url: None,
            image_sha256: None,
            extraction: None,
            machine_checked: false,
            checks: serde_json::to_string(&checks).unwrap_or_default(),
            created_at: models::time::now(),
        })
    })
    .await
}

/// Submits a screenshot: checks type and size, refuses a known image, reads it with the extractor
/// when one is configured (an image that is not a payment is refused with [`NOT_A_SCREENSHOT`]),
/// stores it through the media store, and records the proof.
pub async fn submit_screenshot(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    reference: String,
    shot: Screenshot,
) -> Result<Submitted, ServiceError> {
    if shot.bytes.len() > desk.rules.max_upload_bytes {
        return Err(ServiceError::TooLarge(format!(
            "screenshots are at most {} bytes",
            desk.rules.max_upload_bytes
        )));
    }
    let sniffed = match ImageInfo::parse(&shot.bytes) {
        Some(info) => info.mime,
        None if looks_like_image(&shot.bytes) => {
            return Err(ServiceError::unprocessable(
                "INVALID_IMAGE",
                "the screenshot does not decode: send the PNG, JPEG or WebP file as it was saved",
            ))
        }
        None => return Err(ServiceError::UnsupportedMedia("send a PNG, JPEG or WebP screenshot".into())),
    };
    let declared = shot.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !declared.is_empty() && declared != "application/octet-stream" && declared != sniffed {
        return Err(ServiceError::UnsupportedMedia(format!("the file is {sniffed}, not {declared}")));
    }
    let sha256 = hex::encode(Sha256::digest(&shot.bytes));
    // Refuse a known image before spending a vision call or storage on it.
    let (hash, caller_c, reference_c) = (sha256.clone(), caller.clone(), reference.clone());
    let used = with_conn(&desk.db, move |conn| {
        visible_booking(conn, &caller_c, &reference_c)?;
        Ok(repo::image_used(conn, &hash)?)
    })
    .await?;
    if used {
        flag_duplicate(desk, reference, "screenshot").await;
        return Err(duplicate("screenshot"));
    }
    // A reader that fails (provider down, budget spent, an answer that is not JSON) costs the
    // guest nothing: the proof goes to manual review, marked as such.
    let mut unread = None;
    let extraction: Option<Extraction> = match &desk.extractor {
        Some(x) => match x.extract(&shot.bytes, sniffed).await {
            Ok(e) if !e.is_valid() => {
                return Err(ServiceError::unprocessable("NOT_A_PAYMENT_SCREENSHOT", NOT_A_SCREENSHOT))
            }
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(error = %e, "the screenshot reader failed; the proof goes to manual review");
                unread = Some(READER_FAILED);
                None
            }
        },
        None => None,
    };
    let stored = desk
        .media
        .put(shot.bytes, sniffed, &sha256)
        .await
        .map_err(|e| ServiceError::Upstream(e.to_string()))?;
    let rules = desk.rules.clone();
    submit(desk, caller, request_id, reference, move |conn, booking| {
        let txn = extraction.as_ref().and_then(|e| e.transaction_id.clone()).filter(|t| !t.trim().is_empty());
        let txn_used = match &txn {
            Some(t) => Some(repo::transaction_id_used(conn, t)?),
            None => None,
        };
        if txn_used == Some(true) {
            return Err(duplicate("transaction id"));
        }
        let checks = match &extraction {
            Some(e) => Checks {
                amount_ok: amount_ok(e.amount, booking.advance_amount),
                receiver_ok: receiver_matches(
                    &rules.methods,
                    e.receiver_name.as_deref(),
                    e.receiver_account.as_deref(),
                ),
                transaction_id_unused: txn_used.map(|u| !u),
                image_unused: Some(true),
                machine_checked: true,
                notes: vec![format!("read by the vision model (confidence {:.2})", e.confidence)],
            },
            None => Checks {
                amount_ok: None,
                receiver_ok: None,
                transaction_id_unused: None,
                image_unused: Some(true),
                machine_checked: false,
                notes: std::iter::once(MANUAL_REVIEW).chain(unread).map(String::from).collect(),
            },
        };
        Ok(NewBookingPayment {
            public_id: public_id("pay"),
            booking_id: booking.id,
            kind: "screenshot".into(),
            status: PaymentProofStatus::PendingReview.as_str().into(),
            amount: extraction.as_ref().and_then(|e| e.amount),
            transaction_id: txn,
            sender_name: extraction.as_ref().and_then(|e| e.sender_name.clone()),
            sender_phone: extraction.as_ref().and_then(|e| e.sender_phone.clone()),
            method: extraction.as_ref().and_then(|e| e.method.clone()),
            image_url: Some(stored.url.clone()),
            image_sha256: Some(sha256.clone()),
            extraction: extraction.as_ref().and_then(|e| serde_json::to_string(e).ok()),
            machine_checked: extraction.is_some(),
            checks: serde_json::to_string(&checks).unwrap_or_default(),
            created_at: models::time::now(),
        })
    })
    .await
}

/// The common path: the booking must be pending and its hold unexpired; the proof is stored
/// (unique transaction id and image), the booking moves to `waiting`, the guest and admins are
/// told, and the auto-confirm policy may confirm it.
async fn submit<F>(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    reference: String,
    build: F,
) -> Result<Submitted, ServiceError>
where
    F: FnOnce(&mut DbConnection, &Booking) -> Result<NewBookingPayment, ServiceError> + Send + 'static,
{
    let flag_ref = reference.clone();
    let result = submit_in_tx(desk, caller, request_id, reference, build).await;
    // The refused proof rolled back with its transaction; the flag is recorded on its own.
    if let Err(ServiceError::Conflict { code: "DUPLICATE_PAYMENT_PROOF", message }) = &result {
        let what = if message.contains("screenshot") { "screenshot" } else { "transaction id" };
        flag_duplicate(desk, flag_ref, what).await;
    }
    result
}

/// The transaction of [`submit`].
async fn submit_in_tx<F>(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    reference: String,
    build: F,
) -> Result<Submitted, ServiceError>
where
    F: FnOnce(&mut DbConnection, &Booking) -> Result<NewBookingPayment, ServiceError> + Send + 'static,
{
    let caller = caller.clone();
    let ctx = AuditContext { actor: caller.actor(), request_id };
    let rules = desk.rules.clone();
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        let booking = visible_booking(conn, &caller, &reference)?;
        if !matches!(caller, Caller::Guest(_)) && !caller.is_admin() && !caller.has_role(models::Role::Website) {
            return Err(ServiceError::Forbidden("only the guest, their website or an admin submit payments".into()));
        }
        if booking.status != BookingStatus::Pending.as_str() {
            return Err(ServiceError::conflict(
                "INVALID_TRANSITION",
                format!("booking {} is {}; proofs are taken for pending bookings", booking.reference, booking.status),
            ));
        }
        if booking.hold_expires_at.is_some_and(|t| t <= now) {
            return Err(ServiceError::conflict("HOLD_EXPIRED", "the hold on this booking has lapsed; please book again"));
        }
        let new = build(conn, &booking)?;
        let payment = repo::insert(conn, &new).map_err(|e| match e {
            RepoError::UniqueViolation { constraint } if constraint.contains("image") => duplicate("screenshot"),
            RepoError::UniqueViolation { .. } => duplicate("transaction id"),
            other => other.into(),
        })?;
        let property = catalogue::by_id(conn, booking.property_id)?;
        audit::record(
            conn,
            &ctx,
            Entry {
                action: "booking_payment.submitted",
                subject_type: "booking_payment",
                subject_id: Some(&payment.public_id),
                details: json!({"booking": booking.reference, "kind": payment.kind, "amount": payment.amount,
                                "transaction_id": payment.transaction_id, "checks": serde_json::from_str::<serde_json::Value>(&payment.checks).unwrap_or_default()}),
                result: AuditResult::Success,
            },
        )?;
        let mut after = transition(
            conn,
            &ctx,
            &booking,
            &[BookingStatus::Pending],
            BookingStatus::Waiting,
            None,
            None,
            Some(format!("Thank you! We received your payment proof for booking {}. An admin will confirm it shortly.", booking.reference)),
        )?;
        notify::admins(
            conn,
            "payment_proof",
            Some(&booking.reference),
            format!(
                "Payment proof for {} ({}): {} from {} (CNIC {}), advance due {}.",
                booking.reference,
                notify::describe(&booking, &property),
                payment.amount.map(|a| notify::money(a, &booking.currency)).unwrap_or_else(|| "amount unread".into()),
                booking.guest_name,
                mask_cnic(&booking.guest_cnic),
                notify::money(booking.advance_amount, &booking.currency),
            ),
        )?;
        if rules.whatsapp_enabled && !rules.admin_numbers.is_empty() {
            let checks = serde_json::from_str::<Checks>(&payment.checks).map(|c| c.describe()).unwrap_or_default();
            let text = format!(
                "*Payment proof* for {} ({})\n{} from {} (CNIC {}); advance due {}.\nTransaction id: {}\n{}",
                booking.reference,
                notify::describe(&booking, &property),
                payment.amount.map(|a| notify::money(a, &booking.currency)).unwrap_or_else(|| "amount unread".into()),
                booking.guest_name,
                mask_cnic(&booking.guest_cnic),
                notify::money(booking.advance_amount, &booking.currency),
                payment.transaction_id.as_deref().unwrap_or("none"),
                checks,
            );
            crate::whatsapp::proof_to_admins(conn, &rules.admin_numbers, payment.image_url.as_deref(), &booking.reference, &text)?;
        }
        let passes = serde_json::from_str::<Checks>(&payment.checks).is_ok_and(|c| c.all_pass());
        if rules.auto_confirm_below > 0 && passes && payment.amount.is_some_and(|a| a < rules.auto_confirm_below) {
            repo::decide(conn, payment.id, PaymentProofStatus::Approved.as_str(), "system:auto_confirm", None, now)?;
            after = transition(conn, &ctx, &after, &[BookingStatus::Waiting], BookingStatus::Confirmed, None, Some("auto-confirmed: every check passed"), Some(confirmed_text(&after, &property)))?;
        }
        let payment = repo::by_public_id(conn, &payment.public_id)?;
        Ok(Submitted { payment, booking: after })
    })
    .await
}

/// A proof awaiting review, with what the admin needs to decide.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The proof.
    pub payment: BookingPayment,
    /// Its booking.
    pub booking: Booking,
    /// The property.
    pub property: Property,
    /// `42201-*******-1`.
    pub cnic_masked: String,
}

/// Proofs awaiting review (admins).
pub async fn verifications(
    desk: &Desk,
    caller: &Caller,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<Verification>, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden("only admins review payments".into()));
    }
    with_conn(&desk.db, move |conn| {
        let rows = repo::pending_review(conn, Page { limit, before })?;
        let mut out = Vec::with_capacity(rows.len());
        for (payment, booking) in rows {
            let property = catalogue::by_id(conn, booking.property_id)?;
            let cnic_masked = mask_cnic(&booking.guest_cnic);
            out.push(Verification { payment, booking, property, cnic_masked });
        }
        Ok(out)
    })
    .await
}

/// Approves a proof: only while it awaits review and its booking is `waiting`.
pub async fn approve(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    payment_id: String,
) -> Result<Submitted, ServiceError> {
    decide(desk, caller, request_id, payment_id, None).await
}

/// Rejects a proof with a reason: the booking returns to `pending` with a fresh hold.
pub async fn reject(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    payment_id: String,
    reason: String,
) -> Result<Submitted, ServiceError> {
    let reason = reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ServiceError::invalid("reason", "is required (1 to 500 characters)"));
    }
    decide(desk, caller, request_id, payment_id, Some(reason)).await
}

async fn decide(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    payment_id: String,
    reject_reason: Option<String>,
) -> Result<Submitted, ServiceError> {
    let admin = caller
        .key()
        .filter(|p| p.is_admin())
        .cloned()
        .ok_or_else(|| ServiceError::Forbidden("only admins review payments".into()))?;
    let ctx = AuditContext { actor: caller.actor(), request_id };
    let rules = desk.rules.clone();
    let now = desk.clock.now();
    in_tx(&desk.db, move |conn| {
        let payment = repo::by_public_id(conn, &payment_id).map_err(|e| match e {
            RepoError::NotFound => ServiceError::NotFound("payment"),
            other => other.into(),
        })?;
        let booking = booking_repo::by_id(conn, payment.booking_id)?;
        let property = catalogue::by_id(conn, booking.property_id)?;
        let status =
            if reject_reason.is_some() { PaymentProofStatus::Rejected } else { PaymentProofStatus::Approved };
        if !repo::decide(
            conn,
            payment.id,
            status.as_str(),
            &format!("user:{}", admin.user_public_id),
            reject_reason.as_deref(),
            now,
        )? {
            return Err(ServiceError::conflict(
                "INVALID_TRANSITION",
                format!("payment {} was already decided", payment.public_id),
            ));
        }
        audit::record(
            conn,
            &ctx,
            Entry {
                action: if reject_reason.is_some() {
                    "booking_payment.rejected"
                } else {
                    "booking_payment.approved"
                },
                subject_type: "booking_payment",
                subject_id: Some(&payment.public_id),
                details: json!({"booking": booking.reference, "reason": reject_reason}),
                result: AuditResult::Success,
            },
        )?;
        let after = match &reject_reason {
            None => transition(
                conn,
                &ctx,
                &booking,
                &[BookingStatus::Waiting],
                BookingStatus::Confirmed,
                None,
                None,
                Some(confirmed_text(&booking, &property)),
            )?,
            Some(reason) => {
                let mut b = transition(
                    conn,
                    &ctx,
                    &booking,
                    &[BookingStatus::Waiting],
                    BookingStatus::Pending,
                    Some(rules.hold_until(now)),
                    Some(reason),
                    None,
                )?;
                notify::guest(
                    conn,
                    &b,
                    format!(
                        "Your payment proof for booking {} was not accepted: {reason}. {}",
                        b.reference,
                        instructions_text(&rules, &b)
                    ),
                )?;
                b = booking_repo::by_id(conn, b.id)?;
                b
            }
        };
        let payment = repo::by_public_id(conn, &payment.public_id)?;
        Ok(Submitted { payment, booking: after })
    })
    .await
}

/// Reminds admins of proofs waiting longer than `booking.review_reminder_minutes`. Idempotent
/// within a reminder period. Returns how many reminders were sent.
pub async fn remind_reviews(desk: &Desk, now: NaiveDateTime) -> Result<usize, ServiceError> {
    let older_than = now - chrono::Duration::minutes(i64::from(desk.rules.review_reminder_minutes));
    in_tx(&desk.db, move |conn| {
        let due = repo::due_for_reminder(conn, older_than, 200)?;
        for (payment, booking) in &due {
            notify::admins(
                conn,
                "review_reminder",
                Some(&booking.reference),
                format!(
                    "Reminder: the payment proof {} for booking {} is waiting for review.",
                    payment.public_id, booking.reference
                ),
            )?;
            repo::mark_reminded(conn, payment.id, now)?;
        }
        Ok(due.len())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_kinds_and_receiver_matching() {
        assert!(looks_like_image(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]));
        assert!(!looks_like_image(b"%PDF-1.7"));
        let m = vec![PaymentMethod {
            kind: core_config::PaymentMethodKind::Easypaisa,
            account_number: "0300-1234567".into(),
            holder_name: "Ali Raza".into(),
            bank_name: String::new(),
        }];
        assert_eq!(receiver_matches(&m, None, Some("03001234567")), Some(true));
        assert_eq!(receiver_matches(&m, Some("ali raza"), None), Some(true));
        assert_eq!(receiver_matches(&m, Some("Someone"), Some("0311")), Some(false));
        assert_eq!(receiver_matches(&m, None, None), None);
        assert_eq!(amount_ok(Some(99_950), 100_000), Some(true));
        assert_eq!(amount_ok(Some(99_899), 100_000), Some(false));
    }
}
