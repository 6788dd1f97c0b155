//! A node killed (SIGKILL, a real process) during a retry backoff: the pending retry is
//! stored, so another node runs it — once, as the next attempt of the same occurrence.
//!
//! Needs `DATABASE_URL`; without it the test says loudly that it was skipped.

#![allow(missing_docs, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use sched_store_sqlx::PostgresStore;
use sched_test_support::{database_url, drop_schema, poll_until, unique_schema};
use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::{RunRecord, RunStatus};

fn node(url: &str, schema: &str, id: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_retry_node"))
        .args([schema, id])
        .env("DATABASE_URL", url)
        .stdout(Stdio::null())
        .spawn()
        .expect("the retry node starts")
}

/// Reads the job's history until `done` holds of it (at most `limit`).
async fn history_until(
    store: &PostgresStore,
    limit: Duration,
    done: impl Fn(&Vec<RunRecord>) -> bool,
) -> Vec<RunRecord> {
    let read = || async { store.run_history(Some("flaky"), 20).await.expect("history") };
    poll_until(limit, read, done).await
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_retry_backoff_leaves_the_retry_to_another_node() {
    let url = database_url("a_node_killed_during_a_retry_backoff_leaves_the_retry_to_another_node");
    let schema = unique_schema("retry_kill");
    let store = PostgresStore::builder()
        .schema(&schema)
        .listen(false)
        .connect(&url)
        .await
        .expect("store");
    // Due at once; its first attempt fails, the retry waits 4 s.
    let policy = RetryPolicy::new(3).fixed(Duration::from_secs(4));
    let job = Job::new("flaky", "flaky", Trigger::date(Utc::now()))
        .options(JobOptions::default().retry(policy))
        .schedule(Utc::now())
        .expect("valid job");
    store.add_job(job, false).await.expect("added");

    let mut a = node(&url, &schema, "node-a");
    let pending = history_until(&store, Duration::from_secs(20), |runs| {
        runs.iter().any(|r| r.status == RunStatus::Retrying)
    })
    .await;
    // Killed in the backoff: attempt 1 failed, attempt 2 pending, not started.
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    let first = pending.iter().find(|r| r.attempt == 1).expect("attempt 1");
    assert_eq!(
        (first.status, first.node.as_str()),
        (RunStatus::Error, "node-a")
    );
    let retry = pending
        .iter()
        .find(|r| r.status == RunStatus::Retrying)
        .expect("a pending retry");
    assert_eq!(retry.attempt, 2);
    assert!(
        retry.started > Utc::now() - chrono::Duration::seconds(1),
        "still in its backoff when node-a died (due {})",
        retry.started
    );

    let mut b = node(&url, &schema, "node-b");
    history_until(&store, Duration::from_secs(30), |runs| {
        runs.iter()
            .any(|r| r.attempt == 2 && r.status == RunStatus::Success)
    })
    .await;
    // Once its last attempt ended the one-off job is removed: nothing more can run.
    let removed = poll_until(
        Duration::from_secs(30),
        || async { store.get_job("flaky").await.is_err() },
        |gone| *gone,
    )
    .await;
    assert!(removed, "the one-off job is removed after its last attempt");
    let runs = store.run_history(Some("flaky"), 20).await.expect("history");
    b.kill().expect("SIGKILL");
    b.wait().expect("reaped");
    let mut seen: Vec<(u32, RunStatus, String)> = runs
        .iter()
        .map(|r| (r.attempt, r.status, r.node.clone()))
        .collect();
    seen.sort_by_key(|(attempt, _, _)| *attempt);
    assert_eq!(
        seen,
        vec![
            (1, RunStatus::Error, "node-a".to_owned()),
            (2, RunStatus::Success, "node-b".to_owned()),
        ],
        "each attempt once: the retry node-a left ran on node-b"
    );
    assert!(
        runs.iter().all(|r| r.scheduled == first.scheduled),
        "one occurrence"
    );
    assert!(
        matches!(
            store.get_job("flaky").await,
            Err(sched_tokio::sched_core::Error::JobNotFound(_))
        ),
        "the one-off job is gone after its last attempt"
    );
    drop(store);
    drop_schema(&url, &schema).await;
}
