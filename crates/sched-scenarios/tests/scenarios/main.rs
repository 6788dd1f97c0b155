//! sched's cross-crate scenarios, one test binary (each `tests/*.rs` file would be a
//! binary of its own, compiled and linked again with sqlx, Tokio and sched).

mod backfill;
mod bad_data;
mod catch_up;
mod compose_file;
mod dashboard;
mod examples;
mod nesting_depth;
mod postgres_claim_ahead;
mod postgres_nodes;
mod postgres_outage;
mod postgres_retry;
mod readme;
mod results;
mod signals;
mod sqlite_paused;
mod sqlite_restart;
