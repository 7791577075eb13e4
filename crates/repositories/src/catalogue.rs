//! Properties, their owners, prices (base and seasonal), media and amenities.

use diesel::prelude::*;
use models::rows_booking::{
    Amenity, NewProperty, NewPropertyMedia, NewSearchPrice, NewSeason, Property, PropertyChanges,
    PropertyMedia, PropertyPrice, PropertySummary, Season, SeasonPrice,
};
use models::schema::{
    booking_slots, properties, property_amenities, property_media, property_owners, property_prices,
    property_seasons, search_prices, season_prices, users,
};

use crate::{DbConnection, Page, RepoError};

/// Inserts a property and returns it.
pub fn insert(conn: &mut DbConnection, new: &NewProperty) -> Result<Property, RepoError> {
    diesel::insert_into(properties::table).values(new).execute(conn)?;
    by_public_id(conn, &new.public_id)
}

/// The property with this public id.
pub fn by_public_id(conn: &mut DbConnection, public_id: &str) -> Result<Property, RepoError> {
    Ok(properties::table
        .filter(properties::public_id.eq(public_id))
        .select(Property::as_select())
        .first(conn)?)
}

/// The property with this internal id.
pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<Property, RepoError> {
    Ok(properties::table.find(id).select(Property::as_select()).first(conn)?)
}

/// Applies changes.
pub fn update(conn: &mut DbConnection, id: i64, changes: &PropertyChanges) -> Result<Property, RepoError> {
    diesel::update(properties::table.find(id)).set(changes).execute(conn)?;
    refresh_search(conn, id)?;
    by_id(conn, id)
}

/// Adds an owner (idempotent).
pub fn add_owner(conn: &mut DbConnection, property_id: i64, user_id: i64) -> Result<(), RepoError> {
    let exists: i64 = property_owners::table
        .filter(property_owners::property_id.eq(property_id))
        .filter(property_owners::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(property_owners::table)
            .values((property_owners::property_id.eq(property_id), property_owners::user_id.eq(user_id)))
            .execute(conn)?;
    }
    Ok(())
}

/// Public ids of a property's owners.
pub fn owners(conn: &mut DbConnection, property_id: i64) -> Result<Vec<String>, RepoError> {
    Ok(property_owners::table
        .inner_join(users::table)
        .filter(property_owners::property_id.eq(property_id))
        .select(users::public_id)
        .order(users::public_id.asc())
        .load(conn)?)
}

