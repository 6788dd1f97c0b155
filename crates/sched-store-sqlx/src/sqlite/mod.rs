//! `SqliteStore`: the embedded persistent store. One process at a time per file.
//!
//! The file is opened in WAL mode with an exclusive lock held for the store's
//! lifetime, through a single connection: claims are `BEGIN IMMEDIATE` transactions
//! that no other writer can interleave with, and a second scheduler process on the
//! same file is refused at connect with a clear error instead of corrupting claims.

mod sql;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sched_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqlitePoolOptions};
use sqlx::Sqlite;

use crate::builder::SqlStoreBuilder;
use crate::codec::micros;
use crate::store::{Inner, SqlStore};
use crate::store_error;

/// Jobs and runs in a SQLite file.
///
/// ```no_run
/// # async fn demo() -> Result<(), sched_core::Error> {
/// use sched_store_sqlx::SqliteStore;
/// let store = SqliteStore::connect("sqlite://jobs.sqlite?mode=rwc").await?;
/// # Ok(()) }
/// ```
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens with the defaults (migrations on).
    ///
    /// # Errors
    ///
    /// As [`SqliteStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        SqliteStoreBuilder::default().connect(url).await
    }

    /// A builder for the options.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder::default()
    }
}

/// Configures a [`SqliteStore`] ([`SqlStoreBuilder`]'s settings).
pub type SqliteStoreBuilder = SqlStoreBuilder<Sqlite>;

impl SqlStoreBuilder<Sqlite> {
    /// Opens `url` (`sqlite://jobs.sqlite?mode=rwc` creates the file if missing).
    /// Runs a previous process left running are marked abandoned (reported by the
    /// scheduler when it starts).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::Store`] if the file cannot be opened or migrated, or is in
    /// use by another process.
    pub async fn connect(self, url: &str) -> Result<SqliteStore> {
        let started = (tokio::time::Instant::now(), std::time::Instant::now());
        self.open(url).await.map_err(|error| paused(error, started))
    }

    async fn open(self, url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(store_error)?
            .journal_mode(SqliteJournalMode::Wal)
            .locking_mode(SqliteLockingMode::Exclusive)
            .busy_timeout(Duration::from_millis(500));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| in_use(url, e))?;
        // Take the exclusive lock now (a write), so a second process fails here.
        sqlx::query("BEGIN IMMEDIATE; COMMIT;")
            .execute(&pool)
            .await
            .map_err(|e| in_use(url, e))?;
        if self.migrate {
            crate::migrations::sqlite()
                .run(&pool)
                .await
                .map_err(|e| in_use(url, sqlx::Error::from(e)))?;
        }
        let mut inner = Inner::new(pool, sql::sql(), url.to_owned());
        inner.retention = self.retention;
        inner.keep_successes = self.keep_successes;
        inner.prune_every = Some(1024);
        // The file is ours alone now: runs still marked running belong to a process
        // that died.
        let now = micros(Utc::now());
        let stale = crate::claim::abandon(
            &inner,
            now,
            i64::MAX,
            "process ended while the run was going",
        )
        .await
        .map_err(store_error)?;
        *inner.stale.lock() = stale;
        Ok(SqlStore {
            inner: Arc::new(inner),
        })
    }
}

/// A connection that timed out while Tokio's clock ran far ahead of the real one: the
/// clock is paused (`tokio::time::pause()`, `start_paused`), and sqlx's SQLite thread,
/// which Tokio does not see, looked idle to it, so it skipped ahead past the pool's
/// timeout. Say so, instead of a bare timeout.
fn paused(
    error: Error,
    (virtual_start, real_start): (tokio::time::Instant, std::time::Instant),
) -> Error {
    let timed_out = matches!(&error, Error::Store(e) if e.to_string().contains("timed out"));
    let ahead = virtual_start.elapsed().saturating_sub(real_start.elapsed());
    if !timed_out || ahead < Duration::from_secs(1) {
        return error;
    }
    Error::Store(
        "SqliteStore cannot run on Tokio's paused clock (tokio::time::pause, start_paused): \
         its database thread is invisible to Tokio, which skips time ahead while a query runs, \
         so every query times out. Test persistent jobs on the real clock (with a ManualClock \
         or TokioClock for wall time), or with MemoryStore on paused time"
            .into(),
    )
}

/// A busy or locked database means another process has it open.
fn in_use(url: &str, error: sqlx::Error) -> Error {
    let locked = matches!(&error, sqlx::Error::Database(e)
        if e.code().is_some_and(|c| c == "5" || c == "6" || c == "517" || c == "261"));
    if locked {
        Error::Store(
            format!(
                "sqlite database {url} is in use by another process: SQLite allows one scheduler \
                 process per file (use PostgresStore for several nodes)"
            )
            .into(),
        )
    } else {
        store_error(error)
    }
}
