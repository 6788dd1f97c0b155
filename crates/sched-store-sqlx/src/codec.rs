//! Rows to values and back: jobs, runs and instants as both databases store them.

use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::store::{AbandonedRun, NodeInfo, RunId, RunRecord, RunStatus};
use sched_core::Error;

/// A row type and its `sqlx::FromRow` (what `#[derive(sqlx::FromRow)]` would write:
/// each field read by its name), without sqlx's proc-macro crate, which would build
/// the database drivers (and SQLite's C library) a second time for the compiler.
macro_rules! row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($field_vis:vis $field:ident: $ty:ty),* $(,)? }
    ) => {
        $(#[$meta])*
        $vis struct $name { $($field_vis $field: $ty),* }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}

/// An instant as stored: whole seconds since the epoch and nanoseconds (exact, and
/// ordered by the pair, from before 1970 to far beyond 2262).
pub(crate) fn split(at: DateTime<Utc>) -> (i64, i32) {
    let nanos = i32::try_from(at.timestamp_subsec_nanos()).expect("below 2e9");
    (at.timestamp(), nanos)
}

/// The inverse of [`split`].
pub(crate) fn join(secs: i64, nanos: i32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)
}

/// Microseconds since the epoch, for bookkeeping instants (start, finish, leases).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

row! {
    /// A job's columns (`COLUMNS` in each dialect's `sql.rs`, by name).
    #[derive(Debug, Clone)]
    pub(crate) struct JobRow {
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) task: String,
        pub(crate) args: String,
        pub(crate) trigger: String,
        pub(crate) options: String,
        pub(crate) next_run_s: Option<i64>,
        pub(crate) next_run_ns: Option<i32>,
        pub(crate) paused: bool,
    }
}

row! {
    /// A job's columns and its waiting run, as a claim reads them.
    #[derive(Debug, Clone)]
    pub(crate) struct ClaimRow {
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) task: String,
        pub(crate) args: String,
        pub(crate) trigger: String,
        pub(crate) options: String,
        pub(crate) next_run_s: Option<i64>,
        pub(crate) next_run_ns: Option<i32>,
        pub(crate) paused: bool,
        pub(crate) waiting_s: Option<i64>,
        pub(crate) waiting_ns: Option<i32>,
    }
}

impl ClaimRow {
    /// The job's row, and its waiting run (a value out of range reads as none).
    pub(crate) fn split(self) -> (JobRow, Option<DateTime<Utc>>) {
        let waiting = match (self.waiting_s, self.waiting_ns) {
            (Some(s), Some(ns)) => join(s, ns),
            _ => None,
        };
        let row = JobRow {
            id: self.id,
            name: self.name,
            task: self.task,
            args: self.args,
            trigger: self.trigger,
            options: self.options,
            next_run_s: self.next_run_s,
            next_run_ns: self.next_run_ns,
            paused: self.paused,
        };
        (row, waiting)
    }
}

row! {
    /// A pending retry and its job's columns, as a claim of retries reads them.
    #[derive(Debug, Clone)]
    pub(crate) struct RetryRow {
        pub(crate) run_id: i64,
        pub(crate) attempt: i32,
        pub(crate) sched_s: i64,
        pub(crate) sched_ns: i32,
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) task: String,
        pub(crate) args: String,
        pub(crate) trigger: String,
        pub(crate) options: String,
        pub(crate) next_run_s: Option<i64>,
        pub(crate) next_run_ns: Option<i32>,
        pub(crate) paused: bool,
    }
}

/// A pending retry as a claim uses it.
#[derive(Debug)]
pub(crate) struct PendingRetry {
    pub(crate) run_id: i64,
    pub(crate) attempt: u32,
    pub(crate) scheduled: DateTime<Utc>,
}

impl RetryRow {
    /// The job's row and the retry (`None`: its scheduled time is out of range).
    pub(crate) fn split(self) -> (JobRow, Option<PendingRetry>) {
        let retry = join(self.sched_s, self.sched_ns).map(|scheduled| PendingRetry {
            run_id: self.run_id,
            attempt: u32::try_from(self.attempt).unwrap_or(1),
            scheduled,
        });
        let row = JobRow {
            id: self.id,
            name: self.name,
            task: self.task,
            args: self.args,
            trigger: self.trigger,
            options: self.options,
            next_run_s: self.next_run_s,
            next_run_ns: self.next_run_ns,
            paused: self.paused,
        };
        (row, retry)
    }
}

