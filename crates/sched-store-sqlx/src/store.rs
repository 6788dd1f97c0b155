//! `SqlStore`: the `JobStore` contract on a SQL database, written once for Postgres and
//! SQLite. The statements come from the dialect's table (`Sql`); what else differs
//! between the two is data set by their builders (a poll interval and leases for a
//! shared database, pruning by count for SQLite, runs found abandoned at open).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sched_core::clock::Clock;
use sched_core::job::{Job, JobId};
use sched_core::store::{
    check_declared, merge_declared, AbandonedRun, AcquireRequest, Acquired, CancelRequest, Census,
    Change, JobPage, JobQuery, JobStore, NodeInfo, Renewal, RunEnd, RunId, RunQuery, RunRecord,
    RunStatus, Runnable, SyncReport, MAX_PAGE,
};
use sched_core::support::Mutex;
use sched_core::{Error, Result};
use sqlx::{Database, Pool};

use crate::codec::{
    join, micros, undecodable, CompletedRow, CountRow, HistoryRow, HolderRow, IdRow, IdText,
    InstantRow, JobRow, NodeRow, OccurrenceRow, SetRow, TaskRow, UNREADABLE_ID,
};
use crate::dialect::{statement, Dialect, EachRow, List, StatementExt};
use crate::sql::Sql;
use crate::store_error;

pub(crate) type Waker = Arc<dyn Fn() + Send + Sync>;
/// Called with a run another node asked to cancel.
pub(crate) type CancelHook = Arc<dyn Fn(RunId) + Send + Sync>;
/// Called with a job another node changed (`None`: every job).
pub(crate) type JobHook = sched_core::store::JobChangeHook;

/// How many rows without a next run time `next_due` quarantines in one call before it
/// gives up (each is reported; the next call goes on).
const MAX_BAD_ROWS_SKIPPED: usize = 64;

/// Jobs and runs in a SQL database: [`PostgresStore`](crate::PostgresStore) (several
/// nodes sharing it) or [`SqliteStore`](crate::SqliteStore) (one process, one file).
///
/// A cheap `Clone` over a shared pool. Build one with `PostgresStore::builder()` or
/// `SqliteStore::builder()` (or their `connect`).
pub struct SqlStore<DB: Database> {
    pub(crate) inner: Arc<Inner<DB>>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Rows one pruning statement deletes at most.
const PRUNE_BATCH: u64 = 10_000;
/// Pruning statements of each kind in one call at most: 160,000 rows of each per
/// heartbeat (80,000 a second at the default 2 s) keeps up with any rate a node fires.
const PRUNE_BATCHES: u32 = 16;

pub(crate) struct Inner<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) sql: Sql,
    /// What `Debug` shows: the file, or the schema.
    pub(crate) name: String,
    /// How long finished runs stay in the history (`None`: forever).
    pub(crate) retention: Option<Duration>,
    /// How many successful runs the history keeps at most (`None`: no bound).
    pub(crate) keep_successes: Option<u64>,
    /// Shared with other nodes: how often the runtime must look (and heartbeat).
    pub(crate) poll_interval: Option<Duration>,
    /// The `NOTIFY` channel other nodes listen on.
    pub(crate) channel: String,
    /// Prune the history every this many completed runs (SQLite; a shared store
    /// prunes at its heartbeats instead).
    pub(crate) prune_every: Option<u64>,
    pub(crate) completed: AtomicU64,
    /// The earliest pending retry this store knows of (µs; `i64::MAX`: none, `i64::MIN`:
    /// not known, look): claims look for due retries only once it is due. Lowered when
    /// this store records a retry, and when the next due time it reads is a retry's (so
    /// another node's, left by a node that died, is found in time); after a claim looked,
    /// set to the first one still pending. A job changed (resumed) makes it unknown.
    pub(crate) retry_hint: std::sync::atomic::AtomicI64,
    /// Parked jobs removed when their last run ended, for `take_removed`.
    pub(crate) removed: Mutex<Vec<JobId>>,
    /// `removed` is not empty (read without the lock).
    pub(crate) has_removed: std::sync::atomic::AtomicBool,
    /// Runs a previous process left running, found at open, reported by the first
    /// `reap_abandoned`.
    pub(crate) stale: Mutex<Vec<AbandonedRun>>,
    /// Rows that could not be decoded: reported once, then left alone by claims.
    pub(crate) quarantine: Mutex<HashSet<String>>,
    /// Rows found undecodable outside a claim (listing, a lookup, the next due time),
    /// reported by the next claim (`Acquired::errors`, then `JobUnrunnable`).
    pub(crate) reports: Mutex<Vec<Error>>,
    /// This store instance, written on each run it claims (`runs.holder`): heartbeats
    /// renew, and `release` drops, only its own runs, never those of an earlier
    /// process that had the same node id.
    pub(crate) holder: String,
    pub(crate) wakers: Arc<Mutex<Vec<Waker>>>,
    /// What `on_cancel` registered: called with each run another node asks to cancel.
    pub(crate) cancel_hooks: Arc<Mutex<Vec<CancelHook>>>,
    /// What `on_job_change` registered: called with each job another node changed.
    pub(crate) job_hooks: Arc<Mutex<Vec<JobHook>>>,
    /// The `LISTEN` task (Postgres).
    pub(crate) listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The prefix of a `NOTIFY` payload that asks for runs to be cancelled: then their ids,
/// comma-separated. Other payloads (empty) say that jobs changed.
pub(crate) const CANCEL_NOTICE: &str = "cancel:";

