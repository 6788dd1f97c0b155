//! Nothing accepted that cannot be kept: what `add_job` (and the builder, and
//! `reschedule_job`/`modify_job`) refuse with a typed error instead of accepting and
//! failing later — arguments or triggers nested deeper than a store reads back, an
//! interval or a jitter whose first run time does not exist, a jitter wider than its
//! interval, a zero interval, `max_concurrency(0)` — each with its message; what is
//! allowed at the boundary runs; and no setting, however extreme, panics.
//!
//! On Tokio's paused clock with a `TokioClock`: no test waits for real.

#![allow(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::job::{Nested, MAX_JSON_DEPTH};
use sched_tokio::prelude::*;
use sched_tokio::{Error, RunEvent};
use serde_json::{json, Value};
use tokio::sync::broadcast;

const T0: &str = "2026-03-02T00:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn after(seconds: i64) -> DateTime<Utc> {
    at(T0) + chrono::Duration::seconds(seconds)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn scheduler(builder: impl FnOnce(SchedulerBuilder) -> SchedulerBuilder) -> Scheduler {
    builder(
        Scheduler::builder()
            .clock(TokioClock::starting_at(at(T0)))
            .event_capacity(1 << 16)
            .wall_clock_check(secs(1)),
    )
    .build()
    .expect("valid builder")
}

fn drain(events: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push(event);
    }
    out
}

