//! The claim transaction, leases and abandoned runs: the store's side of a claim. The
//! decisions are sched-core's claim planner; this reads the rows it needs and writes
//! its plan, in one transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::clock::Clock;
use sched_core::job::JobOptions;
use sched_core::policy::claim::{recover, Candidate, ClaimPlan, PlannedRun, Planner, Row};
use sched_core::store::{
    AbandonedRun, AcquireRequest, Acquired, ClaimedRun, Renewal, RunId, SkippedRuns,
};

use crate::codec::{
    join, micros, split, undecodable, AbandonedRow, ClaimRow, CountRow, IdRow, IdText, JobRow,
    OccurrenceRow, PendingRetry, RenewRow, RetryRow,
};
use crate::dialect::{statement, Dialect, List, StatementExt};
use crate::store::Inner;
use crate::store_error;

/// Claims due runs in one transaction. Returns them with the ids of rows that could
/// not be decoded.
pub(crate) async fn acquire<DB: Dialect>(
    inner: &Inner<DB>,
    request: &AcquireRequest,
) -> sqlx::Result<(Acquired, Vec<String>)> {
    let sql = &inner.sql;
    let quarantined = inner.quarantined();
    let runnable = request.runnable.as_deref();
    // Due rows, and (claiming ahead) rows due up to the horizon.
    let (horizon_s, horizon_ns) = split(request.horizon());
    let mut tx = inner.pool.begin_with(sql.begin).await?;
    // Retries first: their occurrences are older. Looked for only when one may be due.
    let hint = inner.retry_hint.load(std::sync::atomic::Ordering::Relaxed);
    let looked = micros(request.now) >= hint;
    let (retried, first_retry) = if looked {
        claim_retries(inner, &mut tx, request, &quarantined).await?
    } else {
        (Vec::new(), None)
    };
    // Once committed, the hint becomes the first retry still pending (unless a retry
    // was recorded meanwhile, which lowered it: left as it is).
    let settle_hint = |first: Option<i64>| {
        if let Some(first) = first {
            let _ = inner.retry_hint.compare_exchange(
                hint,
                first,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    };
    // Each row decoded on its own: one with a bad value (a wrong type, a NULL) is
    // quarantined and reported, the others claimed as if it were not there.
    let mut waiting: HashMap<String, DateTime<Utc>> = HashMap::new();
    let rows: Vec<Result<JobRow, sched_core::Error>> = statement::<DB>(&sql.claim)
        .arg(horizon_s)
        .arg(horizon_ns)
        .list(List::text(&quarantined))
        .arg(i64::try_from(request.limit).unwrap_or(i64::MAX))
        .maybe_list(runnable.map(|r| List::text(&r.names)))
        .maybe_list(runnable.map(|r| List::text(&r.prefixes)))
        .each::<ClaimRow>(&mut tx)
        .await?
        .into_iter()
        .map(|row| match row {
            Ok(row) => {
                let (row, at) = row.split();
                if let Some(at) = at {
                    waiting.insert(row.id.clone(), at);
                }
                Ok(row)
            }
            Err((id, error)) => Err(undecodable(id, &error)),
        })
        .collect();
    if rows.is_empty() {
        if looked {
            // Retries may have been started or put off for want of an instance.
            tx.commit().await?;
            settle_hint(first_retry);
        } else {
            tx.rollback().await?;
        }
        let mut acquired = Acquired::default();
        acquired.runs = retried;
        return Ok((acquired, Vec::new()));
    }
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.as_ref().ok().map(|row| row.id.as_str()))
        .collect();
    let running = running_times(inner, &mut tx, ids).await?;
    let planner = Planner::new(request.now, request.horizon()).parking(true);
    let mut plan = plan(&rows, &running, &waiting, &planner);
    write_plan(inner, &mut tx, &plan).await?;
    let cancel = supersede(inner, &mut tx, &plan.supersede).await?;
    let runs = std::mem::take(&mut plan.runs);
    let mut claimed = record_runs(inner, &mut tx, request, runs).await?;
    if !plan.parked.is_empty() {
        // Parked jobs of which nothing can run any more (no run just started, none
        // running or pending a retry) go now.
        let gone: Vec<IdText> = statement::<DB>(&inner.sql.unpark_many)
            .list(List::text(&plan.parked))
            .all(&mut tx)
            .await?;
        plan.finished.extend(
            gone.into_iter()
                .map(|row| sched_core::job::JobId::from(row.id)),
        );
    }
    tx.commit().await?;
    settle_hint(first_retry);
    if !retried.is_empty() {
        claimed.splice(0..0, retried);
        claimed.sort_by_key(|run| run.scheduled);
    }
    if !cancel.is_empty() {
        inner.cancel_notice(&cancel).await;
    }
    let quarantined = std::mem::take(&mut plan.quarantined);
    let mut acquired = plan.acquired(claimed);
    acquired.cancel = cancel;
    Ok((acquired, quarantined))
}

/// Starts the pending retries due at `request.now` (rows another claim holds are left
/// to it) whose job has an instance free; those at the limit are looked at again
/// `RETRY_RECHECK` later (or started by `claim_waiting` first). The runs started, and,
/// when every due one was looked at, when the first retry still pending is due (µs;
/// `i64::MAX`: none), for the hint.
#[cold]
async fn claim_retries<DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    request: &AcquireRequest,
    quarantined: &[String],
) -> sqlx::Result<(Vec<ClaimedRun>, Option<i64>)> {
    let runnable = request.runnable.as_deref();
    let rows = statement::<DB>(&inner.sql.claim_retries)
        .arg(micros(request.now))
        .list(List::text(quarantined))
        .arg(i64::try_from(request.limit).unwrap_or(i64::MAX))
        .maybe_list(runnable.map(|r| List::text(&r.names)))
        .maybe_list(runnable.map(|r| List::text(&r.prefixes)))
        .each::<RetryRow>(&mut *conn)
        .await?;
    let all = rows.len() < request.limit;
    let started = if rows.is_empty() {
        Vec::new()
    } else {
        start_retries(inner, conn, request, rows).await?
    };
    if !all {
        return Ok((started, None));
    }
    // With the claim's own filters: a retry this node cannot run never keeps it
    // looking.
    let first: Option<CountRow> = statement::<DB>(&inner.sql.first_retry)
        .list(List::text(quarantined))
        .maybe_list(runnable.map(|r| List::text(&r.names)))
        .maybe_list(runnable.map(|r| List::text(&r.prefixes)))
        .first(&mut *conn)
        .await?;
    Ok((started, Some(first.map_or(i64::MAX, |row| row.count))))
}

