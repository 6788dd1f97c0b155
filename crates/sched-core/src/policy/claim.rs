//! The claim planner: which runs of the jobs a claim read start, which are reported
//! skipped, and where each job's schedule goes. Rows in, a plan out.
//!
//! Every store claims the same way: it reads the due jobs (locked, in a database), with
//! the scheduled times of their runs still executing, hands each to [`Planner`], and
//! writes what comes back — runs recorded under the claiming node's lease, next run
//! times moved, finished jobs removed or parked, undecodable rows quarantined. The
//! stores only read rows and write plans; the rules live here, once:
//!
//! 1. **First unclaimed occurrence.** An occurrence whose run is still executing (or,
//!    in a store that remembers it, was claimed last) is passed over without a run or
//!    an event: a stale write or a move of the next run time back never runs it twice.
//! 2. **Ahead check.** A job due after `now` (claim-ahead) takes one run, decided at its
//!    own time, and only within the horizon and with a free instance; otherwise it is
//!    left to be decided when due.
//! 3. **[`decide`](super::decide)**: misfire grace, coalescing, `max_instances`.
//!    A job whose [`Overlap`] policy waits keeps the run that came due at its limit as
//!    its *waiting run* (stored with the job), starts a waiting run first when an
//!    instance is free, and — `CancelPrevious` — asks its oldest running run to stop.
//! 4. **Skipped-run reports** for what `decide` did not start.
//! 5. **Reschedule, finish or park**: the next run time is written; a job whose trigger
//!    is done is removed, unless it has `recover_abandoned` and a run just started in a
//!    store where runs can be abandoned — then it is *parked* (kept, unscheduled) until
//!    that run ends.
//!
//! Each row is planned on its own ([`Planner::plan_job`]): one bad row never changes
//! what another job does.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::misfire::{Decision, Skipped};
use crate::error::Error;
use crate::job::{Job, JobId, JobOptions, Overlap};

/// Why scheduled runs of a job will not start (see [`Decision`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Later than the misfire grace time.
    Missed,
    /// Merged into a newer run by `coalesce`.
    Coalesced,
    /// `max_instances` runs of the job were already executing.
    MaxInstances,
}

/// Runs of one job that were skipped during a claim.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SkippedRuns {
    /// The job.
    pub job_id: JobId,
    /// Why.
    pub reason: SkipReason,
    /// Which scheduled times.
    pub runs: Skipped,
}

/// One stored job as a claim read it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The job (the runs it starts share this value).
    pub job: &'a Arc<Job>,
    /// Its stored next run time (a store may keep it beside the job value, whose own
    /// `next_run_time` is then not read).
    pub due: DateTime<Utc>,
    /// The scheduled times of its runs executing now, on any node.
    pub running: &'a [DateTime<Utc>],
    /// The latest occurrence a run was claimed for, where the store remembers it
    /// beyond the runs still executing (`MemoryStore` does; a run claimed ahead and
    /// ended stays claimed there).
    pub last_claimed: Option<DateTime<Utc>>,
    /// The run of this job waiting for an instance ([`Overlap::QueueOne`],
    /// [`Overlap::CancelPrevious`]), as stored with the job.
    pub waiting: Option<DateTime<Utc>>,
}

impl Candidate<'_> {
    #[inline]
    fn claimed(&self, at: DateTime<Utc>) -> bool {
        self.running.contains(&at) || self.last_claimed == Some(at)
    }

    #[inline]
    fn running_count(&self) -> u32 {
        u32::try_from(self.running.len()).unwrap_or(u32::MAX)
    }
}

/// A row a claim read: a job, or one that could not be decoded.
#[derive(Debug)]
pub enum Row<'a> {
    /// A job that decoded.
    Job(Candidate<'a>),
    /// A row that did not decode: quarantined (left in the store, untouched, and not
    /// read by later claims) and reported.
    Undecodable {
        /// The row's job id.
        job_id: String,
        /// What failed to decode (an [`Error::Decode`] naming the column).
        error: Error,
    },
}

