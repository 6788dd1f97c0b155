//! A scheduler on a SQLite file stops; wall time moves past several fire times; a new
//! scheduler on the same file catches up as each job's misfire and coalesce options
//! say. Jobs keep their args, trigger, options and paused flag; re-adding them at
//! start with `replace_existing` does not duplicate them, and keeps their schedule; a run left `running` by a
//! killed process is reported abandoned by the next one (and run again if asked).
//!
//! Wall time is a `ManualClock`; the Tokio clock is real (sqlx's SQLite I/O runs on a
//! thread of its own, which Tokio's paused clock does not wait for). Waits are for
//! events, bounded, and take milliseconds.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::SqliteStore;
use sched_tokio::prelude::*;
use sched_tokio::sched_core;
use tokio::sync::broadcast;

/// A SQLite file in a directory of its own, removed at the end.
struct TempDb {
    dir: PathBuf,
    url: String,
}

impl TempDb {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sched-restart-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
        Self { dir, url }
    }

    /// Rows in `jobs`, read with a connection of our own (the store must be closed).
    async fn job_ids(&self) -> Vec<String> {
        let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
        let ids = sqlx::query_scalar("SELECT id FROM jobs ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        ids
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn t0() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn hours(h: f64) -> chrono::Duration {
    chrono::Duration::seconds((h * 3600.0) as i64)
}

const HOUR: Duration = Duration::from_secs(3600);

/// One process: a store on the file and a scheduler on the manual clock, with the
/// task `tick` registered (and `hang`, which never ends).
struct Process {
    store: SqliteStore,
    scheduler: Scheduler,
    events: broadcast::Receiver<Event>,
    seen: Vec<Event>,
}

impl Process {
    async fn open(db: &TempDb, clock: &ManualClock) -> Self {
        let store = connect(&db.url).await;
        let scheduler = Scheduler::builder()
            .store(Arc::new(store.clone()))
            .clock(clock.clone())
            // The manual clock moves without waking the runtime: look at it often.
            .wall_clock_check(Duration::from_millis(5))
            .shutdown_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        scheduler.register_task("tick", || async {});
        scheduler.register_task("hang", std::future::pending::<()>);
        let events = scheduler.subscribe();
        Self {
            store,
            scheduler,
            events,
            seen: Vec::new(),
        }
    }

    /// Collects events until `done` holds for them (at most 10 s).
    async fn until(&mut self, what: &str, done: impl Fn(&[Event]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(event)) => self.seen.push(event),
                Ok(Err(error)) => panic!("event stream: {error}"),
                Err(_) => panic!("timed out waiting for {what}; events: {:#?}", self.seen),
            }
        }
    }

    /// Collects whatever else arrives within 100 ms (a duplicate would show here).
    async fn settle(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            self.seen.push(event);
        }
    }

    async fn stop(mut self) -> Vec<Event> {
        self.settle().await;
        match self.scheduler.shutdown().await {
            Ok(()) | Err(sched_tokio::Error::NotRunning) => {}
            Err(error) => panic!("shutdown: {error}"),
        }
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
        self.store.close().await;
        self.seen
    }
}

/// Opens the file, retrying briefly while a process that just went away still holds it.
async fn connect(url: &str) -> SqliteStore {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match SqliteStore::connect(url).await {
            Ok(store) => return store,
            Err(error) if std::time::Instant::now() < deadline => {
                eprintln!("retrying open: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("open {url}: {error}"),
        }
    }
}

fn executed(events: &[Event], job: &str) -> Vec<DateTime<Utc>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobExecuted(run) if &*run.job_id == job => Some(run.scheduled),
            _ => None,
        })
        .collect()
}

fn skips(events: &[Event]) -> Vec<(&'static str, sched_core::policy::Skipped)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobMissed(s) => Some(("missed", s.runs)),
            Event::JobCoalesced(s) => Some(("coalesced", s.runs)),
            Event::JobMaxInstances(s) => Some(("max_instances", s.runs)),
            _ => None,
        })
        .collect()
}

fn store_errors(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StoreError { error } => Some(error.as_str()),
            _ => None,
        })
        .collect()
}