/// Starts the pending retries of `rows` while their job has an instance free (in
/// order); the others are looked at again `RETRY_RECHECK` later; a paused job's are
/// left as they are. A row that does not decode is left (claims report its job).
async fn start_retries<DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    request: &AcquireRequest,
    rows: Vec<Result<RetryRow, (Option<String>, sqlx::Error)>>,
) -> sqlx::Result<Vec<ClaimedRun>> {
    let mut jobs: HashMap<String, Arc<sched_core::job::Job>> = HashMap::new();
    let mut retries: Vec<(Arc<sched_core::job::Job>, PendingRetry)> = Vec::new();
    for row in rows.into_iter().filter_map(Result::ok) {
        let (row, retry) = row.split();
        let Some(retry) = retry else { continue };
        let job = match jobs.get(&row.id) {
            Some(job) => Arc::clone(job),
            None => match row.decode() {
                Ok(job) => {
                    let job = Arc::new(job);
                    jobs.insert(row.id.clone(), Arc::clone(&job));
                    job
                }
                Err(_) => continue,
            },
        };
        retries.push((job, retry));
    }
    let ids: Vec<&str> = jobs.keys().map(String::as_str).collect();
    let running = running_times(inner, &mut *conn, ids).await?;
    let mut busy: HashMap<&str, u32> = HashMap::new();
    for run in &running {
        *busy.entry(run.job_id.as_str()).or_default() += 1;
    }
    let (mut start, mut wait) = (Vec::new(), Vec::new());
    for (job, retry) in &retries {
        if job.paused {
            continue;
        }
        let count = busy.entry(job.id.as_str()).or_default();
        if *count >= job.options.max_instances {
            wait.push(retry.run_id);
        } else {
            *count += 1;
            start.push(retry.run_id);
        }
    }
    if !wait.is_empty() {
        let again = request.now + sched_core::store::RETRY_RECHECK;
        statement::<DB>(&inner.sql.defer_retries)
            .list(List::Int8(wait))
            .arg(micros(again))
            .run(&mut *conn)
            .await?;
    }
    if start.is_empty() {
        return Ok(Vec::new());
    }
    let lease = chrono::Duration::from_std(request.lease).unwrap_or(chrono::Duration::MAX);
    let started: Vec<IdRow> = statement::<DB>(&inner.sql.start_retries)
        .list(List::Int8(start))
        .arg(request.node.as_str())
        .arg(micros(request.now))
        .arg(micros(request.now + lease))
        .arg(inner.holder.as_str())
        .all(&mut *conn)
        .await?;
    let started: std::collections::HashSet<i64> = started.into_iter().map(|row| row.id).collect();
    Ok(retries
        .into_iter()
        .filter(|(_, retry)| started.contains(&retry.run_id))
        .map(|(job, retry)| {
            ClaimedRun::new(RunId(retry.run_id), job, retry.scheduled).attempt(retry.attempt)
        })
        .collect())
}

