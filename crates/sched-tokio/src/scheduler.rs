//! `Scheduler`: the handle users hold (cheap `Clone`, fits axum state), and the state
//! it shares with its runtime.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::clock::Clock;
use sched_core::job::{Job, JobId};
use sched_core::store::{AcquireRequest, CancelRequest, JobStore, RunId, RunRecord, SyncReport};
use sched_core::support::Mutex;
use sched_core::trigger::Trigger;
use tokio::sync::broadcast;
use tokio::task::{AbortHandle, JoinHandle};

use crate::builder::{Config, SchedulerBuilder};
use crate::error::{Error, Result};
use crate::event::{Event, EventMask, Events, JobEvent};
use crate::runtime::cancel::CancelReason;
use crate::runtime::{Metrics, Shared};
use crate::spec::JobSpec;
use crate::task::{closure_task_name, runs_own_closure, IntoTask, Registry};

/// Specs from which [`Scheduler::add_jobs`] builds its jobs on two threads.
const PARALLEL_ADD: usize = 16_384;

/// New jobs for a store's `add_jobs`, and their ids, in the order given.
type NewJobs = (Vec<Arc<Job>>, Vec<JobId>);

/// The specs of part of a batch, each taken out of its place.
fn take_out<'s, 'a: 's>(
    specs: &'s mut [(JobSpec, &'a str)],
) -> impl ExactSizeIterator<Item = (JobSpec, &'a str)> + 's {
    specs
        .iter_mut()
        .map(|(spec, task)| (std::mem::replace(spec, JobSpec::taken()), *task))
}

/// The scheduler: add jobs, start it, control it at run time, listen to its events.
///
/// A cheap `Clone` over shared state: hand clones to axum handlers and tasks.
/// [`start`](Self::start) spawns its runtime on the current Tokio runtime; jobs run
/// there too, as Tokio tasks. So a job must not block its thread: one that does, before
/// its first `.await`, holds back the runs due with it (and with a short
/// `misfire_grace_time` makes them missed). Move blocking or long computing work to
/// [`tokio::task::spawn_blocking`].
///
/// The semantics — DST, misfires, coalescing, `max_instances`, several nodes — are in
/// [`sched_core::_documentation`].
///
/// **Testing your jobs on simulated time.** Under `tokio::time::pause()` (or
/// `#[tokio::test(start_paused = true)]`) Tokio's clock skips ahead whenever every task
/// waits, but the default wall clock is the system's, which does not: build the
/// scheduler with [`TokioClock::new()`](crate::TokioClock::new), as below, and a day of
/// schedule runs in milliseconds. `MemoryStore` works on paused time; `SqliteStore`
/// refuses it with an error saying why (its database thread is invisible to Tokio).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sched_tokio::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), sched_tokio::Error> {
/// let scheduler = Scheduler::builder().clock(TokioClock::new()).build()?;
/// let ticks = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&ticks);
/// scheduler
///     .add_job(JobSpec::interval(Duration::from_secs(10)).id("tick"), move || {
///         let counter = Arc::clone(&counter);
///         async move {
///             println!("Tick!");
///             counter.fetch_add(1, Ordering::SeqCst);
///         }
///     })
///     .await?;
/// scheduler.start().await?;
/// tokio::time::sleep(Duration::from_secs(35)).await; // simulated: no real wait
/// scheduler.shutdown().await?;
/// assert_eq!(ticks.load(Ordering::SeqCst), 3); // at 10, 20 and 30 s
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    pub(crate) inner: Arc<Inner>,
}

/// What a scheduler handle shares: its settings, where its jobs come from, its
/// events, its lifecycle, and the state its runtime shares with the runs in flight.
pub(crate) struct Inner {
    /// This scheduler's id in the process (see `runtime::cancel::register`).
    pub(crate) id: u64,
    pub(crate) config: Config,
    pub(crate) env: Env,
    pub(crate) events: Events,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) runtime: Shared,
    /// The handles of the scheduler's metrics (nothing without the `metrics` feature).
    pub(crate) metrics: Metrics,
}

impl Inner {
    pub(crate) fn new(
        config: Config,
        env: Env,
        event_capacity: usize,
        max_concurrency: Option<usize>,
        relay: Option<crate::relay::Relay>,
    ) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Self {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            config,
            env,
            events: Events::new(event_capacity, relay),
            lifecycle: Lifecycle::default(),
            runtime: Shared::new(max_concurrency),
            metrics: Metrics::new(),
        }
    }

    /// `new`, shared and registered where a `JobContext` can find it.
    pub(crate) fn shared(self) -> Arc<Self> {
        let inner = Arc::new(self);
        crate::runtime::cancel::register(&inner);
        inner
    }

    /// Reports a failed store call: a `StoreError` event, counted.
    pub(crate) fn store_error(&self, error: &dyn std::fmt::Display) {
        self.metrics.store_error();
        self.events.emit(Event::StoreError {
            error: error.to_string(),
        });
    }

    /// The longest the runtime may sleep: the wall-clock check, and for a store other
    /// processes change, its poll interval.
    pub(crate) fn max_sleep(&self) -> Duration {
        match self.env.store.poll_interval() {
            Some(poll) => poll.min(self.config.wall_clock_check),
            None => self.config.wall_clock_check,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        crate::runtime::cancel::unregister(self.id);
    }
}

/// Where jobs come from: the store, the clock, the tasks they run.
pub(crate) struct Env {
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) registry: Registry,
    /// Numbers the ids of jobs added without one.
    next_id: AtomicU64,
}