/// True when `user_id` owns the property.
pub fn is_owner(conn: &mut DbConnection, property_id: i64, user_id: i64) -> Result<bool, RepoError> {
    let n: i64 = property_owners::table
        .filter(property_owners::property_id.eq(property_id))
        .filter(property_owners::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Ids of the properties a user owns.
pub fn owned_by(conn: &mut DbConnection, user_id: i64) -> Result<Vec<i64>, RepoError> {
    Ok(property_owners::table
        .filter(property_owners::user_id.eq(user_id))
        .select(property_owners::property_id)
        .load(conn)?)
}

/// Listing filters.
#[derive(Clone, Debug, Default)]
pub struct PropertyFilter {
    /// `farm` or `hut`.
    pub kind: Option<String>,
    /// Exact city (compare case-insensitively in the caller's input normalisation).
    pub city: Option<String>,
    /// Active only / inactive only.
    pub active: Option<bool>,
    /// Only these ids (owners' view).
    pub ids: Option<Vec<i64>>,
}

/// Properties, newest first.
pub fn list(
    conn: &mut DbConnection,
    filter: &PropertyFilter,
    page: Page,
) -> Result<Vec<Property>, RepoError> {
    let mut q = properties::table
        .select(Property::as_select())
        .order(properties::id.desc())
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        q = q.filter(properties::id.lt(before));
    }
    if let Some(kind) = &filter.kind {
        q = q.filter(properties::kind.eq(kind.clone()));
    }
    if let Some(city) = &filter.city {
        q = q.filter(properties::city.eq(city.clone()));
    }
    if let Some(active) = filter.active {
        q = q.filter(properties::active.eq(active));
    }
    if let Some(ids) = &filter.ids {
        q = q.filter(properties::id.eq_any(ids.clone()));
    }
    Ok(q.load(conn)?)
}

/// Every active property, as lists show them (name resolution).
pub fn active_summaries(conn: &mut DbConnection) -> Result<Vec<PropertySummary>, RepoError> {
    Ok(properties::table
        .filter(properties::active.eq(true))
        .order(properties::name.asc())
        .select(PropertySummary::as_select())
        .load(conn)?)
}

/// Whether an active property of this kind has this name.
pub fn active_named(conn: &mut DbConnection, kind: &str, name: &str) -> Result<bool, RepoError> {
    use diesel::dsl::{exists, select};
    Ok(select(exists(
        properties::table
            .filter(properties::active.eq(true))
            .filter(properties::kind.eq(kind))
            .filter(properties::name.eq(name)),
    ))
    .get_result(conn)?)
}

/// Replaces the base weekly prices.
pub fn replace_prices(
    conn: &mut DbConnection,
    property_id: i64,
    prices: &[PropertyPrice],
) -> Result<(), RepoError> {
    diesel::delete(property_prices::table.filter(property_prices::property_id.eq(property_id)))
        .execute(conn)?;
    for p in prices {
        diesel::insert_into(property_prices::table).values(p).execute(conn)?;
    }
    refresh_search(conn, property_id)
}

/// Base prices of a property.
pub fn prices(conn: &mut DbConnection, property_id: i64) -> Result<Vec<PropertyPrice>, RepoError> {
    Ok(property_prices::table
        .filter(property_prices::property_id.eq(property_id))
        .order((property_prices::weekday.asc(), property_prices::shift.asc()))
        .select(PropertyPrice::as_select())
        .load(conn)?)
}

/// A season to store with its `(weekday, shift, amount)` prices.
pub type SeasonWithPrices = (NewSeason, Vec<(i32, String, i64)>);

/// Replaces the seasons and their prices.
pub fn replace_seasons(
    conn: &mut DbConnection,
    property_id: i64,
    seasons: &[SeasonWithPrices],
) -> Result<(), RepoError> {
    let old: Vec<i64> = property_seasons::table
        .filter(property_seasons::property_id.eq(property_id))
        .select(property_seasons::id)
        .load(conn)?;
    diesel::delete(season_prices::table.filter(season_prices::season_id.eq_any(old))).execute(conn)?;
    diesel::delete(property_seasons::table.filter(property_seasons::property_id.eq(property_id)))
        .execute(conn)?;
    for (season, season_prices_in) in seasons {
        diesel::insert_into(property_seasons::table).values(season).execute(conn)?;
        let id: i64 = property_seasons::table
            .filter(property_seasons::property_id.eq(property_id))
            .select(property_seasons::id)
            .order(property_seasons::id.desc())
            .first(conn)?;
        for (weekday, shift, amount) in season_prices_in {
            diesel::insert_into(season_prices::table)
                .values(&SeasonPrice {
                    season_id: id,
                    weekday: *weekday,
                    shift: shift.clone(),
                    amount: *amount,
                })
                .execute(conn)?;
        }
    }
    refresh_search(conn, property_id)
}

/// Seasons with their prices, by start date.
pub fn seasons(
    conn: &mut DbConnection,
    property_id: i64,
) -> Result<Vec<(Season, Vec<SeasonPrice>)>, RepoError> {
    let seasons: Vec<Season> = property_seasons::table
        .filter(property_seasons::property_id.eq(property_id))
        .order(property_seasons::start_date.asc())
        .select(Season::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(seasons.len());
    for s in seasons {
        let p = season_prices::table
            .filter(season_prices::season_id.eq(s.id))
            .order((season_prices::weekday.asc(), season_prices::shift.asc()))
            .select(SeasonPrice::as_select())
            .load(conn)?;
        out.push((s, p));
    }
    Ok(out)
}

/// The price of a shift on a date: a season covering the date with a price for the weekday and
/// shift wins over the base price. `None` when neither exists.
pub fn price_on(
    conn: &mut DbConnection,
    property_id: i64,
    date: &str,
    weekday: i32,
    shift: &str,
) -> Result<Option<i64>, RepoError> {
    let seasonal: Option<i64> = season_prices::table
        .inner_join(property_seasons::table)
        .filter(property_seasons::property_id.eq(property_id))
        .filter(property_seasons::start_date.le(date))
        .filter(property_seasons::end_date.ge(date))
        .filter(season_prices::weekday.eq(weekday))
        .filter(season_prices::shift.eq(shift))
        .order((property_seasons::start_date.desc(), property_seasons::id.desc()))
        .select(season_prices::amount)
        .first(conn)
        .optional()?;
    if seasonal.is_some() {
        return Ok(seasonal);
    }
    Ok(property_prices::table
        .filter(property_prices::property_id.eq(property_id))
        .filter(property_prices::weekday.eq(weekday))
        .filter(property_prices::shift.eq(shift))
        .select(property_prices::amount)
        .first(conn)
        .optional()?)
}

/// Appends a media item at the end.
pub fn add_media(conn: &mut DbConnection, mut new: NewPropertyMedia) -> Result<PropertyMedia, RepoError> {
    let last: Option<i32> = property_media::table
        .filter(property_media::property_id.eq(new.property_id))
        .select(diesel::dsl::max(property_media::position))
        .first(conn)?;
    new.position = last.map_or(1, |p| p + 1);
    diesel::insert_into(property_media::table).values(&new).execute(conn)?;
    Ok(property_media::table
        .filter(property_media::public_id.eq(&new.public_id))
        .select(PropertyMedia::as_select())
        .first(conn)?)
}

/// Removes a media item of a property; false when there was none.
pub fn delete_media(
    conn: &mut DbConnection,
    property_id: i64,
    media_public_id: &str,
) -> Result<bool, RepoError> {
    let n = diesel::delete(
        property_media::table
            .filter(property_media::property_id.eq(property_id))
            .filter(property_media::public_id.eq(media_public_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// A property's media, in order.
pub fn media(conn: &mut DbConnection, property_id: i64) -> Result<Vec<PropertyMedia>, RepoError> {
    Ok(property_media::table
        .filter(property_media::property_id.eq(property_id))
        .order(property_media::position.asc())
        .select(PropertyMedia::as_select())
        .load(conn)?)
}

/// Replaces the amenities.
pub fn replace_amenities(
    conn: &mut DbConnection,
    property_id: i64,
    items: &[Amenity],
) -> Result<(), RepoError> {
    diesel::delete(property_amenities::table.filter(property_amenities::property_id.eq(property_id)))
        .execute(conn)?;
    for a in items {
        diesel::insert_into(property_amenities::table).values(a).execute(conn)?;
    }
    Ok(())
}

/// A property's amenities.
pub fn amenities(conn: &mut DbConnection, property_id: i64) -> Result<Vec<Amenity>, RepoError> {
    Ok(property_amenities::table
        .filter(property_amenities::property_id.eq(property_id))
        .order((property_amenities::kind.asc(), property_amenities::value.asc()))
        .select(Amenity::as_select())
        .load(conn)?)
}

/// The key search compares cities and countries by: trimmed of spaces, ASCII lowercase (as the
/// migration's backfill computes it in SQL).
pub fn search_key(s: &str) -> String {
    s.trim_matches(' ').to_ascii_lowercase()
}

/// Rebuilds a property's rows of the search index from its row, prices and seasons (none when
/// it is inactive). Called by every function here that changes them, inside the caller's
/// transaction, so search never disagrees with the catalogue.
pub fn refresh_search(conn: &mut DbConnection, property_id: i64) -> Result<(), RepoError> {
    diesel::delete(search_prices::table.filter(search_prices::property_id.eq(property_id))).execute(conn)?;
    let p = by_id(conn, property_id)?;
    if !p.active {
        return Ok(());
    }
    let row = |weekday: i32, shift: String, amount: i64, valid: (&str, &str), rank: String| NewSearchPrice {
        property_id,
        kind: p.kind.clone(),
        city_key: search_key(&p.city),
        country_key: search_key(&p.country),
        max_guests: p.max_guests,
        weekday,
        shift,
        amount,
        sort_name: p.name.clone(),
        valid_from: valid.0.to_string(),
        valid_to: valid.1.to_string(),
        rank,
    };
    for base in prices(conn, property_id)? {
        let new = row(base.weekday, base.shift, base.amount, ("0000-01-01", "9999-12-31"), String::new());
        diesel::insert_into(search_prices::table).values(&new).execute(conn)?;
    }
    for (season, season_prices_of) in seasons(conn, property_id)? {
        let rank = format!("{}#{:020}", season.start_date, season.id);
        for sp in season_prices_of {
            let valid = (season.start_date.as_str(), season.end_date.as_str());
            let new = row(sp.weekday, sp.shift, sp.amount, valid, rank.clone());
            diesel::insert_into(search_prices::table).values(&new).execute(conn)?;
        }
    }
    Ok(())
}

/// A search (SPEC §2.3) as the index answers it.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// `farm` or `hut`.
    pub kind: String,
    /// Date `YYYY-MM-DD`.
    pub date: String,
    /// 0 = Monday.
    pub weekday: i32,
    /// Shift wire value.
    pub shift: String,
    /// The half-slots the shift occupies, `(date, half)`: one or two.
    pub halves: Vec<(String, String)>,
    /// Smallest `max_guests` that fits the party (guests − tolerance).
    pub min_capacity: i32,
    /// Lowest price.
    pub min_price: Option<i64>,
    /// Highest price.
    pub max_price: Option<i64>,
    /// City key ([`search_key`]).
    pub city: Option<String>,
    /// Country key ([`search_key`]).
    pub country: Option<String>,
    /// Continue after `(amount, name, property id)`.
    pub after: Option<(i64, String, i64)>,
    /// Most rows.
    pub limit: i64,
}

/// Free, priced properties for the query, by price, then name, then id: the index is walked in
/// that order and the walk stops at `limit`, so a page costs the same however large the
/// catalogue. The statement has one of two fixed shapes (with or without a city, so the city
/// index serves the first), with absent bounds as full ranges, so both backends prepare it once
/// per connection and reuse it.
pub fn search(conn: &mut DbConnection, q: &SearchQuery) -> Result<Vec<(PropertySummary, i64)>, RepoError> {
    use diesel::dsl::{exists, not};
    diesel::alias!(search_prices as newer: NewerSearchPrice);
    let (h1, h2) = match q.halves.as_slice() {
        [a] => (a.clone(), a.clone()),
        [a, b, ..] => (a.clone(), b.clone()),
        [] => return Ok(Vec::new()),
    };
    let (country_lo, country_hi) = match &q.country {
        Some(c) => (c.clone(), c.clone()),
        None => (String::new(), "\u{10FFFF}".to_string()),
    };
    let (after_amount, after_name, after_id) = q.after.clone().unwrap_or((i64::MIN, String::new(), i64::MIN));
    let (lo, hi) = (q.min_price.unwrap_or(i64::MIN), q.max_price.unwrap_or(i64::MAX));
    macro_rules! run {
        ($city_filter:expr) => {{
            let overridden = newer
                .filter(newer.field(search_prices::property_id).eq(search_prices::property_id))
                .filter(newer.field(search_prices::weekday).eq(search_prices::weekday))
                .filter(newer.field(search_prices::shift).eq(search_prices::shift))
                .filter(newer.field(search_prices::valid_from).le(&q.date))
                .filter(newer.field(search_prices::valid_to).ge(&q.date))
                .filter(newer.field(search_prices::rank).gt(search_prices::rank));
            let taken = |(date, half): &(String, String)| {
                booking_slots::table
                    .filter(booking_slots::property_id.eq(search_prices::property_id))
                    .filter(booking_slots::date.eq(date.clone()))
                    .filter(booking_slots::half.eq(half.clone()))
            };
            search_prices::table
                .inner_join(properties::table)
                .filter(search_prices::kind.eq(&q.kind))
                .filter($city_filter)
                .filter(search_prices::weekday.eq(q.weekday))
                .filter(search_prices::shift.eq(&q.shift))
                .filter(search_prices::valid_from.le(&q.date))
                .filter(search_prices::valid_to.ge(&q.date))
                .filter(search_prices::max_guests.ge(q.min_capacity))
                .filter(search_prices::country_key.between(&country_lo, &country_hi))
                .filter(search_prices::amount.between(lo, hi))
                .filter(search_prices::amount.gt(after_amount).or(
                    search_prices::amount.eq(after_amount).and(search_prices::sort_name.gt(&after_name).or(
                        search_prices::sort_name.eq(&after_name).and(search_prices::property_id.gt(after_id)),
                    )),
                ))
                .filter(not(exists(overridden)))
                .filter(not(exists(taken(&h1))))
                .filter(not(exists(taken(&h2))))
                .select((PropertySummary::as_select(), search_prices::amount))
                .order((
                    search_prices::amount.asc(),
                    search_prices::sort_name.asc(),
                    search_prices::property_id.asc(),
                ))
                .limit(q.limit)
                .load(conn)?
        }};
    }
    Ok(match &q.city {
        Some(city) => run!(search_prices::city_key.eq(city)),
        None => run!(search_prices::kind.eq(&q.kind)),
    })
}
