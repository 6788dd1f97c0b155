//! What the APScheduler tutorial promises, checked the way a new user would write it:
//! zones, run-now on a paused job, modifiers on every spec, what a job prints, and
//! catch-up runs after downtime. On Tokio's paused clock: no test waits for real.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Berlin;
use sched_tokio::prelude::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

/// A scheduler in Berlin whose wall clock follows Tokio's paused clock from `now`.
fn berlin(now: &str) -> Scheduler {
    Scheduler::builder()
        .clock(TokioClock::starting_at(at(now)))
        .timezone(Berlin)
        .build()
        .expect("valid builder")
}

#[tokio::test(start_paused = true)]
async fn a_zone_the_user_set_wins_over_the_schedulers_default() {
    let scheduler = berlin("2026-01-05T00:00:00Z");
    let noop = || async {};
    // No zone on the trigger: the scheduler's (Berlin, UTC+1 in January).
    let id = scheduler
        .add_job(JobSpec::cron("0 8 * * *").unwrap().id("berlin"), noop)
        .await
        .unwrap();
    assert_eq!(
        scheduler.get_job(&id).await.unwrap().next_run_time,
        Some(at("2026-01-05T07:00:00Z"))
    );
    // UTC set on the trigger: 08:00 UTC, not moved to Berlin.
    let utc = Trigger::cron("0 8 * * *").unwrap().timezone(chrono_tz::UTC);
    let id = scheduler
        .add_job(JobSpec::new(utc).id("utc"), noop)
        .await
        .unwrap();
    let job = scheduler.get_job(&id).await.unwrap();
    assert_eq!(job.next_run_time, Some(at("2026-01-05T08:00:00Z")));
    assert_eq!(job.trigger.zone(), chrono_tz::UTC);
    // The spec's own zone wins over both.
    let sydney = Trigger::cron("0 8 * * *").unwrap().timezone(chrono_tz::UTC);
    let id = scheduler
        .add_job(
            JobSpec::new(sydney)
                .id("sydney")
                .timezone(chrono_tz::Australia::Sydney),
            noop,
        )
        .await
        .unwrap();
    assert_eq!(
        scheduler.get_job(&id).await.unwrap().next_run_time,
        Some(at("2026-01-05T21:00:00Z")),
        "08:00 in Sydney (UTC+11) on 6 January"
    );
}

#[tokio::test(start_paused = true)]
async fn and_or_children_without_a_zone_take_the_combinations() {
    let scheduler = berlin("2026-01-05T00:00:00Z");
    let noop = || async {};
    // Either 06:00 or 18:00, no zone anywhere: both children in Berlin.
    let either = Trigger::or(vec![
        Trigger::cron("0 6 * * *").unwrap(),
        Trigger::cron("0 18 * * *").unwrap(),
    ]);
    let id = scheduler
        .add_job(JobSpec::new(either).id("either"), noop)
        .await
        .unwrap();
    let job = scheduler.get_job(&id).await.unwrap();
    assert_eq!(job.next_run_time, Some(at("2026-01-05T05:00:00Z")));
    let after = job.next_fire_after(at("2026-01-05T05:00:00Z"));
    assert_eq!(after, Some(at("2026-01-05T17:00:00Z")));
    // A child with its own zone keeps it.
    let mixed = Trigger::or(vec![
        Trigger::cron("0 6 * * *").unwrap().timezone(chrono_tz::UTC),
        Trigger::cron("0 18 * * *").unwrap(),
    ])
    .timezone(Berlin);
    let job = Job::new("mixed", "t", mixed)
        .schedule(at("2026-01-05T00:00:00Z"))
        .unwrap();
    assert_eq!(
        job.next_run_time,
        Some(at("2026-01-05T06:00:00Z")),
        "06:00 UTC"
    );
    let after = job.next_fire_after(at("2026-01-05T06:00:00Z"));
    assert_eq!(after, Some(at("2026-01-05T17:00:00Z")), "18:00 Berlin");
    // An `and` passes its zone down as well: weekdays at 08:00 Berlin, both in Berlin.
    let weekday_eight = Trigger::and(vec![
        Trigger::cron("0 8 * * *").unwrap(),
        Trigger::cron("0 * * * mon-fri").unwrap(),
    ])
    .timezone(Berlin);
    assert_eq!(
        weekday_eight.next_after(at("2026-01-09T08:00:00Z")),
        Some(at("2026-01-12T07:00:00Z")),
        "Friday 9 January 08:00 Berlin has passed: Monday 12 January"
    );
}

