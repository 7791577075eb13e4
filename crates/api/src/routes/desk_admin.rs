//! The admins' desk (`/api/v1/admin/…`: verifications, notifications, jobs) and locally stored
//! media (`/media/{name}`).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use services::desk::{payments, Caller};
use services::ServiceError;

use super::bookings::{PaymentView, SubmittedView};
use super::catalogue::MoneyView;
use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, DeskCaller, PageOf, PageQuery};
use crate::state::AppState;

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
    let rows = tasks::scheduler::records(&state.db, &caller.caller).await?;
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
