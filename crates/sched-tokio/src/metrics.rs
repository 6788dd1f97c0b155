//! The scheduler's metrics (feature `metrics`), through the [`metrics`](https://docs.rs/metrics)
//! facade: the names below, recorded by whichever recorder the application installs
//! (`metrics-exporter-prometheus`, a StatsD or OpenTelemetry bridge, …). With no
//! recorder, nothing is recorded, and the cost is a few predictable branches per run.
//!
//! ```
//! use std::time::Duration;
//! use metrics_exporter_prometheus::PrometheusBuilder;
//! use sched_tokio::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The recorder first: a scheduler registers its metrics when it is built.
//! let prometheus = PrometheusBuilder::new().install_recorder()?;
//! let scheduler = Scheduler::builder().clock(TokioClock::new()).build()?;
//! scheduler.add_job(JobSpec::interval(Duration::from_secs(10)), || async {}).await?;
//! scheduler.start().await?;
//! tokio::time::sleep(Duration::from_secs(35)).await;
//! scheduler.shutdown().await?;
//! // What a `/metrics` route serves (the repository's `metrics` example has one).
//! let text = prometheus.render();
//! assert!(text.contains("sched_runs_succeeded_total 3"), "{text}");
//! # Ok(()) }
//! ```
//!
//! # When to install the recorder
//!
//! A scheduler registers its metrics once, in [`SchedulerBuilder::build`](crate::SchedulerBuilder::build), with the
//! recorder current then (the global one, or a thread's local one set with
//! `metrics::with_local_recorder` around `build`), and keeps the handles: a run then
//! costs no registry look-up. So install the recorder before building the scheduler; a
//! scheduler built earlier records nothing.
//!
//! # What is counted
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | [`RUNS_STARTED`] | counter | | runs whose job code was called |
//! | [`RUNS_SUCCEEDED`] | counter | | started runs whose job returned `Ok` |
//! | [`RUNS_FAILED`] | counter | [`REASON`] | started runs that did not succeed |
//! | [`RUNS_MISSED`] | counter | | runs not started: decided, or waiting for a slot, past their misfire grace time |
//! | [`RUNS_COALESCED`] | counter | | overdue runs folded into a later one (`coalesce`) |
//! | [`RUNS_SKIPPED_MAX_INSTANCES`] | counter | | runs skipped because their job was at `max_instances` |
//! | [`RUNS_ABANDONED`] | counter | | runs of dead nodes that this node's reaper reported (a shared store) |
//! | [`RUN_START_DELAY`] | histogram | | seconds from a run's scheduled time to its start, per started run |
//! | [`RUN_DURATION`] | histogram | | seconds from a run's start to its end, per run that ended (not those aborted at shutdown) |
//! | [`RUNS_RUNNING`] | gauge | | runs executing job code on this node now |
//! | [`JOBS`] | gauge | | jobs in the store as this node knows them (below) |
//! | [`STORE_ERRORS`] | counter | | store calls that failed: one per [`Event::StoreError`](crate::Event::StoreError) |
//! | [`CLAIM_DURATION`] | histogram | | seconds per claim of the claim loop (`JobStore::acquire`), failed ones too |
//!
//! Every started run ends as exactly one of succeeded or failed (aborted at shutdown:
//! `reason="cancelled"`), so once the scheduler has shut down, `started = succeeded +
//! failed`. The skip counters count scheduled times: one claim that finds a week of a
//! job's runs missed counts each of them (up to 10,000 per job per claim, where the
//! claim stops counting; see the `more` flag of the skip events). A run whose lease ran
//! out before it started (a store other nodes share) is neither started nor skipped:
//! [`Event::JobLeaseLost`](crate::Event::JobLeaseLost) reports it.
//!
//! [`JOBS`] is counted, not queried: when the runtime starts it sets its count from the
//! store's job list (read at start anyway), then follows this node's own changes — a
//! job added (not replaced), removed or purged, a job whose trigger is done after its
//! last run, `remove_all_jobs`. Jobs added or removed by other nodes or by `schedctl`
//! show at this node's next start. Each scheduler of a process adds its own count.
//!
//! # Labels
//!
//! Only [`RUNS_FAILED`] has a label, [`REASON`], with the values in
//! [`FAILURE_REASONS`]. No metric has a job label: with 100,000 jobs that would be
//! 100,000 series per metric in the recorder and in Prometheus. For a few jobs worth
//! watching one by one, count in the job itself, or in a listener
//! ([`Scheduler::add_listener`](crate::Scheduler::add_listener)), whose events name the
//! job. To tell several schedulers of one process apart, give the recorder global labels
//! (`PrometheusBuilder::add_global_label`) or run them in separate processes.

/// Counter: runs whose job code was called (after their start checks: due time,
/// `max_concurrency` slot, misfire grace, lease).
pub const RUNS_STARTED: &str = "sched_runs_started_total";
/// Counter: started runs whose job returned `Ok`.
pub const RUNS_SUCCEEDED: &str = "sched_runs_succeeded_total";
/// Counter: started runs that did not succeed, labelled [`REASON`].
pub const RUNS_FAILED: &str = "sched_runs_failed_total";
/// Counter: runs not started because they were past their misfire grace time, when a
/// claim decided them or while they waited for a `max_concurrency` slot.
pub const RUNS_MISSED: &str = "sched_runs_missed_total";
/// Counter: overdue runs folded into a later run of their job (`coalesce = true`).
pub const RUNS_COALESCED: &str = "sched_runs_coalesced_total";
/// Counter: runs skipped because their job had `max_instances` runs in flight.
pub const RUNS_SKIPPED_MAX_INSTANCES: &str = "sched_runs_skipped_max_instances_total";
/// Counter: runs left by nodes that stopped heartbeating, reported by this node's
/// reaper (a store other nodes share; or, at start, runs a previous process left).
pub const RUNS_ABANDONED: &str = "sched_runs_abandoned_total";
/// Histogram, seconds: a started run's start time minus its scheduled time (0 for a
/// run that started on time, or early after the wall clock stepped back).
pub const RUN_START_DELAY: &str = "sched_run_start_delay_seconds";
/// Histogram, seconds: a run's end minus its start, for every started run that ended,
/// whatever its outcome (a run aborted at shutdown has none).
pub const RUN_DURATION: &str = "sched_run_duration_seconds";
/// Gauge: runs executing job code on this node now.
pub const RUNS_RUNNING: &str = "sched_runs_running";
/// Gauge: jobs in the store as this node knows them (see the [module docs](self)).
pub const JOBS: &str = "sched_jobs";
/// Counter: failed store calls, one per [`Event::StoreError`](crate::Event::StoreError).
pub const STORE_ERRORS: &str = "sched_store_errors_total";
/// Histogram, seconds: how long each claim of the claim loop took (its
/// `JobStore::acquire` call, failed or not).
pub const CLAIM_DURATION: &str = "sched_claim_duration_seconds";

/// The label of [`RUNS_FAILED`]: why a run failed, one of [`FAILURE_REASONS`].
pub const REASON: &str = "reason";
/// The values of [`REASON`]: the job returned an error, panicked, ran past its
/// timeout, or was aborted at shutdown (or around its job, by a panic of the clock or a
/// tracing layer).
pub const FAILURE_REASONS: [&str; 4] = ["error", "panicked", "timed_out", "cancelled"];
