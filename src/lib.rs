//! Helpers shared by sched's examples (`examples/`): how an example decides whether to
//! run for real or to simulate its scenario on Tokio's paused clock and exit.

use std::future::Future;

use chrono::Utc;
use sched_tokio::prelude::*;

/// Whether the example runs its scenario on simulated time and exits: `--once` on the
/// command line or `SCHED_EXAMPLE_ONCE` in the environment.
pub fn once() -> bool {
    std::env::args().any(|a| a == "--once") || std::env::var_os("SCHED_EXAMPLE_ONCE").is_some()
}

/// Runs an example's `run(once)` on a Tokio runtime: a real one, or with `--once` a
/// paused one, where the scheduler's clock follows Tokio's virtual time and the
/// example's waits take no real time.
pub fn main<F, Fut, T>(run: F)
where
    F: FnOnce(bool) -> Fut,
    Fut: Future<Output = Result<T, Box<dyn std::error::Error>>>,
{
    let once = once();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(once)
        .build()
        .expect("a Tokio runtime");
    if let Err(error) = runtime.block_on(run(once)) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

/// A scheduler builder whose clock is the system's, or (when `simulated`) one that
/// follows Tokio's paused clock from the current time.
pub fn builder(simulated: bool) -> SchedulerBuilder {
    let builder = Scheduler::builder();
    if simulated {
        builder.clock(TokioClock::starting_at(Utc::now()))
    } else {
        builder
    }
}

/// The local wall time of the scheduler's clock, `HH:MM:SS`.
pub fn hms(scheduler: &Scheduler) -> String {
    scheduler.now().format("%H:%M:%S").to_string()
}
