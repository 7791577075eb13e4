//! Instants are stored as UTC `TIMESTAMP` with microsecond precision on both backends.

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// Now in UTC, truncated to microseconds so that it round-trips through either database unchanged.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// Formats a stored UTC timestamp as RFC 3339 with microseconds and `Z`.
pub fn rfc3339(ts: NaiveDateTime) -> String {
    ts.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
