//! The AI spend gateway's wing (SPEC §4). It grows here piece by piece from `requests`:
//! [`call`] is the shape of a call and its edge checks.

pub mod call;
