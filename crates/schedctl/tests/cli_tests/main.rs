//! schedctl's tests, one binary (a binary per file would compile and link sqlx and
//! Tokio again for each): they run the built `schedctl` as a user would.

mod cli;
mod next;
mod store;
