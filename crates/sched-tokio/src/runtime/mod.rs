//! The runtime: what [`Scheduler::start`](crate::Scheduler::start) spawns, one module
//! per step of a run's flow.
//!
//! 1. [`claim_loop`] — one Tokio task sleeps until the store's earliest due run (woken
//!    early when jobs change), claims what is due in batches, reports what the claim
//!    skipped, and hands the claimed runs on. Claims up to four full batches back to
//!    back before it yields its thread.
//! 2. [`start`] — the runs of a claim start in groups of up to 64, one task per group:
//!    each run's future is built and polled once there, in turn, and a run that has not
//!    ended by then goes on in a Tokio task of its own (so `tokio::task::id()` inside a
//!    job can change at its first `.await`). Most scheduled jobs end at once or soon
//!    wait on I/O; a task per run from the start would cost a spawn each, and Tokio
//!    wakes an idle worker thread for almost every one when a claim spawns a hundred
//!    runs in a row. Once a group's first polls have taken 200 µs, the rest of it moves
//!    to a new task that another worker can take; a job that blocks its thread still
//!    holds back the runs behind it in its group for as long as it blocks. Runs
//!    claimed ahead of their time wait in their group, on one timer for it, and are
//!    polled when due, those due by then together. A run that ends in its first poll
//!    hands its end time on as the next one's start: one clock read per run.
//! 3. [`execute`] — one run: (claimed ahead, and early after all: waits), takes a
//!    `max_concurrency` slot (missed if its grace ran out meanwhile), runs the job with
//!    its timeout, panics caught, and reports the outcome.
//! 4. [`completions`] — an ended run queues its completion without a store call (the
//!    runs of a group that end in their first poll, all together once the group's
//!    first polls are over: one lock for them); the claim loop records the queue in one
//!    batch before each claim, and at most every 10 ms while it sleeps long.
//! 5. [`shutdown`] — waits for the runs in flight up to the shutdown timeout, then
//!    aborts the rest and records them as cancelled.
//!
//! Beside them, [`lease`] heartbeats and reaps on its own timer, [`running`] is the
//! slab of runs in flight on this node (to wait for or abort at shutdown), and
//! [`metrics`] holds what the steps count (feature `metrics`).
//!
//! [`Shared`] is the state these steps share; its fields are private to this module
//! and its steps.

pub(crate) mod ahead;
pub(crate) mod cancel;
mod claim_loop;
mod completions;
mod execute;
mod lease;
mod metrics;
mod running;
mod shutdown;
mod start;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use sched_core::store::{RunEnd, RunId};
use sched_core::support::Mutex;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;

pub(crate) use self::claim_loop::{dispatch, run};
use self::completions::Completions;
use self::lease::Leases;
pub(crate) use self::metrics::Metrics;
use self::running::Running;
pub(crate) use self::shutdown::drain;

/// What the runtime's steps share with each other and with the scheduler handle.
pub(crate) struct Shared {
    /// Wakes the claim loop: a job changed, the scheduler was paused/resumed/stopped.
    wake: Notify,
    /// Runs executing on this node.
    runs: Mutex<Running>,
    /// Signalled when a run ends while the scheduler is stopping.
    idle: Notify,
    /// Ended runs, recorded in the store in batches by the claim loop.
    completions: Completions,
    /// The loop sleeps for long (or until woken): an ending run notifies `ended`.
    sleeping_long: AtomicBool,
    /// Runs ended while the loop sleeps long (it records them soon).
    ended: Notify,
    /// Shutdown is aborting the runs in flight: runs not started yet are dropped.
    aborting: AtomicBool,
    /// `max_concurrency`: most runs executing at once on this node.
    limit: Option<Arc<Semaphore>>,
    /// Times the claim loop woke up (for `stats`; the benchmark checks idleness).
    wakeups: AtomicU64,
    /// The heartbeat/reaper task: it runs until shutdown has released this node's
    /// claims, so leases stay renewed while running jobs drain.
    lease_task: Mutex<Option<JoinHandle<()>>>,
    /// This node's view of its leases (a store other nodes share).
    leases: Leases,
    /// Runs ever asked to stop (see [`cancel`]): while none was, an ending run does not
    /// look up whether it was.
    cancels: AtomicU64,
    /// Cancels asked for runs claimed here but not in flight yet (see `cancel`).
    pending_cancels: Mutex<Vec<sched_core::store::RunId>>,
    /// `run_job_now_and_wait`: who waits for the end of which run.
    waiters: Mutex<HashMap<RunId, oneshot::Sender<RunEnd>>>,
    /// How many wait (while none does, an ending run does not look).
    waited: AtomicUsize,
    /// Runs ever claimed ahead of their time here (while none was, a job's change does
    /// not look for runs to give back: see [`ahead`]).
    claimed_ahead: AtomicU64,
}

impl Shared {
    pub(crate) fn new(max_concurrency: Option<usize>) -> Self {
        Self {
            wake: Notify::new(),
            runs: Mutex::default(),
            idle: Notify::new(),
            completions: Completions::default(),
            sleeping_long: AtomicBool::new(false),
            ended: Notify::new(),
            aborting: AtomicBool::new(false),
            limit: max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
            wakeups: AtomicU64::new(0),
            lease_task: Mutex::new(None),
            leases: Leases::default(),
            cancels: AtomicU64::new(0),
            pending_cancels: Mutex::default(),
            waiters: Mutex::default(),
            waited: AtomicUsize::new(0),
            claimed_ahead: AtomicU64::new(0),
        }
    }

    /// The end of run `run_id` (claimed here, not started yet), when it ends: its
    /// outcome, finish time and result. Dropped unanswered if the scheduler stops first.
    pub(crate) fn wait_for_end(&self, run_id: RunId) -> oneshot::Receiver<RunEnd> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().insert(run_id, tx);
        self.waited.fetch_add(1, Ordering::SeqCst);
        rx
    }

    /// Whether someone waits for the end of a run (`run_job_now_and_wait`).
    #[inline]
    pub(super) fn waited(&self) -> bool {
        self.waited.load(Ordering::SeqCst) > 0
    }

    /// Tells whoever waits for `end`'s run that it ended.
    #[cold]
    pub(super) fn ended(&self, end: impl FnOnce() -> RunEnd, run_id: RunId) {
        let waiter = self.waiters.lock().remove(&run_id);
        if let Some(waiter) = waiter {
            self.waited.fetch_sub(1, Ordering::SeqCst);
            let _ = waiter.send(end());
        }
    }

    /// Drops every waiter (the scheduler stopped): they learn it.
    pub(crate) fn forget_waiters(&self) {
        let mut waiters = self.waiters.lock();
        self.waited.fetch_sub(waiters.len(), Ordering::SeqCst);
        waiters.clear();
    }

    /// Ended runs were queued, the first since the loop last took them: if the loop
    /// sleeps long, it is woken to record them soon (otherwise its next step does).
    fn woken(&self) {
        if self.sleeping_long.load(Ordering::SeqCst) {
            self.ended.notify_one();
        }
    }

    /// Wakes the claim loop (something changed that it should look at).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs executing on this node now.
    pub(crate) fn running(&self) -> usize {
        self.runs.lock().len()
    }

    /// Times the claim loop has woken up.
    pub(crate) fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }

    /// Stops the heartbeat/reaper task (after shutdown released the claims).
    pub(crate) fn stop_lease_task(&self) {
        if let Some(task) = self.lease_task.lock().take() {
            task.abort();
        }
    }
}
