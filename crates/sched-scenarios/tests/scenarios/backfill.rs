//! Backfill on the stores that keep history: each occurrence of a past window runs once,
//! in order, and an occurrence in the history is passed over — by a second backfill on
//! the same node, or, on Postgres, on another node.
//!
//! The Postgres case needs `DATABASE_URL`; without it, it says loudly that it was
//! skipped.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::{PostgresStore, SqliteStore};
use sched_test_support::{database_url, drop_schema, poll_until, unique_schema};
use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::RunStatus;
use sched_tokio::{Backfill, JobContext};

type Ran = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

async fn node(store: Arc<dyn JobStore>, id: &str, ran: &Ran) -> Scheduler {
    let scheduler = Scheduler::builder()
        .store(store)
        .node_id(id)
        .build()
        .unwrap();
    let (ran, me) = (Arc::clone(ran), id.to_owned());
    scheduler.register_task("rollup", move |ctx: JobContext| {
        let (ran, me) = (Arc::clone(&ran), me.clone());
        async move {
            ran.lock().unwrap().push((me, ctx.scheduled));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    scheduler.start().await.unwrap();
    scheduler
}

async fn backfill_once(a: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let ran: Ran = Arc::default();
    let node_a = node(a, "node-a", &ran).await;
    let start = Utc::now() - chrono::Duration::hours(10);
    let hour = chrono::Duration::hours;
    let spec = JobSpec::interval(Duration::from_secs(3600))
        .id("rollup")
        .start(start)
        .paused(true);
    node_a.add_named_job(spec, "rollup").await.unwrap();
    let first = node_a
        .backfill("rollup", start + hour(2), start + hour(3))
        .await
        .unwrap();
    assert_eq!(first.started.len(), 2);
    let history = |scheduler: &Scheduler| {
        let store = Arc::clone(scheduler.store());
        async move { store.run_history(Some("rollup"), 50).await.unwrap() }
    };
    poll_until(
        Duration::from_secs(20),
        || history(&node_a),
        |runs| {
            runs.iter()
                .filter(|r| r.status == RunStatus::Success)
                .count()
                == 2
        },
    )
    .await;
    // The other node, and a wider window: the two in the history are passed over.
    let node_b = node(b, "node-b", &ran).await;
    let second = node_b
        .backfill("rollup", start + hour(1), start + hour(4))
        .await
        .unwrap();
    let times = |report: &Backfill| report.started.iter().map(|(_, at)| *at).collect::<Vec<_>>();
    assert_eq!(times(&second), vec![start + hour(1), start + hour(4)]);
    assert_eq!(second.passed_over, vec![start + hour(2), start + hour(3)]);
    let runs = poll_until(
        Duration::from_secs(20),
        || history(&node_b),
        |runs| {
            runs.iter()
                .filter(|r| r.status == RunStatus::Success)
                .count()
                == 4
        },
    )
    .await;
    let mut scheduled: Vec<DateTime<Utc>> = runs.iter().map(|r| r.scheduled).collect();
    scheduled.sort();
    assert_eq!(
        scheduled,
        (1..=4).map(|n| start + hour(n)).collect::<Vec<_>>(),
        "each occurrence once in the history"
    );
    let ran = ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 4, "{ran:?}");
    node_a.shutdown().await.unwrap();
    node_b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backfill_runs_each_occurrence_once() {
    let dir = std::env::temp_dir().join(unique_schema("backfill"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    // One file, one store: both "nodes" share it.
    backfill_once(Arc::clone(&store), store).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backfill_on_two_nodes_runs_each_occurrence_once() {
    let url = database_url("postgres_backfill_on_two_nodes_runs_each_occurrence_once");
    let schema = unique_schema("backfill");
    let open = || async {
        let store = PostgresStore::builder()
            .schema(&schema)
            .poll_interval(Duration::from_millis(50))
            .connect(&url)
            .await
            .unwrap();
        Arc::new(store) as Arc<dyn JobStore>
    };
    let (a, b) = (open().await, open().await);
    backfill_once(a, b).await;
    drop_schema(&url, &schema).await;
}
