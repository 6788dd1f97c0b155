//! Step 4, recording ended runs: a run that ends queues its [`Completion`] (a short
//! lock, no store call); the claim loop records them in the store in batches
//! ([`flush`]), before each claim and at most every few milliseconds while it sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sched_core::job::JobId;
use sched_core::store::{AcquireRequest, Outcome, RunEnd, RunId};
use sched_core::support::Mutex;

use super::running::InFlight;
use crate::event::Event;
use crate::scheduler::Inner;

/// A run that ended, waiting to be recorded.
#[derive(Debug)]
pub(super) struct Completion {
    /// Its slot in `Running`, freed when it is recorded (`None`: freed already, only
    /// the store write is retried).
    pub(super) slot: Option<usize>,
    pub(super) run_id: RunId,
    pub(super) outcome: Outcome,
    pub(super) finished: DateTime<Utc>,
    /// A retry or a result, for the few runs that have one (boxed: the queue of ended
    /// runs carries one pointer for the others).
    pub(super) extra: Option<Box<Extra>>,
}

/// What some ended runs carry besides their outcome.
#[derive(Debug)]
pub(super) struct Extra {
    /// Its occurrence is tried again then (the job's retry policy).
    retry_at: Option<DateTime<Utc>>,
    /// What its task returned, as JSON text.
    result: Option<String>,
}

impl Completion {
    /// Run `run_id` in `slot` ended with `outcome` at `finished`.
    pub(super) fn new(
        slot: usize,
        run_id: RunId,
        outcome: Outcome,
        finished: DateTime<Utc>,
    ) -> Self {
        Self {
            slot: Some(slot),
            run_id,
            outcome,
            finished,
            extra: None,
        }
    }

    /// Run `run_id`, whose slot is freed already, ended with `outcome` at `finished`
    /// (only the store write is left).
    pub(super) fn freed(run_id: RunId, outcome: Outcome, finished: DateTime<Utc>) -> Self {
        Self {
            slot: None,
            run_id,
            outcome,
            finished,
            extra: None,
        }
    }

    /// Run `run_id` in `slot` ended with `outcome` at `finished`, retried at `retry_at`,
    /// having returned `result` (both `None` for most runs: nothing allocated).
    #[inline]
    pub(super) fn with(
        slot: usize,
        run_id: RunId,
        (outcome, finished): (Outcome, DateTime<Utc>),
        retry_at: Option<DateTime<Utc>>,
        result: Option<String>,
    ) -> Self {
        let extra =
            (retry_at.is_some() || result.is_some()).then(|| Box::new(Extra { retry_at, result }));
        Self {
            slot: Some(slot),
            run_id,
            outcome,
            finished,
            extra,
        }
    }

    /// What the store records.
    #[inline]
    pub(super) fn end(&self) -> RunEnd {
        let end = RunEnd::new(self.run_id, self.outcome.clone(), self.finished);
        match &self.extra {
            None => end,
            Some(extra) => end
                .with_retry_at(extra.retry_at)
                .with_result(extra.result.clone()),
        }
    }
}

/// The queue of ended runs: pushed by run tasks (a short lock each, never held across
/// an await), drained by [`flush`]. Two buffers take turns, so that steady work
/// allocates nothing here.
#[derive(Debug, Default)]
pub(super) struct Completions {
    queue: Mutex<Vec<Completion>>,
    /// An empty buffer with room, handed back by `flush` for the next `take`.
    spare: Mutex<Vec<Completion>>,
    /// Something was pushed since the last `take` (the first push wakes the loop).
    pending: AtomicBool,
}

impl Completions {
    /// Queues an ended run; `true` if it is the first since the last `take`.
    fn push(&self, done: Completion) -> bool {
        self.queue.lock().push(done);
        !self.pending.swap(true, Ordering::SeqCst)
    }

