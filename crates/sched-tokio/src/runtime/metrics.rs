//! Beside every step, the metrics it records (feature `metrics`; the names are in
//! [`crate::metrics`]): the handles, registered once when the scheduler is built, and
//! the calls the steps make. Without the feature the same calls are empty inline
//! functions on a zero-sized type, so the steps carry no `#[cfg]` and compile to what
//! they were.

#[cfg(feature = "metrics")]
pub(crate) use self::on::Metrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use self::off::Metrics;

#[cfg(feature = "metrics")]
mod on {
    use std::future::Future;
    use std::sync::atomic::{AtomicI64, Ordering};

    use chrono::{DateTime, Utc};
    use metrics::{Counter, Gauge, Histogram, Unit};
    use sched_core::store::Outcome;
    use sched_core::store::SkipReason;

    use crate::metrics as names;

    /// The handles of one scheduler's metrics. Registered once: a `counter!` per run
    /// would look its key up in the recorder's registry each time (a hash and a shared
    /// lock), where a handle is one atomic add; with no recorder, a handle is a no-op.
    pub(crate) struct Metrics {
        started: Counter,
        succeeded: Counter,
        error: Counter,
        panicked: Counter,
        timed_out: Counter,
        cancelled: Counter,
        missed: Counter,
        coalesced: Counter,
        max_instances: Counter,
        abandoned: Counter,
        store_errors: Counter,
        start_delay: Histogram,
        duration: Histogram,
        claim: Histogram,
        running: Gauge,
        jobs: Gauge,
        /// This scheduler's share of [`JOBS`](names::JOBS): the gauge moves only by
        /// deltas, so that several schedulers of a process add up.
        known_jobs: AtomicI64,
    }

    impl Metrics {
        /// Describes and registers the metrics with the current recorder.
        pub(crate) fn new() -> Self {
            describe();
            let failed = |reason: &'static str| metrics::counter!(names::RUNS_FAILED, names::REASON => reason);
            Self {
                started: metrics::counter!(names::RUNS_STARTED),
                succeeded: metrics::counter!(names::RUNS_SUCCEEDED),
                error: failed("error"),
                panicked: failed("panicked"),
                timed_out: failed("timed_out"),
                cancelled: failed("cancelled"),
                missed: metrics::counter!(names::RUNS_MISSED),
                coalesced: metrics::counter!(names::RUNS_COALESCED),
                max_instances: metrics::counter!(names::RUNS_SKIPPED_MAX_INSTANCES),
                abandoned: metrics::counter!(names::RUNS_ABANDONED),
                store_errors: metrics::counter!(names::STORE_ERRORS),
                start_delay: metrics::histogram!(names::RUN_START_DELAY),
                duration: metrics::histogram!(names::RUN_DURATION),
                claim: metrics::histogram!(names::CLAIM_DURATION),
                running: metrics::gauge!(names::RUNS_RUNNING),
                jobs: metrics::gauge!(names::JOBS),
                known_jobs: AtomicI64::new(0),
            }
        }

        /// A run starts at `started` (scheduled at `scheduled`): counted, its delay
        /// recorded; the meter counts how it ends.
        #[inline]
        pub(crate) fn run_started(
            &self,
            scheduled: DateTime<Utc>,
            started: DateTime<Utc>,
        ) -> RunMeter<'_> {
            self.started.increment(1);
            self.start_delay.record(Elapsed(scheduled, started));
            self.running.increment(1.0);
            RunMeter {
                metrics: self,
                ended: false,
            }
        }

        /// `count` runs of a job skipped by a claim, for `reason`.
        pub(crate) fn skipped(&self, reason: SkipReason, count: u64) {
            match reason {
                SkipReason::Missed => self.missed.increment(count),
                SkipReason::MaxInstances => self.max_instances.increment(count),
                SkipReason::Coalesced => self.coalesced.increment(count),
                _ => {}
            }
        }

        /// A run that waited past its grace for a slot: missed.
        pub(crate) fn missed_in_queue(&self) {
            self.missed.increment(1);
        }

        /// Runs of dead nodes reported by the reaper.
        pub(crate) fn abandoned(&self, count: usize) {
            self.abandoned.increment(count as u64);
        }

        /// A `StoreError` event.
        pub(crate) fn store_error(&self) {
            self.store_errors.increment(1);
        }

        /// Times one claim of the claim loop.
        pub(crate) async fn claim<T>(&self, claim: impl Future<Output = T>) -> T {
            let began = std::time::Instant::now();
            let result = claim.await;
            self.claim.record(began.elapsed());
            result
        }

        /// The store holds `count` jobs (read when the runtime starts).
        pub(crate) fn jobs_counted(&self, count: usize) {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            let before = self.known_jobs.swap(count, Ordering::Relaxed);
            self.jobs.increment(count.saturating_sub(before) as f64);
        }

        /// This node added (`delta > 0`) or removed jobs.
        pub(crate) fn jobs_changed(&self, delta: i64) {
            self.known_jobs.fetch_add(delta, Ordering::Relaxed);
            self.jobs.increment(delta as f64);
        }