/// An hourly job `sync` (added at t0, first fire t0+1h) runs once in a first process;
/// the process stops; wall time moves to t0+6h30 (fire times 2h..6h pass unseen); a
/// second process opens the file. Returns the second process's events and the job as
/// stored afterwards.
async fn restart_after_downtime(options: JobOptions) -> (Vec<Event>, Job) {
    let db = TempDb::new("downtime");
    let clock = ManualClock::new(t0());
    let mut first = Process::open(&db, &clock).await;
    first
        .scheduler
        .add_named_job(JobSpec::interval(HOUR).id("sync").options(options), "tick")
        .await
        .unwrap();
    first.scheduler.start().await.unwrap();
    clock.set(t0() + hours(1.0));
    first
        .until("the first run", |e| executed(e, "sync").len() == 1)
        .await;
    let seen = first.stop().await;
    assert_eq!(executed(&seen, "sync"), vec![t0() + hours(1.0)]);

    clock.set(t0() + hours(6.5));
    let mut second = Process::open(&db, &clock).await;
    second.scheduler.start().await.unwrap();
    // Whatever the policy, the claim ends with the job due at 7h; wait for the
    // decision's events, then for the runs it started.
    second
        .until("the catch-up decision", |e| {
            e.iter().any(|e| {
                matches!(
                    e,
                    Event::JobSubmitted(_) | Event::JobMissed(_) | Event::JobCoalesced(_)
                )
            })
        })
        .await;
    second
        .until("the started runs to end", |e| {
            let submitted = e
                .iter()
                .filter(|e| matches!(e, Event::JobSubmitted(_)))
                .count();
            executed(e, "sync").len() == submitted
        })
        .await;
    let job = second.scheduler.get_job("sync").await.unwrap();
    let seen = second.stop().await;
    assert!(store_errors(&seen).is_empty(), "{seen:#?}");
    (seen, job)
}

#[tokio::test]
async fn coalesce_runs_the_missed_runs_once() {
    let (seen, job) = restart_after_downtime(JobOptions::default().coalesce(true)).await;
    assert_eq!(
        executed(&seen, "sync"),
        vec![t0() + hours(6.0)],
        "one catch-up run, the newest"
    );
    let skipped = skips(&seen);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let (kind, runs) = skipped[0];
    assert_eq!(kind, "coalesced");
    assert_eq!(
        (runs.first, runs.last, runs.count, runs.more),
        (t0() + hours(2.0), t0() + hours(5.0), 4, false)
    );
    assert_eq!(job.next_run_time, Some(t0() + hours(7.0)));
}

#[tokio::test]
async fn without_coalesce_each_missed_run_runs_in_order() {
    let options = JobOptions::default().coalesce(false).max_instances(10);
    let (seen, job) = restart_after_downtime(options).await;
    let mut ran = executed(&seen, "sync");
    ran.sort();
    let expected: Vec<_> = (2..=6).map(|h| t0() + hours(f64::from(h))).collect();
    assert_eq!(ran, expected, "every missed run, once each");
    assert!(skips(&seen).is_empty(), "{:?}", skips(&seen));
    // Submitted (claimed and recorded) oldest first: run ids grow with scheduled time.
    let mut submitted: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobSubmitted(run) => Some((run.run_id, run.scheduled)),
            _ => None,
        })
        .collect();
    submitted.sort();
    assert!(
        submitted.windows(2).all(|w| w[0].1 < w[1].1),
        "run ids in scheduled order: {submitted:?}"
    );
    assert_eq!(job.next_run_time, Some(t0() + hours(7.0)));
}

/// As in APScheduler 3, `coalesce = false` with `max_instances = 1` runs every missed
/// time, one after another, oldest first: nothing is skipped.
#[tokio::test]
async fn without_coalesce_one_instance_runs_each_missed_run_one_after_another() {
    let options = JobOptions::default().coalesce(false).max_instances(1);
    let (seen, job) = restart_after_downtime(options).await;
    let expected: Vec<_> = (2..=6).map(|h| t0() + hours(f64::from(h))).collect();
    assert_eq!(executed(&seen, "sync"), expected, "in order");
    assert!(skips(&seen).is_empty(), "{:?}", skips(&seen));
    // One instance: each run is submitted after the one before it ended.
    let order: Vec<bool> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobSubmitted(_) => Some(true),
            Event::JobExecuted(_) => Some(false),
            _ => None,
        })
        .collect();
    assert_eq!(order, [true, false].repeat(5), "{seen:#?}");
    assert_eq!(job.next_run_time, Some(t0() + hours(7.0)));
}

#[tokio::test]
async fn a_small_misfire_grace_time_misses_the_runs_without_running_them() {
    let options = JobOptions::default().misfire_grace_time(Duration::from_secs(60));
    let (seen, job) = restart_after_downtime(options).await;
    assert!(executed(&seen, "sync").is_empty(), "{seen:#?}");
    assert!(
        !seen.iter().any(|e| matches!(e, Event::JobSubmitted(_))),
        "{seen:#?}"
    );
    let skipped = skips(&seen);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let (kind, runs) = skipped[0];
    assert_eq!(kind, "missed");
    assert_eq!(
        (runs.first, runs.last, runs.count),
        (t0() + hours(2.0), t0() + hours(6.0), 5)
    );
    assert_eq!(job.next_run_time, Some(t0() + hours(7.0)));
}

