//! The runs executing on this node: a slab, so adding and removing one costs no hash.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sched_core::store::RunId;
use tokio::task::AbortHandle;

/// A run in flight: what aborting and reporting it needs.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) run_id: RunId,
    pub(crate) job_id: Arc<str>,
    pub(crate) scheduled: DateTime<Utc>,
    /// The task the run is in (at first the task of its group, see `spawn_runs`).
    pub(crate) task: AbortHandle,
}

/// Runs in flight, each in a numbered slot, freed when its end is recorded.
#[derive(Debug, Default)]
pub(crate) struct Running {
    slots: Vec<Option<InFlight>>,
    free: Vec<usize>,
    len: usize,
}

impl Running {
    /// A slot for a run about to be spawned (filled by [`fill`](Self::fill)).
    pub(crate) fn reserve(&mut self) -> usize {
        match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    pub(crate) fn fill(&mut self, slot: usize, run: InFlight) {
        self.slots[slot] = Some(run);
        self.len += 1;
    }

    /// Points the run in `slot` at the task `handle` now runs it in; `false` (and
    /// nothing changed) if the slot no longer holds `run_id` (it ended, or shutdown
    /// drained it).
    pub(crate) fn refill(&mut self, slot: usize, run_id: RunId, handle: AbortHandle) -> bool {
        match self.slots.get_mut(slot) {
            Some(Some(run)) if run.run_id == run_id => {
                run.task = handle;
                true
            }
            _ => false,
        }
    }

    /// Frees `slot`; `None` if it was already drained (aborted at shutdown).
    pub(crate) fn remove(&mut self, slot: usize) -> Option<RunId> {
        let run = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(run.run_id)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties every slot, returning what was running.
    pub(crate) fn drain(&mut self) -> Vec<InFlight> {
        let taken: Vec<_> = self.slots.iter_mut().filter_map(Option::take).collect();
        self.slots.clear();
        self.free.clear();
        self.len = 0;
        taken
    }
}
