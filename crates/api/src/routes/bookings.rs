//! `/api/v1/bookings`: bookings, their status, payment instructions and payment proofs.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use models::booking::{BookingStatus, Shift};
use serde::{Deserialize, Serialize};
use services::desk::bookings::{self as svc, BookingView, CreateBooking, Identity};
use services::desk::parse_date;
use services::desk::payments::{self as pay, Screenshot, Submitted, TypedProof};
use services::ServiceError;

use super::audit::AuditEventView;
use super::catalogue::MoneyView;
use crate::error::{ApiError, Problem};
use crate::extract::{idempotent, parse_json, DeskCaller, PageOf};
use crate::state::AppState;

/// The property of a booking.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingPropertyView {
    /// `prp_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The guest of a booking.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingGuestView {
    /// `gst_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// CNIC, masked (`42201-*******-1`) except for admins.
    pub cnic: String,
}

/// A booking.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingResponse {
    /// `HB-XXXXXX`.
    pub reference: String,
    /// `pending`, `waiting`, `confirmed`, `cancelled`, `expired`, `completed`.
    pub status: String,
    /// Property.
    pub property: BookingPropertyView,
    /// Guest.
    pub guest: BookingGuestView,
    /// Start date.
    pub date: String,
    /// Shift.
    pub shift: String,
    /// Party size.
    pub guests: i32,
    /// Total.
    pub total: MoneyView,
    /// Advance due.
    pub advance_due: MoneyView,
    /// Paid on arrival.
    pub remainder: MoneyView,
    /// Shift start.
    pub starts_at: DateTime<Utc>,
    /// Shift end.
    pub ends_at: DateTime<Utc>,
    /// Hold deadline while pending.
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// Reason of the last admin change.
    pub status_reason: Option<String>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<BookingView> for BookingResponse {
    fn from(v: BookingView) -> Self {
        let b = v.booking;
        Self {
            reference: b.reference,
            status: b.status,
            property: BookingPropertyView {
                id: v.property.public_id,
                name: v.property.name,
                kind: v.property.kind,
            },
            guest: BookingGuestView { id: v.guest_id, name: b.guest_name, cnic: v.cnic_shown },
            date: b.date,
            shift: b.shift,
            guests: b.guests,
            total: MoneyView::new(b.total_amount, &b.currency),
            advance_due: MoneyView::new(b.advance_amount, &b.currency),
            remainder: MoneyView::new(b.total_amount - b.advance_amount, &b.currency),
            starts_at: b.starts_at.and_utc(),
            ends_at: b.ends_at.and_utc(),
            hold_expires_at: b.hold_expires_at.map(|t| t.and_utc()),
            status_reason: b.status_reason,
            created_at: b.created_at.and_utc(),
            updated_at: b.updated_at.and_utc(),
        }
    }
}

/// The guest's identity for a booking (name and CNIC are required).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRequest {
    /// Full name.
    pub name: String,
    /// CNIC: 13 digits, dashes allowed (`42201-1234567-1`).
    pub cnic: String,
    /// Phone, optional.
    pub phone: Option<String>,
}

/// Body of `POST /api/v1/bookings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    /// `prp_…`.
    pub property_id: String,
    /// Start date `YYYY-MM-DD`.
    pub date: String,
    /// `day`, `night`, `full_day`, `full_night`.
    pub shift: String,
    /// Party size.
    pub guests: i32,
    /// Identity.
    pub guest: IdentityRequest,
    /// For admin and website keys: the guest (`gst_…`) the booking is for.
    pub guest_id: Option<String>,
}

