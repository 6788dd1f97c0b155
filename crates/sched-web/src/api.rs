//! The JSON API: jobs, one job with its history, runs across jobs, nodes, and the
//! actions. Every type here is in the OpenAPI document ([`crate::openapi`]).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use sched_core::job::Job;
use sched_core::store::{JobQuery, NodeInfo, RunId, RunQuery, RunRecord, RunStatus};
use sched_core::trigger::Trigger;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::Shared;

/// How many fire times a job shows.
pub(crate) const FIRE_TIMES: usize = 10;

/// RFC 3339, UTC, to the microsecond when there are fractions.
pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A job as the dashboard lists it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobSummary {
    /// The job's id.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// The registered task it runs.
    pub(crate) task: String,
    /// The trigger as written (the stored JSON).
    #[schema(value_type = Object)]
    pub(crate) trigger: serde_json::Value,
    /// The trigger in words.
    pub(crate) schedule: String,
    /// The zone of its schedule (IANA name).
    pub(crate) zone: String,
    /// Its next run time (`null`: none, or paused).
    pub(crate) next_run: Option<String>,
    /// The next fire times, in the schedule's zone, with what daylight saving does to
    /// them.
    pub(crate) next_fire_times: Vec<FireTimeView>,
    /// Whether the search for further fire times gave up.
    pub(crate) fire_times_incomplete: bool,
    /// Whether the job is paused.
    pub(crate) paused: bool,
    /// Its newest finished run.
    pub(crate) last_run: Option<RunView>,
}

/// One fire time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FireTimeView {
    /// RFC 3339 in the schedule's zone.
    pub(crate) at: String,
    /// RFC 3339 in UTC.
    pub(crate) utc: String,
    /// What a daylight-saving change does here (`null`: nothing).
    pub(crate) dst: Option<String>,
}

/// One run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunView {
    /// The store's id of the run.
    pub(crate) run_id: i64,
    /// Its job.
    pub(crate) job_id: String,
    /// The fire time it stands for (UTC).
    pub(crate) scheduled: String,
    /// When it was claimed to start.
    pub(crate) started: String,
    /// When it ended (`null` while running).
    pub(crate) finished: Option<String>,
    /// How long it ran, in seconds (`null` while running).
    pub(crate) duration_seconds: Option<f64>,
    /// The node that ran it.
    pub(crate) node: String,
    /// `running`, `success`, `error`, `panicked`, `timed_out`, `cancelled`, `missed`,
    /// `abandoned`, or `retrying` (a pending retry, due at `started`).
    #[schema(value_type = StatusName, inline)]
    pub(crate) status: String,
    /// The error text of a failed run.
    pub(crate) error: Option<String>,
    /// Which attempt of its occurrence it is: 1 for the first run, more for a retry.
    pub(crate) attempt: u32,
    /// What the task returned (any JSON; `null`: nothing).
    #[schema(value_type = Option<Object>)]
    pub(crate) result: Option<serde_json::Value>,
}

/// A run's status as the API writes it: the document's enum (the handlers take and
/// give the word, [`RunStatus::as_str`]; a test keeps the two lists equal).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // only its schema is used
pub(crate) enum StatusName {
    Running,
    Success,
    Error,
    Panicked,
    TimedOut,
    Cancelled,
    Missed,
    Abandoned,
    Retrying,
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobList {
    /// Jobs matching the search, on every page.
    pub(crate) total: u64,
    /// Jobs skipped before this page.
    pub(crate) offset: u64,
    /// The page size asked for.
    pub(crate) limit: u64,
    /// The page.
    pub(crate) jobs: Vec<JobSummary>,
}

/// One job, with its arguments, options and recent runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobDetail {
    /// The job.
    pub(crate) job: JobSummary,
    /// Its arguments (the stored JSON: any value, `null` when none were given).
    pub(crate) args: serde_json::Value,
    /// Its options (misfire grace, coalesce, max instances, timeout …).
    #[schema(value_type = Object)]
    pub(crate) options: serde_json::Value,
    /// Its newest runs.
    pub(crate) runs: Vec<RunView>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunList {
    /// The page.
    pub(crate) runs: Vec<RunView>,
    /// Pass as `before` for the next page (`null`: this was the last).
    pub(crate) next_before: Option<i64>,
}

/// A node of the store.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeView {
    /// The node's id.
    pub(crate) id: String,
    /// Its last heartbeat.
    pub(crate) last_seen: String,
    /// Its lease runs until then.
    pub(crate) lease_until: String,
    /// Whether its lease holds now.
    pub(crate) alive: bool,
    /// Runs it holds.
    pub(crate) running: u64,
}

