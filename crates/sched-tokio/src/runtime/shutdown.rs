//! Step 5, shutdown: wait for the runs in flight up to the timeout, then abort the rest
//! and record them as cancelled.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sched_core::store::{Outcome, RunId};

use super::completions::flush;
use super::running::InFlight;
use crate::event::{Event, RunEvent};
use crate::scheduler::Inner;

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
    // Jobs that watch their token wind down now; the rest have the timeout.
    super::cancel::shutting_down(inner);
    if let Some(wait) = wait {
        if wait_for_runs(inner, wait).await {
            record_all(inner).await;
            return 0;
        }
    }
    flush(inner).await;
    let aborted = take_in_flight(inner).await;
    cancel(inner, &aborted).await;
    aborted.len()
}

/// Waits up to `wait` for every run in flight to end (each end wakes it); `true` if
/// they did.
async fn wait_for_runs(inner: &Arc<Inner>, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Enabled before looking, so a run ending meanwhile is not missed.
        let idle = inner.runtime.idle.notified();
        tokio::pin!(idle);
        idle.as_mut().enable();
        flush(inner).await;
        if inner.runtime.runs.lock().is_empty() {
            return true;
        }
        tokio::select! {
            () = &mut idle => {}
            () = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

/// Empties the slab of runs in flight (from now on, runs of groups not started yet are
/// dropped) and returns those still running. A run that ended since the last flush is
/// recorded as it ended, not as aborted.
async fn take_in_flight(inner: &Arc<Inner>) -> Vec<InFlight> {
    let (in_flight, ended) = {
        let mut running = inner.runtime.runs.lock();
        inner.runtime.aborting.store(true, Ordering::SeqCst);
        // Taken with the slots, under their lock: no run can end unseen in between.
        (running.drain(), inner.runtime.completions.take())
    };
    let ended_ids: HashSet<RunId> = ended.iter().map(|c| c.run_id).collect();
    if !ended.is_empty() {
        let batch = ended
            .iter()
            .map(super::completions::Completion::end)
            .collect();
        for result in inner.env.store.complete_many(batch).await {
            match result {
                Ok(()) | Err(sched_core::Error::RunNotFound(_)) => {}
                Err(error) => inner.store_error(&error),
            }
        }
    }
    in_flight
        .into_iter()
        .filter(|run| !ended_ids.contains(&run.run_id))
        .collect()
}

/// Aborts `runs`, records them as cancelled, and reports each (`JobError`).
async fn cancel(inner: &Arc<Inner>, runs: &[InFlight]) {
    let now = inner.env.clock.now();
    for run in runs {
        run.task.abort();
    }
    for run in runs {
        let recorded = inner
            .env
            .store
            .complete(run.run_id, Outcome::Cancelled, now)
            .await;
        if let Err(error) = recorded {
            inner.store_error(&error);
        }
        let end = || sched_core::store::RunEnd::new(run.run_id, Outcome::Cancelled, now);
        inner.runtime.ended(end, run.run_id);
        // Its start time is not kept: an aborted run reports its scheduled time.
        inner.events.emit(Event::JobError(RunEvent {
            job_id: run.job_id.clone(),
            run_id: run.run_id,
            scheduled: run.scheduled,
            started: run.scheduled.min(now),
            duration: None,
            error: Some("cancelled at shutdown".to_owned()),
            node: inner.config.node.clone(),
            attempt: run.attempt,
            status: sched_core::store::RunStatus::Cancelled,
            result: None,
        }));
    }
    if !runs.is_empty() {
        tracing::warn!(count = runs.len(), "running jobs aborted at shutdown");
    }
}
