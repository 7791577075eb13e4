//! The model catalogue (SPEC §4.1, §4.3): providers and models with list prices, seeded from
//! `catalogue/models.toml` (embedded in the binary), edited by admins with every price kept.
//! Model names are exact `provider/model`: an unknown name is refused with close matches, never
//! substituted.

use chrono::NaiveDateTime;
use models::rows_spend::{CatalogueModel, PriceHistory, ProviderRow};
use repositories::gateway::cache::DecisionCache;
use repositories::gateway::model_catalogue::{self as repo, ModelFilter};
use repositories::DbConnection;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, AuditContext};
use crate::gateway::decide::{Price, USDC};
use crate::gateway::in_tx_uncached;
use crate::{with_conn, FieldError, Principal, ServiceError};

/// The seed file shipped with Steward.
pub const SEED: &str = include_str!("../../../../catalogue/models.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    providers: Vec<SeedProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedProvider {
    name: String,
    kind: String,
    display_name: String,
    base_url: String,
    api_key_env: String,
    read_on: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    models: Vec<SeedModel>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedModel {
    model: String,
    category: String,
    capabilities: Vec<String>,
    #[serde(default)]
    context_window: i64,
    #[serde(default)]
    input: f64,
    #[serde(default)]
    output: f64,
    #[serde(default)]
    per_request: f64,
    #[serde(default)]
    per_image: f64,
    #[serde(default)]
    per_million_chars: f64,
}

/// US dollars (= USDC) to micro-USDC, rounded to the nearest micro.
fn micro(usd: f64) -> i64 {
    (usd * USDC as f64).round() as i64
}

/// Adds the providers and models of `seed` that are missing; returns `(providers, models)` added.
pub async fn seed(
    db: &repositories::Db,
    seed: &'static str,
    now: NaiveDateTime,
) -> Result<(usize, usize), ServiceError> {
    let file: SeedFile =
        toml::from_str(seed).map_err(|e| ServiceError::Internal(format!("catalogue seed: {e}")))?;
    in_tx_uncached(db, move |conn| {
        let (mut providers, mut added) = (0, 0);
        for p in file.providers {
            let row = ProviderRow {
                name: p.name.clone(),
                kind: p.kind,
                display_name: p.display_name,
                base_url: p.base_url,
                api_key_env: p.api_key_env,
                enabled: p.enabled,
                updated_at: now,
            };
            providers += usize::from(repo::insert_provider_if_missing(conn, &row)?);
            for m in p.models {
                let model = CatalogueModel {
                    provider: p.name.clone(),
                    model: m.model,
                    category: m.category,
                    capabilities: serde_json::to_string(&m.capabilities).unwrap_or_else(|_| "[]".into()),
                    context_window: m.context_window,
                    input_per_million: micro(m.input),
                    output_per_million: micro(m.output),
                    per_request: micro(m.per_request),
                    per_image: micro(m.per_image),
                    per_million_chars: micro(m.per_million_chars),
                    price_read_on: p.read_on.clone(),
                    active: true,
                    updated_at: now,
                };
                let source = format!("seed, list price read {}", p.read_on);
                added += usize::from(repo::insert_model_if_missing(conn, &model, &source, now)?);
            }
        }
        Ok((providers, added))
    })
    .await
}

/// Levenshtein distance (for suggestions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Up to three catalogued names close to `name` (edit distance or a shared part), closest first.
pub fn suggestions(all: &[String], name: &str) -> Vec<String> {
    let needle = name.to_lowercase();
    let model_part = needle.rsplit('/').next().unwrap_or(&needle).to_string();
    let mut scored: Vec<(usize, &String)> = all
        .iter()
        .filter_map(|candidate| {
            let c = candidate.to_lowercase();
            let d = distance(&needle, &c);
            let close = d <= (needle.len() / 3).max(3)
                || (model_part.len() >= 3 && c.contains(&model_part))
                || c.rsplit('/').next().is_some_and(|m| m.len() >= 3 && needle.contains(m));
            close.then_some((d, candidate))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c.clone()).collect()
}

/// [`ServiceError::ModelNotFound`] for `name`, suggesting catalogued names (active ones only,
/// if `active_only`).
fn missing(conn: &mut DbConnection, name: String, active_only: bool) -> Result<ServiceError, ServiceError> {
    let all: Vec<String> = repo::models(conn, &ModelFilter { active_only, ..Default::default() })?
        .into_iter()
        .map(|m| format!("{}/{}", m.provider, m.model))
        .collect();
    Ok(ServiceError::ModelNotFound { suggestions: suggestions(&all, &name), name })
}

/// The catalogued, active model of an enabled provider, or [`ServiceError::ModelNotFound`].
pub fn resolve(conn: &mut DbConnection, provider: &str, model: &str) -> Result<CatalogueModel, ServiceError> {
    match repo::offered(conn, provider, model)? {
        Some(m) => Ok(m),
        None => Err(missing(conn, format!("{provider}/{model}"), true)?),
    }
}

/// [`resolve`], from the gateway's cache when it was read a moment ago (a catalogue change made
/// here clears it; see `repositories::gateway::cache`).
pub fn resolve_cached(
    conn: &mut DbConnection,
    cache: &DecisionCache,
    provider: &str,
    model: &str,
) -> Result<CatalogueModel, ServiceError> {
    if let Some(m) = cache.price(provider, model) {
        return Ok(m);
    }
    let seen = cache.generation();
    let m = resolve(conn, provider, model)?;
    cache.put_price(seen, provider, model, &m);
    Ok(m)
}

/// The pipeline's price of a model.
pub fn price_of(m: &CatalogueModel) -> Price {
    Price {
        input_per_million: m.input_per_million,
        output_per_million: m.output_per_million,
        per_request: m.per_request.saturating_add(m.per_image),
        per_million_chars: m.per_million_chars,
    }
}

/// Every provider.
pub async fn providers(db: &repositories::Db) -> Result<Vec<ProviderRow>, ServiceError> {
    with_conn(db, |conn| Ok(repo::providers(conn)?)).await
}

/// Switches a provider on or off, or moves its base URL (admins). Takes effect for new
/// adapters at the next start.
pub async fn update_provider(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    name: String,
    enabled: Option<bool>,
    base_url: Option<String>,
    now: NaiveDateTime,
) -> Result<ProviderRow, ServiceError> {
    caller.require_admin()?;
    if let Some(u) = &base_url {
        let ok = url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(ServiceError::invalid("base_url", "must be an http(s) URL"));
        }
    }
    in_tx_uncached(db, move |conn| {
        if repo::provider(conn, &name)?.is_none() {
            return Err(ServiceError::NotFound("provider"));
        }
        repo::update_provider(conn, &name, enabled, base_url.as_deref(), now)?;
        audit::record_success(
            conn,
            &ctx,
            "provider.updated",
            "provider",
            &name,
            json!({"enabled": enabled, "base_url": base_url}),
        )?;
        repo::provider(conn, &name)?.ok_or(ServiceError::NotFound("provider"))
    })
    .await
}

/// Models matching the filter.
pub async fn models(db: &repositories::Db, filter: ModelFilter) -> Result<Vec<CatalogueModel>, ServiceError> {
    with_conn(db, move |conn| Ok(repo::models(conn, &filter)?)).await
}

/// One model and its price history.
pub async fn model(
    db: &repositories::Db,
    provider: String,
    model: String,
) -> Result<(CatalogueModel, Vec<PriceHistory>), ServiceError> {
    with_conn(db, move |conn| {
        let m = match repo::model(conn, &provider, &model)? {
            Some(m) => m,
            None => return Err(missing(conn, format!("{provider}/{model}"), false)?),
        };
        let history = repo::history(conn, &provider, &model)?;
        Ok((m, history))
    })
    .await
}

/// What an admin may change about a model (absent fields keep their value).
#[derive(Clone, Debug, Default)]
pub struct ModelChange {
    /// Category.
    pub category: Option<String>,
    /// Capabilities.
    pub capabilities: Option<Vec<String>>,
    /// Context window.
    pub context_window: Option<i64>,
    /// Micro-USDC per million input tokens.
    pub input_per_million: Option<i64>,
    /// Micro-USDC per million output tokens.
    pub output_per_million: Option<i64>,
    /// Micro-USDC per request.
    pub per_request: Option<i64>,
    /// Micro-USDC per image.
    pub per_image: Option<i64>,
    /// Micro-USDC per million characters.
    pub per_million_chars: Option<i64>,
    /// Offered.
    pub active: Option<bool>,
}

const CATEGORIES: [&str; 6] = ["chat", "completion", "embedding", "image", "audio", "vision"];

/// Creates or changes a model (admins); the previous price stays in the history.
pub async fn put_model(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    provider: String,
    model: String,
    change: ModelChange,
    now: NaiveDateTime,
) -> Result<CatalogueModel, ServiceError> {
    caller.require_admin()?;
    let mut errors = Vec::new();
    for (field, v) in [
        ("context_window", change.context_window),
        ("input_per_million", change.input_per_million),
        ("output_per_million", change.output_per_million),
        ("per_request", change.per_request),
        ("per_image", change.per_image),
        ("per_million_chars", change.per_million_chars),
    ] {
        if v.is_some_and(|v| v < 0) {
            errors.push(FieldError { field: field.into(), message: "must not be negative".into() });
        }
    }
    if change.category.as_deref().is_some_and(|c| !CATEGORIES.contains(&c)) {
        errors.push(FieldError {
            field: "category".into(),
            message: format!("must be one of {}", CATEGORIES.join(", ")),
        });
    }
    if model.trim().is_empty() || model.len() > 200 {
        errors.push(FieldError { field: "model".into(), message: "must be 1 to 200 characters".into() });
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let who = caller.user_public_id.clone();
    in_tx_uncached(db, move |conn| {
        if repo::provider(conn, &provider)?.is_none() {
            return Err(ServiceError::NotFound("provider"));
        }
        let existing = repo::model(conn, &provider, &model)?;
        let is_new = existing.is_none();
        let base = existing.unwrap_or(CatalogueModel {
            provider: provider.clone(),
            model: model.clone(),
            category: "chat".into(),
            capabilities: "[]".into(),
            context_window: 0,
            input_per_million: 0,
            output_per_million: 0,
            per_request: 0,
            per_image: 0,
            per_million_chars: 0,
            price_read_on: String::new(),
            active: true,
            updated_at: now,
        });
        let m = CatalogueModel {
            category: change.category.unwrap_or(base.category),
            capabilities: change
                .capabilities
                .map(|c| serde_json::to_string(&c).unwrap_or_else(|_| "[]".into()))
                .unwrap_or(base.capabilities),
            context_window: change.context_window.unwrap_or(base.context_window),
            input_per_million: change.input_per_million.unwrap_or(base.input_per_million),
            output_per_million: change.output_per_million.unwrap_or(base.output_per_million),
            per_request: change.per_request.unwrap_or(base.per_request),
            per_image: change.per_image.unwrap_or(base.per_image),
            per_million_chars: change.per_million_chars.unwrap_or(base.per_million_chars),
            price_read_on: format!("set by {who} on {}", now.format("%Y-%m-%d")),
            active: change.active.unwrap_or(base.active),
            updated_at: now,
            ..base
        };
        let source = format!("admin {who}");
        if is_new {
            repo::insert_model_if_missing(conn, &m, &source, now)?;
        } else {
            repo::update_model(conn, &m, &source, now)?;
        }
        audit::record_success(
            conn,
            &ctx,
            if is_new { "model.created" } else { "model.updated" },
            "model",
            &format!("{provider}/{model}"),
            json!({
                "input_per_million": m.input_per_million, "output_per_million": m.output_per_million,
                "per_request": m.per_request, "per_image": m.per_image,
                "per_million_chars": m.per_million_chars, "active": m.active,
            }),
        )?;
        Ok(m)
    })
    .await
}

/// The error for a name that is not `provider/model` of an offered model, with suggestions.
pub async fn not_found(db: &repositories::Db, name: String) -> ServiceError {
    let fallback = ServiceError::ModelNotFound { suggestions: Vec::new(), name: name.clone() };
    with_conn(db, move |conn| missing(conn, name, true)).await.unwrap_or(fallback)
}

/// The operation a model's category stands for.
fn operation_of(category: &str) -> crate::gateway::decide::Operation {
    use crate::gateway::decide::Operation;
    match category {
        "embedding" => Operation::Embedding,
        "image" => Operation::Image,
        "audio" => Operation::Audio,
        "vision" => Operation::Vision,
        "completion" => Operation::Completion,
        _ => Operation::Chat,
    }
}

/// Offered models that the caller's project policy (the key's or the named project; without
/// one, any of the caller's projects) and the system policy allow.
pub async fn allowed(
    db: &repositories::Db,
    caller: &Principal,
    project: Option<String>,
) -> Result<Vec<CatalogueModel>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let projects = match caller.project.clone().or(project) {
            Some(id) => match repositories::gateway::projects::by_public_id(conn, &id) {
                Ok(p) if p.user_id == caller.user_id => vec![p],
                Ok(_) | Err(repositories::RepoError::NotFound) => {
                    return Err(ServiceError::NotFound("project"))
                }
                Err(e) => return Err(e.into()),
            },
            None => repositories::gateway::projects::list(
                conn,
                Some(caller.user_id),
                repositories::Page { limit: 200, before: None },
            )?,
        };
        let system =
            crate::gateway::projects::parse_system(repositories::gateway::projects::system_policy(conn)?);
        let policies: Vec<crate::gateway::decide::Policy> = projects
            .iter()
            .map(|p| {
                Ok(crate::gateway::projects::parse_policy(repositories::gateway::projects::policy(
                    conn, p.id,
                )?))
            })
            .collect::<Result<_, ServiceError>>()?;
        let enabled: Vec<String> =
            repo::providers(conn)?.into_iter().filter(|p| p.enabled).map(|p| p.name).collect();
        Ok(repo::models(conn, &ModelFilter { active_only: true, ..Default::default() })?
            .into_iter()
            .filter(|m| enabled.contains(&m.provider))
            .filter(|m| {
                let op = operation_of(&m.category);
                policies.iter().any(|p| {
                    crate::gateway::decide::policy_check(&system, p, &m.provider, &m.model, op).is_ok()
                })
            })
            .collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_parses_and_prices_are_micro_usdc() {
        let file: SeedFile = toml::from_str(SEED).unwrap();
        let openai = file.providers.iter().find(|p| p.name == "openai").unwrap();
        let mini = openai.models.iter().find(|m| m.model == "gpt-4o-mini").unwrap();
        assert_eq!((micro(mini.input), micro(mini.output)), (150_000, 600_000));
        assert!(file.providers.iter().all(|p| !p.read_on.is_empty()));
    }

    #[test]
    fn suggestions_are_close_names_only() {
        let all: Vec<String> =
            ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-20250514", "local/echo"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(suggestions(&all, "openai/gpt-4o-mimi"), ["openai/gpt-4o-mini", "openai/gpt-4o"]);
        assert_eq!(suggestions(&all, "gpt4o/gpt-4o"), ["openai/gpt-4o", "openai/gpt-4o-mini"]);
        assert_eq!(suggestions(&all, "local/ech"), ["local/echo"]);
        assert!(suggestions(&all, "mistral/mixtral-8x7b").is_empty());
    }
}
