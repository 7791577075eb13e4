//! Platform accounts: deposits credit the balance (admins), and every movement is on the ledger.

use crate::gateway::in_tx_uncached;
use chrono::NaiveDateTime;
use models::rows::LedgerEntry;
use models::AuditResult;
use repositories::{gateway::ledger, users, Page, RepoError};
use serde_json::json;

use crate::audit::{self, AuditContext, Entry};
use crate::gateway::decide::USDC;
use crate::{in_tx, with_conn, Principal, ServiceError};

/// Largest single deposit: one million USDC.
pub const MAX_DEPOSIT: i64 = 1_000_000 * USDC;

fn user_not_found(e: RepoError) -> ServiceError {
    match e {
        RepoError::NotFound => ServiceError::NotFound("user"),
        other => other.into(),
    }
}

/// Credits `amount` micro-USDC to a user's balance (admins), audited and on the ledger.
pub async fn deposit(
    db: &repositories::Db,
    ctx: AuditContext,
    caller: &Principal,
    user_public_id: String,
    amount: i64,
    note: Option<String>,
    now: NaiveDateTime,
) -> Result<LedgerEntry, ServiceError> {
    caller.require_admin()?;
    if !(1..=MAX_DEPOSIT).contains(&amount) {
        return Err(ServiceError::invalid("amount", "must be 1 to 1 000 000 000 000 micro-USDC"));
    }
    let note = note.unwrap_or_default();
    if note.chars().count() > 500 {
        return Err(ServiceError::invalid("note", "must be at most 500 characters"));
    }
    in_tx(db, move |conn| {
        let user = users::by_public_id(conn, &user_public_id).map_err(user_not_found)?;
        let entry = ledger::move_balance(conn, user.id, "deposit", amount, None, &note, now)?;
        audit::record(
            conn,
            &ctx,
            Entry {
                action: "account.deposit",
                subject_type: "user",
                subject_id: Some(&user.public_id),
                details: json!({"amount": amount, "currency": "USDC", "balance_after": entry.balance_after, "ledger": entry.public_id}),
                result: AuditResult::Success,
            },
        )?;
        Ok(entry)
    })
    .await
}

/// A user's ledger (admins, or the user themselves), newest first.
pub async fn ledger_of(
    db: &repositories::Db,
    caller: &Principal,
    user_public_id: String,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<LedgerEntry>, ServiceError> {
    let caller = caller.clone();
    with_conn(db, move |conn| {
        let user = users::by_public_id(conn, &user_public_id).map_err(user_not_found)?;
        if user.id != caller.user_id && !caller.is_admin() {
            return Err(ServiceError::NotFound("user"));
        }
        Ok(ledger::entries(conn, user.id, Page { limit, before })?)
    })
    .await
}

/// `steward demo`: a verified gateway user with 50 USDC, a project whose policy allows the free
/// `local/echo` model, and a member key. Idempotent; returns the user and project public ids.
pub async fn seed_demo(db: &repositories::Db, now: NaiveDateTime) -> Result<(String, String), ServiceError> {
    use crate::gateway::decide::Policy;
    let user = crate::users::ensure(
        db,
        AuditContext::system(),
        "Demo Member",
        "member@demo.steward.local",
        models::Role::Member,
    )
    .await?;
    let user_id = user.id;
    let (project, _) = in_tx_uncached(db, move |conn| {
        let u = verify_and_credit(conn, user_id, "demo credit", now)?;
        let existing =
            repositories::gateway::projects::list(conn, Some(u.id), Page { limit: 200, before: None })?
                .into_iter()
                .find(|p| p.name == "Demo Project");
        let project = match existing {
            Some(p) => p,
            None => {
                let p = repositories::gateway::projects::insert(
                    conn,
                    &models::ids::public_id("prj"),
                    u.id,
                    "Demo Project",
                    "Created by steward demo",
                    now,
                )?;
                let policy = Policy {
                    allowed_providers: vec!["local".into()],
                    allowed_models: vec!["local/echo".into()],
                    ..Policy::default()
                };
                let doc =
                    serde_json::to_string(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
                repositories::gateway::projects::set_policy(conn, p.id, &doc, now)?;
                p
            }
        };
        Ok((project, ()))
    })
    .await?;
    Ok((user.public_id, project.public_id))
}

/// The demo's account set-up: the user verified, and 50 USDC deposited once (when the ledger is
/// still empty). Idempotent.
fn verify_and_credit(
    conn: &mut repositories::DbConnection,
    user_id: i64,
    note: &str,
    now: NaiveDateTime,
) -> Result<models::rows::User, ServiceError> {
    let u = users::by_id(conn, user_id)?;
    if !u.verified {
        users::update(
            conn,
            u.id,
            &users::UserChanges { verified: Some(true), updated_at: Some(now), ..Default::default() },
        )?;
    }
    if ledger::entries(conn, u.id, Page { limit: 1, before: None })?.is_empty() {
        ledger::move_balance(conn, u.id, "deposit", 50 * USDC, None, note, now)?;
    }
    Ok(u)
}

/// `steward demo`: the platform user is verified and funded (50 USDC), and `booking-desk`'s
/// policy allows the models the desk calls (`agent.model`, `payments.extractor_model`; empty
/// ones are skipped). Idempotent; returns the project's public id.
pub async fn fund_platform(
    db: &repositories::Db,
    desk_models: &[&str],
    now: NaiveDateTime,
) -> Result<String, ServiceError> {
    let (user, project) = crate::platform::ensure(db).await?;
    let allowed: Vec<String> =
        desk_models.iter().map(|m| m.trim().to_string()).filter(|m| m.contains('/')).collect();
    let (user_id, project_c) = (user.id, project.clone());
    in_tx_uncached(db, move |conn| {
        verify_and_credit(conn, user_id, "demo credit for the booking agent", now)?;
        if !allowed.is_empty() {
            let p = repositories::gateway::projects::by_public_id(conn, &project_c)?;
            let mut policy =
                crate::gateway::projects::parse_policy(repositories::gateway::projects::policy(conn, p.id)?);
            for model in allowed {
                let provider = model.split_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
                if !policy.allowed_providers.contains(&provider) {
                    policy.allowed_providers.push(provider);
                }
                if !policy.allowed_models.contains(&model) {
                    policy.allowed_models.push(model);
                }
            }
            let doc = serde_json::to_string(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
            repositories::gateway::projects::set_policy(conn, p.id, &doc, now)?;
        }
        Ok(())
    })
    .await?;
    Ok(project)
}
