//! Beside the loop, leases: heartbeats keep this node's claims alive, and the reaper
//! reports the runs of nodes that died.
//!
//! Runs on its own timer, so a busy loop never lets a lease expire. With a store only
//! this process uses, it looks once for runs a previous process left behind, then
//! ends: an idle scheduler makes no wake-ups.
//!
//! With a store other nodes share, leases cannot lie (see `docs/stores.md`, "Leases"):
//! - each run in flight knows until when its lease holds for sure (its claim's time
//!   plus the lease, then each renewal's); a run whose lease ran out unrenewed is
//!   reported lost and, if it has not started, never starts;
//! - once the node's own lease has run out unrenewed, it claims nothing until a
//!   heartbeat gets through again;
//! - after this node could not reach the store (and when it starts), it reaps nobody
//!   until a full lease has passed since its first heartbeat that got through: a node
//!   that could not reach the store either has had a full lease to renew its runs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::job::JobId;
use sched_core::store::{Renewal, RunId};
use sched_core::support::Mutex;

use crate::event::{AbandonedEvent, Event, LeaseLostEvent};
use crate::scheduler::Inner;

/// Why a lease counts as lost.
const RAN_OUT: &str = "its lease ran out before this node could renew it (the store was out of reach); another node may run it again";
const TAKEN: &str = "another node's reaper found its lease run out and took it over";
pub(super) const NOT_RECORDED: &str =
    "its outcome was not recorded: another node's reaper had taken it over after its lease ran out";
pub(super) const NOT_STARTED: &str =
    "its lease ran out before it started; not started, as another node may run it";

/// This node's view of its leases (a store other nodes share).
#[derive(Debug, Default)]
pub(crate) struct Leases {
    /// The store is shared: runs hold leases (set before the first claim).
    leased: AtomicBool,
    /// The node's lease ran out unrenewed: no claims until a heartbeat gets through.
    stopped: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Until when the node's lease holds for sure: the last renewal's reading plus the
    /// lease. `None` before the first heartbeat.
    renewed_until: Option<DateTime<Utc>>,
    /// A store call failed since the last heartbeat that got through (and at start).
    outage: bool,
    /// No reaping before this: a full lease after the first heartbeat that got through
    /// following an outage. `None` while the outage lasts.
    reap_from: Option<DateTime<Utc>>,
    /// A store call failed (not set at start): after it, claims wait for `claim_from`.
    failed: bool,
    /// No claims before this: half a heartbeat interval after the first heartbeat that
    /// got through following a failure, so that the other nodes, reconnecting too, record
    /// the ends of runs that finished during the outage before this node's claims count
    /// them as running (and skip their jobs' next runs at `max_instances`).
    claim_from: Option<DateTime<Utc>>,
}

impl Default for State {
    fn default() -> Self {
        // A node that starts knows nothing of the outages before it: it waits as
        // after one of its own.
        Self {
            renewed_until: None,
            outage: true,
            reap_from: None,
            failed: false,
            claim_from: None,
        }
    }
}

impl Leases {
    /// Runs hold leases: the store is shared with other nodes.
    pub(crate) fn leased(&self) -> bool {
        self.leased.load(Ordering::Relaxed)
    }

    pub(super) fn set_leased(&self, leased: bool) {
        self.leased.store(leased, Ordering::Relaxed);
    }

    /// The node's lease ran out unrenewed: the claim loop waits.
    pub(crate) fn claiming_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// A store call failed: reaping waits for a full lease after the store answers
    /// again.
    pub(crate) fn store_failed(&self) {
        let mut state = self.state.lock();
        state.outage = true;
        state.failed = true;
        state.reap_from = None;
    }

    /// How long the claim loop waits before claiming after a store failure (see
    /// `State::claim_from`); `None`: it may claim now.
    pub(crate) fn claim_wait(&self, now: DateTime<Utc>) -> Option<Duration> {
        let from = self.state.lock().claim_from?;
        (from - now).to_std().ok().filter(|wait| !wait.is_zero())
    }

    /// A store call failed and no heartbeat got through since.
    fn failing(&self) -> bool {
        self.state.lock().failed
    }

