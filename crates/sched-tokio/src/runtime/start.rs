//! Step 2, starting the runs of a claim: in groups of up to [`GROUP`], one task per
//! group; each run is polled once there, and a run that does not end in that first poll
//! goes on in a task of its own (see the [module docs](super)).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::store::{ClaimedRun, Outcome, RunId};
use tokio::sync::oneshot;

use super::ahead::Ahead;
use super::cancel::{CancelReason, Dropped};
use super::completions::{finish, Batch, Completion};
use super::execute::{execute, execute_in_turn, panic_message, take_ended_at};
use super::running::InFlight;
use crate::event::Event;
use crate::scheduler::Inner;
use crate::task::TaskFn;

/// Most runs started together in one task by [`spawn_runs`].
const GROUP: usize = 64;

/// A group whose first polls have taken this long (by the scheduler's clock) hands the
/// rest of its runs to a new task, which another worker thread can take (jobs that
/// compute, or block, before their first `.await` then still run side by side).
const HAND_OFF: Duration = Duration::from_micros(200);

/// A run's future, boxed so that it can move to a task of its own after its first poll.
type RunFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A run to start: its slot in `Running`, the run, its task, its place in a catch-up
/// backlog.
struct Start {
    slot: usize,
    run: ClaimedRun,
    task: TaskFn,
    chain: Option<Box<Chain>>,
    /// Claimed ahead of its time (it waits for it, and can be released meanwhile).
    ahead: bool,
}

/// A catch-up run's place in its job's backlog (see `ClaimedRun::catch_up`; boxed, as
/// most runs have none): it starts once `after` — the end of the run `width` places
/// before it — fires (or is dropped), and its own end drops `then`, held until its
/// `execute` is over, which gives the next run its place.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) after: Option<oneshot::Receiver<()>>,
    pub(super) then: oneshot::Sender<()>,
}

/// The future of one run: [`execute`], or [`execute_in_turn`] for a run of a backlog.
#[inline]
fn run_future(
    inner: Arc<Inner>,
    task: TaskFn,
    run: ClaimedRun,
    slot: usize,
    (chain, ahead, now): (Option<Box<Chain>>, bool, Option<DateTime<Utc>>),
) -> RunFuture {
    match chain {
        None => Box::pin(execute(inner, task, run, slot, ahead, now)),
        Some(chain) => Box::pin(execute_in_turn(inner, task, run, slot, *chain)),
    }
}

/// Links the catch-up runs of each job, in the order claimed, `width` at a time (one
/// `Chain` per run); `None` when no run is part of a backlog (the common case).
fn chains(runs: &[ClaimedRun]) -> Option<Vec<Option<Box<Chain>>>> {
    if runs.iter().all(|run| run.catch_up.is_none()) {
        return None;
    }
    let mut chains: Vec<Option<Box<Chain>>> = runs.iter().map(|_| None).collect();
    // Per job: the ends of its last `width` runs, oldest first.
    let mut ends: HashMap<&str, VecDeque<oneshot::Receiver<()>>> = HashMap::new();
    for (run, chain) in runs.iter().zip(&mut chains) {
        let Some(width) = run.catch_up else { continue };
        let queue = ends.entry(run.job_id.as_str()).or_default();
        let after = (queue.len() >= usize::try_from(width).unwrap_or(usize::MAX).max(1))
            .then(|| queue.pop_front())
            .flatten();
        let (then, end) = oneshot::channel();
        *chain = Some(Box::new(Chain { after, then }));
        queue.push_back(end);
    }
    Some(chains)
}

type Group = Vec<Start>;

