//! The admin router of [sched]: a dashboard and a JSON API for the jobs of a
//! scheduler, to nest in any [Axum](axum) app.
//!
//! ```no_run
//! use axum::Router;
//! use sched_tokio::prelude::*;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let scheduler = Scheduler::builder().build()?;
//! scheduler.start().await?;
//! let app = Router::new().nest("/admin", sched_web::router(scheduler.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! | path (under where it is nested) | what |
//! |---|---|
//! | `/` (`/admin` when nested there) | the jobs: next run, schedule in words, last outcome, buttons; paged, searchable |
//! | `/jobs/{id}` | one job: its next 10 fire times (with DST notes), a run timeline, its history |
//! | `/runs` | recent runs across jobs, live (Server-Sent Events), filtered by job, status, node |
//! | `/nodes` | this node, and the nodes of a shared store (last heartbeat, runs held) |
//! | `/api/...` | the JSON API ([`openapi.json`](Admin::openapi)) |
//!
//! # Safety
//!
//! - [`Admin::read_only`]: the pages show no buttons, and every state-changing request
//!   is answered 403.
//! - State-changing requests are `POST`, `PUT` or `DELETE`, and must come from the
//!   dashboard's own origin: a browser request whose `Sec-Fetch-Site` or `Origin` says
//!   another site is refused (CSRF), whatever cookies or credentials it carries.
//! - Everything from the store (ids, names, arguments, error texts) is HTML-escaped.
//! - There is no authentication built in: put a layer in front of the router, for
//!   example tower-http's `ValidateRequestHeaderLayer::bearer` or `::basic` (the
//!   `axum_app` example does).
//!
//! # Without a scheduler
//!
//! [`Admin::for_store`] serves the same dashboard over a store alone, running no job
//! (`schedctl serve --url …`): actions change the stored jobs, which the nodes running
//! them pick up (a "run now" makes the job due now).
//!
//! [sched]: https://docs.rs/sched-tokio

#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod backend;
mod error;
mod guard;
mod html;
mod live;
mod openapi;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use sched_core::store::JobStore;
use sched_tokio::Scheduler;

use crate::backend::{Backend, Source};

/// The admin router of `scheduler`, with the defaults (actions allowed): the same as
/// `Admin::new(scheduler).router()`.
pub fn router(scheduler: Scheduler) -> Router {
    Admin::new(scheduler).router()
}

/// The admin router, configured: [`new`](Self::new) for a scheduler,
/// [`for_store`](Self::for_store) for a store alone.
#[derive(Debug)]
pub struct Admin {
    source: Source,
    read_only: bool,
    title: String,
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) source: Source,
    pub(crate) read_only: bool,
    pub(crate) title: String,
}

impl Admin {
    /// The dashboard of a scheduler: its store's jobs and runs, its events live, and
    /// actions through it (a run now starts at once, here).
    pub fn new(scheduler: Scheduler) -> Self {
        Self::with(Backend::Scheduler(scheduler))
    }

    /// The dashboard of a store alone, without running any job.
    pub fn for_store(store: Arc<dyn JobStore>) -> Self {
        Self::with(Backend::Store(store))
    }

    fn with(backend: Backend) -> Self {
        Self {
            source: Source::new(backend),
            read_only: false,
            title: "sched".to_owned(),
        }
    }

    /// With `true`, nothing can be changed: no buttons, and state-changing requests
    /// are answered `403 Forbidden`.
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The title the pages show (default `sched`).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The OpenAPI document of the JSON API (also served at `api/openapi.json`).
    pub fn openapi() -> String {
        openapi::document()
    }

    /// The router: nest it anywhere (`Router::new().nest("/admin", admin.router())`;
    /// the jobs page is then `/admin`, as Axum routes no `/admin/`).
    ///
    /// Call it inside a Tokio runtime: for a store that keeps no run history
    /// (`MemoryStore`), the router keeps the newest runs from the scheduler's events.
    pub fn router(self) -> Router {
        self.source.start_journal();
        let shared = Arc::new(Shared {
            source: self.source,
            read_only: self.read_only,
            title: self.title,
        });
        let document = openapi::document();
        Router::new()
            .route("/", get(html::jobs_page))
            .route("/jobs/{id}", get(html::job_page))
            .route("/jobs/{id}/{action}", post(html::job_action))
            .route("/runs", get(html::runs_page))
            .route("/runs/{run_id}/cancel", post(html::cancel_run))
            .route("/nodes", get(html::nodes_page))
            .route("/assets/style.css", get(|| async { css(html::STYLE) }))
            .route("/assets/live.js", get(|| async { js(html::LIVE_JS) }))
            .route("/api/jobs", get(api::list_jobs))
            .route("/api/jobs/{id}", get(api::get_job).delete(api::remove_job))
            .route("/api/jobs/{id}/pause", post(api::pause_job))
            .route("/api/jobs/{id}/resume", post(api::resume_job))
            .route("/api/jobs/{id}/run", post(api::run_job))
            .route("/api/jobs/{id}/trigger", put(api::reschedule_job))
            .route("/api/runs", get(api::list_runs))
            .route("/api/runs/{run_id}/cancel", post(api::cancel_run))
            .route("/api/nodes", get(api::list_nodes))
            .route("/api/events", get(live::events))
            .route(
                "/api/openapi.json",
                get(
                    move || async move { ([(header::CONTENT_TYPE, "application/json")], document) },
                ),
            )
            .fallback(|| async {
                error::ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "not_found",
                    "no such page or endpoint",
                )
            })
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                guard::guard,
            ))
            .with_state(shared)
    }
}

fn css(body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], body)
}

fn js(body: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
}

/// This crate's README.md, whose Rust example is compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