    fn may_reap(&self, now: DateTime<Utc>) -> bool {
        self.state.lock().reap_from.is_some_and(|from| now >= from)
    }
}

pub(crate) async fn run(inner: Weak<Inner>) {
    // The reaper looks twice per heartbeat: a dead node's runs are reported at most
    // half a heartbeat after their lease ends (lease + 1 s with the defaults). While
    // the store fails, the heartbeat tries every quarter heartbeat: the node claims
    // again soon after the store answers (a failed try costs a refused connection).
    let mut tick = 0u64;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let shared = strong.runtime.leases.leased();
        let failing = shared && strong.runtime.leases.failing();
        if shared && (tick % 2 == 0 || failing) {
            heartbeat(&strong).await;
        }
        if shared {
            expire(&strong, strong.env.clock.now());
        }
        if !shared || strong.runtime.leases.may_reap(strong.env.clock.now()) {
            reap(&strong).await;
        }
        if !shared {
            return;
        }
        tick += 1;
        let every = if strong.runtime.leases.failing() {
            strong.config.heartbeat / 4
        } else {
            strong.config.heartbeat / 2
        };
        drop(strong);
        tokio::time::sleep(every).await;
    }
}

/// One heartbeat. While it waits (for a connection, through an outage), the leases it
/// would renew may run out: each is reported as it does.
async fn heartbeat(inner: &Arc<Inner>) {
    let began = inner.env.clock.now();
    let beat = inner
        .env
        .store
        .heartbeat(&inner.config.node, &*inner.env.clock, inner.config.lease);
    match watched(inner, beat).await {
        Ok(renewal) => {
            renewed(inner, began, &renewal);
            cancel_requested(inner, &renewal);
        }
        Err(error) => {
            inner.runtime.leases.store_failed();
            tracing::warn!(%error, "heartbeat failed; retrying");
            inner.store_error(&error);
        }
    }
}

