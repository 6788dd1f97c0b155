//! Tasks: what a job runs. Async closures, async fns, and named tasks with serde args.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt;
use sched_core::job::Job;
use sched_core::job::JobId;
use sched_core::store::{RunId, Runnable};
use sched_core::support::{FastHash, Mutex, RwLock};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::runtime::cancel::CancelReason;
use crate::scheduler::Inner;

/// What a running job knows about itself, and how it learns that it should stop.
///
/// A run is asked to stop when it runs past its job's
/// [`timeout`](sched_core::job::JobOptions::timeout), when
/// [`Scheduler::cancel_run`](crate::Scheduler::cancel_run) or
/// [`cancel_job`](crate::Scheduler::cancel_job) names it (on any node sharing the
/// store), and when the scheduler shuts down. A job that wants to stop cleanly awaits
/// [`cancelled`](Self::cancelled) (or checks [`is_cancelled`](Self::is_cancelled));
/// it then has its job's [`cancel_grace`](sched_core::job::JobOptions::cancel_grace)
/// to end before its future is dropped (shutdown gives it the shutdown timeout
/// instead). A job that never asks is dropped at once when cancelled.
///
/// ```
/// # use std::time::Duration;
/// # async fn copy_next_chunk() -> bool { true }
/// async fn export(ctx: sched_tokio::JobContext) -> Result<(), String> {
///     loop {
///         tokio::select! {
///             () = ctx.cancelled() => {
///                 // Asked to stop: leave things tidy, then end.
///                 return Err(format!("stopped: {:?}", ctx.cancel_reason()));
///             }
///             more = copy_next_chunk() => if !more { return Ok(()) },
///         }
///     }
/// }
/// ```
#[derive(Clone)]
pub struct JobContext {
    /// The job's id.
    pub job_id: JobId,
    /// This run's id in the store.
    pub run_id: RunId,
    /// The fire time this run stands for.
    pub scheduled: DateTime<Utc>,
    job: Arc<Job>,
    /// The scheduler running it (its id: see `runtime::cancel::scheduler`), and the
    /// run's slot among its runs in flight.
    scheduler: u64,
    slot: usize,
    attempt: u32,
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("run_id", &self.run_id)
            .field("scheduled", &self.scheduled)
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    pub(crate) fn new(
        job_id: JobId,
        run_id: RunId,
        scheduled: DateTime<Utc>,
        job: Arc<Job>,
        inner: &Inner,
        slot: usize,
    ) -> Self {
        Self {
            job_id,
            run_id,
            scheduled,
            job,
            scheduler: inner.id,
            slot,
            attempt: 1,
        }
    }

    pub(crate) fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Which attempt of its occurrence this run is: 1 for the first, 2 for the first
    /// retry (see [`RetryPolicy`](sched_core::job::RetryPolicy)). Every attempt stands
    /// for the same [`scheduled`](Self::scheduled) time.
    ///
    /// ```
    /// async fn upload(ctx: sched_tokio::JobContext) -> Result<(), String> {
    ///     if ctx.attempt() > 1 {
    ///         tracing::info!(attempt = ctx.attempt(), "trying the upload again");
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// This run's cancellation token: it fires when the run is asked to stop (see the
    /// type's documentation). Made on first use; every call returns the same token (a
    /// context kept past its scheduler's end gets one already cancelled).
    pub fn cancellation_token(&self) -> CancellationToken {
        match crate::runtime::cancel::scheduler(self.scheduler) {
            Some(inner) => crate::runtime::cancel::token(&inner, self.slot, self.run_id),
            None => crate::runtime::cancel::cancelled_token(),
        }
    }

    /// Resolves when this run is asked to stop.
    pub async fn cancelled(&self) {
        self.cancellation_token().cancelled_owned().await;
    }

    /// Whether this run has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancellation_token().is_cancelled()
    }

    /// Why this run was asked to stop, once it was.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        let inner = crate::runtime::cancel::scheduler(self.scheduler)?;
        crate::runtime::cancel::reason(&inner, self.slot, self.run_id)
    }

    /// The job's arguments, decoded into `T`.
    ///
    ///
    /// # Errors
    ///
    /// The JSON error when the job's arguments do not have the shape of `T`.
    ///
    /// ```
    /// # fn demo(ctx: sched_tokio::JobContext) -> Result<(), serde_json::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Reminder { username: String, message: String }
    /// let reminder: Reminder = ctx.args()?;
    /// # Ok(()) }
    /// ```
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.job.args)
    }

    /// The job's arguments as JSON.
    pub fn raw_args(&self) -> &serde_json::Value {
        &self.job.args
    }

    /// The job as it was claimed for this run (name, task, trigger, options).
    pub fn job(&self) -> &Job {
        &self.job
    }
}