fn executed(events: &[Event], job: &str) -> Vec<DateTime<Utc>> {
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

fn missed(events: &[Event], job: &str) -> u64 {
    events
        .iter()
        .map(|e| match e {
            Event::JobMissed(skip) if &*skip.job_id == job => skip.runs.count,
            _ => 0,
        })
        .sum()
}

/// The core error inside a scheduler error, its message checked against the house
/// style (lower-case, no trailing period).
fn core(error: Error) -> (sched_core::Error, String) {
    let message = error.to_string();
    assert!(
        message.starts_with(|c: char| !c.is_uppercase()),
        "{message}"
    );
    assert!(!message.ends_with('.'), "{message}");
    match error {
        Error::Core(core) => (core, message),
        other => panic!("expected a sched_core error, got {other:?}"),
    }
}

/// `{"a": {"a": ... 1}}`: `depth` objects around a number.
fn objects(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// `and(and(... cron))`: `levels` combinations around a cron trigger.
fn nested_ands(levels: usize) -> Trigger {
    let leaf = Trigger::cron("* * * * *").expect("valid cron");
    (0..levels).fold(leaf, |inner, _| Trigger::and([inner]))
}

async fn nothing() {}

#[tokio::test(start_paused = true)]
async fn args_deeper_than_a_store_reads_back_are_refused_at_add_job() {
    let s = scheduler(|b| b);
    let deepest = Arc::new(Mutex::new(None::<Value>));
    let seen = Arc::clone(&deepest);
    s.register_task("deep", move |ctx: JobContext| {
        let seen = Arc::clone(&seen);
        async move {
            let args: Value = ctx.args().map_err(|e| e.to_string())?;
            *seen.lock().expect("not poisoned") = Some(args);
            Ok::<(), String>(())
        }
    });
    let spec = |depth| {
        JobSpec::date(after(1))
            .id("deep")
            .args(&objects(depth))
            .expect("serialisable")
    };
    // One level more than the limit: refused, naming depth and limit, nothing stored.
    let error = s
        .add_named_job(spec(MAX_JSON_DEPTH + 1), "deep")
        .await
        .expect_err("too deep");
    let (error, message) = core(error);
    assert!(
        matches!(
            error,
            sched_core::Error::NestedTooDeep {
                what: Nested::Args,
                depth: 128,
                limit: 127
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        message,
        "too deeply nested job arguments: 128 levels of JSON arrays and objects, more than \
         the 127 a store can read back; flatten them, or pass a key to data kept elsewhere"
    );
    assert!(s.get_jobs().await.expect("listed").is_empty());
    // A closure's job too.
    let error = s
        .add_job(spec(MAX_JSON_DEPTH + 1).id("closure"), nothing)
        .await
        .expect_err("too deep");
    assert!(matches!(
        core(error).0,
        sched_core::Error::NestedTooDeep { .. }
    ));
    // At the limit: accepted, and the task gets the arguments as written.
    s.add_named_job(spec(MAX_JSON_DEPTH), "deep")
        .await
        .expect("the limit is accepted");
    s.start().await.expect("starts");
    tokio::time::sleep(secs(2)).await;
    assert_eq!(
        deepest.lock().expect("not poisoned").take(),
        Some(objects(MAX_JSON_DEPTH))
    );
    // Changing a job's arguments to deeper ones is refused as well.
    s.add_named_job(JobSpec::interval(secs(60)).id("later"), "deep")
        .await
        .expect("added");
    let error = s
        .modify_job("later", |job| job.args = objects(MAX_JSON_DEPTH + 1))
        .await
        .expect_err("too deep");
    assert!(matches!(
        core(error).0,
        sched_core::Error::NestedTooDeep { .. }
    ));
    let kept = s.get_job("later").await.expect("still there");
    assert_eq!(kept.args, Value::Null, "unchanged");
    s.shutdown().await.expect("shuts down");
}

#[tokio::test(start_paused = true)]
async fn a_trigger_deeper_than_a_store_reads_back_is_refused_at_add_job() {
    let s = scheduler(|b| b);
    let levels = (MAX_JSON_DEPTH - 1) / 2;
    let error = s
        .add_job(JobSpec::new(nested_ands(levels + 1)).id("deep"), nothing)
        .await
        .expect_err("too deep");
    let (error, message) = core(error);
    assert!(
        matches!(
            error,
            sched_core::Error::NestedTooDeep {
                what: Nested::Trigger,
                depth: 129,
                limit: 127
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        message,
        "too deeply nested trigger: 129 levels of JSON arrays and objects, more than the 127 \
         a store can read back; nest fewer and/or combinations inside each other"
    );
    s.add_job(JobSpec::new(nested_ands(levels)).id("deepest"), nothing)
        .await
        .expect("the limit is accepted");
    let error = s
        .reschedule_job("deepest", nested_ands(levels + 1))
        .await
        .expect_err("too deep");
    assert!(matches!(
        core(error).0,
        sched_core::Error::NestedTooDeep { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_zero_interval_is_refused() {
    let s = scheduler(|b| b);
    let error = s
        .add_job(JobSpec::interval(Duration::ZERO).id("busy"), nothing)
        .await
        .expect_err("zero");
    let (error, message) = core(error);
    assert!(
        matches!(error, sched_core::Error::InvalidInterval(_)),
        "{error:?}"
    );
    assert_eq!(
        message,
        "invalid interval: an interval of zero length would fire forever, back to back: use \
         a period of at least 1ns"
    );
    // Nor can a job be rescheduled onto one; it keeps its trigger.
    s.add_job(JobSpec::interval(secs(60)).id("tick"), nothing)
        .await
        .expect("added");
    let before = s.get_job("tick").await.expect("there");
    let error = s
        .reschedule_job("tick", Trigger::interval(Duration::ZERO))
        .await
        .expect_err("zero");
    assert!(matches!(
        core(error).0,
        sched_core::Error::InvalidInterval(_)
    ));
    assert_eq!(s.get_job("tick").await.expect("there"), before);
    // Nor replaced by one.
    let error = s
        .add_job(
            JobSpec::interval(Duration::ZERO)
                .id("tick")
                .replace_existing(true),
            nothing,
        )
        .await
        .expect_err("zero");
    assert!(matches!(
        core(error).0,
        sched_core::Error::InvalidInterval(_)
    ));
    assert_eq!(s.get_job("tick").await.expect("there"), before);
}

#[tokio::test(start_paused = true)]
async fn an_interval_whose_first_run_does_not_exist_is_refused() {
    let s = scheduler(|b| b);
    for every in [Duration::MAX, secs(u64::MAX)] {
        let error = s
            .add_job(JobSpec::interval(every).id("forever"), nothing)
            .await
            .expect_err("too long");
        let (error, message) = core(error);
        assert!(
            matches!(error, sched_core::Error::InvalidInterval(_)),
            "{error:?}"
        );
        assert_eq!(
            message,
            format!(
                "invalid interval: {every:?} is longer than a date-time can hold (at most \
                 9223372036854775.807s): use a shorter interval"
            )
        );
    }
    // A span chrono holds, but now plus it is no date.
    let error = s
        .add_job(
            JobSpec::interval(secs(1_000_000_000_000_000)).id("eons"),
            nothing,
        )
        .await
        .expect_err("no first run");
    let (error, message) = core(error);
    assert!(matches!(error, sched_core::Error::InvalidInterval(_)));
    assert_eq!(
        message,
        "invalid interval: with a period of 1000000000000000s the first run after \
         2026-03-02 00:00:00 UTC would lie past the last instant a date-time can hold \
         (+262142-12-31 23:59:59.999999999 UTC): use a shorter interval"
    );
    assert!(s.get_jobs().await.expect("listed").is_empty());
}

#[tokio::test(start_paused = true)]
async fn jitter_wider_than_the_interval_is_refused() {
    let s = scheduler(|b| b);
    let error = s
        .add_job(
            JobSpec::interval(secs(1)).id("wide").jitter(secs(10)),
            nothing,
        )
        .await
        .expect_err("wider than the interval");
    let (error, message) = core(error);
    assert!(
        matches!(error, sched_core::Error::InvalidJitter { jitter, .. } if jitter == secs(10)),
        "{error:?}"
    );
    assert_eq!(
        message,
        "invalid jitter 10s: wider than the interval (1s), so a run moved late could fall \
         after the next one, which would then be dropped: use a jitter of at most the interval"
    );
    assert!(s.get_jobs().await.expect("listed").is_empty());
}

#[tokio::test(start_paused = true)]
async fn jitter_as_wide_as_the_interval_runs_every_time() {
    let s = scheduler(|b| b);
    let mut events = s.subscribe();
    s.add_job(
        JobSpec::interval(secs(1))
            .id("spread")
            .start(after(1))
            .end(after(60))
            .jitter(secs(1)),
        nothing,
    )
    .await
    .expect("jitter == interval is allowed");
    s.start().await.expect("starts");
    tokio::time::sleep(secs(65)).await;
    let runs = executed(&drain(&mut events), "spread");
    assert_eq!(runs.len(), 60, "one run per second, none dropped: {runs:?}");
    assert!(runs.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(runs.first().is_some_and(|first| *first >= after(1)));
    s.shutdown().await.expect("shuts down");
}

#[tokio::test(start_paused = true)]
async fn jitter_whose_first_run_does_not_exist_is_refused() {
    let s = scheduler(|b| b);
    for jitter in [Duration::MAX, secs(u64::MAX)] {
        let error = s
            .add_job(
                JobSpec::cron("0 * * * *")
                    .expect("valid cron")
                    .id("drift")
                    .jitter(jitter),
                nothing,
            )
            .await
            .expect_err("too long");
        let (error, message) = core(error);
        assert!(
            matches!(error, sched_core::Error::InvalidJitter { jitter: j, .. } if j == jitter),
            "{error:?}"
        );
        assert_eq!(
            message,
            format!(
                "invalid jitter {jitter:?}: longer than the longest jitter \
                 (9223372036.854775807s, about 292 years: offsets are counted in 64-bit \
                 nanoseconds): use a shorter jitter"
            )
        );
    }
    let last = DateTime::<Utc>::MAX_UTC - chrono::Duration::hours(1);
    let error = s
        .add_job(JobSpec::date(last).id("end").jitter(secs(7_200)), nothing)
        .await
        .expect_err("past the range");
    let (error, message) = core(error);
    assert!(matches!(error, sched_core::Error::InvalidJitter { .. }));
    assert_eq!(
        message,
        "invalid jitter 7200s: it could move the first run (+262142-12-31 22:59:59.999999999 \
         UTC) past the last instant a date-time can hold (+262142-12-31 23:59:59.999999999 \
         UTC): use a jitter of at most 3600s"
    );
}

#[tokio::test(start_paused = true)]
async fn bounds_dates_and_cron_years_out_of_range_are_refused() {
    let s = scheduler(|b| b);
    let error = s
        .add_job(
            JobSpec::interval(secs(60))
                .id("inverted")
                .start(after(7_200))
                .end(after(3_600)),
            nothing,
        )
        .await
        .expect_err("end before start");
    let (error, message) = core(error);
    assert!(matches!(error, sched_core::Error::EndBeforeStart { .. }));
    assert_eq!(
        message,
        "end 2026-03-02 01:00:00 UTC lies before start 2026-03-02 02:00:00 UTC"
    );
    let error = s
        .add_job(JobSpec::date_str("+300000-01-01").id("far"), nothing)
        .await
        .expect_err("no such date");
    let (error, message) = core(error);
    assert!(matches!(error, sched_core::Error::InvalidDateTime { .. }));
    assert_eq!(
        message,
        "invalid date-time \"+300000-01-01\": expected RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]]"
    );
    let error = JobSpec::cron_fields(&CronFields::new().year("5000")).expect_err("beyond 4999");
    let (error, message) = core(error);
    assert!(matches!(
        error,
        sched_core::Error::InvalidCronField { field: "year", .. }
    ));
    assert_eq!(
        message,
        "invalid cron field year=\"5000\": year 5000 out of range 1-4999"
    );
    let error = s
        .add_job(JobSpec::date(DateTime::<Utc>::MIN_UTC).id("first"), nothing)
        .await
        .expect_err("never comes");
    assert!(matches!(
        core(error).0,
        sched_core::Error::InvalidDateTime { .. }
    ));
    assert!(s.get_jobs().await.expect("listed").is_empty());
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_zero_is_refused_when_built() {
    let error = Scheduler::builder()
        .max_concurrency(0)
        .build()
        .expect_err("no slot at all");
    let (error, message) = core(error);
    assert!(
        matches!(
            error,
            sched_core::Error::InvalidConfiguration {
                setting: "max_concurrency",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        message,
        "invalid configuration: max_concurrency = 0: at least 1: with none no job would ever run"
    );
}

/// With the one slot taken by a run that never ends and another run waiting for it,
/// shutdown still returns at its timeout: a wait for a slot never blocks it.
#[tokio::test(start_paused = true)]
async fn shutdown_does_not_block_on_runs_waiting_for_a_slot() {
    let s = scheduler(|b| b.max_concurrency(1).shutdown_timeout(secs(2)));
    s.add_job(JobSpec::date(after(1)).id("hog"), || {
        std::future::pending::<()>()
    })
    .await
    .expect("added");
    s.add_job(JobSpec::date(after(2)).id("waiting"), nothing)
        .await
        .expect("added");
    s.start().await.expect("starts");
    tokio::time::sleep(secs(5)).await;
    let shutdown = tokio::time::timeout(secs(60), s.shutdown()).await;
    let result = shutdown.expect("shutdown returns within its timeout");
    assert!(
        matches!(result, Err(Error::ShutdownTimedOut(_))),
        "{result:?}"
    );
    assert_eq!(s.stats().running, 0);
}

/// A grace of zero is allowed: a run started exactly on time runs, one that starts
/// even a little late (here: waiting for the only slot) is missed.
#[tokio::test(start_paused = true)]
async fn a_zero_grace_runs_only_what_starts_on_time() {
    let s = scheduler(|b| b.max_concurrency(1));
    let mut events = s.subscribe();
    let on_time = JobOptions::default().misfire_grace_time(Duration::ZERO);
    s.add_job(
        JobSpec::interval(secs(10))
            .id("strict")
            .options(on_time.clone()),
        nothing,
    )
    .await
    .expect("a zero grace is allowed");
    s.start().await.expect("starts");
    tokio::time::sleep(secs(25)).await;
    let events_so_far = drain(&mut events);
    assert_eq!(
        executed(&events_so_far, "strict"),
        vec![after(10), after(20)],
        "on Tokio's paused clock the timer fires exactly on time"
    );
    // A run that holds the only slot makes the next one start late: missed.
    s.add_job(JobSpec::date(after(29)).id("hog"), || async {
        tokio::time::sleep(secs(3)).await;
    })
    .await
    .expect("added");
    tokio::time::sleep(secs(10)).await;
    let later = drain(&mut events);
    assert!(
        !executed(&later, "strict").contains(&after(30)),
        "30 s was late"
    );
    assert!(missed(&later, "strict") >= 1);
    s.shutdown().await.expect("shuts down");
}

/// A builder method taking a duration.
type Setting = fn(SchedulerBuilder, Duration) -> SchedulerBuilder;

/// Extreme options that are allowed (an endless grace or timeout) run, and extreme
/// builder settings are refused with a typed error or work: never a panic.
#[tokio::test(start_paused = true)]
async fn extreme_options_run_and_extreme_settings_never_panic() {
    let s = scheduler(|b| b);
    let mut events = s.subscribe();
    let runs = Arc::new(AtomicUsize::new(0));
    for (id, options) in [
        (
            "endless_grace",
            JobOptions::default().misfire_grace_time(Duration::MAX),
        ),
        (
            "endless_timeout",
            JobOptions::default().timeout(Duration::MAX),
        ),
        (
            "nanosecond_timeout",
            JobOptions::default().timeout(Duration::from_nanos(1)),
        ),
    ] {
        let runs = Arc::clone(&runs);
        s.add_job(JobSpec::date(after(1)).id(id).options(options), move || {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .expect("allowed");
    }
    s.start().await.expect("starts");
    tokio::time::sleep(secs(3)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let events = drain(&mut events);
    assert_eq!(executed(&events, "endless_grace"), vec![after(1)]);
    assert_eq!(executed(&events, "endless_timeout"), vec![after(1)]);
    s.shutdown().await.expect("shuts down");

    let extremes = [
        Duration::ZERO,
        Duration::from_nanos(1),
        secs(1),
        secs(100 * 365 * 86_400),
        secs(100 * 365 * 86_400 + 1),
        secs(u64::MAX),
        Duration::MAX,
    ];
    // A timer `now + wait` must exist: waits beyond 100 years are refused at build.
    for d in [secs(u64::MAX), Duration::MAX] {
        for builder in [
            Scheduler::builder().shutdown_timeout(d),
            Scheduler::builder().wall_clock_check(d),
            Scheduler::builder().lease(d),
        ] {
            let (error, message) = core(builder.build().expect_err("too long"));
            assert!(matches!(
                error,
                sched_core::Error::InvalidConfiguration { .. }
            ));
            assert!(
                message.ends_with(
                    "at most 100 years (3153600000s), the longest a timer is set for \
                     (to wait for ever, use a long one)"
                ),
                "{message}"
            );
        }
    }
    for d in extremes {
        let settings: [(&str, Setting); 6] = [
            ("shutdown_timeout", SchedulerBuilder::shutdown_timeout),
            ("wall_clock_check", SchedulerBuilder::wall_clock_check),
            ("lease", SchedulerBuilder::lease),
            ("heartbeat_interval", SchedulerBuilder::heartbeat_interval),
            ("claim_ahead", SchedulerBuilder::claim_ahead),
            ("job_defaults", |b, d| {
                b.job_defaults(JobOptions::default().misfire_grace_time(d).timeout(d))
            }),
        ];
        for (name, set) in settings {
            let built = set(
                Scheduler::builder().clock(TokioClock::starting_at(at(T0))),
                d,
            )
            .build();
            let s = match built {
                Ok(s) => s,
                Err(error) => {
                    let (error, _) = core(error);
                    assert!(
                        matches!(
                            error,
                            sched_core::Error::InvalidConfiguration { .. }
                                | sched_core::Error::InvalidOptions(_)
                        ),
                        "{name} = {d:?}: {error:?}"
                    );
                    continue;
                }
            };
            s.add_job(JobSpec::interval(secs(1)).id("tick"), || async {
                tokio::time::sleep(secs(1)).await;
            })
            .await
            .expect("added");
            s.start().await.expect("starts");
            tokio::time::sleep(secs(3)).await;
            let _ = tokio::time::timeout(secs(3_600), s.shutdown())
                .await
                .unwrap_or_else(|_| panic!("{name} = {d:?}: shutdown returns"));
        }
    }
}
