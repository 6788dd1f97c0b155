//! The side tables the nodes write and the checker reads: every start of a run
//! (`fault_starts`) and the events that explain a fire time without one
//! (`fault_events`).
//!
//! `fault_starts` has no constraint on (job, scheduled time): a second start of an
//! occurrence must be visible, not refused. Each row carries a token unique to its
//! writer, so a retried insert whose first attempt did commit (the reply was lost in an
//! outage) is not counted twice.
//!
//! What survives an outage and a `kill -9`: a job's start is written before its run
//! goes on, retried until it gets through, so a run recorded `success` always has its
//! start. A node killed before the write got through leaves its run `running`; it is
//! reaped (`abandoned`) and, as every job here has `recover_abandoned`, run again or
//! coalesced, so the checker still finds the fire time explained.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_tokio::{Event, JobContext};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use crate::Result;

/// The suite's tables, beside the scheduler's in the suite's schema.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS fault_starts (
    token     TEXT PRIMARY KEY,
    job_id    TEXT NOT NULL,
    sched_ns  BIGINT NOT NULL,
    run_id    BIGINT NOT NULL,
    node      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    at_us     BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS fault_events (
    token      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    job_id     TEXT,
    first_ns   BIGINT,
    last_ns    BIGINT,
    count      BIGINT,
    run_id     BIGINT,
    subject    TEXT,
    recovered  BOOLEAN,
    reason     TEXT,
    decided_us BIGINT,
    node       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    at_us      BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS fault_timeline (
    id        INTEGER PRIMARY KEY,
    timeline  TEXT NOT NULL
)";

/// How long one write may take before it is tried again.
const ATTEMPT: Duration = Duration::from_secs(2);
/// The pause between two attempts.
const RETRY: Duration = Duration::from_millis(100);

/// A pool on the suite's schema (`search_path`), for the driver and the nodes alike.
pub(crate) async fn pool(url: &str, schema: &str, max: u32) -> Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(1))
        .connect_with(options.options([("search_path", schema)]))
        .await?;
    Ok(pool)
}

/// Creates the schema and the side tables (the scheduler's own are migrated by the
/// nodes' stores).
pub(crate) async fn create(pool: &PgPool, schema: &str) -> Result<()> {
    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(pool)
        .await?;
    sqlx::raw_sql(TABLES).execute(pool).await?;
    Ok(())
}

/// Keeps the driver's timeline beside the tables (JSON), for `check` on a kept schema.
pub(crate) async fn save_timeline(
    pool: &PgPool,
    timeline: &crate::timeline::Timeline,
) -> Result<()> {
    let json = serde_json::to_string(timeline).map_err(|e| crate::Error::Invalid(e.to_string()))?;
    sqlx::query(
        "INSERT INTO fault_timeline (id, timeline) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET timeline = EXCLUDED.timeline",
    )
    .bind(json)
    .execute(pool)
    .await?;
    Ok(())
}

/// The timeline a run saved.
pub(crate) async fn load_timeline(pool: &PgPool) -> Result<crate::timeline::Timeline> {
    let json: String = sqlx::query_scalar("SELECT timeline FROM fault_timeline WHERE id = 1")
        .fetch_one(pool)
        .await?;
    serde_json::from_str(&json).map_err(|e| crate::Error::Invalid(format!("saved timeline: {e}")))
}

/// One event row, as the node logs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub(crate) kind: &'static str,
    pub(crate) job_id: Option<String>,
    /// The skipped range (coalesced, missed, max instances), or the run's scheduled
    /// time twice (abandoned, lease lost).
    pub(crate) first: Option<DateTime<Utc>>,
    pub(crate) last: Option<DateTime<Utc>>,
    pub(crate) count: Option<i64>,
    pub(crate) run_id: Option<i64>,
    /// The node an abandoned run belonged to.
    pub(crate) subject: Option<String>,
    pub(crate) recovered: Option<bool>,
    pub(crate) reason: Option<String>,
    /// When the scheduler decided a skip (the event's own time).
    pub(crate) decided: Option<DateTime<Utc>>,
}

impl EventRow {
    /// The row for an event the checker uses, `None` for the others.
    pub(crate) fn of(event: &Event) -> Option<Self> {
        let skip = |kind, e: &sched_tokio::SkipEvent| Self {
            kind,
            job_id: Some(e.job_id.to_string()),
            first: Some(e.runs.first),
            last: Some(e.runs.last),
            count: Some(i64::try_from(e.runs.count).unwrap_or(i64::MAX)),
            reason: e.runs.more.then(|| "more than counted".to_owned()),
            decided: Some(e.at),
            ..Self::default()
        };
        Some(match event {
            Event::JobCoalesced(e) => skip("coalesced", e),
            Event::JobMissed(e) => skip("missed", e),
            Event::JobMaxInstances(e) => skip("max_instances", e),
            Event::JobAbandoned(e) => Self {
                kind: "abandoned",
                job_id: Some(e.job_id.to_string()),
                first: Some(e.scheduled),
                last: Some(e.scheduled),
                run_id: Some(e.run_id.0),
                subject: Some(e.node.clone()),
                recovered: Some(e.recovered),
                ..Self::default()
            },
            Event::JobLeaseLost(e) => Self {
                kind: "lease_lost",
                job_id: Some(e.job_id.to_string()),
                first: Some(e.scheduled),
                last: Some(e.scheduled),
                run_id: Some(e.run_id.0),
                reason: Some(e.reason.clone()),
                ..Self::default()
            },
            _ => return None,
        })
    }

