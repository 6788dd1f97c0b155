//! Executing one run: limits, timeout, panics, outcome, events.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use sched_core::store::{ClaimedRun, Outcome, RunId};
use sched_core::support::Mutex;
use tracing::Instrument;

use super::running::InFlight;
use crate::event::{Event, RunEvent};
use crate::scheduler::Inner;
use crate::task::{JobContext, TaskFn};

/// Most runs started together in one task by [`spawn_runs`].
const GROUP: usize = 64;

/// A group whose first polls have taken this long hands the rest of its runs to a new
/// task, which another worker thread can take (jobs that compute, or block, before
/// their first `.await` then still run side by side).
const HAND_OFF: Duration = Duration::from_micros(200);

/// A run's future, boxed so that it can move to a task of its own after its first poll.
type RunFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A run to start: its slot in `Running`, the run, its task.
struct Start {
    slot: usize,
    run: ClaimedRun,
    task: TaskFn,
}

type Group = Vec<Start>;

/// Starts every claimed run (runs whose task is unknown here are reported instead).
///
/// Runs start in groups of up to [`GROUP`], one task per group: each run is polled once
/// there, in turn, and a run that does not end in that first poll goes on in a task of
/// its own. Most scheduled jobs end at once or soon wait on I/O; a task per run from
/// the start would cost a spawn each, and Tokio wakes an idle worker thread for almost
/// every one of them when a claim spawns a hundred runs in a row (measured: a dozen
/// thread wake-ups per millisecond at 100,000 runs a second, a third of the CPU).
pub(crate) fn spawn_runs(inner: &Arc<Inner>, runs: Vec<ClaimedRun>) {
    if runs.is_empty() {
        return;
    }
    let tasks = inner.registry.resolve(runs.iter().map(|run| &*run.job));
    let mut group = Vec::with_capacity(runs.len().min(GROUP));
    for (run, task) in runs.into_iter().zip(tasks) {
        let Some(task) = task else {
            unrunnable(inner, run);
            continue;
        };
        group.push((run, task));
        if group.len() == GROUP {
            spawn_group(
                inner,
                std::mem::replace(&mut group, Vec::with_capacity(GROUP)),
            );
        }
    }
    if !group.is_empty() {
        spawn_group(inner, group);
    }
}

/// Spawns the task that starts `runs` (a lone run: its own task), their slots filled
/// before it can poll them.
///
/// The loop only reserves the slots: each run's future is built (and boxed) in the
/// group's task, on the worker thread that runs it.
fn spawn_group(inner: &Arc<Inner>, runs: Vec<(ClaimedRun, TaskFn)>) {
    let mut running = inner.runs.lock();
    let mut flights = Vec::with_capacity(runs.len());
    let mut group: Group = Vec::with_capacity(runs.len());
    for (run, task) in runs {
        let slot = running.reserve();
        flights.push((slot, run.run_id, Arc::clone(&run.job_id), run.scheduled));
        group.push(Start { slot, run, task });
    }
    // Spawned under the lock, which is safe: a future dropped by a runtime that is
    // shutting down is an `execute` or a group not yet polled (no job code runs).
    let task = match group.pop() {
        Some(Start { slot, run, task }) if group.is_empty() => {
            tokio::spawn(execute(Arc::clone(inner), task, run, slot))
        }
        Some(last) => {
            group.push(last);
            tokio::spawn(start_group(Arc::clone(inner), group))
        }
        None => return,
    }
    .abort_handle();
    for (slot, run_id, job_id, scheduled) in flights {
        let run = InFlight {
            run_id,
            job_id,
            scheduled,
            task: task.clone(),
        };
        running.fill(slot, run);
    }
}

