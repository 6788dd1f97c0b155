//! Policy: pure decisions the runtime and every store carry out.
//!
//! [`decide`] answers "which of a job's overdue runs start now"; [`claim`] builds on it
//! the whole plan of a store's claim.

pub mod claim;
mod misfire;

pub use self::misfire::{decide, Decision, Skipped};
