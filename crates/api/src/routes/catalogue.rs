//! `/api/v1/properties`, `/api/v1/search`, `/api/v1/quotes`: the catalogue.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use models::booking::{MediaKind, PropertyKind, Shift, WEEKDAYS};
use serde::{Deserialize, Serialize};
use services::desk::catalogue::{self as svc, PriceInput, PropertyDetails, PropertyInput, SeasonInput};
use services::desk::{parse_date, parse_shift};
use services::{FieldError, ServiceError};

use crate::error::{ApiError, Problem};
use crate::extract::{idempotent, parse_json, DeskCaller, PageOf, PageQuery};
use crate::state::AppState;

/// An amount in minor units with its currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MoneyView {
    /// Minor units (paisa for PKR).
    pub amount: i64,
    /// ISO currency.
    pub currency: String,
}

impl MoneyView {
    /// Builds one.
    pub fn new(amount: i64, currency: &str) -> Self {
        Self { amount, currency: currency.to_string() }
    }
}

/// A weekly price.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceView {
    /// `monday` … `sunday`.
    pub weekday: String,
    /// `day`, `night`, `full_day`, `full_night`.
    #[schema(value_type = String)]
    pub shift: Shift,
    /// Minor units.
    pub amount: i64,
}

/// A seasonal override.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeasonView {
    /// Label.
    pub name: String,
    /// First date `YYYY-MM-DD`.
    pub start_date: String,
    /// Last date (inclusive).
    pub end_date: String,
    /// Prices within the season.
    pub prices: Vec<PriceView>,
}

/// A picture or video.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MediaView {
    /// `med_…`.
    pub id: String,
    /// `image` or `video`.
    pub kind: String,
    /// URL.
    pub url: String,
    /// Order.
    pub position: i32,
}

/// An amenity.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmenityView {
    /// e.g. `facility`.
    pub kind: String,
    /// e.g. `Pool`.
    pub value: String,
}

/// A property.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PropertyView {
    /// `prp_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Address.
    pub address: String,
    /// City.
    pub city: String,
    /// Province.
    pub province: String,
    /// Country.
    pub country: String,
    /// Capacity.
    pub max_guests: i32,
    /// Contact person.
    pub contact_person: String,
    /// Contact number.
    pub contact_number: String,
    /// Advance due, percent.
    pub advance_percent: i32,
    /// Special offer.
    pub special_offer: Option<String>,
    /// Taking bookings.
    pub active: bool,
    /// Owner user ids.
    pub owners: Vec<String>,
    /// Weekly prices.
    pub prices: Vec<PriceView>,
    /// Seasons.
    pub seasons: Vec<SeasonView>,
    /// Media in order.
    pub media: Vec<MediaView>,
    /// Amenities.
    pub amenities: Vec<AmenityView>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn price_view(weekday: i32, shift: &str, amount: i64) -> PriceView {
    PriceView {
        weekday: WEEKDAYS.get(weekday as usize).copied().unwrap_or("monday").to_string(),
        shift: shift.parse().unwrap_or(Shift::Day),
        amount,
    }
}

impl From<PropertyDetails> for PropertyView {
    fn from(d: PropertyDetails) -> Self {
        let p = d.property;
        Self {
            id: p.public_id,
            name: p.name,
            description: p.description,
            kind: p.kind,
            address: p.address,
            city: p.city,
            province: p.province,
            country: p.country,
            max_guests: p.max_guests,
            contact_person: p.contact_person,
            contact_number: p.contact_number,
            advance_percent: p.advance_percent,
            special_offer: p.special_offer,
            active: p.active,
            owners: d.owners,
            prices: d.prices.iter().map(|x| price_view(x.weekday, &x.shift, x.amount)).collect(),
            seasons: d
                .seasons
                .into_iter()
                .map(|(s, prices)| SeasonView {
                    name: s.name,
                    start_date: s.start_date,
                    end_date: s.end_date,
                    prices: prices.iter().map(|x| price_view(x.weekday, &x.shift, x.amount)).collect(),
                })
                .collect(),
            media: d
                .media
                .into_iter()
                .map(|m| MediaView { id: m.public_id, kind: m.kind, url: m.url, position: m.position })
                .collect(),
            amenities: d
                .amenities
                .into_iter()
                .map(|a| AmenityView { kind: a.kind, value: a.value })
                .collect(),
            created_at: p.created_at.and_utc(),
            updated_at: p.updated_at.and_utc(),
        }
    }
}

