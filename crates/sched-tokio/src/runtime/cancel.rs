//! Beside step 3, stopping a run before it ends: its timeout, `cancel_run` /
//! `cancel_job` (here, or sent by another node through the store), or shutdown.
//!
//! A run's [`CancellationToken`] is made only when its job asks for it (through its
//! `JobContext`), and kept with the run in the slab of runs in flight; a run that
//! never asks costs nothing. Asked to stop, a run's token fires; the run then has its
//! job's `cancel_grace` to end by itself before its future is dropped — at once if it
//! never took its token, since it cannot have seen the request. Dropping means
//! aborting the run's own task (a run still in its group's first poll gets its own
//! task right after, and is dropped then); the run's [`Dropped`] guard records it as
//! cancelled. A run asked to stop before it started (waiting in its group: claimed
//! ahead) is never started: its group records it cancelled when it reaches it.
//! Shutdown only fires the tokens: it aborts what is left itself, once its timeout runs
//! out.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::store::{Outcome, RunId};
use sched_core::support::RwLock;
use tokio_util::sync::CancellationToken;

use super::completions::{finish, Completion};
use super::running::InFlight;
use crate::event::{Event, RunEvent};
use crate::scheduler::Inner;

/// Why a run was asked to stop (see [`JobContext::cancel_reason`](crate::JobContext::cancel_reason)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// It ran past its job's `timeout`.
    Timeout,
    /// [`Scheduler::cancel_run`](crate::Scheduler::cancel_run) or
    /// [`cancel_job`](crate::Scheduler::cancel_job), on this node or another; or a newer
    /// run of its job took its place ([`Overlap::CancelPrevious`](crate::Overlap)).
    Requested,
    /// The scheduler is shutting down (the run may still finish within the shutdown
    /// timeout).
    Shutdown,
}

/// The schedulers of this process, by id, for a `JobContext` to reach its run: a context
/// carries the id, not a counted reference, so that making one per run costs no atomic
/// operation on a count every worker thread shares. Looked up only when a job asks for
/// its token; an entry is removed when its scheduler is dropped.
static SCHEDULERS: std::sync::OnceLock<RwLock<HashMap<u64, Weak<Inner>>>> =
    std::sync::OnceLock::new();

fn schedulers() -> &'static RwLock<HashMap<u64, Weak<Inner>>> {
    SCHEDULERS.get_or_init(RwLock::default)
}

/// Registers a scheduler under its id (when it is built).
pub(crate) fn register(inner: &Arc<Inner>) {
    schedulers().write().insert(inner.id, Arc::downgrade(inner));
}

/// Forgets scheduler `id` (when it is dropped).
pub(crate) fn unregister(id: u64) {
    schedulers().write().remove(&id);
}

/// Scheduler `id`, if it still exists.
pub(crate) fn scheduler(id: u64) -> Option<Arc<Inner>> {
    schedulers().read().get(&id).and_then(Weak::upgrade)
}

/// A token already cancelled (for a run whose scheduler or slot is gone).
pub(crate) fn cancelled_token() -> CancellationToken {
    let token = CancellationToken::new();
    token.cancel();
    token
}

/// The token of the run in `slot` (made on first use; already cancelled if the run was
/// asked to stop before). A run no longer in the slab (drained at shutdown) gets a
/// cancelled token.
pub(crate) fn token(inner: &Inner, slot: usize, run_id: RunId) -> CancellationToken {
    let mut runs = inner.runtime.runs.lock();
    let Some(run) = runs.get_mut(slot, run_id) else {
        return cancelled_token();
    };
    run.token
        .get_or_insert_with(|| {
            let token = CancellationToken::new();
            if run.cancel.is_some() {
                token.cancel();
            }
            token
        })
        .clone()
}

/// Why the run in `slot` was asked to stop, if it was.
pub(crate) fn reason(inner: &Inner, slot: usize, run_id: RunId) -> Option<CancelReason> {
    if inner.runtime.cancels.load(Ordering::Acquire) == 0 {
        return None;
    }
    inner
        .runtime
        .runs
        .lock()
        .get_mut(slot, run_id)
        .and_then(|run| run.cancel)
}

