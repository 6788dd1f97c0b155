//! Step 1 of a run's flow, the claim loop: sleep until the earliest due run, claim,
//! hand the claimed runs to `start`, repeat.
//!
//! Timer-driven: it sleeps on Tokio's monotonic clock until the store's earliest next
//! run time, woken early by `Shared::wake` when jobs change. It never scans all jobs:
//! the store's ordered claim hands it exactly the due ones (with `claim_ahead`, also
//! the runs due soon, which then wait for their time in their own tasks). Because wall
//! time can step (NTP, suspend/resume), a sleep never exceeds `wall_clock_check` (nor,
//! with a store other nodes share, its poll interval); after a step forward the misfire
//! rules decide what runs, after a step backward nothing runs twice (the store already
//! moved each job's next run time past what was claimed).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::job::JobId;
use sched_core::store::{AcquireRequest, Acquired, Runnable, SkipReason};
use tokio::time::Instant;

use super::completions::flush;
use super::start::spawn_runs;
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
    inner.env.store.on_change(Arc::new(move || {
        if let Some(inner) = weak.upgrade() {
            inner.runtime.wake.notify_one();
        }
    }));
    let weak = Arc::downgrade(&inner);
    inner.env.store.on_job_change(Arc::new(move |job| {
        if let Some(inner) = weak.upgrade() {
            super::ahead::release_in_background(&inner, job);
        }
    }));
    let weak = Arc::downgrade(&inner);
    inner.env.store.on_cancel(Arc::new(move |run_id| {
        if let Some(inner) = weak.upgrade() {
            super::cancel::cancel_run(&inner, run_id, super::cancel::CancelReason::Requested);
        }
    }));
    let leased = inner.env.store.poll_interval().is_some();
    inner.runtime.leases.set_leased(leased);
    let lease = tokio::spawn(super::lease::run(Arc::downgrade(&inner)));
    *inner.runtime.lease_task.lock() = Some(lease);
    report_unrunnable(&inner).await;
    let mut backoff = FIRST_BACKOFF;
    let mut behind = false;
    // Full claims in a row since the loop last yielded its worker thread.
    let mut full_claims = 0u32;
    while !inner.lifecycle.stopping() {
        inner.runtime.wakeups.fetch_add(1, Ordering::Relaxed);
        if inner.lifecycle.paused() {
            // Runs that end while paused are still recorded.
            flush(&inner).await;
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
                inner.runtime.leases.store_failed();
                tracing::warn!(%error, retry_in = ?backoff, "job store failed; retrying");
                inner.store_error(&error);
                let sleep = Some(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                sleep
            }
        };
        if !behind {
            full_claims = 0;
        }
        pause(&inner, sleep, &mut full_claims).await;
    }
}

/// Waits `sleep` between steps (`None`: until woken). Zero: claims again at once — the
/// runs just claimed start in their groups' tasks, which the other worker threads take
/// meanwhile — but every few full claims yields, so that the loop's own thread helps
/// with them (and other tasks on it are not held up for long).
async fn pause(inner: &Arc<Inner>, sleep: Option<Duration>, full_claims: &mut u32) {
    match sleep {
        Some(d) if d.is_zero() => {
            *full_claims += 1;
            if *full_claims >= CLAIMS_BEFORE_YIELD {
                *full_claims = 0;
                tokio::task::yield_now().await;
            }
        }
        Some(d) if d < LONG_SLEEP => {
            tokio::select! {
                () = inner.runtime.wake.notified() => {}
                () = tokio::time::sleep_until(Instant::now() + d) => {}
            }
        }
        long => sleep_recording(inner, long).await,
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
        inner.runtime.sleeping_long.store(true, Ordering::SeqCst);
        let ended = inner.runtime.ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        if !inner.runtime.completions.pending() {
            tokio::select! {
                () = inner.runtime.wake.notified() => break,
                () = until(deadline) => break,
                () = &mut ended => {}
            }
        }
        // Let more runs end, then record them together.
        tokio::select! {
            () = inner.runtime.wake.notified() => break,
            () = until(deadline) => break,
            () = tokio::time::sleep(RECORD_EVERY) => {}
        }
        if !flush(inner).await {
            // The store failed: the next step retries (after the loop's backoff), not
            // every `RECORD_EVERY`.
            tokio::select! {
                () = inner.runtime.wake.notified() => {}
                () = until(deadline) => {}
            }
            break;
        }
    }
    inner.runtime.sleeping_long.store(false, Ordering::SeqCst);
}