/// Asks for the cancel of the runs a claim supersedes (`Overlap::CancelPrevious`), as
/// `request_cancel` does; their ids.
async fn supersede<DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    runs: &[(sched_core::job::JobId, DateTime<Utc>)],
) -> sqlx::Result<Vec<RunId>> {
    let mut ids = Vec::new();
    for (job_id, at) in runs {
        let (s, ns) = split(*at);
        let rows: Vec<IdRow> = statement::<DB>(&inner.sql.supersede)
            .arg(job_id.as_str())
            .arg(s)
            .arg(ns)
            .all(conn)
            .await?;
        ids.extend(rows.into_iter().map(|row| RunId(row.id)));
    }
    Ok(ids)
}

/// Starts the waiting runs of `job_ids` with an instance free (see
/// `JobStore::claim_waiting`), in one transaction.
pub(crate) async fn claim_waiting<DB: Dialect>(
    inner: &Inner<DB>,
    job_ids: &[sched_core::job::JobId],
    request: &AcquireRequest,
) -> sqlx::Result<Acquired> {
    let mut tx = inner.pool.begin_with(inner.sql.begin).await?;
    let ids: Vec<&str> = job_ids.iter().map(|id| id.as_str()).collect();
    // The job rows first (the order every writer locks in), then their retries due,
    // which go first: their occurrences are older.
    statement::<DB>(&inner.sql.lock_jobs)
        .list(List::Text(ids.clone()))
        .run(&mut tx)
        .await?;
    let due = statement::<DB>(&inner.sql.due_retries)
        .list(List::Text(ids.clone()))
        .arg(micros(request.now))
        .each::<RetryRow>(&mut tx)
        .await?;
    let retried = if due.is_empty() {
        Vec::new()
    } else {
        start_retries(inner, &mut tx, request, due).await?
    };
    let rows = statement::<DB>(&inner.sql.lock_waiting)
        .list(List::Text(ids))
        .each::<ClaimRow>(&mut tx)
        .await?;
    let mut acquired = Acquired::default();
    let mut starts = Vec::new();
    let mut cleared = Vec::new();
    let mut finished = Vec::new();
    // Rows that do not decode are left as they are: claims report them.
    let decoded: Vec<(sched_core::job::Job, DateTime<Utc>)> = rows
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|row| {
            let (row, at) = row.split();
            Some((row.decode().ok()?, at?))
        })
        .collect();
    let ids: Vec<&str> = decoded.iter().map(|(job, _)| job.id.as_str()).collect();
    let running = running_times(inner, &mut tx, ids).await?;
    for (job, at) in decoded {
        let id = job.id.clone();
        if job.paused {
            cleared.push(id);
            continue;
        }
        let busy = running.iter().filter(|run| *run.job_id == *id).count();
        if u32::try_from(busy).unwrap_or(u32::MAX) >= job.options.max_instances {
            continue;
        }
        cleared.push(id.clone());
        if job.next_run_time.is_none()
            && !job.options.recover_abandoned
            && job.options.retry.is_none()
        {
            // Kept only for this run: its trigger is done.
            finished.push(id);
        }
        starts.push(PlannedRun::new(Arc::new(job), at));
    }
    for id in &cleared {
        statement::<DB>(&inner.sql.set_waiting)
            .arg(id.as_str())
            .arg(None::<i64>)
            .arg(None::<i32>)
            .run(&mut tx)
            .await?;
    }
    if !finished.is_empty() {
        statement::<DB>(&inner.sql.finish)
            .list(List::text(&finished))
            .run(&mut tx)
            .await?;
    }
    acquired.runs = record_runs(inner, &mut tx, request, starts).await?;
    tx.commit().await?;
    if !retried.is_empty() {
        acquired.runs.splice(0..0, retried);
    }
    acquired.finished = finished;
    Ok(acquired)
}