/// Polls each run of a group once. A run still pending moves to a task of its own: the
/// task polls it at once, so whatever it waits on wakes that task from then on (a job
/// future that keeps only the first waker it was given would not be woken: that breaks
/// the `Future` contract). First polls that take long hand the rest to a new group.
async fn start_group(inner: Arc<Inner>, group: Group) {
    let began = std::time::Instant::now();
    let mut runs = group.into_iter();
    while let Some(Start { slot, run, task }) = runs.next() {
        if inner.aborting.load(Ordering::SeqCst) {
            return; // shutdown took (and reported) the runs not started
        }
        let run_id = run.run_id;
        let mut run: RunFuture = Box::pin(execute(Arc::clone(&inner), task, run, slot));
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                run.as_mut().poll(cx)
            })))
        })
        .await;
        match first {
            Ok(Poll::Ready(())) => {}
            Ok(Poll::Pending) => {
                // Spawned outside the lock (dropping a job future may run job code);
                // a run that ended or was drained meanwhile no longer holds its slot.
                let handle = tokio::spawn(run).abort_handle();
                let mut running = inner.runs.lock();
                if !running.refill(slot, run_id, handle.clone()) {
                    handle.abort(); // drained at shutdown (a run that ended: no effect)
                }
            }
            Err(panic) => {
                // The job's own panics are caught inside `execute`: this one came from
                // around it (a `Clock` or a tracing layer). The other runs go on.
                let message = panic_message(&*panic);
                tracing::error!(run_id = %run_id, "run panicked outside its job: {message}");
                ended(
                    &inner,
                    Completion {
                        slot,
                        run_id,
                        outcome: Outcome::Panicked(message),
                        finished: inner.clock.now(),
                    },
                );
                if inner.stopping.load(Ordering::SeqCst) {
                    inner.idle.notify_waiters();
                }
            }
        }
        if runs.len() > 0 && began.elapsed() >= HAND_OFF {
            let rest: Group = runs.collect();
            let mut running = inner.runs.lock();
            // Under the lock: the new group cannot move a run to its own task (and
            // set its slot) before the slots point at the new group.
            let ids: Vec<(usize, RunId)> = rest.iter().map(|s| (s.slot, s.run.run_id)).collect();
            let task = tokio::spawn(hand_off(Arc::clone(&inner), rest)).abort_handle();
            for (slot, run_id) in ids {
                // Not set only when shutdown drained it: the new group then stops.
                running.refill(slot, run_id, task.clone());
            }
            return;
        }
    }
}

/// [`start_group`] for the rest of a group, boxed (a type for the recursion).
fn hand_off(inner: Arc<Inner>, rest: Group) -> RunFuture {
    Box::pin(start_group(inner, rest))
}

/// Queues an ended run for recording, waking the loop if it sleeps long.
fn ended(inner: &Inner, completion: Completion) {
    if inner.completions.push(completion) && inner.sleeping_long.load(Ordering::SeqCst) {
        // Recorded at the loop's next step, or soon if it sleeps for long.
        inner.ended.notify_one();
    }
}

/// A claimed run whose task is not registered on this node: reported, the job kept.
fn unrunnable(inner: &Arc<Inner>, run: ClaimedRun) {
    let error = format!(
        "job {:?} names task {:?}, which is not registered on this node",
        run.job.id, run.job.task
    );
    tracing::error!(job_id = %run.job.id, task = %run.job.task, "{error}");
    inner.emit(Event::JobUnrunnable {
        job_id: Arc::from(run.job.id.as_str()),
        error: error.clone(),
    });
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        let now = inner.clock.now();
        let _ = inner
            .store
            .complete(run.run_id, Outcome::Error(error), now)
            .await;
    });
}

async fn execute(inner: Arc<Inner>, task: TaskFn, run: ClaimedRun, slot: usize) {
    let (run_id, job_id, job, scheduled) = (run.run_id, run.job_id, run.job, run.scheduled);
    let mut started = inner.clock.now();
    // Claimed ahead: start at its time (checked again after the sleep, in case the
    // wall clock stepped back meanwhile). The timer is boxed: most runs never wait.
    while let Ok(early) = (scheduled - started).to_std() {
        if early.is_zero() {
            break;
        }
        Box::pin(tokio::time::sleep(early)).await;
        started = inner.clock.now();
    }
    let _permit = match &inner.limit {
        Some(limit) => {
            let permit = Arc::clone(limit).acquire_owned().await.ok();
            started = inner.clock.now();
            permit
        }
        None => None,
    };
    if past_grace(&job, scheduled, started) {
        missed_in_queue(&inner, job_id, run_id, scheduled, started, slot);
        return;
    }
    let delay_ms = (started - scheduled).num_milliseconds();
    let span =
        tracing::info_span!("job_run", job_id = %job_id, run_id = %run_id, %scheduled, delay_ms);
    // Only what the end of the run needs is kept across it (the future stays small).
    let event = |duration, error| RunEvent {
        job_id: Arc::clone(&job_id),
        run_id,
        scheduled,
        started,
        duration,
        error,
    };
    // Events are built only for listeners: most services run without one.
    if inner.listened() {
        inner.emit(Event::JobSubmitted(event(None, None)));
    }

    let timeout = job.options.timeout;
    let ctx = JobContext::new(Arc::clone(&job_id), run_id, scheduled, job);
    // Entering a span costs even when nothing records it: only a live one is entered.
    let live = !span.is_disabled();
    let outcome = if live {
        run_task(&task, ctx, timeout).instrument(span.clone()).await
    } else {
        run_task(&task, ctx, timeout).await
    };

    let finished = inner.clock.now();
    let log = || match &outcome {
        Outcome::Success => tracing::debug!("job run finished"),
        other => tracing::warn!(outcome = ?other, "job run failed"),
    };
    if live {
        span.in_scope(log);
    } else {
        log();
    }
    let duration = Some((finished - started).to_std().unwrap_or(Duration::ZERO));
    let event_ended = inner.listened().then(|| match &outcome {
        Outcome::Success => Event::JobExecuted(event(duration, None)),
        other => Event::JobError(event(duration, error_text(other))),
    });
    ended(
        &inner,
        Completion {
            slot,
            run_id,
            outcome,
            finished,
        },
    );
    if let Some(event) = event_ended {
        inner.emit(event);
    }
    if inner.stopping.load(Ordering::SeqCst) {
        inner.idle.notify_waiters();
    }
}

