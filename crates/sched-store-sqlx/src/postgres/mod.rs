//! `PostgresStore`: the store several nodes share.
//!
//! Claims are one short transaction (`claim.rs`): due rows `FOR UPDATE SKIP LOCKED` in
//! next-run order through a partial index, next run times written, runs recorded
//! under a unique (job, scheduled time) key, commit. Changes to jobs `NOTIFY` the
//! other nodes (never from the claim transaction: a notification takes a cluster-wide
//! lock at commit), which `LISTEN` for them (`listen.rs`); a bounded poll is the
//! fall-back. Opt-in, `relay.rs` carries the schedulers' events between the nodes on
//! a channel of its own.

mod listen;
mod relay;
mod sql;

pub use self::relay::PostgresEventRelay;

use std::time::Duration;

use sched_core::Result;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres};

use crate::builder::SqlStoreBuilder;
use crate::store::{Inner, SqlStore};
use crate::{invalid, store_error};

/// Jobs and runs in a Postgres schema, shared by every node that connects to it.
///
/// ```no_run
/// # async fn demo() -> Result<(), sched_core::Error> {
/// use sched_store_sqlx::PostgresStore;
/// let store = PostgresStore::builder()
///     .schema("billing_jobs")
///     .connect("postgres://postgres@127.0.0.1:5432/app")
///     .await?;
/// # Ok(()) }
/// ```
pub type PostgresStore = SqlStore<Postgres>;

/// Configures a [`PostgresStore`]: [`SqlStoreBuilder`]'s settings, and the schema,
/// `LISTEN`, the poll interval and the pool size.
pub type PostgresStoreBuilder = SqlStoreBuilder<Postgres>;

/// The shortest poll interval: a node looks at least this long apart.
const MIN_POLL: Duration = Duration::from_millis(10);

impl SqlStoreBuilder<Postgres> {
    /// The schema holding the tables (default `sched`); two applications sharing a
    /// database use two schemas. Created if missing when migrations run (with
    /// [`migrate(false)`](SqlStoreBuilder::migrate) it must exist). Lower-case letters,
    /// digits and `_`, at most 48, not starting with a digit; not one of Postgres's own
    /// schemas (`information_schema`, `pg_catalog`, any `pg_*`), and not `public` unless
    /// [`allow_public_schema`](Self::allow_public_schema) asks for it. A name outside
    /// these rules fails `connect` and `build` with
    /// [`sched_core::Error::InvalidConfiguration`] before any SQL runs.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Accept `schema("public")`. Refused without this: in `public` sched's tables
    /// (`jobs`, `runs`, `nodes`) would sit among the database's own, where an
    /// application's table of the same name breaks the migrations, or is taken for
    /// sched's.
    pub fn allow_public_schema(mut self) -> Self {
        self.allow_public = true;
        self
    }

    /// `LISTEN` for changes made by other nodes (default `true`).
    pub fn listen(mut self, listen: bool) -> Self {
        self.listen = listen;
        self
    }

    /// The longest a node goes without looking at the store (default 1 s, at least
    /// 10 ms): the fall-back when a notification is lost.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// Pool size when connecting from a URL (default 8, at least 2: a claim and a
    /// heartbeat run side by side).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// Connects to `url` (`postgres://user@host:port/db`).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::InvalidConfiguration`] for a setting out of its range or a
    /// bad schema name (before connecting); [`sched_core::Error::SchemaNotFound`] with
    /// [`migrate(false)`](SqlStoreBuilder::migrate) if the schema or its tables are not
    /// there; [`sched_core::Error::Store`] if the database cannot be reached or
    /// migrated.
    pub async fn connect(self, url: &str) -> Result<PostgresStore> {
        self.validate()?;
        // JIT off: with millions of jobs the claim's generic plan is estimated to read a
        // tenth of them (it reads `limit`), which crosses `jit_above_cost`, and compiling
        // it cost 18 ms of a 3 ms claim at 10,000,000 jobs (docs/BENCHMARKS.md).
        let options = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .map_err(store_error)?
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(store_error)?;
        self.build(pool).await
    }