    /// Whether runs ended since the last `take`.
    pub(super) fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Everything queued, oldest first.
    pub(super) fn take(&self) -> Vec<Completion> {
        self.pending.store(false, Ordering::SeqCst);
        let spare = std::mem::take(&mut *self.spare.lock());
        debug_assert!(spare.is_empty(), "a recycled buffer is empty");
        let mut queue = self.queue.lock();
        std::mem::replace(&mut *queue, spare)
    }

    /// Hands a drained buffer back for reuse.
    fn recycle(&self, mut buffer: Vec<Completion>) {
        buffer.clear();
        *self.spare.lock() = buffer;
    }
}

/// Ends a run: queues it for recording (waking the claim loop if it sleeps long), then
/// sends its `event`, then wakes a shutdown waiting for running jobs. In that order: a
/// listener that sees the event, and a shutdown that wakes, find the run ended, never
/// still in flight (to be aborted and reported a second time).
pub(super) fn finish(inner: &Inner, completion: Completion, event: Option<Event>) {
    let runtime = &inner.runtime;
    if runtime.waited() {
        runtime.ended(|| completion.end(), completion.run_id);
    }
    if runtime.completions.push(completion) && runtime.sleeping_long.load(Ordering::SeqCst) {
        // Recorded at the loop's next step, or soon if it sleeps for long.
        runtime.ended.notify_one();
    }
    if let Some(event) = event {
        inner.events.emit(event);
    }
    if inner.lifecycle.stopping() {
        runtime.idle.notify_waiters();
    }
}

/// Records the runs that ended since the last flush: frees their slots, and tells the
/// store in one batch. A write that fails for a reason other than an unknown run is
/// queued again (and reported), so a lost connection never leaves a run counted as
/// running for ever. Returns whether everything was recorded.
pub(crate) async fn flush(inner: &Arc<Inner>) -> bool {
    let completions = &inner.runtime.completions;
    if !completions.pending() {
        return true;
    }
    let mut done = completions.take();
    if done.is_empty() {
        completions.recycle(done);
        return true;
    }
    // The runs freed are kept only where a refused completion is reported (a store
    // other nodes share): elsewhere they are dropped as their slots are freed.
    let (mut flights, waiting) = free_slots(inner, &done, inner.runtime.leases.leased());
    // A retry recorded is a new due time the claim loop, maybe asleep until a later
    // one (or a change), must look at (a run with only a result wakes it for nothing:
    // rare, and harmless).
    let mut retried = false;
    let batch: Vec<RunEnd> = done
        .iter()
        .map(|completion| {
            retried |= completion.extra.is_some();
            completion.end()
        })
        .collect();
    let results = inner.env.store.complete_many(batch).await;
    debug_assert_eq!(results.len(), done.len(), "complete_many answers each run");
    let removed = inner.env.store.take_removed();
    if !removed.is_empty() {
        super::claim_loop::removed_by_store(inner, &removed);
    }
    let mut recorded = true;
    for (index, (completion, result)) in done.drain(..).zip(results).enumerate() {
        match result {
            Ok(()) => {}
            Err(sched_core::Error::RunNotFound(_)) => {
                fenced(inner, flights.get_mut(index).and_then(Option::take));
            }
            Err(error) => {
                inner.store_error(&error);
                // Its slot is already free: retry only the store write.
                recorded = false;
                let _ = completions.push(Completion {
                    slot: None,
                    ..completion
                });
            }
        }
    }
    completions.recycle(done);
    if retried {
        inner.runtime.wake.notify_one();
    }
    // A paused or stopping scheduler starts no run: the waiting run stays stored, for
    // the job's next claim here or on another node.
    let starts = !inner.lifecycle.paused() && !inner.lifecycle.stopping();
    if !waiting.is_empty() && recorded && starts {
        start_waiting(inner, &waiting).await;
    }
    recorded
}

