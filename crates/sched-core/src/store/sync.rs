//! Declared job sets (`JobStore::sync_jobs`): what a deploy declares, merged with what
//! the store holds. The merge rules live here, shared by every store; each store makes
//! them one step (a transaction on SQL stores, under its lock in memory).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::job::{Job, JobId};

/// What [`JobStore::sync_jobs`](super::JobStore::sync_jobs) did, each list in the
/// order the jobs were declared (removed ones by id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Declared jobs the set did not hold: scheduled from now.
    pub added: Vec<JobId>,
    /// Declared jobs whose definition changed: their schedule is kept when their
    /// trigger is unchanged, restarted from now when it changed.
    pub updated: Vec<JobId>,
    /// Declared jobs stored exactly as declared.
    pub unchanged: Vec<JobId>,
    /// Jobs of the set that were not declared: removed (their running runs finish).
    pub removed: Vec<JobId>,
}

impl SyncReport {
    /// Whether the sync changed the store.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }
}

/// How one declared job compares with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// New to the set.
    Added,
    /// Its definition changed.
    Updated,
    /// Stored as declared.
    Unchanged,
}

/// Checks a declaration before a store looks at it: every job valid, no id twice.
///
/// # Errors
///
/// [`Error::DuplicateJobId`] for an id declared twice; a job's own validation error.
pub fn check_declared(jobs: &[Job]) -> Result<()> {
    let mut seen = HashSet::with_capacity(jobs.len());
    for job in jobs {
        job.validate()?;
        if !seen.insert(job.id.as_str()) {
            return Err(Error::DuplicateJobId(job.id.clone()));
        }
    }
    Ok(())
}

/// The job to store for declared `job`, given the set's `stored` job with its id (`None`:
/// new, or a stored row that cannot be decoded, which is overwritten): a new job is
/// scheduled from `now` with its own paused flag; an existing one keeps its schedule if
/// its trigger is unchanged ([`Job::replacing`]) and keeps its stored paused flag (an
/// operator's pause survives a deploy).
///
/// # Errors
///
/// As [`Job::schedule`].
pub fn merge_declared(job: Job, stored: Option<&Job>, now: DateTime<Utc>) -> Result<(Job, Change)> {
    match stored {
        None => Ok((job.schedule(now)?, Change::Added)),
        Some(stored) => {
            let merged = job.replacing(stored, None, now)?;
            let change = if &merged == stored {
                Change::Unchanged
            } else {
                Change::Updated
            };
            Ok((merged, change))
        }
    }
}

impl SyncReport {
    /// Notes `id` under `change`.
    pub fn note(&mut self, id: JobId, change: Change) {
        match change {
            Change::Added => self.added.push(id),
            Change::Updated => self.updated.push(id),
            Change::Unchanged => self.unchanged.push(id),
        }
    }
}