/// Body of `POST /api/v1/properties` and `PATCH /api/v1/properties/{id}` (all optional on PATCH).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyRequest {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<PropertyKind>,
    /// Address.
    pub address: Option<String>,
    /// City (default Karachi).
    pub city: Option<String>,
    /// Province.
    pub province: Option<String>,
    /// Country (default Pakistan).
    pub country: Option<String>,
    /// Capacity.
    pub max_guests: Option<i32>,
    /// Contact person.
    pub contact_person: Option<String>,
    /// Contact number.
    pub contact_number: Option<String>,
    /// Advance percent (0–100, default 50).
    pub advance_percent: Option<i32>,
    /// Special offer (empty clears).
    pub special_offer: Option<String>,
    /// Active flag.
    pub active: Option<bool>,
    /// Owners (admins only).
    pub owner_ids: Option<Vec<String>>,
}

impl From<PropertyRequest> for PropertyInput {
    fn from(r: PropertyRequest) -> Self {
        Self {
            name: r.name,
            description: r.description,
            kind: r.kind,
            address: r.address,
            city: r.city,
            province: r.province,
            country: r.country,
            max_guests: r.max_guests,
            contact_person: r.contact_person,
            contact_number: r.contact_number,
            advance_percent: r.advance_percent,
            special_offer: r.special_offer,
            active: r.active,
            owner_ids: r.owner_ids,
        }
    }
}

/// Filters of `GET /api/v1/properties`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PropertyQuery {
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    #[param(value_type = Option<String>)]
    pub kind: Option<PropertyKind>,
    /// City.
    pub city: Option<String>,
    /// Active flag (owners and admins).
    pub active: Option<bool>,
    /// 1–200.
    pub limit: Option<i64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Properties: admins see all, owners theirs, everyone else the active ones.
#[utoipa::path(tag = "catalogue", security((), ("api_key" = [])), params(PropertyQuery), responses((status = 200, body = PageOf<PropertyView>)))]
#[get("/api/v1/properties")]
pub async fn list_properties(
    state: web::Data<AppState>,
    caller: DeskCaller,
    q: web::Query<PropertyQuery>,
) -> Result<web::Json<PageOf<PropertyView>>, ApiError> {
    let q = q.into_inner();
    let (limit, before) = PageQuery { limit: q.limit, cursor: q.cursor }.resolve()?;
    let filter = svc::ListFilter { kind: q.kind, city: q.city, active: q.active };
    let rows = svc::list(&state.desk, &caller.caller, filter, limit, before).await?;
    Ok(web::Json(PageOf::from_rows(rows, limit, |d| d.property.id, PropertyView::from)))
}

