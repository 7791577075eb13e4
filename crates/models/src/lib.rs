//! Steward domain types: enums, identifiers, time, and the diesel schema with its row structs.
//!
//! Everything here is backend-neutral: rows use portable SQL types (BigInt, Text, Timestamp,
//! Binary) so one query serves SQLite and PostgreSQL.

#[macro_use]
mod enums;
#[macro_use]
pub mod sql;
pub mod booking;
pub mod conversation;
pub mod ids;
pub mod rows;
pub mod rows_booking;
pub mod rows_spend;
pub mod schema;
pub mod spend;
pub mod time;
pub mod whatsapp;

pub use enums::{ActorType, AuditResult, IdempotencyState, KeyStatus, Role, UserStatus};

/// A stored or received text that is not one of an enum's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}; expected one of {expected:?}")]
pub struct UnknownVariant {
    /// The enum's name.
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
    /// The accepted values.
    pub expected: &'static [&'static str],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_text_and_json() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
            assert_eq!(serde_json::to_value(role).ok(), Some(serde_json::json!(role.as_str())));
        }
        let err = "root".parse::<Role>().expect_err("unknown role");
        assert!(err.to_string().contains("admin"));
        assert_eq!(IdempotencyState::InFlight.as_str(), "in_flight");
    }
}