/// What a job's future may return: `()`, or `Result<T, E>` for any `T: Serialize` and
/// `E: Display` — `Result<(), E>` the most common.
///
/// A value returned in `Ok` is the run's *result*: kept with the run as JSON (a store
/// that keeps history stores it, pruned with the run), carried by `JobExecuted`
/// ([`RunEvent::result`](crate::RunEvent::result)) and returned by
/// [`Scheduler::run_job_now_and_wait`](crate::Scheduler::run_job_now_and_wait). It is
/// bounded ([`SchedulerBuilder::max_result_bytes`](crate::SchedulerBuilder::max_result_bytes),
/// 64 KiB): a longer one fails the run with
/// [`ResultTooLarge`](sched_core::Error::ResultTooLarge). A value of a type without
/// data (`()`) is no result, and costs nothing.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Summary { rows: u64, skipped: u64 }
///
/// async fn import() -> Result<Summary, std::io::Error> {
///     Ok(Summary { rows: 1_200, skipped: 3 })
/// }
/// ```
pub trait JobResult: Send + 'static {
    /// `Ok` with the result as JSON text (`None`: no result), `Err(text)` when the run
    /// failed (or its result cannot be serialised).
    fn into_result(self) -> Result<Option<String>, String>;
}

impl JobResult for () {
    #[inline]
    fn into_result(self) -> Result<Option<String>, String> {
        Ok(None)
    }
}

