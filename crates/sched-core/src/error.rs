//! The one error type of `sched-core`: every bad input names what is wrong.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::job::{JobId, Nested};

/// Everything that can go wrong while building triggers and jobs or talking to a store.
///
/// Messages are lower-case, name the offending value and say what would be accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A crontab expression that croner (or our own checks) rejects.
    #[error("invalid cron expression {expr:?}: {reason}")]
    InvalidCron {
        /// The expression as the user wrote it.
        expr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A field of the APScheduler-style cron builder that cannot be parsed.
    #[error("invalid cron field {field}={value:?}: {reason}")]
    InvalidCronField {
        /// Field name (`hour`, `day_of_week`, ...).
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A time zone name that the IANA database (as bundled by chrono-tz) does not know.
    #[error("unknown time zone {0:?}: expected an IANA name such as \"Europe/Berlin\" or \"UTC\"")]
    UnknownTimeZone(String),
    /// A date-time string that cannot be parsed or does not exist in its zone.
    #[error("invalid date-time {value:?}: {reason}")]
    InvalidDateTime {
        /// The string given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An interval or calendar interval of zero length, or one so long that its run
    /// times lie past the last instant a date-time can hold.
    #[error("invalid interval: {0}")]
    InvalidInterval(String),
    /// A jitter that cannot be kept: wider than the interval it moves (a moved run
    /// would overtake the next, which would then be dropped), or so long that it moves
    /// the first run past the last instant a date-time can hold.
    #[error("invalid jitter {jitter:?}: {reason}")]
    InvalidJitter {
        /// The jitter given.
        jitter: Duration,
        /// Why it was rejected, and what would be accepted.
        reason: String,
    },
    /// Job arguments or a trigger nested deeper in JSON than a store can read back
    /// (serde_json refuses to parse more than
    /// [`MAX_JSON_DEPTH`](crate::job::MAX_JSON_DEPTH) levels of arrays and objects).
    #[error(
        "too deeply nested {what}: {depth} levels of JSON arrays and objects, more than \
         the {limit} a store can read back; {}",
        what.remedy()
    )]
    NestedTooDeep {
        /// What is nested too deeply.
        what: Nested,
        /// Its depth: the arrays and objects around its innermost value.
        depth: usize,
        /// The deepest a store reads back, [`MAX_JSON_DEPTH`](crate::job::MAX_JSON_DEPTH).
        limit: usize,
    },
    /// A trigger whose `end` lies before its `start`.
    #[error("end {end} lies before start {start}")]
    EndBeforeStart {
        /// The start bound.
        start: DateTime<Utc>,
        /// The end bound.
        end: DateTime<Utc>,
    },
    /// An `and`/`or` combination with no triggers in it.
    #[error("an {0} combination needs at least one trigger")]
    EmptyCombination(&'static str),
    /// A job id that is empty or only whitespace.
    #[error("job id must not be empty")]
    EmptyJobId,
    /// A job id that is already taken in the store.
    #[error("a job with id {0:?} already exists (use replace_existing to overwrite it)")]
    DuplicateJobId(JobId),
    /// A job id that is not in the store.
    #[error("no job with id {0:?}")]
    JobNotFound(JobId),
    /// `sync_jobs` declared a job whose id the store holds outside the set (in no set,
    /// or in another): that job is left alone, and the sync changed nothing.
    #[error("job {job_id:?} is declared in set {set:?} but stored {}; the sync changed nothing (rename it, or remove the stored one)", match .owner { Some(owner) => format!("in set {owner:?}"), None => "outside any set".to_owned() })]
    JobOutsideSet {
        /// The job.
        job_id: JobId,
        /// The set being synced.
        set: String,
        /// The set the stored job belongs to (`None`: none).
        owner: Option<String>,
    },
    /// Job options that make no sense (`max_instances = 0`, ...).
    #[error("invalid job options: {0}")]
    InvalidOptions(String),
    /// A run id that is not (or no longer) claimed in the store.
    #[error("no claimed run with id {0}")]
    RunNotFound(i64),
    /// A stored job that cannot be decoded (corrupt JSON, a trigger kind from a newer
    /// version). The row is left where it is.
    #[error("stored job {job_id:?} cannot be decoded: {reason}")]
    Decode {
        /// Id of the stored job.
        job_id: JobId,
        /// What failed to decode.
        reason: String,
    },
    /// A job whose next fire time could not be found within the trigger's search limit
    /// (an `and` of triggers that do not coincide, say). It is kept, unscheduled, and
    /// not claimed again until it is rewritten.
    #[error("job {job_id:?}: no next fire time found within the search limit, so it may never fire again; it is kept, unscheduled (give it a trigger that fires, or remove it)")]
    NoNextFireTime {
        /// The job.
        job_id: JobId,
    },
    /// Job arguments that cannot be turned into JSON.
    #[error("job arguments cannot be serialised: {0}")]
    Args(#[from] serde_json::Error),
    /// A builder setting out of its range (`Scheduler::builder().lease(..)`, a store's
    /// pool size, ...): nothing is clamped silently.
    #[error("invalid configuration: {setting} = {value}: {rule}")]
    InvalidConfiguration {
        /// The setting, as its builder method is named.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        rule: String,
    },
    /// A store opened without running its migrations (`migrate(false)`, and
    /// `schedctl`'s commands other than `migrate`) on a schema that does not exist or
    /// lacks sched's tables. Nothing was created.
    #[error(
        "schema {schema:?} {problem}; nothing was created (check the name, or create \
         the tables with migrations on: `schedctl migrate --schema {schema}`)"
    )]
    SchemaNotFound {
        /// The schema asked for.
        schema: String,
        /// What is missing: `does not exist in the database`, or the tables it lacks.
        problem: String,
    },
    /// A run's result (its task's `Ok` value, as JSON) is longer than the scheduler keeps
    /// (`SchedulerBuilder::max_result_bytes`): the run is recorded failed with this
    /// error (not retried: the value would be as long again), its value dropped.
    #[error("job {job_id:?}: the run's result is {bytes} bytes of JSON, more than the {limit} kept (return less, e.g. a summary or an id, or raise max_result_bytes)")]
    ResultTooLarge {
        /// The job.
        job_id: JobId,
        /// The result's length as JSON.
        bytes: usize,
        /// The longest kept.
        limit: usize,
    },
    /// A result that cannot be turned into JSON (its `Serialize` failed).
    #[error("job {job_id:?}: the run's result cannot be serialised: {reason}")]
    ResultNotSerializable {
        /// The job.
        job_id: JobId,
        /// Why.
        reason: String,
    },
    /// A failure inside a store backend (database error, lost connection, ...).
    #[error("job store error: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// The job this error is about, if it names one.
    pub fn job_id(&self) -> Option<&JobId> {
        match self {
            Error::DuplicateJobId(id) | Error::JobNotFound(id) => Some(id),
            Error::Decode { job_id, .. }
            | Error::NoNextFireTime { job_id }
            | Error::JobOutsideSet { job_id, .. } => Some(job_id),
            _ => None,
        }
    }
}

/// `Result` with [`Error`] as its error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
