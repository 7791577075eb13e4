//! The catalogue (SPEC §2.1), availability (§2.2), search and quotes (§2.3).

use std::collections::HashSet;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use models::booking::{advance_due, weekday_index, Half, MediaKind, Money, PropertyKind, Shift};
use models::ids::public_id;
use models::rows_booking::{
    Amenity, NewProperty, NewPropertyMedia, NewSeason, Property, PropertyChanges, PropertyMedia,
    PropertyPrice,
};
use models::Role;
use repositories::catalogue::{self as repo, PropertyFilter};
use repositories::{bookings as booking_repo, users, DbConnection, Page, RepoError};
use serde_json::json;

use super::{Caller, Desk, Rules};
use crate::audit::{self, AuditContext};
use crate::{in_tx, with_conn, FieldError, ServiceError};

/// A property with everything shown about it.
#[derive(Clone, Debug)]
pub struct PropertyDetails {
    /// The row.
    pub property: Property,
    /// Owners' public ids.
    pub owners: Vec<String>,
    /// Base prices.
    pub prices: Vec<PropertyPrice>,
    /// Seasons with prices.
    pub seasons: Vec<(models::rows_booking::Season, Vec<models::rows_booking::SeasonPrice>)>,
    /// Media in order.
    pub media: Vec<PropertyMedia>,
    /// Amenities.
    pub amenities: Vec<Amenity>,
}

/// Fields of a property; on update `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct PropertyInput {
    /// Name (1–200).
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `farm` or `hut`.
    pub kind: Option<PropertyKind>,
    /// Address.
    pub address: Option<String>,
    /// City (default Karachi).
    pub city: Option<String>,
    /// Province.
    pub province: Option<String>,
    /// Country (default Pakistan).
    pub country: Option<String>,
    /// Capacity (1–10 000).
    pub max_guests: Option<i32>,
    /// Contact person.
    pub contact_person: Option<String>,
    /// Contact number.
    pub contact_number: Option<String>,
    /// Advance percent (0–100).
    pub advance_percent: Option<i32>,
    /// Special-offer note (empty clears).
    pub special_offer: Option<String>,
    /// Active flag.
    pub active: Option<bool>,
    /// Owners (admins only; public user ids of `owner` users).
    pub owner_ids: Option<Vec<String>>,
}

fn check_input(input: &PropertyInput, creating: bool) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    let mut bad =
        |field: &str, message: &str| errors.push(FieldError { field: field.into(), message: message.into() });
    match &input.name {
        Some(n) if n.trim().is_empty() || n.chars().count() > 200 => {
            bad("name", "must be 1 to 200 characters")
        }
        None if creating => bad("name", "is required"),
        _ => {}
    }
    if creating && input.kind.is_none() {
        bad("kind", "is required (farm or hut)");
    }
    match input.max_guests {
        Some(n) if !(1..=10_000).contains(&n) => bad("max_guests", "must be 1 to 10000"),
        None if creating => bad("max_guests", "is required"),
        _ => {}
    }
    if input.advance_percent.is_some_and(|p| !(0..=100).contains(&p)) {
        bad("advance_percent", "must be 0 to 100");
    }
    for (field, v) in [
        ("description", &input.description),
        ("address", &input.address),
        ("city", &input.city),
        ("province", &input.province),
        ("country", &input.country),
        ("contact_person", &input.contact_person),
        ("contact_number", &input.contact_number),
        ("special_offer", &input.special_offer),
    ] {
        if v.as_ref().is_some_and(|s| s.chars().count() > 2000) {
            bad(field, "must be at most 2000 characters");
        }
    }
    if input.city.as_ref().is_some_and(|c| c.trim().is_empty()) {
        bad("city", "must not be empty");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Validation(errors))
    }
}

fn not_found(e: RepoError) -> ServiceError {
    match e {
        RepoError::NotFound => ServiceError::NotFound("property"),
        other => other.into(),
    }
}

/// May `caller` manage this property? Admins always; owners if they own it.
fn can_manage(conn: &mut DbConnection, caller: &Caller, property: &Property) -> Result<bool, RepoError> {
    match caller.key() {
        Some(p) if p.is_admin() => Ok(true),
        Some(p) if p.role == Role::Owner => repo::is_owner(conn, property.id, p.user_id),
        _ => Ok(false),
    }
}

