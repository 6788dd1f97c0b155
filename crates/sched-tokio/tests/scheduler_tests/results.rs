//! Results: a task's `Ok` value is the run's result — carried by `JobExecuted`,
//! bounded, and returned by `run_job_now_and_wait`. On Tokio's paused clock,
//! `MemoryStore` (the stores keep it in their history: the contract checks, and the
//! scenario tests on SQLite and Postgres).

use std::collections::BTreeMap;

use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::RunStatus;
use sched_tokio::RunEvent;
use serde::{Deserialize, Serialize};

use crate::scheduler::{errors, harness, secs, sleep};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Summary {
    rows: u64,
    source: String,
}

/// The results `JobExecuted` carried for `job`.
fn results(events: &[Event], job: &str) -> Vec<Option<String>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobExecuted(RunEvent { job_id, result, .. }) if &**job_id == job => {
                Some(result.as_deref().map(str::to_owned))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_returned_value_is_the_runs_result_and_unit_is_none() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("import"), || async {
            Ok::<_, String>(Summary {
                rows: 1_200,
                source: "s3://bucket/<today>".into(),
            })
        })
        .await
        .unwrap();
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("plain"), || async {
            Ok::<(), String>(())
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(15).await;
    let events = h.drain();
    let text = r#"{"rows":1200,"source":"s3://bucket/<today>"}"#;
    assert_eq!(results(&events, "import"), vec![Some(text.to_owned())]);
    assert_eq!(results(&events, "plain"), vec![None], "() is no result");
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_result_longer_than_the_limit_fails_the_run_and_is_not_retried() {
    let mut h = harness(|b| b.max_result_bytes(64));
    let retry = RetryPolicy::new(3).fixed(secs(1));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10))
                .id("huge")
                .options(JobOptions::default().retry(retry)),
            || async { Ok::<_, String>("x".repeat(100)) },
        )
        .await
        .unwrap();
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("odd_map"), || async {
            // Map keys must be strings in JSON: this one cannot be serialised.
            let mut map = BTreeMap::new();
            map.insert(vec![1u8], 1u8);
            Ok::<_, String>(map)
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(15).await;
    let events = h.drain();
    let huge = errors(&events, "huge");
    assert_eq!(huge.len(), 1, "failed once, not retried: {huge:?}");
    assert!(
        huge[0].contains("102 bytes of JSON, more than the 64 kept"),
        "{huge:?}"
    );
    assert!(results(&events, "huge").is_empty());
    assert!(!events.iter().any(|e| matches!(e, Event::JobRetrying(_))));
    let odd = errors(&events, "odd_map");
    assert_eq!(odd.len(), 1);
    assert!(
        odd[0].starts_with("the run's result cannot be serialised"),
        "{odd:?}"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn run_job_now_and_wait_returns_the_finished_run_with_its_result() {
    let h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(3600)).id("report"), || async {
            tokio::time::sleep(secs(2)).await;
            Ok::<_, String>(Summary {
                rows: 7,
                source: "db".into(),
            })
        })
        .await
        .unwrap();
    h.scheduler
        .add_job(JobSpec::interval(secs(3600)).id("broken"), || async {
            Err::<(), _>("no such table")
        })
        .await
        .unwrap();
    assert!(
        matches!(
            h.scheduler.run_job_now_and_wait("report").await,
            Err(sched_tokio::Error::NotRunning)
        ),
        "before start"
    );
    h.scheduler.start().await.unwrap();
    let run = h.scheduler.run_job_now_and_wait("report").await.unwrap();
    assert_eq!(run.status, RunStatus::Success);
    assert_eq!(
        run.result_as::<Summary>().unwrap(),
        Some(Summary {
            rows: 7,
            source: "db".into()
        })
    );
    assert_eq!(run.attempt, 1);
    assert_eq!(
        run.finished.map(|end| end - run.started),
        Some(chrono::Duration::seconds(2)),
        "it waited for the end"
    );
    let failed = h.scheduler.run_job_now_and_wait("broken").await.unwrap();
    assert_eq!(failed.status, RunStatus::Error);
    assert_eq!(failed.error.as_deref(), Some("no such table"));
    assert_eq!(failed.result, None);
    assert!(matches!(
        h.scheduler.run_job_now_and_wait("nope").await,
        Err(sched_tokio::Error::Core(
            sched_tokio::sched_core::Error::JobNotFound(_)
        ))
    ));
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn run_job_now_and_wait_on_a_job_at_its_limit_says_it_did_not_start() {
    let h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("busy"), || async {
            tokio::time::sleep(secs(5)).await;
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    let refused = h.scheduler.run_job_now_and_wait("busy").await;
    assert!(
        matches!(&refused, Err(sched_tokio::Error::RunNotStarted { job_id, .. }) if job_id == "busy"),
        "{refused:?}"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn run_job_now_and_wait_learns_of_a_run_aborted_at_shutdown() {
    let h = harness(|b| b.shutdown_timeout(secs(1)));
    h.scheduler
        .add_job(JobSpec::interval(secs(3600)).id("forever"), || async {
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    let scheduler = h.scheduler.clone();
    let waiting = tokio::spawn(async move { scheduler.run_job_now_and_wait("forever").await });
    sleep(1).await;
    let _ = h.scheduler.shutdown().await; // times out, aborts the run
    let run = waiting.await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Cancelled, "{run:?}");
}
