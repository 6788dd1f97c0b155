//! Date triggers: one-off reminders, with arguments. The task is registered by name
//! and reads its arguments with `ctx.args()`, so the jobs could live in a persistent
//! store and survive a restart.
//!
//! ```text
//! cargo run --example date            # waits for both reminders (the second is tomorrow)
//! cargo run --example date -- --once  # simulates until both have fired, exits
//! ```

use std::error::Error;
use std::time::Duration;

use chrono::Days;
use sched_tokio::prelude::*;
use serde::{Deserialize, Serialize};

/// The reminder's arguments (the tutorial's `args` / `kwargs`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Reminder {
    /// Who is reminded.
    pub username: String,
    /// Of what.
    pub message: String,
}

fn main() {
    sched_examples::main(run);
}

/// Runs the example; returns the reminders sent.
pub async fn run(once: bool) -> Result<Vec<String>, Box<dyn Error>> {
    let scheduler = sched_examples::builder(once).build()?;
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sent.clone();
    scheduler.register_task("send_reminder", move |ctx: JobContext| {
        let log = log.clone();
        async move {
            let reminder: Reminder = ctx.args().map_err(|e| format!("bad reminder args: {e}"))?;
            let line = format!("Reminder for {}: {}", reminder.username, reminder.message);
            println!("{line} at {}", ctx.scheduled.format("%Y-%m-%d %H:%M:%S"));
            log.lock().map_err(|e| e.to_string())?.push(line);
            Ok::<(), String>(())
        }
    });

    // Run once, 30 seconds from now.
    let run_at = scheduler.now() + chrono::Duration::seconds(30);
    let alice = Reminder {
        username: "alice".into(),
        message: "Team standup in 5 minutes".into(),
    };
    scheduler
        .add_named_job(JobSpec::date(run_at).args(&alice)?, "send_reminder")
        .await?;
    // Run at a date-time string, read in the scheduler's zone (tomorrow at 14:00).
    let tomorrow = scheduler.now().date_naive() + Days::new(1);
    let bob = Reminder {
        username: "bob".into(),
        message: "Quarterly report due".into(),
    };
    scheduler
        .add_named_job(
            JobSpec::date_str(format!("{tomorrow} 14:00:00")).args(&bob)?,
            "send_reminder",
        )
        .await?;

    scheduler.start().await?;
    let wait = async {
        // Both jobs are removed once they have run.
        while !scheduler
            .get_jobs()
            .await
            .map(|jobs| jobs.is_empty())
            .unwrap_or(true)
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    if once {
        wait.await;
    } else {
        tokio::select! {
            () = wait => {}
            () = sched_tokio::shutdown_signal() => {}
        }
    }
    scheduler.shutdown().await?;
    let sent = sent.lock().map_err(|e| e.to_string())?.clone();
    Ok(sent)
}
