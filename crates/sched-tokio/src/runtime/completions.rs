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
        self.push_all(std::iter::once(done))
    }

    /// Queues ended runs, in order; `true` if they are the first since the last `take`.
    fn push_all(&self, done: impl Iterator<Item = Completion>) -> bool {
        self.queue.lock().extend(done);
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
///
/// A run without an event (nobody listens) that ends in its first poll, in its group's
/// task (see [`Batch`]), is queued with the other runs of the group that did, when the
/// group's first polls are over: one lock for them all (at a million runs a second, a
/// lock per run made the queue's lock contended between the worker threads).
pub(super) fn finish(inner: &Inner, completion: Completion, event: Option<Event>) {
    let runtime = &inner.runtime;
    if runtime.waited() {
        runtime.ended(|| completion.end(), completion.run_id);
    }
    let mut completion = Some(completion);
    if event.is_none() {
        Batch::offer(inner, &mut completion);
    }
    let Some(completion) = completion else {
        return; // queued with its group's
    };
    if runtime.completions.push(completion) {
        runtime.woken();
    }
    after_queued(inner, event);
}

/// What follows the queueing of ended runs: their event, and a shutdown waiting for
/// the runs in flight woken.
fn after_queued(inner: &Inner, event: Option<Event>) {
    if let Some(event) = event {
        inner.events.emit(event);
    }
    if inner.lifecycle.stopping() {
        inner.runtime.idle.notify_waiters();
    }
}

/// The ends of the runs that ended in their first poll, in their group's task (see
/// [`super::start`]), queued together when the group's first polls are over
/// ([`Batch::run`]). It lives in a thread-local while the group polls, which it does
/// without yielding: no other task runs on this thread meanwhile.
pub(super) struct Batch {
    /// The scheduler whose group is polling (an `Inner`'s address; 0: none): a run of
    /// another scheduler ending here, in a job's first poll, is queued on its own.
    owner: usize,
    ended: Vec<Completion>,
}

thread_local! {
    /// The batch of the group polling on this thread; its buffer stays for the next.
    static BATCH: std::cell::RefCell<Batch> = const {
        std::cell::RefCell::new(Batch {
            owner: 0,
            ended: Vec::new(),
        })
    };
}

impl Batch {
    /// Runs `polls` (the first polls of a group's runs, which never yield) with the ends
    /// of runs collected, then queues them together, in order.
    pub(super) fn run<R>(inner: &Inner, polls: impl FnOnce() -> R) -> R {
        let owner = std::ptr::from_ref(inner) as usize;
        // A batch begun around this one (never, as groups are polled in tasks of their
        // own; kept right all the same) is set aside meanwhile.
        let begun = BATCH.try_with(|batch| {
            let mut batch = batch.borrow_mut();
            (
                std::mem::replace(&mut batch.owner, owner),
                batch.ended.len(),
            )
        });
        let Ok(outer) = begun else {
            return polls(); // a thread being torn down: each run is queued on its own
        };
        // Queued however `polls` ends (a panic escaping it included): no end is lost.
        let guard = Flush { inner, outer };
        let result = polls();
        drop(guard);
        result
    }

    /// Takes `completion` into its group's batch if one is collecting on this thread
    /// for its scheduler (otherwise leaves it).
    #[inline]
    fn offer(inner: &Inner, completion: &mut Option<Completion>) {
        let owner = std::ptr::from_ref(inner) as usize;
        let _ = BATCH.try_with(|batch| {
            let mut batch = batch.borrow_mut();
            if batch.owner == owner {
                batch.ended.extend(completion.take());
            }
        });
    }
}

/// Ends a [`Batch`]: queues what it collected since it began, and restores the batch
/// it set aside (its owner, and where its runs end in the buffer).
struct Flush<'a> {
    inner: &'a Inner,
    outer: (usize, usize),
}

impl Drop for Flush<'_> {
    fn drop(&mut self) {
        let (owner, from) = self.outer;
        let inner = self.inner;
        let runtime = &inner.runtime;
        let (mut queued, mut first) = (false, false);
        let _ = BATCH.try_with(|batch| {
            let mut batch = batch.borrow_mut();
            batch.owner = owner;
            if batch.ended.len() > from {
                queued = true;
                first = runtime.completions.push_all(batch.ended.drain(from..));
            }
        });
        // Outside the thread-local's borrow: nothing woken can reach it meanwhile.
        if first {
            runtime.woken();
        }
        if queued {
            after_queued(inner, None);
        }
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

    use super::{finish, Batch, Completion, Completions};
    use crate::event::{Event, JobEvent};
    use crate::Scheduler;

    fn queued(scheduler: &Scheduler) -> Vec<i64> {
        let completions = &scheduler.inner.runtime.completions;
        completions.take().iter().map(|c| c.run_id.0).collect()
    }

    #[tokio::test]
    async fn a_group_queues_its_ended_runs_together_in_order_when_its_polls_are_over() {
        let scheduler = Scheduler::builder().build().expect("a scheduler");
        let other = Scheduler::builder().build().expect("another scheduler");
        let (inner, elsewhere) = (&scheduler.inner, &other.inner);
        let event = Event::JobRemoved(JobEvent {
            job_id: "j".into(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            node: "n".into(),
        });
        Batch::run(inner, || {
            finish(inner, ended(0, 1), None);
            finish(inner, ended(1, 2), None);
            assert!(
                !inner.runtime.completions.pending(),
                "not queued while the group polls"
            );
            finish(inner, ended(2, 3), Some(event));
            assert_eq!(
                queued(&scheduler),
                [3],
                "a run with an event: queued at once"
            );
            finish(elsewhere, ended(0, 9), None);
            assert_eq!(
                queued(&other),
                [9],
                "another scheduler's run: queued at once"
            );
            finish(inner, ended(3, 4), None);
        });
        assert_eq!(
            queued(&scheduler),
            [1, 2, 4],
            "together, in order, once over"
        );
        finish(inner, ended(0, 5), None);
        assert_eq!(queued(&scheduler), [5], "outside a group: queued at once");
    }

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