#[tokio::test]
async fn grace_and_coalesce_together_miss_the_old_runs_and_merge_the_rest() {
    // At 6h30 with 2h30 of grace: 2h and 3h are missed; 4h, 5h and 6h are in grace and
    // coalesce into one run at 6h.
    let options = JobOptions::default()
        .coalesce(true)
        .misfire_grace_time(Duration::from_secs(9000));
    let (seen, job) = restart_after_downtime(options).await;
    assert_eq!(executed(&seen, "sync"), vec![t0() + hours(6.0)]);
    let mut skipped: Vec<_> = skips(&seen)
        .into_iter()
        .map(|(kind, r)| (kind, r.first, r.last, r.count))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            ("coalesced", t0() + hours(4.0), t0() + hours(5.0), 2),
            ("missed", t0() + hours(2.0), t0() + hours(3.0), 2),
        ]
    );
    assert_eq!(job.next_run_time, Some(t0() + hours(7.0)));
}

#[tokio::test]
async fn re_adding_with_replace_existing_on_restart_does_not_duplicate() {
    let db = TempDb::new("replace");
    let clock = ManualClock::new(t0());
    let spec = || {
        JobSpec::interval(HOUR)
            .id("db_sync")
            .replace_existing(true)
            .args(&serde_json::json!({ "full": false }))
            .unwrap()
    };
    // Each start re-adds the job: never a duplicate, and (the trigger being unchanged)
    // the stored schedule is kept, so the runs missed while down are caught up at start
    // (coalesced into one: the default).
    let mut next = t0() + hours(1.0);
    for start in 0..3 {
        let mut process = Process::open(&db, &clock).await;
        process
            .scheduler
            .add_named_job(spec(), "tick")
            .await
            .unwrap();
        let jobs = process.scheduler.get_jobs().await.unwrap();
        assert_eq!(jobs.len(), 1, "start {start}: {jobs:?}");
        assert_eq!(jobs[0].next_run_time, Some(next), "start {start}: kept");
        process.scheduler.start().await.unwrap();
        // Down since the last start (3 h 30 each time): the newest whole hour runs.
        let catch_up = [None, Some(3.0), Some(7.0)][start].map(|h| t0() + hours(h));
        if catch_up.is_some() {
            process
                .until("the catch-up run", |e| executed(e, "db_sync").len() == 1)
                .await;
        }
        let seen = process.stop().await;
        assert_eq!(
            executed(&seen, "db_sync"),
            catch_up.into_iter().collect::<Vec<_>>()
        );
        if let Some(ran) = catch_up {
            next = ran + hours(1.0);
        }
        clock.set(clock.now() + hours(3.5));
    }
    assert_eq!(db.job_ids().await, vec!["db_sync".to_owned()]);

    // Without replace_existing, the same id is refused (APScheduler's ConflictingIdError).
    let process = Process::open(&db, &clock).await;
    let error = process
        .scheduler
        .add_named_job(JobSpec::interval(HOUR).id("db_sync"), "tick")
        .await
        .expect_err("a second job with the same id");
    assert!(error.to_string().contains("db_sync"), "{error}");
    process.stop().await;
    assert_eq!(db.job_ids().await, vec!["db_sync".to_owned()]);
}

#[tokio::test]
async fn jobs_survive_with_args_trigger_options_and_paused_flag() {
    let db = TempDb::new("survive");
    let clock = ManualClock::new(t0());
    let process = Process::open(&db, &clock).await;
    let scheduler = &process.scheduler;
    let report_options = JobOptions::default()
        .misfire_grace_time(Duration::from_secs(120))
        .coalesce(false)
        .max_instances(3)
        .timeout(Duration::from_secs(30))
        .recover_abandoned(true);
    scheduler
        .add_named_job(
            JobSpec::cron("30 8 * * mon-fri")
                .unwrap()
                .id("report")
                .name("Daily report")
                .timezone(chrono_tz::Europe::Berlin)
                .options(report_options.clone())
                .args(&serde_json::json!({ "to": ["ops@example.com"], "days": 7 }))
                .unwrap(),
            "tick",
        )
        .await
        .unwrap();
    scheduler
        .add_named_job(
            JobSpec::interval(Duration::from_secs(600))
                .id("paused")
                .paused(true),
            "tick",
        )
        .await
        .unwrap();
    scheduler
        .add_named_job(
            JobSpec::date(t0() + hours(48.0))
                .id("once")
                .args(&("alice", 3))
                .unwrap(),
            "tick",
        )
        .await
        .unwrap();
    let before = scheduler.get_jobs().await.unwrap();
    assert_eq!(before.len(), 3);
    process.stop().await;

    // Two hours later (the paused job has been due twelve times by now).
    clock.set(t0() + hours(2.0));
    let mut process = Process::open(&db, &clock).await;
    process.scheduler.start().await.unwrap();
    for job in &before {
        let after = process.scheduler.get_job(&job.id).await.unwrap();
        assert_eq!(&after, job, "job {} round-trips", job.id);
    }
    let report = process.scheduler.get_job("report").await.unwrap();
    assert_eq!(report.options, report_options);
    assert_eq!(report.name, "Daily report");
    assert_eq!(report.args["to"][0], "ops@example.com");
    assert_eq!(report.trigger.zone(), chrono_tz::Europe::Berlin);
    // 2026-01-01 is a Thursday: 08:30 in Berlin is 07:30 UTC.
    assert_eq!(
        report.next_run_time,
        Some("2026-01-01T07:30:00Z".parse().unwrap())
    );
    let paused = process.scheduler.get_job("paused").await.unwrap();
    assert!(paused.paused);
    process.settle().await;
    let seen = process.stop().await;
    assert!(
        !seen.iter().any(|e| matches!(e, Event::JobSubmitted(_))),
        "nothing due ran, and the paused job stayed paused: {seen:#?}"
    );
}