/// Starts every claimed run (runs whose task is unknown here are reported instead).
///
/// Runs start in groups of up to [`GROUP`], one task per group: each run is polled once
/// there, in turn, and a run that does not end in that first poll goes on in a task of
/// its own. Most scheduled jobs end at once or soon wait on I/O; a task per run from
/// the start would cost a spawn each, and Tokio wakes an idle worker thread for almost
/// every one of them when a claim spawns a hundred runs in a row (measured: a dozen
/// thread wake-ups per millisecond at 100,000 runs a second, a third of the CPU).
///
/// `lease_until` is when the claim's leases end (a store other nodes share); `now`, when
/// the claim was made (a run due later was claimed ahead).
pub(super) fn spawn_runs(
    inner: &Arc<Inner>,
    runs: Vec<ClaimedRun>,
    (now, lease_until): (DateTime<Utc>, DateTime<Utc>),
) {
    if runs.is_empty() {
        return;
    }
    let node = inner.config.node.as_str();
    let tasks = inner
        .env
        .registry
        .resolve(node, runs.iter().map(|run| &*run.job));
    let mut chains = chains(&runs).map(Vec::into_iter);
    let mut group = Vec::with_capacity(runs.len().min(GROUP));
    for (run, task) in runs.into_iter().zip(tasks) {
        let chain = chains.as_mut().and_then(Iterator::next).flatten();
        let Some(task) = task else {
            unrunnable(inner, run);
            continue;
        };
        group.push((run, task, chain));
        if group.len() == GROUP {
            spawn_group(
                inner,
                std::mem::replace(&mut group, Vec::with_capacity(GROUP)),
                (now, lease_until),
            );
        }
    }
    if !group.is_empty() {
        spawn_group(inner, group, (now, lease_until));
    }
}

/// Spawns the task that starts `runs` (a lone run: its own task), their slots filled
/// before it can poll them.
///
/// The loop only reserves the slots: each run's future is built (and boxed) in the
/// group's task, on the worker thread that runs it.
fn spawn_group(
    inner: &Arc<Inner>,
    runs: Vec<(ClaimedRun, TaskFn, Option<Box<Chain>>)>,
    (now, lease_until): (DateTime<Utc>, DateTime<Utc>),
) {
    let since = if inner.runtime.leases.leased() {
        inner.env.clock.now()
    } else {
        lease_until
    };
    let mut running = inner.runtime.runs.lock();
    let mut flights = Vec::with_capacity(runs.len());
    let mut group: Group = Vec::with_capacity(runs.len());
    let mut claimed_ahead = 0;
    for (run, task, chain) in runs {
        let slot = running.reserve();
        let options = &run.job.options;
        // A job that retries may have a retry waiting for an instance: asked for too.
        let waits = options.overlap.waits() || options.retry.is_some();
        let grace = options.cancel_grace;
        // A run of a catch-up backlog is past, never ahead.
        let ahead = run.scheduled > now && chain.is_none();
        claimed_ahead += u64::from(ahead);
        flights.push((
            slot,
            run.run_id,
            run.job_id.clone(),
            run.scheduled,
            grace,
            (waits, run.attempt, ahead),
        ));
        group.push(Start {
            slot,
            run,
            task,
            chain,
            ahead,
        });
    }
    if claimed_ahead > 0 {
        inner
            .runtime
            .claimed_ahead
            .fetch_add(claimed_ahead, Ordering::Release);
        // The group waits for each run in turn: the runs due now first, then those
        // claimed ahead by their time (a claim gives them in that order already).
        if !group.is_sorted_by_key(start_key) {
            group.sort_by_key(start_key);
        }
    }
    // Spawned under the lock, which is safe: a future dropped by a runtime that is
    // shutting down is an `execute` or a group not yet polled (no job code runs). A lone
    // run starts as a group of one too: until its first poll it has no task of its own
    // to abort (a cancel then would drop it unpolled, with nothing to record its end).
    if group.is_empty() {
        return;
    }
    let task = tokio::spawn(start_group(Arc::clone(inner), group)).abort_handle();
    for (slot, run_id, job_id, scheduled, grace, (waits, attempt, ahead)) in flights {
        let run = InFlight {
            run_id,
            job_id,
            scheduled,
            task: task.clone(),
            lease_until,
            since,
            lost: false,
            own_task: false,
            cancel: None,
            token: None,
            grace,
            waits,
            attempt,
            ahead: if ahead { Ahead::Waiting } else { Ahead::No },
        };
        running.fill(slot, run);
    }
    if inner.runtime.cancels.load(Ordering::Relaxed) > 0 {
        super::cancel::claimed(inner, &mut running);
    }
}

