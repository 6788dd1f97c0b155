//! `SqliteStore`: the embedded persistent store. One process at a time per file.
//!
//! The file is opened in WAL mode with an exclusive lock held for the store's
//! lifetime, through a single connection: claims are `BEGIN IMMEDIATE` transactions
//! that no other writer can interleave with, and a second scheduler process on the
//! same file is refused at connect with a clear error instead of corrupting claims.

mod claim;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::store::{
    AbandonedRun, AcquireRequest, Acquired, JobStore, Outcome, RunId, RunRecord, Runnable,
};
use sched_core::{Error, Result};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};
use sqlx::Row;

use crate::codec::{from_micros, join, micros, JobRow};
use crate::{lock, store_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Jobs and runs in a SQLite file.
///
/// ```no_run
/// # async fn demo() -> Result<(), sched_core::Error> {
/// use sched_store_sqlx::SqliteStore;
/// let store = SqliteStore::connect("sqlite://jobs.sqlite?mode=rwc").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    url: String,
    retention: Option<Duration>,
    quarantine: Mutex<HashSet<String>>,
    /// Runs a previous process left running, found at open, reported by the first
    /// `reap_abandoned`.
    stale: Mutex<Vec<AbandonedRun>>,
    /// Runs completed by this store, to prune the history now and then.
    completed: std::sync::atomic::AtomicU64,
}

/// Configures a [`SqliteStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreBuilder {
    migrate: bool,
    retention: Option<Duration>,
}

impl Default for SqliteStoreBuilder {
    fn default() -> Self {
        Self {
            migrate: true,
            retention: Some(Duration::from_secs(7 * 86_400)),
        }
    }
}

impl SqliteStoreBuilder {
    /// Run the embedded migrations on connect (default `true`).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// How long finished runs stay in the history (default 7 days; `None`: forever).
    pub fn run_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Opens `url` (`sqlite://jobs.sqlite?mode=rwc` creates the file if missing).
    pub async fn connect(self, url: &str) -> Result<SqliteStore> {
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
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| in_use(url, sqlx::Error::from(e)))?;
        }
        let stale = claim::abandon_stale(&pool, Utc::now())
            .await
            .map_err(store_error)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                pool,
                url: url.to_owned(),
                retention: self.retention,
                quarantine: Mutex::default(),
                stale: Mutex::new(stale),
                completed: std::sync::atomic::AtomicU64::new(1),
            }),
        })
    }
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

impl SqliteStore {
    /// Opens with the defaults (migrations on).
    pub async fn connect(url: &str) -> Result<Self> {
        SqliteStoreBuilder::default().connect(url).await
    }

