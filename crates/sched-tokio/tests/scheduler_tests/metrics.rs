//! The `metrics` feature: a Prometheus recorder sees every kind of run counted exactly,
//! on Tokio's paused clock.
//!
//! Each test builds its scheduler with its own recorder as the thread's local one
//! (`metrics::with_local_recorder` around `build`): the scheduler registers its handles
//! there, and they record from whichever worker a run is on. No global recorder, which
//! would be the process's for good and would count the other tests' runs too.

#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sched_tokio::metrics as names;
use sched_tokio::prelude::*;

const T0: &str = "2026-03-02T00:00:00Z";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn after(seconds: i64) -> DateTime<Utc> {
    T0.parse::<DateTime<Utc>>().expect("test instant") + chrono::Duration::seconds(seconds)
}

/// A scheduler whose metrics go to a Prometheus recorder of its own.
fn scheduler(clock: &TokioClock) -> (Scheduler, PrometheusHandle) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let scheduler = metrics::with_local_recorder(&recorder, || {
        Scheduler::builder()
            .clock(clock.clone())
            .wall_clock_check(secs(1))
            .build()
    })
    .expect("valid builder");
    // The scheduler's handles keep what they record in the recorder's storage: the
    // recorder itself can go.
    drop(recorder);
    (scheduler, handle)
}

/// The rendered samples, by series (`name{labels}`): value.
fn scrape(handle: &PrometheusHandle) -> HashMap<String, f64> {
    handle
        .render()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn sample(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series} in {samples:#?}"))
}

fn failed(reason: &str) -> String {
    format!("{}{{{}=\"{reason}\"}}", names::RUNS_FAILED, names::REASON)
}

async fn add<M>(s: &Scheduler, spec: JobSpec, task: impl sched_tokio::IntoTask<M>) {
    s.add_job(spec, task).await.expect("job added");
}

/// Three successes, an error, a panic, a timeout, two runs skipped at `max_instances`,
/// then (after a wall-clock jump) ten missed runs and nine coalesced into one, and a
/// run aborted at shutdown.
#[tokio::test(start_paused = true)]
async fn a_prometheus_scrape_counts_each_kind_of_run() {
    let clock = TokioClock::starting_at(after(0));
    let (s, prometheus) = scheduler(&clock);
    add(&s, JobSpec::interval(secs(10)).id("ok"), || async {}).await;
    let at_10 = JobSpec::date(after(10));
    add(&s, at_10.clone().id("err"), || async {
        Err::<(), _>("down")
    })
    .await;
    add(&s, at_10.clone().id("panic"), || async {
        if true {
            panic!("boom");
        }
    })
    .await;
    let timeout = JobOptions::default().timeout(secs(3));
    add(
        &s,
        at_10.id("hang").options(timeout),
        std::future::pending::<()>,
    )
    .await;
    // Runs at 10 until shutdown: its runs at 20 and 30 are skipped (max_instances 1).
    let slow = JobSpec::interval(secs(10)).id("slow");
    add(&s, slow, || tokio::time::sleep(secs(100_000))).await;
    s.start().await.expect("starts");
    tokio::time::sleep(secs(34)).await;

    let now = scrape(&prometheus);
    assert_eq!(sample(&now, names::RUNS_RUNNING), 1.0, "slow runs");
    assert_eq!(
        sample(&now, names::RUNS_STARTED),
        7.0,
        "ok ×3, err, panic, hang, slow"
    );
    assert_eq!(
        sample(&now, names::JOBS),
        2.0,
        "5 added, the 3 date jobs done"
    );

    // Only the jobs of the jump from here on (the others would miss or coalesce too).
    s.remove_job("ok").await.expect("removed");
    s.remove_job("slow").await.expect("removed"); // its run goes on
    let grace = JobOptions::default().misfire_grace_time(secs(5));
    let late = JobSpec::interval(secs(60)).id("late").options(grace);
    add(&s, late, || async {}).await;
    add(&s, JobSpec::interval(secs(60)).id("merge"), || async {}).await;
    tokio::time::sleep(secs(1)).await;
    // Wall time T0 + 664: both jobs are 10 runs behind (94, 154, .. 634), the newest 30 s
    // late. `late` misses them all (grace 5 s); `merge` runs the newest, coalesces 9.
    clock.jump(secs(629), true);
    tokio::time::sleep(secs(5)).await;
    s.shutdown_now().await.expect("shuts down");
    // The aborted run's future is dropped when its task is next polled.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }

    let end = scrape(&prometheus);
    let count = |name: &str| sample(&end, name);
    assert_eq!(count(names::RUNS_STARTED), 8.0, "and merge's run");
    assert_eq!(count(names::RUNS_SUCCEEDED), 4.0, "ok ×3, merge");
    assert_eq!(count(&failed("error")), 1.0);
    assert_eq!(count(&failed("panicked")), 1.0);
    assert_eq!(count(&failed("timed_out")), 1.0);
    assert_eq!(count(&failed("cancelled")), 1.0, "slow, aborted");
    assert_eq!(count(names::RUNS_SKIPPED_MAX_INSTANCES), 2.0);
    assert_eq!(count(names::RUNS_MISSED), 10.0);
    assert_eq!(count(names::RUNS_COALESCED), 9.0);
    assert_eq!(count(names::RUNS_ABANDONED), 0.0);
    assert_eq!(count(names::STORE_ERRORS), 0.0);
    assert_eq!(count(names::RUNS_RUNNING), 0.0);
    assert_eq!(count(names::JOBS), 2.0, "late and merge");

    let delay = |suffix: &str| count(&format!("{}_{suffix}", names::RUN_START_DELAY));
    assert_eq!(delay("count"), 8.0, "one per started run");
    // All on time but merge's, which started 30 s (and up to a wall-clock check) late.
    assert!((30.0..=31.0).contains(&delay("sum")), "{}", delay("sum"));
    let duration = |suffix: &str| count(&format!("{}_{suffix}", names::RUN_DURATION));
    assert_eq!(
        duration("count"),
        7.0,
        "every started run but the aborted one"
    );
    assert_eq!(
        duration("sum"),
        3.0,
        "the timeout's 3 s; the others take no time"
    );
    assert!(count(&format!("{}_count", names::CLAIM_DURATION)) >= 3.0);
}