/// "Run now": one run of `job_id` at `request.now`, whatever its schedule and paused
/// flag, unless `max_instances` runs of it are executing (then a skip).
pub(crate) async fn claim_now<DB: Dialect>(
    inner: &Inner<DB>,
    job_id: &str,
    request: &AcquireRequest,
) -> sched_core::Result<Acquired> {
    claim_at(inner, job_id, &[request.now], request, false).await
}

/// Backfill: runs of `job_id` for `times` (see `JobStore::claim_backfill`); an
/// occurrence recorded before is passed over by the occurrence key.
pub(crate) async fn claim_backfill<DB: Dialect>(
    inner: &Inner<DB>,
    job_id: &str,
    times: &[DateTime<Utc>],
    request: &AcquireRequest,
) -> sched_core::Result<Acquired> {
    claim_at(inner, job_id, times, request, true).await
}

/// Runs of `job_id` standing for `times`, in one transaction with its row locked,
/// whatever its schedule and paused flag, if it has an instance free (otherwise a
/// `MaxInstances` skip). A `backfill`'s runs are one backlog as wide as the instances
/// free, marked so.
async fn claim_at<DB: Dialect>(
    inner: &Inner<DB>,
    job_id: &str,
    times: &[DateTime<Utc>],
    request: &AcquireRequest,
    backfill: bool,
) -> sched_core::Result<Acquired> {
    let mut tx = inner
        .pool
        .begin_with(inner.sql.begin)
        .await
        .map_err(store_error)?;
    let rows = statement::<DB>(&inner.sql.lock_jobs)
        .list(List::Text(vec![job_id]))
        .each::<JobRow>(&mut tx)
        .await
        .map_err(store_error)?;
    let job = match rows.into_iter().next() {
        Some(Ok(row)) => Arc::new(row.decode()?),
        Some(Err((id, error))) => return Err(undecodable(id, &error)),
        None => return Err(sched_core::Error::JobNotFound(job_id.into())),
    };
    let running = running_times(inner, &mut tx, vec![job_id])
        .await
        .map_err(store_error)?;
    let mut acquired = Acquired::default();
    let busy = u32::try_from(running.len()).unwrap_or(u32::MAX);
    let free = job.options.max_instances.saturating_sub(busy);
    if free == 0 {
        acquired
            .skipped
            .push(SkippedRuns::max_instances(job.id.clone(), request.now));
        return Ok(acquired);
    }
    let runs = times
        .iter()
        .map(|at| PlannedRun::new(Arc::clone(&job), *at))
        .collect();
    let claimed = record_runs(inner, &mut tx, request, runs)
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    acquired.runs = if backfill {
        claimed
            .into_iter()
            .map(|run| run.catch_up(Some(free)).backfill(true))
            .collect()
    } else {
        claimed
    };
    Ok(acquired)
}

