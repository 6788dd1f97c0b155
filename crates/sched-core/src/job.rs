//! The job model: what a store persists and the runtime executes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::policy::{decide, Decision};
use crate::support::Attachment;
use crate::trigger::{just_before, Trigger};

mod retry;

pub use self::retry::{jitter_sample, RetryPolicy};

/// A job's id: unique within a store. Cheap to clone (shared), compared and hashed
/// as the string it holds, and compared with `&str` and `String` directly.
///
/// ```
/// use sched_core::job::JobId;
///
/// let id = JobId::from("db_sync");
/// assert_eq!(id, "db_sync");
/// assert_eq!(id.to_string(), "db_sync");
/// assert!(id.starts_with("db_")); // a `str` through `Deref`
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct JobId(Arc<str>);

impl JobId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for JobId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for JobId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for JobId {
    fn from(id: &str) -> Self {
        Self(Arc::from(id))
    }
}

impl From<String> for JobId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl From<&String> for JobId {
    fn from(id: &String) -> Self {
        Self(Arc::from(id.as_str()))
    }
}

impl From<Arc<str>> for JobId {
    fn from(id: Arc<str>) -> Self {
        Self(id)
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for JobId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for JobId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for JobId {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<JobId> for str {
    fn eq(&self, other: &JobId) -> bool {
        self == &*other.0
    }
}

impl PartialEq<JobId> for &str {
    fn eq(&self, other: &JobId) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<JobId> for String {
    fn eq(&self, other: &JobId) -> bool {
        self.as_str() == &*other.0
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// The deepest JSON a store reads back: arrays and objects nested at most this many
/// levels (`[[1]]` is 2). serde_json, with which the SQL stores read a job's arguments
/// and trigger back, refuses to parse deeper (its recursion limit of 128 stops at the
/// 128th level), so [`Job::validate`] and [`Trigger::validate`] refuse deeper values
/// ([`Error::NestedTooDeep`]) instead of letting a store accept a job it cannot read.
pub const MAX_JSON_DEPTH: usize = 127;

/// What is nested too deeply in [`Error::NestedTooDeep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nested {
    /// The job's arguments.
    Args,
    /// The trigger (`and`/`or` combinations inside each other).
    Trigger,
}

impl Nested {
    /// What to do about it, for the error message.
    pub(crate) fn remedy(self) -> &'static str {
        match self {
            Nested::Args => "flatten them, or pass a key to data kept elsewhere",
            Nested::Trigger => "nest fewer and/or combinations inside each other",
        }
    }
}

impl fmt::Display for Nested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Nested::Args => "job arguments",
            Nested::Trigger => "trigger",
        })
    }
}

/// The arrays and objects around the innermost value of `value` (a scalar is 0,
/// `[[1]]` is 2), counted as serde_json's parser counts them. Without recursion, so
/// that any depth is measured.
pub(crate) fn json_depth(value: &serde_json::Value) -> usize {
    if !matches!(
        value,
        serde_json::Value::Array(_) | serde_json::Value::Object(_)
    ) {
        // Most jobs' arguments: no walk, no allocation.
        return 0;
    }
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let inner = depth + 1;
        match value {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|v| (v, inner))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|v| (v, inner))),
            _ => continue,
        }
        deepest = deepest.max(inner);
    }
    deepest
}

/// Per-job execution options, with scheduler-wide defaults.
///
/// The defaults never drop a run silently: unlimited misfire grace, coalescing on,
/// one instance at a time (a run that would overlap is skipped with an event).
///
/// Deserialising checks what [`validate`](Self::validate) checks, so stored options
/// that `add_job` would refuse (`max_instances` 0 written by hand) do not decode: a
/// store reports the row as unrunnable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredOptions")]
#[non_exhaustive]
pub struct JobOptions {
    /// A run that starts later than its scheduled time plus this is missed.
    /// `None`: never too late.
    ///
    /// Zero is allowed and means *exactly on time or not at all*: a run is missed
    /// (`JobMissed`) unless it is decided and started at its scheduled instant, to the
    /// nanosecond. The runtime wakes up through Tokio's timer, which fires a little after
    /// that instant (a millisecond or more; more under load, or while the run waits for a
    /// `max_concurrency` slot), so on the system clock practically every run is missed,
    /// claimed ahead or not; only a paused test clock lands exactly on time. To skip
    /// runs that would start late, give a small grace instead (a second, say).
    pub misfire_grace_time: Option<Duration>,
    /// Several overdue runs run once (the newest), instead of each in turn.
    pub coalesce: bool,
    /// Most runs of this job executing at once, across every node sharing the store.
    pub max_instances: u32,
    /// A run still going after this long is cancelled and reported.
    pub timeout: Option<Duration>,
    /// When a node dies mid-run, run this job's abandoned run again elsewhere.
    pub recover_abandoned: bool,
    /// How long a run that was asked to stop (its timeout, `cancel_run`, `cancel_job`)
    /// may go on after its `JobContext` cancellation token fired, before its future is
    /// dropped. A run that never looked at its token is dropped at once: it cannot
    /// have seen the request. Default 5 s.
    pub cancel_grace: Duration,
    /// What a run that comes due does while `max_instances` runs of the job are
    /// executing (on any node): skipped (the default), kept to run once more, or
    /// started in place of the oldest. See [`Overlap`].
    pub overlap: Overlap,
    /// Retries of a run that failed (`None`, the default: a failed run is not run
    /// again). See [`RetryPolicy`]. Boxed: a job without one carries one pointer's
    /// worth of it, in the store and in each run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Box<RetryPolicy>>,
}

