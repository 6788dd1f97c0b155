//! Claim-ahead made safe: a run claimed before its time and not started yet is given
//! back when its job changes, so the change applies to it — the run is never doubled
//! and never lost. On Tokio's paused clock, with `MemoryStore` (explicit `claim_ahead`)
//! — the Postgres store and changes made by another node are covered by the scenarios.
//!
//! Every job here fires each second from T0 + 1 s; with a 500 ms horizon its next run is
//! claimed when 437.5 ms away, so at T0 + 0.7 s the 1 s run is claimed and waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;

use crate::scheduler::{after, at, executed, harness, secs, submitted, Harness, T0};

const AHEAD: Duration = Duration::from_millis(500);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// T0 + `n` ms.
fn at_ms(n: i64) -> DateTime<Utc> {
    at(T0) + chrono::Duration::milliseconds(n)
}

/// A harness claiming 500 ms ahead, with job "tick" (every second from T0 + 1 s) running
/// task "echo", which records (scheduled time, its args) of each run.
async fn ticking(
    options: impl FnOnce(JobSpec) -> JobSpec,
) -> (Harness, Arc<Mutex<Vec<(DateTime<Utc>, u32)>>>) {
    let h = harness(|b| b.claim_ahead(AHEAD));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    h.scheduler.register_task("echo", move |ctx: JobContext| {
        let log = Arc::clone(&log);
        async move {
            let n: u32 = ctx.args().map_err(|e| e.to_string())?;
            log.lock().expect("log").push((ctx.scheduled, n));
            tokio::time::sleep(ms(200)).await;
            Ok::<(), String>(())
        }
    });
    let spec = JobSpec::interval(secs(1))
        .id("tick")
        .args(&1)
        .expect("args");
    h.scheduler
        .add_named_job(options(spec), "echo")
        .await
        .expect("added");
    h.scheduler.start().await.expect("started");
    // 0.7 s: the 1 s run is claimed ahead and waits for its time.
    tokio::time::sleep(ms(700)).await;
    assert_eq!(
        h.scheduler
            .get_job("tick")
            .await
            .expect("job")
            .next_run_time,
        Some(after(T0, 2)),
        "the 1 s run is claimed ahead"
    );
    (h, seen)
}

