//! The tutorial's Flask app, in Axum: background jobs next to HTTP routes.
//!
//! - `GET /`: status and the five most recent job runs
//! - `GET /jobs`: every job with its next run time
//! - `POST /jobs/{id}/pause`, `POST /jobs/{id}/resume`, `POST /jobs/{id}/run`
//! - `DELETE /jobs/{id}`
//!
//! ```text
//! cargo run --example axum_app --features axum             # serves on 127.0.0.1:5000 (PORT to change)
//! curl http://127.0.0.1:5000/jobs
//! cargo run --example axum_app --features axum -- --once   # starts, prints the jobs, shuts down
//! ```

use std::collections::VecDeque;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use sched_tokio::prelude::*;
use serde_json::{json, Value};

/// What the handlers share: the scheduler (a cheap clone) and the run log.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The scheduler.
    pub scheduler: Scheduler,
    /// Recent job runs, newest last.
    pub log: Arc<Mutex<VecDeque<String>>>,
}

fn main() {
    sched_examples::main(run);
}

/// Runs the app; with `once`, starts, prints the job list and shuts down.
pub async fn run(once: bool) -> Result<(), Box<dyn Error>> {
    let state = setup(sched_examples::builder(once)).await?;
    if once {
        let jobs = list_jobs(State(state.clone())).await;
        println!("{}", serde_json::to_string_pretty(&jobs.0)?);
        state.scheduler.shutdown().await?;
        return Ok(());
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "5000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(state.clone()))
        // Ctrl-C, or SIGTERM from a container runtime: stop serving, then the jobs.
        .with_graceful_shutdown(sched_tokio::shutdown_signal())
        .await?;
    // The tutorial's atexit hook: stop the scheduler with the app.
    state.scheduler.shutdown().await?;
    Ok(())
}

/// Builds the scheduler with the tutorial's three jobs and starts it.
pub async fn setup(builder: SchedulerBuilder) -> Result<AppState, Box<dyn Error>> {
    let state = AppState {
        scheduler: builder.build()?,
        log: Arc::default(),
    };
    let logged = |message: &'static str| {
        let state = state.clone();
        move || {
            let entry = format!("[{}] {message}", sched_examples::hms(&state.scheduler));
            println!("{entry}");
            let mut log = state.log.lock().expect("run log");
            log.push_back(entry);
            if log.len() > 100 {
                log.pop_front();
            }
            std::future::ready(())
        }
    };
    let s = &state.scheduler;
    s.add_job(
        JobSpec::interval(Duration::from_secs(30 * 60))
            .id("cleanup")
            .name("cleanup_old_sessions"),
        logged("Cleaned up expired sessions"),
    )
    .await?;
    s.add_job(
        JobSpec::cron_fields(&CronFields::new().hour("8").minute("0"))?
            .id("digest")
            .name("send_digest_emails"),
        logged("Sent digest emails to subscribers"),
    )
    .await?;
    s.add_job(
        JobSpec::interval(Duration::from_secs(5 * 60))
            .id("health")
            .name("health_check_external_apis"),
        logged("Health check: all APIs responding"),
    )
    .await?;
    s.start().await?;
    Ok(state)
}

/// The routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", delete(remove_job))
        .route("/jobs/{id}/pause", post(pause_job))
        .route("/jobs/{id}/resume", post(resume_job))
        .route("/jobs/{id}/run", post(run_job_now))
        .with_state(state)
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    let log = state.log.lock().expect("run log");
    let recent: Vec<&String> = log.iter().rev().take(5).rev().collect();
    Json(json!({ "status": "running", "recent_jobs": recent }))
}

async fn list_jobs(State(state): State<AppState>) -> Json<Value> {
    let jobs = state.scheduler.get_jobs().await.unwrap_or_default();
    Json(Value::Array(jobs.iter().map(job_json).collect()))
}

fn job_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "name": job.name,
        "next_run": job.next_run_time.map(|t| t.to_rfc3339()),
        "paused": job.paused,
    })
}

async fn pause_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(state.scheduler.pause_job(&id).await)
}

async fn resume_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(state.scheduler.resume_job(&id).await)
}

async fn run_job_now(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(state.scheduler.run_job_now(&id).await)
}

async fn remove_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(state.scheduler.remove_job(&id).await)
}

/// A job as JSON, or a JSON error: 404 for an unknown id, 409 after shutdown, 500 else.
fn respond(result: Result<Job, sched_tokio::Error>) -> Response {
    use sched_tokio::sched_core::Error as Core;
    match result {
        Ok(job) => Json(job_json(&job)).into_response(),
        Err(error) => {
            let status = match &error {
                sched_tokio::Error::Core(Core::JobNotFound(_)) => StatusCode::NOT_FOUND,
                sched_tokio::Error::ShutDown => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, Json(json!({ "error": error.to_string() }))).into_response()
        }
    }
}