impl Env {
    pub(crate) fn new(store: Arc<dyn JobStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            registry: Registry::default(),
            next_id: AtomicU64::new(1),
        }
    }
}

/// Started, paused, stopping: set by the handle, read by the runtime.
#[derive(Default)]
pub(crate) struct Lifecycle {
    state: Mutex<State>,
    paused: AtomicBool,
    stopping: AtomicBool,
}

impl Lifecycle {
    /// Whether the whole scheduler is paused (no run starts).
    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Whether shutdown has begun: the loop ends, ending runs wake the shutdown.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Running(JoinHandle<()>),
    ShutDown,
}

impl Scheduler {
    /// A builder with the defaults: memory store, system clock, UTC, default job
    /// options (see [`SchedulerBuilder`]).
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// Registers a named task, runnable by persisted jobs (see
    /// [`add_named_job`](Self::add_named_job)). Registering a name again replaces it.
    pub fn register_task<M>(&self, name: &str, task: impl IntoTask<M>) {
        self.inner
            .env
            .registry
            .insert_named(name, task.into_task().0);
    }

    /// Adds a job that runs an async closure or fn; returns its id.
    ///
    /// The closure lives in this process: with a persistent store, use
    /// [`register_task`](Self::register_task) and [`add_named_job`](Self::add_named_job)
    /// so a restarted process can run the stored job.
    ///
    /// # Errors
    ///
    /// A bad trigger, id or option (the [`sched_core::Error`] naming it),
    /// [`sched_core::Error::DuplicateJobId`] for a taken id without `replace_existing`,
    /// [`Error::ShutDown`] after shutdown, a store error.
    pub async fn add_job<M, T: IntoTask<M>>(
        &self,
        spec: impl Into<JobSpec>,
        task: T,
    ) -> Result<JobId> {
        let mut spec = spec.into();
        let id = self.job_id(&spec);
        // Named after its function, as APScheduler does; a closure after its id.
        spec.name
            .get_or_insert_with(|| crate::task::fn_name::<T>().unwrap_or_else(|| id.to_string()));
        let name = closure_task_name(&self.inner.config.node);
        let job = spec.clone().into_job(
            id.clone(),
            &name,
            self.inner.config.timezone,
            &self.inner.config.defaults,
        )?;
        let registry = &self.inner.env.registry;
        let previous = registry.insert_closure(&id, task.into_task().0);
        let result = self.insert(job, spec.replace_existing, spec.paused).await;
        if result.is_err() {
            // A rejected add (a duplicate id, say) must leave the existing job's task.
            registry.restore_closure(&id, previous);
        }
        result
    }

    /// Adds a job that runs the registered task `task` with the spec's arguments.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTask`] if `task` is not registered; otherwise as
    /// [`add_job`](Self::add_job).
    pub async fn add_named_job(&self, spec: impl Into<JobSpec>, task: &str) -> Result<JobId> {
        let spec = spec.into();
        let (replace, paused) = (spec.replace_existing, spec.paused);
        let job = self.named_job(spec, task)?;
        self.insert(job, replace, paused).await
    }

    /// The job `spec` describes, running the registered task `task` (not scheduled
    /// yet); [`Error::UnknownTask`] if `task` is not registered here.
    fn named_job(&self, spec: JobSpec, task: &str) -> Result<Job> {
        if !self.inner.env.registry.contains(task) {
            return Err(Error::UnknownTask(task.to_owned()));
        }
        self.spec_job(spec, task)
    }

    /// [`named_job`](Self::named_job) for a task known to be registered.
    fn spec_job(&self, mut spec: JobSpec, task: &str) -> Result<Job> {
        // Taken, not cloned: the spec is used up (a bulk add reads no count).
        let id = spec.id.take().unwrap_or_else(|| self.generated_id());
        spec.into_job(
            id,
            task,
            self.inner.config.timezone,
            &self.inner.config.defaults,
        )
    }

