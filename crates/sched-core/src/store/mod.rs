//! Stores: where jobs live, and how due runs are claimed.
//!
//! [`JobStore`] is the contract every store implements (`MemoryStore` here,
//! `SqliteStore` and `PostgresStore` in `sched-store-sqlx`). The runtime never decides
//! by itself which runs start: it asks the store to [`acquire`](JobStore::acquire)
//! due runs, and the store applies [`crate::policy`] inside its claim (one transaction
//! in a database), so several nodes sharing a store start each run exactly once.
//!
//! [`contract`] (feature `contract-tests`) is the test suite every store must pass.

#[cfg(any(test, doc, feature = "contract-tests"))]
#[cfg_attr(docsrs, doc(cfg(feature = "contract-tests")))]
pub mod contract;
mod memory;
mod query;
mod sync;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::memory::MemoryStore;
pub use self::query::{JobPage, JobQuery, NodeInfo, RunQuery, MAX_PAGE};
pub use self::sync::{check_declared, merge_declared, Change, SyncReport};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::job::{Job, JobId};
pub use crate::policy::claim::{SkipReason, SkippedRuns};

/// Identifies one claimed run in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What [`JobStore::acquire`] is asked for: build it with [`AcquireRequest::new`].
///
/// ```
/// use std::time::Duration;
/// use sched_core::store::AcquireRequest;
///
/// let now = "2026-01-01T00:00:00Z".parse().unwrap();
/// let request = AcquireRequest::new("node-a", now).limit(100).ahead(Duration::from_millis(300));
/// assert_eq!(request.horizon().to_rfc3339(), "2026-01-01T00:00:00.300+00:00");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AcquireRequest {
    /// The claiming node (unique per running scheduler).
    pub node: String,
    /// The claim's idea of "now": jobs due at or before it are claimed.
    pub now: DateTime<Utc>,
    /// Claim at most this many due jobs.
    pub limit: usize,
    /// Claims expire this long after `now` unless the node renews them.
    pub lease: Duration,
    /// Only jobs whose task this node can run (`None`: any). A job whose task is not
    /// registered here is left alone, due, for a node that has it.
    pub runnable: Option<Arc<Runnable>>,
    /// Claim ahead: also claim the next run of jobs due within `now + ahead` (zero:
    /// only what is due). Such a run is claimed alone (one occurrence, never coalesced
    /// or missed: it is not late), only if the job has a free instance now, and never
    /// when it is the job's last run (its claim would finish the job); such jobs are
    /// left untouched, to be decided when due. Its `scheduled` time is in the future:
    /// the caller starts it then, and gives it back ([`JobStore::unclaim`]) if the job
    /// changes first.
    pub ahead: Duration,
}

impl AcquireRequest {
    /// A claim by `node` of what is due at `now`: at most 1024 jobs, a 30 s lease,
    /// any task, nothing claimed ahead.
    pub fn new(node: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            node: node.into(),
            now,
            limit: 1024,
            lease: Duration::from_secs(30),
            runnable: None,
            ahead: Duration::ZERO,
        }
    }

    /// Sets [`limit`](Self::limit).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets [`lease`](Self::lease).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets [`runnable`](Self::runnable): only jobs with these tasks.
    #[must_use]
    pub fn runnable(mut self, runnable: Arc<Runnable>) -> Self {
        self.runnable = Some(runnable);
        self
    }

    /// Sets [`ahead`](Self::ahead).
    #[must_use]
    pub fn ahead(mut self, ahead: Duration) -> Self {
        self.ahead = ahead;
        self
    }

    /// The latest next run time this claim takes: `now + ahead` (saturating).
    pub fn horizon(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.ahead)
            .ok()
            .and_then(|ahead| self.now.checked_add_signed(ahead))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The tasks a node can run: registered names, and names starting with one of
/// `prefixes` (the node's own closure jobs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runnable {
    /// Registered task names, sorted.
    pub names: Vec<String>,
    /// Task name prefixes.
    pub prefixes: Vec<String>,
}

impl Runnable {
    /// Whether a job with task `task` can run here.
    pub fn allows(&self, task: &str) -> bool {
        self.names
            .binary_search_by(|n| n.as_str().cmp(task))
            .is_ok()
            || self.prefixes.iter().any(|p| task.starts_with(p.as_str()))
    }
}

