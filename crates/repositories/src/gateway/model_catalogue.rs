//! The model catalogue: providers, models with list prices, and every price a model has had.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use models::rows_spend::{CatalogueModel, PriceHistory, ProviderRow};
use models::schema::{catalogue_models, model_price_history, providers};

use crate::{DbConnection, RepoError};

/// Every provider, by name.
pub fn providers(conn: &mut DbConnection) -> Result<Vec<ProviderRow>, RepoError> {
    Ok(providers::table.select(ProviderRow::as_select()).order(providers::name).load(conn)?)
}

/// One provider.
pub fn provider(conn: &mut DbConnection, name: &str) -> Result<Option<ProviderRow>, RepoError> {
    Ok(providers::table.find(name).select(ProviderRow::as_select()).first(conn).optional()?)
}

/// Inserts a provider unless one of that name exists; `true` when inserted.
pub fn insert_provider_if_missing(conn: &mut DbConnection, p: &ProviderRow) -> Result<bool, RepoError> {
    if provider(conn, &p.name)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(providers::table).values(p).execute(conn)?;
    Ok(true)
}

/// Switches a provider on or off and/or moves its base URL.
pub fn update_provider(
    conn: &mut DbConnection,
    name: &str,
    enabled: Option<bool>,
    base_url: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    if let Some(e) = enabled {
        diesel::update(providers::table.find(name))
            .set((providers::enabled.eq(e), providers::updated_at.eq(now)))
            .execute(conn)?;
    }
    if let Some(u) = base_url {
        diesel::update(providers::table.find(name))
            .set((providers::base_url.eq(u), providers::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Filters of the model list.
#[derive(Clone, Debug, Default)]
pub struct ModelFilter {
    /// Provider name.
    pub provider: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Case-insensitive substring of `provider/model`.
    pub search: Option<String>,
    /// Only active models.
    pub active_only: bool,
}

/// Models matching the filter, by provider then model.
pub fn models(conn: &mut DbConnection, f: &ModelFilter) -> Result<Vec<CatalogueModel>, RepoError> {
    let mut q = catalogue_models::table
        .select(CatalogueModel::as_select())
        .order((catalogue_models::provider, catalogue_models::model))
        .into_boxed();
    if let Some(p) = &f.provider {
        q = q.filter(catalogue_models::provider.eq(p.clone()));
    }
    if let Some(c) = &f.category {
        q = q.filter(catalogue_models::category.eq(c.clone()));
    }
    if f.active_only {
        q = q.filter(catalogue_models::active.eq(true));
    }
    let rows = q.load(conn)?;
    Ok(match &f.search {
        None => rows,
        Some(s) => {
            let s = s.to_lowercase();
            rows.into_iter()
                .filter(|m| format!("{}/{}", m.provider, m.model).to_lowercase().contains(&s))
                .collect()
        }
    })
}

/// One model.
pub fn model(
    conn: &mut DbConnection,
    provider: &str,
    model: &str,
) -> Result<Option<CatalogueModel>, RepoError> {
    Ok(catalogue_models::table
        .find((provider, model))
        .select(CatalogueModel::as_select())
        .first(conn)
        .optional()?)
}

fn record_history(
    conn: &mut DbConnection,
    m: &CatalogueModel,
    source: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    diesel::insert_into(model_price_history::table)
        .values((
            model_price_history::provider.eq(&m.provider),
            model_price_history::model.eq(&m.model),
            model_price_history::input_per_million.eq(m.input_per_million),
            model_price_history::output_per_million.eq(m.output_per_million),
            model_price_history::per_request.eq(m.per_request),
            model_price_history::per_image.eq(m.per_image),
            model_price_history::per_million_chars.eq(m.per_million_chars),
            model_price_history::source.eq(source),
            model_price_history::effective_from.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Inserts a model unless it exists (its first price goes to the history); `true` when inserted.
pub fn insert_model_if_missing(
    conn: &mut DbConnection,
    m: &CatalogueModel,
    source: &str,
    now: NaiveDateTime,
) -> Result<bool, RepoError> {
    if model(conn, &m.provider, &m.model)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(catalogue_models::table).values(m).execute(conn)?;
    record_history(conn, m, source, now)?;
    Ok(true)
}

/// Replaces a model's prices, category, capabilities, context window and active flag, keeping
/// the old price in the history. `NotFound` when the model does not exist.
pub fn update_model(
    conn: &mut DbConnection,
    m: &CatalogueModel,
    source: &str,
    now: NaiveDateTime,
) -> Result<(), RepoError> {
    let n = diesel::update(catalogue_models::table.find((&m.provider, &m.model)))
        .set((
            catalogue_models::category.eq(&m.category),
            catalogue_models::capabilities.eq(&m.capabilities),
            catalogue_models::context_window.eq(m.context_window),
            catalogue_models::input_per_million.eq(m.input_per_million),
            catalogue_models::output_per_million.eq(m.output_per_million),
            catalogue_models::per_request.eq(m.per_request),
            catalogue_models::per_image.eq(m.per_image),
            catalogue_models::per_million_chars.eq(m.per_million_chars),
            catalogue_models::price_read_on.eq(&m.price_read_on),
            catalogue_models::active.eq(m.active),
            catalogue_models::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(RepoError::NotFound);
    }
    record_history(conn, m, source, now)
}

/// Every price a model has had, oldest first.
pub fn history(conn: &mut DbConnection, provider: &str, model: &str) -> Result<Vec<PriceHistory>, RepoError> {
    Ok(model_price_history::table
        .filter(model_price_history::provider.eq(provider))
        .filter(model_price_history::model.eq(model))
        .select(PriceHistory::as_select())
        .order(model_price_history::id.asc())
        .load(conn)?)
}

/// An active model of an enabled provider (one statement).
pub fn offered(
    conn: &mut DbConnection,
    provider: &str,
    model: &str,
) -> Result<Option<CatalogueModel>, RepoError> {
    let enabled = providers::table.filter(providers::name.eq(provider)).filter(providers::enabled.eq(true));
    Ok(catalogue_models::table
        .filter(catalogue_models::provider.eq(provider))
        .filter(catalogue_models::model.eq(model))
        .filter(catalogue_models::active.eq(true))
        .filter(diesel::dsl::exists(enabled))
        .select(CatalogueModel::as_select())
        .first(conn)
        .optional()?)
}
