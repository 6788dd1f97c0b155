//! Overlap policies across nodes: two schedulers on one schema of a real Postgres.
//! The waiting run is stored with the job, so whichever node records the end of a run
//! starts it, once; a `CancelPrevious` claim on one node stops a run on the other
//! (`NOTIFY`, the heartbeat far off).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sched_tokio::prelude::*;
use sched_tokio::sched_core::support::Mutex;
use sched_tokio::{CancelReason, JobContext};

use crate::common::node::{cancelled, submitted, Node};
use crate::common::{database_url, drop_schema, unique_schema};

/// When each run of task `slow` began and ended, on any node, and the most running
/// at once.
#[derive(Default)]
struct Log {
    spans: Vec<(Instant, Option<Instant>)>,
    running: usize,
    most: usize,
}

/// Registers `slow`: runs for `busy`, logging its span.
fn slow(log: &Arc<Mutex<Log>>, busy: Duration) -> impl FnOnce(&Scheduler) {
    let log = Arc::clone(log);
    move |scheduler| {
        scheduler.register_task("slow", move || {
            let log = Arc::clone(&log);
            async move {
                let index = {
                    let mut log = log.lock();
                    log.running += 1;
                    log.most = log.most.max(log.running);
                    log.spans.push((Instant::now(), None));
                    log.spans.len() - 1
                };
                tokio::time::sleep(busy).await;
                let mut log = log.lock();
                log.running -= 1;
                log.spans[index].1 = Some(Instant::now());
            }
        });
    }
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_one_runs_back_to_back_across_nodes_never_overlapping() {
    let url = database_url("postgres_queue_one_runs_back_to_back_across_nodes_never_overlapping");
    let schema = unique_schema("overlap_queue");
    let log: Arc<Mutex<Log>> = Arc::default();
    let busy = Duration::from_millis(700);
    let beat = Duration::from_secs(20);
    let a = Node::start(&url, &schema, "node-a", beat, slow(&log, busy)).await;
    let b = Node::start(&url, &schema, "node-b", beat, slow(&log, busy)).await;
    // Due every 500 ms, each run 700 ms: a run is always due while one runs.
    a.scheduler
        .add_named_job(
            JobSpec::interval(Duration::from_millis(500))
                .id("sync")
                .start(a.scheduler.now() + chrono::Duration::milliseconds(300))
                .options(JobOptions::default().overlap(Overlap::QueueOne)),
            "slow",
        )
        .await
        .expect("job added");
    // Until four runs have ended back to back (at most 20 s).
    let ended = || async {
        let log = log.lock();
        log.spans.iter().filter(|(_, end)| end.is_some()).count()
    };
    sched_test_support::poll_until(Duration::from_secs(20), ended, |n| *n >= 4).await;
    a.scheduler.pause_job("sync").await.expect("paused");
    a.scheduler.shutdown().await.expect("a stops");
    b.scheduler.shutdown().await.expect("b stops");

    let (most, spans) = {
        let log = log.lock();
        (log.most, log.spans.clone())
    };
    assert_eq!(most, 1, "never two runs at once, across both nodes");
    let spans: Vec<(Instant, Instant)> = spans
        .iter()
        .filter_map(|(start, end)| Some((*start, (*end)?)))
        .collect();
    assert!(spans.len() >= 4, "back to back: {} runs", spans.len());
    // Each run after the first waited, and started as soon as the one before ended.
    for pair in spans.windows(2) {
        let gap = pair[1].0.saturating_duration_since(pair[0].1);
        assert!(
            gap < Duration::from_millis(300),
            "a waiting run started {gap:?} after the end before it"
        );
    }
    let mut scheduled: Vec<_> = [&a, &b]
        .iter()
        .flat_map(|node| submitted(&node.events.lock(), "sync"))
        .map(|(_, at)| at)
        .collect();
    let all = scheduled.len();
    scheduled.sort();
    scheduled.dedup();
    assert_eq!(scheduled.len(), all, "no occurrence ran twice");
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancel_previous_from_another_node_stops_the_run_within_a_second() {
    let url =
        database_url("postgres_cancel_previous_from_another_node_stops_the_run_within_a_second");
    let schema = unique_schema("overlap_cancel");
    let seen: Arc<Mutex<Vec<Option<CancelReason>>>> = Arc::default();
    let hold = |seen: &Arc<Mutex<Vec<Option<CancelReason>>>>| {
        let seen = Arc::clone(seen);
        move |scheduler: &Scheduler| {
            scheduler.register_task("hold", move |ctx: JobContext| {
                let seen = Arc::clone(&seen);
                async move {
                    ctx.cancelled().await;
                    seen.lock().push(ctx.cancel_reason());
                }
            });
        }
    };
    // Heartbeats 20 s away: only the NOTIFY can bring the request in time.
    let beat = Duration::from_secs(20);
    let a = Node::start(&url, &schema, "node-a", beat, hold(&seen)).await;
    a.scheduler
        .add_named_job(
            JobSpec::interval(Duration::from_secs(2))
                .id("render")
                .start(a.scheduler.now() + chrono::Duration::milliseconds(300))
                .options(JobOptions::default().overlap(Overlap::CancelPrevious)),
            "hold",
        )
        .await
        .expect("job added");
    a.started("render", 1).await;
    // From now on only b claims: the next occurrence is b's claim, at a's run's limit.
    a.scheduler.pause();
    let b = Node::start(&url, &schema, "node-b", beat, hold(&seen)).await;
    let next = a.scheduler.store().get_job("render").await.expect("job");
    let due = next.next_run_time.expect("scheduled");
    a.cancelled("render", 1).await;
    let late = (a.scheduler.now() - due).to_std().unwrap_or_default();
    assert!(
        late < Duration::from_secs(1),
        "a's run stopped {late:?} after b's claim was due"
    );
    assert_eq!(*seen.lock(), vec![Some(CancelReason::Requested)]);
    // a is paused: b starts the newest run at its next claim; exactly one runs.
    let started = b
        .wait_for("b to start a run", |events| {
            submitted(events, "render").first().copied()
        })
        .await;
    assert!(started.1 >= due, "a newer occurrence: {started:?}");
    assert!(cancelled(&b.events.lock(), "render").is_empty());
    let running = a
        .scheduler
        .store()
        .running("render")
        .await
        .expect("running");
    assert_eq!(running, 1, "the cancelled run ended, the new one runs");
    a.scheduler.resume();
    a.scheduler.shutdown().await.expect("a stops");
    b.scheduler.shutdown().await.expect("b stops");
    drop_schema(&url, &schema).await;
}
