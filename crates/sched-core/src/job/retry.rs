//! [`RetryPolicy`]: how many attempts an occurrence gets, and how long each retry
//! waits.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Outcome;

/// Retries of a failed run ([`JobOptions::retry`](super::JobOptions::retry)).
///
/// A retry is another *attempt* of the same occurrence: it stands for the same
/// scheduled time (the schedule never shifts), counts against `max_instances` while it
/// runs, is recorded in the run history with its attempt number, and is reported by a
/// `JobRetrying` event when it is scheduled. The task sees its attempt number
/// (`JobContext::attempt`, 1 for the first).
///
/// Attempt `n` (`n ≥ 1`) that fails waits `min(base × factorⁿ⁻¹, cap)` before attempt
/// `n + 1`, less up to `jitter` of it at random (so that runs failing together do not
/// retry together). Attempts stop at `max_attempts` (the first run included).
///
/// A pending retry is stored, not a timer only: on a store several nodes share it
/// survives its node's death, any node with the task runs it, once per attempt (the
/// occurrence key holds for each attempt). While its job is paused it waits; when its
/// job is removed, it is dropped.
///
/// ```
/// use std::time::Duration;
/// use sched_core::job::{JobOptions, RetryPolicy};
///
/// // Three attempts in all: the second after 1 s, the third after 2 s (less up to a
/// // tenth at random); errors and timeouts retry, panics do not.
/// let retry = RetryPolicy::new(3)
///     .backoff(Duration::from_secs(1), 2.0, Duration::from_secs(60))
///     .jitter(0.1)
///     .on_panic(false);
/// let options = JobOptions::default().retry(retry);
/// options.validate()?;
/// assert_eq!(retry.delay(1, 0.0), Duration::from_secs(1));
/// assert_eq!(retry.delay(2, 0.0), Duration::from_secs(2));
/// # Ok::<(), sched_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first run included (at least 1; 1 never retries).
    pub max_attempts: u32,
    /// The wait before the second attempt.
    pub base: Duration,
    /// Each further wait is this many times the one before (at least 1).
    pub factor: f64,
    /// No wait is longer than this.
    pub cap: Duration,
    /// Up to this fraction of each wait (0 to 1) is taken off at random.
    pub jitter: f64,
    /// A run whose task returned an error is retried.
    pub on_error: bool,
    /// A run that panicked is retried.
    pub on_panic: bool,
    /// A run that timed out is retried.
    pub on_timeout: bool,
}

/// Equality of the numbers as written: a valid policy's are finite.
impl Eq for RetryPolicy {}

impl Default for RetryPolicy {
    /// Three attempts, 1 s doubling up to 5 min, a tenth of jitter; errors, panics
    /// and timeouts retry.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_secs(1),
            factor: 2.0,
            cap: Duration::from_secs(300),
            jitter: 0.1,
            on_error: true,
            on_panic: true,
            on_timeout: true,
        }
    }
}

impl RetryPolicy {
    /// `max_attempts` attempts in all, with the default backoff (see [`Default`]).
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..Self::default()
        }
    }

    /// Sets the backoff: `base` before the second attempt, times `factor` for each
    /// next one, never more than `cap`.
    #[must_use]
    pub fn backoff(mut self, base: Duration, factor: f64, cap: Duration) -> Self {
        self.base = base;
        self.factor = factor;
        self.cap = cap;
        self
    }

    /// A fixed wait between attempts (no growth, no jitter).
    #[must_use]
    pub fn fixed(mut self, wait: Duration) -> Self {
        self.base = wait;
        self.factor = 1.0;
        self.cap = wait;
        self.jitter = 0.0;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`on_error`](Self::on_error).
    #[must_use]
    pub fn on_error(mut self, retry: bool) -> Self {
        self.on_error = retry;
        self
    }

    /// Sets [`on_panic`](Self::on_panic).
    #[must_use]
    pub fn on_panic(mut self, retry: bool) -> Self {
        self.on_panic = retry;
        self
    }

    /// Sets [`on_timeout`](Self::on_timeout).
    #[must_use]
    pub fn on_timeout(mut self, retry: bool) -> Self {
        self.on_timeout = retry;
        self
    }

    /// Whether a run that ended with `outcome` is retried (attempts left aside). A
    /// success, a cancel, a missed or abandoned run never is.
    pub fn retries(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Error(_) => self.on_error,
            Outcome::Panicked(_) => self.on_panic,
            Outcome::TimedOut => self.on_timeout,
            _ => false,
        }
    }

    /// The wait after failed attempt `attempt` (1 for the first run), with `random` in
    /// `[0, 1)` choosing the jitter (0: none taken off).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = self.base.as_secs_f64() * self.factor.powi(exponent);
        let capped = if grown.is_finite() {
            grown.min(self.cap.as_secs_f64())
        } else {
            self.cap.as_secs_f64()
        };
        let jitter = self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::try_from_secs_f64(capped * (1.0 - jitter)).unwrap_or(self.cap)
    }

    /// When attempt `attempt + 1` is due, after `attempt` ended with `outcome` at
    /// `finished`; `None` when it is not retried (the outcome does not retry, or no
    /// attempt is left). `random` as in [`delay`](Self::delay).
    pub fn next_attempt(
        &self,
        attempt: u32,
        outcome: &Outcome,
        finished: DateTime<Utc>,
        random: f64,
    ) -> Option<DateTime<Utc>> {
        if attempt >= self.max_attempts || !self.retries(outcome) {
            return None;
        }
        let wait = chrono::Duration::from_std(self.delay(attempt, random)).ok()?;
        finished.checked_add_signed(wait)
    }

    /// Rejects a policy that cannot work.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the setting and why.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::InvalidOptions(
                "retry max_attempts is 0: the first run is an attempt, so it must be at least 1"
                    .into(),
            ));
        }
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Err(Error::InvalidOptions(format!(
                "retry factor is {}: it must be a finite number of at least 1",
                self.factor
            )));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::InvalidOptions(format!(
                "retry jitter is {}: it must be between 0 and 1",
                self.jitter
            )));
        }
        if self.cap < self.base {
            return Err(Error::InvalidOptions(format!(
                "retry cap ({:?}) is shorter than its base wait ({:?})",
                self.cap, self.base
            )));
        }
        Ok(())
    }
}