/// Cancels `run_id` if this node runs it; `false` if it does not.
pub(crate) fn cancel_run(inner: &Arc<Inner>, run_id: RunId, reason: CancelReason) -> bool {
    let mut runs = inner.runtime.runs.lock();
    let found = runs.iter_mut().find(|run| run.run_id == run_id);
    let here = found.is_some();
    if let Some(run) = found {
        ask(inner, run, reason);
    }
    here
}

/// Cancels `run_id`, which the store says this node claimed: now if it is in flight
/// here, else as soon as its start puts it there (its claim committed, its start not
/// yet under way: see [`claimed`]).
pub(crate) fn cancel_claimed(inner: &Arc<Inner>, run_id: RunId) {
    let mut runs = inner.runtime.runs.lock();
    if let Some(run) = runs.iter_mut().find(|run| run.run_id == run_id) {
        ask(inner, run, CancelReason::Requested);
        return;
    }
    let mut pending = inner.runtime.pending_cancels.lock();
    if pending.len() >= MAX_PENDING {
        pending.remove(0); // a run that never came: the oldest goes
    }
    pending.push(run_id);
    inner.runtime.cancels.fetch_add(1, Ordering::AcqRel);
}

/// Most cancels kept for runs not in flight yet.
const MAX_PENDING: usize = 1_024;

/// Runs just put in flight (`running`, under its lock) whose cancel came first.
pub(super) fn claimed(inner: &Arc<Inner>, running: &mut super::running::Running) {
    let mut pending = inner.runtime.pending_cancels.lock();
    if pending.is_empty() {
        return;
    }
    pending.retain(
        |id| match running.iter_mut().find(|run| run.run_id == *id) {
            Some(run) => {
                ask(inner, run, CancelReason::Requested);
                false
            }
            None => true,
        },
    );
}

/// Cancels every run of `job_id` this node runs; returns their ids.
pub(crate) fn cancel_job(inner: &Arc<Inner>, job_id: &str, reason: CancelReason) -> Vec<RunId> {
    let mut runs = inner.runtime.runs.lock();
    let mut ids = Vec::new();
    for run in runs.iter_mut().filter(|run| &*run.job_id == job_id) {
        ask(inner, run, reason);
        ids.push(run.run_id);
    }
    ids
}

/// At shutdown: fires the token of every run in flight (they go on until the
/// shutdown timeout).
pub(crate) fn shutting_down(inner: &Arc<Inner>) {
    let mut runs = inner.runtime.runs.lock();
    for run in runs.iter_mut() {
        ask(inner, run, CancelReason::Shutdown);
    }
}

/// Asks `run` to stop (under the slab's lock): fires its token, and for a request
/// drops it after its grace (a timeout is handled by the run itself, shutdown aborts
/// what is left at its own timeout). Asking again changes nothing (a shutdown after a
/// request leaves the request's reason).
fn ask(inner: &Arc<Inner>, run: &mut InFlight, reason: CancelReason) {
    if run.cancel.is_some() {
        return;
    }
    run.cancel = Some(reason);
    inner.runtime.cancels.fetch_add(1, Ordering::AcqRel);
    if let Some(token) = &run.token {
        token.cancel();
    }
    if reason == CancelReason::Requested && run.own_task {
        drop_after_grace(run);
    }
}

/// A run whose cancel was requested while it had no task of its own (in its group's
/// first poll) just got one: its drop was waiting for it.
pub(super) fn on_own_task(run: &InFlight) {
    if run.ahead == super::ahead::Ahead::Released {
        // Released while in its first poll: dropped now (see `super::ahead`).
        run.task.abort();
        return;
    }
    if run.cancel == Some(CancelReason::Requested) {
        drop_after_grace(run);
    }
}

