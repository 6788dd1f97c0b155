//! Policy: pure decisions the runtime and every store carry out.

mod misfire;

pub use self::misfire::{decide, Decision, Skipped};
