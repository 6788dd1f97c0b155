//! Claim-ahead across nodes: node A holds runs claimed ahead of their time; node B
//! changes, pauses and removes their jobs. The store's notice names each job, A gives
//! its runs back, and each change applies to the run A had claimed — a run changed runs
//! as changed (once), a run paused or removed does not run. Also: the default horizon
//! on Postgres claims ahead with no setting at all.
//!
//! Two schedulers in this process, each with its own `PostgresStore` (its own pool,
//! `LISTEN` connection and holder id), as two replicas would be. Needs `DATABASE_URL`;
//! without it the test says loudly that it was skipped.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::PostgresStore;
use sched_test_support::{database_url, drop_schema, poll_until, unique_schema};
use sched_tokio::prelude::*;
use sqlx::Row;

type Seen = Arc<Mutex<Vec<(String, DateTime<Utc>, u32)>>>;
/// (scheduled, started) of each run.
type Starts = Arc<Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>>;

async fn store(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::builder()
        .schema(schema)
        .connect(url)
        .await
        .expect("store")
}

/// The runs of the schema's jobs recorded running for a time still to come: claimed
/// ahead, not started.
async fn claimed_ahead(url: &str, schema: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let now = Utc::now().timestamp();
    let sql = format!(
        "SELECT job_id FROM \"{schema}\".runs WHERE status = 'running' AND sched_s >= $1 \
         ORDER BY job_id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter().map(|row| row.get::<String, _>(0)).collect()
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_change_applies_to_the_runs_claimed_ahead() {
    let url = database_url("another_nodes_change_applies_to_the_runs_claimed_ahead");
    let schema = unique_schema("claim_ahead");
    // Node A runs the task, claiming 4 s ahead (a wide window, so the test does not race
    // the claim); node B has no such task: it only changes jobs.
    let a = Scheduler::builder()
        .store(Arc::new(store(&url, &schema).await))
        .node_id("node-a")
        .claim_ahead(Duration::from_secs(4))
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    a.register_task("echo", move |ctx: JobContext| {
        let log = Arc::clone(&log);
        async move {
            let n: u32 = ctx.args().map_err(|e| e.to_string())?;
            log.lock()
                .unwrap()
                .push((ctx.job_id.to_string(), ctx.scheduled, n));
            Ok::<(), String>(())
        }
    });
    let b = Scheduler::builder()
        .store(Arc::new(store(&url, &schema).await))
        .node_id("node-b")
        .build()
        .unwrap();
    // All due in 6 s, then each minute.
    let first = Utc::now() + chrono::Duration::seconds(6);
    for id in ["changed", "paused", "removed", "kept"] {
        let trigger = Trigger::interval(Duration::from_secs(60)).start(first);
        let job = Job::new(id, "echo", trigger)
            .args(&1)
            .unwrap()
            .schedule(Utc::now())
            .unwrap();
        // Straight into the store: B has no "echo" task to add it with.
        b.store().add_job(job, false).await.unwrap();
    }
    a.start().await.unwrap();
    b.start().await.unwrap();
    let all = vec!["changed", "kept", "paused", "removed"];
    let held = poll_until(
        Duration::from_secs(5),
        || claimed_ahead(&url, &schema),
        |held| *held == all,
    )
    .await;
    assert_eq!(
        held, all,
        "A claimed every run ahead (3 s before their time)"
    );
    b.modify_job("changed", |job| *job = job.clone().args(&2).unwrap())
        .await
        .unwrap();
    b.pause_job("paused").await.unwrap();
    b.remove_job("removed").await.unwrap();
    // Given back and claimed again (the changed and the kept job) before their time.
    let after = poll_until(
        Duration::from_secs(2),
        || claimed_ahead(&url, &schema),
        |held| *held == ["changed", "kept"],
    )
    .await;
    assert_eq!(
        after,
        ["changed", "kept"],
        "the paused and removed runs were given back"
    );
    let wait = (first - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(3);
    poll_until(
        wait,
        || async { seen.lock().unwrap().clone() },
        |ran| ran.len() >= 2,
    )
    .await;
    // Shutting down waits for every run A still holds, claimed ahead or not: a run given
    // back yet run, or doubled, would be in the log once it returns.
    a.shutdown().await.unwrap();
    let mut ran = seen.lock().unwrap().clone();
    ran.sort();
    assert_eq!(
        ran,
        vec![
            ("changed".to_owned(), first_of(&ran, first), 2),
            ("kept".to_owned(), first_of(&ran, first), 1),
        ],
        "the changed run ran as changed, once; the paused and removed ones not at all ({ran:?})"
    );
    let history = b.run_history(None, 50).await.unwrap();
    assert_eq!(history.len(), 2, "two runs recorded: {history:?}");
    b.shutdown().await.unwrap();
    drop_schema(&url, &schema).await;
}

/// The scheduled time the runs stand for (all the same: the jobs' first occurrence,
/// `first` rounded as the store keeps it).
fn first_of(ran: &[(String, DateTime<Utc>, u32)], first: DateTime<Utc>) -> DateTime<Utc> {
    let at = ran.first().map_or(first, |run| run.1);
    assert!(
        (at - first).num_milliseconds().abs() < 1,
        "the first occurrence"
    );
    at
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_ahead_by_default() {
    let url = database_url("postgres_claims_ahead_by_default");
    let schema = unique_schema("ahead_default");
    let node = Scheduler::builder()
        .store(Arc::new(store(&url, &schema).await))
        .build()
        .unwrap();
    let starts: Starts = Arc::default();
    let log = Arc::clone(&starts);
    node.register_task("tick", move |ctx: JobContext| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push((ctx.scheduled, Utc::now()));
        }
    });
    let first = Utc::now() + chrono::Duration::seconds(3);
    let spec = JobSpec::interval(Duration::from_secs(60))
        .id("tick")
        .start(first);
    node.add_named_job(spec, "tick").await.unwrap();
    node.start().await.unwrap();
    let held = poll_until(
        Duration::from_secs(4),
        || claimed_ahead(&url, &schema),
        |held| !held.is_empty(),
    )
    .await;
    assert_eq!(held, ["tick"], "claimed before its time, with no setting");
    let lead = first - Utc::now();
    assert!(
        lead <= chrono::Duration::milliseconds(500),
        "within the default 500 ms horizon: {lead}"
    );
    let ran = poll_until(
        Duration::from_secs(3),
        || async { starts.lock().unwrap().clone() },
        |ran| !ran.is_empty(),
    )
    .await;
    assert_eq!(ran.len(), 1);
    assert!(ran[0].1 >= ran[0].0, "never early");
    node.shutdown().await.unwrap();
    drop_schema(&url, &schema).await;
}
