//! Backfill: the occurrences of a past window run now, in order, once each, as many
//! at once as the job has instances; late on purpose (no misfire grace). On Tokio's
//! paused clock, `MemoryStore` (the stores' side is a contract check; SQLite and
//! Postgres in the scenario tests).

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;
use sched_tokio::{Backfill, SkipEvent};

use crate::scheduler::{after, harness, secs, sleep, submitted, T0};

fn t(seconds: i64) -> DateTime<Utc> {
    after(T0, seconds)
}

#[tokio::test(start_paused = true)]
async fn a_past_window_runs_in_order_one_at_a_time_however_late() {
    let mut h = harness(|b| b);
    // Every 100 s since T0 - 1000 s; each run takes 10 s; a 1 s grace that every
    // backfilled occurrence is far past.
    let options = JobOptions::default().misfire_grace_time(secs(1));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(100))
                .id("rollup")
                .start(t(-1000))
                .options(options),
            || async { tokio::time::sleep(secs(10)).await },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(1).await; // the T0 occurrence ran (ends at +10)
    sleep(10).await;
    let report = h
        .scheduler
        .backfill("rollup", t(-350), t(-100))
        .await
        .unwrap();
    let times: Vec<DateTime<Utc>> = report.started.iter().map(|(_, at)| *at).collect();
    assert_eq!(times, vec![t(-300), t(-200), t(-100)]);
    assert!(report.passed_over.is_empty());
    sleep(60).await;
    let events = h.drain();
    let runs: Vec<_> = submitted(&events, "rollup")
        .into_iter()
        .filter(|(scheduled, _)| *scheduled < t(0))
        .collect();
    assert_eq!(
        runs,
        vec![(t(-300), t(11)), (t(-200), t(21)), (t(-100), t(31))],
        "in order, each when the one before ended (max_instances 1), never missed"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::JobMissed(_))),
        "no misfire grace for a backfill"
    );
    // Backfilled once: the same window again passes over every occurrence.
    let again = h
        .scheduler
        .backfill("rollup", t(-350), t(-100))
        .await
        .unwrap();
    assert!(again.started.is_empty());
    assert_eq!(again.passed_over, vec![t(-300), t(-200), t(-100)]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_due_during_a_backfill_meets_the_jobs_overlap_policy() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(100)).id("sync").start(t(-1000)),
            || async { tokio::time::sleep(secs(40)).await },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(50).await; // T0's run ended at +40
                     // Two occurrences: +50 to +90 and +90 to +130; +100 falls due meanwhile.
    let report = h
        .scheduler
        .backfill("sync", t(-200), t(-100))
        .await
        .unwrap();
    assert_eq!(report.started.len(), 2);
    sleep(100).await;
    let events = h.drain();
    let skipped: Vec<DateTime<Utc>> = events
        .iter()
        .filter_map(|e| match e {
            Event::JobMaxInstances(SkipEvent { runs, .. }) => Some(runs.first),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![t(100)], "skipped, as at any limit (Skip)");
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_window_in_the_future_backwards_or_too_long_is_refused() {
    let h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(1))
                .id("tick")
                .start(t(-10_000))
                .paused(true),
            || async {},
        )
        .await
        .unwrap();
    assert!(matches!(
        h.scheduler.backfill("tick", t(-10), t(-5)).await,
        Err(sched_tokio::Error::NotRunning)
    ));
    h.scheduler.start().await.unwrap();
    let message =
        |result: Result<Backfill, sched_tokio::Error>| result.expect_err("refused").to_string();
    let future = message(h.scheduler.backfill("tick", t(-10), t(10)).await);
    assert!(future.contains("must end by now"), "{future}");
    let backwards = message(h.scheduler.backfill("tick", t(-5), t(-10)).await);
    assert!(backwards.contains("ends before it starts"), "{backwards}");
    let long = message(h.scheduler.backfill("tick", t(-5000), t(0)).await);
    assert!(long.contains("more than 1000 occurrences"), "{long}");
    let unknown = h.scheduler.backfill("nope", t(-10), t(-5)).await;
    assert!(matches!(
        unknown,
        Err(sched_tokio::Error::Core(
            sched_tokio::sched_core::Error::JobNotFound(_)
        ))
    ));
    h.scheduler.shutdown().await.unwrap();
}
