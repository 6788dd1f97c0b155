//! `MemoryStore`: jobs in a map, due jobs in an ordered index. The default store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AcquireRequest, Acquired, ClaimedRun, JobStore, Outcome, RunId, SkipReason, SkippedRuns,
};
use crate::error::{Error, Result};
use crate::job::Job;

/// An in-process store: fast, and gone with the process.
///
/// Due jobs are kept in a `BTreeSet` ordered by next run time, so a claim touches only
/// the jobs it returns, whatever the number of jobs.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<String, Job>,
    /// (next run time, id) of every job that is not paused and has a next run time.
    due: BTreeSet<(DateTime<Utc>, String)>,
    /// Claimed, unfinished runs.
    runs: HashMap<RunId, Run>,
    /// (job id, scheduled time) of every claimed, unfinished run: an occurrence in here
    /// is never claimed again, even if a stale `update_job` wrote its time back (the
    /// SQL stores get this from a unique key on the runs table).
    occurrences: HashSet<(String, DateTime<Utc>)>,
    /// Per job, how many runs are executing.
    running: HashMap<String, u32>,
    next_run_id: i64,
}

#[derive(Debug)]
struct Run {
    job_id: String,
    node: String,
    scheduled: DateTime<Utc>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation below leaves `Inner` consistent before anything can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn index(&mut self, job: &Job) {
        if let (Some(at), false) = (job.next_run_time, job.paused) {
            self.due.insert((at, job.id.clone()));
        }
    }

    fn unindex(&mut self, job: &Job) {
        if let Some(at) = job.next_run_time {
            self.due.remove(&(at, job.id.clone()));
        }
    }

    fn put(&mut self, job: Job) {
        if let Some(old) = self.jobs.remove(&job.id) {
            self.unindex(&old);
        }
        self.index(&job);
        self.jobs.insert(job.id.clone(), job);
    }

    fn finish_run(&mut self, run_id: RunId) -> Option<Run> {
        let run = self.runs.remove(&run_id)?;
        self.occurrences
            .remove(&(run.job_id.clone(), run.scheduled));
        if let Some(count) = self.running.get_mut(&run.job_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.running.remove(&run.job_id);
            }
        }
        Some(run)
    }

    fn start_run(&mut self, job_id: &str, node: &str, scheduled: DateTime<Utc>) -> RunId {
        self.next_run_id += 1;
        let run_id = RunId(self.next_run_id);
        let run = Run {
            job_id: job_id.to_owned(),
            node: node.to_owned(),
            scheduled,
        };
        self.runs.insert(run_id, run);
        self.occurrences.insert((job_id.to_owned(), scheduled));
        *self.running.entry(job_id.to_owned()).or_default() += 1;
        run_id
    }
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn add_job(&self, job: Job, replace_existing: bool) -> Result<()> {
        job.validate()?;
        let mut inner = self.lock();
        if !replace_existing && inner.jobs.contains_key(&job.id) {
            return Err(Error::DuplicateJobId(job.id));
        }
        inner.put(job);
        Ok(())
    }

    async fn update_job(&self, job: Job) -> Result<()> {
        job.validate()?;
        let mut inner = self.lock();
        if !inner.jobs.contains_key(&job.id) {
            return Err(Error::JobNotFound(job.id));
        }
        inner.put(job);
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<Job> {
        let mut inner = self.lock();
        let job = inner
            .jobs
            .remove(id)
            .ok_or_else(|| Error::JobNotFound(id.to_owned()))?;
        inner.unindex(&job);
        Ok(job)
    }

    async fn remove_all_jobs(&self) -> Result<u64> {
        let mut inner = self.lock();
        let count = inner.jobs.len() as u64;
        inner.jobs.clear();
        inner.due.clear();
        Ok(count)
    }

    async fn get_job(&self, id: &str) -> Result<Job> {
        self.lock()
            .jobs
            .get(id)
            .cloned()
            .ok_or_else(|| Error::JobNotFound(id.to_owned()))
    }

    async fn list_jobs(&self) -> Result<Vec<Job>> {
        let mut jobs: Vec<Job> = self.lock().jobs.values().cloned().collect();
        jobs.sort_by(|a, b| {
            // Unscheduled jobs sort after scheduled ones: `None` is "never".
            let key = |j: &Job| {
                let never = j.next_run_time.is_none();
                (j.paused || never, never, j.next_run_time)
            };
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(jobs)
    }

    async fn next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.lock().due.first().map(|(at, _)| *at))
    }

    async fn acquire(&self, request: AcquireRequest) -> Result<Acquired> {
        let mut inner = self.lock();
        let mut acquired = Acquired::default();
        let due: Vec<(DateTime<Utc>, String)> = inner
            .due
            .iter()
            .take_while(|(at, _)| *at <= request.now)
            .take(request.limit)
            .cloned()
            .collect();
        for (at, id) in due {
            inner.due.remove(&(at, id.clone()));
            let Some(mut job) = inner.jobs.remove(&id) else {
                continue;
            };
            let running = inner.running.get(&id).copied().unwrap_or(0);
            let Some(decision) = job.decide(request.now, running) else {
                inner.put(job);
                continue;
            };
            job.next_run_time = decision.next_run_time;
            for (reason, skipped) in [
                (SkipReason::Missed, decision.missed),
                (SkipReason::Coalesced, decision.coalesced),
                (SkipReason::MaxInstances, decision.over_limit),
            ] {
                if let Some(runs) = skipped {
                    acquired.skipped.push(SkippedRuns {
                        job_id: id.clone(),
                        reason,
                        runs,
                    });
                }
            }
            for scheduled in decision.run {
                if inner.occurrences.contains(&(id.clone(), scheduled)) {
                    continue; // still running: a stale write put its time back
                }
                let run_id = inner.start_run(&id, &request.node, scheduled);
                acquired.runs.push(ClaimedRun {
                    run_id,
                    job: std::sync::Arc::new(job.clone()),
                    scheduled,
                });
            }
            if job.next_run_time.is_none() {
                acquired.finished.push(id);
            } else {
                inner.put(job);
            }
        }
        acquired.runs.sort_by_key(|run| run.scheduled);
        Ok(acquired)
    }

    async fn complete(
        &self,
        run_id: RunId,
        _outcome: Outcome,
        _finished: DateTime<Utc>,
    ) -> Result<()> {
        self.lock()
            .finish_run(run_id)
            .map(drop)
            .ok_or(Error::RunNotFound(run_id.0))
    }

    async fn release(&self, node: &str) -> Result<u64> {
        let mut inner = self.lock();
        let mine: Vec<RunId> = inner
            .runs
            .iter()
            .filter(|(_, run)| run.node == node)
            .map(|(id, _)| *id)
            .collect();
        for run_id in &mine {
            inner.finish_run(*run_id);
        }
        Ok(mine.len() as u64)
    }

    async fn running(&self, job_id: &str) -> Result<u32> {
        Ok(self.lock().running.get(job_id).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryStore;
    use crate::store::{contract, JobStore};

    fn fresh() -> Arc<dyn JobStore> {
        Arc::new(MemoryStore::new())
    }

    #[tokio::test]
    async fn passes_the_contract() {
        contract::run_all(|| async { fresh() }).await;
    }

    /// The suite's futures are `Send`: a store's tests may spawn them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contract_runs_on_a_spawned_task() {
        tokio::spawn(contract::concurrent_claims(fresh()))
            .await
            .expect("the contract check panicked");
    }

    #[tokio::test]
    async fn ten_thousand_jobs_each_claimed_once() {
        contract::claims_each_due_job_once(fresh(), 10_000).await;
    }
}