/// Loads a property the caller may manage: invisible ones are 404, visible but not theirs 403.
fn managed(conn: &mut DbConnection, caller: &Caller, public_id: &str) -> Result<Property, ServiceError> {
    let property = repo::by_public_id(conn, public_id).map_err(not_found)?;
    if can_manage(conn, caller, &property)? {
        return Ok(property);
    }
    if property.active {
        Err(ServiceError::Forbidden("only the property's owners and admins may change it".into()))
    } else {
        Err(ServiceError::NotFound("property"))
    }
}

fn details(conn: &mut DbConnection, property: Property) -> Result<PropertyDetails, RepoError> {
    let id = property.id;
    Ok(PropertyDetails {
        owners: repo::owners(conn, id)?,
        prices: repo::prices(conn, id)?,
        seasons: repo::seasons(conn, id)?,
        media: repo::media(conn, id)?,
        amenities: repo::amenities(conn, id)?,
        property,
    })
}

fn audit_ctx(caller: &Caller, request_id: Option<String>) -> AuditContext {
    AuditContext { actor: caller.actor(), request_id }
}

/// Creates a property. Owners own what they create; admins name `owner_ids`.
pub async fn create(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    input: PropertyInput,
) -> Result<PropertyDetails, ServiceError> {
    let principal = caller
        .key()
        .cloned()
        .ok_or(ServiceError::Forbidden("only owners and admins create properties".into()))?;
    principal.require(&[Role::Admin, Role::Owner])?;
    check_input(&input, true)?;
    if principal.role == Role::Owner && input.owner_ids.is_some() {
        return Err(ServiceError::Forbidden("only admins may name the owners".into()));
    }
    let ctx = audit_ctx(caller, request_id);
    in_tx(&desk.db, move |conn| {
        let now = models::time::now();
        let mut owner_ids = Vec::new();
        for id in input.owner_ids.clone().unwrap_or_default() {
            let user = users::by_public_id(conn, &id)
                .map_err(|_| ServiceError::invalid("owner_ids", format!("no user {id}")))?;
            if user.role != Role::Owner.as_str() {
                return Err(ServiceError::invalid("owner_ids", format!("{id} is not an owner")));
            }
            owner_ids.push(user.id);
        }
        if principal.role == Role::Owner {
            owner_ids.push(principal.user_id);
        }
        let property = repo::insert(
            conn,
            &NewProperty {
                public_id: public_id("prp"),
                name: input.name.clone().unwrap_or_default().trim().to_string(),
                description: input.description.clone().unwrap_or_default(),
                kind: input.kind.map(PropertyKind::as_str).unwrap_or("farm").into(),
                address: input.address.clone().unwrap_or_default(),
                city: input.city.clone().map(|c| c.trim().to_string()).unwrap_or_else(|| "Karachi".into()),
                province: input.province.clone().unwrap_or_default(),
                country: input.country.clone().unwrap_or_else(|| "Pakistan".into()),
                max_guests: input.max_guests.unwrap_or(1),
                contact_person: input.contact_person.clone().unwrap_or_default(),
                contact_number: input.contact_number.clone().unwrap_or_default(),
                advance_percent: input.advance_percent.unwrap_or(50),
                special_offer: input.special_offer.clone().filter(|s| !s.trim().is_empty()),
                active: input.active.unwrap_or(true),
                created_at: now,
                updated_at: now,
            },
        )?;
        for uid in owner_ids {
            repo::add_owner(conn, property.id, uid)?;
        }
        audit::record_success(
            conn,
            &ctx,
            "property.created",
            "property",
            &property.public_id,
            json!({"name": property.name, "kind": property.kind, "city": property.city}),
        )?;
        Ok(details(conn, property)?)
    })
    .await
}

