//! Declared job sets through the scheduler: `sync_jobs` as a deploy calls it. On
//! Tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sched_tokio::prelude::*;
use sched_tokio::sched_core;
use sched_tokio::Error;

use crate::scheduler::{after, executed, harness, secs, sleep, T0};

#[tokio::test(start_paused = true)]
async fn a_deploy_that_drops_a_job_removes_it_and_keeps_the_others_schedules() {
    let mut h = harness(|b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    h.scheduler.register_task("report", move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async {}
    });
    h.scheduler
        .add_named_job(JobSpec::interval(secs(60)).id("by-hand"), "report")
        .await
        .unwrap();
    let first = h
        .scheduler
        .sync_jobs(
            "deploy",
            [
                (JobSpec::interval(secs(10)).id("fast"), "report"),
                (JobSpec::interval(secs(30)).id("slow"), "report"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(first.added, ["fast", "slow"]);
    h.scheduler.start().await.unwrap();
    sleep(25).await;
    assert_eq!(
        executed(&h.drain(), "fast"),
        vec![after(T0, 10), after(T0, 20)]
    );

    // The next deploy drops "fast" and declares "slow" as it was: its schedule stays.
    let second = h
        .scheduler
        .sync_jobs(
            "deploy",
            [(JobSpec::interval(secs(30)).id("slow"), "report")],
        )
        .await
        .unwrap();
    assert_eq!(
        (second.removed.len(), second.unchanged.len()),
        (1, 1),
        "{second:?}"
    );
    assert!(matches!(
        h.scheduler.get_job("fast").await,
        Err(Error::Core(sched_core::Error::JobNotFound(_)))
    ));
    assert_eq!(
        h.scheduler.get_job("slow").await.unwrap().next_run_time,
        Some(after(T0, 30)),
        "an unchanged trigger keeps its schedule"
    );
    sleep(40).await;
    let events = h.drain();
    assert!(
        executed(&events, "fast").is_empty(),
        "a dropped job never runs again"
    );
    assert_eq!(
        executed(&events, "slow"),
        vec![after(T0, 30), after(T0, 60)]
    );
    assert_eq!(
        executed(&events, "by-hand"),
        vec![after(T0, 60)],
        "a job outside the set is untouched"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_declaration_the_scheduler_cannot_take_changes_nothing() {
    let h = harness(|b| b);
    h.scheduler.register_task("report", || async {});
    h.scheduler
        .sync_jobs(
            "deploy",
            [(JobSpec::interval(secs(10)).id("kept"), "report")],
        )
        .await
        .unwrap();
    let unknown = h
        .scheduler
        .sync_jobs(
            "deploy",
            [
                (JobSpec::interval(secs(10)).id("kept"), "report"),
                (JobSpec::interval(secs(10)).id("new"), "not_registered"),
            ],
        )
        .await;
    assert!(matches!(unknown, Err(Error::UnknownTask(task)) if task == "not_registered"));
    let anonymous = h
        .scheduler
        .sync_jobs("deploy", [(JobSpec::interval(secs(10)), "report")])
        .await;
    assert!(
        matches!(
            anonymous,
            Err(Error::Core(sched_core::Error::InvalidConfiguration {
                setting: "sync_jobs",
                ..
            }))
        ),
        "{anonymous:?}"
    );
    let jobs: Vec<String> = h
        .scheduler
        .get_jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id.to_string())
        .collect();
    assert_eq!(jobs, ["kept"], "nothing changed");
}
