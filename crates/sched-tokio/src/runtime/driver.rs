//! The runtime loop: sleep until the earliest due run, claim, dispatch, repeat.
//!
//! Timer-driven: it sleeps on Tokio's monotonic clock until the store's earliest next
//! run time, woken early by `Inner::wake` when jobs change. It never scans all jobs:
//! the store's ordered claim hands it exactly the due ones (with `claim_ahead`, also
//! the runs due soon, which then wait for their time in their own tasks). Because wall
//! time can step (NTP, suspend/resume), a sleep never exceeds `wall_clock_check` (nor,
//! with a store other nodes share, its poll interval); after a step forward the misfire
//! rules decide what runs, after a step backward nothing runs twice (the store already
//! moved each job's next run time past what was claimed).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sched_core::store::{AcquireRequest, Acquired, SkipReason};
use tokio::time::Instant;

use super::execute::spawn_runs;
use crate::event::{Event, SkipEvent};
use crate::scheduler::Inner;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Sleeps at least this long record the runs that end meanwhile (shorter ones leave
/// them to the next step).
const LONG_SLEEP: Duration = Duration::from_millis(20);
/// While the loop sleeps long, ended runs are recorded at most this often.
const RECORD_EVERY: Duration = Duration::from_millis(10);
/// The shortest sleep when nothing is left to claim: the next tick of Tokio's timer
/// (1 ms), so that runs falling due one after another are claimed once per tick, not
/// one loop turn each.
const NEXT_TICK: Duration = Duration::from_nanos(1);
/// Full claims made back to back before the loop yields its worker thread.
const CLAIMS_BEFORE_YIELD: u32 = 4;
/// How long to wait before claiming again a run that was due but held by another
/// node's claim (usually committed within milliseconds).
const LOCKED_ELSEWHERE: Duration = Duration::from_millis(5);

/// The runtime task. Returns when the scheduler is stopping.
pub(crate) async fn run(inner: Arc<Inner>) {
    let weak = Arc::downgrade(&inner);
    inner.store.on_change(Arc::new(move || {
        if let Some(inner) = weak.upgrade() {
            inner.wake.notify_one();
        }
    }));
    let maintenance = tokio::spawn(super::maintenance::run(Arc::downgrade(&inner)));
    *inner.maintenance.lock() = Some(maintenance);
    report_unrunnable(&inner).await;
    let mut backoff = FIRST_BACKOFF;
    let mut behind = false;
    // Full claims in a row since the loop last yielded its worker thread.
    let mut full_claims = 0u32;
    while !inner.stopping.load(Ordering::SeqCst) {
        inner.wakeups.fetch_add(1, Ordering::Relaxed);
        if inner.paused.load(Ordering::SeqCst) {
            // Runs that end while paused are still recorded.
            super::flush(&inner).await;
            sleep_recording(&inner, None).await;
            continue;
        }
        let sleep = match step(&inner, behind).await {
            Ok(sleep) => {
                backoff = FIRST_BACKOFF;
                behind = sleep.is_some_and(|d| d.is_zero());
                sleep
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "job store failed; retrying");
                inner.emit(Event::StoreError {
                    error: error.to_string(),
                });
                let sleep = Some(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                sleep
            }
        };
        if !behind {
            full_claims = 0;
        }
        match sleep {
            Some(d) if d.is_zero() => {
                // Claim again at once: the runs just claimed start in their groups'
                // tasks, which the other worker threads take meanwhile. Every few claims
                // the loop yields, so that its own thread helps with them (and other
                // tasks on it are not held up for long).
                full_claims += 1;
                if full_claims >= CLAIMS_BEFORE_YIELD {
                    full_claims = 0;
                    tokio::task::yield_now().await;
                }
            }
            Some(d) if d < LONG_SLEEP => {
                tokio::select! {
                    () = inner.wake.notified() => {}
                    () = tokio::time::sleep_until(Instant::now() + d) => {}
                }
            }
            long => sleep_recording(&inner, long).await,
        }
    }
}

/// Sleeps for `sleep` (`None`: until woken by a change) while recording the runs that
/// end meanwhile: at most one store write per [`RECORD_EVERY`], so that other nodes
/// (and `max_instances` there) and the run history see them soon, without a store
/// round trip per ended run.
async fn sleep_recording(inner: &Arc<Inner>, sleep: Option<Duration>) {
    let deadline = sleep.map(|d| Instant::now() + d);
    let until = |deadline: Option<Instant>| async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    loop {
        // Announced before looking, so an ending run either is seen here or notifies.
        inner.sleeping_long.store(true, Ordering::SeqCst);
        let ended = inner.ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        if !inner.completions.pending() {
            tokio::select! {
                () = inner.wake.notified() => break,
                () = until(deadline) => break,
                () = &mut ended => {}
            }
        }
        // Let more runs end, then record them together.
        tokio::select! {
            () = inner.wake.notified() => break,
            () = until(deadline) => break,
            () = tokio::time::sleep(RECORD_EVERY) => {}
        }
        if !super::flush(inner).await {
            // The store failed: the next step retries (after the loop's backoff), not
            // every `RECORD_EVERY`.
            tokio::select! {
                () = inner.wake.notified() => {}
                () = until(deadline) => {}
            }
            break;
        }
    }
    inner.sleeping_long.store(false, Ordering::SeqCst);
}

/// Claims and dispatches what is due; returns how long to sleep (`None`: until woken).
///
/// With a backlog (`behind`) on a store other nodes share, two claims go out at once:
/// the database works on one while the other's rows are written (`SKIP LOCKED` keeps
/// them apart), which is where a single node spends most of a claim.
async fn step(inner: &Arc<Inner>, behind: bool) -> sched_core::Result<Option<Duration>> {
    // Runs that ended are recorded first, so their slots count before this claim.
    super::flush(inner).await;
    let now = inner.clock.now();
    let runnable = inner.registry.runnable(&inner.node);
    let request = || AcquireRequest {
        node: inner.node.clone(),
        now,
        limit: inner.config.batch,
        lease: inner.config.lease,
        runnable: Some(Arc::clone(&runnable)),
        ahead: inner.config.claim_ahead,
    };
    let horizon = request().horizon();
    let claims = if behind && inner.store.poll_interval().is_some() {
        let (first, second) = tokio::join!(
            inner.store.acquire(request()),
            inner.store.acquire(request())
        );
        vec![first, second]
    } else {
        vec![inner.store.acquire(request()).await]
    };
    inner.refresh_listened();
    let mut failed = None;
    let mut full = false;
    for claim in claims {
        match claim {
            Ok(acquired) => {
                let handled =
                    acquired.runs.len() + acquired.skipped.len() + acquired.finished.len();
                full |= handled >= inner.config.batch;
                report(inner, &acquired, now);
                spawn_runs(inner, acquired.runs);
                forget_finished(inner, &acquired.finished);
            }
            Err(error) => failed = Some(error),
        }
    }
    if let Some(error) = failed {
        return Err(error);
    }
    if full {
        // More may be due (or, claiming ahead, inside the horizon): claim again at once.
        return Ok(Some(Duration::ZERO));
    }
    let Some(next) = inner.store.next_due(Some(&runnable)).await? else {
        // Nothing scheduled: sleep until a change, or (shared store) the next poll.
        return Ok(inner.store.poll_interval());
    };
    let wait = (wake_at(next, horizon, inner.config.claim_ahead) - inner.clock.now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    if wait.is_zero() {
        if next <= now {
            // Due when this claim looked, yet not taken: another node holds its row.
            return Ok(Some(LOCKED_ELSEWHERE));
        }
        // Fell due during this step: claimed at the next tick with whatever else falls
        // due until then.
        return Ok(Some(NEXT_TICK));
    }
    Ok(Some(wait.min(inner.max_sleep())))
}

/// When to claim next, given the earliest unclaimed run `next` after a claim up to
/// `horizon`. Without claim-ahead: when it is due. With it: when it is `3/4 · ahead`
/// away (each claim then takes about a quarter of `ahead` worth of runs); but a run the
/// claim could have taken and left (its job at `max_instances`, or locked by another
/// node) is waited for until it is due.
fn wake_at(
    next: chrono::DateTime<chrono::Utc>,
    horizon: chrono::DateTime<chrono::Utc>,
    ahead: Duration,
) -> chrono::DateTime<chrono::Utc> {
    if ahead.is_zero() || next <= horizon {
        return next;
    }
    chrono::Duration::from_std(ahead / 4 * 3)
        .ok()
        .and_then(|refill| next.checked_sub_signed(refill))
        .unwrap_or(next)
}

/// Unregisters the closures of jobs whose trigger is done (their last runs, spawned
/// already, hold their own reference).
fn forget_finished(inner: &Inner, finished: &[sched_core::job::JobId]) {
    for job_id in finished {
        inner
            .registry
            .remove(&crate::task::closure_task_name(&inner.node, job_id));
    }
}

/// At start: jobs in the store whose task is not registered here are reported (they
/// stay in the store, due, for a node that has their task).
async fn report_unrunnable(inner: &Arc<Inner>) {
    let Ok(jobs) = inner.store.list_jobs().await else {
        return; // the loop reports store errors
    };
    let runnable = inner.registry.runnable(&inner.node);
    for job in jobs.iter().filter(|job| !runnable.allows(&job.task)) {
        let error = format!(
            "job {:?} names task {:?}, which is not registered on this node; it is left in the store",
            job.id, job.task
        );
        tracing::warn!(job_id = %job.id, task = %job.task, "{error}");
        inner.emit(Event::JobUnrunnable {
            job_id: Arc::from(job.id.as_str()),
            error,
        });
    }
}

/// Events (and warnings) for what the claim skipped, finished or could not decode.
fn report(inner: &Inner, acquired: &Acquired, now: chrono::DateTime<chrono::Utc>) {
    for skipped in &acquired.skipped {
        let event = SkipEvent {
            job_id: Arc::from(skipped.job_id.as_str()),
            runs: skipped.runs,
            at: now,
        };
        let (first, count) = (skipped.runs.first, skipped.runs.count);
        match skipped.reason {
            SkipReason::Missed => {
                tracing::warn!(job_id = %skipped.job_id, %first, count, "runs missed their misfire grace time");
                inner.emit(Event::JobMissed(event));
            }
            SkipReason::MaxInstances => {
                tracing::warn!(job_id = %skipped.job_id, %first, count, "runs skipped: max_instances reached");
                inner.emit(Event::JobMaxInstances(event));
            }
            SkipReason::Coalesced => {
                tracing::debug!(job_id = %skipped.job_id, %first, count, "runs coalesced");
                inner.emit(Event::JobCoalesced(event));
            }
            _ => {}
        }
    }
    for job_id in &acquired.finished {
        // Keep the closure registered: its last run may still be about to start.
        inner.emit(Event::JobRemoved(crate::event::JobEvent {
            job_id: Arc::from(job_id.as_str()),
            at: now,
        }));
    }
    for error in &acquired.errors {
        let job_id = match error {
            sched_core::Error::Decode { job_id, .. } => job_id.as_str(),
            _ => "",
        };
        tracing::error!(%error, "stored job cannot be run; left in the store");
        inner.emit(Event::JobUnrunnable {
            job_id: Arc::from(job_id),
            error: error.to_string(),
        });
    }
}