/// The nodes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeList {
    /// The node this dashboard runs in (`null`: a dashboard of the store alone).
    pub(crate) this_node: Option<String>,
    /// Runs executing on this node (`null` as above).
    pub(crate) running_here: Option<u64>,
    /// Nodes that heartbeat into the store (a shared store only).
    pub(crate) nodes: Vec<NodeView>,
}

/// What an action did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActionResult {
    /// `paused`, `resumed`, `run`, `removed` or `rescheduled`.
    pub(crate) action: String,
    /// The job after it.
    pub(crate) job: JobSummary,
}

/// `GET /api/jobs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobsParams {
    /// Text the id, name or task contains (any case).
    pub(crate) q: Option<String>,
    /// Jobs to skip.
    #[param(minimum = 0)]
    pub(crate) offset: Option<u64>,
    /// Page size (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u64>,
}

/// `GET /api/runs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsParams {
    /// Only this job's runs.
    pub(crate) job: Option<String>,
    /// Only runs in this status.
    #[param(value_type = Option<StatusName>, inline)]
    pub(crate) status: Option<String>,
    /// Only this node's runs.
    pub(crate) node: Option<String>,
    /// Only runs older than this run id (the previous page's `next_before`).
    pub(crate) before: Option<i64>,
    /// Page size (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u64>,
}

pub(crate) fn clamp_limit(limit: Option<u64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=1000) => Ok(usize::try_from(n).unwrap_or(1000)),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n}: between 1 and 1000"
        ))),
    }
}

impl JobsParams {
    pub(crate) fn query(&self) -> Result<JobQuery, ApiError> {
        // At most the largest `int64`, as the document says (the `format` of an
        // integer bounds it too).
        let offset = self.offset.unwrap_or(0);
        let offset = i64::try_from(offset)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ApiError::bad_request(format!("offset {offset}: too large")))?;
        Ok(JobQuery::new()
            .search(self.q.clone().unwrap_or_default())
            .offset(offset)
            .limit(clamp_limit(self.limit)?))
    }
}

impl RunsParams {
    pub(crate) fn query(&self) -> Result<RunQuery, ApiError> {
        let mut query = RunQuery::new().limit(clamp_limit(self.limit)?);
        if let Some(job) = self.job.as_deref().filter(|j| !j.is_empty()) {
            query = query.job(job);
        }
        if let Some(word) = self.status.as_deref().filter(|s| !s.is_empty()) {
            let status = RunStatus::parse(word).ok_or_else(|| {
                let known: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request(format!(
                    "unknown status {word:?}: one of {}",
                    known.join(", ")
                ))
            })?;
            query = query.status(status);
        }
        if let Some(node) = self.node.as_deref().filter(|n| !n.is_empty()) {
            query = query.node(node);
        }
        if let Some(before) = self.before {
            query = query.before(RunId(before));
        }
        Ok(query)
    }
}

