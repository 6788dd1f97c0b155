//! `Scheduler`: the handle users hold (cheap `Clone`, fits axum state) and its builder.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sched_core::clock::{Clock, SystemClock};
use sched_core::job::{Job, JobOptions};
use sched_core::store::{JobStore, MemoryStore, RunRecord};
use sched_core::support::Mutex;
use sched_core::trigger::Trigger;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::task::{AbortHandle, JoinHandle};

use crate::error::{Error, Result};
use crate::event::{Event, EventMask, JobEvent};
use crate::spec::JobSpec;
use crate::task::{closure_task_name, IntoTask, Registry};

/// The scheduler: add jobs, start it, control it at run time, listen to its events.
///
/// A cheap `Clone` over shared state: hand clones to axum handlers and tasks. The
/// runtime is one Tokio task (spawned by [`start`](Self::start)) that sleeps until the
/// next due run, claims due runs from the store and starts them.
///
/// Runs claimed together start together, up to 64 in one task: each is polled once
/// there in turn, and a run that has not ended by then goes on in a Tokio task of its
/// own (so `tokio::task::id()` inside a job can change at its first `.await`). What a
/// job does before its first `.await` therefore delays the runs started after it in its
/// group: once first polls have taken 200 µs, the rest of the group moves to a new task
/// that another worker thread can take, but a job that blocks its thread (as no async
/// code on Tokio should) holds back the runs behind it for as long as it blocks, and
/// with a `misfire_grace_time` shorter than that they are reported missed. Move
/// blocking or long computing work to [`tokio::task::spawn_blocking`], or start the job
/// with `tokio::task::yield_now().await`.
///
/// ```
/// use std::time::Duration;
/// use sched_tokio::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), sched_tokio::Error> {
/// let scheduler = Scheduler::builder().build()?;
/// scheduler
///     .add_job(JobSpec::interval(Duration::from_secs(10)).id("tick"), || async {
///         println!("Tick!");
///     })
///     .await?;
/// scheduler.start().await?;
/// tokio::time::sleep(Duration::from_secs(35)).await; // three ticks (time is paused here)
/// scheduler.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) timezone: Tz,
    pub(crate) defaults: JobOptions,
    pub(crate) registry: Registry,
    pub(crate) events: broadcast::Sender<Event>,
    /// Wakes the runtime: a job changed, the scheduler was paused/resumed/stopped.
    pub(crate) wake: Notify,
    pub(crate) node: String,
    state: Mutex<State>,
    /// The heartbeat/reaper task: it runs until `stop` has released this node's claims,
    /// so leases stay renewed while running jobs drain.
    pub(crate) maintenance: Mutex<Option<JoinHandle<()>>>,
    pub(crate) paused: AtomicBool,
    pub(crate) stopping: AtomicBool,
    /// Shutdown is aborting the runs in flight: runs not started yet are dropped.
    pub(crate) aborting: AtomicBool,
    /// Runs executing on this node, to wait for or abort at shutdown.
    pub(crate) runs: Mutex<crate::runtime::running::Running>,
    /// Signalled when a run ends while the scheduler is stopping.
    pub(crate) idle: Notify,
    /// Finished runs, recorded in the store in batches by the runtime loop (so a run
    /// takes no lock when it ends).
    pub(crate) completions: crate::runtime::Completions,
    /// The loop sleeps for long (or until woken): an ending run notifies `ended`.
    pub(crate) sleeping_long: AtomicBool,
    /// Runs ended while the loop sleeps long (it records them soon).
    pub(crate) ended: Notify,
    pub(crate) limit: Option<Arc<Semaphore>>,
    pub(crate) config: Config,
    next_id: AtomicU64,
    /// Someone may hold an event receiver (see `Inner::emit`).
    listened: AtomicBool,
    /// Times the runtime loop woke up (for `stats`; the benchmark checks idleness).
    pub(crate) wakeups: AtomicU64,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) shutdown_timeout: Duration,
    pub(crate) batch: usize,
    pub(crate) lease: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) wall_clock_check: Duration,
    pub(crate) claim_ahead: Duration,
}

