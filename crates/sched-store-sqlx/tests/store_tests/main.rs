//! The stores' tests, one binary (a binary per file would compile and link sqlx and
//! Tokio again for each).

mod cancel;
mod common;
mod history;
mod overlap;
mod postgres;
mod relay;
mod schema_names;
mod sqlite;