/// One run claimed for execution by this node (stores build it with [`ClaimedRun::new`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClaimedRun {
    /// The store's id for this run; pass it to [`JobStore::complete`].
    pub run_id: RunId,
    /// The job's id (shared, so a run costs no copy of it).
    pub job_id: JobId,
    /// The job as it was stored when claimed (shared by the runs of one claim; its
    /// `next_run_time` is the one before the claim).
    pub job: Arc<Job>,
    /// The fire time this run stands for.
    pub scheduled: DateTime<Utc>,
    /// Part of a catch-up backlog (runs missed while nobody ran the job, without
    /// coalescing): the runs of this job claimed with it run in the order claimed, at
    /// most this many at once; this one starts when a run before it has ended, and is
    /// missed if its grace has run out by then. `None`: it starts now.
    pub catch_up: Option<u32>,
    /// Which attempt of its occurrence this is: 1 for the first run, more for a retry
    /// ([`RetryPolicy`](crate::job::RetryPolicy)).
    pub attempt: u32,
    /// A backfill run ([`JobStore::claim_backfill`]): it stands for a past occurrence on
    /// purpose, so it starts however late (no misfire grace).
    pub backfill: bool,
}

impl ClaimedRun {
    /// Run `run_id` of `job`, standing for its fire time `scheduled`.
    pub fn new(run_id: RunId, job: Arc<Job>, scheduled: DateTime<Utc>) -> Self {
        Self {
            run_id,
            job_id: job.id.clone(),
            job,
            scheduled,
            catch_up: None,
            attempt: 1,
            backfill: false,
        }
    }

    /// Marks it a backfill run (see [`backfill`](Self::backfill)).
    #[must_use]
    pub fn backfill(mut self, backfill: bool) -> Self {
        self.backfill = backfill;
        self
    }

    /// Marks it part of a catch-up backlog run `width` at a time (see
    /// [`catch_up`](Self::catch_up)).
    #[must_use]
    pub fn catch_up(mut self, width: Option<u32>) -> Self {
        self.catch_up = width;
        self
    }

    /// Marks it attempt `attempt` of its occurrence (a retry when above 1).
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }
}

/// How long a pending retry that came due while its job had no instance free waits
/// before claims look at it again — unless [`JobStore::claim_waiting`] starts it first,
/// as the node that records the end of a run of its job asks. A retry so never waits on
/// one node's notice alone (a node that dies, a paused scheduler).
pub const RETRY_RECHECK: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// How one claimed run ended, as [`JobStore::complete_many`] records it (build it with
/// [`RunEnd::new`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunEnd {
    /// The run.
    pub run_id: RunId,
    /// How it ended.
    pub outcome: Outcome,
    /// When.
    pub finished: DateTime<Utc>,
    /// The retry and the result, for the few runs that have one (boxed: a batch of ends
    /// carries one pointer for the others).
    extra: Option<Box<EndExtra>>,
}

#[derive(Clone, Debug, PartialEq)]
struct EndExtra {
    retry_at: Option<DateTime<Utc>>,
    result: Option<String>,
}

impl RunEnd {
    /// Run `run_id` ended with `outcome` at `finished` (not retried, no result).
    pub fn new(run_id: RunId, outcome: Outcome, finished: DateTime<Utc>) -> Self {
        Self {
            run_id,
            outcome,
            finished,
            extra: None,
        }
    }

    /// Its occurrence is tried again: the next attempt is due then
    /// ([`RetryPolicy`](crate::job::RetryPolicy)). The store keeps it as a pending
    /// attempt, recorded with the end in one step, unless the job is gone.
    #[inline]
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        self.extra.as_ref().and_then(|extra| extra.retry_at)
    }

    /// The task's result, as JSON text (a store that keeps history stores it with the
    /// run; `None`: the task returned nothing).
    #[inline]
    pub fn result(&self) -> Option<&str> {
        self.extra
            .as_ref()
            .and_then(|extra| extra.result.as_deref())
    }

    /// The result, taken out (`None` the second time).
    pub fn take_result(&mut self) -> Option<String> {
        self.extra.as_mut().and_then(|extra| extra.result.take())
    }

    /// Sets [`retry_at`](Self::retry_at).
    #[must_use]
    pub fn with_retry_at(mut self, at: Option<DateTime<Utc>>) -> Self {
        if at.is_some() || self.extra.is_some() {
            self.extra_mut().retry_at = at;
        }
        self
    }

    /// Sets [`result`](Self::result).
    #[must_use]
    pub fn with_result(mut self, result: Option<String>) -> Self {
        if result.is_some() || self.extra.is_some() {
            self.extra_mut().result = result;
        }
        self
    }

    fn extra_mut(&mut self) -> &mut EndExtra {
        self.extra.get_or_insert_with(|| {
            Box::new(EndExtra {
                retry_at: None,
                result: None,
            })
        })
    }
}

