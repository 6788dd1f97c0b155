//! Step 3, one run: wait until it is due (a run claimed ahead), take a concurrency
//! slot, run the job under its timeout with panics caught, report how it ended.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sched_core::job::Job;
use sched_core::job::JobId;
use sched_core::store::{ClaimedRun, Outcome, RunId, RunStatus};
use tracing::Instrument;

use super::cancel::{self, CancelReason, Dropped};
use super::completions::{finish, Completion};
use super::start::Chain;
use crate::event::{Event, RetryEvent, RunEvent};
use crate::scheduler::Inner;
use crate::task::{JobContext, TaskFn, TaskOutput, RESULT_NOT_SERIALIZABLE};

/// Runs one claimed run of a catch-up backlog: it first waits for its place in its
/// job's backlog (`chain.after`); its end (this future's end, or its drop at shutdown)
/// gives the next one its place. (A future of its own, so that the common run, in
/// [`execute`], carries none of it.)
pub(super) async fn execute_in_turn(
    inner: Arc<Inner>,
    task: TaskFn,
    run: ClaimedRun,
    slot: usize,
    chain: Chain,
) {
    let Chain { after, then } = chain;
    if let Some(after) = after {
        let mut dropped = Dropped::new(&inner, slot, run.run_id);
        // Ended or dropped alike: this run's turn.
        let _ = after.await;
        dropped.disarm();
    }
    execute(inner, task, run, slot, false, None).await;
    drop(then);
}

thread_local! {
    /// When the run that last ended on this thread ended (every run sets it; a group
    /// clears it before each first poll, so what it takes after one is that run's end):
    /// the group takes it as the next run's start time, so that a run costs one clock
    /// read, not three (its start, its end, the group's hand-off check).
    static ENDED_AT: Cell<Option<DateTime<Utc>>> = const { Cell::new(None) };
}

/// The end time a run just polled recorded (see [`ENDED_AT`]), taken.
#[inline]
pub(super) fn take_ended_at() -> Option<DateTime<Utc>> {
    ENDED_AT.with(Cell::take)
}