/// Claims and dispatches what is due; returns how long to sleep (`None`: until woken).
async fn step(inner: &Arc<Inner>, behind: bool) -> sched_core::Result<Option<Duration>> {
    // Runs that ended are recorded first, so their slots count before this claim (not
    // recorded: this node's own ended runs would count as running, so no claim).
    if !flush(inner).await {
        return Err(sched_core::Error::Store(
            "recording the ends of runs failed; claiming after they are recorded".into(),
        ));
    }
    let leases = &inner.runtime.leases;
    if leases.claiming_stopped() {
        // This node's leases ran out unrenewed: the lease task wakes the loop once a
        // heartbeat gets through.
        return Ok(Some(inner.max_sleep()));
    }
    let now = inner.env.clock.now();
    if let Some(wait) = leases.claim_wait(now) {
        // Back from a store failure: the other nodes record their ended runs first.
        return Ok(Some(wait.min(inner.max_sleep())));
    }
    let runnable = inner.env.registry.runnable(&inner.config.node);
    let request = AcquireRequest::new(inner.config.node.as_str(), now)
        .limit(inner.config.batch)
        .lease(inner.config.lease)
        .runnable(Arc::clone(&runnable))
        .ahead(inner.config.claim_ahead);
    let horizon = request.horizon();
    if claim(inner, request, behind).await? {
        // More may be due (or, claiming ahead, inside the horizon): claim again at once.
        return Ok(Some(Duration::ZERO));
    }
    sleep_after(inner, now, horizon, &runnable).await
}

/// One claim (with a backlog on a store other nodes share, two at once: the database
/// works on one while the other's rows are written, `SKIP LOCKED` keeping them apart,
/// which is where a single node spends most of a claim). Reports what was skipped,
/// starts what was claimed. Returns whether a claim was full (more may be due).
async fn claim(
    inner: &Arc<Inner>,
    request: AcquireRequest,
    behind: bool,
) -> sched_core::Result<bool> {
    let store = &inner.env.store;
    let claims = if behind && store.poll_interval().is_some() {
        let (first, second) = tokio::join!(
            inner.metrics.claim(store.acquire(request.clone())),
            inner.metrics.claim(store.acquire(request.clone()))
        );
        vec![first, second]
    } else {
        vec![inner.metrics.claim(store.acquire(request.clone())).await]
    };
    inner.events.refresh_listened();
    let mut failed = None;
    let mut full = false;
    for claim in claims {
        match claim {
            Ok(acquired) => {
                let handled =
                    acquired.runs.len() + acquired.skipped.len() + acquired.finished.len();
                full |= handled >= inner.config.batch;
                dispatch(inner, acquired, request.now);
            }
            Err(error) => failed = Some(error),
        }
    }
    failed.map_or(Ok(full), Err)
}

/// Carries out a claim made at `now`: reports what it skipped, finished or could not
/// decode, starts its runs, then forgets the closures of finished jobs (after: a
/// finished job's last run has just resolved its task).
pub(crate) fn dispatch(inner: &Arc<Inner>, acquired: Acquired, now: DateTime<Utc>) {
    report(inner, &acquired, now);
    let lease = chrono::Duration::from_std(inner.config.lease).unwrap_or(chrono::Duration::MAX);
    let lease_until = now
        .checked_add_signed(lease)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    spawn_runs(inner, acquired.runs, (now, lease_until));
    for run_id in acquired.cancel {
        // Superseded (`Overlap::CancelPrevious`): stopped here if it runs here; the
        // store told the node running it otherwise.
        super::cancel::cancel_run(inner, run_id, super::cancel::CancelReason::Requested);
    }
    forget_finished(inner, &acquired.finished);
}

