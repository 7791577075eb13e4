//! Job adapters, one small file per domain: each turns a scheduler run into a call of the plain
//! service function that does the work.

pub mod booking;
pub mod conversations;
pub mod spend;
