//! Beside step 2, runs claimed ahead of their time (`claim_ahead`) given back when their
//! job changes before they start.
//!
//! A run claimed ahead waits in its start group for its time (see [`super::start`]), or
//! in a task of its own once it was polled (waiting for a concurrency slot, or early
//! after all). When its job is paused, changed, rescheduled, removed, run now or
//! backfilled — through this scheduler, or on another node (the store names the job:
//! Postgres `NOTIFY`) — the runs of it still waiting are *released*: dropped here
//! without a record (a run waiting in its group leaves the runs in flight at once; its
//! group passes over it), then given back to the store ([`JobStore::unclaim`]), which
//! forgets them and makes their occurrence the job's next run time again where the job
//! still has it. The claim that follows decides that occurrence anew, with the job as it
//! is now.
//!
//! A run's state ([`Ahead`]) changes only under the lock of the runs in flight, so a
//! run is either released before it starts or starts and is never released: a release
//! never drops job code that began.
//!
//! [`JobStore::unclaim`]: sched_core::store::JobStore::unclaim

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sched_core::store::{Outcome, RunId};

use super::completions::Completion;
use crate::scheduler::Inner;

/// Where a run claimed ahead of its time stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ahead {
    /// Not claimed ahead (claimed when due, run now, a backfill, a retry).
    No,
    /// Claimed ahead, waiting for its time (or for a concurrency slot): not started.
    Waiting,
    /// Claimed ahead, and started: it runs as claimed.
    Started,
    /// Claimed ahead, then released before it started: it never runs here.
    Released,
}

/// Releases the runs of `job` (`None`: of every job) claimed ahead and not started:
/// each is dropped (its task aborted, or stopped at its next step) and returns its id,
/// to be given back with [`give_back`].
pub(crate) fn release(inner: &Inner, job: Option<&str>) -> Vec<RunId> {
    if inner.runtime.claimed_ahead.load(Ordering::Acquire) == 0 {
        return Vec::new(); // nothing was ever claimed ahead here
    }
    let mut runs = inner.runtime.runs.lock();
    let mut released = Vec::new();
    let mut in_groups = Vec::new();
    let waiting = runs.slots_mut().filter(|(_, run)| {
        run.ahead == Ahead::Waiting && job.is_none_or(|job| &*run.job_id == job)
    });
    for (slot, run) in waiting {
        run.ahead = Ahead::Released;
        released.push(run.run_id);
        if run.own_task {
            // Its `Dropped` guard frees its slot (see `forget`).
            run.task.abort();
        } else {
            // Waiting in its group, or in its first poll there: its slot is freed now
            // (no heartbeat renews it, no shutdown records it, no cancel counts it).
            // The group passes over it: its start finds the slot no longer holds it
            // (`begin`), or, pending, its new task is aborted (`after_first_poll`).
            in_groups.push(slot);
        }
    }
    for slot in in_groups {
        runs.remove(slot);
    }
    let idle = runs.is_empty();
    drop(runs);
    if idle && inner.lifecycle.stopping() {
        inner.runtime.idle.notify_waiters();
    }
    released
}

/// Gives the released runs `ids` back to the store, then wakes the claim loop to claim
/// their occurrences anew. If the store fails, they are recorded cancelled instead
/// (retried until the store takes it), never left counted as running.
pub(crate) async fn give_back(inner: &Inner, ids: Vec<RunId>) {
    if ids.is_empty() {
        return;
    }
    match inner.env.store.unclaim(&ids).await {
        Ok(_) => inner.runtime.wake(),
        Err(error) => {
            tracing::warn!(%error, runs = ids.len(), "giving back runs claimed ahead failed; recorded cancelled instead");
            let now = inner.env.clock.now();
            for run_id in ids {
                let completion = Completion::freed(run_id, Outcome::Cancelled, now);
                super::completions::finish(inner, completion, None);
            }
        }
    }
}

/// Releases and gives back, from a synchronous caller (a store's change hook, the
/// scheduler's `pause`): the store call runs in a task of its own.
pub(crate) fn release_in_background(inner: &Arc<Inner>, job: Option<&str>) {
    let ids = release(inner, job);
    if ids.is_empty() {
        return;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return; // no runtime, so no run in flight either
    };
    let inner = Arc::clone(inner);
    handle.spawn(async move { give_back(&inner, ids).await });
}

/// A run claimed ahead reached its start: `false` if it was released (it then must not
/// run; its slot is freed with [`forget`]), else it is marked started.
pub(super) fn begin(inner: &Inner, slot: usize, run_id: RunId) -> bool {
    let mut runs = inner.runtime.runs.lock();
    match runs.get_mut(slot, run_id) {
        Some(run) if run.ahead == Ahead::Released => false,
        Some(run) => {
            run.ahead = Ahead::Started;
            true
        }
        // Released while waiting in its group (given back: nothing to record), or
        // drained at shutdown, which records it.
        None => false,
    }
}

/// Frees the slot of a released run (nothing is recorded: the store is given it back).
pub(super) fn forget(inner: &Inner, slot: usize, run_id: RunId) {
    let mut runs = inner.runtime.runs.lock();
    if runs.get_mut(slot, run_id).is_some() {
        runs.remove(slot);
    }
    drop(runs);
    if inner.lifecycle.stopping() {
        inner.runtime.idle.notify_waiters();
    }
}