/// What becomes of a job's stored schedule after a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextRun {
    /// Unchanged: nothing to write.
    Unchanged,
    /// Its next run time becomes this.
    At(DateTime<Utc>),
    /// Its trigger is done: remove the job.
    Finished,
    /// Its trigger is done, but the run just started may be abandoned and recovered
    /// (`recover_abandoned`), or may fail and be retried (`retry`), or a run of it
    /// waits for an instance: keep the job unscheduled until its last run ends.
    Parked,
    /// Its next fire time could not be found (a search gave up, see
    /// [`Trigger::next_checked`](crate::trigger::Trigger::next_checked)): not done, so
    /// not removed. Keep the job, do not claim it again, report it
    /// ([`Error::NoNextFireTime`]).
    Unknown,
}

/// The plan for one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPlan {
    /// Scheduled times to start (record under the node's lease), oldest first.
    pub runs: Vec<DateTime<Utc>>,
    /// Catch-up: more [`runs`](Self::runs) than instances free. Then they run in order,
    /// at most this many at once, each starting when one before it ends (see
    /// [`ClaimedRun::catch_up`](crate::store::ClaimedRun::catch_up)). `None`: they
    /// all start now.
    pub catch_up: Option<u32>,
    /// Runs that will not start, to report.
    pub skipped: Vec<SkippedRuns>,
    /// What to write for the job.
    pub next: NextRun,
    /// The job's waiting run to store (`Some(None)`: none waits any more; `None`:
    /// unchanged).
    pub waiting: Option<Option<DateTime<Utc>>>,
    /// The scheduled time of the running run to ask to stop ([`Overlap::CancelPrevious`]).
    pub supersede: Option<DateTime<Utc>>,
}

impl JobPlan {
    fn moved(next: NextRun) -> Self {
        Self {
            runs: Vec::new(),
            catch_up: None,
            skipped: Vec::new(),
            next,
            waiting: None,
            supersede: None,
        }
    }
}

/// A run a claim plans to record and start.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PlannedRun {
    /// Its job (shared by the job's runs of one claim).
    pub job: Arc<Job>,
    /// The fire time it stands for.
    pub scheduled: DateTime<Utc>,
    /// Part of a catch-up backlog run this many at a time (see [`JobPlan::catch_up`]).
    pub catch_up: Option<u32>,
}

impl PlannedRun {
    /// A run of `job` standing for `scheduled`, started now (not part of a backlog).
    pub fn new(job: Arc<Job>, scheduled: DateTime<Utc>) -> Self {
        Self {
            job,
            scheduled,
            catch_up: None,
        }
    }
}

impl SkippedRuns {
    /// The runs `runs` of `job_id`, skipped for `reason`.
    pub fn new(job_id: JobId, reason: SkipReason, runs: Skipped) -> Self {
        Self {
            job_id,
            reason,
            runs,
        }
    }

    /// The single run of `job_id` at `at`, skipped because `max_instances` runs of it are
    /// executing (what a claim of a job at its limit reports).
    pub fn max_instances(job_id: JobId, at: DateTime<Utc>) -> Self {
        let runs = Skipped {
            first: at,
            last: at,
            count: 1,
            more: false,
        };
        Self::new(job_id, SkipReason::MaxInstances, runs)
    }
}

/// The plan for a whole claim: what a store writes in its claim transaction.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ClaimPlan {
    /// Runs to record and start, oldest first per job.
    pub runs: Vec<PlannedRun>,
    /// Runs that will not start, to report.
    pub skipped: Vec<SkippedRuns>,
    /// New next run times.
    pub reschedule: Vec<(Arc<Job>, DateTime<Utc>)>,
    /// Jobs whose trigger is done: to remove (and to report as finished).
    pub finished: Vec<JobId>,
    /// Jobs to keep unscheduled until their last run ends ([`NextRun::Parked`]).
    pub parked: Vec<JobId>,
    /// Ids of rows that could not be decoded: to leave alone from now on.
    pub quarantined: Vec<String>,
    /// Why each of them could not be decoded, to report.
    pub errors: Vec<Error>,
    /// Waiting runs to store with their jobs (`None`: clear it; see [`JobPlan::waiting`]).
    pub waiting: Vec<(JobId, Option<DateTime<Utc>>)>,
    /// Running runs to ask to stop, by job and scheduled time
    /// ([`Overlap::CancelPrevious`]): the store marks them as [`request_cancel`] does
    /// and returns their ids in [`Acquired::cancel`](crate::store::Acquired::cancel).
    ///
    /// [`request_cancel`]: crate::store::JobStore::request_cancel
    pub supersede: Vec<(JobId, DateTime<Utc>)>,
}