/// The instant from which a run of a group is started: at once for a run claimed when
/// due, its time for one claimed ahead.
fn start_key(start: &Start) -> DateTime<Utc> {
    if start.ahead {
        start.run.scheduled
    } else {
        DateTime::<Utc>::MIN_UTC
    }
}

/// Polls each run of a group once, in turn. First polls that take long hand the rest
/// to a new group, which another worker thread can take.
///
/// The runs due are polled in one poll of the group's task, which does not yield
/// meanwhile: the ends of the runs that end in their first poll are queued together
/// afterwards (see [`Batch`]). Runs claimed ahead (last in the group, by their time)
/// wait here, on one timer for the group, and are polled when due, those due by then
/// together: not a timer and a task each. While runs are left to wait for, the ones
/// due are started in a task of their own, so that a job that blocks before its first
/// `.await` does not hold back the later runs' start.
async fn start_group(inner: Arc<Inner>, group: Group) {
    let mut group = group;
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let now = read_clock(&inner);
        let later = match (group.last(), now) {
            (Some(last), Some(now)) if last.ahead => {
                let due = group.partition_point(|start| start_key(start) <= now);
                group.split_off(due)
            }
            // A clock that panics: every run is polled, and reports it there.
            _ => Vec::new(),
        };
        if !later.is_empty() {
            if !group.is_empty() {
                hand_off_rest(&inner, group);
            }
        } else if !group.is_empty() {
            let mut due = Some(group);
            std::future::poll_fn(|cx| {
                if let Some(due) = due.take() {
                    Batch::run(&inner, || first_polls(&inner, due, cx, now));
                }
                Poll::Ready(())
            })
            .await;
        }
        let Some(next) = later.first() else {
            return;
        };
        // Until the earliest run left is due, from the reading above (the due runs were
        // only handed on since); checked again on waking, in case the wall clock
        // stepped back meanwhile.
        let wait = now
            .and_then(|now| (next.run.scheduled - now).to_std().ok())
            .unwrap_or(Duration::ZERO);
        let deadline = tokio::time::Instant::now() + wait;
        match &mut timer {
            Some(timer) => timer.as_mut().reset(deadline),
            None => timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        if let Some(timer) = &mut timer {
            timer.as_mut().await;
        }
        group = later;
    }
}

/// The scheduler's clock, or `None` if reading it panicked: a group reads it outside
/// its runs' guarded polls, where such a panic would take the group's runs with it
/// (the runs' own reads then report it, each recorded as panicked).
fn read_clock(inner: &Inner) -> Option<DateTime<Utc>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| inner.env.clock.now())).ok()
}

/// The first poll of each run of `group`, in turn, with the group task's `cx`, from
/// `now` (the clock just read, if it could be). A run that ends in its first poll
/// passes its end time on as the next one's start ([`take_ended_at`]); otherwise the
/// clock is read again.
fn first_polls(inner: &Arc<Inner>, group: Group, cx: &mut Context<'_>, now: Option<DateTime<Utc>>) {
    // The hand-off instant, once: comparing instants is a few instructions, where
    // their difference is a hundred (chrono's calendar arithmetic), at every run.
    let hand_off = chrono::Duration::from_std(HAND_OFF).unwrap_or(chrono::Duration::MAX);
    let window = now.map(|began| (began, began.checked_add_signed(hand_off)));
    let mut now = now;
    let mut runs = group.into_iter();
    while let Some(Start {
        slot,
        run,
        task,
        chain,
        ahead,
    }) = runs.next()
    {
        if inner.runtime.aborting.load(Ordering::SeqCst) {
            return; // shutdown took (and reported) the runs not started
        }
        let run_id = run.run_id;
        if super::cancel::reason(inner, slot, run_id) == Some(CancelReason::Requested) {
            // Asked to stop before it started (claimed ahead, waiting here): it never
            // starts; its guard records it cancelled. (Should the clock panic there, the
            // run stays in flight, recorded at shutdown.)
            let guard = Dropped::new(inner, slot, run_id);
            if std::panic::catch_unwind(AssertUnwindSafe(|| drop(guard))).is_err() {
                tracing::error!(run_id = %run_id, "recording a run cancelled before it started panicked");
            }
            continue;
        }
        let mut run = run_future(Arc::clone(inner), task, run, slot, (chain, ahead, now));
        let _ = take_ended_at(); // only this run's own end counts
        let first = std::panic::catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(cx)));
        after_first_poll(inner, slot, run_id, run, first);
        if runs.len() == 0 {
            return;
        }
        now = take_ended_at().or_else(|| read_clock(inner));
        // Long enough, or the clock stepped back or cannot be read: the rest goes on
        // in a task another worker thread can take.
        let long = match (window, now) {
            (Some((began, until)), Some(now)) => {
                now < began || until.is_some_and(|until| now >= until)
            }
            _ => true,
        };
        if long {
            hand_off_rest(inner, runs.collect());
            return;
        }
    }
}