/// Runs one claimed run, from its start time to its recorded end (`ahead`: claimed
/// ahead of its time, it may be released until it starts: see [`super::ahead`]).
/// `now`, if given, is the clock read just before the future's first poll.
pub(super) async fn execute(
    inner: Arc<Inner>,
    task: TaskFn,
    run: ClaimedRun,
    slot: usize,
    ahead: bool,
    now: Option<DateTime<Utc>>,
) {
    let (run_id, job_id, job, scheduled) = (run.run_id, run.job_id, run.job, run.scheduled);
    let (attempt, backfill) = (run.attempt, run.backfill);
    // Until the run reports its end: a cancel that drops it is recorded.
    let mut dropped = Dropped::new(&inner, slot, run_id);
    let started = wait_until_due(&inner, scheduled, now).await;
    let (_permit, started) = match &inner.runtime.limit {
        Some(limit) => {
            let permit = Arc::clone(limit).acquire_owned().await.ok();
            (permit, inner.env.clock.now())
        }
        None => (None, started),
    };
    // First: a run released meanwhile reports nothing (no lease lost, no miss): the
    // store was given it back. From here on it can no longer be released.
    if ahead && !super::ahead::begin(&inner, slot, run_id) {
        dropped.disarm();
        super::ahead::forget(&inner, slot, run_id);
        return;
    }
    if inner.runtime.leases.leased() {
        if let Some(reported) = lease_lost(&inner, slot, run_id, started) {
            dropped.disarm();
            not_started(&inner, job_id, run_id, scheduled, started, slot, reported);
            return;
        }
    }
    // A backfill run stands for a past occurrence on purpose, and a retry was on time
    // when its first attempt began: neither is ever too late.
    if !backfill && attempt == 1 && past_grace(&job, scheduled, started) {
        dropped.disarm();
        missed_in_queue(&inner, job_id, run_id, scheduled, started, slot);
        return;
    }
    dropped.started = Some(started);
    let meter = inner.metrics.run_started(scheduled, started);
    // Only what the end of the run needs is kept across it (the future stays small).
    let event = |duration, error, status, result| RunEvent {
        job_id: job_id.clone(),
        run_id,
        scheduled,
        started,
        duration,
        error,
        node: inner.config.node.clone(),
        attempt,
        status,
        result,
    };
    // Events are built only for listeners: most services run without one.
    if inner.events.listened() {
        inner.events.emit(Event::JobSubmitted(event(
            None,
            None,
            RunStatus::Running,
            None,
        )));
    }
    // Kept across the run: a pointer (allocated only for a job that retries).
    let (timeout, retry) = (job.options.timeout, job.options.retry.clone());
    let span = tracing::info_span!("job_run", job_id = %job_id, run_id = %run_id, %scheduled,
        delay_ms = (started - scheduled).num_milliseconds());
    let ctx =
        JobContext::new(job_id.clone(), run_id, scheduled, job, &inner, slot).with_attempt(attempt);
    // The result, if the task returned one, is put here (the outcome stays the
    // future's whole output: the common run moves no more than it did).
    let mut result = None;
    let mut outcome = run_in_span(&task, ctx, timeout, span, (&inner, slot), &mut result).await;
    dropped.disarm();
    if cancel::reason(&inner, slot, run_id) == Some(CancelReason::Requested) {
        // Asked to stop: however it ended after that, it was cancelled.
        outcome = Outcome::Cancelled;
        result = None;
    }
    // A result that cannot be kept fails the run, not retried: it would fail again.
    let mut retries = true;
    if let Some(text) = &result {
        if text.len() > inner.config.max_result_bytes {
            outcome = Outcome::Error(too_large(
                &job_id,
                text.len(),
                inner.config.max_result_bytes,
            ));
            result = None;
            retries = false;
        }
    } else if matches!(&outcome, Outcome::Error(e) if e.starts_with(RESULT_NOT_SERIALIZABLE)) {
        retries = false;
    }
    let finished = inner.env.clock.now();
    ENDED_AT.set(Some(finished));
    meter.ended(&outcome, started, finished);
    let retry_at = match retry {
        Some(_) if !retries => None,
        None => None,
        Some(policy) => policy.next_attempt(
            attempt,
            &outcome,
            finished,
            sched_core::job::jitter_sample(),
        ),
    };
    let listened = inner.events.listened();
    let ended = listened.then(|| {
        let duration = Some((finished - started).to_std().unwrap_or(Duration::ZERO));
        match &outcome {
            Outcome::Success => {
                let result = result.as_deref().map(Arc::<str>::from);
                Event::JobExecuted(event(duration, None, RunStatus::Success, result))
            }
            other => Event::JobError(event(duration, error_text(other), other.status(), None)),
        }
    });
    let retrying = match retry_at {
        Some(at) if listened => Some(Event::JobRetrying(RetryEvent {
            job_id: job_id.clone(),
            run_id,
            scheduled,
            attempt,
            retry_at: at,
            error: error_text(&outcome),
            node: inner.config.node.clone(),
        })),
        _ => None,
    };
    if let Some(at) = retry_at {
        tracing::info!(job_id = %job_id, run_id = %run_id, %scheduled, attempt, retry_at = %at, "run failed; its occurrence is retried");
    }
    finish(
        &inner,
        Completion::with(slot, run_id, (outcome, finished), retry_at, result),
        ended,
    );
    if let Some(event) = retrying {
        inner.events.emit(event);
    }
}

/// The error text of a run whose result is `bytes` long, over `limit`.
#[cold]
fn too_large(job_id: &JobId, bytes: usize, limit: usize) -> String {
    let error = sched_core::Error::ResultTooLarge {
        job_id: job_id.clone(),
        bytes,
        limit,
    };
    tracing::warn!(%error, "run result dropped");
    error.to_string()
}

