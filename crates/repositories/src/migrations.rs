//! Embedded migrations, one directory per backend with the same version names.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{DbConnection, RepoError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Applies pending migrations; returns the versions applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, RepoError> {
    let applied = match conn {
        DbConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES).map(versions),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
    };
    applied.map_err(|e| RepoError::Migration(e.to_string()))
}

/// Versions not yet applied (empty when the schema is current).
pub fn pending(conn: &mut DbConnection) -> Result<Vec<String>, RepoError> {
    let pending = match conn {
        DbConnection::Postgresql(c) => {
            c.pending_migrations(POSTGRES).map(|m| m.iter().map(|m| m.name().version().to_string()).collect())
        }
        DbConnection::Sqlite(c) => {
            c.pending_migrations(SQLITE).map(|m| m.iter().map(|m| m.name().version().to_string()).collect())
        }
    };
    pending.map_err(|e| RepoError::Migration(e.to_string()))
}

fn versions(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    v.into_iter().map(|v| v.to_string()).collect()
}
