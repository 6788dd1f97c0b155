//! Retries: a failed run is tried again as the same occurrence, after its backoff, with
//! its attempt number; the schedule does not move. On Tokio's paused clock,
//! `MemoryStore` (the stores' side is in the contract checks).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;
use sched_tokio::{JobContext, RetryEvent};

use crate::scheduler::{after, errors, executed, harness, secs, sleep, T0};

fn t(seconds: i64) -> DateTime<Utc> {
    after(T0, seconds)
}

/// `(attempt, retry_at)` of each `JobRetrying` of `job`.
fn retrying(events: &[Event], job: &str) -> Vec<(u32, DateTime<Utc>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobRetrying(RetryEvent {
                job_id,
                attempt,
                retry_at,
                ..
            }) if &**job_id == job => Some((*attempt, *retry_at)),
            _ => None,
        })
        .collect()
}

type Seen = Arc<Mutex<Vec<(DateTime<Utc>, u32, DateTime<Utc>)>>>;

#[tokio::test(start_paused = true)]
async fn a_failed_run_is_retried_as_the_same_occurrence_after_its_backoff() {
    let mut h = harness(|b| b);
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let clock = h.clock.clone();
    let policy = RetryPolicy::new(3)
        .backoff(secs(2), 2.0, secs(60))
        .jitter(0.0);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("upload")
                .options(JobOptions::default().retry(policy)),
            move |ctx: JobContext| {
                let (record, now) = (Arc::clone(&record), clock.now());
                async move {
                    record
                        .lock()
                        .unwrap()
                        .push((ctx.scheduled, ctx.attempt(), now));
                    // The first occurrence fails twice, then goes through.
                    if ctx.scheduled == t(60) && ctx.attempt() < 3 {
                        return Err(format!("attempt {} failed", ctx.attempt()));
                    }
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(125).await;
    let events = h.drain();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (t(60), 1, t(60)),
            (t(60), 2, t(62)),
            (t(60), 3, t(66)),
            (t(120), 1, t(120)),
        ],
        "attempts 2 and 3 of the +60 occurrence after 2 s then 4 s; +120 on time"
    );
    assert_eq!(retrying(&events, "upload"), vec![(1, t(62)), (2, t(66))]);
    assert_eq!(
        errors(&events, "upload"),
        vec!["attempt 1 failed", "attempt 2 failed"]
    );
    assert_eq!(
        executed(&events, "upload"),
        vec![t(60), t(120)],
        "each occurrence succeeded once, under its own scheduled time"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn attempts_stop_at_the_limit_and_only_the_chosen_outcomes_retry() {
    let mut h = harness(|b| b);
    let fixed = RetryPolicy::new(2).fixed(secs(1));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("always_fails")
                .options(JobOptions::default().retry(fixed)),
            || async { Err::<(), _>("down") },
        )
        .await
        .unwrap();
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("panics")
                .options(JobOptions::default().retry(fixed.on_panic(false))),
            || async {
                if true {
                    panic!("bug");
                }
            },
        )
        .await
        .unwrap();
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("hangs")
                .options(JobOptions::default().timeout(secs(5)).retry(fixed)),
            std::future::pending::<()>,
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(80).await;
    let events = h.drain();
    assert_eq!(
        retrying(&events, "always_fails"),
        vec![(1, t(61))],
        "two attempts in all: one retry"
    );
    assert_eq!(errors(&events, "always_fails"), vec!["down"; 2]);
    assert!(
        retrying(&events, "panics").is_empty(),
        "a panic is not retried when on_panic is off"
    );
    assert_eq!(
        retrying(&events, "hangs"),
        vec![(1, t(66))],
        "a timeout retries by default"
    );
    assert_eq!(errors(&events, "hangs"), vec!["timed out"; 2]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_one_off_job_is_retried_and_removed_after_its_last_attempt() {
    let mut h = harness(|b| b);
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&attempts);
    h.scheduler
        .add_job(
            JobSpec::date(t(10))
                .id("once")
                .options(JobOptions::default().retry(RetryPolicy::new(3).fixed(secs(5)))),
            move |ctx: JobContext| {
                let record = Arc::clone(&record);
                async move {
                    record.lock().unwrap().push(ctx.attempt());
                    if ctx.attempt() < 2 {
                        return Err("not yet".to_owned());
                    }
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(12).await;
    assert!(
        h.scheduler.get_job("once").await.is_ok(),
        "kept while its retry is pending"
    );
    sleep(10).await;
    assert_eq!(*attempts.lock().unwrap(), vec![1, 2]);
    assert!(
        matches!(
            h.scheduler.get_job("once").await,
            Err(sched_tokio::Error::Core(sched_core::Error::JobNotFound(_)))
        ),
        "gone once its last attempt ended"
    );
    let events = h.drain();
    assert_eq!(executed(&events, "once"), vec![t(10)]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_retry_due_while_its_job_is_at_its_limit_starts_when_the_running_run_ends() {
    let h = harness(|b| b);
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let clock = h.clock.clone();
    // Every 10 s, one instance; the +10 occurrence fails at once and retries after 12 s
    // (due +22), while the +20 one runs until +26.
    let policy = RetryPolicy::new(2).fixed(secs(12));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10))
                .id("sync")
                .options(JobOptions::default().retry(policy)),
            move |ctx: JobContext| {
                let (record, now) = (Arc::clone(&record), clock.now());
                async move {
                    record
                        .lock()
                        .unwrap()
                        .push((ctx.scheduled, ctx.attempt(), now));
                    if ctx.scheduled == t(10) && ctx.attempt() == 1 {
                        return Err("flaky".to_owned());
                    }
                    tokio::time::sleep(secs(6)).await;
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(29).await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(t(10), 1, t(10)), (t(20), 1, t(20)), (t(10), 2, t(26))],
        "the retry due at +22 waited for the +20 run's instance"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_retry_is_not_missed_for_a_grace_shorter_than_its_backoff() {
    let mut h = harness(|b| b);
    // A 1 s grace, a 30 s backoff: the retry starts 30 s after its occurrence's time,
    // yet it was on time when its first attempt began.
    let options = JobOptions::default()
        .misfire_grace_time(secs(1))
        .retry(RetryPolicy::new(2).fixed(secs(30)));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(3600)).id("sync").options(options),
            |ctx: JobContext| async move {
                if ctx.attempt() == 1 {
                    return Err("down".to_owned());
                }
                Ok(())
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(3600 + 31).await;
    let events = h.drain();
    assert_eq!(executed(&events, "sync"), vec![t(3600)], "attempt 2 ran");
    assert!(!events.iter().any(|e| matches!(e, Event::JobMissed(_))));
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_one_off_job_is_reported_removed_after_its_last_attempt() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::date(t(5))
                .id("once")
                .options(JobOptions::default().retry(RetryPolicy::new(2).fixed(secs(5)))),
            || async { Err::<(), _>("always") },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(20).await;
    let events = h.drain();
    let removed = events
        .iter()
        .filter(|e| matches!(e, Event::JobRemoved(job) if &*job.job_id == "once"))
        .count();
    assert_eq!(removed, 1, "JobRemoved once, after attempt 2: {events:?}");
    assert_eq!(errors(&events, "once").len(), 2);
    assert!(h.scheduler.get_jobs().await.unwrap().is_empty());
    h.scheduler.shutdown().await.unwrap();
}