/// Whether a run starting at `started` is later than its misfire grace allows (it
/// waited for a `max_concurrency` slot that long).
fn past_grace(
    job: &sched_core::job::Job,
    scheduled: chrono::DateTime<chrono::Utc>,
    started: chrono::DateTime<chrono::Utc>,
) -> bool {
    job.options
        .misfire_grace_time
        .and_then(|grace| chrono::Duration::from_std(grace).ok())
        .and_then(|grace| scheduled.checked_add_signed(grace))
        .is_some_and(|deadline| started > deadline)
}

/// Reports and records a run that waited past its grace: missed, never started.
fn missed_in_queue(
    inner: &Arc<Inner>,
    job_id: Arc<str>,
    run_id: RunId,
    scheduled: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    slot: usize,
) {
    tracing::warn!(job_id = %job_id, run_id = %run_id, %scheduled, "run missed its grace time before it could start (waiting for a concurrency slot, or behind slow runs started before it)");
    inner.emit(Event::JobMissed(crate::event::SkipEvent {
        job_id,
        runs: sched_core::policy::Skipped {
            first: scheduled,
            last: scheduled,
            count: 1,
            more: false,
        },
        at: now,
    }));
    ended(
        inner,
        Completion {
            slot,
            run_id,
            outcome: Outcome::Missed,
            finished: now,
        },
    );
    if inner.stopping.load(Ordering::SeqCst) {
        inner.idle.notify_waiters();
    }
}

/// A run that ended, waiting to be recorded.
#[derive(Debug)]
pub(crate) struct Completion {
    slot: usize,
    run_id: RunId,
    outcome: Outcome,
    finished: chrono::DateTime<chrono::Utc>,
}

/// The queue of ended runs: pushed by run tasks (a short lock each, never held across
/// an await), drained by [`flush`]. Two buffers take turns, so that steady work
/// allocates nothing here.
#[derive(Debug, Default)]
pub(crate) struct Completions {
    queue: Mutex<Vec<Completion>>,
    /// An empty buffer with room, handed back by `flush` for the next `take`.
    spare: Mutex<Vec<Completion>>,
    /// Something was pushed since the last flush (the first push wakes the loop).
    pending: std::sync::atomic::AtomicBool,
}

impl Completions {
    /// Queues an ended run; `true` if it is the first since the last flush.
    fn push(&self, done: Completion) -> bool {
        self.queue.lock().push(done);
        !self.pending.swap(true, Ordering::SeqCst)
    }

    /// Whether runs ended since the last flush.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    fn take(&self) -> Vec<Completion> {
        self.pending.store(false, Ordering::SeqCst);
        let spare = std::mem::take(&mut *self.spare.lock());
        let mut queue = self.queue.lock();
        std::mem::replace(&mut *queue, spare)
    }

    /// Hands a drained buffer back for reuse.
    fn recycle(&self, mut buffer: Vec<Completion>) {
        buffer.clear();
        *self.spare.lock() = buffer;
    }
}

