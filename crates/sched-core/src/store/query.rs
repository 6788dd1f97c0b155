//! What an operator asks a store: a page of jobs, a page of runs, the nodes. The
//! dashboard (`sched-web`) and `schedctl` read through these; a store answers them
//! with an index (SQL stores) or the defaults of [`JobStore`](super::JobStore), which
//! filter [`list_jobs`](super::JobStore::list_jobs) and
//! [`run_history`](super::JobStore::run_history).

use chrono::{DateTime, Utc};

use super::{RunId, RunRecord, RunStatus};
use crate::job::Job;

/// The longest page a store is asked for (a larger `limit` is cut to it).
pub const MAX_PAGE: usize = 1_000;

/// A page of jobs: those whose id, name or task contains `search` (case-insensitive),
/// in [`list_jobs`](super::JobStore::list_jobs) order, from `offset`, at most `limit`.
///
/// ```
/// use sched_core::store::JobQuery;
/// let query = JobQuery::new().search("sync").offset(50).limit(50);
/// assert_eq!((query.offset, query.limit), (50, 50));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobQuery {
    /// Text the id, name or task must contain (any case); `None`: every job.
    pub search: Option<String>,
    /// Jobs to skip.
    pub offset: usize,
    /// The most to return (at most [`MAX_PAGE`]).
    pub limit: usize,
}

impl Default for JobQuery {
    fn default() -> Self {
        Self {
            search: None,
            offset: 0,
            limit: 50,
        }
    }
}

impl JobQuery {
    /// The first 50 jobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only jobs whose id, name or task contains `text` (any case; empty: all).
    #[must_use]
    pub fn search(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.search = (!text.is_empty()).then_some(text);
        self
    }

    /// Skips the first `offset` jobs.
    #[must_use]
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// At most `limit` jobs (cut to [`MAX_PAGE`]).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.min(MAX_PAGE);
        self
    }

    /// Whether `job` is one the search asks for.
    pub fn matches(&self, job: &Job) -> bool {
        let Some(search) = &self.search else {
            return true;
        };
        let search = search.to_lowercase();
        [job.id.as_str(), job.name.as_str(), job.task.as_str()]
            .iter()
            .any(|field| field.to_lowercase().contains(&search))
    }
}

/// One page of [`JobQuery`]'s answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs of the page.
    pub jobs: Vec<Job>,
    /// How many jobs match the search in all (every page).
    pub total: usize,
}

impl JobPage {
    /// A page of `jobs` out of `total`.
    pub fn new(jobs: Vec<Job>, total: usize) -> Self {
        Self { jobs, total }
    }
}

/// A page of run history, newest first: the runs of `job_id` (all jobs: `None`), in
/// `status`, on `node`, with an id below `before` (the next page), at most `limit`.
///
/// ```
/// use sched_core::store::{RunQuery, RunStatus};
/// let query = RunQuery::new().job("sync").status(RunStatus::Error).limit(20);
/// assert_eq!(query.job_id.as_deref(), Some("sync"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunQuery {
    /// Only this job's runs.
    pub job_id: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this node.
    pub node: Option<String>,
    /// Only runs with a smaller id (older): the id of a page's last run gives the next.
    pub before: Option<RunId>,
    /// The most to return ([`limit`](Self::limit) cuts it to [`MAX_PAGE`]).
    pub limit: usize,
}

impl Default for RunQuery {
    fn default() -> Self {
        Self {
            job_id: None,
            status: None,
            node: None,
            before: None,
            limit: 50,
        }
    }
}

impl RunQuery {
    /// The 50 newest runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only runs of job `id`.
    #[must_use]
    pub fn job(mut self, id: impl Into<String>) -> Self {
        self.job_id = Some(id.into());
        self
    }

    /// Only runs in `status`.
    #[must_use]
    pub fn status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only runs of `node`.
    #[must_use]
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Only runs older than `run` (ids below it).
    #[must_use]
    pub fn before(mut self, run: RunId) -> Self {
        self.before = Some(run);
        self
    }

    /// At most `limit` runs (cut to [`MAX_PAGE`]).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.min(MAX_PAGE);
        self
    }

    /// Whether `run` is one the query asks for.
    pub fn matches(&self, run: &RunRecord) -> bool {
        self.job_id
            .as_deref()
            .is_none_or(|id| run.job_id.as_str() == id)
            && self.status.is_none_or(|status| run.status == status)
            && self.node.as_deref().is_none_or(|node| run.node == node)
            && self.before.is_none_or(|before| run.run_id < before)
    }
}

/// A node of a shared store, as its heartbeats left it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node's id.
    pub id: String,
    /// Its last heartbeat.
    pub last_seen: DateTime<Utc>,
    /// Its lease runs until then: a node past it stopped heartbeating (its runs are
    /// reaped).
    pub lease_until: DateTime<Utc>,
    /// Runs it holds (claimed, not ended).
    pub running: u64,
}

impl NodeInfo {
    /// Node `id`, last seen at `last_seen`, its lease until `lease_until`, holding
    /// `running` runs.
    pub fn new(
        id: impl Into<String>,
        last_seen: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        running: u64,
    ) -> Self {
        Self {
            id: id.into(),
            last_seen,
            lease_until,
            running,
        }
    }

    /// Whether its lease still holds at `now`.
    pub fn alive(&self, now: DateTime<Utc>) -> bool {
        self.lease_until >= now
    }
}
