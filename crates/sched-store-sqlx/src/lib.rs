//! # sched-store-sqlx
//!
//! Persistent job stores for [sched](https://github.com/sched-rs/sched), on sqlx:
//!
//! - [`SqliteStore`] (feature `sqlite`): the embedded default persistent store, one
//!   file per application (`sqlite://jobs.sqlite?mode=rwc`). One process at a time:
//!   a second scheduler on the same file is refused with a clear error.
//! - [`PostgresStore`] (feature `postgres`): the shared store. Several nodes (service
//!   replicas) on one Postgres fire each due run exactly once: claims lock due rows
//!   `FOR UPDATE SKIP LOCKED`, and a unique key on (job, scheduled time) in the runs
//!   table makes a second claim of one occurrence impossible at the database.
//!
//! Both are a [`SqlStore`] — one implementation of the store contract, with each
//! database's statements — embed their migrations and run them on
//! connect unless told not to, and pass sched-core's `JobStore` contract suite. Jobs
//! keep their task name, JSON arguments, trigger, options, next run time and paused
//! flag across restarts; runs missed while the process was down follow the job's
//! misfire and coalesce options. A row that cannot be decoded (an unknown trigger
//! kind from a newer version, corrupt JSON) is reported with its id and left in place,
//! never deleted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sched_core::Error> {
//! use std::sync::Arc;
//! use sched_core::store::JobStore;
//! use sched_store_sqlx::SqliteStore;
//!
//! let store: Arc<dyn JobStore> = Arc::new(SqliteStore::connect("sqlite://jobs.sqlite?mode=rwc").await?);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod claim;
mod codec;
mod dialect;
mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use crate::builder::{SqlStoreBuilder, DEFAULT_SUCCESSES_KEPT};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use crate::postgres::{PostgresEventRelay, PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use crate::sqlite::{SqliteStore, SqliteStoreBuilder};
pub use crate::store::{SqlStore, SHARED_CLAIM_AHEAD};

/// The Postgres claim statement for `schema`, for sched's own benchmark (it runs
/// `EXPLAIN` on it). Not part of the API.
#[doc(hidden)]
#[cfg(feature = "postgres")]
pub fn __postgres_claim_sql(schema: &str) -> String {
    crate::postgres::claim_sql(schema)
}

/// A database failure as the store contract's error.
pub(crate) fn store_error(error: impl Into<sqlx::Error>) -> sched_core::Error {
    sched_core::Error::Store(Box::new(error.into()))
}

/// A builder setting out of its range.
pub(crate) fn invalid(
    setting: &'static str,
    value: String,
    rule: impl Into<String>,
) -> sched_core::Error {
    sched_core::Error::InvalidConfiguration {
        setting,
        value,
        rule: rule.into(),
    }
}

/// Schema names are spliced into SQL, so only plain identifiers are accepted, and only
/// ones the migrations can live in; all of it is checked before any SQL runs.
///
/// - Upper-case letters are refused: Postgres folds an unquoted name to lower case, so
///   the migrations (run with an unquoted `search_path`) would miss a mixed-case schema
///   and leave it empty behind them.
/// - Postgres's own schemas (`information_schema`, `pg_catalog` and every `pg_*`) are
///   refused, and so is `public` unless `allow_public` (`allow_public_schema()`): there
///   sched's `jobs`, `runs` and `nodes` would sit among the application's own tables.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn check_identifier(name: &str, allow_public: bool) -> sched_core::Result<()> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48;
    let refused = |rule: String| Err(invalid("schema", format!("{name:?}"), rule));
    if !plain {
        refused("letters, digits and _ (at most 48, not starting with a digit)".into())
    } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
        refused(format!(
            "upper-case letters are not allowed (Postgres folds unquoted names to lower case, \
             so the migrations would miss a mixed-case schema): use lower-case letters, digits \
             and _, e.g. {:?}",
            name.to_ascii_lowercase()
        ))
    } else if name.starts_with("pg_") || name == "information_schema" {
        refused(
            "a system schema of Postgres (information_schema and pg_* are reserved): \
             choose a name of your own, e.g. \"sched\""
                .into(),
        )
    } else if name == "public" && !allow_public {
        refused(
            "public is shared with the database's own tables, where sched's jobs, runs and \
             nodes would sit among them: use a schema of your own (the default \"sched\"), \
             or ask for public explicitly with allow_public_schema()"
                .into(),
        )
    } else {
        Ok(())
    }
}

/// This crate's README.md, whose Rust example is compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
