//! Guest sessions and history (`/api/v1/chat/…`), the admins' desk (`/api/v1/admin/…`), and
//! locally stored media (`/media/{name}`).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use services::desk::{guests, jobs, payments, Caller};
use services::ServiceError;

use super::bookings::{PaymentView, SubmittedView};
use super::catalogue::MoneyView;
use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, DeskCaller, PageOf, PageQuery};
use crate::state::AppState;

/// Body of `POST /api/v1/chat/sessions` for websites: their own user id for the guest.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The website's id for its user (absent: an anonymous guest).
    pub user_id: Option<String>,
    /// Name, if known.
    pub name: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
}

/// A new guest session: the token is shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionCreated {
    /// `gs_…`: send as `Authorization: Bearer gs_…`.
    pub token: String,
    /// `gst_…`.
    pub guest_id: String,
}

/// Opens a guest session. Without credentials: a new anonymous guest. With a `website` key and a
/// body: the guest the website knows by `user_id` (created on first use).
#[utoipa::path(tag = "chat", security((), ("api_key" = [])), request_body = Option<SessionRequest>, responses(
    (status = 201, body = SessionCreated),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/chat/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    caller: DeskCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // No body, `{}` or `{"user_id": null}`: an anonymous guest, as a web client opens one.
    let request: SessionRequest =
        if body.iter().all(u8::is_ascii_whitespace) { SessionRequest::default() } else { parse_json(&body)? };
    let website = match request {
        SessionRequest { user_id: Some(user_id), name, phone } => {
            Some(guests::WebsiteGuest { user_id, name, phone })
        }
        SessionRequest { user_id: None, name: None, phone: None } => None,
        SessionRequest { user_id: None, .. } => {
            return Err(ServiceError::invalid("user_id", "is required with name or phone").into())
        }
    };
    let s = guests::open_session(&state.db, &caller.caller, website).await?;
    Ok(HttpResponse::Created().json(SessionCreated { token: s.token, guest_id: s.guest.public_id }))
}

/// The guest behind a session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// `gst_…`.
    pub guest_id: String,
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// CNIC, masked.
    pub cnic: Option<String>,
}

fn guest_only(caller: &Caller) -> Result<&services::desk::GuestPrincipal, ApiError> {
    match caller {
        Caller::Guest(g) => Ok(g),
        Caller::Anonymous => Err(ServiceError::AuthRequired.into()),
        Caller::Key(_) => {
            Err(ServiceError::Forbidden("this endpoint takes a guest session token".into()).into())
        }
    }
}

/// The current guest session.
#[utoipa::path(tag = "chat", security((), ("api_key" = [])), responses(
    (status = 200, body = SessionView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/chat/session")]
pub async fn get_session(
    state: web::Data<AppState>,
    caller: DeskCaller,
) -> Result<web::Json<SessionView>, ApiError> {
    let g = guest_only(&caller.caller)?;
    let guest = guests::get(&state.db, g.guest_id).await?;
    Ok(web::Json(SessionView {
        guest_id: guest.public_id,
        name: guest.name,
        phone: guest.phone,
        cnic: guest.cnic.as_deref().map(models::booking::mask_cnic),
    }))
}

/// A conversation message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    /// `msg_…`.
    pub id: String,
    /// `guest`, `bot`, `admin`.
    pub sender: String,
    /// Text.
    pub text: String,
    /// Structured part.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The guest's conversation, newest first (booking notifications arrive here).
#[utoipa::path(tag = "chat", security((), ("api_key" = [])), params(PageQuery), responses(
    (status = 200, body = PageOf<MessageView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/chat/history")]
pub async fn history(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<MessageView>>, ApiError> {
    let g = guest_only(&caller.caller)?.clone();
    let (limit, before) = q.resolve()?;
    let rows = guests::history(&state.db, g.guest_id, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(
        rows,
        limit,
        |m| m.id,
        |m| MessageView {
            id: m.public_id,
            sender: m.sender,
            text: m.text,
            payload: m.payload.and_then(|p| serde_json::from_str(&p).ok()),
            created_at: m.created_at.and_utc(),
        },
    )))
}

/// A proof awaiting review, with what the admin needs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerificationView {
    /// The proof (`id` is what approve/reject take).
    pub payment: PaymentView,
    /// Booking reference.
    pub booking: String,
    /// Booking status.
    pub booking_status: String,
    /// Property name.
    pub property: String,
    /// Date.
    pub date: String,
    /// Shift.
    pub shift: String,
    /// Guest name.
    pub guest_name: String,
    /// CNIC, masked.
    pub cnic: String,
    /// Advance due.
    pub advance_due: MoneyView,
}

fn require_admin(caller: &DeskCaller) -> Result<(), ApiError> {
    if caller.caller.is_admin() {
        Ok(())
    } else if matches!(caller.caller, Caller::Anonymous) {
        Err(ServiceError::AuthRequired.into())
    } else {
        Err(ServiceError::Forbidden("admins only".into()).into())
    }
}

/// Payment proofs waiting for review (admins).
#[utoipa::path(tag = "admin", params(PageQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<VerificationView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/verifications")]
pub async fn verifications(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<VerificationView>>, ApiError> {
    require_admin(&caller)?;
    let (limit, before) = q.resolve()?;
    let rows = payments::verifications(&state.desk, &caller.caller, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(
        rows,
        limit,
        |v| v.payment.id,
        |v| VerificationView {
            booking: v.booking.reference.clone(),
            booking_status: v.booking.status.clone(),
            property: v.property.name.clone(),
            date: v.booking.date.clone(),
            shift: v.booking.shift.clone(),
            guest_name: v.booking.guest_name.clone(),
            cnic: v.cnic_masked.clone(),
            advance_due: MoneyView::new(v.booking.advance_amount, &v.booking.currency),
            payment: v.payment.into(),
        },
    )))
}

/// Approves a proof: the booking becomes `confirmed` and the guest is told.
#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "`pay_…`")), security(("api_key" = [])), responses(
    (status = 200, body = SubmittedView),
    (status = 409, description = "INVALID_TRANSITION", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/verifications/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
) -> Result<web::Json<SubmittedView>, ApiError> {
    require_admin(&caller)?;
    Ok(web::Json(payments::approve(&state.desk, &caller.caller, caller.rid(), id.into_inner()).await?.into()))
}

/// Body of the reject endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why (required; told to the guest).
    pub reason: String,
}