impl<T, E> JobResult for Result<T, E>
where
    T: serde::Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    #[inline]
    fn into_result(self) -> Result<Option<String>, String> {
        match self {
            // A value without data (`()`) is no result: nothing to serialise.
            Ok(_) if std::mem::size_of::<T>() == 0 => Ok(None),
            Ok(value) => serde_json::to_string(&value)
                .map(Some)
                .map_err(|e| format!("{RESULT_NOT_SERIALIZABLE}{e}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// How the error text of a run whose result could not be serialised begins.
pub(crate) const RESULT_NOT_SERIALIZABLE: &str = "the run's result cannot be serialised: ";

/// What a task's future ends with: the result as JSON text, or the error text.
pub(crate) type TaskOutput = Result<Option<String>, String>;

/// A type-erased task: called once per run.
pub(crate) struct Task(Box<dyn Fn(JobContext) -> BoxFuture<'static, TaskOutput> + Send + Sync>);

impl Task {
    pub(crate) fn call(&self, ctx: JobContext) -> BoxFuture<'static, TaskOutput> {
        (self.0)(ctx)
    }
}

/// A shared task (sized, so a job's [`Attachment`](sched_core::support::Attachment) holds
/// it without another allocation).
pub(crate) type TaskFn = Arc<Task>;

/// Something a job can run: `Fn() -> impl Future` or `Fn(JobContext) -> impl Future`,
/// whose output is a [`JobResult`]. `M` only tells the two shapes apart.
pub trait IntoTask<M>: Send + Sync + 'static {
    /// Erases the type.
    #[doc(hidden)]
    fn into_task(self) -> TaskFnWrapper;
}

/// Opaque carrier of an erased task (public only because [`IntoTask`] names it).
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct TaskFnWrapper(pub(crate) TaskFn);

/// Marker for tasks that take no argument.
#[derive(Debug)]
#[doc(hidden)]
pub enum NoContext {}

/// Marker for tasks that take a [`JobContext`].
#[derive(Debug)]
#[doc(hidden)]
pub enum WithContext {}

impl<F, Fut> IntoTask<NoContext> for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: JobResult,
{
    fn into_task(self) -> TaskFnWrapper {
        TaskFnWrapper(Arc::new(Task(Box::new(move |_ctx| {
            self().map(JobResult::into_result).boxed()
        }))))
    }
}

impl<F, Fut> IntoTask<WithContext> for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: JobResult,
{
    fn into_task(self) -> TaskFnWrapper {
        TaskFnWrapper(Arc::new(Task(Box::new(move |ctx| {
            self(ctx).map(JobResult::into_result).boxed()
        }))))
    }
}

/// Generations come from one counter for the whole process, so a tag cached by one
/// scheduler's registry never matches another's (schedulers may share a store, and so
/// the job values it hands out).
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

/// Task name -> task. Named tasks are registered by users; closures get a generated
/// name (`closure:<node>:<job id>`) and live only as long as their job.
pub(crate) struct Registry {
    /// Named tasks.
    tasks: RwLock<HashMap<Arc<str>, TaskFn, FastHash>>,
    /// Closures, by the id of their job (the tail of their name): the key shares the
    /// job's id, so a closure job costs no second copy of its name here.
    closures: RwLock<HashMap<JobId, TaskFn, FastHash>>,
    /// Names registered with `register_task`, and the filter claims use (rebuilt when
    /// a name is added).
    named: Mutex<(std::collections::BTreeSet<String>, Option<Arc<Runnable>>)>,
    /// Changed whenever a name is registered again: a task cached in a job's
    /// [`Attachment`](sched_core::support::Attachment) under another generation is looked
    /// up again. (Removing a name needs no change: only closures are removed, whose
    /// names belong to one job, and a job added again is a new job value.)
    generation: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            tasks: RwLock::default(),
            closures: RwLock::default(),
            named: Mutex::default(),
            generation: AtomicU64::new(next_generation()),
        }
    }
}

impl Registry {
    /// Registers `task` under `name`; returns the task it replaced.
    fn insert(&self, name: &str, task: TaskFn) -> Option<TaskFn> {
        let replaced = self.write().insert(Arc::from(name), task);
        if replaced.is_some() {
            self.generation.store(next_generation(), Ordering::Release);
        }
        replaced
    }

    /// Registers the closure of job `id` (named [`closure_task_name`]); returns the one
    /// it replaced.
    pub(crate) fn insert_closure(&self, id: &JobId, task: TaskFn) -> Option<TaskFn> {
        let replaced = self.closures.write().insert(id.clone(), task);
        if replaced.is_some() {
            self.generation.store(next_generation(), Ordering::Release);
        }
        replaced
    }

    /// Forgets the closure of job `id`.
    pub(crate) fn remove_closure(&self, id: &str) {
        self.closures.write().remove(id);
    }

    /// Registers a named task (runnable by any job that names it).
    pub(crate) fn insert_named(&self, name: &str, task: TaskFn) {
        let _ = self.insert(name, task);
        let mut named = self.named.lock();
        named.0.insert(name.to_owned());
        named.1 = None;
    }

    /// The tasks this node can run: its named tasks and its own closures.
    pub(crate) fn runnable(&self, node: &str) -> Arc<Runnable> {
        let mut named = self.named.lock();
        let (names, cached) = &mut *named;
        Arc::clone(cached.get_or_insert_with(|| {
            Arc::new(Runnable {
                names: names.iter().cloned().collect(),
                prefixes: vec![closure_prefix(node)],
            })
        }))
    }

    /// The task of each job, in order (`None`: not registered here). A job value that
    /// ran before carries its task in its attachment; the others are looked up by
    /// name under one read lock.
    ///
    /// `node` is this node's name: a task named `closure:<node>:<id>` is the closure of
    /// job `id` here.
    pub(crate) fn resolve<'a>(
        &self,
        node: &str,
        jobs: impl Iterator<Item = &'a Job>,
    ) -> Vec<Option<TaskFn>> {
        // Read before any lookup: a change racing with this batch makes what it caches
        // stale, never wrong for long.
        let generation = self.generation.load(Ordering::Acquire);
        let (mut tasks, mut closures) = (None, None);
        jobs.map(|job| {
            let slot = job.attachment();
            if let Some((tag, task)) = slot.get::<Task>() {
                if tag == generation {
                    return Some(task);
                }
            }
            let closure = closure_id(node, &job.task).and_then(|id| {
                let closures = closures.get_or_insert_with(|| self.closures.read());
                closures.get(id).cloned()
            });
            // A name of that shape registered with `register_task` is a named task.
            let task = match closure {
                Some(task) => task,
                None => tasks
                    .get_or_insert_with(|| self.read())
                    .get(job.task.as_str())
                    .cloned()?,
            };
            slot.set(generation, Arc::clone(&task));
            Some(task)
        })
        .collect()
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.tasks.read().contains_key(name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, TaskFn, FastHash>> {
        self.tasks.read()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, TaskFn, FastHash>> {
        // A map of Arcs: a panicking writer cannot leave it half-updated.
        self.tasks.write()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tasks = self.tasks.read();
        f.debug_struct("Registry")
            .field("tasks", &tasks.len())
            .field("closures", &self.closures.read().len())
            .finish()
    }
}

/// The task name under which a closure job's task is registered: closures live in
/// one process, so the name carries the node, and other nodes never claim the job.
pub(crate) fn closure_task_name(node: &str, job_id: &str) -> String {
    format!("{}{job_id}", closure_prefix(node))
}

fn closure_prefix(node: &str) -> String {
    format!("closure:{node}:")
}

/// The job id in `task` if it names a closure of `node` ([`closure_task_name`]).
fn closure_id<'a>(node: &str, task: &'a str) -> Option<&'a str> {
    task.strip_prefix("closure:")?
        .strip_prefix(node)?
        .strip_prefix(':')
}

/// The name of the function `T` is, for a job added without a name: `hourly_sync` for
/// `async fn hourly_sync()`; `None` for a closure or a function pointer.
pub(crate) fn fn_name<T>() -> Option<String> {
    let path = std::any::type_name::<T>();
    if path.contains("{{closure}}") || path.starts_with("fn(") || path.starts_with('&') {
        return None;
    }
    // `crate::module::name` or `crate::module::name<T>`: the last segment, no generics.
    let path = path.split('<').next().unwrap_or(path);
    path.rsplit("::")
        .next()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::fn_name;

    async fn hourly_sync() {}

    fn named<T>(_: &T) -> Option<String> {
        fn_name::<T>()
    }

    #[test]
    fn a_job_from_a_function_is_named_after_it() {
        assert_eq!(named(&hourly_sync).as_deref(), Some("hourly_sync"));
        assert_eq!(named(&|| async {}), None, "a closure has no name");
        let pointer: fn() -> std::future::Ready<()> = || std::future::ready(());
        assert_eq!(named(&pointer), None, "nor a function pointer");
    }
}