/// The run in `slot` ran past its timeout: its token fires (reason
/// [`CancelReason::Timeout`]). Returns the grace it may still run for: its job's
/// `cancel_grace` if it took its token, else none.
pub(super) fn timed_out(inner: &Inner, slot: usize, run_id: RunId) -> Duration {
    let mut runs = inner.runtime.runs.lock();
    let Some(run) = runs.get_mut(slot, run_id) else {
        return Duration::ZERO;
    };
    if run.cancel.is_none() {
        run.cancel = Some(CancelReason::Timeout);
        inner.runtime.cancels.fetch_add(1, Ordering::AcqRel);
    }
    match &run.token {
        Some(token) => {
            token.cancel();
            run.grace
        }
        None => Duration::ZERO,
    }
}

/// Aborts the run's task once its grace is over (at once if it never took its token).
fn drop_after_grace(run: &InFlight) {
    let task = run.task.clone();
    let grace = if run.token.is_some() {
        run.grace
    } else {
        Duration::ZERO
    };
    if grace.is_zero() {
        task.abort();
        return;
    }
    // A run that ends within its grace makes this a no-op (its task is done).
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        task.abort();
    });
}

/// Records a run whose future was dropped before it ended (its task aborted by a
/// cancel): armed for the run's whole life, disarmed where the run reports its end.
/// Shutdown drains and records its own aborted runs: the guard then does nothing.
/// Small, as it sits in every run's future: what else a report needs is read from the
/// slab when it fires.
pub(super) struct Dropped<'a> {
    pub(super) inner: &'a Arc<Inner>,
    pub(super) slot: usize,
    pub(super) run_id: RunId,
    /// When the job's code started, once it has.
    pub(super) started: Option<DateTime<Utc>>,
    pub(super) armed: bool,
}

impl<'a> Dropped<'a> {
    /// An armed guard for the run in `slot`.
    #[inline]
    pub(super) fn new(inner: &'a Arc<Inner>, slot: usize, run_id: RunId) -> Self {
        Self {
            inner,
            slot,
            run_id,
            started: None,
            armed: true,
        }
    }

    /// The run reports its own end from here on.
    #[inline]
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Dropped<'_> {
    #[inline]
    fn drop(&mut self) {
        // A panic around the job (a clock, a tracing layer) unwinding through the run is
        // recorded where it is caught (`after_first_poll`), not here: and no clock or
        // layer is called again while unwinding.
        if self.armed && !std::thread::panicking() {
            self.dropped();
        }
    }
}

impl Dropped<'_> {
    #[cold]
    fn dropped(&self) {
        let inner = self.inner;
        if inner.runtime.aborting.load(Ordering::SeqCst) {
            return;
        }
        let Some((job_id, scheduled, attempt, ahead)) = inner
            .runtime
            .runs
            .lock()
            .get_mut(self.slot, self.run_id)
            .map(|run| (run.job_id.clone(), run.scheduled, run.attempt, run.ahead))
        else {
            return; // drained: shutdown records it
        };
        if ahead == super::ahead::Ahead::Released {
            // Claimed ahead, released before it started: given back, not recorded.
            super::ahead::forget(inner, self.slot, self.run_id);
            return;
        }
        let now = inner.env.clock.now();
        let started = self.started;
        tracing::warn!(job_id = %job_id, run_id = %self.run_id, "run cancelled: its future was dropped");
        let event = inner.events.listened().then(|| {
            Event::JobError(RunEvent {
                job_id,
                run_id: self.run_id,
                scheduled,
                started: started.unwrap_or(now),
                duration: started.map(|s| (now - s).to_std().unwrap_or(Duration::ZERO)),
                error: Some(CANCELLED.to_owned()),
                node: inner.config.node.clone(),
                attempt,
                status: sched_core::store::RunStatus::Cancelled,
                result: None,
            })
        });
        finish(
            inner,
            Completion::new(self.slot, self.run_id, Outcome::Cancelled, now),
            event,
        );
    }
}

/// The error text of a run cancelled by a request.
pub(crate) const CANCELLED: &str = "cancelled";