/// The result of one [`JobStore::acquire`] (from [`ClaimPlan::acquired`] in a store
/// built on the claim planner).
///
/// [`ClaimPlan::acquired`]: crate::policy::claim::ClaimPlan::acquired
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Acquired {
    /// Runs to execute now, in scheduled order.
    pub runs: Vec<ClaimedRun>,
    /// Runs that will not execute, to be reported.
    pub skipped: Vec<SkippedRuns>,
    /// Jobs whose trigger is done: removed from the store after this claim.
    pub finished: Vec<JobId>,
    /// Stored jobs that could not be decoded (left untouched in the store).
    pub errors: Vec<Error>,
    /// Running runs this claim asked to stop ([`Overlap::CancelPrevious`]: a newer run
    /// waits for their instance). Recorded as [`request_cancel`](JobStore::request_cancel)
    /// records a request (other nodes hear of it); the claiming node cancels those it runs.
    ///
    /// [`Overlap::CancelPrevious`]: crate::job::Overlap::CancelPrevious
    pub cancel: Vec<RunId>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The task returned `Ok`.
    Success,
    /// The task returned an error (its `Display` text).
    Error(String),
    /// The task panicked (the panic message).
    Panicked(String),
    /// The task ran past its timeout and was cancelled.
    TimedOut,
    /// The run was cancelled: by `cancel_run` / `cancel_job` (however it ended after
    /// the request), or aborted at shutdown once the shutdown timeout ran out.
    Cancelled,
    /// The run waited (for a concurrency slot) past its misfire grace time and was not
    /// started.
    Missed,
    /// Its lease ran out before it started (this node could not renew it): it was not
    /// started, as another node may have taken it over. Recorded as
    /// [`RunStatus::Abandoned`], unless another node's reaper got there first.
    LeaseLost,
}

