//! Results and retries end to end on each store: `run_job_now_and_wait` returns the run
//! with its result; a store that keeps history (SQLite, Postgres) shows the result and
//! every attempt of a retried occurrence.
//!
//! The Postgres case needs `DATABASE_URL`; without it, it says loudly that it was
//! skipped.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use sched_store_sqlx::{PostgresStore, SqliteStore};
use sched_test_support::{database_url, drop_schema, poll_until, unique_schema};
use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::RunStatus;
use sched_tokio::JobContext;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Summary {
    rows: u64,
}

/// Runs the checks on a scheduler over `store`.
async fn results_and_attempts(store: Arc<dyn JobStore>) {
    let scheduler = Scheduler::builder()
        .store(Arc::clone(&store))
        .build()
        .unwrap();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(3600)).id("count"),
            || async { Ok::<_, String>(Summary { rows: 42 }) },
        )
        .await
        .unwrap();
    let retry = RetryPolicy::new(3).fixed(Duration::from_millis(100));
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(3600))
                .id("flaky")
                .options(JobOptions::default().retry(retry)),
            |ctx: JobContext| async move {
                if ctx.attempt() < 3 {
                    return Err(format!("attempt {} failed", ctx.attempt()));
                }
                Ok(Summary {
                    rows: u64::from(ctx.attempt()),
                })
            },
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let run = scheduler.run_job_now_and_wait("count").await.unwrap();
    assert_eq!(run.status, RunStatus::Success);
    assert_eq!(
        run.result_as::<Summary>().unwrap(),
        Some(Summary { rows: 42 })
    );
    let first = scheduler.run_job_now_and_wait("flaky").await.unwrap();
    assert_eq!((first.status, first.attempt), (RunStatus::Error, 1));
    if store.keeps_history() {
        let history = |job: &'static str| {
            let store = Arc::clone(&store);
            async move { store.run_history(Some(job), 10).await.unwrap() }
        };
        let count = poll_until(
            Duration::from_secs(20),
            || history("count"),
            |runs| runs.first().is_some_and(|r| r.status == RunStatus::Success),
        )
        .await;
        assert_eq!(count[0].result.as_deref(), Some(r#"{"rows":42}"#));
        let flaky = poll_until(
            Duration::from_secs(20),
            || history("flaky"),
            |runs| {
                runs.iter()
                    .any(|r| r.attempt == 3 && r.status == RunStatus::Success)
            },
        )
        .await;
        let attempts: Vec<(u32, RunStatus, Option<&str>)> = flaky
            .iter()
            .map(|r| (r.attempt, r.status, r.result.as_deref()))
            .collect();
        assert_eq!(
            attempts,
            [
                (3, RunStatus::Success, Some(r#"{"rows":3}"#)),
                (2, RunStatus::Error, None),
                (1, RunStatus::Error, None),
            ]
        );
        assert!(flaky.iter().all(|r| r.scheduled == first.scheduled));
    }
    scheduler.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_results_and_attempts() {
    results_and_attempts(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_results_and_attempts() {
    let dir = std::env::temp_dir().join(unique_schema("results"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
    results_and_attempts(Arc::new(SqliteStore::connect(&url).await.unwrap())).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_results_and_attempts() {
    let url = database_url("postgres_store_results_and_attempts");
    let schema = unique_schema("results");
    let store = PostgresStore::builder()
        .schema(&schema)
        .poll_interval(Duration::from_millis(50))
        .connect(&url)
        .await
        .unwrap();
    results_and_attempts(Arc::new(store)).await;
    drop_schema(&url, &schema).await;
}