/// Books a shift: holds it for `booking.hold_minutes` as `pending`. Guests book for themselves
/// (session token); admin and website keys book for a `guest_id`. Honours `Idempotency-Key`.
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), request_body = CreateBookingRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for the same body")),
    responses(
        (status = 201, body = BookingResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SLOT_UNAVAILABLE", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_FAILED, PRICE_NOT_SET, OUTSIDE_BOOKING_WINDOW, SHIFT_STARTED, CAPACITY_EXCEEDED, PROPERTY_INACTIVE", body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/api/v1/bookings")]
pub async fn create_booking(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: DeskCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.caller.require_known()?;
    idempotent(&state, &req, &caller.owner(), &body, || async {
        let input: CreateBookingRequest = parse_json(&body)?;
        let shift: Shift = services::desk::parse_shift("shift", &input.shift)?;
        let request = CreateBooking {
            property: input.property_id,
            date: parse_date("date", &input.date)?,
            shift,
            guests: input.guests,
            identity: Identity { name: input.guest.name, cnic: input.guest.cnic, phone: input.guest.phone },
            guest: input.guest_id,
        };
        let view = svc::create(&state.desk, &caller.caller, caller.rid(), request).await?;
        Ok((StatusCode::CREATED, serde_json::to_value(BookingResponse::from(view)).unwrap_or_default()))
    })
    .await
}

/// `?status=&from=&to=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BookingQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Stays on or after this date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Stays on or before this date (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// 1–200.
    pub limit: Option<i64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Bookings the caller may see: admins all, owners their properties', websites their guests',
/// guests their own.
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), params(BookingQuery), responses(
    (status = 200, body = PageOf<BookingResponse>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/bookings")]
pub async fn list_bookings(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<BookingQuery>,
) -> Result<web::Json<PageOf<BookingResponse>>, ApiError> {
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        Some(s) => {
            Some(s.parse::<BookingStatus>().map_err(|e| ServiceError::invalid("status", e.to_string()))?)
        }
        None => None,
    };
    let wanted = svc::BookingsWanted {
        status,
        from: q.from.as_deref().map(|d| parse_date("from", d)).transpose()?,
        to: q.to.as_deref().map(|d| parse_date("to", d)).transpose()?,
    };
    let (limit, before) = crate::extract::PageQuery { limit: q.limit, cursor: q.cursor }.resolve()?;
    let rows = svc::list(&state.desk, &caller.caller, wanted, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |v| v.booking.id, BookingResponse::from)))
}

