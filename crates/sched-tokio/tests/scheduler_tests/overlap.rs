//! Overlap policies: what a run that comes due does while its job is at
//! `max_instances` — skipped, kept to run once more, started in place of the running
//! one, or overlapping up to the limit. On Tokio's paused clock, `MemoryStore`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;
use sched_tokio::{CancelReason, JobContext, SkipEvent};

use crate::scheduler::{after, errors, executed, harness, secs, sleep, submitted, Harness, T0};

/// The scheduled times `job` skipped at its limit.
fn at_limit(events: &[Event], job: &str) -> Vec<DateTime<Utc>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobMaxInstances(SkipEvent { job_id, runs, .. }) if &**job_id == job => {
                Some(runs.first)
            }
            _ => None,
        })
        .collect()
}

fn t(seconds: i64) -> DateTime<Utc> {
    after(T0, seconds)
}

/// A job every 10 s whose runs take `busy` seconds.
async fn slow(h: &Harness, id: &str, busy: u64, options: JobOptions) {
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10)).id(id).options(options),
            move || async move { tokio::time::sleep(secs(busy)).await },
        )
        .await
        .expect("job added");
}

#[tokio::test(start_paused = true)]
async fn skip_is_the_default_a_run_due_at_the_limit_is_skipped_and_reported() {
    let mut h = harness(|b| b);
    slow(&h, "sync", 25, JobOptions::default()).await;
    h.scheduler.start().await.unwrap();
    sleep(45).await;
    let events = h.drain();
    let starts: Vec<_> = submitted(&events, "sync")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        starts,
        vec![t(10), t(40)],
        "+20 and +30 fell due while +10 ran"
    );
    assert_eq!(at_limit(&events, "sync"), vec![t(20), t(30)]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn queue_one_runs_once_more_as_soon_as_the_running_run_ends() {
    let mut h = harness(|b| b);
    slow(
        &h,
        "sync",
        25,
        JobOptions::default().overlap(Overlap::QueueOne),
    )
    .await;
    h.scheduler.start().await.unwrap();
    sleep(36).await;
    let events = h.drain();
    let runs = submitted(&events, "sync");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].0, t(10));
    // +20 waited for the instance and started when +10 ended (at +35), as itself.
    assert_eq!(runs[1].0, t(20), "the waiting run keeps its scheduled time");
    let waited = (runs[1].1 - t(35)).num_milliseconds();
    assert!(
        (0..=20).contains(&waited),
        "started {waited} ms after the end"
    );
    assert_eq!(executed(&events, "sync"), vec![t(10)]);
    assert_eq!(at_limit(&events, "sync"), vec![t(30)], "one waits at most");
    // +40 waits behind +20 (running until +60), +50 is skipped, +40 starts at +60.
    sleep(25).await;
    let events = h.drain();
    let runs: Vec<_> = submitted(&events, "sync")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(runs, vec![t(40)]);
    assert_eq!(at_limit(&events, "sync"), vec![t(50)]);
    assert_eq!(h.scheduler.stats().running, 1, "never two at once");
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_waiting_run_is_dropped_when_its_job_is_paused() {
    let mut h = harness(|b| b);
    slow(
        &h,
        "sync",
        25,
        JobOptions::default().overlap(Overlap::QueueOne),
    )
    .await;
    h.scheduler.start().await.unwrap();
    sleep(21).await; // +10 runs, +20 waits
    h.scheduler.pause_job("sync").await.unwrap();
    sleep(20).await; // +10 ends at +35: nothing starts
    let events = h.drain();
    assert_eq!(submitted(&events, "sync").len(), 1);
    assert_eq!(h.scheduler.stats().running, 0);
    h.scheduler.resume_job("sync").await.unwrap();
    sleep(10).await;
    let events = h.drain();
    let runs: Vec<_> = submitted(&events, "sync")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        runs,
        vec![t(50)],
        "resumed: the schedule from now, nothing left waiting"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancel_previous_stops_the_running_run_and_starts_the_new_one() {
    let mut h = harness(|b| b);
    let seen: Arc<Mutex<Vec<Option<CancelReason>>>> = Arc::default();
    let record = Arc::clone(&seen);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10))
                .id("render")
                .options(JobOptions::default().overlap(Overlap::CancelPrevious)),
            move |ctx: JobContext| {
                let record = Arc::clone(&record);
                async move {
                    // Renders until a newer run supersedes it.
                    ctx.cancelled().await;
                    record
                        .lock()
                        .expect("not poisoned")
                        .push(ctx.cancel_reason());
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    assert_eq!(submitted(&h.drain(), "render").len(), 1);
    sleep(10).await; // +20 falls due: +10 is asked to stop, +20 starts once it has
    let events = h.drain();
    assert_eq!(errors(&events, "render"), vec!["cancelled"]);
    let runs = submitted(&events, "render");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, t(20));
    let waited = (runs[0].1 - t(20)).num_milliseconds();
    assert!(
        (0..=30).contains(&waited),
        "started {waited} ms after it fell due"
    );
    assert!(at_limit(&events, "render").is_empty(), "nothing skipped");
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        vec![Some(CancelReason::Requested)]
    );
    assert_eq!(h.scheduler.stats().running, 1);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancel_previous_drops_a_run_that_never_looked_at_its_token() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10))
                .id("stuck")
                .options(JobOptions::default().overlap(Overlap::CancelPrevious)),
            std::future::pending::<()>,
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(21).await;
    let events = h.drain();
    let runs: Vec<_> = submitted(&events, "stuck")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(runs, vec![t(10), t(20)]);
    assert_eq!(errors(&events, "stuck"), vec!["cancelled"]);
    assert_eq!(h.scheduler.stats().running, 1, "only the newest runs");
    assert!(
        matches!(
            h.scheduler.shutdown().await,
            Err(sched_tokio::Error::ShutdownTimedOut(1))
        ),
        "the newest never ends by itself"
    );
}

#[tokio::test(start_paused = true)]
async fn allow_overlaps_runs_up_to_max_instances() {
    let mut h = harness(|b| b);
    let options = JobOptions::default()
        .overlap(Overlap::Allow)
        .max_instances(2);
    slow(&h, "report", 25, options).await;
    h.scheduler.start().await.unwrap();
    sleep(31).await;
    let events = h.drain();
    let runs: Vec<_> = submitted(&events, "report")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(runs, vec![t(10), t(20)], "two at once");
    assert_eq!(
        at_limit(&events, "report"),
        vec![t(30)],
        "a third is skipped"
    );
    assert_eq!(h.scheduler.stats().running, 2);
    sleep(10).await; // +10 ended at +35: +40 starts beside +20
    let runs: Vec<_> = submitted(&h.drain(), "report")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(runs, vec![t(40)]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_policy_round_trips_by_name() {
    for policy in [
        Overlap::Skip,
        Overlap::QueueOne,
        Overlap::CancelPrevious,
        Overlap::Allow,
    ] {
        assert_eq!(policy.to_string().parse::<Overlap>().unwrap(), policy);
        let json = serde_json::to_value(policy).unwrap();
        assert_eq!(json, serde_json::json!(policy.as_str()));
    }
    let error = "queue".parse::<Overlap>().unwrap_err().to_string();
    assert!(error.contains("queue_one"), "{error}");
    assert_eq!(JobOptions::default().overlap, Overlap::Skip);
}
