//! sched-web's tests, one binary: the JSON API, the pages, the safety rules, the
//! store-only dashboard, the live feed. (The browser and schemathesis runs are in
//! crates/sched-scenarios, against the Axum example.)

#![allow(clippy::unwrap_used, missing_docs)]

mod api;
mod common;
mod pages;
