//! A wall clock that follows Tokio's clock, for tests under `tokio::time::pause()`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::clock::Clock;
use sched_core::support::Mutex;
use tokio::time::Instant;

/// Wall time that advances with Tokio's (possibly paused) clock, and can jump.
///
/// Under `tokio::time::pause()`, Tokio's clock skips ahead whenever every task is
/// waiting, and this clock with it: a test of a daily job runs in milliseconds. `jump`
/// moves wall time alone (NTP step, suspend/resume), leaving Tokio's clock as it is.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use sched_core::clock::Clock;
/// use sched_tokio::TokioClock;
/// let clock = TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap());
/// tokio::time::sleep(std::time::Duration::from_secs(3600)).await; // instant when paused
/// assert_eq!(clock.now().to_rfc3339(), "2026-01-01T01:00:00+00:00");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TokioClock {
    state: Arc<Mutex<(DateTime<Utc>, Instant)>>,
}

impl TokioClock {
    /// The system's wall time now; from then on it follows `tokio::time::Instant`. The
    /// clock for tests of your own jobs under `tokio::time::pause()` (the default
    /// system clock does not follow Tokio's paused time).
    ///
    /// ```
    /// let scheduler = sched_tokio::Scheduler::builder()
    ///     .clock(sched_tokio::TokioClock::new())
    ///     .build()?;
    /// # Ok::<(), sched_tokio::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::starting_at(Utc::now())
    }

    /// Wall time `start` now; then it follows `tokio::time::Instant`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            state: Arc::new(Mutex::new((start, Instant::now()))),
        }
    }

    /// Steps wall time forwards (`forward = true`) or backwards by `by`.
    ///
    /// # Panics
    ///
    /// If `by` is 292 years or more, or wall time would leave chrono's range of dates
    /// (it is a test clock: such a step is a test bug).
    pub fn jump(&self, by: Duration, forward: bool) {
        let by = chrono::Duration::from_std(by).expect("jump by less than 292 years");
        let mut state = self.state.lock();
        state.0 = if forward { state.0 + by } else { state.0 - by };
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let (base, at) = *self.state.lock();
        let elapsed = chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::MAX);
        base + elapsed
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}