/// One booking the caller may see.
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), params(("reference" = String, Path)), responses(
    (status = 200, body = BookingResponse),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/bookings/{reference}")]
pub async fn get_booking(
    state: web::Data<AppState>,
    caller: DeskCaller,
    reference: web::Path<String>,
) -> Result<web::Json<BookingResponse>, ApiError> {
    caller.caller.require_known()?;
    Ok(web::Json(svc::get(&state.desk, &caller.caller, reference.into_inner()).await?.into()))
}

/// A booking's history from the audit trail, oldest first: the booking's own events and its
/// payments' (admins and the property's owners).
#[utoipa::path(tag = "bookings", security(("api_key" = [])), params(("reference" = String, Path)), responses(
    (status = 200, body = Vec<AuditEventView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/bookings/{reference}/history")]
pub async fn booking_history(
    state: web::Data<AppState>,
    caller: DeskCaller,
    reference: web::Path<String>,
) -> Result<web::Json<Vec<AuditEventView>>, ApiError> {
    let events = svc::history(&state.desk, &caller.caller, reference.into_inner()).await?;
    Ok(web::Json(events.into_iter().map(AuditEventView::from).collect()))
}

/// Body of the cancel endpoint.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (optional).
    pub reason: Option<String>,
}

/// Cancels a booking: the guest before the stay, or an admin. Frees the slot.
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), request_body = Option<CancelRequest>, params(("reference" = String, Path)), responses(
    (status = 200, body = BookingResponse),
    (status = 409, description = "INVALID_TRANSITION", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/bookings/{reference}/cancel")]
pub async fn cancel_booking(
    state: web::Data<AppState>,
    caller: DeskCaller,
    reference: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<BookingResponse>, ApiError> {
    caller.caller.require_known()?;
    let input: CancelRequest =
        if body.iter().all(u8::is_ascii_whitespace) { CancelRequest::default() } else { parse_json(&body)? };
    Ok(web::Json(
        svc::cancel(&state.desk, &caller.caller, caller.rid(), reference.into_inner(), input.reason)
            .await?
            .into(),
    ))
}

/// Body of the status endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// Target status.
    pub status: String,
    /// Why (required).
    pub reason: String,
}

/// Admin status change with a reason (`confirmed`, `pending` = reject, `cancelled`, `completed`).
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), request_body = StatusRequest, params(("reference" = String, Path)), responses(
    (status = 200, body = BookingResponse),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "INVALID_TRANSITION", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/bookings/{reference}/status")]
pub async fn set_status(
    state: web::Data<AppState>,
    caller: DeskCaller,
    reference: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<BookingResponse>, ApiError> {
    caller.caller.require_known()?;
    if !caller.caller.is_admin() {
        return Err(ServiceError::Forbidden("only admins change a booking's status".into()).into());
    }
    let input: StatusRequest = parse_json(&body)?;
    let to: BookingStatus = input
        .status
        .parse()
        .map_err(|e: models::UnknownVariant| ServiceError::invalid("status", e.to_string()))?;
    Ok(web::Json(
        svc::set_status(&state.desk, &caller.caller, caller.rid(), reference.into_inner(), to, input.reason)
            .await?
            .into(),
    ))
}

/// A payment account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MethodView {
    /// `easypaisa`, `jazzcash`, `bank_transfer`.
    pub kind: String,
    /// Account number or IBAN.
    pub account_number: String,
    /// Holder.
    pub holder_name: String,
    /// Bank.
    pub bank_name: String,
}

/// What to pay, where, and by when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstructionsView {
    /// Booking.
    pub reference: String,
    /// Advance due now.
    pub advance_due: MoneyView,
    /// Paid on arrival.
    pub remainder: MoneyView,
    /// Pay by.
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// Accounts.
    pub methods: Vec<MethodView>,
    /// The same, as text for the guest.
    pub text: String,
}

/// Payment instructions of a pending booking.
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), params(("reference" = String, Path)), responses(
    (status = 200, body = InstructionsView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/bookings/{reference}/payment-instructions")]
pub async fn payment_instructions(
    state: web::Data<AppState>,
    caller: DeskCaller,
    reference: web::Path<String>,
) -> Result<web::Json<InstructionsView>, ApiError> {
    caller.caller.require_known()?;
    let i = pay::instructions(&state.desk, &caller.caller, reference.into_inner()).await?;
    let b = &i.booking;
    Ok(web::Json(InstructionsView {
        reference: b.reference.clone(),
        advance_due: MoneyView::new(b.advance_amount, &b.currency),
        remainder: MoneyView::new(b.total_amount - b.advance_amount, &b.currency),
        hold_expires_at: b.hold_expires_at.map(|t| t.and_utc()),
        methods: i
            .methods
            .iter()
            .map(|m| MethodView {
                kind: serde_json::to_value(m.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                account_number: m.account_number.clone(),
                holder_name: m.holder_name.clone(),
                bank_name: m.bank_name.clone(),
            })
            .collect(),
        text: i.text,
    }))
}

/// Body of `POST /api/v1/bookings/{reference}/payments` as JSON: typed details, or a
/// base64 screenshot. (A screenshot may also come as `multipart/form-data`, field `file`.)
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Amount paid, minor units (typed details).
    pub amount: Option<i64>,
    /// Transaction id (typed details).
    pub transaction_id: Option<String>,
    /// Sender's name (typed details).
    pub sender_name: Option<String>,
    /// Sender's phone.
    pub sender_phone: Option<String>,
    /// Method used: `easypaisa`, `jazzcash` or `bank_transfer`.
    #[schema(value_type = Option<String>)]
    pub method: Option<core_config::PaymentMethodKind>,
    /// Screenshot, base64.
    pub image_base64: Option<String>,
    /// Screenshot type (`image/png`, `image/jpeg`, `image/webp`).
    pub content_type: Option<String>,
}

/// A recorded payment proof.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    /// `pay_…`.
    pub id: String,
    /// `details` or `screenshot`.
    pub kind: String,
    /// `pending_review`, `approved`, `rejected`.
    pub status: String,
    /// Amount, when known.
    pub amount: Option<i64>,
    /// Transaction id.
    pub transaction_id: Option<String>,
    /// Screenshot URL.
    pub image_url: Option<String>,
    /// Screenshot SHA-256.
    pub image_sha256: Option<String>,
    /// Whether a machine read it.
    pub machine_checked: bool,
    /// The checks shown to the admin.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
    /// What the vision model read.
    #[schema(value_type = Option<Object>)]
    pub extracted: Option<serde_json::Value>,
    /// Submission.
    pub created_at: DateTime<Utc>,
}

impl From<models::rows_booking::BookingPayment> for PaymentView {
    fn from(p: models::rows_booking::BookingPayment) -> Self {
        Self {
            id: p.public_id,
            kind: p.kind,
            status: p.status,
            amount: p.amount,
            transaction_id: p.transaction_id,
            image_url: p.image_url,
            image_sha256: p.image_sha256,
            machine_checked: p.machine_checked,
            checks: serde_json::from_str(&p.checks).unwrap_or_default(),
            extracted: p.extraction.and_then(|e| serde_json::from_str(&e).ok()),
            created_at: p.created_at.and_utc(),
        }
    }
}

/// A proof and the booking after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmittedView {
    /// The proof.
    pub payment: PaymentView,
    /// Booking reference.
    pub booking: String,
    /// Booking status now (`waiting`, or `confirmed` by auto-confirm).
    pub booking_status: String,
}

