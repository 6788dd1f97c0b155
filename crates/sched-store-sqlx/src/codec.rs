//! Jobs to columns and back, and the claim decision shared by both databases.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::policy::claim::{Candidate, ClaimPlan, Planner, Row};
use sched_core::Error;

/// An instant as stored: whole seconds since the epoch and nanoseconds (exact, and
/// ordered by the pair, from before 1970 to far beyond 2262).
pub(crate) fn split(at: DateTime<Utc>) -> (i64, i32) {
    let nanos = i32::try_from(at.timestamp_subsec_nanos()).expect("below 2e9");
    (at.timestamp(), nanos)
}

/// The inverse of [`split`].
pub(crate) fn join(secs: i64, nanos: i32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)
}

/// Microseconds since the epoch, for bookkeeping instants (start, finish, leases).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A job's columns.
#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) task: String,
    pub(crate) args: String,
    pub(crate) trigger: String,
    pub(crate) options: String,
    pub(crate) next_run_s: Option<i64>,
    pub(crate) next_run_ns: Option<i32>,
    pub(crate) paused: bool,
}

impl JobRow {
    pub(crate) fn encode(job: &Job) -> Result<Self, Error> {
        let (next_run_s, next_run_ns) = match job.next_run_time.map(split) {
            Some((s, ns)) => (Some(s), Some(ns)),
            None => (None, None),
        };
        Ok(Self {
            id: job.id.clone(),
            name: job.name.clone(),
            task: job.task.clone(),
            args: serde_json::to_string(&job.args)?,
            trigger: serde_json::to_string(&job.trigger)?,
            options: serde_json::to_string(&job.options)?,
            next_run_s,
            next_run_ns,
            paused: job.paused,
        })
    }

    /// Decodes the row; a corrupt column is [`Error::Decode`] naming the job and the
    /// column, and the row is left as it is.
    pub(crate) fn decode(&self) -> Result<Job, Error> {
        let bad = |column: &str, e: &dyn std::fmt::Display| Error::Decode {
            job_id: self.id.clone(),
            reason: format!("column {column}: {e}"),
        };
        let next_run_time = match (self.next_run_s, self.next_run_ns) {
            (Some(s), Some(ns)) => {
                Some(join(s, ns).ok_or_else(|| bad("next_run_time", &"out of range"))?)
            }
            _ => None,
        };
        let args = serde_json::from_str(&self.args).map_err(|e| bad("args", &e))?;
        let trigger = serde_json::from_str(&self.trigger).map_err(|e| bad("trigger", &e))?;
        let options = serde_json::from_str(&self.options).map_err(|e| bad("options", &e))?;
        let mut job = Job::new(self.id.clone(), self.task.clone(), trigger);
        job.name.clone_from(&self.name);
        job.args = args;
        job.options = options;
        job.next_run_time = next_run_time;
        job.paused = self.paused;
        Ok(job)
    }
}

/// Plans a claim of locked `rows` with the claim planner: decodes each row on its own
/// (an undecodable one is quarantined, the others go on) with the scheduled times of
/// its runs executing on any node (`running`).
pub(crate) fn plan_claim(
    rows: &[JobRow],
    running: &HashMap<String, Vec<DateTime<Utc>>>,
    planner: &Planner,
) -> ClaimPlan {
    let mut jobs = Vec::with_capacity(rows.len());
    let mut undecodable = Vec::new();
    for row in rows {
        match row.decode() {
            Ok(job) => jobs.push(Arc::new(job)),
            Err(error) => undecodable.push(Row::Undecodable {
                job_id: row.id.clone(),
                error,
            }),
        }
    }
    let candidates = jobs.iter().filter_map(|job| {
        Some(Row::Job(Candidate {
            job,
            due: job.next_run_time?,
            running: running.get(&job.id).map_or(&[][..], Vec::as_slice),
            last_claimed: None,
        }))
    });
    planner.plan(undecodable.into_iter().chain(candidates))
}
