//! Stopping a run before it ends: `cancel_run`, `cancel_job`, a timeout's grace and
//! shutdown, through the run's `JobContext` token. On Tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::RunId;
use sched_tokio::{CancelReason, Error, JobContext, RunEvent};

use crate::scheduler::{errors, executed, harness, secs, sleep, Harness};

/// Counts its drops: held by a job's future, it tells when the future was dropped.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What jobs saw: the reasons they were given when their token fired.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Option<CancelReason>>>>);

impl Seen {
    fn push(&self, reason: Option<CancelReason>) {
        self.0.lock().expect("not poisoned").push(reason);
    }
    fn all(&self) -> Vec<Option<CancelReason>> {
        self.0.lock().expect("not poisoned").clone()
    }
}

/// The ids of the runs of `job` that started, in order.
fn started(events: &[Event], job: &str) -> Vec<RunId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobSubmitted(RunEvent { job_id, run_id, .. }) if &**job_id == job => {
                Some(*run_id)
            }
            _ => None,
        })
        .collect()
}

async fn millis(n: u64) {
    tokio::time::sleep(Duration::from_millis(n)).await;
}

/// A job that waits for its token, then records the reason and returns `Ok`.
async fn watch(h: &Harness, id: &str, options: JobOptions, seen: &Seen) {
    let seen = seen.clone();
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10)).id(id).options(options),
            move |ctx: JobContext| {
                let seen = seen.clone();
                async move {
                    ctx.cancelled().await;
                    seen.push(ctx.cancel_reason());
                }
            },
        )
        .await
        .expect("job added");
}

