//! The tutorial's restart pattern: a process re-adds its jobs with `replace_existing` at
//! every start, and the runs missed while it was down then follow `coalesce` and
//! `misfire_grace_time`. On SQLite, and on Postgres when `DATABASE_URL` is set.
//!
//! Wall time is a `ManualClock` on Tokio's real clock (sqlx's SQLite thread is invisible
//! to Tokio's paused clock). Waits are for events, bounded, and take milliseconds.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::{PostgresStore, SqliteStore};
use sched_test_support::{database_url, drop_schema, unique_schema};
use sched_tokio::prelude::*;
use tokio::sync::broadcast;

/// Where the jobs live.
enum Db {
    Sqlite { dir: PathBuf, url: String },
    Postgres { url: String, schema: String },
}

impl Db {
    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(unique_schema("catchup"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
        Db::Sqlite { dir, url }
    }

    async fn open(&self) -> Arc<dyn JobStore> {
        match self {
            Db::Sqlite { url, .. } => {
                // A process that just went away may still hold the file for a moment.
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                loop {
                    match SqliteStore::connect(url).await {
                        Ok(store) => return Arc::new(store),
                        Err(_) if std::time::Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(error) => panic!("open {url}: {error}"),
                    }
                }
            }
            Db::Postgres { url, schema } => Arc::new(
                PostgresStore::builder()
                    .schema(schema)
                    .poll_interval(Duration::from_millis(50))
                    .max_connections(4)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
        }
    }

    async fn clean_up(self) {
        match self {
            Db::Sqlite { dir, .. } => drop(std::fs::remove_dir_all(dir)),
            Db::Postgres { url, schema } => drop_schema(&url, &schema).await,
        }
    }
}

fn t0() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(m)
}

/// One start of the service: a scheduler on the store, the task registered, the job
/// re-added the tutorial's way.
struct Process {
    store: Arc<dyn JobStore>,
    scheduler: Scheduler,
    events: broadcast::Receiver<Event>,
    seen: Vec<Event>,
    /// The job as `add_named_job` left it in the store, before the start.
    added: Job,
}

impl Process {
    async fn start(db: &Db, clock: &ManualClock, options: JobOptions) -> Self {
        let store = db.open().await;
        let scheduler = Scheduler::builder()
            .store(Arc::clone(&store))
            .clock(clock.clone())
            // The manual clock moves without waking the runtime: look at it often.
            .wall_clock_check(Duration::from_millis(5))
            .build()
            .unwrap();
        // Each run takes a moment, so that runs that overlapped would show it.
        scheduler.register_task("report", || tokio::time::sleep(Duration::from_millis(20)));
        let events = scheduler.subscribe();
        scheduler
            .add_named_job(
                JobSpec::interval(Duration::from_secs(600))
                    .id("report")
                    .options(options)
                    .replace_existing(true),
                "report",
            )
            .await
            .unwrap();
        // Read before the start: once started, the catch-up claim may move it on.
        let added = scheduler.get_job("report").await.unwrap();
        scheduler.start().await.unwrap();
        Self {
            store,
            scheduler,
            events,
            seen: Vec::new(),
            added,
        }
    }

    /// Collects events until `done` holds (at most 10 s).
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

    /// Stops after whatever else arrives within 200 ms (a duplicate would show here).
    async fn stop(mut self) -> (Vec<Event>, Job) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            self.seen.push(event);
        }
        let job = self.scheduler.get_job("report").await.unwrap();
        self.scheduler.shutdown().await.unwrap();
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
        drop(self.store);
        (self.seen, job)
    }
}

fn executed(events: &[Event]) -> Vec<DateTime<Utc>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobExecuted(run) => Some(run.scheduled),
            _ => None,
        })
        .collect()
}

/// Skips as (kind, first, last, count).
fn skips(events: &[Event]) -> Vec<(&'static str, DateTime<Utc>, DateTime<Utc>, u64)> {
    events
        .iter()
        .filter_map(|e| {
            let (kind, skip) = match e {
                Event::JobMissed(s) => ("missed", s),
                Event::JobCoalesced(s) => ("coalesced", s),
                Event::JobMaxInstances(s) => ("max_instances", s),
                _ => return None,
            };
            Some((kind, skip.runs.first, skip.runs.last, skip.runs.count))
        })
        .collect()
}

