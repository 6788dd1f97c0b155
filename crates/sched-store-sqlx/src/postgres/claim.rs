//! The claim transaction and the reaper of abandoned runs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sched_core::job::JobOptions;
use sched_core::policy::claim::{recover, Planner};
use sched_core::store::{AbandonedRun, AcquireRequest, Acquired, ClaimedRun, RunId};
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

use super::job_row;
use super::sql::Sql;
use crate::codec::{join, micros, plan_claim, split};

/// Claims due runs in one transaction. Returns them with the ids of rows that could
/// not be decoded.
pub(crate) async fn acquire(
    pool: &PgPool,
    sql: &Sql,
    request: &AcquireRequest,
    quarantined: Vec<String>,
) -> Result<(Acquired, Vec<String>), sqlx::Error> {
    // Due rows, and (claiming ahead) rows due up to the horizon.
    let (now_s, now_ns) = split(request.horizon());
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(AssertSqlSafe(sql.claim.as_str()))
        .bind(now_s)
        .bind(now_ns)
        .bind(quarantined)
        .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
        .bind(request.runnable.as_ref().map(|r| r.names.clone()))
        .bind(request.runnable.as_ref().map(|r| r.prefixes.clone()))
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok((Acquired::default(), Vec::new()));
    }
    let rows = rows.iter().map(job_row).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut running: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for row in sqlx::query(AssertSqlSafe(sql.running_counts.as_str()))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
    {
        if let Some(at) = join(row.try_get(1)?, row.try_get(2)?) {
            running.entry(row.try_get(0)?).or_default().push(at);
        }
    }

    let planner = Planner::new(request.now, request.horizon()).parking(true);
    let mut plan = plan_claim(&rows, &running, &planner);
    if !plan.reschedule.is_empty() {
        let (ids, (secs, nanos)): (Vec<&str>, (Vec<i64>, Vec<i32>)) = plan
            .reschedule
            .iter()
            .map(|(job, at)| (job.id.as_str(), split(*at)))
            .unzip();
        sqlx::query(AssertSqlSafe(sql.reschedule.as_str()))
            .bind(ids)
            .bind(secs)
            .bind(nanos)
            .execute(&mut *tx)
            .await?;
    }
    if !plan.finished.is_empty() {
        sqlx::query(AssertSqlSafe(sql.finish.as_str()))
            .bind(
                plan.finished
                    .iter()
                    .map(|id| id.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
    }
    if !plan.parked.is_empty() {
        sqlx::query(AssertSqlSafe(sql.park.as_str()))
            .bind(plan.parked.iter().map(|id| id.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    let mut claimed = Vec::with_capacity(plan.runs.len());
    if !plan.runs.is_empty() {
        let (ids, (secs, nanos)): (Vec<&str>, (Vec<i64>, Vec<i32>)) = plan
            .runs
            .iter()
            .map(|(job, at)| {
                let (s, ns) = split(*at);
                (job.id.as_str(), (s, ns))
            })
            .unzip();
        let lease = chrono::Duration::from_std(request.lease).unwrap_or(chrono::Duration::MAX);
        let recorded = sqlx::query(AssertSqlSafe(sql.record_runs.as_str()))
            .bind(ids)
            .bind(secs)
            .bind(nanos)
            .bind(&request.node)
            .bind(micros(request.now))
            .bind(micros(request.now + lease))
            .fetch_all(&mut *tx)
            .await?;
        let mut by_occurrence: HashMap<(String, i64, i32), i64> =
            HashMap::with_capacity(recorded.len());
        for row in &recorded {
            by_occurrence.insert(
                (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?),
                row.try_get(0)?,
            );
        }
        for (job, scheduled) in plan.runs.drain(..) {
            let (s, ns) = split(scheduled);
            // Missing: the occurrence was already recorded (the unique key held).
            if let Some(id) = by_occurrence.get(&(job.id.clone(), s, ns)) {
                claimed.push(ClaimedRun::new(RunId(*id), job, scheduled));
            }
        }
    }
    tx.commit().await?;
    claimed.sort_by_key(|run| run.scheduled);
    let acquired = Acquired {
        runs: claimed,
        skipped: plan.skipped,
        finished: plan.finished,
        errors: plan.errors,
    };
    Ok((acquired, plan.quarantined))
}

/// Marks runs with expired leases abandoned; makes the occurrences of jobs that opted
/// in due again.
pub(crate) async fn reap(
    pool: &PgPool,
    sql: &Sql,
    now: DateTime<Utc>,
) -> Result<Vec<AbandonedRun>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(AssertSqlSafe(sql.abandon.as_str()))
        .bind(micros(now))
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let mut abandoned = Vec::with_capacity(rows.len());
    for row in &rows {
        abandoned.push(AbandonedRun {
            run_id: RunId(row.try_get(0)?),
            job_id: row.try_get(1)?,
            scheduled: join(row.try_get(2)?, row.try_get(3)?).unwrap_or(now),
            node: row.try_get(4)?,
            recovered: false,
        });
    }
    let ids: Vec<&str> = abandoned.iter().map(|run| run.job_id.as_str()).collect();
    let jobs = sqlx::query(AssertSqlSafe(sql.lock_jobs.as_str()))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    // The job rows that can take a recovered run: (options, paused, next run time).
    let mut state: HashMap<String, (JobOptions, bool, Option<DateTime<Utc>>)> = HashMap::new();
    for row in &jobs {
        let row = job_row(row)?;
        let Ok(options) = serde_json::from_str::<JobOptions>(&row.options) else {
            continue;
        };
        let current = row
            .next_run_s
            .zip(row.next_run_ns)
            .and_then(|(s, ns)| join(s, ns));
        state.insert(row.id, (options, row.paused, current));
    }
    let mut next: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    for run in &mut abandoned {
        let Some((options, paused, current)) = state.get_mut(&run.job_id) else {
            continue;
        };
        if let Some(at) = recover(options, *paused, *current, run.scheduled) {
            *current = Some(at);
            next.insert(run.job_id.clone(), Some(at));
            run.recovered = true;
        }
    }
    for (id, at) in &next {
        let Some((s, ns)) = at.map(split) else {
            continue;
        };
        sqlx::query(AssertSqlSafe(sql.recover.as_str()))
            .bind(id)
            .bind(s)
            .bind(ns)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(abandoned)
}