pub(crate) fn run_view(run: &RunRecord) -> RunView {
    let duration = run
        .finished
        .map(|end| (end - run.started).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .map(|seconds| seconds.max(0.0));
    RunView {
        run_id: run.run_id.0,
        job_id: run.job_id.to_string(),
        scheduled: instant(run.scheduled),
        started: instant(run.started),
        finished: run.finished.map(instant),
        duration_seconds: duration,
        node: run.node.clone(),
        status: run.status.as_str().to_owned(),
        error: run.error.clone(),
        attempt: run.attempt,
        // A stored result that is not JSON (written by hand) is shown as its text.
        result: run.result.as_deref().map(|text| {
            serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
        }),
    }
}

pub(crate) async fn summary(shared: &Shared, job: &Job) -> Result<JobSummary, ApiError> {
    let last = shared.source.last_outcome(job.id.as_str()).await?;
    Ok(summarize(shared, job, last.as_ref()))
}

pub(crate) fn summarize(shared: &Shared, job: &Job, last: Option<&RunRecord>) -> JobSummary {
    let upcoming = if job.paused {
        job.upcoming(None, shared.source.now(), 0)
    } else {
        job.upcoming(None, shared.source.now(), FIRE_TIMES)
    };
    JobSummary {
        id: job.id.to_string(),
        name: job.name.clone(),
        task: job.task.clone(),
        trigger: serde_json::to_value(&job.trigger).unwrap_or(serde_json::Value::Null),
        schedule: job.trigger.describe(),
        zone: job.trigger.zone().name().to_owned(),
        next_run: job.next_run_time.map(instant),
        next_fire_times: upcoming
            .times
            .iter()
            .map(|fire| FireTimeView {
                at: fire.local(),
                utc: fire.utc(),
                dst: fire.dst_note(),
            })
            .collect(),
        fire_times_incomplete: upcoming.gave_up.is_some(),
        paused: job.paused,
        last_run: last.map(run_view),
    }
}

pub(crate) fn node_view(node: &NodeInfo, now: DateTime<Utc>) -> NodeView {
    NodeView {
        id: node.id.clone(),
        last_seen: instant(node.last_seen),
        lease_until: instant(node.lease_until),
        alive: node.alive(now),
        running: node.running,
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Axum's [`Query`], its rejection answered as the API's JSON error (Axum's own is
/// plain text, which the document does not describe).
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// Axum's [`Path`], its rejection (a segment that is not UTF-8 once decoded) answered
/// as the API's JSON error.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection| match rejection.status() {
                StatusCode::BAD_REQUEST => ApiError::bad_request(rejection.body_text()),
                status => ApiError::new(status, "internal", rejection.body_text()),
            })
    }
}

/// Lists jobs, paged and searched.
#[utoipa::path(get, path = "/api/jobs", params(JobsParams), tag = "jobs",
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_jobs(
    State(shared): State<Arc<Shared>>,
    ApiQuery(params): ApiQuery<JobsParams>,
) -> ApiResult<JobList> {
    let query = params.query()?;
    let page = shared.source.jobs(&query).await?;
    let mut jobs = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        jobs.push(summary(&shared, job).await?);
    }
    Ok(Json(JobList {
        total: page.total as u64,
        offset: query.offset as u64,
        limit: query.limit as u64,
        jobs,
    }))
}

/// One job, with its recent runs.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn get_job(
    State(shared): State<Arc<Shared>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<JobDetail> {
    let job = shared.source.job(&id).await?;
    let runs = shared
        .source
        .runs(&RunQuery::new().job(&id).limit(50))
        .await?;
    let last = runs.iter().find(|run| run.status != RunStatus::Running);
    Ok(Json(JobDetail {
        job: summarize(&shared, &job, last),
        args: job.args.clone(),
        options: serde_json::to_value(&job.options).unwrap_or(serde_json::Value::Null),
        runs: runs.iter().map(run_view).collect(),
    }))
}

/// Recent runs across jobs, newest first; filter by job, status, node; paged.
#[utoipa::path(get, path = "/api/runs", params(RunsParams), tag = "runs",
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_runs(
    State(shared): State<Arc<Shared>>,
    ApiQuery(params): ApiQuery<RunsParams>,
) -> ApiResult<RunList> {
    // The pages' filter form sends empty fields; the API takes a status or none.
    if params.status.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "status \"\": leave it out, or give one of the statuses",
        ));
    }
    let query = params.query()?;
    let runs = shared.source.runs(&query).await?;
    let next_before = (runs.len() == query.limit)
        .then(|| runs.last().map(|run| run.run_id.0))
        .flatten();
    Ok(Json(RunList {
        runs: runs.iter().map(run_view).collect(),
        next_before,
    }))
}

