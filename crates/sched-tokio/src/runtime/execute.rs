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
use tracing::Instrument;

use tokio::task::AbortHandle;

use super::running::InFlight;
use crate::event::{Event, RunEvent};
use crate::scheduler::Inner;
use crate::task::{JobContext, TaskFn};

/// Most runs started together in one task by [`spawn_runs`].
const GROUP: usize = 64;

/// A run's future, boxed so that it can move to a task of its own after its first poll.
type RunFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

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
    // Held across the spawns so that a group finds its runs' slots filled.
    let mut running = inner.runs.lock().unwrap_or_else(|p| p.into_inner());
    let mut left = runs.len();
    let mut group = Vec::with_capacity(left.min(GROUP));
    let mut slots = Vec::with_capacity(left.min(GROUP));
    for (run, task) in runs.into_iter().zip(tasks) {
        left -= 1;
        let Some(task) = task else {
            unrunnable(inner, run);
            continue;
        };
        let slot = running.reserve();
        let run_id = run.run_id;
        slots.push((slot, run_id, Arc::clone(&run.job_id), run.scheduled));
        let future: RunFuture = Box::pin(execute(Arc::clone(inner), task, run, slot));
        group.push((slot, run_id, future));
        if group.len() == GROUP || left == 0 {
            let next = Vec::with_capacity(left.min(GROUP));
            let task = spawn_group(inner, std::mem::replace(&mut group, next));
            for (slot, run_id, job_id, scheduled) in slots.drain(..) {
                let run = InFlight {
                    run_id,
                    job_id,
                    scheduled,
                    task: task.clone(),
                };
                running.fill(slot, run);
            }
        }
    }
}

/// Spawns the task that starts `group` (a lone run: its own task).
fn spawn_group(inner: &Arc<Inner>, mut group: Vec<(usize, RunId, RunFuture)>) -> AbortHandle {
    if group.len() == 1 {
        let (.., run) = group.pop().expect("one run");
        return tokio::spawn(run).abort_handle();
    }
    tokio::spawn(start_group(Arc::clone(inner), group)).abort_handle()
}

/// Polls each run of a group once; a run still pending moves to a task of its own (it
/// is polled there at once, so whatever it waits on wakes that task from then on).
async fn start_group(inner: Arc<Inner>, group: Vec<(usize, RunId, RunFuture)>) {
    for (slot, run_id, mut run) in group {
        let first = std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await;
        if first.is_pending() {
            // Under the lock: the run cannot be recorded (its slot freed) before its
            // slot points at its own task; a slot drained at shutdown aborts it.
            let mut running = inner.runs.lock().unwrap_or_else(|p| p.into_inner());
            let handle = tokio::spawn(run);
            running.refill(slot, run_id, handle.abort_handle());
        }
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
    let ClaimedRun {
        run_id,
        job_id,
        job,
        scheduled,
    } = run;
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
    let running = run_task(&task, ctx, timeout).instrument(span);
    tokio::pin!(running);
    let outcome = (&mut running).await;

    let finished = inner.clock.now();
    running.span().in_scope(|| match &outcome {
        Outcome::Success => tracing::debug!("job run finished"),
        other => tracing::warn!(outcome = ?other, "job run failed"),
    });
    let duration = Some((finished - started).to_std().unwrap_or(Duration::ZERO));
    let ended = inner.listened().then(|| match &outcome {
        Outcome::Success => Event::JobExecuted(event(duration, None)),
        other => Event::JobError(event(duration, error_text(other))),
    });
    let first = inner.completions.push(Completion {
        slot,
        run_id,
        outcome,
        finished,
    });
    if first && inner.sleeping_long.load(Ordering::SeqCst) {
        // Recorded at the loop's next step, or soon if it sleeps for long.
        inner.ended.notify_one();
    }
    if let Some(ended) = ended {
        inner.emit(ended);
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
    tracing::warn!(job_id = %job_id, run_id = %run_id, %scheduled, "run missed its grace time waiting for a concurrency slot");
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
    if inner.completions.push(Completion {
        slot,
        run_id,
        outcome: Outcome::Missed,
        finished: now,
    }) && inner.sleeping_long.load(Ordering::SeqCst)
    {
        inner.ended.notify_one();
    }
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
    queue: std::sync::Mutex<Vec<Completion>>,
    /// An empty buffer with room, handed back by `flush` for the next `take`.
    spare: std::sync::Mutex<Vec<Completion>>,
    /// Something was pushed since the last flush (the first push wakes the loop).
    pending: std::sync::atomic::AtomicBool,
}

impl Completions {
    /// Queues an ended run; `true` if it is the first since the last flush.
    fn push(&self, done: Completion) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(done);
        !self.pending.swap(true, Ordering::SeqCst)
    }

    /// Whether runs ended since the last flush.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    fn take(&self) -> Vec<Completion> {
        self.pending.store(false, Ordering::SeqCst);
        let spare = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|p| p.into_inner()));
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *queue, spare)
    }

    /// Hands a drained buffer back for reuse.
    fn recycle(&self, mut buffer: Vec<Completion>) {
        buffer.clear();
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = buffer;
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
    {
        let mut running = inner.runs.lock().unwrap_or_else(|p| p.into_inner());
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
            if inner
                .runs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
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
    let aborted: Vec<InFlight> = {
        let mut running = inner.runs.lock().unwrap_or_else(|p| p.into_inner());
        running.drain()
    };
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