/// The contract of a job store. Object safe: use it as `Arc<dyn JobStore>`.
///
/// Every implementation must pass [`contract`]'s suite.
#[async_trait]
pub trait JobStore: Send + Sync + fmt::Debug + 'static {
    /// Adds a job (already [`scheduled`](Job::schedule)). With `replace_existing` a job
    /// with the same id is overwritten; otherwise that is [`Error::DuplicateJobId`].
    async fn add_job(&self, job: Job, replace_existing: bool) -> Result<()>;

    /// Adds new jobs (each already [`scheduled`](Job::schedule)) in one step: all of
    /// them or, on an error, none. An id already stored, or given twice, is
    /// [`Error::DuplicateJobId`] naming it; a job that does not validate, its error. Of
    /// a batch with several faults, which one the error names is not specified
    /// (`MemoryStore` names the first in the batch's order; SQL stores validate every
    /// job before they look up ids).
    /// SQL stores write them in one transaction (multi-row statements of a few
    /// thousand rows each), `MemoryStore` under one lock.
    ///
    /// The jobs come shared, so that a store keeping jobs in memory holds them as they
    /// are (a million jobs are not copied once more); a store writing them elsewhere
    /// reads them through the `Arc`.
    ///
    /// The default adds them one by one with [`add_job`](Self::add_job), after checking
    /// them all: a store error part way leaves the jobs added before it.
    async fn add_jobs(&self, jobs: Vec<Arc<Job>>) -> Result<()> {
        check_new_jobs(&jobs)?;
        for job in jobs {
            self.add_job(Arc::unwrap_or_clone(job), false).await?;
        }
        Ok(())
    }

    /// Overwrites the stored job with `job.id`; [`Error::JobNotFound`] if absent.
    async fn update_job(&self, job: Job) -> Result<()>;

    /// Removes a job and returns it; [`Error::JobNotFound`] if absent. Runs already
    /// claimed go on and can still be completed. A stored row that cannot be decoded
    /// is not removed ([`Error::Decode`]; see [`purge_job`](Self::purge_job)).
    async fn remove_job(&self, id: &str) -> Result<Job>;

    /// Removes the stored row of job `id` whatever it holds — a row that cannot be
    /// decoded included, which [`remove_job`](Self::remove_job) refuses (with
    /// [`Error::Decode`], deleting nothing); whether there was one.
    async fn purge_job(&self, id: &str) -> Result<bool> {
        match self.remove_job(id).await {
            Ok(_) => Ok(true),
            Err(Error::JobNotFound(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Removes every job; returns how many.
    async fn remove_all_jobs(&self) -> Result<u64>;

    /// The job with this id; [`Error::JobNotFound`] if absent.
    async fn get_job(&self, id: &str) -> Result<Job>;

    /// Every job, by next run time (paused and finished jobs last), then id.
    async fn list_jobs(&self) -> Result<Vec<Job>>;

    /// How many jobs are stored, and the id and task of each whose task `runnable`
    /// does not allow: what a node reports when it starts (those jobs stay stored, for
    /// a node that has their task).
    ///
    /// The default reads every job with [`list_jobs`](Self::list_jobs); `MemoryStore`
    /// reads its entries in place (a million jobs are not copied at start).
    async fn census(&self, runnable: &Runnable) -> Result<Census> {
        let jobs = self.list_jobs().await?;
        let unrunnable = jobs
            .iter()
            .filter(|job| !runnable.allows(&job.task))
            .map(|job| (job.id.clone(), job.task.clone()))
            .collect();
        Ok(Census {
            jobs: jobs.len(),
            unrunnable,
        })
    }

    /// The earliest next run time of a job that is not paused and whose task
    /// `runnable` allows (`None`: any job): what a node with those tasks waits for.
    async fn next_due(&self, runnable: Option<&Runnable>) -> Result<Option<DateTime<Utc>>>;

    /// Claims the runs due at `request.now`, earliest first, for at most
    /// `request.limit` jobs: applies the misfire/coalesce/max-instances policy with the
    /// job's runs executing on every node, records the runs to start under this node's
    /// lease, writes each job's next run time. A run is never claimed twice. With
    /// `request.ahead`, also the next run of jobs due soon (see [`AcquireRequest::ahead`]).
    async fn acquire(&self, request: AcquireRequest) -> Result<Acquired>;

    /// "Run now": claims one run of `job_id` at `request.now` under `request.node`'s
    /// lease, whatever the job's schedule and paused flag, which stay as they are. It
    /// counts toward `max_instances`: a job at its limit gets a `MaxInstances` skip in
    /// the result instead of a run. [`Error::JobNotFound`] for an unknown id.
    async fn claim_now(&self, job_id: &str, request: AcquireRequest) -> Result<Acquired>;

    /// Starts the waiting runs of `job_ids` that have an instance free (the runtime asks
    /// after recording the end of a run of a job whose [`Overlap`] policy waits):
    /// records each under `request.node`'s lease, at its own scheduled time, and clears
    /// it from its job, in one step with the check, so a waiting run starts once
    /// whichever node asks. A waiting run of a job paused meanwhile is dropped; a job
    /// parked only for its waiting run (its trigger done) is removed once it started
    /// (in [`Acquired::finished`]). Unknown ids are passed over. The default: no store
    /// of waiting runs, nothing to start.
    ///
    /// [`Overlap`]: crate::job::Overlap
    async fn claim_waiting(&self, job_ids: &[JobId], request: AcquireRequest) -> Result<Acquired> {
        let _ = (job_ids, request);
        Ok(Acquired::default())
    }

    /// Backfill: claims a run of `job_id` for each of `times` (its past occurrences, in
    /// order) under `request.node`'s lease, whatever the job's schedule and paused flag,
    /// which stay as they are. An occurrence recorded before (a run of it in the
    /// history, or running: the occurrence key) is passed over, so each runs once. The
    /// runs claimed are one backlog: they run in order, as many at once as the job has
    /// instances free now ([`ClaimedRun::catch_up`]), marked
    /// [`backfill`](ClaimedRun::backfill). A job with no instance free gets a
    /// `MaxInstances` skip instead. [`Error::JobNotFound`] for an unknown id. The
    /// default refuses: a store must implement it.
    async fn claim_backfill(
        &self,
        job_id: &str,
        times: &[DateTime<Utc>],
        request: AcquireRequest,
    ) -> Result<Acquired> {
        let _ = (job_id, times, request);
        Err(Error::InvalidConfiguration {
            setting: "store",
            value: format!("{self:?}"),
            rule: "backfill needs a store that implements it (MemoryStore, SqliteStore, PostgresStore)".to_owned(),
        })
    }

    /// Records how a claimed run ended and frees its instance slot (a run not retried:
    /// [`complete_many`](Self::complete_many) with one [`RunEnd`]).
    /// [`Error::RunNotFound`] if the run is unknown (already completed or released).
    async fn complete(
        &self,
        run_id: RunId,
        outcome: Outcome,
        finished: DateTime<Utc>,
    ) -> Result<()> {
        let end = RunEnd::new(run_id, outcome, finished);
        self.complete_many(vec![end])
            .await
            .pop()
            .unwrap_or(Err(Error::RunNotFound(run_id.0)))
    }

    /// Records how claimed runs ended, freeing their instance slots, and returns each
    /// one's result in order ([`Error::RunNotFound`] for a run unknown: already
    /// completed or released). The runtime records finished runs in batches through
    /// this.
    ///
    /// A run ended with [`RunEnd::retry_at`] leaves a *pending attempt* of its
    /// occurrence (attempt + 1, same scheduled time), recorded in the same step as the
    /// end, so that no process death between the two loses it. A pending attempt is
    /// claimed by [`acquire`](Self::acquire) once due (before new occurrences, if its
    /// job has an instance free; at the limit it waits, and
    /// [`claim_waiting`](Self::claim_waiting) starts it when an instance frees), at most
    /// once; it waits while its job is paused, and is dropped with its job. A job whose
    /// trigger is done is kept (unscheduled) while one of its runs may still retry.
    async fn complete_many(&self, done: Vec<RunEnd>) -> Vec<Result<()>>;

    /// The jobs this store removed by itself since the last call: parked jobs (trigger
    /// done) whose last run ended through this store instance, with no retry pending.
    /// The runtime reports them (`JobRemoved`) after recording ends. The default: none.
    fn take_removed(&self) -> Vec<JobId> {
        Vec::new()
    }

    /// Drops every unfinished claim of `node` made through this store instance (a clean
    /// shutdown); returns how many. A store shared by processes leaves the claims of
    /// another process with the same node id (one that died) to expire and be reaped.
    async fn release(&self, node: &str) -> Result<u64>;

    /// Gives back runs claimed ahead of their time that have not started (the runtime
    /// stopped them because their job changed, was removed, or was run now): each is
    /// forgotten as if never claimed — nothing in the history, no instance held, its
    /// occurrence free to be claimed again — and its occurrence becomes its job's next
    /// run time again where [`Job::restores`] says so (the job still exists, the
    /// occurrence is still one of its trigger's, and its next run time is later). Runs
    /// unknown or no longer running are passed over. Returns how many were given back.
    ///
    /// The default refuses: a store without it keeps the runtime from claiming ahead
    /// by default ([`default_claim_ahead`](Self::default_claim_ahead) is zero), and a
    /// run given back to it is recorded cancelled instead.
    ///
    /// # Errors
    ///
    /// A store error; [`Error::InvalidConfiguration`] from the default.
    async fn unclaim(&self, runs: &[RunId]) -> Result<u64> {
        let _ = runs;
        Err(Error::InvalidConfiguration {
            setting: "store",
            value: format!("{self:?}"),
            rule: "giving back runs claimed ahead needs a store that implements unclaim".to_owned(),
        })
    }

    /// How far ahead of their time a scheduler using this store claims runs when its
    /// builder does not say (`claim_ahead`): zero (the default) for a store whose claims
    /// cost little; a store other nodes share claims a few hundred milliseconds ahead,
    /// so that its round trips are over before runs are due. A store that returns more
    /// than zero must implement [`unclaim`](Self::unclaim) and
    /// [`on_job_change`](Self::on_job_change).
    fn default_claim_ahead(&self) -> Duration {
        Duration::ZERO
    }

    /// Registers `hook`, which the store calls when a job was changed, paused,
    /// rescheduled or removed by another process, or by another scheduler using this
    /// same store instance: with its id, or `None` for every job (all removed, a large
    /// declared set synced). The scheduler gives back the runs of it it claimed ahead
    /// (see [`unclaim`](Self::unclaim)), so the change applies to them. SQL stores call
    /// it; the default (`MemoryStore`'s too) never does: a scheduler releases its own
    /// runs when it makes a change, so only schedulers sharing one `MemoryStore` with
    /// claim-ahead set miss each other's changes.
    fn on_job_change(&self, hook: JobChangeHook) {
        let _ = hook;
    }

    /// How many runs of `job_id` are executing (claimed, not completed) on any node.
    async fn running(&self, job_id: &str) -> Result<u32>;

    /// Tells the store that `node` is alive for `lease` more, and extends the leases of
    /// the running runs it claimed through this store instance as far. Returns the
    /// runs it renewed and the instant their leases count from.
    ///
    /// That instant is read from `clock` once the store can write (a connection in
    /// hand), not when the call began: a heartbeat that waited out an outage for a
    /// connection must not write a lease that has already run out. A lease never moves
    /// backwards (a late heartbeat never shortens the lease of a run claimed after it
    /// began).
    ///
    /// A store shared by several nodes must implement it, and must not renew the runs
    /// of an earlier process that had the same node id (they would never be reaped); a
    /// single-process store may keep the default (nothing to renew).
    async fn heartbeat(&self, node: &str, clock: &dyn Clock, lease: Duration) -> Result<Renewal> {
        let _ = (node, lease);
        Ok(Renewal::new(clock.now(), Vec::new()))
    }

    /// Marks as abandoned the runs whose lease expired before `now` (their node
    /// stopped heartbeating without releasing them): they stop counting toward
    /// `max_instances`, and the occurrence of a job with `recover_abandoned` becomes
    /// due again, to be claimed by a live node. Returns the abandoned runs.
    async fn reap_abandoned(&self, now: DateTime<Utc>) -> Result<Vec<AbandonedRun>> {
        let _ = now;
        Ok(Vec::new())
    }

    /// How often the runtime must look at the store even when it expects nothing,
    /// because other processes change it too. `None` (the default): only this process
    /// changes the store, so the runtime sleeps until the next run time or a change.
    /// A store that returns `Some` also gets [`heartbeat`](Self::heartbeat) and
    /// [`reap_abandoned`](Self::reap_abandoned) calls.
    fn poll_interval(&self) -> Option<Duration> {
        None
    }

    /// Registers `wake`, which the store calls when another process changes its jobs
    /// (Postgres `LISTEN/NOTIFY`), so a job added elsewhere for "now" runs at once.
    fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        let _ = wake;
    }

    /// Finished and running runs, newest first (all jobs when `job_id` is `None`).
    /// Stores that keep no history return an empty list; a run a store cannot read (a
    /// status from a newer version) is left out and logged.
    async fn run_history(&self, job_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        let _ = (job_id, limit);
        Ok(Vec::new())
    }

    /// Whether [`run_history`](Self::run_history) answers from a history the store
    /// keeps (`false`, the default: it returns nothing, and a dashboard keeps its own).
    fn keeps_history(&self) -> bool {
        false
    }

    /// A page of the run history, newest first (see [`RunQuery`]). The default filters
    /// [`run_history`](Self::run_history); a SQL store answers with one indexed query.
    async fn query_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        let limit = query.limit;
        let simple = query.status.is_none() && query.node.is_none() && query.before.is_none();
        if simple {
            return self.run_history(query.job_id.as_deref(), limit).await;
        }
        let mut runs = self
            .run_history(query.job_id.as_deref(), usize::MAX)
            .await?;
        runs.retain(|run| query.matches(run));
        runs.truncate(limit);
        Ok(runs)
    }

    /// A page of jobs (see [`JobQuery`]). The default filters
    /// [`list_jobs`](Self::list_jobs); a SQL store pages in the database.
    async fn query_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let mut jobs = self.list_jobs().await?;
        jobs.retain(|job| query.matches(job));
        let total = jobs.len();
        let page = jobs
            .into_iter()
            .skip(query.offset)
            .take(query.limit.min(MAX_PAGE))
            .collect();
        Ok(JobPage::new(page, total))
    }

    /// The nodes that heartbeat into this store, by id (a single-process store has
    /// none: the default).
    async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        Ok(Vec::new())
    }

    /// Asks the node running `run_id` to cancel it: a store shared by several nodes
    /// records the request with the run (the node's next [`heartbeat`](Self::heartbeat)
    /// reports it in [`Renewal::cancelled`]) and tells the node at once where it can
    /// (Postgres `NOTIFY`, to the hooks of [`on_cancel`](Self::on_cancel)).
    ///
    /// # Errors
    ///
    /// [`Error::RunNotFound`] when the store holds no such
    /// run (a store that keeps no history forgets a run when it ends: the default,
    /// which knows of no run at all).
    async fn request_cancel(&self, run_id: RunId) -> Result<CancelRequest> {
        Err(crate::Error::RunNotFound(run_id.0))
    }

    /// [`request_cancel`](Self::request_cancel) for every running run of `job_id`;
    /// returns those runs (none: the default).
    async fn request_cancel_job(&self, job_id: &str) -> Result<Vec<RunId>> {
        let _ = job_id;
        Ok(Vec::new())
    }

    /// Makes the jobs of declared set `set` exactly `jobs`, in one step: declared jobs
    /// the set lacks are added (scheduled from `now`), changed ones updated (keeping
    /// their schedule when the trigger is unchanged, and their stored paused flag:
    /// see [`merge_declared`]), the set's jobs not declared removed. Jobs outside the
    /// set are untouched. SQL stores do it in one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::JobOutsideSet`] for a declared id the
    /// store holds outside the set, [`Error::DuplicateJobId`]
    /// for an id declared twice, a job's validation error: then nothing changed. The
    /// default refuses: a store must implement it to hold sets.
    async fn sync_jobs(&self, set: &str, jobs: Vec<Job>, now: DateTime<Utc>) -> Result<SyncReport> {
        let _ = (set, jobs, now);
        Err(crate::Error::InvalidConfiguration {
            setting: "store",
            value: format!("{self:?}"),
            rule: "sync_jobs needs a store that keeps job sets (MemoryStore, SqliteStore, PostgresStore)".to_owned(),
        })
    }

    /// Registers `hook`, which the store calls with a run id when another process asks
    /// for that run to be cancelled (Postgres `NOTIFY`): the scheduler cancels it if it
    /// runs it. Heartbeats report the same requests too, in case a notice is lost.
    fn on_cancel(&self, hook: Arc<dyn Fn(RunId) + Send + Sync>) {
        let _ = hook;
    }
}

