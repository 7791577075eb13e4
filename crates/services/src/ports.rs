//! Ports: the traits through which services reach the world outside the process. Adapters live in
//! `integrations` (added by the features that need them); the clock is simple enough to live here.

use chrono::NaiveDateTime;

/// Source of the current time (UTC), replaceable in tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, UTC, microsecond precision.
    fn now(&self) -> NaiveDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        models::time::now()
    }
}
