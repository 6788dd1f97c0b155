//! What the checker reads, once every node has stopped: the side tables and the
//! scheduler's `runs` table, as plain rows.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::Row;

use crate::Result;

/// A start, as a node recorded it in `fault_starts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    pub(crate) job_id: String,
    pub(crate) sched_ns: i64,
    pub(crate) run_id: i64,
    pub(crate) node: String,
    pub(crate) pid: u32,
    pub(crate) at: DateTime<Utc>,
}

/// An event, as a node logged it in `fault_events`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventRec {
    pub(crate) kind: String,
    pub(crate) job_id: Option<String>,
    pub(crate) first_ns: Option<i64>,
    pub(crate) last_ns: Option<i64>,
    pub(crate) count: Option<i64>,
    pub(crate) run_id: Option<i64>,
    pub(crate) subject: Option<String>,
    pub(crate) recovered: Option<bool>,
    pub(crate) reason: Option<String>,
    /// When a skip was decided.
    pub(crate) decided: Option<DateTime<Utc>>,
    pub(crate) node: String,
    pub(crate) at: DateTime<Utc>,
}

/// A row of the scheduler's `runs` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunRow {
    pub(crate) id: i64,
    pub(crate) job_id: String,
    pub(crate) sched_ns: i64,
    pub(crate) node: String,
    pub(crate) status: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) finished: Option<DateTime<Utc>>,
    pub(crate) error: Option<String>,
    /// When the row was last written (its commit time), where the server tracks it
    /// (`track_commit_timestamp`): for an ended run, when its end was recorded.
    pub(crate) written: Option<DateTime<Utc>>,
}

/// Everything the checker needs from the database.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tables {
    pub(crate) starts: Vec<Start>,
    pub(crate) events: Vec<EventRec>,
    pub(crate) runs: Vec<RunRow>,
}

fn micros(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// Reads the three tables (the pool's `search_path` is the suite's schema).
pub(crate) async fn tables(pool: &PgPool) -> Result<Tables> {
    let starts = sqlx::query(
        "SELECT job_id, sched_ns, run_id, node, pid, at_us FROM fault_starts ORDER BY at_us",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        Ok(Start {
            job_id: row.try_get("job_id")?,
            sched_ns: row.try_get("sched_ns")?,
            run_id: row.try_get("run_id")?,
            node: row.try_get("node")?,
            pid: u32::try_from(row.try_get::<i32, _>("pid")?).unwrap_or(0),
            at: micros(row.try_get("at_us")?),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let events = sqlx::query(
        "SELECT kind, job_id, first_ns, last_ns, count, run_id, subject, recovered, reason, \
         decided_us, node, at_us FROM fault_events ORDER BY at_us",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        Ok(EventRec {
            kind: row.try_get("kind")?,
            job_id: row.try_get("job_id")?,
            first_ns: row.try_get("first_ns")?,
            last_ns: row.try_get("last_ns")?,
            count: row.try_get("count")?,
            run_id: row.try_get("run_id")?,
            subject: row.try_get("subject")?,
            recovered: row.try_get("recovered")?,
            reason: row.try_get("reason")?,
            decided: row.try_get::<Option<i64>, _>("decided_us")?.map(micros),
            node: row.try_get("node")?,
            at: micros(row.try_get("at_us")?),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let tracked: String = sqlx::query_scalar("SELECT current_setting('track_commit_timestamp')")
        .fetch_one(pool)
        .await?;
    let written = if tracked == "on" {
        "(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::int8"
    } else {
        "NULL::int8"
    };
    let runs = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, job_id::text AS job_id, sched_s * 1000000000 + sched_ns AS sched_ns, node, \
         status, started_us, finished_us, error, {written} AS written_us FROM runs ORDER BY id"
    )))
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        Ok(RunRow {
            id: row.try_get("id")?,
            job_id: row.try_get("job_id")?,
            sched_ns: row.try_get("sched_ns")?,
            node: row.try_get("node")?,
            status: row.try_get("status")?,
            started: micros(row.try_get("started_us")?),
            finished: row.try_get::<Option<i64>, _>("finished_us")?.map(micros),
            error: row.try_get("error")?,
            written: row.try_get::<Option<i64>, _>("written_us")?.map(micros),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Tables {
        starts,
        events,
        runs,
    })
}