/// Asks the store to start the waiting runs of `jobs`, whose runs just ended (their
/// overlap policy keeps one waiting: `QueueOne`, `CancelPrevious`; or a retry waits for
/// an instance), and starts what it
/// claimed. A failure is reported; the waiting run stays stored, and the job's next
/// claim starts it.
#[cold]
async fn start_waiting(inner: &Arc<Inner>, jobs: &[JobId]) {
    let now = inner.env.clock.now();
    let request = AcquireRequest::new(inner.config.node.as_str(), now)
        .lease(inner.config.lease)
        .runnable(inner.env.registry.runnable(&inner.config.node));
    match inner.env.store.claim_waiting(jobs, request).await {
        Ok(acquired) => super::claim_loop::dispatch(inner, acquired, now),
        Err(error) => {
            tracing::warn!(%error, "starting a waiting run failed; the job's next claim starts it");
            inner.store_error(&error);
        }
    }
}

/// Frees the slots of ended runs (a slot shutdown drained already stays free); with
/// `keep`, the runs freed, in the order of `done` (otherwise none). Also the jobs of
/// the runs freed whose overlap policy keeps a run waiting.
fn free_slots(
    inner: &Inner,
    done: &[Completion],
    keep: bool,
) -> (Vec<Option<InFlight>>, Vec<JobId>) {
    let mut kept = Vec::with_capacity(if keep { done.len() } else { 0 });
    let mut waiting = Vec::new();
    let mut running = inner.runtime.runs.lock();
    for completion in done {
        let freed = completion.slot.and_then(|slot| running.remove(slot));
        if let Some(run) = freed.as_ref().filter(|run| run.waits) {
            if !waiting.contains(&run.job_id) {
                waiting.push(run.job_id.clone());
            }
        }
        debug_assert!(
            freed
                .as_ref()
                .is_none_or(|run| run.run_id == completion.run_id),
            "slot {:?} held run {:?}, not the run {} that ended in it",
            completion.slot,
            freed.as_ref().map(|run| run.run_id),
            completion.run_id
        );
        if keep {
            kept.push(freed);
        }
    }
    (kept, waiting)
}

/// A run whose end the store refused (it was no longer running there): on a store
/// other nodes share, another node's reaper took it over after its lease ran out, and
/// the re-run's record stands. Reported, unless its lease was reported lost already.
fn fenced(inner: &Inner, flight: Option<InFlight>) {
    if !inner.runtime.leases.leased() {
        return;
    }
    if let Some(run) = flight.filter(|run| !run.lost) {
        let now = inner.env.clock.now();
        super::lease::lease_lost(
            inner,
            run.job_id,
            run.run_id,
            run.scheduled,
            super::lease::NOT_RECORDED,
            now,
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use sched_core::store::{Outcome, RunId};

    use super::{Completion, Completions};

    fn ended(slot: usize, run: i64) -> Completion {
        Completion::new(
            slot,
            RunId(run),
            Outcome::Success,
            DateTime::<Utc>::UNIX_EPOCH,
        )
    }

    #[test]
    fn the_first_push_since_a_take_says_so() {
        let queue = Completions::default();
        assert!(!queue.pending());
        assert!(queue.push(ended(0, 1)), "first: wakes the loop");
        assert!(!queue.push(ended(1, 2)), "second: the loop knows already");
        assert!(queue.pending());
        let taken = queue.take();
        assert_eq!(taken.iter().map(|c| c.run_id.0).collect::<Vec<_>>(), [1, 2]);
        assert!(!queue.pending());
        assert!(queue.push(ended(0, 3)), "first again after the take");
    }

    #[test]
    fn buffers_take_turns_without_allocating() {
        let queue = Completions::default();
        for run in 0..100 {
            queue.push(ended(0, run));
        }
        let first = queue.take();
        let capacity = first.capacity();
        let address = first.as_ptr();
        queue.recycle(first);
        queue.push(ended(0, 100));
        let second = queue.take();
        assert_eq!(second.len(), 1);
        queue.recycle(second);
        // The buffer recycled first is the queue now: it has its room already.
        for run in 0..100 {
            queue.push(ended(0, run));
        }
        let third = queue.take();
        assert_eq!((third.as_ptr(), third.capacity()), (address, capacity));
    }
}
