//! The scheduler end to end, on Tokio's paused clock: no test waits for real.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;
use sched_tokio::{Error, RunEvent};
use tokio::sync::broadcast;

pub(crate) const T0: &str = "2026-03-02T00:00:00Z";

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn after(base: &str, seconds: i64) -> DateTime<Utc> {
    at(base) + chrono::Duration::seconds(seconds)
}

pub(crate) struct Harness {
    pub(crate) scheduler: Scheduler,
    pub(crate) clock: TokioClock,
    pub(crate) events: broadcast::Receiver<Event>,
}

pub(crate) fn harness(builder: impl FnOnce(SchedulerBuilder) -> SchedulerBuilder) -> Harness {
    let clock = TokioClock::starting_at(at(T0));
    let scheduler = builder(
        Scheduler::builder()
            .clock(clock.clone())
            .event_capacity(1 << 16)
            .wall_clock_check(secs(1)),
    )
    .build()
    .expect("valid builder");
    let events = scheduler.subscribe();
    Harness {
        scheduler,
        clock,
        events,
    }
}

impl Harness {
    pub(crate) fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            out.push(event);
        }
        out
    }
}

/// The scheduled and start times of the runs of `job` that started, in order.
pub(crate) fn submitted(events: &[Event], job: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobSubmitted(run) if &*run.job_id == job => Some((run.scheduled, run.started)),
            _ => None,
        })
        .collect()
}

pub(crate) fn executed(events: &[Event], job: &str) -> Vec<DateTime<Utc>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobExecuted(RunEvent {
                job_id, scheduled, ..
            }) if &**job_id == job => Some(*scheduled),
            _ => None,
        })
        .collect()
}

pub(crate) fn errors(events: &[Event], job: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobError(run) if &*run.job_id == job => run.error.clone(),
            _ => None,
        })
        .collect()
}

pub(crate) async fn sleep(n: u64) {
    tokio::time::sleep(secs(n)).await;
}

