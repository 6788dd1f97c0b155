//! `PostgresStore`: the store several nodes share.
//!
//! Claims are one short transaction (`claim.rs`): due rows `FOR UPDATE SKIP LOCKED` in
//! next-run order through a partial index, next run times written, runs recorded
//! under a unique (job, scheduled time) key, commit. Changes to jobs `NOTIFY` the
//! other nodes (never from the claim transaction: a notification takes a cluster-wide
//! lock at commit); a bounded poll is the fall-back.

mod claim;
mod sql;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::store::{
    AbandonedRun, AcquireRequest, Acquired, JobStore, Outcome, RunId, RunRecord, Runnable,
};
use sched_core::{Error, Result};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};

use self::sql::Sql;
use crate::codec::{from_micros, join, micros, JobRow};
use crate::{lock, store_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

type Waker = Arc<dyn Fn() + Send + Sync>;

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
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    sql: Sql,
    channel: String,
    poll_interval: Duration,
    retention: Option<Duration>,
    /// Rows that could not be decoded: reported once, then left alone by claims.
    quarantine: Mutex<HashSet<String>>,
    wakers: Arc<Mutex<Vec<Waker>>>,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Configures a [`PostgresStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresStoreBuilder {
    schema: String,
    migrate: bool,
    listen: bool,
    poll_interval: Duration,
    retention: Option<Duration>,
    max_connections: u32,
}

impl Default for PostgresStoreBuilder {
    fn default() -> Self {
        Self {
            schema: "sched".into(),
            migrate: true,
            listen: true,
            poll_interval: Duration::from_secs(1),
            retention: Some(Duration::from_secs(7 * 86_400)),
            max_connections: 8,
        }
    }
}

impl PostgresStoreBuilder {
    /// The schema holding the tables (default `sched`); two applications sharing a
    /// database use two schemas. Created if missing.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Run the embedded migrations on connect (default `true`; turn off if you run
    /// them yourself, e.g. with `schedctl migrate`).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// `LISTEN` for changes made by other nodes (default `true`).
    pub fn listen(mut self, listen: bool) -> Self {
        self.listen = listen;
        self
    }

    /// The longest a node goes without looking at the store (default 1 s): the
    /// fall-back when a notification is lost.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How long finished runs stay in the history (default 7 days; `None`: forever).
    pub fn run_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Pool size when connecting from a URL (default 8).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(2);
        self
    }

    /// Connects to `url` (`postgres://user@host:port/db`).
    pub async fn connect(self, url: &str) -> Result<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(store_error)?;
        self.build(pool).await
    }

    /// Uses an existing pool.
    pub async fn build(self, pool: PgPool) -> Result<PostgresStore> {
        crate::check_identifier(&self.schema)?;
        if self.migrate {
            migrate(&pool, &self.schema).await?;
        }
        let store = PostgresStore {
            inner: Arc::new(Inner {
                sql: Sql::new(&self.schema),
                channel: format!("sched_{}", self.schema),
                pool,
                poll_interval: self.poll_interval,
                retention: self.retention,
                quarantine: Mutex::default(),
                wakers: Arc::default(),
                listener: Mutex::new(None),
            }),
        };
        if self.listen {
            store.spawn_listener().await?;
        }
        Ok(store)
    }
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
    let migrated = MIGRATOR.run(&scoped).await;
    scoped.close().await;
    migrated.map_err(|e| store_error(sqlx::Error::from(e)))
}

impl PostgresStore {
    /// Connects with the defaults (schema `sched`, migrations on, `LISTEN` on).
    pub async fn connect(url: &str) -> Result<Self> {
        PostgresStoreBuilder::default().connect(url).await
    }

    /// A builder for the options.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder::default()
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Stops listening for other nodes' changes and closes the pool, once every query
    /// has finished.
    pub async fn close(&self) {
        if let Some(task) = lock(&self.inner.listener).take() {
            task.abort();
        }
        self.inner.pool.close().await;
    }

    async fn spawn_listener(&self) -> Result<()> {
        let mut listener = PgListener::connect_with(&self.inner.pool)
            .await
            .map_err(store_error)?;
        listener
            .listen(&self.inner.channel)
            .await
            .map_err(store_error)?;
        let wakers = Arc::clone(&self.inner.wakers);
        let pool = self.inner.pool.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake_all(&wakers),
                    // The store was closed: nothing more to listen for.
                    Err(_) if pool.is_closed() => return,
                    Err(error) => {
                        // PgListener reconnects on the next recv; what was sent in
                        // between is lost, so wake everyone to look for themselves.
                        tracing::warn!(%error, "postgres LISTEN connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        wake_all(&wakers);
                    }
                }
            }
        });
        *lock(&self.inner.listener) = Some(task);
        Ok(())
    }

    /// Tells other nodes that jobs changed. Never called inside a claim transaction.
    async fn notify(&self) {
        let sent = sqlx::query("SELECT pg_notify($1, '')")
            .bind(&self.inner.channel)
            .execute(&self.inner.pool)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "NOTIFY failed; other nodes will see the change at their next poll");
        }
    }

    fn unquarantine(&self, id: &str) {
        lock(&self.inner.quarantine).remove(id);
    }

    fn quarantined(&self) -> Vec<String> {
        lock(&self.inner.quarantine).iter().cloned().collect()
    }

    async fn write(&self, job: &Job, statement: &str) -> Result<u64> {
        let row = JobRow::encode(job)?;
        let done = sqlx::query(AssertSqlSafe(statement))
            .bind(&row.id)
            .bind(&row.name)
            .bind(&row.task)
            .bind(&row.args)
            .bind(&row.trigger)
            .bind(&row.options)
            .bind(row.next_run_s)
            .bind(row.next_run_ns)
            .bind(row.paused)
            .execute(&self.inner.pool)
            .await;
        match done {
            Ok(done) => Ok(done.rows_affected()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::DuplicateJobId(job.id.clone()))
            }
            Err(e) => Err(store_error(e)),
        }
    }
}