/// The runs of `ids` executing on any node (a run row that cannot be decoded is
/// logged and left out: it cannot hold a job back).
async fn running_times<DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    ids: Vec<&str>,
) -> sqlx::Result<Vec<OccurrenceRow>> {
    let rows = statement::<DB>(&inner.sql.running_times)
        .list(List::Text(ids))
        .each::<OccurrenceRow>(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            row.map_err(|(_, error)| {
                tracing::warn!(%error, "a running run's row cannot be decoded; not counted");
            })
            .ok()
        })
        .collect())
}

/// Decodes each row on its own (an undecodable one is quarantined, the others go on)
/// and plans it with the scheduled times of its runs executing on any node.
fn plan(
    rows: &[Result<JobRow, sched_core::Error>],
    running: &[OccurrenceRow],
    waiting: &HashMap<String, DateTime<Utc>>,
    planner: &Planner,
) -> ClaimPlan {
    let mut times: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    for run in running {
        if let Some(at) = join(run.sched_s, run.sched_ns) {
            times.entry(run.job_id.as_str()).or_default().push(at);
        }
    }
    let mut jobs = Vec::with_capacity(rows.len());
    let mut undecodable = Vec::new();
    for row in rows {
        let decoded = match row {
            Ok(row) => row.decode(),
            Err(sched_core::Error::Decode { job_id, reason }) => Err(sched_core::Error::Decode {
                job_id: job_id.clone(),
                reason: reason.clone(),
            }),
            Err(other) => Err(sched_core::Error::Store(other.to_string().into())),
        };
        match decoded {
            Ok(job) => jobs.push(Arc::new(job)),
            Err(error) => undecodable.push(Row::Undecodable {
                job_id: error.job_id().map(ToString::to_string).unwrap_or_default(),
                error,
            }),
        }
    }
    let candidates = jobs.iter().filter_map(|job| {
        Some(Row::Job(Candidate {
            job,
            due: job.next_run_time?,
            running: times.get(job.id.as_str()).map_or(&[][..], Vec::as_slice),
            last_claimed: None,
            waiting: if waiting.is_empty() {
                None
            } else {
                waiting.get(job.id.as_str()).copied()
            },
        }))
    });
    planner.plan(undecodable.into_iter().chain(candidates))
}

/// Writes the plan's new next run times, finished and parked jobs.
async fn write_plan<DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    plan: &ClaimPlan,
) -> sqlx::Result<()> {
    let sql = &inner.sql;
    if !plan.reschedule.is_empty() {
        reschedule::<DB>(
            inner,
            conn,
            plan.reschedule.iter().map(|(job, at)| (&*job.id, *at)),
        )
        .await?;
    }
    for (ids, sql) in [(&plan.finished, &sql.finish), (&plan.parked, &sql.park)] {
        if !ids.is_empty() {
            statement::<DB>(sql).list(List::text(ids)).run(conn).await?;
        }
    }
    for (job_id, at) in &plan.waiting {
        let (s, ns) = at.map(split).unzip();
        statement::<DB>(&sql.set_waiting)
            .arg(job_id.as_str())
            .arg(s)
            .arg(ns)
            .run(conn)
            .await?;
    }
    Ok(())
}

/// Sets the next run time of each job.
pub(crate) async fn reschedule<'a, DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    times: impl Iterator<Item = (&'a str, DateTime<Utc>)>,
) -> sqlx::Result<()> {
    let (ids, (secs, nanos)): (Vec<&str>, (Vec<i64>, Vec<i32>)) =
        times.map(|(id, at)| (id, split(at))).unzip();
    statement::<DB>(&inner.sql.reschedule)
        .list(List::Text(ids))
        .list(List::Int8(secs))
        .list(List::Int4(nanos))
        .run(conn)
        .await?;
    Ok(())
}