/// Creates a property (owners: their own; admins: with `owner_ids`).
#[utoipa::path(tag = "catalogue", request_body = PropertyRequest, security(("api_key" = [])), params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for the same body")), responses(
    (status = 201, body = PropertyView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/properties")]
pub async fn create_property(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: DeskCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    idempotent(&state, &req, &caller.owner(), &body, || async {
        let input: PropertyRequest = parse_json(&body)?;
        let d = svc::create(&state.desk, &caller.caller, caller.rid(), input.into()).await?;
        Ok((StatusCode::CREATED, serde_json::to_value(PropertyView::from(d)).unwrap_or_default()))
    })
    .await
}

/// One property (inactive ones only for their owners and admins).
#[utoipa::path(tag = "catalogue", security((), ("api_key" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = PropertyView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/properties/{id}")]
pub async fn get_property(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
) -> Result<web::Json<PropertyView>, ApiError> {
    Ok(web::Json(svc::get(&state.desk, &caller.caller, id.into_inner()).await?.into()))
}

/// Changes a property (its owners and admins).
#[utoipa::path(tag = "catalogue", request_body = PropertyRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = PropertyView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/properties/{id}")]
pub async fn update_property(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<PropertyView>, ApiError> {
    let input: PropertyRequest = parse_json(&body)?;
    Ok(web::Json(
        svc::update(&state.desk, &caller.caller, caller.rid(), id.into_inner(), input.into()).await?.into(),
    ))
}

/// Deactivates a property (its history stays).
#[utoipa::path(tag = "catalogue", params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = PropertyView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/properties/{id}")]
pub async fn deactivate_property(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
) -> Result<web::Json<PropertyView>, ApiError> {
    let input = PropertyInput { active: Some(false), ..PropertyInput::default() };
    Ok(web::Json(
        svc::update(&state.desk, &caller.caller, caller.rid(), id.into_inner(), input).await?.into(),
    ))
}

/// Body of `PUT /api/v1/properties/{id}/prices`: replaces the weekly prices and seasons.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricesRequest {
    /// Base weekly prices.
    pub prices: Vec<PriceView>,
    /// Seasonal overrides.
    #[serde(default)]
    pub seasons: Vec<SeasonView>,
    /// Special-offer note.
    pub special_offer: Option<String>,
}

fn price_inputs(field: &str, prices: Vec<PriceView>, errors: &mut Vec<FieldError>) -> Vec<PriceInput> {
    let mut out = Vec::new();
    for (i, p) in prices.into_iter().enumerate() {
        match models::booking::parse_weekday(&p.weekday) {
            Some(weekday) => out.push(PriceInput { weekday, shift: p.shift, amount: p.amount }),
            None => errors.push(FieldError {
                field: format!("{field}[{i}].weekday"),
                message: "must be monday … sunday".into(),
            }),
        }
    }
    out
}

/// Replaces a property's weekly prices, seasons and special offer.
#[utoipa::path(tag = "catalogue", request_body = PricesRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = PropertyView),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/properties/{id}/prices")]
pub async fn set_prices(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<PropertyView>, ApiError> {
    let input: PricesRequest = parse_json(&body)?;
    let mut errors = Vec::new();
    let prices = price_inputs("prices", input.prices, &mut errors);
    let mut seasons = Vec::new();
    for (i, s) in input.seasons.into_iter().enumerate() {
        let start = parse_date(&format!("seasons[{i}].start_date"), &s.start_date);
        let end = parse_date(&format!("seasons[{i}].end_date"), &s.end_date);
        let p = price_inputs(&format!("seasons[{i}].prices"), s.prices, &mut errors);
        match (start, end) {
            (Ok(start_date), Ok(end_date)) => {
                seasons.push(SeasonInput { name: s.name, start_date, end_date, prices: p })
            }
            (a, b) => {
                for e in [a.err(), b.err()].into_iter().flatten() {
                    if let ServiceError::Validation(f) = e {
                        errors.extend(f);
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors).into());
    }
    let d = svc::set_prices(
        &state.desk,
        &caller.caller,
        caller.rid(),
        id.into_inner(),
        prices,
        seasons,
        input.special_offer,
    )
    .await?;
    Ok(web::Json(d.into()))
}

/// Body of `POST /api/v1/properties/{id}/media`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRequest {
    /// `image` or `video`.
    #[schema(value_type = String)]
    pub kind: MediaKind,
    /// http(s) URL.
    pub url: String,
}

/// Appends an image or video by URL.
#[utoipa::path(tag = "catalogue", request_body = MediaRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 201, body = PropertyView),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/properties/{id}/media")]
pub async fn add_media(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: MediaRequest = parse_json(&body)?;
    let d = svc::add_media(&state.desk, &caller.caller, caller.rid(), id.into_inner(), input.kind, input.url)
        .await?;
    Ok(HttpResponse::Created().json(PropertyView::from(d)))
}

/// Removes a media item.
#[utoipa::path(tag = "catalogue", params(("id" = String, Path), ("media_id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = PropertyView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/properties/{id}/media/{media_id}")]
pub async fn delete_media(
    state: web::Data<AppState>,
    caller: DeskCaller,
    path: web::Path<(String, String)>,
) -> Result<web::Json<PropertyView>, ApiError> {
    let (id, media_id) = path.into_inner();
    Ok(web::Json(svc::delete_media(&state.desk, &caller.caller, caller.rid(), id, media_id).await?.into()))
}

/// Body of `PUT /api/v1/properties/{id}/amenities`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmenitiesRequest {
    /// The full list.
    pub amenities: Vec<AmenityView>,
}

/// Replaces the amenities.
#[utoipa::path(tag = "catalogue", request_body = AmenitiesRequest, params(("id" = String, Path)), security(("api_key" = [])), responses(
    (status = 200, body = PropertyView),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/properties/{id}/amenities")]
pub async fn set_amenities(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<PropertyView>, ApiError> {
    let input: AmenitiesRequest = parse_json(&body)?;
    let items = input.amenities.into_iter().map(|a| (a.kind, a.value)).collect();
    Ok(web::Json(
        svc::set_amenities(&state.desk, &caller.caller, caller.rid(), id.into_inner(), items).await?.into(),
    ))
}

/// `?from=&to=` of availability.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RangeQuery {
    /// First date `YYYY-MM-DD`.
    pub from: String,
    /// Last date (inclusive, at most 62 days after `from`).
    pub to: String,
}

/// Free shifts of one date.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayView {
    /// Date.
    pub date: String,
    /// Day shift free.
    pub day: bool,
    /// Night shift free.
    pub night: bool,
    /// Full-day shift free.
    pub full_day: bool,
    /// Full-night shift free.
    pub full_night: bool,
}

/// Which shifts are free on each date of the range.
#[utoipa::path(tag = "catalogue", security((), ("api_key" = [])), params(("id" = String, Path), RangeQuery), responses(
    (status = 200, body = Vec<DayView>),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/properties/{id}/availability")]
pub async fn availability(
    state: web::Data<AppState>,
    caller: DeskCaller,
    id: web::Path<String>,
    q: web::Query<RangeQuery>,
) -> Result<web::Json<Vec<DayView>>, ApiError> {
    let from = parse_date("from", &q.from)?;
    let to = parse_date("to", &q.to)?;
    let days = svc::availability(&state.desk, &caller.caller, id.into_inner(), from, to).await?;
    Ok(web::Json(
        days.into_iter()
            .map(|d| {
                let free = |s: Shift| d.free.iter().any(|(x, f)| *x == s && *f);
                DayView {
                    date: d.date.to_string(),
                    day: free(Shift::Day),
                    night: free(Shift::Night),
                    full_day: free(Shift::FullDay),
                    full_night: free(Shift::FullNight),
                }
            })
            .collect(),
    ))
}

/// Search parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchParams {
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Date `YYYY-MM-DD`.
    pub date: String,
    /// Shift.
    pub shift: String,
    /// Party size.
    pub guests: i32,
    /// Lowest price (minor units).
    pub min_price: Option<i64>,
    /// Highest price (minor units).
    pub max_price: Option<i64>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One search result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHitView {
    /// `prp_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// `farm` or `hut`.
    #[serde(rename = "type")]
    pub kind: String,
    /// City.
    pub city: String,
    /// Capacity.
    pub max_guests: i32,
    /// Price of the shift on the date.
    pub price: MoneyView,
    /// Advance due.
    pub advance_due: MoneyView,
    /// Special offer.
    pub special_offer: Option<String>,
}

/// A page of search results, by price then name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    /// Available properties.
    pub items: Vec<SearchHitView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Available properties for a date and shift, with their price, by price then name, a page at a
/// time (`limit` 1–100, default 20; `cursor` continues in the same order).
#[utoipa::path(tag = "catalogue", params(SearchParams), responses(
    (status = 200, body = SearchResults),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/search")]
pub async fn search(
    state: web::Data<AppState>,
    q: web::Query<SearchParams>,
) -> Result<web::Json<SearchResults>, ApiError> {
    let q = q.into_inner();
    let kind: PropertyKind =
        q.kind.parse().map_err(|_| ServiceError::invalid("type", "must be farm or hut"))?;
    let query = svc::SearchQuery {
        kind,
        date: parse_date("date", &q.date)?,
        shift: parse_shift("shift", &q.shift)?,
        guests: q.guests,
        min_price: q.min_price,
        max_price: q.max_price,
        city: q.city,
        country: q.country,
        limit: q.limit,
        cursor: q.cursor,
    };
    let currency = state.desk.rules.currency.clone();
    let page = svc::search(&state.desk, query).await?;
    Ok(web::Json(SearchResults {
        next_cursor: page.next_cursor,
        items: page
            .hits
            .into_iter()
            .map(|h| SearchHitView {
                id: h.property.public_id,
                name: h.property.name,
                kind: h.property.kind,
                city: h.property.city,
                max_guests: h.property.max_guests,
                price: MoneyView::new(h.price, &currency),
                advance_due: MoneyView::new(h.advance, &currency),
                special_offer: h.property.special_offer,
            })
            .collect(),
    }))
}

/// Quote parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QuoteParams {
    /// `prp_…`.
    pub property: String,
    /// Date.
    pub date: String,
    /// Shift.
    pub shift: String,
}