/// A random number in `[0, 1)` for [`RetryPolicy::delay`]'s jitter (from the standard
/// library's randomly keyed hasher: no generator to carry).
pub fn jitter_sample() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    // 53 random bits: every such f64 below 1 is reachable.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{jitter_sample, RetryPolicy};
    use crate::store::Outcome;

    #[test]
    fn waits_grow_by_the_factor_up_to_the_cap() {
        let policy =
            RetryPolicy::new(10).backoff(Duration::from_millis(500), 3.0, Duration::from_secs(10));
        let waits: Vec<u128> = (1..=5).map(|n| policy.delay(n, 0.0).as_millis()).collect();
        assert_eq!(waits, [500, 1_500, 4_500, 10_000, 10_000]);
        // A huge attempt number neither overflows nor passes the cap.
        assert_eq!(policy.delay(u32::MAX, 0.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_takes_off_at_most_its_fraction() {
        let policy = RetryPolicy::new(3)
            .fixed(Duration::from_secs(10))
            .jitter(0.2);
        assert_eq!(policy.delay(1, 0.0), Duration::from_secs(10));
        assert_eq!(policy.delay(1, 0.5), Duration::from_secs(9));
        assert!(policy.delay(1, 0.999_999) > Duration::from_secs(8));
        for _ in 0..100 {
            let r = jitter_sample();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }

    #[test]
    fn which_outcomes_retry_and_when_attempts_run_out() {
        let at = "2026-01-01T00:00:00Z".parse().expect("instant");
        let policy = RetryPolicy::new(2)
            .fixed(Duration::from_secs(1))
            .on_panic(false);
        let error = Outcome::Error("boom".into());
        assert_eq!(
            policy.next_attempt(1, &error, at, 0.0),
            Some(at + chrono::Duration::seconds(1))
        );
        assert_eq!(
            policy.next_attempt(2, &error, at, 0.0),
            None,
            "no attempt left"
        );
        assert_eq!(
            policy.next_attempt(1, &Outcome::Panicked("p".into()), at, 0.0),
            None
        );
        assert!(policy.retries(&Outcome::TimedOut));
        for never in [
            Outcome::Success,
            Outcome::Cancelled,
            Outcome::Missed,
            Outcome::LeaseLost,
        ] {
            assert!(!policy.retries(&never), "{never:?}");
        }
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        let message = |p: RetryPolicy| p.validate().expect_err("refused").to_string();
        assert!(message(RetryPolicy::new(0)).contains("max_attempts"));
        let bad_factor =
            RetryPolicy::new(3).backoff(Duration::from_secs(1), 0.5, Duration::from_secs(9));
        assert!(message(bad_factor).contains("factor"));
        assert!(message(RetryPolicy::new(3).jitter(1.5)).contains("jitter"));
        let short_cap =
            RetryPolicy::new(3).backoff(Duration::from_secs(5), 2.0, Duration::from_secs(1));
        assert!(message(short_cap).contains("cap"));
        RetryPolicy::default()
            .validate()
            .expect("the default is valid");
    }

    #[test]
    fn stored_form_round_trips_and_fills_defaults() {
        let policy = RetryPolicy::new(4).jitter(0.0);
        let text = serde_json::to_string(&policy).expect("serialises");
        assert_eq!(
            serde_json::from_str::<RetryPolicy>(&text).expect("parses"),
            policy
        );
        let sparse: RetryPolicy = serde_json::from_str(r#"{"max_attempts":5}"#).expect("parses");
        assert_eq!(sparse, RetryPolicy::new(5));
    }
}