/// Waits until `scheduled` (a run claimed ahead; checked again after the sleep, in
/// case the wall clock stepped back meanwhile). Returns the start time. `now`: the
/// clock as just read, if it was.
async fn wait_until_due(
    inner: &Inner,
    scheduled: DateTime<Utc>,
    now: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let mut started = now.unwrap_or_else(|| inner.env.clock.now());
    // Compared first: most runs are due, and the difference costs a hundred
    // instructions (chrono's calendar arithmetic).
    while scheduled > started {
        let early = (scheduled - started).to_std().unwrap_or(Duration::ZERO);
        // Boxed: most runs never wait, and a timer is large.
        Box::pin(tokio::time::sleep(early)).await;
        started = inner.env.clock.now();
    }
    started
}

/// Runs the task inside `span`, and logs how it ended there. Entering a span costs
/// even when nothing records it: only a live one is entered.
async fn run_in_span(
    task: &TaskFn,
    ctx: JobContext,
    timeout: Option<Duration>,
    span: tracing::Span,
    run: (&Inner, usize),
    result: &mut Option<String>,
) -> Outcome {
    let live = !span.is_disabled();
    let outcome = if live {
        run_task(task, ctx, timeout, run, result)
            .instrument(span.clone())
            .await
    } else {
        run_task(task, ctx, timeout, run, result).await
    };
    let log = || match &outcome {
        Outcome::Success => tracing::debug!("job run finished"),
        other => tracing::warn!(outcome = ?other, "job run failed"),
    };
    if live {
        span.in_scope(log);
    } else {
        log();
    }
    outcome
}

/// Whether a run starting at `started` is later than its misfire grace allows (it
/// waited for a `max_concurrency` slot that long).
fn past_grace(job: &Job, scheduled: DateTime<Utc>, started: DateTime<Utc>) -> bool {
    job.options
        .misfire_grace_time
        .and_then(|grace| chrono::Duration::from_std(grace).ok())
        .and_then(|grace| scheduled.checked_add_signed(grace))
        .is_some_and(|deadline| started > deadline)
}

/// Whether the run in `slot` lost its lease by `now` (a store other nodes share): a
/// run whose lease ran out unrenewed may have been taken by another node, so it must
/// not start here. `Some(true)` if that was reported already.
fn lease_lost(inner: &Inner, slot: usize, run_id: RunId, now: DateTime<Utc>) -> Option<bool> {
    let mut runs = inner.runtime.runs.lock();
    let run = runs.get_mut(slot, run_id)?;
    if run.lost {
        return Some(true);
    }
    if run.lease_until <= now {
        run.lost = true;
        return Some(false);
    }
    None
}

/// Records a run whose lease ran out before it started (not started), and reports it
/// unless it was `reported` already.
fn not_started(
    inner: &Arc<Inner>,
    job_id: JobId,
    run_id: RunId,
    scheduled: DateTime<Utc>,
    now: DateTime<Utc>,
    slot: usize,
    reported: bool,
) {
    if !reported {
        super::lease::lease_lost(
            inner,
            job_id,
            run_id,
            scheduled,
            super::lease::NOT_STARTED,
            now,
        );
    }
    finish(
        inner,
        Completion::new(slot, run_id, Outcome::LeaseLost, now),
        None,
    );
}

/// Reports and records a run that waited past its grace: missed, never started.
fn missed_in_queue(
    inner: &Arc<Inner>,
    job_id: JobId,
    run_id: RunId,
    scheduled: DateTime<Utc>,
    now: DateTime<Utc>,
    slot: usize,
) {
    inner.metrics.missed_in_queue();
    tracing::warn!(job_id = %job_id, run_id = %run_id, %scheduled, "run missed its grace time before it could start (waiting for a concurrency slot, or behind slow runs started before it)");
    let missed = Event::JobMissed(crate::event::SkipEvent {
        job_id,
        runs: sched_core::policy::Skipped {
            first: scheduled,
            last: scheduled,
            count: 1,
            more: false,
        },
        at: now,
        node: inner.config.node.clone(),
    });
    finish(
        inner,
        Completion::new(slot, run_id, Outcome::Missed, now),
        Some(missed),
    );
}

