//! The tutorial's Flask app, in Axum: background jobs next to HTTP routes, and the
//! admin dashboard of `sched-web` nested under `/admin`.
//!
//! - `GET /`: status and the five most recent job runs (the tutorial's own route)
//! - `/admin`: the dashboard (jobs, a job's history, live runs, nodes) and its JSON
//!   API under `/admin/api/` (`/admin/api/openapi.json` describes it)
//!
//! With `ADMIN_TOKEN` set, `/admin` asks for `Authorization: Bearer <token>`: the
//! router has no authentication of its own, a layer in front of it does.
//!
//! ```text
//! cargo run --example axum_app --features axum             # serves on 127.0.0.1:5000 (PORT to change)
//! open http://127.0.0.1:5000/admin
//! curl http://127.0.0.1:5000/admin/api/jobs
//! cargo run --example axum_app --features axum -- --once   # starts, prints the jobs, shuts down
//! ```

use std::collections::VecDeque;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
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
    println!("dashboard on http://{}/admin", listener.local_addr()?);
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

/// The routes: the tutorial's status page, and the dashboard under `/admin` (behind a
/// bearer token when `ADMIN_TOKEN` is set).
pub fn app(state: AppState) -> Router {
    app_with_token(state, std::env::var("ADMIN_TOKEN").ok())
}

/// [`app`], with the dashboard behind `Authorization: Bearer <token>` when `token` is
/// given.
pub fn app_with_token(state: AppState, token: Option<String>) -> Router {
    let mut admin = sched_web::router(state.scheduler.clone());
    if let Some(token) = token {
        let expected = format!("Bearer {token}");
        admin = admin.layer(middleware::from_fn(move |request: Request, next: Next| {
            let allowed = request
                .headers()
                .get(header::AUTHORIZATION)
                .is_some_and(|value| value.as_bytes() == expected.as_bytes());
            async move {
                if allowed {
                    next.run(request).await
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, "Bearer")],
                        "the dashboard needs Authorization: Bearer <ADMIN_TOKEN>",
                    )
                        .into_response()
                }
            }
        }));
    }
    Router::new()
        .route("/", get(index))
        .route("/jobs", get(list_jobs))
        .with_state(state)
        .nest("/admin", admin)
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    let log = state.log.lock().expect("run log");
    let recent: Vec<&String> = log.iter().rev().take(5).rev().collect();
    Json(json!({ "status": "running", "recent_jobs": recent, "admin": "/admin" }))
}

/// The tutorial's `/jobs`: every job with its next run time.
async fn list_jobs(State(state): State<AppState>) -> Json<Value> {
    let jobs = state.scheduler.get_jobs().await.unwrap_or_default();
    Json(Value::Array(
        jobs.iter()
            .map(|job| {
                json!({
                    "id": job.id,
                    "name": job.name,
                    "next_run": job.next_run_time.map(|t| t.to_rfc3339()),
                    "paused": job.paused,
                })
            })
            .collect(),
    ))
}
