//! Jobs to columns and back, and the claim decision shared by both databases.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::policy::Decision;
use sched_core::store::{Acquired, SkipReason, SkippedRuns};
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

/// What one claim transaction must write.
#[derive(Debug, Default)]
pub(crate) struct ClaimPlan {
    /// (job id, new next run time) of jobs that go on.
    pub(crate) reschedule: Vec<(String, (i64, i32))>,
    /// Jobs whose trigger is done.
    pub(crate) finished: Vec<String>,
    /// Jobs whose trigger is done but whose last run may need recovering
    /// (`recover_abandoned`): kept, unscheduled, until that run completes.
    pub(crate) parked: Vec<String>,
    /// Runs to record and start: (job, scheduled).
    pub(crate) runs: Vec<(std::sync::Arc<Job>, DateTime<Utc>)>,
    /// Skips, finished ids, decode errors (`runs` is filled once recorded).
    pub(crate) acquired: Acquired,
    /// Ids of rows that could not be decoded.
    pub(crate) undecodable: Vec<String>,
}

/// Applies the misfire/coalesce/max-instances policy to locked rows, due at `now` or
/// (claimed ahead) up to `horizon`. `running` holds the scheduled times of each job's
/// runs executing on any node.
pub(crate) fn plan_claim(
    rows: &[JobRow],
    running: &HashMap<String, Vec<DateTime<Utc>>>,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> ClaimPlan {
    let mut plan = ClaimPlan::default();
    for row in rows {
        let mut job = match row.decode() {
            Ok(job) => job,
            Err(error) => {
                plan.undecodable.push(row.id.clone());
                plan.acquired.errors.push(error);
                continue;
            }
        };
        let Some(stored) = job.next_run_time else {
            continue;
        };
        let running_at = running.get(&job.id).map_or(&[][..], Vec::as_slice);
        let count = u32::try_from(running_at.len()).unwrap_or(u32::MAX);
        // An occurrence still running (made due again by a stale write, or by moving
        // the next run time back over a run claimed ahead) is passed over silently.
        let Some(due) = job.first_unclaimed(stored, |t| running_at.contains(&t)) else {
            record(&mut plan, job, Decision::default());
            continue;
        };
        job.next_run_time = Some(due);
        // A row due after `now` is claimed ahead: one run, decided at its own time, and
        // only with a free instance (otherwise it is decided when due).
        if due > now && (due > horizon || count >= job.options.max_instances) {
            if due != stored {
                plan.reschedule.push((job.id.clone(), split(due)));
            }
            continue;
        }
        let Some(decision) = job.decide(due.max(now), count) else {
            continue;
        };
        record(&mut plan, job, decision);
    }
    plan
}

fn record(plan: &mut ClaimPlan, job: Job, decision: Decision) {
    for (reason, skipped) in [
        (SkipReason::Missed, decision.missed),
        (SkipReason::Coalesced, decision.coalesced),
        (SkipReason::MaxInstances, decision.over_limit),
    ] {
        if let Some(runs) = skipped {
            plan.acquired.skipped.push(SkippedRuns {
                job_id: job.id.clone(),
                reason,
                runs,
            });
        }
    }
    match decision.next_run_time {
        Some(next) => plan.reschedule.push((job.id.clone(), split(next))),
        None if job.options.recover_abandoned && !decision.run.is_empty() => {
            plan.parked.push(job.id.clone());
        }
        None => {
            plan.finished.push(job.id.clone());
            plan.acquired.finished.push(job.id.clone());
        }
    }
    let mut job = job;
    job.next_run_time = decision.next_run_time;
    let job = std::sync::Arc::new(job);
    for scheduled in decision.run {
        plan.runs.push((std::sync::Arc::clone(&job), scheduled));
    }
}