/// `runs` as cancel notices, each under 8,000 bytes (a run id is at most 20 digits).
pub(crate) fn cancel_payloads(runs: &[RunId]) -> Vec<String> {
    const MAX: usize = 7_900;
    let mut payloads = Vec::new();
    let mut payload = String::from(CANCEL_NOTICE);
    for run in runs {
        let id = run.0.to_string();
        if payload.len() + id.len() + 1 > MAX {
            payloads.push(std::mem::replace(&mut payload, String::from(CANCEL_NOTICE)));
        }
        if payload.len() > CANCEL_NOTICE.len() {
            payload.push(',');
        }
        payload.push_str(&id);
    }
    if payload.len() > CANCEL_NOTICE.len() {
        payloads.push(payload);
    }
    payloads
}

/// The run ids of a cancel notice (`None`: not one). Ids that do not parse are skipped.
#[cfg(feature = "postgres")]
pub(crate) fn parse_cancel_notice(payload: &str) -> Option<Vec<RunId>> {
    let ids = payload.strip_prefix(CANCEL_NOTICE)?;
    Some(
        ids.split(',')
            .filter_map(|id| id.parse().ok().map(RunId))
            .collect(),
    )
}

/// How far ahead a scheduler on a store other nodes share claims runs by default: a
/// claim's round trips (a few milliseconds each, more for a batch of thousands) are
/// over before the runs are due, which then start from a local timer, on time.
pub const SHARED_CLAIM_AHEAD: Duration = Duration::from_millis(500);

/// Rows per statement of a bulk insert (`add_jobs`): nine lists of this many items.
const INSERT_CHUNK: usize = 5_000;

/// The prefix of a `NOTIFY` payload naming a job that changed: then the holder of the
/// store that changed it, `:`, and the job's id (see [`job_payloads`]).
pub(crate) const JOB_NOTICE: &str = "job:";
/// The prefix of a `NOTIFY` payload saying that any job may have changed: then the
/// holder.
pub(crate) const JOBS_NOTICE: &str = "jobs:";
/// More jobs than this changed at once are announced as "any job".
const MAX_JOB_NOTICES: usize = 64;

/// The notices for a change of `jobs` (`None`: any job) by store instance `holder`: one
/// per job, or one for all when they are many (or an id is too long for a payload).
pub(crate) fn job_payloads(holder: &str, jobs: Option<&[&str]>) -> Vec<String> {
    const MAX: usize = 7_900;
    match jobs {
        Some(ids)
            if ids.len() <= MAX_JOB_NOTICES
                && ids
                    .iter()
                    .all(|id| JOB_NOTICE.len() + holder.len() + id.len() < MAX) =>
        {
            ids.iter()
                .map(|id| format!("{JOB_NOTICE}{holder}:{id}"))
                .collect()
        }
        _ => vec![format!("{JOBS_NOTICE}{holder}")],
    }
}

/// A job notice: the holder that sent it and the job (`None`: any job); `None` if the
/// payload is not one.
#[cfg(feature = "postgres")]
pub(crate) fn parse_job_notice(payload: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = payload.strip_prefix(JOB_NOTICE) {
        let (holder, id) = rest.split_once(':')?;
        return Some((holder, Some(id)));
    }
    payload
        .strip_prefix(JOBS_NOTICE)
        .map(|holder| (holder, None))
}

/// An id for one store instance, unique per process start (the process id, the time
/// and a count of the instances made in this process).
fn holder_id() -> String {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let count = MADE.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{nanos:x}-{count:x}", std::process::id())
}

impl<DB: Database> Inner<DB> {
    /// A store's state with the defaults of a store only this process uses.
    pub(crate) fn new(pool: Pool<DB>, sql: Sql, name: String) -> Self {
        Self {
            pool,
            sql,
            name,
            retention: None,
            keep_successes: None,
            poll_interval: None,
            channel: String::new(),
            prune_every: None,
            completed: AtomicU64::new(1),
            retry_hint: std::sync::atomic::AtomicI64::new(i64::MIN),
            removed: Mutex::default(),
            has_removed: std::sync::atomic::AtomicBool::new(false),
            stale: Mutex::default(),
            quarantine: Mutex::default(),
            reports: Mutex::default(),
            holder: holder_id(),
            wakers: Arc::default(),
            cancel_hooks: Arc::default(),
            job_hooks: Arc::default(),
            listener: Mutex::new(None),
        }
    }

    pub(crate) fn quarantined(&self) -> Vec<String> {
        self.quarantine.lock().iter().cloned().collect()
    }

    /// A row that cannot be decoded, found outside a claim: quarantined (claims and
    /// the next due time leave it alone) and, the first time, queued to be reported by
    /// the next claim. The row is left as it is.
    pub(crate) fn found_undecodable(&self, error: Error) {
        let Some(id) = error.job_id() else {
            tracing::error!(%error, "a stored row cannot be decoded; left in the store");
            return;
        };
        if self.quarantine.lock().insert(id.to_string()) {
            tracing::error!(%error, "stored job cannot be decoded; left in the store");
            self.reports.lock().push(error);
        }
    }
}

impl<DB: Database> SqlStore<DB> {
    /// The pool this store uses.
    pub fn pool(&self) -> &Pool<DB> {
        &self.inner.pool
    }

    /// Stops listening for other nodes' changes (Postgres) and closes the pool, once
    /// every query has finished (for SQLite: releases the file's lock).
    pub async fn close(&self) {
        if let Some(task) = self.inner.listener.lock().take() {
            task.abort();
        }
        self.inner.pool.close().await;
    }
}

impl<DB: Dialect> Inner<DB> {
    fn unquarantine(&self, id: &str) {
        self.quarantine.lock().remove(id);
    }