/// What a run that comes due does while its job already has `max_instances` runs
/// executing, on any node sharing the store ([`JobOptions::overlap`]).
///
/// With the default `max_instances` of 1 this is what happens when a run would overlap
/// the one before it. Every policy counts the same instances: a run never starts while
/// `max_instances` runs of its job execute.
///
/// | policy | the run that comes due at the limit |
/// |---|---|
/// | [`Skip`](Self::Skip) | is skipped, reported (`JobMaxInstances`) |
/// | [`QueueOne`](Self::QueueOne) | waits, and starts as soon as a running one ends; one waits at most (later ones are skipped) |
/// | [`CancelPrevious`](Self::CancelPrevious) | asks the oldest running one to stop (its token fires, outcome `Cancelled`), and starts when it has ended |
/// | [`Allow`](Self::Allow) | overlap is intended: runs start up to `max_instances` at once; at the limit, as `Skip` |
///
/// A waiting run (`QueueOne`, `CancelPrevious`) is stored with the job, so on a store
/// several nodes share it is cluster-wide: whichever node records the end of a run of
/// the job starts it, once (the occurrence key holds as for any run). It stands for
/// its own scheduled time, is not subject to the misfire grace (it was on time when
/// it began to wait), and is dropped if the job is paused or removed meanwhile.
///
/// ```
/// use std::time::Duration;
/// use sched_core::job::{JobOptions, Overlap};
///
/// // A sync that must not overlap itself, but must not lose a tick either.
/// let options = JobOptions::default().overlap(Overlap::QueueOne);
/// assert_eq!(options.max_instances, 1);
/// // Up to three reports at once; a fourth due meanwhile is skipped.
/// let options = JobOptions::default().overlap(Overlap::Allow).max_instances(3);
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Overlap {
    /// Skipped and reported (the default; APScheduler's behaviour).
    #[default]
    Skip,
    /// Kept (one at most) and started when a running run ends.
    QueueOne,
    /// The oldest running run is asked to stop; this one starts when it has ended.
    CancelPrevious,
    /// Runs overlap up to `max_instances` at once (skipped beyond, as with `Skip`).
    Allow,
}

impl Overlap {
    /// Whether a run due at the limit waits for an instance (stored with the job).
    #[inline]
    pub fn waits(self) -> bool {
        matches!(self, Self::QueueOne | Self::CancelPrevious)
    }

    /// The policy's name as configured and stored (`"queue_one"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::QueueOne => "queue_one",
            Self::CancelPrevious => "cancel_previous",
            Self::Allow => "allow",
        }
    }
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Overlap {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [
            Self::Skip,
            Self::QueueOne,
            Self::CancelPrevious,
            Self::Allow,
        ]
        .into_iter()
        .find(|policy| policy.as_str() == s)
        .ok_or_else(|| {
            Error::InvalidOptions(format!(
                "unknown overlap policy {s:?} (expected skip, queue_one, cancel_previous or allow)"
            ))
        })
    }
}

/// [`JobOptions::cancel_grace`] unless set.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(5);

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            misfire_grace_time: None,
            coalesce: true,
            max_instances: 1,
            timeout: None,
            recover_abandoned: false,
            cancel_grace: DEFAULT_CANCEL_GRACE,
            overlap: Overlap::Skip,
            retry: None,
        }
    }
}

/// [`JobOptions`] as it is deserialised, before its rules are checked (fields left
/// out take the defaults).
#[derive(Deserialize)]
#[serde(default)]
struct StoredOptions {
    misfire_grace_time: Option<Duration>,
    coalesce: bool,
    max_instances: u32,
    timeout: Option<Duration>,
    recover_abandoned: bool,
    cancel_grace: Duration,
    overlap: Overlap,
    retry: Option<Box<RetryPolicy>>,
}

impl Default for StoredOptions {
    fn default() -> Self {
        let JobOptions {
            misfire_grace_time,
            coalesce,
            max_instances,
            timeout,
            recover_abandoned,
            cancel_grace,
            overlap,
            retry,
        } = JobOptions::default();
        Self {
            misfire_grace_time,
            coalesce,
            max_instances,
            timeout,
            recover_abandoned,
            cancel_grace,
            overlap,
            retry,
        }
    }
}

impl TryFrom<StoredOptions> for JobOptions {
    type Error = Error;

