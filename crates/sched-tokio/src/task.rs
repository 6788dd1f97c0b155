//! Tasks: what a job runs. Async closures, async fns, and named tasks with serde args.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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

/// The erased function of a task: called once per run.
type Call = Box<dyn Fn(JobContext) -> BoxFuture<'static, TaskOutput> + Send + Sync>;

/// A task as the registry holds it: its function, the job whose closure it is, and
/// whether the registry still holds it.
pub(crate) struct Task {
    call: Call,
    /// The job whose closure this is (`None`: a named task): its key in the registry's
    /// closures, which keep no second copy of it.
    job: Option<JobId>,
    /// The registry that holds it ([`Registry::number`]): schedulers may share a store,
    /// and so the job values it hands out, each running its own task.
    registry: u32,
    /// The registry no longer holds it (its name was registered again, its closure
    /// replaced or forgotten): a job value that carries it looks its task up again.
    retired: AtomicBool,
}

// With its `Arc`'s counts, 56 bytes: one 64-byte allocation of the allocator's.
const _: () = assert!(std::mem::size_of::<Task>() <= 40);

impl Task {
    fn new(call: Call, job: Option<JobId>, registry: u32) -> Arc<Self> {
        Arc::new(Self {
            call,
            job,
            registry,
            retired: AtomicBool::new(false),
        })
    }

    pub(crate) fn call(&self, ctx: JobContext) -> BoxFuture<'static, TaskOutput> {
        (self.call)(ctx)
    }

    fn retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    fn retire(&self, retired: bool) {
        self.retired.store(retired, Ordering::Release);
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
pub struct TaskFnWrapper(pub(crate) Call);

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
        TaskFnWrapper(Box::new(move |_ctx| {
            self().map(JobResult::into_result).boxed()
        }))
    }
}

impl<F, Fut> IntoTask<WithContext> for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: JobResult,
{
    fn into_task(self) -> TaskFnWrapper {
        TaskFnWrapper(Box::new(move |ctx| {
            self(ctx).map(JobResult::into_result).boxed()
        }))
    }
}

/// Task name -> task. Named tasks are registered by users; closures get a generated
/// name (`closure:<node>:`, the job's id telling whose) and live only as long as their
/// job.
pub(crate) struct Registry {
    /// Named tasks.
    tasks: RwLock<HashMap<Arc<str>, TaskFn, FastHash>>,
    /// Closures, found by the id of their job, which each holds (one pointer a place:
    /// at a million closure jobs, 19 MB where a map from the id takes 52 MB).
    closures: RwLock<hashbrown::HashTable<TaskFn>>,
    /// Names registered with `register_task`, and the filter claims use (rebuilt when
    /// a name is added).
    named: Mutex<(std::collections::BTreeSet<String>, Option<Arc<Runnable>>)>,
    /// This registry among the process's (its tasks carry it).
    number: u32,
}

/// Registries are numbered from one counter for the whole process, so a task one
/// scheduler cached in a job value is never taken for another's.
static REGISTRIES: AtomicU32 = AtomicU32::new(0);

impl Default for Registry {
    fn default() -> Self {
        Self {
            tasks: RwLock::default(),
            closures: RwLock::new(hashbrown::HashTable::new()),
            named: Mutex::default(),
            number: REGISTRIES.fetch_add(1, Ordering::Relaxed),
        }
    }
}

fn id_hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    FastHash::default().hash_one(id)
}

/// The id of the job whose closure `task` is (every task in the closures table has one).
fn closure_key(task: &TaskFn) -> &str {
    task.job.as_deref().unwrap_or_default()
}

impl Registry {
    /// Registers the closure `call` of job `id`; returns the one it replaced (retired,
    /// so that a job value carrying it looks the new one up).
    pub(crate) fn insert_closure(&self, id: &JobId, call: Call) -> Option<TaskFn> {
        self.put_closure(id, Task::new(call, Some(id.clone()), self.number))
    }

