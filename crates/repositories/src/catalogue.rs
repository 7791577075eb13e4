//! Properties, their owners, prices (base and seasonal), media and amenities.

use diesel::prelude::*;
use models::rows_booking::{
    Amenity, NewProperty, NewPropertyMedia, NewSeason, Property, PropertyChanges, PropertyMedia,
    PropertyPrice, Season, SeasonPrice,
};
use models::schema::{
    properties, property_amenities, property_media, property_owners, property_prices, property_seasons,
    season_prices, users,
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

/// Active properties of a kind (search candidates), by name.
pub fn active_of_kind(conn: &mut DbConnection, kind: &str) -> Result<Vec<Property>, RepoError> {
    Ok(properties::table
        .filter(properties::active.eq(true))
        .filter(properties::kind.eq(kind))
        .order(properties::name.asc())
        .select(Property::as_select())
        .load(conn)?)
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
    Ok(())
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
    Ok(())
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
        .order(property_seasons::start_date.desc())
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