    /// Uses an existing pool. (`connect` turns JIT off on its connections — with
    /// millions of jobs the claim's generic plan crosses `jit_above_cost`, and
    /// compiling it costs more than the claim; do the same on a pool of your own:
    /// `PgConnectOptions::options([("jit", "off")])`.)
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn build(self, pool: PgPool) -> Result<PostgresStore> {
        self.validate()?;
        if self.migrate {
            migrate(&pool, &self.schema).await?;
        } else {
            check_tables(&pool, &self.schema).await?;
        }
        let mut inner = Inner::new(pool, sql::sql(&self.schema), self.schema.clone());
        inner.channel = format!("sched_{}", self.schema);
        inner.poll_interval = Some(self.poll_interval);
        inner.retention = self.retention;
        inner.keep_successes = self.keep_successes;
        let store = SqlStore {
            inner: std::sync::Arc::new(inner),
        };
        if self.listen {
            listen::spawn(&store).await?;
        }
        Ok(store)
    }

    fn validate(&self) -> Result<()> {
        crate::check_identifier(&self.schema, self.allow_public)?;
        if self.poll_interval < MIN_POLL {
            return Err(invalid(
                "poll_interval",
                format!("{:?}", self.poll_interval),
                "at least 10ms",
            ));
        }
        if self.max_connections < 2 {
            return Err(invalid(
                "max_connections",
                self.max_connections.to_string(),
                "at least 2 (a claim and a heartbeat run side by side)",
            ));
        }
        Ok(())
    }
}

/// The claim statement for `schema` (see `__postgres_claim_sql`).
pub(crate) fn claim_sql(schema: &str) -> String {
    sql::sql(schema).claim.to_string()
}

/// Creates the schema if needed and runs the embedded migrations inside it, on a
/// one-connection pool whose `search_path` is that schema (the migrations name their
/// tables unqualified).
async fn migrate(pool: &PgPool, schema: &str) -> Result<()> {
    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    let mut tx = pool.begin().await.map_err(store_error)?;
    // Serialise concurrent first starts of several nodes (CREATE SCHEMA races).
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(schema)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    let options = (*pool.connect_options())
        .clone()
        .options([("search_path", schema)]);
    let scoped = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(store_error)?;
    let migrated = crate::migrations::postgres().run(&scoped).await;
    scoped.close().await;
    migrated.map_err(|e| store_error(sqlx::Error::from(e)))
}

/// sched's tables, which a schema opened without migrations must hold.
const TABLES: [&str; 3] = ["jobs", "runs", "nodes"];

/// Without migrations nothing is created: the schema and its tables must be there
/// already, or the store would fail at its first query (or, worse, a mistyped schema
/// would look like an empty store).
async fn check_tables(pool: &PgPool, schema: &str) -> Result<()> {
    let (exists, missing): (bool, Vec<String>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1), \
         ARRAY(SELECT t FROM unnest($2::text[]) WITH ORDINALITY AS u(t, i) \
               WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
                                 WHERE schemaname = $1 AND tablename = u.t) \
               ORDER BY i)",
    )
    .bind(schema)
    .bind(&TABLES[..])
    .fetch_one(pool)
    .await
    .map_err(store_error)?;
    let problem = if !exists {
        "does not exist in the database".to_owned()
    } else if missing.len() == TABLES.len() {
        format!("holds no sched tables ({})", TABLES.join(", "))
    } else if missing.is_empty() {
        return Ok(());
    } else {
        format!("lacks sched's tables {}", missing.join(", "))
    };
    Err(sched_core::Error::SchemaNotFound {
        schema: schema.to_owned(),
        problem,
    })
}

impl SqlStore<Postgres> {
    /// Connects with the defaults (schema `sched`, migrations on, `LISTEN` on).
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        PostgresStoreBuilder::default().connect(url).await
    }

    /// A builder for the options.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder::default()
    }
}