impl ClaimPlan {
    /// What the claim returns once the store has recorded `runs` (those of
    /// [`runs`](Self::runs) it could record, taken out before): the runs, the skipped
    /// runs, the finished jobs and the decode errors.
    pub fn acquired(self, runs: Vec<crate::store::ClaimedRun>) -> crate::store::Acquired {
        crate::store::Acquired {
            runs,
            skipped: self.skipped,
            finished: self.finished,
            errors: self.errors,
            cancel: Vec::new(),
        }
    }
}

/// Plans claims at one instant. See the [module docs](self) for the rules.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sched_core::job::Job;
/// use sched_core::policy::claim::{Candidate, NextRun, Planner};
/// use sched_core::trigger::Trigger;
///
/// let now = "2026-01-01T00:01:00Z".parse().unwrap();
/// let job = Job::new("tick", "tick", Trigger::interval(Duration::from_secs(60))).schedule(now)?;
/// let due = job.next_run_time.unwrap(); // 00:02
/// let job = Arc::new(job);
/// let at_due = Planner::new(due, due);
/// let row = Candidate { job: &job, due, running: &[], last_claimed: None, waiting: None };
/// let plan = at_due.plan_job(row);
/// assert_eq!(plan.runs, vec![due]);
/// assert_eq!(plan.next, NextRun::At(due + chrono::Duration::minutes(1)));
/// // Its run still executing, the same occurrence is passed over, not run again.
/// let plan = at_due.plan_job(Candidate { running: &[due], ..row });
/// assert!(plan.runs.is_empty());
/// assert_eq!(plan.next, NextRun::At(due + chrono::Duration::minutes(1)));
/// # Ok::<(), sched_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Planner {
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    parks: bool,
}

impl Planner {
    /// Plans a claim at `now` that also takes runs due up to `horizon` (claim-ahead;
    /// `horizon == now` claims only what is due). Finished jobs are removed.
    pub fn new(now: DateTime<Utc>, horizon: DateTime<Utc>) -> Self {
        Self {
            now,
            horizon: horizon.max(now),
            parks: false,
        }
    }

    /// For a store whose runs can be abandoned (their node dies) and recovered: a job
    /// with `recover_abandoned` whose trigger is done is parked, not removed, while its
    /// last run may still need recovering.
    #[must_use]
    pub fn parking(mut self, parks: bool) -> Self {
        self.parks = parks;
        self
    }

    /// The plan for one job, on its own.
    #[inline]
    pub fn plan_job(&self, row: Candidate<'_>) -> JobPlan {
        if row.job.options.overlap.waits() || row.waiting.is_some() {
            return self.plan_waiting(row);
        }
        self.plan_occurrences(row, row.running_count(), &row.job.options)
    }

