//! `add_jobs`: many jobs in one call, all or none.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sched_tokio::prelude::*;
use sched_tokio::Error;

use crate::scheduler::{executed, harness, secs};

#[tokio::test(start_paused = true)]
async fn add_jobs_adds_every_job_or_none() {
    let mut h = harness(|b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&runs);
    h.scheduler.register_task("count", move || {
        let count = Arc::clone(&count);
        async move {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    let spec = |n: u32| JobSpec::interval(secs(10)).id(format!("bulk-{n}"));
    // An unknown task, a spec that would replace, an id given twice: nothing added.
    let unknown = h
        .scheduler
        .add_jobs([(spec(0), "count"), (spec(1), "nope")])
        .await;
    assert!(matches!(unknown, Err(Error::UnknownTask(t)) if t == "nope"));
    let replacing = h
        .scheduler
        .add_jobs([(spec(0).replace_existing(true), "count")])
        .await;
    assert!(
        matches!(
            &replacing,
            Err(Error::Core(sched_core::Error::InvalidConfiguration {
                setting: "add_jobs",
                ..
            }))
        ),
        "{replacing:?}"
    );
    let twice = h
        .scheduler
        .add_jobs([(spec(0), "count"), (spec(0), "count")])
        .await;
    assert!(
        matches!(&twice, Err(Error::Core(sched_core::Error::DuplicateJobId(id))) if id.as_str() == "bulk-0"),
        "{twice:?}"
    );
    assert!(
        h.scheduler.get_jobs().await.unwrap().is_empty(),
        "none added"
    );
    // A good batch: every job added, scheduled from now, ids in order (one generated).
    let ids = h
        .scheduler
        .add_jobs(
            (0..100)
                .map(|n| (spec(n), "count"))
                .chain([(JobSpec::interval(secs(10)), "count")]),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 101);
    assert_eq!(ids[7].as_str(), "bulk-7");
    assert!(
        ids[100].as_str().starts_with("job-"),
        "a generated id: {}",
        ids[100]
    );
    let events = h.drain();
    let added = events
        .iter()
        .filter(|e| matches!(e, Event::JobAdded(_)))
        .count();
    assert_eq!(added, 101, "JobAdded for each (something listens)");
    // Taken ids refuse the whole batch.
    let again = h
        .scheduler
        .add_jobs([(spec(500), "count"), (spec(3), "count")])
        .await;
    assert!(
        matches!(&again, Err(Error::Core(sched_core::Error::DuplicateJobId(id))) if id.as_str() == "bulk-3")
    );
    assert!(h.scheduler.get_job("bulk-500").await.is_err());
    h.scheduler.start().await.unwrap();
    tokio::time::sleep(secs(25)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        202,
        "each ran at 10 s and 20 s"
    );
    assert_eq!(executed(&h.drain(), "bulk-42").len(), 2);
}

/// A batch large enough to be built on two threads: ids in the order given (generated
/// ones too), every job scheduled, and a fault in either half refuses the whole batch,
/// naming the first fault in that order.
#[tokio::test(start_paused = true)]
async fn a_large_batch_is_added_in_order_or_not_at_all() {
    const N: usize = 40_000;
    let h = harness(|b| b);
    h.scheduler.register_task("count", || async {});
    let spec = |n: usize| JobSpec::interval(secs(10)).id(format!("big-{n:05}"));
    // Specs naming task `faults[n]` where given, else "count".
    let with = |faults: &'static [(usize, &'static str)]| {
        (0..N).map(move |n| {
            let task = faults
                .iter()
                .find(|(at, _)| *at == n)
                .map_or("count", |(_, task)| *task);
            (spec(n), task)
        })
    };
    // A fault in the second half (built on the other thread), then one in each half.
    let late = h.scheduler.add_jobs(with(&[(N - 3, "late")])).await;
    assert!(
        matches!(&late, Err(Error::UnknownTask(t)) if t == "late"),
        "{late:?}"
    );
    let both = h
        .scheduler
        .add_jobs(with(&[(5, "early"), (N - 3, "late")]))
        .await;
    assert!(
        matches!(&both, Err(Error::UnknownTask(t)) if t == "early"),
        "{both:?}"
    );
    assert!(
        h.scheduler.get_jobs().await.unwrap().is_empty(),
        "none added"
    );
    // A good batch, every tenth without an id.
    let specs = (0..N).map(|n| {
        if n % 10 == 0 {
            (JobSpec::interval(secs(10)), "count")
        } else {
            (spec(n), "count")
        }
    });
    let ids = h.scheduler.add_jobs(specs).await.unwrap();
    assert_eq!(ids.len(), N);
    for (n, id) in ids.iter().enumerate() {
        if n % 10 != 0 {
            assert_eq!(id.as_str(), format!("big-{n:05}"));
        }
    }
    let generated: Vec<u64> = ids
        .iter()
        .step_by(10)
        .map(|id| id.as_str().strip_prefix("job-").unwrap().parse().unwrap())
        .collect();
    assert!(
        generated.windows(2).all(|w| w[0] < w[1]),
        "generated ids follow the order given"
    );
    let jobs = h.scheduler.get_jobs().await.unwrap();
    assert_eq!(jobs.len(), N);
    let first = crate::scheduler::after(crate::scheduler::T0, 10);
    assert!(jobs.iter().all(|job| job.next_run_time == Some(first)));
}
