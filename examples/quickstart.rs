//! The tutorial's first example: a job that runs every 10 seconds.
//!
//! ```text
//! cargo run --example quickstart            # ticks until Ctrl-C
//! cargo run --example quickstart -- --once  # simulates 35 s on a paused clock, exits
//! ```

use std::error::Error;
use std::time::Duration;

use sched_tokio::prelude::*;

fn main() {
    sched_examples::main(run);
}

/// Runs the example; with `once`, for 35 simulated seconds. Returns the printed ticks.
pub async fn run(once: bool) -> Result<Vec<String>, Box<dyn Error>> {
    let scheduler = sched_examples::builder(once).build()?;
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(10)),
            |ctx: JobContext| async move {
                println!("Tick! The time is: {}", ctx.scheduled.format("%H:%M:%S"));
            },
        )
        .await?;
    let mut events = scheduler.subscribe();
    scheduler.start().await?;
    println!("Scheduler running. Press Ctrl+C to stop.");
    if once {
        tokio::time::sleep(Duration::from_secs(35)).await;
    } else {
        sched_tokio::shutdown_signal().await; // Ctrl-C or SIGTERM
    }
    scheduler.shutdown().await?;
    println!("Scheduler stopped.");

    let mut ticks = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::JobExecuted(run) = event {
            ticks.push(run.scheduled.format("%H:%M:%S").to_string());
        }
    }
    Ok(ticks)
}
