//! Cron triggers the way APScheduler users write them: a daily report at 08:00, a
//! weekly cleanup on Monday at midnight, a workday digest at 17:30 Monday to Friday;
//! and a crontab string (`CronTrigger.from_crontab("0 8 * * *")` in APScheduler).
//!
//! ```text
//! cargo run --example cron            # until Ctrl-C
//! cargo run --example cron -- --once  # simulates 8 days, exits
//! ```

use std::error::Error;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;

fn main() {
    sched_examples::main(run);
}

/// Runs the example; returns (job id, fire time) of every run.
pub async fn run(once: bool) -> Result<Vec<(String, DateTime<Utc>)>, Box<dyn Error>> {
    let scheduler = sched_examples::builder(once).build()?;

    let report = |what: &'static str| {
        move |ctx: JobContext| async move {
            println!("{what} at {}", ctx.scheduled.format("%Y-%m-%d %H:%M:%S %a"));
        }
    };
    // Every day at 8:00 AM: hour=8, minute=0.
    let daily = CronFields::new().hour("8").minute("0");
    scheduler
        .add_job(
            JobSpec::cron_fields(&daily)?.id("daily_report"),
            report("Generating daily report"),
        )
        .await?;
    // Every Monday at midnight: day_of_week="mon", hour=0, minute=0.
    let weekly = CronFields::new().day_of_week("mon").hour("0").minute("0");
    scheduler
        .add_job(
            JobSpec::cron_fields(&weekly)?.id("weekly_cleanup"),
            report("Running weekly cleanup"),
        )
        .await?;
    // Weekdays (Mon-Fri) at 5:30 PM, as a crontab string.
    scheduler
        .add_job(
            JobSpec::cron("30 17 * * mon-fri")?.id("workday_digest"),
            report("Sending workday digest"),
        )
        .await?;

    let mut events = scheduler.subscribe();
    scheduler.start().await?;
    if once {
        tokio::time::sleep(Duration::from_secs(8 * 86_400)).await;
    } else {
        sched_tokio::shutdown_signal().await; // Ctrl-C or SIGTERM
    }
    scheduler.shutdown().await?;

    let mut runs = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::JobExecuted(run) = event {
            runs.push((run.job_id.to_string(), run.scheduled));
        }
    }
    Ok(runs)
}