/// Records the runs that ended since the last flush: frees their slots, and tells the
/// store in one batch. A write that fails for a reason other than an unknown run is
/// queued again (and reported), so a lost connection never leaves a run counted as
/// running for ever.
pub(crate) async fn flush(inner: &Arc<Inner>) -> bool {
    if !inner.completions.pending() {
        return true;
    }
    let mut done = inner.completions.take();
    if done.is_empty() {
        inner.completions.recycle(done);
        return true;
    }
    {
        let mut running = inner.runs.lock();
        for completion in &done {
            running.remove(completion.slot);
        }
    }
    let batch: Vec<_> = done
        .iter()
        .map(|c| (c.run_id, c.outcome.clone(), c.finished))
        .collect();
    let results = inner.store.complete_many(batch).await;
    let mut recorded = true;
    for (completion, result) in done.drain(..).zip(results) {
        match result {
            Ok(()) | Err(sched_core::Error::RunNotFound(_)) => {}
            Err(error) => {
                inner.emit(Event::StoreError {
                    error: error.to_string(),
                });
                // Its slot is already free: retry only the store write.
                recorded = false;
                let _ = inner.completions.push(Completion {
                    slot: usize::MAX,
                    ..completion
                });
            }
        }
    }
    inner.completions.recycle(done);
    recorded
}

/// Runs the task: a panic (while building or polling its future) or a timeout is an
/// outcome, never a crash.
async fn run_task(task: &TaskFn, ctx: JobContext, timeout: Option<Duration>) -> Outcome {
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| task.call(ctx))) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(panic) => return Outcome::Panicked(panic_message(&*panic)),
    };
    let result = match timeout {
        // Boxed: a timer is large, and most runs have no timeout to carry it for.
        Some(limit) => match Box::pin(tokio::time::timeout(limit, future)).await {
            Ok(result) => result,
            Err(_) => return Outcome::TimedOut,
        },
        None => future.await,
    };
    match result {
        Ok(Ok(())) => Outcome::Success,
        Ok(Err(error)) => Outcome::Error(error),
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

fn error_text(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Success => None,
        Outcome::Error(e) => Some(e.clone()),
        Outcome::Panicked(p) => Some(format!("panicked: {p}")),
        Outcome::TimedOut => Some("timed out".to_owned()),
        Outcome::Cancelled => Some("cancelled at shutdown".to_owned()),
        Outcome::Missed => Some("missed its grace time waiting for a slot".to_owned()),
        other => Some(format!("{other:?}")),
    }
}

/// At shutdown: retries recording ended runs a few times (a write can fail on a busy
/// database), so that `release` does not mark runs that ended as cancelled.
async fn record_all(inner: &Arc<Inner>) {
    for _ in 0..5 {
        if flush(inner).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// At shutdown: waits up to `wait` (`None`: not at all) for running jobs, then aborts
/// the rest, records them as cancelled and reports them. Returns how many were aborted.
pub(crate) async fn drain(inner: &Arc<Inner>, wait: Option<Duration>) -> usize {
    if let Some(wait) = wait {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let idle = inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            flush(inner).await;
            if inner.runs.lock().is_empty() {
                record_all(inner).await;
                return 0;
            }
            tokio::select! {
                () = &mut idle => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    flush(inner).await;
    let (aborted, ended) = {
        let mut running = inner.runs.lock();
        inner.aborting.store(true, Ordering::SeqCst);
        // Taken with the slots: a run that ended since the flush is recorded as it
        // ended, not as aborted.
        (running.drain(), inner.completions.take())
    };
    let ended_ids: std::collections::HashSet<RunId> = ended.iter().map(|c| c.run_id).collect();
    if !ended.is_empty() {
        let batch = ended
            .into_iter()
            .map(|c| (c.run_id, c.outcome, c.finished))
            .collect();
        for result in inner.store.complete_many(batch).await {
            if let Err(error) = result.or_else(|e| match e {
                sched_core::Error::RunNotFound(_) => Ok(()),
                other => Err(other),
            }) {
                inner.emit(Event::StoreError {
                    error: error.to_string(),
                });
            }
        }
    }
    let aborted: Vec<InFlight> = aborted
        .into_iter()
        .filter(|run| !ended_ids.contains(&run.run_id))
        .collect();
    let now = inner.clock.now();
    for run in &aborted {
        run.task.abort();
    }
    for run in &aborted {
        if let Err(error) = inner
            .store
            .complete(run.run_id, Outcome::Cancelled, now)
            .await
        {
            inner.emit(Event::StoreError {
                error: error.to_string(),
            });
        }
        // Its start time is not kept: an aborted run reports its scheduled time.
        inner.emit(Event::JobError(RunEvent {
            job_id: Arc::clone(&run.job_id),
            run_id: run.run_id,
            scheduled: run.scheduled,
            started: run.scheduled.min(now),
            duration: None,
            error: error_text(&Outcome::Cancelled),
        }));
    }
    if !aborted.is_empty() {
        tracing::warn!(count = aborted.len(), "running jobs aborted at shutdown");
    }
    aborted.len()
}