/// Changes a property (owners of it and admins). Deactivating keeps its history.
pub async fn update(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    id: String,
    input: PropertyInput,
) -> Result<PropertyDetails, ServiceError> {
    check_input(&input, false)?;
    let caller = caller.clone();
    let ctx = audit_ctx(&caller, request_id);
    in_tx(&desk.db, move |conn| {
        let property = managed(conn, &caller, &id)?;
        if input.owner_ids.is_some() && !caller.is_admin() {
            return Err(ServiceError::Forbidden("only admins may change the owners".into()));
        }
        let changes = PropertyChanges {
            name: input.name.map(|n| n.trim().to_string()),
            description: input.description,
            kind: input.kind.map(|k| k.as_str().to_string()),
            address: input.address,
            city: input.city.map(|c| c.trim().to_string()),
            province: input.province,
            country: input.country,
            max_guests: input.max_guests,
            contact_person: input.contact_person,
            contact_number: input.contact_number,
            advance_percent: input.advance_percent,
            special_offer: input.special_offer.map(|s| Some(s).filter(|s| !s.trim().is_empty())),
            active: input.active,
            updated_at: Some(models::time::now()),
        };
        let after = repo::update(conn, property.id, &changes)?;
        if let Some(ids) = input.owner_ids {
            for id in ids {
                let user = users::by_public_id(conn, &id)
                    .map_err(|_| ServiceError::invalid("owner_ids", format!("no user {id}")))?;
                if user.role != Role::Owner.as_str() {
                    return Err(ServiceError::invalid("owner_ids", format!("{id} is not an owner")));
                }
                repo::add_owner(conn, after.id, user.id)?;
            }
        }
        let action =
            if property.active && !after.active { "property.deactivated" } else { "property.updated" };
        audit::record_success(
            conn,
            &ctx,
            action,
            "property",
            &after.public_id,
            json!({"active": after.active}),
        )?;
        Ok(details(conn, after)?)
    })
    .await
}

/// One property: active ones are public; inactive ones only for their owners and admins.
pub async fn get(desk: &Desk, caller: &Caller, id: String) -> Result<PropertyDetails, ServiceError> {
    let caller = caller.clone();
    with_conn(&desk.db, move |conn| {
        let property = repo::by_public_id(conn, &id).map_err(not_found)?;
        if !property.active && !can_manage(conn, &caller, &property)? {
            return Err(ServiceError::NotFound("property"));
        }
        Ok(details(conn, property)?)
    })
    .await
}

/// Listing filters.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Kind.
    pub kind: Option<PropertyKind>,
    /// City.
    pub city: Option<String>,
    /// Active flag (managers only; others see active ones).
    pub active: Option<bool>,
}

/// Properties: admins see all, owners theirs, everyone else the active ones.
pub async fn list(
    desk: &Desk,
    caller: &Caller,
    filter: ListFilter,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<PropertyDetails>, ServiceError> {
    let caller = caller.clone();
    with_conn(&desk.db, move |conn| {
        let mut f = PropertyFilter {
            kind: filter.kind.map(|k| k.as_str().to_string()),
            city: filter.city.map(|c| c.trim().to_string()),
            active: filter.active,
            ids: None,
        };
        match caller.key() {
            Some(p) if p.is_admin() => {}
            Some(p) if p.role == Role::Owner => f.ids = Some(repo::owned_by(conn, p.user_id)?),
            _ => f.active = Some(true),
        }
        let rows = repo::list(conn, &f, Page { limit, before })?;
        rows.into_iter().map(|p| details(conn, p).map_err(ServiceError::from)).collect()
    })
    .await
}

/// A weekly price in input.
#[derive(Clone, Debug)]
pub struct PriceInput {
    /// Monday = 0.
    pub weekday: i32,
    /// Shift.
    pub shift: Shift,
    /// Minor units (> 0).
    pub amount: i64,
}

/// A season in input.
#[derive(Clone, Debug)]
pub struct SeasonInput {
    /// Label.
    pub name: String,
    /// First date.
    pub start_date: NaiveDate,
    /// Last date (inclusive).
    pub end_date: NaiveDate,
    /// Prices that override the base ones within the season.
    pub prices: Vec<PriceInput>,
}

fn check_prices(field: &str, prices: &[PriceInput], errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, p) in prices.iter().enumerate() {
        if p.amount <= 0 {
            errors.push(FieldError {
                field: format!("{field}[{i}].amount"),
                message: "must be positive (minor units)".into(),
            });
        }
        if !seen.insert((p.weekday, p.shift)) {
            errors.push(FieldError {
                field: format!("{field}[{i}]"),
                message: "duplicates another weekday and shift".into(),
            });
        }
    }
}

