//! # sched-tokio
//!
//! A Tokio-native job scheduler: APScheduler's jobs (interval, cron and one-off date
//! triggers; misfire grace, coalescing, max instances; persistent stores; events;
//! pause/resume/modify at run time) for Rust services. Jobs are async closures or
//! named tasks; [`Scheduler`] is a cheap `Clone` that drops into axum state.
//!
//! ```
//! use std::time::Duration;
//! use sched_tokio::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), sched_tokio::Error> {
//! let scheduler = Scheduler::builder()
//!     .timezone(sched_tokio::chrono_tz::UTC)
//!     .job_defaults(JobOptions::default().coalesce(true).max_instances(1))
//!     .build()?;
//!
//! // Every 10 seconds.
//! scheduler.add_job(JobSpec::interval(Duration::from_secs(10)), || async { println!("Tick!") }).await?;
//! // Weekdays at 08:00 in Sydney, with an id to manage it by.
//! scheduler
//!     .add_job(
//!         JobSpec::cron("0 8 * * mon-fri")?.id("digest").timezone(sched_tokio::chrono_tz::Australia::Sydney),
//!         |ctx: JobContext| async move { println!("digest for {}", ctx.scheduled) },
//!     )
//!     .await?;
//! // A named task, runnable by jobs persisted in a store.
//! scheduler.register_task("hourly_sync", || async { Ok::<(), std::io::Error>(()) });
//! scheduler.add_named_job(JobSpec::interval(Duration::from_secs(3600)).id("db_sync"), "hourly_sync").await?;
//!
//! let mut events = scheduler.subscribe();
//! scheduler.start().await?;
//! // ... serve requests ...
//! scheduler.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Main types: [`Scheduler`] (and [`SchedulerBuilder`]), [`JobSpec`], [`JobContext`],
//! [`Event`] and [`EventMask`]. With several nodes on one store,
//! [`SchedulerBuilder::event_relay`] brings every node's events to each node's
//! subscribers. Triggers, job options and stores come from [`sched_core`],
//! re-exported in [`prelude`].
//!
//! ## Feature flags
//!
//! - `metrics` (off by default): runs started, succeeded, failed, missed, coalesced and
//!   skipped, start delays, durations, runs in flight, jobs, store errors and claim
//!   latency through the [`metrics`](https://docs.rs/metrics) facade, for any recorder
//!   (Prometheus, StatsD, OpenTelemetry, …). The names and what each counts:
//!   `sched_tokio::metrics`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod clock;
mod error;
mod event;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod relay;
mod runtime;
mod scheduler;
mod signal;
mod spec;
mod task;

pub use sched_core;

/// The date and time types of sched's API (`DateTime<Utc>` in a [`JobContext`], in
/// events and in triggers), re-exported so that one dependency line is enough.
pub use chrono;
/// IANA time zones (`chrono_tz::Europe::Berlin`) for
/// [`SchedulerBuilder::timezone`] and [`JobSpec::timezone`], re-exported.
pub use chrono_tz;
/// JSON values: job arguments ([`JobContext::raw_args`]) and stored options.
pub use serde_json;

pub use crate::builder::{SchedulerBuilder, DEFAULT_MAX_RESULT_BYTES};
pub use crate::clock::TokioClock;
pub use crate::error::{Error, Result};
pub use crate::event::{
    AbandonedEvent, Event, EventMask, JobEvent, LeaseLostEvent, MissedEvents, RetryEvent, RunEvent,
    SkipEvent,
};
pub use crate::runtime::cancel::CancelReason;
pub use crate::scheduler::{Backfill, ListenerHandle, Scheduler, Stats, MAX_BACKFILL};
pub use crate::signal::shutdown_signal;
pub use crate::spec::JobSpec;
pub use crate::task::{IntoTask, JobContext, JobResult};
pub use sched_core::job::{Overlap, RetryPolicy};
pub use sched_core::store::SyncReport;
/// A run's cancellation token (tokio-util's), as [`JobContext::cancellation_token`]
/// hands it out.
pub use tokio_util::sync::CancellationToken;

/// Everything a typical user names: `use sched_tokio::prelude::*;`.
pub mod prelude {
    pub use sched_core::clock::{Clock, ManualClock, SystemClock};
    pub use sched_core::job::{Job, JobId, JobOptions, Overlap, RetryPolicy};
    pub use sched_core::store::{JobStore, MemoryStore, Outcome};
    pub use sched_core::trigger::{CalendarInterval, CronFields, Trigger};

    pub use chrono_tz::Tz;

    pub use crate::{
        Event, EventMask, JobContext, JobSpec, Scheduler, SchedulerBuilder, TokioClock,
    };
}

/// This crate's README.md, whose Rust example is compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