/// How long to sleep after a claim at `now` up to `horizon` that was not full.
async fn sleep_after(
    inner: &Arc<Inner>,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    runnable: &Runnable,
) -> sched_core::Result<Option<Duration>> {
    let Some(next) = inner.env.store.next_due(Some(runnable)).await? else {
        // Nothing scheduled: sleep until a change, or (shared store) the next poll.
        return Ok(inner.env.store.poll_interval());
    };
    let wait = (wake_at(next, horizon, inner.config.claim_ahead) - inner.env.clock.now())
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
/// `horizon`. Without claim-ahead: when it is due. With it: when it is `7/8 · ahead`
/// away (each claim then takes about an eighth of `ahead` worth of runs, and thousands
/// due at one instant are claimed from `7/8 · ahead` before it: measured against `3/4`
/// on Postgres, 10,000 runs at one instant p99 33–39 ms instead of 47–50 ms); but a run
/// the claim could have taken and left (its job at `max_instances`, or locked by
/// another node) is waited for until it is due.
fn wake_at(next: DateTime<Utc>, horizon: DateTime<Utc>, ahead: Duration) -> DateTime<Utc> {
    if ahead.is_zero() || next <= horizon {
        return next;
    }
    chrono::Duration::from_std(ahead / 8 * 7)
        .ok()
        .and_then(|refill| next.checked_sub_signed(refill))
        .unwrap_or(next)
}

/// Reports the jobs the store removed when their last run ended (parked: trigger done,
/// kept while a run of them could be retried or recovered), and forgets their closures.
pub(super) fn removed_by_store(inner: &Inner, removed: &[JobId]) {
    let now = inner.env.clock.now();
    let count = i64::try_from(removed.len()).unwrap_or(i64::MAX);
    inner.metrics.jobs_changed(-count);
    for job_id in removed {
        inner.events.emit(Event::JobRemoved(crate::event::JobEvent {
            job_id: job_id.clone(),
            at: now,
            node: inner.config.node.clone(),
        }));
    }
    forget_finished(inner, removed);
}

/// Unregisters the closures of jobs whose trigger is done (their last runs, spawned
/// already, hold their own reference).
fn forget_finished(inner: &Inner, finished: &[JobId]) {
    for job_id in finished {
        inner.env.registry.remove_closure(job_id);
    }
}

/// At start: jobs in the store whose task is not registered here are reported (they
/// stay in the store, due, for a node that has their task).
async fn report_unrunnable(inner: &Arc<Inner>) {
    let runnable = inner.env.registry.runnable(&inner.config.node);
    let Ok(census) = inner.env.store.census(&runnable).await else {
        return; // the loop reports store errors
    };
    inner.metrics.jobs_counted(census.jobs);
    let mut unrunnable = census.unrunnable;
    unrunnable.sort_unstable();
    for (job_id, task) in unrunnable {
        let error = format!(
            "job {job_id:?} names task {task:?}, which is not registered on this node; it is left in the store"
        );
        tracing::warn!(job_id = %job_id, task = %task, "{error}");
        inner.events.emit(Event::JobUnrunnable { job_id, error });
    }
}

/// Events (and warnings) for what the claim skipped, finished or could not decode.
fn report(inner: &Inner, acquired: &Acquired, now: DateTime<Utc>) {
    for skipped in &acquired.skipped {
        let event = SkipEvent {
            job_id: skipped.job_id.clone(),
            runs: skipped.runs,
            at: now,
            node: inner.config.node.clone(),
        };
        let (first, count) = (skipped.runs.first, skipped.runs.count);
        inner.metrics.skipped(skipped.reason, count);
        match skipped.reason {
            SkipReason::Missed => {
                tracing::warn!(job_id = %skipped.job_id, %first, count, "runs missed their misfire grace time");
                inner.events.emit(Event::JobMissed(event));
            }
            SkipReason::MaxInstances => {
                tracing::warn!(job_id = %skipped.job_id, %first, count, "runs skipped: max_instances reached");
                inner.events.emit(Event::JobMaxInstances(event));
            }
            SkipReason::Coalesced => {
                tracing::debug!(job_id = %skipped.job_id, %first, count, "runs coalesced");
                inner.events.emit(Event::JobCoalesced(event));
            }
            _ => {}
        }
    }
    if !acquired.finished.is_empty() {
        let finished = i64::try_from(acquired.finished.len()).unwrap_or(i64::MAX);
        inner.metrics.jobs_changed(-finished);
    }
    for job_id in &acquired.finished {
        // Keep the closure registered: its last run may still be about to start.
        inner.events.emit(Event::JobRemoved(crate::event::JobEvent {
            job_id: job_id.clone(),
            at: now,
            node: inner.config.node.clone(),
        }));
    }
    for error in &acquired.errors {
        let job_id = error.job_id().cloned().unwrap_or_default();
        tracing::error!(%error, "stored job cannot be run; left in the store");
        inner.events.emit(Event::JobUnrunnable {
            job_id,
            error: error.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use super::wake_at;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn without_claim_ahead_the_loop_wakes_when_the_run_is_due() {
        let next = at("2026-01-01T00:00:10Z");
        assert_eq!(
            wake_at(next, at("2026-01-01T00:00:00Z"), Duration::ZERO),
            next
        );
    }

    #[test]
    fn claiming_ahead_the_loop_wakes_seven_eighths_of_the_horizon_before() {
        let ahead = Duration::from_millis(400);
        let horizon = at("2026-01-01T00:00:00.400Z");
        assert_eq!(
            wake_at(at("2026-01-01T00:00:10Z"), horizon, ahead),
            at("2026-01-01T00:00:09.650Z")
        );
    }

    #[test]
    fn a_run_the_claim_could_take_and_left_is_waited_for_until_due() {
        // Inside the horizon yet unclaimed: its job is at max_instances, or another
        // node holds its row. Waking before it is due would claim nothing.
        let ahead = Duration::from_millis(400);
        let horizon = at("2026-01-01T00:00:00.400Z");
        let next = at("2026-01-01T00:00:00.300Z");
        assert_eq!(wake_at(next, horizon, ahead), next);
        assert_eq!(
            wake_at(horizon, horizon, ahead),
            horizon,
            "at the horizon itself"
        );
    }

    #[test]
    fn the_earliest_instant_does_not_overflow() {
        let ahead = Duration::from_secs(1);
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(
            wake_at(min + chrono::Duration::seconds(2), min, ahead),
            min + chrono::Duration::milliseconds(1125)
        );
        // Seven eighths of a second before it lies before the earliest instant.
        let soon = min + chrono::Duration::milliseconds(100);
        assert_eq!(wake_at(soon, min, ahead), soon);
    }
}
