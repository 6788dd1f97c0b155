//! sched's cross-crate scenario tests (`tests/`): the examples run to completion on
//! simulated time, stores and schedulers together (SQLite and Postgres restarts, bad
//! rows, several nodes on one Postgres, outages), and a signal sent to a real process
//! (`src/bin/sigterm_probe.rs`). Nothing here is published.

/// README.md's Rust code blocks, compiled (and the first one run) as doc tests, so
/// what a newcomer copies stays true. Here, not in the root crate, because they use
/// the Postgres store and the examples' crate does not build the Postgres driver.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