/// What [`JobStore::on_job_change`] registers: called with the id of a job another
/// process changed, or `None` for any job.
pub type JobChangeHook = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// Checks a batch for [`JobStore::add_jobs`] before anything is written: each job
/// validates, and no id is given twice ([`Error::DuplicateJobId`] naming the first).
///
/// # Errors
///
/// The first job's validation error, or the first id given twice.
pub fn check_new_jobs(jobs: &[impl std::borrow::Borrow<Job>]) -> Result<()> {
    let mut ids: std::collections::HashSet<&str, crate::support::FastHash> =
        std::collections::HashSet::with_capacity_and_hasher(jobs.len(), Default::default());
    for job in jobs {
        let job: &Job = job.borrow();
        job.validate()?;
        if !ids.insert(job.id.as_str()) {
            return Err(Error::DuplicateJobId(job.id.clone()));
        }
    }
    Ok(())
}

/// What [`JobStore::census`] counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Census {
    /// Jobs stored (on SQL stores every row, one that does not decode included).
    pub jobs: usize,
    /// The id and task name of each job whose task was not allowed, in no order.
    pub unrunnable: Vec<(JobId, String)>,
}

/// What [`JobStore::request_cancel`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelRequest {
    /// The run is running on `node`, which was asked to cancel it.
    Running {
        /// The node that claimed the run.
        node: String,
    },
    /// The run had already ended: nothing to cancel.
    Ended,
    /// A pending retry, not started: dropped (recorded cancelled).
    Dropped,
}