#[tokio::test(start_paused = true)]
async fn modifiers_apply_to_a_date_string_too() {
    let scheduler = berlin("2026-01-05T00:00:00Z");
    let noop = || async {};
    let spec = JobSpec::date_str("2026-01-05 10:00:00")
        .id("reminder")
        .jitter(Duration::from_secs(60))
        .start(at("2026-01-05T08:00:00Z"))
        .end(at("2026-01-05T12:00:00Z"));
    let id = scheduler.add_job(spec, noop).await.unwrap();
    let job = scheduler.get_job(&id).await.unwrap();
    assert_eq!(job.trigger.jitter, Some(Duration::from_secs(60)));
    assert_eq!(job.trigger.start, Some(at("2026-01-05T08:00:00Z")));
    assert_eq!(job.trigger.end, Some(at("2026-01-05T12:00:00Z")));
    let first = job.next_run_time.expect("scheduled");
    assert!(
        first >= at("2026-01-05T09:00:00Z") && first < at("2026-01-05T09:01:00Z"),
        "10:00 Berlin plus under a minute of jitter: {first}"
    );
    // An end before the date: the job never runs (it is not silently kept as it was).
    let ended = JobSpec::date_str("2026-01-05 10:00:00")
        .id("too_late")
        .end(at("2026-01-05T08:00:00Z"));
    let id = scheduler.add_job(ended, noop).await.unwrap();
    assert_eq!(scheduler.get_job(&id).await.unwrap().next_run_time, None);
}

async fn hourly_sync() {}

#[tokio::test(start_paused = true)]
async fn a_job_prints_as_the_tutorial_shows_and_is_named_after_its_function() {
    let scheduler = berlin("2026-01-05T10:00:00Z");
    let id = scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(3600)).id("db_sync"),
            hourly_sync,
        )
        .await
        .unwrap();
    let job = scheduler.get_job(&id).await.unwrap();
    assert_eq!(
        job.name, "hourly_sync",
        "named after the function, as APScheduler does"
    );
    assert_eq!(
        job.to_string(),
        "<Job (id=db_sync name=hourly_sync next_run_time=2026-01-05 11:00:00 UTC)>"
    );
    // A closure keeps the generated name (its id); a name given wins.
    let id = scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(60)).id("tick"),
            || async {},
        )
        .await
        .unwrap();
    assert_eq!(scheduler.get_job(&id).await.unwrap().name, "tick");
    let id = scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(60))
                .id("named")
                .name("Nightly"),
            hourly_sync,
        )
        .await
        .unwrap();
    let job = scheduler.pause_job(&id).await.unwrap();
    assert_eq!(
        job.to_string(),
        "<Job (id=named name=Nightly next_run_time=2026-01-05 10:01:00 UTC paused)>"
    );
}