    /// How many jobs match `search` (as `job_page` reads it; `None`: all of them).
    async fn count_jobs(&self, conn: &mut DB::Connection, search: Option<&str>) -> Result<usize> {
        let rows = statement::<DB>(&self.sql.job_count)
            .arg(search)
            .all::<CountRow>(conn)
            .await
            .map_err(store_error)?;
        Ok(rows
            .first()
            .map_or(0, |row| usize::try_from(row.count).unwrap_or(0)))
    }

    /// Tells other nodes that jobs changed. Never called inside a claim transaction
    /// (a notification takes a cluster-wide lock at commit).
    async fn changed(&self) {
        let Some(notify) = &self.sql.notify else {
            return;
        };
        let sent = async {
            let mut conn = self.pool.acquire().await?;
            statement::<DB>(notify)
                .arg(self.channel.as_str())
                .run(&mut conn)
                .await
        };
        if let Err(error) = sent.await {
            tracing::warn!(%error, "NOTIFY failed; other nodes will see the change at their next poll");
        }
    }

    /// [`JobStore::add_jobs`] in one transaction, [`INSERT_CHUNK`] rows per statement.
    async fn insert_many(&self, jobs: &[Arc<Job>]) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with(self.sql.begin)
            .await
            .map_err(store_error)?;
        let Some(insert_many) = &self.sql.insert_many else {
            for job in jobs {
                if let Err(error) = Self::write_on(&mut tx, job, &self.sql.insert).await {
                    tx.rollback().await.map_err(store_error)?;
                    return Err(error);
                }
            }
            tx.commit().await.map_err(store_error)?;
            for job in jobs {
                self.unquarantine(&job.id);
            }
            return Ok(());
        };
        for chunk in jobs.chunks(INSERT_CHUNK) {
            let rows = chunk
                .iter()
                .map(|job| JobRow::encode(job))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let text = |column: fn(&JobRow) -> &str| rows.iter().map(column).collect();
            let inserted = statement::<DB>(insert_many)
                .list(List::Text(text(|row| &row.id)))
                .list(List::Text(text(|row| &row.name)))
                .list(List::Text(text(|row| &row.task)))
                .list(List::Text(text(|row| &row.args)))
                .list(List::Text(text(|row| &row.trigger)))
                .list(List::Text(text(|row| &row.options)))
                .list(List::OptionalInt8(
                    rows.iter().map(|row| row.next_run_s).collect(),
                ))
                .list(List::OptionalInt4(
                    rows.iter().map(|row| row.next_run_ns).collect(),
                ))
                .list(List::Bool(rows.iter().map(|row| row.paused).collect()))
                .run(&mut tx)
                .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    tx.rollback().await.map_err(store_error)?;
                    return Err(Error::DuplicateJobId(self.first_taken(jobs).await?));
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        tx.commit().await.map_err(store_error)?;
        for job in jobs {
            self.unquarantine(&job.id);
        }
        Ok(())
    }