/// A run whose node died (stopped heartbeating) while it was executing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbandonedRun {
    /// The store's id of the run.
    pub run_id: RunId,
    /// Its job.
    pub job_id: JobId,
    /// The fire time it stood for.
    pub scheduled: DateTime<Utc>,
    /// The node that claimed it.
    pub node: String,
    /// Whether the occurrence was made due again (`recover_abandoned`).
    pub recovered: bool,
}

/// One run as the store's history records it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The store's id of the run.
    pub run_id: RunId,
    /// Its job.
    pub job_id: JobId,
    /// The fire time it stood for.
    pub scheduled: DateTime<Utc>,
    /// When it was claimed to start (before `scheduled` for a run claimed ahead, which
    /// then starts at `scheduled`).
    pub started: DateTime<Utc>,
    /// When it ended (`None` while running or abandoned).
    pub finished: Option<DateTime<Utc>>,
    /// The node that ran it.
    pub node: String,
    /// Running, or how it ended.
    pub status: RunStatus,
    /// The error text of a failed run.
    pub error: Option<String>,
    /// Which attempt of its occurrence it is (1: the first run; a retry above).
    pub attempt: u32,
    /// What its task returned, as JSON text (`None`: nothing, or not finished). Read
    /// it typed with [`result_as`](Self::result_as).
    pub result: Option<String>,
}