/// After a run's first poll: a run still pending moves to a task of its own, which
/// polls it at once, so whatever it waits on wakes that task from then on (a job
/// future that keeps only the first waker it was given would not be woken: that breaks
/// the `Future` contract).
#[inline]
fn after_first_poll(
    inner: &Arc<Inner>,
    slot: usize,
    run_id: RunId,
    run: RunFuture,
    first: std::thread::Result<Poll<()>>,
) {
    match first {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            // Spawned outside the lock (dropping a job future may run job code); a run
            // that ended (in its new task) or was drained meanwhile no longer holds its
            // slot.
            let handle = tokio::spawn(run).abort_handle();
            let mut running = inner.runtime.runs.lock();
            match running.refill(slot, run_id, handle.clone(), true) {
                Some(run) => super::cancel::on_own_task(run),
                None => handle.abort(), // drained at shutdown (a run that ended: no effect)
            }
        }
        Err(panic) => {
            // The job's own panics are caught inside `execute`: this one came from
            // around it (a `Clock` or a tracing layer). The other runs go on.
            let message = panic_message(&*panic);
            tracing::error!(run_id = %run_id, "run panicked outside its job: {message}");
            let ended = Completion::new(
                slot,
                run_id,
                Outcome::Panicked(message),
                inner.env.clock.now(),
            );
            finish(inner, ended, None);
        }
    }
}

/// Moves the runs of a group not polled yet to a new group task.
fn hand_off_rest(inner: &Arc<Inner>, rest: Group) {
    let mut running = inner.runtime.runs.lock();
    // Under the lock: the new group cannot move a run to its own task (and set its
    // slot) before the slots point at the new group.
    let ids: Vec<(usize, RunId)> = rest.iter().map(|s| (s.slot, s.run.run_id)).collect();
    let task = tokio::spawn(hand_off(Arc::clone(inner), rest)).abort_handle();
    for (slot, run_id) in ids {
        // Not polled yet, so not ended: a run no longer in its slot was released (given
        // back while it waited here) or drained by a shutdown; the new group passes
        // over it, or stops before polling.
        let _ = running.refill(slot, run_id, task.clone(), false);
    }
}

/// [`start_group`] for the rest of a group, boxed (a type for the recursion).
fn hand_off(inner: Arc<Inner>, rest: Group) -> RunFuture {
    Box::pin(start_group(inner, rest))
}

/// A claimed run whose task is not registered on this node: reported, the job kept.
fn unrunnable(inner: &Arc<Inner>, run: ClaimedRun) {
    let error = format!(
        "job {:?} names task {:?}, which is not registered on this node",
        run.job.id, run.job.task
    );
    tracing::error!(job_id = %run.job.id, task = %run.job.task, "{error}");
    inner.events.emit(Event::JobUnrunnable {
        job_id: run.job.id.clone(),
        error: error.clone(),
    });
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        let now = inner.env.clock.now();
        let _ = inner
            .env
            .store
            .complete(run.run_id, Outcome::Error(error), now)
            .await;
    });
}