impl JobRow {
    pub(crate) fn encode(job: &Job) -> Result<Self, Error> {
        let (next_run_s, next_run_ns) = match job.next_run_time.map(split) {
            Some((s, ns)) => (Some(s), Some(ns)),
            None => (None, None),
        };
        Ok(Self {
            id: job.id.to_string(),
            name: job.name.clone(),
            task: job.task.clone(),
            args: serde_json::to_string(&job.args)?,
            trigger: serde_json::to_string(&job.trigger)?,
            options: serde_json::to_string(&job.options)?,
            next_run_s,
            next_run_ns,
            paused: job.paused,
        })
    }

    /// Decodes the row; a corrupt column is [`Error::Decode`] naming the job and the
    /// column, and the row is left as it is.
    pub(crate) fn decode(&self) -> Result<Job, Error> {
        let bad = |column: &str, e: &dyn std::fmt::Display| Error::Decode {
            job_id: self.id.as_str().into(),
            reason: format!("column {column}: {e}"),
        };
        let next_run_time = match (self.next_run_s, self.next_run_ns) {
            (Some(s), Some(ns)) => Some(join(s, ns).ok_or_else(|| {
                bad(
                    "next_run_s/next_run_ns",
                    &format_args!("({s} s, {ns} ns) is not an instant {INSTANT_RANGE}"),
                )
            })?),
            (None, None) => None,
            (Some(_), None) => return Err(bad("next_run_ns", &"NULL while next_run_s is set")),
            (None, Some(_)) => return Err(bad("next_run_s", &"NULL while next_run_ns is set")),
        };
        let args = serde_json::from_str(&self.args).map_err(|e| bad("args", &e))?;
        let trigger = serde_json::from_str(&self.trigger).map_err(|e| bad("trigger", &e))?;
        let options = serde_json::from_str(&self.options).map_err(|e| bad("options", &e))?;
        let mut job = Job::new(self.id.clone(), self.task.clone(), trigger);
        job.name.clone_from(&self.name);
        job.args = args;
        job.options = options;
        job.next_run_time = next_run_time;
        job.paused = self.paused;
        Ok(job)
    }
}

/// What a stored instant must be.
const INSTANT_RANGE: &str =
    "(nanoseconds must be 0 to 999,999,999, seconds within chrono's range of about ±262,000 years)";

row! {
    /// A job's next run time (its id and the instant's two columns; `retry`: the time
    /// is a pending retry's, not the job's next run).
    #[derive(Debug)]
    pub(crate) struct InstantRow {
        pub(crate) id: String,
        pub(crate) next_run_s: i64,
        pub(crate) next_run_ns: i32,
        pub(crate) retry: bool,
    }
}

impl InstantRow {
    /// The instant, or the error that names the job whose row holds no instant.
    pub(crate) fn at(&self) -> Result<DateTime<Utc>, Error> {
        join(self.next_run_s, self.next_run_ns).ok_or_else(|| Error::Decode {
            job_id: self.id.as_str().into(),
            reason: format!(
                "column next_run_s/next_run_ns: ({} s, {} ns) is not an instant {INSTANT_RANGE}",
                self.next_run_s, self.next_run_ns
            ),
        })
    }
}

/// The job id of an error about a row whose id column could not be read either.
pub(crate) const UNREADABLE_ID: &str = "<unreadable id>";

/// A row that did not decode as a whole (`id` its id column, if that could be read):
/// [`Error::Decode`] naming the job and the column.
pub(crate) fn undecodable(id: Option<String>, error: &sqlx::Error) -> Error {
    let reason = match error {
        sqlx::Error::ColumnDecode { index, source } => {
            format!("column {}: {source}", index.trim_matches('"'))
        }
        sqlx::Error::ColumnNotFound(column) => format!("column {column}: missing"),
        other => other.to_string(),
    };
    Error::Decode {
        job_id: id.unwrap_or_else(|| UNREADABLE_ID.to_owned()).into(),
        reason,
    }
}