    /// [`plan_job`](Self::plan_job) for a job whose runs may wait for an instance: a
    /// waiting run starts first when an instance is free; a run due at the limit
    /// waits (one at most, the newest: the others in grace are coalesced into it),
    /// and `CancelPrevious` asks the oldest running run to stop.
    #[cold]
    fn plan_waiting(&self, row: Candidate<'_>) -> JobPlan {
        let job = row.job;
        let policy = job.options.overlap;
        // A waiting run whose occurrence was claimed meanwhile waits no more.
        let stored = row.waiting.filter(|at| !row.claimed(*at));
        let mut waiting = stored;
        let mut started = None;
        if waiting.is_some() && row.running_count() < job.options.max_instances {
            started = waiting.take();
        }
        let running = row
            .running_count()
            .saturating_add(u32::from(started.is_some()));
        let mut options = job.options.clone();
        if policy.waits() && running >= options.max_instances {
            options.coalesce = true;
        }
        let mut plan = self.plan_occurrences(row, running, &options);
        if let Some(at) = started {
            plan.runs.insert(0, at);
            plan.catch_up = plan.catch_up.map(|width| width.saturating_add(1));
        }
        let over = plan
            .skipped
            .iter()
            .position(|s| s.reason == SkipReason::MaxInstances && s.runs.count == 1);
        if let (true, Some(index)) = (policy.waits(), over) {
            let due = plan.skipped[index].runs.last;
            match (waiting, policy) {
                (None, _) => {
                    plan.skipped.remove(index);
                    waiting = Some(due);
                    if policy == Overlap::CancelPrevious {
                        plan.supersede = row.running.iter().copied().min();
                        if plan.supersede.is_none() {
                            // Only the waiting run just started holds the instance: the
                            // newer run starts in its place, and it is skipped instead.
                            if let Some(first) = plan.runs.first_mut() {
                                plan.skipped
                                    .push(SkippedRuns::max_instances(job.id.clone(), *first));
                                *first = due;
                                waiting = None;
                            }
                        }
                    }
                }
                (Some(old), Overlap::CancelPrevious) => {
                    // The newest due run waits in place of the older one, which is
                    // skipped; the running run was asked to stop already (asked again:
                    // a notice may have been lost).
                    plan.skipped[index] = SkippedRuns::max_instances(job.id.clone(), old);
                    waiting = Some(due);
                    plan.supersede = row.running.iter().copied().min();
                }
                _ => {}
            }
        }
        if waiting != row.waiting {
            plan.waiting = Some(waiting);
        }
        if waiting.is_some() && plan.next == NextRun::Finished {
            // Its trigger is done but a run waits: kept, unscheduled, until it starts.
            plan.next = NextRun::Parked;
        }
        plan
    }

    /// Plans the occurrences of `row` with `running` instances taken and `options`.
    #[inline]
    fn plan_occurrences(&self, row: Candidate<'_>, running: u32, options: &JobOptions) -> JobPlan {
        let job = row.job;
        // Occurrences already claimed are passed over silently.
        let (from, decision) = match job.first_unclaimed(row.due, |at| row.claimed(at)) {
            Ok(due) => {
                let moved = if due == row.due {
                    NextRun::Unchanged
                } else {
                    NextRun::At(due)
                };
                if due > self.now && (due > self.horizon || running >= options.max_instances) {
                    // Claimed ahead only within the horizon and with a free instance;
                    // otherwise decided when due.
                    return JobPlan::moved(moved);
                }
                // A run claimed ahead is decided at its own time: one run, not late.
                let decision = super::decide(due, due.max(self.now), options, running, |t| {
                    job.next_fire_after(t)
                });
                if due > self.now && decision.next_run_time.is_none() {
                    // A job's last run is not claimed ahead: its claim would finish the
                    // job, and a change or removal before the run's time would find no
                    // job to apply to. Decided when due.
                    return JobPlan::moved(moved);
                }
                (due, decision)
            }
            Err(last) => (last, Decision::default()),
        };
        self.decided(row, from, decision)
    }

    /// Carries out `decision` for `row`, whose occurrences looked at are `from` and
    /// those `decision` names.
    #[inline]
    fn decided(&self, row: Candidate<'_>, from: DateTime<Utc>, decision: Decision) -> JobPlan {
        let job = row.job;
        // Most claims skip nothing: no report to build then (this is the hot path).
        let skipped = if decision.missed.is_none()
            && decision.coalesced.is_none()
            && decision.over_limit.is_none()
        {
            Vec::new()
        } else {
            skips(&job.id, &decision)
        };
        let started = !decision.run.is_empty();
        let next = match decision.next_run_time {
            Some(at) => NextRun::At(at),
            // Its last runs may be executing on other nodes (not started again here):
            // they can be abandoned and need recovering all the same.
            // Only a trigger that is done ends a job (asked again: this is rare).
            None if job.next_fire_checked(latest(from, &decision)).is_err() => NextRun::Unknown,
            // A job that retries may have a run of an earlier occurrence still to retry
            // (the store removes it once nothing of it can run).
            None if job.options.retry.is_some() => NextRun::Parked,
            None if self.parks && job.options.recover_abandoned && started => NextRun::Parked,
            None => NextRun::Finished,
        };
        let mut runs = decision.run;
        // An occurrence still running is never started again (checked inline for the
        // one run of the common case).
        if runs.len() > 1 || runs.first().is_some_and(|at| row.claimed(*at)) {
            runs.retain(|at| !row.claimed(*at));
        }
        let catch_up = (runs.len() > decision.width)
            .then(|| u32::try_from(decision.width.max(1)).unwrap_or(u32::MAX));
        JobPlan {
            runs,
            catch_up,
            skipped,
            next,
            waiting: None,
            supersede: None,
        }
    }

