//! Cancelling a run held by another node: two schedulers (nodes) on one schema of a
//! real Postgres, each with a store of its own. Only node a registers the task, so
//! only it runs the job; node b sends the cancels. The request reaches a by `NOTIFY`
//! (well within a second, with a's heartbeat far off), or, when the notice is lost, at
//! a's next heartbeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::{RunQuery, RunStatus};
use sched_tokio::sched_core::support::Mutex;
use sched_tokio::{CancelReason, JobContext};

use crate::common::node::Node;
use crate::common::{database_url, drop_schema, unique_schema};

/// What node a's runs saw when their token fired.
type Seen = Arc<Mutex<Vec<Option<CancelReason>>>>;

/// Node `id`; with `seen`, it runs task `hold` (wait for the token, record the reason,
/// return `Ok`).
async fn node(url: &str, schema: &str, id: &str, heartbeat: Duration, seen: Option<Seen>) -> Node {
    Node::start(url, schema, id, heartbeat, |scheduler| {
        if let Some(seen) = seen {
            scheduler.register_task("hold", move |ctx: JobContext| {
                let seen = Arc::clone(&seen);
                async move {
                    ctx.cancelled().await;
                    seen.lock().push(ctx.cancel_reason());
                }
            });
        }
    })
    .await
}

/// A `hold` job due in 300 ms, then hourly, added through `node`.
async fn hold(node: &Node, id: &str, instances: u32) {
    node.scheduler
        .add_named_job(
            JobSpec::interval(Duration::from_secs(3600))
                .id(id)
                .start(node.scheduler.now() + chrono::Duration::milliseconds(300))
                .options(
                    JobOptions::default()
                        .max_instances(instances)
                        .coalesce(false),
                ),
            "hold",
        )
        .await
        .expect("job added");
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_cancel_reaches_a_run_on_another_node_within_a_second() {
    let url = database_url("postgres_a_cancel_reaches_a_run_on_another_node_within_a_second");
    let schema = unique_schema("cancel_notify");
    let seen: Seen = Arc::default();
    // a's heartbeat is 20 s away: only the NOTIFY can bring the request in time.
    let a = node(
        &url,
        &schema,
        "node-a",
        Duration::from_secs(20),
        Some(Arc::clone(&seen)),
    )
    .await;
    let b = node(&url, &schema, "node-b", Duration::from_secs(20), None).await;
    hold(&a, "export", 1).await;
    let run = a.started("export", 1).await[0];

    let sent = Instant::now();
    assert!(
        b.scheduler.cancel_run(run).await.expect("cancel_run"),
        "b finds the run running on a"
    );
    a.cancelled("export", 1).await;
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(1), "the cancel took {took:?}");
    assert_eq!(*seen.lock(), vec![Some(CancelReason::Requested)]);

    // Recorded once, as cancelled, by the node that ran it.
    let store = b.scheduler.store();
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let runs = store
            .query_runs(&RunQuery::new().job("export"))
            .await
            .expect("history");
        if let Some(done) = runs
            .iter()
            .find(|r| r.run_id == run && r.status != RunStatus::Running)
        {
            break done.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the run was never recorded: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (record.status, record.node.as_str()),
        (RunStatus::Cancelled, "node-a")
    );
    assert!(
        !b.scheduler.cancel_run(run).await.expect("cancel again"),
        "an ended run: nothing to cancel"
    );

    a.scheduler.shutdown().await.expect("a stops");
    b.scheduler.shutdown().await.expect("b stops");
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_cancel_whose_notice_is_lost_is_found_at_the_next_heartbeat() {
    let url = database_url("postgres_a_cancel_whose_notice_is_lost_is_found_at_the_next_heartbeat");
    let schema = unique_schema("cancel_heartbeat");
    let seen: Seen = Arc::default();
    let a = node(
        &url,
        &schema,
        "node-a",
        Duration::from_millis(300),
        Some(Arc::clone(&seen)),
    )
    .await;
    hold(&a, "export", 1).await;
    let run = a.started("export", 1).await[0];
    // The request as the store writes it, with no NOTIFY (as if the notice were lost).
    let pool = sqlx::PgPool::connect(&url).await.expect("connects");
    let marked = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {schema}.runs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'"
    )))
    .bind(run.0)
    .execute(&pool)
    .await
    .expect("marks the run");
    assert_eq!(marked.rows_affected(), 1);
    pool.close().await;
    let sent = Instant::now();
    a.cancelled("export", 1).await;
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "found by a heartbeat (every 300 ms): {:?}",
        sent.elapsed()
    );
    assert_eq!(*seen.lock(), vec![Some(CancelReason::Requested)]);
    a.scheduler.shutdown().await.expect("a stops");
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancel_job_from_another_node_stops_each_of_its_runs() {
    let url = database_url("postgres_cancel_job_from_another_node_stops_each_of_its_runs");
    let schema = unique_schema("cancel_job");
    let seen: Seen = Arc::default();
    let a = node(
        &url,
        &schema,
        "node-a",
        Duration::from_secs(20),
        Some(Arc::clone(&seen)),
    )
    .await;
    let b = node(&url, &schema, "node-b", Duration::from_secs(20), None).await;
    hold(&a, "batch", 2).await;
    // Two occurrences running at once (max_instances 2): run the job now beside the first.
    a.started("batch", 1).await;
    a.scheduler.run_job_now("batch").await.expect("run now");
    a.started("batch", 2).await;
    assert_eq!(
        b.scheduler.cancel_job("batch").await.expect("cancel_job"),
        2
    );
    a.cancelled("batch", 2).await;
    assert_eq!(*seen.lock(), vec![Some(CancelReason::Requested); 2]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.scheduler.store().running("batch").await.expect("running") > 0 {
        assert!(
            Instant::now() < deadline,
            "the cancelled runs were never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        b.scheduler.cancel_job("batch").await.expect("again"),
        0,
        "nothing left running; the job stays"
    );
    a.scheduler.shutdown().await.expect("a stops");
    b.scheduler.shutdown().await.expect("b stops");
    drop_schema(&url, &schema).await;
}