/// A price quote.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuoteView {
    /// Property.
    pub property: String,
    /// Date.
    pub date: String,
    /// Shift.
    pub shift: String,
    /// Total.
    pub total: MoneyView,
    /// Advance due when booking.
    pub advance_due: MoneyView,
    /// Paid on arrival.
    pub remainder: MoneyView,
    /// Minutes the slot is held for payment.
    pub hold_minutes: u32,
    /// Whether the slot is free now.
    pub available: bool,
}

/// Quotes a shift: total, advance, remainder, hold. A refusal says why (`PRICE_NOT_SET`,
/// `OUTSIDE_BOOKING_WINDOW`, `SHIFT_STARTED`).
#[utoipa::path(tag = "catalogue", params(QuoteParams), responses(
    (status = 200, body = QuoteView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/quotes")]
pub async fn quote(
    state: web::Data<AppState>,
    q: web::Query<QuoteParams>,
) -> Result<web::Json<QuoteView>, ApiError> {
    let q = q.into_inner();
    let date = parse_date("date", &q.date)?;
    let shift = parse_shift("shift", &q.shift)?;
    let quote = svc::quote(&state.desk, q.property, date, shift).await?;
    Ok(web::Json(QuoteView {
        property: quote.property,
        date: quote.date.to_string(),
        shift: quote.shift.as_str().into(),
        total: MoneyView::new(quote.total.amount, &quote.total.currency),
        advance_due: MoneyView::new(quote.advance_due.amount, &quote.advance_due.currency),
        remainder: MoneyView::new(quote.remainder.amount, &quote.remainder.currency),
        hold_minutes: quote.hold_minutes,
        available: quote.available,
    }))
}