impl Outcome {
    /// The status a store records for this outcome.
    pub fn status(&self) -> RunStatus {
        match self {
            Outcome::Success => RunStatus::Success,
            Outcome::Error(_) => RunStatus::Error,
            Outcome::Panicked(_) => RunStatus::Panicked,
            Outcome::TimedOut => RunStatus::TimedOut,
            Outcome::Cancelled => RunStatus::Cancelled,
            Outcome::Missed => RunStatus::Missed,
            Outcome::LeaseLost => RunStatus::Abandoned,
        }
    }

    /// The error text, if the run failed with one.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            Outcome::Error(e) | Outcome::Panicked(e) => Some(e),
            Outcome::LeaseLost => Some("its lease ran out before it started; not started"),
            _ => None,
        }
    }
}

/// What a [`JobStore::heartbeat`] renewed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Renewal {
    /// The instant the leases were renewed from (read once the store could write):
    /// they now end at `at + lease`, or later.
    pub at: DateTime<Utc>,
    /// The running runs whose leases were renewed. A run this node still executes and
    /// that is missing here (claimed before the heartbeat began) was taken from it:
    /// another node's reaper found its lease run out.
    pub runs: Vec<RunId>,
    /// Runs among `runs` that another process asked to cancel
    /// ([`JobStore::request_cancel`]).
    pub cancelled: Vec<RunId>,
}