fn wake_all(wakers: &Mutex<Vec<Waker>>) {
    for wake in lock(wakers).iter() {
        wake();
    }
}

pub(crate) fn job_row(row: &PgRow) -> std::result::Result<JobRow, sqlx::Error> {
    Ok(JobRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        task: row.try_get(2)?,
        args: row.try_get(3)?,
        trigger: row.try_get(4)?,
        options: row.try_get(5)?,
        next_run_s: row.try_get(6)?,
        next_run_ns: row.try_get(7)?,
        paused: row.try_get(8)?,
    })
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn add_job(&self, job: Job, replace_existing: bool) -> Result<()> {
        job.validate()?;
        let sql = if replace_existing {
            &self.inner.sql.upsert
        } else {
            &self.inner.sql.insert
        };
        self.write(&job, sql).await?;
        self.unquarantine(&job.id);
        self.notify().await;
        Ok(())
    }

    async fn update_job(&self, job: Job) -> Result<()> {
        job.validate()?;
        if self.write(&job, &self.inner.sql.update).await? == 0 {
            return Err(Error::JobNotFound(job.id));
        }
        self.unquarantine(&job.id);
        self.notify().await;
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(AssertSqlSafe(self.inner.sql.delete.as_str()))
            .bind(id)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::JobNotFound(id.to_owned()))?;
        self.unquarantine(id);
        self.notify().await;
        job_row(&row).map_err(store_error)?.decode()
    }

    async fn remove_all_jobs(&self) -> Result<u64> {
        let done = sqlx::query(AssertSqlSafe(self.inner.sql.delete_all.as_str()))
            .execute(&self.inner.pool)
            .await
            .map_err(store_error)?;
        lock(&self.inner.quarantine).clear();
        self.notify().await;
        Ok(done.rows_affected())
    }

    async fn get_job(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(AssertSqlSafe(self.inner.sql.get.as_str()))
            .bind(id)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::JobNotFound(id.to_owned()))?;
        job_row(&row).map_err(store_error)?.decode()
    }

    async fn list_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(AssertSqlSafe(self.inner.sql.list.as_str()))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(store_error)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            match job_row(row).map_err(store_error)?.decode() {
                Ok(job) => jobs.push(job),
                // One corrupt row must not hide the others: it is reported by claims.
                Err(error) => tracing::warn!(%error, "skipping undecodable job in list"),
            }
        }
        Ok(jobs)
    }

    async fn next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(AssertSqlSafe(self.inner.sql.next_run.as_str()))
            .bind(self.quarantined())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(store_error)?;
        Ok(match row {
            Some(row) => join(
                row.try_get(0).map_err(store_error)?,
                row.try_get(1).map_err(store_error)?,
            ),
            None => None,
        })
    }

    async fn next_due(&self, runnable: Option<&Runnable>) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(AssertSqlSafe(self.inner.sql.next_due.as_str()))
            .bind(self.quarantined())
            .bind(runnable.map(|r| r.names.clone()))
            .bind(runnable.map(|r| r.prefixes.clone()))
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(store_error)?;
        Ok(match row {
            Some(row) => join(
                row.try_get(0).map_err(store_error)?,
                row.try_get(1).map_err(store_error)?,
            ),
            None => None,
        })
    }

    async fn acquire(&self, request: AcquireRequest) -> Result<Acquired> {
        let quarantined = self.quarantined();
        let (acquired, undecodable) =
            claim::acquire(&self.inner.pool, &self.inner.sql, &request, quarantined)
                .await
                .map_err(store_error)?;
        lock(&self.inner.quarantine).extend(undecodable);
        Ok(acquired)
    }

    async fn complete(
        &self,
        run_id: RunId,
        outcome: Outcome,
        finished: DateTime<Utc>,
    ) -> Result<()> {
        let job_id: Option<String> =
            sqlx::query_scalar(AssertSqlSafe(self.inner.sql.complete.as_str()))
                .bind(run_id.0)
                .bind(outcome.status())
                .bind(micros(finished))
                .bind(outcome.error_text())
                .fetch_optional(&self.inner.pool)
                .await
                .map_err(store_error)?;
        let job_id = job_id.ok_or(Error::RunNotFound(run_id.0))?;
        sqlx::query(AssertSqlSafe(self.inner.sql.unpark.as_str()))
            .bind(job_id)
            .execute(&self.inner.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn complete_many(&self, done: Vec<(RunId, Outcome, DateTime<Utc>)>) -> Vec<Result<()>> {
        let ids: Vec<i64> = done.iter().map(|(id, _, _)| id.0).collect();
        let statuses: Vec<&str> = done.iter().map(|(_, o, _)| o.status()).collect();
        let finished: Vec<i64> = done.iter().map(|(_, _, at)| micros(*at)).collect();
        let errors: Vec<Option<&str>> = done.iter().map(|(_, o, _)| o.error_text()).collect();
        let recorded = sqlx::query(AssertSqlSafe(self.inner.sql.complete_many.as_str()))
            .bind(&ids)
            .bind(&statuses)
            .bind(&finished)
            .bind(&errors)
            .fetch_all(&self.inner.pool)
            .await;
        let rows = match recorded {
            Ok(rows) => rows,
            Err(error) => {
                let message = error.to_string();
                return ids
                    .iter()
                    .map(|_| Err(Error::Store(message.clone().into())))
                    .collect();
            }
        };
        let mut found = std::collections::HashSet::with_capacity(rows.len());
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            if let (Ok(id), Ok(job)) = (row.try_get::<i64, _>(0), row.try_get::<String, _>(1)) {
                found.insert(id);
                jobs.push(job);
            }
        }
        jobs.sort_unstable();
        jobs.dedup();
        let unparked = sqlx::query(AssertSqlSafe(self.inner.sql.unpark_many.as_str()))
            .bind(&jobs)
            .execute(&self.inner.pool)
            .await;
        if let Err(error) = unparked {
            tracing::warn!(%error, "removing finished recoverable jobs failed; retried at their next run");
        }
        ids.iter()
            .map(|id| {
                if found.contains(id) {
                    Ok(())
                } else {
                    Err(Error::RunNotFound(*id))
                }
            })
            .collect()
    }

    async fn release(&self, node: &str) -> Result<u64> {
        let done = sqlx::query(AssertSqlSafe(self.inner.sql.release.as_str()))
            .bind(node)
            .bind(micros(Utc::now()))
            .execute(&self.inner.pool)
            .await
            .map_err(store_error)?;
        sqlx::query(AssertSqlSafe(self.inner.sql.forget_node.as_str()))
            .bind(node)
            .execute(&self.inner.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn running(&self, job_id: &str) -> Result<u32> {
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(self.inner.sql.running.as_str()))
            .bind(job_id)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(store_error)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn heartbeat(&self, node: &str, now: DateTime<Utc>, lease: Duration) -> Result<()> {
        let until = micros(now) + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
        let mut tx = self.inner.pool.begin().await.map_err(store_error)?;
        sqlx::query(AssertSqlSafe(self.inner.sql.heartbeat.as_str()))
            .bind(node)
            .bind(micros(now))
            .bind(until)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(AssertSqlSafe(self.inner.sql.renew.as_str()))
            .bind(node)
            .bind(until)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        if let Some(retention) = self.inner.retention {
            let horizon =
                micros(now) - i64::try_from(retention.as_micros()).unwrap_or(i64::MAX / 2);
            sqlx::query(AssertSqlSafe(self.inner.sql.prune.as_str()))
                .bind(horizon)
                .execute(&self.inner.pool)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    async fn reap_abandoned(&self, now: DateTime<Utc>) -> Result<Vec<AbandonedRun>> {
        let abandoned = claim::reap(&self.inner.pool, &self.inner.sql, now)
            .await
            .map_err(store_error)?;
        if abandoned.iter().any(|run| run.recovered) {
            self.notify().await;
        }
        Ok(abandoned)
    }

    async fn run_history(&self, job_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(AssertSqlSafe(self.inner.sql.history.as_str()))
            .bind(job_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| history_row(row).map_err(store_error))
            .collect()
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.inner.poll_interval)
    }

    fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        lock(&self.inner.wakers).push(wake);
    }
}

fn history_row(row: &PgRow) -> std::result::Result<RunRecord, sqlx::Error> {
    let scheduled = join(row.try_get(2)?, row.try_get(3)?).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let finished: Option<i64> = row.try_get(5)?;
    Ok(RunRecord {
        run_id: RunId(row.try_get(0)?),
        job_id: row.try_get(1)?,
        scheduled,
        started: from_micros(row.try_get(4)?),
        finished: finished.map(from_micros),
        node: row.try_get(6)?,
        status: row.try_get(7)?,
        error: row.try_get(8)?,
    })
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("channel", &self.inner.channel)
            .field("poll_interval", &self.inner.poll_interval)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
    }
}