row! {
    /// An occurrence of a job: a run's job and scheduled time (with its id once recorded).
    #[derive(Debug)]
    pub(crate) struct OccurrenceRow {
        pub(crate) id: i64,
        pub(crate) job_id: String,
        pub(crate) sched_s: i64,
        pub(crate) sched_ns: i32,
    }
}

row! {
    /// A run that was just marked abandoned.
    #[derive(Debug)]
    pub(crate) struct AbandonedRow {
        pub(crate) id: i64,
        pub(crate) job_id: String,
        pub(crate) sched_s: i64,
        pub(crate) sched_ns: i32,
        pub(crate) node: String,
        pub(crate) attempt: i32,
    }
}

impl AbandonedRow {
    pub(crate) fn run(self, fallback: DateTime<Utc>) -> AbandonedRun {
        let scheduled = join(self.sched_s, self.sched_ns).unwrap_or(fallback);
        AbandonedRun::new(RunId(self.id), self.job_id.into(), scheduled, self.node)
    }
}

row! {
    /// A run's id.
    #[derive(Debug)]
    pub(crate) struct IdRow {
        pub(crate) id: i64,
    }
}

row! {
    /// A completed run: its id and job.
    #[derive(Debug)]
    pub(crate) struct CompletedRow {
        pub(crate) id: i64,
        pub(crate) job_id: String,
    }
}

row! {
    /// A run of the history.
    #[derive(Debug)]
    pub(crate) struct HistoryRow {
        id: i64,
        job_id: String,
        sched_s: i64,
        sched_ns: i32,
        started_us: i64,
        finished_us: Option<i64>,
        node: String,
        status: String,
        error: Option<String>,
        attempt: i32,
        result: Option<String>,
    }
}

impl HistoryRow {
    /// The run as the history reports it; `None` for a status this version does not
    /// know (a newer version's, or a hand-edited row), which is logged and skipped.
    pub(crate) fn record(self) -> Option<RunRecord> {
        let Some(status) = RunStatus::parse(&self.status) else {
            tracing::warn!(run_id = self.id, status = %self.status, "skipping a run with an unknown status in the history");
            return None;
        };
        let scheduled = join(self.sched_s, self.sched_ns).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let record = RunRecord::new(
            RunId(self.id),
            self.job_id.into(),
            scheduled,
            from_micros(self.started_us),
            self.node,
            status,
        );
        let attempt = u32::try_from(self.attempt).unwrap_or(1);
        Some(
            record
                .ended(self.finished_us.map(from_micros), self.error)
                .attempt(attempt)
                .with_result(self.result),
        )
    }
}

row! {
    /// A node of the `nodes` table, with the runs it holds.
    #[derive(Debug)]
    pub(crate) struct NodeRow {
        id: String,
        seen_us: i64,
        lease_us: i64,
        running: i64,
    }
}

impl NodeRow {
    /// The node as [`JobStore::nodes`](sched_core::store::JobStore::nodes) reports it.
    pub(crate) fn info(self) -> NodeInfo {
        NodeInfo::new(
            self.id,
            from_micros(self.seen_us),
            from_micros(self.lease_us),
            u64::try_from(self.running).unwrap_or(0),
        )
    }
}

row! {
    /// A run a heartbeat renewed, and whether its cancel was requested.
    #[derive(Debug)]
    pub(crate) struct RenewRow {
        pub(crate) id: i64,
        pub(crate) cancel_requested: bool,
    }
}

row! {
    /// A job's id.
    #[derive(Debug)]
    pub(crate) struct IdText {
        pub(crate) id: String,
    }
}

row! {
    /// A job's id and task name.
    #[derive(Debug)]
    pub(crate) struct TaskRow {
        pub(crate) id: String,
        pub(crate) task: String,
    }
}

row! {
    /// A job and the declared set it is in.
    #[derive(Debug)]
    pub(crate) struct SetRow {
        pub(crate) id: String,
        pub(crate) job_set: Option<String>,
    }
}

row! {
    /// The node holding a run.
    #[derive(Debug)]
    pub(crate) struct HolderRow {
        pub(crate) node: String,
    }
}

row! {
    /// A count.
    #[derive(Debug)]
    pub(crate) struct CountRow {
        pub(crate) count: i64,
    }
}