/// Every 10 minutes: a first start runs 00:10; the service is down for an hour; at
/// 01:15 it starts again and re-adds the job. Returns the second start's events (until
/// `runs` runs ended) and the job afterwards.
async fn down_for_an_hour(db: &Db, options: JobOptions, runs: usize) -> (Vec<Event>, Job) {
    let clock = ManualClock::new(t0());
    let mut first = Process::start(db, &clock, options.clone()).await;
    clock.set(minutes(10));
    first
        .until("the first run", |e| executed(e).len() == 1)
        .await;
    let (seen, job) = first.stop().await;
    assert_eq!(executed(&seen), vec![minutes(10)]);
    assert_eq!(job.next_run_time, Some(minutes(20)));

    clock.set(minutes(75));
    let mut second = Process::start(db, &clock, options).await;
    assert_eq!(
        second.added.next_run_time,
        Some(minutes(20)),
        "re-added with the same trigger: the stored schedule is kept"
    );
    second
        .until("the catch-up runs", |e| executed(e).len() == runs)
        .await;
    second.stop().await
}

async fn coalesce_runs_one_catch_up_run(db: Db) {
    let (seen, job) = down_for_an_hour(&db, JobOptions::default().coalesce(true), 1).await;
    assert_eq!(
        executed(&seen),
        vec![minutes(70)],
        "one catch-up run, the newest"
    );
    assert_eq!(
        skips(&seen),
        vec![("coalesced", minutes(20), minutes(60), 5)]
    );
    assert_eq!(job.next_run_time, Some(minutes(80)));
    db.clean_up().await;
}

