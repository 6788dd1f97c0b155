//! Interval triggers: clean temp files every 6 hours, poll an API every 30 seconds.
//! The tutorial's `BlockingScheduler`: scheduling is all this program does.
//!
//! ```text
//! cargo run --example interval            # until Ctrl-C
//! cargo run --example interval -- --once  # simulates 95 s, prints the jobs, exits
//! ```

use std::error::Error;
use std::time::Duration;

use sched_tokio::prelude::*;

fn main() {
    sched_examples::main(run);
}

/// Runs the example; returns the jobs with their next run times when it stopped.
pub async fn run(once: bool) -> Result<Vec<Job>, Box<dyn Error>> {
    let scheduler = sched_examples::builder(once).build()?;

    // Run cleanup every 6 hours.
    let clock = scheduler.clone();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(6 * 3600)),
            move || {
                let now = sched_examples::hms(&clock);
                async move { println!("[{now}] Cleaning temp files...") }
            },
        )
        .await?;
    // Poll every 30 seconds, with an id to manage the job by.
    let clock = scheduler.clone();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(30)).id("api_poll"),
            move || {
                let now = sched_examples::hms(&clock);
                async move { println!("[{now}] Polling external API...") }
            },
        )
        .await?;

    let stop = async {
        if once {
            tokio::time::sleep(Duration::from_secs(95)).await;
        } else {
            sched_tokio::shutdown_signal().await; // Ctrl-C or SIGTERM
        }
    };
    // Starts, waits for `stop`, shuts down: like BlockingScheduler.start().
    let jobs_at_stop = {
        let scheduler = scheduler.clone();
        async move {
            stop.await;
            scheduler.get_jobs().await
        }
    };
    scheduler.start().await?;
    let jobs = jobs_at_stop.await?;
    scheduler.shutdown().await?;
    for job in &jobs {
        let next = job
            .next_run_time
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        println!("job {} next run at {next}", job.id);
    }
    Ok(jobs)
}