    /// Puts back `previous` as job `id`'s closure (`None`: forgets it), after an add that
    /// registered another was rejected.
    pub(crate) fn restore_closure(&self, id: &JobId, previous: Option<TaskFn>) {
        match previous {
            Some(previous) => {
                previous.retire(false);
                drop(self.put_closure(id, previous));
            }
            None => self.remove_closure(id),
        }
    }

    fn put_closure(&self, id: &str, task: TaskFn) -> Option<TaskFn> {
        let replaced = {
            let mut closures = self.closures.write();
            let place = closures.entry(
                id_hash(id),
                |held| closure_key(held) == id,
                |held| id_hash(closure_key(held)),
            );
            match place {
                hashbrown::hash_table::Entry::Occupied(mut held) => {
                    Some(std::mem::replace(held.get_mut(), task))
                }
                hashbrown::hash_table::Entry::Vacant(place) => {
                    place.insert(task);
                    None
                }
            }
        };
        if let Some(replaced) = &replaced {
            replaced.retire(true);
        }
        replaced
    }

    /// Forgets the closure of job `id`.
    pub(crate) fn remove_closure(&self, id: &str) {
        let removed = self
            .closures
            .write()
            .find_entry(id_hash(id), |held| closure_key(held) == id)
            .ok()
            .map(|held| held.remove().0);
        if let Some(removed) = removed {
            removed.retire(true);
        }
    }

    /// Registers a named task (runnable by any job that names it).
    pub(crate) fn insert_named(&self, name: &str, call: Call) {
        let replaced = self
            .write()
            .insert(Arc::from(name), Task::new(call, None, self.number));
        if let Some(replaced) = replaced {
            replaced.retire(true);
        }
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
                prefixes: vec![closure_task_name(node)],
            })
        }))
    }

    /// The task of each job, in order (`None`: not registered here). A job value that
    /// ran before carries its task in its attachment (looked up again once the registry
    /// retired it); the others are looked up by name under one read lock.
    ///
    /// `node` is this node's name: a task named `closure:<node>:` is the closure of
    /// the job (`closure:<node>:<id>`, as earlier versions named them: of job `id`).
    pub(crate) fn resolve<'a>(
        &self,
        node: &str,
        jobs: impl Iterator<Item = &'a Job>,
    ) -> Vec<Option<TaskFn>> {
        let (mut tasks, mut closures) = (None, None);
        jobs.map(|job| {
            let slot = job.attachment();
            if let Some(task) = slot.get::<Task>() {
                if task.registry == self.number && !task.retired() {
                    return Some(task);
                }
            }
            let closure = closure_id(node, &job.task, &job.id).and_then(|id| {
                let closures = closures.get_or_insert_with(|| self.closures.read());
                closures
                    .find(id_hash(id), |held| closure_key(held) == id)
                    .cloned()
            });
            // A name of that shape registered with `register_task` is a named task.
            let task = match closure {
                Some(task) => task,
                None => tasks
                    .get_or_insert_with(|| self.read())
                    .get(job.task.as_str())
                    .cloned()?,
            };
            slot.set(Arc::clone(&task));
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

/// The task name of this node's closure jobs: closures live in one process, so the name
/// carries the node, and other nodes never claim the job. (Which closure is the job's
/// id; the name holds no copy of it.)
pub(crate) fn closure_task_name(node: &str) -> String {
    format!("closure:{node}:")
}

/// `job`'s task is its own closure on `node` ([`closure_task_name`]).
pub(crate) fn runs_own_closure(node: &str, job: &Job) -> bool {
    closure_id(node, &job.task, &job.id) == Some(job.id.as_str())
}

/// The id of the job whose closure `task` names, if it names one of `node`'s: the job
/// itself (`job`), or the id after the prefix in a name an earlier version gave.
fn closure_id<'a>(node: &str, task: &'a str, job: &'a str) -> Option<&'a str> {
    let id = task
        .strip_prefix("closure:")?
        .strip_prefix(node)?
        .strip_prefix(':')?;
    Some(if id.is_empty() { job } else { id })
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
