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
    pub fn run_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }
}

impl<DB: sqlx::Database> std::fmt::Debug for SqlStoreBuilder<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStoreBuilder")
            .field("database", &DB::NAME)
            .field("migrate", &self.migrate)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}