/// A first process claims a run of `report` (task `hang`, which never ends) and is
/// killed: its runtime is dropped, so nothing completes or releases the run. Returns
/// the killed process's node id and the run's scheduled time.
fn kill_mid_run(db: &TempDb, clock: &ManualClock, options: JobOptions) -> (String, DateTime<Utc>) {
    let url = db.url.clone();
    let clock = clock.clone();
    let dir = db.dir.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let killed = runtime.block_on(async {
            let db = TempDb { dir, url };
            let mut process = Process::open(&db, &clock).await;
            std::mem::forget(db); // the test's own TempDb removes the directory
            process
                .scheduler
                .add_named_job(
                    JobSpec::date(t0() + hours(1.0))
                        .id("report")
                        .options(options),
                    "hang",
                )
                .await
                .unwrap();
            process.scheduler.start().await.unwrap();
            clock.set(t0() + hours(1.0));
            process
                .until("the run to start", |e| {
                    e.iter().any(|e| matches!(e, Event::JobSubmitted(_)))
                })
                .await;
            let scheduled = process
                .seen
                .iter()
                .find_map(|e| match e {
                    Event::JobSubmitted(run) => Some(run.scheduled),
                    _ => None,
                })
                .unwrap();
            (process.scheduler.node_id().to_owned(), scheduled)
        });
        // Killed: every task (the runtime loop, the hanging run) is dropped unfinished.
        runtime.shutdown_background();
        killed
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn a_run_left_running_by_a_killed_process_is_abandoned_and_recovered() {
    let db = TempDb::new("abandoned");
    let clock = ManualClock::new(t0());
    let options = JobOptions::default().recover_abandoned(true);
    let (node, scheduled) = kill_mid_run(&db, &clock, options);
    assert_eq!(scheduled, t0() + hours(1.0));

    clock.set(t0() + hours(1.5));
    let mut next = Process::open(&db, &clock).await;
    next.scheduler.register_task("hang", || async {}); // fixed in the new version
    next.scheduler.start().await.unwrap();
    next.until("the recovered run", |e| !executed(e, "report").is_empty())
        .await;
    let seen = next.stop().await;
    let abandoned: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobAbandoned(run) => Some(run),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned.len(), 1, "{seen:#?}");
    let run = abandoned[0];
    assert_eq!(
        (
            &*run.job_id,
            run.node.as_str(),
            run.scheduled,
            run.recovered
        ),
        ("report", node.as_str(), scheduled, true)
    );
    assert_eq!(
        executed(&seen, "report"),
        vec![scheduled],
        "run again, once"
    );
    // The one-off job is gone once its recovered run has ended.
    assert!(db.job_ids().await.is_empty());
}

#[tokio::test]
async fn a_run_left_running_is_abandoned_but_not_rerun_without_recover_abandoned() {
    let db = TempDb::new("abandoned-norecover");
    let clock = ManualClock::new(t0());
    let (node, scheduled) = kill_mid_run(&db, &clock, JobOptions::default());

    clock.set(t0() + hours(1.5));
    let mut next = Process::open(&db, &clock).await;
    next.scheduler.start().await.unwrap();
    next.until("the abandoned run", |e| {
        e.iter().any(|e| matches!(e, Event::JobAbandoned(_)))
    })
    .await;
    let seen = next.stop().await;
    let abandoned: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobAbandoned(run) => Some(run),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned.len(), 1, "{seen:#?}");
    assert_eq!(
        (
            &*abandoned[0].job_id,
            abandoned[0].node.as_str(),
            abandoned[0].scheduled
        ),
        ("report", node.as_str(), scheduled)
    );
    assert!(!abandoned[0].recovered);
    assert!(executed(&seen, "report").is_empty(), "{seen:#?}");
}
