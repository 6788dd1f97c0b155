//! `JobSpec`: what a user hands to `add_job`, before the scheduler fills in defaults.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sched_core::job::{Job, JobId, JobOptions};
use sched_core::trigger::{parse_date_time, CronFields, Trigger};
use serde::Serialize;

/// A job to add: a trigger plus optional id, name, arguments, options and zone.
///
/// Whatever is not set comes from the scheduler: its default zone (for triggers left
/// in UTC), its job defaults, a generated id.
///
/// ```
/// use std::time::Duration;
/// use sched_tokio::JobSpec;
///
/// let digest = JobSpec::cron("0 8 * * mon-fri")?
///     .id("digest")
///     .timezone(chrono_tz::Australia::Sydney);
/// let poll = JobSpec::interval(Duration::from_secs(30)).id("api_poll");
/// # Ok::<(), sched_tokio::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub(crate) id: Option<JobId>,
    pub(crate) name: Option<String>,
    trigger: Source,
    pub(crate) args: serde_json::Value,
    pub(crate) options: Option<JobOptions>,
    pub(crate) replace_existing: bool,
    timezone: Option<Tz>,
    /// Set by `paused(..)`; otherwise a new job is not paused and a replaced one keeps
    /// its paused flag.
    pub(crate) paused: Option<bool>,
    /// Bounds and jitter, applied to the trigger once it is built (a date string is
    /// only read when the job's zone is known).
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    jitter: Option<Duration>,
}

#[derive(Clone, Debug)]
enum Source {
    Ready(Trigger),
    /// A date string, read in the job's zone once that is known.
    DateStr(String),
}

impl JobSpec {
    fn with(trigger: Source) -> Self {
        Self {
            id: None,
            name: None,
            trigger,
            args: serde_json::Value::Null,
            options: None,
            replace_existing: false,
            timezone: None,
            paused: None,
            start: None,
            end: None,
            jitter: None,
        }
    }

    /// What is left in a batch's place once its spec is taken out (no allocation).
    pub(crate) fn taken() -> Self {
        Self::with(Source::DateStr(String::new()))
    }

    /// Any trigger.
    pub fn new(trigger: Trigger) -> Self {
        Self::with(Source::Ready(trigger))
    }

    /// Every `every` (absolute time); first run one period after the job is added.
    pub fn interval(every: Duration) -> Self {
        Self::new(Trigger::interval(every))
    }

    /// A crontab expression.
    ///
    /// # Errors
    ///
    /// The expression's parse error ([`sched_core::Error::InvalidCron`]).
    pub fn cron(expression: &str) -> crate::Result<Self> {
        Ok(Self::new(Trigger::cron(expression)?))
    }

    /// APScheduler-style cron fields (`hour=8, day_of_week="mon-fri"`).
    ///
    /// # Errors
    ///
    /// A field that cannot be parsed ([`sched_core::Error::InvalidCronField`]).
    pub fn cron_fields(fields: &CronFields) -> crate::Result<Self> {
        Ok(Self::new(Trigger::from(fields.build()?)))
    }

    /// Once, at an instant.
    pub fn date(at: DateTime<Utc>) -> Self {
        Self::new(Trigger::date(at))
    }

    /// Once, at a date-time string (`"2026-05-03 14:00:00"`, RFC 3339, ...) read in the
    /// job's zone. A string that cannot be parsed is an error from `add_job`.
    pub fn date_str(value: impl Into<String>) -> Self {
        Self::with(Source::DateStr(value.into()))
    }

    /// The job's id (default: generated). Ids are unique per store.
    #[must_use]
    pub fn id(mut self, id: impl Into<JobId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// A human-readable name (default: the task name).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Arguments for the task, read with [`JobContext::args`](crate::JobContext::args).
    /// Stores keep them as JSON text, so `add_job` refuses arguments nested deeper than
    /// [`MAX_JSON_DEPTH`](sched_core::job::MAX_JSON_DEPTH) (127) levels of arrays and
    /// objects, which they could not read back ([`sched_core::Error::NestedTooDeep`]).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::Args`] if `args` cannot be turned into JSON (a map with
    /// non-string keys, say).
    pub fn args<T: Serialize + ?Sized>(mut self, args: &T) -> crate::Result<Self> {
        self.args = serde_json::to_value(args).map_err(sched_core::Error::from)?;
        Ok(self)
    }

    /// Options for this job (default: the scheduler's job defaults).
    #[must_use]
    pub fn options(mut self, options: JobOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// Replace a stored job with the same id instead of failing: startup code that adds
    /// its jobs on every start never duplicates them. The definition (name, task,
    /// arguments, options) is this spec's; when the trigger is unchanged the stored
    /// schedule is kept, so runs missed while the process was down are caught up as
    /// `coalesce` and `misfire_grace_time` say; a changed trigger restarts the schedule
    /// from now. A paused job stays paused unless [`paused`](Self::paused) is given.
    #[must_use]
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }

    /// The zone of the trigger's wall-clock times.
    #[must_use]
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.timezone = Some(tz);
        self
    }

    /// Add the job paused (it keeps its schedule, but does not run until resumed); when
    /// it replaces a stored job, set its paused flag either way (without this call a
    /// replaced job keeps its own).
    #[must_use]
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = Some(paused);
        self
    }

    /// No run before `start` (on any trigger, a date string's included).
    #[must_use]
    pub fn start(mut self, start: DateTime<Utc>) -> Self {
        self.start = Some(start);
        self
    }

    /// No run after `end` (on any trigger, a date string's included).
    #[must_use]
    pub fn end(mut self, end: DateTime<Utc>) -> Self {
        self.end = Some(end);
        self
    }

    /// Delay each run by a deterministic amount below `jitter` (on any trigger, a date
    /// string's included). On an interval it may be as wide as the interval, not wider:
    /// `add_job` refuses a wider one ([`sched_core::Error::InvalidJitter`]), which would
    /// reorder runs and drop some. On other triggers it is not checked against the gaps
    /// between fire times: keep it below the shortest (see
    /// [`Trigger::jitter`](sched_core::trigger::Trigger::jitter)).
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// The job model, with the scheduler's defaults filled in (not yet scheduled).
    pub(crate) fn into_job(
        self,
        id: JobId,
        task: &str,
        default_tz: Tz,
        defaults: &JobOptions,
    ) -> crate::Result<Job> {
        let tz = self.timezone.unwrap_or(default_tz);
        let trigger = match self.trigger {
            Source::Ready(trigger) => trigger,
            Source::DateStr(value) => Trigger::date(parse_date_time(&value, tz)?),
        };
        // The spec's own zone wins; otherwise a trigger without a zone (and the
        // children of an and/or without one) takes the scheduler's default.
        let mut trigger = match self.timezone {
            Some(tz) => trigger.timezone(tz),
            None => trigger.or_timezone(default_tz),
        };
        if let Some(start) = self.start {
            trigger = trigger.start(start);
        }
        if let Some(end) = self.end {
            trigger = trigger.end(end);
        }
        if let Some(jitter) = self.jitter {
            trigger = trigger.jitter(jitter);
        }
        let mut job = Job::new(id, task, trigger);
        job.options = self.options.unwrap_or_else(|| defaults.clone());
        job.args = self.args;
        job.paused = self.paused.unwrap_or(false);
        if let Some(name) = self.name {
            job.name = name;
        }
        Ok(job)
    }
}

impl From<Trigger> for JobSpec {
    fn from(trigger: Trigger) -> Self {
        Self::new(trigger)
    }
}
