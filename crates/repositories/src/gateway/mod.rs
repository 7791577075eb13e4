//! The AI spend gateway's tables (SPEC §4): projects with their agents, budgets and policies;
//! the model catalogue; requests and their payments; the ledger of balance movements; the
//! reservations of budgets and balances; the running counters (rate-limit places, hourly and
//! daily totals); [`admission`], a call's two writes (admit, settle) alone or in batches; and
//! [`cache`], the decision's reads that only an admin or an owner changes.

pub mod admission;
pub mod cache;
pub mod counters;
pub mod ledger;
pub mod model_catalogue;
pub mod projects;
pub mod requests;
pub mod reservations;
