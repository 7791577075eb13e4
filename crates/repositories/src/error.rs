use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Errors of the data layer.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The row does not exist.
    #[error("row not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` names it (PostgreSQL constraint name,
    /// or `table.column` on SQLite).
    #[error("unique constraint `{constraint}` violated")]
    UniqueViolation {
        /// Constraint or `table.column`.
        constraint: String,
    },
    /// A foreign key refused the write.
    #[error("foreign key violated: {0}")]
    ForeignKeyViolation(String),
    /// A check constraint refused the write.
    #[error("check constraint violated: {0}")]
    CheckViolation(String),
    /// The database cannot be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The configuration of the database is wrong (bad URL, missing directory).
    #[error("{0}")]
    Config(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] DieselError),
    /// The blocking task running the query was cancelled or panicked.
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<DieselError> for RepoError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let constraint = info
                    .constraint_name()
                    .map(str::to_string)
                    .unwrap_or_else(|| sqlite_constraint(info.message()));
                match kind {
                    DatabaseErrorKind::UniqueViolation => Self::UniqueViolation { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => Self::ForeignKeyViolation(constraint),
                    DatabaseErrorKind::CheckViolation => Self::CheckViolation(constraint),
                    DatabaseErrorKind::ClosedConnection => Self::Unavailable(info.message().into()),
                    _ if info.message().contains("database is locked") => {
                        Self::Unavailable(info.message().into())
                    }
                    _ => Self::Database(DieselError::DatabaseError(kind, info)),
                }
            }
            other => Self::Database(other),
        }
    }
}

impl From<r2d2::Error> for RepoError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// SQLite reports `UNIQUE constraint failed: users.email`; keep the `table.column` part.
fn sqlite_constraint(message: &str) -> String {
    message.rsplit_once(": ").map(|(_, c)| c.to_string()).unwrap_or_else(|| message.to_string())
}

impl RepoError {
    /// True when a unique constraint whose name or columns contain `needle` was violated.
    pub fn is_unique(&self, needle: &str) -> bool {
        matches!(self, Self::UniqueViolation { constraint } if constraint.contains(needle))
    }
}