/// Records the runs to start under this node's lease. An occurrence recorded before
/// (the unique key held) is not claimed again.
async fn record_runs<DB: Dialect>(
    inner: &Inner<DB>,
    conn: &mut DB::Connection,
    request: &AcquireRequest,
    runs: Vec<PlannedRun>,
) -> sqlx::Result<Vec<ClaimedRun>> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, (secs, nanos)): (Vec<&str>, (Vec<i64>, Vec<i32>)) = runs
        .iter()
        .map(|run| (run.job.id.as_str(), split(run.scheduled)))
        .unzip();
    let lease = chrono::Duration::from_std(request.lease).unwrap_or(chrono::Duration::MAX);
    let recorded: Vec<OccurrenceRow> = statement::<DB>(&inner.sql.record_runs)
        .list(List::Text(ids))
        .list(List::Int8(secs))
        .list(List::Int4(nanos))
        .arg(request.node.as_str())
        .arg(micros(request.now))
        .arg(micros(request.now + lease))
        .arg(inner.holder.as_str())
        .all(conn)
        .await?;
    let by_occurrence: HashMap<(&str, i64, i32), i64> = recorded
        .iter()
        .map(|run| ((run.job_id.as_str(), run.sched_s, run.sched_ns), run.id))
        .collect();
    let mut claimed: Vec<ClaimedRun> = runs
        .into_iter()
        .filter_map(|run| {
            let (s, ns) = split(run.scheduled);
            let id = *by_occurrence.get(&(run.job.id.as_str(), s, ns))?;
            Some(ClaimedRun::new(RunId(id), run.job, run.scheduled).catch_up(run.catch_up))
        })
        .collect();
    claimed.sort_by_key(|run| run.scheduled);
    Ok(claimed)
}

/// Tells the store that `node` is alive for `lease` more, and extends the leases of
/// the running runs this store instance claimed for it as far (not those of an earlier
/// process with the same node id: they run out and are reaped). The lease counts from
/// the clock read once the transaction is open (a heartbeat that waited for a
/// connection through an outage writes a lease from when it could write, not from when
/// it began), and never moves backwards. Returns the runs renewed.
pub(crate) async fn heartbeat<DB: Dialect>(
    inner: &Inner<DB>,
    node: &str,
    clock: &dyn Clock,
    lease: Duration,
) -> sqlx::Result<Renewal> {
    let mut tx = inner.pool.begin().await?;
    let now = clock.now();
    let until = micros(now) + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
    statement::<DB>(&inner.sql.heartbeat)
        .arg(node)
        .arg(micros(now))
        .arg(until)
        .run(&mut tx)
        .await?;
    let renewed: Vec<RenewRow> = statement::<DB>(&inner.sql.renew)
        .arg(node)
        .arg(until)
        .arg(inner.holder.as_str())
        .all(&mut tx)
        .await?;
    tx.commit().await?;
    let cancelled = renewed
        .iter()
        .filter(|row| row.cancel_requested)
        .map(|row| RunId(row.id))
        .collect();
    Ok(
        Renewal::new(now, renewed.into_iter().map(|row| RunId(row.id)).collect())
            .with_cancelled(cancelled),
    )
}

