//! Requests to a router in process (tower's `oneshot`), and schedulers to serve.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use sched_store_sqlx::SqliteStore;
use sched_tokio::prelude::*;
use tower::ServiceExt;

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

pub(crate) async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Method::GET, uri, &[], "").await
}

pub(crate) async fn post(router: &Router, uri: &str) -> Reply {
    send(router, Method::POST, uri, &[], "").await
}

/// A fresh SQLite file's URL.
pub(crate) fn sqlite_url(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sched-web-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display())
}

/// A scheduler on a fresh SQLite store (history kept), its clock at `start`, with a
/// task `ok` and a task `fail` registered.
pub(crate) async fn sqlite_scheduler(name: &str, start: &str) -> Scheduler {
    let store = SqliteStore::connect(&sqlite_url(name)).await.unwrap();
    let scheduler = Scheduler::builder()
        .store(Arc::new(store))
        .clock(TokioClock::starting_at(start.parse().unwrap()))
        .build()
        .unwrap();
    scheduler.register_task("ok", || async {});
    scheduler.register_task("fail", || async { Err::<(), _>("it broke <b>badly</b>") });
    scheduler
}