#[tokio::test(start_paused = true)]
async fn a_run_watching_its_token_stops_when_cancelled_and_is_recorded_cancelled() {
    let mut h = harness(|b| b);
    let seen = Seen::default();
    watch(&h, "export", JobOptions::default(), &seen).await;
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    let runs = started(&h.drain(), "export");
    assert_eq!(runs.len(), 1, "the first run waits for its token");
    assert!(
        h.scheduler.cancel_run(runs[0]).await.unwrap(),
        "it was running"
    );
    millis(100).await;
    let events = h.drain();
    assert_eq!(seen.all(), vec![Some(CancelReason::Requested)]);
    assert_eq!(
        errors(&events, "export"),
        vec!["cancelled"],
        "it returned Ok after the request: recorded as cancelled all the same"
    );
    assert!(executed(&events, "export").is_empty());
    assert_eq!(h.scheduler.stats().running, 0);
    assert!(
        !h.scheduler.cancel_run(runs[0]).await.unwrap(),
        "an ended run: nothing to cancel"
    );
    // The job keeps its schedule: the next run starts at +20 s.
    sleep(10).await;
    assert_eq!(started(&h.drain(), "export").len(), 1);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_that_never_took_its_token_is_dropped_at_once() {
    let mut h = harness(|b| b);
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&drops);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("stuck"), move || {
            let guard = DropCount(Arc::clone(&counter));
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    let runs = started(&h.drain(), "stuck");
    assert_eq!(drops.load(Ordering::SeqCst), 0, "running");
    assert!(h.scheduler.cancel_run(runs[0]).await.unwrap());
    millis(1).await;
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "it could not have seen a token it never took: dropped without a grace"
    );
    millis(50).await;
    assert_eq!(errors(&h.drain(), "stuck"), vec!["cancelled"]);
    assert_eq!(h.scheduler.stats().running, 0);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_that_ignores_its_token_has_its_cancel_grace_then_is_dropped() {
    let mut h = harness(|b| b);
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&drops);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("slow")
                .options(JobOptions::default().cancel_grace(secs(3))),
            move |ctx: JobContext| {
                let guard = DropCount(Arc::clone(&counter));
                async move {
                    let _guard = guard;
                    let _token = ctx.cancellation_token(); // taken, never awaited
                    std::future::pending::<()>().await;
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(61).await;
    let runs = started(&h.drain(), "slow");
    assert!(h.scheduler.cancel_run(runs[0]).await.unwrap());
    sleep(2).await;
    assert_eq!(drops.load(Ordering::SeqCst), 0, "within its grace");
    assert!(h.drain().iter().all(|e| !matches!(e, Event::JobError(_))));
    sleep(2).await;
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped once the grace ran out"
    );
    assert_eq!(errors(&h.drain(), "slow"), vec!["cancelled"]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fires_the_token_and_a_run_watching_it_may_tidy_up_within_its_grace() {
    let mut h = harness(|b| b);
    let seen = Seen::default();
    let tidied = Arc::new(AtomicUsize::new(0));
    let (recorder, count) = (seen.clone(), Arc::clone(&tidied));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("report")
                .options(JobOptions::default().timeout(secs(3)).cancel_grace(secs(5))),
            move |ctx: JobContext| {
                let (seen, tidied) = (recorder.clone(), Arc::clone(&count));
                async move {
                    ctx.cancelled().await;
                    seen.push(ctx.cancel_reason());
                    tokio::time::sleep(secs(2)).await; // tidying up, inside the grace
                    tidied.fetch_add(1, Ordering::SeqCst);
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(64).await;
    assert_eq!(seen.all(), vec![Some(CancelReason::Timeout)]);
    assert_eq!(tidied.load(Ordering::SeqCst), 0, "still tidying");
    sleep(3).await;
    assert_eq!(tidied.load(Ordering::SeqCst), 1, "it finished tidying");
    assert_eq!(
        errors(&h.drain(), "report"),
        vec!["timed out"],
        "a run that ended after its timeout timed out"
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_fires_the_tokens_so_watching_runs_end_before_the_shutdown_timeout() {
    let mut h = harness(|b| b.shutdown_timeout(secs(30)));
    let seen = Seen::default();
    watch(&h, "a", JobOptions::default(), &seen).await;
    watch(&h, "b", JobOptions::default(), &seen).await;
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    let began = tokio::time::Instant::now();
    h.scheduler
        .shutdown()
        .await
        .expect("every run ended by itself: none aborted");
    assert!(
        began.elapsed() < secs(1),
        "no wait for the timeout: {:?}",
        began.elapsed()
    );
    assert_eq!(seen.all(), vec![Some(CancelReason::Shutdown); 2]);
    let events = h.drain();
    assert_eq!(
        executed(&events, "a").len() + executed(&events, "b").len(),
        2,
        "a run that ends by itself at shutdown keeps its own outcome"
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_job_stops_every_running_run_of_the_job_and_keeps_the_job() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(1))
                .id("many")
                .options(JobOptions::default().max_instances(3).coalesce(false)),
            std::future::pending::<()>,
        )
        .await
        .unwrap();
    h.scheduler
        .add_job(JobSpec::interval(secs(3600)).id("idle"), || async {})
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    millis(3_500).await;
    assert_eq!(h.scheduler.stats().running, 3);
    assert_eq!(h.scheduler.cancel_job("many").await.unwrap(), 3);
    millis(50).await;
    assert_eq!(errors(&h.drain(), "many"), vec!["cancelled"; 3]);
    assert_eq!(h.scheduler.stats().running, 0);
    assert_eq!(
        h.scheduler.cancel_job("idle").await.unwrap(),
        0,
        "a job with no run running"
    );
    match h.scheduler.cancel_job("missing").await {
        Err(Error::Core(sched_tokio::sched_core::Error::JobNotFound(id))) => {
            assert_eq!(&*id, "missing")
        }
        other => panic!("an unknown job is an error: {other:?}"),
    }
    sleep(1).await;
    assert_eq!(
        started(&h.drain(), "many").len(),
        1,
        "the job stays scheduled"
    );
    h.scheduler.shutdown_now().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancel_run_of_an_id_never_issued_is_an_error() {
    let h = harness(|b| b);
    h.scheduler.start().await.unwrap();
    match h.scheduler.cancel_run(RunId(i64::MAX)).await {
        Err(Error::Core(sched_tokio::sched_core::Error::RunNotFound(id))) => {
            assert_eq!(id, i64::MAX)
        }
        other => panic!("an unknown run is an error: {other:?}"),
    }
    h.scheduler.shutdown().await.unwrap();
}