/// Marks the running runs whose lease ends before `lease_before` (µs) abandoned, with
/// `error` as their error text, and makes the occurrences of jobs that opted in
/// (`recover_abandoned`) due again. Returns the abandoned runs.
pub(crate) async fn abandon<DB: Dialect>(
    inner: &Inner<DB>,
    now: i64,
    lease_before: i64,
    error: &str,
) -> sqlx::Result<Vec<AbandonedRun>> {
    let mut tx = inner.pool.begin_with(inner.sql.begin).await?;
    let rows: Vec<AbandonedRow> = statement::<DB>(&inner.sql.abandon)
        .arg(now)
        .arg(lease_before)
        .arg(error)
        .all(&mut tx)
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let fallback = DateTime::from_timestamp_micros(now).unwrap_or_default();
    // Retry attempts (above 1) are recovered as a pending retry of the same attempt,
    // not by moving the job's schedule back (its first attempt was recorded).
    let attempts: HashMap<i64, i32> = rows.iter().map(|row| (row.id, row.attempt)).collect();
    let abandoned: Vec<AbandonedRun> = rows.into_iter().map(|row| row.run(fallback)).collect();
    let ids: Vec<&str> = abandoned.iter().map(|run| run.job_id.as_str()).collect();
    let jobs: Vec<JobRow> = statement::<DB>(&inner.sql.lock_jobs)
        .list(List::Text(ids))
        .each::<JobRow>(&mut tx)
        .await?
        .into_iter()
        .filter_map(Result::ok) // reported by claims, not recovered
        .collect();
    let (mut first, mut retries): (Vec<AbandonedRun>, Vec<AbandonedRun>) = abandoned
        .into_iter()
        .partition(|run| attempts.get(&run.run_id.0).copied().unwrap_or(1) <= 1);
    let recovered = recover_all(&jobs, &mut first);
    if !recovered.is_empty() {
        let times = recovered.iter().map(|(id, at)| (id.as_str(), *at));
        reschedule::<DB>(inner, &mut tx, times).await?;
    }
    let again: Vec<i64> = requeue(&jobs, &mut retries);
    if !again.is_empty() {
        let dues = vec![now; again.len()];
        statement::<DB>(&inner.sql.retry)
            .list(List::Int8(again))
            .list(List::Int8(dues))
            .arg(0_i32)
            .run(&mut tx)
            .await?;
        inner
            .retry_hint
            .fetch_min(now, std::sync::atomic::Ordering::Relaxed);
    }
    tx.commit().await?;
    first.extend(retries);
    Ok(first)
}

/// The abandoned retry attempts of `abandoned` to run again (their jobs, in `jobs`,
/// have `recover_abandoned` and are not paused): marks them recovered; their run ids.
fn requeue(jobs: &[JobRow], abandoned: &mut [AbandonedRun]) -> Vec<i64> {
    let recovering: std::collections::HashSet<&str> = jobs
        .iter()
        .filter(|row| !row.paused)
        .filter(|row| {
            serde_json::from_str::<JobOptions>(&row.options)
                .is_ok_and(|options| options.recover_abandoned)
        })
        .map(|row| row.id.as_str())
        .collect();
    abandoned
        .iter_mut()
        .filter(|run| recovering.contains(run.job_id.as_str()))
        .map(|run| {
            run.recovered = true;
            run.run_id.0
        })
        .collect()
}

/// The new next run times of the jobs (`jobs`) whose abandoned runs are recovered;
/// marks those runs recovered.
fn recover_all(jobs: &[JobRow], abandoned: &mut [AbandonedRun]) -> HashMap<String, DateTime<Utc>> {
    // (options, paused, next run time) of each job: a job whose options do not decode
    // is reported by claims, not recovered.
    let mut state: HashMap<&str, (JobOptions, bool, Option<DateTime<Utc>>)> = jobs
        .iter()
        .filter_map(|row| {
            let options = serde_json::from_str::<JobOptions>(&row.options).ok()?;
            let next = row
                .next_run_s
                .zip(row.next_run_ns)
                .and_then(|(s, ns)| join(s, ns));
            Some((row.id.as_str(), (options, row.paused, next)))
        })
        .collect();
    let mut recovered = HashMap::new();
    for run in abandoned {
        let Some((options, paused, current)) = state.get_mut(run.job_id.as_str()) else {
            continue;
        };
        if let Some(at) = recover(options, *paused, *current, run.scheduled) {
            *current = Some(at);
            recovered.insert(run.job_id.to_string(), at);
            run.recovered = true;
        }
    }
    recovered
}