/// Rejects a proof with a reason: the booking returns to `pending` with a fresh hold.
#[utoipa::path(tag = "admin", request_body = RejectRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = SubmittedView),
    (status = 409, description = "INVALID_TRANSITION", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/verifications/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<SubmittedView>, ApiError> {
    require_admin(&caller)?;
    let input: RejectRequest = parse_json(&body)?;
    Ok(web::Json(
        payments::reject(&state.desk, &caller.caller, caller.rid(), id.into_inner(), input.reason)
            .await?
            .into(),
    ))
}

/// An admin inbox entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    /// `ntf_…`.
    pub id: String,
    /// Kind: `payment_proof`, `duplicate_payment_proof`, `review_reminder`.
    pub kind: String,
    /// Text.
    pub text: String,
    /// Booking.
    pub booking: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The admins' inbox, newest first.
#[utoipa::path(tag = "admin", params(PageQuery), security(("api_key" = [])), responses(
    (status = 200, body = PageOf<NotificationView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/notifications")]
pub async fn notifications(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<PageQuery>,
) -> Result<web::Json<PageOf<NotificationView>>, ApiError> {
    require_admin(&caller)?;
    let (limit, before) = q.resolve()?;
    let rows = services::desk::notify::inbox(&state.desk, &caller.caller, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(
        rows,
        limit,
        |n| n.id,
        |n| NotificationView {
            id: n.public_id,
            kind: n.kind,
            text: n.text,
            booking: n.booking_ref,
            created_at: n.created_at.and_utc(),
        },
    )))
}

/// A background job's record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// Name.
    pub name: String,
    /// Last start.
    pub last_started_at: Option<DateTime<Utc>>,
    /// Last finish.
    pub last_finished_at: Option<DateTime<Utc>>,
    /// `ok` or `error`.
    pub last_outcome: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// Items handled by the last run.
    pub last_items: Option<i64>,
    /// Completed runs.
    pub runs: i64,
    /// Replica holding the lease now.
    pub running_on: Option<String>,
}

/// Background jobs and their last runs (admins).
#[utoipa::path(tag = "admin", security(("api_key" = [])), responses(
    (status = 200, body = Vec<JobView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    caller: DeskCaller,
) -> Result<web::Json<Vec<JobView>>, ApiError> {
    require_admin(&caller)?;
    let rows = jobs::list(&state.desk, &caller.caller).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|j| JobView {
                name: j.name,
                last_started_at: j.last_started_at.map(|t| t.and_utc()),
                last_finished_at: j.last_finished_at.map(|t| t.and_utc()),
                last_outcome: j.last_outcome,
                last_error: j.last_error,
                last_items: j.last_items,
                runs: j.runs,
                running_on: j.lease_owner,
            })
            .collect(),
    ))
}

/// A stored screenshot (local media store). Names are 128 random bits; nothing is listed.
#[utoipa::path(tag = "admin", params(("name" = String, Path)), responses(
    (status = 200, description = "the image", content_type = "image/png"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/media/{name}")]
pub async fn media(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let dir = std::path::PathBuf::from(&state.settings.media.local_dir);
    let (bytes, content_type) =
        integrations::LocalMediaStore::read(&dir, &name).await.ok_or(ServiceError::NotFound("media"))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(bytes))
}
