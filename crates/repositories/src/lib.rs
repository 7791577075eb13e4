//! Steward database access.
//!
//! One [`DbConnection`] (`diesel::MultiConnection`) serves SQLite and PostgreSQL with the same query
//! code; [`Db`] owns an r2d2 pool whose manager picks the backend by URL scheme. Repository
//! functions are synchronous and take `&mut DbConnection`, so services can compose several of them
//! in one transaction ([`write_tx`]) inside one blocking task ([`Db::run`]).

pub mod api_keys;
pub mod audit;
pub mod bookings;
pub mod catalogue;
pub mod console_sessions;
pub mod conversations;
mod error;
pub mod gateway;
mod group;
pub mod guests;
pub mod idempotency;
pub mod jobs;
pub mod migrations;
pub mod payments;
mod pool;
pub mod stmt;
#[cfg(feature = "test-util")]
pub mod testing;
mod ttl;
pub mod users;
pub mod whatsapp;

pub use diesel::result::Error as DieselError;
pub use error::RepoError;
pub use pool::{write_tx, Backend, ConnectionManager, Db, DbConnection, DbOptions, PooledConnection};

/// Cursor pagination input: rows with internal id strictly below `before` (newest first).
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// Most rows to return.
    pub limit: i64,
    /// Return rows with id smaller than this.
    pub before: Option<i64>,
}
