//! The claim transaction (`BEGIN IMMEDIATE`) and the start-up reaper.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sched_core::job::JobOptions;
use sched_core::policy::claim::{recover, Planner};
use sched_core::store::{AbandonedRun, AcquireRequest, Acquired, ClaimedRun, RunId};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

use super::job_row;
use crate::codec::{join, micros, plan_claim, split};

/// Claims due runs in one immediate transaction. Returns them with the ids of rows
/// that could not be decoded.
pub(crate) async fn acquire(
    pool: &SqlitePool,
    request: &AcquireRequest,
    quarantined: String,
) -> Result<(Acquired, Vec<String>), sqlx::Error> {
    // Due rows, and (claiming ahead) rows due up to the horizon.
    let (now_s, now_ns) = split(request.horizon());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let rows = sqlx::query(
        "SELECT id, name, task, args, trigger, options, next_run_s, next_run_ns, paused FROM jobs \
         WHERE paused = 0 AND next_run_s IS NOT NULL \
           AND (next_run_s < ?1 OR (next_run_s = ?1 AND next_run_ns <= ?2)) \
           AND id NOT IN (SELECT value FROM json_each(?3)) \
           AND (?5 IS NULL OR task IN (SELECT value FROM json_each(?5)) \
                OR EXISTS (SELECT 1 FROM json_each(?6) AS p WHERE substr(task, 1, length(p.value)) = p.value)) \
         ORDER BY next_run_s, next_run_ns LIMIT ?4",
    )
    .bind(now_s)
    .bind(now_ns)
    .bind(quarantined)
    .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
    .bind(request.runnable.as_ref().map(|r| json_list(&r.names)))
    .bind(request.runnable.as_ref().map(|r| json_list(&r.prefixes)))
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok((Acquired::default(), Vec::new()));
    }
    let rows = rows.iter().map(job_row).collect::<Result<Vec<_>, _>>()?;
    let mut running = HashMap::new();
    for row in &rows {
        let times: Vec<(i64, i32)> = sqlx::query_as(
            "SELECT sched_s, sched_ns FROM runs WHERE job_id = ? AND status = 'running'",
        )
        .bind(&row.id)
        .fetch_all(&mut *tx)
        .await?;
        if !times.is_empty() {
            let times = times
                .into_iter()
                .filter_map(|(s, ns)| join(s, ns))
                .collect();
            running.insert(row.id.clone(), times);
        }
    }
    let planner = Planner::new(request.now, request.horizon()).parking(true);
    let mut plan = plan_claim(&rows, &running, &planner);
    for (job, at) in &plan.reschedule {
        let (s, ns) = split(*at);
        sqlx::query("UPDATE jobs SET next_run_s = ?, next_run_ns = ? WHERE id = ?")
            .bind(s)
            .bind(ns)
            .bind(&job.id)
            .execute(&mut *tx)
            .await?;
    }
    for id in &plan.finished {
        sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    for id in &plan.parked {
        sqlx::query("UPDATE jobs SET next_run_s = NULL, next_run_ns = NULL WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    let lease = chrono::Duration::from_std(request.lease).unwrap_or(chrono::Duration::MAX);
    let mut claimed = Vec::with_capacity(plan.runs.len());
    for (job, scheduled) in plan.runs.drain(..) {
        let (s, ns) = split(scheduled);
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO runs (job_id, sched_s, sched_ns, node, status, started_us, lease_us) \
             VALUES (?, ?, ?, ?, 'running', ?, ?) \
             ON CONFLICT (job_id, sched_s, sched_ns) WHERE status <> 'abandoned' DO NOTHING RETURNING id",
        )
        .bind(&job.id)
        .bind(s)
        .bind(ns)
        .bind(&request.node)
        .bind(micros(request.now))
        .bind(micros(request.now + lease))
        .fetch_optional(&mut *tx)
        .await?;
        // None: the occurrence was already recorded (the unique key held).
        if let Some(id) = id {
            claimed.push(ClaimedRun::new(RunId(id), job, scheduled));
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

/// A list of strings as a JSON array, for `json_each`.
pub(crate) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// At open: runs still marked running belong to a process that died (the file is
/// ours alone now). Marks them abandoned; jobs with `recover_abandoned` get their
/// occurrence due again.
pub(crate) async fn abandon_stale(
    pool: &SqlitePool,
    now: DateTime<Utc>,
) -> Result<Vec<AbandonedRun>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let rows = sqlx::query(
        "UPDATE runs SET status = 'abandoned', finished_us = ?, error = 'process ended while the run was going' \
         WHERE status = 'running' RETURNING id, job_id, sched_s, sched_ns, node",
    )
    .bind(micros(now))
    .fetch_all(&mut *tx)
    .await?;
    let mut abandoned = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut run = AbandonedRun {
            run_id: RunId(row.try_get(0)?),
            job_id: row.try_get(1)?,
            scheduled: join(row.try_get(2)?, row.try_get(3)?).unwrap_or(now),
            node: row.try_get(4)?,
            recovered: false,
        };
        let job =
            sqlx::query("SELECT options, next_run_s, next_run_ns, paused FROM jobs WHERE id = ?")
                .bind(&run.job_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(job) = job {
            let options: String = job.try_get(0)?;
            // Options that do not decode: the row is reported by claims, not recovered.
            let options = serde_json::from_str::<JobOptions>(&options).unwrap_or_default();
            let current = job
                .try_get::<Option<i64>, _>(1)?
                .zip(job.try_get::<Option<i32>, _>(2)?)
                .and_then(|(s, ns)| join(s, ns));
            if let Some(at) = recover(&options, job.try_get(3)?, current, run.scheduled) {
                let (s, ns) = split(at);
                sqlx::query("UPDATE jobs SET next_run_s = ?, next_run_ns = ? WHERE id = ?")
                    .bind(s)
                    .bind(ns)
                    .bind(&run.job_id)
                    .execute(&mut *tx)
                    .await?;
                run.recovered = true;
            }
        }
        abandoned.push(run);
    }
    tx.commit().await?;
    Ok(abandoned)
}