impl Renewal {
    /// Leases of `runs` renewed from `at`.
    pub fn new(at: DateTime<Utc>, runs: Vec<RunId>) -> Self {
        Self {
            at,
            runs,
            cancelled: Vec::new(),
        }
    }

    /// Reports `cancelled` (runs of [`runs`](Self::runs) whose cancellation was asked).
    #[must_use]
    pub fn with_cancelled(mut self, cancelled: Vec<RunId>) -> Self {
        self.cancelled = cancelled;
        self
    }
}

impl AbandonedRun {
    /// Run `run_id` of `job_id`, standing for `scheduled`, claimed by `node` (not
    /// recovered).
    pub fn new(run_id: RunId, job_id: JobId, scheduled: DateTime<Utc>, node: String) -> Self {
        Self {
            run_id,
            job_id,
            scheduled,
            node,
            recovered: false,
        }
    }
}

impl RunRecord {
    /// Run `run_id` of `job_id`, standing for `scheduled`, claimed by `node` at
    /// `started`, in `status` (not finished, no error text).
    pub fn new(
        run_id: RunId,
        job_id: JobId,
        scheduled: DateTime<Utc>,
        started: DateTime<Utc>,
        node: String,
        status: RunStatus,
    ) -> Self {
        Self {
            run_id,
            job_id,
            scheduled,
            started,
            finished: None,
            node,
            status,
            error: None,
            attempt: 1,
            result: None,
        }
    }

    /// Sets [`result`](Self::result).
    #[must_use]
    pub fn with_result(mut self, result: Option<String>) -> Self {
        self.result = result;
        self
    }

    /// The result decoded as `T` (`None`: the run returned none).
    ///
    /// # Errors
    ///
    /// The JSON error when the result does not have the shape of `T`.
    ///
    /// ```
    /// use sched_core::store::{RunId, RunRecord, RunStatus};
    ///
    /// let at = "2026-01-01T00:00:00Z".parse().unwrap();
    /// let run = RunRecord::new(RunId(7), "report".into(), at, at, "n".into(), RunStatus::Success)
    ///     .with_result(Some(r#"{"rows":42}"#.to_owned()));
    /// #[derive(serde::Deserialize)]
    /// struct Summary { rows: u64 }
    /// assert_eq!(run.result_as::<Summary>().unwrap().map(|s| s.rows), Some(42));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn result_as<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<Option<T>> {
        self.result.as_deref().map(serde_json::from_str).transpose()
    }

    /// Sets [`attempt`](Self::attempt).
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Sets [`finished`](Self::finished) and [`error`](Self::error).
    #[must_use]
    pub fn ended(mut self, finished: Option<DateTime<Utc>>, error: Option<String>) -> Self {
        self.finished = finished;
        self.error = error;
        self
    }
}

/// Where a run stands, as the run history records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunStatus {
    /// Claimed and executing (or claimed ahead, waiting for its time).
    Running,
    /// The task returned `Ok`.
    Success,
    /// The task returned an error.
    Error,
    /// The task panicked.
    Panicked,
    /// The task ran past its timeout.
    TimedOut,
    /// Cancelled (`cancel_run`, `cancel_job`, aborted at shutdown) or released at
    /// shutdown.
    Cancelled,
    /// Waited past its misfire grace time and was not started.
    Missed,
    /// Its node stopped heartbeating while it ran.
    Abandoned,
    /// A pending retry: the next attempt of an occurrence that failed, not started
    /// yet (its `started` is when it is due).
    Retrying,
}

impl RunStatus {
    /// Every status, in the order above.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Running,
        RunStatus::Success,
        RunStatus::Error,
        RunStatus::Panicked,
        RunStatus::TimedOut,
        RunStatus::Cancelled,
        RunStatus::Missed,
        RunStatus::Abandoned,
        RunStatus::Retrying,
    ];

    /// The word stores record (`running`, `success`, `error`, `panicked`, `timed_out`,
    /// `cancelled`, `missed`, `abandoned`, `retrying`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Error => "error",
            RunStatus::Panicked => "panicked",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Missed => "missed",
            RunStatus::Abandoned => "abandoned",
            RunStatus::Retrying => "retrying",
        }
    }

    /// The status a stored word names (`None`: not one of [`as_str`](Self::as_str)'s).
    ///
    /// ```
    /// use sched_core::store::RunStatus;
    /// assert_eq!(RunStatus::parse("timed_out"), Some(RunStatus::TimedOut));
    /// assert_eq!(RunStatus::parse("exploded"), None);
    /// ```
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == word)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
