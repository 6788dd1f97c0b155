//! Error handling and listeners: a flaky job, listeners for executed / error events
//! and for skipped runs (a slow job that would overlap itself).
//!
//! ```text
//! cargo run --example listeners            # 30 seconds
//! cargo run --example listeners -- --once  # the same 30 seconds, simulated
//! ```

use std::error::Error;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sched_tokio::prelude::*;

fn main() {
    sched_examples::main(run);
}

/// Runs the example; returns what the listeners printed.
pub async fn run(once: bool) -> Result<Vec<String>, Box<dyn Error>> {
    let scheduler = sched_examples::builder(once).build()?;
    let printed = Arc::new(Mutex::new(Vec::new()));

    let log = printed.clone();
    let _job_listener = scheduler.add_listener(
        EventMask::JOB_EXECUTED | EventMask::JOB_ERROR,
        move |event| {
            let line = match event.error() {
                Some(error) => format!("Job {} FAILED: {error}", event.job_id().unwrap_or("?")),
                None => format!("Job {} succeeded", event.job_id().unwrap_or("?")),
            };
            println!("{line}");
            log.lock().expect("listener log").push(line);
        },
    );
    let log = printed.clone();
    let _skip_listener = scheduler.add_listener(
        EventMask::JOB_MISSED | EventMask::JOB_MAX_INSTANCES,
        move |event| {
            let line = format!(
                "Job {} was SKIPPED (its previous run is still going)",
                event.job_id().unwrap_or("?")
            );
            println!("{line}");
            log.lock().expect("listener log").push(line);
        },
    );

    // Fails on its 2nd and 5th run (the tutorial draws at random; this is repeatable).
    let runs = Arc::new(AtomicU32::new(0));
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(5)).id("flaky"),
            move || {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n == 2 || n == 5 {
                        return Err("Simulated job failure");
                    }
                    Ok(())
                }
            },
        )
        .await?;
    // Takes 7 s every 5 s: with max_instances = 1, every other run is skipped.
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(5)).id("slow_report"),
            || tokio::time::sleep(Duration::from_secs(7)),
        )
        .await?;

    scheduler.start().await?;
    tokio::time::sleep(Duration::from_secs(31)).await;
    scheduler.shutdown().await?;
    tokio::task::yield_now().await; // let the listeners see the last events
    let printed = printed.lock().map_err(|e| e.to_string())?.clone();
    Ok(printed)
}