async fn without_coalesce_each_run_in_grace_runs(db: Db) {
    // 25 minutes of grace at 01:15: 00:20, 00:30 and 00:40 are missed; 00:50, 01:00 and
    // 01:10 run, one after another (one instance), in order.
    let options = JobOptions::default()
        .coalesce(false)
        .misfire_grace_time(Duration::from_secs(25 * 60));
    let (seen, job) = down_for_an_hour(&db, options, 3).await;
    assert_eq!(executed(&seen), vec![minutes(50), minutes(60), minutes(70)]);
    // One instance: each run starts after the one before it ended.
    let steps: Vec<(&str, DateTime<Utc>)> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobSubmitted(run) => Some(("start", run.scheduled)),
            Event::JobExecuted(run) => Some(("end", run.scheduled)),
            _ => None,
        })
        .collect();
    let one_at_a_time: Vec<(&str, DateTime<Utc>)> = [50, 60, 70]
        .into_iter()
        .flat_map(|m| [("start", minutes(m)), ("end", minutes(m))])
        .collect();
    assert_eq!(steps, one_at_a_time);
    assert_eq!(skips(&seen), vec![("missed", minutes(20), minutes(40), 3)]);
    assert_eq!(job.next_run_time, Some(minutes(80)));
    db.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restart_with_coalesce_runs_one_catch_up_run() {
    coalesce_runs_one_catch_up_run(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restart_without_coalesce_runs_each_run_in_grace() {
    without_coalesce_each_run_in_grace_runs(Db::sqlite()).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_with_coalesce_runs_one_catch_up_run() {
    let url = database_url("postgres_restart_with_coalesce_runs_one_catch_up_run");
    let schema = unique_schema("catchup");
    coalesce_runs_one_catch_up_run(Db::Postgres { url, schema }).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_without_coalesce_runs_each_run_in_grace() {
    let url = database_url("postgres_restart_without_coalesce_runs_each_run_in_grace");
    let schema = unique_schema("catchup");
    without_coalesce_each_run_in_grace_runs(Db::Postgres { url, schema }).await;
}

/// A changed trigger restarts the schedule from now; a paused job stays paused unless
/// the spec says otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_trigger_restarts_and_a_paused_job_stays_paused() {
    let db = Db::sqlite();
    let clock = ManualClock::new(t0());
    let store = db.open().await;
    let scheduler = Scheduler::builder()
        .store(Arc::clone(&store))
        .clock(clock.clone())
        .build()
        .unwrap();
    scheduler.register_task("report", || async {});
    let spec = |every: u64| {
        JobSpec::interval(Duration::from_secs(every))
            .id("report")
            .replace_existing(true)
    };
    scheduler.add_named_job(spec(600), "report").await.unwrap();
    scheduler.pause_job("report").await.unwrap();
    clock.set(minutes(75));
    scheduler.add_named_job(spec(600), "report").await.unwrap();
    let job = scheduler.get_job("report").await.unwrap();
    assert!(job.paused, "the stored paused flag is kept");
    assert_eq!(job.next_run_time, Some(minutes(10)), "and its schedule");
    scheduler.add_named_job(spec(300), "report").await.unwrap();
    let job = scheduler.get_job("report").await.unwrap();
    assert_eq!(
        job.next_run_time,
        Some(minutes(80)),
        "a new trigger starts from now"
    );
    assert!(job.paused);
    scheduler
        .add_named_job(spec(300).paused(false), "report")
        .await
        .unwrap();
    let job = scheduler.get_job("report").await.unwrap();
    assert!(!job.paused, "the spec sets it");
    assert_eq!(
        job.next_run_time,
        Some(minutes(80)),
        "the same trigger: kept"
    );
    drop(store);
    db.clean_up().await;
}

/// Two nodes on one Postgres: the backlog of a job with one instance runs each missed
/// time once, one after another, whichever node holds it — never two at once.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_backlog_runs_one_at_a_time_across_nodes() {
    use std::sync::Mutex;

    let url = database_url("postgres_a_backlog_runs_one_at_a_time_across_nodes");
    let db = Db::Postgres {
        url,
        schema: unique_schema("catchup"),
    };
    let clock = ManualClock::new(t0());
    let options = JobOptions::default().coalesce(false);
    let job = Job::new(
        "report",
        "report",
        Trigger::interval(Duration::from_secs(600)),
    )
    .options(options)
    .schedule(t0())
    .unwrap();
    db.open().await.add_job(job, false).await.unwrap();
    // Down from 00:00 to 01:05: 00:10 .. 01:00 are due, six runs.
    clock.set(minutes(65));
    type Log = Arc<
        Mutex<
            Vec<(
                String,
                DateTime<Utc>,
                std::time::Instant,
                std::time::Instant,
            )>,
        >,
    >;
    let log: Log = Arc::default();
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let scheduler = Scheduler::builder()
            .store(db.open().await)
            .clock(clock.clone())
            .node_id(name)
            .wall_clock_check(Duration::from_millis(5))
            .build()
            .unwrap();
        let log = Arc::clone(&log);
        scheduler.register_task("report", move |ctx: JobContext| {
            let log = Arc::clone(&log);
            async move {
                let began = std::time::Instant::now();
                tokio::time::sleep(Duration::from_millis(50)).await;
                let node = name.to_owned();
                log.lock()
                    .unwrap()
                    .push((node, ctx.scheduled, began, std::time::Instant::now()));
            }
        });
        nodes.push(scheduler);
    }
    for node in &nodes {
        node.start().await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.lock().unwrap().len() < 6 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // a duplicate would show here
    for node in &nodes {
        node.shutdown().await.unwrap();
    }
    let mut runs = log.lock().unwrap().clone();
    runs.sort_by_key(|run| run.2);
    let scheduled: Vec<DateTime<Utc>> = runs.iter().map(|run| run.1).collect();
    let expected: Vec<DateTime<Utc>> = (1..=6).map(|n| minutes(10 * n)).collect();
    assert_eq!(
        scheduled, expected,
        "each missed run once, in order: {runs:?}"
    );
    for pair in runs.windows(2) {
        assert!(pair[1].2 >= pair[0].3, "one at a time: {pair:?}");
    }
    db.clean_up().await;
}
