//! The tutorial's "Job Persistence with SQLAlchemy": jobs live in a SQLite file, so
//! they survive a restart. The job is a named task (`hourly_sync`) with an id, added
//! with `replace_existing`: starting the program again replaces the stored job
//! instead of adding a second one.
//!
//! ```text
//! cargo run --example persistence            # ./jobs.sqlite: runs 5 s, prints the jobs, exits
//! cargo run --example persistence            # again: still one job in jobs.sqlite
//! cargo run --example persistence -- --once  # two short starts on a temporary file, exits
//! ```
//!
//! With `--once` the example starts the program twice on one temporary file (a
//! restart), waiting 100 ms instead of 5 s, and shows that the store still holds one
//! job. Unlike the other examples it runs on the real clock: under Tokio's paused
//! clock, sqlx's SQLite I/O happens on a thread of its own, which Tokio does not see
//! as work, so the paused clock jumps straight to the pool's 30 s acquire timeout
//! while a query is in flight ("pool timed out while waiting for an open
//! connection", already at connect).

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::SqliteStore;
use sched_tokio::prelude::*;

/// The tutorial's store URL (`sqlite:///jobs.sqlite`), created if missing.
pub const URL: &str = "sqlite://jobs.sqlite?mode=rwc";

/// What one start of the program saw.
#[derive(Debug, Clone)]
pub struct Started {
    /// `get_jobs()` after 5 s: (id, name, next run time).
    pub jobs: Vec<(JobId, String, Option<DateTime<Utc>>)>,
    /// How many times `hourly_sync` ran.
    pub syncs: usize,
    /// `StoreError` events (none expected).
    pub store_errors: Vec<String>,
}

fn main() {
    // Not `sched_examples::main`, which runs `--once` on the paused clock (see above).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    if let Err(error) = runtime.block_on(run(sched_examples::once())) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

/// Runs the example: one start on `jobs.sqlite`, or with `once` two short starts (the
/// second a restart) on a temporary file. Returns what each start saw.
pub async fn run(once: bool) -> Result<Vec<Started>, Box<dyn Error>> {
    if !once {
        return Ok(vec![start(URL, Duration::from_secs(5)).await?]);
    }
    let dir = temp_dir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("jobs.sqlite").to_string_lossy()
    );
    let mut starts = Vec::new();
    for n in 1..=2 {
        println!("--- start {n} ---");
        match start(&url, Duration::from_millis(100)).await {
            Ok(started) => starts.push(started),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(starts)
}

/// One run of the tutorial's program against the store at `url`: start, wait `wait`
/// (the tutorial's `time.sleep(5)`), list the jobs, shut down.
async fn start(url: &str, wait: Duration) -> Result<Started, Box<dyn Error>> {
    // The file is locked while the store is open: one scheduler process per file.
    let store = SqliteStore::connect(url).await?;
    let scheduler = Scheduler::builder()
        .store(Arc::new(store.clone()))
        .max_concurrency(10) // the tutorial's ThreadPoolExecutor(10)
        .job_defaults(JobOptions::default().coalesce(true).max_instances(1))
        .build()?;
    let mut events = scheduler.subscribe();

    let syncs = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&syncs);
    scheduler.register_task("hourly_sync", move |ctx: JobContext| {
        count.fetch_add(1, Ordering::SeqCst);
        async move { println!("[{}] Syncing database...", ctx.scheduled.format("%H:%M:%S")) }
    });
    // `replace_existing` avoids a duplicate job on restart. The trigger being unchanged,
    // the stored schedule is kept: syncs missed while the process was down are caught up
    // (coalesced into one, as `coalesce` says).
    scheduler
        .add_named_job(
            JobSpec::interval(Duration::from_secs(3600))
                .id("db_sync")
                .replace_existing(true),
            "hourly_sync",
        )
        .await?;
    scheduler.start().await?;
    println!("Scheduler with SQLite persistence running...");

    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = sched_tokio::shutdown_signal() => {}
    }
    let jobs = scheduler.get_jobs().await?;
    // As the tutorial prints them: `<Job (id=db_sync name=hourly_sync next_run_time=…)>`.
    let listed: Vec<String> = jobs.iter().map(ToString::to_string).collect();
    println!("Jobs: [{}]", listed.join(", "));
    println!("{} job(s) in the store", jobs.len());
    scheduler.shutdown().await?;
    store.close().await;

    let mut store_errors = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::StoreError { error } = event {
            store_errors.push(error);
        }
    }
    Ok(Started {
        jobs: jobs
            .into_iter()
            .map(|job| (job.id, job.name, job.next_run_time))
            .collect(),
        syncs: syncs.load(Ordering::SeqCst),
        store_errors,
    })
}

/// A directory of its own for `--once`, so parallel runs (the tests) never share a file.
fn temp_dir() -> std::io::Result<std::path::PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = Utc::now().timestamp_subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "sched-persistence-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