/// The nodes: this one, and those that heartbeat into a shared store.
#[utoipa::path(get, path = "/api/nodes", tag = "nodes",
    responses((status = 200, body = NodeList), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_nodes(State(shared): State<Arc<Shared>>) -> ApiResult<NodeList> {
    let now = shared.source.now();
    let nodes = shared.source.nodes().await?;
    Ok(Json(NodeList {
        this_node: shared.source.node().map(str::to_owned),
        running_here: shared.source.running_here().map(|n| n as u64),
        nodes: nodes.iter().map(|n| node_view(n, now)).collect(),
    }))
}

async fn acted(shared: &Shared, action: &str, job: Job) -> ApiResult<ActionResult> {
    Ok(Json(ActionResult {
        action: action.to_owned(),
        job: summary(shared, &job).await?,
    }))
}

/// Pauses a job: no run starts until it is resumed.
#[utoipa::path(post, path = "/api/jobs/{id}/pause", tag = "actions",
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn pause_job(
    State(shared): State<Arc<Shared>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ActionResult> {
    let job = shared.source.pause(&id).await?;
    acted(&shared, "paused", job).await
}

/// Resumes a paused job from now.
#[utoipa::path(post, path = "/api/jobs/{id}/resume", tag = "actions",
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn resume_job(
    State(shared): State<Arc<Shared>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ActionResult> {
    let job = shared.source.resume(&id).await?;
    acted(&shared, "resumed", job).await
}

/// Runs a job now (its schedule stays as it is).
#[utoipa::path(post, path = "/api/jobs/{id}/run", tag = "actions",
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn run_job(
    State(shared): State<Arc<Shared>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ActionResult> {
    let job = shared.source.run_now(&id).await?;
    acted(&shared, "run", job).await
}

/// What a cancel did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CancelResult {
    /// `cancelling`: the run's node was asked to stop it (its token fires; it is
    /// dropped after its job's cancel grace).
    pub(crate) action: String,
    /// The run.
    pub(crate) run_id: i64,
}

/// Asks a running run to stop, on whichever node runs it.
#[utoipa::path(post, path = "/api/runs/{run_id}/cancel", tag = "actions",
    params(("run_id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = CancelResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The run has already ended"), (status = 503, body = ErrorBody)))]
pub(crate) async fn cancel_run(
    State(shared): State<Arc<Shared>>,
    ApiPath(run_id): ApiPath<i64>,
) -> ApiResult<CancelResult> {
    if shared.source.cancel_run(run_id).await? {
        Ok(Json(CancelResult {
            action: "cancelling".to_owned(),
            run_id,
        }))
    } else {
        Err(ApiError::conflict(format!(
            "run {run_id} has already ended: nothing to cancel"
        )))
    }
}

/// Removes a job (runs executing finish).
#[utoipa::path(delete, path = "/api/jobs/{id}", tag = "actions",
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn remove_job(
    State(shared): State<Arc<Shared>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ActionResult> {
    let job = shared.source.remove(&id).await?;
    Ok(Json(ActionResult {
        action: "removed".to_owned(),
        job: summarize(&shared, &job, None),
    }))
}

/// Gives a job a new trigger (the stored JSON form, as `trigger` shows it).
#[utoipa::path(put, path = "/api/jobs/{id}/trigger", tag = "actions",
    params(("id" = String, Path, description = "The job's id")),
    request_body(content = Object, description = "A trigger, e.g. {\"type\":\"cron\",\"expression\":\"0 9 * * *\"} or {\"type\":\"interval\",\"every\":{\"secs\":60,\"nanos\":0}}"),
    responses((status = 200, body = ActionResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn reschedule_job(
    State(shared): State<Arc<Shared>>,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<ActionResult> {
    let trigger = parse_trigger(&body)?;
    let job = shared.source.reschedule(&id, trigger).await?;
    acted(&shared, "rescheduled", job).await
}

pub(crate) fn parse_trigger(body: &[u8]) -> Result<Trigger, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid trigger: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_statuses_are_the_stores() {
        let documented: Vec<String> = [
            StatusName::Running,
            StatusName::Success,
            StatusName::Error,
            StatusName::Panicked,
            StatusName::TimedOut,
            StatusName::Cancelled,
            StatusName::Missed,
            StatusName::Abandoned,
            StatusName::Retrying,
        ]
        .iter()
        .map(|name| {
            serde_json::to_value(name)
                .expect("a word")
                .as_str()
                .expect("a string")
                .to_owned()
        })
        .collect();
        let stored: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(documented, stored);
    }
}