/// The scheduled times the job ran for, in order.
fn ran(seen: &Mutex<Vec<(DateTime<Utc>, u32)>>) -> Vec<DateTime<Utc>> {
    seen.lock()
        .expect("log")
        .iter()
        .map(|(at, _)| *at)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_change_inside_the_window_applies_to_the_run_claimed_ahead() {
    let (mut h, seen) = ticking(|spec| spec).await;
    h.scheduler
        .modify_job("tick", |job| *job = job.clone().args(&2).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(ms(2_500)).await; // to 3.2 s
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![(after(T0, 1), 2), (after(T0, 2), 2), (after(T0, 3), 2)],
        "the 1 s run, claimed before the change, runs as changed, once"
    );
    let events = h.drain();
    let starts = submitted(&events, "tick");
    assert!(
        starts
            .iter()
            .all(|(scheduled, started)| started == scheduled),
        "on time, never early: {starts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_inside_the_window_stops_the_run_claimed_ahead() {
    let (mut h, seen) = ticking(|spec| spec).await;
    h.scheduler.pause_job("tick").await.unwrap();
    tokio::time::sleep(ms(800)).await; // 1.5 s
    assert!(ran(&seen).is_empty(), "paused before its time: not run");
    h.scheduler.resume_job("tick").await.unwrap();
    tokio::time::sleep(ms(1_700)).await; // 3.2 s
    assert_eq!(
        ran(&seen),
        vec![after(T0, 2), after(T0, 3)],
        "resumed at 1.5 s: the 1 s run fell due while paused (skipped), then each second"
    );
    assert!(
        !h.drain()
            .iter()
            .any(|e| matches!(e, Event::JobMissed(_) | Event::JobMaxInstances(_))),
        "nothing reported missed or over the limit"
    );
}

#[tokio::test(start_paused = true)]
async fn paused_and_resumed_inside_the_window_the_run_happens_once() {
    let (_h, seen) = ticking(|spec| spec).await;
    _h.scheduler.pause_job("tick").await.unwrap();
    tokio::time::sleep(ms(100)).await; // 0.8 s
    _h.scheduler.resume_job("tick").await.unwrap();
    tokio::time::sleep(ms(1_400)).await; // 2.2 s
    assert_eq!(ran(&seen), vec![after(T0, 1), after(T0, 2)]);
}

#[tokio::test(start_paused = true)]
async fn a_removal_inside_the_window_stops_the_run_claimed_ahead() {
    let (mut h, seen) = ticking(|spec| spec).await;
    h.scheduler.remove_job("tick").await.unwrap();
    tokio::time::sleep(ms(2_000)).await;
    assert!(ran(&seen).is_empty(), "removed before its time: never run");
    let events = h.drain();
    assert!(submitted(&events, "tick").is_empty());
    assert_eq!(h.scheduler.stats().running, 0, "its slot is free");
}

#[tokio::test(start_paused = true)]
async fn a_reschedule_inside_the_window_replaces_the_run_claimed_ahead() {
    let (_h, seen) = ticking(|spec| spec).await;
    _h.scheduler
        .reschedule_job("tick", Trigger::interval(secs(10)))
        .await
        .unwrap();
    tokio::time::sleep(ms(10_300)).await; // 11 s
    assert_eq!(
        ran(&seen),
        vec![at_ms(10_700)],
        "the old 1 s run gone; the new trigger's first run, 10 s after the reschedule"
    );
}

#[tokio::test(start_paused = true)]
async fn run_now_inside_the_window_is_not_absorbed_by_the_run_claimed_ahead() {
    let (mut h, seen) = ticking(|spec| spec.options(JobOptions::default().max_instances(1))).await;
    h.scheduler.run_job_now("tick").await.unwrap();
    tokio::time::sleep(ms(1_600)).await; // 2.3 s
    assert_eq!(
        ran(&seen),
        vec![at_ms(700), after(T0, 1), after(T0, 2)],
        "run now ran at once; the 1 s run (after it ended at 0.9 s) too"
    );
    let events = h.drain();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::JobMaxInstances(_))),
        "nothing skipped for max_instances"
    );
    assert_eq!(executed(&events, "tick").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn pausing_the_scheduler_inside_the_window_holds_the_run_claimed_ahead() {
    let (_h, seen) =
        ticking(|spec| spec.options(JobOptions::default().misfire_grace_time(secs(5)))).await;
    _h.scheduler.pause();
    tokio::time::sleep(ms(800)).await; // 1.5 s
    assert!(ran(&seen).is_empty(), "no run starts while paused");
    _h.scheduler.resume();
    tokio::time::sleep(ms(100)).await; // 1.6 s
    assert_eq!(
        ran(&seen),
        vec![after(T0, 1)],
        "resumed: the 1 s run, late within its grace, runs once"
    );
    tokio::time::sleep(ms(1_000)).await; // 2.6 s
    assert_eq!(ran(&seen), vec![after(T0, 1), after(T0, 2)]);
}

#[tokio::test(start_paused = true)]
async fn a_one_off_job_is_claimed_when_due_so_its_removal_still_counts() {
    let h = harness(|b| b.claim_ahead(AHEAD));
    let runs = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&runs);
    h.scheduler
        .add_job(JobSpec::date(after(T0, 1)).id("once"), move || {
            let count = Arc::clone(&count);
            async move {
                *count.lock().unwrap() += 1;
            }
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    tokio::time::sleep(ms(800)).await;
    // Inside the window, the job is still there to remove.
    h.scheduler.remove_job("once").await.unwrap();
    tokio::time::sleep(ms(1_000)).await;
    assert_eq!(*runs.lock().unwrap(), 0);
}

/// Without changes, runs claimed ahead each run once, on time, for many seconds (the
/// occurrence given back and the one claimed again never both run).
#[tokio::test(start_paused = true)]
async fn changes_every_few_runs_never_double_or_drop_a_run() {
    let (mut h, seen) = ticking(|spec| spec).await;
    for round in 0..10u32 {
        // Changed at x.7 s each time, with its 1 s run claimed ahead.
        h.scheduler
            .modify_job("tick", |job| {
                *job = job.clone().args(&(round + 10)).unwrap()
            })
            .await
            .unwrap();
        tokio::time::sleep(secs(1)).await;
    }
    let runs = seen.lock().unwrap().clone();
    let expected: Vec<(DateTime<Utc>, u32)> = (0..10u32)
        .map(|n| (after(T0, i64::from(n) + 1), n + 10))
        .collect();
    assert_eq!(
        runs, expected,
        "each second once, with the args set before it"
    );
    assert!(!h
        .drain()
        .iter()
        .any(|e| matches!(e, Event::JobMissed(_) | Event::JobMaxInstances(_))));
}

/// A run claimed ahead and cancelled before its time never runs its job: it is
/// recorded cancelled, and the job's next runs go on.
#[tokio::test(start_paused = true)]
async fn a_run_claimed_ahead_and_cancelled_before_its_time_never_starts() {
    let (mut h, seen) = ticking(|spec| spec).await;
    assert_eq!(
        h.scheduler.cancel_job("tick").await.unwrap(),
        1,
        "the 1 s run, claimed ahead, is asked to stop"
    );
    tokio::time::sleep(ms(800)).await; // 1.5 s
    assert!(ran(&seen).is_empty(), "cancelled before its time: not run");
    let events = h.drain();
    assert!(
        submitted(&events, "tick").is_empty(),
        "never submitted: {events:?}"
    );
    let cancelled: Vec<DateTime<Utc>> = events
        .iter()
        .filter_map(|e| match e {
            Event::JobError(run) if run.status == sched_core::store::RunStatus::Cancelled => {
                Some(run.scheduled)
            }
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec![after(T0, 1)], "reported cancelled, once");
    tokio::time::sleep(ms(1_000)).await; // 2.5 s
    assert_eq!(ran(&seen), vec![after(T0, 2)], "the next run goes on");
}

/// Runs claimed ahead in one claim, due at instants a few milliseconds apart, each
/// start at their own time (never early, never held for a later one's).
#[tokio::test(start_paused = true)]
async fn runs_claimed_ahead_together_each_start_at_their_own_time() {
    let mut h = harness(|b| b.claim_ahead(AHEAD));
    let seen = Arc::new(Mutex::new(Vec::new()));
    for n in 0..200i64 {
        let log = Arc::clone(&seen);
        let clock = h.clock.clone();
        let spec = JobSpec::interval(secs(1))
            .id(format!("j{n:03}"))
            .start(at_ms(1_000 + n * 2));
        h.scheduler
            .add_job(spec, move |ctx: JobContext| {
                let log = Arc::clone(&log);
                let now = clock.now();
                async move {
                    log.lock().unwrap().push((ctx.scheduled, now));
                }
            })
            .await
            .unwrap();
    }
    h.scheduler.start().await.unwrap();
    tokio::time::sleep(ms(1_600)).await; // 1.6 s
    let runs = seen.lock().unwrap().clone();
    assert_eq!(runs.len(), 200, "each first run, once");
    for (scheduled, started) in &runs {
        assert!(started >= scheduled, "early: {scheduled} at {started}");
        assert!(
            *started - *scheduled <= chrono::Duration::milliseconds(1),
            "late: {scheduled} at {started}"
        );
    }
    let events = h.drain();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::JobMissed(_) | Event::JobMaxInstances(_))));
}

/// A run claimed ahead and given back leaves the runs in flight at once, not at its
/// time: nothing counts it as running here (a cancel, a shutdown that reports what it
/// had to stop).
#[tokio::test(start_paused = true)]
async fn a_run_given_back_is_no_longer_in_flight() {
    let (mut h, seen) = ticking(|spec| spec).await;
    h.scheduler.pause_job("tick").await.unwrap();
    assert_eq!(
        h.scheduler.cancel_job("tick").await.unwrap(),
        0,
        "the 1 s run was given back: nothing of the job runs"
    );
    h.drain();
    h.scheduler.shutdown_now().await.unwrap();
    let events = h.drain();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::JobError(_) | Event::StoreError { .. })),
        "nothing cancelled at shutdown, no store error: {events:?}"
    );
    tokio::time::sleep(ms(800)).await; // past the 1 s run's time
    assert!(ran(&seen).is_empty(), "given back: never run");
}