#[tokio::test(start_paused = true)]
async fn interval_job_fires_every_period() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("tick"), || async {})
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(35).await;
    let events = h.drain();
    assert_eq!(
        executed(&events, "tick"),
        vec![after(T0, 10), after(T0, 20), after(T0, 30)]
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cron_job_fires_at_wall_clock_times_in_its_zone() {
    let mut h = harness(|b| b.timezone(chrono_tz::Europe::Berlin));
    // 08:00 Berlin = 07:00 UTC in winter.
    h.scheduler
        .add_job(JobSpec::cron("0 8 * * *").unwrap().id("report"), || async {
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(3 * 86_400).await;
    let events = h.drain();
    assert_eq!(
        executed(&events, "report"),
        vec![
            at("2026-03-02T07:00:00Z"),
            at("2026-03-03T07:00:00Z"),
            at("2026-03-04T07:00:00Z")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn date_job_fires_once_with_args_then_is_removed() {
    let mut h = harness(|b| b);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&seen);
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Reminder {
        username: String,
        message: String,
    }
    h.scheduler
        .add_job(
            JobSpec::date_str("2026-03-02 00:00:30")
                .id("remind")
                .args(&Reminder {
                    username: "alice".into(),
                    message: "standup".into(),
                })
                .unwrap(),
            move |ctx: JobContext| {
                let log = Arc::clone(&log);
                async move {
                    let r: Reminder = ctx.args().map_err(|e| e.to_string())?;
                    log.lock()
                        .unwrap()
                        .push(format!("{}: {}", r.username, r.message));
                    Ok::<(), String>(())
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(120).await;
    let events = h.drain();
    assert_eq!(executed(&events, "remind"), vec![after(T0, 30)]);
    assert_eq!(*seen.lock().unwrap(), vec!["alice: standup".to_owned()]);
    let err = h.scheduler.get_job("remind").await.unwrap_err();
    assert!(
        matches!(err, Error::Core(sched_core::Error::JobNotFound(_))),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn clock_jump_forward_beyond_grace_reports_missed_runs() {
    let mut h = harness(|b| b);
    let options = JobOptions::default().misfire_grace_time(secs(5));
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60)).id("poll").options(options),
            || async {},
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(1).await;
    h.clock.jump(secs(629), true); // wall time now T0 + 630 s: runs 60..600 are late
    sleep(40).await; // up to T0 + 670: the run at 660 is on time
    let events = h.drain();
    let missed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::JobMissed(skip) => Some(skip.runs),
            _ => None,
        })
        .collect();
    assert_eq!(missed.len(), 1, "{events:#?}");
    assert_eq!(missed[0].count, 10);
    assert_eq!(
        (missed[0].first, missed[0].last),
        (after(T0, 60), after(T0, 600))
    );
    assert_eq!(executed(&events, "poll"), vec![after(T0, 660)]);
}

#[tokio::test(start_paused = true)]
async fn coalesce_runs_a_backlog_once() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("sync")
                .options(JobOptions::default().coalesce(true)),
            || async {},
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(1).await;
    h.clock.jump(secs(629), true);
    sleep(5).await;
    let events = h.drain();
    assert_eq!(executed(&events, "sync"), vec![after(T0, 600)]);
    let coalesced: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::JobCoalesced(skip) => Some(skip.runs.count),
            _ => None,
        })
        .collect();
    assert_eq!(coalesced, vec![9]);
}

#[tokio::test(start_paused = true)]
async fn without_coalesce_each_overdue_run_runs_in_order() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(60))
                .id("each")
                .options(JobOptions::default().coalesce(false).max_instances(10)),
            || async {},
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(1).await;
    h.clock.jump(secs(239), true); // T0 + 240: runs at 60, 120, 180, 240 are due
    sleep(5).await;
    let events = h.drain();
    assert_eq!(
        executed(&events, "each"),
        vec![
            after(T0, 60),
            after(T0, 120),
            after(T0, 180),
            after(T0, 240)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn clock_jump_backward_never_runs_twice() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("tick"), || async {})
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(25).await; // runs at 10, 20
    h.clock.jump(secs(15), false); // wall time back to T0 + 10
    sleep(31).await; // wall time T0 + 41
    let events = h.drain();
    assert_eq!(
        executed(&events, "tick"),
        vec![after(T0, 10), after(T0, 20), after(T0, 30), after(T0, 40)]
    );
}

#[tokio::test(start_paused = true)]
async fn max_instances_skips_overlapping_runs_with_an_event() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("slow"), || async {
            tokio::time::sleep(secs(25)).await;
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(45).await;
    let events = h.drain();
    // 10 runs until 35; 20 and 30 overlap it; 40 starts after it finished.
    assert_eq!(executed(&events, "slow"), vec![after(T0, 10)]);
    let skipped: Vec<DateTime<Utc>> = events
        .iter()
        .filter_map(|e| match e {
            Event::JobMaxInstances(skip) => Some(skip.runs.first),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![after(T0, 20), after(T0, 30)]);
    let submitted = events
        .iter()
        .filter(|e| matches!(e, Event::JobSubmitted(r) if r.scheduled == after(T0, 40)))
        .count();
    assert_eq!(submitted, 1);
}

#[tokio::test(start_paused = true)]
async fn errors_panics_and_timeouts_are_events_and_the_scheduler_goes_on() {
    let mut h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("err"), || async {
            Err::<(), _>("database unreachable")
        })
        .await
        .unwrap();
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("panic"), || async {
            if true {
                panic!("boom");
            }
        })
        .await
        .unwrap();
    h.scheduler
        .add_job(
            JobSpec::interval(secs(10))
                .id("hang")
                .options(JobOptions::default().timeout(secs(3))),
            std::future::pending::<()>,
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(25).await;
    let events = h.drain();
    assert_eq!(errors(&events, "err"), vec!["database unreachable"; 2]);
    assert_eq!(errors(&events, "panic"), vec!["panicked: boom"; 2]);
    assert_eq!(errors(&events, "hang"), vec!["timed out"; 2]);
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn pause_resume_remove_modify_reschedule_take_effect_at_once() {
    let mut h = harness(|b| b);
    let s = h.scheduler.clone();
    s.add_job(JobSpec::interval(secs(10)).id("a"), || async {})
        .await
        .unwrap();
    s.start().await.unwrap();
    sleep(15).await; // ran at 10
    s.pause_job("a").await.unwrap();
    assert!(s.get_job("a").await.unwrap().paused);
    sleep(20).await; // 20, 30 not run
    s.resume_job("a").await.unwrap(); // T0 + 35: next run 40
    assert_eq!(
        s.get_job("a").await.unwrap().next_run_time,
        Some(after(T0, 40))
    );
    sleep(10).await; // ran at 40
    s.reschedule_job("a", Trigger::interval(secs(100)))
        .await
        .unwrap(); // from T0+45: 145
    s.modify_job("a", |job| job.name = "renamed".into())
        .await
        .unwrap();
    assert_eq!(s.get_job("a").await.unwrap().name, "renamed");
    sleep(110).await; // T0 + 155: ran at 145
    s.remove_job("a").await.unwrap();
    sleep(300).await;
    let events = h.drain();
    assert_eq!(
        executed(&events, "a"),
        vec![after(T0, 10), after(T0, 40), after(T0, 145)]
    );
    let missing = h.scheduler.pause_job("a").await.unwrap_err();
    assert!(matches!(missing, Error::Core(sched_core::Error::JobNotFound(ref id)) if id == "a"));
}

#[tokio::test(start_paused = true)]
async fn run_job_now_and_scheduler_pause() {
    let mut h = harness(|b| b);
    let s = h.scheduler.clone();
    s.add_job(JobSpec::interval(secs(3600)).id("hourly"), || async {})
        .await
        .unwrap();
    s.start().await.unwrap();
    sleep(5).await;
    s.run_job_now("hourly").await.unwrap();
    sleep(1).await;
    s.pause();
    sleep(3600).await; // the 01:00 run falls due while paused
    let during_pause = executed(&h.drain(), "hourly");
    s.resume();
    sleep(1).await;
    let after_resume = executed(&h.drain(), "hourly");
    assert_eq!(during_pause, vec![after(T0, 5)]);
    assert_eq!(after_resume, vec![after(T0, 3600)]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_running_jobs() {
    let mut h = harness(|b| b);
    let finished = Arc::new(AtomicUsize::new(0));
    let done = Arc::clone(&finished);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("long"), move || {
            let done = Arc::clone(&done);
            async move {
                tokio::time::sleep(secs(5)).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(12).await; // running since 10
    h.scheduler.shutdown().await.unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    let events = h.drain();
    assert_eq!(executed(&events, "long"), vec![after(T0, 10)]);
    assert!(matches!(
        events.last(),
        Some(Event::SchedulerShutdown { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn shutdown_timeout_aborts_and_records_cancelled_runs() {
    let h = harness(|b| b.shutdown_timeout(secs(2)));
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("stuck"), || {
            std::future::pending::<()>()
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    assert_eq!(h.scheduler.store().running("stuck").await.unwrap(), 1);
    let err = h.scheduler.shutdown().await.unwrap_err();
    assert!(matches!(err, Error::ShutdownTimedOut(1)), "{err}");
    assert_eq!(h.scheduler.store().running("stuck").await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn lifecycle_errors_are_typed() {
    let h = harness(|b| b);
    assert!(matches!(
        h.scheduler.shutdown().await,
        Err(Error::NotRunning)
    ));
    h.scheduler.start().await.unwrap();
    assert!(matches!(
        h.scheduler.start().await,
        Err(Error::AlreadyRunning)
    ));
    h.scheduler.shutdown().await.unwrap();
    assert!(matches!(h.scheduler.start().await, Err(Error::ShutDown)));
    let late = h
        .scheduler
        .add_job(JobSpec::interval(secs(1)), || async {})
        .await;
    assert!(matches!(late, Err(Error::ShutDown)));
    let unknown = h
        .scheduler
        .add_named_job(JobSpec::interval(secs(1)), "nope")
        .await;
    assert!(matches!(unknown, Err(Error::UnknownTask(ref t)) if t == "nope"));
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_a_typed_error() {
    let h = harness(|b| b);
    let s = &h.scheduler;
    let dup = JobSpec::interval(secs(1)).id("x");
    s.add_job(dup.clone(), || async {}).await.unwrap();
    let err = s.add_job(dup.clone(), || async {}).await.unwrap_err();
    assert!(
        matches!(err, Error::Core(sched_core::Error::DuplicateJobId(_))),
        "{err}"
    );
    s.add_job(dup.replace_existing(true), || async {})
        .await
        .unwrap();
    let err = s
        .add_job(JobSpec::interval(secs(1)).id(" "), || async {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Core(sched_core::Error::EmptyJobId)),
        "{err}"
    );
    let err = s
        .add_job(JobSpec::date_str("tomorrow"), || async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"tomorrow\""), "{err}");
    assert!(JobSpec::cron("0 25 * * *").is_err());
    let err = s
        .add_job(JobSpec::interval(Duration::ZERO), || async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("zero"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn named_tasks_get_their_args() {
    let mut h = harness(|b| b);
    let sum = Arc::new(AtomicUsize::new(0));
    let total = Arc::clone(&sum);
    h.scheduler.register_task("add", move |ctx: JobContext| {
        let total = Arc::clone(&total);
        async move {
            let n: usize = ctx.args().map_err(|e| e.to_string())?;
            total.fetch_add(n, Ordering::SeqCst);
            Ok::<(), String>(())
        }
    });
    h.scheduler
        .add_named_job(
            JobSpec::interval(secs(10)).id("add7").args(&7).unwrap(),
            "add",
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(25).await;
    assert_eq!(sum.load(Ordering::SeqCst), 14);
    assert_eq!(executed(&h.drain(), "add7").len(), 2);
}

/// A task that records `v` in `calls` each time it runs.
fn version(
    calls: &Arc<Mutex<Vec<&'static str>>>,
    v: &'static str,
) -> impl Fn() -> std::future::Ready<()> + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move || {
        calls.lock().expect("calls").push(v);
        std::future::ready(())
    }
}

/// A job remembers the task it ran (no lookup by name per run); registering the name
/// again must still take effect at the job's very next run.
#[tokio::test(start_paused = true)]
async fn registering_a_task_again_takes_effect_at_the_next_run() {
    let h = harness(|b| b);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let version = |v: &'static str| version(&calls, v);
    h.scheduler.register_task("work", version("first"));
    h.scheduler
        .add_named_job(JobSpec::interval(secs(10)).id("w"), "work")
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(25).await; // runs at 10 s and 20 s
    h.scheduler.register_task("work", version("second"));
    sleep(10).await; // 30 s
    h.scheduler.register_task("work", version("third"));
    sleep(10).await; // 40 s
    assert_eq!(
        *calls.lock().unwrap(),
        vec!["first", "first", "second", "third"]
    );
    h.scheduler.shutdown().await.unwrap();
}

/// A closure job added again with `replace_existing` runs its new closure from its very
/// next run (the job value the store keeps may still carry the old one), and a rejected
/// add leaves the running closure in place.
#[tokio::test(start_paused = true)]
async fn a_closure_added_again_takes_effect_at_the_next_run() {
    let h = harness(|b| b);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let version = |v: &'static str| version(&calls, v);
    let spec = JobSpec::interval(secs(10)).id("c");
    h.scheduler
        .add_job(spec.clone(), version("first"))
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(25).await; // runs at 10 s and 20 s
    h.scheduler
        .add_job(spec.clone().replace_existing(true), version("second"))
        .await
        .unwrap();
    sleep(10).await; // 30 s
    let rejected = h.scheduler.add_job(spec.clone(), version("never")).await;
    assert!(rejected.is_err(), "a duplicate id without replace_existing");
    sleep(10).await; // 40 s
    assert_eq!(
        *calls.lock().unwrap(),
        vec!["first", "first", "second", "second"]
    );
    h.scheduler.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn listeners_receive_masked_events_and_lagging_receivers_are_told() {
    let h = harness(|b| b.event_capacity(4));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let _listener = h.scheduler.add_listener(
        EventMask::JOB_EXECUTED | EventMask::JOB_ERROR,
        move |event| log.lock().unwrap().push(event.mask()),
    );
    let mut lagging = h.scheduler.subscribe();
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("ok"), || async {})
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(35).await;
    let masks = seen.lock().unwrap().clone();
    assert_eq!(masks, vec![EventMask::JOB_EXECUTED; 3]);
    assert!(matches!(
        lagging.recv().await,
        Err(broadcast::error::RecvError::Lagged(n)) if n > 0
    ));
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_jobs_are_added_and_run() {
    let h = harness(|b| b);
    let count = Arc::new(AtomicUsize::new(0));
    for i in 0..10_000u64 {
        let count = Arc::clone(&count);
        h.scheduler
            .add_job(
                JobSpec::date(after(T0, 1 + (i % 50) as i64)).id(format!("job-{i}")),
                move || {
                    let count = Arc::clone(&count);
                    async move {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                },
            )
            .await
            .unwrap();
    }
    h.scheduler.start().await.unwrap();
    sleep(60).await;
    assert_eq!(count.load(Ordering::Relaxed), 10_000);
    assert!(h.scheduler.get_jobs().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_idle_scheduler_does_not_wake_up() {
    let h = harness(|b| b.wall_clock_check(secs(3600)));
    h.scheduler.start().await.unwrap();
    sleep(1).await;
    let before = h.scheduler.stats().wakeups;
    sleep(86_400).await; // a day with no job at all
    assert_eq!(h.scheduler.stats().wakeups, before);
    // A job due in ten hours: one wake-up per wall-clock check until then, then its run.
    h.scheduler
        .add_job(JobSpec::interval(secs(36_000)).id("later"), || async {})
        .await
        .unwrap();
    sleep(1).await;
    let added = h.scheduler.stats().wakeups;
    sleep(3 * 3600).await;
    assert_eq!(h.scheduler.stats().wakeups - added, 3);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_duplicate_keeps_the_existing_jobs_task() {
    let mut h = harness(|b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("a"), move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    let duplicate = h
        .scheduler
        .add_job(JobSpec::interval(secs(10)).id("a"), || async {})
        .await;
    assert!(matches!(
        duplicate,
        Err(Error::Core(sched_core::Error::DuplicateJobId(_)))
    ));
    h.scheduler.start().await.unwrap();
    sleep(35).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "the original closure still runs"
    );
    let unrunnable = h
        .drain()
        .iter()
        .filter(|e| matches!(e, Event::JobUnrunnable { .. }))
        .count();
    assert_eq!(unrunnable, 0);
}

#[tokio::test(start_paused = true)]
async fn runs_that_end_while_paused_are_recorded() {
    let h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::interval(secs(10)).id("a"), || async {
            tokio::time::sleep(secs(1)).await;
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await; // the run started at 10 s
    h.scheduler.pause();
    assert_eq!(h.scheduler.store().running("a").await.unwrap(), 1);
    sleep(60).await; // it ended at 11 s
    assert_eq!(h.scheduler.store().running("a").await.unwrap(), 0);
    assert_eq!(h.scheduler.stats().running, 0);
}

#[tokio::test(start_paused = true)]
async fn a_one_off_job_that_ran_is_recorded_without_another_wake_up_due() {
    // Nothing else is scheduled: the loop sleeps without a deadline, and the run's end
    // must still reach the store.
    let h = harness(|b| b);
    h.scheduler
        .add_job(JobSpec::date(after(T0, 5)).id("once"), || async {
            tokio::time::sleep(secs(2)).await;
        })
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(6).await;
    assert_eq!(h.scheduler.stats().running, 1);
    sleep(5).await;
    assert_eq!(h.scheduler.stats().running, 0);
    assert_eq!(h.scheduler.store().running("once").await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_run_queued_past_its_grace_by_the_concurrency_limit_is_missed() {
    let mut h = harness(|b| b.max_concurrency(1));
    // "hog" holds the only slot for 30 s; "quick" (grace 5 s) falls due meanwhile.
    h.scheduler
        .add_job(JobSpec::date(after(T0, 1)).id("hog"), || async {
            tokio::time::sleep(secs(30)).await;
        })
        .await
        .unwrap();
    let quick = JobOptions::default().misfire_grace_time(secs(5));
    h.scheduler
        .add_job(
            JobSpec::date(after(T0, 2)).id("quick").options(quick),
            || async {},
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    sleep(40).await;
    let events = h.drain();
    assert!(executed(&events, "quick").is_empty(), "not run 29 s late");
    let missed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::JobMissed(skip) if &*skip.job_id == "quick" => Some(skip.runs.first),
            _ => None,
        })
        .collect();
    assert_eq!(missed, vec![after(T0, 2)]);
    assert_eq!(h.scheduler.stats().running, 0);
}

/// Claim-ahead: runs are claimed before their time and still start exactly at it,
/// never early; a job still running when its next run enters the horizon is not skipped
/// for `max_instances` (it is decided when due, after the run ended).
#[tokio::test(start_paused = true)]
async fn runs_claimed_ahead_start_at_their_time_and_respect_max_instances() {
    let mut h = harness(|b| b.claim_ahead(Duration::from_millis(500)));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let clock = h.clock.clone();
    let seen = Arc::clone(&starts);
    h.scheduler
        .add_job(
            JobSpec::interval(secs(1)).id("busy"),
            move |ctx: JobContext| {
                let seen = Arc::clone(&seen);
                let clock = clock.clone();
                async move {
                    seen.lock().unwrap().push((ctx.scheduled, clock.now()));
                    // Still running when its next run enters the 500 ms horizon.
                    tokio::time::sleep(Duration::from_millis(800)).await;
                }
            },
        )
        .await
        .unwrap();
    h.scheduler.start().await.unwrap();
    let next = |h: &Harness| {
        let scheduler = h.scheduler.clone();
        async move { scheduler.get_job("busy").await.unwrap().next_run_time }
    };
    // The 1 s run is claimed when it is 437.5 ms (7/8 of the horizon) away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(next(&h).await, Some(after(T0, 1)), "0.5 s: not claimed yet");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        next(&h).await,
        Some(after(T0, 2)),
        "0.7 s: 1 s claimed ahead"
    );
    // The 1 s run lasts until 1.8 s: the 2 s run has no free instance while inside
    // the horizon, so it is decided when due, not skipped.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        next(&h).await,
        Some(after(T0, 2)),
        "1.9 s: 2 s left for later"
    );
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    let events = h.drain();
    let expected: Vec<DateTime<Utc>> = (1..=5).map(|n| after(T0, n)).collect();
    assert_eq!(executed(&events, "busy")[..4], expected[..4]);
    let starts = starts.lock().unwrap().clone();
    assert_eq!(
        starts
            .iter()
            .map(|(scheduled, _)| *scheduled)
            .collect::<Vec<_>>(),
        expected,
        "every run started, none skipped"
    );
    for (scheduled, started) in &starts {
        assert_eq!(started, scheduled, "started exactly at its time, not early");
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::JobMaxInstances(_) | Event::JobMissed(_))),
        "no run skipped"
    );
    h.scheduler.shutdown().await.unwrap();
}

/// Two schedulers sharing one store and one job value (a `MemoryStore` hands out the
/// same `Arc<Job>`): each runs its own task registered under the job's task name,
/// never the task the other cached in the job.
#[tokio::test(start_paused = true)]
async fn schedulers_sharing_a_store_each_run_their_own_task() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let node = |name: &'static str| {
        let clock = TokioClock::starting_at(at(T0));
        let scheduler = Scheduler::builder()
            .store(Arc::clone(&store))
            .clock(clock)
            .wall_clock_check(secs(1))
            .build()
            .unwrap();
        let calls = Arc::clone(&calls);
        scheduler.register_task("work", move || {
            calls.lock().unwrap().push(name);
            async {}
        });
        scheduler
    };
    let (a, b) = (node("a"), node("b"));
    a.add_named_job(JobSpec::interval(secs(10)).id("w"), "work")
        .await
        .unwrap();
    a.start().await.unwrap();
    sleep(15).await; // a runs at 10 s
    a.shutdown().await.unwrap();
    b.start().await.unwrap();
    sleep(10).await; // b runs at 20 s
    b.shutdown().await.unwrap();
    assert_eq!(*calls.lock().unwrap(), vec!["a", "b"]);
}

/// Counts the job futures dropped (ended or aborted).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn runs_started_together_end_wait_or_are_aborted_each_on_their_own() {
    // 300 runs due at one instant start in several groups. A third end at their first
    // poll, a third wait 5 s, a third never end: the waiting ones must go on (in tasks
    // of their own) and the stuck ones must be aborted at shutdown, each run once.
    let mut h = harness(|b| b.shutdown_timeout(secs(2)));
    let dropped = Arc::new(AtomicUsize::new(0));
    let instant_runs = Arc::new(AtomicUsize::new(0));
    for i in 0..300u64 {
        let dropped = Arc::clone(&dropped);
        let instant_runs = Arc::clone(&instant_runs);
        h.scheduler
            .add_job(
                JobSpec::date(after(T0, 10)).id(format!("job-{i}")),
                move || {
                    let guard = DropCount(Arc::clone(&dropped));
                    let instant_runs = Arc::clone(&instant_runs);
                    async move {
                        let _guard = guard;
                        match i % 3 {
                            0 => {
                                instant_runs.fetch_add(1, Ordering::SeqCst);
                            }
                            1 => tokio::time::sleep(secs(5)).await,
                            _ => std::future::pending::<()>().await,
                        }
                    }
                },
            )
            .await
            .unwrap();
    }
    h.scheduler.start().await.unwrap();
    sleep(11).await;
    assert_eq!(instant_runs.load(Ordering::SeqCst), 100);
    let events = h.drain();
    let executed_now = (0..300)
        .filter(|i| !executed(&events, &format!("job-{i}")).is_empty())
        .count();
    assert_eq!(
        executed_now, 100,
        "only the runs that end at once have ended"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 100);

    sleep(5).await;
    let events = h.drain();
    for i in (1..300).step_by(3) {
        assert_eq!(
            executed(&events, &format!("job-{i}")),
            vec![after(T0, 10)],
            "job-{i} waited 5 s, then ended"
        );
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 200);

    let err = h.scheduler.shutdown().await.unwrap_err();
    assert!(matches!(err, Error::ShutdownTimedOut(100)), "{err}");
    // Every stuck run's future is dropped (an aborted task is dropped at the runtime's
    // next turn): its own task was aborted, not just the group it started in.
    sleep(1).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 300);
    for i in (2..300).step_by(3) {
        assert_eq!(
            h.scheduler
                .store()
                .running(&format!("job-{i}"))
                .await
                .unwrap(),
            0
        );
    }
    let events = h.drain();
    assert!(executed(&events, "job-2").is_empty());
    assert_eq!(
        errors(&events, "job-2"),
        vec!["cancelled at shutdown".to_owned()]
    );
}

#[tokio::test(start_paused = true)]
async fn runs_claimed_with_one_this_node_cannot_run_all_start() {
    // Two schedulers with one node id share a store; `b` adds a closure job last, which
    // `a` claims with its own (the node's closure names match) but has no closure for.
    // The runs claimed with it, before it, must still start.
    let store: Arc<dyn JobStore> = Arc::new(MemoryStore::new());
    let node = || {
        Scheduler::builder()
            .store(Arc::clone(&store))
            .clock(TokioClock::starting_at(at(T0)))
            .node_id("same")
            .event_capacity(1024)
            .wall_clock_check(secs(1))
            .build()
            .unwrap()
    };
    let (a, b) = (node(), node());
    let mut events = a.subscribe();
    let count = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        let count = Arc::clone(&count);
        a.add_job(
            JobSpec::date(after(T0, 10)).id(format!("own-{i}")),
            move || {
                count.fetch_add(1, Ordering::SeqCst);
                async {}
            },
        )
        .await
        .unwrap();
    }
    b.add_job(JobSpec::date(after(T0, 10)).id("not-here"), || async {})
        .await
        .unwrap();
    a.start().await.unwrap();
    sleep(11).await;
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let mut unrunnable = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::JobUnrunnable { job_id, .. } = event {
            unrunnable.push(job_id.to_string());
        }
    }
    assert!(
        unrunnable.contains(&"not-here".to_owned()),
        "{unrunnable:?}"
    );
    a.shutdown().await.unwrap();
}
