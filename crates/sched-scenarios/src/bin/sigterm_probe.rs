//! A service that schedules one slow job and runs until it is asked to stop: what the
//! signal test (`tests/scenarios/signals.rs`) sends SIGTERM to. It prints each step on a line.

use std::time::Duration;

use sched_tokio::prelude::*;

#[tokio::main]
async fn main() -> Result<(), sched_tokio::Error> {
    let scheduler = Scheduler::builder()
        .shutdown_timeout(Duration::from_secs(10))
        .build()?;
    let soon = scheduler.now() + chrono::Duration::milliseconds(100);
    scheduler
        .add_job(JobSpec::date(soon).id("slow"), || async {
            println!("job started");
            tokio::time::sleep(Duration::from_millis(1500)).await;
            println!("job finished");
        })
        .await?;
    println!("running");
    // Ctrl-C or SIGTERM: stop claiming, let the running job finish, then return.
    scheduler.run_forever().await?;
    println!("shut down cleanly");
    Ok(())
}