    /// The plan for every row of a claim, each planned on its own.
    pub fn plan<'a>(&self, rows: impl IntoIterator<Item = Row<'a>>) -> ClaimPlan {
        let mut plan = ClaimPlan::default();
        for row in rows {
            let candidate = match row {
                Row::Job(candidate) => candidate,
                Row::Undecodable { job_id, error } => {
                    plan.quarantined.push(job_id);
                    plan.errors.push(error);
                    continue;
                }
            };
            let job = candidate.job;
            let JobPlan {
                runs,
                catch_up,
                skipped,
                next,
                waiting,
                supersede,
            } = self.plan_job(candidate);
            plan.skipped.extend(skipped);
            if let Some(waiting) = waiting {
                plan.waiting.push((job.id.clone(), waiting));
            }
            if let Some(at) = supersede {
                plan.supersede.push((job.id.clone(), at));
            }
            match next {
                NextRun::Unchanged => {}
                NextRun::At(at) => plan.reschedule.push((Arc::clone(job), at)),
                NextRun::Finished => plan.finished.push(job.id.clone()),
                NextRun::Parked => plan.parked.push(job.id.clone()),
                NextRun::Unknown => {
                    // Left as it is, and not read by this store's claims again.
                    plan.quarantined.push(job.id.to_string());
                    plan.errors.push(Error::NoNextFireTime {
                        job_id: job.id.clone(),
                    });
                }
            }
            plan.runs
                .extend(runs.into_iter().map(|scheduled| PlannedRun {
                    job: Arc::clone(job),
                    scheduled,
                    catch_up,
                }));
        }
        plan
    }
}

/// The skipped-run reports of `decision`, one per reason.
fn skips(job_id: &JobId, decision: &Decision) -> Vec<SkippedRuns> {
    let mut skipped = Vec::new();
    for (reason, runs) in [
        (SkipReason::Missed, decision.missed),
        (SkipReason::Coalesced, decision.coalesced),
        (SkipReason::MaxInstances, decision.over_limit),
    ] {
        if let Some(runs) = runs {
            skipped.push(SkippedRuns {
                job_id: job_id.clone(),
                reason,
                runs,
            });
        }
    }
    skipped
}

/// Where a job goes when a run of it, scheduled at `abandoned`, was abandoned (its node
/// died): for a job with `recover_abandoned` that is not paused, due again at the run's
/// own time — or at its current next run time if that is earlier — so the misfire rules
/// decide whether it still runs. `None`: the job is left as it is (not recovered).
///
/// ```
/// use sched_core::job::JobOptions;
/// use sched_core::policy::claim::recover;
///
/// let recovering = JobOptions::default().recover_abandoned(true);
/// let (run, next) = ("2026-01-01T00:00:00Z".parse().unwrap(), "2026-01-01T00:01:00Z".parse().unwrap());
/// assert_eq!(recover(&recovering, false, Some(next), run), Some(run));
/// assert_eq!(recover(&recovering, false, None, run), Some(run));
/// assert_eq!(recover(&recovering, true, Some(next), run), None, "paused");
/// assert_eq!(recover(&JobOptions::default(), false, Some(next), run), None, "not opted in");
/// ```
pub fn recover(
    options: &JobOptions,
    paused: bool,
    current: Option<DateTime<Utc>>,
    abandoned: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    (options.recover_abandoned && !paused)
        .then(|| current.map_or(abandoned, |current| current.min(abandoned)))
}

