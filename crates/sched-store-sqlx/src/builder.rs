//! `SqlStoreBuilder`: the options of a store, generic over its database the way sqlx's
//! `PoolOptions<DB>` is (`PostgresStoreBuilder` and `SqliteStoreBuilder` are aliases).
//! The settings both databases have are here; Postgres adds its own in `postgres/`.

use std::marker::PhantomData;
use std::time::Duration;

/// Configures a [`SqlStore`](crate::SqlStore): from `PostgresStore::builder()` or
/// `SqliteStore::builder()`.
#[must_use]
pub struct SqlStoreBuilder<DB> {
    pub(crate) migrate: bool,
    pub(crate) retention: Option<Duration>,
    pub(crate) keep_successes: Option<u64>,
    /// Postgres only: the schema (and whether it may be `public`), `LISTEN`, the poll
    /// interval and the pool size.
    pub(crate) schema: String,
    pub(crate) allow_public: bool,
    pub(crate) listen: bool,
    pub(crate) poll_interval: Duration,
    pub(crate) max_connections: u32,
    database: PhantomData<fn() -> DB>,
}

impl<DB> Default for SqlStoreBuilder<DB> {
    fn default() -> Self {
        Self {
            migrate: true,
            retention: Some(Duration::from_secs(7 * 86_400)),
            keep_successes: Some(DEFAULT_SUCCESSES_KEPT),
            schema: "sched".into(),
            allow_public: false,
            listen: true,
            poll_interval: Duration::from_secs(1),
            max_connections: 8,
            database: PhantomData,
        }
    }
}

impl<DB> Clone for SqlStoreBuilder<DB> {
    fn clone(&self) -> Self {
        Self {
            migrate: self.migrate,
            retention: self.retention,
            keep_successes: self.keep_successes,
            schema: self.schema.clone(),
            allow_public: self.allow_public,
            listen: self.listen,
            poll_interval: self.poll_interval,
            max_connections: self.max_connections,
            database: PhantomData,
        }
    }
}

impl<DB> SqlStoreBuilder<DB> {
    /// Run the embedded migrations on connect (default `true`; turn off if you run
    /// them yourself, e.g. with `schedctl migrate`).
    ///
    /// With `false` connecting creates nothing. On Postgres it checks instead that the
    /// schema exists and holds sched's tables (`jobs`, `runs`, `nodes`), and fails with
    /// [`sched_core::Error::SchemaNotFound`] if not: a mistyped schema name is an error,
    /// not a new empty store. `schedctl` opens stores this way for every command but
    /// `migrate`.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// How long finished runs stay in the history (default 7 days; `None`: forever).
    ///
    /// Successful runs are also bounded by count: see
    /// [`keep_successful_runs`](Self::keep_successful_runs).
    pub fn run_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// How many successful runs the history keeps at most: the newest (default
    /// 1,000,000; `None`: no bound but [`run_retention`](Self::run_retention)).
    ///
    /// At a high rate the time retention alone is a table without bound: 10,000 runs a
    /// second for 7 days is six billion rows. With this bound the runs table holds at
    /// most `n` successful runs (at the default, about 750 MB with its indexes on
    /// Postgres, measured in the 1-hour soak of docs/BENCHMARKS.md: 10 minutes of
    /// history at 1,700 runs a second, 100 seconds at 10,000), plus the runs that failed, were
    /// missed, cancelled or abandoned, which stay for the whole retention, and the
    /// running ones. The older successful runs are deleted in batches, by run id, when
    /// the history is pruned (Postgres at heartbeats, SQLite every 1024 completed
    /// runs); "the newest `n`" counts run ids, so it keeps `n` or fewer.
    ///
    /// ```
    /// use sched_store_sqlx::PostgresStore;
    ///
    /// // Every successful run of the last 7 days, however many (a low-rate service).
    /// let builder = PostgresStore::builder().keep_successful_runs(None);
    /// // The newest 50,000, and failures for 30 days.
    /// let builder = PostgresStore::builder()
    ///     .keep_successful_runs(Some(50_000))
    ///     .run_retention(Some(std::time::Duration::from_secs(30 * 86_400)));
    /// # drop(builder);
    /// ```
    pub fn keep_successful_runs(mut self, n: Option<u64>) -> Self {
        self.keep_successes = n;
        self
    }
}

/// [`SqlStoreBuilder::keep_successful_runs`]'s default.
pub const DEFAULT_SUCCESSES_KEPT: u64 = 1_000_000;

impl<DB: sqlx::Database> std::fmt::Debug for SqlStoreBuilder<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStoreBuilder")
            .field("database", &DB::NAME)
            .field("migrate", &self.migrate)
            .field("retention", &self.retention)
            .field("keep_successes", &self.keep_successes)
            .finish_non_exhaustive()
    }
}
