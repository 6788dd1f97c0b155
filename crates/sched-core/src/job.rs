//! The job model: what a store persists and the runtime executes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::policy::{decide, Decision};
use crate::trigger::{Trigger, TriggerKind};

/// Per-job execution options, with scheduler-wide defaults.
///
/// The defaults never drop a run silently: unlimited misfire grace, coalescing on,
/// one instance at a time (a run that would overlap is skipped with an event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobOptions {
    /// A run that starts later than its scheduled time plus this is missed.
    /// `None`: never too late.
    pub misfire_grace_time: Option<Duration>,
    /// Several overdue runs run once (the newest), instead of each in turn.
    pub coalesce: bool,
    /// Most runs of this job executing at once, across every node sharing the store.
    pub max_instances: u32,
    /// A run still going after this long is cancelled and reported.
    pub timeout: Option<Duration>,
    /// When a node dies mid-run, run this job's abandoned run again elsewhere.
    pub recover_abandoned: bool,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            misfire_grace_time: None,
            coalesce: true,
            max_instances: 1,
            timeout: None,
            recover_abandoned: false,
        }
    }
}

impl JobOptions {
    /// Sets [`misfire_grace_time`](Self::misfire_grace_time).
    #[must_use]
    pub fn misfire_grace_time(mut self, grace: Duration) -> Self {
        self.misfire_grace_time = Some(grace);
        self
    }

    /// Sets [`coalesce`](Self::coalesce).
    #[must_use]
    pub fn coalesce(mut self, coalesce: bool) -> Self {
        self.coalesce = coalesce;
        self
    }

    /// Sets [`max_instances`](Self::max_instances).
    #[must_use]
    pub fn max_instances(mut self, max_instances: u32) -> Self {
        self.max_instances = max_instances;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`recover_abandoned`](Self::recover_abandoned).
    #[must_use]
    pub fn recover_abandoned(mut self, recover: bool) -> Self {
        self.recover_abandoned = recover;
        self
    }

    /// Rejects options that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.max_instances == 0 {
            return Err(Error::InvalidOptions(
                "max_instances must be at least 1, or the job could never run".into(),
            ));
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidOptions(
                "a timeout of zero would cancel every run at once".into(),
            ));
        }
        Ok(())
    }
}

/// A scheduled job: which task runs with which arguments, on which trigger.
///
/// ```
/// use std::time::Duration;
/// use sched_core::job::Job;
/// use sched_core::trigger::Trigger;
///
/// let job = Job::new("db_sync", "hourly_sync", Trigger::interval(Duration::from_secs(3600)))
///     .args(&serde_json::json!({ "full": false }))?;
/// job.validate()?;
/// # Ok::<(), sched_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Unique within a store.
    pub id: String,
    /// Human-readable name (defaults to the task name).
    pub name: String,
    /// Name of the registered task that runs.
    pub task: String,
    /// Arguments handed to the task, as JSON.
    #[serde(default)]
    pub args: serde_json::Value,
    /// When it fires.
    pub trigger: Trigger,
    /// Misfire, coalesce, instances, timeout.
    #[serde(default)]
    pub options: JobOptions,
    /// The next scheduled run; `None` once the trigger is done.
    #[serde(default)]
    pub next_run_time: Option<DateTime<Utc>>,
    /// A paused job keeps its schedule but is never claimed.
    #[serde(default)]
    pub paused: bool,
}

impl Job {
    /// A job with default options, not yet scheduled (see [`schedule`](Self::schedule)).
    pub fn new(id: impl Into<String>, task: impl Into<String>, trigger: Trigger) -> Self {
        let task = task.into();
        Self {
            id: id.into(),
            name: task.clone(),
            task,
            args: serde_json::Value::Null,
            trigger,
            options: JobOptions::default(),
            next_run_time: None,
            paused: false,
        }
    }

    /// Sets the arguments from any serialisable value.
    pub fn args<T: Serialize + ?Sized>(mut self, args: &T) -> Result<Self> {
        self.args = serde_json::to_value(args)?;
        Ok(self)
    }

    /// Sets the human-readable name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the options.
    #[must_use]
    pub fn options(mut self, options: JobOptions) -> Self {
        self.options = options;
        self
    }

    /// Checks the id, the trigger and the options.
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() {
            return Err(Error::EmptyJobId);
        }
        if self.task.trim().is_empty() {
            return Err(Error::InvalidOptions(format!(
                "job {:?} names no task",
                self.id
            )));
        }
        self.trigger.validate()?;
        self.options.validate()
    }

    /// Validates, anchors the trigger at `now` and sets the first run time (a date
    /// trigger keeps its date even if it has passed: the misfire rules then decide).
    pub fn schedule(mut self, now: DateTime<Utc>) -> Result<Self> {
        self.validate()?;
        self.trigger = self.trigger.anchored(now);
        self.next_run_time = self.first_run_time(now);
        Ok(self)
    }

    /// The first run time at or after `now` (see [`schedule`](Self::schedule)).
    pub fn first_run_time(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let TriggerKind::Date { at } = self.trigger.kind {
            if self.trigger.end.is_none_or(|end| at <= end) {
                return Some(at);
            }
        }
        self.next_fire_after(now - chrono::Duration::nanoseconds(1))
    }

    /// This job's fire time strictly after `after` (jitter salted by the id).
    pub fn next_fire_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.trigger.next_after_salted(after, self.salt())
    }

    /// The policy decision for this job at `now` with `running` runs executing.
    /// `None` if the job is paused or not due.
    pub fn decide(&self, now: DateTime<Utc>, running: u32) -> Option<Decision> {
        let due = self.next_run_time.filter(|due| *due <= now && !self.paused)?;
        Some(decide(due, now, &self.options, running, |t| {
            self.next_fire_after(t)
        }))
    }

    fn salt(&self) -> u64 {
        crate::trigger::stable_hash(self.id.as_bytes())
    }
}
