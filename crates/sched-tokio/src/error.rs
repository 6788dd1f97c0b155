//! Errors of the scheduler handle.

/// What can go wrong when driving a [`Scheduler`](crate::Scheduler).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad trigger, job id, option or store failure (see [`sched_core::Error`]).
    #[error(transparent)]
    Core(#[from] sched_core::Error),
    /// `start` was called on a scheduler that is already running.
    #[error("the scheduler is already running")]
    AlreadyRunning,
    /// The scheduler was shut down: it takes no more jobs and cannot start again.
    #[error("the scheduler has been shut down")]
    ShutDown,
    /// The scheduler has not been started (`shutdown` before `start`).
    #[error("the scheduler is not running")]
    NotRunning,
    /// A job names a task that is not registered on this scheduler.
    #[error("no task named {0:?} is registered (call register_task first)")]
    UnknownTask(String),
    /// `run_job_now_and_wait`: the run was not started (`reason`: the job is at its
    /// `max_instances`).
    #[error("job {job_id:?} was not run now: {reason}")]
    RunNotStarted {
        /// The job.
        job_id: String,
        /// Why.
        reason: String,
    },
    /// Running jobs did not finish within the shutdown timeout and were aborted.
    #[error("{0} running job(s) did not finish within the shutdown timeout and were aborted")]
    ShutdownTimedOut(usize),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
