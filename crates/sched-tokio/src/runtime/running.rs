//! The runs executing on this node: a slab, so adding and removing one costs no hash.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::job::JobId;
use sched_core::store::RunId;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use super::cancel::CancelReason;

/// A run in flight: what aborting and reporting it needs.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) run_id: RunId,
    pub(super) job_id: JobId,
    pub(super) scheduled: DateTime<Utc>,
    /// The task the run is in (at first the task of its group, see `spawn_runs`).
    pub(super) task: AbortHandle,
    /// Leases (a store other nodes share): until when its lease holds for sure — from
    /// its claim, then from each heartbeat that renewed it.
    pub(super) lease_until: DateTime<Utc>,
    /// When it was put here (after its claim committed): a heartbeat that began after
    /// this and did not renew it found it taken.
    pub(super) since: DateTime<Utc>,
    /// Its lease was lost (reported once; cleared if a later heartbeat renews it).
    pub(super) lost: bool,
    /// `task` is the run's own task (not its group's, still polling it for the first
    /// time): aborting it drops this run only.
    pub(super) own_task: bool,
    /// Why it was asked to stop, once it was (see [`super::cancel`]).
    pub(super) cancel: Option<CancelReason>,
    /// Its cancellation token, made when its job first asks for it.
    pub(super) token: Option<CancellationToken>,
    /// Its job's `cancel_grace`.
    pub(super) grace: Duration,
    /// Its job's overlap policy keeps runs waiting for an instance, or its job retries
    /// (a retry may wait for one): when this run's end is recorded, the store is asked
    /// to start a waiting one.
    pub(super) waits: bool,
    /// Which attempt of its occurrence it is (1: the first run).
    pub(super) attempt: u32,
    /// Whether it was claimed ahead of its time, and if so where it stands.
    pub(super) ahead: super::ahead::Ahead,
}

/// Runs in flight, each in a numbered slot, freed when its end is recorded.
#[derive(Debug, Default)]
pub(super) struct Running {
    slots: Vec<Option<InFlight>>,
    free: Vec<usize>,
    len: usize,
}

impl Running {
    /// A slot for a run about to be spawned (filled by [`fill`](Self::fill)).
    pub(super) fn reserve(&mut self) -> usize {
        match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot].is_none(), "a free slot is empty");
                slot
            }
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    /// Puts `run` in the slot [`reserve`](Self::reserve) gave.
    pub(super) fn fill(&mut self, slot: usize, run: InFlight) {
        let previous = self.slots[slot].replace(run);
        debug_assert!(previous.is_none(), "slot {slot} filled twice");
        self.len += 1;
    }

    /// Points the run in `slot` at the task `handle` now runs it in (`own`: a task of
    /// its own, not a group's); the run, or `None` (and nothing changed) if the slot no
    /// longer holds `run_id` (it ended, or shutdown drained it).
    pub(super) fn refill(
        &mut self,
        slot: usize,
        run_id: RunId,
        handle: AbortHandle,
        own: bool,
    ) -> Option<&InFlight> {
        match self.slots.get_mut(slot) {
            Some(Some(run)) if run.run_id == run_id => {
                run.task = handle;
                run.own_task = own;
                Some(run)
            }
            _ => None,
        }
    }

    /// Frees `slot`, returning its run; `None` if it was already drained (aborted at
    /// shutdown).
    pub(super) fn remove(&mut self, slot: usize) -> Option<InFlight> {
        let run = self.slots.get_mut(slot)?.take()?;
        debug_assert!(self.len > 0, "a filled slot is counted");
        self.free.push(slot);
        self.len -= 1;
        Some(run)
    }

    /// The run in `slot`, if it is still `run_id`.
    pub(super) fn get_mut(&mut self, slot: usize, run_id: RunId) -> Option<&mut InFlight> {
        self.slots
            .get_mut(slot)?
            .as_mut()
            .filter(|run| run.run_id == run_id)
    }

    /// Every run in flight.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut InFlight> {
        self.slots.iter_mut().flatten()
    }

    /// Every run in flight, with its slot.
    pub(super) fn slots_mut(&mut self) -> impl Iterator<Item = (usize, &mut InFlight)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, run)| Some((slot, run.as_mut()?)))
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties every slot, returning what was running.
    pub(super) fn drain(&mut self) -> Vec<InFlight> {
        let taken: Vec<_> = self.slots.iter_mut().filter_map(Option::take).collect();
        self.slots.clear();
        self.free.clear();
        self.len = 0;
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use sched_core::store::RunId;

    use super::{InFlight, Running};

    fn flight(run: i64, task: &tokio::task::AbortHandle) -> InFlight {
        InFlight {
            run_id: RunId(run),
            job_id: "job".into(),
            scheduled: DateTime::<Utc>::UNIX_EPOCH,
            task: task.clone(),
            lease_until: DateTime::<Utc>::UNIX_EPOCH,
            since: DateTime::<Utc>::UNIX_EPOCH,
            lost: false,
            own_task: true,
            cancel: None,
            token: None,
            grace: Duration::ZERO,
            waits: false,
            attempt: 1,
            ahead: crate::runtime::ahead::Ahead::No,
        }
    }

    #[tokio::test]
    async fn slots_are_reused_and_a_stale_run_id_never_matches() {
        let task = tokio::spawn(std::future::pending::<()>()).abort_handle();
        let mut running = Running::default();
        let (a, b) = (running.reserve(), running.reserve());
        assert_ne!(a, b);
        running.fill(a, flight(1, &task));
        running.fill(b, flight(2, &task));
        assert_eq!(running.len(), 2);
        assert_eq!(running.remove(a).map(|run| run.run_id), Some(RunId(1)));
        assert!(running.remove(a).is_none(), "removed once");
        assert_eq!(running.len(), 1);
        let again = running.reserve();
        assert_eq!(again, a, "a freed slot is reused");
        running.fill(again, flight(3, &task));
        assert!(
            running
                .refill(again, RunId(1), task.clone(), true)
                .is_none(),
            "run 1 left that slot"
        );
        assert!(running
            .refill(again, RunId(3), task.clone(), true)
            .is_some());
        assert!(
            running.refill(99, RunId(3), task.clone(), true).is_none(),
            "no such slot"
        );
        let drained: Vec<i64> = running.drain().iter().map(|r| r.run_id.0).collect();
        assert_eq!(drained, [3, 2]);
        assert!(running.is_empty());
        assert!(running.remove(b).is_none(), "a drained slot is gone");
        task.abort();
    }
}
