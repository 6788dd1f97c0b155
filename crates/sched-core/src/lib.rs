//! # sched-core
//!
//! The pure logic of [sched](https://github.com/sched-rs/sched), a Tokio-native job
//! scheduler: no I/O, no runtime. It answers three questions for the runtime and the
//! stores:
//!
//! - **When does a job fire next?** [`trigger::Trigger`]: interval, cron (crontab
//!   strings or APScheduler-style fields), date, calendar interval and `and`/`or`
//!   combinations, each with bounds, jitter and a time zone, with exact DST rules.
//! - **Which overdue runs start, which are missed?** [`policy`]: misfire grace,
//!   coalescing and `max_instances` as pure functions.
//! - **Where do jobs live?** [`store::JobStore`], the async contract every store
//!   implements, and [`store::MemoryStore`].
//!
//! Plus the [`job::Job`] model, an injectable [`clock::Clock`], and
//! [`relay::EventRelay`], which carries events between the nodes sharing a store. The
//! semantics — DST, misfires, claims, leases, events — are specified in
//! [`_documentation`].
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use sched_core::trigger::{CronFields, Trigger};
//!
//! // APScheduler's `hour=8, minute=0, day_of_week="mon-fri"`, in Sydney.
//! let digest = Trigger::from(CronFields::new().day_of_week("mon-fri").hour("8").build()?)
//!     .timezone(chrono_tz::Australia::Sydney);
//! let after: DateTime<Utc> = "2026-11-27T00:00:00Z".parse().unwrap(); // a Friday, 11:00 in Sydney
//! let next = digest.next_after(after).unwrap();
//! assert_eq!(next.with_timezone(&chrono_tz::Australia::Sydney).to_rfc3339(),
//!            "2026-11-30T08:00:00+11:00"); // Monday 08:00
//! # Ok::<(), sched_core::Error>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod _documentation;
pub mod clock;
mod error;
pub mod job;
pub mod policy;
pub mod relay;
pub mod store;
pub mod support;
pub mod trigger;

pub use crate::error::{Error, Result};

/// This crate's README.md, whose Rust example is compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