    fn try_from(stored: StoredOptions) -> Result<Self> {
        let StoredOptions {
            misfire_grace_time,
            coalesce,
            max_instances,
            timeout,
            recover_abandoned,
            cancel_grace,
            overlap,
            retry,
        } = stored;
        let options = Self {
            misfire_grace_time,
            coalesce,
            max_instances,
            timeout,
            recover_abandoned,
            cancel_grace,
            overlap,
            retry,
        };
        options.validate()?;
        Ok(options)
    }
}

impl JobOptions {
    /// Sets [`misfire_grace_time`](Self::misfire_grace_time) (zero: see there).
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

    /// Sets [`overlap`](Self::overlap).
    #[must_use]
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// Sets [`retry`](Self::retry): a failed run is tried again as `policy` says.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(Box::new(policy));
        self
    }

    /// Sets [`cancel_grace`](Self::cancel_grace).
    #[must_use]
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the option and why.
    pub fn validate(&self) -> Result<()> {
        if self.max_instances == 0 {
            return Err(Error::InvalidOptions(
                "max_instances is 0, so the job could never run (it must be at least 1)".into(),
            ));
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidOptions(
                "timeout is 0s, which would cancel every run at once".into(),
            ));
        }
        if let Some(retry) = &self.retry {
            retry.validate()?;
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
    pub id: JobId,
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
    /// What a runtime resolved for this job value (see [`Attachment`]).
    #[serde(skip)]
    attachment: Attachment,
}

// With its `Arc`'s counts, 296 bytes: a 304-byte allocation of the allocator's (one
// at every job in memory; 8 bytes more cost 16).
const _: () = assert!(std::mem::size_of::<Job>() <= 280);