/// The latest occurrence `decision` looked at, `from` when it names none (asked only
/// when a job has no next run, so kept off the hot path).
#[cold]
fn latest(from: DateTime<Utc>, decision: &Decision) -> DateTime<Utc> {
    let skipped = [decision.missed, decision.coalesced, decision.over_limit];
    (decision.run.iter().copied())
        .chain(skipped.iter().flatten().map(|s| s.last))
        .fold(from, DateTime::max)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::trigger::Trigger;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn minutely(options: JobOptions) -> Arc<Job> {
        let job = Job::new(
            "j",
            "t",
            Trigger::interval(Duration::from_secs(60)).start(at("2026-01-01T00:00:00Z")),
        )
        .options(options);
        Arc::new(job)
    }

    fn candidate<'a>(job: &'a Arc<Job>, due: &str, running: &'a [DateTime<Utc>]) -> Candidate<'a> {
        Candidate {
            job,
            due: at(due),
            running,
            last_claimed: None,
            waiting: None,
        }
    }

    #[test]
    fn due_job_runs_once_and_moves_on() {
        let job = minutely(JobOptions::default());
        let now = at("2026-01-01T00:00:30Z");
        let plan = Planner::new(now, now).plan_job(candidate(&job, "2026-01-01T00:00:00Z", &[]));
        assert_eq!(plan.runs, vec![at("2026-01-01T00:00:00Z")]);
        assert!(plan.skipped.is_empty());
        assert_eq!(plan.next, NextRun::At(at("2026-01-01T00:01:00Z")));
    }

    #[test]
    fn claimed_occurrences_are_passed_over_without_a_report() {
        let job = minutely(JobOptions::default().max_instances(3));
        let now = at("2026-01-01T00:01:30Z");
        let running = [at("2026-01-01T00:00:00Z")];
        let mut row = candidate(&job, "2026-01-01T00:00:00Z", &running);
        let plan = Planner::new(now, now).plan_job(row);
        assert_eq!(
            plan.runs,
            vec![at("2026-01-01T00:01:00Z")],
            "the running one is not run again"
        );
        assert!(plan.skipped.is_empty());
        // Remembered as last claimed (MemoryStore), it is passed over the same way.
        row.running = &[];
        row.last_claimed = Some(at("2026-01-01T00:00:00Z"));
        assert_eq!(
            Planner::new(now, now).plan_job(row).runs,
            vec![at("2026-01-01T00:01:00Z")]
        );
    }

    #[test]
    fn a_claimed_occurrence_after_now_only_moves_the_schedule() {
        let job = minutely(JobOptions::default());
        let now = at("2026-01-01T00:00:30Z");
        let running = [at("2026-01-01T00:00:00Z")];
        let plan =
            Planner::new(now, now).plan_job(candidate(&job, "2026-01-01T00:00:00Z", &running));
        assert!(plan.runs.is_empty());
        assert_eq!(plan.next, NextRun::At(at("2026-01-01T00:01:00Z")));
    }

    #[test]
    fn ahead_takes_one_run_at_its_own_time_with_a_free_instance_only() {
        let job = minutely(JobOptions::default().misfire_grace_time(Duration::from_secs(1)));
        let now = at("2026-01-01T00:00:59.800Z");
        let ahead = Planner::new(now, at("2026-01-01T00:01:00.100Z"));
        let plan = ahead.plan_job(candidate(&job, "2026-01-01T00:01:00Z", &[]));
        assert_eq!(
            plan.runs,
            vec![at("2026-01-01T00:01:00Z")],
            "not missed: decided at its time"
        );
        assert_eq!(plan.next, NextRun::At(at("2026-01-01T00:02:00Z")));
        let running = [at("2026-01-01T00:00:00Z")];
        let plan = ahead.plan_job(candidate(&job, "2026-01-01T00:01:00Z", &running));
        assert_eq!(
            plan,
            JobPlan::moved(NextRun::Unchanged),
            "instance taken: decided when due"
        );
        let plan = Planner::new(now, now).plan_job(candidate(&job, "2026-01-01T00:01:00Z", &[]));
        assert_eq!(
            plan,
            JobPlan::moved(NextRun::Unchanged),
            "beyond the horizon"
        );
    }

    #[test]
    fn a_jobs_last_run_is_not_claimed_ahead() {
        let now = at("2026-01-01T00:00:59.800Z");
        let ahead = Planner::new(now, at("2026-01-01T00:01:00.100Z"));
        let once = Arc::new(Job::new(
            "once",
            "t",
            Trigger::date(at("2026-01-01T00:01:00Z")),
        ));
        let plan = ahead.plan_job(candidate(&once, "2026-01-01T00:01:00Z", &[]));
        assert_eq!(
            plan,
            JobPlan::moved(NextRun::Unchanged),
            "a one-off run is claimed when due, its job kept until then"
        );
        let due = Planner::new(at("2026-01-01T00:01:00Z"), at("2026-01-01T00:01:00.300Z"));
        let plan = due.plan_job(candidate(&once, "2026-01-01T00:01:00Z", &[]));
        assert_eq!(plan.runs, vec![at("2026-01-01T00:01:00Z")]);
        assert_eq!(plan.next, NextRun::Finished);
        // The last run of an interval that ends is left the same way.
        let ending = Job::new(
            "ending",
            "t",
            Trigger::interval(Duration::from_secs(60))
                .start(at("2026-01-01T00:00:00Z"))
                .end(at("2026-01-01T00:01:30Z")),
        );
        let ending = Arc::new(ending);
        let plan = ahead.plan_job(candidate(&ending, "2026-01-01T00:01:00Z", &[]));
        assert!(plan.runs.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_given_back_occurrence_is_restored_only_while_it_is_still_the_jobs() {
        let mut job = Job::new(
            "j",
            "t",
            Trigger::interval(Duration::from_secs(60)).start(at("2026-01-01T00:00:00Z")),
        );
        job.next_run_time = Some(at("2026-01-01T00:02:00Z"));
        assert!(
            job.restores(at("2026-01-01T00:01:00Z")),
            "claimed ahead, given back"
        );
        assert!(
            !job.restores(at("2026-01-01T00:01:30Z")),
            "not an occurrence"
        );
        assert!(!job.restores(at("2026-01-01T00:02:00Z")), "already next");
        job.pause();
        assert!(
            job.restores(at("2026-01-01T00:01:00Z")),
            "paused: kept for a resume"
        );
        job.next_run_time = None;
        assert!(!job.restores(at("2026-01-01T00:01:00Z")), "trigger done");
    }

    #[test]
    fn skips_are_reported_per_reason() {
        let options = JobOptions::default()
            .coalesce(true)
            .misfire_grace_time(Duration::from_secs(150));
        let job = minutely(options);
        let now = at("2026-01-01T00:05:30Z");
        let plan = Planner::new(now, now).plan_job(candidate(&job, "2026-01-01T00:00:00Z", &[]));
        assert_eq!(plan.runs, vec![at("2026-01-01T00:05:00Z")]);
        let reasons: Vec<(SkipReason, u64)> = plan
            .skipped
            .iter()
            .map(|s| (s.reason, s.runs.count))
            .collect();
        assert_eq!(
            reasons,
            vec![(SkipReason::Missed, 3), (SkipReason::Coalesced, 2)]
        );
        assert!(plan.skipped.iter().all(|s| &*s.job_id == "j"));
    }

    #[test]
    fn done_trigger_finishes_or_parks() {
        let date = |recover| {
            Arc::new(
                Job::new("once", "t", Trigger::date(at("2026-01-01T00:00:00Z")))
                    .options(JobOptions::default().recover_abandoned(recover)),
            )
        };
        let now = at("2026-01-01T00:00:01Z");
        let (plain, recovering) = (date(false), date(true));
        let finish = |job: &Arc<Job>, parks| {
            Planner::new(now, now)
                .parking(parks)
                .plan_job(candidate(job, "2026-01-01T00:00:00Z", &[]))
                .next
        };
        assert_eq!(finish(&plain, true), NextRun::Finished);
        assert_eq!(finish(&recovering, false), NextRun::Finished);
        assert_eq!(finish(&recovering, true), NextRun::Parked);
        // Its one run already executing: nothing starts, nothing to recover from here.
        let running = [at("2026-01-01T00:00:00Z")];
        let plan = Planner::new(now, now).parking(true).plan_job(candidate(
            &recovering,
            "2026-01-01T00:00:00Z",
            &running,
        ));
        assert_eq!((plan.runs.len(), plan.next), (0, NextRun::Finished));
    }

    #[test]
    fn queue_one_keeps_the_newest_run_due_at_the_limit_waiting() {
        let job = minutely(
            JobOptions::default()
                .overlap(Overlap::QueueOne)
                .coalesce(false),
        );
        let now = at("2026-01-01T00:03:30Z");
        let running = [at("2026-01-01T00:00:00Z")];
        let plan =
            Planner::new(now, now).plan_job(candidate(&job, "2026-01-01T00:01:00Z", &running));
        assert!(plan.runs.is_empty());
        assert_eq!(
            plan.waiting,
            Some(Some(at("2026-01-01T00:03:00Z"))),
            "the newest waits"
        );
        let reasons: Vec<_> = plan
            .skipped
            .iter()
            .map(|s| (s.reason, s.runs.count))
            .collect();
        assert_eq!(
            reasons,
            vec![(SkipReason::Coalesced, 2)],
            "the older ones merge into it"
        );
        assert_eq!(plan.supersede, None);
        // With one waiting already, the next due at the limit is skipped.
        let row = Candidate {
            waiting: Some(at("2026-01-01T00:03:00Z")),
            ..candidate(&job, "2026-01-01T00:04:00Z", &running)
        };
        let plan =
            Planner::new(at("2026-01-01T00:04:00Z"), at("2026-01-01T00:04:00Z")).plan_job(row);
        assert_eq!((plan.runs.len(), plan.waiting), (0, None));
        assert_eq!(plan.skipped[0].reason, SkipReason::MaxInstances);
        // An instance free: the waiting run starts first, the one due now waits.
        let plan = Planner::new(at("2026-01-01T00:04:00Z"), at("2026-01-01T00:04:00Z")).plan_job(
            Candidate {
                running: &[],
                ..row
            },
        );
        assert_eq!(plan.runs, vec![at("2026-01-01T00:03:00Z")]);
        assert_eq!(plan.waiting, Some(Some(at("2026-01-01T00:04:00Z"))));
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn cancel_previous_supersedes_the_oldest_running_run() {
        let options = JobOptions::default()
            .overlap(Overlap::CancelPrevious)
            .max_instances(2);
        let job = minutely(options);
        let now = at("2026-01-01T00:02:00Z");
        let running = [at("2026-01-01T00:01:00Z"), at("2026-01-01T00:00:00Z")];
        let plan =
            Planner::new(now, now).plan_job(candidate(&job, "2026-01-01T00:02:00Z", &running));
        assert_eq!(plan.supersede, Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(plan.waiting, Some(Some(now)));
        assert!(plan.runs.is_empty() && plan.skipped.is_empty());
        // A trigger that is done with a run waiting keeps its job, unscheduled.
        let once = Arc::new(
            Job::new("once", "t", Trigger::date(now))
                .options(JobOptions::default().overlap(Overlap::QueueOne)),
        );
        let busy = [at("2026-01-01T00:00:00Z")];
        let plan = Planner::new(now, now).plan_job(candidate(&once, "2026-01-01T00:02:00Z", &busy));
        assert_eq!(
            (plan.waiting, plan.next),
            (Some(Some(now)), NextRun::Parked)
        );
    }

    #[test]
    fn rows_are_planned_each_on_its_own() {
        let good = minutely(JobOptions::default());
        let now = at("2026-01-01T00:00:30Z");
        let rows = [
            Row::Undecodable {
                job_id: "bad".into(),
                error: Error::Decode {
                    job_id: "bad".into(),
                    reason: "column trigger: expected value".into(),
                },
            },
            Row::Job(candidate(&good, "2026-01-01T00:00:00Z", &[])),
        ];
        let plan = Planner::new(now, now).plan(rows);
        assert_eq!(plan.quarantined, vec!["bad".to_owned()]);
        assert_eq!(plan.errors.len(), 1);
        assert_eq!(plan.runs.len(), 1, "the good row is claimed all the same");
        assert_eq!(plan.reschedule.len(), 1);
        assert!(plan.finished.is_empty() && plan.parked.is_empty());
    }
}