    /// A builder for the options.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder::default()
    }

    /// Closes the file (releasing its lock) once every query has finished.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    fn quarantined_json(&self) -> String {
        let ids: Vec<String> = lock(&self.inner.quarantine).iter().cloned().collect();
        serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
    }

    /// Every 1024 completed runs, deletes the history older than the retention.
    async fn prune(&self, now: DateTime<Utc>) -> Result<()> {
        let Some(retention) = self.inner.retention else {
            return Ok(());
        };
        let count = self
            .inner
            .completed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !count.is_multiple_of(1024) {
            return Ok(());
        }
        let horizon = micros(now) - i64::try_from(retention.as_micros()).unwrap_or(i64::MAX / 2);
        sqlx::query("DELETE FROM runs WHERE finished_us IS NOT NULL AND finished_us < ?")
            .bind(horizon)
            .execute(&self.inner.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    fn unquarantine(&self, id: &str) {
        lock(&self.inner.quarantine).remove(id);
    }

    async fn write(&self, job: &Job, statement: &'static str) -> Result<u64> {
        let row = JobRow::encode(job)?;
        let done = sqlx::query(statement)
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

pub(crate) fn job_row(row: &SqliteRow) -> std::result::Result<JobRow, sqlx::Error> {
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
impl JobStore for SqliteStore {
    async fn add_job(&self, job: Job, replace_existing: bool) -> Result<()> {
        job.validate()?;
        let sql = if replace_existing {
            "INSERT INTO jobs (id, name, task, args, trigger, options, next_run_s, next_run_ns, paused) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             task = excluded.task, args = excluded.args, trigger = excluded.trigger, options = excluded.options, \
             next_run_s = excluded.next_run_s, next_run_ns = excluded.next_run_ns, paused = excluded.paused"
        } else {
            "INSERT INTO jobs (id, name, task, args, trigger, options, next_run_s, next_run_ns, paused) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        };
        self.write(&job, sql).await?;
        self.unquarantine(&job.id);
        Ok(())
    }

    async fn update_job(&self, job: Job) -> Result<()> {
        job.validate()?;
        let sql = "UPDATE jobs SET id = ?1, name = ?2, task = ?3, args = ?4, trigger = ?5, options = ?6, \
                   next_run_s = ?7, next_run_ns = ?8, paused = ?9 WHERE id = ?1";
        if self.write(&job, sql).await? == 0 {
            return Err(Error::JobNotFound(job.id));
        }
        self.unquarantine(&job.id);
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(
            "DELETE FROM jobs WHERE id = ? \
             RETURNING id, name, task, args, trigger, options, next_run_s, next_run_ns, paused",
        )
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Error::JobNotFound(id.to_owned()))?;
        self.unquarantine(id);
        job_row(&row).map_err(store_error)?.decode()
    }

    async fn remove_all_jobs(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM jobs")
            .execute(&self.inner.pool)
            .await
            .map_err(store_error)?;
        lock(&self.inner.quarantine).clear();
        Ok(done.rows_affected())
    }

    async fn get_job(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(
            "SELECT id, name, task, args, trigger, options, next_run_s, next_run_ns, paused FROM jobs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Error::JobNotFound(id.to_owned()))?;
        job_row(&row).map_err(store_error)?.decode()
    }

    async fn list_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT id, name, task, args, trigger, options, next_run_s, next_run_ns, paused FROM jobs \
             ORDER BY (paused OR next_run_s IS NULL), next_run_s IS NULL, next_run_s, next_run_ns, id",
        )
        .fetch_all(&self.inner.pool)
        .await
        .map_err(store_error)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            match job_row(row).map_err(store_error)?.decode() {
                Ok(job) => jobs.push(job),
                Err(error) => tracing::warn!(%error, "skipping undecodable job in list"),
            }
        }
        Ok(jobs)
    }

    async fn next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT next_run_s, next_run_ns FROM jobs WHERE paused = 0 AND next_run_s IS NOT NULL \
             AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY next_run_s, next_run_ns LIMIT 1",
        )
        .bind(self.quarantined_json())
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
        let row = sqlx::query(
            "SELECT next_run_s, next_run_ns FROM jobs WHERE paused = 0 AND next_run_s IS NOT NULL \
             AND id NOT IN (SELECT value FROM json_each(?1)) \
             AND (?2 IS NULL OR task IN (SELECT value FROM json_each(?2)) \
                  OR EXISTS (SELECT 1 FROM json_each(?3) AS p WHERE substr(task, 1, length(p.value)) = p.value)) \
             ORDER BY next_run_s, next_run_ns LIMIT 1",
        )
        .bind(self.quarantined_json())
        .bind(runnable.map(|r| claim::json_list(&r.names)))
        .bind(runnable.map(|r| claim::json_list(&r.prefixes)))
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
        let (acquired, undecodable) =
            claim::acquire(&self.inner.pool, &request, self.quarantined_json())
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
        let job_id: Option<String> = sqlx::query_scalar(
            "UPDATE runs SET status = ?, finished_us = ?, error = ? WHERE id = ? AND status = 'running' \
             RETURNING job_id",
        )
        .bind(outcome.status())
        .bind(micros(finished))
        .bind(outcome.error_text())
        .bind(run_id.0)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(store_error)?;
        let job_id = job_id.ok_or(Error::RunNotFound(run_id.0))?;
        self.prune(finished).await?;
        // A parked job (trigger done, kept for recovery) goes once its last run ends.
        sqlx::query(
            "DELETE FROM jobs WHERE id = ?1 AND next_run_s IS NULL \
             AND json_extract(options, '$.recover_abandoned') = 1 \
             AND NOT EXISTS (SELECT 1 FROM runs WHERE job_id = ?1 AND status = 'running')",
        )
        .bind(job_id)
        .execute(&self.inner.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, node: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'cancelled', finished_us = ?, error = 'released at shutdown' \
             WHERE node = ? AND status = 'running'",
        )
        .bind(micros(Utc::now()))
        .bind(node)
        .execute(&self.inner.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn running(&self, job_id: &str) -> Result<u32> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM runs WHERE job_id = ? AND status = 'running'")
                .bind(job_id)
                .fetch_one(&self.inner.pool)
                .await
                .map_err(store_error)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn reap_abandoned(&self, now: DateTime<Utc>) -> Result<Vec<AbandonedRun>> {
        // One process per file: only runs a previous process left behind can be
        // abandoned, and those were found when the file was opened.
        let _ = now;
        Ok(std::mem::take(&mut *lock(&self.inner.stale)))
    }

    async fn run_history(&self, job_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(
            "SELECT id, job_id, sched_s, sched_ns, started_us, finished_us, node, status, error FROM runs \
             WHERE (?1 IS NULL OR job_id = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(job_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let finished: Option<i64> = row.try_get(5)?;
                Ok(RunRecord {
                    run_id: RunId(row.try_get(0)?),
                    job_id: row.try_get(1)?,
                    scheduled: join(row.try_get(2)?, row.try_get(3)?)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC),
                    started: from_micros(row.try_get(4)?),
                    finished: finished.map(from_micros),
                    node: row.try_get(6)?,
                    status: row.try_get(7)?,
                    error: row.try_get(8)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(store_error)
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}