impl Job {
    /// A job with default options, not yet scheduled (see [`schedule`](Self::schedule)).
    pub fn new(id: impl Into<JobId>, task: impl Into<String>, trigger: Trigger) -> Self {
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
            attachment: Attachment::default(),
        }
    }

    /// A slot in which a runtime keeps what it resolved for this job value (sched-tokio
    /// keeps the job's task there, so a run does not look its task up by name).
    #[doc(hidden)]
    pub fn attachment(&self) -> &Attachment {
        &self.attachment
    }

    /// Sets the arguments from any serialisable value.
    ///
    /// # Errors
    ///
    /// [`Error::Args`] if `args` cannot be turned into JSON.
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

    /// Checks the id, the arguments, the trigger and the options: everything a store
    /// needs to keep the job and read it back (every store's `add_job` calls it).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyJobId`], [`Error::InvalidOptions`] for an empty task name or bad
    /// options, [`Error::NestedTooDeep`] for arguments nested deeper than
    /// [`MAX_JSON_DEPTH`], or the trigger's error (see [`Trigger::validate`]).
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() {
            return Err(Error::EmptyJobId);
        }
        if self.task.trim().is_empty() {
            return Err(Error::InvalidOptions(format!(
                "job {:?} needs a task name, got {:?}",
                self.id, self.task
            )));
        }
        let depth = json_depth(&self.args);
        if depth > MAX_JSON_DEPTH {
            return Err(Error::NestedTooDeep {
                what: Nested::Args,
                depth,
                limit: MAX_JSON_DEPTH,
            });
        }
        self.trigger.validate()?;
        self.options.validate()
    }

    /// Validates, anchors the trigger at `now` and sets the first run time (a date
    /// trigger keeps its date even if it has passed: the misfire rules then decide).
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate); and [`Error::InvalidInterval`] or
    /// [`Error::InvalidJitter`] when the first run time would lie past the last instant
    /// a date-time can hold (an interval of a million years, a jitter that long).
    pub fn schedule(mut self, now: DateTime<Utc>) -> Result<Self> {
        self.schedule_in_place(now)?;
        Ok(self)
    }

    /// [`schedule`](Self::schedule), in place (the job is not moved: a bulk add builds
    /// each job where it is kept). On an error the job is unchanged.
    ///
    /// # Errors
    ///
    /// As [`schedule`](Self::schedule).
    pub fn schedule_in_place(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.validate()?;
        self.trigger.check_first_run(now)?;
        self.trigger.anchor(now);
        self.next_run_time = self.first_run_time(now);
        Ok(())
    }

    /// The job to store when this definition replaces `stored`, the job with the same id
    /// (`replace_existing`): name, task, arguments, options and trigger are this one's.
    /// When the trigger is unchanged as written ([`Trigger::same_schedule_as`]), the
    /// stored schedule is kept — its anchor and next run time — so the runs that fell due
    /// while nobody ran the job follow the misfire rules (a process re-adding its jobs at
    /// every start catches up); when the trigger changed, the schedule restarts from the
    /// new trigger at `now`. The paused flag is the stored one unless `paused` sets it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_core::job::Job;
    /// use sched_core::trigger::Trigger;
    ///
    /// let added = "2026-01-01T00:00:00Z".parse().unwrap();
    /// let hourly = || Job::new("db_sync", "hourly_sync", Trigger::interval(Duration::from_secs(3600)));
    /// let stored = hourly().schedule(added)?; // next run 01:00
    /// let restart = "2026-01-01T05:30:00Z".parse().unwrap();
    /// let kept = hourly().replacing(&stored, None, restart)?;
    /// assert_eq!(kept.next_run_time, stored.next_run_time, "01:00: caught up now");
    /// let changed = Job::new("db_sync", "hourly_sync", Trigger::interval(Duration::from_secs(60)))
    ///     .replacing(&stored, None, restart)?;
    /// assert_eq!(changed.next_run_time, Some("2026-01-01T05:31:00Z".parse().unwrap()));
    /// # Ok::<(), sched_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`schedule`](Self::schedule), for a changed trigger.
    pub fn replacing(
        mut self,
        stored: &Job,
        paused: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let mut job = if self.trigger.same_schedule_as(&stored.trigger) {
            self.validate()?;
            self.trigger = stored.trigger.clone();
            self.next_run_time = stored.next_run_time;
            self
        } else {
            self.schedule(now)?
        };
        job.paused = paused.unwrap_or(stored.paused);
        Ok(job)
    }

    /// The first run time at or after `now` (see [`schedule`](Self::schedule)); for a
    /// date trigger, its date even if that has passed.
    pub fn first_run_time(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // A passed date searches from its own date rather than answering it directly, so
        // that jitter and bounds apply to it as to every later fire time: answering the
        // bare date made `decide` find the jittered date after it, a second occurrence
        // of a one-off job.
        self.next_fire_after(just_before(self.trigger.search_from(now)))
    }

    /// This job's fire time strictly after `after` (jitter salted by the id).
    pub fn next_fire_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.trigger.next_after_salted(after, self.salt())
    }

    /// This job's fire times from `from` to `to`, both included, in order — at most
    /// `limit` (`Err(limit)` when the window holds more): the occurrences a backfill
    /// of that window runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_core::job::Job;
    /// use sched_core::trigger::Trigger;
    ///
    /// let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    /// let start = at("2026-01-01T00:00:00Z");
    /// let job = Job::new("hourly", "t", Trigger::interval(Duration::from_secs(3600)).start(start));
    /// let times = job.occurrences_between(at("2026-01-01T01:00:00Z"), at("2026-01-01T03:30:00Z"), 10);
    /// assert_eq!(times.unwrap().len(), 3, "01:00, 02:00 and 03:00");
    /// assert_eq!(job.occurrences_between(start, at("2026-01-02T00:00:00Z"), 10), Err(10));
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(limit)` when more than `limit` fire times lie in the window.
    pub fn occurrences_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> std::result::Result<Vec<DateTime<Utc>>, usize> {
        let mut times = Vec::new();
        let mut next = self.next_fire_after(just_before(from));
        while let Some(at) = next.filter(|at| *at <= to) {
            if times.len() == limit {
                return Err(limit);
            }
            times.push(at);
            next = self.next_fire_after(at);
        }
        Ok(times)
    }

    /// Whether a run claimed ahead for `scheduled`, given back before it started
    /// ([`JobStore::unclaim`](crate::store::JobStore::unclaim)), makes that occurrence
    /// this job's next run time again: it is still one of the job's occurrences (its
    /// trigger did not change), and the job's next run time is later (the claim had
    /// moved it past `scheduled`; a reschedule that made it earlier, or a trigger that is
    /// done, is left as it is). A paused job gets it back too: resumed before
    /// `scheduled`, it runs then, as without claim-ahead.
    pub fn restores(&self, scheduled: DateTime<Utc>) -> bool {
        self.restores_with(self.next_run_time, scheduled)
    }

    /// [`restores`](Self::restores) for the job with next run time `next`.
    pub(crate) fn restores_with(
        &self,
        next: Option<DateTime<Utc>>,
        scheduled: DateTime<Utc>,
    ) -> bool {
        next.is_some_and(|next| next > scheduled)
            && self.next_fire_after(just_before(scheduled)) == Some(scheduled)
    }

    /// The policy decision for this job at `now` with `running` runs executing.
    /// `None` if the job is paused or not due.
    pub fn decide(&self, now: DateTime<Utc>, running: u32) -> Option<Decision> {
        let due = self
            .next_run_time
            .filter(|due| *due <= now && !self.paused)?;
        Some(decide(due, now, &self.options, running, |t| {
            self.next_fire_after(t)
        }))
    }

    /// Pauses the job: it keeps its schedule, but no run starts until it is resumed.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Resumes a paused job at `now`: runs that fell due while it was paused are
    /// skipped (a next run time before `now` is computed again from `now`). A job that
    /// is not paused is left as it is.
    pub fn resume(&mut self, now: DateTime<Utc>) {
        if !self.paused {
            return;
        }
        self.paused = false;
        if self.next_run_time.is_some_and(|due| due < now) {
            self.next_run_time = self.first_run_time(now);
        }
    }

    /// Makes the job due at `now` (it runs as soon as it is claimed, then follows its
    /// trigger again). A paused job stays paused.
    pub fn run_now(&mut self, now: DateTime<Utc>) {
        self.next_run_time = Some(now);
    }

    /// Gives the job a new trigger, anchored at `now`; its next run time is computed
    /// from `now`.
    ///
    /// # Errors
    ///
    /// The trigger's own validation error (an end before its start, a zero interval,
    /// ...), or a first run time past the range of a date-time (as for
    /// [`schedule`](Self::schedule)); the job is then left unchanged.
    pub fn reschedule(&mut self, trigger: Trigger, now: DateTime<Utc>) -> Result<()> {
        trigger.validate()?;
        trigger.check_first_run(now)?;
        self.trigger = trigger.anchored(now);
        self.next_run_time = self.first_run_time(now);
        Ok(())
    }

    /// The first fire time at or after `due` that `claimed` does not report as already
    /// claimed (`Err(last)`: none after `last`, the latest occurrence claimed). A store uses it so that an occurrence
    /// whose run was claimed already — still running, or claimed ahead — is never
    /// decided twice, when a stale write or a move of the next run time back (run now,
    /// reschedule, re-add) makes it due again.
    pub(crate) fn first_unclaimed(
        &self,
        due: DateTime<Utc>,
        claimed: impl Fn(DateTime<Utc>) -> bool,
    ) -> Result<DateTime<Utc>, DateTime<Utc>> {
        let mut at = due;
        // Bounded: only occurrences with a run each can be claimed.
        for _ in 0..1024 {
            if !claimed(at) {
                return Ok(at);
            }
            at = self.next_fire_after(at).ok_or(at)?;
        }
        Ok(at)
    }

    /// [`next_fire_after`](Self::next_fire_after), telling a trigger that is done
    /// (`Ok(None)`) from a search that gave up (see [`Trigger::next_checked`]).
    ///
    /// # Errors
    ///
    /// [`SearchLimit`](crate::trigger::SearchLimit) when the search gave up.
    pub fn next_fire_checked(
        &self,
        after: DateTime<Utc>,
    ) -> std::result::Result<Option<DateTime<Utc>>, crate::trigger::SearchLimit> {
        self.trigger.next_checked_salted(after, self.salt())
    }

    /// The jitter salt: a hash of the id, for a trigger with jitter (0 otherwise, so the
    /// common claim does not read the id).
    #[inline]
    fn salt(&self) -> u64 {
        if self.trigger.has_jitter() {
            crate::trigger::stable_hash(self.id.as_bytes())
        } else {
            0
        }
    }
}

impl fmt::Display for Job {
    /// As APScheduler prints a job: `<Job (id=db_sync name=hourly_sync next_run_time=…)>`,
    /// to the second, `none` when it has no next run, ` paused` at the end of a paused
    /// job.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_core::job::Job;
    /// use sched_core::trigger::Trigger;
    ///
    /// let now = "2026-01-05T10:00:00Z".parse().unwrap();
    /// let job = Job::new("db_sync", "hourly_sync", Trigger::interval(Duration::from_secs(3600)))
    ///     .schedule(now)?;
    /// assert_eq!(job.to_string(), "<Job (id=db_sync name=hourly_sync next_run_time=2026-01-05 11:00:00 UTC)>");
    /// # Ok::<(), sched_core::Error>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Job (id={} name={} next_run_time=", self.id, self.name)?;
        match self.next_run_time {
            Some(at) => write!(f, "{}", at.format("%Y-%m-%d %H:%M:%S UTC"))?,
            None => f.write_str("none")?,
        }
        if self.paused {
            f.write_str(" paused")?;
        }
        f.write_str(")>")
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn json_depth_counts_nesting_and_scalars_as_none() {
        use serde_json::json;
        for (value, depth) in [
            (json!(null), 0),
            (json!("text"), 0),
            (json!(7), 0),
            (json!([]), 1),
            (json!({}), 1),
            (json!([1, [2, [3]]]), 3),
            (json!({"a": {"b": []}, "c": 1}), 3),
        ] {
            assert_eq!(json_depth(&value), depth, "{value}");
        }
    }

    fn now() -> DateTime<Utc> {
        utc("2026-01-01T12:00:00Z")
    }

    fn hourly() -> Trigger {
        Trigger::interval(Duration::from_secs(3600))
    }

    fn message(result: Result<Job>) -> String {
        let error = result.expect_err("invalid job");
        let message = error.to_string();
        // The house style for every message: lower-case, no trailing period.
        assert!(
            message.starts_with(|c: char| !c.is_uppercase()),
            "{message}"
        );
        assert!(!message.ends_with('.'), "{message}");
        message
    }

    #[test]
    fn empty_or_blank_id_is_rejected() {
        for id in ["", " ", "\t\n"] {
            let job = Job::new(id, "sync", hourly());
            assert!(matches!(job.validate(), Err(Error::EmptyJobId)), "{id:?}");
            assert_eq!(message(job.schedule(now())), "job id must not be empty");
        }
    }

    #[test]
    fn empty_or_blank_task_is_rejected() {
        let job = Job::new("nightly", "", hourly());
        assert!(matches!(job.validate(), Err(Error::InvalidOptions(_))));
        assert_eq!(
            message(job.schedule(now())),
            r#"invalid job options: job "nightly" needs a task name, got """#
        );
        let job = Job::new("nightly", "  ", hourly());
        assert_eq!(
            message(job.schedule(now())),
            r#"invalid job options: job "nightly" needs a task name, got "  ""#
        );
    }

    #[test]
    fn zero_max_instances_is_rejected() {
        let options = JobOptions::default().max_instances(0);
        assert!(matches!(options.validate(), Err(Error::InvalidOptions(_))));
        let job = Job::new("sync", "sync", hourly()).options(options);
        assert_eq!(
            message(job.schedule(now())),
            "invalid job options: max_instances is 0, so the job could never run \
             (it must be at least 1)"
        );
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let job = Job::new("sync", "sync", hourly())
            .options(JobOptions::default().timeout(Duration::ZERO));
        assert_eq!(
            message(job.schedule(now())),
            "invalid job options: timeout is 0s, which would cancel every run at once"
        );
        let job = Job::new("sync", "sync", hourly())
            .options(JobOptions::default().timeout(Duration::from_nanos(1)));
        assert!(job.validate().is_ok());
    }

    #[test]
    fn end_before_start_is_rejected() {
        let start = utc("2026-02-01T00:00:00Z");
        let end = utc("2026-01-01T00:00:00Z");
        let job = Job::new("sync", "sync", hourly().start(start).end(end));
        assert!(matches!(
            job.validate(),
            Err(Error::EndBeforeStart { start: s, end: e }) if s == start && e == end
        ));
        assert_eq!(
            message(job.schedule(now())),
            "end 2026-01-01 00:00:00 UTC lies before start 2026-02-01 00:00:00 UTC"
        );
        // Equal bounds are one instant, not an error.
        let job = Job::new("sync", "sync", Trigger::date(start).start(start).end(start));
        assert!(job.validate().is_ok());
    }

    #[test]
    fn zero_interval_is_rejected() {
        let job = Job::new("sync", "sync", Trigger::interval(Duration::ZERO));
        assert!(matches!(job.validate(), Err(Error::InvalidInterval(_))));
        assert_eq!(
            message(job.schedule(now())),
            "invalid interval: an interval of zero length would fire forever, back to back: \
             use a period of at least 1ns"
        );
    }

    #[test]
    fn valid_job_with_defaults_passes() {
        let job = Job::new("sync", "sync", hourly());
        assert!(job.validate().is_ok());
        assert_eq!(job.name, "sync", "the name defaults to the task");
        assert_eq!(job.options, JobOptions::default());
        assert_eq!(job.next_run_time, None, "not scheduled before `schedule`");
    }

    #[test]
    fn interval_without_start_first_runs_one_period_after_now() {
        let job = Job::new("sync", "sync", hourly())
            .schedule(now())
            .expect("valid");
        assert_eq!(job.next_run_time, Some(utc("2026-01-01T13:00:00Z")));
        assert_eq!(job.trigger.start, Some(utc("2026-01-01T13:00:00Z")));
        // Scheduling again later (a restart) keeps the anchor.
        let again = job
            .clone()
            .schedule(utc("2026-01-01T14:30:00Z"))
            .expect("valid");
        assert_eq!(again.trigger.start, job.trigger.start);
        assert_eq!(again.next_run_time, Some(utc("2026-01-01T15:00:00Z")));
    }

    #[test]
    fn interval_with_start_keeps_its_grid() {
        let future = Job::new("sync", "sync", hourly().start(utc("2026-01-02T00:30:00Z")));
        let future = future.schedule(now()).expect("valid");
        assert_eq!(future.next_run_time, Some(utc("2026-01-02T00:30:00Z")));

        let past = Job::new("sync", "sync", hourly().start(utc("2025-12-31T00:30:00Z")));
        let past = past.schedule(now()).expect("valid");
        assert_eq!(past.next_run_time, Some(utc("2026-01-01T12:30:00Z")));

        let on_now = Job::new("sync", "sync", hourly().start(utc("2026-01-01T11:00:00Z")));
        let on_now = on_now.schedule(now()).expect("valid");
        assert_eq!(
            on_now.next_run_time,
            Some(now()),
            "a fire time at now is the first"
        );
    }

    #[test]
    fn past_date_keeps_its_date() {
        let at = utc("2026-01-01T09:00:00Z");
        let job = Job::new("once", "report", Trigger::date(at))
            .schedule(now())
            .expect("valid");
        assert_eq!(job.next_run_time, Some(at));
        let future = utc("2026-01-03T09:00:00Z");
        let job = Job::new("once", "report", Trigger::date(future))
            .schedule(now())
            .expect("valid");
        assert_eq!(job.next_run_time, Some(future));
    }

    #[test]
    fn date_outside_its_bounds_never_runs() {
        let at = utc("2026-01-01T09:00:00Z");
        let ended = Trigger::date(at).end(utc("2026-01-01T08:00:00Z"));
        let job = Job::new("once", "report", ended);
        assert_eq!(job.first_run_time(now()), None);
        let not_started = Trigger::date(at).start(utc("2026-01-01T10:00:00Z"));
        let job = Job::new("once", "report", not_started);
        assert_eq!(job.first_run_time(now()), None);
    }

    #[test]
    fn jittered_date_runs_exactly_once() {
        let at = utc("2026-01-01T09:00:00Z");
        let jitter = Duration::from_secs(3600);
        for coalesce in [true, false] {
            let job = Job::new("once", "report", Trigger::date(at).jitter(jitter))
                .options(JobOptions::default().coalesce(coalesce).max_instances(3))
                .schedule(now())
                .expect("valid");
            let first = job.next_run_time.expect("scheduled");
            assert!(
                first >= at && first < at + chrono::Duration::hours(1),
                "{first}"
            );
            assert_eq!(job.next_fire_after(first), None, "one fire time only");
            for late in [first, first + chrono::Duration::hours(2)] {
                let decision = job.decide(late, 0).expect("due");
                assert_eq!(decision.run, vec![first], "coalesce {coalesce}");
                assert_eq!(decision.coalesced, None);
                assert_eq!(decision.over_limit, None);
                assert_eq!(decision.next_run_time, None);
            }
        }
    }

    #[test]
    fn cron_first_run_is_at_or_after_now() {
        let cron = |expr| Trigger::cron(expr).expect("valid cron");
        let first = |trigger, now| {
            Job::new("c", "c", trigger)
                .schedule(now)
                .expect("valid")
                .next_run_time
        };
        assert_eq!(
            first(cron("*/15 * * * *"), now()),
            Some(now()),
            "due exactly now"
        );
        let just_after = now() + chrono::Duration::nanoseconds(1);
        assert_eq!(
            first(cron("*/15 * * * *"), just_after),
            Some(utc("2026-01-01T12:15:00Z"))
        );
        assert_eq!(
            first(cron("0 9 * * mon"), now()),
            Some(utc("2026-01-05T09:00:00Z")),
            "1 January 2026 is a Thursday"
        );
    }

    #[test]
    fn decide_is_none_when_paused_or_not_due() {
        let mut job = Job::new("sync", "sync", hourly())
            .schedule(now())
            .expect("valid");
        let due = job.next_run_time.expect("scheduled");
        assert_eq!(job.decide(due - chrono::Duration::nanoseconds(1), 0), None);
        assert!(job.decide(due, 0).is_some());

        job.paused = true;
        assert_eq!(job.decide(due, 0), None);
        assert_eq!(job.decide(due + chrono::Duration::days(1), 0), None);

        job.paused = false;
        job.next_run_time = None;
        assert_eq!(
            job.decide(due + chrono::Duration::days(1), 0),
            None,
            "trigger done"
        );
    }

    #[test]
    fn decide_applies_the_job_options() {
        let options = JobOptions::default()
            .coalesce(false)
            .max_instances(2)
            .misfire_grace_time(Duration::from_secs(90 * 60));
        let job = Job::new("sync", "sync", hourly())
            .options(options)
            .schedule(now())
            .expect("valid");
        // First run 13:00; down until 17:30. 13:00 and 14:00 are past their grace
        // (16:00 cutoff), 16:00 and 17:00 run, running 0 of 2.
        let decision = job.decide(utc("2026-01-01T17:30:00Z"), 0).expect("due");
        assert_eq!(
            decision.run,
            vec![utc("2026-01-01T16:00:00Z"), utc("2026-01-01T17:00:00Z")]
        );
        let missed = decision.missed.expect("missed");
        assert_eq!(
            (missed.first, missed.last, missed.count),
            (utc("2026-01-01T13:00:00Z"), utc("2026-01-01T15:00:00Z"), 3)
        );
        assert_eq!(decision.next_run_time, Some(utc("2026-01-01T18:00:00Z")));
        // One already running: one slot left, and the backlog runs one at a time.
        let decision = job.decide(utc("2026-01-01T17:30:00Z"), 1).expect("due");
        assert_eq!(
            decision.run,
            vec![utc("2026-01-01T16:00:00Z"), utc("2026-01-01T17:00:00Z")]
        );
        assert_eq!(decision.width, 1);
        assert_eq!(decision.over_limit, None);
    }

    #[test]
    fn pause_and_resume_skip_what_fell_due_while_paused() {
        let mut job = Job::new("sync", "sync", hourly())
            .schedule(now())
            .expect("valid");
        let first = job.next_run_time.expect("scheduled"); // 13:00
        job.pause();
        assert!(job.paused);
        assert_eq!(
            job.next_run_time,
            Some(first),
            "paused, the schedule is kept"
        );
        // Resumed before its time: unchanged.
        let mut early = job.clone();
        early.resume(utc("2026-01-01T12:30:00Z"));
        assert!(!early.paused);
        assert_eq!(early.next_run_time, Some(first));
        // Resumed after it: computed again from now (13:00 and 14:00 skipped).
        job.resume(utc("2026-01-01T14:30:00Z"));
        assert!(!job.paused);
        assert_eq!(job.next_run_time, Some(utc("2026-01-01T15:00:00Z")));
        // Resuming a job that is not paused changes nothing, even if it is overdue.
        let mut overdue = job.clone();
        overdue.resume(utc("2026-01-02T00:00:00Z"));
        assert_eq!(overdue, job);
    }

    #[test]
    fn run_now_makes_it_due_and_keeps_pause() {
        let mut job = Job::new("sync", "sync", hourly())
            .schedule(now())
            .expect("valid");
        job.pause();
        job.run_now(utc("2026-01-01T12:10:00Z"));
        assert_eq!(job.next_run_time, Some(utc("2026-01-01T12:10:00Z")));
        assert!(job.paused, "run_now does not resume");
    }

    #[test]
    fn reschedule_anchors_the_new_trigger_or_leaves_the_job() {
        let mut job = Job::new("sync", "sync", hourly())
            .schedule(now())
            .expect("valid");
        let later = utc("2026-01-01T12:20:00Z");
        job.reschedule(Trigger::interval(Duration::from_secs(600)), later)
            .expect("valid trigger");
        assert_eq!(job.next_run_time, Some(utc("2026-01-01T12:30:00Z")));
        assert_eq!(job.trigger.start, Some(utc("2026-01-01T12:30:00Z")));
        let before = job.clone();
        let error = job
            .reschedule(Trigger::interval(Duration::ZERO), later)
            .expect_err("a zero interval");
        assert!(matches!(error, Error::InvalidInterval(_)));
        assert_eq!(job, before, "a rejected trigger changes nothing");
    }

    #[derive(Serialize)]
    struct Digest {
        to: Vec<&'static str>,
        days: u32,
        html: bool,
    }

    #[test]
    fn args_from_a_struct() {
        let digest = Digest {
            to: vec!["ops@example.com"],
            days: 7,
            html: false,
        };
        let job = Job::new("digest", "send_digest", hourly())
            .args(&digest)
            .expect("serialisable");
        assert_eq!(
            job.args,
            serde_json::json!({ "to": ["ops@example.com"], "days": 7, "html": false })
        );
        // Unsized values too.
        let job = job.args("plain").expect("serialisable");
        assert_eq!(job.args, serde_json::json!("plain"));
    }

    #[test]
    fn args_that_json_cannot_hold_are_an_error() {
        let keys_not_strings = std::collections::BTreeMap::from([(vec![1u8], 1u8)]);
        let result = Job::new("digest", "send_digest", hourly()).args(&keys_not_strings);
        assert!(matches!(result, Err(Error::Args(_))));
        assert_eq!(
            message(result),
            "job arguments cannot be serialised: key must be a string"
        );
    }

    #[test]
    fn serde_round_trip() {
        let triggers = [
            hourly().start(now()).jitter(Duration::from_millis(1500)),
            Trigger::cron("30 2 * * *")
                .expect("valid cron")
                .timezone(chrono_tz::America::New_York)
                .end(utc("2027-01-01T00:00:00Z")),
            Trigger::date(now()),
        ];
        for trigger in triggers {
            let job = Job::new("digest", "send_digest", trigger)
                .name("Weekly digest")
                .args(&serde_json::json!({ "to": ["ops@example.com"], "days": 7 }))
                .expect("serialisable")
                .options(
                    JobOptions::default()
                        .coalesce(false)
                        .max_instances(3)
                        .misfire_grace_time(Duration::from_secs(30))
                        .timeout(Duration::from_millis(2500))
                        .recover_abandoned(true),
                )
                .schedule(now())
                .expect("valid");
            let json = serde_json::to_string(&job).expect("serialise");
            let back: Job = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, job, "{json}");
            assert_eq!(back.next_fire_after(now()), job.next_fire_after(now()));
        }
    }

    #[test]
    fn stored_job_without_optional_fields_gets_defaults() {
        let json = r#"{
            "id": "sync", "name": "sync", "task": "sync",
            "trigger": { "type": "interval", "every": { "secs": 60, "nanos": 0 } }
        }"#;
        let job: Job = serde_json::from_str(json).expect("deserialise");
        assert_eq!(job.args, serde_json::Value::Null);
        assert_eq!(job.options, JobOptions::default());
        assert_eq!(job.next_run_time, None);
        assert!(!job.paused);
        let partial = r#"{ "max_instances": 4 }"#;
        let options: JobOptions = serde_json::from_str(partial).expect("deserialise");
        assert_eq!(options, JobOptions::default().max_instances(4));
    }

    #[test]
    fn attachment_is_not_stored_compared_or_cloned() {
        let job = Job::new("a", "t", Trigger::interval(Duration::from_secs(1)));
        assert!(job.attachment().get::<String>().is_none());
        job.attachment().set(std::sync::Arc::new("task".to_owned()));
        let value = job.attachment().get::<String>().expect("set");
        assert_eq!(value.as_str(), "task");
        assert!(job.attachment().get::<u32>().is_none(), "another type");
        let copy = job.clone();
        assert!(
            copy.attachment().get::<String>().is_none(),
            "a clone starts empty"
        );
        assert_eq!(copy, job, "equality ignores it");
        let json = serde_json::to_value(&job).expect("serialises");
        assert!(json.get("attachment").is_none(), "{json}");
        let back: Job = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, job);
    }
}