enum State {
    Idle,
    Running(JoinHandle<()>),
    ShutDown,
}

/// Configures a [`Scheduler`]; from [`Scheduler::builder`].
#[must_use]
pub struct SchedulerBuilder {
    store: Option<Arc<dyn JobStore>>,
    clock: Arc<dyn Clock>,
    timezone: Tz,
    defaults: JobOptions,
    max_concurrency: Option<usize>,
    event_capacity: usize,
    node: Option<String>,
    config: Config,
}

impl SchedulerBuilder {
    /// Where jobs live (default: a fresh [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn JobStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The zone of jobs whose trigger does not name one (default UTC).
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.timezone = tz;
        self
    }

    /// Options of jobs added without their own.
    pub fn job_defaults(mut self, defaults: JobOptions) -> Self {
        self.defaults = defaults;
        self
    }

    /// Most runs executing at once on this node, over all jobs (default: unlimited).
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = Some(limit);
        self
    }

    /// How long `shutdown` waits for running jobs before aborting them (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// The wall clock (default: the system clock). Tests pass a
    /// [`TokioClock`](crate::TokioClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// This node's id in a shared store (default: generated, unique per process start).
    pub fn node_id(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Capacity of the event channel; a receiver that falls further behind learns how
    /// many events it missed (default 4096).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Most jobs claimed from the store in one go (default 2048).
    pub fn claim_batch(mut self, batch: usize) -> Self {
        self.config.batch = batch.max(1);
        self
    }

    /// How long this node's claims stay valid without a heartbeat (default 10 s): when
    /// a node dies, its running runs are reported abandoned this long after its last
    /// heartbeat. Only stores shared between processes use it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(10));
        self
    }

    /// How often this node heartbeats with a shared store (default 2 s; keep it well
    /// under the lease). It looks for abandoned runs twice as often.
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.config.heartbeat = every.max(Duration::from_millis(1));
        self
    }

    /// The longest the runtime sleeps without re-reading the wall clock, so that a
    /// clock step (NTP, suspend/resume) is noticed (default 30 s).
    pub fn wall_clock_check(mut self, every: Duration) -> Self {
        self.config.wall_clock_check = every.max(Duration::from_millis(1));
        self
    }

    /// Claims each job's next run up to `ahead` before it is due, and starts it from a
    /// local timer at its time (default zero: claims what is due).
    ///
    /// Meant for a store shared by several nodes (Postgres): the database round trip
    /// then no longer adds to a run's delay, and one claim takes a slice of the coming
    /// runs instead of what fell due since the last one. A run is claimed ahead only
    /// when its job has a free instance (`max_instances`); otherwise it is decided when
    /// due, as without claim-ahead. The cost: a run claimed ahead is decided up to `ahead`
    /// before its time, so a pause, removal or change made in that window (or a
    /// [`pause`](Scheduler::pause) of the scheduler) applies from the job's following
    /// run, and shutting down waits for the claimed runs' times (or cancels them with
    /// [`shutdown_now`](Scheduler::shutdown_now)). A node killed while holding runs
    /// claimed ahead loses them like runs in flight: they are reported abandoned once its
    /// lease expires, and run again only for jobs with `recover_abandoned`. With
    /// `max_instances` 1, [`run_job_now`](Scheduler::run_job_now) inside that window
    /// finds the instance taken by the claimed run and is skipped (`JobMaxInstances`).
    /// Capped at half the lease.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = sched_tokio::Scheduler::builder().claim_ahead(Duration::from_millis(300));
    /// ```
    pub fn claim_ahead(mut self, ahead: Duration) -> Self {
        self.config.claim_ahead = ahead;
        self
    }

    /// Builds the scheduler (not started).
    pub fn build(mut self) -> Result<Scheduler> {
        self.config.claim_ahead = self.config.claim_ahead.min(self.config.lease / 2);
        self.defaults.validate()?;
        let (events, _) = broadcast::channel(self.event_capacity);
        let node = self.node.unwrap_or_else(generated_node_id);
        Ok(Scheduler {
            inner: Arc::new(Inner {
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                clock: self.clock,
                timezone: self.timezone,
                defaults: self.defaults,
                registry: Registry::default(),
                events,
                wake: Notify::new(),
                node,
                state: Mutex::new(State::Idle),
                maintenance: Mutex::new(None),
                paused: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
                aborting: AtomicBool::new(false),
                runs: Mutex::default(),
                idle: Notify::new(),
                completions: crate::runtime::Completions::default(),
                sleeping_long: AtomicBool::new(false),
                ended: Notify::new(),
                limit: self.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
                config: self.config,
                next_id: AtomicU64::new(1),
                wakeups: AtomicU64::new(0),
                listened: AtomicBool::new(false),
            }),
        })
    }
}