/// Runs the task: a panic (while building or polling its future) or a timeout is an
/// outcome, never a crash.
async fn run_task(
    task: &TaskFn,
    ctx: JobContext,
    timeout: Option<Duration>,
    (inner, slot): (&Inner, usize),
    result: &mut Option<String>,
) -> Outcome {
    let run_id = ctx.run_id;
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| task.call(ctx))) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(panic) => return Outcome::Panicked(panic_message(&*panic)),
    };
    match timeout {
        // Boxed: a timer is large, and most runs have no timeout to carry it for.
        Some(limit) => Box::pin(within(future, limit, (inner, slot, run_id), result)).await,
        None => finished(future.await, result),
    }
}

/// Runs `future` for at most `limit`; past it, the run's token fires, and a run that
/// took its token has its grace to end before it is dropped: timed out either way.
async fn within<F>(
    future: F,
    limit: Duration,
    (inner, slot, run_id): (&Inner, usize, RunId),
    result: &mut Option<String>,
) -> Outcome
where
    F: std::future::Future<Output = std::thread::Result<TaskOutput>>,
{
    tokio::pin!(future);
    if let Ok(ended) = tokio::time::timeout(limit, &mut future).await {
        return finished(ended, result);
    }
    let grace = cancel::timed_out(inner, slot, run_id);
    if !grace.is_zero() {
        let _ = tokio::time::timeout(grace, &mut future).await;
    }
    Outcome::TimedOut
}

/// The outcome of a job future that ended (or panicked); its result into `result`.
#[inline]
fn finished(ended: std::thread::Result<TaskOutput>, result: &mut Option<String>) -> Outcome {
    match ended {
        Ok(Ok(value)) => {
            *result = value;
            Outcome::Success
        }
        Ok(Err(error)) => Outcome::Error(error),
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    }
}

pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

pub(super) fn error_text(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Success => None,
        Outcome::Error(e) => Some(e.clone()),
        Outcome::Panicked(p) => Some(format!("panicked: {p}")),
        Outcome::TimedOut => Some("timed out".to_owned()),
        Outcome::Cancelled => Some(cancel::CANCELLED.to_owned()),
        Outcome::Missed => Some("missed its grace time waiting for a slot".to_owned()),
        Outcome::LeaseLost => Some(super::lease::NOT_STARTED.to_owned()),
        other => Some(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use sched_core::job::{Job, JobOptions};
    use sched_core::trigger::Trigger;

    use super::past_grace;

    fn job(grace: Option<Duration>) -> Job {
        let options = match grace {
            Some(grace) => JobOptions::default().misfire_grace_time(grace),
            None => JobOptions::default(),
        };
        Job::new("j", "t", Trigger::interval(Duration::from_secs(60))).options(options)
    }

    #[test]
    fn a_run_is_late_only_after_its_grace() {
        let scheduled: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("instant");
        let job = job(Some(Duration::from_secs(5)));
        let after = |ms| scheduled + chrono::Duration::milliseconds(ms);
        assert!(!past_grace(&job, scheduled, scheduled));
        assert!(
            !past_grace(&job, scheduled, after(5_000)),
            "at the end of grace: in time"
        );
        assert!(past_grace(&job, scheduled, after(5_001)));
        assert!(
            !past_grace(&job, scheduled, after(-1_000)),
            "early is never late"
        );
    }

    #[test]
    fn without_grace_or_with_an_endless_one_no_run_is_late() {
        let scheduled: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("instant");
        let years = scheduled + chrono::Duration::days(3650);
        assert!(!past_grace(&job(None), scheduled, years));
        // A grace too long to add to the time: never late, never an overflow.
        assert!(!past_grace(&job(Some(Duration::MAX)), scheduled, years));
        let end = DateTime::<Utc>::MAX_UTC;
        assert!(!past_grace(&job(Some(Duration::from_secs(1))), end, end));
    }
}