    /// The row that says this node's subscription fell behind and lost events.
    pub(crate) fn lagged(missed: u64) -> Self {
        Self {
            kind: "lagged",
            count: Some(i64::try_from(missed).unwrap_or(i64::MAX)),
            ..Self::default()
        }
    }
}

/// A node's writer to the side tables.
#[derive(Debug)]
pub(crate) struct Side {
    pool: PgPool,
    node: String,
    pid: i32,
    seq: AtomicU64,
}

impl Side {
    pub(crate) async fn connect(url: &str, schema: &str, node: &str) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool: pool(url, schema, 4).await?,
            node: node.to_owned(),
            pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
            seq: AtomicU64::new(0),
        }))
    }

    /// Records that this process starts `ctx`'s run, at `at`; returns once written.
    pub(crate) async fn record_start(&self, ctx: &JobContext, at: DateTime<Utc>) {
        let token = format!("{}:{}:{}", self.node, self.pid, ctx.run_id);
        let sched = nanos(ctx.scheduled);
        self.retrying("start", || {
            sqlx::query(
                "INSERT INTO fault_starts (token, job_id, sched_ns, run_id, node, pid, at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (token) DO NOTHING",
            )
            .bind(&token)
            .bind(ctx.job_id.as_str())
            .bind(sched)
            .bind(ctx.run_id.0)
            .bind(&self.node)
            .bind(self.pid)
            .bind(at.timestamp_micros())
        })
        .await;
    }

    /// Records one event; returns once written.
    pub(crate) async fn record_event(&self, row: &EventRow, at: DateTime<Utc>) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let token = format!("{}:{}:e{n}", self.node, self.pid);
        self.retrying(row.kind, || {
            sqlx::query(
                "INSERT INTO fault_events (token, kind, job_id, first_ns, last_ns, count, run_id, \
                 subject, recovered, reason, decided_us, node, pid, at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (token) DO NOTHING",
            )
            .bind(&token)
            .bind(row.kind)
            .bind(row.job_id.as_deref())
            .bind(row.first.map(nanos))
            .bind(row.last.map(nanos))
            .bind(row.count)
            .bind(row.run_id)
            .bind(row.subject.as_deref())
            .bind(row.recovered)
            .bind(row.reason.as_deref())
            .bind(row.decided.map(|d| d.timestamp_micros()))
            .bind(&self.node)
            .bind(self.pid)
            .bind(at.timestamp_micros())
        })
        .await;
    }

    /// Runs `query` until it gets through: a write lost in an outage would show as a
    /// false gap.
    async fn retrying<'q>(
        &self,
        what: &str,
        query: impl Fn() -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) {
        let mut failures = 0u32;
        loop {
            match tokio::time::timeout(ATTEMPT, query().execute(&self.pool)).await {
                Ok(Ok(_)) => {
                    if failures > 0 {
                        eprintln!(
                            "{} {}: side write ({what}) got through after {failures} failed attempts",
                            crate::node::stamp(),
                            self.node
                        );
                    }
                    return;
                }
                Ok(Err(error)) if failures == 0 => eprintln!(
                    "{} {}: side write ({what}) failed, retrying: {error}",
                    crate::node::stamp(),
                    self.node
                ),
                _ => {}
            }
            failures += 1;
            tokio::time::sleep(RETRY).await;
        }
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Writes the events sent on `rx`, in order, each retried until written; ends when
/// every sender is gone and the queue is empty.
pub(crate) async fn write_events(
    side: Arc<Side>,
    mut rx: mpsc::UnboundedReceiver<(EventRow, DateTime<Utc>)>,
) {
    while let Some((row, at)) = rx.recv().await {
        side.record_event(&row, at).await;
    }
}

/// An instant as nanoseconds since the Unix epoch, the checker's key for scheduled
/// times (exact: the stores keep nanoseconds).
pub(crate) fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_events_the_checker_reads_are_logged() {
        let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("instant");
        assert_eq!(EventRow::of(&Event::SchedulerStarted { at }), None);
        assert_eq!(
            EventRow::of(&Event::StoreError {
                error: "down".into()
            }),
            None
        );
        assert_eq!(EventRow::lagged(3).count, Some(3));
    }
}