/// Replaces a property's weekly prices, seasons and special offer.
pub async fn set_prices(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    id: String,
    prices: Vec<PriceInput>,
    seasons: Vec<SeasonInput>,
    special_offer: Option<String>,
) -> Result<PropertyDetails, ServiceError> {
    let mut errors = Vec::new();
    check_prices("prices", &prices, &mut errors);
    for (i, s) in seasons.iter().enumerate() {
        if s.name.trim().is_empty() {
            errors.push(FieldError { field: format!("seasons[{i}].name"), message: "is required".into() });
        }
        if s.start_date > s.end_date {
            errors.push(FieldError {
                field: format!("seasons[{i}].end_date"),
                message: "must not be before start_date".into(),
            });
        }
        check_prices(&format!("seasons[{i}].prices"), &s.prices, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let caller = caller.clone();
    let ctx = audit_ctx(&caller, request_id);
    in_tx(&desk.db, move |conn| {
        let property = managed(conn, &caller, &id)?;
        let rows: Vec<PropertyPrice> = prices
            .iter()
            .map(|p| PropertyPrice {
                property_id: property.id,
                weekday: p.weekday,
                shift: p.shift.as_str().into(),
                amount: p.amount,
            })
            .collect();
        repo::replace_prices(conn, property.id, &rows)?;
        let seasons: Vec<repo::SeasonWithPrices> = seasons
            .into_iter()
            .map(|s| {
                (
                    NewSeason {
                        property_id: property.id,
                        name: s.name.trim().to_string(),
                        start_date: s.start_date.to_string(),
                        end_date: s.end_date.to_string(),
                    },
                    s.prices
                        .into_iter()
                        .map(|p| (p.weekday, p.shift.as_str().to_string(), p.amount))
                        .collect(),
                )
            })
            .collect();
        repo::replace_seasons(conn, property.id, &seasons)?;
        let after = repo::update(
            conn,
            property.id,
            &PropertyChanges {
                special_offer: Some(special_offer.filter(|s| !s.trim().is_empty())),
                updated_at: Some(models::time::now()),
                ..PropertyChanges::default()
            },
        )?;
        audit::record_success(
            conn,
            &ctx,
            "property.prices_set",
            "property",
            &after.public_id,
            json!({"prices": rows.len(), "seasons": seasons.len()}),
        )?;
        Ok(details(conn, after)?)
    })
    .await
}

/// Adds a media item (http(s) URL).
pub async fn add_media(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    id: String,
    kind: MediaKind,
    url: String,
) -> Result<PropertyDetails, ServiceError> {
    let url = url.trim().to_string();
    // An http(s) URL, or a path on this Steward (`/pictures/…`, `/media/…`).
    let site_path = url.starts_with('/') && !url.starts_with("//");
    if !(url.starts_with("https://") || url.starts_with("http://") || site_path)
        || url.len() > 2000
        || url.contains(char::is_whitespace)
    {
        return Err(ServiceError::invalid(
            "url",
            "must be an http(s) URL or a path on this server, of at most 2000 characters",
        ));
    }
    let caller = caller.clone();
    let ctx = audit_ctx(&caller, request_id);
    in_tx(&desk.db, move |conn| {
        let property = managed(conn, &caller, &id)?;
        let media = repo::add_media(
            conn,
            NewPropertyMedia {
                public_id: public_id("med"),
                property_id: property.id,
                kind: kind.as_str().into(),
                url,
                position: 0,
                created_at: models::time::now(),
            },
        )?;
        audit::record_success(
            conn,
            &ctx,
            "property.media_added",
            "property",
            &property.public_id,
            json!({"media": media.public_id, "kind": media.kind}),
        )?;
        Ok(details(conn, property)?)
    })
    .await
}

/// Removes a media item.
pub async fn delete_media(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    id: String,
    media_id: String,
) -> Result<PropertyDetails, ServiceError> {
    let caller = caller.clone();
    let ctx = audit_ctx(&caller, request_id);
    in_tx(&desk.db, move |conn| {
        let property = managed(conn, &caller, &id)?;
        if !repo::delete_media(conn, property.id, &media_id)? {
            return Err(ServiceError::NotFound("media"));
        }
        audit::record_success(
            conn,
            &ctx,
            "property.media_removed",
            "property",
            &property.public_id,
            json!({"media": media_id}),
        )?;
        Ok(details(conn, property)?)
    })
    .await
}

/// Replaces the amenities with `(kind, value)` pairs.
pub async fn set_amenities(
    desk: &Desk,
    caller: &Caller,
    request_id: Option<String>,
    id: String,
    items: Vec<(String, String)>,
) -> Result<PropertyDetails, ServiceError> {
    let mut seen = HashSet::new();
    for (i, (k, v)) in items.iter().enumerate() {
        if k.trim().is_empty() || v.trim().is_empty() || k.len() > 100 || v.len() > 200 {
            return Err(ServiceError::invalid(
                &format!("amenities[{i}]"),
                "kind and value must be non-empty and short",
            ));
        }
        if !seen.insert((k.trim().to_lowercase(), v.trim().to_lowercase())) {
            return Err(ServiceError::invalid(&format!("amenities[{i}]"), "duplicates another amenity"));
        }
    }
    let caller = caller.clone();
    let ctx = audit_ctx(&caller, request_id);
    in_tx(&desk.db, move |conn| {
        let property = managed(conn, &caller, &id)?;
        let rows: Vec<Amenity> = items
            .into_iter()
            .map(|(k, v)| Amenity {
                property_id: property.id,
                kind: k.trim().to_string(),
                value: v.trim().to_string(),
            })
            .collect();
        repo::replace_amenities(conn, property.id, &rows)?;
        audit::record_success(
            conn,
            &ctx,
            "property.amenities_set",
            "property",
            &property.public_id,
            json!({"amenities": rows.len()}),
        )?;
        Ok(details(conn, property)?)
    })
    .await
}

/// Free shifts of one date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayAvailability {
    /// The date.
    pub date: NaiveDate,
    /// Whether each shift starting that day is free (in shift order day, night, full_day, full_night).
    pub free: Vec<(Shift, bool)>,
}

/// Most days one availability request covers.
pub const MAX_AVAILABILITY_DAYS: i64 = 62;

fn free_from(taken: &HashSet<(String, String)>, date: NaiveDate, shift: Shift) -> bool {
    shift.halves(date).iter().all(|(d, h)| !taken.contains(&(d.to_string(), h.as_str().to_string())))
}

/// Which shifts are free on each date of `[from, to]`.
pub async fn availability(
    desk: &Desk,
    caller: &Caller,
    id: String,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayAvailability>, ServiceError> {
    if to < from {
        return Err(ServiceError::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_AVAILABILITY_DAYS {
        return Err(ServiceError::invalid(
            "to",
            format!("the range is at most {MAX_AVAILABILITY_DAYS} days"),
        ));
    }
    let caller = caller.clone();
    with_conn(&desk.db, move |conn| {
        let property = repo::by_public_id(conn, &id).map_err(not_found)?;
        if !property.active && !can_manage(conn, &caller, &property)? {
            return Err(ServiceError::NotFound("property"));
        }
        let until = to + Duration::days(1);
        let taken: HashSet<(String, String)> =
            booking_repo::taken_slots(conn, property.id, &from.to_string(), &until.to_string())?
                .into_iter()
                .collect();
        let mut out = Vec::new();
        let mut date = from;
        while date <= to {
            out.push(DayAvailability {
                date,
                free: Shift::ALL.iter().map(|s| (*s, free_from(&taken, date, *s))).collect(),
            });
            date += Duration::days(1);
        }
        Ok(out)
    })
    .await
}

/// Whether every half-slot of a shift is free.
pub fn is_free(
    conn: &mut DbConnection,
    property_id: i64,
    date: NaiveDate,
    shift: Shift,
) -> Result<bool, RepoError> {
    let halves = shift.halves(date);
    let first = halves.first().map(|(d, _)| d.to_string()).unwrap_or_default();
    let last = halves.last().map(|(d, _)| d.to_string()).unwrap_or_default();
    let taken: HashSet<(String, String)> =
        booking_repo::taken_slots(conn, property_id, &first, &last)?.into_iter().collect();
    Ok(free_from(&taken, date, shift))
}

/// Why a shift cannot be booked, checked in this order: window, started, price.
pub fn bookable(
    conn: &mut DbConnection,
    rules: &Rules,
    property: &Property,
    date: NaiveDate,
    shift: Shift,
    now: NaiveDateTime,
) -> Result<i64, ServiceError> {
    if !property.active {
        return Err(ServiceError::unprocessable("PROPERTY_INACTIVE", "this property is not taking bookings"));
    }
    let today = rules.today(now);
    let last = rules.last_bookable(now);
    if date < today || date > last {
        return Err(ServiceError::unprocessable(
            "OUTSIDE_BOOKING_WINDOW",
            format!("bookings are open from {today} to {last}"),
        ));
    }
    let (start, _) = shift.window(date, rules.tz);
    if start.naive_utc() <= now {
        return Err(ServiceError::unprocessable(
            "SHIFT_STARTED",
            format!("the {} shift of {date} has already started", shift.label()),
        ));
    }
    repo::price_on(conn, property.id, &date.to_string(), weekday_index(date), shift.as_str())?.ok_or_else(
        || {
            ServiceError::unprocessable(
                "PRICE_NOT_SET",
                format!("{} has no price for a {} {} shift", property.name, date.format("%A"), shift.label()),
            )
        },
    )
}

/// A price quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Property id.
    pub property: String,
    /// Date.
    pub date: NaiveDate,
    /// Shift.
    pub shift: Shift,
    /// Total.
    pub total: Money,
    /// Advance due now.
    pub advance_due: Money,
    /// Paid on arrival.
    pub remainder: Money,
    /// Minutes the slot is held after booking.
    pub hold_minutes: u32,
    /// Whether the slot is free now.
    pub available: bool,
}

/// Quotes a shift; refusals (no price, window, started, inactive) are 422 with their code.
pub async fn quote(desk: &Desk, id: String, date: NaiveDate, shift: Shift) -> Result<Quote, ServiceError> {
    let rules = desk.rules.clone();
    let now = desk.clock.now();
    with_conn(&desk.db, move |conn| {
        let property = repo::by_public_id(conn, &id).map_err(not_found)?;
        if !property.active {
            return Err(ServiceError::NotFound("property"));
        }
        let total = bookable(conn, &rules, &property, date, shift, now)?;
        let advance = advance_due(total, property.advance_percent);
        Ok(Quote {
            property: property.public_id.clone(),
            date,
            shift,
            total: Money::new(total, &rules.currency),
            advance_due: Money::new(advance, &rules.currency),
            remainder: Money::new(total - advance, &rules.currency),
            hold_minutes: rules.hold_minutes,
            available: is_free(conn, property.id, date, shift)?,
        })
    })
    .await
}

/// Search input.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// Kind.
    pub kind: PropertyKind,
    /// Date.
    pub date: NaiveDate,
    /// Shift.
    pub shift: Shift,
    /// Party size.
    pub guests: i32,
    /// Lowest price (minor units).
    pub min_price: Option<i64>,
    /// Highest price.
    pub max_price: Option<i64>,
    /// City (case-insensitive).
    pub city: Option<String>,
    /// Country (case-insensitive).
    pub country: Option<String>,
    /// Page size, 1–[`MAX_SEARCH_PAGE`] (default [`DEFAULT_SEARCH_PAGE`]).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Results per search page unless asked otherwise.
pub const DEFAULT_SEARCH_PAGE: i64 = 20;
/// Most results per search page.
pub const MAX_SEARCH_PAGE: i64 = 100;

/// One search result.
#[derive(Clone, Debug)]
pub struct SearchHit {
    /// The property.
    pub property: models::rows_booking::PropertySummary,
    /// Price for the date and shift.
    pub price: i64,
    /// Advance due.
    pub advance: i64,
}

/// A page of search results and the cursor of the next one.
#[derive(Clone, Debug)]
pub struct SearchPage {
    /// Hits, by price then name.
    pub hits: Vec<SearchHit>,
    /// Pass as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// The search cursor: the last hit's `(price, name, id)`, opaque to clients.
mod search_cursor {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    pub fn encode(amount: i64, name: &str, id: i64) -> String {
        URL_SAFE_NO_PAD.encode(format!("s:{amount}:{id}:{name}"))
    }

    pub fn decode(c: &str) -> Option<(i64, String, i64)> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
        let mut parts = text.strip_prefix("s:")?.splitn(3, ':');
        let amount = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        Some((amount, parts.next()?.to_string(), id))
    }
}

/// Available properties for a date and shift, by price then name, a page at a time. The rules
/// are booking creation's ([`bookable`], [`is_free`]); the work is one query over the search
/// index that stops at the page size, whatever the catalogue's size.
pub async fn search(desk: &Desk, q: SearchQuery) -> Result<SearchPage, ServiceError> {
    let mut errors = Vec::new();
    if !(1..=10_000).contains(&q.guests) {
        errors.push(FieldError { field: "guests".into(), message: "must be 1 to 10000".into() });
    }
    if q.min_price.is_some_and(|p| p < 0) {
        errors.push(FieldError { field: "min_price".into(), message: "must not be negative".into() });
    }
    if q.max_price.is_some_and(|p| p < 0) {
        errors.push(FieldError { field: "max_price".into(), message: "must not be negative".into() });
    }
    if let (Some(lo), Some(hi)) = (q.min_price, q.max_price) {
        if lo > hi {
            errors.push(FieldError {
                field: "max_price".into(),
                message: "must not be below min_price".into(),
            });
        }
    }
    let limit = q.limit.unwrap_or(DEFAULT_SEARCH_PAGE);
    if !(1..=MAX_SEARCH_PAGE).contains(&limit) {
        errors.push(FieldError {
            field: "limit".into(),
            message: format!("must be from 1 to {MAX_SEARCH_PAGE}"),
        });
    }
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match search_cursor::decode(c) {
            Some(after) => Some(after),
            None => {
                errors.push(FieldError {
                    field: "cursor".into(),
                    message: "is not a cursor returned by this API".into(),
                });
                None
            }
        },
    };
    for (field, v) in [("city", &q.city), ("country", &q.country)] {
        if v.as_ref().is_some_and(|v| v.chars().count() > 100) {
            errors.push(FieldError { field: field.into(), message: "must be at most 100 characters".into() });
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    // The date and shift themselves must be bookable; a refusal says why instead of returning
    // nothing.
    let now = desk.clock.now();
    let (today, last) = (desk.rules.today(now), desk.rules.last_bookable(now));
    if q.date < today || q.date > last {
        return Err(ServiceError::unprocessable(
            "OUTSIDE_BOOKING_WINDOW",
            format!("bookings are open from {today} to {last}"),
        ));
    }
    if q.shift.window(q.date, desk.rules.tz).0.naive_utc() <= now {
        return Err(ServiceError::unprocessable(
            "SHIFT_STARTED",
            format!("the {} shift of {} has already started", q.shift.label(), q.date),
        ));
    }
    let query = repo::SearchQuery {
        kind: q.kind.as_str().to_string(),
        date: q.date.to_string(),
        weekday: weekday_index(q.date),
        shift: q.shift.as_str().to_string(),
        halves: slot_rows(q.date, q.shift).into_iter().map(|(d, h)| (d, h.to_string())).collect(),
        min_capacity: q
            .guests
            .saturating_sub(i32::try_from(desk.rules.capacity_tolerance).unwrap_or(i32::MAX)),
        min_price: q.min_price,
        max_price: q.max_price,
        city: q.city.as_deref().map(repo::search_key),
        country: q.country.as_deref().map(repo::search_key),
        after,
        limit,
    };
    let key = format!("{query:?}");
    let writes = desk.db.writes();
    if let Some(page) = desk.search_cache.get(&key, writes) {
        return Ok(page);
    }
    let rows = with_conn(&desk.db, move |conn| Ok(repo::search(conn, &query)?)).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|(p, amount)| search_cursor::encode(*amount, &p.name, p.id)))
        .flatten();
    let hits = rows
        .into_iter()
        .map(|(property, price)| {
            let advance = advance_due(price, property.advance_percent);
            SearchHit { property, price, advance }
        })
        .collect();
    let page = SearchPage { hits, next_cursor };
    desk.search_cache.put(key, writes, page.clone());
    Ok(page)
}

/// The halves a booking of `shift` on `date` takes, as stored.
pub fn slot_rows(date: NaiveDate, shift: Shift) -> Vec<(String, &'static str)> {
    shift.halves(date).into_iter().map(|(d, h): (NaiveDate, Half)| (d.to_string(), h.as_str())).collect()
}