    /// The first of `jobs` whose id the store holds (after a bulk insert was refused).
    async fn first_taken(&self, jobs: &[Arc<Job>]) -> Result<JobId> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        for chunk in jobs.chunks(INSERT_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|job| job.id.as_str()).collect();
            let held: Vec<IdText> = statement::<DB>(&self.sql.held_ids)
                .list(List::Text(ids))
                .all(&mut conn)
                .await
                .map_err(store_error)?;
            let held: HashSet<String> = held.into_iter().map(|row| row.id).collect();
            if let Some(job) = chunk.iter().find(|job| held.contains(job.id.as_str())) {
                return Ok(job.id.clone());
            }
        }
        // Taken meanwhile and gone again: name the first.
        Ok(jobs[0].id.clone())
    }

    /// [`JobStore::unclaim`] in one transaction.
    async fn unclaim(&self, runs: &[RunId]) -> sqlx::Result<u64> {
        let ids: Vec<i64> = runs.iter().map(|run| run.0).collect();
        let mut tx = self.pool.begin_with(self.sql.begin).await?;
        let given: Vec<OccurrenceRow> = statement::<DB>(&self.sql.unclaim)
            .list(List::Int8(ids))
            .all(&mut tx)
            .await?;
        let mut ids: Vec<&str> = given.iter().map(|row| row.job_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let jobs: HashMap<String, Job> = if ids.is_empty() {
            HashMap::new()
        } else {
            statement::<DB>(&self.sql.lock_jobs)
                .list(List::Text(ids))
                .each::<JobRow>(&mut tx)
                .await?
                .into_iter()
                .filter_map(|row| row.ok()?.decode().ok())
                .map(|job| (job.id.to_string(), job))
                .collect()
        };
        // Per job, the earliest occurrence given back that it restores.
        let mut restore: HashMap<&str, DateTime<Utc>> = HashMap::new();
        for row in &given {
            let (Some(job), Some(at)) = (jobs.get(&row.job_id), join(row.sched_s, row.sched_ns))
            else {
                continue;
            };
            if job.restores(at) {
                let earliest = restore.entry(job.id.as_str()).or_insert(at);
                *earliest = (*earliest).min(at);
            }
        }
        if !restore.is_empty() {
            crate::claim::reschedule(self, &mut tx, restore.into_iter()).await?;
        }
        tx.commit().await?;
        Ok(given.len() as u64)
    }

    /// Tells the other nodes that `jobs` (`None`: any job) changed, naming them, so they
    /// give back the runs of them they claimed ahead (and look at the store). Never
    /// called inside a transaction.
    async fn jobs_changed(&self, jobs: Option<&[&str]>) {
        // The schedulers of this process on this store instance are told at once (its
        // own notices are not handed to them again: see `listen`). The one that made
        // the change has released its runs already; the call finds none.
        let hooks = self.job_hooks.lock().clone();
        for hook in &hooks {
            match jobs {
                None => hook(None),
                Some(ids) => ids.iter().for_each(|id| hook(Some(id))),
            }
        }
        if let Err(error) = self.notify_all(job_payloads(&self.holder, jobs)).await {
            tracing::warn!(%error, "NOTIFY failed; other nodes will see the change at their next poll, and their runs of the job claimed ahead start as claimed");
        }
    }

    /// Sends each of `payloads` on the store's channel, on one connection (nothing
    /// where no other node listens).
    async fn notify_all(&self, payloads: Vec<String>) -> sqlx::Result<()> {
        let Some(notify) = &self.sql.notify_with else {
            return Ok(());
        };
        let mut conn = self.pool.acquire().await?;
        for payload in payloads {
            statement::<DB>(notify)
                .arg(self.channel.as_str())
                .arg(payload)
                .run(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// Tells the other nodes to cancel `runs` (`NOTIFY`, payloads within Postgres's
    /// 8,000 bytes; see [`CANCEL_NOTICE`]). A notice that fails is logged: the holding
    /// node finds the request at its next heartbeat.
    pub(crate) async fn cancel_notice(&self, runs: &[RunId]) {
        if let Err(error) = self.notify_all(cancel_payloads(runs)).await {
            tracing::warn!(%error, "NOTIFY of a cancel failed; the node holding the run sees it at its next heartbeat");
        }
    }

    /// Writes `job` with `sql` (insert, upsert or update); how many rows changed.
    async fn write(&self, job: &Job, sql: &Arc<str>) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        Self::write_on(&mut conn, job, sql).await
    }

    /// `sync_jobs` in one transaction (see [`JobStore::sync_jobs`]).
    async fn sync(&self, set: &str, jobs: Vec<Job>, now: DateTime<Utc>) -> Result<SyncReport> {
        check_declared(&jobs)?;
        let mut tx = self
            .pool
            .begin_with(self.sql.begin)
            .await
            .map_err(store_error)?;
        // Syncs of one set, one at a time (Postgres: two replicas deploying at once;
        // SQLite's write lock already serialises them).
        if let Some(lock) = &self.sql.set_lock {
            statement::<DB>(lock)
                .arg(set)
                .run(&mut tx)
                .await
                .map_err(store_error)?;
        }
        let members: Vec<SetRow> = statement::<DB>(&self.sql.set_members)
            .arg(set)
            .all(&mut tx)
            .await
            .map_err(store_error)?;
        let ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
        let owners: Vec<SetRow> = statement::<DB>(&self.sql.set_owners)
            .list(List::Text(ids.clone()))
            .all(&mut tx)
            .await
            .map_err(store_error)?;
        if let Some(outside) = owners
            .iter()
            .find(|row| row.job_set.as_deref() != Some(set))
        {
            return Err(Error::JobOutsideSet {
                job_id: outside.id.as_str().into(),
                set: set.to_owned(),
                owner: outside.job_set.clone(),
            });
        }
        // The set's stored jobs, decoded; a row that does not decode is overwritten.
        let stored: HashMap<String, Job> = statement::<DB>(&self.sql.lock_jobs)
            .list(List::Text(ids))
            .each::<JobRow>(&mut tx)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter_map(|row| row.ok()?.decode().ok())
            .map(|job| (job.id.to_string(), job))
            .collect();
        let held: HashSet<&str> = owners.iter().map(|row| row.id.as_str()).collect();
        let mut report = SyncReport::default();
        let mut declared = HashSet::with_capacity(jobs.len());
        for job in jobs {
            let id = job.id.clone();
            let (job, change) = merge_declared(job, stored.get(id.as_str()), now)?;
            let exists = held.contains(id.as_str());
            if change != Change::Unchanged {
                let sql = if exists {
                    &self.sql.update
                } else {
                    &self.sql.insert
                };
                Self::write_on(&mut tx, &job, sql).await?;
                if !exists {
                    statement::<DB>(&self.sql.set_assign)
                        .arg(id.as_str())
                        .arg(set)
                        .run(&mut tx)
                        .await
                        .map_err(store_error)?;
                }
            }
            declared.insert(id.to_string());
            report.note(id, change);
        }
        for member in members {
            if !declared.contains(&member.id) {
                statement::<DB>(&self.sql.delete)
                    .arg(member.id.as_str())
                    .run(&mut tx)
                    .await
                    .map_err(store_error)?;
                drop_retries::<DB>(&self.sql, &mut tx, Some(vec![member.id.as_str()]), now)
                    .await
                    .map_err(store_error)?;
                report.removed.push(member.id.as_str().into());
            }
        }
        tx.commit().await.map_err(store_error)?;
        // A row that could not be decoded and is now rewritten (or gone) is claimed again.
        for id in report
            .added
            .iter()
            .chain(&report.updated)
            .chain(&report.removed)
        {
            self.unquarantine(id);
        }
        if report.changed() {
            let changed: Vec<&str> = report
                .updated
                .iter()
                .chain(&report.removed)
                .map(|id| id.as_str())
                .collect();
            self.jobs_changed(Some(&changed)).await;
        }
        Ok(report)
    }

    /// Writes `job` with `sql` (insert, upsert or update) on `conn`; how many rows
    /// changed.
    async fn write_on(conn: &mut DB::Connection, job: &Job, sql: &Arc<str>) -> Result<u64> {
        let row = JobRow::encode(job)?;
        let done = statement::<DB>(sql)
            .arg(row.id)
            .arg(row.name)
            .arg(row.task)
            .arg(row.args)
            .arg(row.trigger)
            .arg(row.options)
            .arg(row.next_run_s)
            .arg(row.next_run_ns)
            .arg(row.paused)
            .run(conn)
            .await;
        match done {
            Ok(changed) => Ok(changed),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::DuplicateJobId(job.id.clone()))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// The job with `id`; [`Error::JobNotFound`] if none, [`Error::Decode`] (and the
    /// row reported) if its row cannot be decoded.
    async fn job_by_id(&self, id: &str) -> Result<Job> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        let rows = statement::<DB>(&self.sql.get)
            .arg(id)
            .each::<JobRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let decoded = only_job(rows, id);
        if let Err(Error::Decode { job_id, reason }) = &decoded {
            self.found_undecodable(Error::Decode {
                job_id: job_id.clone(),
                reason: reason.clone(),
            });
        }
        decoded
    }

    /// Every 1024 completed runs (where pruning is by count), deletes the history
    /// older than the retention.
    async fn prune_by_count(&self, now: DateTime<Utc>, completed: u64) -> Result<()> {
        let Some(every) = self.prune_every else {
            return Ok(());
        };
        let before = self.completed.fetch_add(completed, Ordering::Relaxed);
        if before / every == (before + completed) / every {
            return Ok(());
        }
        self.prune(now).await
    }

    /// Deletes the history past its bounds: runs finished before the retention, and
    /// successful runs beyond the newest `keep_successes`. In batches of
    /// [`PRUNE_BATCH`] rows, each its own statement (no long transaction, no long
    /// lock), at most [`PRUNE_BATCHES`] of each a call: what is left goes at the next.
    async fn prune(&self, now: DateTime<Utc>) -> Result<()> {
        let rules = [
            self.retention.map(|retention| {
                let age = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX / 2);
                (&self.sql.prune, micros(now).saturating_sub(age))
            }),
            self.keep_successes.map(|keep| {
                (
                    &self.sql.prune_successes,
                    i64::try_from(keep).unwrap_or(i64::MAX),
                )
            }),
        ];
        if rules.iter().all(Option::is_none) {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        let batch = i64::try_from(PRUNE_BATCH).unwrap_or(i64::MAX);
        for (sql, bound) in rules.into_iter().flatten() {
            for _ in 0..PRUNE_BATCHES {
                let deleted = statement::<DB>(sql)
                    .arg(bound)
                    .arg(batch)
                    .run(&mut conn)
                    .await
                    .map_err(store_error)?;
                if deleted < PRUNE_BATCH {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Records ended runs in one statement, and the pending retries of those retried
    /// (in the same transaction); the ids of those that were running. Parked jobs
    /// whose last run this was are removed.
    async fn record_ended(&self, done: &[RunEnd]) -> sqlx::Result<HashSet<i64>> {
        // Only a batch with a retry needs a transaction: the retry is recorded with the
        // end, or neither is.
        let mut conn = self.pool.acquire().await?;
        let rows = if done.iter().any(|end| end.retry_at().is_some()) {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, self.sql.begin).await?;
            let rows = self.record_ended_on(&mut tx, done).await?;
            tx.commit().await?;
            // Lowered once committed: a claim that looked before then finds the hint
            // changed and leaves it.
            if let Some(first) = done.iter().filter_map(RunEnd::retry_at).min() {
                self.retry_hint.fetch_min(micros(first), Ordering::Relaxed);
            }
            rows
        } else {
            self.record_ended_on(&mut conn, done).await?
        };
        let mut jobs: Vec<&str> = rows.iter().map(|row| row.job_id.as_str()).collect();
        jobs.sort_unstable();
        jobs.dedup();
        let unparked: sqlx::Result<Vec<IdText>> = statement::<DB>(&self.sql.unpark_many)
            .list(List::Text(jobs))
            .all(&mut conn)
            .await;
        match unparked {
            Ok(gone) if gone.is_empty() => {}
            Ok(gone) => {
                self.removed
                    .lock()
                    .extend(gone.into_iter().map(|row| JobId::from(row.id)));
                self.has_removed.store(true, Ordering::Release);
            }
            Err(error) => {
                tracing::warn!(%error, "removing finished recoverable jobs failed; retried at their next run");
            }
        }
        Ok(rows.iter().map(|row| row.id).collect())
    }

    /// The statements of [`record_ended`](Self::record_ended) on `conn`.
    async fn record_ended_on(
        &self,
        conn: &mut DB::Connection,
        done: &[RunEnd],
    ) -> sqlx::Result<Vec<CompletedRow>> {
        let ids: Vec<i64> = done.iter().map(|end| end.run_id.0).collect();
        let statuses: Vec<&str> = done
            .iter()
            .map(|end| end.outcome.status().as_str())
            .collect();
        let finished: Vec<i64> = done.iter().map(|end| micros(end.finished)).collect();
        let errors: Vec<Option<&str>> = done.iter().map(|end| end.outcome.error_text()).collect();
        let results: Vec<Option<&str>> = done.iter().map(RunEnd::result).collect();
        let rows: Vec<CompletedRow> = statement::<DB>(&self.sql.complete_many)
            .list(List::Int8(ids))
            .list(List::Text(statuses))
            .list(List::Int8(finished))
            .list(List::OptionalText(errors))
            .list(List::OptionalText(results))
            .all(&mut *conn)
            .await?;
        let ended: HashSet<i64> = rows.iter().map(|row| row.id).collect();
        let (retry_ids, dues): (Vec<i64>, Vec<i64>) = done
            .iter()
            .filter(|end| ended.contains(&end.run_id.0))
            .filter_map(|end| Some((end.run_id.0, micros(end.retry_at()?))))
            .unzip();
        if !retry_ids.is_empty() {
            statement::<DB>(&self.sql.retry)
                .list(List::Int8(retry_ids))
                .list(List::Int8(dues))
                .arg(1_i32)
                .run(&mut *conn)
                .await?;
        }
        Ok(rows)
    }
}

/// Records the pending retries of `jobs` (`None`: every job) cancelled: their job is
/// gone, or its runs were cancelled. Their ids.
pub(crate) async fn drop_retries<DB: Dialect>(
    sql: &Sql,
    conn: &mut DB::Connection,
    jobs: Option<Vec<&str>>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<RunId>> {
    let rows: Vec<IdRow> = statement::<DB>(&sql.drop_retries)
        .maybe_list(jobs.map(List::Text))
        .arg(micros(now))
        .arg("cancelled before it started: its job was removed or cancelled")
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| RunId(row.id)).collect())
}

/// The job of the row a lookup of `id` found: [`Error::JobNotFound`] if none,
/// [`Error::Decode`] if it cannot be decoded.
fn only_job(rows: Vec<EachRow<JobRow>>, id: &str) -> Result<Job> {
    match rows.into_iter().next() {
        None => Err(Error::JobNotFound(id.into())),
        Some(Ok(row)) => row.decode(),
        Some(Err((row_id, error))) => Err(undecodable(row_id.or(Some(id.into())), &error)),
    }
}

#[async_trait]
impl<DB: Dialect> JobStore for SqlStore<DB> {
    async fn add_job(&self, job: Job, replace_existing: bool) -> Result<()> {
        job.validate()?;
        if replace_existing {
            // A job replaced (resumed) may have pending retries due again: look.
            self.inner.retry_hint.store(i64::MIN, Ordering::Relaxed);
        }
        let sql = if replace_existing {
            &self.inner.sql.upsert
        } else {
            &self.inner.sql.insert
        };
        self.inner.write(&job, sql).await?;
        self.inner.unquarantine(&job.id);
        if replace_existing {
            self.inner.jobs_changed(Some(&[job.id.as_str()])).await;
        } else {
            self.inner.changed().await;
        }
        Ok(())
    }

    async fn add_jobs(&self, jobs: Vec<Arc<Job>>) -> Result<()> {
        sched_core::store::check_new_jobs(&jobs)?;
        if jobs.is_empty() {
            return Ok(());
        }
        self.inner.insert_many(&jobs).await?;
        self.inner.changed().await;
        Ok(())
    }

    async fn update_job(&self, job: Job) -> Result<()> {
        job.validate()?;
        // Resumed, its pending retries are due again: look.
        self.inner.retry_hint.store(i64::MIN, Ordering::Relaxed);
        if self.inner.write(&job, &self.inner.sql.update).await? == 0 {
            return Err(Error::JobNotFound(job.id));
        }
        self.inner.unquarantine(&job.id);
        self.inner.jobs_changed(Some(&[job.id.as_str()])).await;
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<Job> {
        // Deleted only once it decodes: a row that does not is left as it is, with an
        // error saying how to remove it (`purge_job`), never deleted and reported
        // failed.
        let mut tx = self
            .inner
            .pool
            .begin_with(self.inner.sql.begin)
            .await
            .map_err(store_error)?;
        let rows = statement::<DB>(&self.inner.sql.lock_jobs)
            .list(List::Text(vec![id]))
            .each::<JobRow>(&mut tx)
            .await
            .map_err(store_error)?;
        let job = match only_job(rows, id) {
            Ok(job) => job,
            Err(Error::Decode { job_id, reason }) => {
                tx.rollback().await.map_err(store_error)?;
                return Err(Error::Decode {
                    job_id,
                    reason: format!(
                        "{reason} (not removed: a job that cannot be read is removed with purge_job, or `schedctl remove --force`)"
                    ),
                });
            }
            Err(error) => return Err(error),
        };
        statement::<DB>(&self.inner.sql.delete)
            .arg(id)
            .run(&mut tx)
            .await
            .map_err(store_error)?;
        drop_retries::<DB>(&self.inner.sql, &mut tx, Some(vec![id]), Utc::now())
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.inner.unquarantine(id);
        self.inner.jobs_changed(Some(&[id])).await;
        Ok(job)
    }

    async fn purge_job(&self, id: &str) -> Result<bool> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let deleted = statement::<DB>(&self.inner.sql.delete)
            .arg(id)
            .run(&mut conn)
            .await
            .map_err(store_error)?;
        drop(conn);
        if deleted > 0 {
            self.inner.unquarantine(id);
            self.inner.jobs_changed(Some(&[id])).await;
        }
        Ok(deleted > 0)
    }

    async fn remove_all_jobs(&self) -> Result<u64> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let removed = statement::<DB>(&self.inner.sql.delete_all)
            .run(&mut conn)
            .await
            .map_err(store_error)?;
        drop_retries::<DB>(&self.inner.sql, &mut conn, None, Utc::now())
            .await
            .map_err(store_error)?;
        drop(conn);
        self.inner.quarantine.lock().clear();
        self.inner.jobs_changed(None).await;
        Ok(removed)
    }

    async fn get_job(&self, id: &str) -> Result<Job> {
        self.inner.job_by_id(id).await
    }

    async fn list_jobs(&self) -> Result<Vec<Job>> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let rows = statement::<DB>(&self.inner.sql.list)
            .each::<JobRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            // One corrupt row must not hide the others: it is quarantined and reported
            // (by the next claim), and left in the table.
            match row
                .map_err(|(id, error)| undecodable(id, &error))
                .and_then(|row| row.decode())
            {
                Ok(job) => jobs.push(job),
                Err(error) => self.inner.found_undecodable(error),
            }
        }
        Ok(jobs)
    }

    /// Counts the rows and reads only the id and task of the jobs `runnable` does not
    /// allow: a node starting on 10,000,000 jobs decodes none of them. A row whose id
    /// or task cannot be read is quarantined and reported as `list_jobs` does.
    async fn census(&self, runnable: &Runnable) -> Result<Census> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let jobs = self.inner.count_jobs(&mut conn, None).await?;
        let rows = statement::<DB>(&self.inner.sql.unrunnable)
            .list(List::text(&runnable.names))
            .list(List::text(&runnable.prefixes))
            .each::<TaskRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let mut census = Census::default();
        census.jobs = jobs;
        for row in rows {
            match row {
                Ok(row) => census.unrunnable.push((JobId::from(row.id), row.task)),
                Err((id, error)) => self.inner.found_undecodable(undecodable(id, &error)),
            }
        }
        Ok(census)
    }

    async fn next_due(&self, runnable: Option<&Runnable>) -> Result<Option<DateTime<Utc>>> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        // A first row that holds no instant is quarantined (and reported), and the
        // next one looked at: one bad row never hides the others' times.
        for _ in 0..MAX_BAD_ROWS_SKIPPED {
            let quarantined = self.inner.quarantined();
            let rows = statement::<DB>(&self.inner.sql.next_due)
                .list(List::text(&quarantined))
                .maybe_list(runnable.map(|r| List::text(&r.names)))
                .maybe_list(runnable.map(|r| List::text(&r.prefixes)))
                .each::<InstantRow>(&mut conn)
                .await
                .map_err(store_error)?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            if row.as_ref().is_ok_and(|row| row.retry) {
                let at = row.as_ref().map_or(i64::MIN, |row| {
                    row.next_run_s
                        .saturating_mul(1_000_000)
                        .saturating_add(i64::from(row.next_run_ns / 1_000))
                });
                self.inner.retry_hint.fetch_min(at, Ordering::Relaxed);
            }
            match row
                .map_err(|(id, error)| undecodable(id, &error))
                .and_then(|row| row.at())
            {
                Ok(at) => return Ok(Some(at)),
                Err(error) if error.job_id().is_some_and(|id| &**id != UNREADABLE_ID) => {
                    self.inner.found_undecodable(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(Error::Store(
            format!("more than {MAX_BAD_ROWS_SKIPPED} rows in a row hold no next run time").into(),
        ))
    }

    async fn acquire(&self, request: AcquireRequest) -> Result<Acquired> {
        let (mut acquired, undecodable) = crate::claim::acquire(&self.inner, &request)
            .await
            .map_err(store_error)?;
        self.inner.quarantine.lock().extend(undecodable);
        acquired
            .errors
            .extend(std::mem::take(&mut *self.inner.reports.lock()));
        Ok(acquired)
    }

    async fn claim_now(&self, job_id: &str, request: AcquireRequest) -> Result<Acquired> {
        crate::claim::claim_now(&self.inner, job_id, &request).await
    }

    fn take_removed(&self) -> Vec<JobId> {
        if !self.inner.has_removed.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.inner.removed.lock())
    }

    async fn claim_backfill(
        &self,
        job_id: &str,
        times: &[DateTime<Utc>],
        request: AcquireRequest,
    ) -> Result<Acquired> {
        crate::claim::claim_backfill(&self.inner, job_id, times, &request).await
    }

    async fn claim_waiting(&self, job_ids: &[JobId], request: AcquireRequest) -> Result<Acquired> {
        crate::claim::claim_waiting(&self.inner, job_ids, &request)
            .await
            .map_err(store_error)
    }

    async fn complete_many(&self, done: Vec<RunEnd>) -> Vec<Result<()>> {
        let recorded = match self.inner.record_ended(&done).await {
            Ok(recorded) => recorded,
            Err(error) => {
                let message = error.to_string();
                return done
                    .iter()
                    .map(|_| Err(Error::Store(message.clone().into())))
                    .collect();
            }
        };
        if let Some(end) = done.last() {
            let count = u64::try_from(recorded.len()).unwrap_or(u64::MAX);
            if let Err(error) = self.inner.prune_by_count(end.finished, count).await {
                tracing::warn!(%error, "pruning the run history failed; retried later");
            }
        }
        done.iter()
            .map(|end| {
                if recorded.contains(&end.run_id.0) {
                    Ok(())
                } else {
                    Err(Error::RunNotFound(end.run_id.0))
                }
            })
            .collect()
    }

    async fn release(&self, node: &str) -> Result<u64> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let released = statement::<DB>(&self.inner.sql.release)
            .arg(node)
            .arg(micros(Utc::now()))
            .arg(self.inner.holder.as_str())
            .run(&mut conn)
            .await
            .map_err(store_error)?;
        statement::<DB>(&self.inner.sql.forget_node)
            .arg(node)
            .run(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(released)
    }

    async fn running(&self, job_id: &str) -> Result<u32> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let row: Option<CountRow> = statement::<DB>(&self.inner.sql.running)
            .arg(job_id)
            .first(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(row.map_or(0, |row| u32::try_from(row.count).unwrap_or(u32::MAX)))
    }

    async fn heartbeat(&self, node: &str, clock: &dyn Clock, lease: Duration) -> Result<Renewal> {
        let renewed = crate::claim::heartbeat(&self.inner, node, clock, lease)
            .await
            .map_err(store_error)?;
        if let Err(error) = self.inner.prune(renewed.at).await {
            tracing::warn!(%error, "pruning the run history failed; retried at the next heartbeat");
        }
        // Retries other nodes recorded (one that died, say) are found by the next due
        // time this node reads; a node whose claims come back full reads none, so at
        // each heartbeat its next claim looks anyway.
        self.inner.retry_hint.store(i64::MIN, Ordering::Relaxed);
        Ok(renewed)
    }

    async fn reap_abandoned(&self, now: DateTime<Utc>) -> Result<Vec<AbandonedRun>> {
        let mut abandoned = std::mem::take(&mut *self.inner.stale.lock());
        if self.inner.poll_interval.is_some() {
            let expired = crate::claim::abandon(
                &self.inner,
                micros(now),
                micros(now),
                "node stopped heartbeating",
            )
            .await
            .map_err(store_error)?;
            abandoned.extend(expired);
        }
        if abandoned.iter().any(|run| run.recovered) {
            self.inner.changed().await;
        }
        Ok(abandoned)
    }

    async fn run_history(&self, job_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        let mut query = RunQuery::new();
        query.job_id = job_id.map(str::to_owned);
        query.limit = limit;
        self.query_runs(&query).await
    }

    fn keeps_history(&self) -> bool {
        true
    }

    async fn query_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let search = query.search.as_deref();
        let total = self.inner.count_jobs(&mut conn, search).await?;
        let rows = statement::<DB>(&self.inner.sql.job_page)
            .arg(search)
            .arg(i64::try_from(query.limit.min(MAX_PAGE)).unwrap_or(i64::MAX))
            .arg(i64::try_from(query.offset).unwrap_or(i64::MAX))
            .each::<JobRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            // As in `list_jobs`: a corrupt row is reported and left, never hides a page.
            match row
                .map_err(|(id, error)| undecodable(id, &error))
                .and_then(|row| row.decode())
            {
                Ok(job) => jobs.push(job),
                Err(error) => self.inner.found_undecodable(error),
            }
        }
        Ok(JobPage::new(jobs, total))
    }

    async fn request_cancel(&self, run_id: RunId) -> Result<CancelRequest> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let holder = statement::<DB>(&self.inner.sql.cancel_run)
            .arg(run_id.0)
            .first::<HolderRow>(&mut conn)
            .await
            .map_err(store_error)?;
        if let Some(HolderRow { node }) = holder {
            drop(conn);
            self.inner.cancel_notice(&[run_id]).await;
            return Ok(CancelRequest::Running { node });
        }
        let dropped = statement::<DB>(&self.inner.sql.cancel_retry)
            .arg(run_id.0)
            .arg(micros(Utc::now()))
            .first::<IdRow>(&mut conn)
            .await
            .map_err(store_error)?;
        if dropped.is_some() {
            return Ok(CancelRequest::Dropped);
        }
        let exists = statement::<DB>(&self.inner.sql.run_exists)
            .arg(run_id.0)
            .first::<CountRow>(&mut conn)
            .await
            .map_err(store_error)?
            .is_some_and(|row| row.count > 0);
        if exists {
            Ok(CancelRequest::Ended)
        } else {
            Err(Error::RunNotFound(run_id.0))
        }
    }

    async fn request_cancel_job(&self, job_id: &str) -> Result<Vec<RunId>> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let rows = statement::<DB>(&self.inner.sql.cancel_job)
            .arg(job_id)
            .all::<IdRow>(&mut conn)
            .await
            .map_err(store_error)?;
        // Its pending retries have not started: they are dropped.
        drop_retries::<DB>(&self.inner.sql, &mut conn, Some(vec![job_id]), Utc::now())
            .await
            .map_err(store_error)?;
        drop(conn);
        let ids: Vec<RunId> = rows.into_iter().map(|row| RunId(row.id)).collect();
        if !ids.is_empty() {
            self.inner.cancel_notice(&ids).await;
        }
        Ok(ids)
    }

    async fn sync_jobs(&self, set: &str, jobs: Vec<Job>, now: DateTime<Utc>) -> Result<SyncReport> {
        self.inner.sync(set, jobs, now).await
    }

    fn on_cancel(&self, hook: Arc<dyn Fn(RunId) + Send + Sync>) {
        self.inner.cancel_hooks.lock().push(hook);
    }

    fn on_job_change(&self, hook: sched_core::store::JobChangeHook) {
        self.inner.job_hooks.lock().push(hook);
    }

    /// A store other nodes share (Postgres) claims [`SHARED_CLAIM_AHEAD`] ahead; one only
    /// this process uses (SQLite) claims when runs are due.
    fn default_claim_ahead(&self) -> Duration {
        if self.inner.poll_interval.is_some() {
            SHARED_CLAIM_AHEAD
        } else {
            Duration::ZERO
        }
    }

    async fn unclaim(&self, runs: &[RunId]) -> Result<u64> {
        if runs.is_empty() {
            return Ok(0);
        }
        self.inner.unclaim(runs).await.map_err(store_error)
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let rows = statement::<DB>(&self.inner.sql.nodes)
            .all::<NodeRow>(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(rows.into_iter().map(NodeRow::info).collect())
    }

    async fn query_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        let mut conn = self.inner.pool.acquire().await.map_err(store_error)?;
        let rows = statement::<DB>(&self.inner.sql.history)
            .arg(query.job_id.as_deref())
            .arg(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .arg(query.status.map(RunStatus::as_str))
            .arg(query.node.as_deref())
            .arg(query.before.map(|run| run.0))
            .each::<HistoryRow>(&mut conn)
            .await
            .map_err(store_error)?;
        // A run row that does not decode is logged and skipped, never the whole page.
        Ok(rows
            .into_iter()
            .filter_map(|row| match row {
                Ok(row) => row.record(),
                Err((_, error)) => {
                    tracing::warn!(%error, "skipping a run in the history that cannot be decoded");
                    None
                }
            })
            .collect())
    }

    fn poll_interval(&self) -> Option<Duration> {
        self.inner.poll_interval
    }

    fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        self.inner.wakers.lock().push(wake);
    }
}

impl<DB: Database> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(DB::NAME)
            .field("name", &self.inner.name)
            .field("poll_interval", &self.inner.poll_interval)
            .finish_non_exhaustive()
    }
}

impl<DB: Database> Drop for Inner<DB> {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().take() {
            task.abort();
        }
    }
}