impl From<Submitted> for SubmittedView {
    fn from(s: Submitted) -> Self {
        Self { payment: s.payment.into(), booking: s.booking.reference, booking_status: s.booking.status }
    }
}

/// Submits payment proof: typed details (JSON), a base64 screenshot (JSON), or a screenshot as
/// `multipart/form-data` (field `file`). Moves the booking to `waiting`. Honours `Idempotency-Key`
/// for JSON bodies.
#[utoipa::path(tag = "bookings", security((), ("api_key" = [])), request_body = PaymentRequest, params(("reference" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "JSON bodies: replays the first response for the same body")), responses(
    (status = 201, body = SubmittedView),
    (status = 409, description = "DUPLICATE_PAYMENT_PROOF, INVALID_TRANSITION, HOLD_EXPIRED", body = Problem, content_type = "application/problem+json"),
    (status = 413, body = Problem, content_type = "application/problem+json"),
    (status = 415, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "VALIDATION_FAILED, NOT_A_PAYMENT_SCREENSHOT", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/bookings/{reference}/payments")]
pub async fn submit_payment(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: DeskCaller,
    reference: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.caller.require_known()?;
    let reference = reference.into_inner();
    let max = state.desk.rules.max_upload_bytes;
    if req.content_type() == "multipart/form-data" {
        let (bytes, content_type) =
            crate::extract::multipart_file(&req, payload, "file", max, "screenshots").await?;
        let shot = Screenshot { bytes, content_type };
        let s = pay::submit_screenshot(&state.desk, &caller.caller, caller.rid(), reference, shot).await?;
        return Ok(HttpResponse::Created().json(SubmittedView::from(s)));
    }
    let body = crate::extract::read_limited(payload, max / 3 * 4 + 64 * 1024, "bodies").await?;
    idempotent(&state, &req, &caller.owner(), &body, || async {
        let input: PaymentRequest = parse_json(&body)?;
        let submitted = match input.image_base64 {
            Some(b64) => {
                if input.amount.is_some() || input.transaction_id.is_some() {
                    return Err(ServiceError::invalid(
                        "image_base64",
                        "send either a screenshot or typed details",
                    )
                    .into());
                }
                let bytes = STANDARD
                    .decode(b64.trim().trim_start_matches("data:").split(",").last().unwrap_or(""))
                    .map_err(|_| ServiceError::invalid("image_base64", "is not valid base64"))?;
                let shot = Screenshot { bytes, content_type: input.content_type.unwrap_or_default() };
                pay::submit_screenshot(&state.desk, &caller.caller, caller.rid(), reference.clone(), shot)
                    .await?
            }
            None => {
                let missing = |f: &str| ServiceError::invalid(f, "is required with typed details");
                let proof = TypedProof {
                    amount: input.amount.ok_or_else(|| missing("amount"))?,
                    transaction_id: input.transaction_id.ok_or_else(|| missing("transaction_id"))?,
                    sender_name: input.sender_name.ok_or_else(|| missing("sender_name"))?,
                    sender_phone: input.sender_phone,
                    method: input.method,
                };
                pay::submit_typed(&state.desk, &caller.caller, caller.rid(), reference.clone(), proof).await?
            }
        };
        Ok((StatusCode::CREATED, serde_json::to_value(SubmittedView::from(submitted)).unwrap_or_default()))
    })
    .await
}