fn generated_node_id() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("node-{}-{:x}", std::process::id(), nanos)
}

impl Scheduler {
    /// A builder with the defaults: memory store, UTC, default job options.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder {
            store: None,
            clock: Arc::new(SystemClock),
            timezone: Tz::UTC,
            defaults: JobOptions::default(),
            max_concurrency: None,
            event_capacity: 4096,
            node: None,
            config: Config {
                shutdown_timeout: Duration::from_secs(30),
                batch: 2048,
                lease: Duration::from_secs(10),
                heartbeat: Duration::from_secs(2),
                wall_clock_check: Duration::from_secs(30),
                claim_ahead: Duration::ZERO,
            },
        }
    }

    /// Registers a named task, runnable by persisted jobs (see
    /// [`add_named_job`](Self::add_named_job)). Registering a name again replaces it.
    pub fn register_task<M>(&self, name: &str, task: impl IntoTask<M>) {
        self.inner.registry.insert_named(name, task.into_task().0);
    }

    /// Adds a job that runs an async closure or fn; returns its id.
    ///
    /// The closure lives in this process: with a persistent store, use
    /// [`register_task`](Self::register_task) and [`add_named_job`](Self::add_named_job)
    /// so a restarted process can run the stored job.
    pub async fn add_job<M>(
        &self,
        spec: impl Into<JobSpec>,
        task: impl IntoTask<M>,
    ) -> Result<String> {
        let mut spec = spec.into();
        let id = self.job_id(&spec);
        spec.name.get_or_insert_with(|| id.clone());
        let name = closure_task_name(&self.inner.node, &id);
        let job =
            spec.clone()
                .into_job(id.clone(), &name, self.inner.timezone, &self.inner.defaults)?;
        let previous = self.inner.registry.insert(&name, task.into_task().0);
        let result = self.insert(job, spec.replace_existing).await;
        if result.is_err() {
            // A rejected add (a duplicate id, say) must leave the existing job's task.
            match previous {
                Some(previous) => drop(self.inner.registry.insert(&name, previous)),
                None => self.inner.registry.remove(&name),
            }
        }
        result
    }

    /// Adds a job that runs the registered task `task` with the spec's arguments.
    pub async fn add_named_job(&self, spec: impl Into<JobSpec>, task: &str) -> Result<String> {
        if !self.inner.registry.contains(task) {
            return Err(Error::UnknownTask(task.to_owned()));
        }
        let spec = spec.into();
        let id = self.job_id(&spec);
        let replace = spec.replace_existing;
        let job = spec.into_job(id, task, self.inner.timezone, &self.inner.defaults)?;
        self.insert(job, replace).await
    }

    fn job_id(&self, spec: &JobSpec) -> String {
        spec.id.clone().unwrap_or_else(|| {
            let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            format!("job-{n}")
        })
    }

    async fn insert(&self, job: Job, replace_existing: bool) -> Result<String> {
        self.ensure_open()?;
        let job = job.schedule(self.inner.clock.now())?;
        let id = job.id.clone();
        self.inner.store.add_job(job, replace_existing).await?;
        self.inner.emit(Event::JobAdded(self.job_event(&id)));
        self.inner.wake.notify_one();
        Ok(id)
    }

    /// The job with this id; [`sched_core::Error::JobNotFound`] if there is none.
    pub async fn get_job(&self, id: &str) -> Result<Job> {
        Ok(self.inner.store.get_job(id).await?)
    }

    /// Every job, by next run time.
    pub async fn get_jobs(&self) -> Result<Vec<Job>> {
        Ok(self.inner.store.list_jobs().await?)
    }

    /// Recent runs from the store's history, newest first (`job_id` `None`: all jobs).
    /// The SQL stores keep history (with a retention setting); `MemoryStore` keeps none.
    pub async fn run_history(&self, job_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        Ok(self.inner.store.run_history(job_id, limit).await?)
    }

    /// Changes a job with `change` (name, args, options; the id cannot change). To
    /// change its trigger use [`reschedule_job`](Self::reschedule_job).
    pub async fn modify_job(&self, id: &str, change: impl FnOnce(&mut Job)) -> Result<Job> {
        let mut job = self.inner.store.get_job(id).await?;
        change(&mut job);
        job.id = id.to_owned();
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
        let mut job = self.inner.store.get_job(id).await?;
        job.reschedule(trigger, self.inner.clock.now())?;
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
        let now = self.inner.clock.now();
        self.modify_job(id, |job| job.resume(now)).await
    }

    /// Runs a job as soon as possible (then it follows its schedule again:
    /// [`Job::run_now`]). A paused job runs once it is resumed.
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::JobNotFound`] for an unknown id, a store error.
    pub async fn run_job_now(&self, id: &str) -> Result<Job> {
        let now = self.inner.clock.now();
        self.modify_job(id, |job| job.run_now(now)).await
    }

    /// Removes a job. Runs already executing finish.
    pub async fn remove_job(&self, id: &str) -> Result<Job> {
        let job = self.inner.store.remove_job(id).await?;
        self.forget(&job);
        self.inner.emit(Event::JobRemoved(self.job_event(id)));
        self.inner.wake.notify_one();
        Ok(job)
    }

    /// Removes every job; returns how many.
    pub async fn remove_all_jobs(&self) -> Result<u64> {
        let jobs = self.inner.store.list_jobs().await?;
        let count = self.inner.store.remove_all_jobs().await?;
        for job in &jobs {
            self.forget(job);
            self.inner.emit(Event::JobRemoved(self.job_event(&job.id)));
        }
        self.inner.wake.notify_one();
        Ok(count)
    }

    fn forget(&self, job: &Job) {
        if job.task == closure_task_name(&self.inner.node, &job.id) {
            self.inner.registry.remove(&job.task);
        }
    }

    async fn update(&self, job: Job) -> Result<Job> {
        self.ensure_open()?;
        self.inner.store.update_job(job.clone()).await?;
        self.inner.emit(Event::JobModified(self.job_event(&job.id)));
        self.inner.wake.notify_one();
        Ok(job)
    }

    /// Pauses the whole scheduler: no run starts until [`resume`](Self::resume).
    pub fn pause(&self) {
        if !self.inner.paused.swap(true, Ordering::SeqCst) {
            self.inner.emit(Event::SchedulerPaused {
                at: self.inner.clock.now(),
            });
            self.inner.wake.notify_one();
        }
    }

    /// Resumes after [`pause`](Self::pause); overdue runs follow the misfire rules.
    pub fn resume(&self) {
        if self.inner.paused.swap(false, Ordering::SeqCst) {
            self.inner.emit(Event::SchedulerResumed {
                at: self.inner.clock.now(),
            });
            self.inner.wake.notify_one();
        }
    }

    /// A receiver of every event from now on. A receiver that falls more than the
    /// event capacity behind gets `RecvError::Lagged(n)`, telling how many it missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.listened.store(true, Ordering::SeqCst);
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
    pub async fn start(&self) -> Result<()> {
        let mut state = self.inner.lock_state();
        match *state {
            State::Running(_) => return Err(Error::AlreadyRunning),
            State::ShutDown => return Err(Error::ShutDown),
            State::Idle => {}
        }
        let inner = Arc::clone(&self.inner);
        *state = State::Running(tokio::spawn(crate::runtime::run(inner)));
        drop(state);
        self.inner.emit(Event::SchedulerStarted {
            at: self.inner.clock.now(),
        });
        Ok(())
    }

    /// Starts, runs until `signal` completes, then shuts down: the shape of a script
    /// whose only purpose is scheduling (APScheduler's `BlockingScheduler`).
    pub async fn run_until(&self, signal: impl Future<Output = ()>) -> Result<()> {
        self.start().await?;
        signal.await;
        self.shutdown().await
    }

    /// [`run_until`](Self::run_until) Ctrl-C.
    pub async fn run_forever(&self) -> Result<()> {
        self.run_until(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
    }

    /// Stops claiming runs, waits for running jobs up to the shutdown timeout (then
    /// aborts the rest and reports [`Error::ShutdownTimedOut`]), releases this node's
    /// claims. The scheduler cannot start again.
    pub async fn shutdown(&self) -> Result<()> {
        self.stop(Some(self.inner.config.shutdown_timeout)).await
    }

    /// Stops at once: aborts running jobs (reported as errors), releases claims.
    pub async fn shutdown_now(&self) -> Result<()> {
        self.stop(None).await
    }

    async fn stop(&self, wait: Option<Duration>) -> Result<()> {
        let handle = {
            let mut state = self.inner.lock_state();
            match std::mem::replace(&mut *state, State::ShutDown) {
                State::Running(handle) => handle,
                State::Idle => {
                    *state = State::Idle;
                    return Err(Error::NotRunning);
                }
                State::ShutDown => return Err(Error::ShutDown),
            }
        };
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        let _ = handle.await; // the loop ends at its next await point
        let aborted = crate::runtime::drain(&self.inner, wait).await;
        if let Err(e) = self.inner.store.release(&self.inner.node).await {
            self.inner.emit(Event::StoreError {
                error: e.to_string(),
            });
        }
        let maintenance = self.inner.maintenance.lock().take();
        if let Some(maintenance) = maintenance {
            maintenance.abort();
        }
        self.inner.emit(Event::SchedulerShutdown {
            at: self.inner.clock.now(),
        });
        match (aborted, wait) {
            (0, _) | (_, None) => Ok(()),
            (n, Some(_)) => Err(Error::ShutdownTimedOut(n)),
        }
    }

    /// Counters of the runtime, for metrics and benchmarks.
    pub fn stats(&self) -> Stats {
        Stats {
            wakeups: self.inner.wakeups.load(Ordering::Relaxed),
            running: self.inner.runs.lock().len(),
        }
    }

    /// This node's id in the store.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// The store this scheduler uses.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.store
    }

    /// The current wall-clock time as this scheduler sees it.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn ensure_open(&self) -> Result<()> {
        match *self.inner.lock_state() {
            State::ShutDown => Err(Error::ShutDown),
            _ => Ok(()),
        }
    }

    fn job_event(&self, id: &str) -> JobEvent {
        JobEvent {
            job_id: Arc::from(id),
            at: self.inner.clock.now(),
        }
    }
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// The longest the runtime may sleep: the wall-clock check, and for a store other
    /// processes change, its poll interval.
    pub(crate) fn max_sleep(&self) -> Duration {
        match self.store.poll_interval() {
            Some(poll) => poll.min(self.config.wall_clock_check),
            None => self.config.wall_clock_check,
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        // Sending locks the channel, even with no receiver: with nobody listening,
        // runs skip it (two sends per run would contend between worker threads).
        if self.listened.load(Ordering::Relaxed) {
            let _ = self.events.send(event);
        }
    }

    /// Whether anyone listens to events (so building them is worth it).
    pub(crate) fn listened(&self) -> bool {
        self.listened.load(Ordering::Relaxed)
    }

    /// Refreshes [`listened`](Self::listened) once the last receiver is gone (called
    /// by the runtime loop, once per claim; `subscribe` sets it at once).
    pub(crate) fn refresh_listened(&self) {
        if self.listened() && self.events.receiver_count() == 0 {
            self.listened.store(false, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("node", &self.inner.node)
            .field("store", &self.inner.store)
            .field("timezone", &self.inner.timezone)
            .field("paused", &self.inner.paused.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("timezone", &self.timezone)
            .field("defaults", &self.defaults)
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