        /// This node removed every job.
        pub(crate) fn jobs_cleared(&self) {
            self.jobs_counted(0);
        }
    }

    /// Follows one started run to its end: [`ended`](Self::ended) counts its outcome; a
    /// run dropped before (aborted at shutdown) counts as cancelled.
    pub(crate) struct RunMeter<'a> {
        metrics: &'a Metrics,
        ended: bool,
    }

    impl RunMeter<'_> {
        /// The run that started at `started` ended at `finished` with `outcome`.
        #[inline]
        pub(crate) fn ended(
            mut self,
            outcome: &Outcome,
            started: DateTime<Utc>,
            finished: DateTime<Utc>,
        ) {
            self.ended = true;
            let m = self.metrics;
            m.running.decrement(1.0);
            m.duration.record(Elapsed(started, finished));
            match outcome {
                Outcome::Success => m.succeeded.increment(1),
                Outcome::Panicked(_) => m.panicked.increment(1),
                Outcome::TimedOut => m.timed_out.increment(1),
                Outcome::Cancelled => m.cancelled.increment(1),
                _ => m.error.increment(1),
            }
        }
    }

    impl Drop for RunMeter<'_> {
        fn drop(&mut self) {
            if !self.ended {
                self.metrics.running.decrement(1.0);
                self.metrics.cancelled.increment(1);
            }
        }
    }

    impl std::fmt::Debug for Metrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Metrics").finish_non_exhaustive()
        }
    }

    /// The seconds from `.0` to `.1` (zero if negative), computed only by a live
    /// handle: `Histogram::record` converts its value after its no-op check, so with no
    /// recorder installed a run does no time arithmetic for its metrics.
    struct Elapsed(DateTime<Utc>, DateTime<Utc>);

    impl metrics::IntoF64 for Elapsed {
        #[inline]
        fn into_f64(self) -> f64 {
            (self.1 - self.0).to_std().map_or(0.0, |d| d.as_secs_f64())
        }
    }

    /// Units and help texts (a recorder that renders them, as Prometheus does).
    fn describe() {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_counter!(
            names::RUNS_STARTED,
            Unit::Count,
            "Runs whose job code was called"
        );
        describe_counter!(
            names::RUNS_SUCCEEDED,
            Unit::Count,
            "Started runs whose job returned Ok"
        );
        describe_counter!(
            names::RUNS_FAILED,
            Unit::Count,
            "Started runs that did not succeed, by reason (error, panicked, timed_out, cancelled)"
        );
        describe_counter!(
            names::RUNS_MISSED,
            Unit::Count,
            "Runs not started: past their misfire grace time"
        );
        describe_counter!(
            names::RUNS_COALESCED,
            Unit::Count,
            "Overdue runs folded into a later run (coalesce)"
        );
        describe_counter!(
            names::RUNS_SKIPPED_MAX_INSTANCES,
            Unit::Count,
            "Runs skipped because their job was at max_instances"
        );
        describe_counter!(
            names::RUNS_ABANDONED,
            Unit::Count,
            "Runs of dead nodes reported by this node's reaper"
        );
        describe_histogram!(
            names::RUN_START_DELAY,
            Unit::Seconds,
            "Start time minus scheduled time of started runs"
        );
        describe_histogram!(
            names::RUN_DURATION,
            Unit::Seconds,
            "Duration of runs that ended"
        );
        describe_gauge!(
            names::RUNS_RUNNING,
            Unit::Count,
            "Runs executing job code on this node"
        );
        describe_gauge!(
            names::JOBS,
            Unit::Count,
            "Jobs in the store as this node knows them (counted at start, then its own changes)"
        );
        describe_counter!(
            names::STORE_ERRORS,
            Unit::Count,
            "Failed store calls (StoreError events)"
        );
        describe_histogram!(
            names::CLAIM_DURATION,
            Unit::Seconds,
            "Duration of the claim loop's claims"
        );
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::future::Future;

    use chrono::{DateTime, Utc};
    use sched_core::store::Outcome;
    use sched_core::store::SkipReason;

    /// Without the feature: nothing, at no cost.
    #[derive(Debug)]
    pub(crate) struct Metrics;

    /// Without the feature: nothing.
    pub(crate) struct RunMeter;

    impl Metrics {
        #[inline(always)]
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn run_started(&self, _: DateTime<Utc>, _: DateTime<Utc>) -> RunMeter {
            RunMeter
        }
        #[inline(always)]
        pub(crate) fn skipped(&self, _: SkipReason, _: u64) {}
        #[inline(always)]
        pub(crate) fn missed_in_queue(&self) {}
        #[inline(always)]
        pub(crate) fn abandoned(&self, _: usize) {}
        #[inline(always)]
        pub(crate) fn store_error(&self) {}
        /// The claim itself: no wrapper future.
        #[inline(always)]
        pub(crate) fn claim<F: Future>(&self, claim: F) -> F {
            claim
        }
        #[inline(always)]
        pub(crate) fn jobs_counted(&self, _: usize) {}
        #[inline(always)]
        pub(crate) fn jobs_changed(&self, _: i64) {}
        #[inline(always)]
        pub(crate) fn jobs_cleared(&self) {}
    }

    impl RunMeter {
        #[inline(always)]
        pub(crate) fn ended(self, _: &Outcome, _: DateTime<Utc>, _: DateTime<Utc>) {}
    }
}
