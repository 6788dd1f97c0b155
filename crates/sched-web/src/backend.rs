//! Where the dashboard reads and acts: a running [`Scheduler`], or only its store
//! (`schedctl serve`: the dashboard of a store, without running any job).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::store::{
    CancelRequest, JobPage, JobQuery, JobStore, NodeInfo, RunId, RunQuery, RunRecord, RunStatus,
};
use sched_core::trigger::Trigger;
use sched_tokio::{Event, Scheduler};
use tokio::sync::broadcast;

use crate::error::ApiError;

/// How many runs the dashboard remembers itself when the store keeps no history
/// (`MemoryStore`): the newest, from the scheduler's events.
pub(crate) const JOURNAL: usize = 1_000;

/// What the router works on.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// A scheduler: actions go through it (a run now starts at once, on this node).
    Scheduler(Scheduler),
    /// A store alone: actions change the stored jobs; the nodes running them act on
    /// the change (a run now is the job made due now).
    Store(Arc<dyn JobStore>),
}

/// The backend, and the run journal kept for a store without history.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) backend: Backend,
    journal: OnceLock<Arc<Journal>>,
}

impl Source {
    pub(crate) fn new(backend: Backend) -> Self {
        Self {
            backend,
            journal: OnceLock::new(),
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn JobStore> {
        match &self.backend {
            Backend::Scheduler(scheduler) => scheduler.store(),
            Backend::Store(store) => store,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        match &self.backend {
            Backend::Scheduler(scheduler) => scheduler.now(),
            Backend::Store(_) => Utc::now(),
        }
    }

    /// This node's id, when the dashboard runs inside a scheduler.
    pub(crate) fn node(&self) -> Option<&str> {
        match &self.backend {
            Backend::Scheduler(scheduler) => Some(scheduler.node_id()),
            Backend::Store(_) => None,
        }
    }

    /// Runs executing on this node (inside a scheduler).
    pub(crate) fn running_here(&self) -> Option<usize> {
        match &self.backend {
            Backend::Scheduler(scheduler) => Some(scheduler.stats().running),
            Backend::Store(_) => None,
        }
    }

    /// The scheduler's events (`None` for a store alone).
    pub(crate) fn subscribe(&self) -> Option<broadcast::Receiver<Event>> {
        match &self.backend {
            Backend::Scheduler(scheduler) => Some(scheduler.subscribe()),
            Backend::Store(_) => None,
        }
    }

    /// Starts the journal for a store that keeps no history (called when the router
    /// is built, inside a Tokio runtime; without one, the history stays empty).
    pub(crate) fn start_journal(&self) {
        let Backend::Scheduler(scheduler) = &self.backend else {
            return;
        };
        if scheduler.store().keeps_history() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let journal = self
            .journal
            .get_or_init(|| Arc::new(Journal::default()))
            .clone();
        let mut events = scheduler.subscribe();
        let node = scheduler.node_id().to_owned();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => journal.record(&event, &node),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    pub(crate) async fn jobs(&self, query: &JobQuery) -> Result<JobPage, ApiError> {
        Ok(self.store().query_jobs(query).await?)
    }

    pub(crate) async fn job(&self, id: &str) -> Result<Job, ApiError> {
        Ok(self.store().get_job(id).await?)
    }

    pub(crate) async fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, ApiError> {
        match self.journal.get() {
            Some(journal) => Ok(journal.query(query)),
            None => Ok(self.store().query_runs(query).await?),
        }
    }

    /// The newest finished run of `job` (its last outcome), if any.
    pub(crate) async fn last_outcome(&self, job: &str) -> Result<Option<RunRecord>, ApiError> {
        let runs = self.runs(&RunQuery::new().job(job).limit(5)).await?;
        Ok(runs
            .into_iter()
            .find(|run| run.status != RunStatus::Running))
    }

    pub(crate) async fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        Ok(self.store().nodes().await?)
    }

    pub(crate) async fn pause(&self, id: &str) -> Result<Job, ApiError> {
        match &self.backend {
            Backend::Scheduler(s) => Ok(s.pause_job(id).await?),
            Backend::Store(_) => self.change(id, Job::pause).await,
        }
    }

    pub(crate) async fn resume(&self, id: &str) -> Result<Job, ApiError> {
        let now = self.now();
        match &self.backend {
            Backend::Scheduler(s) => Ok(s.resume_job(id).await?),
            Backend::Store(_) => self.change(id, |job| job.resume(now)).await,
        }
    }

    /// Asks run `run_id` to stop, on whichever node runs it (the store alone reaches
    /// it too: it tells the node through `NOTIFY` and its heartbeat). `Ok(false)`: it
    /// had already ended.
    pub(crate) async fn cancel_run(&self, run_id: i64) -> Result<bool, ApiError> {
        let run_id = RunId(run_id);
        match &self.backend {
            Backend::Scheduler(s) => Ok(s.cancel_run(run_id).await?),
            Backend::Store(store) => Ok(matches!(
                store.request_cancel(run_id).await?,
                CancelRequest::Running { .. }
            )),
        }
    }

    pub(crate) async fn run_now(&self, id: &str) -> Result<Job, ApiError> {
        let now = self.now();
        match &self.backend {
            Backend::Scheduler(s) => Ok(s.run_job_now(id).await?),
            Backend::Store(_) => {
                let job = self.job(id).await?;
                if job.paused {
                    return Err(ApiError::conflict(format!(
                        "job {id:?} is paused: resume it to run it (a paused job's run-now would \
                         wait for the resume)"
                    )));
                }
                self.change(id, |job| job.run_now(now)).await
            }
        }
    }

    pub(crate) async fn remove(&self, id: &str) -> Result<Job, ApiError> {
        match &self.backend {
            Backend::Scheduler(s) => Ok(s.remove_job(id).await?),
            Backend::Store(store) => Ok(store.remove_job(id).await?),
        }
    }

    pub(crate) async fn reschedule(&self, id: &str, trigger: Trigger) -> Result<Job, ApiError> {
        trigger.validate()?;
        let now = self.now();
        match &self.backend {
            Backend::Scheduler(s) => Ok(s.reschedule_job(id, trigger).await?),
            Backend::Store(store) => {
                let mut job = store.get_job(id).await?;
                job.reschedule(trigger, now)?;
                store.update_job(job.clone()).await?;
                Ok(job)
            }
        }
    }

    async fn change(&self, id: &str, change: impl FnOnce(&mut Job)) -> Result<Job, ApiError> {
        let store = self.store();
        let mut job = store.get_job(id).await?;
        change(&mut job);
        store.update_job(job.clone()).await?;
        Ok(job)
    }
}

/// The runs the dashboard saw end, newest last (for a store without history).
#[derive(Debug, Default)]
struct Journal {
    runs: Mutex<VecDeque<RunRecord>>,
}

impl Journal {
    fn record(&self, event: &Event, node: &str) {
        let (run, status) = match event {
            Event::JobSubmitted(run) => (run, RunStatus::Running),
            Event::JobExecuted(run) => (run, RunStatus::Success),
            Event::JobError(run) => (run, error_status(run.error.as_deref())),
            _ => return,
        };
        let node = event.node().unwrap_or(node).to_owned();
        let finished = run
            .duration
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| run.started.checked_add_signed(d));
        let record = RunRecord::new(
            run.run_id,
            run.job_id.clone(),
            run.scheduled,
            run.started,
            node,
            status,
        )
        .ended(finished, run.error.clone());
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(same) = runs
            .iter_mut()
            .rev()
            .find(|r| r.run_id == record.run_id && r.node == record.node)
        {
            *same = record;
            return;
        }
        runs.push_back(record);
        while runs.len() > JOURNAL {
            runs.pop_front();
        }
    }

    fn query(&self, query: &RunQuery) -> Vec<RunRecord> {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.iter()
            .rev()
            .filter(|run| query.matches(run))
            .take(query.limit)
            .cloned()
            .collect()
    }
}

/// The status an error event stands for (its text says which).
fn error_status(error: Option<&str>) -> RunStatus {
    match error {
        Some(text) if text.contains("panic") => RunStatus::Panicked,
        Some(text) if text.contains("timed out") || text.contains("timeout") => RunStatus::TimedOut,
        Some(text) if text.contains("cancel") || text.contains("abort") => RunStatus::Cancelled,
        _ => RunStatus::Error,
    }
}
