//! The runs executing on this node: a slab, so adding and removing one costs no hash.

use sched_core::store::RunId;
use tokio::task::AbortHandle;

/// Runs in flight, each in a numbered slot that its task frees when it ends.
#[derive(Debug, Default)]
pub(crate) struct Running {
    slots: Vec<Option<(RunId, AbortHandle)>>,
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

    pub(crate) fn fill(&mut self, slot: usize, run_id: RunId, handle: AbortHandle) {
        self.slots[slot] = Some((run_id, handle));
        self.len += 1;
    }

    /// Frees `slot`; `None` if it was already drained (aborted at shutdown).
    pub(crate) fn remove(&mut self, slot: usize) -> Option<RunId> {
        let (run_id, _) = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(run_id)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties every slot, returning what was running.
    pub(crate) fn drain(&mut self) -> Vec<(RunId, AbortHandle)> {
        let taken: Vec<_> = self.slots.iter_mut().filter_map(Option::take).collect();
        self.slots.clear();
        self.free.clear();
        self.len = 0;
        taken
    }
}