    /// The scheduled jobs of `specs`, in order, for [`add_jobs`](Self::add_jobs); the
    /// first error in that order. A batch of [`PARALLEL_ADD`] specs or more is built on
    /// two threads (this one and a scoped one), each half in order.
    fn new_jobs(&self, mut specs: Vec<(JobSpec, &str)>, now: DateTime<Utc>) -> Result<NewJobs> {
        // Ids generated in the order given, whichever thread builds the job.
        for (spec, _) in &mut specs {
            if spec.id.is_none() {
                spec.id = Some(self.generated_id());
            }
        }
        let parallel = specs.len() >= PARALLEL_ADD
            && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        if !parallel {
            return self.build_jobs(specs.into_iter(), now);
        }
        // The second half, taken by the helper thread (or back here if there is none).
        // Each half takes its specs out of the batch in place: a copy of half of it
        // (~290 bytes a spec) into memory never touched before cost more than building.
        let half = specs.len() / 2;
        let (head, tail) = specs.split_at_mut(half);
        let tail = std::sync::Mutex::new(Some(tail));
        let take = || {
            tail.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .unwrap_or_default()
        };
        std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .name("sched-add-jobs".to_owned())
                .spawn_scoped(scope, || self.build_jobs(take_out(take()), now));
            let head = self.build_jobs(take_out(head), now);
            let tail = match helper {
                Ok(helper) => helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: this one builds the second half too.
                Err(_) => self.build_jobs(take_out(take()), now),
            };
            let (mut jobs, mut ids) = head?;
            let (more, more_ids) = tail?;
            jobs.extend(more);
            ids.extend(more_ids);
            Ok((jobs, ids))
        })
    }

    /// The scheduled jobs of `specs`, in order (see [`new_jobs`](Self::new_jobs)).
    fn build_jobs<'a>(
        &self,
        specs: impl ExactSizeIterator<Item = (JobSpec, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<NewJobs> {
        let mut jobs = Vec::with_capacity(specs.len());
        // Each id is counted once more while its job is in the cache, not later.
        let mut ids = Vec::with_capacity(specs.len());
        // The task last found registered: a batch names few tasks, and the registry's
        // lock is then read once per run of them, not per spec.
        let mut known: Option<&str> = None;
        for (spec, task) in specs {
            if spec.replace_existing {
                return Err(sched_core::Error::InvalidConfiguration {
                    setting: "add_jobs",
                    value: "a spec with replace_existing(true)".to_owned(),
                    rule: "add_jobs adds new jobs; replace one with add_named_job, or declare a set with sync_jobs".to_owned(),
                }
                .into());
            }
            if known != Some(task) {
                if !self.inner.env.registry.contains(task) {
                    return Err(Error::UnknownTask(task.to_owned()));
                }
                known = Some(task);
            }
            // Scheduled in place: a job is ~300 bytes, and a million of them moved in
            // and out of `schedule` was a tenth of the call.
            let mut job = self.spec_job(spec, task)?;
            job.schedule_in_place(now)?;
            ids.push(job.id.clone());
            jobs.push(Arc::new(job));
        }
        Ok((jobs, ids))
    }

    /// Adds many jobs at once, each a spec and the registered task it runs: all of them
    /// or, on an error, none — in one transaction on SQL stores (a million jobs into
    /// Postgres in seconds: docs/BENCHMARKS.md), under one lock on `MemoryStore`. Each
    /// is scheduled from now as [`add_named_job`](Self::add_named_job) would; a spec
    /// without an id gets a generated one. Returns the ids, in order. `JobAdded` is
    /// emitted for each job only while something listens. The call does its work
    /// without yielding (a million jobs take about a second); a batch of 16,384 specs
    /// or more is turned into jobs on two threads — the calling one and a scoped one —
    /// where the machine has two cores or more.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_tokio::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sched_tokio::Error> {
    /// let scheduler = Scheduler::builder().build()?;
    /// scheduler.register_task("ping", |ctx: JobContext| async move {
    ///     let host: String = ctx.args()?;
    ///     println!("ping {host}");
    ///     Ok::<(), sched_tokio::sched_core::Error>(())
    /// });
    /// let specs = (0..1_000).map(|n| {
    ///     let spec = JobSpec::interval(Duration::from_secs(60)).id(format!("ping-{n}"));
    ///     (spec.args(&format!("host-{n}")).expect("a string serialises"), "ping")
    /// });
    /// let ids = scheduler.add_jobs(specs).await?;
    /// assert_eq!(ids.len(), 1_000);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTask`] for a task not registered here; a spec with
    /// `replace_existing` ([`sched_core::Error::InvalidConfiguration`]: replacing keeps
    /// a stored schedule job by job — use [`add_named_job`](Self::add_named_job) or
    /// [`sync_jobs`](Self::sync_jobs)); [`sched_core::Error::DuplicateJobId`] for an id
    /// stored already or given twice; a bad trigger, id or option; [`Error::ShutDown`]
    /// after shutdown; a store error. On an error no job was added.
    pub async fn add_jobs<'a>(
        &self,
        jobs: impl IntoIterator<Item = (JobSpec, &'a str)>,
    ) -> Result<Vec<JobId>> {
        self.ensure_open()?;
        let now = self.inner.env.clock.now();
        let (batch, ids) = self.new_jobs(jobs.into_iter().collect(), now)?;
        self.inner.env.store.add_jobs(batch).await?;
        self.inner
            .metrics
            .jobs_changed(i64::try_from(ids.len()).unwrap_or(i64::MAX));
        if self.inner.events.listened() {
            for id in &ids {
                self.inner.events.emit(Event::JobAdded(self.job_event(id)));
            }
        }
        self.inner.runtime.wake();
        Ok(ids)
    }

    /// Makes the store's jobs of declared set `set` exactly `jobs` (each a spec and the
    /// registered task it runs), as a deploy declares them: jobs the set lacks are
    /// added, changed ones updated — keeping their schedule when the trigger is
    /// unchanged, and a pause an operator made — and the set's jobs not declared are
    /// removed (their running runs finish), in one transaction on SQL stores. So a
    /// deploy that drops a job does not leave it behind, unrunnable, for ever. Jobs
    /// outside the set are untouched; a job is in a set only through `sync_jobs`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use sched_tokio::prelude::*;
    /// # async fn demo(scheduler: Scheduler) -> Result<(), sched_tokio::Error> {
    /// let report = scheduler
    ///     .sync_jobs("billing", [
    ///         (JobSpec::cron("0 2 * * *")?.id("invoices"), "send_invoices"),
    ///         (JobSpec::interval(Duration::from_secs(600)).id("dunning"), "dunning"),
    ///     ])
    ///     .await?;
    /// println!("added {:?}, removed {:?}", report.added, report.removed);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTask`] for a task not registered here; a spec without an id
    /// ([`sched_core::Error::InvalidConfiguration`]: the id is how the next deploy finds
    /// the job); [`sched_core::Error::JobOutsideSet`] for an id the store holds outside
    /// the set; [`sched_core::Error::DuplicateJobId`] for an id declared twice; a bad
    /// trigger or option; a store error. On an error nothing changed.
    pub async fn sync_jobs<'a>(
        &self,
        set: &str,
        jobs: impl IntoIterator<Item = (JobSpec, &'a str)>,
    ) -> Result<SyncReport> {
        self.ensure_open()?;
        let mut declared = Vec::new();
        for (spec, task) in jobs {
            if !self.inner.env.registry.contains(task) {
                return Err(Error::UnknownTask(task.to_owned()));
            }
            let Some(id) = spec.id.clone() else {
                return Err(sched_core::Error::InvalidConfiguration {
                    setting: "sync_jobs",
                    value: "a job spec without an id".to_owned(),
                    rule: "every declared job needs an id (`JobSpec::id`): it is how the next deploy finds it".to_owned(),
                }
                .into());
            };
            let paused = spec.paused.unwrap_or(false);
            let mut job = spec.into_job(
                id,
                task,
                self.inner.config.timezone,
                &self.inner.config.defaults,
            )?;
            job.paused = paused;
            declared.push(job);
        }
        let now = self.inner.env.clock.now();
        let report = self.inner.env.store.sync_jobs(set, declared, now).await?;
        let added = i64::try_from(report.added.len()).unwrap_or(i64::MAX);
        let removed = i64::try_from(report.removed.len()).unwrap_or(i64::MAX);
        self.inner.metrics.jobs_changed(added - removed);
        for id in report.added.iter().chain(&report.updated) {
            self.inner.events.emit(Event::JobAdded(self.job_event(id)));
        }
        for id in &report.removed {
            self.inner
                .events
                .emit(Event::JobRemoved(self.job_event(id)));
        }
        if report.changed() {
            for id in report.updated.iter().chain(&report.removed) {
                self.give_back(Some(id)).await;
            }
            self.inner.runtime.wake();
        }
        Ok(report)
    }

    fn job_id(&self, spec: &JobSpec) -> JobId {
        spec.id.clone().unwrap_or_else(|| self.generated_id())
    }

    /// The next id of a job added without one.
    fn generated_id(&self) -> JobId {
        let n = self.inner.env.next_id.fetch_add(1, Ordering::Relaxed);
        JobId::from(format!("job-{n}"))
    }

    /// Schedules and stores `job` (a new definition from a spec whose paused flag, if
    /// set, is `paused`); replacing a stored one keeps its schedule when the trigger is
    /// unchanged ([`Job::replacing`]).
    async fn insert(
        &self,
        job: Job,
        replace_existing: bool,
        paused: Option<bool>,
    ) -> Result<JobId> {
        self.ensure_open()?;
        let now = self.inner.env.clock.now();
        let store = &self.inner.env.store;
        let stored = if replace_existing {
            match store.get_job(&job.id).await {
                Ok(stored) => Some(stored),
                // A row that cannot be decoded is replaced outright.
                Err(sched_core::Error::JobNotFound(_) | sched_core::Error::Decode { .. }) => None,
                Err(error) => return Err(error.into()),
            }
        } else {
            None
        };
        let new = stored.is_none();
        let job = match stored {
            Some(stored) => job.replacing(&stored, paused, now)?,
            None => job.schedule(now)?,
        };
        let id = job.id.clone();
        store.add_job(job, replace_existing).await?;
        if !new {
            self.give_back(Some(&id)).await;
        }
        if new {
            self.inner.metrics.jobs_changed(1);
        }
        self.inner.events.emit(Event::JobAdded(self.job_event(&id)));
        self.inner.runtime.wake();
        Ok(id)
    }

    /// The job with this id; [`sched_core::Error::JobNotFound`] if there is none.
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id, a store error.
    pub async fn get_job(&self, id: &str) -> Result<Job> {
        Ok(self.inner.env.store.get_job(id).await?)
    }

    /// Every job, by next run time.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn get_jobs(&self) -> Result<Vec<Job>> {
        Ok(self.inner.env.store.list_jobs().await?)
    }

    /// Recent runs from the store's history, newest first (`job_id` `None`: all jobs).
    /// The SQL stores keep history (with a retention setting); `MemoryStore` keeps none.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn run_history(&self, job_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        Ok(self.inner.env.store.run_history(job_id, limit).await?)
    }

    /// Changes a job with `change` (name, args, options; the id cannot change). To
    /// change its trigger use [`reschedule_job`](Self::reschedule_job).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id, the validation error of
    /// the changed job, [`Error::ShutDown`] after shutdown, a store error.
    pub async fn modify_job(&self, id: &str, change: impl FnOnce(&mut Job)) -> Result<Job> {
        let mut job = self.inner.env.store.get_job(id).await?;
        change(&mut job);
        job.id = id.into();
        self.update(job).await
    }

    /// Gives a job a new trigger; its next run time is computed from now
    /// ([`Job::reschedule`]).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id, the trigger's validation
    /// error, a store error.
    pub async fn reschedule_job(&self, id: &str, trigger: Trigger) -> Result<Job> {
        let mut job = self.inner.env.store.get_job(id).await?;
        job.reschedule(trigger, self.inner.env.clock.now())?;
        self.update(job).await
    }

    /// Pauses a job: it keeps its schedule but no run starts until it is resumed
    /// ([`Job::pause`]).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id, a store error.
    pub async fn pause_job(&self, id: &str) -> Result<Job> {
        self.modify_job(id, Job::pause).await
    }

    /// Resumes a paused job; runs that fell due while it was paused are skipped (its
    /// next run time is computed from now: [`Job::resume`]).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id, a store error.
    pub async fn resume_job(&self, id: &str) -> Result<Job> {
        let now = self.inner.env.clock.now();
        self.modify_job(id, |job| job.resume(now)).await
    }

    /// Job `id`, if this node can run its task ([`Error::UnknownTask`] otherwise).
    async fn runnable_job(&self, id: &str) -> Result<Job> {
        let job = self.inner.env.store.get_job(id).await?;
        let runnable = self.inner.env.registry.runnable(&self.inner.config.node);
        if !runnable.allows(&job.task) {
            return Err(Error::UnknownTask(job.task));
        }
        Ok(job)
    }

    /// A claim by this node at `now`, under its lease.
    fn claim_request(&self, now: DateTime<Utc>) -> AcquireRequest {
        AcquireRequest::new(self.inner.config.node.as_str(), now).lease(self.inner.config.lease)
    }

    /// Runs a job once, now — paused or not (an admin page's "Run now" button) — on this
    /// node, leaving its schedule and its paused flag as they are. The run counts toward
    /// `max_instances`: a job at its limit is skipped (`JobMaxInstances`), not queued.
    ///
    /// Before [`start`](Self::start), a job that is not paused is made due now instead
    /// (it runs when a scheduler sharing the store claims it).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id; [`Error::UnknownTask`] if
    /// its task is not registered on this node; [`Error::NotRunning`] for a paused job
    /// before `start`; [`Error::ShutDown`] after shutdown; a store error.
    pub async fn run_job_now(&self, id: &str) -> Result<Job> {
        let now = self.inner.env.clock.now();
        if !self.is_running()? {
            let job = self.inner.env.store.get_job(id).await?;
            if job.paused {
                return Err(Error::NotRunning);
            }
            return self.modify_job(id, |job| job.run_now(now)).await;
        }
        let job = self.runnable_job(id).await?;
        // A run of it claimed ahead would hold an instance this run needs: given back,
        // its occurrence is decided at its time, with this run counted.
        self.give_back(Some(id)).await;
        let acquired = self
            .inner
            .env
            .store
            .claim_now(id, self.claim_request(now))
            .await?;
        crate::runtime::dispatch(&self.inner, acquired, now);
        Ok(job)
    }

    /// Backfill: runs the occurrences of job `id` from `from` to `to` (both included, a
    /// past window: `to` not after now), on this node, in order — as many at once as the
    /// job has instances free, one by default — whatever its paused flag, leaving its
    /// schedule as it is. An occurrence the store has a record of (a run in its
    /// history, or running) is passed over: each runs once, the occurrence key holds
    /// here too (a store without history, `MemoryStore`, knows only the runs executing
    /// and those backfilled before). The runs are reported like any (`JobSubmitted`,
    /// `JobExecuted`, in the history), count toward `max_instances` — a run of the job
    /// coming due meanwhile is handled by its overlap policy, as at any limit — and are
    /// not subject to the misfire grace (they are late on purpose). Returns what was
    /// started and what was passed over; it does not wait for the runs to end.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_tokio::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sched_tokio::Error> {
    /// let scheduler = Scheduler::builder().build()?;
    /// let hours = |n| chrono::Duration::hours(n);
    /// let start = scheduler.now() - hours(24);
    /// let hourly = JobSpec::interval(Duration::from_secs(3600))
    ///     .id("rollup")
    ///     .start(start)
    ///     .paused(true); // the rollups were off for a while
    /// scheduler.add_job(hourly, || async {}).await?;
    /// scheduler.start().await?;
    /// // Run three of the hours it missed, in order.
    /// let report = scheduler.backfill("rollup", start + hours(20), start + hours(22)).await?;
    /// assert_eq!(report.started.len(), 3);
    /// scheduler.shutdown().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::InvalidConfiguration`] for a window that ends before it
    /// starts, ends after now, or holds more than [`MAX_BACKFILL`] occurrences (split
    /// it); [`Error::RunNotStarted`] when the job has no instance free; as
    /// [`run_job_now`](Self::run_job_now) otherwise (the scheduler must be running).
    pub async fn backfill(
        &self,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Backfill> {
        if !self.is_running()? {
            return Err(Error::NotRunning);
        }
        let now = self.inner.env.clock.now();
        let window = || format!("{} to {}", from.to_rfc3339(), to.to_rfc3339());
        let invalid = |rule: String| {
            Error::Core(sched_core::Error::InvalidConfiguration {
                setting: "backfill",
                value: window(),
                rule,
            })
        };
        if to < from {
            return Err(invalid("the window ends before it starts".to_owned()));
        }
        if to > now {
            return Err(invalid(format!(
                "a backfill runs past occurrences: the window must end by now ({})",
                now.to_rfc3339()
            )));
        }
        let job = self.runnable_job(id).await?;
        let times = job
            .occurrences_between(from, to, MAX_BACKFILL)
            .map_err(|limit| {
                invalid(format!(
                    "it holds more than {limit} occurrences of the job; backfill it in parts"
                ))
            })?;
        let mut report = Backfill {
            job_id: job.id.clone(),
            started: Vec::new(),
            passed_over: Vec::new(),
        };
        if times.is_empty() {
            return Ok(report);
        }
        // As for `run_job_now`: a run claimed ahead does not hold the instance.
        self.give_back(Some(id)).await;
        let request = self.claim_request(now);
        let acquired = self
            .inner
            .env
            .store
            .claim_backfill(id, &times, request)
            .await?;
        if acquired.runs.is_empty() && !acquired.skipped.is_empty() {
            return Err(at_its_limit(&job));
        }
        report.started = acquired
            .runs
            .iter()
            .map(|run| (run.run_id, run.scheduled))
            .collect();
        report.passed_over = times
            .into_iter()
            .filter(|at| !report.started.iter().any(|(_, t)| t == at))
            .collect();
        tracing::info!(job_id = %id, started = report.started.len(),
            passed_over = report.passed_over.len(), "backfill");
        crate::runtime::dispatch(&self.inner, acquired, now);
        Ok(report)
    }

    /// [`run_job_now`](Self::run_job_now), then waits for that run to end: returns its
    /// record — status, error text, attempt, and the task's
    /// [`result`](sched_core::store::RunRecord::result) (decode it with
    /// [`result_as`](sched_core::store::RunRecord::result_as)) — on any store, one
    /// that keeps no history included. A failed run that its job's retry policy tries
    /// again returns the failed attempt (the retry is another run, announced by
    /// `JobRetrying`).
    ///
    /// ```
    /// use sched_tokio::prelude::*;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Report { rows: u64 }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scheduler = Scheduler::builder().build()?;
    /// scheduler
    ///     .add_job(JobSpec::cron("0 6 * * *")?.id("report"), || async {
    ///         Ok::<_, std::io::Error>(Report { rows: 42 })
    ///     })
    ///     .await?;
    /// scheduler.start().await?;
    /// let run = scheduler.run_job_now_and_wait("report").await?;
    /// assert_eq!(run.status, sched_tokio::sched_core::store::RunStatus::Success);
    /// assert_eq!(run.result_as::<Report>()?.map(|r| r.rows), Some(42));
    /// scheduler.shutdown().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run_job_now`](Self::run_job_now) (the scheduler must be running:
    /// [`Error::NotRunning`] before `start`); [`Error::RunNotStarted`] for a job at its
    /// `max_instances`; [`Error::ShutDown`] if the scheduler stops before the run ends.
    pub async fn run_job_now_and_wait(&self, id: &str) -> Result<RunRecord> {
        if !self.is_running()? {
            return Err(Error::NotRunning);
        }
        let now = self.inner.env.clock.now();
        let job = self.runnable_job(id).await?;
        let acquired = self
            .inner
            .env
            .store
            .claim_now(id, self.claim_request(now))
            .await?;
        let Some(run) = acquired.runs.first() else {
            return Err(at_its_limit(&job));
        };
        let (run_id, job_id, scheduled, attempt) =
            (run.run_id, run.job_id.clone(), run.scheduled, run.attempt);
        // Waiting before the run starts: its end cannot be missed, whatever way it ends
        // (a result, an error, a cancel, a lease lost, missed in the queue).
        let end = self.inner.runtime.wait_for_end(run_id);
        crate::runtime::dispatch(&self.inner, acquired, now);
        let mut end = end.await.map_err(|_| Error::ShutDown)?;
        let status = end.outcome.status();
        let error = end.outcome.error_text().map(str::to_owned);
        let node = self.inner.config.node.clone();
        let record = RunRecord::new(run_id, job_id, scheduled, now, node, status)
            .ended(Some(end.finished), error)
            .attempt(attempt)
            .with_result(end.take_result());
        Ok(record)
    }

    /// Asks run `run_id` to stop, on whichever node runs it: its
    /// [`JobContext`](crate::JobContext) token fires, it has its job's `cancel_grace`
    /// to end (none if it never took its token), then its future is dropped. It is
    /// recorded and reported (`JobError`) as [`Outcome::Cancelled`](sched_core::store::Outcome::Cancelled)
    /// however it ends after the request. A run on another node sharing a Postgres
    /// store hears of it through `NOTIFY` within milliseconds, or at its node's next
    /// heartbeat if the notice is lost.
    ///
    /// Returns `true` if the run was running (here or elsewhere) and was asked to
    /// stop, `false` if it had already ended.
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::RunNotFound`] for a run the store does not know (a store
    /// without history forgets runs as they end); a store error.
    pub async fn cancel_run(&self, run_id: RunId) -> Result<bool> {
        if crate::runtime::cancel::cancel_run(&self.inner, run_id, CancelReason::Requested) {
            return Ok(true);
        }
        match self.inner.env.store.request_cancel(run_id).await? {
            CancelRequest::Running { node } => {
                if node == self.inner.config.node {
                    // Claimed here, its start not under way yet: cancelled as it starts.
                    crate::runtime::cancel::cancel_claimed(&self.inner, run_id);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// [`cancel_run`](Self::cancel_run) for every running run of job `job_id`, on every
    /// node; returns how many were asked to stop. The job itself stays scheduled
    /// (pause or remove it to stop its future runs).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] when no such job exists and none of its runs
    /// is running; a store error.
    pub async fn cancel_job(&self, job_id: &str) -> Result<usize> {
        let mut ids =
            crate::runtime::cancel::cancel_job(&self.inner, job_id, CancelReason::Requested);
        for run_id in self.inner.env.store.request_cancel_job(job_id).await? {
            if !ids.contains(&run_id) {
                ids.push(run_id);
            }
        }
        if ids.is_empty() {
            // No run to stop: an unknown job is an error, a known one had none running.
            self.inner.env.store.get_job(job_id).await?;
        }
        Ok(ids.len())
    }

    /// Removes a job. Runs already executing finish.
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id; [`sched_core::Error::Decode`]
    /// for a stored row that cannot be decoded, which is then left as it is (remove it
    /// with [`purge_job`](Self::purge_job)); a store error.
    pub async fn remove_job(&self, id: &str) -> Result<Job> {
        let job = self.inner.env.store.remove_job(id).await?;
        self.give_back(Some(id)).await;
        self.inner.metrics.jobs_changed(-1);
        self.forget(&job);
        self.inner
            .events
            .emit(Event::JobRemoved(self.job_event(id)));
        self.inner.runtime.wake();
        Ok(job)
    }

    /// Removes job `id`'s stored row whatever it holds, one that cannot be decoded
    /// included (reported by `JobUnrunnable`, refused by
    /// [`remove_job`](Self::remove_job)); whether there was one.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn purge_job(&self, id: &str) -> Result<bool> {
        let purged = self.inner.env.store.purge_job(id).await?;
        if purged {
            self.give_back(Some(id)).await;
            self.inner.metrics.jobs_changed(-1);
            self.inner
                .events
                .emit(Event::JobRemoved(self.job_event(id)));
            self.inner.runtime.wake();
        }
        Ok(purged)
    }

    /// Removes every job; returns how many.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn remove_all_jobs(&self) -> Result<u64> {
        let jobs = self.inner.env.store.list_jobs().await?;
        let count = self.inner.env.store.remove_all_jobs().await?;
        self.give_back(None).await;
        self.inner.metrics.jobs_cleared();
        for job in &jobs {
            self.forget(job);
            self.inner
                .events
                .emit(Event::JobRemoved(self.job_event(&job.id)));
        }
        self.inner.runtime.wake();
        Ok(count)
    }

    /// Gives back the runs of `job` (`None`: of every job) this node claimed ahead of
    /// their time and has not started, so that a change applies to them (see
    /// [`claim_ahead`](crate::SchedulerBuilder::claim_ahead)).
    async fn give_back(&self, job: Option<&str>) {
        let released = crate::runtime::ahead::release(&self.inner, job);
        crate::runtime::ahead::give_back(&self.inner, released).await;
    }

    fn forget(&self, job: &Job) {
        if runs_own_closure(&self.inner.config.node, job) {
            self.inner.env.registry.remove_closure(&job.id);
        }
    }

    async fn update(&self, job: Job) -> Result<Job> {
        self.ensure_open()?;
        self.inner.env.store.update_job(job.clone()).await?;
        self.give_back(Some(&job.id)).await;
        self.inner
            .events
            .emit(Event::JobModified(self.job_event(&job.id)));
        self.inner.runtime.wake();
        Ok(job)
    }

    /// Pauses the whole scheduler: no run starts until [`resume`](Self::resume) (runs
    /// claimed ahead of their time are given back to the store).
    pub fn pause(&self) {
        if !self.inner.lifecycle.paused.swap(true, Ordering::SeqCst) {
            crate::runtime::ahead::release_in_background(&self.inner, None);
            self.inner.events.emit(Event::SchedulerPaused {
                at: self.inner.env.clock.now(),
            });
            self.inner.runtime.wake();
        }
    }

    /// Resumes after [`pause`](Self::pause); overdue runs follow the misfire rules.
    pub fn resume(&self) {
        if self.inner.lifecycle.paused.swap(false, Ordering::SeqCst) {
            self.inner.events.emit(Event::SchedulerResumed {
                at: self.inner.env.clock.now(),
            });
            self.inner.runtime.wake();
        }
    }

    /// A receiver of every event from now on. A receiver that falls more than the
    /// event capacity behind gets `RecvError::Lagged(n)`, telling how many it missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Calls `listener` for every event whose kind is in `mask`, on a task of its own:
    /// a slow listener never delays scheduling (it lags, and is told so in a warning).
    /// Must be called within a Tokio runtime. Dropping the handle keeps the listener;
    /// [`ListenerHandle::remove`] stops it.
    pub fn add_listener(
        &self,
        mask: EventMask,
        listener: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ListenerHandle {
        let mut events = self.subscribe();
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) if mask.matches(&event) => listener(&event),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "event listener fell behind and missed events");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        ListenerHandle {
            task: task.abort_handle(),
        }
    }

    /// Starts the runtime task and returns. Starting twice is [`Error::AlreadyRunning`].
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRunning`] if it runs already, [`Error::ShutDown`] after
    /// shutdown.
    pub async fn start(&self) -> Result<()> {
        let mut state = self.inner.lifecycle.state();
        match *state {
            State::Running(_) => return Err(Error::AlreadyRunning),
            State::ShutDown => return Err(Error::ShutDown),
            State::Idle => {}
        }
        let inner = Arc::clone(&self.inner);
        crate::relay::start(&inner);
        *state = State::Running(tokio::spawn(crate::runtime::run(inner)));
        drop(state);
        self.inner.events.emit(Event::SchedulerStarted {
            at: self.inner.env.clock.now(),
        });
        Ok(())
    }

    /// Starts, runs until `signal` completes, then shuts down: the shape of a script
    /// whose only purpose is scheduling (APScheduler's `BlockingScheduler`).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start) and [`shutdown`](Self::shutdown).
    pub async fn run_until(&self, signal: impl Future<Output = ()>) -> Result<()> {
        self.start().await?;
        signal.await;
        self.shutdown().await
    }

    /// [`run_until`](Self::run_until) the process is asked to stop: Ctrl-C, or
    /// `SIGTERM` on Unix (what containers and Kubernetes send), see
    /// [`shutdown_signal`](crate::shutdown_signal). Running jobs then finish (up to the
    /// shutdown timeout) before it returns.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start) and [`shutdown`](Self::shutdown).
    pub async fn run_forever(&self) -> Result<()> {
        self.run_until(crate::signal::shutdown_signal()).await
    }

    /// Stops claiming runs, waits for running jobs up to the shutdown timeout (then
    /// aborts the rest and reports [`Error::ShutdownTimedOut`]), releases this node's
    /// claims. The scheduler cannot start again.
    ///
    /// # Errors
    ///
    /// [`Error::ShutdownTimedOut`] with the number of runs aborted after the timeout,
    /// [`Error::NotRunning`] before `start`, [`Error::ShutDown`] if shut down already.
    pub async fn shutdown(&self) -> Result<()> {
        self.stop(Some(self.inner.config.shutdown_timeout)).await
    }

    /// Stops at once: aborts running jobs (reported as errors), releases claims.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] before `start`, [`Error::ShutDown`] if shut down already.
    pub async fn shutdown_now(&self) -> Result<()> {
        self.stop(None).await
    }

    async fn stop(&self, wait: Option<Duration>) -> Result<()> {
        let handle = {
            let mut state = self.inner.lifecycle.state();
            match std::mem::replace(&mut *state, State::ShutDown) {
                State::Running(handle) => handle,
                State::Idle => {
                    *state = State::Idle;
                    return Err(Error::NotRunning);
                }
                State::ShutDown => return Err(Error::ShutDown),
            }
        };
        self.inner.lifecycle.stopping.store(true, Ordering::SeqCst);
        self.inner.runtime.wake();
        let _ = handle.await; // the loop ends at its next await point
        let aborted = crate::runtime::drain(&self.inner, wait).await;
        if let Err(e) = self.inner.env.store.release(&self.inner.config.node).await {
            self.inner.store_error(&e);
        }
        self.inner.runtime.stop_lease_task();
        self.inner.runtime.forget_waiters();
        self.inner.events.emit(Event::SchedulerShutdown {
            at: self.inner.env.clock.now(),
        });
        crate::relay::stop(&self.inner).await;
        match (aborted, wait) {
            (0, _) | (_, None) => Ok(()),
            (n, Some(_)) => Err(Error::ShutdownTimedOut(n)),
        }
    }

    /// Counters of the runtime, for metrics and benchmarks.
    pub fn stats(&self) -> Stats {
        Stats {
            wakeups: self.inner.runtime.wakeups(),
            running: self.inner.runtime.running(),
        }
    }

    /// This node's id in the store.
    pub fn node_id(&self) -> &str {
        &self.inner.config.node
    }

    /// The store this scheduler uses.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.env.store
    }

    /// The current wall-clock time as this scheduler sees it.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.env.clock.now()
    }

    /// Whether the runtime runs (`Err` after shutdown).
    fn is_running(&self) -> Result<bool> {
        match *self.inner.lifecycle.state() {
            State::ShutDown => Err(Error::ShutDown),
            State::Running(_) => Ok(true),
            State::Idle => Ok(false),
        }
    }

    fn ensure_open(&self) -> Result<()> {
        match *self.inner.lifecycle.state() {
            State::ShutDown => Err(Error::ShutDown),
            _ => Ok(()),
        }
    }

    fn job_event(&self, id: &str) -> JobEvent {
        JobEvent {
            job_id: id.into(),
            at: self.inner.env.clock.now(),
            node: self.inner.config.node.clone(),
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("node", &self.inner.config.node)
            .field("store", &self.inner.env.store)
            .field("timezone", &self.inner.config.timezone)
            .field(
                "paused",
                &self.inner.lifecycle.paused.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// Counters of a scheduler's runtime ([`Scheduler::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// How many times the runtime loop has woken up (an idle scheduler does not).
    pub wakeups: u64,
    /// Runs executing on this node now.
    pub running: usize,
}

/// A listener added with [`Scheduler::add_listener`].
#[derive(Debug)]
pub struct ListenerHandle {
    task: AbortHandle,
}

impl ListenerHandle {
    /// Stops the listener.
    pub fn remove(self) {
        self.task.abort();
    }
}

/// The most occurrences one [`Scheduler::backfill`] runs.
pub const MAX_BACKFILL: usize = 1_000;

/// What a [`Scheduler::backfill`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backfill {
    /// The job.
    pub job_id: JobId,
    /// The runs started, with the occurrence each stands for, in order.
    pub started: Vec<(RunId, DateTime<Utc>)>,
    /// The occurrences of the window passed over: the store has a record of them.
    pub passed_over: Vec<DateTime<Utc>>,
}

/// [`Error::RunNotStarted`] for `job`, which has no instance free.
fn at_its_limit(job: &Job) -> Error {
    Error::RunNotStarted {
        job_id: job.id.to_string(),
        reason: format!(
            "no instance free: {} run(s) of it are executing, its max_instances",
            job.options.max_instances
        ),
    }
}