/// Runs missed while nobody ran the job, without coalescing: each runs, in order, one at
/// a time (one instance), and one whose grace ran out while it waited its turn is missed.
#[tokio::test(start_paused = true)]
async fn a_backlog_without_coalesce_runs_in_order_each_within_its_grace() {
    use std::sync::{Arc, Mutex};

    let clock = TokioClock::starting_at(at("2026-01-05T00:00:00Z"));
    let scheduler = Scheduler::builder()
        .clock(clock.clone())
        .event_capacity(1 << 12)
        .build()
        .unwrap();
    let mut events = scheduler.subscribe();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&ran);
    let clock_in_job = clock.clone();
    let options = JobOptions::default()
        .coalesce(false)
        .misfire_grace_time(Duration::from_secs(25 * 60));
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(600))
                .id("report")
                .options(options),
            move |ctx: JobContext| {
                let (log, clock) = (Arc::clone(&log), clock_in_job.clone());
                async move {
                    let started = sched_tokio::sched_core::clock::Clock::now(&clock);
                    // Each run takes 20 minutes.
                    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
                    log.lock().unwrap().push((ctx.scheduled, started));
                }
            },
        )
        .await
        .unwrap();
    // Down from before the first run (00:10) until 01:15: wall time jumps ahead.
    clock.jump(Duration::from_secs(75 * 60), true);
    scheduler.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    // A 20-minute run every 10 minutes is always going: stop without waiting for it.
    scheduler.shutdown_now().await.unwrap();

    let min = |m: i64| at("2026-01-05T00:00:00Z") + chrono::Duration::minutes(m);
    // 00:10..00:40 were past their 25 minutes of grace at 01:15; 00:50 ran at 01:15
    // (until 01:35); 01:00 waited its turn until 01:35, past its grace (01:25): missed;
    // 01:10 started at 01:35, the end of its grace, in time. Then the schedule goes on.
    let ran = ran.lock().unwrap().clone();
    assert_eq!(
        &ran[..2],
        &[(min(50), min(75)), (min(70), min(95))],
        "{ran:?}"
    );
    let mut missed = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::JobMissed(skip) = event {
            missed.push((skip.runs.first, skip.runs.count));
        }
    }
    assert_eq!(missed[..2], [(min(10), 4), (min(60), 1)], "{missed:?}");
}

/// "Run now" on a paused job runs it once, now, and leaves it paused; its schedule is
/// untouched, and at its limit a run-now is skipped with an event, not queued.
#[tokio::test(start_paused = true)]
async fn run_now_runs_a_paused_job_once_and_leaves_it_paused() {
    let scheduler = berlin("2026-01-05T10:00:00Z");
    let mut events = scheduler.subscribe();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(3600)).id("report"),
            || tokio::time::sleep(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    scheduler.pause_job("report").await.unwrap();
    scheduler.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let job = scheduler.run_job_now("report").await.unwrap();
    assert!(job.paused);
    assert_eq!(job.next_run_time, Some(at("2026-01-05T11:00:00Z")));
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Still running (60 s): a second run-now finds its one instance taken.
    scheduler.run_job_now("report").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await; // paused through 11:00, 12:00
    let job = scheduler.get_job("report").await.unwrap();
    assert!(job.paused, "still paused");
    let (mut executed, mut skipped) = (Vec::new(), Vec::new());
    while let Ok(event) = events.try_recv() {
        match event {
            Event::JobExecuted(run) => executed.push(run.scheduled),
            Event::JobMaxInstances(skip) => skipped.push(skip.runs.first),
            _ => {}
        }
    }
    assert_eq!(executed, vec![at("2026-01-05T10:00:05Z")], "once, now");
    assert_eq!(skipped, vec![at("2026-01-05T10:00:15Z")]);
    // Resumed: nothing runs twice or out of turn; the schedule goes on.
    scheduler.resume_job("report").await.unwrap();
    let job = scheduler.get_job("report").await.unwrap();
    assert_eq!(job.next_run_time, Some(at("2026-01-05T13:00:00Z")));
    scheduler.shutdown().await.unwrap();
    // Before start, a paused job cannot run now: it says so.
    let idle = berlin("2026-01-05T10:00:00Z");
    idle.add_job(
        JobSpec::interval(Duration::from_secs(60))
            .id("p")
            .paused(true),
        || async {},
    )
    .await
    .unwrap();
    assert!(matches!(
        idle.run_job_now("p").await,
        Err(sched_tokio::Error::NotRunning)
    ));
}