/// Awaits a store call while watching the leases: one that waits (for a connection,
/// through an outage) must not keep this task from reporting leases as they run out.
async fn watched<T>(inner: &Inner, call: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(call);
    loop {
        let wait = deadline(inner).map(|at| {
            (at - inner.env.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            biased;
            result = &mut call => return result,
            () = sleep_for(wait) => expire(inner, inner.env.clock.now()),
        }
    }
}

async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// The next instant a lease runs out: the node's (until it has), or a run's not lost
/// yet.
fn deadline(inner: &Inner) -> Option<DateTime<Utc>> {
    let leases = &inner.runtime.leases;
    let node = if leases.claiming_stopped() {
        None
    } else {
        leases.state.lock().renewed_until
    };
    let mut runs = inner.runtime.runs.lock();
    let run = runs
        .iter_mut()
        .filter(|run| !run.lost)
        .map(|run| run.lease_until)
        .min();
    node.into_iter().chain(run).min()
}

/// At `now`: runs whose lease ran out unrenewed are lost (reported); if the node's own
/// lease ran out, it stops claiming.
fn expire(inner: &Inner, now: DateTime<Utc>) {
    let mut lost = Vec::new();
    {
        let mut runs = inner.runtime.runs.lock();
        for run in runs.iter_mut().filter(|run| !run.lost) {
            if run.lease_until <= now {
                run.lost = true;
                lost.push((run.job_id.clone(), run.run_id, run.scheduled));
            }
        }
    }
    let leases = &inner.runtime.leases;
    let ran_out = leases
        .state
        .lock()
        .renewed_until
        .is_some_and(|until| until <= now);
    if (ran_out || !lost.is_empty()) && !leases.stopped.swap(true, Ordering::SeqCst) {
        tracing::warn!(node = %inner.config.node,
            "this node's leases ran out before it could renew them; it claims nothing until the store answers again");
    }
    for (job_id, run_id, scheduled) in lost {
        lease_lost(inner, job_id, run_id, scheduled, RAN_OUT, now);
    }
}

/// A heartbeat that began at `began` got through: the runs it renewed hold until its
/// lease ends (a run lost meanwhile that it renewed is this node's again: no other
/// node took it); a run claimed before it began that it did not renew was taken.
fn renewed(inner: &Inner, began: DateTime<Utc>, renewal: &Renewal) {
    let lease = chrono::Duration::from_std(inner.config.lease).unwrap_or(chrono::Duration::MAX);
    let until = renewal
        .at
        .checked_add_signed(lease)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let held: HashSet<RunId> = renewal.runs.iter().copied().collect();
    let mut taken = Vec::new();
    {
        let mut runs = inner.runtime.runs.lock();
        for run in runs.iter_mut() {
            if held.contains(&run.run_id) {
                run.lease_until = run.lease_until.max(until);
                run.lost = false;
            } else if run.since < began && !run.lost {
                run.lost = true;
                taken.push((run.job_id.clone(), run.run_id, run.scheduled));
            }
        }
    }
    let now = inner.env.clock.now();
    let leases = &inner.runtime.leases;
    let was_out = {
        let mut state = leases.state.lock();
        state.renewed_until = Some(state.renewed_until.map_or(until, |u| u.max(until)));
        let was_out = std::mem::replace(&mut state.outage, false);
        if was_out {
            state.reap_from = Some(now.checked_add_signed(lease).unwrap_or(now));
        }
        if std::mem::replace(&mut state.failed, false) {
            let beat = chrono::Duration::from_std(inner.config.heartbeat / 2)
                .unwrap_or(chrono::Duration::zero());
            state.claim_from = Some(now.checked_add_signed(beat).unwrap_or(now));
        }
        was_out
    };
    let resumed = leases.stopped.swap(false, Ordering::SeqCst);
    if resumed {
        tracing::info!(node = %inner.config.node, "leases renewed; claiming again");
    }
    if resumed || was_out {
        // The claim loop may be in its backoff after store errors: it claims now.
        inner.runtime.wake.notify_one();
    }
    for (job_id, run_id, scheduled) in taken {
        lease_lost(inner, job_id, run_id, scheduled, TAKEN, now);
    }
}

/// Runs another process asked to cancel, as the heartbeat found them (in case their
/// `NOTIFY` was lost): cancelled if they still run here (again: no effect).
fn cancel_requested(inner: &Arc<Inner>, renewal: &Renewal) {
    for &run_id in &renewal.cancelled {
        super::cancel::cancel_run(inner, run_id, super::cancel::CancelReason::Requested);
    }
}

/// Reports a run whose lease this node lost.
pub(super) fn lease_lost(
    inner: &Inner,
    job_id: JobId,
    run_id: RunId,
    scheduled: DateTime<Utc>,
    reason: &str,
    at: DateTime<Utc>,
) {
    tracing::warn!(job_id = %job_id, run_id = %run_id, %scheduled, node = %inner.config.node,
        "run lease lost: {reason}");
    inner.events.emit(Event::JobLeaseLost(LeaseLostEvent {
        job_id,
        run_id,
        scheduled,
        node: inner.config.node.clone(),
        reason: reason.to_owned(),
        at,
    }));
}

async fn reap(inner: &Arc<Inner>) {
    let call = inner.env.store.reap_abandoned(inner.env.clock.now());
    let result = if inner.runtime.leases.leased() {
        watched(inner, call).await
    } else {
        call.await
    };
    match result {
        Ok(runs) => {
            let recovered = runs.iter().any(|run| run.recovered);
            inner.metrics.abandoned(runs.len());
            for run in runs {
                tracing::warn!(job_id = %run.job_id, run_id = %run.run_id, node = %run.node,
                    recovered = run.recovered, "run abandoned by a node that stopped heartbeating");
                inner.events.emit(Event::JobAbandoned(AbandonedEvent {
                    job_id: run.job_id.clone(),
                    run_id: run.run_id,
                    scheduled: run.scheduled,
                    node: run.node,
                    recovered: run.recovered,
                    reported_by: inner.config.node.clone(),
                }));
            }
            if recovered {
                inner.runtime.wake.notify_one();
            }
        }
        Err(error) => {
            inner.runtime.leases.store_failed();
            tracing::warn!(%error, "looking for abandoned runs failed; retrying");
            inner.store_error(&error);
        }
    }
}
